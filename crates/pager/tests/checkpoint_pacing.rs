//! A checkpoint paces its write-back: once a batch of pages is written and
//! its write-back started, the write-back of the batch before it is waited
//! for, so that no more than two batches queue ahead of other writers (a
//! commit's log sync) on the device.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::{PAGE_SIZE, options};
use keel_io::{File, FileHandle, OpenMode, SimVfs, Vfs};
use keel_pager::{CHECKPOINT_BATCH_PAGES, Pager};

/// A write-back call the page file saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Start(u64, u64),
    Wait(u64, u64),
    Sync,
}

/// `SimVfs`, with every write-back call to the page file recorded.
#[derive(Debug)]
struct Recording {
    inner: SimVfs,
    calls: Arc<Mutex<Vec<Call>>>,
}

#[derive(Debug)]
struct RecordingFile {
    inner: FileHandle,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Vfs for Recording {
    fn open(&self, path: &Path, mode: OpenMode) -> keel_io::Result<FileHandle> {
        let inner = self.inner.open(path, mode)?;
        Ok(Arc::new(RecordingFile {
            inner,
            calls: Arc::clone(&self.calls),
        }))
    }
    fn remove(&self, path: &Path) -> keel_io::Result<()> {
        self.inner.remove(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> keel_io::Result<()> {
        self.inner.rename(from, to)
    }
    fn list(&self, dir: &Path) -> keel_io::Result<Vec<PathBuf>> {
        self.inner.list(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> keel_io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn sync_dir(&self, dir: &Path) -> keel_io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn exists(&self, path: &Path) -> keel_io::Result<bool> {
        self.inner.exists(path)
    }
}

impl File for RecordingFile {
    fn path(&self) -> &Path {
        self.inner.path()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> keel_io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_all_at(&self, data: &[u8], offset: u64) -> keel_io::Result<()> {
        self.inner.write_all_at(data, offset)
    }
    fn sync_data(&self) -> keel_io::Result<()> {
        self.calls.lock().unwrap().push(Call::Sync);
        self.inner.sync_data()
    }
    fn size(&self) -> keel_io::Result<u64> {
        self.inner.size()
    }
    fn set_len(&self, size: u64) -> keel_io::Result<()> {
        self.inner.set_len(size)
    }
    fn allocate(&self, offset: u64, len: u64) -> keel_io::Result<()> {
        self.inner.allocate(offset, len)
    }
    fn try_lock(&self) -> keel_io::Result<()> {
        self.inner.try_lock()
    }
    fn start_writeback(&self, offset: u64, len: u64) -> keel_io::Result<()> {
        self.calls.lock().unwrap().push(Call::Start(offset, len));
        self.inner.start_writeback(offset, len)
    }
    fn wait_writeback(&self, offset: u64, len: u64) -> keel_io::Result<()> {
        self.calls.lock().unwrap().push(Call::Wait(offset, len));
        self.inner.wait_writeback(offset, len)
    }
}

#[test]
fn a_checkpoint_waits_for_each_batch_once_the_next_one_is_started() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let vfs = Arc::new(Recording {
        inner: SimVfs::new(7),
        calls: Arc::clone(&calls),
    });
    let batches = 3;
    let pages = batches * CHECKPOINT_BATCH_PAGES as u64;
    let pager = Pager::open(vfs, Path::new("/db/pages"), options(pages + 16)).unwrap();
    for stamp in 0..pages {
        let mut guard = pager.allocate().unwrap();
        guard[..8].copy_from_slice(&stamp.to_le_bytes());
    }
    calls.lock().unwrap().clear();
    pager.checkpoint(b"payload").unwrap();

    let calls = calls.lock().unwrap().clone();
    let first_sync = calls.iter().position(|call| *call == Call::Sync).unwrap();
    let before_sync = &calls[..first_sync];
    let batch_bytes = (CHECKPOINT_BATCH_PAGES * PAGE_SIZE) as u64;
    let mut started: Vec<(u64, u64)> = Vec::new();
    let mut waited = 0;
    for (at, call) in before_sync.iter().enumerate() {
        match *call {
            Call::Start(offset, len) => started.push((offset, len)),
            Call::Wait(offset, len) => {
                // Runs are waited for in the order they were started, each
                // once a run after it was started.
                assert_eq!(started.get(waited), Some(&(offset, len)), "call {at}");
                assert!(started.len() > waited + 1, "call {at} waits too early");
                waited += 1;
            }
            Call::Sync => unreachable!(),
        }
        let in_flight: u64 = started[waited..].iter().map(|(_, len)| len).sum();
        assert!(
            in_flight <= 2 * batch_bytes,
            "call {at}: {in_flight} bytes in flight, over two batches"
        );
    }
    let started_bytes: u64 = started.iter().map(|(_, len)| len).sum();
    assert!(
        started_bytes >= pages * PAGE_SIZE as u64,
        "every page's write-back was started ({started_bytes} bytes)"
    );
    // All but the last batch's runs were waited for; the sync takes those.
    let left: u64 = started[waited..].iter().map(|(_, len)| len).sum();
    assert!(
        waited > 0 && left <= batch_bytes,
        "{left} bytes left to the sync"
    );
}

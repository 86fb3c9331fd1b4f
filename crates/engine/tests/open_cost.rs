//! What an open of a database costs in file-system calls that do not
//! depend on its size (issue 19: reopen within 2x of LMDB's). A reopen
//! lists the log directory once (it listed it six times), opens each file
//! once (it opened the timestamps file twice and the log's last segment
//! three times) and creates no directory; a cold open's reads overlap (not observable here: the
//! simulated disk answers at once), so these tests count calls and check
//! that the database reads back whole, with and without background
//! maintenance (which starts the log's thread itself).

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keel::{Database, Options};
use keel_io::{CrashMode, FileHandle, OpenMode, SimVfs, Vfs};
use parking_lot::Mutex;

/// The simulated disk, with the directory listings and creations asked
/// of it noted.
#[derive(Debug)]
struct Counting {
    inner: SimVfs,
    listed: Mutex<Vec<PathBuf>>,
    dirs_created: Mutex<Vec<PathBuf>>,
    opened: Mutex<Vec<PathBuf>>,
}

impl Counting {
    fn new(seed: u64) -> Counting {
        Counting {
            inner: SimVfs::new(seed),
            listed: Mutex::new(Vec::new()),
            dirs_created: Mutex::new(Vec::new()),
            opened: Mutex::new(Vec::new()),
        }
    }

    /// The files opened since the last call (or [`Counting::take`]) that
    /// were opened more than once.
    fn opened_twice(&self) -> Vec<PathBuf> {
        let mut opened = std::mem::take(&mut *self.opened.lock());
        opened.sort();
        let mut twice: Vec<PathBuf> = opened
            .windows(2)
            .filter(|pair| pair[0] == pair[1])
            .map(|pair| pair[0].clone())
            .collect();
        twice.dedup();
        twice
    }

    /// What was listed and created since the last call.
    fn take(&self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        self.opened.lock().clear();
        (
            std::mem::take(&mut *self.listed.lock()),
            std::mem::take(&mut *self.dirs_created.lock()),
        )
    }
}

impl Vfs for Counting {
    fn open(&self, path: &Path, mode: OpenMode) -> keel_io::Result<FileHandle> {
        self.opened.lock().push(path.to_path_buf());
        self.inner.open(path, mode)
    }
    fn remove(&self, path: &Path) -> keel_io::Result<()> {
        self.inner.remove(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> keel_io::Result<()> {
        self.inner.rename(from, to)
    }
    fn list(&self, dir: &Path) -> keel_io::Result<Vec<PathBuf>> {
        self.listed.lock().push(dir.to_path_buf());
        self.inner.list(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> keel_io::Result<()> {
        self.dirs_created.lock().push(dir.to_path_buf());
        self.inner.create_dir_all(dir)
    }
    fn sync_dir(&self, dir: &Path) -> keel_io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn exists(&self, path: &Path) -> keel_io::Result<bool> {
        self.inner.exists(path)
    }
}

fn write_some(db: &Database, round: u32) {
    let keyspace = db.keyspace("data").unwrap();
    for index in 0..200u32 {
        db.update(|tx| {
            tx.put(
                &keyspace,
                format!("{round}-{index:05}"),
                vec![index as u8; 100],
            )
        })
        .unwrap();
    }
}

fn count(db: &Database) -> usize {
    let keyspace = db.keyspace("data").unwrap();
    db.view(|tx| tx.len(&keyspace)).unwrap() as usize
}

fn reopens_list_the_log_once(options: Options) {
    let vfs = Arc::new(Counting::new(11));
    let dir = Path::new("/db");
    let db = Database::open_with_vfs(vfs.clone(), dir, options.clone()).unwrap();
    write_some(&db, 0);
    db.close().unwrap();
    let (_, created) = vfs.take();
    assert!(
        !created.is_empty(),
        "the first open creates the directories"
    );

    for round in 1..=3 {
        let db = Database::open_with_vfs(vfs.clone(), dir, options.clone()).unwrap();
        // Each file once: the timestamps file and the log's last segment,
        // opened to be read ahead, are not opened again.
        let twice = vfs.opened_twice();
        assert!(twice.is_empty(), "round {round}: {twice:?}");
        let (listed, created) = vfs.take();
        assert_eq!(listed, vec![dir.join("wal")], "round {round}");
        assert!(created.is_empty(), "round {round}: {created:?}");
        assert_eq!(count(&db), 200 * round as usize);
        write_some(&db, round);
        db.close().unwrap();
        vfs.take();
    }
    // After a crash the open does more (syncs the log, starts a new
    // segment), and still reads back every acknowledged commit.
    let db = Database::open_with_vfs(vfs.clone(), dir, options.clone()).unwrap();
    write_some(&db, 4);
    vfs.inner.set_crash_point(Some(vfs.inner.operations()));
    drop(db);
    vfs.inner.crash(CrashMode::LoseUnsynced);
    let db = Database::open_with_vfs(vfs.clone(), dir, options).unwrap();
    assert_eq!(count(&db), 200 * 5);
}

#[test]
fn a_reopen_lists_the_log_once_and_creates_no_directory() {
    reopens_list_the_log_once(common::options());
}

#[test]
fn with_background_maintenance_too() {
    reopens_list_the_log_once(Options {
        background_maintenance: true,
        ..common::options()
    });
}

#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! A large value goes from the caller's buffer to the log and then to its
//! overflow chain without a whole copy on the way: a global allocator
//! tracking live bytes (on every thread: the fold may run on the
//! background thread) measures the peak over a commit and its fold.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use std::path::Path;
use std::sync::Arc;

use keel::{Database, Durability, Isolation, Options};
use keel_io::{CrashMode, CrashPoints, CrashSweep, SimVfs, Vfs};

struct Tracking;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters are plain atomics, which never allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(pointer, layout) }
    }
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        if size >= layout.size() {
            grew(size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - size, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(pointer, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

const VALUE_BYTES: usize = 96 << 20;

/// Bytes the commit and fold of one large value may hold at once beyond
/// the value itself: buffers and bookkeeping, far below one copy of it.
const OVERHEAD_BYTES_MAX: usize = 24 << 20;

#[test]
fn a_large_value_is_committed_and_folded_without_a_whole_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::default().with_durability(Durability::Sync);
    // The pool's frames are mapped memory, not allocations; keep it small
    // anyway so that the fold evicts as it writes.
    options.pool_bytes = 16 << 20;
    let db = Database::open(dir.path(), options.clone()).unwrap();
    let ks = db.default_keyspace();
    let value: Vec<u8> = (0..VALUE_BYTES).map(|index| (index % 251) as u8).collect();
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);

    let mut tx = db.begin(Isolation::Serializable);
    tx.put_bytes(&ks, b"large", value).unwrap();
    tx.commit().unwrap();
    db.checkpoint().unwrap();

    let peak = PEAK.load(Ordering::Relaxed) - baseline;
    assert!(
        peak <= VALUE_BYTES + OVERHEAD_BYTES_MAX,
        "a commit and fold of a {} MiB value held {} MiB at its peak",
        VALUE_BYTES >> 20,
        peak >> 20
    );
    db.close().unwrap();

    // And it is all there, from the log's replay-free reopen and the tree.
    let db = Database::open(dir.path(), options).unwrap();
    let ks = db.default_keyspace();
    let read = db.view(|tx| tx.get(&ks, b"large")).unwrap().unwrap();
    assert_eq!(read.len(), VALUE_BYTES);
    assert!(
        read.iter()
            .enumerate()
            .all(|(index, &byte)| byte == (index % 251) as u8)
    );
}

fn open(vfs: &SimVfs) -> keel::Result<Database> {
    let shared: Arc<dyn Vfs> = Arc::new(vfs.clone());
    Database::open_with_vfs(shared, Path::new(DIR), common::options())
}

const DIR: &str = "/db";

/// A value the log writes from the caller's buffer: larger than a record
/// fragment (1 MiB), not a multiple of it.
fn gathered_value() -> &'static [u8] {
    static VALUE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    VALUE.get_or_init(|| {
        (0..(1 << 20) + 12_345)
            .map(|index| (index % 241) as u8)
            .collect()
    })
}

/// Commits a small entry, the large value (expiring far ahead) and
/// another small entry in one transaction.
fn commit_large(db: &Database) -> keel::Result<()> {
    let data = db.default_keyspace();
    let mut tx = db.begin(Isolation::Serializable);
    tx.put(&data, b"a", b"before")?;
    tx.put_bytes_expiring_at(&data, b"large", gathered_value(), u64::MAX / 2)?;
    tx.put(&data, b"z", b"after")?;
    tx.commit()
}

/// How many of the three entries of [`commit_large`] are there, each
/// checked whole.
fn large_entries_found(db: &Database) -> usize {
    let data = db.default_keyspace();
    let reader = db.begin_read();
    let expected: [(&[u8], &[u8]); 3] = [
        (b"a", b"before"),
        (b"large", gathered_value()),
        (b"z", b"after"),
    ];
    expected
        .iter()
        .filter(|(key, value)| match reader.get(&data, key).unwrap() {
            Some(found) => {
                assert!(
                    found[..] == value[..],
                    "{:?} differs",
                    String::from_utf8_lossy(key)
                );
                true
            }
            None => false,
        })
        .count()
}

#[test]
fn a_large_value_replayed_from_the_log_is_whole() {
    let vfs = SimVfs::new(3);
    let db = open(&vfs).unwrap();
    commit_large(&db).unwrap();
    common::kill(&vfs, db);
    let db = open(&vfs).unwrap();
    assert!(db.stats().recovery.commits_replayed >= 1);
    assert_eq!(large_entries_found(&db), 3);
    assert!(db.check().unwrap().is_empty());
}

/// A sample of the sweep's ~330 points per mode in a normal run (every
/// point takes about 80 s in a debug build): `KEEL_CRASH_EVERY=1` takes
/// them all.
fn crash_points() -> CrashPoints {
    if std::env::var_os("KEEL_CRASH_EVERY").is_some() {
        CrashPoints::Every
    } else {
        CrashPoints::Sample(60)
    }
}

#[test]
fn a_crash_anywhere_in_a_large_value_commit_leaves_it_whole_or_absent() {
    let report = CrashSweep::new(17, |vfs: &SimVfs| match open(vfs) {
        Ok(db) => commit_large(&db).is_ok(),
        Err(_) => false,
    })
    .modes(&CrashMode::ALL)
    .points(crash_points())
    .run(|vfs, acknowledged, _image| {
        let db = open(vfs).map_err(|error| format!("reopen failed: {error}"))?;
        let found = large_entries_found(&db);
        if found != 0 && found != 3 {
            return Err(format!("{found} of 3 entries of one commit"));
        }
        if *acknowledged && found == 0 {
            return Err("the acknowledged commit is lost".to_owned());
        }
        let problems = db.check().unwrap();
        if !problems.is_empty() {
            return Err(format!("{problems:?}"));
        }
        Ok(())
    });
    assert!(report.is_clean(), "{report}");
    assert!(report.operations > 5, "{report}");
    println!("large value crash sweep: {} crash images", report.images);
}

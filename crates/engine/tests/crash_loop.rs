#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! A process killed over and over soon after it starts: an open that had
//! to replay a long log checkpoints at once, so the next open replays
//! only what came after (issue: every restart replayed the whole history).

use std::path::Path;
use std::sync::Arc;

use keel::{Database, Isolation, Options};

mod common;

#[test]
fn an_open_after_a_long_replay_checkpoints_so_the_next_replays_nothing_old() {
    let vfs = keel_io::SimVfs::new(11);
    let dir = Path::new("/db");
    let options = Options {
        checkpoint_wal_bytes: 64 << 10,
        ..common::options()
    };
    let open = || Database::open_with_vfs(Arc::new(vfs.clone()), dir, options.clone()).unwrap();
    let db = open();
    let data = db.keyspace("data").unwrap();
    for index in 0..200u32 {
        let mut tx = db.begin(Isolation::Serializable);
        tx.put(&data, index.to_be_bytes(), vec![1u8; 200]).unwrap();
        tx.commit().unwrap();
    }
    common::kill(&vfs, db);

    let db = open();
    let report = db.stats().recovery;
    // The 200 commits, and the keyspace's creation (catalog commits).
    assert!(report.commits_replayed >= 201, "{report:?}");
    assert!(report.bytes_replayed >= 200 * 200, "{report:?}");
    assert!(report.checkpointed_after_replay, "{report:?}");
    // Killed again at once, with a few more commits.
    let data = db.keyspace("data").unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    tx.put(&data, b"after", "x").unwrap();
    tx.commit().unwrap();
    common::kill(&vfs, db);

    let db = open();
    let report = db.stats().recovery;
    assert_eq!(report.commits_replayed, 1, "{report:?}");
    assert!(!report.checkpointed_after_replay, "{report:?}");
    let data = db.keyspace("data").unwrap();
    assert_eq!(db.begin_read().count(&data, ..).unwrap(), 201);
}

/// A clean close leaves the next open nothing to read but the checkpoint's
/// marker: the close starts a new log segment before its checkpoint, so
/// the segment holding the session's commits is truncated (before, an open
/// read the whole last segment to reach the replay start: tens of MiB
/// after a bulk load). A close after only reads writes no checkpoint, and
/// an open of a cleanly closed log creates no segment.
#[test]
fn a_clean_close_leaves_the_next_open_nothing_old_to_read() {
    let vfs = keel_io::SimVfs::new(12);
    let dir = Path::new("/db");
    let open = || Database::open_with_vfs(Arc::new(vfs.clone()), dir, common::options()).unwrap();
    let segments = || {
        keel_wal::segment::list_segments(&vfs, &dir.join("wal"))
            .unwrap()
            .len()
    };
    let db = open();
    let data = db.keyspace("data").unwrap();
    for index in 0..300u32 {
        let mut tx = db.begin(Isolation::Serializable);
        tx.put(&data, index.to_be_bytes(), vec![1u8; 300]).unwrap();
        tx.commit().unwrap();
    }
    db.close().unwrap();
    assert_eq!(
        segments(),
        1,
        "the close's truncation took the older segments"
    );

    let db = open();
    let report = db.stats().recovery;
    assert_eq!(report.commits_replayed, 0, "{report:?}");
    assert!(report.records_scanned <= 1, "only the marker: {report:?}");
    let checkpoint = report.checkpoint_id;
    let data = db.keyspace("data").unwrap();
    assert_eq!(db.begin_read().count(&data, ..).unwrap(), 300);
    db.close().unwrap();

    // Only reads since the open: the close writes no checkpoint, and the
    // open after it goes on in the same segment. After a clean close an
    // open writes and syncs nothing but the lock file's open mark.
    let before = vfs.operations();
    let db = open();
    assert_eq!(vfs.operations() - before, 1, "an open after a clean close");
    drop(db);
    let fault = vfs.operations();
    // (the close after a read-only session wrote only the mark back)
    vfs.inject_fault(fault, keel_io::FaultMode::Once);
    let error = Database::open_with_vfs(Arc::new(vfs.clone()), dir, common::options())
        .map(drop)
        .unwrap_err();
    let error = format!("{error:?}");
    assert!(
        error.contains("SetLen") && error.contains("LOCK"),
        "{error}"
    );
    let db = open();
    assert_eq!(db.stats().recovery.checkpoint_id, checkpoint);
    assert_eq!(db.stats().log_records, 0);
    assert_eq!(segments(), 1);
    let data = db.keyspace("data").unwrap();
    assert_eq!(db.begin_read().count(&data, ..).unwrap(), 300);

    // Killed: the next open's first change is a sync of what the killed
    // process may have left in the page cache (the log's segment), not
    // the mark of a clean close.
    common::kill(&vfs, db);
    vfs.inject_fault(vfs.operations(), keel_io::FaultMode::Once);
    let error = Database::open_with_vfs(Arc::new(vfs.clone()), dir, common::options())
        .map(drop)
        .unwrap_err();
    let error = format!("{error:?}");
    assert!(
        error.contains("SyncData") && error.contains("wal"),
        "{error}"
    );
    drop(open());
}

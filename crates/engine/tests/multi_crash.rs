#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Several crashes in a row, with little or no work between them: the
//! sequences a crash-then-verify-then-close test cannot see, because the
//! clean close hides them. Each is a regression test of an acknowledged
//! commit that was lost.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{kill, numbered_key as key, options, present};
use keel::{Database, Options};
use keel_io::{CrashMode, SimVfs, Vfs};

const DIR: &str = "/db";

fn open_with(vfs: &SimVfs, options: Options) -> Database {
    let shared: Arc<dyn Vfs> = Arc::new(vfs.clone());
    Database::open_with_vfs(shared, Path::new(DIR), options).unwrap()
}

fn open(vfs: &SimVfs) -> Database {
    open_with(vfs, options())
}

fn commit_each(db: &Database, keys: std::ops::Range<u32>) {
    let keyspace = db.default_keyspace();
    for index in keys {
        db.update(|tx| tx.put(&keyspace, key(index), index.to_le_bytes()))
            .unwrap();
    }
}

fn missing(db: &Database, keys: std::ops::Range<u32>) -> Vec<u32> {
    let first = keys.start;
    present(db, keys)
        .into_iter()
        .zip(first..)
        .filter_map(|(present, index)| (!present).then_some(index))
        .collect()
}

/// Issue 16, item 1: commit, crash; open, checkpoint, crash; open, commit,
/// crash. The checkpoint's replay position was the log's next lsn, its
/// own record only buffered, and truncation deleted every segment: the
/// next open restarted the log at lsn 1, below the replay position, and
/// the last round's acknowledged commits were skipped by recovery.
#[test]
fn checkpoint_right_after_open_then_two_crashes_keeps_acknowledged_commits() {
    for first_crash in [CrashMode::ProcessKill, CrashMode::LoseUnsynced] {
        let vfs = SimVfs::new(7);
        let db = open(&vfs);
        commit_each(&db, 0..300);
        vfs.set_crash_point(Some(vfs.operations()));
        drop(db);
        vfs.crash(first_crash);

        let db = open(&vfs);
        db.checkpoint().unwrap();
        kill(&vfs, db);

        let db = open(&vfs);
        commit_each(&db, 300..400);
        kill(&vfs, db);

        let db = open(&vfs);
        assert_eq!(missing(&db, 0..400), Vec::<u32>::new(), "{first_crash:?}");
        assert_eq!(db.check().unwrap(), Vec::<String>::new());
        let recovery = db.stats().recovery;
        assert!(
            recovery.commits_replayed >= 100,
            "{first_crash:?}: replayed {}",
            recovery.commits_replayed
        );
    }
}

/// The same loss without an explicit checkpoint: the background thread's
/// checkpoint right after a replay (small `checkpoint_dirty_bytes`).
#[test]
fn checkpoint_after_replay_then_crashes_keeps_acknowledged_commits() {
    let vfs = SimVfs::new(11);
    let mut acknowledged = 0;
    for round in 0..6u32 {
        let db = open(&vfs);
        assert_eq!(
            missing(&db, 0..acknowledged),
            Vec::<u32>::new(),
            "round {round}"
        );
        if round % 2 == 1 {
            // Only an open and a checkpoint between crashes.
            db.checkpoint().unwrap();
        } else {
            commit_each(&db, acknowledged..acknowledged + 50);
            acknowledged += 50;
        }
        kill(&vfs, db);
    }
    let db = open(&vfs);
    assert_eq!(missing(&db, 0..acknowledged), Vec::<u32>::new());
}

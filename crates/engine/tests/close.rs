//! What a close leaves behind: a database closed cleanly opens without
//! replaying anything (issue 19: an open that costs nothing).

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use keel::{Database, Options};

/// Checkpoints only where the test takes them.
fn options() -> Options {
    Options {
        background_maintenance: false,
        ..Options::default()
    }
}

#[test]
fn a_close_after_a_checkpoint_that_left_a_commit_to_replay_checkpoints_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    let keyspace = db.keyspace("k").unwrap();
    db.update(|tx| tx.put(&keyspace, "before", "1")).unwrap();
    // A reader's snapshot holds the fold back, so the checkpoint leaves the
    // next commit in the log to replay, and nothing is logged after it.
    let reader = db.begin_read();
    db.update(|tx| tx.put(&keyspace, "after", "2")).unwrap();
    db.checkpoint().unwrap();
    drop(reader);
    drop(keyspace);
    db.close().unwrap();

    let db = Database::open(dir.path(), options()).unwrap();
    assert_eq!(db.stats().recovery.commits_replayed, 0);
    let keyspace = db.keyspace("k").unwrap();
    let tx = db.begin_read();
    assert_eq!(
        tx.get(&keyspace, "after").unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(
        tx.get(&keyspace, "before").unwrap().as_deref(),
        Some(&b"1"[..])
    );
}

#[test]
fn a_close_right_after_a_checkpoint_of_everything_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    let keyspace = db.keyspace("k").unwrap();
    db.update(|tx| tx.put(&keyspace, "key", "value")).unwrap();
    let checkpoint = db.checkpoint().unwrap();
    drop(keyspace);
    db.close().unwrap();

    let db = Database::open(dir.path(), options()).unwrap();
    let recovery = db.stats().recovery;
    assert_eq!(recovery.commits_replayed, 0);
    // The close took no checkpoint of its own.
    assert_eq!(recovery.checkpoint_id, checkpoint.checkpoint_id);
}

//! When the background thread starts (issue 19: an open does not wait for
//! a thread's creation). One test in its own binary: it counts the
//! process's threads by name, which another test's database would change.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use keel::{Database, Durability, Options};

/// Threads of this process named as the engine's background thread (the
/// kernel keeps 15 bytes of a thread's name).
fn maintenance_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .filter(|name| name.trim_end() == "keel-maintenanc")
        .count()
}

/// Waits up to a few seconds for `count` background threads, the same
/// count for 50 ms: one that was joined may still be listed for a moment,
/// and a thread the background thread starts (the log's) bears its name
/// until it names itself.
fn expect_threads(count: usize, context: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut steady_since = Instant::now();
    loop {
        let now = Instant::now();
        if maintenance_threads() != count {
            steady_since = now;
        } else if now - steady_since >= Duration::from_millis(50) {
            return;
        }
        if now >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(maintenance_threads(), count, "{context}");
}

#[test]
fn the_background_thread_starts_at_the_first_write() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        durability: Durability::Periodic,
        sync_interval: Duration::from_millis(5),
        background_maintenance: true,
        ..Options::default()
    };
    let db = Database::open(dir.path(), options.clone()).unwrap();
    expect_threads(0, "a new database, not yet written");
    let keyspace = db.keyspace("k").unwrap();
    expect_threads(1, "creating a keyspace commits");
    db.update(|tx| tx.put(&keyspace, b"a", b"1")).unwrap();
    db.close().unwrap();
    expect_threads(0, "closed");

    let db = Database::open(dir.path(), options.clone()).unwrap();
    let keyspace = db.keyspace("k").unwrap();
    let value = db.view(|tx| tx.get(&keyspace, b"a")).unwrap();
    assert_eq!(value.as_deref(), Some(&b"1"[..]));
    expect_threads(0, "a reopen that is only read from");
    db.update(|tx| tx.put(&keyspace, b"b", b"2")).unwrap();
    expect_threads(1, "the first commit after a reopen");
    // The background thread starts the log's: a periodic commit becomes
    // durable without a sync of its own.
    let deadline = Instant::now() + Duration::from_secs(5);
    while db.stats().log_fsyncs == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(db.stats().log_fsyncs > 0, "the log's thread syncs it");
    db.close().unwrap();
    expect_threads(0, "closed again");

    let db = Database::open(dir.path(), options).unwrap();
    let keyspace = db.keyspace("k").unwrap();
    let value = db.view(|tx| tx.get(&keyspace, b"b")).unwrap();
    assert_eq!(value.as_deref(), Some(&b"2"[..]));
    drop(db);
    expect_threads(0, "dropped");
}

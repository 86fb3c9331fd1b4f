#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! The public API on the real file system: reads, writes, scans,
//! keyspaces, expiry, conflicts, reopening, the file lock, checkpoints.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use keel::{Database, Durability, Error, Isolation, Options};

fn collect(
    iter: impl Iterator<Item = keel::Result<(keel::Bytes, keel::Bytes)>>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    iter.map(|entry| {
        let (key, value) = entry.unwrap();
        (key.to_vec(), value.to_vec())
    })
    .collect()
}

#[test]
fn reads_writes_scans_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let users = db.keyspace("users").unwrap();
    let other = db.keyspace("other").unwrap();
    db.update(|tx| {
        for (key, value) in [("alice", "1"), ("bob", "2"), ("carol", "3"), ("dave", "4")] {
            tx.put(&users, key.as_bytes(), value)?;
        }
        tx.put(&other, b"alice", "elsewhere")
    })
    .unwrap();
    db.update(|tx| tx.delete(&users, b"carol")).unwrap();
    let tx = db.begin(Isolation::Serializable);
    assert_eq!(
        tx.get(&users, b"alice").unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(tx.get(&users, b"carol").unwrap(), None);
    let forward = collect(tx.range(&users, b"b".as_slice()..).unwrap());
    assert_eq!(
        forward,
        vec![
            (b"bob".to_vec(), b"2".to_vec()),
            (b"dave".to_vec(), b"4".to_vec())
        ]
    );
    let reverse = collect(tx.range(&users, ..b"c").unwrap().rev());
    assert_eq!(
        reverse,
        vec![
            (b"bob".to_vec(), b"2".to_vec()),
            (b"alice".to_vec(), b"1".to_vec())
        ]
    );
    let all_other = collect(tx.range(&other, ..).unwrap());
    assert_eq!(
        all_other,
        vec![(b"alice".to_vec(), b"elsewhere".to_vec())],
        "keyspaces are separate"
    );
    let prefixed = collect(tx.prefix(&users, b"da").unwrap());
    assert_eq!(prefixed.len(), 1);
    tx.commit().unwrap();
    assert_eq!(db.keyspaces(), vec!["default", "other", "users"]);
    db.checkpoint().unwrap();
    db.update(|tx| tx.put(&users, b"erin", "5")).unwrap();
    db.close().unwrap();

    let db = Database::open(dir.path(), Options::default()).unwrap();
    let users = db.keyspace("users").unwrap();
    let found = db.view(|tx| Ok(collect(tx.range(&users, ..)?))).unwrap();
    let keys: Vec<&[u8]> = found.iter().map(|(key, _)| key.as_slice()).collect();
    assert_eq!(keys, vec![&b"alice"[..], b"bob", b"dave", b"erin"]);
    assert!(db.check().unwrap().is_empty());
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    assert!(matches!(
        Database::open(dir.path(), Options::default()),
        Err(Error::Locked { .. })
    ));
    assert!(matches!(
        Database::create(dir.path(), Options::default()),
        Err(Error::AlreadyExists { .. })
    ));
    drop(db);
    let missing = dir.path().join("missing");
    let options = Options {
        create_if_missing: false,
        ..Options::default()
    };
    assert!(matches!(
        Database::open(&missing, options),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn expired_keys_read_as_absent_and_are_folded_away() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let ks = db.default_keyspace();
    let past = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 60_000;
    db.update(|tx| {
        tx.put_expiring_at(&ks, b"gone", "x", past)?;
        tx.put_with_ttl(&ks, b"later", "y", Duration::from_secs(3600))
    })
    .unwrap();
    assert_eq!(db.view(|tx| tx.get(&ks, b"gone")).unwrap(), None);
    let (value, expires) = db
        .view(|tx| tx.get_with_expiry(&ks, b"later"))
        .unwrap()
        .unwrap();
    assert_eq!(value.as_ref(), b"y");
    assert!(expires.is_some());
    db.checkpoint().unwrap();
    assert!(db.stats().expired_removed >= 1, "{:?}", db.stats());
    assert_eq!(db.view(|tx| tx.get(&ks, b"gone")).unwrap(), None);
}

#[test]
fn write_skew_is_refused_under_serializable() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(
        dir.path(),
        Options::default().with_durability(Durability::None),
    )
    .unwrap();
    let ks = db.default_keyspace();
    db.update(|tx| {
        tx.put(&ks, b"x", "1")?;
        tx.put(&ks, b"y", "1")
    })
    .unwrap();
    let mut first = db.begin(Isolation::Serializable);
    let mut second = db.begin(Isolation::Serializable);
    first.get(&ks, b"y").unwrap();
    second.get(&ks, b"x").unwrap();
    first.put(&ks, b"x", "0").unwrap();
    second.put(&ks, b"y", "0").unwrap();
    first.commit().unwrap();
    assert!(matches!(second.commit(), Err(Error::Conflict { .. })));
}

#[test]
fn concurrent_increments_through_update_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Database::open(dir.path(), Options::default()).unwrap());
    let ks = db.default_keyspace();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            let ks = ks.clone();
            thread::spawn(move || {
                // Four threads on one key under a loaded machine may lose
                // more than the default attempts in a row: what is checked
                // is that no increment is lost, not how soon each lands.
                let patient = keel::UpdateOptions {
                    attempts: 100_000,
                    ..keel::UpdateOptions::default()
                };
                for _ in 0..50 {
                    db.update_with(&patient, |tx| {
                        let current = tx.get(&ks, b"counter")?.map_or(0, |value| {
                            u64::from_le_bytes(value.as_ref().try_into().unwrap())
                        });
                        tx.put(&ks, b"counter", (current + 1).to_le_bytes())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let value = db.view(|tx| tx.get(&ks, b"counter")).unwrap().unwrap();
    assert_eq!(u64::from_le_bytes(value.as_ref().try_into().unwrap()), 200);
    let stats = db.stats();
    assert!(stats.commits >= 200);
    assert!(
        stats.log_fsyncs > 0 && stats.log_fsyncs <= stats.commits + 1,
        "{stats:?}"
    );
}

#[test]
fn dropping_a_keyspace_removes_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(
        dir.path(),
        Options::default().with_durability(Durability::None),
    )
    .unwrap();
    let doomed = db.keyspace("doomed").unwrap();
    let kept = db.keyspace("kept").unwrap();
    db.update(|tx| {
        for index in 0..2500u32 {
            tx.put(&doomed, index.to_be_bytes(), "x")?;
        }
        tx.put(&kept, b"k", "v")
    })
    .unwrap();
    db.drop_keyspace("doomed").unwrap();
    assert!(matches!(
        db.view(|tx| tx.get(&doomed, b"k")),
        Err(Error::KeyspaceNotFound { .. })
    ));
    assert!(!db.keyspaces().contains(&"doomed".to_string()));
    let again = db.keyspace("doomed").unwrap();
    assert_eq!(
        db.view(|tx| Ok(collect(tx.range(&again, ..)?))).unwrap(),
        vec![]
    );
    assert_eq!(
        db.view(|tx| tx.get(&kept, b"k")).unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert!(matches!(
        db.drop_keyspace("never"),
        Err(Error::KeyspaceNotFound { .. })
    ));
    assert!(matches!(
        db.keyspace(""),
        Err(Error::InvalidKeyspaceName { .. })
    ));
}

#[test]
fn the_background_thread_checkpoints_by_changed_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        durability: Durability::None,
        checkpoint_dirty_bytes: 64 << 10,
        checkpoint_wal_bytes: u64::MAX,
        checkpoint_interval: Duration::from_secs(3600),
        fold_interval: Duration::from_millis(10),
        ..Options::default()
    };
    let db = Database::open(dir.path(), options).unwrap();
    let ks = db.default_keyspace();
    db.update(|tx| {
        for index in 0..400u32 {
            tx.put(&ks, index.to_be_bytes(), vec![1u8; 400])?;
        }
        Ok(())
    })
    .unwrap();
    // Folding 160 KB of changes crosses the threshold: the background
    // thread checkpoints on its own (it polls every few milliseconds).
    let started = std::time::Instant::now();
    while db.stats().checkpoints == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no checkpoint: {:?}",
            db.stats()
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert!(db.stats().dirty_bytes < 64 << 10);
    let size = keel::VALUE_BYTES_MAX_DEFAULT + 1;
    let too_large = db.update(|tx| tx.put_bytes(&ks, b"big", vec![0u8; size]));
    assert!(
        matches!(
            &too_large,
            Err(Error::LimitExceeded { kind: keel::LimitKind::ValueBytes, size: found, key: Some(key), .. })
                if *found == size as u64 && key == "big"
        ),
        "{too_large:?}"
    );
}

/// An application's own error type, as `update_with` takes it.
#[derive(Debug)]
enum AppError {
    Keel(Error),
    Refused(&'static str),
}

impl From<Error> for AppError {
    fn from(error: Error) -> AppError {
        AppError::Keel(error)
    }
}

#[test]
fn update_with_retries_only_conflicts_and_keeps_the_callers_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let ks = db.keyspace("counters").unwrap();
    let options = keel::UpdateOptions {
        attempts: 3,
        durability: Some(Durability::None),
        ..keel::UpdateOptions::default()
    };
    // The caller's error rolls the attempt back and is not retried.
    let mut runs = 0;
    let outcome: Result<(), AppError> = db.update_with(&options, |tx| {
        runs += 1;
        tx.put(&ks, b"k", "written")?;
        Err(AppError::Refused("no"))
    });
    assert!(matches!(outcome, Err(AppError::Refused("no"))));
    assert_eq!(runs, 1);
    assert_eq!(db.view(|tx| tx.get(&ks, b"k")).unwrap(), None);
    // A conflict at every commit is retried `attempts` times.
    let mut runs = 0;
    let outcome: Result<(), AppError> = db.update_with(&options, |tx| {
        runs += 1;
        tx.get(&ks, b"hot")?;
        db.update(|other| other.put(&ks, b"hot", format!("{runs}")))?;
        tx.put(&ks, b"k", "late")?;
        Ok(())
    });
    assert!(matches!(
        outcome,
        Err(AppError::Keel(Error::TooManyConflicts { attempts: 3, .. }))
    ));
    assert_eq!(runs, 3);
    assert_eq!(db.view(|tx| tx.get(&ks, b"k")).unwrap(), None);
}

#[test]
fn expiry_is_judged_at_the_read_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let ks = db.keyspace("ttl").unwrap();
    let now = db.begin_read().read_time_ms();
    db.update(|tx| {
        tx.put_expiring_at(&ks, "past", "v", now)?;
        tx.put_expiring_at(&ks, "future", "v", now + 3_600_000)
    })
    .unwrap();
    let tx = db.begin_read();
    assert!(tx.read_time_ms() >= now);
    assert!(!tx.contains_key(&ks, "past").unwrap());
    assert!(tx.contains_key(&ks, "future").unwrap());
}

#[test]
fn a_scan_from_both_ends_guards_what_it_covered() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    // Read "a" and "c" from the front and "i" from the back, then stop:
    // the scan covered ..="c" and "i"..; "e".."i" it never saw, but "g"
    // it read as a point read.
    let scan_and_write = |case: &str, insert: &str| {
        let ks = db.keyspace(case).unwrap();
        db.update(|tx| {
            for key in ["a", "c", "e", "g", "i"] {
                tx.put(&ks, key, "v")?;
            }
            Ok(())
        })
        .unwrap();
        let mut tx = db.begin(Isolation::Serializable);
        {
            let mut range = tx.range(&ks, ..).unwrap();
            assert_eq!(range.next().unwrap().unwrap().0, "a");
            assert_eq!(range.next().unwrap().unwrap().0, "c");
            assert_eq!(range.next_back().unwrap().unwrap().0, "i");
            // A second scan and a point read while the first is open.
            assert_eq!(tx.first(&ks).unwrap().unwrap().0, "a");
            assert!(tx.contains_key(&ks, "g").unwrap());
        }
        db.update(|other| other.put(&ks, insert, "phantom"))
            .unwrap();
        tx.put(&ks, "z-marker", "x").unwrap();
        tx.commit()
    };
    assert!(matches!(
        scan_and_write("front", "b"),
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        scan_and_write("back", "j"),
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        scan_and_write("point", "g"),
        Err(Error::Conflict { .. })
    ));
    // Between the two ends, unread: no conflict.
    scan_and_write("middle", "f").unwrap();
}

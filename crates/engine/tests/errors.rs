#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! keel's errors as a user sees them: typed fields, the user's keys (never
//! the internal keyspace prefix), the keyspace named, the lower layer's
//! error as `source()`, and a printed chain that says nothing twice.

use std::error::Error as _;
use std::io::{Read, Seek, SeekFrom, Write};

use keel::{Database, Error, Isolation, LimitKind, Location, Options};

/// No link of the chain repeats the text of the link below it.
fn assert_says_nothing_twice(error: &dyn std::error::Error) {
    let mut current = error;
    while let Some(source) = current.source() {
        let text = current.to_string();
        let below = source.to_string();
        assert!(
            !text.contains(&below),
            "{text:?} repeats its source {below:?}"
        );
        current = source;
    }
}

#[test]
fn a_conflict_names_the_keyspace_and_the_users_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let accounts = db.keyspace("accounts").unwrap();
    let mut first = db.begin(Isolation::Serializable);
    let mut second = db.begin(Isolation::Serializable);
    first.get(&accounts, "alice").unwrap();
    second.get(&accounts, "alice").unwrap();
    first.put(&accounts, "alice", "1").unwrap();
    second.put(&accounts, "alice", "2").unwrap();
    first.commit().unwrap();
    let error = second.commit().unwrap_err();
    let Error::Conflict {
        keyspace,
        key,
        kind,
    } = &error
    else {
        panic!("expected a conflict, got {error:?}");
    };
    assert_eq!(keyspace, "accounts");
    assert_eq!(key, "alice");
    assert_eq!(*kind, keel::ConflictKind::ReadChanged);
    assert!(error.is_conflict());
    let text = error.to_string();
    assert!(
        text.contains("\"accounts\"") && text.contains("\"alice\""),
        "{text}"
    );
    assert!(!text.contains("\\0"), "{text}");
    assert_says_nothing_twice(&error);
}

#[test]
fn too_many_conflicts_names_the_last_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let hot = db.keyspace("hot").unwrap();
    let options = keel::UpdateOptions {
        attempts: 2,
        ..keel::UpdateOptions::default()
    };
    // Each attempt reads the key, then another commit changes it.
    let result: keel::Result<()> = db.update_with(&options, |tx| {
        tx.get(&hot, "counter")?;
        db.update(|other| other.put(&hot, "counter", "bumped"))?;
        tx.put(&hot, "counter", "mine")
    });
    match result {
        Err(Error::TooManyConflicts {
            attempts,
            keyspace,
            key,
        }) => {
            assert_eq!((attempts, keyspace.as_str()), (2, "hot"));
            assert_eq!(key, "counter");
        }
        other => panic!("expected TooManyConflicts, got {other:?}"),
    }
}

#[test]
fn limits_count_the_users_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let ks = db.keyspace("limits").unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    let Err(Error::LimitExceeded {
        kind: LimitKind::KeyBytes,
        limit,
        size: 100_000,
        key: None,
    }) = tx.put(&ks, vec![b'k'; 100_000], "v")
    else {
        panic!("a 100,000-byte key was accepted");
    };
    let limit = usize::try_from(limit).unwrap();
    // The limit is the user's: a key of exactly `limit` bytes is taken,
    // one more byte is refused and reported as its own length.
    tx.put(&ks, vec![b'k'; limit], "v").unwrap();
    let error = tx.put(&ks, vec![b'k'; limit + 1], "v").unwrap_err();
    assert!(
        matches!(error, Error::LimitExceeded { kind: LimitKind::KeyBytes, size, .. } if size == limit as u64 + 1),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "a key of {} bytes is over the limit of {limit} bytes",
            limit + 1
        )
    );
    drop(tx);

    let small = Options {
        value_bytes_max: 10,
        ..Options::default()
    };
    db.close().unwrap();
    let db = Database::open(dir.path(), small).unwrap();
    let ks = db.keyspace("limits").unwrap();
    let error = db.update(|tx| tx.put(&ks, "big", [0u8; 11])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "a value of 11 bytes is over the limit of 10 bytes (key \"big\")"
    );
}

#[test]
fn a_damaged_page_file_is_corruption_with_file_place_and_cause() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        pool_bytes: 16 * 4096,
        ..Options::default()
    };
    {
        let db = Database::open(dir.path(), options.clone()).unwrap();
        let ks = db.keyspace("data").unwrap();
        db.update(|tx| {
            for index in 0..2000u32 {
                tx.put(&ks, format!("key{index:05}"), [7u8; 100])?;
            }
            Ok(())
        })
        .unwrap();
        db.close().unwrap();
    }
    // Flip bytes in the middle of every block after the meta slots.
    let path = dir.path().join("pages");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let blocks = file.metadata().unwrap().len() / 4096;
    for block in 2..blocks {
        let mut bytes = [0u8; 64];
        file.seek(SeekFrom::Start(block * 4096 + 2048)).unwrap();
        file.read_exact(&mut bytes).unwrap();
        bytes.iter_mut().for_each(|byte| *byte ^= 0x5a);
        file.seek(SeekFrom::Start(block * 4096 + 2048)).unwrap();
        file.write_all(&bytes).unwrap();
    }
    drop(file);
    let error = match Database::open(dir.path(), options) {
        Err(error) => error,
        Ok(db) => {
            let ks = db.keyspace("data").unwrap();
            let tx = db.begin_read();
            let scanned: keel::Result<Vec<_>> = match tx.range(&ks, ..) {
                Ok(iter) => iter.collect(),
                Err(error) => Err(error),
            };
            scanned.unwrap_err()
        }
    };
    let Error::Corruption {
        file,
        location,
        source,
    } = &error
    else {
        panic!("expected corruption, got {error:?}");
    };
    assert!(file.ends_with("pages"), "{file:?}");
    assert!(
        matches!(location, Location::Page(_) | Location::Block(_)),
        "{location:?}"
    );
    assert!(error.source().is_some());
    assert!(!source.to_string().is_empty());
    assert!(error.to_string().contains(&location.to_string()));
    assert_says_nothing_twice(&error);
}

#[test]
fn io_and_lock_errors_say_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let locked = Database::open(dir.path(), Options::default()).unwrap_err();
    assert!(matches!(locked, Error::Locked { .. }), "{locked:?}");
    assert_says_nothing_twice(&locked);
    drop(db);
    // A database "directory" that is a file: the open fails with I/O.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let error = Database::open(file.join("db"), Options::default()).unwrap_err();
    assert_says_nothing_twice(&error);
    let text = error.to_string();
    assert!(text.contains("plain-file"), "{text}");
}

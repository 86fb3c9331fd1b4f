#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Bulk load (`Database::load_keyspace`): contents, ordering and limit
//! errors, replacing a keyspace, snapshot visibility, abandoned loads, and
//! a crash at every I/O operation of a workload that loads and replaces
//! keyspaces between ordinary commits — recovery finds each load whole or
//! not at all, and no key is left behind that no keyspace names.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{EXPIRES_AT_MS, Model, Outcome, contents, options};
use keel::{Database, Error, Isolation};
use keel_io::{CrashMode, CrashPoints, CrashSweep, SimVfs, Vfs};

const DIR: &str = "/db";

fn open(vfs: &SimVfs) -> keel::Result<Database> {
    let shared: Arc<dyn Vfs> = Arc::new(vfs.clone());
    Database::open_with_vfs(shared, Path::new(DIR), options())
}

fn key(index: u32) -> Vec<u8> {
    format!("key{index:05}").into_bytes()
}

fn value(index: u32, round: u8) -> Vec<u8> {
    vec![round.wrapping_add(index as u8); 40 + (index as usize * 37) % 400]
}

fn keys_of(db: &Database, name: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let keyspace = db.keyspace(name).unwrap();
    db.view(|tx| {
        tx.range(&keyspace, ..)?
            .map(|entry| entry.map(|(key, value)| (key.to_vec(), value.to_vec())))
            .collect()
    })
    .unwrap()
}

#[test]
fn a_load_holds_every_entry_and_survives_reopen() {
    let vfs = SimVfs::new(1);
    let db = open(&vfs).unwrap();
    let mut loader = db.load_keyspace("beta").unwrap();
    for index in 0..2000 {
        let expires = match index % 10 {
            0 => Some(EXPIRES_AT_MS),
            1 => Some(1), // long past: skipped
            _ => None,
        };
        loader.put(&key(index), &value(index, 0), expires).unwrap();
    }
    let report = loader.finish().unwrap();
    assert_eq!(report.entries, 1800);
    assert_eq!(report.expired_skipped, 200);
    assert!(!report.replaced);
    let expected: Vec<_> = (0..2000)
        .filter(|index| index % 10 != 1)
        .map(|index| (key(index), value(index, 0)))
        .collect();
    assert_eq!(keys_of(&db, "beta"), expected);
    let beta = db.keyspace("beta").unwrap();
    let (_, expiry) = db
        .view(|tx| tx.get_with_expiry(&beta, key(10)))
        .unwrap()
        .unwrap();
    assert_eq!(expiry, Some(EXPIRES_AT_MS));
    // Ordinary transactions work on it.
    db.update(|tx| tx.put(&beta, key(1), "written after"))
        .unwrap();
    assert!(db.check().unwrap().is_empty());
    drop(db);
    let db = open(&vfs).unwrap();
    let again = keys_of(&db, "beta");
    assert_eq!(again.len(), 1801);
    assert_eq!(again[1], (key(1), b"written after".to_vec()));
    db.checkpoint().unwrap();
    assert!(db.check().unwrap().is_empty());
}

#[test]
fn unsorted_keys_and_oversized_entries_are_typed_errors_and_the_load_goes_on() {
    let vfs = SimVfs::new(2);
    let db = open(&vfs).unwrap();
    let mut loader = db.load_keyspace("beta").unwrap();
    loader.put(b"b", b"1", None).unwrap();
    for bad in [&b"b"[..], b"a"] {
        match loader.put(bad, b"2", None) {
            Err(Error::UnsortedLoad {
                keyspace, entry, ..
            }) => {
                assert_eq!(keyspace, "beta");
                assert_eq!(entry, 1);
            }
            other => panic!("expected UnsortedLoad, got {other:?}"),
        }
    }
    assert!(matches!(
        loader.put(&vec![b'z'; 70_000], b"v", None),
        Err(Error::LimitExceeded {
            kind: keel::LimitKind::KeyBytes,
            size: 70_000,
            ..
        })
    ));
    loader.put(b"c", b"3", None).unwrap();
    assert_eq!(loader.entries(), 2);
    loader.finish().unwrap();
    assert_eq!(
        keys_of(&db, "beta"),
        vec![
            (b"b".to_vec(), b"1".to_vec()),
            (b"c".to_vec(), b"3".to_vec())
        ]
    );
    assert!(matches!(
        db.load_keyspace(""),
        Err(Error::InvalidKeyspaceName { .. })
    ));
}

#[test]
fn a_load_replaces_a_keyspace_whole_and_old_snapshots_cannot_see_it() {
    let vfs = SimVfs::new(3);
    let db = open(&vfs).unwrap();
    let alpha = db.keyspace("alpha").unwrap();
    for index in 0..500 {
        db.update(|tx| tx.put(&alpha, key(index * 2), value(index, 1)))
            .unwrap();
    }
    let mut loader = db.load_keyspace("alpha").unwrap();
    // While the load runs, the old keyspace is what everyone sees, and
    // creating the name again is refused.
    assert!(matches!(
        db.load_keyspace("alpha"),
        Err(Error::KeyspaceBusy { .. })
    ));
    for index in 0..300 {
        loader.put(&key(index * 3), &value(index, 2), None).unwrap();
    }
    assert_eq!(keys_of(&db, "alpha").len(), 500);
    let before = db.begin(Isolation::Snapshot);
    let report = loader.finish().unwrap();
    assert!(report.replaced);
    // The old handle is gone; a transaction older than the load cannot use
    // the new keyspace; a new one sees exactly the loaded entries.
    assert!(matches!(
        db.view(|tx| tx.get(&alpha, key(0))),
        Err(Error::KeyspaceNotFound { .. })
    ));
    let loaded = db.keyspace("alpha").unwrap();
    assert!(matches!(
        before.get(&loaded, key(0)),
        Err(Error::KeyspaceNotFound { .. })
    ));
    before.rollback();
    let expected: Vec<_> = (0..300)
        .map(|index| (key(index * 3), value(index, 2)))
        .collect();
    assert_eq!(keys_of(&db, "alpha"), expected);
    // The old keys are removed: after a checkpoint no key lacks a name.
    db.checkpoint().unwrap();
    assert!(db.check().unwrap().is_empty());
    drop(db);
    let db = open(&vfs).unwrap();
    assert_eq!(keys_of(&db, "alpha"), expected);
    db.checkpoint().unwrap();
    assert_eq!(db.stats().orphans_removed, 0);
    assert!(db.check().unwrap().is_empty());
}

#[test]
fn an_abandoned_load_leaves_nothing() {
    let vfs = SimVfs::new(4);
    let db = open(&vfs).unwrap();
    let alpha = db.keyspace("alpha").unwrap();
    db.update(|tx| tx.put(&alpha, b"kept", "yes")).unwrap();
    let mut loader = db.load_keyspace("beta").unwrap();
    for index in 0..1000 {
        loader.put(&key(index), &value(index, 3), None).unwrap();
    }
    // A checkpoint in the middle writes some of its keys to the page file.
    db.checkpoint().unwrap();
    drop(loader);
    assert!(keys_of(&db, "beta").is_empty());
    assert_eq!(keys_of(&db, "alpha").len(), 1);
    db.checkpoint().unwrap();
    assert!(db.check().unwrap().is_empty());
    // A load of the same name can start again.
    let mut loader = db.load_keyspace("gamma").unwrap();
    loader.put(b"x", b"y", None).unwrap();
    loader.finish().unwrap();
    assert_eq!(keys_of(&db, "gamma").len(), 1);
}

/// Commits to `alpha`, a load of `beta` with a checkpoint part way, more
/// commits, then a load replacing `alpha`; every commit and load `Sync`.
fn workload(open: &dyn Fn() -> keel::Result<Database>) -> Outcome {
    let mut outcome = Outcome {
        states: vec![Model::new()],
        ..Outcome::default()
    };
    let Ok(db) = open() else {
        return outcome;
    };
    let commit = |outcome: &mut Outcome, round: u8| -> bool {
        for index in 0..4u32 {
            let mut next = outcome.last().clone();
            let result = db.keyspace("alpha").and_then(|alpha| {
                db.update(|tx| tx.put(&alpha, key(index + 100), value(index, round)))
            });
            next.insert(
                ("alpha".to_string(), key(index + 100)),
                (value(index, round), None),
            );
            if result.is_err() {
                outcome.in_flight = Some(next);
                return false;
            }
            outcome.states.push(next);
            outcome.durable = outcome.states.len() - 1;
        }
        true
    };
    let load = |outcome: &mut Outcome, name: &str, count: u32, round: u8| -> bool {
        let mut next = outcome.last().clone();
        next.retain(|(keyspace, _), _| keyspace != name);
        let result = (|| {
            let mut loader = db.load_keyspace(name)?;
            for index in 0..count {
                let expires = (index % 7 == 0).then_some(EXPIRES_AT_MS);
                loader.put(&key(index), &value(index, round), expires)?;
                next.insert(
                    (name.to_string(), key(index)),
                    (value(index, round), expires),
                );
                if index == count / 2 {
                    db.checkpoint()?;
                }
            }
            loader.finish()
        })();
        if result.is_err() {
            outcome.in_flight = Some(next);
            return false;
        }
        outcome.states.push(next);
        outcome.durable = outcome.states.len() - 1;
        true
    };
    if !(commit(&mut outcome, 1)
        && load(&mut outcome, "beta", 120, 2)
        && commit(&mut outcome, 3)
        && load(&mut outcome, "alpha", 60, 4))
    {
        return outcome;
    }
    outcome.completed = db.close().is_ok();
    outcome
}

/// Reopens, compares, sweeps; returns the orphaned keys the sweep removed.
fn verify(vfs: &SimVfs, outcome: &Outcome, context: &str) -> u64 {
    let db = open(vfs).unwrap_or_else(|error| panic!("{context}: reopen failed: {error}"));
    let found = contents(&db);
    assert!(
        outcome.allowed().any(|model| *model == found),
        "{context}: recovered {} keys, a state no acknowledged prefix of the commits and loads gives",
        found.len()
    );
    // The first fold sweeps what an interrupted load left; then nothing
    // lacks a name.
    db.checkpoint()
        .unwrap_or_else(|error| panic!("{context}: checkpoint: {error}"));
    let problems = db.check().unwrap();
    assert!(problems.is_empty(), "{context}: {problems:?}");
    db.stats().orphans_removed
}

#[test]
fn a_crash_at_every_operation_finds_each_load_whole_or_absent() {
    let clean = SimVfs::new(7);
    let outcome = workload(&|| open(&clean));
    assert!(outcome.completed, "the workload runs clean");
    let mut orphans_swept = 0;
    let report = CrashSweep::new(7, |vfs: &SimVfs| workload(&|| open(vfs)))
        .modes(&CrashMode::ALL)
        .points(CrashPoints::Every)
        .run(|vfs, outcome, image| {
            let context = image.to_string();
            orphans_swept += u64::from(verify(vfs, outcome, &context) > 0);
            // The sweep's removals were checkpointed: nothing is left.
            let db = open(vfs).unwrap();
            db.checkpoint().unwrap();
            assert_eq!(db.stats().orphans_removed, 0, "{context}");
            Ok(())
        });
    assert!(report.is_clean(), "{report}");
    assert!(
        report.operations > 50,
        "only {} operations",
        report.operations
    );
    println!(
        "bulk-load crash sweep: {} crash images; {orphans_swept} held keys of an interrupted load, swept",
        report.images
    );
    assert!(report.images > 200);
    assert!(
        orphans_swept > 0,
        "no crash left an interrupted load to sweep"
    );
}

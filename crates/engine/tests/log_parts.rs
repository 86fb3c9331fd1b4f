#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! A write set larger than one log record is logged as parts and then its
//! own record: recovery replays it whole, and a crash anywhere in it leaves
//! it whole or absent — never part of it, never a damaged log.

mod common;

use std::path::Path;
use std::sync::Arc;

use keel::{Database, Isolation};
use keel_io::{CrashMode, CrashPoints, CrashSweep, SimVfs, Vfs};

const DIR: &str = "/db";
/// 40 values of 2 KiB: ~80 KiB, five parts of 16 KiB.
const BIG_KEYS: u32 = 40;
const BIG_VALUE_BYTES: usize = 2 << 10;
const PART_BYTES: usize = 16 << 10;

/// A memory budget that spills the big write set (~10 runs of 8 KiB).
const SPILL_BYTES: u64 = 8 << 10;

fn open(vfs: &SimVfs) -> keel::Result<Database> {
    open_spilling_past(vfs, keel::Options::default().transaction_memory_bytes_max)
}

/// Opens with transactions spilling their writes past `memory_bytes_max`.
fn open_spilling_past(vfs: &SimVfs, memory_bytes_max: u64) -> keel::Result<Database> {
    let shared: Arc<dyn Vfs> = Arc::new(vfs.clone());
    let options = keel::Options {
        wal_part_bytes: PART_BYTES,
        transaction_memory_bytes_max: memory_bytes_max,
        ..common::options()
    };
    Database::open_with_vfs(shared, Path::new(DIR), options)
}

fn big_value(index: u32) -> Vec<u8> {
    vec![index as u8; BIG_VALUE_BYTES]
}

/// Commits the big write set; whether it was acknowledged (a crashed
/// disk fails it part way).
fn commit_big(db: &Database) -> bool {
    let commit = || -> keel::Result<()> {
        let data = db.keyspace("data")?;
        let mut tx = db.begin(Isolation::Serializable);
        for index in 0..BIG_KEYS {
            tx.put(&data, common::numbered_key(index), big_value(index))?;
        }
        tx.commit().map(drop)
    };
    commit().is_ok()
}

/// How many of the big write set's keys the database holds, each checked
/// against its value.
fn big_keys_found(db: &Database) -> u32 {
    let data = db.keyspace("data").unwrap();
    let reader = db.begin_read();
    let mut found = 0;
    for index in 0..BIG_KEYS {
        if let Some(value) = reader.get(&data, common::numbered_key(index)).unwrap() {
            assert_eq!(value.as_ref(), big_value(index).as_slice(), "key {index}");
            found += 1;
        }
    }
    found
}

#[test]
fn a_commit_logged_in_parts_is_replayed_whole_also_after_a_checkpoint() {
    let vfs = SimVfs::new(3);
    let db = open(&vfs).unwrap();
    let records_before = db.stats().log_records;
    assert!(commit_big(&db));
    // Five parts or six, then the commit (a keyspace's creation is one
    // more).
    let records = db.stats().log_records - records_before;
    assert!((6..=8).contains(&records), "{records} records");
    common::kill(&vfs, db);
    let db = open(&vfs).unwrap();
    assert_eq!(big_keys_found(&db), BIG_KEYS);
    // A checkpoint while an older reader keeps the next big commit above
    // the fold point: its replay position is that commit's first part,
    // not its last record.
    let data = db.keyspace("data").unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    tx.delete(&data, common::numbered_key(0)).unwrap();
    tx.commit().unwrap();
    let reader = db.begin_read();
    assert!(commit_big(&db));
    db.checkpoint().unwrap();
    drop(reader);
    common::kill(&vfs, db);
    let db = open(&vfs).unwrap();
    assert_eq!(big_keys_found(&db), BIG_KEYS);
    assert!(db.check().unwrap().is_empty());
}

#[test]
fn a_crash_anywhere_in_a_commit_of_parts_leaves_it_whole_or_absent() {
    crash_sweep(keel::Options::default().transaction_memory_bytes_max);
}

/// The same with the big transaction spilled to disk before its commit
/// (and rebuilt spilled by each recovery's replay).
#[test]
fn a_crash_anywhere_in_a_spilled_commit_leaves_it_whole_or_absent() {
    crash_sweep(SPILL_BYTES);
}

fn crash_sweep(memory_bytes_max: u64) {
    let open = |vfs: &SimVfs| open_spilling_past(vfs, memory_bytes_max);
    let report = CrashSweep::new(11, |vfs: &SimVfs| {
        let Ok(db) = open(vfs) else {
            return (false, false);
        };
        let small = || -> keel::Result<()> {
            let data = db.keyspace("data")?;
            let mut tx = db.begin(Isolation::Serializable);
            tx.put(&data, b"small", b"before")?;
            tx.commit().map(drop)
        };
        let small = small().is_ok();
        let big = small && commit_big(&db);
        if big && memory_bytes_max < (BIG_KEYS as u64) * BIG_VALUE_BYTES as u64 {
            assert!(db.stats().runs_spilled > 0, "the big commit spilled");
        }
        (small, big)
    })
    .modes(&CrashMode::ALL)
    .points(CrashPoints::Every)
    .crash_during_recovery(4, 16, |vfs| drop(open(vfs)))
    .run(|vfs, (small, big), _image| {
        let db = open(vfs).map_err(|error| format!("reopen failed: {error}"))?;
        let data = db.keyspace("data").unwrap();
        let small_found = db.begin_read().get(&data, b"small").unwrap().is_some();
        if *small && !small_found {
            return Err("the acknowledged small commit is lost".to_owned());
        }
        let found = big_keys_found(&db);
        if found != 0 && found != BIG_KEYS {
            return Err(format!("{found} of {BIG_KEYS} keys of one commit"));
        }
        if *big && found == 0 {
            return Err("the acknowledged big commit is lost".to_owned());
        }
        let problems = db.check().unwrap();
        if !problems.is_empty() {
            return Err(format!("{problems:?}"));
        }
        Ok(())
    });
    assert!(report.is_clean(), "{report}");
    assert!(report.operations > 20, "{report}");
    println!(
        "log parts crash sweep (memory budget {memory_bytes_max}): {} crash images",
        report.images
    );
}

#[test]
fn a_prepared_write_set_logged_in_parts_is_restored_whole() {
    let vfs = SimVfs::new(5);
    let db = open(&vfs).unwrap();
    let data = db.keyspace("data").unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    for index in 0..BIG_KEYS {
        tx.put(&data, common::numbered_key(index), big_value(index))
            .unwrap();
    }
    let prepared = tx.prepare(b"global-1").unwrap();
    drop(prepared);
    common::kill(&vfs, db);
    let db = open(&vfs).unwrap();
    let in_doubt = db.prepared();
    assert_eq!(in_doubt.len(), 1);
    assert_eq!(in_doubt[0].writes, u64::from(BIG_KEYS));
    assert_eq!(big_keys_found(&db), 0, "undecided: not visible");
    db.commit_prepared(b"global-1").unwrap();
    assert_eq!(big_keys_found(&db), BIG_KEYS);
    common::kill(&vfs, db);
    let db = open(&vfs).unwrap();
    assert_eq!(big_keys_found(&db), BIG_KEYS);
    assert!(db.prepared().is_empty());
    assert!(db.check().unwrap().is_empty());
}

//! Damage that is not a torn tail is reported with its place; damage in
//! the tail that was never durable is a torn tail; point-in-time recovery
//! stops at the damage and goes on from there.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keel_io::{CrashMode, SimVfs};
use keel_wal::fragment::fragment_span;
use keel_wal::segment::{SEGMENT_HEADER_BYTES, segment_file_name};
use keel_wal::{
    Damage, Durability, Error, Lsn, ReadEnd, Reader, Record, RecoveryMode, Wal, WalOptions,
};

const DIR: &str = "/wal";

fn options(recovery_mode: RecoveryMode) -> WalOptions {
    WalOptions {
        recovery_mode,
        periodic_interval: Duration::from_secs(3600),
        ..WalOptions::default()
    }
}

fn record(n: u64) -> Record {
    Record::Checkpoint {
        checkpoint_id: n,
        fold_timestamp: n * 3,
    }
}

/// Offset of record `lsn` in the first segment (all records the same size).
fn offset_of(lsn: u64) -> u64 {
    let span = fragment_span(record(0).encode().len()) as u64;
    SEGMENT_HEADER_BYTES + (lsn - 1) * span
}

fn segment() -> PathBuf {
    Path::new(DIR).join(segment_file_name(Lsn::FIRST))
}

/// 30 records, each acknowledged durable on its own.
fn durable_log(vfs: &SimVfs) {
    let (wal, _) = Wal::open(
        Arc::new(vfs.clone()),
        Path::new(DIR),
        options(RecoveryMode::Strict),
    )
    .unwrap();
    for n in 1..=30 {
        wal.commit(&record(n), Durability::Sync).unwrap();
    }
    wal.close().unwrap();
}

#[test]
fn damage_inside_the_durable_log_is_reported_with_its_place() {
    let vfs = SimVfs::new(3);
    durable_log(&vfs);
    assert!(vfs.corrupt(&segment(), offset_of(10) + 30, 0x01));
    vfs.crash(CrashMode::LoseUnsynced);

    let shared = Arc::new(vfs.clone());
    let mut reader = Reader::open(
        shared.clone(),
        Path::new(DIR),
        Lsn::FIRST,
        RecoveryMode::Strict,
    )
    .unwrap();
    let read: Vec<_> = reader.by_ref().collect();
    assert_eq!(read.len(), 10, "nine records, then the error");
    match read.last().unwrap() {
        Err(Error::Corruption {
            segment: path,
            offset,
            expected_lsn,
            damage: Damage::DamagedDurableRecord { found },
        }) => {
            assert_eq!(path, &segment());
            assert_eq!(*offset, offset_of(10));
            assert_eq!(*expected_lsn, Lsn(10));
            assert!(found.0 > 10, "the evidence is a later record: {found}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let message = Wal::open(shared, Path::new(DIR), options(RecoveryMode::Strict))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("corrupt write-ahead log") && message.contains(&offset_of(10).to_string()),
        "{message}"
    );
}

#[test]
fn point_in_time_recovery_stops_at_the_damage_and_goes_on() {
    let vfs = SimVfs::new(3);
    durable_log(&vfs);
    assert!(vfs.corrupt(&segment(), offset_of(10) + 30, 0x01));
    let shared = Arc::new(vfs.clone());
    let (wal, recovery) = Wal::open(
        shared.clone(),
        Path::new(DIR),
        options(RecoveryMode::PointInTime),
    )
    .unwrap();
    assert!(
        matches!(
            recovery.end,
            ReadEnd::Corrupted {
                next_lsn: Lsn(10),
                ..
            }
        ),
        "{:?}",
        recovery.end
    );
    assert_eq!(wal.commit(&record(100), Durability::Sync).unwrap(), Lsn(10));
    drop(wal);
    let records: Vec<_> = Reader::open(shared, Path::new(DIR), Lsn::FIRST, RecoveryMode::Strict)
        .unwrap()
        .map(|item| item.unwrap())
        .collect();
    assert_eq!(records.len(), 10);
    assert_eq!(records[9], (Lsn(10), record(100)));
}

#[test]
fn damage_in_a_tail_that_was_never_durable_is_a_torn_tail() {
    let vfs = SimVfs::new(3);
    let (wal, _) = Wal::open(
        Arc::new(vfs.clone()),
        Path::new(DIR),
        options(RecoveryMode::Strict),
    )
    .unwrap();
    for n in 1..=5 {
        wal.commit(&record(n), Durability::Sync).unwrap();
    }
    // Appended while records before 6 were the durable ones: no later
    // record can prove record 6 was durable, so damage there reads as a
    // tail torn by a crash (the durable_before rule), not as corruption.
    for n in 6..=9 {
        wal.append(&record(n), Durability::None).unwrap();
    }
    wal.close().unwrap_or(());
    std::mem::forget(wal);
    assert!(vfs.corrupt(&segment(), offset_of(6) + 3, 0x80));
    let (_, recovery) = Wal::open(
        Arc::new(vfs.clone()),
        Path::new(DIR),
        options(RecoveryMode::Strict),
    )
    .unwrap();
    match recovery.end {
        ReadEnd::TornTail {
            offset, next_lsn, ..
        } => {
            assert_eq!(offset, offset_of(6));
            assert_eq!(next_lsn, Lsn(6));
        }
        other => panic!("expected a torn tail, got {other:?}"),
    }
}

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

/// Every record of the log, read Strict (a failure fails the test).
fn every_record(vfs: &SimVfs) -> Vec<(Lsn, Record)> {
    Reader::open(
        Arc::new(vfs.clone()),
        Path::new(DIR),
        Lsn::FIRST,
        RecoveryMode::Strict,
    )
    .unwrap()
    .collect::<Result<Vec<_>, _>>()
    .unwrap()
}

/// The file names in the log directory, sorted.
fn files(vfs: &SimVfs) -> Vec<String> {
    let mut names: Vec<String> = keel_io::Vfs::list(vfs, Path::new(DIR))
        .unwrap()
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn shorten(vfs: &SimVfs, path: &Path, len: u64) {
    let file = keel_io::Vfs::open(vfs, path, keel_io::OpenMode::Existing).unwrap();
    file.set_len(len).unwrap();
    file.sync_data().unwrap();
}

/// Issue 16, item 3: segments are preallocated before they are named, so
/// a segment shorter than its preallocation was cut by something other
/// than a crash. Strict refuses it, naming the file and both lengths, and
/// changes nothing.
#[test]
fn a_shortened_segment_is_damage_not_a_torn_tail() {
    for len in [30_000, 600, 100, 0] {
        let vfs = SimVfs::new(5);
        durable_log(&vfs);
        shorten(&vfs, &segment(), len);
        let before = files(&vfs);
        let error = Wal::open(
            Arc::new(vfs.clone()),
            Path::new(DIR),
            options(RecoveryMode::Strict),
        )
        .unwrap_err();
        match &error {
            Error::Corruption {
                segment: path,
                damage: Damage::ShortSegment { size, preallocated },
                ..
            } => {
                assert_eq!(path, &segment());
                // The log's first segment has the floor size.
                assert_eq!(
                    (*size, *preallocated),
                    (len, WalOptions::default().segment_bytes_min)
                );
            }
            Error::Corruption {
                segment: path,
                damage: Damage::SegmentHeader(_),
                ..
            } => {
                assert!(len < SEGMENT_HEADER_BYTES, "{len}: {error}");
                assert_eq!(path, &segment());
            }
            other => panic!("{len}: expected a short segment, got {other}"),
        }
        assert!(error.to_string().contains(&segment().display().to_string()));
        assert_eq!(files(&vfs), before, "a refused open changes no file");
    }
}

/// A log that ends before what a checkpoint recorded as durable lost
/// records, even when what is left reads cleanly; an empty log too.
#[test]
fn a_log_ending_before_the_durable_end_is_refused() {
    let vfs = SimVfs::new(6);
    durable_log(&vfs);
    let expecting = |lsn| WalOptions {
        durable_end_min: Lsn(lsn),
        ..options(RecoveryMode::Strict)
    };
    // 30 records: the log ends at 31.
    let (wal, _) = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), expecting(31)).unwrap();
    drop(wal);
    match Wal::open(Arc::new(vfs.clone()), Path::new(DIR), expecting(40)).unwrap_err() {
        Error::Corruption {
            expected_lsn,
            damage: Damage::EndsBeforeDurable { durable_end },
            ..
        } => assert_eq!((expected_lsn, durable_end), (Lsn(31), Lsn(40))),
        other => panic!("expected a short log, got {other}"),
    }
    for (_, path) in keel_wal::segment::list_segments(&vfs, Path::new(DIR)).unwrap() {
        keel_io::Vfs::remove(&vfs, &path).unwrap();
    }
    let error = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), expecting(31)).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Corruption {
                damage: Damage::EndsBeforeDurable { .. },
                ..
            }
        ),
        "{error}"
    );
}

/// A commit record of about 20 KiB: three fill a 64 KiB segment.
fn big_record(n: u64) -> Record {
    Record::Commit(keel_wal::WriteSet {
        transaction_id: n,
        timestamp: n + 1,
        entries: vec![keel_wal::Entry {
            keyspace: 0,
            key: bytes::Bytes::from(format!("key{n}")),
            change: keel_wal::Change::Put {
                value: bytes::Bytes::from(vec![n as u8; 20_000]),
                expires_at_ms: None,
            },
        }],
    })
}

/// Damage in the last record of a closed segment is corruption: the next
/// segment starts after it, so the log has a gap there.
#[test]
fn damage_at_the_end_of_a_closed_segment_is_corruption() {
    let vfs = SimVfs::new(7);
    let small = WalOptions {
        segment_bytes: 64 << 10,
        ..options(RecoveryMode::Strict)
    };
    let (wal, _) = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), small).unwrap();
    for n in 0..6 {
        wal.commit(&big_record(n), Durability::Sync).unwrap();
    }
    wal.close().unwrap();
    drop(wal);
    let segments = keel_wal::segment::list_segments(&vfs, Path::new(DIR)).unwrap();
    assert!(segments.len() >= 2, "{segments:?}");
    let (second_first, _) = segments[1];
    let span = fragment_span(big_record(0).encode().len()) as u64;
    let offset = SEGMENT_HEADER_BYTES + (second_first.0 - 2) * span;
    assert!(vfs.corrupt(&segments[0].1, offset + 40, 0x04));
    let reader = Reader::open(
        Arc::new(vfs.clone()),
        Path::new(DIR),
        Lsn::FIRST,
        RecoveryMode::Strict,
    )
    .unwrap();
    match reader.last().unwrap() {
        Err(Error::Corruption {
            segment,
            offset: at,
            expected_lsn,
            damage: Damage::Gap { found },
        }) => {
            assert_eq!((segment, at), (segments[0].1.clone(), offset));
            assert_eq!((expected_lsn.0, found), (second_first.0 - 1, second_first));
        }
        other => panic!("expected a gap, got {other:?}"),
    }
}

/// Issue 16, item 5: point-in-time recovery sets the log after the damage
/// aside, renamed, and deletes nothing: every byte of the damaged segment
/// is still there.
#[test]
fn point_in_time_recovery_sets_the_rest_aside() {
    let vfs = SimVfs::new(8);
    durable_log(&vfs);
    assert!(vfs.corrupt(&segment(), offset_of(10) + 30, 0x01));
    let original = {
        let file = keel_io::Vfs::open(&vfs, &segment(), keel_io::OpenMode::Existing).unwrap();
        let mut bytes = vec![0u8; file.size().unwrap() as usize];
        file.read_exact_at(&mut bytes, 0).unwrap();
        bytes
    };
    let (wal, _) = Wal::open(
        Arc::new(vfs.clone()),
        Path::new(DIR),
        options(RecoveryMode::PointInTime),
    )
    .unwrap();
    drop(wal);
    let name = segment_file_name(Lsn::FIRST);
    let aside = format!("{name}.discarded");
    assert!(files(&vfs).contains(&aside), "{:?}", files(&vfs));
    let file = keel_io::Vfs::open(
        &vfs,
        &Path::new(DIR).join(&aside),
        keel_io::OpenMode::Existing,
    )
    .unwrap();
    let mut kept = vec![0u8; file.size().unwrap() as usize];
    file.read_exact_at(&mut kept, 0).unwrap();
    assert!(
        kept == original,
        "the damaged segment is kept byte for byte"
    );
    // The intact records are still in the log under the segment's name.
    let records = every_record(&vfs);
    assert_eq!(records.len(), 9);
}

/// Point-in-time recovery of a shortened segment keeps the records before
/// the cut, sets the segment aside whole, and leaves a log that opens
/// Strict afterwards.
#[test]
fn point_in_time_recovery_reads_a_shortened_segment_up_to_the_cut() {
    let vfs = SimVfs::new(9);
    durable_log(&vfs);
    // Cut inside record 21: records 1..=20 are whole.
    let cut = offset_of(21) + 10;
    shorten(&vfs, &segment(), cut);
    let (wal, recovery) = Wal::open(
        Arc::new(vfs.clone()),
        Path::new(DIR),
        options(RecoveryMode::PointInTime),
    )
    .unwrap();
    match &recovery.end {
        ReadEnd::Corrupted { next_lsn, error } => {
            assert_eq!(*next_lsn, Lsn(21));
            assert!(
                matches!(
                    error,
                    Error::Corruption {
                        damage: Damage::ShortSegment { .. },
                        ..
                    }
                ),
                "{error}"
            );
        }
        other => panic!("expected the cut as the end, got {other:?}"),
    }
    assert_eq!(wal.commit(&record(99), Durability::Sync).unwrap(), Lsn(21));
    drop(wal);
    let aside = format!("{}.discarded", segment_file_name(Lsn::FIRST));
    assert!(files(&vfs).contains(&aside), "{:?}", files(&vfs));
    let records = every_record(&vfs);
    assert_eq!(records.len(), 21);
    assert_eq!(records[20], (Lsn(21), record(99)));
}

/// A closed segment is sealed once the next exists, so deleting the newest
/// segment — records and all, or the empty one an open created — is damage
/// (`MissingSegment`), not a log that merely ends earlier.
#[test]
fn a_missing_newest_segment_is_damage() {
    for reopen_first in [false, true] {
        let vfs = SimVfs::new(10);
        let small = WalOptions {
            segment_bytes: 64 << 10,
            ..options(RecoveryMode::Strict)
        };
        let open = || Wal::open(Arc::new(vfs.clone()), Path::new(DIR), small.clone());
        let (wal, _) = open().unwrap();
        for n in 0..7 {
            wal.commit(&big_record(n), Durability::Sync).unwrap();
        }
        drop(wal);
        if reopen_first {
            // The open seals the segment with the records and creates an
            // empty one after it.
            drop(open().unwrap());
        }
        let segments = keel_wal::segment::list_segments(&vfs, Path::new(DIR)).unwrap();
        assert!(segments.len() >= 3, "{segments:?}");
        let (newest_first, newest) = segments.last().unwrap().clone();
        keel_io::Vfs::remove(&vfs, &newest).unwrap();
        let before = files(&vfs);
        match open().unwrap_err() {
            Error::Corruption {
                damage: Damage::MissingSegment { next },
                ..
            } => assert_eq!(next, newest_first, "reopened first: {reopen_first}"),
            other => {
                panic!("reopened first: {reopen_first}: expected a missing segment, got {other}")
            }
        }
        assert_eq!(files(&vfs), before, "a refused open changes no file");
    }
}

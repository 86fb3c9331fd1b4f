//! A log sized to its work: a closed log keeps no preallocation beyond one
//! segment of the floor size; an open that finds the log empty creates no
//! full-size segment; and opening and closing (or crashing) fifty times
//! does not grow the directory beyond the records written (issue 19: every
//! open used to create a fully allocated 64 MiB segment, and a crash loop of
//! 53 restarts grew a database's directory to 3.4 GB).

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use keel_io::{CrashMode, OpenMode, SimVfs, Vfs};
use keel_wal::fragment::SEAL_SPAN_BYTES;
use keel_wal::segment::{SEGMENT_HEADER_BYTES, list_free, list_segments, read_header};
use keel_wal::{Durability, Lsn, Reader, Record, RecoveryMode, Wal, WalOptions, WalStats};

const DIR: &str = "/db/wal";
const CYCLES: u64 = 50;

/// The defaults (1 MiB floor, 64 MiB ceiling), without the background
/// flush.
fn options() -> WalOptions {
    WalOptions {
        periodic_interval: Duration::from_secs(3600),
        ..WalOptions::default()
    }
}

/// Segments from 64 KiB to 1 MiB that never shrink with time: a few
/// thousand records reach the ceiling.
fn small_segments() -> WalOptions {
    WalOptions {
        segment_bytes_min: 64 << 10,
        segment_bytes: 1 << 20,
        segment_fill_interval: Duration::from_secs(3600),
        ..options()
    }
}

fn floor() -> u64 {
    options().segment_bytes_min
}

fn record(n: u64) -> Record {
    Record::Checkpoint {
        checkpoint_id: n,
        fold_timestamp: n,
    }
}

/// Bytes of every file in the log directory.
fn directory_bytes(vfs: &SimVfs) -> u64 {
    vfs.list(Path::new(DIR))
        .unwrap()
        .iter()
        .map(|path| vfs.open(path, OpenMode::Existing).unwrap().size().unwrap())
        .sum()
}

/// Per segment beyond its records: its header and its seal.
const SEGMENT_OVERHEAD_BYTES: u64 = SEGMENT_HEADER_BYTES + SEAL_SPAN_BYTES as u64;

fn open(vfs: &SimVfs) -> (Wal, Lsn) {
    let (wal, recovery) = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), options()).unwrap();
    (wal, recovery.end.next_lsn())
}

fn lsns(vfs: &SimVfs) -> Vec<Lsn> {
    Reader::open(
        Arc::new(vfs.clone()),
        Path::new(DIR),
        Lsn::FIRST,
        RecoveryMode::Strict,
    )
    .unwrap()
    .map(|item| item.unwrap().0)
    .collect()
}

#[test]
fn opening_an_empty_log_creates_a_floor_segment_not_a_full_one() {
    let vfs = SimVfs::new(1);
    let (wal, _) = open(&vfs);
    assert_eq!(directory_bytes(&vfs), floor());
    assert!(floor() < options().segment_bytes);
    drop(wal);
    let (_wal, _) = open(&vfs);
    assert_eq!(directory_bytes(&vfs), floor(), "replaced, not added");
}

/// A log grown to large segments closes on one floor segment: the large
/// open segment is sealed and cut after its seal, and the kept files are
/// deleted.
#[test]
fn a_closed_log_keeps_one_floor_segment_of_preallocation() {
    let vfs = SimVfs::new(2);
    let options = small_segments();
    let (wal, _) = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), options.clone()).unwrap();
    let value = Record::Commit(keel_wal::WriteSet {
        transaction_id: 1,
        timestamp: 1,
        entries: vec![keel_wal::Entry {
            keyspace: 0,
            key: bytes::Bytes::from_static(b"k"),
            change: keel_wal::Change::Put {
                value: bytes::Bytes::from(vec![7; 3000]),
                expires_at_ms: None,
            },
        }],
    });
    for _ in 0..1500 {
        wal.append(&value, Durability::None).unwrap();
    }
    wal.sync().unwrap();
    let segments = list_segments(&vfs, Path::new(DIR)).unwrap();
    let cut = segments[segments.len() - 2].0;
    let truncation = wal.truncate_before(cut).unwrap();
    assert!(!truncation.recycled.is_empty());
    let appended = WalStats::get(&wal.stats().appended_bytes);
    wal.close().unwrap();
    drop(wal);

    assert!(list_free(&vfs, Path::new(DIR)).unwrap().is_empty());
    let segments = list_segments(&vfs, Path::new(DIR)).unwrap();
    let (last_first, last) = segments.last().unwrap();
    let file = vfs.open(last, OpenMode::Existing).unwrap();
    assert_eq!(file.size().unwrap(), 64 << 10, "one floor segment");
    assert_eq!(
        read_header(file.as_ref()).unwrap().unwrap().segment_bytes,
        64 << 10
    );
    // Every other segment ends right after its records and seal (or is
    // full): what the directory holds beyond the records is a header and
    // a seal per segment, a record's worth of room per full segment, and
    // the floor segment.
    let kept_records: u64 = segments[..segments.len() - 1]
        .iter()
        .map(|(_, path)| vfs.open(path, OpenMode::Existing).unwrap().size().unwrap())
        .sum();
    let room_per_segment = 3100;
    assert!(
        kept_records
            <= appended + (segments.len() as u64) * (SEGMENT_OVERHEAD_BYTES + room_per_segment),
        "{kept_records} bytes for {appended} appended"
    );
    assert_eq!(directory_bytes(&vfs), kept_records + (64 << 10));
    // And it reads back, and reopens where it ended.
    let read = Reader::open(
        Arc::new(vfs.clone()),
        Path::new(DIR),
        cut,
        RecoveryMode::Strict,
    )
    .unwrap()
    .count() as u64;
    assert_eq!(cut.0 + read, last_first.0);
    let (wal, recovery) = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), options).unwrap();
    assert_eq!(recovery.end.next_lsn(), *last_first);
    drop(wal);
}

/// A log grown to large segments shrinks while open: it goes on in a
/// floor segment after the large one, sealed and cut after its records;
/// the kept files go; appends go on, and everything reads back in order,
/// before and after a crash.
#[test]
fn an_open_log_shrinks_to_a_floor_segment_and_goes_on() {
    let vfs = SimVfs::new(3);
    let options = small_segments();
    let (wal, _) = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), options.clone()).unwrap();
    let mut appended = Vec::new();
    for n in 0..60_000 {
        appended.push(wal.append(&record(n), Durability::None).unwrap());
    }
    wal.sync().unwrap();
    let segments = list_segments(&vfs, Path::new(DIR)).unwrap();
    let cut = segments[segments.len() - 2].0;
    assert!(!wal.truncate_before(cut).unwrap().recycled.is_empty());
    let large = vfs
        .open(&segments.last().unwrap().1, OpenMode::Existing)
        .unwrap()
        .size()
        .unwrap();
    assert_eq!(large, 1 << 20, "the open segment grew to the ceiling");

    wal.shrink().unwrap();
    assert!(list_free(&vfs, Path::new(DIR)).unwrap().is_empty());
    let after = list_segments(&vfs, Path::new(DIR)).unwrap();
    let open_segment = vfs
        .open(&after.last().unwrap().1, OpenMode::Existing)
        .unwrap();
    assert_eq!(open_segment.size().unwrap(), 64 << 10, "a floor segment");
    let sealed = vfs
        .open(&after[after.len() - 2].1, OpenMode::Existing)
        .unwrap();
    assert!(sealed.size().unwrap() < large, "the large segment was cut");
    for n in 0..100 {
        appended.push(wal.commit(&record(n), Durability::Sync).unwrap());
    }
    let expected: Vec<Lsn> = appended.into_iter().filter(|lsn| *lsn >= cut).collect();
    // (count, first, last) of what reads back from `cut`, and expected.
    let read = |vfs: &SimVfs| {
        let lsns: Vec<Lsn> = Reader::open(
            Arc::new(vfs.clone()),
            Path::new(DIR),
            cut,
            RecoveryMode::Strict,
        )
        .unwrap()
        .map(|item| item.unwrap().0)
        .collect();
        let contiguous = lsns.windows(2).all(|pair| pair[1] == pair[0].next());
        (
            lsns.len(),
            lsns.first().copied(),
            lsns.last().copied(),
            contiguous,
        )
    };
    let expected = (
        expected.len(),
        expected.first().copied(),
        expected.last().copied(),
        true,
    );
    assert_eq!(read(&vfs), expected);
    std::mem::forget(wal);
    vfs.crash(CrashMode::LoseUnsynced);
    let (_wal, recovery) = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), options).unwrap();
    assert_eq!(Some(recovery.end.next_lsn()), expected.2.map(Lsn::next));
    assert_eq!(read(&vfs), expected);
}

/// Opening and closing fifty times, with and without records: the
/// directory holds the records, a header and a seal per segment that has
/// any, and one floor segment.
#[test]
fn fifty_opens_and_closes_do_not_grow_the_directory() {
    let vfs = SimVfs::new(3);
    let mut appended = 0;
    let mut next = Lsn::FIRST;
    for cycle in 0..CYCLES {
        let (wal, start) = open(&vfs);
        assert_eq!(start, next);
        if cycle % 2 == 0 {
            for n in 0..3 {
                wal.commit(&record(cycle * 10 + n), Durability::Sync)
                    .unwrap();
            }
        }
        appended += WalStats::get(&wal.stats().appended_bytes);
        next = wal.next_lsn();
        wal.close().unwrap();
    }
    let bytes = directory_bytes(&vfs);
    let bound = appended + (CYCLES / 2) * SEGMENT_OVERHEAD_BYTES + floor();
    println!(
        "wal footprint: {CYCLES} open/close cycles (3 records every other one): {bytes} bytes in the log directory, {appended} appended"
    );
    assert!(bytes <= bound, "{bytes} > {bound}");
    assert_eq!(lsns(&vfs).len() as u64, 3 * CYCLES / 2);

    // Without records the directory does not change at all.
    for _ in 0..CYCLES {
        let (wal, _) = open(&vfs);
        wal.close().unwrap();
    }
    assert_eq!(directory_bytes(&vfs), bytes);
}

/// The crash loop of issue 19: fifty starts, each committing a few records
/// and dying (process killed, or power lost) without a close, never
/// truncated. Each start leaves the segment it wrote cut after its seal.
#[test]
fn fifty_crashes_and_opens_do_not_grow_the_directory() {
    let vfs = SimVfs::new(4);
    let mut appended = 0;
    let mut next = Lsn::FIRST;
    for cycle in 0..CYCLES {
        let (wal, start) = open(&vfs);
        assert_eq!(start, next, "cycle {cycle}");
        for n in 0..3 {
            wal.commit(&record(cycle * 10 + n), Durability::Sync)
                .unwrap();
        }
        appended += WalStats::get(&wal.stats().appended_bytes);
        next = wal.next_lsn();
        std::mem::forget(wal);
        let mode = if cycle % 2 == 0 {
            CrashMode::ProcessKill
        } else {
            CrashMode::LoseUnsynced
        };
        vfs.crash(mode);
    }
    let (wal, start) = open(&vfs);
    assert_eq!(start, next);
    drop(wal);
    let bytes = directory_bytes(&vfs);
    let bound = appended + CYCLES * SEGMENT_OVERHEAD_BYTES + floor();
    println!(
        "wal footprint: {CYCLES} crash/open cycles (3 records each): {bytes} bytes in the log directory, {appended} appended"
    );
    assert!(bytes <= bound, "{bytes} > {bound}");
    assert_eq!(lsns(&vfs).len() as u64, 3 * CYCLES);

    // Crashing right after open, without records, changes nothing.
    for _ in 0..CYCLES {
        let (wal, _) = open(&vfs);
        std::mem::forget(wal);
        vfs.crash(CrashMode::LoseUnsynced);
    }
    let (wal, _) = open(&vfs);
    drop(wal);
    assert_eq!(directory_bytes(&vfs), bytes);
}

/// An open after a clean close goes on in the segment the log ended in:
/// no segment is created, synced, sealed or cut — whether that segment
/// holds records or is the empty floor segment a close leaves after a
/// large one — and the records written before and after all read back.
#[test]
fn a_clean_reopen_goes_on_in_the_last_segment() {
    let vfs = SimVfs::new(3);
    let options = small_segments();
    let open_with = |options: &WalOptions| {
        let (wal, recovery) =
            Wal::open(Arc::new(vfs.clone()), Path::new(DIR), options.clone()).unwrap();
        assert!(
            matches!(recovery.end, keel_wal::ReadEnd::Clean { .. }),
            "{:?}",
            recovery.end
        );
        wal
    };
    // Enough records to grow past the floor; truncated, the log keeps
    // files for reuse, and the close puts the empty floor segment it
    // leaves after the large one in one of them (stale bytes after its
    // header).
    let wal = open_with(&options);
    for written in 1..=3_000 {
        wal.commit(&record(written), Durability::Sync).unwrap();
    }
    let cut = wal.next_lsn();
    let truncation = wal.truncate_before(cut).unwrap();
    assert!(!truncation.recycled.is_empty());
    wal.close().unwrap();
    assert_eq!(
        WalStats::get(&wal.stats().segments_recycled),
        1,
        "the floor segment is a kept file"
    );
    drop(wal);
    let mut written = 3_000;
    for records in [5, 0, 7] {
        let wal = open_with(&options);
        let segments_before = list_segments(&vfs, Path::new(DIR)).unwrap();
        assert_eq!(WalStats::get(&wal.stats().segments_created), 0);
        for _ in 0..records {
            written += 1;
            wal.commit(&record(written), Durability::Sync).unwrap();
        }
        assert_eq!(
            list_segments(&vfs, Path::new(DIR)).unwrap(),
            segments_before,
            "the reopened log went on in its last segment"
        );
        wal.close().unwrap();
    }
    let read: Vec<Lsn> = Reader::open(
        Arc::new(vfs.clone()),
        Path::new(DIR),
        cut,
        RecoveryMode::Strict,
    )
    .unwrap()
    .map(|item| item.unwrap().0)
    .filter(|lsn| *lsn >= cut)
    .collect();
    assert_eq!(read, (cut.0..cut.0 + 12).map(Lsn).collect::<Vec<_>>());
    assert_eq!(written, 3_012);
}

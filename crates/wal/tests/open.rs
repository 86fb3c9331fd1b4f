//! Opening the log cheaply: one listing of the directory serves the whole
//! open and is handed on (`Recovery::segments`, `Reader::open_segments`),
//! and the background thread can be started after the open returns
//! (`WalOptions::start_background`, `Wal::start_background`).

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_io::{CrashMode, SimVfs, Vfs};
use keel_wal::segment::{Listing, list_segments};
use keel_wal::{Durability, Lsn, Reader, Record, RecoveryMode, Wal, WalOptions};

const DIR: &str = "/db/wal";

/// Small segments, so a few hundred records span several.
fn options() -> WalOptions {
    WalOptions {
        segment_bytes_min: 64 << 10,
        segment_bytes: 64 << 10,
        periodic_interval: Duration::from_secs(3600),
        ..WalOptions::default()
    }
}

fn record(n: u64) -> Record {
    Record::Checkpoint {
        checkpoint_id: n,
        fold_timestamp: n,
    }
}

fn lsns(reader: Reader) -> Vec<Lsn> {
    reader.map(|item| item.unwrap().0).collect()
}

/// A log of `records` synced records on a simulated disk from `seed`,
/// closed: the disk, and it as a `Vfs`.
fn logged(seed: u64, records: u64) -> (Arc<SimVfs>, Arc<dyn Vfs>) {
    let vfs = Arc::new(SimVfs::new(seed));
    let shared: Arc<dyn Vfs> = vfs.clone();
    let (wal, _) = Wal::open(shared.clone(), Path::new(DIR), options()).unwrap();
    for n in 0..records {
        wal.append(&record(n), Durability::Sync).unwrap();
    }
    wal.sync().unwrap();
    wal.close().unwrap();
    (vfs, shared)
}

#[test]
fn an_open_reports_the_segments_a_reader_can_start_from() {
    let (vfs, shared) = logged(7, 2000);

    // A clean end: the open goes on in the last segment and changes none.
    let (wal, recovery) = Wal::open(shared.clone(), Path::new(DIR), options()).unwrap();
    let listed = list_segments(vfs.as_ref(), Path::new(DIR)).unwrap();
    assert!(listed.len() >= 2, "{listed:?}");
    assert_eq!(recovery.segments, listed);
    assert_eq!(recovery.segments_found, listed.len());
    let from_list = Reader::open_segments(
        shared.clone(),
        Path::new(DIR),
        recovery.segments.clone(),
        Lsn::FIRST,
        RecoveryMode::Strict,
    )
    .unwrap();
    let listing_again = Reader::open(
        shared.clone(),
        Path::new(DIR),
        Lsn::FIRST,
        RecoveryMode::Strict,
    )
    .unwrap();
    let read = lsns(from_list);
    assert_eq!(read.len(), 2000);
    assert_eq!(read, lsns(listing_again));

    // Records lost with the power: the log still ends cleanly.
    for n in 0..10 {
        wal.append(&record(n), Durability::None).unwrap();
    }
    drop(wal);
    vfs.crash(CrashMode::LoseUnsynced);
    let (_wal, recovery) = Wal::open(shared.clone(), Path::new(DIR), options()).unwrap();
    assert_eq!(
        recovery.segments,
        list_segments(vfs.as_ref(), Path::new(DIR)).unwrap()
    );
}

#[test]
fn an_open_that_creates_a_segment_reports_it() {
    let vfs = Arc::new(SimVfs::new(9));
    let (_wal, recovery) = Wal::open(vfs.clone(), Path::new(DIR), options()).unwrap();
    let listed = list_segments(vfs.as_ref(), Path::new(DIR)).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(recovery.segments, listed);
    assert_eq!(recovery.segments_found, 0);
}

#[test]
fn a_listing_sorts_segments_leftovers_and_kept_files_apart() {
    let vfs = SimVfs::new(3);
    let dir = Path::new(DIR);
    vfs.create_dir_all(dir).unwrap();
    for name in [
        "00000000000000000040.wal",
        "00000000000000000001.wal",
        "00000000000000000077.creating",
        "00000000000000000009.wal.free",
        "notes.txt",
    ] {
        vfs.open(&dir.join(name), keel_io::OpenMode::CreateNew)
            .unwrap();
    }
    let listing = Listing::read(&vfs, dir).unwrap();
    assert_eq!(
        listing.segments,
        vec![
            (Lsn(1), dir.join("00000000000000000001.wal")),
            (Lsn(40), dir.join("00000000000000000040.wal")),
        ]
    );
    assert_eq!(
        listing.creating,
        vec![dir.join("00000000000000000077.creating")]
    );
    assert_eq!(
        listing.free,
        vec![dir.join("00000000000000000009.wal.free")]
    );
    assert!(
        Listing::read(&vfs, Path::new("/db/missing"))
            .unwrap_err()
            .is_not_found()
    );
}

#[test]
fn the_background_thread_starts_when_asked_and_never_after_close() {
    let vfs: Arc<dyn Vfs> = Arc::new(SimVfs::new(5));
    let options = WalOptions {
        periodic_interval: Duration::from_millis(5),
        start_background: false,
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open(vfs.clone(), Path::new(DIR), options.clone()).unwrap();
    let lsn = wal.append(&record(1), Durability::Periodic).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        wal.durable_end() <= lsn,
        "no periodic flush without the thread"
    );
    wal.start_background().unwrap();
    wal.start_background().unwrap();
    let started = Instant::now();
    while wal.durable_end() <= lsn {
        assert!(started.elapsed() < Duration::from_secs(10), "never flushed");
        std::thread::sleep(Duration::from_millis(2));
    }
    wal.close().unwrap();
    // Closed: nothing to start, and nothing fails.
    wal.start_background().unwrap();
    drop(wal);
    let (wal, recovery) = Wal::open(vfs, Path::new(DIR), options).unwrap();
    assert_eq!(recovery.end.next_lsn(), Lsn(lsn.0 + 1));
    wal.close().unwrap();
    wal.start_background().unwrap();
}

/// The listing of `DIR` and its last segment's file, opened as the engine
/// opens it to ask the OS to read it ahead.
fn listed_with_last(vfs: &Arc<SimVfs>) -> (Listing, Option<keel_io::FileHandle>) {
    let listing = Listing::read(vfs.as_ref(), Path::new(DIR)).unwrap();
    let last = listing
        .segments
        .last()
        .map(|(_, path)| vfs.open(path, keel_io::OpenMode::Existing).unwrap());
    (listing, last)
}

#[test]
fn an_open_over_the_last_segment_opened_already_is_the_same_open() {
    let (vfs, shared) = logged(5, 1500);

    let (listing, last) = listed_with_last(&vfs);
    let (wal, recovery) =
        Wal::open_listed_with(shared.clone(), Path::new(DIR), options(), listing, last).unwrap();
    assert_eq!(recovery.end.next_lsn(), Lsn(1501));
    assert_eq!(recovery.records_scanned, 1500 - recovery.tail.0.0 + 1);
    assert_eq!(recovery.tail.0, recovery.segments.last().unwrap().0);
    // The reader over the tail's file reads what one opening every file
    // reads, and the log goes on where it ended.
    let over_tail = Reader::open_segments_with(
        shared.clone(),
        Path::new(DIR),
        recovery.segments.clone(),
        Lsn::FIRST,
        RecoveryMode::Strict,
        Some(recovery.tail.clone()),
    )
    .unwrap();
    let plain = Reader::open_segments(
        shared.clone(),
        Path::new(DIR),
        recovery.segments.clone(),
        Lsn::FIRST,
        RecoveryMode::Strict,
    )
    .unwrap();
    let read = lsns(over_tail);
    assert_eq!(read.len(), 1500);
    assert_eq!(read, lsns(plain));
    assert_eq!(wal.append(&record(0), Durability::Sync).unwrap(), Lsn(1501));
    wal.close().unwrap();
    drop(wal);

    // A damaged header is found through the handle as without it.
    let (listing, last) = listed_with_last(&vfs);
    let last = last.unwrap();
    last.write_all_at(&[0xFF; 8], 0).unwrap();
    last.sync_data().unwrap();
    let opened = Wal::open_listed_with(
        shared.clone(),
        Path::new(DIR),
        options(),
        listing,
        Some(last),
    );
    let expected = Wal::open(shared, Path::new(DIR), options());
    assert!(
        matches!(
            opened,
            Err(keel_wal::Error::Corruption {
                damage: keel_wal::Damage::SegmentHeader(_),
                ..
            })
        ),
        "{opened:?}"
    );
    assert_eq!(
        format!("{:?}", opened.err()),
        format!("{:?}", expected.err())
    );
}

//! Truncation removes only segments wholly before the given lsn, never the
//! open one, keeps `keep_bytes` of recent log, and archives durably first:
//! at every crash point of a truncation, each record is still in the log
//! or in a complete archive copy.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keel_io::{CrashMode, CrashPoints, CrashSweep, SimVfs, Vfs};
use keel_wal::{
    Durability, Error, Lsn, Reader, Record, RecoveryMode, Wal, WalOptions, segment::list_segments,
};

const DIR: &str = "/db/wal";
const ARCHIVE: &str = "/archive";
const RECORDS: u64 = 120;

fn options(archive: bool, keep_bytes: u64) -> WalOptions {
    WalOptions {
        segment_bytes: 64 << 10,
        periodic_interval: Duration::from_secs(3600),
        archive_dir: archive.then(|| PathBuf::from(ARCHIVE)),
        keep_bytes,
        ..WalOptions::default()
    }
}

fn record(n: u64) -> Record {
    Record::Commit(keel_wal::WriteSet {
        transaction_id: n,
        timestamp: n,
        entries: vec![keel_wal::Entry {
            keyspace: 0,
            key: bytes::Bytes::from(n.to_be_bytes().to_vec()),
            change: keel_wal::Change::Put {
                value: bytes::Bytes::from(vec![n as u8; 2000]),
                expires_at_ms: None,
            },
        }],
    })
}

fn filled(vfs: &SimVfs, options: WalOptions) -> Wal {
    let (wal, _) = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), options).unwrap();
    for n in 1..=RECORDS {
        wal.commit(&record(n), Durability::Sync).unwrap();
    }
    wal
}

fn lsns(vfs: &SimVfs, dir: &str, from: Lsn) -> Result<Vec<Lsn>, Error> {
    let reader = Reader::open(
        Arc::new(vfs.clone()),
        Path::new(dir),
        from,
        RecoveryMode::Strict,
    )?;
    // The archive's last segment is sealed towards one still in the log.
    let reader = if dir == ARCHIVE {
        reader.of_archive()
    } else {
        reader
    };
    reader.map(|item| item.map(|(lsn, _)| lsn)).collect()
}

#[test]
fn truncation_removes_only_segments_wholly_before_the_lsn() {
    let vfs = SimVfs::new(1);
    let wal = filled(&vfs, options(false, 0));
    let before = list_segments(&vfs, Path::new(DIR)).unwrap();
    assert!(before.len() >= 4, "several segments: {}", before.len());

    let cut = Lsn(70);
    let truncation = wal.truncate_before(cut).unwrap();
    let after = list_segments(&vfs, Path::new(DIR)).unwrap();
    assert!(!truncation.removed.is_empty());
    assert_eq!(before.len(), after.len() + truncation.removed.len());
    // The oldest remaining segment starts at or before the cut.
    assert!(after[0].0 <= cut, "{:?}", after[0]);
    let remaining = lsns(&vfs, DIR, cut).unwrap();
    assert_eq!(remaining, (70..=RECORDS).map(Lsn).collect::<Vec<_>>());
    match lsns(&vfs, DIR, Lsn::FIRST) {
        Err(Error::Truncated {
            requested,
            first_available,
        }) => {
            assert_eq!(requested, Lsn::FIRST);
            assert_eq!(first_available, after[0].0);
        }
        other => panic!("expected Truncated, got {other:?}"),
    }

    // Truncating past everything keeps the segment appends go to.
    wal.truncate_before(Lsn(u64::MAX)).unwrap();
    let last = list_segments(&vfs, Path::new(DIR)).unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0], before[before.len() - 1]);
    let lsn = wal.commit(&record(0), Durability::Sync).unwrap();
    assert_eq!(lsn, Lsn(RECORDS + 1));
}

#[test]
fn keep_bytes_retains_recent_segments() {
    let vfs = SimVfs::new(1);
    let wal = filled(&vfs, options(false, 2 * (64 << 10)));
    let before = list_segments(&vfs, Path::new(DIR)).unwrap();
    wal.truncate_before(Lsn(u64::MAX)).unwrap();
    let after = list_segments(&vfs, Path::new(DIR)).unwrap();
    // Two closed segments of 64 KiB kept, plus the open one.
    assert_eq!(after.len(), 3);
    assert_eq!(after, before[before.len() - 3..]);
}

#[test]
fn every_crash_point_of_an_archiving_truncation_keeps_every_record() {
    let cut = Lsn(90);
    let dry = SimVfs::new(1);
    let wal = filled(&dry, options(true, 0));
    let start = dry.operations();
    let truncation = wal.truncate_before(cut).unwrap();
    let operations = dry.operations() - start;
    assert!(!truncation.archived.is_empty());
    // The archive is itself a readable log of the removed records.
    let archived = lsns(&dry, ARCHIVE, Lsn::FIRST).unwrap();
    assert_eq!(archived.first(), Some(&Lsn::FIRST));
    assert!(archived.len() >= 40, "{}", archived.len());
    drop(wal);

    let report = CrashSweep::with_setup(
        1,
        |vfs: &SimVfs| filled(vfs, options(true, 0)),
        |_, wal: Wal| {
            let _ = wal.truncate_before(cut);
            std::mem::forget(wal);
        },
    )
    .modes(&CrashMode::ALL)
    .points(CrashPoints::Every)
    .run(|vfs, (), image| {
        let context = image.to_string();
        // Every record is in the log or in a complete archive copy.
        let in_log = list_segments(vfs, Path::new(DIR)).unwrap();
        let log_from = in_log[0].0;
        let log = lsns(vfs, DIR, log_from).unwrap_or_else(|e| panic!("{context}: {e}"));
        assert_eq!(log.last(), Some(&Lsn(RECORDS)), "{context}");
        if log_from > Lsn::FIRST {
            let archive =
                lsns(vfs, ARCHIVE, Lsn::FIRST).unwrap_or_else(|e| panic!("{context}: {e}"));
            assert!(
                archive.last().is_some_and(|last| last.next() >= log_from),
                "{context}: archive ends at {:?}, log starts at {log_from}",
                archive.last()
            );
        }
        // No half-written copy ever carries a segment's name.
        if let Ok(files) = vfs.list(Path::new(ARCHIVE)) {
            for file in files
                .iter()
                .filter(|f| f.extension().is_some_and(|e| e == "wal"))
            {
                let size = vfs
                    .open(file, keel_io::OpenMode::Existing)
                    .unwrap()
                    .size()
                    .unwrap();
                assert_eq!(size, 64 << 10, "{context}: {file:?} is a partial copy");
            }
        }
        let (wal, _) = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), options(true, 0))
            .unwrap_or_else(|e| panic!("{context}: reopen: {e}"));
        assert_eq!(wal.next_lsn(), Lsn(RECORDS + 1), "{context}");
        Ok(())
    });
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        report.operations, operations,
        "the sweep crashes the truncation"
    );
    println!("truncation crash sweep: {} crash images", report.images);
}

#[test]
fn an_old_open_segment_is_closed_and_archived_in_the_background() {
    let vfs = SimVfs::new(1);
    let options = WalOptions {
        periodic_interval: Duration::from_millis(10),
        archive_timeout: Some(Duration::from_millis(30)),
        ..options(true, 0)
    };
    let (wal, _) = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), options).unwrap();
    wal.commit(&record(1), Durability::Sync).unwrap();
    // Poll: the background thread runs on its own schedule.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        wal.commit(&record(2), Durability::Sync).unwrap();
        let archived = vfs.list(Path::new(ARCHIVE)).unwrap_or_default();
        if archived
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "wal"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing archived: {archived:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let archived = lsns(&vfs, ARCHIVE, Lsn::FIRST).unwrap();
    assert_eq!(archived.first(), Some(&Lsn::FIRST));
}

//! Injected I/O failures: the first failed write or sync latches the log;
//! every later append and wait returns that original error; nothing
//! acknowledged before is lost; a reopen recovers.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use keel_io::{CrashMode, FaultMode, SimVfs};
use keel_wal::{Durability, Error, Lsn, Reader, Record, RecoveryMode, Wal, WalOptions};

fn options() -> WalOptions {
    WalOptions {
        segment_bytes: 64 << 10,
        periodic_interval: Duration::from_secs(3600),
        ..WalOptions::default()
    }
}

fn record(n: u64) -> Record {
    Record::CommitPrepared {
        transaction_id: n,
        commit_timestamp: n,
    }
}

#[test]
fn every_injected_failure_latches_and_loses_nothing_acknowledged() {
    // Find how many mutating operations a run takes.
    let dry = SimVfs::new(1);
    let (wal, _) = Wal::open(Arc::new(dry.clone()), Path::new("/wal"), options()).unwrap();
    let start = dry.operations();
    for n in 1..=20 {
        wal.commit(&record(n), Durability::Sync).unwrap();
    }
    let total = dry.operations() - start;
    drop(wal);

    for failing in 0..total {
        for mode in [FaultMode::Once, FaultMode::Persistent] {
            let vfs = SimVfs::new(1);
            let (wal, _) = Wal::open(Arc::new(vfs.clone()), Path::new("/wal"), options()).unwrap();
            vfs.inject_fault(vfs.operations() + failing, mode);
            let mut acknowledged = Lsn::ZERO;
            let mut first_error = None;
            for n in 1..=20 {
                match wal.commit(&record(n), Durability::Sync) {
                    Ok(lsn) => acknowledged = lsn,
                    Err(error) => {
                        first_error = Some(error.to_string());
                        break;
                    }
                }
            }
            let first_error =
                first_error.unwrap_or_else(|| panic!("operation {failing} failed nothing"));
            assert!(first_error.contains("injected fault"), "{first_error}");
            // Latched: the same error, even though a Once fault is over.
            for attempt in [
                wal.append(&record(99), Durability::Sync).map(drop),
                wal.sync(),
            ] {
                match attempt {
                    Err(error @ Error::Io(_)) => assert_eq!(error.to_string(), first_error),
                    other => panic!(
                        "operation {failing} {mode:?}: expected the latched error, got {other:?}"
                    ),
                }
            }
            std::mem::forget(wal);
            vfs.crash(CrashMode::LoseUnsynced);
            let shared = Arc::new(vfs.clone());
            let (wal, _) = Wal::open(shared.clone(), Path::new("/wal"), options()).unwrap();
            let recovered: Vec<Lsn> =
                Reader::open(shared, Path::new("/wal"), Lsn::FIRST, RecoveryMode::Strict)
                    .unwrap()
                    .map(|item| item.unwrap().0)
                    .collect();
            assert!(
                recovered.len() as u64 >= acknowledged.0,
                "operation {failing} {mode:?}: acknowledged {acknowledged}, recovered {recovered:?}"
            );
            wal.commit(&record(100), Durability::Sync).unwrap();
        }
    }
}

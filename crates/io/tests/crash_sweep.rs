#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.
//! The crash-sweep harness on a toy workload: an append-only log of
//! numbered records, each acknowledged once "durable". The correct version
//! syncs the directory entry of the new file before the first
//! acknowledgement; the buggy one forgets to, so a power loss can take the
//! whole file and every acknowledged record with it. The harness must find
//! the bug (and name a replayable image) and pass the correct version.

use std::path::Path;

use keel_io::{CrashMode, CrashPoints, CrashSweep, OpenMode, SimVfs, Vfs};

const LOG: &str = "/log";
const RECORDS: u8 = 6;

/// Appends `RECORDS` one-byte records; returns how many were acknowledged.
fn append_records(vfs: &SimVfs, sync_directory: bool) -> u8 {
    let Ok(file) = vfs.open(Path::new(LOG), OpenMode::CreateNew) else {
        return 0;
    };
    if sync_directory && vfs.sync_dir(Path::new("/")).is_err() {
        return 0;
    }
    let mut acknowledged = 0;
    for record in 0..RECORDS {
        if file.write_all_at(&[record], u64::from(record)).is_err() || file.sync_data().is_err() {
            break;
        }
        acknowledged = record + 1;
    }
    acknowledged
}

/// Recovery: reads the log (a read-only recovery, so a crash in it is a
/// no-op, which the sweep must still run).
fn read_log(vfs: &SimVfs) -> Vec<u8> {
    vfs.open(Path::new(LOG), OpenMode::Existing)
        .and_then(|file| keel_io::read_to_end(file.as_ref()))
        .unwrap_or_default()
}

fn check(vfs: &SimVfs, acknowledged: &u8) -> Result<(), String> {
    let found = read_log(vfs);
    let expected: Vec<u8> = (0..*acknowledged).collect();
    if !found.starts_with(&expected) {
        return Err(format!(
            "{acknowledged} records acknowledged, found {found:?}"
        ));
    }
    if found.len() > usize::from(RECORDS) {
        return Err(format!("a record never written: {found:?}"));
    }
    Ok(())
}

#[test]
fn the_sweep_finds_a_lost_directory_entry_and_replays_it() {
    let report = CrashSweep::new(3, |vfs: &SimVfs| append_records(vfs, false))
        .run(|vfs, acknowledged, _| check(vfs, acknowledged));
    assert!(!report.is_clean(), "the bug went unnoticed: {report}");
    let failure = &report.failures[0];
    // Power loss without the directory sync loses the file.
    assert_ne!(failure.image.mode, CrashMode::ProcessKill);
    assert!(failure.message.contains("acknowledged"), "{report}");
    assert!(report.to_string().contains(&failure.image.to_string()));

    // The image replays to the same failure.
    let mut sweep = CrashSweep::new(3, |vfs: &SimVfs| append_records(vfs, false));
    let replayed = sweep.replay(&failure.image, &mut |vfs, acknowledged, _| {
        check(vfs, acknowledged)
    });
    assert_eq!(replayed, Err(failure.message.clone()));
}

#[test]
fn the_sweep_passes_a_correct_workload_at_every_point_and_mode() {
    let mut checked = 0;
    let report = CrashSweep::new(3, |vfs: &SimVfs| append_records(vfs, true))
        .modes(&CrashMode::ALL)
        .points(CrashPoints::Every)
        .crash_during_recovery(2, 3, |vfs| {
            read_log(vfs);
        })
        .run(|vfs, acknowledged, _| {
            checked += 1;
            check(vfs, acknowledged)
        });
    assert!(report.is_clean(), "{report}");
    // create, sync_dir, then a write and a sync per record.
    assert_eq!(report.operations, 2 + 2 * u64::from(RECORDS));
    let plain = 4 * (report.operations + 1);
    assert!(report.images > plain, "no second crashes: {report}");
    assert_eq!(report.images, checked);
}

#[test]
fn fewer_points_mean_fewer_images_and_the_failure_bound_stops_the_sweep() {
    let strided = CrashSweep::new(5, |vfs: &SimVfs| append_records(vfs, true))
        .modes(&[CrashMode::LoseUnsynced])
        .points(CrashPoints::Stride(4))
        .run(|vfs, acknowledged, _| check(vfs, acknowledged));
    assert!(strided.is_clean(), "{strided}");
    assert_eq!(strided.images, 5); // 0, 4, 8, 12, 14

    let sampled = CrashSweep::new(5, |vfs: &SimVfs| append_records(vfs, true))
        .modes(&[CrashMode::TornSectors])
        .points(CrashPoints::Sample(3))
        .run(|vfs, acknowledged, _| check(vfs, acknowledged));
    assert_eq!(sampled.images, 3);

    let bounded = CrashSweep::new(5, |vfs: &SimVfs| append_records(vfs, false))
        .failures_max(1)
        .run(|_, _, _| Err("always wrong".to_string()));
    assert_eq!(bounded.images, 1);
    assert_eq!(bounded.failures.len(), 1);
}

#[test]
fn a_panicking_check_is_a_failure_naming_the_panic() {
    let report = CrashSweep::new(1, |vfs: &SimVfs| append_records(vfs, true))
        .modes(&[CrashMode::ProcessKill])
        .points(CrashPoints::Sample(1))
        .run(|_, _, _| panic!("check blew up"));
    assert_eq!(report.failures.len(), 1);
    assert!(report.failures[0].message.contains("check blew up"));
}

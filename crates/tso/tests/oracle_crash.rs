#![allow(clippy::unwrap_used)]
//! Crash tests of `LocalOracle` on `SimVfs`: a workload that issues single
//! timestamps, batches and remote updates, moving the wall clock both ways
//! and extending the high-water mark many times, is cut by a power loss at
//! every one of its mutating operations, under every crash mode; the
//! reopened oracle, on a wall clock an hour behind (so that only the
//! persisted mark can keep order), must issue a timestamp greater than
//! every one handed out before the crash. Then the same with a second crash
//! during or after the reopen.

use std::path::Path;
use std::sync::Arc;

use keel_io::{CrashMode, CrashPoints, CrashSweep, FaultMode, Op, OpenMode, SimVfs, Vfs};
use keel_tso::{
    Error, LocalOracle, ManualClock, OracleOptions, PhysicalClock, Timestamp, TimestampOracle,
};

const DIRECTORY: &str = "/data";
const PATH: &str = "/data/timestamps";
/// Around 2026.
const START_MS: u64 = 1_795_345_560_123;
/// Small, so that the workload extends the mark many times.
const WINDOW_MS: u64 = 4;
/// Larger than the logical values of one window: every such batch crosses
/// the mark.
const LARGE_BATCH: u32 = 300_000;
/// Seeds tried for each crash mode that draws random numbers.
const RANDOM_SEEDS: u64 = 6;
/// Steps of the first run: 8 of each kind.
const FIRST_RUN_STEPS: u64 = 56;
/// Crash points tried in the second run, counted from its start; more than
/// the run's own operations, so the last ones crash after it finished.
const SECOND_RUN_CRASH_POINTS: u64 = 12;

type Oracle = LocalOracle<Arc<ManualClock>>;

fn options() -> OracleOptions {
    OracleOptions {
        window_ms: WINDOW_MS,
        ..OracleOptions::default()
    }
}

/// The largest timestamp handed out with `Ok`.
#[derive(Debug, Default, Clone, Copy)]
struct Issued {
    max: Option<Timestamp>,
    count: u64,
    /// How many times the durable mark was seen to rise.
    extensions: u64,
    last_mark: Option<Timestamp>,
}

impl Issued {
    fn record(&mut self, oracle: &Oracle, last: Timestamp) {
        // The invariant the whole design rests on.
        assert!(
            last < oracle.durable_mark(),
            "{last} handed out at or above the durable mark {}",
            oracle.durable_mark()
        );
        assert!(
            self.max.is_none_or(|max| last > max),
            "{last} after {:?}",
            self.max
        );
        self.max = Some(last);
        self.count += 1;
        let mark = oracle.durable_mark();
        if self.last_mark.is_some_and(|previous| mark > previous) {
            self.extensions += 1;
        }
        self.last_mark = Some(mark);
    }
}

/// A disk holding the oracle's (synced) directory.
fn new_disk(seed: u64) -> Arc<SimVfs> {
    let vfs = Arc::new(SimVfs::new(seed));
    vfs.create_dir_all(Path::new(DIRECTORY)).unwrap();
    vfs.sync_dir(Path::new("/")).unwrap();
    vfs
}

fn open(vfs: &Arc<SimVfs>, wall: &Arc<ManualClock>) -> Result<Oracle, Error> {
    LocalOracle::open_with_clock(vfs.clone(), Path::new(PATH), options(), wall.clone())
}

/// The workload cut by the first crash. Errors (from the crash point) do
/// not stop it: timestamps handed out after a failed extension must still
/// be below the durable mark.
fn first_run(vfs: &Arc<SimVfs>, issued: &mut Issued) {
    let wall = Arc::new(ManualClock::new(START_MS));
    let Ok(oracle) = open(vfs, &wall) else {
        return;
    };
    for step in 0..FIRST_RUN_STEPS {
        let result = match step % 7 {
            0 => oracle.next(),
            1 => oracle.next_batch(5).map(|range| range.last()),
            2 => {
                wall.advance_ms(3);
                oracle.next()
            }
            3 => oracle.next_batch(LARGE_BATCH).map(|range| range.last()),
            4 => {
                // Backwards: the batches carried the clock past this.
                wall.set_ms(START_MS + step);
                oracle.next()
            }
            5 => oracle.update(Timestamp::new(wall.now_ms() + 2, 7).unwrap()),
            _ => {
                let target =
                    Timestamp::new(oracle.last_issued().physical_ms() + 2 * WINDOW_MS, 0).unwrap();
                oracle.advance_to(target).unwrap();
                oracle.next()
            }
        };
        if let Ok(last) = result {
            issued.record(&oracle, last);
        }
    }
}

/// A short run after a first crash: reopen, a timestamp, a batch that
/// extends the mark, a timestamp. The wall clock is far behind.
fn second_run(vfs: &Arc<SimVfs>, issued: &mut Issued) {
    let wall = Arc::new(ManualClock::new(START_MS - 60_000));
    let Ok(oracle) = open(vfs, &wall) else {
        return;
    };
    for step in 0..3 {
        let result = if step == 1 {
            oracle.next_batch(LARGE_BATCH).map(|range| range.last())
        } else {
            oracle.next()
        };
        if let Ok(last) = result {
            issued.record(&oracle, last);
        }
    }
}

/// Reopens after a crash with the wall clock an hour behind and checks the
/// first timestamp against everything handed out before.
/// Where the crash left the file, the reopen is over a handle opened
/// first, as the engine opens it (`LocalOracle::open_file_with_clock`).
fn check_reopen(vfs: &Arc<SimVfs>, issued: &Issued, context: &str) {
    let wall = Arc::new(ManualClock::new(START_MS - 3_600_000));
    let reopened = match vfs.open(Path::new(PATH), OpenMode::Existing) {
        Ok(file) => LocalOracle::open_file_with_clock(
            vfs.clone(),
            Path::new(PATH),
            file,
            options(),
            wall.clone(),
        ),
        Err(_) => open(vfs, &wall),
    };
    let oracle = reopened.unwrap_or_else(|error| panic!("{context}: reopen failed: {error}"));
    let first = oracle.next().unwrap();
    if let Some(max) = issued.max {
        assert!(
            first > max,
            "{context}: first timestamp after the crash {first} is not above {max}, issued before it"
        );
    }
}

/// The crash modes to try on disks of `seed`: every mode on the first, the
/// modes that draw random numbers on the others.
fn modes(seed: u64) -> &'static [CrashMode] {
    if seed == 0 {
        &CrashMode::ALL
    } else {
        &[CrashMode::KeepRandomSubset, CrashMode::TornSectors]
    }
}

/// The oracle's directory, made durable: set up before any crash point.
fn make_directory(vfs: &SimVfs) {
    vfs.create_dir_all(Path::new(DIRECTORY)).unwrap();
    vfs.sync_dir(Path::new("/")).unwrap();
}

/// The first run on a shared handle of the sweep's disk.
fn first_run_on(vfs: &SimVfs) -> Issued {
    let mut issued = Issued::default();
    first_run(&Arc::new(vfs.clone()), &mut issued);
    issued
}

/// The mutating operations of the workload, from its first to the number
/// of operations after it: the range of crash points to try.
fn workload_operations() -> (u64, u64) {
    let vfs = new_disk(0);
    let base = vfs.operations();
    let mut issued = Issued::default();
    first_run(&vfs, &mut issued);
    let total = vfs.operations();
    assert!(
        issued.extensions >= 15,
        "only {} mark extensions",
        issued.extensions
    );
    assert_eq!(issued.count, FIRST_RUN_STEPS);
    (base, total)
}

#[test]
fn no_timestamp_is_reissued_after_a_crash_at_any_operation() {
    let (base, total) = workload_operations();
    let mut images = 0_u64;
    for seed in 0..RANDOM_SEEDS {
        let report = CrashSweep::with_setup(seed, make_directory, |vfs, ()| first_run_on(vfs))
            .modes(modes(seed))
            .points(CrashPoints::Every)
            .run(|vfs, issued, image| {
                check_reopen(&Arc::new(vfs.clone()), issued, &image.to_string());
                Ok(())
            });
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.operations, total - base);
        images += report.images;
    }
    println!(
        "oracle_crash: {images} crash images (operations {base}..={total}, {} modes, {RANDOM_SEEDS} seeds for the random ones)",
        CrashMode::ALL.len()
    );
    assert!(images > (total - base) * 4);
}

#[test]
fn no_timestamp_is_reissued_after_a_second_crash_during_or_after_reopen() {
    let (base, total) = workload_operations();
    let report = CrashSweep::with_setup(0, make_directory, |vfs, ()| first_run_on(vfs))
        .modes(&CrashMode::ALL)
        .points(CrashPoints::Every)
        .seed_per_point()
        .crash_again(
            0..=SECOND_RUN_CRASH_POINTS,
            &CrashMode::ALL,
            |vfs, issued| second_run(&Arc::new(vfs.clone()), issued),
        )
        .run(|vfs, issued, image| {
            check_reopen(&Arc::new(vfs.clone()), issued, &image.to_string());
            Ok(())
        });
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.operations, total - base);
    let first_images = (report.operations + 1) * 4;
    assert_eq!(
        report.images,
        first_images * (1 + (SECOND_RUN_CRASH_POINTS + 1) * 4)
    );
    println!(
        "oracle_crash: {} crash images, {} of them crashed again during or after the reopen",
        report.images,
        report.images - first_images
    );
}

#[test]
fn a_failed_sync_latches_the_error_and_a_reopen_recovers() {
    let vfs = new_disk(0);
    let wall = Arc::new(ManualClock::new(START_MS));
    let oracle = open(&vfs, &wall).unwrap();
    let mut issued = Issued::default();
    issued.record(&oracle, oracle.next().unwrap());

    // The next extension's write succeeds and its sync fails.
    let failing_sync = vfs.operations() + 1;
    vfs.inject_fault(failing_sync, FaultMode::Once);
    wall.advance_ms(WINDOW_MS * 2);
    let error = oracle.next().unwrap_err();
    let is_injected_sync = |error: &Error| {
        matches!(
            error,
            Error::Io(keel_io::Error::Injected { op: Op::SyncData, operation, .. }) if *operation == failing_sync
        )
    };
    assert!(is_injected_sync(&error), "{error:?}");

    // Every later call that needs a new mark gets the original error, and
    // nothing is retried: the disk sees no further operation.
    let operations = vfs.operations();
    for _ in 0..3 {
        wall.advance_ms(WINDOW_MS * 2);
        let again = oracle.next().unwrap_err();
        assert!(is_injected_sync(&again), "{again:?}");
        let batch = oracle.next_batch(10).unwrap_err();
        assert!(is_injected_sync(&batch), "{batch:?}");
    }
    assert_eq!(vfs.operations(), operations, "a failed sync was retried");
    assert!(format!("{oracle:?}").contains("failed: true"));

    // The fault was transient: a fresh open recovers and resumes above
    // everything handed out.
    drop(oracle);
    let reopened = open(&vfs, &wall).unwrap();
    let first = reopened.next().unwrap();
    assert!(first > issued.max.unwrap());
    issued.record(&reopened, first);
    drop(reopened);

    // And so does a power loss after the failed sync.
    vfs.crash(CrashMode::LoseUnsynced);
    check_reopen(&vfs, &issued, "power loss after a failed sync");
}

#[test]
fn a_failed_write_keeps_the_mark_and_a_persistent_fault_fails_the_first_timestamp_after_reopen() {
    let vfs = new_disk(0);
    let wall = Arc::new(ManualClock::new(START_MS));
    let oracle = open(&vfs, &wall).unwrap();
    let first = oracle.next().unwrap();
    let mark = oracle.durable_mark();
    assert!(first < mark);
    // A concurrent caller took a timestamp beyond the mark and failed to
    // extend it (a failed write this time).
    vfs.inject_fault(vfs.operations(), FaultMode::Persistent);
    wall.advance_ms(WINDOW_MS);
    let error = oracle.next().unwrap_err();
    assert!(
        matches!(
            error,
            Error::Io(keel_io::Error::Injected { op: Op::Write, .. })
        ),
        "{error:?}"
    );
    assert_eq!(oracle.durable_mark(), mark);
    // After a reopen (which writes nothing), the first timestamp fails too,
    // with an I/O error, not a corruption report; once the disk works again
    // a new open succeeds.
    drop(oracle);
    let reopened = open(&vfs, &wall).unwrap();
    let first_error = reopened.next().unwrap_err();
    assert!(matches!(first_error, Error::Io(_)), "{first_error:?}");
    drop(reopened);
    vfs.clear_fault();
    let oracle = open(&vfs, &wall).unwrap();
    assert!(oracle.next().unwrap() > mark);
}

#[test]
fn the_first_mark_syncs_the_directory_so_the_name_survives_a_power_loss() {
    let vfs = new_disk(0);
    let wall = Arc::new(ManualClock::new(START_MS));
    let oracle = open(&vfs, &wall).unwrap();
    let mut issued = Issued::default();
    issued.record(&oracle, oracle.next().unwrap());
    drop(oracle);
    vfs.crash(CrashMode::LoseUnsynced);
    assert!(vfs.exists(Path::new(PATH)).unwrap());
    check_reopen(&vfs, &issued, "power loss right after open");
}

#[test]
fn a_process_kill_after_an_unsynced_write_cannot_mislead_the_next_process() {
    // The first process writes a new mark and is killed before its sync:
    // the write is in the page cache only. The second process must not hand
    // out timestamps that rest on it before making it durable.
    let vfs = new_disk(0);
    let wall = Arc::new(ManualClock::new(START_MS));
    let oracle = open(&vfs, &wall).unwrap();
    let sync = vfs.operations() + 1;
    vfs.set_crash_point(Some(sync));
    wall.advance_ms(WINDOW_MS * 10);
    assert!(oracle.next().is_err());
    drop(oracle);
    vfs.crash(CrashMode::ProcessKill);

    let second = open(&vfs, &wall).unwrap();
    let mut issued = Issued::default();
    for _ in 0..5 {
        issued.record(&second, second.next().unwrap());
    }
    drop(second);
    vfs.crash(CrashMode::LoseUnsynced);
    check_reopen(&vfs, &issued, "power loss after a process kill");
}

#[test]
fn an_oracle_over_a_handle_the_caller_opened_reads_and_checks_the_mark_alike() {
    let vfs = new_disk(0);
    let wall = Arc::new(ManualClock::new(START_MS));
    let oracle = open(&vfs, &wall).unwrap();
    let before = oracle.next().unwrap();
    drop(oracle);
    let over_handle = |wall: &Arc<ManualClock>| {
        let file = vfs.open(Path::new(PATH), OpenMode::Existing).unwrap();
        LocalOracle::open_file_with_clock(
            vfs.clone(),
            Path::new(PATH),
            file,
            options(),
            wall.clone(),
        )
    };
    // An hour behind: only the mark read through the handle keeps order.
    let behind = Arc::new(ManualClock::new(START_MS - 3_600_000));
    let oracle = over_handle(&behind).unwrap();
    assert!(oracle.next().unwrap() > before);
    assert!(
        matches!(over_handle(&behind), Err(Error::Io(_))),
        "the file stays locked by the oracle over it"
    );
    drop(oracle);
    // Both slots damaged.
    let file = vfs.open(Path::new(PATH), OpenMode::Existing).unwrap();
    let length = usize::try_from(file.size().unwrap()).unwrap();
    file.write_all_at(&vec![0xA5; length], 0).unwrap();
    drop(file);
    assert!(matches!(over_handle(&wall), Err(Error::Corrupt { .. })));
    let file = vfs.open(Path::new(PATH), OpenMode::Existing).unwrap();
    file.set_len(1 << 20).unwrap();
    drop(file);
    assert!(matches!(over_handle(&wall), Err(Error::Corrupt { .. })));
}

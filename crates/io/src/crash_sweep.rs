//! [`CrashSweep`]: the one harness for "run a workload on a [`SimVfs`],
//! crash it at mutating operation `n` in crash mode `m`, (perhaps crash
//! again part way through recovery), then check what survived".
//!
//! A sweep first runs the workload once on a fresh disk (the dry run) to
//! learn how many mutating operations it does. Then, for each chosen crash
//! point and each crash mode, it runs the workload again on a fresh disk of
//! the same seed with the crash point set, crashes the disk, optionally
//! lets a recovery closure run into a second crash point, and calls the
//! check. The workload must be deterministic for a given disk (one thread,
//! or threads whose I/O order does not matter to the check), so that every
//! run reaches the same operation `n`.
//!
//! Variants, each added without changing the plain sweep:
//!
//! * [`CrashSweep::with_setup`]: a setup that is never crashed (filling a
//!   log, say) runs before the workload; crash points count from its end.
//! * [`CrashSweep::crash_during_recovery`]: some images crash a second time,
//!   a seeded number of operations into recovery, in the same mode.
//! * [`CrashSweep::crash_again`]: every image is crashed a second time at
//!   every one of a range of operations into a second run (recovery and
//!   whatever follows it), in every one of a set of modes; the second run
//!   may add to the outcome the check sees.
//! * [`CrashSweep::seed_per_point`]: each crash point gets its own disk
//!   seed, so the random crash modes choose differently at every point.
//! * [`CrashSweep::io_order_varies`]: for workloads whose threads make the
//!   I/O order differ between runs; their crash points are reproducible
//!   only as a count of operations, and failures say so.
//!
//! ```
//! use keel_io::{CrashMode, CrashPoints, CrashSweep, OpenMode, SimVfs, Vfs};
//! use std::path::Path;
//!
//! // A workload that acknowledges a value once it is durable.
//! let report = CrashSweep::new(7, |vfs: &SimVfs| {
//!     let write = || -> keel_io::Result<()> {
//!         let file = vfs.open(Path::new("/value"), OpenMode::CreateNew)?;
//!         vfs.sync_dir(Path::new("/"))?;
//!         file.write_all_at(b"hello", 0)?;
//!         file.sync_data()
//!     };
//!     write().is_ok() // acknowledged?
//! })
//! .modes(&CrashMode::ALL)
//! .points(CrashPoints::Every)
//! .run(|vfs, acknowledged, _image| {
//!     let found = vfs
//!         .open(Path::new("/value"), OpenMode::Existing)
//!         .and_then(|file| keel_io::read_to_end(file.as_ref()))
//!         .unwrap_or_default();
//!     if *acknowledged && found != b"hello" {
//!         return Err(format!("acknowledged, found {found:?}"));
//!     }
//!     Ok(())
//! });
//! assert!(report.is_clean(), "{report}");
//! assert_eq!(report.images, 4 * (report.operations + 1));
//! ```

use std::fmt;
use std::ops::RangeInclusive;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rand::rngs::SmallRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};

use crate::sim::{CrashMode, SimVfs};

/// Default bound on the failures a sweep collects before it stops.
pub const SWEEP_FAILURES_MAX_DEFAULT: usize = 10;

/// Which mutating operations of the dry run a sweep crashes at. Long and
/// short versions of one sweep differ only in this knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoints {
    /// Every operation `0..=operations` (the last: after the workload).
    Every,
    /// Operations `0, n, 2n, …` and the last one.
    Stride(u64),
    /// This many distinct operations drawn with the sweep's seed (every one
    /// if there are fewer), in ascending order.
    Sample(usize),
}

impl CrashPoints {
    /// The crash points for a dry run of `operations` operations.
    fn select(self, operations: u64, seed: u64) -> Vec<u64> {
        match self {
            CrashPoints::Every => (0..=operations).collect(),
            CrashPoints::Stride(stride) => {
                let mut points: Vec<u64> =
                    (0..=operations).step_by(stride.max(1) as usize).collect();
                if points.last() != Some(&operations) {
                    points.push(operations);
                }
                points
            }
            CrashPoints::Sample(count) => {
                let total = usize::try_from(operations + 1).unwrap_or(usize::MAX);
                if count >= total {
                    return (0..=operations).collect();
                }
                let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed_c4a5);
                let mut points: Vec<u64> = sample(&mut rng, total, count)
                    .into_iter()
                    .map(|index| index as u64)
                    .collect();
                points.sort_unstable();
                points
            }
        }
    }
}

/// One crash image: everything needed to replay it with
/// [`CrashSweep::replay`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CrashImage {
    /// The seed of the [`SimVfs`] (and so of the crash's random choices).
    pub seed: u64,
    /// The mutating operation at which the workload's disk lost power.
    pub point: u64,
    /// What survived the crash.
    pub mode: CrashMode,
    /// If set, recovery ran into a second crash this many mutating
    /// operations after it started, in the same mode.
    pub recovery_point: Option<u64>,
    /// The mode of that second crash, if not the same as the first
    /// ([`CrashSweep::crash_again`]).
    pub recovery_mode: Option<CrashMode>,
}

impl fmt::Display for CrashImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}, crash at operation {}, {:?}",
            self.seed, self.point, self.mode
        )?;
        if let Some(point) = self.recovery_point {
            write!(f, ", crashed again {point} operations into recovery")?;
            if let Some(mode) = self.recovery_mode {
                write!(f, " ({mode:?})")?;
            }
        }
        Ok(())
    }
}

/// A crash image whose check failed (or whose workload or check panicked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepFailure {
    /// The image, to replay.
    pub image: CrashImage,
    /// What the check said.
    pub message: String,
}

/// What a sweep did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// The sweep's seed.
    pub seed: u64,
    /// Mutating operations of the dry run.
    pub operations: u64,
    /// Crash images checked.
    pub images: u64,
    /// The failed images, in the order found, at most the sweep's
    /// `failures_max` (the sweep stops there).
    pub failures: Vec<SweepFailure>,
}

impl SweepReport {
    /// Whether every image passed its check.
    pub fn is_clean(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "crash sweep, seed {}: {} images over {} operations, {} failed",
            self.seed,
            self.images,
            self.operations,
            self.failures.len()
        )?;
        for failure in &self.failures {
            write!(f, "\n  {}: {}", failure.image, failure.message)?;
        }
        Ok(())
    }
}

/// The workload (with its setup, if any). The second argument arms the
/// crash point: the workload calls it once, on its disk, when the setup is
/// done and the operations to crash at begin.
type Workload<'a, T> = Box<dyn FnMut(&SimVfs, &mut dyn FnMut(&SimVfs)) -> T + 'a>;
type Recover<'a, T> = Box<dyn FnMut(&SimVfs, &mut T) + 'a>;

/// Which images get a second crash.
enum SecondCrashes {
    /// Every `every`-th image is run a second time with recovery cut after
    /// a seeded `0..=operations_max` operations, in the same mode.
    Sampled { every: u64, operations_max: u64 },
    /// Every image is run again once for each of these points and modes.
    Every {
        points: RangeInclusive<u64>,
        modes: Vec<CrashMode>,
    },
}

/// Second crashes during recovery (or a longer second run).
struct RecoveryCrash<'a, T> {
    recover: Recover<'a, T>,
    schedule: SecondCrashes,
}

/// A crash sweep over one workload; see the [module docs](self).
pub struct CrashSweep<'a, T> {
    seed: u64,
    workload: Workload<'a, T>,
    modes: Vec<CrashMode>,
    points: CrashPoints,
    recovery: Option<RecoveryCrash<'a, T>>,
    failures_max: usize,
    seed_per_point: bool,
    io_order_varies: bool,
}

impl<T> fmt::Debug for CrashSweep<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrashSweep")
            .field("seed", &self.seed)
            .field("modes", &self.modes)
            .field("points", &self.points)
            .field("failures_max", &self.failures_max)
            .field("seed_per_point", &self.seed_per_point)
            .field("io_order_varies", &self.io_order_varies)
            .finish_non_exhaustive()
    }
}

impl<'a, T> CrashSweep<'a, T> {
    /// A sweep of `workload` on disks of `seed`; by default every crash
    /// mode at every operation, no second crash in recovery.
    ///
    /// `workload` gets a fresh disk with the crash point set; it should stop
    /// at its first I/O error (or carry on: every later mutation fails too)
    /// and return what the check needs to know (what was acknowledged).
    pub fn new(seed: u64, mut workload: impl FnMut(&SimVfs) -> T + 'a) -> Self {
        Self::from_workload(
            seed,
            Box::new(move |vfs: &SimVfs, arm: &mut dyn FnMut(&SimVfs)| {
                arm(vfs);
                workload(vfs)
            }),
        )
    }

    /// A sweep of `workload` after `setup`, which is never crashed: each
    /// run does `setup` on a fresh disk (it must not fail), then the crash
    /// point is set, counted from the end of the setup (so crash point 0
    /// is the workload's first mutating operation, and
    /// [`SweepReport::operations`] counts the workload's alone), then
    /// `workload` gets what the setup returned.
    pub fn with_setup<S>(
        seed: u64,
        mut setup: impl FnMut(&SimVfs) -> S + 'a,
        mut workload: impl FnMut(&SimVfs, S) -> T + 'a,
    ) -> Self {
        Self::from_workload(
            seed,
            Box::new(move |vfs: &SimVfs, arm: &mut dyn FnMut(&SimVfs)| {
                let state = setup(vfs);
                arm(vfs);
                workload(vfs, state)
            }),
        )
    }

    fn from_workload(seed: u64, workload: Workload<'a, T>) -> Self {
        CrashSweep {
            seed,
            workload,
            modes: CrashMode::ALL.to_vec(),
            points: CrashPoints::Every,
            recovery: None,
            failures_max: SWEEP_FAILURES_MAX_DEFAULT,
            seed_per_point: false,
            io_order_varies: false,
        }
    }

    /// The crash modes to try at every point.
    pub fn modes(mut self, modes: &[CrashMode]) -> Self {
        self.modes = modes.to_vec();
        self
    }

    /// Which operations to crash at.
    pub fn points(mut self, points: CrashPoints) -> Self {
        self.points = points;
        self
    }

    /// Also runs every `every`-th image again with a second crash during
    /// recovery: after the first crash, `recover` (which opens and drops
    /// what the workload built) runs with a crash point a seeded
    /// `0..=operations_max` operations ahead, the disk crashes again in
    /// the same mode, and then the check runs.
    pub fn crash_during_recovery(
        mut self,
        every: u64,
        operations_max: u64,
        mut recover: impl FnMut(&SimVfs) + 'a,
    ) -> Self {
        self.recovery = Some(RecoveryCrash {
            recover: Box::new(move |vfs: &SimVfs, _: &mut T| recover(vfs)),
            schedule: SecondCrashes::Sampled {
                every: every.max(1),
                operations_max,
            },
        });
        self
    }

    /// Crashes every image a second time, exhaustively: after the first
    /// crash (and the check of that image alone), the image is run again
    /// once for each point in `points` and each of `modes`: `second_run`
    /// (recovery and whatever follows it; it may add to the outcome, say
    /// what it acknowledged) runs with a crash point that many mutating
    /// operations ahead, the disk crashes again in that mode, and the check
    /// runs. Points past the end of the second run crash after it. Replaces
    /// [`CrashSweep::crash_during_recovery`].
    pub fn crash_again(
        mut self,
        points: RangeInclusive<u64>,
        modes: &[CrashMode],
        second_run: impl FnMut(&SimVfs, &mut T) + 'a,
    ) -> Self {
        self.recovery = Some(RecoveryCrash {
            recover: Box::new(second_run),
            schedule: SecondCrashes::Every {
                points,
                modes: modes.to_vec(),
            },
        });
        self
    }

    /// Gives each crash point a disk seed of its own (derived from the
    /// sweep's seed and the point, and recorded in the image), so that the
    /// random crash modes keep and tear different writes at every point
    /// rather than drawing the same choices each time. The workload must
    /// do the same operations whatever the disk's seed (it does: `SimVfs`
    /// draws random numbers only when it crashes).
    pub fn seed_per_point(mut self) -> Self {
        self.seed_per_point = true;
        self
    }

    /// Declares that the workload's I/O order varies between runs (threads
    /// racing for a group commit, say). Its crash points are then points in
    /// a count of operations rather than fixed operations: the dry run's
    /// count is approximate (a point past a run's end crashes after it),
    /// and a failed image may not replay to the same disk, which its
    /// failure message says. The check must hold for whatever order ran.
    pub fn io_order_varies(mut self) -> Self {
        self.io_order_varies = true;
        self
    }

    /// Stops the sweep after this many failures (default
    /// [`SWEEP_FAILURES_MAX_DEFAULT`]).
    pub fn failures_max(mut self, failures_max: usize) -> Self {
        self.failures_max = failures_max.max(1);
        self
    }

    /// Runs the sweep. `check` gets the crashed (and restarted) disk, what
    /// the workload returned, and the image; it returns why the image is
    /// wrong, if it is. A panic in the workload or the check is a failure
    /// too.
    pub fn run(
        mut self,
        mut check: impl FnMut(&SimVfs, &T, &CrashImage) -> Result<(), String>,
    ) -> SweepReport {
        let dry = SimVfs::new(self.seed);
        let mut setup_operations = 0;
        (self.workload)(&dry, &mut |vfs: &SimVfs| {
            setup_operations = vfs.operations();
        });
        let operations = dry.operations() - setup_operations;
        let mut report = SweepReport {
            seed: self.seed,
            operations,
            images: 0,
            failures: Vec::new(),
        };
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let modes = self.modes.clone();
        for point in self.points.select(operations, self.seed) {
            let seed = if self.seed_per_point {
                self.seed ^ point.rotate_left(17)
            } else {
                self.seed
            };
            for &mode in &modes {
                let mut images = vec![CrashImage {
                    seed,
                    point,
                    mode,
                    recovery_point: None,
                    recovery_mode: None,
                }];
                match self.recovery.as_ref().map(|recovery| &recovery.schedule) {
                    Some(SecondCrashes::Sampled {
                        every,
                        operations_max,
                    }) if report.images.is_multiple_of(*every) => {
                        images.push(CrashImage {
                            recovery_point: Some(rng.random_range(0..=*operations_max)),
                            ..images[0]
                        });
                    }
                    Some(SecondCrashes::Every { points, modes }) => {
                        for recovery_point in points.clone() {
                            for &recovery_mode in modes {
                                images.push(CrashImage {
                                    recovery_point: Some(recovery_point),
                                    recovery_mode: Some(recovery_mode),
                                    ..images[0]
                                });
                            }
                        }
                    }
                    _ => {}
                }
                for image in images {
                    report.images += 1;
                    if let Err(mut message) = self.replay(&image, &mut check) {
                        if self.io_order_varies {
                            message.push_str(
                                " (the workload's I/O order varies: a replay may not reach the same disk)",
                            );
                        }
                        report.failures.push(SweepFailure { image, message });
                        if report.failures.len() >= self.failures_max {
                            return report;
                        }
                    }
                }
            }
        }
        report
    }

    /// Runs one image (from a failure of an earlier sweep, say) and checks
    /// it. An image with a recovery point needs
    /// [`CrashSweep::crash_during_recovery`] or [`CrashSweep::crash_again`]
    /// (without it, the second crash is skipped).
    pub fn replay(
        &mut self,
        image: &CrashImage,
        check: &mut impl FnMut(&SimVfs, &T, &CrashImage) -> Result<(), String>,
    ) -> Result<(), String> {
        let vfs = SimVfs::new(image.seed);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut outcome = (self.workload)(&vfs, &mut |vfs: &SimVfs| {
                vfs.set_crash_point(Some(vfs.operations() + image.point));
            });
            vfs.crash(image.mode);
            if let (Some(point), Some(recovery)) = (image.recovery_point, self.recovery.as_mut()) {
                vfs.set_crash_point(Some(vfs.operations() + point));
                (recovery.recover)(&vfs, &mut outcome);
                vfs.crash(image.recovery_mode.unwrap_or(image.mode));
            }
            check(&vfs, &outcome, image)
        }));
        outcome.unwrap_or_else(|panic| Err(format!("panicked: {}", panic_message(&*panic))))
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_points_cover_what_they_promise() {
        assert_eq!(CrashPoints::Every.select(3, 1), vec![0, 1, 2, 3]);
        assert_eq!(CrashPoints::Stride(4).select(9, 1), vec![0, 4, 8, 9]);
        assert_eq!(CrashPoints::Stride(3).select(6, 1), vec![0, 3, 6]);
        assert_eq!(CrashPoints::Sample(10).select(4, 1), vec![0, 1, 2, 3, 4]);
        let sampled = CrashPoints::Sample(5).select(1000, 9);
        assert_eq!(sampled.len(), 5);
        assert!(sampled.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(sampled.iter().all(|&point| point <= 1000));
        assert_eq!(sampled, CrashPoints::Sample(5).select(1000, 9));
        assert_ne!(sampled, CrashPoints::Sample(5).select(1000, 10));
    }

    use crate::vfs::{OpenMode, Vfs};
    use std::path::Path;

    /// Writes `count` synced one-byte records to `/log` (created and its
    /// name synced first); returns how many were acknowledged.
    fn append(vfs: &SimVfs, first: u8, count: u8) -> u8 {
        let mode = if first == 0 {
            OpenMode::CreateNew
        } else {
            OpenMode::Existing
        };
        let Ok(file) = vfs.open(Path::new("/log"), mode) else {
            return 0;
        };
        if first == 0 && vfs.sync_dir(Path::new("/")).is_err() {
            return 0;
        }
        let mut acknowledged = 0;
        for record in first..first + count {
            if file.write_all_at(&[record], u64::from(record)).is_err() || file.sync_data().is_err()
            {
                break;
            }
            acknowledged += 1;
        }
        acknowledged
    }

    fn log(vfs: &SimVfs) -> Vec<u8> {
        vfs.open(Path::new("/log"), OpenMode::Existing)
            .and_then(|file| crate::read_to_end(file.as_ref()))
            .unwrap_or_default()
    }

    #[test]
    fn a_setup_is_never_crashed_and_points_count_from_its_end() {
        let mut crashed_in_setup = false;
        let report = CrashSweep::with_setup(
            4,
            |vfs| assert_eq!(append(vfs, 0, 3), 3, "the setup failed"),
            |vfs, ()| 3 + append(vfs, 3, 2),
        )
        .run(|vfs, acknowledged, image| {
            let found = log(vfs);
            crashed_in_setup |= found.len() < 3;
            if found.len() < usize::from(*acknowledged) {
                return Err(format!("{acknowledged} acknowledged, found {found:?}"));
            }
            if image.point == 4 && *acknowledged != 5 {
                return Err(format!("crash after the workload: {acknowledged}"));
            }
            Ok(())
        });
        assert!(report.is_clean(), "{report}");
        assert!(!crashed_in_setup, "a crash in the setup");
        assert_eq!(report.operations, 4);
        assert_eq!(report.images, 4 * 5);
    }

    #[test]
    fn crash_again_tries_every_second_point_and_mode_and_sees_the_second_run() {
        let mut seen = std::collections::HashSet::new();
        let report = CrashSweep::new(6, |vfs| append(vfs, 0, 2))
            .modes(&[CrashMode::LoseUnsynced])
            .crash_again(0..=3, &CrashMode::ALL, |vfs, acknowledged| {
                if log(vfs).len() == 2 {
                    *acknowledged += append(vfs, 2, 1);
                }
            })
            .run(|vfs, acknowledged, image| {
                seen.insert((image.point, image.recovery_point, image.recovery_mode));
                let found = log(vfs);
                if found.len() < usize::from(*acknowledged) {
                    return Err(format!("{acknowledged} acknowledged, found {found:?}"));
                }
                if image.recovery_point == Some(3) && found.len() == 2 && *acknowledged != 3 {
                    return Err("the second run's outcome is missing".to_string());
                }
                Ok(())
            });
        assert!(report.is_clean(), "{report}");
        // 7 points, each alone and then 4 second points x 4 modes.
        assert_eq!(report.operations, 6);
        assert_eq!(report.images, 7 * (1 + 4 * 4));
        assert_eq!(seen.len() as u64, report.images);
        let image = CrashImage {
            seed: 6,
            point: 1,
            mode: CrashMode::LoseUnsynced,
            recovery_point: Some(2),
            recovery_mode: Some(CrashMode::TornSectors),
        };
        assert!(
            image
                .to_string()
                .ends_with("2 operations into recovery (TornSectors)")
        );
    }

    #[test]
    fn seed_per_point_gives_each_point_its_own_disk_and_replays() {
        let mut seeds = std::collections::HashSet::new();
        let mut sweep = CrashSweep::new(8, |vfs| append(vfs, 0, 3)).seed_per_point();
        let report = CrashSweep::new(8, |vfs| append(vfs, 0, 3))
            .seed_per_point()
            .modes(&[CrashMode::TornSectors])
            .run(|_, _, image| {
                seeds.insert(image.seed);
                Err(String::new())
            });
        assert_eq!(seeds.len(), report.failures.len());
        let image = report.failures[3].image;
        assert_eq!(image.seed, 8 ^ 3u64.rotate_left(17));
        let mut found = None;
        sweep
            .replay(&image, &mut |vfs, _, _| {
                found = Some(log(vfs));
                Ok(())
            })
            .unwrap_or_else(|message| panic!("{message}"));
        assert_eq!(found.map(|log| log.len()), Some(0));
    }

    #[test]
    fn a_failure_of_a_sweep_whose_io_order_varies_says_it_may_not_replay() {
        let report = CrashSweep::new(1, |vfs| append(vfs, 0, 1))
            .io_order_varies()
            .points(CrashPoints::Sample(1))
            .modes(&[CrashMode::ProcessKill])
            .run(|_, _, _| Err("wrong".to_string()));
        assert_eq!(report.failures.len(), 1);
        assert!(report.failures[0].message.starts_with("wrong ("));
        assert!(report.failures[0].message.contains("I/O order varies"));
    }
}

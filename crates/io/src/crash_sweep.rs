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

type Workload<'a, T> = Box<dyn FnMut(&SimVfs) -> T + 'a>;
type Recover<'a> = Box<dyn FnMut(&SimVfs) + 'a>;

/// Second crashes during recovery: every `every`-th image is run a second
/// time with recovery cut after a seeded number of operations.
struct RecoveryCrash<'a> {
    recover: Recover<'a>,
    every: u64,
    operations_max: u64,
}

/// A crash sweep over one workload; see the [module docs](self).
pub struct CrashSweep<'a, T> {
    seed: u64,
    workload: Workload<'a, T>,
    modes: Vec<CrashMode>,
    points: CrashPoints,
    recovery: Option<RecoveryCrash<'a>>,
    failures_max: usize,
}

impl<T> fmt::Debug for CrashSweep<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrashSweep")
            .field("seed", &self.seed)
            .field("modes", &self.modes)
            .field("points", &self.points)
            .field("failures_max", &self.failures_max)
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
    pub fn new(seed: u64, workload: impl FnMut(&SimVfs) -> T + 'a) -> Self {
        CrashSweep {
            seed,
            workload: Box::new(workload),
            modes: CrashMode::ALL.to_vec(),
            points: CrashPoints::Every,
            recovery: None,
            failures_max: SWEEP_FAILURES_MAX_DEFAULT,
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
        recover: impl FnMut(&SimVfs) + 'a,
    ) -> Self {
        self.recovery = Some(RecoveryCrash {
            recover: Box::new(recover),
            every: every.max(1),
            operations_max,
        });
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
        (self.workload)(&dry);
        let operations = dry.operations();
        let mut report = SweepReport {
            seed: self.seed,
            operations,
            images: 0,
            failures: Vec::new(),
        };
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let modes = self.modes.clone();
        for point in self.points.select(operations, self.seed) {
            for &mode in &modes {
                let mut images = vec![CrashImage {
                    seed: self.seed,
                    point,
                    mode,
                    recovery_point: None,
                }];
                if let Some(recovery) = &self.recovery
                    && report.images.is_multiple_of(recovery.every)
                {
                    images.push(CrashImage {
                        recovery_point: Some(rng.random_range(0..=recovery.operations_max)),
                        ..images[0]
                    });
                }
                for image in images {
                    report.images += 1;
                    if let Err(message) = self.replay(&image, &mut check) {
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
    /// [`CrashSweep::crash_during_recovery`] (without it, the second crash
    /// is skipped).
    pub fn replay(
        &mut self,
        image: &CrashImage,
        check: &mut impl FnMut(&SimVfs, &T, &CrashImage) -> Result<(), String>,
    ) -> Result<(), String> {
        let vfs = SimVfs::new(image.seed);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            vfs.set_crash_point(Some(image.point));
            let outcome = (self.workload)(&vfs);
            vfs.crash(image.mode);
            if let (Some(point), Some(recovery)) = (image.recovery_point, self.recovery.as_mut()) {
                vfs.set_crash_point(Some(vfs.operations() + point));
                (recovery.recover)(&vfs);
                vfs.crash(image.mode);
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
}

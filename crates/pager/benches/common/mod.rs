//! What the benches of keel-pager share: their Criterion settings, a pager
//! on the real disk, and the ratio each of them reports at the end.
//!
//! Every bench measures keel and a bare baseline in the same run (the
//! machine is shared; absolute times are noise) and, after the group, prints
//! to stderr the ratio of the two with its target. The ratio is that of the
//! median time per iteration over the calls Criterion made of each routine
//! (warm-up included: the same code, and the median puts it aside).

// Each bench is a crate of its own that uses part of this module.
#![allow(dead_code)]

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use keel_io::{StdVfs, Vfs};
use keel_pager::{Pager, PagerOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Whether Criterion is measuring (`cargo bench`) rather than running each
/// routine once (`cargo test --benches`, or `cargo bench -- --test`): the
/// benches make their files small when it is not.
pub fn measuring() -> bool {
    let mut bench = false;
    let mut test = false;
    for argument in std::env::args() {
        bench |= argument == "--bench";
        test |= argument == "--test";
    }
    bench && !test
}

/// A pager with 4 KiB pages and a pool of `pool_pages` frames on the real
/// file system, in `dir/pages` (created if missing).
pub fn open_pager(dir: &Path, pool_pages: u64) -> Pager {
    let vfs: Arc<dyn Vfs> = Arc::new(StdVfs::new());
    let options = PagerOptions {
        pool_bytes: pool_pages * u64::from(keel_pager::PAGE_SIZE_DEFAULT),
        ..PagerOptions::default()
    };
    Pager::open(vfs, dir.join("pages"), options).expect("open the pager")
}

/// The time per iteration of each call Criterion made of a routine
/// measured with `iter_custom`.
#[derive(Debug, Default)]
pub struct Tally {
    nanos_per_iteration: RefCell<Vec<f64>>,
}

impl Tally {
    /// Records one call of `iterations` iterations that took `elapsed`;
    /// returns `elapsed` for Criterion.
    pub fn record(&self, iterations: u64, elapsed: Duration) -> Duration {
        if iterations > 0 {
            self.nanos_per_iteration
                .borrow_mut()
                .push(elapsed.as_nanos() as f64 / iterations as f64);
        }
        elapsed
    }

    /// The median time per iteration, in nanoseconds (`None`: never ran,
    /// e.g. skipped by a filter).
    pub fn median_nanos(&self) -> Option<f64> {
        let mut values = self.nanos_per_iteration.borrow().clone();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        Some(values[values.len() / 2])
    }
}

/// Prints `keel / baseline` (times per iteration) with its target, once
/// both ran while measuring. A throughput ratio is the inverse of this.
pub fn report_time_ratio(name: &str, keel: &Tally, baseline: &Tally, target: &str) {
    if !measuring() {
        return;
    }
    if let (Some(keel), Some(baseline)) = (keel.median_nanos(), baseline.median_nanos()) {
        eprintln!(
            "{name}: keel {} / baseline {} per iteration = {:.2}x (target {target})",
            format_nanos(keel),
            format_nanos(baseline),
            keel / baseline,
        );
    }
}

/// Prints `keel / baseline` as a throughput ratio (`bytes` per iteration
/// on both sides) with its target, once both ran while measuring.
pub fn report_bandwidth_ratio(
    name: &str,
    bytes: u64,
    keel: &Tally,
    baseline: &Tally,
    target: &str,
) {
    if !measuring() {
        return;
    }
    if let (Some(keel), Some(baseline)) = (keel.median_nanos(), baseline.median_nanos()) {
        let mib_per_second = |nanos: f64| bytes as f64 / (1 << 20) as f64 / (nanos * 1e-9);
        eprintln!(
            "{name}: keel {:.0} MiB/s / baseline {:.0} MiB/s = {:.2}x (target {target})",
            mib_per_second(keel),
            mib_per_second(baseline),
            baseline / keel,
        );
    }
}

fn format_nanos(nanos: f64) -> String {
    if nanos >= 1e6 {
        format!("{:.2} ms", nanos / 1e6)
    } else if nanos >= 1e3 {
        format!("{:.2} µs", nanos / 1e3)
    } else {
        format!("{nanos:.2} ns")
    }
}

/// The Criterion settings of the pager benchmarks: `sample_size` samples,
/// a short warm-up, `measurement_seconds` of measuring.
pub fn config(sample_size: usize, measurement_seconds: u64) -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(sample_size)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(measurement_seconds))
}

/// Rounds of a paired measurement ([`report_paired_ratio`]).
pub const PAIRED_ROUNDS: usize = 401;

/// Measures `keel` and `baseline` in alternation, `rounds` times (each
/// call runs one short batch of the same work on its side and returns the
/// time it took, see [`timed`]), and prints two ratios keel / baseline: of
/// the two sides' fastest tenths of rounds (mean of each), and the median
/// of the per-round ratios. On a machine shared with other work,
/// interference only ever adds time, and in bursts longer than a batch:
/// the fastest rounds of each side are the ones nothing interrupted, so
/// their ratio is the steady one (the median shows how much the load
/// moved it).
pub fn report_paired_ratio(
    name: &str,
    rounds: usize,
    mut keel: impl FnMut() -> Duration,
    mut baseline: impl FnMut() -> Duration,
    target: &str,
) {
    if !measuring() {
        return;
    }
    let mut keel_times = Vec::with_capacity(rounds);
    let mut baseline_times = Vec::with_capacity(rounds);
    let mut ratios = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Alternate which side goes first, so neither always follows the
        // other's cache footprint.
        let (keel_time, baseline_time) = if round % 2 == 0 {
            let keel_time = keel();
            (keel_time, baseline())
        } else {
            let baseline_time = baseline();
            (keel(), baseline_time)
        };
        let (keel_seconds, baseline_seconds) =
            (keel_time.as_secs_f64(), baseline_time.as_secs_f64());
        keel_times.push(keel_seconds);
        baseline_times.push(baseline_seconds);
        ratios.push(keel_seconds / baseline_seconds);
    }
    let fastest_tenth = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        let count = (times.len() / 10).max(1);
        times[..count].iter().sum::<f64>() / count as f64
    };
    let fastest = fastest_tenth(&mut keel_times) / fastest_tenth(&mut baseline_times);
    ratios.sort_by(f64::total_cmp);
    eprintln!(
        "{name}: interleaved, {rounds} rounds: fastest tenths {fastest:.2}x, \
         median of rounds {:.2}x (target {target})",
        ratios[ratios.len() / 2],
    );
}

/// The time `work` takes.
pub fn timed(work: impl FnOnce()) -> Duration {
    let start = std::time::Instant::now();
    work();
    start.elapsed()
}

/// `count` entries of redb's benchmark shape: 24-byte random keys and
/// 150-byte random values, the same for the same `seed`.
pub fn redb_shape_entries(count: usize, seed: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let mut key = vec![0u8; 24];
            let mut value = vec![0u8; 150];
            rng.fill(&mut key[..]);
            rng.fill(&mut value[..]);
            (key, value)
        })
        .collect()
}

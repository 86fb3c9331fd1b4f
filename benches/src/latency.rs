//! Commit latency: each durable commit of a workload timed on its own, and
//! the percentiles of those times (p50, p99, p99.9) beside the workload's
//! rate.

use std::time::{Duration, Instant};

/// The times of a workload's commits, as they are taken.
#[derive(Debug, Default)]
pub struct Latencies {
    samples: Vec<Duration>,
}

impl Latencies {
    /// Room for `commits` samples, so timing never reallocates mid-run.
    pub fn with_capacity(commits: usize) -> Latencies {
        Latencies {
            samples: Vec::with_capacity(commits),
        }
    }

    /// Runs `commit`, recording how long it took.
    pub fn time<T>(&mut self, commit: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let value = commit();
        self.samples.push(started.elapsed());
        value
    }

    /// Adds another thread's samples.
    pub fn merge(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
    }

    /// The percentiles, or `None` without samples.
    pub fn percentiles(mut self) -> Option<Percentiles> {
        if self.samples.is_empty() {
            return None;
        }
        self.samples.sort_unstable();
        let at = |fraction: f64| {
            // Nearest rank: the smallest sample with at least `fraction` of
            // the samples at or below it.
            let rank = (fraction * self.samples.len() as f64).ceil() as usize;
            self.samples[rank.clamp(1, self.samples.len()) - 1]
        };
        Some(Percentiles {
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            commits: self.samples.len() as u64,
        })
    }
}

/// Commit latency percentiles of one workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Commits timed.
    pub commits: u64,
}

impl Percentiles {
    /// `p50 / p99 / p99.9`, each in the unit that suits it.
    pub fn text(&self) -> String {
        format!(
            "{} / {} / {}",
            duration_text(self.p50),
            duration_text(self.p99),
            duration_text(self.p999)
        )
    }
}

/// A latency with three significant digits: µs below a millisecond, ms
/// below a second, else s.
pub fn duration_text(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    let (value, unit) = if micros < 1e3 {
        (micros, "µs")
    } else if micros < 1e6 {
        (micros / 1e3, "ms")
    } else {
        (micros / 1e6, "s")
    };
    if value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut latencies = Latencies::with_capacity(1000);
        for micros in (1..=1000).rev() {
            latencies.time(|| ());
            // Replace the measured (near-zero) time with a known one.
            *latencies.samples.last_mut().expect("a sample") = Duration::from_micros(micros);
        }
        let percentiles = latencies.percentiles().expect("samples");
        assert_eq!(percentiles.p50, Duration::from_micros(500));
        assert_eq!(percentiles.p99, Duration::from_micros(990));
        assert_eq!(percentiles.p999, Duration::from_micros(999));
        assert_eq!(percentiles.commits, 1000);
        assert_eq!(percentiles.text(), "500 µs / 990 µs / 999 µs");
        assert_eq!(Latencies::default().percentiles(), None);
    }

    #[test]
    fn one_sample_is_every_percentile_and_units_scale() {
        let mut latencies = Latencies::default();
        latencies.merge(Latencies {
            samples: vec![Duration::from_micros(12_345)],
        });
        let percentiles = latencies.percentiles().expect("a sample");
        assert_eq!(percentiles.text(), "12.3 ms / 12.3 ms / 12.3 ms");
        assert_eq!(duration_text(Duration::from_millis(2500)), "2.50 s");
        assert_eq!(duration_text(Duration::from_nanos(1500)), "1.50 µs");
    }
}

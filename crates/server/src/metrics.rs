//! Metrics in the Prometheus text exposition format (version 0.0.4), as
//! `keel serve --metrics-port` serves them at `/metrics`: the server's
//! counters (connections, commands by name, errors, bytes) and the
//! backend's ([`Backend::metrics`](crate::Backend::metrics): commits and
//! their latency, fsyncs, folds, checkpoints …).
//!
//! [`LatencyHistogram`] keeps a latency distribution lock-free, for these
//! and for INFO.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds, in microseconds, of [`LatencyHistogram`]'s buckets
/// (Prometheus's `le`, in seconds): 50 µs to 1 s, roughly ×2–2.5 apart,
/// which spans a commit to memory and one waiting for an fsync.
pub const LATENCY_BUCKET_BOUNDS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

/// A latency distribution: a count per bucket of
/// [`LATENCY_BUCKET_BOUNDS_US`] (and one past the last), the sum and the
/// count; recording is a few relaxed atomic additions.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// `buckets[i]`: observations at most `LATENCY_BUCKET_BOUNDS_US[i]`
    /// and above the bound before (not cumulative); the last, above every
    /// bound.
    buckets: [AtomicU64; LATENCY_BUCKET_BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl LatencyHistogram {
    /// Records one observation of `us` microseconds.
    pub fn record(&self, us: u64) {
        let index = LATENCY_BUCKET_BOUNDS_US.partition_point(|&bound| bound < us);
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Their sum, in microseconds.
    pub fn sum_us(&self) -> u64 {
        self.sum_us.load(Ordering::Relaxed)
    }

    /// Cumulative counts at each bound of [`LATENCY_BUCKET_BOUNDS_US`]
    /// (observations at most that bound).
    pub fn cumulative(&self) -> [u64; LATENCY_BUCKET_BOUNDS_US.len()] {
        let mut total = 0;
        std::array::from_fn(|index| {
            total += self.buckets[index].load(Ordering::Relaxed);
            total
        })
    }

    /// The bound at or below which `quantile` (0–1) of the observations
    /// fall, in microseconds (the bucket's upper bound; `None` with no
    /// observation or past the last bound).
    pub fn quantile_bound_us(&self, quantile: f64) -> Option<u64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let wanted = (quantile.clamp(0.0, 1.0) * count as f64).ceil() as u64;
        let cumulative = self.cumulative();
        LATENCY_BUCKET_BOUNDS_US
            .iter()
            .zip(cumulative)
            .find(|(_, total)| *total >= wanted.max(1))
            .map(|(bound, _)| *bound)
    }

    /// Forgets every observation.
    pub fn reset(&self) {
        for bucket in &self.buckets {
            bucket.store(0, Ordering::Relaxed);
        }
        self.sum_us.store(0, Ordering::Relaxed);
        self.count.store(0, Ordering::Relaxed);
    }
}

/// A Prometheus text page being written: each metric's `# HELP` and
/// `# TYPE` lines once, then its samples.
///
/// ```
/// let mut page = keel_server::MetricsText::default();
/// page.counter("keel_commits_total", "Transactions committed.", 12);
/// let lines: Vec<&str> = page.as_str().lines().collect();
/// assert_eq!(lines[0], "# HELP keel_commits_total Transactions committed.");
/// assert_eq!(lines[1], "# TYPE keel_commits_total counter");
/// assert_eq!(lines[2], "keel_commits_total 12");
/// ```
#[derive(Debug, Default)]
pub struct MetricsText {
    text: String,
}

impl MetricsText {
    /// The page so far.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The page.
    pub fn into_string(self) -> String {
        self.text
    }

    /// Starts a metric: its help and type lines.
    pub fn describe(&mut self, name: &str, help: &str, kind: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample; `labels` as `key="value",…` without braces (empty for
    /// none). Label values are escaped as the format requires.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (key, label)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                self.text.push_str(key);
                self.text.push_str("=\"");
                for character in label.chars() {
                    match character {
                        '\\' => self.text.push_str("\\\\"),
                        '"' => self.text.push_str("\\\""),
                        '\n' => self.text.push_str("\\n"),
                        other => self.text.push(other),
                    }
                }
                self.text.push('"');
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// A counter with one sample.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.describe(name, help, "counter");
        self.sample(name, &[], value);
    }

    /// A gauge with one sample.
    pub fn gauge(&mut self, name: &str, help: &str, value: impl std::fmt::Display) {
        self.describe(name, help, "gauge");
        self.sample(name, &[], value);
    }

    /// A histogram in seconds from a [`LatencyHistogram`].
    pub fn histogram(&mut self, name: &str, help: &str, histogram: &LatencyHistogram) {
        self.describe(name, help, "histogram");
        let bucket = format!("{name}_bucket");
        for (bound, total) in LATENCY_BUCKET_BOUNDS_US.iter().zip(histogram.cumulative()) {
            let le = format!("{}", *bound as f64 / 1e6);
            self.sample(&bucket, &[("le", &le)], total);
        }
        let count = histogram.count();
        self.sample(&bucket, &[("le", "+Inf")], count);
        self.sample(&format!("{name}_sum"), &[], histogram.sum_us() as f64 / 1e6);
        self.sample(&format!("{name}_count"), &[], count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_count_into_buckets_and_quantiles() {
        let histogram = LatencyHistogram::default();
        assert_eq!(histogram.quantile_bound_us(0.5), None);
        for us in [10, 50, 51, 900, 3_000, 2_000_000] {
            histogram.record(us);
        }
        let cumulative = histogram.cumulative();
        assert_eq!(&cumulative[..7], &[2, 3, 3, 3, 4, 4, 5]);
        assert_eq!(cumulative[LATENCY_BUCKET_BOUNDS_US.len() - 1], 5);
        assert_eq!((histogram.count(), histogram.sum_us()), (6, 2_004_011));
        assert_eq!(histogram.quantile_bound_us(0.5), Some(100));
        assert_eq!(histogram.quantile_bound_us(1.0), None);
        histogram.reset();
        assert_eq!(histogram.count(), 0);
    }

    #[test]
    fn the_page_follows_the_text_format() {
        let histogram = LatencyHistogram::default();
        histogram.record(75);
        let mut page = MetricsText::default();
        page.histogram("keel_commit_seconds", "Commit latency.", &histogram);
        page.describe("keel_calls_total", "Calls.", "counter");
        page.sample("keel_calls_total", &[("command", "cl\"ient\\x")], 3);
        let text = page.into_string();
        assert!(text.starts_with(
            "# HELP keel_commit_seconds Commit latency.\n# TYPE keel_commit_seconds histogram\n"
        ));
        assert!(text.contains("keel_commit_seconds_bucket{le=\"0.00005\"} 0\n"));
        assert!(text.contains("keel_commit_seconds_bucket{le=\"0.0001\"} 1\n"));
        assert!(text.contains("keel_commit_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("keel_commit_seconds_sum 0.000075\n"));
        assert!(text.contains("keel_commit_seconds_count 1\n"));
        assert!(text.contains("keel_calls_total{command=\"cl\\\"ient\\\\x\"} 3\n"));
    }
}

//! Counters of the log, readable at any time without locks.

use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets of a [`Histogram`]: bucket `i` counts values in `[2^(i-1), 2^i)`
/// (bucket 0 counts zero), the last bucket everything larger.
pub const HISTOGRAM_BUCKETS: usize = 24;

/// A power-of-two histogram of non-negative values.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; HISTOGRAM_BUCKETS],
}

impl Histogram {
    /// Counts one value.
    pub fn record(&self, value: u64) {
        let bucket = (u64::BITS - value.leading_zeros()) as usize;
        self.buckets[bucket.min(HISTOGRAM_BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts per bucket.
    pub fn snapshot(&self) -> [u64; HISTOGRAM_BUCKETS] {
        std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed))
    }
}

/// What the log has done since it was opened.
#[derive(Debug, Default)]
pub struct WalStats {
    /// Records appended.
    pub appends: AtomicU64,
    /// Bytes appended (framing included).
    pub appended_bytes: AtomicU64,
    /// Flushes (writes of buffered records, synced or not).
    pub flushes: AtomicU64,
    /// `sync_data` calls on segments.
    pub fsyncs: AtomicU64,
    /// Segments created (new files and recycled ones).
    pub segments_created: AtomicU64,
    /// Of those, the ones made from a file truncation kept.
    pub segments_recycled: AtomicU64,
    /// Records made durable by each synced flush.
    pub records_per_fsync: Histogram,
    /// Duration of each synced flush, in microseconds.
    pub flush_latency_us: Histogram,
}

impl WalStats {
    pub(crate) fn add(counter: &AtomicU64, value: u64) {
        counter.fetch_add(value, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

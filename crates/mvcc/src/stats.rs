//! Counters of the transaction layer, readable at any time without locks.

use std::sync::atomic::{AtomicU64, Ordering};

use keel_tso::Timestamp;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) read_only_commits: AtomicU64,
    pub(crate) conflicts: AtomicU64,
    pub(crate) rollbacks: AtomicU64,
    pub(crate) log_failures: AtomicU64,
    pub(crate) prepares: AtomicU64,
    pub(crate) transactions_aged: AtomicU64,
    pub(crate) transactions_too_old: AtomicU64,
    pub(crate) delta_full_waits: AtomicU64,
    pub(crate) runs_spilled: AtomicU64,
    pub(crate) delta_slowdowns: AtomicU64,
    /// Bumped by every collection that freed room in the delta: a commit
    /// waiting for room waits on while it moves.
    pub(crate) room_freed: AtomicU64,
    pub(crate) folds: AtomicU64,
    pub(crate) versions_folded: AtomicU64,
    pub(crate) versions_collected: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        Counters::add(counter, 1);
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A snapshot of the transaction layer's counters and gauges, for the
/// engine's `stats()` and the server's INFO.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MvccStats {
    /// Write transactions committed.
    pub commits: u64,
    /// Read-only transactions committed (no validation, no log).
    pub read_only_commits: u64,
    /// Commits and prepares refused with a conflict.
    pub conflicts: u64,
    /// Transactions rolled back or dropped without committing.
    pub rollbacks: u64,
    /// Log appends or durable waits that failed.
    pub log_failures: u64,
    /// Transactions prepared for two-phase commit.
    pub prepares: u64,
    /// Prepared transactions not yet committed or aborted.
    pub prepared: u64,
    /// Transactions that passed the age warning.
    pub transactions_aged: u64,
    /// Transactions refused for passing the hard age limit.
    pub transactions_too_old: u64,
    /// Write commits that had to wait for room in the delta store.
    pub delta_full_waits: u64,
    /// Runs of writes transactions spilled to disk (past
    /// `transaction_memory_bytes_max`), plus one per spilled commit.
    pub runs_spilled: u64,
    /// Write commits delayed a little because the delta was filling.
    pub delta_slowdowns: u64,
    /// Folds completed.
    pub folds: u64,
    /// Versions handed to fold sinks.
    pub versions_folded: u64,
    /// Versions dropped from the delta store by garbage collection.
    pub versions_collected: u64,
    /// Bytes in the delta store (keys, values, per-version overhead).
    pub delta_bytes: u64,
    /// Of `delta_bytes`, what frozen batches (large commits kept whole)
    /// hold; the rest is the skiplist, which `delta_bytes_max` bounds.
    pub delta_batch_bytes: u64,
    /// Frozen batches held.
    pub delta_batches: u64,
    /// Versions in the delta store.
    pub delta_versions: u64,
    /// Keys in the delta store.
    pub delta_keys: u64,
    /// Transactions registered now.
    pub active_transactions: u64,
    /// The oldest read timestamp of a registered transaction.
    pub oldest_active_read_timestamp: Option<Timestamp>,
    /// The visible watermark.
    pub visible_watermark: Timestamp,
    /// The fold point (the base's state).
    pub fold_point: Timestamp,
    /// Whether a log failure poisoned writes.
    pub writes_poisoned: bool,
}

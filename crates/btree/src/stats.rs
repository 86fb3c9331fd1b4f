//! Counters of what the tree did, for tests and the engine's `stats()`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Event counters, updated with relaxed atomics (the writer's are written
/// by one thread; readers count only restarts, which are rare).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) splits: AtomicU64,
    pub(crate) root_splits: AtomicU64,
    pub(crate) merges: AtomicU64,
    pub(crate) rebalances: AtomicU64,
    pub(crate) root_collapses: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) latched_reads: AtomicU64,
    pub(crate) key_chain_compares: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> TreeStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        TreeStats {
            splits: load(&self.splits),
            root_splits: load(&self.root_splits),
            merges: load(&self.merges),
            rebalances: load(&self.rebalances),
            root_collapses: load(&self.root_collapses),
            restarts: load(&self.restarts),
            latched_reads: load(&self.latched_reads),
            key_chain_compares: load(&self.key_chain_compares),
        }
    }
}

/// What a tree has done since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeStats {
    /// Pages split in two (the root's splits included).
    pub splits: u64,
    /// Splits of the root: the tree grew a level.
    pub root_splits: u64,
    /// Pages merged into a sibling.
    pub merges: u64,
    /// Entries shared out between an underfull page and its sibling.
    pub rebalances: u64,
    /// Roots left with one child that took its contents: the tree shrank a
    /// level.
    pub root_collapses: u64,
    /// Optimistic reads that restarted because a page changed.
    pub restarts: u64,
    /// Reads that gave up on optimism and coupled latches.
    pub latched_reads: u64,
    /// Comparisons with a long key that its prefix did not decide, so its
    /// overflow chain was read (rare unless many long keys share prefixes
    /// longer than a cell holds).
    pub key_chain_compares: u64,
}

//! Counters of the buffer pool and the page file.
//!
//! The hit counter is bumped by every page access on every reader thread,
//! so counters are striped over cache-line-padded cells, each thread adding
//! to its own stripe, summed when read. A stripe is bumped with a plain
//! load and store, not a locked read-modify-write (measured: the locked add
//! was a sixth of a cached page read): exact while no two threads share a
//! stripe, which holds for the first `STRIPES` threads that count; beyond
//! that, increments racing on a shared stripe may be lost. These are
//! statistics, never used for decisions.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

/// Stripes per counter (a power of two).
const STRIPES: usize = 64;
const _: () = assert!(STRIPES.is_power_of_two());

/// A counter many threads add to without contending on one cache line.
#[derive(Debug)]
pub(crate) struct Counter {
    stripes: [CachePadded<AtomicU64>; STRIPES],
}

impl Default for Counter {
    fn default() -> Self {
        Self {
            stripes: std::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
        }
    }
}

thread_local! {
    /// This thread's stripe, `STRIPES` until it first counts.
    static STRIPE: Cell<usize> = const { Cell::new(STRIPES) };
}

/// This thread's stripe. Inlined into every page access: one
/// thread-local load and a compare (measured: when the lazy assignment was
/// part of the same function the compiler made it a call per hit).
#[inline(always)]
fn stripe() -> usize {
    let stripe = STRIPE.get();
    if stripe < STRIPES {
        stripe
    } else {
        assign_stripe()
    }
}

/// Gives this thread the next stripe, round robin.
#[cold]
#[inline(never)]
fn assign_stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let stripe = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    STRIPE.set(stripe);
    stripe
}

impl Counter {
    #[inline]
    pub(crate) fn add(&self, amount: u64) {
        // The mask keeps the index in bounds without a check.
        let cell = &self.stripes[stripe() & (STRIPES - 1)];
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(amount),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn get(&self) -> u64 {
        self.stripes
            .iter()
            .map(|cell| cell.load(Ordering::Relaxed))
            .sum()
    }
}

/// The pager's counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) evictions: Counter,
    pub(crate) dirty_evictions: Counter,
    pub(crate) bytes_read: Counter,
    pub(crate) bytes_written: Counter,
    pub(crate) read_ahead_pages: Counter,
    pub(crate) mapped_reads: Counter,
    pub(crate) checkpoints: Counter,
    pub(crate) map_leaves_read: Counter,
}

// SAFETY: `Counters` holds only `Counter`s, arrays of `AtomicU64` in
// `CachePadded` (which adds padding only): all-zero bytes are every
// counter at 0, as `Counter::default` builds it.
unsafe impl crate::zeroed::ZeroValid for Counters {}

/// A snapshot of the pager's counters and sizes ([`crate::Pager::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PagerStats {
    /// Page accesses served from the pool.
    pub hits: u64,
    /// Page accesses that read the page from disk.
    pub misses: u64,
    /// Pages evicted from the pool.
    pub evictions: u64,
    /// Evicted pages that had to be written first (to a fresh block).
    pub dirty_evictions: u64,
    /// Bytes read from the page file (pages and, at open, map nodes).
    pub bytes_read: u64,
    /// Bytes written to the page file (pages, map nodes, meta slots).
    pub bytes_written: u64,
    /// Pages loaded by [`crate::Pager::prefetch`].
    pub read_ahead_pages: u64,
    /// Misses copied from the file's memory map (`mmap_reads`).
    pub mapped_reads: u64,
    /// Checkpoints written since open.
    pub checkpoints: u64,
    /// Page map leaves read one at a time by misses, before the whole map
    /// was read (an open reads only the nodes above the leaves).
    pub map_leaves_read: u64,
    /// Frames in the pool.
    pub frames: u64,
    /// Allocated pages.
    pub pages: u64,
    /// Blocks in the file.
    pub file_blocks: u64,
    /// Blocks neither the durable checkpoint nor the current state uses.
    pub free_blocks: u64,
    /// The id of the newest durable checkpoint.
    pub checkpoint_id: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_counters_start_at_zero_and_count() {
        let counters = crate::zeroed::Zeroed::<Counters>::new();
        assert_eq!(counters.hits.get(), 0);
        assert_eq!(counters.map_leaves_read.get(), 0);
        counters.hits.add(3);
        counters.map_leaves_read.add(2);
        assert_eq!(counters.hits.get(), 3);
        assert_eq!(counters.map_leaves_read.get(), 2);
    }
}

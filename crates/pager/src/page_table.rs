//! The page table: page id → frame, indexed directly by page id.
//!
//! Page ids are dense (the pager reuses freed ids lowest first), so the
//! table is a two-level array, vmcache-style: a fixed directory of lazily
//! allocated chunks that never move. A lookup is two dependent loads and no
//! lock or hash, and readers on different pages share no written cache
//! line. The sharded hash map the design brief also allows was measured
//! against it (the `page_table` group of benches/page_access.rs): 1.0 ns
//! per lookup against 10 ns on one thread and 51 ns on two.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering as StdOrdering};

use crate::page_id::PageId;
use crate::residency::{self, ABSENT, Residency};
use crate::sync::AtomicU32;

const CHUNK_BITS: u32 = 16;
const CHUNK_ENTRIES: usize = 1 << CHUNK_BITS;
const CHUNKS: usize = ((PageId::MAX.get() as usize) >> CHUNK_BITS) + 1;

/// The entries of `CHUNK_ENTRIES` consecutive page ids. Arrays of fixed
/// length (here and for the directory), so that an index masked or
/// compared with a constant needs no length loaded from memory.
type Chunk = [AtomicU32; CHUNK_ENTRIES];

/// Page id → residency entry ([`crate::residency`]).
pub(crate) struct PageTable {
    /// Each chunk, or null until an id in it is first installed. A chunk
    /// is published once (compare-and-swap from null) and freed only when
    /// the table drops. A pointer rather than a `OnceLock`: one load and
    /// a null test on every page access instead of two loads.
    chunks: Box<[AtomicPtr<Chunk>; CHUNKS]>,
}

impl std::fmt::Debug for PageTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let allocated = self
            .chunks
            .iter()
            .filter(|chunk| !chunk.load(StdOrdering::Relaxed).is_null())
            .count();
        f.debug_struct("PageTable")
            .field("chunks_allocated", &allocated)
            .finish()
    }
}

/// Collects exactly `N` items into a boxed array.
fn boxed_array<T, const N: usize>(items: impl Iterator<Item = T>) -> Box<[T; N]> {
    let boxed: Box<[T]> = items.take(N).collect();
    match boxed.try_into() {
        Ok(array) => array,
        Err(_) => unreachable!("the iterator yields at least N items"),
    }
}

impl PageTable {
    pub(crate) fn new() -> Self {
        Self {
            chunks: boxed_array(std::iter::repeat_with(|| AtomicPtr::new(ptr::null_mut()))),
        }
    }

    /// The entry of `page`, allocating its chunk. `page` must not exceed
    /// [`PageId::MAX`].
    pub(crate) fn entry(&self, page: PageId) -> &AtomicU32 {
        let id = page.get() as usize;
        let slot = &self.chunks[id >> CHUNK_BITS];
        let mut chunk = slot.load(StdOrdering::Acquire);
        if chunk.is_null() {
            let fresh: Box<Chunk> = boxed_array(std::iter::repeat_with(|| AtomicU32::new(ABSENT)));
            let fresh = Box::into_raw(fresh);
            chunk = match slot.compare_exchange(
                ptr::null_mut(),
                fresh,
                StdOrdering::AcqRel,
                StdOrdering::Acquire,
            ) {
                Ok(_) => fresh,
                Err(winner) => {
                    // SAFETY: `fresh` came from `Box::into_raw` above and
                    // was never published: this is its only owner.
                    drop(unsafe { Box::from_raw(fresh) });
                    winner
                }
            };
        }
        // SAFETY: a non-null slot holds a chunk published from a `Box` and
        // freed only when the table drops, which `&self` outlives.
        let chunk = unsafe { &*chunk };
        &chunk[id & (CHUNK_ENTRIES - 1)]
    }

    /// Where `page` is (absent if its chunk was never allocated).
    #[inline(always)]
    pub(crate) fn lookup(&self, page: PageId) -> Residency {
        let id = page.get() as usize;
        let Some(slot) = self.chunks.get(id >> CHUNK_BITS) else {
            return Residency::Absent;
        };
        let chunk = slot.load(StdOrdering::Acquire);
        if chunk.is_null() {
            return Residency::Absent;
        }
        // SAFETY: as in `entry`.
        let chunk = unsafe { &*chunk };
        residency::lookup(&chunk[id & (CHUNK_ENTRIES - 1)])
    }
}

impl Drop for PageTable {
    fn drop(&mut self) {
        for slot in self.chunks.iter_mut() {
            let chunk = *slot.get_mut();
            if !chunk.is_null() {
                // SAFETY: published from `Box::into_raw` and owned by the
                // table alone; `&mut self` means nobody else can see it.
                drop(unsafe { Box::from_raw(chunk) });
            }
        }
    }
}

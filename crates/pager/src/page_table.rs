//! The page table: page id → frame, indexed directly by page id.
//!
//! Page ids are dense (the pager reuses freed ids lowest first), so the
//! table is a two-level array, vmcache-style: a fixed directory of lazily
//! allocated chunks that never move. A lookup is two dependent loads and no
//! lock or hash, and readers on different pages share no written cache
//! line. The sharded hash map the design brief also allows was measured
//! against it (the `page_table` group of benches/page_access.rs): 1.0 ns
//! per lookup against 10 ns on one thread and 51 ns on two.

use std::sync::OnceLock;

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
    chunks: Box<[OnceLock<Box<Chunk>>; CHUNKS]>,
}

impl std::fmt::Debug for PageTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let allocated = self.chunks.iter().filter(|c| c.get().is_some()).count();
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
            chunks: boxed_array(std::iter::repeat_with(OnceLock::new)),
        }
    }

    /// The entry of `page`, allocating its chunk. `page` must not exceed
    /// [`PageId::MAX`].
    pub(crate) fn entry(&self, page: PageId) -> &AtomicU32 {
        let id = page.get() as usize;
        let chunk = self.chunks[id >> CHUNK_BITS]
            .get_or_init(|| boxed_array(std::iter::repeat_with(|| AtomicU32::new(ABSENT))));
        &chunk[id & (CHUNK_ENTRIES - 1)]
    }

    /// Where `page` is (absent if its chunk was never allocated).
    #[inline(always)]
    pub(crate) fn lookup(&self, page: PageId) -> Residency {
        let id = page.get() as usize;
        match self.chunks.get(id >> CHUNK_BITS).and_then(OnceLock::get) {
            Some(chunk) => residency::lookup(&chunk[id & (CHUNK_ENTRIES - 1)]),
            None => Residency::Absent,
        }
    }
}

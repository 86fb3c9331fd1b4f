//! The page table: page id → slot, indexed directly by page id.
//!
//! A slot holds all the pager knows of one page id in 16 bytes: whether
//! and where the page is in the pool (the residency word,
//! [`crate::residency`]) and where it is on disk (block and checksum: the
//! in-memory state of the page map, `page_map.rs`). A miss finds the page's
//! block in the cache line that told it the page is absent, and reads it
//! without a lock (see [`Slot::entry`]).
//!
//! Page ids are dense (the pager reuses freed ids lowest first), so the
//! table is a two-level array, vmcache-style: a fixed directory of lazily
//! allocated chunks that never move. A lookup is two dependent loads and no
//! lock or hash, and readers on different pages share no written cache
//! line. The sharded hash map the design brief also allows was measured
//! against it (the `page_table` group of benches/page_access.rs): 1.0 ns
//! per lookup against 10 ns on one thread and 51 ns on two. The directory
//! and the chunks live in anonymous maps ([`Zeroed`]): the OS fills their
//! pages with zeros as they are first touched, so an open pays for the
//! slots it uses, not for clearing 1.5 MiB.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering as StdOrdering};

use parking_lot::Mutex;

use crate::page_id::PageId;
use crate::residency::{self, ABSENT, Residency};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::zeroed::Zeroed;

const CHUNK_BITS: u32 = 16;
const CHUNK_SLOTS: usize = 1 << CHUNK_BITS;
const CHUNKS: usize = ((PageId::MAX.get() as usize) >> CHUNK_BITS) + 1;

/// The bit of a slot's block word that says the id is allocated.
const ALLOCATED: u64 = 1 << 63;

/// Where a page is on disk, as the current (in-memory) state knows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageEntry {
    /// The page's block; 0 while an allocated page has never been written.
    pub block: u64,
    /// The checksum of the page's contents in that block.
    pub checksum: u32,
    /// Whether the id is allocated.
    pub allocated: bool,
}

/// One page id's slot.
#[derive(Debug)]
#[repr(C, align(16))]
pub struct Slot {
    /// The residency word ([`crate::residency`]).
    state: AtomicU32,
    /// The checksum of the page in `block`.
    checksum: AtomicU32,
    /// The page's block, with [`ALLOCATED`] set while the id is allocated.
    block: AtomicU64,
}

// Four slots to a cache line (loom's atomics are larger).
#[cfg(not(loom))]
const _: () = assert!(size_of::<Slot>() == 16);

impl Default for Slot {
    fn default() -> Self {
        Self::new()
    }
}

impl Slot {
    /// The slot of an id that is neither allocated nor resident.
    pub fn new() -> Self {
        Self {
            state: AtomicU32::new(ABSENT),
            checksum: AtomicU32::new(0),
            block: AtomicU64::new(0),
        }
    }

    /// The residency word.
    #[inline(always)]
    pub fn state(&self) -> &AtomicU32 {
        &self.state
    }

    /// Where the page is on disk.
    ///
    /// The page map's writers change an entry only under the store's mutex,
    /// so one holding it reads a consistent entry. A loader reads it
    /// without that mutex, after it claimed the residency word
    /// ([`residency::try_install`]), and that is enough: the entry of a
    /// page changes only while the page is resident in a latched frame (a
    /// dirty eviction's write-back, a checkpoint, a free) and the page
    /// stops being resident by a `Release` store of the residency word
    /// ([`residency::finish_eviction`], [`residency::remove`]), which the
    /// claim's compare-exchange reads: every change of the entry happens
    /// before the claim, and none can follow until the loader is done. The
    /// one change that needs no residency, the allocation of a free id
    /// (never written: block 0), can race with a loader holding a stale
    /// id, which sees the entry before or after it — nothing to load
    /// either way. Model-checked in tests/loom_location.rs.
    #[inline]
    pub fn entry(&self) -> PageEntry {
        let block = self.block.load(Ordering::Relaxed);
        PageEntry {
            block: block & !ALLOCATED,
            checksum: self.checksum.load(Ordering::Relaxed),
            allocated: block & ALLOCATED != 0,
        }
    }

    /// Records where the page is on disk: by the page map's one writer at
    /// a time (see [`Slot::entry`]).
    pub fn set_entry(&self, entry: PageEntry) {
        debug_assert!(entry.block & ALLOCATED == 0);
        debug_assert!(entry.allocated || entry.block == 0);
        let allocated = if entry.allocated { ALLOCATED } else { 0 };
        self.checksum.store(entry.checksum, Ordering::Relaxed);
        self.block.store(entry.block | allocated, Ordering::Relaxed);
    }
}

/// The slots of `CHUNK_SLOTS` consecutive page ids. Arrays of fixed length
/// (here and for the directory), so that an index masked or compared with
/// a constant needs no length loaded from memory.
type Chunk = [Slot; CHUNK_SLOTS];

/// Page id → slot.
pub(crate) struct PageTable {
    /// Each chunk, or null until a slot in it is first needed. A chunk is
    /// published once (compare-and-swap from null) and freed only when the
    /// table drops. A pointer rather than a `OnceLock`: one load and a null
    /// test on every page access instead of two loads.
    chunks: Zeroed<Directory>,
    /// The published chunks' memory, freed with the table.
    owned: Mutex<Vec<Zeroed<Chunk>>>,
}

type Directory = [AtomicPtr<Chunk>; CHUNKS];

// SAFETY: a null `AtomicPtr` is all zero bits; a zero `Slot` is the slot
// of an id neither allocated nor resident (`ABSENT` is 0, block 0 without
// `ALLOCATED`, checksum 0), as `Slot::new` builds it.
#[cfg(not(loom))]
unsafe impl crate::zeroed::ZeroValid for Directory {}
// SAFETY: as above.
#[cfg(not(loom))]
unsafe impl crate::zeroed::ZeroValid for Chunk {}

#[cfg(not(loom))]
fn new_chunk() -> Zeroed<Chunk> {
    Zeroed::new()
}

#[cfg(loom)]
fn new_chunk() -> Zeroed<Chunk> {
    Zeroed::from_box(boxed_array(std::iter::repeat_with(Slot::new)))
}

#[cfg(not(loom))]
fn new_directory() -> Zeroed<Directory> {
    Zeroed::new()
}

#[cfg(loom)]
fn new_directory() -> Zeroed<Directory> {
    Zeroed::from_box(boxed_array(std::iter::repeat_with(|| {
        AtomicPtr::new(ptr::null_mut())
    })))
}

impl std::fmt::Debug for PageTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let allocated = self.owned.lock().len();
        f.debug_struct("PageTable")
            .field("chunks_allocated", &allocated)
            .finish()
    }
}

/// Collects exactly `N` items into a boxed array.
#[cfg(loom)]
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
            chunks: new_directory(),
            owned: Mutex::new(Vec::new()),
        }
    }

    /// The slot of `page`, allocating its chunk. `page` must not exceed
    /// [`PageId::MAX`].
    pub(crate) fn slot(&self, page: PageId) -> &Slot {
        let id = page.get() as usize;
        let pointer = &self.chunks[id >> CHUNK_BITS];
        let mut chunk = pointer.load(StdOrdering::Acquire);
        if chunk.is_null() {
            let fresh = new_chunk();
            chunk = match pointer.compare_exchange(
                ptr::null_mut(),
                fresh.as_ptr(),
                StdOrdering::AcqRel,
                StdOrdering::Acquire,
            ) {
                Ok(_) => {
                    let published = fresh.as_ptr();
                    self.owned.lock().push(fresh);
                    published
                }
                // `fresh` was never published: dropping it frees it.
                Err(winner) => winner,
            };
        }
        // SAFETY: a non-null pointer is a published chunk, owned by
        // `self.owned` (from the moment it was published, by `fresh` until
        // then) and freed only when the table drops, which `&self` outlives.
        let chunk = unsafe { &*chunk };
        &chunk[id & (CHUNK_SLOTS - 1)]
    }

    /// The slot of `page` if its chunk exists (else the page is neither
    /// allocated nor resident).
    #[inline(always)]
    pub(crate) fn get(&self, page: PageId) -> Option<&Slot> {
        let id = page.get() as usize;
        let chunk = self
            .chunks
            .get(id >> CHUNK_BITS)?
            .load(StdOrdering::Acquire);
        if chunk.is_null() {
            return None;
        }
        // SAFETY: as in `slot`.
        let chunk = unsafe { &*chunk };
        Some(&chunk[id & (CHUNK_SLOTS - 1)])
    }

    /// Where `page` is in the pool.
    #[inline(always)]
    pub(crate) fn lookup(&self, page: PageId) -> Residency {
        match self.get(page) {
            Some(slot) => residency::lookup(&slot.state),
            None => Residency::Absent,
        }
    }
}

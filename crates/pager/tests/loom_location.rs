//! Loom models of reading a page's location without the store's mutex
//! (`Slot::entry`, `src/page_table.rs`): the real slot, latch and
//! residency functions over loom atomics.
//!
//! A loader reads the block and checksum of the page it is about to load
//! with `Relaxed` loads, after claiming the slot's residency word, and
//! holds no lock that the writers of those fields hold. Checked in every
//! interleaving (up to the preemption bound): a loader that claims the slot
//! after a dirty eviction moved the page sees the new block and checksum,
//! never the old ones — also when the move was a checkpoint's, made under
//! a shared latch before another thread evicted the page; a loader that
//! claims a freed page's slot sees it free; a loader holding a stale id
//! while the id is allocated again sees nothing to load.
//!
//! Each model runs once per role on the model's main thread (see
//! [`model_rotations`]). The dirty-eviction and free models were seen to
//! fail with the final store of an eviction and of a removal made
//! `Relaxed` (the checkpoint model still passed that way: loom does not
//! explore every weak behaviour of C++20).
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release -p keel-pager --test loom_location
//! ```

#![cfg(loom)]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod loom_support;

use keel_pager::latch::Latch;
use keel_pager::page_table::{PageEntry, Slot};
use keel_pager::residency::{begin_eviction, finish_eviction, remove, try_install, try_pin, unpin};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU32, Ordering};
use loom_support::model_rotations;

/// The frame the page is resident in at the start.
const FRAME: u32 = 0;
/// The frame a loader installs the page in.
const LOADER_FRAME: u32 = 1;

/// Where the page was at the last checkpoint, and where it moves.
const OLD: PageEntry = PageEntry {
    block: 5,
    checksum: 50,
    allocated: true,
};
const NEW: PageEntry = PageEntry {
    block: 9,
    checksum: 90,
    allocated: true,
};
/// An id allocated and not yet written.
const UNWRITTEN: PageEntry = PageEntry {
    block: 0,
    checksum: 0,
    allocated: true,
};

/// One page's slot and the frame it is resident in.
struct Page {
    slot: Slot,
    /// The frame's latch.
    latch: Latch,
    pins: AtomicU32,
}

impl Page {
    /// The page resident in `FRAME` at `OLD`, set up as `Pager::open` and
    /// a load leave it.
    fn resident() -> Arc<Self> {
        let page = Page {
            slot: Slot::new(),
            latch: Latch::new(),
            pins: AtomicU32::new(0),
        };
        // See loom_residency.rs: a `SeqCst` store after the initial value.
        page.pins.store(0, Ordering::SeqCst);
        page.slot.set_entry(OLD);
        assert!(try_install(page.slot.state(), FRAME));
        Arc::new(page)
    }

    /// A page id that is free and not resident.
    fn free() -> Arc<Self> {
        Arc::new(Page {
            slot: Slot::new(),
            latch: Latch::new(),
            pins: AtomicU32::new(0),
        })
    }

    /// What `Pager::evict` does to a dirty page once `acquire_frame` holds
    /// the frame's latch: the write-back moves the page to `NEW` (under
    /// the store's mutex, which no loader takes), then the page leaves the
    /// pool. `None` if the latch was taken.
    fn evict_dirty(&self) -> Option<PageEntry> {
        if !self.latch.try_exclusive() {
            return None;
        }
        self.slot.set_entry(NEW);
        assert!(begin_eviction(self.slot.state(), FRAME, &self.pins));
        finish_eviction(self.slot.state());
        Some(NEW)
    }

    /// An eviction of a clean page, as `acquire_frame` runs one. `None` if
    /// the latch was taken (by a checkpoint writing the page).
    fn evict_clean(&self) -> Option<PageEntry> {
        if !self.latch.try_exclusive() {
            return None;
        }
        assert!(begin_eviction(self.slot.state(), FRAME, &self.pins));
        finish_eviction(self.slot.state());
        None
    }

    /// What `Pager::write_page_batch` does: under a shared latch, the page
    /// moves to `NEW`. `None` if the latch was taken (by an evictor, which
    /// found the page clean in this model: nothing to write).
    fn checkpoint(&self) -> Option<PageEntry> {
        if !self.latch.try_shared() {
            return None;
        }
        self.slot.set_entry(NEW);
        self.latch.release_shared();
        Some(NEW)
    }

    /// What `Pager::free_latched` does: out of the map, then out of the
    /// pool, under the frame's exclusive latch.
    fn free_latched(&self) -> Option<PageEntry> {
        while !self.latch.try_exclusive() {
            loom::thread::yield_now();
        }
        self.slot.set_entry(PageEntry::default());
        remove(self.slot.state());
        self.latch.release_exclusive();
        Some(PageEntry::default())
    }

    /// What `PageMap::allocate` does to a free id (no residency change).
    fn allocate(&self) -> Option<PageEntry> {
        self.slot.set_entry(UNWRITTEN);
        Some(UNWRITTEN)
    }

    /// What `Pager::load` does: claim the slot, then read the entry. The
    /// entry read, if the claim succeeded.
    fn load(&self) -> Option<PageEntry> {
        if try_install(self.slot.state(), LOADER_FRAME) {
            Some(self.slot.entry())
        } else {
            None
        }
    }

    /// A pinner, which keeps an evictor out: true if it pinned.
    fn pin_and_unpin(&self) -> Option<PageEntry> {
        if try_pin(self.slot.state(), FRAME, &self.pins) {
            unpin(&self.pins);
        }
        None
    }
}

#[test]
fn a_loader_after_a_dirty_eviction_reads_the_new_block() {
    model_rotations(
        Page::resident,
        [Page::evict_dirty, Page::load],
        |page, [moved, loaded]| {
            assert_eq!(moved, Some(NEW), "nobody else takes the latch");
            if let Some(entry) = loaded {
                assert_eq!(entry, NEW, "a loader read a stale location");
            }
            assert_eq!(page.slot.entry(), NEW);
        },
    );
}

#[test]
fn a_loader_after_a_checkpoint_and_an_eviction_reads_the_new_block() {
    // The checkpoint moves the page under a shared latch; an evictor that
    // gets the latch afterwards evicts the page; a loader that claims the
    // slot after that must see the checkpoint's block, which it is ordered
    // after only through the latch and the residency word.
    model_rotations(
        Page::resident,
        [Page::checkpoint, Page::evict_clean, Page::load],
        |page, [moved, _, loaded]| {
            if let Some(entry) = loaded {
                let expected = if moved.is_some() { NEW } else { OLD };
                assert_eq!(entry, expected, "a loader read a stale location");
            }
            if moved.is_none() {
                assert_eq!(page.slot.entry(), OLD);
            }
        },
    );
}

#[test]
fn a_loader_after_a_free_finds_the_page_free() {
    model_rotations(
        Page::resident,
        [Page::free_latched, Page::load, Page::pin_and_unpin],
        |page, [_, loaded, _]| {
            if let Some(entry) = loaded {
                assert!(!entry.allocated, "loaded a freed page: {entry:?}");
            }
            assert_eq!(page.slot.entry(), PageEntry::default());
        },
    );
}

#[test]
fn a_loader_with_a_stale_id_finds_nothing_to_load() {
    model_rotations(
        Page::free,
        [Page::allocate, Page::load],
        |_, [_, loaded]| {
            let entry = loaded.unwrap();
            assert!(
                entry == PageEntry::default() || entry == UNWRITTEN,
                "a torn entry: {entry:?}"
            );
            assert_eq!(entry.block, 0, "a block to load for an unwritten page");
        },
    );
}

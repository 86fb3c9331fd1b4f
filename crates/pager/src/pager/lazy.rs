//! The page map read lazily: an open reads the map's nodes above its
//! leaves (a few blocks at any size), a leaf is read when a page of it is
//! first missed, and the whole map is read — and checked: blocks in range
//! and used once, the page count the meta slot recorded — before anything
//! changes it, at the first access to the store (an allocation, a write
//! back, a checkpoint, stats). Until then nothing in the map has changed,
//! so a lazily read leaf holds exactly what the whole read would give it,
//! and no block of the file is reused before the free blocks are known.

use parking_lot::MutexGuard;

use super::*;
use crate::meta::Meta;
use crate::sync::AtomicU64;

/// What the whole read needs: the checkpoint the map was opened at.
pub(super) struct Opened {
    pub(super) meta: Meta,
    pub(super) file_blocks: u64,
}

/// Which leaves of the map are in the page table.
pub(super) struct LazyLeaves {
    /// Entries per map node: page id / fanout = its leaf.
    fanout: u64,
    /// One bit per leaf of the map at open; leaves past these hold only ids
    /// handed out since (whose entries the pager writes itself).
    loaded: Box<[AtomicU64]>,
    /// The whole map was read: every leaf is in.
    complete: AtomicBool,
}

impl LazyLeaves {
    /// Every leaf of `map` (opened lazily) unread.
    pub(super) fn new(map: &PageMap, page_size: usize) -> LazyLeaves {
        let words = map.leaf_count().div_ceil(64) as usize;
        LazyLeaves {
            fanout: (page_size / crate::page_map::MAP_ENTRY_BYTES) as u64,
            loaded: (0..words).map(|_| AtomicU64::new(0)).collect(),
            complete: AtomicBool::new(false),
        }
    }

    /// Whether the entries of `page`'s leaf are in the page table.
    #[inline]
    fn has(&self, page: PageId) -> bool {
        if self.complete.load(Ordering::Acquire) {
            return true;
        }
        let leaf = page.get() / self.fanout;
        match self.loaded.get((leaf / 64) as usize) {
            Some(word) => word.load(Ordering::Acquire) & (1 << (leaf % 64)) != 0,
            None => true,
        }
    }

    fn mark(&self, leaf: u64) {
        if let Some(word) = self.loaded.get((leaf / 64) as usize) {
            word.fetch_or(1 << (leaf % 64), Ordering::Release);
        }
    }
}

impl Pager {
    /// The store, with the whole map read (see the module's comment).
    ///
    /// # Errors
    /// [`Error::MapCorruption`] and I/O errors of reading the map.
    pub(super) fn store(&self) -> Result<MutexGuard<'_, Store>> {
        let mut store = self.raw_store.lock();
        if let Some(opened) = store.opened.take() {
            match PageMap::load(
                &*self.file,
                &self.path,
                &opened.meta,
                opened.file_blocks,
                &self.table,
            ) {
                Ok((map, referenced)) => {
                    store.map = map;
                    store.blocks = Blocks::new(opened.file_blocks, referenced);
                    self.lazy.complete.store(true, Ordering::Release);
                }
                Err(error) => {
                    store.opened = Some(opened);
                    return Err(error);
                }
            }
        }
        Ok(store)
    }

    /// Makes sure the entry of `page` is in the page table: reads its map
    /// leaf if this is the first miss there.
    ///
    /// # Errors
    /// [`Error::MapCorruption`] and I/O errors of reading the leaf.
    #[inline]
    pub(super) fn ensure_mapped(&self, page: PageId) -> Result<()> {
        if self.lazy.has(page) {
            return Ok(());
        }
        self.load_map_leaf(page)
    }

    #[cold]
    #[inline(never)]
    fn load_map_leaf(&self, page: PageId) -> Result<()> {
        let store = self.raw_store.lock();
        let leaf = page.get() / self.lazy.fanout;
        if let Some(opened) = &store.opened
            && !self.lazy.has(page)
        {
            store.map.load_leaf(
                &*self.file,
                &self.path,
                &opened.meta,
                opened.file_blocks,
                leaf,
                &self.table,
            )?;
            self.counters.map_leaves_read.add(1);
        }
        self.lazy.mark(leaf);
        Ok(())
    }
}

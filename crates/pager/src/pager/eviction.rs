//! Frames and eviction: a free frame or the CLOCK hand's victim (a dirty
//! one written to a fresh block first), and block allocation.

use super::*;

impl Pager {
    /// A frame holding no page, exclusively latched: from the free list, or
    /// evicted by the CLOCK hand.
    pub(super) fn acquire_frame(&self) -> Result<u32> {
        if let Some(index) = self.pop_free_frame() {
            return Ok(index);
        }
        let frames = self.frames.len();
        let mut round = 0;
        // The hand is read once and stored once, not advanced by a
        // read-modify-write per step (measured: those were a fifth of a
        // miss's own time). Misses on several threads at once may sweep
        // the same frames and lose each other's advances; harmless, since
        // a frame's latch decides who takes it, and the hand only says
        // where to look next.
        let mut hand = self.clock_hand.load(Ordering::Relaxed);
        for sweep in 0..EVICTION_SWEEPS_MAX {
            if sweep > 0 {
                // A full pass found nothing: others hold latches briefly.
                spin_wait(&mut round);
                if let Some(index) = self.pop_free_frame() {
                    return Ok(index);
                }
            }
            for _ in 0..frames {
                let index = if hand < frames { hand } else { 0 };
                hand = index + 1;
                let index = index as u32;
                let frame = self.frame(index);
                if frame.pins.load(Ordering::Relaxed) != 0 {
                    continue;
                }
                if frame.referenced.load(Ordering::Relaxed) {
                    // Second chance.
                    frame.referenced.store(false, Ordering::Relaxed);
                    continue;
                }
                if !frame.latch.try_exclusive() {
                    continue;
                }
                let page = frame.page.load(Ordering::Relaxed);
                // No page: left by a failed load or a freed page.
                if page == 0 || self.evict(index, PageId::new(page))? {
                    self.clock_hand.store(hand, Ordering::Relaxed);
                    return Ok(index);
                }
            }
        }
        self.clock_hand.store(hand, Ordering::Relaxed);
        Err(Error::PoolExhausted {
            frames: self.frames.len(),
        })
    }

    /// Evicts the page from frame `index`, which the caller has latched
    /// exclusively. A dirty page is first written to a fresh block. False
    /// (and the latch released) if the page turned out to be pinned.
    pub(super) fn evict(&self, index: u32, page: PageId) -> Result<bool> {
        let frame = self.frame(index);
        if frame.dirty.load(Ordering::Relaxed) {
            if let Err(error) = self.write_back(index, page) {
                frame.latch.release_exclusive_unchanged();
                return Err(error);
            }
            self.counters.dirty_evictions.add(1);
        }
        let entry = self.table.slot(page).state();
        if !residency::begin_eviction(entry, index, &frame.pins) {
            frame.latch.release_exclusive_unchanged();
            return Ok(false);
        }
        residency::finish_eviction(entry);
        frame.page.store(0, Ordering::Relaxed);
        self.counters.evictions.add(1);
        Ok(true)
    }

    /// Writes the dirty page in frame `index` (latched exclusively) to a
    /// fresh block — never one the durable checkpoint uses — and points its
    /// map entry there. Out of line: the evictions of clean pages, on the
    /// miss path, carry none of it.
    #[cold]
    #[inline(never)]
    pub(super) fn write_back(&self, index: u32, page: PageId) -> Result<()> {
        self.check_poisoned()?;
        let data = self.frame_bytes(index);
        let checksum = page_checksum(page, data);
        let block = self.allocate_block(&mut self.store()?.blocks)?;
        if let Err(error) = self.file.write_all_at(data, block * self.page_size as u64) {
            self.store()?.blocks.release(block);
            return Err(self.poison(error));
        }
        self.counters.bytes_written.add(self.page_size as u64);
        let mut store = self.store()?;
        let previous = store.map.set_block(&self.table, page, block, checksum);
        if previous != 0 {
            store.blocks.release(previous);
        }
        self.frame(index).dirty.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// A free block, growing the file when there is none.
    pub(super) fn allocate_block(&self, blocks: &mut Blocks) -> Result<u64> {
        if let Some(block) = blocks.allocate() {
            return Ok(block);
        }
        let file_blocks = blocks.file_blocks();
        let step = self.growth_blocks(file_blocks);
        let page_bytes = self.page_size as u64;
        self.file
            .allocate(file_blocks * page_bytes, step * page_bytes)?;
        blocks.grow(file_blocks + step);
        self.remap((file_blocks + step) * page_bytes);
        blocks.allocate().ok_or(Error::PoolExhausted { frames: 0 })
    }

    /// Blocks the file grows by: an eighth of its size, within the options'
    /// bounds.
    pub(super) fn growth_blocks(&self, file_blocks: u64) -> u64 {
        let page_bytes = self.page_size as u64;
        let bytes =
            (file_blocks * page_bytes / 8).clamp(self.growth_bytes_min, self.growth_bytes_max);
        (bytes / page_bytes).max(1)
    }
}

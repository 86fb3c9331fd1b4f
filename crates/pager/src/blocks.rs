//! Physical block accounting: which blocks the newest durable checkpoint
//! needs, which the in-memory state uses, and which are free.
//!
//! Two bitsets say everything: a block is free when neither the durable
//! checkpoint nor the current state references it. A block the current
//! state stopped using but the durable checkpoint still needs stays
//! unavailable until the next checkpoint is durable — that is invariant 5
//! of the design brief (a checkpoint never overwrites a block the last
//! durable checkpoint uses), enforced by construction.

use crate::meta::FIRST_DATA_BLOCK;

/// A growable set of block numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    pub(crate) fn contains(&self, bit: u64) -> bool {
        let word = (bit / 64) as usize;
        word < self.words.len() && self.words[word] & (1 << (bit % 64)) != 0
    }

    /// Sets `bit`; returns whether it was clear.
    pub(crate) fn insert(&mut self, bit: u64) -> bool {
        let word = (bit / 64) as usize;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let mask = 1 << (bit % 64);
        let was_clear = self.words[word] & mask == 0;
        self.words[word] |= mask;
        was_clear
    }

    /// Clears `bit`; returns whether it was set.
    pub(crate) fn remove(&mut self, bit: u64) -> bool {
        let word = (bit / 64) as usize;
        if word >= self.words.len() {
            return false;
        }
        let mask = 1 << (bit % 64);
        let was_set = self.words[word] & mask != 0;
        self.words[word] &= !mask;
        was_set
    }

    /// Every bit below `end` set.
    pub(crate) fn filled(end: u64) -> Bitset {
        let mut words = vec![u64::MAX; (end / 64) as usize];
        if !end.is_multiple_of(64) {
            words.push((1u64 << (end % 64)) - 1);
        }
        Bitset { words }
    }

    pub(crate) fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// The highest set bit plus one (0 when empty).
    pub(crate) fn end(&self) -> u64 {
        for (index, word) in self.words.iter().enumerate().rev() {
            if *word != 0 {
                return index as u64 * 64 + 64 - u64::from(word.leading_zeros());
            }
        }
        0
    }

    fn word(&self, index: usize) -> u64 {
        self.words.get(index).copied().unwrap_or(0)
    }
}

/// The block allocator of a page file.
#[derive(Debug)]
pub(crate) struct Blocks {
    /// Blocks in the file.
    file_blocks: u64,
    /// Referenced by the newest durable checkpoint.
    durable: Bitset,
    /// Referenced by the current (in-memory) state.
    used: Bitset,
    /// No free block lies below this.
    search_from: u64,
}

impl Blocks {
    /// The allocator of a file of `file_blocks` blocks whose newest
    /// checkpoint references `durable` (meta blocks are added here).
    pub(crate) fn new(file_blocks: u64, mut durable: Bitset) -> Self {
        for meta in 0..FIRST_DATA_BLOCK {
            durable.insert(meta);
        }
        Self {
            file_blocks,
            used: durable.clone(),
            durable,
            search_from: FIRST_DATA_BLOCK,
        }
    }

    pub(crate) fn file_blocks(&self) -> u64 {
        self.file_blocks
    }

    /// The lowest free block, now used; `None` when the file is full.
    pub(crate) fn allocate(&mut self) -> Option<u64> {
        let mut word = (self.search_from / 64) as usize;
        let words = self.file_blocks.div_ceil(64) as usize;
        while word < words {
            let taken = self.used.word(word) | self.durable.word(word);
            if taken != u64::MAX {
                let block = word as u64 * 64 + u64::from((!taken).trailing_zeros());
                if block >= self.file_blocks {
                    break;
                }
                self.used.insert(block);
                self.search_from = block + 1;
                return Some(block);
            }
            word += 1;
        }
        self.search_from = self.file_blocks;
        None
    }

    /// Adds blocks at the end of the file.
    pub(crate) fn grow(&mut self, file_blocks: u64) {
        debug_assert!(file_blocks >= self.file_blocks);
        self.search_from = self.search_from.min(self.file_blocks);
        self.file_blocks = file_blocks;
    }

    /// The current state no longer uses `block`. It is free at once if the
    /// durable checkpoint does not need it, else after the next checkpoint.
    pub(crate) fn release(&mut self, block: u64) {
        let was_used = self.used.remove(block);
        debug_assert!(was_used, "released block {block} was not in use");
        if !self.durable.contains(block) {
            self.search_from = self.search_from.min(block);
        }
    }

    /// A snapshot of the blocks the current state uses: what the checkpoint
    /// being written will reference.
    pub(crate) fn used(&self) -> Bitset {
        self.used.clone()
    }

    /// A checkpoint referencing exactly `referenced` is durable: the blocks
    /// only the previous one needed become free. Returns how many.
    pub(crate) fn checkpoint_durable(&mut self, referenced: Bitset) -> u64 {
        let before = self.durable.count();
        let kept = (0..self.durable.words.len())
            .map(|w| (self.durable.word(w) & referenced.word(w)).count_ones() as u64)
            .sum::<u64>();
        self.durable = referenced;
        self.search_from = FIRST_DATA_BLOCK;
        before - kept
    }

    /// Blocks neither the durable checkpoint nor the current state uses.
    pub(crate) fn free_count(&self) -> u64 {
        let words = self.file_blocks.div_ceil(64) as usize;
        let mut taken = 0;
        for w in 0..words {
            let mut word = self.used.word(w) | self.durable.word(w);
            let first = w as u64 * 64;
            if first + 64 > self.file_blocks {
                // Bits past the end of the file are not free blocks.
                word |= u64::MAX << (self.file_blocks - first);
            }
            taken += u64::from(word.count_ones());
        }
        words as u64 * 64 - taken
    }

    /// The number of blocks a shrunk file needs: everything up to the last
    /// block in use by either state.
    pub(crate) fn needed_blocks(&self) -> u64 {
        self.used
            .end()
            .max(self.durable.end())
            .max(FIRST_DATA_BLOCK)
    }

    /// Cuts the file to `file_blocks` (no used block lies beyond).
    pub(crate) fn shrink(&mut self, file_blocks: u64) {
        debug_assert!(file_blocks >= self.needed_blocks());
        self.file_blocks = file_blocks;
        self.search_from = self.search_from.min(file_blocks);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_the_durable_checkpoint_wait_for_the_next_one() {
        let mut durable = Bitset::default();
        durable.insert(2);
        durable.insert(3);
        let mut blocks = Blocks::new(8, durable);
        assert_eq!(blocks.free_count(), 4);
        // The state moves page off block 2: it stays unavailable.
        let fresh = blocks.allocate().unwrap();
        assert_eq!(fresh, 4);
        blocks.release(2);
        assert_eq!(blocks.allocate(), Some(5));
        // A fresh block released is free at once.
        blocks.release(5);
        assert_eq!(blocks.allocate(), Some(5));
        assert_eq!(blocks.allocate(), Some(6));
        assert_eq!(blocks.allocate(), Some(7));
        assert_eq!(blocks.allocate(), None, "block 2 is still needed");
        let released = blocks.checkpoint_durable(blocks.used());
        assert_eq!(released, 1);
        assert_eq!(blocks.allocate(), Some(2));
    }

    #[test]
    fn growth_and_shrinking() {
        let mut blocks = Blocks::new(2, Bitset::default());
        assert_eq!(blocks.allocate(), None);
        blocks.grow(130);
        for expected in 2..130 {
            assert_eq!(blocks.allocate(), Some(expected));
        }
        assert_eq!(blocks.allocate(), None);
        for block in 10..130 {
            blocks.release(block);
        }
        assert_eq!(blocks.needed_blocks(), 10);
        assert_eq!(blocks.free_count(), 120);
        blocks.shrink(10);
        assert_eq!(blocks.free_count(), 0);
        assert_eq!(blocks.allocate(), None);
    }

    #[test]
    fn bitset_end_and_count() {
        let mut set = Bitset::default();
        assert_eq!(set.end(), 0);
        set.insert(0);
        set.insert(64);
        set.insert(200);
        assert_eq!(set.end(), 201);
        assert_eq!(set.count(), 3);
        assert!(set.remove(200));
        assert!(!set.remove(200));
        assert_eq!(set.end(), 65);
    }
}

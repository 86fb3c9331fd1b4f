//! Defragmentation: left to right, each leaf takes what fits of its right
//! sibling's entries (under the same parent) — all of them, merging the
//! two, or as many as leave the sibling at least a quarter full — so that
//! a tree thinned out by deletes (which merge a leaf only once it is under
//! a quarter full) goes back to full pages. Compaction runs it before
//! moving pages out of the file's tail.

use std::sync::atomic::Ordering;

use keel_pager::{PageId, Restart};

use crate::divide::Cut;
use crate::error::Result;
use crate::node::{self, Header};
use crate::tree::{BTree, corrupt};

/// Passes [`BTree::defragment`] makes at most.
pub const DEFRAGMENT_PASSES_MAX: usize = 4;

impl BTree {
    /// Fills each leaf from its right sibling (under the same parent):
    /// merges the two where they fit in one page, else moves over as many
    /// entries as fit while the sibling stays at least a quarter full, with
    /// the same latching as a delete's rebalance (readers restart around
    /// it). Passes over the leaves until one frees nothing (merges of inner
    /// pages give leaves new siblings under one parent), at most
    /// [`DEFRAGMENT_PASSES_MAX`]. Returns the pages freed.
    ///
    /// # Errors
    /// Pager errors; [`Error::Corrupt`](crate::Error::Corrupt).
    pub fn defragment(&self) -> Result<u64> {
        let mut freed = 0;
        for _ in 0..DEFRAGMENT_PASSES_MAX {
            let pass = self.defragment_pass()?;
            freed += pass;
            if pass == 0 {
                break;
            }
        }
        Ok(freed)
    }

    /// One pass of [`BTree::defragment`] over the leaves, left to right.
    fn defragment_pass(&self) -> Result<u64> {
        let mut scratch = self.writer.lock();
        scratch.leaf = None;
        let usable = self.geometry.usable();
        let page_size = self.geometry.page_size;
        // A leaf with less free room than this is left as it is.
        let room_min = usable / 8;
        let cut = Cut::PackLeft {
            right_min: self.geometry.fill_bytes_min(),
        };
        let mut freed = 0;
        // The leaf to look at is the one holding `key` (the empty key: the
        // first leaf).
        let mut key: Vec<u8> = Vec::new();
        loop {
            let (path, _) = self.path_to(&key)?;
            let depth = path.len() - 1;
            if depth == 0 {
                return Ok(freed);
            }
            let leaf = path[depth];
            let parent = path[depth - 1];
            let right = leaf.header.link_1;
            if right == PageId::NONE {
                return Ok(freed);
            }
            let same_parent = parent.position < parent.header.count;
            if same_parent && usable.saturating_sub(leaf.header.used(page_size)) >= room_min {
                // Merges right into this leaf (whose path stays valid) and
                // looks at the same leaf again, or moves entries over and
                // goes on with the sibling, from its new first key.
                let merges = self.counters.merges.load(Ordering::Relaxed);
                self.rebalance(&mut scratch, &path, depth, cut)?;
                if self.counters.merges.load(Ordering::Relaxed) > merges {
                    freed += 1;
                    continue;
                }
            }
            key = self.first_key(right)?;
        }
    }

    /// The first key of a leaf.
    fn first_key(&self, page: PageId) -> Result<Vec<u8>> {
        let guard = self.pager.shared(page)?;
        let bad = |Restart| corrupt(page, "bad cell");
        let header = Header::read(&guard).map_err(|Restart| corrupt(page, "bad node header"))?;
        if !header.is_leaf() || header.count == 0 {
            return Err(corrupt(page, "a sibling link to an empty or inner page"));
        }
        let cell = node::cell_bytes(&guard, true, 0).map_err(bad)?;
        Ok(self.load_key(node::cell_key(&cell, true))?.into_owned())
    }
}

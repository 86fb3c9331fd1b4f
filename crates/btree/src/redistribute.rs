//! Before a leaf splits, its entries are shared with a sibling that has
//! room (a B*-tree's overflow, SQLite's `balance_nonroot` in its simplest
//! form): the insert then fits without a new page.
//!
//! A leaf that splits leaves two half-full pages. Random inserts into a
//! tree of full or nearly full leaves (a bulk load, a compacted tree)
//! split nearly every leaf once, and the tree doubles on disk with little
//! more data in it: measured on redb-shaped entries (24-byte keys,
//! 150-byte values, 4 KiB pages), 1M keys bulk-loaded at 20.3 entries a
//! page took 100,000 random inserts to 12.8 a page (58% full). A sibling
//! under the same parent with room takes part of the leaf instead, through
//! the delete path's rebalance (its latching and copy-on-write): only
//! when the two pages together have room for the new entry at least
//! three times over, so that an even share surely makes room and a
//! rebalance is not wasted on pages that would split at the next insert.
//! The sibling is the one on the side away from the new entry (the left
//! one for an entry in the leaf's upper half), so that an ascending run
//! keeps landing in the leaf; an insert at a leaf's end is left to the
//! split, whose appended cut already fills pages on ascending inserts.

use keel_pager::Restart;

use crate::delete::Rebalanced;
use crate::divide::Cut;
use crate::error::Result;
use crate::node::{self, Header};
use crate::stats::Counters;
use crate::tree::{BTree, InLeaf, PathNode, Scratch, corrupt};

/// The room two siblings must have together, in multiples of the new
/// entry's cost, for the leaf to share its entries instead of splitting.
const ROOM_IN_ENTRIES: usize = 3;

impl BTree {
    /// Whether a leaf of `header` must split to take a cell of `cost`
    /// where its search found `in_leaf`: a new key may share less of the
    /// leaf's prefix, and so grow every cell; a replaced one shares all
    /// of it.
    pub(crate) fn leaf_overflows(header: &Header, in_leaf: InLeaf, cost: usize) -> bool {
        match in_leaf {
            InLeaf::Present(found) => {
                header.free() + found.cell_len + node::SLOT_BYTES
                    < cost.saturating_sub(header.prefix_len)
            }
            InLeaf::Absent { shared, .. } => header.free() < header.growth(cost, shared),
        }
    }

    /// Shares the entries of the leaf at the end of `path` with a sibling
    /// under the same parent when `cell` would split it and the two have
    /// room for it (see the module). Returns whether pages changed: the
    /// caller then finds the key's place again.
    pub(crate) fn share_before_split(
        &self,
        scratch: &mut Scratch,
        path: &[PathNode],
        in_leaf: InLeaf,
        cell: &[u8],
    ) -> Result<bool> {
        let Some(leaf_depth) = path.len().checked_sub(1).filter(|&depth| depth > 0) else {
            return Ok(false);
        };
        let leaf = path[leaf_depth];
        let cost = node::cell_cost(cell, true);
        if !Self::leaf_overflows(&leaf.header, in_leaf, cost) {
            return Ok(false);
        }
        let index = match in_leaf {
            InLeaf::Present(found) => found.index,
            InLeaf::Absent { index, .. } => index,
        };
        if index == leaf.header.count {
            return Ok(false);
        }
        // The sibling on the side away from the new entry, so that the
        // entries that move are not where the next inserts of an ascending
        // (or descending) run land: they would move on, page after page,
        // leaving each half full.
        let mut parent = path[leaf_depth - 1];
        let sibling_position = if index * 2 >= leaf.header.count {
            let Some(left) = parent.position.checked_sub(1) else {
                return Ok(false);
            };
            left
        } else if parent.position < parent.header.count {
            parent.position + 1
        } else {
            return Ok(false);
        };
        let sibling = {
            let guard = self.pager.shared(parent.page)?;
            node::child_at(&*guard, sibling_position)
                .map_err(|Restart| corrupt(parent.page, "bad cell"))?
        };
        let sibling_free = {
            let guard = self.pager.shared(sibling)?;
            let header =
                Header::read(&guard).map_err(|Restart| corrupt(sibling, "bad node header"))?;
            if !header.is_leaf() {
                return Err(corrupt(parent.page, "children of different kinds"));
            }
            header.free()
        };
        if leaf.header.free() + sibling_free < ROOM_IN_ENTRIES * cost {
            return Ok(false);
        }
        // The rebalance takes the pair from the parent's position: the
        // left sibling's, for the pair (left sibling, leaf).
        parent.position = parent.position.min(sibling_position);
        let mut pair_path: smallvec::SmallVec<[PathNode; 8]> = path.into();
        pair_path[leaf_depth - 1] = parent;
        let done = self.rebalance(scratch, &pair_path, leaf_depth, Cut::Even)?;
        if done == Rebalanced::Unchanged {
            return Ok(false);
        }
        Counters::add(&self.counters.shared_before_split);
        Ok(true)
    }
}

//! Defragmentation: pages packed full, left to right, level by level from
//! the leaves up. Each page takes what fits of its right sibling under the
//! same parent — all of it, merging the two and freeing the sibling, or
//! as many entries as fit, the sibling keeping the rest — and then the
//! sibling does the same with its own right sibling, so that every page of
//! a run of siblings but the last is as full as its entries allow (LMDB's
//! compacting copy and SQLite's VACUUM fill pages so). The last sibling
//! under a parent keeps at least a quarter page when it does not merge,
//! the fill a delete keeps. A tree thinned out by deletes (which merge a
//! page only once it is under a quarter full) goes back to full pages;
//! compaction runs this before moving pages out of the file's tail.
//!
//! Each step is one rebalance of the delete path, with its latching (the
//! parent and both pages exclusive, top-down, changed and released
//! together: readers see the pages before or after, and restart around
//! it) and its copy-on-write: pages are rebuilt in place and a freed one
//! goes back to the pager, so the next checkpoint holds the packed tree
//! and the one before it stays whole.

use keel_pager::{PageId, Restart};

use crate::delete::Rebalanced;
use crate::divide::Cut;
use crate::error::Result;
use crate::node::{self, Header};
use crate::tree::{BTree, PathNode, corrupt};

/// Passes [`BTree::defragment`] makes at most.
pub const DEFRAGMENT_PASSES_MAX: usize = 4;

impl BTree {
    /// Packs the tree's pages full: the leaves, then each level of inner
    /// pages from the lowest up, left to right, each page taking entries
    /// from its right sibling (under the same parent) until it is full or
    /// has merged the sibling, with the latching of a delete's rebalance
    /// (readers restart around it). Passes over the tree until one frees
    /// nothing (packed inner pages give pages new siblings under one
    /// parent), at most [`DEFRAGMENT_PASSES_MAX`]. It takes the writer's
    /// lock for one step at a time, so inserts and deletes go on between
    /// its steps. Returns the node pages freed (merged into a sibling, or
    /// a root's lone child taken up; the chains of long separators dropped
    /// or rewritten are not counted).
    ///
    /// Packed leaves are full: an insert into one splits it, as into any
    /// full leaf.
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

    /// One pass of [`BTree::defragment`]: the leaves, then the inner
    /// levels bottom-up.
    fn defragment_pass(&self) -> Result<u64> {
        let mut freed = self.pack_leaves()?;
        let (path, _) = self.path_to(&[])?;
        for depth in (1..path.len().saturating_sub(1)).rev() {
            freed += self.pack_inner_level(depth)?;
        }
        Ok(freed)
    }

    /// The cut that packs a node into its left sibling: as much as fits
    /// in `left_max` bytes, the right keeping one cell, or a quarter page
    /// when it is the last child of `parent` (no later step fills it).
    pub(crate) fn pack_cut(&self, parent: &PathNode, left_max: usize) -> Cut {
        let right_is_last = parent.position + 1 >= parent.header.count;
        Cut::PackLeft {
            left_max,
            right_min: if right_is_last {
                self.geometry.fill_bytes_min()
            } else {
                1
            },
        }
    }

    /// Packs the leaves left to right; returns the pages freed.
    fn pack_leaves(&self) -> Result<u64> {
        let usable = self.geometry.usable();
        let walk =
            self.pack_leaves_from(Vec::new(), usize::MAX, usize::MAX, usable, |leaf, _| {
                self.may_take_from(&leaf.header, leaf.header.link_1)
            })?;
        Ok(walk.0)
    }

    /// Walks the leaves right from the one holding `key` (the empty key:
    /// the first leaf), up to `leaves` of them: each leaf for which
    /// `worth(leaf, parent)` holds takes entries from its right sibling
    /// under the same parent, up to `left_max` bytes ([`BTree::pack_cut`]),
    /// and looks at the next sibling again after a merge, up to
    /// `merges_max` merges in a row. Returns the pages freed and the first
    /// key of the leaf it stopped at (`None` past the last leaf).
    pub(crate) fn pack_leaves_from(
        &self,
        mut key: Vec<u8>,
        leaves: usize,
        merges_max: usize,
        left_max: usize,
        worth: impl Fn(&PathNode, &PathNode) -> Result<bool>,
    ) -> Result<(u64, Option<Vec<u8>>)> {
        let mut freed = 0;
        let (mut walked, mut merges) = (0, 0);
        while walked < leaves && merges <= merges_max {
            // The writer's lock for one step at a time: writers go on in
            // between, and each step finds its path afresh.
            let mut scratch = self.writer.lock();
            scratch.leaf = None;
            let (path, _) = self.path_to(&key)?;
            let depth = path.len() - 1;
            let leaf = path[depth];
            let right = leaf.header.link_1;
            if depth == 0 || right == PageId::NONE {
                return Ok((freed, None));
            }
            let parent = path[depth - 1];
            if parent.position < parent.header.count && worth(&leaf, &parent)? {
                // A merge keeps this leaf (whose path stays valid) and looks
                // at it again; else the walk goes on with the sibling, from
                // its (new) first key.
                let cut = self.pack_cut(&parent, left_max);
                if let Rebalanced::Merged { freed: pages } =
                    self.rebalance(&mut scratch, &path, depth, cut)?
                {
                    freed += pages;
                    merges += 1;
                    continue;
                }
            }
            // Under the writer's lock: no writer frees `right` first.
            key = self.first_key(right)?;
            walked += 1;
            merges = 0;
        }
        Ok((freed, Some(key)))
    }

    /// Whether a leaf with `header` may have room for the first cell of
    /// leaf `right`: its free bytes and the bytes its prefix may save the
    /// cell reach the cell's cost (a rebalance that moves nothing changes
    /// nothing, so this only spares the latches).
    fn may_take_from(&self, header: &Header, right: PageId) -> Result<bool> {
        let guard = self.pager.shared(right)?;
        let cell =
            node::cell_bytes(&guard, true, 0).map_err(|Restart| corrupt(right, "bad cell"))?;
        Ok(header.free() + header.prefix_len >= node::cell_cost(&cell, true))
    }

    /// Packs the inner pages `depth` levels below the root, left to right;
    /// returns the pages freed. Stops early if the tree is no longer that
    /// deep (a root that collapsed).
    fn pack_inner_level(&self, depth: usize) -> Result<u64> {
        let mut freed = 0;
        // The page to look at is the one at `depth` on the path to `key`.
        let mut key: Vec<u8> = Vec::new();
        loop {
            // As for the leaves: the writer's lock for one step.
            let mut scratch = self.writer.lock();
            scratch.leaf = None;
            let (path, _) = self.path_to(&key)?;
            if depth + 1 >= path.len() {
                return Ok(freed);
            }
            let parent = path[depth - 1];
            if parent.position < parent.header.count {
                let done = self.rebalance(
                    &mut scratch,
                    &path,
                    depth,
                    self.pack_cut(&parent, self.geometry.usable()),
                )?;
                if let Rebalanced::Merged { freed: pages } = done {
                    freed += pages;
                    continue;
                }
                if done == Rebalanced::Shared {
                    // The separators on the path changed: find it again.
                    let (path, _) = self.path_to(&key)?;
                    match self.upper_bound(&path, depth)? {
                        Some(next) => key = next,
                        None => return Ok(freed),
                    }
                    continue;
                }
            }
            match self.upper_bound(&path, depth)? {
                Some(next) => key = next,
                None => return Ok(freed),
            }
        }
    }

    /// The least key above the keys of `path[depth]`'s subtree: the
    /// separator right of it in the nearest ancestor that has one; `None`
    /// for the last page of its level.
    fn upper_bound(&self, path: &[PathNode], depth: usize) -> Result<Option<Vec<u8>>> {
        let Some(ancestor) = path[..depth]
            .iter()
            .rev()
            .find(|node| node.position < node.header.count)
        else {
            return Ok(None);
        };
        let page = ancestor.page;
        let guard = self.pager.shared(page)?;
        let cell = node::cell_bytes(&guard, false, ancestor.position)
            .map_err(|Restart| corrupt(page, "bad cell"))?;
        Ok(Some(
            self.load_key(node::cell_key(&cell, false))?.into_owned(),
        ))
    }

    /// The first key of a leaf.
    pub(crate) fn first_key(&self, page: PageId) -> Result<Vec<u8>> {
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

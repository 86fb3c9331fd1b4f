//! Packing: runs of half-empty sibling leaves rewritten into fewer pages
//! before a checkpoint writes them (LeanStore's XMerge; WiredTiger packs
//! a page to its split percentage when it writes it out).
//!
//! A split leaves two half-full leaves, and a delete leaves a leaf as thin
//! as a quarter page before it merges. Random inserts into a tree so keep
//! it about two-thirds full at best, and much less where they fall on
//! full leaves (a bulk load, a compacted tree): 1M redb-shaped entries
//! (24-byte keys, 150-byte values) bulk-loaded, then 100,000 random
//! inserts, left 12.8 entries a page of 22. The writer remembers the keys
//! of the leaves it split or thinned; before a checkpoint, [`BTree::pack`]
//! looks at each such leaf, with its left sibling, and where `k + 1`
//! siblings under one parent hold what `k` pages hold at [`PACK_FILL`],
//! moves their entries left until the last merges (the delete path's
//! rebalance, step by step, with its latching and copy-on-write). Leaves
//! stay at most [`PACK_FILL`] full, so the inserts that follow land
//! without splitting at once.

use keel_pager::Restart;

use crate::bulk::BULK_FILL_DEFAULT;
use crate::error::Result;
use crate::node::{self, Header};
use crate::tree::{BTree, PathNode, corrupt};

/// The fill packing leaves pages at: the bulk load's.
pub const PACK_FILL: f64 = BULK_FILL_DEFAULT;

/// The most siblings a packing step looks at past a leaf: runs of up to
/// this many pages plus one go into one page fewer.
const WINDOW: usize = 8;

/// Leaves a pack walks past the left sibling of a remembered leaf.
const WALK: usize = WINDOW + 2;

/// Bytes of remembered keys (with a word each) past which the writer
/// stops remembering and the next pack walks every leaf instead.
const REMEMBERED_BYTES_MAX: usize = 4 << 20;

/// Leaves the writer split or thinned since the last pack.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    keys: Vec<Vec<u8>>,
    bytes: usize,
    /// Too many to remember: the next pack walks every leaf.
    all: bool,
}

impl Touched {
    /// Remembers that the leaf holding `key` split or thinned.
    pub(crate) fn note(&mut self, key: &[u8]) {
        if self.all {
            return;
        }
        self.bytes += key.len() + size_of::<Vec<u8>>();
        if self.bytes > REMEMBERED_BYTES_MAX {
            self.keys = Vec::new();
            self.all = true;
        } else {
            self.keys.push(key.to_vec());
        }
    }
}

impl BTree {
    /// Packs the leaves the writer split or thinned since the last call
    /// (see the module); returns the pages freed. Takes the writer's lock
    /// for one step at a time, so inserts and deletes go on in between.
    ///
    /// # Errors
    /// Pager errors; [`Error::Corrupt`](crate::Error::Corrupt).
    pub fn pack(&self) -> Result<u64> {
        let touched = std::mem::take(&mut self.writer.lock().touched);
        let target = self.pack_target();
        if touched.all {
            return Ok(self.pack_walk(Vec::new(), usize::MAX, target)?.0);
        }
        let mut keys = touched.keys;
        keys.sort_unstable();
        keys.dedup();
        let mut freed = 0;
        // The walk so far went past every key below this one.
        let mut walked_to: Option<Vec<u8>> = None;
        for key in keys {
            if walked_to.as_ref().is_some_and(|end| key < *end) {
                continue;
            }
            let start = self.left_sibling_key(&key)?.unwrap_or(key);
            let (pages, end) = self.pack_walk(start, WALK, target)?;
            freed += pages;
            walked_to = end;
        }
        Ok(freed)
    }

    /// The bytes a page holds packed: [`PACK_FILL`] of its usable bytes.
    fn pack_target(&self) -> usize {
        (self.geometry.usable() as f64 * PACK_FILL) as usize
    }

    /// A leaf a delete leaves with fewer bytes than this is remembered for
    /// the next pack: three such fit two packed pages.
    pub(crate) fn pack_thin_bytes(&self) -> usize {
        self.pack_target() * 2 / 3
    }

    /// Walks up to `leaves` leaves right from the one holding `start`,
    /// packing each run that fits a page fewer at `target` bytes a page;
    /// returns the pages freed and the first key of the leaf it stopped
    /// at (`None` at the last leaf).
    fn pack_walk(
        &self,
        start: Vec<u8>,
        leaves: usize,
        target: usize,
    ) -> Result<(u64, Option<Vec<u8>>)> {
        // A merge keeps the leaf and looks at it again: at most a run's
        // worth, as each frees a page of the run.
        self.pack_leaves_from(start, leaves, WINDOW, target, |_, parent| {
            self.run_fits(parent, target)
        })
    }

    /// Whether the run of siblings from child `parent.position` of
    /// `parent` fits a page fewer at `target` bytes a page, for some run
    /// of two to [`WINDOW`] + 1 pages, and the first is below `target`
    /// by more than its average entry (else it takes nothing).
    fn run_fits(&self, parent: &PathNode, target: usize) -> Result<bool> {
        let guard = self.pager.shared(parent.page)?;
        let bad = |Restart| corrupt(parent.page, "bad cell");
        let last = parent.header.count.min(parent.position + WINDOW);
        let mut used = 0;
        // An entry's bytes at most, as the run's largest average: cells
        // do not cut where bytes do.
        let mut entry = 0;
        for (pages, position) in (parent.position..=last).enumerate() {
            let child = node::child_at(&*guard, position).map_err(bad)?;
            let header = Header::read(&self.pager.shared(child)?)
                .map_err(|Restart| corrupt(child, "bad node header"))?;
            if !header.is_leaf() {
                return Err(corrupt(parent.page, "an inner page among leaves"));
            }
            let bytes = header.used(self.geometry.page_size);
            entry = entry.max(bytes / header.count.max(1));
            if pages == 0 && bytes + entry >= target {
                return Ok(false);
            }
            used += bytes;
            if pages > 0 && used + pages * entry <= pages * target {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The first key of the left sibling, under the same parent, of the
    /// leaf holding `key`; `None` for a parent's first child.
    fn left_sibling_key(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        // Under the writer's lock throughout: the sibling is as the path
        // saw it.
        let _writer = self.writer.lock();
        let (path, _) = self.path_to(key)?;
        let Some(parent) = path.len().checked_sub(2).map(|depth| path[depth]) else {
            return Ok(None);
        };
        let Some(position) = parent.position.checked_sub(1) else {
            return Ok(None);
        };
        let left = {
            let guard = self.pager.shared(parent.page)?;
            node::child_at(&*guard, position).map_err(|Restart| corrupt(parent.page, "bad cell"))?
        };
        Ok(Some(self.first_key(left)?))
    }
}

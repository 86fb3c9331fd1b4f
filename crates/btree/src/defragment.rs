//! Defragmentation: neighbouring leaves whose entries fit in one page are
//! merged, left to right, so that a tree thinned out by deletes (which
//! merge a leaf only once it is under a quarter full) goes back to full
//! pages. Compaction runs it before moving pages out of the file's tail.

use std::sync::atomic::Ordering;

use keel_pager::{PageId, Restart};

use crate::error::Result;
use crate::node::{self, Header};
use crate::tree::{BTree, corrupt};

impl BTree {
    /// Merges each leaf with its right sibling (under the same parent)
    /// while both fit in one page, with the same latching as a delete's
    /// merge (readers restart around it). Returns the pages freed.
    ///
    /// # Errors
    /// Pager errors; [`Error::Corrupt`](crate::Error::Corrupt).
    pub fn defragment(&self) -> Result<u64> {
        let mut scratch = self.writer.lock();
        scratch.leaf = None;
        let usable = self.geometry.usable();
        let page_size = self.geometry.page_size;
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
            let (right_used, right_first) = self.used_and_first_key(right)?;
            let same_parent = parent.position < parent.header.count;
            if same_parent && leaf.header.used(page_size) + right_used <= usable {
                // Merges right into this leaf (whose path stays valid), and
                // looks at the same leaf again; should the cells not fit
                // after all, the entries were only shared out: move on.
                let merges = self.counters.merges.load(Ordering::Relaxed);
                self.rebalance(&mut scratch, &path, depth)?;
                if self.counters.merges.load(Ordering::Relaxed) > merges {
                    freed += 1;
                    continue;
                }
            }
            key = right_first;
        }
    }

    /// The bytes a leaf uses and its first key.
    fn used_and_first_key(&self, page: PageId) -> Result<(usize, Vec<u8>)> {
        let guard = self.pager.shared(page)?;
        let bad = |Restart| corrupt(page, "bad cell");
        let header = Header::read(&guard).map_err(|Restart| corrupt(page, "bad node header"))?;
        if !header.is_leaf() || header.count == 0 {
            return Err(corrupt(page, "a sibling link to an empty or inner page"));
        }
        let (start, len) = node::key_at(&*guard, true, 0).map_err(bad)?;
        Ok((
            header.used(self.geometry.page_size),
            guard[start..start + len].to_vec(),
        ))
    }
}

//! The writer's insert: a leaf split propagating up to the root, which
//! splits in place; separators truncated; the append split.

use keel_pager::{ExclusiveGuard, PageId, Restart};

use crate::error::Result;
use crate::node::{self, Header, Kind, SLOT_BYTES, StoredValue};
use crate::overflow;
use crate::stats::Counters;
use crate::tree::{BTree, Cut, Division, InLeaf, Scratch, assert_divided, corrupt, divide};

impl BTree {
    /// Inserts `key` with `value`, replacing the value it had.
    ///
    /// # Errors
    /// [`Error::KeyTooLarge`], [`Error::ValueTooLarge`], pager errors
    /// (the tree is unchanged when one is returned).
    pub fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_key(key)?;
        Self::check_value(value)?;
        let mut scratch = self.writer.lock();
        let stored = if self.geometry.value_inline(key.len(), value.len()) {
            StoredValue::Inline(value)
        } else {
            StoredValue::Overflow {
                first: overflow::write(&self.pager, self.geometry, value)?,
                len: value.len(),
            }
        };
        let cell = node::leaf_cell(key, stored);
        match self.insert_cell(&mut scratch, key, &cell) {
            Ok(replaced) => {
                if let Some((first, len)) = replaced {
                    overflow::free(&self.pager, first, len)?;
                }
                Ok(())
            }
            Err(error) => {
                if let StoredValue::Overflow { first, len } = stored {
                    let _ = overflow::free(&self.pager, first, len);
                }
                Err(error)
            }
        }
    }

    /// Puts a leaf cell for `key`; returns the overflow chain of the value
    /// it replaced, for the caller to free once the latches are gone.
    fn insert_cell(
        &self,
        scratch: &mut Scratch,
        key: &[u8],
        cell: &[u8],
    ) -> Result<Option<(PageId, usize)>> {
        let cached = match scratch.leaf.take() {
            Some(cached) => self.path_through_cached(&cached, key)?,
            None => None,
        };
        let (path, in_leaf) = match cached {
            Some(found) => found,
            None => self.path_to(key)?,
        };
        let leaf_depth = path.len() - 1;
        let found = match in_leaf {
            InLeaf::Present(found) => Some(found),
            InLeaf::Absent { .. } => None,
        };
        let room =
            path[leaf_depth].header.free() + found.map_or(0, |found| found.cell_len + SLOT_BYTES);
        let splits = room < cell.len() + SLOT_BYTES;
        if !splits {
            // The next insert in key order likely lands here too; a split
            // changes the leaf and its ancestors, so it forgets the path.
            scratch.leaf = Some(path.clone());
        }
        // The highest page the change reaches: the leaf, or for a split the
        // lowest ancestor sure to take a separator without splitting.
        let mut top = leaf_depth;
        if splits {
            while top > 0 {
                top -= 1;
                if path[top].header.free() >= self.geometry.cell_bytes_max() {
                    break;
                }
            }
        }
        let mut guards = self.latch_all(path[top..].iter().map(|node| node.page))?;
        let mut fresh = Vec::new();
        let mut neighbour = None;
        if splits {
            // Everything a split may need is taken before anything changes,
            // so an error leaves the tree as it was.
            let right = path[leaf_depth].header.link_1;
            if leaf_depth > 0 && right != PageId::NONE {
                if path.iter().any(|node| node.page == right) {
                    return Err(corrupt(right, "a sibling link into the leaf's own path"));
                }
                neighbour = Some(self.pager.exclusive(right)?);
            }
            for _ in 0..(path.len() - top + 1) {
                match self.pager.allocate() {
                    Ok(guard) => fresh.push(guard),
                    Err(error) => {
                        for unused in fresh {
                            unused.free()?;
                        }
                        return Err(error.into());
                    }
                }
            }
        }
        let leaf_guard = guards.last_mut().ok_or(corrupt(self.root, "empty path"))?;
        let leaf_page = path[leaf_depth].page;
        // Only this writer changes the tree: the leaf is as the path saw it.
        let position = match in_leaf {
            InLeaf::Present(found) => {
                node::remove_cell(leaf_guard, found.index)
                    .map_err(|Restart| corrupt(leaf_page, "bad cell"))?;
                found.index
            }
            InLeaf::Absent { index } => index,
        };
        let mut pending = self.put_cell(
            leaf_guard,
            leaf_page,
            position,
            cell,
            leaf_depth == 0,
            &mut fresh,
            neighbour.as_mut(),
            scratch,
        )?;
        let mut depth = leaf_depth;
        while let Some((separator, right)) = pending.take() {
            depth = depth
                .checked_sub(1)
                .ok_or(corrupt(self.root, "split above the root"))?;
            if depth < top {
                return Err(corrupt(
                    path[top].page,
                    "split reached past the latched pages",
                ));
            }
            let guard = &mut guards[depth - top];
            let inner = node::inner_cell(&separator, right);
            pending = self.put_cell(
                guard,
                path[depth].page,
                path[depth].position,
                &inner,
                depth == 0,
                &mut fresh,
                None,
                scratch,
            )?;
        }
        for unused in fresh {
            unused.free()?;
        }
        Ok(found.and_then(|found| found.overflow))
    }

    /// Puts `cell` at `index` of `page` (latched as `guard`), splitting the
    /// page when it does not fit. Returns the separator and new right page
    /// the parent must take, or `None` (it fit, or the root split in place).
    #[allow(clippy::too_many_arguments)]
    fn put_cell(
        &self,
        guard: &mut ExclusiveGuard<'_>,
        page: PageId,
        index: usize,
        cell: &[u8],
        is_root: bool,
        fresh: &mut Vec<ExclusiveGuard<'_>>,
        neighbour: Option<&mut ExclusiveGuard<'_>>,
        scratch: &mut Scratch,
    ) -> Result<Option<(Vec<u8>, PageId)>> {
        let bad = |Restart| corrupt(page, "bad cell");
        if node::insert_cell(guard, index, cell, &mut scratch.page).map_err(bad)? {
            return Ok(None);
        }
        let header = Header::read(guard).map_err(|Restart| corrupt(page, "bad node header"))?;
        let leaf = header.is_leaf();
        let mut cells: Vec<Vec<u8>> = (0..header.count)
            .map(|i| node::cell_bytes(guard, leaf, i).map(<[u8]>::to_vec))
            .collect::<Result<_, _>>()
            .map_err(bad)?;
        cells.insert(index, cell.to_vec());
        let mut take = || {
            fresh
                .pop()
                .ok_or(corrupt(page, "split needs more pages than planned"))
        };
        let Division {
            low,
            high,
            separator,
            right_first,
        } = divide(
            &cells,
            leaf,
            page,
            self.geometry.usable(),
            if index + 1 == cells.len() {
                Cut::Appended
            } else {
                Cut::Even
            },
        )?;
        let (low, high) = (&cells[low], &cells[high]);
        let kind = header.kind;
        // The links of the (left, right) halves: a leaf's siblings (the pages
        // around the split page, and each other); an inner page's first child.
        let links = |left_id: PageId, right_id: PageId, outer_left: PageId, outer_right: PageId| {
            if leaf {
                ((outer_left, right_id), (left_id, outer_right))
            } else {
                ((header.link_0, PageId::NONE), (right_first, PageId::NONE))
            }
        };
        Counters::add(&self.counters.splits);
        if is_root {
            // The root keeps its page: its halves move into two new pages.
            let mut left = take()?;
            let mut right = take()?;
            let (left_id, right_id) = (left.page_id(), right.page_id());
            let ((left_0, left_1), (right_0, right_1)) =
                links(left_id, right_id, PageId::NONE, PageId::NONE);
            node::build(
                &mut left,
                kind,
                left_0,
                left_1,
                low.iter().map(Vec::as_slice),
            );
            node::build(
                &mut right,
                kind,
                right_0,
                right_1,
                high.iter().map(Vec::as_slice),
            );
            assert_divided(&left, &right, &separator, leaf);
            let root_cell = node::inner_cell(&separator, right_id);
            node::build(
                guard,
                Kind::Inner,
                left_id,
                PageId::NONE,
                [root_cell.as_slice()],
            );
            Counters::add(&self.counters.root_splits);
            return Ok(None);
        }
        let mut right = take()?;
        let right_id = right.page_id();
        let ((left_0, left_1), (right_0, right_1)) =
            links(page, right_id, header.link_0, header.link_1);
        node::build(
            &mut right,
            kind,
            right_0,
            right_1,
            high.iter().map(Vec::as_slice),
        );
        node::build(guard, kind, left_0, left_1, low.iter().map(Vec::as_slice));
        assert_divided(guard, &right, &separator, leaf);
        if let Some(neighbour) = neighbour {
            node::set_left(neighbour, right_id);
        }
        Ok(Some((separator, right_id)))
    }
}

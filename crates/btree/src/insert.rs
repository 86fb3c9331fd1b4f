//! The writer's insert: a leaf split propagating up to the root, which
//! splits in place; separators truncated; the append split; long keys'
//! chains written before anything changes.

use keel_pager::{ExclusiveGuard, PageId, Restart};

use crate::divide::{Cells, Cut, Division, collect_cells};
use crate::error::Result;
use crate::node::{self, Header, Kind, SLOT_BYTES, StoredValue};
use crate::overflow;
use crate::page_cells::PageCells;
use crate::stats::Counters;
use crate::tree::{BTree, InLeaf, PathNode, Scratch, corrupt};

impl BTree {
    /// Inserts `key` with `value`, replacing the value it had.
    ///
    /// # Errors
    /// [`crate::Error::KeyTooLarge`], [`crate::Error::ValueTooLarge`], pager errors
    /// (the tree is unchanged when one is returned).
    pub fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.insert_parts(key, &[], value)
    }

    /// Inserts `key` with the value `head ‖ body`, without joining the two
    /// first: a value in an overflow chain is written to it from where its
    /// parts are (a layer above keeps a few bytes of its own before a
    /// caller's value of up to 512 MiB).
    ///
    /// # Errors
    /// As [`BTree::insert`].
    pub fn insert_parts(&self, key: &[u8], head: &[u8], body: &[u8]) -> Result<()> {
        self.check_key(key)?;
        let len = head.len() + body.len();
        Self::check_value_len(len)?;
        let mut scratch = self.writer.lock();
        let key_field = self.geometry.key_field_len(key.len());
        let mut joined = std::mem::take(&mut scratch.value);
        let stored = if self.geometry.value_inline(key_field, len) {
            joined.clear();
            joined.extend_from_slice(head);
            joined.extend_from_slice(body);
            StoredValue::Inline(&joined)
        } else {
            StoredValue::Overflow {
                first: overflow::write_parts(&self.pager, self.geometry, head, body)?,
                len,
            }
        };
        let inserted = self.insert_entry(&mut scratch, key, stored);
        let chain = match stored {
            StoredValue::Overflow { first, len } => Some((first, len)),
            StoredValue::Inline(_) => None,
        };
        scratch.value = joined;
        match inserted {
            Ok(replaced) => {
                if let Some((first, len)) = replaced {
                    overflow::free(&self.pager, first, len)?;
                }
                Ok(())
            }
            Err(error) => {
                if let Some((first, len)) = chain {
                    let _ = overflow::free(&self.pager, first, len);
                }
                Err(error)
            }
        }
    }

    /// Puts `key` with its stored value into its leaf; returns the overflow
    /// chain of the value it replaced, for the caller to free once the
    /// latches are gone. A long key already in the tree keeps its chain
    /// (the key is the same); a new one writes its chain first.
    fn insert_entry(
        &self,
        scratch: &mut Scratch,
        key: &[u8],
        value: StoredValue<'_>,
    ) -> Result<Option<(PageId, usize)>> {
        // The last insert's path, reused when its leaf holds `key`'s place
        // (a fold's next key), else refilled from the root: one buffer.
        let mut path = scratch.leaf.take().unwrap_or_default();
        let in_leaf = match self.path_through_cached(&mut path, key)? {
            Some(in_leaf) => in_leaf,
            None => self.path_into(key, &mut path)?,
        };
        let found = match in_leaf {
            InLeaf::Present(found) => Some(found),
            InLeaf::Absent { .. } => None,
        };
        let (key_chain, written) = match found.and_then(|found| found.key_chain) {
            Some(chain) => (Some(chain), None),
            None => {
                let chain = self.write_key_chain(key)?;
                (chain, chain)
            }
        };
        let mut cell = std::mem::take(&mut scratch.cell);
        node::leaf_cell_into(Self::stored_key(key, key_chain), value, &mut cell);
        let inserted = self.insert_cell(scratch, &path, in_leaf, &cell);
        scratch.cell = cell;
        match inserted {
            Ok(split) => {
                if split {
                    scratch.touched.note(key);
                } else {
                    // The next insert in key order likely lands here too; a
                    // split changes the leaf and its ancestors, so it forgets
                    // the path.
                    scratch.leaf = Some(path);
                }
                Ok(found.and_then(|found| found.overflow))
            }
            Err(error) => {
                if let Some(chain) = written {
                    let _ = self.free_key_chain(chain);
                }
                Err(error)
            }
        }
    }

    /// Puts a leaf cell where `in_leaf` says, along `path`; returns whether
    /// the leaf split.
    fn insert_cell(
        &self,
        scratch: &mut Scratch,
        path: &[PathNode],
        in_leaf: InLeaf,
        cell: &[u8],
    ) -> Result<bool> {
        let leaf_depth = path.len() - 1;
        let header = path[leaf_depth].header;
        let cost = node::cell_cost(cell, true);
        // A new key may share less of the leaf's prefix, and so grow every
        // cell; a replaced one shares all of it.
        let splits = match in_leaf {
            InLeaf::Present(found) => {
                header.free() + found.cell_len + SLOT_BYTES < cost.saturating_sub(header.prefix_len)
            }
            InLeaf::Absent { shared, .. } => header.free() < header.growth(cost, shared),
        };
        // Whether the page at `depth` takes the cell a split below it
        // gives without splitting: the leaf's separator (bounded by its
        // keys), or an inner page's cell moving up (any cell, whatever its
        // key shares of the prefix).
        let parent_takes = splits && leaf_depth > 0 && self.parent_takes_separator(path, cell)?;
        let takes = |depth: usize| {
            (depth + 1 == leaf_depth && parent_takes)
                || path[depth].header.free_for_any_key() >= self.geometry.cell_bytes_max()
        };
        // The highest page the change reaches: the leaf, or for a split the
        // lowest ancestor sure to take a separator without splitting.
        let mut top = leaf_depth;
        if splits {
            while top > 0 {
                top -= 1;
                if takes(top) {
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
            // A page for each level below `top` (each may split), and two
            // for the root when the split may reach it (it splits in place,
            // into two new pages): none spare, as each costs a frame
            // cleared and then freed.
            let root_splits = top == 0 && (leaf_depth == 0 || !takes(0));
            let pages = leaf_depth - top + if root_splits { 2 } else { 0 };
            for _ in 0..pages {
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
        let (position, replace) = match in_leaf {
            InLeaf::Present(found) => (found.index, true),
            InLeaf::Absent { index, .. } => (index, false),
        };
        // The leaf's split writes a long separator's chain before it changes
        // anything: if that fails, the tree is as it was.
        let mut pending = match self.put_cell(
            leaf_guard,
            leaf_page,
            position,
            replace,
            cell,
            leaf_depth == 0,
            &mut fresh,
            neighbour.as_mut(),
            scratch,
        ) {
            Ok(pending) => pending,
            Err(error) => {
                for unused in fresh {
                    let _ = unused.free();
                }
                return Err(error);
            }
        };
        let mut depth = leaf_depth;
        while let Some(inner) = pending.take() {
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
            pending = self.put_cell(
                guard,
                path[depth].page,
                path[depth].position,
                false,
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
        Ok(splits)
    }

    /// Whether the leaf's parent on `path` surely takes the separator a
    /// split of the leaf with `cell` put in gives it. The separator is a
    /// start of the first key of the right half, longer than the start
    /// all the leaf's keys (`cell`'s too) share: no longer than the
    /// longest key, and sharing with the parent's prefix at least what
    /// that common start does. Most parents then neither are latched nor
    /// get a page in case they split, where the bound for any key (which
    /// may share none of the prefix: every cell of the parent would grow)
    /// held few. False when a key is long (a long separator comes from the
    /// keys' chains).
    fn parent_takes_separator(&self, path: &[PathNode], cell: &[u8]) -> Result<bool> {
        let key = node::cell_key(cell, true);
        if key.chain().is_some() {
            return Ok(false);
        }
        let leaf = path[path.len() - 1].page;
        let guard = self.pager.shared(leaf)?;
        let bad = |Restart| corrupt(leaf, "bad node header");
        let header = Header::read(&guard).map_err(bad)?;
        let (offset, len) = node::prefix(&*guard).map_err(bad)?;
        let leaf_prefix = guard
            .get(offset..offset + len)
            .ok_or(corrupt(leaf, "bad prefix"))?;
        let mut longest = key.local().len();
        for index in 0..header.count {
            let slot = node::slot(&*guard, index).map_err(bad)?;
            if slot.is_long() {
                return Ok(false);
            }
            longest = longest.max(len + slot.remainder());
        }
        if longest > self.geometry.key_inline_max() {
            // Only a damaged page holds such a key outside a chain.
            return Ok(false);
        }
        let common = &leaf_prefix[..node::prefix_kept(leaf_prefix, key.local())];
        let parent = path[path.len() - 2];
        let guard = self.pager.shared(parent.page)?;
        let (offset, len) =
            node::prefix(&*guard).map_err(|Restart| corrupt(parent.page, "bad node header"))?;
        let parent_prefix = guard
            .get(offset..offset + len)
            .ok_or(corrupt(parent.page, "bad prefix"))?;
        // The separator is at least one byte longer than `common`, and a
        // key keeps its head out of the prefix.
        let shared = node::common_len(parent_prefix, common).min(node::tail_len(common.len() + 1));
        let cost = self.geometry.separator_cost(longest);
        Ok(parent.header.free() >= parent.header.growth(cost, shared))
    }

    /// Puts `cell` at `index` of `page` (latched as `guard`) — in place of
    /// the cell there if `replace` — splitting the page when it does not
    /// fit. Returns the cell the parent must take for the new right page,
    /// or `None` (it fit, or the root split in place).
    #[allow(clippy::too_many_arguments)]
    fn put_cell(
        &self,
        guard: &mut ExclusiveGuard<'_>,
        page: PageId,
        index: usize,
        replace: bool,
        cell: &[u8],
        is_root: bool,
        fresh: &mut Vec<ExclusiveGuard<'_>>,
        neighbour: Option<&mut ExclusiveGuard<'_>>,
        scratch: &mut Scratch,
    ) -> Result<Option<Vec<u8>>> {
        let bad = |Restart| corrupt(page, "bad cell");
        let header = Header::read(guard).map_err(|Restart| corrupt(page, "bad node header"))?;
        let leaf = header.is_leaf();
        if replace {
            if node::replace_cell(guard, index, cell, &mut scratch.page).map_err(bad)? {
                return Ok(None);
            }
            let old = node::cell_len(guard, leaf, index).map_err(bad)? + SLOT_BYTES;
            let new = node::cell_cost(cell, leaf).saturating_sub(header.prefix_len);
            if header.free() + old >= new {
                node::remove_cell(guard, index).map_err(bad)?;
                if !node::insert_cell(guard, index, cell, &mut scratch.page).map_err(bad)? {
                    return Err(corrupt(page, "a cell did not fit after room was checked"));
                }
                return Ok(None);
            }
        } else if node::insert_cell(guard, index, cell, &mut scratch.page).map_err(bad)? {
            return Ok(None);
        }
        // The cell at the end of the page's cells, whether it went in
        // after them or replaced the last.
        let appended = index + 1 == header.count + usize::from(!replace);
        let mut source = std::mem::take(&mut scratch.source);
        source.clear();
        source.extend_from_slice(guard);
        let split = Split {
            page,
            header,
            appended,
            is_root,
        };
        let result = match PageCells::of(&source, &header, index, replace, cell).map_err(bad)? {
            Some(cells) => self.split(guard, &split, &cells, fresh, neighbour),
            None => {
                let cells = loose_cells(&source, &split, index, replace, cell)?;
                self.split(guard, &split, &cells[..], fresh, neighbour)
            }
        };
        scratch.source = source;
        result
    }

    /// Splits the page `split` describes (latched as `guard`, its cells
    /// with the new one `cells`) in two, as [`BTree::put_cell`] does.
    fn split<C: Cells + ?Sized>(
        &self,
        guard: &mut ExclusiveGuard<'_>,
        split: &Split,
        cells: &C,
        fresh: &mut Vec<ExclusiveGuard<'_>>,
        neighbour: Option<&mut ExclusiveGuard<'_>>,
    ) -> Result<Option<Vec<u8>>> {
        let Split {
            page,
            header,
            appended,
            is_root,
        } = *split;
        let leaf = header.is_leaf();
        let Division {
            low,
            high,
            separator,
            right_first,
        } = self.divide(
            cells,
            leaf,
            page,
            if appended { Cut::Appended } else { Cut::Even },
            None,
        )?;
        // Made before anything changes: a long separator's chain is the
        // one write here that may fail.
        let (up, written) = self.separator_cell(&separator, PageId::NONE)?;
        let mut take = || {
            fresh.pop().ok_or_else(|| {
                if let Some(chain) = written {
                    let _ = self.free_key_chain(chain);
                }
                corrupt(page, "split needs more pages than planned")
            })
        };
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
            let (left_links, right_links) = links(left_id, right_id, PageId::NONE, PageId::NONE);
            cells.build(&mut left, kind, left_links, low);
            cells.build(&mut right, kind, right_links, high);
            let root_cell = node::with_child(&up, right_id);
            self.assert_divided(&left, &right, &root_cell, leaf)?;
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
        let (left_links, right_links) = links(page, right_id, header.link_0, header.link_1);
        cells.build(&mut right, kind, right_links, high);
        cells.build(guard, kind, left_links, low);
        let up = node::with_child(&up, right_id);
        self.assert_divided(guard, &right, &up, leaf)?;
        if let Some(neighbour) = neighbour {
            node::set_left(neighbour, right_id);
        }
        Ok(Some(up))
    }
}

/// What a split needs to know of the page it divides.
struct Split {
    page: PageId,
    header: Header,
    /// The new cell went after every other one.
    appended: bool,
    is_root: bool,
}

/// The cells of the page `split` describes (a copy, `source`) with loose
/// `cell` as cell `index` — in place of the cell there if `replace` —
/// each decoded into a loose cell: for a new key that shortens the page's
/// prefix (see [`PageCells`]).
fn loose_cells(
    source: &[u8],
    split: &Split,
    index: usize,
    replace: bool,
    cell: &[u8],
) -> Result<Vec<Vec<u8>>> {
    let mut cells = collect_cells(source, split.page, split.header)?;
    if replace {
        *cells
            .get_mut(index)
            .ok_or(corrupt(split.page, "bad cell"))? = cell.to_vec();
    } else if index <= cells.len() {
        cells.insert(index, cell.to_vec());
    } else {
        return Err(corrupt(split.page, "bad cell"));
    }
    Ok(cells)
}

//! The writer's delete: a leaf left under a quarter full merges with a
//! sibling or shares entries with it; a root left with one child takes
//! its contents back. A long key's chain goes with its cell: freed when
//! the cell is, carried along when the cell moves.

use keel_pager::{ExclusiveGuard, PageId, Restart};

use crate::divide::{Cut, Division, Room, collect_cells};
use crate::error::Result;
use crate::node::{self, Header, KeyChain};
use crate::overflow;
use crate::stats::Counters;
use crate::tree::{BTree, InLeaf, PathNode, Scratch, corrupt};

impl BTree {
    /// Removes `key`; returns whether it was present.
    ///
    /// # Errors
    /// Pager errors; [`crate::Error::Corrupt`].
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        if key.len() > self.key_bytes_max() {
            return Ok(false);
        }
        let mut scratch = self.writer.lock();
        scratch.leaf = None;
        let (path, in_leaf) = self.path_to(key)?;
        let leaf_depth = path.len() - 1;
        let leaf_page = path[leaf_depth].page;
        let InLeaf::Present(found) = in_leaf else {
            return Ok(false);
        };
        let used = {
            let mut guard = self.pager.exclusive(leaf_page)?;
            node::remove_cell(&mut guard, found.index)
                .map_err(|Restart| corrupt(leaf_page, "bad cell"))?;
            Header::read(&guard)
                .map_err(|Restart| corrupt(leaf_page, "bad node header"))?
                .used(self.geometry.page_size)
        };
        if let Some((first, len)) = found.overflow {
            overflow::free(&self.pager, first, len)?;
        }
        if let Some(chain) = found.key_chain {
            self.free_key_chain(chain)?;
        }
        if leaf_depth > 0 && used < self.geometry.fill_bytes_min() {
            self.rebalance(&mut scratch, &path, leaf_depth, Cut::Even)?;
        } else if leaf_depth > 0 && used < self.pack_thin_bytes() {
            scratch.touched.note(key);
        }
        Ok(true)
    }

    /// Fixes an underfull node at `path[depth]` by merging it with a
    /// sibling, or else sharing entries out with it as `cut` says; repeats
    /// upwards while a merge leaves the parent underfull, and shrinks the
    /// tree when the root is left with one child. The chains of long
    /// separators it removed are freed once the pages are released.
    /// Returns what it did to `path[depth]` and its sibling.
    pub(crate) fn rebalance(
        &self,
        scratch: &mut Scratch,
        path: &[PathNode],
        depth: usize,
        cut: Cut,
    ) -> Result<Rebalanced> {
        let mut removed = Vec::new();
        let result = self.rebalance_pages(scratch, path, depth, cut, &mut removed);
        for chain in removed {
            self.free_key_chain(chain)?;
        }
        result
    }

    fn rebalance_pages(
        &self,
        scratch: &mut Scratch,
        path: &[PathNode],
        mut depth: usize,
        cut: Cut,
        removed: &mut Vec<KeyChain>,
    ) -> Result<Rebalanced> {
        // What happened at the first level (a merge may go on upwards).
        let mut outcome = Rebalanced::Unchanged;
        while depth > 0 {
            let parent = path[depth - 1];
            let parent_id = parent.page;
            let count = parent.header.count;
            // The node merges with its right sibling, or the last child with
            // its left one: `left` is child `position`, `right` the next.
            let position = path[depth - 1].position;
            let left_position = if position < count {
                position
            } else {
                position.saturating_sub(1)
            };
            if count == 0 {
                return Ok(outcome);
            }
            let mut parent_guard = self.pager.exclusive(parent_id)?;
            let bad_parent = |Restart| corrupt(parent_id, "bad cell");
            let left_id = node::child_at(&*parent_guard, left_position).map_err(bad_parent)?;
            let right_id = node::child_at(&*parent_guard, left_position + 1).map_err(bad_parent)?;
            let separator_cell =
                node::cell_bytes(&parent_guard, false, left_position).map_err(bad_parent)?;
            if left_id == right_id || left_id == parent_id || right_id == parent_id {
                return Err(corrupt(parent_id, "a child listed twice"));
            }
            let mut left = self.pager.exclusive(left_id)?;
            let mut right = self.pager.exclusive(right_id)?;
            let left_header =
                Header::read(&left).map_err(|Restart| corrupt(left_id, "bad node header"))?;
            let right_header =
                Header::read(&right).map_err(|Restart| corrupt(right_id, "bad node header"))?;
            if left_header.kind != right_header.kind {
                return Err(corrupt(parent_id, "children of different kinds"));
            }
            let leaf = left_header.is_leaf();
            let mut cells = collect_cells(&left, left_id, left_header)?;
            if !leaf {
                // The parent's separator comes down over the right node's
                // first child.
                cells.push(node::with_child(&separator_cell, right_header.link_0));
            }
            cells.extend(collect_cells(&right, right_id, right_header)?);
            let usable = self.geometry.usable();
            if node::cells_bytes(cells.iter().map(Vec::as_slice), leaf) <= usable {
                // Merge right into left.
                Counters::add(&self.counters.merges);
                outcome = match outcome {
                    Rebalanced::Merged { freed } => Rebalanced::Merged { freed: freed + 1 },
                    _ => Rebalanced::Merged { freed: 1 },
                };
                let mut far = None;
                if leaf && right_header.link_1 != PageId::NONE {
                    if [left_id, right_id, parent_id].contains(&right_header.link_1) {
                        return Err(corrupt(right_id, "a sibling link that loops"));
                    }
                    far = Some(self.pager.exclusive(right_header.link_1)?);
                }
                node::build(
                    &mut left,
                    left_header.kind,
                    left_header.link_0,
                    if leaf {
                        right_header.link_1
                    } else {
                        PageId::NONE
                    },
                    cells.iter().map(Vec::as_slice),
                );
                if let Some(far) = far.as_mut() {
                    node::set_left(far, left_id);
                }
                drop(far);
                node::remove_cell(&mut parent_guard, left_position).map_err(bad_parent)?;
                if leaf {
                    removed.extend(node::cell_key(&separator_cell, false).chain());
                }
                right.free()?;
                drop(left);
                let parent_header = Header::read(&parent_guard)
                    .map_err(|Restart| corrupt(parent_id, "bad node header"))?;
                if depth - 1 == 0 {
                    if parent_header.count == 0 {
                        self.collapse_root(&mut parent_guard, left_id)?;
                        if let Rebalanced::Merged { freed } = &mut outcome {
                            *freed += 1;
                        }
                    }
                    return Ok(outcome);
                }
                if parent_header.used(self.geometry.page_size) >= self.geometry.fill_bytes_min() {
                    return Ok(outcome);
                }
                drop(parent_guard);
                depth -= 1;
                continue;
            }
            // Too much for one page: share the entries out, with a
            // separator the parent has room for.
            let room = Room::replacing(&parent_guard, left_position).map_err(bad_parent)?;
            let Division {
                low,
                high,
                separator: new_separator,
                right_first,
            } = self.divide(&cells[..], leaf, left_id, cut, Some(&room))?;
            if low.end == left_header.count {
                // The cut is where the pages already divide (an inner
                // page's separator would go back up): nothing moves.
                return Ok(outcome);
            }
            let (low, high) = (&cells[low], &cells[high]);
            if !self.separator_fits(&room, &new_separator) {
                // No cut gives a separator the parent has room for: leave
                // the node underfull.
                return Ok(outcome);
            }
            Counters::add(&self.counters.rebalances);
            if outcome == Rebalanced::Unchanged {
                outcome = Rebalanced::Shared;
            }
            // Before anything changes: a long separator's chain is written.
            let (new_cell, _) = self.separator_cell(&new_separator, right_id)?;
            let (left_link_1, right_link_0) = if leaf {
                (right_id, left_id)
            } else {
                (PageId::NONE, right_first)
            };
            // The cells are copies: both pages are rebuilt in place.
            node::build(
                &mut left,
                left_header.kind,
                left_header.link_0,
                left_link_1,
                low.iter().map(Vec::as_slice),
            );
            node::build(
                &mut right,
                right_header.kind,
                right_link_0,
                right_header.link_1,
                high.iter().map(Vec::as_slice),
            );
            self.assert_divided(&left, &right, &new_cell, leaf)?;
            node::remove_cell(&mut parent_guard, left_position).map_err(bad_parent)?;
            if leaf {
                // The old separator is replaced (an inner page's came down
                // into the cells shared out).
                removed.extend(node::cell_key(&separator_cell, false).chain());
            }
            if !node::insert_cell(
                &mut parent_guard,
                left_position,
                &new_cell,
                &mut scratch.page,
            )
            .map_err(bad_parent)?
            {
                return Err(corrupt(
                    parent_id,
                    "separator did not fit after room was checked",
                ));
            }
            return Ok(outcome);
        }
        Ok(outcome)
    }

    /// The root holds one child and no separator: the child's contents move
    /// up into the root and the child is freed (the tree shrinks a level).
    fn collapse_root(&self, root: &mut ExclusiveGuard<'_>, child: PageId) -> Result<()> {
        if child == self.root {
            return Err(corrupt(child, "the root is its own child"));
        }
        let child_guard = self.pager.exclusive(child)?;
        root.copy_from_slice(&child_guard);
        let header = Header::read(root).map_err(|Restart| corrupt(child, "bad node header"))?;
        if header.is_leaf() {
            node::set_left(root, PageId::NONE);
            node::set_right(root, PageId::NONE);
        }
        child_guard.free()?;
        Counters::add(&self.counters.root_collapses);
        Ok(())
    }
}

/// What [`BTree::rebalance`] did to a node and its sibling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rebalanced {
    /// Nothing: the cut was where the pages divide already, or no
    /// separator for another fitted the parent.
    Unchanged,
    /// The right page merged into the left and was freed, and `freed`
    /// pages in all were (the merges it led to upwards, and a root's lone
    /// child taken up, included).
    Merged {
        /// Node pages freed.
        freed: u64,
    },
    /// Entries moved between the two.
    Shared,
}

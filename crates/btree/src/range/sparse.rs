//! A leaf copied in part: only what a cursor's next batch reads of it.
//!
//! A fill used to copy its whole leaf and search the copy. A short range
//! reads a dozen entries of a leaf of a hundred or more (a 16 KiB leaf of
//! redb-shaped entries holds ~85): the copy was most of its cost, and at
//! 16 KiB pages most of the range's time (a page's 256 cache lines from
//! memory, against ~40 for the batch). So the leaf is searched in place,
//! through the optimistic view, and only the header, the batch's slots, the
//! page prefix and the batch's cells are copied, each to its offset in the
//! page-sized buffer, and the batch's window is taken in the same pass
//! (what [`Cursor::collect`] takes from a whole copy). The copy, and the
//! window, are kept only once the leaf's version validates, like a whole
//! copy. A leaf where a search ties with a
//! long key's prefix, or whose batch holds a long key, is copied whole
//! (their chains are settled from the copy), and so is a small page or a
//! leaf of few entries ([`WHOLE_COPY_PAGE_BYTES`], [`WHOLE_COPY_BATCHES`]).

use keel_pager::{OptimisticGuard, PageView, Restart};

use super::batch::Start;
use super::{Bounds, Collected, Cursor, Direction, Slot, SlotValue, narrow};
use crate::node::{self, Kind, ValueAt};

/// What [`Cursor::copy_leaf`] copied.
#[derive(Debug, Clone, Copy)]
pub(super) enum Copied {
    /// The batch's part of the leaf, its window taken.
    Window(Collected),
    /// The whole leaf: [`Cursor::collect`] takes the window from `start`.
    Whole(Start),
}

/// A leaf of at most this many batches is copied whole: the batch is most
/// of it.
const WHOLE_COPY_BATCHES: usize = 2;

/// A leaf of a page up to this size is copied whole. Measured on
/// redb-shaped entries (24-byte keys, 150-byte values; a range of 10,
/// ns per warm range, min of alternated runs): 4 KiB pages (~22 entries
/// a leaf) 1581 whole, 2002 in part; 8 KiB (~44) 1784 whole, 1867 in
/// part; 16 KiB (~88) 2350 whole, 1724 in part. One streamed copy of a
/// small page costs less than the search's dependent reads in place.
const WHOLE_COPY_PAGE_BYTES: usize = 8 << 10;

impl Cursor<'_> {
    /// Copies the leaf of `guard` into `buffer` (a page long) for this
    /// cursor's next batch: in part, its window taken, where it can; whole
    /// where it cannot.
    pub(super) fn copy_leaf(
        &mut self,
        bounds: &Bounds,
        guard: &OptimisticGuard<'_>,
        start: Start,
        buffer: &mut [u8],
    ) -> Result<Copied, Restart> {
        self.window.clear();
        self.long_keys.clear();
        guard.read(|view| match self.copy_batch(bounds, view, start, buffer)? {
            Some(collected) => Ok(Copied::Window(collected)),
            None => {
                self.window.clear();
                view.copy_to(0, buffer)?;
                Ok(Copied::Whole(start))
            }
        })
    }

    /// Copies what the batch from `start` reads of the leaf `view` into
    /// `buffer` at the same offsets, and takes its window (its keys' parts
    /// as [`Cursor::collect`] leaves them, to be made whole). `None` where
    /// a whole copy is needed: a small leaf, a search tied with a long
    /// key's prefix, or a long key in the batch.
    fn copy_batch(
        &mut self,
        bounds: &Bounds,
        view: &PageView<'_>,
        start: Start,
        buffer: &mut [u8],
    ) -> Result<Option<Collected>, Restart> {
        if view.len() <= WHOLE_COPY_PAGE_BYTES {
            return Ok(None);
        }
        if node::kind(view)? != Some(Kind::Leaf) {
            return Err(Restart);
        }
        let count = node::count(view)?;
        if count <= self.budget.saturating_mul(WHOLE_COPY_BATCHES) {
            return Ok(None);
        }
        let entries = match start {
            Start::Rest(rest) if rest.high <= count => rest,
            Start::Rest(_) => return Err(Restart),
            Start::Seek | Start::Edge => {
                let from_edge = start == Start::Edge;
                let found = self.leaf_entries(bounds, count, from_edge, |key| {
                    Ok::<_, Restart>(match node::search(view, true, count, key)? {
                        Err(node::TIED) => None,
                        found => Some(found),
                    })
                })?;
                match found {
                    Some(entries) => entries,
                    None => return Ok(None),
                }
            }
        };
        copy_span(view, 0, node::HEADER_BYTES, buffer)?;
        let forward = self.direction == Direction::Forward;
        let sibling = if forward {
            node::link_1(&buffer[..])?
        } else {
            node::link_0(&buffer[..])?
        };
        let (batch, rest) = entries.cut(self.direction, self.budget);
        let collected = Collected {
            rest,
            reached_limit: entries.reached_limit,
            sibling,
            whole: false,
        };
        if batch.low == batch.high {
            return Ok(Some(collected));
        }
        let slots = node::HEADER_BYTES + batch.low * node::SLOT_BYTES;
        copy_span(
            view,
            slots,
            (batch.high - batch.low) * node::SLOT_BYTES,
            buffer,
        )?;
        let (prefix_offset, prefix_len) = node::prefix(&buffer[..])?;
        copy_span(view, prefix_offset, prefix_len, buffer)?;
        // The batch's cells, in the cursor's direction, adjacent ones
        // copied together (a leaf written in key order holds its cells in
        // order).
        let mut span = (0, 0);
        for step in 0..batch.high - batch.low {
            let index = if forward {
                batch.low + step
            } else {
                batch.high - 1 - step
            };
            let slot = node::slot(&buffer[..], index)?;
            if slot.is_long() {
                return Ok(None);
            }
            let key_offset = slot.cell + node::LEAF_CELL_HEADER_BYTES;
            let (value, end) = match node::value_in_cell(view, slot.cell, slot.word)? {
                ValueAt::Inline { offset, len } => (
                    SlotValue::Inline(narrow(offset)?, narrow(len)?),
                    offset + len,
                ),
                ValueAt::Overflow { first, len } => (
                    SlotValue::Chain(first, len),
                    key_offset + node::tail_len(slot.remainder()) + node::VALUE_REF_BYTES,
                ),
            };
            self.window.push(Slot {
                key_offset: narrow(key_offset)?,
                key_len: u32::from(slot.word),
                head: slot.head,
                value,
            });
            if slot.cell == span.1 {
                span.1 = end;
            } else if end == span.0 {
                span.0 = slot.cell;
            } else {
                copy_span(view, span.0, span.1 - span.0, buffer)?;
                span = (slot.cell, end);
            }
        }
        copy_span(view, span.0, span.1 - span.0, buffer)?;
        Ok(Some(collected))
    }
}

/// Copies the `len` bytes at `offset` of `view` to the same place in
/// `buffer`.
#[inline]
fn copy_span(
    view: &PageView<'_>,
    offset: usize,
    len: usize,
    buffer: &mut [u8],
) -> Result<(), Restart> {
    let end = offset.checked_add(len).ok_or(Restart)?;
    view.copy_to(offset, buffer.get_mut(offset..end).ok_or(Restart)?)
}

//! A leaf copied in part: only what a cursor's next batch reads of it.
//!
//! A fill used to copy its whole leaf and search the copy. A short range
//! reads a dozen entries of a leaf of a hundred or more (a 16 KiB leaf of
//! redb-shaped entries holds ~85): the copy was most of its cost, and at
//! 16 KiB pages most of the range's time (a page's 256 cache lines from
//! memory, against ~40 for the batch). So the leaf is searched in place,
//! through the optimistic view, and only the header, the batch's slots, the
//! page prefix and the batch's cells are copied, each to its offset in the
//! page-sized buffer: [`Cursor::collect`] then reads the buffer as it read
//! a whole copy (it reads nothing else of it). The copy is validated with
//! the leaf's version like a whole one. A leaf where a search ties with a
//! long key's prefix, or whose batch holds a long key, is copied whole
//! (their chains are settled from the copy).

use keel_pager::{OptimisticGuard, PageView, Restart};

use super::batch::{Rest, Start};
use super::{Bounds, Cursor};
use crate::node::{self, Kind, ValueAt};

/// A leaf of at most this many batches is copied whole (measured on
/// redb-shaped entries: a 4 KiB leaf, ~22 entries, read faster copied
/// whole; a 16 KiB one, ~85, in part).
const WHOLE_COPY_BATCHES: usize = 2;

impl Cursor<'_> {
    /// Copies the leaf of `guard` into `buffer` (a page long) for a
    /// [`Cursor::collect`] from `start`: in part where it can, whole where
    /// it cannot. Returns where the collect starts: the batch's entries
    /// found here (a partial copy), or `start` (a whole one).
    pub(super) fn copy_leaf(
        &self,
        bounds: &Bounds,
        guard: &OptimisticGuard<'_>,
        start: Start,
        buffer: &mut [u8],
    ) -> Result<Start, Restart> {
        guard.read(|view| match self.copy_batch(bounds, view, start, buffer)? {
            Some(entries) => Ok(Start::Rest(entries)),
            None => {
                view.copy_to(0, buffer)?;
                Ok(start)
            }
        })
    }

    /// Copies what a collect from `start` reads of the leaf `view` into
    /// `buffer` at the same offsets, and returns the leaf's entries for the
    /// cursor (all of them; the collect cuts the same batch from them).
    /// `None` where a whole copy is needed: a search tied with a long key's
    /// prefix, or the batch holds a long key.
    fn copy_batch(
        &self,
        bounds: &Bounds,
        view: &PageView<'_>,
        start: Start,
        buffer: &mut [u8],
    ) -> Result<Option<Rest>, Restart> {
        if node::kind(view)? != Some(Kind::Leaf) {
            return Err(Restart);
        }
        let count = node::count(view)?;
        if count <= self.budget.saturating_mul(WHOLE_COPY_BATCHES) {
            // The batch is a large part of the leaf: one copy of all of it
            // streams faster than a search's dependent reads in place.
            return Ok(None);
        }
        let entries = match start {
            Start::Rest(rest) if rest.high <= count => rest,
            Start::Rest(_) => return Err(Restart),
            Start::Seek => {
                let found = self.leaf_entries(bounds, count, |key| {
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
        let (batch, _) = entries.cut(self.direction, self.budget);
        if batch.low == batch.high {
            return Ok(Some(entries));
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
        // The batch's cells, adjacent ones copied together (a leaf written
        // in key order holds its cells in order).
        let mut span = (0, 0);
        for index in batch.low..batch.high {
            let slot = node::slot(&buffer[..], index)?;
            if slot.is_long() {
                return Ok(None);
            }
            let end = match node::value_in_cell(view, slot.cell, slot.word)? {
                ValueAt::Inline { offset, len } => offset + len,
                ValueAt::Overflow { .. } => {
                    slot.cell
                        + node::LEAF_CELL_HEADER_BYTES
                        + node::tail_len(slot.remainder())
                        + node::VALUE_REF_BYTES
                }
            };
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
        Ok(Some(entries))
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

//! Dividing a page: the shortest separator between two stored keys,
//! where a full page splits (or packs left), the separator cell the parent
//! takes, and the runtime assertion that a division left two ordered
//! halves around their separator.

use std::cmp::Ordering;

use keel_pager::{PageId, Restart};

use crate::error::Result;
use crate::node::{self, Header, KeyChain, Kind, SLOT_BYTES, StoredKey};

/// The room a parent has for a new separator in place of cell `index`:
/// the bytes free once that cell is gone, and the prefix the cells that
/// stay share (a separator whose key shares less of it makes them grow).
#[derive(Debug)]
pub(crate) struct Room {
    free: usize,
    prefix: Vec<u8>,
    others: usize,
}

impl Room {
    /// The room in the latched inner `page` for a cell replacing cell
    /// `index`.
    pub(crate) fn replacing(page: &[u8], index: usize) -> std::result::Result<Room, Restart> {
        let header = Header::read(page)?;
        let others = header.count.checked_sub(1).ok_or(Restart)?;
        if others == 0 {
            // The page empties, and loses its prefix.
            return Ok(Room {
                free: page.len() - node::HEADER_BYTES,
                prefix: Vec::new(),
                others,
            });
        }
        let (offset, len) = node::prefix(page)?;
        Ok(Room {
            free: header.free() + SLOT_BYTES + node::cell_len(page, false, index)?,
            prefix: page[offset..offset + len].to_vec(),
            others,
        })
    }

    /// Whether a cell of [`node::cell_cost`] `cost` whose key's local part
    /// is `local` fits.
    pub(crate) fn takes(&self, local: &[u8], cost: usize) -> bool {
        let kept = node::prefix_kept(&self.prefix, local);
        let lost = self.prefix.len() - kept;
        cost - kept + lost * self.others.saturating_sub(1) <= self.free
    }
}
use crate::tree::{BTree, corrupt};

/// The cells a division cuts, in key order: loose cells (`[Vec<u8>]`), or
/// a full page's cells read where they are
/// ([`crate::page_cells::PageCells`]), whose halves are built by moving
/// their bytes.
pub(crate) trait Cells {
    /// How many cells.
    fn count(&self) -> usize;
    /// The key of cell `index`.
    fn key(&self, index: usize, leaf: bool) -> StoredKey<'_>;
    /// The [`node::cell_cost`] of cell `index`.
    fn cost(&self, index: usize, leaf: bool) -> usize;
    /// Cell `index`, loose (an inner page's cell that moves up).
    fn loose(&self, index: usize, leaf: bool) -> std::result::Result<Vec<u8>, Restart>;
    /// Writes the cells of `range` into `page` as a whole node, as
    /// [`node::build`] does.
    fn build(
        &self,
        page: &mut [u8],
        kind: Kind,
        links: (PageId, PageId),
        range: std::ops::Range<usize>,
    );
}

impl Cells for [Vec<u8>] {
    fn count(&self) -> usize {
        self.len()
    }

    fn key(&self, index: usize, leaf: bool) -> StoredKey<'_> {
        node::cell_key(&self[index], leaf)
    }

    fn cost(&self, index: usize, leaf: bool) -> usize {
        node::cell_cost(&self[index], leaf)
    }

    fn loose(&self, index: usize, _leaf: bool) -> std::result::Result<Vec<u8>, Restart> {
        self.get(index).cloned().ok_or(Restart)
    }

    fn build(
        &self,
        page: &mut [u8],
        kind: Kind,
        (link_0, link_1): (PageId, PageId),
        range: std::ops::Range<usize>,
    ) {
        node::build(
            page,
            kind,
            link_0,
            link_1,
            self[range].iter().map(Vec::as_slice),
        );
    }
}

/// The bytes the runs of a division's cells take packed in one page,
/// computed once per division for every cut it weighs: `before[c]` for
/// cells `[0, c)`, `after[c]` for `[c, len)` ([`node::packed_run`]).
pub(crate) struct Packed {
    before: Vec<usize>,
    after: Vec<usize>,
}

impl Packed {
    pub(crate) fn of<C: Cells + ?Sized>(cells: &C, leaf: bool) -> Packed {
        let cell = |index: usize| (cells.key(index, leaf).local(), cells.cost(index, leaf));
        let mut after = node::packed_run((0..cells.count()).rev().map(cell));
        after.reverse();
        Packed {
            before: node::packed_run((0..cells.count()).map(cell)),
            after,
        }
    }
}

impl BTree {
    /// The shortest separator `s` with `left < s <= right` for two stored
    /// keys: from the bytes in their cells when those tell the keys apart
    /// (no chain read), else from the whole keys. `None` if `left` is not
    /// below `right`.
    pub(crate) fn separator_between(
        &self,
        left: StoredKey<'_>,
        right: StoredKey<'_>,
    ) -> Result<Option<Vec<u8>>> {
        if let Some(separator) = local_separator(left, right) {
            return Ok(separator);
        }
        let (left, right) = (self.load_key(left)?, self.load_key(right)?);
        Ok(node::separator(&left, &right))
    }

    /// Cuts `cells` in two, as `cut` says. A leaf's halves are divided by
    /// the shortest separator; an inner page's middle cell moves up. With
    /// `room` (the bytes the parent has for the separator's cell, when it
    /// cannot split), a cut whose separator does not fit moves to the
    /// nearest one whose separator does, if any. Cells of a damaged page
    /// may not divide: that is [`Error::Corrupt`].
    pub(crate) fn divide<C: Cells + ?Sized>(
        &self,
        cells: &C,
        leaf: bool,
        page: PageId,
        cut: Cut,
        room: Option<&Room>,
    ) -> Result<Division> {
        let usable = self.geometry.usable();
        // Cells out of order come from a damaged page (the writer keeps
        // them in order; a page overwritten with bytes that pass its
        // checksum, or a long key's chain, may not): an error here, so that
        // the check of the halves after the division only catches the
        // writer's own mistakes.
        let mut previous = None;
        for index in 0..cells.count() {
            let key = cells.key(index, leaf);
            if let Some(previous) = previous
                && self.compare_stored(previous, key)? != Ordering::Less
            {
                return Err(corrupt(page, "keys out of order"));
            }
            previous = Some(key);
        }
        let packed = Packed::of(cells, leaf);
        let division = if leaf {
            if cells.count() < 2 {
                return Err(corrupt(page, "a full leaf with fewer than two cells"));
            }
            let mut middle = match cut {
                Cut::Appended => cells.count() - 1,
                Cut::Even => split_point(&packed, cells.count()),
                Cut::PackLeft {
                    left_max,
                    right_min,
                } => pack_point(&packed, true, left_max.min(usable), right_min),
            };
            // Halves whose keys share less than the pages they came from
            // may not fit where those did: the nearest cut that fits.
            middle = fitting_cut(&packed, true, usable, middle)
                .ok_or(corrupt(page, "cells larger than two pages hold"))?;
            let key = |index: usize| cells.key(index, true);
            let mut separator = self
                .separator_between(key(middle - 1), key(middle))?
                .ok_or(corrupt(page, "keys out of order"))?;
            // A separator too long for a cell: a nearby cut may give a
            // short one (a left side of a third to two thirds of the bytes
            // for an even cut; at least two thirds for an appended one).
            let window = match cut {
                Cut::Even => Some((1, 2)),
                Cut::Appended => Some((2, 3)),
                Cut::PackLeft { .. } => None,
            };
            if separator.len() > self.geometry.key_inline_max()
                && let Some(window) = window
                && let Some((shorter_middle, shorter)) =
                    short_cut(cells, &packed, middle, usable, window)
            {
                (middle, separator) = (shorter_middle, shorter);
            }
            Division {
                low: 0..middle,
                high: middle..cells.count(),
                separator: Separator::Key(separator),
                right_first: PageId::NONE,
            }
        } else {
            if cells.count() < 3 {
                return Err(corrupt(
                    page,
                    "a full inner page with fewer than three cells",
                ));
            }
            let middle = match cut {
                Cut::Appended => cells.count() - 2,
                Cut::Even => split_point(&packed, cells.count()).clamp(1, cells.count() - 2),
                Cut::PackLeft {
                    left_max,
                    right_min,
                } => pack_point(&packed, false, left_max.min(usable), right_min),
            };
            let middle = fitting_cut(&packed, false, usable, middle)
                .ok_or(corrupt(page, "cells larger than two pages hold"))?;
            let moved = cells
                .loose(middle, false)
                .map_err(|Restart| corrupt(page, "bad cell"))?;
            Division {
                low: 0..middle,
                high: middle + 1..cells.count(),
                right_first: node::cell_child(&moved),
                separator: Separator::Cell(moved),
            }
        };
        // The low part starts at the first cell and the high one ends at
        // the last: their bytes are the runs packed (the cells are in
        // order, checked above, so a run's prefix is its ends').
        if packed.before[division.low.end] > usable || packed.after[division.high.start] > usable {
            return Err(corrupt(page, "cells larger than two pages hold"));
        }
        if let Some(room) = room
            && !self.separator_fits(room, &division.separator)
            && let Some(fitting) =
                self.division_within(cells, &packed, leaf, room, division.high.start)
        {
            return Ok(fitting);
        }
        Ok(division)
    }

    /// The division of `cells` nearest the one whose right part starts at
    /// `start` whose separator's cell takes at most `room` bytes and whose
    /// parts each fit a page (a leaf's separator taken only where the
    /// cells' own bytes give it). A long separator between keys sharing
    /// long prefixes may not fit a parent that cannot split, where a
    /// neighbouring one does: then the entries are still shared out, and
    /// no node is left to empty while its sibling stays full.
    fn division_within<C: Cells + ?Sized>(
        &self,
        cells: &C,
        packed: &Packed,
        leaf: bool,
        room: &Room,
        start: usize,
    ) -> Option<Division> {
        let usable = self.geometry.usable();
        let (before, after) = (&packed.before, &packed.after);
        // A leaf's cut at `cut`: cells [0, cut) and [cut, len). An inner
        // page's: cells [0, cut), cell `cut` moves up, (cut, len).
        let candidate = |cut: usize| -> Option<Division> {
            if leaf {
                if cut == 0 || cut >= cells.count() {
                    return None;
                }
                if before[cut] > usable || after[cut] > usable {
                    return None;
                }
                let separator = Separator::Key(local_separator(
                    cells.key(cut - 1, true),
                    cells.key(cut, true),
                )??);
                self.separator_fits(room, &separator).then_some(Division {
                    low: 0..cut,
                    high: cut..cells.count(),
                    separator,
                    right_first: PageId::NONE,
                })
            } else {
                if cut == 0 || cut + 1 >= cells.count() {
                    return None;
                }
                if before[cut] > usable
                    || after[cut + 1] > usable
                    || !room.takes(cells.key(cut, false).local(), cells.cost(cut, false))
                {
                    return None;
                }
                let moved = cells.loose(cut, false).ok()?;
                Some(Division {
                    low: 0..cut,
                    high: cut + 1..cells.count(),
                    right_first: node::cell_child(&moved),
                    separator: Separator::Cell(moved),
                })
            }
        };
        let middle = if leaf { start } else { start.saturating_sub(1) };
        (1..cells.count()).find_map(|distance| {
            [middle.checked_sub(distance), middle.checked_add(distance)]
                .into_iter()
                .flatten()
                .find_map(candidate)
        })
    }

    /// Whether the parent's cell for `separator` fits `room`.
    pub(crate) fn separator_fits(&self, room: &Room, separator: &Separator) -> bool {
        match separator {
            Separator::Key(key) => room.takes(
                &key[..self.geometry.key_local_len(key.len())],
                self.geometry.separator_cost(key.len()),
            ),
            Separator::Cell(cell) => room.takes(
                node::cell_key(cell, false).local(),
                node::cell_cost(cell, false),
            ),
        }
    }

    /// The parent's cell for a division's right page `right`: a new
    /// separator encoded (a long one writes its chain, returned so that a
    /// change that fails afterwards can free it), or a cell moving up with
    /// its child replaced.
    pub(crate) fn separator_cell(
        &self,
        separator: &Separator,
        right: PageId,
    ) -> Result<(Vec<u8>, Option<KeyChain>)> {
        match separator {
            Separator::Key(key) => {
                let chain = self.write_key_chain(key)?;
                Ok((node::inner_cell(Self::stored_key(key, chain), right), chain))
            }
            Separator::Cell(cell) => Ok((node::with_child(cell, right), None)),
        }
    }

    /// [`assert_divided`] with the tree's comparison of stored keys.
    pub(crate) fn assert_divided(
        &self,
        left: &[u8],
        right: &[u8],
        separator: &[u8],
        leaf: bool,
    ) -> Result<()> {
        assert_divided(left, right, separator, leaf, |a, b| {
            self.compare_stored(a, b)
        })
    }
}

/// The separator of [`BTree::separator_between`] when the keys' bytes in
/// their cells decide it: `Some(None)` if `left` is not below `right`;
/// `None` when only the whole keys tell.
fn local_separator(left: StoredKey<'_>, right: StoredKey<'_>) -> Option<Option<Vec<u8>>> {
    let (left_local, right_local) = (left.local(), right.local());
    let common = left_local
        .iter()
        .zip(right_local)
        .take_while(|(a, b)| a == b)
        .count();
    // The keys differ at `common` inside both cells' bytes, or the left key
    // is whole and ends there (a prefix of the right one).
    let decided =
        common < right_local.len() && (common < left_local.len() || left.chain().is_none());
    decided.then(|| node::separator(left_local, &right_local[..common + 1]))
}

/// A cut near `middle` whose separator the cells' own bytes give, so it
/// is stored whole: the one closest to `middle` whose left side holds
/// between `low`/3 and `high`/3 of the bytes (and each side no more than
/// a page). A cut between two keys that share more than a cell holds
/// would put a long key into the parent; nearby, keys often part sooner
/// (PostgreSQL's nbtsplitloc likewise picks, among the split points near
/// the middle, the one whose truncated separator is shortest).
fn short_cut<C: Cells + ?Sized>(
    cells: &C,
    packed: &Packed,
    middle: usize,
    usable: usize,
    (low, high): (usize, usize),
) -> Option<(usize, Vec<u8>)> {
    let (before, after) = (&packed.before, &packed.after);
    let balanced = |cut: usize| {
        let (left, right) = (before[cut], after[cut]);
        let total = left + right;
        left * 3 >= total * low && left * 3 <= total * high && left <= usable && right <= usable
    };
    let key = |index: usize| cells.key(index, true);
    for distance in 1..cells.count() {
        let mut any = false;
        for cut in [middle.checked_sub(distance), middle.checked_add(distance)]
            .into_iter()
            .flatten()
        {
            if cut == 0 || cut >= cells.count() || !balanced(cut) {
                continue;
            }
            any = true;
            if let Some(Some(separator)) = local_separator(key(cut - 1), key(cut)) {
                return Some((cut, separator));
            }
        }
        if !any && distance > 1 {
            return None;
        }
    }
    None
}

/// The cells of page `id` ([`node::loose_cells`]), a damaged one corrupt.
pub(crate) fn collect_cells(page: &[u8], id: PageId, header: Header) -> Result<Vec<Vec<u8>>> {
    node::loose_cells(page, &header).map_err(|Restart| corrupt(id, "bad cell"))
}

/// What the parent takes for the right page of a division.
#[derive(Debug)]
pub(crate) enum Separator {
    /// A leaf division's new separator, whole: encoded for the parent (a
    /// long one in a chain of its own).
    Key(Vec<u8>),
    /// An inner page's middle cell, which moves up with its key (and a long
    /// key's chain); its child becomes the right page.
    Cell(Vec<u8>),
}

/// How a run of cells too large for one page is cut in two.
pub(crate) struct Division {
    /// The cells of the left page.
    pub(crate) low: std::ops::Range<usize>,
    /// The cells of the right page.
    pub(crate) high: std::ops::Range<usize>,
    /// The key the parent takes for the right page.
    pub(crate) separator: Separator,
    /// Inner pages: the right page's first child (the child of the cell
    /// that moved up).
    pub(crate) right_first: PageId,
}

/// Where [`BTree::divide`] cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Halves of about equal bytes (a leaf's cut moves to a nearby one
    /// when that keeps a long key out of the parent).
    Even,
    /// The cell that overflowed the page was appended after every other
    /// one — ascending inserts: a load, keys growing with time — so the
    /// page keeps all it held and the new cell starts the right page, as
    /// SQLite's `balance_quick` and PostgreSQL's rightmost split do: an
    /// ascending run fills its pages instead of leaving each half empty.
    Appended,
    /// Defragmentation and packing: the left page takes as many cells as
    /// fit in `left_max` bytes while the right keeps at least `right_min`
    /// bytes of cells (else the halves are even).
    PackLeft {
        /// The most cell bytes the left page takes (a page's usable bytes
        /// to pack it full).
        left_max: usize,
        /// The least cell bytes the right page keeps.
        right_min: usize,
    },
}

/// Where to cut `count` cells (`packed`) in two of about equal bytes: the
/// first index of the upper half, never 0 or `count`.
pub(crate) fn split_point(packed: &Packed, count: usize) -> usize {
    (1..count)
        .find(|&cut| packed.before[cut] >= packed.after[cut])
        .unwrap_or(count - 1)
        .clamp(1, count - 1)
}

/// The cut nearest `preferred` whose parts each fit a page: a leaf's cut
/// `c` divides `cells` into `[0, c)` and `[c, len)`, an inner page's into
/// `[0, c)` and `(c, len)` (cell `c` moves up). The parts' prefixes
/// decide their bytes, so the sizes are those of the parts packed.
pub(crate) fn fitting_cut(
    packed: &Packed,
    leaf: bool,
    usable: usize,
    preferred: usize,
) -> Option<usize> {
    let (before, after) = (&packed.before, &packed.after);
    let count = before.len() - 1;
    // The right part's first cell.
    let right = |cut: usize| if leaf { cut } else { cut + 1 };
    let fits = |cut: usize| {
        cut >= 1 && right(cut) < count && before[cut] <= usable && after[right(cut)] <= usable
    };
    (0..count).find_map(|distance| {
        [
            preferred.checked_sub(distance),
            preferred.checked_add(distance),
        ]
        .into_iter()
        .flatten()
        .find(|&cut| fits(cut))
    })
}

/// The cut when the left part takes as many of `cells` as fit in `usable`
/// bytes while the right keeps at least `right_min` bytes and one cell: a
/// leaf's cut `c` is the first index of the right part, an inner page's
/// the cell that moves up (as in [`fitting_cut`]); the even cut
/// ([`split_point`]) if none does.
pub(crate) fn pack_point(packed: &Packed, leaf: bool, usable: usize, right_min: usize) -> usize {
    let (before, after) = (&packed.before, &packed.after);
    let count = before.len() - 1;
    // The right part's first cell.
    let right = |cut: usize| if leaf { cut } else { cut + 1 };
    let mut best = None;
    for cut in (1..count).take_while(|&cut| right(cut) < count) {
        if before[cut] > usable {
            break;
        }
        if after[right(cut)] >= right_min {
            best = Some(cut);
        }
    }
    best.unwrap_or_else(|| {
        let even = split_point(packed, count);
        if leaf {
            even
        } else {
            even.clamp(1, count.saturating_sub(2).max(1))
        }
    })
}

/// The writer's check after it divided cells between `left` and `right`
/// (a split, or entries shared out): each page parses and fits, and
/// `separator` (the raw parent cell's key) lies between them — above the
/// last left key, at or below the first right key of a leaf (above it for
/// an inner page, whose first key moved up). With debug assertions, also
/// that keys ascend inside each page: a division moves cells in the order
/// they had, so release builds check only the boundary it computed (the
/// full walk allocated every cell and cost ~27k instructions a split,
/// 6.7% of a single-key commit workload). `compare` orders stored keys
/// (long ones by their chains). A failure is a bug in the writer, caught
/// before the pages can reach a checkpoint, so it panics (TigerBeetle's
/// discipline: assert what must hold, after each change); an error is one
/// of reading a chain.
pub(crate) fn assert_divided(
    left: &[u8],
    right: &[u8],
    separator: &[u8],
    leaf: bool,
    mut compare: impl FnMut(StoredKey<'_>, StoredKey<'_>) -> Result<Ordering>,
) -> Result<()> {
    fn count(page: &[u8], side: &str) -> usize {
        let header = Header::read(page)
            .unwrap_or_else(|Restart| panic!("{side} half of a division: bad node header"));
        assert!(
            header.heap_start >= node::HEADER_BYTES + header.count * SLOT_BYTES,
            "{side} half of a division overflows its page"
        );
        header.count
    }
    let cell = |page: &[u8], side: &str, index: usize| {
        node::cell_bytes(page, leaf, index)
            .unwrap_or_else(|Restart| panic!("{side} half of a division: bad cell"))
    };
    let (low, high) = (count(left, "left"), count(right, "right"));
    assert!(low > 0 || !leaf, "a division left an empty left leaf");
    assert!(high > 0 || !leaf, "a division left an empty right leaf");
    if cfg!(debug_assertions) {
        for (page, side, count) in [(left, "left", low), (right, "right", high)] {
            for index in 1..count {
                let (a, b) = (cell(page, side, index - 1), cell(page, side, index));
                assert!(
                    compare(node::cell_key(&a, leaf), node::cell_key(&b, leaf))? == Ordering::Less,
                    "keys out of order in a half of a division"
                );
            }
        }
    }
    let separator = node::cell_key(separator, false);
    if low > 0 {
        let last = cell(left, "left", low - 1);
        assert!(
            compare(node::cell_key(&last, leaf), separator)? == Ordering::Less,
            "separator not above the left half"
        );
    }
    if high > 0 {
        let first = cell(right, "right", 0);
        let ordering = compare(separator, node::cell_key(&first, leaf))?;
        let placed = if leaf {
            ordering != Ordering::Greater
        } else {
            ordering == Ordering::Less
        };
        assert!(placed, "separator not below the right half");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Kind;

    fn leaf(keys: &[&str]) -> Vec<u8> {
        let mut page = vec![0u8; 4096];
        let cells: Vec<Vec<u8>> = keys
            .iter()
            .map(|key| {
                node::leaf_cell(
                    StoredKey::Inline(key.as_bytes()),
                    node::StoredValue::Inline(b"v"),
                )
            })
            .collect();
        node::build(
            &mut page,
            Kind::Leaf,
            PageId::NONE,
            PageId::NONE,
            cells.iter().map(Vec::as_slice),
        );
        page
    }

    fn divided(left: &[&str], right: &[&str], separator: &str) {
        let separator = node::inner_cell(StoredKey::Inline(separator.as_bytes()), PageId::NONE);
        assert_divided(&leaf(left), &leaf(right), &separator, true, |a, b| {
            Ok(a.local().cmp(b.local()))
        })
        .unwrap();
    }

    #[test]
    fn a_sound_division_passes() {
        divided(&["a", "b"], &["c", "d"], "c");
        divided(&["a", "b"], &["ca", "d"], "c");
    }

    #[test]
    #[should_panic(expected = "separator not below the right half")]
    fn a_separator_past_the_right_half_is_caught() {
        divided(&["a", "b"], &["c", "d"], "cz");
    }

    #[test]
    #[should_panic(expected = "separator not above the left half")]
    fn a_separator_inside_the_left_half_is_caught() {
        divided(&["a", "b"], &["c", "d"], "b");
    }

    /// The walk inside each half is a debug-build check (see
    /// `assert_divided`).
    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "keys out of order")]
    fn a_half_out_of_order_is_caught() {
        divided(&["b", "a"], &["c", "d"], "c");
    }
}

//! A full page's cells as a split divides them, read where they are: the
//! keys gathered into one buffer for the division to weigh, and each half
//! built by moving its cells' bytes — no cell is decoded into a loose cell
//! of its own and encoded again.
//!
//! Every key of a page shares its prefix, so each half's prefix is the
//! page's or longer ([`node::prefix_kept`]), and a cell moves under it as
//! its header, its key's remainder past the longer prefix and the head
//! (from the gathered key), then the rest of its bytes (a long key's
//! reference, the value or its reference) as they are. A new cell whose
//! key does not share the page's prefix would shorten it: that split
//! takes the loose path ([`PageCells::of`] gives `None`).

use std::ops::Range;

use keel_pager::{PageId, Restart};

use crate::divide::Cells;
use crate::node::{self, HEAD_BYTES, Header, KEY_LONG_FLAG, KeyChain, Kind, SLOT_BYTES, StoredKey};

/// Where a cell of a [`PageCells`] is.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// The new (loose) cell.
    New,
    /// Cell `from` of the page: its offset, its length, and the length of
    /// its key's bytes past the head.
    Page {
        from: usize,
        offset: usize,
        len: usize,
        tail: usize,
    },
}

/// One cell: its key's local part in [`PageCells::keys`], its long key's
/// chain, its [`node::cell_cost`], and where its bytes are.
#[derive(Debug, Clone, Copy)]
struct Item {
    key: (usize, usize),
    chain: Option<KeyChain>,
    cost: usize,
    source: Source,
}

/// The cells of a full page with a new cell put in (or in place of one),
/// in key order.
#[derive(Debug)]
pub(crate) struct PageCells<'a> {
    page: &'a [u8],
    new: &'a [u8],
    leaf: bool,
    keys: Vec<u8>,
    items: Vec<Item>,
}

impl<'a> PageCells<'a> {
    /// The cells of `page` (a copy of the latched page, whose header is
    /// `header`) with loose `new` as cell `index` — in place of the cell
    /// there if `replace`. `None` when `new`'s key does not share the
    /// page's prefix; `Err` for a damaged page (cells that do not parse,
    /// or a key a loose cell could not hold, as [`node::cell_bytes`]).
    pub(crate) fn of(
        page: &'a [u8],
        header: &Header,
        index: usize,
        replace: bool,
        new: &'a [u8],
    ) -> Result<Option<PageCells<'a>>, Restart> {
        let leaf = header.is_leaf();
        let prefix = node::prefix(page)?;
        let prefix_bytes = page.get(prefix.0..prefix.0 + prefix.1).ok_or(Restart)?;
        let new_key = node::cell_key(new, leaf);
        if node::prefix_kept(prefix_bytes, new_key.local()) < prefix.1 {
            return Ok(None);
        }
        if index > header.count || (replace && index == header.count) {
            return Err(Restart);
        }
        let count = header.count + usize::from(!replace);
        let mut cells = PageCells {
            page,
            new,
            leaf,
            // Each key: the prefix, its head and the bytes its cell holds.
            keys: Vec::with_capacity(
                count * (prefix.1 + HEAD_BYTES) + (page.len() - header.heap_start) + new.len(),
            ),
            items: Vec::with_capacity(count),
        };
        for position in 0..count {
            let from = match position.cmp(&index) {
                std::cmp::Ordering::Less => position,
                std::cmp::Ordering::Equal => {
                    cells.push_new(new_key);
                    continue;
                }
                std::cmp::Ordering::Greater if replace => position,
                std::cmp::Ordering::Greater => position - 1,
            };
            cells.push_page(prefix, prefix_bytes, from)?;
        }
        Ok(Some(cells))
    }

    fn push_new(&mut self, key: StoredKey<'_>) {
        let start = self.keys.len();
        self.keys.extend_from_slice(key.local());
        self.items.push(Item {
            key: (start, key.local().len()),
            chain: key.chain(),
            cost: node::cell_cost(self.new, self.leaf),
            source: Source::New,
        });
    }

    /// Gathers cell `from` of the page, checked as [`node::cell_bytes`]
    /// checks it.
    fn push_page(
        &mut self,
        prefix: (usize, usize),
        prefix_bytes: &[u8],
        from: usize,
    ) -> Result<(), Restart> {
        let page = self.page;
        let slot = node::slot(page, from)?;
        let at = node::key_of_slot(page, self.leaf, prefix, slot)?;
        if prefix.1 + at.local >= usize::from(KEY_LONG_FLAG) {
            return Err(Restart);
        }
        let len = node::cell_len_of(page, self.leaf, slot, &at)?;
        let tail = node::tail_len(at.local);
        let start = self.keys.len();
        self.keys.extend_from_slice(prefix_bytes);
        let (head, in_head) = slot.head_bytes();
        self.keys.extend_from_slice(&head[..in_head]);
        self.keys
            .extend_from_slice(page.get(at.offset..at.offset + tail).ok_or(Restart)?);
        self.items.push(Item {
            key: (start, prefix.1 + at.local),
            chain: at.chain,
            // The cell less the prefix, its slot, and the prefix (every
            // key keeps its head past the prefix: the cell is shorter by
            // exactly the prefix's length).
            cost: len + SLOT_BYTES + prefix.1,
            source: Source::Page {
                from,
                offset: slot.cell,
                len,
                tail,
            },
        });
        Ok(())
    }

    /// Writes cell `index` under a prefix of `prefix` bytes below
    /// `heap_start` and its slot as slot `slot` of `out`; returns the new
    /// heap start.
    fn put(
        &self,
        out: &mut [u8],
        encoded: &mut Vec<u8>,
        (index, slot): (usize, usize),
        prefix: usize,
        heap_start: usize,
    ) -> usize {
        let item = self.items[index];
        let Source::Page {
            offset, len, tail, ..
        } = item.source
        else {
            let (word, head) = node::encode(self.new, self.leaf, prefix, encoded);
            let start = heap_start - encoded.len();
            out[start..heap_start].copy_from_slice(encoded);
            node::write_slot(out, slot, start, word, head);
            return start;
        };
        let remainder = &self.keys[item.key.0 + prefix..item.key.0 + item.key.1];
        let header = node::cell_header_bytes(self.leaf);
        let key_tail = &remainder[remainder.len().min(HEAD_BYTES)..];
        let rest = &self.page[offset + header + tail..offset + len];
        let start = heap_start - header - key_tail.len() - rest.len();
        let (cell_header, moved) = out[start..heap_start].split_at_mut(header);
        cell_header.copy_from_slice(&self.page[offset..offset + header]);
        let (moved_tail, moved_rest) = moved.split_at_mut(key_tail.len());
        moved_tail.copy_from_slice(key_tail);
        moved_rest.copy_from_slice(rest);
        let long = item.chain.map_or(0, |_| KEY_LONG_FLAG);
        let word = remainder.len() as u16 | long;
        node::write_slot(out, slot, start, word, node::head(remainder));
        start
    }
}

impl Cells for PageCells<'_> {
    fn count(&self) -> usize {
        self.items.len()
    }

    fn key(&self, index: usize, _leaf: bool) -> StoredKey<'_> {
        let item = &self.items[index];
        let local = &self.keys[item.key.0..item.key.0 + item.key.1];
        match item.chain {
            None => StoredKey::Inline(local),
            Some(chain) => StoredKey::Long {
                prefix: local,
                chain,
            },
        }
    }

    fn cost(&self, index: usize, _leaf: bool) -> usize {
        self.items[index].cost
    }

    fn loose(&self, index: usize, leaf: bool) -> Result<Vec<u8>, Restart> {
        match self.items.get(index).ok_or(Restart)?.source {
            Source::New => Ok(self.new.to_vec()),
            Source::Page { from, .. } => node::cell_bytes(self.page, leaf, from),
        }
    }

    fn build(&self, out: &mut [u8], kind: Kind, links: (PageId, PageId), range: Range<usize>) {
        // The longest prefix the half's keys share, each keeping its head
        // ([`node::cells_prefix_len`]): a sorted run's keys share with the
        // first what the last does.
        let prefix = match range.clone().map(|index| self.items[index].key.1).min() {
            Some(shortest) => node::common_len(
                self.key(range.start, self.leaf).local(),
                self.key(range.end - 1, self.leaf).local(),
            )
            .min(node::tail_len(shortest)),
            None => 0,
        };
        let first = range.start;
        let mut heap_start = out.len();
        let mut prefix_offset = 0;
        if prefix > 0 {
            heap_start -= prefix;
            prefix_offset = heap_start;
            out[heap_start..].copy_from_slice(&self.key(first, self.leaf).local()[..prefix]);
        }
        let mut encoded = Vec::new();
        let count = range.len();
        for (slot, index) in range.enumerate() {
            heap_start = self.put(out, &mut encoded, (index, slot), prefix, heap_start);
        }
        node::finish_build(out, kind, links, count, heap_start, (prefix_offset, prefix));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use keel_io::{SimVfs, Vfs};
    use keel_pager::{Pager, PagerOptions};
    use proptest::prelude::*;

    use super::*;
    use crate::BTree;
    use crate::divide::{Cut, Division, Separator};
    use crate::node::StoredValue;

    fn tree() -> BTree {
        let vfs: Arc<dyn Vfs> = Arc::new(SimVfs::new(3));
        let pager = Pager::open(vfs, "/db/pages", PagerOptions::default()).unwrap();
        BTree::create(Arc::new(pager)).unwrap()
    }

    /// The local part of the tests' long keys (their other keys are
    /// shorter).
    const LONG_LOCAL: usize = 45;

    /// A long key's local part for `key`: padded to [`LONG_LOCAL`] bytes.
    fn long(mut key: Vec<u8>) -> Vec<u8> {
        key.resize(LONG_LOCAL, b'z');
        key
    }

    /// A loose cell for `key` (long if [`LONG_LOCAL`] bytes): a leaf's with a value of `value` bytes (an
    /// overflow reference when `value` is above 300), an inner page's with
    /// a child.
    fn loose(key: &[u8], leaf: bool, value: usize) -> Vec<u8> {
        let key = if key.len() == LONG_LOCAL {
            // A long key's local part, and a chain no test reads: every
            // other key is shorter, so the local parts decide.
            let chain = KeyChain {
                first: PageId::new(77),
                len: 200,
                local: LONG_LOCAL,
            };
            StoredKey::Long { prefix: key, chain }
        } else {
            StoredKey::Inline(key)
        };
        if !leaf {
            return node::inner_cell(key, PageId::new(value as u64 + 1));
        }
        if value > 300 {
            let first = PageId::new(value as u64);
            return node::leaf_cell(key, StoredValue::Overflow { first, len: 5000 });
        }
        node::leaf_cell(key, StoredValue::Inline(&vec![value as u8; value]))
    }

    fn same_separator(a: &Separator, b: &Separator) -> bool {
        match (a, b) {
            (Separator::Key(a), Separator::Key(b)) | (Separator::Cell(a), Separator::Cell(b)) => {
                a == b
            }
            _ => false,
        }
    }

    /// Divides and builds the halves of `cells`; their division and the
    /// two pages.
    fn halves<C: Cells + ?Sized>(
        tree: &BTree,
        cells: &C,
        leaf: bool,
        cut: Cut,
    ) -> (Division, Vec<u8>, Vec<u8>) {
        let kind = if leaf { Kind::Leaf } else { Kind::Inner };
        let division = tree.divide(cells, leaf, PageId::new(9), cut, None).unwrap();
        let size = tree.geometry.page_size;
        let (mut left, mut right) = (vec![0xa5; size], vec![0x5a; size]);
        let links = (PageId::new(4), PageId::new(5));
        cells.build(&mut left, kind, links, division.low.clone());
        cells.build(&mut right, kind, links, division.high.clone());
        (division, left, right)
    }

    /// A page of `keys` (sorted, distinct; as many as fit) split with
    /// `new` put in at `index` (in place of the key there if `replace`):
    /// the cells moved give the division and the pages the loose cells
    /// give, byte for byte; a key off the page's prefix is left to the
    /// loose path.
    fn moves_as_loose(
        keys: &[Vec<u8>],
        values: &[usize],
        leaf: bool,
        new: &[u8],
        new_value: usize,
    ) {
        let tree = tree();
        let size = tree.geometry.page_size;
        let kind = if leaf { Kind::Leaf } else { Kind::Inner };
        let mut cells: Vec<Vec<u8>> = Vec::new();
        for (key, value) in keys.iter().zip(values.iter().cycle()) {
            let cell = loose(key, leaf, *value);
            let more = cells.iter().map(Vec::as_slice).chain([cell.as_slice()]);
            if node::cells_bytes(more, leaf) > tree.geometry.usable() {
                break;
            }
            cells.push(cell);
        }
        let mut page = vec![0u8; size];
        let links = (PageId::new(4), PageId::new(5));
        node::build(
            &mut page,
            kind,
            links.0,
            links.1,
            cells.iter().map(Vec::as_slice),
        );
        let header = Header::read(&page).unwrap();
        let found = cells.binary_search_by(|cell| node::cell_key(cell, leaf).local().cmp(new));
        let (index, replace) = match found {
            Ok(index) => (index, true),
            Err(index) => (index, false),
        };
        let new_cell = loose(new, leaf, new_value);
        let mut with_new = cells.clone();
        if replace {
            with_new[index] = new_cell.clone();
        } else {
            with_new.insert(index, new_cell.clone());
        }
        if with_new.len() < if leaf { 2 } else { 3 } {
            return;
        }
        let Some(moved) = PageCells::of(&page, &header, index, replace, &new_cell).unwrap() else {
            let prefix = &page[header.prefix_offset..header.prefix_offset + header.prefix_len];
            assert!(node::prefix_kept(prefix, new) < header.prefix_len);
            return;
        };
        assert_eq!(moved.count(), with_new.len());
        for (index, cell) in with_new.iter().enumerate() {
            assert_eq!(moved.key(index, leaf), node::cell_key(cell, leaf));
            assert_eq!(moved.cost(index, leaf), node::cell_cost(cell, leaf));
            assert_eq!(&moved.loose(index, leaf).unwrap(), cell);
        }
        let packs = [
            Cut::PackLeft {
                left_max: usize::MAX,
                right_min: 600,
            },
            Cut::PackLeft {
                left_max: 2000,
                right_min: 600,
            },
        ];
        for cut in [Cut::Even, Cut::Appended].into_iter().chain(packs) {
            let Ok(_) = tree.divide(&with_new[..], leaf, PageId::new(9), cut, None) else {
                continue;
            };
            let (division, left, right) = halves(&tree, &with_new[..], leaf, cut);
            let (moved_division, moved_left, moved_right) = halves(&tree, &moved, leaf, cut);
            assert_eq!(moved_division.low, division.low);
            assert_eq!(moved_division.high, division.high);
            assert_eq!(moved_division.right_first, division.right_first);
            assert!(same_separator(
                &moved_division.separator,
                &division.separator
            ));
            assert!(left == moved_left, "left halves differ");
            assert!(right == moved_right, "right halves differ");
        }
    }

    /// Keys sharing a first part (the page's prefix) and then bytes of a
    /// small alphabet (so halves share longer prefixes than the page),
    /// short ones (under a head) included.
    fn keys() -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<u8>)> {
        let part = prop::collection::vec(
            prop::sample::select(vec![b'a', b'b', b'c', 0u8, 255]),
            0..30,
        );
        let longs = prop::collection::vec(prop::bool::weighted(0.2), 80);
        (
            prop::collection::vec(part.clone(), 2..80),
            prop::collection::vec(any::<u8>(), 0..12),
            (part, longs),
        )
            .prop_map(|(parts, shared, (new, longs))| {
                let with = |part: &Vec<u8>, long_key: bool| {
                    let key = [shared.as_slice(), part].concat();
                    if long_key { long(key) } else { key }
                };
                let mut keys: Vec<Vec<u8>> = parts
                    .iter()
                    .zip(&longs)
                    .map(|(part, long_key)| with(part, *long_key))
                    .collect();
                keys.sort();
                keys.dedup();
                (keys, with(&new, longs[79]))
            })
    }

    proptest! {
        #[test]
        fn a_split_that_moves_cells_builds_the_pages_loose_cells_do(
            (keys, new) in keys(),
            values in prop::collection::vec(prop_oneof![0usize..300, 301usize..400], 1..8),
            new_value in 0usize..400,
            leaf in any::<bool>(),
            off_prefix in any::<bool>(),
        ) {
            let new = match (off_prefix, new.len() == LONG_LOCAL) {
                (false, _) => new,
                (true, false) => [b"\x7f".as_slice(), &new].concat(),
                (true, true) => long([b"\x7f".as_slice(), &new].concat()),
            };
            moves_as_loose(&keys, &values, leaf, &new, new_value);
        }
    }

    /// A page whose keys share a long prefix, a key appended at its end
    /// and one inserted in its middle: the cells move under the halves'
    /// longer prefixes.
    #[test]
    fn cells_move_under_a_longer_prefix() {
        let keys: Vec<Vec<u8>> = (0..40u8)
            .map(|i| {
                [
                    b"user:0000".as_slice(),
                    &[b'a' + i / 8, b'0' + i % 8, b'x', b'y', b'z'],
                ]
                .concat()
            })
            .collect();
        moves_as_loose(&keys, &[90], true, b"user:0000zz", 90);
        moves_as_loose(&keys, &[90], true, b"user:0000c3q", 90);
        moves_as_loose(&keys, &[90], false, b"user:0000c3q", 90);
        moves_as_loose(&keys, &[90], true, &keys[20], 150);
    }
}

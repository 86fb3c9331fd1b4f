//! The byte layout of B+tree pages (docs/FORMAT.md, "B+tree pages") and
//! the operations on one page.
//!
//! Every page starts with a 32-byte header; leaf and inner pages are
//! slotted: an array of `u16` cell offsets in key order grows up from the
//! header, the cells grow down from the end of the page.
//!
//! ```text
//! offset size  field
//!  0      1    kind: 1 leaf, 2 inner, 3 overflow
//!  1      1    reserved (0)
//!  2      2    cell count
//!  4      4    heap start: offset of the lowest cell byte (page size if none)
//!  8      4    garbage bytes: bytes of removed cells still inside the heap
//! 12      4    reserved (0)
//! 16      8    leaf: left sibling (0 = none)  | inner: first child
//! 24      8    leaf: right sibling (0 = none) | inner: 0
//! 32   2×count slots: u16 cell offsets, in key order
//! ```
//!
//! Leaf cell: `key_word u16, value_word u32, key, value` where the value
//! word's top bit says the value lives in an overflow chain, whose first
//! page (`u64`) then stands in for the value; the low 31 bits are the
//! value's length either way. Inner cell: `key_word u16, child u64, key`:
//! keys at or above the cell's key and below the next cell's key live
//! under `child`; keys below the first cell's key under the first child.
//!
//! The key word's low 15 bits are the key bytes in the cell. Its top bit
//! marks a long key (longer than [`Geometry::key_inline_max`]): the cell
//! holds the key's first bytes (its local prefix), then the key's whole
//! length (`u32`) and the first page (`u64`) of an overflow chain holding
//! the rest, as SQLite spills a payload and WiredTiger an overflow key.
//! The prefix decides most comparisons; only a key that ties with the
//! whole prefix is compared with the chain ([`Probe::Tie`]).
//!
//! Readers see pages through [`NodeBytes`], which both an optimistic
//! [`PageView`] (copies, every access bounds-checked, a torn value gives
//! [`Restart`]) and a latched `[u8]` implement, so there is one search.

use std::cmp::Ordering;

use keel_pager::{PageId, PageView, Restart};

/// Bytes of the page header.
pub const HEADER_BYTES: usize = 32;
/// Bytes of one slot (a `u16` cell offset).
pub const SLOT_BYTES: usize = 2;
/// Bytes of a leaf cell before its key.
pub const LEAF_CELL_HEADER_BYTES: usize = 6;
/// Bytes of an inner cell before its key.
pub const INNER_CELL_HEADER_BYTES: usize = 10;
/// Bytes of the overflow page header (kind, reserved, bytes used, next).
pub const OVERFLOW_HEADER_BYTES: usize = 16;
/// The value word's flag: the value is in an overflow chain.
pub const OVERFLOW_FLAG: u32 = 1 << 31;

/// The largest value, in bytes (Redis's own bulk limit, so every value a
/// Redis client may send fits).
pub const VALUE_BYTES_MAX: usize = 512 << 20;
const _: () = assert!(VALUE_BYTES_MAX < OVERFLOW_FLAG as usize);

/// The longest key, in bytes, on every page size: 64 KiB for a caller's
/// key (fjall's limit; Redis keys in practice are far shorter) and 64
/// bytes more for a layer above to prefix a namespace of its own (keel's
/// engine prefixes a 4-byte keyspace id), so a 64 KiB key reaches the tree
/// whole. A key longer than [`crate::BTree::key_inline_max`] keeps a prefix in
/// its cell and the rest in an overflow chain.
pub const KEY_BYTES_MAX: usize = (64 << 10) + 64;
/// The key word's flag: the key is long, its cell holds a prefix of it
/// and a [`KEY_REF_BYTES`] reference to the chain holding the rest.
pub const KEY_LONG_FLAG: u16 = 1 << 15;
/// Bytes of a long key's reference, after its prefix: the key's length
/// (`u32`) and the first page of its chain (`u64`).
pub const KEY_REF_BYTES: usize = 12;
const _: () = assert!(KEY_BYTES_MAX <= u32::MAX as usize);
// Every key word's length fits below the flag, on every page size.
const _: () =
    assert!((keel_pager::PAGE_SIZE_MAX as usize - HEADER_BYTES) / 4 < KEY_LONG_FLAG as usize);

/// The kinds of B+tree page (byte 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Keys with values.
    Leaf = 1,
    /// Separators with children.
    Inner = 2,
    /// Part of a large value.
    Overflow = 3,
}

impl Kind {
    /// The kind named by a page's first byte.
    pub fn from_byte(byte: u8) -> Option<Kind> {
        match byte {
            1 => Some(Kind::Leaf),
            2 => Some(Kind::Inner),
            3 => Some(Kind::Overflow),
            _ => None,
        }
    }
}

// Header field offsets.
const KIND: usize = 0;
const COUNT: usize = 2;
const HEAP_START: usize = 4;
const GARBAGE: usize = 8;
const LINK_0: usize = 16;
const LINK_1: usize = 24;

/// Sizes derived from the page size: what a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// The page size.
    pub page_size: usize,
}

impl Geometry {
    /// Bytes for slots and cells.
    #[inline]
    pub fn usable(self) -> usize {
        self.page_size - HEADER_BYTES
    }

    /// The largest cell with its slot: a quarter of the usable space, so a
    /// node always holds four, and a split always leaves both halves at
    /// least a quarter full.
    #[inline]
    pub fn cell_bytes_max(self) -> usize {
        self.usable() / 4
    }

    /// The longest key stored whole in its cell (1000 bytes on 4 KiB
    /// pages): a leaf cell with it and an overflow reference must fit.
    /// Longer keys, up to [`KEY_BYTES_MAX`], are long keys.
    #[inline]
    pub fn key_inline_max(self) -> usize {
        self.cell_bytes_max() - SLOT_BYTES - LEAF_CELL_HEADER_BYTES - 8
    }

    /// The longest prefix a long key keeps in its cell: with its reference
    /// it takes no more room than the longest inline key.
    pub fn key_local_max(self) -> usize {
        self.key_inline_max() - KEY_REF_BYTES
    }

    /// The shortest prefix a long key keeps in its cell.
    pub fn key_local_min(self) -> usize {
        self.key_local_max() / 2
    }

    /// The bytes of a key of `len` bytes its cell holds: all of it when it
    /// is at most [`Geometry::key_inline_max`], else a prefix. The prefix is
    /// chosen as SQLite chooses a payload's local part: the least
    /// [`Geometry::key_local_min`] plus whatever leaves the rest a whole
    /// number of overflow pages, if that stays within
    /// [`Geometry::key_local_max`] — so no chain ends in a nearly empty page
    /// when it can be helped.
    pub fn key_local_len(self, len: usize) -> usize {
        if len <= self.key_inline_max() {
            return len;
        }
        let min = self.key_local_min();
        let local = min + (len - min) % self.overflow_bytes();
        if local > self.key_local_max() {
            min
        } else {
            local
        }
    }

    /// Bytes a key of `len` bytes takes in its cell after the cell header:
    /// the key, or a long key's prefix and reference.
    #[inline]
    pub fn key_field_len(self, len: usize) -> usize {
        if len <= self.key_inline_max() {
            len
        } else {
            self.key_local_len(len) + KEY_REF_BYTES
        }
    }

    /// A node (not the root) holding fewer bytes than this is merged with
    /// or rebalanced against a sibling.
    pub fn fill_bytes_min(self) -> usize {
        self.usable() / 4
    }

    /// Whether a value of `value_len` bytes with a key taking
    /// `key_field_len` bytes of its cell ([`Geometry::key_field_len`]) is
    /// stored inside the leaf.
    #[inline]
    pub fn value_inline(self, key_field_len: usize, value_len: usize) -> bool {
        SLOT_BYTES + LEAF_CELL_HEADER_BYTES + key_field_len + value_len <= self.cell_bytes_max()
    }

    /// Value bytes one overflow page carries.
    pub fn overflow_bytes(self) -> usize {
        self.page_size - OVERFLOW_HEADER_BYTES
    }
}

/// Read access to a page's bytes, optimistic or latched.
pub trait NodeBytes {
    /// The page size.
    fn size(&self) -> usize;
    /// One byte.
    fn byte(&self, offset: usize) -> Result<u8, Restart>;
    /// A little-endian `u16`.
    fn u16_at(&self, offset: usize) -> Result<u16, Restart>;
    /// A little-endian `u32`.
    fn u32_at(&self, offset: usize) -> Result<u32, Restart>;
    /// A little-endian `u64`.
    fn u64_at(&self, offset: usize) -> Result<u64, Restart>;
    /// Compares the `len` bytes at `offset` with `other`.
    fn compare(&self, offset: usize, len: usize, other: &[u8]) -> Result<Ordering, Restart>;
    /// Appends the `len` bytes at `offset` to `out`.
    fn append_to(&self, offset: usize, len: usize, out: &mut Vec<u8>) -> Result<(), Restart>;
}

impl NodeBytes for PageView<'_> {
    #[inline]
    fn size(&self) -> usize {
        self.len()
    }
    #[inline]
    fn byte(&self, offset: usize) -> Result<u8, Restart> {
        self.u8_at(offset)
    }
    #[inline]
    fn u16_at(&self, offset: usize) -> Result<u16, Restart> {
        PageView::u16_at(self, offset)
    }
    #[inline]
    fn u32_at(&self, offset: usize) -> Result<u32, Restart> {
        PageView::u32_at(self, offset)
    }
    #[inline]
    fn u64_at(&self, offset: usize) -> Result<u64, Restart> {
        PageView::u64_at(self, offset)
    }
    // Always inlined: a search compares a key per step, and a call per
    // step costs about as much as the comparison.
    #[inline(always)]
    fn compare(&self, offset: usize, len: usize, other: &[u8]) -> Result<Ordering, Restart> {
        PageView::compare(self, offset, len, other)
    }
    fn append_to(&self, offset: usize, len: usize, out: &mut Vec<u8>) -> Result<(), Restart> {
        if len > self.len() {
            return Err(Restart);
        }
        let start = out.len();
        out.resize(start + len, 0);
        self.copy_to(offset, &mut out[start..])
    }
}

#[inline]
fn slice(bytes: &[u8], offset: usize, len: usize) -> Result<&[u8], Restart> {
    offset
        .checked_add(len)
        .and_then(|end| bytes.get(offset..end))
        .ok_or(Restart)
}

impl NodeBytes for [u8] {
    #[inline]
    fn size(&self) -> usize {
        self.len()
    }
    #[inline]
    fn byte(&self, offset: usize) -> Result<u8, Restart> {
        self.get(offset).copied().ok_or(Restart)
    }
    #[inline]
    fn u16_at(&self, offset: usize) -> Result<u16, Restart> {
        let mut bytes = [0u8; 2];
        bytes.copy_from_slice(slice(self, offset, 2)?);
        Ok(u16::from_le_bytes(bytes))
    }
    #[inline]
    fn u32_at(&self, offset: usize) -> Result<u32, Restart> {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(slice(self, offset, 4)?);
        Ok(u32::from_le_bytes(bytes))
    }
    #[inline]
    fn u64_at(&self, offset: usize) -> Result<u64, Restart> {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(slice(self, offset, 8)?);
        Ok(u64::from_le_bytes(bytes))
    }
    #[inline]
    fn compare(&self, offset: usize, len: usize, other: &[u8]) -> Result<Ordering, Restart> {
        Ok(slice(self, offset, len)?.cmp(other))
    }
    fn append_to(&self, offset: usize, len: usize, out: &mut Vec<u8>) -> Result<(), Restart> {
        out.extend_from_slice(slice(self, offset, len)?);
        Ok(())
    }
}

/// The kind of the page, if its first byte names one.
#[inline]
pub fn kind<B: NodeBytes + ?Sized>(page: &B) -> Result<Option<Kind>, Restart> {
    Ok(Kind::from_byte(page.byte(KIND)?))
}

/// The number of cells.
#[inline]
pub fn count<B: NodeBytes + ?Sized>(page: &B) -> Result<usize, Restart> {
    Ok(usize::from(page.u16_at(COUNT)?))
}

/// Leaf: the left sibling; inner: the first child.
#[inline]
pub fn link_0<B: NodeBytes + ?Sized>(page: &B) -> Result<PageId, Restart> {
    Ok(PageId::new(page.u64_at(LINK_0)?))
}

/// Leaf: the right sibling.
#[inline]
pub fn link_1<B: NodeBytes + ?Sized>(page: &B) -> Result<PageId, Restart> {
    Ok(PageId::new(page.u64_at(LINK_1)?))
}

/// The offset of cell `index`, checked to lie inside the heap.
#[inline]
pub fn cell_offset<B: NodeBytes + ?Sized>(page: &B, index: usize) -> Result<usize, Restart> {
    let offset = usize::from(page.u16_at(HEADER_BYTES + index * SLOT_BYTES)?);
    if offset < HEADER_BYTES || offset >= page.size() {
        return Err(Restart);
    }
    Ok(offset)
}

/// A long key's reference: the chain holding the key's bytes from
/// `local` (the prefix its cell holds) to `len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChain {
    /// The chain's first page.
    pub first: PageId,
    /// The whole key's length.
    pub len: usize,
    /// The bytes of the key its cell holds (the chain holds the rest).
    pub local: usize,
}

impl KeyChain {
    /// Bytes in the chain.
    pub fn rest(self) -> usize {
        self.len - self.local
    }
}

/// Where the key of a cell is: `local` bytes at `offset` (the whole key,
/// or a long key's prefix) and, for a long key, its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAt {
    /// Offset of the key's local bytes in the page.
    pub offset: usize,
    /// Bytes of the key in the page.
    pub local: usize,
    /// A long key's chain.
    pub chain: Option<KeyChain>,
}

impl KeyAt {
    /// Bytes the key takes in its cell after the cell header.
    pub fn field_len(self) -> usize {
        match self.chain {
            None => self.local,
            Some(_) => self.local + KEY_REF_BYTES,
        }
    }
}

#[inline]
fn cell_header_bytes(leaf: bool) -> usize {
    if leaf {
        LEAF_CELL_HEADER_BYTES
    } else {
        INNER_CELL_HEADER_BYTES
    }
}

/// A long key's reference from its `local`-byte prefix at `offset`:
/// checked to fit the page, to hold more than the prefix and at most
/// [`KEY_BYTES_MAX`], and to name a page.
#[cold]
fn long_key_at<B: NodeBytes + ?Sized>(
    page: &B,
    offset: usize,
    local: usize,
) -> Result<KeyAt, Restart> {
    let reference = offset + local;
    if reference + KEY_REF_BYTES > page.size() {
        return Err(Restart);
    }
    let len = page.u32_at(reference)? as usize;
    let first = PageId::new(page.u64_at(reference + 4)?);
    if len <= local || len > KEY_BYTES_MAX || first == PageId::NONE {
        return Err(Restart);
    }
    Ok(KeyAt {
        offset,
        local,
        chain: Some(KeyChain { first, len, local }),
    })
}

/// The key of the cell at offset `cell`. Both cell kinds begin with the
/// key word; the key follows the kind's cell header.
#[inline]
pub fn key_in_cell<B: NodeBytes + ?Sized>(
    page: &B,
    leaf: bool,
    cell: usize,
) -> Result<KeyAt, Restart> {
    let word = page.u16_at(cell)?;
    let offset = cell + cell_header_bytes(leaf);
    if word & KEY_LONG_FLAG != 0 {
        return long_key_at(page, offset, usize::from(word & !KEY_LONG_FLAG));
    }
    let local = usize::from(word);
    if offset + local > page.size() {
        return Err(Restart);
    }
    Ok(KeyAt {
        offset,
        local,
        chain: None,
    })
}

/// The key of cell `index`.
#[inline]
pub fn key_at<B: NodeBytes + ?Sized>(page: &B, leaf: bool, index: usize) -> Result<KeyAt, Restart> {
    key_in_cell(page, leaf, cell_offset(page, index)?)
}

/// Compares the key at `at` with `key`: the order of the page's key
/// against `key`, or, when a long key's whole prefix ties with `key` and
/// `key` goes on past it, `Err` with the chain the rest is in.
#[inline]
pub fn compare_key<B: NodeBytes + ?Sized>(
    page: &B,
    at: KeyAt,
    key: &[u8],
) -> Result<Result<Ordering, KeyChain>, Restart> {
    match at.chain {
        None => Ok(Ok(page.compare(at.offset, at.local, key)?)),
        Some(chain) => compare_prefix(page, at.offset, chain, key),
    }
}

/// [`compare_key`] of a long key: by its prefix when that decides.
#[cold]
#[inline(never)]
fn compare_prefix<B: NodeBytes + ?Sized>(
    page: &B,
    offset: usize,
    chain: KeyChain,
    key: &[u8],
) -> Result<Result<Ordering, KeyChain>, Restart> {
    let common = chain.local.min(key.len());
    // A key shorter than the prefix and equal to its start is below it.
    let ordering = page.compare(offset, chain.local, &key[..common])?;
    if ordering != Ordering::Equal {
        return Ok(Ok(ordering));
    }
    if key.len() == chain.local {
        // The long key goes on past `key`.
        return Ok(Ok(Ordering::Greater));
    }
    Ok(Err(chain))
}

/// A binary search among a page's keys, resumable after a tie
/// ([`Probe::Tie`]): the range of cells still in question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Search {
    low: usize,
    high: usize,
}

/// What a search step found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `Ok(index)` of an equal key, else `Err(index)` where it would go.
    Done(Result<usize, usize>),
    /// Cell `index` holds a long key whose prefix ties with the searched
    /// key: the caller compares the rest of the key with `chain` and goes
    /// on with [`Search::after`].
    Tie(Tie),
}

/// A search stopped at a long key's tied prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tie {
    /// The search to resume.
    pub search: Search,
    /// The cell whose key tied.
    pub index: usize,
    /// Its chain.
    pub chain: KeyChain,
}

impl Search {
    /// A search among `count` cells.
    #[inline]
    pub fn new(count: usize) -> Search {
        Search {
            low: 0,
            high: count,
        }
    }

    /// Runs the binary search on `page` (the same version of the page as
    /// the steps before) until it ends or ties.
    #[inline]
    pub fn run<B: NodeBytes + ?Sized>(
        self,
        page: &B,
        leaf: bool,
        key: &[u8],
    ) -> Result<Probe, Restart> {
        let Search { mut low, mut high } = self;
        while low < high {
            let middle = low + (high - low) / 2;
            let cell = cell_offset(page, middle)?;
            let word = page.u16_at(cell)?;
            let offset = cell + cell_header_bytes(leaf);
            let ordering = if word & KEY_LONG_FLAG == 0 {
                page.compare(offset, usize::from(word), key)?
            } else {
                let at = long_key_at(page, offset, usize::from(word & !KEY_LONG_FLAG))?;
                match compare_key(page, at, key)? {
                    Ok(ordering) => ordering,
                    Err(chain) => {
                        return Ok(Probe::Tie(Tie {
                            search: Search { low, high },
                            index: middle,
                            chain,
                        }));
                    }
                }
            };
            match ordering {
                Ordering::Less => low = middle + 1,
                Ordering::Greater => high = middle,
                Ordering::Equal => return Ok(Probe::Done(Ok(middle))),
            }
        }
        Ok(Probe::Done(Err(low)))
    }

    /// Goes on after the caller compared cell `index`'s key with the
    /// searched key (`ordering`: the cell's key against it): `Ok` of the
    /// cell if they are equal, else the search left.
    pub fn after(self, index: usize, ordering: Ordering) -> Result<usize, Search> {
        match ordering {
            Ordering::Less => Err(Search {
                low: index + 1,
                high: self.high,
            }),
            Ordering::Greater => Err(Search {
                low: self.low,
                high: index,
            }),
            Ordering::Equal => Ok(index),
        }
    }
}

/// What [`search`] returns (as `Err(TIED)`) when it meets a long key: the
/// page holds keys its loop does not compare, and the resumable [`Search`]
/// decides (comparing prefixes, and stopping at each tie for the caller to
/// compare the chain).
pub const TIED: usize = usize::MAX;

/// Binary search among the keys of a page with `count` cells: `Ok(index)`
/// of an equal key, else `Err(index)` where it would go — or `Err(TIED)`
/// at the first long key met. The readers' hot path: the loop is the one
/// before long keys with one branch more per step, and no call in it, so
/// that it keeps to registers.
#[inline]
pub fn search<B: NodeBytes + ?Sized>(
    page: &B,
    leaf: bool,
    count: usize,
    key: &[u8],
) -> Result<Result<usize, usize>, Restart> {
    let (mut low, mut high) = (0, count);
    while low < high {
        let middle = low + (high - low) / 2;
        let cell = cell_offset(page, middle)?;
        let word = page.u16_at(cell)?;
        if word & KEY_LONG_FLAG != 0 {
            return Ok(Err(TIED));
        }
        match page.compare(cell + cell_header_bytes(leaf), usize::from(word), key)? {
            Ordering::Less => low = middle + 1,
            Ordering::Greater => high = middle,
            Ordering::Equal => return Ok(Ok(middle)),
        }
    }
    Ok(Err(low))
}

/// The child position for a search result on an inner page (0 = the first
/// child, i + 1 = the child of cell i).
#[inline]
pub fn child_position(found: Result<usize, usize>) -> usize {
    match found {
        Ok(index) => index + 1,
        Err(index) => index,
    }
}

/// Which child of an inner page a descent takes.
#[derive(Debug, Clone, Copy)]
pub enum Target<'k> {
    /// The child whose range holds the key.
    Key(&'k [u8]),
    /// The first child.
    First,
    /// The last child.
    Last,
}

/// The child of an inner page toward `target`, or [`PageId::NONE`] (never
/// a child) when [`search`] met a long key.
#[inline]
pub fn child_toward<B: NodeBytes + ?Sized>(
    page: &B,
    target: Target<'_>,
) -> Result<PageId, Restart> {
    let position = match target {
        Target::First => 0,
        Target::Last => count(page)?,
        Target::Key(key) => match search(page, false, count(page)?, key)? {
            Err(TIED) => return Ok(PageId::NONE),
            found => child_position(found),
        },
    };
    child_at(page, position)
}

/// Child `position` of an inner page (0 = the first child).
#[inline]
pub fn child_at<B: NodeBytes + ?Sized>(page: &B, position: usize) -> Result<PageId, Restart> {
    if position == 0 {
        return link_0(page);
    }
    let cell = cell_offset(page, position - 1)?;
    Ok(PageId::new(page.u64_at(cell + 2)?))
}

/// Where a leaf cell's value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueAt {
    /// Inside the page at `offset`, `len` bytes.
    Inline {
        /// Offset in the page.
        offset: usize,
        /// Length.
        len: usize,
    },
    /// In an overflow chain starting at `first`, `len` bytes in all.
    Overflow {
        /// The chain's first page.
        first: PageId,
        /// Length of the whole value.
        len: usize,
    },
}

impl ValueAt {
    /// The value's length.
    #[cfg(test)]
    pub fn len(self) -> usize {
        match self {
            ValueAt::Inline { len, .. } | ValueAt::Overflow { len, .. } => len,
        }
    }
}

/// The value of leaf cell `index`.
#[inline]
pub fn value_at<B: NodeBytes + ?Sized>(page: &B, index: usize) -> Result<ValueAt, Restart> {
    let cell = cell_offset(page, index)?;
    value_in_cell(page, cell, page.u16_at(cell)?)
}

/// The value of the leaf cell at offset `cell`, whose key word is `word`.
#[inline]
pub fn value_in_cell<B: NodeBytes + ?Sized>(
    page: &B,
    cell: usize,
    word: u16,
) -> Result<ValueAt, Restart> {
    let key_field = if word & KEY_LONG_FLAG == 0 {
        usize::from(word)
    } else {
        usize::from(word & !KEY_LONG_FLAG) + KEY_REF_BYTES
    };
    let value_word = page.u32_at(cell + 2)?;
    let start = cell + LEAF_CELL_HEADER_BYTES + key_field;
    let len = (value_word & !OVERFLOW_FLAG) as usize;
    if value_word & OVERFLOW_FLAG != 0 {
        let first = PageId::new(page.u64_at(start)?);
        Ok(ValueAt::Overflow { first, len })
    } else if start + len > page.size() {
        Err(Restart)
    } else {
        Ok(ValueAt::Inline { offset: start, len })
    }
}

/// The length of the cell at `offset` (header, key or prefix and
/// reference, value or reference), its long key's reference checked.
#[inline]
pub fn cell_len(page: &[u8], leaf: bool, offset: usize) -> Result<usize, Restart> {
    let key = key_in_cell(page, leaf, offset)?;
    let len = if leaf {
        let word = page.u32_at(offset + 2)?;
        let value = if word & OVERFLOW_FLAG != 0 {
            8
        } else {
            (word & !OVERFLOW_FLAG) as usize
        };
        LEAF_CELL_HEADER_BYTES + key.field_len() + value
    } else {
        INNER_CELL_HEADER_BYTES + key.field_len()
    };
    if offset + len > page.len() {
        return Err(Restart);
    }
    Ok(len)
}

/// The bytes of cell `index`.
#[inline]
pub fn cell_bytes(page: &[u8], leaf: bool, index: usize) -> Result<&[u8], Restart> {
    let offset = cell_offset(page, index)?;
    let len = cell_len(page, leaf, offset)?;
    Ok(&page[offset..offset + len])
}

/// A key as a cell stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredKey<'a> {
    /// The whole key.
    Inline(&'a [u8]),
    /// A long key: its prefix, and the chain holding the rest.
    Long {
        /// The key's first `chain.local` bytes.
        prefix: &'a [u8],
        /// The chain.
        chain: KeyChain,
    },
}

impl<'a> StoredKey<'a> {
    /// The key's bytes in the cell: the whole key, or the prefix.
    #[inline]
    pub fn local(self) -> &'a [u8] {
        match self {
            StoredKey::Inline(key) => key,
            StoredKey::Long { prefix, .. } => prefix,
        }
    }

    /// A long key's chain.
    #[inline]
    pub fn chain(self) -> Option<KeyChain> {
        match self {
            StoredKey::Inline(_) => None,
            StoredKey::Long { chain, .. } => Some(chain),
        }
    }

    /// Bytes the key takes in its cell after the cell header.
    #[inline]
    pub fn field_len(self) -> usize {
        match self {
            StoredKey::Inline(key) => key.len(),
            StoredKey::Long { prefix, .. } => prefix.len() + KEY_REF_BYTES,
        }
    }

    #[inline]
    fn word(self) -> u16 {
        match self {
            StoredKey::Inline(key) => key.len() as u16,
            StoredKey::Long { prefix, .. } => prefix.len() as u16 | KEY_LONG_FLAG,
        }
    }

    #[inline]
    fn write_field(self, cell: &mut Vec<u8>) {
        cell.extend_from_slice(self.local());
        if let StoredKey::Long { chain, .. } = self {
            cell.extend_from_slice(&(chain.len as u32).to_le_bytes());
            cell.extend_from_slice(&chain.first.get().to_le_bytes());
        }
    }
}

/// The key inside raw cell bytes (a cell [`cell_bytes`] checked, or one
/// this module encoded).
#[inline]
pub fn cell_key(cell: &[u8], leaf: bool) -> StoredKey<'_> {
    let word = u16::from_le_bytes([cell[0], cell[1]]);
    let start = cell_header_bytes(leaf);
    let local = usize::from(word & !KEY_LONG_FLAG);
    let prefix = &cell[start..start + local];
    if word & KEY_LONG_FLAG == 0 {
        return StoredKey::Inline(prefix);
    }
    let reference = &cell[start + local..start + local + KEY_REF_BYTES];
    let mut len = [0u8; 4];
    len.copy_from_slice(&reference[..4]);
    let mut first = [0u8; 8];
    first.copy_from_slice(&reference[4..]);
    StoredKey::Long {
        prefix,
        chain: KeyChain {
            first: PageId::new(u64::from_le_bytes(first)),
            len: u32::from_le_bytes(len) as usize,
            local,
        },
    }
}

/// The child inside raw inner cell bytes.
#[inline]
pub fn cell_child(cell: &[u8]) -> PageId {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&cell[2..10]);
    PageId::new(u64::from_le_bytes(bytes))
}

/// Raw inner cell bytes with their child set to `child` (a separator that
/// moves between pages keeps its key, and a long key its chain).
pub fn with_child(cell: &[u8], child: PageId) -> Vec<u8> {
    let mut moved = cell.to_vec();
    set_cell_child(&mut moved, child);
    moved
}

/// Sets the child of raw inner cell bytes.
pub fn set_cell_child(cell: &mut [u8], child: PageId) {
    cell[2..10].copy_from_slice(&child.get().to_le_bytes());
}

/// Encodes a leaf cell.
pub fn leaf_cell(key: StoredKey<'_>, value: StoredValue<'_>) -> Vec<u8> {
    let (word, payload_len) = match value {
        StoredValue::Inline(bytes) => (bytes.len() as u32, bytes.len()),
        StoredValue::Overflow { len, .. } => (len as u32 | OVERFLOW_FLAG, 8),
    };
    let mut cell = Vec::with_capacity(LEAF_CELL_HEADER_BYTES + key.field_len() + payload_len);
    cell.extend_from_slice(&key.word().to_le_bytes());
    cell.extend_from_slice(&word.to_le_bytes());
    key.write_field(&mut cell);
    match value {
        StoredValue::Inline(bytes) => cell.extend_from_slice(bytes),
        StoredValue::Overflow { first, .. } => cell.extend_from_slice(&first.get().to_le_bytes()),
    }
    cell
}

/// Encodes an inner cell.
pub fn inner_cell(key: StoredKey<'_>, child: PageId) -> Vec<u8> {
    let mut cell = Vec::with_capacity(INNER_CELL_HEADER_BYTES + key.field_len());
    cell.extend_from_slice(&key.word().to_le_bytes());
    cell.extend_from_slice(&child.get().to_le_bytes());
    key.write_field(&mut cell);
    cell
}

/// How a leaf cell holds its value.
#[derive(Debug, Clone, Copy)]
pub enum StoredValue<'a> {
    /// The bytes themselves.
    Inline(&'a [u8]),
    /// A reference to an overflow chain.
    Overflow {
        /// The chain's first page.
        first: PageId,
        /// The value's length.
        len: usize,
    },
}

/// A decoded header, for the writer (which holds a latch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Leaf or inner.
    pub kind: Kind,
    /// Cells.
    pub count: usize,
    /// Offset of the lowest cell byte.
    pub heap_start: usize,
    /// Bytes of removed cells inside the heap.
    pub garbage: usize,
    /// Leaf: left sibling; inner: first child.
    pub link_0: PageId,
    /// Leaf: right sibling.
    pub link_1: PageId,
}

impl Header {
    /// Reads and checks the header of a latched page: a leaf or inner page
    /// whose slots and heap fit the page.
    pub fn read(page: &[u8]) -> Result<Header, Restart> {
        let kind = match kind(page)? {
            Some(kind @ (Kind::Leaf | Kind::Inner)) => kind,
            _ => return Err(Restart),
        };
        let header = Header {
            kind,
            count: count(page)?,
            heap_start: page.u32_at(HEAP_START)? as usize,
            garbage: page.u32_at(GARBAGE)? as usize,
            link_0: link_0(page)?,
            link_1: link_1(page)?,
        };
        let slots_end = HEADER_BYTES + header.count * SLOT_BYTES;
        if slots_end > header.heap_start
            || header.heap_start > page.len()
            || header.garbage > page.len() - header.heap_start
        {
            return Err(Restart);
        }
        Ok(header)
    }

    /// Whether this is a leaf.
    pub fn is_leaf(&self) -> bool {
        self.kind == Kind::Leaf
    }

    /// Bytes between the slots and the heap.
    pub fn contiguous_free(&self) -> usize {
        self.heap_start - HEADER_BYTES - self.count * SLOT_BYTES
    }

    /// Bytes free after a compaction.
    pub fn free(&self) -> usize {
        self.contiguous_free() + self.garbage
    }

    /// Bytes of slots and live cells.
    pub fn used(&self, page_size: usize) -> usize {
        page_size - HEADER_BYTES - self.free()
    }

    fn write(&self, page: &mut [u8]) {
        page[KIND] = self.kind as u8;
        page[1] = 0;
        page[COUNT..COUNT + 2].copy_from_slice(&(self.count as u16).to_le_bytes());
        page[HEAP_START..HEAP_START + 4].copy_from_slice(&(self.heap_start as u32).to_le_bytes());
        page[GARBAGE..GARBAGE + 4].copy_from_slice(&(self.garbage as u32).to_le_bytes());
        page[12..16].fill(0);
        page[LINK_0..LINK_0 + 8].copy_from_slice(&self.link_0.get().to_le_bytes());
        page[LINK_1..LINK_1 + 8].copy_from_slice(&self.link_1.get().to_le_bytes());
    }
}

/// Sets a leaf's left sibling.
pub fn set_left(page: &mut [u8], left: PageId) {
    page[LINK_0..LINK_0 + 8].copy_from_slice(&left.get().to_le_bytes());
}

/// Sets a leaf's right sibling.
pub fn set_right(page: &mut [u8], right: PageId) {
    page[LINK_1..LINK_1 + 8].copy_from_slice(&right.get().to_le_bytes());
}

/// Writes a whole node into `page`: the header, then `cells` (raw, in key
/// order) packed at the end. Unused bytes are zeroed so no stale data
/// survives in the file. The cells must fit.
pub fn build<'c>(
    page: &mut [u8],
    kind: Kind,
    link_0: PageId,
    link_1: PageId,
    cells: impl IntoIterator<Item = &'c [u8]>,
) {
    let mut heap_start = page.len();
    let mut count = 0;
    for cell in cells {
        heap_start -= cell.len();
        page[heap_start..heap_start + cell.len()].copy_from_slice(cell);
        let slot = HEADER_BYTES + count * SLOT_BYTES;
        page[slot..slot + 2].copy_from_slice(&(heap_start as u16).to_le_bytes());
        count += 1;
    }
    let slots_end = HEADER_BYTES + count * SLOT_BYTES;
    assert!(slots_end <= heap_start, "node overfilled: {count} cells");
    page[slots_end..heap_start].fill(0);
    Header {
        kind,
        count,
        heap_start,
        garbage: 0,
        link_0,
        link_1,
    }
    .write(page);
}

/// Bytes `cells` take in a page, slots included.
pub fn cells_bytes<'c>(cells: impl IntoIterator<Item = &'c [u8]>) -> usize {
    cells.into_iter().map(|cell| cell.len() + SLOT_BYTES).sum()
}

/// Rewrites a latched page without its garbage.
pub fn compact(page: &mut [u8], scratch: &mut Vec<u8>) -> Result<(), Restart> {
    let header = Header::read(page)?;
    let leaf = header.is_leaf();
    scratch.clear();
    scratch.resize(page.len(), 0);
    let cells = (0..header.count)
        .map(|index| cell_bytes(page, leaf, index))
        .collect::<Result<Vec<_>, _>>()?;
    // Cells of a damaged page may overlap: they must fit when packed.
    if cells_bytes(cells.iter().copied()) > page.len() - HEADER_BYTES {
        return Err(Restart);
    }
    build(scratch, header.kind, header.link_0, header.link_1, cells);
    page.copy_from_slice(scratch);
    Ok(())
}

/// Inserts `cell` as cell `index` if the page has room (compacting if the
/// room is only there after compaction); false if it has not.
pub fn insert_cell(
    page: &mut [u8],
    index: usize,
    cell: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<bool, Restart> {
    let mut header = Header::read(page)?;
    let need = cell.len() + SLOT_BYTES;
    if header.free() < need {
        return Ok(false);
    }
    if header.contiguous_free() < need {
        compact(page, scratch)?;
        header = Header::read(page)?;
    }
    if index > header.count {
        return Err(Restart);
    }
    let start = header.heap_start - cell.len();
    page[start..start + cell.len()].copy_from_slice(cell);
    let slot = HEADER_BYTES + index * SLOT_BYTES;
    let slots_end = HEADER_BYTES + header.count * SLOT_BYTES;
    page.copy_within(slot..slots_end, slot + SLOT_BYTES);
    page[slot..slot + 2].copy_from_slice(&(start as u16).to_le_bytes());
    header.count += 1;
    header.heap_start = start;
    header.write(page);
    Ok(true)
}

/// Removes cell `index`; its bytes become garbage.
pub fn remove_cell(page: &mut [u8], index: usize) -> Result<(), Restart> {
    let mut header = Header::read(page)?;
    if index >= header.count {
        return Err(Restart);
    }
    let offset = cell_offset(page, index)?;
    let len = cell_len(page, header.is_leaf(), offset)?;
    let slot = HEADER_BYTES + index * SLOT_BYTES;
    let slots_end = HEADER_BYTES + header.count * SLOT_BYTES;
    page.copy_within(slot + SLOT_BYTES..slots_end, slot);
    page[slots_end - SLOT_BYTES..slots_end].fill(0);
    header.count -= 1;
    if offset == header.heap_start {
        header.heap_start += len;
    } else {
        header.garbage += len;
    }
    header.write(page);
    Ok(())
}

/// Writes an empty leaf with no siblings.
pub fn build_empty_leaf(page: &mut [u8]) {
    build(
        page,
        Kind::Leaf,
        PageId::NONE,
        PageId::NONE,
        std::iter::empty(),
    );
}

/// The shortest separator `s` with `left < s <= right` (prefix truncation:
/// inner pages carry only as much of a key as tells the halves apart).
/// `None` if `left` is not below `right` (a damaged page).
pub fn separator(left: &[u8], right: &[u8]) -> Option<Vec<u8>> {
    if left >= right {
        return None;
    }
    let common = left.iter().zip(right).take_while(|(a, b)| a == b).count();
    Some(right[..(common + 1).min(right.len())].to_vec())
}

/// Writes an overflow page.
pub fn build_overflow(page: &mut [u8], data: &[u8], next: PageId) {
    page[0] = Kind::Overflow as u8;
    page[1..4].fill(0);
    page[4..8].copy_from_slice(&(data.len() as u32).to_le_bytes());
    page[8..16].copy_from_slice(&next.get().to_le_bytes());
    page[OVERFLOW_HEADER_BYTES..OVERFLOW_HEADER_BYTES + data.len()].copy_from_slice(data);
    page[OVERFLOW_HEADER_BYTES + data.len()..].fill(0);
}

/// An overflow page's (bytes used, next page), checked.
pub fn overflow_header<B: NodeBytes + ?Sized>(
    page: &B,
) -> Result<Option<(usize, PageId)>, Restart> {
    if kind(page)? != Some(Kind::Overflow) {
        return Ok(None);
    }
    let used = page.u32_at(4)? as usize;
    if used > page.size() - OVERFLOW_HEADER_BYTES {
        return Ok(None);
    }
    Ok(Some((used, PageId::new(page.u64_at(8)?))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn leaf_with(keys: &[&[u8]]) -> Vec<u8> {
        let mut page = vec![0u8; 4096];
        let cells: Vec<Vec<u8>> = keys
            .iter()
            .map(|key| leaf_cell(StoredKey::Inline(key), StoredValue::Inline(b"v")))
            .collect();
        build(
            &mut page,
            Kind::Leaf,
            PageId::NONE,
            PageId::NONE,
            cells.iter().map(Vec::as_slice),
        );
        page
    }

    #[test]
    fn search_finds_keys_and_gaps() {
        let page = leaf_with(&[b"b", b"d", b"f"]);
        let page = page.as_slice();
        assert_eq!(search(page, true, 3, b"d").unwrap(), Ok(1));
        assert_eq!(search(page, true, 3, b"a").unwrap(), Err(0));
        assert_eq!(search(page, true, 3, b"e").unwrap(), Err(2));
        assert_eq!(search(page, true, 3, b"g").unwrap(), Err(3));
    }

    #[test]
    fn insert_and_remove_keep_order_and_account_bytes() {
        let mut page = leaf_with(&[b"b", b"f"]);
        let mut scratch = Vec::new();
        let before = Header::read(&page).unwrap();
        let cell = leaf_cell(StoredKey::Inline(b"d"), StoredValue::Inline(b"xyz"));
        assert!(insert_cell(&mut page, 1, &cell, &mut scratch).unwrap());
        let after = Header::read(&page).unwrap();
        assert_eq!(after.free(), before.free() - cell.len() - SLOT_BYTES);
        assert_eq!(search(page.as_slice(), true, 3, b"d").unwrap(), Ok(1));
        remove_cell(&mut page, 0).unwrap();
        let removed = Header::read(&page).unwrap();
        assert_eq!(removed.count, 2);
        assert_eq!(
            removed.garbage,
            leaf_cell(StoredKey::Inline(b"b"), StoredValue::Inline(b"v")).len()
        );
        compact(&mut page, &mut scratch).unwrap();
        let compacted = Header::read(&page).unwrap();
        assert_eq!(compacted.garbage, 0);
        assert_eq!(compacted.free(), removed.free());
        assert_eq!(value_at(page.as_slice(), 0).unwrap().len(), 3);
    }

    #[test]
    fn full_page_refuses_a_cell() {
        let mut page = leaf_with(&[]);
        let mut scratch = Vec::new();
        let geometry = Geometry { page_size: 4096 };
        let value = vec![7u8; geometry.cell_bytes_max() - SLOT_BYTES - LEAF_CELL_HEADER_BYTES - 4];
        let mut inserted = 0;
        for key in 0u32.. {
            let cell = leaf_cell(
                StoredKey::Inline(&key.to_be_bytes()),
                StoredValue::Inline(&value),
            );
            if !insert_cell(&mut page, inserted, &cell, &mut scratch).unwrap() {
                break;
            }
            inserted += 1;
        }
        assert_eq!(inserted, 4, "a page holds four largest cells");
    }

    #[test]
    fn separators_are_short_and_between() {
        assert_eq!(separator(b"apple", b"apricot").unwrap(), b"apr");
        assert_eq!(separator(b"ab", b"abc").unwrap(), b"abc");
        assert_eq!(separator(b"a", b"b").unwrap(), b"b");
        assert_eq!(separator(b"b", b"a"), None);
        let left: &[u8] = b"abc";
        let right: &[u8] = b"abd";
        let sep = separator(left, right).unwrap();
        assert!(left < sep.as_slice() && sep.as_slice() <= right);
    }

    #[test]
    fn torn_slots_restart_rather_than_panic() {
        let mut page = leaf_with(&[b"a"]);
        page[HEADER_BYTES..HEADER_BYTES + 2].copy_from_slice(&0xffffu16.to_le_bytes());
        assert_eq!(key_at(page.as_slice(), true, 0), Err(Restart));
        page[COUNT..COUNT + 2].copy_from_slice(&5000u16.to_le_bytes());
        assert_eq!(Header::read(&page), Err(Restart));
    }

    /// A leaf holding "a", a long key of `len` bytes whose prefix is
    /// `prefix` (its chain at page 99), and "c".
    fn leaf_with_long_key(prefix: &[u8], len: usize) -> Vec<u8> {
        let mut page = vec![0u8; 4096];
        let chain = KeyChain {
            first: PageId::new(99),
            len,
            local: prefix.len(),
        };
        let cells = [
            leaf_cell(StoredKey::Inline(b"a"), StoredValue::Inline(b"1")),
            leaf_cell(StoredKey::Long { prefix, chain }, StoredValue::Inline(b"2")),
            leaf_cell(StoredKey::Inline(b"c"), StoredValue::Inline(b"3")),
        ];
        build(
            &mut page,
            Kind::Leaf,
            PageId::NONE,
            PageId::NONE,
            cells.iter().map(Vec::as_slice),
        );
        page
    }

    #[test]
    fn a_long_keys_prefix_decides_unless_it_ties() {
        let prefix = vec![b'b'; 494];
        let page = leaf_with_long_key(&prefix, 5000);
        let page = page.as_slice();
        let chain = KeyChain {
            first: PageId::new(99),
            len: 5000,
            local: 494,
        };
        // Decided by the prefix: a byte differs, or the key ends inside it
        // or with it (the long key goes on). The loop of `search` leaves a
        // page holding a long key to the resumable search.
        let cases: [(&[u8], Result<usize, usize>); 5] = [
            (b"a", Ok(0)),
            (b"bz", Err(2)),
            (b"ba", Err(1)),
            (&prefix[..100], Err(1)),
            (&prefix, Err(1)),
        ];
        for (key, found) in cases {
            assert_eq!(search(page, true, 3, key).unwrap(), Err(TIED));
            assert_eq!(
                Search::new(3).run(page, true, key).unwrap(),
                Probe::Done(found)
            );
        }
        // Every search of this page meets the long key first (it is the
        // middle cell).
        assert_eq!(search(page, true, 3, b"c").unwrap(), Err(TIED));
        assert_eq!(
            Search::new(3).run(page, true, b"c").unwrap(),
            Probe::Done(Ok(2))
        );
        // Tied: the whole prefix and more.
        let mut longer = prefix.clone();
        longer.extend_from_slice(b"zz");
        assert_eq!(search(page, true, 3, &longer).unwrap(), Err(TIED));
        let Probe::Tie(tie) = Search::new(3).run(page, true, &longer).unwrap() else {
            panic!("a key past the whole prefix ties");
        };
        assert_eq!((tie.index, tie.chain), (1, chain));
        // The chain's order against the key's rest settles it.
        assert_eq!(tie.search.after(tie.index, Ordering::Equal), Ok(1));
        let below = tie.search.after(tie.index, Ordering::Less).unwrap_err();
        assert_eq!(below.run(page, true, &longer).unwrap(), Probe::Done(Err(2)));
        let above = tie.search.after(tie.index, Ordering::Greater).unwrap_err();
        assert_eq!(above.run(page, true, &longer).unwrap(), Probe::Done(Err(1)));
        // The cell decodes back, and its value follows the reference.
        let cell = cell_bytes(page, true, 1).unwrap();
        assert_eq!(
            cell_key(cell, true),
            StoredKey::Long {
                prefix: &prefix,
                chain
            }
        );
        assert_eq!(
            key_at(page, true, 1).unwrap(),
            KeyAt {
                offset: cell_offset(page, 1).unwrap() + LEAF_CELL_HEADER_BYTES,
                local: 494,
                chain: Some(chain)
            }
        );
        let ValueAt::Inline { offset, len } = value_at(page, 1).unwrap() else {
            panic!("an inline value");
        };
        assert_eq!(&page[offset..offset + len], b"2");
    }

    #[test]
    fn a_long_key_reference_that_cannot_be_is_refused() {
        let prefix = vec![b'b'; 494];
        // Not longer than its prefix, past the limit, or with no chain.
        for (len, first) in [(494, 99), (KEY_BYTES_MAX + 1, 99), (5000, 0)] {
            let mut page = leaf_with_long_key(&prefix, 5000);
            let at = key_at(page.as_slice(), true, 1).unwrap();
            let reference = at.offset + at.local;
            page[reference..reference + 4].copy_from_slice(&(len as u32).to_le_bytes());
            page[reference + 4..reference + 12].copy_from_slice(&(first as u64).to_le_bytes());
            assert_eq!(key_at(page.as_slice(), true, 1), Err(Restart));
            assert_eq!(
                Search::new(3).run(page.as_slice(), true, b"bz"),
                Err(Restart)
            );
        }
    }

    #[test]
    fn long_keys_keep_a_prefix_that_fits_a_quarter_page() {
        for page_size in [4096usize, 8192, 16384, 32768, 65536] {
            let geometry = Geometry { page_size };
            let inline = geometry.key_inline_max();
            assert_eq!(geometry.key_local_len(inline), inline);
            assert_eq!(geometry.key_field_len(inline), inline);
            for len in (inline + 1..=KEY_BYTES_MAX)
                .step_by(97)
                .chain([KEY_BYTES_MAX])
            {
                let local = geometry.key_local_len(len);
                assert!(
                    (geometry.key_local_min()..=geometry.key_local_max()).contains(&local),
                    "{page_size}: {len} keeps {local}"
                );
                assert!(local < len);
                // A leaf cell with an overflow value, or an inner cell, fits.
                let field = geometry.key_field_len(len);
                assert!(
                    SLOT_BYTES + LEAF_CELL_HEADER_BYTES + field + 8 <= geometry.cell_bytes_max()
                );
                assert!(SLOT_BYTES + INNER_CELL_HEADER_BYTES + field <= geometry.cell_bytes_max());
            }
        }
        // SQLite's rule: the chain fills whole pages when the prefix allows.
        let geometry = Geometry { page_size: 4096 };
        assert_eq!(geometry.key_inline_max(), 1000);
        assert_eq!(geometry.key_local_len(1001), 494);
        assert_eq!(geometry.key_local_len(494 + 4080), 494);
        assert_eq!(geometry.key_local_len(900 + 4080), 900);
        assert_eq!(geometry.key_local_len(KEY_BYTES_MAX), 494);
    }
}

//! The byte layout of B+tree pages (docs/FORMAT.md, "B+tree pages") and
//! the operations on one page.
//!
//! Every page starts with a 32-byte header; leaf and inner pages are
//! slotted: an array of 8-byte slots in key order grows up from the
//! header, the cells (and the page's key prefix) grow down from the end
//! of the page.
//!
//! ```text
//! offset size  field
//!  0      1    kind: 1 leaf, 2 inner, 3 overflow
//!  1      1    reserved (0)
//!  2      2    cell count
//!  4      4    heap start: offset of the lowest heap byte (page size if none)
//!  8      4    garbage bytes: bytes of removed cells still inside the heap
//! 12      2    prefix length: bytes every key of the page begins with
//! 14      2    prefix offset (0 when the length is 0)
//! 16      8    leaf: left sibling (0 = none)  | inner: first child
//! 24      8    leaf: right sibling (0 = none) | inner: 0
//! 32   8×count slots, in key order:
//!              cell offset u16, key word u16, key head [u8; 4]
//! ```
//!
//! The page prefix is stored once; a key's remainder (the bytes after
//! the prefix) has its first four bytes in the slot (the head, zero
//! padded) and the rest in the cell. The key word's low 15 bits are the
//! remainder's length; its top bit marks a long key. Compared as
//! big-endian `u32`s, heads order keys as their bytes do unless they are
//! equal, and then the lengths (when either remainder is at most four
//! bytes) or the cells' bytes decide. A binary search so reads one slot
//! per step, and a cell only on a head tie (LeanStore's slotted page,
//! whose cells also repeat the head).
//!
//! Leaf cell: `value word u16, remainder past the head, value`, where the
//! value word's top bit says the value lives in an overflow chain: its
//! first page (`u64`) and whole length (`u32`) then stand in for the
//! value; else the word is the value's length. Inner cell: `child u64,
//! remainder past the head`: keys at or above the cell's key and below
//! the next cell's key live under `child`; keys below the first cell's key
//! under the first child.
//!
//! A long key (longer than [`Geometry::key_inline_max`]) keeps its first
//! bytes (its local part) in the page — the page prefix, the head, then
//! the rest in its cell — followed in the cell by the key's whole length (`u32`) and
//! the first page (`u64`) of an overflow chain holding the rest, as
//! SQLite spills a payload and WiredTiger an overflow key. The local part
//! decides most comparisons; only a key that ties with all of it is
//! compared with the chain ([`Probe::Tie`]).
//!
//! The prefix is the longest every key of the page shares, leaving each
//! key (a long key's local part) at least four bytes for its head
//! ([`prefix_kept`]), so every cell is shorter by exactly the prefix's
//! length and a page's bytes are linear in it; it is computed whenever a
//! page is built whole (a split, merge, rebalance or bulk load) and kept
//! by compaction.
//! keel's pages have no fence keys, so an insert whose key does not
//! share the prefix rebuilds the page with the shorter prefix the keys
//! then share (or, when that does not fit, the page splits and each half
//! gets its own). A removal keeps the prefix (the keys left still share
//! it); an emptied page has none.
//!
//! The writer moves cells between pages as *loose* cells, outside any
//! page and never on disk: `key word u16, value word u32, local key,
//! value` (inner: `key word u16, child u64, local key`), a long key's
//! reference after its local part and an overflow value's first page in
//! place of the value. [`build`] and [`insert_cell`] encode them into a
//! page under its prefix; [`cell_bytes`] decodes one back. A split moves
//! its page's cells' bytes instead ([`crate::page_cells`]).
//!
//! Readers see pages through [`NodeBytes`], which both an optimistic
//! [`PageView`] (copies, every access bounds-checked, a torn value gives
//! [`Restart`]) and a latched `[u8]` implement, so there is one search.

use std::cmp::Ordering;

use keel_pager::{PageId, PageView, Restart};

/// Bytes of the page header.
pub const HEADER_BYTES: usize = 32;
/// Bytes of one slot: the cell's offset (`u16`), the key word (`u16`) and
/// the key head.
pub const SLOT_BYTES: usize = 8;
/// Bytes of the key head in a slot.
pub const HEAD_BYTES: usize = 4;
/// Bytes of a leaf cell before its key's remainder (the value word).
pub const LEAF_CELL_HEADER_BYTES: usize = 2;
/// Bytes of an inner cell before its key's remainder (the child).
pub const INNER_CELL_HEADER_BYTES: usize = 8;
/// Bytes standing in a leaf cell for a value in an overflow chain: its
/// first page (`u64`) and length (`u32`).
pub const VALUE_REF_BYTES: usize = 12;
/// Bytes of the overflow page header (kind, reserved, bytes used, next).
pub const OVERFLOW_HEADER_BYTES: usize = 16;
/// The value word's flag in a page: the value is in an overflow chain.
pub const VALUE_OVERFLOW_FLAG: u16 = 1 << 15;
/// The value word's flag in a loose cell.
pub const OVERFLOW_FLAG: u32 = 1 << 31;
/// Bytes of a loose leaf cell before its key: key word, value word.
const LOOSE_LEAF_HEADER_BYTES: usize = 6;
/// Bytes of a loose inner cell before its key: key word, child.
const LOOSE_INNER_HEADER_BYTES: usize = 10;

/// The largest value, in bytes (Redis's own bulk limit, so every value a
/// Redis client may send fits).
pub const VALUE_BYTES_MAX: usize = 512 << 20;
const _: () = assert!(VALUE_BYTES_MAX < OVERFLOW_FLAG as usize);
const _: () = assert!(VALUE_BYTES_MAX <= u32::MAX as usize);

/// The longest key, in bytes, on every page size: 64 KiB for a caller's
/// key (fjall's limit; Redis keys in practice are far shorter) and 64
/// bytes more for a layer above to prefix a namespace of its own (keel's
/// engine prefixes a 4-byte keyspace id), so a 64 KiB key reaches the tree
/// whole. A key longer than [`crate::BTree::key_inline_max`] keeps a prefix in
/// its cell and the rest in an overflow chain.
pub const KEY_BYTES_MAX: usize = (64 << 10) + 64;
/// The key word's flag: the key is long, its cell holds (after the page
/// prefix) the rest of its local part and a [`KEY_REF_BYTES`] reference
/// to the chain holding the rest of the key.
pub const KEY_LONG_FLAG: u16 = 1 << 15;
/// Bytes of a long key's reference, after its local part: the key's
/// length (`u32`) and the first page of its chain (`u64`).
pub const KEY_REF_BYTES: usize = 12;
const _: () = assert!(KEY_BYTES_MAX <= u32::MAX as usize);
// Every key word's length and every inline value's length fits below
// its flag, and every offset in a `u16`, on every page size.
const _: () =
    assert!((keel_pager::PAGE_SIZE_MAX as usize - HEADER_BYTES) / 4 < KEY_LONG_FLAG as usize);
const _: () =
    assert!((keel_pager::PAGE_SIZE_MAX as usize - HEADER_BYTES) / 4 < VALUE_OVERFLOW_FLAG as usize);
const _: () = assert!(keel_pager::PAGE_SIZE_MAX as usize <= 1 << 16);

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
const PREFIX_LEN: usize = 12;
const PREFIX_OFFSET: usize = 14;
const LINK_0: usize = 16;
const LINK_1: usize = 24;

/// Sizes derived from the page size: what a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// The page size.
    pub page_size: usize,
}

impl Geometry {
    /// Bytes for slots, cells and the prefix.
    #[inline]
    pub fn usable(self) -> usize {
        self.page_size - HEADER_BYTES
    }

    /// The largest cell with its slot, before the page prefix shortens it
    /// ([`cell_cost`]): a quarter of the usable space, so a node always
    /// holds four, and a split always leaves both halves at least a
    /// quarter full.
    #[inline]
    pub fn cell_bytes_max(self) -> usize {
        self.usable() / 4
    }

    /// The longest key stored whole in its page (994 bytes on 4 KiB
    /// pages): a leaf cell with it and an overflow reference must fit.
    /// Longer keys, up to [`KEY_BYTES_MAX`], are long keys.
    #[inline]
    pub fn key_inline_max(self) -> usize {
        self.cell_bytes_max() - SLOT_BYTES - LEAF_CELL_HEADER_BYTES - VALUE_REF_BYTES
    }

    /// The longest local part a long key keeps in its page: with its
    /// reference it takes no more room than the longest inline key.
    pub fn key_local_max(self) -> usize {
        self.key_inline_max() - KEY_REF_BYTES
    }

    /// The shortest local part a long key keeps in its page.
    pub fn key_local_min(self) -> usize {
        self.key_local_max() / 2
    }

    /// The bytes of a key of `len` bytes its page holds: all of it when it
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

    /// Bytes a key of `len` bytes takes in a page with no prefix, after
    /// the cell header: the key, or a long key's local part and reference.
    #[inline]
    pub fn key_field_len(self, len: usize) -> usize {
        if len <= self.key_inline_max() {
            len
        } else {
            self.key_local_len(len) + KEY_REF_BYTES
        }
    }

    /// The [`cell_cost`] of an inner cell for a separator of `len` bytes.
    #[inline]
    pub fn separator_cost(self, len: usize) -> usize {
        SLOT_BYTES + INNER_CELL_HEADER_BYTES + self.key_field_len(len)
    }

    /// A node (not the root) holding fewer bytes than this is merged with
    /// or rebalanced against a sibling.
    pub fn fill_bytes_min(self) -> usize {
        self.usable() / 4
    }

    /// Whether a value of `value_len` bytes with a key taking
    /// `key_field_len` bytes ([`Geometry::key_field_len`]) is stored
    /// inside the leaf.
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

/// The page prefix: its offset and length, checked to lie inside the page.
#[inline]
pub fn prefix<B: NodeBytes + ?Sized>(page: &B) -> Result<(usize, usize), Restart> {
    let len = usize::from(page.u16_at(PREFIX_LEN)?);
    if len == 0 {
        return Ok((0, 0));
    }
    let offset = usize::from(page.u16_at(PREFIX_OFFSET)?);
    if offset < HEADER_BYTES || offset + len > page.size() {
        return Err(Restart);
    }
    Ok((offset, len))
}

/// One slot, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotAt {
    /// The cell's offset, checked to lie past the header and in the page.
    pub cell: usize,
    /// The key word: the remainder's length in the cell, and the long flag.
    pub word: u16,
    /// The remainder's first four bytes, zero padded, big-endian.
    pub head: u32,
}

impl SlotAt {
    /// Bytes of the key's remainder in the cell (a long key's: of its
    /// local part).
    #[inline]
    pub fn remainder(self) -> usize {
        usize::from(self.word & !KEY_LONG_FLAG)
    }

    /// Whether the key is long.
    #[inline]
    pub fn is_long(self) -> bool {
        self.word & KEY_LONG_FLAG != 0
    }

    /// The head's bytes that are the remainder's (the rest is padding).
    #[inline]
    pub fn head_bytes(self) -> ([u8; HEAD_BYTES], usize) {
        (self.head.to_be_bytes(), self.remainder().min(HEAD_BYTES))
    }
}

/// Bytes of a key remainder of `len` bytes its cell holds: those past the
/// head, which only the slot holds.
#[inline]
pub fn tail_len(len: usize) -> usize {
    len.saturating_sub(HEAD_BYTES)
}

/// The bytes of a page prefix `prefix` a key whose local part is `local`
/// keeps: those it shares, but never one of its last four (a prefix never
/// takes a key's head, so every cell of a page is shorter by exactly the
/// prefix's length than with none).
#[inline]
pub fn prefix_kept(prefix: &[u8], local: &[u8]) -> usize {
    common_len(prefix, local).min(local.len().saturating_sub(HEAD_BYTES))
}

/// Slot `index`, one 8-byte read.
#[inline]
pub fn slot<B: NodeBytes + ?Sized>(page: &B, index: usize) -> Result<SlotAt, Restart> {
    let raw = page.u64_at(HEADER_BYTES + index * SLOT_BYTES)?;
    let cell = (raw & 0xffff) as usize;
    if cell < HEADER_BYTES || cell >= page.size() {
        return Err(Restart);
    }
    Ok(SlotAt {
        cell,
        word: (raw >> 16) as u16,
        // Bytes 4..8 of the slot, read little-endian: swapped, they are the
        // head's bytes in order as a big-endian number.
        head: ((raw >> 32) as u32).swap_bytes(),
    })
}

/// The offset of cell `index`, checked to lie inside the page.
#[inline]
pub fn cell_offset<B: NodeBytes + ?Sized>(page: &B, index: usize) -> Result<usize, Restart> {
    Ok(slot(page, index)?.cell)
}

/// The head of a key remainder: its first four bytes, zero padded, as a
/// big-endian number.
#[inline]
pub fn head(remainder: &[u8]) -> u32 {
    if let Some(bytes) = remainder.first_chunk::<HEAD_BYTES>() {
        // Most remainders: one load, no copy.
        return u32::from_be_bytes(*bytes);
    }
    let mut bytes = [0u8; HEAD_BYTES];
    let len = remainder.len().min(HEAD_BYTES);
    bytes[..len].copy_from_slice(&remainder[..len]);
    u32::from_be_bytes(bytes)
}

/// `key` against the page prefix at `prefix` (offset, length): `Ok` of
/// the key's remainder when it begins with the prefix, else `Err` of the
/// key's order against every key of the page.
#[inline]
fn strip<'k, B: NodeBytes + ?Sized>(
    page: &B,
    (offset, len): (usize, usize),
    key: &'k [u8],
) -> Result<Result<&'k [u8], Ordering>, Restart> {
    if len == 0 {
        return Ok(Ok(key));
    }
    let common = len.min(key.len());
    Ok(match page.compare(offset, common, &key[..common])? {
        Ordering::Equal if key.len() >= len => Ok(&key[len..]),
        // The key ends inside the prefix: below every key.
        Ordering::Equal | Ordering::Greater => Err(Ordering::Less),
        Ordering::Less => Err(Ordering::Greater),
    })
}

/// A long key's reference: the chain holding the key's bytes from
/// `local` (the local part its page holds) to `len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChain {
    /// The chain's first page.
    pub first: PageId,
    /// The whole key's length.
    pub len: usize,
    /// The bytes of the key its page holds (the chain holds the rest).
    pub local: usize,
}

impl KeyChain {
    /// Bytes in the chain.
    pub fn rest(self) -> usize {
        self.len - self.local
    }
}

/// Where the key of a cell is: the page prefix, then a remainder of
/// `local` bytes (of the key, or of a long key's local part) — its first
/// four in the slot's head, the rest at `offset` — and, for a long key,
/// its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAt {
    /// The page prefix: offset and length.
    pub prefix: (usize, usize),
    /// The slot's head.
    pub head: u32,
    /// Offset of the remainder's bytes past the head, in the cell.
    pub offset: usize,
    /// Bytes of the remainder.
    pub local: usize,
    /// A long key's chain.
    pub chain: Option<KeyChain>,
}

#[inline]
pub(crate) fn cell_header_bytes(leaf: bool) -> usize {
    if leaf {
        LEAF_CELL_HEADER_BYTES
    } else {
        INNER_CELL_HEADER_BYTES
    }
}

/// A long key's reference after its `local`-byte remainder, whose bytes
/// past the head are at `offset`, under a prefix of `prefix_len` bytes:
/// checked to fit the page, to hold more than the local part and at most
/// [`KEY_BYTES_MAX`], and to name a page.
#[cold]
fn long_key_chain<B: NodeBytes + ?Sized>(
    page: &B,
    offset: usize,
    local: usize,
    prefix_len: usize,
) -> Result<KeyChain, Restart> {
    let reference = offset + tail_len(local);
    if reference + KEY_REF_BYTES > page.size() {
        return Err(Restart);
    }
    let len = page.u32_at(reference)? as usize;
    let first = PageId::new(page.u64_at(reference + 4)?);
    let local = prefix_len + local;
    if len <= local || len > KEY_BYTES_MAX || first == PageId::NONE {
        return Err(Restart);
    }
    Ok(KeyChain { first, len, local })
}

/// The key of the cell that `slot` points at.
#[inline]
pub(crate) fn key_of_slot<B: NodeBytes + ?Sized>(
    page: &B,
    leaf: bool,
    prefix: (usize, usize),
    slot: SlotAt,
) -> Result<KeyAt, Restart> {
    let offset = slot.cell + cell_header_bytes(leaf);
    let local = slot.remainder();
    if offset + tail_len(local) > page.size() {
        return Err(Restart);
    }
    let chain = if slot.is_long() {
        Some(long_key_chain(page, offset, local, prefix.1)?)
    } else {
        None
    };
    Ok(KeyAt {
        prefix,
        head: slot.head,
        offset,
        local,
        chain,
    })
}

/// The key of cell `index`.
#[inline]
pub fn key_at<B: NodeBytes + ?Sized>(page: &B, leaf: bool, index: usize) -> Result<KeyAt, Restart> {
    key_of_slot(page, leaf, prefix(page)?, slot(page, index)?)
}

/// Compares the key at `at` with `key`: the order of the page's key
/// against `key`, or, when a long key's whole local part ties with `key`
/// and `key` goes on past it, `Err` with the chain the rest is in. The
/// tests' oracle for [`search`] (the writer judges its cached leaf by a
/// search).
#[cfg(test)]
pub fn compare_key<B: NodeBytes + ?Sized>(
    page: &B,
    at: KeyAt,
    key: &[u8],
) -> Result<Result<Ordering, KeyChain>, Restart> {
    let rest = match strip(page, at.prefix, key)? {
        Ok(rest) => rest,
        Err(ordering) => return Ok(Ok(ordering.reverse())),
    };
    match at.chain {
        None => Ok(Ok(compare_remainder(
            page, at.head, at.offset, at.local, rest,
        )?)),
        Some(chain) => compare_local(page, at.head, at.offset, at.local, chain, rest),
    }
}

/// [`compare_key`] of a long key's remainder (`local` bytes: the head's
/// first, the rest at `offset`) with the searched key's: by the bytes when
/// they decide.
#[cold]
#[inline(never)]
fn compare_local<B: NodeBytes + ?Sized>(
    page: &B,
    head: u32,
    offset: usize,
    local: usize,
    chain: KeyChain,
    rest: &[u8],
) -> Result<Result<Ordering, KeyChain>, Restart> {
    let in_head = local.min(HEAD_BYTES);
    let common = in_head.min(rest.len());
    let ordering = head.to_be_bytes()[..common].cmp(&rest[..common]);
    if ordering != Ordering::Equal {
        return Ok(Ok(ordering));
    }
    if rest.len() < in_head {
        // The key ends inside the local part: the long key goes on.
        return Ok(Ok(Ordering::Greater));
    }
    let (tail, rest) = (local - in_head, &rest[in_head..]);
    let common = tail.min(rest.len());
    // A key shorter than the local part and equal to its start is below it.
    let ordering = page.compare(offset, tail, &rest[..common])?;
    if ordering != Ordering::Equal {
        return Ok(Ok(ordering));
    }
    if rest.len() == tail {
        // The long key goes on past `key`.
        return Ok(Ok(Ordering::Greater));
    }
    Ok(Err(chain))
}

/// The order of the (not long) key of `slot` against the searched key's
/// remainder `rest`, whose head is `rest_head`: by the heads, else by the
/// lengths or the cell's bytes (those past the head).
#[inline(always)]
fn compare_slot<B: NodeBytes + ?Sized>(
    page: &B,
    leaf: bool,
    slot: SlotAt,
    rest: &[u8],
    rest_head: u32,
) -> Result<Ordering, Restart> {
    let ordering = slot.head.cmp(&rest_head);
    if ordering != Ordering::Equal {
        return Ok(ordering);
    }
    let len = usize::from(slot.word);
    if len <= HEAD_BYTES || rest.len() <= HEAD_BYTES {
        // Equal heads: the shorter remainder is a prefix of the other.
        return Ok(len.cmp(&rest.len()));
    }
    page.compare(
        slot.cell + cell_header_bytes(leaf),
        len - HEAD_BYTES,
        &rest[HEAD_BYTES..],
    )
}

/// The order of a (not long) remainder of `len` bytes — the head's first,
/// the rest at `offset` — against `rest`.
#[cfg(test)]
fn compare_remainder<B: NodeBytes + ?Sized>(
    page: &B,
    head: u32,
    offset: usize,
    len: usize,
    rest: &[u8],
) -> Result<Ordering, Restart> {
    let ordering = head.cmp(&self::head(rest));
    if ordering != Ordering::Equal {
        return Ok(ordering);
    }
    if len <= HEAD_BYTES || rest.len() <= HEAD_BYTES {
        return Ok(len.cmp(&rest.len()));
    }
    page.compare(offset, len - HEAD_BYTES, &rest[HEAD_BYTES..])
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
    /// Cell `index` holds a long key whose local part ties with the
    /// searched key: the caller compares the rest of the key with `chain`
    /// and goes on with [`Search::after`].
    Tie(Tie),
}

/// A search stopped at a long key's tied local part.
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
        let prefix = prefix(page)?;
        let rest = match strip(page, prefix, key)? {
            Ok(rest) => rest,
            Err(Ordering::Less) => return Ok(Probe::Done(Err(low))),
            Err(_) => return Ok(Probe::Done(Err(high))),
        };
        let rest_head = head(rest);
        while low < high {
            let middle = low + (high - low) / 2;
            let slot = slot(page, middle)?;
            let ordering = if !slot.is_long() {
                compare_slot(page, leaf, slot, rest, rest_head)?
            } else {
                let at = key_of_slot(page, leaf, prefix, slot)?;
                let chain = at.chain.ok_or(Restart)?;
                match compare_local(page, at.head, at.offset, at.local, chain, rest)? {
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
/// decides (comparing local parts, and stopping at each tie for the
/// caller to compare the chain).
pub const TIED: usize = usize::MAX;

/// Binary search among the keys of a page with `count` cells: `Ok(index)`
/// of an equal key, else `Err(index)` where it would go — or `Err(TIED)`
/// at the first long key met. The readers' hot path: the key is checked
/// against the page prefix once, then each step reads one slot and
/// compares heads, reading a cell only when they tie.
#[inline]
pub fn search<B: NodeBytes + ?Sized>(
    page: &B,
    leaf: bool,
    count: usize,
    key: &[u8],
) -> Result<Result<usize, usize>, Restart> {
    let rest = match strip(page, prefix(page)?, key)? {
        Ok(rest) => rest,
        Err(Ordering::Less) => return Ok(Err(0)),
        Err(_) => return Ok(Err(count)),
    };
    let rest_head = head(rest);
    let (mut low, mut high) = (0, count);
    while low < high {
        let middle = low + (high - low) / 2;
        // Most steps are decided by the slot's head alone: the slot read
        // as one word, its cell looked at only when the heads tie.
        let raw = page.u64_at(HEADER_BYTES + middle * SLOT_BYTES)?;
        if (raw >> 16) as u16 & KEY_LONG_FLAG != 0 {
            return Ok(Err(TIED));
        }
        let ordering = match ((raw >> 32) as u32).swap_bytes().cmp(&rest_head) {
            Ordering::Equal => compare_slot(page, leaf, slot(page, middle)?, rest, rest_head)?,
            ordering => ordering,
        };
        match ordering {
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
    Ok(PageId::new(page.u64_at(cell)?))
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
    let slot = slot(page, index)?;
    value_in_cell(page, slot.cell, slot.word)
}

/// The value of the leaf cell at offset `cell`, whose key word (in its
/// slot) is `word`.
#[inline]
pub fn value_in_cell<B: NodeBytes + ?Sized>(
    page: &B,
    cell: usize,
    word: u16,
) -> Result<ValueAt, Restart> {
    let key_field = if word & KEY_LONG_FLAG == 0 {
        tail_len(usize::from(word))
    } else {
        tail_len(usize::from(word & !KEY_LONG_FLAG)) + KEY_REF_BYTES
    };
    let value_word = page.u16_at(cell)?;
    let start = cell + LEAF_CELL_HEADER_BYTES + key_field;
    if value_word & VALUE_OVERFLOW_FLAG != 0 {
        let first = PageId::new(page.u64_at(start)?);
        let len = page.u32_at(start + 8)? as usize;
        Ok(ValueAt::Overflow { first, len })
    } else {
        let len = usize::from(value_word);
        if start + len > page.size() {
            return Err(Restart);
        }
        Ok(ValueAt::Inline { offset: start, len })
    }
}

/// The length of cell `index` in the heap (header, remainder, a long
/// key's reference, value or its reference), its long key's reference
/// checked.
#[inline]
pub fn cell_len(page: &[u8], leaf: bool, index: usize) -> Result<usize, Restart> {
    let slot = slot(page, index)?;
    let key = key_of_slot(page, leaf, prefix(page)?, slot)?;
    cell_len_of(page, leaf, slot, &key)
}

/// [`cell_len`] of the cell that `slot` points at, its key decoded.
pub(crate) fn cell_len_of(
    page: &[u8],
    leaf: bool,
    slot: SlotAt,
    key: &KeyAt,
) -> Result<usize, Restart> {
    let field = tail_len(key.local) + key.chain.map_or(0, |_| KEY_REF_BYTES);
    let len = if leaf {
        let value = match value_in_cell(page, slot.cell, slot.word)? {
            ValueAt::Inline { len, .. } => len,
            ValueAt::Overflow { .. } => VALUE_REF_BYTES,
        };
        LEAF_CELL_HEADER_BYTES + field + value
    } else {
        INNER_CELL_HEADER_BYTES + field
    };
    if slot.cell + len > page.len() {
        return Err(Restart);
    }
    Ok(len)
}

/// Cell `index` as a loose cell (its key whole: prefix and remainder).
pub fn cell_bytes(page: &[u8], leaf: bool, index: usize) -> Result<Vec<u8>, Restart> {
    let slot = slot(page, index)?;
    let at = key_of_slot(page, leaf, prefix(page)?, slot)?;
    let (prefix_offset, prefix_len) = at.prefix;
    // A loose cell's key word holds the whole local part: a damaged
    // page's prefix and remainder may sum past what it can say.
    if prefix_len + at.local >= usize::from(KEY_LONG_FLAG) {
        return Err(Restart);
    }
    let mut local = Vec::with_capacity(prefix_len + at.local);
    local.extend_from_slice(slice(page, prefix_offset, prefix_len)?);
    let (head, in_head) = slot.head_bytes();
    local.extend_from_slice(&head[..in_head]);
    local.extend_from_slice(slice(page, at.offset, tail_len(at.local))?);
    let key = match at.chain {
        None => StoredKey::Inline(&local),
        Some(chain) => StoredKey::Long {
            prefix: &local,
            chain,
        },
    };
    if leaf {
        let value = match value_in_cell(page, slot.cell, slot.word)? {
            ValueAt::Inline { offset, len } => StoredValue::Inline(slice(page, offset, len)?),
            ValueAt::Overflow { first, len } => StoredValue::Overflow { first, len },
        };
        Ok(leaf_cell(key, value))
    } else {
        Ok(inner_cell(key, PageId::new(page.u64_at(slot.cell)?)))
    }
}

/// A key as a cell stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredKey<'a> {
    /// The whole key.
    Inline(&'a [u8]),
    /// A long key: its local part, and the chain holding the rest.
    Long {
        /// The key's first `chain.local` bytes.
        prefix: &'a [u8],
        /// The chain.
        chain: KeyChain,
    },
}

impl<'a> StoredKey<'a> {
    /// The key's bytes its page holds: the whole key, or the local part.
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

    /// Bytes the key takes after a cell header in a page with no prefix.
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

    /// Writes the key's bytes past `skip` (the page prefix) and a long
    /// key's reference.
    #[inline]
    fn write_field(self, skip: usize, cell: &mut Vec<u8>) {
        cell.extend_from_slice(&self.local()[skip..]);
        if let StoredKey::Long { chain, .. } = self {
            cell.extend_from_slice(&(chain.len as u32).to_le_bytes());
            cell.extend_from_slice(&chain.first.get().to_le_bytes());
        }
    }
}

#[inline]
fn loose_header_bytes(leaf: bool) -> usize {
    if leaf {
        LOOSE_LEAF_HEADER_BYTES
    } else {
        LOOSE_INNER_HEADER_BYTES
    }
}

/// The key inside a loose cell (one [`cell_bytes`] decoded, or one this
/// module encoded).
#[inline]
pub fn cell_key(cell: &[u8], leaf: bool) -> StoredKey<'_> {
    let word = u16::from_le_bytes([cell[0], cell[1]]);
    let start = loose_header_bytes(leaf);
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

/// The value inside a loose leaf cell.
fn cell_value(cell: &[u8]) -> StoredValue<'_> {
    let word = u32::from_le_bytes([cell[2], cell[3], cell[4], cell[5]]);
    let start = LOOSE_LEAF_HEADER_BYTES + cell_key(cell, true).field_len();
    let len = (word & !OVERFLOW_FLAG) as usize;
    if word & OVERFLOW_FLAG != 0 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&cell[start..start + 8]);
        StoredValue::Overflow {
            first: PageId::new(u64::from_le_bytes(first)),
            len,
        }
    } else {
        StoredValue::Inline(&cell[start..start + len])
    }
}

/// The child inside a loose inner cell.
#[inline]
pub fn cell_child(cell: &[u8]) -> PageId {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&cell[2..10]);
    PageId::new(u64::from_le_bytes(bytes))
}

/// A loose inner cell with its child set to `child` (a separator that
/// moves between pages keeps its key, and a long key its chain).
pub fn with_child(cell: &[u8], child: PageId) -> Vec<u8> {
    let mut moved = cell.to_vec();
    set_cell_child(&mut moved, child);
    moved
}

/// Sets the child of a loose inner cell.
pub fn set_cell_child(cell: &mut [u8], child: PageId) {
    cell[2..10].copy_from_slice(&child.get().to_le_bytes());
}

/// Encodes a loose leaf cell.
pub fn leaf_cell(key: StoredKey<'_>, value: StoredValue<'_>) -> Vec<u8> {
    let mut cell = Vec::new();
    leaf_cell_into(key, value, &mut cell);
    cell
}

/// [`leaf_cell`] into `cell` (cleared first), whose allocation the writer
/// keeps from one insert to the next.
pub fn leaf_cell_into(key: StoredKey<'_>, value: StoredValue<'_>, cell: &mut Vec<u8>) {
    let (word, payload_len) = match value {
        StoredValue::Inline(bytes) => (bytes.len() as u32, bytes.len()),
        StoredValue::Overflow { len, .. } => (len as u32 | OVERFLOW_FLAG, 8),
    };
    cell.clear();
    cell.reserve(LOOSE_LEAF_HEADER_BYTES + key.field_len() + payload_len);
    cell.extend_from_slice(&key.word().to_le_bytes());
    cell.extend_from_slice(&word.to_le_bytes());
    key.write_field(0, cell);
    match value {
        StoredValue::Inline(bytes) => cell.extend_from_slice(bytes),
        StoredValue::Overflow { first, .. } => cell.extend_from_slice(&first.get().to_le_bytes()),
    }
}

/// Encodes a loose inner cell.
pub fn inner_cell(key: StoredKey<'_>, child: PageId) -> Vec<u8> {
    let mut cell = Vec::with_capacity(LOOSE_INNER_HEADER_BYTES + key.field_len());
    cell.extend_from_slice(&key.word().to_le_bytes());
    cell.extend_from_slice(&child.get().to_le_bytes());
    key.write_field(0, &mut cell);
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

/// The bytes a loose cell takes in a page with no prefix, its slot
/// included: in a page whose prefix is `p` bytes long it takes `p` fewer,
/// and the page stores the prefix once.
pub fn cell_cost(cell: &[u8], leaf: bool) -> usize {
    let stored = cell_key(cell, leaf);
    let key = stored.field_len() - (stored.local().len() - tail_len(stored.local().len()));
    if !leaf {
        return SLOT_BYTES + INNER_CELL_HEADER_BYTES + key;
    }
    let value = match cell_value(cell) {
        StoredValue::Inline(bytes) => bytes.len(),
        StoredValue::Overflow { .. } => VALUE_REF_BYTES,
    };
    SLOT_BYTES + LEAF_CELL_HEADER_BYTES + key + value
}

/// The length of the common start of `a` and `b`.
#[inline]
pub fn common_len(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    // Eight bytes a step: the first differing byte is the lowest set one
    // of the words' difference, read little-endian.
    let mut common = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let (mut left, mut right) = ([0u8; 8], [0u8; 8]);
        left.copy_from_slice(x);
        right.copy_from_slice(y);
        let difference = u64::from_le_bytes(left) ^ u64::from_le_bytes(right);
        if difference != 0 {
            return common + (difference.trailing_zeros() / 8) as usize;
        }
        common += 8;
    }
    common
        + a[common..]
            .iter()
            .zip(&b[common..])
            .take_while(|(x, y)| x == y)
            .count()
}

/// The prefix a page of `cells` (loose, in key order) takes: the longest
/// start every key's local part shares ([`prefix_kept`]: none of a key's
/// last four bytes).
pub fn cells_prefix_len<'c>(cells: impl IntoIterator<Item = &'c [u8]>, leaf: bool) -> usize {
    let mut cells = cells.into_iter();
    let Some(first) = cells.next() else {
        return 0;
    };
    let first = cell_key(first, leaf).local();
    cells.fold(tail_len(first.len()), |prefix, cell| {
        prefix.min(prefix_kept(first, cell_key(cell, leaf).local()))
    })
}

/// Bytes `cells` (loose, in key order) take in one page: slots, cells and
/// the prefix, as [`build`] packs them.
pub fn cells_bytes<'c>(cells: impl IntoIterator<Item = &'c [u8]> + Clone, leaf: bool) -> usize {
    let prefix = cells_prefix_len(cells.clone(), leaf);
    cells_bytes_under(cells, leaf, prefix)
}

/// [`cells_bytes`] under a page prefix of `prefix` bytes: each cell's cost
/// less the prefix, which the page holds once.
fn cells_bytes_under<'c>(
    cells: impl IntoIterator<Item = &'c [u8]>,
    leaf: bool,
    prefix: usize,
) -> usize {
    let (count, cost) = cells
        .into_iter()
        .fold((0usize, 0usize), |(count, cost), cell| {
            (count + 1, cost + cell_cost(cell, leaf))
        });
    cost - prefix * count.saturating_sub(1)
}

/// The bytes of each run of cells in key order from the first, given as
/// their keys' local parts and [`cell_cost`]s: `bytes[n]` for the first
/// `n` (a sorted run's prefix is the one its ends share), as
/// [`cells_bytes`] counts them.
pub fn packed_run<'c>(cells: impl ExactSizeIterator<Item = (&'c [u8], usize)>) -> Vec<usize> {
    let mut bytes = Vec::with_capacity(cells.len() + 1);
    bytes.push(0);
    let mut anchor: Option<&[u8]> = None;
    let (mut prefix, mut cost) = (usize::MAX, 0);
    for (count, (local, cell_cost)) in cells.enumerate() {
        let anchor = *anchor.get_or_insert(local);
        // The run's prefix shrinks rarely: a key that keeps all of it
        // (and its head past it) leaves it as it is.
        let keeps = prefix < local.len()
            && local.len() - prefix >= HEAD_BYTES
            && local[..prefix] == anchor[..prefix];
        if !keeps {
            prefix = prefix.min(prefix_kept(anchor, local));
        }
        cost += cell_cost;
        bytes.push(cost - prefix * count);
    }
    bytes
}

/// The bytes a run of loose cells in key order takes in one page, as it
/// grows by a cell at a time: under the prefix the run's keys share
/// ([`cells_bytes`] of the run).
#[derive(Debug, Default, Clone)]
pub struct Packing {
    first: Vec<u8>,
    prefix: usize,
    cost: usize,
    count: usize,
}

impl Packing {
    /// The packing of `cells`.
    pub fn of<'c>(cells: impl IntoIterator<Item = &'c [u8]>, leaf: bool) -> Packing {
        let mut packing = Packing::default();
        for cell in cells {
            packing.push(cell, leaf);
        }
        packing
    }

    /// The run's bytes.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.cost - self.prefix * self.count.saturating_sub(1)
    }

    /// The run's bytes with `cell` (the greatest key yet) appended.
    pub fn with(&self, cell: &[u8], leaf: bool) -> usize {
        let (prefix, cost) = self.grown(cell, leaf);
        cost - prefix * self.count
    }

    /// Appends `cell`, whose key is the greatest yet.
    pub fn push(&mut self, cell: &[u8], leaf: bool) {
        if self.count == 0 {
            self.first.clear();
            self.first.extend_from_slice(cell_key(cell, leaf).local());
        }
        (self.prefix, self.cost) = self.grown(cell, leaf);
        self.count += 1;
    }

    fn grown(&self, cell: &[u8], leaf: bool) -> (usize, usize) {
        let local = cell_key(cell, leaf).local();
        let prefix = if self.count == 0 {
            tail_len(local.len())
        } else {
            self.prefix.min(prefix_kept(&self.first, local))
        };
        (prefix, self.cost + cell_cost(cell, leaf))
    }
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
    /// Offset of the page prefix (0 when it is empty).
    pub prefix_offset: usize,
    /// Bytes of the page prefix.
    pub prefix_len: usize,
    /// Leaf: left sibling; inner: first child.
    pub link_0: PageId,
    /// Leaf: right sibling.
    pub link_1: PageId,
}

impl Header {
    /// Reads and checks the header of a latched page: a leaf or inner page
    /// whose slots, heap and prefix fit the page.
    pub fn read(page: &[u8]) -> Result<Header, Restart> {
        let kind = match kind(page)? {
            Some(kind @ (Kind::Leaf | Kind::Inner)) => kind,
            _ => return Err(Restart),
        };
        let (prefix_offset, prefix_len) = prefix(page)?;
        let header = Header {
            kind,
            count: count(page)?,
            heap_start: page.u32_at(HEAP_START)? as usize,
            garbage: page.u32_at(GARBAGE)? as usize,
            prefix_offset,
            prefix_len,
            link_0: link_0(page)?,
            link_1: link_1(page)?,
        };
        let slots_end = HEADER_BYTES + header.count * SLOT_BYTES;
        if slots_end > header.heap_start
            || header.heap_start > page.len()
            || header.garbage > page.len() - header.heap_start
            || (prefix_len > 0 && prefix_offset < header.heap_start)
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

    /// Bytes free for a cell of [`cell_cost`] at most this whatever its
    /// key: the free bytes less what the other cells grow by if the key
    /// shares none of the prefix.
    pub fn free_for_any_key(&self) -> usize {
        self.free()
            .saturating_sub(self.prefix_len * self.count.saturating_sub(1))
    }

    /// The bytes the page's contents grow by when a cell of [`cell_cost`]
    /// `cost` whose key shares `shared` bytes of the prefix goes in: the
    /// cell under the shorter prefix, and every other cell's part of the
    /// prefix it no longer shares.
    pub fn growth(&self, cost: usize, shared: usize) -> usize {
        let lost = self.prefix_len - shared.min(self.prefix_len);
        cost - (self.prefix_len - lost) + lost * self.count.saturating_sub(1)
    }

    /// Bytes of slots, live cells and the prefix.
    pub fn used(&self, page_size: usize) -> usize {
        page_size - HEADER_BYTES - self.free()
    }

    pub(crate) fn write(&self, page: &mut [u8]) {
        page[KIND] = self.kind as u8;
        page[1] = 0;
        page[COUNT..COUNT + 2].copy_from_slice(&(self.count as u16).to_le_bytes());
        page[HEAP_START..HEAP_START + 4].copy_from_slice(&(self.heap_start as u32).to_le_bytes());
        page[GARBAGE..GARBAGE + 4].copy_from_slice(&(self.garbage as u32).to_le_bytes());
        page[PREFIX_LEN..PREFIX_LEN + 2].copy_from_slice(&(self.prefix_len as u16).to_le_bytes());
        page[PREFIX_OFFSET..PREFIX_OFFSET + 2]
            .copy_from_slice(&(self.prefix_offset as u16).to_le_bytes());
        page[LINK_0..LINK_0 + 8].copy_from_slice(&self.link_0.get().to_le_bytes());
        page[LINK_1..LINK_1 + 8].copy_from_slice(&self.link_1.get().to_le_bytes());
    }
}

/// How many bytes of the page prefix a key whose local part is `local`
/// keeps ([`prefix_kept`]).
pub fn prefix_shared(page: &[u8], header: &Header, local: &[u8]) -> usize {
    let prefix = &page[header.prefix_offset..header.prefix_offset + header.prefix_len];
    prefix_kept(prefix, local)
}

/// Sets a leaf's left sibling.
pub fn set_left(page: &mut [u8], left: PageId) {
    page[LINK_0..LINK_0 + 8].copy_from_slice(&left.get().to_le_bytes());
}

/// Sets a leaf's right sibling.
pub fn set_right(page: &mut [u8], right: PageId) {
    page[LINK_1..LINK_1 + 8].copy_from_slice(&right.get().to_le_bytes());
}

/// Encodes loose `cell` for a page whose prefix is `prefix` bytes long
/// (its key's first bytes) into `out`: returns the slot's key word and
/// head.
pub(crate) fn encode(cell: &[u8], leaf: bool, prefix: usize, out: &mut Vec<u8>) -> (u16, u32) {
    out.clear();
    // A cell in a page is no longer than loose (a value's reference is
    // as long): one allocation at most, not one for each part.
    out.reserve(cell.len());
    let key = cell_key(cell, leaf);
    let remainder = &key.local()[prefix..];
    let long = key.chain().map_or(0, |_| KEY_LONG_FLAG);
    let word = remainder.len() as u16 | long;
    // The head is the slot's alone.
    let skip = prefix + remainder.len().min(HEAD_BYTES);
    if leaf {
        let value = cell_value(cell);
        let value_word = match value {
            StoredValue::Inline(bytes) => bytes.len() as u16,
            StoredValue::Overflow { .. } => VALUE_OVERFLOW_FLAG,
        };
        out.extend_from_slice(&value_word.to_le_bytes());
        key.write_field(skip, out);
        match value {
            StoredValue::Inline(bytes) => out.extend_from_slice(bytes),
            StoredValue::Overflow { first, len } => {
                out.extend_from_slice(&first.get().to_le_bytes());
                out.extend_from_slice(&(len as u32).to_le_bytes());
            }
        }
    } else {
        out.extend_from_slice(&cell_child(cell).get().to_le_bytes());
        key.write_field(skip, out);
    }
    (word, head(remainder))
}

/// Writes slot `index`.
pub(crate) fn write_slot(page: &mut [u8], index: usize, cell: usize, word: u16, head: u32) {
    let slot = HEADER_BYTES + index * SLOT_BYTES;
    page[slot..slot + 2].copy_from_slice(&(cell as u16).to_le_bytes());
    page[slot + 2..slot + 4].copy_from_slice(&word.to_le_bytes());
    page[slot + 4..slot + 8].copy_from_slice(&head.to_be_bytes());
}

/// Writes a whole node into `page`: the header, then `cells` (loose, in
/// key order) packed at the end under the longest prefix their keys
/// share. Unused bytes are zeroed so no stale data survives in the file.
/// The cells must fit ([`cells_bytes`]).
pub fn build<'c>(
    page: &mut [u8],
    kind: Kind,
    link_0: PageId,
    link_1: PageId,
    cells: impl IntoIterator<Item = &'c [u8]> + Clone,
) {
    let leaf = kind == Kind::Leaf;
    let prefix = cells_prefix_len(cells.clone(), leaf);
    build_with_prefix(page, kind, link_0, link_1, cells, prefix);
}

/// [`build`] under a prefix of `prefix` bytes (at most the longest the
/// keys share).
fn build_with_prefix<'c>(
    page: &mut [u8],
    kind: Kind,
    link_0: PageId,
    link_1: PageId,
    cells: impl IntoIterator<Item = &'c [u8]>,
    prefix: usize,
) {
    let leaf = kind == Kind::Leaf;
    let mut heap_start = page.len();
    let mut prefix_offset = 0;
    let mut count = 0;
    let mut encoded = Vec::new();
    for cell in cells {
        if count == 0 && prefix > 0 {
            heap_start -= prefix;
            prefix_offset = heap_start;
            page[heap_start..heap_start + prefix]
                .copy_from_slice(&cell_key(cell, leaf).local()[..prefix]);
        }
        let (word, head) = encode(cell, leaf, prefix, &mut encoded);
        heap_start -= encoded.len();
        page[heap_start..heap_start + encoded.len()].copy_from_slice(&encoded);
        write_slot(page, count, heap_start, word, head);
        count += 1;
    }
    finish_build(
        page,
        kind,
        (link_0, link_1),
        count,
        heap_start,
        (prefix_offset, prefix),
    );
}

/// The end of building a whole node whose `count` slots and cells (from
/// `heap_start`) and prefix (offset, length) are written: the bytes
/// between the slots and the heap zeroed, and the header.
pub(crate) fn finish_build(
    page: &mut [u8],
    kind: Kind,
    (link_0, link_1): (PageId, PageId),
    count: usize,
    heap_start: usize,
    (prefix_offset, prefix): (usize, usize),
) {
    let slots_end = HEADER_BYTES + count * SLOT_BYTES;
    assert!(slots_end <= heap_start, "node overfilled: {count} cells");
    page[slots_end..heap_start].fill(0);
    Header {
        kind,
        count,
        heap_start,
        garbage: 0,
        prefix_offset,
        prefix_len: if count == 0 { 0 } else { prefix },
        link_0,
        link_1,
    }
    .write(page);
}

/// The cells of a latched page, loose.
pub(crate) fn loose_cells(page: &[u8], header: &Header) -> Result<Vec<Vec<u8>>, Restart> {
    (0..header.count)
        .map(|index| cell_bytes(page, header.is_leaf(), index))
        .collect()
}

/// Rewrites a latched page without its garbage, under the same prefix:
/// the prefix and then each cell, in slot order, moved as they are (no
/// decoding, no allocation) to the end of the page, the bytes between the
/// slots and the heap zeroed as [`build`] leaves them. Every cell is
/// checked before anything moves: a damaged page whose cells overlap, run
/// past it, or hold a key a loose cell could not ([`cell_bytes`]) is left
/// as it was.
pub fn compact(page: &mut [u8], scratch: &mut Vec<u8>) -> Result<(), Restart> {
    let header = Header::read(page)?;
    let leaf = header.is_leaf();
    let prefix = if header.count == 0 {
        (0, 0)
    } else {
        prefix(&*page)?
    };
    let slots_end = HEADER_BYTES + header.count * SLOT_BYTES;
    let mut packed = prefix.1;
    for index in 0..header.count {
        packed += cell_span(page, leaf, prefix, index)?.1;
    }
    if slots_end + packed > page.len() {
        return Err(Restart);
    }
    scratch.clear();
    scratch.extend_from_slice(page);
    let mut heap_start = page.len() - prefix.1;
    page[heap_start..].copy_from_slice(&scratch[prefix.0..prefix.0 + prefix.1]);
    for index in 0..header.count {
        // The same bytes as checked above: this cannot fail.
        let (cell, len) = cell_span(scratch, leaf, prefix, index)?;
        heap_start -= len;
        page[heap_start..heap_start + len].copy_from_slice(&scratch[cell..cell + len]);
        let slot = HEADER_BYTES + index * SLOT_BYTES;
        page[slot..slot + 2].copy_from_slice(&(heap_start as u16).to_le_bytes());
    }
    page[slots_end..heap_start].fill(0);
    Header {
        heap_start,
        garbage: 0,
        prefix_offset: if prefix.1 == 0 {
            0
        } else {
            page.len() - prefix.1
        },
        prefix_len: prefix.1,
        ..header
    }
    .write(page);
    Ok(())
}

/// Where cell `index` lies, as an offset and a length, checked as
/// [`cell_bytes`] checks it: its key, the page prefix included, must fit
/// a loose cell's key word.
fn cell_span(
    page: &[u8],
    leaf: bool,
    prefix: (usize, usize),
    index: usize,
) -> Result<(usize, usize), Restart> {
    let slot = slot(page, index)?;
    let key = key_of_slot(page, leaf, prefix, slot)?;
    if prefix.1 + key.local >= usize::from(KEY_LONG_FLAG) {
        return Err(Restart);
    }
    Ok((slot.cell, cell_len_of(page, leaf, slot, &key)?))
}

/// Rewrites a latched page whole from its loose `cells` under a prefix of
/// `prefix` bytes, built in `scratch` and copied over.
fn rebuild(
    page: &mut [u8],
    scratch: &mut Vec<u8>,
    header: &Header,
    cells: &[Vec<u8>],
    prefix: usize,
) {
    scratch.clear();
    scratch.resize(page.len(), 0);
    build_with_prefix(
        scratch,
        header.kind,
        header.link_0,
        header.link_1,
        cells.iter().map(Vec::as_slice),
        prefix,
    );
    page.copy_from_slice(scratch);
}

/// Inserts loose `cell` as cell `index` if the page has room (compacting
/// if the room is only there after compaction, and rebuilding the page
/// under a shorter prefix if the cell's key does not share it); false if
/// it has not.
pub fn insert_cell(
    page: &mut [u8],
    index: usize,
    cell: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<bool, Restart> {
    let mut header = Header::read(page)?;
    if index > header.count {
        return Err(Restart);
    }
    let leaf = header.is_leaf();
    let local = cell_key(cell, leaf).local();
    if prefix_shared(page, &header, local) < header.prefix_len {
        return insert_rebuilding(page, header, index, cell, scratch);
    }
    // The cell and its slot: its cost less the prefix it shares (the key
    // keeps its head past the prefix, so the cell is shorter by exactly
    // the prefix's length).
    let need = cell_cost(cell, leaf).saturating_sub(header.prefix_len);
    if header.free() < need {
        return Ok(false);
    }
    if header.contiguous_free() < need {
        compact(page, scratch)?;
        header = Header::read(page)?;
        // A header claiming more garbage than its cells left.
        if header.contiguous_free() < need {
            return Err(Restart);
        }
    }
    // Encoded in the writer's scratch (free again once compacted), not an
    // allocation of its own.
    let (word, head) = encode(cell, leaf, header.prefix_len, scratch);
    let encoded = &scratch[..];
    if encoded.len() + SLOT_BYTES > header.contiguous_free() {
        return Err(Restart);
    }
    let start = header.heap_start - encoded.len();
    page[start..start + encoded.len()].copy_from_slice(encoded);
    let slot = HEADER_BYTES + index * SLOT_BYTES;
    let slots_end = HEADER_BYTES + header.count * SLOT_BYTES;
    page.copy_within(slot..slots_end, slot + SLOT_BYTES);
    write_slot(page, index, start, word, head);
    header.count += 1;
    header.heap_start = start;
    header.write(page);
    Ok(true)
}

/// Replaces cell `index` with loose `cell` (the same key) in the old
/// cell's place, if the new cell is no longer and its key shares the page
/// prefix: what [`remove_cell`] then [`insert_cell`] would leave, without
/// garbage to compact when the value keeps its size (a shorter cell
/// leaves the difference as garbage). False, with the page unchanged,
/// when it does not fit there.
pub fn replace_cell(
    page: &mut [u8],
    index: usize,
    cell: &[u8],
    encoded: &mut Vec<u8>,
) -> Result<bool, Restart> {
    let mut header = Header::read(page)?;
    if index >= header.count {
        return Err(Restart);
    }
    let leaf = header.is_leaf();
    if prefix_shared(page, &header, cell_key(cell, leaf).local()) < header.prefix_len {
        return Ok(false);
    }
    let prefix = prefix(&*page)?;
    let (offset, old_len) = cell_span(page, leaf, prefix, index)?;
    let (word, head) = encode(cell, leaf, header.prefix_len, encoded);
    if encoded.len() > old_len {
        return Ok(false);
    }
    page[offset..offset + encoded.len()].copy_from_slice(encoded);
    write_slot(page, index, offset, word, head);
    if encoded.len() < old_len {
        header.garbage += old_len - encoded.len();
        header.write(page);
    }
    Ok(true)
}

/// [`insert_cell`] of a cell whose key does not share the page prefix:
/// the page is rebuilt with it, under the prefix all its keys then share.
#[cold]
fn insert_rebuilding(
    page: &mut [u8],
    header: Header,
    index: usize,
    cell: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<bool, Restart> {
    let leaf = header.is_leaf();
    let mut cells = loose_cells(page, &header)?;
    cells.insert(index, cell.to_vec());
    let prefix = cells_prefix_len(cells.iter().map(Vec::as_slice), leaf);
    if cells_bytes_under(cells.iter().map(Vec::as_slice), leaf, prefix) > page.len() - HEADER_BYTES
    {
        return Ok(false);
    }
    rebuild(page, scratch, &header, &cells, prefix);
    Ok(true)
}

/// Removes cell `index`; its bytes become garbage (an emptied page is
/// rewritten empty, without a prefix).
pub fn remove_cell(page: &mut [u8], index: usize) -> Result<(), Restart> {
    let mut header = Header::read(page)?;
    if index >= header.count {
        return Err(Restart);
    }
    let offset = cell_offset(page, index)?;
    let len = cell_len(page, header.is_leaf(), index)?;
    if header.count == 1 {
        build_with_prefix(
            page,
            header.kind,
            header.link_0,
            header.link_1,
            std::iter::empty(),
            0,
        );
        return Ok(());
    }
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
    let common = common_len(left, right);
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

    /// Eight bytes a step, the common start is the one a byte a step
    /// finds: differing at every offset of a word and past the words, and
    /// one slice a prefix of the other.
    #[test]
    fn common_len_counts_the_shared_start() {
        let a: Vec<u8> = (0..40).collect();
        for len in 0..=a.len() {
            for differ in 0..len {
                let mut b = a[..len].to_vec();
                b[differ] ^= 0x80;
                assert_eq!(common_len(&a, &b), differ);
                assert_eq!(common_len(&b, &a), differ);
            }
            assert_eq!(common_len(&a[..len], &a), len);
            assert_eq!(common_len(&a, &a[..len]), len);
        }
    }

    fn leaf_with(keys: &[&[u8]]) -> Vec<u8> {
        leaf_with_value(keys, b"v")
    }

    /// A leaf of `keys`, each with `value`.
    fn leaf_with_value(keys: &[&[u8]], value: &[u8]) -> Vec<u8> {
        let mut page = vec![0u8; 4096];
        let cells: Vec<Vec<u8>> = keys
            .iter()
            .map(|key| leaf_cell(StoredKey::Inline(key), StoredValue::Inline(value)))
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
        assert_eq!(after.free(), before.free() - cell_cost(&cell, true));
        assert_eq!(search(page.as_slice(), true, 3, b"d").unwrap(), Ok(1));
        remove_cell(&mut page, 0).unwrap();
        let removed = Header::read(&page).unwrap();
        assert_eq!(removed.count, 2);
        assert_eq!(
            removed.garbage,
            cell_cost(
                &leaf_cell(StoredKey::Inline(b"b"), StoredValue::Inline(b"v")),
                true
            ) - SLOT_BYTES
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
            cell_key(&cell, true),
            StoredKey::Long {
                prefix: &prefix,
                chain
            }
        );
        assert_eq!(
            key_at(page, true, 1).unwrap(),
            KeyAt {
                prefix: (0, 0),
                head: u32::from_be_bytes(*b"bbbb"),
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
            let reference = at.offset + tail_len(at.local);
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
                    SLOT_BYTES + LEAF_CELL_HEADER_BYTES + field + VALUE_REF_BYTES
                        <= geometry.cell_bytes_max()
                );
                assert!(SLOT_BYTES + INNER_CELL_HEADER_BYTES + field <= geometry.cell_bytes_max());
            }
        }
        // SQLite's rule: the chain fills whole pages when the prefix allows.
        let geometry = Geometry { page_size: 4096 };
        assert_eq!(geometry.key_inline_max(), 994);
        assert_eq!(geometry.key_local_len(995), 491);
        assert_eq!(geometry.key_local_len(491 + 4080), 491);
        assert_eq!(geometry.key_local_len(900 + 4080), 900);
        assert_eq!(geometry.key_local_len(KEY_BYTES_MAX), 491);
    }

    /// Asserts that searching `page` (a leaf of `keys`, in order, none
    /// long) for each probe finds what a binary search of `keys` finds,
    /// and that every cell decodes back to its whole key.
    fn assert_searches(page: &[u8], keys: &[Vec<u8>], probes: &[Vec<u8>]) {
        let header = Header::read(page).unwrap();
        assert_eq!(header.count, keys.len());
        for (index, key) in keys.iter().enumerate() {
            let cell = cell_bytes(page, true, index).unwrap();
            assert_eq!(cell_key(&cell, true).local(), key.as_slice());
        }
        for probe in keys.iter().chain(probes) {
            let expected = keys.binary_search(probe);
            assert_eq!(
                search(page, true, keys.len(), probe).unwrap(),
                expected,
                "{probe:?} in {keys:?}"
            );
            assert_eq!(
                Search::new(keys.len()).run(page, true, probe).unwrap(),
                Probe::Done(expected),
            );
            for (index, key) in keys.iter().enumerate() {
                let at = key_at(page, true, index).unwrap();
                assert_eq!(compare_key(page, at, probe).unwrap(), Ok(key.cmp(probe)));
            }
        }
    }

    fn owned(keys: &[&[u8]]) -> Vec<Vec<u8>> {
        keys.iter().map(|key| key.to_vec()).collect()
    }

    #[test]
    fn a_key_outside_the_prefix_shrinks_it_on_insert() {
        let mut keys = owned(&[b"ks01abcd", b"ks01abce", b"ks01xyzw"]);
        let mut page = leaf_with(&[b"ks01abcd", b"ks01abce", b"ks01xyzw"]);
        let mut scratch = Vec::new();
        assert_eq!(Header::read(&page).unwrap().prefix_len, 4);
        let probes = owned(&[
            b"",
            b"k",
            b"ks0",
            b"ks01",
            b"ks01abc",
            b"ks01abcde",
            b"ks02",
            b"ks1",
            b"z",
        ]);
        assert_searches(&page, &keys, &probes);
        // Inside the prefix: the page keeps it.
        let cell = leaf_cell(StoredKey::Inline(b"ks01bbbb"), StoredValue::Inline(b"v"));
        assert!(insert_cell(&mut page, 2, &cell, &mut scratch).unwrap());
        keys.insert(2, b"ks01bbbb".to_vec());
        assert_eq!(Header::read(&page).unwrap().prefix_len, 4);
        assert_searches(&page, &keys, &probes);
        // Sharing three bytes of it, keeping three so as to keep a head of
        // four, then none: rebuilt under what is left.
        for (index, key, prefix) in [(4, &b"ks02xxxx"[..], 3), (2, b"ks01bbb", 3), (0, b"a", 0)] {
            let before = Header::read(&page).unwrap();
            let cell = leaf_cell(StoredKey::Inline(key), StoredValue::Inline(b"v"));
            let shared = prefix_shared(&page, &before, key);
            assert_eq!(shared, prefix);
            let growth = before.growth(cell_cost(&cell, true), shared);
            assert!(insert_cell(&mut page, index, &cell, &mut scratch).unwrap());
            keys.insert(index, key.to_vec());
            let after = Header::read(&page).unwrap();
            assert_eq!(after.prefix_len, prefix);
            assert_eq!(after.used(4096), before.used(4096) + growth);
            assert_searches(&page, &keys, &probes);
        }
    }

    #[test]
    fn a_full_page_refuses_a_key_that_would_shrink_its_prefix() {
        let key = |index: u32| {
            let mut key = vec![b'p'; 100];
            key.extend_from_slice(&index.to_be_bytes());
            key
        };
        // Built with two keys, the page takes their prefix (an empty page
        // has none, and inserts never lengthen it).
        let mut page = leaf_with(&[&key(0), &key(1)]);
        let mut scratch = Vec::new();
        let mut count = 2;
        loop {
            let cell = leaf_cell(StoredKey::Inline(&key(count)), StoredValue::Inline(b"v"));
            if !insert_cell(&mut page, count as usize, &cell, &mut scratch).unwrap() {
                break;
            }
            count += 1;
        }
        // Room for the cell itself, not for the prefix every cell loses.
        remove_cell(&mut page, 0).unwrap();
        remove_cell(&mut page, 0).unwrap();
        let header = Header::read(&page).unwrap();
        // The keys share 102 bytes or more (key 256 parted from the others
        // a byte earlier, and the prefix shrank), but the prefix leaves
        // each key its last four for its head.
        assert_eq!(header.prefix_len, 100);
        // 8 slot, 2 value word, 1 value bytes a key: its remainder is its
        // head.
        assert!(count > 300, "{count} keys of 104 bytes");
        let before = page.clone();
        let outside = leaf_cell(StoredKey::Inline(b"q"), StoredValue::Inline(b"v"));
        assert!(header.free() >= cell_cost(&outside, true));
        assert!(header.free() < header.growth(cell_cost(&outside, true), 0));
        assert!(!insert_cell(&mut page, count as usize - 2, &outside, &mut scratch).unwrap());
        assert_eq!(page, before, "a refused insert changes nothing");
    }

    #[test]
    fn tied_heads_are_settled_by_the_cells_bytes() {
        let keys = owned(&[
            b"abc", b"abcd", b"abcd\0", b"abcd1", b"abcd12", b"abcd2", b"abce", b"z",
        ]);
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let page = leaf_with(&refs);
        assert_eq!(Header::read(&page).unwrap().prefix_len, 0);
        // Keys 1 to 5 share the head "abcd".
        let heads: Vec<u32> = (0..keys.len())
            .map(|index| slot(page.as_slice(), index).unwrap().head)
            .collect();
        assert!(heads[1..6].iter().all(|&head| head == heads[1]));
        let probes = owned(&[
            b"abcd0",
            b"abcd11",
            b"abcd123",
            b"abcd3",
            b"abcc",
            b"abcd\0\0",
            b"ab",
        ]);
        assert_searches(&page, &keys, &probes);
    }

    #[test]
    fn keys_shorter_than_a_head_compare_by_length_where_padding_ties() {
        let keys = owned(&[
            b"",
            b"\0",
            b"\0\0",
            b"\0\0\0\0",
            b"\0\0\0\0\0",
            b"a",
            b"a\0",
            b"b",
        ]);
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let page = leaf_with(&refs);
        let probes = owned(&[
            b"\0\0\0",
            b"\0\0\0\0\0\0",
            b"\0\x01",
            b"a\0\0",
            b"a\x01",
            b"c",
        ]);
        assert_searches(&page, &keys, &probes);
    }

    #[test]
    fn a_prefix_leaves_every_key_its_head() {
        // "pre" is all the keys share, but the prefix leaves a key its
        // head: a key of at most four bytes keeps the page without one.
        let keys = owned(&[b"pre", b"prefix1", b"prefix2"]);
        let page = leaf_with(&[b"pre", b"prefix1", b"prefix2"]);
        assert_eq!(Header::read(&page).unwrap().prefix_len, 0);
        assert_eq!(slot(page.as_slice(), 0).unwrap().remainder(), 3);
        let probes = owned(&[
            b"", b"pr", b"pre\0", b"pref", b"prefix", b"prefix3", b"prf", b"a",
        ]);
        assert_searches(&page, &keys, &probes);
        // A key of six bytes allows two: its remainder is its head alone,
        // and its cell holds no key byte.
        let keys = owned(&[b"prefix", b"prefix1", b"prefix2"]);
        let mut page = leaf_with(&[b"prefix", b"prefix1", b"prefix2"]);
        assert_eq!(Header::read(&page).unwrap().prefix_len, 2);
        assert_eq!(slot(page.as_slice(), 0).unwrap().remainder(), 4);
        assert_eq!(
            cell_len(&page, true, 0).unwrap(),
            LEAF_CELL_HEADER_BYTES + 1
        );
        assert_searches(&page, &keys, &probes);
        // Removals keep the prefix; removing every key leaves an empty page
        // without one.
        remove_cell(&mut page, 0).unwrap();
        assert_eq!(Header::read(&page).unwrap().prefix_len, 2);
        assert_searches(&page, &keys[1..], &probes);
        remove_cell(&mut page, 0).unwrap();
        remove_cell(&mut page, 0).unwrap();
        let empty = Header::read(&page).unwrap();
        assert_eq!(
            (empty.count, empty.prefix_len, empty.free()),
            (0, 0, 4096 - 32)
        );
    }

    #[test]
    fn long_keys_mixed_with_short_ones_under_a_prefix() {
        let local = [b"ks01".as_slice(), &[b'b'; 487]].concat();
        let chain = KeyChain {
            first: PageId::new(99),
            len: 5000,
            local: local.len(),
        };
        let cells = [
            leaf_cell(StoredKey::Inline(b"ks01aaaa"), StoredValue::Inline(b"1")),
            leaf_cell(
                StoredKey::Long {
                    prefix: &local,
                    chain,
                },
                StoredValue::Overflow {
                    first: PageId::new(7),
                    len: 100_000,
                },
            ),
            leaf_cell(StoredKey::Inline(b"ks01cccc"), StoredValue::Inline(b"3")),
        ];
        let mut page = vec![0u8; 4096];
        build(
            &mut page,
            Kind::Leaf,
            PageId::NONE,
            PageId::NONE,
            cells.iter().map(Vec::as_slice),
        );
        let page = page.as_slice();
        assert_eq!(Header::read(page).unwrap().prefix_len, 4);
        // The cells decode back whole: the local part with the prefix, the
        // chain's local length the whole local part.
        for (index, cell) in cells.iter().enumerate() {
            assert_eq!(&cell_bytes(page, true, index).unwrap(), cell);
        }
        let at = key_at(page, true, 1).unwrap();
        assert_eq!((at.local, at.chain), (487, Some(chain)));
        assert_eq!(
            value_at(page, 1).unwrap(),
            ValueAt::Overflow {
                first: PageId::new(7),
                len: 100_000
            }
        );
        // Decided by the local part, or by the prefix alone.
        let cases: [(&[u8], Result<usize, usize>); 7] = [
            (b"ks01aaaa", Ok(0)),
            (b"ks01a", Err(0)),
            (b"ks01bz", Err(2)),
            (b"ks01ba", Err(1)),
            (&local[..100], Err(1)),
            (b"ks00", Err(0)),
            (b"ks02", Err(3)),
        ];
        for (key, found) in cases {
            assert_eq!(
                Search::new(3).run(page, true, key).unwrap(),
                Probe::Done(found),
                "{key:?}"
            );
        }
        // Past the whole local part: a tie for the chain to settle.
        let longer = [local.as_slice(), b"zz"].concat();
        let Probe::Tie(tie) = Search::new(3).run(page, true, &longer).unwrap() else {
            panic!("a key past the whole local part ties");
        };
        assert_eq!((tie.index, tie.chain), (1, chain));
        assert_eq!(
            compare_key(page, at, &longer).unwrap(),
            Err(chain),
            "the chain holds the key from its local length on"
        );
    }

    /// Every run from the first cell packs into the bytes `cells_bytes`
    /// counts for it: keys sharing prefixes of every length, short ones
    /// (under a head) among them.
    #[test]
    fn packed_runs_are_the_runs_cells_bytes() {
        use rand::rngs::SmallRng;
        use rand::{Rng, SeedableRng};
        let mut rng = SmallRng::seed_from_u64(23);
        for _ in 0..300 {
            let shared = vec![b'p'; rng.random_range(0..14)];
            let mut keys: Vec<Vec<u8>> = (0..rng.random_range(1..30))
                .map(|_| {
                    let mut key = shared[..rng.random_range(0..=shared.len())].to_vec();
                    for _ in 0..rng.random_range(0..12) {
                        key.push([b'p', b'q', 0][rng.random_range(0..3)]);
                    }
                    key
                })
                .collect();
            keys.sort();
            keys.dedup();
            let cells: Vec<Vec<u8>> = keys
                .iter()
                .map(|key| leaf_cell(StoredKey::Inline(key), StoredValue::Inline(b"value")))
                .collect();
            let run = |cells: &[Vec<u8>]| {
                packed_run(
                    cells
                        .iter()
                        .map(|cell| (cell_key(cell, true).local(), cell_cost(cell, true))),
                )
            };
            let before = run(&cells);
            for end in 0..=cells.len() {
                let bytes = cells_bytes(cells[..end].iter().map(Vec::as_slice), true);
                assert_eq!(before[end], bytes, "{keys:?} first {end}");
            }
        }
    }

    #[test]
    fn random_pages_search_as_a_sorted_list_does() {
        use rand::rngs::SmallRng;
        use rand::{Rng, SeedableRng};
        let mut rng = SmallRng::seed_from_u64(19);
        // Few distinct bytes, so keys share prefixes and heads often.
        let key = |rng: &mut SmallRng, shared: &[u8]| {
            let mut key = shared.to_vec();
            for _ in 0..rng.random_range(0..9) {
                key.push([0u8, 1, b'a'][rng.random_range(0..3)]);
            }
            key
        };
        for round in 0..200 {
            let shared = vec![b'k'; rng.random_range(0..6)];
            let mut keys: Vec<Vec<u8>> = (0..rng.random_range(1..40))
                .map(|_| key(&mut rng, &shared))
                .collect();
            keys.sort();
            keys.dedup();
            let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let mut page = leaf_with(&refs);
            let mut scratch = Vec::new();
            // Inserts, some outside the prefix, and removals.
            for _ in 0..20 {
                let other = if rng.random_bool(0.2) {
                    &[][..]
                } else {
                    &shared
                };
                let new = key(&mut rng, other);
                if let Err(index) = keys.binary_search(&new) {
                    let cell = leaf_cell(StoredKey::Inline(&new), StoredValue::Inline(b"v"));
                    assert!(insert_cell(&mut page, index, &cell, &mut scratch).unwrap());
                    keys.insert(index, new);
                }
                if rng.random_bool(0.3) && keys.len() > 1 {
                    let index = rng.random_range(0..keys.len());
                    remove_cell(&mut page, index).unwrap();
                    keys.remove(index);
                }
            }
            let probes: Vec<Vec<u8>> = (0..50).map(|_| key(&mut rng, &shared)).collect();
            assert_searches(&page, &keys, &probes);
            // The page's bytes are those of its cells packed, less the
            // garbage: compaction keeps the prefix and frees the garbage.
            let header = Header::read(&page).unwrap();
            let cells: Vec<Vec<u8>> = (0..keys.len())
                .map(|index| cell_bytes(&page, true, index).unwrap())
                .collect();
            let packing = Packing::of(cells.iter().map(Vec::as_slice), true);
            assert_eq!(
                packing.bytes(),
                cells_bytes(cells.iter().map(Vec::as_slice), true),
                "round {round}"
            );
            compact(&mut page, &mut scratch).unwrap();
            let compacted = Header::read(&page).unwrap();
            assert_eq!(compacted.prefix_len, header.prefix_len);
            assert_eq!(compacted.garbage, 0);
            assert_eq!(compacted.free(), header.free());
            assert_searches(&page, &keys, &probes);
        }
    }

    /// The values of a leaf's cells, in key order.
    fn values(page: &[u8]) -> Vec<Vec<u8>> {
        (0..Header::read(page).unwrap().count)
            .map(|index| match value_at(page, index).unwrap() {
                ValueAt::Inline { offset, len } => page[offset..offset + len].to_vec(),
                ValueAt::Overflow { .. } => panic!("an overflow value"),
            })
            .collect()
    }

    #[test]
    fn a_replacement_no_longer_than_its_cell_takes_its_place() {
        let keys: [&[u8]; 3] = [b"key-a", b"key-b", b"key-c"];
        let mut page = leaf_with_value(&keys, b"1234");
        let before = Header::read(&page).unwrap();
        let mut encoded = Vec::new();
        // The same size: in place, no garbage, the heap unmoved.
        let same = leaf_cell(StoredKey::Inline(b"key-b"), StoredValue::Inline(b"abcd"));
        assert_eq!(replace_cell(&mut page, 1, &same, &mut encoded), Ok(true));
        let header = Header::read(&page).unwrap();
        assert_eq!((header.garbage, header.heap_start), (0, before.heap_start));
        assert_eq!(
            values(&page),
            [b"1234".to_vec(), b"abcd".to_vec(), b"1234".to_vec()]
        );
        // Shorter: in place, the difference is garbage a compaction frees.
        let shorter = leaf_cell(StoredKey::Inline(b"key-c"), StoredValue::Inline(b"z"));
        assert_eq!(replace_cell(&mut page, 2, &shorter, &mut encoded), Ok(true));
        let header = Header::read(&page).unwrap();
        assert_eq!(header.garbage, 3);
        assert_eq!(values(&page)[2], b"z");
        // Longer: refused, the page unchanged.
        let unchanged = page.clone();
        let longer = leaf_cell(StoredKey::Inline(b"key-a"), StoredValue::Inline(b"12345"));
        assert_eq!(replace_cell(&mut page, 0, &longer, &mut encoded), Ok(false));
        assert_eq!(page, unchanged);
        let mut scratch = Vec::new();
        compact(&mut page, &mut scratch).unwrap();
        let compacted = Header::read(&page).unwrap();
        assert_eq!(compacted.garbage, 0);
        assert_eq!(compacted.free(), header.free());
        assert_eq!(compacted.prefix_len, before.prefix_len);
        assert_eq!(
            values(&page),
            [b"1234".to_vec(), b"abcd".to_vec(), b"z".to_vec()]
        );
        for (index, key) in keys.iter().enumerate() {
            let cell = cell_bytes(&page, true, index).unwrap();
            assert_eq!(cell_key(&cell, true).local(), *key);
        }
        // Compaction zeroes what lies between the slots and the heap.
        let slots_end = HEADER_BYTES + compacted.count * SLOT_BYTES;
        assert!(
            page[slots_end..compacted.heap_start]
                .iter()
                .all(|&byte| byte == 0)
        );
    }

    #[test]
    fn compaction_moves_overlapping_cells_apart_and_refuses_one_past_the_page() {
        let mut page = leaf_with(&[b"a", b"b", b"c"]);
        // Point every slot at the first cell, then claim a heap too small
        // for three cells packed.
        let first = cell_offset(page.as_slice(), 0).unwrap();
        for index in 1..3 {
            let slot = HEADER_BYTES + index * SLOT_BYTES;
            page[slot..slot + 2].copy_from_slice(&(first as u16).to_le_bytes());
        }
        let header = Header::read(&page).unwrap();
        Header {
            heap_start: 4096 - 8,
            ..header
        }
        .write(&mut page);
        // Cells packed still fit this page: overlapping ones are moved
        // apart (each slot gets its own copy), nothing is read past it.
        let mut scratch = Vec::new();
        compact(&mut page, &mut scratch).unwrap();
        assert_eq!(values(&page).len(), 3);
        // A cell running past the page is refused, the page unchanged.
        let slot = HEADER_BYTES + 2 * SLOT_BYTES;
        page[slot..slot + 2].copy_from_slice(&(4095u16).to_le_bytes());
        let unchanged = page.clone();
        assert_eq!(compact(&mut page, &mut scratch), Err(Restart));
        assert_eq!(page, unchanged);
    }

    #[test]
    fn a_prefix_and_remainder_too_long_for_a_loose_cell_are_refused() {
        // A 64 KiB page whose prefix (20,000 bytes) and one cell's
        // remainder (20,000) fit the page but not a key word together.
        let mut page = vec![0u8; 65536];
        build(
            &mut page,
            Kind::Leaf,
            PageId::NONE,
            PageId::NONE,
            std::iter::empty(),
        );
        page[COUNT..COUNT + 2].copy_from_slice(&1u16.to_le_bytes());
        page[HEAP_START..HEAP_START + 4].copy_from_slice(&1000u32.to_le_bytes());
        page[PREFIX_LEN..PREFIX_LEN + 2].copy_from_slice(&20_000u16.to_le_bytes());
        page[PREFIX_OFFSET..PREFIX_OFFSET + 2].copy_from_slice(&40_000u16.to_le_bytes());
        write_slot(&mut page, 0, 1000, 20_000, 0);
        assert!(key_at(page.as_slice(), true, 0).is_ok());
        assert_eq!(cell_bytes(&page, true, 0), Err(Restart));
        let mut scratch = Vec::new();
        assert_eq!(compact(&mut page, &mut scratch), Err(Restart));
    }
}

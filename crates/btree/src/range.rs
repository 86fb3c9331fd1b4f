//! Range iterators, forward and reverse, that survive concurrent writes
//! and copy nothing per entry.
//!
//! A cursor copies a leaf at a time (validated: the copy is one version of
//! the page; of a large leaf only what its batch reads, [`sparse`]) into
//! a buffer it owns, and hands out its entries as [`Bytes`] slices of that
//! copy: no allocation and no copy per entry, one copy per leaf. A buffer the caller no longer holds entries of
//! is reused for the next leaf. Values in overflow chains are the
//! exception: each is read into a buffer of its own, and so is each long
//! key (its prefix in the leaf, the rest in a chain).
//!
//! To go on, a cursor follows the leaf's sibling link, and takes the next
//! leaf only if the leaf it leaves is still unchanged after the next one
//! was copied: then no key can have moved between the two (a split, merge
//! or rebalance changes both). When a leaf changed, the cursor seeks again
//! from the root past the last key it returned. So a scan never skips or
//! repeats a key that was present for the whole scan; keys written during
//! the scan may or may not be seen.

use std::cmp::Ordering;
use std::ops::{Bound, RangeBounds};

use bytes::{Bytes, BytesMut};
use keel_pager::{OptimisticGuard, PageId, Restart};

use crate::error::Result;
use crate::node::{self, Header, KeyChain, Kind, Probe, Search, Target, ValueAt};
use crate::overflow;
use crate::stats::Counters;
use crate::tree::{BTree, Fault, OPTIMISTIC_DESCENTS_MAX, PATH_DEPTH_MAX, chain_error, corrupt};
use batch::{BATCH_FIRST_ENTRIES, BATCH_MAX_ENTRIES, Rest, Start};
use sparse::Copied;

/// A key and its value: slices of the cursor's copy of their leaf (or,
/// for an overflow value, of a buffer of its own). Keeping one keeps that
/// copy (one page) alive.
pub type Entry = (Bytes, Bytes);

/// A key and its value borrowed from the cursor's copy of their leaf
/// ([`Range::next_ref`]).
pub type EntryRef<'a> = (&'a [u8], &'a [u8]);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Reverse,
}

/// The bounds of a range, held once for both of its cursors.
#[derive(Debug)]
struct Bounds {
    lower: Bound<BoundKey>,
    upper: Bound<BoundKey>,
}

/// Bound keys this short are held inline by [`BTree::range`] (no
/// allocation for a short range's bounds).
const BOUND_INLINE_BYTES: usize = 46;

/// A bound's key: the caller's `Bytes`, or a short key copied inline.
#[derive(Debug)]
enum BoundKey {
    Shared(Bytes),
    Inline {
        len: u8,
        bytes: [u8; BOUND_INLINE_BYTES],
    },
}

impl BoundKey {
    fn copied(key: &[u8]) -> BoundKey {
        match u8::try_from(key.len()) {
            Ok(len) if key.len() <= BOUND_INLINE_BYTES => {
                let mut bytes = [0u8; BOUND_INLINE_BYTES];
                bytes[..key.len()].copy_from_slice(key);
                BoundKey::Inline { len, bytes }
            }
            _ => BoundKey::Shared(Bytes::copy_from_slice(key)),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            BoundKey::Shared(key) => key,
            BoundKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
        }
    }
}

/// What an ended cursor leaves for the next one on its thread: its window
/// and resume key, emptied, and its leaf buffer (empty when the caller
/// still held entries of it). A short range then costs no allocation and
/// no zeroing of a page, and one thread-local access at each end.
#[derive(Debug, Default)]
struct Spare {
    window: Vec<Slot>,
    resume: Vec<u8>,
    buffer: BytesMut,
}

thread_local! {
    /// Spares of ended cursors, for the next scans on this thread.
    static SPARES: std::cell::RefCell<Vec<Spare>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Spares kept per thread for later scans (two per scan in use at once,
/// a forward and a reverse cursor, of a few scans).
const SPARES_MAX: usize = 8;

/// Where a slot's value is.
#[derive(Debug)]
enum SlotValue {
    /// In the leaf copy: offset and length.
    Inline(u32, u32),
    /// In an overflow chain not read yet: its first page and length.
    Chain(PageId, usize),
    /// Read from its overflow chain.
    Read(Bytes),
}

/// One entry of the window: its key in the leaf copy (or, for a long key,
/// `key_len` is [`LONG_KEY`] and `key_offset` its place in the cursor's
/// long keys) and its value. Until the window's keys are made whole
/// ([`Cursor::join_keys`]), a key's place is its remainder's: `key_len`
/// bytes, the first four in `head`, the rest at `key_offset`.
#[derive(Debug)]
struct Slot {
    key_offset: u32,
    key_len: u32,
    head: u32,
    value: SlotValue,
}

/// A page prefix this short is joined to each key as one 8-byte word.
const PREFIX_WORD_BYTES: usize = 8;
/// A key's bytes in its cell this short are joined as one 24-byte word
/// (most keys: keel's are a keyspace id and a user key).
const TAIL_WORD_BYTES: usize = 24;
/// Bytes past a window's joined keys that the words written whole may
/// reach into ([`Cursor::join_keys`]).
const JOIN_SLACK_BYTES: usize = TAIL_WORD_BYTES;
const _: () = assert!(
    JOIN_SLACK_BYTES >= PREFIX_WORD_BYTES
        && JOIN_SLACK_BYTES >= node::HEAD_BYTES
        && JOIN_SLACK_BYTES >= TAIL_WORD_BYTES
);

/// A slot's `key_len` for a long key.
const LONG_KEY: u32 = u32::MAX;

/// A long key of the window.
#[derive(Debug)]
enum LongKey {
    /// Its local part's remainder in the leaf copy (the head, and the
    /// rest at this offset) and its chain, not read yet.
    Chain(u32, u32, KeyChain),
    /// Read whole.
    Read(Bytes),
}

/// Compares a long key whose prefix tied with a key by its chain (the
/// long key's order against the key), then validates the leaf it is in.
type ChainCompare<'c> = dyn FnMut(KeyChain, &[u8]) -> Result<Ordering, Fault> + 'c;

mod batch;
mod sparse;

/// The leaf a cursor's window came from.
#[derive(Debug)]
struct Leaf<'a> {
    /// The leaf, at the version the window was copied.
    guard: OptimisticGuard<'a>,
    /// Its sibling in the cursor's direction.
    sibling: PageId,
    /// Its entries the window did not take (`None`: the window went to its
    /// end in this direction).
    rest: Option<Rest>,
    /// The window's copy of it is whole ([`Collected::whole`]).
    whole: bool,
}

/// What [`Cursor::collect`] found in a leaf besides the window.
#[derive(Debug, Clone, Copy)]
struct Collected {
    /// The leaf's entries past the window ([`Rest`]).
    rest: Option<Rest>,
    /// The range's limit falls in this leaf.
    reached_limit: bool,
    /// The leaf's sibling in the cursor's direction.
    sibling: PageId,
    /// The leaf was copied whole (not in part, [`sparse`]): while it is
    /// unchanged, the copy serves the next batch of it too.
    whole: bool,
}

impl Collected {
    /// Nothing lies past the window for its cursor.
    fn ends_range(&self) -> bool {
        self.rest.is_none() && (self.reached_limit || self.sibling == PageId::NONE)
    }
}

/// One end of a scan.
#[derive(Debug)]
struct Cursor<'a> {
    direction: Direction,
    /// The last key this cursor returned before the current window: the
    /// next fill starts just past it (empty until one was returned).
    resume: Vec<u8>,
    /// Whether any key was returned (else fills start at the range bound).
    started: bool,
    /// The copy of the leaf the window's entries are in.
    page: Bytes,
    /// The leaf buffer an ended cursor left ([`Spare`]), until the first
    /// fill takes it.
    spare_buffer: BytesMut,
    /// This cursor's entries of `page`, in its direction.
    window: Vec<Slot>,
    /// The next slot of `window` to return.
    position: usize,
    /// The window's long keys.
    long_keys: Vec<LongKey>,
    /// Nothing is left past the window.
    exhausted: bool,
    /// The leaf the window came from, at the version it was copied: the
    /// next fill takes the rest of it, or its sibling, if it is still
    /// unchanged then.
    leaf: Option<Leaf<'a>>,
    /// Entries the next window takes from its leaf at most ([`batch`]).
    budget: usize,
    /// Entries returned from the windows before the current one.
    returned: usize,
    /// The sibling the next fill will copy, to prefetch once the caller
    /// nears the window's end ([`PageId::NONE`] when none is due).
    prefetch: PageId,
}

/// The sibling is prefetched when this many entries of the window are
/// left to take: a scan then finds it cached, and a short range that ends
/// well inside its leaf does not fetch a page it never reads.
const PREFETCH_LEAD_ENTRIES: usize = 8;

impl<'a> Cursor<'a> {
    /// A cursor that holds nothing until its first fill (a range read from
    /// one end only costs nothing for the other).
    fn new(direction: Direction) -> Cursor<'a> {
        Cursor {
            direction,
            resume: Vec::new(),
            started: false,
            page: Bytes::new(),
            spare_buffer: BytesMut::new(),
            window: Vec::new(),
            position: 0,
            long_keys: Vec::new(),
            exhausted: false,
            leaf: None,
            prefetch: PageId::NONE,
            budget: BATCH_FIRST_ENTRIES,
            returned: 0,
        }
    }

    /// Where the next fill starts.
    fn resume_bound<'b>(&'b self, bounds: &'b Bounds) -> Bound<&'b [u8]> {
        if self.started {
            return Bound::Excluded(&self.resume);
        }
        let start = match self.direction {
            Direction::Forward => &bounds.lower,
            Direction::Reverse => &bounds.upper,
        };
        as_ref(start)
    }

    /// Where the range ends in this cursor's direction.
    fn limit<'b>(&self, bounds: &'b Bounds) -> Bound<&'b [u8]> {
        match self.direction {
            Direction::Forward => as_ref(&bounds.upper),
            Direction::Reverse => as_ref(&bounds.lower),
        }
    }

    /// The last key this cursor returned.
    #[inline]
    fn last_key(&self) -> Option<&[u8]> {
        if self.position > 0 {
            let slot = &self.window[self.position - 1];
            return Some(self.key_of(slot));
        }
        self.started.then_some(self.resume.as_slice())
    }

    #[inline]
    fn key_of(&self, slot: &Slot) -> &[u8] {
        slot_key(&self.page, &self.long_keys, slot)
    }

    /// Moves on to the next entry, filling the window when it is used up:
    /// its index in the window, `None` past the range's end.
    #[inline]
    fn advance(&mut self, tree: &'a BTree, bounds: &Bounds) -> Result<Option<usize>> {
        loop {
            if self.position < self.window.len() {
                self.position += 1;
                if self.prefetch != PageId::NONE
                    && self.window.len() - self.position <= PREFETCH_LEAD_ENTRIES
                {
                    tree.pager.prefetch_resident(self.prefetch);
                    self.prefetch = PageId::NONE;
                }
                return Ok(Some(self.position - 1));
            }
            if self.exhausted {
                return Ok(None);
            }
            self.fill(tree, bounds)?;
        }
    }

    /// The entry at `index` of the window, as slices of the leaf copy.
    fn entry(&self, index: usize) -> Entry {
        let slot = &self.window[index];
        let start = slot.key_offset as usize;
        let key = if slot.key_len == LONG_KEY {
            match &self.long_keys[start] {
                LongKey::Read(key) => key.clone(),
                // Every long key is read before the window is filled.
                LongKey::Chain(..) => Bytes::new(),
            }
        } else {
            self.page.slice(start..start + slot.key_len as usize)
        };
        let value = match &slot.value {
            SlotValue::Inline(offset, len) => {
                let offset = *offset as usize;
                self.page.slice(offset..offset + *len as usize)
            }
            SlotValue::Read(value) => value.clone(),
            // Every chain is read before the window is filled.
            SlotValue::Chain(..) => Bytes::new(),
        };
        (key, value)
    }

    /// The key and value at `index` of the window, borrowed.
    #[inline]
    fn borrowed(&self, index: usize) -> (&[u8], &[u8]) {
        let slot = &self.window[index];
        let value: &[u8] = match &slot.value {
            SlotValue::Inline(offset, len) => {
                let offset = *offset as usize;
                &self.page[offset..offset + *len as usize]
            }
            SlotValue::Read(value) => value,
            // Every chain is read before the window is filled.
            SlotValue::Chain(..) => &[],
        };
        (self.key_of(slot), value)
    }

    /// Remembers the last key returned and empties the window.
    fn retire_window(&mut self) {
        self.returned += self.position;
        if self.position > 0 {
            let slot = &self.window[self.position - 1];
            let key = slot_key(&self.page, &self.long_keys, slot);
            self.resume.clear();
            self.resume.extend_from_slice(key);
            self.started = true;
        }
        self.window.clear();
        self.long_keys.clear();
        self.position = 0;
    }

    /// A buffer of one page for the next leaf copy: the last one (or the
    /// spare an ended cursor left) if the caller holds none of its entries
    /// any more. Past the page it has room for the window's keys made
    /// whole ([`Cursor::join_keys`]).
    fn take_buffer(&mut self, page_size: usize) -> BytesMut {
        if self.spare_buffer.len() >= page_size {
            let mut buffer = std::mem::take(&mut self.spare_buffer);
            buffer.truncate(page_size);
            return buffer;
        }
        if let Ok(mut buffer) = std::mem::take(&mut self.page).try_into_mut()
            && buffer.len() >= page_size
        {
            buffer.truncate(page_size);
            return buffer;
        }
        let capacity = page_size * 2;
        let mut fresh = BytesMut::zeroed(capacity);
        // A split makes the buffer reference-counted now, once, so that
        // freezing it, slicing it and taking it back for the next leaf
        // allocate nothing (a buffer still a plain vector would allocate
        // its count at its first slice, and free it when taken back).
        drop(fresh.split_off(capacity));
        fresh.truncate(page_size);
        fresh
    }

    /// The last fill's leaf copy (its first `page_size` bytes), if the
    /// caller holds none of its entries.
    fn take_copy(&mut self, page_size: usize) -> Option<BytesMut> {
        match std::mem::take(&mut self.page).try_into_mut() {
            Ok(mut buffer) if buffer.len() >= page_size => {
                buffer.truncate(page_size);
                Some(buffer)
            }
            Ok(buffer) => {
                self.page = buffer.freeze();
                None
            }
            Err(page) => {
                self.page = page;
                None
            }
        }
    }

    /// Makes the window's keys whole: a page holds the prefix its keys
    /// share once, each slot a key's next four bytes (its head) and each
    /// cell the rest, so the keys are written after the page's copy in
    /// `buffer` (prefix, head, rest) and their slots pointed there. One
    /// copy of each key, no allocation once the buffer has grown to a page
    /// and a window's keys.
    fn join_keys(&mut self, buffer: &mut BytesMut) -> Result<(), Restart> {
        let page_size = buffer.len();
        let (offset, len) = node::prefix(&buffer[..])?;
        let mut total = 0;
        for slot in &self.window {
            if slot.key_len != LONG_KEY {
                total += len + slot.key_len as usize;
            }
        }
        // Every offset and length below fits in a slot's u32 once the
        // last one does.
        narrow(page_size + total)?;
        // Room for a whole short prefix, head and cell part past the last
        // key: they are written as fixed-size words (a store or two each,
        // no call), and each write past its part is overwritten by the
        // next one (every key's parts are written in order, each key
        // after the one before).
        buffer.resize(page_size + total + JOIN_SLACK_BYTES, 0);
        let (page, keys) = buffer.split_at_mut(page_size);
        let prefix = page.get(offset..offset + len).ok_or(Restart)?;
        let mut short_prefix = [0u8; PREFIX_WORD_BYTES];
        let word = len <= PREFIX_WORD_BYTES;
        if word {
            short_prefix[..len].copy_from_slice(prefix);
        }
        let mut at = 0;
        for slot in &mut self.window {
            if slot.key_len == LONG_KEY {
                continue;
            }
            let (start, rest) = (slot.key_offset as usize, slot.key_len as usize);
            let in_head = rest.min(node::HEAD_BYTES);
            let tail = rest - in_head;
            // The key's bytes and the slack the words may reach into.
            let out = keys
                .get_mut(at..at + len + rest + JOIN_SLACK_BYTES)
                .ok_or(Restart)?;
            if word {
                out[..PREFIX_WORD_BYTES].copy_from_slice(&short_prefix);
            } else {
                out[..len].copy_from_slice(prefix);
            }
            let out = &mut out[len..];
            out[..node::HEAD_BYTES].copy_from_slice(&slot.head.to_be_bytes());
            let out = &mut out[in_head..];
            match page.get(start..start + TAIL_WORD_BYTES) {
                Some(word) if tail <= TAIL_WORD_BYTES => {
                    out[..TAIL_WORD_BYTES].copy_from_slice(word);
                }
                _ => out[..tail].copy_from_slice(page.get(start..start + tail).ok_or(Restart)?),
            }
            // Within u32: checked for the last key above.
            slot.key_offset = (page_size + at) as u32;
            slot.key_len = (len + rest) as u32;
            at += len + rest;
        }
        buffer.truncate(page_size + total);
        Ok(())
    }

    fn fill(&mut self, tree: &'a BTree, bounds: &Bounds) -> Result<()> {
        if self.window.capacity() == 0 && self.resume.capacity() == 0 && self.page.is_empty() {
            // The first fill: what an ended cursor left, if any.
            if let Some(spare) = SPARES
                .try_with(|spares| spares.borrow_mut().pop())
                .ok()
                .flatten()
            {
                (self.window, self.resume) = (spare.window, spare.resume);
                self.spare_buffer = spare.buffer;
            }
        }
        self.retire_window();
        self.budget = batch::budget(self.returned);
        if let Some(leaf) = self.leaf.take() {
            let next = match leaf.rest {
                Some(rest) => self.fill_rest(tree, bounds, leaf.guard, rest, leaf.whole),
                None => self.fill_from_sibling(tree, bounds, &leaf.guard, leaf.sibling),
            };
            match next {
                Ok(true) => return Ok(()),
                Ok(false) | Err(Fault::Restart) => {}
                Err(Fault::Error(error)) => return Err(error),
            }
        }
        for _ in 0..OPTIMISTIC_DESCENTS_MAX {
            match self.fill_optimistic(tree, bounds) {
                Ok(()) => return Ok(()),
                Err(Fault::Restart) => Counters::add(&tree.counters.restarts),
                Err(Fault::Error(error)) => return Err(error),
            }
        }
        Counters::add(&tree.counters.latched_reads);
        // Writes keep moving this cursor's leaves: read once with the
        // writer held off.
        let _writer = tree.writer.lock();
        self.fill_latched(tree, bounds)
    }

    /// Where a descent for the resume bound goes in each inner page.
    fn target<'b>(&'b self, bounds: &'b Bounds) -> Target<'b> {
        match (self.resume_bound(bounds), self.direction) {
            (Bound::Unbounded, Direction::Forward) => Target::First,
            (Bound::Unbounded, Direction::Reverse) => Target::Last,
            (Bound::Included(key) | Bound::Excluded(key), _) => Target::Key(key),
        }
    }

    /// Fills from the entries of the leaf of `guard` the last window left,
    /// if the leaf is unchanged since (then they are where they were: no
    /// search); `Ok(false)` (or a restart) when it changed. A leaf the last
    /// window copied whole is not copied again: while the caller holds
    /// none of its entries, that copy is still the cursor's, and it is the
    /// leaf as it is now if the leaf's version is unchanged.
    fn fill_rest(
        &mut self,
        tree: &'a BTree,
        bounds: &Bounds,
        guard: OptimisticGuard<'a>,
        rest: Rest,
        whole: bool,
    ) -> Result<bool, Fault> {
        let page_size = tree.pager.page_size();
        if whole && let Some(buffer) = self.take_copy(page_size) {
            if guard.validate().is_err() {
                self.page = buffer.freeze();
                return Ok(false);
            }
            let collected = self
                .collect(bounds, &buffer, Start::Rest(rest), None)?
                .ok_or(Fault::Restart)?;
            self.finish_fill(tree, bounds, guard, buffer, collected)?;
            return Ok(true);
        }
        let mut buffer = self.take_buffer(page_size);
        let Ok(copied) = self.copy_leaf(bounds, &guard, Start::Rest(rest), &mut buffer) else {
            self.page = buffer.freeze();
            return Ok(false);
        };
        let collected = self
            .collect_copied(bounds, &buffer, copied)?
            .ok_or(Fault::Restart)?;
        self.finish_fill(tree, bounds, guard, buffer, collected)?;
        Ok(true)
    }

    /// Fills from the sibling of the leaf the last window came from, if
    /// that leaf is unchanged after the sibling was copied (then no key
    /// moved between the two); `Ok(false)` when it changed, or the sibling
    /// holds nothing for this cursor (the caller seeks from the root).
    fn fill_from_sibling(
        &mut self,
        tree: &'a BTree,
        bounds: &Bounds,
        leaf: &OptimisticGuard<'a>,
        sibling: PageId,
    ) -> Result<bool, Fault> {
        let mut buffer = self.take_buffer(tree.pager.page_size());
        let mut next = match tree.pager.optimistic(sibling) {
            Ok(next) => next,
            Err(error) => {
                leaf.validate()?;
                return Err(error.into());
            }
        };
        let copied = self.copy_leaf(bounds, &next, Start::Edge, &mut buffer)?;
        leaf.validate()?;
        let collected = match self.collect_copied(bounds, &buffer, copied)? {
            Some(collected) => collected,
            None => {
                let collected;
                (collected, next) = self.collect_tied(tree, bounds, &buffer, next)?;
                collected
            }
        };
        if self.window.is_empty() && !collected.reached_limit && collected.sibling != PageId::NONE {
            self.page = buffer.freeze();
            return Ok(false);
        }
        self.finish_fill(tree, bounds, next, buffer, collected)?;
        Ok(true)
    }

    fn fill_optimistic(&mut self, tree: &'a BTree, bounds: &Bounds) -> Result<(), Fault> {
        let page_size = tree.pager.page_size();
        let mut buffer = self.take_buffer(page_size);
        let mut leaf = tree.descend_optimistic(self.target(bounds))?;
        let copied = self.copy_leaf(bounds, &leaf, Start::Seek, &mut buffer)?;
        let mut collected = match self.collect_copied(bounds, &buffer, copied)? {
            Some(collected) => collected,
            None => {
                let collected;
                (collected, leaf) = self.collect_tied(tree, bounds, &buffer, leaf)?;
                collected
            }
        };
        for _ in 0..PATH_DEPTH_MAX * 64 {
            if !self.window.is_empty()
                || collected.reached_limit
                || collected.sibling == PageId::NONE
            {
                break;
            }
            // Nothing here for this cursor: step to the sibling, and keep it
            // only if this leaf is unchanged once the sibling was read.
            let mut next = match tree.pager.optimistic(collected.sibling) {
                Ok(next) => next,
                Err(error) => {
                    leaf.validate()?;
                    return Err(error.into());
                }
            };
            let copied = self.copy_leaf(bounds, &next, Start::Seek, &mut buffer)?;
            leaf.validate()?;
            collected = match self.collect_copied(bounds, &buffer, copied)? {
                Some(collected) => collected,
                None => {
                    let tied;
                    (tied, next) = self.collect_tied(tree, bounds, &buffer, next)?;
                    tied
                }
            };
            leaf = next;
        }
        self.finish_fill(tree, bounds, leaf, buffer, collected)
    }

    /// Reads the window's chains, checks its order, and keeps the leaf
    /// copy and (unless the range ends here) the leaf for the next fill.
    fn finish_fill(
        &mut self,
        tree: &'a BTree,
        bounds: &Bounds,
        leaf: OptimisticGuard<'a>,
        mut buffer: BytesMut,
        collected: Collected,
    ) -> Result<(), Fault> {
        self.join_keys(&mut buffer)?;
        self.read_chains_optimistic(tree, &leaf, &buffer)?;
        self.check_order(bounds, leaf.page_id(), &buffer)?;
        self.page = buffer.freeze();
        self.exhausted = self.window.is_empty() || collected.ends_range();
        if !self.exhausted {
            if collected.rest.is_none() {
                // The next fill copies the sibling: have it cached by then
                // (prefetched as the caller nears the window's end).
                self.prefetch = collected.sibling;
            }
            self.leaf = Some(Leaf {
                guard: leaf,
                sibling: collected.sibling,
                rest: collected.rest,
                whole: collected.whole,
            });
        }
        Ok(())
    }

    /// Reads the window's overflow values and long keys (whose prefixes
    /// are in `page`, the leaf's copy), the leaf validated after each.
    fn read_chains_optimistic(
        &mut self,
        tree: &BTree,
        leaf: &OptimisticGuard<'_>,
        page: &[u8],
    ) -> Result<(), Fault> {
        for slot in &mut self.window {
            if let SlotValue::Chain(first, len) = slot.value {
                let mut value = Vec::new();
                tree.read_chain(leaf, first, len, &mut value)?;
                slot.value = SlotValue::Read(Bytes::from(value));
            }
        }
        for long in &mut self.long_keys {
            if let LongKey::Chain(offset, head, chain) = *long {
                let mut key = long_key_prefix(page, offset, head, chain)?;
                tree.read_chain(leaf, chain.first, chain.rest(), &mut key)?;
                *long = LongKey::Read(Bytes::from(key));
            }
        }
        Ok(())
    }

    /// Whether the window goes on past where the fill started: its first
    /// key past the resume bound, its last past its first. Together with
    /// the resume bound moving to the last key returned, every fill moves
    /// the scan on, so a scan ends even on a damaged page. (Order inside a
    /// page is the writer's invariant, checked by `check()`; pages from
    /// disk are checksummed.)
    fn check_order(&self, bounds: &Bounds, page_id: PageId, page: &[u8]) -> Result<()> {
        // The order of a key past a bound in this direction (one
        // comparison each).
        let past = match self.direction {
            Direction::Forward => Ordering::Greater,
            Direction::Reverse => Ordering::Less,
        };
        let key = |slot: &Slot| slot_key(page, &self.long_keys, slot);
        let (Some(first), Some(last)) = (self.window.first(), self.window.last()) else {
            return Ok(());
        };
        let (first, last) = (key(first), key(last));
        let first_ok = match self.resume_bound(bounds) {
            Bound::Unbounded => true,
            Bound::Included(bound) => first.cmp(bound) != past.reverse(),
            Bound::Excluded(bound) => first.cmp(bound) == past,
        };
        if first_ok && (self.window.len() == 1 || last.cmp(first) == past) {
            Ok(())
        } else {
            Err(corrupt(page_id, "keys out of order"))
        }
    }

    /// Collects this cursor's next batch of entries of one stable leaf
    /// copy into the window, in its direction: from `start` (the resume
    /// bound, or the entries the last batch of this leaf left) up to the
    /// limit, at most the cursor's budget of them. `compare` settles a
    /// search that ties with a long key's prefix (without it, such a search
    /// ends the collection with `None`).
    fn collect(
        &mut self,
        bounds: &Bounds,
        page: &[u8],
        start: Start,
        mut compare: Option<&mut ChainCompare<'_>>,
    ) -> Result<Option<Collected>, Fault> {
        self.window.clear();
        self.long_keys.clear();
        if node::kind(page)? != Some(Kind::Leaf) {
            return Err(Fault::Restart);
        }
        let count = node::count(page)?;
        let entries = match start {
            Start::Rest(rest) if rest.high <= count => rest,
            Start::Rest(_) => return Err(Fault::Restart),
            Start::Seek | Start::Edge => {
                let from_edge = start == Start::Edge;
                let found =
                    self.leaf_entries(bounds, count, from_edge, |key| {
                        match node::search(page, true, count, key)? {
                            Err(node::TIED) => match compare.as_deref_mut() {
                                Some(compare) => settle(page, count, key, compare).map(Some),
                                None => Ok(None),
                            },
                            found => Ok(Some(found)),
                        }
                    })?;
                match found {
                    Some(entries) => entries,
                    None => return Ok(None),
                }
            }
        };
        let forward = self.direction == Direction::Forward;
        let (Rest { low, high, .. }, rest) = entries.cut(self.direction, self.budget);
        let mut long_keys = false;
        for step in 0..high.saturating_sub(low) {
            let index = if forward { low + step } else { high - 1 - step };
            let slot = node::slot(page, index)?;
            // A key's slot holds its remainder in the copy (the page prefix
            // goes before it once the window is kept), a long key's its
            // index for now: the long keys are taken after the loop (no
            // call in it).
            let (key_offset, key_len) = if !slot.is_long() {
                let offset = slot.cell + node::LEAF_CELL_HEADER_BYTES;
                if offset + node::tail_len(slot.remainder()) > page.len() {
                    return Err(Fault::Restart);
                }
                (narrow(offset)?, u32::from(slot.word))
            } else {
                long_keys = true;
                (narrow(index)?, LONG_KEY)
            };
            let value = match node::value_in_cell(page, slot.cell, slot.word)? {
                ValueAt::Inline { offset, len } => SlotValue::Inline(narrow(offset)?, narrow(len)?),
                ValueAt::Overflow { first, len } => SlotValue::Chain(first, len),
            };
            self.window.push(Slot {
                key_offset,
                key_len,
                head: slot.head,
                value,
            });
        }
        if long_keys {
            self.take_long_keys(page)?;
        }
        let sibling = if forward {
            node::link_1(page)?
        } else {
            node::link_0(page)?
        };
        Ok(Some(Collected {
            rest,
            reached_limit: entries.reached_limit,
            sibling,
            whole: true,
        }))
    }

    /// The window of a leaf [`Cursor::copy_leaf`] copied: taken already
    /// from a partial copy, collected from a whole one.
    fn collect_copied(
        &mut self,
        bounds: &Bounds,
        page: &[u8],
        copied: Copied,
    ) -> Result<Option<Collected>, Fault> {
        match copied {
            Copied::Window(collected) => Ok(Some(collected)),
            Copied::Whole(start) => self.collect(bounds, page, start, None),
        }
    }

    /// [`Cursor::collect`] of a copy of the leaf of `guard` where a search
    /// tied with a long key's prefix: settled by the chain, the leaf
    /// validated after. The guard is handed over and back whole, so that
    /// the fills' guards stay in registers (a guard whose address is
    /// taken measured slower).
    #[cold]
    #[inline(never)]
    fn collect_tied(
        &mut self,
        tree: &'a BTree,
        bounds: &Bounds,
        page: &[u8],
        guard: OptimisticGuard<'a>,
    ) -> Result<(Collected, OptimisticGuard<'a>), Fault> {
        let collected = self
            .collect(
                bounds,
                page,
                Start::Seek,
                Some(&mut |chain, key| tree.compare_chain_optimistic(&guard, chain, key)),
            )?
            .ok_or(Fault::Restart)?;
        Ok((collected, guard))
    }

    /// Takes the window's long keys (whose slots hold their cells' indexes
    /// in `page`) into `long_keys`, each slot then holding its place there.
    #[cold]
    #[inline(never)]
    fn take_long_keys(&mut self, page: &[u8]) -> Result<(), Restart> {
        for slot in &mut self.window {
            if slot.key_len == LONG_KEY {
                let key = node::key_at(page, true, slot.key_offset as usize)?;
                let chain = key.chain.ok_or(Restart)?;
                self.long_keys
                    .push(LongKey::Chain(narrow(key.offset)?, key.head, chain));
                slot.key_offset = narrow(self.long_keys.len() - 1)?;
            }
        }
        Ok(())
    }

    /// `fill` under shared latches with the writer held off: nothing
    /// changes, so a page that does not parse is corrupt.
    fn fill_latched(&mut self, tree: &'a BTree, bounds: &Bounds) -> Result<()> {
        let mut page = tree.root;
        let mut guard = tree.pager.shared(page)?;
        loop {
            let header =
                Header::read(&guard).map_err(|Restart| corrupt(page, "bad node header"))?;
            if header.is_leaf() {
                break;
            }
            let child = match self.target(bounds) {
                Target::Key(key) => tree.child_latched(&guard, page, key)?.1,
                target => match node::child_toward(&*guard, target) {
                    Ok(child) if child != PageId::NONE => child,
                    _ => return Err(corrupt(page, "bad cell")),
                },
            };
            page = child;
            guard = tree.pager.shared(page)?;
        }
        // Whole leaves: the latch is let go after each, so the entries a
        // batch left would be found again by search.
        self.budget = BATCH_MAX_ENTRIES;
        let mut buffer = self.take_buffer(tree.pager.page_size());
        for _ in 0..PATH_DEPTH_MAX * 64 {
            buffer.truncate(guard.len());
            buffer.copy_from_slice(&guard);
            // The shared latch keeps the leaf, and so its chains, as copied.
            let collected = self.collect(
                bounds,
                &buffer,
                Start::Seek,
                Some(&mut |chain, key| tree.compare_chain(chain, key).map_err(Fault::Error)),
            );
            let (reached_limit, sibling) = match collected {
                Ok(Some(collected)) => (collected.reached_limit, collected.sibling),
                Ok(None) | Err(Fault::Restart) => return Err(corrupt(page, "bad leaf")),
                Err(Fault::Error(error)) => return Err(error),
            };
            if self.window.is_empty() && !reached_limit && sibling != PageId::NONE {
                page = sibling;
                guard = tree.pager.shared(page)?;
                continue;
            }
            self.join_keys(&mut buffer)
                .map_err(|Restart| corrupt(page, "bad leaf"))?;
            for slot in &mut self.window {
                if let SlotValue::Chain(first, len) = slot.value {
                    let mut value = Vec::new();
                    overflow::read(&tree.pager, first, len, &mut value).map_err(chain_error)?;
                    slot.value = SlotValue::Read(Bytes::from(value));
                }
            }
            for long in &mut self.long_keys {
                if let LongKey::Chain(offset, head, chain) = *long {
                    let mut key = long_key_prefix(&buffer, offset, head, chain)
                        .map_err(|Restart| corrupt(page, "bad leaf"))?;
                    overflow::read(&tree.pager, chain.first, chain.rest(), &mut key)
                        .map_err(chain_error)?;
                    *long = LongKey::Read(Bytes::from(key));
                }
            }
            self.check_order(bounds, page, &buffer)?;
            self.page = buffer.freeze();
            self.exhausted = reached_limit || sibling == PageId::NONE || self.window.is_empty();
            return Ok(());
        }
        Err(corrupt(page, "sibling links that loop"))
    }
}

impl Drop for Cursor<'_> {
    fn drop(&mut self) {
        if self.window.capacity() == 0 && self.resume.capacity() == 0 && self.page.is_empty() {
            // Never filled (the other end of a range read from one end).
            return;
        }
        let mut spare = Spare {
            window: std::mem::take(&mut self.window),
            resume: std::mem::take(&mut self.resume),
            // Kept unless the caller still holds entries of it.
            buffer: std::mem::take(&mut self.page)
                .try_into_mut()
                .unwrap_or_default(),
        };
        spare.window.clear();
        spare.resume.clear();
        let _ = SPARES.try_with(|spares| {
            let mut spares = spares.borrow_mut();
            if spares.len() < SPARES_MAX {
                spares.push(spare);
            }
        });
    }
}

/// Searches the leaf copy `page` (of `count` cells) for `key` where
/// [`node::search`] tied with a long key's prefix: `compare` settles each
/// tie by the chain.
#[cold]
#[inline(never)]
fn settle(
    page: &[u8],
    count: usize,
    key: &[u8],
    compare: &mut ChainCompare<'_>,
) -> Result<Result<usize, usize>, Fault> {
    let mut probe = Search::new(count).run(page, true, key)?;
    loop {
        match probe {
            Probe::Done(found) => return Ok(found),
            Probe::Tie(tie) => match tie.search.after(tie.index, compare(tie.chain, key)?) {
                Ok(index) => return Ok(Ok(index)),
                Err(search) => probe = search.run(page, true, key)?,
            },
        }
    }
}

fn narrow(value: usize) -> Result<u32, Restart> {
    u32::try_from(value).map_err(|_| Restart)
}

/// The key of `slot`: a slice of the leaf copy `page`, or a long key read.
#[inline]
fn slot_key<'p>(page: &'p [u8], long_keys: &'p [LongKey], slot: &Slot) -> &'p [u8] {
    let start = slot.key_offset as usize;
    if slot.key_len == LONG_KEY {
        match &long_keys[start] {
            LongKey::Read(key) => key,
            LongKey::Chain(..) => &[],
        }
    } else {
        &page[start..start + slot.key_len as usize]
    }
}

/// A vector for a long key, holding its local part (the page prefix of
/// the leaf copy `page`, the remainder's head, then the rest of it at
/// `offset`), with room for the rest of the key.
fn long_key_prefix(
    page: &[u8],
    offset: u32,
    head: u32,
    chain: KeyChain,
) -> Result<Vec<u8>, Restart> {
    let (prefix_offset, prefix_len) = node::prefix(page)?;
    let offset = offset as usize;
    let remainder = chain.local.checked_sub(prefix_len).ok_or(Restart)?;
    let in_head = remainder.min(node::HEAD_BYTES);
    let tail = remainder - in_head;
    let mut key = Vec::with_capacity(chain.len);
    key.extend_from_slice(
        page.get(prefix_offset..prefix_offset + prefix_len)
            .ok_or(Restart)?,
    );
    key.extend_from_slice(&head.to_be_bytes()[..in_head]);
    key.extend_from_slice(page.get(offset..offset + tail).ok_or(Restart)?);
    Ok(key)
}

fn as_ref(bound: &Bound<BoundKey>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_slice()),
        Bound::Excluded(key) => Bound::Excluded(key.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// An iterator over the entries of a key range, in key order; reversible
/// ([`DoubleEndedIterator`]). Entries are slices of a copy of their leaf:
/// no allocation or copy per entry.
///
/// It holds no latch between items and survives concurrent writes: it never
/// skips or repeats a key present for the whole scan.
#[derive(Debug)]
pub struct Range<'a> {
    tree: &'a BTree,
    bounds: Bounds,
    front: Cursor<'a>,
    back: Cursor<'a>,
    done: bool,
}

impl<'a> Range<'a> {
    fn new(tree: &'a BTree, lower: Bound<BoundKey>, upper: Bound<BoundKey>) -> Range<'a> {
        Range {
            tree,
            bounds: Bounds { lower, upper },
            front: Cursor::new(Direction::Forward),
            back: Cursor::new(Direction::Reverse),
            done: false,
        }
    }

    /// The next entry from the front (`forward`) or the back, handed to
    /// `take` as the cursor and its window index, ending the range where
    /// the two ends meet or at the first error. With `before`, an entry
    /// whose key does not come before it (in this direction) is left in
    /// place for the next call: `Some(Ok(None))`.
    #[inline]
    fn step<T>(
        &mut self,
        forward: bool,
        before: Option<&[u8]>,
        take: impl FnOnce(&Cursor<'a>, usize) -> T,
    ) -> Option<Result<Option<T>>> {
        if self.done {
            return None;
        }
        let (cursor, other) = if forward {
            (&mut self.front, &self.back)
        } else {
            (&mut self.back, &self.front)
        };
        let precedes = |key: &[u8], bound: &[u8]| if forward { key < bound } else { key > bound };
        let outcome = match cursor.advance(self.tree, &self.bounds) {
            Ok(Some(index)) => {
                let key = || cursor.key_of(&cursor.window[index]);
                if other.last_key().is_none_or(|other| precedes(key(), other)) {
                    if before.is_some_and(|before| !precedes(key(), before)) {
                        // Taken back: the window and its index are as they
                        // were before `advance` moved on.
                        cursor.position -= 1;
                        return Some(Ok(None));
                    }
                    return Some(Ok(Some(take(cursor, index))));
                }
                None
            }
            Ok(None) => None,
            Err(error) => Some(Err(error)),
        };
        self.done = true;
        outcome
    }

    /// Calls `visit` with the next entry from the front (`forward`) or the
    /// back, its key and value borrowed from the cursor's copy of their
    /// leaf, and returns what it returns: no reference count is touched
    /// and nothing is copied per entry. `None` past the end; an error ends
    /// the range, as with [`Iterator::next`] (which this interleaves with).
    pub fn next_with<T>(
        &mut self,
        forward: bool,
        visit: impl FnOnce(&[u8], &[u8]) -> T,
    ) -> Option<Result<T>> {
        unbounded(self.step(forward, None, |cursor, index| {
            let (key, value) = cursor.borrowed(index);
            visit(key, value)
        }))
    }

    /// The next entry from the front (`forward`) or the back, its key and
    /// value borrowed from the cursor's copy of their leaf until the range
    /// is next used: [`Range::next_with`] without a closure. With
    /// `before`, an entry whose key does not come before it (below it
    /// going forward, above it going back) is left in place for the next
    /// call: `Some(Ok(None))`. `None` past the end; an error ends the
    /// range.
    #[inline]
    pub fn next_ref(
        &mut self,
        forward: bool,
        before: Option<&[u8]>,
    ) -> Option<Result<Option<EntryRef<'_>>>> {
        let index = match self.step(forward, before, |_, index| index)? {
            Ok(Some(index)) => index,
            Ok(None) => return Some(Ok(None)),
            Err(error) => return Some(Err(error)),
        };
        let cursor = if forward { &self.front } else { &self.back };
        Some(Ok(Some(cursor.borrowed(index))))
    }
}

/// A [`Range::step`] without a `before` bound (which always takes its
/// entry) as an iterator's item.
#[inline]
fn unbounded<T>(item: Option<Result<Option<T>>>) -> Option<Result<T>> {
    match item? {
        Ok(Some(entry)) => Some(Ok(entry)),
        Ok(None) => None,
        Err(error) => Some(Err(error)),
    }
}

impl Iterator for Range<'_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        unbounded(self.step(true, None, |cursor, index| cursor.entry(index)))
    }
}

impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        unbounded(self.step(false, None, |cursor, index| cursor.entry(index)))
    }
}

impl BTree {
    /// The entries with keys in `range`, in key order; `.rev()` for the
    /// reverse. Bounds may be inclusive, exclusive or unbounded. Each item
    /// may carry a pager error or [`crate::Error::Corrupt`], after which
    /// the iterator ends.
    pub fn range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Range<'_> {
        let owned = |bound: Bound<&K>| match bound {
            Bound::Included(key) => Bound::Included(BoundKey::copied(key.as_ref())),
            Bound::Excluded(key) => Bound::Excluded(BoundKey::copied(key.as_ref())),
            Bound::Unbounded => Bound::Unbounded,
        };
        Range::new(self, owned(range.start_bound()), owned(range.end_bound()))
    }

    /// [`BTree::range`] over bounds the caller already holds as `Bytes`
    /// (no copy).
    pub fn range_bytes(&self, lower: Bound<Bytes>, upper: Bound<Bytes>) -> Range<'_> {
        Range::new(
            self,
            lower.map(BoundKey::Shared),
            upper.map(BoundKey::Shared),
        )
    }

    /// Every entry, in key order (`.rev()` for the reverse).
    pub fn iter(&self) -> Range<'_> {
        Range::new(self, Bound::Unbounded, Bound::Unbounded)
    }

    /// The entry with the smallest key.
    ///
    /// # Errors
    /// Pager errors; [`crate::Error::Corrupt`].
    pub fn first(&self) -> Result<Option<Entry>> {
        self.iter().next().transpose()
    }

    /// The entry with the largest key.
    ///
    /// # Errors
    /// Pager errors; [`crate::Error::Corrupt`].
    pub fn last(&self) -> Result<Option<Entry>> {
        self.iter().next_back().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_key_holds_every_length_inline_or_shared() {
        for len in [
            0,
            1,
            BOUND_INLINE_BYTES - 1,
            BOUND_INLINE_BYTES,
            BOUND_INLINE_BYTES + 1,
            300,
        ] {
            let key: Vec<u8> = (0..len).map(|byte| byte as u8 ^ 0x5a).collect();
            let bound = BoundKey::copied(&key);
            assert_eq!(bound.as_slice(), key.as_slice());
            let inline = matches!(bound, BoundKey::Inline { .. });
            assert_eq!(inline, len <= BOUND_INLINE_BYTES, "length {len}");
        }
        let shared = BoundKey::Shared(Bytes::from_static(b"shared"));
        assert_eq!(shared.as_slice(), b"shared");
    }

    /// Whether a window of the keys `keys` (two bytes each, slices of one
    /// page) passes [`Cursor::check_order`] for a cursor going in
    /// `direction` from the resume bound `start`.
    fn window_in_order(direction: Direction, start: Bound<&[u8]>, keys: &[&[u8; 2]]) -> bool {
        let page: Vec<u8> = keys.iter().flat_map(|key| key.iter().copied()).collect();
        let mut cursor = Cursor::new(direction);
        cursor.window = (0..keys.len())
            .map(|index| Slot {
                key_offset: (index * 2) as u32,
                key_len: 2,
                head: 0,
                value: SlotValue::Inline(0, 0),
            })
            .collect();
        let start = start.map(BoundKey::copied);
        let bounds = match direction {
            Direction::Forward => Bounds {
                lower: start,
                upper: Bound::Unbounded,
            },
            Direction::Reverse => Bounds {
                lower: Bound::Unbounded,
                upper: start,
            },
        };
        cursor.check_order(&bounds, PageId::new(1), &page).is_ok()
    }

    #[test]
    fn a_window_starts_past_its_resume_bound_and_runs_in_its_direction() {
        use Bound::{Excluded, Included, Unbounded};
        use Direction::{Forward, Reverse};
        let bb: &[u8] = b"bb";
        for (direction, start, keys, in_order) in [
            (Forward, Included(bb), &[b"bb", b"cc"][..], true),
            (Forward, Included(bb), &[b"aa", b"cc"], false),
            (Forward, Excluded(bb), &[b"bb", b"cc"], false),
            (Forward, Excluded(bb), &[b"bc"], true),
            (Forward, Unbounded, &[b"aa", b"cc"], true),
            (Forward, Unbounded, &[b"cc", b"aa"], false),
            (Forward, Included(bb), &[b"cc", b"cc"], false),
            (Reverse, Included(bb), &[b"bb", b"aa"], true),
            (Reverse, Included(bb), &[b"cc", b"aa"], false),
            (Reverse, Excluded(bb), &[b"bb", b"aa"], false),
            (Reverse, Excluded(bb), &[b"ba"], true),
            (Reverse, Unbounded, &[b"cc", b"aa"], true),
            (Reverse, Unbounded, &[b"aa", b"cc"], false),
        ] {
            assert_eq!(
                window_in_order(direction, start, keys),
                in_order,
                "{direction:?} from {start:?}: {keys:?}"
            );
        }
    }
}

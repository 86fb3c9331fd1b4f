//! Range iterators, forward and reverse, that survive concurrent writes.
//!
//! A cursor copies the rest of one leaf at a time (validated) into a
//! buffer. To go on it follows the leaf's sibling link, and takes the next
//! leaf only if the leaf it leaves is still unchanged after the next one
//! was read: then no key can have moved between the two (a split, merge
//! or rebalance changes both). When a leaf changed, the cursor seeks again
//! from the root past the last key it returned. So a scan never skips or
//! repeats a key that was present for the whole scan; keys written during
//! the scan may or may not be seen.

use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};

use keel_pager::{OptimisticGuard, PageId, PageView, Restart};

use crate::error::Result;
use crate::node::{self, Header, Kind, NodeBytes, ValueAt};
use crate::overflow;
use crate::stats::Counters;
use crate::tree::{BTree, Fault, OPTIMISTIC_DESCENTS_MAX, chain_error, corrupt};

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Reverse,
}

/// One end of a scan.
#[derive(Debug)]
struct Cursor {
    direction: Direction,
    /// Where the next fill starts: the range's bound at first, then just
    /// past the last key this cursor returned.
    resume: Bound<Vec<u8>>,
    /// Where the range ends in this cursor's direction.
    limit: Bound<Vec<u8>>,
    buffer: VecDeque<Entry>,
    /// Nothing is left past the buffer.
    exhausted: bool,
}

/// An entry read optimistically whose value may still be in a chain.
enum Pending {
    Inline(Vec<u8>),
    Chain(PageId, usize),
}

impl Cursor {
    fn next(&mut self, tree: &BTree) -> Result<Option<Entry>> {
        loop {
            if let Some(entry) = self.buffer.pop_front() {
                self.resume = Bound::Excluded(entry.0.clone());
                return Ok(Some(entry));
            }
            if self.exhausted {
                return Ok(None);
            }
            self.fill(tree)?;
        }
    }

    fn fill(&mut self, tree: &BTree) -> Result<()> {
        for _ in 0..OPTIMISTIC_DESCENTS_MAX {
            match self.fill_optimistic(tree) {
                Ok(()) => return Ok(()),
                Err(Fault::Restart) => Counters::add(&tree.counters.restarts),
                Err(Fault::Error(error)) => return Err(error),
            }
        }
        Counters::add(&tree.counters.latched_reads);
        // Writes keep moving this cursor's leaves: read once with the
        // writer held off.
        let _writer = tree.writer.lock();
        self.fill_latched(tree)
    }

    /// Which child an inner page leads to for the resume key.
    fn choose(&self, view: &PageView<'_>) -> Result<PageId, Restart> {
        match (&self.resume, self.direction) {
            (Bound::Unbounded, Direction::Forward) => node::child_at(view, 0),
            (Bound::Unbounded, Direction::Reverse) => node::child_at(view, node::count(view)?),
            (Bound::Included(key) | Bound::Excluded(key), _) => {
                node::child_for(view, key).map(|(_, child)| child)
            }
        }
    }

    fn fill_optimistic(&mut self, tree: &BTree) -> Result<(), Fault> {
        let mut leaf = tree.descend_optimistic(|view| self.choose(view))?;
        let mut taken = Vec::new();
        let (mut reached_limit, mut sibling) = leaf.read(|view| self.collect(view, &mut taken))?;
        for _ in 0..crate::tree::PATH_DEPTH_MAX * 64 {
            if !taken.is_empty() || reached_limit || sibling == PageId::NONE {
                break;
            }
            // Nothing here for this cursor: step to the sibling, and keep it
            // only if this leaf is unchanged once the sibling was read.
            let next = match tree.pager.optimistic(sibling) {
                Ok(next) => next,
                Err(error) => {
                    leaf.validate()?;
                    return Err(error.into());
                }
            };
            (reached_limit, sibling) = next.read(|view| self.collect(view, &mut taken))?;
            leaf.validate()?;
            leaf = next;
        }
        self.finish(tree, &leaf, taken, reached_limit, sibling)
    }

    /// Whether `key` lies strictly past the resume bound and past the key
    /// before it in this cursor's direction: a damaged page could hand out
    /// keys that go backwards, and a scan must still end.
    fn advances(&self, previous: Option<&[u8]>, key: &[u8]) -> bool {
        let forward = self.direction == Direction::Forward;
        let past = |bound: &[u8]| if forward { key > bound } else { key < bound };
        let past_resume = match &self.resume {
            Bound::Unbounded => true,
            Bound::Included(bound) => key == bound.as_slice() || past(bound),
            Bound::Excluded(bound) => past(bound),
        };
        past_resume && previous.is_none_or(past)
    }

    fn check_order(&self, page: PageId, taken: &[(Vec<u8>, Pending)]) -> Result<()> {
        let mut previous: Option<&[u8]> = None;
        for (key, _) in taken {
            if !self.advances(previous, key) {
                return Err(corrupt(page, "keys out of order"));
            }
            previous = Some(key);
        }
        Ok(())
    }

    /// Moves what was collected from `leaf` into the buffer, reading chains.
    fn finish(
        &mut self,
        tree: &BTree,
        leaf: &OptimisticGuard<'_>,
        taken: Vec<(Vec<u8>, Pending)>,
        reached_limit: bool,
        sibling: PageId,
    ) -> Result<(), Fault> {
        self.check_order(leaf.page_id(), &taken)?;
        let mut entries = Vec::with_capacity(taken.len());
        for (key, value) in taken {
            let value = match value {
                Pending::Inline(value) => value,
                Pending::Chain(first, len) => {
                    let mut value = Vec::new();
                    tree.read_chain(leaf, first, len, &mut value)?;
                    value
                }
            };
            entries.push((key, value));
        }
        self.buffer.extend(entries);
        self.exhausted = reached_limit || sibling == PageId::NONE || self.buffer.is_empty();
        Ok(())
    }

    /// Collects this cursor's entries of one leaf, in its direction, from
    /// the resume bound up to the limit. Returns whether the limit was
    /// reached and the sibling to go on with.
    fn collect<B: NodeBytes + ?Sized>(
        &self,
        page: &B,
        taken: &mut Vec<(Vec<u8>, Pending)>,
    ) -> Result<(bool, PageId), Restart> {
        taken.clear();
        if node::kind(page)? != Some(Kind::Leaf) {
            return Err(Restart);
        }
        let count = node::count(page)?;
        let position = |key: &[u8]| node::search(page, true, count, key);
        let forward = self.direction == Direction::Forward;
        // Indexes [low, high) are past the resume bound.
        let (low, high) = if forward {
            let low = match &self.resume {
                Bound::Unbounded => 0,
                Bound::Included(key) => position(key)?.unwrap_or_else(|index| index),
                Bound::Excluded(key) => {
                    position(key)?.map_or_else(|index| index, |index| index + 1)
                }
            };
            (low, count)
        } else {
            let high = match &self.resume {
                Bound::Unbounded => count,
                Bound::Included(key) => {
                    position(key)?.map_or_else(|index| index, |index| index + 1)
                }
                Bound::Excluded(key) => position(key)?.unwrap_or_else(|index| index),
            };
            (0, high)
        };
        let mut reached_limit = false;
        for step in 0..high.saturating_sub(low) {
            let index = if forward { low + step } else { high - 1 - step };
            let (offset, len) = node::key_at(page, true, index)?;
            if !self.within_limit(page, offset, len)? {
                reached_limit = true;
                break;
            }
            let mut key = Vec::with_capacity(len);
            page.append_to(offset, len, &mut key)?;
            let value = match node::value_at(page, index)? {
                ValueAt::Inline { offset, len } => {
                    let mut value = Vec::with_capacity(len);
                    page.append_to(offset, len, &mut value)?;
                    Pending::Inline(value)
                }
                ValueAt::Overflow { first, len } => Pending::Chain(first, len),
            };
            taken.push((key, value));
        }
        let sibling = if forward {
            node::link_1(page)?
        } else {
            node::link_0(page)?
        };
        Ok((reached_limit, sibling))
    }

    fn within_limit<B: NodeBytes + ?Sized>(
        &self,
        page: &B,
        offset: usize,
        len: usize,
    ) -> Result<bool, Restart> {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let (key, inclusive) = match &self.limit {
            Bound::Unbounded => return Ok(true),
            Bound::Included(key) => (key, true),
            Bound::Excluded(key) => (key, false),
        };
        let order = page.compare(offset, len, key)?;
        Ok(match (self.direction, order) {
            (_, Equal) => inclusive,
            (Direction::Forward, Less) | (Direction::Reverse, Greater) => true,
            _ => false,
        })
    }

    /// `fill` under shared latches with the writer held off: nothing
    /// changes, so a page that does not parse is corrupt.
    fn fill_latched(&mut self, tree: &BTree) -> Result<()> {
        let mut page = tree.root;
        let mut guard = tree.pager.shared(page)?;
        loop {
            let header =
                Header::read(&guard).map_err(|Restart| corrupt(page, "bad node header"))?;
            if header.is_leaf() {
                break;
            }
            let child = match (&self.resume, self.direction) {
                (Bound::Unbounded, Direction::Forward) => node::child_at(&*guard, 0),
                (Bound::Unbounded, Direction::Reverse) => node::child_at(&*guard, header.count),
                (Bound::Included(key) | Bound::Excluded(key), _) => {
                    node::child_for(&*guard, key).map(|(_, child)| child)
                }
            }
            .map_err(|Restart| corrupt(page, "bad cell"))?;
            page = child;
            guard = tree.pager.shared(page)?;
        }
        let mut taken = Vec::new();
        for _ in 0..crate::tree::PATH_DEPTH_MAX * 64 {
            let (reached_limit, sibling) = self
                .collect(&*guard, &mut taken)
                .map_err(|Restart| corrupt(page, "bad leaf"))?;
            if taken.is_empty() && !reached_limit && sibling != PageId::NONE {
                page = sibling;
                guard = tree.pager.shared(page)?;
                continue;
            }
            self.check_order(page, &taken)?;
            for (key, value) in taken.drain(..) {
                let value = match value {
                    Pending::Inline(value) => value,
                    Pending::Chain(first, len) => {
                        let mut value = Vec::new();
                        overflow::read(&tree.pager, first, len, &mut value).map_err(chain_error)?;
                        value
                    }
                };
                self.buffer.push_back((key, value));
            }
            self.exhausted = reached_limit || sibling == PageId::NONE || self.buffer.is_empty();
            return Ok(());
        }
        Err(corrupt(page, "sibling links that loop"))
    }
}

/// An iterator over the entries of a key range, in key order; reversible
/// ([`DoubleEndedIterator`]). Each item is a copy of a key and its value.
///
/// It holds no latch between items and survives concurrent writes: it never
/// skips or repeats a key present for the whole scan.
#[derive(Debug)]
pub struct Range<'a> {
    tree: &'a BTree,
    front: Cursor,
    back: Cursor,
    front_last: Option<Vec<u8>>,
    back_last: Option<Vec<u8>>,
    done: bool,
}

impl<'a> Range<'a> {
    pub(crate) fn new(tree: &'a BTree, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Range<'a> {
        let cursor = |direction, resume: &Bound<Vec<u8>>, limit: &Bound<Vec<u8>>| Cursor {
            direction,
            resume: resume.clone(),
            limit: limit.clone(),
            buffer: VecDeque::new(),
            exhausted: false,
        };
        Range {
            tree,
            front: cursor(Direction::Forward, &start, &end),
            back: cursor(Direction::Reverse, &end, &start),
            front_last: None,
            back_last: None,
            done: false,
        }
    }
}

impl Range<'_> {
    /// The next entry from the front (`forward`) or the back, ending the
    /// range where the two ends meet or at the first error.
    fn step(&mut self, forward: bool) -> Option<Result<Entry>> {
        if self.done {
            return None;
        }
        let Range {
            tree,
            front,
            back,
            front_last,
            back_last,
            ..
        } = self;
        let (cursor, own_last, other_last) = if forward {
            (front, front_last, &*back_last)
        } else {
            (back, back_last, &*front_last)
        };
        let outcome = match cursor.next(tree) {
            Ok(Some(entry)) => {
                let before_other = other_last.as_ref().is_none_or(|other| {
                    if forward {
                        entry.0 < *other
                    } else {
                        entry.0 > *other
                    }
                });
                if before_other {
                    *own_last = Some(entry.0.clone());
                    return Some(Ok(entry));
                }
                None
            }
            Ok(None) => None,
            Err(error) => Some(Err(error)),
        };
        self.done = true;
        outcome
    }
}

impl Iterator for Range<'_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(true)
    }
}

impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(false)
    }
}

impl BTree {
    /// The entries with keys in `range`, in key order; `.rev()` for the
    /// reverse. Bounds may be inclusive, exclusive or unbounded. Each item
    /// may carry a pager error or [`crate::Error::Corrupt`], after which
    /// the iterator ends.
    pub fn range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Range<'_> {
        let owned = |bound: Bound<&K>| match bound {
            Bound::Included(key) => Bound::Included(key.as_ref().to_vec()),
            Bound::Excluded(key) => Bound::Excluded(key.as_ref().to_vec()),
            Bound::Unbounded => Bound::Unbounded,
        };
        Range::new(self, owned(range.start_bound()), owned(range.end_bound()))
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
        Range::new(self, Bound::Unbounded, Bound::Unbounded)
            .next()
            .transpose()
    }

    /// The entry with the largest key.
    ///
    /// # Errors
    /// Pager errors; [`crate::Error::Corrupt`].
    pub fn last(&self) -> Result<Option<Entry>> {
        Range::new(self, Bound::Unbounded, Bound::Unbounded)
            .next_back()
            .transpose()
    }
}

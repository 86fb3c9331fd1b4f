//! Point reads: optimistic lock coupling from the root, shared latches
//! coupled top-down after [`OPTIMISTIC_DESCENTS_MAX`] restarts, and the
//! overflow chains a leaf refers to — values, and long keys whose prefix
//! tied with the key searched.

use std::cmp::Ordering;
use std::mem::MaybeUninit;

use keel_pager::{OptimisticGuard, PageId, PageView, Restart};

use crate::error::{Error, Result};
use crate::node::{self, Header, KeyChain, Kind, Probe, Search, TIED, Target, ValueAt};
use crate::overflow::{self, ChainFault};
use crate::stats::Counters;
use crate::tree::{BTree, Fault, OPTIMISTIC_DESCENTS_MAX, PATH_DEPTH_MAX, chain_error, corrupt};

/// Where a point read puts the value: a `Vec` (returned to the caller)
/// or a buffer on the stack (visited in place).
pub(crate) trait ValueBuffer {
    /// The buffer, `len` bytes long, for the value to be copied into.
    fn sized(&mut self, len: usize) -> &mut [u8];
    /// The vector an overflow chain is read into: the buffer itself, or a
    /// scratch vector that [`ValueBuffer::take_chain`] then copies in.
    fn chain_target(&mut self) -> &mut Vec<u8>;
    /// Moves a chain read into [`ValueBuffer::chain_target`] into place.
    fn take_chain(&mut self);
}

impl ValueBuffer for Vec<u8> {
    fn sized(&mut self, len: usize) -> &mut [u8] {
        self.clear();
        self.resize(len, 0);
        self
    }
    fn chain_target(&mut self) -> &mut Vec<u8> {
        self.clear();
        self
    }
    fn take_chain(&mut self) {}
}

/// A buffer on the stack for values up to `N` bytes (a value read from a
/// page to be visited in place), with a vector for longer ones. Its bytes
/// are zeroed only as far as a value reaches, not all `N` up front
/// (measured: zeroing the whole 1 KiB was 2% of a warm point read).
pub(crate) struct StackBuffer<const N: usize> {
    inline: [MaybeUninit<u8>; N],
    /// `inline[..initialized]` holds initialized bytes.
    initialized: usize,
    len: usize,
    spilled: Vec<u8>,
}

impl<const N: usize> StackBuffer<N> {
    pub(crate) fn new() -> Self {
        StackBuffer {
            inline: [MaybeUninit::uninit(); N],
            initialized: 0,
            len: 0,
            spilled: Vec::new(),
        }
    }

    /// The value read.
    pub(crate) fn as_slice(&self) -> &[u8] {
        if self.len <= N {
            debug_assert!(self.len <= self.initialized);
            // SAFETY: `len <= initialized` (every `len <= N` is set by
            // `inline_sized`, which initializes that far first), so the
            // first `len` bytes are initialized; the slice borrows `self`.
            unsafe { std::slice::from_raw_parts(self.inline.as_ptr().cast::<u8>(), self.len) }
        } else {
            &self.spilled
        }
    }

    /// The first `len <= N` inline bytes, initialized (zeroed where no
    /// value reached before).
    fn inline_sized(&mut self, len: usize) -> &mut [u8] {
        debug_assert!(len <= N);
        for byte in &mut self.inline[self.initialized.min(len)..len] {
            byte.write(0);
        }
        self.initialized = self.initialized.max(len);
        self.len = len;
        // SAFETY: `len <= N`, and the first `len` bytes are initialized
        // (just now, or by an earlier call); the slice borrows `self`
        // mutably, so nothing else reads or writes them meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.inline.as_mut_ptr().cast::<u8>(), len) }
    }
}

impl<const N: usize> ValueBuffer for StackBuffer<N> {
    fn sized(&mut self, len: usize) -> &mut [u8] {
        if len <= N {
            self.inline_sized(len)
        } else {
            self.len = len;
            self.spilled.sized(len)
        }
    }
    fn chain_target(&mut self) -> &mut Vec<u8> {
        self.spilled.clear();
        &mut self.spilled
    }
    fn take_chain(&mut self) {
        let len = self.spilled.len();
        if len <= N {
            let spilled = std::mem::take(&mut self.spilled);
            self.inline_sized(len).copy_from_slice(&spilled);
            self.spilled = spilled;
        } else {
            self.len = len;
        }
    }
}

/// Values up to this size are visited in place from a copy on the stack.
const VISIT_STACK_BYTES: usize = 1024;

impl BTree {
    /// The value of `key`, if present.
    ///
    /// # Errors
    /// Pager errors (I/O, checksums) and [`Error::Corrupt`].
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut value = Vec::new();
        Ok(self.read_value(key, &mut value)?.then_some(value))
    }

    /// Calls `visit` with the value of `key` (or `None`) and returns what
    /// it returns. A value of up to 1 KiB is copied onto the stack (a page
    /// may change under an optimistic reader, so the value is copied and
    /// validated before `visit` sees it): no allocation.
    ///
    /// # Errors
    /// As [`BTree::get`].
    pub fn get_with<T>(&self, key: &[u8], visit: impl FnOnce(Option<&[u8]>) -> T) -> Result<T> {
        let mut value = StackBuffer::<VISIT_STACK_BYTES>::new();
        let found = self.read_value(key, &mut value)?;
        Ok(visit(found.then(|| value.as_slice())))
    }

    /// Reads the value of `key` into `out`; whether it is present.
    fn read_value(&self, key: &[u8], out: &mut impl ValueBuffer) -> Result<bool> {
        for _ in 0..OPTIMISTIC_DESCENTS_MAX {
            match self.get_optimistic(key, out) {
                Ok(found) => return Ok(found),
                Err(Fault::Restart) => Counters::add(&self.counters.restarts),
                Err(Fault::Error(error)) => return Err(error),
            }
        }
        Counters::add(&self.counters.latched_reads);
        self.get_latched(key, out)
    }

    fn get_optimistic(&self, key: &[u8], out: &mut impl ValueBuffer) -> Result<bool, Fault> {
        let leaf = self.descend_optimistic(Target::Key(key))?;
        let found = leaf.read(|view| {
            if node::kind(view)? != Some(Kind::Leaf) {
                return Err(Restart);
            }
            let count = node::count(view)?;
            Ok(match node::search(view, true, count, key)? {
                Ok(index) => Lookup::Found(copy_value(view, index, out)?),
                Err(TIED) => Lookup::Tied,
                Err(_) => Lookup::Absent,
            })
        })?;
        let chain = match found {
            Lookup::Absent => return Ok(false),
            Lookup::Found(chain) => chain,
            Lookup::Tied => match self.value_tied(&leaf, key, out)? {
                Some(chain) => chain,
                None => return Ok(false),
            },
        };
        if let Some((first, len)) = chain {
            self.read_chain(&leaf, first, len, out.chain_target())?;
            out.take_chain();
        }
        Ok(true)
    }

    /// The value of `key` in the leaf of `guard`, where a long key's prefix
    /// tied with it: copied into `out`, or its chain; `None` if the key is
    /// not there.
    #[cold]
    #[inline(never)]
    fn value_tied(
        &self,
        leaf: &OptimisticGuard<'_>,
        key: &[u8],
        out: &mut impl ValueBuffer,
    ) -> Result<Option<Option<(PageId, usize)>>, Fault> {
        let Ok(index) = self.search_optimistic(leaf, true, key)? else {
            return Ok(None);
        };
        Ok(Some(leaf.read(|view| copy_value(view, index, out))?))
    }

    /// Compares a long key whose prefix tied with `key`, in the page of
    /// `guard`, by its chain: the long key's order against `key`. The page
    /// is validated afterwards, so a chain freed meanwhile (the page
    /// changed first) is a restart, and a broken chain of an unchanged
    /// page is corruption.
    pub(crate) fn compare_chain_optimistic(
        &self,
        guard: &OptimisticGuard<'_>,
        chain: KeyChain,
        key: &[u8],
    ) -> Result<Ordering, Fault> {
        Counters::add(&self.counters.key_chain_compares);
        // Pinned, so that reading the chain cannot evict the page and make
        // its validation fail for no change.
        let pin = match self.pager.pin(guard.page_id()) {
            Ok(pin) => pin,
            Err(error) => {
                guard.validate()?;
                return Err(error.into());
            }
        };
        let rest = key.get(chain.local..).unwrap_or_default();
        let result = overflow::compare(&self.pager, chain.first, chain.rest(), rest);
        guard.validate()?;
        drop(pin);
        match result {
            Ok(ordering) => Ok(ordering),
            Err(ChainFault::Broken(page, problem)) => Err(Error::Corrupt { page, problem }.into()),
            Err(ChainFault::Pager(error)) => Err(error.into()),
        }
    }

    /// The child of the inner page of `guard` toward `target`, where a long
    /// key's prefix tied with it (or a damaged page names no child).
    #[cold]
    #[inline(never)]
    fn child_settled(
        &self,
        guard: &OptimisticGuard<'_>,
        target: Target<'_>,
    ) -> Result<PageId, Fault> {
        let Target::Key(key) = target else {
            return Err(corrupt(guard.page_id(), "no child").into());
        };
        let position = node::child_position(self.search_optimistic(guard, false, key)?);
        Ok(guard.read(|view| node::child_at(view, position))?)
    }

    /// Searches the page of `guard` for `key` where [`node::search`] tied:
    /// each tie is settled by the long key's chain, and the search goes on
    /// over the same version of the page.
    #[cold]
    #[inline(never)]
    pub(crate) fn search_optimistic(
        &self,
        guard: &OptimisticGuard<'_>,
        leaf: bool,
        key: &[u8],
    ) -> Result<Result<usize, usize>, Fault> {
        let mut probe = guard.read(|view| Search::new(node::count(view)?).run(view, leaf, key))?;
        loop {
            match probe {
                Probe::Done(found) => return Ok(found),
                Probe::Tie(tie) => {
                    let ordering = self.compare_chain_optimistic(guard, tie.chain, key)?;
                    match tie.search.after(tie.index, ordering) {
                        Ok(index) => return Ok(Ok(index)),
                        Err(search) => probe = guard.read(|view| search.run(view, leaf, key))?,
                    }
                }
            }
        }
    }

    /// Reads an overflow chain referred to by `leaf`, validating the leaf
    /// afterwards: a broken chain is a restart if the leaf changed, and
    /// corruption if it did not.
    pub(crate) fn read_chain(
        &self,
        leaf: &OptimisticGuard<'_>,
        first: PageId,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), Fault> {
        // Pinned, so that reading the chain cannot evict the leaf and make
        // its validation fail for no change.
        let pin = match self.pager.pin(leaf.page_id()) {
            Ok(pin) => pin,
            Err(error) => {
                leaf.validate()?;
                return Err(error.into());
            }
        };
        let result = overflow::read(&self.pager, first, len, out);
        leaf.validate()?;
        drop(pin);
        match result {
            Ok(()) => Ok(()),
            Err(ChainFault::Broken(page, problem)) => Err(Error::Corrupt { page, problem }.into()),
            Err(ChainFault::Pager(error)) => Err(error.into()),
        }
    }

    /// Descends from the root to a leaf by optimistic lock coupling,
    /// taking the child toward `target` in each inner page. Returns the
    /// leaf's guard; every page above it was validated after its child was
    /// found.
    #[inline]
    pub(crate) fn descend_optimistic(
        &self,
        target: Target<'_>,
    ) -> Result<OptimisticGuard<'_>, Fault> {
        // One descent per kind of target, each with its own choice of child
        // inlined (a choice made through the target per page measured
        // slower).
        match target {
            Target::Key(key) => self.descend_by(target, |view| {
                let count = node::count(view)?;
                match node::search(view, false, count, key)? {
                    Err(TIED) => Ok(PageId::NONE),
                    found => node::child_at(view, node::child_position(found)),
                }
            }),
            Target::First => self.descend_by(target, |view| node::child_at(view, 0)),
            Target::Last => {
                self.descend_by(target, |view| node::child_at(view, node::count(view)?))
            }
        }
    }

    /// [`BTree::descend_optimistic`] with `choose` picking each inner
    /// page's child: [`PageId::NONE`] when a long key's prefix tied with
    /// the key, and the child is found by its chain.
    #[inline(always)]
    fn descend_by(
        &self,
        target: Target<'_>,
        mut choose: impl FnMut(&PageView<'_>) -> Result<PageId, Restart>,
    ) -> Result<OptimisticGuard<'_>, Fault> {
        let mut guard = self.pager.optimistic(self.root)?;
        for _ in 0..PATH_DEPTH_MAX {
            let child = guard.read(|view| match node::kind(view)? {
                Some(Kind::Leaf) => Ok(None),
                Some(Kind::Inner) => choose(view).map(Some),
                _ => Err(Restart),
            })?;
            let child = match child {
                None => return Ok(guard),
                // Handed over whole: the guard's address never escapes
                // this loop (which measured a tenth slower when it did).
                Some(PageId::NONE) => return self.descend_tied(guard, target),
                Some(child) => child,
            };
            let next = match self.pager.optimistic(child) {
                Ok(next) => next,
                Err(error) => {
                    // A stale child id (freed meanwhile) is a restart.
                    guard.validate()?;
                    return Err(error.into());
                }
            };
            guard.validate()?;
            guard = next;
        }
        Err(corrupt(self.root, "tree deeper than any valid tree").into())
    }

    /// The rest of a descent from the inner page of `guard`, where a long
    /// key's prefix tied with the key: every child is chosen with ties
    /// settled by the chains.
    #[cold]
    #[inline(never)]
    fn descend_tied<'t>(
        &'t self,
        mut guard: OptimisticGuard<'t>,
        target: Target<'_>,
    ) -> Result<OptimisticGuard<'t>, Fault> {
        for _ in 0..PATH_DEPTH_MAX {
            let child = guard.read(|view| match node::kind(view)? {
                Some(Kind::Leaf) => Ok(None),
                Some(Kind::Inner) => node::child_toward(view, target).map(Some),
                _ => Err(Restart),
            })?;
            let child = match child {
                None => return Ok(guard),
                Some(PageId::NONE) => self.child_settled(&guard, target)?,
                Some(child) => child,
            };
            let next = match self.pager.optimistic(child) {
                Ok(next) => next,
                Err(error) => {
                    guard.validate()?;
                    return Err(error.into());
                }
            };
            guard.validate()?;
            guard = next;
        }
        Err(corrupt(self.root, "tree deeper than any valid tree").into())
    }

    /// `read_value` with shared latches coupled top-down: the reader's way
    /// out when optimistic descents keep restarting.
    fn get_latched(&self, key: &[u8], out: &mut impl ValueBuffer) -> Result<bool> {
        let mut guard = self.pager.shared(self.root)?;
        for _ in 0..PATH_DEPTH_MAX {
            let page = guard.page_id();
            let header =
                Header::read(&guard).map_err(|Restart| corrupt(page, "bad node header"))?;
            if header.is_leaf() {
                let found = self.search_latched(&guard, page, true, header.count, key)?;
                let Ok(index) = found else {
                    return Ok(false);
                };
                match node::value_at(&*guard, index).map_err(|Restart| corrupt(page, "bad cell"))? {
                    ValueAt::Inline { offset, len } => {
                        out.sized(len).copy_from_slice(&guard[offset..offset + len]);
                    }
                    ValueAt::Overflow { first, len } => {
                        // The shared latch on the leaf keeps the chain alive.
                        overflow::read(&self.pager, first, len, out.chain_target())
                            .map_err(chain_error)?;
                        out.take_chain();
                    }
                }
                return Ok(true);
            }
            let (_, child) = self.child_latched(&guard, page, key)?;
            guard = self.pager.shared(child)?;
        }
        Err(corrupt(self.root, "tree deeper than any valid tree"))
    }
}

/// Copies the inline value of leaf cell `index` into `out`, or returns
/// the overflow chain the value is in.
#[inline]
fn copy_value(
    view: &PageView<'_>,
    index: usize,
    out: &mut impl ValueBuffer,
) -> Result<Option<(PageId, usize)>, Restart> {
    match node::value_at(view, index)? {
        ValueAt::Inline { offset, len } => {
            if len > view.len() {
                return Err(Restart);
            }
            view.copy_to(offset, out.sized(len))?;
            Ok(None)
        }
        ValueAt::Overflow { first, len } => Ok(Some((first, len))),
    }
}

/// What a point read found in its leaf.
enum Lookup {
    /// No such key.
    Absent,
    /// The key, its value copied out, or the value's chain.
    Found(Option<(PageId, usize)>),
    /// A long key's prefix tied with the key: the chain decides.
    Tied,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_buffer_holds_what_was_copied_in_whatever_the_sizes_before() {
        let mut buffer = StackBuffer::<16>::new();
        assert_eq!(buffer.as_slice(), b"");
        buffer.sized(3).copy_from_slice(b"abc");
        assert_eq!(buffer.as_slice(), b"abc");
        // Longer than any value before: the new bytes start zeroed.
        assert_eq!(buffer.sized(6), &[b'a', b'b', b'c', 0, 0, 0]);
        buffer.sized(6).copy_from_slice(b"abcdef");
        buffer.sized(2).copy_from_slice(b"xy");
        assert_eq!(buffer.as_slice(), b"xy");
        // Past the inline bytes: the vector.
        buffer.sized(20).copy_from_slice(&[7; 20]);
        assert_eq!(buffer.as_slice(), &[7; 20]);
        // A chain read that fits inline moves in; one that does not stays.
        buffer.chain_target().extend_from_slice(b"0123456789");
        buffer.take_chain();
        assert_eq!(buffer.as_slice(), b"0123456789");
        buffer.chain_target().extend_from_slice(&[9; 40]);
        buffer.take_chain();
        assert_eq!(buffer.as_slice(), &[9; 40]);
        buffer.chain_target().extend_from_slice(b"tail");
        buffer.take_chain();
        assert_eq!(buffer.as_slice(), b"tail");
    }
}

//! Access to a page in the pool: optimistic reads that must be validated,
//! shared and exclusive latches, pins.

use std::cmp::Ordering as CmpOrdering;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr;

use crate::error::{Error, Result};
use crate::latch::Version;
use crate::page_id::PageId;
use crate::pager::{Pager, WriteToken};
use crate::residency;
use crate::sync::Ordering;

/// An optimistic read saw the page change: start the attempt over.
///
/// Returned by the closure given to [`OptimisticGuard::read`] when what it
/// read makes no sense (an offset out of range: the page was being
/// changed), and by validation when the page's version moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart;

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the page changed during an optimistic read")
    }
}

impl std::error::Error for Restart {}

/// Why an attempt of several optimistic steps (lock coupling down a tree)
/// did not finish: a page changed (start over), or a real error (stop).
#[derive(Debug, Clone)]
pub enum Fault {
    /// A page changed; start the attempt over.
    Restart,
    /// A real error: return it.
    Error(Error),
}

impl From<Restart> for Fault {
    fn from(_: Restart) -> Self {
        Fault::Restart
    }
}

impl From<Error> for Fault {
    fn from(error: Error) -> Self {
        Fault::Error(error)
    }
}

/// The bytes of a page during an optimistic read.
///
/// Another thread may change the page while it is read, so the view hands
/// out copies, never references: every read is bounds-checked within the
/// page (an out-of-range offset, which only a torn read can produce in a
/// valid layout, is a [`Restart`]), and each value is read exactly once, so
/// a checked value cannot change after its check. Nothing read may be
/// trusted before [`OptimisticGuard::read`] has validated the version.
pub struct PageView<'a> {
    data: *const u8,
    len: usize,
    _page: PhantomData<&'a [u8]>,
}

impl<'a> PageView<'a> {
    /// A view of `len` bytes at `data`, which stay mapped for `'a`.
    #[inline]
    pub(crate) fn new(data: *const u8, len: usize) -> Self {
        Self {
            data,
            len,
            _page: PhantomData,
        }
    }

    /// The page size.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a page has at least 4 KiB.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn check(&self, offset: usize, len: usize) -> Result<(), Restart> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(Restart),
        }
    }

    /// Copies `out.len()` bytes from `offset`.
    #[inline]
    pub fn copy_to(&self, offset: usize, out: &mut [u8]) -> Result<(), Restart> {
        self.check(offset, out.len())?;
        // SAFETY: the range is inside the frame (checked above), which stays
        // mapped for 'a. A writer may be changing these bytes concurrently;
        // that race is the optimistic protocol itself (a sequence lock):
        // the copy goes through raw pointers, never a reference, and is
        // discarded unless the version validates afterwards.
        unsafe {
            ptr::copy_nonoverlapping(self.data.add(offset), out.as_mut_ptr(), out.len());
        }
        Ok(())
    }

    /// One byte at `offset`.
    #[inline]
    pub fn u8_at(&self, offset: usize) -> Result<u8, Restart> {
        self.check(offset, 1)?;
        // SAFETY: in bounds (checked); a racy read, see `copy_to`. Volatile
        // so the compiler reads it exactly once.
        Ok(unsafe { ptr::read_volatile(self.data.add(offset)) })
    }

    /// A little-endian `u16` at `offset`.
    #[inline]
    pub fn u16_at(&self, offset: usize) -> Result<u16, Restart> {
        let mut bytes = [0u8; 2];
        self.copy_to(offset, &mut bytes)?;
        Ok(u16::from_le_bytes(bytes))
    }

    /// A little-endian `u32` at `offset`.
    #[inline]
    pub fn u32_at(&self, offset: usize) -> Result<u32, Restart> {
        let mut bytes = [0u8; 4];
        self.copy_to(offset, &mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    /// A little-endian `u64` at `offset`.
    #[inline]
    pub fn u64_at(&self, offset: usize) -> Result<u64, Restart> {
        let mut bytes = [0u8; 8];
        self.copy_to(offset, &mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    /// Compares the `len` bytes at `offset` with `other`, as byte strings:
    /// eight bytes at a time, loaded as big-endian words, the last few
    /// bytes as one zero-padded word (a search compares a key per step, and
    /// separators are often shorter than a word; a libc `memcmp` call per
    /// step cost more than the comparison). Always inlined, for the same
    /// reason: a search that also handles long keys (keel-btree) has two
    /// call sites, and a call per step would be back.
    #[inline(always)]
    pub fn compare(&self, offset: usize, len: usize, other: &[u8]) -> Result<CmpOrdering, Restart> {
        self.check(offset, len)?;
        let common = len.min(other.len());
        let mut done = 0;
        while done + 8 <= common {
            // SAFETY: `offset + done + 8 <= offset + len`, inside the frame
            // (checked above), which stays mapped for 'a; a racy read, see
            // `copy_to`: discarded unless the version validates.
            let mine =
                unsafe { ptr::read_unaligned(self.data.add(offset + done).cast::<[u8; 8]>()) };
            let mut theirs = [0u8; 8];
            theirs.copy_from_slice(&other[done..done + 8]);
            if mine != theirs {
                return Ok(u64::from_be_bytes(mine).cmp(&u64::from_be_bytes(theirs)));
            }
            done += 8;
        }
        let rest = common - done;
        // SAFETY: `rest` bytes from `offset + done` are inside the frame
        // (`done + rest <= len`, checked above; a racy read as above), and
        // from `done` inside `other` (`done + rest <= other.len()`).
        let (mine, theirs) = unsafe {
            (
                tail_word(self.data.add(offset + done), rest),
                tail_word(other.as_ptr().add(done), rest),
            )
        };
        Ok(mine.cmp(&theirs).then(len.cmp(&other.len())))
    }

    /// Copies the `len` bytes at `offset` into a vector.
    pub fn to_vec(&self, offset: usize, len: usize) -> Result<Vec<u8>, Restart> {
        let mut out = vec![0u8; len.min(self.len)];
        if len > self.len {
            return Err(Restart);
        }
        self.copy_to(offset, &mut out)?;
        Ok(out)
    }
}

/// The `n` (< 8) bytes at `bytes` as the high bytes of a big-endian word,
/// zeros below: words of equal `n` compare as their bytes do. Reads each
/// byte once or twice (overlapping loads), never past the `n`.
///
/// # Safety
/// `n` bytes at `bytes` must be readable.
#[inline(always)]
unsafe fn tail_word(bytes: *const u8, n: usize) -> u64 {
    debug_assert!(n < 8);
    // SAFETY: every load stays within the `n` bytes (the caller's promise).
    unsafe {
        if n >= 4 {
            let high = u32::from_be_bytes(ptr::read_unaligned(bytes.cast::<[u8; 4]>()));
            let low = u32::from_be_bytes(ptr::read_unaligned(bytes.add(n - 4).cast::<[u8; 4]>()));
            (u64::from(high) << 32) | (u64::from(low) << (8 * (8 - n)))
        } else if n > 0 {
            let first = u64::from(ptr::read(bytes));
            let middle = u64::from(ptr::read(bytes.add(n / 2)));
            let last = u64::from(ptr::read(bytes.add(n - 1)));
            (first << 56) | (middle << (56 - 8 * (n / 2))) | (last << (56 - 8 * (n - 1)))
        } else {
            0
        }
    }
}

impl fmt::Debug for PageView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageView").field("len", &self.len).finish()
    }
}

/// A page observed at a version, without a latch ([`Pager::optimistic`]).
///
/// Reads go through [`OptimisticGuard::read`], which validates the version
/// after the closure: an unvalidated value never leaves it. For lock
/// coupling, [`OptimisticGuard::validate`] re-checks a parent after a child
/// was looked up.
#[derive(Debug)]
pub struct OptimisticGuard<'a> {
    pub(crate) pager: &'a Pager,
    pub(crate) frame: u32,
    pub(crate) version: Version,
    pub(crate) page: PageId,
}

impl<'a> OptimisticGuard<'a> {
    /// The page.
    pub fn page_id(&self) -> PageId {
        self.page
    }

    /// Runs `read` over the page, then validates: the result is returned
    /// only if the page did not change while `read` ran.
    #[inline]
    pub fn read<T>(
        &self,
        read: impl FnOnce(&PageView<'_>) -> Result<T, Restart>,
    ) -> Result<T, Restart> {
        let view = PageView::new(self.pager.frame_ptr(self.frame), self.pager.page_size());
        let value = read(&view)?;
        self.validate()?;
        Ok(value)
    }

    /// Whether the page is still as it was when this guard was taken.
    #[inline]
    pub fn validate(&self) -> Result<(), Restart> {
        if self.pager.frame(self.frame).latch.validate(self.version) {
            Ok(())
        } else {
            Err(Restart)
        }
    }

    /// Becomes the exclusive latch, if the page has not changed since the
    /// guard was taken (else [`Fault::Restart`]). Like
    /// [`Pager::exclusive`], only the one writer may do this.
    pub fn upgrade(self) -> Result<ExclusiveGuard<'a>, Fault> {
        let token = self.pager.enter_write()?;
        if self.pager.frame(self.frame).latch.try_upgrade(self.version) {
            Ok(ExclusiveGuard {
                pager: self.pager,
                frame: self.frame,
                page: self.page,
                modified: false,
                released: false,
                _token: token,
            })
        } else {
            Err(Fault::Restart)
        }
    }
}

/// A shared latch on a page: its bytes cannot change while this is held.
#[derive(Debug)]
pub struct SharedGuard<'a> {
    pub(crate) pager: &'a Pager,
    pub(crate) frame: u32,
    pub(crate) page: PageId,
}

impl SharedGuard<'_> {
    /// The page.
    pub fn page_id(&self) -> PageId {
        self.page
    }
}

impl Deref for SharedGuard<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // The shared latch, held until this guard drops, excludes every
        // writer of these bytes.
        self.pager.frame_bytes(self.frame)
    }
}

impl Drop for SharedGuard<'_> {
    fn drop(&mut self) {
        self.pager.frame(self.frame).latch.release_shared();
    }
}

/// The exclusive latch on a page, held by the one writer: the page can be
/// changed, and is marked dirty when it was.
#[derive(Debug)]
pub struct ExclusiveGuard<'a> {
    pub(crate) pager: &'a Pager,
    pub(crate) frame: u32,
    pub(crate) page: PageId,
    pub(crate) modified: bool,
    /// Set when the latch was released by other means (freeing the page).
    pub(crate) released: bool,
    pub(crate) _token: WriteToken<'a>,
}

impl ExclusiveGuard<'_> {
    /// The page.
    pub fn page_id(&self) -> PageId {
        self.page
    }

    /// Marks the page dirty without changing it: the next checkpoint (or
    /// eviction) writes it to a fresh block (compaction moves pages so).
    pub fn mark_dirty(&mut self) {
        self.modified = true;
    }

    /// Frees the page: its id may be handed out again, its block is
    /// released (at once if no checkpoint needs it, else after the next
    /// checkpoint).
    pub fn free(mut self) -> Result<()> {
        // The pager releases the latch as it removes the page.
        self.released = true;
        self.pager.free_latched(self.page, self.frame)
    }
}

impl Deref for ExclusiveGuard<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // The exclusive latch makes this guard the frame's only writer.
        self.pager.frame_bytes(self.frame)
    }
}

impl DerefMut for ExclusiveGuard<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.modified = true;
        // The exclusive latch, held until this guard drops, excludes every
        // other latch holder; `&mut self` makes this the one reference.
        self.pager.frame_bytes_mut(self.frame)
    }
}

impl Drop for ExclusiveGuard<'_> {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let frame = self.pager.frame(self.frame);
        if self.modified {
            frame.dirty.store(true, Ordering::Relaxed);
            frame.latch.release_exclusive();
        } else {
            frame.latch.release_exclusive_unchanged();
        }
    }
}

/// A pin: the page stays in the pool (is never evicted) while this lives.
/// Access still goes through the latches.
#[derive(Debug)]
pub struct PinGuard<'a> {
    pub(crate) pager: &'a Pager,
    pub(crate) frame: u32,
    pub(crate) page: PageId,
}

impl PinGuard<'_> {
    /// The page.
    pub fn page_id(&self) -> PageId {
        self.page
    }
}

impl Drop for PinGuard<'_> {
    fn drop(&mut self) {
        residency::unpin(&self.pager.frame(self.frame).pins);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Word-wise comparison orders keys as byte strings do, for every
        /// length and tail length: the other key is the page's key with one
        /// byte changed, cut short or made longer.
        #[test]
        fn compare_orders_as_byte_strings(
            page in proptest::collection::vec(any::<u8>(), 64),
            offset in 0usize..32,
            len in 0usize..32,
            changed in any::<prop::sample::Index>(),
            value in any::<u8>(),
            other_len in 0usize..40,
        ) {
            let view = PageView::new(page.as_ptr(), page.len());
            let key = &page[offset..offset + len];
            prop_assert_eq!(view.compare(offset, len, key), Ok(CmpOrdering::Equal));
            let mut other = key.to_vec();
            other.resize(other_len, value);
            if !other.is_empty() {
                let at = changed.index(other.len());
                other[at] = value;
            }
            prop_assert_eq!(view.compare(offset, len, &other), Ok(key.cmp(&other[..])));
        }
    }

    #[test]
    fn compare_past_the_page_restarts() {
        let page = [0u8; 16];
        let view = PageView::new(page.as_ptr(), page.len());
        assert_eq!(view.compare(10, 7, b"abc"), Err(Restart));
        assert_eq!(view.compare(usize::MAX, 2, b"abc"), Err(Restart));
    }
}

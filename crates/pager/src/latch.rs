//! The per-frame latch word: 64 bits holding a version and a state.
//!
//! ```text
//! bits 63..8  version  incremented by every release of an exclusive latch
//!                      that may have changed the frame
//! bits  7..0  state    0 = unlatched, 1..=SHARED_MAX = shared holders,
//!                      EXCLUSIVE = one exclusive holder
//! ```
//!
//! Optimistic readers take no latch: they remember the version, read, and
//! validate that the version is unchanged and no exclusive holder is inside.
//! This is a sequence lock, with the fence placement of Boehm, "Can seqlocks
//! get along with programming language memory models?" (MSPC 2012): the
//! writer fences (release) after taking the latch and before changing data;
//! the reader fences (acquire) after reading data and before validating.

use crate::sync::{AtomicU64, Ordering, fence};

const STATE_BITS: u32 = 8;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;
/// The state value of an exclusively latched word.
const EXCLUSIVE: u64 = STATE_MASK;
/// The most threads holding a shared latch at once (254); one more waits.
pub const SHARED_MAX: u64 = EXCLUSIVE - 1;

/// A version observed by an optimistic reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version(u64);

impl Version {
    /// The counter value (for tests and statistics).
    #[cfg(test)]
    pub fn get(self) -> u64 {
        self.0
    }
}

/// A 64-bit latch word: optimistic, shared and exclusive access.
#[derive(Debug)]
pub struct Latch {
    word: AtomicU64,
}

impl Default for Latch {
    fn default() -> Self {
        Self::new()
    }
}

impl Latch {
    /// An unlatched word at version 0.
    pub fn new() -> Self {
        Self {
            word: AtomicU64::new(0),
        }
    }

    /// Starts an optimistic read: the current version, or `None` while an
    /// exclusive holder is inside (the reader should wait and try again).
    #[inline]
    pub fn optimistic(&self) -> Option<Version> {
        let word = self.word.load(Ordering::Acquire);
        if word & STATE_MASK == EXCLUSIVE {
            None
        } else {
            Some(Version(word >> STATE_BITS))
        }
    }

    /// Ends an optimistic read: true if nothing the reader read can have
    /// changed since `version` was observed.
    #[inline]
    pub fn validate(&self, version: Version) -> bool {
        // Orders the reader's data loads before the version load below.
        fence(Ordering::Acquire);
        let word = self.word.load(Ordering::Relaxed);
        word >> STATE_BITS == version.0 && word & STATE_MASK != EXCLUSIVE
    }

    /// Takes a shared latch if no exclusive holder is inside.
    #[inline]
    pub fn try_shared(&self) -> bool {
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            let state = word & STATE_MASK;
            if state >= SHARED_MAX {
                return false;
            }
            match self.word.compare_exchange_weak(
                word,
                word + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    /// Releases a shared latch.
    #[inline]
    pub fn release_shared(&self) {
        let before = self.word.fetch_sub(1, Ordering::Release);
        debug_assert!(
            before & STATE_MASK != 0 && before & STATE_MASK != EXCLUSIVE,
            "shared release of a word not shared-latched: {before:#x}"
        );
    }

    /// Takes the exclusive latch if the word is unlatched.
    pub fn try_exclusive(&self) -> bool {
        let word = self.word.load(Ordering::Relaxed);
        if word & STATE_MASK != 0 {
            return false;
        }
        self.lock_from(word)
    }

    /// Takes the exclusive latch if the word is unlatched and still at
    /// `version`: an optimistic reader becoming the writer without a gap.
    pub fn try_upgrade(&self, version: Version) -> bool {
        self.lock_from(version.0 << STATE_BITS)
    }

    fn lock_from(&self, unlatched: u64) -> bool {
        if self
            .word
            .compare_exchange(
                unlatched,
                unlatched | EXCLUSIVE,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return false;
        }
        // Orders the latched state before the holder's data stores, so that
        // a reader who sees any of those stores fails validation.
        fence(Ordering::Release);
        true
    }

    /// Releases the exclusive latch and moves to a new version: every
    /// optimistic read that overlapped the latch fails validation. Returns
    /// the new version, at which the releasing thread may go on reading
    /// optimistically, as if it had just observed it (a loader reading the
    /// page it loaded).
    pub fn release_exclusive(&self) -> Version {
        let word = self.word.load(Ordering::Relaxed);
        debug_assert_eq!(
            word & STATE_MASK,
            EXCLUSIVE,
            "exclusive release of {word:#x}"
        );
        let version = (word >> STATE_BITS) + 1;
        self.word.store(version << STATE_BITS, Ordering::Release);
        Version(version)
    }

    /// Releases the exclusive latch keeping the version: for a holder that
    /// changed nothing (an eviction that was abandoned), so that optimistic
    /// readers who started before the latch still validate.
    pub fn release_exclusive_unchanged(&self) {
        let word = self.word.load(Ordering::Relaxed);
        debug_assert_eq!(
            word & STATE_MASK,
            EXCLUSIVE,
            "exclusive release of {word:#x}"
        );
        self.word.store(word & !STATE_MASK, Ordering::Release);
    }

    /// Whether the word is latched exclusively right now (a snapshot).
    pub fn is_exclusive(&self) -> bool {
        self.word.load(Ordering::Relaxed) & STATE_MASK == EXCLUSIVE
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn optimistic_read_fails_across_an_exclusive_latch() {
        let latch = Latch::new();
        let version = latch.optimistic().unwrap();
        assert!(latch.validate(version));
        assert!(latch.try_exclusive());
        assert_eq!(latch.optimistic(), None);
        assert!(!latch.validate(version));
        let released = latch.release_exclusive();
        assert!(!latch.validate(version));
        let next = latch.optimistic().unwrap();
        assert_eq!(next.get(), version.get() + 1);
        assert_eq!(released, next);
    }

    #[test]
    fn unchanged_release_keeps_readers_valid() {
        let latch = Latch::new();
        let version = latch.optimistic().unwrap();
        assert!(latch.try_exclusive());
        latch.release_exclusive_unchanged();
        assert!(latch.validate(version));
    }

    #[test]
    fn shared_holders_exclude_the_exclusive_latch_but_not_readers() {
        let latch = Latch::new();
        let version = latch.optimistic().unwrap();
        assert!(latch.try_shared());
        assert!(latch.try_shared());
        assert!(!latch.try_exclusive());
        assert!(latch.validate(version), "shared holders change nothing");
        latch.release_shared();
        assert!(!latch.try_exclusive());
        latch.release_shared();
        assert!(latch.try_exclusive());
        assert!(!latch.try_shared());
        latch.release_exclusive();
    }

    #[test]
    fn shared_count_saturates_instead_of_overflowing_into_exclusive() {
        let latch = Latch::new();
        for _ in 0..SHARED_MAX {
            assert!(latch.try_shared());
        }
        assert!(!latch.try_shared(), "one short of the exclusive state");
        assert!(!latch.is_exclusive());
        for _ in 0..SHARED_MAX {
            latch.release_shared();
        }
        assert!(latch.try_exclusive());
    }

    #[test]
    fn upgrade_succeeds_only_from_the_observed_version() {
        let latch = Latch::new();
        let stale = latch.optimistic().unwrap();
        assert!(latch.try_exclusive());
        latch.release_exclusive();
        assert!(!latch.try_upgrade(stale));
        let fresh = latch.optimistic().unwrap();
        assert!(latch.try_shared());
        assert!(
            !latch.try_upgrade(fresh),
            "not while shared holders are inside"
        );
        latch.release_shared();
        assert!(latch.try_upgrade(fresh));
        latch.release_exclusive();
    }
}

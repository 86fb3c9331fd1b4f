//! The version chain of one key: a lock-free singly linked list, newest
//! first, of the key's versions in the delta store.
//!
//! Mutators: one installer at a time (the sequencer critical section, or
//! recovery) pushes at the head with a CAS; one collector at a time (the
//! fold) detaches versions no reader can need, CASing the head or storing a
//! `next` link (nobody else writes a published version's `next`). Readers
//! walk the list under a pinned epoch and never wait; detached versions are
//! freed only after every reader pinned at the time has unpinned.
//!
//! Public so that the loom models (`tests/loom_chain.rs`) exercise this
//! exact code; the engine does not use it directly.

use std::sync::Arc;

use keel_tso::Timestamp;

use crate::sync::{AtomicPtr, AtomicU8, Ordering, UnsafeCell, defer_free, pin};
use crate::write_set::Change;

const PENDING: u8 = 0;
const COMMITTED: u8 = 1;
const ABORTED: u8 = 2;

/// Where a commit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitState {
    /// Installed, not yet durable: invisible to readers (its timestamp is
    /// above the visible watermark), a conflict to validators.
    Pending,
    /// Durable: visible to readers at or above its timestamp.
    Committed,
    /// Its log record failed: never visible, dropped by the next fold.
    Aborted,
}

/// The state of one commit, shared by every version of its write set, so
/// that the whole write set changes state in one store: never half visible.
#[derive(Debug)]
pub struct CommitStatus(AtomicU8);

impl crate::watermark::Settle for CommitStatus {
    fn settle(&self) {
        self.commit();
    }
}

impl CommitStatus {
    /// A commit being made durable.
    pub fn pending() -> CommitStatus {
        CommitStatus(AtomicU8::new(PENDING))
    }

    /// A commit already durable (recovery).
    pub fn committed() -> CommitStatus {
        CommitStatus(AtomicU8::new(COMMITTED))
    }

    /// Marks the commit durable. Must happen before its timestamp is
    /// finished in the watermark (release: a reader that sees the watermark
    /// pass the timestamp sees this).
    pub fn commit(&self) {
        self.0.store(COMMITTED, Ordering::Release);
    }

    /// Marks the commit failed; its versions are skipped from now on.
    pub fn abort(&self) {
        self.0.store(ABORTED, Ordering::Release);
    }

    /// The current state.
    pub fn state(&self) -> CommitState {
        match self.0.load(Ordering::Acquire) {
            PENDING => CommitState::Pending,
            COMMITTED => CommitState::Committed,
            _ => CommitState::Aborted,
        }
    }

    fn is_aborted(&self) -> bool {
        self.0.load(Ordering::Acquire) == ABORTED
    }
}

/// One version of a key.
#[derive(Debug)]
pub struct Version {
    /// Written before the version is published, only read after (through a
    /// cell that loom checks: a publication with too weak an ordering
    /// fails the models).
    content: UnsafeCell<Versioned>,
    status: Arc<CommitStatus>,
    next: AtomicPtr<Version>,
}

impl Version {
    /// A version written at `timestamp` by the commit whose state is
    /// `status`.
    pub fn new(timestamp: Timestamp, status: Arc<CommitStatus>, change: Change) -> Version {
        Version {
            content: UnsafeCell::new(Versioned { timestamp, change }),
            status,
            next: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Bytes this version occupies, without its key.
    pub fn footprint_bytes(change: &Change) -> u64 {
        (size_of::<Version>() + change.value_bytes()) as u64
    }

    fn timestamp(&self) -> Timestamp {
        // SAFETY: the content is never written after construction.
        self.content.with(|content| unsafe { (*content).timestamp })
    }

    fn copy(&self) -> Versioned {
        // SAFETY: as above.
        self.content.with(|content| unsafe { (*content).clone() })
    }

    fn bytes(&self) -> u64 {
        // SAFETY: as above.
        self.content
            .with(|content| Version::footprint_bytes(unsafe { &(*content).change }))
    }
}

/// A copy of a version's content (the value is shared, not copied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The commit timestamp.
    pub timestamp: Timestamp,
    /// The value or tombstone.
    pub change: Change,
}

/// What a collection detached from a chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Detached {
    /// Versions detached.
    pub versions: u64,
    /// Their bytes, as [`Version::footprint_bytes`] counts them.
    pub bytes: u64,
}

impl std::ops::AddAssign for Detached {
    fn add_assign(&mut self, other: Detached) {
        self.versions += other.versions;
        self.bytes += other.bytes;
    }
}

/// Which versions at or below a fold point a collection detaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collect {
    /// Those older than the newest committed version at or below the fold
    /// point, and aborted ones: no reader at or above the fold point can
    /// see them. Safe at any time after the fold point is fixed.
    OlderThanFolded,
    /// All of them, the folded one included: only once the base holds the
    /// fold point's state and every reader that might have read the older
    /// base has ended (BRIEF invariant 2).
    AllFolded,
}

/// The versions of one key, newest first. See the module documentation.
#[derive(Debug)]
pub struct VersionChain {
    head: AtomicPtr<Version>,
}

impl Default for VersionChain {
    fn default() -> VersionChain {
        VersionChain::new()
    }
}

impl VersionChain {
    /// An empty chain.
    pub fn new() -> VersionChain {
        VersionChain {
            head: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Pushes `version` as the newest. Its timestamp must be above every
    /// version in the chain (commit timestamps increase, and one installer
    /// runs at a time); this is asserted.
    pub fn install(&self, version: Version) {
        let timestamp = version.timestamp();
        let new = Box::into_raw(Box::new(version));
        let _guard = pin();
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            if !head.is_null() {
                // SAFETY: `head` was reachable from the chain while we are
                // pinned, so it is not freed before the guard drops.
                let newest = unsafe { (*head).timestamp() };
                assert!(
                    newest < timestamp,
                    "versions are installed in timestamp order: {timestamp} after {newest}"
                );
            }
            // SAFETY: `new` is ours alone until the CAS publishes it.
            unsafe { (*new).next.store(head, Ordering::Relaxed) };
            match self
                .head
                .compare_exchange(head, new, Ordering::Release, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(current) => head = current,
            }
        }
    }

    /// The newest non-aborted version at or below `read_timestamp`.
    pub fn visible(&self, read_timestamp: Timestamp) -> Option<Versioned> {
        let _guard = pin();
        let mut current = self.head.load(Ordering::Acquire);
        while !current.is_null() {
            // SAFETY: reachable from the chain while we are pinned; versions
            // are freed only after being detached and a grace period.
            let version = unsafe { &*current };
            if version.timestamp() <= read_timestamp && !version.status.is_aborted() {
                return Some(version.copy());
            }
            current = version.next.load(Ordering::Acquire);
        }
        None
    }

    /// The timestamp and state of the newest non-aborted version, pending
    /// or committed (what validation compares with a read timestamp).
    pub fn newest(&self) -> Option<(Timestamp, CommitState)> {
        let _guard = pin();
        let mut current = self.head.load(Ordering::Acquire);
        while !current.is_null() {
            // SAFETY: as in `visible`.
            let version = unsafe { &*current };
            match version.status.state() {
                CommitState::Aborted => current = version.next.load(Ordering::Acquire),
                state => return Some((version.timestamp(), state)),
            }
        }
        None
    }

    /// Whether the chain holds no version at all.
    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire).is_null()
    }

    /// Detaches versions at or below `fold_point` as `collect` says, and
    /// frees them after a grace period. Only one collector may run at a time
    /// (the fold); installs may run concurrently.
    pub fn collect(&self, fold_point: Timestamp, collect: Collect) -> Detached {
        let guard = pin();
        let mut detached = Detached::default();
        let mut link: &AtomicPtr<Version> = &self.head;
        let mut kept_folded = false;
        loop {
            let current = link.load(Ordering::Acquire);
            if current.is_null() {
                return detached;
            }
            // SAFETY: reachable from the chain while we are pinned.
            let version = unsafe { &*current };
            if version.timestamp() > fold_point {
                link = &version.next;
                continue;
            }
            let tail = kept_folded || collect == Collect::AllFolded;
            if !tail && !version.status.is_aborted() {
                // The newest committed version at or below the fold point:
                // what the base holds (or is about to).
                kept_folded = true;
                link = &version.next;
                continue;
            }
            // Unlink `current` alone (an aborted version above the folded
            // one), or everything from it on (all at or below the fold
            // point and not needed).
            let replacement = if tail {
                std::ptr::null_mut()
            } else {
                version.next.load(Ordering::Acquire)
            };
            let unlinked = if std::ptr::eq(link, &self.head) {
                // The installer may push a new head meanwhile: retry from it.
                self.head
                    .compare_exchange(current, replacement, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            } else {
                // Only the collector writes a published version's `next`.
                link.store(replacement, Ordering::Release);
                true
            };
            if !unlinked {
                continue;
            }
            if tail {
                let mut free = current;
                while !free.is_null() {
                    // SAFETY: detached from the chain, still allocated (freed
                    // only by the deferral below, after this guard drops).
                    let next = unsafe { (*free).next.load(Ordering::Acquire) };
                    // SAFETY: `free` is unreachable for new readers, detached
                    // once, and came from `Box::into_raw` in `install`.
                    detached += unsafe { Self::retire(&guard, free) };
                    free = next;
                }
                return detached;
            }
            // SAFETY: as above, for the single unlinked version.
            detached += unsafe { Self::retire(&guard, current) };
        }
    }

    /// Counts and frees (after a grace period) one detached version.
    ///
    /// # Safety
    /// `version` is detached from the chain, from `Box::into_raw`, retired
    /// once.
    unsafe fn retire(guard: &crate::sync::Guard, version: *mut Version) -> Detached {
        // SAFETY: still allocated: the caller detached it under `guard`.
        let bytes = unsafe { (*version).bytes() };
        // SAFETY: forwarded from the caller.
        unsafe { defer_free(guard, version) };
        Detached { versions: 1, bytes }
    }

    /// Every version, newest first (for checks and tests; O(length)).
    pub fn versions(&self) -> Vec<(Versioned, CommitState)> {
        let _guard = pin();
        let mut versions = Vec::new();
        let mut current = self.head.load(Ordering::Acquire);
        while !current.is_null() {
            // SAFETY: as in `visible`.
            let version = unsafe { &*current };
            versions.push((version.copy(), version.status.state()));
            current = version.next.load(Ordering::Acquire);
        }
        versions
    }
}

impl Drop for VersionChain {
    fn drop(&mut self) {
        // Dropped only when nothing can reach the chain any more (the
        // skiplist drops an entry's value after its own grace period).
        let mut current = self.head.load(Ordering::Acquire);
        while !current.is_null() {
            // SAFETY: exclusively ours now; every version still linked came
            // from `Box::into_raw` and was never retired.
            let version = unsafe { Box::from_raw(current) };
            current = version.next.load(Ordering::Acquire);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn at(raw: u64) -> Timestamp {
        Timestamp::from_u64(raw)
    }

    fn put(text: &'static str) -> Change {
        Change::Put {
            value: Bytes::from_static(text.as_bytes()),
            expires_at_ms: None,
        }
    }

    fn chain_of(versions: &[(u64, &'static str, &Arc<CommitStatus>)]) -> VersionChain {
        let chain = VersionChain::new();
        for (raw, text, status) in versions {
            chain.install(Version::new(at(*raw), Arc::clone(status), put(text)));
        }
        chain
    }

    fn timestamps(chain: &VersionChain) -> Vec<u64> {
        chain
            .versions()
            .iter()
            .map(|(version, _)| version.timestamp.as_u64())
            .collect()
    }

    #[test]
    fn reads_take_the_newest_visible_non_aborted_version() {
        let committed = Arc::new(CommitStatus::committed());
        let aborted = Arc::new(CommitStatus::pending());
        aborted.abort();
        let chain = chain_of(&[
            (1, "one", &committed),
            (3, "three", &aborted),
            (5, "five", &committed),
        ]);
        assert_eq!(chain.visible(at(0)), None);
        assert_eq!(chain.visible(at(2)).map(|v| v.change), Some(put("one")));
        assert_eq!(chain.visible(at(4)).map(|v| v.change), Some(put("one")));
        assert_eq!(chain.visible(at(9)).map(|v| v.change), Some(put("five")));
        assert_eq!(chain.newest(), Some((at(5), CommitState::Committed)));
    }

    #[test]
    fn collection_keeps_the_folded_version_until_told() {
        let committed = Arc::new(CommitStatus::committed());
        let aborted = Arc::new(CommitStatus::pending());
        aborted.abort();
        let chain = chain_of(&[
            (1, "one", &committed),
            (2, "two", &committed),
            (3, "aborted", &aborted),
            (6, "six", &committed),
        ]);
        let detached = chain.collect(at(4), Collect::OlderThanFolded);
        assert_eq!(
            detached.versions, 2,
            "the aborted one and the one below two"
        );
        assert_eq!(
            detached.bytes,
            Version::footprint_bytes(&put("one")) + Version::footprint_bytes(&put("aborted"))
        );
        assert_eq!(timestamps(&chain), [6, 2]);
        assert_eq!(chain.collect(at(4), Collect::OlderThanFolded).versions, 0);
        assert_eq!(chain.collect(at(4), Collect::AllFolded).versions, 1);
        assert_eq!(timestamps(&chain), [6]);
        assert_eq!(chain.collect(at(6), Collect::AllFolded).versions, 1);
        assert!(chain.is_empty());
    }

    #[test]
    #[should_panic(expected = "installed in timestamp order")]
    fn installing_out_of_order_is_a_bug() {
        let committed = Arc::new(CommitStatus::committed());
        chain_of(&[(2, "two", &committed), (1, "one", &committed)]);
    }
}

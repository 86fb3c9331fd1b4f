//! Loom models of the latch word (`src/latch.rs`): every interleaving (up
//! to the preemption bound) of optimistic readers, shared and exclusive
//! holders and upgraders on one real `Latch`, over data that a holder
//! changes only under the exclusive latch.
//!
//! Checked in every interleaving: a validated optimistic read saw a
//! consistent snapshot and never goes back in time; writers serialized by
//! the latch lose no update; shared and exclusive holders exclude each
//! other (loom's `UnsafeCell` also fails any access the latch does not
//! order); an upgrade succeeds only if no writer released in between, and
//! of two upgrades from one version exactly one does; an unchanged release
//! keeps earlier optimistic readers valid but still excludes while held;
//! a releasing writer that reads on at the version its release returned
//! sees what it wrote; the latch ends unlatched.
//!
//! Each model runs once per role on the model's main thread (see
//! [`model_rotations`]). Every check here was seen to fail on a deliberately
//! broken latch (a missing fence, a relaxed release, a version bumped or
//! ignored, a shared latch taken over an exclusive one).
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release -p keel-pager --test loom_latch
//! ```

#![cfg(loom)]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod loom_support;

use keel_pager::latch::{Latch, Version};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use loom_support::model_rotations;

// ---- optimistic reads ---------------------------------------------------

/// A page as the optimistic protocol sees it: two data words a writer
/// keeps equal, changed only under the exclusive latch and read by
/// optimistic readers without one (hence atomics, read `Relaxed`, like the
/// pager's raw-pointer reads).
struct Pair {
    latch: Latch,
    a: AtomicU64,
    b: AtomicU64,
}

impl Pair {
    fn new(value: u64) -> Arc<Self> {
        Arc::new(Self {
            latch: Latch::new(),
            a: AtomicU64::new(value),
            b: AtomicU64::new(value),
        })
    }

    /// One optimistic attempt: the pair, if the read validated.
    fn read_optimistic(&self) -> Option<(u64, u64)> {
        let version = self.latch.optimistic()?;
        let a = self.a.load(Ordering::Relaxed);
        let b = self.b.load(Ordering::Relaxed);
        self.latch.validate(version).then_some((a, b))
    }

    /// One writer attempt: moves the pair from (n, n) to (n + 1, n + 1)
    /// under the exclusive latch. 1 if it wrote, 0 if the latch was taken.
    fn try_increment(&self) -> u64 {
        if !self.latch.try_exclusive() {
            return 0;
        }
        let value = self.a.load(Ordering::Relaxed);
        self.a.store(value + 1, Ordering::Relaxed);
        self.b.store(value + 1, Ordering::Relaxed);
        self.latch.release_exclusive();
        1
    }

    /// A loader: writes the pair under the exclusive latch, then reads it
    /// back optimistically at the version its release returned, without
    /// observing the latch again. A read that validates sees the pair it
    /// wrote. 1 if it wrote, 0 if the latch was taken.
    fn increment_then_read_at_release(&self) -> u64 {
        if !self.latch.try_exclusive() {
            return 0;
        }
        let value = self.a.load(Ordering::Relaxed) + 1;
        self.a.store(value, Ordering::Relaxed);
        self.b.store(value, Ordering::Relaxed);
        let version = self.latch.release_exclusive();
        let a = self.a.load(Ordering::Relaxed);
        let b = self.b.load(Ordering::Relaxed);
        if self.latch.validate(version) {
            assert_eq!((a, b), (value, value), "validated at its own release");
        }
        1
    }

    /// Two optimistic reads in a row: each consistent if it validated, and
    /// the second never older than the first. Writes nothing: 0.
    fn read_twice(&self) -> u64 {
        let first = self.read_optimistic();
        let second = self.read_optimistic();
        for (a, b) in first.iter().chain(&second) {
            assert_eq!(a, b, "a validated optimistic read saw a torn pair");
        }
        if let (Some(first), Some(second)) = (first, second) {
            assert!(first.0 <= second.0, "{second:?} read after {first:?}");
        }
        0
    }
}

#[test]
fn a_validated_optimistic_read_is_a_consistent_snapshot() {
    model_rotations(
        || Pair::new(1),
        [Pair::try_increment, Pair::read_twice],
        |pair, [wrote, _]| {
            assert_eq!(wrote, 1, "only optimistic readers compete");
            assert_eq!(
                pair.read_optimistic(),
                Some((2, 2)),
                "after the writer, a read validates and sees its pair"
            );
        },
    );
}

#[test]
fn writers_serialized_by_the_latch_lose_no_update() {
    model_rotations(
        || Pair::new(0),
        [Pair::try_increment, Pair::try_increment, Pair::read_twice],
        |pair, [first, second, _]| {
            // A writer fails only while the other holds the latch.
            let wrote = first + second;
            assert!(wrote >= 1, "both writers failed on a free latch");
            assert_eq!(
                pair.read_optimistic(),
                Some((wrote, wrote)),
                "each writer saw the previous writer's pair"
            );
        },
    );
}

#[test]
fn a_loader_reads_at_the_version_its_release_returned() {
    model_rotations(
        || Pair::new(0),
        [
            Pair::increment_then_read_at_release,
            Pair::try_increment,
            Pair::read_twice,
        ],
        |pair, [loaded, wrote, _]| {
            assert!(loaded + wrote >= 1, "both writers failed on a free latch");
            let total = loaded + wrote;
            assert_eq!(pair.read_optimistic(), Some((total, total)));
        },
    );
}

// ---- shared and exclusive -----------------------------------------------

/// Data that only latch holders touch: loom fails the model on any access
/// to `cell` that a conflicting access is not ordered with. The counters
/// check the same exclusion logically.
struct Guarded {
    latch: Latch,
    /// The version before any role ran.
    before: Version,
    cell: UnsafeCell<u64>,
    shared_inside: AtomicU32,
    exclusive_inside: AtomicBool,
}

impl Guarded {
    fn new() -> Arc<Self> {
        let latch = Latch::new();
        let before = latch.optimistic().unwrap();
        Arc::new(Self {
            latch,
            before,
            cell: UnsafeCell::new(0),
            shared_inside: AtomicU32::new(0),
            exclusive_inside: AtomicBool::new(false),
        })
    }

    /// One shared attempt: true if it got the latch and read the cell.
    fn try_read_shared(&self) -> bool {
        if !self.latch.try_shared() {
            return false;
        }
        self.shared_inside.fetch_add(1, Ordering::SeqCst);
        assert!(
            !self.exclusive_inside.load(Ordering::SeqCst),
            "a shared latch while the exclusive one is held"
        );
        // SAFETY: the shared latch excludes every writer of the cell (which
        // loom checks).
        let value = self.cell.with(|value| unsafe { *value });
        assert!(value <= 1, "read {value}");
        self.shared_inside.fetch_sub(1, Ordering::SeqCst);
        self.latch.release_shared();
        true
    }

    /// Runs `body` on the cell; the caller holds the exclusive latch.
    fn inside_exclusive(&self, body: impl FnOnce(&mut u64)) {
        assert!(
            !self.exclusive_inside.swap(true, Ordering::SeqCst),
            "two exclusive holders"
        );
        assert_eq!(
            self.shared_inside.load(Ordering::SeqCst),
            0,
            "the exclusive latch while shared holders are inside"
        );
        // SAFETY: the exclusive latch excludes every other access to the
        // cell (which loom checks).
        self.cell.with_mut(|value| body(unsafe { &mut *value }));
        self.exclusive_inside.store(false, Ordering::SeqCst);
    }

    /// One writer attempt: sets the cell to 1. True if it got the latch.
    fn try_write(&self) -> bool {
        if !self.latch.try_exclusive() {
            return false;
        }
        self.inside_exclusive(|value| *value = 1);
        self.latch.release_exclusive();
        true
    }

    /// An eviction that looks at the frame and abandons it: takes the
    /// exclusive latch, changes nothing. True if it got the latch.
    fn try_abandoned_eviction(&self) -> bool {
        if !self.latch.try_exclusive() {
            return false;
        }
        self.inside_exclusive(|_| {});
        assert_eq!(self.latch.optimistic(), None, "readers wait while held");
        assert!(!self.latch.validate(self.before), "validates while held");
        self.latch.release_exclusive_unchanged();
        true
    }

    /// An optimistic reader that observed `before`, validating now.
    fn validates(&self) -> bool {
        self.latch.validate(self.before)
    }

    /// The latch is unlatched: it can be taken exclusively right now.
    fn assert_unlatched(&self) {
        assert!(self.latch.try_exclusive(), "the latch ends latched");
        self.latch.release_exclusive_unchanged();
    }
}

#[test]
fn shared_holders_and_the_exclusive_holder_exclude_each_other() {
    model_rotations(
        Guarded::new,
        [
            Guarded::try_write,
            Guarded::try_read_shared,
            Guarded::try_read_shared,
        ],
        |guarded, [wrote, first, second]| {
            // A shared attempt fails only while the writer holds the latch,
            // and the writer's only while a reader does.
            assert!(wrote || (first && second), "{wrote} {first} {second}");
            guarded.assert_unlatched();
            // Shared holders change nothing; the exclusive release moves the
            // version on.
            assert_eq!(guarded.validates(), !wrote);
        },
    );
}

#[test]
fn an_unchanged_release_keeps_readers_valid_but_excludes_while_held() {
    model_rotations(
        Guarded::new,
        [
            Guarded::try_abandoned_eviction,
            Guarded::try_read_shared,
            Guarded::validates,
        ],
        |guarded, [evicted, read, validated]| {
            assert!(validated || evicted, "validation failed with no holder");
            // Each fails only while the other holds the latch.
            assert!(evicted || read, "evictor {evicted}, reader {read}");
            assert!(
                guarded.validates(),
                "an unchanged release invalidated an earlier reader"
            );
            assert_eq!(guarded.latch.optimistic(), Some(guarded.before));
            guarded.assert_unlatched();
        },
    );
}

// ---- upgrades -----------------------------------------------------------

/// A page word read optimistically, and a count of the exclusive holders
/// that only they touch.
struct Upgradable {
    latch: Latch,
    /// The version before any role ran.
    before: Version,
    word: AtomicU64,
    holders: UnsafeCell<u64>,
}

impl Upgradable {
    fn new() -> Arc<Self> {
        let latch = Latch::new();
        let before = latch.optimistic().unwrap();
        Arc::new(Self {
            latch,
            before,
            word: AtomicU64::new(0),
            holders: UnsafeCell::new(0),
        })
    }

    /// Under the exclusive latch: counts the holder, sets the word to
    /// `seen + 1` and releases.
    fn write_from(&self, seen: u64) {
        // SAFETY: the caller holds the exclusive latch; loom fails the model
        // if another holder's access is not ordered with this one.
        self.holders.with_mut(|holders| unsafe { *holders += 1 });
        self.word.store(seen + 1, Ordering::Relaxed);
        self.latch.release_exclusive();
    }

    /// An optimistic reader that decides to write what it read: true if it
    /// upgraded.
    fn read_then_upgrade(&self) -> bool {
        let Some(version) = self.latch.optimistic() else {
            return false;
        };
        let seen = self.word.load(Ordering::Relaxed);
        if !self.latch.try_upgrade(version) {
            return false;
        }
        assert_eq!(
            self.word.load(Ordering::Relaxed),
            seen,
            "upgraded although a writer released after the read"
        );
        self.write_from(seen);
        true
    }

    /// A writer: true if it got the exclusive latch.
    fn try_write(&self) -> bool {
        if !self.latch.try_exclusive() {
            return false;
        }
        self.write_from(self.word.load(Ordering::Relaxed));
        true
    }

    /// An upgrade from the version observed before any role ran.
    fn upgrade_from_before(&self) -> bool {
        if !self.latch.try_upgrade(self.before) {
            return false;
        }
        self.write_from(0);
        true
    }

    /// Checks the word and the holder count against `holders`.
    fn assert_holders(&self, holders: u64) {
        // SAFETY: every thread that wrote the cell was joined.
        assert_eq!(self.holders.with(|count| unsafe { *count }), holders);
        assert_eq!(
            self.word.load(Ordering::Relaxed),
            holders,
            "each exclusive holder saw the previous one's write"
        );
        assert!(self.latch.try_exclusive(), "the latch ends latched");
    }
}

#[test]
fn an_upgrade_succeeds_only_if_no_writer_released_in_between() {
    model_rotations(
        Upgradable::new,
        [Upgradable::read_then_upgrade, Upgradable::try_write],
        |page, [upgraded, wrote]| {
            assert!(
                upgraded || wrote,
                "neither the reader nor the writer got in"
            );
            page.assert_holders(u64::from(upgraded) + u64::from(wrote));
        },
    );
}

#[test]
fn of_two_upgrades_from_one_version_exactly_one_succeeds() {
    model_rotations(
        Upgradable::new,
        [
            Upgradable::upgrade_from_before,
            Upgradable::upgrade_from_before,
        ],
        |page, [mine, theirs]| {
            assert!(mine ^ theirs, "upgrades: {mine} and {theirs}");
            page.assert_holders(1);
        },
    );
}

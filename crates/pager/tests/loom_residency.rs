//! Loom models of the page-table entry protocol (`src/residency.rs`), the
//! real functions over loom atomics: pinning against eviction (the Dekker
//! meeting of entry and pin count), loaders racing to install a page, and
//! removal against pinning and against an abandoned eviction.
//!
//! Checked in every interleaving (up to the preemption bound): a pinned
//! page is never evicted — the frame's page word stays intact for the whole
//! pin; an abandoned eviction restores the entry; exactly one of two
//! loaders installs, and a reader sees nothing but absence or the winner; a
//! failed pin leaves no pin behind; a removed page cannot be pinned
//! afterwards, nor resurrected by an eviction serialized with the removal
//! on the frame's latch.
//!
//! Each model runs once per role on the model's main thread (see
//! [`model_rotations`]). Every check here was seen to fail on a deliberately
//! broken protocol (a pin or eviction check that is only `Acquire`, an
//! eviction that ignores pins or does not restore the entry, a failed pin
//! not undone, an install that is not a compare-exchange).
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release -p keel-pager --test loom_residency
//! ```

#![cfg(loom)]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod loom_support;

use keel_pager::latch::Latch;
use keel_pager::residency::{
    ABSENT, EVICTING, Residency, begin_eviction, finish_eviction, lookup, remove, try_install,
    try_pin, unpin,
};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use loom::thread;
use loom_support::model_rotations;

/// The frame every model installs its page in.
const FRAME: u32 = 0;
/// The page the frame holds.
const PAGE: u64 = 7;

/// One page's table entry and the frame it is resident in.
struct Slot {
    entry: AtomicU32,
    /// The frame's latch: evictors and removers hold it exclusively.
    latch: Latch,
    pins: AtomicU32,
    /// The page the frame holds (`Frame::page`): cleared by an eviction.
    page: AtomicU64,
    /// Set (after the fact) by a remover.
    removed: AtomicBool,
}

impl Slot {
    /// A slot with `PAGE` resident in `FRAME`, installed the way a load
    /// does it.
    fn resident() -> Arc<Self> {
        let slot = Slot {
            entry: AtomicU32::new(ABSENT),
            latch: Latch::new(),
            pins: AtomicU32::new(0),
            page: AtomicU64::new(0),
            removed: AtomicBool::new(false),
        };
        // Loom takes an atomic's initial value for a non-`SeqCst` store,
        // which a `SeqCst` load may return even after a newer `SeqCst`
        // store (a false alarm: C++20 forbids it, the initialization
        // happening before that store). Store it again, `SeqCst`.
        slot.pins.store(0, Ordering::SeqCst);
        assert!(try_install(&slot.entry, FRAME));
        slot.page.store(PAGE, Ordering::Relaxed);
        Arc::new(slot)
    }

    /// A resident slot already pinned (by the model's setup).
    fn resident_and_pinned() -> Arc<Self> {
        let slot = Slot::resident();
        assert!(slot.pin());
        slot
    }

    /// What `Pager::pin` does: look the page up, pin its frame.
    fn pin(&self) -> bool {
        match lookup(&self.entry) {
            Residency::Resident(frame) => {
                assert_eq!(frame, FRAME);
                try_pin(&self.entry, frame, &self.pins)
            }
            Residency::Absent | Residency::Evicting => false,
        }
    }

    /// Pins and reads the frame's page word twice while pinned; the pin is
    /// kept (dropped by the model's check). True if pinned.
    fn pin_and_read(&self) -> bool {
        if !self.pin() {
            return false;
        }
        for _ in 0..2 {
            assert_eq!(
                self.page.load(Ordering::Relaxed),
                PAGE,
                "the page was evicted while pinned"
            );
        }
        true
    }

    /// As [`Slot::pin_and_read`], then unpins.
    fn pin_read_unpin(&self) -> bool {
        let pinned = self.pin_and_read();
        if pinned {
            unpin(&self.pins);
        }
        pinned
    }

    /// What `Pager::evict` does once it holds the frame's latch: true if
    /// the page was evicted.
    fn evict(&self) -> bool {
        if !begin_eviction(&self.entry, FRAME, &self.pins) {
            return false;
        }
        self.page.store(0, Ordering::Relaxed);
        finish_eviction(&self.entry);
        true
    }

    /// An evictor as `Pager::acquire_frame` runs one: takes the frame's
    /// latch if it can, evicts unless the page is pinned or gone.
    fn latch_and_evict(&self) -> bool {
        if !self.latch.try_exclusive() {
            return false;
        }
        if self.page.load(Ordering::Relaxed) == 0 {
            // Freed meanwhile: nothing to evict.
            self.latch.release_exclusive_unchanged();
            return false;
        }
        if !self.evict() {
            self.latch.release_exclusive_unchanged();
            return false;
        }
        // The frame stays latched: it goes to the loader that wanted it.
        true
    }

    /// A failed load or a free: removes the page under the frame's latch
    /// (waiting for it), regardless of pins.
    fn remove_latched(&self) -> bool {
        while !self.latch.try_exclusive() {
            thread::yield_now();
        }
        let entry = self.entry.load(Ordering::SeqCst);
        assert_eq!(entry & EVICTING, 0, "an evictor's mark under the latch");
        remove(&self.entry);
        self.page.store(0, Ordering::Relaxed);
        self.removed.store(true, Ordering::SeqCst);
        self.latch.release_exclusive();
        true
    }

    /// A pinner that checks a removal it saw: true if pinned.
    fn pin_after_remove(&self) -> bool {
        let after_remove = self.removed.load(Ordering::SeqCst);
        let pinned = self.pin();
        assert!(!(after_remove && pinned), "pinned a removed page");
        pinned
    }

    /// Drops the pins the roles kept, then checks none is left.
    fn unpin_all(&self, pinned: &[bool]) {
        for _ in pinned.iter().filter(|&&pinned| pinned) {
            unpin(&self.pins);
        }
        assert_eq!(self.pins.load(Ordering::Relaxed), 0, "a pin left behind");
    }
}

#[test]
fn a_pinned_page_is_never_evicted() {
    model_rotations(
        Slot::resident,
        [Slot::pin_read_unpin, Slot::evict],
        |slot, [_, evicted]| {
            slot.unpin_all(&[]);
            if evicted {
                assert_eq!(lookup(&slot.entry), Residency::Absent);
                assert_eq!(slot.page.load(Ordering::Relaxed), 0);
            } else {
                // Abandoned because of a pin (perhaps one that failed on the
                // mark and was undone): the entry is restored.
                assert_eq!(lookup(&slot.entry), Residency::Resident(FRAME));
                assert!(slot.pin(), "the restored entry cannot be pinned");
            }
        },
    );
}

#[test]
fn two_pinners_keep_an_evictor_out() {
    // The pins are dropped after the roles end: with one unpinning first,
    // loom would let the evictor read that `Release` unpin after the other
    // pinner's `SeqCst` increment, which C++20 forbids (that load reads
    // before the increment in coherence order, so precedes it in the total
    // order). `a_pinned_page_is_never_evicted` covers unpinning.
    model_rotations(
        Slot::resident,
        [Slot::pin_and_read, Slot::pin_and_read, Slot::evict],
        |slot, [first, second, evicted]| {
            slot.unpin_all(&[first, second]);
            let expected = if evicted {
                Residency::Absent
            } else {
                Residency::Resident(FRAME)
            };
            assert_eq!(lookup(&slot.entry), expected);
        },
    );
}

#[test]
fn of_two_loaders_exactly_one_installs() {
    fn load(entry: &AtomicU32, frame: u32) -> Residency {
        if try_install(entry, frame) {
            Residency::Resident(frame)
        } else {
            Residency::Absent
        }
    }
    model_rotations(
        || Arc::new(AtomicU32::new(ABSENT)),
        [|entry| load(entry, 0), |entry| load(entry, 1), lookup],
        |entry, [first, second, seen]| {
            let winner = match (first, second) {
                (Residency::Resident(_), Residency::Absent) => first,
                (Residency::Absent, Residency::Resident(_)) => second,
                _ => panic!("installs: {first:?} and {second:?}"),
            };
            assert!(
                seen == Residency::Absent || seen == winner,
                "a reader saw {seen:?}"
            );
            assert_eq!(lookup(entry), winner);
            // A later loader finds it resident and gives its frame back.
            assert!(!try_install(entry, 2));
        },
    );
}

#[test]
fn a_removed_page_cannot_be_pinned_and_a_failed_pin_leaves_none() {
    model_rotations(
        Slot::resident,
        [Slot::pin_after_remove, Slot::remove_latched],
        |slot, [pinned, _]| {
            slot.unpin_all(&[pinned]);
            assert_eq!(lookup(&slot.entry), Residency::Absent);
            assert!(!slot.pin(), "pinned a removed page");
            slot.unpin_all(&[]);
        },
    );
}

#[test]
fn an_abandoned_eviction_does_not_resurrect_a_removed_page() {
    // Pinned throughout: every eviction is abandoned and restores the entry
    // it marked, which must not undo the removal.
    model_rotations(
        Slot::resident_and_pinned,
        [Slot::latch_and_evict, Slot::remove_latched],
        |slot, [evicted, _]| {
            assert!(!evicted, "evicted a pinned page");
            assert_eq!(
                lookup(&slot.entry),
                Residency::Absent,
                "the removed page came back"
            );
            slot.unpin_all(&[true]);
        },
    );
}

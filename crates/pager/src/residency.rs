//! Which frame holds a page: the page-table entry protocol shared by
//! loading, pinning and eviction (model-checked in tests/loom_residency.rs).
//!
//! A page-table entry is a `u32`: 0 when the page is not resident, `frame +
//! 1` when it is, and `frame + 1` with [`EVICTING`] set while an evictor
//! decides whether it may take the frame. Pinning and eviction meet
//! Dekker-style on the entry and the frame's pin count, both sequentially
//! consistent: a pinner increments the pins and then reads the entry; an
//! evictor marks the entry and then reads the pins. At least one of them
//! sees the other, so a pinned page is never evicted.

use crate::sync::{AtomicU32, Ordering};

/// The entry bit an evictor sets while it checks the pins.
pub const EVICTING: u32 = 1 << 31;
/// The entry of a page that is not resident.
pub const ABSENT: u32 = 0;
/// The largest frame index an entry can name.
pub const FRAME_MAX: u32 = EVICTING - 2;

/// What a page-table entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Residency {
    /// Not in the pool.
    Absent,
    /// In this frame.
    Resident(u32),
    /// Being evicted from a frame: wait and look again.
    Evicting,
}

/// Reads an entry.
#[inline]
pub fn lookup(entry: &AtomicU32) -> Residency {
    decode(entry.load(Ordering::Acquire))
}

#[inline]
fn decode(value: u32) -> Residency {
    if value == ABSENT {
        Residency::Absent
    } else if value & EVICTING != 0 {
        Residency::Evicting
    } else {
        Residency::Resident(value - 1)
    }
}

/// Claims an absent entry for `frame`, which the caller has latched
/// exclusively and is about to fill. False if another thread got there
/// first.
pub fn try_install(entry: &AtomicU32, frame: u32) -> bool {
    debug_assert!(frame <= FRAME_MAX);
    entry
        .compare_exchange(ABSENT, frame + 1, Ordering::SeqCst, Ordering::Relaxed)
        .is_ok()
}

/// Pins the page `entry` names if it is resident in `frame`: while pinned,
/// no evictor takes the frame. False (and no pin) otherwise.
pub fn try_pin(entry: &AtomicU32, frame: u32, pins: &AtomicU32) -> bool {
    pins.fetch_add(1, Ordering::SeqCst);
    if entry.load(Ordering::SeqCst) == frame + 1 {
        true
    } else {
        unpin(pins);
        false
    }
}

/// Drops a pin.
pub fn unpin(pins: &AtomicU32) {
    let before = pins.fetch_sub(1, Ordering::Release);
    debug_assert!(before > 0, "unpin of an unpinned frame");
}

/// First half of an eviction, by a thread holding `frame`'s exclusive
/// latch: marks the entry and checks the pins. True when the eviction may
/// go on (finish it with [`finish_eviction`]); false, with the entry
/// restored, when the page is pinned.
pub fn begin_eviction(entry: &AtomicU32, frame: u32, pins: &AtomicU32) -> bool {
    if entry
        .compare_exchange(
            frame + 1,
            (frame + 1) | EVICTING,
            Ordering::SeqCst,
            Ordering::Relaxed,
        )
        .is_err()
    {
        return false;
    }
    if pins.load(Ordering::SeqCst) != 0 {
        // Only the evictor changes a marked entry: a plain store restores it.
        entry.store(frame + 1, Ordering::SeqCst);
        return false;
    }
    true
}

/// Second half of an eviction: the page is no longer resident.
///
/// `Release`, not `SeqCst` (a plain store instead of an `xchg` on x86): the
/// meeting with pinners is over once [`begin_eviction`] saw no pins, and a
/// pinner that reads this store fails as it does on the mark. What the
/// store must order is what came before it — the write-back that moved the
/// page's block — for the loader that claims the entry next
/// ([`crate::page_table::Slot::entry`]).
pub fn finish_eviction(entry: &AtomicU32) {
    debug_assert!(entry.load(Ordering::Relaxed) & EVICTING != 0);
    entry.store(ABSENT, Ordering::Release);
}

/// Removes a resident page regardless of pins (the page was freed, or its
/// load failed): pinners find it gone when they latch the frame.
pub fn remove(entry: &AtomicU32) {
    entry.store(ABSENT, Ordering::SeqCst);
}

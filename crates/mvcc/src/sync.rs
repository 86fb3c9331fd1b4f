//! The synchronisation primitives of the version chain, the watermark and
//! the active registry, from std and crossbeam-epoch normally and from loom
//! under `--cfg loom`, so that `tests/loom_*.rs` model-check the real code.
//!
//! Under loom, memory reclamation is not modelled: a detached version is
//! leaked instead of freed after a grace period (the models are small).
//! The skiplist and the sequencer are not swapped: they use a lock or
//! crossbeam's own, separately tested, lock-free code.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

use std::sync::PoisonError;

/// Locks, ignoring poisoning: every update of the guarded state is
/// completed before anything can panic, so the state stays consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on a condition variable, ignoring poisoning.
pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// A pinned epoch: pointers loaded from a version chain stay valid while it
/// lives.
#[cfg(not(loom))]
pub use crossbeam_epoch::Guard;

/// Pins the current thread's epoch.
#[cfg(not(loom))]
pub fn pin() -> Guard {
    crossbeam_epoch::pin()
}

/// Under loom nothing is freed while a model runs, so a guard is nothing.
#[cfg(loom)]
#[derive(Debug)]
pub struct Guard;

/// The guard of this module for a pinned crossbeam guard (the skiplist's,
/// which is crossbeam's also under loom): the same guard normally.
#[cfg(not(loom))]
pub(crate) fn from_epoch(guard: &crossbeam_epoch::Guard) -> &Guard {
    guard
}

/// Under loom, nothing (see `Guard`).
#[cfg(loom)]
pub(crate) fn from_epoch(_guard: &crossbeam_epoch::Guard) -> &Guard {
    &Guard
}

/// Under loom nothing is freed while a model runs, so pinning is nothing.
#[cfg(loom)]
pub fn pin() -> Guard {
    Guard
}

/// Frees `pointer` (a `Box`'s) once every thread pinned now has unpinned.
///
/// # Safety
/// `pointer` came from `Box::into_raw`, is no longer reachable from any
/// shared structure, and is passed here once.
#[cfg(not(loom))]
pub(crate) unsafe fn defer_free<T>(guard: &Guard, pointer: *mut T) {
    // SAFETY: the caller guarantees the pointer is unreachable for threads
    // that pin from now on; those pinned now are waited for by the epoch.
    unsafe {
        guard.defer_unchecked(move || drop(Box::from_raw(pointer)));
    }
}

/// Under loom a detached allocation is leaked (see the module comment).
///
/// # Safety
/// As for the std version.
#[cfg(loom)]
pub(crate) unsafe fn defer_free<T>(_guard: &Guard, _pointer: *mut T) {}

/// A cell for data written once before it is published and only read
/// after: loom's under `--cfg loom`, which checks that every read happens
/// after the write (so a publication with too weak an ordering fails the
/// models); a bare `std::cell::UnsafeCell` otherwise.
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// See the loom variant.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a pointer to the contents.
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a mutable pointer to the contents.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

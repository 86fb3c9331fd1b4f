//! [`Zeroed`]: a `T` in memory the OS zero-fills page by page on first
//! touch (an anonymous map), for the page table's large arrays and the
//! pager's counters. A heap allocation of them is cleared whole on every
//! open (glibc's `calloc` clears reused memory), and every page of it
//! faulted in: 1.5 MiB per open, most of it never used by a small
//! database. A map costs nothing until a slot in it is written.

// The loom build keeps its chunks on the heap (loom's atomics are not
// zero-valid) and uses only `from_box`.
#![cfg_attr(loom, allow(dead_code))]

use std::alloc::{Layout, handle_alloc_error};
use std::ptr::NonNull;

use memmap2::MmapMut;

/// Marks types whose all-zero bytes are a valid value.
///
/// # Safety
/// An implementor's all-zero bit pattern must be a valid, initialised
/// value of it.
pub(crate) unsafe trait ZeroValid {}

/// An owned `T`, like a `Box<T>`, in an anonymous map or (under loom, whose
/// atomics are not zero-valid) on the heap.
pub(crate) struct Zeroed<T> {
    pointer: NonNull<T>,
    storage: Storage,
}

enum Storage {
    /// The map holding the value (unmapped when dropped).
    Map(#[allow(dead_code)] MmapMut),
    /// The value came from `Box::into_raw`.
    Heap,
}

// SAFETY: a `Zeroed<T>` owns its `T` alone, as a `Box<T>` does; the
// pointer is never shared outside `&self`/`&mut self` borrows.
unsafe impl<T: Send> Send for Zeroed<T> {}
// SAFETY: as for `Send`: `&Zeroed<T>` only hands out `&T`.
unsafe impl<T: Sync> Sync for Zeroed<T> {}

impl<T: ZeroValid> Zeroed<T> {
    /// A zero `T` in a fresh anonymous map. Aborts as a failed allocation
    /// does when the OS refuses the map.
    pub(crate) fn new() -> Self {
        let layout = Layout::new::<T>();
        let mut map = match MmapMut::map_anon(layout.size().max(1)) {
            Ok(map) => map,
            Err(_) => handle_alloc_error(layout),
        };
        // A map starts on a page boundary, which satisfies any alignment
        // up to a page (the arrays here need 16 bytes).
        debug_assert!(layout.align() <= 4096);
        let pointer = NonNull::new(map.as_mut_ptr().cast::<T>())
            .unwrap_or_else(|| handle_alloc_error(layout));
        Zeroed {
            pointer,
            storage: Storage::Map(map),
        }
    }
}

impl<T> Zeroed<T> {
    /// A `T` already built on the heap (the loom build's chunks).
    #[cfg_attr(not(any(loom, test)), allow(dead_code))]
    pub(crate) fn from_box(value: Box<T>) -> Self {
        Zeroed {
            pointer: NonNull::from(Box::leak(value)),
            storage: Storage::Heap,
        }
    }

    /// The value's address, stable for the life of `self` (moving a
    /// `Zeroed` moves neither the map nor the heap value).
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.pointer.as_ptr()
    }
}

impl<T> std::ops::Deref for Zeroed<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `pointer` points at a valid `T` (zero-valid, or built on
        // the heap) owned by `self`, which outlives the borrow; only `&T`
        // is ever handed out.
        unsafe { self.pointer.as_ref() }
    }
}

impl<T> Drop for Zeroed<T> {
    fn drop(&mut self) {
        if let Storage::Heap = self.storage {
            // SAFETY: a `Heap` value's pointer came from `Box::leak` in
            // `from_box` and is owned by `self` alone; it is freed once.
            drop(unsafe { Box::from_raw(self.pointer.as_ptr()) });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    // SAFETY: zero is a valid `[u64; N]`.
    unsafe impl ZeroValid for [u64; 100_000] {}

    #[test]
    fn a_zeroed_value_reads_as_zero_and_keeps_its_address_when_moved() {
        let zeroed: Zeroed<[u64; 100_000]> = Zeroed::new();
        assert!(zeroed.iter().all(|&word| word == 0));
        let address = zeroed.as_ptr();
        let moved = Box::new(zeroed);
        assert_eq!(moved.as_ptr(), address);
    }

    #[test]
    fn a_boxed_value_is_read_through_the_same_interface() {
        let boxed = Zeroed::from_box(Box::new([7u64; 4]));
        assert_eq!(*boxed, [7; 4]);
    }
}

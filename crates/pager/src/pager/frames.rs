//! The pool's frames: their headers and bytes, and the free frames — the
//! free list, then the frames never used yet. Headers are zeroed memory
//! that the OS hands out a page at a time on first touch, so opening a
//! pool of any size costs nothing until its frames are used.

use super::*;

/// One frame's header; its page bytes live in the pool's one allocation.
/// All zeros is a valid header: unlatched, no page, unpinned, clean.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Frame {
    pub(crate) latch: Latch,
    /// The page held, or 0 (no page: free, or left by a failed load).
    pub(crate) page: AtomicU64,
    pub(crate) pins: AtomicU32,
    /// The CLOCK reference bit.
    pub(crate) referenced: AtomicBool,
    /// Changed since it was last written.
    pub(crate) dirty: AtomicBool,
}

/// The frames' bytes: one anonymous mapping, page-aligned.
pub(super) struct FrameMemory {
    _map: MmapMut,
    pub(super) base: *mut u8,
}

// SAFETY: the mapping is owned here and lives as long as the pager; access
// to each frame's bytes is governed by its latch (see guard.rs).
unsafe impl Send for FrameMemory {}
// SAFETY: as above.
unsafe impl Sync for FrameMemory {}

impl FrameMemory {
    /// `bytes` of anonymous memory (touched only as frames fill), in base
    /// pages: a huge page's first touch clears 2 MiB (and, where the
    /// system defragments for advised regions, may compact memory first)
    /// before the one frame that needed it is read — a cold scan of 1M keys
    /// took 320–670 ms with the frames advised huge against 175 ms
    /// without, for a warm-read gain seen only under load.
    pub(super) fn map(bytes: usize) -> Result<FrameMemory> {
        let mut map = MmapMut::map_anon(bytes).map_err(|_| Error::OutOfMemory {
            bytes: bytes as u64,
        })?;
        let base = map.as_mut_ptr();
        Ok(FrameMemory { _map: map, base })
    }
}

/// The bytes of one huge page (x86-64 and arm64 with 4 KiB base pages).
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Asks for huge pages past the map's first one, where the system allows
/// them (a hint: a system without them ignores it): for the frame
/// headers, 64 bytes per frame, whose latch words every read touches, so
/// that reads of random frames rarely miss the TLB on them. The first
/// huge page's worth stays in base pages: an open touches only a few
/// headers, and clearing a whole huge page for each made a cold open of
/// 1M keys 0.4 ms slower (0.9 -> 1.3 ms).
fn advise_huge_pages(map: &MmapMut) {
    #[cfg(target_os = "linux")]
    if map.len() > HUGE_PAGE_BYTES {
        let _ = map.advise_range(
            memmap2::Advice::HugePage,
            HUGE_PAGE_BYTES,
            map.len() - HUGE_PAGE_BYTES,
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = map;
}

/// The frame headers: all zeros at first, in an anonymous mapping the OS
/// fills a page at a time on first touch — opening a pool of 65,536
/// frames wrote 4 MiB of headers (measured ~0.9 ms of a 4.5 ms open).
#[cfg(not(loom))]
pub(super) struct FrameHeaders {
    map: MmapMut,
    count: usize,
}

#[cfg(not(loom))]
impl FrameHeaders {
    /// `count` headers, unlatched, holding no page.
    pub(super) fn zeroed(count: usize) -> Result<FrameHeaders> {
        let bytes = count * std::mem::size_of::<Frame>();
        let map = MmapMut::map_anon(bytes.max(1)).map_err(|_| Error::OutOfMemory {
            bytes: bytes as u64,
        })?;
        advise_huge_pages(&map);
        Ok(FrameHeaders { map, count })
    }
}

#[cfg(not(loom))]
impl std::ops::Deref for FrameHeaders {
    type Target = [Frame];

    fn deref(&self) -> &[Frame] {
        // SAFETY: the mapping is page-aligned (so aligned for `Frame`),
        // at least `count * size_of::<Frame>()` bytes long, and lives as
        // long as `self`. It starts zeroed, and all-zero bytes are a valid
        // `Frame` (every field is an atomic integer or bool: 0, false).
        // It is only ever accessed through these shared references, whose
        // atomics allow the changes.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<Frame>(), self.count) }
    }
}

/// The frame headers (loom's atomics are not plain memory).
#[cfg(loom)]
pub(super) struct FrameHeaders(Box<[Frame]>);

#[cfg(loom)]
impl FrameHeaders {
    pub(super) fn zeroed(count: usize) -> Result<FrameHeaders> {
        Ok(FrameHeaders((0..count).map(|_| Frame::default()).collect()))
    }
}

#[cfg(loom)]
impl std::ops::Deref for FrameHeaders {
    type Target = [Frame];

    fn deref(&self) -> &[Frame] {
        &self.0
    }
}

impl Pager {
    /// Gives back a frame that holds no page and is latched exclusively.
    pub(super) fn return_frame(&self, index: u32) {
        let mut free = self.free_frames.lock();
        free.push(index);
        self.free_frame_count.store(free.len(), Ordering::Relaxed);
    }

    /// A free frame, exclusively latched: from the free list, else one
    /// never used. Once the pool is full, every miss finds both empty: the
    /// count spares it the list's lock. A frame returned meanwhile is
    /// found by a later miss or by the CLOCK hand's check after a
    /// fruitless pass.
    pub(super) fn pop_free_frame(&self) -> Option<u32> {
        if self.free_frame_count.load(Ordering::Relaxed) != 0 {
            let mut free = self.free_frames.lock();
            let index = free.pop();
            self.free_frame_count.store(free.len(), Ordering::Relaxed);
            if index.is_some() {
                return index;
            }
        }
        self.fresh_frame()
    }

    /// The frames handed out at least once: every frame that can hold a
    /// page is below this.
    pub(super) fn used_frames(&self) -> u32 {
        self.fresh_frames
            .load(Ordering::Relaxed)
            .min(self.frames.len()) as u32
    }

    /// A frame never used before, latched exclusively. Every frame below
    /// `fresh_frames` has been handed out, so the CLOCK hand — which only
    /// runs once there are none left — never meets an unused frame.
    fn fresh_frame(&self) -> Option<u32> {
        let count = self.frames.len();
        if self.fresh_frames.load(Ordering::Relaxed) >= count {
            return None;
        }
        let index = self.fresh_frames.fetch_add(1, Ordering::Relaxed);
        if index >= count {
            return None;
        }
        let latched = self.frame(index as u32).latch.try_exclusive();
        debug_assert!(latched, "an unused frame is unlatched");
        Some(index as u32)
    }
}

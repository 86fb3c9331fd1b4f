//! The pager: the page file, the buffer pool over it, and checkpoints.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use keel_io::{Advice, FileHandle, OpenMode, Vfs, WriteAt};

use crate::readahead::Readahead;
use memmap2::MmapMut;
use parking_lot::Mutex;

use crate::blocks::Blocks;
use crate::checksum::page_checksum;
use crate::error::{Error, MetaProblem, Result};
use crate::guard::{ExclusiveGuard, OptimisticGuard, PageView, PinGuard, Restart, SharedGuard};
use crate::latch::{Latch, Version};
use crate::meta::{
    self, FIRST_DATA_BLOCK, META_HEADER_BYTES, Meta, NodeRef, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX,
    PAGE_SIZE_MIN, is_valid_page_size, payload_bytes_max,
};
use crate::page_id::PageId;
use crate::page_map::{NodeBlocks, PageMap};
use crate::page_table::PageTable;
use crate::residency::{self, FRAME_MAX, Residency};
use crate::stats::{Counters, PagerStats};
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, spin_wait};

/// The pool size unless the options say otherwise: 64 MiB.
pub const POOL_BYTES_DEFAULT: u64 = 64 << 20;
/// The fewest frames a pool has, whatever its byte size.
pub const FRAMES_MIN: usize = 8;
/// The smallest step the file grows by unless the options say otherwise.
pub const GROWTH_BYTES_MIN_DEFAULT: u64 = 1 << 20;
/// The largest step the file grows by unless the options say otherwise.
pub const GROWTH_BYTES_MAX_DEFAULT: u64 = 64 << 20;
/// Full passes of the CLOCK hand over the pool before a miss gives up with
/// [`Error::PoolExhausted`].
pub const EVICTION_SWEEPS_MAX: usize = 64;
/// Optimistic attempts of [`Pager::read`] before it takes a shared latch.
pub const OPTIMISTIC_ATTEMPTS_MAX: usize = 64;
/// Dirty pages a checkpoint latches and writes per batch.
pub const CHECKPOINT_BATCH_PAGES: usize = 256;

/// How to open (or create) a page file.
#[derive(Debug, Clone)]
pub struct PagerOptions {
    /// Page size of a new file: a power of two from 4 KiB to 64 KiB. An
    /// existing file keeps the page size it was created with.
    pub page_size: u32,
    /// Bytes of page frames in the buffer pool (at least [`FRAMES_MIN`]
    /// frames).
    pub pool_bytes: u64,
    /// Create the file if it does not exist.
    pub create: bool,
    /// The file grows by an eighth of its size, but at least this much...
    pub growth_bytes_min: u64,
    /// ...and at most this much.
    pub growth_bytes_max: u64,
    /// A miss asks the OS to read the aligned window of this many bytes
    /// around its block, once per window ([`crate::READAHEAD_BYTES_DEFAULT`];
    /// 0: no read-ahead).
    pub readahead_bytes: u64,
}

impl Default for PagerOptions {
    fn default() -> Self {
        Self {
            page_size: PAGE_SIZE_DEFAULT,
            pool_bytes: POOL_BYTES_DEFAULT,
            create: true,
            growth_bytes_min: GROWTH_BYTES_MIN_DEFAULT,
            growth_bytes_max: GROWTH_BYTES_MAX_DEFAULT,
            readahead_bytes: crate::readahead::READAHEAD_BYTES_DEFAULT,
        }
    }
}

/// What [`Pager::checkpoint`] wrote and how long it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointReport {
    /// The id of the checkpoint now durable.
    pub checkpoint_id: u64,
    /// Dirty pages written.
    pub pages_written: u64,
    /// Page map nodes written.
    pub map_nodes_written: u64,
    /// Bytes written: pages, map nodes and the meta slot.
    pub bytes_written: u64,
    /// Blocks only the previous checkpoint needed, now free.
    pub blocks_released: u64,
    /// The file's size afterwards (it may have shrunk).
    pub file_bytes: u64,
    /// Wall time from start to the durable meta slot.
    pub duration: Duration,
}

/// Which checkpoint [`Pager::open`] found, and the state of the other meta
/// slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The newest checkpoint whose meta slot holds: the state opened.
    pub checkpoint_id: u64,
    /// The other slot: the id of the older checkpoint it holds, or why it
    /// was rejected. A rejected slot is normal after a crash during a
    /// checkpoint (or before the second checkpoint of a file). The pager
    /// cannot tell a torn write from a newer slot damaged later; the layer
    /// above can, by comparing with the checkpoints its log records.
    pub other_slot: Result<u64, MetaProblem>,
}

/// One frame's header; its page bytes live in the pool's one allocation.
#[derive(Debug)]
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
struct FrameMemory {
    _map: MmapMut,
    base: *mut u8,
}

// SAFETY: the mapping is owned here and lives as long as the pager; access
// to each frame's bytes is governed by its latch (see guard.rs).
unsafe impl Send for FrameMemory {}
// SAFETY: as above.
unsafe impl Sync for FrameMemory {}

/// The file-side state: page map and block allocator.
struct Store {
    map: PageMap,
    blocks: Blocks,
    checkpoint_id: u64,
    payload: Vec<u8>,
}

const CHECKPOINT_RUNNING: u64 = 1 << 63;

/// Counts a writer operation in progress, so a checkpoint can refuse to
/// overlap one.
#[derive(Debug)]
pub(crate) struct WriteToken<'a> {
    writers: &'a AtomicU64,
}

impl Drop for WriteToken<'_> {
    fn drop(&mut self) {
        self.writers.fetch_sub(1, Ordering::Release);
    }
}

/// The page file and its buffer pool.
///
/// Many threads read pages concurrently ([`Pager::read`],
/// [`Pager::optimistic`], [`Pager::shared`]); one writer changes them
/// ([`Pager::exclusive`], [`Pager::allocate`], [`Pager::free`]) and, while
/// paused, makes the current state durable with [`Pager::checkpoint`].
/// Dropping a pager discards every change since the last checkpoint (the
/// write-ahead log above is what makes those durable).
///
/// ```
/// use std::sync::Arc;
/// use keel_io::SimVfs;
/// use keel_pager::{Pager, PagerOptions};
///
/// let vfs = Arc::new(SimVfs::new(1));
/// let pager = Pager::open(vfs.clone(), "/db/pages", PagerOptions::default())?;
/// let page = {
///     let mut guard = pager.allocate()?;
///     guard[..5].copy_from_slice(b"hello");
///     guard.page_id()
/// };
/// pager.checkpoint(b"my root is 1")?;
/// drop(pager);
///
/// let pager = Pager::open(vfs, "/db/pages", PagerOptions::default())?;
/// assert_eq!(pager.payload(), b"my root is 1");
/// let word = pager.read(page, |view| view.to_vec(0, 5))?;
/// assert_eq!(word, b"hello");
/// # Ok::<(), keel_pager::Error>(())
/// ```
pub struct Pager {
    path: PathBuf,
    file: FileHandle,
    page_size: usize,
    frames: Box<[Frame]>,
    memory: FrameMemory,
    table: PageTable,
    /// Frames known to hold no page, each kept exclusively latched.
    free_frames: Mutex<Vec<u32>>,
    /// The length of `free_frames` (a hint read without the lock).
    free_frame_count: AtomicUsize,
    clock_hand: AtomicUsize,
    store: Mutex<Store>,
    /// Writer operations in progress, and [`CHECKPOINT_RUNNING`].
    writers: AtomicU64,
    checkpoint_lock: Mutex<()>,
    /// The first write or sync error: no write is attempted after it.
    poisoned: OnceLock<Error>,
    counters: Counters,
    growth_bytes_min: u64,
    growth_bytes_max: u64,
    readahead: Readahead,
    open_report: OpenReport,
}

impl std::fmt::Debug for Pager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pager")
            .field("path", &self.path)
            .field("page_size", &self.page_size)
            .field("frames", &self.frames.len())
            .finish_non_exhaustive()
    }
}

impl Pager {
    /// Opens the page file at `path`, creating it (and its directory) if it
    /// does not exist and `options.create` is set.
    ///
    /// Opening reads the newest meta slot whose checksum holds and that
    /// checkpoint's page map; every block it does not reference is free.
    /// The file is locked against a second opener.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::InvalidPageSize`],
    /// [`Error::NoValidMeta`], [`Error::MapCorruption`], and I/O errors
    /// ([`keel_io::Error::Locked`] inside [`Error::Io`] when another pager
    /// has the file open).
    pub fn open(vfs: Arc<dyn Vfs>, path: impl AsRef<Path>, options: PagerOptions) -> Result<Pager> {
        let path = path.as_ref().to_path_buf();
        if !is_valid_page_size(options.page_size) {
            return Err(Error::InvalidPageSize(options.page_size));
        }
        if !vfs.exists(&path)? {
            if !options.create {
                return Err(Error::NotFound { path });
            }
            create_file(vfs.as_ref(), &path, options.page_size)?;
        }
        let file = vfs.open(&path, OpenMode::Existing)?;
        file.try_lock()?;
        let size = file.size()?;
        let (meta, other_slot) = read_newest_meta(&*file, &path, size)?;
        let open_report = OpenReport {
            checkpoint_id: meta.checkpoint_id,
            other_slot,
        };
        let page_size = meta.page_size as usize;
        let file_blocks = (size / page_size as u64).max(FIRST_DATA_BLOCK);
        let table = PageTable::new();
        let (map, referenced) = PageMap::load(&*file, &path, &meta, file_blocks, &table)?;
        let blocks = Blocks::new(file_blocks, referenced);

        let frame_count = usize::try_from(options.pool_bytes / page_size as u64)
            .unwrap_or(usize::MAX)
            .clamp(FRAMES_MIN, FRAME_MAX as usize);
        let pool_bytes = frame_count * page_size;
        let mut mapping = MmapMut::map_anon(pool_bytes).map_err(|_| Error::OutOfMemory {
            bytes: pool_bytes as u64,
        })?;
        let base = mapping.as_mut_ptr();
        let frames: Box<[Frame]> = (0..frame_count)
            .map(|_| {
                let frame = Frame {
                    latch: Latch::new(),
                    page: AtomicU64::new(0),
                    pins: AtomicU32::new(0),
                    referenced: AtomicBool::new(false),
                    dirty: AtomicBool::new(false),
                };
                // Free frames stay exclusively latched (see `free_frames`).
                let latched = frame.latch.try_exclusive();
                debug_assert!(latched);
                frame
            })
            .collect();
        let counters = Counters::default();
        Ok(Pager {
            path,
            file,
            page_size,
            frames,
            memory: FrameMemory {
                _map: mapping,
                base,
            },
            table,
            free_frames: Mutex::new((0..frame_count as u32).rev().collect()),
            free_frame_count: AtomicUsize::new(frame_count),
            clock_hand: AtomicUsize::new(0),
            store: Mutex::new(Store {
                map,
                blocks,
                checkpoint_id: meta.checkpoint_id,
                payload: meta.payload,
            }),
            writers: AtomicU64::new(0),
            checkpoint_lock: Mutex::new(()),
            poisoned: OnceLock::new(),
            counters,
            growth_bytes_min: options.growth_bytes_min.max(page_size as u64),
            growth_bytes_max: options.growth_bytes_max.max(page_size as u64),
            readahead: Readahead::new(options.readahead_bytes),
            open_report,
        })
    }

    /// What [`Pager::open`] found in the meta slots.
    pub fn open_report(&self) -> &OpenReport {
        &self.open_report
    }

    /// The page size in bytes.
    #[inline]
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// The page file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The id of the newest durable checkpoint (0: the file's creation).
    pub fn checkpoint_id(&self) -> u64 {
        self.store.lock().checkpoint_id
    }

    /// The payload of the newest durable checkpoint.
    pub fn payload(&self) -> Vec<u8> {
        self.store.lock().payload.clone()
    }

    /// The largest payload a checkpoint of this file can carry.
    pub fn payload_bytes_max(&self) -> usize {
        payload_bytes_max(self.page_size as u32)
    }

    /// Whether `page` is allocated.
    pub fn is_allocated(&self, page: PageId) -> bool {
        self.store.lock().map.get(&self.table, page).is_some()
    }

    /// Every allocated page id, in order (for consistency checks above).
    pub fn allocated_pages(&self) -> Vec<PageId> {
        self.store.lock().map.allocated(&self.table).collect()
    }

    /// Counters and sizes.
    pub fn stats(&self) -> PagerStats {
        let store = self.store.lock();
        let counters = &self.counters;
        PagerStats {
            hits: counters.hits.get(),
            misses: counters.misses.get(),
            evictions: counters.evictions.get(),
            dirty_evictions: counters.dirty_evictions.get(),
            bytes_read: counters.bytes_read.get(),
            bytes_written: counters.bytes_written.get(),
            read_ahead_pages: counters.read_ahead_pages.get(),
            checkpoints: counters.checkpoints.get(),
            frames: self.frames.len() as u64,
            pages: store.map.page_count(),
            file_blocks: store.blocks.file_blocks(),
            free_blocks: store.blocks.free_count(),
            checkpoint_id: store.checkpoint_id,
        }
    }

    #[inline(always)]
    pub(crate) fn frame(&self, frame: u32) -> &Frame {
        debug_assert!((frame as usize) < self.frames.len());
        // SAFETY: every frame index the pager hands around (page-table
        // entries, guards, the free list, the CLOCK hand) was made below
        // `frames.len()`, which never changes. Unchecked because this is
        // on every page access, twice (measured in benches/page_access.rs).
        unsafe { self.frames.get_unchecked(frame as usize) }
    }

    #[inline]
    pub(crate) fn frame_ptr(&self, frame: u32) -> *mut u8 {
        debug_assert!((frame as usize) < self.frames.len());
        // SAFETY: `frame` indexes the pool, so the offset stays inside the
        // one mapping of `frames.len() * page_size` bytes.
        unsafe { self.memory.base.add(frame as usize * self.page_size) }
    }

    /// The bytes of a frame the caller has latched (shared or exclusive).
    pub(crate) fn frame_bytes(&self, frame: u32) -> &[u8] {
        // SAFETY: the caller holds a latch that excludes writers of the
        // frame; the mapping lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.frame_ptr(frame), self.page_size) }
    }

    /// The bytes of a frame the caller has latched exclusively, and to
    /// which it holds no other reference.
    #[allow(clippy::mut_from_ref)]
    pub(crate) fn frame_bytes_mut(&self, frame: u32) -> &mut [u8] {
        // SAFETY: the caller holds the frame's exclusive latch, so no other
        // thread writes it or holds a reference to it; optimistic readers
        // use raw pointers and validate.
        unsafe { std::slice::from_raw_parts_mut(self.frame_ptr(frame), self.page_size) }
    }

    /// Marks an access for CLOCK, counting a hit unless this access
    /// loaded the page (then it was counted as a miss).
    #[inline(always)]
    fn touch(&self, frame: &Frame, loaded: bool) {
        // Read first: most hits find the bit already set and write nothing.
        if !frame.referenced.load(Ordering::Relaxed) {
            frame.referenced.store(true, Ordering::Relaxed);
        }
        if !loaded {
            self.counters.hits.add(1);
        }
    }

    // ---- reading -------------------------------------------------------

    /// Reads `page` optimistically: runs `read` over its bytes and returns
    /// the result once the page's version validates, running it again when
    /// the page changed meanwhile. After [`OPTIMISTIC_ATTEMPTS_MAX`]
    /// attempts it takes a shared latch so that a reader always finishes.
    ///
    /// # Errors
    /// [`Error::PageNotAllocated`], [`Error::Corruption`] and I/O errors
    /// when the page is loaded; [`Error::PageInconsistent`] when `read`
    /// restarts even under the shared latch.
    #[inline(always)]
    pub fn read<T>(
        &self,
        page: PageId,
        mut read: impl FnMut(&PageView<'_>) -> Result<T, Restart>,
    ) -> Result<T> {
        // The common case, kept small so that it inlines into the caller
        // (and a processor overlaps many of them): the page is resident
        // and unlatched, and the first attempt validates.
        if let Some((index, version)) = self.optimistic_hit(page) {
            let view = PageView::new(self.frame_ptr(index), self.page_size);
            if let Ok(value) = read(&view)
                && self.frame(index).latch.validate(version)
            {
                return Ok(value);
            }
            return self.read_slow(page, read, 1);
        }
        self.read_slow(page, read, 0)
    }

    /// [`Pager::read`] after `attempts` failed optimistic attempts, or
    /// after a miss of the fast path: loads, restarts, the shared latch.
    #[cold]
    #[inline(never)]
    fn read_slow<T>(
        &self,
        page: PageId,
        mut read: impl FnMut(&PageView<'_>) -> Result<T, Restart>,
        attempts: usize,
    ) -> Result<T> {
        for _ in attempts..OPTIMISTIC_ATTEMPTS_MAX {
            let guard = self.optimistic_slow(page)?;
            if let Ok(value) = guard.read(&mut read) {
                return Ok(value);
            }
        }
        let guard = self.shared(page)?;
        let view = PageView::new(self.frame_ptr(guard.frame), self.page_size);
        read(&view).map_err(|Restart| Error::PageInconsistent { page })
    }

    /// The frame and version of `page` if it is resident and not latched
    /// exclusively, counting a hit; `None` in every other case (which the
    /// caller hands to the general path, [`Pager::latch_resident`]).
    #[inline(always)]
    fn optimistic_hit(&self, page: PageId) -> Option<(u32, Version)> {
        let Residency::Resident(index) = self.table.lookup(page) else {
            return None;
        };
        let frame = self.frame(index);
        let version = frame.latch.optimistic()?;
        // The frame may have been handed to another page after the lookup.
        if frame.page.load(Ordering::Relaxed) != page.get() {
            return None;
        }
        self.touch(frame, false);
        Some((index, version))
    }

    /// A hint that `page` will be read soon: if it is resident, asks the
    /// processor to bring its frame into the cache (a scan calls it for
    /// the next leaf while it works on the current one, so the next copy
    /// does not wait for memory). Does nothing for a page not resident.
    pub fn prefetch_resident(&self, page: PageId) {
        let Residency::Resident(index) = self.table.lookup(page) else {
            return;
        };
        let start = self.frame_ptr(index);
        for offset in (0..self.page_size).step_by(CACHE_LINE_BYTES) {
            prefetch_line(start.wrapping_add(offset));
        }
    }

    /// Observes `page` for an optimistic read (loading it if needed).
    ///
    /// # Errors
    /// As [`Pager::read`].
    #[inline]
    pub fn optimistic(&self, page: PageId) -> Result<OptimisticGuard<'_>> {
        match self.optimistic_hit(page) {
            Some((frame, version)) => Ok(OptimisticGuard {
                pager: self,
                frame,
                version,
                page,
            }),
            None => self.optimistic_slow(page),
        }
    }

    /// [`Pager::optimistic`] through the general path.
    #[inline(never)]
    fn optimistic_slow(&self, page: PageId) -> Result<OptimisticGuard<'_>> {
        // A miss reads the page at the version its load released, without
        // looking it up and latching it again; and the load is inlined
        // here, so that fewer returns follow the read's system call
        // (measured: each is mispredicted after the kernel ran).
        if self.table.lookup(page) == Residency::Absent
            && let Some((frame, version)) = self.load_inline(page)?
        {
            return Ok(OptimisticGuard {
                pager: self,
                frame,
                version,
                page,
            });
        }
        let (frame, version) = self.latch_resident(page, Latch::optimistic, |_| {})?;
        Ok(OptimisticGuard {
            pager: self,
            frame,
            version,
            page,
        })
    }

    /// Takes a shared latch on `page` (loading it if needed): its bytes do
    /// not change until the guard drops. Waits while the writer holds it.
    ///
    /// # Errors
    /// As [`Pager::read`].
    pub fn shared(&self, page: PageId) -> Result<SharedGuard<'_>> {
        let (frame, ()) = self.latch_resident(
            page,
            |latch| latch.try_shared().then_some(()),
            Latch::release_shared,
        )?;
        Ok(SharedGuard {
            pager: self,
            frame,
            page,
        })
    }

    /// Finds the frame holding `page` (loading the page if needed) and
    /// latches it with `latch`, which returns `None` while the latch is not
    /// to be had. The frame is checked under the latch to still hold
    /// `page` (it may have been handed to another page after the lookup);
    /// if not, `unlatch` undoes the latch and the search starts over.
    /// Counts the access as a hit, or as the miss that loaded it.
    fn latch_resident<L>(
        &self,
        page: PageId,
        latch: impl Fn(&Latch) -> Option<L>,
        unlatch: impl Fn(&Latch),
    ) -> Result<(u32, L)> {
        let mut round = 0;
        let mut loaded = false;
        loop {
            match self.table.lookup(page) {
                Residency::Resident(index) => {
                    let frame = self.frame(index);
                    if let Some(held) = latch(&frame.latch) {
                        if frame.page.load(Ordering::Relaxed) == page.get() {
                            self.touch(frame, loaded);
                            return Ok((index, held));
                        }
                        unlatch(&frame.latch);
                    }
                    spin_wait(&mut round);
                }
                Residency::Evicting => spin_wait(&mut round),
                Residency::Absent => {
                    self.load(page)?;
                    loaded = true;
                }
            }
        }
    }

    /// Pins `page` in the pool (loading it if needed) until the guard drops.
    ///
    /// # Errors
    /// As [`Pager::read`].
    pub fn pin(&self, page: PageId) -> Result<PinGuard<'_>> {
        let mut round = 0;
        loop {
            match self.table.lookup(page) {
                Residency::Resident(index) => {
                    let entry = self.table.slot(page).state();
                    let frame = self.frame(index);
                    if residency::try_pin(entry, index, &frame.pins) {
                        // The page may still be loading: wait for the load
                        // to end, and keep the pin only if it succeeded.
                        loop {
                            if frame.latch.try_shared() {
                                let loaded = frame.page.load(Ordering::Relaxed) == page.get();
                                frame.latch.release_shared();
                                if loaded {
                                    return Ok(PinGuard {
                                        pager: self,
                                        frame: index,
                                        page,
                                    });
                                }
                                break;
                            }
                            if self.table.lookup(page) != Residency::Resident(index) {
                                break;
                            }
                            spin_wait(&mut round);
                        }
                        residency::unpin(&frame.pins);
                    }
                    spin_wait(&mut round);
                }
                Residency::Evicting => spin_wait(&mut round),
                Residency::Absent => self.load(page)?,
            }
        }
    }

    /// The read-ahead hook for sequential scans: tells the kernel about the
    /// blocks of those of `pages` not in the pool, then loads them.
    ///
    /// # Errors
    /// As [`Pager::read`], for the first page that fails to load.
    pub fn prefetch(&self, pages: &[PageId]) -> Result<()> {
        // The blocks are hints (for the advice and the order): each load
        // reads its page's entry again once it has claimed the page.
        let mut missing: Vec<(u64, PageId)> = pages
            .iter()
            .filter_map(|&page| {
                let slot = self.table.get(page)?;
                let entry = slot.entry();
                let absent = residency::lookup(slot.state()) == Residency::Absent;
                (absent && entry.allocated && entry.block != 0).then_some((entry.block, page))
            })
            .collect();
        missing.sort_unstable();
        let page_bytes = self.page_size as u64;
        let mut start = 0;
        while start < missing.len() {
            let mut end = start + 1;
            while end < missing.len() && missing[end].0 == missing[end - 1].0 + 1 {
                end += 1;
            }
            let blocks = (end - start) as u64;
            // Advice is a hint: a failure changes nothing.
            let _ = self.file.advise(
                Advice::WillNeed,
                missing[start].0 * page_bytes,
                blocks * page_bytes,
            );
            start = end;
        }
        for (_, page) in missing {
            if self.table.lookup(page) == Residency::Absent {
                self.load(page)?;
                self.counters.read_ahead_pages.add(1);
            }
        }
        Ok(())
    }

    /// Reads `page` from disk into a frame. Returns with the page resident
    /// (or found resident: another thread loaded it first).
    #[inline(never)]
    fn load(&self, page: PageId) -> Result<()> {
        self.load_inline(page).map(|_| ())
    }

    /// [`Pager::load`], inlined; returns the frame and the version its
    /// latch was released at if this call loaded the page (`None` if
    /// another thread did).
    #[inline(always)]
    fn load_inline(&self, page: PageId) -> Result<Option<(u32, Version)>> {
        if page == PageId::NONE || page > PageId::MAX {
            return Err(Error::PageNotAllocated(page));
        }
        let slot = self.table.slot(page);
        // Before a frame is taken, so that no frame waits on the advice's
        // system call; the block is a hint here (read again below).
        let hint = slot.entry();
        if hint.allocated && hint.block != 0 {
            self.readahead
                .before_read(&*self.file, hint.block * self.page_size as u64);
        }
        let index = self.acquire_frame()?;
        if !residency::try_install(slot.state(), index) {
            self.return_frame(index);
            return Ok(None);
        }
        let frame = self.frame(index);
        frame.page.store(page.get(), Ordering::Relaxed);
        // Read only now that the page is ours to load: a dirty eviction may
        // have moved it until the slot was claimed (see `Slot::entry`).
        let located = slot.entry();
        if !located.allocated || located.block == 0 {
            // Not allocated, or allocated this instant and not yet in the
            // pool (the writer is about to install it): nothing to load.
            return Err(self.load_failed(page, index, Error::PageNotAllocated(page)));
        }
        let data = self.frame_bytes_mut(index);
        let offset = located.block * self.page_size as u64;
        if let Err(error) = self.file.read_exact_at(data, offset) {
            return Err(self.load_failed(page, index, Error::Io(error)));
        }
        self.counters.bytes_read.add(self.page_size as u64);
        let found = page_checksum(page, data);
        if found != located.checksum {
            let error = Error::Corruption {
                path: self.path.clone(),
                page,
                block: located.block,
                expected: located.checksum,
                found,
            };
            return Err(self.load_failed(page, index, error));
        }
        frame.dirty.store(false, Ordering::Relaxed);
        frame.referenced.store(true, Ordering::Relaxed);
        let version = frame.latch.release_exclusive();
        self.counters.misses.add(1);
        Ok(Some((index, version)))
    }

    /// Undoes the claim of a load that failed with `error` (returned):
    /// the page is not resident, frame `index` goes back to the free list.
    /// Out of line, so that the loads that succeed carry none of it.
    #[cold]
    #[inline(never)]
    fn load_failed(&self, page: PageId, index: u32, error: Error) -> Error {
        residency::remove(self.table.slot(page).state());
        self.frame(index).page.store(0, Ordering::Relaxed);
        self.return_frame(index);
        error
    }

    // ---- frames and eviction -------------------------------------------

    /// A frame holding no page, exclusively latched: from the free list, or
    /// evicted by the CLOCK hand.
    fn acquire_frame(&self) -> Result<u32> {
        if let Some(index) = self.pop_free_frame() {
            return Ok(index);
        }
        let frames = self.frames.len();
        let mut round = 0;
        // The hand is read once and stored once, not advanced by a
        // read-modify-write per step (measured: those were a fifth of a
        // miss's own time). Misses on several threads at once may sweep
        // the same frames and lose each other's advances; harmless, since
        // a frame's latch decides who takes it, and the hand only says
        // where to look next.
        let mut hand = self.clock_hand.load(Ordering::Relaxed);
        for sweep in 0..EVICTION_SWEEPS_MAX {
            if sweep > 0 {
                // A full pass found nothing: others hold latches briefly.
                spin_wait(&mut round);
                if let Some(index) = self.pop_free_frame() {
                    return Ok(index);
                }
            }
            for _ in 0..frames {
                let index = if hand < frames { hand } else { 0 };
                hand = index + 1;
                let index = index as u32;
                let frame = self.frame(index);
                if frame.pins.load(Ordering::Relaxed) != 0 {
                    continue;
                }
                if frame.referenced.load(Ordering::Relaxed) {
                    // Second chance.
                    frame.referenced.store(false, Ordering::Relaxed);
                    continue;
                }
                if !frame.latch.try_exclusive() {
                    continue;
                }
                let page = frame.page.load(Ordering::Relaxed);
                // No page: left by a failed load or a freed page.
                if page == 0 || self.evict(index, PageId::new(page))? {
                    self.clock_hand.store(hand, Ordering::Relaxed);
                    return Ok(index);
                }
            }
        }
        self.clock_hand.store(hand, Ordering::Relaxed);
        Err(Error::PoolExhausted {
            frames: self.frames.len(),
        })
    }

    /// Evicts the page from frame `index`, which the caller has latched
    /// exclusively. A dirty page is first written to a fresh block. False
    /// (and the latch released) if the page turned out to be pinned.
    fn evict(&self, index: u32, page: PageId) -> Result<bool> {
        let frame = self.frame(index);
        if frame.dirty.load(Ordering::Relaxed) {
            if let Err(error) = self.write_back(index, page) {
                frame.latch.release_exclusive_unchanged();
                return Err(error);
            }
            self.counters.dirty_evictions.add(1);
        }
        let entry = self.table.slot(page).state();
        if !residency::begin_eviction(entry, index, &frame.pins) {
            frame.latch.release_exclusive_unchanged();
            return Ok(false);
        }
        residency::finish_eviction(entry);
        frame.page.store(0, Ordering::Relaxed);
        self.counters.evictions.add(1);
        Ok(true)
    }

    /// Writes the dirty page in frame `index` (latched exclusively) to a
    /// fresh block — never one the durable checkpoint uses — and points its
    /// map entry there. Out of line: the evictions of clean pages, on the
    /// miss path, carry none of it.
    #[cold]
    #[inline(never)]
    fn write_back(&self, index: u32, page: PageId) -> Result<()> {
        self.check_poisoned()?;
        let data = self.frame_bytes(index);
        let checksum = page_checksum(page, data);
        let block = self.allocate_block(&mut self.store.lock().blocks)?;
        if let Err(error) = self.file.write_all_at(data, block * self.page_size as u64) {
            self.store.lock().blocks.release(block);
            return Err(self.poison(error));
        }
        self.counters.bytes_written.add(self.page_size as u64);
        let mut store = self.store.lock();
        let previous = store.map.set_block(&self.table, page, block, checksum);
        if previous != 0 {
            store.blocks.release(previous);
        }
        self.frame(index).dirty.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Gives back a frame that holds no page and is latched exclusively.
    fn return_frame(&self, index: u32) {
        let mut free = self.free_frames.lock();
        free.push(index);
        self.free_frame_count.store(free.len(), Ordering::Relaxed);
    }

    /// A frame from the free list, if it has one. Once the pool is full,
    /// every miss finds the list empty: the count spares it the lock. A
    /// frame returned meanwhile is found by a later miss or by the CLOCK
    /// hand's check after a fruitless pass.
    fn pop_free_frame(&self) -> Option<u32> {
        if self.free_frame_count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut free = self.free_frames.lock();
        let index = free.pop();
        self.free_frame_count.store(free.len(), Ordering::Relaxed);
        index
    }

    /// A free block, growing the file when there is none.
    fn allocate_block(&self, blocks: &mut Blocks) -> Result<u64> {
        if let Some(block) = blocks.allocate() {
            return Ok(block);
        }
        let file_blocks = blocks.file_blocks();
        let step = self.growth_blocks(file_blocks);
        let page_bytes = self.page_size as u64;
        self.file
            .allocate(file_blocks * page_bytes, step * page_bytes)?;
        blocks.grow(file_blocks + step);
        blocks.allocate().ok_or(Error::PoolExhausted { frames: 0 })
    }

    /// Blocks the file grows by: an eighth of its size, within the options'
    /// bounds.
    fn growth_blocks(&self, file_blocks: u64) -> u64 {
        let page_bytes = self.page_size as u64;
        let bytes =
            (file_blocks * page_bytes / 8).clamp(self.growth_bytes_min, self.growth_bytes_max);
        (bytes / page_bytes).max(1)
    }

    // ---- writing -------------------------------------------------------

    pub(crate) fn enter_write(&self) -> Result<WriteToken<'_>> {
        let before = self.writers.fetch_add(1, Ordering::Acquire);
        let token = WriteToken {
            writers: &self.writers,
        };
        if before & CHECKPOINT_RUNNING != 0 {
            return Err(Error::WriterActive);
        }
        Ok(token)
    }

    /// Takes the exclusive latch on `page` (loading it if needed), for the
    /// one writer. The page is marked dirty if the guard is written through.
    ///
    /// # Errors
    /// As [`Pager::read`]; [`Error::WriterActive`] during a checkpoint.
    pub fn exclusive(&self, page: PageId) -> Result<ExclusiveGuard<'_>> {
        let token = self.enter_write()?;
        let index = self.latch_exclusive(page)?;
        Ok(ExclusiveGuard {
            pager: self,
            frame: index,
            page,
            modified: false,
            released: false,
            _token: token,
        })
    }

    fn latch_exclusive(&self, page: PageId) -> Result<u32> {
        let (frame, ()) = self.latch_resident(
            page,
            |latch| latch.try_exclusive().then_some(()),
            Latch::release_exclusive_unchanged,
        )?;
        Ok(frame)
    }

    /// Allocates a page (the lowest free id), zero-filled, dirty, and
    /// exclusively latched.
    ///
    /// # Errors
    /// [`Error::PageIdsExhausted`], [`Error::PoolExhausted`], I/O errors of
    /// a dirty eviction, [`Error::WriterActive`] during a checkpoint.
    pub fn allocate(&self) -> Result<ExclusiveGuard<'_>> {
        let token = self.enter_write()?;
        let page = self
            .store
            .lock()
            .map
            .allocate(&self.table)
            .ok_or(Error::PageIdsExhausted {
                limit: PageId::MAX.get() + 1,
            })?;
        let index = match self.acquire_frame() {
            Ok(index) => index,
            Err(error) => {
                self.store.lock().map.free(&self.table, page);
                return Err(error);
            }
        };
        // A reader holding a stale id may be loading this page right now;
        // it finds the page never written and backs out (see `load`).
        let entry = self.table.slot(page).state();
        let mut round = 0;
        while !residency::try_install(entry, index) {
            spin_wait(&mut round);
        }
        let frame = self.frame(index);
        frame.page.store(page.get(), Ordering::Relaxed);
        self.frame_bytes_mut(index).fill(0);
        frame.referenced.store(true, Ordering::Relaxed);
        Ok(ExclusiveGuard {
            pager: self,
            frame: index,
            page,
            modified: true,
            released: false,
            _token: token,
        })
    }

    /// Frees `page` (see [`ExclusiveGuard::free`]).
    ///
    /// # Errors
    /// [`Error::PageNotAllocated`], [`Error::WriterActive`].
    pub fn free(&self, page: PageId) -> Result<()> {
        self.exclusive(page)?.free()
    }

    /// Removes `page` from frame `index` (latched exclusively by the
    /// caller) and from the map.
    pub(crate) fn free_latched(&self, page: PageId, index: u32) -> Result<()> {
        let frame = self.frame(index);
        // Out of the map first, while the page is still resident and
        // latched: a reader that misses from now on finds it unallocated
        // instead of loading it back.
        let freed = {
            let mut store = self.store.lock();
            match store.map.free(&self.table, page) {
                Some(0) => Ok(()),
                Some(block) => {
                    store.blocks.release(block);
                    Ok(())
                }
                None => Err(Error::PageNotAllocated(page)),
            }
        };
        residency::remove(self.table.slot(page).state());
        frame.page.store(0, Ordering::Relaxed);
        frame.dirty.store(false, Ordering::Relaxed);
        // Moves the version on: optimistic readers of the page restart.
        frame.latch.release_exclusive();
        freed
    }

    fn check_poisoned(&self) -> Result<()> {
        match self.poisoned.get() {
            Some(error) => Err(Error::Poisoned(Box::new(error.clone()))),
            None => Ok(()),
        }
    }

    /// Latches the pager failed with its first write or sync error.
    fn poison(&self, error: impl Into<Error>) -> Error {
        let error = error.into();
        let _ = self.poisoned.set(error.clone());
        tracing::error!(path = %self.path.display(), %error, "page file failed; writes stop until reopen");
        error
    }

    // ---- checkpoint ----------------------------------------------------

    /// Makes the current state of every page durable, atomically, and
    /// records `payload` with it.
    ///
    /// Called by the one writer while it is paused (readers may go on).
    /// Dirty pages go to free blocks — never one the previous checkpoint
    /// uses — in block order, then the changed map nodes; one sync; then
    /// the next meta slot; a second sync. Only then do the blocks the
    /// previous checkpoint alone used become free. A crash at any point
    /// leaves the previous checkpoint or this one, never a mix.
    ///
    /// # Errors
    /// [`Error::PayloadTooLarge`], [`Error::WriterActive`] if write guards
    /// are held, [`Error::Poisoned`] after an earlier write failure, and
    /// I/O errors (which poison the pager).
    pub fn checkpoint(&self, payload: &[u8]) -> Result<CheckpointReport> {
        let max = self.payload_bytes_max();
        if payload.len() > max {
            return Err(Error::PayloadTooLarge {
                len: payload.len(),
                max,
            });
        }
        self.check_poisoned()?;
        let _serial = self.checkpoint_lock.lock();
        if self
            .writers
            .compare_exchange(0, CHECKPOINT_RUNNING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(Error::WriterActive);
        }
        struct Running<'a>(&'a AtomicU64);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.fetch_and(!CHECKPOINT_RUNNING, Ordering::Release);
            }
        }
        let _running = Running(&self.writers);
        self.write_checkpoint(payload)
    }

    fn write_checkpoint(&self, payload: &[u8]) -> Result<CheckpointReport> {
        let started = Instant::now();
        let page_bytes = self.page_size as u64;
        let dirty: Vec<u32> = (0..self.frames.len() as u32)
            .filter(|&index| self.frame(index).dirty.load(Ordering::Relaxed))
            .collect();
        let mut pages_written = 0u64;
        for batch in dirty.chunks(CHECKPOINT_BATCH_PAGES) {
            pages_written += self.write_page_batch(batch)?;
        }

        // The map, then one sync for pages and map together.
        let (node_writes, meta, referenced) = {
            let mut store = self.store.lock();
            let store = &mut *store;
            let mut source = BlockSource {
                pager: self,
                blocks: &mut store.blocks,
            };
            let writes = store
                .map
                .write_changed_nodes(&self.table, self.page_size, &mut source)
                .map_err(|error| self.poison(error))?;
            let meta = Meta {
                page_size: self.page_size as u32,
                checkpoint_id: store.checkpoint_id + 1,
                page_id_limit: store.map.limit(),
                page_count: store.map.page_count(),
                map_root: store.map.root(),
                map_height: store.map.height(),
                payload: payload.to_vec(),
            };
            (writes, meta, store.blocks.used())
        };
        let writes: Vec<WriteAt<'_>> = node_writes
            .iter()
            .map(|node| WriteAt {
                offset: node.block * page_bytes,
                data: &node.bytes,
            })
            .collect();
        self.file
            .write_batch(&writes, true)
            .map_err(|error| self.poison(error))?;
        let encoded = meta.encode();
        self.file
            .write_all_at(&encoded, meta.slot() * page_bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(|error| self.poison(error))?;
        let map_nodes_written = node_writes.len() as u64;
        let bytes_written = (pages_written + map_nodes_written) * page_bytes + encoded.len() as u64;
        self.counters
            .bytes_written
            .add(map_nodes_written * page_bytes + encoded.len() as u64);
        self.counters.checkpoints.add(1);

        // Durable: the previous checkpoint's blocks may be reused.
        let mut store = self.store.lock();
        let blocks_released = store.blocks.checkpoint_durable(referenced);
        store.checkpoint_id = meta.checkpoint_id;
        store.payload = meta.payload;
        self.shrink_if_tail_free(&mut store, pages_written + map_nodes_written);
        Ok(CheckpointReport {
            checkpoint_id: store.checkpoint_id,
            pages_written,
            map_nodes_written,
            bytes_written,
            blocks_released,
            file_bytes: store.blocks.file_blocks() * page_bytes,
            duration: started.elapsed(),
        })
    }

    /// Latches a batch of dirty frames shared, writes them to fresh blocks
    /// in block order, and points the map at them. Returns pages written.
    fn write_page_batch(&self, batch: &[u32]) -> Result<u64> {
        let mut latched: Vec<(u32, PageId, u32)> = Vec::with_capacity(batch.len());
        for &index in batch {
            let frame = self.frame(index);
            let mut round = 0;
            let mut latched_frame = true;
            while !frame.latch.try_shared() {
                // Held exclusively by an evictor (which writes the page back
                // and clears the flag before giving the frame away), or
                // parked on the free list: either way, no longer dirty.
                if !frame.dirty.load(Ordering::Relaxed) || frame.page.load(Ordering::Relaxed) == 0 {
                    latched_frame = false;
                    break;
                }
                spin_wait(&mut round);
            }
            if !latched_frame {
                continue;
            }
            let page = frame.page.load(Ordering::Relaxed);
            if page == 0 || !frame.dirty.load(Ordering::Relaxed) {
                // Evicted (written back) meanwhile.
                frame.latch.release_shared();
                continue;
            }
            let page = PageId::new(page);
            latched.push((index, page, page_checksum(page, self.frame_bytes(index))));
        }
        let release = |latched: &[(u32, PageId, u32)]| {
            for &(index, _, _) in latched {
                self.frame(index).latch.release_shared();
            }
        };
        let mut blocks = Vec::with_capacity(latched.len());
        {
            let mut store = self.store.lock();
            for _ in &latched {
                match self.allocate_block(&mut store.blocks) {
                    Ok(block) => blocks.push(block),
                    Err(error) => {
                        for &block in &blocks {
                            store.blocks.release(block);
                        }
                        drop(store);
                        release(&latched);
                        return Err(error);
                    }
                }
            }
        }
        let page_bytes = self.page_size as u64;
        // Runs of consecutive blocks go out as one write each, straight
        // from the frames (a vectored write): measured here, large writes
        // sync about three times faster than the same bytes written a page
        // at a time (the page cache keeps them in large folios).
        let mut written = Ok(());
        let mut frames: Vec<&[u8]> = Vec::with_capacity(latched.len());
        let mut start = 0;
        while start < latched.len() && written.is_ok() {
            let mut end = start + 1;
            while end < latched.len() && blocks[end] == blocks[end - 1] + 1 {
                end += 1;
            }
            frames.clear();
            frames.extend(
                latched[start..end]
                    .iter()
                    .map(|&(index, _, _)| self.frame_bytes(index)),
            );
            written = self
                .file
                .write_vectored_at(&frames, blocks[start] * page_bytes);
            if written.is_ok() {
                // The device writes this run while the next ones are
                // summed and copied, instead of all of them in the sync
                // (measured: the checkpoint's time to durable fell from
                // 11.4-12.2 to 7.7-11.8 ms, p25-median, same run). A
                // hint: a failure is left for the sync to report.
                let _ = self.file.start_writeback(
                    blocks[start] * page_bytes,
                    (end - start) as u64 * page_bytes,
                );
            }
            start = end;
        }
        drop(frames);
        if let Err(error) = written {
            let mut store = self.store.lock();
            for &block in &blocks {
                store.blocks.release(block);
            }
            drop(store);
            release(&latched);
            return Err(self.poison(error));
        }
        {
            let mut store = self.store.lock();
            for (&(index, page, checksum), &block) in latched.iter().zip(&blocks) {
                let previous = store.map.set_block(&self.table, page, block, checksum);
                if previous != 0 {
                    store.blocks.release(previous);
                }
                self.frame(index).dirty.store(false, Ordering::Relaxed);
            }
        }
        release(&latched);
        let count = latched.len() as u64;
        self.counters.bytes_written.add(count * page_bytes);
        Ok(count)
    }

    /// Cuts the file when its free tail is larger than the room the next
    /// checkpoint is likely to need (as much as this one wrote, and at
    /// least a growth step) plus another growth step. Copy-on-write needs
    /// that room: cutting it would only make the next checkpoint grow the
    /// file again (measured: a workload rewriting every page flip-flopped
    /// between two sizes at every checkpoint).
    fn shrink_if_tail_free(&self, store: &mut Store, blocks_written: u64) {
        let file_blocks = store.blocks.file_blocks();
        let needed = store.blocks.needed_blocks();
        let step = self.growth_blocks(needed);
        let target = needed + step.max(blocks_written);
        if file_blocks <= target + step {
            return;
        }
        // A failed shrink loses nothing: the file stays longer.
        match self.file.set_len(target * self.page_size as u64) {
            Ok(()) => store.blocks.shrink(target),
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "page file not shrunk")
            }
        }
    }
}

/// Hands blocks to the map writer during a checkpoint.
struct BlockSource<'a> {
    pager: &'a Pager,
    blocks: &'a mut Blocks,
}

impl NodeBlocks for BlockSource<'_> {
    fn release(&mut self, block: u64) {
        self.blocks.release(block);
    }

    fn allocate(&mut self) -> Result<u64> {
        self.pager.allocate_block(self.blocks)
    }
}

/// Creates an initialized page file atomically: written under a temporary
/// name, synced, renamed into place, directory synced. A crash leaves
/// either no file or a complete one.
fn create_file(vfs: &dyn Vfs, path: &Path, page_size: u32) -> Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    keel_io::create_dir_all_durable(vfs, &parent)?;
    let mut temporary = path.as_os_str().to_os_string();
    temporary.push(".creating");
    let temporary = PathBuf::from(temporary);
    if vfs.exists(&temporary)? {
        vfs.remove(&temporary)?;
    }
    let meta = Meta {
        page_size,
        checkpoint_id: 0,
        page_id_limit: 1,
        page_count: 0,
        map_root: NodeRef::ABSENT,
        map_height: 0,
        payload: Vec::new(),
    };
    let file = vfs.open(&temporary, OpenMode::CreateNew)?;
    file.write_all_at(&meta.encode(), 0)?;
    file.set_len(FIRST_DATA_BLOCK * u64::from(page_size))?;
    file.sync_data()?;
    drop(file);
    vfs.rename(&temporary, path)?;
    vfs.sync_dir(&parent)?;
    Ok(())
}

/// Reads one meta slot at `offset`.
fn read_slot(
    file: &dyn keel_io::File,
    size: u64,
    offset: u64,
) -> Result<Result<Meta, MetaProblem>> {
    if offset + META_HEADER_BYTES as u64 > size {
        return Ok(Err(MetaProblem::Truncated));
    }
    let mut header = [0u8; META_HEADER_BYTES];
    file.read_exact_at(&mut header, offset)?;
    let decoded = match meta::decode_header(&header, offset) {
        Ok(decoded) => decoded,
        Err(problem) => return Ok(Err(problem)),
    };
    let len = META_HEADER_BYTES as u64 + u64::from(decoded.payload_len);
    if offset + len > size {
        return Ok(Err(MetaProblem::Truncated));
    }
    let mut slot = vec![0u8; len as usize];
    file.read_exact_at(&mut slot, offset)?;
    Ok(meta::decode(&slot, offset))
}

/// The newest meta slot whose checksum holds, and what the other slot
/// holds (its checkpoint id) or why it was rejected.
fn read_newest_meta(
    file: &dyn keel_io::File,
    path: &Path,
    size: u64,
) -> Result<(Meta, Result<u64, MetaProblem>)> {
    let slot0 = read_slot(file, size, 0)?;
    let slot1 = match &slot0 {
        Ok(meta) => read_slot(file, size, u64::from(meta.page_size))?,
        Err(_) => {
            // Slot 0 cannot say where slot 1 is: try every page size.
            let mut first_problem = None;
            let mut found = None;
            let mut page_size = PAGE_SIZE_MIN;
            while page_size <= PAGE_SIZE_MAX {
                match read_slot(file, size, u64::from(page_size))? {
                    Ok(meta) => {
                        found = Some(meta);
                        break;
                    }
                    Err(MetaProblem::BadMagic | MetaProblem::Truncated) => {}
                    Err(problem) => {
                        first_problem.get_or_insert(problem);
                    }
                }
                page_size *= 2;
            }
            match found {
                Some(meta) => Ok(meta),
                None => Err(first_problem.unwrap_or(if size > u64::from(PAGE_SIZE_MIN) {
                    MetaProblem::BadMagic
                } else {
                    MetaProblem::Truncated
                })),
            }
        }
    };
    match (slot0, slot1) {
        (Ok(a), Ok(b)) => Ok(if b.checkpoint_id > a.checkpoint_id {
            let older = a.checkpoint_id;
            (b, Ok(older))
        } else {
            let older = b.checkpoint_id;
            (a, Ok(older))
        }),
        (Ok(meta), Err(problem)) | (Err(problem), Ok(meta)) => Ok((meta, Err(problem))),
        (Err(slot0), Err(slot1)) => Err(Error::NoValidMeta {
            path: path.to_path_buf(),
            slot0,
            slot1,
        }),
    }
}

/// Bytes of a cache line, the stride of [`Pager::prefetch_resident`].
const CACHE_LINE_BYTES: usize = 64;

/// Asks the processor to load the cache line at `address` (a hint: no
/// fault, no effect on what the program computes).
#[inline]
fn prefetch_line(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults and never changes
    // memory, whatever the address; SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

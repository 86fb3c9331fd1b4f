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
use crate::zeroed::Zeroed;

mod checkpoint;
mod compaction;
mod eviction;
mod file;
mod frames;
mod lazy;
mod mapped;
mod read;
mod write;

pub use compaction::Relocation;
pub use file::FIRST_READ_BYTES;
use file::{create_file, read_newest_meta};
pub(crate) use frames::Frame;
use frames::{FrameHeaders, FrameMemory};
use mapped::MappedFile;

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
    /// around its block, once per window (0: no read-ahead;
    /// [`crate::READAHEAD_DEVICE`], the default: the device's read-ahead
    /// size, shrinking to [`crate::READAHEAD_BYTES_FALLBACK`] while device
    /// reads outnumber cached ones).
    pub readahead_bytes: u64,
    /// A miss copies the page from a read-only memory map of the file
    /// instead of `pread`ing it (no system call per miss; the checksum is
    /// still checked), where the file system offers a map. A device error
    /// under the map kills the process (`SIGBUS`) instead of returning an
    /// error, as with LMDB.
    pub mmap_reads: bool,
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
            mmap_reads: false,
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
    /// The blocks the meta slot named for this open (asked of the OS at
    /// once; see [`Pager::set_open_pages`]).
    pub open_blocks: Vec<u64>,
}

/// A page file half opened by [`Pager::start_open`]: its newest meta
/// slot read, the reads of what the rest of the open needs under way.
#[derive(Debug)]
pub struct OpeningPager {
    path: PathBuf,
    file: FileHandle,
    options: PagerOptions,
    size: u64,
    meta: Meta,
    other_slot: Result<u64, MetaProblem>,
}

impl OpeningPager {
    /// The id of the newest checkpoint whose meta slot holds (0: the
    /// file's creation).
    pub fn checkpoint_id(&self) -> u64 {
        self.meta.checkpoint_id
    }

    /// That checkpoint's payload.
    pub fn payload(&self) -> &[u8] {
        &self.meta.payload
    }

    /// The rest of [`Pager::open`]: reads the page map above its leaves
    /// and sets up the buffer pool.
    ///
    /// # Errors
    /// [`Error::MapCorruption`], [`Error::OutOfMemory`] and I/O errors.
    pub fn finish(self) -> Result<Pager> {
        Pager::finish_open(self)
    }
}

/// The file-side state: page map and block allocator.
struct Store {
    map: PageMap,
    blocks: Blocks,
    /// Until the whole map is read ([`Pager::store`]): the checkpoint it
    /// was opened at. Then `map` has only the nodes above the leaves and
    /// `blocks` nothing free.
    opened: Option<lazy::Opened>,
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
    frames: FrameHeaders,
    memory: FrameMemory,
    table: PageTable,
    /// Frames that held a page and now hold none, each kept exclusively
    /// latched.
    free_frames: Mutex<Vec<u32>>,
    /// Which leaves of the page map are read ([`lazy`]).
    lazy: lazy::LazyLeaves,
    /// The length of `free_frames` (a hint read without the lock).
    free_frame_count: AtomicUsize,
    /// Frames from here on were never used: free, unlatched ([`frames`]).
    fresh_frames: AtomicUsize,
    clock_hand: AtomicUsize,
    /// Locked through [`Pager::store`] (`lazy.rs`), which reads the whole
    /// map first; only the checkpoint id and payload, and the lazy leaf
    /// reads, take it as it is.
    raw_store: Mutex<Store>,
    /// Writer operations in progress, and [`CHECKPOINT_RUNNING`].
    writers: AtomicU64,
    checkpoint_lock: Mutex<()>,
    /// The pages the next open reads first ([`Pager::set_open_pages`]).
    open_pages: Mutex<Vec<PageId>>,
    /// The first write or sync error: no write is attempted after it.
    poisoned: OnceLock<Error>,
    /// 80 KiB (ten counters of 64 padded stripes), made as zeros in
    /// place: built on the stack and moved into the pager, they were
    /// written once and copied three times per open, a sixth of an open's
    /// CPU time.
    counters: Zeroed<Counters>,
    growth_bytes_min: u64,
    growth_bytes_max: u64,
    readahead: Readahead,
    /// The file's read-only map for misses (`PagerOptions::mmap_reads`),
    /// never longer than the file: replaced under the write lock when the
    /// file grows or shrinks.
    mapped: MappedFile,
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
    /// checkpoint's page map above its leaves (`lazy.rs`): leaves are read
    /// as pages of them are missed, the whole map before the first change;
    /// every block it does not reference is then free. The file is locked
    /// against a second opener.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::InvalidPageSize`],
    /// [`Error::NoValidMeta`], [`Error::MapCorruption`], and I/O errors
    /// ([`keel_io::Error::Locked`] inside [`Error::Io`] when another pager
    /// has the file open).
    pub fn open(vfs: Arc<dyn Vfs>, path: impl AsRef<Path>, options: PagerOptions) -> Result<Pager> {
        Pager::start_open(vfs, path, options)?.finish()
    }

    /// The first half of [`Pager::open`]: opens (or creates) and locks the
    /// file, reads its newest meta slot and asks the OS for the blocks
    /// that slot names for the open (the page map above its leaves, the
    /// pages named by [`Pager::set_open_pages`]), without waiting for them.
    /// What the caller does before [`OpeningPager::finish`] overlaps those
    /// reads: an open that reads its log in between waits for one round
    /// of device reads less.
    ///
    /// # Errors
    /// As [`Pager::open`], but for the errors of reading the map.
    pub fn start_open(
        vfs: Arc<dyn Vfs>,
        path: impl AsRef<Path>,
        options: PagerOptions,
    ) -> Result<OpeningPager> {
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
        Pager::start_open_file(path, file, options)
    }

    /// [`Pager::start_open`] of a page file the caller has opened (as
    /// [`OpenMode::Existing`]), perhaps having asked the OS to read its
    /// meta slots ahead while it did other work.
    ///
    /// # Errors
    /// As [`Pager::start_open`].
    pub fn start_open_file(
        path: impl AsRef<Path>,
        file: FileHandle,
        options: PagerOptions,
    ) -> Result<OpeningPager> {
        let path = path.as_ref().to_path_buf();
        if !is_valid_page_size(options.page_size) {
            return Err(Error::InvalidPageSize(options.page_size));
        }
        file.try_lock()?;
        let size = file.size()?;
        let (meta, other_slot) = read_newest_meta(&*file, &path, size)?;
        // What this open reads next, asked for at once: the device reads
        // the blocks in parallel instead of one dependent read each.
        crate::readahead::advise_runs(&*file, &meta.open_blocks, u64::from(meta.page_size));
        Ok(OpeningPager {
            path,
            file,
            options,
            size,
            meta,
            other_slot,
        })
    }

    fn finish_open(opening: OpeningPager) -> Result<Pager> {
        let OpeningPager {
            path,
            file,
            options,
            size,
            meta,
            other_slot,
        } = opening;
        let open_report = OpenReport {
            checkpoint_id: meta.checkpoint_id,
            other_slot,
            open_blocks: meta.open_blocks.clone(),
        };
        let page_size = meta.page_size as usize;
        let file_blocks = (size / page_size as u64).max(FIRST_DATA_BLOCK);
        let readahead = Readahead::new(options.readahead_bytes, page_size as u64);
        let table = PageTable::new();
        let map = PageMap::open_lazy(&*file, &path, &meta, file_blocks, &table)?;
        let lazy = lazy::LazyLeaves::new(&map, page_size);
        // Nothing is free until the whole map is read.
        let blocks = Blocks::new(file_blocks, crate::blocks::Bitset::filled(file_blocks));

        let frame_count = usize::try_from(options.pool_bytes / page_size as u64)
            .unwrap_or(usize::MAX)
            .clamp(FRAMES_MIN, FRAME_MAX as usize);
        let pool_bytes = frame_count * page_size;
        let memory = FrameMemory::map(pool_bytes)?;
        let frames = FrameHeaders::zeroed(frame_count)?;
        let counters = Zeroed::new();
        Ok(Pager {
            path,
            file,
            page_size,
            frames,
            memory,
            table,
            free_frames: Mutex::new(Vec::new()),
            free_frame_count: AtomicUsize::new(0),
            fresh_frames: AtomicUsize::new(0),
            clock_hand: AtomicUsize::new(0),
            raw_store: Mutex::new(Store {
                map,
                blocks,
                checkpoint_id: meta.checkpoint_id,
                payload: meta.payload.clone(),
                opened: Some(lazy::Opened { meta, file_blocks }),
            }),
            writers: AtomicU64::new(0),
            checkpoint_lock: Mutex::new(()),
            open_pages: Mutex::new(Vec::new()),
            poisoned: OnceLock::new(),
            counters,
            growth_bytes_min: options.growth_bytes_min.max(page_size as u64),
            growth_bytes_max: options.growth_bytes_max.max(page_size as u64),
            readahead,
            lazy,
            mapped: MappedFile::new(options.mmap_reads),
            open_report,
        })
        .inspect(|pager| pager.remap(file_blocks * page_size as u64))
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
        self.raw_store.lock().checkpoint_id
    }

    /// The payload of the newest durable checkpoint.
    pub fn payload(&self) -> Vec<u8> {
        self.raw_store.lock().payload.clone()
    }

    /// The largest payload a checkpoint of this file can carry.
    pub fn payload_bytes_max(&self) -> usize {
        payload_bytes_max(self.page_size as u32)
    }

    /// Whether `page` is allocated.
    ///
    /// # Errors
    /// [`Error::MapCorruption`] and I/O errors of reading the whole map.
    pub fn is_allocated(&self, page: PageId) -> Result<bool> {
        Ok(self.store()?.map.get(&self.table, page).is_some())
    }

    /// Every allocated page id, in order (for consistency checks above).
    ///
    /// # Errors
    /// [`Error::MapCorruption`] and I/O errors of reading the whole map.
    pub fn allocated_pages(&self) -> Result<Vec<PageId>> {
        Ok(self.store()?.map.allocated(&self.table).collect())
    }

    /// Counters and sizes. Reads the whole page map if no access has yet
    /// (should that fail, the sizes are those of the meta slot, and
    /// `free_blocks` is 0; the next write reports the error).
    pub fn stats(&self) -> PagerStats {
        let store = self.store().unwrap_or_else(|_| self.raw_store.lock());
        let counters = &self.counters;
        PagerStats {
            hits: counters.hits.get(),
            misses: counters.misses.get(),
            evictions: counters.evictions.get(),
            dirty_evictions: counters.dirty_evictions.get(),
            bytes_read: counters.bytes_read.get(),
            bytes_written: counters.bytes_written.get(),
            read_ahead_pages: counters.read_ahead_pages.get(),
            mapped_reads: counters.mapped_reads.get(),
            checkpoints: counters.checkpoints.get(),
            map_leaves_read: counters.map_leaves_read.get(),
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
}

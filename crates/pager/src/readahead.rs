//! Read-ahead on misses: the first miss in a window of the page file that
//! the OS does not have cached (`File::read_cached_at` said so: blocks in
//! the OS cache need no advice) asks the OS to read the whole window
//! (`WillNeed` advice, asynchronous), so that the misses after it in that
//! window find their blocks in the OS cache instead of each waiting for
//! the device, as a memory-mapped file gets from the kernel's read-around.
//! Which windows were advised lately is remembered in a small
//! direct-mapped table, so a run of misses in one window costs one system
//! call.
//!
//! The window is by default the device's own read-ahead size
//! (`File::readahead_bytes`: what the kernel reads around a fault of a
//! mapped file there, LMDB's read path), and it backs off as the kernel's
//! does: once reads that needed a window of their own outnumber reads
//! the OS cache or a window advised lately served by more than
//! [`MISSES_MAX`] (random reads over a file larger than memory, where a
//! large window reads mostly what nobody asks for), windows shrink to
//! [`READAHEAD_BYTES_FALLBACK`] until served reads bring the balance
//! back.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use keel_io::{Advice, File};

/// `readahead_bytes` meaning: the device's read-ahead size, which the OS
/// tells ([`READAHEAD_BYTES_FALLBACK`] where it does not), at most
/// [`READAHEAD_BYTES_MAX`].
pub const READAHEAD_DEVICE: u64 = u64::MAX;

/// The default window: the device's ([`READAHEAD_DEVICE`]).
pub const READAHEAD_BYTES_DEFAULT: u64 = READAHEAD_DEVICE;

/// The window where the OS does not tell the device's, and the window of
/// a reader whose device reads outnumber its cached ones: 128 KiB, the
/// kernel's default read-ahead.
pub const READAHEAD_BYTES_FALLBACK: u64 = 128 << 10;

/// The largest window taken from the device (one advice call reads at
/// most this much).
pub const READAHEAD_BYTES_MAX: u64 = 16 << 20;

/// Reads that advised a window of their own beyond reads served without
/// one, past which windows shrink to the fallback (the kernel's
/// `MMAP_LOTSAMISS` for a mapped file's read-around).
pub const MISSES_MAX: u64 = 100;

/// Windows remembered as advised.
const RECENT_WINDOWS: usize = 1024;

/// The windows advised lately.
#[derive(Debug)]
pub(crate) struct Readahead {
    /// The window asked for (`PagerOptions::readahead_bytes`).
    asked: u64,
    /// The page file's block size: windows are multiples of it.
    block_bytes: u64,
    /// The windows, found on the first read that needs one (asking the
    /// OS for the device's is kept off the open's path).
    windows: OnceLock<Windows>,
    /// Reads that advised a window less reads served without one (by the
    /// OS cache, or in a window advised lately), at least 0. Updated
    /// with a load and a store: a lost update between two missing threads
    /// moves it by one less, which a heuristic does not mind.
    misses: AtomicU64,
    /// Slot `(start / window) % RECENT_WINDOWS` holds the key of the
    /// window advised last there: its start plus 1, plus 1 more for a
    /// large window (starts are multiples of a block, so keys of different
    /// windows differ; a large and a small window sharing a slot only
    /// cost advice again).
    recent: Box<[AtomicU64]>,
}

/// The two window sizes, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Windows {
    /// While the misses' balance holds.
    large: u64,
    /// Once it does not: at most `large`.
    small: u64,
}

impl Readahead {
    /// Read-ahead by windows of `window_bytes` (0: none;
    /// [`READAHEAD_DEVICE`]: the device's), rounded down to a multiple of
    /// `block_bytes` and at least one block.
    pub(crate) fn new(window_bytes: u64, block_bytes: u64) -> Readahead {
        let slots = if window_bytes == 0 { 0 } else { RECENT_WINDOWS };
        Readahead {
            asked: window_bytes,
            block_bytes,
            windows: OnceLock::new(),
            misses: AtomicU64::new(0),
            recent: (0..slots).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The windows for `file`, found the first time (read-ahead is on:
    /// `asked` is not 0, and neither is what the device or the fallback
    /// gives).
    fn windows(&self, file: &dyn File) -> Windows {
        *self.windows.get_or_init(|| {
            let bytes = match self.asked {
                READAHEAD_DEVICE => file
                    .readahead_bytes()
                    .unwrap_or(READAHEAD_BYTES_FALLBACK)
                    .min(READAHEAD_BYTES_MAX),
                bytes => bytes,
            };
            let round = |bytes: u64| (bytes / self.block_bytes).max(1) * self.block_bytes;
            Windows {
                large: round(bytes),
                small: round(bytes.min(READAHEAD_BYTES_FALLBACK)),
            }
        })
    }

    /// Called when the OS cache served a miss without the device (or a
    /// window advised lately did).
    pub(crate) fn served_cached(&self) {
        let misses = self.misses.load(Ordering::Relaxed);
        if misses > 0 {
            self.misses.store(misses - 1, Ordering::Relaxed);
        }
    }

    /// Called before a miss reads the block at `offset` from the device.
    pub(crate) fn before_read(&self, file: &dyn File, offset: u64) {
        if self.asked == 0 {
            return;
        }
        let Windows { large, small } = self.windows(file);
        // A read in a window advised lately, of either size, waits for
        // that window's read (or finds it done): the advice served it, as
        // the OS cache does. A race between two missing threads advises
        // twice: harmless.
        let windows = [(large, true), (small, false)];
        if windows.iter().any(|&(window, large)| {
            let (slot, key) = self.slot(offset, window, large);
            slot.load(Ordering::Relaxed) == key
        }) {
            self.served_cached();
            return;
        }
        let misses = self.misses.load(Ordering::Relaxed);
        let (window, large) = windows[usize::from(misses >= MISSES_MAX)];
        let (slot, key) = self.slot(offset, window, large);
        slot.store(key, Ordering::Relaxed);
        self.misses.store(misses + 1, Ordering::Relaxed);
        // Advice is a hint: a failure changes nothing.
        let _ = file.advise(Advice::WillNeed, offset / window * window, window);
    }

    /// The slot of the window of `window` bytes around `offset`, and the
    /// key it holds once that window is advised.
    fn slot(&self, offset: u64, window: u64, large: bool) -> (&AtomicU64, u64) {
        let index = offset / window;
        let slot = &self.recent[(index % RECENT_WINDOWS as u64) as usize];
        (slot, index * window + 1 + u64::from(large))
    }

    /// The window a device read asks for now.
    #[cfg(test)]
    fn window_now(&self, file: &dyn File) -> u64 {
        let Windows { large, small } = self.windows(file);
        match self.misses.load(Ordering::Relaxed) < MISSES_MAX {
            true => large,
            false => small,
        }
    }
}

/// The most blocks between two asked for that [`advise_runs`] reads too,
/// to ask for both in one request: on a VM each request costs the open
/// 10-15 us of submission and completion (seven requests of one block
/// took 80-100 us to submit), the device a few more blocks nothing.
pub(crate) const ADVISE_GAP_BLOCKS_MAX: u64 = 4;

/// Asks the OS for `blocks` (of `block_bytes`) at once, one request per
/// run of blocks at most [`ADVISE_GAP_BLOCKS_MAX`] apart: no window around
/// them, which would queue reads the caller does not wait for ahead of
/// those it does.
pub(crate) fn advise_runs(file: &dyn File, blocks: &[u64], block_bytes: u64) {
    let mut sorted = blocks.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for run in sorted.chunk_by(|a, b| b - a <= ADVISE_GAP_BLOCKS_MAX + 1) {
        let (first, last) = (run[0], run[run.len() - 1]);
        let len = (last - first + 1).saturating_mul(block_bytes);
        // Advice is a hint: a failure changes nothing.
        let _ = file.advise(Advice::WillNeed, first.saturating_mul(block_bytes), len);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Mutex;

    use keel_io::{FileHandle, OpenMode, Result, SimVfs, Vfs};

    use super::*;

    /// A file that tells a read-ahead size and records its advice.
    #[derive(Debug)]
    struct Advised {
        inner: FileHandle,
        device: Option<u64>,
        advice: Mutex<Vec<(u64, u64)>>,
    }

    impl Advised {
        fn new(device: Option<u64>) -> Advised {
            let vfs = SimVfs::new(1);
            let inner = vfs
                .open(Path::new("/f"), OpenMode::CreateNew)
                .expect("open");
            Advised {
                inner,
                device,
                advice: Mutex::new(Vec::new()),
            }
        }

        fn taken(&self) -> Vec<(u64, u64)> {
            std::mem::take(&mut *self.advice.lock().unwrap())
        }
    }

    impl File for Advised {
        fn path(&self) -> &Path {
            self.inner.path()
        }
        fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
            self.inner.read_at(buf, offset)
        }
        fn write_all_at(&self, data: &[u8], offset: u64) -> Result<()> {
            self.inner.write_all_at(data, offset)
        }
        fn sync_data(&self) -> Result<()> {
            self.inner.sync_data()
        }
        fn size(&self) -> Result<u64> {
            self.inner.size()
        }
        fn set_len(&self, size: u64) -> Result<()> {
            self.inner.set_len(size)
        }
        fn allocate(&self, offset: u64, len: u64) -> Result<()> {
            self.inner.allocate(offset, len)
        }
        fn try_lock(&self) -> Result<()> {
            self.inner.try_lock()
        }
        fn readahead_bytes(&self) -> Option<u64> {
            self.device
        }
        fn advise(&self, _: Advice, offset: u64, len: u64) -> Result<()> {
            self.advice.lock().unwrap().push((offset, len));
            Ok(())
        }
    }

    const BLOCK: u64 = 4096;

    #[test]
    fn blocks_a_few_apart_are_asked_for_in_one_request() {
        let file = Advised::new(None);
        let gap = ADVISE_GAP_BLOCKS_MAX;
        // Unsorted, with a repeat: runs of consecutive blocks, blocks
        // `gap` apart (joined with what lies between) and one block past
        // that (a request of its own).
        let far = 101 + gap + 2;
        advise_runs(&file, &[101, 2, 3, 100, 3 + gap + 1, far, 101], BLOCK);
        assert_eq!(
            file.taken(),
            [
                (2 * BLOCK, (gap + 3) * BLOCK),
                (100 * BLOCK, 2 * BLOCK),
                (far * BLOCK, BLOCK)
            ]
        );
        advise_runs(&file, &[], BLOCK);
        assert!(file.taken().is_empty());
    }

    #[test]
    fn a_window_is_advised_once_until_another_takes_its_slot() {
        let file = Advised::new(None);
        let readahead = Readahead::new(1 << 17, BLOCK);
        readahead.before_read(&file, 4096);
        readahead.before_read(&file, 8192);
        assert_eq!(file.taken(), [(0, 1 << 17)]);
        let far = (RECENT_WINDOWS as u64) << 17;
        readahead.before_read(&file, far);
        readahead.before_read(&file, 4096);
        assert_eq!(file.taken(), [(far, 1 << 17), (0, 1 << 17)]);
        let off = Readahead::new(0, BLOCK);
        off.before_read(&file, 4096);
        assert!(off.recent.is_empty());
        assert!(file.taken().is_empty());
    }

    #[test]
    fn the_device_size_is_the_window_capped_and_the_fallback_without_one() {
        let device = |bytes| {
            Readahead::new(READAHEAD_DEVICE, BLOCK)
                .windows(&Advised::new(bytes))
                .large
        };
        assert_eq!(device(Some(8 << 20)), 8 << 20);
        assert_eq!(device(Some(1 << 30)), READAHEAD_BYTES_MAX);
        assert_eq!(device(None), READAHEAD_BYTES_FALLBACK);
        assert_eq!(device(Some(1000)), BLOCK);
        let odd = Readahead::new(10_000, BLOCK).windows(&Advised::new(Some(1 << 30)));
        assert_eq!(
            odd,
            Windows {
                large: 8192,
                small: 8192
            }
        );
        // Found once: a later answer of the OS changes nothing.
        let readahead = Readahead::new(READAHEAD_DEVICE, BLOCK);
        assert_eq!(readahead.window_now(&Advised::new(Some(1 << 20))), 1 << 20);
        assert_eq!(readahead.window_now(&Advised::new(None)), 1 << 20);
    }

    #[test]
    fn device_reads_beyond_cached_ones_shrink_the_window_and_cached_reads_grow_it() {
        let file = Advised::new(Some(8 << 20));
        let readahead = Readahead::new(READAHEAD_DEVICE, BLOCK);
        // Misses spread over a file far larger than a window: each new
        // window is advised whole until those reads pass the bound.
        let miss = |i: u64| readahead.before_read(&file, i * (64 << 20));
        for i in 0..MISSES_MAX {
            miss(i);
        }
        let advice = file.taken();
        assert_eq!(advice.len(), MISSES_MAX as usize);
        assert!(advice.iter().all(|&(_, len)| len == 8 << 20));
        miss(MISSES_MAX);
        assert_eq!(
            file.taken(),
            [(MISSES_MAX * (64 << 20), READAHEAD_BYTES_FALLBACK)]
        );
        assert_eq!(readahead.window_now(&file), READAHEAD_BYTES_FALLBACK);
        // Reads the OS cache serves bring the large window back.
        for _ in 0..2 {
            readahead.served_cached();
        }
        assert_eq!(readahead.window_now(&file), 8 << 20);
        // Reads in a window advised lately are served by it: however many,
        // they keep the large window.
        let start = 7 * (8 << 20);
        for block in 0..(8 << 20) / BLOCK {
            readahead.before_read(&file, start + block * BLOCK);
        }
        assert_eq!(file.taken(), [(start, 8 << 20)]);
        assert_eq!(readahead.window_now(&file), 8 << 20);
    }
}

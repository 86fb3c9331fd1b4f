//! Read-ahead on misses: the first miss in a window of the page file that
//! the OS does not have cached (`File::read_cached_at` said so: blocks in
//! the OS cache need no advice) asks the OS to read the whole window
//! (`WillNeed` advice, asynchronous), so
//! that the misses after it in that window find their blocks in the OS
//! cache instead of each waiting for the device, as a memory-mapped file
//! gets from the kernel's fault-around and read-ahead. Which windows were
//! advised lately is remembered in a small direct-mapped table, so a run
//! of misses in one window costs one system call.

use std::sync::atomic::{AtomicU64, Ordering};

use keel_io::{Advice, File};

/// The default window: 128 KiB, the kernel's default read-ahead.
pub const READAHEAD_BYTES_DEFAULT: u64 = 128 << 10;

/// Windows remembered as advised.
const RECENT_WINDOWS: usize = 1024;

/// The windows advised lately.
#[derive(Debug)]
pub(crate) struct Readahead {
    window_bytes: u64,
    /// Slot `w % RECENT_WINDOWS` holds `w + 1` once window `w` was advised.
    recent: Box<[AtomicU64]>,
}

impl Readahead {
    /// Read-ahead by windows of `window_bytes` (0: none).
    pub(crate) fn new(window_bytes: u64) -> Readahead {
        let slots = if window_bytes == 0 { 0 } else { RECENT_WINDOWS };
        Readahead {
            window_bytes,
            recent: (0..slots).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Called before a miss reads the block at `offset`.
    pub(crate) fn before_read(&self, file: &dyn File, offset: u64) {
        if self.window_bytes == 0 {
            return;
        }
        let window = offset / self.window_bytes;
        let slot = &self.recent[(window % RECENT_WINDOWS as u64) as usize];
        // A race between two missing threads advises twice: harmless.
        if slot.load(Ordering::Relaxed) == window + 1 {
            return;
        }
        slot.store(window + 1, Ordering::Relaxed);
        // Advice is a hint: a failure changes nothing.
        let _ = file.advise(
            Advice::WillNeed,
            window * self.window_bytes,
            self.window_bytes,
        );
    }
}

/// Asks the OS for `blocks` (of `block_bytes`) at once, one request per
/// run of consecutive blocks: no window around them, which would queue
/// reads the caller does not wait for ahead of those it does.
pub(crate) fn advise_runs(file: &dyn File, blocks: &[u64], block_bytes: u64) {
    let mut sorted = blocks.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for run in sorted.chunk_by(|a, b| a + 1 == *b) {
        let len = run.len() as u64 * block_bytes;
        // Advice is a hint: a failure changes nothing.
        let _ = file.advise(Advice::WillNeed, run[0].saturating_mul(block_bytes), len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_advised_once_until_another_takes_its_slot() {
        let readahead = Readahead::new(1 << 17);
        let window = |offset: u64| offset / (1 << 17) + 1;
        let slot =
            |offset: u64| &readahead.recent[((offset >> 17) % RECENT_WINDOWS as u64) as usize];
        let vfs = keel_io::SimVfs::new(1);
        let file = keel_io::Vfs::open(
            &vfs,
            std::path::Path::new("/f"),
            keel_io::OpenMode::CreateNew,
        )
        .expect("open");
        readahead.before_read(&*file, 4096);
        assert_eq!(slot(4096).load(Ordering::Relaxed), window(4096));
        readahead.before_read(&*file, 8192);
        assert_eq!(slot(8192).load(Ordering::Relaxed), window(8192));
        let far = (RECENT_WINDOWS as u64) << 17;
        readahead.before_read(&*file, far);
        assert_eq!(slot(4096).load(Ordering::Relaxed), window(far));
        let off = Readahead::new(0);
        off.before_read(&*file, 4096);
        assert!(off.recent.is_empty());
    }
}

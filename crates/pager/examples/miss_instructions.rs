//! The pager's own cost of a read that misses the pool: a file of
//! `PAGES` pages read at random through a pool of `POOL_PAGES` frames, so
//! that nearly every read evicts a clean page, looks its page up, `pread`s
//! the block (from the OS page cache: the file was just written) and checks
//! its CRC32C. Meant to be counted in instructions (user space: the
//! system call's kernel side is not counted), which are stable on a loaded
//! machine where times are not:
//!
//! ```text
//! cargo build --release -p keel-pager --example miss_instructions
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='miss_instructions::measured' \
//!     target/release/examples/miss_instructions
//! ```
//!
//! Instructions per miss = the total callgrind reports ÷ the misses
//! printed.

#![allow(clippy::unwrap_used)] // An example: a failed unwrap is a failed run.

use std::hint::black_box;
use std::sync::Arc;

use keel_io::{StdVfs, Vfs};
use keel_pager::{PAGE_SIZE_DEFAULT, PageId, Pager, PagerOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Pages in the file.
const PAGES: u64 = 8_192;
/// Frames of the pool the reads go through.
const POOL_PAGES: u64 = 64;
/// Reads counted.
const READS: usize = 20_000;

fn open(dir: &std::path::Path, frames: u64) -> Pager {
    let vfs: Arc<dyn Vfs> = Arc::new(StdVfs::new());
    let options = PagerOptions {
        pool_bytes: frames * u64::from(PAGE_SIZE_DEFAULT),
        ..PagerOptions::default()
    };
    Pager::open(vfs, dir.join("pages"), options).unwrap()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    {
        let pager = open(dir.path(), PAGES);
        for page in 1..=PAGES {
            let mut guard = pager.allocate().unwrap();
            assert_eq!(guard.page_id(), PageId::new(page));
            guard.fill(page as u8);
            guard[..8].copy_from_slice(&page.to_le_bytes());
        }
        pager.checkpoint(b"").unwrap();
    }
    let pager = open(dir.path(), POOL_PAGES);
    let mut rng = SmallRng::seed_from_u64(7);
    let pages: Vec<PageId> = (0..READS)
        .map(|_| PageId::new(rng.random_range(1..=PAGES)))
        .collect();
    // Every map leaf read once before counting starts.
    for page in 1..=PAGES {
        pager
            .read(PageId::new(page), |view| view.u64_at(0))
            .unwrap();
    }
    let before = pager.stats().misses;
    measured(&pager, &pages);
    println!("{} misses", pager.stats().misses - before);
}

#[inline(never)]
fn measured(pager: &Pager, pages: &[PageId]) {
    for &page in pages {
        let word = pager.read(page, |view| view.u64_at(0)).unwrap();
        black_box(word);
    }
}

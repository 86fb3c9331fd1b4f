//! Reads that miss the pool: what the pager adds to reading a 4 KiB block.
//!
//! Setup writes a file of `PAGES` pages (16 Ki pages, 64 MiB; 256 pages when
//! only testing), each marked with its id, checkpoints it and reopens it
//! with a pool of `POOL_PAGES` (64) frames, so that nearly every read of a
//! random page misses: the pager finds a frame (CLOCK eviction of a clean
//! page), looks the page up in its map, reads the block and checks its
//! CRC32C. Every iteration takes the next of `ACCESSES` precomputed random
//! pages, the same sequence on both sides:
//!
//! * `pager_read_miss`: `Pager::read(page, |view| view.u64_at(0))`;
//! * `pread_4k`: `read_exact_at` of 4 KiB into one buffer, from another
//!   handle of the same file, at the block that holds that page (found by
//!   scanning the file for the pages' marks at setup);
//! * `pread_4k_pool_buffers`, for reference: the same, into `POOL_PAGES`
//!   buffers in turn (the copies land in as much memory as the pool's).
//!
//! The file was just written and read whole, so the OS page cache holds
//! it: both sides copy from the page cache and neither waits for the disk,
//! which is the point (the disk's latency would hide the pager's own
//! cost). Target: pager / pread at most 1.3x. The pool's hit and miss
//! counts of the run are printed at the end.
//!
//! After the group, the two loops also run interleaved, in short rounds of
//! `PAIRED_BATCH` reads a side, and the ratio of their fastest rounds is
//! printed (`common::report_paired_ratio`): on a shared machine, the
//! steadier figure.
//!
//! ```text
//! cargo bench -p keel-pager --bench miss_reads -- --warm-up-time 1 --measurement-time 5
//! ```

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use common::Tally;
use criterion::{Criterion, criterion_group, criterion_main};
use keel_pager::meta::FIRST_DATA_BLOCK;
use keel_pager::{PAGE_SIZE_DEFAULT, PageId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const PAGE_BYTES: usize = PAGE_SIZE_DEFAULT as usize;
/// Frames of the pool the reads go through.
const POOL_PAGES: u64 = 64;
/// Precomputed accesses, cycled through (a power of two).
const ACCESSES: usize = 1 << 16;
/// The mark after each page's id in its first 16 bytes.
const MARK: &[u8; 8] = b"keelpage";

/// Pages in the file: 64 MiB when measuring, little when only testing.
fn pages() -> u64 {
    if common::measuring() { 16 << 10 } else { 256 }
}

fn miss_reads(c: &mut Criterion) {
    let pages = pages();
    let dir = tempfile::tempdir().expect("create a temporary directory");
    {
        let pager = common::open_pager(dir.path(), pages);
        for page in 1..=pages {
            let mut guard = pager.allocate().expect("allocate a page");
            assert_eq!(
                guard.page_id(),
                PageId::new(page),
                "ids are handed out densely"
            );
            guard.fill(page as u8);
            guard[..8].copy_from_slice(&page.to_le_bytes());
            guard[8..16].copy_from_slice(MARK);
        }
        pager.checkpoint(b"").expect("checkpoint");
    }
    let pager = common::open_pager(dir.path(), POOL_PAGES);

    // The baseline's handle, and where each page is: every data block is
    // read once, which also leaves the whole file in the page cache.
    let file = std::fs::File::open(dir.path().join("pages")).expect("open the page file");
    let file_blocks = file.metadata().expect("file size").len() / PAGE_BYTES as u64;
    let mut block_of = HashMap::new();
    let mut buffer = vec![0u8; PAGE_BYTES];
    for block in FIRST_DATA_BLOCK..file_blocks {
        file.read_exact_at(&mut buffer, block * PAGE_BYTES as u64)
            .expect("read a block");
        let page = u64::from_le_bytes(buffer[..8].try_into().expect("8 bytes"));
        if &buffer[8..16] == MARK && buffer[16] == page as u8 {
            assert!(
                block_of.insert(page, block).is_none(),
                "page {page} found twice"
            );
        }
    }
    assert_eq!(block_of.len() as u64, pages, "every page found in the file");

    let mut rng = SmallRng::seed_from_u64(0x6B65_656C);
    let accesses: Vec<(PageId, u64)> = (0..ACCESSES)
        .map(|_| {
            let page = rng.random_range(1..=pages);
            (PageId::new(page), block_of[&page] * PAGE_BYTES as u64)
        })
        .collect();
    let at = |index: u64| accesses[index as usize & (ACCESSES - 1)];
    let stats_before = pager.stats();

    let mut group = c.benchmark_group("miss_reads");
    let keel = Tally::default();
    let mut next = 0u64;
    group.bench_function("pager_read_miss", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                let (page, _) = at(next);
                next += 1;
                let word = pager.read(page, |view| view.u64_at(0)).expect("read");
                debug_assert_eq!(word, page.get());
                black_box(word);
            }
            keel.record(iterations, start.elapsed())
        })
    });
    let stats = pager.stats();
    let baseline = Tally::default();
    let mut next = 0u64;
    group.bench_function("pread_4k", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                let (_, offset) = at(next);
                next += 1;
                file.read_exact_at(&mut buffer, offset).expect("read");
                black_box(&buffer);
            }
            baseline.record(iterations, start.elapsed())
        })
    });
    // For reference: the same reads into as many buffers as the pool has
    // frames, in turn, so the copies land in memory as spread as the
    // pager's (what a frame costs, apart from the pager's own work).
    let mut buffers = vec![0u8; PAGE_BYTES * POOL_PAGES as usize];
    let spread = Tally::default();
    let mut next = 0u64;
    group.bench_function("pread_4k_pool_buffers", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                let (_, offset) = at(next);
                let slot = (next % POOL_PAGES) as usize * PAGE_BYTES;
                next += 1;
                let buffer = &mut buffers[slot..slot + PAGE_BYTES];
                file.read_exact_at(buffer, offset).expect("read");
                black_box(buffer);
            }
            spread.record(iterations, start.elapsed())
        })
    });
    group.finish();

    if common::measuring() {
        let hits = stats.hits - stats_before.hits;
        let misses = stats.misses - stats_before.misses;
        eprintln!(
            "miss_reads/pager_read_miss: {pages} pages, {POOL_PAGES} frames: \
             {hits} hits and {misses} misses counted, {} evictions",
            stats.evictions - stats_before.evictions,
        );
    }
    common::report_time_ratio(
        "miss_reads: pager_read_miss / pread_4k",
        &keel,
        &baseline,
        "<= 1.3x",
    );
    common::report_time_ratio(
        "miss_reads: pager_read_miss / pread_4k_pool_buffers",
        &keel,
        &spread,
        "for reference",
    );
    // The same two loops, interleaved (see `report_paired_ratio`), if the
    // group ran (a filter may have skipped it).
    if keel.median_nanos().is_some() {
        let mut next_keel = 0u64;
        let mut next_baseline = 0u64;
        common::report_paired_ratio(
            "miss_reads: pager_read_miss / pread_4k",
            common::PAIRED_ROUNDS,
            || {
                common::timed(|| {
                    for _ in 0..PAIRED_BATCH {
                        let (page, _) = at(next_keel);
                        next_keel += 1;
                        black_box(pager.read(page, |view| view.u64_at(0)).expect("read"));
                    }
                })
            },
            || {
                common::timed(|| {
                    for _ in 0..PAIRED_BATCH {
                        let (_, offset) = at(next_baseline);
                        next_baseline += 1;
                        file.read_exact_at(&mut buffer, offset).expect("read");
                        black_box(&buffer);
                    }
                })
            },
            "<= 1.3x",
        );
    }
}

/// Reads per side in each round of the paired measurement (about 0.5 ms).
const PAIRED_BATCH: usize = 512;

/// The checksum every miss verifies: `page_checksum` (the pager's CRC32C,
/// folded by carry-less multiplication where the processor can, by the
/// method it timed fastest, which is printed) next to
/// the `crc32c` crate's hardware `crc32` path, over one 4 KiB page that
/// stays in the L1 cache, and the ratio of the two.
fn page_checksum(c: &mut Criterion) {
    let page: Vec<u8> = (0..PAGE_BYTES as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let id = PageId::new(7);
    assert_eq!(
        keel_pager::checksum::page_checksum(id, &page),
        crc32c::crc32c_append(crc32c::crc32c(&id.get().to_le_bytes()), &page),
    );
    let mut group = c.benchmark_group("page_checksum");
    let keel = Tally::default();
    group.bench_function("pager_page_checksum_4k", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(keel_pager::checksum::page_checksum(id, black_box(&page)));
            }
            keel.record(iterations, start.elapsed())
        })
    });
    let baseline = Tally::default();
    group.bench_function("crc32c_crate_4k", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(crc32c::crc32c(black_box(&page)));
            }
            baseline.record(iterations, start.elapsed())
        })
    });
    group.finish();
    if common::measuring() {
        eprintln!(
            "page_checksum: this processor's folding method: {:?}",
            keel_pager::checksum::folding_method()
        );
    }
    common::report_time_ratio(
        "page_checksum: pager_page_checksum_4k / crc32c_crate_4k",
        &keel,
        &baseline,
        "< 1: faster than the crate",
    );
}

criterion_group! {
    name = benches;
    config = common::config(30, 5);
    targets = miss_reads, page_checksum
}
criterion_main!(benches);

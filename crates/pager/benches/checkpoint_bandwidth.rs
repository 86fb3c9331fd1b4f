//! Checkpoint bandwidth: how fast `Pager::checkpoint` makes dirty pages
//! durable, next to writing the same bytes sequentially and syncing once.
//!
//! * `pager_checkpoint`: a pager holding `PAGES` pages (4096 pages of
//!   4 KiB, 16 MiB; 64 when only testing) in a pool big enough for all of
//!   them. Before each iteration, untimed, the one writer changes every
//!   page (an exclusive latch and an 8-byte write each); the iteration is
//!   the `checkpoint` call alone: the pages written out of place in block
//!   order, the changed map nodes, a sync, the meta slot, a second sync.
//! * `sequential_4k_sync_data`: the same number of page bytes written in
//!   4 KiB `write_all_at`s (the pager's chunking: one write per page) from
//!   the start of a preallocated file, then one `sync_data`.
//! * `sequential_1m_sync_data`: the same in 1 MiB writes, for reference.
//!
//! Each baseline file was first written whole in writes of the size it is
//! measured with. That matters on this machine's kernel (6.18, ext4): 16 MiB
//! of 4 KiB overwrites took `fdatasync` 3.9 ms in a file first written in
//! 1 MiB writes and 10.8 ms in one first written in 4 KiB writes (measured
//! while writing this bench; most likely the page cache keeping the large
//! folios the first writes made). The pager's file is only ever written page
//! by page, so its baseline is too.
//!
//! After the group, the checkpoint and `sequential_1m_sync_data` also run
//! interleaved, and the ratio of their fastest rounds is printed
//! (`common::report_paired_ratio`): on a shared machine, the steadier
//! figure.
//!
//! Throughput is in page bytes (map nodes and the meta slot are the
//! pager's overhead). Target: the checkpoint's bandwidth at least 0.7x
//! that of sequential writes, held against the stronger baseline,
//! `sequential_1m_sync_data`. After the run, stderr also gets the
//! file sizes the checkpoints left: a file that is cut after one checkpoint
//! and grown again by the next drops those blocks' page cache and writes
//! into freshly allocated extents.
//!
//! ```text
//! cargo bench -p keel-pager --bench checkpoint_bandwidth -- --warm-up-time 1 --measurement-time 10
//! ```

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Tally;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel_io::{FileHandle, OpenMode, StdVfs, Vfs};
use keel_pager::{PAGE_SIZE_DEFAULT, PageId};

const PAGE_BYTES: usize = PAGE_SIZE_DEFAULT as usize;
/// Size of each write of the reference baseline.
const LARGE_WRITE_BYTES: usize = 1 << 20;

/// Pages dirtied and checkpointed per iteration: 16 MiB when measuring.
fn pages() -> u64 {
    if common::measuring() { 4096 } else { 64 }
}

/// `file_bytes` preallocated and written once in writes of `write_bytes`,
/// so that the baselines overwrite allocated, initialized blocks whose
/// page-cache folios were made by writes of the size they are measured
/// with (see the module docs).
fn written_file(path: &std::path::Path, file_bytes: u64, write_bytes: usize) -> FileHandle {
    let file = StdVfs::new()
        .open(path, OpenMode::CreateNew)
        .expect("create the bare file");
    file.allocate(0, file_bytes)
        .expect("preallocate the bare file");
    let zeros = vec![0u8; write_bytes];
    let mut offset = 0;
    while offset < file_bytes {
        let bytes = (file_bytes - offset).min(write_bytes as u64);
        file.write_all_at(&zeros[..bytes as usize], offset)
            .expect("fill the bare file");
        offset += bytes;
    }
    file.sync_data().expect("sync the bare file");
    file
}

/// Writes `total_bytes` from offset 0 in writes of `write.len()` bytes,
/// then syncs; returns the time taken.
fn write_sequentially(file: &FileHandle, write: &[u8], total_bytes: u64) -> Duration {
    let start = Instant::now();
    let mut offset = 0;
    while offset < total_bytes {
        let bytes = (total_bytes - offset).min(write.len() as u64);
        file.write_all_at(&write[..bytes as usize], offset)
            .expect("write the bare file");
        offset += bytes;
    }
    file.sync_data().expect("sync the bare file");
    start.elapsed()
}

fn checkpoint_bandwidth(c: &mut Criterion) {
    let pages = pages();
    let page_bytes = pages * PAGE_BYTES as u64;
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let pager = common::open_pager(dir.path(), pages + 64);
    for page in 1..=pages {
        let mut guard = pager.allocate().expect("allocate a page");
        assert_eq!(
            guard.page_id(),
            PageId::new(page),
            "ids are handed out densely"
        );
        guard.fill(page as u8);
    }
    pager.checkpoint(b"").expect("checkpoint");

    let mut group = c.benchmark_group("checkpoint_bandwidth");
    group.throughput(Throughput::Bytes(page_bytes));

    let keel = Tally::default();
    let mut round = 0u64;
    // File size after each checkpoint → how many checkpoints left it so.
    let mut file_sizes = BTreeMap::<u64, u64>::new();
    let mut size_changes = 0u64;
    let mut last_size = pager.stats().file_blocks * PAGE_BYTES as u64;
    group.bench_function("pager_checkpoint", |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iterations {
                round += 1;
                for page in 1..=pages {
                    let mut guard = pager.exclusive(PageId::new(page)).expect("latch a page");
                    guard[..8].copy_from_slice(&round.to_le_bytes());
                }
                let start = Instant::now();
                let report = pager.checkpoint(&round.to_le_bytes()).expect("checkpoint");
                elapsed += start.elapsed();
                assert_eq!(report.pages_written, pages);
                *file_sizes.entry(report.file_bytes).or_default() += 1;
                size_changes += u64::from(report.file_bytes != last_size);
                last_size = report.file_bytes;
            }
            keel.record(iterations, elapsed)
        })
    });

    let bare = written_file(&dir.path().join("bare-4k"), page_bytes, PAGE_BYTES);
    let page_write = vec![0xA5u8; PAGE_BYTES];
    let baseline = Tally::default();
    group.bench_function("sequential_4k_sync_data", |b| {
        b.iter_custom(|iterations| {
            let elapsed = (0..iterations)
                .map(|_| write_sequentially(&bare, &page_write, page_bytes))
                .sum();
            baseline.record(iterations, elapsed)
        })
    });
    let bare = written_file(&dir.path().join("bare-1m"), page_bytes, LARGE_WRITE_BYTES);
    let large_write = vec![0xA5u8; LARGE_WRITE_BYTES];
    let large = Tally::default();
    group.bench_function("sequential_1m_sync_data", |b| {
        b.iter_custom(|iterations| {
            let elapsed = (0..iterations)
                .map(|_| write_sequentially(&bare, &large_write, page_bytes))
                .sum();
            large.record(iterations, elapsed)
        })
    });
    group.finish();

    if common::measuring() && round > 0 {
        let sizes: Vec<String> = file_sizes
            .iter()
            .map(|(bytes, count)| {
                format!("{:.2} MiB × {count}", *bytes as f64 / f64::from(1 << 20))
            })
            .collect();
        eprintln!(
            "checkpoint_bandwidth/pager_checkpoint: {round} checkpoints of {pages} pages; \
             file sizes after them: {}; the size changed {size_changes} times",
            sizes.join(", "),
        );
    }
    let name = "checkpoint_bandwidth";
    common::report_bandwidth_ratio(
        &format!("{name}: pager_checkpoint / sequential_4k_sync_data"),
        page_bytes,
        &keel,
        &baseline,
        ">= 0.7x",
    );
    common::report_bandwidth_ratio(
        &format!("{name}: pager_checkpoint / sequential_1m_sync_data"),
        page_bytes,
        &keel,
        &large,
        ">= 0.7x",
    );
    if keel.median_nanos().is_some() && large.median_nanos().is_some() {
        // The checkpoint and the 1 MiB baseline interleaved (see
        // `common::report_paired_ratio`); a time ratio, so the bandwidth ratio
        // is its inverse.
        common::report_paired_ratio(
            &format!("{name}: pager_checkpoint / sequential_1m_sync_data (time)"),
            PAIRED_ROUNDS,
            || {
                round += 1;
                for page in 1..=pages {
                    let mut guard = pager.exclusive(PageId::new(page)).expect("latch a page");
                    guard[..8].copy_from_slice(&round.to_le_bytes());
                }
                common::timed(|| {
                    pager.checkpoint(&round.to_le_bytes()).expect("checkpoint");
                })
            },
            || write_sequentially(&bare, &large_write, page_bytes),
            "<= 1.43x, i.e. bandwidth >= 0.7x",
        );
    }
}

/// Rounds of the interleaved measurement (each side is milliseconds).
const PAIRED_ROUNDS: usize = 61;

criterion_group! {
    name = benches;
    config = common::config(10, 10);
    targets = checkpoint_bandwidth
}
criterion_main!(benches);

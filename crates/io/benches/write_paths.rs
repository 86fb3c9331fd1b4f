//! The two write patterns keel cares about, on the std path and (with the
//! `io-uring` feature) through io_uring, in the same run:
//!
//! * `wal_append_sync`: append 4 KiB to a preallocated file and fdatasync
//!   (a WAL group-commit flush).
//! * `checkpoint_64_pages_sync`: 64 scattered 4 KiB page writes, then one
//!   fdatasync (a small checkpoint).
//!
//! `cargo bench -p keel-io --features io-uring --bench write_paths`

use std::path::Path;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use keel_io::{FileHandle, OpenMode, StdVfs, Vfs, WriteAt};

const PAGE_BYTES: usize = 4096;
const FILE_BYTES: u64 = 64 << 20;
const CHECKPOINT_PAGES: u64 = 64;

fn backends(dir: &Path) -> Vec<(&'static str, FileHandle)> {
    let mut files = Vec::new();
    let std = StdVfs::new()
        .open(&dir.join("std"), OpenMode::CreateNew)
        .expect("create std file");
    files.push(("std", std));
    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    if let Some(uring) = keel_io::UringVfs::new() {
        let file = uring
            .open(&dir.join("uring"), OpenMode::CreateNew)
            .expect("create uring file");
        files.push(("io_uring", file));
    }
    for (_, file) in &files {
        // Written once so that later writes overwrite allocated blocks.
        file.allocate(0, FILE_BYTES).expect("allocate");
        let zeros = vec![0u8; 1 << 20];
        for offset in (0..FILE_BYTES).step_by(zeros.len()) {
            file.write_all_at(&zeros, offset).expect("fill");
        }
        file.sync_data().expect("sync");
    }
    files
}

fn write_paths(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = backends(dir.path());
    let page = vec![0xA5u8; PAGE_BYTES];

    let mut group = c.benchmark_group("wal_append_sync");
    for (name, file) in &files {
        let mut offset = 0u64;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let write = [WriteAt {
                    offset,
                    data: &page,
                }];
                file.write_batch(&write, true).expect("append");
                offset = (offset + PAGE_BYTES as u64) % FILE_BYTES;
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("checkpoint_64_pages_sync");
    let blocks = FILE_BYTES / PAGE_BYTES as u64;
    for (name, file) in &files {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let mut offsets: Vec<u64> = (0..CHECKPOINT_PAGES)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state % blocks) * PAGE_BYTES as u64
                    })
                    .collect();
                // Checkpoints write in block order.
                offsets.sort_unstable();
                let writes: Vec<WriteAt<'_>> = offsets
                    .iter()
                    .map(|&offset| WriteAt {
                        offset,
                        data: &page,
                    })
                    .collect();
                file.write_batch(&writes, true).expect("checkpoint");
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = write_paths
}
criterion_main!(benches);

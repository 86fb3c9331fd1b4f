//! Append bandwidth: `Wal::append` with `Durability::None` of records of
//! about 4 KiB framed (one put, 24-byte key, 4000-byte value) and one
//! `Wal::sync` at the end of each measured batch, next to the sequential
//! write bandwidth of the same bytes in the same run: 1 MiB `write_all_at`s
//! to a preallocated file and one final `sync_data`. Read the ratio of the
//! two throughputs. Each batch starts a fresh log (and a fresh file), so
//! the disk holds one batch at a time.
//!
//! ```text
//! cargo bench -p keel-wal --bench append_throughput -- --warm-up-time 1 --measurement-time 5
//! ```

mod common;

use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel_wal::Durability;

/// Value of each record: with the key and framing, about 4 KiB.
const VALUE_BYTES: usize = 4000;
/// Size of each write of the baseline.
const WRITE_BYTES: usize = 1 << 20;

fn append_throughput(c: &mut Criterion) {
    let record = common::commit_record(VALUE_BYTES);
    let framed_bytes = common::framed_bytes(&record);
    let mut group = c.benchmark_group("append_throughput");
    group.throughput(Throughput::Bytes(framed_bytes as u64));

    let write = vec![0xA5u8; WRITE_BYTES];
    group.bench_function("bare_sequential_write_sync_data", |b| {
        b.iter_custom(|records| {
            let dir = tempfile::tempdir().expect("create a temporary directory");
            let total_bytes = records * framed_bytes as u64;
            let mut bare = common::BareLog::create(dir.path(), total_bytes);
            let start = Instant::now();
            let mut written_bytes = 0;
            while written_bytes < total_bytes {
                let bytes = (total_bytes - written_bytes).min(WRITE_BYTES as u64);
                bare.append(&write[..bytes as usize]);
                written_bytes += bytes;
            }
            bare.sync();
            start.elapsed()
        })
    });

    group.bench_function("wal_append_none_then_sync", |b| {
        b.iter_custom(|records| {
            let dir = tempfile::tempdir().expect("create a temporary directory");
            let wal = common::open_wal(dir.path());
            let start = Instant::now();
            for _ in 0..records {
                wal.append(&record, Durability::None).expect("append");
            }
            wal.sync().expect("sync");
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config(10, 10);
    targets = append_throughput
}
criterion_main!(benches);

//! Latency of one durable commit on one thread: `Wal::commit` with
//! `Durability::Sync` of a commit record (one put, 24-byte key, 150-byte
//! value), next to a bare loop in the same run that appends the same number
//! of bytes (the framed record) to a preallocated file with `write_all_at`
//! and `sync_data`. Read the ratio wal / bare; the target is at most 1.2.
//!
//! ```text
//! cargo bench -p keel-wal --bench durable_commit_latency -- --warm-up-time 1 --measurement-time 5
//! ```

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use keel_wal::{Durability, SEGMENT_BYTES_DEFAULT};

fn durable_commit_latency(c: &mut Criterion) {
    let record = common::commit_record(common::COMMIT_VALUE_BYTES);
    let framed = vec![0xA5u8; common::framed_bytes(&record)];
    let mut group = c.benchmark_group("durable_commit_latency");

    let bare_dir = tempfile::tempdir().expect("create a temporary directory");
    let mut bare = common::BareLog::create(bare_dir.path(), SEGMENT_BYTES_DEFAULT);
    group.bench_function("bare_write_sync_data", |b| {
        b.iter(|| {
            bare.append(&framed);
            bare.sync();
        })
    });

    let wal_dir = tempfile::tempdir().expect("create a temporary directory");
    let wal = common::open_wal(wal_dir.path());
    group.bench_function("wal_commit_sync", |b| {
        b.iter(|| wal.commit(&record, Durability::Sync).expect("commit"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config(20, 10);
    targets = durable_commit_latency
}
criterion_main!(benches);

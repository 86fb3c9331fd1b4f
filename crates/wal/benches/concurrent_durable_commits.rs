//! Group commit: commits per second with 1, 2, 4, 8 and 16 committer
//! threads, each calling `Wal::commit` with `Durability::Sync` in a loop (one
//! put, 24-byte key, 150-byte value). The ceiling without group commit is
//! measured in the same group: one thread appending the same bytes to a
//! preallocated file with `write_all_at` + `sync_data` (1 / fsync latency).
//! After each committer count, stderr gets the records per fsync of that
//! run (appends / fsyncs, warm-up included); the target is at least 4 with
//! 8 or more committers.
//!
//! ```text
//! cargo bench -p keel-wal --bench concurrent_durable_commits -- --warm-up-time 1 --measurement-time 5
//! ```
//!
//! An iteration is one commit: each run's commits are shared out among the
//! threads, and the time is from their common start until the last ends.

mod common;

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keel_wal::{Durability, Record, SEGMENT_BYTES_DEFAULT, Wal, WalStats};

const COMMITTER_COUNTS: [usize; 5] = [1, 2, 4, 8, 16];

/// Runs `commits` durable commits of `record` shared out among `committers`
/// threads started together; returns the time until the last one finished.
fn commit_on_threads(wal: &Wal, record: &Record, committers: usize, commits: u64) -> Duration {
    let barrier = Barrier::new(committers + 1);
    let committers_u64 = committers as u64;
    thread::scope(|scope| {
        for index in 0..committers_u64 {
            let share = commits / committers_u64 + u64::from(index < commits % committers_u64);
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                for _ in 0..share {
                    wal.commit(record, Durability::Sync).expect("commit");
                }
            });
        }
        barrier.wait();
        // Leaving the scope joins the threads.
        Instant::now()
    })
    .elapsed()
}

fn concurrent_durable_commits(c: &mut Criterion) {
    let record = common::commit_record(common::COMMIT_VALUE_BYTES);
    let framed = vec![0xA5u8; common::framed_bytes(&record)];
    let mut group = c.benchmark_group("concurrent_durable_commits");
    group.throughput(Throughput::Elements(1));

    let bare_dir = tempfile::tempdir().expect("create a temporary directory");
    let mut bare = common::BareLog::create(bare_dir.path(), SEGMENT_BYTES_DEFAULT);
    group.bench_function(BenchmarkId::new("bare_write_sync_data", 1), |b| {
        b.iter(|| {
            bare.append(&framed);
            bare.sync();
        })
    });

    for committers in COMMITTER_COUNTS {
        let wal_dir = tempfile::tempdir().expect("create a temporary directory");
        let wal = common::open_wal(wal_dir.path());
        // The first commit also creates the segment (an fsync more): not counted.
        wal.commit(&record, Durability::Sync).expect("commit");
        let appends_before = WalStats::get(&wal.stats().appends);
        let fsyncs_before = WalStats::get(&wal.stats().fsyncs);
        group.bench_function(BenchmarkId::new("wal_commit_sync", committers), |b| {
            b.iter_custom(|commits| commit_on_threads(&wal, &record, committers, commits))
        });
        let appends = WalStats::get(&wal.stats().appends) - appends_before;
        let fsyncs = WalStats::get(&wal.stats().fsyncs) - fsyncs_before;
        // Nothing ran when a filter skipped this committer count.
        if appends > 0 {
            eprintln!(
                "concurrent_durable_commits/wal_commit_sync/{committers}: \
                 {appends} records, {fsyncs} fsyncs, {:.2} records per fsync",
                appends as f64 / fsyncs.max(1) as f64
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config(10, 8);
    targets = concurrent_durable_commits
}
criterion_main!(benches);

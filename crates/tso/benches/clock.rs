//! What issuing a timestamp costs: `HybridClock::now` on one and on two
//! threads, next to a bare `AtomicU64::fetch_add` in the same groups (the
//! floor for any shared counter, so the ratio can be read off), and
//! `LocalOracle::next` over the real file system.
//!
//! ```text
//! cargo bench -p keel-tso --bench clock -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! In the two-thread group each iteration is one call on *each* thread, so
//! a time per iteration is the time per call as each thread sees it.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use keel_tso::{HybridClock, LocalOracle, ManualClock, OracleOptions, TimestampOracle};

const THREADS: usize = 2;

/// Runs `operation` `iterations` times on each of `THREADS` threads started
/// together; returns the time until the last one finished.
fn on_threads(iterations: u64, operation: &(dyn Fn() + Sync)) -> Duration {
    let barrier = Barrier::new(THREADS + 1);
    thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                barrier.wait();
                for _ in 0..iterations {
                    operation();
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // Leaving the scope joins the threads.
        start
    })
    .elapsed()
}

fn one_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("1 thread");
    let counter = AtomicU64::new(0);
    group.bench_function("AtomicU64::fetch_add", |b| {
        b.iter(|| black_box(counter.fetch_add(1, Ordering::Relaxed)));
    });
    let clock = HybridClock::system();
    group.bench_function("HybridClock::now (system clock)", |b| {
        b.iter(|| black_box(clock.now()));
    });
    let manual = HybridClock::new(ManualClock::new(1_795_345_560_123), 500);
    group.bench_function("HybridClock::now (manual clock)", |b| {
        b.iter(|| black_box(manual.now()));
    });
    let directory = tempfile::tempdir().unwrap();
    let oracle = LocalOracle::open(
        keel_io::default_vfs(),
        &directory.path().join("timestamps"),
        OracleOptions::default(),
    )
    .unwrap();
    group.bench_function("LocalOracle::next (StdVfs)", |b| {
        b.iter(|| black_box(oracle.next().unwrap()));
    });
    group.finish();
}

fn two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("2 threads");
    let counter = Arc::new(AtomicU64::new(0));
    group.bench_function("AtomicU64::fetch_add", |b| {
        b.iter_custom(|iterations| {
            on_threads(iterations, &|| {
                black_box(counter.fetch_add(1, Ordering::Relaxed));
            })
        });
    });
    let clock = HybridClock::system();
    group.bench_function("HybridClock::now (system clock)", |b| {
        b.iter_custom(|iterations| {
            on_threads(iterations, &|| {
                black_box(clock.now());
            })
        });
    });
    let manual = HybridClock::new(ManualClock::new(1_795_345_560_123), 500);
    group.bench_function("HybridClock::now (manual clock)", |b| {
        b.iter_custom(|iterations| {
            on_threads(iterations, &|| {
                black_box(manual.now());
            })
        });
    });
    let directory = tempfile::tempdir().unwrap();
    let oracle = LocalOracle::open(
        keel_io::default_vfs(),
        &directory.path().join("timestamps"),
        OracleOptions::default(),
    )
    .unwrap();
    group.bench_function("LocalOracle::next (StdVfs)", |b| {
        b.iter_custom(|iterations| {
            on_threads(iterations, &|| {
                black_box(oracle.next().unwrap());
            })
        });
    });
    group.finish();
}

criterion_group!(benches, one_thread, two_threads);
criterion_main!(benches);

#![allow(clippy::unwrap_used)]
//! Several threads issuing timestamps at once: every timestamp is distinct,
//! each thread's are increasing, and the oracle's are all covered by its
//! durable mark and stay below what it issues after a crash.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;

use keel_io::{CrashMode, SimVfs};
use keel_tso::{HybridClock, LocalOracle, OracleOptions, Timestamp, TimestampOracle};

const THREADS: usize = 4;
const CALLS_PER_THREAD: usize = 50_000;

/// Runs `issue` on `THREADS` threads started together; returns each
/// thread's timestamps in the order it got them.
fn on_threads(issue: impl Fn(usize) -> Vec<Timestamp> + Sync) -> Vec<Vec<Timestamp>> {
    let barrier = Barrier::new(THREADS);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|thread| {
                let barrier = &barrier;
                let issue = &issue;
                scope.spawn(move || {
                    barrier.wait();
                    issue(thread)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    })
}

/// Asserts each thread's timestamps increase and all are distinct; returns
/// them all, sorted.
fn check_distinct_and_increasing(per_thread: &[Vec<Timestamp>]) -> Vec<Timestamp> {
    for timestamps in per_thread {
        assert!(timestamps.windows(2).all(|pair| pair[0] < pair[1]));
    }
    let mut all: Vec<Timestamp> = per_thread.iter().flatten().copied().collect();
    let issued = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        all.len(),
        issued,
        "{} duplicate timestamps",
        issued - all.len()
    );
    all
}

#[test]
fn concurrent_now_and_reserve_on_the_system_clock_are_distinct() {
    let clock = HybridClock::system();
    let per_thread = on_threads(|thread| {
        let mut timestamps = Vec::with_capacity(CALLS_PER_THREAD + 1_000);
        for call in 0..CALLS_PER_THREAD {
            // One thread also takes batches, which must not overlap anything.
            if thread == 0 && call % 100 == 0 {
                timestamps.extend(clock.reserve(17).unwrap());
            } else {
                timestamps.push(clock.now());
            }
        }
        timestamps
    });
    let all = check_distinct_and_increasing(&per_thread);
    assert_eq!(all.last(), Some(&clock.last()));
}

#[test]
fn concurrent_oracle_calls_are_distinct_and_covered_by_the_mark() {
    let vfs = Arc::new(SimVfs::new(0));
    let path = Path::new("/timestamps");
    // A 1 ms window on the system clock: the threads race to extend the
    // mark many times.
    let options = OracleOptions {
        window_ms: 1,
        ..OracleOptions::default()
    };
    let oracle = LocalOracle::open(vfs.clone(), path, options).unwrap();
    let operations = vfs.operations();
    let per_thread = on_threads(|thread| {
        let mut timestamps = Vec::with_capacity(CALLS_PER_THREAD);
        for call in 0..CALLS_PER_THREAD / 5 {
            if (thread + call) % 10 == 0 {
                timestamps.extend(oracle.next_batch(3).unwrap());
            } else {
                let timestamp = oracle.next().unwrap();
                assert!(timestamp < oracle.durable_mark());
                timestamps.push(timestamp);
            }
        }
        timestamps
    });
    let all = check_distinct_and_increasing(&per_thread);
    let max = *all.last().unwrap();
    assert!(max < oracle.durable_mark());
    assert!(vfs.operations() > operations, "the mark was never extended");
    drop(oracle);

    vfs.crash(CrashMode::LoseUnsynced);
    let reopened = LocalOracle::open(vfs, path, options).unwrap();
    assert!(reopened.next().unwrap() > max);
}

//! Loom models of the hybrid clock: every interleaving (up to the
//! preemption bound) of threads calling `now`, `update`, `reserve` and
//! `advance_to` while the wall clock moves, including backwards.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release -p keel-tso --test loom_clock
//! ```

#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use keel_tso::{HybridClock, ManualClock, Timestamp};
use loom::sync::Arc;
use loom::thread;

const MAX_OFFSET_MS: u64 = 5;

fn clock_at(wall_ms: u64) -> Arc<HybridClock<ManualClock>> {
    Arc::new(HybridClock::new(ManualClock::new(wall_ms), MAX_OFFSET_MS))
}

fn assert_increasing(timestamps: &[Timestamp]) {
    assert!(
        timestamps.windows(2).all(|pair| pair[0] < pair[1]),
        "not increasing: {timestamps:?}"
    );
}

fn assert_distinct(timestamps: &[Timestamp]) {
    let mut sorted = timestamps.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        timestamps.len(),
        "duplicates in {timestamps:?}"
    );
}

#[test]
fn now_on_two_threads_while_the_wall_clock_goes_backwards() {
    loom::model(|| {
        let clock = clock_at(10);
        let other = clock.clone();
        let handle = thread::spawn(move || [other.now(), other.now()]);
        let first = clock.now();
        clock.physical_clock().set_ms(8);
        let second = clock.now();
        let theirs = handle.join().unwrap();
        assert_increasing(&theirs);
        assert_increasing(&[first, second]);
        let all = [first, second, theirs[0], theirs[1]];
        assert_distinct(&all);
        assert_eq!(clock.last(), *all.iter().max().unwrap());
    });
}

#[test]
fn update_races_now_and_stays_above_the_remote_timestamp() {
    loom::model(|| {
        let clock = clock_at(10);
        let remote = Timestamp::new(13, 2).unwrap();
        let updater = clock.clone();
        let update = thread::spawn(move || {
            let updated = updater.update(remote).unwrap();
            [updated, updater.now()]
        });
        let reader = clock.clone();
        let now = thread::spawn(move || [reader.now(), reader.now()]);
        // The wall clock moves forwards meanwhile.
        clock.physical_clock().set_ms(12);
        let updates = update.join().unwrap();
        let nows = now.join().unwrap();
        assert!(updates[0] > remote, "{:?} <= {remote:?}", updates[0]);
        assert_increasing(&updates);
        assert_increasing(&nows);
        assert_distinct(&[updates[0], updates[1], nows[0], nows[1]]);
    });
}

#[test]
fn reserve_races_now_and_advance_to_without_overlap() {
    loom::model(|| {
        let clock = clock_at(10);
        let target = Timestamp::new(20, 0).unwrap();
        let reserver = clock.clone();
        let reserve = thread::spawn(move || reserver.reserve(3).unwrap());
        let advancer = clock.clone();
        let advance = thread::spawn(move || {
            advancer.advance_to(target);
            advancer.now()
        });
        let mine = clock.now();
        let range = reserve.join().unwrap();
        let after_target = advance.join().unwrap();
        assert!(after_target > target);
        assert_eq!(range.count(), 3);
        let mut all: Vec<Timestamp> = range.into_iter().collect();
        all.extend([mine, after_target]);
        assert_distinct(&all);
        assert!(clock.last() >= *all.iter().max().unwrap());
    });
}

#[test]
fn now_on_three_threads() {
    loom::model(|| {
        let clock = clock_at(10);
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let clock = clock.clone();
                thread::spawn(move || clock.now())
            })
            .collect();
        let mine = clock.now();
        let mut all = vec![mine];
        all.extend(handles.into_iter().map(|handle| handle.join().unwrap()));
        assert_distinct(&all);
        // Nothing moved the wall clock: the three are (10, 0), (10, 1), (10, 2).
        all.sort_unstable();
        assert_eq!(all.last(), Some(&Timestamp::new(10, 2).unwrap()));
    });
}

//! Loom models of the combining sequencer lock (`src/combine.rs`), the real
//! code on loom's mutexes and condition variables: committers queueing
//! jobs and trying the lock while others combine or hold it plainly.
//!
//! Checked in every interleaving: every job runs exactly once and its
//! owner gets its result; no owner sleeps forever (a lost nudge would
//! leave a waiter blocked, which loom reports as a deadlock).
#![cfg(loom)]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::sync::Arc;

use keel_mvcc::combine::{Combiner, Held};
use loom::thread;

/// Runs each queued job (adds it to the state) and answers with the state
/// after it.
fn add(mut held: Held<'_, u64, u64, u64>) {
    for queued in held.take_queued() {
        *held += *queued.job();
        queued.finish(*held);
    }
}

#[test]
fn committers_each_get_their_own_result() {
    loom::model(|| {
        let combiner = Arc::new(Combiner::<u64, u64, u64>::new(0));
        let others: Vec<_> = [1u64, 10]
            .into_iter()
            .map(|job| {
                let combiner = Arc::clone(&combiner);
                thread::spawn(move || combiner.run(job, add))
            })
            .collect();
        let mine = combiner.run(100, add);
        let mut results: Vec<u64> = others.into_iter().map(|t| t.join().unwrap()).collect();
        results.push(mine);
        assert_eq!(*combiner.lock(), 111, "every job ran once");
        // Each result is the state right after its own job.
        results.sort_unstable();
        assert_eq!(results.last(), Some(&111));
        let mut state = 0;
        for result in results {
            assert!(result > state, "results are distinct states");
            state = result;
        }
    });
}

#[test]
fn a_plain_holder_never_strands_a_queued_committer() {
    loom::model(|| {
        let combiner = Arc::new(Combiner::<u64, u64, u64>::new(0));
        let committer = {
            let combiner = Arc::clone(&combiner);
            thread::spawn(move || combiner.run(5, add))
        };
        // A plain hold (as the fold's collection and two-phase commit
        // take the sequencer), released without combining anything.
        {
            let mut held = combiner.lock();
            *held += 1;
            // A point where the committer may run while the lock is held.
            thread::yield_now();
        }
        let result = committer.join().unwrap();
        assert!(result == 5 || result == 6, "got {result}");
        assert_eq!(*combiner.lock(), 6);
    });
}

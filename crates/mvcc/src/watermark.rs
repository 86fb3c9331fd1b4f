//! The visible watermark: the highest timestamp at or below which every
//! commit is finished (durable and installed, or failed and withdrawn). New
//! transactions read at it, so a reader never meets a pending version it
//! would have to wait for, and a commit that fails after taking its
//! timestamp leaves no hole: its timestamp is finished like any other.
//!
//! Commit timestamps enter in increasing order (inside the sequencer
//! critical section) and may finish in any order; the watermark advances
//! over the finished prefix.
//!
//! Public so that the loom model (`tests/loom_watermark.rs`) exercises this
//! exact code; the engine does not use it directly.

use std::collections::VecDeque;

use keel_tso::Timestamp;

use crate::sync::{AtomicU64, Condvar, Mutex, Ordering, lock, wait};

#[derive(Debug)]
struct InFlight {
    timestamp: Timestamp,
    finished: bool,
}

#[derive(Debug)]
struct Queue {
    /// Commits that took a timestamp and have not all been passed yet, in
    /// timestamp order.
    in_flight: VecDeque<InFlight>,
    /// The last timestamp that entered.
    last_begun: Timestamp,
    /// Threads in `wait_visible`: `finish` wakes them only if there are any
    /// (a wake is a system call).
    waiters: usize,
}

/// The visible watermark and the commits in flight above it.
#[derive(Debug)]
pub struct Watermark {
    queue: Mutex<Queue>,
    visible: AtomicU64,
    advanced: Condvar,
}

impl Watermark {
    /// A watermark at `initial`, nothing in flight.
    pub fn new(initial: Timestamp) -> Watermark {
        Watermark {
            queue: Mutex::new(Queue {
                in_flight: VecDeque::new(),
                last_begun: initial,
                waiters: 0,
            }),
            visible: AtomicU64::new(initial.as_u64()),
            advanced: Condvar::new(),
        }
    }

    /// The visible watermark (acquire: everything finished at or below it
    /// is seen).
    pub fn visible(&self) -> Timestamp {
        Timestamp::from_u64(self.visible.load(Ordering::Acquire))
    }

    /// The newest timestamp that entered (a commit's, or a raise's): under
    /// the sequencer, every commit at or below it has been sequenced.
    pub fn last_begun(&self) -> Timestamp {
        lock(&self.queue).last_begun
    }

    /// A commit took `timestamp`, which must be above every timestamp that
    /// entered before (asserted: log order is commit-timestamp order).
    pub fn begin(&self, timestamp: Timestamp) {
        let mut queue = lock(&self.queue);
        assert!(
            timestamp > queue.last_begun,
            "commit timestamps enter in order: {timestamp} after {}",
            queue.last_begun
        );
        queue.last_begun = timestamp;
        queue.in_flight.push_back(InFlight {
            timestamp,
            finished: false,
        });
    }

    /// The commit at `timestamp` is finished (its versions' state is final):
    /// the watermark advances over every finished timestamp at the front.
    pub fn finish(&self, timestamp: Timestamp) {
        let mut queue = lock(&self.queue);
        let position = queue
            .in_flight
            .binary_search_by(|in_flight| in_flight.timestamp.cmp(&timestamp));
        let Ok(position) = position else {
            panic!("finishing commit {timestamp}, which is not in flight");
        };
        assert!(
            !queue.in_flight[position].finished,
            "commit {timestamp} finished twice"
        );
        queue.in_flight[position].finished = true;
        let mut passed = None;
        while queue.in_flight.front().is_some_and(|front| front.finished) {
            passed = queue.in_flight.pop_front().map(|front| front.timestamp);
        }
        if let Some(passed) = passed {
            self.visible.store(passed.as_u64(), Ordering::Release);
            let waiters = queue.waiters;
            drop(queue);
            if waiters > 0 {
                self.advanced.notify_all();
            }
        }
    }

    /// Waits until the watermark is at or above `timestamp`, which must have
    /// entered (so that a commit is acknowledged only once a transaction
    /// beginning after it sees it).
    pub fn wait_visible(&self, timestamp: Timestamp) {
        if self.visible() >= timestamp {
            return;
        }
        let mut queue = lock(&self.queue);
        while self.visible() < timestamp {
            assert!(
                timestamp <= queue.last_begun,
                "waiting for {timestamp}, which never entered"
            );
            queue.waiters += 1;
            queue = wait(&self.advanced, queue);
            queue.waiters -= 1;
        }
    }

    /// Raises the watermark to `timestamp` with nothing in flight (recovery,
    /// after replaying commits up to it). Never lowers it.
    pub fn raise(&self, timestamp: Timestamp) {
        let mut queue = lock(&self.queue);
        assert!(queue.in_flight.is_empty(), "raising with commits in flight");
        if timestamp > queue.last_begun {
            queue.last_begun = timestamp;
        }
        if timestamp > self.visible() {
            self.visible.store(timestamp.as_u64(), Ordering::Release);
        }
    }

    /// Commits in flight (entered and not yet passed).
    pub fn in_flight(&self) -> usize {
        lock(&self.queue).in_flight.len()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn at(raw: u64) -> Timestamp {
        Timestamp::from_u64(raw)
    }

    #[test]
    fn advances_over_the_finished_prefix_only() {
        let watermark = Watermark::new(at(10));
        for raw in [11, 12, 13] {
            watermark.begin(at(raw));
        }
        watermark.finish(at(12));
        assert_eq!(watermark.visible(), at(10), "11 is still in flight");
        watermark.finish(at(11));
        assert_eq!(watermark.visible(), at(12));
        assert_eq!(watermark.in_flight(), 1);
        watermark.finish(at(13));
        assert_eq!(watermark.visible(), at(13));
        assert_eq!(watermark.in_flight(), 0);
        watermark.wait_visible(at(13));
    }

    #[test]
    fn raise_never_lowers() {
        let watermark = Watermark::new(at(10));
        watermark.raise(at(5));
        assert_eq!(watermark.visible(), at(10));
        watermark.raise(at(20));
        assert_eq!(watermark.visible(), at(20));
        watermark.begin(at(21));
        watermark.finish(at(21));
        assert_eq!(watermark.visible(), at(21));
    }

    #[test]
    #[should_panic(expected = "commit timestamps enter in order")]
    fn timestamps_entering_out_of_order_are_a_bug() {
        let watermark = Watermark::new(at(10));
        watermark.begin(at(12));
        watermark.begin(at(11));
    }
}

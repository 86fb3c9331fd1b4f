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
//! Settling: a commit that waits for its log record to be durable can
//! attach what finishing it takes ([`Watermark::attach`]: its state turns
//! committed) and the position of its record, so that the first committer
//! back from a sync finishes every commit that sync covered
//! ([`Watermark::settle`]), in one lock hold. Without it, the commits of a
//! group woken by one sync finish one by one in whatever order they are
//! scheduled, and each waits (sleeping) for those before it: one more
//! context switch per commit.
//!
//! Public so that the loom model (`tests/loom_watermark.rs`) exercises this
//! exact code; the engine does not use it directly.

use std::collections::VecDeque;
use std::sync::Arc;

use keel_tso::Timestamp;

use crate::sync::{AtomicU64, Condvar, Mutex, MutexGuard, Ordering, lock, wait};

/// What finishing a commit on its behalf does first: its state turns
/// committed (before the watermark passes it).
pub trait Settle: Send + Sync + std::fmt::Debug {
    /// Marks the commit committed.
    fn settle(&self);
}

#[derive(Debug)]
struct InFlight {
    timestamp: Timestamp,
    finished: bool,
    /// Attached: the commit's log position, and what settling it does.
    settle: Option<(u64, Arc<dyn Settle>)>,
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

impl Queue {
    /// Where the commit at `timestamp` is in flight; `None` once the
    /// watermark passed it (a settled commit its own thread finishes
    /// late). Panics for a timestamp that never entered.
    fn find(&self, timestamp: Timestamp) -> Option<usize> {
        match self
            .in_flight
            .binary_search_by(|in_flight| in_flight.timestamp.cmp(&timestamp))
        {
            Ok(index) => Some(index),
            Err(_) => {
                // Below the last to enter and not in flight: passed.
                assert!(
                    timestamp <= self.last_begun,
                    "commit {timestamp} never entered"
                );
                None
            }
        }
    }

    /// Where the commit at `timestamp` is in flight (it must be).
    fn index(&self, timestamp: Timestamp) -> usize {
        match self.find(timestamp) {
            Some(index) => index,
            None => panic!("commit {timestamp} is not in flight"),
        }
    }
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
            settle: None,
        });
    }

    /// The commit at `timestamp`, in flight, has its versions installed
    /// and waits for its log record at `position` to be durable: once a
    /// [`Watermark::settle`] finds that position covered, it runs
    /// `settle` and finishes the commit on its behalf.
    pub fn attach(&self, timestamp: Timestamp, position: u64, settle: Arc<dyn Settle>) {
        let mut queue = lock(&self.queue);
        let index = queue.index(timestamp);
        queue.in_flight[index].settle = Some((position, settle));
    }

    /// Settles and finishes every attached commit whose log position
    /// `covered` says is durable, then advances.
    pub fn settle(&self, covered: impl Fn(u64) -> bool) {
        let mut queue = lock(&self.queue);
        for in_flight in queue.in_flight.iter_mut().filter(|entry| !entry.finished) {
            if let Some((position, settle)) = &in_flight.settle
                && covered(*position)
            {
                settle.settle();
                in_flight.finished = true;
            }
        }
        self.advance(queue);
    }

    /// The commit at `timestamp` is finished (its versions' state is final):
    /// the watermark advances over every finished timestamp at the front.
    /// A commit settled already (by [`Watermark::settle`]) is left as it
    /// is.
    pub fn finish(&self, timestamp: Timestamp) {
        self.finish_with(timestamp, || {});
    }

    /// The commit at `timestamp` failed to become durable: runs `abort` and
    /// finishes it, unless it was settled already (then it is durable and
    /// may be visible: `false`, and nothing runs).
    pub fn withdraw(&self, timestamp: Timestamp, abort: impl FnOnce()) -> bool {
        self.finish_with(timestamp, abort)
    }

    /// Runs `before` and finishes the commit at `timestamp`, unless a
    /// settle finished it already (then `false`, and nothing runs).
    fn finish_with(&self, timestamp: Timestamp, before: impl FnOnce()) -> bool {
        let mut queue = lock(&self.queue);
        let Some(index) = queue.find(timestamp) else {
            return false;
        };
        let in_flight = &mut queue.in_flight[index];
        if in_flight.finished {
            assert!(
                in_flight.settle.is_some(),
                "commit {timestamp} finished twice"
            );
            return false;
        }
        before();
        in_flight.finished = true;
        self.advance(queue);
        true
    }

    /// Passes the finished timestamps at the front and wakes waiters if
    /// the watermark moved.
    fn advance(&self, mut queue: MutexGuard<'_, Queue>) {
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
    fn a_settle_finishes_every_covered_commit_and_only_those() {
        use crate::CommitState;
        use crate::chain::CommitStatus;
        let watermark = Watermark::new(at(10));
        let statuses: Vec<Arc<CommitStatus>> =
            (0..4).map(|_| Arc::new(CommitStatus::pending())).collect();
        for (raw, status) in (11..).zip(&statuses) {
            watermark.begin(at(raw));
            // 14 attaches nothing: it finishes itself.
            if raw != 14 {
                watermark.attach(at(raw), raw * 100, Arc::clone(status) as _);
            }
        }
        // Durable below position 1250: 11 and 12, not 13.
        watermark.settle(|position| position < 1250);
        assert_eq!(watermark.visible(), at(12));
        let states: Vec<_> = statuses.iter().map(|status| status.state()).collect();
        assert_eq!(
            states[..3],
            [
                CommitState::Committed,
                CommitState::Committed,
                CommitState::Pending
            ]
        );
        // Their own threads come back late: nothing changes.
        watermark.finish(at(11));
        watermark.finish(at(12));
        assert!(!watermark.withdraw(at(12), || panic!("a settled commit aborted")));
        assert_eq!(watermark.visible(), at(12));
        // 13's log failed: withdrawn, aborted, finished.
        assert!(watermark.withdraw(at(13), || statuses[2].abort()));
        assert_eq!(statuses[2].state(), CommitState::Aborted);
        assert_eq!(watermark.visible(), at(13));
        watermark.settle(|_| true);
        assert_eq!(watermark.visible(), at(13), "14 attached nothing");
        watermark.finish(at(14));
        assert_eq!((watermark.visible(), watermark.in_flight()), (at(14), 0));
    }

    #[test]
    #[should_panic(expected = "finished twice")]
    fn finishing_an_unattached_commit_twice_is_a_bug() {
        let watermark = Watermark::new(at(10));
        watermark.begin(at(11));
        watermark.begin(at(12));
        watermark.finish(at(12));
        watermark.finish(at(12));
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

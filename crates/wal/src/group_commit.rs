//! The group-commit protocol, apart from what is flushed, so that it can be
//! model-checked with loom (`tests/loom_group_commit.rs`).
//!
//! Appenders add to a buffer under the lock and take the next lsn. A caller
//! that needs records up to some lsn written (or durable) either finds them
//! so, or becomes the *leader* if no flush is running: it takes the whole
//! buffer, releases the lock, writes (and syncs) it, and publishes the new
//! end; or else waits for the flush that covers its records and looks
//! again. So one flush runs at a time, it covers every record appended
//! before it took the buffer, and an idle log needs no timer.
//!
//! Wake-ups: a flush's end wakes the waiters it covered (they return
//! without the tail lock) and one waiter it did not cover, who leads the
//! next flush at once; see [`GroupCommit`].
//!
//! Gathering: a group released by a flush comes back a moment later with
//! its next records, while the records that arrived during that flush are
//! already being flushed by a new leader; left alone, N committers settle
//! into two alternating groups of N/2 per sync. So a syncing leader whose
//! previous flush carried a group of k > 1 records first waits, briefly
//! (half the last flush's time, at most [`GATHER_WAIT_MAX`]), until k
//! records are buffered: one group of N per sync. A lone committer
//! (k = 1) never waits.

use std::time::{Duration, Instant};

use crate::lsn::Lsn;
use crate::sync::{Condvar, Mutex, MutexGuard, lock, wait};

/// What the protocol flushes: the write-ahead log, or a model of it.
pub trait Flusher {
    /// What appenders add to between flushes.
    type Buffer;
    /// What a leader takes out of the buffer to write.
    type Batch;
    /// A write or sync failure; it latches the log.
    type Error: Clone;

    /// Takes everything buffered.
    fn take(&self, buffer: &mut Self::Buffer) -> Self::Batch;

    /// Writes a batch and, if `sync`, makes every record before `end`
    /// durable. Called without the lock, by one leader at a time.
    fn write(&self, batch: Self::Batch, sync: bool, end: Lsn) -> Result<(), Self::Error>;
}

/// The shared state of the protocol; `buffer` is the flusher's own.
#[derive(Debug)]
pub struct Tail<B, E> {
    /// Appended records not yet taken by a leader.
    pub buffer: B,
    /// The lsn the next append gets.
    pub next_lsn: Lsn,
    /// Every record before this is written to the OS.
    pub written_end: Lsn,
    /// Every record before this is durable.
    pub durable_end: Lsn,
    /// A leader is flushing.
    pub flushing: bool,
    /// The end of the running flush: every record before it is in its
    /// batch (the largest lsn while the leader has not taken it yet).
    pub flush_end: Lsn,
    /// Flushes ended so far: waiters sleep on the condition variable of
    /// the flush that covers their records (see [`GroupCommit`]).
    pub round: u64,
    /// Records the last flush carried.
    pub last_batch: u64,
    /// How long the last flush took.
    pub last_flush: Duration,
    /// A gathering leader waits until `next_lsn` reaches this.
    pub gather_until: Option<Lsn>,
    /// The first failure, returned to every later caller.
    pub failed: Option<E>,
}

/// The longest a syncing leader waits for its group to gather (see the
/// module docs).
pub const GATHER_WAIT_MAX: Duration = Duration::from_micros(100);

/// What a woken waiter reads, apart from the tail so that it need not
/// take the tail (held by appenders and leaders) to learn it is done.
/// Written under both locks, the tail's first.
#[derive(Debug, Default)]
struct Ends {
    /// Flushes ended (the tail's `round`).
    round: u64,
    /// The tail's `written_end` and `durable_end` after the last flush.
    written_end: Lsn,
    durable_end: Lsn,
    /// The log has failed: waiters look at the tail for the error.
    failed: bool,
    /// A flush ended while records were waiting for the next one: the
    /// waiter that takes this leads it.
    leader_wanted: bool,
    /// Threads asleep (or waking) on each of `GroupCommit::flushed`.
    waiting: [u32; 2],
}

/// The protocol: a tail behind a lock, two signals for the ends of
/// flushes, and one when a gathering leader's group has come.
///
/// Waiters sleep by the flush that will cover their records: those the
/// running flush covers on `flushed[round % 2]`, those appended after its
/// batch was taken on `flushed[(round + 1) % 2]`. When the flush ends it
/// wakes all of the first (they are done, and return without taking the
/// tail) and only one of the second, which leads the next flush at once,
/// taking every record buffered by then; the rest of its group sleep on,
/// now covered by that flush. No thread wakes only to sleep again.
#[derive(Debug)]
pub struct GroupCommit<B, E> {
    tail: Mutex<Tail<B, E>>,
    ends: Mutex<Ends>,
    /// Signalled when a flush ends, by `round % 2`, paired with `ends`.
    flushed: [Condvar; 2],
    /// Signalled when a gathering leader's group has come, paired with
    /// the tail.
    gathered: Condvar,
}

impl<B, E: Clone> GroupCommit<B, E> {
    /// A log whose next record gets `next_lsn`, everything before it durable.
    pub fn new(buffer: B, next_lsn: Lsn) -> Self {
        GroupCommit {
            tail: Mutex::new(Tail {
                buffer,
                next_lsn,
                written_end: next_lsn,
                durable_end: next_lsn,
                flushing: false,
                flush_end: next_lsn,
                round: 0,
                last_batch: 0,
                last_flush: Duration::ZERO,
                gather_until: None,
                failed: None,
            }),
            ends: Mutex::new(Ends {
                written_end: next_lsn,
                durable_end: next_lsn,
                ..Ends::default()
            }),
            flushed: [Condvar::new(), Condvar::new()],
            gathered: Condvar::new(),
        }
    }

    /// Locks the tail (to append, or to read the ends).
    pub fn lock(&self) -> MutexGuard<'_, Tail<B, E>> {
        lock(&self.tail)
    }

    /// Every record before this is durable: the end the last flush
    /// published, read without the tail (which appenders and leaders
    /// hold), so at most the tail's `durable_end`.
    pub fn durable_end(&self) -> Lsn {
        lock(&self.ends).durable_end
    }

    /// Called by an appender holding the tail after it took an lsn: wakes
    /// a gathering leader whose group is complete.
    pub fn appended(&self, tail: &Tail<B, E>) {
        if tail
            .gather_until
            .is_some_and(|until| tail.next_lsn >= until)
        {
            self.gathered.notify_one();
        }
    }

    /// Waits until the running flush ends.
    pub fn wait<'a>(&'a self, tail: MutexGuard<'a, Tail<B, E>>) -> MutexGuard<'a, Tail<B, E>> {
        let round = tail.round;
        drop(self.sleep_until_ended(tail, round));
        self.lock()
    }

    /// Releases the tail and sleeps until the flush that ends `round` (the
    /// running one, or the next) has ended, or this thread is to lead the
    /// next flush. Returns the ends.
    fn sleep_until_ended(
        &self,
        tail: MutexGuard<'_, Tail<B, E>>,
        round: u64,
    ) -> MutexGuard<'_, Ends> {
        let parity = (round % 2) as usize;
        // Taken before the tail is released: the flush cannot end (it
        // needs the tail, then the ends) before this thread sleeps.
        let mut ends = lock(&self.ends);
        drop(tail);
        ends.waiting[parity] += 1;
        while ends.round <= round && !ends.failed {
            if round == ends.round && ends.leader_wanted {
                ends.leader_wanted = false;
                break;
            }
            ends = wait(&self.flushed[parity], ends);
        }
        ends.waiting[parity] -= 1;
        ends
    }

    /// Returns once every record before `end` is written (durable, if
    /// `sync`), leading flushes or waiting for them; or the latched error.
    pub fn flush_through<F>(
        &self,
        flusher: &F,
        end: Lsn,
        sync: bool,
        batch_delay: Duration,
    ) -> Result<(), E>
    where
        F: Flusher<Buffer = B, Error = E>,
    {
        let mut tail = self.lock();
        loop {
            let reached = if sync {
                tail.durable_end
            } else {
                tail.written_end
            };
            if reached >= end {
                return Ok(());
            }
            if let Some(error) = &tail.failed {
                return Err(error.clone());
            }
            if !tail.flushing {
                tail = self.lead(flusher, tail, sync, batch_delay);
                continue;
            }
            let round = if end <= tail.flush_end {
                tail.round
            } else {
                tail.round + 1
            };
            let ends = self.sleep_until_ended(tail, round);
            let reached = if sync {
                ends.durable_end
            } else {
                ends.written_end
            };
            if reached >= end {
                return Ok(());
            }
            drop(ends);
            tail = self.lock();
        }
    }

    /// Flushes everything buffered as the leader; `tail` must show no
    /// flush running. Returns the lock, re-taken.
    pub fn lead<'a, F>(
        &'a self,
        flusher: &F,
        mut tail: MutexGuard<'a, Tail<B, E>>,
        sync: bool,
        batch_delay: Duration,
    ) -> MutexGuard<'a, Tail<B, E>>
    where
        F: Flusher<Buffer = B, Error = E>,
    {
        assert!(!tail.flushing, "one leader at a time");
        tail.flushing = true;
        // Until the batch is taken, whatever is appended joins it.
        tail.flush_end = Lsn(u64::MAX);
        lock(&self.ends).leader_wanted = false;
        if !batch_delay.is_zero() {
            // Let more records join this flush.
            drop(tail);
            std::thread::sleep(batch_delay);
            tail = self.lock();
        } else if sync {
            tail = self.gather(tail);
        }
        let batch = flusher.take(&mut tail.buffer);
        let end = tail.next_lsn;
        tail.flush_end = end;
        let batch_records = end.0.saturating_sub(tail.written_end.0);
        drop(tail);
        let started = Instant::now();
        let result = flusher.write(batch, sync, end);
        let took = started.elapsed();
        let mut tail = self.lock();
        tail.flushing = false;
        if sync {
            tail.last_batch = batch_records;
            tail.last_flush = took;
        }
        match result {
            Ok(()) => {
                debug_assert!(end >= tail.written_end);
                tail.written_end = end;
                if sync {
                    tail.durable_end = end;
                }
            }
            Err(error) => {
                tail.failed.get_or_insert(error);
            }
        }
        self.flush_ended(&mut tail);
        tail
    }

    /// Publishes the end of a flush: wakes the waiters it covered, and one
    /// of those it did not (if any) to lead the next flush; after a
    /// failure, everyone.
    fn flush_ended(&self, tail: &mut Tail<B, E>) {
        let covered = (tail.round % 2) as usize;
        let next = 1 - covered;
        tail.round += 1;
        let mut ends = lock(&self.ends);
        ends.round = tail.round;
        ends.written_end = tail.written_end;
        ends.durable_end = tail.durable_end;
        ends.failed = tail.failed.is_some();
        let wake_covered = ends.waiting[covered] > 0;
        let wake_next = ends.waiting[next] > 0;
        ends.leader_wanted = wake_next && !ends.failed;
        drop(ends);
        if wake_next {
            if tail.failed.is_some() {
                self.flushed[next].notify_all();
            } else {
                self.flushed[next].notify_one();
            }
        }
        if wake_covered {
            self.flushed[covered].notify_all();
        }
    }

    /// Waits until as many records are buffered as the last flush carried,
    /// or half its time (see the module docs). Under loom, no
    /// timed wait: never gathers.
    fn gather<'a>(&'a self, mut tail: MutexGuard<'a, Tail<B, E>>) -> MutexGuard<'a, Tail<B, E>> {
        let target = Lsn(tail.written_end.0.saturating_add(tail.last_batch));
        if cfg!(loom) || tail.last_batch <= 1 || tail.next_lsn >= target {
            return tail;
        }
        let deadline = Instant::now() + (tail.last_flush / 2).min(GATHER_WAIT_MAX);
        tail.gather_until = Some(target);
        while tail.next_lsn < target {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            tail = crate::sync::wait_timeout(&self.gathered, tail, deadline - now);
        }
        tail.gather_until = None;
        tail
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::{Flusher, GroupCommit};
    use crate::lsn::Lsn;

    /// A disk whose writes each wait for a go from the test.
    struct GatedDisk {
        go: Mutex<Receiver<()>>,
        batches: Mutex<Vec<Vec<u64>>>,
    }

    impl Flusher for GatedDisk {
        type Buffer = Vec<u64>;
        type Batch = Vec<u64>;
        type Error = ();

        fn take(&self, buffer: &mut Vec<u64>) -> Vec<u64> {
            std::mem::take(buffer)
        }

        fn write(&self, batch: Vec<u64>, _sync: bool, _end: Lsn) -> Result<(), ()> {
            self.go.lock().unwrap().recv().unwrap();
            self.batches.lock().unwrap().push(batch);
            Ok(())
        }
    }

    type Log = GroupCommit<Vec<u64>, ()>;

    fn append(log: &Log) -> Lsn {
        let mut tail = log.lock();
        let lsn = tail.next_lsn;
        tail.next_lsn = lsn.next();
        tail.buffer.push(lsn.0);
        lsn
    }

    fn gated() -> (Arc<GatedDisk>, Sender<()>) {
        let (go, gate) = channel();
        let disk = GatedDisk {
            go: Mutex::new(gate),
            batches: Mutex::new(Vec::new()),
        };
        (Arc::new(disk), go)
    }

    /// Waits until `count` threads sleep on `flushed[parity]`.
    fn until_asleep(log: &Log, parity: usize, count: u32) {
        while super::lock(&log.ends).waiting[parity] < count {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Commits `lsn` on a new thread; says when it returns (durable).
    fn commit(log: &Arc<Log>, disk: &Arc<GatedDisk>, lsn: Lsn) -> Receiver<()> {
        let (log, disk) = (Arc::clone(log), Arc::clone(disk));
        let (done, returned) = channel();
        std::thread::spawn(move || {
            log.flush_through(disk.as_ref(), lsn.next(), true, Duration::ZERO)
                .unwrap();
            done.send(()).unwrap();
        });
        returned
    }

    #[test]
    fn waiters_appended_during_a_flush_share_the_next_one() {
        let (disk, go) = gated();
        let log = Arc::new(GroupCommit::new(Vec::new(), Lsn::FIRST));
        let first = append(&log);
        let leader = commit(&log, &disk, first);
        while !log.lock().flushing {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Appended after the batch was taken: they wait for the next flush.
        let later: Vec<_> = (0..3).map(|_| append(&log)).collect();
        let waiters: Vec<_> = later.iter().map(|&lsn| commit(&log, &disk, lsn)).collect();
        until_asleep(&log, 1, 3);
        go.send(()).unwrap();
        leader.recv().unwrap();
        go.send(()).unwrap();
        for waiter in waiters {
            // A lost wake-up would leave them asleep for good.
            waiter.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        assert_eq!(
            *disk.batches.lock().unwrap(),
            vec![vec![1], vec![2, 3, 4]],
            "one of them led one flush for all"
        );
        assert_eq!(log.lock().durable_end, Lsn(5));
    }
}

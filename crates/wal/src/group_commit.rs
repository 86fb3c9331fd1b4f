//! The group-commit protocol, apart from what is flushed, so that it can be
//! model-checked with loom (`tests/loom_group_commit.rs`).
//!
//! Appenders add to a buffer under the lock and take the next lsn. A caller
//! that needs records up to some lsn written (or durable) either finds them
//! so, or becomes the *leader* if no flush is running: it takes the whole
//! buffer, releases the lock, writes (and syncs) it, and publishes the new
//! end; or else waits for the running flush to end and looks again. So one
//! flush runs at a time, it covers every record appended before it started,
//! and an idle log needs no timer.
//!
//! Gathering: a group released by a flush comes back a moment later with
//! its next records, while the records that arrived during that flush are
//! already being flushed by a new leader; left alone, N committers settle
//! into two alternating groups of N/2 per sync. So a syncing leader whose
//! previous flush carried a group of k > 1 records first waits, briefly
//! (an eighth of the last flush's time, at most [`GATHER_WAIT_MAX`]), until
//! k records are buffered: one group of N per sync. A lone committer
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

/// The protocol: a tail behind a lock, a signal when a flush ends, and
/// one when a gathering leader's group has come.
#[derive(Debug)]
pub struct GroupCommit<B, E> {
    tail: Mutex<Tail<B, E>>,
    flushed: Condvar,
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
                last_batch: 0,
                last_flush: Duration::ZERO,
                gather_until: None,
                failed: None,
            }),
            flushed: Condvar::new(),
            gathered: Condvar::new(),
        }
    }

    /// Locks the tail (to append, or to read the ends).
    pub fn lock(&self) -> MutexGuard<'_, Tail<B, E>> {
        lock(&self.tail)
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
    pub fn wait<'a>(&self, guard: MutexGuard<'a, Tail<B, E>>) -> MutexGuard<'a, Tail<B, E>> {
        wait(&self.flushed, guard)
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
            tail = if tail.flushing {
                self.wait(tail)
            } else {
                self.lead(flusher, tail, sync, batch_delay)
            };
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
        self.flushed.notify_all();
        tail
    }

    /// Waits until as many records are buffered as the last flush carried,
    /// or an eighth of its time (see the module docs). Under loom, no
    /// timed wait: never gathers.
    fn gather<'a>(&'a self, mut tail: MutexGuard<'a, Tail<B, E>>) -> MutexGuard<'a, Tail<B, E>> {
        let target = Lsn(tail.written_end.0.saturating_add(tail.last_batch));
        if cfg!(loom) || tail.last_batch <= 1 || tail.next_lsn >= target {
            return tail;
        }
        let deadline = Instant::now() + (tail.last_flush / 8).min(GATHER_WAIT_MAX);
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

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

use std::time::Duration;

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
    /// The first failure, returned to every later caller.
    pub failed: Option<E>,
}

/// The protocol: a tail behind a lock, and a signal when a flush ends.
#[derive(Debug)]
pub struct GroupCommit<B, E> {
    tail: Mutex<Tail<B, E>>,
    flushed: Condvar,
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
                failed: None,
            }),
            flushed: Condvar::new(),
        }
    }

    /// Locks the tail (to append, or to read the ends).
    pub fn lock(&self) -> MutexGuard<'_, Tail<B, E>> {
        lock(&self.tail)
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
        }
        let batch = flusher.take(&mut tail.buffer);
        let end = tail.next_lsn;
        drop(tail);
        let result = flusher.write(batch, sync, end);
        let mut tail = self.lock();
        tail.flushing = false;
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
}

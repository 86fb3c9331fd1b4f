//! The group-commit protocol, apart from what is flushed, so that it can be
//! model-checked with loom (`tests/loom_group_commit.rs`).
//!
//! Appenders add to a buffer under the lock and take the next lsn. A caller
//! that needs records up to some lsn written (or durable) either finds them
//! so, or becomes the *leader* if no one is writing: it takes the whole
//! buffer, releases the lock, writes it, and publishes the new written end;
//! if it needs them durable, it then starts a sync and releases the lock
//! again while the sync runs. Or else it waits and looks again.
//!
//! Overlapping syncs: one leader writes at a time, in lsn order, but a
//! leader does not wait for earlier syncs to end before it writes and
//! starts its own; up to [`SYNCS_IN_FLIGHT_MAX`] run at once. A sync started
//! once every record before `end` was written makes all of them durable
//! (`fdatasync` covers what was written to the file before the call),
//! whichever order syncs end in. A sync's end is published as the durable
//! end only once every sync started before it has succeeded too, so the
//! durable end only advances; after the first failure (latched and returned
//! to every later caller) nothing is published, written or synced again.
//!
//! A batch that starts a segment is written only once no sync runs, so a
//! segment is created only after the one before it was synced by the writer
//! and no sync of it is still running. An idle log needs no timer: a lone
//! committer writes and pays one sync.

use std::collections::VecDeque;
use std::time::Duration;

use crate::lsn::Lsn;
use crate::sync::{Condvar, Mutex, MutexGuard, lock, wait};

/// How many syncs may run at once (1: one at a time). More syncs in flight
/// means fewer records per sync: 2, by measurement (docs/ARCHITECTURE.md,
/// keel-wal). Each has a slot (`0..`this) of its own,
/// so a flusher can give each its own file description: a writeback error
/// is then reported to every sync it could concern, not to one of them.
pub const SYNCS_IN_FLIGHT_MAX: usize = 2;

/// A sync a leader starts: in `slot`, making every record before `end`
/// durable; the sync before it covered the records before `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncStart {
    /// Free for this sync alone until it returns; below
    /// [`SYNCS_IN_FLIGHT_MAX`].
    pub slot: usize,
    /// The end of the sync started before this one.
    pub start: Lsn,
    /// Every record before this was written before the sync started.
    pub end: Lsn,
}

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

    /// Whether writing `batch` starts a new file: it is written only once
    /// no sync runs.
    fn starts_segment(&self, batch: &Self::Batch) -> bool;

    /// Writes a batch (to the OS) so that every record before `end` is
    /// written. Called without the lock, by one leader at a time, in lsn
    /// order; syncs may run meanwhile unless it starts a segment.
    fn write(&self, batch: Self::Batch, end: Lsn) -> Result<(), Self::Error>;

    /// Makes every record before `sync.end` durable (all of them written
    /// before the call). Called without the lock, up to
    /// [`SYNCS_IN_FLIGHT_MAX`] at once, each in a slot of its own, beside
    /// writes of later batches.
    fn sync(&self, sync: SyncStart) -> Result<(), Self::Error>;
}

/// A sync started and not yet published.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    slot: usize,
    end: Lsn,
    /// It returned Ok; it waits for the syncs started before it.
    succeeded: bool,
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
    /// Every record before this is durable. Only ever advances.
    pub durable_end: Lsn,
    /// A leader is writing (one at a time).
    pub writing: bool,
    /// Every record before this is covered by a sync started so far.
    pub sync_started_end: Lsn,
    /// Syncs started and not yet published, in start (and lsn) order; at
    /// most [`SYNCS_IN_FLIGHT_MAX`].
    syncs: VecDeque<InFlight>,
    /// The first failure, returned to every later caller.
    pub failed: Option<E>,
}

impl<B, E> Tail<B, E> {
    /// Whether every record before `end` is written (durable, if `sync`).
    pub fn reached(&self, end: Lsn, sync: bool) -> bool {
        let reached = if sync {
            self.durable_end
        } else {
            self.written_end
        };
        reached >= end
    }

    /// No leader writes and no sync runs (or waits to be published).
    pub fn idle(&self) -> bool {
        !self.writing && self.syncs.is_empty()
    }

    /// Syncs started and not yet published.
    pub fn syncs_in_flight(&self) -> usize {
        self.syncs.len()
    }
}

/// The protocol: a tail behind a lock, and a signal when a write or a sync
/// ends.
#[derive(Debug)]
pub struct GroupCommit<B, E> {
    tail: Mutex<Tail<B, E>>,
    changed: Condvar,
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
                writing: false,
                sync_started_end: next_lsn,
                syncs: VecDeque::with_capacity(SYNCS_IN_FLIGHT_MAX),
                failed: None,
            }),
            changed: Condvar::new(),
        }
    }

    /// Locks the tail (to append, or to read the ends).
    pub fn lock(&self) -> MutexGuard<'_, Tail<B, E>> {
        lock(&self.tail)
    }

    /// Waits until a write or a sync ends (or a failure is latched).
    pub fn wait<'a>(&self, guard: MutexGuard<'a, Tail<B, E>>) -> MutexGuard<'a, Tail<B, E>> {
        wait(&self.changed, guard)
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
            if tail.reached(end, sync) {
                return Ok(());
            }
            if let Some(error) = &tail.failed {
                return Err(error.clone());
            }
            let covered = sync && tail.sync_started_end >= end;
            let full = sync && tail.syncs.len() >= SYNCS_IN_FLIGHT_MAX;
            tail = if covered || tail.writing || full {
                self.wait(tail)
            } else {
                self.lead(flusher, tail, sync, batch_delay)
            };
        }
    }

    /// Writes everything buffered as the leader and, if `sync`, syncs it.
    /// `tail` must show no leader writing and, if `sync`, a free sync slot.
    /// Returns the lock, re-taken, once its own write and sync ended.
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
        assert!(!tail.writing, "one leader writes at a time");
        assert!(!sync || tail.syncs.len() < SYNCS_IN_FLIGHT_MAX);
        tail.writing = true;
        if !batch_delay.is_zero() {
            // Let more records join this batch.
            drop(tail);
            std::thread::sleep(batch_delay);
            tail = self.lock();
        }
        let batch = flusher.take(&mut tail.buffer);
        let end = tail.next_lsn;
        if flusher.starts_segment(&batch) {
            // A segment is created only after the one before it is synced,
            // with no sync of it still running.
            while !tail.syncs.is_empty() && tail.failed.is_none() {
                tail = self.wait(tail);
            }
        }
        if tail.failed.is_some() {
            // Nothing after a failure is written.
            tail.writing = false;
            self.changed.notify_all();
            return tail;
        }
        drop(tail);
        let written = flusher.write(batch, end);
        let mut tail = self.lock();
        tail.writing = false;
        if let Err(error) = written {
            tail.failed.get_or_insert(error);
            self.changed.notify_all();
            return tail;
        }
        assert!(end >= tail.written_end, "writes end in lsn order");
        tail.written_end = end;
        if !sync || tail.failed.is_some() {
            self.changed.notify_all();
            return tail;
        }
        // Only the writer starts syncs, and they only end meanwhile: the
        // slot free before the write is still free.
        let Some(slot) =
            (0..SYNCS_IN_FLIGHT_MAX).find(|slot| tail.syncs.iter().all(|s| s.slot != *slot))
        else {
            unreachable!("a leader that syncs found a free slot before it wrote");
        };
        let start = SyncStart {
            slot,
            start: tail.sync_started_end,
            end,
        };
        tail.syncs.push_back(InFlight {
            slot,
            end,
            succeeded: false,
        });
        tail.sync_started_end = end;
        // The next leader may write while this sync runs.
        self.changed.notify_all();
        drop(tail);
        let synced = flusher.sync(start);
        let mut tail = self.lock();
        match synced {
            Ok(()) => {
                let Some(own) = tail.syncs.iter_mut().find(|s| s.slot == slot) else {
                    unreachable!("a running sync stays in flight until it returns");
                };
                own.succeeded = true;
            }
            Err(error) => {
                tail.failed.get_or_insert(error);
            }
        }
        if tail.failed.is_some() {
            // Nothing is published after a failure: forget this sync and
            // the succeeded ones waiting to be published (their leaders
            // returned); the others leave as they return.
            tail.syncs.retain(|s| s.slot != slot && !s.succeeded);
        } else {
            // Publish in start order: a sync's end is durable once it and
            // every sync started before it succeeded.
            while let Some(first) = tail.syncs.front().copied()
                && first.succeeded
            {
                tail.syncs.pop_front();
                assert!(
                    first.end >= tail.durable_end,
                    "the durable end only advances"
                );
                tail.durable_end = first.end;
            }
        }
        self.changed.notify_all();
        tail
    }
}

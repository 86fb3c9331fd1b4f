//! Frozen batches: the delta's second shape. A commit whose write set is
//! large ([`MvccOptions::batch_commit_bytes_min`]) is not copied key by key
//! into the skiplist: its sorted write set itself becomes one immutable
//! [`Batch`] at its commit timestamp, installed in O(1) and held once in
//! memory. Reads binary-search the few batches newer than the fold point;
//! the fold merges them into the base in key order; a batch leaves the
//! delta once folded and out of its grace period, like a folded version.
//!
//! [`MvccOptions::batch_commit_bytes_min`]: crate::MvccOptions::batch_commit_bytes_min

use std::borrow::Cow;
use std::ops::{Bound, Range};
use std::sync::Arc;

use keel_tso::Timestamp;

use crate::chain::{CommitState, CommitStatus};
use crate::write_set::{Change, WriteEntry, WriteSet};

/// One large commit's versions: every key of its write set at one
/// timestamp, sharing one [`CommitStatus`].
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) timestamp: Timestamp,
    pub(crate) status: Arc<CommitStatus>,
    pub(crate) writes: Arc<WriteSet>,
    /// What the batch holds, counted once at install.
    pub(crate) bytes: u64,
}

impl Batch {
    pub(crate) fn new(
        timestamp: Timestamp,
        status: Arc<CommitStatus>,
        writes: Arc<WriteSet>,
    ) -> Batch {
        let bytes = writes.footprint_bytes();
        Batch {
            timestamp,
            status,
            writes,
            bytes,
        }
    }

    /// Versions the batch holds (one per key).
    pub(crate) fn len(&self) -> usize {
        self.writes.len()
    }

    /// The key at `position`.
    pub(crate) fn key(&self, position: usize) -> &[u8] {
        self.writes.key(position)
    }

    /// The entry at `position`.
    pub(crate) fn entry(&self, position: usize) -> Cow<'_, WriteEntry> {
        self.writes.entry(position)
    }

    /// Whether a reader at `read_timestamp` sees this batch's versions.
    pub(crate) fn visible_at(&self, read_timestamp: Timestamp) -> bool {
        self.timestamp <= read_timestamp && self.status.state() != CommitState::Aborted
    }

    /// Whether validation must count it against a read at `read_timestamp`
    /// (newer, pending or committed).
    pub(crate) fn newer_than(&self, read_timestamp: Timestamp) -> bool {
        self.timestamp > read_timestamp && self.status.state() != CommitState::Aborted
    }

    /// Whether this batch writes `key`.
    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        self.writes.contains_key(key)
    }

    /// The change this batch makes to `key`, if it writes it.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Change> {
        self.writes.get(key)
    }

    /// The positions of the entries within the bounds.
    pub(crate) fn window(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Range<usize> {
        self.writes.window(lower, upper)
    }
}

/// The batches of a delta store, oldest first, as a reader holds them.
pub(crate) type Batches = Arc<[Arc<Batch>]>;

/// A key's newest version among `batches` at or below `read_timestamp`,
/// newer than `after` (a version found elsewhere), with its timestamp.
pub(crate) fn newest_visible(
    batches: &[Arc<Batch>],
    key: &[u8],
    read_timestamp: Timestamp,
    after: Option<Timestamp>,
) -> Option<(Timestamp, Change)> {
    batches
        .iter()
        .rev()
        .filter(|batch| batch.visible_at(read_timestamp))
        .take_while(|batch| after.is_none_or(|after| batch.timestamp > after))
        .find_map(|batch| Some((batch.timestamp, batch.get(key)?)))
}

/// Several batches read together in key order (the fold's view): each
/// key once, with its newest version among them.
pub(crate) struct Merged<'b> {
    /// Each batch, oldest first, with the position of its next entry.
    cursors: Vec<(&'b Batch, usize)>,
}

impl<'b> Merged<'b> {
    pub(crate) fn new(batches: impl IntoIterator<Item = &'b Batch>) -> Merged<'b> {
        Merged {
            cursors: batches.into_iter().map(|batch| (batch, 0)).collect(),
        }
    }

    /// The smallest key not yet taken.
    pub(crate) fn peek_key(&self) -> Option<&'b [u8]> {
        self.cursors
            .iter()
            .filter(|(batch, position)| *position < batch.len())
            .map(|(batch, position)| batch.key(*position))
            .min()
    }

    /// Takes `key` from every batch whose next entry it is; returns the
    /// newest of those versions (its entry).
    pub(crate) fn take_key(&mut self, key: &[u8]) -> Option<(Timestamp, WriteEntry)> {
        let mut newest = None;
        for (batch, position) in &mut self.cursors {
            if *position < batch.len() && batch.key(*position) == key {
                // Oldest first: a later batch's version is newer.
                newest = Some((batch.timestamp, batch.entry(*position).into_owned()));
                *position += 1;
            }
        }
        newest
    }
}

impl Iterator for Merged<'_> {
    type Item = (Timestamp, WriteEntry);

    fn next(&mut self) -> Option<Self::Item> {
        let key = self.peek_key()?;
        self.take_key(key)
    }
}

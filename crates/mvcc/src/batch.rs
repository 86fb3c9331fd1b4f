//! Frozen batches: the delta's second shape. A commit whose write set is
//! large ([`MvccOptions::batch_commit_bytes_min`]) is not copied key by key
//! into the skiplist: its sorted write set itself becomes one immutable
//! [`Batch`] at its commit timestamp, installed in O(1) and held once in
//! memory. Reads binary-search the few batches newer than the fold point;
//! the fold merges them into the base in key order; a batch leaves the
//! delta once folded and out of its grace period, like a folded version.
//!
//! [`MvccOptions::batch_commit_bytes_min`]: crate::MvccOptions::batch_commit_bytes_min

use std::ops::{Bound, Range};
use std::sync::Arc;

use bytes::Bytes;
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

    pub(crate) fn entries(&self) -> &[WriteEntry] {
        self.writes.entries()
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

    /// The change this batch makes to `key`, if it writes it.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Change> {
        let entries = self.entries();
        let index = entries
            .binary_search_by(|entry| entry.key.as_ref().cmp(key))
            .ok()?;
        Some(&entries[index].change)
    }

    /// The positions of the entries within the bounds.
    pub(crate) fn window(&self, lower: &Bound<Bytes>, upper: &Bound<Bytes>) -> Range<usize> {
        let entries = self.entries();
        let start = match lower {
            Bound::Included(key) => entries.partition_point(|entry| entry.key < *key),
            Bound::Excluded(key) => entries.partition_point(|entry| entry.key <= *key),
            Bound::Unbounded => 0,
        };
        let end = match upper {
            Bound::Included(key) => entries.partition_point(|entry| entry.key <= *key),
            Bound::Excluded(key) => entries.partition_point(|entry| entry.key < *key),
            Bound::Unbounded => entries.len(),
        };
        start..end.max(start)
    }
}

/// The batches of a delta store, oldest first, as a reader holds them.
pub(crate) type Batches = Arc<[Arc<Batch>]>;

/// A key's newest version among `batches` at or below `read_timestamp`,
/// newer than `after` (a version found elsewhere), with its timestamp.
pub(crate) fn newest_visible<'b>(
    batches: &'b [Arc<Batch>],
    key: &[u8],
    read_timestamp: Timestamp,
    after: Option<Timestamp>,
) -> Option<(Timestamp, &'b Change)> {
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
    pub(crate) fn peek_key(&self) -> Option<&'b Bytes> {
        self.cursors
            .iter()
            .filter_map(|(batch, position)| batch.entries().get(*position))
            .map(|entry| &entry.key)
            .min()
    }

    /// Takes `key` from every batch whose next entry it is; returns the
    /// newest of those versions.
    pub(crate) fn take_key(&mut self, key: &[u8]) -> Option<(Timestamp, &'b Change)> {
        let mut newest = None;
        for (batch, position) in &mut self.cursors {
            if let Some(entry) = batch.entries().get(*position)
                && entry.key.as_ref() == key
            {
                *position += 1;
                // Oldest first: a later batch's version is newer.
                newest = Some((batch.timestamp, &entry.change));
            }
        }
        newest
    }
}

impl<'b> Iterator for Merged<'b> {
    type Item = (&'b Bytes, Timestamp, &'b Change);

    fn next(&mut self) -> Option<Self::Item> {
        let key = self.peek_key()?;
        let (timestamp, change) = self.take_key(key)?;
        Some((key, timestamp, change))
    }
}

//! The delta store: every recent version, in a lock-free skiplist of keys,
//! each holding its [`VersionChain`] (newest first). It holds every version
//! above the fold point, plus, until the grace period after a fold ends,
//! the newest version at or below it of each key (BRIEF invariant 1). It is
//! also the conflict index that validation consults.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;
use crossbeam_skiplist::map;
use keel_tso::Timestamp;

use crate::chain::{
    Collect, CommitState, CommitStatus, Detached, Version, VersionChain, Versioned,
};
use crate::write_set::Change;

/// The skiplist's range iterator over owned bounds.
pub(crate) type DeltaRange<'a> =
    map::Range<'a, Bytes, (Bound<Bytes>, Bound<Bytes>), Bytes, VersionChain>;

#[derive(Debug, Default)]
pub(crate) struct DeltaStore {
    map: SkipMap<Bytes, VersionChain>,
    bytes: AtomicU64,
    versions: AtomicU64,
}

impl DeltaStore {
    /// Installs a version of `key`. One installer at a time (the sequencer
    /// critical section, or recovery).
    pub(crate) fn install(
        &self,
        key: &Bytes,
        timestamp: Timestamp,
        status: &Arc<CommitStatus>,
        change: &Change,
    ) {
        let entry = self.map.get_or_insert_with(key.clone(), VersionChain::new);
        debug_assert!(!entry.is_removed(), "key removal runs under the sequencer");
        entry
            .value()
            .install(Version::new(timestamp, Arc::clone(status), change.clone()));
        self.bytes.fetch_add(
            Version::footprint_bytes(change) + key.len() as u64,
            Ordering::Relaxed,
        );
        self.versions.fetch_add(1, Ordering::Relaxed);
    }

    /// The newest non-aborted version of `key` at or below `read_timestamp`.
    pub(crate) fn visible(&self, key: &[u8], read_timestamp: Timestamp) -> Option<Versioned> {
        // An empty delta (the common case between bursts of writes once
        // folded) costs one load, not a search under a pinned epoch.
        if self.map.is_empty() {
            return None;
        }
        self.map.get(key)?.value().visible(read_timestamp)
    }

    /// The newest non-aborted version of `key`, pending or committed.
    pub(crate) fn newest(&self, key: &[u8]) -> Option<(Timestamp, CommitState)> {
        self.map.get(key)?.value().newest()
    }

    /// The first key within the bounds whose newest version is above
    /// `timestamp`, with that version's timestamp.
    pub(crate) fn first_newer_in_range(
        &self,
        lower: &Bound<Bytes>,
        upper: &Bound<Bytes>,
        timestamp: Timestamp,
    ) -> Option<(Bytes, Timestamp)> {
        self.range(lower.clone(), upper.clone()).find_map(|entry| {
            let (newest, _) = entry.value().newest()?;
            (newest > timestamp).then(|| (entry.key().clone(), newest))
        })
    }

    /// The keys within the bounds, with their chains.
    pub(crate) fn range(&self, lower: Bound<Bytes>, upper: Bound<Bytes>) -> DeltaRange<'_> {
        self.map.range((lower, upper))
    }

    /// Every key with its chain, in key order.
    pub(crate) fn iter(&self) -> map::Iter<'_, Bytes, VersionChain> {
        self.map.iter()
    }

    /// Collects versions at or below `fold_point` from every chain; returns
    /// what was detached and the entries whose chains are now empty.
    pub(crate) fn collect(
        &self,
        fold_point: Timestamp,
        collect: Collect,
    ) -> (Detached, Vec<map::Entry<'_, Bytes, VersionChain>>) {
        let mut total = Detached::default();
        let mut empty = Vec::new();
        for entry in self.map.iter() {
            let detached = entry.value().collect(fold_point, collect);
            self.forget(entry.key().len(), detached);
            total += detached;
            if entry.value().is_empty() {
                empty.push(entry);
            }
        }
        (total, empty)
    }

    /// Accounts for versions of a key of `key_bytes` detached elsewhere.
    pub(crate) fn forget(&self, key_bytes: usize, detached: Detached) {
        self.bytes.fetch_sub(
            detached.bytes + detached.versions * key_bytes as u64,
            Ordering::Relaxed,
        );
        self.versions
            .fetch_sub(detached.versions, Ordering::Relaxed);
    }

    /// Removes `entry` if its chain is still empty. The caller holds the
    /// sequencer, so no install can be racing into the chain.
    pub(crate) fn remove_if_empty(entry: &map::Entry<'_, Bytes, VersionChain>) -> bool {
        entry.value().is_empty() && entry.remove()
    }

    /// Bytes held (keys, values, per-version overhead).
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Versions held.
    pub(crate) fn versions(&self) -> u64 {
        self.versions.load(Ordering::Relaxed)
    }

    /// Keys held.
    pub(crate) fn keys(&self) -> usize {
        self.map.len()
    }
}

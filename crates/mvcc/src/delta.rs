//! The delta store: every recent version, in a lock-free skiplist of keys,
//! each holding its [`VersionChain`] (newest first). It holds every version
//! above the fold point, plus, until the grace period after a fold ends,
//! the newest version at or below it of each key (BRIEF invariant 1). It is
//! also the conflict index that validation consults.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;
use crossbeam_skiplist::map;
use keel_tso::Timestamp;
use parking_lot::RwLock;

use crate::batch::{Batch, Batches, newest_visible};
use crate::chain::{Collect, CommitStatus, Detached, Version, VersionChain, Versioned};
#[cfg(test)]
use crate::delta_range::DeltaCursor;
use crate::write_set::{Change, WriteSet};

/// Frozen batches held at once, at most: beyond it a large commit goes
/// into the skiplist key by key (reads search every batch).
pub const BATCHES_MAX: usize = 16;

/// The skiplist's range iterator over owned bounds.
pub(crate) type DeltaRange<'a> =
    map::Range<'a, Bytes, (Bound<Bytes>, Bound<Bytes>), Bytes, VersionChain>;

#[derive(Debug)]
pub(crate) struct DeltaStore {
    map: SkipMap<Bytes, VersionChain>,
    bytes: AtomicU64,
    versions: AtomicU64,
    /// Large commits, oldest first (see [`crate::batch`]).
    batches: RwLock<Batches>,
    /// `batches.len()`, read without the lock on every point read.
    batch_count: AtomicUsize,
    batch_bytes: AtomicU64,
    batch_entries: AtomicU64,
    /// The fold point of the latest collection of every folded version
    /// (raw timestamp), raised before that collection removes anything.
    /// Reads ignore versions at or below it: the base holds that state
    /// for every reader then, while the delta may hold it only in part —
    /// a key's newer version dropped with its batch while an older one
    /// still waits in the skiplist, or the other way round.
    collected_through: AtomicU64,
}

impl Default for DeltaStore {
    fn default() -> DeltaStore {
        DeltaStore {
            map: SkipMap::new(),
            bytes: AtomicU64::new(0),
            versions: AtomicU64::new(0),
            batches: RwLock::new(Arc::from(Vec::new())),
            batch_count: AtomicUsize::new(0),
            batch_bytes: AtomicU64::new(0),
            batch_entries: AtomicU64::new(0),
            collected_through: AtomicU64::new(0),
        }
    }
}

impl DeltaStore {
    /// Installs every version of a write set at `timestamp`: as one frozen
    /// batch when it holds at least `batch_bytes_min` bytes (and fewer
    /// than [`BATCHES_MAX`] batches are held), else key by key. One
    /// installer at a time.
    pub(crate) fn install_write_set(
        &self,
        writes: &Arc<WriteSet>,
        timestamp: Timestamp,
        status: &Arc<CommitStatus>,
        batch_bytes_min: u64,
    ) {
        // A spilled write set is always a batch: key by key it would bring
        // back into memory what it spilled.
        let batch_fits = self.batch_count() < BATCHES_MAX && writes.bytes() >= batch_bytes_min;
        if batch_fits || writes.is_spilled() {
            let batch = Batch::new(timestamp, Arc::clone(status), Arc::clone(writes));
            self.install_batch(Arc::new(batch));
            return;
        }
        for entry in writes.iter() {
            self.install(&entry.key, timestamp, status, &entry.change);
        }
    }

    fn install_batch(&self, batch: Arc<Batch>) {
        let mut batches = self.batches.write();
        debug_assert!(
            batches
                .last()
                .is_none_or(|last| last.timestamp < batch.timestamp)
        );
        self.batch_bytes.fetch_add(batch.bytes, Ordering::Relaxed);
        self.batch_entries
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut grown = batches.to_vec();
        grown.push(batch);
        *batches = Arc::from(grown);
        self.batch_count.store(batches.len(), Ordering::Release);
    }

    /// The batches held now (`None` when there are none: no lock taken).
    pub(crate) fn batches(&self) -> Option<Batches> {
        if self.batch_count() == 0 {
            return None;
        }
        let batches = self.batches.read();
        (!batches.is_empty()).then(|| Arc::clone(&batches))
    }

    fn batch_count(&self) -> usize {
        self.batch_count.load(Ordering::Acquire)
    }

    /// Drops the batches at or below `fold_point`; returns what they held.
    fn drop_batches(&self, fold_point: Timestamp) -> Detached {
        if self.batch_count() == 0 {
            return Detached::default();
        }
        let mut batches = self.batches.write();
        let (dropped, kept): (Vec<_>, Vec<_>) = batches
            .iter()
            .cloned()
            .partition(|batch| batch.timestamp <= fold_point);
        let detached = Detached {
            versions: dropped.iter().map(|batch| batch.len() as u64).sum(),
            bytes: dropped.iter().map(|batch| batch.bytes).sum(),
        };
        *batches = Arc::from(kept);
        self.batch_count.store(batches.len(), Ordering::Release);
        self.batch_bytes
            .fetch_sub(detached.bytes, Ordering::Relaxed);
        self.batch_entries
            .fetch_sub(detached.versions, Ordering::Relaxed);
        detached
    }

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

    /// The newest non-aborted version of `key` at or below `read_timestamp`
    /// and above [`DeltaStore::floor`] (below it, the base answers).
    pub(crate) fn visible(&self, key: &[u8], read_timestamp: Timestamp) -> Option<Versioned> {
        // An empty delta (the common case between bursts of writes once
        // folded) costs two loads, not a search under a pinned epoch.
        let chained = if self.map.is_empty() {
            None
        } else {
            self.map
                .get(key)
                .and_then(|entry| entry.value().visible(read_timestamp))
        };
        let batches = self.batches();
        // Loaded after the versions were looked at: a removal seen above
        // was preceded by the raise of the floor that covers it.
        let floor = self.floor();
        let chained = chained.filter(|version| version.timestamp > floor);
        let Some(batches) = batches else {
            return chained;
        };
        let after = chained.as_ref().map_or(floor, |version| version.timestamp);
        match newest_visible(&batches, key, read_timestamp, Some(after)) {
            Some((timestamp, change)) => Some(Versioned { timestamp, change }),
            None => chained,
        }
    }

    /// Versions at or below this are ignored by reads (see
    /// `collected_through`). Load it after looking at the versions.
    pub(crate) fn floor(&self) -> Timestamp {
        Timestamp::from_u64(self.collected_through.load(Ordering::SeqCst))
    }

    /// The timestamp of the newest non-aborted version of `key` (pending
    /// or committed) if it is above `timestamp`: what validation looks for.
    pub(crate) fn newer_than(&self, key: &[u8], timestamp: Timestamp) -> Option<Timestamp> {
        if let Some(entry) = self.map.get(key)
            && let Some((newest, _)) = entry.value().newest()
            && newest > timestamp
        {
            return Some(newest);
        }
        self.batches()?
            .iter()
            .rev()
            .take_while(|batch| batch.timestamp > timestamp)
            .find(|batch| batch.newer_than(timestamp) && batch.contains(key))
            .map(|batch| batch.timestamp)
    }

    /// A key within the bounds whose newest version is above `timestamp`,
    /// with that version's timestamp (the first in the skiplist, else the
    /// first in the newest such batch).
    pub(crate) fn first_newer_in_range(
        &self,
        lower: &Bound<Bytes>,
        upper: &Bound<Bytes>,
        timestamp: Timestamp,
    ) -> Option<(Bytes, Timestamp)> {
        let chained = self.range(lower.clone(), upper.clone()).find_map(|entry| {
            let (newest, _) = entry.value().newest()?;
            (newest > timestamp).then(|| (entry.key().clone(), newest))
        });
        if chained.is_some() {
            return chained;
        }
        self.batches()?
            .iter()
            .rev()
            .take_while(|batch| batch.timestamp > timestamp)
            .filter(|batch| batch.newer_than(timestamp))
            .find_map(|batch| {
                let window = batch.window(lower, upper);
                let entry = (!window.is_empty()).then(|| batch.entry(window.start))?;
                Some((entry.into_owned().key, batch.timestamp))
            })
    }

    /// Whether the skiplist holds no key (a load, no epoch pinned).
    pub(crate) fn is_map_empty(&self) -> bool {
        self.map.is_empty()
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
        if collect == Collect::AllFolded {
            // Before anything goes: from now on reads take every version
            // at or below the fold point from the base.
            self.collected_through
                .fetch_max(fold_point.as_u64(), Ordering::SeqCst);
            total += self.drop_batches(fold_point);
        }
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

    /// Bytes the skiplist holds (keys, values, per-version overhead): what
    /// [`MvccOptions::delta_bytes_max`](crate::MvccOptions) bounds.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Bytes the frozen batches hold.
    pub(crate) fn batch_bytes(&self) -> u64 {
        self.batch_bytes.load(Ordering::Relaxed)
    }

    /// Versions held, in the skiplist and in batches.
    pub(crate) fn versions(&self) -> u64 {
        self.versions.load(Ordering::Relaxed) + self.batch_entries.load(Ordering::Relaxed)
    }

    /// Frozen batches held.
    pub(crate) fn batches_held(&self) -> usize {
        self.batch_count()
    }

    /// Keys held.
    pub(crate) fn keys(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::CommitStatus;
    use crate::write_set::WriteEntry;

    fn put(value: &'static str) -> Change {
        Change::Put {
            value: Bytes::from_static(value.as_bytes()),
            expires_at_ms: None,
        }
    }

    /// The moment inside a collection of every folded version after a
    /// key's newer version left with its batch and before its older one
    /// left the skiplist: a read must not take the older one (the base,
    /// which holds the fold point's state, answers instead).
    #[test]
    fn a_collection_half_done_never_shows_an_older_version() {
        let delta = DeltaStore::default();
        let committed = Arc::new(CommitStatus::committed());
        let key = Bytes::from_static(b"k");
        delta.install(&key, Timestamp::from_u64(10), &committed, &put("old"));
        let writes = Arc::new(WriteSet::from_sorted(vec![WriteEntry {
            key: key.clone(),
            change: put("new"),
        }]));
        delta.install_write_set(&writes, Timestamp::from_u64(20), &committed, 0);
        let read = |delta: &DeltaStore, range: bool| {
            let at = Timestamp::from_u64(30);
            if range {
                let mut cursor = DeltaCursor::new(delta, Bound::Unbounded, Bound::Unbounded, at);
                cursor.next(0).map(|(_, change)| change)
            } else {
                delta.visible(b"k", at).map(|version| version.change)
            }
        };
        assert_eq!(read(&delta, false), Some(put("new")));
        assert_eq!(read(&delta, true), Some(put("new")));
        // A range opened before the collection keeps its batches.
        let mut early = DeltaCursor::new(
            &delta,
            Bound::Unbounded,
            Bound::Unbounded,
            Timestamp::from_u64(30),
        );
        // What collecting through 25 does first: the floor, then batches.
        delta.collected_through.fetch_max(25, Ordering::SeqCst);
        let _ = delta.drop_batches(Timestamp::from_u64(25));
        assert_eq!(read(&delta, false), None);
        assert_eq!(read(&delta, true), None);
        assert_eq!(early.next(0), None);
    }
}

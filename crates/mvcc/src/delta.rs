//! The delta store: every recent version, in a lock-free skiplist of keys
//! (with a point index over them), each holding its [`VersionChain`]
//! (newest first). It holds every version
//! above the fold point, plus, until the grace period after a fold ends,
//! the newest version at or below it of each key (BRIEF invariant 1). It is
//! also the conflict index that validation consults.

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use crossbeam_epoch::{self as epoch, Guard};
use crossbeam_skiplist::base::{self, SkipList};
use keel_tso::Timestamp;
use parking_lot::RwLock;
use smallvec::SmallVec;

use crate::batch::{Batch, Batches, newest_visible};
use crate::chain::{Collect, CommitStatus, Detached, Version, VersionChain, Versioned};
#[cfg(test)]
use crate::delta_range::DeltaCursor;
use crate::point_index::PointIndex;
use crate::sync;
use crate::write_set::{Change, WriteSet};

/// Frozen batches held at once, at most: beyond it a large commit goes
/// into the skiplist key by key (reads search every batch).
pub const BATCHES_MAX: usize = 16;

/// Keys a walk of the skiplist visits under one pinned epoch: it pins
/// once per so many keys (no reference count per key), never holds back
/// memory reclamation for a whole walk, and frees what the walk retired
/// itself as it goes (see [`DeltaStore::walk`]).
pub(crate) const KEYS_PER_PIN: usize = 64;

/// A key of the skiplist with its chain, valid while the guard that found
/// it stays pinned.
pub(crate) type DeltaEntry<'a, 'g> = base::Entry<'a, 'g, Bytes, VersionChain>;

/// The skiplist, in key order, serves scans, the fold and collections,
/// through its lower-level API: a walk pins once per [`KEYS_PER_PIN`] keys
/// and takes no reference count on the entries it visits. Point lookups
/// (reads, validation, an install into a key held) go through the point
/// index, which holds every key of the skiplist with a pointer to its
/// chain there. Keys are inserted into both by the installer, and removed
/// (from the index first) only by the collector under the sequencer; a
/// skiplist node is freed only after every guard pinned before its
/// removal has unpinned, so a chain found through the index under a pin
/// stays valid while the pin lasts.
#[derive(Debug)]
pub(crate) struct DeltaStore {
    map: SkipList<Bytes, VersionChain>,
    index: PointIndex<VersionChain>,
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
            // The global collector: `epoch::pin()` guards fit it.
            map: SkipList::new(epoch::default_collector().clone()),
            index: PointIndex::new(),
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
        let guard = &epoch::pin();
        let mut bytes = 0;
        for entry in writes.iter() {
            bytes += self.install_uncounted(guard, &entry.key, timestamp, status, &entry.change);
        }
        // Counted once for the write set: two atomic additions, not two a
        // key.
        self.count(bytes, writes.len() as u64);
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

    /// Installs a version of `key`, under a guard the caller pinned. One
    /// installer at a time (the sequencer critical section, or recovery).
    #[cfg(test)]
    fn install(
        &self,
        guard: &Guard,
        key: &Bytes,
        timestamp: Timestamp,
        status: &Arc<CommitStatus>,
        change: &Change,
    ) {
        let bytes = self.install_uncounted(guard, key, timestamp, status, change);
        self.count(bytes, 1);
    }

    /// Adds installed versions and their bytes to the counts.
    fn count(&self, bytes: u64, versions: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.versions.fetch_add(versions, Ordering::Relaxed);
    }

    /// [`DeltaStore::install`] but for the counts: returns the bytes the
    /// version adds, for the caller to [count](DeltaStore::count).
    fn install_uncounted(
        &self,
        guard: &Guard,
        key: &Bytes,
        timestamp: Timestamp,
        status: &Arc<CommitStatus>,
        change: &Change,
    ) -> u64 {
        let version = Version::new(timestamp, Arc::clone(status), change.clone());
        let insert = || {
            let entry = self
                .map
                .get_or_insert_with(key.clone(), VersionChain::new, guard);
            debug_assert!(!entry.is_removed(), "key removal runs under the sequencer");
            let pointers = (entry.key() as *const Bytes, entry.value() as *const _);
            entry.release(guard);
            pointers
        };
        // SAFETY: the skiplist node holding the key and chain stays linked
        // (so allocated) until `collect` removes it, after removing the key
        // from the index; once unlinked it is freed only a grace period
        // later.
        let chain = unsafe {
            self.index
                .get_or_insert(sync::from_epoch(guard), key, insert)
        };
        chain.install(version);
        Version::footprint_bytes(change) + key.len() as u64
    }

    /// The newest non-aborted version of `key` at or below `read_timestamp`
    /// and above [`DeltaStore::floor`] (below it, the base answers).
    pub(crate) fn visible(&self, key: &[u8], read_timestamp: Timestamp) -> Option<Versioned> {
        // An empty delta (the common case between bursts of writes once
        // folded) costs two loads, not a search under a pinned epoch.
        let chained = if self.map.is_empty() {
            None
        } else {
            let guard = &sync::pin();
            self.index
                .get(guard, key)
                .and_then(|chain| chain.visible(read_timestamp))
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
        if let Some(chain) = self.index.get(&sync::pin(), key)
            && let Some((newest, _)) = chain.newest()
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
        let guard = &epoch::pin();
        let chained = self
            .map
            .range::<Bytes, _>((lower.as_ref(), upper.as_ref()), guard)
            .find_map(|entry| {
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
                let window = batch.window(
                    lower.as_ref().map(Bytes::as_ref),
                    upper.as_ref().map(Bytes::as_ref),
                );
                let entry = (!window.is_empty()).then(|| batch.entry(window.start))?;
                Some((entry.into_owned().key, batch.timestamp))
            })
    }

    /// Whether the skiplist holds no key (a load, no epoch pinned).
    pub(crate) fn is_map_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The keys within the bounds, with their chains. The range keeps its
    /// own copy of the bounds: inline for short keys (no allocation).
    pub(crate) fn range(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> DeltaRange<'_> {
        let copied = |bound: Bound<&[u8]>| bound.map(BoundKey::from_slice);
        DeltaRange {
            range: self.map.ref_range(RangeKeys {
                lower: copied(lower),
                upper: copied(upper),
            }),
        }
    }

    /// Visits every key with its chain in key order, [`KEYS_PER_PIN`] keys
    /// per pinned epoch, until `visit` fails. After each group, while its
    /// guard is still pinned, `group_end` gets the entries for which
    /// `visit` returned true. Keys inserted meanwhile behind the walk are
    /// not visited.
    ///
    /// After each group the walk flushes its thread's deferred frees and
    /// runs those whose grace period has ended: a collection retires a
    /// version and a node per key folded, and crossbeam runs deferred frees
    /// on every 128th pin of whichever thread, so a walk pinning rarely
    /// would leave its garbage to the threads that pin most — the readers
    /// and the committing event loop.
    pub(crate) fn walk<E>(
        &self,
        mut visit: impl FnMut(&DeltaEntry<'_, '_>) -> Result<bool, E>,
        mut group_end: impl FnMut(&[DeltaEntry<'_, '_>]),
    ) -> Result<(), E> {
        let mut resume: Option<Bytes> = None;
        loop {
            let guard = &epoch::pin();
            let mut next = match &resume {
                None => self.map.front(guard),
                Some(key) => self.map.lower_bound(Bound::Excluded(key), guard),
            };
            let mut marked = Vec::with_capacity(KEYS_PER_PIN);
            let mut visited = 0;
            resume = None;
            while let Some(entry) = next {
                if visit(&entry)? {
                    marked.push(entry.clone());
                }
                visited += 1;
                if visited == KEYS_PER_PIN {
                    resume = Some(entry.key().clone());
                    break;
                }
                next = entry.next();
            }
            group_end(&marked);
            guard.flush();
            if resume.is_none() {
                return Ok(());
            }
        }
    }

    /// Collects versions at or below `fold_point` from every chain, and
    /// removes the keys whose chains are now empty, holding what `hold`
    /// returns (the sequencer, so that no install races into a removed
    /// chain) for at most [`KEYS_PER_PIN`] removals at a time; returns
    /// what was detached.
    pub(crate) fn collect<H>(
        &self,
        fold_point: Timestamp,
        collect: Collect,
        hold: impl Fn() -> H,
    ) -> Detached {
        let mut total = Detached::default();
        if collect == Collect::AllFolded {
            // Before anything goes: from now on reads take every version
            // at or below the fold point from the base.
            self.collected_through
                .fetch_max(fold_point.as_u64(), Ordering::SeqCst);
            total += self.drop_batches(fold_point);
        }
        let walked = self.walk::<std::convert::Infallible>(
            |entry| {
                let detached = entry.value().collect(fold_point, collect);
                self.forget(entry.key().len(), detached);
                total += detached;
                Ok(entry.value().is_empty())
            },
            |empty| {
                if empty.is_empty() {
                    return;
                }
                let _held = hold();
                // Those still empty stay so until the removal is done: an
                // install holds what `hold` returns.
                let still_empty = || empty.iter().filter(|entry| entry.value().is_empty());
                // The index first: a node is freed a grace period after its
                // removal from the skiplist.
                let keys = still_empty().map(|entry| entry.key().as_ref());
                let indexed = self.index.remove_all(keys);
                debug_assert_eq!(indexed, still_empty().count(), "the index holds every key");
                for entry in still_empty() {
                    entry.remove();
                }
            },
        );
        let Ok(()) = walked;
        total
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

/// The skiplist's keys within bounds, from either end, for a scan that
/// outlives any one pinned epoch: it holds a reference count on the entry
/// it stands on at each end (as crossbeam's map iterators do), and pins
/// per step.
/// Bound keys this short are held inline by a [`DeltaRange`].
const BOUND_INLINE_BYTES: usize = 48;

/// A bound key of a [`DeltaRange`].
type BoundKey = SmallVec<[u8; BOUND_INLINE_BYTES]>;

/// The bounds of a [`DeltaRange`], as the skiplist compares them (keys as
/// byte strings, as `Bytes` orders them).
#[derive(Debug)]
pub(crate) struct RangeKeys {
    lower: Bound<BoundKey>,
    upper: Bound<BoundKey>,
}

impl RangeBounds<[u8]> for RangeKeys {
    fn start_bound(&self) -> Bound<&[u8]> {
        self.lower.as_ref().map(BoundKey::as_slice)
    }

    fn end_bound(&self) -> Bound<&[u8]> {
        self.upper.as_ref().map(BoundKey::as_slice)
    }
}

pub(crate) struct DeltaRange<'a> {
    range: base::RefRange<'a, [u8], RangeKeys, Bytes, VersionChain>,
}

impl DeltaRange<'_> {
    /// What `read` makes of the next key and its chain from the front
    /// (`end` 0) or the back (`end` 1); `None` once the range ran dry.
    pub(crate) fn next_with<T>(
        &mut self,
        end: usize,
        read: impl FnOnce(&Bytes, &VersionChain) -> T,
    ) -> Option<T> {
        let guard = &epoch::pin();
        let entry = if end == 0 {
            self.range.next(guard)
        } else {
            self.range.next_back(guard)
        }?;
        let read = read(entry.key(), entry.value());
        entry.release(guard);
        Some(read)
    }
}

impl Drop for DeltaRange<'_> {
    fn drop(&mut self) {
        self.range.drop_impl(&epoch::pin());
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

    /// A write set installed key by key is counted once for the lot: the
    /// same versions and bytes as its keys installed one at a time, and
    /// all of it given back once collected.
    #[test]
    fn a_write_set_counts_as_its_keys_one_by_one() {
        let committed = Arc::new(CommitStatus::committed());
        let entries: Vec<WriteEntry> = ["a", "bb", "ccc"]
            .iter()
            .zip([put("1"), Change::Delete, put("three")])
            .map(|(key, change)| WriteEntry {
                key: Bytes::from_static(key.as_bytes()),
                change,
            })
            .collect();
        let one_by_one = DeltaStore::default();
        for entry in &entries {
            let guard = &epoch::pin();
            one_by_one.install(
                guard,
                &entry.key,
                Timestamp::from_u64(5),
                &committed,
                &entry.change,
            );
        }
        let at_once = DeltaStore::default();
        let writes = Arc::new(WriteSet::from_sorted(entries));
        at_once.install_write_set(&writes, Timestamp::from_u64(5), &committed, u64::MAX);
        assert_eq!(at_once.versions(), 3);
        assert_eq!(at_once.versions(), one_by_one.versions());
        assert!(at_once.bytes() > 0);
        assert_eq!(at_once.bytes(), one_by_one.bytes());
        let detached = at_once.collect(Timestamp::from_u64(9), Collect::AllFolded, || ());
        assert_eq!(detached.versions, 3);
        assert_eq!((at_once.versions(), at_once.bytes()), (0, 0));
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
        let guard = &epoch::pin();
        delta.install(
            guard,
            &key,
            Timestamp::from_u64(10),
            &committed,
            &put("old"),
        );
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

    fn key(index: usize) -> Bytes {
        Bytes::from(format!("key/{index:06}"))
    }

    /// A delta holding `keys` keys, one version each at timestamps 1, 2, …
    fn delta_of(keys: usize) -> DeltaStore {
        let delta = DeltaStore::default();
        let committed = Arc::new(CommitStatus::committed());
        let guard = &epoch::pin();
        for index in 0..keys {
            let at = Timestamp::from_u64(index as u64 + 1);
            delta.install(guard, &key(index), at, &committed, &put("v"));
        }
        delta
    }

    /// The walk re-pins between groups and resumes after the last key it
    /// visited: every key once, in order, across group boundaries, even
    /// when each group's end removes what it marked.
    #[test]
    fn a_walk_visits_every_key_once_across_groups() {
        let keys = 2 * KEYS_PER_PIN + 7;
        let delta = delta_of(keys);
        let mut visited = Vec::new();
        let mut groups = Vec::new();
        let walked = delta.walk::<()>(
            |entry| {
                visited.push(entry.key().clone());
                Ok(visited.len() % 3 == 0)
            },
            |marked| {
                groups.push(marked.len());
                for entry in marked {
                    // As the collection does: the index first.
                    assert!(delta.index.remove(entry.key()));
                    assert!(entry.remove());
                }
            },
        );
        assert_eq!(walked, Ok(()));
        assert_eq!(visited, (0..keys).map(key).collect::<Vec<_>>());
        assert_eq!(groups.len(), 3);
        assert_eq!(groups.iter().sum::<usize>(), keys / 3);
        assert_eq!(delta.keys(), keys - keys / 3);
        // A failing visit stops the walk.
        let mut seen = 0;
        let failed = delta.walk(
            |_| {
                seen += 1;
                if seen == 5 { Err("stop") } else { Ok(false) }
            },
            |_| {},
        );
        assert_eq!((failed, seen), (Err("stop"), 5));
    }

    /// A collection of every folded version removes exactly the keys left
    /// empty, over several groups, holding the lock for each group's
    /// removals only, and counts what it detached.
    #[test]
    fn a_collection_removes_the_emptied_keys_group_by_group() {
        let keys = 2 * KEYS_PER_PIN + 100;
        let delta = delta_of(keys);
        let fold_point = Timestamp::from_u64(KEYS_PER_PIN as u64 + 50);
        let holds = std::cell::Cell::new(0);
        let detached = delta.collect(fold_point, Collect::AllFolded, || {
            holds.set(holds.get() + 1);
        });
        let folded = KEYS_PER_PIN + 50;
        assert_eq!(detached.versions, folded as u64);
        assert_eq!(holds.get(), 2, "the third group emptied no key");
        assert_eq!(delta.keys(), keys - folded);
        assert_eq!(delta.versions(), (keys - folded) as u64);
        assert_eq!(delta.floor(), fold_point);
        let mut left = Vec::new();
        let walked = delta.walk::<()>(
            |entry| {
                left.push(entry.key().clone());
                Ok(false)
            },
            |_| {},
        );
        assert_eq!(walked, Ok(()));
        assert_eq!(left, (folded..keys).map(key).collect::<Vec<_>>());
        // The point index lost the same keys.
        assert_eq!(delta.index.len(), keys - folded);
        let at = Timestamp::from_u64(keys as u64);
        assert_eq!(delta.visible(&key(folded - 1), at), None);
        assert_eq!(delta.newer_than(&key(folded - 1), Timestamp::ZERO), None);
        let kept = delta
            .visible(&key(folded), at)
            .map(|version| version.change);
        assert_eq!(kept, Some(put("v")));
        // A key installed again after its removal is found again.
        let committed = Arc::new(CommitStatus::committed());
        delta.install(&epoch::pin(), &key(0), at, &committed, &put("again"));
        let again = delta.visible(&key(0), at).map(|version| version.change);
        assert_eq!(again, Some(put("again")));
        assert_eq!(delta.newer_than(&key(0), Timestamp::ZERO), Some(at));
    }

    /// A range taken from both ends meets in the middle, each key once.
    #[test]
    fn a_range_meets_itself_from_both_ends() {
        let delta = delta_of(10);
        let (low, high) = (key(2), key(8));
        let mut range = delta.range(Bound::Included(&low), Bound::Excluded(&high));
        let mut taken = Vec::new();
        for end in [0, 1, 0, 1, 0, 1, 0, 1] {
            if let Some(key) = range.next_with(end, |key, _| key.clone()) {
                taken.push(key);
            }
        }
        assert_eq!(taken, [2, 7, 3, 6, 4, 5].map(key));
        assert_eq!(range.next_with(0, |key, _| key.clone()), None);
    }
}

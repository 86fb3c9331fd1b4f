//! [`WriteBuffer`]: a transaction's buffered writes, appended unsorted and
//! sorted only when something needs them in order.
//!
//! A write appends to `pending` (no search); the first read that needs the
//! writes by key — a point read, a range, the commit — settles them: sorts
//! `pending` (a later write of a key wins over an earlier one) and merges it
//! into the sorted map. Inserting each write into a `BTreeMap` as it came
//! cost ~1 µs per random key in a large transaction (a cache miss per
//! level); appending costs a copy, and one sort per settle is a few
//! comparisons per key that touch only the keys' inline heads.
//!
//! Invariant: `pending` is empty whenever a shared borrow of `sorted` is
//! alive. `sorted` is lent only by [`WriteBuffer::settled`], which empties
//! `pending` first, with the lifetime of `&self`; `pending` grows only
//! through `&mut self`, which the borrow checker refuses while such a loan
//! lives. So `settled` mutates only when no loan exists.

use std::borrow::Cow;
use std::cell::{Cell, UnsafeCell};
use std::collections::BTreeMap;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::own_writes::OwnWrites;
use crate::spill::write_run;
use crate::write_set::{BufferedKey, Change, WriteEntry, WriteSet};

/// A merge rebuilds the map instead of inserting into it when the settled
/// writes are at least this fraction (1/n) of the map's size: a rebuild
/// moves and reallocates every entry, so a map that grows by a few writes
/// between reads takes them one by one (at 1/8, a transaction of 100
/// writes each followed by a read of an earlier one rebuilt its map at
/// most settles: 4,449 instructions a write and read, 4,077 at 1/2).
const REBUILD_FRACTION: usize = 2;

/// A point read with at most this many writes pending scans them (newest
/// first) and the map instead of settling: a server's group of small
/// commands reads after each write, and settling a handful of writes into
/// a small map rebuilds it each time.
const PENDING_SCAN_MAX: usize = 16;

/// A transaction's buffered writes (see the module docs).
#[derive(Default)]
pub(crate) struct WriteBuffer {
    /// Settled writes: sorted, each key once.
    sorted: UnsafeCell<BTreeMap<BufferedKey, Change>>,
    /// Writes not yet merged into `sorted`, in the order they were made.
    pending: UnsafeCell<Vec<(BufferedKey, Change)>>,
    /// Key and value bytes buffered in memory: exact for `sorted`, and
    /// counting every pending write (an overwrite of a key counts twice
    /// until settled).
    bytes: Cell<u64>,
    /// Earlier writes spilled to disk, oldest first: a key's newest change
    /// is in memory, else in the newest run holding it. Runs are written
    /// only while no savepoint is held, so an undo never reaches them.
    runs: Vec<WriteSet>,
    /// Key and value bytes of the runs (a key in two runs counts twice).
    run_bytes: u64,
}

impl WriteBuffer {
    /// Appends a change of `key`, unsorted.
    pub(crate) fn push(&mut self, key: &[u8], change: Change) {
        let bytes = (key.len() + change.value_bytes()) as u64;
        self.pending
            .get_mut()
            .push((BufferedKey::new(Bytes::copy_from_slice(key)), change));
        self.bytes.set(self.bytes.get() + bytes);
    }

    /// Key and value bytes written, in memory and spilled (see the
    /// fields; exact for memory once settled).
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.get() + self.run_bytes
    }

    /// Key and value bytes held in memory.
    pub(crate) fn memory_bytes(&self) -> u64 {
        self.bytes.get()
    }

    /// Whether nothing is buffered.
    pub(crate) fn is_empty(&self) -> bool {
        // SAFETY: a shared read of both; mutation happens only in
        // `settled` (not running: it is not reentrant and calls no user
        // code) or through `&mut self`.
        let memory_empty =
            unsafe { (*self.pending.get()).is_empty() && (*self.sorted.get()).is_empty() };
        memory_empty && self.runs.is_empty()
    }

    /// Writes everything held in memory to a new run in `dir` and empties
    /// memory; on failure memory keeps every write. The caller holds no
    /// savepoint.
    pub(crate) fn spill(&mut self, dir: &Path) -> io::Result<()> {
        let run = if self.sorted.get_mut().is_empty() {
            // Sorted once, straight from the appended writes when nothing
            // was read by key (no map is built for writes about to leave
            // memory).
            let pending = self.pending.get_mut();
            let removed = sort_last_wins(pending);
            self.bytes.set(self.bytes.get() - removed);
            let run =
                write_nonempty_run(dir, pending.iter().map(|(key, change)| (key.key(), change)))?;
            pending.clear();
            run
        } else {
            let sorted = self.settled_mut();
            let run =
                write_nonempty_run(dir, sorted.iter().map(|(key, change)| (key.key(), change)))?;
            sorted.clear();
            run
        };
        let Some(run) = run else {
            return Ok(());
        };
        self.run_bytes += run.bytes();
        self.bytes.set(0);
        self.runs.push(run);
        Ok(())
    }

    /// The change this transaction made to `key`, if any.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Cow<'_, Change>> {
        // SAFETY: shared reads; mutation happens only in `settled` (not
        // running: not reentrant, calls no user code) or through `&mut
        // self`. No borrow outlives this block (the change is cloned), so
        // a later `settled` invalidates nothing.
        let scanned = unsafe {
            let pending = &*self.pending.get();
            (!pending.is_empty() && pending.len() <= PENDING_SCAN_MAX).then(|| {
                match pending
                    .iter()
                    .rev()
                    .find(|(pending, _)| pending.key().as_ref() == key)
                {
                    Some((_, change)) => Some(change.clone()),
                    None => (*self.sorted.get()).get(key).cloned(),
                }
            })
        };
        match scanned {
            Some(Some(change)) => return Some(Cow::Owned(change)),
            Some(None) => {}
            None => {
                if let Some(change) = self.settled().get(key) {
                    return Some(Cow::Borrowed(change));
                }
            }
        }
        self.runs
            .iter()
            .rev()
            .find_map(|run| Some(Cow::Owned(run.get(key)?)))
    }

    /// The changes within the bounds, in key order from either end.
    pub(crate) fn range(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> OwnWrites<'_> {
        OwnWrites::new(self.settled(), &self.runs, lower, upper)
    }

    /// The writes sorted by key, each key's last change.
    pub(crate) fn settled(&self) -> &BTreeMap<BufferedKey, Change> {
        // SAFETY: see the module's invariant: if `pending` is non-empty,
        // no shared borrow of `sorted` or `pending` is alive, so these
        // exclusive borrows alias nothing; `settle` calls no code that
        // could reach `self` again.
        unsafe {
            let pending = &mut *self.pending.get();
            if !pending.is_empty() {
                let removed = settle(&mut *self.sorted.get(), pending);
                self.bytes.set(self.bytes.get() - removed);
            }
            &*self.sorted.get()
        }
    }

    /// The settled writes, to change in place.
    pub(crate) fn settled_mut(&mut self) -> &mut BTreeMap<BufferedKey, Change> {
        let pending = self.pending.get_mut();
        if !pending.is_empty() {
            let removed = settle(self.sorted.get_mut(), pending);
            self.bytes.set(self.bytes.get() - removed);
        }
        self.sorted.get_mut()
    }

    /// Sets the byte count (as [`bytes`](Self::bytes) counts) after a
    /// change made through [`settled_mut`](Self::settled_mut).
    pub(crate) fn set_bytes(&mut self, bytes: u64) {
        self.bytes.set(bytes.saturating_sub(self.run_bytes));
    }

    /// Takes everything as a write set, leaving the buffer empty: in
    /// memory if nothing was spilled, else one run merged from memory and
    /// every run (written to `dir`).
    /// `dir` is asked for only when spilled runs must be merged into a new
    /// one (most commits spill nothing: no path built for them).
    pub(crate) fn take_write_set(&mut self, dir: impl FnOnce() -> PathBuf) -> io::Result<WriteSet> {
        if self.runs.is_empty() {
            return Ok(self.take_memory());
        }
        let memory = self.take_memory();
        let runs = std::mem::take(&mut self.runs);
        self.run_bytes = 0;
        if memory.is_empty()
            && let [run] = runs.as_slice()
        {
            return Ok(run.clone());
        }
        let merged =
            OwnWrites::of_sets(&memory, &runs).map(|(key, change)| (key.into_owned(), change));
        Ok(WriteSet::spilled(write_run(&dir(), merged)?))
    }

    /// Takes what memory holds as a write set.
    fn take_memory(&mut self) -> WriteSet {
        let mut pending = std::mem::take(self.pending.get_mut());
        let sorted = std::mem::take(self.sorted.get_mut());
        self.bytes.set(0);
        let entry = |(key, change): (BufferedKey, Change)| WriteEntry {
            key: key.into_key(),
            change,
        };
        if sorted.is_empty() {
            // The common large case: nothing was read by key, so no map
            // was ever built.
            sort_last_wins(&mut pending);
            return WriteSet::from_sorted(pending.into_iter().map(entry).collect());
        }
        let mut sorted = sorted;
        settle(&mut sorted, &mut pending);
        WriteSet::from_sorted(sorted.into_iter().map(entry).collect())
    }
}

/// Writes `entries` (sorted, each key once) as a run in `dir`; `None` if
/// there are none.
fn write_nonempty_run<'a>(
    dir: &Path,
    entries: impl ExactSizeIterator<Item = (&'a Bytes, &'a Change)>,
) -> io::Result<Option<WriteSet>> {
    if entries.len() == 0 {
        return Ok(None);
    }
    Ok(Some(WriteSet::spilled(write_run(dir, entries)?)))
}

/// Sorts `writes` by key and keeps each key's last write; returns the
/// bytes of the writes dropped.
fn sort_last_wins(writes: &mut Vec<(BufferedKey, Change)>) -> u64 {
    // Stable: a key's writes stay in the order they were made.
    writes.sort_by(|a, b| a.0.cmp(&b.0));
    let mut removed = 0u64;
    let mut kept = 0usize;
    for index in 0..writes.len() {
        if index + 1 < writes.len() && writes[index].0 == writes[index + 1].0 {
            removed += entry_bytes(&writes[index]);
            continue;
        }
        writes.swap(kept, index);
        kept += 1;
    }
    writes.truncate(kept);
    removed
}

fn entry_bytes((key, change): &(BufferedKey, Change)) -> u64 {
    (key.key().len() + change.value_bytes()) as u64
}

/// Merges `pending` into `sorted` (pending's writes win) and empties it;
/// returns the bytes of the writes that were replaced.
fn settle(
    sorted: &mut BTreeMap<BufferedKey, Change>,
    pending: &mut Vec<(BufferedKey, Change)>,
) -> u64 {
    let mut batch = std::mem::take(pending);
    let mut removed = sort_last_wins(&mut batch);
    if batch.len() * REBUILD_FRACTION < sorted.len() {
        for (key, change) in batch {
            let key_bytes = key.key().len();
            if let Some(previous) = sorted.insert(key, change) {
                removed += (key_bytes + previous.value_bytes()) as u64;
            }
        }
        return removed;
    }
    // Many writes: one merge of two sorted runs, then a bulk build (a
    // sorted input sorts in one pass).
    let old = std::mem::take(sorted);
    let mut merged = Vec::with_capacity(old.len() + batch.len());
    let mut old = old.into_iter().peekable();
    for write in batch {
        while let Some(entry) = old.next_if(|entry| entry.0 < write.0) {
            merged.push(entry);
        }
        if let Some(replaced) = old.next_if(|entry| entry.0 == write.0) {
            removed += entry_bytes(&replaced);
        }
        merged.push(write);
    }
    merged.extend(old);
    *sorted = merged.into_iter().collect();
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn put(value: u8) -> Change {
        Change::Put {
            value: Bytes::from(vec![value; usize::from(value % 4)]),
            expires_at_ms: None,
        }
    }

    /// A spill that cannot be written leaves every write in memory, whether
    /// the writes were only appended or already settled into the map.
    #[test]
    fn a_failed_spill_keeps_every_write() {
        let missing = Path::new("/nonexistent/keel-spill");
        for settle_first in [false, true] {
            let mut buffer = WriteBuffer::default();
            buffer.push(b"b", put(6));
            buffer.push(b"a", put(5));
            if settle_first {
                buffer.settled();
                buffer.push(b"b", Change::Delete);
            }
            assert!(buffer.spill(missing).is_err());
            assert_eq!(buffer.get(b"a").map(Cow::into_owned), Some(put(5)));
            let b = if settle_first { Change::Delete } else { put(6) };
            assert_eq!(buffer.get(b"b").map(Cow::into_owned), Some(b));
            assert!(buffer.runs.is_empty());
        }
    }

    proptest! {
        /// Against a `BTreeMap` written in order: the same last change per
        /// key and the same exact byte count, however reads (settles) and
        /// writes interleave.
        #[test]
        fn settles_to_the_last_write_of_each_key(
            operations in proptest::collection::vec((0u8..40, any::<u8>(), 0u8..8), 0..300),
        ) {
            let mut buffer = WriteBuffer::default();
            let mut model: BTreeMap<Vec<u8>, Change> = BTreeMap::new();
            for (key, value, action) in operations {
                let key = vec![key % 7; usize::from(key / 7)];
                match action {
                    0 => {
                        let settled: Vec<_> = buffer
                            .settled()
                            .iter()
                            .map(|(key, change)| (key.key().to_vec(), change.clone()))
                            .collect();
                        let expected: Vec<_> = model.clone().into_iter().collect();
                        prop_assert_eq!(settled, expected);
                        let bytes: u64 = model
                            .iter()
                            .map(|(key, change)| (key.len() + change.value_bytes()) as u64)
                            .sum();
                        prop_assert_eq!(buffer.bytes(), bytes);
                    }
                    1 => {
                        buffer.push(&key, Change::Delete);
                        model.insert(key, Change::Delete);
                    }
                    _ => {
                        buffer.push(&key, put(value));
                        model.insert(key, put(value));
                    }
                }
            }
            let set = buffer.take_write_set(std::env::temp_dir)?;
            let expected: Vec<_> = model
                .into_iter()
                .map(|(key, change)| WriteEntry { key: Bytes::from(key), change })
                .collect();
            prop_assert_eq!(set.entries().to_vec(), expected);
            prop_assert!(buffer.is_empty());
        }

        /// With spills between the writes: point reads, ranges from both
        /// ends (interleaved) and the final write set all give each key's
        /// last change, as a `BTreeMap` written in order does.
        #[test]
        fn spilled_runs_read_as_one_buffer(
            operations in proptest::collection::vec((0u8..40, any::<u8>(), 0u8..12), 0..300),
            bounds in (0u8..40, 0u8..40, any::<bool>(), any::<bool>()),
            ends in proptest::collection::vec(any::<bool>(), 0..60),
        ) {
            let dir = tempfile::tempdir()?;
            let mut buffer = WriteBuffer::default();
            let mut model: BTreeMap<Vec<u8>, Change> = BTreeMap::new();
            let key_of = |key: u8| vec![key % 7; usize::from(key / 7)];
            for (key, value, action) in operations {
                let key = key_of(key);
                match action {
                    0 => buffer.spill(dir.path())?,
                    1 => prop_assert_eq!(
                        buffer.get(&key).map(Cow::into_owned),
                        model.get(&key).cloned()
                    ),
                    2 => buffer.push(&key, Change::Delete),
                    _ => buffer.push(&key, put(value)),
                }
                match action {
                    2 => { model.insert(key, Change::Delete); }
                    3.. => { model.insert(key, put(value)); }
                    _ => {}
                }
            }
            let (low, high) = (key_of(bounds.0), key_of(bounds.1));
            let (low, high) = if low <= high { (low, high) } else { (high, low) };
            let lower = if bounds.2 { Bound::Included(&low[..]) } else { Bound::Excluded(&low[..]) };
            let upper = if bounds.3 { Bound::Included(&high[..]) } else { Bound::Unbounded };
            {
                let mut expected = model.range::<[u8], _>((lower, upper));
                let mut got = buffer.range(lower, upper);
                for forward in ends {
                    let (want, have) = if forward {
                        (expected.next(), got.next())
                    } else {
                        (expected.next_back(), got.next_back())
                    };
                    let want = want.map(|(key, change)| (key.clone(), change.clone()));
                    let have = have.map(|(key, change)| (key.to_vec(), change.into_owned()));
                    prop_assert_eq!(have, want);
                }
            }
            let set = buffer.take_write_set(|| dir.path().to_path_buf())?;
            let expected: Vec<_> = model
                .into_iter()
                .map(|(key, change)| WriteEntry { key: Bytes::from(key), change })
                .collect();
            prop_assert_eq!(set.entries().to_vec(), expected);
        }
    }
}

//! What a transaction writes: [`Change`], [`WriteEntry`] and the sorted
//! [`WriteSet`] handed to the log hook, installed in the delta store and
//! replayed by recovery.

use std::borrow::Cow;
use std::ops::{Bound, Range};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::spill::SpillRun;

/// How a write changes its key. Mirrors the write-ahead log's entries, so
/// the engine maps one onto the other field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The key takes this value, optionally expiring at a wall-clock time.
    Put {
        /// The new value, shared (not copied) with the log record and the
        /// delta store.
        value: Bytes,
        /// When the value expires, in milliseconds since the Unix epoch. It
        /// reads as absent to a transaction whose read timestamp's physical
        /// time is at or past it.
        expires_at_ms: Option<u64>,
    },
    /// The key is deleted (a tombstone).
    Delete,
}

impl Change {
    /// The bytes of the value (0 for a delete).
    pub fn value_bytes(&self) -> usize {
        match self {
            Change::Put { value, .. } => value.len(),
            Change::Delete => 0,
        }
    }

    /// The value as seen at physical time `read_physical_ms`: `None` for a
    /// delete or an expired value.
    pub fn live_value(&self, read_physical_ms: u64) -> Option<&Bytes> {
        match self {
            Change::Put {
                value,
                expires_at_ms,
            } if is_live(*expires_at_ms, read_physical_ms) => Some(value),
            _ => None,
        }
    }
}

/// Whether a value expiring at `expires_at_ms` is still there at
/// `read_physical_ms`.
pub(crate) fn is_live(expires_at_ms: Option<u64>, read_physical_ms: u64) -> bool {
    expires_at_ms.is_none_or(|expires_at_ms| expires_at_ms > read_physical_ms)
}

/// One key written by a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteEntry {
    /// The key (the engine prefixes its keyspace id).
    pub key: Bytes,
    /// What happens to it.
    pub change: Change,
}

/// The writes of one transaction, sorted by key, each key once: in memory,
/// or for a transaction larger than its memory budget in a spilled run
/// (see `spill.rs`), read through the same calls.
///
/// ```
/// use bytes::Bytes;
/// use keel_mvcc::{Change, WriteEntry, WriteSet};
///
/// let writes = WriteSet::new(vec![
///     WriteEntry { key: Bytes::from_static(b"b"), change: Change::Delete },
///     WriteEntry {
///         key: Bytes::from_static(b"a"),
///         change: Change::Put { value: Bytes::from_static(b"1"), expires_at_ms: None },
///     },
/// ])?;
/// assert_eq!(writes.entry(0).key, Bytes::from_static(b"a"));
/// assert!(writes.contains_key(b"b"));
/// # Ok::<(), keel_mvcc::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WriteSet {
    storage: Storage,
}

#[derive(Debug, Clone)]
enum Storage {
    Memory(Vec<WriteEntry>),
    Spilled(Arc<SpillRun>),
}

impl Default for WriteSet {
    fn default() -> WriteSet {
        WriteSet::from_sorted(Vec::new())
    }
}

impl PartialEq for WriteSet {
    fn eq(&self, other: &WriteSet) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl Eq for WriteSet {}

impl WriteSet {
    /// Sorts `entries` by key; fails with [`Error::DuplicateKey`] if a key
    /// appears twice.
    pub fn new(mut entries: Vec<WriteEntry>) -> Result<WriteSet> {
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(pair) = entries.windows(2).find(|pair| pair[0].key == pair[1].key) {
            return Err(Error::DuplicateKey {
                key: pair[0].key.clone(),
            });
        }
        Ok(WriteSet::from_sorted(entries))
    }

    /// Entries already sorted by key without duplicates (a `BTreeMap`'s).
    pub(crate) fn from_sorted(entries: Vec<WriteEntry>) -> WriteSet {
        debug_assert!(entries.windows(2).all(|pair| pair[0].key < pair[1].key));
        WriteSet {
            storage: Storage::Memory(entries),
        }
    }

    /// A spilled run (sorted, each key once) as a write set.
    pub(crate) fn spilled(run: SpillRun) -> WriteSet {
        WriteSet {
            storage: Storage::Spilled(Arc::new(run)),
        }
    }

    /// Whether the entries live in a spilled run rather than in memory.
    pub fn is_spilled(&self) -> bool {
        matches!(self.storage, Storage::Spilled(_))
    }

    /// The entry at `position` in key order (borrowed when in memory; a
    /// spilled entry's key and value share the run's map, not copied).
    ///
    /// # Panics
    /// If `position` is not below [`len`](Self::len) and the set is in
    /// memory.
    pub fn entry(&self, position: usize) -> Cow<'_, WriteEntry> {
        match &self.storage {
            Storage::Memory(entries) => Cow::Borrowed(&entries[position]),
            Storage::Spilled(run) => Cow::Owned(run.entry(position)),
        }
    }

    /// The key at `position`.
    pub(crate) fn key(&self, position: usize) -> &[u8] {
        match &self.storage {
            Storage::Memory(entries) => &entries[position].key,
            Storage::Spilled(run) => run.key(position),
        }
    }

    /// Where `key` is (`Ok`) or would be (`Err`).
    pub(crate) fn search(&self, key: &[u8]) -> std::result::Result<usize, usize> {
        match &self.storage {
            Storage::Memory(entries) => {
                entries.binary_search_by(|entry| entry.key.as_ref().cmp(key))
            }
            Storage::Spilled(run) => run.search(key),
        }
    }

    /// The first position whose key is not before `key` (`inclusive`) or
    /// after it.
    fn partition(&self, key: &[u8], inclusive: bool) -> usize {
        match self.search(key) {
            Ok(position) if inclusive => position,
            Ok(position) => position + 1,
            Err(position) => position,
        }
    }

    /// The positions of the entries within the bounds.
    pub(crate) fn window(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Range<usize> {
        let start = match lower {
            Bound::Included(key) => self.partition(key, true),
            Bound::Excluded(key) => self.partition(key, false),
            Bound::Unbounded => 0,
        };
        let end = match upper {
            Bound::Included(key) => self.partition(key, false),
            Bound::Excluded(key) => self.partition(key, true),
            Bound::Unbounded => self.len(),
        };
        start..end.max(start)
    }

    /// The change made to `key`, if it is written.
    pub fn get(&self, key: &[u8]) -> Option<Change> {
        let position = self.search(key).ok()?;
        Some(self.entry(position).into_owned().change)
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Cow<'_, WriteEntry>> + '_ {
        (0..self.len()).map(|position| self.entry(position))
    }

    /// The entries in key order, at most `entries` at a time (slices of
    /// the set in memory; decoded chunks of a spilled run).
    pub fn chunks(&self, entries: usize) -> impl Iterator<Item = Cow<'_, [WriteEntry]>> + '_ {
        let entries = entries.max(1);
        let starts = (0..self.len()).step_by(entries);
        starts.map(move |start| {
            let end = (start + entries).min(self.len());
            match &self.storage {
                Storage::Memory(all) => Cow::Borrowed(&all[start..end]),
                Storage::Spilled(run) => Cow::Owned((start..end).map(|at| run.entry(at)).collect()),
            }
        })
    }

    /// Every entry as one slice (a spilled set is read into memory: for
    /// small sets and tests; large ones use [`iter`](Self::iter) or
    /// [`chunks`](Self::chunks)).
    pub fn entries(&self) -> Cow<'_, [WriteEntry]> {
        match &self.storage {
            Storage::Memory(entries) => Cow::Borrowed(entries),
            Storage::Spilled(_) => Cow::Owned(self.iter().map(Cow::into_owned).collect()),
        }
    }

    /// The number of keys written.
    pub fn len(&self) -> usize {
        match &self.storage {
            Storage::Memory(entries) => entries.len(),
            Storage::Spilled(run) => run.len(),
        }
    }

    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` is written.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.search(key).is_ok()
    }

    /// Bytes of keys and values.
    pub fn bytes(&self) -> u64 {
        match &self.storage {
            Storage::Memory(entries) => entries
                .iter()
                .map(|entry| (entry.key.len() + entry.change.value_bytes()) as u64)
                .sum(),
            Storage::Spilled(run) => run.bytes(),
        }
    }

    /// Bytes held in memory: keys, values and the entries themselves (a
    /// spilled run holds none: the kernel pages its map).
    pub(crate) fn footprint_bytes(&self) -> u64 {
        match &self.storage {
            Storage::Memory(entries) => {
                self.bytes() + (entries.len() * size_of::<WriteEntry>()) as u64
            }
            Storage::Spilled(_) => 0,
        }
    }

    /// The entries, by value.
    pub fn into_entries(self) -> Vec<WriteEntry> {
        match self.storage {
            Storage::Memory(entries) => entries,
            Storage::Spilled(_) => self.entries().into_owned(),
        }
    }
}

/// A key of a transaction's write buffer: its first 16 bytes also held
/// inline, big-endian and zero-padded, so that comparing two keys in a
/// large buffer reads no heap memory unless those bytes are equal. The
/// order is the keys' byte order (padding sorts a shorter key first only
/// where the bytes it has are equal), so it can be searched as `[u8]`.
#[derive(Debug, Clone)]
pub(crate) struct BufferedKey {
    prefix: u128,
    key: Bytes,
}

impl BufferedKey {
    pub(crate) fn new(key: Bytes) -> BufferedKey {
        let mut head = [0u8; 16];
        let length = key.len().min(16);
        head[..length].copy_from_slice(&key[..length]);
        BufferedKey {
            prefix: u128::from_be_bytes(head),
            key,
        }
    }

    pub(crate) fn key(&self) -> &Bytes {
        &self.key
    }

    pub(crate) fn into_key(self) -> Bytes {
        self.key
    }
}

impl PartialEq for BufferedKey {
    fn eq(&self, other: &BufferedKey) -> bool {
        self.prefix == other.prefix && self.key == other.key
    }
}

impl Eq for BufferedKey {}

impl PartialOrd for BufferedKey {
    fn partial_cmp(&self, other: &BufferedKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BufferedKey {
    fn cmp(&self, other: &BufferedKey) -> std::cmp::Ordering {
        self.prefix
            .cmp(&other.prefix)
            .then_with(|| self.key.cmp(&other.key))
    }
}

impl std::borrow::Borrow<[u8]> for BufferedKey {
    fn borrow(&self) -> &[u8] {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn buffered_keys_sort_as_their_bytes(
            a in proptest::collection::vec(0u8..3, 0..20),
            b in proptest::collection::vec(0u8..3, 0..20),
        ) {
            let ordered = BufferedKey::new(Bytes::from(a.clone())).cmp(&BufferedKey::new(Bytes::from(b.clone())));
            prop_assert_eq!(ordered, a.cmp(&b));
        }
    }
}

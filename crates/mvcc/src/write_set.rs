//! What a transaction writes: [`Change`], [`WriteEntry`] and the sorted
//! [`WriteSet`] handed to the log hook, installed in the delta store and
//! replayed by recovery.

use bytes::Bytes;

use crate::error::{Error, Result};

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

/// The writes of one transaction, sorted by key, each key once.
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
/// assert_eq!(writes.entries()[0].key, Bytes::from_static(b"a"));
/// assert!(writes.contains_key(b"b"));
/// # Ok::<(), keel_mvcc::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSet {
    entries: Vec<WriteEntry>,
}

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
        Ok(WriteSet { entries })
    }

    /// Entries already sorted by key without duplicates (a `BTreeMap`'s).
    pub(crate) fn from_sorted(entries: Vec<WriteEntry>) -> WriteSet {
        debug_assert!(entries.windows(2).all(|pair| pair[0].key < pair[1].key));
        WriteSet { entries }
    }

    /// The entries, in key order.
    pub fn entries(&self) -> &[WriteEntry] {
        &self.entries
    }

    /// The number of keys written.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `key` is written.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.entries
            .binary_search_by(|entry| entry.key.as_ref().cmp(key))
            .is_ok()
    }

    /// Bytes of keys and values.
    pub fn bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(|entry| (entry.key.len() + entry.change.value_bytes()) as u64)
            .sum()
    }

    /// Bytes held in memory: keys, values and the entries themselves.
    pub(crate) fn footprint_bytes(&self) -> u64 {
        self.bytes() + (self.entries.len() * size_of::<WriteEntry>()) as u64
    }

    /// The entries, by value.
    pub fn into_entries(self) -> Vec<WriteEntry> {
        self.entries
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

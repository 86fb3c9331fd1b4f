//! [`ReadMemo`]: the keys every collection command reads first — a key's
//! type record in its database and the collection's header in the
//! elements keyspace — as a transaction's store last read or wrote them,
//! so that the commands of one transaction (a pipelined group of many
//! connections, a MULTI block, a script) on the same collection read
//! each through the engine once: ZADD, HSET, SADD and LPUSH on one key
//! from 50 clients are that case.
//!
//! A header written is kept here, dirty, and written to the transaction
//! once, when the store's commands end, before it reads a range of
//! elements, or when its entry makes room: the 25 commands of a group
//! on one collection then leave one header write in the transaction's
//! write set, not 25, and its reads in between settle fewer writes.
//!
//! Invariant: an entry is what the transaction reads for its key now,
//! or, dirty, what it will read once the entry is written. The store
//! replaces or drops the entry at each write of its key, and empties the
//! memo (after writing what is dirty) at every write of keys wholesale
//! (FLUSHDB, FLUSHALL, SWAPDB). Repeating a read adds nothing to a
//! serializable transaction's read set, so a read answered here is
//! validated as the first one is.

use bytes::Bytes;

use crate::backend::DatabaseIndex;
use crate::commands::StoredValue;
use crate::commands::encoding::{is_header_key, looks_like_record};

/// Entries kept; the oldest is replaced past this (a transaction that
/// touches more collections than this reads the rest through the engine).
pub(crate) const MEMO_ENTRIES_MAX: usize = 8;

/// Where a remembered key lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Space {
    /// A database's keyspace: type records.
    Database(DatabaseIndex),
    /// The elements keyspace: headers.
    Elements,
}

#[derive(Debug)]
struct Entry {
    space: Space,
    key: Bytes,
    /// `None`: the key holds nothing.
    value: Option<StoredValue>,
    /// Written here, not yet to the transaction.
    dirty: bool,
}

/// A header write the memo held back, for the store to make.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Deferred {
    /// The header's key in the elements keyspace.
    pub(crate) key: Bytes,
    /// The header's bytes.
    pub(crate) value: Bytes,
}

impl Entry {
    /// The write the entry holds back, if dirty.
    fn deferred(self) -> Option<Deferred> {
        match (self.dirty, self.value) {
            (true, Some(stored)) => Some(Deferred {
                key: self.key,
                value: stored.value,
            }),
            _ => None,
        }
    }
}

/// Type records and headers as the transaction last read or wrote them.
#[derive(Debug, Default)]
pub(crate) struct ReadMemo {
    entries: Vec<Entry>,
    /// The entry replaced next once the memo is full.
    next: usize,
}

/// Whether a key of `space` holding `value` is worth remembering: a type
/// record, or a header (present or not).
fn kept(space: Space, key: &[u8], value: Option<&StoredValue>) -> bool {
    match space {
        Space::Database(_) => value.is_some_and(|stored| looks_like_record(&stored.value)),
        Space::Elements => is_header_key(key),
    }
}

impl ReadMemo {
    fn position(&self, space: Space, key: &[u8]) -> Option<usize> {
        self.entries
            .iter()
            .position(|entry| entry.space == space && entry.key == key)
    }

    /// What the transaction reads at `key`, if remembered (`Some(None)`:
    /// nothing is there).
    pub(crate) fn get(&self, space: Space, key: &[u8]) -> Option<Option<StoredValue>> {
        if self.entries.is_empty() {
            return None;
        }
        self.position(space, key)
            .map(|index| self.entries[index].value.clone())
    }

    /// Notes what the transaction read, or wrote (`None`: deleted), at
    /// `key`; a write held back for it is void. Returns a held-back
    /// write of another key that had to make room, for the store to make
    /// now.
    #[must_use]
    pub(crate) fn note(
        &mut self,
        space: Space,
        key: &[u8],
        value: Option<&StoredValue>,
    ) -> Option<Deferred> {
        // A value not worth remembering at a key not remembered (every
        // SET's) leaves nothing to do: no clone of it, which for a value
        // the store was handed as a vector allocated a shared count.
        if !kept(space, key, value) && self.position(space, key).is_none() {
            return None;
        }
        self.remember(space, key, value.cloned(), false)
    }

    /// Holds back the write of header `key`: reads see it at once, the
    /// transaction when the store writes what [`ReadMemo::take_dirty`]
    /// returns. Returns a held-back write that had to make room.
    #[must_use]
    pub(crate) fn defer(&mut self, key: &[u8], value: Bytes) -> Option<Deferred> {
        debug_assert!(is_header_key(key), "only headers are held back");
        let stored = StoredValue {
            value,
            deadline_ms: None,
        };
        self.remember(Space::Elements, key, Some(stored), true)
    }

    fn remember(
        &mut self,
        space: Space,
        key: &[u8],
        value: Option<StoredValue>,
        dirty: bool,
    ) -> Option<Deferred> {
        let found = self.position(space, key);
        if !kept(space, key, value.as_ref()) {
            // Only a type record is ever dropped here, never dirty; a
            // header is always kept. Were one dropped, its write goes out.
            let index = found?;
            self.next = 0;
            return self.entries.swap_remove(index).deferred();
        }
        if let Some(index) = found {
            let entry = &mut self.entries[index];
            entry.value = value;
            entry.dirty = dirty;
            return None;
        }
        let entry = Entry {
            space,
            key: Bytes::copy_from_slice(key),
            value,
            dirty,
        };
        if self.entries.len() < MEMO_ENTRIES_MAX {
            self.entries.push(entry);
            return None;
        }
        let victim = std::mem::replace(&mut self.entries[self.next], entry);
        self.next = (self.next + 1) % MEMO_ENTRIES_MAX;
        victim.deferred()
    }

    /// The writes held back, now to be made; their entries stay, clean.
    pub(crate) fn take_dirty(&mut self) -> Vec<Deferred> {
        let mut writes = Vec::new();
        for entry in self.entries.iter_mut().filter(|entry| entry.dirty) {
            entry.dirty = false;
            if let Some(stored) = &entry.value {
                writes.push(Deferred {
                    key: entry.key.clone(),
                    value: stored.value.clone(),
                });
            }
        }
        writes
    }

    /// Forgets everything (keys were written wholesale); the caller wrote
    /// what was held back first.
    pub(crate) fn clear(&mut self) {
        debug_assert!(self.entries.iter().all(|entry| !entry.dirty));
        self.entries.clear();
        self.next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::encoding::{HEADER_TAG, Kind, MEMBER_TAG, TypeRecord, element_prefix};

    fn record(version: u64) -> StoredValue {
        StoredValue {
            value: TypeRecord {
                kind: Kind::Set,
                version,
            }
            .encode(),
            deadline_ms: Some(7),
        }
    }

    fn plain(value: &'static [u8]) -> StoredValue {
        StoredValue {
            value: Bytes::from_static(value),
            deadline_ms: None,
        }
    }

    #[test]
    fn a_type_record_is_remembered_per_database_and_a_string_is_not() {
        let mut memo = ReadMemo::default();
        let _ = memo.note(Space::Database(0), b"k", Some(&record(1)));
        let _ = memo.note(Space::Database(0), b"s", Some(&plain(b"v")));
        assert_eq!(memo.get(Space::Database(0), b"k"), Some(Some(record(1))));
        assert_eq!(memo.get(Space::Database(1), b"k"), None);
        assert_eq!(memo.get(Space::Database(0), b"s"), None);
        // A write of a string over the record forgets it.
        let _ = memo.note(Space::Database(0), b"k", Some(&plain(b"v")));
        assert_eq!(memo.get(Space::Database(0), b"k"), None);
        let _ = memo.note(Space::Database(0), b"k", Some(&record(2)));
        let _ = memo.note(Space::Database(0), b"k", None);
        assert_eq!(memo.get(Space::Database(0), b"k"), None);
    }

    #[test]
    fn a_header_is_remembered_present_or_absent_and_an_element_never() {
        let mut memo = ReadMemo::default();
        let header = element_prefix(9, HEADER_TAG);
        let _ = memo.note(Space::Elements, &header, None);
        assert_eq!(memo.get(Space::Elements, &header), Some(None));
        let _ = memo.note(Space::Elements, &header, Some(&plain(b"header")));
        assert_eq!(
            memo.get(Space::Elements, &header),
            Some(Some(plain(b"header")))
        );
        let member = element_prefix(9, MEMBER_TAG);
        let _ = memo.note(Space::Elements, &member, Some(&plain(b"m")));
        assert_eq!(memo.get(Space::Elements, &member), None);
    }

    #[test]
    fn past_its_bound_the_oldest_entry_makes_room_and_clear_empties_it() {
        let mut memo = ReadMemo::default();
        let count = u64::try_from(MEMO_ENTRIES_MAX).expect("a small bound") + 1;
        for version in 0..count {
            assert_eq!(
                memo.note(
                    Space::Elements,
                    &element_prefix(version, HEADER_TAG),
                    Some(&plain(b"h")),
                ),
                None
            );
        }
        assert_eq!(memo.entries.len(), MEMO_ENTRIES_MAX);
        assert_eq!(
            memo.get(Space::Elements, &element_prefix(0, HEADER_TAG)),
            None
        );
        assert!(
            memo.get(Space::Elements, &element_prefix(count - 1, HEADER_TAG))
                .is_some()
        );
        memo.clear();
        assert_eq!(
            memo.get(Space::Elements, &element_prefix(1, HEADER_TAG)),
            None
        );
    }

    #[test]
    fn a_held_back_header_is_read_back_then_handed_out_once() {
        let mut memo = ReadMemo::default();
        let header = element_prefix(3, HEADER_TAG);
        assert_eq!(memo.defer(&header, Bytes::from_static(b"one")), None);
        assert_eq!(memo.defer(&header, Bytes::from_static(b"two")), None);
        assert_eq!(
            memo.get(Space::Elements, &header),
            Some(Some(plain(b"two")))
        );
        let writes = memo.take_dirty();
        assert_eq!(
            writes,
            [Deferred {
                key: Bytes::copy_from_slice(&header),
                value: Bytes::from_static(b"two"),
            }]
        );
        assert!(memo.take_dirty().is_empty());
        assert_eq!(
            memo.get(Space::Elements, &header),
            Some(Some(plain(b"two")))
        );
    }

    #[test]
    fn a_deletion_voids_a_held_back_header_and_eviction_hands_one_out() {
        let mut memo = ReadMemo::default();
        let header = element_prefix(3, HEADER_TAG);
        assert_eq!(memo.defer(&header, Bytes::from_static(b"h")), None);
        assert_eq!(memo.note(Space::Elements, &header, None), None);
        assert!(memo.take_dirty().is_empty());
        assert_eq!(memo.get(Space::Elements, &header), Some(None));
        memo.clear();
        assert_eq!(memo.defer(&header, Bytes::from_static(b"h")), None);
        let mut handed = Vec::new();
        for version in 10..10 + u64::try_from(MEMO_ENTRIES_MAX).expect("a small bound") {
            handed.extend(memo.note(Space::Elements, &element_prefix(version, HEADER_TAG), None));
        }
        assert_eq!(
            handed,
            [Deferred {
                key: Bytes::copy_from_slice(&header),
                value: Bytes::from_static(b"h"),
            }]
        );
        assert!(memo.take_dirty().is_empty());
    }
}

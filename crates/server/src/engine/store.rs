//! [`EngineStore`]: the data commands' [`KeyValueStore`] over one keel
//! transaction, a keyspace per database index.
//!
//! The store remembers its first failure: a command that failed half way
//! (say the second key of an MSET was too large) must not commit the
//! first half, so the caller rolls the transaction back instead.

use std::ops::Bound;

use bytes::Bytes;
use keel::{Keyspace, Transaction};

use super::expiry_watch::DeadlineChange;
use super::held_writes::HeldWrites;
use super::read_memo::{Deferred, ReadMemo, Space};
use crate::backend::DatabaseIndex;
use crate::commands::encoding::is_header_key;
use crate::commands::notify::{EventClasses, KeyspaceEvent};
use crate::commands::store::{ElementRange, StoreResult};
use crate::commands::{KeyValueStore, StoreError, StoredValue};

/// What a command asked of its databases as a whole, done by the backend
/// after the commit, under the databases' exclusive locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterCommit {
    /// Drop the database's keyspace and create it anew (FLUSHDB of more
    /// than [`FLUSH_IN_TRANSACTION_KEYS_MAX`](super::backend::FLUSH_IN_TRANSACTION_KEYS_MAX) keys).
    Recreate(DatabaseIndex),
    /// Trade the two databases' keyspaces (SWAPDB; the map is written in
    /// the transaction).
    Swap(DatabaseIndex, DatabaseIndex),
    /// Checkpoint (DEBUG RELOAD).
    Checkpoint,
}

/// What a committed run leaves to do: its actions on whole databases,
/// the keyspace events it fired, the deadlines it set or cleared (for
/// the expiry watch, while `expired` events are on), and whether it
/// wrote (blocked clients then try again).
#[derive(Clone, Debug, Default)]
pub(crate) struct Committed {
    pub(crate) actions: Vec<AfterCommit>,
    pub(crate) events: Vec<KeyspaceEvent>,
    pub(crate) deadlines: Vec<DeadlineChange>,
    pub(crate) wrote: bool,
    /// Commands of the run that wrote something: Redis's dirty count
    /// (INFO's `rdb_changes_since_last_save`) moves by it on commit.
    pub(crate) changes: u64,
}

impl Committed {
    /// Appends what `other` left to do.
    pub(crate) fn extend(&mut self, other: Committed) {
        self.actions.extend(other.actions);
        self.events.extend(other.events);
        self.deadlines.extend(other.deadlines);
        self.wrote |= other.wrote;
        self.changes += other.changes;
    }

    /// Forgets everything (an attempt run again).
    pub(crate) fn clear(&mut self) {
        self.actions.clear();
        self.events.clear();
        self.deadlines.clear();
        self.wrote = false;
        self.changes = 0;
    }
}

/// Keys read per batch when a store counts or deletes a whole keyspace.
pub(crate) const KEYSPACE_BATCH_KEYS: usize = 1024;

/// The keyspaces a store may touch, by database index.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Keyspaces<'a> {
    /// One database (a single command).
    One(DatabaseIndex, &'a Keyspace),
    /// Every database, index `i` at position `i` (a MULTI block).
    All(&'a [&'a Keyspace]),
}

impl<'a> Keyspaces<'a> {
    fn get(self, database: DatabaseIndex) -> Result<&'a Keyspace, keel::Error> {
        let found = match self {
            Keyspaces::One(index, keyspace) => (index == database).then_some(keyspace),
            Keyspaces::All(keyspaces) => usize::try_from(database)
                .ok()
                .and_then(|index| keyspaces.get(index).copied()),
        };
        found.ok_or_else(|| keel::Error::KeyspaceNotFound {
            name: super::backend::keyspace_name(database),
        })
    }

    fn indexes(self) -> Vec<DatabaseIndex> {
        match self {
            Keyspaces::One(index, _) => vec![index],
            Keyspaces::All(keyspaces) => (0..keyspaces.len())
                .filter_map(|index| DatabaseIndex::try_from(index).ok())
                .collect(),
        }
    }
}

/// A [`KeyValueStore`] over a keel transaction.
#[derive(Debug)]
pub(crate) struct EngineStore<'a> {
    transaction: &'a mut Transaction,
    keyspaces: Keyspaces<'a>,
    /// The collections' elements, shared by every database.
    elements: &'a Keyspace,
    now_ms: i64,
    failure: Option<keel::Error>,
    /// Writes made so far (puts and deletes, of keys and elements).
    writes: u64,
    /// Set when the command holds every database exclusively: the keyspace
    /// of the SWAPDB map, and large flushes may recreate a keyspace.
    exclusive: Option<&'a Keyspace>,
    /// The event classes recorded (`notify-keyspace-events` when the run
    /// began).
    classes: EventClasses,
    committed: Committed,
    /// Type records and headers as last read or written.
    memo: ReadMemo,
    /// The other element writes, not yet made to the transaction.
    held: HeldWrites,
    /// Whether element writes are held: from the first point read of an
    /// element that is not a header on. Before it no read can meet them
    /// in the transaction's write buffer, and holding costs ~150
    /// instructions a write (a group of LPUSHes never reads one).
    holding: bool,
}

impl<'a> EngineStore<'a> {
    /// A store over `transaction`, judging expiry at the time it reads
    /// at ([`Transaction::read_time_ms`]): the engine's clock, which its
    /// reads judge expiry by too.
    pub(crate) fn new(
        transaction: &'a mut Transaction,
        keyspaces: Keyspaces<'a>,
        elements: &'a Keyspace,
        classes: EventClasses,
    ) -> EngineStore<'a> {
        let now_ms = i64::try_from(transaction.read_time_ms()).unwrap_or(i64::MAX);
        EngineStore {
            transaction,
            keyspaces,
            elements,
            now_ms,
            failure: None,
            writes: 0,
            exclusive: None,
            classes,
            committed: Committed::default(),
            memo: ReadMemo::default(),
            held: HeldWrites::default(),
            holding: false,
        }
    }

    /// The store of a command holding every database exclusively;
    /// `databases_map` is the keyspace SWAPDB records the map in.
    pub(crate) fn exclusive(mut self, databases_map: &'a Keyspace) -> EngineStore<'a> {
        self.exclusive = Some(databases_map);
        self
    }

    /// What the backend must do after the commit.
    pub(crate) fn take_committed(&mut self) -> Committed {
        std::mem::take(&mut self.committed)
    }

    /// Notes a key's new deadline (`None`: none, or deleted) for the
    /// expiry watch, when `expired` events are on: only then is the change
    /// built (a key's is a copy of the key), not on every write.
    fn note_deadline(&mut self, change: impl FnOnce() -> DeadlineChange) {
        if self.classes.publishes(EventClasses::EXPIRED) {
            self.committed.deadlines.push(change());
        }
    }

    /// The first error a call returned, if any: the transaction must then
    /// be rolled back.
    pub(crate) fn take_failure(&mut self) -> Option<keel::Error> {
        self.failure.take()
    }

    /// Writes made so far: a command that moved it changed something.
    pub(crate) fn writes(&self) -> u64 {
        self.writes
    }

    fn note_write(&mut self) {
        self.writes += 1;
    }

    /// Whether anything was written.
    pub(crate) fn wrote(&self) -> bool {
        self.writes > 0
    }

    /// The keyspace of `database`.
    pub(crate) fn keyspace(&self, database: DatabaseIndex) -> Result<&'a Keyspace, keel::Error> {
        self.keyspaces.get(database)
    }

    /// Records `error` as the store's failure and returns it.
    pub(crate) fn fail(&mut self, error: keel::Error) -> keel::Error {
        if self.failure.is_none() {
            self.failure = Some(error.clone());
        }
        error
    }

    fn keys_in(
        &mut self,
        keyspace: &Keyspace,
        after: Option<&[u8]>,
        count_max: usize,
    ) -> Result<Vec<Bytes>, keel::Error> {
        let lower = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        self.transaction
            .range(keyspace, (lower, Bound::Unbounded))?
            .take(count_max)
            .map(|item| item.map(|(key, _)| key))
            .collect()
    }

    /// Makes the element writes held back: the headers the memo holds,
    /// the other elements' writes. The commands' transaction must not
    /// commit before this (`run_in` calls it after the last command), nor
    /// read a range of elements.
    pub(crate) fn write_held_back(&mut self) -> StoreResult<()> {
        // The elements first: the write set then reaches the commit's sort
        // as it did when they were written at once (an LPUSH group's is
        // one descending run, the headers after it).
        self.write_held_elements()?;
        for deferred in self.memo.take_dirty() {
            self.write_evicted(Some(deferred))?;
        }
        Ok(())
    }

    /// Makes the held writes of elements other than headers.
    fn write_held_elements(&mut self) -> StoreResult<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let (transaction, elements) = (&mut *self.transaction, self.elements);
        let result = self.held.drain(|key, value| match value {
            Some(value) => transaction.put_bytes(elements, key, value),
            None => transaction.delete(elements, key),
        });
        self.checked(result)
    }

    /// Writes an element other than a header (`None`: deletes it): held
    /// back once the store holds writes, every held write made once a
    /// bound is reached.
    fn hold(&mut self, key: &[u8], value: Option<Bytes>) -> StoreResult<()> {
        self.note_write();
        if !self.holding {
            let result = match value {
                Some(value) => self.transaction.put_bytes(self.elements, key, value),
                None => self.transaction.delete(self.elements, key),
            };
            return self.checked(result);
        }
        if self.held.hold(key, value) {
            return self.write_held_elements();
        }
        Ok(())
    }

    /// Writes a header the memo held back and let go of.
    fn write_evicted(&mut self, deferred: Option<Deferred>) -> StoreResult<()> {
        let Some(Deferred { key, value }) = deferred else {
            return Ok(());
        };
        let result = self.transaction.put_bytes(self.elements, key, value);
        self.checked(result)
    }

    fn checked<T>(&mut self, result: Result<T, keel::Error>) -> StoreResult<T> {
        result.map_err(|error| StoreError::backend(self.fail(error)))
    }

    /// Empties one database: in the transaction, or, holding it
    /// exclusively and finding it large, by recreating it after the
    /// commit.
    fn flush_database(&mut self, index: DatabaseIndex) -> Result<(), keel::Error> {
        let keyspace = self.keyspace(index)?;
        if self.exclusive.is_some() {
            let limit = super::backend::FLUSH_IN_TRANSACTION_KEYS_MAX;
            let keys = self.keys_in(keyspace, None, limit + 1)?;
            if keys.len() > limit {
                self.committed.actions.push(AfterCommit::Recreate(index));
                return Ok(());
            }
        }
        self.flush_keyspace(keyspace)
    }

    fn flush_keyspace(&mut self, keyspace: &Keyspace) -> Result<(), keel::Error> {
        let mut after: Option<Bytes> = None;
        loop {
            let keys = self.keys_in(keyspace, after.as_deref(), KEYSPACE_BATCH_KEYS)?;
            for key in &keys {
                self.transaction.delete(keyspace, key)?;
                self.note_write();
            }
            if keys.len() < KEYSPACE_BATCH_KEYS {
                return Ok(());
            }
            after = keys.last().cloned();
        }
    }
}

/// An element's value as the memo keeps it (elements never expire).
fn element_value(value: Bytes) -> StoredValue {
    StoredValue {
        value,
        deadline_ms: None,
    }
}

impl KeyValueStore for EngineStore<'_> {
    fn now_ms(&self) -> i64 {
        self.now_ms
    }

    fn get(&mut self, database: DatabaseIndex, key: &[u8]) -> StoreResult<Option<StoredValue>> {
        let space = Space::Database(database);
        if let Some(remembered) = self.memo.get(space, key) {
            return Ok(remembered);
        }
        let now_ms = self.now_ms;
        let result = self.keyspace(database).and_then(|keyspace| {
            self.transaction
                .get_with_expiry(keyspace, key)
                .map(|entry| {
                    entry
                        .map(|(value, expires_at_ms)| StoredValue {
                            value,
                            deadline_ms: expires_at_ms
                                .map(|deadline| i64::try_from(deadline).unwrap_or(i64::MAX)),
                        })
                        // The engine judges expiry at its read time, which
                        // is `now_ms`: this only restates it.
                        .filter(|stored| {
                            stored.deadline_ms.is_none_or(|deadline| deadline > now_ms)
                        })
                })
        });
        let stored = self.checked(result)?;
        let evicted = self.memo.note(space, key, stored.as_ref());
        self.write_evicted(evicted)?;
        Ok(stored)
    }

    fn visit(
        &mut self,
        database: DatabaseIndex,
        key: &[u8],
        visit: &mut dyn FnMut(Option<&[u8]>),
    ) -> StoreResult<()> {
        // The engine judges expiry at the read time, which is `now_ms`.
        let result = self
            .keyspace(database)
            .and_then(|keyspace| self.transaction.get_with(keyspace, key, visit));
        self.checked(result)
    }

    fn put(&mut self, database: DatabaseIndex, key: &[u8], stored: StoredValue) -> StoreResult<()> {
        self.note_deadline(|| DeadlineChange::Key {
            database,
            key: Bytes::copy_from_slice(key),
            deadline_ms: stored.deadline_ms,
        });
        let evicted = self
            .memo
            .note(Space::Database(database), key, Some(&stored));
        self.write_evicted(evicted)?;
        let value = stored.value;
        let result = self
            .keyspace(database)
            .and_then(|keyspace| match stored.deadline_ms {
                // The value is the command's own `Bytes`: kept, not copied.
                None => self.transaction.put_bytes(keyspace, key, value),
                Some(deadline) => self.transaction.put_bytes_expiring_at(
                    keyspace,
                    key,
                    value,
                    // The commands never write a deadline at or before now.
                    u64::try_from(deadline).unwrap_or(0),
                ),
            });
        self.note_write();
        self.checked(result)
    }

    fn delete(&mut self, database: DatabaseIndex, key: &[u8]) -> StoreResult<bool> {
        let existed = self.get(database, key)?.is_some();
        if existed {
            let evicted = self.memo.note(Space::Database(database), key, None);
            self.write_evicted(evicted)?;
            self.note_deadline(|| DeadlineChange::Key {
                database,
                key: Bytes::copy_from_slice(key),
                deadline_ms: None,
            });
            let result = self
                .keyspace(database)
                .and_then(|keyspace| self.transaction.delete(keyspace, key));
            self.note_write();
            self.checked(result)?;
        }
        Ok(existed)
    }

    fn keys_after(
        &mut self,
        database: DatabaseIndex,
        after: Option<&[u8]>,
        count_max: usize,
    ) -> StoreResult<Vec<Bytes>> {
        let result = self
            .keyspace(database)
            .and_then(|keyspace| self.keys_in(keyspace, after, count_max));
        self.checked(result)
    }

    fn element_get(&mut self, key: &[u8]) -> StoreResult<Option<Bytes>> {
        let header = is_header_key(key);
        if header && let Some(remembered) = self.memo.get(Space::Elements, key) {
            return Ok(remembered.map(|stored| stored.value));
        }
        if !header {
            if let Some(held) = self.held.get(key) {
                return Ok(held);
            }
            self.holding = true;
        }
        let result = self.transaction.get(self.elements, key);
        let value = self.checked(result)?;
        if header {
            let stored = value.clone().map(element_value);
            let evicted = self.memo.note(Space::Elements, key, stored.as_ref());
            self.write_evicted(evicted)?;
        }
        Ok(value)
    }

    fn element_put(&mut self, key: &[u8], value: Bytes) -> StoreResult<()> {
        self.note_write();
        if is_header_key(key) {
            let evicted = self.memo.defer(key, value);
            return self.write_evicted(evicted);
        }
        self.hold(key, Some(value))
    }

    fn element_delete(&mut self, key: &[u8]) -> StoreResult<()> {
        if !is_header_key(key) {
            return self.hold(key, None);
        }
        let evicted = self.memo.note(Space::Elements, key, None);
        self.write_evicted(evicted)?;
        let result = self.transaction.delete(self.elements, key);
        self.note_write();
        self.checked(result)
    }

    fn elements(&mut self, range: &ElementRange) -> StoreResult<Vec<(Bytes, Bytes)>> {
        self.write_held_back()?;
        let result = self
            .transaction
            .range(self.elements, range.bounds())
            .and_then(|iter| {
                if range.reverse {
                    iter.rev().take(range.count_max).collect()
                } else {
                    iter.take(range.count_max).collect()
                }
            });
        self.checked(result)
    }

    fn visit_element_values(
        &mut self,
        range: &ElementRange,
        visit: &mut dyn FnMut(&[u8]),
    ) -> StoreResult<()> {
        self.write_held_back()?;
        // Nothing of an entry outlives its visit, so the range's leaf
        // buffer goes back to the B+tree's spare buffers when it ends
        // instead of a new zeroed page per scan; forwards, the entries are
        // visited in place (no `Bytes` per entry).
        let result = self
            .transaction
            .range(self.elements, range.bounds())
            .and_then(|mut iter| {
                if range.reverse {
                    return visit_values(iter.rev(), range.count_max, visit);
                }
                for _ in 0..range.count_max {
                    match iter.next_with(|_, value| visit(value)) {
                        Some(visited) => visited?,
                        None => break,
                    }
                }
                Ok(())
            });
        self.checked(result)
    }

    fn count(&mut self, database: DatabaseIndex) -> StoreResult<u64> {
        let result = self.keyspace(database).and_then(|keyspace| {
            let mut count: u64 = 0;
            for item in self.transaction.range(keyspace, ..)? {
                item?;
                count += 1;
            }
            Ok(count)
        });
        self.checked(result)
    }

    fn last_key(&mut self, database: DatabaseIndex) -> StoreResult<Option<Bytes>> {
        let result = self.keyspace(database).and_then(|keyspace| {
            self.transaction
                .range(keyspace, ..)?
                .next_back()
                .transpose()
                .map(|entry| entry.map(|(key, _)| key))
        });
        self.checked(result)
    }

    fn database_count(&self) -> DatabaseIndex {
        match self.keyspaces {
            Keyspaces::One(index, _) => index + 1,
            Keyspaces::All(keyspaces) => DatabaseIndex::try_from(keyspaces.len()).unwrap_or(0),
        }
    }

    fn flush(&mut self, database: Option<DatabaseIndex>) -> StoreResult<()> {
        let indexes = match database {
            Some(database) => vec![database],
            None => self.keyspaces.indexes(),
        };
        self.write_held_back()?;
        self.memo.clear();
        for index in indexes {
            self.note_deadline(|| DeadlineChange::Database(index));
            let result = self.flush_database(index);
            self.checked(result)?;
        }
        Ok(())
    }

    fn keys_from(
        &mut self,
        database: DatabaseIndex,
        from: &[u8],
        count_max: usize,
    ) -> StoreResult<Vec<Bytes>> {
        let result = self.keyspace(database).and_then(|keyspace| {
            self.transaction
                .range(keyspace, (Bound::Included(from), Bound::Unbounded))?
                .take(count_max)
                .map(|item| item.map(|(key, _)| key))
                .collect()
        });
        self.checked(result)
    }

    fn swap_databases(&mut self, first: DatabaseIndex, second: DatabaseIndex) -> StoreResult<()> {
        let Some(map) = self.exclusive else {
            return Err(StoreError::Unsupported {
                operation: "SWAPDB inside a transaction",
            });
        };
        self.write_held_back()?;
        self.memo.clear();
        let result = self.keyspace(first).and_then(|first_keyspace| {
            let second_keyspace = self.keyspace(second)?;
            self.transaction
                .put(map, first.to_be_bytes(), second_keyspace.name().as_bytes())?;
            self.transaction
                .put(map, second.to_be_bytes(), first_keyspace.name().as_bytes())
        });
        self.note_write();
        self.checked(result)?;
        self.note_deadline(|| DeadlineChange::Database(first));
        self.note_deadline(|| DeadlineChange::Database(second));
        self.committed
            .actions
            .push(AfterCommit::Swap(first, second));
        Ok(())
    }

    fn checkpoint_after_commit(&mut self) -> StoreResult<()> {
        self.committed.actions.push(AfterCommit::Checkpoint);
        Ok(())
    }

    fn event_classes(&self) -> EventClasses {
        self.classes
    }

    fn record_event(&mut self, event: KeyspaceEvent) {
        self.committed.events.push(event);
    }
}

/// Hands the values of `entries`' first `count_max` to `visit`, each
/// dropped before the next is read (the reverse scan has no visit in
/// place).
fn visit_values(
    entries: impl Iterator<Item = Result<(Bytes, Bytes), keel::Error>>,
    count_max: usize,
    visit: &mut dyn FnMut(&[u8]),
) -> Result<(), keel::Error> {
    for entry in entries.take(count_max) {
        visit(&entry?.1);
    }
    Ok(())
}

//! [`KeyValueStore`]: what the data commands need of a store, within one
//! transaction. The engine binding implements it over a keel transaction
//! (`engine/store.rs`); tests over a `BTreeMap`.
//!
//! Every data command runs inside one transaction of the store (one
//! command, a pipelined group, or a MULTI block): it reads and writes
//! through the store and never sees another client's writes half done.
//! Expired keys are the store's business: `get` must not return a key
//! whose deadline is at or before [`KeyValueStore::now_ms`].

use std::ops::Bound;

use bytes::Bytes;

use super::notify::{EventClasses, KeyspaceEvent};
use crate::backend::DatabaseIndex;

/// Keys read per call of [`KeyValueStore::keys_after`] by KEYS, DEBUG
/// DIGEST and the default [`KeyValueStore::last_key`].
pub const KEYS_BATCH_MAX: usize = 1024;

/// A value and when it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredValue {
    /// The string.
    pub value: Bytes,
    /// Unix milliseconds after which the key does not exist; `None`: never.
    pub deadline_ms: Option<i64>,
}

/// A store's failure; the command is answered `ERR <failure>` and its
/// transaction rolled back.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (a conflict, an I/O error …), in its words.
    #[error("{message}")]
    Backend {
        /// The backend's error, displayed.
        message: String,
    },
    /// The store cannot do this (a test store's SWAPDB).
    #[error("{operation} is not supported by this backend")]
    Unsupported {
        /// What was asked.
        operation: &'static str,
    },
}

impl StoreError {
    /// A backend failure from its error.
    pub fn backend(error: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            message: error.to_string(),
        }
    }
}

/// The store's result.
pub type StoreResult<T> = Result<T, StoreError>;

/// A run of the elements keyspace to read (`encoding.rs`): keys between
/// the bounds, forwards or backwards, at most `count_max` of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementRange {
    /// The lower bound.
    pub from: Bound<Vec<u8>>,
    /// The upper bound.
    pub to: Bound<Vec<u8>>,
    /// From the upper end down.
    pub reverse: bool,
    /// Entries to return at most.
    pub count_max: usize,
}

impl ElementRange {
    /// The bounds, borrowed.
    pub fn bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (
            self.from.as_ref().map(Vec::as_slice),
            self.to.as_ref().map(Vec::as_slice),
        )
    }
}

/// What the data commands need of a store, within one transaction.
pub trait KeyValueStore {
    /// The time expiry is judged against, the same for every call of one
    /// transaction.
    fn now_ms(&self) -> i64;

    /// The live value of `key`, if any.
    fn get(&mut self, database: DatabaseIndex, key: &[u8]) -> StoreResult<Option<StoredValue>>;

    /// Calls `visit` once with the live value of `key` (or `None`): read
    /// in place where the store can, without a copy. The default copies
    /// through [`KeyValueStore::get`].
    fn visit(
        &mut self,
        database: DatabaseIndex,
        key: &[u8],
        visit: &mut dyn FnMut(Option<&[u8]>),
    ) -> StoreResult<()> {
        let stored = self.get(database, key)?;
        visit(stored.as_ref().map(|stored| &stored.value[..]));
        Ok(())
    }

    /// Writes `key` (its deadline, if any, is after `now_ms`). The value
    /// holds no more memory than its own, or little more (the handlers
    /// copy a small value sent as an argument, which shares the
    /// connection's read buffer, and keep a large one, which nearly fills
    /// its own: see
    /// [`DataCall::owned_argument`](super::DataCall::owned_argument)).
    fn put(&mut self, database: DatabaseIndex, key: &[u8], value: StoredValue) -> StoreResult<()>;

    /// Deletes `key`; whether a live key was there.
    fn delete(&mut self, database: DatabaseIndex, key: &[u8]) -> StoreResult<bool>;

    /// Up to `count_max` live keys in key order, after `after` (from the
    /// first key when `None`).
    fn keys_after(
        &mut self,
        database: DatabaseIndex,
        after: Option<&[u8]>,
        count_max: usize,
    ) -> StoreResult<Vec<Bytes>>;

    /// Up to `count_max` live keys in key order from `from` on (inclusive).
    fn keys_from(
        &mut self,
        database: DatabaseIndex,
        from: &[u8],
        count_max: usize,
    ) -> StoreResult<Vec<Bytes>> {
        if count_max == 0 {
            return Ok(Vec::new());
        }
        let mut keys = Vec::new();
        if self.get(database, from)?.is_some() {
            keys.push(Bytes::copy_from_slice(from));
        }
        let rest = count_max - keys.len();
        keys.extend(self.keys_after(database, Some(from), rest)?);
        Ok(keys)
    }

    /// The element `key` of a collection (the elements keyspace, shared by
    /// every database: its keys begin with a collection's version).
    fn element_get(&mut self, key: &[u8]) -> StoreResult<Option<Bytes>>;

    /// Writes the element `key`.
    fn element_put(&mut self, key: &[u8], value: Bytes) -> StoreResult<()>;

    /// Deletes the element `key` (nothing if absent).
    fn element_delete(&mut self, key: &[u8]) -> StoreResult<()>;

    /// The elements in `range`, in key order (or reversed), keys whole.
    fn elements(&mut self, range: &ElementRange) -> StoreResult<Vec<(Bytes, Bytes)>>;

    /// Calls `visit` with each value of the elements in `range`, in order
    /// (or reversed), borrowed: nothing of the range outlives the call, so
    /// the store's scan can keep its buffers for the next one. The default
    /// goes through [`KeyValueStore::elements`].
    fn visit_element_values(
        &mut self,
        range: &ElementRange,
        visit: &mut dyn FnMut(&[u8]),
    ) -> StoreResult<()> {
        for (_, value) in self.elements(range)? {
            visit(&value);
        }
        Ok(())
    }

    /// The number of live keys.
    fn count(&mut self, database: DatabaseIndex) -> StoreResult<u64>;

    /// Deletes every key of `database`, or of every database if `None`.
    fn flush(&mut self, database: Option<DatabaseIndex>) -> StoreResult<()>;

    /// The last live key in key order (RANDOMKEY). The default walks
    /// every key; stores should do better.
    fn last_key(&mut self, database: DatabaseIndex) -> StoreResult<Option<Bytes>> {
        let mut last = None;
        loop {
            let batch = self.keys_after(database, last.as_deref(), KEYS_BATCH_MAX)?;
            let done = batch.len() < KEYS_BATCH_MAX;
            if let Some(key) = batch.last() {
                last = Some(key.clone());
            }
            if done {
                return Ok(last);
            }
        }
    }

    /// How many databases there are, `0..count` (COPY DB, MOVE, SWAPDB
    /// and DEBUG DIGEST check and walk them).
    fn database_count(&self) -> DatabaseIndex {
        crate::engine::backend::DATABASES_DEFAULT
    }

    /// SWAPDB: the two databases trade contents, at the commit.
    fn swap_databases(&mut self, first: DatabaseIndex, second: DatabaseIndex) -> StoreResult<()> {
        let _ = (first, second);
        Err(StoreError::Unsupported {
            operation: "SWAPDB",
        })
    }

    /// DEBUG RELOAD: make the data on disk the data, after the commit (a
    /// checkpoint for keel). The default has nothing to do.
    fn checkpoint_after_commit(&mut self) -> StoreResult<()> {
        Ok(())
    }

    /// The keyspace event classes to record (`notify-keyspace-events`,
    /// `notify.rs`), the same for the whole transaction. The default
    /// records none.
    fn event_classes(&self) -> EventClasses {
        EventClasses::NONE
    }

    /// Records an event a command fired, to publish after the commit
    /// (never when the transaction rolls back). Called only for a class
    /// of [`KeyValueStore::event_classes`].
    fn record_event(&mut self, event: KeyspaceEvent) {
        let _ = event;
    }
}

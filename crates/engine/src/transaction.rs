//! [`Transaction`]: reads and writes of keyspaces, commit and rollback.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use keel_mvcc::Direction;

use crate::bounds::{self, EngineBounds, KeyBounds};
use crate::database::{Shared, now_ms};
use crate::error::{Error, Result};
use crate::iter::{Iter, Keys};
use crate::keyspace::Keyspace;
use crate::log::engine_key;

/// The isolation level of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Isolation {
    /// Every committed history is equivalent to a serial one: a transaction
    /// whose reads (keys and scanned ranges) were overwritten by a commit
    /// after it began fails to commit with [`Error::Conflict`]. Write skew
    /// and phantoms abort one side.
    #[default]
    Serializable,
    /// Snapshot isolation: reads see the snapshot; a write to a key that
    /// another transaction committed after this one began conflicts (first
    /// committer wins). Cheaper; allows write skew.
    Snapshot,
}

impl Isolation {
    pub(crate) fn mvcc(self) -> keel_mvcc::Isolation {
        match self {
            Isolation::Serializable => keel_mvcc::Isolation::Serializable,
            Isolation::Snapshot => keel_mvcc::Isolation::Snapshot,
        }
    }
}

/// A transaction: reads see the database as of its beginning plus its own
/// writes; writes are buffered until [`Transaction::commit`], which makes
/// them visible and durable all at once. Dropping it rolls it back.
pub struct Transaction {
    shared: Arc<Shared>,
    inner: keel_mvcc::Transaction,
    /// Begun read-only ([`crate::Database::view`],
    /// [`crate::Database::begin_read`], or a read-only database).
    read_only: bool,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("id", &self.inner.id())
            .field("read_timestamp", &self.inner.read_timestamp())
            .finish_non_exhaustive()
    }
}

/// A point inside a transaction to roll back to
/// ([`Transaction::savepoint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Savepoint {
    inner: keel_mvcc::Savepoint,
}

impl Savepoint {
    /// The savepoint's number within its transaction (from 0, in the order
    /// they were made).
    pub fn number(&self) -> u64 {
        self.inner.number()
    }
}

fn unknown_savepoint(savepoint: Savepoint) -> Error {
    Error::UnknownSavepoint {
        savepoint: savepoint.number(),
    }
}

/// When a value expires, for [`Transaction::get_with_expiry`].
pub type ExpiresAtMs = Option<u64>;

impl Transaction {
    pub(crate) fn new(
        shared: Arc<Shared>,
        inner: keel_mvcc::Transaction,
        read_only: bool,
    ) -> Transaction {
        let read_only = read_only || shared.wal.is_none();
        Transaction {
            shared,
            inner,
            read_only,
        }
    }

    /// Every operation's entry check: the database is open, the keyspace
    /// is this database's and visible to this snapshot, and a write is
    /// allowed.
    fn enter(&self, keyspace: &Keyspace, write: bool) -> Result<()> {
        if self
            .shared
            .closed
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return Err(Error::Closed);
        }
        if keyspace.database != self.shared.identity {
            return Err(Error::ForeignKeyspace {
                name: keyspace.name().to_string(),
            });
        }
        if write && self.read_only {
            return Err(Error::ReadOnly);
        }
        keyspace.check(self.inner.read_timestamp().as_u64())
    }

    /// keel-mvcc's error with the keyspaces named.
    fn error(&self, error: keel_mvcc::Error) -> Error {
        named_error(&self.shared, error)
    }

    /// Whether the transaction may not write.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The underlying keel-mvcc transaction, on engine keys (catalog).
    pub(crate) fn raw(&mut self) -> &mut keel_mvcc::Transaction {
        &mut self.inner
    }

    /// The database, the keel-mvcc transaction, and whether it is read-only.
    pub(crate) fn into_parts(self) -> (Arc<Shared>, keel_mvcc::Transaction, bool) {
        (self.shared, self.inner, self.read_only)
    }

    /// Whether the transaction has written nothing and, under
    /// [`Isolation::Serializable`], read nothing (so far): committing or
    /// preparing it would validate and hold nothing.
    pub fn is_unused(&self) -> bool {
        self.inner.is_unused()
    }

    /// The transaction's id.
    pub fn id(&self) -> u64 {
        self.inner.id()
    }

    /// The wall-clock time the transaction reads at, in milliseconds since
    /// the Unix epoch: the physical part of its read timestamp. Expiry is
    /// judged against it (a value whose expiry is at or before it reads as
    /// absent), so callers that compute deadlines should use it too.
    pub fn read_time_ms(&self) -> u64 {
        self.inner.read_timestamp().physical_ms()
    }

    /// The value of `key` in `keyspace`, if present and not expired.
    ///
    /// # Errors
    /// [`Error::KeyspaceNotFound`], [`Error::TransactionTooOld`],
    /// [`Error::Corruption`], [`Error::Io`].
    pub fn get(&self, keyspace: &Keyspace, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.enter(keyspace, false)?;
        let key = engine_key(keyspace.id, key.as_ref());
        self.inner.get(&key).map_err(|error| self.error(error))
    }

    /// Whether `key` is present (and not expired) in `keyspace`.
    ///
    /// # Errors
    /// As [`Transaction::get`].
    pub fn contains_key(&self, keyspace: &Keyspace, key: impl AsRef<[u8]>) -> Result<bool> {
        self.get_with(keyspace, key, |value| value.is_some())
    }

    /// Calls `visit` with the value of `key` in place (or `None`), and
    /// returns what it returns: no copy of the value and no allocation
    /// for it (one copy onto the stack for a value read from a page).
    ///
    /// # Errors
    /// As [`Transaction::get`].
    pub fn get_with<T>(
        &self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        visit: impl FnOnce(Option<&[u8]>) -> T,
    ) -> Result<T> {
        self.enter(keyspace, false)?;
        let key = engine_key(keyspace.id, key.as_ref());
        self.inner
            .get_entry_with(&key, |entry| visit(entry.map(|(value, _)| value)))
            .map_err(|error| self.error(error))
    }

    /// The value of `key` with its expiry time (milliseconds since the Unix
    /// epoch, `None` for a key that does not expire).
    ///
    /// # Errors
    /// As [`Transaction::get`].
    pub fn get_with_expiry(
        &self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<(Bytes, ExpiresAtMs)>> {
        self.enter(keyspace, false)?;
        let key = engine_key(keyspace.id, key.as_ref());
        let entry = self
            .inner
            .get_entry(&key)
            .map_err(|error| self.error(error))?;
        Ok(entry.map(|entry| (entry.value, entry.expires_at_ms)))
    }

    /// The live entries of `keyspace` with keys in `range` (`..`, `a..b`,
    /// `a..=b`, … over any bytes), ascending; `.rev()` for descending.
    /// Several may be open at once, and point reads may run inside one.
    ///
    /// # Errors
    /// As [`Transaction::get`]; each item may carry an error too.
    pub fn range(&self, keyspace: &Keyspace, range: impl KeyBounds) -> Result<Iter<'_>> {
        self.scan(keyspace, &bounds::engine_bounds(keyspace.id, &range))
    }

    /// The live entries whose keys start with `prefix`, ascending (`.rev()`
    /// for descending).
    ///
    /// # Errors
    /// As [`Transaction::range`].
    pub fn prefix(&self, keyspace: &Keyspace, prefix: impl AsRef<[u8]>) -> Result<Iter<'_>> {
        self.scan(
            keyspace,
            &bounds::prefix_bounds(keyspace.id, prefix.as_ref()),
        )
    }

    /// The live keys in `range`, ascending (`.rev()` for descending).
    ///
    /// # Errors
    /// As [`Transaction::range`].
    pub fn keys(&self, keyspace: &Keyspace, range: impl KeyBounds) -> Result<Keys<'_>> {
        Ok(self.range(keyspace, range)?.keys())
    }

    /// How many live keys `range` holds (O(keys in the range): counted by
    /// a scan that copies nothing).
    ///
    /// # Errors
    /// As [`Transaction::range`].
    pub fn count(&self, keyspace: &Keyspace, range: impl KeyBounds) -> Result<u64> {
        let mut count = 0;
        for item in self.range(keyspace, range)? {
            item?;
            count += 1;
        }
        Ok(count)
    }

    /// How many live keys `keyspace` holds ([`Transaction::count`] of `..`).
    ///
    /// # Errors
    /// As [`Transaction::range`].
    pub fn len(&self, keyspace: &Keyspace) -> Result<u64> {
        self.count(keyspace, ..)
    }

    /// Whether `keyspace` holds no live key.
    ///
    /// # Errors
    /// As [`Transaction::range`].
    pub fn is_empty(&self, keyspace: &Keyspace) -> Result<bool> {
        Ok(self.first(keyspace)?.is_none())
    }

    /// The entry with the smallest key of `keyspace`.
    ///
    /// # Errors
    /// As [`Transaction::range`].
    pub fn first(&self, keyspace: &Keyspace) -> Result<Option<(Bytes, Bytes)>> {
        self.range(keyspace, ..)?.next().transpose()
    }

    /// The entry with the largest key of `keyspace`.
    ///
    /// # Errors
    /// As [`Transaction::range`].
    pub fn last(&self, keyspace: &Keyspace) -> Result<Option<(Bytes, Bytes)>> {
        self.range(keyspace, ..)?.next_back().transpose()
    }

    fn scan(&self, keyspace: &Keyspace, bounds: &EngineBounds) -> Result<Iter<'_>> {
        self.enter(keyspace, false)?;
        // An empty or inverted range opens as an ended one (keel-mvcc's
        // rule), with nothing to read or record.
        let (lower, upper) = bounds.as_slices();
        let range = self
            .inner
            .range_slices(lower, upper, Direction::Forward)
            .map_err(|error| self.error(error))?;
        Ok(Iter::new(range))
    }

    /// Sets `key` to `value`, without expiry. The value is copied once,
    /// into the transaction's write set; [`Transaction::put_bytes`] takes
    /// an owned [`Bytes`] without a copy.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let db = keel::Database::open(dir.path(), keel::Options::default())?;
    /// let users = db.keyspace("users")?;
    /// db.update(|tx| {
    ///     tx.put(&users, "alice", "admin")?;
    ///     tx.put(&users, b"bob", b"reader")?;
    ///     let name = String::from("carol");
    ///     tx.put(&users, &name, name.as_bytes())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] (key, value or write-set size),
    /// [`Error::KeyspaceNotFound`], [`Error::TransactionTooOld`].
    pub fn put(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<()> {
        self.put_bytes(keyspace, key, Bytes::copy_from_slice(value.as_ref()))
    }

    /// Sets `key` to `value` without copying the value: the write set
    /// keeps the `Bytes` it is given (a `Vec<u8>`, `String` or `Bytes`
    /// converts without a copy).
    ///
    /// # Errors
    /// As [`Transaction::put`].
    pub fn put_bytes(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        value: impl Into<Bytes>,
    ) -> Result<()> {
        self.enter(keyspace, true)?;
        let key = engine_key(keyspace.id, key.as_ref());
        self.inner
            .put(&key, value.into())
            .map_err(|error| self.error(error))
    }

    /// Sets `key` to `value`, expiring `ttl` from now: from then on it reads
    /// as absent, and folding removes it.
    ///
    /// # Errors
    /// As [`Transaction::put`].
    pub fn put_with_ttl(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<()> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.put_expiring_at(keyspace, key, value, now_ms().saturating_add(ttl_ms))
    }

    /// Sets `key` to `value`, expiring at `expires_at_ms` (milliseconds since
    /// the Unix epoch). The value is copied once.
    ///
    /// # Errors
    /// As [`Transaction::put`].
    pub fn put_expiring_at(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        expires_at_ms: u64,
    ) -> Result<()> {
        let value = Bytes::copy_from_slice(value.as_ref());
        self.put_bytes_expiring_at(keyspace, key, value, expires_at_ms)
    }

    /// [`Transaction::put_expiring_at`] without copying the value.
    ///
    /// # Errors
    /// As [`Transaction::put`].
    pub fn put_bytes_expiring_at(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        value: impl Into<Bytes>,
        expires_at_ms: u64,
    ) -> Result<()> {
        self.enter(keyspace, true)?;
        let key = engine_key(keyspace.id, key.as_ref());
        self.inner
            .put_expiring(&key, value.into(), expires_at_ms)
            .map_err(|error| self.error(error))
    }

    /// Deletes `key` (nothing happens if it is absent).
    ///
    /// # Errors
    /// As [`Transaction::put`].
    pub fn delete(&mut self, keyspace: &Keyspace, key: impl AsRef<[u8]>) -> Result<()> {
        self.enter(keyspace, true)?;
        let key = engine_key(keyspace.id, key.as_ref());
        self.inner.delete(&key).map_err(|error| self.error(error))
    }

    /// Marks a savepoint: [`Transaction::rollback_to_savepoint`] undoes
    /// the writes made after it, [`Transaction::release_savepoint`] keeps
    /// them and forgets it. Savepoints nest; each is the transaction's.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let db = keel::Database::open(dir.path(), keel::Options::default())?;
    /// let orders = db.keyspace("orders")?;
    /// let mut tx = db.begin(keel::Isolation::Serializable);
    /// tx.put(&orders, "1", "paid")?;
    /// let before_extras = tx.savepoint();
    /// tx.put(&orders, "2", "gift wrap")?;
    /// tx.rollback_to_savepoint(before_extras)?;
    /// assert!(tx.get(&orders, "2")?.is_none());
    /// assert!(tx.get(&orders, "1")?.is_some());
    /// tx.commit()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn savepoint(&mut self) -> Savepoint {
        Savepoint {
            inner: self.inner.savepoint(),
        }
    }

    /// Undoes every write made after `savepoint`. The savepoint stays (it
    /// can be rolled back to again); later ones are released. Reads made
    /// since stay part of the transaction: what was read was read.
    ///
    /// # Errors
    /// [`Error::UnknownSavepoint`] for a savepoint of another transaction,
    /// or one already released or rolled past.
    pub fn rollback_to_savepoint(&mut self, savepoint: Savepoint) -> Result<()> {
        self.inner
            .rollback_to_savepoint(savepoint.inner)
            .map_err(|_| unknown_savepoint(savepoint))
    }

    /// Forgets `savepoint` and every later one, keeping their writes.
    ///
    /// # Errors
    /// As [`Transaction::rollback_to_savepoint`].
    pub fn release_savepoint(&mut self, savepoint: Savepoint) -> Result<()> {
        self.inner
            .release_savepoint(savepoint.inner)
            .map_err(|_| unknown_savepoint(savepoint))
    }

    /// Sets this transaction's durability, overriding the database's
    /// [`crate::Options::durability`] for its commit.
    pub fn set_durability(&mut self, durability: crate::Durability) {
        self.inner.set_log_hint(durability.hint());
    }

    /// Commits: validates (under [`Isolation::Serializable`], every key and
    /// range read), makes the writes visible and waits until they are
    /// durable under the transaction's [`crate::Durability`] (the
    /// database's unless [`Transaction::set_durability`] chose another). A transaction
    /// that wrote nothing commits at once.
    ///
    /// # Errors
    /// [`Error::Conflict`] (nothing was written); [`Error::Poisoned`] when
    /// the log failed (the commit is not acknowledged; reopen the database);
    /// [`Error::TransactionTooOld`]; [`Error::LimitExceeded`].
    pub fn commit(self) -> Result<()> {
        if self
            .shared
            .closed
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return Err(Error::Closed);
        }
        if self.read_only && !self.inner.is_read_only() {
            // Only the catalog writes through `raw`; it checks first, so
            // this is a backstop.
            return Err(Error::ReadOnly);
        }
        let shared = self.shared;
        match self.inner.commit() {
            Ok(_) => Ok(()),
            Err(error) => Err(named_error(&shared, error)),
        }
    }

    /// Discards the transaction's writes.
    pub fn rollback(self) {
        self.inner.rollback();
    }
}

/// keel-mvcc's error with the keyspaces named from the catalog. The
/// catalog's own keys are named without its lock: a keyspace is created
/// by a commit made while holding it.
pub(crate) fn named_error(shared: &Shared, error: keel_mvcc::Error) -> Error {
    Error::from_mvcc(error, &|id| {
        if id == crate::keyspace::CATALOG {
            "(catalog)".to_string()
        } else {
            shared.catalog.read().name_of(id)
        }
    })
}

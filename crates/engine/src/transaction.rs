//! [`Transaction`]: reads and writes of keyspaces, commit and rollback.

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use keel_mvcc::Direction;

use crate::database::{Shared, now_ms};
use crate::error::{Error, Result};
use crate::keyspace::Keyspace;
use crate::log::{KEYSPACE_PREFIX_BYTES, join_key};

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

    /// Whether the transaction may not write.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The underlying keel-mvcc transaction, on engine keys (catalog).
    pub(crate) fn raw(&mut self) -> &mut keel_mvcc::Transaction {
        &mut self.inner
    }

    /// The transaction's id.
    pub fn id(&self) -> u64 {
        self.inner.id()
    }

    /// The value of `key` in `keyspace`, if present and not expired.
    ///
    /// # Errors
    /// [`Error::KeyspaceNotFound`], [`Error::TransactionTooOld`],
    /// [`Error::Corruption`], [`Error::Io`].
    pub fn get(&mut self, keyspace: &Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        self.enter(keyspace, false)?;
        Ok(self.inner.get(&join_key(keyspace.id, key))?)
    }

    /// The value of `key` with its expiry time (milliseconds since the Unix
    /// epoch, `None` for a key that does not expire).
    ///
    /// # Errors
    /// As [`Transaction::get`].
    pub fn get_with_expiry(
        &mut self,
        keyspace: &Keyspace,
        key: &[u8],
    ) -> Result<Option<(Bytes, ExpiresAtMs)>> {
        self.enter(keyspace, false)?;
        Ok(self
            .inner
            .get_entry(&join_key(keyspace.id, key))?
            .map(|entry| (entry.value, entry.expires_at_ms)))
    }

    /// Sets `key` to `value`, without expiry.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] (key, value or write-set size),
    /// [`Error::KeyspaceNotFound`], [`Error::TransactionTooOld`].
    pub fn put(&mut self, keyspace: &Keyspace, key: &[u8], value: impl Into<Bytes>) -> Result<()> {
        self.enter(keyspace, true)?;
        Ok(self.inner.put(&join_key(keyspace.id, key), value.into())?)
    }

    /// Sets `key` to `value`, expiring `ttl` from now: from then on it reads
    /// as absent, and folding removes it.
    ///
    /// # Errors
    /// As [`Transaction::put`].
    pub fn put_with_ttl(
        &mut self,
        keyspace: &Keyspace,
        key: &[u8],
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<()> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.put_expiring_at(keyspace, key, value, now_ms().saturating_add(ttl_ms))
    }

    /// Sets `key` to `value`, expiring at `expires_at_ms` (milliseconds since
    /// the Unix epoch).
    ///
    /// # Errors
    /// As [`Transaction::put`].
    pub fn put_expiring_at(
        &mut self,
        keyspace: &Keyspace,
        key: &[u8],
        value: impl Into<Bytes>,
        expires_at_ms: u64,
    ) -> Result<()> {
        self.enter(keyspace, true)?;
        Ok(self
            .inner
            .put_expiring(&join_key(keyspace.id, key), value.into(), expires_at_ms)?)
    }

    /// Deletes `key` (nothing happens if it is absent).
    ///
    /// # Errors
    /// As [`Transaction::put`].
    pub fn delete(&mut self, keyspace: &Keyspace, key: &[u8]) -> Result<()> {
        self.enter(keyspace, true)?;
        Ok(self.inner.delete(&join_key(keyspace.id, key))?)
    }

    /// The live entries of `keyspace` with keys in `range`, ascending.
    ///
    /// # Errors
    /// As [`Transaction::get`]; each item may carry an error too.
    pub fn range<'a, K, R>(&'a mut self, keyspace: &Keyspace, range: R) -> Result<Iter<'a>>
    where
        K: AsRef<[u8]> + ?Sized,
        R: RangeBounds<K>,
    {
        self.scan(keyspace, range, Direction::Forward)
    }

    /// [`Transaction::range`], descending.
    ///
    /// # Errors
    /// As [`Transaction::range`].
    pub fn range_reverse<'a, K, R>(&'a mut self, keyspace: &Keyspace, range: R) -> Result<Iter<'a>>
    where
        K: AsRef<[u8]> + ?Sized,
        R: RangeBounds<K>,
    {
        self.scan(keyspace, range, Direction::Reverse)
    }

    /// The live entries whose keys start with `prefix`, ascending.
    ///
    /// # Errors
    /// As [`Transaction::range`].
    pub fn prefix<'a>(&'a mut self, keyspace: &Keyspace, prefix: &[u8]) -> Result<Iter<'a>> {
        let (lower, upper) = prefix_bounds(keyspace.id, prefix);
        self.scan_engine(keyspace, lower, upper, Direction::Forward)
    }

    /// [`Transaction::prefix`], descending.
    ///
    /// # Errors
    /// As [`Transaction::range`].
    pub fn prefix_reverse<'a>(
        &'a mut self,
        keyspace: &Keyspace,
        prefix: &[u8],
    ) -> Result<Iter<'a>> {
        let (lower, upper) = prefix_bounds(keyspace.id, prefix);
        self.scan_engine(keyspace, lower, upper, Direction::Reverse)
    }

    fn scan<'a, K, R>(
        &'a mut self,
        keyspace: &Keyspace,
        range: R,
        direction: Direction,
    ) -> Result<Iter<'a>>
    where
        K: AsRef<[u8]> + ?Sized,
        R: RangeBounds<K>,
    {
        let id = keyspace.id;
        let lower = match range.start_bound() {
            Bound::Included(key) => Bound::Included(join_key(id, key.as_ref())),
            Bound::Excluded(key) => Bound::Excluded(join_key(id, key.as_ref())),
            Bound::Unbounded => Bound::Included(join_key(id, &[])),
        };
        let upper = match range.end_bound() {
            Bound::Included(key) => Bound::Included(join_key(id, key.as_ref())),
            Bound::Excluded(key) => Bound::Excluded(join_key(id, key.as_ref())),
            Bound::Unbounded => Bound::Excluded(join_key(id + 1, &[])),
        };
        self.scan_engine(keyspace, lower, upper, direction)
    }

    fn scan_engine<'a>(
        &'a mut self,
        keyspace: &Keyspace,
        lower: Bound<Bytes>,
        upper: Bound<Bytes>,
        direction: Direction,
    ) -> Result<Iter<'a>> {
        self.enter(keyspace, false)?;
        let empty = match (&lower, &upper) {
            (Bound::Included(low), Bound::Included(high)) => low > high,
            (
                Bound::Included(low) | Bound::Excluded(low),
                Bound::Included(high) | Bound::Excluded(high),
            ) => low >= high,
            _ => false,
        };
        if empty {
            return Ok(Iter { inner: None });
        }
        let range = self
            .inner
            .range::<[u8], _>((as_slice(&lower), as_slice(&upper)), direction)?;
        Ok(Iter { inner: Some(range) })
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
        self.inner.commit()?;
        Ok(())
    }

    /// Discards the transaction's writes.
    pub fn rollback(self) {
        self.inner.rollback();
    }
}

fn as_slice(bound: &Bound<Bytes>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_ref()),
        Bound::Excluded(key) => Bound::Excluded(key.as_ref()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The engine-key bounds of the keys of keyspace `id` starting with
/// `prefix`.
fn prefix_bounds(id: u32, prefix: &[u8]) -> (Bound<Bytes>, Bound<Bytes>) {
    let lower = Bound::Included(join_key(id, prefix));
    // The first key after every key with the prefix: the prefix with its
    // last byte below 0xff incremented and the rest cut.
    let mut successor = prefix.to_vec();
    while let Some(last) = successor.pop() {
        if last < 0xff {
            successor.push(last + 1);
            return (lower, Bound::Excluded(join_key(id, &successor)));
        }
    }
    (lower, Bound::Excluded(join_key(id + 1, &[])))
}

/// The entries of a range: `(key, value)`, keys without their keyspace.
pub struct Iter<'a> {
    inner: Option<keel_mvcc::Range<'a>>,
}

impl std::fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

impl Iterator for Iter<'_> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.as_mut()?.next()?;
        Some(
            item.map(|(key, value)| (key.slice(KEYSPACE_PREFIX_BYTES..), value))
                .map_err(Error::from),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds_cover_exactly_the_prefix() {
        let (lower, upper) = prefix_bounds(5, b"ab\xff");
        assert_eq!(lower, Bound::Included(join_key(5, b"ab\xff")));
        assert_eq!(upper, Bound::Excluded(join_key(5, b"ac")));
        let (_, upper) = prefix_bounds(5, b"\xff\xff");
        assert_eq!(upper, Bound::Excluded(join_key(6, b"")));
        let (_, upper) = prefix_bounds(5, b"");
        assert_eq!(upper, Bound::Excluded(join_key(6, b"")));
    }
}

//! The iterators of a transaction's scans: [`Iter`] over entries and
//! [`Keys`] over keys, both double-ended.

use bytes::{Buf, Bytes};

use crate::error::{Error, Result};
use crate::log::KEYSPACE_PREFIX_BYTES;

/// The entries of a range, `(key, value)`, keys without their keyspace,
/// ascending from the front and descending from the back (`.rev()`).
///
/// Keys and values are `Bytes` views of the page the scan copied them
/// from (or of the transaction's or a recent commit's buffer): no copy and
/// no allocation per entry. Keeping one keeps that page copy (one page)
/// alive; copy what you keep for long (`Bytes::copy_from_slice`, `to_vec`).
pub struct Iter<'a> {
    inner: keel_mvcc::Range<'a>,
}

impl<'a> Iter<'a> {
    pub(crate) fn new(inner: keel_mvcc::Range<'a>) -> Iter<'a> {
        Iter { inner }
    }

    /// Calls `visit` with the next entry, its key (without the keyspace)
    /// and value borrowed where they are held, and returns what it
    /// returns; `None` past the end. Where only the durable base has
    /// entries left (no recent version and no write of this transaction
    /// in the rest of the range) and the transaction is not serializable,
    /// no reference count is touched per entry: the cheapest way to scan.
    /// Interleaves with [`Iterator::next`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let db = keel::Database::open(dir.path(), keel::Options::default())?;
    /// # let ks = db.keyspace("k")?;
    /// # db.update(|tx| { tx.put(&ks, "a", "1")?; tx.put(&ks, "b", "22")?; Ok(()) })?;
    /// let tx = db.begin_read();
    /// let mut entries = tx.range(&ks, ..)?;
    /// let mut bytes = 0;
    /// while let Some(len) = entries.next_with(|key, value| key.len() + value.len()) {
    ///     bytes += len?;
    /// }
    /// assert_eq!(bytes, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_with<T>(&mut self, visit: impl FnOnce(&[u8], &[u8]) -> T) -> Option<Result<T>> {
        let visited = self.inner.next_with(|key, value| {
            visit(key.get(KEYSPACE_PREFIX_BYTES..).unwrap_or_default(), value)
        })?;
        Some(visited.map_err(Error::from))
    }

    /// Only the keys.
    pub fn keys(self) -> Keys<'a> {
        Keys { entries: self }
    }
}

impl std::fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

fn user_entry(item: keel_mvcc::Result<(Bytes, Bytes)>) -> Result<(Bytes, Bytes)> {
    let (mut key, value) = item.map_err(Error::from)?;
    key.advance(KEYSPACE_PREFIX_BYTES);
    Ok((key, value))
}

impl Iterator for Iter<'_> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(user_entry(self.inner.next()?))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        Some(user_entry(self.inner.next_back()?))
    }
}

/// The keys of a range, without their keyspace, in either direction
/// ([`Iter::keys`], [`crate::Transaction::keys`]).
#[derive(Debug)]
pub struct Keys<'a> {
    entries: Iter<'a>,
}

impl Iterator for Keys<'_> {
    type Item = Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.entries.next()?.map(|(key, _)| key))
    }
}

impl DoubleEndedIterator for Keys<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        Some(self.entries.next_back()?.map(|(key, _)| key))
    }
}

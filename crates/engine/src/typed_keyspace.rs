//! Typed keyspaces: a [`KeyspaceDefinition`] names a keyspace and the
//! types of its keys ([`Key`], order-preserving) and values ([`Value`]);
//! a [`TypedKeyspace`] reads and writes them in a [`Transaction`]. Beside
//! the byte keyspaces, not instead of them: a typed keyspace is a byte
//! keyspace whose keys are encoded ([`TypedKeyspace::keyspace`]).

use std::marker::PhantomData;
use std::ops::{Bound, Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};
use std::time::Duration;

use bytes::Bytes;

use crate::database::{Database, now_ms};
use crate::error::{Error, Result};
use crate::iter::Iter;
use crate::keyspace::Keyspace;
use crate::transaction::Transaction;
use crate::typed_key::{self, AsKey, DecodeError, Key};
use crate::typed_value::{AsValue, Value};

/// A keyspace's name and types, usually a constant (as redb's
/// `TableDefinition`).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let db = keel::Database::open(dir.path(), keel::Options::default())?;
/// use keel::KeyspaceDefinition;
///
/// // Scores by (game, player): a range over one game sorts by player.
/// const SCORES: KeyspaceDefinition<(u32, String), u64> = KeyspaceDefinition::new("scores");
///
/// let scores = db.typed_keyspace(SCORES)?;
/// db.update(|tx| {
///     scores.put(tx, (7, "bob"), 30)?;
///     scores.put(tx, (7, "alice"), 50)?;
///     scores.put(tx, (8, "carol"), 10)
/// })?;
/// let tx = db.begin_read();
/// let game_7: keel::Result<Vec<((u32, String), u64)>> =
///     scores.range(&tx, (7, "")..(8, ""))?.collect();
/// assert_eq!(game_7?, [((7, "alice".into()), 50), ((7, "bob".into()), 30)]);
/// assert_eq!(scores.get(&tx, (8, "carol"))?, Some(10));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KeyspaceDefinition<K, V> {
    name: &'static str,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> KeyspaceDefinition<K, V> {
    /// The definition of keyspace `name` with keys `K` and values `V`.
    pub const fn new(name: &'static str) -> KeyspaceDefinition<K, V> {
        KeyspaceDefinition {
            name,
            types: PhantomData,
        }
    }

    /// The keyspace's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<K, V> Clone for KeyspaceDefinition<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, V> Copy for KeyspaceDefinition<K, V> {}

impl<K, V> std::fmt::Debug for KeyspaceDefinition<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyspaceDefinition")
            .field("name", &self.name)
            .field("key", &std::any::type_name::<K>())
            .field("value", &std::any::type_name::<V>())
            .finish()
    }
}

impl Database {
    /// The typed keyspace `definition` names, created if it does not exist.
    ///
    /// # Errors
    /// As [`Database::keyspace`].
    pub fn typed_keyspace<K: Key, V: Value>(
        &self,
        definition: KeyspaceDefinition<K, V>,
    ) -> Result<TypedKeyspace<K, V>> {
        Ok(TypedKeyspace::new(self.keyspace(definition.name)?))
    }
}

/// A handle to a keyspace of keys `K` and values `V`: its methods take the
/// transaction to read or write in. Keys may be given in borrowed form
/// ([`AsKey`]: `&str` for `String`, tuples of them for tuples), values too
/// ([`AsValue`]).
pub struct TypedKeyspace<K, V> {
    keyspace: Keyspace,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for TypedKeyspace<K, V> {
    fn clone(&self) -> Self {
        TypedKeyspace::new(self.keyspace.clone())
    }
}

impl<K, V> std::fmt::Debug for TypedKeyspace<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedKeyspace")
            .field("name", &self.keyspace.name())
            .field("key", &std::any::type_name::<K>())
            .field("value", &std::any::type_name::<V>())
            .finish()
    }
}

impl<K, V> TypedKeyspace<K, V> {
    /// A typed view of a byte keyspace (whose keys must be encoded `K`s).
    pub fn new(keyspace: Keyspace) -> TypedKeyspace<K, V> {
        TypedKeyspace {
            keyspace,
            types: PhantomData,
        }
    }

    /// The byte keyspace underneath: its keys are the encoded `K`s.
    pub fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }
}

impl<K: Key, V: Value> TypedKeyspace<K, V> {
    /// The value of `key`, if present (and not expired).
    ///
    /// # Errors
    /// As [`Transaction::get`]; [`Error::Decode`] for a value that is not
    /// a `V`.
    pub fn get(&self, tx: &Transaction, key: impl AsKey<K>) -> Result<Option<V>> {
        let key = typed_key::encode(&key);
        match tx.get(&self.keyspace, &key)? {
            Some(bytes) => Ok(Some(self.decode_value(bytes)?)),
            None => Ok(None),
        }
    }

    /// Whether `key` is present.
    ///
    /// # Errors
    /// As [`Transaction::get`].
    pub fn contains_key(&self, tx: &Transaction, key: impl AsKey<K>) -> Result<bool> {
        tx.contains_key(&self.keyspace, typed_key::encode(&key))
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    /// As [`Transaction::put`].
    pub fn put(
        &self,
        tx: &mut Transaction,
        key: impl AsKey<K>,
        value: impl AsValue<V>,
    ) -> Result<()> {
        tx.put_bytes(&self.keyspace, typed_key::encode(&key), value.value_bytes())
    }

    /// Sets `key` to `value`, expiring `ttl` from now.
    ///
    /// # Errors
    /// As [`Transaction::put`].
    pub fn put_with_ttl(
        &self,
        tx: &mut Transaction,
        key: impl AsKey<K>,
        value: impl AsValue<V>,
        ttl: Duration,
    ) -> Result<()> {
        let deadline_ms = now_ms().saturating_add(duration_ms(ttl));
        let key = typed_key::encode(&key);
        tx.put_bytes_expiring_at(&self.keyspace, key, value.value_bytes(), deadline_ms)
    }

    /// Deletes `key` (nothing happens if it is absent).
    ///
    /// # Errors
    /// As [`Transaction::put`].
    pub fn delete(&self, tx: &mut Transaction, key: impl AsKey<K>) -> Result<()> {
        tx.delete(&self.keyspace, typed_key::encode(&key))
    }

    /// The entries with keys in `range` (`..`, `a..b`, `a..=b`, … over
    /// keys in borrowed form), in the keys' order; `.rev()` for
    /// descending.
    ///
    /// # Errors
    /// As [`Transaction::range`]; items may be [`Error::Decode`].
    pub fn range<'t>(
        &self,
        tx: &'t Transaction,
        range: impl TypedBounds<K>,
    ) -> Result<TypedIter<'t, K, V>> {
        let bounds = (range.lower(), range.upper());
        Ok(TypedIter {
            entries: tx.range(&self.keyspace, bounds)?,
            name: self.keyspace.name().to_string(),
            types: PhantomData,
        })
    }

    /// The entry with the smallest key.
    ///
    /// # Errors
    /// As [`TypedKeyspace::range`].
    pub fn first(&self, tx: &Transaction) -> Result<Option<(K, V)>> {
        self.range(tx, ..)?.next().transpose()
    }

    /// The entry with the largest key.
    ///
    /// # Errors
    /// As [`TypedKeyspace::range`].
    pub fn last(&self, tx: &Transaction) -> Result<Option<(K, V)>> {
        self.range(tx, ..)?.next_back().transpose()
    }

    /// How many live keys the keyspace holds.
    ///
    /// # Errors
    /// As [`Transaction::len`].
    pub fn len(&self, tx: &Transaction) -> Result<u64> {
        tx.len(&self.keyspace)
    }

    /// Whether the keyspace holds no live key.
    ///
    /// # Errors
    /// As [`Transaction::is_empty`].
    pub fn is_empty(&self, tx: &Transaction) -> Result<bool> {
        tx.is_empty(&self.keyspace)
    }

    fn decode_value(&self, bytes: Bytes) -> Result<V> {
        V::decode_value(bytes).map_err(|source| decode_error(self.keyspace.name(), source))
    }
}

fn decode_error(keyspace: &str, source: DecodeError) -> Error {
    Error::Decode {
        keyspace: keyspace.to_string(),
        source,
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The entries of a typed range, decoded, in either direction.
pub struct TypedIter<'t, K, V> {
    entries: Iter<'t>,
    name: String,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> std::fmt::Debug for TypedIter<'_, K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedIter")
            .field("keyspace", &self.name)
            .finish_non_exhaustive()
    }
}

impl<K: Key, V: Value> TypedIter<'_, K, V> {
    fn decode(&self, item: Result<(Bytes, Bytes)>) -> Result<(K, V)> {
        let (key, value) = item?;
        let key = typed_key::decode_whole(&key).map_err(|error| decode_error(&self.name, error))?;
        let value = V::decode_value(value).map_err(|error| decode_error(&self.name, error))?;
        Ok((key, value))
    }
}

impl<K: Key, V: Value> Iterator for TypedIter<'_, K, V> {
    type Item = Result<(K, V)>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.entries.next()?;
        Some(self.decode(item))
    }
}

impl<K: Key, V: Value> DoubleEndedIterator for TypedIter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let item = self.entries.next_back()?;
        Some(self.decode(item))
    }
}

/// A range of typed keys: `..`, `a..b`, `a..=b`, `a..`, `..b`, `..=b` or a
/// pair of [`Bound`]s over anything that is a `K` ([`AsKey`]).
pub trait TypedBounds<K> {
    /// The encoded lower bound.
    fn lower(&self) -> Bound<Vec<u8>>;
    /// The encoded upper bound.
    fn upper(&self) -> Bound<Vec<u8>>;
}

fn encoded<K, Q: AsKey<K>>(bound: Bound<&Q>) -> Bound<Vec<u8>> {
    bound.map(|key| typed_key::encode(key))
}

impl<K> TypedBounds<K> for RangeFull {
    fn lower(&self) -> Bound<Vec<u8>> {
        Bound::Unbounded
    }
    fn upper(&self) -> Bound<Vec<u8>> {
        Bound::Unbounded
    }
}

impl<K, Q: AsKey<K>> TypedBounds<K> for Range<Q> {
    fn lower(&self) -> Bound<Vec<u8>> {
        encoded(Bound::Included(&self.start))
    }
    fn upper(&self) -> Bound<Vec<u8>> {
        encoded(Bound::Excluded(&self.end))
    }
}

impl<K, Q: AsKey<K>> TypedBounds<K> for RangeInclusive<Q> {
    fn lower(&self) -> Bound<Vec<u8>> {
        encoded(Bound::Included(self.start()))
    }
    fn upper(&self) -> Bound<Vec<u8>> {
        encoded(Bound::Included(self.end()))
    }
}

impl<K, Q: AsKey<K>> TypedBounds<K> for RangeFrom<Q> {
    fn lower(&self) -> Bound<Vec<u8>> {
        encoded(Bound::Included(&self.start))
    }
    fn upper(&self) -> Bound<Vec<u8>> {
        Bound::Unbounded
    }
}

impl<K, Q: AsKey<K>> TypedBounds<K> for RangeTo<Q> {
    fn lower(&self) -> Bound<Vec<u8>> {
        Bound::Unbounded
    }
    fn upper(&self) -> Bound<Vec<u8>> {
        encoded(Bound::Excluded(&self.end))
    }
}

impl<K, Q: AsKey<K>> TypedBounds<K> for RangeToInclusive<Q> {
    fn lower(&self) -> Bound<Vec<u8>> {
        Bound::Unbounded
    }
    fn upper(&self) -> Bound<Vec<u8>> {
        encoded(Bound::Included(&self.end))
    }
}

impl<K, Q: AsKey<K>> TypedBounds<K> for (Bound<Q>, Bound<Q>) {
    fn lower(&self) -> Bound<Vec<u8>> {
        encoded(self.0.as_ref())
    }
    fn upper(&self) -> Bound<Vec<u8>> {
        encoded(self.1.as_ref())
    }
}

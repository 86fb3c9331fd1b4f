//! The traits through which this crate reaches what it does not own: the
//! durable base (the state at the fold point, the engine's B+tree) for
//! reads, and the fold sink (the B+tree's writer) for folding.

use std::ops::Bound;

use bytes::Bytes;
use keel_tso::Timestamp;

use crate::error::BoxError;
use crate::write_set::Change;

/// The order of a range scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Ascending keys.
    #[default]
    Forward,
    /// Descending keys.
    Reverse,
}

/// A value with its expiry, as the base holds it and as reads return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueEntry {
    /// The value.
    pub value: Bytes,
    /// When it expires, in milliseconds since the Unix epoch.
    pub expires_at_ms: Option<u64>,
}

/// A value and its expiry, borrowed where they are held: what
/// [`BaseStore::get_with`] and
/// [`Transaction::get_entry_with`](crate::Transaction::get_entry_with)
/// visit.
pub type ValueRef<'a> = (&'a [u8], Option<u64>);

/// One item of a base range: a key and its entry, or the store's error.
pub type BaseItem = Result<(Bytes, ValueEntry), BoxError>;

/// The next entry of a [`BaseCursor`], lent ([`BaseCursor::next_ref`]):
/// its key, and its value and expiry.
pub type LentEntry<'a> = (&'a [u8], ValueRef<'a>);

/// A range cursor over the base: `(key, entry)` in ascending key order
/// from the front, descending from the back; an error ends the scan.
/// Besides the owned items of the iterator, it lends the next entry in
/// place ([`BaseCursor::next_ref`]).
pub trait BaseCursor: DoubleEndedIterator<Item = BaseItem> {
    /// The next key and its value and expiry from the front (`forward`)
    /// or the back, borrowed where the store holds them until the cursor
    /// is next used, if that key comes before `before` in this direction
    /// (below it going forward, above it going back; `None`: any key).
    /// `Ok(None)` when it does not: the entry is left for the next call.
    /// `None` past the end.
    ///
    /// A cursor that cannot lend its store's bytes lends an item it took
    /// from its iterator ([`OwnedCursor`]); one that cannot take an item
    /// back declines (`Ok(None)`) whenever `before` is given.
    fn next_ref(
        &mut self,
        forward: bool,
        before: Option<&[u8]>,
    ) -> Option<Result<Option<LentEntry<'_>>, BoxError>>;
}

/// A [`BaseCursor`] over any double-ended iterator of [`BaseItem`]s: it
/// lends the item it took last, and declines to lend whenever a `before`
/// bound is given (an iterator cannot take an item back).
#[derive(Debug)]
pub struct OwnedCursor<I> {
    items: I,
    /// The item lent last.
    lent: Option<(Bytes, ValueEntry)>,
}

impl<I> OwnedCursor<I> {
    /// The cursor over `items`.
    pub fn new(items: I) -> OwnedCursor<I> {
        OwnedCursor { items, lent: None }
    }
}

impl<I: Iterator<Item = BaseItem>> Iterator for OwnedCursor<I> {
    type Item = BaseItem;

    fn next(&mut self) -> Option<BaseItem> {
        self.items.next()
    }
}

impl<I: DoubleEndedIterator<Item = BaseItem>> DoubleEndedIterator for OwnedCursor<I> {
    fn next_back(&mut self) -> Option<BaseItem> {
        self.items.next_back()
    }
}

impl<I: DoubleEndedIterator<Item = BaseItem>> BaseCursor for OwnedCursor<I> {
    fn next_ref(
        &mut self,
        forward: bool,
        before: Option<&[u8]>,
    ) -> Option<Result<Option<LentEntry<'_>>, BoxError>> {
        if before.is_some() {
            return Some(Ok(None));
        }
        let item = if forward {
            self.items.next()
        } else {
            self.items.next_back()
        };
        match item? {
            Ok(item) => {
                let (key, entry) = self.lent.insert(item);
                Some(Ok(Some((key, (&entry.value, entry.expires_at_ms)))))
            }
            Err(error) => Some(Err(error)),
        }
    }
}

/// A range cursor over the base, as [`BaseStore::range`] returns it.
pub type BaseIterator<'a> = Box<dyn BaseCursor + 'a>;

/// The durable base: one version per key, the state at the fold point.
///
/// The engine implements it with its B+tree (whose reads may fail with an
/// I/O or corruption error, hence the results); tests implement it with a
/// `BTreeMap` ([`testing::MemoryBase`](crate::testing::MemoryBase)).
/// Reads may interleave with a fold's writes: the delta keeps every folded
/// version until no reader can be looking at the older base.
pub trait BaseStore: Send + Sync {
    /// The entry of `key`, if the base holds one (expired or not; the
    /// transaction judges expiry).
    fn get(&self, key: &[u8]) -> Result<Option<ValueEntry>, BoxError>;

    /// Calls `visit` once with the value and expiry of `key` in place, or
    /// with `None` if the base holds no entry for it. By default through
    /// [`BaseStore::get`]; a store that can lend its bytes avoids the copy.
    fn get_with(
        &self,
        key: &[u8],
        visit: &mut dyn FnMut(Option<ValueRef<'_>>),
    ) -> Result<(), BoxError> {
        let entry = self.get(key)?;
        visit(
            entry
                .as_ref()
                .map(|entry| (entry.value.as_ref(), entry.expires_at_ms)),
        );
        Ok(())
    }

    /// The entries with keys within `(lower, upper)`, from either end.
    /// The bounds never describe an empty or inverted range; the cursor
    /// keeps its own copy of them (the caller's may go).
    fn range<'a>(
        &'a self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
    ) -> Result<BaseIterator<'a>, BoxError>;
}

/// Where a fold writes: the base's single writer.
///
/// `fold` calls [`apply`](FoldSink::apply) once per key that changed since
/// the previous fold point, in ascending key order, with the key's newest
/// change at or below the new fold point, then [`finish`](FoldSink::finish).
/// When `finish` returns `Ok`, base readers must see every applied change:
/// the delta starts forgetting the folded versions after that (once the
/// readers active then have ended).
pub trait FoldSink {
    /// Writes `change` of `key` into the base: a put (with its expiry) or a
    /// delete.
    fn apply(&mut self, key: &Bytes, change: &Change) -> Result<(), BoxError>;

    /// Every change of the fold is applied; make them readable (the base now
    /// holds the state at `fold_point`).
    fn finish(&mut self, fold_point: Timestamp) -> Result<(), BoxError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &'static str, expires_at_ms: Option<u64>) -> BaseItem {
        Ok((
            Bytes::from_static(key.as_bytes()),
            ValueEntry {
                value: Bytes::from_static(b"value"),
                expires_at_ms,
            },
        ))
    }

    #[test]
    fn an_owned_cursor_lends_from_both_ends_and_declines_a_bound() {
        let items = vec![item("a", None), item("b", Some(7)), item("c", None)];
        let mut cursor = OwnedCursor::new(items.into_iter());
        let lent = |entry: Option<Result<Option<LentEntry<'_>>, BoxError>>| {
            entry.map(|entry| {
                entry
                    .unwrap()
                    .map(|(key, (value, expires))| (key.to_vec(), value.to_vec(), expires))
            })
        };
        assert_eq!(
            lent(cursor.next_ref(true, None)),
            Some(Some((b"a".to_vec(), b"value".to_vec(), None)))
        );
        // An iterator cannot take an item back: a bound is declined, and
        // the item stays.
        assert_eq!(lent(cursor.next_ref(false, Some(b"z"))), Some(None));
        assert_eq!(
            lent(cursor.next_ref(false, None)),
            Some(Some((b"c".to_vec(), b"value".to_vec(), None)))
        );
        assert_eq!(
            lent(cursor.next_ref(true, None)),
            Some(Some((b"b".to_vec(), b"value".to_vec(), Some(7))))
        );
        assert_eq!(lent(cursor.next_ref(true, None)), None);
    }
}

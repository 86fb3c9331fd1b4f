//! [`KeyBounds`]: the key ranges reads take, and their translation to
//! engine keys (the keyspace prefix in front).

use std::ops::{Bound, Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};

use bytes::{BufMut, Bytes, BytesMut};

use crate::log::{KEYSPACE_PREFIX_BYTES, join_key};

/// A range of user keys: `..`, `a..b`, `a..=b`, `a..`, `..b`, `..=b` or a
/// pair of [`Bound`]s, over anything that is bytes (`&[u8]`, `&str`,
/// `b"literal"`, `Vec<u8>`, `Bytes`, `String` …).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let db = keel::Database::open(dir.path(), keel::Options::default())?;
/// # let ks = db.keyspace("k")?;
/// let tx = db.begin_read();
/// tx.range(&ks, ..)?;
/// tx.range(&ks, b"a"..b"c")?;
/// tx.range(&ks, "a"..="c")?;
/// tx.range(&ks, (std::ops::Bound::Excluded("a"), std::ops::Bound::Unbounded))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait KeyBounds {
    /// The lower bound.
    fn lower(&self) -> Bound<&[u8]>;
    /// The upper bound.
    fn upper(&self) -> Bound<&[u8]>;
}

impl KeyBounds for RangeFull {
    fn lower(&self) -> Bound<&[u8]> {
        Bound::Unbounded
    }
    fn upper(&self) -> Bound<&[u8]> {
        Bound::Unbounded
    }
}

impl<K: AsRef<[u8]>> KeyBounds for Range<K> {
    fn lower(&self) -> Bound<&[u8]> {
        Bound::Included(self.start.as_ref())
    }
    fn upper(&self) -> Bound<&[u8]> {
        Bound::Excluded(self.end.as_ref())
    }
}

impl<K: AsRef<[u8]>> KeyBounds for RangeInclusive<K> {
    fn lower(&self) -> Bound<&[u8]> {
        Bound::Included(self.start().as_ref())
    }
    fn upper(&self) -> Bound<&[u8]> {
        Bound::Included(self.end().as_ref())
    }
}

impl<K: AsRef<[u8]>> KeyBounds for RangeFrom<K> {
    fn lower(&self) -> Bound<&[u8]> {
        Bound::Included(self.start.as_ref())
    }
    fn upper(&self) -> Bound<&[u8]> {
        Bound::Unbounded
    }
}

impl<K: AsRef<[u8]>> KeyBounds for RangeTo<K> {
    fn lower(&self) -> Bound<&[u8]> {
        Bound::Unbounded
    }
    fn upper(&self) -> Bound<&[u8]> {
        Bound::Excluded(self.end.as_ref())
    }
}

impl<K: AsRef<[u8]>> KeyBounds for RangeToInclusive<K> {
    fn lower(&self) -> Bound<&[u8]> {
        Bound::Unbounded
    }
    fn upper(&self) -> Bound<&[u8]> {
        Bound::Included(self.end.as_ref())
    }
}

impl<K: AsRef<[u8]>> KeyBounds for (Bound<K>, Bound<K>) {
    fn lower(&self) -> Bound<&[u8]> {
        as_bytes(self.0.as_ref())
    }
    fn upper(&self) -> Bound<&[u8]> {
        as_bytes(self.1.as_ref())
    }
}

fn as_bytes<K: AsRef<[u8]>>(bound: Bound<&K>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_ref()),
        Bound::Excluded(key) => Bound::Excluded(key.as_ref()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The engine-key bounds of `range` in keyspace `id`.
///
/// Both keys live in one buffer, already shared (`BytesMut::split`), so
/// the copies a scan keeps of them (its sources and its read set) take a
/// reference count, not an allocation each: two allocations per range
/// where joining each key apart and promoting it on first clone took four.
pub(crate) fn engine_bounds(id: u32, range: &impl KeyBounds) -> (Bound<Bytes>, Bound<Bytes>) {
    let key_len = |bound: Bound<&[u8]>| match bound {
        Bound::Included(key) | Bound::Excluded(key) => key.len(),
        Bound::Unbounded => 0,
    };
    let mut buffer = BytesMut::with_capacity(
        2 * KEYSPACE_PREFIX_BYTES + key_len(range.lower()) + key_len(range.upper()),
    );
    let mut joined = |keyspace: u32, key: &[u8]| {
        buffer.put_slice(&keyspace.to_be_bytes());
        buffer.put_slice(key);
        buffer.split().freeze()
    };
    let lower = match range.lower() {
        Bound::Included(key) => Bound::Included(joined(id, key)),
        Bound::Excluded(key) => Bound::Excluded(joined(id, key)),
        Bound::Unbounded => Bound::Included(joined(id, &[])),
    };
    let upper = match range.upper() {
        Bound::Included(key) => Bound::Included(joined(id, key)),
        Bound::Excluded(key) => Bound::Excluded(joined(id, key)),
        Bound::Unbounded => keyspace_end_by(id, joined),
    };
    (lower, upper)
}

/// The bound past every key of keyspace `id`.
fn keyspace_end(id: u32) -> Bound<Bytes> {
    keyspace_end_by(id, join_key)
}

/// [`keyspace_end`], its key joined by `join`: the next keyspace's first
/// key, or no bound past the last keyspace.
fn keyspace_end_by(id: u32, mut join: impl FnMut(u32, &[u8]) -> Bytes) -> Bound<Bytes> {
    match id.checked_add(1) {
        Some(next) => Bound::Excluded(join(next, &[])),
        None => Bound::Unbounded,
    }
}

/// The engine-key bounds of the keys of keyspace `id` starting with
/// `prefix`.
pub(crate) fn prefix_bounds(id: u32, prefix: &[u8]) -> (Bound<Bytes>, Bound<Bytes>) {
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
    (lower, keyspace_end(id))
}

/// Whether the bounds hold no key.
pub(crate) fn is_empty(lower: &Bound<Bytes>, upper: &Bound<Bytes>) -> bool {
    match (lower, upper) {
        (Bound::Included(low), Bound::Included(high)) => low > high,
        (
            Bound::Included(low) | Bound::Excluded(low),
            Bound::Included(high) | Bound::Excluded(high),
        ) => low >= high,
        _ => false,
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

    #[test]
    fn every_range_form_gives_its_bounds() {
        let key = |text: &str| Bound::Included(join_key(1, text.as_bytes()));
        assert_eq!(
            engine_bounds(1, &("a".."c")),
            (key("a"), Bound::Excluded(join_key(1, b"c")))
        );
        assert_eq!(engine_bounds(1, &(b"a"..=b"c")), (key("a"), key("c")));
        assert_eq!(
            engine_bounds(1, &(..)),
            (key(""), Bound::Excluded(join_key(2, b"")))
        );
        assert_eq!(
            engine_bounds(u32::MAX, &(..)),
            (Bound::Included(join_key(u32::MAX, b"")), Bound::Unbounded)
        );
        let (lower, _) = engine_bounds(1, &(Bound::Excluded("b"), Bound::Unbounded));
        assert_eq!(lower, Bound::Excluded(join_key(1, b"b")));
    }
}

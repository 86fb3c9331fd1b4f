//! [`KeyBounds`]: the key ranges reads take, and their translation to
//! engine keys (the keyspace prefix in front).

use std::ops::{Bound, Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};

use smallvec::SmallVec;

use crate::log::{KEYSPACE_PREFIX_BYTES, engine_key};

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

/// An engine key of a bound, on the stack when short ([`engine_key`]).
pub(crate) type BoundKey = SmallVec<[u8; 64]>;

/// The engine-key bounds of a read: keys joined on the stack (no
/// allocation for keys up to 60 bytes), lent to the scan, which copies
/// what it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EngineBounds {
    pub(crate) lower: Bound<BoundKey>,
    pub(crate) upper: Bound<BoundKey>,
}

impl EngineBounds {
    /// The bounds, borrowed.
    pub(crate) fn as_slices(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (
            self.lower.as_ref().map(BoundKey::as_slice),
            self.upper.as_ref().map(BoundKey::as_slice),
        )
    }
}

/// The engine-key bounds of `range` in keyspace `id`.
pub(crate) fn engine_bounds(id: u32, range: &impl KeyBounds) -> EngineBounds {
    let lower = match range.lower() {
        Bound::Included(key) => Bound::Included(engine_key(id, key)),
        Bound::Excluded(key) => Bound::Excluded(engine_key(id, key)),
        Bound::Unbounded => Bound::Included(engine_key(id, &[])),
    };
    let upper = match range.upper() {
        Bound::Included(key) => Bound::Included(engine_key(id, key)),
        Bound::Excluded(key) => Bound::Excluded(engine_key(id, key)),
        Bound::Unbounded => keyspace_end(id),
    };
    EngineBounds { lower, upper }
}

/// The bound past every key of keyspace `id`: the next keyspace's first
/// key, or no bound past the last keyspace.
fn keyspace_end(id: u32) -> Bound<BoundKey> {
    match id.checked_add(1) {
        Some(next) => Bound::Excluded(engine_key(next, &[])),
        None => Bound::Unbounded,
    }
}

/// The engine-key bounds of the keys of keyspace `id` starting with
/// `prefix`.
pub(crate) fn prefix_bounds(id: u32, prefix: &[u8]) -> EngineBounds {
    let lower = Bound::Included(engine_key(id, prefix));
    // The first key after every key with the prefix: the prefix with its
    // last byte below 0xff incremented and the rest cut.
    let mut successor = engine_key(id, prefix);
    while successor.len() > KEYSPACE_PREFIX_BYTES
        && let Some(last) = successor.pop()
    {
        if last < 0xff {
            successor.push(last + 1);
            return EngineBounds {
                lower,
                upper: Bound::Excluded(successor),
            };
        }
    }
    EngineBounds {
        lower,
        upper: keyspace_end(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32, text: &[u8]) -> BoundKey {
        engine_key(id, text)
    }

    #[test]
    fn keys_are_joined_on_the_stack_or_the_heap_alike() {
        assert_eq!(key(1, b"ab").as_slice(), b"\0\0\0\x01ab");
        assert!(!key(1, &[9; 60]).spilled());
        let long = key(0x0102_0304, &[9; 61]);
        assert!(long.spilled());
        assert_eq!(&long[..4], &[1, 2, 3, 4]);
        assert_eq!(&long[4..], &[9; 61]);
    }

    #[test]
    fn prefix_bounds_cover_exactly_the_prefix() {
        let bounds = prefix_bounds(5, b"ab\xff");
        assert_eq!(bounds.lower, Bound::Included(key(5, b"ab\xff")));
        assert_eq!(bounds.upper, Bound::Excluded(key(5, b"ac")));
        assert_eq!(
            prefix_bounds(5, b"\xff\xff").upper,
            Bound::Excluded(key(6, b""))
        );
        assert_eq!(prefix_bounds(5, b"").upper, Bound::Excluded(key(6, b"")));
        assert_eq!(prefix_bounds(u32::MAX, b"\xff").upper, Bound::Unbounded);
    }

    #[test]
    fn every_range_form_gives_its_bounds() {
        let bounds = |lower, upper| EngineBounds { lower, upper };
        let included = |text: &str| Bound::Included(key(1, text.as_bytes()));
        assert_eq!(
            engine_bounds(1, &("a".."c")),
            bounds(included("a"), Bound::Excluded(key(1, b"c")))
        );
        assert_eq!(
            engine_bounds(1, &(b"a"..=b"c")),
            bounds(included("a"), included("c"))
        );
        assert_eq!(
            engine_bounds(1, &(..)),
            bounds(included(""), Bound::Excluded(key(2, b"")))
        );
        assert_eq!(
            engine_bounds(u32::MAX, &(..)),
            bounds(Bound::Included(key(u32::MAX, b"")), Bound::Unbounded)
        );
        let excluded = engine_bounds(1, &(Bound::Excluded("b"), Bound::Unbounded));
        assert_eq!(excluded.lower, Bound::Excluded(key(1, b"b")));
    }

    #[test]
    fn long_bounds_are_joined_whole() {
        let long = vec![7u8; 100];
        let bounds = engine_bounds(1, &(&long[..]..));
        assert_eq!(bounds.as_slices().0, Bound::Included(&key(1, &long)[..]));
    }
}

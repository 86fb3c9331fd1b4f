//! What a serializable transaction read, for validation at commit: the keys
//! it read and the key ranges it scanned (so that a key appearing in a
//! scanned range — a phantom — conflicts too).

use std::ops::Bound;

use bytes::Bytes;

/// Bytes a tracked range costs besides its bounds' keys.
const RANGE_OVERHEAD_BYTES: u64 = 2 * size_of::<Bound<Bytes>>() as u64;

/// A range of keys with owned bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRange {
    pub(crate) lower: Bound<Bytes>,
    pub(crate) upper: Bound<Bytes>,
}

impl KeyRange {
    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        let above_lower = match &self.lower {
            Bound::Included(lower) => key >= lower.as_ref(),
            Bound::Excluded(lower) => key > lower.as_ref(),
            Bound::Unbounded => true,
        };
        let below_upper = match &self.upper {
            Bound::Included(upper) => key <= upper.as_ref(),
            Bound::Excluded(upper) => key < upper.as_ref(),
            Bound::Unbounded => true,
        };
        above_lower && below_upper
    }

    /// Whether no key lies within the bounds (inverted or empty ranges).
    pub(crate) fn is_empty(&self) -> bool {
        match (&self.lower, &self.upper) {
            (Bound::Included(lower), Bound::Included(upper)) => lower > upper,
            (Bound::Included(lower), Bound::Excluded(upper))
            | (Bound::Excluded(lower), Bound::Included(upper))
            | (Bound::Excluded(lower), Bound::Excluded(upper)) => lower >= upper,
            _ => false,
        }
    }

    fn bytes(&self) -> u64 {
        let bound_bytes = |bound: &Bound<Bytes>| match bound {
            Bound::Included(key) | Bound::Excluded(key) => key.len() as u64,
            Bound::Unbounded => 0,
        };
        bound_bytes(&self.lower) + bound_bytes(&self.upper) + RANGE_OVERHEAD_BYTES
    }
}

/// Keys read and ranges scanned, with their byte total against a limit.
#[derive(Debug, Default)]
pub(crate) struct ReadSet {
    pub(crate) keys: Vec<Bytes>,
    pub(crate) ranges: Vec<KeyRange>,
    pub(crate) bytes: u64,
    /// A range was added past the limit where no error could be returned
    /// (a range iterator's drop); the next operation fails.
    pub(crate) overflowed: bool,
}

impl ReadSet {
    /// Tracks `key`; false if that passes `limit_bytes` (nothing tracked).
    pub(crate) fn add_key(&mut self, key: &[u8], limit_bytes: u64) -> bool {
        let bytes = self.bytes + key.len() as u64;
        if bytes > limit_bytes {
            return false;
        }
        self.bytes = bytes;
        self.keys.push(Bytes::copy_from_slice(key));
        true
    }

    /// Tracks `range`; past `limit_bytes` it is tracked anyway (dropping it
    /// would lose a conflict) and the set is marked overflowed.
    pub(crate) fn add_range(&mut self, range: KeyRange, limit_bytes: u64) {
        self.bytes += range.bytes();
        if self.bytes > limit_bytes {
            self.overflowed = true;
        }
        self.ranges.push(range);
    }

    /// Sorts the keys for [`ReadSet::covers`].
    pub(crate) fn seal(&mut self) {
        self.keys.sort();
        self.keys.dedup();
    }

    /// Whether `key` was read or lies in a scanned range (after `seal`).
    pub(crate) fn covers(&self, key: &[u8]) -> bool {
        self.keys
            .binary_search_by(|read| read.as_ref().cmp(key))
            .is_ok()
            || self.ranges.iter().any(|range| range.contains(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    #[test]
    fn range_bounds_contain_what_they_say() {
        let range = KeyRange {
            lower: Bound::Included(key("b")),
            upper: Bound::Excluded(key("d")),
        };
        assert!(!range.contains(b"a"));
        assert!(range.contains(b"b"));
        assert!(range.contains(b"c"));
        assert!(range.contains(b"cz"));
        assert!(!range.contains(b"d"));
        let open = KeyRange {
            lower: Bound::Excluded(key("b")),
            upper: Bound::Unbounded,
        };
        assert!(!open.contains(b"b"));
        assert!(open.contains(b"zzz"));
    }

    #[test]
    fn empty_and_inverted_ranges_are_empty() {
        let cases = [
            (Bound::Included(key("b")), Bound::Included(key("a")), true),
            (Bound::Included(key("a")), Bound::Included(key("a")), false),
            (Bound::Included(key("a")), Bound::Excluded(key("a")), true),
            (Bound::Excluded(key("a")), Bound::Excluded(key("a")), true),
            (Bound::Excluded(key("a")), Bound::Excluded(key("b")), false),
            (Bound::Unbounded, Bound::Excluded(key("")), false),
        ];
        for (lower, upper, empty) in cases {
            let range = KeyRange { lower, upper };
            assert_eq!(range.is_empty(), empty, "{range:?}");
        }
    }

    #[test]
    fn limits_refuse_keys_and_flag_ranges() {
        let mut reads = ReadSet::default();
        assert!(reads.add_key(b"abc", 4));
        assert!(!reads.add_key(b"de", 4));
        assert_eq!(reads.keys.len(), 1);
        reads.add_range(
            KeyRange {
                lower: Bound::Unbounded,
                upper: Bound::Unbounded,
            },
            4,
        );
        assert!(reads.overflowed);
        reads.seal();
        assert!(reads.covers(b"anything"));
    }
}

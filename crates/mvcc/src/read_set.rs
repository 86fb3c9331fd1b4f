//! What a serializable transaction read, for validation at commit: the keys
//! it read and the key ranges it scanned (so that a key appearing in a
//! scanned range — a phantom — conflicts too), and the earliest expiry of a
//! value it read (a value that expires before the commit changed what the
//! transaction read, as a write would have). A prepared transaction's read
//! set is logged with it and held against writers until it is decided.

use std::ops::Bound;

use bytes::Bytes;

/// Bytes a tracked range costs besides its bounds' keys.
const RANGE_OVERHEAD_BYTES: u64 = 2 * size_of::<Bound<Bytes>>() as u64;

/// Whether no key lies within the bounds (inverted or empty ranges).
pub(crate) fn bounds_empty(lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> bool {
    match (lower, upper) {
        (Bound::Included(lower), Bound::Included(upper)) => lower > upper,
        (Bound::Included(lower), Bound::Excluded(upper))
        | (Bound::Excluded(lower), Bound::Included(upper))
        | (Bound::Excluded(lower), Bound::Excluded(upper)) => lower >= upper,
        _ => false,
    }
}

/// A range of keys with owned bounds: what a scan covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// The lower end.
    pub lower: Bound<Bytes>,
    /// The upper end.
    pub upper: Bound<Bytes>,
}

impl KeyRange {
    /// Whether `key` lies within the bounds.
    pub fn contains(&self, key: &[u8]) -> bool {
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

    /// The range of the borrowed bounds, both keys copied into one shared
    /// buffer (one allocation; the copies a read set keeps of them take a
    /// reference count each).
    pub(crate) fn copied(lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> KeyRange {
        let len = |bound: Bound<&[u8]>| match bound {
            Bound::Included(key) | Bound::Excluded(key) => key.len(),
            Bound::Unbounded => 0,
        };
        let mut buffer = bytes::BytesMut::with_capacity(len(lower) + len(upper));
        let mut copy = |key: &[u8]| {
            buffer.extend_from_slice(key);
            buffer.split().freeze()
        };
        let lower = lower.map(&mut copy);
        let upper = upper.map(&mut copy);
        KeyRange { lower, upper }
    }

    fn bytes(&self) -> u64 {
        let bound_bytes = |bound: &Bound<Bytes>| match bound {
            Bound::Included(key) | Bound::Excluded(key) => key.len() as u64,
            Bound::Unbounded => 0,
        };
        bound_bytes(&self.lower) + bound_bytes(&self.upper) + RANGE_OVERHEAD_BYTES
    }
}

/// What a serializable transaction read: the keys it read and the ranges
/// it scanned, with their byte total against a limit. A prepared
/// transaction's read set is handed to the log with its prepare record
/// ([`LogRecord::Prepare`](crate::LogRecord::Prepare)) and, after a crash,
/// back to [`Recovery::restore_prepared`](crate::Recovery::restore_prepared).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSet {
    pub(crate) keys: Vec<Bytes>,
    pub(crate) ranges: Vec<KeyRange>,
    pub(crate) bytes: u64,
    /// A range was added past the limit where no error could be returned
    /// (a range iterator's drop); the next operation fails.
    pub(crate) overflowed: bool,
    /// The earliest expiry (milliseconds since the Unix epoch) of a value
    /// read live, and its key: the transaction's reads stop holding at that
    /// time. Not logged: a prepared transaction's reads are judged at its
    /// prepare timestamp.
    pub(crate) earliest_expiry: Option<(u64, Bytes)>,
}

impl ReadSet {
    /// A read set of `keys` and `ranges` (a prepared transaction's, read
    /// back from the log).
    pub fn new(keys: Vec<Bytes>, ranges: Vec<KeyRange>) -> ReadSet {
        let mut reads = ReadSet {
            keys,
            ranges,
            ..ReadSet::default()
        };
        reads.bytes = reads.keys.iter().map(|key| key.len() as u64).sum::<u64>()
            + reads.ranges.iter().map(KeyRange::bytes).sum::<u64>();
        reads.seal();
        reads
    }

    /// A read set covering every key: what to restore for a prepared
    /// transaction whose reads were not logged (holding every key against
    /// writers until it is decided is the one choice that cannot break
    /// serializability).
    pub fn everything() -> ReadSet {
        ReadSet::new(
            Vec::new(),
            vec![KeyRange {
                lower: Bound::Unbounded,
                upper: Bound::Unbounded,
            }],
        )
    }

    /// The keys read, sorted (once sealed: a prepared transaction's are).
    pub fn keys(&self) -> &[Bytes] {
        &self.keys
    }

    /// The ranges scanned (the part of each that the scan covered).
    pub fn ranges(&self) -> &[KeyRange] {
        &self.ranges
    }

    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.ranges.is_empty()
    }

    /// Notes that a value of `key` expiring at `expires_at_ms` was read.
    pub(crate) fn note_expiry(&mut self, key: &[u8], expires_at_ms: u64) {
        if self
            .earliest_expiry
            .as_ref()
            .is_none_or(|(earliest, _)| expires_at_ms < *earliest)
        {
            self.earliest_expiry = Some((expires_at_ms, Bytes::copy_from_slice(key)));
        }
    }

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

    /// Whether `key` was read or lies in a scanned range (once sealed).
    pub fn covers(&self, key: &[u8]) -> bool {
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
            let (lower, upper) = (
                lower.as_ref().map(Bytes::as_ref),
                upper.as_ref().map(Bytes::as_ref),
            );
            assert_eq!(bounds_empty(lower, upper), empty, "{lower:?} {upper:?}");
        }
    }

    #[test]
    fn a_copied_range_holds_the_bounds_it_was_given() {
        let copied = KeyRange::copied(Bound::Included(&b"ab"[..]), Bound::Excluded(&b"cde"[..]));
        assert_eq!(copied.lower, Bound::Included(key("ab")));
        assert_eq!(copied.upper, Bound::Excluded(key("cde")));
        let open = KeyRange::copied(Bound::Unbounded, Bound::Included(&b""[..]));
        assert_eq!(
            (open.lower, open.upper),
            (Bound::Unbounded, Bound::Included(key("")))
        );
    }

    #[test]
    fn a_logged_read_set_is_sealed_and_everything_covers_all() {
        let reads = ReadSet::new(vec![key("b"), key("a"), key("b")], Vec::new());
        assert_eq!(reads.keys(), [key("a"), key("b")]);
        assert!(reads.covers(b"a") && !reads.covers(b"c"));
        assert_eq!(reads.bytes, 3);
        let all = ReadSet::everything();
        assert!(all.covers(b"") && all.covers(b"\xff\xff"));
        assert!(!all.is_empty() && ReadSet::default().is_empty());
    }

    #[test]
    fn the_earliest_expiry_is_kept() {
        let mut reads = ReadSet::default();
        reads.note_expiry(b"late", 20);
        reads.note_expiry(b"early", 10);
        reads.note_expiry(b"later", 30);
        assert_eq!(reads.earliest_expiry, Some((10, key("early"))));
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

//! The byte layout of Redis's data types over keel keyspaces (docs/FORMAT.md,
//! "Data types").
//!
//! Every key has one entry in its database's keyspace. A string's entry is
//! its value, unchanged. A collection's entry is its type record
//! (`TYPE_RECORD_MAGIC ‖ kind ‖ version`), whose engine deadline is the
//! key's. The collection's elements live in the elements keyspace, shared
//! by every database, under its version: `version (u64 BE) ‖ tag ‖ …`, its
//! header at tag 0. A new version per collection makes DEL, an overwrite,
//! FLUSHDB and expiry O(1) (the old version's elements are orphans, left
//! to a sweep), and RENAME, MOVE and SWAPDB never touch the elements.

use bytes::Bytes;
use smallvec::SmallVec;

/// The bytes a type record starts with. A string may start with them too:
/// a record is only believed when the header it names exists and names
/// the key as its owner (see `collection.rs`).
pub const TYPE_RECORD_MAGIC: [u8; 8] = [0xff, b'k', b'e', b'e', b'l', b't', b'y', 0xfe];

/// A type record: magic, kind (1 byte), version (u64 LE).
pub const TYPE_RECORD_BYTES: usize = TYPE_RECORD_MAGIC.len() + 1 + size_of::<u64>();
const _: () = assert!(TYPE_RECORD_BYTES == 17);

/// An element key's prefix: version (u64 BE) and tag.
pub const ELEMENT_PREFIX_BYTES: usize = size_of::<u64>() + 1;
const _: () = assert!(ELEMENT_PREFIX_BYTES == 9);

/// The header's fixed part: count, list head, list tail (each 8 bytes LE),
/// followed by the owner key.
pub const HEADER_FIXED_BYTES: usize = 3 * size_of::<u64>();
const _: () = assert!(HEADER_FIXED_BYTES == 24);

/// Tag of the header element.
pub const HEADER_TAG: u8 = 0;
/// Tag of the elements by member: hash fields, set members, sorted-set
/// members (value: the score), list positions, stream entries by ID.
pub const MEMBER_TAG: u8 = 1;
/// Tag of a sorted set's (score, member) index.
pub const SCORE_TAG: u8 = 2;
// A stream's tags 3 to 7 are in `stream_layout.rs`.

/// The type of a collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// A hash: field → value.
    Hash = 1,
    /// A set of members.
    Set = 2,
    /// A list, by position.
    List = 3,
    /// A sorted set: member → score, and (score, member) in order.
    SortedSet = 4,
    /// A stream: entries by ID, its state, its consumer groups
    /// (`stream_layout.rs`).
    Stream = 5,
}

impl Kind {
    /// TYPE's answer.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Hash => "hash",
            Kind::Set => "set",
            Kind::List => "list",
            Kind::SortedSet => "zset",
            Kind::Stream => "stream",
        }
    }

    fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Hash,
            2 => Kind::Set,
            3 => Kind::List,
            4 => Kind::SortedSet,
            5 => Kind::Stream,
            _ => return None,
        })
    }
}

/// What a collection's entry in its database's keyspace holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeRecord {
    /// The type.
    pub kind: Kind,
    /// Where its elements are: unique among the collections whose elements
    /// are stored.
    pub version: u64,
}

impl TypeRecord {
    /// The record's bytes.
    pub fn encode(self) -> Bytes {
        let mut bytes = Vec::with_capacity(TYPE_RECORD_BYTES);
        bytes.extend_from_slice(&TYPE_RECORD_MAGIC);
        bytes.push(self.kind as u8);
        bytes.extend_from_slice(&self.version.to_le_bytes());
        debug_assert_eq!(bytes.len(), TYPE_RECORD_BYTES);
        Bytes::from(bytes)
    }

    /// The record `value` would be, if it is one; a string otherwise (the
    /// caller confirms against the header).
    pub fn decode(value: &[u8]) -> Option<TypeRecord> {
        if !looks_like_record(value) {
            return None;
        }
        let kind = Kind::from_byte(value[TYPE_RECORD_MAGIC.len()])?;
        let mut version = [0u8; 8];
        version.copy_from_slice(&value[TYPE_RECORD_MAGIC.len() + 1..]);
        Some(TypeRecord {
            kind,
            version: u64::from_le_bytes(version),
        })
    }
}

/// Whether `value` has a type record's length and magic (the cheap test
/// the string commands' fast paths make).
pub fn looks_like_record(value: &[u8]) -> bool {
    value.len() == TYPE_RECORD_BYTES && value.starts_with(&TYPE_RECORD_MAGIC)
}

/// A collection's header: how many elements, where a list's run of
/// positions is, and the key that owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Elements (fields, members, list items).
    pub count: u64,
    /// A list's first position.
    pub head: i64,
    /// A list's position after its last.
    pub tail: i64,
    /// The key whose type record names this version.
    pub owner: Bytes,
}

impl Header {
    /// An empty collection's header, owned by `owner`.
    pub fn new(owner: Bytes) -> Header {
        Header {
            count: 0,
            head: 0,
            tail: 0,
            owner,
        }
    }

    /// The header's bytes.
    pub fn encode(&self) -> Bytes {
        let mut bytes = Vec::with_capacity(HEADER_FIXED_BYTES + self.owner.len());
        bytes.extend_from_slice(&self.count.to_le_bytes());
        bytes.extend_from_slice(&self.head.to_le_bytes());
        bytes.extend_from_slice(&self.tail.to_le_bytes());
        bytes.extend_from_slice(&self.owner);
        Bytes::from(bytes)
    }

    /// The header in `bytes`; `None` when they are too short to be one.
    /// The owner shares `bytes`' memory (no copy: a collection command
    /// decodes its header on every call).
    pub fn decode(bytes: &Bytes) -> Option<Header> {
        if bytes.len() < HEADER_FIXED_BYTES {
            return None;
        }
        let word = |index: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[index * 8..index * 8 + 8]);
            word
        };
        Some(Header {
            count: u64::from_le_bytes(word(0)),
            head: i64::from_le_bytes(word(1)),
            tail: i64::from_le_bytes(word(2)),
            owner: bytes.slice(HEADER_FIXED_BYTES..),
        })
    }
}

/// The key prefix of a version's elements under `tag`.
pub fn element_prefix(version: u64, tag: u8) -> [u8; ELEMENT_PREFIX_BYTES] {
    let mut prefix = [0u8; ELEMENT_PREFIX_BYTES];
    prefix[..8].copy_from_slice(&version.to_be_bytes());
    prefix[8] = tag;
    prefix
}

/// Whether `key`, of the elements keyspace, is a collection's header.
pub fn is_header_key(key: &[u8]) -> bool {
    key.len() == ELEMENT_PREFIX_BYTES && key[ELEMENT_PREFIX_BYTES - 1] == HEADER_TAG
}

/// Bytes of an element key held without an allocation (a command's point
/// read or write of one element builds its key on the stack when it fits:
/// a member of up to 55 bytes).
pub const ELEMENT_KEY_INLINE: usize = 64;

/// An element's key built for one read or write.
pub type PointKey = SmallVec<[u8; ELEMENT_KEY_INLINE]>;

/// An element's key for one read or write: `version (BE) ‖ tag ‖ rest`,
/// as [`element_key`] makes it, on the stack when it fits.
pub fn point_key(version: u64, tag: u8, rest: &[u8]) -> PointKey {
    joined(&element_prefix(version, tag), rest)
}

/// `head ‖ rest`, on the stack when it fits. (Built in an array and
/// handed over whole: `SmallVec::extend_from_slice` cost as much as the
/// allocation it saves.)
pub fn joined(head: &[u8], rest: &[u8]) -> PointKey {
    let length = head.len() + rest.len();
    if length > ELEMENT_KEY_INLINE {
        return PointKey::from_vec([head, rest].concat());
    }
    let mut buffer = [0u8; ELEMENT_KEY_INLINE];
    buffer[..head.len()].copy_from_slice(head);
    buffer[head.len()..length].copy_from_slice(rest);
    PointKey::from_buf_and_len(buffer, length)
}

/// An element's key: `version (BE) ‖ tag ‖ rest`.
pub fn element_key(version: u64, tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(ELEMENT_PREFIX_BYTES + rest.len());
    key.extend_from_slice(&element_prefix(version, tag));
    key.extend_from_slice(rest);
    key
}

/// A score as 8 bytes whose byte order is the numbers' order: the sign bit
/// flipped for positives, every bit flipped for negatives; -0 is 0. NaN
/// never reaches here (the commands refuse it).
pub fn score_bytes(score: f64) -> [u8; 8] {
    debug_assert!(!score.is_nan());
    let score = if score == 0.0 { 0.0 } else { score };
    let bits = score.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

/// The score whose [`score_bytes`] are `bytes`.
pub fn score_from_bytes(bytes: [u8; 8]) -> f64 {
    let ordered = u64::from_be_bytes(bytes);
    let bits = if ordered >> 63 == 1 {
        ordered & !(1 << 63)
    } else {
        !ordered
    };
    f64::from_bits(bits)
}

/// A list position as 8 bytes in the positions' order (the sign bit
/// flipped), so a list grows at both ends from position 0.
pub fn position_bytes(position: i64) -> [u8; 8] {
    ((position as u64) ^ (1 << 63)).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bytes_keep_the_order_of_numbers() {
        let scores = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1.0,
            -f64::MIN_POSITIVE,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            2.5,
            1e300,
            f64::INFINITY,
        ];
        for pair in scores.windows(2) {
            assert!(score_bytes(pair[0]) < score_bytes(pair[1]), "{pair:?}");
        }
        for score in scores {
            assert_eq!(score_from_bytes(score_bytes(score)), score);
        }
        assert_eq!(score_bytes(-0.0), score_bytes(0.0));
    }

    #[test]
    fn a_point_key_is_the_element_key_inline_or_not() {
        for length in [0, 1, ELEMENT_KEY_INLINE - ELEMENT_PREFIX_BYTES, 56, 300] {
            let rest = vec![b'm'; length];
            let key = point_key(7, MEMBER_TAG, &rest);
            assert_eq!(&key[..], &element_key(7, MEMBER_TAG, &rest)[..]);
            assert_eq!(
                key.spilled(),
                ELEMENT_PREFIX_BYTES + length > ELEMENT_KEY_INLINE
            );
        }
    }

    #[test]
    fn positions_order_across_zero() {
        assert!(position_bytes(-1) < position_bytes(0));
        assert!(position_bytes(i64::MIN) < position_bytes(i64::MAX));
        assert!(position_bytes(5) < position_bytes(6));
    }

    #[test]
    fn records_and_headers_round_trip() {
        let record = TypeRecord {
            kind: Kind::SortedSet,
            version: 0x0102_0304_0506_0708,
        };
        assert_eq!(TypeRecord::decode(&record.encode()), Some(record));
        assert_eq!(TypeRecord::decode(b"hello"), None);
        let header = Header {
            count: 3,
            head: -2,
            tail: 1,
            owner: Bytes::from_static(b"key"),
        };
        assert_eq!(Header::decode(&header.encode()), Some(header));
        assert_eq!(Header::decode(&Bytes::from_static(&[0; 5])), None);
    }
}

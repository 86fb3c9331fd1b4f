//! What Redis would say about a string value's representation (OBJECT
//! ENCODING, OBJECT REFCOUNT, MEMORY USAGE, DEBUG OBJECT), derived from
//! the value alone, and the digests of DEBUG DIGEST and DIGEST-VALUE.
//!
//! keel stores bytes, not Redis objects, so these are what Redis decides
//! when it creates a string from a SET: `int` for a canonical 64-bit
//! integer of at most 20 bytes, `embstr` up to 44 bytes, `raw` beyond.
//! Redis also turns a string that APPEND, SETRANGE or SETBIT modified
//! into `raw` whatever its length; keel does not remember how a value was
//! made and reports it by its bytes (docs/ARCHITECTURE.md, keel-server).

use crate::resp::parse_integer;

/// Longest string Redis stores as `embstr` (`OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
pub const EMBSTR_BYTES_MAX: usize = 44;

/// Longest string Redis tries to read as an integer.
pub const INTEGER_TEXT_BYTES_MAX: usize = 20;

/// Integers Redis shares between keys (`OBJ_SHARED_INTEGERS`): 0 to 9999.
pub const SHARED_INTEGERS: i64 = 10_000;

/// The reference count Redis reports for a shared object (`INT_MAX`).
pub const SHARED_REFCOUNT: i64 = 2_147_483_647;

/// Digest of nothing (a missing key, an empty dataset): 40 zeros, as
/// Redis's DEBUG DIGEST.
pub const EMPTY_DIGEST: &str = "0000000000000000000000000000000000000000";

/// How Redis would encode a string value set with SET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// A canonical integer (`int`).
    Integer(i64),
    /// Up to 44 bytes (`embstr`).
    Embedded,
    /// Longer (`raw`).
    Raw,
}

impl Encoding {
    /// The encoding of `value`.
    pub fn of(value: &[u8]) -> Encoding {
        if value.len() <= INTEGER_TEXT_BYTES_MAX
            && let Some(integer) = parse_integer(value)
        {
            return Encoding::Integer(integer);
        }
        if value.len() <= EMBSTR_BYTES_MAX {
            Encoding::Embedded
        } else {
            Encoding::Raw
        }
    }

    /// OBJECT ENCODING's name.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Integer(_) => "int",
            Encoding::Embedded => "embstr",
            Encoding::Raw => "raw",
        }
    }

    /// OBJECT REFCOUNT: Redis shares the integers 0 to 9999.
    pub fn reference_count(self) -> i64 {
        match self {
            Encoding::Integer(integer) if (0..SHARED_INTEGERS).contains(&integer) => {
                SHARED_REFCOUNT
            }
            _ => 1,
        }
    }
}

/// MEMORY USAGE of a string key, estimated as Redis's allocator would
/// round it: the object header (16 bytes), the key's and the value's
/// strings with their headers, 8 bytes for an expiry, in 8-byte steps.
pub fn memory_usage(key: &[u8], value: &[u8], has_expiry: bool) -> i64 {
    const OBJECT_HEADER_BYTES: usize = 16;
    const STRING_HEADER_BYTES: usize = 3;
    let value_bytes = match Encoding::of(value) {
        Encoding::Integer(_) => 0,
        _ => STRING_HEADER_BYTES + value.len() + 1,
    };
    let total = OBJECT_HEADER_BYTES
        + STRING_HEADER_BYTES
        + key.len()
        + 1
        + value_bytes
        + if has_expiry { 8 } else { 0 };
    i64::try_from(total.div_ceil(8) * 8).unwrap_or(i64::MAX)
}

/// The length RDB would give the value (DEBUG OBJECT's
/// `serializedlength`): an integer in 2 to 9 bytes, a string with a
/// length prefix.
pub fn serialized_length(value: &[u8]) -> usize {
    match Encoding::of(value) {
        Encoding::Integer(integer) if i8::try_from(integer).is_ok() => 2,
        Encoding::Integer(integer) if i16::try_from(integer).is_ok() => 3,
        Encoding::Integer(integer) if i32::try_from(integer).is_ok() => 5,
        _ => {
            let prefix = match value.len() {
                0..64 => 1,
                64..16_384 => 2,
                _ => 5,
            };
            prefix + value.len()
        }
    }
}

/// DEBUG OBJECT's line for a string value. The address is made up (keel
/// has no objects): shared integers get one per integer, as in Redis, so
/// two keys holding 7 show the same address.
pub fn debug_object_line(key: &[u8], value: &[u8]) -> String {
    let encoding = Encoding::of(value);
    let address = match encoding {
        Encoding::Integer(integer) if (0..SHARED_INTEGERS).contains(&integer) => {
            0x7f00_0000_0000u64 + u64::try_from(integer).unwrap_or(0) * 16
        }
        _ => 0x7f10_0000_0000u64 | (Digest::of_parts(&[key, value]).lanes[0] & 0xffff_fff0),
    };
    format!(
        "Value at:{address:#x} refcount:{} encoding:{} serializedlength:{} lru:0 lru_seconds_idle:0",
        encoding.reference_count(),
        encoding.name(),
        serialized_length(value)
    )
}

/// A 160-bit digest (three FNV-1a lanes with different seeds), printed as
/// 40 hexadecimal digits like Redis's SHA1-based ones. Only equality
/// matters: the same data gives the same digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    lanes: [u64; 3],
}

const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const LANE_SEEDS: [u64; 3] = [
    0xcbf2_9ce4_8422_2325,
    0x84222325_cbf29ce4,
    0x9e37_79b9_7f4a_7c15,
];

impl Digest {
    /// The digest of nothing: all zeros.
    pub fn empty() -> Digest {
        Digest { lanes: [0; 3] }
    }

    /// The digest of `parts`, each length-prefixed so that boundaries
    /// count.
    pub fn of_parts(parts: &[&[u8]]) -> Digest {
        let mut lanes = LANE_SEEDS;
        for part in parts {
            let length = (part.len() as u64).to_le_bytes();
            for byte in length.iter().chain(part.iter()) {
                for (index, lane) in lanes.iter_mut().enumerate() {
                    *lane ^= u64::from(*byte).wrapping_add(index as u64);
                    *lane = lane.wrapping_mul(FNV_PRIME);
                }
            }
        }
        Digest { lanes }
    }

    /// Folds `other` into this digest in order (Redis's `mixDigest`).
    pub fn mix(&mut self, other: &Digest) {
        for (lane, other) in self.lanes.iter_mut().zip(other.lanes) {
            *lane = (*lane ^ other).wrapping_mul(FNV_PRIME).rotate_left(17);
        }
    }

    /// True for the digest of nothing.
    pub fn is_empty(&self) -> bool {
        self.lanes == [0; 3]
    }

    /// 40 hexadecimal digits.
    pub fn hex(&self) -> String {
        format!(
            "{:016x}{:016x}{:08x}",
            self.lanes[0],
            self.lanes[1],
            self.lanes[2] >> 32
        )
    }
}

/// Entries a Redis 7.0 hash or sorted set keeps as a listpack
/// (`hash-max-listpack-entries`, `zset-max-listpack-entries`).
pub const LISTPACK_ENTRIES_MAX: u64 = 128;

/// Bytes of the longest field, value or member a listpack keeps
/// (`hash-max-listpack-value`, `zset-max-listpack-value`).
pub const LISTPACK_VALUE_BYTES_MAX: usize = 64;

/// Members a Redis 7.0 set of integers keeps as an intset
/// (`set-max-intset-entries`).
pub const INTSET_ENTRIES_MAX: u64 = 512;

/// What decides how Redis 7.0 would encode a collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectionShape {
    /// The type.
    pub kind: crate::commands::encoding::Kind,
    /// Elements.
    pub count: u64,
    /// Bytes of the longest field, value or member.
    pub longest_bytes: usize,
    /// Whether every member is a canonical 64-bit integer (sets).
    pub all_integers: bool,
    /// Bytes of every element together.
    pub total_bytes: u64,
}

impl CollectionShape {
    /// OBJECT ENCODING's answer, by Redis 7.0's rules (a list is always a
    /// quicklist there); judged on the elements now, where Redis never
    /// converts back.
    pub fn encoding(&self) -> &'static str {
        use crate::commands::encoding::Kind;
        let small =
            self.count <= LISTPACK_ENTRIES_MAX && self.longest_bytes <= LISTPACK_VALUE_BYTES_MAX;
        match self.kind {
            Kind::List => "quicklist",
            Kind::Hash if small => "listpack",
            Kind::Hash => "hashtable",
            Kind::SortedSet if small => "listpack",
            Kind::SortedSet => "skiplist",
            Kind::Set if self.all_integers && self.count <= INTSET_ENTRIES_MAX => "intset",
            Kind::Set => "hashtable",
            Kind::Stream => "stream",
        }
    }

    /// MEMORY USAGE's estimate: the key, the elements and 16 bytes of
    /// overhead per element.
    pub fn memory_usage(&self, key: &[u8]) -> i64 {
        let bytes = 16 + key.len() as u64 + self.total_bytes + 16 * self.count;
        i64::try_from(bytes.div_ceil(8) * 8).unwrap_or(i64::MAX)
    }
}

/// The digest of one key's value and expiry (DEBUG DIGEST-VALUE).
pub fn value_digest(value: &[u8], deadline_ms: Option<i64>) -> Digest {
    let deadline = deadline_ms.unwrap_or(-1).to_le_bytes();
    Digest::of_parts(&[b"string", value, &deadline])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_redis_rules() {
        assert_eq!(Encoding::of(b"1234").name(), "int");
        assert_eq!(Encoding::of(b"-555").name(), "int");
        assert_eq!(Encoding::of(b"9223372036854775807").name(), "int");
        assert_eq!(Encoding::of(b"01").name(), "embstr");
        assert_eq!(Encoding::of(b"+1").name(), "embstr");
        assert_eq!(Encoding::of(b"1.5").name(), "embstr");
        assert_eq!(Encoding::of(b"").name(), "embstr");
        assert_eq!(Encoding::of(&[b'x'; 44]).name(), "embstr");
        assert_eq!(Encoding::of(&[b'x'; 45]).name(), "raw");
        assert_eq!(Encoding::of(b"1").reference_count(), SHARED_REFCOUNT);
        assert_eq!(Encoding::of(b"9999").reference_count(), SHARED_REFCOUNT);
        assert_eq!(Encoding::of(b"10000").reference_count(), 1);
        assert_eq!(Encoding::of(b"-1").reference_count(), 1);
        assert_eq!(Encoding::of(b"abc").reference_count(), 1);
    }

    #[test]
    fn memory_usage_stays_within_redis_bounds() {
        // The bounds Redis's own test checks: at least 16 + key + value
        // bytes, at most 64 below 32 bytes and twice the minimum above.
        let sizes = [
            1, 5, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256,
        ];
        for key_bytes in sizes {
            let key = vec![b'k'; key_bytes];
            for value_bytes in sizes {
                let value = vec![b'v'; value_bytes];
                let usage = memory_usage(&key, &value, false);
                let minimum = 16 + key_bytes + value_bytes;
                let maximum = if minimum < 32 { 64 } else { minimum * 2 };
                assert!(
                    (minimum as i64..=maximum as i64).contains(&usage),
                    "{key_bytes} {value_bytes}: {usage}"
                );
            }
            assert!(memory_usage(&key, b"10000000", false) >= 16 + key_bytes as i64);
        }
    }

    #[test]
    fn digests_tell_data_apart() {
        let a = value_digest(b"hello", None);
        assert_eq!(a, value_digest(b"hello", None));
        assert_ne!(a, value_digest(b"hello", Some(5)));
        assert_ne!(a, value_digest(b"hellp", None));
        assert_eq!(a.hex().len(), 40);
        assert_eq!(Digest::empty().hex(), EMPTY_DIGEST);
        assert_ne!(
            Digest::of_parts(&[b"ab", b"c"]),
            Digest::of_parts(&[b"a", b"bc"])
        );
        let mut mixed = Digest::empty();
        mixed.mix(&a);
        assert!(!mixed.is_empty());
    }

    #[test]
    fn debug_object_shares_addresses_of_small_integers() {
        let line = debug_object_line(b"k", b"7");
        assert!(line.contains("refcount:2147483647 encoding:int"), "{line}");
        assert_eq!(
            line.split(' ').nth(1),
            debug_object_line(b"other", b"7").split(' ').nth(1)
        );
        assert!(debug_object_line(b"k", b"hello").contains("refcount:1 encoding:embstr"));
    }
}

//! Redis's DUMP payload: an RDB object type byte, the value in that
//! type's RDB encoding, the RDB version (u16 LE) and a CRC-64/Jones of all
//! that (u64 LE). RESTORE reads every type and encoding Redis 2.x to 7.x
//! writes (docs/FORMAT.md, "DUMP payload"); DUMP writes the plain
//! encodings every Redis since 5 reads.

use std::collections::HashSet;

use bytes::Bytes;

use super::super::dump_payload::{self, DumpedValue, PayloadError};
use super::crc64::crc64;
use super::packed::{self, Packed};
use super::reader::{RdbReader, parse_score};
use super::stream;

/// Bytes after the value: the RDB version and the CRC-64.
pub const RDB_FOOTER_BYTES: usize = size_of::<u16>() + size_of::<u64>();
const _: () = assert!(RDB_FOOTER_BYTES == 10);

/// The newest RDB version RESTORE reads (Redis 7.4 and 8 write 12).
pub const RDB_VERSION_MAX: u16 = 12;

/// The RDB version DUMP writes for every type but streams: Redis 5 and 6
/// (RDB 9) read it, and 7.x too.
pub const RDB_VERSION_PLAIN: u16 = 9;

/// The RDB version DUMP writes for streams (`STREAM_LISTPACKS_2`, Redis 7.0).
pub const RDB_VERSION_STREAM: u16 = 10;

/// RDB object types (Redis's `rdb.h`): the type byte that starts a
/// payload.
pub mod object_type {
    /// A string.
    pub const STRING: u8 = 0;
    /// A list as a sequence of strings (Redis < 3.2).
    pub const LIST: u8 = 1;
    /// A set as a sequence of strings.
    pub const SET: u8 = 2;
    /// A sorted set with scores as text (Redis < 4).
    pub const ZSET: u8 = 3;
    /// A hash as a sequence of field-value strings.
    pub const HASH: u8 = 4;
    /// A sorted set with binary scores.
    pub const ZSET_2: u8 = 5;
    /// A hash in a zipmap (Redis < 2.6).
    pub const HASH_ZIPMAP: u8 = 9;
    /// A list in a ziplist (Redis < 3.2).
    pub const LIST_ZIPLIST: u8 = 10;
    /// A set of integers in an intset.
    pub const SET_INTSET: u8 = 11;
    /// A sorted set in a ziplist (Redis < 7).
    pub const ZSET_ZIPLIST: u8 = 12;
    /// A hash in a ziplist (Redis < 7).
    pub const HASH_ZIPLIST: u8 = 13;
    /// A list as ziplist nodes (Redis 3.2 to 6).
    pub const LIST_QUICKLIST: u8 = 14;
    /// A stream (Redis 5 and 6).
    pub const STREAM_LISTPACKS: u8 = 15;
    /// A hash in a listpack (Redis 7).
    pub const HASH_LISTPACK: u8 = 16;
    /// A sorted set in a listpack (Redis 7).
    pub const ZSET_LISTPACK: u8 = 17;
    /// A list as listpack or plain nodes (Redis 7).
    pub const LIST_QUICKLIST_2: u8 = 18;
    /// A stream with its offsets (Redis 7.0).
    pub const STREAM_LISTPACKS_2: u8 = 19;
    /// A set in a listpack (Redis 7.2).
    pub const SET_LISTPACK: u8 = 20;
    /// A stream with consumers' active times (Redis 7.2).
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// A quicklist 2 node holding one element as it is.
const QUICKLIST_NODE_PLAIN: u64 = 1;
/// A quicklist 2 node holding a listpack.
const QUICKLIST_NODE_PACKED: u64 = 2;

/// Whether `payload` is sealed as Redis seals one: a CRC-64 over all but
/// its last 8 bytes.
pub fn is_redis_payload(payload: &[u8]) -> bool {
    let Some(covered) = payload.len().checked_sub(size_of::<u64>()) else {
        return false;
    };
    if payload.len() < RDB_FOOTER_BYTES + 1 {
        return false;
    }
    let mut found = [0u8; 8];
    found.copy_from_slice(&payload[covered..]);
    u64::from_le_bytes(found) == crc64(0, &payload[..covered])
}

/// `body` (a type byte and a value) sealed as Redis seals a payload:
/// with `version` and the CRC-64 of both.
pub fn seal(body: &[u8], version: u16) -> Vec<u8> {
    let mut payload = Vec::with_capacity(body.len() + RDB_FOOTER_BYTES);
    payload.extend_from_slice(body);
    payload.extend_from_slice(&version.to_le_bytes());
    let checksum = crc64(0, &payload);
    payload.extend_from_slice(&checksum.to_le_bytes());
    payload
}

/// Decodes a DUMP payload in either format: Redis's (what redis-server
/// and this build's DUMP write) or keel's own earlier one
/// (`dump_payload.rs`).
pub fn decode_any(payload: &[u8]) -> Result<DumpedValue, PayloadError> {
    if !is_redis_payload(payload) {
        return dump_payload::decode(payload);
    }
    let body = &payload[..payload.len() - RDB_FOOTER_BYTES];
    let footer = &payload[body.len()..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION_MAX {
        return Err(PayloadError::RdbVersion { found: version });
    }
    decode_value(body)
}

/// Decodes an RDB object: its type byte and value, and nothing after.
pub fn decode_value(body: &[u8]) -> Result<DumpedValue, PayloadError> {
    let mut reader = RdbReader::new(body);
    let value = read_value(&mut reader)?;
    if !reader.at_end() {
        return Err(reader.error("bytes after the value"));
    }
    Ok(value)
}

/// Reads an RDB object (its type byte and value) as RESTORE takes it:
/// what Redis refuses (an empty collection, a member twice, a NaN score)
/// is refused.
pub fn read_value(reader: &mut RdbReader<'_>) -> Result<DumpedValue, PayloadError> {
    let start = reader.offset();
    let reader = &mut *reader;
    let value = match reader.byte("the object type")? {
        object_type::STRING => DumpedValue::String(reader.string()?),
        object_type::LIST => {
            let count = reader.count(1)?;
            let items = (0..count)
                .map(|_| reader.string())
                .collect::<Result<_, _>>()?;
            DumpedValue::List(items)
        }
        object_type::SET => {
            let count = reader.count(1)?;
            let members = (0..count)
                .map(|_| reader.string())
                .collect::<Result<_, _>>()?;
            DumpedValue::Set(members)
        }
        kind @ (object_type::ZSET | object_type::ZSET_2) => {
            let count = reader.count(2)?;
            let mut members = Vec::with_capacity(count);
            for _ in 0..count {
                let member = reader.string()?;
                let score = if kind == object_type::ZSET {
                    reader.text_double()?
                } else {
                    f64::from_bits(reader.u64_le("a score")?)
                };
                members.push((member, score));
            }
            DumpedValue::SortedSet(members)
        }
        object_type::HASH => {
            let count = reader.count(2)?;
            let mut pairs = Vec::with_capacity(count);
            for _ in 0..count {
                pairs.push((reader.string()?, reader.string()?));
            }
            DumpedValue::Hash(pairs)
        }
        kind @ (object_type::LIST_QUICKLIST | object_type::LIST_QUICKLIST_2) => {
            DumpedValue::List(quicklist(reader, kind)?)
        }
        kind @ (object_type::STREAM_LISTPACKS
        | object_type::STREAM_LISTPACKS_2
        | object_type::STREAM_LISTPACKS_3) => DumpedValue::Stream(stream::decode(reader, kind)?),
        kind => packed_value(reader, kind)?,
    };
    check(&value).map_err(|what| PayloadError::Malformed {
        offset: start,
        what,
    })?;
    Ok(value)
}

/// The items of a quicklist (nodes of ziplists) or quicklist 2 (nodes of
/// listpacks or single plain items).
fn quicklist(reader: &mut RdbReader<'_>, kind: u8) -> Result<Vec<Bytes>, PayloadError> {
    let nodes = reader.count(1)?;
    let mut items = Vec::new();
    for _ in 0..nodes {
        let container = if kind == object_type::LIST_QUICKLIST_2 {
            reader.length()?
        } else {
            QUICKLIST_NODE_PACKED
        };
        let blob = reader.string()?;
        match container {
            QUICKLIST_NODE_PLAIN => items.push(blob),
            QUICKLIST_NODE_PACKED => {
                let elements = if kind == object_type::LIST_QUICKLIST_2 {
                    packed::listpack(&blob)
                } else {
                    packed::ziplist(&blob)
                };
                let elements = elements.map_err(|what| reader.error(what))?;
                items.extend(elements.iter().map(Packed::to_bytes));
            }
            _ => return Err(reader.error("a quicklist node's container")),
        }
    }
    Ok(items)
}

/// A value in one blob: a ziplist, listpack, intset or zipmap.
fn packed_value(reader: &mut RdbReader<'_>, kind: u8) -> Result<DumpedValue, PayloadError> {
    use object_type::*;
    if ![
        HASH_ZIPMAP,
        LIST_ZIPLIST,
        SET_INTSET,
        ZSET_ZIPLIST,
        HASH_ZIPLIST,
        HASH_LISTPACK,
        ZSET_LISTPACK,
        SET_LISTPACK,
    ]
    .contains(&kind)
    {
        return Err(PayloadError::Malformed {
            offset: 0,
            what: "an object type this build does not read",
        });
    }
    let blob = reader.string()?;
    let offset = reader.offset();
    let bad = |what| PayloadError::Malformed { offset, what };
    let elements = match kind {
        HASH_ZIPMAP => return packed::zipmap(&blob).map(DumpedValue::Hash).map_err(bad),
        SET_INTSET => {
            let members = packed::intset(&blob).map_err(bad)?;
            let members = members.iter().map(|member| Bytes::from(member.to_string()));
            return Ok(DumpedValue::Set(members.collect()));
        }
        LIST_ZIPLIST | ZSET_ZIPLIST | HASH_ZIPLIST => packed::ziplist(&blob),
        _ => packed::listpack(&blob),
    }
    .map_err(bad)?;
    let items: Vec<Bytes> = elements.iter().map(Packed::to_bytes).collect();
    if matches!(kind, LIST_ZIPLIST) {
        return Ok(DumpedValue::List(items));
    }
    if matches!(kind, SET_LISTPACK) {
        return Ok(DumpedValue::Set(items));
    }
    if !items.len().is_multiple_of(2) {
        return Err(bad("an odd number of elements in a packed map"));
    }
    let mut pairs = items
        .chunks_exact(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()));
    if matches!(kind, HASH_ZIPLIST | HASH_LISTPACK) {
        return Ok(DumpedValue::Hash(pairs.collect()));
    }
    let members = pairs
        .by_ref()
        .map(|(member, score)| Some((member, parse_score(&score)?)))
        .collect::<Option<Vec<_>>>()
        .ok_or(bad("a score that is not a number"))?;
    Ok(DumpedValue::SortedSet(members))
}

/// What Redis refuses in a value that decodes: an empty collection, a
/// member or field twice, a NaN score.
fn check(value: &DumpedValue) -> Result<(), &'static str> {
    fn unique<'a>(names: impl Iterator<Item = &'a Bytes>) -> Result<(), &'static str> {
        let mut seen = HashSet::new();
        let mut count = 0;
        for name in names {
            count += 1;
            if !seen.insert(name) {
                return Err("a member or field twice");
            }
        }
        if count == 0 {
            return Err("an empty collection");
        }
        Ok(())
    }
    match value {
        DumpedValue::String(_) | DumpedValue::Stream(_) => Ok(()),
        DumpedValue::List(items) if items.is_empty() => Err("an empty collection"),
        DumpedValue::List(_) => Ok(()),
        DumpedValue::Set(members) => unique(members.iter()),
        DumpedValue::Hash(pairs) => unique(pairs.iter().map(|(field, _)| field)),
        DumpedValue::SortedSet(members) => {
            if members.iter().any(|(_, score)| score.is_nan()) {
                return Err("a score that is not a number");
            }
            unique(members.iter().map(|(member, _)| member))
        }
    }
}

//! Writing Redis's DUMP payload (`payload.rs` reads it): plain encodings
//! only — strings raw, lists as RDB_TYPE_LIST, sets, hashes, sorted sets
//! with binary scores (ZSET_2), streams as STREAM_LISTPACKS_2 — which
//! Redis converts to its compact encodings as it loads them.

use bytes::Bytes;

use super::super::dump_payload::{DumpedValue, PayloadError};
use super::payload::{RDB_VERSION_PLAIN, RDB_VERSION_STREAM, object_type};
use super::stream;

/// Appends an RDB length (6-, 14-, 32- or 64-bit).
pub fn push_length(out: &mut Vec<u8>, length: u64) {
    if length < 1 << 6 {
        out.push(length as u8);
    } else if length < 1 << 14 {
        out.extend_from_slice(&[0x40 | (length >> 8) as u8, length as u8]);
    } else if let Ok(length) = u32::try_from(length) {
        out.push(0x80);
        out.extend_from_slice(&length.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&length.to_be_bytes());
    }
}

/// Appends a raw RDB string.
pub fn push_string(out: &mut Vec<u8>, bytes: &[u8]) {
    push_length(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The RDB object (type byte and value) of `value`, and the RDB version
/// its payload declares.
fn object(value: &DumpedValue) -> Result<(Vec<u8>, u16), PayloadError> {
    let mut out = Vec::new();
    let count = |length: usize| length as u64;
    match value {
        DumpedValue::String(bytes) => {
            out.push(object_type::STRING);
            push_string(&mut out, bytes);
        }
        DumpedValue::List(items) | DumpedValue::Set(items) => {
            let kind = if matches!(value, DumpedValue::List(_)) {
                object_type::LIST
            } else {
                object_type::SET
            };
            out.push(kind);
            push_length(&mut out, count(items.len()));
            for item in items {
                push_string(&mut out, item);
            }
        }
        DumpedValue::Hash(pairs) => {
            out.push(object_type::HASH);
            push_length(&mut out, count(pairs.len()));
            for (field, value) in pairs {
                push_string(&mut out, field);
                push_string(&mut out, value);
            }
        }
        DumpedValue::SortedSet(members) => {
            out.push(object_type::ZSET_2);
            push_length(&mut out, count(members.len()));
            for (member, score) in members {
                push_string(&mut out, member);
                out.extend_from_slice(&score.to_bits().to_le_bytes());
            }
        }
        DumpedValue::Stream(elements) => {
            out.push(object_type::STREAM_LISTPACKS_2);
            stream::encode(&mut out, elements)?;
            return Ok((out, RDB_VERSION_STREAM));
        }
    }
    Ok((out, RDB_VERSION_PLAIN))
}

/// `value` as Redis's DUMP payload; an error only for a stream whose
/// stored elements do not decode.
pub fn encode(value: &DumpedValue) -> Result<Bytes, PayloadError> {
    let (out, version) = object(value)?;
    Ok(Bytes::from(super::payload::seal(&out, version)))
}

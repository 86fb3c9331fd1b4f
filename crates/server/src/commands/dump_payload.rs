//! DUMP's payload: a key's value in keel's own serialization, versioned
//! and checksummed (docs/FORMAT.md, "DUMP payload"), and its decoding,
//! which refuses a damaged payload with a typed error and never panics.
//!
//! ```text
//! body:   kind u8 | kind's content
//!         string (0): the value's bytes
//!         hash (1), set (2), list (3), sorted set (4):
//!           count u64 | count elements, each:
//!             hash: field, value   set, list: item
//!             sorted set: member, score f64
//!         stream (5): count u64 | count elements, each:
//!             key (tag ‖ rest), value — every element but the header
//!           where a byte string is  length u32 | bytes
//! footer: version u16 | crc32c(body ‖ version) u32
//! ```
//! Every integer is little-endian.

use bytes::Bytes;

use super::encoding::Kind;

/// The version this build writes and reads.
pub const DUMP_VERSION: u16 = 1;

/// Bytes after the body: the version and the checksum.
pub const FOOTER_BYTES: usize = size_of::<u16>() + size_of::<u32>();

const _: () = assert!(FOOTER_BYTES == 6);

/// The kind byte of a string (collections use their [`Kind`] number).
const STRING_KIND: u8 = 0;

/// A value as DUMP serializes it.
#[derive(Clone, Debug, PartialEq)]
pub enum DumpedValue {
    /// A string.
    String(Bytes),
    /// A hash's fields and values.
    Hash(Vec<(Bytes, Bytes)>),
    /// A set's members.
    Set(Vec<Bytes>),
    /// A list's items, head first.
    List(Vec<Bytes>),
    /// A sorted set's members and scores.
    SortedSet(Vec<(Bytes, f64)>),
    /// A stream's elements but its header, each as `tag ‖ rest` and
    /// value (`stream_layout.rs`): entries, state, groups, PELs.
    Stream(Vec<(Bytes, Bytes)>),
}

/// Why a payload was refused.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Shorter than its footer.
    #[error("payload of {length} bytes is shorter than its footer")]
    TooShort {
        /// The payload's length.
        length: usize,
    },
    /// Written by another version.
    #[error("payload version {found}, expected {DUMP_VERSION}")]
    Version {
        /// The version in the footer.
        found: u16,
    },
    /// A Redis payload of an RDB version newer than this build reads.
    #[error(
        "RDB payload version {found}, newest read is {}",
        super::rdb::payload::RDB_VERSION_MAX
    )]
    RdbVersion {
        /// The version in the footer.
        found: u16,
    },
    /// The checksum does not match the bytes.
    #[error("payload checksum {found:#010x}, computed {computed:#010x}")]
    Checksum {
        /// The checksum in the footer.
        found: u32,
        /// The checksum of the bytes.
        computed: u32,
    },
    /// The body does not decode.
    #[error("payload malformed at byte {offset}: {what}")]
    Malformed {
        /// Where decoding stopped.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
}

impl PayloadError {
    /// Redis's reply text for it: a wrong version or checksum, or data
    /// that does not decode.
    pub fn redis_text(&self) -> &'static str {
        match self {
            PayloadError::Malformed { .. } => "ERR Bad data format",
            _ => "ERR DUMP payload version or checksum are wrong",
        }
    }
}

fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // An element is far below 4 GiB (the protocol's bulk limit is 512 MiB).
    let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Serializes `value` with its footer.
pub fn encode(value: &DumpedValue) -> Bytes {
    let mut out = Vec::new();
    let count = |length: usize| u64::try_from(length).unwrap_or(u64::MAX).to_le_bytes();
    match value {
        DumpedValue::String(bytes) => {
            out.push(STRING_KIND);
            out.extend_from_slice(bytes);
        }
        DumpedValue::Hash(pairs) | DumpedValue::Stream(pairs) => {
            let kind = if matches!(value, DumpedValue::Hash(_)) {
                Kind::Hash
            } else {
                Kind::Stream
            };
            out.push(kind as u8);
            out.extend_from_slice(&count(pairs.len()));
            for (field, value) in pairs {
                push_bytes(&mut out, field);
                push_bytes(&mut out, value);
            }
        }
        DumpedValue::Set(items) | DumpedValue::List(items) => {
            let kind = if matches!(value, DumpedValue::Set(_)) {
                Kind::Set
            } else {
                Kind::List
            };
            out.push(kind as u8);
            out.extend_from_slice(&count(items.len()));
            for item in items {
                push_bytes(&mut out, item);
            }
        }
        DumpedValue::SortedSet(members) => {
            out.push(Kind::SortedSet as u8);
            out.extend_from_slice(&count(members.len()));
            for (member, score) in members {
                push_bytes(&mut out, member);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
    }
    out.extend_from_slice(&DUMP_VERSION.to_le_bytes());
    let checksum = crc32c::crc32c(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    Bytes::from(out)
}

/// Reads a body, tracking where it is.
struct Reader<'a> {
    body: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, length: usize, what: &'static str) -> Result<&'a [u8], PayloadError> {
        let end = self
            .offset
            .checked_add(length)
            .filter(|&end| end <= self.body.len())
            .ok_or(PayloadError::Malformed {
                offset: self.offset,
                what,
            })?;
        let taken = &self.body[self.offset..end];
        self.offset = end;
        Ok(taken)
    }

    fn fixed<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], PayloadError> {
        let mut bytes = [0u8; N];
        bytes.copy_from_slice(self.take(N, what)?);
        Ok(bytes)
    }

    fn bytes(&mut self) -> Result<Bytes, PayloadError> {
        let length = u32::from_le_bytes(self.fixed("an element's length")?);
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        Ok(Bytes::copy_from_slice(self.take(length, "an element")?))
    }

    fn score(&mut self) -> Result<f64, PayloadError> {
        let offset = self.offset;
        let score = f64::from_le_bytes(self.fixed("a score")?);
        if score.is_nan() {
            return Err(PayloadError::Malformed {
                offset,
                what: "a score that is not a number",
            });
        }
        Ok(score)
    }

    /// The element count, at least 1; each element takes at least
    /// `element_bytes`, so a count the body cannot hold is refused before
    /// anything is allocated for it.
    fn count(&mut self, element_bytes: usize) -> Result<usize, PayloadError> {
        let offset = self.offset;
        let count = u64::from_le_bytes(self.fixed("the element count")?);
        if count == 0 {
            // Redis never keeps an empty collection, nor does DUMP write one.
            return Err(PayloadError::Malformed {
                offset,
                what: "an empty collection",
            });
        }
        let left = self.body.len() - self.offset;
        usize::try_from(count)
            .ok()
            .filter(|&count| count.saturating_mul(element_bytes) <= left)
            .ok_or(PayloadError::Malformed {
                offset,
                what: "an element count larger than the payload",
            })
    }
}

/// Checks the footer and decodes the body.
pub fn decode(payload: &[u8]) -> Result<DumpedValue, PayloadError> {
    let length = payload.len();
    let body_length = length
        .checked_sub(FOOTER_BYTES)
        .filter(|&body| body >= 1)
        .ok_or(PayloadError::TooShort { length })?;
    let (covered, checksum) = payload.split_at(length - size_of::<u32>());
    let mut found = [0u8; 4];
    found.copy_from_slice(checksum);
    let found = u32::from_le_bytes(found);
    let computed = crc32c::crc32c(covered);
    if found != computed {
        return Err(PayloadError::Checksum { found, computed });
    }
    let version = u16::from_le_bytes([covered[body_length], covered[body_length + 1]]);
    if version != DUMP_VERSION {
        return Err(PayloadError::Version { found: version });
    }
    decode_body(&covered[..body_length])
}

fn decode_body(body: &[u8]) -> Result<DumpedValue, PayloadError> {
    let mut reader = Reader { body, offset: 1 };
    const LENGTH_BYTES: usize = size_of::<u32>();
    let value = match body[0] {
        STRING_KIND => return Ok(DumpedValue::String(Bytes::copy_from_slice(&body[1..]))),
        kind if kind == Kind::Hash as u8 || kind == Kind::Stream as u8 => {
            let count = reader.count(2 * LENGTH_BYTES)?;
            let mut pairs = Vec::with_capacity(count);
            for _ in 0..count {
                pairs.push((reader.bytes()?, reader.bytes()?));
            }
            if kind == Kind::Hash as u8 {
                DumpedValue::Hash(pairs)
            } else {
                DumpedValue::Stream(pairs)
            }
        }
        kind if kind == Kind::Set as u8 || kind == Kind::List as u8 => {
            let count = reader.count(LENGTH_BYTES)?;
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                items.push(reader.bytes()?);
            }
            if kind == Kind::Set as u8 {
                DumpedValue::Set(items)
            } else {
                DumpedValue::List(items)
            }
        }
        kind if kind == Kind::SortedSet as u8 => {
            let count = reader.count(LENGTH_BYTES + size_of::<f64>())?;
            let mut members = Vec::with_capacity(count);
            for _ in 0..count {
                members.push((reader.bytes()?, reader.score()?));
            }
            DumpedValue::SortedSet(members)
        }
        _ => {
            return Err(PayloadError::Malformed {
                offset: 0,
                what: "an unknown kind",
            });
        }
    };
    if reader.offset != body.len() {
        return Err(PayloadError::Malformed {
            offset: reader.offset,
            what: "bytes after the last element",
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<DumpedValue> {
        let b = |text: &str| Bytes::copy_from_slice(text.as_bytes());
        vec![
            DumpedValue::String(b("")),
            DumpedValue::String(b("bar")),
            DumpedValue::Hash(vec![(b("f"), b("v")), (b(""), b("empty field"))]),
            DumpedValue::Set(vec![b("a"), b("b")]),
            DumpedValue::List(vec![b("x"), b("x"), b("")]),
            DumpedValue::SortedSet(vec![(b("m"), 1.5), (b("n"), f64::NEG_INFINITY)]),
            DumpedValue::Stream(vec![(b("\x03"), b("state")), (b("\x01id"), b("entry"))]),
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        for value in samples() {
            assert_eq!(decode(&encode(&value)), Ok(value.clone()), "{value:?}");
        }
    }

    #[test]
    fn a_changed_byte_is_refused_with_a_typed_error() {
        for value in samples() {
            let payload = encode(&value).to_vec();
            for index in 0..payload.len() {
                let mut damaged = payload.clone();
                damaged[index] ^= 0x41;
                assert!(
                    matches!(decode(&damaged), Err(PayloadError::Checksum { .. })),
                    "byte {index} of {value:?}"
                );
            }
            for length in 0..payload.len() {
                assert!(decode(&payload[..length]).is_err(), "cut at {length}");
            }
        }
    }

    #[test]
    fn a_well_sealed_but_malformed_body_is_refused_not_panicked_on() {
        let seal = |body: &[u8]| -> Vec<u8> {
            let mut payload = body.to_vec();
            payload.extend_from_slice(&DUMP_VERSION.to_le_bytes());
            let checksum = crc32c::crc32c(&payload);
            payload.extend_from_slice(&checksum.to_le_bytes());
            payload
        };
        let bodies: [&[u8]; 5] = [
            &[9],
            &[
                Kind::Set as u8,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
            ],
            &[Kind::List as u8, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, b'a'],
            &[Kind::Hash as u8, 0, 0, 0, 0, 0, 0, 0, 0, 7],
            &[
                Kind::SortedSet as u8,
                1,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0xf8,
                0x7f,
            ],
        ];
        for body in bodies {
            assert!(
                matches!(decode(&seal(body)), Err(PayloadError::Malformed { .. })),
                "{body:?}"
            );
        }
        let mut other_version = encode(&DumpedValue::String(Bytes::new())).to_vec();
        other_version.truncate(1);
        other_version.extend_from_slice(&2u16.to_le_bytes());
        let checksum = crc32c::crc32c(&other_version);
        other_version.extend_from_slice(&checksum.to_le_bytes());
        assert_eq!(
            decode(&other_version),
            Err(PayloadError::Version { found: 2 })
        );
    }
}

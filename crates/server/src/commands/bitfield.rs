//! BITFIELD key [GET type offset] [SET type offset value] [INCRBY type
//! offset increment] [OVERFLOW WRAP | SAT | FAIL] … and BITFIELD_RO
//! key [GET type offset …]: integers of 1 to 64 bits at any bit offset of
//! a string.

use bytes::{Bytes, BytesMut};

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument};
use super::bitmap::bit_offset;
use super::id::CommandId;
use super::notify::EventClasses;
use super::{DataCall, Outcome};
use crate::resp::{Reply, parse_integer};

/// What a write does when its result does not fit the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Keep the low bits (two's complement for a signed field).
    Wrap,
    /// Stop at the field's minimum or maximum.
    Sat,
    /// Write nothing and answer null.
    Fail,
}

/// A field's type: `i1` … `i64`, `u1` … `u63`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldType {
    /// Two's complement (`i`) or not (`u`).
    pub signed: bool,
    /// Its width.
    pub bits: u32,
}

impl FieldType {
    fn parse(text: &[u8]) -> Result<FieldType, Reply> {
        let signed = match text.first() {
            Some(b'i') => Some(true),
            Some(b'u') => Some(false),
            _ => None,
        };
        signed
            .zip(parse_integer(&text[1.min(text.len())..]))
            .filter(|(signed, bits)| *bits >= 1 && *bits <= if *signed { 64 } else { 63 })
            .map(|(signed, bits)| FieldType {
                signed,
                bits: u32::try_from(bits).unwrap_or(64),
            })
            .ok_or_else(|| {
                Reply::error(
                    "ERR Invalid bitfield type. Use something like i16 u8. \
                     Note that u64 is not supported but i64 is.",
                )
            })
    }

    fn minimum(self) -> i128 {
        if self.signed {
            -(1i128 << (self.bits - 1))
        } else {
            0
        }
    }

    fn maximum(self) -> i128 {
        if self.signed {
            (1i128 << (self.bits - 1)) - 1
        } else {
            (1i128 << self.bits) - 1
        }
    }

    /// The field's value for `value`, or `None` when it does not fit and
    /// `overflow` is FAIL.
    pub fn fit(self, value: i128, overflow: Overflow) -> Option<i128> {
        if (self.minimum()..=self.maximum()).contains(&value) {
            return Some(value);
        }
        match overflow {
            Overflow::Fail => None,
            Overflow::Sat if value > self.maximum() => Some(self.maximum()),
            Overflow::Sat => Some(self.minimum()),
            Overflow::Wrap => {
                let low = value.rem_euclid(1i128 << self.bits);
                let negative = self.signed && low > self.maximum();
                Some(if negative {
                    low - (1i128 << self.bits)
                } else {
                    low
                })
            }
        }
    }

    /// The field at bit `offset` of `bytes` (zeros past its end).
    pub fn read(self, bytes: &[u8], offset: u64) -> i128 {
        let mut raw = 0u64;
        for bit in offset..offset + u64::from(self.bits) {
            let byte = usize::try_from(bit >> 3)
                .ok()
                .and_then(|index| bytes.get(index))
                .copied()
                .unwrap_or(0);
            raw = (raw << 1) | u64::from((byte >> (7 - (bit & 7))) & 1);
        }
        let value = i128::from(raw);
        if self.signed && value > self.maximum() {
            value - (1i128 << self.bits)
        } else {
            value
        }
    }

    /// Writes `value` (which fits) into the field at bit `offset` of
    /// `bytes`, long enough to hold it.
    pub fn write(self, bytes: &mut [u8], offset: u64, value: i128) {
        let raw = value.rem_euclid(1i128 << self.bits);
        for (index, bit) in (offset..offset + u64::from(self.bits)).enumerate() {
            let set = (raw >> (self.bits as usize - 1 - index)) & 1 == 1;
            let byte = &mut bytes[usize::try_from(bit >> 3).unwrap_or(usize::MAX)];
            let mask = 1u8 << (7 - (bit & 7));
            if set {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }
}

/// One operation of a BITFIELD call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldAction {
    /// GET: the field's value.
    Get,
    /// SET value: the old value.
    Set(i64),
    /// INCRBY increment: the new value.
    Incrby(i64),
}

/// An operation on one field, with the overflow mode in force for it.
#[derive(Clone, Copy, Debug)]
struct FieldOperation {
    action: FieldAction,
    field: FieldType,
    offset: u64,
    overflow: Overflow,
}

/// The operations of `arguments` (after the key), in order.
fn parse_operations(
    arguments: &[Bytes],
    bulk_bytes_max: usize,
) -> Result<Vec<FieldOperation>, Reply> {
    let mut operations = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut rest = arguments;
    while let [name, after @ ..] = rest {
        let is = |word: &[u8]| name.eq_ignore_ascii_case(word);
        if is(b"OVERFLOW") && !after.is_empty() {
            overflow = match &after[0] {
                mode if mode.eq_ignore_ascii_case(b"WRAP") => Overflow::Wrap,
                mode if mode.eq_ignore_ascii_case(b"SAT") => Overflow::Sat,
                mode if mode.eq_ignore_ascii_case(b"FAIL") => Overflow::Fail,
                _ => return Err(Reply::error("ERR Invalid OVERFLOW type specified")),
            };
            rest = &after[1..];
            continue;
        }
        let takes_value = (is(b"SET") || is(b"INCRBY")) && after.len() >= 3;
        let reads = is(b"GET") && after.len() >= 2;
        if !(takes_value || reads) {
            return Err(Reply::error(SYNTAX_ERROR_TEXT));
        }
        let field = FieldType::parse(&after[0])?;
        let offset = bit_offset(&after[1], bulk_bytes_max, Some(field.bits))?;
        let action = match (takes_value, is(b"SET")) {
            (false, _) => FieldAction::Get,
            (true, true) => FieldAction::Set(integer_argument(&after[2])?),
            (true, false) => FieldAction::Incrby(integer_argument(&after[2])?),
        };
        operations.push(FieldOperation {
            action,
            field,
            offset,
            overflow,
        });
        rest = &after[2 + usize::from(takes_value)..];
    }
    Ok(operations)
}

/// Runs `operation` on `bytes`: its reply, and whether it wrote a value
/// different from the old one (or wrote at all, when `grown`).
fn apply(operation: &FieldOperation, bytes: &mut [u8], grown: bool) -> (Reply, bool) {
    let FieldOperation {
        action,
        field,
        offset,
        overflow,
    } = *operation;
    let old = field.read(bytes, offset);
    let (new, answer_new) = match action {
        FieldAction::Get => return (integer(old), false),
        // An unsigned field takes SET's value as C's unsigned 64 bits.
        FieldAction::Set(value) if !field.signed => (i128::from(value as u64), false),
        FieldAction::Set(value) => (i128::from(value), false),
        FieldAction::Incrby(increment) => (old + i128::from(increment), true),
    };
    let Some(new) = field.fit(new, overflow) else {
        return (Reply::NullBulk, false);
    };
    field.write(bytes, offset, new);
    (
        integer(if answer_new { new } else { old }),
        grown || new != old,
    )
}

/// A field's value as a reply (it fits 64 bits signed: u63 at most).
fn integer(value: i128) -> Reply {
    Reply::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

/// BITFIELD and BITFIELD_RO: parsed whole first, then run in order on one
/// copy of the string.
pub(crate) fn bitfield(call: &mut DataCall<'_>) -> Outcome {
    let operations = parse_operations(&call.arguments[2..], call.limits.bulk_bytes_max)?;
    let last_written = operations
        .iter()
        .filter(|operation| operation.action != FieldAction::Get)
        .map(|operation| operation.offset + u64::from(operation.field.bits) - 1)
        .max();
    let key = call.key();
    let Some(last_written) = last_written else {
        let value = call.value(key)?;
        // Only reads: Redis looks the key up as a read command does
        // (BITFIELD_RO's miss is fired with every read command's).
        if value.is_none() && call.id() == CommandId::Bitfield {
            call.notify(EventClasses::KEY_MISS, "keymiss", key);
        }
        let value = value.unwrap_or_default();
        let mut bytes = value.to_vec();
        let replies = operations
            .iter()
            .map(|operation| apply(operation, &mut bytes, false).0);
        return Ok(Reply::Array(replies.collect()).into());
    };
    if call.id() == CommandId::BitfieldRo {
        return Err(Reply::error("ERR BITFIELD_RO only supports the GET subcommand").into());
    }
    let stored = call.get(key)?;
    let deadline = stored.as_ref().and_then(|stored| stored.deadline_ms);
    let old = stored.map(|stored| stored.value);
    let old_bytes = old.as_deref().unwrap_or_default();
    // The farthest bit's byte is within the bulk limit plus 8 bytes.
    let length = usize::try_from(last_written >> 3).unwrap_or(usize::MAX) + 1;
    let mut bytes = BytesMut::from(old_bytes);
    let grown = old.is_none() || bytes.len() < length;
    if bytes.len() < length {
        bytes.resize(length, 0);
    }
    let mut changed = false;
    let mut replies = Vec::with_capacity(operations.len());
    for operation in &operations {
        let (reply, wrote) = apply(operation, &mut bytes, grown);
        changed |= wrote;
        replies.push(reply);
    }
    if grown || bytes[..] != *old_bytes {
        call.put(key, bytes.freeze(), deadline)?;
    }
    if changed {
        call.notify(EventClasses::STRING, "setbit", key);
    }
    Ok(Reply::Array(replies).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const I8: FieldType = FieldType {
        signed: true,
        bits: 8,
    };
    const U2: FieldType = FieldType {
        signed: false,
        bits: 2,
    };

    #[test]
    fn types_are_redis_s() {
        assert_eq!(
            FieldType::parse(b"i64"),
            Ok(FieldType {
                signed: true,
                bits: 64
            })
        );
        for bad in [&b"u64"[..], b"i65", b"i0", b"I8", b"u", b"", b"i08", b"u+3"] {
            assert!(FieldType::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn overflow_modes() {
        assert_eq!(I8.fit(128, Overflow::Wrap), Some(-128));
        assert_eq!(I8.fit(-129, Overflow::Wrap), Some(127));
        assert_eq!(I8.fit(300, Overflow::Sat), Some(127));
        assert_eq!(I8.fit(-300, Overflow::Sat), Some(-128));
        assert_eq!(I8.fit(128, Overflow::Fail), None);
        assert_eq!(U2.fit(5, Overflow::Wrap), Some(1));
        assert_eq!(U2.fit(-1, Overflow::Wrap), Some(3));
        assert_eq!(U2.fit(-1, Overflow::Sat), Some(0));
        assert_eq!(U2.fit(4, Overflow::Sat), Some(3));
    }

    #[test]
    fn fields_cross_bytes() {
        let mut bytes = [0u8; 3];
        I8.write(&mut bytes, 4, -1);
        assert_eq!(bytes, [0x0f, 0xf0, 0]);
        assert_eq!(I8.read(&bytes, 4), -1);
        assert_eq!(U2.read(&bytes, 3), 1);
        assert_eq!(U2.read(&bytes, 100), 0, "zeros past the end");
    }
}

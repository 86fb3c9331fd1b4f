//! The bitmap commands: SETBIT, GETBIT, BITCOUNT.

use bytes::{Bytes, BytesMut};

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument};
use super::notify::EventClasses;
use super::{DataCall, Outcome, count_reply};
use crate::resp::{Reply, parse_integer};

/// A bit offset of SETBIT or GETBIT: non-negative, its byte within
/// `bulk_bytes_max`.
fn bit_offset(argument: &[u8], bulk_bytes_max: usize) -> Result<u64, Reply> {
    parse_integer(argument)
        .and_then(|offset| u64::try_from(offset).ok())
        .filter(|offset| offset >> 3 < bulk_bytes_max as u64)
        .ok_or_else(|| Reply::error("ERR bit offset is not an integer or out of range"))
}

fn popcount(bytes: &[u8]) -> usize {
    bytes.iter().map(|byte| byte.count_ones() as usize).sum()
}

/// SETBIT key offset value: the bit's old value.
pub(crate) fn setbit(call: &mut DataCall<'_>) -> Outcome {
    let offset = bit_offset(&call.arguments[2], call.limits.bulk_bytes_max)?;
    let bit = parse_integer(&call.arguments[3])
        .filter(|bit| *bit == 0 || *bit == 1)
        .ok_or_else(|| Reply::error("ERR bit is not an integer or out of range"))?;
    let key = call.key();
    let stored = call.get(key)?;
    let (old, deadline) = stored.map_or((Bytes::new(), None), |stored| {
        (stored.value, stored.deadline_ms)
    });
    // `offset` is within the bulk limit, so its byte fits in memory.
    let byte_index = usize::try_from(offset >> 3).unwrap_or(usize::MAX);
    let mut value = BytesMut::from(&old[..]);
    if value.len() <= byte_index {
        value.resize(byte_index + 1, 0);
    }
    let mask = 1u8 << (7 - (offset & 7));
    let previous = i64::from(value[byte_index] & mask != 0);
    if bit == 1 {
        value[byte_index] |= mask;
    } else {
        value[byte_index] &= !mask;
    }
    call.put(key, value.freeze(), deadline)?;
    call.notify(EventClasses::STRING, "setbit", key);
    Ok(Reply::Integer(previous).into())
}

/// GETBIT key offset.
pub(crate) fn getbit(call: &mut DataCall<'_>) -> Outcome {
    let offset = bit_offset(&call.arguments[2], call.limits.bulk_bytes_max)?;
    let key = call.key();
    let value = call.value(key)?.unwrap_or_default();
    let byte = usize::try_from(offset >> 3)
        .ok()
        .and_then(|index| value.get(index).copied())
        .unwrap_or(0);
    Ok(Reply::Integer(i64::from((byte >> (7 - (offset & 7))) & 1)).into())
}

/// BITCOUNT's range: start, end, and whether they count bits.
type BitRange = Option<(i64, i64, bool)>;

fn parse_bit_range(range: &[Bytes]) -> Result<BitRange, Reply> {
    match range {
        [] => Ok(None),
        [start, end] | [start, end, _] => {
            let start = integer_argument(start)?;
            let end = integer_argument(end)?;
            let in_bits = match range.get(2) {
                None => false,
                Some(unit) if unit.eq_ignore_ascii_case(b"BIT") => true,
                Some(unit) if unit.eq_ignore_ascii_case(b"BYTE") => false,
                Some(_) => return Err(Reply::error(SYNTAX_ERROR_TEXT)),
            };
            Ok(Some((start, end, in_bits)))
        }
        _ => Err(Reply::error(SYNTAX_ERROR_TEXT)),
    }
}

/// BITCOUNT key [start end [BYTE | BIT]].
pub(crate) fn bitcount(call: &mut DataCall<'_>) -> Outcome {
    let bounds = match parse_bit_range(&call.arguments[2..]) {
        Ok(bounds) => bounds,
        Err(reply) => return Ok(reply.into()),
    };
    let key = call.key();
    let Some(value) = call.value(key)? else {
        return Ok(Reply::Integer(0).into());
    };
    let Some((start, end, in_bits)) = bounds else {
        return Ok(count_reply(popcount(&value)).into());
    };
    Ok(count_reply(count_in_range(&value, start, end, in_bits)).into())
}

/// The set bits of `value` from `start` to `end` (inclusive, negative
/// from the end), in bytes or bits.
fn count_in_range(value: &[u8], start: i64, end: i64, in_bits: bool) -> usize {
    if start < 0 && end < 0 && start > end {
        return 0;
    }
    let total = i64::try_from(value.len()).unwrap_or(i64::MAX);
    let total = if in_bits {
        total.saturating_mul(8)
    } else {
        total
    };
    let from_end = |index: i64| if index < 0 { total + index } else { index };
    let start = from_end(start).max(0);
    let end = from_end(end).max(0).min(total - 1);
    if start > end {
        return 0;
    }
    // Both are within the string here.
    let (start, end) = (
        usize::try_from(start).unwrap_or(0),
        usize::try_from(end).unwrap_or(0),
    );
    if !in_bits {
        return popcount(&value[start..=end]);
    }
    let (first_byte, last_byte) = (start >> 3, end >> 3);
    let count = popcount(&value[first_byte..=last_byte]);
    // Take off the bits of the edge bytes outside the range (a shift by 8
    // keeps nothing).
    let shifted = |bits: usize| 0xffu8.checked_shr(u32::try_from(bits).unwrap_or(8));
    let before = value[first_byte] & !shifted(start & 7).unwrap_or(0);
    let after = value[last_byte] & shifted((end & 7) + 1).unwrap_or(0);
    count - popcount(&[before, after])
}

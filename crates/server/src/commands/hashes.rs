//! The hash commands: HSET, HMSET, HSETNX, HGET, HMGET, HDEL, HEXISTS,
//! HLEN, HSTRLEN, HKEYS, HVALS, HGETALL, HINCRBY, HINCRBYFLOAT,
//! HRANDFIELD, HSCAN. A field is an element under `MEMBER_TAG`, its
//! value the element's value.

use bytes::Bytes;

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument, parse_float};
use super::collection::Collection;
use super::element_scan::{member_at, members_at, pick_positions, scan_members};
use super::encoding::{Kind, MEMBER_TAG};
use super::notify::EventClasses;
use super::table::wrong_arity;
use super::{CommandId, DataCall, Failure, Outcome, count_reply};
use crate::resp::{ProtocolVersion, Reply, format_human_double, parse_integer};

/// The hash at the command's key, if any (WRONGTYPE for another type).
fn hash(call: &mut DataCall<'_>) -> Result<Option<Collection>, Failure> {
    let key = call.key();
    call.collection(key, Kind::Hash)
}

/// Sets `field` to `value`; whether the field is new.
pub(crate) fn set_field(
    call: &mut DataCall<'_>,
    hash: &mut Collection,
    field: &[u8],
    value: Bytes,
) -> Result<bool, Failure> {
    let is_new = hash.get(call.store, MEMBER_TAG, field)?.is_none();
    hash.put(call.store, MEMBER_TAG, field, value)?;
    hash.header.count += u64::from(is_new);
    Ok(is_new)
}

/// HSET key field value [field value …], HMSET (replies OK).
pub(crate) fn hset(call: &mut DataCall<'_>) -> Outcome {
    if !call.arguments.len().is_multiple_of(2) {
        return Ok(wrong_arity(call.spec).into());
    }
    let key = call.key();
    let mut hash = call.collection_or_new(key, Kind::Hash)?;
    let mut added = 0;
    for index in (2..call.arguments.len()).step_by(2) {
        let field = call.arguments[index].clone();
        let value = call.owned_argument(index + 1);
        added += usize::from(set_field(call, &mut hash, &field, value)?);
    }
    call.save_notify(&hash, true, EventClasses::HASH, "hset")?;
    Ok(match call.id() {
        CommandId::Hmset => Reply::ok(),
        _ => count_reply(added),
    }
    .into())
}

/// HSETNX key field value.
pub(crate) fn hsetnx(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let mut hash = call.collection_or_new(key, Kind::Hash)?;
    let field = call.arguments[2].clone();
    if hash.get(call.store, MEMBER_TAG, &field)?.is_some() {
        return Ok(Reply::Integer(0).into());
    }
    let value = call.owned_argument(3);
    set_field(call, &mut hash, &field, value)?;
    call.save_notify(&hash, true, EventClasses::HASH, "hset")?;
    Ok(Reply::Integer(1).into())
}

/// The value of `field` of the command's hash.
fn field_value(call: &mut DataCall<'_>, field: &[u8]) -> Result<Option<Bytes>, Failure> {
    match hash(call)? {
        None => Ok(None),
        Some(hash) => Ok(hash.get(call.store, MEMBER_TAG, field)?),
    }
}

/// HGET key field.
pub(crate) fn hget(call: &mut DataCall<'_>) -> Outcome {
    let field = call.arguments[2].clone();
    Ok(Reply::from(field_value(call, &field)?).into())
}

/// HMGET key field [field …].
pub(crate) fn hmget(call: &mut DataCall<'_>) -> Outcome {
    let hash = hash(call)?;
    let mut values = Vec::with_capacity(call.arguments.len() - 2);
    for field in &call.arguments[2..] {
        let value = match &hash {
            None => None,
            Some(hash) => hash.get(call.store, MEMBER_TAG, field)?,
        };
        values.push(Reply::from(value));
    }
    Ok(Reply::Array(values).into())
}

/// HDEL key field [field …].
pub(crate) fn hdel(call: &mut DataCall<'_>) -> Outcome {
    let Some(mut hash) = hash(call)? else {
        return Ok(Reply::Integer(0).into());
    };
    let mut removed = 0;
    for field in &call.arguments[2..] {
        if hash.get(call.store, MEMBER_TAG, field)?.is_some() {
            hash.remove(call.store, MEMBER_TAG, field)?;
            hash.header.count -= 1;
            removed += 1;
        }
    }
    call.save_notify(&hash, removed > 0, EventClasses::HASH, "hdel")?;
    Ok(count_reply(removed).into())
}

/// HEXISTS key field.
pub(crate) fn hexists(call: &mut DataCall<'_>) -> Outcome {
    let field = call.arguments[2].clone();
    Ok(Reply::Integer(i64::from(field_value(call, &field)?.is_some())).into())
}

/// HLEN key.
pub(crate) fn hlen(call: &mut DataCall<'_>) -> Outcome {
    let length = hash(call)?.map_or(0, |hash| hash.len());
    Ok(Reply::Integer(i64::try_from(length).unwrap_or(i64::MAX)).into())
}

/// HSTRLEN key field.
pub(crate) fn hstrlen(call: &mut DataCall<'_>) -> Outcome {
    let field = call.arguments[2].clone();
    Ok(count_reply(field_value(call, &field)?.map_or(0, |value| value.len())).into())
}

/// HGETALL key (a map in RESP3), HKEYS key, HVALS key.
pub(crate) fn hgetall(call: &mut DataCall<'_>) -> Outcome {
    let fields = match hash(call)? {
        None => Vec::new(),
        Some(hash) => hash.all(call.store, MEMBER_TAG)?,
    };
    Ok(match call.id() {
        CommandId::Hkeys => Reply::Array(fields.into_iter().map(|(f, _)| Reply::Bulk(f)).collect()),
        CommandId::Hvals => Reply::Array(fields.into_iter().map(|(_, v)| Reply::Bulk(v)).collect()),
        _ => Reply::Map(
            fields
                .into_iter()
                .map(|(field, value)| (Reply::Bulk(field), Reply::Bulk(value)))
                .collect(),
        ),
    }
    .into())
}

/// Writes `value` to the command's `field`, creating the hash if needed,
/// and fires `event`.
fn store_field(
    call: &mut DataCall<'_>,
    field: &[u8],
    value: Bytes,
    event: &'static str,
) -> Result<(), Failure> {
    let key = call.key();
    let mut hash = call.collection_or_new(key, Kind::Hash)?;
    set_field(call, &mut hash, field, value)?;
    call.save_notify(&hash, true, EventClasses::HASH, event)
}

/// HINCRBY key field increment.
pub(crate) fn hincrby(call: &mut DataCall<'_>) -> Outcome {
    let step = integer_argument(&call.arguments[3])?;
    let field = call.arguments[2].clone();
    let current = match field_value(call, &field)? {
        None => 0,
        Some(value) => {
            parse_integer(&value).ok_or_else(|| Reply::error("ERR hash value is not an integer"))?
        }
    };
    let next = current
        .checked_add(step)
        .ok_or_else(|| Reply::error("ERR increment or decrement would overflow"))?;
    store_field(call, &field, Bytes::from(next.to_string()), "hincrby")?;
    Ok(Reply::Integer(next).into())
}

/// HINCRBYFLOAT key field increment.
pub(crate) fn hincrbyfloat(call: &mut DataCall<'_>) -> Outcome {
    let step = parse_float(&call.arguments[3])
        .ok_or_else(|| Reply::error("ERR value is not a valid float"))?;
    if step.is_infinite() {
        return Ok(Reply::error("ERR value is NaN or Infinity").into());
    }
    let field = call.arguments[2].clone();
    let current = match field_value(call, &field)? {
        None => 0.0,
        Some(value) => {
            parse_float(&value).ok_or_else(|| Reply::error("ERR hash value is not a float"))?
        }
    };
    let next = current + step;
    if !next.is_finite() {
        return Ok(Reply::error("ERR increment would produce NaN or Infinity").into());
    }
    let text = format_human_double(next);
    store_field(call, &field, Bytes::from(text.clone()), "hincrbyfloat")?;
    Ok(Reply::bulk(text).into())
}

/// HRANDFIELD key [count [WITHVALUES]].
pub(crate) fn hrandfield(call: &mut DataCall<'_>) -> Outcome {
    let arguments = call.arguments;
    let with_values = match arguments.get(3) {
        None => false,
        Some(option) if option.eq_ignore_ascii_case(b"WITHVALUES") && arguments.len() == 4 => true,
        Some(_) => return Ok(Reply::error(SYNTAX_ERROR_TEXT).into()),
    };
    let count = match arguments.get(2) {
        None => None,
        Some(count) => Some(random_count(integer_argument(count)?, with_values)?),
    };
    let hash = hash(call)?;
    let Some(count) = count else {
        let Some(hash) = hash else {
            return Ok(Reply::NullBulk.into());
        };
        let position = rand::random_range(0..hash.len());
        let picked = member_at(call.store, &hash, position)?;
        return Ok(Reply::from(picked.map(|(field, _)| field)).into());
    };
    let Some(hash) = hash else {
        return Ok(Reply::Array(Vec::new()).into());
    };
    let picked = members_at(call.store, &hash, &pick_positions(hash.len(), count))?;
    Ok(pairs_reply(picked, with_values, call.protocol).into())
}

/// A random-pick count, refused where Redis refuses it (a count whose
/// doubled reply length would overflow).
pub fn random_count(count: i64, with_values: bool) -> Result<i64, Reply> {
    if with_values && count.unsigned_abs() > (i64::MAX / 2) as u64 {
        return Err(Reply::error("ERR value is out of range"));
    }
    if count == i64::MIN {
        return Err(Reply::error("ERR value is out of range"));
    }
    Ok(count)
}

/// Picked members with their values: flat in RESP2, pairs in RESP3.
pub fn pairs_reply(
    pairs: Vec<(Bytes, Bytes)>,
    with_values: bool,
    protocol: ProtocolVersion,
) -> Reply {
    pairs_reply_with(pairs, with_values, protocol, Reply::Bulk)
}

/// [`pairs_reply`] with the values shown by `value_of`.
pub fn pairs_reply_with(
    pairs: Vec<(Bytes, Bytes)>,
    with_values: bool,
    protocol: ProtocolVersion,
    value_of: impl Fn(Bytes) -> Reply,
) -> Reply {
    if !with_values {
        return Reply::Array(
            pairs
                .into_iter()
                .map(|(member, _)| Reply::Bulk(member))
                .collect(),
        );
    }
    if protocol == ProtocolVersion::Resp3 {
        return Reply::Array(
            pairs
                .into_iter()
                .map(|(member, value)| Reply::Array(vec![Reply::Bulk(member), value_of(value)]))
                .collect(),
        );
    }
    let mut flat = Vec::with_capacity(pairs.len() * 2);
    for (member, value) in pairs {
        flat.push(Reply::Bulk(member));
        flat.push(value_of(value));
    }
    Reply::Array(flat)
}

/// HSCAN key cursor [MATCH pattern] [COUNT count].
pub(crate) fn hscan(call: &mut DataCall<'_>) -> Outcome {
    scan_members(call, Kind::Hash, |value| Some(Reply::Bulk(value.clone())))
}

//! The string commands: GET, SET and its family, MGET, MSET, APPEND,
//! STRLEN, GETRANGE, SETRANGE, LCS.

use bytes::{Bytes, BytesMut};

use super::arguments::{
    Expiry, SYNTAX_ERROR_TEXT, SetCondition, check_string_length, integer_argument, parse_getex,
    parse_offset, parse_set, parse_setex, substring_range,
};
use super::collection::{KeyEntry, wrong_type};
use super::lcs::{longest_common_subsequence, table_bytes};
use super::notify::EventClasses;
use super::table::wrong_arity;
use super::{CommandId, DataCall, Failure, Outcome, count_reply};
use crate::resp::Reply;

/// GET key: the value read in place and encoded straight into the output.
pub(crate) fn get(call: &mut DataCall<'_>) -> Outcome {
    // Borrowed, not cloned (a reference count taken and dropped).
    let arguments = call.arguments;
    call.reply_value(&arguments[1])
}

/// SET key value [NX | XX] [GET] [EX | PX | EXAT | PXAT | KEEPTTL].
pub(crate) fn set(call: &mut DataCall<'_>) -> Outcome {
    let set = parse_set(call.arguments, call.now_ms())?;
    let key = call.key();
    // A plain SET is a blind write: reading the old value would only add
    // a read that concurrent SETs of the key conflict with.
    let needs_old =
        set.return_old || set.condition != SetCondition::Always || set.expiry == Expiry::Keep;
    // SET … GET wants a string; NX, XX and KEEPTTL take any type.
    let old = if needs_old { call.entry(key)? } else { None };
    if set.return_old && matches!(old, Some(KeyEntry::Collection(_))) {
        return Err(wrong_type());
    }
    let allowed = match set.condition {
        SetCondition::Always => true,
        SetCondition::IfAbsent => old.is_none(),
        SetCondition::IfPresent => old.is_some(),
    };
    if allowed {
        let deadline = match set.expiry {
            Expiry::Remove => None,
            Expiry::Keep => old.as_ref().and_then(KeyEntry::deadline_ms),
            Expiry::At(deadline) => Some(deadline),
        };
        let value = call.owned_argument(2);
        call.put(key, value, deadline)?;
        call.notify(EventClasses::STRING, "set", key);
        if matches!(set.expiry, Expiry::At(_)) {
            call.notify(EventClasses::GENERIC, "expire", key);
        }
    }
    let old = match old {
        Some(KeyEntry::String(stored)) => Some(stored.value),
        _ => None,
    };
    match (set.return_old, allowed) {
        (true, _) => Ok(Reply::from(old).into()),
        (false, true) => call.reply_ok(),
        (false, false) => Ok(Reply::NullBulk.into()),
    }
}

/// SETNX key value.
pub(crate) fn setnx(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    if call.stored(key)?.is_some() {
        return Ok(Reply::Integer(0).into());
    }
    let value = call.owned_argument(2);
    call.put(key, value, None)?;
    call.notify(EventClasses::STRING, "set", key);
    Ok(Reply::Integer(1).into())
}

/// SETEX key seconds value, PSETEX key milliseconds value.
pub(crate) fn setex(call: &mut DataCall<'_>) -> Outcome {
    let name = call.spec.name;
    let deadline = parse_setex(name, &call.arguments[2], call.now_ms())?;
    let key = call.key();
    let value = call.owned_argument(3);
    call.put(key, value, Some(deadline))?;
    call.notify(EventClasses::STRING, "set", key);
    call.notify(EventClasses::GENERIC, "expire", key);
    Ok(Reply::ok().into())
}

/// GETSET key value.
pub(crate) fn getset(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let old = call.value(key)?;
    let value = call.owned_argument(2);
    call.put(key, value, None)?;
    call.notify(EventClasses::STRING, "set", key);
    Ok(Reply::from(old).into())
}

/// GETDEL key.
pub(crate) fn getdel(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let old = call.value(key)?;
    if old.is_some() {
        call.delete(key)?;
        call.notify(EventClasses::GENERIC, "del", key);
    }
    Ok(Reply::from(old).into())
}

/// GETEX key [EX | PX | EXAT | PXAT | PERSIST].
pub(crate) fn getex(call: &mut DataCall<'_>) -> Outcome {
    let expiry = parse_getex(call.arguments, call.now_ms());
    let key = call.key();
    let Some(stored) = call.get(key)? else {
        // Redis checks the options' syntax, then looks the key up, and
        // only then the time.
        return match expiry {
            Err(reply) if reply == Reply::error(SYNTAX_ERROR_TEXT) => Err(reply.into()),
            _ => Ok(Reply::NullBulk.into()),
        };
    };
    match expiry? {
        Expiry::Keep => {}
        Expiry::Remove => {
            if stored.deadline_ms.is_some() {
                call.put(key, stored.value.clone(), None)?;
                call.notify(EventClasses::GENERIC, "persist", key);
            }
        }
        Expiry::At(deadline) => {
            call.put(key, stored.value.clone(), Some(deadline))?;
            let event = if deadline <= call.now_ms() {
                "del"
            } else {
                "expire"
            };
            call.notify(EventClasses::GENERIC, event, key);
        }
    }
    Ok(Reply::Bulk(stored.value).into())
}

/// MGET key [key …]: nil for a key of another type, as Redis.
pub(crate) fn mget(call: &mut DataCall<'_>) -> Outcome {
    let mut values = Vec::with_capacity(call.arguments.len() - 1);
    for index in 1..call.arguments.len() {
        let key = call.arguments[index].clone();
        values.push(match call.value(&key) {
            Err(Failure::Reply(_)) => Reply::NullBulk,
            value => value?.into(),
        });
    }
    Ok(Reply::Array(values).into())
}

/// MSET key value [key value …], MSETNX (nothing if any key exists).
pub(crate) fn mset(call: &mut DataCall<'_>) -> Outcome {
    let arguments = call.arguments;
    if arguments.len().is_multiple_of(2) {
        return Ok(wrong_arity(call.spec).into());
    }
    let only_if_none = call.id() == CommandId::Msetnx;
    if only_if_none {
        for pair in arguments[1..].chunks(2) {
            if call.stored(&pair[0])?.is_some() {
                return Ok(Reply::Integer(0).into());
            }
        }
    }
    for pair in arguments[1..].chunks(2) {
        // Kept as `DataCall::owned_argument` keeps an argument.
        call.put(&pair[0], crate::resp::detached_argument(&pair[1]), None)?;
        call.notify(EventClasses::STRING, "set", &pair[0]);
    }
    Ok(if only_if_none {
        Reply::Integer(1)
    } else {
        Reply::ok()
    }
    .into())
}

/// APPEND key value.
pub(crate) fn append(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let piece = call.arguments[2].clone();
    let stored = call.get(key)?;
    let (old, deadline) = stored.map_or((Bytes::new(), None), |stored| {
        (stored.value, stored.deadline_ms)
    });
    let total = old.len() as u64 + piece.len() as u64;
    check_string_length(total, call.limits.bulk_bytes_max)?;
    let mut value = BytesMut::with_capacity(old.len() + piece.len());
    value.extend_from_slice(&old);
    value.extend_from_slice(&piece);
    call.put(key, value.freeze(), deadline)?;
    call.notify(EventClasses::STRING, "append", key);
    Ok(Reply::Integer(i64::try_from(total).unwrap_or(i64::MAX)).into())
}

/// STRLEN key.
pub(crate) fn strlen(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    Ok(count_reply(call.value(key)?.map_or(0, |value| value.len())).into())
}

/// GETRANGE key start end (and SUBSTR, its old name).
pub(crate) fn getrange(call: &mut DataCall<'_>) -> Outcome {
    let start = integer_argument(&call.arguments[2])?;
    let end = integer_argument(&call.arguments[3])?;
    let key = call.key();
    let value = call.value(key)?.unwrap_or_default();
    Ok(Reply::Bulk(value.slice(substring_range(value.len(), start, end))).into())
}

/// SETRANGE key offset value.
pub(crate) fn setrange(call: &mut DataCall<'_>) -> Outcome {
    let offset = parse_offset(&call.arguments[2])?;
    let piece = call.arguments[3].clone();
    let key = call.key();
    let stored = call.get(key)?;
    if piece.is_empty() {
        // Nothing to write: the length as it is, and no key created.
        return Ok(count_reply(stored.map_or(0, |stored| stored.value.len())).into());
    }
    let end = offset.saturating_add(piece.len() as u64);
    check_string_length(end, call.limits.bulk_bytes_max)?;
    let (old, deadline) = stored.map_or((Bytes::new(), None), |stored| {
        (stored.value, stored.deadline_ms)
    });
    // `end` is within the bulk limit, so these fit in memory's index.
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let end = usize::try_from(end).unwrap_or(usize::MAX);
    let mut value = BytesMut::from(&old[..]);
    if value.len() < end {
        value.resize(end, 0);
    }
    value[offset..end].copy_from_slice(&piece);
    let length = value.len();
    call.put(key, value.freeze(), deadline)?;
    call.notify(EventClasses::STRING, "setrange", key);
    Ok(count_reply(length).into())
}

/// LCS's options.
#[derive(Default)]
struct LcsOptions {
    length_only: bool,
    indexes: bool,
    with_match_length: bool,
    min_match_length: usize,
}

fn parse_lcs(options: &[Bytes]) -> Result<LcsOptions, Reply> {
    let mut parsed = LcsOptions::default();
    let mut index = 0;
    while index < options.len() {
        let option = &options[index];
        if option.eq_ignore_ascii_case(b"IDX") {
            parsed.indexes = true;
        } else if option.eq_ignore_ascii_case(b"LEN") {
            parsed.length_only = true;
        } else if option.eq_ignore_ascii_case(b"WITHMATCHLEN") {
            parsed.with_match_length = true;
        } else if option.eq_ignore_ascii_case(b"MINMATCHLEN") && index + 1 < options.len() {
            let minimum = integer_argument(&options[index + 1])?;
            parsed.min_match_length = usize::try_from(minimum.max(0)).unwrap_or(usize::MAX);
            index += 1;
        } else {
            return Err(Reply::error(SYNTAX_ERROR_TEXT));
        }
        index += 1;
    }
    Ok(parsed)
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN].
pub(crate) fn lcs(call: &mut DataCall<'_>) -> Outcome {
    let options = match parse_lcs(&call.arguments[3..]) {
        Ok(options) => options,
        Err(reply) => return Ok(reply.into()),
    };
    let (first, second) = (call.arguments[1].clone(), call.arguments[2].clone());
    let a = call.value(&first)?.unwrap_or_default();
    let b = call.value(&second)?.unwrap_or_default();
    if options.length_only && options.indexes {
        return Ok(Reply::error(
            "ERR If you want both the length and indexes, please just use IDX.",
        )
        .into());
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Ok(Reply::error("ERR String too long for LCS").into());
    }
    if table_bytes(a.len(), b.len()).is_none_or(|bytes| bytes > call.limits.bulk_bytes_max) {
        return Ok(Reply::error(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        )
        .into());
    }
    let lcs = longest_common_subsequence(
        &a,
        &b,
        options.min_match_length,
        options.indexes || !options.length_only,
    );
    let length = count_reply(lcs.length);
    if options.indexes {
        let matches = lcs
            .matches
            .iter()
            .map(|found| {
                let mut entry = vec![
                    Reply::Array(vec![count_reply(found.first.0), count_reply(found.first.1)]),
                    Reply::Array(vec![
                        count_reply(found.second.0),
                        count_reply(found.second.1),
                    ]),
                ];
                if options.with_match_length {
                    entry.push(count_reply(found.length));
                }
                Reply::Array(entry)
            })
            .collect();
        return Ok(Reply::Map(vec![
            (Reply::bulk("matches"), Reply::Array(matches)),
            (Reply::bulk("len"), length),
        ])
        .into());
    }
    if options.length_only {
        return Ok(length.into());
    }
    Ok(Reply::Bulk(Bytes::from(lcs.text)).into())
}

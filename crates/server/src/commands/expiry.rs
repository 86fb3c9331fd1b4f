//! Expiry: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, EXPIRETIME,
//! PEXPIRETIME, PERSIST. Time is the store's clock
//! ([`KeyValueStore::now_ms`](super::KeyValueStore::now_ms)).

use super::arguments::{parse_expire, time_to_live};
use super::notify::EventClasses;
use super::{CommandId, DataCall, Outcome, StoredValue};
use crate::resp::Reply;

/// EXPIRE key seconds [NX | XX | GT | LT] and its three siblings.
pub(crate) fn expire(call: &mut DataCall<'_>) -> Outcome {
    let expire = parse_expire(call.spec.name, call.arguments, call.now_ms())?;
    let key = call.key();
    let Some(stored) = call.stored(key)? else {
        return Ok(Reply::Integer(0).into());
    };
    if !expire
        .condition
        .allows(stored.deadline_ms, expire.deadline_ms)
    {
        return Ok(Reply::Integer(0).into());
    }
    call.put(key, stored.value, Some(expire.deadline_ms))?;
    // A deadline already passed deletes the key, as Redis does.
    let event = if expire.deadline_ms <= call.now_ms() {
        "del"
    } else {
        "expire"
    };
    call.notify(EventClasses::GENERIC, event, key);
    Ok(Reply::Integer(1).into())
}

/// TTL key, PTTL key: -2 without the key, -1 without a deadline.
pub(crate) fn ttl(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let now_ms = call.now_ms();
    let in_milliseconds = call.id() == CommandId::Pttl;
    Ok(Reply::Integer(match call.stored(key)? {
        None => -2,
        Some(stored) => time_to_live(stored.deadline_ms, now_ms, in_milliseconds),
    })
    .into())
}

/// EXPIRETIME key, PEXPIRETIME key (Redis rounds the seconds as TTL's).
pub(crate) fn expiretime(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let in_milliseconds = call.id() == CommandId::Pexpiretime;
    Ok(Reply::Integer(match call.stored(key)? {
        None => -2,
        Some(stored) => time_to_live(stored.deadline_ms, 0, in_milliseconds),
    })
    .into())
}

/// PERSIST key.
pub(crate) fn persist(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    match call.stored(key)? {
        Some(StoredValue {
            value,
            deadline_ms: Some(_),
        }) => {
            call.put(key, value, None)?;
            call.notify(EventClasses::GENERIC, "persist", key);
            Ok(Reply::Integer(1).into())
        }
        _ => Ok(Reply::Integer(0).into()),
    }
}

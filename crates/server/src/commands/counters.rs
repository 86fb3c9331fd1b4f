//! The counters: INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT.

use bytes::Bytes;

use super::arguments::{increment, increment_float, integer_argument, negate_decrement};
use super::notify::EventClasses;
use super::{CommandId, DataCall, Outcome};
use crate::resp::Reply;

/// INCR key, DECR key, INCRBY key step, DECRBY key step: the new value,
/// the key's deadline kept.
pub(crate) fn increment_by(call: &mut DataCall<'_>) -> Outcome {
    let step = match call.arguments.get(2) {
        Some(step) => integer_argument(step)?,
        None => 1,
    };
    let step = match call.id() {
        CommandId::Decr | CommandId::Decrby => negate_decrement(step)?,
        _ => step,
    };
    let key = call.key();
    let stored = call.get(key)?;
    let next = increment(stored.as_ref().map(|stored| &stored.value[..]), step)?;
    let deadline = stored.and_then(|stored| stored.deadline_ms);
    let mut text = Vec::with_capacity(20);
    crate::resp::push_decimal(&mut text, next);
    call.put(key, Bytes::from(text), deadline)?;
    call.notify(EventClasses::STRING, "incrby", key);
    Ok(Reply::Integer(next).into())
}

/// INCRBYFLOAT key increment: the new value as Redis prints it.
pub(crate) fn increment_float_by(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let stored = call.get(key)?;
    let (_, text) = increment_float(
        stored.as_ref().map(|stored| &stored.value[..]),
        &call.arguments[2],
    )?;
    let deadline = stored.and_then(|stored| stored.deadline_ms);
    call.put(key, Bytes::from(text.clone()), deadline)?;
    call.notify(EventClasses::STRING, "incrbyfloat", key);
    Ok(Reply::bulk(text).into())
}

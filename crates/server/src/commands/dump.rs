//! DUMP and RESTORE, with Redis 7's replies and errors, over Redis's own
//! payload (`rdb/`), so that keys move between keel and redis-server;
//! RESTORE also reads keel's earlier payload (`dump_payload.rs`). A
//! payload damaged on the way is refused with Redis's error, never half
//! restored. RESTORE's IDLETIME and FREQ are checked and accepted
//! without effect (keel keeps no access times or frequencies).

use bytes::Bytes;

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument};
use super::collection::KeyEntry;
use super::dump_payload::DumpedValue;
use super::encoding::{Kind, MEMBER_TAG};
use super::notify::EventClasses;
use super::rdb::{decode_any, encode};
use super::{DataCall, Failure, Outcome};
use crate::resp::Reply;

/// DUMP key: the payload, or nil without the key.
pub(crate) fn dump(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let value = match call.entry(key)? {
        None => return Ok(Reply::NullBulk.into()),
        Some(KeyEntry::String(stored)) => DumpedValue::String(stored.value),
        Some(KeyEntry::Collection(collection)) => match collection.kind {
            Kind::Hash => DumpedValue::Hash(collection.all(call.store, MEMBER_TAG)?),
            Kind::Set => DumpedValue::Set(
                collection
                    .all(call.store, MEMBER_TAG)?
                    .into_iter()
                    .map(|(member, _)| member)
                    .collect(),
            ),
            Kind::List => DumpedValue::List(super::lists::all_items(call, &collection)?),
            Kind::SortedSet => {
                DumpedValue::SortedSet(super::sorted_sets::all_scored(call, &collection)?)
            }
            Kind::Stream => DumpedValue::Stream(super::stream::raw_elements(call, &collection)?),
        },
    };
    let payload = encode(&value).map_err(|error| Reply::error(format!("ERR {error}")))?;
    Ok(Reply::Bulk(payload).into())
}

/// RESTORE's options.
#[derive(Debug, Default, PartialEq, Eq)]
struct RestoreOptions {
    replace: bool,
    /// ABSTTL: the TTL argument is a Unix time in milliseconds.
    absolute: bool,
}

/// Reads RESTORE's options (`arguments[4..]`) as Redis does: IDLETIME and
/// FREQ checked, then ignored; not both.
fn parse_restore(arguments: &[Bytes]) -> Result<RestoreOptions, Reply> {
    let mut options = RestoreOptions::default();
    let (mut idle, mut frequency) = (false, false);
    let mut index = 4;
    while index < arguments.len() {
        let option = &arguments[index];
        let value = arguments.get(index + 1);
        if option.eq_ignore_ascii_case(b"REPLACE") {
            options.replace = true;
        } else if option.eq_ignore_ascii_case(b"ABSTTL") {
            options.absolute = true;
        } else if option.eq_ignore_ascii_case(b"IDLETIME")
            && let Some(value) = value
            && !frequency
        {
            if integer_argument(value)? < 0 {
                return Err(Reply::error("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = true;
            index += 1;
        } else if option.eq_ignore_ascii_case(b"FREQ")
            && let Some(value) = value
            && !idle
        {
            if !(0..=255).contains(&integer_argument(value)?) {
                return Err(Reply::error(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            frequency = true;
            index += 1;
        } else {
            return Err(Reply::error(SYNTAX_ERROR_TEXT));
        }
        index += 1;
    }
    Ok(options)
}

/// Writes `value` at `key`, which holds nothing.
fn materialize(call: &mut DataCall<'_>, key: &[u8], value: DumpedValue) -> Result<(), Failure> {
    let kind = match &value {
        DumpedValue::String(bytes) => return call.put(key, bytes.clone(), None),
        DumpedValue::Hash(_) => Kind::Hash,
        DumpedValue::Set(_) => Kind::Set,
        DumpedValue::List(_) => Kind::List,
        DumpedValue::SortedSet(_) => Kind::SortedSet,
        DumpedValue::Stream(_) => Kind::Stream,
    };
    if let DumpedValue::Stream(elements) = value {
        return super::stream::restore(call, key, elements);
    }
    let mut collection = call.new_collection(key, kind)?;
    match value {
        DumpedValue::String(_) | DumpedValue::Stream(_) => {}
        DumpedValue::Hash(pairs) => {
            for (field, value) in pairs {
                super::hashes::set_field(call, &mut collection, &field, value)?;
            }
        }
        DumpedValue::Set(members) => {
            for member in members {
                super::sets::add(call, &mut collection, &member)?;
            }
        }
        DumpedValue::List(items) => {
            for item in items {
                super::lists::push_right(call, &mut collection, item)?;
            }
        }
        DumpedValue::SortedSet(members) => {
            for (member, score) in members {
                let old = super::sorted_sets::score_of(call, &collection, &member)?;
                super::sorted_sets::set_score(call, &mut collection, &member, old, score)?;
            }
        }
    }
    call.save(&collection)
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds]
/// [FREQ frequency].
pub(crate) fn restore(call: &mut DataCall<'_>) -> Outcome {
    let options = parse_restore(call.arguments)?;
    let ttl = integer_argument(&call.arguments[2])?;
    if ttl < 0 {
        return Ok(Reply::error("ERR Invalid TTL value, must be >= 0").into());
    }
    let key = call.key();
    if !options.replace && call.stored(key)?.is_some() {
        return Ok(Reply::error("BUSYKEY Target key name already exists.").into());
    }
    let value = decode_any(&call.arguments[3]).map_err(|error| Reply::error(error.redis_text()))?;
    let now_ms = call.now_ms();
    let deadline_ms = match (ttl, options.absolute) {
        (0, _) => None,
        (at, true) => Some(at),
        (ttl, false) => Some(now_ms.saturating_add(ttl)),
    };
    let replaced = options.replace && call.delete(key)?;
    if deadline_ms.is_some_and(|deadline| deadline <= now_ms) {
        // Already expired: nothing is written, as Redis does.
        if replaced {
            call.notify(EventClasses::GENERIC, "del", key);
        }
        return call.reply_ok();
    }
    materialize(call, key, value)?;
    if let Some(deadline) = deadline_ms
        && let Some(stored) = call.stored(key)?
    {
        call.put(key, stored.value, Some(deadline))?;
    }
    call.notify(EventClasses::GENERIC, "restore", key);
    call.reply_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(text: &str) -> Vec<Bytes> {
        text.split(' ')
            .map(|part| Bytes::copy_from_slice(part.as_bytes()))
            .collect()
    }

    #[test]
    fn restore_options_are_checked_as_redis_checks_them() {
        assert_eq!(
            parse_restore(&arguments("RESTORE k 0 p REPLACE ABSTTL IDLETIME 5")),
            Ok(RestoreOptions {
                replace: true,
                absolute: true
            })
        );
        assert!(parse_restore(&arguments("RESTORE k 0 p FREQ 255")).is_ok());
        let refused = [
            ("RESTORE k 0 p invalid-option", SYNTAX_ERROR_TEXT),
            ("RESTORE k 0 p IDLETIME 1 FREQ 1", SYNTAX_ERROR_TEXT),
            ("RESTORE k 0 p IDLETIME", SYNTAX_ERROR_TEXT),
            (
                "RESTORE k 0 p IDLETIME -1",
                "ERR Invalid IDLETIME value, must be >= 0",
            ),
            (
                "RESTORE k 0 p FREQ 256",
                "ERR Invalid FREQ value, must be >= 0 and <= 255",
            ),
        ];
        for (text, error) in refused {
            assert_eq!(
                parse_restore(&arguments(text)),
                Err(Reply::error(error)),
                "{text}"
            );
        }
    }
}

//! The keyspace commands: DEL, UNLINK, EXISTS, TOUCH, TYPE, RENAME,
//! RENAMENX, KEYS, SCAN, DBSIZE, FLUSHDB, FLUSHALL, RANDOMKEY, COPY,
//! MOVE, SWAPDB, OBJECT and MEMORY USAGE.

use bytes::Bytes;

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument, parse_scan};
use super::collection::KeyEntry;
use super::glob::GlobPattern;
use super::notify::EventClasses;
use super::object_info::{Encoding, memory_usage};
use super::scan::{scan_batch, scan_start_key};
use super::{CommandId, DataCall, KEYS_BATCH_MAX, Outcome, count_reply};
use crate::backend::DatabaseIndex;
use crate::resp::{Reply, parse_integer};

/// Keys RANDOMKEY reads to choose among them uniformly; a database with
/// more picks a point between its first and last key and takes the next.
pub const RANDOMKEY_UNIFORM_KEYS_MAX: usize = 1024;

/// Keys SCAN reads from the store per batch.
const SCAN_BATCH_KEYS: usize = 256;

const OUT_OF_RANGE_TEXT: &str = "ERR DB index is out of range";
const SAME_OBJECT_TEXT: &str = "ERR source and destination objects are the same";

/// DEL key [key …], UNLINK key [key …].
pub(crate) fn del(call: &mut DataCall<'_>) -> Outcome {
    let mut deleted = 0;
    for index in 1..call.arguments.len() {
        let key = call.arguments[index].clone();
        if call.delete(&key)? {
            deleted += 1;
            call.notify(EventClasses::GENERIC, "del", &key);
        }
    }
    Ok(count_reply(deleted).into())
}

/// EXISTS key [key …], TOUCH key [key …] (keel keeps no access times).
pub(crate) fn exists(call: &mut DataCall<'_>) -> Outcome {
    let mut found = 0;
    for index in 1..call.arguments.len() {
        let key = call.arguments[index].clone();
        found += usize::from(call.stored(&key)?.is_some());
    }
    Ok(count_reply(found).into())
}

/// TYPE key.
pub(crate) fn type_of(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let name = call.entry(key)?.map_or("none", |entry| entry.type_name());
    Ok(Reply::Simple(name.to_owned()).into())
}

/// RENAME key newkey, RENAMENX key newkey.
pub(crate) fn rename(call: &mut DataCall<'_>) -> Outcome {
    let only_if_new = call.id() == CommandId::Renamenx;
    let (source, target) = (call.arguments[1].clone(), call.arguments[2].clone());
    let Some(entry) = call.entry(&source)? else {
        return Ok(Reply::error("ERR no such key").into());
    };
    let done = |renamed: bool| match (only_if_new, renamed) {
        (true, renamed) => Reply::Integer(i64::from(renamed)),
        (false, _) => Reply::ok(),
    };
    if source == target {
        return Ok(done(false).into());
    }
    if only_if_new && call.stored(&target)?.is_some() {
        return Ok(Reply::Integer(0).into());
    }
    call.delete(&target)?;
    call.rename_entry(entry, &source, &target)?;
    call.notify(EventClasses::GENERIC, "rename_from", &source);
    call.notify(EventClasses::GENERIC, "rename_to", &target);
    Ok(done(true).into())
}

/// KEYS pattern.
pub(crate) fn keys(call: &mut DataCall<'_>) -> Outcome {
    let pattern = GlobPattern::new(&call.arguments[1], false);
    let mut matched = Vec::new();
    let mut after: Option<Bytes> = None;
    loop {
        let batch = call
            .store
            .keys_after(call.database, after.as_deref(), KEYS_BATCH_MAX)?;
        let done = batch.len() < KEYS_BATCH_MAX;
        after = batch.last().cloned();
        matched.extend(
            batch
                .into_iter()
                .filter(|key| pattern.matches_everything() || pattern.matches(key))
                .map(Reply::Bulk),
        );
        if done || after.is_none() {
            return Ok(Reply::Array(matched).into());
        }
    }
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type], with the cursor
/// of `scan.rs`.
pub(crate) fn scan(call: &mut DataCall<'_>) -> Outcome {
    let scan = parse_scan(call.arguments)?;
    let start = scan_start_key(scan.cursor);
    let (store, database) = (&mut *call.store, call.database);
    let mut pending: std::vec::IntoIter<Bytes> = Vec::new().into_iter();
    let mut next: Option<Bytes> = None;
    let mut exhausted = false;
    let keys = std::iter::from_fn(|| {
        if let Some(key) = pending.next() {
            next = Some(key.clone());
            return Some(Ok(key));
        }
        if exhausted {
            return None;
        }
        let batch = match &next {
            None => store.keys_from(database, &start, SCAN_BATCH_KEYS),
            Some(last) => store.keys_after(database, Some(last), SCAN_BATCH_KEYS),
        };
        match batch {
            Err(error) => Some(Err(error)),
            Ok(batch) => {
                exhausted = batch.len() < SCAN_BATCH_KEYS;
                pending = batch.into_iter();
                let key = pending.next()?;
                next = Some(key.clone());
                Some(Ok(key))
            }
        }
    });
    let mut batch = scan_batch(keys, scan.count, |key| {
        scan.pattern
            .as_ref()
            .is_none_or(|pattern| pattern.matches(key))
    })?;
    if let Some(type_name) = &scan.type_name {
        let mut kept = Vec::with_capacity(batch.keys.len());
        for key in batch.keys {
            let entry = call.entry(&key)?;
            if entry
                .is_some_and(|entry| type_name.eq_ignore_ascii_case(entry.type_name().as_bytes()))
            {
                kept.push(key);
            }
        }
        batch.keys = kept;
    }
    let mut cursor = Vec::with_capacity(20);
    crate::resp::push_unsigned_decimal(&mut cursor, batch.next_cursor);
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor)),
        Reply::Array(batch.keys.into_iter().map(Reply::Bulk).collect()),
    ])
    .into())
}

/// DBSIZE.
pub(crate) fn dbsize(call: &mut DataCall<'_>) -> Outcome {
    let count = call.store.count(call.database)?;
    Ok(Reply::Integer(i64::try_from(count).unwrap_or(i64::MAX)).into())
}

/// FLUSHDB [ASYNC | SYNC], FLUSHALL [ASYNC | SYNC]: the store empties the
/// databases in its transaction either way.
pub(crate) fn flush(call: &mut DataCall<'_>) -> Outcome {
    match &call.arguments[1..] {
        [] => {}
        [mode] if mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC") => {}
        _ => return Ok(Reply::error(SYNTAX_ERROR_TEXT).into()),
    }
    let scope = (call.id() == CommandId::Flushdb).then_some(call.database);
    call.store.flush(scope)?;
    Ok(Reply::ok().into())
}

/// A key's first 8 bytes, zero-padded, as a big-endian number.
fn leading_u64(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let length = key.len().min(8);
    bytes[..length].copy_from_slice(&key[..length]);
    u64::from_be_bytes(bytes)
}

/// RANDOMKEY: uniform among up to [`RANDOMKEY_UNIFORM_KEYS_MAX`] keys;
/// beyond, the key at or after a random point between the first and the
/// last key's leading bytes.
pub(crate) fn randomkey(call: &mut DataCall<'_>) -> Outcome {
    let database = call.database;
    let first = call
        .store
        .keys_after(database, None, RANDOMKEY_UNIFORM_KEYS_MAX + 1)?;
    if first.is_empty() {
        return Ok(Reply::NullBulk.into());
    }
    if first.len() <= RANDOMKEY_UNIFORM_KEYS_MAX {
        let index = rand::random_range(0..first.len());
        return Ok(Reply::Bulk(first[index].clone()).into());
    }
    let last = call
        .store
        .last_key(database)?
        .unwrap_or_else(|| first[first.len() - 1].clone());
    let low = leading_u64(&first[0]);
    let high = leading_u64(&last).max(low);
    let point = rand::random_range(low..=high).to_be_bytes();
    let picked = call.store.keys_from(database, &point, 1)?;
    Ok(Reply::Bulk(
        picked
            .into_iter()
            .next()
            .unwrap_or_else(|| first[0].clone()),
    )
    .into())
}

/// An argument Redis reads as a C `int` (`getIntFromObjectOrReply`).
fn int_argument(argument: &[u8]) -> Result<i32, Reply> {
    let integer = integer_argument(argument)?;
    i32::try_from(integer).map_err(|_| {
        Reply::error("ERR value is out of range, value must between -2147483648 and 2147483647")
    })
}

/// The database index argument of COPY's DB and MOVE (`None`: out of
/// range).
fn database_argument(call: &DataCall<'_>, argument: &[u8]) -> Result<Option<DatabaseIndex>, Reply> {
    let index = int_argument(argument)?;
    Ok(DatabaseIndex::try_from(index)
        .ok()
        .filter(|&index| index < call.store.database_count()))
}

/// COPY's options: the target database (`None`: out of range) and
/// REPLACE.
fn parse_copy(call: &DataCall<'_>) -> Result<(Option<DatabaseIndex>, bool), Reply> {
    let arguments = call.arguments;
    let (mut target, mut replace) = (Some(call.database), false);
    let mut index = 3;
    while index < arguments.len() {
        let option = &arguments[index];
        if option.eq_ignore_ascii_case(b"REPLACE") {
            replace = true;
        } else if option.eq_ignore_ascii_case(b"DB") && index + 1 < arguments.len() {
            target = database_argument(call, &arguments[index + 1])?;
            index += 1;
        } else {
            return Err(Reply::error(SYNTAX_ERROR_TEXT));
        }
        index += 1;
    }
    Ok((target, replace))
}

/// COPY source destination [DB destination-db] [REPLACE].
pub(crate) fn copy(call: &mut DataCall<'_>) -> Outcome {
    let (source, destination) = (call.arguments[1].clone(), call.arguments[2].clone());
    let (target, replace) = match parse_copy(call) {
        Ok(parsed) => parsed,
        Err(reply) => return Ok(reply.into()),
    };
    if target == Some(call.database) && source == destination {
        return Ok(Reply::error(SAME_OBJECT_TEXT).into());
    }
    let Some(target) = target else {
        return Ok(Reply::error(OUT_OF_RANGE_TEXT).into());
    };
    let Some(entry) = call.entry(&source)? else {
        return Ok(Reply::Integer(0).into());
    };
    if call.store.get(target, &destination)?.is_some() {
        if !replace {
            return Ok(Reply::Integer(0).into());
        }
        let selected = std::mem::replace(&mut call.database, target);
        let deleted = call.delete(&destination);
        call.database = selected;
        deleted?;
    }
    call.copy_entry(&entry, target, &destination)?;
    call.notify_in(target, EventClasses::GENERIC, "copy_to", &destination);
    Ok(Reply::Integer(1).into())
}

/// MOVE key db.
pub(crate) fn move_key(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let Some(target) = database_argument(call, &call.arguments[2])? else {
        return Ok(Reply::error(OUT_OF_RANGE_TEXT).into());
    };
    if target == call.database {
        return Ok(Reply::error(SAME_OBJECT_TEXT).into());
    }
    // The value moves as stored: a collection's type record carries its
    // elements along.
    let Some(stored) = call.stored(key)? else {
        return Ok(Reply::Integer(0).into());
    };
    if call.store.get(target, key)?.is_some() {
        return Ok(Reply::Integer(0).into());
    }
    call.store.put(target, key, stored)?;
    call.store.delete(call.database, key)?;
    call.notify(EventClasses::GENERIC, "move_from", key);
    call.notify_in(target, EventClasses::GENERIC, "move_to", key);
    Ok(Reply::Integer(1).into())
}

/// SWAPDB index1 index2: the store swaps them at its commit.
pub(crate) fn swapdb(call: &mut DataCall<'_>) -> Outcome {
    let index =
        |argument: &[u8]| parse_integer(argument).filter(|&index| i32::try_from(index).is_ok());
    let Some(first) = index(&call.arguments[1]) else {
        return Ok(Reply::error("ERR invalid first DB index").into());
    };
    let Some(second) = index(&call.arguments[2]) else {
        return Ok(Reply::error("ERR invalid second DB index").into());
    };
    let databases = call.store.database_count();
    let in_range = |index: i64| {
        DatabaseIndex::try_from(index)
            .ok()
            .filter(|&index| index < databases)
    };
    let (Some(first), Some(second)) = (in_range(first), in_range(second)) else {
        return Ok(Reply::error(OUT_OF_RANGE_TEXT).into());
    };
    if first != second {
        call.store.swap_databases(first, second)?;
    }
    Ok(Reply::ok().into())
}

/// OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT key.
pub(crate) fn object(call: &mut DataCall<'_>) -> Outcome {
    let key = call.arguments[2].clone();
    let (name, reference_count) = match call.entry(&key)? {
        None => return Ok(Reply::NullBulk.into()),
        Some(KeyEntry::String(stored)) => {
            let encoding = Encoding::of(&stored.value);
            (encoding.name(), encoding.reference_count())
        }
        Some(KeyEntry::Collection(collection)) => (collection.shape(call.store)?.encoding(), 1),
    };
    Ok(match call.id() {
        CommandId::ObjectEncoding => Reply::bulk(name),
        CommandId::ObjectRefcount => Reply::Integer(reference_count),
        // keel keeps no access counts, as Redis without an LFU
        // maxmemory-policy.
        CommandId::ObjectFreq => Reply::error(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ),
        // keel does not track access times.
        _ => Reply::Integer(0),
    }.into())
}

/// MEMORY USAGE key [SAMPLES count].
pub(crate) fn memory_usage_of(call: &mut DataCall<'_>) -> Outcome {
    match &call.arguments[3..] {
        [] => {}
        [option, count] if option.eq_ignore_ascii_case(b"SAMPLES") => {
            integer_argument(count)?;
        }
        _ => return Ok(Reply::error(SYNTAX_ERROR_TEXT).into()),
    }
    let key = call.arguments[2].clone();
    Ok(match call.entry(&key)? {
        None => Reply::NullBulk,
        Some(KeyEntry::String(stored)) => Reply::Integer(memory_usage(
            &key,
            &stored.value,
            stored.deadline_ms.is_some(),
        )),
        Some(KeyEntry::Collection(collection)) => {
            Reply::Integer(collection.shape(call.store)?.memory_usage(&key))
        }
    }
    .into())
}

//! Consumer groups: XGROUP CREATE, CREATECONSUMER, DELCONSUMER, DESTROY,
//! SETID; XACK, XPENDING, XCLAIM, XAUTOCLAIM; and a group's read counter
//! and lag as Redis 7.0 keeps them. A group's PEL and each consumer's PEL
//! are elements of the stream (`stream_layout.rs`), changed together
//! through `stream.rs`.

use bytes::Bytes;

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument};
use super::notify::EventClasses;
use super::stream::{Stream, entry_reply};
use super::stream_id::StreamId;
use super::stream_layout::{ENTRIES_READ_UNKNOWN, GroupRecord, Pending};
use super::stream_read::touch_consumer;
use super::{DataCall, Failure, KeyValueStore, Outcome, count_reply};
use crate::resp::Reply;

type Result<T> = std::result::Result<T, Failure>;

fn error(text: &str) -> Reply {
    Reply::error(format!("ERR {text}"))
}

fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// NOGROUP for a missing key or group.
fn no_group(key: &[u8], group: &[u8]) -> Failure {
    Reply::error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        text(key),
        text(group)
    ))
    .into()
}

/// The stream at the key and its group, or NOGROUP.
fn stream_and_group(call: &mut DataCall<'_>, group: &[u8]) -> Result<(Stream, GroupRecord)> {
    let key = call.key();
    let Some(stream) = call.stream(key)? else {
        return Err(no_group(key, group));
    };
    match stream.group(call.store, group)? {
        Some(record) => Ok((stream, record)),
        None => Err(no_group(key, group)),
    }
}

/// Whether an XDEL tombstone may lie in `from..` (Redis's
/// `streamRangeHasTombstones` with no end).
fn has_tombstones_from(stream: &Stream, first: StreamId, from: StreamId) -> bool {
    let deleted = stream.state.max_deleted_id;
    if stream.len() == 0 || deleted.is_zero() || first > deleted {
        return false;
    }
    from <= deleted
}

/// How many entries the stream has had up to `id` (Redis's
/// `streamEstimateDistanceFromFirstEverEntry`), if it can tell.
fn entries_up_to(stream: &Stream, first: StreamId, id: StreamId) -> Option<u64> {
    let state = &stream.state;
    if state.entries_added == 0 {
        return Some(0);
    }
    if stream.len() == 0 && id <= state.last_id {
        return Some(state.entries_added);
    }
    if id == state.last_id {
        return Some(state.entries_added);
    }
    if id > state.last_id {
        return None;
    }
    if state.max_deleted_id.is_zero() || state.max_deleted_id < first {
        if id < first {
            return Some(state.entries_added - stream.len());
        }
        if id == first {
            return Some(state.entries_added - stream.len() + 1);
        }
    }
    None
}

fn entries_read(value: Option<u64>) -> i64 {
    value.map_or(ENTRIES_READ_UNKNOWN, |read| read as i64)
}

/// Moves the group past the entry `id` it is being served, keeping its
/// read counter as Redis does; `first` is the stream's first ID.
pub(crate) fn advance_group(
    stream: &Stream,
    first: StreamId,
    group: &mut GroupRecord,
    id: StreamId,
) {
    if id <= group.last_id {
        return;
    }
    if group.entries_read != ENTRIES_READ_UNKNOWN && !has_tombstones_from(stream, first, id) {
        group.entries_read += 1;
    } else if stream.state.entries_added != 0 {
        group.entries_read = entries_read(entries_up_to(stream, first, id));
    }
    group.last_id = id;
}

/// The group's lag (entries not yet delivered), if it can tell.
pub(crate) fn lag(
    store: &mut dyn KeyValueStore,
    stream: &Stream,
    group: &GroupRecord,
) -> Result<Option<u64>> {
    let added = stream.state.entries_added;
    if added == 0 {
        return Ok(Some(0));
    }
    let first = stream.first_id(store)?;
    if group.entries_read != ENTRIES_READ_UNKNOWN
        && !has_tombstones_from(stream, first, group.last_id)
    {
        return Ok(Some(added.saturating_sub(group.entries_read as u64)));
    }
    Ok(entries_up_to(stream, first, group.last_id).map(|read| added.saturating_sub(read)))
}

/// XGROUP's options after the ID: MKSTREAM (CREATE), ENTRIESREAD.
fn parse_group_options(call: &DataCall<'_>, create: bool) -> Result<(bool, i64)> {
    let mut make_stream = false;
    let mut read = ENTRIES_READ_UNKNOWN;
    let arguments = call.arguments;
    let mut index = 5;
    while index < arguments.len() {
        let option = &arguments[index];
        if create && option.eq_ignore_ascii_case(b"MKSTREAM") {
            make_stream = true;
            index += 1;
        } else if option.eq_ignore_ascii_case(b"ENTRIESREAD") && index + 1 < arguments.len() {
            read = integer_argument(&arguments[index + 1])?;
            if read < 0 && read != ENTRIES_READ_UNKNOWN {
                return Err(error("value for ENTRIESREAD must be positive or -1").into());
            }
            index += 2;
        } else {
            return Err(subcommand_syntax_error(call).into());
        }
    }
    Ok((make_stream, read))
}

/// Redis's `addReplySubcommandSyntaxError`.
fn subcommand_syntax_error(call: &DataCall<'_>) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        text(&call.arguments[1]),
        call.spec.container.unwrap_or("XGROUP").to_ascii_uppercase()
    ))
}

/// XGROUP's error for a missing key.
fn missing_key() -> Failure {
    error(
        "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
    )
    .into()
}

/// The key's stream for XGROUP, or Redis's error for a missing key.
fn group_stream(call: &mut DataCall<'_>) -> Result<Stream> {
    let key = call.arguments[2].clone();
    call.stream(&key)?.ok_or_else(missing_key)
}

/// The group XGROUP names, or NOGROUP.
fn named_group(call: &mut DataCall<'_>, stream: &Stream) -> Result<GroupRecord> {
    let name = call.arguments[3].clone();
    stream.group(call.store, &name)?.ok_or_else(|| {
        Reply::error(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            text(&name),
            text(&call.arguments[2])
        ))
        .into()
    })
}

/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n].
pub(crate) fn xgroup_create(call: &mut DataCall<'_>) -> Outcome {
    let (make_stream, read) = parse_group_options(call, true)?;
    let key = call.arguments[2].clone();
    let mut stream = match call.stream(&key)? {
        Some(stream) => stream,
        None if make_stream => call.stream_or_new(&key)?,
        None => return Err(missing_key()),
    };
    let id = match call.arguments[4].as_ref() {
        b"$" => stream.state.last_id,
        argument => StreamId::parse(argument, 0, true)?,
    };
    let name = call.arguments[3].clone();
    if stream.group(call.store, &name)?.is_some() {
        return Err(Reply::error("BUSYGROUP Consumer Group name already exists").into());
    }
    let group = GroupRecord {
        last_id: id,
        entries_read: read,
        pending: 0,
    };
    stream.put_group(call.store, &name, &group)?;
    call.save_stream(&mut stream)?;
    call.notify(EventClasses::STREAM, "xgroup-create", &key);
    Ok(Reply::ok().into())
}

/// XGROUP SETID key group id|$ [ENTRIESREAD n].
pub(crate) fn xgroup_setid(call: &mut DataCall<'_>) -> Outcome {
    let (_, read) = parse_group_options(call, false)?;
    let stream = group_stream(call)?;
    let mut group = named_group(call, &stream)?;
    group.last_id = match call.arguments[4].as_ref() {
        b"$" => stream.state.last_id,
        argument => StreamId::parse(argument, 0, false)?,
    };
    group.entries_read = read;
    let name = call.arguments[3].clone();
    stream.put_group(call.store, &name, &group)?;
    let key = call.arguments[2].clone();
    call.notify(EventClasses::STREAM, "xgroup-setid", &key);
    Ok(Reply::ok().into())
}

/// XGROUP DESTROY key group.
pub(crate) fn xgroup_destroy(call: &mut DataCall<'_>) -> Outcome {
    let stream = group_stream(call)?;
    let name = call.arguments[3].clone();
    if stream.group(call.store, &name)?.is_none() {
        return Ok(Reply::Integer(0).into());
    }
    stream.delete_group(call.store, &name)?;
    let key = call.arguments[2].clone();
    call.notify(EventClasses::STREAM, "xgroup-destroy", &key);
    Ok(Reply::Integer(1).into())
}

/// XGROUP CREATECONSUMER key group consumer.
pub(crate) fn xgroup_createconsumer(call: &mut DataCall<'_>) -> Outcome {
    let stream = group_stream(call)?;
    named_group(call, &stream)?;
    let (group, consumer) = (call.arguments[3].clone(), call.arguments[4].clone());
    if stream.consumer(call.store, &group, &consumer)?.is_some() {
        return Ok(Reply::Integer(0).into());
    }
    let now = call.now_ms();
    touch_consumer(call, &stream, &group, &consumer, now)?;
    Ok(Reply::Integer(1).into())
}

/// XGROUP DELCONSUMER key group consumer.
pub(crate) fn xgroup_delconsumer(call: &mut DataCall<'_>) -> Outcome {
    let stream = group_stream(call)?;
    let mut record = named_group(call, &stream)?;
    let (group, consumer) = (call.arguments[3].clone(), call.arguments[4].clone());
    if stream.consumer(call.store, &group, &consumer)?.is_none() {
        return Ok(Reply::Integer(0).into());
    }
    let pending = stream.delete_consumer(call.store, &group, &consumer, &mut record)?;
    stream.put_group(call.store, &group, &record)?;
    let key = call.arguments[2].clone();
    call.notify(EventClasses::STREAM, "xgroup-delconsumer", &key);
    Ok(Reply::Integer(pending as i64).into())
}

/// XACK key group id [id …].
pub(crate) fn xack(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let group_name = call.arguments[2].clone();
    let Some(stream) = call.stream(key)? else {
        return Ok(Reply::Integer(0).into());
    };
    let Some(mut group) = stream.group(call.store, &group_name)? else {
        return Ok(Reply::Integer(0).into());
    };
    let ids = call.arguments[3..]
        .iter()
        .map(|argument| StreamId::parse(argument, 0, true))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut acknowledged = 0;
    for id in ids {
        if let Some(pending) = stream.pending(call.store, &group_name, id)? {
            stream.acknowledge(call.store, &group_name, &mut group, id, &pending.consumer)?;
            acknowledged += 1;
        }
    }
    if acknowledged > 0 {
        stream.put_group(call.store, &group_name, &group)?;
    }
    Ok(count_reply(acknowledged).into())
}

/// XPENDING's extended form's arguments.
struct PendingRange {
    idle_min_ms: i64,
    from: StreamId,
    to: StreamId,
    count: u64,
    consumer: Option<Bytes>,
}

fn parse_pending_range(arguments: &[Bytes]) -> Result<PendingRange> {
    let mut start = 3;
    let mut idle_min_ms = 0;
    if arguments[3].eq_ignore_ascii_case(b"IDLE") {
        idle_min_ms = integer_argument(&arguments[4])?;
        if arguments.len() < 8 {
            return Err(Reply::error(SYNTAX_ERROR_TEXT).into());
        }
        start += 2;
    }
    let count = u64::try_from(integer_argument(&arguments[start + 2])?).unwrap_or(0);
    let (from, exclusive) = StreamId::parse_bound(&arguments[start], 0)?;
    let from = match exclusive {
        true => from
            .next()
            .ok_or_else(|| error("invalid start ID for the interval"))?,
        false => from,
    };
    let (to, exclusive) = StreamId::parse_bound(&arguments[start + 1], u64::MAX)?;
    let to = match exclusive {
        true => to
            .previous()
            .ok_or_else(|| error("invalid end ID for the interval"))?,
        false => to,
    };
    Ok(PendingRange {
        idle_min_ms,
        from,
        to,
        count,
        consumer: arguments.get(start + 3).cloned(),
    })
}

/// XPENDING key group [[IDLE min-idle] start end count [consumer]].
pub(crate) fn xpending(call: &mut DataCall<'_>) -> Outcome {
    let length = call.arguments.len();
    if length != 3 && !(6..=9).contains(&length) {
        return Err(Reply::error(SYNTAX_ERROR_TEXT).into());
    }
    let range = match length {
        3 => None,
        _ => Some(parse_pending_range(call.arguments)?),
    };
    let group_name = call.arguments[2].clone();
    let (stream, group) = stream_and_group(call, &group_name)?;
    match range {
        None => pending_summary(call, &stream, &group_name, &group),
        Some(range) => pending_entries(call, &stream, &group_name, &range),
    }
}

/// XPENDING's summary: count, first and last IDs, and per consumer.
fn pending_summary(
    call: &mut DataCall<'_>,
    stream: &Stream,
    group_name: &[u8],
    group: &GroupRecord,
) -> Outcome {
    let first = stream.pending_edge(call.store, group_name, false)?;
    let last = stream.pending_edge(call.store, group_name, true)?;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(Reply::Array(vec![
            Reply::Integer(0),
            Reply::NullBulk,
            Reply::NullBulk,
            Reply::NullArray,
        ])
        .into());
    };
    let consumers = stream
        .consumers(call.store, group_name)?
        .into_iter()
        .filter(|(_, record)| record.pending > 0)
        .map(|(name, record)| {
            Reply::Array(vec![
                Reply::Bulk(name),
                Reply::Bulk(Bytes::from(record.pending.to_string())),
            ])
        })
        .collect();
    Ok(Reply::Array(vec![
        Reply::Integer(group.pending as i64),
        first.reply(),
        last.reply(),
        Reply::Array(consumers),
    ])
    .into())
}

/// XPENDING's entries: ID, consumer, idle ms, deliveries.
fn pending_entries(
    call: &mut DataCall<'_>,
    stream: &Stream,
    group_name: &[u8],
    range: &PendingRange,
) -> Outcome {
    if let Some(consumer) = &range.consumer
        && stream.consumer(call.store, group_name, consumer)?.is_none()
    {
        return Ok(Reply::Array(Vec::new()).into());
    }
    let now = call.now_ms();
    let mut replies = Vec::new();
    if range.count == 0 || range.from > range.to {
        return Ok(Reply::Array(replies).into());
    }
    let ids_and_pending: Vec<(StreamId, Pending)> = match &range.consumer {
        None => stream.pending_range(call.store, group_name, range.from, range.to, usize::MAX)?,
        Some(consumer) => {
            let ids = stream.consumer_pending_ids(
                call.store,
                group_name,
                consumer,
                range.from,
                range.to,
                usize::MAX,
            )?;
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(pending) = stream.pending(call.store, group_name, id)? {
                    found.push((id, pending));
                }
            }
            found
        }
    };
    for (id, pending) in ids_and_pending {
        let idle = (now - pending.delivery_ms).max(0);
        if range.idle_min_ms != 0 && idle < range.idle_min_ms {
            continue;
        }
        replies.push(Reply::Array(vec![
            id.reply(),
            Reply::Bulk(pending.consumer),
            Reply::Integer(idle),
            Reply::Integer(pending.deliveries as i64),
        ]));
        if replies.len() as u64 == range.count {
            break;
        }
    }
    Ok(Reply::Array(replies).into())
}

/// XCLAIM's options after the IDs.
#[derive(Default)]
struct ClaimOptions {
    delivery_ms: Option<i64>,
    retry_count: Option<i64>,
    force: bool,
    just_id: bool,
    last_id: StreamId,
}

fn parse_claim_options(arguments: &[Bytes], now: i64) -> Result<ClaimOptions> {
    let mut options = ClaimOptions::default();
    let mut index = 0;
    let number = |argument: &[u8], what: &str| {
        integer_argument(argument)
            .map_err(|_| error(&format!("Invalid {what} option argument for XCLAIM")))
    };
    while index < arguments.len() {
        let option = &arguments[index];
        let value = arguments.get(index + 1);
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        match value {
            _ if is(b"FORCE") => options.force = true,
            _ if is(b"JUSTID") => options.just_id = true,
            Some(value) if is(b"IDLE") => {
                options.delivery_ms = Some(now - number(value, "IDLE")?);
                index += 1;
            }
            Some(value) if is(b"TIME") => {
                options.delivery_ms = Some(number(value, "TIME")?);
                index += 1;
            }
            Some(value) if is(b"RETRYCOUNT") => {
                options.retry_count = Some(number(value, "RETRYCOUNT")?);
                index += 1;
            }
            Some(value) if is(b"LASTID") => {
                options.last_id = StreamId::parse(value, 0, true)?;
                index += 1;
            }
            _ => {
                return Err(
                    error(&format!("Unrecognized XCLAIM option '{}'", text(option))).into(),
                );
            }
        }
        index += 1;
    }
    Ok(options)
}

/// XCLAIM key group consumer min-idle-time id [id …] [IDLE ms] [TIME ms]
/// [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id].
pub(crate) fn xclaim(call: &mut DataCall<'_>) -> Outcome {
    let group_name = call.arguments[2].clone();
    let consumer = call.arguments[3].clone();
    let (stream, mut group) = stream_and_group(call, &group_name)?;
    let idle_min_ms = integer_argument(&call.arguments[4])
        .map_err(|_| error("Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let ids: Vec<StreamId> = call.arguments[5..]
        .iter()
        .map_while(|argument| StreamId::parse(argument, 0, true).ok())
        .collect();
    let now = call.now_ms();
    let options = parse_claim_options(&call.arguments[5 + ids.len()..], now)?;
    if options.last_id > group.last_id {
        group.last_id = options.last_id;
    }
    let delivery_ms = match options.delivery_ms {
        Some(time) if (0..=now).contains(&time) => time,
        _ => now,
    };
    let mut replies = Vec::new();
    let mut touched = false;
    for id in ids {
        let existing = stream.pending(call.store, &group_name, id)?;
        let Some(value) = stream.entry(call.store, id)? else {
            if let Some(pending) = existing {
                stream.acknowledge(call.store, &group_name, &mut group, id, &pending.consumer)?;
            }
            continue;
        };
        let previous = match existing {
            Some(pending) => pending,
            None if options.force => Pending {
                delivery_ms: now,
                deliveries: 0,
                consumer: Bytes::new(),
            },
            None => continue,
        };
        if !previous.consumer.is_empty()
            && idle_min_ms > 0
            && now - previous.delivery_ms < idle_min_ms
        {
            continue;
        }
        if !touched {
            touch_consumer(call, &stream, &group_name, &consumer, now)?;
            touched = true;
        }
        let deliveries = match options.retry_count {
            Some(count) => count.max(0) as u64,
            None if !options.just_id => previous.deliveries + 1,
            None => previous.deliveries,
        };
        claim(
            call.store,
            &stream,
            &group_name,
            &mut group,
            id,
            &previous,
            Pending {
                delivery_ms,
                deliveries,
                consumer: consumer.clone(),
            },
        )?;
        replies.push(match options.just_id {
            true => id.reply(),
            false => entry_reply(id, value),
        });
    }
    stream.put_group(call.store, &group_name, &group)?;
    Ok(Reply::Array(replies).into())
}

/// Makes `pending` the record of the group's entry `id`, whose record
/// was `previous` (an empty consumer: none).
fn claim(
    store: &mut dyn KeyValueStore,
    stream: &Stream,
    group_name: &[u8],
    group: &mut GroupRecord,
    id: StreamId,
    previous: &Pending,
    pending: Pending,
) -> Result<()> {
    if previous.consumer == pending.consumer {
        stream.update_pending(store, group_name, id, &pending)
    } else {
        stream.assign_pending(store, group_name, group, id, &pending)
    }
}

/// Most entries XAUTOCLAIM's COUNT may ask for (Redis's bound).
const AUTOCLAIM_COUNT_MAX: i64 = i64::MAX / 16;

/// PEL entries XAUTOCLAIM looks at per entry it may claim.
const AUTOCLAIM_ATTEMPTS_FACTOR: u64 = 10;

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT n] [JUSTID].
pub(crate) fn xautoclaim(call: &mut DataCall<'_>) -> Outcome {
    let idle_min_ms = integer_argument(&call.arguments[4])
        .map_err(|_| error("Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let (start, exclusive) = StreamId::parse_bound(&call.arguments[5], 0)?;
    let start = match exclusive {
        true => start
            .next()
            .ok_or_else(|| error("invalid start ID for the interval"))?,
        false => start,
    };
    let mut count = 100u64;
    let mut just_id = false;
    let mut index = 6;
    while index < call.arguments.len() {
        let option = &call.arguments[index];
        if option.eq_ignore_ascii_case(b"COUNT") && index + 1 < call.arguments.len() {
            let value = integer_argument(&call.arguments[index + 1])
                .ok()
                .filter(|count| (1..=AUTOCLAIM_COUNT_MAX).contains(count))
                .ok_or_else(|| error("COUNT must be > 0"))?;
            count = value as u64;
            index += 2;
        } else if option.eq_ignore_ascii_case(b"JUSTID") {
            just_id = true;
            index += 1;
        } else {
            return Err(Reply::error(SYNTAX_ERROR_TEXT).into());
        }
    }
    let group_name = call.arguments[2].clone();
    let consumer = call.arguments[3].clone();
    let (stream, mut group) = stream_and_group(call, &group_name)?;
    let attempts = count.saturating_mul(AUTOCLAIM_ATTEMPTS_FACTOR);
    let window = stream.pending_range(
        call.store,
        &group_name,
        start,
        StreamId::MAX,
        usize::try_from(attempts.saturating_add(1)).unwrap_or(usize::MAX),
    )?;
    let now = call.now_ms();
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut examined = 0usize;
    let mut touched = false;
    for (id, previous) in &window {
        if examined as u64 == attempts || count == 0 {
            break;
        }
        examined += 1;
        let Some(value) = stream.entry(call.store, *id)? else {
            stream.acknowledge(call.store, &group_name, &mut group, *id, &previous.consumer)?;
            deleted.push(id.reply());
            count -= 1;
            continue;
        };
        if idle_min_ms > 0 && now - previous.delivery_ms < idle_min_ms {
            continue;
        }
        if !touched {
            touch_consumer(call, &stream, &group_name, &consumer, now)?;
            touched = true;
        }
        let deliveries = previous.deliveries + u64::from(!just_id);
        let pending = Pending {
            delivery_ms: now,
            deliveries,
            consumer: consumer.clone(),
        };
        claim(
            call.store,
            &stream,
            &group_name,
            &mut group,
            *id,
            previous,
            pending,
        )?;
        claimed.push(match just_id {
            true => id.reply(),
            false => entry_reply(*id, value),
        });
        count -= 1;
    }
    let cursor = window.get(examined).map_or(StreamId::MIN, |(id, _)| *id);
    stream.put_group(call.store, &group_name, &group)?;
    Ok(Reply::Array(vec![
        cursor.reply(),
        Reply::Array(claimed),
        Reply::Array(deleted),
    ])
    .into())
}

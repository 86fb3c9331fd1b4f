//! The stream commands on entries: XADD, XLEN, XRANGE, XREVRANGE, XDEL,
//! XTRIM, XSETID, with Redis 7.0's replies and error texts. An entry is
//! an element under `MEMBER_TAG` keyed by its ID's 16 big-endian bytes,
//! so ranges are range scans (`stream.rs`, `stream_layout.rs`).
//!
//! Approximate trimming (`~`) removes whole nodes, as Redis removes whole
//! radix-tree nodes: each entry records the node it was added to, a node
//! holding up to `stream-node-max-entries` entries.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument};
use super::encoding::MEMBER_TAG;
use super::notify::EventClasses;
use super::stream::{Stream, entry_reply};
use super::stream_id::{AddId, StreamId};
use super::stream_layout::EntryValue;
use super::table::wrong_arity;
use super::{CommandId, DataCall, Failure, KeyValueStore, Outcome};
use crate::resp::Reply;

/// `stream-node-max-entries`, set by CONFIG SET (process-wide, as the
/// parameter is server-wide in Redis).
static NODE_ENTRIES_MAX: AtomicU64 = AtomicU64::new(100);

/// Entries read at a time while trimming.
const TRIM_BATCH_MAX: usize = 256;

/// Sets `stream-node-max-entries` (0: no limit).
pub(crate) fn set_node_entries_max(entries: u64) {
    NODE_ENTRIES_MAX.store(entries, Ordering::Relaxed);
}

/// `stream-node-max-entries` now.
pub(crate) fn node_entries_max() -> u64 {
    NODE_ENTRIES_MAX.load(Ordering::Relaxed)
}

/// How a stream is trimmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// Keep at most this many entries.
    MaxLength(u64),
    /// Keep the entries with IDs at least this.
    MinId(StreamId),
}

/// XADD's and XTRIM's trimming options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Trim {
    /// MAXLEN or MINID.
    pub strategy: Strategy,
    /// `~`: whole nodes only.
    pub approximate: bool,
    /// Entries removed at most (0: no limit).
    pub limit: u64,
}

/// XADD's options before the ID.
#[derive(Debug)]
struct AddOptions {
    trim: Option<Trim>,
    no_create: bool,
    /// The ID's position.
    id_index: usize,
}

fn error(text: &str) -> Reply {
    Reply::error(format!("ERR {text}"))
}

/// Reads the options from argument 2 on: XADD's stop at its ID.
fn parse_options(arguments: &[Bytes], xadd: bool) -> Result<AddOptions, Reply> {
    let mut strategy = None;
    let mut approximate = false;
    let mut limit = None;
    let mut no_create = false;
    let mut index = 2;
    while index < arguments.len() {
        let option = &arguments[index];
        let more = arguments.len() - 1 - index;
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        if xadd && option.as_ref() == b"*" {
            break;
        } else if (is(b"MAXLEN") || is(b"MINID")) && more > 0 {
            if strategy.is_some() {
                return Err(error(
                    "syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            let next = &arguments[index + 1];
            approximate = false;
            if more >= 2 && (next.as_ref() == b"~" || next.as_ref() == b"=") {
                approximate = next.as_ref() == b"~";
                index += 1;
            }
            let value = &arguments[index + 1];
            strategy = Some(if is(b"MAXLEN") {
                let length = integer_argument(value)?;
                Strategy::MaxLength(
                    u64::try_from(length)
                        .map_err(|_| error("The MAXLEN argument must be >= 0."))?,
                )
            } else {
                Strategy::MinId(StreamId::parse(value, 0, true)?)
            });
            index += 2;
        } else if is(b"LIMIT") && more > 0 {
            let value = integer_argument(&arguments[index + 1])?;
            limit =
                Some(u64::try_from(value).map_err(|_| error("The LIMIT argument must be >= 0."))?);
            index += 2;
        } else if xadd && is(b"NOMKSTREAM") {
            no_create = true;
            index += 1;
        } else if xadd {
            break;
        } else {
            return Err(Reply::error(SYNTAX_ERROR_TEXT));
        }
    }
    let Some(strategy) = strategy else {
        if limit.is_some_and(|limit| limit != 0) {
            return Err(error(
                "syntax error, LIMIT cannot be used without specifying a trimming strategy",
            ));
        }
        if !xadd {
            return Err(error(
                "syntax error, XTRIM must be called with a trimming strategy",
            ));
        }
        return Ok(AddOptions {
            trim: None,
            no_create,
            id_index: index,
        });
    };
    let limit = match limit {
        Some(_) if !approximate => {
            return Err(error(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        Some(limit) => limit,
        None if approximate => default_limit(),
        None => 0,
    };
    Ok(AddOptions {
        trim: Some(Trim {
            strategy,
            approximate,
            limit,
        }),
        no_create,
        id_index: index,
    })
}

/// `~`'s default LIMIT: 100 nodes' worth, within Redis's bounds.
fn default_limit() -> u64 {
    match node_entries_max().saturating_mul(100) {
        0 => 10_000,
        limit => limit.min(1_000_000),
    }
}

/// Whether the entry `id` is to go, with the stream `length` long.
fn beyond(strategy: Strategy, length: u64, id: StreamId) -> bool {
    match strategy {
        Strategy::MaxLength(length_max) => length > length_max,
        Strategy::MinId(min_id) => id < min_id,
    }
}

/// Trims `stream`; the entries removed.
pub(crate) fn trim(
    store: &mut dyn KeyValueStore,
    stream: &mut Stream,
    trim: Trim,
) -> Result<u64, Failure> {
    let mut removed = 0u64;
    loop {
        if let Strategy::MaxLength(length_max) = trim.strategy
            && stream.len() <= length_max
        {
            break;
        }
        let batch = stream.entries(
            store,
            Bound::Unbounded,
            Bound::Unbounded,
            false,
            TRIM_BATCH_MAX,
        )?;
        let Some((_, first)) = batch.first() else {
            break;
        };
        if !trim.approximate {
            let mut progressed = false;
            for (id, value) in &batch {
                if !beyond(trim.strategy, stream.len(), *id) {
                    return Ok(removed);
                }
                stream.delete_entry(store, *id, value.node)?;
                removed += 1;
                progressed = true;
            }
            if !progressed {
                break;
            }
            continue;
        }
        // A node larger than a batch (stream-node-max-entries raised, or
        // 0) is removed a batch at a time.
        let node = first.node;
        let node_entries: Vec<StreamId> = batch
            .iter()
            .take_while(|(_, value)| value.node == node)
            .map(|(id, _)| *id)
            .collect();
        let count = node_entries.len() as u64;
        if trim.limit != 0 && removed + count > trim.limit {
            break;
        }
        let whole_node = match trim.strategy {
            Strategy::MaxLength(length_max) => stream.len() - count >= length_max,
            Strategy::MinId(min_id) => node_entries.last().is_some_and(|last| *last < min_id),
        };
        if !whole_node {
            break;
        }
        for id in node_entries {
            stream.delete_entry(store, id, node)?;
        }
        removed += count;
    }
    Ok(removed)
}

/// The ID XADD gives its entry, or its error.
fn new_id(stream: &Stream, requested: AddId, now_ms: i64) -> Result<StreamId, Reply> {
    let last = stream.state.last_id;
    let too_small =
        || error("The ID specified in XADD is equal or smaller than the target stream top item");
    let id = match requested {
        AddId::Auto => {
            let now = u64::try_from(now_ms).unwrap_or(0);
            if now > last.ms {
                StreamId::new(now, 0)
            } else {
                last.next().ok_or_else(too_small)?
            }
        }
        AddId::Ms(ms) if ms == last.ms => {
            let seq = last.seq.checked_add(1).ok_or_else(too_small)?;
            StreamId::new(ms, seq)
        }
        AddId::Ms(ms) => StreamId::new(ms, 0),
        AddId::Exact(id) => id,
    };
    if id <= last {
        return Err(too_small());
    }
    Ok(id)
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]]
/// <*|id> field value [field value …].
pub(crate) fn xadd(call: &mut DataCall<'_>) -> Outcome {
    let options = parse_options(call.arguments, true)?;
    let fields = call.arguments.len().saturating_sub(options.id_index + 1);
    if fields < 2 || !fields.is_multiple_of(2) {
        return Ok(wrong_arity(call.spec).into());
    }
    let requested = StreamId::parse_add(&call.arguments[options.id_index])?;
    if requested == AddId::Exact(StreamId::MIN) {
        return Err(error("The ID specified in XADD must be greater than 0-0").into());
    }
    let key = call.key();
    let mut stream = match call.stream(key)? {
        Some(stream) => stream,
        None if options.no_create => return Ok(Reply::NullBulk.into()),
        None => call.stream_or_new(key)?,
    };
    if stream.state.last_id == StreamId::MAX {
        return Err(error(
            "The stream has exhausted the last possible ID, unable to add more items",
        )
        .into());
    }
    let id = new_id(&stream, requested, call.now_ms())?;
    let pairs = (options.id_index + 1..call.arguments.len())
        .step_by(2)
        .map(|index| (call.owned_argument(index), call.owned_argument(index + 1)))
        .collect();
    stream.append(call.store, id, pairs, node_entries_max())?;
    call.notify(EventClasses::STREAM, "xadd", key);
    if let Some(trim_options) = options.trim
        && trim(call.store, &mut stream, trim_options)? > 0
    {
        call.notify(EventClasses::STREAM, "xtrim", key);
    }
    call.save_stream(&mut stream)?;
    Ok(id.reply().into())
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count].
pub(crate) fn xtrim(call: &mut DataCall<'_>) -> Outcome {
    let options = parse_options(call.arguments, false)?;
    let Some(trim_options) = options.trim else {
        return Err(Reply::error(SYNTAX_ERROR_TEXT).into());
    };
    let key = call.key();
    let Some(mut stream) = call.stream(key)? else {
        return Ok(Reply::Integer(0).into());
    };
    let removed = trim(call.store, &mut stream, trim_options)?;
    if removed > 0 {
        call.notify(EventClasses::STREAM, "xtrim", key);
        call.save_stream(&mut stream)?;
    }
    Ok(Reply::Integer(removed as i64).into())
}

/// XLEN key.
pub(crate) fn xlen(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let length = call.stream(key)?.map_or(0, |stream| stream.len());
    Ok(Reply::Integer(length as i64).into())
}

/// A COUNT option from `index` on (XRANGE, XREVRANGE): `None` for none;
/// a negative count reads as 0.
fn parse_count(arguments: &[Bytes], mut index: usize) -> Result<Option<u64>, Reply> {
    let mut count = None;
    while index < arguments.len() {
        if arguments[index].eq_ignore_ascii_case(b"COUNT") && index + 1 < arguments.len() {
            count = Some(u64::try_from(integer_argument(&arguments[index + 1])?).unwrap_or(0));
            index += 2;
        } else {
            return Err(Reply::error(SYNTAX_ERROR_TEXT));
        }
    }
    Ok(count)
}

/// XRANGE key start end [COUNT n], XREVRANGE key end start [COUNT n].
pub(crate) fn xrange(call: &mut DataCall<'_>) -> Outcome {
    let reverse = call.id() == CommandId::Xrevrange;
    let (start, end) = if reverse { (3, 2) } else { (2, 3) };
    let (start, start_exclusive) = StreamId::parse_bound(&call.arguments[start], 0)?;
    let start = match start_exclusive {
        true => start
            .next()
            .ok_or_else(|| error("invalid start ID for the interval"))?,
        false => start,
    };
    let (end, end_exclusive) = StreamId::parse_bound(&call.arguments[end], u64::MAX)?;
    let end = match end_exclusive {
        true => end
            .previous()
            .ok_or_else(|| error("invalid end ID for the interval"))?,
        false => end,
    };
    let count = parse_count(call.arguments, 4)?;
    let key = call.key();
    let Some(stream) = call.stream(key)? else {
        return Ok(Reply::Array(Vec::new()).into());
    };
    if count == Some(0) {
        return Ok(Reply::NullArray.into());
    }
    if start > end {
        return Ok(Reply::Array(Vec::new()).into());
    }
    let count_max = count.map_or(usize::MAX, |count| count as usize);
    let entries = stream.entries(
        call.store,
        Bound::Included(start),
        Bound::Included(end),
        reverse,
        count_max,
    )?;
    let replies = entries
        .into_iter()
        .map(|(id, value)| entry_reply(id, value))
        .collect();
    Ok(Reply::Array(replies).into())
}

/// XDEL key id [id …].
pub(crate) fn xdel(call: &mut DataCall<'_>) -> Outcome {
    let ids = call.arguments[2..]
        .iter()
        .map(|text| StreamId::parse(text, 0, true))
        .collect::<Result<Vec<_>, _>>()?;
    let key = call.key();
    let Some(mut stream) = call.stream(key)? else {
        return Ok(Reply::Integer(0).into());
    };
    let mut deleted = 0;
    for id in ids {
        let Some(bytes) = stream
            .collection
            .get(call.store, MEMBER_TAG, &id.to_bytes())?
        else {
            continue;
        };
        let node = EntryValue::node_of(&bytes).unwrap_or(0);
        stream.delete_entry(call.store, id, node)?;
        stream.state.max_deleted_id = stream.state.max_deleted_id.max(id);
        deleted += 1;
    }
    if deleted > 0 {
        call.notify(EventClasses::STREAM, "xdel", key);
        call.save_stream(&mut stream)?;
    }
    Ok(Reply::Integer(deleted).into())
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID id].
pub(crate) fn xsetid(call: &mut DataCall<'_>) -> Outcome {
    let id = StreamId::parse(&call.arguments[2], 0, true)?;
    let mut entries_added = None;
    let mut max_deleted = StreamId::MIN;
    let mut index = 3;
    while index < call.arguments.len() {
        let option = &call.arguments[index];
        let Some(value) = call.arguments.get(index + 1) else {
            return Err(Reply::error(SYNTAX_ERROR_TEXT).into());
        };
        if option.eq_ignore_ascii_case(b"ENTRIESADDED") {
            let added = integer_argument(value)?;
            entries_added =
                Some(u64::try_from(added).map_err(|_| error("entries_added must be positive"))?);
        } else if option.eq_ignore_ascii_case(b"MAXDELETEDID") {
            max_deleted = StreamId::parse(value, 0, true)?;
            if id < max_deleted {
                return Err(error(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                )
                .into());
            }
        } else {
            return Err(Reply::error(SYNTAX_ERROR_TEXT).into());
        }
        index += 2;
    }
    let key = call.key();
    let Some(mut stream) = call.stream(key)? else {
        return Err(Reply::error("ERR no such key").into());
    };
    if stream.len() > 0 {
        let top = stream.edge_id(call.store, true)?.unwrap_or(StreamId::MIN);
        if id < top {
            return Err(error(
                "The ID specified in XSETID is smaller than the target stream top item",
            )
            .into());
        }
        if entries_added.is_some_and(|added| added < stream.len()) {
            return Err(error(
                "The entries_added specified in XSETID is smaller than the target stream length",
            )
            .into());
        }
    }
    stream.state.last_id = id;
    if let Some(added) = entries_added {
        stream.state.entries_added = added;
    }
    if !max_deleted.is_zero() {
        stream.state.max_deleted_id = max_deleted;
    }
    call.save_stream(&mut stream)?;
    call.notify(EventClasses::STREAM, "xsetid", key);
    Ok(Reply::ok().into())
}

//! XREAD and XREADGROUP: one attempt in one transaction, answering a null
//! array when no stream has anything to serve. With BLOCK, `blocking.rs`
//! then keeps the request and runs it again after each commit that
//! wrote, until it answers or times out; XREAD's `$` is first resolved to
//! each stream's last ID ([`LAST_IDS`]), so that a retry reads only what
//! came after the block began.

use std::ops::Bound;

use bytes::Bytes;

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument};
use super::id::CommandId;
use super::notify::EventClasses;
use super::stream::{Stream, entry_reply};
use super::stream_groups::advance_group;
use super::stream_id::StreamId;
use super::stream_layout::{ConsumerRecord, GroupRecord, Pending};
use super::table::{CommandFlags, CommandSpec, Handler};
use super::{DataCall, Failure, Outcome};
use crate::resp::{ProtocolVersion, Reply};

/// Entries a blocked read without COUNT is served at most (Redis's
/// `XREAD_BLOCKED_DEFAULT_COUNT`).
pub const BLOCKED_COUNT_DEFAULT: u64 = 1000;

/// XREAD's and XREADGROUP's options.
#[derive(Debug, Default)]
pub(crate) struct ReadOptions {
    /// BLOCK's timeout in milliseconds (0: forever).
    pub block_ms: Option<u64>,
    /// COUNT (0: no limit).
    pub count: u64,
    /// GROUP's group and consumer.
    pub group: Option<(Bytes, Bytes)>,
    /// NOACK.
    pub no_ack: bool,
    /// Where the keys begin (after STREAMS).
    pub streams_index: usize,
    /// How many streams.
    pub stream_count: usize,
}

fn error(text: &str) -> Reply {
    Reply::error(format!("ERR {text}"))
}

/// BLOCK's milliseconds, as Redis's `getTimeoutFromObjectOrReply` reads
/// them.
fn parse_block(argument: &[u8]) -> Result<u64, Reply> {
    let timeout = integer_argument(argument)
        .map_err(|_| error("timeout is not an integer or out of range"))?;
    u64::try_from(timeout).map_err(|_| error("timeout is negative"))
}

/// Reads the options, in Redis's order of checks.
pub(crate) fn parse_read(arguments: &[Bytes], group_read: bool) -> Result<ReadOptions, Reply> {
    let mut options = ReadOptions::default();
    let mut index = 1;
    while index < arguments.len() {
        let option = &arguments[index];
        let more = arguments.len() - index - 1;
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        if is(b"BLOCK") && more > 0 {
            options.block_ms = Some(parse_block(&arguments[index + 1])?);
            index += 2;
        } else if is(b"COUNT") && more > 0 {
            options.count = u64::try_from(integer_argument(&arguments[index + 1])?).unwrap_or(0);
            index += 2;
        } else if is(b"STREAMS") && more > 0 {
            let rest = arguments.len() - index - 1;
            if !rest.is_multiple_of(2) {
                return Err(error(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            options.streams_index = index + 1;
            options.stream_count = rest / 2;
            break;
        } else if is(b"GROUP") && more >= 2 {
            if !group_read {
                return Err(error(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            options.group = Some((arguments[index + 1].clone(), arguments[index + 2].clone()));
            index += 3;
        } else if is(b"NOACK") {
            if !group_read {
                return Err(error(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            options.no_ack = true;
            index += 1;
        } else {
            return Err(Reply::error(SYNTAX_ERROR_TEXT));
        }
    }
    if options.streams_index == 0 {
        return Err(Reply::error(SYNTAX_ERROR_TEXT));
    }
    if group_read && options.group.is_none() {
        return Err(error("Missing GROUP option for XREADGROUP"));
    }
    Ok(options)
}

/// What a stream's ID argument asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Since {
    /// Entries after this ID (XREAD, or a consumer's history).
    After(StreamId),
    /// `>`: entries never delivered to the group.
    New,
}

/// One stream to read, as parsed and looked up.
struct Source {
    key: Bytes,
    stream: Option<Stream>,
    group: Option<GroupRecord>,
    since: Since,
}

/// Looks up each stream and reads its ID argument.
fn sources(call: &mut DataCall<'_>, options: &ReadOptions) -> Result<Vec<Source>, Failure> {
    let mut sources = Vec::with_capacity(options.stream_count);
    for position in 0..options.stream_count {
        let key = call.arguments[options.streams_index + position].clone();
        let argument =
            call.arguments[options.streams_index + options.stream_count + position].clone();
        let stream = call.stream(&key)?;
        let mut group = None;
        if let Some((name, _)) = &options.group {
            group = match &stream {
                Some(stream) => stream.group(call.store, name)?,
                None => None,
            };
            if group.is_none() {
                return Err(Reply::error(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(&key),
                    String::from_utf8_lossy(name)
                ))
                .into());
            }
        }
        let since = match argument.as_ref() {
            b"$" if options.group.is_some() => return Err(error(
                "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
            )
            .into()),
            b"$" => Since::After(stream.as_ref().map_or(StreamId::MIN, |s| s.state.last_id)),
            b">" if options.group.is_none() => return Err(error(
                "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            )
            .into()),
            b">" => Since::New,
            text => Since::After(StreamId::parse(text, 0, true)?),
        };
        sources.push(Source {
            key,
            stream,
            group,
            since,
        });
    }
    Ok(sources)
}

/// XREAD [COUNT n] [BLOCK ms] STREAMS key … id …, and XREADGROUP GROUP g c
/// [COUNT n] [BLOCK ms] [NOACK] STREAMS key … id ….
pub(crate) fn xread(call: &mut DataCall<'_>) -> Outcome {
    let group_read = call.id() == CommandId::Xreadgroup;
    let options = parse_read(call.arguments, group_read)?;
    let mut count = options.count;
    if count == 0 && options.block_ms.is_some() {
        count = BLOCKED_COUNT_DEFAULT;
    }
    let mut served = Vec::new();
    for mut source in sources(call, &options)? {
        let Some(stream) = source.stream.as_mut() else {
            continue;
        };
        let entries = match (&options.group, source.group.as_mut()) {
            (Some((group_name, consumer)), Some(group)) => {
                let read = GroupRead {
                    group: group_name,
                    consumer,
                    count,
                    no_ack: options.no_ack,
                };
                match read_group(call, stream, group, &read, source.since)? {
                    Some(entries) => entries,
                    None => continue,
                }
            }
            _ => {
                let Since::After(after) = source.since else {
                    continue;
                };
                match read_after(call, stream, after, count)? {
                    Some(entries) => entries,
                    None => continue,
                }
            }
        };
        served.push((Reply::Bulk(source.key), Reply::Array(entries)));
    }
    if served.is_empty() {
        return Ok(Reply::NullArray.into());
    }
    Ok(match call.protocol {
        ProtocolVersion::Resp3 => Reply::Map(served),
        _ => Reply::Array(
            served
                .into_iter()
                .map(|(key, entries)| Reply::Array(vec![key, entries]))
                .collect(),
        ),
    }
    .into())
}

/// XREAD's entries after `after`, or `None` when the stream has nothing
/// newer (its last entry is not after it).
fn read_after(
    call: &mut DataCall<'_>,
    stream: &Stream,
    after: StreamId,
    count: u64,
) -> Result<Option<Vec<Reply>>, Failure> {
    let Some(last) = stream.edge_id(call.store, true)? else {
        return Ok(None);
    };
    if last <= after {
        return Ok(None);
    }
    let count_max = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    let entries = stream.entries(
        call.store,
        Bound::Excluded(after),
        Bound::Unbounded,
        false,
        count_max,
    )?;
    Ok(Some(
        entries
            .into_iter()
            .map(|(id, value)| entry_reply(id, value))
            .collect(),
    ))
}

/// A group read's parameters.
struct GroupRead<'a> {
    group: &'a Bytes,
    consumer: &'a Bytes,
    count: u64,
    no_ack: bool,
}

/// XREADGROUP on one stream: new entries (`>`) or the consumer's
/// history; `None` when `>` finds nothing new.
fn read_group(
    call: &mut DataCall<'_>,
    stream: &mut Stream,
    group: &mut GroupRecord,
    read: &GroupRead<'_>,
    since: Since,
) -> Result<Option<Vec<Reply>>, Failure> {
    let now = call.now_ms();
    let replies = match since {
        Since::After(after) => {
            touch_consumer(call, stream, read.group, read.consumer, now)?;
            read_history(call, stream, read, after, now)?
        }
        Since::New => {
            let Some(last) = stream.edge_id(call.store, true)? else {
                return Ok(None);
            };
            if last <= group.last_id {
                return Ok(None);
            }
            touch_consumer(call, stream, read.group, read.consumer, now)?;
            let count_max = if read.count == 0 {
                usize::MAX
            } else {
                read.count as usize
            };
            let entries = stream.entries(
                call.store,
                Bound::Excluded(group.last_id),
                Bound::Unbounded,
                false,
                count_max,
            )?;
            let first = stream.first_id(call.store)?;
            let mut replies = Vec::with_capacity(entries.len());
            for (id, value) in entries {
                advance_group(stream, first, group, id);
                if !read.no_ack {
                    let pending = Pending {
                        delivery_ms: now,
                        deliveries: 1,
                        consumer: read.consumer.clone(),
                    };
                    stream.assign_pending(call.store, read.group, group, id, &pending)?;
                }
                replies.push(entry_reply(id, value));
            }
            stream.put_group(call.store, read.group, group)?;
            replies
        }
    };
    Ok(Some(replies))
}

/// Creates the consumer if new, and notes that it was seen now.
pub(crate) fn touch_consumer(
    call: &mut DataCall<'_>,
    stream: &Stream,
    group: &[u8],
    consumer: &[u8],
    now: i64,
) -> Result<(), Failure> {
    let record = match stream.consumer(call.store, group, consumer)? {
        Some(record) => ConsumerRecord {
            seen_ms: now,
            ..record
        },
        None => {
            call.notify(
                EventClasses::STREAM,
                "xgroup-createconsumer",
                &stream.collection.header.owner.clone(),
            );
            ConsumerRecord {
                seen_ms: now,
                pending: 0,
            }
        }
    };
    stream.put_consumer(call.store, group, consumer, &record)
}

/// The consumer's pending entries after `after`: each entry, or its ID
/// with a null when the entry was deleted; each delivered once more.
fn read_history(
    call: &mut DataCall<'_>,
    stream: &Stream,
    read: &GroupRead<'_>,
    after: StreamId,
    now: i64,
) -> Result<Vec<Reply>, Failure> {
    let Some(from) = after.next() else {
        return Ok(Vec::new());
    };
    let count_max = if read.count == 0 {
        usize::MAX
    } else {
        read.count as usize
    };
    let ids = stream.consumer_pending_ids(
        call.store,
        read.group,
        read.consumer,
        from,
        StreamId::MAX,
        count_max,
    )?;
    let mut replies = Vec::with_capacity(ids.len());
    for id in ids {
        match stream.entry(call.store, id)? {
            None => replies.push(Reply::Array(vec![id.reply(), Reply::NullArray])),
            Some(value) => {
                if let Some(mut pending) = stream.pending(call.store, read.group, id)? {
                    pending.delivery_ms = now;
                    pending.deliveries += 1;
                    stream.update_pending(call.store, read.group, id, &pending)?;
                }
                replies.push(entry_reply(id, value));
            }
        }
    }
    Ok(replies)
}

/// The hidden row that resolves XREAD's `$` before a block: it answers
/// the ID arguments with each `$` replaced by the stream's last ID.
pub(crate) static LAST_IDS: CommandSpec = CommandSpec {
    name: "xread",
    container: None,
    arity: -4,
    flags: CommandFlags::READONLY,
    first_key: 0,
    last_key: 0,
    key_step: 0,
    movable_keys: super::table::MovableKeys::None,
    group: "stream",
    since: "5.0.0",
    complexity: "O(N)",
    summary: "Resolves XREAD's $ IDs.",
    id: CommandId::Xread,
    handler: Handler::Data(last_ids),
    subcommands: &[],
};

/// [`LAST_IDS`]'s handler: the ID arguments, `$` resolved.
fn last_ids(call: &mut DataCall<'_>) -> Outcome {
    let options = parse_read(call.arguments, false)?;
    let mut ids = Vec::with_capacity(options.stream_count);
    for position in 0..options.stream_count {
        let key = call.arguments[options.streams_index + position].clone();
        let argument = &call.arguments[options.streams_index + options.stream_count + position];
        if argument.as_ref() != b"$" {
            ids.push(Reply::Bulk(argument.clone()));
            continue;
        }
        let last = match call.stream(&key) {
            Ok(Some(stream)) => stream.state.last_id,
            // Another type: the read itself answers WRONGTYPE.
            Ok(None) | Err(Failure::Reply(_)) => StreamId::MIN,
            Err(failure) => return Err(failure),
        };
        ids.push(last.reply());
    }
    Ok(Reply::Array(ids).into())
}

//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS, in Redis
//! 7.0's layout. `radix-tree-keys` counts the nodes from the first
//! entry's to the tail node (what approximate trimming removes whole);
//! `radix-tree-nodes` is that plus one, standing in for Redis's internal
//! radix-tree node count.

use std::ops::Bound;

use bytes::Bytes;

use super::arguments::integer_argument;
use super::stream::{Stream, entry_reply};
use super::stream_groups::lag;
use super::stream_id::StreamId;
use super::stream_layout::{ENTRIES_READ_UNKNOWN, GroupRecord};
use super::{DataCall, Failure, Outcome};
use crate::resp::Reply;

type Result<T> = std::result::Result<T, Failure>;

/// XINFO STREAM FULL's default COUNT.
const FULL_COUNT_DEFAULT: u64 = 10;

fn field(name: &'static str, value: Reply) -> (Reply, Reply) {
    (Reply::bulk(name), value)
}

fn integer(value: u64) -> Reply {
    Reply::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

/// The stream at argument 2, or Redis's `no such key`.
fn info_stream(call: &mut DataCall<'_>) -> Result<Stream> {
    let key = call.arguments[2].clone();
    call.stream(&key)?
        .ok_or_else(|| Reply::error("ERR no such key").into())
}

fn subcommand_syntax_error(call: &DataCall<'_>) -> Failure {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
        String::from_utf8_lossy(&call.arguments[1])
    ))
    .into()
}

/// XINFO STREAM key [FULL [COUNT n]].
pub(crate) fn xinfo_stream(call: &mut DataCall<'_>) -> Outcome {
    let options = &call.arguments[3..];
    let full = match options.len() {
        0 => None,
        1 | 3 if options[0].eq_ignore_ascii_case(b"FULL") => match options.get(1) {
            None => Some(FULL_COUNT_DEFAULT),
            Some(option) if option.eq_ignore_ascii_case(b"COUNT") => {
                let count = integer_argument(&options[2])?;
                Some(u64::try_from(count).unwrap_or(FULL_COUNT_DEFAULT))
            }
            Some(_) => return Err(subcommand_syntax_error(call)),
        },
        _ => return Err(subcommand_syntax_error(call)),
    };
    let stream = info_stream(call)?;
    let first = stream.first_id(call.store)?;
    let (tree_keys, first_entry) = match stream
        .entries(call.store, Bound::Unbounded, Bound::Unbounded, false, 1)?
        .pop()
    {
        Some((id, value)) => (
            stream.state.tail_node.saturating_sub(value.node) + 1,
            Some((id, value)),
        ),
        None => (0, None),
    };
    let mut fields = vec![
        field("length", integer(stream.len())),
        field("radix-tree-keys", integer(tree_keys)),
        field("radix-tree-nodes", integer(tree_keys + 1)),
        field("last-generated-id", stream.state.last_id.reply()),
        field("max-deleted-entry-id", stream.state.max_deleted_id.reply()),
        field("entries-added", integer(stream.state.entries_added)),
        field("recorded-first-entry-id", first.reply()),
    ];
    match full {
        None => {
            let groups = stream.groups(call.store)?.len();
            fields.push(field("groups", integer(groups as u64)));
            let last_entry = stream
                .entries(call.store, Bound::Unbounded, Bound::Unbounded, true, 1)?
                .pop();
            let reply = |entry: Option<(StreamId, _)>| {
                entry.map_or(Reply::NullBulk, |(id, value)| entry_reply(id, value))
            };
            fields.push(field("first-entry", reply(first_entry)));
            fields.push(field("last-entry", reply(last_entry)));
        }
        Some(count) => {
            let count_max = if count == 0 {
                usize::MAX
            } else {
                count as usize
            };
            let entries = stream
                .entries(
                    call.store,
                    Bound::Unbounded,
                    Bound::Unbounded,
                    false,
                    count_max,
                )?
                .into_iter()
                .map(|(id, value)| entry_reply(id, value))
                .collect();
            fields.push(field("entries", Reply::Array(entries)));
            let mut groups = Vec::new();
            for (name, group) in stream.groups(call.store)? {
                groups.push(full_group(call, &stream, name, &group, count_max)?);
            }
            fields.push(field("groups", Reply::Array(groups)));
        }
    }
    Ok(Reply::Map(fields).into())
}

fn entries_read_reply(group: &GroupRecord) -> Reply {
    match group.entries_read {
        ENTRIES_READ_UNKNOWN => Reply::NullBulk,
        read => Reply::Integer(read),
    }
}

fn lag_reply(call: &mut DataCall<'_>, stream: &Stream, group: &GroupRecord) -> Result<Reply> {
    Ok(lag(call.store, stream, group)?.map_or(Reply::NullBulk, integer))
}

/// One group of XINFO STREAM FULL: its PEL and consumers with theirs.
fn full_group(
    call: &mut DataCall<'_>,
    stream: &Stream,
    name: Bytes,
    group: &GroupRecord,
    count_max: usize,
) -> Result<Reply> {
    let pending = stream
        .pending_range(call.store, &name, StreamId::MIN, StreamId::MAX, count_max)?
        .into_iter()
        .map(|(id, pending)| {
            Reply::Array(vec![
                id.reply(),
                Reply::Bulk(pending.consumer),
                Reply::Integer(pending.delivery_ms),
                integer(pending.deliveries),
            ])
        })
        .collect();
    let mut consumers = Vec::new();
    for (consumer, record) in stream.consumers(call.store, &name)? {
        let ids = stream.consumer_pending_ids(
            call.store,
            &name,
            &consumer,
            StreamId::MIN,
            StreamId::MAX,
            count_max,
        )?;
        let mut own = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(pending) = stream.pending(call.store, &name, id)? {
                own.push(Reply::Array(vec![
                    id.reply(),
                    Reply::Integer(pending.delivery_ms),
                    integer(pending.deliveries),
                ]));
            }
        }
        consumers.push(Reply::Map(vec![
            field("name", Reply::Bulk(consumer)),
            field("seen-time", Reply::Integer(record.seen_ms)),
            field("pel-count", integer(record.pending)),
            field("pending", Reply::Array(own)),
        ]));
    }
    Ok(Reply::Map(vec![
        field("name", Reply::Bulk(name)),
        field("last-delivered-id", group.last_id.reply()),
        field("entries-read", entries_read_reply(group)),
        field("lag", lag_reply(call, stream, group)?),
        field("pel-count", integer(group.pending)),
        field("pending", Reply::Array(pending)),
        field("consumers", Reply::Array(consumers)),
    ]))
}

/// XINFO GROUPS key.
pub(crate) fn xinfo_groups(call: &mut DataCall<'_>) -> Outcome {
    let stream = info_stream(call)?;
    let mut replies = Vec::new();
    for (name, group) in stream.groups(call.store)? {
        let consumers = stream.consumers(call.store, &name)?.len();
        replies.push(Reply::Map(vec![
            field("name", Reply::Bulk(name)),
            field("consumers", integer(consumers as u64)),
            field("pending", integer(group.pending)),
            field("last-delivered-id", group.last_id.reply()),
            field("entries-read", entries_read_reply(&group)),
            field("lag", lag_reply(call, &stream, &group)?),
        ]));
    }
    Ok(Reply::Array(replies).into())
}

/// XINFO CONSUMERS key group.
pub(crate) fn xinfo_consumers(call: &mut DataCall<'_>) -> Outcome {
    let stream = info_stream(call)?;
    let name = call.arguments[3].clone();
    if stream.group(call.store, &name)?.is_none() {
        return Err(Reply::error(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            String::from_utf8_lossy(&name),
            String::from_utf8_lossy(&call.arguments[2])
        ))
        .into());
    }
    let now = call.now_ms();
    let consumers = stream
        .consumers(call.store, &name)?
        .into_iter()
        .map(|(consumer, record)| {
            Reply::Map(vec![
                field("name", Reply::Bulk(consumer)),
                field("pending", integer(record.pending)),
                field("idle", Reply::Integer((now - record.seen_ms).max(0))),
            ])
        })
        .collect();
    Ok(Reply::Array(consumers).into())
}

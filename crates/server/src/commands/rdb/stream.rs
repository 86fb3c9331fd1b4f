//! A stream in Redis's RDB encoding (`STREAM_LISTPACKS` 1 to 3) to and
//! from keel's stream elements (`stream_layout.rs`).
//!
//! ```text
//! nodes: count | per node: master ID (16-byte string, BE) | listpack
//!   listpack: live count | deleted count | master field count |
//!             master fields | 0 | entries, each:
//!             flags | ms - master ms | seq - master seq |
//!             [field count | field value ...] or, with SAMEFIELDS, values |
//!             lp-count (elements of the entry before it)
//! length | last ID (ms, seq) | v2+: first ID, max deleted ID, entries added
//! groups: count | per group: name | last ID | v2+: entries read |
//!   PEL: count | per entry: ID (16 bytes BE) | delivery ms (u64 LE) | deliveries
//!   consumers: count | per consumer: name | seen ms (u64 LE) |
//!     v3: active ms (u64 LE) | PEL: count | IDs (16 bytes BE)
//! ```
//! Every number without a width is an RDB length.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::super::dump_payload::PayloadError;
use super::super::encoding::MEMBER_TAG;
use super::super::stream_id::{STREAM_ID_BYTES, StreamId};
use super::super::stream_layout::{
    CONSUMER_PENDING_TAG, CONSUMER_TAG, ConsumerRecord, ENTRIES_READ_UNKNOWN, EntryValue,
    GROUP_PENDING_TAG, GROUP_TAG, GroupRecord, Pending, STREAM_STATE_TAG, StreamState, joined,
};
use super::packed::{self, ListpackWriter, Packed};
use super::payload::object_type;
use super::reader::RdbReader;
use super::writer::{push_length, push_string};

/// An entry deleted by XDEL but still in its listpack.
const FLAG_DELETED: i64 = 1;
/// An entry whose fields are its node's master fields.
const FLAG_SAME_FIELDS: i64 = 2;

/// Elements of an entry besides its fields and values: flags, two ID
/// parts, lp-count.
const ENTRY_EXTRA_ELEMENTS: i64 = 3;

type Elements = Vec<(Bytes, Bytes)>;
type Pairs = Vec<(Bytes, Bytes)>;
/// A node's live entries, and how many it ever held.
type NodeEntries = (Vec<(StreamId, Pairs)>, u64);

fn element(tag: u8, rest: &[u8], value: Bytes) -> (Bytes, Bytes) {
    let mut key = Vec::with_capacity(1 + rest.len());
    key.push(tag);
    key.extend_from_slice(rest);
    (Bytes::from(key), value)
}

/// The live entries of one node's listpack and how many it ever held.
fn node_entries(master: StreamId, items: &[Packed<'_>]) -> Result<NodeEntries, &'static str> {
    let mut items = items.iter();
    let mut next = || -> Result<Bytes, &'static str> {
        items
            .next()
            .map(Packed::to_bytes)
            .ok_or("a stream node cut short")
    };
    let integer =
        |next: &mut dyn FnMut() -> Result<Bytes, &'static str>| -> Result<i64, &'static str> {
            Packed::Text(&next()?)
                .integer()
                .ok_or("a stream node's number")
        };
    let live = integer(&mut next)?;
    let deleted = integer(&mut next)?;
    let master_count = integer(&mut next)?;
    let held = live
        .checked_add(deleted)
        .filter(|&held| held >= 0 && master_count >= 0);
    let held = held.ok_or("a stream node's counts")?;
    let mut master_fields = Vec::new();
    for _ in 0..master_count {
        master_fields.push(next()?);
    }
    if integer(&mut next)? != 0 {
        return Err("a stream node's master terminator");
    }
    let mut entries = Vec::new();
    for _ in 0..held {
        let flags = integer(&mut next)?;
        let ms = master.ms.wrapping_add(integer(&mut next)? as u64);
        let seq = master.seq.wrapping_add(integer(&mut next)? as u64);
        let mut pairs = Vec::new();
        let count = if flags & FLAG_SAME_FIELDS != 0 {
            for field in &master_fields {
                pairs.push((field.clone(), next()?));
            }
            master_count
        } else {
            let count = integer(&mut next)?;
            for _ in 0..count {
                let field = next()?;
                pairs.push((field, next()?));
            }
            2 * count + 1
        };
        if integer(&mut next)? != count + ENTRY_EXTRA_ELEMENTS {
            return Err("a stream entry's lp-count");
        }
        if flags & FLAG_DELETED == 0 {
            entries.push((StreamId::new(ms, seq), pairs));
        }
    }
    if next().is_ok() || entries.len() as i64 != live {
        return Err("a stream node's entries");
    }
    Ok((entries, held as u64))
}

fn stream_id(reader: &mut RdbReader<'_>) -> Result<StreamId, PayloadError> {
    Ok(StreamId::new(reader.length()?, reader.length()?))
}

fn raw_id(reader: &mut RdbReader<'_>) -> Result<StreamId, PayloadError> {
    let bytes = reader.take(STREAM_ID_BYTES, "a stream ID")?;
    StreamId::from_bytes(bytes).ok_or_else(|| reader.error("a stream ID"))
}

/// Reads the nodes, returning the entry elements and the stream's state
/// but for what follows the nodes.
fn decode_nodes(reader: &mut RdbReader<'_>) -> Result<(Elements, StreamState, u64), PayloadError> {
    let nodes = reader.count(2)?;
    let mut elements = Vec::new();
    let mut state = StreamState::default();
    let mut live = 0u64;
    let mut previous: Option<StreamId> = None;
    for node in 0..nodes as u64 {
        let key = reader.string()?;
        let master =
            StreamId::from_bytes(&key).ok_or_else(|| reader.error("a stream node's key"))?;
        let blob = reader.string()?;
        let items = packed::listpack(&blob).map_err(|what| reader.error(what))?;
        let (entries, held) = node_entries(master, &items).map_err(|what| reader.error(what))?;
        if held == 0 {
            return Err(reader.error("an empty stream node"));
        }
        state.tail_node = node;
        state.tail_node_entries = held;
        state.tail_node_live = entries.len() as u64;
        for (id, pairs) in entries {
            if previous.is_some_and(|previous| previous >= id) || id < master {
                return Err(reader.error("stream entries out of order"));
            }
            previous = Some(id);
            let value = EntryValue { node, pairs }.encode();
            elements.push(element(MEMBER_TAG, &id.to_bytes(), value));
            live += 1;
        }
    }
    Ok((elements, state, live))
}

/// Reads a stream of RDB type `kind` into keel's stream elements.
pub fn decode(reader: &mut RdbReader<'_>, kind: u8) -> Result<Elements, PayloadError> {
    let (mut elements, mut state, live) = decode_nodes(reader)?;
    let greatest = elements
        .last()
        .and_then(|(key, _)| StreamId::from_bytes(&key[1..]));
    let length = reader.length()?;
    state.last_id = stream_id(reader)?;
    if kind == object_type::STREAM_LISTPACKS {
        state.entries_added = length;
    } else {
        stream_id(reader)?; // The first ID, which keel finds when asked.
        state.max_deleted_id = stream_id(reader)?;
        state.entries_added = reader.length()?;
    }
    if length != live || greatest.is_some_and(|greatest| greatest > state.last_id) {
        return Err(reader.error("a stream length or last ID its entries contradict"));
    }
    elements.push(element(STREAM_STATE_TAG, &[], state.encode()));
    let first = elements
        .first()
        .filter(|(key, _)| key[0] == MEMBER_TAG)
        .and_then(|(key, _)| StreamId::from_bytes(&key[1..]));
    let context = GroupContext {
        kind,
        state: &state,
        length,
        first,
    };
    let groups = reader.count(3)?;
    let mut names = std::collections::HashSet::new();
    for _ in 0..groups {
        let name = reader.string()?;
        if !names.insert(name.clone()) {
            return Err(reader.error("a consumer group twice"));
        }
        decode_group(reader, &context, &name, &mut elements)?;
    }
    Ok(elements)
}

/// Reads one consumer group (after its name) into elements.
/// The stream a group belongs to, as a group's decoding needs it.
struct GroupContext<'a> {
    kind: u8,
    state: &'a StreamState,
    /// Live entries.
    length: u64,
    /// The first live entry's ID.
    first: Option<StreamId>,
}

/// A v1 group's entries read, which its payload does not carry: Redis's
/// `streamEstimateDistanceFromFirstEverEntry` on a stream whose entries
/// added is its length and that has no tombstone.
fn estimate_entries_read(
    state: &StreamState,
    length: u64,
    first: Option<StreamId>,
    id: StreamId,
) -> i64 {
    let added = state.entries_added as i64;
    if added == 0 {
        return 0;
    }
    if (length == 0 && id <= state.last_id) || id == state.last_id {
        return added;
    }
    match first {
        _ if id > state.last_id => ENTRIES_READ_UNKNOWN,
        Some(first) if id < first => added - length as i64,
        Some(first) if id == first => added - length as i64 + 1,
        _ => ENTRIES_READ_UNKNOWN,
    }
}

fn decode_group(
    reader: &mut RdbReader<'_>,
    context: &GroupContext<'_>,
    name: &[u8],
    elements: &mut Elements,
) -> Result<(), PayloadError> {
    let GroupContext {
        kind,
        state,
        length,
        first,
    } = *context;
    let last_id = stream_id(reader)?;
    let entries_read = if kind == object_type::STREAM_LISTPACKS {
        estimate_entries_read(state, length, first, last_id)
    } else {
        reader.length()? as i64
    };
    let pel_count = reader.count(STREAM_ID_BYTES + 9)?;
    let mut pel: BTreeMap<StreamId, (i64, u64, Option<Bytes>)> = BTreeMap::new();
    for _ in 0..pel_count {
        let id = raw_id(reader)?;
        let delivery_ms = reader.u64_le("a delivery time")? as i64;
        let deliveries = reader.length()?;
        if pel.insert(id, (delivery_ms, deliveries, None)).is_some() {
            return Err(reader.error("a pending entry twice"));
        }
    }
    let consumers = reader.count(10)?;
    let mut seen_consumers = std::collections::HashSet::new();
    for _ in 0..consumers {
        let consumer = reader.string()?;
        if !seen_consumers.insert(consumer.clone()) {
            return Err(reader.error("a consumer twice"));
        }
        let seen_ms = reader.u64_le("a consumer's seen time")? as i64;
        if kind == object_type::STREAM_LISTPACKS_3 {
            reader.u64_le("a consumer's active time")?;
        }
        let owned = reader.count(STREAM_ID_BYTES)?;
        for _ in 0..owned {
            let id = raw_id(reader)?;
            let owner = match pel.get_mut(&id) {
                Some((_, _, owner @ None)) => owner,
                _ => return Err(reader.error("a consumer's entry not pending in its group")),
            };
            *owner = Some(consumer.clone());
            let rest = joined(name, &joined(&consumer, &id.to_bytes()));
            elements.push(element(CONSUMER_PENDING_TAG, &rest, Bytes::new()));
        }
        let record = ConsumerRecord {
            seen_ms,
            pending: owned as u64,
        };
        elements.push(element(
            CONSUMER_TAG,
            &joined(name, &consumer),
            record.encode(),
        ));
    }
    let record = GroupRecord {
        last_id,
        entries_read,
        pending: pel.len() as u64,
    };
    elements.push(element(GROUP_TAG, name, record.encode()));
    for (id, (delivery_ms, deliveries, consumer)) in pel {
        let consumer =
            consumer.ok_or_else(|| reader.error("a pending entry without a consumer"))?;
        let value = Pending {
            delivery_ms,
            deliveries,
            consumer,
        }
        .encode();
        elements.push(element(
            GROUP_PENDING_TAG,
            &joined(name, &id.to_bytes()),
            value,
        ));
    }
    Ok(())
}

/// A consumer group read back from keel's elements.
#[derive(Default)]
struct GroupOut {
    record: Option<GroupRecord>,
    pel: BTreeMap<StreamId, Pending>,
    consumers: BTreeMap<Bytes, (Option<ConsumerRecord>, Vec<StreamId>)>,
}

/// Splits `name_part(name) ‖ rest`.
fn split_name(bytes: &[u8]) -> Option<(Bytes, &[u8])> {
    let length = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let name = bytes.get(4..4 + length)?;
    Some((Bytes::copy_from_slice(name), &bytes[4 + length..]))
}

/// A stream's entries, state and groups from keel's elements.
struct StreamOut {
    entries: Vec<(StreamId, EntryValue)>,
    state: StreamState,
    groups: BTreeMap<Bytes, GroupOut>,
}

fn gather(elements: &[(Bytes, Bytes)]) -> Option<StreamOut> {
    let mut entries = Vec::new();
    let mut state = None;
    let mut groups: BTreeMap<Bytes, GroupOut> = BTreeMap::new();
    for (key, value) in elements {
        let (&tag, rest) = key.split_first()?;
        match tag {
            MEMBER_TAG => entries.push((StreamId::from_bytes(rest)?, EntryValue::decode(value)?)),
            STREAM_STATE_TAG => state = Some(StreamState::decode(value)?),
            GROUP_TAG => {
                let group = groups.entry(Bytes::copy_from_slice(rest)).or_default();
                group.record = Some(GroupRecord::decode(value)?);
            }
            GROUP_PENDING_TAG => {
                let (group, id) = split_name(rest)?;
                let pending = Pending::decode(value)?;
                groups
                    .entry(group)
                    .or_default()
                    .pel
                    .insert(StreamId::from_bytes(id)?, pending);
            }
            CONSUMER_TAG => {
                let (group, consumer) = split_name(rest)?;
                let group = groups.entry(group).or_default();
                let entry = group
                    .consumers
                    .entry(Bytes::copy_from_slice(consumer))
                    .or_default();
                entry.0 = Some(ConsumerRecord::decode(value)?);
            }
            CONSUMER_PENDING_TAG => {
                let (group, rest) = split_name(rest)?;
                let (consumer, id) = split_name(rest)?;
                let group = groups.entry(group).or_default();
                group
                    .consumers
                    .entry(consumer)
                    .or_default()
                    .1
                    .push(StreamId::from_bytes(id)?);
            }
            _ => return None,
        }
    }
    entries.sort_by_key(|(id, _)| *id);
    Some(StreamOut {
        entries,
        state: state?,
        groups,
    })
}

/// One node's listpack: the master entry, then each entry relative to it.
fn node_listpack(entries: &[(StreamId, EntryValue)]) -> Vec<u8> {
    let mut listpack = ListpackWriter::default();
    let (master, first) = &entries[0];
    let master_fields: Vec<&Bytes> = first.pairs.iter().map(|(field, _)| field).collect();
    listpack.integer(entries.len() as i64);
    listpack.integer(0);
    listpack.integer(master_fields.len() as i64);
    for field in &master_fields {
        listpack.text(field);
    }
    listpack.integer(0);
    for (id, value) in entries {
        let same = value.pairs.len() == master_fields.len()
            && value
                .pairs
                .iter()
                .zip(&master_fields)
                .all(|((field, _), master)| field == *master);
        let count = value.pairs.len() as i64;
        listpack.integer(if same { FLAG_SAME_FIELDS } else { 0 });
        listpack.integer(id.ms.wrapping_sub(master.ms) as i64);
        listpack.integer(id.seq.wrapping_sub(master.seq) as i64);
        if same {
            for (_, value) in &value.pairs {
                listpack.text(value);
            }
            listpack.integer(count + ENTRY_EXTRA_ELEMENTS);
        } else {
            listpack.integer(count);
            for (field, value) in &value.pairs {
                listpack.text(field);
                listpack.text(value);
            }
            listpack.integer(2 * count + 1 + ENTRY_EXTRA_ELEMENTS);
        }
    }
    listpack.finish()
}

/// Writes keel's stream `elements` as a `STREAM_LISTPACKS_2` value (after
/// its type byte): a node per run of entries keel added to one node.
pub fn encode(out: &mut Vec<u8>, elements: &[(Bytes, Bytes)]) -> Result<(), PayloadError> {
    let stream = gather(elements).ok_or(PayloadError::Malformed {
        offset: 0,
        what: "stream elements that do not decode",
    })?;
    let nodes: Vec<&[(StreamId, EntryValue)]> = stream
        .entries
        .chunk_by(|(_, a), (_, b)| a.node == b.node)
        .collect();
    push_length(out, nodes.len() as u64);
    for node in nodes {
        push_string(out, &node[0].0.to_bytes());
        push_string(out, &node_listpack(node));
    }
    let push_id = |out: &mut Vec<u8>, id: StreamId| {
        push_length(out, id.ms);
        push_length(out, id.seq);
    };
    let state = stream.state;
    push_length(out, stream.entries.len() as u64);
    push_id(out, state.last_id);
    push_id(
        out,
        stream.entries.first().map_or(StreamId::MIN, |(id, _)| *id),
    );
    push_id(out, state.max_deleted_id);
    push_length(out, state.entries_added);
    push_length(out, stream.groups.len() as u64);
    for (name, group) in &stream.groups {
        let record = group.record.unwrap_or(GroupRecord {
            last_id: StreamId::MIN,
            entries_read: ENTRIES_READ_UNKNOWN,
            pending: 0,
        });
        push_string(out, name);
        push_id(out, record.last_id);
        push_length(out, record.entries_read as u64);
        push_length(out, group.pel.len() as u64);
        for (id, pending) in &group.pel {
            out.extend_from_slice(&id.to_bytes());
            out.extend_from_slice(&pending.delivery_ms.to_le_bytes());
            push_length(out, pending.deliveries);
        }
        push_length(out, group.consumers.len() as u64);
        for (consumer, (record, owned)) in &group.consumers {
            push_string(out, consumer);
            out.extend_from_slice(&record.map_or(0, |record| record.seen_ms).to_le_bytes());
            push_length(out, owned.len() as u64);
            for id in owned {
                out.extend_from_slice(&id.to_bytes());
            }
        }
    }
    Ok(())
}

//! A stream in use: its collection and state as read, and the typed
//! reads and writes of its elements (`stream_layout.rs`) that the stream
//! commands are written over. The counters (length, a group's and a
//! consumer's pending counts) are kept here, so the handlers cannot let
//! them drift from the elements.

use std::ops::Bound;

use bytes::Bytes;

use super::collection::Collection;
use super::encoding::{Kind, MEMBER_TAG};
use super::stream_id::{STREAM_ID_BYTES, StreamId};
use super::stream_layout::{
    CONSUMER_PENDING_TAG, CONSUMER_TAG, ConsumerRecord, EntryValue, GROUP_PENDING_TAG, GROUP_TAG,
    GroupRecord, Pending, STREAM_STATE_TAG, StreamState, joined, name_part,
};
use super::{DataCall, Failure, KeyValueStore, StoreError};
use crate::resp::Reply;

type Result<T> = std::result::Result<T, Failure>;

/// A stream read from the store (or new), to change and save.
#[derive(Debug)]
pub(crate) struct Stream {
    /// Its collection (the header's count is the stream's length).
    pub collection: Collection,
    /// Its state.
    pub state: StreamState,
    stored_state: Option<StreamState>,
}

/// An entry as read: its ID and value.
pub(crate) type Entry = (StreamId, EntryValue);

fn damaged(what: &str) -> Failure {
    Failure::Store(StoreError::Backend {
        message: format!("damaged stream element: {what}"),
    })
}

/// The first key after every key starting with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl DataCall<'_> {
    /// The stream at `key`; WRONGTYPE for another type.
    pub(crate) fn stream(&mut self, key: &[u8]) -> Result<Option<Stream>> {
        let Some(collection) = self.collection(key, Kind::Stream)? else {
            return Ok(None);
        };
        let state = collection
            .get(self.store, STREAM_STATE_TAG, b"")?
            .and_then(|bytes| StreamState::decode(&bytes))
            .ok_or_else(|| damaged("state"))?;
        Ok(Some(Stream {
            collection,
            state,
            stored_state: Some(state),
        }))
    }

    /// The stream at `key`, or a new empty one (stored by its save).
    pub(crate) fn stream_or_new(&mut self, key: &[u8]) -> Result<Stream> {
        if let Some(stream) = self.stream(key)? {
            return Ok(stream);
        }
        Ok(Stream {
            collection: self.new_collection(key, Kind::Stream)?,
            state: StreamState::default(),
            stored_state: None,
        })
    }

    /// Writes back what changed of `stream` (an empty stream stays).
    pub(crate) fn save_stream(&mut self, stream: &mut Stream) -> Result<()> {
        if stream.stored_state != Some(stream.state) {
            stream
                .collection
                .put(self.store, STREAM_STATE_TAG, b"", stream.state.encode())?;
            stream.stored_state = Some(stream.state);
        }
        self.save(&stream.collection)
    }
}

impl Stream {
    /// Entries (XLEN).
    pub fn len(&self) -> u64 {
        self.collection.header.count
    }

    /// Up to `count_max` entries between the bounds, in order or reversed.
    pub fn entries(
        &self,
        store: &mut dyn KeyValueStore,
        from: Bound<StreamId>,
        to: Bound<StreamId>,
        reverse: bool,
        count_max: usize,
    ) -> Result<Vec<Entry>> {
        let (from, to) = (from.map(StreamId::to_bytes), to.map(StreamId::to_bytes));
        let raw = self.collection.range(
            store,
            MEMBER_TAG,
            (as_slice(&from), as_slice(&to)),
            reverse,
            count_max,
        )?;
        raw.into_iter()
            .map(|(id, value)| {
                let id = StreamId::from_bytes(&id).ok_or_else(|| damaged("entry ID"))?;
                let value = EntryValue::decode(&value).ok_or_else(|| damaged("entry"))?;
                Ok((id, value))
            })
            .collect()
    }

    /// The entry `id`, if there.
    pub fn entry(&self, store: &mut dyn KeyValueStore, id: StreamId) -> Result<Option<EntryValue>> {
        match self.collection.get(store, MEMBER_TAG, &id.to_bytes())? {
            None => Ok(None),
            Some(bytes) => Ok(Some(
                EntryValue::decode(&bytes).ok_or_else(|| damaged("entry"))?,
            )),
        }
    }

    /// The first (or last) entry's ID.
    pub fn edge_id(&self, store: &mut dyn KeyValueStore, last: bool) -> Result<Option<StreamId>> {
        let edge = self.entries(store, Bound::Unbounded, Bound::Unbounded, last, 1)?;
        Ok(edge.first().map(|(id, _)| *id))
    }

    /// Redis's `first_id`: the first entry's ID, `0-0` when empty.
    pub fn first_id(&self, store: &mut dyn KeyValueStore) -> Result<StreamId> {
        Ok(self.edge_id(store, false)?.unwrap_or(StreamId::MIN))
    }

    /// Appends an entry with `id` (greater than the last ID), in the tail
    /// node unless it is full (`node_entries_max` entries; 0: no limit).
    pub fn append(
        &mut self,
        store: &mut dyn KeyValueStore,
        id: StreamId,
        pairs: Vec<(Bytes, Bytes)>,
        node_entries_max: u64,
    ) -> Result<()> {
        debug_assert!(id > self.state.last_id || self.state.entries_added == 0);
        let state = &mut self.state;
        let full = node_entries_max != 0 && state.tail_node_entries >= node_entries_max;
        if state.tail_node_live == 0 || full {
            state.tail_node += 1;
            state.tail_node_entries = 0;
            state.tail_node_live = 0;
        }
        state.tail_node_entries += 1;
        state.tail_node_live += 1;
        state.last_id = id;
        state.entries_added += 1;
        let value = EntryValue {
            node: state.tail_node,
            pairs,
        };
        self.collection
            .put(store, MEMBER_TAG, &id.to_bytes(), value.encode())?;
        self.collection.header.count += 1;
        Ok(())
    }

    /// Deletes the entry `id` of `node`, which is there.
    pub fn delete_entry(
        &mut self,
        store: &mut dyn KeyValueStore,
        id: StreamId,
        node: u64,
    ) -> Result<()> {
        self.collection.remove(store, MEMBER_TAG, &id.to_bytes())?;
        self.collection.header.count -= 1;
        if node == self.state.tail_node {
            self.state.tail_node_live = self.state.tail_node_live.saturating_sub(1);
        }
        Ok(())
    }
}

/// Consumer groups.
impl Stream {
    /// The group `name`, if there.
    pub fn group(&self, store: &mut dyn KeyValueStore, name: &[u8]) -> Result<Option<GroupRecord>> {
        match self.collection.get(store, GROUP_TAG, name)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(
                GroupRecord::decode(&bytes).ok_or_else(|| damaged("group"))?,
            )),
        }
    }

    /// Writes the group `name`.
    pub fn put_group(
        &self,
        store: &mut dyn KeyValueStore,
        name: &[u8],
        group: &GroupRecord,
    ) -> Result<()> {
        Ok(self
            .collection
            .put(store, GROUP_TAG, name, group.encode())?)
    }

    /// Every group, by name.
    pub fn groups(&self, store: &mut dyn KeyValueStore) -> Result<Vec<(Bytes, GroupRecord)>> {
        self.collection
            .all(store, GROUP_TAG)?
            .into_iter()
            .map(|(name, bytes)| {
                let group = GroupRecord::decode(&bytes).ok_or_else(|| damaged("group"))?;
                Ok((name, group))
            })
            .collect()
    }

    /// Deletes every element under `tag` whose rest starts with `prefix`.
    fn delete_prefixed(&self, store: &mut dyn KeyValueStore, tag: u8, prefix: &[u8]) -> Result<()> {
        let end = prefix_end(prefix);
        let to = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let doomed =
            self.collection
                .range(store, tag, (Bound::Included(prefix), to), false, usize::MAX)?;
        for (rest, _) in doomed {
            self.collection.remove(store, tag, &rest)?;
        }
        Ok(())
    }

    /// Deletes the group `name` with its PEL and consumers.
    pub fn delete_group(&self, store: &mut dyn KeyValueStore, name: &[u8]) -> Result<()> {
        let prefix = name_part(name);
        for tag in [GROUP_PENDING_TAG, CONSUMER_TAG, CONSUMER_PENDING_TAG] {
            self.delete_prefixed(store, tag, &prefix)?;
        }
        Ok(self.collection.remove(store, GROUP_TAG, name)?)
    }

    /// The group's pending entry `id`, if there.
    pub fn pending(
        &self,
        store: &mut dyn KeyValueStore,
        group: &[u8],
        id: StreamId,
    ) -> Result<Option<Pending>> {
        let rest = joined(group, &id.to_bytes());
        match self.collection.get(store, GROUP_PENDING_TAG, &rest)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(
                Pending::decode(&bytes).ok_or_else(|| damaged("pending entry"))?,
            )),
        }
    }

    /// Up to `count_max` of the group's pending entries with IDs in
    /// `from..=to`, in order.
    pub fn pending_range(
        &self,
        store: &mut dyn KeyValueStore,
        group: &[u8],
        from: StreamId,
        to: StreamId,
        count_max: usize,
    ) -> Result<Vec<(StreamId, Pending)>> {
        let from = joined(group, &from.to_bytes());
        let to = joined(group, &to.to_bytes());
        let prefix_bytes = from.len() - STREAM_ID_BYTES;
        let raw = self.collection.range(
            store,
            GROUP_PENDING_TAG,
            (Bound::Included(&from), Bound::Included(&to)),
            false,
            count_max,
        )?;
        raw.into_iter()
            .map(|(rest, bytes)| {
                let id = StreamId::from_bytes(&rest[prefix_bytes..])
                    .ok_or_else(|| damaged("pending ID"))?;
                let pending = Pending::decode(&bytes).ok_or_else(|| damaged("pending entry"))?;
                Ok((id, pending))
            })
            .collect()
    }

    /// The first (or last) ID of the group's PEL.
    pub fn pending_edge(
        &self,
        store: &mut dyn KeyValueStore,
        group: &[u8],
        last: bool,
    ) -> Result<Option<StreamId>> {
        let from = joined(group, &StreamId::MIN.to_bytes());
        let to = joined(group, &StreamId::MAX.to_bytes());
        let edge = self.collection.range(
            store,
            GROUP_PENDING_TAG,
            (Bound::Included(&from), Bound::Included(&to)),
            last,
            1,
        )?;
        match edge.first() {
            None => Ok(None),
            Some((rest, _)) => Ok(Some(
                StreamId::from_bytes(&rest[from.len() - STREAM_ID_BYTES..])
                    .ok_or_else(|| damaged("pending ID"))?,
            )),
        }
    }

    /// Up to `count_max` IDs of the consumer's PEL from `from` on.
    pub fn consumer_pending_ids(
        &self,
        store: &mut dyn KeyValueStore,
        group: &[u8],
        consumer: &[u8],
        from: StreamId,
        to: StreamId,
        count_max: usize,
    ) -> Result<Vec<StreamId>> {
        let base = joined(group, &name_part(consumer));
        let key = |id: StreamId| {
            let mut key = base.clone();
            key.extend_from_slice(&id.to_bytes());
            key
        };
        let (from, to) = (key(from), key(to));
        let raw = self.collection.range(
            store,
            CONSUMER_PENDING_TAG,
            (Bound::Included(&from), Bound::Included(&to)),
            false,
            count_max,
        )?;
        raw.into_iter()
            .map(|(rest, _)| {
                StreamId::from_bytes(&rest[base.len()..]).ok_or_else(|| damaged("pending ID"))
            })
            .collect()
    }

    /// The consumer `name` of `group`, if there.
    pub fn consumer(
        &self,
        store: &mut dyn KeyValueStore,
        group: &[u8],
        name: &[u8],
    ) -> Result<Option<ConsumerRecord>> {
        match self
            .collection
            .get(store, CONSUMER_TAG, &joined(group, name))?
        {
            None => Ok(None),
            Some(bytes) => Ok(Some(
                ConsumerRecord::decode(&bytes).ok_or_else(|| damaged("consumer"))?,
            )),
        }
    }

    /// Writes the consumer `name` of `group`.
    pub fn put_consumer(
        &self,
        store: &mut dyn KeyValueStore,
        group: &[u8],
        name: &[u8],
        consumer: &ConsumerRecord,
    ) -> Result<()> {
        let rest = joined(group, name);
        Ok(self
            .collection
            .put(store, CONSUMER_TAG, &rest, consumer.encode())?)
    }

    /// Every consumer of `group`, by name.
    pub fn consumers(
        &self,
        store: &mut dyn KeyValueStore,
        group: &[u8],
    ) -> Result<Vec<(Bytes, ConsumerRecord)>> {
        let prefix = name_part(group);
        let end = prefix_end(&prefix);
        let to = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let raw = self.collection.range(
            store,
            CONSUMER_TAG,
            (Bound::Included(&prefix), to),
            false,
            usize::MAX,
        )?;
        raw.into_iter()
            .map(|(rest, bytes)| {
                let record = ConsumerRecord::decode(&bytes).ok_or_else(|| damaged("consumer"))?;
                Ok((rest.slice(prefix.len()..), record))
            })
            .collect()
    }

    /// Deletes the consumer `name` of `group` and its pending entries
    /// (which leave the group's PEL too); how many it had.
    pub fn delete_consumer(
        &self,
        store: &mut dyn KeyValueStore,
        group: &[u8],
        name: &[u8],
        group_record: &mut GroupRecord,
    ) -> Result<u64> {
        let ids = self.consumer_pending_ids(
            store,
            group,
            name,
            StreamId::MIN,
            StreamId::MAX,
            usize::MAX,
        )?;
        for &id in &ids {
            self.collection
                .remove(store, GROUP_PENDING_TAG, &joined(group, &id.to_bytes()))?;
        }
        self.delete_prefixed(
            store,
            CONSUMER_PENDING_TAG,
            &joined(group, &name_part(name)),
        )?;
        self.collection
            .remove(store, CONSUMER_TAG, &joined(group, name))?;
        group_record.pending -= ids.len() as u64;
        Ok(ids.len() as u64)
    }

    /// Gives the group's entry `id` to `consumer` (its record in
    /// `records`), taking it from its previous owner if pending:
    /// `pending` is the entry's new record.
    pub fn assign_pending(
        &self,
        store: &mut dyn KeyValueStore,
        group: &[u8],
        group_record: &mut GroupRecord,
        id: StreamId,
        pending: &Pending,
    ) -> Result<()> {
        let previous = self.pending(store, group, id)?;
        if let Some(previous) = &previous {
            self.remove_consumer_pending(store, group, &previous.consumer, id)?;
        } else {
            group_record.pending += 1;
        }
        let rest = joined(group, &id.to_bytes());
        self.collection
            .put(store, GROUP_PENDING_TAG, &rest, pending.encode())?;
        let mut own = joined(group, &name_part(&pending.consumer));
        own.extend_from_slice(&id.to_bytes());
        self.collection
            .put(store, CONSUMER_PENDING_TAG, &own, Bytes::new())?;
        let mut record =
            self.consumer(store, group, &pending.consumer)?
                .unwrap_or(ConsumerRecord {
                    seen_ms: pending.delivery_ms,
                    pending: 0,
                });
        record.pending += 1;
        self.put_consumer(store, group, &pending.consumer, &record)
    }

    /// Rewrites the group's pending entry `id` (same consumer).
    pub fn update_pending(
        &self,
        store: &mut dyn KeyValueStore,
        group: &[u8],
        id: StreamId,
        pending: &Pending,
    ) -> Result<()> {
        let rest = joined(group, &id.to_bytes());
        Ok(self
            .collection
            .put(store, GROUP_PENDING_TAG, &rest, pending.encode())?)
    }

    /// Removes the group's pending entry `id` held by `owner` (XACK).
    pub fn acknowledge(
        &self,
        store: &mut dyn KeyValueStore,
        group: &[u8],
        group_record: &mut GroupRecord,
        id: StreamId,
        owner: &[u8],
    ) -> Result<()> {
        self.collection
            .remove(store, GROUP_PENDING_TAG, &joined(group, &id.to_bytes()))?;
        group_record.pending -= 1;
        self.remove_consumer_pending(store, group, owner, id)
    }

    fn remove_consumer_pending(
        &self,
        store: &mut dyn KeyValueStore,
        group: &[u8],
        owner: &[u8],
        id: StreamId,
    ) -> Result<()> {
        let mut own = joined(group, &name_part(owner));
        own.extend_from_slice(&id.to_bytes());
        self.collection.remove(store, CONSUMER_PENDING_TAG, &own)?;
        if let Some(mut record) = self.consumer(store, group, owner)? {
            record.pending = record.pending.saturating_sub(1);
            self.put_consumer(store, group, owner, &record)?;
        }
        Ok(())
    }
}

fn as_slice(bound: &Bound<[u8; STREAM_ID_BYTES]>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(id) => Bound::Included(&id[..]),
        Bound::Excluded(id) => Bound::Excluded(&id[..]),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The tags of a stream's elements after its header.
const STREAM_TAGS: [u8; 6] = [
    MEMBER_TAG,
    STREAM_STATE_TAG,
    GROUP_TAG,
    GROUP_PENDING_TAG,
    CONSUMER_TAG,
    CONSUMER_PENDING_TAG,
];

/// Every element of `stream` but its header, as `tag ‖ rest` and value
/// (DUMP).
pub(crate) fn raw_elements(
    call: &mut DataCall<'_>,
    stream: &Collection,
) -> Result<Vec<(Bytes, Bytes)>> {
    let mut elements = Vec::new();
    for tag in STREAM_TAGS {
        for (rest, value) in stream.all(call.store, tag)? {
            let mut key = Vec::with_capacity(1 + rest.len());
            key.push(tag);
            key.extend_from_slice(&rest);
            elements.push((Bytes::from(key), value));
        }
    }
    Ok(elements)
}

/// Writes a stream of `elements` ([`raw_elements`]) at `key`, which holds
/// nothing (RESTORE); a payload whose elements are not a stream's is
/// refused before anything is written.
pub(crate) fn restore(
    call: &mut DataCall<'_>,
    key: &[u8],
    elements: Vec<(Bytes, Bytes)>,
) -> Result<()> {
    let bad = || Failure::Reply(Reply::error("ERR Bad data format"));
    let mut states = 0;
    let mut length = 0u64;
    for (element, value) in &elements {
        match element.first() {
            Some(&MEMBER_TAG) => {
                StreamId::from_bytes(&element[1..]).ok_or_else(bad)?;
                EntryValue::decode(value).ok_or_else(bad)?;
                length += 1;
            }
            Some(&STREAM_STATE_TAG) if element.len() == 1 => {
                StreamState::decode(value).ok_or_else(bad)?;
                states += 1;
            }
            Some(tag) if STREAM_TAGS.contains(tag) => {}
            _ => return Err(bad()),
        }
    }
    if states != 1 {
        return Err(bad());
    }
    let mut collection = call.new_collection(key, Kind::Stream)?;
    for (element, value) in elements {
        collection.put(call.store, element[0], &element[1..], value)?;
    }
    collection.header.count = length;
    call.save(&collection)
}

/// An entry as Redis replies with it: `[id, [field, value, …]]`.
pub(crate) fn entry_reply(id: StreamId, value: EntryValue) -> Reply {
    let mut fields = Vec::with_capacity(value.pairs.len() * 2);
    for (field, value) in value.pairs {
        fields.push(Reply::Bulk(field));
        fields.push(Reply::Bulk(value));
    }
    Reply::Array(vec![id.reply(), Reply::Array(fields)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_bound_every_extension() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }
}

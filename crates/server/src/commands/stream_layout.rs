//! A stream's elements over the collection layout (`encoding.rs`;
//! docs/FORMAT.md, "Streams"): the entries by ID under `MEMBER_TAG`, the
//! stream's own state (last ID, tombstone, counters) under
//! `STREAM_STATE_TAG`, and the consumer groups: each group, its pending
//! entries list (PEL) by ID, its consumers, and each consumer's PEL, each
//! under its tag and ordered so that every read is a range scan.
//!
//! A name inside an element key is `length (u32 BE) ‖ bytes`, so that
//! one group's (or consumer's) elements form one contiguous range.

use bytes::Bytes;

use super::stream_id::{STREAM_ID_BYTES, StreamId};

/// Tag of the stream's state element (its rest is empty).
pub const STREAM_STATE_TAG: u8 = 3;
/// Tag of a consumer group: rest = the group's name.
pub const GROUP_TAG: u8 = 4;
/// Tag of a group's pending entry: rest = name(group) ‖ ID.
pub const GROUP_PENDING_TAG: u8 = 5;
/// Tag of a consumer: rest = name(group) ‖ consumer name.
pub const CONSUMER_TAG: u8 = 6;
/// Tag of a consumer's pending entry: rest = name(group) ‖
/// name(consumer) ‖ ID (the value is empty).
pub const CONSUMER_PENDING_TAG: u8 = 7;

/// Words (u64) of the stream state element's value.
const STREAM_STATE_WORDS: usize = 8;

/// Bytes of the stream state element's value.
pub const STREAM_STATE_BYTES: usize = STREAM_STATE_WORDS * size_of::<u64>();
const _: () = assert!(STREAM_STATE_BYTES == 64);

/// Bytes of a group's value: last delivered ID, entries read, pending.
pub const GROUP_BYTES: usize = STREAM_ID_BYTES + 2 * size_of::<u64>();
const _: () = assert!(GROUP_BYTES == 32);

/// Bytes of a pending entry's fixed part (delivery time and count); the
/// consumer's name follows.
pub const PENDING_FIXED_BYTES: usize = 2 * size_of::<u64>();
const _: () = assert!(PENDING_FIXED_BYTES == 16);

/// Bytes of a consumer's value: seen time, pending count.
pub const CONSUMER_BYTES: usize = 2 * size_of::<u64>();
const _: () = assert!(CONSUMER_BYTES == 16);

/// Bytes of an entry value's fixed part: node (u64 LE), pair count (u32
/// LE); the pairs follow, each string as length (u32 LE) ‖ bytes.
pub const ENTRY_FIXED_BYTES: usize = size_of::<u64>() + size_of::<u32>();
const _: () = assert!(ENTRY_FIXED_BYTES == 12);

/// `entries_read` of a group whose count of reads is unknown.
pub const ENTRIES_READ_UNKNOWN: i64 = -1;

fn word(bytes: &[u8], index: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[index * 8..index * 8 + 8]);
    u64::from_le_bytes(word)
}

fn id_at(bytes: &[u8], index: usize) -> StreamId {
    StreamId::new(word(bytes, index), word(bytes, index + 1))
}

fn push_id(out: &mut Vec<u8>, id: StreamId) {
    out.extend_from_slice(&id.ms.to_le_bytes());
    out.extend_from_slice(&id.seq.to_le_bytes());
}

/// What a stream keeps besides its entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamState {
    /// The greatest ID ever added (or set by XSETID).
    pub last_id: StreamId,
    /// The greatest ID deleted by XDEL (or set by XSETID).
    pub max_deleted_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// The node new entries go to (Redis's radix-tree node, which
    /// approximate trimming removes whole).
    pub tail_node: u64,
    /// Entries added to the tail node.
    pub tail_node_entries: u64,
    /// Entries of the tail node still there.
    pub tail_node_live: u64,
}

impl StreamState {
    /// The state's bytes: eight u64 LE words.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(STREAM_STATE_BYTES);
        push_id(&mut out, self.last_id);
        push_id(&mut out, self.max_deleted_id);
        for value in [
            self.entries_added,
            self.tail_node,
            self.tail_node_entries,
            self.tail_node_live,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        debug_assert_eq!(out.len(), STREAM_STATE_BYTES);
        Bytes::from(out)
    }

    /// The state in `bytes`, if they are one.
    pub fn decode(bytes: &[u8]) -> Option<StreamState> {
        (bytes.len() == STREAM_STATE_BYTES).then(|| StreamState {
            last_id: id_at(bytes, 0),
            max_deleted_id: id_at(bytes, 2),
            entries_added: word(bytes, 4),
            tail_node: word(bytes, 5),
            tail_node_entries: word(bytes, 6),
            tail_node_live: word(bytes, 7),
        })
    }
}

/// An entry's value: its node and its field-value pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryValue {
    /// The node it was added to.
    pub node: u64,
    /// Fields and values, in order.
    pub pairs: Vec<(Bytes, Bytes)>,
}

impl EntryValue {
    /// The value's bytes.
    pub fn encode(&self) -> Bytes {
        let bytes: usize = self
            .pairs
            .iter()
            .map(|(field, value)| 8 + field.len() + value.len())
            .sum();
        let mut out = Vec::with_capacity(ENTRY_FIXED_BYTES + bytes);
        out.extend_from_slice(&self.node.to_le_bytes());
        out.extend_from_slice(&(self.pairs.len() as u32).to_le_bytes());
        for (field, value) in &self.pairs {
            for text in [field, value] {
                out.extend_from_slice(&(text.len() as u32).to_le_bytes());
                out.extend_from_slice(text);
            }
        }
        Bytes::from(out)
    }

    /// Only the node of an encoded value.
    pub fn node_of(bytes: &[u8]) -> Option<u64> {
        (bytes.len() >= ENTRY_FIXED_BYTES).then(|| word(bytes, 0))
    }

    /// The value in `bytes`, if they are one.
    pub fn decode(bytes: &Bytes) -> Option<EntryValue> {
        let node = EntryValue::node_of(bytes)?;
        let mut count = [0u8; 4];
        count.copy_from_slice(&bytes[8..12]);
        let count = u32::from_le_bytes(count) as usize;
        let mut offset = ENTRY_FIXED_BYTES;
        let mut take = || -> Option<Bytes> {
            let length = bytes.get(offset..offset + 4)?;
            let length = u32::from_le_bytes(length.try_into().ok()?) as usize;
            let start = offset + 4;
            let end = start
                .checked_add(length)
                .filter(|&end| end <= bytes.len())?;
            offset = end;
            Some(bytes.slice(start..end))
        };
        let mut pairs = Vec::with_capacity(count.min(bytes.len() / 8));
        for _ in 0..count {
            let field = take()?;
            let value = take()?;
            pairs.push((field, value));
        }
        (offset == bytes.len()).then_some(EntryValue { node, pairs })
    }
}

/// A consumer group's own record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupRecord {
    /// The last ID delivered to the group.
    pub last_id: StreamId,
    /// Entries the group has read, or [`ENTRIES_READ_UNKNOWN`].
    pub entries_read: i64,
    /// Entries in its PEL.
    pub pending: u64,
}

impl GroupRecord {
    /// The record's bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(GROUP_BYTES);
        push_id(&mut out, self.last_id);
        out.extend_from_slice(&self.entries_read.to_le_bytes());
        out.extend_from_slice(&self.pending.to_le_bytes());
        Bytes::from(out)
    }

    /// The record in `bytes`, if they are one.
    pub fn decode(bytes: &[u8]) -> Option<GroupRecord> {
        (bytes.len() == GROUP_BYTES).then(|| GroupRecord {
            last_id: id_at(bytes, 0),
            entries_read: word(bytes, 2) as i64,
            pending: word(bytes, 3),
        })
    }
}

/// A pending entry of a group: who has it, since when, how often
/// delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// When it was last delivered (Unix ms).
    pub delivery_ms: i64,
    /// How many times it was delivered.
    pub deliveries: u64,
    /// The consumer that has it.
    pub consumer: Bytes,
}

impl Pending {
    /// The record's bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(PENDING_FIXED_BYTES + self.consumer.len());
        out.extend_from_slice(&self.delivery_ms.to_le_bytes());
        out.extend_from_slice(&self.deliveries.to_le_bytes());
        out.extend_from_slice(&self.consumer);
        Bytes::from(out)
    }

    /// The record in `bytes`, if they are one.
    pub fn decode(bytes: &Bytes) -> Option<Pending> {
        (bytes.len() >= PENDING_FIXED_BYTES).then(|| Pending {
            delivery_ms: word(bytes, 0) as i64,
            deliveries: word(bytes, 1),
            consumer: bytes.slice(PENDING_FIXED_BYTES..),
        })
    }
}

/// A consumer's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// When it last read or claimed (Unix ms).
    pub seen_ms: i64,
    /// Entries in its PEL.
    pub pending: u64,
}

impl ConsumerRecord {
    /// The record's bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(CONSUMER_BYTES);
        out.extend_from_slice(&self.seen_ms.to_le_bytes());
        out.extend_from_slice(&self.pending.to_le_bytes());
        Bytes::from(out)
    }

    /// The record in `bytes`, if they are one.
    pub fn decode(bytes: &[u8]) -> Option<ConsumerRecord> {
        (bytes.len() == CONSUMER_BYTES).then(|| ConsumerRecord {
            seen_ms: word(bytes, 0) as i64,
            pending: word(bytes, 1),
        })
    }
}

/// `length (u32 BE) ‖ name`: a name that prefixes no other in a key.
pub fn name_part(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + name.len());
    out.extend_from_slice(&(name.len() as u32).to_be_bytes());
    out.extend_from_slice(name);
    out
}

/// `name_part(first) ‖ rest`.
pub fn joined(first: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut out = name_part(first);
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let state = StreamState {
            last_id: StreamId::new(5, 6),
            max_deleted_id: StreamId::new(3, 1),
            entries_added: 9,
            tail_node: 2,
            tail_node_entries: 4,
            tail_node_live: 3,
        };
        assert_eq!(StreamState::decode(&state.encode()), Some(state));
        assert_eq!(StreamState::decode(&[0; 5]), None);
        let entry = EntryValue {
            node: 7,
            pairs: vec![
                (Bytes::from_static(b"f"), Bytes::from_static(b"")),
                (Bytes::from_static(b""), Bytes::from_static(b"value")),
            ],
        };
        assert_eq!(EntryValue::decode(&entry.encode()), Some(entry.clone()));
        let encoded = entry.encode();
        for cut in 0..encoded.len() {
            assert_eq!(EntryValue::decode(&encoded.slice(..cut)), None, "{cut}");
        }
        let group = GroupRecord {
            last_id: StreamId::new(1, 2),
            entries_read: ENTRIES_READ_UNKNOWN,
            pending: 4,
        };
        assert_eq!(GroupRecord::decode(&group.encode()), Some(group));
        let pending = Pending {
            delivery_ms: 1234,
            deliveries: 2,
            consumer: Bytes::from_static(b"alice"),
        };
        assert_eq!(Pending::decode(&pending.encode()), Some(pending));
        let consumer = ConsumerRecord {
            seen_ms: 99,
            pending: 1,
        };
        assert_eq!(ConsumerRecord::decode(&consumer.encode()), Some(consumer));
    }

    #[test]
    fn name_parts_keep_one_group_contiguous() {
        let short = joined(b"a", &StreamId::MAX.to_bytes());
        let long = joined(b"ab", &StreamId::MIN.to_bytes());
        let next_prefix = name_part(b"a");
        assert!(short < long);
        assert!(short.starts_with(&next_prefix));
        assert!(!long.starts_with(&next_prefix));
    }
}

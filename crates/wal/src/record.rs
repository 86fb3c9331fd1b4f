//! The logical records of the log and their encoding (the payload that
//! fragments carry; framing is in `fragment.rs`).
//!
//! ```text
//! record     = kind:u8 body
//! Commit     (kind 1) = write_set
//! Prepare    (kind 6) = write_set global_id_len:varint global_id read_set
//!                       (the write set's timestamp is the prepare timestamp)
//! CommitPrepared (3)  = transaction_id:u64 commit_timestamp:u64
//! AbortPrepared  (4)  = transaction_id:u64
//! Checkpoint     (5)  = checkpoint_id:u64 fold_timestamp:u64
//! Prepare, old   (2)  = write_set (read, never written: no global id, and
//!                       its read set was not logged)
//! Part           (7)  = write_set, timestamp 0: entries of the Commit or
//!                       Prepare record of the same transaction that
//!                       follows (a write set too large for one record is
//!                       logged as parts, then that record)
//! write_set  = transaction_id:u64 timestamp:u64 count:varint entry*count
//! entry      = tag:u8 keyspace:varint key_len:varint key
//!              [value_len:varint value]      (tags 1 and 2)
//!              [expires_at_ms:u64]           (tag 2)
//! tag        = 1 put | 2 put with expiry | 3 delete
//! read_set   = 0                             (writes only: snapshot isolation)
//!            | 1 key_count:varint read_key*key_count
//!                range_count:varint (bound bound)*range_count  (serializable)
//!            | 2                             (unknown: hold every key)
//! read_key   = keyspace:varint key_len:varint key
//! bound      = 0 (unbounded) | 1 read_key (included) | 2 read_key (excluded)
//! ```
//! Fixed-width integers are little-endian; varints are LEB128 (at most 10
//! bytes, no overflow).

use crate::gather::{Gather, Sink};
use bytes::Bytes;

/// How one entry of a write set changes its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The key takes this value, optionally expiring at a wall-clock time
    /// (milliseconds since the Unix epoch).
    Put {
        /// The new value.
        value: Bytes,
        /// When the value expires, if it does.
        expires_at_ms: Option<u64>,
    },
    /// The key is deleted.
    Delete,
}

/// One key written by a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The keyspace the key belongs to.
    pub keyspace: u32,
    /// The key.
    pub key: Bytes,
    /// What happens to it.
    pub change: Change,
}

/// The writes of one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteSet {
    /// The transaction's id.
    pub transaction_id: u64,
    /// Its commit (or prepare) timestamp, a `keel_tso::Timestamp`'s raw value.
    pub timestamp: u64,
    /// The keys it wrote, in the order the engine gives them.
    pub entries: Vec<Entry>,
}

/// A key a prepared transaction read, as the log names keys: its keyspace
/// and the key within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadKey {
    /// The keyspace the key belongs to.
    pub keyspace: u32,
    /// The key.
    pub key: Bytes,
}

/// One end of a range a prepared transaction scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadBound {
    /// No bound on this side.
    Unbounded,
    /// The range includes the key.
    Included(ReadKey),
    /// The range stops just short of the key.
    Excluded(ReadKey),
}

/// A range of keys a prepared transaction scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRange {
    /// The lower end.
    pub lower: ReadBound,
    /// The upper end.
    pub upper: ReadBound,
}

/// What a prepared transaction read: what its prepared state holds against
/// conflicting writers until it is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadSet {
    /// The transaction validated only its writes (snapshot isolation): no
    /// read is held.
    WritesOnly,
    /// A serializable transaction's point reads and scanned ranges.
    Tracked {
        /// The keys it read.
        keys: Vec<ReadKey>,
        /// The ranges it scanned (the part each scan covered).
        ranges: Vec<ReadRange>,
    },
    /// Not known: an old prepare record (kind 2) did not log its reads.
    /// Whoever restores it should hold every key.
    Unknown,
}

/// A transaction prepared for two-phase commit: what it will write, the
/// global id its coordinator chose, and what it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    /// The write set; its timestamp is the prepare timestamp.
    pub write_set: WriteSet,
    /// The global id (empty in an old prepare record).
    pub global_id: Bytes,
    /// What it read.
    pub reads: ReadSet,
}

/// A record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A committed write set.
    Commit(WriteSet),
    /// A write set prepared for two-phase commit, with its global id and
    /// read set: durable, not yet decided.
    Prepare(Prepare),
    /// The prepared transaction commits at this timestamp.
    CommitPrepared {
        /// The prepared transaction.
        transaction_id: u64,
        /// Its commit timestamp.
        commit_timestamp: u64,
    },
    /// The prepared transaction is abandoned.
    AbortPrepared {
        /// The prepared transaction.
        transaction_id: u64,
    },
    /// Entries of the write set of the [`Record::Commit`] or
    /// [`Record::Prepare`] of the same transaction that follows later in
    /// the log; its `timestamp` is 0. Without that record (a crash before
    /// it) the parts belong to no transaction and are ignored.
    Part(WriteSet),
    /// A checkpoint completed: the base holds everything up to the fold
    /// timestamp.
    Checkpoint {
        /// The checkpoint's id.
        checkpoint_id: u64,
        /// The fold timestamp the checkpoint holds.
        fold_timestamp: u64,
    },
}

const KIND_COMMIT: u8 = 1;
/// The prepare record before it carried a global id and a read set: read,
/// never written.
const KIND_PREPARE_WITHOUT_READS: u8 = 2;
const KIND_COMMIT_PREPARED: u8 = 3;
const KIND_ABORT_PREPARED: u8 = 4;
const KIND_CHECKPOINT: u8 = 5;
const KIND_PREPARE: u8 = 6;
const KIND_PART: u8 = 7;

const READS_WRITES_ONLY: u8 = 0;
const READS_TRACKED: u8 = 1;
const READS_UNKNOWN: u8 = 2;

const BOUND_UNBOUNDED: u8 = 0;
const BOUND_INCLUDED: u8 = 1;
const BOUND_EXCLUDED: u8 = 2;

const TAG_PUT: u8 = 1;
const TAG_PUT_EXPIRING: u8 = 2;
const TAG_DELETE: u8 = 3;

/// The longest LEB128 encoding of a u64.
const VARINT_BYTES_MAX: usize = 10;

/// Why a record's bytes (whose checksum held) do not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record ended in the middle of a field.
    #[error("the record ends inside a field at byte {offset}")]
    Truncated {
        /// Where the missing field starts.
        offset: usize,
    },
    /// An unknown record kind (written by a newer keel?).
    #[error("unknown record kind {kind}")]
    UnknownKind {
        /// The kind byte found.
        kind: u8,
    },
    /// An unknown entry tag.
    #[error("unknown entry tag {tag} at byte {offset}")]
    UnknownTag {
        /// The tag found.
        tag: u8,
        /// Where.
        offset: usize,
    },
    /// A varint longer than ten bytes or beyond the field's range.
    #[error("malformed varint at byte {offset}")]
    BadVarint {
        /// Where it starts.
        offset: usize,
    },
    /// An unknown read-set kind in a prepare record.
    #[error("unknown read-set kind {kind} at byte {offset}")]
    UnknownReadSet {
        /// The kind found.
        kind: u8,
        /// Where.
        offset: usize,
    },
    /// An unknown range-bound tag in a prepare record's read set.
    #[error("unknown range bound tag {tag} at byte {offset}")]
    UnknownBound {
        /// The tag found.
        tag: u8,
        /// Where.
        offset: usize,
    },
    /// Bytes after the last field.
    #[error("{extra} bytes after the end of the record")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
}

/// One entry as the encoding sees it: borrowed, whatever type holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// The keyspace the key belongs to.
    pub keyspace: u32,
    /// The key.
    pub key: &'a [u8],
    /// The value and its expiry (milliseconds since the Unix epoch), or
    /// `None` for a delete. A large value is written to the log from these
    /// bytes, referenced, not copied (see [`crate::gather`]).
    pub put: Option<(&'a Bytes, Option<u64>)>,
}

impl Entry {
    /// The entry, borrowed.
    pub fn as_ref(&self) -> EntryRef<'_> {
        EntryRef {
            keyspace: self.keyspace,
            key: &self.key,
            put: match &self.change {
                Change::Put {
                    value,
                    expires_at_ms,
                } => Some((value, *expires_at_ms)),
                Change::Delete => None,
            },
        }
    }
}

/// A committed write set the caller holds in its own types, appended as a
/// [`Record::Commit`] (byte for byte the same encoding) without first being
/// copied into a [`WriteSet`].
pub struct BorrowedWriteSet<'a, T> {
    /// The transaction's id.
    pub transaction_id: u64,
    /// Its commit (or prepare) timestamp.
    pub timestamp: u64,
    /// The entries, in the order they are to be logged.
    pub entries: &'a [T],
    /// How an entry reads.
    pub view: fn(&T) -> EntryRef<'_>,
}

/// What [`crate::Wal::append`] takes: a record that can tell its encoded
/// length before it encodes itself.
pub trait Encode {
    /// The exact length of [`Encode::encode_into`]'s output.
    fn encoded_len(&self) -> usize;
    /// Appends the encoding to `out`.
    fn encode_into(&self, out: &mut Vec<u8>);
    /// Appends the same encoding to `out`, referencing large values the
    /// record holds as shared bytes instead of copying them.
    fn encode_gather(&self, out: &mut Gather) {
        self.encode_into(out.copied());
    }
}

impl Encode for Record {
    fn encoded_len(&self) -> usize {
        Record::encoded_len(self)
    }
    fn encode_into(&self, out: &mut Vec<u8>) {
        Record::encode_into(self, out);
    }
}

impl<T> BorrowedWriteSet<'_, T> {
    /// Bytes of the write set's body (after the kind byte).
    fn body_len(&self) -> usize {
        // Transaction id, timestamp, entry count, entries.
        let entries = self.entries.iter().map(self.view).map(entry_len);
        8 + 8 + varint_len(self.entries.len() as u64) + entries.sum::<usize>()
    }

    /// Appends the write set's body (after the kind byte).
    fn encode_body(&self, out: &mut impl Sink) {
        out.put(&self.transaction_id.to_le_bytes());
        out.put(&self.timestamp.to_le_bytes());
        put_varint_into(out, self.entries.len() as u64);
        for entry in self.entries.iter().map(self.view) {
            encode_entry(out, entry);
        }
    }
}

impl<T> Encode for BorrowedWriteSet<'_, T> {
    fn encoded_len(&self) -> usize {
        1 + self.body_len()
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(KIND_COMMIT);
        self.encode_body(out);
    }

    fn encode_gather(&self, out: &mut Gather) {
        out.put(&[KIND_COMMIT]);
        self.encode_body(out);
    }
}

impl<'a, T> BorrowedWriteSet<'a, T> {
    /// The write set as pieces of at most about `part_bytes_max` encoded
    /// bytes each (an entry larger than that is a piece of its own): the
    /// pieces to append as [`Part`]s, in order, then the last one, which
    /// keeps the timestamp and goes into the write set's own record. A
    /// write set that fits has no parts.
    pub fn split(
        &self,
        part_bytes_max: usize,
    ) -> (Vec<BorrowedWriteSet<'a, T>>, BorrowedWriteSet<'a, T>) {
        let head = 1 + 8 + 8 + VARINT_BYTES_MAX;
        let mut parts = Vec::new();
        let (mut start, mut bytes) = (0, head);
        for (index, entry) in self.entries.iter().enumerate() {
            let length = entry_len((self.view)(entry));
            if index > start && bytes + length > part_bytes_max {
                parts.push(self.piece(0, start..index));
                (start, bytes) = (index, head);
            }
            bytes += length;
        }
        (parts, self.piece(self.timestamp, start..self.entries.len()))
    }

    fn piece(&self, timestamp: u64, range: std::ops::Range<usize>) -> BorrowedWriteSet<'a, T> {
        BorrowedWriteSet {
            transaction_id: self.transaction_id,
            timestamp,
            entries: &self.entries[range],
            view: self.view,
        }
    }
}

/// A piece of a write set appended as a [`Record::Part`]
/// ([`BorrowedWriteSet::split`]).
pub struct Part<'p, 'a, T>(pub &'p BorrowedWriteSet<'a, T>);

impl<T> Encode for Part<'_, '_, T> {
    fn encoded_len(&self) -> usize {
        1 + self.0.body_len()
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(KIND_PART);
        self.0.encode_body(out);
    }

    fn encode_gather(&self, out: &mut Gather) {
        out.put(&[KIND_PART]);
        self.0.encode_body(out);
    }
}

impl Prepare {
    /// Bytes of the record's body after the write set.
    fn tail_len(&self) -> usize {
        let gid = varint_len(self.global_id.len() as u64) + self.global_id.len();
        let reads = match &self.reads {
            ReadSet::WritesOnly | ReadSet::Unknown => 1,
            ReadSet::Tracked { keys, ranges } => {
                1 + varint_len(keys.len() as u64)
                    + keys.iter().map(read_key_len).sum::<usize>()
                    + varint_len(ranges.len() as u64)
                    + ranges
                        .iter()
                        .map(|range| bound_len(&range.lower) + bound_len(&range.upper))
                        .sum::<usize>()
            }
        };
        gid + reads
    }

    fn encode_tail(&self, out: &mut Vec<u8>) {
        put_varint(out, self.global_id.len() as u64);
        out.extend_from_slice(&self.global_id);
        match &self.reads {
            ReadSet::WritesOnly => out.push(READS_WRITES_ONLY),
            ReadSet::Unknown => out.push(READS_UNKNOWN),
            ReadSet::Tracked { keys, ranges } => {
                out.push(READS_TRACKED);
                put_varint(out, keys.len() as u64);
                for key in keys {
                    encode_read_key(out, key);
                }
                put_varint(out, ranges.len() as u64);
                for range in ranges {
                    encode_bound(out, &range.lower);
                    encode_bound(out, &range.upper);
                }
            }
        }
    }
}

fn read_key_len(key: &ReadKey) -> usize {
    varint_len(u64::from(key.keyspace)) + varint_len(key.key.len() as u64) + key.key.len()
}

fn bound_len(bound: &ReadBound) -> usize {
    match bound {
        ReadBound::Unbounded => 1,
        ReadBound::Included(key) | ReadBound::Excluded(key) => 1 + read_key_len(key),
    }
}

fn encode_read_key(out: &mut Vec<u8>, key: &ReadKey) {
    put_varint(out, u64::from(key.keyspace));
    put_varint(out, key.key.len() as u64);
    out.extend_from_slice(&key.key);
}

fn encode_bound(out: &mut Vec<u8>, bound: &ReadBound) {
    match bound {
        ReadBound::Unbounded => out.push(BOUND_UNBOUNDED),
        ReadBound::Included(key) => {
            out.push(BOUND_INCLUDED);
            encode_read_key(out, key);
        }
        ReadBound::Excluded(key) => {
            out.push(BOUND_EXCLUDED);
            encode_read_key(out, key);
        }
    }
}

impl Record {
    /// Appends the encoding of the record to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Record::Commit(set) => borrowed(set).encode_into(out),
            Record::Part(set) => Part(&borrowed(set)).encode_into(out),
            Record::Prepare(prepare) => {
                out.push(KIND_PREPARE);
                borrowed(&prepare.write_set).encode_body(out);
                prepare.encode_tail(out);
            }
            Record::CommitPrepared {
                transaction_id,
                commit_timestamp,
            } => {
                out.push(KIND_COMMIT_PREPARED);
                out.extend_from_slice(&transaction_id.to_le_bytes());
                out.extend_from_slice(&commit_timestamp.to_le_bytes());
            }
            Record::AbortPrepared { transaction_id } => {
                out.push(KIND_ABORT_PREPARED);
                out.extend_from_slice(&transaction_id.to_le_bytes());
            }
            Record::Checkpoint {
                checkpoint_id,
                fold_timestamp,
            } => {
                out.push(KIND_CHECKPOINT);
                out.extend_from_slice(&checkpoint_id.to_le_bytes());
                out.extend_from_slice(&fold_timestamp.to_le_bytes());
            }
        }
    }

    /// The encoding as a new vector.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        debug_assert_eq!(out.len(), self.encoded_len());
        out
    }

    /// The exact length of the encoding, without encoding: so that the log
    /// can frame a record in place, its length known before its bytes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Record::Commit(set) | Record::Part(set) => borrowed(set).encoded_len(),
            Record::Prepare(prepare) => {
                1 + borrowed(&prepare.write_set).body_len() + prepare.tail_len()
            }
            Record::CommitPrepared { .. } | Record::Checkpoint { .. } => 1 + 8 + 8,
            Record::AbortPrepared { .. } => 1 + 8,
        }
    }

    /// Decodes a record. Keys and values are slices of `bytes` (no copy).
    /// Never panics and allocates no more than `bytes` justifies.
    pub fn decode(bytes: Bytes) -> Result<Record, RecordError> {
        let mut cursor = Cursor {
            bytes: &bytes,
            offset: 0,
        };
        let record = match cursor.u8()? {
            KIND_COMMIT => Record::Commit(decode_write_set(&mut cursor, &bytes)?),
            KIND_PART => Record::Part(decode_write_set(&mut cursor, &bytes)?),
            KIND_PREPARE => {
                let write_set = decode_write_set(&mut cursor, &bytes)?;
                let global_id = cursor.slice(&bytes)?;
                let reads = decode_read_set(&mut cursor, &bytes)?;
                Record::Prepare(Prepare {
                    write_set,
                    global_id,
                    reads,
                })
            }
            KIND_PREPARE_WITHOUT_READS => Record::Prepare(Prepare {
                write_set: decode_write_set(&mut cursor, &bytes)?,
                global_id: Bytes::new(),
                reads: ReadSet::Unknown,
            }),
            KIND_COMMIT_PREPARED => Record::CommitPrepared {
                transaction_id: cursor.u64()?,
                commit_timestamp: cursor.u64()?,
            },
            KIND_ABORT_PREPARED => Record::AbortPrepared {
                transaction_id: cursor.u64()?,
            },
            KIND_CHECKPOINT => Record::Checkpoint {
                checkpoint_id: cursor.u64()?,
                fold_timestamp: cursor.u64()?,
            },
            kind => return Err(RecordError::UnknownKind { kind }),
        };
        let extra = bytes.len() - cursor.offset;
        if extra != 0 {
            return Err(RecordError::TrailingBytes { extra });
        }
        Ok(record)
    }
}

/// An owned write set as the encoding reads it.
fn borrowed(write_set: &WriteSet) -> BorrowedWriteSet<'_, Entry> {
    BorrowedWriteSet {
        transaction_id: write_set.transaction_id,
        timestamp: write_set.timestamp,
        entries: &write_set.entries,
        view: Entry::as_ref,
    }
}

/// One entry of a write set's encoding.
fn encode_entry(out: &mut impl Sink, entry: EntryRef<'_>) {
    let tag = match entry.put {
        Some((_, None)) => TAG_PUT,
        Some((_, Some(_))) => TAG_PUT_EXPIRING,
        None => TAG_DELETE,
    };
    out.put(&[tag]);
    put_varint_into(out, u64::from(entry.keyspace));
    put_varint_into(out, entry.key.len() as u64);
    out.put(entry.key);
    if let Some((value, expires_at_ms)) = entry.put {
        put_varint_into(out, value.len() as u64);
        out.put_shared(value);
        if let Some(expires_at_ms) = expires_at_ms {
            out.put(&expires_at_ms.to_le_bytes());
        }
    }
}

/// [`put_varint`] into any sink.
fn put_varint_into(out: &mut impl Sink, value: u64) {
    let mut encoded = [0u8; VARINT_BYTES_MAX];
    let mut len = 0;
    let mut rest = value;
    while rest >= 0x80 {
        encoded[len] = (rest as u8) | 0x80;
        rest >>= 7;
        len += 1;
    }
    encoded[len] = rest as u8;
    out.put(&encoded[..=len]);
}

fn decode_write_set(cursor: &mut Cursor<'_>, source: &Bytes) -> Result<WriteSet, RecordError> {
    let transaction_id = cursor.u64()?;
    let timestamp = cursor.u64()?;
    let count = cursor.varint()?;
    // Every entry takes at least 3 bytes: never reserve more than the
    // input could hold.
    let mut entries = Vec::with_capacity(capacity(count, cursor.remaining() / 3));
    for _ in 0..count {
        let tag_offset = cursor.offset;
        let tag = cursor.u8()?;
        let keyspace_offset = cursor.offset;
        let keyspace = u32::try_from(cursor.varint()?).map_err(|_| RecordError::BadVarint {
            offset: keyspace_offset,
        })?;
        let key = cursor.slice(source)?;
        let change = match tag {
            TAG_PUT => Change::Put {
                value: cursor.slice(source)?,
                expires_at_ms: None,
            },
            TAG_PUT_EXPIRING => Change::Put {
                value: cursor.slice(source)?,
                expires_at_ms: Some(cursor.u64()?),
            },
            TAG_DELETE => Change::Delete,
            tag => {
                return Err(RecordError::UnknownTag {
                    tag,
                    offset: tag_offset,
                });
            }
        };
        entries.push(Entry {
            keyspace,
            key,
            change,
        });
    }
    Ok(WriteSet {
        transaction_id,
        timestamp,
        entries,
    })
}

fn decode_read_set(cursor: &mut Cursor<'_>, source: &Bytes) -> Result<ReadSet, RecordError> {
    let kind_offset = cursor.offset;
    match cursor.u8()? {
        READS_WRITES_ONLY => Ok(ReadSet::WritesOnly),
        READS_UNKNOWN => Ok(ReadSet::Unknown),
        READS_TRACKED => {
            // A read key takes at least 2 bytes, a range at least 2: never
            // reserve more than the input could hold.
            let count = cursor.varint()?;
            let mut keys = Vec::with_capacity(capacity(count, cursor.remaining() / 2));
            for _ in 0..count {
                keys.push(decode_read_key(cursor, source)?);
            }
            let count = cursor.varint()?;
            let mut ranges = Vec::with_capacity(capacity(count, cursor.remaining() / 2));
            for _ in 0..count {
                let lower = decode_bound(cursor, source)?;
                let upper = decode_bound(cursor, source)?;
                ranges.push(ReadRange { lower, upper });
            }
            Ok(ReadSet::Tracked { keys, ranges })
        }
        kind => Err(RecordError::UnknownReadSet {
            kind,
            offset: kind_offset,
        }),
    }
}

/// `count` items, but no more than `limit`.
fn capacity(count: u64, limit: usize) -> usize {
    usize::try_from(count).unwrap_or(usize::MAX).min(limit)
}

fn decode_read_key(cursor: &mut Cursor<'_>, source: &Bytes) -> Result<ReadKey, RecordError> {
    let keyspace_offset = cursor.offset;
    let keyspace = u32::try_from(cursor.varint()?).map_err(|_| RecordError::BadVarint {
        offset: keyspace_offset,
    })?;
    Ok(ReadKey {
        keyspace,
        key: cursor.slice(source)?,
    })
}

fn decode_bound(cursor: &mut Cursor<'_>, source: &Bytes) -> Result<ReadBound, RecordError> {
    let tag_offset = cursor.offset;
    match cursor.u8()? {
        BOUND_UNBOUNDED => Ok(ReadBound::Unbounded),
        BOUND_INCLUDED => Ok(ReadBound::Included(decode_read_key(cursor, source)?)),
        BOUND_EXCLUDED => Ok(ReadBound::Excluded(decode_read_key(cursor, source)?)),
        tag => Err(RecordError::UnknownBound {
            tag,
            offset: tag_offset,
        }),
    }
}

/// Bytes of one entry's encoding.
fn entry_len(entry: EntryRef<'_>) -> usize {
    let head = 1 + varint_len(u64::from(entry.keyspace)) + varint_len(entry.key.len() as u64);
    let change = match entry.put {
        Some((value, expires_at_ms)) => {
            varint_len(value.len() as u64)
                + value.len()
                + if expires_at_ms.is_some() { 8 } else { 0 }
        }
        None => 0,
    };
    head + entry.key.len() + change
}

/// Bytes of `value` as LEB128.
fn varint_len(value: u64) -> usize {
    // One byte per started group of seven significant bits.
    let bits = (u64::BITS - value.leading_zeros()).max(1) as usize;
    bits.div_ceil(7)
}

/// Appends `value` as LEB128.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl Cursor<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    fn take(&mut self, count: usize) -> Result<&[u8], RecordError> {
        if self.remaining() < count {
            return Err(RecordError::Truncated {
                offset: self.offset,
            });
        }
        let start = self.offset;
        self.offset += count;
        Ok(&self.bytes[start..self.offset])
    }

    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, RecordError> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(raw))
    }

    fn varint(&mut self) -> Result<u64, RecordError> {
        let start = self.offset;
        let mut value = 0u64;
        for index in 0..VARINT_BYTES_MAX {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may carry only the top bit of a u64.
            if index == VARINT_BYTES_MAX - 1 && bits > 1 {
                return Err(RecordError::BadVarint { offset: start });
            }
            value |= bits << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordError::BadVarint { offset: start })
    }

    /// A length-prefixed byte string, as a zero-copy slice of `source`.
    fn slice(&mut self, source: &Bytes) -> Result<Bytes, RecordError> {
        let length_offset = self.offset;
        let length = usize::try_from(self.varint()?).map_err(|_| RecordError::BadVarint {
            offset: length_offset,
        })?;
        let start = self.offset;
        self.take(length)?;
        Ok(source.slice(start..start + length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl BorrowedWriteSet<'_, Entry> {
        fn encode_to_vec(&self) -> Vec<u8> {
            let mut out = Vec::new();
            self.encode_into(&mut out);
            out
        }
    }

    fn sample() -> Vec<Record> {
        vec![
            Record::Commit(WriteSet {
                transaction_id: 7,
                timestamp: u64::MAX - 3,
                entries: vec![
                    Entry {
                        keyspace: 0,
                        key: Bytes::from_static(b"k"),
                        change: Change::Put {
                            value: Bytes::from(vec![1u8; 300]),
                            expires_at_ms: None,
                        },
                    },
                    Entry {
                        keyspace: u32::MAX,
                        key: Bytes::new(),
                        change: Change::Put {
                            value: Bytes::new(),
                            expires_at_ms: Some(1_800_000_000_000),
                        },
                    },
                    Entry {
                        keyspace: 200,
                        key: Bytes::from_static(b"gone"),
                        change: Change::Delete,
                    },
                ],
            }),
            Record::Prepare(Prepare {
                write_set: WriteSet::default(),
                global_id: Bytes::new(),
                reads: ReadSet::WritesOnly,
            }),
            Record::Part(WriteSet {
                transaction_id: 9,
                timestamp: 0,
                entries: vec![Entry {
                    keyspace: 1,
                    key: Bytes::from_static(b"part"),
                    change: Change::Delete,
                }],
            }),
            Record::Prepare(Prepare {
                write_set: WriteSet {
                    transaction_id: 8,
                    timestamp: 9,
                    entries: vec![Entry {
                        keyspace: 3,
                        key: Bytes::from_static(b"to"),
                        change: Change::Delete,
                    }],
                },
                global_id: Bytes::from_static(b"coordinator-1.7"),
                reads: tracked_reads(),
            }),
            Record::Prepare(Prepare {
                write_set: WriteSet::default(),
                global_id: Bytes::from_static(b"g"),
                reads: ReadSet::Unknown,
            }),
            Record::CommitPrepared {
                transaction_id: 1,
                commit_timestamp: 2,
            },
            Record::AbortPrepared { transaction_id: 3 },
            Record::Checkpoint {
                checkpoint_id: 4,
                fold_timestamp: 5,
            },
        ]
    }

    fn read_key(keyspace: u32, key: &'static [u8]) -> ReadKey {
        ReadKey {
            keyspace,
            key: Bytes::from_static(key),
        }
    }

    /// A read set with every kind of bound.
    fn tracked_reads() -> ReadSet {
        ReadSet::Tracked {
            keys: vec![read_key(3, b"from"), read_key(u32::MAX, b"")],
            ranges: vec![
                ReadRange {
                    lower: ReadBound::Included(read_key(3, b"a")),
                    upper: ReadBound::Excluded(read_key(4, b"")),
                },
                ReadRange {
                    lower: ReadBound::Excluded(read_key(0, b"\x01")),
                    upper: ReadBound::Unbounded,
                },
            ],
        }
    }

    #[test]
    fn records_round_trip() {
        for record in sample() {
            let bytes = Bytes::from(record.encode());
            assert_eq!(Record::decode(bytes).unwrap(), record);
        }
    }

    #[test]
    fn the_encoded_length_is_exact() {
        let mut records = sample();
        // Lengths on both sides of every varint width.
        for bytes in [0, 1, 127, 128, 16_383, 16_384, 70_000] {
            let key = ReadKey {
                keyspace: u32::MAX,
                key: Bytes::from(vec![3; bytes]),
            };
            records.push(Record::Prepare(Prepare {
                write_set: WriteSet {
                    transaction_id: 1,
                    timestamp: 2,
                    entries: vec![
                        Entry {
                            keyspace: u32::MAX,
                            key: Bytes::from(vec![1; bytes]),
                            change: Change::Put {
                                value: Bytes::from(vec![2; bytes]),
                                expires_at_ms: Some(9),
                            },
                        };
                        3
                    ],
                },
                global_id: Bytes::from(vec![4; bytes]),
                reads: ReadSet::Tracked {
                    keys: vec![key.clone(); 2],
                    ranges: vec![
                        ReadRange {
                            lower: ReadBound::Included(key.clone()),
                            upper: ReadBound::Excluded(key),
                        };
                        2
                    ],
                },
            }));
        }
        for record in records {
            assert_eq!(record.encoded_len(), record.encode().len(), "{record:?}");
        }
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(varint_len(value), out.len(), "{value}");
        }
    }

    /// A write set in the caller's own types encodes byte for byte as the
    /// record holding the same entries, with the length it announces.
    #[test]
    fn borrowed_write_sets_encode_as_records() {
        for record in sample() {
            let Record::Commit(write_set) = &record else {
                continue;
            };
            let borrowed = BorrowedWriteSet {
                transaction_id: write_set.transaction_id,
                timestamp: write_set.timestamp,
                entries: &write_set.entries,
                view: Entry::as_ref,
            };
            let mut out = Vec::new();
            Encode::encode_into(&borrowed, &mut out);
            assert_eq!(out, record.encode(), "{record:?}");
            assert_eq!(Encode::encoded_len(&borrowed), out.len(), "{record:?}");
        }
    }

    /// A split write set: parts within the bound (unless one entry is
    /// larger), the last piece with the write set's timestamp, and the
    /// entries, in order, exactly once.
    #[test]
    fn a_split_write_set_reads_back_whole() {
        let entries: Vec<Entry> = (0..200u32)
            .map(|index| Entry {
                keyspace: index % 3,
                key: Bytes::from(index.to_be_bytes().to_vec()),
                change: Change::Put {
                    value: Bytes::from(vec![7u8; (index as usize * 37) % 500]),
                    expires_at_ms: None,
                },
            })
            .collect();
        let whole = BorrowedWriteSet {
            transaction_id: 5,
            timestamp: 99,
            entries: &entries,
            view: Entry::as_ref,
        };
        for part_bytes_max in [1, 100, 1_000, 10_000, usize::MAX] {
            let (parts, last) = whole.split(part_bytes_max);
            let mut read_back = Vec::new();
            for part in &parts {
                let mut out = Vec::new();
                Encode::encode_into(&Part(part), &mut out);
                assert_eq!(out.len(), Encode::encoded_len(&Part(part)));
                assert!(out.len() <= part_bytes_max || part.entries.len() == 1);
                let Record::Part(set) = Record::decode(Bytes::from(out)).unwrap() else {
                    panic!("not a part");
                };
                assert_eq!((set.transaction_id, set.timestamp), (5, 0));
                read_back.extend(set.entries);
            }
            let mut out = Vec::new();
            Encode::encode_into(&last, &mut out);
            let Record::Commit(set) = Record::decode(Bytes::from(out)).unwrap() else {
                panic!("not a commit");
            };
            assert_eq!((set.transaction_id, set.timestamp), (5, 99));
            read_back.extend(set.entries);
            assert_eq!(read_back, entries, "split at {part_bytes_max}");
        }
        assert!(whole.split(usize::MAX).0.is_empty());
    }

    #[test]
    fn every_truncation_is_an_error() {
        for record in sample() {
            let bytes = record.encode();
            for end in 0..bytes.len() {
                let result = Record::decode(Bytes::copy_from_slice(&bytes[..end]));
                assert!(result.is_err(), "{record:?} cut at {end}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(
                Record::decode(Bytes::from(longer)),
                Err(RecordError::TrailingBytes { extra: 1 })
            );
        }
    }

    #[test]
    fn varints_round_trip_and_reject_overflow() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut cursor = Cursor {
                bytes: &out,
                offset: 0,
            };
            assert_eq!(cursor.varint().unwrap(), value);
            assert_eq!(cursor.offset, out.len());
        }
        let overflow = [0xffu8; 9]
            .iter()
            .copied()
            .chain([0x02])
            .collect::<Vec<_>>();
        let mut cursor = Cursor {
            bytes: &overflow,
            offset: 0,
        };
        assert_eq!(cursor.varint(), Err(RecordError::BadVarint { offset: 0 }));
        let endless = [0x80u8; 12];
        let mut cursor = Cursor {
            bytes: &endless,
            offset: 0,
        };
        assert!(cursor.varint().is_err());
    }

    /// A prepare record of the old kind (2: a write set alone) still
    /// reads, as a prepare with no global id and an unknown read set.
    #[test]
    fn an_old_prepare_record_reads_with_an_unknown_read_set() {
        let write_set = WriteSet {
            transaction_id: 5,
            timestamp: 6,
            entries: vec![Entry {
                keyspace: 1,
                key: Bytes::from_static(b"k"),
                change: Change::Delete,
            }],
        };
        let mut bytes = borrowed(&write_set).encode_to_vec();
        bytes[0] = KIND_PREPARE_WITHOUT_READS;
        assert_eq!(
            Record::decode(Bytes::from(bytes)).unwrap(),
            Record::Prepare(Prepare {
                write_set,
                global_id: Bytes::new(),
                reads: ReadSet::Unknown,
            })
        );
    }

    /// Unknown read-set kinds and bound tags are typed errors naming
    /// their byte.
    #[test]
    fn unknown_read_set_kinds_and_bounds_are_refused() {
        let prepare = |reads| {
            Record::Prepare(Prepare {
                write_set: WriteSet::default(),
                global_id: Bytes::new(),
                reads,
            })
            .encode()
        };
        // kind, id, timestamp, count, global id length: the read set's
        // kind is at byte 19.
        let mut bytes = prepare(ReadSet::WritesOnly);
        bytes[19] = 9;
        assert_eq!(
            Record::decode(Bytes::from(bytes)),
            Err(RecordError::UnknownReadSet {
                kind: 9,
                offset: 19
            })
        );
        let mut bytes = prepare(ReadSet::Tracked {
            keys: Vec::new(),
            ranges: vec![ReadRange {
                lower: ReadBound::Unbounded,
                upper: ReadBound::Unbounded,
            }],
        });
        // Then no keys (20), one range (21): its lower bound at 22.
        bytes[22] = 7;
        assert_eq!(
            Record::decode(Bytes::from(bytes)),
            Err(RecordError::UnknownBound { tag: 7, offset: 22 })
        );
    }

    #[test]
    fn a_huge_read_count_does_not_allocate() {
        let mut bytes = Record::Prepare(Prepare {
            write_set: WriteSet::default(),
            global_id: Bytes::new(),
            reads: ReadSet::WritesOnly,
        })
        .encode();
        bytes[19] = READS_TRACKED;
        put_varint(&mut bytes, u64::MAX);
        assert_eq!(
            Record::decode(Bytes::from(bytes)),
            Err(RecordError::Truncated { offset: 30 })
        );
    }

    #[test]
    fn a_huge_entry_count_does_not_allocate() {
        let mut bytes = vec![KIND_COMMIT];
        bytes.extend_from_slice(&[0u8; 16]);
        put_varint(&mut bytes, u64::MAX);
        assert_eq!(
            Record::decode(Bytes::from(bytes)),
            Err(RecordError::Truncated { offset: 27 })
        );
    }
}

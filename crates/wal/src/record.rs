//! The logical records of the log and their encoding (the payload that
//! fragments carry; framing is in `fragment.rs`).
//!
//! ```text
//! record     = kind:u8 body
//! Commit     (kind 1) = transaction_id:u64 timestamp:u64 count:varint entry*count
//! Prepare    (kind 2) = same as Commit; timestamp is the prepare timestamp
//! CommitPrepared (3)  = transaction_id:u64 commit_timestamp:u64
//! AbortPrepared  (4)  = transaction_id:u64
//! Checkpoint     (5)  = checkpoint_id:u64 fold_timestamp:u64
//! Part           (6)  = same as Commit; timestamp 0: entries of the
//!                       Commit or Prepare record of the same transaction
//!                       that follows (a write set too large for one
//!                       record is logged as parts, then that record)
//! entry      = tag:u8 keyspace:varint key_len:varint key
//!              [value_len:varint value]      (tags 1 and 2)
//!              [expires_at_ms:u64]           (tag 2)
//! tag        = 1 put | 2 put with expiry | 3 delete
//! ```
//! Fixed-width integers are little-endian; varints are LEB128 (at most 10
//! bytes, no overflow).

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

/// A record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A committed write set.
    Commit(WriteSet),
    /// A write set prepared for two-phase commit: durable, not yet decided.
    Prepare(WriteSet),
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
const KIND_PREPARE: u8 = 2;
const KIND_COMMIT_PREPARED: u8 = 3;
const KIND_ABORT_PREPARED: u8 = 4;
const KIND_CHECKPOINT: u8 = 5;
const KIND_PART: u8 = 6;

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
    /// `None` for a delete.
    pub put: Option<(&'a [u8], Option<u64>)>,
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

/// Which of the two write-set records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteSetKind {
    /// [`Record::Commit`].
    Commit,
    /// [`Record::Prepare`].
    Prepare,
    /// [`Record::Part`].
    Part,
}

/// A write set the caller holds in its own types, appended as a
/// [`Record::Commit`] or [`Record::Prepare`] (byte for byte the same
/// encoding) without first being copied into a [`WriteSet`].
pub struct BorrowedWriteSet<'a, T> {
    /// Commit or prepare.
    pub kind: WriteSetKind,
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
}

impl Encode for Record {
    fn encoded_len(&self) -> usize {
        Record::encoded_len(self)
    }
    fn encode_into(&self, out: &mut Vec<u8>) {
        Record::encode_into(self, out);
    }
}

impl<T> Encode for BorrowedWriteSet<'_, T> {
    fn encoded_len(&self) -> usize {
        // kind, transaction id, timestamp, entry count.
        let entries = self.entries.iter().map(self.view).map(entry_len);
        1 + 8 + 8 + varint_len(self.entries.len() as u64) + entries.sum::<usize>()
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(match self.kind {
            WriteSetKind::Commit => KIND_COMMIT,
            WriteSetKind::Prepare => KIND_PREPARE,
            WriteSetKind::Part => KIND_PART,
        });
        out.extend_from_slice(&self.transaction_id.to_le_bytes());
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        put_varint(out, self.entries.len() as u64);
        for entry in self.entries.iter().map(self.view) {
            encode_entry(out, entry);
        }
    }
}

impl<'a, T> BorrowedWriteSet<'a, T> {
    /// The write set as records of at most about `part_bytes_max` bytes
    /// each (one entry larger than that makes a record of its own): one
    /// record of its kind if it fits, else [`Record::Part`]s and then a
    /// record of its kind with the last entries. Appended in this order,
    /// they read back as the whole write set.
    pub fn split(&self, part_bytes_max: usize) -> Vec<BorrowedWriteSet<'a, T>> {
        let head = 1 + 8 + 8 + VARINT_BYTES_MAX;
        let mut pieces = Vec::new();
        let (mut start, mut bytes) = (0, head);
        for (index, entry) in self.entries.iter().enumerate() {
            let length = entry_len((self.view)(entry));
            if index > start && bytes + length > part_bytes_max {
                pieces.push(self.piece(WriteSetKind::Part, 0, start..index));
                (start, bytes) = (index, head);
            }
            bytes += length;
        }
        pieces.push(self.piece(self.kind, self.timestamp, start..self.entries.len()));
        pieces
    }

    fn piece(
        &self,
        kind: WriteSetKind,
        timestamp: u64,
        range: std::ops::Range<usize>,
    ) -> BorrowedWriteSet<'a, T> {
        BorrowedWriteSet {
            kind,
            transaction_id: self.transaction_id,
            timestamp,
            entries: &self.entries[range],
            view: self.view,
        }
    }
}

impl Record {
    /// Appends the encoding of the record to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Record::Commit(set) => borrowed(WriteSetKind::Commit, set).encode_into(out),
            Record::Prepare(set) => borrowed(WriteSetKind::Prepare, set).encode_into(out),
            Record::Part(set) => borrowed(WriteSetKind::Part, set).encode_into(out),
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
            Record::Commit(set) | Record::Prepare(set) | Record::Part(set) => {
                borrowed(WriteSetKind::Commit, set).encoded_len()
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
            KIND_PREPARE => Record::Prepare(decode_write_set(&mut cursor, &bytes)?),
            KIND_PART => Record::Part(decode_write_set(&mut cursor, &bytes)?),
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
fn borrowed(kind: WriteSetKind, write_set: &WriteSet) -> BorrowedWriteSet<'_, Entry> {
    BorrowedWriteSet {
        kind,
        transaction_id: write_set.transaction_id,
        timestamp: write_set.timestamp,
        entries: &write_set.entries,
        view: Entry::as_ref,
    }
}

/// One entry of a write set's encoding.
fn encode_entry(out: &mut Vec<u8>, entry: EntryRef<'_>) {
    let tag = match entry.put {
        Some((_, None)) => TAG_PUT,
        Some((_, Some(_))) => TAG_PUT_EXPIRING,
        None => TAG_DELETE,
    };
    out.push(tag);
    put_varint(out, u64::from(entry.keyspace));
    put_varint(out, entry.key.len() as u64);
    out.extend_from_slice(entry.key);
    if let Some((value, expires_at_ms)) = entry.put {
        put_varint(out, value.len() as u64);
        out.extend_from_slice(value);
        if let Some(expires_at_ms) = expires_at_ms {
            out.extend_from_slice(&expires_at_ms.to_le_bytes());
        }
    }
}

fn decode_write_set(cursor: &mut Cursor<'_>, source: &Bytes) -> Result<WriteSet, RecordError> {
    let transaction_id = cursor.u64()?;
    let timestamp = cursor.u64()?;
    let count = cursor.varint()?;
    // Every entry takes at least 3 bytes: never reserve more than the
    // input could hold.
    let capacity = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(cursor.remaining() / 3);
    let mut entries = Vec::with_capacity(capacity);
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
            Record::Prepare(WriteSet::default()),
            Record::Part(WriteSet {
                transaction_id: 9,
                timestamp: 0,
                entries: vec![Entry {
                    keyspace: 1,
                    key: Bytes::from_static(b"part"),
                    change: Change::Delete,
                }],
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
            records.push(Record::Prepare(WriteSet {
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
            let (kind, write_set) = match &record {
                Record::Commit(write_set) => (WriteSetKind::Commit, write_set),
                Record::Prepare(write_set) => (WriteSetKind::Prepare, write_set),
                _ => continue,
            };
            let borrowed = BorrowedWriteSet {
                kind,
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
    /// larger), the last record of the write set's kind and timestamp,
    /// and the entries, in order, exactly once.
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
            kind: WriteSetKind::Commit,
            transaction_id: 5,
            timestamp: 99,
            entries: &entries,
            view: Entry::as_ref,
        };
        for part_bytes_max in [1, 100, 1_000, 10_000, usize::MAX] {
            let pieces = whole.split(part_bytes_max);
            let (last, parts) = pieces.split_last().unwrap();
            assert_eq!((last.kind, last.timestamp), (WriteSetKind::Commit, 99));
            let mut read_back = Vec::new();
            for piece in &pieces {
                let mut out = Vec::new();
                Encode::encode_into(piece, &mut out);
                assert!(out.len() <= part_bytes_max || piece.entries.len() == 1);
                match Record::decode(Bytes::from(out)).unwrap() {
                    Record::Part(set) | Record::Commit(set) => {
                        assert_eq!(set.transaction_id, 5);
                        read_back.extend(set.entries);
                    }
                    other => panic!("{other:?}"),
                }
            }
            assert!(parts.iter().all(|part| part.kind == WriteSetKind::Part));
            assert_eq!(read_back, entries, "split at {part_bytes_max}");
        }
        assert_eq!(whole.split(usize::MAX).len(), 1);
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

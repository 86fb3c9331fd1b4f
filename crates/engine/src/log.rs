//! The write-ahead log as keel-mvcc's [`CommitLog`]: records are appended
//! inside the commit sequencer (so log order is commit-timestamp order) and
//! waited on outside it (group commit).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use keel_mvcc::{BoxError, Change, CommitLog, LogRecord, LogTicket, WriteEntry, WriteSet};
use keel_tso::Timestamp;
use keel_wal::{BorrowedWriteSet, Encode, EntryRef, Lsn, Record, Wal, WriteSetKind};
use parking_lot::Mutex;

use crate::options::Durability;

/// Engine keys are `keyspace id (u32, big-endian) ‖ user key`; the log
/// stores the keyspace in its own field.
pub(crate) const KEYSPACE_PREFIX_BYTES: usize = 4;

/// Default [`crate::Options::wal_part_bytes`]: a write set whose record
/// would be larger is logged as [`Record::Part`]s of about this size and
/// then its own record, so no record outgrows the log's limit
/// (`WalOptions::record_bytes_max`, 1 GiB) or its buffer, and a large
/// commit is never encoded whole into memory a second time.
pub(crate) const PART_BYTES_DEFAULT: usize = 4 << 20;

/// A log ticket is the record's lsn with its durability in the top bits.
const TICKET_DURABILITY_SHIFT: u32 = 60;

pub(crate) struct WalLog {
    /// `None` for a read-only database: appends are refused.
    wal: Option<Arc<Wal>>,
    durability: Durability,
    /// See [`crate::Options::wal_part_bytes`].
    part_bytes: usize,
    /// (commit timestamp, lsn) of the commits not yet folded, oldest first:
    /// the next checkpoint's replay position is the first above its fold
    /// point.
    pending: Mutex<VecDeque<(Timestamp, Lsn)>>,
}

impl WalLog {
    pub(crate) fn new(wal: Option<Arc<Wal>>, durability: Durability, part_bytes: usize) -> WalLog {
        WalLog {
            wal,
            durability,
            part_bytes,
            pending: Mutex::new(VecDeque::new()),
        }
    }

    /// Notes a commit replayed by recovery (its record is at `lsn`).
    pub(crate) fn note_replayed(&self, timestamp: Timestamp, lsn: Lsn) {
        self.pending.lock().push_back((timestamp, lsn));
    }

    /// Where replay must start for a base folded up to `fold_point`: the
    /// first commit above it, or the log's end if there is none. Forgets the
    /// commits at or below it.
    pub(crate) fn replay_start(&self, fold_point: Timestamp) -> Lsn {
        let mut pending = self.pending.lock();
        while pending
            .front()
            .is_some_and(|(timestamp, _)| *timestamp <= fold_point)
        {
            pending.pop_front();
        }
        match (pending.front(), &self.wal) {
            (Some((_, lsn)), _) => *lsn,
            (None, Some(wal)) => wal.next_lsn(),
            (None, None) => Lsn::ZERO,
        }
    }
}

/// An mvcc write entry as the log encodes it (borrowed: nothing is cloned
/// or copied on the way into the log's buffer).
fn wal_entry(entry: &WriteEntry) -> EntryRef<'_> {
    let (keyspace, key) = match keyspace_id(&entry.key) {
        Some(keyspace) => (keyspace, &entry.key[KEYSPACE_PREFIX_BYTES..]),
        None => (0, &entry.key[..]),
    };
    EntryRef {
        keyspace,
        key,
        put: match &entry.change {
            Change::Put {
                value,
                expires_at_ms,
            } => Some((value, *expires_at_ms)),
            Change::Delete => None,
        },
    }
}

/// A write set as a log record of `kind`.
fn wal_write_set(
    kind: WriteSetKind,
    transaction_id: u64,
    timestamp: Timestamp,
    writes: &WriteSet,
) -> BorrowedWriteSet<'_, WriteEntry> {
    BorrowedWriteSet {
        kind,
        transaction_id,
        timestamp: timestamp.as_u64(),
        entries: writes.entries(),
        view: wal_entry,
    }
}

/// What one mvcc log record becomes in the log.
enum Logged<'a> {
    /// A record of its own.
    Record(&'a Record),
    /// A write set, split into parts when large.
    WriteSet(&'a BorrowedWriteSet<'a, WriteEntry>),
}

/// Appends `write_set` as one record or as parts and then its record;
/// returns the lsns of the first and the last.
fn append_split(
    wal: &Wal,
    write_set: &BorrowedWriteSet<'_, WriteEntry>,
    durability: Durability,
    part_bytes: usize,
) -> Result<(Lsn, Lsn), keel_wal::Error> {
    if write_set.encoded_len() <= part_bytes {
        let lsn = wal.append(write_set, durability.wal())?;
        return Ok((lsn, lsn));
    }
    let mut first = None;
    let mut last = Lsn::ZERO;
    for piece in write_set.split(part_bytes) {
        last = wal.append(&piece, durability.wal())?;
        first.get_or_insert(last);
    }
    Ok((first.unwrap_or(last), last))
}

/// The keyspace id an engine key starts with; `None` for a key shorter
/// than the prefix.
pub(crate) fn keyspace_id(key: &[u8]) -> Option<u32> {
    let prefix: [u8; KEYSPACE_PREFIX_BYTES] = key.get(..KEYSPACE_PREFIX_BYTES)?.try_into().ok()?;
    Some(u32::from_be_bytes(prefix))
}

/// An engine key from keyspace and user key, on the stack when short:
/// for lookups, which need not own it.
pub(crate) fn engine_key(keyspace: u32, key: &[u8]) -> smallvec::SmallVec<[u8; 64]> {
    let length = KEYSPACE_PREFIX_BYTES + key.len();
    if length > 64 {
        let mut joined = Vec::with_capacity(length);
        joined.extend_from_slice(&keyspace.to_be_bytes());
        joined.extend_from_slice(key);
        return smallvec::SmallVec::from_vec(joined);
    }
    // Two copies into a stack buffer: a point read builds one per call,
    // and `SmallVec`'s growth checks on each extend cost more than the
    // bytes (callgrind: ~145 instructions per key, now ~30).
    let mut inline = [0u8; 64];
    inline[..KEYSPACE_PREFIX_BYTES].copy_from_slice(&keyspace.to_be_bytes());
    inline[KEYSPACE_PREFIX_BYTES..length].copy_from_slice(key);
    smallvec::SmallVec::from_buf_and_len(inline, length)
}

/// An engine key from keyspace and user key.
pub(crate) fn join_key(keyspace: u32, key: &[u8]) -> Bytes {
    let mut joined = Vec::with_capacity(KEYSPACE_PREFIX_BYTES + key.len());
    joined.extend_from_slice(&keyspace.to_be_bytes());
    joined.extend_from_slice(key);
    Bytes::from(joined)
}

/// A write set read back from the log, in mvcc's terms.
pub(crate) fn mvcc_write_set(set: &keel_wal::WriteSet) -> Result<WriteSet, keel_mvcc::Error> {
    let entries = set
        .entries
        .iter()
        .map(|entry| WriteEntry {
            key: join_key(entry.keyspace, &entry.key),
            change: match &entry.change {
                keel_wal::Change::Put {
                    value,
                    expires_at_ms,
                } => Change::Put {
                    value: value.clone(),
                    expires_at_ms: *expires_at_ms,
                },
                keel_wal::Change::Delete => Change::Delete,
            },
        })
        .collect();
    WriteSet::new(entries)
}

impl CommitLog for WalLog {
    fn append(&self, record: LogRecord<'_>) -> Result<LogTicket, BoxError> {
        let mut durability = self.durability;
        let write_set;
        let other;
        let (wal_record, commit_timestamp): (Logged<'_>, _) = match record {
            LogRecord::Commit {
                transaction_id,
                commit_timestamp,
                writes,
                hint,
            } => {
                durability = Durability::from_hint(hint).unwrap_or(self.durability);
                let kind = WriteSetKind::Commit;
                write_set = wal_write_set(kind, transaction_id, commit_timestamp, writes);
                (Logged::WriteSet(&write_set), Some(commit_timestamp))
            }
            LogRecord::Prepare {
                transaction_id,
                prepare_timestamp,
                writes,
            } => {
                let kind = WriteSetKind::Prepare;
                write_set = wal_write_set(kind, transaction_id, prepare_timestamp, writes);
                (Logged::WriteSet(&write_set), None)
            }
            LogRecord::CommitPrepared {
                transaction_id,
                commit_timestamp,
            } => {
                other = Record::CommitPrepared {
                    transaction_id,
                    commit_timestamp: commit_timestamp.as_u64(),
                };
                (Logged::Record(&other), Some(commit_timestamp))
            }
            LogRecord::AbortPrepared { transaction_id } => {
                other = Record::AbortPrepared { transaction_id };
                (Logged::Record(&other), None)
            }
        };
        // The append itself must know the durability: a `Periodic` record
        // is what the log's background flush syncs.
        let Some(wal) = &self.wal else {
            return Err(Box::new(crate::Error::ReadOnly));
        };
        let (first_lsn, lsn) = match wal_record {
            Logged::Record(record) => {
                let lsn = wal.append(record, durability.wal())?;
                (lsn, lsn)
            }
            Logged::WriteSet(write_set) => {
                append_split(wal, write_set, durability, self.part_bytes)?
            }
        };
        if let Some(timestamp) = commit_timestamp {
            // Replay of this commit starts at its first part.
            self.pending.lock().push_back((timestamp, first_lsn));
        }
        // The ticket carries the durability to wait for in its top bits.
        debug_assert!(lsn.0 < 1 << TICKET_DURABILITY_SHIFT);
        Ok(LogTicket(
            lsn.0 | u64::from(durability.hint()) << TICKET_DURABILITY_SHIFT,
        ))
    }

    fn wait_durable(&self, ticket: LogTicket) -> Result<(), BoxError> {
        let lsn = Lsn(ticket.0 & ((1 << TICKET_DURABILITY_SHIFT) - 1));
        let hint = (ticket.0 >> TICKET_DURABILITY_SHIFT) as u8;
        if Durability::from_hint(hint).unwrap_or(self.durability) == Durability::Sync
            && let Some(wal) = &self.wal
        {
            wal.wait_durable(lsn)?;
        }
        Ok(())
    }
}

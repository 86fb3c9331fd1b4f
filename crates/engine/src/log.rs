//! The write-ahead log as keel-mvcc's [`CommitLog`]: records are appended
//! inside the commit sequencer (so log order is commit-timestamp order) and
//! waited on outside it (group commit).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use keel_mvcc::{
    BoxError, Change, CommitLog, KeyRange, LogRecord, LogTicket, ReadSet, WriteEntry, WriteSet,
};
use keel_tso::Timestamp;
use keel_wal::{
    BorrowedWriteSet, Encode, EntryRef, Lsn, Part, ReadBound, ReadKey, ReadRange, Record, Wal,
};
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

/// Entries of a spilled write set read into memory at a time on its way
/// into the log.
const SPILLED_CHUNK_ENTRIES: usize = 4096;

/// A log ticket is the record's lsn with its durability in the top bits.
const TICKET_DURABILITY_SHIFT: u32 = 60;

pub(crate) struct WalLog {
    /// `None` for a read-only database: appends are refused.
    wal: Option<Arc<Wal>>,
    durability: Durability,
    /// See [`crate::Options::wal_part_bytes`].
    part_bytes: usize,
    /// (commit timestamp, lsn replay needs) of the commits not yet folded,
    /// in timestamp order: a commit's own record, or for a prepared
    /// transaction's commit its prepare record (which holds the write set).
    pending: Mutex<VecDeque<(Timestamp, Lsn)>>,
    /// The prepare records of the prepared transactions not yet decided, by
    /// transaction id: replay must start at or before each of them.
    undecided: Mutex<HashMap<u64, Lsn>>,
    /// Starts what must run once the log is written to (the engine's
    /// background thread), set once the database is built; see
    /// [`WalLog::on_first_append`].
    first_append: OnceLock<Box<FirstAppend>>,
    /// Whether `first_append` ran (and succeeded).
    appended: AtomicBool,
}

/// What [`WalLog::on_first_append`] runs.
pub(crate) type FirstAppend = dyn Fn() -> crate::Result<()> + Send + Sync;

impl WalLog {
    /// The lsn a commit at `ticket` waits to be durable, or `None` when its
    /// durability asks no sync.
    fn synced_lsn(&self, ticket: LogTicket) -> Option<Lsn> {
        let lsn = Lsn(ticket.0 & ((1 << TICKET_DURABILITY_SHIFT) - 1));
        let hint = (ticket.0 >> TICKET_DURABILITY_SHIFT) as u8;
        let durability = Durability::from_hint(hint).unwrap_or(self.durability);
        (durability == Durability::Sync).then_some(lsn)
    }

    pub(crate) fn new(wal: Option<Arc<Wal>>, durability: Durability, part_bytes: usize) -> WalLog {
        WalLog {
            wal,
            durability,
            part_bytes,
            pending: Mutex::new(VecDeque::new()),
            undecided: Mutex::new(HashMap::new()),
            first_append: OnceLock::new(),
            appended: AtomicBool::new(false),
        }
    }

    /// Runs `start` before the first record is appended: an open that is
    /// only read from never runs it (the engine starts its background
    /// thread there, which cost an open a thread's creation, 30-50 µs of
    /// a cold open's ~0.4 ms). Until `start` succeeds, every append runs it
    /// again and fails with its error. Set once; a second call is ignored.
    pub(crate) fn on_first_append(&self, start: Box<FirstAppend>) {
        let _ = self.first_append.set(start);
    }

    /// Runs [`WalLog::on_first_append`]'s hook unless it ran.
    fn before_append(&self) -> crate::Result<()> {
        if self.appended.load(Ordering::Acquire) {
            return Ok(());
        }
        // Before the hook is set (records the open itself appends), there
        // is nothing to run yet.
        if let Some(start) = self.first_append.get() {
            start()?;
            self.appended.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Notes a commit replayed by recovery (its write set is in the record
    /// at `lsn`).
    pub(crate) fn note_replayed(&self, timestamp: Timestamp, lsn: Lsn) {
        self.pending.lock().push_back((timestamp, lsn));
    }

    /// Appends a write set: its parts (each record at most `part_bytes`,
    /// none if it fits in one), then its own record, made by `last` from
    /// the final piece. A spilled write set is read in chunks of
    /// [`SPILLED_CHUNK_ENTRIES`], so that it never sits in memory whole.
    /// Returns the first record's lsn and the own record's.
    fn append_write_set(
        &self,
        wal: &Wal,
        (transaction_id, timestamp, writes): (u64, Timestamp, &WriteSet),
        durability: Durability,
        last: impl FnOnce(&BorrowedWriteSet<'_, WriteEntry>) -> Result<Lsn, keel_wal::Error>,
    ) -> Result<(Lsn, Lsn), keel_wal::Error> {
        let mut first = None;
        let chunk_entries = if writes.is_spilled() {
            SPILLED_CHUNK_ENTRIES
        } else {
            usize::MAX
        };
        let mut chunks = writes.chunks(chunk_entries).peekable();
        let empty = Cow::Borrowed(&[][..]);
        let mut chunk = chunks.next().unwrap_or(empty);
        loop {
            let write_set = wal_write_set(transaction_id, timestamp, &chunk);
            let (parts, piece) = if write_set.encoded_len() <= self.part_bytes {
                (Vec::new(), write_set.split(usize::MAX).1)
            } else {
                write_set.split(self.part_bytes)
            };
            for part in &parts {
                let lsn = wal.append(&Part(part), durability.wal())?;
                first.get_or_insert(lsn);
            }
            let Some(next) = chunks.next() else {
                let lsn = last(&piece)?;
                return Ok((first.unwrap_or(lsn), lsn));
            };
            // Not the write set's end: the piece is a part too.
            let lsn = wal.append(&Part(&piece), durability.wal())?;
            first.get_or_insert(lsn);
            chunk = next;
        }
    }

    /// Notes a prepared transaction recovery restored undecided (its
    /// prepare record is at `lsn`).
    pub(crate) fn note_undecided(&self, transaction_id: u64, lsn: Lsn) {
        self.undecided.lock().insert(transaction_id, lsn);
    }

    /// Where replay must start for a base folded up to `fold_point`: the
    /// oldest of the records holding a commit above it and the prepare
    /// records of the undecided prepared transactions, or the log's end if
    /// there is none. Forgets the commits at or below it.
    pub(crate) fn replay_start(&self, fold_point: Timestamp) -> Lsn {
        let mut pending = self.pending.lock();
        while pending
            .front()
            .is_some_and(|(timestamp, _)| *timestamp <= fold_point)
        {
            pending.pop_front();
        }
        // In timestamp order, but a prepared transaction's commit points
        // back to its prepare record: the oldest is not always the first.
        let oldest_commit = pending.iter().map(|(_, lsn)| *lsn).min();
        let oldest_prepare = self.undecided.lock().values().copied().min();
        match (
            oldest_commit.into_iter().chain(oldest_prepare).min(),
            &self.wal,
        ) {
            (Some(lsn), _) => lsn,
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

/// A committed write set as a log record.
fn wal_write_set(
    transaction_id: u64,
    timestamp: Timestamp,
    entries: &[WriteEntry],
) -> BorrowedWriteSet<'_, WriteEntry> {
    BorrowedWriteSet {
        transaction_id,
        timestamp: timestamp.as_u64(),
        entries,
        view: wal_entry,
    }
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
    let len = KEYSPACE_PREFIX_BYTES + key.len();
    if len <= 64 {
        // Written into the array whole (two copies, no growth checks):
        // a point read and each bound of a range join one.
        let mut inline = [0u8; 64];
        inline[..KEYSPACE_PREFIX_BYTES].copy_from_slice(&keyspace.to_be_bytes());
        inline[KEYSPACE_PREFIX_BYTES..len].copy_from_slice(key);
        return smallvec::SmallVec::from_buf_and_len(inline, len);
    }
    let mut joined = smallvec::SmallVec::with_capacity(len);
    joined.extend_from_slice(&keyspace.to_be_bytes());
    joined.extend_from_slice(key);
    joined
}

/// An engine key from keyspace and user key.
pub(crate) fn join_key(keyspace: u32, key: &[u8]) -> Bytes {
    let mut joined = Vec::with_capacity(KEYSPACE_PREFIX_BYTES + key.len());
    joined.extend_from_slice(&keyspace.to_be_bytes());
    joined.extend_from_slice(key);
    Bytes::from(joined)
}

/// A prepared transaction as its log record: the entries and read keys as
/// slices of mvcc's (no copy of a key or value).
fn wal_prepare(
    transaction_id: u64,
    prepare_timestamp: Timestamp,
    global_id: &[u8],
    entries: &[WriteEntry],
    reads: Option<&ReadSet>,
) -> keel_wal::Prepare {
    let entries = entries
        .iter()
        .map(|entry| {
            let (keyspace, key) = split_key(&entry.key);
            keel_wal::Entry {
                keyspace,
                key,
                change: match &entry.change {
                    Change::Put {
                        value,
                        expires_at_ms,
                    } => keel_wal::Change::Put {
                        value: value.clone(),
                        expires_at_ms: *expires_at_ms,
                    },
                    Change::Delete => keel_wal::Change::Delete,
                },
            }
        })
        .collect();
    let reads = match reads {
        None => keel_wal::ReadSet::WritesOnly,
        Some(reads) => {
            let mut keys = Vec::with_capacity(reads.keys().len());
            let mut ranges = Vec::with_capacity(reads.ranges().len());
            for key in reads.keys() {
                if key.len() >= KEYSPACE_PREFIX_BYTES {
                    keys.push(read_key(key));
                } else {
                    // No engine key is this short; held as every key, a
                    // superset.
                    ranges.push(ReadRange {
                        lower: ReadBound::Unbounded,
                        upper: ReadBound::Unbounded,
                    });
                }
            }
            for range in reads.ranges() {
                ranges.push(ReadRange {
                    lower: read_bound(&range.lower),
                    upper: read_bound(&range.upper),
                });
            }
            keel_wal::ReadSet::Tracked { keys, ranges }
        }
    };
    keel_wal::Prepare {
        write_set: keel_wal::WriteSet {
            transaction_id,
            timestamp: prepare_timestamp.as_u64(),
            entries,
        },
        global_id: Bytes::copy_from_slice(global_id),
        reads,
    }
}

/// An engine key as keyspace and user key (a slice, no copy); a key
/// shorter than the prefix (none is) as keyspace 0.
fn split_key(key: &Bytes) -> (u32, Bytes) {
    match keyspace_id(key) {
        Some(keyspace) => (keyspace, key.slice(KEYSPACE_PREFIX_BYTES..)),
        None => (0, key.clone()),
    }
}

/// An engine key at least as long as the prefix, as the log names it.
fn read_key(key: &Bytes) -> ReadKey {
    let (keyspace, key) = split_key(key);
    ReadKey { keyspace, key }
}

/// A scanned range's bound as the log names it. A bound shorter than the
/// prefix (the engine makes none) widens to unbounded: a superset.
fn read_bound(bound: &Bound<Bytes>) -> ReadBound {
    match bound {
        Bound::Included(key) if key.len() >= KEYSPACE_PREFIX_BYTES => {
            ReadBound::Included(read_key(key))
        }
        Bound::Excluded(key) if key.len() >= KEYSPACE_PREFIX_BYTES => {
            ReadBound::Excluded(read_key(key))
        }
        _ => ReadBound::Unbounded,
    }
}

/// A prepared transaction's reads read back from the log, in mvcc's terms:
/// `None` for one that validated only its writes; every key for one whose
/// reads were not logged.
pub(crate) fn mvcc_read_set(reads: &keel_wal::ReadSet) -> Option<ReadSet> {
    let engine_bound = |bound: &ReadBound| match bound {
        ReadBound::Unbounded => Bound::Unbounded,
        ReadBound::Included(key) => Bound::Included(join_key(key.keyspace, &key.key)),
        ReadBound::Excluded(key) => Bound::Excluded(join_key(key.keyspace, &key.key)),
    };
    match reads {
        keel_wal::ReadSet::WritesOnly => None,
        keel_wal::ReadSet::Unknown => Some(ReadSet::everything()),
        keel_wal::ReadSet::Tracked { keys, ranges } => Some(ReadSet::new(
            keys.iter()
                .map(|key| join_key(key.keyspace, &key.key))
                .collect(),
            ranges
                .iter()
                .map(|range| KeyRange {
                    lower: engine_bound(&range.lower),
                    upper: engine_bound(&range.upper),
                })
                .collect(),
        )),
    }
}

/// An entry read back from the log, in mvcc's terms.
pub(crate) fn mvcc_entry(entry: &keel_wal::Entry) -> WriteEntry {
    WriteEntry {
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
    }
}

impl CommitLog for WalLog {
    fn append(&self, record: LogRecord<'_>) -> Result<LogTicket, BoxError> {
        let Some(wal) = &self.wal else {
            return Err(Box::new(crate::Error::ReadOnly));
        };
        self.before_append().map_err(Box::new)?;
        // Held from the first record appended until the commit is noted:
        // `replay_start` then sees either the commit, or a log end before
        // its first record. Noted only after the append, a checkpoint in
        // between found nothing pending and put its replay start at the
        // log's end, past a commit neither folded (it was in flight) nor
        // left to replay: an acknowledged commit lost at the next crash.
        let mut pending = self.pending.lock();
        // The append itself must know the durability: a `Periodic` record
        // is what the log's background flush syncs. A write set's replay
        // starts at `first`, its first part if it has parts.
        let (durability, first, lsn) = match record {
            LogRecord::Commit {
                transaction_id,
                commit_timestamp,
                writes,
                hint,
            } => {
                let durability = Durability::from_hint(hint).unwrap_or(self.durability);
                let (first, lsn) = self.append_write_set(
                    wal,
                    (transaction_id, commit_timestamp, writes),
                    durability,
                    |last| wal.append(last, durability.wal()),
                )?;
                (durability, first, lsn)
            }
            // Two-phase commit's records are always synced: a participant
            // promises its coordinator a prepared transaction survives a
            // crash, and a decision it acknowledged must not be undone by
            // one (the coordinator may forget a decision once every
            // participant acknowledged it).
            LogRecord::Prepare {
                transaction_id,
                prepare_timestamp,
                global_id,
                writes,
                reads,
            } => {
                let durability = Durability::Sync;
                let (first, lsn) = self.append_write_set(
                    wal,
                    (transaction_id, prepare_timestamp, writes),
                    durability,
                    |last| {
                        let record = Record::Prepare(wal_prepare(
                            transaction_id,
                            prepare_timestamp,
                            global_id,
                            last.entries,
                            reads,
                        ));
                        wal.append(&record, durability.wal())
                    },
                )?;
                (durability, first, lsn)
            }
            LogRecord::CommitPrepared {
                transaction_id,
                commit_timestamp,
            } => {
                let record = Record::CommitPrepared {
                    transaction_id,
                    commit_timestamp: commit_timestamp.as_u64(),
                };
                let lsn = wal.append(&record, Durability::Sync.wal())?;
                (Durability::Sync, lsn, lsn)
            }
            LogRecord::AbortPrepared { transaction_id } => {
                let record = Record::AbortPrepared { transaction_id };
                let lsn = wal.append(&record, Durability::Sync.wal())?;
                (Durability::Sync, lsn, lsn)
            }
        };
        match record {
            LogRecord::Commit {
                commit_timestamp, ..
            } => pending.push_back((commit_timestamp, first)),
            LogRecord::Prepare { transaction_id, .. } => {
                self.undecided.lock().insert(transaction_id, first);
            }
            LogRecord::CommitPrepared {
                transaction_id,
                commit_timestamp,
            } => {
                // Replay finds the write set in the prepare record.
                let prepare_lsn = self.undecided.lock().remove(&transaction_id);
                let prepare_lsn = prepare_lsn.unwrap_or(lsn);
                pending.push_back((commit_timestamp, prepare_lsn));
            }
            LogRecord::AbortPrepared { transaction_id } => {
                self.undecided.lock().remove(&transaction_id);
            }
        }
        drop(pending);
        // The ticket carries the durability to wait for in its top bits.
        debug_assert!(lsn.0 < 1 << TICKET_DURABILITY_SHIFT);
        Ok(LogTicket(
            lsn.0 | u64::from(durability.hint()) << TICKET_DURABILITY_SHIFT,
        ))
    }

    fn wait_durable(&self, ticket: LogTicket) -> Result<(), BoxError> {
        if let Some(lsn) = self.synced_lsn(ticket)
            && let Some(wal) = &self.wal
        {
            wal.wait_durable(lsn)?;
        }
        Ok(())
    }

    /// One wait, for the newest record of the batch whose commit asks a
    /// sync: the log syncs in order, so the older ones are durable with it.
    fn wait_durable_all(&self, tickets: &[LogTicket]) -> Result<(), BoxError> {
        let newest_synced = tickets
            .iter()
            .filter_map(|ticket| self.synced_lsn(*ticket))
            .max();
        if let Some(lsn) = newest_synced
            && let Some(wal) = &self.wal
        {
            wal.wait_durable(lsn)?;
        }
        Ok(())
    }

    fn durable_end(&self) -> Option<LogTicket> {
        Some(LogTicket(self.wal.as_ref()?.durable_end().0))
    }

    fn covers(&self, end: LogTicket, ticket: LogTicket) -> bool {
        // As `wait_durable`: a commit that asks no sync waits for nothing.
        self.synced_lsn(ticket).is_none_or(|lsn| lsn.0 < end.0)
    }
}

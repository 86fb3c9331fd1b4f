//! [`Transaction`]: reads at its read timestamp (own writes, then the
//! delta, then the base), buffers its writes, tracks its reads, and commits
//! through the manager's sequencer.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::btree_map;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use keel_tso::Timestamp;

use crate::base::{Direction, ValueEntry, ValueRef};
use crate::commit::CommitJob;
use crate::error::{BaseOperation, Error, LogOperation, Result};
use crate::log::LogRecord;
use crate::manager::{CommitInfo, ExpiryCheck, Inner, PreparedIntents, ROOM_WAIT_STEP, Sequencer};
use crate::options::Isolation;
use crate::prepared::PreparedTransaction;
use crate::range::Range;
use crate::read_set::ReadSet;
use crate::registry::Registration;
use crate::stats::Counters;
use crate::write_buffer::WriteBuffer;
use crate::write_set::{BufferedKey, Change, WriteSet, is_live};

/// Operations between two reads of the clock for the age limits
/// ([`MvccOptions::transaction_age_max`](crate::MvccOptions)).
const AGE_CHECK_OPERATIONS: u32 = 64;

/// A point a transaction can roll back to, keeping what it wrote before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Savepoint {
    transaction_id: u64,
    number: u64,
}

impl Savepoint {
    /// The savepoint's number within its transaction.
    pub fn number(&self) -> u64 {
        self.number
    }
}

#[derive(Debug)]
struct SavepointState {
    number: u64,
    undo_length: usize,
    write_bytes: u64,
}

/// A transaction. Reads see the database at its read timestamp plus its
/// own writes; writes are buffered until [`commit`](Transaction::commit).
/// Dropping it rolls it back.
///
/// ```
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use keel_mvcc::{Direction, Isolation, MvccOptions, NoLog, TransactionManager};
/// use keel_mvcc::testing::{MemoryBase, test_oracle};
///
/// let manager = TransactionManager::new(Arc::new(MemoryBase::new()), Arc::new(NoLog), test_oracle(), MvccOptions::default())?;
/// let mut transaction = manager.begin(Isolation::Serializable);
/// transaction.put(b"a", Bytes::from_static(b"1"))?;
/// transaction.put(b"b", Bytes::from_static(b"2"))?;
/// let keys: Vec<Bytes> = transaction
///     .range(b"a".as_slice()..=b"z".as_slice(), Direction::Reverse)?
///     .map(|item| item.map(|(key, _)| key))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(keys, [Bytes::from_static(b"b"), Bytes::from_static(b"a")]);
/// transaction.commit()?;
/// # Ok::<(), keel_mvcc::Error>(())
/// ```
pub struct Transaction {
    inner: Arc<Inner>,
    transaction_id: u64,
    isolation: Isolation,
    read_timestamp: Timestamp,
    registration: Option<Registration>,
    began_at: Instant,
    aged_reported: Cell<bool>,
    too_old_reported: Cell<bool>,
    /// Operations since the clock was last read for the age limits (0:
    /// never).
    age_unchecked: Cell<u32>,
    writes: WriteBuffer,
    /// Behind a `RefCell` so that reads take `&self` (several scans and
    /// point reads at once); borrowed only for the moment a read records.
    reads: RefCell<ReadSet>,
    savepoints: Vec<SavepointState>,
    /// Each write's previous buffered change, while savepoints exist.
    undo: Vec<(Bytes, Option<Change>)>,
    next_savepoint_number: u64,
    finished: bool,
    log_hint: u8,
    /// A spill of the writes failed (directory, error kind and text): every
    /// later operation fails with it.
    spill_failed: Option<(std::path::PathBuf, std::io::ErrorKind, String)>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("transaction_id", &self.transaction_id)
            .field("isolation", &self.isolation)
            .field("read_timestamp", &self.read_timestamp)
            .field("write_bytes", &self.writes.bytes())
            .finish_non_exhaustive()
    }
}

impl Transaction {
    pub(crate) fn new(
        inner: Arc<Inner>,
        transaction_id: u64,
        isolation: Isolation,
        registration: Registration,
        began_at: Instant,
    ) -> Transaction {
        Transaction {
            inner,
            transaction_id,
            isolation,
            read_timestamp: registration.read_timestamp(),
            registration: Some(registration),
            began_at,
            aged_reported: Cell::new(false),
            too_old_reported: Cell::new(false),
            age_unchecked: Cell::new(0),
            writes: WriteBuffer::default(),
            reads: RefCell::new(ReadSet::default()),
            savepoints: Vec::new(),
            undo: Vec::new(),
            next_savepoint_number: 0,
            finished: false,
            log_hint: 0,
            spill_failed: None,
        }
    }

    /// The transaction's id (unique in this process).
    pub fn id(&self) -> u64 {
        self.transaction_id
    }

    /// The isolation level.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// The timestamp the transaction reads at.
    pub fn read_timestamp(&self) -> Timestamp {
        self.read_timestamp
    }

    /// Whether the transaction has written nothing (so far).
    pub fn is_read_only(&self) -> bool {
        self.writes.is_empty()
    }

    /// Whether the transaction has written nothing and tracked no read (so
    /// far): committing or preparing it would validate and hold nothing.
    pub fn is_unused(&self) -> bool {
        self.writes.is_empty() && self.reads.borrow().is_empty()
    }

    /// Notes the expiry of a value read live from the delta or the base
    /// (serializable only: its commit must come before it).
    fn note_expiry(&self, key: &[u8], expires_at_ms: Option<u64>) {
        if let Some(expires_at_ms) = expires_at_ms
            && self.isolation == Isolation::Serializable
        {
            self.reads.borrow_mut().note_expiry(key, expires_at_ms);
        }
    }

    /// The check of the earliest expiry read against the commit or
    /// prepare timestamp.
    fn expiry_check(&self) -> Option<ExpiryCheck> {
        let reads = self.reads.borrow();
        let (expires_at_ms, key) = reads.earliest_expiry.as_ref()?;
        Some(ExpiryCheck {
            expires_at_ms: *expires_at_ms,
            key: key.clone(),
            read_timestamp: self.read_timestamp,
        })
    }

    /// Enforces the age limits (the clock read at the first operation,
    /// then every [`AGE_CHECK_OPERATIONS`]th) and a pending read-set
    /// overflow.
    fn check_usable(&self) -> Result<()> {
        let unchecked = self.age_unchecked.get();
        if unchecked == 0 || unchecked >= AGE_CHECK_OPERATIONS || self.too_old_reported.get() {
            self.check_age()?;
        } else {
            self.age_unchecked.set(unchecked + 1);
        }
        self.check_state()
    }

    /// [`check_usable`](Self::check_usable) with the clock read now (at
    /// commit and prepare).
    fn check_usable_now(&self) -> Result<()> {
        self.check_age()?;
        self.check_state()
    }

    /// Enforces the age limits against the clock.
    fn check_age(&self) -> Result<()> {
        self.age_unchecked.set(1);
        let options = &self.inner.options;
        let age = self.began_at.elapsed();
        if age >= options.transaction_age_max {
            if !self.too_old_reported.replace(true) {
                Counters::bump(&self.inner.counters.transactions_too_old);
            }
            return Err(Error::TransactionTooOld {
                transaction_id: self.transaction_id,
                age_ms: u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
                limit_ms: u64::try_from(options.transaction_age_max.as_millis())
                    .unwrap_or(u64::MAX),
            });
        }
        if age >= options.transaction_age_warning && !self.aged_reported.replace(true) {
            Counters::bump(&self.inner.counters.transactions_aged);
            tracing::warn!(
                transaction_id = self.transaction_id,
                age_ms = age.as_millis(),
                read_timestamp = %self.read_timestamp,
                "long-running transaction holds the safe point back"
            );
        }
        Ok(())
    }

    /// Fails on a pending read-set overflow or a failed spill.
    fn check_state(&self) -> Result<()> {
        if self.reads.borrow().overflowed {
            return Err(self.read_set_too_large());
        }
        if let Some((dir, kind, message)) = &self.spill_failed {
            // The write that failed to spill was buffered: unusable rather
            // than committing writes its caller was told had failed.
            let source = std::io::Error::new(*kind, message.clone());
            return Err(self.spill_error(dir.clone(), source));
        }
        Ok(())
    }

    fn read_set_too_large(&self) -> Error {
        Error::ReadSetTooLarge {
            transaction_id: self.transaction_id,
            read_bytes: self.reads.borrow().bytes,
            limit_bytes: self.inner.options.transaction_read_bytes_max,
        }
    }

    /// The value of `key`, or `None` if it is absent, deleted or expired.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        Ok(self.get_entry(key)?.map(|entry| entry.value))
    }

    /// The value of `key` with its expiry.
    pub fn get_entry(&self, key: &[u8]) -> Result<Option<ValueEntry>> {
        let read_physical_ms = self.read_timestamp.physical_ms();
        let entry = match self.lookup(key)? {
            Lookup::Own(change) => return Ok(live_entry(&change, read_physical_ms)),
            Lookup::Delta(change) => live_entry(&change, read_physical_ms),
            Lookup::Base => {
                let entry = self
                    .inner
                    .base
                    .get(key)
                    .map_err(|source| base_get_error(key, source))?;
                entry.filter(|entry| is_live(entry.expires_at_ms, read_physical_ms))
            }
        };
        if let Some(entry) = &entry {
            self.note_expiry(key, entry.expires_at_ms);
        }
        Ok(entry)
    }

    /// Calls `visit` with the value of `key` and its expiry in place (or
    /// `None` if it is absent, deleted or expired) and returns its result:
    /// no copy of the value where the source can lend it.
    pub fn get_entry_with<T>(
        &self,
        key: &[u8],
        visit: impl FnOnce(Option<ValueRef<'_>>) -> T,
    ) -> Result<T> {
        let read_physical_ms = self.read_timestamp.physical_ms();
        let live = |change: &Change| match change {
            Change::Put {
                value,
                expires_at_ms,
            } if is_live(*expires_at_ms, read_physical_ms) => Some((value.clone(), *expires_at_ms)),
            _ => None,
        };
        let held = match self.lookup(key)? {
            Lookup::Own(change) => live(&change),
            Lookup::Delta(change) => {
                let held = live(&change);
                if let Some((_, expires_at_ms)) = &held {
                    self.note_expiry(key, *expires_at_ms);
                }
                held
            }
            Lookup::Base => {
                let mut visit = Some(visit);
                let mut result = None;
                let mut expiry = None;
                self.inner
                    .base
                    .get_with(key, &mut |entry| {
                        let entry = entry
                            .filter(|(_, expires_at_ms)| is_live(*expires_at_ms, read_physical_ms));
                        expiry = entry.and_then(|(_, expires_at_ms)| expires_at_ms);
                        if let Some(visit) = visit.take() {
                            result = Some(visit(entry));
                        }
                    })
                    .map_err(|source| base_get_error(key, source))?;
                self.note_expiry(key, expiry);
                return match (result, visit) {
                    (Some(result), _) => Ok(result),
                    // A store that never called back holds nothing.
                    (None, Some(visit)) => Ok(visit(None)),
                    (None, None) => unreachable!("visit is taken only when a result is set"),
                };
            }
        };
        Ok(visit(held.as_ref().map(|(value, expires_at_ms)| {
            (value.as_ref(), *expires_at_ms)
        })))
    }

    /// Where the version of `key` this transaction reads is: its own
    /// write, a delta version, or the base. Records the read.
    fn lookup(&self, key: &[u8]) -> Result<Lookup<'_>> {
        self.check_usable()?;
        if let Some(change) = self.writes.get(key) {
            return Ok(Lookup::Own(change));
        }
        if self.isolation == Isolation::Serializable
            && !self
                .reads
                .borrow_mut()
                .add_key(key, self.inner.options.transaction_read_bytes_max)
        {
            return Err(self.read_set_too_large());
        }
        Ok(match self.inner.delta.visible(key, self.read_timestamp) {
            Some(version) => Lookup::Delta(version.change),
            None => Lookup::Base,
        })
    }

    /// The live keys and values within `range`, in `direction` order, own
    /// writes included. Under Serializable, the part of the range the
    /// iterator covered before it was dropped is tracked for validation.
    pub fn range<K, R>(&self, range: R, direction: Direction) -> Result<Range<'_>>
    where
        K: AsRef<[u8]> + ?Sized,
        R: RangeBounds<K>,
    {
        self.range_slices(
            range.start_bound().map(AsRef::as_ref),
            range.end_bound().map(AsRef::as_ref),
            direction,
        )
    }

    /// [`Transaction::range`] over bounds the caller holds as `Bytes`.
    pub fn range_bytes(
        &self,
        lower: Bound<Bytes>,
        upper: Bound<Bytes>,
        direction: Direction,
    ) -> Result<Range<'_>> {
        self.range_slices(
            lower.as_ref().map(Bytes::as_ref),
            upper.as_ref().map(Bytes::as_ref),
            direction,
        )
    }

    /// [`Transaction::range`] over borrowed bounds, which the scan copies
    /// only where it keeps them, short ones inline: under Snapshot
    /// isolation, with no frozen batch in the delta, a range whose keys are
    /// short opens with no allocation besides the base's cursor.
    #[inline]
    pub fn range_slices(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        direction: Direction,
    ) -> Result<Range<'_>> {
        self.check_usable()?;
        let tracker = match self.isolation {
            Isolation::Serializable => Some(&self.reads),
            Isolation::Snapshot => None,
        };
        Range::new(
            &self.inner,
            self.read_timestamp,
            &self.writes,
            tracker,
            (lower, upper),
            direction,
        )
    }

    /// Sets the hint handed to the log with this transaction's commit
    /// record ([`LogRecord::Commit`](crate::LogRecord::Commit)): opaque to
    /// keel-mvcc; the engine uses it for per-commit durability.
    pub fn set_log_hint(&mut self, hint: u8) {
        self.log_hint = hint;
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &[u8], value: Bytes) -> Result<()> {
        self.write(
            key,
            Change::Put {
                value,
                expires_at_ms: None,
            },
        )
    }

    /// Sets `key` to `value`, expiring at `expires_at_ms` (milliseconds
    /// since the Unix epoch).
    pub fn put_expiring(&mut self, key: &[u8], value: Bytes, expires_at_ms: u64) -> Result<()> {
        self.write(
            key,
            Change::Put {
                value,
                expires_at_ms: Some(expires_at_ms),
            },
        )
    }

    /// Deletes `key` (absent keys too: the tombstone shadows the base).
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.write(key, Change::Delete)
    }

    /// Buffers a change of `key`.
    pub fn write(&mut self, key: &[u8], change: Change) -> Result<()> {
        self.check_usable()?;
        let options = &self.inner.options;
        if key.len() > options.key_bytes_max {
            return Err(Error::KeyTooLarge {
                key_bytes: key.len(),
                limit_bytes: options.key_bytes_max,
            });
        }
        if change.value_bytes() > options.value_bytes_max {
            return Err(Error::ValueTooLarge {
                key: Bytes::copy_from_slice(key),
                value_bytes: change.value_bytes(),
                limit_bytes: options.value_bytes_max,
            });
        }
        if self.savepoints.is_empty() {
            // Appended unsorted: no search (see `WriteBuffer`).
            self.check_write_bytes(key, &change)?;
            self.writes.push(key, change);
            return self.spill_if_over_budget();
        }
        self.write_undoable(key, change)
    }

    /// Refuses a write that would take the buffer over
    /// `transaction_write_bytes_max`, judged on the exact count (settling
    /// first when the running count, which counts overwrites twice, is
    /// over).
    fn check_write_bytes(&mut self, key: &[u8], change: &Change) -> Result<()> {
        let limit_bytes = self.inner.options.transaction_write_bytes_max;
        let added = (key.len() + change.value_bytes()) as u64;
        if self.writes.bytes() + added <= limit_bytes {
            return Ok(());
        }
        let previous_bytes = self
            .writes
            .settled_mut()
            .get(key)
            .map_or(0, |previous| (key.len() + previous.value_bytes()) as u64);
        let write_bytes = self.writes.bytes() - previous_bytes + added;
        if write_bytes > limit_bytes {
            return Err(Error::WriteSetTooLarge {
                transaction_id: self.transaction_id,
                write_bytes,
                limit_bytes,
            });
        }
        Ok(())
    }

    /// Writes into the sorted buffer, keeping the key's previous change
    /// for a rollback to a savepoint.
    fn write_undoable(&mut self, key: &[u8], change: Change) -> Result<()> {
        self.check_write_bytes(key, &change)?;
        let mut write_bytes = self.writes.bytes() + (key.len() + change.value_bytes()) as u64;
        // One search: the key is copied first (a rewrite of a buffered key
        // pays for a copy it drops).
        let entry = self
            .writes
            .settled_mut()
            .entry(BufferedKey::new(Bytes::copy_from_slice(key)));
        let (key, previous) = match entry {
            btree_map::Entry::Occupied(mut occupied) => {
                let previous = std::mem::replace(occupied.get_mut(), change);
                write_bytes -= (key.len() + previous.value_bytes()) as u64;
                (occupied.key().key().clone(), Some(previous))
            }
            btree_map::Entry::Vacant(vacant) => {
                let key = vacant.key().key().clone();
                vacant.insert(change);
                (key, None)
            }
        };
        self.undo.push((key, previous));
        self.writes.set_bytes(write_bytes);
        Ok(())
    }

    /// Marks a savepoint: [`rollback_to_savepoint`](Self::rollback_to_savepoint)
    /// undoes the writes made after it. Savepoints nest.
    pub fn savepoint(&mut self) -> Savepoint {
        let number = self.next_savepoint_number;
        self.next_savepoint_number += 1;
        // Settled, so the byte count it keeps is exact.
        self.writes.settled_mut();
        self.savepoints.push(SavepointState {
            number,
            undo_length: self.undo.len(),
            write_bytes: self.writes.bytes(),
        });
        Savepoint {
            transaction_id: self.transaction_id,
            number,
        }
    }

    fn savepoint_position(&self, savepoint: Savepoint) -> Result<usize> {
        let position = self
            .savepoints
            .iter()
            .position(|state| state.number == savepoint.number);
        match position {
            Some(position) if savepoint.transaction_id == self.transaction_id => Ok(position),
            _ => Err(Error::UnknownSavepoint {
                transaction_id: self.transaction_id,
                savepoint: savepoint.number,
            }),
        }
    }

    /// Undoes every write made after `savepoint`, which stays (later
    /// savepoints are released). Reads made since stay tracked: what was
    /// read was read.
    pub fn rollback_to_savepoint(&mut self, savepoint: Savepoint) -> Result<()> {
        let position = self.savepoint_position(savepoint)?;
        let state = &self.savepoints[position];
        let (undo_length, write_bytes) = (state.undo_length, state.write_bytes);
        while self.undo.len() > undo_length {
            let Some((key, previous)) = self.undo.pop() else {
                break;
            };
            let writes = self.writes.settled_mut();
            match previous {
                Some(change) => writes.insert(BufferedKey::new(key), change),
                None => writes.remove(key.as_ref()),
            };
        }
        self.writes.set_bytes(write_bytes);
        self.savepoints.truncate(position + 1);
        Ok(())
    }

    /// Forgets `savepoint` and every later one, keeping their writes.
    pub fn release_savepoint(&mut self, savepoint: Savepoint) -> Result<()> {
        let position = self.savepoint_position(savepoint)?;
        self.savepoints.truncate(position);
        if self.savepoints.is_empty() {
            self.undo.clear();
        }
        Ok(())
    }

    /// Takes the write set for commit or prepare.
    fn take_write_set(&mut self) -> Result<WriteSet> {
        // The directory asked for only if a run is written (and named in
        // the error it may fail with).
        let configured = self.inner.options.spill_dir.as_ref();
        let dir = || crate::spill::spill_dir(configured);
        let writes = self
            .writes
            .take_write_set(dir)
            .map_err(|source| self.spill_error(dir(), source))?;
        if writes.is_spilled() {
            Counters::bump(&self.inner.counters.runs_spilled);
        }
        Ok(writes)
    }

    /// Spills the writes held in memory once they pass the memory budget
    /// (never while a savepoint is held: undo works on memory only).
    fn spill_if_over_budget(&mut self) -> Result<()> {
        let budget = self.inner.options.transaction_memory_bytes_max;
        if self.writes.memory_bytes() <= budget || !self.savepoints.is_empty() {
            return Ok(());
        }
        let dir = self.spill_dir();
        if let Err(source) = self.writes.spill(&dir) {
            self.spill_failed = Some((dir.clone(), source.kind(), source.to_string()));
            return Err(self.spill_error(dir, source));
        }
        Counters::bump(&self.inner.counters.runs_spilled);
        Ok(())
    }

    fn spill_dir(&self) -> std::path::PathBuf {
        crate::spill::spill_dir(self.inner.options.spill_dir.as_ref())
    }

    fn spill_error(&self, dir: std::path::PathBuf, source: std::io::Error) -> Error {
        Error::Spill {
            transaction_id: self.transaction_id,
            dir,
            source,
        }
    }

    /// Counts a conflict as it passes.
    fn note_conflict(&self, error: Error) -> Error {
        if error.is_conflict() {
            Counters::bump(&self.inner.counters.conflicts);
        }
        error
    }

    /// Slows the commit down, or waits for room in a full delta, and
    /// returns the timestamp through which the commit is already
    /// validated: its read timestamp, or after a wait the newest commit
    /// sequenced at its last validation.
    ///
    /// A full delta is freed only by folding, and a fold may not pass a
    /// registered read timestamp; were the waiting committers to keep
    /// theirs, a delta full of versions newer than them could never be
    /// folded (every writer waiting on the others until the wait times
    /// out). So a waiting committer validates against everything committed
    /// so far and raises its registered read timestamp to that point (it
    /// reads no more), and does so again every [`ROOM_WAIT_STEP`] while it
    /// waits, each time against only what committed since.
    fn wait_for_room(&mut self, writes: &WriteSet) -> Result<Timestamp> {
        let inner = Arc::clone(&self.inner);
        if let Some(registration) = self.registration.as_mut() {
            // No more reads: the grace period of the fold we wait for need
            // not wait for us.
            inner.registry.leave_grace_set(registration);
        }
        inner.slow_down();
        let mut validated_through = self.read_timestamp;
        if !inner.delta_full() {
            return Ok(validated_through);
        }
        let mut wait = inner.room_wait();
        loop {
            validated_through = self.validate_through(writes, validated_through)?;
            if inner.wait_for_room_step(&mut wait, ROOM_WAIT_STEP)? {
                return Ok(validated_through);
            }
        }
    }

    /// Validates the commit against what committed after `from` and
    /// raises its registered read timestamp to the newest commit sequenced
    /// so far, which it returns.
    fn validate_through(&self, writes: &WriteSet, from: Timestamp) -> Result<Timestamp> {
        let inner = &self.inner;
        let through = {
            let sequencer = inner.sequencer.lock();
            self.validate_since(&sequencer, from, writes)?;
            // Read under the sequencer: every commit at or below it was
            // sequenced, so installed (pending or decided), before this
            // validation. Not the visible watermark: a commit sequenced
            // but not yet finished would stay above the raised timestamp,
            // and the fold could never pass it.
            inner.watermark.last_begun()
        };
        if let Some(registration) = self.registration.as_ref() {
            inner.registry.raise_read_timestamp(registration, through);
        }
        Ok(through)
    }

    /// Validates the commit's reads and writes against what committed
    /// after `from`, inside the sequencer critical section.
    fn validate_since(
        &self,
        sequencer: &Sequencer,
        from: Timestamp,
        writes: &WriteSet,
    ) -> Result<()> {
        self.inner
            .validate(
                sequencer,
                self.transaction_id,
                self.isolation,
                from,
                &self.reads.borrow(),
                writes,
            )
            .map_err(|error| self.note_conflict(error))
    }

    /// Commits: a read-only transaction just ends; a writing one is
    /// validated, logged and installed, and returns once its log record is
    /// durable and transactions beginning afterwards see it. On
    /// [`Error::Conflict`] nothing was written.
    pub fn commit(mut self) -> Result<CommitInfo> {
        self.check_usable_now()?;
        if self.writes.is_empty() {
            self.finished = true;
            Counters::bump(&self.inner.counters.read_only_commits);
            return Ok(CommitInfo {
                transaction_id: self.transaction_id,
                commit_timestamp: None,
            });
        }
        let inner = Arc::clone(&self.inner);
        inner.check_writable()?;
        let writes = Arc::new(self.take_write_set()?);
        let validated_through = if inner.delta.bytes() >= inner.slowdown_bytes() {
            self.wait_for_room(&writes)?
        } else {
            self.read_timestamp
        };
        let expiry = self.expiry_check();
        let outcome = inner.commit_job(CommitJob {
            transaction_id: self.transaction_id,
            isolation: self.isolation,
            validated_through,
            reads: std::mem::take(self.reads.get_mut()),
            writes,
            hint: self.log_hint,
            expiry,
        });
        self.finished = outcome.sequenced;
        outcome.result
    }

    /// Prepares for two-phase commit without a global id:
    /// [`prepare_global`](Self::prepare_global) with an empty one.
    pub fn prepare(self) -> Result<PreparedTransaction> {
        self.prepare_global(Bytes::new())
    }

    /// Prepares for two-phase commit under `global_id` (chosen by the
    /// coordinator; opaque to keel-mvcc, logged with the prepare, and
    /// unique among the undecided prepared transactions when not empty):
    /// validates like `commit` — conflicts, and under Serializable the
    /// expiry of every value read against the prepare timestamp — logs the
    /// write set, global id and read set as prepared, and holds its keys
    /// (and, if serializable, its reads) against conflicting commits until
    /// the returned handle commits or aborts it. Under Serializable, a key
    /// it read (or a range it scanned) that a transaction prepared already
    /// writes is a conflict too: that one may commit first, and this one's
    /// commit is not validated again. On an error nothing is prepared.
    ///
    /// # Errors
    /// [`Error::Conflict`] (also
    /// [`ConflictKind::ReadExpired`](crate::ConflictKind::ReadExpired) and
    /// [`ConflictKind::HeldByPrepared`](crate::ConflictKind::HeldByPrepared)),
    /// [`Error::GlobalIdPrepared`], the age and size limits, log failures.
    pub fn prepare_global(mut self, global_id: Bytes) -> Result<PreparedTransaction> {
        self.check_usable_now()?;
        let inner = Arc::clone(&self.inner);
        inner.check_writable()?;
        if let Some(registration) = self.registration.as_mut() {
            inner.registry.leave_grace_set(registration);
        }
        let writes = Arc::new(self.take_write_set()?);
        let expiry = self.expiry_check();
        let reads = match self.isolation {
            Isolation::Serializable => {
                let mut reads = std::mem::take(self.reads.get_mut());
                reads.seal();
                Some(reads)
            }
            Isolation::Snapshot => None,
        };
        let mut sequencer = inner.sequencer.lock();
        inner.check_writable()?;
        if !global_id.is_empty()
            && sequencer
                .prepared
                .values()
                .any(|intents| intents.global_id == global_id)
        {
            return Err(Error::GlobalIdPrepared { global_id });
        }
        inner
            .validate(
                &sequencer,
                self.transaction_id,
                self.isolation,
                self.read_timestamp,
                reads.as_ref().unwrap_or(&ReadSet::default()),
                &writes,
            )
            .map_err(|error| self.note_conflict(error))?;
        if let Some(reads) = &reads {
            inner
                .validate_reads_against_prepared(
                    &sequencer,
                    self.transaction_id,
                    self.read_timestamp,
                    reads,
                )
                .map_err(|error| self.note_conflict(error))?;
        }
        let prepare_timestamp = inner.oracle.next()?;
        ExpiryCheck::check(expiry.as_ref(), self.transaction_id, prepare_timestamp)
            .map_err(|error| self.note_conflict(error))?;
        let record = LogRecord::Prepare {
            transaction_id: self.transaction_id,
            prepare_timestamp,
            global_id: &global_id,
            writes: &writes,
            reads: reads.as_ref(),
        };
        let ticket = inner.log.append(record).map_err(|source| {
            inner.log_failed(self.transaction_id, LogOperation::Append, source)
        })?;
        sequencer.prepared.insert(
            self.transaction_id,
            PreparedIntents {
                prepare_timestamp,
                global_id: global_id.clone(),
                writes: Arc::clone(&writes),
                reads,
                handle_out: true,
            },
        );
        drop(sequencer);
        if let Err(source) = inner.log.wait_durable(ticket) {
            inner.sequencer.lock().prepared.remove(&self.transaction_id);
            return Err(inner.log_failed(self.transaction_id, LogOperation::WaitDurable, source));
        }
        self.finished = true;
        Counters::bump(&inner.counters.prepares);
        Ok(PreparedTransaction::new(
            inner,
            self.transaction_id,
            prepare_timestamp,
            global_id,
            writes,
        ))
    }

    /// Abandons the transaction (as dropping it does).
    pub fn rollback(self) {}
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if let Some(registration) = self.registration.take() {
            self.inner.registry.unregister(registration);
        }
        if !self.finished {
            Counters::bump(&self.inner.counters.rollbacks);
        }
    }
}

/// Where a point read finds its version.
enum Lookup<'a> {
    Own(Cow<'a, Change>),
    Delta(Change),
    Base,
}

fn base_get_error(key: &[u8], source: crate::BoxError) -> Error {
    Error::Base {
        operation: BaseOperation::Get,
        key: Some(Bytes::copy_from_slice(key)),
        source,
    }
}

/// The entry a change reads as at `read_physical_ms`.
fn live_entry(change: &Change, read_physical_ms: u64) -> Option<ValueEntry> {
    match change {
        Change::Put {
            value,
            expires_at_ms,
        } if is_live(*expires_at_ms, read_physical_ms) => Some(ValueEntry {
            value: value.clone(),
            expires_at_ms: *expires_at_ms,
        }),
        _ => None,
    }
}

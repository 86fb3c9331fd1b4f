//! [`TransactionManager`]: begins transactions, sequences commits (validate,
//! timestamp, log append and install in one short critical section), keeps
//! the watermark, the active registry and the safe point, and folds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use keel_tso::{Timestamp, TimestampOracle};
use parking_lot::{Condvar, Mutex};

use crate::base::{BaseStore, FoldSink};
use crate::chain::CommitStatus;
use crate::commit::SequencerLock;
use crate::delta::DeltaStore;
use crate::error::{BoxError, ConflictKind, Error, LogOperation, Result, SharedError};
use crate::fold::FoldState;
use crate::log::CommitLog;
use crate::options::{Isolation, MvccOptions};
use crate::prepared::PreparedTransaction;
use crate::read_set::ReadSet;
use crate::registry::Registry;
use crate::stats::{Counters, MvccStats};
use crate::transaction::Transaction;
use crate::watermark::Watermark;
use crate::write_set::WriteSet;

/// A prepared transaction's hold on keys: its writes, and (if it is
/// serializable) its reads, which no commit may write until it is decided.
#[derive(Debug)]
pub(crate) struct PreparedIntents {
    pub(crate) prepare_timestamp: Timestamp,
    pub(crate) global_id: Bytes,
    pub(crate) writes: Arc<WriteSet>,
    pub(crate) reads: Option<ReadSet>,
    /// A [`PreparedTransaction`] handle exists for it.
    pub(crate) handle_out: bool,
}

/// What the sequencer critical section guards.
#[derive(Debug, Default)]
pub(crate) struct Sequencer {
    pub(crate) prepared: BTreeMap<u64, PreparedIntents>,
}

/// The state shared by the manager and its transactions.
pub(crate) struct Inner {
    pub(crate) options: MvccOptions,
    pub(crate) base: Arc<dyn BaseStore>,
    pub(crate) log: Arc<dyn CommitLog>,
    pub(crate) oracle: Arc<dyn TimestampOracle>,
    pub(crate) delta: DeltaStore,
    pub(crate) watermark: Watermark,
    pub(crate) registry: Registry,
    pub(crate) sequencer: SequencerLock,
    pub(crate) poison: OnceLock<SharedError>,
    pub(crate) counters: Counters,
    pub(crate) next_transaction_id: AtomicU64,
    pub(crate) fold: Mutex<FoldState>,
    pub(crate) fold_point: AtomicU64,
    /// Signalled when garbage collection frees delta bytes.
    pub(crate) room: (Mutex<()>, Condvar),
    /// When the manager was made: the origin of `idle_advance_due_ns`.
    pub(crate) started: Instant,
    /// Nanoseconds after `started` at which `begin` next advances an idle
    /// watermark.
    pub(crate) idle_advance_due_ns: AtomicU64,
}

/// The longest delay of a write commit slowed down by a filling delta.
pub const SLOWDOWN_DELAY_MAX: std::time::Duration = std::time::Duration::from_millis(1);

/// How long a committer waiting for room in a full delta sleeps between
/// validations (each moves its registered read timestamp past the commits
/// that landed meanwhile, so that the fold may take them).
pub const ROOM_WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(1);

/// A committer's wait for room in a full delta (see
/// [`Inner::wait_for_room_step`]).
#[derive(Debug)]
pub(crate) struct RoomWait {
    started: Instant,
    deadline: Instant,
    freed_seen: u64,
}

/// A prepared transaction waiting for its decision, as
/// [`TransactionManager::prepared`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PreparedInfo {
    /// The transaction's id.
    pub transaction_id: u64,
    /// The global id it was prepared under (empty if none).
    pub global_id: Bytes,
    /// The timestamp taken when it prepared.
    pub prepare_timestamp: Timestamp,
    /// How many keys it writes.
    pub writes: usize,
    /// A [`PreparedTransaction`] handle for it is alive.
    pub in_use: bool,
}

/// A serializable transaction's earliest read expiry, checked against the
/// commit timestamp once it is taken.
#[derive(Debug, Clone)]
pub(crate) struct ExpiryCheck {
    pub(crate) expires_at_ms: u64,
    pub(crate) key: Bytes,
    pub(crate) read_timestamp: Timestamp,
}

impl ExpiryCheck {
    /// The conflict if a value read has expired at `timestamp`.
    pub(crate) fn check(
        check: Option<&ExpiryCheck>,
        transaction_id: u64,
        timestamp: Timestamp,
    ) -> Result<()> {
        match check {
            Some(check) if timestamp.physical_ms() >= check.expires_at_ms => Err(Error::Conflict {
                transaction_id,
                key: check.key.clone(),
                kind: ConflictKind::ReadExpired,
                read_timestamp: check.read_timestamp,
                conflicting_timestamp: Some(timestamp),
            }),
            _ => Ok(()),
        }
    }
}

/// The outcome of a successful commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitInfo {
    /// The transaction.
    pub transaction_id: u64,
    /// Its commit timestamp; `None` for a read-only transaction, which
    /// takes none.
    pub commit_timestamp: Option<Timestamp>,
}

impl Inner {
    pub(crate) fn fold_point(&self) -> Timestamp {
        Timestamp::from_u64(self.fold_point.load(Ordering::Acquire))
    }

    /// Fails if an earlier log failure poisoned writes.
    pub(crate) fn check_writable(&self) -> Result<()> {
        match self.poison.get() {
            Some(source) => Err(Error::WritesPoisoned {
                source: Arc::clone(source),
            }),
            None => Ok(()),
        }
    }

    /// Records a log failure (latching the first) and builds its error.
    pub(crate) fn log_failed(
        &self,
        transaction_id: u64,
        operation: LogOperation,
        source: BoxError,
    ) -> Error {
        Error::Log {
            transaction_id,
            operation,
            source: self.log_poisoned(operation, source),
        }
    }

    /// Counts a log failure of `operation` and poisons writes with it (the
    /// first one latched); returns it shared.
    pub(crate) fn log_poisoned(&self, operation: LogOperation, source: BoxError) -> SharedError {
        Counters::bump(&self.counters.log_failures);
        let source: SharedError = Arc::from(source);
        let first = self.poison.get_or_init(|| Arc::clone(&source));
        tracing::error!(?operation, error = %first, "log failure: writes poisoned");
        source
    }

    /// Where write commits start being slowed down: three quarters of
    /// [`MvccOptions::delta_bytes_max`].
    pub(crate) fn slowdown_bytes(&self) -> u64 {
        self.options.delta_bytes_max / 4 * 3
    }

    /// Slows a write commit down while the delta's skiplist is past
    /// [`Inner::slowdown_bytes`] and below its limit (RocksDB's write
    /// slowdown): a sleep that grows with the fill, up to
    /// [`SLOWDOWN_DELAY_MAX`] at the limit. Never blocks longer.
    pub(crate) fn slow_down(&self) {
        let limit_bytes = self.options.delta_bytes_max;
        let slowdown_bytes = self.slowdown_bytes();
        let bytes = self.delta.bytes();
        if bytes < slowdown_bytes || bytes >= limit_bytes {
            return;
        }
        Counters::bump(&self.counters.delta_slowdowns);
        let fill = (bytes - slowdown_bytes) as f64 / (limit_bytes - slowdown_bytes) as f64;
        std::thread::sleep(SLOWDOWN_DELAY_MAX.mul_f64(fill.clamp(0.0, 1.0)));
    }

    /// Whether the delta's skiplist is at its limit (a write commit must
    /// wait for a fold, [`Inner::room_wait`]).
    pub(crate) fn delta_full(&self) -> bool {
        self.delta.bytes() >= self.options.delta_bytes_max
    }

    /// Starts a write commit's wait for the fold to free room in a full
    /// delta (RocksDB's write stall).
    pub(crate) fn room_wait(&self) -> RoomWait {
        Counters::bump(&self.counters.delta_full_waits);
        let started = Instant::now();
        RoomWait {
            started,
            deadline: started + self.options.delta_full_wait_max,
            freed_seen: self.counters.room_freed.load(Ordering::Acquire),
        }
    }

    /// Waits up to `step` for room: `Ok(true)` once the delta is below its
    /// limit, `Ok(false)` if it is still full; fails only once
    /// [`MvccOptions::delta_full_wait_max`] passed with no room freed at
    /// all (any progress of the folder restarts that clock).
    pub(crate) fn wait_for_room_step(&self, wait: &mut RoomWait, step: Duration) -> Result<bool> {
        let limit_bytes = self.options.delta_bytes_max;
        let (lock, condvar) = &self.room;
        let mut guard = lock.lock();
        if self.delta.bytes() < limit_bytes {
            return Ok(true);
        }
        let until = (Instant::now() + step).min(wait.deadline);
        condvar.wait_until(&mut guard, until);
        drop(guard);
        let freed = self.counters.room_freed.load(Ordering::Acquire);
        if freed != wait.freed_seen {
            // The folder is making progress: wait on.
            wait.freed_seen = freed;
            wait.deadline = Instant::now() + self.options.delta_full_wait_max;
        }
        let bytes = self.delta.bytes();
        if bytes < limit_bytes {
            return Ok(true);
        }
        if Instant::now() >= wait.deadline {
            return Err(Error::DeltaFull {
                delta_bytes: bytes,
                limit_bytes,
                waited_ms: u64::try_from(wait.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
        }
        Ok(false)
    }

    /// Validates a transaction inside the sequencer critical section.
    pub(crate) fn validate(
        &self,
        sequencer: &Sequencer,
        transaction_id: u64,
        isolation: Isolation,
        read_timestamp: Timestamp,
        reads: &ReadSet,
        writes: &WriteSet,
    ) -> Result<()> {
        let conflict = |key: &bytes::Bytes, kind, conflicting_timestamp| Error::Conflict {
            transaction_id,
            key: key.clone(),
            kind,
            read_timestamp,
            conflicting_timestamp,
        };
        match isolation {
            Isolation::Serializable => {
                for key in &reads.keys {
                    if let Some(newest) = self.delta.newer_than(key, read_timestamp) {
                        return Err(conflict(key, ConflictKind::ReadChanged, Some(newest)));
                    }
                }
                for range in &reads.ranges {
                    if let Some((key, newest)) =
                        self.delta
                            .first_newer_in_range(&range.lower, &range.upper, read_timestamp)
                    {
                        return Err(conflict(&key, ConflictKind::Phantom, Some(newest)));
                    }
                }
            }
            Isolation::Snapshot => {
                for entry in writes.iter() {
                    if let Some(newest) = self.delta.newer_than(&entry.key, read_timestamp) {
                        return Err(conflict(&entry.key, ConflictKind::WriteWrite, Some(newest)));
                    }
                }
            }
        }
        for (prepared_id, intents) in &sequencer.prepared {
            for entry in writes.iter() {
                let held = intents.writes.contains_key(&entry.key)
                    || intents
                        .reads
                        .as_ref()
                        .is_some_and(|reads| reads.covers(&entry.key));
                if held {
                    return Err(conflict(
                        &entry.key,
                        ConflictKind::HeldByPrepared {
                            transaction_id: *prepared_id,
                        },
                        None,
                    ));
                }
            }
        }
        Ok(())
    }

    /// A serializable prepare's check beyond [`Inner::validate`]: no key it
    /// read and no range it scanned may hold a write of a transaction
    /// already prepared. That one may commit first, above this one's read
    /// timestamp, and this one's commit is not validated again, so what it
    /// read would no longer hold. (The other order — a write against a
    /// prepared transaction's held reads — `validate` refuses.)
    pub(crate) fn validate_reads_against_prepared(
        &self,
        sequencer: &Sequencer,
        transaction_id: u64,
        read_timestamp: Timestamp,
        reads: &ReadSet,
    ) -> Result<()> {
        for (prepared_id, intents) in &sequencer.prepared {
            let read_key = reads
                .keys()
                .iter()
                .find(|key| intents.writes.contains_key(key))
                .cloned();
            let held = read_key.or_else(|| {
                if reads.ranges().is_empty() {
                    return None;
                }
                intents
                    .writes
                    .iter()
                    .find(|entry| {
                        reads
                            .ranges()
                            .iter()
                            .any(|range| range.contains(&entry.key))
                    })
                    .map(|entry| entry.key.clone())
            });
            if let Some(key) = held {
                return Err(Error::Conflict {
                    transaction_id,
                    key,
                    kind: ConflictKind::HeldByPrepared {
                        transaction_id: *prepared_id,
                    },
                    read_timestamp,
                    conflicting_timestamp: None,
                });
            }
        }
        Ok(())
    }
}

/// Begins transactions and owns everything they share. Cheap to clone (an
/// `Arc`).
///
/// ```
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use keel_mvcc::{Isolation, MvccOptions, NoLog, TransactionManager};
/// use keel_mvcc::testing::{MemoryBase, test_oracle};
///
/// let manager = TransactionManager::new(
///     Arc::new(MemoryBase::new()),
///     Arc::new(NoLog),
///     test_oracle(),
///     MvccOptions::default(),
/// )?;
/// let mut writer = manager.begin(Isolation::Serializable);
/// writer.put(b"k", Bytes::from_static(b"v"))?;
/// writer.commit()?;
/// let mut reader = manager.begin(Isolation::Serializable);
/// assert_eq!(reader.get(b"k")?, Some(Bytes::from_static(b"v")));
/// # Ok::<(), keel_mvcc::Error>(())
/// ```
#[derive(Clone)]
pub struct TransactionManager {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for TransactionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionManager")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl TransactionManager {
    /// A manager over a base at `Timestamp::ZERO` with nothing to replay
    /// (a new database).
    pub fn new(
        base: Arc<dyn BaseStore>,
        log: Arc<dyn CommitLog>,
        oracle: Arc<dyn TimestampOracle>,
        options: MvccOptions,
    ) -> Result<TransactionManager> {
        TransactionManager::recover(base, log, oracle, options, Timestamp::ZERO).finish()
    }

    /// Starts recovery over a base holding the state at `fold_point`: replay
    /// the log's records into the returned [`Recovery`], then
    /// [`finish`](Recovery::finish) it.
    pub fn recover(
        base: Arc<dyn BaseStore>,
        log: Arc<dyn CommitLog>,
        oracle: Arc<dyn TimestampOracle>,
        options: MvccOptions,
        fold_point: Timestamp,
    ) -> Recovery {
        let inner = Inner {
            options,
            base,
            log,
            oracle,
            delta: DeltaStore::default(),
            watermark: Watermark::new(fold_point),
            registry: Registry::new(),
            sequencer: SequencerLock::new(Sequencer::default()),
            poison: OnceLock::new(),
            counters: Counters::default(),
            next_transaction_id: AtomicU64::new(1),
            fold: Mutex::new(FoldState::default()),
            fold_point: AtomicU64::new(fold_point.as_u64()),
            room: (Mutex::new(()), Condvar::new()),
            started: Instant::now(),
            idle_advance_due_ns: AtomicU64::new(0),
        };
        Recovery {
            inner,
            last_replayed: fold_point,
            last_transaction_id: 0,
        }
    }

    /// Begins a transaction reading at the visible watermark. It is in the
    /// active registry before its read timestamp is fixed (BRIEF
    /// invariant 3).
    pub fn begin(&self, isolation: Isolation) -> Transaction {
        self.advance_if_idle();
        self.begin_at_watermark(isolation)
    }

    /// As [`TransactionManager::begin`], without moving an idle watermark
    /// up first: for reads that judge no expiry, such as a catalog read at
    /// open, which would otherwise take the first timestamp (and its
    /// durable mark: two syncs) of a database opened only to be read.
    pub fn begin_at_watermark(&self, isolation: Isolation) -> Transaction {
        let transaction_id = self
            .inner
            .next_transaction_id
            .fetch_add(1, Ordering::Relaxed);
        let registration = self.inner.registry.register(&self.inner.watermark);
        Transaction::new(
            Arc::clone(&self.inner),
            transaction_id,
            isolation,
            registration,
            Instant::now(),
        )
    }

    /// Moves the watermark up ([`TransactionManager::advance_watermark`])
    /// if [`MvccOptions::watermark_idle_advance_interval`] passed since the
    /// last time.
    fn advance_if_idle(&self) {
        let inner = &self.inner;
        let now_ns = u64::try_from(Instant::now().duration_since(inner.started).as_nanos())
            .unwrap_or(u64::MAX);
        let due_ns = inner.idle_advance_due_ns.load(Ordering::Relaxed);
        let interval_ns = u64::try_from(inner.options.watermark_idle_advance_interval.as_nanos())
            .unwrap_or(u64::MAX);
        if now_ns >= due_ns
            && inner.options.watermark_idle_advance_interval != std::time::Duration::MAX
            && inner
                .idle_advance_due_ns
                .compare_exchange(
                    due_ns,
                    now_ns.saturating_add(interval_ns),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            // An oracle failure leaves the watermark where it is, which is
            // still a correct (older) snapshot; commits report the failure.
            let _ = self.advance_watermark();
        }
    }

    /// Moves the visible watermark up to a fresh timestamp if no commit is
    /// in flight (as a commit writing nothing would), so that transactions
    /// beginning afterwards judge expiry at the current time and the safe
    /// point can advance. `begin` calls it at most every
    /// [`MvccOptions::watermark_idle_advance_interval`]; the engine's
    /// background thread may call it too. Returns the watermark.
    pub fn advance_watermark(&self) -> Result<Timestamp> {
        let inner = &self.inner;
        let _sequencer = inner.sequencer.lock();
        // Under the sequencer no commit is between taking its timestamp
        // and entering the watermark, so nothing in flight means every
        // timestamp issued for a commit is finished.
        if inner.watermark.in_flight() == 0 {
            let timestamp = inner.oracle.next()?;
            inner.watermark.begin(timestamp);
            inner.watermark.finish(timestamp);
        }
        Ok(inner.watermark.visible())
    }

    /// The highest timestamp a fold may use now: the older of the oldest
    /// active read timestamp and the visible watermark.
    pub fn safe_point(&self) -> Timestamp {
        let safe_point = self.inner.registry.safe_point(&self.inner.watermark);
        debug_assert!(safe_point >= self.inner.fold_point());
        safe_point
    }

    /// The visible watermark: the timestamp new transactions read at.
    pub fn visible_watermark(&self) -> Timestamp {
        self.inner.watermark.visible()
    }

    /// The fold point: the state the base holds.
    pub fn fold_point(&self) -> Timestamp {
        self.inner.fold_point()
    }

    /// Folds up to `safe_point` (at most [`safe_point`](Self::safe_point)):
    /// see [`crate::fold`].
    pub fn fold(
        &self,
        safe_point: Timestamp,
        sink: &mut dyn FoldSink,
    ) -> Result<crate::FoldReport> {
        crate::fold::fold(self, safe_point, sink)
    }

    /// Drops the versions of earlier folds whose grace period has ended:
    /// see [`crate::fold`]. `fold` does this too.
    pub fn collect_garbage(&self) -> crate::chain::Detached {
        crate::fold::collect_ready(&self.inner, &mut self.inner.fold.lock())
    }

    /// A handle on a prepared transaction that has none (one dropped
    /// undecided, or restored by recovery).
    pub fn resume_prepared(&self, transaction_id: u64) -> Option<PreparedTransaction> {
        let mut sequencer = self.inner.sequencer.lock();
        let intents = sequencer.prepared.get_mut(&transaction_id)?;
        if intents.handle_out {
            return None;
        }
        intents.handle_out = true;
        Some(PreparedTransaction::new(
            Arc::clone(&self.inner),
            transaction_id,
            intents.prepare_timestamp,
            intents.global_id.clone(),
            Arc::clone(&intents.writes),
        ))
    }

    /// A handle on the prepared transaction with `global_id` (non-empty).
    ///
    /// # Errors
    /// [`Error::PreparedNotFound`] if none waits for a decision under it;
    /// [`Error::PreparedInUse`] if a handle on it is alive.
    pub fn resume_prepared_global(&self, global_id: &[u8]) -> Result<PreparedTransaction> {
        let mut sequencer = self.inner.sequencer.lock();
        let found = sequencer
            .prepared
            .iter_mut()
            .find(|(_, intents)| !global_id.is_empty() && intents.global_id == global_id);
        let Some((transaction_id, intents)) = found else {
            return Err(Error::PreparedNotFound {
                global_id: Bytes::copy_from_slice(global_id),
            });
        };
        if intents.handle_out {
            return Err(Error::PreparedInUse {
                global_id: Bytes::copy_from_slice(global_id),
            });
        }
        intents.handle_out = true;
        Ok(PreparedTransaction::new(
            Arc::clone(&self.inner),
            *transaction_id,
            intents.prepare_timestamp,
            intents.global_id.clone(),
            Arc::clone(&intents.writes),
        ))
    }

    /// The prepared transactions not yet decided, by transaction id.
    pub fn prepared(&self) -> Vec<PreparedInfo> {
        self.inner
            .sequencer
            .lock()
            .prepared
            .iter()
            .map(|(transaction_id, intents)| PreparedInfo {
                transaction_id: *transaction_id,
                global_id: intents.global_id.clone(),
                prepare_timestamp: intents.prepare_timestamp,
                writes: intents.writes.len(),
                in_use: intents.handle_out,
            })
            .collect()
    }

    /// The ids of the prepared transactions not yet decided.
    pub fn prepared_transaction_ids(&self) -> Vec<u64> {
        self.inner
            .sequencer
            .lock()
            .prepared
            .keys()
            .copied()
            .collect()
    }

    /// The first log failure, if one poisoned writes.
    pub fn poisoned(&self) -> Option<SharedError> {
        self.inner.poison.get().cloned()
    }

    /// A snapshot of the counters and gauges.
    pub fn stats(&self) -> MvccStats {
        let counters = &self.inner.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MvccStats {
            commits: load(&counters.commits),
            read_only_commits: load(&counters.read_only_commits),
            conflicts: load(&counters.conflicts),
            rollbacks: load(&counters.rollbacks),
            log_failures: load(&counters.log_failures),
            prepares: load(&counters.prepares),
            prepared: self.inner.sequencer.lock().prepared.len() as u64,
            transactions_aged: load(&counters.transactions_aged),
            transactions_too_old: load(&counters.transactions_too_old),
            delta_full_waits: load(&counters.delta_full_waits),
            runs_spilled: load(&counters.runs_spilled),
            delta_slowdowns: load(&counters.delta_slowdowns),
            folds: load(&counters.folds),
            versions_folded: load(&counters.versions_folded),
            versions_collected: load(&counters.versions_collected),
            delta_bytes: self.inner.delta.bytes() + self.inner.delta.batch_bytes(),
            delta_batch_bytes: self.inner.delta.batch_bytes(),
            delta_batches: self.inner.delta.batches_held() as u64,
            delta_versions: self.inner.delta.versions(),
            delta_keys: self.inner.delta.keys() as u64,
            active_transactions: self.inner.registry.active() as u64,
            oldest_active_read_timestamp: self.inner.registry.oldest_read_timestamp(),
            visible_watermark: self.inner.watermark.visible(),
            fold_point: self.inner.fold_point(),
            writes_poisoned: self.inner.poison.get().is_some(),
        }
    }

    /// Checks the delta store's invariants in O(versions): every chain
    /// strictly newest first; nothing pending or aborted at or below the
    /// watermark that is not withdrawn; at most one version at or below the
    /// fold point per key. Returns a description of the first violation.
    pub fn check(&self) -> std::result::Result<(), String> {
        let fold_point = self.inner.fold_point();
        let watermark = self.inner.watermark.visible();
        let check_key =
            |entry: &crate::delta::DeltaEntry<'_, '_>| -> std::result::Result<bool, String> {
                let versions = entry.value().versions();
                let key = entry.key();
                for pair in versions.windows(2) {
                    if pair[0].0.timestamp <= pair[1].0.timestamp {
                        return Err(format!("key {key:?}: versions out of order"));
                    }
                }
                let at_or_below_fold = versions
                    .iter()
                    .filter(|(version, state)| {
                        version.timestamp <= fold_point && *state != crate::CommitState::Aborted
                    })
                    .count();
                if at_or_below_fold > 1 {
                    return Err(format!(
                        "key {key:?}: {at_or_below_fold} versions at or below the fold point {fold_point}"
                    ));
                }
                if let Some((version, _)) = versions.iter().find(|(version, state)| {
                    version.timestamp <= watermark && *state == crate::CommitState::Pending
                }) {
                    return Err(format!(
                        "key {key:?}: version at {} is pending below the watermark {watermark}",
                        version.timestamp
                    ));
                }
                Ok(false)
            };
        self.inner.delta.walk(check_key, |_| {})
    }
}

/// A manager being recovered: replay the log into it, restore prepared
/// transactions, then [`finish`](Recovery::finish).
pub struct Recovery {
    inner: Inner,
    last_replayed: Timestamp,
    last_transaction_id: u64,
}

impl std::fmt::Debug for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recovery")
            .field("last_replayed", &self.last_replayed)
            .finish_non_exhaustive()
    }
}

impl Recovery {
    /// The options the manager will run with.
    pub fn options(&self) -> &MvccOptions {
        &self.inner.options
    }

    /// Installs a committed write set from the log. Commits at or below the
    /// fold point are already in the base and are skipped (returns false),
    /// so replaying a log twice is harmless. Commits must come in timestamp
    /// order ([`Error::ReplayOutOfOrder`] otherwise).
    pub fn replay_commit(
        &mut self,
        transaction_id: u64,
        commit_timestamp: Timestamp,
        writes: WriteSet,
    ) -> Result<bool> {
        self.note_transaction_id(transaction_id);
        if commit_timestamp <= self.inner.fold_point() {
            return Ok(false);
        }
        if commit_timestamp <= self.last_replayed {
            return Err(Error::ReplayOutOfOrder {
                timestamp: commit_timestamp,
                previous: self.last_replayed,
            });
        }
        let status = Arc::new(CommitStatus::committed());
        self.inner.delta.install_write_set(
            &Arc::new(writes),
            commit_timestamp,
            &status,
            self.inner.options.batch_commit_bytes_min,
        );
        self.last_replayed = commit_timestamp;
        Ok(true)
    }

    /// Restores a transaction that was prepared and not decided before the
    /// crash, as its prepare record logged it: its writes and (`reads`,
    /// `None` for a snapshot transaction) its reads are held against
    /// conflicting commits again, as they were before the crash, and
    /// [`TransactionManager::resume_prepared`] hands it out. Its reads were
    /// validated at its prepare timestamp; holding them since keeps them
    /// valid. (For a prepare record that did not log its reads, pass
    /// [`ReadSet::everything`].)
    ///
    /// # Errors
    /// [`Error::PreparedExists`] for a transaction id restored twice;
    /// [`Error::GlobalIdPrepared`] for a non-empty global id restored twice.
    pub fn restore_prepared(
        &mut self,
        transaction_id: u64,
        prepare_timestamp: Timestamp,
        global_id: Bytes,
        writes: WriteSet,
        reads: Option<ReadSet>,
    ) -> Result<()> {
        self.note_transaction_id(transaction_id);
        let prepared = &mut self.inner.sequencer.get_mut().prepared;
        if prepared.contains_key(&transaction_id) {
            return Err(Error::PreparedExists { transaction_id });
        }
        if !global_id.is_empty()
            && prepared
                .values()
                .any(|intents| intents.global_id == global_id)
        {
            return Err(Error::GlobalIdPrepared { global_id });
        }
        prepared.insert(
            transaction_id,
            PreparedIntents {
                prepare_timestamp,
                global_id,
                writes: Arc::new(writes),
                reads: reads.map(|mut reads| {
                    reads.seal();
                    reads
                }),
                handle_out: false,
            },
        );
        Ok(())
    }

    /// Notes a transaction id the log holds (a prepare or a decision), so
    /// that no transaction after recovery takes it.
    pub fn note_transaction_id(&mut self, transaction_id: u64) {
        self.last_transaction_id = self.last_transaction_id.max(transaction_id);
    }

    /// The fold point recovery started from: commits at or below it are in
    /// the base.
    pub fn fold_point(&self) -> Timestamp {
        self.inner.fold_point()
    }

    /// The newest commit timestamp replayed (the fold point if none).
    pub fn last_replayed(&self) -> Timestamp {
        self.last_replayed
    }

    /// Ends recovery: the watermark is the last replayed timestamp, and the
    /// oracle resumes above it.
    pub fn finish(self) -> Result<TransactionManager> {
        let Recovery {
            inner,
            last_replayed,
            last_transaction_id,
        } = self;
        inner.oracle.advance_to(last_replayed)?;
        inner.watermark.raise(last_replayed);
        inner
            .next_transaction_id
            .store(last_transaction_id + 1, Ordering::Relaxed);
        Ok(TransactionManager {
            inner: Arc::new(inner),
        })
    }
}

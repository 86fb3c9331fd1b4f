//! In-memory implementations of the traits the engine implements — a
//! `BTreeMap` base with a fold sink, a recording log with fault injection,
//! and an oracle without persistence — for this crate's tests, benches and
//! examples, and for the engine's own tests of code above this crate.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use keel_tso::{
    HybridClock, ManualClock, PhysicalClock, SystemClock, Timestamp, TimestampOracle,
    TimestampRange,
};
use parking_lot::{Mutex, RwLock};

use crate::base::{BaseCursor, BaseItem, BaseIterator, BaseStore, FoldSink, LentEntry, ValueEntry};
use crate::error::BoxError;
use crate::log::{CommitLog, LogRecord, LogTicket};
use crate::read_set::ReadSet;
use crate::write_set::{Change, WriteSet};

/// An error injected by a test double.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("injected failure: {0}")]
pub struct InjectedError(pub &'static str);

/// A base store in a `BTreeMap`. Range iterators copy the range when they
/// are opened (as a B+tree iterator opened before a fold keeps reading the
/// older pages), so tests can check that a fold never leaves such an
/// iterator without the folded versions.
#[derive(Debug, Default)]
pub struct MemoryBase {
    entries: RwLock<BTreeMap<Bytes, ValueEntry>>,
    fold_point: AtomicU64,
    fail_reads: AtomicBool,
    fail_fold_applies: AtomicBool,
}

impl MemoryBase {
    /// An empty base.
    pub fn new() -> MemoryBase {
        MemoryBase::default()
    }

    /// A base holding `entries` (no expiry) at fold point zero.
    pub fn with_entries<'a>(entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> MemoryBase {
        let base = MemoryBase::new();
        {
            let mut map = base.entries.write();
            for (key, value) in entries {
                map.insert(
                    Bytes::copy_from_slice(key),
                    ValueEntry {
                        value: Bytes::copy_from_slice(value),
                        expires_at_ms: None,
                    },
                );
            }
        }
        base
    }

    /// A copy of everything in the base.
    pub fn snapshot(&self) -> BTreeMap<Bytes, ValueEntry> {
        self.entries.read().clone()
    }

    /// The fold point of the last finished fold.
    pub fn fold_point(&self) -> Timestamp {
        Timestamp::from_u64(self.fold_point.load(Ordering::Acquire))
    }

    /// Makes every read fail (or not).
    pub fn set_fail_reads(&self, fail: bool) {
        self.fail_reads.store(fail, Ordering::SeqCst);
    }

    /// Makes every fold write fail (or not).
    pub fn set_fail_fold_applies(&self, fail: bool) {
        self.fail_fold_applies.store(fail, Ordering::SeqCst);
    }

    /// The fold sink writing into this base.
    pub fn sink(&self) -> MemorySink<'_> {
        MemorySink { base: self }
    }

    fn check_reads(&self) -> Result<(), BoxError> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(Box::new(InjectedError("base read")));
        }
        Ok(())
    }
}

impl BaseStore for MemoryBase {
    fn get(&self, key: &[u8]) -> Result<Option<ValueEntry>, BoxError> {
        self.check_reads()?;
        Ok(self.entries.read().get(key).cloned())
    }

    fn range<'a>(
        &'a self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
    ) -> Result<BaseIterator<'a>, BoxError> {
        self.check_reads()?;
        let entries = self.entries.read();
        let items: Vec<(Bytes, ValueEntry)> = entries
            .range::<[u8], _>((lower, upper))
            .map(|(key, entry)| (key.clone(), entry.clone()))
            .collect();
        Ok(Box::new(MemoryCursor {
            items: items.into(),
            lent: None,
            fail_reads: &self.fail_reads,
        }))
    }
}

/// A range of a [`MemoryBase`]: the copied entries, taken from either
/// end; it lends them to [`BaseCursor::next_ref`] (and can leave one in
/// place), as the engine's B+tree cursor does.
struct MemoryCursor<'a> {
    items: VecDeque<(Bytes, ValueEntry)>,
    /// The entry lent last.
    lent: Option<(Bytes, ValueEntry)>,
    fail_reads: &'a AtomicBool,
}

impl MemoryCursor<'_> {
    fn failing(&self) -> Option<BoxError> {
        self.fail_reads
            .load(Ordering::SeqCst)
            .then(|| Box::new(InjectedError("base range")) as BoxError)
    }
}

impl Iterator for MemoryCursor<'_> {
    type Item = BaseItem;

    fn next(&mut self) -> Option<BaseItem> {
        let item = self.items.pop_front()?;
        Some(self.failing().map_or(Ok(item), Err))
    }
}

impl DoubleEndedIterator for MemoryCursor<'_> {
    fn next_back(&mut self) -> Option<BaseItem> {
        let item = self.items.pop_back()?;
        Some(self.failing().map_or(Ok(item), Err))
    }
}

impl BaseCursor for MemoryCursor<'_> {
    fn next_ref(
        &mut self,
        forward: bool,
        before: Option<&[u8]>,
    ) -> Option<Result<Option<LentEntry<'_>>, BoxError>> {
        let (key, _) = if forward {
            self.items.front()?
        } else {
            self.items.back()?
        };
        if let Some(error) = self.failing() {
            return Some(Err(error));
        }
        let precedes = |bound: &[u8]| {
            if forward {
                key.as_ref() < bound
            } else {
                key.as_ref() > bound
            }
        };
        if before.is_some_and(|before| !precedes(before)) {
            return Some(Ok(None));
        }
        let item = if forward {
            self.items.pop_front()
        } else {
            self.items.pop_back()
        };
        let (key, entry) = self.lent.insert(item?);
        Some(Ok(Some((key, (&entry.value, entry.expires_at_ms)))))
    }
}

/// The fold sink of a [`MemoryBase`]: applies changes as they come.
#[derive(Debug)]
pub struct MemorySink<'a> {
    base: &'a MemoryBase,
}

impl FoldSink for MemorySink<'_> {
    fn apply(&mut self, key: &Bytes, change: &Change) -> Result<(), BoxError> {
        if self.base.fail_fold_applies.load(Ordering::SeqCst) {
            return Err(Box::new(InjectedError("fold apply")));
        }
        let mut entries = self.base.entries.write();
        match change {
            Change::Put {
                value,
                expires_at_ms,
            } => {
                entries.insert(
                    key.clone(),
                    ValueEntry {
                        value: value.clone(),
                        expires_at_ms: *expires_at_ms,
                    },
                );
            }
            Change::Delete => {
                entries.remove(key);
            }
        }
        Ok(())
    }

    fn finish(&mut self, fold_point: Timestamp) -> Result<(), BoxError> {
        self.base
            .fold_point
            .store(fold_point.as_u64(), Ordering::Release);
        Ok(())
    }
}

/// A record as [`MemoryLog`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggedRecord {
    /// See [`LogRecord::Commit`].
    Commit {
        /// The transaction.
        transaction_id: u64,
        /// Its commit timestamp.
        commit_timestamp: Timestamp,
        /// Its writes.
        writes: WriteSet,
    },
    /// See [`LogRecord::Prepare`].
    Prepare {
        /// The transaction.
        transaction_id: u64,
        /// Its prepare timestamp.
        prepare_timestamp: Timestamp,
        /// Its global id.
        global_id: Bytes,
        /// Its writes.
        writes: WriteSet,
        /// Its reads (`None` under Snapshot).
        reads: Option<ReadSet>,
    },
    /// See [`LogRecord::CommitPrepared`].
    CommitPrepared {
        /// The transaction.
        transaction_id: u64,
        /// Its commit timestamp.
        commit_timestamp: Timestamp,
    },
    /// See [`LogRecord::AbortPrepared`].
    AbortPrepared {
        /// The transaction.
        transaction_id: u64,
    },
}

/// A log that keeps its records in memory, durable at once, with injected
/// failures by operation number.
#[derive(Debug)]
pub struct MemoryLog {
    records: Mutex<Vec<LoggedRecord>>,
    appends: AtomicU64,
    waits: AtomicU64,
    fail_append_number: AtomicU64,
    fail_wait_number: AtomicU64,
}

impl Default for MemoryLog {
    fn default() -> MemoryLog {
        MemoryLog {
            records: Mutex::new(Vec::new()),
            appends: AtomicU64::new(0),
            waits: AtomicU64::new(0),
            fail_append_number: AtomicU64::new(u64::MAX),
            fail_wait_number: AtomicU64::new(u64::MAX),
        }
    }
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> MemoryLog {
        MemoryLog::default()
    }

    /// The records appended so far, in order.
    pub fn records(&self) -> Vec<LoggedRecord> {
        self.records.lock().clone()
    }

    /// Append number `number` (counting from 0) fails, and every later one.
    pub fn fail_appends_from(&self, number: u64) {
        self.fail_append_number.store(number, Ordering::SeqCst);
    }

    /// Durable wait number `number` (from 0) fails, and every later one.
    pub fn fail_waits_from(&self, number: u64) {
        self.fail_wait_number.store(number, Ordering::SeqCst);
    }
}

impl CommitLog for MemoryLog {
    fn append(&self, record: LogRecord<'_>) -> Result<LogTicket, BoxError> {
        let number = self.appends.fetch_add(1, Ordering::SeqCst);
        if number >= self.fail_append_number.load(Ordering::SeqCst) {
            return Err(Box::new(InjectedError("log append")));
        }
        let owned = match record {
            LogRecord::Commit {
                transaction_id,
                commit_timestamp,
                writes,
                ..
            } => LoggedRecord::Commit {
                transaction_id,
                commit_timestamp,
                writes: writes.clone(),
            },
            LogRecord::Prepare {
                transaction_id,
                prepare_timestamp,
                global_id,
                writes,
                reads,
            } => LoggedRecord::Prepare {
                transaction_id,
                prepare_timestamp,
                global_id: Bytes::copy_from_slice(global_id),
                writes: writes.clone(),
                reads: reads.cloned(),
            },
            LogRecord::CommitPrepared {
                transaction_id,
                commit_timestamp,
            } => LoggedRecord::CommitPrepared {
                transaction_id,
                commit_timestamp,
            },
            LogRecord::AbortPrepared { transaction_id } => {
                LoggedRecord::AbortPrepared { transaction_id }
            }
        };
        let mut records = self.records.lock();
        records.push(owned);
        Ok(LogTicket(records.len() as u64))
    }

    fn wait_durable(&self, _ticket: LogTicket) -> Result<(), BoxError> {
        let number = self.waits.fetch_add(1, Ordering::SeqCst);
        if number >= self.fail_wait_number.load(Ordering::SeqCst) {
            return Err(Box::new(InjectedError("log durable wait")));
        }
        Ok(())
    }
}

/// A timestamp oracle without persistence: a hybrid clock.
#[derive(Debug)]
pub struct MemoryOracle<C: PhysicalClock = SystemClock> {
    clock: HybridClock<C>,
    fail: AtomicBool,
}

impl<C: PhysicalClock> MemoryOracle<C> {
    /// An oracle over `physical_clock`.
    pub fn new(physical_clock: C) -> MemoryOracle<C> {
        MemoryOracle {
            clock: HybridClock::new(physical_clock, keel_tso::DEFAULT_MAX_OFFSET_MS),
            fail: AtomicBool::new(false),
        }
    }

    /// Makes every request fail (or not).
    pub fn set_fail(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }

    fn check(&self) -> keel_tso::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(keel_tso::Error::EmptyBatch);
        }
        Ok(())
    }
}

impl<C: PhysicalClock> TimestampOracle for MemoryOracle<C> {
    fn next(&self) -> keel_tso::Result<Timestamp> {
        self.check()?;
        Ok(self.clock.reserve(1)?.first())
    }

    fn next_batch(&self, count: u32) -> keel_tso::Result<TimestampRange> {
        self.check()?;
        self.clock.reserve(count)
    }

    fn advance_to(&self, timestamp: Timestamp) -> keel_tso::Result<()> {
        self.clock.advance_to(timestamp);
        Ok(())
    }

    fn last_issued(&self) -> Timestamp {
        self.clock.last()
    }
}

/// An oracle over the system clock.
pub fn test_oracle() -> Arc<dyn TimestampOracle> {
    Arc::new(MemoryOracle::new(SystemClock))
}

/// An oracle over a manual clock at `now_ms`, and the clock (to move time
/// for expiry tests).
pub fn manual_oracle(now_ms: u64) -> (Arc<MemoryOracle<Arc<ManualClock>>>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(now_ms));
    (Arc::new(MemoryOracle::new(Arc::clone(&clock))), clock)
}

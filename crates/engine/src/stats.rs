//! [`Stats`]: what the database has done, for `stats()`, `keel stat` and
//! the server's INFO.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keel_tso::Timestamp;
use keel_wal::WalStats;

use crate::database::Shared;
use crate::maintenance::CheckpointInfo;

/// The engine's own counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) folds: AtomicU64,
    pub(crate) keys_folded: AtomicU64,
    pub(crate) expired_removed: AtomicU64,
    pub(crate) orphans_removed: AtomicU64,
    pub(crate) checkpoints: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) leaves_packed: AtomicU64,
    /// Bytes folds changed in the B+tree since the last checkpoint.
    pub(crate) folded_bytes_since_checkpoint: AtomicU64,
    last_checkpoint_us: AtomicU64,
    last_checkpoint_at_ms: AtomicU64,
    last_checkpoint_bytes: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    pub(crate) fn record_checkpoint(&self, info: &CheckpointInfo) {
        let micros = u64::try_from(info.duration.as_micros()).unwrap_or(u64::MAX);
        self.last_checkpoint_us.store(micros, Ordering::Relaxed);
        self.last_checkpoint_at_ms
            .store(crate::database::now_ms(), Ordering::Relaxed);
        self.last_checkpoint_bytes
            .store(info.bytes_written, Ordering::Relaxed);
    }
}

/// What recovery did when the database was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The checkpoint the page file opened at.
    pub checkpoint_id: u64,
    /// The commit timestamp that checkpoint holds.
    pub fold_timestamp: Timestamp,
    /// Log records read past the checkpoint.
    pub records_scanned: u64,
    /// Commits replayed into memory.
    pub commits_replayed: u64,
    /// Bytes of keys and values those commits wrote.
    pub bytes_replayed: u64,
    /// Prepared (two-phase commit) transactions restored undecided: in
    /// doubt until committed or aborted ([`crate::Database::prepared`]).
    pub prepared_restored: u64,
    /// A checkpoint was written at open because the replay was long (at
    /// least a quarter of `checkpoint_wal_bytes`), so that a process
    /// killed again soon after does not replay it all again.
    pub checkpointed_after_replay: bool,
    /// The log ended in a torn record (a crash during a write), cut off.
    pub torn_tail: bool,
    /// Damage inside the log was skipped (point-in-time recovery only).
    pub log_damage_skipped: bool,
    /// How long opening took.
    pub duration: Duration,
}

/// A snapshot of the database's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Transactions committed with writes.
    pub commits: u64,
    /// Transactions prepared for two-phase commit.
    pub prepares: u64,
    /// Prepared transactions waiting for their decision now (restored by
    /// recovery or prepared since).
    pub prepared: u64,
    /// Read-only transactions finished.
    pub read_only_commits: u64,
    /// Commits refused by a conflict.
    pub conflicts: u64,
    /// Log records appended.
    pub log_records: u64,
    /// Log bytes appended.
    pub log_bytes: u64,
    /// Log fsyncs.
    pub log_fsyncs: u64,
    /// Folds of the delta into the B+tree.
    pub folds: u64,
    /// Keys written to the B+tree by folds.
    pub keys_folded: u64,
    /// Expired keys removed by folds.
    pub expired_removed: u64,
    /// Keys removed since open because no keyspace named them any more:
    /// the leftovers of a bulk load or a keyspace drop a crash interrupted.
    pub orphans_removed: u64,
    /// Checkpoints written since open.
    pub checkpoints: u64,
    /// Compactions (`Database::compact`).
    pub compactions: u64,
    /// Leaf pages freed since open by checkpoints packing the half-empty
    /// leaves that splits and deletes left into fewer pages.
    pub leaves_packed: u64,
    /// Bytes folds changed in the B+tree since the last checkpoint (what
    /// the next checkpoint will write, roughly).
    pub dirty_bytes: u64,
    /// The newest durable checkpoint's id.
    pub checkpoint_id: u64,
    /// How long the last checkpoint took, in microseconds.
    pub last_checkpoint_us: u64,
    /// When the last checkpoint ended (ms since the Unix epoch; 0: none yet).
    pub last_checkpoint_at_ms: u64,
    /// The fold point: the timestamp whose state the B+tree holds.
    pub fold_timestamp: u64,
    /// The visible watermark: new transactions read at it.
    pub visible_watermark: u64,
    /// Bytes of recent versions held in memory.
    pub delta_bytes: u64,
    /// Recent versions held in memory.
    pub delta_versions: u64,
    /// Of `delta_bytes`, what frozen batches (large commits kept whole
    /// until folded) hold.
    pub delta_batch_bytes: u64,
    /// Frozen batches in the delta.
    pub delta_batches: u64,
    /// Write commits delayed a little because the delta was filling.
    pub delta_slowdowns: u64,
    /// Write commits that waited for a fold to make room in the delta.
    pub delta_full_waits: u64,
    /// Runs of writes spilled to disk by transactions larger than
    /// `Options::transaction_memory_bytes_max`, plus one per spilled
    /// commit.
    pub runs_spilled: u64,
    /// Transactions open now.
    pub active_transactions: u64,
    /// Buffer pool hits.
    pub cache_hits: u64,
    /// Buffer pool misses.
    pub cache_misses: u64,
    /// Pages in use.
    pub pages: u64,
    /// Size of the page file, in blocks.
    pub file_blocks: u64,
    /// Blocks of the page file neither the current state nor the durable
    /// checkpoint uses: what compaction can give back.
    pub free_blocks: u64,
    /// The page size: blocks × this = bytes.
    pub page_bytes: u64,
    /// What recovery did at open.
    pub recovery: RecoveryReport,
}

pub(crate) fn collect(shared: &Shared) -> Stats {
    let mvcc = shared.manager.stats();
    let no_log = WalStats::default();
    let wal = shared.wal.as_ref().map_or(&no_log, |wal| wal.stats());
    let pager = shared.pager.stats();
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    Stats {
        commits: mvcc.commits,
        prepares: mvcc.prepares,
        prepared: mvcc.prepared,
        read_only_commits: mvcc.read_only_commits,
        conflicts: mvcc.conflicts,
        log_records: WalStats::get(&wal.appends),
        log_bytes: WalStats::get(&wal.appended_bytes),
        log_fsyncs: WalStats::get(&wal.fsyncs),
        folds: load(&shared.counters.folds),
        keys_folded: load(&shared.counters.keys_folded),
        expired_removed: load(&shared.counters.expired_removed),
        orphans_removed: load(&shared.counters.orphans_removed),
        checkpoints: load(&shared.counters.checkpoints),
        compactions: load(&shared.counters.compactions),
        leaves_packed: load(&shared.counters.leaves_packed),
        dirty_bytes: load(&shared.counters.folded_bytes_since_checkpoint),
        checkpoint_id: pager.checkpoint_id,
        last_checkpoint_us: load(&shared.counters.last_checkpoint_us),
        last_checkpoint_at_ms: load(&shared.counters.last_checkpoint_at_ms),
        fold_timestamp: mvcc.fold_point.as_u64(),
        visible_watermark: mvcc.visible_watermark.as_u64(),
        delta_bytes: mvcc.delta_bytes,
        delta_versions: mvcc.delta_versions,
        delta_batch_bytes: mvcc.delta_batch_bytes,
        delta_batches: mvcc.delta_batches,
        delta_slowdowns: mvcc.delta_slowdowns,
        delta_full_waits: mvcc.delta_full_waits,
        runs_spilled: mvcc.runs_spilled,
        active_transactions: mvcc.active_transactions,
        cache_hits: pager.hits,
        cache_misses: pager.misses,
        pages: pager.pages,
        file_blocks: pager.file_blocks,
        free_blocks: pager.free_blocks,
        page_bytes: shared.pager.page_size() as u64,
        recovery: shared.recovery.clone(),
    }
}

//! [`MvccOptions`]: the named limits of the transaction layer.

use std::time::Duration;

/// Default [`MvccOptions::delta_bytes_max`]: 256 MiB.
pub const DELTA_BYTES_MAX_DEFAULT: u64 = 256 << 20;
/// Default [`MvccOptions::delta_full_wait_max`].
pub const DELTA_FULL_WAIT_MAX_DEFAULT: Duration = Duration::from_secs(60);
/// Default [`MvccOptions::batch_commit_bytes_min`]: 1 MiB.
pub const BATCH_COMMIT_BYTES_MIN_DEFAULT: u64 = 1 << 20;
/// Default [`MvccOptions::transaction_write_bytes_max`]: no limit (beyond
/// [`MvccOptions::transaction_memory_bytes_max`] writes spill to disk).
pub const TRANSACTION_WRITE_BYTES_MAX_DEFAULT: u64 = u64::MAX;
/// Default [`MvccOptions::transaction_memory_bytes_max`]: 256 MiB.
pub const TRANSACTION_MEMORY_BYTES_MAX_DEFAULT: u64 = 256 << 20;
/// Default [`MvccOptions::transaction_read_bytes_max`]: 64 MiB.
pub const TRANSACTION_READ_BYTES_MAX_DEFAULT: u64 = 64 << 20;
/// Default [`MvccOptions::key_bytes_max`]: 16 KiB.
pub const KEY_BYTES_MAX_DEFAULT: usize = 16 << 10;
/// Default [`MvccOptions::value_bytes_max`]: 512 MiB (Redis's
/// `proto-max-bulk-len`).
pub const VALUE_BYTES_MAX_DEFAULT: usize = 512 << 20;
/// Default [`MvccOptions::transaction_age_warning`].
pub const TRANSACTION_AGE_WARNING_DEFAULT: Duration = Duration::from_secs(60);
/// Default [`MvccOptions::transaction_age_max`].
pub const TRANSACTION_AGE_MAX_DEFAULT: Duration = Duration::from_secs(600);
/// Default [`MvccOptions::watermark_idle_advance_interval`].
pub const WATERMARK_IDLE_ADVANCE_INTERVAL_DEFAULT: Duration = Duration::from_millis(1);

/// The limits of the transaction layer. Every buffer it keeps has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MvccOptions {
    /// Bytes the delta's skiplist may hold (keys, values and per-version
    /// overhead). From three quarters of it on, write commits are slowed
    /// down, more the fuller it is (at most a millisecond each); at the
    /// limit they wait for a fold to make room.
    pub delta_bytes_max: u64,
    /// How long a write commit waiting for room goes on waiting while no
    /// fold frees anything (a fold held back by an old snapshot) before
    /// failing with [`Error::DeltaFull`](crate::Error::DeltaFull). Every
    /// fold that frees room starts the wait again: a commit never fails
    /// because folding is slow, only because it is stuck.
    pub delta_full_wait_max: Duration,
    /// A commit writing at least this many bytes of keys and values keeps
    /// its write set whole as one frozen batch of the delta (installed in
    /// O(1), outside `delta_bytes_max`, folded in key order) instead of
    /// putting each key into the skiplist.
    pub batch_commit_bytes_min: u64,
    /// Bytes of keys and values one transaction may write (held until it
    /// commits: in memory up to `transaction_memory_bytes_max`, beyond it
    /// in spilled runs on disk).
    pub transaction_write_bytes_max: u64,
    /// Bytes of keys and values a transaction holds in memory; past it
    /// (while it holds no savepoint) its writes are sorted into a run in
    /// an unnamed file in `spill_dir` and memory starts again, so that a
    /// transaction's size is bounded by disk. A commit of a spilled
    /// transaction becomes one frozen batch read from its run.
    pub transaction_memory_bytes_max: u64,
    /// Where spilled runs go; `None`: the system's temporary directory.
    pub spill_dir: Option<std::path::PathBuf>,
    /// Bytes of keys and range bounds one serializable transaction may
    /// track as read.
    pub transaction_read_bytes_max: u64,
    /// The longest key.
    pub key_bytes_max: usize,
    /// The longest value.
    pub value_bytes_max: usize,
    /// Age past which a transaction is reported once (a `tracing` warning
    /// and [`MvccStats::transactions_aged`](crate::MvccStats)).
    pub transaction_age_warning: Duration,
    /// Age past which every operation of a transaction fails with
    /// [`Error::TransactionTooOld`](crate::Error::TransactionTooOld), so
    /// that one forgotten snapshot cannot hold the safe point back forever.
    /// The age is read from the clock at a transaction's first operation,
    /// then every 64th, and at commit and prepare (a clock read per read
    /// cost ~130 instructions of a point read's ~2k); once too old, every
    /// operation fails.
    pub transaction_age_max: Duration,
    /// How often `begin` moves an idle watermark up to the current time, at
    /// most. Without commits the watermark would stand still, and with it
    /// the physical time against which expiry is judged; this bounds how
    /// stale a new transaction's view of expiry can be. `Duration::MAX`
    /// turns it off (then only commits and
    /// [`advance_watermark`](crate::TransactionManager::advance_watermark)
    /// move the watermark).
    pub watermark_idle_advance_interval: Duration,
}

impl Default for MvccOptions {
    fn default() -> MvccOptions {
        MvccOptions {
            delta_bytes_max: DELTA_BYTES_MAX_DEFAULT,
            delta_full_wait_max: DELTA_FULL_WAIT_MAX_DEFAULT,
            batch_commit_bytes_min: BATCH_COMMIT_BYTES_MIN_DEFAULT,
            transaction_write_bytes_max: TRANSACTION_WRITE_BYTES_MAX_DEFAULT,
            transaction_memory_bytes_max: TRANSACTION_MEMORY_BYTES_MAX_DEFAULT,
            spill_dir: None,
            transaction_read_bytes_max: TRANSACTION_READ_BYTES_MAX_DEFAULT,
            key_bytes_max: KEY_BYTES_MAX_DEFAULT,
            value_bytes_max: VALUE_BYTES_MAX_DEFAULT,
            transaction_age_warning: TRANSACTION_AGE_WARNING_DEFAULT,
            transaction_age_max: TRANSACTION_AGE_MAX_DEFAULT,
            watermark_idle_advance_interval: WATERMARK_IDLE_ADVANCE_INTERVAL_DEFAULT,
        }
    }
}

/// The isolation level of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Every committed history is equivalent to running the transactions one
    /// at a time in commit-timestamp order: reads (keys and scanned ranges)
    /// are validated at commit.
    #[default]
    Serializable,
    /// Snapshot isolation: reads see the snapshot at the read timestamp;
    /// write-write conflicts abort (first committer wins); write skew is
    /// allowed.
    Snapshot,
}

//! How a database is opened: [`Options`], with documented defaults and
//! named limits.

use std::path::PathBuf;
use std::time::Duration;

/// How durable a commit is before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// Acknowledged once its log record is fsynced (commits arriving
    /// together share one fsync: group commit). A crash loses nothing
    /// acknowledged.
    #[default]
    Sync,
    /// Acknowledged once written to the OS; a background flush fsyncs every
    /// [`Options::sync_interval`] (Redis's `appendfsync everysec`). A crash
    /// loses at most about one interval of acknowledged commits.
    Periodic,
    /// Acknowledged once written to the OS; durable when something else
    /// syncs the log (a later `Sync` commit, a checkpoint, close) or the OS
    /// writes it back.
    None,
}

impl Durability {
    /// The hint a transaction's commit record carries through keel-mvcc
    /// (0 = the database's durability).
    pub(crate) fn hint(self) -> u8 {
        match self {
            Durability::Sync => 1,
            Durability::Periodic => 2,
            Durability::None => 3,
        }
    }

    pub(crate) fn from_hint(hint: u8) -> Option<Durability> {
        match hint {
            1 => Some(Durability::Sync),
            2 => Some(Durability::Periodic),
            3 => Some(Durability::None),
            _ => None,
        }
    }

    pub(crate) fn wal(self) -> keel_wal::Durability {
        match self {
            Durability::Sync => keel_wal::Durability::Sync,
            Durability::Periodic => keel_wal::Durability::Periodic,
            Durability::None => keel_wal::Durability::None,
        }
    }
}

/// What recovery does when the log is damaged somewhere other than its
/// torn tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RecoveryMode {
    /// Refuse to open, with an error naming the file and offset.
    #[default]
    Strict,
    /// Recover up to the last intact record before the damage and set the
    /// rest of the log aside (renamed, not deleted).
    PointInTime,
}

/// Default buffer pool: 256 MiB.
pub const POOL_BYTES_DEFAULT: u64 = 256 << 20;
/// Default: fold the delta into the B+tree once it holds this many bytes.
pub const FOLD_DELTA_BYTES_DEFAULT: u64 = 32 << 20;
/// Default: fold at least this often while there is anything to fold.
pub const FOLD_INTERVAL_DEFAULT: Duration = Duration::from_millis(200);
/// Default: checkpoint once this many log bytes were written since the last.
pub const CHECKPOINT_WAL_BYTES_DEFAULT: u64 = 128 << 20;
/// Default: checkpoint once folds changed this many bytes of the B+tree.
pub const CHECKPOINT_DIRTY_BYTES_DEFAULT: u64 = 64 << 20;
/// Default [`Options::compact_free_ratio`].
pub const COMPACT_FREE_RATIO_DEFAULT: f64 = 0.3;
/// Default largest value: 512 MiB, keel-btree's limit and Redis's
/// `proto-max-bulk-len`.
pub const VALUE_BYTES_MAX_DEFAULT: usize = keel_btree::VALUE_BYTES_MAX - 9;
/// Default: checkpoint at least this often while anything changed.
pub const CHECKPOINT_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);
/// Default periodic fsync interval (Redis's `everysec`).
pub const SYNC_INTERVAL_DEFAULT: Duration = Duration::from_secs(1);
/// How many times [`crate::Database::update`] runs a closure that keeps
/// conflicting before it gives up.
pub const UPDATE_ATTEMPTS_MAX: u32 = 64;
/// The longest keyspace name, in bytes.
pub const KEYSPACE_NAME_BYTES_MAX: usize = 255;

/// How to open a database. `Options::default()` is a good start; every
/// field documents its default.
#[derive(Debug, Clone)]
pub struct Options {
    /// Durability of commits that do not choose their own. Default `Sync`.
    pub durability: Durability,
    /// Interval of the background fsync for `Periodic` commits. Default 1 s.
    pub sync_interval: Duration,
    /// Create the database if the directory holds none. Default true.
    pub create_if_missing: bool,
    /// Buffer pool size for B+tree pages. Default 256 MiB.
    pub pool_bytes: u64,
    /// Page size of a new database (4–64 KiB, a power of two). Keys of up
    /// to 64 KiB fit every size; a key past about a quarter page keeps the
    /// rest in overflow pages, which makes it slower to find. Default 4 KiB.
    pub page_size: u32,
    /// A read that misses the pool asks the OS to read the aligned window
    /// of this many bytes of the page file around it, once per window, so
    /// that reads after a (re)open warm up by windows, not page by page.
    /// 0 turns it off. Default [`keel_pager::READAHEAD_DEVICE`]: the
    /// device's own read-ahead size (what the kernel reads around a fault
    /// of a memory-mapped file there; 128 KiB where the OS does not tell),
    /// shrinking to 128 KiB while reads from the device outnumber those
    /// the OS cache serves by more than 100, as the kernel's read-around
    /// does.
    pub readahead_bytes: u64,
    /// A read that misses the pool copies the page from a read-only memory
    /// map of the page file instead of reading it with a system call (the
    /// checksum is still checked): faster when the data outgrows the pool
    /// but fits the OS cache. A device error under the map then ends the
    /// process (`SIGBUS`, as with LMDB) instead of returning an error.
    /// Default false.
    pub mmap_reads: bool,
    /// Bytes of recent versions in the delta's skiplist at which writers
    /// wait for the folder to catch up; from three quarters of it on,
    /// each write commit is delayed a little (at most 1 ms), more the
    /// fuller it is. A commit fails only if no fold frees room for a
    /// minute (an old snapshot holding every fold back). Default 256 MiB.
    pub delta_bytes_max: u64,
    /// A commit writing at least this many bytes of keys and values is
    /// kept whole in memory as one sorted batch (installed at once, folded
    /// into the B+tree in key order, outside `delta_bytes_max`), instead of
    /// key by key. Default 1 MiB.
    pub batch_commit_bytes_min: u64,
    /// Fold once the delta holds this many bytes. Default 32 MiB.
    pub fold_delta_bytes: u64,
    /// Fold at least this often while anything is unfolded. Default 200 ms.
    pub fold_interval: Duration,
    /// Checkpoint once this many log bytes accumulated. Default 128 MiB.
    pub checkpoint_wal_bytes: u64,
    /// Checkpoint once folds changed this many bytes of the B+tree (the
    /// dirty pages a checkpoint must write grow with it). Default 64 MiB.
    pub checkpoint_dirty_bytes: u64,
    /// Checkpoint at least this often while anything changed. Default 60 s.
    pub checkpoint_interval: Duration,
    /// When more than this share of the page file is free, each background
    /// checkpoint first moves some pages out of the file's tail (4,096 at
    /// most), so the file shrinks without an explicit
    /// [`crate::Database::compact`]. Above 1.0: never. Default 0.3.
    pub compact_free_ratio: f64,
    /// The largest value a transaction may write. Default (and at most)
    /// 512 MiB less 9 bytes, keel-btree's `VALUE_BYTES_MAX` less the
    /// stored value's header.
    pub value_bytes_max: usize,
    /// The largest log segment file. Segments start small (1 MiB) and
    /// follow the write rate up to this size; an idle log shrinks back.
    /// Default 64 MiB.
    pub wal_segment_bytes: u64,
    /// A commit whose log record would be larger than this is logged as
    /// parts of about this size and then its own record, which recovery
    /// reads back as one write set (or, without that record, ignores).
    /// So no record outgrows the log's 1 GiB limit, and a large commit is
    /// written to the log a bounded piece at a time. Default 4 MiB.
    pub wal_part_bytes: usize,
    /// A transaction open this long is reported (log warning, stat).
    /// Default 60 s.
    pub transaction_age_warning: Duration,
    /// A transaction open this long fails its next operation with
    /// [`crate::Error::TransactionTooOld`]. Default 10 min.
    pub transaction_age_max: Duration,
    /// Key and value bytes one transaction may write. Default: no limit,
    /// as LMDB and redb (past `transaction_memory_bytes_max` the writes
    /// are on disk). Sorted imports are fastest through
    /// [`crate::Database::load_keyspace`].
    pub transaction_write_bytes_max: u64,
    /// Key and value bytes one transaction holds in memory. Past it (while
    /// it holds no savepoint) its writes are sorted into a run in an
    /// unnamed file in `spill_dir`, read from there by the transaction, by
    /// its commit's log records and by readers until the commit is
    /// folded: a transaction's size is bounded by disk, not memory.
    /// Default 256 MiB.
    pub transaction_memory_bytes_max: u64,
    /// Where spilled runs go. Unnamed files (nothing is left behind by a
    /// crash). Default `None`: the database's directory (the system's
    /// temporary directory for a database not on the real file system).
    pub spill_dir: Option<PathBuf>,
    /// What recovery does at damage inside the log. Default `Strict`.
    pub recovery_mode: RecoveryMode,
    /// Where log segments are copied before they are deleted behind a
    /// checkpoint; `None` (the default) deletes them.
    pub archive_dir: Option<PathBuf>,
    /// Run the background thread that folds and checkpoints. Default true.
    /// Without it, nothing is folded or checkpointed until
    /// [`crate::Database::checkpoint`] or close (deterministic I/O, for
    /// tests and for callers that schedule maintenance themselves).
    pub background_maintenance: bool,
}

impl Default for Options {
    fn default() -> Self {
        let mvcc = keel_mvcc::MvccOptions::default();
        Options {
            durability: Durability::Sync,
            sync_interval: SYNC_INTERVAL_DEFAULT,
            create_if_missing: true,
            pool_bytes: POOL_BYTES_DEFAULT,
            page_size: keel_pager::PAGE_SIZE_DEFAULT,
            readahead_bytes: keel_pager::READAHEAD_BYTES_DEFAULT,
            mmap_reads: false,
            delta_bytes_max: 256 << 20,
            batch_commit_bytes_min: mvcc.batch_commit_bytes_min,
            fold_delta_bytes: FOLD_DELTA_BYTES_DEFAULT,
            fold_interval: FOLD_INTERVAL_DEFAULT,
            checkpoint_wal_bytes: CHECKPOINT_WAL_BYTES_DEFAULT,
            checkpoint_dirty_bytes: CHECKPOINT_DIRTY_BYTES_DEFAULT,
            checkpoint_interval: CHECKPOINT_INTERVAL_DEFAULT,
            compact_free_ratio: COMPACT_FREE_RATIO_DEFAULT,
            value_bytes_max: VALUE_BYTES_MAX_DEFAULT,
            wal_segment_bytes: keel_wal::SEGMENT_BYTES_DEFAULT,
            wal_part_bytes: crate::log::PART_BYTES_DEFAULT,
            transaction_age_warning: mvcc.transaction_age_warning,
            transaction_age_max: mvcc.transaction_age_max,
            transaction_write_bytes_max: mvcc.transaction_write_bytes_max,
            transaction_memory_bytes_max: mvcc.transaction_memory_bytes_max,
            spill_dir: None,
            recovery_mode: RecoveryMode::Strict,
            archive_dir: None,
            background_maintenance: true,
        }
    }
}

impl Options {
    /// The same options with `durability`.
    pub fn with_durability(mut self, durability: Durability) -> Options {
        self.durability = durability;
        self
    }

    /// The same options with a buffer pool of `pool_bytes`.
    pub fn with_pool_bytes(mut self, pool_bytes: u64) -> Options {
        self.pool_bytes = pool_bytes;
        self
    }
}

//! The one error type of keel-mvcc.

use std::sync::Arc;

use bytes::Bytes;
use keel_tso::Timestamp;

/// An error from outside this crate: the engine's base store, fold sink or
/// log hook. Boxed so that the engine can carry its own error types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A log failure, shared so that the first one can be returned to every
/// later writer.
pub type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a transaction conflicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConflictKind {
    /// Serializable: a key the transaction read has a version committed
    /// after its read timestamp.
    ReadChanged,
    /// Serializable: a key inside a range the transaction scanned has a
    /// version committed after its read timestamp (a phantom).
    Phantom,
    /// Snapshot: a key the transaction wrote has a version committed after
    /// its read timestamp (first committer wins).
    WriteWrite,
    /// The key is held by a prepared (two-phase-commit) transaction.
    HeldByPrepared {
        /// The prepared transaction.
        transaction_id: u64,
    },
    /// Serializable: a value the transaction read live has expired by its
    /// commit (or prepare) timestamp — time changed what it read, as a write
    /// would have.
    ReadExpired,
}

impl std::fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConflictKind::ReadChanged => write!(f, "a key it read was written since"),
            ConflictKind::Phantom => write!(f, "a key appeared or changed in a range it scanned"),
            ConflictKind::WriteWrite => write!(f, "a key it wrote was written since"),
            ConflictKind::HeldByPrepared { transaction_id } => {
                write!(
                    f,
                    "the key is held by prepared transaction {transaction_id}"
                )
            }
            ConflictKind::ReadExpired => write!(f, "a value it read has expired since"),
        }
    }
}

/// What was being done with the base store when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BaseOperation {
    /// A point read.
    Get,
    /// Opening a range iterator.
    Range,
    /// Advancing a range iterator.
    RangeNext,
    /// Handing a folded version to the fold sink.
    FoldApply,
    /// Finishing a fold (the sink making its writes readable).
    FoldFinish,
}

/// What was being done with the log when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogOperation {
    /// Appending a record inside the sequencer critical section.
    Append,
    /// Waiting for a record to become durable.
    WaitDurable,
}

/// Everything that can go wrong in keel-mvcc.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transaction cannot commit without breaking its isolation level;
    /// nothing of it was written. Retrying it from the start may succeed.
    #[error(
        "transaction {transaction_id} conflicts on key {key:?} (read at {read_timestamp}): {kind}"
    )]
    Conflict {
        /// The aborted transaction.
        transaction_id: u64,
        /// A key the conflict is on.
        key: Bytes,
        /// Why.
        kind: ConflictKind,
        /// The transaction's read timestamp.
        read_timestamp: Timestamp,
        /// The timestamp of the conflicting version, when there is one.
        conflicting_timestamp: Option<Timestamp>,
    },

    /// The log hook failed. The first such failure latches the manager:
    /// every later write commit fails with [`Error::WritesPoisoned`].
    #[error("transaction {transaction_id}: the log failed ({operation:?}); writes are poisoned")]
    Log {
        /// The transaction whose record failed.
        transaction_id: u64,
        /// What failed.
        operation: LogOperation,
        /// The log's error.
        #[source]
        source: SharedError,
    },

    /// An earlier log failure latched the manager against writes (never
    /// retry a failed fsync); reads go on. Reopen to write again.
    #[error("writes are poisoned by an earlier log failure")]
    WritesPoisoned {
        /// The first log failure.
        #[source]
        source: SharedError,
    },

    /// The base store (the engine's B+tree) or the fold sink failed.
    #[error("the base store failed ({operation:?}, key {key:?})")]
    Base {
        /// What was being done.
        operation: BaseOperation,
        /// The key being read or folded, when there is one.
        key: Option<Bytes>,
        /// The base store's error.
        #[source]
        source: BoxError,
    },

    /// The timestamp oracle failed; no timestamp was taken.
    #[error("the timestamp oracle failed")]
    Timestamp(#[from] keel_tso::Error),

    /// The transaction is older than the hard age limit; it can only be
    /// rolled back.
    #[error("transaction {transaction_id} is {age_ms} ms old, over the limit of {limit_ms} ms")]
    TransactionTooOld {
        /// The transaction.
        transaction_id: u64,
        /// Its age.
        age_ms: u64,
        /// The limit (`MvccOptions::transaction_age_max`).
        limit_ms: u64,
    },

    /// The transaction's buffered writes would exceed their limit.
    #[error(
        "transaction {transaction_id} would buffer {write_bytes} bytes of writes, over the limit of {limit_bytes}"
    )]
    WriteSetTooLarge {
        /// The transaction.
        transaction_id: u64,
        /// The bytes the write would bring the write set to.
        write_bytes: u64,
        /// The limit (`MvccOptions::transaction_write_bytes_max`).
        limit_bytes: u64,
    },

    /// Writing or reading a spilled run of the transaction's writes (in
    /// [`MvccOptions::spill_dir`](crate::MvccOptions::spill_dir)) failed;
    /// the transaction is rolled back by the caller.
    #[error("transaction {transaction_id}: spilling its writes to {dir} failed")]
    Spill {
        /// The transaction.
        transaction_id: u64,
        /// Where the run was.
        dir: std::path::PathBuf,
        /// The file system's error.
        #[source]
        source: std::io::Error,
    },

    /// The transaction's tracked reads exceed their limit.
    #[error(
        "transaction {transaction_id} tracks {read_bytes} bytes of reads, over the limit of {limit_bytes}"
    )]
    ReadSetTooLarge {
        /// The transaction.
        transaction_id: u64,
        /// The bytes of keys and ranges tracked.
        read_bytes: u64,
        /// The limit (`MvccOptions::transaction_read_bytes_max`).
        limit_bytes: u64,
    },

    /// A key longer than the limit.
    #[error("a key of {key_bytes} bytes is over the limit of {limit_bytes}")]
    KeyTooLarge {
        /// The key's length.
        key_bytes: usize,
        /// The limit (`MvccOptions::key_bytes_max`).
        limit_bytes: usize,
    },

    /// A value longer than the limit.
    #[error("a value of {value_bytes} bytes (key {key:?}) is over the limit of {limit_bytes}")]
    ValueTooLarge {
        /// The key written.
        key: Bytes,
        /// The value's length.
        value_bytes: usize,
        /// The limit (`MvccOptions::value_bytes_max`).
        limit_bytes: usize,
    },

    /// The delta store stayed over its byte limit for the whole wait
    /// (folding did not keep up, or a reader holds the safe point back).
    #[error(
        "the delta store holds {delta_bytes} bytes, over the limit of {limit_bytes}, after waiting {waited_ms} ms for a fold"
    )]
    DeltaFull {
        /// Bytes in the delta store.
        delta_bytes: u64,
        /// The limit (`MvccOptions::delta_bytes_max`).
        limit_bytes: u64,
        /// How long the writer waited.
        waited_ms: u64,
    },

    /// `fold` was asked for a safe point beyond the current one.
    #[error("cannot fold at {requested}: the safe point is {safe_point}")]
    SafePointAhead {
        /// The requested fold point.
        requested: Timestamp,
        /// The current safe point.
        safe_point: Timestamp,
    },

    /// A savepoint that is not (or no longer) one of this transaction's.
    #[error("transaction {transaction_id} has no savepoint {savepoint}")]
    UnknownSavepoint {
        /// The transaction.
        transaction_id: u64,
        /// The savepoint's number.
        savepoint: u64,
    },

    /// Recovery replayed a commit whose timestamp is not above the previous
    /// one (the log is out of commit order).
    #[error("replayed commit at {timestamp} is not after the previous one at {previous}")]
    ReplayOutOfOrder {
        /// The replayed commit's timestamp.
        timestamp: Timestamp,
        /// The previous replayed commit's timestamp.
        previous: Timestamp,
    },

    /// A write set holds the same key twice.
    #[error("a write set holds key {key:?} twice")]
    DuplicateKey {
        /// The key.
        key: Bytes,
    },

    /// A prepared transaction with this id already exists.
    #[error("prepared transaction {transaction_id} already exists")]
    PreparedExists {
        /// The transaction id.
        transaction_id: u64,
    },

    /// A transaction prepared under this global id is not decided yet: a
    /// global id names one prepared transaction at a time.
    #[error("a prepared transaction with global id {global_id:?} is not decided yet")]
    GlobalIdPrepared {
        /// The global id.
        global_id: Bytes,
    },

    /// No prepared transaction waits for a decision under this global id
    /// (none was prepared, or it was decided).
    #[error("no prepared transaction with global id {global_id:?}")]
    PreparedNotFound {
        /// The global id.
        global_id: Bytes,
    },

    /// The prepared transaction has a live
    /// [`PreparedTransaction`](crate::PreparedTransaction) handle: decide it
    /// through that.
    #[error("prepared transaction {global_id:?} is in use by a live handle")]
    PreparedInUse {
        /// The global id.
        global_id: Bytes,
    },
}

impl Error {
    /// Whether this is a [`Error::Conflict`] (worth retrying).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }
}

//! keel-mvcc: keel's transactions — serializable multi-version concurrency
//! control over a delta store of recent versions (BRIEF.md §2, §4).
//!
//! * [`TransactionManager`]: begins [`Transaction`]s at the visible
//!   watermark, sequences commits (validate, take the commit timestamp,
//!   append to the log, install — one short critical section, so log order
//!   is commit-timestamp order), keeps the active registry and the safe
//!   point, folds the delta into the base ([`fold`]) and recovers
//!   ([`Recovery`]).
//! * [`Transaction`]: get, put (with optional expiry), delete, range scans
//!   both ways, own writes visible, savepoints, commit, rollback, prepare
//!   ([`PreparedTransaction`], two-phase commit). [`Isolation::Serializable`]
//!   validates reads and scanned ranges at commit (phantoms conflict);
//!   [`Isolation::Snapshot`] validates writes (first committer wins).
//! * What the engine implements: [`BaseStore`] (reads of the base, the
//!   state at the fold point), [`FoldSink`] (the base's writer) and
//!   [`CommitLog`] (the write-ahead log's append and durable wait).
//!   [`testing`] has in-memory versions.
//! * Inside: `delta.rs` (the skiplist of keys, and [`point_index`] over
//!   them for point lookups), [`chain`] (each key's
//!   lock-free version list), [`watermark`], [`registry`], `read_set.rs`,
//!   `range.rs` (the three-way merge of scans).
//!
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use keel_mvcc::{Error, Isolation, MvccOptions, NoLog, TransactionManager};
//! use keel_mvcc::testing::{MemoryBase, test_oracle};
//!
//! let base = Arc::new(MemoryBase::new());
//! let manager = TransactionManager::new(base.clone(), Arc::new(NoLog), test_oracle(), MvccOptions::default())?;
//! let mut first = manager.begin(Isolation::Serializable);
//! let mut second = manager.begin(Isolation::Serializable);
//! assert_eq!(first.get(b"counter")?, None);
//! assert_eq!(second.get(b"counter")?, None);
//! first.put(b"counter", Bytes::from_static(b"1"))?;
//! second.put(b"counter", Bytes::from_static(b"1"))?;
//! first.commit()?;
//! // The second read a key the first changed since: a lost update, refused.
//! assert!(matches!(second.commit(), Err(Error::Conflict { .. })));
//! // Fold everything into the base.
//! let report = manager.fold(manager.safe_point(), &mut base.sink())?;
//! assert_eq!(report.keys_folded, 1);
//! # Ok::<(), keel_mvcc::Error>(())
//! ```

mod base;
mod batch;
pub mod chain;
#[doc(hidden)]
pub mod combine;
mod commit;
mod delta;
mod delta_range;
mod error;
pub mod fold;
mod log;
mod manager;
mod options;
mod own_writes;
pub mod point_index;
mod prepared;
mod range;
mod read_set;
pub mod registry;
mod spill;
mod stats;
mod sync;
pub mod testing;
mod transaction;
pub mod watermark;
mod write_buffer;
mod write_set;

pub use base::{
    BaseCursor, BaseItem, BaseIterator, BaseStore, Direction, FoldSink, LentEntry, OwnedCursor,
    ValueEntry, ValueRef,
};
pub use chain::{CommitState, Detached};
pub use error::{BaseOperation, BoxError, ConflictKind, Error, LogOperation, Result, SharedError};
pub use fold::FoldReport;
pub use log::{CommitLog, LogRecord, LogTicket, NoLog};
pub use manager::{CommitInfo, PreparedInfo, Recovery, TransactionManager};
pub use options::{
    BATCH_COMMIT_BYTES_MIN_DEFAULT, DELTA_BYTES_MAX_DEFAULT, DELTA_FULL_WAIT_MAX_DEFAULT,
    Isolation, KEY_BYTES_MAX_DEFAULT, MvccOptions, TRANSACTION_AGE_MAX_DEFAULT,
    TRANSACTION_AGE_WARNING_DEFAULT, TRANSACTION_MEMORY_BYTES_MAX_DEFAULT,
    TRANSACTION_READ_BYTES_MAX_DEFAULT, TRANSACTION_WRITE_BYTES_MAX_DEFAULT,
    VALUE_BYTES_MAX_DEFAULT, WATERMARK_IDLE_ADVANCE_INTERVAL_DEFAULT,
};
pub use prepared::PreparedTransaction;
pub use range::Range;
pub use read_set::{KeyRange, ReadSet};
pub use spill::WriteSetBuilder;
pub use stats::MvccStats;
pub use transaction::{Savepoint, Transaction};
pub use write_set::{Change, WriteEntry, WriteSet};

// The engine shares the manager between threads and moves transactions
// between them (a server connection's transaction may run on any worker).
const _: () = {
    const fn send_and_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_and_sync::<TransactionManager>();
    send::<Transaction>();
    send::<PreparedTransaction>();
};

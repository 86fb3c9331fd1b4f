//! keel: an embedded, transactional, ordered key-value store.
//!
//! Serializable MVCC transactions over a paged B+tree, a write-ahead log
//! with group commit, copy-on-write checkpoints and crash recovery. A
//! commit is acknowledged only once it is durable under its
//! [`Durability`]; after a crash, [`Database::open`] recovers every
//! acknowledged commit.
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! use keel::{Database, Isolation, Options};
//!
//! let db = Database::open(dir.path(), Options::default())?;
//! let users = db.keyspace("users")?;
//! db.update(|tx| {
//!     tx.put(&users, b"alice", "admin")?;
//!     tx.put(&users, b"bob", "reader")
//! })?;
//! let mut tx = db.begin(Isolation::Serializable);
//! for item in tx.range(&users, "a".."m")? {
//!     let (key, value) = item?;
//!     println!("{key:?} = {value:?}");
//! }
//! tx.commit()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Two-phase commit: [`Transaction::prepare`] makes a durable
//! [`PreparedTransaction`] that survives a crash with its writes and read
//! set ([`Database::prepared`] lists those in doubt), and a
//! [`Coordinator`] runs one atomic transaction across several databases.
//!
//! Inside (docs/ARCHITECTURE.md): `database.rs` opens and recovers
//! (newest checkpoint, then the log past its fold point), `transaction.rs`
//! maps keyspaces onto keel-mvcc transactions, `log.rs` is the commit log
//! over keel-wal, `storage.rs` the base over keel-btree, `maintenance.rs`
//! the background thread that folds, checkpoints and truncates the log,
//! `prepared.rs` and `coordinator.rs` two-phase commit.

mod bounds;
mod coordinator;
mod database;
mod error;
mod identity;
mod iter;
mod keyspace;
mod load;
mod log;
mod maintenance;
mod options;
mod prepared;
mod recovery;
mod stats;
mod storage;
mod transaction;
mod typed_key;
mod typed_keyspace;
mod typed_value;
mod update;

pub use bounds::KeyBounds;
pub use bytes::Bytes;
pub use coordinator::{
    COORDINATOR_TIMEOUT_DEFAULT, Coordinator, CoordinatorOptions, CoordinatorRecovery,
    GlobalTransaction,
};
pub use database::Database;
pub use error::{ConflictKind, Error, LimitKind, Location, Result, SharedError};
pub use iter::{Iter, Keys};
pub use keyspace::{DEFAULT_KEYSPACE, Keyspace};
pub use load::{KeyspaceLoader, LoadReport};
pub use maintenance::{BACKGROUND_RELOCATION_PAGES, CheckpointInfo, CompactionInfo};
pub use options::{
    CHECKPOINT_DIRTY_BYTES_DEFAULT, CHECKPOINT_INTERVAL_DEFAULT, CHECKPOINT_WAL_BYTES_DEFAULT,
    COMPACT_FREE_RATIO_DEFAULT, Durability, FOLD_DELTA_BYTES_DEFAULT, FOLD_INTERVAL_DEFAULT,
    KEYSPACE_NAME_BYTES_MAX, Options, POOL_BYTES_DEFAULT, RecoveryMode, SYNC_INTERVAL_DEFAULT,
    UPDATE_ATTEMPTS_MAX, VALUE_BYTES_MAX_DEFAULT,
};
pub use prepared::{GLOBAL_ID_BYTES_MAX, PreparedInfo, PreparedTransaction};
pub use stats::{RecoveryReport, Stats};
pub use transaction::{ExpiresAtMs, Isolation, Savepoint, Transaction};
pub use typed_key::{AsKey, DecodeError, Key};
pub use typed_keyspace::{KeyspaceDefinition, TypedBounds, TypedIter, TypedKeyspace};
pub use typed_value::{AsValue, Value};
pub use update::{UpdateOptions, backoff};

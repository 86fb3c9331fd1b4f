//! keel's one error type.

use std::path::PathBuf;

/// An error of a keel database operation.
///
/// Which variants a method returns is documented on the method. Errors
/// carry their location (a path, a page, a key) where they have one.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A serialization conflict: another transaction committed a change to
    /// `key` (or inside a range this one read) after this one began.
    /// [`crate::Database::update`] retries these.
    #[error("transaction conflict on key {key:?}")]
    Conflict {
        /// The key (with its keyspace prefix stripped), as lossy UTF-8.
        key: String,
    },
    /// An I/O error, with the path it happened on where known.
    #[error("I/O error: {0}")]
    Io(#[from] keel_io::Error),
    /// Stored data is damaged: a checksum failed or a structure does not
    /// hold together. The message names the file and place.
    #[error("corruption: {0}")]
    Corruption(String),
    /// An earlier write or fsync failed; the database refuses writes until
    /// it is reopened (a failed fsync is never retried). Reads go on.
    #[error("database is poisoned for writes by an earlier failure: {0}")]
    Poisoned(String),
    /// The transaction has been open longer than
    /// [`crate::Options::transaction_age_max`].
    #[error("transaction too old: open for {age_ms} ms, limit {limit_ms} ms")]
    TransactionTooOld {
        /// How long it has been open.
        age_ms: u64,
        /// The limit.
        limit_ms: u64,
    },
    /// A named limit was exceeded (key or value size, write set, delta).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// Another process (or another `Database` in this one) has the
    /// database directory open.
    #[error("database {} is locked by another process", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// [`crate::Database::create`] of a directory that already holds a
    /// database.
    #[error("a database already exists at {}", path.display())]
    AlreadyExists {
        /// The directory.
        path: PathBuf,
    },
    /// The directory holds no database and creation was not asked for.
    #[error("no database at {}", path.display())]
    NotFound {
        /// The directory.
        path: PathBuf,
    },
    /// The keyspace does not exist (or was dropped).
    #[error("keyspace {name:?} does not exist")]
    KeyspaceNotFound {
        /// Its name.
        name: String,
    },
    /// A keyspace name that is empty or longer than
    /// [`crate::KEYSPACE_NAME_BYTES_MAX`].
    #[error("invalid keyspace name {name:?}: {reason}")]
    InvalidKeyspaceName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A bulk load of the keyspace is under way
    /// ([`crate::Database::load_keyspace`]): it cannot be created or loaded
    /// again until that load finishes or is abandoned.
    #[error("keyspace {name:?} is being bulk loaded")]
    KeyspaceBusy {
        /// Its name.
        name: String,
    },
    /// A bulk load was given a key not after the key before it.
    #[error(
        "bulk load of keyspace {keyspace:?}: key {key:?} (entry {entry}) is not after the key before it; keys must be strictly ascending"
    )]
    UnsortedLoad {
        /// The keyspace being loaded.
        keyspace: String,
        /// The key, as lossy UTF-8.
        key: String,
        /// Its position in the load, from 0.
        entry: u64,
    },
    /// `update` gave up after [`crate::UPDATE_ATTEMPTS_MAX`] conflicts.
    #[error("transaction kept conflicting: gave up after {attempts} attempts (last on {key:?})")]
    TooManyConflicts {
        /// Attempts made.
        attempts: u32,
        /// The key of the last conflict.
        key: String,
    },
    /// The database was closed.
    #[error("the database is closed")]
    Closed,
    /// A write to a database opened read-only, or in a read-only
    /// transaction ([`crate::Database::view`], [`crate::Database::begin_read`]).
    #[error("read-only: this transaction or database does not write")]
    ReadOnly,
    /// A keyspace handle of another database (or of an earlier open of
    /// this one) was used: it names a keyspace of that database only.
    #[error("keyspace {name:?} belongs to another open database")]
    ForeignKeyspace {
        /// The keyspace's name.
        name: String,
    },
    /// Another error of a layer below, as text.
    #[error("{0}")]
    Internal(String),
}

/// `Result` with keel's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn lossy(key: &[u8]) -> String {
    // Keys carry a 4-byte keyspace prefix inside the engine.
    let key = if key.len() >= 4 { &key[4..] } else { key };
    String::from_utf8_lossy(key).into_owned()
}

/// The error's text followed by each of its causes: a poisoned database
/// names the original failure, not only the operation.
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl From<keel_mvcc::Error> for Error {
    fn from(error: keel_mvcc::Error) -> Self {
        use keel_mvcc::Error as E;
        match error {
            E::Conflict { ref key, .. } => Error::Conflict { key: lossy(key) },
            E::TransactionTooOld {
                age_ms, limit_ms, ..
            } => Error::TransactionTooOld { age_ms, limit_ms },
            E::WritesPoisoned { .. } | E::Log { .. } => Error::Poisoned(with_causes(&error)),
            E::WriteSetTooLarge { .. }
            | E::ReadSetTooLarge { .. }
            | E::KeyTooLarge { .. }
            | E::ValueTooLarge { .. }
            | E::DeltaFull { .. } => Error::LimitExceeded(error.to_string()),
            E::Base { .. } => Error::Corruption(with_causes(&error)),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<keel_pager::Error> for Error {
    fn from(error: keel_pager::Error) -> Self {
        use keel_pager::Error as E;
        match error {
            E::Io(error) => Error::Io(error),
            E::Poisoned(_) => Error::Poisoned(error.to_string()),
            E::Corruption { .. }
            | E::NoValidMeta { .. }
            | E::MapCorruption { .. }
            | E::PageInconsistent { .. } => Error::Corruption(error.to_string()),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<keel_btree::Error> for Error {
    fn from(error: keel_btree::Error) -> Self {
        match error {
            keel_btree::Error::Pager(error) => error.into(),
            keel_btree::Error::Corrupt { .. } | keel_btree::Error::NotATree { .. } => {
                Error::Corruption(error.to_string())
            }
            keel_btree::Error::KeyTooLarge { .. } | keel_btree::Error::ValueTooLarge { .. } => {
                Error::LimitExceeded(error.to_string())
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<keel_wal::Error> for Error {
    fn from(error: keel_wal::Error) -> Self {
        match error {
            keel_wal::Error::Io(error) => Error::Io(error),
            keel_wal::Error::Corruption { .. }
            | keel_wal::Error::MalformedRecord { .. }
            | keel_wal::Error::Truncated { .. } => Error::Corruption(error.to_string()),
            keel_wal::Error::RecordTooLarge { .. } => Error::LimitExceeded(error.to_string()),
            keel_wal::Error::Closed => Error::Closed,
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<keel_tso::Error> for Error {
    fn from(error: keel_tso::Error) -> Self {
        match error {
            keel_tso::Error::Io(error) => Error::Io(error),
            other => Error::Internal(other.to_string()),
        }
    }
}

//! keel's one error type, and the conversions from the layers' errors:
//! keys lose their keyspace prefix, sizes are the user's, and the lower
//! error stays reachable as `source()` rather than repeated in the text.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
pub use keel_mvcc::ConflictKind;

use crate::log::KEYSPACE_PREFIX_BYTES;

/// A lower layer's error, shared so that [`Error`] stays `Clone`.
pub type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// An error of a keel database operation.
///
/// Which variants a method returns is documented on the method. Errors
/// carry their location (a path, a page, a key) where they have one.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A serialization conflict: another transaction committed a change to
    /// `key` of `keyspace` (or inside a range this one read) after this one
    /// began; nothing was written. [`crate::Database::update`] retries
    /// these.
    #[error(
        "transaction conflict in keyspace {keyspace:?} on key {}: {kind}",
        ShowKey(key)
    )]
    Conflict {
        /// The keyspace's name.
        keyspace: String,
        /// The user's key (without the keyspace).
        key: Bytes,
        /// Why the transaction conflicted.
        kind: ConflictKind,
    },
    /// An I/O error, with the path and operation it happened on. Its text
    /// is keel-io's, which already includes the operating system's error;
    /// so it has no `source()`, and a printed chain says it once.
    #[error("{0}")]
    Io(keel_io::Error),
    /// Stored data is damaged: a checksum failed or a structure does not
    /// hold together. `source()` is the lower layer's report of what is
    /// wrong.
    #[error("corrupt data in {} at {location}", file.display())]
    Corruption {
        /// The damaged file: its path, or its name inside the database
        /// directory (`pages`, `wal`, `timestamps`) where the layer that
        /// found the damage did not know the path.
        file: PathBuf,
        /// Where in the file.
        location: Location,
        /// What is wrong.
        #[source]
        source: SharedError,
    },
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
    /// A named limit was exceeded: `size` is over `limit`, both in the
    /// unit of `kind` (user bytes for keys and values: the keyspace prefix
    /// is not counted).
    #[error(
        "{} of {size} {unit} is over the limit of {limit} {unit}{}",
        kind.what(),
        KeyNote(key.as_ref()),
        unit = kind.unit()
    )]
    LimitExceeded {
        /// Which limit.
        kind: LimitKind,
        /// The limit.
        limit: u64,
        /// The size that exceeded it.
        size: u64,
        /// The user's key the write was to, where there is one.
        key: Option<Bytes>,
    },
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
    #[error(
        "transaction kept conflicting: gave up after {attempts} attempts (last in keyspace {keyspace:?} on key {})",
        ShowKey(key)
    )]
    TooManyConflicts {
        /// Attempts made.
        attempts: u32,
        /// The keyspace of the last conflict.
        keyspace: String,
        /// The user's key of the last conflict.
        key: Bytes,
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
    /// A savepoint that is not one of this transaction's, or that was
    /// released or rolled past.
    #[error("the transaction has no savepoint {savepoint}")]
    UnknownSavepoint {
        /// The savepoint's number.
        savepoint: u64,
    },
    /// A stored key or value of a typed keyspace that does not decode as
    /// its type (the keyspace was written with other types, or damaged).
    #[error("keyspace {keyspace:?} holds an entry that does not decode as its type")]
    Decode {
        /// The keyspace.
        keyspace: String,
        /// What did not decode.
        #[source]
        source: crate::typed_key::DecodeError,
    },
    /// A global id ([`crate::Transaction::prepare`]) that is empty or
    /// longer than [`crate::GLOBAL_ID_BYTES_MAX`].
    #[error("invalid global id {}: {reason}", ShowKey(global_id))]
    InvalidGlobalId {
        /// The global id (cut at the limit).
        global_id: Bytes,
        /// Why.
        reason: &'static str,
    },
    /// Another prepared transaction of this database holds the global id
    /// and is not decided yet.
    #[error(
        "global id {} is held by a prepared transaction not decided yet",
        ShowKey(global_id)
    )]
    GlobalIdInUse {
        /// The global id.
        global_id: Bytes,
    },
    /// No prepared transaction of this database waits for a decision under
    /// the global id: none was prepared, or it was decided.
    #[error("no prepared transaction with global id {}", ShowKey(global_id))]
    PreparedNotFound {
        /// The global id.
        global_id: Bytes,
    },
    /// The prepared transaction has a live [`crate::PreparedTransaction`]
    /// handle in this process: decide it through that handle.
    #[error(
        "prepared transaction {} is in use by a live handle",
        ShowKey(global_id)
    )]
    PreparedInUse {
        /// The global id.
        global_id: Bytes,
    },
    /// [`crate::Coordinator`]: the decision of the global transaction could
    /// not be made durable, and whether it was is unknown. Its participants
    /// stay prepared (holding their keys) until the coordinator is reopened,
    /// whose recovery commits them if the decision reached the disk and
    /// aborts them otherwise. Do not retry it as if it had failed.
    #[error("global transaction {} is in doubt: {reason}", ShowKey(global_id))]
    InDoubt {
        /// The global transaction's id.
        global_id: Bytes,
        /// What failed.
        reason: String,
    },
    /// [`crate::Coordinator::open`] with another number of participants
    /// than its decision log was created with: the decisions it holds are
    /// for those participants.
    #[error(
        "the coordinator's decision log was created for {recorded} participants; {given} were given"
    )]
    CoordinatorParticipants {
        /// Participants the decision log was created for.
        recorded: u32,
        /// Participants given now.
        given: u32,
    },
    /// A database given to a coordinator is not one of those its decision
    /// log was created over, or is given twice: opening over it could
    /// forget decisions the right participant still waits for.
    #[error(
        "participant {position} given to the coordinator is {reason}, not one of the databases its decision log was created over"
    )]
    CoordinatorStranger {
        /// Its position in the participants given.
        position: usize,
        /// "another database" or "given twice".
        reason: &'static str,
    },
    /// Another error of a layer below, as text.
    #[error("{0}")]
    Internal(String),
}

/// `Result` with keel's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which limit an [`Error::LimitExceeded`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// A key's bytes (the user's key, without the keyspace).
    KeyBytes,
    /// A value's bytes ([`crate::Options::value_bytes_max`]).
    ValueBytes,
    /// The bytes of a transaction's buffered writes.
    WriteSetBytes,
    /// The bytes of the keys and ranges a transaction read.
    ReadSetBytes,
    /// The bytes of recent versions waiting to be folded (the writer waited
    /// for a fold that freed no room).
    DeltaBytes,
    /// The bytes of one log record.
    LogRecordBytes,
    /// The number of keyspace ids ever handed out.
    KeyspaceIds,
}

impl LimitKind {
    /// What is measured, for messages.
    pub fn what(self) -> &'static str {
        match self {
            LimitKind::KeyBytes => "a key",
            LimitKind::ValueBytes => "a value",
            LimitKind::WriteSetBytes => "a transaction's writes",
            LimitKind::ReadSetBytes => "a transaction's reads",
            LimitKind::DeltaBytes => "the recent versions not yet folded",
            LimitKind::LogRecordBytes => "a log record",
            LimitKind::KeyspaceIds => "the keyspace ids",
        }
    }

    /// The unit of the limit and the size.
    pub fn unit(self) -> &'static str {
        match self {
            LimitKind::KeyspaceIds => "ids",
            _ => "bytes",
        }
    }
}

/// Where in a file an [`Error::Corruption`] was found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A page of the page file.
    Page(u64),
    /// A physical block of the page file (the page map).
    Block(u64),
    /// A byte offset (a log segment).
    Offset(u64),
    /// A log record, by its sequence number.
    Record(u64),
    /// The page file's two meta slots.
    MetaSlots,
    /// The checkpoint payload in the newest meta slot.
    CheckpointPayload,
    /// The keyspace catalog.
    Catalog,
    /// The stored value of a key (the user's key, and its keyspace id).
    Value {
        /// The keyspace id.
        keyspace_id: u32,
        /// The user's key.
        key: Bytes,
    },
    /// The file as a whole (missing, or at odds with another file).
    File,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Page(page) => write!(f, "page {page}"),
            Location::Block(block) => write!(f, "block {block}"),
            Location::Offset(offset) => write!(f, "offset {offset}"),
            Location::Record(lsn) => write!(f, "log record {lsn}"),
            Location::MetaSlots => f.write_str("the meta slots"),
            Location::CheckpointPayload => f.write_str("the checkpoint payload"),
            Location::Catalog => f.write_str("the keyspace catalog"),
            Location::Value { keyspace_id, key } => {
                write!(
                    f,
                    "the value of key {} (keyspace id {keyspace_id})",
                    ShowKey(key)
                )
            }
            Location::File => f.write_str("the file as a whole"),
        }
    }
}

/// Damage the engine itself found (no lower layer's error to carry).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Damage(pub(crate) String);

/// Keys in messages: quoted text when they are UTF-8, escaped bytes
/// otherwise, cut after [`KEY_SHOWN_BYTES_MAX`] bytes.
pub(crate) struct ShowKey<'a>(pub(crate) &'a [u8]);

/// Keys longer than this are cut in messages (their length is given).
const KEY_SHOWN_BYTES_MAX: usize = 64;

impl std::fmt::Display for ShowKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = &self.0[..self.0.len().min(KEY_SHOWN_BYTES_MAX)];
        match std::str::from_utf8(shown) {
            Ok(text) => write!(f, "{text:?}")?,
            Err(_) => write!(f, "{:?}", Bytes::copy_from_slice(shown))?,
        }
        if shown.len() < self.0.len() {
            write!(f, "… ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

struct KeyNote<'a>(Option<&'a Bytes>);

impl std::fmt::Display for KeyNote<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(key) => write!(f, " (key {})", ShowKey(key)),
            None => Ok(()),
        }
    }
}

impl Error {
    /// Whether this is a [`Error::Conflict`]: running the transaction
    /// again may succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }

    /// Corruption the engine found itself, described by `problem`.
    pub(crate) fn corruption(
        file: impl Into<PathBuf>,
        location: Location,
        problem: impl Into<String>,
    ) -> Error {
        Error::Corruption {
            file: file.into(),
            location,
            source: Arc::new(Damage(problem.into())),
        }
    }

    /// A limit exceeded without a key.
    pub(crate) fn limit(kind: LimitKind, limit: u64, size: u64) -> Error {
        Error::LimitExceeded {
            kind,
            limit,
            size,
            key: None,
        }
    }

    /// keel-mvcc's error, its engine keys shown as the user's keys in the
    /// keyspace `names` names.
    pub(crate) fn from_mvcc(error: keel_mvcc::Error, names: &dyn Fn(u32) -> String) -> Error {
        use keel_mvcc::Error as E;
        let user = |key: &Bytes| key.slice(KEYSPACE_PREFIX_BYTES.min(key.len())..);
        let prefix_bytes = KEYSPACE_PREFIX_BYTES as u64;
        match error {
            E::Conflict { key, kind, .. } => Error::Conflict {
                keyspace: names(crate::log::keyspace_id(&key).unwrap_or(0)),
                key: user(&key),
                kind,
            },
            E::TransactionTooOld {
                age_ms, limit_ms, ..
            } => Error::TransactionTooOld { age_ms, limit_ms },
            E::WritesPoisoned { .. } | E::Log { .. } => Error::Poisoned(with_causes(&error)),
            E::KeyTooLarge {
                key_bytes,
                limit_bytes,
            } => Error::limit(
                LimitKind::KeyBytes,
                (limit_bytes as u64).saturating_sub(prefix_bytes),
                (key_bytes as u64).saturating_sub(prefix_bytes),
            ),
            E::ValueTooLarge {
                key,
                value_bytes,
                limit_bytes,
            } => Error::LimitExceeded {
                kind: LimitKind::ValueBytes,
                limit: limit_bytes as u64,
                size: value_bytes as u64,
                key: Some(user(&key)),
            },
            E::WriteSetTooLarge {
                write_bytes,
                limit_bytes,
                ..
            } => Error::limit(LimitKind::WriteSetBytes, limit_bytes, write_bytes),
            E::ReadSetTooLarge {
                read_bytes,
                limit_bytes,
                ..
            } => Error::limit(LimitKind::ReadSetBytes, limit_bytes, read_bytes),
            E::DeltaFull {
                delta_bytes,
                limit_bytes,
                ..
            } => Error::limit(LimitKind::DeltaBytes, limit_bytes, delta_bytes),
            E::Base { key, source, .. } => from_base(key.as_ref(), source),
            E::GlobalIdPrepared { global_id } => Error::GlobalIdInUse { global_id },
            E::PreparedNotFound { global_id } => Error::PreparedNotFound { global_id },
            E::PreparedInUse { global_id } => Error::PreparedInUse { global_id },
            // A full or failing disk under the spill directory: an I/O
            // error naming it (the transaction can be rolled back).
            E::Spill { dir, source, .. } => Error::Io(keel_io::Error::Io {
                op: keel_io::Op::Write,
                path: dir,
                source: Arc::new(source),
            }),
            other => Error::Internal(other.to_string()),
        }
    }
}

/// A base store's (the B+tree's) failure, as keel-mvcc hands it back.
fn from_base(key: Option<&Bytes>, source: keel_mvcc::BoxError) -> Error {
    let source = match source.downcast::<keel_btree::Error>() {
        Ok(error) => return Error::from(*error),
        Err(other) => other,
    };
    let source = match source.downcast::<Error>() {
        Ok(error) => return *error,
        Err(other) => other,
    };
    let location = match key.and_then(|key| crate::log::keyspace_id(key).map(|id| (id, key))) {
        Some((keyspace_id, key)) => Location::Value {
            keyspace_id,
            key: key.slice(KEYSPACE_PREFIX_BYTES..),
        },
        None => Location::File,
    };
    Error::Corruption {
        file: PathBuf::from(PAGE_FILE),
        location,
        source: Arc::from(source),
    }
}

/// The page file's name in the database directory.
const PAGE_FILE: &str = "pages";

/// The keyspace name of an id when no catalog is at hand.
fn unnamed(id: u32) -> String {
    if id == 0 {
        "(catalog)".to_string()
    } else {
        format!("(keyspace id {id})")
    }
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

impl From<keel_io::Error> for Error {
    fn from(error: keel_io::Error) -> Self {
        Error::Io(error)
    }
}

impl From<keel_mvcc::Error> for Error {
    fn from(error: keel_mvcc::Error) -> Self {
        Error::from_mvcc(error, &unnamed)
    }
}

fn shared(error: impl std::error::Error + Send + Sync + 'static) -> SharedError {
    Arc::new(error)
}

impl From<keel_pager::Error> for Error {
    fn from(error: keel_pager::Error) -> Self {
        use keel_pager::Error as E;
        let (file, location) = match &error {
            E::Io(_) => {
                let E::Io(error) = error else { unreachable!() };
                return Error::Io(error);
            }
            E::Poisoned(_) => return Error::Poisoned(error.to_string()),
            E::Corruption { path, page, .. } => (path.clone(), Location::Page(page.get())),
            E::NoValidMeta { path, .. } => (path.clone(), Location::MetaSlots),
            E::MapCorruption { path, block, .. } => (path.clone(), Location::Block(*block)),
            E::PageInconsistent { page } => (PathBuf::from(PAGE_FILE), Location::Page(page.get())),
            _ => return Error::Internal(error.to_string()),
        };
        Error::Corruption {
            file,
            location,
            source: shared(error),
        }
    }
}

impl From<keel_btree::Error> for Error {
    fn from(error: keel_btree::Error) -> Self {
        use keel_btree::Error as E;
        match error {
            E::Pager(error) => error.into(),
            E::Corrupt { page, .. } | E::NotATree { page } => Error::Corruption {
                file: PathBuf::from(PAGE_FILE),
                location: Location::Page(page.get()),
                source: shared(error),
            },
            E::KeyTooLarge { len, max } => Error::limit(
                LimitKind::KeyBytes,
                (max as u64).saturating_sub(KEYSPACE_PREFIX_BYTES as u64),
                (len as u64).saturating_sub(KEYSPACE_PREFIX_BYTES as u64),
            ),
            E::ValueTooLarge { len, max } => {
                Error::limit(LimitKind::ValueBytes, max as u64, len as u64)
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<keel_wal::Error> for Error {
    fn from(error: keel_wal::Error) -> Self {
        use keel_wal::Error as E;
        let (file, location) = match &error {
            E::Io(_) => {
                let E::Io(error) = error else { unreachable!() };
                return Error::Io(error);
            }
            E::Corruption {
                segment, offset, ..
            } => (segment.clone(), Location::Offset(*offset)),
            E::MalformedRecord { segment, lsn, .. } => (segment.clone(), Location::Record(lsn.0)),
            E::Truncated { requested, .. } => (PathBuf::from("wal"), Location::Record(requested.0)),
            E::RecordTooLarge { bytes, limit } => {
                return Error::limit(LimitKind::LogRecordBytes, *limit as u64, *bytes as u64);
            }
            E::Closed => return Error::Closed,
            _ => return Error::Internal(error.to_string()),
        };
        Error::Corruption {
            file,
            location,
            source: shared(error),
        }
    }
}

impl From<keel_tso::Error> for Error {
    fn from(error: keel_tso::Error) -> Self {
        match error {
            keel_tso::Error::Io(error) => Error::Io(error),
            keel_tso::Error::Corrupt { ref path, .. } => Error::Corruption {
                file: path.clone(),
                location: Location::File,
                source: shared(error),
            },
            other => Error::Internal(other.to_string()),
        }
    }
}

//! Two-phase commit on one database, the participant's side:
//! [`Transaction::prepare`] makes a [`PreparedTransaction`] — durable, its
//! writes and reads held against conflicting commits, surviving a crash —
//! that a coordinator later commits or aborts, through the handle or by
//! its global id ([`Database::commit_prepared`],
//! [`Database::abort_prepared`]); [`Database::prepared`] lists the ones in
//! doubt. [`crate::Coordinator`] is the coordinator's side.

use std::sync::Arc;

use bytes::Bytes;

use crate::database::{Database, Shared};
use crate::error::{Error, Result};
use crate::transaction::{Transaction, named_error};

/// The longest global id, in bytes (PostgreSQL's `PREPARE TRANSACTION`
/// takes 200 too).
pub const GLOBAL_ID_BYTES_MAX: usize = 200;

/// A transaction prepared for two-phase commit
/// ([`Transaction::prepare`]): durable in the log with its writes, its
/// global id and its read set, and holding its keys — those it wrote, and
/// under [`crate::Isolation::Serializable`] those it read and the ranges
/// it scanned — against conflicting commits, which fail with
/// [`Error::Conflict`] ([`crate::ConflictKind::HeldByPrepared`]) until it
/// is decided. Its writes are invisible until it commits.
///
/// Dropping the handle leaves the transaction prepared, as a crash would:
/// [`Database::prepared`] lists it, and [`Database::commit_prepared`] or
/// [`Database::abort_prepared`] decides it by its global id — also after a
/// crash and reopen, which restores it with everything it holds.
pub struct PreparedTransaction {
    shared: Arc<Shared>,
    inner: keel_mvcc::PreparedTransaction,
}

impl std::fmt::Debug for PreparedTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedTransaction")
            .field("global_id", self.inner.global_id())
            .field("writes", &self.inner.writes().len())
            .finish_non_exhaustive()
    }
}

impl PreparedTransaction {
    /// The global id it was prepared under.
    pub fn global_id(&self) -> &[u8] {
        self.inner.global_id()
    }

    /// Commits: its writes become visible and durable at once (the
    /// decision is synced whatever the database's durability). It cannot
    /// conflict: what it read and wrote was validated at the prepare and
    /// held since.
    ///
    /// # Errors
    /// [`Error::Closed`]; [`Error::ReadOnly`]; [`Error::Poisoned`] when the
    /// log failed — it then stays prepared, and is decided again after a
    /// reopen.
    pub fn commit(self) -> Result<()> {
        check_decidable(&self.shared)?;
        let shared = self.shared;
        self.inner
            .commit()
            .map(|_| ())
            .map_err(|error| named_error(&shared, error))
    }

    /// Aborts: its writes are dropped and its keys released (the decision
    /// is synced).
    ///
    /// # Errors
    /// As [`PreparedTransaction::commit`].
    pub fn abort(self) -> Result<()> {
        check_decidable(&self.shared)?;
        let shared = self.shared;
        self.inner
            .abort()
            .map_err(|error| named_error(&shared, error))
    }
}

fn check_open(shared: &Shared) -> Result<()> {
    if shared.closed.load(std::sync::atomic::Ordering::Acquire) {
        return Err(Error::Closed);
    }
    Ok(())
}

/// Open and writable: a decision is logged.
fn check_decidable(shared: &Shared) -> Result<()> {
    check_open(shared)?;
    if shared.wal.is_none() {
        return Err(Error::ReadOnly);
    }
    Ok(())
}

/// A prepared transaction waiting for its decision, as
/// [`Database::prepared`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PreparedInfo {
    /// The global id it was prepared under.
    pub global_id: Bytes,
    /// When it prepared: the physical part of its prepare timestamp, in
    /// milliseconds since the Unix epoch.
    pub prepared_at_ms: u64,
    /// How many keys it writes.
    pub writes: u64,
    /// A [`PreparedTransaction`] handle for it is alive in this process
    /// (decide it through that handle).
    pub in_use: bool,
}

/// Checks a global id: not empty, at most [`GLOBAL_ID_BYTES_MAX`] bytes.
pub(crate) fn check_global_id(global_id: &[u8]) -> Result<()> {
    let reason = if global_id.is_empty() {
        "it is empty"
    } else if global_id.len() > GLOBAL_ID_BYTES_MAX {
        "it is longer than 200 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidGlobalId {
        global_id: Bytes::copy_from_slice(&global_id[..global_id.len().min(GLOBAL_ID_BYTES_MAX)]),
        reason,
    })
}

impl Transaction {
    /// Prepares the transaction for two-phase commit under `global_id`:
    /// the first phase, a participant's vote to commit. Validates as
    /// [`Transaction::commit`] would — conflicts on what it read and
    /// wrote, and (serializable) that no value it read has expired since,
    /// and that no transaction prepared already writes what it read —
    /// then logs its writes, `global_id` and read set and syncs the log,
    /// whatever the database's durability. From then on the transaction can
    /// only be decided, by [`PreparedTransaction::commit`] or
    /// [`PreparedTransaction::abort`] (or by `global_id` on the
    /// [`Database`], also after a crash); until then it holds its keys.
    ///
    /// `global_id` is the coordinator's name for the whole distributed
    /// transaction (bytes, not a number: a coordinator can put its own
    /// identity and a sequence in it, or use an XA-style id); one prepared
    /// transaction at a time per database may hold it.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use keel::{Database, Isolation, Options};
    ///
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let accounts = db.keyspace("accounts")?;
    /// let mut tx = db.begin(Isolation::Serializable);
    /// tx.put(&accounts, "alice", "90")?;
    /// let prepared = tx.prepare("transfer-17")?;
    /// // The vote is durable; the coordinator logs its decision, then:
    /// prepared.commit()?;
    /// assert_eq!(db.view(|tx| tx.get(&accounts, "alice"))?.as_deref(), Some(&b"90"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Conflict`] (nothing was prepared; running the transaction
    /// again may succeed); [`Error::GlobalIdInUse`];
    /// [`Error::InvalidGlobalId`]; [`Error::ReadOnly`]; [`Error::Closed`];
    /// [`Error::TransactionTooOld`]; [`Error::Poisoned`].
    pub fn prepare(self, global_id: impl AsRef<[u8]>) -> Result<PreparedTransaction> {
        let global_id = global_id.as_ref();
        check_global_id(global_id)?;
        let (shared, inner, read_only) = self.into_parts();
        check_open(&shared)?;
        if read_only {
            return Err(Error::ReadOnly);
        }
        match inner.prepare_global(Bytes::copy_from_slice(global_id)) {
            Ok(inner) => Ok(PreparedTransaction { shared, inner }),
            Err(error) => Err(named_error(&shared, error)),
        }
    }
}

impl Database {
    /// The prepared transactions waiting for a decision, by global id: those
    /// recovery restored after a crash (in doubt: their coordinator
    /// decides), and those prepared since whose handle is alive or was
    /// dropped.
    pub fn prepared(&self) -> Vec<PreparedInfo> {
        let mut listed: Vec<PreparedInfo> = self
            .shared
            .manager
            .prepared()
            .into_iter()
            .map(|info| PreparedInfo {
                global_id: info.global_id,
                prepared_at_ms: info.prepare_timestamp.physical_ms(),
                writes: info.writes as u64,
                in_use: info.in_use,
            })
            .collect();
        listed.sort_by(|a, b| a.global_id.cmp(&b.global_id));
        listed
    }

    /// A handle on the prepared transaction `global_id` whose handle was
    /// dropped (or that recovery restored).
    ///
    /// # Errors
    /// [`Error::PreparedNotFound`]; [`Error::PreparedInUse`] while another
    /// handle on it is alive; [`Error::Closed`].
    pub fn resume_prepared(&self, global_id: impl AsRef<[u8]>) -> Result<PreparedTransaction> {
        self.check_open()?;
        let inner = self
            .shared
            .manager
            .resume_prepared_global(global_id.as_ref())
            .map_err(|error| named_error(&self.shared, error))?;
        Ok(PreparedTransaction {
            shared: self.shared.clone(),
            inner,
        })
    }

    /// Commits the prepared transaction `global_id` (the second phase, as
    /// a coordinator's recovery does it after a crash).
    ///
    /// # Errors
    /// As [`Database::resume_prepared`] and [`PreparedTransaction::commit`].
    pub fn commit_prepared(&self, global_id: impl AsRef<[u8]>) -> Result<()> {
        self.check_writable()?;
        self.resume_prepared(global_id)?.commit()
    }

    /// Aborts the prepared transaction `global_id`.
    ///
    /// # Errors
    /// As [`Database::resume_prepared`] and [`PreparedTransaction::abort`].
    pub fn abort_prepared(&self, global_id: impl AsRef<[u8]>) -> Result<()> {
        self.check_writable()?;
        self.resume_prepared(global_id)?.abort()
    }
}

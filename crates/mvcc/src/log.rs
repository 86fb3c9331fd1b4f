//! The log hook: how a commit reaches the engine's write-ahead log.

use keel_tso::Timestamp;

use crate::error::BoxError;
use crate::read_set::ReadSet;
use crate::write_set::WriteSet;

/// A record for the log; maps one to one onto the write-ahead log's
/// records.
#[derive(Debug, Clone, Copy)]
pub enum LogRecord<'a> {
    /// A committed write set.
    Commit {
        /// The transaction.
        transaction_id: u64,
        /// Its commit timestamp.
        commit_timestamp: Timestamp,
        /// What it wrote, sorted by key.
        writes: &'a WriteSet,
        /// The transaction's [`Transaction::set_log_hint`]
        /// (crate::Transaction::set_log_hint): opaque to keel-mvcc; the
        /// engine passes the commit's durability this way.
        hint: u8,
    },
    /// A write set prepared for two-phase commit, with what recovery needs
    /// to hold it again after a crash: its global id and its read set.
    Prepare {
        /// The transaction.
        transaction_id: u64,
        /// The timestamp taken when it prepared.
        prepare_timestamp: Timestamp,
        /// The global id its coordinator chose (opaque to keel-mvcc; empty
        /// if none was given).
        global_id: &'a [u8],
        /// What it will write if it commits.
        writes: &'a WriteSet,
        /// What it read, held against writers until it is decided: `None`
        /// under [`Isolation::Snapshot`](crate::Isolation::Snapshot), which
        /// validates writes only.
        reads: Option<&'a ReadSet>,
    },
    /// A prepared transaction commits.
    CommitPrepared {
        /// The transaction.
        transaction_id: u64,
        /// Its commit timestamp.
        commit_timestamp: Timestamp,
    },
    /// A prepared transaction is abandoned.
    AbortPrepared {
        /// The transaction.
        transaction_id: u64,
    },
}

/// A position in the log, returned by [`CommitLog::append`] and waited on
/// with [`CommitLog::wait_durable`] (the engine's log sequence number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogTicket(pub u64);

/// The engine's write-ahead log, as the commit protocol uses it.
///
/// `append` is called inside the sequencer critical section, in commit
/// timestamp order, so log order is timestamp order; it should only buffer,
/// and must not call back into the manager (beginning a transaction may
/// take the sequencer, which is not reentrant).
/// `wait_durable` is called outside it and blocks until the record is
/// durable under the commit's durability mode (group commit happens there).
///
/// Either may fail. The manager then withdraws the commit (its timestamp is
/// finished without a visible version, so the watermark has no hole and no
/// write set is half visible), returns [`Error::Log`](crate::Error::Log),
/// and refuses every later write commit with
/// [`Error::WritesPoisoned`](crate::Error::WritesPoisoned).
pub trait CommitLog: Send + Sync {
    /// Adds `record` to the log's buffer.
    fn append(&self, record: LogRecord<'_>) -> Result<LogTicket, BoxError>;

    /// Blocks until the record at `ticket` is durable as its commit asks
    /// (a log may let a commit ask for no sync: its wait returns at once,
    /// and says nothing of the records before it).
    fn wait_durable(&self, ticket: LogTicket) -> Result<(), BoxError>;

    /// Blocks until every record of `tickets` (a combined batch of
    /// commits, in log order) is durable as its own commit asks. Their
    /// durabilities may differ, so the last ticket alone does not stand for
    /// the batch: a batch ending in a commit that asks no sync still holds
    /// commits that ask one. The default waits on each, newest first (the
    /// older ones are then durable already in a log that syncs in order).
    fn wait_durable_all(&self, tickets: &[LogTicket]) -> Result<(), BoxError> {
        tickets
            .iter()
            .rev()
            .try_for_each(|ticket| self.wait_durable(*ticket))
    }

    /// How far the log is durable now, as a committer back from
    /// [`CommitLog::wait_durable`] asks to finish the other commits its
    /// sync covered; `None` (the default) where the log cannot tell, and
    /// each commit then finishes itself.
    fn durable_end(&self) -> Option<LogTicket> {
        None
    }

    /// Whether [`CommitLog::wait_durable`] on `ticket` would return at once
    /// with success, the log being durable to `end` (from
    /// [`CommitLog::durable_end`]). Never true for a record not durable
    /// as its commit asks.
    fn covers(&self, end: LogTicket, ticket: LogTicket) -> bool {
        let _ = (end, ticket);
        false
    }
}

/// A log that keeps nothing: for an in-memory database (or durability
/// `None` without a log).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLog;

impl CommitLog for NoLog {
    fn append(&self, _record: LogRecord<'_>) -> Result<LogTicket, BoxError> {
        Ok(LogTicket(0))
    }

    fn wait_durable(&self, _ticket: LogTicket) -> Result<(), BoxError> {
        Ok(())
    }
}

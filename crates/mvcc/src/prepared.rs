//! [`PreparedTransaction`]: the second phase of two-phase commit.

use std::sync::Arc;

use bytes::Bytes;
use keel_tso::Timestamp;

use crate::error::{LogOperation, Result};
use crate::log::LogRecord;
use crate::manager::{CommitInfo, Inner};
use crate::write_set::WriteSet;

/// A transaction that is prepared: its write set, global id and read set
/// are durable in the log, and its keys (written, and read if it is
/// serializable) are held against conflicting commits until it is
/// committed or aborted — also after a crash, when recovery restores it.
/// Dropping the handle leaves it prepared (as a crash would);
/// [`TransactionManager::resume_prepared`](crate::TransactionManager::resume_prepared)
/// hands it out again.
///
/// Its reads were validated at its prepare timestamp (conflicts, and the
/// expiry of every value read) and are held since, so its commit cannot
/// fail validation: that is what a prepared transaction promises its
/// coordinator. A value it read that expires while it waits for the
/// decision does not stop the commit: its reads are judged at the prepare.
pub struct PreparedTransaction {
    inner: Arc<Inner>,
    transaction_id: u64,
    prepare_timestamp: Timestamp,
    global_id: Bytes,
    writes: Arc<WriteSet>,
    decided: bool,
}

impl std::fmt::Debug for PreparedTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedTransaction")
            .field("transaction_id", &self.transaction_id)
            .field("prepare_timestamp", &self.prepare_timestamp)
            .field("global_id", &self.global_id)
            .field("writes", &self.writes.len())
            .finish_non_exhaustive()
    }
}

impl PreparedTransaction {
    pub(crate) fn new(
        inner: Arc<Inner>,
        transaction_id: u64,
        prepare_timestamp: Timestamp,
        global_id: Bytes,
        writes: Arc<WriteSet>,
    ) -> PreparedTransaction {
        PreparedTransaction {
            inner,
            transaction_id,
            prepare_timestamp,
            global_id,
            writes,
            decided: false,
        }
    }

    /// The transaction's id.
    pub fn id(&self) -> u64 {
        self.transaction_id
    }

    /// The timestamp taken when it prepared.
    pub fn prepare_timestamp(&self) -> Timestamp {
        self.prepare_timestamp
    }

    /// The global id it was prepared under (empty if none).
    pub fn global_id(&self) -> &Bytes {
        &self.global_id
    }

    /// What it will write.
    pub fn writes(&self) -> &WriteSet {
        &self.writes
    }

    /// Commits: takes a commit timestamp, logs the decision and installs the
    /// write set, like a commit (no validation: the held keys kept it
    /// valid). On a log failure it stays prepared.
    pub fn commit(mut self) -> Result<CommitInfo> {
        let inner = Arc::clone(&self.inner);
        inner.check_writable()?;
        let sequencer = inner.sequencer.lock();
        inner.check_writable()?;
        let writes = Arc::clone(&self.writes);
        let result = inner.commit_prepared(sequencer, self.transaction_id, &writes);
        self.decided = result.is_ok();
        result
    }

    /// Aborts: logs the decision and releases the held keys. On a log
    /// failure to append it stays prepared.
    pub fn abort(mut self) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        inner.check_writable()?;
        let mut sequencer = inner.sequencer.lock();
        let ticket = inner
            .log
            .append(LogRecord::AbortPrepared {
                transaction_id: self.transaction_id,
            })
            .map_err(|source| {
                inner.log_failed(self.transaction_id, LogOperation::Append, source)
            })?;
        sequencer.prepared.remove(&self.transaction_id);
        drop(sequencer);
        self.decided = true;
        inner.log.wait_durable(ticket).map_err(|source| {
            inner.log_failed(self.transaction_id, LogOperation::WaitDurable, source)
        })
    }
}

impl Drop for PreparedTransaction {
    fn drop(&mut self) {
        if !self.decided
            && let Some(intents) = self
                .inner
                .sequencer
                .lock()
                .prepared
                .get_mut(&self.transaction_id)
        {
            intents.handle_out = false;
        }
    }
}

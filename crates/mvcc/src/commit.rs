//! The commit path after a transaction's writes are taken: validation,
//! timestamp, log append and install inside the sequencer critical
//! section ([`Inner::sequence`]), then outside it the durable wait, the
//! settle and the wait for visibility ([`Inner::make_durable`]).
//!
//! Committers combine ([`crate::combine`]): each queues a [`CommitJob`]
//! and the thread that takes the sequencer sequences every queued job,
//! releases it, waits once for the log to make the whole batch durable
//! and hands each job its result. A commit that another thread ran costs
//! its committer one sleep; with 16 committers on 2 cores, queueing on the
//! sequencer and then again on the log cost two or three context switches
//! per commit and a quarter of the CPU in lock hand-offs.

use std::sync::Arc;

use keel_tso::Timestamp;
use smallvec::SmallVec;

use crate::chain::CommitStatus;
use crate::combine::{Combiner, Held};
use crate::error::{Error, LogOperation, Result, SharedError};
use crate::log::{LogRecord, LogTicket};
use crate::manager::{CommitInfo, ExpiryCheck, Inner, Sequencer};
use crate::options::Isolation;
use crate::read_set::ReadSet;
use crate::stats::Counters;
use crate::write_set::WriteSet;

/// The sequencer's lock: committers queue [`CommitJob`]s on it.
pub(crate) type SequencerLock = Combiner<Sequencer, CommitJob, CommitOutcome>;

/// The sequencer critical section, held.
pub(crate) type SequencerGuard<'a> = Held<'a, Sequencer, CommitJob, CommitOutcome>;

/// A transaction's commit, queued for whichever thread sequences next.
#[derive(Debug)]
pub(crate) struct CommitJob {
    pub(crate) transaction_id: u64,
    pub(crate) isolation: Isolation,
    /// Validated through this timestamp already (its read timestamp, or
    /// later after a wait for room).
    pub(crate) validated_through: Timestamp,
    pub(crate) reads: ReadSet,
    pub(crate) writes: Arc<WriteSet>,
    pub(crate) hint: u8,
    pub(crate) expiry: Option<ExpiryCheck>,
}

/// A job's result, and whether it was sequenced (took a timestamp): a
/// job refused before that rolled back.
#[derive(Debug)]
pub(crate) struct CommitOutcome {
    pub(crate) result: Result<CommitInfo>,
    pub(crate) sequenced: bool,
}

/// A commit sequenced: its versions installed, its record appended.
pub(crate) struct Sequenced {
    transaction_id: u64,
    commit_timestamp: Timestamp,
    ticket: LogTicket,
    status: Arc<CommitStatus>,
}

impl Inner {
    /// Commits `job`, combined with the commits queued beside it.
    pub(crate) fn commit_job(&self, job: CommitJob) -> CommitOutcome {
        self.sequencer.run(job, |held| self.combine_commits(held))
    }

    /// Sequences every queued job (and those queued meanwhile), releases
    /// the sequencer, and makes the batch durable.
    fn combine_commits(&self, mut held: SequencerGuard<'_>) {
        let mut batch = Vec::new();
        loop {
            let jobs = held.take_queued();
            if jobs.is_empty() {
                break;
            }
            for queued in jobs {
                match self.sequence_job(&mut held, queued.job()) {
                    Ok(sequenced) => batch.push((queued, sequenced)),
                    Err(error) => queued.finish(CommitOutcome {
                        result: Err(error),
                        sequenced: false,
                    }),
                }
            }
        }
        drop(held);
        let sequenced: Vec<&Sequenced> = batch.iter().map(|(_, sequenced)| sequenced).collect();
        let results = self.make_durable(&sequenced);
        for ((queued, _), result) in batch.into_iter().zip(results) {
            queued.finish(CommitOutcome {
                result,
                sequenced: true,
            });
        }
    }

    /// Validates and sequences one job.
    fn sequence_job(&self, sequencer: &mut Sequencer, job: &CommitJob) -> Result<Sequenced> {
        self.check_writable()?;
        self.validate(
            sequencer,
            job.transaction_id,
            job.isolation,
            job.validated_through,
            &job.reads,
            &job.writes,
        )
        .inspect_err(|error| {
            if error.is_conflict() {
                Counters::bump(&self.counters.conflicts);
            }
        })?;
        self.sequence(
            sequencer,
            job.transaction_id,
            &job.writes,
            false,
            job.hint,
            job.expiry.as_ref(),
        )
    }

    /// A prepared transaction's commit (its keys held, so not validated):
    /// sequenced under `sequencer`, which it releases, then made durable.
    pub(crate) fn commit_prepared(
        &self,
        mut sequencer: SequencerGuard<'_>,
        transaction_id: u64,
        writes: &Arc<WriteSet>,
    ) -> Result<CommitInfo> {
        let sequenced = self.sequence(&mut sequencer, transaction_id, writes, true, 0, None)?;
        drop(sequencer);
        let mut results = self.make_durable(&[&sequenced]);
        results
            .pop()
            .unwrap_or_else(|| unreachable!("one result per commit"))
    }

    /// Timestamp, log append and pending install, inside the critical
    /// section. For a prepared transaction (`prepared`), its intents are
    /// released as its versions are installed. `expiry` is the earliest
    /// expiry of a value the transaction read: a commit timestamp at or
    /// past it is a conflict (the timestamp is dropped before it enters the
    /// watermark).
    fn sequence(
        &self,
        sequencer: &mut Sequencer,
        transaction_id: u64,
        writes: &Arc<WriteSet>,
        prepared: bool,
        hint: u8,
        expiry: Option<&ExpiryCheck>,
    ) -> Result<Sequenced> {
        let commit_timestamp = self.oracle.next()?;
        assert!(
            commit_timestamp > self.watermark.visible(),
            "the oracle went backwards: {commit_timestamp} after the watermark {}",
            self.watermark.visible()
        );
        if let Err(conflict) = ExpiryCheck::check(expiry, transaction_id, commit_timestamp) {
            Counters::bump(&self.counters.conflicts);
            return Err(conflict);
        }
        self.watermark.begin(commit_timestamp);
        let record = if prepared {
            LogRecord::CommitPrepared {
                transaction_id,
                commit_timestamp,
            }
        } else {
            LogRecord::Commit {
                transaction_id,
                commit_timestamp,
                writes,
                hint,
            }
        };
        let ticket = match self.log.append(record) {
            Ok(ticket) => ticket,
            Err(source) => {
                // Nothing installed: finishing the timestamp leaves no hole.
                self.watermark.finish(commit_timestamp);
                return Err(self.log_failed(transaction_id, LogOperation::Append, source));
            }
        };
        let status = Arc::new(CommitStatus::pending());
        self.delta.install_write_set(
            writes,
            commit_timestamp,
            &status,
            self.options.batch_commit_bytes_min,
        );
        if prepared {
            sequencer.prepared.remove(&transaction_id);
        }
        self.watermark
            .attach(commit_timestamp, ticket.0, Arc::clone(&status) as _);
        Ok(Sequenced {
            transaction_id,
            commit_timestamp,
            ticket,
            status,
        })
    }

    /// Waits for the log to make `batch` (in log order) durable, finishes
    /// its commits and waits until transactions beginning now see them.
    /// One result per commit, in order.
    fn make_durable(&self, batch: &[&Sequenced]) -> Vec<Result<CommitInfo>> {
        if batch.is_empty() {
            return Vec::new();
        }
        // Each commit's own durability: the batch's last commit may ask no
        // sync while an earlier one asks one.
        let tickets: SmallVec<[LogTicket; 8]> =
            batch.iter().map(|sequenced| sequenced.ticket).collect();
        let failure: Option<SharedError> = self
            .log
            .wait_durable_all(&tickets)
            .err()
            .map(|source| self.log_poisoned(LogOperation::WaitDurable, source));
        let mut results = Vec::with_capacity(batch.len());
        for sequenced in batch {
            // On a failure each commit's whole write set turns aborted in
            // one store, before its timestamp is finished: never half
            // visible. (One another committer settled was durable: it
            // stays committed.)
            if let Some(source) = &failure
                && self
                    .watermark
                    .withdraw(sequenced.commit_timestamp, || sequenced.status.abort())
            {
                results.push(Err(Error::Log {
                    transaction_id: sequenced.transaction_id,
                    operation: LogOperation::WaitDurable,
                    source: Arc::clone(source),
                }));
                continue;
            }
            results.push(Ok(CommitInfo {
                transaction_id: sequenced.transaction_id,
                commit_timestamp: Some(sequenced.commit_timestamp),
            }));
        }
        // Every commit the sync that covered these covered finishes now,
        // in one lock hold of the watermark.
        if let Some(end) = self.log.durable_end() {
            self.watermark
                .settle(|position| self.log.covers(end, LogTicket(position)));
        }
        let (mut newest, mut committed) = (None, 0);
        for (sequenced, result) in batch.iter().zip(&results) {
            if result.is_ok() {
                sequenced.status.commit();
                self.watermark.finish(sequenced.commit_timestamp);
                newest = Some(sequenced.commit_timestamp);
                committed += 1;
            }
        }
        // Acknowledge only once a transaction beginning now sees the
        // commits (the newest one's visibility implies the others').
        if let Some(newest) = newest {
            self.watermark.wait_visible(newest);
        }
        Counters::add(&self.counters.commits, committed);
        results
    }
}

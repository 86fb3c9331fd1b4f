//! [`Coordinator`]: one atomic transaction across several keel databases
//! by two-phase commit with presumed abort (the protocol is on
//! [`Coordinator`]'s documentation).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use keel_io::{StdVfs, Vfs};
use parking_lot::Mutex;

use crate::database::Database;
use crate::error::{Error, Result};
use crate::keyspace::Keyspace;
use crate::options::{Durability, Options, UPDATE_ATTEMPTS_MAX};
use crate::prepared::PreparedTransaction;
use crate::transaction::{Isolation, Transaction};
use crate::update::{UpdateOptions, retry_conflicts};

/// The default [`CoordinatorOptions::timeout`].
pub const COORDINATOR_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);

/// The decision log's keyspace of commit decisions: global id → the
/// participants (u32 LE each) that prepared.
const DECISIONS: &str = "decisions";
/// The decision log's keyspace of the coordinator's identity.
const META: &str = "coordinator";
const META_ID: &str = "id";
const META_PARTICIPANTS: &str = "participants";
/// The participants' identities ([`Database::id`], u128 LE each, sorted).
const META_MEMBERS: &str = "members";
const META_EPOCH: &str = "epoch";

/// How a [`Coordinator`] runs.
#[derive(Debug, Clone)]
pub struct CoordinatorOptions {
    /// The decision log database's options (its decisions are `Sync`
    /// commits whatever its durability).
    pub log: Options,
    /// The isolation of each participant's transaction. Default
    /// [`Isolation::Serializable`].
    pub isolation: Isolation,
    /// The longest a global transaction may take from
    /// [`Coordinator::transaction`] to its decision: past it, `commit`
    /// aborts it instead ([`Error::TransactionTooOld`]). Checked before the
    /// first prepare and after each. Default
    /// [`COORDINATOR_TIMEOUT_DEFAULT`].
    pub timeout: Duration,
    /// Attempts [`Coordinator::update`] makes before
    /// [`Error::TooManyConflicts`]. Default [`UPDATE_ATTEMPTS_MAX`].
    pub attempts: u32,
}

impl Default for CoordinatorOptions {
    fn default() -> Self {
        CoordinatorOptions {
            log: Options::default(),
            isolation: Isolation::Serializable,
            timeout: COORDINATOR_TIMEOUT_DEFAULT,
            attempts: UPDATE_ATTEMPTS_MAX,
        }
    }
}

/// What a recovery ([`Coordinator::open`], [`Coordinator::recover`]) did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CoordinatorRecovery {
    /// Prepared participant transactions committed: their decision was
    /// logged before the crash.
    pub committed: u64,
    /// Prepared participant transactions aborted: no decision was logged
    /// (presumed abort).
    pub aborted: u64,
    /// Decisions forgotten: no participant waits for them any more.
    pub decisions_forgotten: u64,
    /// What could not be finished now (a participant that fails): its
    /// index, the global id and the error. They stay in doubt, holding
    /// their keys, until a later [`Coordinator::recover`].
    pub unresolved: Vec<(usize, Bytes, Error)>,
}

/// Runs one atomic transaction across several keel databases (one per
/// disk, or per shard), by two-phase commit with presumed abort.
///
/// A [`GlobalTransaction`] holds one [`Transaction`] per participant.
/// [`GlobalTransaction::commit`]:
///
/// 1. prepares every participant it used, one after another, under one
///    global id ([`Transaction::prepare`]: validated, logged, synced, its
///    keys held); the first refusal (a conflict, a failure, the timeout)
///    aborts the ones prepared and rolls back the rest — nothing is logged
///    by the coordinator, since no decision means abort;
/// 2. logs the decision to commit, durably (a `Sync` commit in its decision
///    log): this is the moment the global transaction commits;
/// 3. commits every participant ([`crate::PreparedTransaction::commit`]);
/// 4. forgets the decision once every participant has it.
///
/// A transaction that used one participant commits there directly (no
/// prepare, no decision: it is atomic already).
///
/// Recovery ([`Coordinator::open`], [`Coordinator::recover`]) finishes
/// every global transaction a crash left in doubt — of the coordinator, of
/// a participant, or of both: each participant's prepared transactions of
/// this coordinator are committed if the decision log holds their decision
/// and aborted if it does not (presumed abort), and decisions no
/// participant still waits for are forgotten.
///
/// The decision log is a keel database of its own (a directory beside the
/// participants'), not a bespoke log file: a decision is one `Sync` commit,
/// forgetting it one delete, and its crash safety is the engine's —
/// checksummed, torn-write tolerant, and crash-swept like every keel
/// database — with no second on-disk format to get right.
///
/// What it does not give: a snapshot across databases. A reader of two
/// participants may see one committed and the other not yet (between steps
/// 3 of the two); each participant is serializable on its own, and every
/// global transaction is all-or-nothing.
///
/// ```
/// # let dirs = tempfile::tempdir()?;
/// use std::sync::Arc;
/// use keel::{Coordinator, CoordinatorOptions, Database, Options};
///
/// let east = Arc::new(Database::open(dirs.path().join("east"), Options::default())?);
/// let west = Arc::new(Database::open(dirs.path().join("west"), Options::default())?);
/// let coordinator = Coordinator::open(
///     dirs.path().join("coordinator"),
///     vec![east.clone(), west.clone()],
///     CoordinatorOptions::default(),
/// )?;
/// let (stock_east, stock_west) = (east.keyspace("stock")?, west.keyspace("stock")?);
/// east.update(|tx| tx.put(&stock_east, "widgets", "10"))?;
///
/// // Move 3 widgets from east to west: both or neither.
/// let mut tx = coordinator.transaction();
/// tx.participant(0).put(&stock_east, "widgets", "7")?;
/// tx.participant(1).put(&stock_west, "widgets", "3")?;
/// tx.commit()?;
///
/// assert_eq!(west.view(|tx| tx.get(&stock_west, "widgets"))?.as_deref(), Some(&b"3"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Coordinator {
    log: Database,
    decisions: Keyspace,
    participants: Vec<Arc<Database>>,
    options: CoordinatorOptions,
    /// `"{id:016x}."`: every global id of this coordinator starts so.
    prefix: String,
    /// This open's number: global ids never repeat across opens.
    epoch: u64,
    next_sequence: AtomicU64,
    /// Global transactions of this open between `transaction()` and the
    /// end of `commit`: recovery leaves them alone.
    in_progress: Mutex<HashSet<Bytes>>,
    /// One recovery at a time.
    recovering: Mutex<()>,
    opened_recovery: CoordinatorRecovery,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("prefix", &self.prefix)
            .field("epoch", &self.epoch)
            .field("participants", &self.participants.len())
            .finish_non_exhaustive()
    }
}

impl Coordinator {
    /// Opens (or creates) the coordinator whose decision log is the keel
    /// database in `dir`, over `participants` — the same databases at
    /// every open (recovery decides by global id, so their order may
    /// change; the log records their identities, [`Database::id`], because
    /// a decision is forgotten once none of them holds it in doubt: a
    /// participant left out would lose its decisions) — and recovers: every global
    /// transaction a crash left in doubt is finished
    /// ([`Coordinator::recovery`] says what was done).
    ///
    /// # Errors
    /// [`Error::CoordinatorParticipants`] when the decision log was created
    /// for another number of participants; [`Error::CoordinatorStranger`]
    /// for a database it was not created over, or one given twice; the
    /// decision log's open errors.
    pub fn open(
        dir: impl AsRef<Path>,
        participants: Vec<Arc<Database>>,
        options: CoordinatorOptions,
    ) -> Result<Coordinator> {
        Coordinator::open_with_vfs(Arc::new(StdVfs::new()), dir.as_ref(), participants, options)
    }

    /// [`Coordinator::open`] with the decision log on any [`Vfs`] (the
    /// simulated disk in tests).
    ///
    /// # Errors
    /// As [`Coordinator::open`].
    pub fn open_with_vfs(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        participants: Vec<Arc<Database>>,
        options: CoordinatorOptions,
    ) -> Result<Coordinator> {
        let log = Database::open_with_vfs(vfs, dir, options.log.clone())?;
        let decisions = log.keyspace(DECISIONS)?;
        let meta = log.keyspace(META)?;
        let given = u32::try_from(participants.len()).unwrap_or(u32::MAX);
        let members = member_ids(&participants)?;
        // Who this coordinator is, and a new epoch for this open, in one
        // durable commit.
        let (id, epoch) = log.update_with(&sync(), |tx| {
            let id = match tx.get(&meta, META_ID)? {
                Some(id) => read_u64(&id),
                None => {
                    let id = rand::random::<u64>();
                    tx.put(&meta, META_ID, id.to_le_bytes())?;
                    tx.put(&meta, META_PARTICIPANTS, given.to_le_bytes())?;
                    id
                }
            };
            if let Some(recorded) = tx.get(&meta, META_PARTICIPANTS)? {
                let recorded = u32::try_from(read_u64(&recorded)).unwrap_or(u32::MAX);
                if recorded != given {
                    return Err(Error::CoordinatorParticipants { recorded, given });
                }
            }
            check_members(tx, &meta, &members)?;
            let epoch = tx
                .get(&meta, META_EPOCH)?
                .map_or(0, |epoch| read_u64(&epoch))
                + 1;
            tx.put(&meta, META_EPOCH, epoch.to_le_bytes())?;
            Ok((id, epoch))
        })?;
        let mut coordinator = Coordinator {
            log,
            decisions,
            participants,
            options,
            prefix: format!("{id:016x}."),
            epoch,
            next_sequence: AtomicU64::new(0),
            in_progress: Mutex::new(HashSet::new()),
            recovering: Mutex::new(()),
            opened_recovery: CoordinatorRecovery::default(),
        };
        coordinator.opened_recovery = coordinator.recover()?;
        Ok(coordinator)
    }

    /// The participants, in the order given at open (the indices of
    /// [`GlobalTransaction::participant`]).
    pub fn participants(&self) -> &[Arc<Database>] {
        &self.participants
    }

    /// What the recovery at open did.
    pub fn recovery(&self) -> &CoordinatorRecovery {
        &self.opened_recovery
    }

    /// Whether `global_id` is one of this coordinator's.
    pub fn owns(&self, global_id: &[u8]) -> bool {
        global_id.starts_with(self.prefix.as_bytes())
    }

    /// Begins a global transaction: a transaction on every participant, at
    /// [`CoordinatorOptions::isolation`], under a new global id.
    pub fn transaction(&self) -> GlobalTransaction<'_> {
        let sequence = self.next_sequence.fetch_add(1, Ordering::Relaxed);
        let global_id = Bytes::from(format!("{}{}.{sequence}", self.prefix, self.epoch));
        self.in_progress.lock().insert(global_id.clone());
        let transactions = self
            .participants
            .iter()
            .map(|db| db.begin(self.options.isolation))
            .collect();
        GlobalTransaction {
            coordinator: self,
            global_id,
            transactions,
            began: Instant::now(),
        }
    }

    /// Runs `write` in a global transaction and commits it, again (after a
    /// short randomized backoff) when a participant conflicts, at most
    /// [`CoordinatorOptions::attempts`] times. `write` must be safe to run
    /// more than once. Its error type is the caller's, as in
    /// [`Database::update_with`].
    ///
    /// # Errors
    /// What `write` returns; the commit's error other than a conflict
    /// (after `attempts` conflicts, [`Error::TooManyConflicts`]).
    pub fn update<T, E: From<Error>>(
        &self,
        mut write: impl FnMut(&mut GlobalTransaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        retry_conflicts(self.options.attempts, || {
            let mut transaction = self.transaction();
            let value = write(&mut transaction)?;
            Ok(transaction.commit().map(|()| value))
        })
    }

    /// Finishes every global transaction of this coordinator left in doubt
    /// (not one of this open's under way): on each participant, a prepared
    /// transaction is committed if its decision is logged and aborted if
    /// not; then decisions no participant waits for are forgotten. Open
    /// does this; call it again after a participant failed (its disk, say)
    /// and was reopened by the process.
    ///
    /// # Errors
    /// [`Error::Poisoned`] when the decision log refuses writes (reopen the
    /// coordinator: until then what it holds on disk is unknown); the
    /// decision log's other errors. A participant's failures are in
    /// [`CoordinatorRecovery::unresolved`] instead.
    pub fn recover(&self) -> Result<CoordinatorRecovery> {
        let _one_at_a_time = self.recovering.lock();
        self.check_log()?;
        let mut report = CoordinatorRecovery::default();
        // The in-doubt transactions of global transactions that are over.
        // A global id enters `in_progress` before any participant prepares
        // under it and leaves it for good, so one found prepared and then
        // not in progress is over: its decision, if any, was logged before
        // the decisions are read below.
        let mut candidates = Vec::new();
        for (index, participant) in self.participants.iter().enumerate() {
            for info in participant.prepared() {
                if self.owns(&info.global_id) {
                    candidates.push((index, info.global_id));
                }
            }
        }
        {
            let in_progress = self.in_progress.lock();
            candidates.retain(|(_, global_id)| !in_progress.contains(global_id));
        }
        let decided = self.decided()?;
        for (index, global_id) in candidates {
            let participant = &self.participants[index];
            let commit = decided.contains(&global_id);
            let outcome = if commit {
                participant.commit_prepared(&global_id)
            } else {
                participant.abort_prepared(&global_id)
            };
            match outcome {
                Ok(()) if commit => report.committed += 1,
                Ok(()) => report.aborted += 1,
                // Decided meanwhile (by the user, through the database).
                Err(Error::PreparedNotFound { .. }) => {}
                Err(error) => {
                    tracing::warn!(participant = index, global_id = ?global_id, %error, "an in-doubt transaction was not finished");
                    report.unresolved.push((index, global_id, error));
                }
            }
        }
        // Forget the decisions no participant waits for. Each decision
        // read here was logged after all its participants prepared, so a
        // participant that does not list it as prepared afterwards has
        // committed it.
        let decided = self.decided()?;
        let mut waiting = HashSet::new();
        for participant in &self.participants {
            for info in participant.prepared() {
                waiting.insert(info.global_id);
            }
        }
        for global_id in decided {
            if !waiting.contains(&global_id) {
                self.forget(&global_id)?;
                report.decisions_forgotten += 1;
            }
        }
        if report.committed + report.aborted > 0 || !report.unresolved.is_empty() {
            tracing::info!(
                committed = report.committed,
                aborted = report.aborted,
                unresolved = report.unresolved.len(),
                "coordinator recovery"
            );
        }
        Ok(report)
    }

    /// The global ids whose commit is logged.
    fn decided(&self) -> Result<HashSet<Bytes>> {
        self.log.view(|tx| {
            tx.keys(&self.decisions, ..)?
                .collect::<Result<HashSet<Bytes>>>()
        })
    }

    /// Fails when the decision log refuses writes: what it holds on disk
    /// may then differ from what it shows (a decision whose sync failed),
    /// so nothing may be decided from it until it is reopened.
    fn check_log(&self) -> Result<()> {
        match self.log.shared.manager.poisoned() {
            Some(error) => Err(Error::Poisoned(error.to_string())),
            None => Ok(()),
        }
    }

    /// Closes the decision log (the participants stay open).
    ///
    /// # Errors
    /// As [`Database::close`].
    pub fn close(self) -> Result<()> {
        self.log.close()
    }

    /// Logs the decision to commit `global_id`, durably.
    fn decide(&self, global_id: &[u8], prepared: &[usize]) -> Result<()> {
        let participants: Vec<u8> = prepared
            .iter()
            .flat_map(|index| u32::try_from(*index).unwrap_or(u32::MAX).to_le_bytes())
            .collect();
        self.log.update_with(&sync(), |tx| {
            tx.put(&self.decisions, global_id, &participants)
        })
    }

    /// Forgets the decision on `global_id`: every participant has it. Not
    /// synced: if a crash loses the delete, recovery finds no participant
    /// waiting and forgets it again.
    fn forget(&self, global_id: &[u8]) -> Result<()> {
        let options = UpdateOptions {
            durability: Some(Durability::None),
            ..UpdateOptions::default()
        };
        self.log
            .update_with(&options, |tx| tx.delete(&self.decisions, global_id))
    }
}

/// The identities of `participants`, by position; an error for a database
/// given twice.
fn member_ids(participants: &[Arc<Database>]) -> Result<Vec<u128>> {
    let mut ids: Vec<u128> = Vec::with_capacity(participants.len());
    for (position, participant) in participants.iter().enumerate() {
        let id = participant.id()?;
        if ids.contains(&id) {
            return Err(Error::CoordinatorStranger {
                position,
                reason: "given twice",
            });
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Checks the participants' identities against those the decision log
/// recorded (in any order; the counts are equal and none is given twice),
/// or records them: at creation, and once for a log from before
/// identities were recorded.
fn check_members(tx: &mut Transaction, meta: &Keyspace, members: &[u128]) -> Result<()> {
    let Some(recorded) = tx.get(meta, META_MEMBERS)? else {
        let mut sorted = members.to_vec();
        sorted.sort_unstable();
        let bytes: Vec<u8> = sorted.iter().flat_map(|id| id.to_le_bytes()).collect();
        return tx.put(meta, META_MEMBERS, bytes);
    };
    let recorded: Vec<u128> = recorded
        .chunks_exact(16)
        .map(|chunk| u128::from_le_bytes(chunk.try_into().unwrap_or([0; 16])))
        .collect();
    match members.iter().position(|id| !recorded.contains(id)) {
        Some(position) => Err(Error::CoordinatorStranger {
            position,
            reason: "another database",
        }),
        None => Ok(()),
    }
}

/// A `Sync` update (decisions and the coordinator's identity).
fn sync() -> UpdateOptions {
    UpdateOptions {
        durability: Some(Durability::Sync),
        ..UpdateOptions::default()
    }
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    let length = bytes.len().min(8);
    raw[..length].copy_from_slice(&bytes[..length]);
    u64::from_le_bytes(raw)
}

/// One transaction across the coordinator's participants
/// ([`Coordinator::transaction`]): a [`Transaction`] per participant, all
/// committed or none. Dropping it rolls every one back.
pub struct GlobalTransaction<'c> {
    coordinator: &'c Coordinator,
    global_id: Bytes,
    transactions: Vec<Transaction>,
    began: Instant,
}

impl std::fmt::Debug for GlobalTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalTransaction")
            .field("global_id", &self.global_id)
            .field("participants", &self.transactions.len())
            .finish_non_exhaustive()
    }
}

impl GlobalTransaction<'_> {
    /// The global id its participants prepare under.
    pub fn global_id(&self) -> &[u8] {
        &self.global_id
    }

    /// The transaction on participant `index` (the order given to
    /// [`Coordinator::open`]).
    ///
    /// # Panics
    /// If `index` is not below the number of participants.
    pub fn participant(&mut self, index: usize) -> &mut Transaction {
        &mut self.transactions[index]
    }

    /// Every participant's transaction, in order (to hold several at once).
    pub fn participants(&mut self) -> &mut [Transaction] {
        &mut self.transactions
    }

    /// Commits on every participant or on none (see [`Coordinator`] for
    /// the steps). Returns once the
    /// decision is durable and every participant has applied it. A
    /// participant that fails to apply a logged decision (its disk failed)
    /// keeps it prepared, holding its keys, and the transaction is still
    /// committed — on that participant once [`Coordinator::recover`] (or
    /// the next open) reaches it; the call returns `Ok`.
    ///
    /// # Errors
    /// Before the decision, nothing is committed anywhere:
    /// [`Error::Conflict`] from any participant (retry, or use
    /// [`Coordinator::update`]); [`Error::TransactionTooOld`] past
    /// [`CoordinatorOptions::timeout`]; a participant's failure to prepare;
    /// [`Error::Poisoned`] when the decision log refuses writes.
    /// [`Error::InDoubt`] when writing the decision failed: whether it
    /// committed is decided when the coordinator is reopened.
    pub fn commit(mut self) -> Result<()> {
        let coordinator = self.coordinator;
        let transactions = std::mem::take(&mut self.transactions);
        let used: Vec<(usize, Transaction)> = transactions
            .into_iter()
            .enumerate()
            .filter(|(_, transaction)| !transaction.is_unused())
            .collect();
        if used.len() <= 1 {
            // One participant is atomic on its own: no prepare, no decision.
            return match used.into_iter().next() {
                Some((_, transaction)) => transaction.commit(),
                None => Ok(()),
            };
        }
        coordinator.check_log()?;
        // Phase one: every vote, in order.
        let mut prepared: Vec<(usize, PreparedTransaction)> = Vec::with_capacity(used.len());
        for (index, transaction) in used {
            let vote = self
                .check_timeout()
                .and_then(|()| transaction.prepare(&self.global_id));
            match vote {
                Ok(handle) => prepared.push((index, handle)),
                Err(error) => {
                    // No decision is logged: presumed abort. A participant
                    // whose abort fails stays prepared until recovery
                    // aborts it, finding no decision.
                    for (_, handle) in prepared {
                        let _ = handle.abort();
                    }
                    return Err(error);
                }
            }
        }
        if let Err(error) = self.check_timeout() {
            for (_, handle) in prepared {
                let _ = handle.abort();
            }
            return Err(error);
        }
        // The decision: from here on the transaction commits.
        let indices: Vec<usize> = prepared.iter().map(|(index, _)| *index).collect();
        if let Err(error) = coordinator.decide(&self.global_id, &indices) {
            if coordinator.check_log().is_ok() {
                // Refused before anything was logged (the log fails only
                // by poisoning itself): no decision, so abort.
                for (_, handle) in prepared {
                    let _ = handle.abort();
                }
                return Err(error);
            }
            // Perhaps durable, perhaps not: only the log, reopened, knows.
            // The participants stay prepared until then.
            drop(prepared);
            return Err(Error::InDoubt {
                global_id: self.global_id.clone(),
                reason: crate::error::with_causes(&error),
            });
        }
        // Phase two.
        let mut applied = true;
        for (index, handle) in prepared {
            if let Err(error) = handle.commit() {
                tracing::warn!(participant = index, global_id = ?self.global_id, %error, "a participant did not apply a commit decision; recovery will");
                applied = false;
            }
        }
        if applied && let Err(error) = coordinator.forget(&self.global_id) {
            // Recovery forgets it later.
            tracing::warn!(global_id = ?self.global_id, %error, "forgetting a decision failed");
        }
        Ok(())
    }

    /// Rolls every participant's transaction back (as dropping it does).
    pub fn rollback(self) {}

    fn check_timeout(&self) -> Result<()> {
        let age = self.began.elapsed();
        let limit = self.coordinator.options.timeout;
        if age > limit {
            return Err(Error::TransactionTooOld {
                age_ms: u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
                limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
            });
        }
        Ok(())
    }
}

impl Drop for GlobalTransaction<'_> {
    fn drop(&mut self) {
        self.coordinator.in_progress.lock().remove(&self.global_id);
    }
}

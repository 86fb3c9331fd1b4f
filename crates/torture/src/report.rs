//! What a run found: the counts, and the first divergence from the model
//! with everything needed to replay it.

use std::fmt;
use std::time::Duration;

use keel_io::CrashMode;

use crate::model::Difference;

/// How a round's crash happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashRecord {
    /// The round whose work was cut.
    pub round: u64,
    /// The mutating operation the disk died at; `None`: after the round's
    /// work, before anything else was written.
    pub point: Option<u64>,
    /// What survived.
    pub mode: CrashMode,
    /// A second crash during the recovery open after it: (operation, mode).
    pub recovery: Option<(u64, CrashMode)>,
}

impl fmt::Display for CrashRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.point {
            Some(point) => write!(
                f,
                "round {} crashed at operation {point}, {:?}",
                self.round, self.mode
            )?,
            None => write!(
                f,
                "round {} crashed after its work, {:?}",
                self.round, self.mode
            )?,
        }
        if let Some((point, mode)) = self.recovery {
            write!(f, ", then again in recovery at operation {point}, {mode:?}")?;
        }
        Ok(())
    }
}

/// A way the database disagreed with the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Finding {
    /// Commits acknowledged durable are missing after recovery.
    #[error(
        "acknowledged commits lost: {durable} commits were acknowledged durable, the recovered state is closest to the first {closest} (of {attempted} attempted; first lost: {first_lost}); first difference: {difference}"
    )]
    Lost {
        /// Commits since the last recovery acknowledged durable.
        durable: usize,
        /// The prefix the recovered state comes closest to.
        closest: usize,
        /// Commits attempted since the last recovery.
        attempted: usize,
        /// The first durable commit missing.
        first_lost: String,
        /// Where the recovered state differs from the durable prefix.
        difference: Box<Difference>,
    },
    /// The recovered state holds a value (or keyspace) no commit wrote.
    #[error(
        "recovered a write no commit made ({durable} durable, {attempted} attempted): {difference}"
    )]
    Resurrected {
        /// Commits since the last recovery acknowledged durable.
        durable: usize,
        /// Commits attempted since the last recovery.
        attempted: usize,
        /// The value no commit wrote.
        difference: Box<Difference>,
    },
    /// The recovered state is no prefix of the commits, though each value
    /// in it was written by one: commits lost from the middle of the
    /// history, or a commit there in part.
    #[error(
        "recovered a state no prefix of the commits gives ({durable} durable, {attempted} attempted; closest: {closest}); first difference: {difference}"
    )]
    Unexplained {
        /// Commits since the last recovery acknowledged durable.
        durable: usize,
        /// The prefix the recovered state comes closest to.
        closest: usize,
        /// Commits attempted since the last recovery.
        attempted: usize,
        /// Where the recovered state differs from the closest prefix (or
        /// the durable one, when closer to an older prefix).
        difference: Box<Difference>,
    },
    /// Before any crash, the database's contents differ from the
    /// acknowledged commits.
    #[error("the open database differs from its acknowledged commits: {0}")]
    LiveMismatch(Box<Difference>),
    /// The database did not open after a crash.
    #[error("reopen after the crash failed: {0}")]
    OpenFailed(String),
    /// `Database::check` reported problems.
    #[error("check() found problems: {0:?}")]
    CheckFailed(Vec<String>),
    /// Reading the recovered state back failed.
    #[error("reading the recovered state failed: {0}")]
    ReadBackFailed(String),
    /// An operation failed while the disk was still up.
    #[error("{during} failed with the disk up: {error}")]
    UnexpectedError {
        /// The operation.
        during: String,
        /// The error.
        error: String,
    },
    /// A transaction prepared for two-phase commit (its prepare
    /// acknowledged, no decision on it made) is not in doubt after the
    /// crash: a durable vote was lost.
    #[error("prepared transaction {global_id} is not in doubt after the crash")]
    PreparedLost {
        /// Its global id.
        global_id: String,
    },
    /// A prepared transaction is in doubt after the crash that the model
    /// never prepared, or that was decided.
    #[error("transaction {global_id} is in doubt after the crash, and should not be")]
    PreparedResurrected {
        /// Its global id.
        global_id: String,
    },
    /// A read in a transaction returned something its snapshot does not
    /// hold.
    #[error("{transaction}: {read}: expected {expected}, found {found}")]
    ReadMismatch {
        /// The transaction.
        transaction: String,
        /// The read (key or range).
        read: String,
        /// What the model says the snapshot holds.
        expected: String,
        /// What it returned.
        found: String,
    },
}

/// The first divergence of a run, with what is needed to replay it
/// (`simulator::run` with its seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The seed of the failing run.
    pub seed: u64,
    /// The round in which it was found.
    pub round: u64,
    /// The crash before it, if any.
    pub crash: Option<CrashRecord>,
    /// What was wrong.
    pub finding: Finding,
    /// The run's last events, oldest first.
    pub recent_events: Vec<String>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "divergence: seed {}, round {}", self.seed, self.round)?;
        if let Some(crash) = &self.crash {
            writeln!(f, "  after: {crash}")?;
        }
        writeln!(f, "  {}", self.finding)?;
        writeln!(f, "  last events:")?;
        for event in &self.recent_events {
            writeln!(f, "    {event}")?;
        }
        write!(
            f,
            "  replay: Config::replay({}), or KEEL_TORTURE_SEED={} KEEL_TORTURE_SEEDS=1",
            self.seed, self.seed
        )
    }
}

/// The counts of a run; two runs of the same seeds and budget have equal
/// counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Seeds run (each a run of its own on a fresh disk).
    pub seeds: u64,
    /// Rounds (open, verify, work, crash).
    pub rounds: u64,
    /// Crash images checked (each crash, including those during recovery).
    pub images: u64,
    /// Commits attempted (acknowledged, conflicted or failed).
    pub commits_attempted: u64,
    /// Commits acknowledged (`commit()` returned `Ok`), any durability.
    pub commits_acknowledged: u64,
    /// Commits acknowledged durable (`Sync`, or followed by a checkpoint
    /// or a later `Sync` commit before the crash).
    pub commits_durable: u64,
    /// Durable commits found after a crash.
    pub verified: u64,
    /// Durable commits missing after a crash (must be 0).
    pub lost: u64,
    /// Images holding a write no commit made (must be 0).
    pub resurrected: u64,
    /// Images whose state is no prefix of the commits though every value
    /// in it was committed: a middle of the history lost (must be 0).
    pub unexplained: u64,
    /// Commits refused with a conflict.
    pub conflicts: u64,
    /// Reads (gets and scans) checked against the model.
    pub reads_checked: u64,
    /// Checkpoints that returned.
    pub checkpoints: u64,
    /// Bulk loads finished.
    pub loads: u64,
    /// Keyspaces created and dropped.
    pub keyspace_changes: u64,
    /// Transactions prepared (two-phase commit; the prepare acknowledged).
    pub prepares: u64,
    /// Prepared transactions found in doubt after a crash, as the model
    /// expected, and decided later.
    pub prepared_recovered: u64,
}

/// What a simulator run did; `Display` prints it for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The first seed.
    pub first_seed: u64,
    /// The counts.
    pub counts: Counts,
    /// The hash of every event of the run (equal for equal runs).
    pub trace_hash: u64,
    /// Wall-clock time taken.
    pub elapsed: Duration,
    /// The first divergence; the run stops there.
    pub divergence: Option<Divergence>,
}

impl Counts {
    /// Adds another run's counts.
    pub fn add(&mut self, other: &Counts) {
        let Counts {
            seeds,
            rounds,
            images,
            commits_attempted,
            commits_acknowledged,
            commits_durable,
            verified,
            lost,
            resurrected,
            unexplained,
            conflicts,
            reads_checked,
            checkpoints,
            loads,
            keyspace_changes,
            prepares,
            prepared_recovered,
        } = other;
        self.seeds += seeds;
        self.rounds += rounds;
        self.images += images;
        self.commits_attempted += commits_attempted;
        self.commits_acknowledged += commits_acknowledged;
        self.commits_durable += commits_durable;
        self.verified += verified;
        self.lost += lost;
        self.resurrected += resurrected;
        self.unexplained += unexplained;
        self.conflicts += conflicts;
        self.reads_checked += reads_checked;
        self.checkpoints += checkpoints;
        self.loads += loads;
        self.keyspace_changes += keyspace_changes;
        self.prepares += prepares;
        self.prepared_recovered += prepared_recovered;
    }
}

impl Report {
    /// Appends the report of the run that continued this one (from the
    /// seed after its last): counts and time add up, the first divergence
    /// is kept, and the trace hash covers both.
    pub fn merge(&mut self, next: Report) {
        self.counts.add(&next.counts);
        self.elapsed += next.elapsed;
        self.trace_hash = self.trace_hash.rotate_left(17) ^ next.trace_hash;
        if self.divergence.is_none() {
            self.divergence = next.divergence;
        }
    }

    /// Whether the run found nothing wrong.
    pub fn passed(&self) -> bool {
        self.divergence.is_none()
    }

    /// Crash images per second of wall-clock time.
    pub fn images_per_second(&self) -> f64 {
        self.counts.images as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        writeln!(
            f,
            "keel torture: seeds {}..{} ({} seeds), {} rounds, {} crash images in {:.1} s ({:.0} images/s)",
            self.first_seed,
            self.first_seed.wrapping_add(c.seeds),
            c.seeds,
            c.rounds,
            c.images,
            self.elapsed.as_secs_f64(),
            self.images_per_second()
        )?;
        writeln!(
            f,
            "  commits: {} attempted, {} acknowledged, {} durable, {} conflicts",
            c.commits_attempted, c.commits_acknowledged, c.commits_durable, c.conflicts
        )?;
        writeln!(
            f,
            "  after crashes: {} durable commits verified, {} lost, {} images with a resurrected write, {} with no prefix of the history",
            c.verified, c.lost, c.resurrected, c.unexplained
        )?;
        writeln!(
            f,
            "  also: {} reads checked, {} checkpoints, {} bulk loads, {} keyspace creates/drops, {} prepares ({} found in doubt after a crash); trace {:016x}",
            c.reads_checked,
            c.checkpoints,
            c.loads,
            c.keyspace_changes,
            c.prepares,
            c.prepared_recovered,
            self.trace_hash
        )?;
        match &self.divergence {
            None => write!(f, "  result: no divergence"),
            Some(divergence) => write!(f, "  result: FAILED\n{divergence}"),
        }
    }
}

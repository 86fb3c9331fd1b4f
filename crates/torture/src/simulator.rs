//! The simulator: one seed drives a whole run exactly (modelled on
//! TigerBeetle's VOPR and FoundationDB's simulation).
//!
//! A run opens a [`keel::Database`] on a [`SimVfs`] and repeats rounds of:
//! (sometimes) a crash part way through the recovery open, the recovery
//! open, a comparison of the whole recovered state with the model and
//! `Database::check`, then work — substantial, light, none, or only a
//! checkpoint — cut by a crash at a random mutating operation (or after
//! the work, or part way through a close) in a random crash mode. The work
//! continues on the recovered database, so crashes follow each other.
//!
//! Some transactions are prepared for two-phase commit instead of
//! committed, and decided (mostly committed) later, in the same round or
//! — by global id — after crashes: the recovered database must hold in
//! doubt exactly the prepared transactions the model says (every one whose
//! prepare was acknowledged and no decision attempted; perhaps one the
//! crash cut), and a decision is a commit like any other for the model.
//!
//! Determinism: one thread does everything; the database runs without its
//! background thread and with an hour-long periodic sync, so no I/O
//! happens at a moment the seed does not choose. (The timestamp oracle
//! still writes its mark every 3 s of wall-clock time: a round that long
//! shifts the operation numbers; rounds here take milliseconds.)
//!
//! ```
//! use keel_torture::simulator::{Config, run};
//!
//! let report = run(&Config::images(1, 3));
//! assert!(report.counts.images >= 3);
//! println!("{report}");
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use keel::{Database, Durability, Options};
use keel_io::{CrashMode, SimVfs};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub use crate::config::Config;
use crate::disk::Disk;
use crate::model::{KeyspaceState, Model, State};
pub use crate::report::Report;
use crate::report::{Counts, CrashRecord, Divergence, Finding};
use crate::scheduler::Scheduler;
use crate::trace::Trace;
use crate::workload::{Prepared, Stop, Work};

/// Where the database lives on the simulated disk.
pub const DATABASE_DIR: &str = "/db";
/// Where log segments are archived, for the seeds that archive.
pub const ARCHIVE_DIR: &str = "/archive";

/// The kind of work between two crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum WorkKind {
    /// Nothing: open, verify, crash.
    Idle,
    /// Only `Database::checkpoint`.
    CheckpointOnly,
    /// A few steps.
    Light,
    /// Many steps.
    Substantial,
}

impl WorkKind {
    fn choose(rng: &mut SmallRng) -> WorkKind {
        match rng.random_range(0..100) {
            0..15 => WorkKind::Idle,
            15..35 => WorkKind::CheckpointOnly,
            35..70 => WorkKind::Light,
            _ => WorkKind::Substantial,
        }
    }

    fn steps(self, rng: &mut SmallRng) -> u32 {
        match self {
            WorkKind::Idle | WorkKind::CheckpointOnly => 0,
            WorkKind::Light => rng.random_range(1..12),
            WorkKind::Substantial => rng.random_range(20..120),
        }
    }
}

/// Runs the simulator: seeds from `config.seed` on, until the budget is
/// spent or the first divergence (which the report holds, with its seed).
pub fn run(config: &Config) -> Report {
    let started = Instant::now();
    let mut runner = Runner {
        config,
        started,
        counts: Counts::default(),
        trace: Trace::new(config.recent_events),
    };
    let mut divergence = None;
    let mut seed = config.seed;
    while !runner.budget_spent() {
        let mut run = SeedRun::new(seed, config.disk);
        let outcome = run.run(&mut runner);
        runner.counts.seeds += 1;
        if let Err(found) = outcome {
            divergence = Some(*found);
            break;
        }
        seed = seed.wrapping_add(1);
    }
    Report {
        first_seed: config.seed,
        counts: runner.counts,
        trace_hash: runner.trace.hash(),
        elapsed: started.elapsed(),
        divergence,
    }
}

/// What outlives one seed: the budget, counts and trace.
struct Runner<'a> {
    config: &'a Config,
    started: Instant,
    counts: Counts,
    trace: Trace,
}

impl Runner<'_> {
    fn budget_spent(&self) -> bool {
        self.config
            .seeds
            .is_some_and(|seeds| self.counts.seeds >= seeds)
            || self
                .config
                .images
                .is_some_and(|images| self.counts.images >= images)
            || self
                .config
                .duration
                .is_some_and(|duration| self.started.elapsed() >= duration)
    }
}

/// The options of a seed's database: no background thread, no periodic
/// sync within a run, small segments and pool so that roll-over,
/// truncation and eviction happen.
fn options(rng: &mut SmallRng) -> Options {
    let durability = match rng.random_range(0..4) {
        0 | 1 => Durability::Sync,
        2 => Durability::None,
        _ => Durability::Periodic,
    };
    Options {
        durability,
        sync_interval: Duration::from_secs(3600),
        pool_bytes: 32 * 4096,
        background_maintenance: false,
        wal_segment_bytes: WAL_SEGMENT_BYTES,
        checkpoint_wal_bytes: 256 << 10,
        archive_dir: rng
            .random_bool(0.3)
            .then(|| Path::new(ARCHIVE_DIR).to_path_buf()),
        // The default (only large commits are batches), every commit a
        // batch, or a size that splits commits between the two shapes.
        batch_commit_bytes_min: match rng.random_range(0..3) {
            0 => Options::default().batch_commit_bytes_min,
            1 => 0,
            _ => rng.random_range(16..2048),
        },
        // The default (commits of one record), every entry a log part of
        // its own, or parts of a few entries.
        wal_part_bytes: match rng.random_range(0..3) {
            0 => Options::default().wal_part_bytes,
            1 => 1,
            _ => rng.random_range(64..4096),
        },
        // The default (nothing spills), every write spilled to disk (when
        // no savepoint is held), or transactions that spill part way.
        transaction_memory_bytes_max: match rng.random_range(0..3) {
            0 => Options::default().transaction_memory_bytes_max,
            1 => 0,
            _ => rng.random_range(64..4096),
        },
        ..Options::default()
    }
}

/// Log segment bytes: the smallest keel-wal accepts (its
/// `SEGMENT_BYTES_MIN`, which the engine does not re-export), so that
/// segments roll over every few rounds.
pub const WAL_SEGMENT_BYTES: u64 = 64 << 10;

/// One seed's run on its own disk.
struct SeedRun {
    seed: u64,
    rng: SmallRng,
    vfs: SimVfs,
    disk: Disk,
    options: Options,
    model: Model,
    /// Prepared transactions waiting for a decision, across rounds.
    prepared: Vec<Prepared>,
    serial: u64,
    round: u64,
    last_crash: Option<CrashRecord>,
    /// Mutating operations of the last uncut open, work of each kind, and
    /// close: where a crash point lands.
    open_operations: u64,
    work_operations: BTreeMap<WorkKind, u64>,
    close_operations: u64,
}

impl SeedRun {
    fn new(seed: u64, disk: Disk) -> SeedRun {
        let mut rng = SmallRng::seed_from_u64(seed);
        let options = options(&mut rng);
        SeedRun {
            seed,
            rng,
            vfs: SimVfs::new(seed),
            disk,
            options,
            model: Model::default(),
            prepared: Vec::new(),
            serial: 0,
            round: 0,
            last_crash: None,
            open_operations: 8,
            work_operations: BTreeMap::new(),
            close_operations: 8,
        }
    }

    fn run(&mut self, runner: &mut Runner<'_>) -> Result<(), Box<Divergence>> {
        runner.trace.event(format_args!(
            "seed {} options {:?} archive {:?}",
            self.seed, self.options.durability, self.options.archive_dir
        ));
        while self.round < runner.config.rounds_per_seed && !runner.budget_spent() {
            self.round(runner)
                .map_err(|finding| self.divergence(runner, finding))?;
            self.round += 1;
            runner.counts.rounds += 1;
        }
        Ok(())
    }

    fn divergence(&self, runner: &Runner<'_>, finding: Finding) -> Box<Divergence> {
        Box::new(Divergence {
            seed: self.seed,
            round: self.round,
            crash: self.last_crash,
            finding,
            recent_events: runner.trace.recent(),
        })
    }

    fn open(&self) -> keel::Result<Database> {
        Database::open_with_vfs(
            self.disk.over(&self.vfs),
            Path::new(DATABASE_DIR),
            self.options.clone(),
        )
    }

    fn crash_mode(&mut self) -> CrashMode {
        CrashMode::ALL[self.rng.random_range(0..CrashMode::ALL.len())]
    }

    /// One round: (a crash in recovery,) open, verify, work, crash.
    fn round(&mut self, runner: &mut Runner<'_>) -> Result<(), Finding> {
        if self.round > 0 && self.rng.random_bool(0.25) {
            self.crash_during_recovery(runner);
        }
        let before = self.vfs.operations();
        let db = self
            .open()
            .map_err(|error| Finding::OpenFailed(with_sources(&error)))?;
        self.open_operations = self.vfs.operations() - before;
        self.verify(&db, runner)?;
        let kind = WorkKind::choose(&mut self.rng);
        let crash_point = self.work_crash_point(kind);
        self.vfs.set_crash_point(crash_point);
        let start = self.vfs.operations();
        runner.trace.event(format_args!(
            "round {} {kind:?}, crash point {crash_point:?}",
            self.round
        ));
        self.work(&db, kind, runner)?;
        if !self.vfs.power_lost() {
            self.work_operations
                .insert(kind, self.vfs.operations() - start);
            if self.rng.random_bool(0.2) {
                self.check_live(&db, runner)?;
            }
        }
        let point = self.end(db, crash_point, runner)?;
        let mode = self.crash_mode();
        self.vfs.crash(mode);
        runner.counts.images += 1;
        runner.trace.event(format_args!("crash {point:?} {mode:?}"));
        self.last_crash = Some(CrashRecord {
            round: self.round,
            point,
            mode,
            recovery: None,
        });
        Ok(())
    }

    /// An open cut by a second crash; the next open must still recover.
    fn crash_during_recovery(&mut self, runner: &mut Runner<'_>) {
        let point = self.vfs.operations() + self.rng.random_range(0..=self.open_operations);
        self.vfs.set_crash_point(Some(point));
        let opened = self.open().is_ok();
        let mode = self.crash_mode();
        self.vfs.crash(mode);
        runner.counts.images += 1;
        runner.trace.event(format_args!(
            "crash in recovery at {point} {mode:?} (opened: {opened})"
        ));
        if let Some(crash) = &mut self.last_crash {
            crash.recovery = Some((point, mode));
        }
    }

    fn work_crash_point(&mut self, kind: WorkKind) -> Option<u64> {
        let estimate = self
            .work_operations
            .get(&kind)
            .copied()
            .unwrap_or(64)
            .max(4);
        self.rng
            .random_bool(0.7)
            .then(|| self.vfs.operations() + self.rng.random_range(0..=estimate))
    }

    fn work(
        &mut self,
        db: &Database,
        kind: WorkKind,
        runner: &mut Runner<'_>,
    ) -> Result<(), Finding> {
        let steps = kind.steps(&mut self.rng);
        let mut work = Work {
            db,
            vfs: &self.vfs,
            rng: &mut self.rng,
            model: &mut self.model,
            trace: &mut runner.trace,
            counts: &mut runner.counts,
            default_durability: self.options.durability,
            serial: &mut self.serial,
            scheduler: Scheduler::default(),
            prepared: &mut self.prepared,
            long_keys: runner.config.long_keys,
        };
        let outcome = match kind {
            WorkKind::CheckpointOnly => work.checkpoint(),
            _ => work.steps(steps),
        };
        // Open transactions end with the round, unfinished; prepared ones
        // stay prepared, decided by global id after the reopen.
        drop(work);
        for prepared in &mut self.prepared {
            prepared.handle = None;
        }
        match outcome {
            Ok(()) | Err(Stop::PowerLost) => Ok(()),
            Err(Stop::Finding(finding)) => Err(finding),
        }
    }

    /// Ends the round's database: dropped at once (the disk dies now), or
    /// closed with the disk dying part way or not at all. Returns the
    /// operation the disk died at, if it did during the work or close.
    fn end(
        &mut self,
        db: Database,
        work_point: Option<u64>,
        runner: &mut Runner<'_>,
    ) -> Result<Option<u64>, Finding> {
        if self.vfs.power_lost() {
            drop(db);
            return Ok(work_point);
        }
        if self.rng.random_bool(0.6) {
            self.vfs.set_crash_point(Some(self.vfs.operations()));
            drop(db);
            return Ok(None);
        }
        let point = self
            .rng
            .random_bool(0.6)
            .then(|| self.vfs.operations() + self.rng.random_range(0..=self.close_operations));
        self.vfs.set_crash_point(point);
        let start = self.vfs.operations();
        let closed = db.close();
        runner
            .trace
            .event(format_args!("close, crash point {point:?}: {closed:?}"));
        if self.vfs.power_lost() {
            return Ok(point);
        }
        self.close_operations = self.vfs.operations() - start;
        closed.map_err(|error| Finding::UnexpectedError {
            during: "close".into(),
            error: error.to_string(),
        })?;
        self.model.all_durable();
        Ok(None)
    }

    /// Before a crash: the database holds exactly the acknowledged
    /// commits, and `check()` finds nothing.
    fn check_live(&mut self, db: &Database, runner: &mut Runner<'_>) -> Result<(), Finding> {
        let found = read_state(db).map_err(|error| Finding::ReadBackFailed(error.to_string()))?;
        let problems = db
            .check()
            .map_err(|error| Finding::CheckFailed(vec![error.to_string()]))?;
        runner
            .trace
            .event(format_args!("live check: {} problems", problems.len()));
        if !problems.is_empty() {
            return Err(Finding::CheckFailed(problems));
        }
        let current = self.model.current();
        if let Some(difference) = current.first_difference(&found) {
            return Err(Finding::LiveMismatch(Box::new(difference)));
        }
        self.check_prepared(db, runner)
    }

    /// The transactions the database holds prepared are the model's: each
    /// whose prepare was acknowledged and on which no decision was
    /// attempted (after a crash), perhaps those whose prepare or decision
    /// the crash cut, and no other. The model goes on with the database's.
    fn check_prepared(&mut self, db: &Database, runner: &mut Runner<'_>) -> Result<(), Finding> {
        let listed: Vec<String> = db
            .prepared()
            .into_iter()
            .map(|info| String::from_utf8_lossy(&info.global_id).into_owned())
            .collect();
        if let Some(lost) = self
            .prepared
            .iter()
            .find(|prepared| prepared.certain && !listed.contains(&prepared.global_id))
        {
            return Err(Finding::PreparedLost {
                global_id: lost.global_id.clone(),
            });
        }
        if let Some(extra) = listed.iter().find(|global_id| {
            !self
                .prepared
                .iter()
                .any(|prepared| prepared.global_id == **global_id)
        }) {
            return Err(Finding::PreparedResurrected {
                global_id: extra.clone(),
            });
        }
        self.prepared
            .retain(|prepared| listed.contains(&prepared.global_id));
        for prepared in &mut self.prepared {
            prepared.certain = true;
        }
        runner
            .trace
            .event(format_args!("in doubt: {}", listed.join(" ")));
        Ok(())
    }

    /// Compares the recovered database with the model and runs `check()`.
    fn verify(&mut self, db: &Database, runner: &mut Runner<'_>) -> Result<(), Finding> {
        let found = read_state(db).map_err(|error| Finding::ReadBackFailed(error.to_string()))?;
        let problems = db
            .check()
            .map_err(|error| Finding::CheckFailed(vec![error.to_string()]))?;
        if !problems.is_empty() {
            return Err(Finding::CheckFailed(problems));
        }
        match self.model.recover(&found) {
            Ok(verdict) => {
                runner.counts.commits_durable += verdict.durable as u64;
                runner.counts.verified += verdict.durable as u64;
                runner.trace.event(format_args!(
                    "recovered prefix {} of {} ({} durable)",
                    verdict.closest, verdict.attempted, verdict.durable
                ));
                self.check_prepared(db, runner)?;
                runner.counts.prepared_recovered += self.prepared.len() as u64;
                Ok(())
            }
            Err((verdict, difference)) => {
                runner.counts.commits_durable += verdict.durable as u64;
                if verdict.exact && verdict.closest < verdict.durable {
                    runner.counts.lost += (verdict.durable - verdict.closest) as u64;
                    runner.counts.verified += verdict.closest as u64;
                    Err(Finding::Lost {
                        durable: verdict.durable,
                        closest: verdict.closest,
                        attempted: verdict.attempted,
                        first_lost: self.model.label(verdict.closest).to_string(),
                        difference,
                    })
                } else if let Some(ghost) = self.model.never_written(&found) {
                    runner.counts.resurrected += 1;
                    Err(Finding::Resurrected {
                        durable: verdict.durable,
                        attempted: verdict.attempted,
                        difference: Box::new(ghost),
                    })
                } else {
                    runner.counts.unexplained += 1;
                    Err(Finding::Unexplained {
                        durable: verdict.durable,
                        closest: verdict.closest,
                        attempted: verdict.attempted,
                        difference,
                    })
                }
            }
        }
    }
}

/// An error's text followed by each of its sources' (keel's `Display`
/// leaves the lower layer's report of a corruption to `source()`).
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Everything a database holds: every keyspace, key, value and expiry.
/// A scan's value must agree with a point read's.
///
/// # Errors
/// Errors of the reads, and [`keel::Error::Internal`] when a scan and a
/// point read disagree.
pub fn read_state(db: &Database) -> keel::Result<State> {
    let mut state = State {
        keyspaces: BTreeMap::new(),
    };
    for name in db.keyspaces() {
        let keyspace = db.keyspace(&name)?;
        let entries = db.view(|tx| {
            let scanned: Vec<_> = tx.range(&keyspace, ..)?.collect::<keel::Result<_>>()?;
            let mut entries = BTreeMap::new();
            for (key, value) in scanned {
                let Some((read, expires)) = tx.get_with_expiry(&keyspace, &key)? else {
                    return Err(keel::Error::Internal(format!(
                        "{name}/{key:?}: a scan found it, a read does not"
                    )));
                };
                if read != value {
                    return Err(keel::Error::Internal(format!(
                        "{name}/{key:?}: a scan and a read disagree"
                    )));
                }
                entries.insert(key.to_vec(), (value.to_vec(), expires));
            }
            Ok(entries)
        })?;
        state.keyspaces.insert(
            name,
            KeyspaceState {
                incarnation: 0,
                entries,
            },
        );
    }
    Ok(state)
}

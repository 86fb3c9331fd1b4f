//! [`Database`]: open and recover, transactions, keyspaces, checkpoints,
//! stats, close. The background thread that folds and checkpoints is in
//! `maintenance.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keel_btree::BTree;
use keel_io::{FileHandle, OpenMode, StdVfs, Vfs};
use keel_mvcc::{Isolation, MvccOptions, TransactionManager};
use keel_pager::{Pager, PagerOptions};
use keel_tso::{LocalOracle, OracleOptions, Timestamp, TimestampOracle};
use keel_wal::{Lsn, Reader, Record, Wal, WalOptions};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::keyspace::{Catalog, Keyspace};
use crate::log::{WalLog, mvcc_write_set};
use crate::maintenance::{self, Signal};
use crate::options::{Options, RecoveryMode, UPDATE_ATTEMPTS_MAX};
use crate::stats::{Counters, RecoveryReport, Stats};
use crate::storage::{Base, Payload};
use crate::transaction::Transaction;

const LOCK_FILE: &str = "LOCK";
const PAGE_FILE: &str = "pages";
const WAL_DIR: &str = "wal";
const ORACLE_FILE: &str = "timestamps";

/// What the database and its background thread share.
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) options: Options,
    pub(crate) pager: Arc<Pager>,
    pub(crate) tree: Arc<BTree>,
    pub(crate) wal: Arc<Wal>,
    pub(crate) log: Arc<WalLog>,
    pub(crate) manager: TransactionManager,
    pub(crate) catalog: RwLock<Catalog>,
    /// Serialises folds and checkpoints (the B+tree's one writer).
    pub(crate) maintenance: Mutex<()>,
    pub(crate) signal: (Mutex<Signal>, Condvar),
    pub(crate) counters: Counters,
    pub(crate) closed: AtomicBool,
    pub(crate) recovery: RecoveryReport,
    pub(crate) wal_bytes_at_checkpoint: AtomicU64,
    /// Bulk loads under way: their reserved keyspace ids and names.
    pub(crate) loading: Mutex<HashMap<u32, String>>,
    /// Keyspace ids dropped (or replaced by a load) since open, whose keys
    /// transactions remove: not orphans.
    pub(crate) dropped: Mutex<std::collections::HashSet<u32>>,
    /// Whether the first fold since open has swept orphaned keys.
    pub(crate) orphans_swept: AtomicBool,
    /// Held for the lock it carries.
    _lock: FileHandle,
}

/// An open keel database: a directory holding the page file, the log and
/// the timestamp oracle's mark.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// use keel::{Database, Options};
///
/// let db = Database::open(dir.path(), Options::default())?;
/// let users = db.keyspace("users")?;
/// db.update(|tx| tx.put(&users, b"alice", "admin"))?;
/// let role = db.view(|tx| tx.get(&users, b"alice"))?;
/// assert_eq!(role.as_deref(), Some(&b"admin"[..]));
/// db.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Database {
    pub(crate) shared: Arc<Shared>,
    background: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens the database in `dir` on the real file system, creating it if
    /// it does not exist and `options.create_if_missing` is set, and
    /// recovering it after a crash.
    ///
    /// # Errors
    /// [`Error::Locked`] if another process has it open; [`Error::NotFound`];
    /// [`Error::Corruption`] when the files are damaged beyond a torn log
    /// tail (with [`RecoveryMode::Strict`]); [`Error::Io`].
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Database> {
        Database::open_with_vfs(Arc::new(StdVfs::new()), dir.as_ref(), options)
    }

    /// Creates a new database in `dir`.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] if one is there; otherwise as [`Database::open`].
    pub fn create(dir: impl AsRef<Path>, options: Options) -> Result<Database> {
        let vfs: Arc<dyn Vfs> = Arc::new(StdVfs::new());
        let dir = dir.as_ref();
        if vfs.exists(&dir.join(PAGE_FILE))? {
            return Err(Error::AlreadyExists {
                path: dir.to_path_buf(),
            });
        }
        Database::open_with_vfs(
            vfs,
            dir,
            Options {
                create_if_missing: true,
                ..options
            },
        )
    }

    /// [`Database::open`] over any [`Vfs`] (the simulated disk in tests).
    ///
    /// # Errors
    /// As [`Database::open`].
    pub fn open_with_vfs(vfs: Arc<dyn Vfs>, dir: &Path, options: Options) -> Result<Database> {
        let started = Instant::now();
        let exists = vfs.exists(&dir.join(PAGE_FILE))?;
        if !exists && !options.create_if_missing {
            return Err(Error::NotFound {
                path: dir.to_path_buf(),
            });
        }
        keel_io::create_dir_all_durable(vfs.as_ref(), dir)?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = vfs.open(&lock_path, OpenMode::CreateOrOpen)?;
        lock.try_lock().map_err(|error| match error {
            keel_io::Error::Locked { .. } => Error::Locked {
                path: lock_path.clone(),
            },
            other => Error::Io(other),
        })?;

        let oracle: Arc<dyn TimestampOracle> = Arc::new(LocalOracle::open(
            vfs.clone(),
            &dir.join(ORACLE_FILE),
            OracleOptions::default(),
        )?);
        let pager_options = PagerOptions {
            page_size: options.page_size,
            pool_bytes: options.pool_bytes,
            create: true,
            ..PagerOptions::default()
        };
        let pager = Arc::new(Pager::open(
            vfs.clone(),
            dir.join(PAGE_FILE),
            pager_options,
        )?);
        let payload = if pager.checkpoint_id() == 0 {
            // A new database, or one that crashed before its first
            // checkpoint: nothing durable yet but the empty file.
            let tree = BTree::create(pager.clone())?;
            let payload = Payload {
                fold_timestamp: Timestamp::ZERO,
                replay_lsn: Lsn::FIRST.0,
                root: tree.root(),
                log_end: Lsn::FIRST.0,
            };
            pager.checkpoint(&payload.encode())?;
            payload
        } else {
            Payload::decode(&pager.payload())?
        };
        let tree = Arc::new(BTree::open(pager.clone(), payload.root)?);

        let wal_options = WalOptions {
            segment_bytes: options.wal_segment_bytes,
            periodic_interval: options.sync_interval,
            recovery_mode: match options.recovery_mode {
                RecoveryMode::Strict => keel_wal::RecoveryMode::Strict,
                RecoveryMode::PointInTime => keel_wal::RecoveryMode::PointInTime,
            },
            archive_dir: options.archive_dir.clone(),
            durable_end_min: Lsn(payload.log_end),
            ..WalOptions::default()
        };
        let wal_dir = dir.join(WAL_DIR);
        let (wal, wal_recovery) = Wal::open(vfs.clone(), &wal_dir, wal_options.clone())?;
        let wal = Arc::new(wal);
        let log = Arc::new(WalLog::new(wal.clone(), options.durability));

        let mvcc_options = MvccOptions {
            delta_bytes_max: options.delta_bytes_max,
            transaction_age_warning: options.transaction_age_warning,
            transaction_age_max: options.transaction_age_max,
            transaction_write_bytes_max: options.transaction_write_bytes_max,
            key_bytes_max: tree.key_bytes_max(),
            value_bytes_max: options.value_bytes_max.min(keel_btree::VALUE_BYTES_MAX - 9),
            ..MvccOptions::default()
        };
        let base = Arc::new(Base { tree: tree.clone() });
        let mut recovery = TransactionManager::recover(
            base,
            log.clone(),
            oracle,
            mvcc_options,
            payload.fold_timestamp,
        );
        // Replay the log past the fold point.
        let mut report = RecoveryReport {
            checkpoint_id: pager.checkpoint_id(),
            fold_timestamp: payload.fold_timestamp,
            torn_tail: matches!(wal_recovery.end, keel_wal::ReadEnd::TornTail { .. }),
            log_damage_skipped: matches!(wal_recovery.end, keel_wal::ReadEnd::Corrupted { .. }),
            ..RecoveryReport::default()
        };
        let mut prepared: HashMap<u64, keel_wal::WriteSet> = HashMap::new();
        let reader = Reader::open(
            vfs.clone(),
            &wal_dir,
            Lsn(payload.replay_lsn),
            wal_options.recovery_mode,
        )?;
        for item in reader {
            let (lsn, record) = item?;
            if lsn >= wal_recovery.end.next_lsn() {
                break;
            }
            report.records_scanned += 1;
            // A commit to replay: a plain one, or a prepared one decided.
            let commit = match record {
                Record::Commit(set) => Some((set.transaction_id, set.timestamp, set)),
                Record::Prepare(set) => {
                    prepared.insert(set.transaction_id, set);
                    None
                }
                Record::CommitPrepared {
                    transaction_id,
                    commit_timestamp,
                } => prepared
                    .remove(&transaction_id)
                    .map(|set| (transaction_id, commit_timestamp, set)),
                Record::AbortPrepared { transaction_id } => {
                    prepared.remove(&transaction_id);
                    None
                }
                Record::Checkpoint { checkpoint_id, .. } => {
                    if checkpoint_id > pager.checkpoint_id() {
                        // The log saw a newer checkpoint than the page file
                        // holds: its meta slot was lost, and the log before
                        // it may be gone. Refuse rather than lose data.
                        return Err(Error::Corruption(format!(
                            "{}: the log records checkpoint {checkpoint_id}, but the newest valid meta slot holds checkpoint {}",
                            dir.join(PAGE_FILE).display(),
                            pager.checkpoint_id()
                        )));
                    }
                    None
                }
            };
            if let Some((transaction_id, timestamp, set)) = commit {
                let timestamp = Timestamp::from_u64(timestamp);
                if recovery.replay_commit(transaction_id, timestamp, &mvcc_write_set(&set)?)? {
                    log.note_replayed(timestamp, lsn);
                    report.commits_replayed += 1;
                }
            }
        }
        for (transaction_id, set) in prepared {
            recovery.restore_prepared(
                transaction_id,
                Timestamp::from_u64(set.timestamp),
                mvcc_write_set(&set)?,
            )?;
        }
        let manager = recovery.finish()?;
        let catalog = Catalog::load(&manager)?;
        report.duration = started.elapsed();
        tracing::info!(dir = %dir.display(), checkpoint = report.checkpoint_id, replayed = report.commits_replayed, torn_tail = report.torn_tail, "keel database open");

        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            options,
            pager,
            tree,
            wal_bytes_at_checkpoint: AtomicU64::new(keel_wal::WalStats::get(
                &wal.stats().appended_bytes,
            )),
            wal,
            log,
            manager,
            catalog: RwLock::new(catalog),
            maintenance: Mutex::new(()),
            signal: (Mutex::new(Signal::default()), Condvar::new()),
            counters: Counters::default(),
            closed: AtomicBool::new(false),
            recovery: report,
            loading: Mutex::new(HashMap::new()),
            dropped: Mutex::new(std::collections::HashSet::new()),
            orphans_swept: AtomicBool::new(false),
            _lock: lock,
        });
        let background = if shared.options.background_maintenance {
            Some(maintenance::spawn(shared.clone())?)
        } else {
            None
        };
        Ok(Database {
            shared,
            background: Mutex::new(background),
        })
    }

    /// Begins a transaction at `isolation`. Reads see the database as of
    /// the moment it began, plus its own writes.
    pub fn begin(&self, isolation: crate::Isolation) -> Transaction {
        Transaction::new(
            self.shared.clone(),
            self.shared.manager.begin(isolation.mvcc()),
        )
    }

    /// Runs `read` in a read-only snapshot transaction.
    ///
    /// # Errors
    /// What `read` returns; [`Error::Closed`].
    pub fn view<T>(&self, read: impl FnOnce(&mut Transaction) -> Result<T>) -> Result<T> {
        self.check_open()?;
        let mut transaction = Transaction::new(
            self.shared.clone(),
            self.shared.manager.begin(Isolation::Snapshot),
        );
        let value = read(&mut transaction)?;
        transaction.rollback();
        Ok(value)
    }

    /// Runs `write` in a serializable transaction and commits it, running it
    /// again (after a short randomized backoff) when it conflicts, at most
    /// [`UPDATE_ATTEMPTS_MAX`] times. `write` must be safe to run more than
    /// once.
    ///
    /// # Errors
    /// [`Error::TooManyConflicts`]; any error `write` or the commit returns
    /// other than a conflict (nothing is retried then).
    pub fn update<T>(&self, mut write: impl FnMut(&mut Transaction) -> Result<T>) -> Result<T> {
        self.check_open()?;
        let mut last = String::new();
        for attempt in 0..UPDATE_ATTEMPTS_MAX {
            let mut transaction = self.begin(crate::Isolation::Serializable);
            let outcome =
                write(&mut transaction).and_then(|value| transaction.commit().map(|_| value));
            match outcome {
                Err(Error::Conflict { key }) => {
                    last = key;
                    backoff(attempt);
                }
                other => return other,
            }
        }
        Err(Error::TooManyConflicts {
            attempts: UPDATE_ATTEMPTS_MAX,
            key: last,
        })
    }

    /// The keyspace named `name`, created if it does not exist.
    ///
    /// # Errors
    /// [`Error::InvalidKeyspaceName`]; errors of the transaction creating it.
    pub fn keyspace(&self, name: &str) -> Result<Keyspace> {
        self.check_open()?;
        if let Some(keyspace) = self.shared.catalog.read().get(name) {
            return Ok(keyspace);
        }
        Catalog::create(self, name)
    }

    /// The keyspace every database has, named `default`.
    pub fn default_keyspace(&self) -> Keyspace {
        self.shared.catalog.read().default_keyspace()
    }

    /// The names of the keyspaces, sorted.
    pub fn keyspaces(&self) -> Vec<String> {
        self.shared.catalog.read().names()
    }

    /// Drops the keyspace `name` and every key in it; its space is freed as
    /// the removal is folded in. Handles to it fail afterwards with
    /// [`Error::KeyspaceNotFound`].
    ///
    /// # Errors
    /// [`Error::KeyspaceNotFound`]; transaction errors.
    pub fn drop_keyspace(&self, name: &str) -> Result<()> {
        self.check_open()?;
        Catalog::drop_keyspace(self, name)
    }

    /// Folds every committed change into the B+tree and writes a
    /// checkpoint now; the log before it is deleted (or archived).
    ///
    /// # Errors
    /// [`Error::Io`] (which poisons the database for writes),
    /// [`Error::Poisoned`], [`Error::Closed`].
    pub fn checkpoint(&self) -> Result<crate::CheckpointInfo> {
        self.check_open()?;
        maintenance::checkpoint(&self.shared)
    }

    /// What the database has done: commits, conflicts, fsyncs, folds,
    /// checkpoints, cache hits, recovery.
    pub fn stats(&self) -> Stats {
        crate::stats::collect(&self.shared)
    }

    /// Checks every structure: the B+tree's invariants, that its pages are
    /// exactly the pages in use, the delta store's, and (once the first
    /// fold has swept them) that no keys are left that no keyspace names. Returns the problems
    /// found (empty: sound).
    ///
    /// # Errors
    /// [`Error::Io`] reading pages.
    pub fn check(&self) -> Result<Vec<String>> {
        let _maintenance = self.shared.maintenance.lock();
        let report = self.shared.tree.check()?;
        let mut problems: Vec<String> = report
            .problems
            .iter()
            .map(|problem| format!("B+tree: {problem}"))
            .collect();
        problems.extend(
            keel_btree::check_pages_in_use(&self.shared.pager, &[&report], &[])
                .iter()
                .map(|problem| format!("pages: {problem}")),
        );
        if let Err(problem) = self.shared.manager.check() {
            problems.push(format!("delta: {problem}"));
        }
        // Before the first fold's sweep, orphans are expected leftovers.
        if self.shared.orphans_swept.load(Ordering::Acquire) {
            problems.extend(
                crate::load::orphan_ids(&self.shared)?
                    .into_iter()
                    .map(|id| format!("keys: keyspace id {id} has keys but no name")),
            );
        }
        Ok(problems)
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.shared.dir
    }

    /// Folds, checkpoints, syncs the log and stops the background thread.
    /// Dropping a `Database` does the same, ignoring errors.
    ///
    /// # Errors
    /// Errors of the final checkpoint or sync.
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<()> {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        maintenance::stop(&self.shared);
        if let Some(handle) = self.background.lock().take() {
            let _ = handle.join();
        }
        let checkpoint = if self.shared.manager.poisoned().is_none() {
            maintenance::checkpoint_unchecked(&self.shared).map(|_| ())
        } else {
            Ok(())
        };
        let synced = self.shared.wal.close().map_err(Error::from);
        checkpoint.and(synced)
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            tracing::error!(%error, "closing the database failed");
        }
    }
}

/// Sleeps a little before retrying a conflicted transaction: randomized,
/// growing with the attempt, at most about 10 ms.
fn backoff(attempt: u32) {
    let ceiling_us = 20u64 << attempt.min(9);
    let sleep_us = ceiling_us / 2 + rand::random::<u64>() % (ceiling_us / 2 + 1);
    std::thread::sleep(Duration::from_micros(sleep_us));
}

/// The current wall-clock time in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

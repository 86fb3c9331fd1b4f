//! [`Database`]: open and recover, transactions, keyspaces, checkpoints,
//! stats, close. The background thread that folds and checkpoints is in
//! `maintenance.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use keel_btree::BTree;
use keel_io::{FileHandle, StdVfs, Vfs};
use keel_mvcc::{Isolation, TransactionManager};
use keel_pager::Pager;
use keel_wal::Wal;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::keyspace::{Catalog, Keyspace};
use crate::log::WalLog;
use crate::maintenance::{self, Signal};
use crate::options::Options;
use crate::recovery::{self, Access, PAGE_FILE};
use crate::stats::{Counters, RecoveryReport, Stats};
use crate::transaction::Transaction;

/// What the database and its background thread share.
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) options: Options,
    pub(crate) pager: Arc<Pager>,
    pub(crate) tree: Arc<BTree>,
    /// `None` when the database is open read-only.
    pub(crate) wal: Option<Arc<Wal>>,
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
    /// Where the log ended right after the newest checkpoint's marker, if
    /// that checkpoint left nothing to replay (or at an open that replayed
    /// nothing); else `maintenance::CHECKPOINT_AGAIN`. While the log still
    /// ends there, the files hold no change a checkpoint would take in,
    /// and a close writes none.
    pub(crate) checkpointed_end: AtomicU64,
    /// Bulk loads under way: their reserved keyspace ids and names.
    pub(crate) loading: Mutex<HashMap<u32, String>>,
    /// Keyspace ids dropped (or replaced by a load) since open, whose keys
    /// transactions remove: not orphans.
    pub(crate) dropped: Mutex<std::collections::HashSet<u32>>,
    /// Whether the first fold since open has swept orphaned keys.
    pub(crate) orphans_swept: AtomicBool,
    /// This open's identity: keyspace handles carry it.
    pub(crate) identity: u64,
    /// Held for the lock it carries; its length marks a clean close.
    lock: Option<FileHandle>,
    /// The background thread, once started
    /// ([`maintenance::start_when_needed`]).
    pub(crate) background: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Identities of open databases, unique within the process.
static DATABASE_IDENTITY: AtomicU64 = AtomicU64::new(1);

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
        Database::open_as(vfs, dir, options, Access::ReadWrite)
    }

    /// Opens the database in `dir` without changing any file: recovery
    /// runs in memory (no checkpoint, no new log segment, no cut tail), and
    /// every write is refused with [`Error::ReadOnly`]. For inspection
    /// (`keel check`, `keel stat`) and for reading a copy. Takes the lock
    /// like any open, so it fails with [`Error::Locked`] while another
    /// process has the database open.
    ///
    /// # Errors
    /// As [`Database::open`]; [`Error::NotFound`] if there is no database.
    pub fn open_read_only(dir: impl AsRef<Path>, options: Options) -> Result<Database> {
        Database::open_read_only_with_vfs(Arc::new(StdVfs::new()), dir.as_ref(), options)
    }

    /// [`Database::open_read_only`] over any [`Vfs`].
    ///
    /// # Errors
    /// As [`Database::open_read_only`].
    pub fn open_read_only_with_vfs(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        options: Options,
    ) -> Result<Database> {
        Database::open_as(vfs, dir, options, Access::ReadOnly)
    }

    fn open_as(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        options: Options,
        access: Access,
    ) -> Result<Database> {
        let identity = DATABASE_IDENTITY.fetch_add(1, Ordering::Relaxed);
        let recovered = recovery::recover(vfs, dir, &options, access, identity)?;
        let mut report = recovered.report;
        let replay_was_long = access == Access::ReadWrite
            && report.bytes_replayed >= options.checkpoint_wal_bytes / 4;
        report.checkpointed_after_replay = replay_was_long || report.log_damage_skipped;
        tracing::info!(dir = %dir.display(), checkpoint = report.checkpoint_id, replayed = report.commits_replayed, torn_tail = report.torn_tail, read_only = access == Access::ReadOnly, "keel database open");
        let appended_bytes = recovered.wal.as_ref().map_or(0, |wal| {
            keel_wal::WalStats::get(&wal.stats().appended_bytes)
        });
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            options,
            pager: recovered.pager,
            tree: recovered.tree,
            wal_bytes_at_checkpoint: AtomicU64::new(appended_bytes),
            checkpointed_end: AtomicU64::new(match &recovered.wal {
                Some(wal) if report.commits_replayed == 0 => wal.next_lsn().0,
                _ => maintenance::CHECKPOINT_AGAIN,
            }),
            wal: recovered.wal,
            log: recovered.log,
            manager: recovered.manager,
            catalog: RwLock::new(recovered.catalog),
            maintenance: Mutex::new(()),
            signal: (Mutex::new(Signal::default()), Condvar::new()),
            counters: Counters::default(),
            closed: AtomicBool::new(false),
            recovery: report,
            loading: Mutex::new(HashMap::new()),
            dropped: Mutex::new(std::collections::HashSet::new()),
            orphans_swept: AtomicBool::new(false),
            identity,
            lock: recovered.lock,
            background: Mutex::new(None),
        });
        if shared.wal.is_some() && shared.recovery.checkpointed_after_replay {
            // Point-in-time recovery cut the log short of what the last
            // checkpoint recorded as durable: a checkpoint of the state
            // recovered makes that the new starting point. After a long
            // replay, a checkpoint now bounds the next one: a process
            // killed over and over soon after it starts would otherwise
            // replay the whole history every time (and never checkpoint).
            maintenance::checkpoint_unchecked(&shared)?;
        }
        if shared.options.background_maintenance && shared.wal.is_some() {
            maintenance::start_when_needed(&shared)?;
        }
        Ok(Database { shared })
    }

    /// Begins a transaction at `isolation`. Reads see the database as of
    /// the moment it began, plus its own writes.
    /// On a closed database every operation of the transaction fails with
    /// [`Error::Closed`]; on a read-only one every write with
    /// [`Error::ReadOnly`].
    pub fn begin(&self, isolation: crate::Isolation) -> Transaction {
        Transaction::new(
            self.shared.clone(),
            self.shared.manager.begin(isolation.mvcc()),
            false,
        )
    }

    /// Begins a read-only snapshot transaction: reads see the database as
    /// of now; writes fail with [`Error::ReadOnly`]. It never conflicts.
    pub fn begin_read(&self) -> Transaction {
        Transaction::new(
            self.shared.clone(),
            self.shared.manager.begin(Isolation::Snapshot),
            true,
        )
    }

    /// Runs `read` in a read-only snapshot transaction ([`Database::begin_read`]):
    /// a write inside it fails with [`Error::ReadOnly`].
    ///
    /// # Errors
    /// What `read` returns; [`Error::Closed`].
    pub fn view<T>(&self, read: impl FnOnce(&mut Transaction) -> Result<T>) -> Result<T> {
        self.check_open()?;
        let mut transaction = self.begin_read();
        let value = read(&mut transaction)?;
        transaction.rollback();
        Ok(value)
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
        self.check_writable()?;
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
        self.check_writable()?;
        Catalog::drop_keyspace(self, name)
    }

    /// Syncs the log, folds committed changes into the B+tree (up to the
    /// snapshot of the oldest open transaction: newer ones stay in the log
    /// for replay) and writes a checkpoint now; the log before the first
    /// commit it does not hold is deleted (or archived). Every commit
    /// acknowledged before the call is durable when it returns.
    ///
    /// # Errors
    /// [`Error::Io`] (which poisons the database for writes),
    /// [`Error::Poisoned`], [`Error::Closed`].
    pub fn checkpoint(&self) -> Result<crate::CheckpointInfo> {
        self.check_open()?;
        maintenance::checkpoint(&self.shared)
    }

    /// Gives the page file's free space, and the log segments kept for
    /// reuse, back to the file system: folds
    /// and checkpoints, moves the live pages from the end of the file into
    /// free blocks nearer its start (two more checkpoints), and cuts the
    /// file after the last block in use. Online: transactions go on
    /// meanwhile. Crash-safe: only checkpoints write, copy-on-write.
    ///
    /// # Errors
    /// As [`Database::checkpoint`].
    pub fn compact(&self) -> Result<crate::CompactionInfo> {
        self.check_open()?;
        maintenance::compact(&self.shared)
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
            keel_btree::check_pages_in_use(&self.shared.pager, &[&report], &[])?
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
        let background = self.shared.background.lock().take();
        if let Some(handle) = background {
            let _ = handle.join();
        }
        let Some(wal) = &self.shared.wal else {
            // Read-only: nothing to write.
            return Ok(());
        };
        // A close after only reads, or right after a checkpoint, writes
        // nothing to the page file.
        let unchanged = wal.next_lsn().0 == self.shared.checkpointed_end.load(Ordering::Acquire);
        let checkpoint = if self.shared.manager.poisoned().is_none() && !unchanged {
            // In a new segment, the checkpoint's replay start is where the
            // segment starts: the next open reads nothing older.
            wal.start_new_segment()
                .map_err(Error::from)
                .and_then(|()| maintenance::checkpoint_unchecked(&self.shared))
                .map(|_| ())
        } else {
            Ok(())
        };
        let synced = wal.close().map_err(Error::from);
        let closed = checkpoint.and(synced);
        if closed.is_ok()
            && self.shared.manager.poisoned().is_none()
            && let Some(lock) = &self.shared.lock
        {
            // Everything written is synced: the next open need sync nothing.
            recovery::mark_clean_close(lock)?;
        }
        closed
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Open, and not read-only.
    pub(crate) fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.shared.wal.is_none() {
            return Err(Error::ReadOnly);
        }
        Ok(())
    }

    /// Whether the database was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.shared.wal.is_none()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            tracing::error!(%error, "closing the database failed");
        }
    }
}

/// The current wall-clock time in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

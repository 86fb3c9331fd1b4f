//! [`KeelBackend`]: the server over a keel [`Database`].
//!
//! - SELECT `n` (0–15) is the keyspace `db<n>`.
//! - Every command runs in a keel transaction of its own (serializable
//!   for a command that may write, a snapshot for a read-only one) through
//!   [`data_commands`]; a conflict runs it again, so each is atomic.
//! - Pipelined data commands of one client that arrived in one read run
//!   in one transaction (one commit, and one fsync under `always`), each
//!   still atomic; replies are sent after the commit. If one of them fails
//!   in the store, or the group keeps conflicting, they run one by one.
//! - MULTI/EXEC runs the block in one serializable transaction. Without
//!   WATCH a conflicting block is run again; with WATCH it runs in the
//!   transaction WATCH began, which read the watched keys, and a conflict
//!   makes EXEC return nil. The commit validates every read of the block
//!   too, so a block that read a key another client changed after WATCH
//!   is refused as well (Redis would run it): clients retry a nil EXEC, and
//!   a reply that does come is always as of one moment. A WATCH left open
//!   longer than [`keel::Options::transaction_age_max`] makes EXEC return
//!   nil (the engine refuses the old transaction).
//! - `appendfsync always|everysec|no` is [`Durability::Sync`],
//!   [`Durability::Periodic`] and [`Durability::None`]; Redis's default,
//!   `everysec`, is keel-server's.
//! - FLUSHDB and FLUSHALL hold the databases they empty exclusively (every
//!   command holds its database shared), so clients see them happen at
//!   once. A database of at most [`FLUSH_IN_TRANSACTION_KEYS_MAX`] keys is
//!   emptied in one transaction; a larger one is dropped and created anew
//!   ([`Database::drop_keyspace`], which removes the keys in batches).
//! - SAVE and BGSAVE are checkpoints; LASTSAVE is the last checkpoint's
//!   time; SHUTDOWN stops the server, and [`KeelBackend::close`] closes the
//!   database cleanly (fold, checkpoint, log sync).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;

use bytes::Bytes;
use keel::{Database, Durability, Keyspace};

use super::expiry_watch::ExpiryWatch;
use super::session::KeelSession;
use super::store::Committed;
use super::sweep::Sweeper;
use crate::backend::{Backend, ClientId, DatabaseIndex, InfoSection, Session};
use crate::commands::notify::{EventClasses, KeyspaceEvents};
use crate::commands::{Request, StoreError};
use crate::engine::store::KEYSPACE_BATCH_KEYS;
use crate::error::{Error, Result};
use crate::metrics::{LatencyHistogram, MetricsText};
use crate::resp::{EncodedReplies, Limits, Reply};

/// Databases SELECT accepts, as Redis's default `databases 16`.
pub const DATABASES_DEFAULT: DatabaseIndex = 16;

/// A database at most this large is flushed in one transaction; a larger
/// one is dropped and created again.
pub const FLUSH_IN_TRANSACTION_KEYS_MAX: usize = 10_000;

/// How many times a command or MULTI block that keeps conflicting is run
/// before its client gets an error.
pub const COMMAND_ATTEMPTS_MAX: u32 = keel::UPDATE_ATTEMPTS_MAX;

/// How many times a group of pipelined commands that keeps conflicting
/// runs as one transaction before its commands run one by one.
pub const PIPELINE_ATTEMPTS_MAX: u32 = 3;

/// The keyspace holding nothing but the keys WATCH's transactions delete
/// to make their commit validate their reads.
pub const WATCH_KEYSPACE: &str = "server-watch";

/// The keyspace holding the elements of every database's collections
/// (hashes, sets, lists, sorted sets), by version (docs/FORMAT.md).
pub const ELEMENTS_KEYSPACE: &str = "server-elements";

/// The keyspace holding, for each database index SWAPDB moved, the name
/// of the keyspace it now uses (key: the index as 4 big-endian bytes).
pub const DATABASES_KEYSPACE: &str = "server-databases";

/// The keyspace of database `index` until a SWAPDB moves it: `db0` …
/// `db15`.
pub fn keyspace_name(index: DatabaseIndex) -> String {
    format!("db{index}")
}

/// The keyspace each database index uses: [`keyspace_name`], unless
/// SWAPDB recorded another in [`DATABASES_KEYSPACE`]. Refuses a record
/// that names one keyspace twice.
fn database_keyspace_names(database: &Database, databases: DatabaseIndex) -> Result<Vec<String>> {
    let operation = || format!("reading the database map in keyspace {DATABASES_KEYSPACE}");
    let map = database
        .keyspace(DATABASES_KEYSPACE)
        .map_err(engine_error(operation()))?;
    let names = database
        .view(|transaction| {
            let mut names = Vec::new();
            for index in 0..databases {
                let recorded = transaction.get(&map, index.to_be_bytes())?;
                names.push(match recorded {
                    Some(name) => String::from_utf8_lossy(&name).into_owned(),
                    None => keyspace_name(index),
                });
            }
            Ok(names)
        })
        .map_err(engine_error(operation()))?;
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != names.len() {
        return Err(Error::Engine {
            operation: operation(),
            source: keel::Error::Internal(format!("two databases use one keyspace: {names:?}")),
        });
    }
    Ok(names)
}

/// Redis's `appendfsync`: when a write is durable before it is
/// acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AppendFsync {
    /// `always`: every acknowledged write survives a crash
    /// ([`Durability::Sync`]; writes arriving together share an fsync).
    Always,
    /// `everysec` (the default): the log is fsynced every second
    /// ([`Durability::Periodic`]); a crash loses at most about a second.
    #[default]
    EverySec,
    /// `no`: the operating system writes the log back when it likes
    /// ([`Durability::None`]).
    No,
}

impl AppendFsync {
    /// The keel durability it maps onto.
    pub fn durability(self) -> Durability {
        match self {
            AppendFsync::Always => Durability::Sync,
            AppendFsync::EverySec => Durability::Periodic,
            AppendFsync::No => Durability::None,
        }
    }

    /// The name Redis uses (`always`, `everysec`, `no`).
    pub fn name(self) -> &'static str {
        match self {
            AppendFsync::Always => "always",
            AppendFsync::EverySec => "everysec",
            AppendFsync::No => "no",
        }
    }

    /// Parses Redis's name, in any case.
    pub fn parse(name: &str) -> Option<AppendFsync> {
        [AppendFsync::Always, AppendFsync::EverySec, AppendFsync::No]
            .into_iter()
            .find(|mode| mode.name().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for AppendFsync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a [`KeelBackend`] runs.
#[derive(Clone, Debug)]
pub struct KeelBackendOptions {
    /// Durability of every write (Redis's `appendfsync`). Default
    /// `everysec`.
    pub appendfsync: AppendFsync,
    /// Databases SELECT accepts (must match the server's). Default 16.
    pub databases: DatabaseIndex,
    /// The protocol limits (the longest string APPEND and SETRANGE may
    /// build is `bulk_bytes_max`). Default: Redis's.
    pub limits: Limits,
    /// How often the background sweep removes the elements of deleted
    /// collections; `None`: never (tests sweep with
    /// [`KeelBackend::sweep`]). Default
    /// [`SWEEP_INTERVAL_DEFAULT`](super::sweep::SWEEP_INTERVAL_DEFAULT).
    pub sweep_interval: Option<std::time::Duration>,
}

impl Default for KeelBackendOptions {
    fn default() -> Self {
        KeelBackendOptions {
            appendfsync: AppendFsync::default(),
            databases: DATABASES_DEFAULT,
            limits: Limits::default(),
            sweep_interval: Some(super::sweep::SWEEP_INTERVAL_DEFAULT),
        }
    }
}

/// One database index's keyspace, and how many times it changed as a
/// whole.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) keyspace: Keyspace,
    /// Bumped when the slot's keyspace is replaced (FLUSHDB of a large
    /// database) or swapped with another slot's (SWAPDB).
    pub(crate) generation: u64,
    /// Bumped when the keyspace is dropped and created anew: a WATCH
    /// transaction older than it cannot run in it.
    pub(crate) recreated: u64,
}

pub(crate) struct Shared {
    pub(crate) database: Database,
    pub(crate) slots: Vec<RwLock<Slot>>,
    pub(crate) watch_keyspace: Keyspace,
    /// Which keyspace each database index uses, where SWAPDB changed it.
    pub(crate) databases_keyspace: Keyspace,
    /// The collections' elements ([`ELEMENTS_KEYSPACE`]).
    pub(crate) elements_keyspace: Keyspace,
    pub(crate) options: KeelBackendOptions,
    opened_at_ms: u64,
    background_save: Mutex<Option<JoinHandle<()>>>,
    background_save_running: AtomicBool,
    last_background_save_ok: AtomicBool,
    /// CONFIG SET save: kept and shown, without effect (keel checkpoints
    /// by its own triggers).
    save_setting: Mutex<String>,
    pub(crate) flushes: AtomicU64,
    /// How long commits of writing transactions took (keel's own stats
    /// keep no latency).
    pub(crate) commit_latency: LatencyHistogram,
    /// The background sweep of deleted collections' elements.
    sweeper: Sweeper,
    /// Transactions that wrote, counted before their commit and again
    /// once it is visible ([`Backend::write_epoch`]): a blocked client
    /// woken by the first count may run before the commit is visible,
    /// and is then woken again by the second.
    pub(crate) writes: AtomicU64,
    /// Commands whose writes committed since the last SAVE or BGSAVE
    /// began: Redis's dirty count (INFO `rdb_changes_since_last_save`).
    pub(crate) dirty: AtomicU64,
    /// Where the server publishes keyspace events, once one started on
    /// this backend ([`Backend::set_keyspace_events`]).
    keyspace_events: RwLock<Option<Arc<KeyspaceEvents>>>,
    /// Deadlines to publish `expired` events at.
    pub(crate) expiry_watch: ExpiryWatch,
}

impl Shared {
    /// Where keyspace events are published, if a server set it.
    pub(crate) fn keyspace_events(&self) -> Option<Arc<KeyspaceEvents>> {
        read(&self.keyspace_events).clone()
    }

    /// The event classes a run records now.
    pub(crate) fn event_classes(&self) -> EventClasses {
        read(&self.keyspace_events)
            .as_ref()
            .map_or(EventClasses::NONE, |events| events.classes())
    }

    /// A checkpoint, as SAVE and BGSAVE make one: the changes committed
    /// before it began no longer count as unsaved once it is done.
    pub(crate) fn checkpoint(&self) -> keel::Result<()> {
        let before = self.dirty.load(Ordering::Relaxed);
        self.database.checkpoint()?;
        self.dirty.fetch_sub(before, Ordering::Relaxed);
        Ok(())
    }

    /// Publishes what a committed run fired, and tells the expiry watch
    /// the deadlines it set.
    pub(crate) fn publish_committed(&self, committed: &Committed) {
        if committed.wrote {
            self.writes.fetch_add(1, Ordering::AcqRel);
            self.dirty.fetch_add(committed.changes, Ordering::Relaxed);
        }
        self.expiry_watch.apply(&committed.deadlines);
        if committed.events.is_empty() {
            return;
        }
        if let Some(events) = self.keyspace_events() {
            events.publish(&committed.events);
        }
    }
}

/// The server's storage: a keel [`Database`], a keyspace per database
/// index.
///
/// ```no_run
/// use std::sync::Arc;
/// use keel_server::{KeelBackend, KeelBackendOptions, ServerOptions};
///
/// let backend = Arc::new(KeelBackend::open(
///     "keel-data".as_ref(),
///     keel::Options::default(),
///     KeelBackendOptions::default(),
/// )?);
/// let server = keel_server::start(ServerOptions::default(), backend.clone())?;
/// server.wait(); // until SHUTDOWN
/// Arc::into_inner(backend).map(KeelBackend::close).transpose()?;
/// # Ok::<(), keel_server::Error>(())
/// ```
pub struct KeelBackend {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for KeelBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeelBackend")
            .field("database", &self.shared.database)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

fn engine_error(operation: impl Into<String>) -> impl FnOnce(keel::Error) -> Error {
    let operation = operation.into();
    move |source| Error::Engine { operation, source }
}

pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wall-clock time in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

pub(crate) fn error_reply(error: &keel::Error) -> Reply {
    Reply::error(format!("ERR {error}"))
}

impl KeelBackend {
    /// Opens (or creates) the database in `dir` with `engine` options,
    /// its durability set from `options.appendfsync`.
    ///
    /// # Errors
    /// [`Error::Engine`] when the database cannot be opened (locked by
    /// another process, damaged, unreadable).
    pub fn open(
        dir: &Path,
        engine: keel::Options,
        options: KeelBackendOptions,
    ) -> Result<KeelBackend> {
        let engine = engine.with_durability(options.appendfsync.durability());
        let database = Database::open(dir, engine).map_err(engine_error(format!(
            "opening the database at {}",
            dir.display()
        )))?;
        KeelBackend::with_database(database, options)
    }

    /// A backend over an open database (whose durability should match
    /// `options.appendfsync`, which INFO and CONFIG GET report).
    ///
    /// # Errors
    /// [`Error::Engine`] when a database's keyspace cannot be created.
    pub fn with_database(database: Database, options: KeelBackendOptions) -> Result<KeelBackend> {
        let names = database_keyspace_names(&database, options.databases)?;
        let mut slots = Vec::new();
        for name in names {
            let keyspace = database
                .keyspace(&name)
                .map_err(engine_error(format!("creating keyspace {name}")))?;
            slots.push(RwLock::new(Slot {
                keyspace,
                generation: 0,
                recreated: 0,
            }));
        }
        let watch_keyspace = database
            .keyspace(WATCH_KEYSPACE)
            .map_err(engine_error(format!("creating keyspace {WATCH_KEYSPACE}")))?;
        let elements_keyspace =
            database
                .keyspace(ELEMENTS_KEYSPACE)
                .map_err(engine_error(format!(
                    "creating keyspace {ELEMENTS_KEYSPACE}"
                )))?;
        let databases_keyspace =
            database
                .keyspace(DATABASES_KEYSPACE)
                .map_err(engine_error(format!(
                    "creating keyspace {DATABASES_KEYSPACE}"
                )))?;
        let backend = KeelBackend {
            shared: Arc::new(Shared {
                database,
                slots,
                watch_keyspace,
                elements_keyspace,
                databases_keyspace,
                options,
                opened_at_ms: u64::try_from(now_ms()).unwrap_or(0),
                background_save: Mutex::new(None),
                background_save_running: AtomicBool::new(false),
                last_background_save_ok: AtomicBool::new(true),
                save_setting: Mutex::new(String::new()),
                flushes: AtomicU64::new(0),
                commit_latency: LatencyHistogram::default(),
                sweeper: Sweeper::default(),
                writes: AtomicU64::new(0),
                dirty: AtomicU64::new(0),
                keyspace_events: RwLock::new(None),
                expiry_watch: ExpiryWatch::default(),
            }),
        };
        let shared = Arc::downgrade(&backend.shared);
        backend
            .shared
            .sweeper
            .start(shared, backend.shared.options.sweep_interval)
            .map_err(|source| Error::Thread {
                name: "keel-sweep",
                source,
            })?;
        Ok(backend)
    }

    /// Runs one pass of the sweep now: removes the elements of every
    /// collection no key names (deleted, overwritten, expired, flushed);
    /// returns how many elements went.
    ///
    /// # Errors
    /// [`Error::Engine`] when a sweep transaction fails.
    pub fn sweep(&self) -> Result<u64> {
        self.shared
            .sweep()
            .map_err(engine_error("sweeping deleted collections"))
    }

    /// The database underneath.
    pub fn database(&self) -> &Database {
        &self.shared.database
    }

    /// Waits for a running BGSAVE, then closes the database: fold,
    /// checkpoint, log sync. Sessions still open (connections not yet
    /// closed) keep it open until they end; it then closes on drop.
    ///
    /// # Errors
    /// [`Error::Engine`] when the final checkpoint or sync fails.
    pub fn close(self) -> Result<()> {
        self.shared.sweeper.stop();
        let save = lock(&self.shared.background_save).take();
        if let Some(save) = save
            && save.join().is_err()
        {
            tracing::error!("the BGSAVE thread panicked");
        }
        match Arc::try_unwrap(self.shared) {
            Ok(shared) => shared
                .database
                .close()
                .map_err(engine_error("closing the database")),
            Err(shared) => {
                tracing::warn!("sessions are still open; checkpointing now, closing when they end");
                shared
                    .database
                    .checkpoint()
                    .map(|_| ())
                    .map_err(engine_error("checkpointing the database"))
            }
        }
    }
}

impl Shared {
    pub(crate) fn slot(&self, database: DatabaseIndex) -> Option<&RwLock<Slot>> {
        usize::try_from(database)
            .ok()
            .and_then(|index| self.slots.get(index))
    }

    /// LASTSAVE: the last checkpoint's Unix time (the open's, before any).
    fn last_save_unix_s(&self) -> i64 {
        let at_ms = match self.database.stats().last_checkpoint_at_ms {
            0 => self.opened_at_ms,
            at_ms => at_ms,
        };
        i64::try_from(at_ms / 1000).unwrap_or(i64::MAX)
    }

    /// BGSAVE: a checkpoint on a thread of its own.
    fn background_save(self: &Arc<Self>) -> std::result::Result<(), StoreError> {
        let mut handle = lock(&self.background_save);
        if self.background_save_running.swap(true, Ordering::AcqRel) {
            return Err(StoreError::backend("Background save already in progress"));
        }
        if let Some(finished) = handle.take() {
            // It cleared the running flag: it is done or about to be.
            let _ = finished.join();
        }
        let shared = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("keel-bgsave".to_owned())
            .spawn(move || {
                let result = shared.checkpoint();
                if let Err(error) = &result {
                    tracing::error!(%error, "BGSAVE failed");
                }
                shared
                    .last_background_save_ok
                    .store(result.is_ok(), Ordering::Release);
                shared
                    .background_save_running
                    .store(false, Ordering::Release);
            });
        match spawned {
            Ok(thread) => {
                *handle = Some(thread);
                Ok(())
            }
            Err(error) => {
                self.background_save_running.store(false, Ordering::Release);
                Err(StoreError::backend(format!(
                    "cannot start the background save: {error}"
                )))
            }
        }
    }

    /// CONFIG SET of the backend's settings: `save` is kept (keel
    /// checkpoints by its own triggers), `appendonly` only stays `yes`,
    /// `appendfsync` and `dir` are fixed when the database opens.
    fn set_setting(&self, name: &str, value: &str, apply: bool) -> Option<Result<(), String>> {
        let at_start_only = || {
            Err(format!(
                "keel sets it only at start (`keel serve --{name}`)"
            ))
        };
        Some(match name {
            "save" => {
                if apply {
                    *lock(&self.save_setting) = value.to_owned();
                }
                Ok(())
            }
            // The log is keel's only way to persist: always on.
            "appendonly" if value.eq_ignore_ascii_case("yes") => Ok(()),
            "appendonly" => Err("keel's log is always on".to_owned()),
            "appendfsync" if AppendFsync::parse(value) == Some(self.options.appendfsync) => Ok(()),
            "appendfsync" | "dir" => at_start_only(),
            _ => return None,
        })
    }

    /// INFO persistence: Redis's fields, then the engine's checkpoints
    /// and folds.
    fn persistence_section(&self, stats: &keel::Stats) -> InfoSection {
        let field = |name: &str, value: String| (name.to_owned(), value);
        let last_save_s = self.last_save_unix_s();
        InfoSection {
            name: "persistence".to_owned(),
            fields: vec![
                field("loading", "0".to_owned()),
                field("async_loading", "0".to_owned()),
                field(
                    "rdb_changes_since_last_save",
                    self.dirty.load(Ordering::Relaxed).to_string(),
                ),
                field(
                    "rdb_bgsave_in_progress",
                    u8::from(self.background_save_running.load(Ordering::Acquire)).to_string(),
                ),
                field("rdb_last_save_time", last_save_s.to_string()),
                field(
                    "rdb_last_bgsave_status",
                    if self.last_background_save_ok.load(Ordering::Acquire) {
                        "ok"
                    } else {
                        "err"
                    }
                    .to_owned(),
                ),
                field("aof_enabled", "1".to_owned()),
                field("aof_rewrite_in_progress", "0".to_owned()),
                field("aof_rewrite_scheduled", "0".to_owned()),
                field(
                    "keel_appendfsync",
                    self.options.appendfsync.name().to_owned(),
                ),
                field("keel_checkpoint_id", stats.checkpoint_id.to_string()),
                field("keel_checkpoints", stats.checkpoints.to_string()),
                field(
                    "keel_last_checkpoint_at_ms",
                    stats.last_checkpoint_at_ms.to_string(),
                ),
                field(
                    "keel_last_checkpoint_us",
                    stats.last_checkpoint_us.to_string(),
                ),
                field("keel_fold_timestamp", stats.fold_timestamp.to_string()),
                field(
                    "keel_visible_watermark",
                    stats.visible_watermark.to_string(),
                ),
                field("keel_folds", stats.folds.to_string()),
                field("keel_keys_folded", stats.keys_folded.to_string()),
                field("keel_delta_bytes", stats.delta_bytes.to_string()),
                field("keel_delta_versions", stats.delta_versions.to_string()),
                field("keel_log_bytes", stats.log_bytes.to_string()),
                field("keel_pages", stats.pages.to_string()),
                field("keel_file_blocks", stats.file_blocks.to_string()),
                field(
                    "keel_recovery_commits_replayed",
                    stats.recovery.commits_replayed.to_string(),
                ),
                field(
                    "keel_recovery_torn_tail",
                    u8::from(stats.recovery.torn_tail).to_string(),
                ),
            ],
        }
    }

    fn info_sections(&self) -> Vec<InfoSection> {
        let stats = self.database.stats();
        let field = |name: &str, value: String| (name.to_owned(), value);
        let fsyncs_per_commit = if stats.commits == 0 {
            0.0
        } else {
            stats.log_fsyncs as f64 / stats.commits as f64
        };
        let persistence = self.persistence_section(&stats);
        let stats_section = InfoSection {
            name: "stats".to_owned(),
            fields: vec![
                field("expired_keys", stats.expired_removed.to_string()),
                field("keel_commits", stats.commits.to_string()),
                field(
                    "keel_read_only_commits",
                    stats.read_only_commits.to_string(),
                ),
                field("keel_conflicts", stats.conflicts.to_string()),
                field("keel_log_fsyncs", stats.log_fsyncs.to_string()),
                field("keel_fsyncs_per_commit", format!("{fsyncs_per_commit:.3}")),
                field(
                    "keel_active_transactions",
                    stats.active_transactions.to_string(),
                ),
                field("keel_cache_hits", stats.cache_hits.to_string()),
                field("keel_cache_misses", stats.cache_misses.to_string()),
                field(
                    "keel_flushes",
                    self.flushes.load(Ordering::Relaxed).to_string(),
                ),
            ],
        };
        vec![
            persistence,
            stats_section,
            self.keyspace_section(),
            self.keel_section(&stats),
        ]
    }

    /// INFO `keel`: the engine's statistics, whole, and the commit
    /// latency the server measured.
    fn keel_section(&self, stats: &keel::Stats) -> InfoSection {
        let latency = &self.commit_latency;
        let bound = |quantile: f64| {
            latency
                .quantile_bound_us(quantile)
                .map_or_else(|| "-1".to_owned(), |us| us.to_string())
        };
        let mean_us = if latency.count() == 0 {
            0.0
        } else {
            latency.sum_us() as f64 / latency.count() as f64
        };
        let values: [(&str, String); 30] = [
            ("appendfsync", self.options.appendfsync.name().to_owned()),
            ("commits", stats.commits.to_string()),
            ("read_only_commits", stats.read_only_commits.to_string()),
            ("conflicts", stats.conflicts.to_string()),
            ("commit_latency_count", latency.count().to_string()),
            ("commit_latency_mean_us", format!("{mean_us:.2}")),
            ("commit_latency_p50_us_at_most", bound(0.5)),
            ("commit_latency_p99_us_at_most", bound(0.99)),
            ("commit_latency_p999_us_at_most", bound(0.999)),
            ("log_records", stats.log_records.to_string()),
            ("log_bytes", stats.log_bytes.to_string()),
            ("log_fsyncs", stats.log_fsyncs.to_string()),
            ("folds", stats.folds.to_string()),
            ("keys_folded", stats.keys_folded.to_string()),
            ("expired_removed", stats.expired_removed.to_string()),
            ("orphans_removed", stats.orphans_removed.to_string()),
            ("checkpoints", stats.checkpoints.to_string()),
            ("checkpoint_id", stats.checkpoint_id.to_string()),
            ("last_checkpoint_us", stats.last_checkpoint_us.to_string()),
            (
                "last_checkpoint_at_ms",
                stats.last_checkpoint_at_ms.to_string(),
            ),
            ("dirty_bytes", stats.dirty_bytes.to_string()),
            ("fold_timestamp", stats.fold_timestamp.to_string()),
            ("visible_watermark", stats.visible_watermark.to_string()),
            ("delta_bytes", stats.delta_bytes.to_string()),
            ("delta_versions", stats.delta_versions.to_string()),
            ("active_transactions", stats.active_transactions.to_string()),
            ("cache_hits", stats.cache_hits.to_string()),
            ("cache_misses", stats.cache_misses.to_string()),
            ("pages", stats.pages.to_string()),
            ("file_blocks", stats.file_blocks.to_string()),
        ];
        InfoSection {
            name: "keel".to_owned(),
            fields: values
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        }
    }

    /// `/metrics`: the engine's counters and gauges, and the commit
    /// latency histogram.
    fn metrics(&self, page: &mut MetricsText) {
        let stats = self.database.stats();
        page.histogram(
            "keel_commit_duration_seconds",
            "Commit latency of writing transactions (validation, log append, fsync under always).",
            &self.commit_latency,
        );
        let counters: [(&str, &str, u64); 13] = [
            (
                "keel_commits_total",
                "Transactions committed with writes.",
                stats.commits,
            ),
            (
                "keel_read_only_commits_total",
                "Read-only transactions finished.",
                stats.read_only_commits,
            ),
            (
                "keel_conflicts_total",
                "Commits refused by a conflict.",
                stats.conflicts,
            ),
            (
                "keel_log_records_total",
                "Log records appended.",
                stats.log_records,
            ),
            (
                "keel_log_bytes_total",
                "Log bytes appended.",
                stats.log_bytes,
            ),
            ("keel_log_fsyncs_total", "Log fsyncs.", stats.log_fsyncs),
            (
                "keel_folds_total",
                "Folds of the delta into the B+tree.",
                stats.folds,
            ),
            (
                "keel_keys_folded_total",
                "Keys written to the B+tree by folds.",
                stats.keys_folded,
            ),
            (
                "keel_expired_removed_total",
                "Expired keys removed by folds.",
                stats.expired_removed,
            ),
            (
                "keel_checkpoints_total",
                "Checkpoints written since open.",
                stats.checkpoints,
            ),
            (
                "keel_cache_hits_total",
                "Buffer pool hits.",
                stats.cache_hits,
            ),
            (
                "keel_cache_misses_total",
                "Buffer pool misses.",
                stats.cache_misses,
            ),
            (
                "keel_flushes_total",
                "FLUSHDB and FLUSHALL commands run.",
                self.flushes.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            page.counter(name, help, value);
        }
        let gauges: [(&str, &str, f64); 9] = [
            (
                "keel_last_checkpoint_duration_seconds",
                "How long the last checkpoint took.",
                stats.last_checkpoint_us as f64 / 1e6,
            ),
            (
                "keel_last_checkpoint_timestamp_seconds",
                "When the last checkpoint ended (Unix time; 0: none).",
                stats.last_checkpoint_at_ms as f64 / 1e3,
            ),
            (
                "keel_dirty_bytes",
                "Bytes folds changed in the B+tree since the last checkpoint.",
                stats.dirty_bytes as f64,
            ),
            (
                "keel_delta_bytes",
                "Bytes of recent versions held in memory.",
                stats.delta_bytes as f64,
            ),
            (
                "keel_delta_versions",
                "Recent versions held in memory.",
                stats.delta_versions as f64,
            ),
            (
                "keel_active_transactions",
                "Transactions open now.",
                stats.active_transactions as f64,
            ),
            ("keel_pages", "Pages in use.", stats.pages as f64),
            (
                "keel_file_blocks",
                "Size of the page file, in blocks.",
                stats.file_blocks as f64,
            ),
            (
                "keel_log_bytes",
                "Bytes of log written since open.",
                stats.log_bytes as f64,
            ),
        ];
        for (name, help, value) in gauges {
            page.gauge(name, help, value);
        }
    }

    /// `db<n>:keys=…,expires=…,avg_ttl=0` for every database with keys.
    /// Counted by scanning: O(keys), one snapshot per database.
    fn keyspace_section(&self) -> InfoSection {
        let mut fields = Vec::new();
        for index in 0..self.options.databases {
            let Some(slot) = self.slot(index) else {
                continue;
            };
            let slot = read(slot);
            match count_keys(&self.database, &slot.keyspace) {
                Ok((0, _)) => {}
                Ok((keys, expires)) => fields.push((
                    keyspace_name(index),
                    format!("keys={keys},expires={expires},avg_ttl=0"),
                )),
                Err(error) => {
                    tracing::warn!(%error, database = index, "INFO keyspace: counting failed");
                }
            }
        }
        InfoSection {
            name: "keyspace".to_owned(),
            fields,
        }
    }
}

/// Keys and keys with a deadline in `keyspace`, in one snapshot.
fn count_keys(
    database: &Database,
    keyspace: &Keyspace,
) -> std::result::Result<(u64, u64), keel::Error> {
    database.view(|transaction| {
        let mut keys = 0u64;
        let mut expires = 0u64;
        let mut after: Option<Bytes> = None;
        loop {
            let lower = match &after {
                Some(after) => std::ops::Bound::Excluded(after.as_ref()),
                None => std::ops::Bound::Unbounded,
            };
            let batch: Vec<Bytes> = transaction
                .range(keyspace, (lower, std::ops::Bound::Unbounded))?
                .take(KEYSPACE_BATCH_KEYS)
                .map(|item| item.map(|(key, _)| key))
                .collect::<keel::Result<_>>()?;
            for key in &batch {
                if let Some((_, Some(_))) = transaction.get_with_expiry(keyspace, key)? {
                    expires += 1;
                }
            }
            keys += batch.len() as u64;
            if batch.len() < KEYSPACE_BATCH_KEYS {
                return Ok((keys, expires));
            }
            after = batch.last().cloned();
        }
    })
}

impl Backend for KeelBackend {
    fn set_keyspace_events(&self, events: Arc<KeyspaceEvents>) {
        *write(&self.shared.keyspace_events) = Some(events);
    }

    fn write_epoch(&self) -> u64 {
        self.shared.writes.load(Ordering::Acquire)
    }

    fn batch_waits_for_sync(&self) -> bool {
        self.shared.options.appendfsync == AppendFsync::Always
    }

    fn open_session(&self, client: ClientId) -> Box<dyn Session> {
        Box::new(KeelSession::new(Arc::clone(&self.shared), client))
    }

    fn info_sections(&self) -> Vec<InfoSection> {
        self.shared.info_sections()
    }

    fn metrics(&self, page: &mut MetricsText) {
        self.shared.metrics(page);
    }

    fn execute_batch(&self, requests: &[Request], replies: &mut EncodedReplies) -> bool {
        self.shared.run_pipeline(requests, replies)
    }

    fn set_setting(&self, name: &str, value: &str, apply: bool) -> Option<Result<(), String>> {
        self.shared.set_setting(name, value, apply)
    }

    fn save(&self) -> std::result::Result<(), StoreError> {
        self.shared.checkpoint().map_err(StoreError::backend)
    }

    fn background_save(&self) -> std::result::Result<(), StoreError> {
        self.shared.background_save()
    }

    fn last_save_unix_s(&self) -> i64 {
        self.shared.last_save_unix_s()
    }

    fn settings(&self) -> Vec<(String, String)> {
        let dir = std::fs::canonicalize(self.shared.database.path())
            .unwrap_or_else(|_| self.shared.database.path().to_path_buf());
        vec![
            (
                "appendfsync".to_owned(),
                self.shared.options.appendfsync.name().to_owned(),
            ),
            ("appendonly".to_owned(), "yes".to_owned()),
            ("dir".to_owned(), dir.display().to_string()),
            ("save".to_owned(), lock(&self.shared.save_setting).clone()),
        ]
    }
}

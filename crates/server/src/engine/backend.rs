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
use std::time::Duration;

use bytes::Bytes;
use keel::{Database, Durability, Isolation, Keyspace, Transaction};

use crate::backend::{Backend, ClientId, DatabaseIndex, InfoSection, Session};
use crate::commands::arguments::parse_scan;
use crate::commands::data;
use crate::commands::scan::scan_batch;
use crate::commands::table::{CommandFlags, CommandSpec};
use crate::engine::store::{EngineStore, KEYSPACE_BATCH_KEYS, Keyspaces};
use crate::error::{Error, Result};
use crate::resp::Reply;
use crate::resp::{Command, Limits};

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
                let recorded = transaction.get(&map, &index.to_be_bytes())?;
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
            source: keel::Error::Corruption(format!("two databases use one keyspace: {names:?}")),
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
}

impl Default for KeelBackendOptions {
    fn default() -> Self {
        KeelBackendOptions {
            appendfsync: AppendFsync::default(),
            databases: DATABASES_DEFAULT,
            limits: Limits::default(),
        }
    }
}

/// One database index's keyspace, and how many times it changed as a
/// whole.
#[derive(Debug)]
struct Slot {
    keyspace: Keyspace,
    /// Bumped when the slot's keyspace is replaced (FLUSHDB of a large
    /// database) or swapped with another slot's (SWAPDB).
    generation: u64,
    /// Bumped when the keyspace is dropped and created anew: a WATCH
    /// transaction older than it cannot run in it.
    recreated: u64,
}

struct Shared {
    database: Database,
    slots: Vec<RwLock<Slot>>,
    watch_keyspace: Keyspace,
    /// Which keyspace each database index uses, where SWAPDB changed it.
    databases_keyspace: Keyspace,
    options: KeelBackendOptions,
    opened_at_ms: u64,
    background_save: Mutex<Option<JoinHandle<()>>>,
    background_save_running: AtomicBool,
    last_background_save_ok: AtomicBool,
    /// CONFIG SET save: kept and shown, without effect (keel checkpoints
    /// by its own triggers).
    save_setting: Mutex<String>,
    flushes: AtomicU64,
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
    shared: Arc<Shared>,
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

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wall-clock time in Unix milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Sleeps a little before running a conflicted command again:
/// randomized, growing with the attempt, at most about 10 ms.
fn backoff(attempt: u32) {
    let ceiling_us = 20u64 << attempt.min(9);
    let sleep_us = ceiling_us / 2 + rand::random::<u64>() % (ceiling_us / 2 + 1);
    std::thread::sleep(Duration::from_micros(sleep_us));
}

fn error_reply(error: &keel::Error) -> Reply {
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
        let databases_keyspace =
            database
                .keyspace(DATABASES_KEYSPACE)
                .map_err(engine_error(format!(
                    "creating keyspace {DATABASES_KEYSPACE}"
                )))?;
        Ok(KeelBackend {
            shared: Arc::new(Shared {
                database,
                slots,
                watch_keyspace,
                databases_keyspace,
                options,
                opened_at_ms: u64::try_from(now_ms()).unwrap_or(0),
                background_save: Mutex::new(None),
                background_save_running: AtomicBool::new(false),
                last_background_save_ok: AtomicBool::new(true),
                save_setting: Mutex::new(String::new()),
                flushes: AtomicU64::new(0),
            }),
        })
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
    fn slot(&self, database: DatabaseIndex) -> Option<&RwLock<Slot>> {
        usize::try_from(database)
            .ok()
            .and_then(|index| self.slots.get(index))
    }

    /// Runs one command in a transaction of its own, again on conflict.
    fn run_command(&self, database: DatabaseIndex, spec: &CommandSpec, command: &Command) -> Reply {
        let Some(selected) = self.slot(database) else {
            return Reply::error("ERR DB index is out of range");
        };
        // COPY ... DB, MOVE and DEBUG DIGEST reach other databases: every
        // database shared, in ascending order (as FLUSHALL and MULTI).
        let every = data::touches_every_database(spec);
        let guards: Vec<RwLockReadGuard<'_, Slot>> = if every {
            self.slots.iter().map(read).collect()
        } else {
            vec![read(selected)]
        };
        let all: Vec<&Keyspace> = guards.iter().map(|slot| &slot.keyspace).collect();
        let keyspaces = if every {
            Keyspaces::All(&all)
        } else {
            Keyspaces::One(database, all[0])
        };
        // A command that cannot write reads one snapshot: serializable as
        // it is, and it tracks no reads.
        let isolation = if spec.has(CommandFlags::WRITE) {
            Isolation::Serializable
        } else {
            Isolation::Snapshot
        };
        for attempt in 0.. {
            let mut transaction = self.database.begin(isolation);
            let mut store = EngineStore::new(&mut transaction, keyspaces, now_ms());
            let reply = self.execute_in_store(&mut store, database, spec, command);
            if let Some(error) = store.take_failure() {
                transaction.rollback();
                return error_reply(&error);
            }
            match transaction.commit() {
                Ok(()) => return reply,
                Err(keel::Error::Conflict { .. }) if attempt + 1 < COMMAND_ATTEMPTS_MAX => {
                    backoff(attempt);
                }
                Err(error) => return error_reply(&error),
            }
        }
        unreachable!("the loop returns")
    }

    /// Runs pipelined data commands in one transaction (one commit, one
    /// fsync under `always`); `None` when they should run one by one
    /// instead: one of them failed in the store (only it must fail), or
    /// the group kept conflicting.
    fn run_pipeline(
        &self,
        commands: &[(DatabaseIndex, &'static CommandSpec, Command)],
    ) -> Option<Vec<Reply>> {
        let first = commands.first()?.0;
        let one_database = commands
            .iter()
            .all(|(database, spec, _)| *database == first && !data::touches_every_database(spec));
        let guards: Vec<RwLockReadGuard<'_, Slot>> = if one_database {
            vec![read(self.slot(first)?)]
        } else {
            self.slots.iter().map(read).collect()
        };
        let all: Vec<&Keyspace> = guards.iter().map(|slot| &slot.keyspace).collect();
        let keyspaces = if one_database {
            Keyspaces::One(first, all[0])
        } else {
            Keyspaces::All(&all)
        };
        let isolation = if commands
            .iter()
            .any(|(_, spec, _)| spec.has(CommandFlags::WRITE))
        {
            Isolation::Serializable
        } else {
            Isolation::Snapshot
        };
        for attempt in 0..PIPELINE_ATTEMPTS_MAX {
            let mut transaction = self.database.begin(isolation);
            let mut store = EngineStore::new(&mut transaction, keyspaces, now_ms());
            let mut replies = Vec::with_capacity(commands.len());
            for (database, spec, command) in commands {
                replies.push(self.execute_in_store(&mut store, *database, spec, command));
                if store.take_failure().is_some() {
                    transaction.rollback();
                    return None;
                }
            }
            match transaction.commit() {
                Ok(()) => return Some(replies),
                Err(keel::Error::Conflict { .. }) => backoff(attempt),
                Err(_) => return None,
            }
        }
        None
    }

    /// A command inside a transaction: SCAN and LASTSAVE here, the rest in
    /// [`data_commands`].
    fn execute_in_store(
        &self,
        store: &mut EngineStore<'_>,
        database: DatabaseIndex,
        spec: &CommandSpec,
        command: &Command,
    ) -> Reply {
        match spec.name {
            "scan" => scan_command(store, database, command.arguments()),
            "lastsave" => self.last_save(),
            _ => data::execute(store, database, spec, command, &self.options.limits),
        }
    }

    /// Runs a MULTI block in `transaction`; `Err` when the store failed
    /// (the transaction must be rolled back).
    fn run_block(
        &self,
        transaction: &mut Transaction,
        keyspaces: &[&Keyspace],
        commands: &[(DatabaseIndex, &'static CommandSpec, Command)],
        now_ms: i64,
    ) -> std::result::Result<(Vec<Reply>, bool), keel::Error> {
        let mut store = EngineStore::new(transaction, Keyspaces::All(keyspaces), now_ms);
        let mut replies = Vec::with_capacity(commands.len());
        for (database, spec, command) in commands {
            replies.push(self.execute_in_store(&mut store, *database, spec, command));
            if let Some(error) = store.take_failure() {
                return Err(error);
            }
        }
        Ok((replies, store.wrote()))
    }

    /// FLUSHDB and FLUSHALL outside MULTI: holds the databases exclusively
    /// while it empties them.
    fn flush(&self, database: DatabaseIndex, spec: &CommandSpec, command: &Command) -> Reply {
        match &command.arguments()[1..] {
            [] => {}
            [mode] if mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC") => {
            }
            _ => return Reply::error("ERR syntax error"),
        }
        let indexes: Vec<DatabaseIndex> = if spec.name == "flushall" {
            (0..self.options.databases).collect()
        } else {
            vec![database]
        };
        let mut guards = Vec::with_capacity(indexes.len());
        // Ascending order, as every other taker of several slots.
        for &index in &indexes {
            let Some(slot) = self.slot(index) else {
                return Reply::error("ERR DB index is out of range");
            };
            guards.push((index, write(slot)));
        }
        let result = self.flush_locked(&mut guards);
        self.flushes.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(()) => Reply::ok(),
            Err(error) => error_reply(&error),
        }
    }

    fn flush_locked(
        &self,
        guards: &mut [(DatabaseIndex, RwLockWriteGuard<'_, Slot>)],
    ) -> std::result::Result<(), keel::Error> {
        let mut large = Vec::new();
        for attempt in 0.. {
            large.clear();
            let mut transaction = self.database.begin(Isolation::Serializable);
            for (position, (_, slot)) in guards.iter().enumerate() {
                let keys: Vec<Bytes> = transaction
                    .range::<[u8], _>(&slot.keyspace, ..)?
                    .take(FLUSH_IN_TRANSACTION_KEYS_MAX + 1)
                    .map(|item| item.map(|(key, _)| key))
                    .collect::<keel::Result<_>>()?;
                if keys.len() > FLUSH_IN_TRANSACTION_KEYS_MAX {
                    large.push(position);
                    continue;
                }
                for key in &keys {
                    transaction.delete(&slot.keyspace, key)?;
                }
            }
            match transaction.commit() {
                Ok(()) => break,
                Err(keel::Error::Conflict { .. }) if attempt + 1 < COMMAND_ATTEMPTS_MAX => {
                    backoff(attempt);
                }
                Err(error) => return Err(error),
            }
        }
        for position in large {
            let (_, slot) = &mut guards[position];
            let name = slot.keyspace.name().to_owned();
            self.database.drop_keyspace(&name)?;
            slot.keyspace = self.database.keyspace(&name)?;
            slot.generation += 1;
            slot.recreated += 1;
        }
        Ok(())
    }

    /// SWAPDB: the two databases trade keyspaces, recorded in
    /// [`DATABASES_KEYSPACE`] in one transaction under both slots'
    /// exclusive locks, so clients see the swap at once and a restart
    /// finds it.
    fn swap_databases(&self, arguments: &[Bytes]) -> Reply {
        let index = |argument: &[u8]| {
            crate::resp::parse_integer(argument).filter(|&index| i32::try_from(index).is_ok())
        };
        let Some(first) = index(&arguments[1]) else {
            return Reply::error("ERR invalid first DB index");
        };
        let Some(second) = index(&arguments[2]) else {
            return Reply::error("ERR invalid second DB index");
        };
        let in_range = |index: i64| {
            DatabaseIndex::try_from(index)
                .ok()
                .filter(|&index| index < self.options.databases)
        };
        let (Some(first), Some(second)) = (in_range(first), in_range(second)) else {
            return Reply::error("ERR DB index is out of range");
        };
        if first == second {
            return Reply::ok();
        }
        let (low, high) = (first.min(second), first.max(second));
        // Ascending order, as every other taker of several slots.
        let (Some(low_slot), Some(high_slot)) = (self.slot(low), self.slot(high)) else {
            return Reply::error("ERR DB index is out of range");
        };
        let mut low_slot = write(low_slot);
        let mut high_slot = write(high_slot);
        let result = self.database.update(|transaction| {
            transaction.put(
                &self.databases_keyspace,
                &low.to_be_bytes(),
                high_slot.keyspace.name().as_bytes().to_vec(),
            )?;
            transaction.put(
                &self.databases_keyspace,
                &high.to_be_bytes(),
                low_slot.keyspace.name().as_bytes().to_vec(),
            )
        });
        if let Err(error) = result {
            return error_reply(&error);
        }
        std::mem::swap(&mut low_slot.keyspace, &mut high_slot.keyspace);
        for slot in [&mut low_slot, &mut high_slot] {
            slot.generation += 1;
        }
        Reply::ok()
    }

    /// DEBUG RELOAD and LOADAOF: Redis reloads its data from disk; keel's
    /// data on disk is its data, so a checkpoint (skipped by RELOAD
    /// NOSAVE) makes it so without a reload.
    fn debug_reload(&self, arguments: &[Bytes]) -> Reply {
        let reply = crate::commands::debug::reply_without_data(arguments);
        let no_save = arguments[2..]
            .iter()
            .any(|option| option.eq_ignore_ascii_case(b"NOSAVE"));
        if reply.is_error() || no_save {
            return reply;
        }
        match self.database.checkpoint() {
            Ok(_) => reply,
            Err(error) => error_reply(&error),
        }
    }

    fn last_save(&self) -> Reply {
        let at_ms = match self.database.stats().last_checkpoint_at_ms {
            0 => self.opened_at_ms,
            at_ms => at_ms,
        };
        Reply::Integer(i64::try_from(at_ms / 1000).unwrap_or(i64::MAX))
    }

    fn save(&self) -> Reply {
        match self.database.checkpoint() {
            Ok(_) => Reply::ok(),
            Err(error) => error_reply(&error),
        }
    }

    fn background_save(self: &Arc<Self>, arguments: &[Bytes]) -> Reply {
        match arguments {
            [_] => {}
            [_, schedule] if schedule.eq_ignore_ascii_case(b"SCHEDULE") => {}
            _ => return Reply::error("ERR syntax error"),
        }
        let mut handle = lock(&self.background_save);
        if self.background_save_running.swap(true, Ordering::AcqRel) {
            return Reply::error("ERR Background save already in progress");
        }
        if let Some(finished) = handle.take() {
            // It cleared the running flag: it is done or about to be.
            let _ = finished.join();
        }
        let shared = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("keel-bgsave".to_owned())
            .spawn(move || {
                let result = shared.database.checkpoint();
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
                Reply::Simple("Background saving started".to_owned())
            }
            Err(error) => {
                self.background_save_running.store(false, Ordering::Release);
                Reply::error(format!("ERR cannot start the background save: {error}"))
            }
        }
    }

    fn shutdown(&self, arguments: &[Bytes]) -> Reply {
        for option in &arguments[1..] {
            if option.eq_ignore_ascii_case(b"ABORT") {
                return Reply::error("ERR No shutdown in progress.");
            }
            if ![&b"NOSAVE"[..], b"SAVE", b"NOW", b"FORCE"]
                .iter()
                .any(|known| option.eq_ignore_ascii_case(known))
            {
                return Reply::error("ERR syntax error");
            }
        }
        // The owner of the backend closes the database (fold, checkpoint,
        // sync) once the server has stopped.
        tracing::info!("SHUTDOWN requested");
        Reply::ok()
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

    fn info_sections(&self) -> Vec<InfoSection> {
        let stats = self.database.stats();
        let field = |name: &str, value: String| (name.to_owned(), value);
        let last_save_s = match self.last_save() {
            Reply::Integer(seconds) => seconds,
            _ => 0,
        };
        let fsyncs_per_commit = if stats.commits == 0 {
            0.0
        } else {
            stats.log_fsyncs as f64 / stats.commits as f64
        };
        let persistence = InfoSection {
            name: "persistence".to_owned(),
            fields: vec![
                field("loading", "0".to_owned()),
                field("async_loading", "0".to_owned()),
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
        };
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
        vec![persistence, stats_section, self.keyspace_section()]
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
                .range::<[u8], _>(keyspace, (lower, std::ops::Bound::Unbounded))?
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

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type], with the cursor
/// of [`crate::commands::scan`].
fn scan_command(
    store: &mut EngineStore<'_>,
    database: DatabaseIndex,
    arguments: &[Bytes],
) -> Reply {
    let scan = match parse_scan(arguments) {
        Ok(scan) => scan,
        Err(reply) => return reply,
    };
    // Every key is a string.
    let type_matches = scan
        .type_name
        .as_ref()
        .is_none_or(|name| name.eq_ignore_ascii_case(b"string"));
    let keyspace = match store.keyspace(database) {
        Ok(keyspace) => keyspace,
        Err(error) => return error_reply(&store.fail(error)),
    };
    let start = crate::commands::scan::scan_start_key(scan.cursor);
    let result = store
        .transaction()
        .range::<[u8], _>(
            keyspace,
            (
                std::ops::Bound::Included(start.as_slice()),
                std::ops::Bound::Unbounded,
            ),
        )
        .and_then(|keys| {
            scan_batch(
                keys.map(|item| item.map(|(key, _)| key)),
                scan.count,
                |key| {
                    type_matches
                        && scan
                            .pattern
                            .as_ref()
                            .is_none_or(|pattern| pattern.matches(key))
                },
            )
        });
    match result {
        Ok(batch) => Reply::Array(vec![
            Reply::bulk(batch.next_cursor.to_string()),
            Reply::Array(batch.keys.into_iter().map(Reply::Bulk).collect()),
        ]),
        Err(error) => error_reply(&store.fail(error)),
    }
}

impl Backend for KeelBackend {
    type Session = KeelSession;

    fn open_session(&self, client: ClientId) -> KeelSession {
        KeelSession {
            shared: Arc::clone(&self.shared),
            client,
            watch: None,
        }
    }

    fn info_sections(&self) -> Vec<InfoSection> {
        self.shared.info_sections()
    }

    fn execute_batch(
        &self,
        commands: &[(DatabaseIndex, &'static CommandSpec, Command)],
    ) -> Option<Vec<Reply>> {
        self.shared.run_pipeline(commands)
    }

    fn set_setting(&self, name: &str, value: &str, apply: bool) -> Option<Result<(), String>> {
        self.shared.set_setting(name, value, apply)
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

/// An open WATCH: the transaction that read the watched keys.
struct Watch {
    transaction: Transaction,
    /// The deadlines of watched keys that had one: past them the key has
    /// expired, which Redis counts as a change.
    deadlines_ms: Vec<i64>,
    /// Every watched key: its database, the database's generation and
    /// recreation count then, and whether the key was live.
    keys: Vec<WatchedKey>,
    /// An error while reading a watched key: EXEC must fail.
    failure: Option<keel::Error>,
}

/// One key WATCH read.
struct WatchedKey {
    database: DatabaseIndex,
    key: Bytes,
    generation: u64,
    recreated: u64,
    was_live: bool,
}

/// One connection's session: its open WATCH, if any.
pub struct KeelSession {
    shared: Arc<Shared>,
    client: ClientId,
    watch: Option<Watch>,
}

impl std::fmt::Debug for KeelSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeelSession")
            .field("client", &self.client)
            .field("watching", &self.watch.is_some())
            .finish_non_exhaustive()
    }
}

impl KeelSession {
    /// EXEC in the WATCH transaction: nil when anything it read changed.
    fn execute_watched(
        &self,
        mut watch: Watch,
        keyspaces: &[&Keyspace],
        slots: &[&Slot],
        commands: &[(DatabaseIndex, &'static CommandSpec, Command)],
    ) -> Option<Vec<Reply>> {
        let now_ms = now_ms();
        if let Some(error) = &watch.failure {
            tracing::debug!(%error, client = self.client, "EXEC: WATCH failed");
            return None;
        }
        if watch
            .keys
            .iter()
            .any(|watched| self.touched(watched, slots))
            || watch
                .deadlines_ms
                .iter()
                .any(|&deadline| deadline <= now_ms)
        {
            return None;
        }
        let outcome = self
            .shared
            .run_block(&mut watch.transaction, keyspaces, commands, now_ms);
        match outcome {
            Err(error) => {
                watch.transaction.rollback();
                refused_block(&error, commands.len())
            }
            Ok((replies, wrote)) => {
                if !wrote {
                    // A transaction that wrote nothing commits without
                    // validating its reads; one deletion of a key that
                    // never exists makes it validate them.
                    let key = self.client.to_be_bytes();
                    if let Err(error) = watch.transaction.delete(&self.shared.watch_keyspace, &key)
                    {
                        watch.transaction.rollback();
                        return refused_block(&error, commands.len());
                    }
                }
                match watch.transaction.commit() {
                    Ok(()) => Some(replies),
                    Err(error) => refused_block(&error, commands.len()),
                }
            }
        }
    }

    /// Whether a watched key's database changed as a whole since WATCH in
    /// a way Redis counts as touching the key: it was recreated (keel
    /// cannot tell, so yes), or swapped (SWAPDB) and the key was live then
    /// or is live now (Redis's `touchAllWatchedKeysInDb`).
    fn touched(&self, watched: &WatchedKey, slots: &[&Slot]) -> bool {
        let Some(slot) = usize::try_from(watched.database)
            .ok()
            .and_then(|index| slots.get(index))
        else {
            return true;
        };
        if slot.recreated != watched.recreated {
            return true;
        }
        if slot.generation == watched.generation {
            return false;
        }
        watched.was_live
            || self
                .shared
                .database
                .view(|transaction| transaction.get(&slot.keyspace, &watched.key))
                .map_or(true, |value| value.is_some())
    }

    /// EXEC without WATCH: run again while it conflicts.
    fn execute_unwatched(
        &self,
        keyspaces: &[&Keyspace],
        commands: &[(DatabaseIndex, &'static CommandSpec, Command)],
    ) -> Option<Vec<Reply>> {
        for attempt in 0.. {
            let mut transaction = self.shared.database.begin(Isolation::Serializable);
            match self
                .shared
                .run_block(&mut transaction, keyspaces, commands, now_ms())
            {
                Err(error) => {
                    transaction.rollback();
                    return refused_block(&error, commands.len());
                }
                Ok((replies, _)) => match transaction.commit() {
                    Ok(()) => return Some(replies),
                    Err(keel::Error::Conflict { .. }) if attempt + 1 < COMMAND_ATTEMPTS_MAX => {
                        backoff(attempt);
                    }
                    Err(error) => return refused_block(&error, commands.len()),
                },
            }
        }
        unreachable!("the loop returns")
    }
}

/// The EXEC reply for a block the engine refused: nil for a conflict
/// (something read changed) or a WATCH too old to validate; otherwise the
/// error for every command, none of which took effect.
fn refused_block(error: &keel::Error, commands: usize) -> Option<Vec<Reply>> {
    match error {
        keel::Error::Conflict { .. } | keel::Error::TransactionTooOld { .. } => None,
        other => {
            tracing::warn!(error = %other, "MULTI block failed; nothing was written");
            Some(vec![error_reply(other); commands])
        }
    }
}

impl Session for KeelSession {
    fn execute(&mut self, database: DatabaseIndex, spec: &CommandSpec, command: &Command) -> Reply {
        if spec.container.is_none() {
            match spec.name {
                "flushdb" | "flushall" => return self.shared.flush(database, spec, command),
                "save" => return self.shared.save(),
                "bgsave" => return self.shared.background_save(command.arguments()),
                "lastsave" => return self.shared.last_save(),
                "shutdown" => return self.shared.shutdown(command.arguments()),
                "swapdb" => return self.shared.swap_databases(command.arguments()),
                "debug"
                    if [&b"RELOAD"[..], b"LOADAOF"]
                        .iter()
                        .any(|name| command.arguments()[1].eq_ignore_ascii_case(name)) =>
                {
                    return self.shared.debug_reload(command.arguments());
                }
                _ => {}
            }
        }
        self.shared.run_command(database, spec, command)
    }

    fn execute_pipeline(
        &mut self,
        commands: &[(DatabaseIndex, &'static CommandSpec, Command)],
    ) -> Vec<Reply> {
        if commands.len() > 1
            && let Some(replies) = self.shared.run_pipeline(commands)
        {
            return replies;
        }
        commands
            .iter()
            .map(|(database, spec, command)| self.execute(*database, spec, command))
            .collect()
    }

    fn watch(&mut self, database: DatabaseIndex, keys: &[Bytes]) {
        let shared = &self.shared;
        let watch = self.watch.get_or_insert_with(|| Watch {
            transaction: shared.database.begin(Isolation::Serializable),
            deadlines_ms: Vec::new(),
            keys: Vec::new(),
            failure: None,
        });
        let Some(slot) = shared.slot(database) else {
            return;
        };
        let slot = read(slot);
        let now_ms = now_ms();
        for key in keys {
            let entry = watch.transaction.get_with_expiry(&slot.keyspace, key);
            match &entry {
                Ok(Some((_, Some(deadline)))) => {
                    let deadline = i64::try_from(*deadline).unwrap_or(i64::MAX);
                    if deadline > now_ms {
                        watch.deadlines_ms.push(deadline);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    watch.failure.get_or_insert(error.clone());
                }
            }
            watch.keys.push(WatchedKey {
                database,
                key: key.clone(),
                generation: slot.generation,
                recreated: slot.recreated,
                was_live: matches!(entry, Ok(Some(_))),
            });
        }
    }

    fn unwatch(&mut self) {
        if let Some(watch) = self.watch.take() {
            watch.transaction.rollback();
        }
    }

    fn execute_transaction(
        &mut self,
        commands: &[(DatabaseIndex, &'static CommandSpec, Command)],
    ) -> Option<Vec<Reply>> {
        let watch = self.watch.take();
        // Every database shared, in ascending order (FLUSHALL takes them
        // exclusively in the same order).
        let guards: Vec<RwLockReadGuard<'_, Slot>> = self.shared.slots.iter().map(read).collect();
        let keyspaces: Vec<&Keyspace> = guards.iter().map(|slot| &slot.keyspace).collect();
        match watch {
            Some(watch) => {
                let slots: Vec<&Slot> = guards.iter().map(|slot| &**slot).collect();
                self.execute_watched(watch, &keyspaces, &slots, commands)
            }
            None => self.execute_unwatched(&keyspaces, commands),
        }
    }
}

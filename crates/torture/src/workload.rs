//! The work a round does between two crashes: the scheduler's steps run
//! against the database, every acknowledged change recorded in the model,
//! every read checked against it.

use std::collections::BTreeMap;

use keel::{Database, Durability, Error, Keyspace};
use keel_io::SimVfs;
use rand::Rng;
use rand::rngs::SmallRng;

use crate::model::{Commit, DEFAULT_KEYSPACE, Effect, Model, Target, Value, describe};
use crate::report::{Counts, Finding};
use crate::scheduler::{Action, OpenTransaction, Operation, Scheduler};
use crate::trace::Trace;

/// Keys per keyspace: few, so transactions meet and conflict.
pub const KEYS: u32 = 48;
/// Keyspace names besides the default one.
pub const KEYSPACE_NAMES: [&str; 4] = ["alpha", "beta", "gamma", "delta"];
/// A deadline long after any run: such a key stays live.
pub const EXPIRES_LIVE_MS: u64 = 4_102_444_800_000;
/// A deadline long past: such a key reads as absent from the start.
pub const EXPIRES_PAST_MS: u64 = 1_000;
/// Value lengths, from a byte to several overflow pages.
const VALUE_BYTES: [usize; 7] = [1, 8, 40, 200, 900, 2500, 6000];

/// Why a round's work stopped early.
#[derive(Debug)]
pub enum Stop {
    /// The disk hit the crash point: expected, the round crashes.
    PowerLost,
    /// Something the model does not allow.
    Finding(Finding),
}

/// The key with number `index`. With `long_keys`, one in twelve is long
/// (1,200 to 9,000 bytes, past what a cell holds whole), and the long ones
/// share their first bytes, so that finding them reads their overflow
/// chains.
pub fn key(index: u32, long_keys: bool) -> Vec<u8> {
    if !long_keys || index % 12 != 5 {
        return format!("k{index:03}").into_bytes();
    }
    let filler = [1200usize, 3000, 9000][(index / 12) as usize % 3];
    let mut key = vec![b'l'; filler];
    key.extend_from_slice(format!("{index:03}").as_bytes());
    key
}

/// The state a round's work shares with the run.
pub struct Work<'a> {
    /// The database.
    pub db: &'a Database,
    /// Its disk.
    pub vfs: &'a SimVfs,
    /// The run's generator.
    pub rng: &'a mut SmallRng,
    /// The model.
    pub model: &'a mut Model,
    /// The trace.
    pub trace: &'a mut Trace,
    /// The counts.
    pub counts: &'a mut Counts,
    /// The database's durability (commits that choose none).
    pub default_durability: Durability,
    /// Numbers transactions and values uniquely within a run.
    pub serial: &'a mut u64,
    /// The open transactions.
    pub scheduler: Scheduler,
    /// The prepared transactions waiting for a decision (they outlive the
    /// round: crashes and reopens restore them).
    pub prepared: &'a mut Vec<Prepared>,
    /// Whether some keys are long (`key`).
    pub long_keys: bool,
}

/// A transaction prepared for two-phase commit and not known decided.
pub struct Prepared {
    /// Its global id (its name in the trace).
    pub global_id: String,
    /// What its commit changes.
    pub commit: Commit,
    /// The handle, while the database that prepared it is open.
    pub handle: Option<keel::PreparedTransaction>,
    /// Whether it must be in doubt after a crash: its prepare was
    /// acknowledged and no decision on it was attempted. If not (the
    /// prepare or a decision failed with the crash), it may be either way.
    pub certain: bool,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("global_id", &self.global_id)
            .field("certain", &self.certain)
            .finish_non_exhaustive()
    }
}

impl Work<'_> {
    /// Runs `steps` scheduler steps.
    ///
    /// # Errors
    /// [`Stop`] at the first failure.
    pub fn steps(&mut self, steps: u32) -> Result<(), Stop> {
        for _ in 0..steps {
            match self.scheduler.next_action(self.rng, self.prepared.len()) {
                Action::Begin => self.begin(),
                Action::Operate(index) => self.operate(index)?,
                Action::Commit(index) => self.commit(index)?,
                Action::Rollback(index) => {
                    let open = self.scheduler.open.remove(index);
                    self.trace.event(format_args!("rollback {}", open.name));
                    open.transaction.rollback();
                }
                Action::Checkpoint => self.checkpoint()?,
                Action::Compact => self.compact()?,
                Action::CreateKeyspace => self.create_keyspace()?,
                Action::DropKeyspace => self.drop_keyspace()?,
                Action::Load => self.load()?,
                Action::Prepare(index) => self.prepare(index)?,
                Action::Decide => self.decide()?,
            }
        }
        Ok(())
    }

    /// `Database::checkpoint`: every acknowledged commit is durable after.
    ///
    /// # Errors
    /// [`Stop`] if it fails.
    pub fn checkpoint(&mut self) -> Result<(), Stop> {
        self.trace.event(format_args!("checkpoint"));
        self.db
            .checkpoint()
            .map_err(|error| self.failed("checkpoint", &error))?;
        self.model.all_durable();
        self.counts.checkpoints += 1;
        Ok(())
    }

    /// `Database::compact`: three checkpoints and a cut file; every
    /// acknowledged commit is durable after.
    ///
    /// # Errors
    /// [`Stop`] if it fails.
    pub fn compact(&mut self) -> Result<(), Stop> {
        self.trace.event(format_args!("compact"));
        self.db
            .compact()
            .map_err(|error| self.failed("compact", &error))?;
        self.model.all_durable();
        self.counts.checkpoints += 3;
        Ok(())
    }

    fn next_serial(&mut self) -> u64 {
        *self.serial += 1;
        *self.serial
    }

    /// The stop an error means: the crash, or (with the disk up) a finding.
    fn failed(&self, during: &str, error: &Error) -> Stop {
        if self.vfs.power_lost() {
            Stop::PowerLost
        } else {
            Stop::Finding(Finding::UnexpectedError {
                during: during.to_string(),
                error: error.to_string(),
            })
        }
    }

    fn durable(&self, durability: Option<Durability>) -> bool {
        durability.unwrap_or(self.default_durability) == Durability::Sync
    }

    fn begin(&mut self) {
        let (isolation, durability) = Scheduler::transaction_kind(self.rng);
        let name = format!("t{}", self.next_serial());
        let mut transaction = self.db.begin(isolation);
        if let Some(durability) = durability {
            transaction.set_durability(durability);
        }
        self.trace
            .event(format_args!("begin {name} {isolation:?} {durability:?}"));
        self.scheduler.open.push(OpenTransaction {
            name,
            transaction,
            durability,
            snapshot: self.model.current(),
            writes: BTreeMap::new(),
        });
    }

    /// A keyspace of the current state and its handle.
    fn pick_keyspace(&mut self) -> Result<(Target, Keyspace), Stop> {
        let current = self.model.current();
        let names: Vec<&String> = current.keyspaces.keys().collect();
        let name = names[self.rng.random_range(0..names.len())].clone();
        let incarnation = current.incarnation(&name).unwrap_or_default();
        let handle = self
            .db
            .keyspace(&name)
            .map_err(|error| self.failed("looking up a keyspace", &error))?;
        Ok((
            Target {
                keyspace: name,
                incarnation,
            },
            handle,
        ))
    }

    fn value(&mut self) -> Vec<u8> {
        let bytes = VALUE_BYTES[self.rng.random_range(0..VALUE_BYTES.len())];
        let mut value = format!("v{}:", self.next_serial()).into_bytes();
        let fill = self.rng.random::<u8>();
        value.resize(bytes.max(value.len()), fill);
        value
    }

    fn operate(&mut self, index: usize) -> Result<(), Stop> {
        let (target, handle) = self.pick_keyspace()?;
        let operation = Scheduler::next_operation(self.rng);
        let key = key(self.rng.random_range(0..KEYS), self.long_keys);
        let outcome = match operation {
            Operation::Get => self.get(index, &target, &handle, &key),
            Operation::Scan => {
                let (a, b) = (
                    self.rng.random_range(0..=KEYS),
                    self.rng.random_range(0..=KEYS),
                );
                self.scan(index, &target, &handle, (a.min(b), a.max(b)))
            }
            Operation::Put | Operation::PutExpiring { .. } | Operation::Delete => {
                self.write(index, operation, &target, &handle, key)
            }
        };
        match outcome {
            Err(Error::KeyspaceNotFound { .. }) if !self.scheduler.open[index].sees(&target) => {
                // The keyspace was loaded after the transaction began.
                let open = self.scheduler.open.remove(index);
                self.trace.event(format_args!(
                    "{} cannot use {target:?}: rolled back",
                    open.name
                ));
                open.transaction.rollback();
                Ok(())
            }
            Err(error) => {
                Err(self.failed(&format!("{operation:?} in {}", target.keyspace), &error))
            }
            Ok(mismatch) => mismatch.map_or(Ok(()), |finding| Err(Stop::Finding(finding))),
        }
    }

    fn get(
        &mut self,
        index: usize,
        target: &Target,
        handle: &Keyspace,
        key: &[u8],
    ) -> keel::Result<Option<Finding>> {
        let open = &mut self.scheduler.open[index];
        let found = open
            .transaction
            .get_with_expiry(handle, key)?
            .map(|(value, expires)| (value.to_vec(), expires));
        let expected = open.expected(target, key);
        self.counts.reads_checked += 1;
        self.trace.event(format_args!(
            "{} get {}/{} -> {}",
            open.name,
            target.keyspace,
            crate::model::label(key),
            found.as_ref().map_or(0, |value| value.0.len())
        ));
        Ok((found != expected).then(|| Finding::ReadMismatch {
            transaction: open.name.clone(),
            read: format!("get {target:?} {:?}", crate::model::label(key)),
            expected: expected.as_ref().map_or("absent".into(), describe),
            found: found.as_ref().map_or("absent".into(), describe),
        }))
    }

    fn scan(
        &mut self,
        index: usize,
        target: &Target,
        handle: &Keyspace,
        (from, to): (u32, u32),
    ) -> keel::Result<Option<Finding>> {
        // Long keys sort after the short ones: order the bounds by bytes.
        let (lower, upper) = {
            let (a, b) = (key(from, self.long_keys), key(to, self.long_keys));
            if a <= b { (a, b) } else { (b, a) }
        };
        let open = &mut self.scheduler.open[index];
        let found: Vec<(Vec<u8>, Vec<u8>)> = open
            .transaction
            .range(handle, lower.as_slice()..upper.as_slice())?
            .map(|item| item.map(|(key, value)| (key.to_vec(), value.to_vec())))
            .collect::<keel::Result<_>>()?;
        let expected = open.expected_range(target, &lower, &upper);
        self.counts.reads_checked += 1;
        self.trace.event(format_args!(
            "{} scan {}/k{from:03}..k{to:03} -> {} keys",
            open.name,
            target.keyspace,
            found.len()
        ));
        Ok((found != expected).then(|| Finding::ReadMismatch {
            transaction: open.name.clone(),
            read: format!("scan {target:?} k{from:03}..k{to:03}"),
            expected: summarize(&expected),
            found: summarize(&found),
        }))
    }

    fn write(
        &mut self,
        index: usize,
        operation: Operation,
        target: &Target,
        handle: &Keyspace,
        key: Vec<u8>,
    ) -> keel::Result<Option<Finding>> {
        let value = self.value();
        let open = &mut self.scheduler.open[index];
        let written: Option<Value> = match operation {
            Operation::PutExpiring { live } => {
                let at = if live {
                    EXPIRES_LIVE_MS
                } else {
                    EXPIRES_PAST_MS
                };
                open.transaction
                    .put_expiring_at(handle, &key, value.clone(), at)?;
                live.then_some((value, Some(at)))
            }
            Operation::Delete => {
                open.transaction.delete(handle, &key)?;
                None
            }
            _ => {
                open.transaction.put(handle, &key, value.clone())?;
                Some((value, None))
            }
        };
        self.trace.event(format_args!(
            "{} {operation:?} {}/{} {}",
            open.name,
            target.keyspace,
            crate::model::label(&key),
            written.as_ref().map_or(0, |value| value.0.len())
        ));
        open.writes.insert((target.clone(), key), written);
        Ok(None)
    }

    fn commit(&mut self, index: usize) -> Result<(), Stop> {
        let open = self.scheduler.open.remove(index);
        let durable = self.durable(open.durability);
        let commit = Commit {
            effects: open.effects(),
            label: open.name.clone(),
        };
        let name = open.name.clone();
        let outcome = open.transaction.commit();
        self.trace.event(format_args!(
            "commit {name} ({} writes): {}",
            commit.effects.len(),
            outcome
                .as_ref()
                .map_or_else(ToString::to_string, |()| "ok".into())
        ));
        if commit.effects.is_empty() {
            // Read-only: nothing logged, nothing made durable.
            return match outcome {
                Ok(()) | Err(Error::Conflict { .. }) => Ok(()),
                Err(error) => Err(self.failed(&format!("commit {name}"), &error)),
            };
        }
        self.counts.commits_attempted += 1;
        match outcome {
            Ok(()) => {
                self.counts.commits_acknowledged += 1;
                self.model.acknowledge(commit, durable);
                Ok(())
            }
            Err(Error::Conflict { .. }) => {
                self.counts.conflicts += 1;
                Ok(())
            }
            Err(error) => {
                self.model.in_doubt(commit);
                Err(self.failed(&format!("commit {name}"), &error))
            }
        }
    }

    /// Prepares open transaction `index` under its name as global id: once
    /// acknowledged it must survive every crash until decided.
    fn prepare(&mut self, index: usize) -> Result<(), Stop> {
        let open = self.scheduler.open.remove(index);
        let commit = Commit {
            effects: open.effects(),
            label: format!("{} (prepared)", open.name),
        };
        let name = open.name.clone();
        let outcome = open.transaction.prepare(&name);
        self.trace.event(format_args!(
            "prepare {name} ({} writes): {}",
            commit.effects.len(),
            outcome
                .as_ref()
                .map_or_else(ToString::to_string, |_| "ok".into())
        ));
        match outcome {
            Ok(handle) => {
                self.counts.prepares += 1;
                // The prepare record is synced: with it everything logged
                // before it is durable (a commit acknowledged before it, or
                // a keyspace dropped and created again before it, is not
                // lost: recovery cannot give an older prefix whose state
                // looks the same but names another creation of a keyspace
                // this transaction wrote to).
                self.model.all_durable();
                self.prepared.push(Prepared {
                    global_id: name,
                    commit,
                    handle: Some(handle),
                    certain: true,
                });
                Ok(())
            }
            Err(Error::Conflict { .. }) => {
                self.counts.conflicts += 1;
                Ok(())
            }
            Err(error) => {
                // Perhaps durable: in doubt after the crash, or not.
                self.prepared.push(Prepared {
                    global_id: name.clone(),
                    commit,
                    handle: None,
                    certain: false,
                });
                Err(self.failed(&format!("prepare {name}"), &error))
            }
        }
    }

    /// Commits (mostly) or aborts a prepared transaction, through its
    /// handle or, when it has none (it was restored), by its global id.
    fn decide(&mut self) -> Result<(), Stop> {
        let index = self.rng.random_range(0..self.prepared.len());
        let commit = self.rng.random_bool(0.7);
        let mut prepared = self.prepared.remove(index);
        let global_id = prepared.global_id.clone();
        let outcome = match (prepared.handle.take(), commit) {
            (Some(handle), true) => handle.commit(),
            (Some(handle), false) => handle.abort(),
            (None, true) => self.db.commit_prepared(&global_id),
            (None, false) => self.db.abort_prepared(&global_id),
        };
        let decision = if commit { "commit" } else { "abort" };
        self.trace.event(format_args!(
            "{decision} prepared {global_id}: {}",
            outcome
                .as_ref()
                .map_or_else(ToString::to_string, |()| "ok".into())
        ));
        match outcome {
            Ok(()) if commit => {
                self.counts.commits_attempted += 1;
                self.counts.commits_acknowledged += 1;
                // The decision is synced: it is durable, and with it
                // everything logged before it.
                self.model.acknowledge(prepared.commit, true);
                Ok(())
            }
            Ok(()) => {
                // The abort is synced too.
                self.model.all_durable();
                Ok(())
            }
            Err(error) => {
                let stop = self.failed(&format!("{decision} prepared {global_id}"), &error);
                if commit {
                    self.counts.commits_attempted += 1;
                    self.model.in_doubt(prepared.commit.clone());
                }
                prepared.certain = false;
                self.prepared.push(prepared);
                Err(stop)
            }
        }
    }

    /// Records the outcome of a commit made by a database call (keyspace
    /// create, drop, load).
    fn catalog_commit(
        &mut self,
        commit: Commit,
        durable: bool,
        outcome: keel::Result<()>,
    ) -> Result<(), Stop> {
        self.trace.event(format_args!(
            "{}: {}",
            commit.label,
            outcome
                .as_ref()
                .map_or_else(ToString::to_string, |()| "ok".into())
        ));
        self.counts.commits_attempted += 1;
        match outcome {
            Ok(()) => {
                self.counts.commits_acknowledged += 1;
                self.counts.keyspace_changes += 1;
                self.model.acknowledge(commit, durable);
                Ok(())
            }
            Err(error) => {
                let during = commit.label.clone();
                self.model.in_doubt(commit);
                Err(self.failed(&during, &error))
            }
        }
    }

    fn create_keyspace(&mut self) -> Result<(), Stop> {
        let current = self.model.current();
        let missing: Vec<&str> = KEYSPACE_NAMES
            .into_iter()
            .filter(|name| !current.keyspaces.contains_key(*name))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let name = missing[self.rng.random_range(0..missing.len())];
        let target = Target {
            keyspace: name.to_string(),
            incarnation: self.model.next_incarnation(),
        };
        let commit = Commit {
            effects: vec![Effect::CreateKeyspace(target)],
            label: format!("create {name}"),
        };
        let outcome = self.db.keyspace(name).map(drop);
        self.catalog_commit(commit, self.durable(None), outcome)
    }

    fn drop_keyspace(&mut self) -> Result<(), Stop> {
        let current = self.model.current();
        let names: Vec<&String> = current
            .keyspaces
            .keys()
            .filter(|name| name.as_str() != DEFAULT_KEYSPACE)
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let name = names[self.rng.random_range(0..names.len())].clone();
        let commit = Commit {
            effects: vec![Effect::DropKeyspace(name.clone())],
            label: format!("drop {name}"),
        };
        let outcome = self.db.drop_keyspace(&name);
        self.catalog_commit(commit, self.durable(None), outcome)
    }

    /// Entries of a bulk load: a random subset of the keys, in order, some
    /// expiring (ahead: loaded; past: skipped by the loader).
    fn load_entries(&mut self) -> Vec<(Vec<u8>, Vec<u8>, Option<u64>)> {
        let density = self.rng.random_range(0.0..1.0);
        let mut entries = Vec::new();
        for index in 0..KEYS {
            if !self.rng.random_bool(density) {
                continue;
            }
            let expires = match self.rng.random_range(0..10) {
                0 => Some(EXPIRES_LIVE_MS),
                1 => Some(EXPIRES_PAST_MS),
                _ => None,
            };
            let value = self.value();
            entries.push((key(index, self.long_keys), value, expires));
        }
        // A load takes keys in byte order, which the long keys break.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }

    fn load(&mut self) -> Result<(), Stop> {
        let name = KEYSPACE_NAMES[self.rng.random_range(0..KEYSPACE_NAMES.len())];
        let entries = self.load_entries();
        self.trace
            .event(format_args!("load {name}: {} entries", entries.len()));
        let mut loader = match self.db.load_keyspace(name) {
            Ok(loader) => loader,
            Err(Error::KeyspaceBusy { .. }) => return Ok(()),
            Err(error) => return Err(self.failed("starting a load", &error)),
        };
        let mut live = BTreeMap::new();
        for (key, value, expires) in entries {
            if let Err(error) = loader.put(&key, &value, expires) {
                drop(loader);
                return Err(self.failed("loading", &error));
            }
            if expires != Some(EXPIRES_PAST_MS) {
                live.insert(key, (value, expires));
            }
        }
        let loaded = live.len() as u64;
        let commit = Commit {
            effects: vec![Effect::LoadKeyspace {
                target: Target {
                    keyspace: name.to_string(),
                    incarnation: self.model.next_incarnation(),
                },
                entries: live,
            }],
            label: format!("load {name}"),
        };
        let outcome = loader.finish().and_then(|report| {
            if report.entries == loaded {
                Ok(())
            } else {
                Err(Error::Internal(format!(
                    "the load reported {} entries, {loaded} were live",
                    report.entries
                )))
            }
        });
        // A finished load checkpointed and committed with `Sync`.
        self.catalog_commit(commit, true, outcome)?;
        self.counts.keyspace_changes -= 1;
        self.counts.loads += 1;
        Ok(())
    }
}

fn summarize(entries: &[(Vec<u8>, Vec<u8>)]) -> String {
    let keys: Vec<String> = entries
        .iter()
        .map(|(key, value)| format!("{}={}b", crate::model::label(key), value.len()))
        .collect();
    format!("[{}]", keys.join(" "))
}

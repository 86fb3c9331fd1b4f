//! Bulk load: a keyspace built straight into the B+tree from sorted
//! entries, bypassing the log, the delta store and the fold — each byte is
//! written once, to the page file — and made visible, whole, by one commit.
//!
//! How it stays atomic and crash-safe (docs/ARCHITECTURE.md, "Bulk load"):
//!
//! 1. [`Database::load_keyspace`] reserves a fresh keyspace id by bumping
//!    the catalog's next id in a `Sync` commit. No name points at the id
//!    yet, so no transaction can see its keys.
//! 2. Each [`KeyspaceLoader::put`] inserts one entry into the B+tree under
//!    the maintenance lock (the B+tree's one writer). Checkpoints may
//!    happen meanwhile and write some of the keys: they are invisible.
//! 3. [`KeyspaceLoader::finish`] checkpoints (every loaded page durable),
//!    then commits `name → id` with `Sync` durability. A keyspace already
//!    named so is replaced in the same commit; its old keys are removed.
//!
//! A crash before step 3's commit leaves keys under an id no name points
//! at: an orphan. The first fold after open removes orphans (the same
//! sweep removes the leftovers of a `drop_keyspace` a crash interrupted).
//! A crash after it finds the keyspace whole: its keys are in the
//! checkpoint, its name in the log or the checkpoint.

use std::collections::HashSet;
use std::ops::Bound;

use bytes::Bytes;

use crate::database::{Database, Shared, now_ms};
use crate::error::{Error, LimitKind, Location, Result};
use crate::keyspace::{self, Catalog, Keyspace};
use crate::log::{KEYSPACE_PREFIX_BYTES, join_key, keyspace_id};
use crate::maintenance;
use crate::storage::encode_value;

/// Keys removed per B+tree pass when an orphan or an abandoned load is
/// removed.
const REMOVE_BATCH_KEYS: usize = 1024;

/// What a finished load did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadReport {
    /// The loaded keyspace.
    pub keyspace: Keyspace,
    /// Entries written.
    pub entries: u64,
    /// Key and value bytes written.
    pub bytes: u64,
    /// Entries skipped because their expiry time had passed.
    pub expired_skipped: u64,
    /// Whether a keyspace of the same name was replaced.
    pub replaced: bool,
}

/// Builds a keyspace from entries in strictly ascending key order; see
/// [`Database::load_keyspace`]. Dropping it without [`finish`] abandons
/// the load and removes what it wrote.
///
/// [`finish`]: KeyspaceLoader::finish
#[derive(Debug)]
pub struct KeyspaceLoader<'db> {
    db: &'db Database,
    name: String,
    id: u32,
    previous: Option<Vec<u8>>,
    entries: u64,
    bytes: u64,
    expired_skipped: u64,
    key_bytes_max: usize,
    value_bytes_max: usize,
    finished: bool,
}

impl Database {
    /// Starts a bulk load of the keyspace `name`: entries given in strictly
    /// ascending key order go straight into the B+tree, written once,
    /// without the log or the delta store — several times faster than
    /// transactions for a large import. The keyspace appears whole when
    /// [`KeyspaceLoader::finish`] returns, and never in part: a crash or an
    /// abandoned load leaves nothing behind.
    ///
    /// When a keyspace called `name` exists, `finish` **replaces** it and
    /// everything in it, atomically: handles to the old one fail with
    /// [`Error::KeyspaceNotFound`]. Transactions that began before `finish`
    /// committed cannot use the loaded keyspace (they get
    /// [`Error::KeyspaceNotFound`]); ones that begin after see all of it.
    ///
    /// Loads run beside transactions; folds and checkpoints wait for each
    /// entry's insert.
    ///
    /// # Errors
    /// [`Error::InvalidKeyspaceName`]; [`Error::KeyspaceBusy`] when another
    /// load of `name` is under way; errors of the commit reserving its id.
    pub fn load_keyspace(&self, name: &str) -> Result<KeyspaceLoader<'_>> {
        self.check_writable()?;
        Catalog::validate(name)?;
        let id = {
            let mut loading = self.shared.loading.lock();
            if loading.values().any(|loading_name| loading_name == name) {
                return Err(Error::KeyspaceBusy {
                    name: name.to_string(),
                });
            }
            let id = keyspace::reserve_id(self)?;
            loading.insert(id, name.to_string());
            id
        };
        Ok(KeyspaceLoader {
            db: self,
            name: name.to_string(),
            id,
            previous: None,
            entries: 0,
            bytes: 0,
            expired_skipped: 0,
            key_bytes_max: self.shared.tree.key_bytes_max() - KEYSPACE_PREFIX_BYTES,
            value_bytes_max: self.shared.options.value_bytes_max,
            finished: false,
        })
    }
}

impl KeyspaceLoader<'_> {
    /// Adds `key` with `value`, expiring at `expires_at_ms` (milliseconds
    /// since the Unix epoch; `None`: never). An entry already expired is
    /// skipped. Keys must come in strictly ascending byte order.
    ///
    /// # Errors
    /// [`Error::UnsortedLoad`]; [`Error::LimitExceeded`] for a key or value
    /// over its limit; [`Error::Closed`]; [`Error::Poisoned`]; page
    /// errors ([`Error::Io`], [`Error::Corruption`]). The load can go on
    /// after an ordering or limit error (the entry was not written).
    pub fn put(&mut self, key: &[u8], value: &[u8], expires_at_ms: Option<u64>) -> Result<()> {
        if let Some(previous) = &self.previous
            && key <= previous.as_slice()
        {
            return Err(Error::UnsortedLoad {
                keyspace: self.name.clone(),
                key: String::from_utf8_lossy(key).into_owned(),
                entry: self.entries + self.expired_skipped,
            });
        }
        if key.len() > self.key_bytes_max {
            return Err(self.too_large(LimitKind::KeyBytes, self.key_bytes_max, key, key.len()));
        }
        if value.len() > self.value_bytes_max {
            let limit = self.value_bytes_max;
            return Err(self.too_large(LimitKind::ValueBytes, limit, key, value.len()));
        }
        if expires_at_ms.is_some_and(|at| at <= now_ms()) {
            self.expired_skipped += 1;
            self.previous = Some(key.to_vec());
            return Ok(());
        }
        self.db.check_open()?;
        let shared = &self.db.shared;
        if let Some(error) = shared.manager.poisoned() {
            return Err(Error::Poisoned(error.to_string()));
        }
        let joined = join_key(self.id, key);
        let stored = encode_value(value, expires_at_ms);
        {
            let _writer = shared.maintenance.lock();
            shared.tree.insert(&joined, &stored)?;
        }
        self.entries += 1;
        self.bytes += (key.len() + value.len()) as u64;
        self.previous = Some(key.to_vec());
        Ok(())
    }

    fn too_large(&self, kind: LimitKind, limit: usize, key: &[u8], size: usize) -> Error {
        Error::LimitExceeded {
            kind,
            limit: limit as u64,
            size: size as u64,
            key: Some(Bytes::copy_from_slice(key)),
        }
    }

    /// Entries written so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Makes the load durable and visible: checkpoints, then commits the
    /// keyspace's name (replacing a keyspace of that name) and waits for
    /// the commit's fsync.
    ///
    /// # Errors
    /// Checkpoint and commit errors; the load is abandoned then (nothing
    /// of it stays, now or after a crash).
    pub fn finish(mut self) -> Result<LoadReport> {
        self.db.check_open()?;
        maintenance::checkpoint(&self.db.shared)?;
        let (keyspace, replaced) = Catalog::install(self.db, &self.name, self.id)?;
        self.finished = true;
        self.db.shared.loading.lock().remove(&self.id);
        if let Some(old) = &replaced {
            Catalog::remove_keys(self.db, old)?;
        }
        Ok(LoadReport {
            keyspace,
            entries: self.entries,
            bytes: self.bytes,
            expired_skipped: self.expired_skipped,
            replaced: replaced.is_some(),
        })
    }
}

impl Drop for KeyspaceLoader<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Abandoned: its keys are invisible; take them out now (or, if that
        // fails, the sweep after the next open does).
        let shared = &self.db.shared;
        let removed = {
            let _writer = shared.maintenance.lock();
            remove_id(shared, self.id)
        };
        shared.loading.lock().remove(&self.id);
        if let Err(error) = removed {
            tracing::warn!(%error, keyspace = %self.name, "removing an abandoned load failed; the next open removes it");
        }
    }
}

/// Removes every key of keyspace `id` from the B+tree directly. The caller
/// holds the maintenance lock, and no transaction can reach the id (no
/// name points at it).
fn remove_id(shared: &Shared, id: u32) -> Result<u64> {
    let lower = join_key(id, &[]);
    let upper = match id.checked_add(1) {
        Some(next) => Bound::Excluded(join_key(next, &[])),
        None => Bound::Unbounded,
    };
    let mut removed = 0;
    loop {
        let keys: Vec<Bytes> = shared
            .tree
            .range::<Bytes>((Bound::Included(lower.clone()), upper.clone()))
            .take(REMOVE_BATCH_KEYS)
            .map(|entry| entry.map(|(key, _)| key))
            .collect::<keel_btree::Result<_>>()?;
        for key in &keys {
            shared.tree.delete(key)?;
        }
        removed += keys.len() as u64;
        if keys.len() < REMOVE_BATCH_KEYS {
            return Ok(removed);
        }
    }
}

/// The keyspace ids in the B+tree that neither the catalog nor a load
/// under way names: the leftovers of a load or a `drop_keyspace` that a
/// crash interrupted. One seek per id present. The caller holds the
/// maintenance lock.
/// The keyspace ids whose keys may be in the base: the catalog's, the
/// loads under way, and the catalog itself.
pub(crate) fn live_ids(shared: &Shared) -> HashSet<u32> {
    // Loads first: a load leaves the set only once the catalog names it.
    let mut live: HashSet<u32> = shared.loading.lock().keys().copied().collect();
    live.extend(shared.catalog.read().ids());
    live.insert(keyspace::CATALOG);
    live
}

pub(crate) fn orphan_ids(shared: &Shared) -> Result<Vec<u32>> {
    let mut known = live_ids(shared);
    known.extend(shared.dropped.lock().iter().copied());
    let mut orphans = Vec::new();
    let mut next = Some(0u32);
    while let Some(from) = next {
        let first = shared
            .tree
            .range::<Bytes>((Bound::Included(join_key(from, &[])), Bound::Unbounded))
            .next()
            .transpose()?;
        let Some((key, _)) = first else {
            break;
        };
        let Some(id) = keyspace_id(&key) else {
            let problem = format!(
                "a key of {} bytes in the B+tree, shorter than its keyspace prefix",
                key.len()
            );
            return Err(Error::corruption("pages", Location::File, problem));
        };
        if !known.contains(&id) {
            orphans.push(id);
        }
        next = id.checked_add(1);
    }
    Ok(orphans)
}

/// Removes the keys of every orphaned keyspace id ([`orphan_ids`]). The
/// caller holds the maintenance lock. Returns the keys removed.
pub(crate) fn sweep_orphans(shared: &Shared) -> Result<u64> {
    let mut removed = 0;
    for id in orphan_ids(shared)? {
        let count = remove_id(shared, id)?;
        tracing::info!(
            keyspace_id = id,
            keys = count,
            "removed keys no keyspace names (an interrupted load or drop)"
        );
        removed += count;
    }
    Ok(removed)
}

//! Keyspaces: named, independent key ranges of one database.
//!
//! Every key inside the engine is `keyspace id (u32, big-endian) ‖ user
//! key`, so one B+tree and one delta store hold them all and a keyspace is
//! a contiguous range. The catalog lives in keyspace 0, written by ordinary
//! transactions (so it is logged, recovered and checkpointed like data):
//!
//! ```text
//! 0x01 ‖ name  → id (u32 LE)      a keyspace
//! 0x02         → next id (u32 LE)
//! ```
//!
//! Ids are never reused, so a dropped keyspace's keys can be removed in the
//! background without racing a new keyspace of the same name.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use keel_mvcc::{Direction, Isolation, TransactionManager};

use crate::database::Database;
use crate::error::{Error, Result};
use crate::log::join_key;
use crate::options::KEYSPACE_NAME_BYTES_MAX;

pub(crate) const CATALOG: u32 = 0;
/// The catalog's entries, by their first byte: a keyspace's name → its id,
/// the next keyspace id, the database's identity (`identity.rs`).
const NAME_TAG: u8 = 1;
const NEXT_ID_TAG: u8 = 2;
pub(crate) const IDENTITY_TAG: u8 = 3;
/// The id of the keyspace named [`DEFAULT_KEYSPACE`].
const DEFAULT_ID: u32 = 1;
/// The keyspace every database has.
pub const DEFAULT_KEYSPACE: &str = "default";
/// Keys removed per transaction when a dropped keyspace is emptied.
const DROP_BATCH_KEYS: usize = 1000;

/// A handle on a keyspace. Cheap to clone; valid until the keyspace is
/// dropped.
#[derive(Debug, Clone)]
pub struct Keyspace {
    pub(crate) id: u32,
    /// The identity of the open database it belongs to: another database
    /// refuses it.
    pub(crate) database: u64,
    name: Arc<str>,
    dropped: Arc<AtomicBool>,
    /// The commit timestamp before which transactions may not use it (a
    /// bulk-loaded keyspace: its keys are not versioned); 0 for others.
    visible_from: u64,
}

impl Keyspace {
    /// The keyspace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a transaction reading at `read_timestamp` may use it.
    pub(crate) fn check(&self, read_timestamp: u64) -> Result<()> {
        if self.dropped.load(Ordering::Acquire) || read_timestamp < self.visible_from {
            return Err(Error::KeyspaceNotFound {
                name: self.name.to_string(),
            });
        }
        Ok(())
    }
}

/// The keyspaces by name, as committed.
#[derive(Debug)]
pub(crate) struct Catalog {
    /// The identity of the open database (stamped into every handle).
    database: u64,
    by_name: BTreeMap<String, Keyspace>,
}

fn name_key(name: &str) -> Bytes {
    let mut key = vec![NAME_TAG];
    key.extend_from_slice(name.as_bytes());
    join_key(CATALOG, &key)
}

fn next_id_key() -> Bytes {
    join_key(CATALOG, &[NEXT_ID_TAG])
}

fn decode_id(value: &[u8]) -> Result<u32> {
    let bytes: [u8; 4] = value.try_into().map_err(|_| {
        let problem = format!("a catalog entry of {} bytes, not 4", value.len());
        Error::corruption("pages", crate::error::Location::Catalog, problem)
    })?;
    Ok(u32::from_le_bytes(bytes))
}

/// Every keyspace id up to `u32::MAX` has been handed out.
fn ids_exhausted(next: u32) -> Error {
    let limit = u64::from(u32::MAX);
    Error::limit(
        crate::error::LimitKind::KeyspaceIds,
        limit,
        u64::from(next) + 1,
    )
}

fn handle(database: u64, id: u32, name: &str) -> Keyspace {
    Keyspace {
        id,
        database,
        name: Arc::from(name),
        dropped: Arc::new(AtomicBool::new(false)),
        visible_from: 0,
    }
}

/// Takes a fresh keyspace id for a bulk load, in a commit that waits for
/// its fsync: no key of it reaches the page file before the id is durably
/// taken, so the id is never handed out again, even after a crash.
pub(crate) fn reserve_id(db: &Database) -> Result<u32> {
    db.update(|transaction| {
        transaction.set_durability(crate::Durability::Sync);
        let raw = transaction.raw();
        let next = match raw.get(&next_id_key())? {
            Some(value) => decode_id(&value)?,
            None => DEFAULT_ID + 1,
        };
        let after = next.checked_add(1).ok_or_else(|| ids_exhausted(next))?;
        raw.put(&next_id_key(), Bytes::copy_from_slice(&after.to_le_bytes()))?;
        Ok(next)
    })
}

impl Catalog {
    /// Reads the catalog; creates the default keyspace in a new database
    /// (when it may write; a read-only one has an empty default keyspace).
    pub(crate) fn load(
        manager: &TransactionManager,
        database: u64,
        may_write: bool,
    ) -> Result<Catalog> {
        // The catalog has no expiring entries: no idle watermark advance
        // (whose timestamp would cost a read-only open a mark's syncs).
        let mut transaction = manager.begin_at_watermark(Isolation::Serializable);
        let lower = join_key(CATALOG, &[NAME_TAG]);
        let upper = join_key(CATALOG, &[NAME_TAG + 1]);
        let mut by_name = BTreeMap::new();
        for entry in transaction.range(lower.as_ref()..upper.as_ref(), Direction::Forward)? {
            let (key, value) = entry?;
            let name = String::from_utf8_lossy(&key[5..]).into_owned();
            let id = decode_id(&value)?;
            by_name.insert(name.clone(), handle(database, id, &name));
        }
        if !by_name.contains_key(DEFAULT_KEYSPACE) && may_write {
            transaction.put(
                &name_key(DEFAULT_KEYSPACE),
                Bytes::copy_from_slice(&DEFAULT_ID.to_le_bytes()),
            )?;
            transaction.put(
                &next_id_key(),
                Bytes::copy_from_slice(&(DEFAULT_ID + 1).to_le_bytes()),
            )?;
            transaction.commit()?;
            by_name.insert(
                DEFAULT_KEYSPACE.to_string(),
                handle(database, DEFAULT_ID, DEFAULT_KEYSPACE),
            );
        } else {
            transaction.rollback();
        }
        Ok(Catalog { database, by_name })
    }

    pub(crate) fn get(&self, name: &str) -> Option<Keyspace> {
        self.by_name.get(name).cloned()
    }

    pub(crate) fn default_keyspace(&self) -> Keyspace {
        self.by_name
            .get(DEFAULT_KEYSPACE)
            .cloned()
            .unwrap_or_else(|| handle(self.database, DEFAULT_ID, DEFAULT_KEYSPACE))
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// The name of keyspace `id`, for messages: `(catalog)` for the
    /// catalog, `(keyspace id N)` for an id no name points at (dropped).
    pub(crate) fn name_of(&self, id: u32) -> String {
        if id == CATALOG {
            return "(catalog)".to_string();
        }
        self.by_name
            .values()
            .find(|keyspace| keyspace.id == id)
            .map_or_else(
                || format!("(keyspace id {id})"),
                |keyspace| keyspace.name().to_string(),
            )
    }

    /// The ids of the keyspaces.
    pub(crate) fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_name.values().map(|keyspace| keyspace.id)
    }

    pub(crate) fn validate(name: &str) -> Result<()> {
        let reason = if name.is_empty() {
            "empty"
        } else if name.len() > KEYSPACE_NAME_BYTES_MAX {
            "longer than 255 bytes"
        } else {
            return Ok(());
        };
        Err(Error::InvalidKeyspaceName {
            name: name.to_string(),
            reason,
        })
    }

    /// Creates `name` (or finds it, if another thread created it first).
    pub(crate) fn create(db: &Database, name: &str) -> Result<Keyspace> {
        Self::validate(name)?;
        let mut catalog = db.shared.catalog.write();
        if let Some(keyspace) = catalog.get(name) {
            return Ok(keyspace);
        }
        if db
            .shared
            .loading
            .lock()
            .values()
            .any(|loading| loading == name)
        {
            return Err(Error::KeyspaceBusy {
                name: name.to_string(),
            });
        }
        let id = db.update(|transaction| {
            let raw = transaction.raw();
            if let Some(existing) = raw.get(&name_key(name))? {
                return decode_id(&existing);
            }
            let next = match raw.get(&next_id_key())? {
                Some(value) => decode_id(&value)?,
                None => DEFAULT_ID + 1,
            };
            let after = next.checked_add(1).ok_or_else(|| ids_exhausted(next))?;
            raw.put(&name_key(name), Bytes::copy_from_slice(&next.to_le_bytes()))?;
            raw.put(&next_id_key(), Bytes::copy_from_slice(&after.to_le_bytes()))?;
            Ok(next)
        })?;
        let keyspace = handle(catalog.database, id, name);
        catalog.by_name.insert(name.to_string(), keyspace.clone());
        Ok(keyspace)
    }

    /// Removes `name` from the catalog, then its keys in batches.
    pub(crate) fn drop_keyspace(db: &Database, name: &str) -> Result<()> {
        let keyspace = {
            let mut catalog = db.shared.catalog.write();
            let keyspace = catalog.get(name).ok_or_else(|| Error::KeyspaceNotFound {
                name: name.to_string(),
            })?;
            db.update(|transaction| {
                transaction.raw().delete(&name_key(name))?;
                Ok(())
            })?;
            keyspace.dropped.store(true, Ordering::Release);
            db.shared.dropped.lock().insert(keyspace.id);
            catalog.by_name.remove(name);
            keyspace
        };
        Self::remove_keys(db, &keyspace)
    }

    /// Points `name` at the bulk-loaded keyspace `id`, replacing a keyspace
    /// of that name, in one commit that waits for its fsync. Returns the
    /// new handle and the replaced keyspace (its keys still to remove).
    pub(crate) fn install(
        db: &Database,
        name: &str,
        id: u32,
    ) -> Result<(Keyspace, Option<Keyspace>)> {
        let mut catalog = db.shared.catalog.write();
        let replaced = catalog.get(name);
        let mut transaction = db.shared.manager.begin(Isolation::Serializable);
        transaction.set_log_hint(crate::Durability::Sync.hint());
        transaction.put(&name_key(name), Bytes::copy_from_slice(&id.to_le_bytes()))?;
        let committed = transaction.commit()?;
        let visible_from = committed
            .commit_timestamp
            .map_or(0, keel_tso::Timestamp::as_u64);
        if let Some(old) = &replaced {
            old.dropped.store(true, Ordering::Release);
            db.shared.dropped.lock().insert(old.id);
        }
        let keyspace = Keyspace {
            visible_from,
            ..handle(catalog.database, id, name)
        };
        catalog.by_name.insert(name.to_string(), keyspace.clone());
        Ok((keyspace, replaced))
    }

    /// Removes the keys of a keyspace no name points at any more, in
    /// batches of transactions. The id is never reused, so nothing can
    /// write these keys again (a transaction that wrote before the drop
    /// may still commit: folds drop writes to ids no name points at). A
    /// prepared (two-phase commit) transaction holding keys of it stops
    /// the removal at once (it may hold them long): what is left is an
    /// orphan that the first fold after the next open removes.
    pub(crate) fn remove_keys(db: &Database, keyspace: &Keyspace) -> Result<()> {
        let lower = join_key(keyspace.id, &[]);
        let upper = join_key(keyspace.id + 1, &[]);
        let mut attempt = 0;
        loop {
            let mut transaction = db.begin(crate::Isolation::Serializable);
            let raw = transaction.raw();
            let keys: Vec<Bytes> = raw
                .range(lower.as_ref()..upper.as_ref(), Direction::Forward)?
                .take(DROP_BATCH_KEYS)
                .map(|entry| entry.map(|(key, _)| key))
                .collect::<keel_mvcc::Result<_>>()?;
            for key in &keys {
                raw.delete(key)?;
            }
            match transaction.commit() {
                Ok(()) if keys.len() < DROP_BATCH_KEYS => return Ok(()),
                Ok(()) => attempt = 0,
                Err(Error::Conflict {
                    kind: keel_mvcc::ConflictKind::HeldByPrepared { .. },
                    ..
                }) => {
                    tracing::info!(
                        keyspace = keyspace.name(),
                        "a prepared transaction holds keys of a dropped keyspace: the rest is removed after the next open"
                    );
                    return Ok(());
                }
                Err(Error::Conflict { .. }) if attempt + 1 < crate::UPDATE_ATTEMPTS_MAX => {
                    crate::backoff(attempt);
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

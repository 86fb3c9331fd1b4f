//! The sweep: removes the elements of collections that no key names any
//! more — deleted, overwritten, expired or flushed, all of which only
//! drop the key's type record (docs/FORMAT.md, "Data types") — in
//! batches, on a background thread, which also publishes the keyspace
//! `expired` events (`expiry_watch.rs`).
//!
//! A version is live when its header's owner key, in some database,
//! holds a type record naming it. A dead version never comes back: a
//! type record naming a version is only ever written by the transaction
//! that creates the version (a fresh one, unused by any stored element)
//! or moves its record (RENAME, MOVE, SWAPDB), which reads it live. The
//! sweep holds every database slot shared, so SWAPDB and a large
//! FLUSHDB's recreation wait for a step, and each step judges liveness
//! and deletes in one transaction.

use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keel::{Durability, Isolation, Transaction, UpdateOptions};

use super::backend::{Shared, read};
use super::expiry_watch::EXPIRY_CHECK_INTERVAL;
use crate::commands::encoding::{HEADER_TAG, Header, TypeRecord, element_prefix, is_header_key};

/// Elements one sweep transaction deletes at most.
pub const SWEEP_BATCH_ELEMENTS: usize = 4096;

/// How often the background sweep runs, by default.
pub const SWEEP_INTERVAL_DEFAULT: Duration = Duration::from_secs(1);

/// Conflicting attempts of one sweep step before it is left for the
/// next pass.
const SWEEP_ATTEMPTS_MAX: u32 = 4;

/// What one step did.
struct Step {
    /// Elements deleted (the header included).
    deleted: u64,
    /// The version to look at next; `None` when the pass is over.
    next: Option<u64>,
}

impl Shared {
    /// One pass over the elements keyspace: deletes every dead version's
    /// elements; returns how many.
    pub(crate) fn sweep(&self) -> Result<u64, keel::Error> {
        let mut next = Some(0);
        let mut deleted = 0;
        while let Some(from) = next {
            let step = self.sweep_step(from)?;
            deleted += step.deleted;
            next = step.next;
        }
        Ok(deleted)
    }

    /// Looks at the first version at or after `from`: a live one is
    /// passed; a dead one loses up to [`SWEEP_BATCH_ELEMENTS`] elements,
    /// its header last, and is looked at again until it is gone.
    fn sweep_step(&self, from: u64) -> Result<Step, keel::Error> {
        let slots: Vec<_> = self.slots.iter().map(read).collect();
        let options = UpdateOptions {
            isolation: Isolation::Serializable,
            attempts: SWEEP_ATTEMPTS_MAX,
            durability: Some(Durability::None),
        };
        self.database.update_with(&options, |transaction| {
            let elements = &self.elements_keyspace;
            let first = transaction
                .range(elements, from.to_be_bytes().as_slice()..)?
                .next()
                .transpose()?;
            let Some((key, value)) = first else {
                return Ok(Step {
                    deleted: 0,
                    next: None,
                });
            };
            let mut version = [0u8; 8];
            version.copy_from_slice(&key[..8]);
            let version = u64::from_be_bytes(version);
            let header = is_header_key(&key)
                .then(|| Header::decode(&value))
                .flatten();
            let keyspaces = slots.iter().map(|slot| &slot.keyspace);
            if let Some(header) = header
                && is_live(transaction, keyspaces, &header, version)?
            {
                return Ok(Step {
                    deleted: 0,
                    next: version.checked_add(1),
                });
            }
            delete_batch(transaction, elements, version)
        })
    }
}

/// Whether some database's `header.owner` holds a type record naming
/// `version`.
fn is_live<'a>(
    transaction: &Transaction,
    keyspaces: impl Iterator<Item = &'a keel::Keyspace>,
    header: &Header,
    version: u64,
) -> Result<bool, keel::Error> {
    for keyspace in keyspaces {
        let record = transaction.get(keyspace, &header.owner)?;
        if record
            .as_deref()
            .and_then(TypeRecord::decode)
            .is_some_and(|record| record.version == version)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Deletes up to a batch of `version`'s elements, the header (its first
/// key) only with the last of them.
fn delete_batch(
    transaction: &mut Transaction,
    elements: &keel::Keyspace,
    version: u64,
) -> Result<Step, keel::Error> {
    let start = element_prefix(version, HEADER_TAG);
    let end = version.checked_add(1).map(u64::to_be_bytes);
    let bounds = (
        Bound::Included(start.as_slice()),
        end.as_ref()
            .map_or(Bound::Unbounded, |end| Bound::Excluded(end.as_slice())),
    );
    let keys: Vec<bytes::Bytes> = transaction
        .keys(elements, bounds)?
        .take(SWEEP_BATCH_ELEMENTS + 1)
        .collect::<Result<_, _>>()?;
    let last_batch = keys.len() <= SWEEP_BATCH_ELEMENTS;
    let has_header = keys.first().is_some_and(|key| is_header_key(key));
    let skip = usize::from(has_header && !last_batch);
    let mut deleted = 0;
    for key in keys.iter().skip(skip).take(SWEEP_BATCH_ELEMENTS) {
        transaction.delete(elements, key)?;
        deleted += 1;
    }
    let next = if last_batch {
        version.checked_add(1)
    } else {
        Some(version)
    };
    Ok(Step { deleted, next })
}

/// The background sweep's thread and how to stop it.
#[derive(Debug, Default)]
pub(crate) struct Sweeper {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Sweeper {
    /// Starts the thread: it sweeps `shared` every `interval` (never when
    /// `None`) and looks for expired keys to notify every
    /// [`EXPIRY_CHECK_INTERVAL`], until stopped or until `shared` is gone.
    pub(crate) fn start(
        &self,
        shared: Weak<Shared>,
        interval: Option<Duration>,
    ) -> std::io::Result<()> {
        let stop = Arc::clone(&self.stop);
        let thread = std::thread::Builder::new()
            .name("keel-sweep".to_owned())
            .spawn(move || {
                let mut last_sweep = Instant::now();
                loop {
                    let (flag, wake) = &*stop;
                    let stopped = flag.lock().unwrap_or_else(PoisonError::into_inner);
                    let wait = interval.map_or(EXPIRY_CHECK_INTERVAL, |interval| {
                        interval.min(EXPIRY_CHECK_INTERVAL)
                    });
                    let (stopped, _) = wake
                        .wait_timeout(stopped, wait)
                        .unwrap_or_else(PoisonError::into_inner);
                    if *stopped {
                        return;
                    }
                    drop(stopped);
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    if let Err(error) = shared.fire_expired() {
                        tracing::warn!(%error, "looking for expired keys to notify failed; it runs again");
                    }
                    if interval.is_some_and(|interval| last_sweep.elapsed() >= interval) {
                        last_sweep = Instant::now();
                        if let Err(error) = shared.sweep() {
                            tracing::warn!(%error, "the sweep of deleted collections failed; it runs again");
                        }
                    }
                }
            })?;
        *self.thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread);
        Ok(())
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(&self) {
        let (flag, wake) = &*self.stop;
        *flag.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the sweep thread panicked");
        }
    }
}

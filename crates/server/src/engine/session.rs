//! [`KeelSession`]: one connection's data commands, its WATCH and its
//! MULTI blocks, over the shared backend.

use std::sync::{Arc, RwLockReadGuard};

use bytes::Bytes;
use keel::{Isolation, Transaction, UpdateOptions};

use super::backend::{COMMAND_ATTEMPTS_MAX, Shared, Slot, error_reply, now_ms, read};
use super::run::{Held, Output};
use super::store::Committed;
use crate::backend::{ClientId, DatabaseIndex, ScriptCalls, Session};
use crate::commands::Request;
use crate::resp::{EncodedReplies, Reply};

/// An open WATCH: the transaction that read the watched keys.
pub(crate) struct Watch {
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
    /// The session of connection `client`.
    pub(crate) fn new(shared: Arc<Shared>, client: ClientId) -> KeelSession {
        KeelSession {
            shared,
            client,
            watch: None,
        }
    }

    /// EXEC in the WATCH transaction: nil when anything it read changed.
    fn execute_watched(
        &self,
        mut watch: Watch,
        held: &Held<'_>,
        requests: &[Request],
    ) -> Option<Vec<Reply>> {
        if let Some(error) = &watch.failure {
            tracing::debug!(%error, client = self.client, "EXEC: WATCH failed");
            return None;
        }
        let Held::All(slots) = held else {
            return None;
        };
        let now_ms = now_ms();
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
        let mut output = Output::Values(Vec::with_capacity(requests.len()));
        let ran = self
            .shared
            .run_in(&mut watch.transaction, held, requests, &mut output);
        let (committed, wrote) = match ran {
            Ok(ran) => ran,
            Err(error) => {
                watch.transaction.rollback();
                return refused_block(&error, requests.len());
            }
        };
        let replies = output.into_values();
        if !wrote {
            // A transaction that wrote nothing commits without validating
            // its reads; one deletion of a key that never exists makes it
            // validate them.
            let key = self.client.to_be_bytes();
            if let Err(error) = watch.transaction.delete(&self.shared.watch_keyspace, key) {
                watch.transaction.rollback();
                return refused_block(&error, requests.len());
            }
        }
        let committing = std::time::Instant::now();
        match watch.transaction.commit() {
            Ok(()) => {
                let us = u64::try_from(committing.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.shared.commit_latency.record(us);
                self.shared.publish_committed(&committed);
                Some(replies)
            }
            Err(error) => refused_block(&error, requests.len()),
        }
    }

    /// Whether a watched key's database changed as a whole since WATCH in
    /// a way Redis counts as touching the key: it was recreated (keel
    /// cannot tell, so yes), or swapped (SWAPDB) and the key was live then
    /// or is live now (Redis's `touchAllWatchedKeysInDb`).
    fn touched(&self, watched: &WatchedKey, slots: &[RwLockReadGuard<'_, Slot>]) -> bool {
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
    fn execute_unwatched(&self, held: &Held<'_>, requests: &[Request]) -> Option<Vec<Reply>> {
        let options = UpdateOptions {
            isolation: Isolation::Serializable,
            attempts: COMMAND_ATTEMPTS_MAX,
            durability: None,
        };
        let mut output = Output::Values(Vec::with_capacity(requests.len()));
        let outcome = self.shared.update_timed(&options, |transaction| {
            self.shared.run_in(transaction, held, requests, &mut output)
        });
        match outcome {
            Ok((committed, _)) => {
                self.shared.publish_committed(&committed);
                Some(output.into_values())
            }
            Err(keel::Error::TooManyConflicts { .. }) => None,
            Err(error) => refused_block(&error, requests.len()),
        }
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

/// Why a script's transaction did not commit.
enum ScriptStop {
    /// The script was killed: nothing it wrote stays.
    Rolledback,
    /// The store failed.
    Engine(keel::Error),
}

impl From<keel::Error> for ScriptStop {
    fn from(error: keel::Error) -> ScriptStop {
        ScriptStop::Engine(error)
    }
}

/// A script's commands in its transaction.
struct ScriptTransaction<'a> {
    shared: &'a Shared,
    transaction: &'a mut Transaction,
    held: &'a Held<'a>,
    /// The store's first failure: the transaction must not commit, and
    /// every later command fails with it.
    failure: Option<keel::Error>,
    after: &'a mut Committed,
}

impl ScriptCalls for ScriptTransaction<'_> {
    fn call(&mut self, request: &Request) -> Reply {
        if let Some(error) = &self.failure {
            return error_reply(error);
        }
        if request.spec.has(crate::commands::CommandFlags::EXCLUSIVE) {
            // They need every database exclusively, which a running script
            // (holding them shared) cannot take.
            return Reply::error(format!(
                "ERR keel does not run '{}' inside a script",
                request.spec.full_name()
            ));
        }
        let mut output = Output::Values(Vec::with_capacity(1));
        match self.shared.run_in(
            self.transaction,
            self.held,
            std::slice::from_ref(request),
            &mut output,
        ) {
            Ok((after, _)) => {
                self.after.extend(after);
                output.into_values().pop().unwrap_or(Reply::NullBulk)
            }
            Err(error) => {
                let reply = error_reply(&error);
                self.failure = Some(error);
                reply
            }
        }
    }
}

impl Session for KeelSession {
    fn execute(&mut self, request: &Request) -> Reply {
        self.shared.run_command(request)
    }

    fn execute_pipeline(&mut self, requests: &[Request], replies: &mut EncodedReplies) {
        if self.shared.run_pipeline(requests, replies) {
            return;
        }
        for request in requests {
            replies.push(&self.shared.run_command(request), request.protocol);
        }
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

    fn execute_script(
        &mut self,
        script: &mut dyn FnMut(&mut dyn ScriptCalls) -> bool,
    ) -> Result<(), Reply> {
        // Every database shared: a script may SELECT any of them.
        let mut held = Held::All(self.shared.slots.iter().map(read).collect());
        let options = UpdateOptions {
            isolation: Isolation::Serializable,
            attempts: COMMAND_ATTEMPTS_MAX,
            durability: None,
        };
        let mut after = Committed::default();
        let shared = &self.shared;
        let held_ref = &held;
        let outcome =
            shared
                .database
                .update_with(&options, |transaction| -> Result<(), ScriptStop> {
                    after.clear();
                    let mut calls = ScriptTransaction {
                        shared,
                        transaction,
                        held: held_ref,
                        failure: None,
                        after: &mut after,
                    };
                    let commit = script(&mut calls);
                    if let Some(error) = calls.failure.take() {
                        return Err(ScriptStop::Engine(error));
                    }
                    if commit {
                        Ok(())
                    } else {
                        Err(ScriptStop::Rolledback)
                    }
                });
        match outcome {
            Ok(()) => self
                .shared
                .after_commit(&mut held, &after)
                .map_err(|error| error_reply(&error)),
            Err(ScriptStop::Rolledback) => Ok(()),
            Err(ScriptStop::Engine(error)) => Err(error_reply(&error)),
        }
    }

    fn execute_transaction(&mut self, requests: &[Request]) -> Option<Vec<Reply>> {
        let watch = self.watch.take();
        // Every database shared, in ascending order (FLUSHALL takes them
        // exclusively in the same order).
        let held = Held::All(self.shared.slots.iter().map(read).collect());
        match watch {
            Some(watch) => self.execute_watched(watch, &held, requests),
            None => self.execute_unwatched(&held, requests),
        }
    }
}

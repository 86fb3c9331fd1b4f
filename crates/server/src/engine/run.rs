//! Running data commands in keel transactions: one command, a pipelined
//! group, a MULTI block. One retry helper, the engine's
//! [`Database::update_with`](keel::Database::update_with); a command that
//! cannot write reads one snapshot ([`Database::view`](keel::Database::view)):
//! it tracks no reads and never conflicts.

use std::sync::{RwLockReadGuard, RwLockWriteGuard};

use keel::{Isolation, Keyspace, Transaction, UpdateOptions};

use super::backend::{PIPELINE_ATTEMPTS_MAX, Shared, Slot, error_reply, now_ms, read, write};
use super::store::{AfterCommit, EngineStore, Keyspaces};
use crate::backend::DatabaseIndex;
use crate::commands::{CommandFlags, CommandId, Request, run_data};
use crate::resp::Reply;

/// The databases a command or group holds while it runs.
pub(crate) enum Held<'a> {
    /// One database, shared.
    One(DatabaseIndex, RwLockReadGuard<'a, Slot>),
    /// Every database, shared, in ascending order.
    All(Vec<RwLockReadGuard<'a, Slot>>),
    /// Every database, exclusively, in ascending order (FLUSHDB,
    /// FLUSHALL, SWAPDB: they replace databases as a whole).
    Exclusive(Vec<RwLockWriteGuard<'a, Slot>>),
}

impl Held<'_> {
    /// The keyspaces held, by database index.
    fn keyspaces(&self) -> Vec<&Keyspace> {
        match self {
            Held::One(_, slot) => vec![&slot.keyspace],
            Held::All(slots) => slots.iter().map(|slot| &slot.keyspace).collect(),
            Held::Exclusive(slots) => slots.iter().map(|slot| &slot.keyspace).collect(),
        }
    }
}

/// The isolation of a group: serializable if anything in it may write.
fn isolation_of(requests: &[Request]) -> Option<Isolation> {
    requests
        .iter()
        .any(|request| request.spec.has(CommandFlags::WRITE))
        .then_some(Isolation::Serializable)
}

impl Shared {
    /// Takes what `requests` need: one database shared when they all run
    /// in it, every database exclusively for a command that replaces
    /// databases, every database shared otherwise.
    pub(crate) fn hold(&self, requests: &[Request]) -> Option<Held<'_>> {
        if requests
            .iter()
            .any(|request| request.spec.has(CommandFlags::EXCLUSIVE))
        {
            return Some(Held::Exclusive(self.slots.iter().map(write).collect()));
        }
        let first = requests.first()?.database;
        let one = requests.iter().all(|request| {
            request.database == first && !request.spec.has(CommandFlags::ALL_DATABASES)
        });
        if one {
            return Some(Held::One(first, read(self.slot(first)?)));
        }
        Some(Held::All(self.slots.iter().map(read).collect()))
    }

    /// Runs `requests` in `transaction` over the databases held; `Err`
    /// when the store failed (the transaction must not commit).
    pub(crate) fn run_in(
        &self,
        transaction: &mut Transaction,
        held: &Held<'_>,
        requests: &[Request],
    ) -> Result<(Vec<Reply>, Vec<AfterCommit>, bool), keel::Error> {
        let all = held.keyspaces();
        let keyspaces = match held {
            Held::One(index, _) => Keyspaces::One(*index, all[0]),
            _ => Keyspaces::All(&all),
        };
        let mut store = EngineStore::new(transaction, keyspaces, now_ms());
        if matches!(held, Held::Exclusive(_)) {
            store = store.exclusive(&self.databases_keyspace);
        }
        let mut replies = Vec::with_capacity(requests.len());
        for request in requests {
            replies.push(run_data(&mut store, request, &self.options.limits));
            if let Some(error) = store.take_failure() {
                return Err(error);
            }
        }
        let wrote = store.wrote();
        Ok((replies, store.take_after_commit(), wrote))
    }

    /// Runs `requests` as one transaction: a snapshot when none may
    /// write, else serializable, again on conflict up to `attempts`.
    fn run_group(
        &self,
        held: &Held<'_>,
        requests: &[Request],
        attempts: u32,
    ) -> Result<(Vec<Reply>, Vec<AfterCommit>), keel::Error> {
        let Some(isolation) = isolation_of(requests) else {
            return self.database.view(|transaction| {
                self.run_in(transaction, held, requests)
                    .map(|(replies, after, _)| (replies, after))
            });
        };
        let options = UpdateOptions {
            isolation,
            attempts,
            durability: None,
        };
        self.database.update_with(&options, |transaction| {
            self.run_in(transaction, held, requests)
                .map(|(replies, after, _)| (replies, after))
        })
    }

    /// Runs one command in a transaction of its own, again on conflict.
    pub(crate) fn run_command(&self, request: &Request) -> Reply {
        let requests = std::slice::from_ref(request);
        let Some(mut held) = self.hold(requests) else {
            return Reply::error("ERR DB index is out of range");
        };
        if matches!(request.spec.id, CommandId::Flushdb | CommandId::Flushall) {
            self.flushes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        match self.run_group(&held, requests, super::backend::COMMAND_ATTEMPTS_MAX) {
            Ok((mut replies, after)) => match self.after_commit(&mut held, &after) {
                Ok(()) => replies.pop().unwrap_or_else(Reply::ok),
                Err(error) => error_reply(&error),
            },
            Err(error) => error_reply(&error),
        }
    }

    /// Runs pipelined data commands in one transaction (one commit, one
    /// fsync under `always`); `None` when they should run one by one
    /// instead: one of them failed in the store (only it must fail), or
    /// the group kept conflicting.
    pub(crate) fn run_pipeline(&self, requests: &[Request]) -> Option<Vec<Reply>> {
        let held = self.hold(requests)?;
        if matches!(held, Held::Exclusive(_)) {
            return None;
        }
        let (replies, after) = self
            .run_group(&held, requests, PIPELINE_ATTEMPTS_MAX)
            .ok()?;
        debug_assert!(
            after.is_empty(),
            "no pipelined command acts after its commit"
        );
        Some(replies)
    }

    /// Does what the committed commands asked of their databases as a
    /// whole, under the exclusive locks they ran with.
    fn after_commit(&self, held: &mut Held<'_>, actions: &[AfterCommit]) -> keel::Result<()> {
        for action in actions {
            match (action, &mut *held) {
                (AfterCommit::Checkpoint, _) => {
                    self.database.checkpoint()?;
                }
                (AfterCommit::Recreate(index), Held::Exclusive(slots)) => {
                    if let Some(slot) = usize::try_from(*index).ok().and_then(|i| slots.get_mut(i))
                    {
                        self.recreate(slot)?;
                    }
                }
                (AfterCommit::Swap(first, second), Held::Exclusive(slots)) => {
                    swap_slots(slots, *first, *second);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Drops a database's keyspace and creates it anew: every EXEC
    /// watching it fails.
    fn recreate(&self, slot: &mut Slot) -> keel::Result<()> {
        let name = slot.keyspace.name().to_owned();
        self.database.drop_keyspace(&name)?;
        slot.keyspace = self.database.keyspace(&name)?;
        slot.generation += 1;
        slot.recreated += 1;
        Ok(())
    }
}

/// SWAPDB's slots trade keyspaces (the map was committed first).
fn swap_slots(
    slots: &mut [RwLockWriteGuard<'_, Slot>],
    first: DatabaseIndex,
    second: DatabaseIndex,
) {
    let (Ok(low), Ok(high)) = (
        usize::try_from(first.min(second)),
        usize::try_from(first.max(second)),
    ) else {
        return;
    };
    if high >= slots.len() || low == high {
        return;
    }
    let (left, right) = slots.split_at_mut(high);
    std::mem::swap(&mut left[low].keyspace, &mut right[0].keyspace);
    left[low].generation += 1;
    right[0].generation += 1;
}

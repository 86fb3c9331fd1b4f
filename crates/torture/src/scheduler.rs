//! The seeded scheduler: which of several open transactions takes the next
//! step, and what the step is. One thread runs every step, so a seed fixes
//! the interleaving (begin T1, T2, T1.put, T2.get, T2.commit, T1.commit).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use keel::{Durability, Isolation, Transaction};
use rand::Rng;
use rand::rngs::SmallRng;

use crate::model::{Effect, State, Target, Value};

/// Transactions open at once, at most.
pub const OPEN_TRANSACTIONS_MAX: usize = 3;

/// Prepared transactions waiting for a decision at once, at most (they
/// hold their keys, also across crashes, until decided).
pub const PREPARED_MAX: usize = 2;

/// What the next step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Begin a transaction.
    Begin,
    /// An operation of open transaction `index`.
    Operate(usize),
    /// Commit open transaction `index`.
    Commit(usize),
    /// Roll back open transaction `index`.
    Rollback(usize),
    /// `Database::checkpoint`.
    Checkpoint,
    /// `Database::compact`.
    Compact,
    /// Create a keyspace.
    CreateKeyspace,
    /// Drop a keyspace.
    DropKeyspace,
    /// Bulk-load a keyspace (replacing one of that name).
    Load,
    /// Prepare open transaction `index` for two-phase commit.
    Prepare(usize),
    /// Commit or abort one of the prepared transactions.
    Decide,
}

/// An operation inside a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A point read, checked.
    Get,
    /// A put without expiry.
    Put,
    /// A put expiring far in the future (live) or in the past (absent).
    PutExpiring {
        /// Whether the deadline is ahead.
        live: bool,
    },
    /// A delete.
    Delete,
    /// A range scan, checked.
    Scan,
}

/// Chooses steps with the run's generator.
#[derive(Debug, Default)]
pub struct Scheduler {
    /// The open transactions, in the order they began.
    pub open: Vec<OpenTransaction>,
}

impl Scheduler {
    /// The next step, with `prepared` transactions waiting for a decision.
    pub fn next_action(&self, rng: &mut SmallRng, prepared: usize) -> Action {
        let open = self.open.len();
        let pick = |rng: &mut SmallRng| rng.random_range(0..open.max(1));
        match rng.random_range(0..100) {
            0..2 => Action::Checkpoint,
            2..3 => Action::Compact,
            3..4 => Action::CreateKeyspace,
            4..5 => Action::DropKeyspace,
            5..6 => Action::Load,
            6..8 if prepared > 0 => Action::Decide,
            _ if open == 0 => Action::Begin,
            6..18 if open < OPEN_TRANSACTIONS_MAX => Action::Begin,
            18..28 => Action::Commit(pick(rng)),
            28..30 if prepared < PREPARED_MAX => Action::Prepare(pick(rng)),
            30..32 => Action::Rollback(pick(rng)),
            _ => Action::Operate(pick(rng)),
        }
    }

    /// The operation an open transaction does next.
    pub fn next_operation(rng: &mut SmallRng) -> Operation {
        match rng.random_range(0..100) {
            0..25 => Operation::Get,
            25..60 => Operation::Put,
            60..64 => Operation::PutExpiring { live: true },
            64..68 => Operation::PutExpiring { live: false },
            68..82 => Operation::Delete,
            _ => Operation::Scan,
        }
    }

    /// A random isolation level and commit durability (`None`: the
    /// database's).
    pub fn transaction_kind(rng: &mut SmallRng) -> (Isolation, Option<Durability>) {
        let isolation = if rng.random_bool(0.5) {
            Isolation::Serializable
        } else {
            Isolation::Snapshot
        };
        let durability = match rng.random_range(0..4) {
            0 => None,
            1 => Some(Durability::Sync),
            2 => Some(Durability::None),
            _ => Some(Durability::Periodic),
        };
        (isolation, durability)
    }
}

/// An open transaction and what the model says it sees.
pub struct OpenTransaction {
    /// Its name in the trace ("t17").
    pub name: String,
    /// The engine's transaction.
    pub transaction: Transaction,
    /// The durability it commits with (`None`: the database's).
    pub durability: Option<Durability>,
    /// The model state when it began: what its reads see.
    pub snapshot: Arc<State>,
    /// Its writes, by target and key (`None`: deleted or already expired).
    pub writes: BTreeMap<(Target, Vec<u8>), Option<Value>>,
}

impl std::fmt::Debug for OpenTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenTransaction")
            .field("name", &self.name)
            .field("writes", &self.writes.len())
            .finish_non_exhaustive()
    }
}

impl OpenTransaction {
    /// Whether the keyspace `target` exists in its snapshot.
    pub fn sees(&self, target: &Target) -> bool {
        self.snapshot.entries(target).is_some()
    }

    /// What a read of `key` must return: its own write, else the snapshot.
    pub fn expected(&self, target: &Target, key: &[u8]) -> Option<Value> {
        if let Some(write) = self.writes.get(&(target.clone(), key.to_vec())) {
            return write.clone();
        }
        self.snapshot.entries(target)?.get(key).cloned()
    }

    /// What a scan of `lower..upper` must return (keys and values).
    pub fn expected_range(
        &self,
        target: &Target,
        lower: &[u8],
        upper: &[u8],
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let bounds = (
            Bound::Included(lower.to_vec()),
            Bound::Excluded(upper.to_vec()),
        );
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
            .snapshot
            .entries(target)
            .map(|entries| {
                entries
                    .range(bounds.clone())
                    .map(|(key, value)| (key.clone(), Some(value.0.clone())))
                    .collect()
            })
            .unwrap_or_default();
        for ((written, key), value) in &self.writes {
            if written == target && key.as_slice() >= lower && key.as_slice() < upper {
                merged.insert(key.clone(), value.as_ref().map(|value| value.0.clone()));
            }
        }
        merged
            .into_iter()
            .filter_map(|(key, value)| value.map(|value| (key, value)))
            .collect()
    }

    /// Its writes as effects of a commit.
    pub fn effects(&self) -> Vec<Effect> {
        self.writes
            .iter()
            .map(|((target, key), value)| Effect::Write {
                target: target.clone(),
                key: key.clone(),
                value: value.clone(),
            })
            .collect()
    }
}

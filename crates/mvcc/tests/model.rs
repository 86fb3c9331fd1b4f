//! Model-based property tests: random operations on the real transaction
//! layer and on a `BTreeMap` model, compared after every read. Histories
//! are serial at the commit level (so every commit must succeed) but
//! transactions interleave with folds, garbage collection, savepoints,
//! expiring values, long-lived readers and scans held open across folds.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use common::fixture_with;
use keel_mvcc::MvccOptions;
use keel_mvcc::testing::MemoryBase;
use keel_mvcc::{Direction, Isolation, Transaction};
use proptest::prelude::*;

const KEYS: u8 = 8;

#[derive(Debug, Clone)]
enum Operation {
    Get(u8),
    Put(u8, u8),
    /// A put whose value expired long ago (reads as absent).
    PutExpired(u8, u8),
    Delete(u8),
    Scan {
        low: Option<u8>,
        high: Option<u8>,
        inclusive: bool,
        reverse: bool,
        take: usize,
    },
    Savepoint,
    RollbackToSavepoint,
    Commit,
    Rollback,
    /// Fold at the safe point (between or during transactions).
    Fold,
    CollectGarbage,
    /// Begin (or end) a read-only snapshot kept across later commits.
    ToggleOldReader,
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        4 => (0..KEYS).prop_map(Operation::Get),
        4 => (0..KEYS, any::<u8>()).prop_map(|(key, value)| Operation::Put(key, value)),
        1 => (0..KEYS, any::<u8>()).prop_map(|(key, value)| Operation::PutExpired(key, value)),
        2 => (0..KEYS).prop_map(Operation::Delete),
        2 => (
            proptest::option::of(0..KEYS),
            proptest::option::of(0..KEYS),
            any::<bool>(),
            any::<bool>(),
            0..10usize
        )
            .prop_map(|(low, high, inclusive, reverse, take)| Operation::Scan {
                low,
                high,
                inclusive,
                reverse,
                take
            }),
        1 => Just(Operation::Savepoint),
        1 => Just(Operation::RollbackToSavepoint),
        2 => Just(Operation::Commit),
        1 => Just(Operation::Rollback),
        1 => Just(Operation::Fold),
        1 => Just(Operation::CollectGarbage),
        1 => Just(Operation::ToggleOldReader),
    ]
}

/// No batches, every commit a batch, or a size that splits commits
/// between batches and the skiplist.
fn batch_threshold() -> impl Strategy<Value = u64> {
    prop_oneof![Just(u64::MAX), Just(0u64), 1u64..40]
}

fn key(index: u8) -> Bytes {
    Bytes::from(vec![b'k', index])
}

type Model = BTreeMap<Bytes, Bytes>;

struct Open {
    transaction: Transaction,
    /// The model as of the transaction's start plus its own writes.
    view: Model,
    /// Savepoints: the view at each.
    savepoints: Vec<(keel_mvcc::Savepoint, Model)>,
}

fn scan_model(
    model: &Model,
    lower: &Bound<Bytes>,
    upper: &Bound<Bytes>,
    reverse: bool,
    take: usize,
) -> Vec<(Bytes, Bytes)> {
    let empty = match (lower, upper) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b)) => a >= b,
        _ => false,
    };
    if empty {
        return Vec::new();
    }
    let items = model
        .range((lower.clone(), upper.clone()))
        .map(|(k, v)| (k.clone(), v.clone()));
    if reverse {
        items.rev().take(take).collect()
    } else {
        items.take(take).collect()
    }
}

/// A transaction's memory budget: never spill, spill after every write
/// made without a savepoint, or a size that spills some.
fn memory_budget() -> impl Strategy<Value = u64> {
    prop_oneof![Just(u64::MAX), Just(0u64), 1u64..40]
}

/// `batch_min`: commits of at least this many bytes become frozen
/// batches (`u64::MAX`: none); `memory_max`: a transaction's writes past
/// this many bytes spill to disk.
fn run(operations: Vec<Operation>, isolation: Isolation, batch_min: u64, memory_max: u64) {
    let options = MvccOptions {
        batch_commit_bytes_min: batch_min,
        transaction_memory_bytes_max: memory_max,
        ..MvccOptions::default()
    };
    let fixture = fixture_with(MemoryBase::new(), options);
    let manager = &fixture.manager;
    let mut committed = Model::new();
    let mut open: Option<Open> = None;
    let mut old_reader: Option<(Transaction, Model)> = None;
    for operation in operations {
        if open.is_none()
            && !matches!(
                operation,
                Operation::Fold | Operation::CollectGarbage | Operation::ToggleOldReader
            )
        {
            open = Some(Open {
                transaction: manager.begin(isolation),
                view: committed.clone(),
                savepoints: Vec::new(),
            });
        }
        match operation {
            Operation::Get(index) => {
                let state = open.as_mut().unwrap();
                let value = state.transaction.get(&key(index)).unwrap();
                assert_eq!(value.as_ref(), state.view.get(&key(index)));
            }
            Operation::Put(index, value) => {
                let state = open.as_mut().unwrap();
                let value = Bytes::from(vec![value]);
                state.transaction.put(&key(index), value.clone()).unwrap();
                state.view.insert(key(index), value);
            }
            Operation::PutExpired(index, value) => {
                let state = open.as_mut().unwrap();
                state
                    .transaction
                    .put_expiring(&key(index), Bytes::from(vec![value]), 1)
                    .unwrap();
                state.view.remove(&key(index));
            }
            Operation::Delete(index) => {
                let state = open.as_mut().unwrap();
                state.transaction.delete(&key(index)).unwrap();
                state.view.remove(&key(index));
            }
            Operation::Scan {
                low,
                high,
                inclusive,
                reverse,
                take,
            } => {
                let state = open.as_mut().unwrap();
                let lower = low.map_or(Bound::Unbounded, |low| Bound::Included(key(low)));
                let upper = high.map_or(Bound::Unbounded, |high| {
                    if inclusive {
                        Bound::Included(key(high))
                    } else {
                        Bound::Excluded(key(high))
                    }
                });
                let direction = if reverse {
                    Direction::Reverse
                } else {
                    Direction::Forward
                };
                let mut range = state
                    .transaction
                    .range::<Bytes, _>((lower.clone(), upper.clone()), direction)
                    .unwrap();
                let mut items = Vec::new();
                for _ in 0..take {
                    match range.next() {
                        Some(item) => items.push(item.unwrap()),
                        None => break,
                    }
                }
                drop(range);
                assert_eq!(
                    items,
                    scan_model(&state.view, &lower, &upper, reverse, take)
                );
            }
            Operation::Savepoint => {
                let state = open.as_mut().unwrap();
                let savepoint = state.transaction.savepoint();
                state.savepoints.push((savepoint, state.view.clone()));
            }
            Operation::RollbackToSavepoint => {
                let state = open.as_mut().unwrap();
                if let Some((savepoint, view)) = state.savepoints.last() {
                    state.transaction.rollback_to_savepoint(*savepoint).unwrap();
                    state.view = view.clone();
                }
            }
            Operation::Commit => {
                let state = open.take().unwrap();
                // Serial at the commit level: nothing committed since the
                // transaction began, so it must commit.
                state.transaction.commit().unwrap();
                committed = state.view;
            }
            Operation::Rollback => {
                open.take().unwrap().transaction.rollback();
            }
            Operation::Fold => {
                let safe_point = manager.safe_point();
                manager.fold(safe_point, &mut fixture.base.sink()).unwrap();
            }
            Operation::CollectGarbage => {
                manager.collect_garbage();
            }
            Operation::ToggleOldReader => match old_reader.take() {
                Some((reader, snapshot)) => {
                    let mut items = Vec::new();
                    for item in reader.range::<[u8], _>(.., Direction::Forward).unwrap() {
                        items.push(item.unwrap());
                    }
                    let expected: Vec<(Bytes, Bytes)> = snapshot.into_iter().collect();
                    assert_eq!(items, expected, "an old snapshot changed");
                }
                None => {
                    if open.is_none() {
                        old_reader = Some((manager.begin(Isolation::Snapshot), committed.clone()));
                    }
                }
            },
        }
        manager.check().unwrap();
    }
    drop(open);
    drop(old_reader);
    // Fold everything: the base must equal the model.
    manager
        .fold(manager.safe_point(), &mut fixture.base.sink())
        .unwrap();
    manager.collect_garbage();
    let stats = manager.stats();
    assert_eq!(stats.delta_versions, 0);
    assert_eq!(stats.delta_bytes, 0);
    let base: Model = fixture
        .base
        .snapshot()
        .into_iter()
        .filter(|(_, entry)| entry.expires_at_ms.is_none())
        .map(|(key, entry)| (key, entry.value))
        .collect();
    assert_eq!(base, committed);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn serializable_matches_the_model(
        operations in proptest::collection::vec(operation(), 1..120),
        batch_min in batch_threshold(),
        memory_max in memory_budget(),
    ) {
        run(operations, Isolation::Serializable, batch_min, memory_max);
    }

    #[test]
    fn snapshot_matches_the_model(
        operations in proptest::collection::vec(operation(), 1..120),
        batch_min in batch_threshold(),
        memory_max in memory_budget(),
    ) {
        run(operations, Isolation::Snapshot, batch_min, memory_max);
    }
}

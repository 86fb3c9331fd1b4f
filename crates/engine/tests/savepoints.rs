#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Savepoints against a model: random puts, deletes, nested savepoints,
//! rollbacks to and releases of any of them, checked at every step
//! against a `BTreeMap` (and a stack of its copies at each savepoint), and
//! after commit against what a new transaction reads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use keel::{Database, Error, Isolation, Keyspace, Options, Savepoint, Transaction};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
enum Operation {
    Put(u8, u8),
    Delete(u8),
    Savepoint,
    /// Roll back to the savepoint at this position of the stack (modulo).
    RollbackTo(usize),
    /// Release the savepoint at this position of the stack (modulo).
    Release(usize),
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        4 => (0u8..12, any::<u8>()).prop_map(|(key, value)| Operation::Put(key, value)),
        2 => (0u8..12).prop_map(Operation::Delete),
        2 => Just(Operation::Savepoint),
        1 => any::<usize>().prop_map(Operation::RollbackTo),
        1 => any::<usize>().prop_map(Operation::Release),
    ]
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn contents(tx: &Transaction, keyspace: &Keyspace) -> Model {
    tx.range(keyspace, ..)
        .unwrap()
        .map(|entry| {
            let (key, value) = entry.unwrap();
            (key.to_vec(), value.to_vec())
        })
        .collect()
}

/// Runs `operations` in one transaction on `keyspace` (which holds
/// `before`), checking it against the model after each; commits.
fn run(db: &Database, keyspace: &Keyspace, before: &Model, operations: &[Operation]) -> Model {
    let mut tx = db.begin(Isolation::Serializable);
    let mut model = before.clone();
    let mut stack: Vec<(Savepoint, Model)> = Vec::new();
    for operation in operations {
        match *operation {
            Operation::Put(key, value) => {
                tx.put(keyspace, [key], [value]).unwrap();
                model.insert(vec![key], vec![value]);
            }
            Operation::Delete(key) => {
                tx.delete(keyspace, [key]).unwrap();
                model.remove(&vec![key]);
            }
            Operation::Savepoint => stack.push((tx.savepoint(), model.clone())),
            Operation::RollbackTo(index) if !stack.is_empty() => {
                let index = index % stack.len();
                tx.rollback_to_savepoint(stack[index].0).unwrap();
                model = stack[index].1.clone();
                stack.truncate(index + 1);
            }
            Operation::Release(index) if !stack.is_empty() => {
                let index = index % stack.len();
                let released = stack[index].0;
                tx.release_savepoint(released).unwrap();
                stack.truncate(index);
                // A released savepoint is gone: rolling back to it fails
                // and changes nothing.
                assert!(matches!(
                    tx.rollback_to_savepoint(released),
                    Err(Error::UnknownSavepoint { .. })
                ));
            }
            Operation::RollbackTo(_) | Operation::Release(_) => {}
        }
        assert_eq!(contents(&tx, keyspace), model, "after {operation:?}");
    }
    tx.commit().unwrap();
    model
}

#[test]
fn nested_savepoints_match_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let cases = AtomicU32::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 128,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(operation(), 0..12),
        prop::collection::vec(operation(), 0..40),
    );
    runner
        .run(&strategy, |(setup, operations)| {
            let name = format!("case{}", cases.fetch_add(1, Ordering::Relaxed));
            let keyspace = db.keyspace(&name).unwrap();
            // A committed state first, so rollbacks restore stored values
            // as well as the transaction's own.
            let before = run(&db, &keyspace, &Model::new(), &setup);
            let after = run(&db, &keyspace, &before, &operations);
            let reader = db.begin_read();
            prop_assert_eq!(contents(&reader, &keyspace), after);
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_savepoint_of_another_transaction_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let ks = db.keyspace("k").unwrap();
    let mut first = db.begin(Isolation::Serializable);
    let mut second = db.begin(Isolation::Serializable);
    let savepoint = first.savepoint();
    second.put(&ks, "a", "1").unwrap();
    let error = second.rollback_to_savepoint(savepoint).unwrap_err();
    assert!(
        matches!(error, Error::UnknownSavepoint { savepoint: 0 }),
        "{error:?}"
    );
    assert_eq!(second.get(&ks, "a").unwrap().unwrap(), "1");
    first.release_savepoint(savepoint).unwrap();
}

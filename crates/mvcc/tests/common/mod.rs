//! What the scenario tests share: a manager over an in-memory base and a
//! recording log, and short helpers.

// Each test file is a crate of its own that uses part of this module.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use keel_mvcc::testing::{MemoryBase, MemoryLog, MemoryOracle, test_oracle};
use keel_mvcc::{Direction, Isolation, MvccOptions, Transaction, TransactionManager};
use keel_tso::{ManualClock, TimestampOracle};

/// A manager with its base and log.
pub struct Fixture {
    pub manager: TransactionManager,
    pub base: Arc<MemoryBase>,
    pub log: Arc<MemoryLog>,
}

pub fn fixture() -> Fixture {
    fixture_with(MemoryBase::new(), MvccOptions::default())
}

/// A fixture whose commits of at least `batch_commit_bytes_min` bytes
/// become frozen batches (0: every commit, while fewer than the most
/// batches are held; then the skiplist takes them).
pub fn fixture_batched(batch_commit_bytes_min: u64) -> Fixture {
    let options = MvccOptions {
        batch_commit_bytes_min,
        ..MvccOptions::default()
    };
    fixture_with(MemoryBase::new(), options)
}

pub fn fixture_with(base: MemoryBase, options: MvccOptions) -> Fixture {
    fixture_with_oracle(base, options, test_oracle())
}

pub fn fixture_with_oracle(
    base: MemoryBase,
    options: MvccOptions,
    oracle: Arc<dyn TimestampOracle>,
) -> Fixture {
    let base = Arc::new(base);
    let log = Arc::new(MemoryLog::new());
    let manager = TransactionManager::new(base.clone(), log.clone(), oracle, options).unwrap();
    Fixture { manager, base, log }
}

/// A fixture whose oracle runs on a manual wall clock at `now_ms`.
pub fn manual_fixture(now_ms: u64) -> (Fixture, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(now_ms));
    let oracle = Arc::new(MemoryOracle::new(clock.clone()));
    (
        fixture_with_oracle(MemoryBase::new(), MvccOptions::default(), oracle),
        clock,
    )
}

pub fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// Commits the puts in one transaction.
pub fn put_all(manager: &TransactionManager, pairs: &[(&str, &str)]) {
    let mut transaction = manager.begin(Isolation::Serializable);
    for (key, value) in pairs {
        transaction.put(key.as_bytes(), bytes(value)).unwrap();
    }
    transaction.commit().unwrap();
}

/// The value of `key` in a new transaction.
pub fn read(manager: &TransactionManager, key: &str) -> Option<String> {
    let transaction = manager.begin(Isolation::Serializable);
    transaction
        .get(key.as_bytes())
        .unwrap()
        .map(|value| String::from_utf8(value.to_vec()).unwrap())
}

/// Every key and value of a full scan in `direction`.
pub fn scan(transaction: &mut Transaction, direction: Direction) -> Vec<(String, String)> {
    transaction
        .range::<[u8], _>(.., direction)
        .unwrap()
        .map(|item| {
            let (key, value) = item.unwrap();
            (
                String::from_utf8(key.to_vec()).unwrap(),
                String::from_utf8(value.to_vec()).unwrap(),
            )
        })
        .collect()
}

/// The integer stored at `key` (0 if absent).
pub fn get_number(transaction: &mut Transaction, key: &str) -> i64 {
    transaction.get(key.as_bytes()).unwrap().map_or(0, |value| {
        std::str::from_utf8(&value).unwrap().parse().unwrap()
    })
}

pub fn put_number(transaction: &mut Transaction, key: &str, number: i64) {
    transaction
        .put(key.as_bytes(), Bytes::from(number.to_string()))
        .unwrap();
}

/// Folds continuously until `stop`, so readers and committers race folds.
pub fn spawn_folder(
    fixture: &Arc<Fixture>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    let fixture = Arc::clone(fixture);
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        let mut folds = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let safe_point = fixture.manager.safe_point();
            fixture
                .manager
                .fold(safe_point, &mut fixture.base.sink())
                .unwrap();
            assert!(fixture.manager.check().is_ok());
            folds += 1;
            std::thread::yield_now();
        }
        folds
    })
}

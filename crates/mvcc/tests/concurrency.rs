//! Many threads at once, with a folder thread folding into the base all
//! the while: bank transfers keep their total under both levels, and
//! randomised histories are checked against their dependency graph
//! (serializable: no cycle at all; snapshot: no cycle of ww and wr edges
//! only), with every read checked against the snapshot at its read
//! timestamp. Some of the random transactions commit through two-phase
//! commit, so prepared transactions' held keys are exercised too. A long
//! run repeats each history test: `KEEL_MVCC_HISTORIES=500 cargo test
//! -p keel-mvcc --test concurrency histor`.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use bytes::Bytes;
use common::{Fixture, fixture_batched, fixture_with, get_number, put_number, spawn_folder};
use keel_mvcc::testing::MemoryBase;
use keel_mvcc::{Direction, Isolation, MvccOptions};
use keel_tso::Timestamp;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const ACCOUNTS: usize = 6;
const INITIAL_BALANCE: i64 = 100;

fn account(index: usize) -> String {
    format!("account/{index}")
}

/// A fixture whose delta is always full: every write commit waits for a
/// fold, validating before and while it waits.
fn full_delta() -> Fixture {
    let options = MvccOptions {
        delta_bytes_max: 1,
        delta_full_wait_max: std::time::Duration::from_secs(30),
        ..MvccOptions::default()
    };
    fixture_with(MemoryBase::new(), options)
}

/// A fixture whose transactions spill every write made to disk: each
/// commit is a frozen batch read from its spilled run.
fn spilled() -> Fixture {
    let options = MvccOptions {
        transaction_memory_bytes_max: 0,
        ..MvccOptions::default()
    };
    fixture_with(MemoryBase::new(), options)
}

fn bank_total_is_invariant(level: Isolation, batch_min: u64) {
    bank_total_is_invariant_on(level, fixture_batched(batch_min));
}

fn bank_total_is_invariant_on(level: Isolation, fixture: Fixture) {
    let fixture = Arc::new(fixture);
    {
        let mut setup = fixture.manager.begin(level);
        for index in 0..ACCOUNTS {
            put_number(&mut setup, &account(index), INITIAL_BALANCE);
        }
        setup.commit().unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let folder = spawn_folder(&fixture, &stop);
    let workers: Vec<_> = (0..4u64)
        .map(|seed| {
            let fixture = Arc::clone(&fixture);
            thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(seed);
                let (mut committed, mut conflicts) = (0, 0);
                for _ in 0..150 {
                    let from = rng.random_range(0..ACCOUNTS);
                    let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
                    let amount = rng.random_range(1..=20);
                    let mut transaction = fixture.manager.begin(level);
                    let a = get_number(&mut transaction, &account(from));
                    let b = get_number(&mut transaction, &account(to));
                    put_number(&mut transaction, &account(from), a - amount);
                    put_number(&mut transaction, &account(to), b + amount);
                    match transaction.commit() {
                        Ok(_) => committed += 1,
                        Err(error) if error.is_conflict() => conflicts += 1,
                        Err(error) => panic!("{error}"),
                    }
                    // An auditor: a full scan always sums to the total.
                    let audit = fixture.manager.begin(level);
                    let total: i64 = audit
                        .range(
                            b"account/".as_slice()..b"account0".as_slice(),
                            Direction::Forward,
                        )
                        .unwrap()
                        .map(|item| {
                            let (_, value) = item.unwrap();
                            std::str::from_utf8(&value).unwrap().parse::<i64>().unwrap()
                        })
                        .sum();
                    assert_eq!(total, INITIAL_BALANCE * ACCOUNTS as i64, "{level:?}");
                    audit.commit().unwrap();
                }
                (committed, conflicts)
            })
        })
        .collect();
    let mut committed = 0;
    for worker in workers {
        committed += worker.join().unwrap().0;
    }
    stop.store(true, Ordering::Relaxed);
    folder.join().unwrap();
    assert!(committed > 0);
    let stats = fixture.manager.stats();
    assert_eq!(stats.commits, committed + 1);
    assert_eq!(stats.active_transactions, 0);
    // Fold everything: the base alone holds the total.
    fixture
        .manager
        .fold(fixture.manager.safe_point(), &mut fixture.base.sink())
        .unwrap();
    fixture.manager.collect_garbage();
    assert_eq!(fixture.manager.stats().delta_versions, 0);
    let total: i64 = fixture
        .base
        .snapshot()
        .values()
        .map(|entry| {
            std::str::from_utf8(&entry.value)
                .unwrap()
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    assert_eq!(total, INITIAL_BALANCE * ACCOUNTS as i64);
}

#[test]
fn bank_transfers_keep_the_total_under_serializable() {
    bank_total_is_invariant(Isolation::Serializable, u64::MAX);
}

#[test]
fn bank_transfers_keep_the_total_with_batched_commits() {
    // Every commit a frozen batch (while fewer than the most are held).
    bank_total_is_invariant(Isolation::Serializable, 0);
}

#[test]
fn bank_transfers_keep_the_total_under_snapshot() {
    bank_total_is_invariant(Isolation::Snapshot, u64::MAX);
}

#[test]
fn bank_transfers_keep_the_total_when_every_transaction_spills() {
    bank_total_is_invariant_on(Isolation::Serializable, spilled());
    bank_total_is_invariant_on(Isolation::Snapshot, spilled());
}

#[test]
fn bank_transfers_keep_the_total_while_every_commit_waits_for_a_fold() {
    bank_total_is_invariant_on(Isolation::Serializable, full_delta());
    bank_total_is_invariant_on(Isolation::Snapshot, full_delta());
}

const KEYS: usize = 6;

fn key_name(index: usize) -> Bytes {
    Bytes::from(format!("key/{index}"))
}

/// What a committed transaction did.
#[derive(Debug, Clone)]
struct Observed {
    id: u64,
    read_timestamp: Timestamp,
    /// `None` for read-only transactions.
    commit_timestamp: Option<Timestamp>,
    /// Key index → the value seen (`None`: absent). A scan reads every key
    /// of its range.
    reads: BTreeMap<usize, Option<Bytes>>,
    /// Key index → the value written (`None`: deleted).
    writes: BTreeMap<usize, Option<Bytes>>,
}

fn random_transaction(fixture: &Fixture, level: Isolation, rng: &mut SmallRng) -> Option<Observed> {
    let mut transaction = fixture.manager.begin(level);
    let id = transaction.id();
    let mut reads = BTreeMap::new();
    for _ in 0..rng.random_range(0..3) {
        let index = rng.random_range(0..KEYS);
        let value = transaction.get(&key_name(index)).unwrap();
        reads.insert(index, value);
    }
    if rng.random_bool(0.3) {
        let low = rng.random_range(0..KEYS);
        let high = rng.random_range(low..KEYS);
        let mut seen: BTreeMap<usize, Option<Bytes>> =
            (low..=high).map(|index| (index, None)).collect();
        let range = key_name(low)..=key_name(high);
        let direction = if rng.random_bool(0.5) {
            Direction::Forward
        } else {
            Direction::Reverse
        };
        for item in transaction.range(range, direction).unwrap() {
            let (key, value) = item.unwrap();
            let index: usize = std::str::from_utf8(&key[4..]).unwrap().parse().unwrap();
            seen.insert(index, Some(value));
        }
        reads.extend(seen);
    }
    let mut writes = BTreeMap::new();
    for _ in 0..rng.random_range(0..3) {
        let index = rng.random_range(0..KEYS);
        if rng.random_bool(0.2) {
            transaction.delete(&key_name(index)).unwrap();
            writes.insert(index, None);
        } else {
            let value = Bytes::from(format!("{id}"));
            transaction.put(&key_name(index), value.clone()).unwrap();
            writes.insert(index, Some(value));
        }
    }
    let read_timestamp = transaction.read_timestamp();
    // Some go through two-phase commit: prepared (holding their keys),
    // then committed or aborted.
    let outcome = if rng.random_bool(0.15) {
        match transaction.prepare() {
            Ok(prepared) if rng.random_bool(0.2) => {
                prepared.abort().unwrap();
                return None;
            }
            Ok(prepared) => prepared.commit(),
            Err(error) => Err(error),
        }
    } else {
        transaction.commit()
    };
    match outcome {
        Ok(info) => Some(Observed {
            id,
            read_timestamp,
            commit_timestamp: info.commit_timestamp,
            reads,
            writes,
        }),
        Err(error) if error.is_conflict() => None,
        Err(error) => panic!("{error}"),
    }
}

/// Whether the graph over `nodes` has a cycle.
fn has_cycle(nodes: usize, edges: &[Vec<usize>]) -> bool {
    find_cycle(nodes, edges).is_some()
}

/// A cycle of the graph over `nodes`, as its nodes in order (iterative
/// DFS).
fn find_cycle(nodes: usize, edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut marks = vec![Mark::New; nodes];
    for start in 0..nodes {
        if marks[start] != Mark::New {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        marks[start] = Mark::Open;
        while let Some((node, next)) = stack.last_mut() {
            if let Some(&target) = edges[*node].get(*next) {
                *next += 1;
                match marks[target] {
                    Mark::Open => {
                        let mut path: Vec<usize> = stack.iter().map(|(node, _)| *node).collect();
                        let start = path.iter().position(|node| *node == target)?;
                        return Some(path.split_off(start));
                    }
                    Mark::New => {
                        marks[target] = Mark::Open;
                        stack.push((target, 0));
                    }
                    Mark::Done => {}
                }
            } else {
                marks[*node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

/// Histories per test: 1, or `KEEL_MVCC_HISTORIES` for a long run (a
/// missed conflict shows in about one history in a hundred).
fn histories() -> usize {
    std::env::var("KEEL_MVCC_HISTORIES")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(1)
}

fn histories_are_consistent(level: Isolation, batch_min: u64) {
    for _ in 0..histories() {
        histories_are_consistent_on(level, fixture_batched(batch_min));
    }
}

fn histories_are_consistent_on(level: Isolation, fixture: Fixture) {
    let fixture = Arc::new(fixture);
    let stop = Arc::new(AtomicBool::new(false));
    let folder = spawn_folder(&fixture, &stop);
    let workers: Vec<_> = (0..4u64)
        .map(|seed| {
            let fixture = Arc::clone(&fixture);
            thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(100 + seed);
                (0..400)
                    .filter_map(|_| random_transaction(&fixture, level, &mut rng))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut history: Vec<Observed> = workers
        .into_iter()
        .flat_map(|worker| worker.join().unwrap())
        .collect();
    stop.store(true, Ordering::Relaxed);
    folder.join().unwrap();

    // Version order per key: the writers in commit-timestamp order.
    let mut writers: Vec<&Observed> = history
        .iter()
        .filter(|observed| observed.commit_timestamp.is_some())
        .collect();
    writers.sort_by_key(|observed| observed.commit_timestamp);
    let timestamps: Vec<Timestamp> = writers.iter().filter_map(|w| w.commit_timestamp).collect();
    assert!(
        timestamps.windows(2).all(|pair| pair[0] < pair[1]),
        "unique commit timestamps"
    );
    let mut versions: HashMap<usize, Vec<(Timestamp, u64, Option<Bytes>)>> = HashMap::new();
    for writer in &writers {
        for (index, value) in &writer.writes {
            versions.entry(*index).or_default().push((
                writer.commit_timestamp.unwrap(),
                writer.id,
                value.clone(),
            ));
        }
    }

    history.sort_by_key(|observed| observed.id);
    let node: HashMap<u64, usize> = history
        .iter()
        .enumerate()
        .map(|(position, observed)| (observed.id, position))
        .collect();
    let mut all_edges = vec![Vec::new(); history.len()];
    let mut without_rw = vec![Vec::new(); history.len()];
    for chain in versions.values() {
        for pair in chain.windows(2) {
            let (from, to) = (node[&pair[0].1], node[&pair[1].1]);
            all_edges[from].push(to);
            without_rw[from].push(to);
        }
    }
    for (position, observed) in history.iter().enumerate() {
        for (index, value) in &observed.reads {
            let chain = versions.get(index).map_or(&[][..], Vec::as_slice);
            // The version the snapshot at the read timestamp holds.
            let seen = chain
                .iter()
                .rposition(|(timestamp, _, _)| *timestamp <= observed.read_timestamp);
            let expected = seen.and_then(|seen| chain[seen].2.clone());
            assert_eq!(
                value, &expected,
                "transaction {} read key {index} at {} wrongly",
                observed.id, observed.read_timestamp
            );
            if let Some(seen) = seen {
                let writer = node[&chain[seen].1];
                if writer != position {
                    all_edges[writer].push(position);
                    without_rw[writer].push(position);
                }
            }
            let next = seen.map_or(0, |seen| seen + 1);
            if let Some((_, next_writer, _)) = chain.get(next) {
                let next_writer = node[next_writer];
                if next_writer != position {
                    all_edges[position].push(next_writer);
                }
            }
        }
    }
    assert!(history.len() > 100, "enough transactions committed");
    assert!(
        !has_cycle(history.len(), &without_rw),
        "{level:?}: a cycle of ww and wr edges"
    );
    if level == Isolation::Serializable
        && let Some(cycle) = find_cycle(history.len(), &all_edges)
    {
        let transactions: Vec<&Observed> = cycle.iter().map(|node| &history[*node]).collect();
        panic!("a dependency cycle: {transactions:#?}");
    }
}

#[test]
fn serializable_histories_have_no_dependency_cycle() {
    histories_are_consistent(Isolation::Serializable, u64::MAX);
}

#[test]
fn serializable_histories_with_batched_commits_have_no_dependency_cycle() {
    histories_are_consistent(Isolation::Serializable, 0);
}

#[test]
fn snapshot_histories_have_no_cycle_without_an_anti_dependency() {
    histories_are_consistent(Isolation::Snapshot, u64::MAX);
}

#[test]
fn snapshot_histories_with_batched_commits_have_no_cycle_without_an_anti_dependency() {
    histories_are_consistent(Isolation::Snapshot, 0);
}

#[test]
fn histories_stay_consistent_when_every_transaction_spills() {
    for _ in 0..histories() {
        histories_are_consistent_on(Isolation::Serializable, spilled());
        histories_are_consistent_on(Isolation::Snapshot, spilled());
    }
}

#[test]
fn histories_stay_consistent_while_every_commit_waits_for_a_fold() {
    for _ in 0..histories() {
        histories_are_consistent_on(Isolation::Serializable, full_delta());
        histories_are_consistent_on(Isolation::Snapshot, full_delta());
    }
}

#[test]
fn the_cycle_check_finds_cycles() {
    assert!(has_cycle(3, &[vec![1], vec![2], vec![0]]));
    assert!(!has_cycle(3, &[vec![1, 2], vec![2], vec![]]));
    assert!(has_cycle(2, &[vec![1], vec![0]]));
}

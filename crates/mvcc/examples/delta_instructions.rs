//! The cost of the delta store's per-key work, one workload a run, meant
//! to be counted in instructions (stable on a loaded machine where times
//! are not):
//!
//! ```text
//! cargo build --release -p keel-mvcc --example delta_instructions
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='delta_instructions::measured' \
//!     target/release/examples/delta_instructions read
//! callgrind_annotate --inclusive=yes callgrind.out.* | grep DeltaStore
//! ```
//!
//! The delta holds `DELTA_KEYS` committed keys (a second argument sets
//! another count) of the server's shape: a 13-byte prefix every key shares
//! (keyspace, collection version, tag), then a member. Workloads, each
//! counting `OPERATIONS` operations (a third argument sets another count):
//!
//! * `read`: a snapshot transaction reading one random key of the delta.
//! * `read_absent`: the same for a key the delta does not hold.
//! * `install`: a snapshot transaction writing two fresh keys, committed
//!   (the delta's part: `DeltaStore::install_write_set`, two keys).
//! * `update`: the same writing two keys the delta holds.
//! * `validate`: a serializable transaction reading one key of the delta
//!   and writing one fresh key, committed (the delta's part of validation:
//!   `DeltaStore::newer_than`, one key).
//! * `fold`: folding every key of the delta into an in-memory base, the
//!   folded versions kept (a reader is open); operations = keys.
//! * `collect`: after such a fold, collecting its folded versions and
//!   removing the emptied keys (`collect_garbage`); operations = keys.
//!
//! Instructions per operation = the total callgrind reports ÷ the
//! operations printed; the delta's own part is the inclusive cost of the
//! `DeltaStore` function named above ÷ its calls.

#![allow(clippy::unwrap_used)] // An example: a failed unwrap is a failed run.

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use keel_mvcc::testing::{MemoryBase, test_oracle};
use keel_mvcc::{Isolation, MvccOptions, NoLog, TransactionManager};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Keys committed into the delta before counting.
const DELTA_KEYS: usize = 50_000;
/// Operations counted.
const OPERATIONS: usize = 20_000;
/// Keys per setup commit (well below a frozen batch's size).
const KEYS_PER_SETUP_COMMIT: usize = 100;
/// What every key starts with: keyspace, collection version and tag.
const PREFIX: &[u8] = b"\0\0\0\x01\0\0\0\0\0\0\0\x07m";

fn key(member: u64) -> Bytes {
    let mut key = PREFIX.to_vec();
    key.extend_from_slice(format!("element:{member}").as_bytes());
    Bytes::from(key)
}

fn argument(index: usize, default: usize) -> usize {
    std::env::args()
        .nth(index)
        .map_or(default, |count| count.parse().unwrap())
}

fn main() {
    let workload = std::env::args().nth(1).unwrap_or_else(|| "read".into());
    let delta_keys = argument(2, DELTA_KEYS);
    let operations = argument(3, OPERATIONS);
    let base = Arc::new(MemoryBase::new());
    let manager = TransactionManager::new(
        base.clone(),
        Arc::new(NoLog),
        test_oracle(),
        MvccOptions::default(),
    )
    .unwrap();
    let mut rng = SmallRng::seed_from_u64(0x6b65656c);
    // Members 0..delta_keys are in the delta, in random order of commits.
    let mut members: Vec<u64> = (0..delta_keys as u64).collect();
    for index in (1..members.len()).rev() {
        members.swap(index, rng.random_range(0..=index));
    }
    let value = Bytes::from_static(b"0123456789");
    for chunk in members.chunks(KEYS_PER_SETUP_COMMIT) {
        let mut transaction = manager.begin(Isolation::Snapshot);
        for member in chunk {
            transaction.put(&key(*member), value.clone()).unwrap();
        }
        transaction.commit().unwrap();
    }
    let present: Vec<Bytes> = (0..operations)
        .map(|_| key(rng.random_range(0..delta_keys as u64)))
        .collect();
    let fresh: Vec<Bytes> = (0..2 * operations as u64)
        .map(|index| key(delta_keys as u64 + index))
        .collect();
    let setup = Setup {
        manager: &manager,
        base: &base,
        present: &present,
        fresh: &fresh,
        value: &value,
    };
    let start = std::time::Instant::now();
    let counted = match workload.as_str() {
        "fold" | "collect" => setup.fold_and_collect(&workload),
        _ => measured(&setup, &workload),
    };
    let elapsed = start.elapsed();
    println!(
        "{workload}: {counted} operations, {:.0} ns each (delta of {delta_keys} keys)",
        elapsed.as_nanos() as f64 / counted as f64
    );
}

struct Setup<'a> {
    manager: &'a TransactionManager,
    base: &'a Arc<MemoryBase>,
    present: &'a [Bytes],
    fresh: &'a [Bytes],
    value: &'a Bytes,
}

impl Setup<'_> {
    /// Folds everything with a reader open (so that the folded versions
    /// stay), then collects them once it has left; counts one of the two.
    fn fold_and_collect(&self, workload: &str) -> usize {
        let keys = self.manager.stats().delta_keys as usize;
        let reader = self.manager.begin(Isolation::Snapshot);
        let safe_point = self.manager.safe_point();
        if workload == "fold" {
            measured(self, workload);
        } else {
            self.manager
                .fold(safe_point, &mut self.base.sink())
                .unwrap();
        }
        assert_eq!(self.manager.stats().delta_keys as usize, keys);
        drop(reader);
        if workload == "collect" {
            measured(self, workload);
        } else {
            self.manager.collect_garbage();
        }
        assert_eq!(self.manager.stats().delta_keys, 0);
        keys
    }
}

/// Runs `workload`; the operations it counted.
#[inline(never)]
fn measured(setup: &Setup<'_>, workload: &str) -> usize {
    let manager = setup.manager;
    match workload {
        "read" | "read_absent" => {
            let keys = if workload == "read" {
                setup.present
            } else {
                &setup.fresh[..setup.present.len()]
            };
            for key in keys {
                let transaction = manager.begin(Isolation::Snapshot);
                let found = transaction.get(key).unwrap();
                assert_eq!(found.is_some(), workload == "read");
                black_box(found);
            }
            keys.len()
        }
        "install" | "update" => {
            let keys = if workload == "install" {
                setup.fresh
            } else {
                setup.present
            };
            for pair in keys.chunks(2) {
                let mut transaction = manager.begin(Isolation::Snapshot);
                for key in pair {
                    transaction.put(key, setup.value.clone()).unwrap();
                }
                transaction.commit().unwrap();
            }
            keys.len() / 2
        }
        "validate" => {
            for (read, write) in setup.present.iter().zip(setup.fresh) {
                let mut transaction = manager.begin(Isolation::Serializable);
                black_box(transaction.get(read).unwrap());
                transaction.put(write, setup.value.clone()).unwrap();
                transaction.commit().unwrap();
            }
            setup.present.len()
        }
        "fold" => {
            let safe_point = manager.safe_point();
            let report = manager.fold(safe_point, &mut setup.base.sink()).unwrap();
            report.keys_folded as usize
        }
        "collect" => {
            let detached = manager.collect_garbage();
            detached.versions as usize
        }
        other => panic!("unknown workload {other}"),
    }
}

//! The cost of the engine's range reads and scans on keel-benches' shape
//! (24-byte random keys, 150-byte random values, bulk loaded, all pages
//! cached), through every layer (engine, keel-mvcc's merge, the B+tree
//! cursor), one workload a run, meant to be counted in instructions:
//!
//! ```text
//! cargo build --release -p keel --example range_instructions
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='range_instructions::measured' \
//!     target/release/examples/range_instructions range_10
//! target/release/examples/range_instructions range_10 1000000 100000 # timed
//! ```
//!
//! Workloads: `range_10` (the 10 entries from a random key on, visited in
//! place with `Iter::next_with`, 1,000 ranges per snapshot transaction as
//! keel-benches reads them), `scan` (every entry, visited in place),
//! `range_10_busy` and `scan_busy` (the same with 100 recent commits of
//! 1,000 fresh keys each not yet folded, as keel-benches' writes leave the
//! delta before its reads). Instructions per operation = the
//! total callgrind reports ÷ the operations printed.

#![allow(clippy::unwrap_used)] // An example: a failed unwrap is a failed run.

use std::hint::black_box;
use std::ops::Bound;
use std::time::Duration;

use keel::{Database, Durability, Isolation, Keyspace, Options};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Entries loaded (a second argument sets another count).
const ENTRIES: usize = 200_000;
/// Range reads counted (a third argument sets another count).
const OPERATIONS: usize = 10_000;
/// Ranges read per snapshot transaction.
const RANGES_PER_TRANSACTION: usize = 1_000;
/// Recent commits left in the delta for `scan_busy` and `range_10_busy`
/// (as keel-benches' writes before its range reads and scans leave it:
/// 100 batches of 1,000 keys).
const BUSY_COMMITS: usize = 100;
/// Keys per recent commit.
const BUSY_COMMIT_KEYS: usize = 1_000;

fn random_entry(rng: &mut SmallRng) -> (Vec<u8>, Vec<u8>) {
    let mut key = vec![0u8; 24];
    let mut value = vec![0u8; 150];
    rng.fill(&mut key[..]);
    rng.fill(&mut value[..]);
    (key, value)
}

fn open(dir: &std::path::Path, entries: usize, rng: &mut SmallRng) -> (Database, Keyspace) {
    let mut options = Options::default()
        .with_durability(Durability::None)
        .with_pool_bytes(1 << 30);
    options.fold_delta_bytes = u64::MAX / 4;
    options.fold_interval = Duration::from_secs(3600);
    options.checkpoint_interval = Duration::from_secs(3600);
    options.checkpoint_wal_bytes = u64::MAX / 4;
    options.checkpoint_dirty_bytes = u64::MAX / 4;
    let db = Database::open(dir, options).unwrap();
    let mut data: Vec<(Vec<u8>, Vec<u8>)> = (0..entries).map(|_| random_entry(rng)).collect();
    data.sort();
    data.dedup_by(|a, b| a.0 == b.0);
    let mut loader = db.load_keyspace("bench").unwrap();
    for (key, value) in &data {
        loader.put(key, value, None).unwrap();
    }
    let keyspace = loader.finish().unwrap().keyspace;
    (db, keyspace)
}

fn main() {
    let workload = std::env::args().nth(1).unwrap_or_else(|| "range_10".into());
    let entries = std::env::args()
        .nth(2)
        .map_or(ENTRIES, |count| count.parse().unwrap());
    let operations = std::env::args()
        .nth(3)
        .map_or(OPERATIONS, |count| count.parse().unwrap());
    let mut rng = SmallRng::seed_from_u64(0x6b65656c);
    let dir = tempfile::tempdir().unwrap();
    let (db, keyspace) = open(dir.path(), entries, &mut rng);
    if workload.ends_with("_busy") {
        for _ in 0..BUSY_COMMITS {
            let batch: Vec<_> = (0..BUSY_COMMIT_KEYS)
                .map(|_| random_entry(&mut rng))
                .collect();
            db.update(|tx| {
                for (key, value) in &batch {
                    tx.put(&keyspace, key, value.clone())?;
                }
                Ok(())
            })
            .unwrap();
        }
    }
    let starts: Vec<Vec<u8>> = (0..operations).map(|_| random_entry(&mut rng).0).collect();
    // Warm: every page cached before counting starts.
    let tx = db.begin_read();
    assert!(tx.range(&keyspace, ..).unwrap().count() >= entries / 2);
    drop(tx);
    let start = std::time::Instant::now();
    let operations = measured(&db, &keyspace, &starts, &workload);
    let elapsed = start.elapsed();
    println!(
        "{workload}: {operations} operations, {:.0} ns each",
        elapsed.as_nanos() as f64 / operations as f64
    );
}

/// Runs `workload`; the operations it counted.
#[inline(never)]
fn measured(db: &Database, keyspace: &Keyspace, starts: &[Vec<u8>], workload: &str) -> usize {
    match workload {
        "range_10" | "range_10_busy" => {
            for chunk in starts.chunks(RANGES_PER_TRANSACTION) {
                let tx = db.begin(Isolation::Snapshot);
                for start in chunk {
                    let bounds = (Bound::Included(start.as_slice()), Bound::Unbounded);
                    let mut range = tx.range(keyspace, bounds).unwrap();
                    for _ in 0..10 {
                        let Some(entry) = range.next_with(|key, value| {
                            black_box((key, value));
                        }) else {
                            break;
                        };
                        entry.unwrap();
                    }
                }
                tx.rollback();
            }
            starts.len()
        }
        "scan" | "scan_busy" => {
            let tx = db.begin(Isolation::Snapshot);
            let mut range = tx.range(keyspace, ..).unwrap();
            let mut entries = 0;
            while let Some(entry) = range.next_with(|key, value| {
                black_box((key, value));
            }) {
                entry.unwrap();
                entries += 1;
            }
            entries
        }
        other => panic!("unknown workload {other}"),
    }
}

//! The cost of the B+tree's read paths on the redb benchmark's shape
//! (24-byte random keys, 150-byte random values, bulk loaded, all pages
//! cached), one workload a run, meant to be counted in instructions (stable
//! on a loaded machine where times are not):
//!
//! ```text
//! cargo build --release -p keel-btree --example cursor_instructions
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='cursor_instructions::measured' \
//!     target/release/examples/cursor_instructions range_10
//! target/release/examples/cursor_instructions range_10 1000000 1000000 # timed
//! ```
//!
//! Workloads: `range_10` (the 10 entries from a random present key on,
//! visited in place with `next_with`), `range_10_owned` (the same, taken
//! as `Bytes` entries), `scan` (every entry, visited in place), `get`
//! (a point read of a random present key, `get_with`). Instructions per
//! operation = the total callgrind reports ÷ the operations printed.

#![allow(clippy::unwrap_used)] // An example: a failed unwrap is a failed run.

mod common;

use std::hint::black_box;

use keel_btree::BTree;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Entries in the tree (a second argument sets another count).
const ENTRIES: usize = 200_000;
/// Range reads and point reads counted (a third argument sets another
/// count).
const OPERATIONS: usize = 20_000;

fn main() {
    let workload = std::env::args().nth(1).unwrap_or_else(|| "range_10".into());
    let entries = std::env::args()
        .nth(2)
        .map_or(ENTRIES, |count| count.parse().unwrap());
    let mut rng = SmallRng::seed_from_u64(0x6b65656c);
    let mut data: Vec<(Vec<u8>, Vec<u8>)> = (0..entries)
        .map(|_| {
            let mut key = vec![0u8; 24];
            let mut value = vec![0u8; 150];
            rng.fill(&mut key[..]);
            rng.fill(&mut value[..]);
            (key, value)
        })
        .collect();
    data.sort();
    data.dedup_by(|a, b| a.0 == b.0);
    let (_dir, tree) = common::bulk_loaded(data.iter().map(|(k, v)| (k, v)));
    let operations = std::env::args()
        .nth(3)
        .map_or(OPERATIONS, |count| count.parse().unwrap());
    let keys: Vec<&[u8]> = (0..operations)
        .map(|_| data[rng.random_range(0..data.len())].0.as_slice())
        .collect();
    // Warm: every page cached before counting starts.
    let warm = tree.iter().count();
    assert_eq!(warm, data.len());
    let start = std::time::Instant::now();
    let operations = measured(&tree, &keys, &workload);
    let elapsed = start.elapsed();
    println!(
        "{workload}: {operations} operations, {:.0} ns each",
        elapsed.as_nanos() as f64 / operations as f64
    );
}

/// Runs `workload`; the operations it counted.
#[inline(never)]
fn measured(tree: &BTree, keys: &[&[u8]], workload: &str) -> usize {
    match workload {
        "range_10" => {
            for key in keys {
                let mut range = tree.range(*key..);
                for _ in 0..10 {
                    let entry = range.next_with(true, |key, value| {
                        black_box((key, value));
                    });
                    let Some(entry) = entry else { break };
                    entry.unwrap();
                }
            }
            keys.len()
        }
        "range_10_owned" => {
            for key in keys {
                for entry in tree.range(*key..).take(10) {
                    black_box(entry.unwrap());
                }
            }
            keys.len()
        }
        "scan" => {
            let mut range = tree.iter();
            let mut entries = 0;
            while let Some(entry) = range.next_with(true, |key, value| {
                black_box((key, value));
            }) {
                entry.unwrap();
                entries += 1;
            }
            entries
        }
        "get" => {
            for key in keys {
                let found = tree.get_with(key, |value| black_box(value).is_some());
                assert!(found.unwrap());
            }
            keys.len()
        }
        other => panic!("unknown workload {other}"),
    }
}

//! The cost of folding random keys into a bulk-loaded tree one by one, as
//! the engine's fold does (`insert_parts` with a 4-byte keyspace prefix,
//! 28-byte keys, 150-byte values), meant to be counted in instructions:
//!
//! ```text
//! cargo build --release -p keel-btree --example fold_instructions
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='fold_instructions::measured' \
//!     target/release/examples/fold_instructions 1000000 100000 5000
//! ```
//!
//! A third argument sorts the new keys in batches of that many, as a fold
//! hands them over (each batch in key order); without it they come in
//! random order.
//!
//! Only the inserts are counted (the toggle); instructions per inserted
//! key = the total callgrind reports ÷ the inserts printed. The run also
//! prints the splits the inserts made and the leaves' fill after them.

#![allow(clippy::unwrap_used)] // An example: a failed unwrap is a failed run.

mod common;

use keel_btree::BTree;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Entries bulk loaded (a first argument sets another count).
const ENTRIES: usize = 1_000_000;
/// Random new keys inserted one by one (a second argument sets another
/// count).
const INSERTS: usize = 100_000;
/// The keyspace prefix every key starts with.
const PREFIX: [u8; 4] = [0, 0, 0, 1];

fn key(rng: &mut SmallRng) -> Vec<u8> {
    let mut key = vec![0u8; 28];
    key[..4].copy_from_slice(&PREFIX);
    rng.fill(&mut key[4..]);
    key
}

fn main() {
    let argument = |n: usize, default: usize| {
        std::env::args()
            .nth(n)
            .map_or(default, |count| count.parse().unwrap())
    };
    let (entries, inserts) = (argument(1, ENTRIES), argument(2, INSERTS));
    let mut rng = SmallRng::seed_from_u64(0x6b65656c);
    let mut value = vec![0u8; 150];
    rng.fill(&mut value[..]);
    let mut keys: Vec<Vec<u8>> = (0..entries).map(|_| key(&mut rng)).collect();
    keys.sort();
    keys.dedup();
    let (_dir, tree) = common::bulk_loaded(keys.iter().map(|k| (k, &value)));
    let mut new: Vec<Vec<u8>> = (0..inserts).map(|_| key(&mut rng)).collect();
    for batch in new.chunks_mut(argument(3, 1).max(1)) {
        batch.sort();
    }
    let before = tree.stats().splits;
    let start = std::time::Instant::now();
    measured(&tree, &new, &value);
    let elapsed = start.elapsed();
    let splits = tree.stats().splits - before;
    let report = tree.check().unwrap();
    assert!(report.is_ok(), "{report:?}");
    println!(
        "{inserts} inserts, {splits} splits, {:.0} ns each; leaf fill {:.4}, inner fill {:.4}",
        elapsed.as_nanos() as f64 / inserts.max(1) as f64,
        report.leaf_fill(),
        report.inner_fill(),
    );
}

/// The counted part: each key inserted as the fold does, its value in two
/// parts.
#[inline(never)]
fn measured(tree: &BTree, keys: &[Vec<u8>], value: &[u8]) {
    for key in keys {
        tree.insert_parts(key, &value[..8], &value[8..]).unwrap();
    }
}

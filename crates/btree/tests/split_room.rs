#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! A leaf's split plans the pages it reaches before it changes anything:
//! a parent is left out (neither latched nor given a page in case it
//! splits) when it surely takes the separator, which is no longer than the
//! leaf's longest key and shares with the parent's prefix at least what
//! the leaf's keys all share. Inner pages packed full by a bulk load, with
//! long prefixes, then take random inserts — keys under the prefix of
//! many lengths, and keys off it — and the tree must stay whole: a bound
//! too loose would make a parent split that was not planned for (an
//! error), or overfill it (a failed check).

mod common;

use std::collections::BTreeMap;

use common::{assert_matches, pager};
use keel_btree::{BTree, BULK_FILL_DEFAULT};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A key under `prefix`: 4 random bytes of a small alphabet, then a run
/// of fewer than `longest` `z`s — keys that share their first bytes
/// share long runs too, so separators between them are long, and a short
/// key may land among long ones.
fn key(prefix: &[u8], longest: usize, rng: &mut SmallRng) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend((0..4).map(|_| b"abcd"[rng.random_range(0..4)]));
    key.resize(key.len() + rng.random_range(0..longest), b'z');
    key
}

#[test]
fn parents_full_under_a_long_prefix_take_their_leaves_separators() {
    let prefix = b"keyspace:0001:users:";
    for seed in 0..3 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let (_vfs, pager) = pager(seed, 8192);
        let tree = BTree::create(pager).unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = (0..30_000)
            .map(|_| {
                (
                    key(prefix, 150, &mut rng),
                    vec![7u8; rng.random_range(0..60)],
                )
            })
            .collect();
        tree.bulk_load(model.iter(), BULK_FILL_DEFAULT).unwrap();
        for step in 0..20_000u32 {
            // Mostly short keys into leaves of longer ones, whose
            // separators may be longer than the key put in.
            let key = match step % 10 {
                // Off the prefix: a separator that may share none of it.
                0 => key(b"keyspace:0001:", 150, &mut rng),
                9 => key(b"k", 150, &mut rng),
                1 | 2 => key(prefix, 150, &mut rng),
                _ => key(prefix, 1, &mut rng),
            };
            let value = step.to_be_bytes().repeat(rng.random_range(0..20));
            tree.insert(&key, &value).unwrap();
            model.insert(key, value);
        }
        let report = tree.check().unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        assert!(tree.stats().splits > 100, "the inserts split pages");
        assert_matches(&tree, &model);
    }
}

/// Keys that part right after a long prefix: separators barely past it,
/// whose heads take the prefix's last bytes, into parents whose own
/// prefix they may shorten.
#[test]
fn parents_take_separators_that_shorten_their_prefix() {
    let prefix = b"keyspace:0001:users:";
    let key = |rng: &mut SmallRng| {
        let mut key = prefix.to_vec();
        key.extend((0..4).map(|_| rng.random::<u8>()));
        key
    };
    for seed in 0..3 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let (_vfs, pager) = pager(seed, 8192);
        let tree = BTree::create(pager).unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = (0..30_000)
            .map(|_| (key(&mut rng), vec![7u8; rng.random_range(0..40)]))
            .collect();
        tree.bulk_load(model.iter(), BULK_FILL_DEFAULT).unwrap();
        for step in 0..20_000u32 {
            let key = key(&mut rng);
            let value = step.to_be_bytes().repeat(rng.random_range(0..10));
            tree.insert(&key, &value).unwrap();
            model.insert(key, value);
        }
        let report = tree.check().unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_matches(&tree, &model);
    }
}

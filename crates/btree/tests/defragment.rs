#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Defragmentation packs pages full: a tree thinned out at random keeps
//! every entry, passes its check without leaking a page, and its leaves
//! and inner pages come out nearly full; inserts and deletes afterwards
//! (which split the full pages) stay correct; readers keep reading while
//! it runs.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::{VALUE_LENGTHS, assert_matches, engine_entry, key, long_key, pager, sound, value};
use keel_btree::{BTree, CheckReport};
use keel_pager::Pager;
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// `count` entries of the engine's shape from `seed`.
fn engine_entries(count: usize, seed: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..count).map(|_| engine_entry(&mut rng)).collect()
}

/// A tree of `count` engine-shaped entries inserted at random, half of
/// them then deleted at random, and its model.
fn thinned(
    count: usize,
    frames: u64,
) -> (std::sync::Arc<Pager>, BTree, BTreeMap<Vec<u8>, Vec<u8>>) {
    let (_vfs, pager) = pager(3, frames);
    let tree = BTree::create(pager.clone()).unwrap();
    let mut model = BTreeMap::new();
    for (key, value) in engine_entries(count, 19) {
        tree.insert(&key, &value).unwrap();
        model.insert(key, value);
    }
    let mut rng = SmallRng::seed_from_u64(20);
    let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
    for key in keys {
        if rng.random_bool(0.5) {
            assert!(tree.delete(&key).unwrap());
            model.remove(&key);
        }
    }
    (pager, tree, model)
}

#[test]
fn a_randomly_thinned_tree_packs_its_leaves_and_inner_pages_nearly_full() {
    let (pager, tree, mut model) = thinned(40_000, 4096);
    let before = sound(&tree, &pager);
    assert!(before.leaf_fill() < 0.5, "{:.3}", before.leaf_fill());
    let pages_before = pager.allocated_pages().unwrap().len();
    let freed = tree.defragment().unwrap();
    let after = sound(&tree, &pager);
    assert_matches(&tree, &model);
    let pages_after = pager.allocated_pages().unwrap().len();
    assert_eq!(pages_before - pages_after, freed as usize);
    // Measured: 96.8% for the leaves and 98.9% for the inner pages at 1M
    // entries (footprint bench), as high here; an entry costs 180 bytes,
    // so a full leaf of 22 is 97.4% full.
    assert!(after.leaf_fill() >= 0.95, "leaves {:.3}", after.leaf_fill());
    // The inner pages below the root hold no more than a page beyond what
    // their bytes fill (here 4 pages under the root, from 16).
    let inner_bytes = after.bytes_used - after.leaf_bytes_used;
    assert!(
        after.inner_nodes - 1 <= inner_bytes.div_ceil(after.node_bytes_usable) + 1,
        "{} inner pages for {inner_bytes} bytes",
        after.inner_nodes
    );
    // Within 1% of the fewest leaves the entries fit in.
    let per_leaf = after.node_bytes_usable / 180;
    let fewest = after.entries.div_ceil(per_leaf);
    assert!(
        after.leaves * 100 <= fewest * 101,
        "{} leaves, {fewest} at the fewest",
        after.leaves
    );
    eprintln!(
        "leaves {} -> {} ({:.1}% -> {:.1}% full), inner pages {} -> {} ({:.1}% -> {:.1}%)",
        before.leaves,
        after.leaves,
        before.leaf_fill() * 100.0,
        after.leaf_fill() * 100.0,
        before.inner_nodes,
        after.inner_nodes,
        before.inner_fill() * 100.0,
        after.inner_fill() * 100.0,
    );
    // A packed tree has nothing left to pack, and its full pages split
    // as inserts and deletes go on.
    assert_eq!(tree.defragment().unwrap(), 0);
    let splits = tree.stats().splits;
    for (key, value) in engine_entries(5_000, 21) {
        tree.insert(&key, &value).unwrap();
        model.insert(key, value);
    }
    let mut rng = SmallRng::seed_from_u64(22);
    let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
    for key in keys.iter().filter(|_| rng.random_bool(0.1)) {
        assert!(tree.delete(key).unwrap());
        model.remove(key);
    }
    assert!(tree.stats().splits > splits);
    sound(&tree, &pager);
    assert_matches(&tree, &model);
}

#[test]
fn packing_leaves_the_tree_no_taller_and_nearly_as_small_as_a_bulk_load() {
    let (pager, tree, model) = thinned(20_000, 4096);
    tree.defragment().unwrap();
    let packed = sound(&tree, &pager);
    let (_vfs, bulk_pager) = common::pager(4, 4096);
    let bulk = BTree::create(bulk_pager.clone()).unwrap();
    bulk.bulk_load(model.iter(), 1.0).unwrap();
    let loaded = sound(&bulk, &bulk_pager);
    assert_eq!(packed.entries, loaded.entries);
    assert!(packed.height <= loaded.height);
    assert!(
        packed.leaves * 100 <= loaded.leaves * 101,
        "{} leaves packed, {} bulk-loaded full",
        packed.leaves,
        loaded.leaves
    );
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        id: u16,
        len: usize,
    },
    Delete {
        id: u16,
    },
    /// Deletes every id in the run whose hash picks it: thinning.
    Thin {
        first: u16,
        count: u16,
        seed: u8,
    },
}

fn op(ids: u16) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..ids, prop::sample::select(VALUE_LENGTHS.to_vec())).prop_map(|(id, len)| Op::Insert { id, len }),
        3 => (0..ids).prop_map(|id| Op::Delete { id }),
        1 => (0..ids, 1..ids, any::<u8>()).prop_map(|(first, count, seed)| Op::Thin { first, count, seed }),
    ]
}

fn apply(
    tree: &BTree,
    model: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    key: fn(u16) -> Vec<u8>,
    ids: u16,
    op: &Op,
    version: u32,
) {
    match *op {
        Op::Insert { id, len } => {
            let value = value(id, version, len);
            tree.insert(&key(id), &value).unwrap();
            model.insert(key(id), value);
        }
        Op::Delete { id } => {
            assert_eq!(
                tree.delete(&key(id)).unwrap(),
                model.remove(&key(id)).is_some()
            );
        }
        Op::Thin { first, count, seed } => {
            for id in first..first.saturating_add(count).min(ids) {
                if u32::from(id)
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(u32::from(seed))
                    % 3
                    != 0
                {
                    assert_eq!(
                        tree.delete(&key(id)).unwrap(),
                        model.remove(&key(id)).is_some()
                    );
                }
            }
        }
    }
}

/// Builds a tree with `before`, defragments it, checks it against the
/// model, then goes on with `after` and checks again.
fn run(key: fn(u16) -> Vec<u8>, ids: u16, fill: Vec<u16>, before: &[Op], after: &[Op]) {
    let (_vfs, pager) = pager(5, 48);
    let tree = BTree::create(pager.clone()).unwrap();
    let mut model = BTreeMap::new();
    for (version, id) in fill.into_iter().enumerate() {
        let op = Op::Insert {
            id,
            len: VALUE_LENGTHS[usize::from(id) % 4],
        };
        apply(&tree, &mut model, key, ids, &op, version as u32);
    }
    for (version, op) in before.iter().enumerate() {
        apply(&tree, &mut model, key, ids, op, 10_000 + version as u32);
    }
    let nodes = |report: &CheckReport| report.leaves + report.inner_nodes;
    let before_nodes = nodes(&sound(&tree, &pager));
    let freed = tree.defragment().unwrap();
    assert_eq!(before_nodes - nodes(&sound(&tree, &pager)), freed);
    assert_matches(&tree, &model);
    for (version, op) in after.iter().enumerate() {
        apply(&tree, &mut model, key, ids, op, 20_000 + version as u32);
        if version % 8 == 0 {
            sound(&tree, &pager);
        }
    }
    tree.defragment().unwrap();
    sound(&tree, &pager);
    assert_matches(&tree, &model);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn a_defragmented_tree_matches_its_model_before_and_after_more_changes(
        fill in prop::collection::vec(0u16..800, 0..800),
        before in prop::collection::vec(op(800), 0..200),
        after in prop::collection::vec(op(800), 0..120),
    ) {
        run(key, 800, fill, &before, &after);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn a_defragmented_tree_of_long_keys_matches_its_model(
        fill in prop::collection::vec(0u16..300, 0..300),
        before in prop::collection::vec(op(300), 0..80),
        after in prop::collection::vec(op(300), 0..40),
    ) {
        run(long_key, 300, fill, &before, &after);
    }
}

#[test]
fn readers_and_a_writer_go_on_while_defragment_packs_the_tree() {
    let (_vfs, pager) = pager(9, 256);
    let tree = BTree::create(pager.clone()).unwrap();
    // Ids below `ids` are thinned out and packed; the writer churns those
    // from `ids` up, whose keys interleave with them (`key` puts the id
    // first, big-endian).
    let ids = 3000u16;
    let kept = |id: u16| id.is_multiple_of(5);
    for id in 0..ids {
        tree.insert(&key(id), &value(id, 0, 150)).unwrap();
    }
    let done = AtomicBool::new(false);
    let churned = thread::scope(|scope| {
        let (tree, done) = (&tree, &done);
        scope.spawn(move || {
            // Thin out and pack, several times over, the tree growing back
            // in between.
            for round in 0..4u32 {
                for id in (0..ids).filter(|&id| !kept(id)) {
                    tree.delete(&key(id)).unwrap();
                }
                assert!(tree.defragment().unwrap() > 0, "round {round}");
                for id in (0..ids).filter(|&id| !kept(id)) {
                    tree.insert(&key(id), &value(id, round + 1, 150)).unwrap();
                }
            }
            done.store(true, Ordering::Release);
        });
        let writer = scope.spawn(move || {
            let mut rng = SmallRng::seed_from_u64(99);
            let mut model = BTreeMap::new();
            while !done.load(Ordering::Acquire) {
                let id = rng.random_range(ids..ids + 1000);
                if rng.random_bool(0.6) {
                    let len = VALUE_LENGTHS[rng.random_range(0..VALUE_LENGTHS.len())];
                    tree.insert(&key(id), &value(id, 1, len)).unwrap();
                    model.insert(key(id), value(id, 1, len));
                } else {
                    assert_eq!(
                        tree.delete(&key(id)).unwrap(),
                        model.remove(&key(id)).is_some()
                    );
                }
            }
            model
        });
        for reader in 0..2u64 {
            scope.spawn(move || {
                let mut rng = SmallRng::seed_from_u64(reader);
                let mut scans = 0;
                while !done.load(Ordering::Acquire) || scans < 5 {
                    let id = rng.random_range(0..ids / 5) * 5;
                    assert_eq!(
                        tree.get(&key(id)).unwrap(),
                        Some(value(id, 0, 150)),
                        "kept key {id}"
                    );
                    if rng.random_bool(0.01) {
                        let found: Vec<Vec<u8>> =
                            tree.iter().map(|entry| entry.unwrap().0.to_vec()).collect();
                        assert!(found.windows(2).all(|pair| pair[0] < pair[1]));
                        let mut expected: Vec<Vec<u8>> =
                            (0..ids).filter(|&id| kept(id)).map(key).collect();
                        expected.sort();
                        let mut all = found.iter();
                        for stable in &expected {
                            assert!(all.any(|found| found == stable), "a kept key was skipped");
                        }
                        scans += 1;
                    }
                }
            });
        }
        writer.join().unwrap()
    });
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = (0..ids)
        .map(|id| {
            let version = if kept(id) { 0 } else { 4 };
            (key(id), value(id, version, 150))
        })
        .collect();
    model.extend(churned);
    sound(&tree, &pager);
    assert_matches(&tree, &model);
}

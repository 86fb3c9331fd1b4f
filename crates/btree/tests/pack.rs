#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Leaves stay full under random inserts and deletes: `pack` rewrites
//! runs of half-empty leaves the writer split or thinned into fewer
//! pages. It keeps every entry (against a model), leaks no page, and
//! leaves pages fuller than the splits alone did; readers keep reading
//! while it runs.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::{VALUE_LENGTHS, assert_matches, engine_entry, key, pager, sound, value};
use keel_btree::{BTree, CheckReport, PACK_FILL};
use keel_pager::Pager;
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Entries a leaf holds on average.
fn per_leaf(report: &CheckReport) -> f64 {
    report.entries as f64 / report.leaves as f64
}

/// A bulk-loaded tree of `count` entries, then `inserts` random ones:
/// the tree, its pager and model.
fn loaded_then_inserted(
    count: usize,
    inserts: usize,
) -> (std::sync::Arc<Pager>, BTree, BTreeMap<Vec<u8>, Vec<u8>>) {
    let (_vfs, pager) = pager(11, 4096);
    let tree = BTree::create(pager.clone()).unwrap();
    let mut rng = SmallRng::seed_from_u64(5);
    let model: BTreeMap<Vec<u8>, Vec<u8>> = (0..count).map(|_| engine_entry(&mut rng)).collect();
    tree.bulk_load(model.iter(), keel_btree::BULK_FILL_DEFAULT)
        .unwrap();
    let mut model = model;
    for _ in 0..inserts {
        let (key, value) = engine_entry(&mut rng);
        tree.insert(&key, &value).unwrap();
        model.insert(key, value);
    }
    (pager, tree, model)
}

#[test]
fn random_inserts_into_a_bulk_loaded_tree_keep_its_leaves_full() {
    // 4 KiB pages hold 22 of these entries; the bulk load leaves 20.
    let (pager, tree, model) = loaded_then_inserted(20_000, 2_000);
    let before = sound(&tree, &pager);
    assert_matches(&tree, &model);
    let freed = tree.pack().unwrap();
    let after = sound(&tree, &pager);
    assert_matches(&tree, &model);
    assert_eq!(before.leaves - after.leaves, freed, "{before:?} {after:?}");
    // Splits alone left about 13 a leaf here (58% full).
    assert!(
        per_leaf(&after) >= 22.0 * 0.8,
        "{:.1} entries a leaf after packing ({:.1} before)",
        per_leaf(&after),
        per_leaf(&before)
    );
    assert_eq!(tree.pack().unwrap(), 0, "nothing left to pack");
}

#[test]
fn thinned_leaves_are_packed_and_the_walk_covers_a_remembered_overflow() {
    // The second has enough deletes (~100,000 of 28-byte keys) that the
    // writer stops remembering keys (past 4 MiB) and the pack walks every
    // leaf: both ways end with the same fill.
    for (count, deleted) in [(6_000usize, 0.6), (250_000, 0.7)] {
        let (pager, tree, mut model) = loaded_then_inserted(count, 0);
        let mut rng = SmallRng::seed_from_u64(9);
        let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
        for key in keys {
            if rng.random_bool(deleted) {
                assert!(tree.delete(&key).unwrap());
                model.remove(&key);
            }
        }
        let before = sound(&tree, &pager);
        tree.pack().unwrap();
        let after = sound(&tree, &pager);
        assert_matches(&tree, &model);
        assert!(
            per_leaf(&after) >= 22.0 * PACK_FILL * 0.8,
            "{count}: {:.1} entries a leaf after packing ({:.1} before)",
            per_leaf(&after),
            per_leaf(&before)
        );
    }
}

#[test]
fn readers_see_every_entry_while_a_pack_runs() {
    let (pager, tree, model) = loaded_then_inserted(10_000, 3_000);
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut rounds = 0u64;
            while !stop.load(Ordering::Acquire) || rounds == 0 {
                for (key, value) in model.iter().step_by(97) {
                    assert_eq!(tree.get(key).unwrap().as_deref(), Some(&value[..]));
                }
                let scanned = tree.iter().count();
                assert_eq!(scanned, model.len());
                rounds += 1;
            }
            rounds
        });
        assert!(tree.pack().unwrap() > 0);
        stop.store(true, Ordering::Release);
        assert!(reader.join().unwrap() > 0);
    });
    sound(&tree, &pager);
    assert_matches(&tree, &model);
}

#[test]
fn packs_between_a_concurrent_writers_steps_keep_every_entry() {
    let (pager, tree, model) = loaded_then_inserted(8_000, 2_000);
    let mut model = model;
    let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
    let changes = thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut rng = SmallRng::seed_from_u64(77);
            let mut changes = Vec::new();
            for round in 0..40_000 {
                if round % 3 == 0 {
                    let key = &keys[rng.random_range(0..keys.len())];
                    tree.delete(key).unwrap();
                    changes.push((key.clone(), None));
                } else {
                    let (key, value) = engine_entry(&mut rng);
                    tree.insert(&key, &value).unwrap();
                    changes.push((key, Some(value)));
                }
            }
            changes
        });
        let mut packs = 0;
        while !writer.is_finished() {
            tree.pack().unwrap();
            packs += 1;
        }
        assert!(packs > 1, "the packs ran while the writer did");
        writer.join().unwrap()
    });
    for (key, value) in changes {
        match value {
            Some(value) => model.insert(key, value),
            None => model.remove(&key),
        };
    }
    tree.pack().unwrap();
    sound(&tree, &pager);
    assert_matches(&tree, &model);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random inserts and deletes with packs between them hold exactly
    /// what a model holds, and never leak a page.
    #[test]
    fn packs_between_random_writes_keep_the_model(
        ops in prop::collection::vec((0u16..800, any::<bool>(), 0usize..VALUE_LENGTHS.len()), 1..1500),
        pack_every in 50usize..400,
    ) {
        let (_vfs, pager) = pager(2, 64);
        let tree = BTree::create(pager.clone()).unwrap();
        let mut model = BTreeMap::new();
        for (step, (id, insert, len)) in ops.into_iter().enumerate() {
            if insert {
                let value = value(id, step as u32, VALUE_LENGTHS[len]);
                tree.insert(&key(id), &value).unwrap();
                model.insert(key(id), value);
            } else {
                prop_assert_eq!(tree.delete(&key(id)).unwrap(), model.remove(&key(id)).is_some());
            }
            if step % pack_every == pack_every - 1 {
                tree.pack().unwrap();
                sound(&tree, &pager);
            }
        }
        tree.pack().unwrap();
        sound(&tree, &pager);
        assert_matches(&tree, &model);
    }
}

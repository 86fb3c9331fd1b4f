#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! One writer and several readers on one tree. The writer churns odd keys
//! (inserts with every value size, deletes: splits, merges, rebalancing
//! and overflow chains all the time) while the even keys stay put.
//! Readers must always find every even key with its value, see only
//! well-formed values of odd keys, and get range scans that are sorted,
//! free of duplicates and hold every even key in range. A second run does
//! the same with long keys that all share a prefix longer than a cell
//! keeps, so every comparison reads chains the writer frees and writes.

mod common;

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::{VALUE_LENGTHS, key, pager, value};
use keel_btree::BTree;
use rand::{Rng, SeedableRng};

const IDS: u16 = 1200;
const WRITER_OPERATIONS: u32 = 12_000;

fn odd_value(id: u16, len: usize) -> Vec<u8> {
    value(id, 7, len)
}

/// A long key: 3,000 shared bytes, then the id (big-endian, so ids order
/// as their keys), then a tail whose length depends on the id.
fn shared_prefix_key(id: u16) -> Vec<u8> {
    let mut key = vec![b'c'; 3000];
    key.extend_from_slice(&id.to_be_bytes());
    key.resize(key.len() + usize::from(id % 3) * 2500, b't');
    key
}

#[test]
fn readers_see_stable_keys_and_ordered_scans_while_the_writer_reshapes_the_tree() {
    readers_and_writer(key, IDS, WRITER_OPERATIONS);
}

#[test]
fn readers_settle_long_key_ties_while_the_writer_reshapes_the_tree() {
    let stats = readers_and_writer(shared_prefix_key, 400, 3000);
    assert!(stats.key_chain_compares > 0, "{stats:?}");
}

fn readers_and_writer(key: fn(u16) -> Vec<u8>, ids: u16, operations: u32) -> keel_btree::TreeStats {
    let (_vfs, pager) = pager(11, 96);
    let tree = BTree::create(pager.clone()).unwrap();
    for id in (0..ids).step_by(2) {
        tree.insert(
            &key(id),
            &value(id, 0, VALUE_LENGTHS[usize::from(id / 2) % 5]),
        )
        .unwrap();
    }
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let tree = &tree;
        let done = &done;
        scope.spawn(move || {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
            for _ in 0..operations {
                let id = rng.random_range(0..ids / 2) * 2 + 1;
                if rng.random_bool(0.55) {
                    let len = VALUE_LENGTHS[rng.random_range(0..VALUE_LENGTHS.len())];
                    tree.insert(&key(id), &odd_value(id, len)).unwrap();
                } else {
                    tree.delete(&key(id)).unwrap();
                }
            }
            done.store(true, Ordering::Release);
        });
        for reader in 0..3u64 {
            scope.spawn(move || {
                let mut rng = rand::rngs::SmallRng::seed_from_u64(100 + reader);
                let mut scans = 0u64;
                while !done.load(Ordering::Acquire) || scans < 20 {
                    let id = rng.random_range(0..ids);
                    let found = tree.get(&key(id)).unwrap();
                    if id % 2 == 0 {
                        assert_eq!(
                            found,
                            Some(value(id, 0, VALUE_LENGTHS[usize::from(id / 2) % 5])),
                            "stable key {id}"
                        );
                    } else if let Some(found) = found {
                        assert_eq!(found, odd_value(id, found.len()), "odd key {id} torn");
                    }
                    if rng.random_bool(0.05) {
                        scan(tree, &mut rng, key, ids);
                        scans += 1;
                    }
                }
            });
        }
    });
    let report = tree.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let stats = tree.stats();
    eprintln!("{stats:?}");
    assert!(stats.splits > 0 && stats.merges > 0, "{stats:?}");
    stats
}

fn scan(tree: &BTree, rng: &mut rand::rngs::SmallRng, key: fn(u16) -> Vec<u8>, ids: u16) {
    let low = rng.random_range(0..ids);
    let high = rng.random_range(low..ids);
    let (start, end) = (key(low), key(high));
    let reverse = rng.random_bool(0.5);
    let range = tree.range::<&[u8]>((
        Bound::Included(start.as_slice()),
        Bound::Excluded(end.as_slice()),
    ));
    let mut keys: Vec<Vec<u8>> = if reverse {
        range.rev().map(|entry| entry.unwrap().0.to_vec()).collect()
    } else {
        range.map(|entry| entry.unwrap().0.to_vec()).collect()
    };
    if reverse {
        keys.reverse();
    }
    assert!(
        keys.windows(2).all(|pair| pair[0] < pair[1]),
        "scan not sorted or repeats a key"
    );
    let mut expected: Vec<Vec<u8>> = (0..ids)
        .step_by(2)
        .map(key)
        .filter(|k| *k >= start && *k < end)
        .collect();
    expected.sort();
    let mut even: Vec<Vec<u8>> = (0..ids).step_by(2).map(key).collect();
    even.sort();
    let mut found = keys.iter().filter(|k| even.binary_search(k).is_ok());
    for stable in &expected {
        assert_eq!(found.next(), Some(stable), "a stable key was skipped");
    }
}

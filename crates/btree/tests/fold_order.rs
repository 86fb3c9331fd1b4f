#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! The writer keeps the path to the leaf its last insert reached and puts
//! the next key there when one search of that leaf shows it is the key's
//! place (a fold hands keys over in key order, most landing in the same
//! leaf as the one before). Batches in key order, as a fold's, each
//! starting anywhere — before the leaf just used, inside it, in a gap
//! between two of its keys, on a key it holds, after its last key with
//! leaves following, after the tree's last key — interleaved with deletes
//! and runs of descending keys, must leave every key in its place.

mod common;

use std::collections::BTreeMap;

use common::{assert_matches, pager};
use keel_btree::BTree;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Keys with the engine's shape: a shared 4-byte keyspace prefix, then a
/// number whose gaps leave room for keys between.
fn key(number: u32) -> Vec<u8> {
    let mut key = vec![0, 0, 0, 1];
    key.extend_from_slice(format!("member:{number:08}").as_bytes());
    key
}

#[test]
fn fold_ordered_batches_put_every_key_in_its_leaf() {
    let (_vfs, pager) = pager(7, 256);
    let tree = BTree::create(pager).unwrap();
    let mut model = BTreeMap::new();
    let mut rng = SmallRng::seed_from_u64(0x666f6c64);
    // A tree of several levels, its keys every tenth number.
    for number in (0..20_000).step_by(10) {
        let value = vec![b'v'; 20];
        tree.insert(&key(number), &value).unwrap();
        model.insert(key(number), value);
    }
    for round in 0..300u32 {
        let mut batch: Vec<u32> = (0..rng.random_range(1..40))
            .map(|_| rng.random_range(0..20_100))
            .collect();
        batch.sort_unstable();
        if round % 7 == 0 {
            // Descending: each key before the leaf the last one reached.
            batch.reverse();
        }
        for number in batch {
            let value = vec![b'w'; 1 + (number % 30) as usize];
            tree.insert_parts(&key(number), &value[..1], &value[1..])
                .unwrap();
            model.insert(key(number), value);
        }
        if round % 5 == 0 {
            // A delete forgets the path.
            let number = rng.random_range(0..20_100);
            tree.delete(&key(number)).unwrap();
            model.remove(&key(number));
        }
    }
    for (key, value) in &model {
        assert_eq!(tree.get(key).unwrap().as_deref(), Some(value.as_slice()));
    }
    assert_matches(&tree, &model);
}

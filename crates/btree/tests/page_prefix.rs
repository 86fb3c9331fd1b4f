#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Pages that store their keys' shared prefix once (docs/FORMAT.md,
//! "B+tree pages"), seen from outside the page code: keys as the engine
//! makes them (a 4-byte keyspace id first) leave every leaf with a prefix
//! of at least that id, bulk-loaded or inserted at random, through
//! deletes and defragmentation; and `check()` catches a damaged slot key
//! head (the key's bytes it holds, or its padding) and a header's
//! free-space accounting that disagrees with the cells.

mod common;

use std::collections::BTreeMap;

use common::{assert_matches, pager};
use keel_btree::{BTree, CheckReport, Problem};
use keel_pager::{PageId, Pager};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Header offsets of a B+tree page: its kind and its prefix's length.
const KIND: usize = 0;
const PREFIX_LEN: usize = 12;
const GARBAGE: usize = 8;
/// The first slot's key head.
const FIRST_HEAD: usize = 32 + 4;

fn engine_key(keyspace: u32, rng: &mut SmallRng) -> Vec<u8> {
    let mut key = keyspace.to_be_bytes().to_vec();
    key.extend((0..24).map(|_| rng.random::<u8>()));
    key
}

/// The leaves of a checked tree, with their prefix lengths.
fn leaf_prefixes(pager: &Pager, report: &CheckReport) -> Vec<(PageId, usize)> {
    report
        .pages
        .iter()
        .filter_map(|&page| {
            let guard = pager.shared(page).unwrap();
            (guard[KIND] == 1).then(|| {
                let prefix = u16::from_le_bytes([guard[PREFIX_LEN], guard[PREFIX_LEN + 1]]);
                (page, usize::from(prefix))
            })
        })
        .collect()
}

#[test]
fn keyspace_ids_are_stored_once_a_leaf() {
    let (_vfs, pager) = pager(1, 4096);
    let tree = BTree::create(pager.clone()).unwrap();
    let mut rng = SmallRng::seed_from_u64(17);
    let mut model = BTreeMap::new();
    for _ in 0..4000 {
        let key = engine_key(7, &mut rng);
        let value = vec![rng.random::<u8>(); 150];
        tree.insert(&key, &value).unwrap();
        model.insert(key, value);
    }
    let report = tree.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let leaves = leaf_prefixes(&pager, &report);
    assert!(leaves.len() > 100);
    assert!(leaves.iter().all(|&(_, prefix)| prefix >= 4), "{leaves:?}");
    // A key of another keyspace at the edge shrinks the prefix of the last
    // leaf (which keeps fitting, or splits).
    for keyspace in [8u32, 6] {
        let key = engine_key(keyspace, &mut rng);
        tree.insert(&key, b"edge").unwrap();
        model.insert(key, b"edge".to_vec());
    }
    // Deletes of most keys, then defragmentation, keep the tree sound.
    let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
    for key in keys.iter().filter(|_| rng.random_bool(0.8)) {
        assert!(tree.delete(key).unwrap());
        model.remove(key);
    }
    tree.defragment().unwrap();
    let report = tree.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_matches(&tree, &model);
    // Bulk-loaded, every leaf but the first and last (which hold the other
    // keyspaces' keys) has the keyspace id and more as its prefix.
    let bulk = BTree::create(pager.clone()).unwrap();
    bulk.bulk_load(model.iter(), 1.0).unwrap();
    let report = bulk.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let leaves = leaf_prefixes(&pager, &report);
    let inside = leaves.iter().filter(|&&(_, prefix)| prefix >= 4).count();
    assert!(inside + 2 >= leaves.len(), "{leaves:?}");
    assert_matches(&bulk, &model);
}

#[test]
fn check_catches_a_wrong_key_head_and_wrong_free_space() {
    let (_vfs, pager) = pager(2, 4096);
    let tree = BTree::create(pager.clone()).unwrap();
    let mut rng = SmallRng::seed_from_u64(18);
    for _ in 0..500 {
        tree.insert(&engine_key(3, &mut rng), &[1; 100]).unwrap();
    }
    let report = tree.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let (leaf, _) = leaf_prefixes(&pager, &report)[1];
    // The head holds the key's first bytes past the prefix: changed, the
    // key moves out of its place.
    {
        let mut guard = pager.exclusive(leaf).unwrap();
        guard[FIRST_HEAD] ^= 0x80;
    }
    let problems = tree.check().unwrap().problems;
    assert!(
        problems.iter().any(|problem| matches!(
            problem,
            Problem::KeysOutOfOrder { page, .. } | Problem::KeyOutsideParentRange { page, .. }
                if *page == leaf
        )),
        "{problems:?}"
    );
    {
        let mut guard = pager.exclusive(leaf).unwrap();
        guard[FIRST_HEAD] ^= 0x80;
        guard[GARBAGE] = guard[GARBAGE].wrapping_add(8);
    }
    let problems = tree.check().unwrap().problems;
    assert!(
        problems
            .iter()
            .any(|problem| matches!(problem, Problem::FreeSpace { page, .. } if *page == leaf)),
        "{problems:?}"
    );
}

#[test]
fn check_catches_a_key_head_padded_with_other_than_zeros() {
    let (_vfs, pager) = pager(3, 64);
    let tree = BTree::create(pager.clone()).unwrap();
    for key in [&b"a"[..], b"b", b"c"] {
        tree.insert(key, b"v").unwrap();
    }
    assert!(tree.check().unwrap().is_ok());
    {
        // "a" is one byte: the head's other three are padding.
        let mut guard = pager.exclusive(tree.root()).unwrap();
        assert_eq!(guard[FIRST_HEAD..FIRST_HEAD + 4], *b"a\0\0\0");
        guard[FIRST_HEAD + 2] = 1;
    }
    let problems = tree.check().unwrap().problems;
    assert_eq!(
        problems,
        vec![Problem::KeyHead {
            page: tree.root(),
            index: 0
        }]
    );
}

#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! A cursor takes a leaf in batches (a short first one, then more), and
//! goes on in the same leaf without a search while the leaf is unchanged.
//! Here writes land between the pulls of a range, on the same thread, often
//! in the very leaf the cursor is in (next to the last key it returned):
//! the range must still return its keys in order, every key present for
//! the whole scan exactly once, and nothing that was never present.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use keel_btree::BTree;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Page sizes the scans run at: leaves of a small page are copied whole
/// for each batch, those of a large one in part (`range/sparse.rs`).
const PAGE_SIZES: [u32; 2] = [4096, 16384];

/// A short key (many to a leaf, so batches leave entries behind): 8
/// bytes of id, spread so that keys can be written between any two.
fn key(id: u32) -> Vec<u8> {
    (u64::from(id) * 4).to_be_bytes().to_vec()
}

fn value(id: u32, version: u32) -> Vec<u8> {
    let mut value = vec![0u8; 8 + (id as usize % 40)];
    value[..4].copy_from_slice(&id.to_be_bytes());
    value[4..8].copy_from_slice(&version.to_be_bytes());
    value
}

/// One scan in `forward` direction over `lower..upper` ids with writes
/// between pulls, checked as the module says.
fn scan_with_writes(seed: u64, page_size: u32, forward: bool, writes_per_pull: u32) {
    let ids = 3_000u32;
    let mut rng = SmallRng::seed_from_u64(seed);
    let (_vfs, pager) = common::pager_sized(seed, page_size, 256);
    let tree = BTree::create(pager).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for id in (0..ids).filter(|id| id % 3 != 0) {
        tree.insert(&key(id), &value(id, 0)).unwrap();
        model.insert(key(id), value(id, 0));
    }
    let low = rng.random_range(0..ids / 4);
    let high = rng.random_range(3 * ids / 4..ids);
    let (lower, upper) = (Bound::Included(key(low)), Bound::Excluded(key(high)));
    let in_range = |k: &[u8]| k >= key(low).as_slice() && k < key(high).as_slice();
    // Keys present for the whole scan: present now and never written.
    let mut stable: BTreeSet<Vec<u8>> = model.keys().filter(|k| in_range(k)).cloned().collect();
    // Every (key, value) present at some time during the scan.
    let mut seen_values: BTreeSet<(Vec<u8>, Vec<u8>)> =
        model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut range = tree.range::<Vec<u8>>((lower, upper));
    let mut returned: Vec<Vec<u8>> = Vec::new();
    let mut version = 1;
    loop {
        let item = if forward {
            range.next()
        } else {
            range.next_back()
        };
        let Some(item) = item else { break };
        let (k, v) = item.unwrap();
        assert!(in_range(&k), "a key outside the range");
        assert!(
            seen_values.contains(&(k.to_vec(), v.to_vec())),
            "an entry that was never present"
        );
        if let Some(last) = returned.last() {
            let ordered = if forward {
                last.as_slice() < &k[..]
            } else {
                last.as_slice() > &k[..]
            };
            assert!(ordered, "keys out of order or repeated");
        }
        returned.push(k.to_vec());
        // Writes, most of them next to the key just returned (in the leaf
        // the cursor is reading), some anywhere.
        let near = u32::from_be_bytes([0, k[5], k[6], k[7]]) / 4;
        for _ in 0..writes_per_pull {
            let id = if rng.random_bool(0.8) {
                near.saturating_add_signed(rng.random_range(-6..=6))
                    .min(ids)
            } else {
                rng.random_range(0..ids)
            };
            stable.remove(&key(id));
            if rng.random_bool(0.6) {
                // Sometimes long enough to split the leaf.
                let value = if rng.random_bool(0.1) {
                    vec![7u8; 900]
                } else {
                    value(id, version)
                };
                tree.insert(&key(id), &value).unwrap();
                seen_values.insert((key(id), value.clone()));
                model.insert(key(id), value);
            } else {
                tree.delete(&key(id)).unwrap();
                model.remove(&key(id));
            }
            version += 1;
        }
    }
    let returned: BTreeSet<Vec<u8>> = returned.into_iter().collect();
    let missed: Vec<_> = stable.difference(&returned).collect();
    assert!(
        missed.is_empty(),
        "keys present throughout but skipped: {missed:?}"
    );
}

#[test]
fn forward_scans_stay_exact_under_writes_in_the_leaf_they_read() {
    for seed in 0..6 {
        for page_size in PAGE_SIZES {
            scan_with_writes(seed, page_size, true, 1 + (seed as u32 % 3));
        }
    }
}

#[test]
fn reverse_scans_stay_exact_under_writes_in_the_leaf_they_read() {
    for seed in 10..16 {
        for page_size in PAGE_SIZES {
            scan_with_writes(seed, page_size, false, 1 + (seed as u32 % 3));
        }
    }
}

/// Without writes, ranges of every short length from every start agree
/// with the model: batches of a leaf join up without a gap or a repeat.
#[test]
fn short_and_long_ranges_join_their_batches_exactly() {
    for page_size in PAGE_SIZES {
        short_and_long_ranges_at(page_size);
    }
}

fn short_and_long_ranges_at(page_size: u32) {
    let (_vfs, pager) = common::pager_sized(5, page_size, 256);
    let tree = BTree::create(pager).unwrap();
    let mut model = BTreeMap::new();
    for id in 0..1_500u32 {
        tree.insert(&key(id), &value(id, 0)).unwrap();
        model.insert(key(id), value(id, 0));
    }
    let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
    for start in (0..keys.len()).step_by(37) {
        for take in [1, 5, 11, 12, 13, 30, 100, 400] {
            let expected: Vec<_> = model.range(keys[start].clone()..).take(take).collect();
            let found: Vec<_> = tree
                .range(keys[start].as_slice()..)
                .take(take)
                .map(|entry| entry.unwrap())
                .collect();
            assert_eq!(found.len(), expected.len());
            for ((k, v), (ek, ev)) in found.iter().zip(&expected) {
                assert_eq!((&k[..], &v[..]), (ek.as_slice(), ev.as_slice()));
            }
            let expected: Vec<_> = model
                .range(..=keys[start].clone())
                .rev()
                .take(take)
                .collect();
            let found: Vec<_> = tree
                .range(..=keys[start].as_slice())
                .rev()
                .take(take)
                .map(|entry| entry.unwrap())
                .collect();
            assert_eq!(found.len(), expected.len());
            for ((k, v), (ek, ev)) in found.iter().zip(&expected) {
                assert_eq!((&k[..], &v[..]), (ek.as_slice(), ev.as_slice()));
            }
        }
    }
    // Both ends of one range meet without a gap or a repeat.
    let mut range = tree.iter();
    let (mut front, mut back) = (Vec::new(), Vec::new());
    loop {
        let Some(entry) = range.next() else { break };
        front.push(entry.unwrap().0);
        let Some(entry) = range.next_back() else {
            break;
        };
        back.push(entry.unwrap().0);
    }
    back.reverse();
    front.extend(back);
    let all: Vec<Vec<u8>> = front.iter().map(|k| k.to_vec()).collect();
    assert_eq!(all, keys);
}

/// A short range copies only its batch of a leaf (the header, the batch's
/// slots and cells): with keys written in random order (cells scattered
/// in their leaves), overflow values among inline ones, and bounds of
/// every kind inside a leaf, ranges read exactly what the model holds.
#[test]
fn ranges_read_in_part_of_their_leaves_agree_with_the_model() {
    for page_size in PAGE_SIZES {
        ranges_read_in_part_at(page_size, false);
        ranges_read_in_part_at(page_size, true);
    }
}

/// [`ranges_read_in_part_of_their_leaves_agree_with_the_model`] at one page
/// size; with `long_keys`, every 97th key is past a quarter page (a long
/// key, whose leaf is copied whole).
fn ranges_read_in_part_at(page_size: u32, long_keys: bool) {
    let key = |id: u32| {
        let mut key = key(id);
        if long_keys && id.is_multiple_of(97) {
            key.resize(page_size as usize / 3, b'l');
        }
        key
    };
    let (_vfs, pager) = common::pager_sized(9, page_size, 256);
    let tree = BTree::create(pager).unwrap();
    let mut model = BTreeMap::new();
    let mut rng = SmallRng::seed_from_u64(9);
    let mut ids: Vec<u32> = (0..2_000).collect();
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.random_range(0..=i));
    }
    for id in ids {
        // Every 13th value is past a quarter page: in an overflow chain.
        let value = if id % 13 == 0 {
            vec![id as u8; page_size as usize / 3]
        } else {
            value(id, 0)
        };
        tree.insert(&key(id), &value).unwrap();
        model.insert(key(id), value);
    }
    let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
    for start in (0..keys.len()).step_by(29) {
        let end = (start + rng.random_range(1..40)).min(keys.len() - 1);
        let bounds = [
            (Bound::Included(&keys[start]), Bound::Excluded(&keys[end])),
            (Bound::Excluded(&keys[start]), Bound::Included(&keys[end])),
            (Bound::Included(&keys[start]), Bound::Unbounded),
            (Bound::Unbounded, Bound::Included(&keys[end])),
        ];
        for (lower, upper) in bounds {
            let expected: Vec<_> = model.range::<Vec<u8>, _>((lower, upper)).collect();
            let forward: Vec<_> = tree
                .range::<&Vec<u8>>((lower, upper))
                .take(40)
                .map(|entry| entry.unwrap())
                .collect();
            let backward: Vec<_> = tree
                .range::<&Vec<u8>>((lower, upper))
                .rev()
                .take(40)
                .map(|entry| entry.unwrap())
                .collect();
            let same =
                |found: &[(bytes::Bytes, bytes::Bytes)],
                 expected: &mut dyn Iterator<Item = (&Vec<u8>, &Vec<u8>)>| {
                    for (k, v) in found {
                        let (ek, ev) = expected.next().unwrap();
                        assert_eq!((&k[..], &v[..]), (ek.as_slice(), ev.as_slice()));
                    }
                };
            same(&forward, &mut expected.iter().copied());
            same(&backward, &mut expected.iter().rev().copied());
            assert_eq!(forward.len(), expected.len().min(40));
            assert_eq!(backward.len(), expected.len().min(40));
        }
    }
    // Nothing wrote meanwhile: every fill read its leaf at the first try
    // (a batch the partial copy cannot take falls back to a whole copy,
    // not to a restart).
    let stats = tree.stats();
    assert_eq!((stats.restarts, stats.latched_reads), (0, 0));
}

/// Each batch reads its leaf as it is when the batch is taken: the second
/// batch of a leaf copied whole (4 KiB pages) takes the rest of it from
/// the first batch's copy only if the leaf is unchanged, so a key removed
/// from that rest in between is not returned, and the value written over
/// another is the new one.
#[test]
fn a_later_batch_of_a_leaf_reads_it_as_it_is_then() {
    let (_vfs, pager) = common::pager_sized(7, 4096, 256);
    let tree = BTree::create(pager).unwrap();
    for id in 0..2_000u32 {
        tree.insert(&key(id), &value(id, 0)).unwrap();
    }
    for forward in [true, false] {
        let mut range = tree.iter();
        let pull = |range: &mut keel_btree::Range<'_>| {
            let item = if forward {
                range.next()
            } else {
                range.next_back()
            };
            // Copied out: the cursor's copy of the leaf is its own again.
            let (key, value) = item.unwrap().unwrap();
            (key.to_vec(), value.to_vec())
        };
        // The first batch (fewer entries than the leaf holds).
        let ids: Vec<u32> = if forward {
            (0..2_000).collect()
        } else {
            (0..2_000).rev().collect()
        };
        for &id in &ids[..12] {
            assert_eq!(pull(&mut range).0, key(id));
        }
        assert!(tree.delete(&key(ids[12])).unwrap());
        tree.insert(&key(ids[13]), &value(ids[13], 1)).unwrap();
        assert_eq!(pull(&mut range), (key(ids[13]), value(ids[13], 1)));
        // Back as it was for the other direction.
        tree.insert(&key(ids[12]), &value(ids[12], 0)).unwrap();
        tree.insert(&key(ids[13]), &value(ids[13], 0)).unwrap();
    }
}

#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Long keys: keys past what a cell holds keep a prefix in their cell and
//! the rest in an overflow chain, up to `KEY_BYTES_MAX` on every page
//! size. Comparisons that tie on the prefix go on in the chain;
//! separators are truncated (and a split moves to a nearby cut rather
//! than put a long key into a parent); a deleted key's chain, and a
//! removed separator's, are freed; a replaced value keeps its key's chain.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use common::{assert_matches, long_key, owned, value};
use keel_btree::{BTree, BULK_FILL_DEFAULT, Error, KEY_BYTES_MAX, check_pages_in_use};
use keel_io::{SimVfs, Vfs};
use keel_pager::Pager;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn sized_pager(seed: u64, page_size: u32, frames: u64) -> (Arc<SimVfs>, Arc<Pager>) {
    let vfs = Arc::new(SimVfs::new(seed));
    let shared: Arc<dyn Vfs> = vfs.clone();
    let options = common::options_sized(page_size, frames);
    (
        vfs,
        Arc::new(Pager::open(shared, "/db/pages", options).unwrap()),
    )
}

fn reopen(vfs: &Arc<SimVfs>, tree: BTree, page_size: u32, frames: u64) -> BTree {
    let root = tree.root();
    let pager = tree.pager().clone();
    pager.checkpoint(&root.get().to_le_bytes()).unwrap();
    drop(tree);
    drop(pager);
    let shared: Arc<dyn Vfs> = vfs.clone();
    let options = common::options_sized(page_size, frames);
    let pager = Arc::new(Pager::open(shared, "/db/pages", options).unwrap());
    BTree::open(pager, root).unwrap()
}

/// The tree passes its check, reaches exactly the pages in use, and holds
/// `model`.
fn verify(tree: &BTree, model: &Model) {
    assert_matches(tree, model);
    let report = tree.check().unwrap();
    let pages = check_pages_in_use(tree.pager(), &[&report], &[]).unwrap();
    assert!(pages.is_empty(), "pages: {pages:?}");
}

#[test]
fn a_key_over_the_limit_is_a_typed_error_on_every_page_size() {
    for page_size in [4096, 16384, 65536] {
        let (_vfs, pager) = sized_pager(1, page_size, 64);
        let tree = BTree::create(pager.clone()).unwrap();
        assert_eq!(tree.key_bytes_max(), KEY_BYTES_MAX);
        const { assert!(KEY_BYTES_MAX >= 64 << 10) };
        assert!(tree.key_inline_max() < KEY_BYTES_MAX);
        let longest = vec![7u8; KEY_BYTES_MAX];
        tree.insert(&longest, b"fits").unwrap();
        assert_eq!(tree.get(&longest).unwrap().as_deref(), Some(&b"fits"[..]));
        let over = vec![7u8; KEY_BYTES_MAX + 1];
        assert!(matches!(
            tree.insert(&over, b"too long"),
            Err(Error::KeyTooLarge { len, max }) if len == KEY_BYTES_MAX + 1 && max == KEY_BYTES_MAX
        ));
        assert!(
            Error::KeyTooLarge {
                len: KEY_BYTES_MAX + 1,
                max: KEY_BYTES_MAX
            }
            .to_string()
            .contains(&KEY_BYTES_MAX.to_string())
        );
        assert_eq!(tree.get(&over).unwrap(), None);
        assert!(!tree.delete(&over).unwrap());
        assert!(tree.delete(&longest).unwrap());
        assert_eq!(
            pager.allocated_pages().unwrap(),
            vec![tree.root()],
            "{page_size}"
        );
        // A bulk load refuses it too, and leaves nothing behind.
        let entries = [(vec![1u8; 5000], vec![1u8]), (over.clone(), vec![2u8])];
        assert!(matches!(
            tree.bulk_load(entries.iter().map(|(k, v)| (k, v)), BULK_FILL_DEFAULT),
            Err(Error::KeyTooLarge { .. })
        ));
        assert!(tree.is_empty().unwrap());
        assert_eq!(
            pager.allocated_pages().unwrap(),
            vec![tree.root()],
            "{page_size}"
        );
    }
}

/// Keys sharing `shared` bytes of `b'x'`, then differing: at once, in the
/// chain's second page, at their very end, or being prefixes of each
/// other (the shared run alone, the run as long as a cell's prefix).
fn tied_keys(shared: usize) -> Vec<Vec<u8>> {
    let run = vec![b'x'; shared];
    let mut keys = vec![
        run.clone(),
        run[..494].to_vec(),
        run[..495].to_vec(),
        run[..1001].to_vec(),
    ];
    for id in 0..40u8 {
        let mut key = run.clone();
        key.push(id);
        keys.push(key.clone());
        key.extend(std::iter::repeat_n(b'y', 4100));
        key.push(id);
        keys.push(key.clone());
        key.extend(std::iter::repeat_n(b'z', usize::from(id) * 300));
        keys.push(key);
    }
    keys.sort();
    keys.dedup();
    keys
}

#[test]
fn comparisons_that_tie_on_the_prefix_are_settled_by_the_chain() {
    let (vfs, pager) = sized_pager(2, 4096, 48);
    let mut tree = BTree::create(pager).unwrap();
    let mut rng = SmallRng::seed_from_u64(3);
    let keys = tied_keys(10_000);
    let mut order = keys.clone();
    order.shuffle(&mut rng);
    let mut model = Model::new();
    for (index, key) in order.iter().enumerate() {
        let value = value(index as u16, 1, [3, 700, 6000][index % 3]);
        tree.insert(key, &value).unwrap();
        model.insert(key.clone(), value);
    }
    verify(&tree, &model);
    assert!(tree.stats().key_chain_compares > 0, "{:?}", tree.stats());
    let report = tree.check().unwrap();
    assert_eq!(
        report.long_keys,
        keys.len() as u64 - 2,
        "all but two are long"
    );
    // Point reads, present and absent, and bounds between tied keys: each
    // reader settles ties by the chains too.
    let writer_compares = tree.stats().key_chain_compares;
    for key in &keys {
        assert_eq!(tree.get(key).unwrap().as_ref(), model.get(key));
        let mut absent = key.clone();
        absent.push(b'!');
        if !model.contains_key(&absent) {
            assert_eq!(tree.get(&absent).unwrap(), None);
        }
    }
    let read_compares = tree.stats().key_chain_compares;
    assert!(read_compares > writer_compares);
    for _ in 0..60 {
        let low = keys[rng.random_range(0..keys.len())].clone();
        let high = keys[rng.random_range(0..keys.len())].clone();
        if low > high {
            continue;
        }
        let bounds = (Bound::Excluded(low.clone()), Bound::Included(high.clone()));
        let expected: Vec<(Vec<u8>, Vec<u8>)> = model
            .range(bounds.clone())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let found: Vec<(Vec<u8>, Vec<u8>)> = tree
            .range(bounds.clone())
            .map(owned)
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(found == expected, "range differs from the model");
        let mut backward: Vec<(Vec<u8>, Vec<u8>)> = tree
            .range(bounds)
            .rev()
            .map(owned)
            .collect::<Result<_, _>>()
            .unwrap();
        backward.reverse();
        assert!(backward == expected, "reverse range differs from the model");
    }
    assert!(tree.stats().key_chain_compares > read_compares);
    // Delete every other key, reopen, delete the rest.
    for key in keys.iter().step_by(2) {
        assert!(tree.delete(key).unwrap());
        model.remove(key);
    }
    verify(&tree, &model);
    tree = reopen(&vfs, tree, 4096, 48);
    verify(&tree, &model);
    for key in keys.iter().skip(1).step_by(2) {
        assert!(tree.delete(key).unwrap());
        model.remove(key);
    }
    verify(&tree, &model);
    assert_eq!(tree.pager().allocated_pages().unwrap(), vec![tree.root()]);
}

#[test]
fn separators_stay_short_when_long_keys_part_early() {
    let (_vfs, pager) = sized_pager(4, 4096, 256);
    let tree = BTree::create(pager).unwrap();
    let mut rng = SmallRng::seed_from_u64(5);
    let mut model = Model::new();
    for _ in 0..3000 {
        let len = rng.random_range(1001..3000);
        let mut key = vec![b'k'; len];
        rng.fill(&mut key[..8]);
        tree.insert(&key, b"v").unwrap();
        model.insert(key, b"v".to_vec());
    }
    verify(&tree, &model);
    let report = tree.check().unwrap();
    assert_eq!(report.long_keys, model.len() as u64);
    assert!(report.height >= 2 && report.inner_nodes > 0, "{report:?}");
    assert_eq!(report.long_separators, 0, "separators are truncated");
    assert_eq!(tree.stats().key_chain_compares, 0, "the prefixes decide");
}

/// Pairs of keys sharing 3,000 bytes after a tag of their own: a split
/// between the two of a pair would need a long separator; a nearby cut
/// between pairs needs a few bytes.
#[test]
fn a_split_moves_to_a_nearby_cut_rather_than_take_a_long_separator() {
    for ascending in [false, true] {
        let (_vfs, pager) = sized_pager(6, 4096, 256);
        let tree = BTree::create(pager).unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let mut keys = Vec::new();
        for _ in 0..400 {
            let mut key = vec![b'p'; 3008];
            rng.fill(&mut key[..8]);
            keys.push([key.clone(), vec![1]].concat());
            keys.push([key, vec![2]].concat());
        }
        if ascending {
            keys.sort();
        } else {
            keys.shuffle(&mut rng);
        }
        let mut model = Model::new();
        for key in &keys {
            tree.insert(key, b"value").unwrap();
            model.insert(key.clone(), b"value".to_vec());
        }
        verify(&tree, &model);
        let report = tree.check().unwrap();
        assert!(report.inner_nodes > 0);
        assert_eq!(
            report.long_separators, 0,
            "no long separator (ascending: {ascending})"
        );
    }
}

#[test]
fn long_separators_are_written_and_freed_when_keys_share_long_prefixes() {
    let (vfs, pager) = sized_pager(8, 4096, 64);
    let mut tree = BTree::create(pager).unwrap();
    // Every key shares 6,000 bytes: every separator is long.
    let key = |id: u32| [vec![b's'; 6000], id.to_be_bytes().to_vec()].concat();
    let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..300u32)
        .map(|id| {
            (
                key(id),
                value(id as u16, 0, [1, 900, 5000][id as usize % 3]),
            )
        })
        .collect();
    tree.bulk_load(entries.iter().map(|(k, v)| (k, v)), 0.9)
        .unwrap();
    let mut model: Model = entries.into_iter().collect();
    verify(&tree, &model);
    let loaded = tree.check().unwrap();
    assert!(loaded.long_separators > 0, "{loaded:?}");
    tree = reopen(&vfs, tree, 4096, 64);
    // Inserts split leaves among them; deletes merge them again.
    let mut rng = SmallRng::seed_from_u64(9);
    for _ in 0..400 {
        let id = rng.random_range(0..600u32);
        if rng.random_bool(0.6) {
            let value = value(id as u16, 1, 40);
            tree.insert(&key(id), &value).unwrap();
            model.insert(key(id), value);
        } else {
            assert_eq!(
                tree.delete(&key(id)).unwrap(),
                model.remove(&key(id)).is_some()
            );
        }
    }
    verify(&tree, &model);
    assert!(tree.stats().key_chain_compares > 0);
    tree.defragment().unwrap();
    verify(&tree, &model);
    for id in 0..600u32 {
        assert_eq!(
            tree.delete(&key(id)).unwrap(),
            model.remove(&key(id)).is_some()
        );
    }
    verify(&tree, &model);
    assert_eq!(
        tree.pager().allocated_pages().unwrap(),
        vec![tree.root()],
        "every key's and separator's chain was freed"
    );
}

#[test]
fn a_replaced_value_keeps_its_keys_chain_and_a_deleted_key_frees_it() {
    let (_vfs, pager) = sized_pager(10, 4096, 64);
    let tree = BTree::create(pager.clone()).unwrap();
    let mut model = Model::new();
    let ids: Vec<u16> = (0..120).collect();
    for &id in &ids {
        let value = value(id, 0, 50);
        tree.insert(&long_key(id), &value).unwrap();
        model.insert(long_key(id), value);
    }
    verify(&tree, &model);
    let pages = pager.allocated_pages().unwrap().len();
    for &id in &ids {
        let value = value(id, 1, 50);
        tree.insert(&long_key(id), &value).unwrap();
        model.insert(long_key(id), value);
    }
    verify(&tree, &model);
    assert_eq!(
        pager.allocated_pages().unwrap().len(),
        pages,
        "replacing values wrote no key chain"
    );
    let report = tree.check().unwrap();
    assert!(report.key_overflow_pages > 0 && report.long_keys > 0);
    for &id in &ids {
        assert!(tree.delete(&long_key(id)).unwrap());
        model.remove(&long_key(id));
    }
    verify(&tree, &model);
    assert_eq!(pager.allocated_pages().unwrap(), vec![tree.root()]);
}

/// The long-key mix on every page size, against the model, with reopens.
#[test]
fn keys_up_to_the_limit_work_on_every_page_size() {
    for page_size in [4096u32, 8192, 16384, 32768, 65536] {
        let frames = 32;
        let (vfs, pager) = sized_pager(u64::from(page_size), page_size, frames);
        let mut tree = BTree::create(pager).unwrap();
        let mut rng = SmallRng::seed_from_u64(u64::from(page_size));
        let mut model = Model::new();
        for round in 0..600u32 {
            let id = rng.random_range(0..160u16);
            if rng.random_bool(0.65) {
                let value = value(id, round, [0, 10, 3000, 70_000][rng.random_range(0..4)]);
                tree.insert(&long_key(id), &value).unwrap();
                model.insert(long_key(id), value);
            } else {
                assert_eq!(
                    tree.delete(&long_key(id)).unwrap(),
                    model.remove(&long_key(id)).is_some()
                );
            }
            if round % 200 == 199 {
                verify(&tree, &model);
                tree = reopen(&vfs, tree, page_size, frames);
            }
        }
        verify(&tree, &model);
        let report = tree.check().unwrap();
        assert!(report.long_keys > 0, "{page_size}: {report:?}");
        tree.clear().unwrap();
        assert_eq!(tree.pager().allocated_pages().unwrap(), vec![tree.root()]);
    }
}

/// Bulk loads of keys whose separators are long (inner pages hold a few),
/// of every size in a range: however the children fall, no inner page is
/// left with one child (whose leaves could then neither merge nor share
/// entries, and would empty), so deleting from the end keeps the tree
/// sound down to an empty root.
#[test]
fn a_bulk_load_leaves_no_inner_page_with_one_child() {
    let key = |id: u32| [vec![b'b'; 2000], id.to_be_bytes().to_vec()].concat();
    for count in 20..80u32 {
        let (_vfs, pager) = sized_pager(12, 4096, 64);
        let tree = BTree::create(pager.clone()).unwrap();
        let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..count)
            .map(|id| (key(id), vec![id as u8; 300]))
            .collect();
        tree.bulk_load(entries.iter().map(|(k, v)| (k, v)), 0.7)
            .unwrap();
        let mut model: Model = entries.into_iter().collect();
        for id in (0..count).rev() {
            assert!(tree.delete(&key(id)).unwrap());
            model.remove(&key(id));
            let report = tree.check().unwrap();
            assert!(
                report.is_ok(),
                "{count} entries, {id} deleted: {:?}",
                report.problems
            );
        }
        verify(&tree, &model);
        assert_eq!(
            pager.allocated_pages().unwrap(),
            vec![tree.root()],
            "{count}"
        );
    }
}

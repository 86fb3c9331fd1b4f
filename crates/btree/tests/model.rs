#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Model-based tests: random operation sequences run against the tree and
//! a `BTreeMap`, with 4 KiB pages, keys up to 250 bytes and values up to
//! 20 KB, so splits, merges, rebalancing, overflow chains and a height of
//! several levels all happen; a small pool makes pages leave and come back.
//! A second model runs keys of 1 byte to 64 KiB (`common::long_key`), many
//! sharing prefixes longer than a cell keeps. `check()` (with the pages
//! in use: no chain leaks) runs after every step; the tree is checkpointed
//! and reopened now and then.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use common::{VALUE_LENGTHS, assert_matches, key, long_key, pager, value};
use keel_btree::{BTree, BULK_FILL_DEFAULT, check_pages_in_use};
use keel_pager::Pager;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Insert {
        id: u16,
        len: usize,
    },
    Delete {
        id: u16,
    },
    Get {
        id: u16,
    },
    Range {
        start: Bound<u16>,
        end: Bound<u16>,
        reverse: bool,
        take: usize,
    },
    /// Inserts a run of ids in ascending order, `step` apart: the writer's
    /// path through the last leaf is reused, at the end of the tree and
    /// inside it.
    InsertRun {
        first: u16,
        count: u16,
        step: u16,
        len: usize,
    },
    /// Deletes a run of ids: many merges in a row.
    DeleteRun {
        first: u16,
        count: u16,
    },
    Clear,
    /// Packs pages full (`BTree::defragment`).
    Defragment,
    /// Clears, then bulk loads every id in `first..first + count` whose id
    /// is divisible by `step`.
    BulkLoad {
        first: u16,
        count: u16,
        step: u16,
        fill: f64,
    },
    /// Checkpoints, drops the tree and the pager, and opens both again.
    Reopen,
}

fn id(ids: u16) -> impl Strategy<Value = u16> {
    0u16..ids
}

fn bound(ids: u16) -> impl Strategy<Value = Bound<u16>> {
    prop_oneof![
        Just(Bound::Unbounded),
        id(ids).prop_map(Bound::Included),
        id(ids).prop_map(Bound::Excluded),
    ]
}

/// Operations on ids below `ids`.
fn op(ids: u16) -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (id(ids), prop::sample::select(VALUE_LENGTHS.to_vec())).prop_map(|(id, len)| Op::Insert { id, len }),
        12 => id(ids).prop_map(|id| Op::Delete { id }),
        8 => id(ids).prop_map(|id| Op::Get { id }),
        6 => (bound(ids), bound(ids), any::<bool>(), 1usize..40).prop_map(|(start, end, reverse, take)| Op::Range { start, end, reverse, take }),
        3 => (id(ids), 1u16..ids / 3).prop_map(|(first, count)| Op::DeleteRun { first, count }),
        4 => (id(ids), 1u16..ids / 2, 1u16..4, prop::sample::select(VALUE_LENGTHS.to_vec())).prop_map(|(first, count, step, len)| Op::InsertRun { first, count, step, len }),
        1 => Just(Op::Clear),
        2 => Just(Op::Defragment),
        2 => (id(ids), 1u16..ids, 1u16..4, 0.55f64..1.0).prop_map(|(first, count, step, fill)| Op::BulkLoad { first, count, step, fill }),
        2 => Just(Op::Reopen),
    ]
}

/// The keys a model run uses: the key of each id below `ids`.
#[derive(Clone, Copy)]
struct Keys {
    key: fn(u16) -> Vec<u8>,
    ids: u16,
}

/// Short keys (up to 250 bytes).
const SHORT: Keys = Keys { key, ids: 600 };
/// Keys as the engine makes them: a 4-byte keyspace id (of three) before
/// the key, here the id and 0 to 9 bytes more: pages share a prefix, and
/// keys at a keyspace's edge share less of it (the page's prefix
/// shrinks); remainders are often shorter than a slot's key head.
const PREFIXED: Keys = Keys {
    key: prefixed_key,
    ids: 600,
};

fn prefixed_key(id: u16) -> Vec<u8> {
    let mut key = u32::from(id % 3).to_be_bytes().to_vec();
    key.extend_from_slice(&(id / 3).to_be_bytes());
    key.extend(std::iter::repeat_n(b'x', usize::from(id % 4) * 3));
    key
}

/// Keys of 1 byte to 64 KiB.
const LONG: Keys = Keys {
    key: long_key,
    ids: 200,
};

fn run(ops: Vec<Op>, frames: u64, keys: Keys) {
    let Keys { key, ids } = keys;
    let key_bound = |bound: Bound<u16>| match bound {
        Bound::Included(id) => Bound::Included(key(id)),
        Bound::Excluded(id) => Bound::Excluded(key(id)),
        Bound::Unbounded => Bound::Unbounded,
    };
    let (vfs, mut pager) = pager(1, frames);
    let mut tree = BTree::create(pager.clone()).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for (version, op) in ops.into_iter().enumerate() {
        let version = version as u32;
        match op {
            Op::Insert { id, len } => {
                let value = value(id, version, len);
                tree.insert(&key(id), &value).unwrap();
                model.insert(key(id), value);
            }
            Op::InsertRun {
                first,
                count,
                step,
                len,
            } => {
                for id in (first..first.saturating_add(count)).step_by(usize::from(step)) {
                    let value = value(id, version, len);
                    tree.insert(&key(id), &value).unwrap();
                    model.insert(key(id), value);
                }
            }
            Op::Defragment => {
                tree.defragment().unwrap();
            }
            Op::Delete { id } => {
                assert_eq!(
                    tree.delete(&key(id)).unwrap(),
                    model.remove(&key(id)).is_some()
                );
            }
            Op::Get { id } => {
                assert_eq!(tree.get(&key(id)).unwrap().as_ref(), model.get(&key(id)));
            }
            Op::Range {
                start,
                end,
                reverse,
                take,
            } => {
                let (start, end) = (key_bound(start), key_bound(end));
                let valid = match (&start, &end) {
                    (
                        Bound::Included(s) | Bound::Excluded(s),
                        Bound::Included(e) | Bound::Excluded(e),
                    ) => s <= e,
                    _ => true,
                };
                if !valid
                    || matches!((&start, &end), (Bound::Excluded(s), Bound::Excluded(e)) if s == e)
                {
                    continue;
                }
                let expected: Vec<(Vec<u8>, Vec<u8>)> = if reverse {
                    model
                        .range((start.clone(), end.clone()))
                        .rev()
                        .take(take)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                } else {
                    model
                        .range((start.clone(), end.clone()))
                        .take(take)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                };
                let range = tree.range((start, end));
                let found: Vec<(Vec<u8>, Vec<u8>)> = if reverse {
                    range
                        .rev()
                        .take(take)
                        .map(common::owned)
                        .collect::<Result<_, _>>()
                        .unwrap()
                } else {
                    range
                        .take(take)
                        .map(common::owned)
                        .collect::<Result<_, _>>()
                        .unwrap()
                };
                assert!(found == expected, "range differs from the model");
            }
            Op::DeleteRun { first, count } => {
                for id in first..first.saturating_add(count).min(ids) {
                    assert_eq!(
                        tree.delete(&key(id)).unwrap(),
                        model.remove(&key(id)).is_some()
                    );
                }
            }
            Op::Clear => {
                tree.clear().unwrap();
                model.clear();
            }
            Op::BulkLoad {
                first,
                count,
                step,
                fill,
            } => {
                tree.clear().unwrap();
                model.clear();
                let mut loaded_ids: Vec<u16> = (first..first.saturating_add(count).min(ids))
                    .filter(|id| id % step == 0)
                    .collect();
                loaded_ids.sort_by_key(|id| key(*id));
                let entries: Vec<(Vec<u8>, Vec<u8>)> = loaded_ids
                    .iter()
                    .map(|&id| {
                        (
                            key(id),
                            value(
                                id,
                                version,
                                VALUE_LENGTHS[usize::from(id) % VALUE_LENGTHS.len()],
                            ),
                        )
                    })
                    .collect();
                let loaded = tree
                    .bulk_load(entries.iter().map(|(k, v)| (k, v)), fill)
                    .unwrap();
                assert_eq!(loaded, entries.len() as u64);
                model.extend(entries);
            }
            Op::Reopen => {
                let root = tree.root();
                pager.checkpoint(&root.get().to_le_bytes()).unwrap();
                drop(tree);
                drop(pager);
                let shared: Arc<dyn keel_io::Vfs> = vfs.clone();
                pager =
                    Arc::new(Pager::open(shared, "/db/pages", common::options(frames)).unwrap());
                tree = BTree::open(pager.clone(), root).unwrap();
            }
        }
        if cfg!(debug_assertions) {
            let report = tree.check().unwrap();
            assert!(report.is_ok(), "after a step: {:?}", report.problems);
            assert_eq!(report.entries, model.len() as u64);
            let leaks = check_pages_in_use(&pager, &[&report], &[]).unwrap();
            assert!(leaks.is_empty(), "pages: {leaks:?}");
        }
    }
    assert_matches(&tree, &model);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn tree_matches_model(ops in prop::collection::vec(op(SHORT.ids), 1..160)) {
        run(ops, 24, SHORT);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn tree_with_keyspace_prefixed_keys_matches_model(ops in prop::collection::vec(op(PREFIXED.ids), 1..200)) {
        run(ops, 24, PREFIXED);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn tree_with_keys_up_to_64_kib_matches_model(ops in prop::collection::vec(op(LONG.ids), 1..100)) {
        run(ops, 48, LONG);
    }
}

#[test]
fn grows_and_shrinks_through_several_levels() {
    let (_vfs, pager) = pager(2, 32);
    let tree = BTree::create(pager.clone()).unwrap();
    let mut model = BTreeMap::new();
    // Pairs of keys sharing a long prefix keep separators long even after
    // truncation, and keys of neighbouring pairs part at their first
    // bytes, so a page's keys share no prefix to store once: inner nodes
    // hold few separators and the tree gets tall.
    let long_key = |id: u32| {
        let mut key = ((id / 2) as u16).to_be_bytes().to_vec();
        key.extend_from_slice(&[b'x'; 888]);
        key.extend_from_slice(format!("{id:08}").as_bytes());
        key
    };
    for id in 0..2000u32 {
        let id = id.wrapping_mul(7919) % 2000;
        tree.insert(&long_key(id), &id.to_le_bytes()).unwrap();
        model.insert(long_key(id), id.to_le_bytes().to_vec());
    }
    let tall = tree.check().unwrap();
    assert!(tall.is_ok(), "{:?}", tall.problems);
    assert!(
        tall.height >= 4,
        "height {} with 898-byte keys",
        tall.height
    );
    assert_matches(&tree, &model);
    for id in 0..2000u32 {
        let id = id.wrapping_mul(104_729) % 2000;
        assert!(tree.delete(&long_key(id)).unwrap());
        model.remove(&long_key(id));
        if id % 97 == 0 {
            let report = tree.check().unwrap();
            assert!(report.is_ok(), "{:?}", report.problems);
        }
    }
    let empty = tree.check().unwrap();
    assert!(empty.is_ok(), "{:?}", empty.problems);
    assert_eq!(empty.height, 1, "the tree shrinks back to a root leaf");
    assert_eq!(empty.pages, vec![tree.root()], "every other page was freed");
    assert_eq!(pager.allocated_pages().unwrap(), vec![tree.root()]);
}

/// Leaves used by `count` 64-byte entries under `prefix`, inserted one at a
/// time in ascending order after a tree that already holds a higher run.
fn ascending_run_leaves(prefix: u8, count: u32, higher_run: bool) -> (u64, u64) {
    let (_vfs, pager) = pager(3, 256);
    let tree = BTree::create(pager).unwrap();
    let entry = |prefix: u8, id: u32| {
        let mut key = vec![prefix];
        key.extend_from_slice(&id.to_be_bytes());
        (key, vec![prefix; 59])
    };
    if higher_run {
        for id in 0..200 {
            let (key, value) = entry(0xff, id);
            tree.insert(&key, &value).unwrap();
        }
    }
    let before = tree.check().unwrap().leaves;
    for id in 0..count {
        let (key, value) = entry(prefix, id);
        tree.insert(&key, &value).unwrap();
    }
    let report = tree.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(
        report.entries,
        u64::from(count) + if higher_run { 200 } else { 0 }
    );
    (report.leaves - before, report.bytes_used)
}

#[test]
fn ascending_inserts_fill_their_pages_at_the_end_and_inside_the_tree() {
    // 5,000 entries of 5 + 59 bytes and their slots: about 92 per 4 KiB
    // leaf when full, 46 when every split leaves two halves.
    let full_leaves = 5_000u64.div_ceil(4096 / 80);
    for higher_run in [false, true] {
        let (leaves, _) = ascending_run_leaves(0x10, 5_000, higher_run);
        assert!(
            leaves <= full_leaves + full_leaves / 5,
            "{leaves} leaves for an ascending run (higher run: {higher_run}); \
             about {full_leaves} when pages fill"
        );
    }
}

#[test]
fn bulk_load_rejects_bad_input_and_leaves_the_tree_empty() {
    let (_vfs, pager) = pager(3, 32);
    let tree = BTree::create(pager.clone()).unwrap();
    let unsorted = [
        (key(1), vec![1u8; 5000]),
        (key(3), vec![3]),
        (key(2), vec![2]),
    ];
    let sorted_prefix = unsorted.iter().map(|(k, v)| (k.as_slice(), v.as_slice()));
    assert!(matches!(
        tree.bulk_load(sorted_prefix, BULK_FILL_DEFAULT),
        Err(keel_btree::Error::Unsorted { index: 2 })
    ));
    assert!(tree.is_empty().unwrap());
    assert_eq!(
        pager.allocated_pages().unwrap(),
        vec![tree.root()],
        "pages of the failed load were freed"
    );
    assert!(matches!(
        tree.bulk_load(std::iter::empty::<(&[u8], &[u8])>(), 0.3),
        Err(keel_btree::Error::FillFactor { .. })
    ));
    tree.insert(b"a", b"1").unwrap();
    assert!(matches!(
        tree.bulk_load([(b"b".as_slice(), b"2".as_slice())], BULK_FILL_DEFAULT),
        Err(keel_btree::Error::NotEmpty { .. })
    ));
}

#[test]
fn limits_are_typed_errors() {
    let (_vfs, pager) = pager(4, 32);
    let tree = BTree::create(pager).unwrap();
    let max = tree.key_bytes_max();
    assert!(max >= 4096 / 4 - 32, "about a quarter page: {max}");
    tree.insert(&vec![1u8; max], b"fits").unwrap();
    assert!(matches!(
        tree.insert(&vec![1u8; max + 1], b"too long"),
        Err(keel_btree::Error::KeyTooLarge { len, max: limit }) if len == max + 1 && limit == max
    ));
    assert_eq!(tree.get(&vec![1u8; max + 1]).unwrap(), None);
    assert!(!tree.delete(&vec![1u8; max + 1]).unwrap());
    assert_eq!(keel_btree::VALUE_BYTES_MAX, 512 << 20);
}

#[test]
fn reopen_finds_the_tree_by_its_root() {
    let (vfs, pager) = pager(5, 32);
    let tree = BTree::create(pager.clone()).unwrap();
    for id in 0..300u16 {
        tree.insert(&key(id), &value(id, 0, VALUE_LENGTHS[usize::from(id) % 7]))
            .unwrap();
    }
    let root = tree.root();
    pager.checkpoint(&root.get().to_le_bytes()).unwrap();
    drop(tree);
    drop(pager);
    let shared: std::sync::Arc<dyn keel_io::Vfs> = vfs;
    let pager = std::sync::Arc::new(
        keel_pager::Pager::open(shared, "/db/pages", common::options(32)).unwrap(),
    );
    let tree = BTree::open(pager.clone(), root).unwrap();
    for id in 0..300u16 {
        assert_eq!(
            tree.get(&key(id)).unwrap(),
            Some(value(id, 0, VALUE_LENGTHS[usize::from(id) % 7]))
        );
    }
    assert!(tree.check().unwrap().is_ok());
    // A page that is not a root is refused.
    let overflow_page = tree
        .check()
        .unwrap()
        .pages
        .into_iter()
        .find(|&page| pager.read(page, |view| view.u8_at(0)).unwrap() == 3);
    if let Some(page) = overflow_page {
        assert!(matches!(
            BTree::open(pager, page),
            Err(keel_btree::Error::NotATree { .. })
        ));
    }
}

/// A long seeded workload whose mix reaches every shape change: the
/// counters prove splits, root splits, merges, rebalancing and root
/// collapses all ran, under checks against the model.
#[test]
fn long_random_workload_reaches_every_shape_change() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(42);
    let (_vfs, pager) = pager(6, 40);
    let tree = BTree::create(pager.clone()).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for round in 0..6000u32 {
        // Phases of growth and of shrinking.
        let growing = (round / 1500) % 2 == 0;
        let id = rng.random_range(0..600u16);
        if rng.random_bool(if growing { 0.8 } else { 0.2 }) {
            let len = VALUE_LENGTHS[rng.random_range(0..VALUE_LENGTHS.len())];
            let value = value(id, round, len);
            tree.insert(&key(id), &value).unwrap();
            model.insert(key(id), value);
        } else {
            assert_eq!(
                tree.delete(&key(id)).unwrap(),
                model.remove(&key(id)).is_some()
            );
        }
        if round % 500 == 499 {
            assert_matches(&tree, &model);
        }
    }
    for id in 0..600u16 {
        assert_eq!(
            tree.delete(&key(id)).unwrap(),
            model.remove(&key(id)).is_some()
        );
    }
    assert_matches(&tree, &model);
    let stats = tree.stats();
    eprintln!("{stats:?}");
    assert!(stats.splits > 100, "{stats:?}");
    assert!(stats.root_splits >= 1, "{stats:?}");
    assert!(stats.merges > 50, "{stats:?}");
    assert!(stats.rebalances > 0, "{stats:?}");
    assert!(stats.root_collapses >= 1, "{stats:?}");
    assert_eq!(
        pager.allocated_pages().unwrap(),
        vec![tree.root()],
        "every page but the root was freed"
    );
    assert!(
        pager.stats().evictions > 0,
        "the pool was smaller than the tree"
    );
}

#[test]
fn defragmenting_a_thinned_tree_frees_pages_and_keeps_every_entry() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let (_vfs, pager) = pager(6, 400);
    let tree = BTree::create(pager.clone()).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for id in 0..600u16 {
        let value = value(id, 0, 100);
        tree.insert(&key(id), &value).unwrap();
        model.insert(key(id), value);
    }
    // Thin it out to ~40%, in random places: leaves stay above a quarter
    // full mostly, so deletes alone merge few of them.
    for id in 0..600u16 {
        if rng.random_bool(0.6) {
            tree.delete(&key(id)).unwrap();
            model.remove(&key(id));
        }
    }
    let before = pager.allocated_pages().unwrap().len();
    let freed = tree.defragment().unwrap();
    let after = pager.allocated_pages().unwrap().len();
    assert!(
        freed > 0 && after < before,
        "{before} -> {after} ({freed} freed)"
    );
    assert_eq!(before - after, freed as usize);
    let report = tree.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_matches(&tree, &model);
    // Nothing left to merge.
    assert_eq!(tree.defragment().unwrap(), 0);
}

#[test]
fn trees_in_one_file_are_independent_and_destroy_frees_their_pages() {
    let (_vfs, pager) = pager(7, 64);
    let first = BTree::create(pager.clone()).unwrap();
    let second = BTree::create(pager.clone()).unwrap();
    for id in 0..400u16 {
        first.insert(&key(id), b"first").unwrap();
        if id % 3 == 0 {
            second
                .insert(&key(id), &value(id, 1, VALUE_LENGTHS[usize::from(id) % 7]))
                .unwrap();
        }
    }
    assert_eq!(first.get(&key(1)).unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(second.get(&key(1)).unwrap(), None);
    let (one, two) = (first.check().unwrap(), second.check().unwrap());
    assert!(one.is_ok() && two.is_ok());
    assert_eq!((one.entries, two.entries), (400, 134));
    assert!(
        check_pages_in_use(&pager, &[&one, &two], &[])
            .unwrap()
            .is_empty()
    );
    assert!(
        !check_pages_in_use(&pager, &[&one], &[]).unwrap().is_empty(),
        "the second tree's pages are in use"
    );
    let estimate = first.len_estimate().unwrap();
    assert!(
        (100..=1600).contains(&estimate),
        "estimate {estimate} of 400"
    );
    let smallest = key(0).min(key(399));
    assert_eq!(
        first.first().unwrap().map(|(k, _)| k.to_vec()),
        Some(model_first(&first))
    );
    assert!(first.first().unwrap().unwrap().0 <= smallest);
    assert_eq!(
        first.last().unwrap().map(|(k, _)| k),
        first.iter().last().map(|entry| entry.unwrap().0)
    );
    second.destroy().unwrap();
    let one = first.check().unwrap();
    assert!(
        check_pages_in_use(&pager, &[&one], &[]).unwrap().is_empty(),
        "destroy freed every page of the second tree"
    );
}

fn model_first(tree: &BTree) -> Vec<u8> {
    tree.iter().next().unwrap().unwrap().0.to_vec()
}

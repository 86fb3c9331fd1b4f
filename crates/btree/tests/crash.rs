#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Crash tests: a tree workload with a checkpoint after every round, on a
//! pool small enough that dirty pages are evicted between checkpoints, is
//! cut at every I/O operation and crashed in every SimVfs mode. Reopened,
//! the tree must pass `check()`, reach exactly the pages in use, and equal
//! the model at the last durable checkpoint (or at the one in flight, if
//! its meta slot made it); then it must keep working. Three ids in ten have
//! long keys (sharing prefixes longer than a cell keeps), whose chains are
//! written, reused and freed through the same copy-on-write pages.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::{VALUE_LENGTHS, key, value};
use keel_btree::{BTree, check_pages_in_use};
use keel_io::{CrashMode, CrashPoints, CrashSweep, SimVfs, Vfs};
use keel_pager::{PageId, Pager};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const PATH: &str = "/db/pages";
const FRAMES: u64 = 16;
const ROUNDS: u32 = 3;
const OPS_PER_ROUND: u32 = 50;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// The key of `id`: a long key for three ids in ten (2,500 or 4,500
/// shared bytes, then the id), else `common::key`.
fn crash_key(id: u16) -> Vec<u8> {
    let long = |byte: u8, len: usize| [vec![byte; len], id.to_be_bytes().to_vec()].concat();
    match id % 10 {
        0 | 5 => long(b'L', 2500),
        3 => long(b'H', 4500),
        _ => key(id),
    }
}

#[derive(Default)]
struct Outcome {
    /// The tree's root, once a checkpoint holds it.
    root: Option<PageId>,
    /// `checkpoints[k]`: the model checkpoint k made durable (k ≥ 1).
    checkpoints: Vec<Model>,
    in_flight: Option<Model>,
    /// Dirty pages evicted between checkpoints, in the clean run.
    dirty_evictions: u64,
}

fn open(vfs: &SimVfs) -> keel_pager::Result<Pager> {
    let shared: Arc<dyn Vfs> = Arc::new(vfs.clone());
    Pager::open(shared, Path::new(PATH), common::options(FRAMES))
}

fn workload(vfs: &SimVfs, seed: u64) -> Outcome {
    let mut outcome = Outcome {
        checkpoints: vec![Model::new()],
        ..Outcome::default()
    };
    let Ok(pager) = open(vfs) else {
        return outcome;
    };
    let pager = Arc::new(pager);
    let Ok(tree) = BTree::create(pager.clone()) else {
        return outcome;
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut model = Model::new();
    for round in 1..=ROUNDS {
        for op in 0..OPS_PER_ROUND {
            let id = rng.random_range(0..150u16);
            let result = if rng.random_bool(0.7) {
                let value = value(id, round * 1000 + op, VALUE_LENGTHS[rng.random_range(0..6)]);
                let result = tree.insert(&crash_key(id), &value);
                if result.is_ok() {
                    model.insert(crash_key(id), value);
                }
                result
            } else {
                let result = tree.delete(&crash_key(id));
                if result.is_ok() {
                    model.remove(&crash_key(id));
                }
                result.map(|_| ())
            };
            if result.is_err() {
                return outcome;
            }
        }
        outcome.in_flight = Some(model.clone());
        match pager.checkpoint(&tree.root().get().to_le_bytes()) {
            Ok(_) => {
                outcome.root = Some(tree.root());
                outcome.checkpoints.push(model.clone());
                outcome.in_flight = None;
                outcome.dirty_evictions = pager.stats().dirty_evictions;
            }
            Err(_) => return outcome,
        }
    }
    outcome
}

fn verify(tree: &BTree, model: &Model, context: &str) {
    let report = tree.check().unwrap();
    assert!(report.is_ok(), "{context}: {:?}", report.problems);
    let pages = check_pages_in_use(tree.pager(), &[&report], &[]).unwrap();
    assert!(pages.is_empty(), "{context}: {pages:?}");
    let found: Model = tree
        .iter()
        .map(|entry| entry.map(|(key, value)| (key.to_vec(), value.to_vec())))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|error| panic!("{context}: {error}"));
    assert!(
        found == *model,
        "{context}: the tree differs from the model"
    );
}

fn check_recovery(vfs: &SimVfs, outcome: &Outcome, context: &str) {
    let pager =
        Arc::new(open(vfs).unwrap_or_else(|error| panic!("{context}: reopen failed: {error}")));
    let acknowledged = outcome.checkpoints.len() as u64 - 1;
    let found = pager.checkpoint_id();
    let expected = if found == acknowledged {
        &outcome.checkpoints[acknowledged as usize]
    } else if found == acknowledged + 1 && outcome.in_flight.is_some() {
        outcome.in_flight.as_ref().unwrap()
    } else {
        panic!("{context}: reopened at checkpoint {found}, acknowledged {acknowledged}");
    };
    if found == 0 {
        assert!(
            pager.allocated_pages().unwrap().is_empty(),
            "{context}: pages before any checkpoint"
        );
        return;
    }
    let payload = pager.payload();
    let root = PageId::new(u64::from_le_bytes(payload[..8].try_into().unwrap()));
    if let Some(known) = outcome.root {
        assert_eq!(root, known, "{context}");
    }
    let tree =
        BTree::open(pager.clone(), root).unwrap_or_else(|error| panic!("{context}: {error}"));
    verify(&tree, expected, context);
    // The reopened tree keeps working over the space recovery derived.
    let mut model = expected.clone();
    for id in 0..40u16 {
        let value = value(id, 99_999, VALUE_LENGTHS[usize::from(id) % 7]);
        tree.insert(&crash_key(id), &value).unwrap();
        model.insert(crash_key(id), value);
    }
    pager.checkpoint(&root.get().to_le_bytes()).unwrap();
    drop(tree);
    drop(pager);
    let pager = Arc::new(open(vfs).unwrap());
    let tree = BTree::open(pager, root).unwrap();
    verify(&tree, &model, &format!("{context}, after more work"));
}

fn crash_everywhere(seed: u64) -> u64 {
    let clean = SimVfs::new(seed);
    let outcome = workload(&clean, seed);
    assert_eq!(
        outcome.checkpoints.len() as u32,
        ROUNDS + 1,
        "the workload runs clean"
    );
    assert!(
        outcome.dirty_evictions > 0,
        "the pool is small enough to evict dirty pages"
    );
    let report = CrashSweep::new(seed, |vfs: &SimVfs| workload(vfs, seed))
        .modes(&CrashMode::ALL)
        .points(CrashPoints::Every)
        .run(|vfs, outcome, image| {
            check_recovery(vfs, outcome, &image.to_string());
            Ok(())
        });
    assert!(report.is_clean(), "{report}");
    assert!(
        report.operations > 30,
        "only {} operations: too little to test",
        report.operations
    );
    println!(
        "B+tree crash sweep, seed {seed}: {} crash images",
        report.images
    );
    report.images
}

#[test]
fn a_crash_at_every_operation_leaves_the_tree_of_the_last_durable_checkpoint() {
    let mut images = 0;
    for seed in [1, 2] {
        images += crash_everywhere(seed);
    }
    println!("B+tree crash images checked: {images}");
    assert!(images > 200);
}

//! Crash tests on the simulated disk. A workload of page allocations,
//! writes and frees through a pool far smaller than the data (so dirty
//! pages are evicted to fresh blocks between checkpoints), with three
//! checkpoints, is cut at every mutating I/O operation — every write,
//! sync, growth, creation and rename — and crashed in every SimVfs crash
//! mode. After reopening, the pages must be exactly those of the last
//! durable checkpoint (or of the one in flight, if its meta slot made it):
//! old or new, never a mix, never a checksum error. The reopened pager must
//! then work: new writes and a checkpoint must not disturb what is durable.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Model, contents, options, verify};
use keel_io::{CrashMode, CrashPoints, CrashSweep, SimVfs};
use keel_pager::{PageId, Pager};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const PATH: &str = "/db/pages";
const FRAMES: u64 = 8;
const ROUNDS: u64 = 3;
const OPS_PER_ROUND: usize = 40;

/// What the workload saw before the disk failed.
#[derive(Default)]
struct Outcome {
    /// `checkpoints[k]`: the pages checkpoint k made durable (0: creation).
    checkpoints: Vec<Model>,
    /// A checkpoint that was called but did not return success.
    in_flight: Option<Model>,
    /// Dirty pages evicted (written to fresh blocks) between checkpoints.
    dirty_evictions: u64,
}

fn step(
    pager: &Pager,
    model: &mut Model,
    rng: &mut SmallRng,
    stamp: u64,
) -> keel_pager::Result<()> {
    let pick = |model: &Model, rng: &mut SmallRng| {
        let index = rng.random_range(0..model.pages.len());
        *model.pages.keys().nth(index).unwrap()
    };
    match rng.random_range(0..10) {
        0..=3 => {
            let mut guard = pager.allocate()?;
            let page = guard.page_id();
            let bytes = contents(page, stamp);
            guard.copy_from_slice(&bytes);
            model.pages.insert(page, bytes);
        }
        4..=7 if !model.pages.is_empty() => {
            let page = pick(model, rng);
            let bytes = contents(page, stamp);
            pager.exclusive(page)?.copy_from_slice(&bytes);
            model.pages.insert(page, bytes);
        }
        8 if !model.pages.is_empty() => {
            let page = pick(model, rng);
            pager.free(page)?;
            model.pages.remove(&page);
        }
        _ if !model.pages.is_empty() => {
            let page = pick(model, rng);
            let found = pager.read(page, |view| view.to_vec(0, view.len()))?;
            assert_eq!(found, model.pages[&page], "page {page} before any crash");
        }
        _ => {}
    }
    Ok(())
}

fn workload(vfs: &SimVfs, seed: u64) -> Outcome {
    let mut outcome = Outcome {
        checkpoints: vec![Model::default()],
        in_flight: None,
        dirty_evictions: 0,
    };
    let Ok(pager) = Pager::open(Arc::new(vfs.clone()), Path::new(PATH), options(FRAMES)) else {
        return outcome;
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut model = Model::default();
    let mut stamp = 0;
    for round in 1..=ROUNDS {
        for _ in 0..OPS_PER_ROUND {
            stamp += 1;
            if step(&pager, &mut model, &mut rng, stamp).is_err() {
                return outcome;
            }
        }
        outcome.in_flight = Some(model.clone());
        match pager.checkpoint(&payload(round)) {
            Ok(report) => {
                assert_eq!(report.checkpoint_id, round);
                outcome.checkpoints.push(model.clone());
                outcome.in_flight = None;
                outcome.dirty_evictions = pager.stats().dirty_evictions;
            }
            Err(_) => return outcome,
        }
    }
    outcome
}

fn payload(checkpoint_id: u64) -> Vec<u8> {
    if checkpoint_id == 0 {
        Vec::new()
    } else {
        // Several sectors long, so that a torn meta slot write is possible.
        checkpoint_id.to_le_bytes().repeat(300)
    }
}

/// Reopens after a crash and checks the pages; then keeps working.
fn check_recovery(vfs: &SimVfs, outcome: &Outcome, context: &str) {
    let pager = Pager::open(Arc::new(vfs.clone()), Path::new(PATH), options(FRAMES))
        .unwrap_or_else(|error| panic!("{context}: reopen failed: {error}"));
    let acknowledged = outcome.checkpoints.len() as u64 - 1;
    let found = pager.checkpoint_id();
    let expected = if found == acknowledged {
        &outcome.checkpoints[acknowledged as usize]
    } else if found == acknowledged + 1 && outcome.in_flight.is_some() {
        outcome.in_flight.as_ref().unwrap()
    } else {
        panic!("{context}: reopened at checkpoint {found}, acknowledged {acknowledged}");
    };
    assert_eq!(pager.payload(), payload(found), "{context}");
    verify(&pager, expected).unwrap_or_else(|error| panic!("{context}: {error}"));

    // The free space derived at open must really be free: write over the
    // pool many times, checkpoint, reopen, compare.
    let mut model = expected.clone();
    for stamp in 0..20u64 {
        let mut guard = pager.allocate().unwrap();
        let page = guard.page_id();
        let bytes = contents(page, 1_000_000 + stamp);
        guard.copy_from_slice(&bytes);
        model.pages.insert(page, bytes);
    }
    let first: Vec<PageId> = model.pages.keys().copied().take(3).collect();
    for page in first {
        let bytes = contents(page, 2_000_000);
        pager.exclusive(page).unwrap().copy_from_slice(&bytes);
        model.pages.insert(page, bytes);
    }
    pager.checkpoint(b"after").unwrap();
    drop(pager);
    let pager = Pager::open(Arc::new(vfs.clone()), Path::new(PATH), options(FRAMES)).unwrap();
    verify(&pager, &model).unwrap_or_else(|error| panic!("{context}, after more work: {error}"));
}

fn crash_everywhere(seed: u64) -> u64 {
    let clean = SimVfs::new(seed);
    let outcome = workload(&clean, seed);
    assert_eq!(
        outcome.checkpoints.len() as u64,
        ROUNDS + 1,
        "the workload runs clean"
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
        report.operations > 50,
        "only {} operations: too little to test",
        report.operations
    );
    println!(
        "page file crash sweep, seed {seed}: {} crash images",
        report.images
    );
    report.images
}

#[test]
fn a_crash_at_every_operation_leaves_the_last_durable_checkpoint() {
    let mut images = 0;
    for seed in [1, 2, 3] {
        images += crash_everywhere(seed);
    }
    println!("page file crash images checked: {images}");
    assert!(images > 600);
}

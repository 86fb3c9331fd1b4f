//! Model-based property tests: random sequences of allocate, write, free,
//! read, prefetch, checkpoint and reopen run against the pager and a map of
//! page contents, with pools far smaller than the data so that eviction
//! (clean and dirty) and reloading happen all the time. A reopen must give
//! exactly the pages of the last checkpoint.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Model, contents, options, verify};
use keel_io::SimVfs;
use keel_pager::{Error, PageId, Pager};
use proptest::prelude::*;

const PATH: &str = "/db/pages";

#[derive(Debug, Clone)]
enum Op {
    Allocate,
    /// Rewrites the whole page (`pick` selects among allocated pages).
    Write {
        pick: usize,
    },
    /// Changes a few bytes of a page.
    Patch {
        pick: usize,
        offset: usize,
        byte: u8,
    },
    Free {
        pick: usize,
    },
    Read {
        pick: usize,
    },
    Prefetch,
    Checkpoint,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Allocate),
        6 => any::<usize>().prop_map(|pick| Op::Write { pick }),
        3 => (any::<usize>(), 0..common::PAGE_SIZE, any::<u8>())
            .prop_map(|(pick, offset, byte)| Op::Patch { pick, offset, byte }),
        2 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        4 => any::<usize>().prop_map(|pick| Op::Read { pick }),
        1 => Just(Op::Prefetch),
        2 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
    ]
}

fn pick(model: &Model, pick: usize) -> Option<PageId> {
    if model.pages.is_empty() {
        return None;
    }
    model.pages.keys().nth(pick % model.pages.len()).copied()
}

fn run(ops: &[Op], frames: u64) -> Result<(), TestCaseError> {
    let vfs = Arc::new(SimVfs::new(7));
    let mut pager = Pager::open(vfs.clone(), Path::new(PATH), options(frames)).unwrap();
    let mut model = Model::default();
    let mut durable = Model::default();
    let mut stamp = 0u64;
    let mut checkpoints = 0u64;
    for op in ops {
        stamp += 1;
        match *op {
            Op::Allocate => {
                let mut guard = pager.allocate().unwrap();
                let page = guard.page_id();
                prop_assert!(
                    !model.pages.contains_key(&page),
                    "page {page} handed out twice"
                );
                prop_assert!(guard.iter().all(|&b| b == 0), "a new page is zeroed");
                let bytes = contents(page, stamp);
                guard.copy_from_slice(&bytes);
                model.pages.insert(page, bytes);
            }
            Op::Write { pick: p } => {
                let Some(page) = pick(&model, p) else {
                    continue;
                };
                let bytes = contents(page, stamp);
                pager.exclusive(page).unwrap().copy_from_slice(&bytes);
                model.pages.insert(page, bytes);
            }
            Op::Patch {
                pick: p,
                offset,
                byte,
            } => {
                let Some(page) = pick(&model, p) else {
                    continue;
                };
                pager.exclusive(page).unwrap()[offset] = byte;
                model.pages.get_mut(&page).unwrap()[offset] = byte;
            }
            Op::Free { pick: p } => {
                let Some(page) = pick(&model, p) else {
                    continue;
                };
                pager.free(page).unwrap();
                model.pages.remove(&page);
                prop_assert!(matches!(
                    pager.read(page, |view| view.u8_at(0)),
                    Err(Error::PageNotAllocated(_))
                ));
            }
            Op::Read { pick: p } => {
                let Some(page) = pick(&model, p) else {
                    continue;
                };
                let found = pager.read(page, |view| view.to_vec(0, view.len())).unwrap();
                prop_assert_eq!(&found, &model.pages[&page], "page {}", page);
            }
            Op::Prefetch => {
                let pages: Vec<PageId> = model.pages.keys().copied().collect();
                pager.prefetch(&pages).unwrap();
            }
            Op::Checkpoint => {
                checkpoints += 1;
                let report = pager.checkpoint(&checkpoints.to_le_bytes()).unwrap();
                prop_assert_eq!(report.checkpoint_id, checkpoints);
                durable = model.clone();
            }
            Op::Reopen => {
                drop(pager);
                pager = Pager::open(vfs.clone(), Path::new(PATH), options(frames)).unwrap();
                prop_assert_eq!(pager.checkpoint_id(), checkpoints);
                let payload = if checkpoints == 0 {
                    Vec::new()
                } else {
                    checkpoints.to_le_bytes().to_vec()
                };
                prop_assert_eq!(pager.payload(), payload);
                model = durable.clone();
                verify(&pager, &model).map_err(TestCaseError::fail)?;
            }
        }
    }
    verify(&pager, &model).map_err(TestCaseError::fail)?;
    // Everything survives a final checkpoint and reopen.
    pager.checkpoint(b"end").unwrap();
    drop(pager);
    let pager = Pager::open(vfs, Path::new(PATH), options(frames)).unwrap();
    verify(&pager, &model).map_err(TestCaseError::fail)?;
    let stats = pager.stats();
    prop_assert_eq!(stats.pages, model.pages.len() as u64);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_pager_matches_the_model(
        ops in proptest::collection::vec(op(), 1..250),
        frames in 8u64..24,
    ) {
        run(&ops, frames)?;
    }
}

#[test]
fn a_long_workload_evicts_dirty_pages_and_reuses_blocks() {
    // 200 pages through an 8-frame pool, with checkpoints: most writes are
    // evicted dirty before a checkpoint sees them.
    let mut ops = Vec::new();
    for round in 0..6 {
        for _ in 0..40 {
            ops.push(Op::Allocate);
        }
        for pick in 0..60 {
            ops.push(Op::Write {
                pick: pick * 7 + round,
            });
        }
        for pick in 0..10 {
            ops.push(Op::Free {
                pick: pick * 13 + round,
            });
        }
        ops.push(Op::Checkpoint);
        if round % 2 == 1 {
            ops.push(Op::Reopen);
        }
    }
    run(&ops, 8).unwrap();
}

#[test]
fn eviction_counters_move() {
    let vfs = Arc::new(SimVfs::new(1));
    let pager = Pager::open(vfs, Path::new(PATH), options(8)).unwrap();
    let mut pages = Vec::new();
    for stamp in 0..32 {
        let mut guard = pager.allocate().unwrap();
        let page = guard.page_id();
        guard.copy_from_slice(&contents(page, stamp));
        pages.push(page);
    }
    let stats = pager.stats();
    assert!(stats.dirty_evictions >= 24, "{stats:?}");
    assert_eq!(stats.evictions, stats.dirty_evictions);
    for &page in &pages {
        pager.read(page, |view| view.u64_at(0)).unwrap();
    }
    let stats = pager.stats();
    assert!(stats.misses >= 24, "{stats:?}");
    assert!(stats.bytes_read >= 24 * 4096, "{stats:?}");
    assert!(stats.bytes_written >= 24 * 4096, "{stats:?}");
    let report = pager.checkpoint(&[]).unwrap();
    assert!(
        report.pages_written <= 8,
        "only resident dirty pages: {report:?}"
    );
    assert!(report.map_nodes_written >= 1);
}

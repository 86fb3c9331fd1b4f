//! One writer and several readers on a pool far smaller than the pages, so
//! that readers' misses evict the writer's dirty pages all the time. Every
//! page always holds a self-describing image (its stamp, then words derived
//! from page and stamp): a reader must never see a torn image, and per page
//! the stamps it sees never go back (no stale block is ever read).

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Model, contents, options, verify};
use keel_io::SimVfs;
use keel_pager::{PageId, Pager};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const PAGES: u64 = 64;
const FRAMES: u64 = 16;
const READERS: usize = 3;
const WRITES: u64 = 3000;

fn image(page: PageId, stamp: u64) -> Vec<u8> {
    let mut bytes = contents(page, stamp);
    bytes[..8].copy_from_slice(&stamp.to_le_bytes());
    bytes
}

/// The stamp of a consistent image, or a panic naming what is wrong.
fn check(page: PageId, bytes: &[u8], how: &str) -> u64 {
    let stamp = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    assert!(
        bytes == image(page, stamp),
        "{how} read of page {page} saw a torn image (stamp {stamp})"
    );
    stamp
}

#[test]
fn readers_see_whole_and_monotonic_pages_while_the_writer_and_evictions_run() {
    let vfs = Arc::new(SimVfs::new(11));
    let pager = Pager::open(vfs.clone(), Path::new("/db/pages"), options(FRAMES)).unwrap();
    let mut model = Model::default();
    for _ in 0..PAGES {
        let mut guard = pager.allocate().unwrap();
        let page = guard.page_id();
        let bytes = image(page, 0);
        guard.copy_from_slice(&bytes);
        model.pages.insert(page, bytes);
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for reader in 0..READERS {
            let pager = &pager;
            let done = &done;
            scope.spawn(move || {
                let mut rng = SmallRng::seed_from_u64(reader as u64);
                let mut seen = vec![0u64; PAGES as usize + 1];
                let mut reads = 0u64;
                while !done.load(Ordering::Relaxed) || reads < 1000 {
                    let page = PageId::new(rng.random_range(1..=PAGES));
                    let stamp = match rng.random_range(0..4) {
                        0 => {
                            let guard = pager.shared(page).unwrap();
                            check(page, &guard, "shared")
                        }
                        1 => {
                            let _pin = pager.pin(page).unwrap();
                            let bytes =
                                pager.read(page, |view| view.to_vec(0, view.len())).unwrap();
                            check(page, &bytes, "pinned optimistic")
                        }
                        _ => {
                            let bytes =
                                pager.read(page, |view| view.to_vec(0, view.len())).unwrap();
                            check(page, &bytes, "optimistic")
                        }
                    };
                    let last = &mut seen[page.get() as usize];
                    assert!(
                        stamp >= *last,
                        "page {page} went back from stamp {last} to {stamp}"
                    );
                    *last = stamp;
                    reads += 1;
                }
            });
        }
        let mut rng = SmallRng::seed_from_u64(99);
        for stamp in 1..=WRITES {
            let page = PageId::new(rng.random_range(1..=PAGES));
            let bytes = image(page, stamp);
            let mut guard = pager.exclusive(page).unwrap();
            // Two halves, so a reader overlapping the write would see a mix.
            guard[..2048].copy_from_slice(&bytes[..2048]);
            std::hint::spin_loop();
            guard[2048..].copy_from_slice(&bytes[2048..]);
            drop(guard);
            model.pages.insert(page, bytes);
            if stamp % 500 == 0 {
                pager.checkpoint(&stamp.to_le_bytes()).unwrap();
            }
        }
        done.store(true, Ordering::Relaxed);
    });
    let stats = pager.stats();
    assert!(stats.dirty_evictions > 0 && stats.misses > 0, "{stats:?}");
    verify(&pager, &model).unwrap();
    pager.checkpoint(b"end").unwrap();
    drop(pager);
    let pager = Pager::open(vfs, Path::new("/db/pages"), options(FRAMES)).unwrap();
    verify(&pager, &model).unwrap();
}

/// Readers keep reading ids the writer keeps freeing and allocating again
/// (a reader holding a stale id is normal in a tree): a read gets the page
/// or `PageNotAllocated`, never a false corruption, and the writer never
/// finds a freed id still in the pool. Regression test for two races found
/// in review: a load slipping between a free's table and map updates, and
/// one slipping between an allocation's map and table updates.
#[test]
fn freeing_and_reallocating_races_readers_safely() {
    let vfs = Arc::new(SimVfs::new(12));
    let pager = Pager::open(vfs, Path::new("/db/pages"), options(64)).unwrap();
    const IDS: u64 = 4;
    for _ in 0..IDS {
        pager.allocate().unwrap()[..8].copy_from_slice(&0u64.to_le_bytes());
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for reader in 0..2u64 {
            let (pager, done) = (&pager, &done);
            scope.spawn(move || {
                let mut id = reader;
                while !done.load(Ordering::Relaxed) {
                    id = id % IDS + 1;
                    match pager.read(PageId::new(id), |view| view.u64_at(0)) {
                        Ok(_) | Err(keel_pager::Error::PageNotAllocated(_)) => {}
                        Err(error) => panic!("reader of page {id}: {error}"),
                    }
                    if id == 1 {
                        match pager.pin(PageId::new(id)) {
                            Ok(_) | Err(keel_pager::Error::PageNotAllocated(_)) => {}
                            Err(error) => panic!("pin of page {id}: {error}"),
                        }
                    }
                }
            });
        }
        for round in 1..=4000u64 {
            let id = PageId::new(round % IDS + 1);
            pager.free(id).unwrap();
            let mut guard = pager.allocate().unwrap();
            assert_eq!(guard.page_id(), id, "the lowest free id is reused");
            guard[..8].copy_from_slice(&round.to_le_bytes());
            drop(guard);
            if round % 500 == 0 {
                pager.checkpoint(&[]).unwrap();
            }
        }
        done.store(true, Ordering::Relaxed);
    });
    assert_eq!(pager.allocated_pages().unwrap().len() as u64, IDS);
}

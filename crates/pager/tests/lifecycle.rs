//! The page file's life: every page size, reopening, the file lock,
//! growth and shrinking, and the writer/checkpoint contract.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Model, options};
use keel_io::SimVfs;
use keel_pager::{Error, PAGE_SIZE_MAX, PAGE_SIZE_MIN, PageId, Pager, PagerOptions};

const PATH: &str = "/db/pages";

#[test]
fn every_page_size_round_trips_and_the_file_keeps_its_own() {
    let mut page_size = PAGE_SIZE_MIN;
    while page_size <= PAGE_SIZE_MAX {
        let vfs = Arc::new(SimVfs::new(1));
        let mut opts = options(16);
        opts.page_size = page_size;
        opts.pool_bytes = 16 * u64::from(page_size);
        let pager = Pager::open(vfs.clone(), Path::new(PATH), opts).unwrap();
        assert_eq!(pager.page_size(), page_size as usize);
        let mut pages = Vec::new();
        for index in 0..40u8 {
            let mut guard = pager.allocate().unwrap();
            guard.fill(index);
            pages.push((guard.page_id(), index));
        }
        let payload = vec![7u8; pager.payload_bytes_max()];
        pager.checkpoint(&payload).unwrap();
        drop(pager);
        // Reopened with the default (4 KiB) option: the file's size wins.
        let pager = Pager::open(vfs, Path::new(PATH), PagerOptions::default()).unwrap();
        assert_eq!(
            pager.page_size(),
            page_size as usize,
            "page size {page_size}"
        );
        assert_eq!(pager.payload(), payload);
        for (page, fill) in pages {
            let bytes = pager.read(page, |view| view.to_vec(0, view.len())).unwrap();
            assert!(
                bytes.iter().all(|&b| b == fill),
                "page {page} at page size {page_size}"
            );
        }
        page_size *= 2;
    }
}

#[test]
fn bad_options_and_payloads_are_typed_errors() {
    let vfs = Arc::new(SimVfs::new(1));
    for page_size in [0, 1000, 2048, 4097, 1 << 17] {
        let opts = PagerOptions {
            page_size,
            ..PagerOptions::default()
        };
        assert!(matches!(
            Pager::open(vfs.clone(), Path::new(PATH), opts),
            Err(Error::InvalidPageSize(_))
        ));
    }
    let opts = PagerOptions {
        create: false,
        ..PagerOptions::default()
    };
    assert!(matches!(
        Pager::open(vfs.clone(), Path::new(PATH), opts),
        Err(Error::NotFound { .. })
    ));
    let pager = Pager::open(vfs, Path::new(PATH), PagerOptions::default()).unwrap();
    let too_large = vec![0u8; pager.payload_bytes_max() + 1];
    assert!(matches!(
        pager.checkpoint(&too_large),
        Err(Error::PayloadTooLarge { .. })
    ));
    assert!(matches!(
        pager.read(PageId::new(5), |v| v.u8_at(0)),
        Err(Error::PageNotAllocated(_))
    ));
    assert!(matches!(
        pager.read(PageId::NONE, |v| v.u8_at(0)),
        Err(Error::PageNotAllocated(_))
    ));
    assert!(matches!(
        pager.free(PageId::new(9)),
        Err(Error::PageNotAllocated(_))
    ));
}

#[test]
fn a_second_opener_gets_a_clear_error() {
    let vfs = Arc::new(SimVfs::new(1));
    let first = Pager::open(vfs.clone(), Path::new(PATH), PagerOptions::default()).unwrap();
    match Pager::open(vfs.clone(), Path::new(PATH), PagerOptions::default()) {
        Err(Error::Io(keel_io::Error::Locked { .. })) => {}
        other => panic!("expected the lock error, got {other:?}"),
    }
    drop(first);
    Pager::open(vfs, Path::new(PATH), PagerOptions::default()).unwrap();
}

#[test]
fn a_checkpoint_refuses_to_overlap_the_writer() {
    let vfs = Arc::new(SimVfs::new(1));
    let pager = Pager::open(vfs, Path::new(PATH), PagerOptions::default()).unwrap();
    let guard = pager.allocate().unwrap();
    assert!(matches!(pager.checkpoint(&[]), Err(Error::WriterActive)));
    drop(guard);
    pager.checkpoint(&[]).unwrap();
}

#[test]
fn the_file_grows_in_steps_and_shrinks_when_its_tail_is_free() {
    let vfs = Arc::new(SimVfs::new(1));
    let pager = Pager::open(vfs.clone(), Path::new(PATH), options(32)).unwrap();
    let mut model = Model::default();
    for index in 0..400u64 {
        let mut guard = pager.allocate().unwrap();
        let page = guard.page_id();
        let bytes = common::contents(page, index);
        guard.copy_from_slice(&bytes);
        model.pages.insert(page, bytes);
    }
    let grown = pager.checkpoint(b"full").unwrap();
    assert!(grown.file_bytes >= 402 * 4096, "{grown:?}");
    // Growth came in steps, not a block at a time.
    let stats = pager.stats();
    assert!(stats.file_blocks < 402 + 2 * 16, "{stats:?}");
    // Free the newest pages: their blocks are at the end of the file.
    for index in 21..=400u64 {
        pager.free(PageId::new(index)).unwrap();
        model.pages.remove(&PageId::new(index));
    }
    // Keep working: the surviving pages move to the lowest free blocks, and
    // the tail is free once no durable checkpoint needs it any more.
    let mut shrunk = None;
    for round in 0..2u64 {
        for index in 1..=20u64 {
            let page = PageId::new(index);
            let bytes = common::contents(page, 1000 + round);
            pager.exclusive(page).unwrap().copy_from_slice(&bytes);
            model.pages.insert(page, bytes);
        }
        shrunk = Some(pager.checkpoint(b"after").unwrap());
    }
    let shrunk = shrunk.unwrap();
    assert!(
        shrunk.file_bytes < grown.file_bytes / 4,
        "{grown:?} then {shrunk:?}"
    );
    assert!(shrunk.blocks_released > 0 || shrunk.file_bytes < grown.file_bytes);
    drop(pager);
    let pager = Pager::open(vfs, Path::new(PATH), options(32)).unwrap();
    common::verify(&pager, &model).unwrap();
}

#[test]
fn relocation_moves_live_pages_out_of_the_tail_and_the_file_is_cut() {
    let vfs = Arc::new(SimVfs::new(1));
    let pager = Pager::open(vfs.clone(), Path::new(PATH), options(32)).unwrap();
    let mut model = Model::default();
    for index in 0..600u64 {
        let mut guard = pager.allocate().unwrap();
        let page = guard.page_id();
        let bytes = common::contents(page, index);
        guard.copy_from_slice(&bytes);
        model.pages.insert(page, bytes);
    }
    pager.checkpoint(b"full").unwrap();
    // Free the oldest pages: their blocks are at the front, and the live
    // ones hold the tail, so no checkpoint alone can cut the file.
    for index in 1..=500u64 {
        pager.free(PageId::new(index)).unwrap();
        model.pages.remove(&PageId::new(index));
    }
    pager.checkpoint(b"freed").unwrap();
    let before = pager.checkpoint(b"freed again").unwrap();
    assert!(before.file_bytes >= 600 * 4096, "{before:?}");
    // Three rounds: relocate what lies past the boundary, write it low,
    // free the old blocks with the next checkpoint, cut.
    let relocation = pager.relocate_tail(u64::MAX).unwrap();
    assert!(relocation.pages >= 90, "{relocation:?}");
    pager.checkpoint(b"moved").unwrap();
    pager.checkpoint(b"released").unwrap();
    let after = pager.shrink_to_fit().unwrap();
    assert!(
        after <= (relocation.boundary + 2) * 4096,
        "{after} {relocation:?}"
    );
    assert!(after < before.file_bytes / 4, "{after} after {before:?}");
    assert_eq!(pager.relocate_tail(u64::MAX).unwrap().pages, 0);
    common::verify(&pager, &model).unwrap();
    // And after a reopen, from the cut file.
    drop(pager);
    let pager = Pager::open(vfs, Path::new(PATH), options(32)).unwrap();
    common::verify(&pager, &model).unwrap();
}

#[test]
fn optimistic_guards_validate_and_upgrade() {
    let vfs = Arc::new(SimVfs::new(1));
    let pager = Pager::open(vfs, Path::new(PATH), PagerOptions::default()).unwrap();
    let page = {
        let mut guard = pager.allocate().unwrap();
        guard[0] = 1;
        guard.page_id()
    };
    let guard = pager.optimistic(page).unwrap();
    assert_eq!(guard.read(|view| view.u8_at(0)), Ok(1));
    // An out-of-range read is a restart, not a panic.
    assert!(guard.read(|view| view.u64_at(view.len() - 4)).is_err());
    // A write in between invalidates the guard.
    pager.exclusive(page).unwrap()[0] = 2;
    assert!(guard.validate().is_err());
    assert!(guard.read(|view| view.u8_at(0)).is_err());
    assert!(guard.upgrade().is_err());
    // A fresh guard upgrades; an unmodified exclusive guard keeps readers valid.
    let reader = pager.optimistic(page).unwrap();
    let writer = pager.optimistic(page).unwrap();
    let exclusive = match writer.upgrade() {
        Ok(guard) => guard,
        Err(_) => panic!("upgrade of an unchanged page failed"),
    };
    assert!(reader.validate().is_err(), "not while the writer holds it");
    drop(exclusive);
    assert!(reader.validate().is_ok(), "the writer changed nothing");
}

#[test]
fn misses_read_through_the_map_as_the_file_grows_and_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pages");
    let vfs: Arc<dyn keel_io::Vfs> = Arc::new(keel_io::StdVfs::new());
    let open = || {
        let mut options = options(16);
        options.mmap_reads = true;
        Pager::open(vfs.clone(), &path, options).unwrap()
    };
    let pager = open();
    let mut model = Model::default();
    // Far more pages than frames: most reads below are misses, and the
    // file grows many times while they run.
    for index in 0..600u64 {
        let mut guard = pager.allocate().unwrap();
        let page = guard.page_id();
        let bytes = common::contents(page, index);
        guard.copy_from_slice(&bytes);
        model.pages.insert(page, bytes);
    }
    pager.checkpoint(b"full").unwrap();
    common::verify(&pager, &model).unwrap();
    for index in 1..=500u64 {
        pager.free(PageId::new(index)).unwrap();
        model.pages.remove(&PageId::new(index));
    }
    pager.checkpoint(b"freed").unwrap();
    pager.checkpoint(b"freed again").unwrap();
    pager.relocate_tail(u64::MAX).unwrap();
    pager.checkpoint(b"moved").unwrap();
    pager.checkpoint(b"released").unwrap();
    let cut = pager.shrink_to_fit().unwrap();
    assert!(cut < 200 * 4096, "{cut}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), cut);
    common::verify(&pager, &model).unwrap();
    let stats = pager.stats();
    assert!(stats.misses > 500, "{stats:?}");
    assert_eq!(stats.mapped_reads, stats.misses, "{stats:?}");
    drop(pager);
    let pager = open();
    common::verify(&pager, &model).unwrap();
}

#[test]
fn a_checkpoint_names_the_blocks_of_the_open_pages_for_the_next_open() {
    let vfs = Arc::new(SimVfs::new(1));
    let pager = Pager::open(vfs.clone(), Path::new(PATH), options(64)).unwrap();
    let mut pages = Vec::new();
    for index in 0..300u32 {
        let mut guard = pager.allocate().unwrap();
        guard.fill(index as u8);
        pages.push(guard.page_id());
    }
    let named = [pages[0], pages[299]];
    pager.set_open_pages(&named);
    pager.checkpoint(b"first").unwrap();
    let file_blocks = pager.stats().file_blocks;
    drop(pager);

    let pager = Pager::open(vfs.clone(), Path::new(PATH), options(64)).unwrap();
    let hinted = pager.open_report().open_blocks.clone();
    // 300 pages need a map of two levels (256 entries a node): the root,
    // then per page its leaf and its block, each block named once.
    assert_eq!(hinted.len(), 5, "{hinted:?}");
    let mut unique = hinted.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), hinted.len(), "{hinted:?}");
    assert!(
        hinted
            .iter()
            .all(|&block| (2..file_blocks).contains(&block)),
        "{hinted:?} outside blocks 2..{file_blocks}"
    );
    // The hint changes nothing a reader sees.
    for (index, &page) in pages.iter().enumerate() {
        let first = pager.read(page, |view| view.to_vec(0, 1)).unwrap();
        assert_eq!(first, vec![index as u8]);
    }
    // A checkpoint without named pages names only the map's nodes above
    // its leaves: here its root, the first block named above.
    pager.set_open_pages(&[]);
    let mut guard = pager.exclusive(pages[5]).unwrap();
    guard.fill(9);
    drop(guard);
    pager.checkpoint(b"second").unwrap();
    drop(pager);
    let pager = Pager::open(vfs, Path::new(PATH), options(64)).unwrap();
    let root_only = pager.open_report().open_blocks.clone();
    assert_eq!(root_only.len(), 1, "{root_only:?}");
    assert!(
        (2..file_blocks + 8).contains(&root_only[0]),
        "{root_only:?}"
    );
    assert_eq!(pager.payload(), b"second");
}

#[test]
fn a_started_open_knows_the_checkpoint_and_finishes_as_an_open() {
    let vfs = Arc::new(SimVfs::new(1));
    let pager = Pager::open(vfs.clone(), Path::new(PATH), options(16)).unwrap();
    let page = {
        let mut guard = pager.allocate().unwrap();
        guard.fill(7);
        guard.page_id()
    };
    pager.checkpoint(b"one").unwrap();
    pager.checkpoint(b"two").unwrap();
    drop(pager);

    let opening = Pager::start_open(vfs.clone(), Path::new(PATH), options(16)).unwrap();
    assert_eq!(opening.checkpoint_id(), 2);
    assert_eq!(opening.payload(), b"two");
    // Half open, the file is already locked against a second opener.
    assert!(Pager::open(vfs.clone(), Path::new(PATH), options(16)).is_err());
    let pager = opening.finish().unwrap();
    assert_eq!(pager.checkpoint_id(), 2);
    assert_eq!(pager.payload(), b"two");
    assert_eq!(pager.open_report().other_slot, Ok(1));
    assert_eq!(
        pager.read(page, |view| view.to_vec(0, 2)).unwrap(),
        vec![7, 7]
    );
}

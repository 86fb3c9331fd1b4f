//! Damage on disk: every page, map node and meta slot is checked, and a
//! mismatch is a typed error naming where, never silently used.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Model, contents, options, verify};
use keel_io::{OpenMode, SimVfs, Vfs};
use keel_pager::{Error, MapProblem, MetaProblem, PageId, Pager};

const PATH: &str = "/db/pages";

/// A file with `pages` pages after `checkpoints` checkpoints (the last
/// rewriting page 1), and the model of the last one.
fn build(pages: u64, checkpoints: u64) -> (SimVfs, Model) {
    let vfs = SimVfs::new(3);
    let pager = Pager::open(Arc::new(vfs.clone()), Path::new(PATH), options(64)).unwrap();
    let mut model = Model::default();
    for stamp in 0..pages {
        let mut guard = pager.allocate().unwrap();
        let page = guard.page_id();
        guard.copy_from_slice(&contents(page, stamp));
        model.pages.insert(page, contents(page, stamp));
    }
    for checkpoint in 1..=checkpoints {
        let page = PageId::new(1);
        let bytes = contents(page, 100 + checkpoint);
        pager.exclusive(page).unwrap().copy_from_slice(&bytes);
        model.pages.insert(page, bytes);
        pager.checkpoint(&checkpoint.to_le_bytes()).unwrap();
    }
    (vfs, model)
}

fn open(vfs: &SimVfs) -> keel_pager::Result<Pager> {
    Pager::open(Arc::new(vfs.clone()), Path::new(PATH), options(64))
}

fn file_bytes(vfs: &SimVfs) -> Vec<u8> {
    let file = vfs.open(Path::new(PATH), OpenMode::Existing).unwrap();
    keel_io::read_to_end(&*file).unwrap()
}

/// The block holding `page`, found by content.
fn block_of(vfs: &SimVfs, model: &Model, page: PageId) -> u64 {
    let bytes = file_bytes(vfs);
    let wanted = &model.pages[&page];
    let blocks: Vec<u64> = bytes
        .chunks_exact(4096)
        .enumerate()
        .filter(|(_, block)| block == wanted)
        .map(|(index, _)| index as u64)
        .collect();
    assert_eq!(blocks.len(), 1, "page {page} is in exactly one block");
    blocks[0]
}

#[test]
fn a_damaged_page_is_reported_with_page_and_block() {
    let (vfs, model) = build(10, 1);
    let page = PageId::new(4);
    let block = block_of(&vfs, &model, page);
    assert!(vfs.corrupt(Path::new(PATH), block * 4096 + 100, 0x10));
    let pager = open(&vfs).unwrap();
    match pager.read(page, |view| view.u8_at(0)) {
        Err(Error::Corruption {
            page: found_page,
            block: found_block,
            expected,
            found,
            ..
        }) => {
            assert_eq!(found_page, page);
            assert_eq!(found_block, block);
            assert_ne!(expected, found);
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
    // The error repeats (the damaged page never enters the pool) and the
    // other pages are fine.
    assert!(matches!(pager.shared(page), Err(Error::Corruption { .. })));
    let mut rest = model.clone();
    rest.pages.remove(&page);
    for (&other, bytes) in &rest.pages {
        assert_eq!(&pager.read(other, |v| v.to_vec(0, 4096)).unwrap(), bytes);
    }
}

#[test]
fn a_page_image_in_the_wrong_block_is_refused() {
    // Copy page 3's (valid) image over page 2's block: the checksum is
    // seeded with the page id, so the misdirected image does not pass.
    let (vfs, model) = build(5, 1);
    let from = block_of(&vfs, &model, PageId::new(3));
    let to = block_of(&vfs, &model, PageId::new(2));
    let bytes = file_bytes(&vfs);
    let image = bytes[(from * 4096) as usize..((from + 1) * 4096) as usize].to_vec();
    let file = vfs.open(Path::new(PATH), OpenMode::Existing).unwrap();
    file.write_all_at(&image, to * 4096).unwrap();
    file.sync_data().unwrap();
    drop(file);
    let pager = open(&vfs).unwrap();
    assert!(matches!(
        pager.read(PageId::new(2), |v| v.u8_at(0)),
        Err(Error::Corruption { .. })
    ));
}

#[test]
fn a_damaged_newest_meta_slot_falls_back_to_the_older_checkpoint() {
    // Two checkpoints and nothing written after: the older checkpoint's
    // blocks are free but untouched, so it is whole.
    let vfs = SimVfs::new(5);
    let pager = open(&vfs).unwrap();
    let mut model = Model::default();
    for stamp in 0..4 {
        let mut guard = pager.allocate().unwrap();
        let page = guard.page_id();
        guard.copy_from_slice(&contents(page, stamp));
        model.pages.insert(page, contents(page, stamp));
    }
    pager.checkpoint(b"one").unwrap();
    let older = model.clone();
    pager
        .exclusive(PageId::new(2))
        .unwrap()
        .copy_from_slice(&contents(PageId::new(2), 9));
    pager.checkpoint(b"two").unwrap();
    drop(pager);
    // Checkpoint 2 lives in slot 0.
    assert!(vfs.corrupt(Path::new(PATH), 20, 0x01));
    let pager = open(&vfs).unwrap();
    assert_eq!(pager.checkpoint_id(), 1);
    assert_eq!(pager.payload(), b"one");
    assert!(matches!(
        pager.open_report().other_slot,
        Err(MetaProblem::Checksum { .. })
    ));
    verify(&pager, &older).unwrap();
}

#[test]
fn both_meta_slots_damaged_is_an_error_naming_both() {
    let (vfs, _) = build(3, 2);
    assert!(vfs.corrupt(Path::new(PATH), 30, 0x01));
    assert!(vfs.corrupt(Path::new(PATH), 4096 + 30, 0x01));
    match open(&vfs) {
        Err(Error::NoValidMeta { slot0, slot1, .. }) => {
            assert!(matches!(slot0, MetaProblem::Checksum { .. }), "{slot0}");
            assert!(matches!(slot1, MetaProblem::Checksum { .. }), "{slot1}");
        }
        other => panic!("expected no valid meta, got {other:?}"),
    }
}

#[test]
fn a_damaged_map_node_fails_the_open_with_its_location() {
    let (vfs, model) = build(6, 1);
    // The map's only node is the one block neither meta nor page.
    let bytes = file_bytes(&vfs);
    let page_blocks: Vec<u64> = model
        .pages
        .keys()
        .map(|&page| block_of(&vfs, &model, page))
        .collect();
    let map_block = (2..bytes.len() as u64 / 4096)
        .find(|block| {
            !page_blocks.contains(block)
                && bytes[(block * 4096) as usize..((block + 1) * 4096) as usize]
                    .iter()
                    .any(|&b| b != 0)
        })
        .unwrap();
    assert!(vfs.corrupt(Path::new(PATH), map_block * 4096 + 16 * 3, 0x04));
    match open(&vfs) {
        Err(Error::MapCorruption {
            level,
            block,
            problem: MapProblem::Checksum { .. },
            ..
        }) => {
            assert_eq!(level, 0);
            assert_eq!(block, map_block);
        }
        other => panic!("expected a map corruption, got {other:?}"),
    }
}

#[test]
fn files_that_are_not_page_files_are_refused_and_left_alone() {
    for contents in [
        vec![],
        vec![0u8; 10],
        vec![0u8; 20_000],
        b"hello world".repeat(1000),
    ] {
        let vfs = SimVfs::new(1);
        keel_io::create_dir_all_durable(&vfs, Path::new("/db")).unwrap();
        let file = vfs.open(Path::new(PATH), OpenMode::CreateNew).unwrap();
        file.write_all_at(&contents, 0).unwrap();
        drop(file);
        assert!(
            matches!(open(&vfs), Err(Error::NoValidMeta { .. })),
            "{} bytes",
            contents.len()
        );
        assert_eq!(file_bytes(&vfs), contents, "nothing was written");
    }
}

/// The map blocks of a file, by the leaf they are (`None`: a node above
/// the leaves), found by content: a leaf's entries point at page blocks.
fn map_leaves(vfs: &SimVfs, model: &Model) -> Vec<(u64, Option<u64>)> {
    let bytes = file_bytes(vfs);
    let block_page: std::collections::HashMap<u64, PageId> = model
        .pages
        .keys()
        .map(|&page| (block_of(vfs, model, page), page))
        .collect();
    (2..bytes.len() as u64 / 4096)
        .filter(|block| !block_page.contains_key(block))
        .filter_map(|block| {
            let node = &bytes[(block * 4096) as usize..((block + 1) * 4096) as usize];
            if node.iter().all(|&b| b == 0) {
                return None;
            }
            let leaf = node.chunks_exact(16).find_map(|entry| {
                let pointed = u64::from_le_bytes(entry[..8].try_into().unwrap());
                block_page.get(&pointed).map(|page| page.get() / 256)
            });
            Some((block, leaf))
        })
        .collect()
}

/// An open reads the map's nodes above its leaves only: a leaf is read
/// when a page of it is first missed, and the whole map (checked) before
/// anything changes. A damaged leaf fails the reads of its pages and the
/// first change with its location, not the open, and not the reads of
/// other leaves' pages.
#[test]
fn map_leaves_are_read_when_first_needed_and_damage_is_found_there() {
    let (vfs, model) = build(700, 1);
    let leaves = map_leaves(&vfs, &model);
    let leaf_block = |leaf: u64| {
        leaves
            .iter()
            .find(|(_, found)| *found == Some(leaf))
            .map(|(block, _)| *block)
            .unwrap()
    };
    {
        let pager = open(&vfs).unwrap();
        for page in [PageId::new(300), PageId::new(301), PageId::new(600)] {
            let bytes = pager.read(page, |view| {
                let mut bytes = vec![0u8; view.len()];
                view.copy_to(0, &mut bytes).map(|()| bytes)
            });
            assert_eq!(bytes.unwrap(), model.pages[&page], "{page}");
        }
        assert_eq!(pager.stats().map_leaves_read, 2);
        verify(&pager, &model).unwrap();
    }
    let damaged = leaf_block(1);
    assert!(vfs.corrupt(Path::new(PATH), damaged * 4096 + 16 * 5, 0x08));
    let pager = open(&vfs).expect("the open reads no leaf");
    let page = PageId::new(400);
    match pager.read(page, |view| view.u64_at(0)) {
        Err(Error::MapCorruption {
            level: 0,
            node: 1,
            block,
            problem: MapProblem::Checksum { .. },
            ..
        }) => assert_eq!(block, damaged),
        other => panic!("expected the damaged leaf, got {other:?}"),
    }
    assert!(pager.read(PageId::new(10), |view| view.u64_at(0)).is_ok());
    assert!(matches!(
        pager.allocate().map(|guard| guard.page_id()),
        Err(Error::MapCorruption {
            level: 0,
            node: 1,
            ..
        })
    ));
    assert!(matches!(
        pager.allocated_pages(),
        Err(Error::MapCorruption {
            level: 0,
            node: 1,
            ..
        })
    ));
}

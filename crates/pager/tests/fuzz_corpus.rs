//! Replays every input of the `pager_open` fuzz target's corpus (seeds and
//! every input that once crashed it) through the same harness, so a fixed
//! crash stays fixed without cargo-fuzz installed, and checks that the
//! seeds are what they claim.
//!
//! The seeds are real page files written by the pager on a simulated disk
//! (4 KiB pages, a few pages each). A test fails when the pager no longer
//! writes them byte for byte (a format or layout change); regenerate them
//! then with:
//!
//! ```text
//! KEEL_REGENERATE_FUZZ_SEEDS=1 cargo test -p keel-pager --test fuzz_corpus
//! ```

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keel_io::{OpenMode, SimVfs, Vfs};
use keel_pager::fuzz_support::open_arbitrary_file;
use keel_pager::{PageId, Pager, PagerOptions};

const PAGE_SIZE: usize = 4096;
const PATH: &str = "/db/pages";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/pager_open")
}

fn read_seed(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(name)).unwrap()
}

#[test]
fn the_fuzz_corpus_opens_without_panicking() {
    let mut replayed = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        // Any number of intact pages is fine; a panic is the failure.
        let _ = open_arbitrary_file(&bytes);
        replayed += 1;
    }
    assert!(
        replayed >= SEEDS.len(),
        "the corpus holds its seeds ({replayed} found)"
    );
}

#[test]
fn the_corpus_seeds_are_what_they_claim() {
    for &(name, intact) in SEEDS {
        let bytes = read_seed(name);
        assert!(bytes.len() <= 64 << 10, "{name}: {} bytes", bytes.len());
        assert_eq!(
            open_arbitrary_file(&bytes),
            intact,
            "pages intact in {name}"
        );
    }
    // The damaged seeds are damaged versions of the one-checkpoint file.
    let one = read_seed("seed-one-checkpoint");
    assert_eq!(read_seed("seed-zero-filled"), vec![0; one.len()]);
    let truncated = read_seed("seed-truncated");
    assert!(truncated.len() < one.len() && one.starts_with(&truncated));
    let corrupt = read_seed("seed-corrupt-page");
    assert_eq!(corrupt.len(), one.len());
    assert_eq!(corrupt.iter().zip(&one).filter(|(a, b)| a != b).count(), 1);
}

#[test]
fn the_seed_writer_still_writes_files_the_harness_reads_back() {
    // The seeds on disk may predate a pager change; freshly written files
    // must still read back whole.
    for (name, bytes) in seeds() {
        let expected = SEEDS.iter().find(|(seed, _)| *seed == name).unwrap().1;
        assert_eq!(open_arbitrary_file(&bytes), expected, "fresh {name}");
    }
}

#[test]
fn the_seeds_are_what_the_pager_writes_today() {
    if std::env::var_os("KEEL_REGENERATE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(corpus_dir()).unwrap();
        for (name, bytes) in seeds() {
            std::fs::write(corpus_dir().join(name), bytes).unwrap();
        }
    }
    for (name, bytes) in seeds() {
        assert!(
            read_seed(name) == bytes,
            "{name} differs from what the pager writes now: regenerate the seeds (module docs)"
        );
    }
}

/// Every seed and the pages `open_arbitrary_file` reads back intact.
const SEEDS: &[(&str, usize)] = &[
    // A new file: two meta slots, no page.
    ("seed-fresh-file", 0),
    // Pages 1..=3 written and checkpointed once.
    ("seed-one-checkpoint", 3),
    // Then page 1 rewritten, page 4 allocated, page 3 freed: pages 1, 2, 4.
    ("seed-two-checkpoints", 3),
    // The two-checkpoint file with its newer meta slot damaged: it opens at
    // the first checkpoint, whose three pages the second did not overwrite.
    ("seed-newest-meta-damaged", 3),
    // The one-checkpoint file cut inside its last block.
    ("seed-truncated", 0),
    // The one-checkpoint file with one bit flipped in page 2's block.
    ("seed-corrupt-page", 2),
    // As long as the one-checkpoint file, all zeros: no meta slot holds.
    ("seed-zero-filled", 0),
];

fn options() -> PagerOptions {
    PagerOptions {
        page_size: PAGE_SIZE as u32,
        pool_bytes: 8 * PAGE_SIZE as u64,
        growth_bytes_min: PAGE_SIZE as u64,
        growth_bytes_max: 4 * PAGE_SIZE as u64,
        ..PagerOptions::default()
    }
}

/// The page file's bytes, with no pager holding it open.
fn file_bytes(vfs: &SimVfs) -> Vec<u8> {
    let file = vfs.open(Path::new(PATH), OpenMode::Existing).unwrap();
    keel_io::read_to_end(&*file).unwrap()
}

/// Writes `page` whole: its id in the first word (what the harness reads),
/// then `stamp` over the rest.
fn write_page(pager: &Pager, page: PageId, stamp: u8) {
    let mut guard = pager.exclusive(page).unwrap();
    guard.fill(stamp);
    guard[..8].copy_from_slice(&page.get().to_le_bytes());
}

fn allocate(pager: &Pager, stamp: u8) -> PageId {
    let page = pager.allocate().unwrap().page_id();
    write_page(pager, page, stamp);
    page
}

/// The block holding `page` in a file whose pages were written in order
/// by one checkpoint: found by its contents.
fn block_of(file: &[u8], page: PageId, stamp: u8) -> usize {
    file.chunks_exact(PAGE_SIZE)
        .position(|block| {
            block[..8] == page.get().to_le_bytes() && block[8..].iter().all(|&b| b == stamp)
        })
        .unwrap()
}

/// Writes every seed: (name, bytes), in the order of [`SEEDS`].
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let vfs = Arc::new(SimVfs::new(0));
    let fresh = {
        drop(Pager::open(vfs.clone(), PATH, options()).unwrap());
        file_bytes(&vfs)
    };

    let pager = Pager::open(vfs.clone(), PATH, options()).unwrap();
    let pages: Vec<PageId> = (0..3).map(|i| allocate(&pager, 0xA0 + i)).collect();
    assert_eq!(pages, [1, 2, 3].map(PageId::new));
    pager.checkpoint(b"one").unwrap();
    drop(pager);
    let one = file_bytes(&vfs);

    let pager = Pager::open(vfs.clone(), PATH, options()).unwrap();
    write_page(&pager, pages[0], 0xB0);
    assert_eq!(allocate(&pager, 0xB3), PageId::new(4));
    pager.free(pages[2]).unwrap();
    pager.checkpoint(b"two").unwrap();
    drop(pager);
    let two = file_bytes(&vfs);

    // Checkpoint 2 is in slot 0: damage its checksummed header.
    let mut newest_damaged = two.clone();
    newest_damaged[16] ^= 0x01;

    let truncated = one[..one.len() - PAGE_SIZE / 2].to_vec();

    let mut corrupt = one.clone();
    corrupt[block_of(&one, pages[1], 0xA1) * PAGE_SIZE + 100] ^= 0x04;

    let zeros = vec![0; one.len()];

    let seeds = vec![
        ("seed-fresh-file", fresh),
        ("seed-one-checkpoint", one),
        ("seed-two-checkpoints", two),
        ("seed-newest-meta-damaged", newest_damaged),
        ("seed-truncated", truncated),
        ("seed-corrupt-page", corrupt),
        ("seed-zero-filled", zeros),
    ];
    let made: Vec<&str> = seeds.iter().map(|(name, _)| *name).collect();
    let listed: Vec<&str> = SEEDS.iter().map(|(name, _)| *name).collect();
    assert_eq!(made, listed, "every seed is listed in SEEDS, in order");
    seeds
}

//! What the B+tree's tests share: pagers on the simulated disk, keys and
//! values that exercise prefix truncation and overflow chains, and a
//! comparison of a tree with its model.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use keel_btree::{BTree, CheckReport, check_pages_in_use};
use keel_io::{SimVfs, Vfs};
use keel_pager::{Pager, PagerOptions};
use rand::Rng;
use rand::rngs::SmallRng;

/// 4 KiB pages (the smallest) and a pool of `frames` frames.
pub fn options(frames: u64) -> PagerOptions {
    PagerOptions {
        pool_bytes: frames * 4096,
        ..PagerOptions::default()
    }
}

/// Pages of `page_size` bytes and a pool of `frames` frames.
pub fn options_sized(page_size: u32, frames: u64) -> PagerOptions {
    PagerOptions {
        page_size,
        pool_bytes: frames * u64::from(page_size),
        ..PagerOptions::default()
    }
}

/// A pager on a fresh simulated disk.
pub fn pager(seed: u64, frames: u64) -> (Arc<SimVfs>, Arc<Pager>) {
    let vfs = Arc::new(SimVfs::new(seed));
    let shared: Arc<dyn Vfs> = vfs.clone();
    let pager = Pager::open(shared, "/db/pages", options(frames)).unwrap();
    (vfs, Arc::new(pager))
}

/// A pager of `page_size` pages on a fresh simulated disk.
pub fn pager_sized(seed: u64, page_size: u32, frames: u64) -> (Arc<SimVfs>, Arc<Pager>) {
    let vfs = Arc::new(SimVfs::new(seed));
    let shared: Arc<dyn Vfs> = vfs.clone();
    let pager = Pager::open(shared, "/db/pages", options_sized(page_size, frames)).unwrap();
    (vfs, Arc::new(pager))
}

/// The key of `id`: its big-endian bytes, then a run of filler whose length
/// depends on the id, so keys differ in length and share long prefixes.
pub fn key(id: u16) -> Vec<u8> {
    let mut key = vec![b'k'; 1 + usize::from(id % 5) * 60];
    key[0] = b'k';
    let mut out = id.to_be_bytes().to_vec();
    out.append(&mut key);
    out
}

/// A key of 1 byte to [`keel_btree::KEY_BYTES_MAX`] for `id` (below 2048),
/// by `id % 8`: 1 and 3 bytes; just under the inline limit of 4 KiB
/// pages; and long keys in families sharing prefixes far longer than the
/// prefix a cell keeps (995 `P`s; 5,000 `L`s; 60,000 `H`s up to the
/// limit), some of which are prefixes of others (runs of `L`s alone), so
/// that comparisons tie on the cell's prefix and go on in the chain; and
/// long keys that differ early (`R` and the id). Distinct for distinct
/// ids.
pub fn long_key(id: u16) -> Vec<u8> {
    let tag = id.to_be_bytes();
    let run = |byte: u8, len: usize| vec![byte; len];
    let family = usize::from(id / 8);
    match id % 8 {
        0 => vec![family as u8],
        1 => [&b"s"[..], &tag].concat(),
        2 => [run(b'm', 996), tag.to_vec()].concat(),
        3 => [run(b'P', 995), tag.to_vec(), run(b'p', family * 13)].concat(),
        4 => [run(b'L', 5000), tag.to_vec(), run(b'l', family % 5 * 700)].concat(),
        5 => run(b'L', 3000 + family * 7),
        6 => {
            let mut key = [run(b'H', 60_000), tag.to_vec()].concat();
            key.resize(
                (60_002 + family % 4 * 2000).min(keel_btree::KEY_BYTES_MAX),
                b'h',
            );
            key
        }
        _ => [
            &b"R"[..],
            &tag,
            &run(b'r', 1001 + usize::from(id) * 37 % 20_000),
        ]
        .concat(),
    }
}

/// Value lengths that land inline, fill a page, and need one or several
/// overflow pages.
pub const VALUE_LENGTHS: [usize; 7] = [0, 9, 150, 700, 990, 5000, 20_000];

/// A value of `len` bytes whose content names `id` and `version`.
pub fn value(id: u16, version: u32, len: usize) -> Vec<u8> {
    let seed = u64::from(id) << 32 | u64::from(version);
    (0..len)
        .map(|index| {
            (seed
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(index as u64 * 31)
                >> 24) as u8
        })
        .collect()
}

/// Asserts the tree passes its check and holds exactly `model`, forward
/// and backward.
pub fn assert_matches(tree: &BTree, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let report = tree.check().unwrap();
    assert!(report.is_ok(), "check: {:?}", report.problems);
    assert_eq!(report.entries, model.len() as u64);
    let forward: Vec<(Vec<u8>, Vec<u8>)> =
        tree.iter().map(owned).collect::<Result<_, _>>().unwrap();
    let expected: Vec<(Vec<u8>, Vec<u8>)> =
        model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert!(forward == expected, "forward scan differs from the model");
    let mut backward: Vec<(Vec<u8>, Vec<u8>)> = tree
        .iter()
        .rev()
        .map(owned)
        .collect::<Result<_, _>>()
        .unwrap();
    backward.reverse();
    assert!(backward == expected, "reverse scan differs from the model");
}

/// A scanned entry as owned vectors.
pub fn owned(
    entry: keel_btree::Result<keel_btree::Entry>,
) -> keel_btree::Result<(Vec<u8>, Vec<u8>)> {
    entry.map(|(key, value)| (key.to_vec(), value.to_vec()))
}

/// An entry of the engine's shape: a 4-byte keyspace id before a 24-byte
/// random key, a 150-byte value.
pub fn engine_entry(rng: &mut SmallRng) -> (Vec<u8>, Vec<u8>) {
    let mut key = 7u32.to_be_bytes().to_vec();
    key.extend((0..24).map(|_| rng.random::<u8>()));
    let value = (0..150).map(|_| rng.random::<u8>()).collect();
    (key, value)
}

/// Asserts the tree passes its check and leaks no page of `pager`;
/// returns its report.
pub fn sound(tree: &BTree, pager: &Pager) -> CheckReport {
    let report = tree.check().unwrap();
    assert!(report.is_ok(), "check: {:?}", report.problems);
    let leaks = check_pages_in_use(pager, &[&report], &[]).unwrap();
    assert!(leaks.is_empty(), "pages: {leaks:?}");
    report
}

//! Space, not time: pages and bytes per entry of 1M entries of the engine's
//! shape — a 4-byte keyspace id before a 24-byte random key, and a
//! 150-byte random value — bulk-loaded (fill 0.9) and inserted in random
//! order, then half of them removed at random and the tree defragmented
//! (what `keel-benches` measures of compaction), on 4, 8 and 16 KiB pages.
//! Prints, for each, the leaves, inner pages, bytes of slots and cells
//! (`check()`'s `bytes_used`) and those bytes per entry, the leaves' and
//! inner pages' mean fill, the leaves by fill in tenths, and the pages'
//! bytes over the entries' own; 10K entries when not measuring.
//!
//! ```text
//! cargo bench -p keel-btree --bench footprint
//! ```

#[path = "../../pager/benches/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::measuring;
use keel_btree::{BTree, BULK_FILL_DEFAULT, CheckReport};
use keel_io::{StdVfs, Vfs};
use keel_pager::{Pager, PagerOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The keyspace id the engine puts before every key.
const KEYSPACE: [u8; 4] = 7u32.to_be_bytes();

/// Page sizes the thinned tree is measured at.
const PAGE_SIZES: [u32; 3] = [4096, 8192, 16384];

fn tree_in(dir: &std::path::Path, page_size: u32) -> BTree {
    let vfs: Arc<dyn Vfs> = Arc::new(StdVfs::new());
    let options = PagerOptions {
        page_size,
        pool_bytes: 1 << 30,
        ..PagerOptions::default()
    };
    let pager = Arc::new(Pager::open(vfs, dir.join("pages"), options).expect("pager"));
    BTree::create(pager).expect("tree")
}

/// A node page's header (docs/FORMAT.md), which its usable bytes leave out.
const NODE_HEADER_BYTES: u64 = 32;

/// The bytes of an entry's key and value.
const ENTRY_BYTES: u64 = (KEYSPACE.len() + 24 + 150) as u64;

fn print(name: &str, report: &CheckReport) {
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let pages = report.leaves + report.inner_nodes;
    let page_bytes = report.node_bytes_usable + NODE_HEADER_BYTES;
    println!(
        "{name}: {} entries, {} leaves, {} inner pages, {:.1} entries per leaf, \
         {:.1} bytes of slots and cells per entry, {:.1} KiB of pages per 1000 entries, \
         {:.3} page bytes per entry byte",
        report.entries,
        report.leaves,
        report.inner_nodes,
        report.entries as f64 / report.leaves as f64,
        report.bytes_used as f64 / report.entries as f64,
        (pages * page_bytes) as f64 / 1024.0 / (report.entries as f64 / 1000.0),
        (pages * page_bytes) as f64 / (report.entries * ENTRY_BYTES) as f64,
    );
    println!(
        "    fill: leaves {:.1}%, inner pages {:.1}%; leaves by fill in tenths {:?}",
        report.leaf_fill() * 100.0,
        report.inner_fill() * 100.0,
        report.leaf_fill_tenths,
    );
}

fn main() {
    let count = if measuring() { 1_000_000 } else { 10_000 };
    let mut data: Vec<(Vec<u8>, Vec<u8>)> = common::redb_shape_entries(count, 0x6b65656c)
        .into_iter()
        .map(|(key, value)| ([KEYSPACE.as_slice(), &key].concat(), value))
        .collect();
    let dir = tempfile::tempdir().expect("temporary directory");
    for page_size in PAGE_SIZES {
        let kib = page_size / 1024;
        let random = tree_in(&dir.path().join(format!("random{kib}")), page_size);
        for (key, value) in &data {
            random.insert(key, value).expect("insert");
        }
        print(
            &format!("{kib} KiB pages, random inserts"),
            &random.check().expect("check"),
        );
        let mut rng = SmallRng::seed_from_u64(0x68616c66);
        for (key, _) in &data {
            if rng.random_bool(0.5) {
                random.delete(key).expect("delete");
            }
        }
        print("half removed at random", &random.check().expect("check"));
        let started = std::time::Instant::now();
        let freed = random.defragment().expect("defragment");
        println!(
            "defragment freed {freed} pages in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        print("then defragmented", &random.check().expect("check"));
    }
    data.sort();
    data.dedup_by(|a, b| a.0 == b.0);
    let bulk = tree_in(&dir.path().join("bulk"), 4096);
    bulk.bulk_load(data.iter().map(|(k, v)| (k, v)), BULK_FILL_DEFAULT)
        .expect("bulk load");
    print(
        "4 KiB pages, bulk load (fill 0.9)",
        &bulk.check().expect("check"),
    );
}

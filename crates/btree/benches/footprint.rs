//! Space, not time: pages and bytes per entry of 1M entries of the engine's
//! shape — a 4-byte keyspace id before a 24-byte random key, and a
//! 150-byte random value — bulk-loaded (fill 0.9) and inserted in random
//! order. Prints, for each, the leaves, inner pages, bytes of slots and
//! cells (`check()`'s `bytes_used`) and those bytes per entry; 10K entries
//! when not measuring.
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

/// The keyspace id the engine puts before every key.
const KEYSPACE: [u8; 4] = 7u32.to_be_bytes();

fn tree_in(dir: &std::path::Path) -> BTree {
    let vfs: Arc<dyn Vfs> = Arc::new(StdVfs::new());
    let options = PagerOptions {
        pool_bytes: 1 << 30,
        ..PagerOptions::default()
    };
    let pager = Arc::new(Pager::open(vfs, dir.join("pages"), options).expect("pager"));
    BTree::create(pager).expect("tree")
}

fn print(name: &str, report: &CheckReport) {
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let pages = report.leaves + report.inner_nodes;
    println!(
        "{name}: {} entries, {} leaves, {} inner pages, {:.1} entries per leaf, \
         {:.1} bytes of slots and cells per entry, {:.1} KiB of pages per 1000 entries",
        report.entries,
        report.leaves,
        report.inner_nodes,
        report.entries as f64 / report.leaves as f64,
        report.bytes_used as f64 / report.entries as f64,
        (pages * 4096) as f64 / 1024.0 / (report.entries as f64 / 1000.0),
    );
}

fn main() {
    let count = if measuring() { 1_000_000 } else { 10_000 };
    let mut data: Vec<(Vec<u8>, Vec<u8>)> = common::redb_shape_entries(count, 0x6b65656c)
        .into_iter()
        .map(|(key, value)| ([KEYSPACE.as_slice(), &key].concat(), value))
        .collect();
    let dir = tempfile::tempdir().expect("temporary directory");
    let random = tree_in(&dir.path().join("random"));
    for (key, value) in &data {
        random.insert(key, value).expect("insert");
    }
    print("random inserts", &random.check().expect("check"));
    data.sort();
    data.dedup_by(|a, b| a.0 == b.0);
    let bulk = tree_in(&dir.path().join("bulk"));
    bulk.bulk_load(data.iter().map(|(k, v)| (k, v)), BULK_FILL_DEFAULT)
        .expect("bulk load");
    print("bulk load (fill 0.9)", &bulk.check().expect("check"));
}

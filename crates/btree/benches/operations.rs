//! The B+tree against `std::collections::BTreeMap` on the redb benchmark's
//! shape: 1M entries (10K when not measuring) of 24-byte random keys and
//! 150-byte random values, fixed seed. The tree lives in a page file on the
//! real disk with a pool large enough to hold it (nothing is evicted), so
//! this measures the tree and the pager's cached path, not the disk.
//!
//! * `random_get`: a point read of a present key, cycling through the keys
//!   in random order; both sides return an owned copy of the value.
//!   Target: keel / BTreeMap at most 2x.
//! * `random_insert`: an insert of a new random key (both sides grow).
//! * `range_10`: the 10 entries from a random present key on, copied
//!   (`keel`: as `Bytes` entries; `keel_next_with`: visited in place).
//! * `scan_per_entry`: a full scan, per entry, taking `Bytes` entries
//!   (`keel`) and visiting them in place (`keel_next_with`).
//! * `bulk_load_100k`: loading 100K sorted entries into an empty tree
//!   (`bulk_load`, fill 0.9) vs collecting them into a `BTreeMap`.
//!
//! Each prints keel / BTreeMap (time per operation) at the end.
//!
//! ```text
//! cargo bench -p keel-btree --bench operations
//! ```

#[path = "../../pager/benches/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use common::{Tally, measuring, report_time_ratio};
use criterion::{Criterion, criterion_group, criterion_main};
use keel_btree::{BTree, BULK_FILL_DEFAULT};
use keel_io::{StdVfs, Vfs};
use keel_pager::{Pager, PagerOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const BULK_ENTRIES: usize = 100_000;

fn bench(c: &mut Criterion) {
    let count = if measuring() { 1_000_000 } else { 10_000 };
    let mut data = common::redb_shape_entries(count, 0x6b65656c);
    data.sort();
    data.dedup_by(|a, b| a.0 == b.0);
    let dir = tempfile::tempdir().expect("temporary directory");
    let vfs: Arc<dyn Vfs> = Arc::new(StdVfs::new());
    let options = PagerOptions {
        pool_bytes: 1 << 30,
        ..PagerOptions::default()
    };
    let pager = Arc::new(Pager::open(vfs, dir.path().join("pages"), options).expect("pager"));
    let tree = BTree::create(pager.clone()).expect("tree");
    tree.bulk_load(data.iter().map(|(k, v)| (k, v)), BULK_FILL_DEFAULT)
        .expect("bulk load");
    let mut map: BTreeMap<Vec<u8>, Vec<u8>> = data.iter().cloned().collect();
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut rng = SmallRng::seed_from_u64(7);
    for index in (1..order.len()).rev() {
        order.swap(index, rng.random_range(0..=index));
    }

    let mut group = c.benchmark_group("btree");
    let (keel_get, map_get) = (Tally::default(), Tally::default());
    group.bench_function("random_get/keel", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for i in 0..iterations as usize {
                let key = &data[order[i % order.len()]].0;
                black_box(tree.get(key).expect("get"));
            }
            keel_get.record(iterations, start.elapsed())
        })
    });
    group.bench_function("random_get/btreemap", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for i in 0..iterations as usize {
                let key = &data[order[i % order.len()]].0;
                black_box(map.get(key).map(|value| value.to_vec()));
            }
            map_get.record(iterations, start.elapsed())
        })
    });

    let (keel_range, map_range) = (Tally::default(), Tally::default());
    group.bench_function("range_10/keel", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for i in 0..iterations as usize {
                let key = data[order[i % order.len()]].0.as_slice();
                for entry in tree.range(key..).take(10) {
                    black_box(entry.expect("entry"));
                }
            }
            keel_range.record(iterations, start.elapsed())
        })
    });
    let keel_range_visit = Tally::default();
    group.bench_function("range_10/keel_next_with", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for i in 0..iterations as usize {
                let key = data[order[i % order.len()]].0.as_slice();
                let mut range = tree.range(key..);
                for _ in 0..10 {
                    let visited = range.next_with(true, |key, value| {
                        black_box((key, value));
                    });
                    let Some(visited) = visited else { break };
                    visited.expect("entry");
                }
            }
            keel_range_visit.record(iterations, start.elapsed())
        })
    });
    group.bench_function("range_10/btreemap", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for i in 0..iterations as usize {
                let key = &data[order[i % order.len()]].0;
                for (k, v) in map.range(key.clone()..).take(10) {
                    black_box((k.to_vec(), v.to_vec()));
                }
            }
            map_range.record(iterations, start.elapsed())
        })
    });

    // A full scan, per entry: the cursor alone (leaf copies and slices).
    let (keel_scan, map_scan) = (Tally::default(), Tally::default());
    group.bench_function("scan_per_entry/keel", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            let mut entries = 0u64;
            for _ in 0..iterations {
                for entry in tree.iter() {
                    black_box(entry.expect("entry"));
                    entries += 1;
                }
            }
            let elapsed = start.elapsed();
            keel_scan.record(entries, elapsed);
            elapsed
        })
    });
    let keel_scan_visit = Tally::default();
    group.bench_function("scan_per_entry/keel_next_with", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            let mut entries = 0u64;
            for _ in 0..iterations {
                let mut range = tree.iter();
                while let Some(entry) = range.next_with(true, |key, value| {
                    black_box((key, value));
                }) {
                    entry.expect("entry");
                    entries += 1;
                }
            }
            let elapsed = start.elapsed();
            keel_scan_visit.record(entries, elapsed);
            elapsed
        })
    });
    group.bench_function("scan_per_entry/btreemap", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            let mut entries = 0u64;
            for _ in 0..iterations {
                for (key, value) in &map {
                    black_box((key.as_slice(), value.as_slice()));
                    entries += 1;
                }
            }
            let elapsed = start.elapsed();
            map_scan.record(entries, elapsed);
            elapsed
        })
    });

    let fresh = common::redb_shape_entries(if measuring() { 2_000_000 } else { 20_000 }, 99);
    let (keel_insert, map_insert) = (Tally::default(), Tally::default());
    let mut next_keel = 0;
    let mut next_map = 0;
    group.bench_function("random_insert/keel", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                let (key, value) = &fresh[next_keel % fresh.len()];
                tree.insert(key, value).expect("insert");
                next_keel += 1;
            }
            keel_insert.record(iterations, start.elapsed())
        })
    });
    group.bench_function("random_insert/btreemap", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                let (key, value) = &fresh[next_map % fresh.len()];
                map.insert(key.clone(), value.clone());
                next_map += 1;
            }
            map_insert.record(iterations, start.elapsed())
        })
    });

    let bulk: Vec<(Vec<u8>, Vec<u8>)> = data.iter().take(BULK_ENTRIES).cloned().collect();
    let (keel_bulk, map_bulk) = (Tally::default(), Tally::default());
    group.sample_size(10);
    group.bench_function("bulk_load_100k/keel", |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = std::time::Duration::ZERO;
            for _ in 0..iterations {
                let target = BTree::create(pager.clone()).expect("tree");
                let start = Instant::now();
                target
                    .bulk_load(bulk.iter().map(|(k, v)| (k, v)), BULK_FILL_DEFAULT)
                    .expect("bulk load");
                elapsed += start.elapsed();
                target.destroy().expect("destroy");
            }
            keel_bulk.record(iterations, elapsed)
        })
    });
    group.bench_function("bulk_load_100k/btreemap", |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = std::time::Duration::ZERO;
            for _ in 0..iterations {
                let start = Instant::now();
                let target: BTreeMap<Vec<u8>, Vec<u8>> = bulk.iter().cloned().collect();
                elapsed += start.elapsed();
                drop(black_box(target));
            }
            map_bulk.record(iterations, elapsed)
        })
    });
    group.finish();
    report_time_ratio("random_get (1M, cached)", &keel_get, &map_get, "<= 2x");
    report_time_ratio("range_10", &keel_range, &map_range, "none set");
    report_time_ratio(
        "range_10, next_with",
        &keel_range_visit,
        &map_range,
        "none set",
    );
    report_time_ratio("scan, per entry", &keel_scan, &map_scan, "none set");
    report_time_ratio(
        "scan, per entry, next_with",
        &keel_scan_visit,
        &map_scan,
        "none set",
    );
    report_time_ratio("random_insert", &keel_insert, &map_insert, "none set");
    report_time_ratio("bulk_load_100k", &keel_bulk, &map_bulk, "none set");
}

fn config() -> Criterion {
    common::config(20, 3)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);

//! Where a read's nanoseconds go, layer by layer, on redb's shape (24-byte
//! random keys, 150-byte values): per entry of a full scan through the
//! engine with an empty delta and with a busy one (10,000 recent versions
//! not yet folded) and per range read of 10 entries, each taken as `Bytes`
//! (`Iterator::next`) and visited in place (`Iter::next_with`), and per
//! point read (`get` returning `Bytes`, and `get_with` visiting in
//! place), each beside
//! `std::collections::BTreeMap` doing the same in the same run. The
//! B+tree's own cursor is measured in keel-btree's `operations` bench.
//!
//! ```text
//! cargo bench -p keel --bench scans
//! ```

#[path = "../../pager/benches/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{Tally, measuring};
use criterion::{Criterion, criterion_group, criterion_main};
use keel::{Database, Durability, Keyspace, Options};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A database holding `data`, folded and checkpointed, with folding left
/// to a checkpoint the bench asks for (so a busy delta stays busy).
fn open(dir: &std::path::Path, data: &[(Vec<u8>, Vec<u8>)]) -> (Database, Keyspace) {
    let mut options = Options::default().with_durability(Durability::None);
    options.fold_delta_bytes = u64::MAX / 4;
    options.fold_interval = Duration::from_secs(3600);
    options.checkpoint_interval = Duration::from_secs(3600);
    options.checkpoint_wal_bytes = u64::MAX / 4;
    options.checkpoint_dirty_bytes = u64::MAX / 4;
    let db = Database::open(dir, options).expect("open");
    let ks = db.default_keyspace();
    for chunk in data.chunks(10_000) {
        db.update(|tx| {
            for (key, value) in chunk {
                tx.put(&ks, key, value.clone())?;
            }
            Ok(())
        })
        .expect("load");
    }
    db.checkpoint().expect("checkpoint folds the delta");
    (db, ks)
}

fn report(name: &str, keel: &Tally, map: &Tally) {
    if let (Some(keel), Some(map)) = (keel.median_nanos(), map.median_nanos()) {
        eprintln!(
            "{name}: keel {keel:.0} ns, BTreeMap {map:.0} ns: keel / BTreeMap = {:.2}x",
            keel / map
        );
    }
}

/// A full scan: entries as `Bytes` (`Iterator::next`), or visited in
/// place (`Iter::next_with`).
fn scan_all(db: &Database, ks: &Keyspace, visit: bool) -> usize {
    db.view(|tx| {
        let mut count = 0;
        let mut entries = tx.range(ks, ..)?;
        if visit {
            while let Some(entry) = entries.next_with(|key, value| {
                black_box((key, value));
            }) {
                entry?;
                count += 1;
            }
        } else {
            for entry in entries {
                black_box(entry?);
                count += 1;
            }
        }
        Ok(count)
    })
    .expect("scan")
}

/// `iterations` full scans, their time per entry recorded in `tally`.
fn timed_scans(
    db: &Database,
    ks: &Keyspace,
    iterations: u64,
    tally: &Tally,
    visit: bool,
) -> Duration {
    let start = Instant::now();
    let mut entries = 0;
    for _ in 0..iterations {
        entries += scan_all(db, ks, visit);
    }
    let elapsed = start.elapsed();
    tally.record(entries as u64, elapsed);
    elapsed
}

fn bench(c: &mut Criterion) {
    let count = if measuring() { 200_000 } else { 2_000 };
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = common::redb_shape_entries(count, 1);
    let (db, ks) = open(dir.path(), &data);
    let map: BTreeMap<Vec<u8>, Vec<u8>> = data.iter().cloned().collect();
    let mut group = c.benchmark_group("reads");
    group.sample_size(10);

    let (scan_empty, scan_map) = (Tally::default(), Tally::default());
    group.bench_function("scan_per_entry/empty_delta", |b| {
        b.iter_custom(|iterations| timed_scans(&db, &ks, iterations, &scan_empty, false))
    });
    let scan_empty_visit = Tally::default();
    group.bench_function("scan_per_entry/empty_delta/next_with", |b| {
        b.iter_custom(|iterations| timed_scans(&db, &ks, iterations, &scan_empty_visit, true))
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
            scan_map.record(entries, elapsed);
            elapsed
        })
    });
    // A busy delta: 10,000 recent versions spread over the key space.
    let busy = common::redb_shape_entries(10_000, 2);
    db.update(|tx| {
        for (key, value) in &busy {
            tx.put(&ks, key, value.clone())?;
        }
        Ok(())
    })
    .expect("busy delta");
    let (scan_busy, scan_busy_visit) = (Tally::default(), Tally::default());
    group.bench_function("scan_per_entry/busy_delta", |b| {
        b.iter_custom(|iterations| timed_scans(&db, &ks, iterations, &scan_busy, false))
    });
    group.bench_function("scan_per_entry/busy_delta/next_with", |b| {
        b.iter_custom(|iterations| timed_scans(&db, &ks, iterations, &scan_busy_visit, true))
    });
    db.checkpoint().expect("fold the busy delta");

    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut rng = SmallRng::seed_from_u64(3);
    for index in (1..order.len()).rev() {
        order.swap(index, rng.random_range(0..=index));
    }
    let (range_keel, range_map) = (Tally::default(), Tally::default());
    group.bench_function("range_10", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            db.view(|tx| {
                for i in 0..iterations as usize {
                    let key = data[order[i % order.len()]].0.as_slice();
                    for entry in tx.range(&ks, key..)?.take(10) {
                        black_box(entry?);
                    }
                }
                Ok(())
            })
            .expect("ranges");
            range_keel.record(iterations, start.elapsed())
        })
    });
    let range_visit = Tally::default();
    group.bench_function("range_10/next_with", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            db.view(|tx| {
                for i in 0..iterations as usize {
                    let key = data[order[i % order.len()]].0.as_slice();
                    let mut entries = tx.range(&ks, key..)?;
                    for _ in 0..10 {
                        match entries.next_with(|key, value| {
                            black_box((key, value));
                        }) {
                            Some(entry) => entry?,
                            None => break,
                        }
                    }
                }
                Ok(())
            })
            .expect("ranges");
            range_visit.record(iterations, start.elapsed())
        })
    });
    group.bench_function("range_10/btreemap", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for i in 0..iterations as usize {
                let key = &data[order[i % order.len()]].0;
                for (k, v) in map.range(key.clone()..).take(10) {
                    black_box((k.as_slice(), v.as_slice()));
                }
            }
            range_map.record(iterations, start.elapsed())
        })
    });
    let (get_keel, get_with, get_map) = (Tally::default(), Tally::default(), Tally::default());
    group.bench_function("get", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            db.view(|tx| {
                for i in 0..iterations as usize {
                    black_box(tx.get(&ks, &data[order[i % order.len()]].0)?);
                }
                Ok(())
            })
            .expect("gets");
            get_keel.record(iterations, start.elapsed())
        })
    });
    group.bench_function("get_with", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            db.view(|tx| {
                for i in 0..iterations as usize {
                    let key = &data[order[i % order.len()]].0;
                    black_box(tx.get_with(&ks, key, |value| value.map(<[u8]>::len))?);
                }
                Ok(())
            })
            .expect("gets");
            get_with.record(iterations, start.elapsed())
        })
    });
    group.bench_function("get/btreemap", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for i in 0..iterations as usize {
                black_box(map.get(&data[order[i % order.len()]].0).map(Vec::len));
            }
            get_map.record(iterations, start.elapsed())
        })
    });
    group.finish();
    report("full scan, per entry, empty delta", &scan_empty, &scan_map);
    report(
        "full scan, per entry, empty delta, next_with",
        &scan_empty_visit,
        &scan_map,
    );
    report("full scan, per entry, busy delta", &scan_busy, &scan_map);
    report(
        "full scan, per entry, busy delta, next_with",
        &scan_busy_visit,
        &scan_map,
    );
    report("range of 10", &range_keel, &range_map);
    report("range of 10, next_with", &range_visit, &range_map);
    report("get", &get_keel, &get_map);
    report("get_with", &get_with, &get_map);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);

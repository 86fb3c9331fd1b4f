//! keel on the redb benchmark's shape (24-byte random keys, 150-byte random
//! values, fixed seed), each row against a baseline measured in the same
//! run: durable writes against a bare `write` + `fdatasync` loop of the
//! same bytes on the same disk (the hardware's durable-write limit), reads
//! against `std::collections::BTreeMap`.
//!
//! Rows: `bulk_load` (one transaction), `individual_writes` (one durable
//! commit each), `batch_writes` (100 keys per durable commit),
//! `random_reads`, `range_reads` (10 entries), `random_reads_2_threads`,
//! `removals` (durable), `concurrent_writers/N` (N threads, durable
//! single-key commits; group commit shares fsyncs).
//!
//! ```text
//! cargo bench -p keel --bench workloads
//! ```

// The Criterion helpers the pager and B+tree benches use.
#[path = "../../pager/benches/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::hint::black_box;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Tally, measuring};
use criterion::{Criterion, criterion_group, criterion_main};
use keel::{Database, Durability, Options};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn report(name: &str, keel: &Tally, baseline: &Tally, baseline_name: &str) {
    if let (Some(keel), Some(baseline)) = (keel.median_nanos(), baseline.median_nanos()) {
        eprintln!(
            "{name}: keel {:.0} ops/s, {baseline_name} {:.0} ops/s: keel / {baseline_name} time = {:.2}x",
            1e9 / keel,
            1e9 / baseline,
            keel / baseline
        );
    }
}

fn bench(c: &mut Criterion) {
    let preload = if measuring() { 200_000 } else { 2_000 };
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = Arc::new(
        Database::open(
            dir.path().join("db"),
            Options::default().with_durability(Durability::Sync),
        )
        .expect("open"),
    );
    let ks = db.default_keyspace();
    let data = common::redb_shape_entries(preload, 1);
    let mut group = c.benchmark_group("keel");
    group.sample_size(10);

    // Bulk load: one transaction.
    let bulk_tally = Tally::default();
    let mut loaded = false;
    group.bench_function("bulk_load", |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iterations {
                let start = Instant::now();
                db.update(|tx| {
                    for (key, value) in &data {
                        tx.put(&ks, key, value.clone())?;
                    }
                    Ok(())
                })
                .expect("bulk load");
                elapsed += start.elapsed();
                loaded = true;
            }
            bulk_tally.record(iterations * data.len() as u64, elapsed)
        })
    });
    assert!(loaded);
    db.checkpoint().expect("checkpoint");
    let map: BTreeMap<Vec<u8>, Vec<u8>> = data.iter().cloned().collect();

    // Durable writes against write + fdatasync of the same record size,
    // interleaved with each durable row (same calls, same disk weather:
    // fsync latency swings up to 10x within minutes on this machine).
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(dir.path().join("baseline"))
        .expect("baseline file");
    let mut offset = 0u64;
    let mut fsync_baseline = |tally: &Tally, iterations: u64| {
        let record = [7u8; 200];
        let start = Instant::now();
        for _ in 0..iterations {
            file.write_all_at(&record, offset).expect("write");
            file.sync_data().expect("fdatasync");
            offset += record.len() as u64;
        }
        tally.record(iterations, start.elapsed());
    };
    let fresh = common::redb_shape_entries(1_000_000, 2);
    let mut next = 0usize;
    let (individual, individual_fsync) = (Tally::default(), Tally::default());
    group.bench_function("individual_writes", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                let (key, value) = &fresh[next % fresh.len()];
                next += 1;
                db.update(|tx| tx.put(&ks, key, value.clone()))
                    .expect("write");
            }
            let elapsed = individual.record(iterations, start.elapsed());
            fsync_baseline(&individual_fsync, iterations);
            elapsed
        })
    });
    let (batch, batch_fsync) = (Tally::default(), Tally::default());
    group.bench_function("batch_writes_100", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                db.update(|tx| {
                    for offset in 0..100 {
                        let (key, value) = &fresh[(next + offset) % fresh.len()];
                        tx.put(&ks, key, value.clone())?;
                    }
                    Ok(())
                })
                .expect("batch");
                next += 100;
            }
            let elapsed = batch.record(iterations, start.elapsed());
            fsync_baseline(&batch_fsync, iterations);
            elapsed
        })
    });

    // Reads against a BTreeMap holding the same entries.
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut rng = SmallRng::seed_from_u64(3);
    for index in (1..order.len()).rev() {
        order.swap(index, rng.random_range(0..=index));
    }
    let (keel_reads, map_reads) = (Tally::default(), Tally::default());
    group.bench_function("random_reads", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            db.view(|tx| {
                for i in 0..iterations as usize {
                    black_box(tx.get(&ks, &data[order[i % order.len()]].0)?);
                }
                Ok(())
            })
            .expect("reads");
            keel_reads.record(iterations, start.elapsed())
        })
    });
    group.bench_function("random_reads_btreemap", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for i in 0..iterations as usize {
                black_box(
                    map.get(&data[order[i % order.len()]].0)
                        .map(|value| value.to_vec()),
                );
            }
            map_reads.record(iterations, start.elapsed())
        })
    });
    let (keel_ranges, map_ranges) = (Tally::default(), Tally::default());
    group.bench_function("range_reads_10", |b| {
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
            keel_ranges.record(iterations, start.elapsed())
        })
    });
    group.bench_function("range_reads_10_btreemap", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for i in 0..iterations as usize {
                let key = &data[order[i % order.len()]].0;
                for (k, v) in map.range(key.clone()..).take(10) {
                    black_box((k.to_vec(), v.to_vec()));
                }
            }
            map_ranges.record(iterations, start.elapsed())
        })
    });
    let two_threads = Tally::default();
    group.bench_function("random_reads_2_threads", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for thread in 0..2usize {
                    let (db, ks, data, order) = (&db, &ks, &data, &order);
                    scope.spawn(move || {
                        db.view(|tx| {
                            for i in 0..iterations as usize {
                                black_box(
                                    tx.get(ks, &data[order[(i + thread * 7919) % order.len()]].0)?,
                                );
                            }
                            Ok(())
                        })
                        .expect("reads");
                    });
                }
            });
            two_threads.record(iterations * 2, start.elapsed())
        })
    });
    let (removals, removals_fsync) = (Tally::default(), Tally::default());
    let mut removed = 0usize;
    group.bench_function("removals", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                let key = &data[order[removed % order.len()]].0;
                removed += 1;
                db.update(|tx| tx.delete(&ks, key)).expect("remove");
            }
            let elapsed = removals.record(iterations, start.elapsed());
            fsync_baseline(&removals_fsync, iterations);
            elapsed
        })
    });
    let mut concurrent = Vec::new();
    for writers in [1usize, 2, 4, 8] {
        let (tally, tally_fsync) = (Tally::default(), Tally::default());
        group.bench_function(format!("concurrent_writers/{writers}"), |b| {
            b.iter_custom(|iterations| {
                let per_thread = iterations.div_ceil(writers as u64);
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for thread in 0..writers {
                        let (db, ks, fresh) = (&db, &ks, &fresh);
                        scope.spawn(move || {
                            for i in 0..per_thread as usize {
                                let (key, value) =
                                    &fresh[(thread * 100_003 + i * 13) % fresh.len()];
                                db.update(|tx| tx.put(ks, key, value.clone()))
                                    .expect("write");
                            }
                        });
                    }
                });
                let elapsed = tally.record(per_thread * writers as u64, start.elapsed());
                fsync_baseline(&tally_fsync, per_thread * writers as u64);
                elapsed
            })
        });
        concurrent.push((writers, tally, tally_fsync));
    }
    group.finish();
    if measuring() {
        eprintln!(
            "bulk_load: {:.0} entries/s",
            bulk_tally.median_nanos().map_or(0.0, |nanos| 1e9 / nanos)
        );
        report(
            "individual_writes",
            &individual,
            &individual_fsync,
            "write+fdatasync",
        );
        report(
            "batch_writes_100 (per commit of 100 keys)",
            &batch,
            &batch_fsync,
            "write+fdatasync",
        );
        report("removals", &removals, &removals_fsync, "write+fdatasync");
        report("random_reads", &keel_reads, &map_reads, "BTreeMap");
        report("range_reads_10", &keel_ranges, &map_ranges, "BTreeMap");
        report(
            "random_reads_2_threads (per read)",
            &two_threads,
            &map_reads,
            "BTreeMap (1 thread)",
        );
        for (writers, tally, tally_fsync) in &concurrent {
            report(
                &format!("concurrent_writers/{writers}"),
                tally,
                tally_fsync,
                "write+fdatasync (1 thread)",
            );
        }
        let stats = db.stats();
        eprintln!(
            "commits {} log fsyncs {}: {:.2} commits per fsync",
            stats.commits,
            stats.log_fsyncs,
            stats.commits as f64 / stats.log_fsyncs.max(1) as f64
        );
        std::io::stderr().flush().ok();
    }
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

//! The transaction layer against a bare `Mutex<BTreeMap>` doing the same
//! work, in the same run. No log (`NoLog`) and an in-memory base, so this
//! measures the layer itself: registry, validation, sequencer, oracle,
//! delta install, watermark — and, amortised, folding (the delta is folded
//! into the base every `FOLD_EVERY_COMMITS` commits, inside the timing).
//!
//! * `commit_1_key`: one transaction writing one key (keys cycle over
//!   `KEYS`), single thread.
//! * `commit_2_threads/disjoint` and `/hot`: two threads each committing
//!   read-modify-write transactions of one key, on disjoint keys or on
//!   `HOT_KEYS` shared keys (the abort rate is printed); the baseline does
//!   the same read-modify-write under its mutex.
//! * `point_read/empty_delta` and `/delta_100k`: a read-only transaction
//!   reading one key that lives in the base, with an empty delta or with
//!   100k versions of other keys in the delta.
//! * `scan_per_entry/empty_delta` and `/delta_10k`: a full scan of 100k
//!   base keys through the merge, per entry, against iterating a
//!   `BTreeMap` (the in-memory base hands out its entries by cloning
//!   `Bytes`, as the B+tree's slices do).
//!
//! Each prints keel / baseline (time per operation) at the end.
//!
//! ```text
//! cargo bench -p keel-mvcc --bench transactions
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use keel_mvcc::testing::{MemoryBase, test_oracle};
use keel_mvcc::{Isolation, MvccOptions, NoLog, TransactionManager};

const KEYS: u64 = 100_000;
const HOT_KEYS: u64 = 8;
const FOLD_EVERY_COMMITS: u64 = 16_384;
const DELTA_VERSIONS: u64 = 100_000;

fn measuring() -> bool {
    let arguments: Vec<String> = std::env::args().collect();
    arguments.iter().any(|argument| argument == "--bench")
        && !arguments.iter().any(|argument| argument == "--test")
}

/// The time per iteration of each call Criterion made of a routine.
#[derive(Default)]
struct Tally {
    nanos_per_iteration: RefCell<Vec<f64>>,
}

impl Tally {
    fn record(&self, iterations: u64, elapsed: Duration) -> Duration {
        if iterations > 0 {
            self.nanos_per_iteration
                .borrow_mut()
                .push(elapsed.as_nanos() as f64 / iterations as f64);
        }
        elapsed
    }

    fn median_nanos(&self) -> Option<f64> {
        let mut values = self.nanos_per_iteration.borrow().clone();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied()
    }
}

fn report(name: &str, keel: &Tally, baseline: &Tally) {
    if let (Some(keel), Some(baseline)) = (keel.median_nanos(), baseline.median_nanos())
        && measuring()
    {
        eprintln!(
            "{name}: keel {keel:.0} ns / baseline {baseline:.0} ns per operation = {:.2}x",
            keel / baseline
        );
    }
}

fn key(index: u64) -> Bytes {
    Bytes::from(format!("key/{index:08}"))
}

struct Keel {
    manager: TransactionManager,
    base: Arc<MemoryBase>,
    commits: AtomicU64,
}

impl Keel {
    fn new() -> Keel {
        let base = Arc::new(MemoryBase::new());
        let manager = TransactionManager::new(
            base.clone(),
            Arc::new(NoLog),
            test_oracle(),
            MvccOptions::default(),
        )
        .expect("manager");
        Keel {
            manager,
            base,
            commits: AtomicU64::new(0),
        }
    }

    /// Folds every `FOLD_EVERY_COMMITS` commits, so the delta stays small.
    fn committed(&self) {
        if self.commits.fetch_add(1, Ordering::Relaxed) % FOLD_EVERY_COMMITS
            == FOLD_EVERY_COMMITS - 1
        {
            let safe_point = self.manager.safe_point();
            self.manager
                .fold(safe_point, &mut self.base.sink())
                .expect("fold");
        }
    }

    /// Read-modify-write of `key`; false on a conflict.
    fn increment(&self, key: &Bytes) -> bool {
        let mut transaction = self.manager.begin(Isolation::Serializable);
        let value = transaction
            .get(key)
            .expect("get")
            .map_or(0, |value| value.len());
        transaction
            .put(key, Bytes::from(vec![0u8; (value + 1) % 64]))
            .expect("put");
        match transaction.commit() {
            Ok(_) => {
                self.committed();
                true
            }
            Err(error) if error.is_conflict() => false,
            Err(error) => panic!("{error}"),
        }
    }
}

fn commit_single(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit_1_key");
    let value = Bytes::from(vec![0x56u8; 150]);
    let keel = Keel::new();
    let (keel_tally, baseline_tally) = (Tally::default(), Tally::default());
    let mut next = 0u64;
    group.bench_function("keel", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                let mut transaction = keel.manager.begin(Isolation::Serializable);
                transaction
                    .put(&key(next % KEYS), value.clone())
                    .expect("put");
                black_box(transaction.commit().expect("commit"));
                keel.committed();
                next += 1;
            }
            keel_tally.record(iterations, start.elapsed())
        })
    });
    let map = Mutex::new(BTreeMap::new());
    let mut next = 0u64;
    group.bench_function("mutex_btreemap", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                let key = key(next % KEYS);
                black_box(map.lock().expect("lock").insert(key, value.clone()));
                next += 1;
            }
            baseline_tally.record(iterations, start.elapsed())
        })
    });
    group.finish();
    report("commit_1_key", &keel_tally, &baseline_tally);
}

/// Runs `per_thread` operations on each of two threads; the elapsed time.
fn on_two_threads(per_thread: u64, work: impl Fn(u64, u64) + Sync) -> Duration {
    let start = Instant::now();
    thread::scope(|scope| {
        for thread_index in 0..2 {
            let work = &work;
            scope.spawn(move || {
                for iteration in 0..per_thread {
                    work(thread_index, iteration);
                }
            });
        }
    });
    start.elapsed()
}

fn commit_two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit_2_threads");
    for hot in [false, true] {
        let name = if hot { "hot" } else { "disjoint" };
        let key_of = move |thread_index: u64, iteration: u64| {
            if hot {
                key(iteration % HOT_KEYS)
            } else {
                key(thread_index * KEYS + iteration % KEYS)
            }
        };
        let keel = Keel::new();
        let conflicts = AtomicU64::new(0);
        let attempts = AtomicU64::new(0);
        let (keel_tally, baseline_tally) = (Tally::default(), Tally::default());
        group.bench_function(format!("{name}/keel"), |b| {
            b.iter_custom(|iterations| {
                let per_thread = iterations.div_ceil(2);
                let elapsed = on_two_threads(per_thread, |thread_index, iteration| {
                    attempts.fetch_add(1, Ordering::Relaxed);
                    if !keel.increment(&key_of(thread_index, iteration)) {
                        conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                });
                keel_tally.record(per_thread * 2, elapsed)
            })
        });
        let map: Mutex<BTreeMap<Bytes, Bytes>> = Mutex::new(BTreeMap::new());
        group.bench_function(format!("{name}/mutex_btreemap"), |b| {
            b.iter_custom(|iterations| {
                let per_thread = iterations.div_ceil(2);
                let elapsed = on_two_threads(per_thread, |thread_index, iteration| {
                    let key = key_of(thread_index, iteration);
                    let mut map = map.lock().expect("lock");
                    let value = map.get(&key).map_or(0, |value| value.len());
                    black_box(map.insert(key, Bytes::from(vec![0u8; (value + 1) % 64])));
                });
                baseline_tally.record(per_thread * 2, elapsed)
            })
        });
        report(
            &format!("commit_2_threads/{name}"),
            &keel_tally,
            &baseline_tally,
        );
        let attempts = attempts.load(Ordering::Relaxed);
        if measuring() && attempts > 0 {
            eprintln!(
                "commit_2_threads/{name}: abort rate {:.1}%",
                100.0 * conflicts.load(Ordering::Relaxed) as f64 / attempts as f64
            );
        }
    }
    group.finish();
}

fn point_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("point_read");
    let base_keys = 1_000u64;
    for delta_versions in [0, DELTA_VERSIONS] {
        let name = if delta_versions == 0 {
            "empty_delta"
        } else {
            "delta_100k"
        };
        let base = Arc::new(MemoryBase::new());
        let manager = TransactionManager::new(
            base.clone(),
            Arc::new(NoLog),
            test_oracle(),
            MvccOptions::default(),
        )
        .expect("manager");
        let mut setup = manager.begin(Isolation::Serializable);
        for index in 0..base_keys {
            setup
                .put(&key(index), Bytes::from_static(b"value"))
                .expect("put");
        }
        setup.commit().expect("commit");
        manager
            .fold(manager.safe_point(), &mut base.sink())
            .expect("fold");
        for chunk in 0..delta_versions / 1_000 {
            let mut transaction = manager.begin(Isolation::Serializable);
            for index in 0..1_000 {
                let other = key(KEYS + chunk * 1_000 + index);
                transaction
                    .put(&other, Bytes::from_static(b"delta"))
                    .expect("put");
            }
            transaction.commit().expect("commit");
        }
        assert_eq!(manager.stats().delta_versions, delta_versions);
        let (keel_tally, baseline_tally) = (Tally::default(), Tally::default());
        group.bench_function(format!("{name}/keel"), |b| {
            b.iter_custom(|iterations| {
                let start = Instant::now();
                for iteration in 0..iterations {
                    let transaction = manager.begin(Isolation::Serializable);
                    black_box(transaction.get(&key(iteration % base_keys)).expect("get"));
                    black_box(transaction.commit().expect("commit"));
                }
                keel_tally.record(iterations, start.elapsed())
            })
        });
        let map: Mutex<BTreeMap<Bytes, Bytes>> = Mutex::new(
            (0..base_keys)
                .map(|index| (key(index), Bytes::from_static(b"value")))
                .collect(),
        );
        group.bench_function(format!("{name}/mutex_btreemap"), |b| {
            b.iter_custom(|iterations| {
                let start = Instant::now();
                for iteration in 0..iterations {
                    let key = key(iteration % base_keys);
                    black_box(map.lock().expect("lock").get(&key).cloned());
                }
                baseline_tally.record(iterations, start.elapsed())
            })
        });
        report(&format!("point_read/{name}"), &keel_tally, &baseline_tally);
    }
    group.finish();
}

/// A full scan through the merge, per entry: 100,000 keys in the base,
/// with an empty delta and with 10,000 versions spread among them, against
/// iterating a `BTreeMap` of the same entries.
fn scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan_per_entry");
    let base_keys = 100_000u64;
    for delta_versions in [0u64, 10_000] {
        let name = if delta_versions == 0 {
            "empty_delta"
        } else {
            "delta_10k"
        };
        let base = Arc::new(MemoryBase::new());
        let manager = TransactionManager::new(
            base.clone(),
            Arc::new(NoLog),
            test_oracle(),
            MvccOptions::default(),
        )
        .expect("manager");
        let mut setup = manager.begin(Isolation::Serializable);
        for index in 0..base_keys {
            setup
                .put(&key(index * 10), Bytes::from_static(b"value"))
                .expect("put");
        }
        setup.commit().expect("commit");
        manager
            .fold(manager.safe_point(), &mut base.sink())
            .expect("fold");
        let mut recent = manager.begin(Isolation::Serializable);
        for index in 0..delta_versions {
            recent
                .put(&key(index * 100 + 5), Bytes::from_static(b"delta"))
                .expect("put");
        }
        recent.commit().expect("commit");
        let (keel_tally, baseline_tally) = (Tally::default(), Tally::default());
        group.bench_function(format!("{name}/keel"), |b| {
            b.iter_custom(|iterations| {
                let start = Instant::now();
                let mut entries = 0u64;
                for _ in 0..iterations {
                    let transaction = manager.begin(Isolation::Snapshot);
                    for item in transaction
                        .range::<[u8], _>(.., keel_mvcc::Direction::Forward)
                        .expect("range")
                    {
                        black_box(item.expect("entry"));
                        entries += 1;
                    }
                }
                let elapsed = start.elapsed();
                keel_tally.record(entries, elapsed);
                elapsed
            })
        });
        let map: BTreeMap<Bytes, Bytes> = base
            .snapshot()
            .into_iter()
            .map(|(key, entry)| (key, entry.value))
            .collect();
        group.bench_function(format!("{name}/btreemap"), |b| {
            b.iter_custom(|iterations| {
                let start = Instant::now();
                let mut entries = 0u64;
                for _ in 0..iterations {
                    for (key, value) in &map {
                        black_box((key.clone(), value.clone()));
                        entries += 1;
                    }
                }
                let elapsed = start.elapsed();
                baseline_tally.record(entries, elapsed);
                elapsed
            })
        });
        report(
            &format!("scan_per_entry/{name}"),
            &keel_tally,
            &baseline_tally,
        );
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = commit_single, commit_two_threads, point_read, scan
}
criterion_main!(benches);

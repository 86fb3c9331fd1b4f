//! The workloads, written once for every [`Engine`], in the order they
//! run. Every read is checked (each random read finds its key with its
//! value, each range returns the entries a sorted copy of the data says it
//! must, counts match after every phase that writes), so an engine that
//! skips work fails instead of looking fast.

use std::ops::Range;
use std::path::Path;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use rand::Rng;
use rand::rngs::SmallRng;

use crate::dataset::{Dataset, KEY_BYTES, Key, VALUE_BYTES, random_key, stream};
use crate::disk;
use crate::engine::{Engine, LogCounters, Reader, Settings};
use crate::latency::{Latencies, Percentiles};

/// Entries of one range read (redb's benchmark: 10).
pub const RANGE_ENTRIES: usize = 10;
/// Point reads or range reads per read transaction.
const READS_PER_TRANSACTION: u64 = 1_000;
/// In the read-mostly mix, one operation in this many is a durable write
/// (5%).
const MIX_WRITE_EVERY: u64 = 20;
/// Removed keys checked to be gone after the removals.
const REMOVED_KEYS_CHECKED: usize = 1_000;
/// Cold reopens timed for the reopen row, which reports their median: one
/// cold open takes a millisecond or two, within the noise of one sample.
const COLD_REOPENS: usize = 5;
/// How long the range-scan workload waits for its writer's first commit.
const WRITER_START_TIMEOUT: Duration = Duration::from_secs(60);

/// How much each workload does.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Keys of the bulk load (one transaction).
    pub bulk_keys: u64,
    /// Durable commits of one key each.
    pub individual_writes: u64,
    /// Durable transactions of the batch workload.
    pub batches: u64,
    /// Keys per batch transaction.
    pub batch_keys: u64,
    /// Random point reads per pass (cold, warm) and of the 2-thread pass.
    pub reads: u64,
    /// Random range reads of [`RANGE_ENTRIES`].
    pub ranges: u64,
    /// Thread counts of the concurrent-writers workload.
    pub writer_threads: Vec<u64>,
    /// Durable single-key commits per thread count, split among the threads.
    pub writer_commits: u64,
    /// Threads of the read-mostly mix.
    pub mix_threads: u64,
    /// Operations of the read-mostly mix, over all its threads.
    pub mix_operations: u64,
    /// Full scans while a writer commits.
    pub scans: u64,
}

impl Sizes {
    /// Keys loaded by the bulk load, individual and batch writes.
    pub fn loaded_keys(&self) -> u64 {
        self.bulk_keys + self.individual_writes + self.batches * self.batch_keys
    }

    fn writer_commits_per_thread(&self, threads: u64) -> u64 {
        (self.writer_commits / threads).max(1)
    }

    fn mix_operations_per_thread(&self) -> u64 {
        self.mix_operations / self.mix_threads
    }

    /// Pairs the dataset must hold for one run.
    pub fn dataset_keys(&self) -> u64 {
        let writers: u64 = self
            .writer_threads
            .iter()
            .map(|&threads| threads * self.writer_commits_per_thread(threads))
            .sum();
        let mix_writes = self.mix_threads * (self.mix_operations_per_thread() / MIX_WRITE_EVERY);
        self.loaded_keys() + writers + mix_writes
    }

    /// Checks the sizes make sense.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.bulk_keys >= 2, "--bulk-keys must be at least 2");
        ensure!(self.reads >= 2, "--reads must be at least 2");
        ensure!(self.ranges >= 1, "--ranges must be at least 1");
        ensure!(self.mix_threads >= 1, "--mix-threads must be at least 1");
        ensure!(
            self.writer_threads.iter().all(|&threads| threads >= 1),
            "--writer-threads must all be at least 1"
        );
        ensure!(self.scans >= 1, "--scans must be at least 1");
        Ok(())
    }
}

/// What one workload measured.
#[derive(Debug, Clone, Copy)]
pub enum Figure {
    /// `operations` in `elapsed`.
    Throughput {
        /// Operations done (keys, commits, entries: the row says which).
        operations: u64,
        /// Wall-clock time.
        elapsed: Duration,
    },
    /// A one-off task (compaction, reopening) and its time.
    Duration(Duration),
    /// Bytes on disk.
    Bytes(u64),
    /// The engine has no such operation.
    NotApplicable,
}

/// One row of one engine's results.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// The workload, the same text for every engine.
    pub workload: String,
    /// What it measured.
    pub figure: Figure,
    /// The latency of its durable commits, for a workload of many.
    pub latency: Option<Percentiles>,
    /// Log records per log fsync during it, where the engine counts them.
    pub records_per_fsync: Option<f64>,
}

/// Runs every workload on engine `E` in `dir` (created, and removed
/// afterwards), reporting each measurement to `progress` as it is taken.
pub fn run<E: Engine>(
    dir: &Path,
    settings: &Settings,
    sizes: &Sizes,
    dataset: &Dataset,
    progress: &mut dyn FnMut(&Measurement),
) -> Result<Vec<Measurement>> {
    if dir.exists() {
        bail!(
            "{} already exists; the benchmark needs a fresh directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let engine = E::open(dir, settings)?;
    let mut run = Run {
        dir,
        settings,
        sizes,
        dataset,
        live_keys: 0,
        measurements: Vec::new(),
        progress,
    };
    let outcome = run.all(engine);
    let removed =
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()));
    outcome?;
    removed?;
    Ok(run.measurements)
}

struct Run<'a> {
    dir: &'a Path,
    settings: &'a Settings,
    sizes: &'a Sizes,
    dataset: &'a Dataset,
    /// Keys the database must hold now.
    live_keys: u64,
    measurements: Vec<Measurement>,
    progress: &'a mut dyn FnMut(&Measurement),
}

fn index(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

impl Run<'_> {
    fn record(&mut self, workload: impl Into<String>, figure: Figure) {
        self.push(Measurement {
            workload: workload.into(),
            figure,
            latency: None,
            records_per_fsync: None,
        });
    }

    fn push(&mut self, measurement: Measurement) {
        (self.progress)(&measurement);
        self.measurements.push(measurement);
    }

    /// A workload of durable commits: its rate, the latency of its commits
    /// and, where the engine counts them, its records per fsync since
    /// `log_before`.
    fn durable<E: Engine>(
        &mut self,
        engine: &E,
        workload: impl Into<String>,
        figure: Figure,
        latencies: Latencies,
        log_before: Option<LogCounters>,
    ) {
        let records_per_fsync = log_before
            .zip(engine.log_counters())
            .and_then(|(before, after)| after.records_per_fsync_since(&before));
        self.push(Measurement {
            workload: workload.into(),
            figure,
            latency: latencies.percentiles(),
            records_per_fsync,
        });
    }

    fn throughput(&mut self, workload: impl Into<String>, operations: u64, started: Instant) {
        let elapsed = started.elapsed();
        self.record(
            workload,
            Figure::Throughput {
                operations,
                elapsed,
            },
        );
    }

    fn size(&mut self, workload: &str) -> Result<()> {
        let bytes = disk::allocated_bytes(self.dir)?;
        self.record(workload, Figure::Bytes(bytes));
        Ok(())
    }

    fn all<E: Engine>(&mut self, engine: E) -> Result<()> {
        let sizes = self.sizes.clone();
        let bulk = index(sizes.bulk_keys);
        let individual = index(sizes.individual_writes);
        let loaded = index(sizes.loaded_keys());

        // Writes: one bulk transaction, single-key commits, batches.
        let started = Instant::now();
        engine.write(|writer| {
            for (key, value) in self.dataset.pairs(0..bulk) {
                writer.put(key, value)?;
            }
            Ok(())
        })?;
        self.throughput("bulk load (one transaction)", sizes.bulk_keys, started);
        let log_before = engine.log_counters();
        let mut latencies = Latencies::with_capacity(individual);
        let started = Instant::now();
        for (key, value) in self.dataset.pairs(bulk..bulk + individual) {
            latencies.time(|| engine.write(|writer| writer.put(key, value)))?;
        }
        let figure = throughput(sizes.individual_writes, started);
        self.durable(
            &engine,
            "individual writes (durable commits)",
            figure,
            latencies,
            log_before,
        );
        let log_before = engine.log_counters();
        let mut latencies = Latencies::with_capacity(index(sizes.batches));
        let started = Instant::now();
        let batch_keys = index(sizes.batch_keys);
        for batch in 0..index(sizes.batches) {
            let first = bulk + individual + batch * batch_keys;
            latencies.time(|| {
                engine.write(|writer| {
                    for (key, value) in self.dataset.pairs(first..first + batch_keys) {
                        writer.put(key, value)?;
                    }
                    Ok(())
                })
            })?;
        }
        let figure = throughput(sizes.batches * sizes.batch_keys, started);
        self.durable(
            &engine,
            format!("batch writes ({} keys per commit), keys", sizes.batch_keys),
            figure,
            latencies,
            log_before,
        );
        self.live_keys = sizes.loaded_keys();
        self.check_count(&engine)?;
        self.size("disk after writes")?;

        // Cold reads: the engine reopened, its files out of the page cache.
        let engine = self.reopen_cold(engine)?;
        self.size("disk after reopen")?;
        for pass in ["cold", "warm"] {
            let mut rng = stream("reads", 0);
            let started = Instant::now();
            random_reads(&engine, self.dataset, 0..loaded, sizes.reads, &mut rng)?;
            self.throughput(format!("random reads ({pass})"), sizes.reads, started);
        }
        self.range_reads(&engine, 0..loaded)?;
        let started = Instant::now();
        std::thread::scope(|scope| -> Result<()> {
            let threads: Vec<_> = (0..2)
                .map(|thread| {
                    let engine = &engine;
                    let dataset = self.dataset;
                    scope.spawn(move || {
                        let mut rng = stream("reads from 2 threads", thread);
                        random_reads(engine, dataset, 0..loaded, sizes.reads / 2, &mut rng)
                    })
                })
                .collect();
            join_all(threads)
        })?;
        self.throughput("random reads, 2 threads", sizes.reads / 2 * 2, started);

        // Removals: half the bulk-loaded keys in one durable transaction.
        let removed = bulk / 2;
        let started = Instant::now();
        engine.write(|writer| {
            for key in &self.dataset.keys[..removed] {
                writer.remove(key)?;
            }
            Ok(())
        })?;
        self.throughput("removals (one transaction)", removed as u64, started);
        self.live_keys -= removed as u64;
        self.check_count(&engine)?;
        self.check_removed(&engine, &self.dataset.keys[..removed])?;
        self.size("disk after removals")?;

        let started = Instant::now();
        let (engine, compacted) = engine.compact()?;
        self.record(
            "compaction",
            if compacted {
                Figure::Duration(started.elapsed())
            } else {
                Figure::NotApplicable
            },
        );
        self.check_count(&engine)?;
        self.size("disk after compaction")?;

        // What keel is for: concurrency.
        let live = removed..loaded;
        let mut next_key = loaded;
        for &threads in &sizes.writer_threads {
            next_key = self.concurrent_writers(&engine, threads, next_key)?;
        }
        self.check_count(&engine)?;
        self.read_mostly_mix(&engine, live.clone(), next_key)?;
        self.check_count(&engine)?;
        self.scan_while_writing(&engine)?;
        self.check_count(&engine)?;
        self.size("disk at the end")?;
        engine.close()
    }

    /// Range reads of [`RANGE_ENTRIES`] from random start keys, checked
    /// against a sorted copy of the live keys.
    fn range_reads<E: Engine>(&mut self, engine: &E, live: Range<usize>) -> Result<()> {
        let mut sorted: Vec<Key> = self.dataset.keys[live].to_vec();
        sorted.sort_unstable();
        let mut rng = stream("ranges", 0);
        let starts: Vec<Key> = (0..self.sizes.ranges)
            .map(|_| random_key(&mut rng))
            .collect();
        let mut expected = RangeTally::default();
        for start in &starts {
            let first = sorted.partition_point(|key| key < start);
            for key in &sorted[first..(first + RANGE_ENTRIES).min(sorted.len())] {
                expected.add(key, VALUE_BYTES);
            }
        }
        let started = Instant::now();
        let mut found = RangeTally::default();
        for chunk in starts.chunks(index(READS_PER_TRANSACTION)) {
            engine.read(|reader| {
                for start in chunk {
                    reader.range(start, RANGE_ENTRIES, &mut |key, value| {
                        found.add(key, value.len());
                    })?;
                }
                Ok(())
            })?;
        }
        self.throughput(
            format!("range reads of {RANGE_ENTRIES} entries"),
            self.sizes.ranges,
            started,
        );
        ensure!(
            found == expected,
            "range reads returned {found:?}, the data says {expected:?}"
        );
        Ok(())
    }

    /// `threads` threads each making durable single-key commits of fresh
    /// keys from `first_key` on; returns the next unused key.
    fn concurrent_writers<E: Engine>(
        &mut self,
        engine: &E,
        threads: u64,
        first_key: usize,
    ) -> Result<usize> {
        let per_thread = index(self.sizes.writer_commits_per_thread(threads));
        let barrier = Barrier::new(index(threads));
        let dataset = self.dataset;
        let log_before = engine.log_counters();
        let started = Instant::now();
        let latencies = std::thread::scope(|scope| -> Result<Latencies> {
            let handles: Vec<_> = (0..index(threads))
                .map(|thread| {
                    let barrier = &barrier;
                    let first = first_key + thread * per_thread;
                    scope.spawn(move || -> Result<Latencies> {
                        let mut latencies = Latencies::with_capacity(per_thread);
                        barrier.wait();
                        for (key, value) in dataset.pairs(first..first + per_thread) {
                            latencies.time(|| engine.write(|writer| writer.put(key, value)))?;
                        }
                        Ok(latencies)
                    })
                })
                .collect();
            join_latencies(handles)
        })?;
        let commits = threads * per_thread as u64;
        let figure = throughput(commits, started);
        self.durable(
            engine,
            format!("{threads} concurrent writers, commits"),
            figure,
            latencies,
            log_before,
        );
        self.live_keys += commits;
        Ok(first_key + index(commits))
    }

    /// Threads whose operations are 95% point reads of live keys (a read
    /// transaction each) and 5% durable single-key commits of fresh keys.
    fn read_mostly_mix<E: Engine>(
        &mut self,
        engine: &E,
        live: Range<usize>,
        first_key: usize,
    ) -> Result<()> {
        let threads = self.sizes.mix_threads;
        let operations = self.sizes.mix_operations_per_thread();
        let writes_per_thread = index(operations / MIX_WRITE_EVERY);
        let dataset = self.dataset;
        let log_before = engine.log_counters();
        let started = Instant::now();
        let latencies = std::thread::scope(|scope| -> Result<Latencies> {
            let handles: Vec<_> = (0..threads)
                .map(|thread| {
                    let live = live.clone();
                    let first = first_key + index(thread) * writes_per_thread;
                    scope.spawn(move || -> Result<Latencies> {
                        let mut rng = stream("read-mostly mix", thread);
                        let mut writes = dataset.pairs(first..first + writes_per_thread);
                        let mut latencies = Latencies::with_capacity(writes_per_thread);
                        for operation in 0..operations {
                            if operation % MIX_WRITE_EVERY == MIX_WRITE_EVERY - 1 {
                                let (key, value) =
                                    writes.next().context("the mix ran out of fresh keys")?;
                                latencies.time(|| engine.write(|writer| writer.put(key, value)))?;
                            } else {
                                random_reads(engine, dataset, live.clone(), 1, &mut rng)?;
                            }
                        }
                        Ok(latencies)
                    })
                })
                .collect();
            join_latencies(handles)
        })?;
        let figure = throughput(threads * operations, started);
        self.durable(
            engine,
            format!("95% reads / 5% durable writes, {threads} threads"),
            figure,
            latencies,
            log_before,
        );
        self.live_keys += threads * writes_per_thread as u64;
        Ok(())
    }

    /// Full scans in one read transaction each while another thread makes
    /// durable single-key commits of fresh keys.
    fn scan_while_writing<E: Engine>(&mut self, engine: &E) -> Result<()> {
        let stop = AtomicBool::new(false);
        let commits = AtomicU64::new(0);
        let live_before = self.live_keys;
        let scans = self.sizes.scans;
        let log_before = engine.log_counters();
        let outcome = std::thread::scope(|scope| -> Result<(u64, Duration, Latencies)> {
            let writer = {
                let stop = &stop;
                let commits = &commits;
                scope.spawn(move || -> Result<Latencies> {
                    let mut rng = stream("scan writer", 0);
                    let mut latencies = Latencies::default();
                    while !stop.load(Ordering::Acquire) {
                        let key = random_key(&mut rng);
                        let mut value = [0u8; VALUE_BYTES];
                        rng.fill(&mut value[..]);
                        latencies.time(|| engine.write(|writer| writer.put(&key, &value)))?;
                        commits.fetch_add(1, Ordering::AcqRel);
                    }
                    Ok(latencies)
                })
            };
            let scanning = || -> Result<(u64, Duration)> {
                let waiting = Instant::now();
                while commits.load(Ordering::Acquire) == 0 {
                    ensure!(
                        !writer.is_finished(),
                        "the writer stopped before committing"
                    );
                    ensure!(
                        waiting.elapsed() < WRITER_START_TIMEOUT,
                        "the writer made no commit in {WRITER_START_TIMEOUT:?}"
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
                let mut scanned = 0;
                let mut elapsed = Duration::ZERO;
                for _ in 0..scans {
                    let committed_before = commits.load(Ordering::Acquire);
                    let started = Instant::now();
                    let count = engine.read(|reader| full_scan(reader))?;
                    elapsed += started.elapsed();
                    let committed_after = commits.load(Ordering::Acquire);
                    // Acknowledged commits are visible; one may be in flight.
                    ensure!(
                        count >= live_before + committed_before
                            && count <= live_before + committed_after + 1,
                        "a scan saw {count} keys; {} to {} were committed",
                        live_before + committed_before,
                        live_before + committed_after + 1
                    );
                    scanned += count;
                }
                Ok((scanned, elapsed))
            };
            let outcome = scanning();
            stop.store(true, Ordering::Release);
            let written = writer
                .join()
                .map_err(|_| anyhow::anyhow!("the scan's writer thread panicked"));
            let (scanned, elapsed) = outcome?;
            Ok((scanned, elapsed, written??))
        })?;
        let (scanned, elapsed, latencies) = outcome;
        self.durable(
            engine,
            "full scans while a writer commits, entries",
            Figure::Throughput {
                operations: scanned,
                elapsed,
            },
            latencies,
            log_before,
        );
        self.live_keys += commits.load(Ordering::Acquire);
        Ok(())
    }

    /// Checks that a full scan finds exactly the keys that must be live.
    fn check_count<E: Engine>(&self, engine: &E) -> Result<()> {
        let count = engine.read(|reader| full_scan(reader))?;
        ensure!(
            count == self.live_keys,
            "{} holds {count} keys, {} expected",
            E::NAME,
            self.live_keys
        );
        Ok(())
    }

    /// Closes and reopens the engine [`COLD_REOPENS`] times, its files
    /// dropped from the page cache before each open, and records the
    /// median open time as the reopen row. Returns the last opened engine.
    fn reopen_cold<E: Engine>(&mut self, mut engine: E) -> Result<E> {
        let mut times = Vec::with_capacity(COLD_REOPENS);
        for _ in 0..COLD_REOPENS {
            engine.close()?;
            disk::drop_from_page_cache(self.dir)?;
            let started = Instant::now();
            engine = E::open(self.dir, self.settings)?;
            times.push(started.elapsed());
        }
        times.sort_unstable();
        self.record("reopen", Figure::Duration(times[times.len() / 2]));
        Ok(engine)
    }

    /// Checks that a sample of the removed keys is gone.
    fn check_removed<E: Engine>(&self, engine: &E, removed: &[Key]) -> Result<()> {
        let step = (removed.len() / REMOVED_KEYS_CHECKED).max(1);
        engine.read(|reader| {
            for key in removed.iter().step_by(step) {
                ensure!(
                    !reader.get(key, &mut |_| {})?,
                    "{}: a removed key is still there",
                    E::NAME
                );
            }
            Ok(())
        })
    }
}

/// A full scan in key order; returns how many entries it saw, checking
/// they ascend and have whole values.
fn full_scan(reader: &mut dyn Reader) -> Result<u64> {
    let mut previous: Option<Key> = None;
    let mut disorder = 0u64;
    let mut malformed = 0u64;
    let count = reader.range(&[], usize::MAX, &mut |key, value| match (
        <Key>::try_from(key),
        value.len() == VALUE_BYTES,
    ) {
        (Ok(key), true) => {
            if previous.is_some_and(|previous| previous >= key) {
                disorder += 1;
            }
            previous = Some(key);
        }
        _ => malformed += 1,
    })?;
    ensure!(
        disorder == 0,
        "a scan returned {disorder} keys out of order"
    );
    ensure!(
        malformed == 0,
        "a scan returned {malformed} malformed entries"
    );
    Ok(count as u64)
}

/// `count` point reads of random keys from `live`, in read transactions of
/// [`READS_PER_TRANSACTION`]; each must find its key with its value.
fn random_reads<E: Engine>(
    engine: &E,
    dataset: &Dataset,
    live: Range<usize>,
    count: u64,
    rng: &mut SmallRng,
) -> Result<()> {
    let mut done = 0;
    while done < count {
        let transaction_reads = READS_PER_TRANSACTION.min(count - done);
        engine.read(|reader| {
            for _ in 0..transaction_reads {
                let index = rng.random_range(live.clone());
                let expected = &dataset.values[index];
                let mut matches = false;
                let found = reader.get(&dataset.keys[index], &mut |value| {
                    matches = value == expected;
                })?;
                ensure!(found, "{}: key {index} is missing", E::NAME);
                ensure!(matches, "{}: key {index} has a wrong value", E::NAME);
            }
            Ok(())
        })?;
        done += transaction_reads;
    }
    Ok(())
}

/// What a set of range reads returned, compared with what it must return.
#[derive(Debug, Default, PartialEq, Eq)]
struct RangeTally {
    entries: u64,
    key_checksum: u64,
    value_bytes: u64,
}

impl RangeTally {
    fn add(&mut self, key: &[u8], value_bytes: usize) {
        self.entries += 1;
        self.value_bytes += value_bytes as u64;
        let first = key.first().copied().unwrap_or(0);
        let last = key.get(KEY_BYTES - 1).copied().unwrap_or(0);
        self.key_checksum = self
            .key_checksum
            .wrapping_mul(31)
            .wrapping_add(u64::from(first) << 8 | u64::from(last));
    }
}

/// A workload's figure: `operations` since `started`.
fn throughput(operations: u64, started: Instant) -> Figure {
    Figure::Throughput {
        operations,
        elapsed: started.elapsed(),
    }
}

/// Joins threads that timed their commits; their samples merged, or the
/// first error.
fn join_latencies(
    handles: Vec<std::thread::ScopedJoinHandle<'_, Result<Latencies>>>,
) -> Result<Latencies> {
    let mut merged = Latencies::default();
    join_each(handles, |latencies| merged.merge(latencies))?;
    Ok(merged)
}

fn join_all(handles: Vec<std::thread::ScopedJoinHandle<'_, Result<()>>>) -> Result<()> {
    join_each(handles, |()| {})
}

/// Joins every thread, handing each result to `take`; the first error (a
/// panic counts as one) once all have ended.
fn join_each<T>(
    handles: Vec<std::thread::ScopedJoinHandle<'_, Result<T>>>,
    mut take: impl FnMut(T),
) -> Result<()> {
    let mut outcome = Ok(());
    for handle in handles {
        let joined = handle
            .join()
            .map_err(|_| anyhow::anyhow!("a benchmark thread panicked"))
            .and_then(|result| result);
        match joined {
            Ok(value) => take(value),
            Err(error) if outcome.is_ok() => outcome = Err(error),
            Err(_) => {}
        }
    }
    outcome
}

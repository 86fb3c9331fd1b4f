//! `keel bench`: the shapes of redb's benchmark (bulk load, individual
//! durable writes, durable batches, random reads, short ranges,
//! removals) and concurrent durable writers, on a scratch database, with
//! a progress bar per workload and a table at the end.
//!
//! The machine may be shared: compare figures within one run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use keel::{Database, Durability, Keyspace, Options};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::units::parse_bytes;

/// Keys per transaction of the bulk load.
const BULK_BATCH_KEYS: u64 = 10_000;
/// Commits of the individual-writes workload.
const INDIVIDUAL_WRITES: u64 = 1_000;
/// Transactions and keys per transaction of the batch workload.
const BATCHES: u64 = 100;
const BATCH_KEYS: u64 = 1_000;
/// Keys per range read.
const RANGE_KEYS: usize = 10;
/// Reads per read-only transaction.
const READS_PER_TRANSACTION: u64 = 1_000;

/// `keel bench` arguments.
#[derive(Debug, clap::Args)]
pub struct BenchArguments {
    /// Scratch directory (must not hold a database; removed afterwards
    /// unless --keep). Default: a new directory in the system's temporary
    /// directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keys of the bulk load; reads, ranges and removals scale with it.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 150)]
    pub value_bytes: usize,
    /// Threads of the concurrent-writers workload.
    #[arg(long, default_value_t = 4)]
    pub threads: u64,
    /// Durable commits per thread of the concurrent-writers workload.
    #[arg(long, default_value_t = 250)]
    pub commits_per_thread: u64,
    /// Buffer pool size.
    #[arg(long, default_value = "256mb", value_parser = parse_bytes)]
    pub pool_bytes: u64,
    /// Keep the scratch directory.
    #[arg(long)]
    pub keep: bool,
}

/// One row of the summary.
struct Row {
    workload: &'static str,
    operations: u64,
    elapsed: Duration,
}

fn key(index: u64) -> [u8; 8] {
    // Scattered: a multiplicative hash, so inserts are not sequential.
    index.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes()
}

fn progress(workload: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:<26} [{bar:30}] {pos}/{len} ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(workload.to_owned());
    bar
}

struct Bench {
    database: Arc<Database>,
    keyspace: Keyspace,
    value: Vec<u8>,
    keys: u64,
    rows: Vec<Row>,
}

impl Bench {
    fn measure(
        &mut self,
        workload: &'static str,
        operations: u64,
        run: impl FnOnce(&Bench, &ProgressBar) -> Result<()>,
    ) -> Result<()> {
        let bar = progress(workload, operations);
        let started = Instant::now();
        run(self, &bar).with_context(|| format!("workload {workload:?} failed"))?;
        let elapsed = started.elapsed();
        bar.finish_and_clear();
        self.rows.push(Row {
            workload,
            operations,
            elapsed,
        });
        Ok(())
    }
}

/// Runs every workload and prints the table.
pub fn run(arguments: &BenchArguments) -> Result<ExitCode> {
    if arguments.keys == 0 || arguments.threads == 0 {
        bail!("--keys and --threads must be at least 1");
    }
    let dir = match &arguments.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("keel-bench-{}", std::process::id())),
    };
    if dir.join("pages").exists() {
        bail!(
            "{} already holds a database; bench needs a scratch directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let database = Database::open(
        &dir,
        Options::default()
            .with_durability(Durability::Sync)
            .with_pool_bytes(arguments.pool_bytes),
    )
    .with_context(|| format!("cannot open a database in {}", dir.display()))?;
    let keyspace = database.keyspace("bench")?;
    let mut bench = Bench {
        database: Arc::new(database),
        keyspace,
        value: vec![0x5a; arguments.value_bytes],
        keys: arguments.keys,
        rows: Vec::new(),
    };
    println!(
        "keel bench in {}: {} keys of {} + {} bytes, durable commits (fsync)",
        dir.display(),
        arguments.keys,
        8,
        arguments.value_bytes
    );
    run_workloads(&mut bench, arguments)?;
    print_table(&bench.rows);
    let database =
        Arc::into_inner(bench.database).context("a bench thread still holds the database")?;
    database.close()?;
    if !arguments.keep {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove the scratch directory {}", dir.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_workloads(bench: &mut Bench, arguments: &BenchArguments) -> Result<()> {
    let keys = bench.keys;
    bench.measure("bulk load", keys, |bench, bar| {
        let mut index = 0;
        while index < bench.keys {
            let end = (index + BULK_BATCH_KEYS).min(bench.keys);
            bench.database.update(|transaction| {
                for key_index in index..end {
                    transaction.put(&bench.keyspace, key(key_index), bench.value.clone())?;
                }
                Ok(())
            })?;
            bar.inc(end - index);
            index = end;
        }
        bench.database.checkpoint()?;
        Ok(())
    })?;
    bench.measure("individual writes", INDIVIDUAL_WRITES, |bench, bar| {
        for index in 0..INDIVIDUAL_WRITES {
            bench.database.update(|transaction| {
                transaction.put(
                    &bench.keyspace,
                    key(bench.keys + index),
                    bench.value.clone(),
                )
            })?;
            bar.inc(1);
        }
        Ok(())
    })?;
    bench.measure("batch writes (keys)", BATCHES * BATCH_KEYS, |bench, bar| {
        let first = bench.keys + INDIVIDUAL_WRITES;
        for batch in 0..BATCHES {
            bench.database.update(|transaction| {
                for offset in 0..BATCH_KEYS {
                    let index = first + batch * BATCH_KEYS + offset;
                    transaction.put(&bench.keyspace, key(index), bench.value.clone())?;
                }
                Ok(())
            })?;
            bar.inc(BATCH_KEYS);
        }
        Ok(())
    })?;
    bench.measure("random reads", keys, |bench, bar| {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut done = 0;
        while done < bench.keys {
            let count = READS_PER_TRANSACTION.min(bench.keys - done);
            bench.database.view(|transaction| {
                for _ in 0..count {
                    let index = rng.random_range(0..bench.keys);
                    let found = transaction.get(&bench.keyspace, key(index))?;
                    if found.is_none() {
                        return Err(keel::Error::Internal(format!("key {index} missing")));
                    }
                }
                Ok(())
            })?;
            done += count;
            bar.inc(count);
        }
        Ok(())
    })?;
    let ranges = (keys / 10).max(1);
    bench.measure("range reads (of 10)", ranges, |bench, bar| {
        let mut rng = SmallRng::seed_from_u64(2);
        let mut done = 0;
        while done < ranges {
            let count = READS_PER_TRANSACTION.min(ranges - done);
            bench.database.view(|transaction| {
                for _ in 0..count {
                    let start = key(rng.random_range(0..bench.keys));
                    let read = transaction
                        .range(
                            &bench.keyspace,
                            (
                                std::ops::Bound::Included(start.as_slice()),
                                std::ops::Bound::Unbounded,
                            ),
                        )?
                        .take(RANGE_KEYS)
                        .count();
                    std::hint::black_box(read);
                }
                Ok(())
            })?;
            done += count;
            bar.inc(count);
        }
        Ok(())
    })?;
    let removals = keys / 2;
    bench.measure("removals", removals, |bench, bar| {
        let mut index = 0;
        while index < removals {
            let end = (index + BULK_BATCH_KEYS).min(removals);
            bench.database.update(|transaction| {
                for key_index in index..end {
                    transaction.delete(&bench.keyspace, key(key_index))?;
                }
                Ok(())
            })?;
            bar.inc(end - index);
            index = end;
        }
        Ok(())
    })?;
    let threads = arguments.threads;
    let per_thread = arguments.commits_per_thread;
    bench.measure("concurrent writers", threads * per_thread, |bench, bar| {
        std::thread::scope(|scope| -> Result<()> {
            let handles: Vec<_> = (0..threads)
                .map(|thread| {
                    let database = Arc::clone(&bench.database);
                    let keyspace = bench.keyspace.clone();
                    let value = bench.value.clone();
                    let bar = bar.clone();
                    scope.spawn(move || -> keel::Result<()> {
                        for commit in 0..per_thread {
                            let mut name = b"writer".to_vec();
                            name.extend_from_slice(&thread.to_be_bytes());
                            name.extend_from_slice(&commit.to_be_bytes());
                            database.update(|transaction| {
                                transaction.put(&keyspace, &name, value.clone())
                            })?;
                            bar.inc(1);
                        }
                        Ok(())
                    })
                })
                .collect();
            for handle in handles {
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
            }
            Ok(())
        })
    })?;
    Ok(())
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<24} {:>12} {:>12} {:>14}",
        "workload", "operations", "seconds", "operations/s"
    );
    for row in rows {
        let seconds = row.elapsed.as_secs_f64();
        let rate = if seconds > 0.0 {
            row.operations as f64 / seconds
        } else {
            f64::INFINITY
        };
        println!(
            "{:<24} {:>12} {:>12.3} {:>14.0}",
            row.workload, row.operations, seconds, rate
        );
    }
}

//! `keel-benches`: keel against the engines a user would pick instead
//! (LMDB, redb, RocksDB, sled, fjall), side by side in one run on the
//! same machine, with the same data and the same durability per workload.
//!
//! ```text
//! ROCKSDB_LIB_DIR=/usr/lib/x86_64-linux-gnu \
//!     cargo run --release -p keel-benches --features all -- --out docs/BENCHMARKS.md
//! ```
//!
//! Each peer is behind a cargo feature (`redb`, `lmdb`, `rocksdb`, `sled`,
//! `fjall`, or `all`); keel is always there. The table goes to stdout;
//! with `--out`, the markdown report and its SVG chart are written too.

mod chart;
mod dataset;
mod disk;
mod document;
mod engine;
mod engines;
mod latency;
mod report;
mod rounds;
mod workloads;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::engine::{Engine, Settings};
use crate::report::Results;
use crate::workloads::{Figure, Measurement, Sizes};

/// Defaults: redb's benchmark shape at a million keys; the whole run with
/// all six engines takes about five minutes on two cores.
const BULK_KEYS_DEFAULT: u64 = 1_000_000;
const INDIVIDUAL_WRITES_DEFAULT: u64 = 1_000;
const BATCHES_DEFAULT: u64 = 100;
const BATCH_KEYS_DEFAULT: u64 = 1_000;
const RANGES_DEFAULT: u64 = 100_000;
/// Durable commits per thread count of the concurrent writers: 10,000,
/// so that keel's 16-writer row lasts ~0.2 s. At 2,000 it lasted 33-44 ms,
/// and one 4 ms fdatasync stall of this VM moved it by ~10%.
const WRITER_COMMITS_DEFAULT: u64 = 10_000;
const MIX_THREADS_DEFAULT: u64 = 4;
const MIX_OPERATIONS_DEFAULT: u64 = 40_000;
const SCANS_DEFAULT: u64 = 3;
const CACHE_MIB_DEFAULT: u64 = 512;

/// `--tiny`: a smoke run for CI, seconds per engine.
const TINY: Sizes = Sizes {
    bulk_keys: 2_000,
    individual_writes: 20,
    batches: 4,
    batch_keys: 100,
    reads: 2_000,
    ranges: 200,
    writer_threads: Vec::new(),
    writer_commits: 32,
    mix_threads: 4,
    mix_operations: 400,
    scans: 1,
};

const WRITER_THREADS_DEFAULT: [u64; 5] = [1, 2, 4, 8, 16];

/// keel against LMDB, redb, RocksDB, sled and fjall: the same workloads,
/// one engine after the other, in one run. Prints a table; with --out,
/// writes the markdown report and its chart.
#[derive(Debug, Parser)]
#[command(name = "keel-benches")]
struct Arguments {
    /// Scratch directory; each engine works in its own subdirectory, removed
    /// after its run. Default: a new directory in the system's temporary
    /// directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Write the markdown report here (e.g. docs/BENCHMARKS.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the SVG chart here. Default with --out: benchmarks.svg next to it.
    #[arg(long)]
    chart: Option<PathBuf>,
    /// Engines to run, comma-separated (default: keel and every peer
    /// compiled in).
    #[arg(long, value_delimiter = ',')]
    engines: Vec<String>,
    /// A few seconds per engine: the CI smoke run. Size flags still apply.
    #[arg(long)]
    tiny: bool,
    /// Keys of the bulk load [default: 1000000, as redb's benchmark].
    #[arg(long)]
    bulk_keys: Option<u64>,
    /// Durable single-key commits of the individual-writes workload
    /// [default: 1000].
    #[arg(long)]
    individual_writes: Option<u64>,
    /// Durable transactions of the batch workload [default: 100].
    #[arg(long)]
    batches: Option<u64>,
    /// Keys per batch transaction [default: 1000].
    #[arg(long)]
    batch_keys: Option<u64>,
    /// Random point reads per pass [default: the bulk keys].
    #[arg(long)]
    reads: Option<u64>,
    /// Range reads of 10 entries [default: 100000].
    #[arg(long)]
    ranges: Option<u64>,
    /// Thread counts of the concurrent-writers workload [default: 1,2,4,8,16].
    #[arg(long, value_delimiter = ',')]
    writer_threads: Vec<u64>,
    /// Durable commits per thread count, split among the threads
    /// [default: 10000].
    #[arg(long)]
    writer_commits: Option<u64>,
    /// Threads of the 95/5 read/write mix [default: 4].
    #[arg(long)]
    mix_threads: Option<u64>,
    /// Operations of the 95/5 mix over all threads [default: 40000].
    #[arg(long)]
    mix_operations: Option<u64>,
    /// Full scans while a writer commits [default: 3].
    #[arg(long)]
    scans: Option<u64>,
    /// Cache of the engines that have their own, in MiB.
    #[arg(long, default_value_t = CACHE_MIB_DEFAULT)]
    cache_mib: u64,
    /// keel reads pages its pool misses through a memory map of its page
    /// file (`Options::mmap_reads`, off by default) instead of `pread`.
    #[arg(long)]
    keel_mmap_reads: bool,
    /// Rounds of the whole run, the engines in alternating order (forward,
    /// backward, …), combined per engine and workload: for a loaded
    /// machine, where a burst of load would otherwise land on one engine.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: u64,
    /// Added to the machine description in the report (e.g. "shared VM,
    /// loaded by other jobs").
    #[arg(long)]
    machine_note: Option<String>,
}

impl Arguments {
    fn sizes(&self) -> Sizes {
        let (base, reads) = if self.tiny {
            (TINY, TINY.reads)
        } else {
            (
                Sizes {
                    bulk_keys: BULK_KEYS_DEFAULT,
                    individual_writes: INDIVIDUAL_WRITES_DEFAULT,
                    batches: BATCHES_DEFAULT,
                    batch_keys: BATCH_KEYS_DEFAULT,
                    reads: BULK_KEYS_DEFAULT,
                    ranges: RANGES_DEFAULT,
                    writer_threads: Vec::new(),
                    writer_commits: WRITER_COMMITS_DEFAULT,
                    mix_threads: MIX_THREADS_DEFAULT,
                    mix_operations: MIX_OPERATIONS_DEFAULT,
                    scans: SCANS_DEFAULT,
                },
                self.bulk_keys.unwrap_or(BULK_KEYS_DEFAULT),
            )
        };
        Sizes {
            bulk_keys: self.bulk_keys.unwrap_or(base.bulk_keys),
            individual_writes: self.individual_writes.unwrap_or(base.individual_writes),
            batches: self.batches.unwrap_or(base.batches),
            batch_keys: self.batch_keys.unwrap_or(base.batch_keys),
            reads: self.reads.unwrap_or(reads),
            ranges: self.ranges.unwrap_or(base.ranges),
            writer_threads: if self.writer_threads.is_empty() {
                WRITER_THREADS_DEFAULT.to_vec()
            } else {
                self.writer_threads.clone()
            },
            writer_commits: self.writer_commits.unwrap_or(base.writer_commits),
            mix_threads: self.mix_threads.unwrap_or(base.mix_threads),
            mix_operations: self.mix_operations.unwrap_or(base.mix_operations),
            scans: self.scans.unwrap_or(base.scans),
        }
    }
}

/// An engine this binary can run.
struct Entry {
    name: &'static str,
    feature: &'static str,
    run: Option<RunFn>,
    configuration: Option<fn(&Settings) -> String>,
}

type RunFn = fn(
    &Path,
    &Settings,
    &Sizes,
    &dataset::Dataset,
    &mut dyn FnMut(&Measurement),
) -> Result<Vec<Measurement>>;

fn entry<E: Engine>(feature: &'static str) -> Entry {
    Entry {
        name: E::NAME,
        feature,
        run: Some(workloads::run::<E>),
        configuration: Some(E::configuration),
    }
}

#[cfg(not(all(
    feature = "lmdb",
    feature = "redb",
    feature = "rocksdb",
    feature = "sled",
    feature = "fjall"
)))]
fn missing(name: &'static str) -> Entry {
    Entry {
        name,
        feature: name,
        run: None,
        configuration: None,
    }
}

/// keel first, then the peers; those not compiled in cannot run.
fn registry() -> Vec<Entry> {
    vec![
        entry::<engines::keel::Keel>("(always)"),
        #[cfg(feature = "lmdb")]
        entry::<engines::lmdb::Lmdb>("lmdb"),
        #[cfg(not(feature = "lmdb"))]
        missing("lmdb"),
        #[cfg(feature = "redb")]
        entry::<engines::redb::Redb>("redb"),
        #[cfg(not(feature = "redb"))]
        missing("redb"),
        #[cfg(feature = "rocksdb")]
        entry::<engines::rocksdb::Rocksdb>("rocksdb"),
        #[cfg(not(feature = "rocksdb"))]
        missing("rocksdb"),
        #[cfg(feature = "sled")]
        entry::<engines::sled::Sled>("sled"),
        #[cfg(not(feature = "sled"))]
        missing("sled"),
        #[cfg(feature = "fjall")]
        entry::<engines::fjall::Fjall>("fjall"),
        #[cfg(not(feature = "fjall"))]
        missing("fjall"),
    ]
}

/// The command that reproduces this run.
fn command(compiled: &[&str]) -> String {
    let peers: Vec<&str> = compiled
        .iter()
        .copied()
        .filter(|name| *name != report::SUBJECT)
        .collect();
    let mut command = String::new();
    if peers.contains(&"rocksdb") {
        command.push_str("ROCKSDB_LIB_DIR=/usr/lib/x86_64-linux-gnu ");
    }
    command.push_str("cargo run --release -p keel-benches");
    if peers.len() == 5 {
        command.push_str(" --features all");
    } else if !peers.is_empty() {
        command.push_str(&format!(" --features {}", peers.join(",")));
    }
    command.push_str(" --");
    for argument in std::env::args().skip(1) {
        let plain = argument
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:".contains(c));
        if plain {
            command.push_str(&format!(" {argument}"));
        } else {
            command.push_str(&format!(" '{}'", argument.replace('\'', r"'\''")));
        }
    }
    command
}

fn main() -> ExitCode {
    match run(&Arguments::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keel-benches: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(arguments: &Arguments) -> Result<()> {
    let started = Instant::now();
    let sizes = arguments.sizes();
    sizes.validate()?;
    let settings = Settings {
        cache_bytes: arguments.cache_mib << 20,
        keel_mmap_reads: arguments.keel_mmap_reads,
    };
    let registry = registry();
    let selected: Vec<&Entry> = if arguments.engines.is_empty() {
        registry
            .iter()
            .filter(|entry| entry.run.is_some())
            .collect()
    } else {
        let mut selected = Vec::new();
        for name in &arguments.engines {
            let Some(entry) = registry.iter().find(|entry| entry.name == name) else {
                bail!(
                    "unknown engine {name:?}; known: {}",
                    registry
                        .iter()
                        .map(|entry| entry.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            if entry.run.is_none() {
                bail!(
                    "{name} is not compiled in; build with --features {}",
                    entry.feature
                );
            }
            selected.push(entry);
        }
        selected
    };
    let base = match &arguments.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("keel-benches-{}", std::process::id())),
    };
    std::fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;

    let dataset = dataset::Dataset::generate(usize::try_from(sizes.dataset_keys())?);
    eprintln!(
        "keel-benches: {} engines, {} keys loaded, {} MiB cache, in {}",
        selected.len(),
        sizes.loaded_keys(),
        arguments.cache_mib,
        base.display()
    );
    let results = match run_rounds(arguments, &selected, &base, &settings, &sizes, &dataset) {
        Ok(results) => results,
        Err(error) => {
            remove_scratch(arguments, &base);
            return Err(error);
        }
    };
    remove_scratch(arguments, &base);

    println!();
    print!("{}", results.text());
    let latency = results.latency_text();
    if !latency.is_empty() {
        println!();
        print!("{latency}");
    }

    let chart_path = arguments.chart.clone().or_else(|| {
        arguments
            .out
            .as_ref()
            .map(|out| out.with_file_name("benchmarks.svg"))
    });
    let title = format!(
        "keel and its peers, {} — throughput relative to the fastest engine per workload",
        document::today()
    );
    for path in chart_path.iter().chain(&arguments.out) {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
    }
    if let Some(path) = &chart_path {
        chart::write_svg(&results, path, &title)?;
        eprintln!("keel-benches: chart written to {}", path.display());
    }
    if let Some(out) = &arguments.out {
        let compiled: Vec<&str> = registry
            .iter()
            .filter(|entry| entry.run.is_some())
            .map(|entry| entry.name)
            .collect();
        let chart = chart_path.as_ref().map(|chart| relative_to(chart, out));
        let context = document::Context {
            machine: document::machine(arguments.machine_note.as_deref()),
            command: command(&compiled),
            chart,
            sizes: &sizes,
            configurations: selected
                .iter()
                .filter_map(|entry| Some((entry.name, (entry.configuration?)(&settings))))
                .collect(),
            run_seconds: started.elapsed().as_secs_f64(),
            rounds: arguments.rounds,
            commit: document::commit(),
        };
        std::fs::write(out, document::render(&results, &context))
            .with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("keel-benches: report written to {}", out.display());
    }
    Ok(())
}

/// Every engine in every round (see [`rounds`]), each engine's rounds
/// combined; the engines in the order selected.
fn run_rounds(
    arguments: &Arguments,
    selected: &[&Entry],
    base: &Path,
    settings: &Settings,
    sizes: &Sizes,
    dataset: &dataset::Dataset,
) -> Result<Results> {
    let rounds = usize::try_from(arguments.rounds)?;
    let mut measured: Vec<Vec<Vec<Measurement>>> = vec![Vec::new(); selected.len()];
    for round in 0..rounds {
        for index in rounds::order(selected.len(), round) {
            let entry = selected[index];
            let Some(run) = entry.run else { continue };
            let label = if rounds > 1 {
                format!("{} r{}", entry.name, round + 1)
            } else {
                entry.name.to_string()
            };
            let mut progress =
                |measurement: &Measurement| eprintln!("{}", progress_line(&label, measurement));
            let measurements = run(
                &base.join(entry.name),
                settings,
                sizes,
                dataset,
                &mut progress,
            )
            .with_context(|| format!("{} failed", entry.name))?;
            measured[index].push(measurements);
        }
    }
    let mut results = Results {
        engines: Vec::new(),
    };
    for (entry, rounds) in selected.iter().zip(measured) {
        if !rounds.is_empty() {
            results.engines.push((entry.name, rounds::combine(rounds)?));
        }
    }
    Ok(results)
}

/// One measurement as the progress output shows it.
fn progress_line(label: &str, measurement: &Measurement) -> String {
    let mut line = format!(
        "{label:>8}  {:<48} {}",
        measurement.workload,
        progress_text(&measurement.figure)
    );
    if let Some(latency) = &measurement.latency {
        line.push_str(&format!("  p50/p99/p99.9 {}", latency.text()));
    }
    if let Some(records) = measurement.records_per_fsync {
        line.push_str(&format!("  {records:.1} records/fsync"));
    }
    line
}

/// Removes the scratch directory if this run created it (each engine's
/// directory inside it is already gone).
fn remove_scratch(arguments: &Arguments, base: &Path) {
    if arguments.dir.is_none() {
        std::fs::remove_dir(base).ok();
    }
}

/// `path` as seen from the directory of `document`: its file name when
/// both are in the same directory, else `path` as given.
fn relative_to(path: &Path, document: &Path) -> String {
    let same_dir = path.parent().map(Path::to_path_buf).unwrap_or_default()
        == document.parent().map(Path::to_path_buf).unwrap_or_default();
    match (same_dir, path.file_name()) {
        (true, Some(name)) => name.to_string_lossy().into_owned(),
        _ => path.display().to_string(),
    }
}

fn progress_text(figure: &Figure) -> String {
    match *figure {
        Figure::Throughput {
            operations,
            elapsed,
        } => format!(
            "{operations:>9} in {:>8.3} s = {:>10.0}/s",
            elapsed.as_secs_f64(),
            operations as f64 / elapsed.as_secs_f64()
        ),
        Figure::Duration(elapsed) => format!("{:>22.3} s", elapsed.as_secs_f64()),
        Figure::Bytes(bytes) => format!("{:>20.1} MiB", bytes as f64 / f64::from(1u32 << 20)),
        Figure::NotApplicable => format!("{:>24}", "n/a"),
    }
}

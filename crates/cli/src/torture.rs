//! `keel torture`: keel's crash tests in users' hands. By default the
//! deterministic whole-engine simulator (`keel_torture::simulator`: crash
//! images on a simulated disk, one seed replays one run); with
//! `--kill-process`, child processes committing on this machine's disk and
//! kernel, killed with SIGKILL back to back (`keel_torture::kill_loop`).
//! Both print a report; the exit status is 1 if anything acknowledged was
//! lost or anything uncommitted appeared.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use keel_torture::kill_child::{ChildArguments, run_child};
use keel_torture::kill_loop::{KillConfig, run_with_progress};
use keel_torture::{Config, Report, simulator};

/// How often a long simulator run prints its progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// `keel torture` arguments.
#[derive(Debug, clap::Args)]
pub struct TortureArguments {
    /// The first seed (default: a random one, printed so that a failure can
    /// be replayed with it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// How long to run: seconds, or with a unit (`90s`, `10m`, `2h`).
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub duration: Duration,
    /// Simulator: stop after this many crash images instead (with a seed,
    /// an exactly reproducible run).
    #[arg(long, conflicts_with = "kill_process")]
    pub images: Option<u64>,
    /// Kill real processes on this machine's disk instead of simulating.
    #[arg(long)]
    pub kill_process: bool,
    /// With --kill-process: stop after this many kills instead.
    #[arg(long, requires = "kill_process")]
    pub kills: Option<u64>,
    /// With --kill-process: committing threads in each child.
    #[arg(long, default_value_t = 4, requires = "kill_process")]
    pub threads: u64,
    /// With --kill-process: the scratch directory (default: a new one in
    /// the system's temporary directory, removed afterwards). It must not
    /// hold a database.
    #[arg(long, requires = "kill_process")]
    pub dir: Option<PathBuf>,
}

/// `keel torture-child`: one child of the kill loop (hidden).
#[derive(Debug, clap::Args)]
pub struct TortureChildArguments {
    /// The child's arguments, as the kill loop passes them.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 90s, 10m, 2h)"))?;
    let seconds = match unit {
        "" | "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        _ => return Err(format!("{text:?}: the unit is s, m or h")),
    };
    Ok(Duration::from_secs(seconds))
}

/// `keel torture`.
pub fn run(arguments: &TortureArguments) -> Result<ExitCode> {
    let seed = arguments
        .seed
        .unwrap_or_else(|| rand::random::<u64>() % 1_000_000);
    if arguments.kill_process {
        return kill_processes(arguments, seed);
    }
    println!(
        "keel torture: the simulator from seed {seed} (replay a seed with --seed N --images N)"
    );
    let report = match arguments.images {
        Some(images) => simulator::run(&Config::images(seed, images)),
        None => simulate_with_progress(seed, arguments.duration),
    };
    println!("{report}");
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs the simulator for `duration` in slices of at most
/// [`PROGRESS_INTERVAL`], each going on from the seed after the last, and
/// prints a line after each; stops at the first divergence.
fn simulate_with_progress(seed: u64, duration: Duration) -> Report {
    let started = Instant::now();
    let slice = |first_seed: u64| {
        let left = duration.saturating_sub(started.elapsed());
        simulator::run(&Config::duration(first_seed, left.min(PROGRESS_INTERVAL)))
    };
    let mut total = slice(seed);
    loop {
        let counts = &total.counts;
        println!(
            "  {:>6.0} s: {} crash images, {} durable commits verified, {} lost",
            started.elapsed().as_secs_f64(),
            counts.images,
            counts.verified,
            counts.lost
        );
        if !total.passed() || started.elapsed() >= duration {
            return total;
        }
        // The next slice goes on from the seed after the last one run.
        total.merge(slice(seed.wrapping_add(counts.seeds.max(1))));
    }
}

fn kill_processes(arguments: &TortureArguments, seed: u64) -> Result<ExitCode> {
    let scratch;
    let dir = match &arguments.dir {
        Some(dir) => {
            if dir.join("pages").exists() {
                bail!(
                    "{} holds a database: give an empty scratch directory",
                    dir.display()
                );
            }
            dir.clone()
        }
        None => {
            scratch = tempfile_dir()?;
            scratch.join("db")
        }
    };
    let config = KillConfig {
        seed,
        kills: arguments.kills.unwrap_or(u64::MAX),
        duration: arguments.kills.is_none().then_some(arguments.duration),
        threads: arguments.threads,
        dir: dir.clone(),
    };
    let exe = std::env::current_exe().context("cannot find the keel binary to run children")?;
    println!(
        "keel torture --kill-process: seed {seed}, {} threads per child, in {}",
        arguments.threads,
        dir.display()
    );
    let child = |_: &ChildArguments| {
        let mut command = Command::new(&exe);
        command.arg("torture-child");
        command
    };
    let report = run_with_progress(&config, child, PROGRESS_INTERVAL, |so_far| {
        println!(
            "  {:>6.0} s: {} kills, {} commits acknowledged, {} verified, {} lost",
            so_far.elapsed.as_secs_f64(),
            so_far.kills,
            so_far.acknowledged,
            so_far.verified,
            so_far.lost
        );
    });
    println!("{report}");
    if arguments.dir.is_none()
        && let Some(parent) = dir.parent()
    {
        let _ = std::fs::remove_dir_all(parent);
    }
    Ok(if report.failure.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A new directory under the system's temporary directory.
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "keel-torture-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// `keel torture-child`.
pub fn child(arguments: &TortureChildArguments) -> Result<ExitCode> {
    let arguments = ChildArguments::parse(&arguments.args).map_err(anyhow::Error::msg)?;
    run_child(&arguments).map_err(anyhow::Error::msg)?;
    Ok(ExitCode::SUCCESS)
}

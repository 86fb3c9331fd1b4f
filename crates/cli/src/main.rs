//! The `keel` command-line tool.
//!
//! - `keel serve`: the Redis-compatible server (`serve.rs`), with
//!   redis-server's flag names.
//! - `keel check DIR`: verify a database's checksums and invariants
//!   (`inspect.rs`).
//! - `keel stat DIR`: sizes, keyspaces, checkpoint, log, fold status
//!   (`inspect.rs`).
//! - `keel dump DIR FILE` / `keel load DIR FILE`: export and import
//!   keyspaces in the format of docs/FORMAT.md, "Dump files"
//!   (`dump_format.rs`, `dump.rs`).
//! - `keel bench`: a built-in workload runner (`bench.rs`).
//! - `keel torture`: the crash simulator, or a SIGKILL loop on this
//!   machine's disk (`torture.rs`).
//!
//! Errors are printed in plain words with the path involved, and the exit
//! status is non-zero.

mod bench;
mod compact;
mod dump;
mod dump_format;
mod inspect;
mod serve;
mod torture;
mod units;

use std::io::IsTerminal;
use std::process::ExitCode;

/// The server frees memory in bulk on other threads than allocated it (a
/// fold's versions, a pipeline's buffers), which glibc's per-thread arenas
/// kept: 10M hash fields left `keel serve` at 710 MB resident with a
/// 256 MiB pool, 310 MB after a `malloc_trim`. mimalloc returns freed
/// pages to the OS; the library crates leave the choice to their users.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// keel: an embedded transactional key-value store, and a Redis-compatible
/// server on top of it.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about, long_about = None)]
struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Redis-compatible server (default 127.0.0.1:6380, ./keel-data).
    Serve(serve::ServeArguments),
    /// Verify every checksum and structural invariant of a database.
    Check(inspect::CheckArguments),
    /// Show a database's sizes, keyspaces, checkpoint, log and fold status.
    Stat(inspect::StatArguments),
    /// Give the page file's free space back to the file system (the
    /// database must not be open elsewhere).
    Compact(compact::CompactArguments),
    /// Export keyspaces to a dump file (docs/FORMAT.md, "Dump files").
    Dump(dump::DumpArguments),
    /// Import a dump file into a database.
    Load(dump::LoadArguments),
    /// Run the built-in workloads on a scratch database and print a table.
    Bench(bench::BenchArguments),
    /// Crash keel over and over and check that nothing acknowledged is lost:
    /// the simulator, or with --kill-process real processes on this disk.
    Torture(torture::TortureArguments),
    /// One child process of `keel torture --kill-process`.
    #[command(hide = true)]
    TortureChild(torture::TortureChildArguments),
}

/// Logs to standard error at `default_level` unless `RUST_LOG` says
/// otherwise.
fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    // Torture crashes the engine thousands of times on purpose: the
    // failures it logs are expected, and the report says what matters.
    init_logging(match arguments.command {
        Command::Torture(_) | Command::TortureChild(_) => "off",
        _ => "info",
    });
    let result = match arguments.command {
        Command::Serve(arguments) => serve::run(&arguments),
        Command::Check(arguments) => inspect::check(&arguments),
        Command::Stat(arguments) => inspect::stat(&arguments),
        Command::Compact(arguments) => compact::run(&arguments),
        Command::Dump(arguments) => dump::dump(&arguments),
        Command::Load(arguments) => dump::load(&arguments),
        Command::Bench(arguments) => bench::run(&arguments),
        Command::Torture(arguments) => torture::run(&arguments),
        Command::TortureChild(arguments) => torture::child(&arguments),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("keel: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

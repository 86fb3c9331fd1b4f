//! `keel serve`: the Redis-compatible server over a keel database, with
//! redis-server's flag names where one exists.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use keel_server::{AppendFsync, IoModel, KeelBackend, KeelBackendOptions, ServerOptions};

use crate::units::parse_bytes;

fn parse_appendfsync(text: &str) -> Result<AppendFsync, String> {
    AppendFsync::parse(text).ok_or_else(|| format!("{text:?} is not one of always, everysec, no"))
}

fn parse_io_model(text: &str) -> Result<IoModelName, String> {
    match text.to_ascii_lowercase().as_str() {
        "threads" => Ok(IoModelName::Threads),
        "epoll" => Ok(IoModelName::Epoll),
        _ => Err(format!("{text:?} is not one of threads, epoll")),
    }
}

/// `--io-model`: how connections are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoModelName {
    /// A thread per connection.
    Threads,
    /// `--io-threads` epoll event loops.
    Epoll,
}

/// `--server-cpulist`: CPU numbers, ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

fn parse_cpu_list(text: &str) -> Result<CpuList, String> {
    keel_server::parse_cpu_list(text).map(CpuList)
}

/// `keel serve` flags.
#[derive(Debug, clap::Args)]
pub struct ServeArguments {
    /// TCP port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 6380)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Data directory (created if missing).
    #[arg(long, default_value = "./keel-data")]
    pub dir: PathBuf,
    /// When a write is durable before it is acknowledged: always (fsync,
    /// group-committed), everysec (fsync every second), no (the OS
    /// decides).
    #[arg(long, default_value = "everysec", value_parser = parse_appendfsync)]
    pub appendfsync: AppendFsync,
    /// Password clients must give with AUTH (none: no authentication).
    #[arg(long)]
    pub requirepass: Option<String>,
    /// Most clients connected at once.
    #[arg(long, default_value_t = 10_000)]
    pub maxclients: usize,
    /// Number of databases SELECT accepts (each a keel keyspace db<n>).
    #[arg(long, default_value_t = keel_server::DATABASES_DEFAULT)]
    pub databases: u32,
    /// Buffer pool for B+tree pages (e.g. 256mb, 1gb).
    #[arg(long, default_value = "256mb", value_parser = parse_bytes)]
    pub pool_bytes: u64,
    /// Page size of a new database (4kb to 64kb, a power of two); keys are
    /// at most about a quarter page (996 bytes with 4kb pages). An existing
    /// database keeps its own.
    #[arg(long, default_value = "4kb", value_parser = parse_bytes)]
    pub page_size: u64,
    /// Checkpoint at least this often, in seconds, while anything changed.
    #[arg(long, default_value_t = keel::CHECKPOINT_INTERVAL_DEFAULT.as_secs())]
    pub checkpoint_interval: u64,
    /// Checkpoint once this much log was written since the last one.
    #[arg(long, default_value = "128mb", value_parser = parse_bytes)]
    pub checkpoint_wal_bytes: u64,
    /// How connections are served: threads (a thread per connection) or
    /// epoll (--io-threads event loops, commands run on them).
    #[arg(long, default_value = "epoll", value_parser = parse_io_model)]
    pub io_model: IoModelName,
    /// Event-loop threads for --io-model epoll (default: one per CPU).
    #[arg(long)]
    pub io_threads: Option<usize>,
    /// Pin the server's threads to these CPUs (Redis's server-cpulist
    /// syntax: "0-3", "0,2", "0-7:2"). Connection threads may run on any
    /// listed CPU; event-loop thread i runs on the i-th listed CPU.
    #[arg(long, value_parser = parse_cpu_list)]
    pub server_cpulist: Option<CpuList>,
}

/// The address to bind: IPv6 addresses get brackets.
fn bind_address(bind: &str, port: u16) -> String {
    if bind.contains(':') && !bind.starts_with('[') {
        format!("[{bind}]:{port}")
    } else {
        format!("{bind}:{port}")
    }
}

/// Runs the server until SHUTDOWN, SIGINT or SIGTERM; then closes the
/// database cleanly (fold, checkpoint, log sync).
pub fn run(arguments: &ServeArguments) -> Result<ExitCode> {
    let dir = &arguments.dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    if arguments.checkpoint_interval == 0 {
        anyhow::bail!("--checkpoint-interval must be at least 1 second");
    }
    let page_size = u32::try_from(arguments.page_size)
        .ok()
        .filter(|size| size.is_power_of_two() && (4096..=65536).contains(size))
        .with_context(|| {
            format!(
                "--page-size {} is not a power of two from 4kb to 64kb",
                arguments.page_size
            )
        })?;
    let engine = keel::Options {
        pool_bytes: arguments.pool_bytes,
        page_size,
        checkpoint_interval: Duration::from_secs(arguments.checkpoint_interval),
        checkpoint_wal_bytes: arguments.checkpoint_wal_bytes,
        ..keel::Options::default()
    };
    let limits = keel_server::Limits::default();
    let backend = KeelBackend::open(
        dir,
        engine,
        KeelBackendOptions {
            appendfsync: arguments.appendfsync,
            databases: arguments.databases,
            limits: limits.clone(),
        },
    )
    .with_context(|| format!("cannot open the database in {}", dir.display()))?;
    let backend = Arc::new(backend);
    let address = bind_address(&arguments.bind, arguments.port);
    let server = keel_server::start(
        ServerOptions {
            bind_address: address.clone(),
            max_clients: arguments.maxclients,
            require_password: arguments.requirepass.clone(),
            databases: arguments.databases,
            limits,
            io_model: match arguments.io_model {
                IoModelName::Threads => IoModel::ThreadPerConnection,
                IoModelName::Epoll => IoModel::EventLoop {
                    workers: arguments.io_threads.unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(1, usize::from)
                    }),
                },
            },
            cpu_list: arguments.server_cpulist.as_ref().map(|cpus| cpus.0.clone()),
            ..ServerOptions::default()
        },
        Arc::clone(&backend),
    )
    .with_context(|| format!("cannot listen on {address}"))?;

    let stopper = server.stopper();
    let signalled = Arc::new(AtomicBool::new(false));
    let handler_signalled = Arc::clone(&signalled);
    ctrlc::set_handler(move || {
        if handler_signalled.swap(true, Ordering::SeqCst) {
            // A second signal: the user insists.
            eprintln!("keel: second signal, exiting without closing the database");
            std::process::exit(130);
        }
        tracing::info!("signal received: stopping the server and closing the database");
        stopper.stop();
    })
    .context("cannot install the SIGINT/SIGTERM handler")?;

    tracing::info!(
        address = %server.local_address(),
        dir = %dir.display(),
        appendfsync = %arguments.appendfsync,
        "keel serve: ready to accept connections"
    );
    server.wait();
    let backend =
        Arc::into_inner(backend).context("the server still holds the database after stopping")?;
    backend
        .close()
        .with_context(|| format!("closing the database in {} failed", dir.display()))?;
    tracing::info!(dir = %dir.display(), "database closed cleanly");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_get_brackets() {
        assert_eq!(bind_address("127.0.0.1", 6380), "127.0.0.1:6380");
        assert_eq!(bind_address("::1", 6380), "[::1]:6380");
        assert_eq!(bind_address("[::1]", 1), "[::1]:1");
    }

    #[test]
    fn appendfsync_names_parse() {
        assert_eq!(parse_appendfsync("always"), Ok(AppendFsync::Always));
        assert_eq!(parse_appendfsync("EVERYSEC"), Ok(AppendFsync::EverySec));
        assert!(parse_appendfsync("sometimes").is_err());
    }
}

//! `keel serve`: the Redis-compatible server over a keel database, with
//! redis-server's flag names where one exists.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};
use keel_server::{AppendFsync, KeelBackend, KeelBackendOptions, ServerOptions, ServerStopper};

use crate::units::parse_bytes;

fn parse_appendfsync(text: &str) -> Result<AppendFsync, String> {
    AppendFsync::parse(text).ok_or_else(|| format!("{text:?} is not one of always, everysec, no"))
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
    /// Page size of a new database (4kb to 64kb, a power of two); keys of
    /// up to 64 KiB on every size, those past a quarter page partly in
    /// overflow pages. An existing database keeps its own.
    #[arg(long, default_value = "4kb", value_parser = parse_bytes)]
    pub page_size: u64,
    /// Checkpoint at least this often, in seconds, while anything changed.
    #[arg(long, default_value_t = keel::CHECKPOINT_INTERVAL_DEFAULT.as_secs())]
    pub checkpoint_interval: u64,
    /// Checkpoint once this much log was written since the last one.
    #[arg(long, default_value = "128mb", value_parser = parse_bytes)]
    pub checkpoint_wal_bytes: u64,
    /// Event-loop threads serving the connections (default: half the CPUs
    /// the process may use, at least one, or one per --server-cpulist
    /// CPU).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub io_threads: Option<u16>,
    /// Pin the server's threads to these CPUs (Redis's server-cpulist
    /// syntax: "0-3", "0,2", "0-7:2"): event-loop thread i runs on the
    /// i-th listed CPU (round robin).
    #[arg(long, value_parser = parse_cpu_list)]
    pub server_cpulist: Option<CpuList>,
    /// Serve Prometheus metrics over HTTP on this port (`GET /metrics`,
    /// on the --bind address); none by default.
    #[arg(long)]
    pub metrics_port: Option<u16>,
}

/// `--io-threads`, else one per `--server-cpulist` CPU, else keel-server's
/// default (half the CPUs).
fn io_threads(arguments: &ServeArguments) -> usize {
    match (arguments.io_threads, &arguments.server_cpulist) {
        (Some(threads), _) => usize::from(threads),
        (None, Some(cpus)) => cpus.0.len().max(1),
        (None, None) => keel_server::io_threads_default(),
    }
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
    // Before anything that takes time or listens: a SIGTERM that comes
    // while the database opens or the server starts stops the server as
    // soon as it runs, and the database still closes cleanly.
    let signals = Signals::install()?;
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
            ..KeelBackendOptions::default()
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
            io_threads: io_threads(arguments),
            cpu_list: arguments.server_cpulist.as_ref().map(|cpus| cpus.0.clone()),
            metrics_address: arguments
                .metrics_port
                .map(|port| bind_address(&arguments.bind, port)),
            mem_allocator: "mimalloc".to_owned(),
            ..ServerOptions::default()
        },
        Arc::clone(&backend),
    )
    .with_context(|| format!("cannot listen on {address}"))?;

    signals.attach(server.stopper());
    tracing::info!(
        address = %server.local_address(),
        metrics = ?server.metrics_address(),
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

/// SIGINT and SIGTERM: the first stops the server (once it runs; a
/// signal before that stops it as soon as it is attached), a second exits
/// at once without closing the database. `ctrlc` runs the handler on a
/// thread of its own, so it may take a lock.
struct Signals {
    /// Whether a signal came, and the server to stop, under one lock: a
    /// signal and [`Signals::attach`] see each other whatever their order.
    state: Arc<Mutex<(bool, Option<ServerStopper>)>>,
}

impl Signals {
    fn install() -> Result<Signals> {
        let state: Arc<Mutex<(bool, Option<ServerStopper>)>> = Arc::default();
        let handler_state = Arc::clone(&state);
        ctrlc::set_handler(move || {
            let mut state = handler_state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.0 {
                // A second signal: the user insists.
                eprintln!("keel: second signal, exiting without closing the database");
                std::process::exit(130);
            }
            state.0 = true;
            tracing::info!("signal received: stopping the server and closing the database");
            if let Some(stopper) = &state.1 {
                stopper.stop();
            }
        })
        .context("cannot install the SIGINT/SIGTERM handler")?;
        Ok(Signals { state })
    }

    /// The server to stop; stops it now if a signal came before.
    fn attach(&self, stopper: ServerStopper) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.0 {
            stopper.stop();
        }
        state.1 = Some(stopper);
    }
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

    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        serve: ServeArguments,
    }

    fn flags(arguments: &[&str]) -> Result<ServeArguments, clap::Error> {
        use clap::Parser;
        Flags::try_parse_from(std::iter::once("serve").chain(arguments.iter().copied()))
            .map(|flags| flags.serve)
    }

    #[test]
    fn cpu_list_and_io_threads_parse() {
        let pinned = flags(&["--server-cpulist", "0-4:2,7"]).unwrap();
        assert_eq!(pinned.server_cpulist, Some(CpuList(vec![0, 2, 4, 7])));
        assert_eq!(io_threads(&pinned), 4, "one event loop per listed CPU");
        let both = flags(&["--server-cpulist", "1", "--io-threads", "3"]).unwrap();
        assert_eq!(io_threads(&both), 3);
        let plain = flags(&[]).unwrap();
        assert_eq!(plain.server_cpulist, None);
        assert!(io_threads(&plain) >= 1);
        for bad in [
            &["--server-cpulist", "x"][..],
            &["--server-cpulist", "2-1"],
            &["--server-cpulist", ""],
            &["--io-threads", "0"],
        ] {
            assert!(flags(bad).is_err(), "{bad:?}");
        }
    }
}

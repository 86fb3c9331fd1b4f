//! The TCP listener: one thread accepting connections (at most
//! `max_clients` at once), which it hands to a fixed pool of epoll event
//! loops (`event_loop.rs`); and a handle that stops it all.
//!
//! An event loop rather than a thread per connection, measured (see
//! docs/ARCHITECTURE.md, "keel-server", and benches/redis/README.md): on
//! the same loads the event loop served 1.15–2.3× the requests per second
//! without pipelining, mostly because it runs the commands of all the
//! connections ready at once in one transaction (one fsync under
//! `appendfsync always`), and about as many with `-P 16`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;

use crate::backend::{Backend, ClientId, DatabaseIndex};
use crate::commands::config::ConfigTable;
use crate::commands::table::CommandSpec;
use crate::error::{Error, Result};
use crate::net::affinity::pin_current_thread;
use crate::net::event_loop::Workers;
use crate::resp::Limits;
use crate::resp::ProtocolVersion;

/// The reply a client gets when `max_clients` connections are open, before
/// it is closed (Redis's exact bytes).
pub const MAX_CLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";

/// The pause after a failed accept, so a persistent failure (no file
/// descriptors left) does not spin a core.
pub const ACCEPT_ERROR_BACKOFF: std::time::Duration = std::time::Duration::from_millis(10);

/// The server's settings.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Address to listen on (`host:port`; port 0 picks a free one).
    pub bind_address: String,
    /// Most connections open at once (Redis `maxclients`, 10000).
    pub max_clients: usize,
    /// The password of the default user (Redis `requirepass`); `None`: no
    /// authentication.
    pub require_password: Option<String>,
    /// Number of databases SELECT accepts (Redis `databases`, 16).
    pub databases: DatabaseIndex,
    /// Protocol limits.
    pub limits: Limits,
    /// The Redis version keel reports (HELLO, INFO), which clients read to
    /// decide which commands they may use.
    pub redis_version: String,
    /// Event-loop threads serving the connections (Redis `io-threads`; at
    /// least 1). Default: one per CPU the process may use.
    pub io_threads: usize,
    /// CPUs the server's threads are pinned to (Redis `server-cpulist`):
    /// event-loop thread `i` to the `i`-th CPU of the list (round robin),
    /// the accept thread to the whole list. `None`: wherever the operating
    /// system schedules them.
    pub cpu_list: Option<Vec<usize>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            bind_address: "127.0.0.1:6380".to_owned(),
            max_clients: 10_000,
            require_password: None,
            databases: 16,
            limits: Limits::default(),
            redis_version: "7.2.0".to_owned(),
            io_threads: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_list: None,
        }
    }
}

/// What CLIENT LIST shows of a connection, updated by its thread.
#[derive(Clone, Debug)]
pub(crate) struct ClientState {
    pub(crate) name: Option<Bytes>,
    pub(crate) library_name: Option<Bytes>,
    pub(crate) library_version: Option<Bytes>,
    pub(crate) database: DatabaseIndex,
    pub(crate) protocol: ProtocolVersion,
    pub(crate) last_command: String,
    pub(crate) last_interaction: Instant,
    pub(crate) queued_commands: Option<usize>,
    pub(crate) query_buffer_bytes: usize,
}

/// A registered connection.
#[derive(Debug)]
pub(crate) struct ClientEntry {
    pub(crate) id: ClientId,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) created: Instant,
    /// A clone of the connection's socket, to shut it down from outside.
    stream: TcpStream,
    pub(crate) state: Mutex<ClientState>,
}

impl ClientEntry {
    pub(crate) fn state(&self) -> MutexGuard<'_, ClientState> {
        lock(&self.state)
    }
}

/// Most distinct error codes INFO errorstats tracks (Redis's
/// `ERROR_STATS_NUMBER`); errors with other codes are counted in
/// `total_error_replies` only.
pub const ERROR_CODES_MAX: usize = 128;

/// One command's INFO commandstats counters.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CommandCounters {
    pub(crate) calls: u64,
    pub(crate) usec: u64,
    pub(crate) rejected_calls: u64,
    pub(crate) failed_calls: u64,
}

/// Counters for INFO (stats, commandstats, errorstats); CONFIG RESETSTAT
/// zeroes them.
#[derive(Debug, Default)]
pub(crate) struct ServerStats {
    pub(crate) connections_received: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) commands_processed: AtomicU64,
    pub(crate) error_replies: AtomicU64,
    /// By command (keyed by the table entry's address).
    commands: Mutex<HashMap<usize, (&'static CommandSpec, CommandCounters)>>,
    /// By error code (the error's first word).
    errors: Mutex<BTreeMap<String, u64>>,
}

impl ServerStats {
    /// Counts calls of commands that ran: each with its time and whether
    /// it replied with an error.
    pub(crate) fn called(&self, calls: &[(&'static CommandSpec, u64, bool)]) {
        let mut commands = lock(&self.commands);
        for &(spec, usec, failed) in calls {
            let counters = &mut commands
                .entry(std::ptr::from_ref(spec) as usize)
                .or_insert((spec, CommandCounters::default()))
                .1;
            counters.calls += 1;
            counters.usec += usec;
            counters.failed_calls += u64::from(failed);
        }
    }

    /// Counts a command refused before it ran (arity, NOAUTH, inside
    /// MULTI); `None` for an unknown command.
    pub(crate) fn rejected(&self, spec: Option<&'static CommandSpec>) {
        if let Some(spec) = spec {
            lock(&self.commands)
                .entry(std::ptr::from_ref(spec) as usize)
                .or_insert((spec, CommandCounters::default()))
                .1
                .rejected_calls += 1;
        }
    }

    /// Counts an error reply by its code (`ERR`, `WRONGTYPE` …).
    pub(crate) fn error_reply(&self, text: &str) {
        self.error_replies.fetch_add(1, Ordering::Relaxed);
        let code = text.split(' ').next().unwrap_or_default();
        let mut errors = lock(&self.errors);
        if let Some(count) = errors.get_mut(code) {
            *count += 1;
        } else if errors.len() < ERROR_CODES_MAX {
            errors.insert(code.to_owned(), 1);
        }
    }

    /// `cmdstat_<name>` lines' contents, by full name.
    pub(crate) fn command_lines(&self) -> Vec<(String, CommandCounters)> {
        let mut lines: Vec<(String, CommandCounters)> = lock(&self.commands)
            .values()
            .map(|(spec, counters)| (spec.full_name(), *counters))
            .collect();
        lines.sort_by(|a, b| a.0.cmp(&b.0));
        lines
    }

    /// `errorstat_<code>` counts.
    pub(crate) fn error_counts(&self) -> Vec<(String, u64)> {
        lock(&self.errors)
            .iter()
            .map(|(code, count)| (code.clone(), *count))
            .collect()
    }

    /// CONFIG RESETSTAT.
    pub(crate) fn reset(&self) {
        self.connections_received.store(0, Ordering::Relaxed);
        self.connections_rejected.store(0, Ordering::Relaxed);
        self.commands_processed.store(0, Ordering::Relaxed);
        self.error_replies.store(0, Ordering::Relaxed);
        lock(&self.commands).clear();
        lock(&self.errors).clear();
    }
}

/// State shared by the accept thread and every connection thread.
pub(crate) struct Shared<B: Backend> {
    pub(crate) options: ServerOptions,
    pub(crate) backend: Arc<B>,
    pub(crate) local_address: SocketAddr,
    pub(crate) started: Instant,
    pub(crate) stats: ServerStats,
    /// Redis parameters kept for CONFIG GET and SET.
    pub(crate) config: ConfigTable,
    pub(crate) clients: Mutex<BTreeMap<ClientId, Arc<ClientEntry>>>,
    stop: Arc<StopSignal>,
    next_client_id: AtomicU64,
}

/// The flag that stops the accept loop, and how to wake it.
#[derive(Debug)]
struct StopSignal {
    stopping: AtomicBool,
    local_address: SocketAddr,
}

impl StopSignal {
    fn is_set(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn request(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the accept loop with a connection of our own; it sees the
        // flag before serving it.
        let port = self.local_address.port();
        let wake_address = match self.local_address.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port)
            }
            _ => self.local_address,
        };
        if let Err(error) = TcpStream::connect(wake_address) {
            tracing::warn!(%error, "could not wake the accept loop");
        }
    }
}

impl<B: Backend> Shared<B> {
    /// Every registered connection, in id order.
    pub(crate) fn clients(&self) -> Vec<Arc<ClientEntry>> {
        lock(&self.clients).values().cloned().collect()
    }

    /// Asks the accept loop to stop and close every connection (SHUTDOWN).
    pub(crate) fn request_stop(&self) {
        self.stop.request();
    }
}

/// Stops a server from another thread (a signal handler, say) while its
/// [`ServerHandle`] waits. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ServerStopper {
    stop: Arc<StopSignal>,
}

impl ServerStopper {
    /// Asks the server to stop: it stops accepting and closes every
    /// connection; [`ServerHandle::wait`] then returns.
    pub fn stop(&self) {
        self.stop.request();
    }
}

/// A running server: its address, and the way to stop it.
#[derive(Debug)]
pub struct ServerHandle {
    local_address: SocketAddr,
    stop: Arc<StopSignal>,
    accept_thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address the server listens on (with the port chosen when the
    /// options asked for port 0).
    pub fn local_address(&self) -> SocketAddr {
        self.local_address
    }

    /// A way to stop the server from another thread.
    pub fn stopper(&self) -> ServerStopper {
        ServerStopper {
            stop: Arc::clone(&self.stop),
        }
    }

    /// Stops accepting, closes every connection, and waits for all the
    /// server's threads to end.
    pub fn shutdown(mut self) {
        self.stop.request();
        self.join_threads();
    }

    /// Waits until the server stops (after a SHUTDOWN command).
    pub fn wait(mut self) {
        self.join_threads();
    }

    fn join_threads(&mut self) {
        if let Some(thread) = self.accept_thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the accept thread panicked");
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.accept_thread.is_some() {
            self.stop.request();
            self.join_threads();
        }
    }
}

/// Starts a server on `backend`: binds, then accepts on a thread of its
/// own until stopped.
pub fn start<B: Backend>(options: ServerOptions, backend: Arc<B>) -> Result<ServerHandle> {
    if let Some(cpus) = options.cpu_list.clone() {
        // Refuse a list the kernel refuses before anything starts.
        std::thread::spawn(move || pin_current_thread(&cpus))
            .join()
            .unwrap_or(Ok(()))?;
    }
    let listener = TcpListener::bind(&options.bind_address).map_err(|source| Error::Bind {
        address: options.bind_address.clone(),
        source,
    })?;
    let local_address = listener.local_addr().map_err(|source| Error::Bind {
        address: options.bind_address.clone(),
        source,
    })?;
    let stop = Arc::new(StopSignal {
        stopping: AtomicBool::new(false),
        local_address,
    });
    let shared = Arc::new(Shared {
        options,
        backend,
        local_address,
        started: Instant::now(),
        stats: ServerStats::default(),
        config: ConfigTable::default(),
        clients: Mutex::new(BTreeMap::new()),
        stop: Arc::clone(&stop),
        next_client_id: AtomicU64::new(1),
    });
    let cpus = shared.options.cpu_list.clone();
    let on_start: Arc<dyn Fn(usize) + Send + Sync> = Arc::new(move |index| {
        if let Some(cpus) = cpus.as_ref().filter(|cpus| !cpus.is_empty())
            && let Err(error) = pin_current_thread(&[cpus[index % cpus.len()]])
        {
            tracing::error!(%error, worker = index, "an event-loop thread runs unpinned");
        }
    });
    let workers = Workers::start(&shared, shared.options.io_threads, &on_start)?;
    let accept_shared = Arc::clone(&shared);
    let accept_thread = std::thread::Builder::new()
        .name("keel-accept".to_owned())
        .spawn(move || {
            if let Some(cpus) = &accept_shared.options.cpu_list
                && let Err(error) = pin_current_thread(cpus)
            {
                tracing::error!(%error, "the accept thread runs unpinned");
            }
            accept_loop(&accept_shared, &listener, workers);
        })
        .map_err(|source| Error::Socket {
            operation: "spawn",
            peer: None,
            source,
        })?;
    tracing::info!(%local_address, "keel-server listening");
    Ok(ServerHandle {
        local_address,
        stop,
        accept_thread: Some(accept_thread),
    })
}

fn accept_loop<B: Backend>(shared: &Arc<Shared<B>>, listener: &TcpListener, mut workers: Workers) {
    for stream in listener.incoming() {
        if shared.stop.is_set() {
            break;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                // Out of file descriptors, say: back off instead of
                // spinning on the error.
                tracing::warn!(%error, "accept failed");
                std::thread::sleep(ACCEPT_ERROR_BACKOFF);
                continue;
            }
        };
        shared
            .stats
            .connections_received
            .fetch_add(1, Ordering::Relaxed);
        match register(shared, stream) {
            Ok(Some((entry, stream))) => workers.hand_over(entry, stream),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "cannot set up a connection"),
        }
    }
    // Stopping: close every connection, then stop the event loops.
    for entry in shared.clients() {
        // The connection may already be closing; nothing to do then.
        let _ = entry.stream.shutdown(std::net::Shutdown::Both);
    }
    workers.stop();
    tracing::info!(local_address = %shared.local_address, "keel-server stopped");
}

/// Registers a new connection, or refuses it with Redis's reply when
/// `max_clients` are connected.
fn register<B: Backend>(
    shared: &Shared<B>,
    mut stream: TcpStream,
) -> Result<Option<(Arc<ClientEntry>, TcpStream)>> {
    let peer = stream.peer_addr().map_err(|source| Error::Socket {
        operation: "peer_addr",
        peer: None,
        source,
    })?;
    let socket_error = |operation| {
        move |source| Error::Socket {
            operation,
            peer: Some(peer),
            source,
        }
    };
    let mut clients = lock(&shared.clients);
    if clients.len() >= shared.options.max_clients {
        drop(clients);
        shared
            .stats
            .connections_rejected
            .fetch_add(1, Ordering::Relaxed);
        stream
            .write_all(MAX_CLIENTS_REPLY)
            .map_err(socket_error("write"))?;
        return Ok(None);
    }
    // Replies are written in batches; waiting for more (Nagle) only adds
    // latency.
    stream
        .set_nodelay(true)
        .map_err(socket_error("set_nodelay"))?;
    let local = stream.local_addr().map_err(socket_error("local_addr"))?;
    let now = Instant::now();
    let entry = Arc::new(ClientEntry {
        id: shared.next_client_id.fetch_add(1, Ordering::Relaxed),
        peer,
        local,
        created: now,
        stream: stream.try_clone().map_err(socket_error("try_clone"))?,
        state: Mutex::new(ClientState {
            name: None,
            library_name: None,
            library_version: None,
            database: 0,
            protocol: ProtocolVersion::Resp2,
            last_command: "NULL".to_owned(),
            last_interaction: now,
            queued_commands: None,
            query_buffer_bytes: 0,
        }),
    });
    clients.insert(entry.id, Arc::clone(&entry));
    Ok(Some((entry, stream)))
}

/// Locks a mutex, recovering it if a panicking thread poisoned it: the
/// data guarded here (names, counters) stays meaningful.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

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

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::backend::Backend;
use crate::commands::config::ConfigTable;
use crate::commands::notify::KeyspaceEvents;
use crate::commands::slowlog::SlowLog;
use crate::commands::tracking::TrackingTable;
use crate::error::{Error, Result};
use crate::net::affinity::pin_current_thread;
use crate::net::event_loop::Workers;
use crate::net::metrics::MetricsEndpoint;
use crate::resp::ProtocolVersion;
use crate::state::{ClientEntry, ClientState, Pause, ServerOptions, Shared, StopSignal, lock};
use crate::stats::ServerStats;

/// The reply a client gets when `max_clients` connections are open, before
/// it is closed (Redis's exact bytes).
pub const MAX_CLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";

/// The pause after a failed accept, so a persistent failure (no file
/// descriptors left) does not spin a core.
pub const ACCEPT_ERROR_BACKOFF: std::time::Duration = std::time::Duration::from_millis(10);

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
    metrics: Option<MetricsEndpoint>,
}

impl ServerHandle {
    /// The address the server listens on (with the port chosen when the
    /// options asked for port 0).
    pub fn local_address(&self) -> SocketAddr {
        self.local_address
    }

    /// The address of the Prometheus endpoint, if one was asked for
    /// ([`ServerOptions::metrics_address`]).
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(MetricsEndpoint::local_address)
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
        if let Some(metrics) = self.metrics.take() {
            metrics.stop();
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
    let backend: Arc<dyn Backend> = backend;
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
    let pubsub = Arc::new(crate::net::pubsub::PubSub::default());
    let keyspace_events = Arc::new(KeyspaceEvents::new(Arc::clone(&pubsub)));
    backend.set_keyspace_events(Arc::clone(&keyspace_events));
    let users = crate::commands::acl::Users::new(options.require_password.as_deref());
    let shared = Arc::new(Shared {
        users,
        options,
        backend,
        local_address,
        started: Instant::now(),
        run_id: (0..40)
            .map(|_| char::from(b"0123456789abcdef"[rand::random_range(0..16)]))
            .collect(),
        stats: ServerStats::default(),
        config: ConfigTable::default(),
        clients: Mutex::new(BTreeMap::new()),
        stop: Arc::clone(&stop),
        next_client_id: AtomicU64::new(1),
        monitors: Mutex::new(Vec::new()),
        monitor_count: AtomicUsize::new(0),
        slowlog: SlowLog::default(),
        pause: Pause::default(),
        tracking: TrackingTable::default(),
        pubsub,
        keyspace_events,
        scripts: crate::commands::scripting::Scripts::default(),
        wakers: Mutex::new(Vec::new()),
        blocked_clients: AtomicUsize::new(0),
        woken_epoch: AtomicU64::new(0),
        block_order: crate::commands::block_order::BlockOrder::default(),
    });
    let cpus = shared.options.cpu_list.clone();
    let on_start: Arc<dyn Fn(usize) + Send + Sync> = Arc::new(move |index| {
        if let Some(cpus) = cpus.as_ref().filter(|cpus| !cpus.is_empty())
            && let Err(error) = pin_current_thread(&[cpus[index % cpus.len()]])
        {
            tracing::error!(%error, worker = index, "an event-loop thread runs unpinned");
        }
    });
    let metrics = match &shared.options.metrics_address {
        Some(address) => Some(MetricsEndpoint::start(address, Arc::clone(&shared))?),
        None => None,
    };
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
        metrics,
    })
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener, mut workers: Workers) {
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
fn register(
    shared: &Shared,
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
        last_command: AtomicU16::new(0),
        pushed: Mutex::new(crate::state::Pushed::default()),
        waker: OnceLock::new(),
        killed: AtomicBool::new(false),
        blocked: AtomicBool::new(false),
        unblock: std::sync::atomic::AtomicU8::new(0),
        subscriptions: crate::state::SubscriptionCounts::default(),
        resp3: AtomicBool::new(false),
        idle: AtomicBool::new(true),
        unread: Mutex::new(Vec::new()),
        has_unread: AtomicBool::new(false),
        state: Mutex::new(ClientState {
            user: bytes::Bytes::from_static(b"default"),
            name: None,
            library_name: None,
            library_version: None,
            database: 0,
            protocol: ProtocolVersion::Resp2,
            last_interaction: now,
            queued_commands: None,
            query_buffer_bytes: 0,
        }),
    });
    clients.insert(entry.id, Arc::clone(&entry));
    Ok(Some((entry, stream)))
}

//! What the server knows, shared by the accept thread, the event loops
//! and the commands: its options, its backend, the registry of
//! connections, its counters and kept parameters, and the stop signal.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use bytes::Bytes;

use crate::backend::{Backend, ClientId, DatabaseIndex};
use crate::commands::CommandId;
use crate::commands::config::ConfigTable;
use crate::resp::{Limits, ProtocolVersion};
use crate::stats::ServerStats;

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
    /// least 1). Default: [`io_threads_default`].
    pub io_threads: usize,
    /// CPUs the server's threads are pinned to (Redis `server-cpulist`):
    /// event-loop thread `i` to the `i`-th CPU of the list (round robin),
    /// the accept thread to the whole list. `None`: wherever the operating
    /// system schedules them.
    pub cpu_list: Option<Vec<usize>>,
    /// Where to serve Prometheus metrics over HTTP (`GET /metrics`,
    /// `host:port`; port 0 picks a free one). `None` (the default): no
    /// endpoint.
    pub metrics_address: Option<String>,
    /// The memory allocator INFO names (`mem_allocator`): the binary's
    /// choice, which this library cannot see. Default `libc`.
    pub mem_allocator: String,
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
            io_threads: io_threads_default(),
            cpu_list: None,
            metrics_address: None,
            mem_allocator: "libc".to_owned(),
        }
    }
}

/// Event loops when none are asked for: half the CPUs the process may
/// use, at least one. The other half is left to the engine's own threads
/// (the log's flush, the fold, checkpoints) and to whatever else runs on
/// the machine. Measured on 2 CPUs with redis-benchmark on the same
/// machine (three alternated runs of `benches/redis/run`, keel ÷
/// redis-server): one loop instead of two took GET -P16 from 0.70–0.96
/// to 1.02–1.43 and SET -P16 under `always` from 0.78–0.83 to 0.82–0.98,
/// and no case got slower beyond the runs' spread.
pub fn io_threads_default() -> usize {
    std::thread::available_parallelism().map_or(1, |cpus| (usize::from(cpus) / 2).max(1))
}

/// What CLIENT LIST shows of a connection, updated by its thread.
#[derive(Clone, Debug)]
pub(crate) struct ClientState {
    pub(crate) name: Option<Bytes>,
    pub(crate) library_name: Option<Bytes>,
    pub(crate) library_version: Option<Bytes>,
    pub(crate) database: DatabaseIndex,
    pub(crate) protocol: ProtocolVersion,
    pub(crate) last_interaction: Instant,
    pub(crate) queued_commands: Option<usize>,
    pub(crate) query_buffer_bytes: usize,
    /// Its ACL user's name (CLIENT LIST's `user`, CLIENT KILL USER).
    pub(crate) user: Bytes,
}

/// A registered connection.
#[derive(Debug)]
pub(crate) struct ClientEntry {
    pub(crate) id: ClientId,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) created: Instant,
    /// A clone of the connection's socket, to shut it down from outside.
    pub(crate) stream: TcpStream,
    /// The last command run (CLIENT LIST's `cmd`): its
    /// [`CommandId::index`] plus one, 0 for none; an atomic so that
    /// noting it per command takes no lock.
    pub(crate) last_command: AtomicU16,
    pub(crate) state: Mutex<ClientState>,
    /// Bytes other connections sent this one (MONITOR lines, tracking
    /// invalidations, pub/sub messages), for its event loop to write; at
    /// most [`PUSHED_BYTES_MAX`], or the bound given with them
    /// ([`ClientEntry::push_bounded`]).
    pub(crate) pushed: Mutex<Pushed>,
    /// How to wake the event loop serving this connection (set when one
    /// adopts it).
    pub(crate) waker: OnceLock<Waker>,
    /// CLIENT KILL chose it: its event loop closes it.
    pub(crate) killed: AtomicBool,
    /// Blocked in BLPOP or its kind.
    pub(crate) blocked: AtomicBool,
    /// CLIENT UNBLOCK's request: 0 none, 1 TIMEOUT, 2 ERROR.
    pub(crate) unblock: std::sync::atomic::AtomicU8,
    /// Its pub/sub subscriptions, as CLIENT LIST counts them (the
    /// registry, `net/pubsub.rs`, keeps them).
    pub(crate) subscriptions: SubscriptionCounts,
    /// It speaks RESP3 (HELLO 3): how what is pushed to it is encoded.
    pub(crate) resp3: AtomicBool,
    /// Its event loop holds nothing of it (no input not yet run, no output
    /// not yet written): a script busy on that loop may answer it directly
    /// (`commands/scripting/`).
    pub(crate) idle: AtomicBool,
    /// Bytes a busy script's loop read from its socket that are not yet a
    /// whole request: its connection reads them first
    /// ([`ClientEntry::keep_unread`], [`ClientEntry::take_unread`]).
    pub(crate) unread: Mutex<Vec<u8>>,
    /// `unread` may hold bytes: set and cleared under its lock, so that a
    /// read of the socket (every request's) takes the lock only then.
    pub(crate) has_unread: AtomicBool,
}

/// What was pushed to a connection and not yet taken by its event loop.
#[derive(Debug, Default)]
pub(crate) struct Pushed {
    pub(crate) bytes: Vec<u8>,
    /// Since when it has been over the soft limit of the bound it was
    /// pushed under ([`OutputLimit`]).
    over_soft_limit_since: Option<Instant>,
}

/// A connection's subscriptions by kind (CLIENT LIST's `sub`, `psub`,
/// `ssub`).
#[derive(Debug, Default)]
pub(crate) struct SubscriptionCounts {
    pub(crate) channels: AtomicUsize,
    pub(crate) patterns: AtomicUsize,
    pub(crate) shard_channels: AtomicUsize,
}

impl SubscriptionCounts {
    /// Whether the connection is in pub/sub mode (subscribed to
    /// anything).
    pub(crate) fn any(&self) -> bool {
        self.channels.load(Ordering::Relaxed) > 0
            || self.patterns.load(Ordering::Relaxed) > 0
            || self.shard_channels.load(Ordering::Relaxed) > 0
    }
}

/// A bound on what may wait for a connection that does not read (Redis's
/// `client-output-buffer-limit` of its class): past `hard_bytes`, or past
/// `soft_bytes` for longer than `soft_seconds`, it is closed. 0 bytes: no
/// bound of that kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutputLimit {
    pub(crate) hard_bytes: usize,
    pub(crate) soft_bytes: usize,
    pub(crate) soft_seconds: u64,
}

impl OutputLimit {
    /// The bound of MONITOR lines and invalidations.
    pub(crate) const PUSHED: OutputLimit = OutputLimit {
        hard_bytes: PUSHED_BYTES_MAX,
        soft_bytes: 0,
        soft_seconds: 0,
    };
}

/// Most bytes pushed to a connection and not yet taken by its event loop
/// (a MONITOR client that stopped reading, say); past it the connection
/// is closed, as Redis closes a client over its output buffer limit.
pub const PUSHED_BYTES_MAX: usize = 64 << 20;

/// A connection handed to an event loop, not yet registered with it.
pub(crate) type Handoff = (Arc<ClientEntry>, TcpStream);

/// Wakes an event loop to write what was pushed to one of its
/// connections, or to look at its paused ones again.
#[derive(Clone, Debug)]
pub(crate) struct Waker {
    pub(crate) wake: Arc<nix::sys::eventfd::EventFd>,
    /// Connections with pushed bytes waiting.
    pub(crate) pushed: Arc<Mutex<Vec<ClientId>>>,
    /// Connections handed to the loop and not yet adopted by it.
    pub(crate) inbox: Arc<Mutex<Vec<Handoff>>>,
}

impl Shared {
    /// Wakes every event loop (each then runs its blocked and paused
    /// clients again).
    pub(crate) fn wake_event_loops(&self) {
        for waker in lock(&self.wakers).iter() {
            waker.wake();
        }
    }
}

impl Waker {
    /// Wakes the event loop.
    pub(crate) fn wake(&self) {
        if let Err(errno) = self.wake.write(1) {
            tracing::error!(%errno, "cannot wake an event loop");
        }
    }
}

impl ClientEntry {
    pub(crate) fn state(&self) -> MutexGuard<'_, ClientState> {
        lock(&self.state)
    }

    /// Keeps `bytes` read from the socket by another than its connection,
    /// for the connection to read first.
    pub(crate) fn keep_unread(&self, unread: &mut MutexGuard<'_, Vec<u8>>, bytes: Vec<u8>) {
        **unread = bytes;
        self.has_unread.store(!unread.is_empty(), Ordering::Release);
    }

    /// Takes what [`ClientEntry::keep_unread`] kept (nothing, without a
    /// lock, when nothing was).
    pub(crate) fn take_unread(&self) -> Vec<u8> {
        if !self.has_unread.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut unread = lock(&self.unread);
        self.has_unread.store(false, Ordering::Release);
        std::mem::take(&mut *unread)
    }

    /// Sends `bytes` to this connection from elsewhere (in order with
    /// other pushes; between two of its own replies); `false` when the
    /// connection is over [`PUSHED_BYTES_MAX`] and is closed instead.
    pub(crate) fn push(&self, bytes: &[u8]) -> bool {
        self.push_bounded(bytes, OutputLimit::PUSHED)
    }

    /// [`ClientEntry::push`] under `limit`: what waits for the connection
    /// (pushed, not yet taken by its event loop, which takes nothing while
    /// the socket is full) past the bound closes it, and `bytes` are
    /// dropped. Never waits for the connection.
    pub(crate) fn push_bounded(&self, bytes: &[u8], limit: OutputLimit) -> bool {
        let first = {
            let mut pushed = lock(&self.pushed);
            if self.killed.load(Ordering::Relaxed) {
                return false;
            }
            let waiting = pushed.bytes.len() + bytes.len();
            let over_hard = limit.hard_bytes > 0 && waiting > limit.hard_bytes;
            let over_soft = if limit.soft_bytes > 0 && waiting > limit.soft_bytes {
                let since = *pushed
                    .over_soft_limit_since
                    .get_or_insert_with(Instant::now);
                since.elapsed() > std::time::Duration::from_secs(limit.soft_seconds)
            } else {
                pushed.over_soft_limit_since = None;
                false
            };
            if over_hard || over_soft {
                pushed.bytes = Vec::new();
                drop(pushed);
                tracing::warn!(
                    client = self.id,
                    waiting_bytes = waiting,
                    hard_limit_bytes = limit.hard_bytes,
                    soft_limit_bytes = limit.soft_bytes,
                    "closing a client that does not read what is pushed to it (output buffer limit)"
                );
                self.kill();
                return false;
            }
            let first = pushed.bytes.is_empty();
            pushed.bytes.extend_from_slice(bytes);
            first
        };
        if first && let Some(waker) = self.waker.get() {
            lock(&waker.pushed).push(self.id);
            waker.wake();
        }
        true
    }

    /// Takes what was pushed to this connection.
    pub(crate) fn take_pushed(&self) -> Vec<u8> {
        let mut pushed = lock(&self.pushed);
        pushed.over_soft_limit_since = None;
        std::mem::take(&mut pushed.bytes)
    }

    /// The protocol what is pushed to it is encoded in.
    pub(crate) fn protocol(&self) -> crate::resp::ProtocolVersion {
        if self.resp3.load(Ordering::Relaxed) {
            crate::resp::ProtocolVersion::Resp3
        } else {
            crate::resp::ProtocolVersion::Resp2
        }
    }

    /// Closes the connection from outside (CLIENT KILL): its event loop
    /// sees the socket shut and drops it.
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        // The peer may be gone already.
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Notes `id` as the last command run.
    pub(crate) fn note_command(&self, id: CommandId) {
        let number = u16::try_from(id.index() + 1).unwrap_or(0);
        self.last_command.store(number, Ordering::Relaxed);
    }

    /// The full name of the last command run (`NULL` before any).
    pub(crate) fn last_command(&self) -> &'static str {
        let number = usize::from(self.last_command.load(Ordering::Relaxed));
        number
            .checked_sub(1)
            .and_then(|index| CommandId::ALL.get(index))
            .map_or("NULL", |id| id.full_name())
    }

    /// The connection's CLIENT LIST line, in Redis's field order (fields
    /// keel has no counterpart for are left out or zero).
    pub(crate) fn line(&self) -> String {
        let now = Instant::now();
        let subscribed = self.subscriptions.any();
        let state = self.state();
        let text = |bytes: &Option<Bytes>| {
            bytes
                .as_ref()
                .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                .unwrap_or_default()
        };
        format!(
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={}{} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}\n",
            self.id,
            self.peer,
            self.local,
            text(&state.name),
            now.duration_since(self.created).as_secs(),
            now.duration_since(state.last_interaction).as_secs(),
            if subscribed { "P" } else { "" },
            if state.queued_commands.is_some() {
                "x"
            } else if subscribed {
                ""
            } else {
                "N"
            },
            state.database,
            self.subscriptions.channels.load(Ordering::Relaxed),
            self.subscriptions.patterns.load(Ordering::Relaxed),
            self.subscriptions.shard_channels.load(Ordering::Relaxed),
            state
                .queued_commands
                .map_or(-1, |count| i64::try_from(count).unwrap_or(i64::MAX)),
            state.query_buffer_bytes,
            self.last_command(),
            String::from_utf8_lossy(&state.user),
            state.protocol.number(),
            text(&state.library_name),
            text(&state.library_version),
        )
    }
}

/// State shared by the accept thread and every connection thread.
pub(crate) struct Shared {
    pub(crate) options: ServerOptions,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) local_address: SocketAddr,
    pub(crate) started: Instant,
    /// INFO's `run_id`: 40 random hex digits, new at every start.
    pub(crate) run_id: String,
    pub(crate) stats: ServerStats,
    /// Redis parameters kept for CONFIG GET and SET.
    pub(crate) config: ConfigTable,
    pub(crate) clients: Mutex<BTreeMap<ClientId, Arc<ClientEntry>>>,
    pub(crate) stop: Arc<StopSignal>,
    pub(crate) next_client_id: AtomicU64,
    /// The connections in MONITOR mode.
    pub(crate) monitors: Mutex<Vec<Arc<ClientEntry>>>,
    /// How many there are: checked per command without a lock.
    pub(crate) monitor_count: AtomicUsize,
    /// SLOWLOG.
    pub(crate) slowlog: crate::commands::slowlog::SlowLog,
    /// CLIENT PAUSE.
    pub(crate) pause: Pause,
    /// CLIENT TRACKING.
    pub(crate) tracking: crate::commands::tracking::TrackingTable,
    /// Pub/sub: who subscribes to what.
    pub(crate) pubsub: Arc<crate::net::pubsub::PubSub>,
    /// Keyspace notifications: the classes on, and the way the backend
    /// publishes (it holds the same).
    pub(crate) keyspace_events: Arc<crate::commands::notify::KeyspaceEvents>,
    /// Scripts: the cache and the running ones.
    pub(crate) scripts: crate::commands::scripting::Scripts,
    /// Every event loop's waker (CLIENT UNPAUSE wakes them all).
    pub(crate) wakers: Mutex<Vec<Waker>>,
    /// Clients blocked in BLPOP and its kind (INFO's `blocked_clients`).
    pub(crate) blocked_clients: AtomicUsize,
    /// The backend's write epoch the event loops were last woken for.
    pub(crate) woken_epoch: AtomicU64,
    /// The order blocked clients run again in (`block_order.rs`).
    pub(crate) block_order: crate::commands::block_order::BlockOrder,
    /// ACL: the users.
    pub(crate) users: crate::commands::acl::Users,
}

/// CLIENT PAUSE: until when, and whether reads are paused too.
#[derive(Debug, Default)]
pub(crate) struct Pause {
    /// Whether a pause may be in force (checked per command without a
    /// lock).
    active: AtomicBool,
    state: Mutex<Option<PauseState>>,
}

#[derive(Clone, Copy, Debug)]
struct PauseState {
    until: Instant,
    all: bool,
}

impl Pause {
    /// Pauses until `until` (a later end or a wider scope wins, as
    /// Redis's `pauseClients`).
    pub(crate) fn start(&self, until: Instant, all: bool) {
        let mut state = lock(&self.state);
        let merged = match *state {
            Some(old) => PauseState {
                until: old.until.max(until),
                all: old.all || all,
            },
            None => PauseState { until, all },
        };
        *state = Some(merged);
        self.active.store(true, Ordering::Release);
    }

    /// Ends the pause.
    pub(crate) fn stop(&self) {
        *lock(&self.state) = None;
        self.active.store(false, Ordering::Release);
    }

    /// Whether a pause may be in force (no lock).
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// When a command of these flags must wait: `None` if it may run now,
    /// else the end of the pause.
    pub(crate) fn holds(&self, writes: bool) -> Option<Instant> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        let mut state = lock(&self.state);
        let pause = (*state)?;
        if Instant::now() >= pause.until {
            *state = None;
            self.active.store(false, Ordering::Release);
            return None;
        }
        (pause.all || writes).then_some(pause.until)
    }
}

/// The flag that stops the accept loop, and how to wake it.
#[derive(Debug)]
pub(crate) struct StopSignal {
    pub(crate) stopping: AtomicBool,
    pub(crate) local_address: SocketAddr,
}

impl StopSignal {
    pub(crate) fn is_set(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub(crate) fn request(&self) {
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

impl Shared {
    /// Every registered connection, in id order.
    pub(crate) fn clients(&self) -> Vec<Arc<ClientEntry>> {
        lock(&self.clients).values().cloned().collect()
    }

    /// Asks the accept loop to stop and close every connection (SHUTDOWN).
    pub(crate) fn request_stop(&self) {
        self.stop.request();
    }
}

/// Hashes client ids (sequential numbers) for the maps keyed by them:
/// a multiplication spreads them over every bit (Fibonacci hashing),
/// which is all a map needs of ids no client chooses, at a fraction of
/// SipHash's cost.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ClientIdHasher(u64);

impl std::hash::Hasher for ClientIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0 ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Locks a mutex, recovering it if a panicking thread poisoned it: the
/// data guarded here (names, counters) stays meaningful.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

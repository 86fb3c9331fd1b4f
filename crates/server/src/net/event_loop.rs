//! The event-loop model: a fixed pool of worker threads, each with an
//! epoll instance, serving many non-blocking connections. The accept
//! thread hands each new connection to the next worker (round robin); a
//! worker reads from every ready socket, runs its complete requests
//! ([`Connection::process`], the same code as the thread-per-connection
//! model) and writes the replies, waiting for the socket to drain when a
//! write would block.
//!
//! Commands run on the worker: a command that waits (a durable commit
//! under `appendfsync always`, DEBUG SLEEP) holds up the worker's other
//! connections, as one Redis event loop does. So that they share commits
//! (and fsyncs), the pipelined data commands that every ready connection
//! of one epoll wait sent are gathered and run as one group
//! ([`Backend::execute_batch`](crate::Backend::execute_batch)), as Redis makes one fsync per event-loop
//! turn; each is still atomic, the group a serial order of them. Under
//! `appendfsync always` a group that writes goes to a commit thread
//! (`commit_pool.rs`) instead when the loop has lately served reads
//! ([`HAND_OVER_READ_TURNS`]), so the loop serves its other connections
//! while the group waits for its fsync, and the groups of the whole
//! process share fsyncs.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::commands::Request;
use crate::commands::client::After;
use crate::error::{Error, Result};
use crate::net::commit_pool::{COMMIT_THREADS, CommitPool, Completions, Finished, Job};
use crate::net::connection::{Connection, Progress, READ_CHUNK_BYTES, RETAINED_BUFFER_BYTES_MAX};
use crate::resp::EncodedReplies;
use crate::state::{ClientEntry, ClientIdHasher, Handoff, Shared, Waker, lock};

/// Ready events taken from epoll per wait.
pub const EVENTS_PER_WAIT: usize = 256;

/// Most commands of one group run by [`Backend::execute_batch`](crate::Backend::execute_batch) (whole
/// connections' pipelines are added until it is reached).
pub const BATCH_COMMANDS_MAX: usize = 1024;

/// Under `appendfsync always`, a loop hands a writing group to a commit
/// thread only if it ran a read-only group in this many turns: then reads
/// are served while the group waits for its fsync. A loop that only sees
/// writes has nothing to serve meanwhile, and waits in the commit itself,
/// sparing the two thread wake-ups a hand-over costs (about a fifth of
/// `always` SET's requests per second on the 2-core machine).
pub const HAND_OVER_READ_TURNS: u32 = 64;

/// The token of a worker's wake-up eventfd (client ids start at 1).
const WAKE_TOKEN: u64 = 0;

/// The stack of an event-loop thread: scripts run on it, and a script's
/// reply converts recursively up to `REPLY_DEPTH_MAX` levels (a table
/// nested in itself reaches it), which overflowed the default 2 MiB in
/// debug builds. Redis's main thread has the usual 8 MiB.
pub const WORKER_STACK_BYTES: usize = 8 << 20;

/// One worker as the accept thread sees it.
struct WorkerHandle {
    inbox: Arc<Mutex<Vec<Handoff>>>,
    wake: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
}

/// The worker pool.
pub(crate) struct Workers {
    workers: Vec<WorkerHandle>,
    stopping: Arc<AtomicBool>,
    next: usize,
    /// The commit threads, when a writing group waits for an fsync.
    pool: Option<Arc<CommitPool>>,
}

fn os_error(operation: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |errno| Error::Socket {
        operation,
        peer: None,
        source: std::io::Error::from(errno),
    }
}

impl Workers {
    /// Starts `count` workers (at least one) serving connections of
    /// `shared`; each runs `on_start` first (core pinning).
    pub(crate) fn start(
        shared: &Arc<Shared>,
        count: usize,
        on_start: &Arc<dyn Fn(usize) + Send + Sync>,
    ) -> Result<Workers> {
        let stopping = Arc::new(AtomicBool::new(false));
        let pool = if shared.backend.batch_waits_for_sync() {
            Some(Arc::new(CommitPool::start(shared, COMMIT_THREADS)?))
        } else {
            None
        };
        let mut workers = Vec::new();
        for index in 0..count.max(1) {
            let wake = Arc::new(
                EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
                    .map_err(os_error("eventfd"))?,
            );
            let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(os_error("epoll"))?;
            epoll
                .add(&*wake, EpollEvent::new(EpollFlags::EPOLLIN, WAKE_TOKEN))
                .map_err(os_error("epoll_ctl"))?;
            let inbox = Arc::new(Mutex::new(Vec::new()));
            let waker = Waker {
                wake: Arc::clone(&wake),
                pushed: Arc::new(Mutex::new(Vec::new())),
                inbox: Arc::clone(&inbox),
            };
            lock(&shared.wakers).push(waker.clone());
            let worker = Worker {
                waker,
                paused: Vec::new(),
                shared: Arc::clone(shared),
                epoll,
                wake: Arc::clone(&wake),
                inbox: Arc::clone(&inbox),
                stopping: Arc::clone(&stopping),
                connections: HashMap::default(),
                scratch: vec![0; READ_CHUNK_BYTES],
                group_requests: Vec::new(),
                group_replies: EncodedReplies::default(),
                pool: pool.clone(),
                completions: Arc::new(Completions::new(Arc::clone(&wake))),
                turns_since_read: HAND_OVER_READ_TURNS,
            };
            let on_start = Arc::clone(on_start);
            let thread = std::thread::Builder::new()
                .name(format!("keel-worker-{index}"))
                .stack_size(WORKER_STACK_BYTES)
                .spawn(move || {
                    on_start(index);
                    worker.run();
                })
                .map_err(|source| Error::Socket {
                    operation: "spawn",
                    peer: None,
                    source,
                })?;
            workers.push(WorkerHandle {
                inbox,
                wake,
                thread: Some(thread),
            });
        }
        Ok(Workers {
            workers,
            stopping,
            next: 0,
            pool,
        })
    }

    /// Gives a new connection to the next worker.
    pub(crate) fn hand_over(&mut self, entry: Arc<ClientEntry>, stream: TcpStream) {
        let worker = &self.workers[self.next % self.workers.len()];
        self.next = self.next.wrapping_add(1);
        lock(&worker.inbox).push((entry, stream));
        if let Err(errno) = worker.wake.write(1) {
            tracing::error!(%errno, "cannot wake a worker");
        }
    }

    /// Stops every worker (their connections are closed) and waits for
    /// them.
    pub(crate) fn stop(mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for worker in &self.workers {
            if let Err(errno) = worker.wake.write(1) {
                tracing::error!(%errno, "cannot wake a worker");
            }
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take()
                && thread.join().is_err()
            {
                tracing::error!("a worker thread panicked");
            }
        }
        // The workers held the other references; a job still queued runs
        // (its connection is gone) before the threads end.
        if let Some(pool) = self.pool.take().and_then(Arc::into_inner) {
            pool.stop();
        }
    }
}

/// A connection registered with a worker.
struct Served {
    stream: TcpStream,
    connection: Connection,
    /// Waiting for the socket to take the rest of the output (EPOLLOUT),
    /// not reading meanwhile.
    writing: bool,
    /// Its held-back commands are out with a commit thread: nothing else
    /// of it runs until their replies are back (what it sends is kept).
    in_flight: bool,
    /// The peer shut its side while commands were in flight: the replies
    /// owed, and those of what it sent before, are written, then the
    /// connection closes (as Redis answers what it read before an EOF).
    peer_closed: bool,
}

struct Worker {
    /// What other threads use to wake this loop (pushed bytes, UNPAUSE).
    waker: Waker,
    /// Connections CLIENT PAUSE holds.
    paused: Vec<u64>,
    shared: Arc<Shared>,
    epoll: Epoll,
    wake: Arc<EventFd>,
    inbox: Arc<Mutex<Vec<Handoff>>>,
    stopping: Arc<AtomicBool>,
    connections: HashMap<u64, Served, BuildHasherDefault<ClientIdHasher>>,
    /// Every socket is read into this, then its bytes appended to the
    /// connection's input: no read fills fresh memory first.
    scratch: Vec<u8>,
    /// The commands of a group being run, moved out of their connections,
    /// and their encoded replies (both kept for their memory).
    group_requests: Vec<Request>,
    group_replies: EncodedReplies,
    /// Where groups that write go under `appendfsync always`.
    pool: Option<Arc<CommitPool>>,
    /// The groups the commit threads ran for this loop.
    completions: Arc<Completions>,
    /// Turns since this loop last ran a read-only group (saturating).
    turns_since_read: u32,
}

/// What a connection needs after an event.
enum Next {
    Read,
    Write,
    Close,
}

fn interest(next: &Next, peer_closed: bool) -> EpollFlags {
    match (next, peer_closed) {
        // Once the peer shut its side, the end of its stream is no news
        // (and would be reported again at every wait).
        (Next::Write, true) => EpollFlags::EPOLLOUT,
        (Next::Write, false) => EpollFlags::EPOLLOUT | EpollFlags::EPOLLRDHUP,
        (_, true) => EpollFlags::empty(),
        (_, false) => EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP,
    }
}

impl Worker {
    fn run(mut self) {
        let mut events = vec![EpollEvent::empty(); EVENTS_PER_WAIT];
        let mut gathered: Vec<u64> = Vec::new();
        loop {
            let ready = match self.epoll.wait(&mut events, self.timeout()) {
                Ok(ready) => ready,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(errno) => {
                    tracing::error!(%errno, "epoll_wait failed; the worker stops");
                    break;
                }
            };
            gathered.clear();
            self.turns_since_read = self.turns_since_read.saturating_add(1);
            for event in &events[..ready] {
                if event.data() == WAKE_TOKEN {
                    // A spurious or coalesced wake-up leaves nothing to read.
                    let _ = self.wake.read();
                    self.adopt();
                    self.deliver_pushed();
                    self.finish_commits(&mut gathered);
                    continue;
                }
                self.receive(event.data(), event.events(), &mut gathered);
            }
            self.resume_paused();
            self.run_gathered(&gathered);
            self.scripts_last(&mut gathered);
            for &token in &gathered {
                self.pump(token);
            }
            self.wake_blocked();
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
        }
        let tokens: Vec<u64> = self.connections.keys().copied().collect();
        for token in tokens {
            self.close(token);
        }
    }

    /// Puts the connections about to run a script after the others ready
    /// this turn (in order otherwise): a script that runs long answers
    /// this loop's idle clients itself (BUSY, SCRIPT KILL), but not the
    /// requests the loop has read already from the connections after it,
    /// which would wait for its end — forever, for the SCRIPT KILL among
    /// them (Redis's "killed by SCRIPT KILL even when use pcall").
    fn scripts_last(&self, gathered: &mut [u64]) {
        let defers_script = |token: &u64| {
            self.connections
                .get(token)
                .is_some_and(|served| served.connection.defers_script())
        };
        // Nearly every turn has no script: no sort (it looked every
        // connection up about log n times).
        if gathered.iter().any(defers_script) {
            gathered.sort_by_key(defers_script);
        }
    }

    /// Runs a connection's buffered requests and writes the replies;
    /// notes it if CLIENT PAUSE holds it.
    fn pump(&mut self, token: u64) {
        let Some(served) = self.connections.get_mut(&token) else {
            return;
        };
        if served.in_flight {
            return;
        }
        let next = pump(served);
        if served.connection.paused_until().is_some() && !self.paused.contains(&token) {
            self.paused.push(token);
        }
        self.apply(token, next);
    }

    /// How long to wait for events: until the earliest pause ends, if a
    /// connection is held.
    fn timeout(&self) -> EpollTimeout {
        let earliest = self
            .paused
            .iter()
            .filter_map(|token| self.connections.get(token)?.connection.paused_until())
            .min();
        match earliest {
            None => EpollTimeout::NONE,
            Some(until) => {
                let wait = until.saturating_duration_since(Instant::now());
                // Round up, so the pause is over when the wait is.
                let wait = wait + std::time::Duration::from_micros(999);
                EpollTimeout::try_from(wait).unwrap_or(EpollTimeout::MAX)
            }
        }
    }

    /// Runs the held connections again once their pause may be over (it
    /// ended, or CLIENT UNPAUSE woke the loop).
    fn resume_paused(&mut self) {
        if self.paused.is_empty() {
            return;
        }
        let now = Instant::now();
        let due = !self.shared.pause.is_active()
            || self.paused.iter().any(|token| {
                self.connections
                    .get(token)
                    .and_then(|served| served.connection.paused_until())
                    .is_none_or(|until| until <= now)
            });
        if !due {
            return;
        }
        for token in std::mem::take(&mut self.paused) {
            self.pump(token);
        }
    }

    /// Wakes every event loop (this one too) when a transaction that wrote
    /// committed since they were last woken and some client is blocked:
    /// each then runs its blocked clients' commands again.
    fn wake_blocked(&self) {
        if self.shared.blocked_clients.load(Ordering::Acquire) == 0 {
            return;
        }
        let epoch = self.shared.backend.write_epoch();
        if self.shared.woken_epoch.fetch_max(epoch, Ordering::AcqRel) < epoch {
            for waker in lock(&self.shared.wakers).iter() {
                waker.wake();
            }
        }
    }

    /// Writes what other connections pushed to this loop's connections.
    fn deliver_pushed(&mut self) {
        let tokens = std::mem::take(&mut *lock(&self.waker.pushed));
        for token in tokens {
            let Some(served) = self.connections.get_mut(&token) else {
                continue;
            };
            if served.writing {
                // The socket is full: what was pushed waits with the
                // connection's entry, bounded there, until EPOLLOUT says
                // the rest went (`resume_writing`).
                continue;
            }
            served.connection.take_pushed();
            let next = match flush(served) {
                Ok(true) => Next::Read,
                Ok(false) => Next::Write,
                Err(_) => Next::Close,
            };
            self.apply(token, next);
        }
    }

    /// Registers the connections the accept thread handed over.
    fn adopt(&mut self) {
        let handoffs = std::mem::take(&mut *lock(&self.inbox));
        for (entry, stream) in handoffs {
            let token = entry.id;
            let registered = stream.set_nonblocking(true).is_ok()
                && self
                    .epoll
                    .add(
                        &stream,
                        EpollEvent::new(interest(&Next::Read, false), token),
                    )
                    .is_ok();
            if !registered {
                tracing::warn!(client = token, "cannot register a connection; closing it");
                let _ = stream.shutdown(std::net::Shutdown::Both);
                lock(&self.shared.clients).remove(&token);
                continue;
            }
            // Set once: a connection is adopted by one loop.
            let _ = entry.waker.set(self.waker.clone());
            let connection = Connection::new(&self.shared, &entry);
            self.connections.insert(
                token,
                Served {
                    stream,
                    connection,
                    writing: false,
                    in_flight: false,
                    peer_closed: false,
                },
            );
        }
    }

    /// Reads what a ready connection sent and holds back its pipelined
    /// data commands (`gathered` gets its token), or goes on writing.
    fn receive(&mut self, token: u64, flags: EpollFlags, gathered: &mut Vec<u64>) {
        let Some(served) = self.connections.get_mut(&token) else {
            return;
        };
        // From here until `apply`, a busy script must not answer it.
        served
            .connection
            .entry()
            .idle
            .store(false, Ordering::Release);
        if served.writing {
            let next = resume_writing(served, flags);
            self.apply(token, next);
            return;
        }
        if flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
            served.connection.take_unread();
            match served
                .connection
                .read_from(&mut served.stream, &mut self.scratch)
            {
                Ok(0) => return self.peer_closed(token),
                Ok(_) => {}
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    return;
                }
                Err(_) => return self.close(token),
            }
            if served.connection.query_buffer_exceeded() {
                return self.close(token);
            }
            if served.in_flight {
                // Kept until its group's replies are back.
                return;
            }
            served.connection.gather();
            if !gathered.contains(&token) {
                gathered.push(token);
            }
        } else if flags.contains(EpollFlags::EPOLLRDHUP) {
            self.peer_closed(token);
        }
    }

    /// The peer shut its side: the connection closes, unless replies are
    /// owed it from a commit thread — it then stops watching the socket
    /// for reading and closes once they and those of what it sent before
    /// are written ([`Worker::apply`]).
    fn peer_closed(&mut self, token: u64) {
        let Some(served) = self.connections.get_mut(&token) else {
            return;
        };
        if !served.in_flight {
            return self.close(token);
        }
        served.peer_closed = true;
        let mut event = EpollEvent::new(interest(&Next::Read, true), token);
        if self.epoll.modify(&served.stream, &mut event).is_err() {
            self.close(token);
        }
    }

    /// Runs the held-back commands of the gathered connections in groups
    /// of at most [`BATCH_COMMANDS_MAX`] commands (a connection alone runs
    /// them through its session).
    fn run_gathered(&mut self, gathered: &[u64]) {
        let mut group: Vec<u64> = Vec::new();
        let mut group_commands = 0;
        for &token in gathered {
            let count = self
                .connections
                .get(&token)
                .map_or(0, |served| served.connection.pipeline_len());
            if count == 0 {
                continue;
            }
            if !group.is_empty() && group_commands + count > BATCH_COMMANDS_MAX {
                self.run_group(&group);
                group.clear();
                group_commands = 0;
            }
            group.push(token);
            group_commands += count;
        }
        if !group.is_empty() {
            self.run_group(&group);
        }
    }

    fn run_group(&mut self, group: &[u64]) {
        if self.pool.is_some() {
            if !self.group_writes(group) {
                self.turns_since_read = 0;
            } else if self.turns_since_read < HAND_OVER_READ_TURNS {
                return self.hand_over_group(group);
            }
        }
        if let [token] = group {
            if let Some(served) = self.connections.get_mut(token) {
                served.connection.run_held_back();
            }
            return;
        }
        // The commands move (not copy) into one vector, in group order, and
        // back out to their connections' replies.
        let mut commands = std::mem::take(&mut self.group_requests);
        let mut counts = Vec::with_capacity(group.len());
        for token in group {
            let before = commands.len();
            if let Some(served) = self.connections.get_mut(token) {
                served.connection.take_pipeline(&mut commands);
            }
            counts.push(commands.len() - before);
        }
        let started = std::time::Instant::now();
        let mut replies = std::mem::take(&mut self.group_replies);
        replies.clear();
        let ran = self.shared.backend.execute_batch(&commands, &mut replies);
        let usec = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let usec_each = usec / u64::try_from(commands.len().max(1)).unwrap_or(1);
        let mut taken = commands.drain(..);
        match ran {
            true if replies.len() == taken.len() => {
                let mut replies = replies.iter();
                for (token, &count) in group.iter().zip(&counts) {
                    let requests = taken.by_ref().take(count);
                    let usec = usec_each * u64::try_from(count).unwrap_or(0);
                    match self.connections.get_mut(token) {
                        Some(served) => served.connection.deliver(requests, &mut replies, usec),
                        None => requests.zip(replies.by_ref()).for_each(drop),
                    }
                }
            }
            _ => {
                // Each connection runs its own through its session.
                for (token, &count) in group.iter().zip(&counts) {
                    let requests = taken.by_ref().take(count);
                    match self.connections.get_mut(token) {
                        Some(served) => {
                            served.connection.restore_pipeline(requests);
                            served.connection.run_held_back();
                        }
                        None => requests.for_each(drop),
                    }
                }
            }
        }
        drop(taken);
        self.group_requests = commands;
        replies.clear();
        replies.shrink_to(RETAINED_BUFFER_BYTES_MAX);
        self.group_replies = replies;
    }

    /// Whether a command of the group may write (and so, under `always`,
    /// waits for an fsync).
    fn group_writes(&self, group: &[u64]) -> bool {
        group.iter().any(|token| {
            self.connections
                .get(token)
                .is_some_and(|served| served.connection.pipeline_writes())
        })
    }

    /// Moves the group's commands to a commit thread; its connections run
    /// nothing more until [`Worker::finish_commits`] has their replies.
    fn hand_over_group(&mut self, group: &[u64]) {
        let Some(pool) = &self.pool else {
            return;
        };
        let mut requests = Vec::new();
        let mut counts = Vec::with_capacity(group.len());
        for token in group {
            let before = requests.len();
            if let Some(served) = self.connections.get_mut(token) {
                served.connection.take_pipeline(&mut requests);
                served.in_flight = true;
            }
            counts.push(requests.len() - before);
        }
        pool.submit(Job {
            tokens: group.to_vec(),
            counts,
            requests,
            done: Arc::clone(&self.completions),
        });
    }

    /// Delivers the replies of the groups the commit threads ran, writes
    /// them, and gathers what each connection sent meanwhile (`gathered`
    /// gets its token, so the rest of its requests run this turn).
    fn finish_commits(&mut self, gathered: &mut Vec<u64>) {
        for finished in self.completions.take() {
            let Finished {
                tokens,
                counts,
                requests,
                replies,
                first,
                ran,
                usec,
            } = finished;
            let usec_each = usec / u64::try_from(replies.len().max(1)).unwrap_or(1);
            let mut taken = requests.into_iter();
            let mut replies = replies.iter().skip(first);
            for (&token, &count) in tokens.iter().zip(&counts) {
                let requests = taken.by_ref().take(count);
                let Some(served) = self.connections.get_mut(&token) else {
                    // Closed meanwhile: its requests and replies are dropped.
                    requests.for_each(drop);
                    if ran {
                        replies.by_ref().take(count).for_each(drop);
                    }
                    continue;
                };
                served.in_flight = false;
                if ran {
                    let usec = usec_each * u64::try_from(count).unwrap_or(0);
                    served.connection.deliver(requests, &mut replies, usec);
                } else {
                    served.connection.restore_pipeline(requests);
                    served.connection.run_held_back();
                }
                match flush(served) {
                    Ok(true) => {
                        served.connection.gather();
                        if !gathered.contains(&token) {
                            gathered.push(token);
                        }
                    }
                    Ok(false) => self.apply(token, Next::Write),
                    Err(_) => self.close(token),
                }
            }
        }
    }

    /// Sets what epoll watches a connection for, or closes it.
    fn apply(&mut self, token: u64, next: Next) {
        let Some(served) = self.connections.get_mut(&token) else {
            return;
        };
        let was_writing = served.writing;
        let finished = served.peer_closed && !served.in_flight && matches!(next, Next::Read);
        match next {
            Next::Close => self.close(token),
            Next::Read if finished => self.close(token),
            Next::Write | Next::Read => {
                let writing = matches!(next, Next::Write);
                if writing != was_writing {
                    served.writing = writing;
                    let mut event = EpollEvent::new(interest(&next, served.peer_closed), token);
                    if self.epoll.modify(&served.stream, &mut event).is_err() {
                        self.close(token);
                        return;
                    }
                }
                let idle = !writing && !served.in_flight && served.connection.is_idle();
                served
                    .connection
                    .entry()
                    .idle
                    .store(idle, Ordering::Release);
            }
        }
    }

    fn close(&mut self, token: u64) {
        if let Some(served) = self.connections.remove(&token) {
            let _ = self.epoll.delete(&served.stream);
            // The peer may be gone already.
            let _ = served.stream.shutdown(std::net::Shutdown::Both);
        }
        self.paused.retain(|&paused| paused != token);
        crate::commands::monitor::forget(&self.shared, token);
        self.shared.tracking.disable(token);
        self.shared.pubsub.forget(token);
        lock(&self.shared.clients).remove(&token);
    }
}

/// Goes on writing the output of a connection the socket could not take
/// at once; once it has, runs the requests that remain.
fn resume_writing(served: &mut Served, flags: EpollFlags) -> Next {
    if flags.intersects(EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
        return Next::Close;
    }
    match flush(served) {
        Ok(true) => {}
        Ok(false) => return Next::Write,
        Err(_) => return Next::Close,
    }
    // What was pushed while the socket was full.
    served.connection.take_pushed();
    match flush(served) {
        Ok(true) => {}
        Ok(false) => return Next::Write,
        Err(_) => return Next::Close,
    }
    if served.connection.after() != After::Continue {
        return Next::Close;
    }
    // Requests may remain from before the output filled up.
    pump(served)
}

/// Runs the buffered requests and writes their replies until the input
/// holds no complete request or the socket is full.
fn pump(served: &mut Served) -> Next {
    loop {
        let progress = served.connection.process();
        if served.connection.after() == After::CloseSilently {
            return Next::Close;
        }
        match flush(served) {
            Ok(true) => {}
            Ok(false) => return Next::Write,
            Err(_) => return Next::Close,
        }
        if progress == Progress::Drained {
            break;
        }
    }
    if served.connection.after() == After::Close {
        Next::Close
    } else {
        Next::Read
    }
}

/// Writes as much output as the socket takes: `Ok(true)` when all of it.
fn flush(served: &mut Served) -> std::io::Result<bool> {
    while !served.connection.output().is_empty() {
        match served.stream.write(served.connection.output()) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => served.connection.output_consumed(written),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(true)
}

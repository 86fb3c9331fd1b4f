//! Commit threads for the event loops under `appendfsync always`: a loop
//! hands a group of pipelined data commands that may write to a thread of
//! this pool, which runs it ([`Backend::execute_batch`]: commands, commit,
//! fsync) and hands the replies back, waking the loop. Meanwhile the loop
//! goes on reading and running its other connections, and hands their
//! next group over too, so the log's group commit joins the commits of
//! several groups — of every loop — in one fsync, where a loop that waited
//! for each of its commits got one group per fsync.
//!
//! A commit thread takes every group queued when it is free (up to
//! [`BATCH_COMMANDS_MAX`] commands) and runs them as one transaction: the
//! groups that loops handed over while the threads were busy share a
//! commit, not only an fsync.
//!
//! A connection whose group is out runs nothing else until its replies
//! are back (its input is read and kept), so its replies keep their order
//! and a later request sees its earlier writes; the replies of a write go
//! out only after [`Backend::execute_batch`] returned, i.e. once the
//! commit is durable.
//!
//! [`Backend::execute_batch`]: crate::Backend::execute_batch

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use nix::sys::eventfd::EventFd;

use crate::commands::Request;
use crate::error::{Error, Result};
use crate::net::event_loop::BATCH_COMMANDS_MAX;
use crate::resp::EncodedReplies;
use crate::state::{Shared, lock};

/// Threads that run handed-over groups: while one waits for its fsync,
/// another runs the next groups' commands and appends their commit, which
/// the log's group commit syncs next. More threads would take groups as
/// they come, one commit each, where fewer let them queue and share one.
pub const COMMIT_THREADS: usize = 2;

/// A commit thread's stack: data commands only (no scripts), but some
/// recurse (SORT, nested replies); Redis's main thread has 8 MiB.
const COMMIT_THREAD_STACK_BYTES: usize = 8 << 20;

/// A group handed over: its connections' tokens with how many of the
/// requests (in order) are each one's.
pub(crate) struct Job {
    pub(crate) tokens: Vec<u64>,
    pub(crate) counts: Vec<usize>,
    pub(crate) requests: Vec<Request>,
    /// Where the result goes.
    pub(crate) done: Arc<Completions>,
}

/// A group run: the job's requests and the replies of the transaction it
/// ran in, the job's from `first` on; `ran` false when the groups could
/// not run as one (each connection then runs its own through its
/// session).
pub(crate) struct Finished {
    pub(crate) tokens: Vec<u64>,
    pub(crate) counts: Vec<usize>,
    pub(crate) requests: Vec<Request>,
    pub(crate) replies: Arc<EncodedReplies>,
    pub(crate) first: usize,
    pub(crate) ran: bool,
    pub(crate) usec: u64,
}

/// The groups of one event loop that came back, and its wake-up.
pub(crate) struct Completions {
    finished: Mutex<Vec<Finished>>,
    wake: Arc<EventFd>,
}

impl Completions {
    /// Completions that wake the loop through `wake`.
    pub(crate) fn new(wake: Arc<EventFd>) -> Completions {
        Completions {
            finished: Mutex::new(Vec::new()),
            wake,
        }
    }

    /// The groups that came back since the last call.
    pub(crate) fn take(&self) -> Vec<Finished> {
        std::mem::take(&mut *lock(&self.finished))
    }

    fn push(&self, finished: Finished) {
        lock(&self.finished).push(finished);
        if let Err(errno) = self.wake.write(1) {
            tracing::error!(%errno, "cannot wake an event loop");
        }
    }
}

struct Queue {
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
    stopping: AtomicBool,
}

/// The pool: [`CommitPool::submit`] from any loop.
pub(crate) struct CommitPool {
    queue: Arc<Queue>,
    threads: Vec<JoinHandle<()>>,
}

impl CommitPool {
    /// Starts `threads` commit threads running groups on `shared`'s backend.
    pub(crate) fn start(shared: &Arc<Shared>, threads: usize) -> Result<CommitPool> {
        let queue = Arc::new(Queue {
            jobs: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            stopping: AtomicBool::new(false),
        });
        let mut handles = Vec::new();
        for index in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            let shared = Arc::clone(shared);
            let handle = std::thread::Builder::new()
                .name(format!("keel-commit-{index}"))
                .stack_size(COMMIT_THREAD_STACK_BYTES)
                .spawn(move || serve(&queue, &shared))
                .map_err(|source| Error::Socket {
                    operation: "spawn",
                    peer: None,
                    source,
                })?;
            handles.push(handle);
        }
        Ok(CommitPool {
            queue,
            threads: handles,
        })
    }

    /// Hands `job` to the next free commit thread.
    pub(crate) fn submit(&self, job: Job) {
        lock(&self.queue.jobs).push_back(job);
        self.queue.ready.notify_one();
    }

    /// Runs what is queued, then stops the threads and waits for them.
    pub(crate) fn stop(mut self) {
        self.signal_stop();
        for thread in std::mem::take(&mut self.threads) {
            if thread.join().is_err() {
                tracing::error!("a commit thread panicked");
            }
        }
    }

    fn signal_stop(&self) {
        self.queue.stopping.store(true, Ordering::SeqCst);
        self.queue.ready.notify_all();
    }
}

impl Drop for CommitPool {
    /// A pool dropped without [`CommitPool::stop`] (a start that failed
    /// later) still lets its threads end once the queue is empty.
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// A commit thread: runs queued groups until the pool stops and nothing
/// is queued.
fn serve(queue: &Queue, shared: &Shared) {
    while let Some(jobs) = take_jobs(queue) {
        run(jobs, shared);
    }
}

/// Waits for a queued job and takes it with those queued behind it, up to
/// [`BATCH_COMMANDS_MAX`] commands; `None` once the pool stops and
/// nothing is queued.
fn take_jobs(queue: &Queue) -> Option<Vec<Job>> {
    let mut jobs = lock(&queue.jobs);
    while jobs.is_empty() {
        if queue.stopping.load(Ordering::SeqCst) {
            return None;
        }
        jobs = queue
            .ready
            .wait(jobs)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
    let mut taken = Vec::new();
    let mut commands = 0;
    while let Some(job) = jobs.front() {
        if !taken.is_empty() && commands + job.requests.len() > BATCH_COMMANDS_MAX {
            break;
        }
        commands += job.requests.len();
        taken.extend(jobs.pop_front());
    }
    Some(taken)
}

/// Runs `jobs` as one group and hands each its part.
fn run(mut jobs: Vec<Job>, shared: &Shared) {
    let started = Instant::now();
    let mut requests = Vec::new();
    let mut sizes = Vec::with_capacity(jobs.len());
    for job in &mut jobs {
        sizes.push(job.requests.len());
        requests.append(&mut job.requests);
    }
    let mut replies = EncodedReplies::default();
    let ran =
        shared.backend.execute_batch(&requests, &mut replies) && replies.len() == requests.len();
    if !ran {
        replies.clear();
    }
    let usec = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let replies = Arc::new(replies);
    let mut requests = requests.into_iter();
    let mut first = 0;
    for (job, size) in jobs.into_iter().zip(sizes) {
        job.done.push(Finished {
            tokens: job.tokens,
            counts: job.counts,
            requests: requests.by_ref().take(size).collect(),
            replies: Arc::clone(&replies),
            first,
            ran,
            usec,
        });
        first += size;
    }
}

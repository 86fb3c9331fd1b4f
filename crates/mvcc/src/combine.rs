//! [`Combiner`]: a lock whose waiters hand their work to whoever holds it
//! (flat combining, as RocksDB's write-group leader does). The sequencer
//! is one: a committer queues its commit and tries the lock; the thread
//! that gets it runs every queued commit, then (outside the lock) makes
//! them durable together and hands each its result. A committer whose
//! commit another ran sleeps once, until its result comes, instead of
//! queueing on the lock and then again on the log.
//!
//! No queued job is stranded: every release of the lock (by a combiner or
//! by a plain [`Combiner::lock`] holder) nudges the owner of the first job
//! still queued, which then tries the lock itself. An owner whose `try_lock`
//! failed queued its job before trying, so either the holder's check after
//! its release sees the job, or the release came before the try — which
//! then fails only because another thread took the lock, whose release
//! checks in turn.
//!
//! Public (hidden) for the loom model in `tests/loom_combine.rs`.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, TryLockError};

use crate::sync::{Condvar, Mutex, MutexGuard, lock, wait};

/// A lock around `S` whose waiters queue jobs of type `J` for the holder,
/// each answered with an `R`.
#[derive(Debug)]
pub struct Combiner<S, J, R> {
    state: Mutex<S>,
    queue: Mutex<Vec<Arc<Queued<J, R>>>>,
}

/// A job in the queue (or taken from it), and where its result goes.
#[derive(Debug)]
pub struct Queued<J, R> {
    job: J,
    outcome: Mutex<Outcome<R>>,
    changed: Condvar,
}

#[derive(Debug)]
enum Outcome<R> {
    /// No result yet; `nudged`: the owner should try the lock again;
    /// `asleep`: the owner waits on the condition variable (only then is
    /// it signalled: a signal is a system call).
    Waiting {
        nudged: bool,
        asleep: bool,
    },
    Done(R),
    /// The owner took the result.
    Taken,
}

/// The lock, held: derefs to the state. Dropping it releases the lock and
/// nudges the owner of the first job still queued.
pub struct Held<'a, S, J, R> {
    guard: Option<MutexGuard<'a, S>>,
    combiner: &'a Combiner<S, J, R>,
}

impl<S, J, R> Combiner<S, J, R> {
    /// A combiner around `state`, with no job queued.
    pub fn new(state: S) -> Combiner<S, J, R> {
        Combiner {
            state: Mutex::new(state),
            queue: Mutex::new(Vec::new()),
        }
    }

    /// Takes the lock, waiting for it (queued jobs stay for the next
    /// combiner; the release nudges one).
    pub fn lock(&self) -> Held<'_, S, J, R> {
        Held {
            guard: Some(lock(&self.state)),
            combiner: self,
        }
    }

    /// The state, through exclusive access.
    pub fn get_mut(&mut self) -> &mut S {
        self.state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `job` and returns its result: run by `combine` on this
    /// thread, if it takes the lock first, or by another thread's. Each
    /// call of `combine` gets the lock held, must take the queued jobs
    /// ([`Held::take_queued`]) and [`Queued::finish`] every job it takes.
    /// A `combine` that panics leaves the jobs it took unfinished and
    /// their owners waiting for good: the sequencer's asserts are bugs
    /// that would stop every later commit anyway (a timestamp that never
    /// finishes holds the watermark back).
    pub fn run(&self, job: J, mut combine: impl FnMut(Held<'_, S, J, R>)) -> R {
        let queued = Arc::new(Queued {
            job,
            outcome: Mutex::new(Outcome::Waiting {
                nudged: false,
                asleep: false,
            }),
            changed: Condvar::new(),
        });
        lock(&self.queue).push(Arc::clone(&queued));
        loop {
            if let Some(held) = self.try_lock() {
                combine(held);
                if let Some(result) = queued.take_done() {
                    return result;
                }
                // Another combiner took the job before this one ran: it
                // finishes it.
            }
            if let Some(result) = queued.wait() {
                return result;
            }
        }
    }

    fn try_lock(&self) -> Option<Held<'_, S, J, R>> {
        let guard = match self.state.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        Some(Held {
            guard: Some(guard),
            combiner: self,
        })
    }
}

impl<S, J, R> Held<'_, S, J, R> {
    /// Takes every job queued now, oldest first; the caller must finish
    /// each.
    pub fn take_queued(&self) -> Vec<Arc<Queued<J, R>>> {
        std::mem::take(&mut *lock(&self.combiner.queue))
    }
}

impl<S, J, R> Deref for Held<'_, S, J, R> {
    type Target = S;

    fn deref(&self) -> &S {
        self.guard.as_deref().expect("held until dropped")
    }
}

impl<S, J, R> DerefMut for Held<'_, S, J, R> {
    fn deref_mut(&mut self) -> &mut S {
        self.guard.as_deref_mut().expect("held until dropped")
    }
}

impl<S, J, R> Drop for Held<'_, S, J, R> {
    fn drop(&mut self) {
        drop(self.guard.take());
        if let Some(first) = lock(&self.combiner.queue).first() {
            first.nudge();
        }
    }
}

impl<J, R> Queued<J, R> {
    /// The job.
    pub fn job(&self) -> &J {
        &self.job
    }

    /// Hands the job's result to its owner.
    pub fn finish(&self, result: R) {
        let mut outcome = lock(&self.outcome);
        let asleep = match *outcome {
            Outcome::Waiting { asleep, .. } => asleep,
            _ => unreachable!("a job finished twice"),
        };
        *outcome = Outcome::Done(result);
        drop(outcome);
        if asleep {
            self.changed.notify_one();
        }
    }

    /// Asks the owner to try the lock (it is free, or its holder will
    /// nudge again on release).
    fn nudge(&self) {
        let mut outcome = lock(&self.outcome);
        if let Outcome::Waiting { nudged, asleep } = &mut *outcome {
            *nudged = true;
            let asleep = *asleep;
            drop(outcome);
            if asleep {
                self.changed.notify_one();
            }
        }
    }

    /// The result, if there is one.
    fn take_done(&self) -> Option<R> {
        let mut outcome = lock(&self.outcome);
        match std::mem::replace(&mut *outcome, Outcome::Taken) {
            Outcome::Done(result) => Some(result),
            waiting => {
                *outcome = waiting;
                None
            }
        }
    }

    /// Waits for the result (`Some`) or a nudge (`None`).
    fn wait(&self) -> Option<R> {
        let mut outcome = lock(&self.outcome);
        loop {
            match std::mem::replace(&mut *outcome, Outcome::Taken) {
                Outcome::Done(result) => return Some(result),
                Outcome::Waiting { nudged: true, .. } => {
                    *outcome = Outcome::Waiting {
                        nudged: false,
                        asleep: false,
                    };
                    return None;
                }
                Outcome::Waiting { nudged: false, .. } => {
                    *outcome = Outcome::Waiting {
                        nudged: false,
                        asleep: true,
                    };
                    outcome = wait(&self.changed, outcome);
                }
                Outcome::Taken => unreachable!("the result is taken once"),
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

    use super::*;

    /// A combine that runs each job (adds it to the state) and answers
    /// with the state after it.
    fn add(mut held: Held<'_, u64, u64, u64>) {
        for queued in held.take_queued() {
            *held += *queued.job();
            queued.finish(*held);
        }
    }

    #[test]
    fn a_lone_job_runs_on_its_own_thread() {
        let combiner = Combiner::new(10u64);
        assert_eq!(combiner.run(5, add), 15);
        assert_eq!(*combiner.lock(), 15);
    }

    #[test]
    fn every_job_of_many_threads_runs_once() {
        let combiner = Combiner::new(0u64);
        let results: Vec<Vec<u64>> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| (0..500).map(|_| combiner.run(1, add)).collect()))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(*combiner.lock(), 8 * 500);
        let mut all: Vec<u64> = results.into_iter().flatten().collect();
        all.sort_unstable();
        assert_eq!(all, (1..=8 * 500).collect::<Vec<u64>>(), "each result once");
    }

    #[test]
    fn a_plain_holder_releasing_lets_a_queued_job_run() {
        let combiner = Combiner::new(0u64);
        let held = combiner.lock();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| combiner.run(7, add));
            // The waiter's try fails while the lock is held; the release
            // must nudge it (a lost nudge hangs this test).
            while lock(&combiner.queue).is_empty() {
                std::thread::yield_now();
            }
            drop(held);
            assert_eq!(waiter.join().unwrap(), 7);
        });
    }
}

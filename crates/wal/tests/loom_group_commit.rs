//! Loom models of the group-commit protocol (`src/group_commit.rs`), the
//! real code over a fake disk: appenders race to append and wait durable,
//! one becomes leader, the others wait or lead the next flush.
//!
//! Checked in every interleaving: one flush at a time; records reach the
//! disk in append order, each once; a wait that returns Ok means the record
//! is durable; a failure is latched and returned to every later waiter.
#![cfg(loom)]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::time::Duration;

use keel_wal::Lsn;
use keel_wal::group_commit::{Flusher, GroupCommit};
use loom::sync::Arc;
use loom::sync::Mutex;
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Default)]
struct FakeDisk {
    writing: AtomicBool,
    written: Mutex<Vec<u64>>,
    durable_end: AtomicU64,
    writes: AtomicU64,
    /// The write with this number fails (u64::MAX: none).
    fail_write: u64,
}

impl Flusher for FakeDisk {
    type Buffer = Vec<u64>;
    type Batch = Vec<u64>;
    type Error = &'static str;

    fn take(&self, buffer: &mut Vec<u64>) -> Vec<u64> {
        std::mem::take(buffer)
    }

    fn write(&self, batch: Vec<u64>, sync: bool, end: Lsn) -> Result<(), &'static str> {
        assert!(
            !self.writing.swap(true, Ordering::SeqCst),
            "two leaders at once"
        );
        let number = self.writes.fetch_add(1, Ordering::SeqCst);
        let result = if number == self.fail_write {
            Err("injected")
        } else {
            let mut written = self.written.lock().unwrap();
            for lsn in batch {
                assert_eq!(lsn, written.len() as u64 + 1, "append order, each once");
                written.push(lsn);
            }
            assert_eq!(
                written.len() as u64 + 1,
                end.0,
                "a flush covers every record before end"
            );
            if sync {
                self.durable_end.store(end.0, Ordering::SeqCst);
            }
            Ok(())
        };
        self.writing.store(false, Ordering::SeqCst);
        result
    }
}

fn append(log: &GroupCommit<Vec<u64>, &'static str>) -> Lsn {
    let mut tail = log.lock();
    let lsn = tail.next_lsn;
    tail.next_lsn = lsn.next();
    tail.buffer.push(lsn.0);
    lsn
}

/// A disk that never fails, a log, and `count` threads that each append
/// one record and wait for it to be durable, checking that it is (and
/// written) on return.
#[allow(clippy::type_complexity)]
fn committers(
    count: usize,
) -> (
    Arc<FakeDisk>,
    Arc<GroupCommit<Vec<u64>, &'static str>>,
    Vec<loom::thread::JoinHandle<()>>,
) {
    let disk = Arc::new(FakeDisk {
        fail_write: u64::MAX,
        ..FakeDisk::default()
    });
    let log = Arc::new(GroupCommit::new(Vec::new(), Lsn::FIRST));
    let threads = (0..count)
        .map(|_| {
            let (disk, log) = (disk.clone(), log.clone());
            loom::thread::spawn(move || {
                let lsn = append(&log);
                log.flush_through(disk.as_ref(), lsn.next(), true, Duration::ZERO)
                    .unwrap();
                assert!(
                    disk.durable_end.load(Ordering::SeqCst) > lsn.0,
                    "durable on return"
                );
                assert!(disk.written.lock().unwrap().contains(&lsn.0));
            })
        })
        .collect();
    (disk, log, threads)
}

#[test]
fn waiters_return_only_once_durable_and_flushes_never_overlap() {
    loom::model(|| {
        let (disk, log, threads) = committers(2);
        // A third party asks only for records to be written, not synced.
        let lsn = append(&log);
        log.flush_through(disk.as_ref(), lsn.next(), false, Duration::ZERO)
            .unwrap();
        assert!(disk.written.lock().unwrap().contains(&lsn.0));
        for thread in threads {
            thread.join().unwrap();
        }
        let tail = log.lock();
        assert!(!tail.flushing);
        assert!(tail.durable_end.0 >= 2);
    });
}

#[test]
fn a_failed_flush_is_latched_for_every_waiter() {
    loom::model(|| {
        let disk = Arc::new(FakeDisk {
            fail_write: 0,
            ..FakeDisk::default()
        });
        let log = Arc::new(GroupCommit::new(Vec::new(), Lsn::FIRST));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (disk, log) = (disk.clone(), log.clone());
                loom::thread::spawn(move || {
                    let lsn = append(&log);
                    let result = log.flush_through(disk.as_ref(), lsn.next(), true, Duration::ZERO);
                    if result.is_ok() {
                        assert!(disk.durable_end.load(Ordering::SeqCst) > lsn.0);
                    }
                    result
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        // The first write failed, so the first flush failed: whoever it
        // covered got the error, and so did everyone after the latch.
        assert!(results.iter().any(Result::is_err));
        let tail = log.lock();
        assert_eq!(tail.failed, Some("injected"));
        drop(tail);
        let lsn = append(&log);
        assert_eq!(
            log.flush_through(disk.as_ref(), lsn.next(), true, Duration::ZERO),
            Err("injected")
        );
    });
}

/// Three committers: whoever appends while a flush runs sleeps until the
/// flush after it, and only one of them is woken to lead that one; the
/// others must still be woken when it ends (a lost wake-up is a loom
/// deadlock).
#[test]
fn committers_arriving_during_a_flush_are_led_by_one_of_them() {
    loom::model(|| {
        let (disk, log, threads) = committers(3);
        for thread in threads {
            thread.join().unwrap();
        }
        let tail = log.lock();
        assert!(!tail.flushing);
        assert_eq!(tail.durable_end, Lsn(4));
        assert_eq!(disk.written.lock().unwrap().len(), 3);
    });
}

//! Loom models of the group-commit protocol (`src/group_commit.rs`), the
//! real code over a fake disk: appenders race to append and wait durable;
//! one leader writes at a time, and syncs overlap.
//!
//! Checked in every interleaving: one writer at a time; records reach the
//! disk in append order, each once; a sync starts only after every record
//! it covers was written, in a slot no running sync holds, at most
//! `SYNCS_IN_FLIGHT_MAX` at once; a batch that starts a segment is written
//! while no sync runs; a wait that returns Ok means the record is durable
//! (a successful sync started after it was written); after a failed write
//! or sync nothing is reported durable again, and the failure is returned
//! to every later caller. A lost wake-up shows as a deadlock, which loom
//! reports. Counters outside loom show that the models reach two syncs in
//! flight ending in either order, and a later sync succeeding beside an
//! earlier failed one.
#![cfg(loom)]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::sync::atomic::AtomicBool as SeenFlag;
use std::time::Duration;

use keel_wal::Lsn;
use keel_wal::group_commit::{Flusher, GroupCommit, SYNCS_IN_FLIGHT_MAX, SyncStart};
use loom::sync::Arc;
use loom::sync::Mutex;
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Seen in some interleaving (loom's executions run one after another).
static OVERLAP_FIRST_ENDS_FIRST: SeenFlag = SeenFlag::new(false);
static OVERLAP_LATER_ENDS_FIRST: SeenFlag = SeenFlag::new(false);
static LATER_SUCCEEDED_BESIDE_FAILED: SeenFlag = SeenFlag::new(false);

const NONE: u64 = u64::MAX;

#[derive(Default)]
struct DiskState {
    written: Vec<u64>,
    /// Every record before this was covered by a successful sync.
    durable_end: u64,
    /// Syncs running, by slot.
    running: Vec<usize>,
    /// Syncs ended so far.
    ended: u64,
}

struct FakeDisk {
    writing: AtomicBool,
    state: Mutex<DiskState>,
    writes: AtomicU64,
    /// The write with this number fails (NONE: none).
    fail_write: u64,
    /// The first sync started (the one after which the log was durable
    /// only before `Lsn::FIRST`) fails.
    fail_first_sync: bool,
    /// A batch holding this record starts a segment (NONE: none).
    segment_starts_at: u64,
}

impl FakeDisk {
    fn new(fail_write: u64, fail_first_sync: bool, segment_starts_at: u64) -> Self {
        FakeDisk {
            writing: AtomicBool::new(false),
            state: Mutex::new(DiskState::default()),
            writes: AtomicU64::new(0),
            fail_write,
            fail_first_sync,
            segment_starts_at,
        }
    }

    fn durable_end(&self) -> u64 {
        self.state.lock().unwrap().durable_end
    }
}

impl Flusher for FakeDisk {
    type Buffer = Vec<u64>;
    type Batch = Vec<u64>;
    type Error = &'static str;

    fn take(&self, buffer: &mut Vec<u64>) -> Vec<u64> {
        std::mem::take(buffer)
    }

    fn starts_segment(&self, batch: &Vec<u64>) -> bool {
        batch.contains(&self.segment_starts_at)
    }

    fn write(&self, batch: Vec<u64>, end: Lsn) -> Result<(), &'static str> {
        assert!(
            !self.writing.swap(true, Ordering::SeqCst),
            "two writers at once"
        );
        let number = self.writes.fetch_add(1, Ordering::SeqCst);
        let result = if number == self.fail_write {
            Err("injected write")
        } else {
            let mut state = self.state.lock().unwrap();
            if self.starts_segment(&batch) {
                assert!(
                    state.running.is_empty(),
                    "a segment starts while a sync runs"
                );
            }
            for lsn in batch {
                assert_eq!(
                    lsn,
                    state.written.len() as u64 + 1,
                    "append order, each once"
                );
                state.written.push(lsn);
            }
            assert_eq!(
                state.written.len() as u64 + 1,
                end.0,
                "a write covers every record before end"
            );
            Ok(())
        };
        self.writing.store(false, Ordering::SeqCst);
        result
    }

    fn sync(&self, sync: SyncStart) -> Result<(), &'static str> {
        let first = sync.start == Lsn::FIRST;
        {
            let mut state = self.state.lock().unwrap();
            assert!(
                state.written.len() as u64 + 1 >= sync.end.0,
                "a sync starts after what it covers is written"
            );
            assert!(sync.slot < SYNCS_IN_FLIGHT_MAX);
            assert!(!state.running.contains(&sync.slot), "two syncs in one slot");
            state.running.push(sync.slot);
            assert!(state.running.len() <= SYNCS_IN_FLIGHT_MAX);
        }
        // Here the sync runs: other threads may write and start syncs.
        let mut state = self.state.lock().unwrap();
        state.running.retain(|slot| *slot != sync.slot);
        if state.ended == 0 && !state.running.is_empty() {
            // Two syncs overlap and this one ends first.
            let flag = if first {
                &OVERLAP_FIRST_ENDS_FIRST
            } else {
                &OVERLAP_LATER_ENDS_FIRST
            };
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        state.ended += 1;
        if first && self.fail_first_sync {
            return Err("injected sync");
        }
        if self.fail_first_sync {
            // This sync succeeds beside an earlier one that failed (or
            // will): it covers that one's records too.
            LATER_SUCCEEDED_BESIDE_FAILED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        state.durable_end = state.durable_end.max(sync.end.0);
        Ok(())
    }
}

type Log = GroupCommit<Vec<u64>, &'static str>;

fn append(log: &Log) -> Lsn {
    let mut tail = log.lock();
    let lsn = tail.next_lsn;
    tail.next_lsn = lsn.next();
    tail.buffer.push(lsn.0);
    lsn
}

fn commit(log: &Log, disk: &FakeDisk) -> Result<Lsn, &'static str> {
    let lsn = append(log);
    log.flush_through(disk, lsn.next(), true, Duration::ZERO)?;
    assert!(disk.durable_end() > lsn.0, "durable on return");
    Ok(lsn)
}

#[test]
fn overlapping_syncs_report_only_durable_records() {
    loom::model(|| {
        let disk = Arc::new(FakeDisk::new(NONE, false, NONE));
        let log = Arc::new(GroupCommit::new(Vec::new(), Lsn::FIRST));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (disk, log) = (disk.clone(), log.clone());
                loom::thread::spawn(move || commit(&log, &disk).unwrap())
            })
            .collect();
        // A third party asks only for records to be written, not synced.
        let lsn = append(&log);
        log.flush_through(disk.as_ref(), lsn.next(), false, Duration::ZERO)
            .unwrap();
        assert!(disk.state.lock().unwrap().written.contains(&lsn.0));
        for thread in threads {
            thread.join().unwrap();
        }
        let tail = log.lock();
        assert!(tail.idle());
        assert!(tail.durable_end.0 <= disk.durable_end());
        assert!(tail.durable_end.0 >= 3);
    });
    assert!(OVERLAP_FIRST_ENDS_FIRST.load(std::sync::atomic::Ordering::Relaxed));
    assert!(OVERLAP_LATER_ENDS_FIRST.load(std::sync::atomic::Ordering::Relaxed));
}

#[test]
fn a_segment_starts_only_once_no_sync_runs() {
    loom::model(|| {
        // Whichever batch holds record 2 creates a segment.
        let disk = Arc::new(FakeDisk::new(NONE, false, 2));
        let log = Arc::new(GroupCommit::new(Vec::new(), Lsn::FIRST));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (disk, log) = (disk.clone(), log.clone());
                loom::thread::spawn(move || commit(&log, &disk).unwrap())
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(log.lock().idle());
        assert_eq!(log.lock().durable_end.0, 3);
    });
}

#[test]
fn a_failed_sync_poisons_every_later_one() {
    loom::model(|| {
        // The first sync fails; a later one, covering the same records
        // and more, may succeed meanwhile: nothing is reported durable.
        let disk = Arc::new(FakeDisk::new(NONE, true, NONE));
        let log = Arc::new(GroupCommit::new(Vec::new(), Lsn::FIRST));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (disk, log) = (disk.clone(), log.clone());
                loom::thread::spawn(move || commit(&log, &disk))
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap(), Err("injected sync"));
        }
        let tail = log.lock();
        assert_eq!(tail.failed, Some("injected sync"));
        assert_eq!(tail.durable_end, Lsn::FIRST, "nothing reported durable");
        assert!(tail.idle());
        drop(tail);
        assert_eq!(commit(&log, &disk), Err("injected sync"));
    });
    assert!(LATER_SUCCEEDED_BESIDE_FAILED.load(std::sync::atomic::Ordering::Relaxed));
}

#[test]
fn a_failed_write_is_latched_for_every_waiter() {
    loom::model(|| {
        let disk = Arc::new(FakeDisk::new(0, false, NONE));
        let log = Arc::new(GroupCommit::new(Vec::new(), Lsn::FIRST));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (disk, log) = (disk.clone(), log.clone());
                loom::thread::spawn(move || commit(&log, &disk))
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        // The first write failed: whoever it covered got the error, and so
        // did everyone after the latch.
        assert!(results.iter().any(Result::is_err));
        let tail = log.lock();
        assert_eq!(tail.failed, Some("injected write"));
        drop(tail);
        assert_eq!(commit(&log, &disk), Err("injected write"));
    });
}

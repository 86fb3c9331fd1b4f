//! Loom models of the visible watermark (`src/watermark.rs`), the real
//! code on loom's mutex, condition variable and atomics: commits finishing
//! out of timestamp order while readers load the watermark.
//!
//! Checked in every interleaving: the watermark only passes a timestamp
//! after its commit's state is final (so a reader never sees part of a
//! write set, nor a pending version below its read timestamp); it never
//! moves backwards; a commit waiting for the watermark to reach it is woken.
#![cfg(loom)]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::sync::Arc;

use keel_mvcc::CommitState;
use keel_mvcc::chain::CommitStatus;
use keel_mvcc::watermark::Watermark;
use keel_tso::Timestamp;
use loom::thread;

fn at(raw: u64) -> Timestamp {
    Timestamp::from_u64(raw)
}

#[test]
fn the_watermark_passes_only_finished_commits() {
    loom::model(|| {
        let watermark = Arc::new(Watermark::new(at(0)));
        let statuses: Vec<Arc<CommitStatus>> =
            (0..2).map(|_| Arc::new(CommitStatus::pending())).collect();
        watermark.begin(at(1));
        watermark.begin(at(2));
        let committers: Vec<_> = (0..2)
            .map(|index| {
                let watermark = Arc::clone(&watermark);
                let status = Arc::clone(&statuses[index]);
                thread::spawn(move || {
                    // The second commit's log fails: it finishes aborted.
                    if index == 0 {
                        status.commit();
                    } else {
                        status.abort();
                    }
                    watermark.finish(at(index as u64 + 1));
                })
            })
            .collect();
        let first = watermark.visible();
        for (index, status) in statuses.iter().enumerate() {
            if at(index as u64 + 1) <= first {
                assert_ne!(
                    status.state(),
                    CommitState::Pending,
                    "passed a pending commit"
                );
            }
        }
        let second = watermark.visible();
        assert!(second >= first, "the watermark went backwards");
        for committer in committers {
            committer.join().unwrap();
        }
        assert_eq!(watermark.visible(), at(2));
        assert_eq!(watermark.in_flight(), 0);
    });
}

#[test]
fn a_commit_waiting_for_the_watermark_is_woken() {
    loom::model(|| {
        let watermark = Arc::new(Watermark::new(at(0)));
        watermark.begin(at(1));
        watermark.begin(at(2));
        let later = {
            let watermark = Arc::clone(&watermark);
            thread::spawn(move || {
                watermark.finish(at(2));
                // Acknowledged only once the earlier commit is finished too.
                watermark.wait_visible(at(2));
                assert_eq!(watermark.visible(), at(2));
            })
        };
        watermark.finish(at(1));
        watermark.wait_visible(at(1));
        assert!(watermark.visible() >= at(1));
        later.join().unwrap();
    });
}

/// A watermark with two pending commits in flight, at timestamps 1 and 2,
/// attached at log positions 0 and 1.
fn attached_pair() -> (Arc<Watermark>, Vec<Arc<CommitStatus>>) {
    let watermark = Arc::new(Watermark::new(at(0)));
    let statuses: Vec<Arc<CommitStatus>> =
        (0..2).map(|_| Arc::new(CommitStatus::pending())).collect();
    for (index, status) in statuses.iter().enumerate() {
        let timestamp = at(index as u64 + 1);
        watermark.begin(timestamp);
        watermark.attach(timestamp, index as u64, Arc::clone(status) as _);
    }
    (watermark, statuses)
}

/// Two commits covered by one sync, each finishing as
/// `TransactionManager::sequence_commit` does (settle what the sync
/// covered, mark its own state, finish, wait to be visible), while a
/// reader loads the watermark: whichever comes back first finishes both,
/// the other finds itself finished; the watermark never passes a pending
/// commit, and both are acknowledged.
#[test]
fn a_committer_settles_the_commits_its_sync_covered() {
    loom::model(|| {
        let (watermark, statuses) = attached_pair();
        let committers: Vec<_> = (0..2)
            .map(|index| {
                let watermark = Arc::clone(&watermark);
                let status = Arc::clone(&statuses[index]);
                thread::spawn(move || {
                    let timestamp = at(index as u64 + 1);
                    watermark.settle(|position| position < 2);
                    status.commit();
                    watermark.finish(timestamp);
                    watermark.wait_visible(timestamp);
                    assert_eq!(status.state(), CommitState::Committed);
                })
            })
            .collect();
        let seen = watermark.visible();
        for (index, status) in statuses.iter().enumerate() {
            if at(index as u64 + 1) <= seen {
                assert_eq!(
                    status.state(),
                    CommitState::Committed,
                    "passed a pending commit"
                );
            }
        }
        for committer in committers {
            committer.join().unwrap();
        }
        assert_eq!((watermark.visible(), watermark.in_flight()), (at(2), 0));
    });
}

/// A commit whose log wait failed is withdrawn (aborted, then finished)
/// while a later one settles: the later never passes before the earlier's
/// state is final, and a withdrawn commit is never seen committed.
#[test]
fn a_withdrawn_commit_is_never_passed_pending() {
    loom::model(|| {
        let (watermark, statuses) = attached_pair();
        let failed = {
            let watermark = Arc::clone(&watermark);
            let status = Arc::clone(&statuses[0]);
            thread::spawn(move || {
                assert!(watermark.withdraw(at(1), || status.abort()));
            })
        };
        let later = {
            let watermark = Arc::clone(&watermark);
            let status = Arc::clone(&statuses[1]);
            thread::spawn(move || {
                // Only position 1 is durable.
                watermark.settle(|position| position == 1);
                status.commit();
                watermark.finish(at(2));
                watermark.wait_visible(at(2));
            })
        };
        if watermark.visible() >= at(1) {
            assert_eq!(statuses[0].state(), CommitState::Aborted);
        }
        failed.join().unwrap();
        later.join().unwrap();
        assert_eq!(statuses[0].state(), CommitState::Aborted);
        assert_eq!(watermark.visible(), at(2));
    });
}

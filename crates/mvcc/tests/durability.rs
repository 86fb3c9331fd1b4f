//! A commit is acknowledged only once its record is durable as the commit
//! asked, also when another thread ran it in a combined batch beside
//! commits that asked for less. The log here is a model of the engine's:
//! a commit's hint says whether it asks a sync, a wait on a ticket that
//! asks none returns at once, and a sync makes every record before it
//! durable.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use keel_mvcc::testing::{MemoryBase, test_oracle};
use keel_mvcc::{
    BoxError, CommitLog, Isolation, LogRecord, LogTicket, MvccOptions, TransactionManager,
};
use parking_lot::Mutex;

/// The hint of a commit that asks a sync.
const SYNC: u8 = 1;
/// A ticket's top bit: its commit asks a sync.
const ASKS_SYNC: u64 = 1 << 63;

/// Records are numbered from 1; `synced` is the number of the last one a
/// sync made durable.
#[derive(Default)]
struct SyncingLog {
    state: Mutex<LogState>,
}

#[derive(Default)]
struct LogState {
    appended: u64,
    synced: u64,
    /// Each commit's record, by transaction id.
    positions: HashMap<u64, u64>,
}

impl SyncingLog {
    fn synced(&self) -> u64 {
        self.state.lock().synced
    }

    fn position(&self, transaction_id: u64) -> u64 {
        self.state.lock().positions[&transaction_id]
    }
}

impl CommitLog for SyncingLog {
    fn append(&self, record: LogRecord<'_>) -> Result<LogTicket, BoxError> {
        let LogRecord::Commit {
            transaction_id,
            hint,
            ..
        } = record
        else {
            return Err("only commits are expected".into());
        };
        let mut state = self.state.lock();
        state.appended += 1;
        let position = state.appended;
        state.positions.insert(transaction_id, position);
        let asks_sync = if hint == SYNC { ASKS_SYNC } else { 0 };
        Ok(LogTicket(position | asks_sync))
    }

    fn wait_durable(&self, ticket: LogTicket) -> Result<(), BoxError> {
        if ticket.0 & ASKS_SYNC == 0 {
            return Ok(());
        }
        // An fsync's time, for other committers to queue behind.
        thread::sleep(Duration::from_micros(50));
        let mut state = self.state.lock();
        state.synced = state.synced.max(ticket.0 & !ASKS_SYNC);
        Ok(())
    }
}

#[test]
fn a_commit_that_asks_a_sync_is_synced_when_acknowledged_whatever_its_batch_holds() {
    let log = Arc::new(SyncingLog::default());
    let manager = Arc::new(
        TransactionManager::new(
            Arc::new(MemoryBase::new()),
            log.clone(),
            test_oracle(),
            MvccOptions::default(),
        )
        .unwrap(),
    );
    const THREADS: u64 = 4;
    const COMMITS: u64 = 400;
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (manager, log) = (manager.clone(), log.clone());
            thread::spawn(move || {
                let mut unsynced = 0;
                for n in 0..COMMITS {
                    let mut transaction = manager.begin(Isolation::Snapshot);
                    // Odd threads ask no sync: batches mix the two.
                    let asks_sync = thread % 2 == 0;
                    if asks_sync {
                        transaction.set_log_hint(SYNC);
                    }
                    let key = format!("{thread}/{n}");
                    transaction.put(key.as_bytes(), "v".into()).unwrap();
                    let info = transaction.commit().unwrap();
                    if asks_sync && log.synced() < log.position(info.transaction_id) {
                        unsynced += 1;
                    }
                }
                unsynced
            })
        })
        .collect();
    let unsynced: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(
        unsynced, 0,
        "commits that asked a sync were acknowledged before it"
    );
}

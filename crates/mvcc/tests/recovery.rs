//! Recovery (replaying the log's write sets into the delta, resuming the
//! watermark and the oracle) and prepared transactions (two-phase commit),
//! including restoring them after a crash.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::sync::Arc;

use common::{bytes, fixture, put_all, read, scan};
use keel_mvcc::testing::{LoggedRecord, MemoryBase, MemoryLog, test_oracle};
use keel_mvcc::{
    Change, ConflictKind, Direction, Error, Isolation, MvccOptions, Recovery, TransactionManager,
    WriteSet,
};
use keel_tso::Timestamp;

/// Replays `records` as the engine would: commits, and prepares decided by
/// a later record; undecided prepares are restored.
fn replay(recovery: &mut Recovery, records: &[LoggedRecord]) {
    let mut prepared = std::collections::BTreeMap::new();
    for record in records {
        match record {
            LoggedRecord::Commit {
                transaction_id,
                commit_timestamp,
                writes,
            } => {
                recovery
                    .replay_commit(*transaction_id, *commit_timestamp, writes.clone())
                    .unwrap();
            }
            LoggedRecord::Prepare {
                transaction_id,
                prepare_timestamp,
                writes,
            } => {
                prepared.insert(*transaction_id, (*prepare_timestamp, writes.clone()));
            }
            LoggedRecord::CommitPrepared {
                transaction_id,
                commit_timestamp,
            } => {
                let (_, writes) = prepared.remove(transaction_id).unwrap();
                recovery
                    .replay_commit(*transaction_id, *commit_timestamp, writes)
                    .unwrap();
            }
            LoggedRecord::AbortPrepared { transaction_id } => {
                prepared.remove(transaction_id).unwrap();
            }
        }
    }
    for (transaction_id, (prepare_timestamp, writes)) in prepared {
        recovery
            .restore_prepared(transaction_id, prepare_timestamp, writes)
            .unwrap();
    }
}

/// A manager recovered from `log` over `base` (holding the state at
/// `fold_point`), with a fresh oracle as after a restart.
fn recover(
    base: Arc<MemoryBase>,
    log: &MemoryLog,
    fold_point: Timestamp,
) -> (TransactionManager, Arc<MemoryLog>) {
    let new_log = Arc::new(MemoryLog::new());
    let mut recovery = TransactionManager::recover(
        base,
        new_log.clone(),
        test_oracle(),
        MvccOptions::default(),
        fold_point,
    );
    replay(&mut recovery, &log.records());
    (recovery.finish().unwrap(), new_log)
}

#[test]
fn replay_restores_every_committed_write_set() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "1"), ("b", "1")]);
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.delete(b"a").unwrap();
    transaction
        .put_expiring(b"ttl", bytes("x"), u64::MAX)
        .unwrap();
    transaction.commit().unwrap();
    let Some(LoggedRecord::Commit {
        commit_timestamp: last,
        ..
    }) = fixture.log.records().last().cloned()
    else {
        panic!("expected a commit record");
    };
    let (recovered, _) = recover(Arc::new(MemoryBase::new()), &fixture.log, Timestamp::ZERO);
    assert_eq!(recovered.visible_watermark(), last);
    let mut reader = recovered.begin(Isolation::Serializable);
    assert_eq!(
        scan(&mut reader, Direction::Forward),
        [
            ("b".to_string(), "1".to_string()),
            ("ttl".to_string(), "x".to_string())
        ]
    );
    assert_eq!(
        reader.get_entry(b"ttl").unwrap().unwrap().expires_at_ms,
        Some(u64::MAX)
    );
    // New commits take timestamps above every replayed one.
    put_all(&recovered, &[("c", "1")]);
    assert!(recovered.visible_watermark() > last);
    assert!(recovered.check().is_ok());
}

#[test]
fn replay_skips_what_the_base_already_holds_and_is_idempotent() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "1")]);
    put_all(&fixture.manager, &[("a", "2"), ("b", "2")]);
    fixture
        .manager
        .fold(fixture.manager.safe_point(), &mut fixture.base.sink())
        .unwrap();
    let fold_point = fixture.base.fold_point();
    put_all(&fixture.manager, &[("c", "3")]);
    // Recover twice from the same base and log: the same state.
    for _ in 0..2 {
        let (recovered, _) = recover(fixture.base.clone(), &fixture.log, fold_point);
        let stats = recovered.stats();
        assert_eq!(stats.delta_versions, 1, "only the commit after the fold");
        assert_eq!(stats.fold_point, fold_point);
        let mut reader = recovered.begin(Isolation::Serializable);
        assert_eq!(scan(&mut reader, Direction::Forward).len(), 3);
        assert_eq!(reader.get(b"a").unwrap(), Some(bytes("2")));
    }
}

#[test]
fn replay_out_of_order_is_refused() {
    let mut recovery = TransactionManager::recover(
        Arc::new(MemoryBase::new()),
        Arc::new(MemoryLog::new()),
        test_oracle(),
        MvccOptions::default(),
        Timestamp::ZERO,
    );
    let writes = WriteSet::new(vec![keel_mvcc::WriteEntry {
        key: bytes("k"),
        change: Change::Delete,
    }])
    .unwrap();
    assert!(
        recovery
            .replay_commit(1, Timestamp::from_u64(10), writes.clone())
            .unwrap()
    );
    assert!(matches!(
        recovery.replay_commit(2, Timestamp::from_u64(10), writes.clone()),
        Err(Error::ReplayOutOfOrder { .. })
    ));
    assert_eq!(recovery.last_replayed(), Timestamp::from_u64(10));
    let manager = recovery.finish().unwrap();
    assert_eq!(manager.visible_watermark(), Timestamp::from_u64(10));
}

#[test]
fn recovery_resumes_the_oracle_above_the_log() {
    let far_future = Timestamp::new(keel_tso::PHYSICAL_MAX_MS / 2, 0).unwrap();
    let oracle = test_oracle();
    let mut recovery = TransactionManager::recover(
        Arc::new(MemoryBase::new()),
        Arc::new(MemoryLog::new()),
        oracle.clone(),
        MvccOptions::default(),
        Timestamp::ZERO,
    );
    let writes = WriteSet::new(vec![keel_mvcc::WriteEntry {
        key: bytes("k"),
        change: Change::Delete,
    }])
    .unwrap();
    recovery.replay_commit(7, far_future, writes).unwrap();
    let manager = recovery.finish().unwrap();
    assert!(oracle.last_issued() >= far_future);
    let mut transaction = manager.begin(Isolation::Serializable);
    assert!(transaction.id() > 7);
    transaction.put(b"k", bytes("v")).unwrap();
    let info = transaction.commit().unwrap();
    assert!(info.commit_timestamp.unwrap() > far_future);
}

#[test]
fn prepared_transactions_commit_and_abort() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "0")]);
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.get(b"a").unwrap();
    transaction.put(b"b", bytes("prepared")).unwrap();
    let prepared = transaction.prepare().unwrap();
    let id = prepared.id();
    assert_eq!(fixture.manager.prepared_transaction_ids(), [id]);
    // Invisible until committed.
    assert_eq!(read(&fixture.manager, "b"), None);
    // It holds its writes and (serializable) its reads.
    for key in ["a", "b"] {
        let mut other = fixture.manager.begin(Isolation::Snapshot);
        other.put(key.as_bytes(), bytes("other")).unwrap();
        let error = other.commit().unwrap_err();
        assert!(
            matches!(error, Error::Conflict { kind: ConflictKind::HeldByPrepared { transaction_id }, .. } if transaction_id == id),
            "{error}"
        );
    }
    // Unrelated keys commit.
    put_all(&fixture.manager, &[("c", "free")]);
    let info = prepared.commit().unwrap();
    assert!(info.commit_timestamp.is_some());
    assert_eq!(read(&fixture.manager, "b").as_deref(), Some("prepared"));
    assert!(fixture.manager.prepared_transaction_ids().is_empty());
    put_all(&fixture.manager, &[("a", "after")]);

    let mut transaction = fixture.manager.begin(Isolation::Snapshot);
    transaction.put(b"d", bytes("never")).unwrap();
    let prepared = transaction.prepare().unwrap();
    prepared.abort().unwrap();
    assert_eq!(read(&fixture.manager, "d"), None);
    put_all(&fixture.manager, &[("d", "free")]);
    let kinds: Vec<&str> = fixture
        .log
        .records()
        .iter()
        .map(|record| match record {
            LoggedRecord::Commit { .. } => "commit",
            LoggedRecord::Prepare { .. } => "prepare",
            LoggedRecord::CommitPrepared { .. } => "commit-prepared",
            LoggedRecord::AbortPrepared { .. } => "abort-prepared",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "commit",
            "prepare",
            "commit",
            "commit-prepared",
            "commit",
            "prepare",
            "abort-prepared",
            "commit"
        ]
    );
}

#[test]
fn prepare_validates_like_commit() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "0")]);
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.get(b"a").unwrap();
    transaction.put(b"b", bytes("1")).unwrap();
    put_all(&fixture.manager, &[("a", "1")]);
    assert!(transaction.prepare().unwrap_err().is_conflict());
    assert!(fixture.manager.prepared_transaction_ids().is_empty());
}

#[test]
fn dropped_prepared_handles_can_be_resumed() {
    let fixture = fixture();
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.put(b"k", bytes("v")).unwrap();
    let id = transaction.prepare().unwrap().id();
    let resumed = fixture.manager.resume_prepared(id).unwrap();
    assert!(
        fixture.manager.resume_prepared(id).is_none(),
        "one handle at a time"
    );
    assert_eq!(resumed.writes().len(), 1);
    resumed.commit().unwrap();
    assert_eq!(read(&fixture.manager, "k").as_deref(), Some("v"));
    assert!(fixture.manager.resume_prepared(id).is_none());
}

#[test]
fn undecided_prepared_transactions_are_restored_after_recovery() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "0")]);
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.put(b"held", bytes("v")).unwrap();
    let prepared = transaction.prepare().unwrap();
    let id = prepared.id();
    let prepare_timestamp = prepared.prepare_timestamp();
    drop(prepared); // "crash" before the decision
    let (recovered, new_log) = recover(Arc::new(MemoryBase::new()), &fixture.log, Timestamp::ZERO);
    assert_eq!(recovered.prepared_transaction_ids(), [id]);
    assert_eq!(recovered.stats().prepared, 1);
    // Its writes are held again.
    let mut other = recovered.begin(Isolation::Serializable);
    other.put(b"held", bytes("other")).unwrap();
    assert!(other.commit().unwrap_err().is_conflict());
    let restored = recovered.resume_prepared(id).unwrap();
    assert_eq!(restored.prepare_timestamp(), prepare_timestamp);
    restored.commit().unwrap();
    assert_eq!(read(&recovered, "held").as_deref(), Some("v"));
    assert!(matches!(
        new_log.records().last(),
        Some(LoggedRecord::CommitPrepared { transaction_id, .. }) if *transaction_id == id
    ));
    // Restoring the same id twice is refused.
    let mut recovery = TransactionManager::recover(
        Arc::new(MemoryBase::new()),
        Arc::new(MemoryLog::new()),
        test_oracle(),
        MvccOptions::default(),
        Timestamp::ZERO,
    );
    recovery
        .restore_prepared(9, Timestamp::from_u64(1), WriteSet::default())
        .unwrap();
    assert!(matches!(
        recovery.restore_prepared(9, Timestamp::from_u64(2), WriteSet::default()),
        Err(Error::PreparedExists { transaction_id: 9 })
    ));
}

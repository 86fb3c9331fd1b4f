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
            LoggedRecord::Prepare { transaction_id, .. } => {
                prepared.insert(*transaction_id, record.clone());
            }
            LoggedRecord::CommitPrepared {
                transaction_id,
                commit_timestamp,
            } => {
                let Some(LoggedRecord::Prepare { writes, .. }) = prepared.remove(transaction_id)
                else {
                    panic!("a decision without its prepare");
                };
                recovery
                    .replay_commit(*transaction_id, *commit_timestamp, writes)
                    .unwrap();
            }
            LoggedRecord::AbortPrepared { transaction_id } => {
                prepared.remove(transaction_id).unwrap();
                recovery.note_transaction_id(*transaction_id);
            }
        }
    }
    for record in prepared.into_values() {
        let LoggedRecord::Prepare {
            transaction_id,
            prepare_timestamp,
            global_id,
            writes,
            reads,
        } = record
        else {
            unreachable!("only prepares are kept");
        };
        recovery
            .restore_prepared(transaction_id, prepare_timestamp, global_id, writes, reads)
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

/// A serializable transaction may not prepare over a key, or a range, that
/// a transaction already prepared writes: that one may commit first, above
/// what this one read, and this one's commit is not validated again. Once
/// allowed, this history had a cycle: the reader prepared, the writer
/// committed, then the reader committed after it without having seen its
/// write (found by `tests/concurrency.rs`'s history check).
#[test]
fn a_prepare_that_read_what_a_prepared_transaction_writes_is_refused() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "0"), ("m", "0")]);
    let mut writer = fixture.manager.begin(Isolation::Serializable);
    writer.put(b"a", bytes("1")).unwrap();
    writer.put(b"m", bytes("1")).unwrap();
    let writer = writer.prepare().unwrap();
    let writer_id = writer.id();

    let mut by_key = fixture.manager.begin(Isolation::Serializable);
    assert_eq!(by_key.get(b"a").unwrap(), Some(bytes("0")));
    by_key.put(b"b", bytes("saw a=0")).unwrap();
    let error = by_key.prepare().unwrap_err();
    assert!(held_by(&error, writer_id), "{error}");

    let mut by_range = fixture.manager.begin(Isolation::Serializable);
    let scanned = by_range
        .range(&b"k"[..]..&b"n"[..], Direction::Forward)
        .unwrap()
        .count();
    assert_eq!(scanned, 1);
    by_range.put(b"c", bytes("saw m=0")).unwrap();
    let error = by_range.prepare().unwrap_err();
    assert!(held_by(&error, writer_id), "{error}");

    // A plain commit over the same reads is fine: it comes before the
    // prepared writer, which commits later.
    let mut reader = fixture.manager.begin(Isolation::Serializable);
    reader.get(b"a").unwrap();
    reader.put(b"d", bytes("before the writer")).unwrap();
    reader.commit().unwrap();
    // And once the writer is decided, the same prepare goes through.
    writer.commit().unwrap();
    let mut after = fixture.manager.begin(Isolation::Serializable);
    assert_eq!(after.get(b"a").unwrap(), Some(bytes("1")));
    after.put(b"b", bytes("saw a=1")).unwrap();
    after.prepare().unwrap().commit().unwrap();
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
        .restore_prepared(
            9,
            Timestamp::from_u64(1),
            bytes("g"),
            WriteSet::default(),
            None,
        )
        .unwrap();
    assert!(matches!(
        recovery.restore_prepared(
            9,
            Timestamp::from_u64(2),
            bytes("h"),
            WriteSet::default(),
            None
        ),
        Err(Error::PreparedExists { transaction_id: 9 })
    ));
    // So is a second transaction under the same global id.
    assert!(matches!(
        recovery.restore_prepared(10, Timestamp::from_u64(2), bytes("g"), WriteSet::default(), None),
        Err(Error::GlobalIdPrepared { global_id }) if global_id == bytes("g")
    ));
}

/// The held-keys conflict on `key` by prepared transaction `id`.
fn held_by(error: &Error, id: u64) -> bool {
    matches!(error, Error::Conflict { kind: ConflictKind::HeldByPrepared { transaction_id }, .. } if *transaction_id == id)
}

/// Whether a snapshot writer of `key` commits.
fn write_commits(manager: &TransactionManager, key: &str) -> Result<(), Error> {
    let mut writer = manager.begin(Isolation::Snapshot);
    writer.put(key.as_bytes(), bytes("writer")).unwrap();
    writer.commit().map(|_| ())
}

/// The prepare record logs the read set, and a prepared transaction
/// restored from it holds what it read again: a writer of a key it read,
/// or of a key inside a range it scanned, fails after the crash as before.
#[test]
fn a_restored_prepared_transaction_holds_its_reads() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("read", "0"), ("scan-b", "0")]);
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.get(b"read").unwrap();
    transaction.get(b"absent").unwrap();
    let scanned: Vec<_> = transaction
        .range(
            b"scan-a".as_slice()..b"scan-z".as_slice(),
            Direction::Forward,
        )
        .unwrap()
        .collect();
    assert_eq!(scanned.len(), 1);
    transaction.put(b"written", bytes("v")).unwrap();
    let prepared = transaction.prepare_global(bytes("global-1")).unwrap();
    let id = prepared.id();
    assert_eq!(prepared.global_id(), &bytes("global-1"));
    drop(prepared); // "crash" before the decision
    let Some(LoggedRecord::Prepare {
        global_id,
        reads: Some(reads),
        ..
    }) = fixture.log.records().last().cloned()
    else {
        panic!("the last record is a serializable prepare");
    };
    assert_eq!(global_id, bytes("global-1"));
    assert_eq!(reads.keys(), [bytes("absent"), bytes("read")]);
    assert_eq!(reads.ranges().len(), 1);

    let (recovered, _) = recover(Arc::new(MemoryBase::new()), &fixture.log, Timestamp::ZERO);
    let listed = recovered.prepared();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].transaction_id,
            &listed[0].global_id,
            listed[0].writes,
            listed[0].in_use
        ),
        (id, &bytes("global-1"), 1, false)
    );
    for key in ["read", "absent", "scan-b", "scan-new", "written"] {
        let error = write_commits(&recovered, key).unwrap_err();
        assert!(held_by(&error, id), "{key}: {error}");
    }
    // Outside what it read and wrote, writers go on.
    write_commits(&recovered, "scan-zz").unwrap();
    write_commits(&recovered, "other").unwrap();
    // Resumed by its global id, once at a time, and committed.
    let resumed = recovered.resume_prepared_global(b"global-1").unwrap();
    assert!(matches!(
        recovered.resume_prepared_global(b"global-1"),
        Err(Error::PreparedInUse { .. })
    ));
    assert!(recovered.prepared()[0].in_use);
    resumed.commit().unwrap();
    assert_eq!(read(&recovered, "written").as_deref(), Some("v"));
    assert!(matches!(
        recovered.resume_prepared_global(b"global-1"),
        Err(Error::PreparedNotFound { .. })
    ));
    write_commits(&recovered, "read").unwrap();
}

/// A snapshot transaction validates its writes only: restored, it holds
/// its writes and nothing it read.
#[test]
fn a_restored_snapshot_prepare_holds_only_its_writes() {
    let fixture = fixture();
    let mut transaction = fixture.manager.begin(Isolation::Snapshot);
    transaction.get(b"read").unwrap();
    transaction.put(b"written", bytes("v")).unwrap();
    let id = transaction.prepare().unwrap().id();
    assert!(matches!(
        fixture.log.records().last(),
        Some(LoggedRecord::Prepare { reads: None, .. })
    ));
    let (recovered, _) = recover(Arc::new(MemoryBase::new()), &fixture.log, Timestamp::ZERO);
    assert!(held_by(
        &write_commits(&recovered, "written").unwrap_err(),
        id
    ));
    write_commits(&recovered, "read").unwrap();
}

/// A prepared transaction whose reads were not logged is restored holding
/// every key: the one safe choice.
#[test]
fn a_prepare_restored_without_its_reads_holds_everything() {
    let mut recovery = TransactionManager::recover(
        Arc::new(MemoryBase::new()),
        Arc::new(MemoryLog::new()),
        test_oracle(),
        MvccOptions::default(),
        Timestamp::ZERO,
    );
    recovery
        .restore_prepared(
            4,
            Timestamp::from_u64(1),
            bytes(""),
            WriteSet::default(),
            Some(keel_mvcc::ReadSet::everything()),
        )
        .unwrap();
    let manager = recovery.finish().unwrap();
    assert!(held_by(
        &write_commits(&manager, "anything").unwrap_err(),
        4
    ));
    manager.resume_prepared(4).unwrap().abort().unwrap();
    write_commits(&manager, "anything").unwrap();
}

/// A global id names one undecided prepared transaction at a time.
#[test]
fn a_global_id_is_prepared_once_at_a_time() {
    let fixture = fixture();
    let mut first = fixture.manager.begin(Isolation::Serializable);
    first.put(b"a", bytes("1")).unwrap();
    let prepared = first.prepare_global(bytes("g")).unwrap();
    let mut second = fixture.manager.begin(Isolation::Serializable);
    second.put(b"b", bytes("1")).unwrap();
    assert!(matches!(
        second.prepare_global(bytes("g")),
        Err(Error::GlobalIdPrepared { .. })
    ));
    // Empty global ids are not names: any number may be prepared.
    let mut third = fixture.manager.begin(Isolation::Serializable);
    third.put(b"c", bytes("1")).unwrap();
    let unnamed = third.prepare().unwrap();
    assert!(matches!(
        fixture.manager.resume_prepared_global(b""),
        Err(Error::PreparedNotFound { .. })
    ));
    prepared.abort().unwrap();
    unnamed.abort().unwrap();
    let mut again = fixture.manager.begin(Isolation::Serializable);
    again.put(b"b", bytes("1")).unwrap();
    again.prepare_global(bytes("g")).unwrap().commit().unwrap();
}

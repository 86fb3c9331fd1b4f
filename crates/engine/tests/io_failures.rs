#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Injected I/O failures: the first failed write or fsync of the log
//! poisons writes with the original error (never retried), reads go on,
//! and reopening recovers every commit acknowledged before the failure.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::options;
use keel::{Database, Error};
use keel_io::{CrashMode, FaultMode, SimVfs, Vfs};

fn open(vfs: &SimVfs) -> keel::Result<Database> {
    let shared: Arc<dyn Vfs> = Arc::new(vfs.clone());
    Database::open_with_vfs(shared, Path::new("/db"), options())
}

/// The 20 keys committed before the failure read back.
fn assert_before_keys(db: &Database) {
    let ks = db.default_keyspace();
    for index in 0..20u32 {
        let found = db.view(|tx| tx.get(&ks, index.to_be_bytes())).unwrap();
        assert_eq!(found.as_deref(), Some(&b"before"[..]), "key {index}");
    }
}

#[test]
fn a_failed_log_write_poisons_writes_but_not_reads() {
    for mode in [FaultMode::Once, FaultMode::Persistent] {
        let vfs = SimVfs::new(3);
        let db = open(&vfs).unwrap();
        let ks = db.default_keyspace();
        for index in 0..20u32 {
            db.update(|tx| tx.put(&ks, index.to_be_bytes(), "before"))
                .unwrap();
        }
        // The next mutating operation is the next commit's log write.
        vfs.inject_fault(vfs.operations(), mode);
        let failed = db.update(|tx| tx.put(&ks, b"failing", "x"));
        assert!(
            matches!(failed, Err(Error::Poisoned(ref text)) if text.contains("injected")),
            "{failed:?}"
        );
        vfs.clear_fault();
        // Writes stay refused even though the disk works again: a failed
        // fsync is never retried.
        let after = db.update(|tx| tx.put(&ks, b"after", "x"));
        assert!(matches!(after, Err(Error::Poisoned(_))), "{after:?}");
        assert!(matches!(db.checkpoint(), Err(Error::Poisoned(_))));
        // Reads go on, and see every acknowledged commit.
        assert_before_keys(&db);
        assert_eq!(db.view(|tx| tx.get(&ks, b"failing")).unwrap(), None);
        drop(db);
        vfs.crash(CrashMode::LoseUnsynced);
        let db = open(&vfs).unwrap();
        let ks = db.default_keyspace();
        assert_before_keys(&db);
        assert_eq!(db.view(|tx| tx.get(&ks, b"after")).unwrap(), None);
        db.update(|tx| tx.put(&ks, b"reopened", "y")).unwrap();
        assert!(db.check().unwrap().is_empty());
    }
}

#[test]
fn a_failed_checkpoint_poisons_writes_and_reopen_recovers() {
    let vfs = SimVfs::new(4);
    let db = open(&vfs).unwrap();
    let ks = db.default_keyspace();
    for index in 0..50u32 {
        db.update(|tx| tx.put(&ks, index.to_be_bytes(), vec![7u8; 500]))
            .unwrap();
    }
    // The checkpoint's first write fails.
    vfs.inject_fault(vfs.operations(), FaultMode::Persistent);
    assert!(db.checkpoint().is_err());
    vfs.clear_fault();
    for index in 0..50u32 {
        assert!(
            db.view(|tx| tx.get(&ks, index.to_be_bytes()))
                .unwrap()
                .is_some()
        );
    }
    drop(db);
    vfs.crash(CrashMode::LoseUnsynced);
    let db = open(&vfs).unwrap();
    let ks = db.default_keyspace();
    for index in 0..50u32 {
        assert_eq!(
            db.view(|tx| tx.get(&ks, index.to_be_bytes()))
                .unwrap()
                .map(|v| v.len()),
            Some(500)
        );
    }
    assert!(db.check().unwrap().is_empty());
}

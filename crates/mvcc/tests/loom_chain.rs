//! Loom models of the version chain (`src/chain.rs`), the real code on
//! loom's atomics: an install racing readers, and a collection (the fold's
//! garbage collector) racing an install and a reader.
//!
//! Checked in every interleaving: a reader sees either the old or the new
//! newest version, never a torn or missing one; the version a reader at
//! the fold point needs is never detached by `OlderThanFolded`; a version
//! installed while a collection CASes the head is never lost. A version's
//! content sits in a loom cell, so a publication without release/acquire
//! ordering is reported as a causality violation (checked by weakening the
//! install's CAS to relaxed: every model then fails).
#![cfg(loom)]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::sync::Arc;

use bytes::Bytes;
use keel_mvcc::chain::{Collect, CommitStatus, Version, VersionChain};
use keel_mvcc::{Change, CommitState};
use keel_tso::Timestamp;
use loom::thread;

fn at(raw: u64) -> Timestamp {
    Timestamp::from_u64(raw)
}

fn value(text: &'static str) -> Change {
    Change::Put {
        value: Bytes::from_static(text.as_bytes()),
        expires_at_ms: None,
    }
}

fn version(raw: u64, text: &'static str, status: &Arc<CommitStatus>) -> Version {
    Version::new(at(raw), Arc::clone(status), value(text))
}

fn timestamps(chain: &VersionChain) -> Vec<u64> {
    chain
        .versions()
        .iter()
        .map(|(version, _)| version.timestamp.as_u64())
        .collect()
}

/// The reader runs in the spawned thread and the installer in the model's
/// own: loom runs the model's thread first and explores the other order
/// of two accesses only when the second one meets a store as the first
/// thread's last access to that object, so an installer spawned after the
/// reader (it loads the head before its CAS) was run in one order only.
#[test]
fn install_races_readers() {
    loom::model(|| {
        let committed = Arc::new(CommitStatus::committed());
        let chain = Arc::new(VersionChain::new());
        chain.install(version(1, "one", &committed));
        let reader = {
            let chain = Arc::clone(&chain);
            thread::spawn(move || (chain.visible(at(2)).unwrap(), chain.visible(at(1)).unwrap()))
        };
        chain.install(version(2, "two", &committed));
        let (newest, older) = reader.join().unwrap();
        assert!(
            (newest.timestamp == at(1) && newest.change == value("one"))
                || (newest.timestamp == at(2) && newest.change == value("two")),
            "{newest:?}"
        );
        assert_eq!(older.change, value("one"));
        assert_eq!(chain.visible(at(2)).unwrap().change, value("two"));
        assert_eq!(timestamps(&chain), [2, 1]);
    });
}

#[test]
fn collection_races_an_install_and_a_reader() {
    loom::model(|| {
        let committed = Arc::new(CommitStatus::committed());
        let chain = Arc::new(VersionChain::new());
        chain.install(version(1, "one", &committed));
        chain.install(version(2, "two", &committed));
        let collector = {
            let chain = Arc::clone(&chain);
            thread::spawn(move || chain.collect(at(2), Collect::OlderThanFolded))
        };
        let installer = {
            let chain = Arc::clone(&chain);
            let committed = Arc::clone(&committed);
            thread::spawn(move || chain.install(version(3, "three", &committed)))
        };
        // A reader at the fold point always finds the folded version.
        assert_eq!(chain.visible(at(2)).unwrap().change, value("two"));
        let detached = collector.join().unwrap();
        installer.join().unwrap();
        assert_eq!(detached.versions, 1);
        assert_eq!(timestamps(&chain), [3, 2]);
    });
}

#[test]
fn collecting_everything_folded_never_loses_a_concurrent_install() {
    loom::model(|| {
        let committed = Arc::new(CommitStatus::committed());
        let chain = Arc::new(VersionChain::new());
        chain.install(version(1, "one", &committed));
        let collector = {
            let chain = Arc::clone(&chain);
            thread::spawn(move || chain.collect(at(1), Collect::AllFolded))
        };
        chain.install(version(2, "two", &committed));
        let detached = collector.join().unwrap();
        assert_eq!(detached.versions, 1);
        assert_eq!(timestamps(&chain), [2]);
        assert!(chain.visible(at(1)).is_none());
    });
}

#[test]
fn aborted_versions_are_skipped_and_unlinked_under_an_install() {
    loom::model(|| {
        let committed = Arc::new(CommitStatus::committed());
        let failing = Arc::new(CommitStatus::pending());
        let chain = Arc::new(VersionChain::new());
        chain.install(version(1, "one", &committed));
        chain.install(version(2, "aborted", &failing));
        let aborter = {
            let failing = Arc::clone(&failing);
            let chain = Arc::clone(&chain);
            thread::spawn(move || {
                failing.abort();
                chain.collect(at(2), Collect::OlderThanFolded)
            })
        };
        chain.install(version(3, "three", &committed));
        let newest = chain.newest().unwrap();
        assert!(newest.0 == at(3), "the install is the newest: {newest:?}");
        let detached = aborter.join().unwrap();
        assert_eq!(detached.versions, 1);
        assert_eq!(chain.visible(at(2)).unwrap().change, value("one"));
        assert_eq!(timestamps(&chain), [3, 1]);
        assert_eq!(failing.state(), CommitState::Aborted);
    });
}

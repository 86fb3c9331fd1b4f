//! A loom model of folding against a concurrent reader, on the real chain,
//! watermark and registry: the fold's protocol (safe point from the
//! watermark and the registry; write the base; fence on the registry;
//! drop the folded version only once every transaction registered before
//! the fence has left) never lets a reader fall through to a stale base,
//! even a reader that looked at the base before the fold wrote it (as a
//! range scan's base iterator does).
//!
//! The base is one atomic cell holding the value's timestamp: 0 for the
//! old base, 1 once the fold has written the version at 1. Its accesses
//! are relaxed, so the model checks that the registry alone orders them.
//! (With the fence taken by a plain load this model fails: the reader's
//! registration and the folder's fence can miss each other.)
#![cfg(loom)]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::sync::Arc;

use bytes::Bytes;
use keel_mvcc::Change;
use keel_mvcc::chain::{Collect, CommitStatus, Version, VersionChain};
use keel_mvcc::registry::Registry;
use keel_mvcc::watermark::Watermark;
use keel_tso::Timestamp;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;

fn at(raw: u64) -> Timestamp {
    Timestamp::from_u64(raw)
}

#[test]
fn a_reader_never_falls_through_to_a_stale_base() {
    loom::model(|| {
        let watermark = Arc::new(Watermark::new(at(1)));
        let registry = Arc::new(Registry::new());
        let chain = Arc::new(VersionChain::new());
        let base = Arc::new(AtomicU64::new(0));
        let change = Change::Put {
            value: Bytes::from_static(b"new"),
            expires_at_ms: None,
        };
        chain.install(Version::new(
            at(1),
            Arc::new(CommitStatus::committed()),
            change.clone(),
        ));

        let reader = {
            let (watermark, registry, chain, base) = (
                Arc::clone(&watermark),
                Arc::clone(&registry),
                Arc::clone(&chain),
                Arc::clone(&base),
            );
            thread::spawn(move || {
                let registration = registry.register(&watermark);
                let read_timestamp = registration.read_timestamp();
                // The base first (an iterator opened early), then the delta.
                let base_seen = base.load(Ordering::Relaxed);
                let seen = chain
                    .visible(read_timestamp)
                    .map(|version| version.timestamp.as_u64())
                    .unwrap_or(base_seen);
                assert_eq!(seen, 1, "fell through to a stale base");
                registry.unregister(registration);
            })
        };

        // The folder.
        let safe_point = registry.safe_point(&watermark);
        assert_eq!(safe_point, at(1));
        // Relaxed: the ordering must come from the registry's protocol.
        base.store(1, Ordering::Relaxed);
        let fence = registry.next_sequence();
        if registry.all_left_before(fence) {
            let detached = chain.collect(safe_point, Collect::AllFolded);
            assert_eq!(detached.versions, 1);
        }
        reader.join().unwrap();
        // Once the reader has left, the collection goes through.
        assert!(registry.all_left_before(fence));
        chain.collect(safe_point, Collect::AllFolded);
        assert!(chain.is_empty());
    });
}

/// BRIEF invariant 3: a transaction that is beginning while the safe point
/// is computed (and a commit moves the watermark) never gets a read
/// timestamp below that safe point.
#[test]
fn the_safe_point_never_passes_a_beginning_reader() {
    loom::model(|| {
        let watermark = Arc::new(Watermark::new(at(1)));
        let registry = Arc::new(Registry::new());
        watermark.begin(at(2));
        let committer = {
            let watermark = Arc::clone(&watermark);
            thread::spawn(move || watermark.finish(at(2)))
        };
        let reader = {
            let (watermark, registry) = (Arc::clone(&watermark), Arc::clone(&registry));
            thread::spawn(move || {
                let registration = registry.register(&watermark);
                let read_timestamp = registration.read_timestamp();
                (registration, read_timestamp)
            })
        };
        let safe_point = registry.safe_point(&watermark);
        let (registration, read_timestamp) = reader.join().unwrap();
        committer.join().unwrap();
        assert!(
            read_timestamp >= safe_point,
            "a reader at {read_timestamp} began below the safe point {safe_point}"
        );
        registry.unregister(registration);
    });
}

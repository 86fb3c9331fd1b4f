//! Replays the `wal_reader` and `wal_record` fuzz corpora (seeds, and every
//! input that once crashed a target) through the same harnesses, without
//! cargo-fuzz.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::Path;

/// Runs `harness` on every file of `fuzz/corpus/<target>`; returns how many.
fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        harness(&bytes);
        replayed += 1;
    }
    replayed
}

#[test]
fn the_fuzz_corpus_reads_without_panicking() {
    let replayed = replay("wal_reader", keel_wal::fuzz_support::read_arbitrary_log);
    assert!(
        replayed >= 2,
        "the corpus holds its seeds ({replayed} found)"
    );
}

#[test]
fn the_record_corpus_decodes_without_panicking_and_round_trips() {
    let replayed = replay(
        "wal_record",
        keel_wal::fuzz_support::decode_arbitrary_record,
    );
    // One seed per record kind, the old prepare kind among them.
    assert!(
        replayed >= 8,
        "the corpus holds its seeds ({replayed} found)"
    );
}

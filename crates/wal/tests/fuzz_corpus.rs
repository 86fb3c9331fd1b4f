//! Replays the `wal_reader` fuzz corpus (seeds, and every input that once
//! crashed the target) through the same harness, without cargo-fuzz.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::Path;

#[test]
fn the_fuzz_corpus_reads_without_panicking() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/wal_reader");
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        keel_wal::fuzz_support::read_arbitrary_log(&bytes);
        replayed += 1;
    }
    assert!(
        replayed >= 2,
        "the corpus holds its seeds ({replayed} found)"
    );
}

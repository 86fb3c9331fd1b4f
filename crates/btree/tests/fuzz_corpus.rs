#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.
//! Replays every input of the `btree_operations` fuzz target's corpus
//! (seeds and every input that once crashed it) through the same harness,
//! so a fixed crash stays fixed without cargo-fuzz installed.

use std::path::{Path, PathBuf};

use keel_btree::fuzz_support::run_operations;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/btree_operations")
}

#[test]
fn the_fuzz_corpus_replays_without_panicking() {
    let mut replayed = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        run_operations(&bytes);
        replayed += 1;
    }
    assert!(
        replayed >= 4,
        "the corpus holds its seeds ({replayed} found)"
    );
}

#[test]
fn random_inputs_run_their_operations() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
    let mut operations = 0;
    for _ in 0..40 {
        let len = rng.random_range(0..600);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        operations += run_operations(&bytes);
    }
    assert!(operations > 1000, "{operations} operations");
}

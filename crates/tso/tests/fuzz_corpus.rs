//! Replays every input of the `tso_high_water_mark` fuzz target's corpus
//! (seeds and every input that once crashed it) through the decoder, so a
//! fixed crash stays fixed without cargo-fuzz installed.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::Path;

use keel_tso::{Timestamp, decode_high_water_mark, high_water_mark::encode_slot};

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/tso_high_water_mark")
}

#[test]
fn the_fuzz_corpus_decodes_without_panicking() {
    let mut replayed = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        // Either outcome is fine; a panic is the failure.
        let _ = decode_high_water_mark(&bytes);
        replayed += 1;
    }
    assert!(
        replayed >= 3,
        "the corpus holds its seeds ({replayed} found)"
    );
}

#[test]
fn the_corpus_seeds_are_what_they_claim() {
    // The valid seed decodes to its mark; the others are rejected.
    let valid = std::fs::read(corpus_dir().join("seed-two-valid-slots")).unwrap();
    let mark = decode_high_water_mark(&valid).unwrap().unwrap();
    assert_eq!(mark.timestamp, Timestamp::from_u64(0x0123_4567_89AB_0002));
    assert_eq!(mark.sequence, 2);

    let regenerated = [
        encode_slot(1, Timestamp::from_u64(0x0123_4567_89AB_0001)),
        encode_slot(2, Timestamp::from_u64(0x0123_4567_89AB_0002)),
    ]
    .concat();
    assert_eq!(valid, regenerated, "the seed matches the current encoder");

    let torn = std::fs::read(corpus_dir().join("seed-torn-second-slot")).unwrap();
    let mark = decode_high_water_mark(&torn).unwrap().unwrap();
    assert_eq!(mark.sequence, 1, "a torn newer slot loses to the older one");

    let zeros = std::fs::read(corpus_dir().join("seed-never-written")).unwrap();
    assert_eq!(decode_high_water_mark(&zeros).unwrap(), None);
}

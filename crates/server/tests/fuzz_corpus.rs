//! Replays every input of the `resp_parser` fuzz target's corpus (seeds and
//! every input that once crashed it) through the same harness, so a fixed
//! crash stays fixed without cargo-fuzz installed, and checks that the
//! seeds are what they claim.
//!
//! A seed's first byte picks the chunking (low bits) and whether the client
//! authenticated (high bit clear); the rest is the byte stream.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::{Path, PathBuf};

use keel_server::fuzz_support::{check_arbitrary_input, fuzz_limits, parse_in_chunks};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/resp_parser")
}

#[test]
fn the_fuzz_corpus_parses_alike_in_any_chunking() {
    let mut replayed = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        check_arbitrary_input(&bytes);
        replayed += 1;
    }
    assert!(
        replayed >= SEEDS.len(),
        "the corpus holds its seeds ({replayed} found)"
    );
}

#[test]
fn the_corpus_seeds_are_what_they_claim() {
    for &(name, requests, error) in SEEDS {
        let bytes = std::fs::read(corpus_dir().join(name)).unwrap();
        let authenticated = bytes[0] & 0x80 == 0;
        let outcome = parse_in_chunks(&bytes[1..], &[1], &fuzz_limits(), authenticated);
        assert_eq!(
            outcome.commands.len(),
            requests,
            "{name}: {:?}",
            outcome.commands
        );
        assert_eq!(outcome.error.as_deref(), error, "{name}");
    }
}

/// Every seed, the requests it holds before it ends or fails, and its
/// protocol error.
const SEEDS: &[(&str, usize, Option<&str>)] = &[
    ("seed-multibulk-pipeline", 2, None),
    // PING, SET with both quote kinds and \x escapes, GET, an empty line.
    ("seed-inline-quoting", 4, None),
    (
        "seed-expected-dollar",
        0,
        Some("Protocol error: expected '$', got 'f'"),
    ),
    // Two empty requests, PING, then a negative bulk length.
    (
        "seed-negative-lengths",
        3,
        Some("Protocol error: invalid bulk length"),
    ),
    // 4097 bytes is one more than the fuzz limits allow.
    (
        "seed-bulk-too-long",
        0,
        Some("Protocol error: invalid bulk length"),
    ),
    (
        "seed-unbalanced-quotes",
        0,
        Some("Protocol error: unbalanced quotes in request"),
    ),
    (
        "seed-inline-too-long",
        0,
        Some("Protocol error: too big inline request"),
    ),
    // ECHO whose bulk ends in CRLF inside, then an unfinished PING.
    ("seed-bulk-with-crlf-incomplete-tail", 1, None),
    // A first byte with the high bit set: a client that has not
    // authenticated, refused 11 arguments and a 101-byte bulk.
    (
        "seed-unauthenticated-count",
        0,
        Some("Protocol error: unauthenticated multibulk length"),
    ),
    (
        "seed-unauthenticated-bulk",
        0,
        Some("Protocol error: unauthenticated bulk length"),
    ),
];

/// The `rdb_payload` target's corpus (Redis 7.0 DUMP payloads of every
/// type, and any input that once crashed it) through its harness, and each
/// seed with every byte flipped.
#[test]
fn the_rdb_payload_corpus_never_panics_restore() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/rdb_payload");
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        keel_server::commands::rdb::check_arbitrary_payload(&bytes);
        assert!(
            keel_server::commands::rdb::decode_any(&bytes).is_ok(),
            "a seed decodes"
        );
        for index in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[index] ^= 0x10;
            keel_server::commands::rdb::check_arbitrary_payload(&flipped);
        }
        replayed += 1;
    }
    assert!(
        replayed >= 11,
        "the corpus holds its seeds ({replayed} found)"
    );
}

/// The `hll_value` target's corpus (redis-server 7.0 HLLs, damaged ones,
/// and any input that once crashed it) through its harness, and each seed
/// with every byte flipped.
#[test]
fn the_hll_value_corpus_never_panics_the_hll_readers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/hll_value");
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        keel_server::commands::hll::check::check_arbitrary_value(&bytes);
        // A long seed's bytes are sampled (some 256 of them).
        for index in (1..bytes.len()).step_by(1 + bytes.len() / 256) {
            let mut flipped = bytes.clone();
            flipped[index] ^= 0x10;
            keel_server::commands::hll::check::check_arbitrary_value(&flipped);
        }
        replayed += 1;
    }
    assert!(
        replayed >= 8,
        "the corpus holds its seeds ({replayed} found)"
    );
}

//! Redis's own DUMP payload (RDB object encoding), so that keel and
//! redis-server exchange keys with DUMP/RESTORE and MIGRATE: `payload.rs`
//! reads every type and encoding Redis writes up to RDB 12, `writer.rs`
//! writes the plain encodings, `stream.rs` maps streams to keel's stream
//! elements; `packed.rs`, `reader.rs`, `lzf.rs` and `crc64.rs` are the
//! encodings underneath. docs/FORMAT.md, "DUMP payload".

pub mod crc64;
pub mod lzf;
pub mod packed;
pub mod payload;
pub mod reader;
pub mod stream;
pub mod writer;

pub use payload::{decode_any, is_redis_payload};
pub use writer::encode;

#[cfg(test)]
mod fixture_tests;

/// The `rdb_payload` fuzz target's harness (also replayed over its corpus
/// by `tests/fuzz_corpus.rs`), on the bytes as a payload and as a body
/// sealed with a good checksum: RESTORE's decoder never
/// panics and refuses with one of Redis's two error texts; a Redis payload
/// it accepts, written back by DUMP, decodes, and a second round changes
/// nothing.
pub fn check_arbitrary_payload(bytes: &[u8]) {
    check_payload(bytes);
    // The bytes as a body, sealed: what mutations of a payload rarely
    // reach past its checksum.
    check_payload(&payload::seal(bytes, payload::RDB_VERSION_STREAM));
}

fn check_payload(bytes: &[u8]) {
    let value = match decode_any(bytes) {
        Ok(value) => value,
        Err(error) => {
            let text = error.redis_text();
            assert!(text == "ERR Bad data format" || text.starts_with("ERR DUMP payload"));
            return;
        }
    };
    if !is_redis_payload(bytes) {
        return;
    }
    let once = encode(&value).map(|payload| decode_any(&payload));
    let Ok(Ok(once)) = once else {
        panic!("a decoded Redis payload written back does not decode: {once:?}");
    };
    let twice = encode(&once).map(|payload| decode_any(&payload));
    assert!(
        matches!(&twice, Ok(Ok(twice)) if *twice == once),
        "a second round changed {once:?} into {twice:?}"
    );
}

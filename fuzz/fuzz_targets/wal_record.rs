//! The write-ahead log's record decoder on arbitrary payloads (what a
//! fragment whose checksum held carries): no panic, no allocation beyond
//! what the input justifies, and every record that decodes round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    keel_wal::fuzz_support::decode_arbitrary_record(std::hint::black_box(bytes));
});

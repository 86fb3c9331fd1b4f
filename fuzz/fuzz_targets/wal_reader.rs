//! The write-ahead log reader and recovery on arbitrary segment bytes: no
//! panic, no endless loop, no allocation beyond what the input justifies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    keel_wal::fuzz_support::read_arbitrary_log(std::hint::black_box(bytes));
});

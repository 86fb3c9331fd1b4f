//! The timestamp oracle's high-water-mark file decoder on arbitrary bytes:
//! it must return a value or a typed error, never panic, and never accept a
//! slot whose checksum does not hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = std::hint::black_box(keel_tso::decode_high_water_mark(std::hint::black_box(bytes)));
});

//! keel serve's DUMP payload decoder (what RESTORE reads from a client) on
//! arbitrary bytes: never a panic, a typed error for anything damaged, and
//! a payload it accepts encodes back to bytes that decode to the same
//! value.
#![no_main]

use keel_server::commands::dump_payload::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(value) = decode(std::hint::black_box(bytes)) {
        let again = decode(&encode(&value)).expect("a re-encoded payload decodes");
        assert_eq!(again, value);
    }
});

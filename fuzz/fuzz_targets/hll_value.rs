//! A stored string read as a HyperLogLog (PFADD, PFCOUNT, PFMERGE,
//! PFDEBUG's readers and writers) on arbitrary bytes:
//! `keel_server::commands::hll::check::check_arbitrary_value`.
#![no_main]

use keel_server::commands::hll::check::check_arbitrary_value;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    check_arbitrary_value(std::hint::black_box(bytes));
});

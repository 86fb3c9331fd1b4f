//! keel-server's RESP request parser on arbitrary bytes in arbitrary
//! chunkings: never a panic, never a `Complete` claiming bytes it was not
//! given, and the same requests (and the same error) whether the bytes
//! arrive in one piece or in chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    keel_server::fuzz_support::check_arbitrary_input(std::hint::black_box(bytes));
});

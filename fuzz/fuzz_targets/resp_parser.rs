//! keel-server's RESP request parser on arbitrary bytes in arbitrary
//! chunkings: never a panic, never a `Complete` claiming bytes it was not
//! given, and the same requests (and the same error) whether the bytes
//! arrive in one piece or in chunks.
//!
//! Built from the server's `resp/` module alone (its source is included
//! here), which proves the protocol layer needs nothing of keel.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unused_imports, missing_docs)]
#[path = "../../crates/server/src/resp/mod.rs"]
mod resp;

fuzz_target!(|bytes: &[u8]| {
    resp::fuzz_support::check_arbitrary_input(std::hint::black_box(bytes));
});

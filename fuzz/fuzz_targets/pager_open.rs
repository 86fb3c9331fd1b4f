//! The pager's open path on arbitrary file bytes: meta slots, page map and
//! every allocated page read back — a typed error or a result, never a
//! panic, an endless loop or an allocation the file does not justify.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = std::hint::black_box(keel_pager::fuzz_support::open_arbitrary_file(
        std::hint::black_box(bytes),
    ));
});

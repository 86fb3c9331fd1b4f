//! B+tree operation sequences against a `BTreeMap` model, and a tree whose
//! pages were overwritten with arbitrary bytes: a disagreement with the
//! model or a panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = std::hint::black_box(keel_btree::fuzz_support::run_operations(std::hint::black_box(bytes)));
});

//! RESTORE's decoder of Redis's DUMP payloads (and keel's earlier ones)
//! on arbitrary bytes: `keel_server::commands::rdb::check_arbitrary_payload`.
#![no_main]

use keel_server::commands::rdb::check_arbitrary_payload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    check_arbitrary_payload(std::hint::black_box(bytes));
});

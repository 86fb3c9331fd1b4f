//! The cost of `Wal::append` for the commit record of one put (24-byte
//! key, 150-byte value): encoding, framing, checksum and buffering, no
//! I/O. Meant to be counted in instructions, which are stable on a loaded
//! machine where times are not:
//!
//! ```text
//! cargo build --release -p keel-wal --example append_instructions
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='keel_wal::wal::Wal::append' \
//!     target/release/examples/append_instructions
//! ```
//!
//! Instructions per append = the total callgrind reports ÷ `APPENDS`.

#![allow(clippy::unwrap_used)] // An example: a failed unwrap is a failed run.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use keel_io::{StdVfs, Vfs};
use keel_wal::{Change, Durability, Entry, Record, Wal, WalOptions, WriteSet};

/// Appends counted; all fit in the buffer, so none of them flushes.
const APPENDS: u64 = 10_000;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(StdVfs::new());
    let options = WalOptions {
        buffer_bytes_max: 64 << 20,
        // No background flush while appending.
        periodic_interval: Duration::from_secs(3600),
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open(vfs, &dir.path().join("wal"), options).unwrap();
    let value = Bytes::from(vec![0x56; 150]);
    for transaction_id in 0..APPENDS {
        let record = Record::Commit(WriteSet {
            transaction_id,
            timestamp: transaction_id,
            entries: vec![Entry {
                keyspace: 1,
                key: Bytes::copy_from_slice(&transaction_id.to_be_bytes().repeat(3)),
                change: Change::Put {
                    value: value.clone(),
                    expires_at_ms: None,
                },
            }],
        });
        wal.append(&record, Durability::None).unwrap();
    }
    wal.close().unwrap();
    println!("{APPENDS} appends");
}

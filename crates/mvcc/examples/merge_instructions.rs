//! The cost of a scan's merge of the delta with the base, meant to be
//! counted in instructions (stable on a loaded machine where times are
//! not):
//!
//! ```text
//! cargo build --release -p keel-mvcc --example merge_instructions
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='merge_instructions::measured' \
//!     target/release/examples/merge_instructions batch
//! ```
//!
//! The base holds `BASE_KEYS` keys (a second argument sets another count);
//! the delta removes every other one, then a full scan (`next_with`, a
//! snapshot transaction) is counted. Workloads:
//!
//! * `empty`: nothing in the delta (the base's own cost, for comparison).
//! * `batch`: the removals committed in one transaction, held as a frozen
//!   batch (a large delete, before its fold).
//! * `skiplist`: the removals committed a hundred keys a transaction, held
//!   key by key in the skiplist.
//!
//! Instructions per entry = the total callgrind reports ÷ the entries the
//! scan printed (`returned`) plus the removed ones it passed over.

#![allow(clippy::unwrap_used)] // An example: a failed unwrap is a failed run.

use std::hint::black_box;
use std::sync::Arc;

use keel_mvcc::testing::{MemoryBase, test_oracle};
use keel_mvcc::{Isolation, MvccOptions, NoLog, TransactionManager};

/// Keys in the base.
const BASE_KEYS: usize = 200_000;
/// Removals per commit of the `skiplist` workload.
const KEYS_PER_SMALL_COMMIT: usize = 100;

fn key(member: usize) -> Vec<u8> {
    format!("\0\0\0\x01user:{member:012}").into_bytes()
}

fn main() {
    let workload = std::env::args().nth(1).unwrap_or_else(|| "batch".into());
    let keys: usize = std::env::args()
        .nth(2)
        .map_or(BASE_KEYS, |count| count.parse().unwrap());
    let all: Vec<Vec<u8>> = (0..keys).map(key).collect();
    let value = [7u8; 100];
    let base = Arc::new(MemoryBase::with_entries(
        all.iter().map(|key| (key.as_slice(), value.as_slice())),
    ));
    let manager =
        TransactionManager::new(base, Arc::new(NoLog), test_oracle(), MvccOptions::default())
            .unwrap();
    let removed: Vec<&Vec<u8>> = all.iter().step_by(2).collect();
    match workload.as_str() {
        "empty" => {}
        "batch" => {
            let mut transaction = manager.begin(Isolation::Snapshot);
            for key in &removed {
                transaction.delete(key).unwrap();
            }
            transaction.commit().unwrap();
        }
        "skiplist" => {
            for chunk in removed.chunks(KEYS_PER_SMALL_COMMIT) {
                let mut transaction = manager.begin(Isolation::Snapshot);
                for key in chunk {
                    transaction.delete(key).unwrap();
                }
                transaction.commit().unwrap();
            }
        }
        other => panic!("unknown workload {other}: empty, batch or skiplist"),
    }
    let stats = manager.stats();
    let transaction = manager.begin(Isolation::Snapshot);
    let returned = measured(&transaction);
    println!(
        "{workload}: {returned} returned of {keys} (delta: {} batches, {} versions)",
        stats.delta_batches, stats.delta_versions
    );
}

/// The scan counted.
#[inline(never)]
fn measured(transaction: &keel_mvcc::Transaction) -> usize {
    let mut scan = transaction
        .range_bytes(
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
            keel_mvcc::Direction::Forward,
        )
        .unwrap();
    let mut returned = 0;
    while let Some(entry) = scan.next_with(|key, value| black_box(key.len() + value.len())) {
        entry.unwrap();
        returned += 1;
    }
    returned
}

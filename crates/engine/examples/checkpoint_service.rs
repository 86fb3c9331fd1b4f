//! A service that owns checkpoints: the background thread is told to
//! leave them alone, and a thread of the application's takes one when the
//! log has grown past a budget (say, at quiet hours), watching `stats()`.
//! Writers run meanwhile; a checkpoint never blocks them.
//!
//! ```text
//! cargo run -p keel --example checkpoint_service
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use keel::{Database, Options};

/// Checkpoint once this much log has been written since the last one.
const LOG_BUDGET_BYTES: u64 = 256 << 10;
const POLL_INTERVAL: Duration = Duration::from_millis(20);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let options = Options {
        // The background thread still folds; its own checkpoints are
        // pushed far out, so the service decides.
        checkpoint_interval: Duration::from_secs(3600),
        checkpoint_wal_bytes: u64::MAX,
        checkpoint_dirty_bytes: u64::MAX,
        ..Options::default()
    };
    let db = Arc::new(Database::open(dir.path(), options)?);
    let events = db.keyspace("events")?;
    let stop = Arc::new(AtomicBool::new(false));

    let service = {
        let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
        std::thread::spawn(move || -> keel::Result<u64> {
            let mut taken = 0;
            let mut log_bytes_at_last = db.stats().log_bytes;
            while !stop.load(Ordering::Acquire) {
                let stats = db.stats();
                if stats.log_bytes - log_bytes_at_last >= LOG_BUDGET_BYTES {
                    let info = db.checkpoint()?;
                    taken += 1;
                    log_bytes_at_last = stats.log_bytes;
                    println!(
                        "checkpoint {}: {} pages, {} log segments removed, {:?} (delta {} bytes)",
                        info.checkpoint_id,
                        info.pages_written,
                        info.log_segments_removed,
                        info.duration,
                        stats.delta_bytes
                    );
                }
                std::thread::sleep(POLL_INTERVAL);
            }
            Ok(taken)
        })
    };

    for batch in 0..100u32 {
        db.update(|tx| {
            for index in 0..50u32 {
                tx.put(&events, format!("event:{batch:04}:{index:02}"), [b'x'; 200])?;
            }
            Ok(())
        })?;
    }
    // Let the service see the last writes.
    std::thread::sleep(POLL_INTERVAL * 5);
    stop.store(true, Ordering::Release);
    let taken = service.join().expect("the checkpoint service panicked")?;

    let stats = db.stats();
    println!(
        "{taken} checkpoints by the service, {} in all; {} commits, {} log bytes, {} folds",
        stats.checkpoints, stats.commits, stats.log_bytes, stats.folds
    );
    assert!(taken >= 1, "1 MB of log and no checkpoint");
    assert_eq!(db.view(|tx| tx.len(&events))?, 5_000);
    Ok(())
}

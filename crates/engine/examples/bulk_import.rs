//! Bulk import with `Database::load_keyspace`: entries in ascending key
//! order go straight into the B+tree, each byte written once, without the
//! log. The keyspace appears whole when `finish` returns — never in part,
//! also after a crash — and a load of an existing name replaces it in one
//! step, so readers see the old data or the new, nothing between.
//!
//! ```text
//! cargo run -p keel --example bulk_import
//! ```

use std::time::Instant;

use keel::{Database, Options};

const ROWS: u64 = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = Database::open(dir.path(), Options::default())?;

    // A source sorted by key, as an export or a sorted file would be.
    let rows = (0..ROWS).map(|id| {
        (
            format!("city:{id:08}"),
            format!("population {}", id * 37 % 1_000_000),
        )
    });

    let started = Instant::now();
    let mut loader = db.load_keyspace("cities")?;
    for (key, value) in rows {
        loader.put(key.as_bytes(), value.as_bytes(), None)?;
    }
    let report = loader.finish()?;
    println!(
        "loaded {} entries ({} bytes) in {:?}",
        report.entries,
        report.bytes,
        started.elapsed()
    );

    let cities = report.keyspace;
    let tx = db.begin_read();
    assert_eq!(tx.len(&cities)?, ROWS);
    let value = tx.get(&cities, "city:00000042")?.expect("a loaded key");
    println!("city:00000042 -> {}", String::from_utf8_lossy(&value));

    // Loading the name again replaces the keyspace in one commit; the
    // snapshot taken above still reads the old one.
    let mut loader = db.load_keyspace("cities")?;
    loader.put(b"city:new", b"population 1", None)?;
    let report = loader.finish()?;
    assert!(report.replaced);
    let fresh = db.begin_read();
    assert_eq!(fresh.len(&report.keyspace)?, 1);
    println!(
        "replaced: the keyspace now holds {} entry",
        fresh.len(&report.keyspace)?
    );

    // Keys out of order are refused, naming the entry.
    let mut loader = db.load_keyspace("unsorted")?;
    loader.put(b"b", b"2", None)?;
    let error = loader
        .put(b"a", b"1", None)
        .expect_err("a key before the previous one");
    println!("refused: {error}");
    assert!(matches!(error, keel::Error::UnsortedLoad { entry: 1, .. }));
    Ok(())
}

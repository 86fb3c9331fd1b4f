//! How long a cold open takes: the shape of keel-benches' reopen row
//! without the rest of its run. Unless DIR already holds a database, it
//! writes what keel-benches writes before its reopens: KEYS random pairs
//! (24-byte keys, 150-byte values) in one transaction, 1,000 single-key
//! commits and 100 commits of 1,000 keys. Then it closes and reopens the
//! database REOPENS times, each time with the
//! files synced and dropped from the OS page cache first, and prints each
//! open's time and their median. An open is `Database::open` and the
//! keyspace lookup, as the benchmark times it.
//!
//! ```text
//! cargo run --release -p keel --example cold_open -- DIR [KEYS] [REOPENS] [POOL_MIB]
//! ```
//! (defaults: 1000000 keys, 5 reopens, a 512 MiB pool; `strace -f -tt -T`
//! of the binary shows where an open's time goes.) Without arguments it
//! runs a small case in a temporary directory (20,000 keys, a tenth of the
//! commits after them, 3 reopens), as the CI runs every example.
//! Each reopen must find the keyspace and replay nothing: the database
//! was closed cleanly.

use std::path::Path;
use std::time::{Duration, Instant};

use keel::{Bytes, Database, Durability, Isolation, Options};
use keel_io::{Advice, OpenMode, StdVfs, Vfs};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let temporary;
    let (dir, keys, commits_after, reopens, pool_mib) = match args.next() {
        Some(dir) => (
            std::path::PathBuf::from(dir),
            args.next().map_or(Ok(1_000_000), |arg| arg.parse())?,
            1000,
            args.next().map_or(Ok(5), |arg| arg.parse())?,
            args.next().map_or(Ok(512), |arg| arg.parse())?,
        ),
        None => {
            temporary = tempfile::tempdir()?;
            (temporary.path().to_path_buf(), 20_000, 100, 3, 64)
        }
    };
    let dir = dir.as_path();
    let options = Options::default()
        .with_durability(Durability::Sync)
        .with_pool_bytes(pool_mib << 20);

    if !dir.join("pages").exists() {
        let started = Instant::now();
        load(dir, &options, keys, commits_after)?;
        println!("loaded {keys} keys in {:?}", started.elapsed());
    }

    let mut times = Vec::with_capacity(reopens);
    for _ in 0..reopens {
        drop_from_page_cache(dir)?;
        let started = Instant::now();
        let db = Database::open(dir, options.clone())?;
        let _keyspace = db.keyspace("bench")?;
        let elapsed = started.elapsed();
        assert_eq!(
            db.stats().recovery.commits_replayed,
            0,
            "a clean close leaves nothing to replay"
        );
        println!("open {elapsed:?}");
        let recovery = db.stats().recovery;
        println!(
            "  (recovery {:?}, checkpoint {}, {} records scanned, {} commits replayed)",
            recovery.duration,
            recovery.checkpoint_id,
            recovery.records_scanned,
            recovery.commits_replayed
        );
        times.push(elapsed);
        db.close()?;
    }
    times.sort_unstable();
    let median = times
        .get(times.len() / 2)
        .copied()
        .unwrap_or(Duration::ZERO);
    println!("median open {median:?}");
    Ok(())
}

/// Writes what keel-benches writes before its reopens: `keys` pairs in
/// one transaction, `commits_after` single-key durable commits, then a
/// tenth as many commits of 1,000 keys; then closes.
fn load(
    dir: &Path,
    options: &Options,
    keys: u64,
    commits_after: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::open(dir, options.clone())?;
    let keyspace = db.keyspace("bench")?;
    let mut rng = SmallRng::seed_from_u64(3);
    let mut transaction = db.begin(Isolation::Serializable);
    for _ in 0..keys {
        let (key, value) = pair(&mut rng);
        transaction.put(&keyspace, key, Bytes::copy_from_slice(&value))?;
    }
    transaction.commit()?;
    for _ in 0..commits_after {
        let (key, value) = pair(&mut rng);
        db.update(|transaction| transaction.put(&keyspace, key, value.as_slice()))?;
    }
    for _ in 0..commits_after / 10 {
        let mut transaction = db.begin(Isolation::Serializable);
        for _ in 0..1000 {
            let (key, value) = pair(&mut rng);
            transaction.put(&keyspace, key, Bytes::copy_from_slice(&value))?;
        }
        transaction.commit()?;
    }
    drop(keyspace);
    db.close()?;
    Ok(())
}

/// A random 24-byte key and 150-byte value, as keel-benches' data.
fn pair(rng: &mut SmallRng) -> ([u8; 24], [u8; 150]) {
    let mut key = [0u8; 24];
    let mut value = [0u8; 150];
    rng.fill(&mut key[..]);
    rng.fill(&mut value[..]);
    (key, value)
}

/// Syncs every file under `dir` and drops it from the page cache, as
/// keel-benches does before each reopen.
fn drop_from_page_cache(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let vfs = StdVfs::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            drop_from_page_cache(&path)?;
            continue;
        }
        let file = vfs.open(&path, OpenMode::Existing)?;
        file.sync_data()?;
        file.advise(Advice::DontNeed, 0, 0)?;
    }
    Ok(())
}

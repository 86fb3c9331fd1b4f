//! A cache whose entries expire: `put_with_ttl` writes a value that reads
//! as absent once its time is up, and folding removes it from the file.
//! A miss computes the value and caches it; a hit is served from keel.
//!
//! ```text
//! cargo run -p keel --example ttl_cache
//! ```

use std::time::Duration;

use keel::{Database, Keyspace, Options};

/// Stands in for something slow: a remote call, a big query.
fn expensive_lookup(user: &str) -> String {
    format!("profile of {user}")
}

/// The cached profile of `user`, computed and cached for `ttl` on a miss.
/// Returns the profile and whether it was a hit.
fn profile(
    db: &Database,
    cache: &Keyspace,
    user: &str,
    ttl: Duration,
) -> keel::Result<(String, bool)> {
    if let Some(cached) = db.view(|tx| tx.get(cache, user))? {
        return Ok((String::from_utf8_lossy(&cached).into_owned(), true));
    }
    let fresh = expensive_lookup(user);
    db.update(|tx| tx.put_with_ttl(cache, user, &fresh, ttl))?;
    Ok((fresh, false))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = Database::open(dir.path(), Options::default())?;
    let cache = db.keyspace("profiles")?;
    let ttl = Duration::from_millis(300);

    let (_, hit) = profile(&db, &cache, "alice", ttl)?;
    println!("first lookup: {}", if hit { "hit" } else { "miss" });
    assert!(!hit);
    let (value, hit) = profile(&db, &cache, "alice", ttl)?;
    println!(
        "second lookup: {} ({value})",
        if hit { "hit" } else { "miss" }
    );
    assert!(hit);

    // When does it expire? Milliseconds since the Unix epoch.
    let expiry = db.view(|tx| tx.get_with_expiry(&cache, "alice"))?;
    if let Some((_, Some(expires_at_ms))) = expiry {
        let left_ms = expires_at_ms.saturating_sub(db.begin_read().read_time_ms());
        println!("alice's entry expires in about {left_ms} ms");
    }

    std::thread::sleep(ttl + Duration::from_millis(50));
    let (_, hit) = profile(&db, &cache, "alice", ttl)?;
    println!("after the ttl: {}", if hit { "hit" } else { "miss" });
    assert!(!hit, "an expired entry must read as absent");
    Ok(())
}

//! keel in a minute: open a database, write and read in transactions,
//! scan a range forwards and backwards, watch a key expire, and look at
//! what the database did.
//!
//! ```text
//! cargo run -p keel --example quickstart
//! ```

use std::time::Duration;

use keel::{Database, Durability, Isolation, Options};

fn main() -> keel::Result<()> {
    let dir = std::env::temp_dir().join(format!("keel-quickstart-{}", std::process::id()));
    // Sync durability: a commit returns only once it is on disk.
    let db = Database::open(&dir, Options::default().with_durability(Durability::Sync))?;
    let users = db.keyspace("users")?;

    // `update` runs a serializable transaction and retries it on conflict.
    db.update(|tx| {
        tx.put(&users, "alice", "admin")?;
        tx.put(&users, "bob", "reader")?;
        tx.put_with_ttl(&users, "session:42", "token", Duration::from_millis(200))
    })?;

    // `view` reads a consistent snapshot.
    let role = db.view(|tx| tx.get(&users, "alice"))?;
    println!(
        "alice is {:?}",
        role.as_deref().map(String::from_utf8_lossy)
    );

    // Explicit transactions; reads borrow the transaction, so scans and
    // point reads can be open together.
    let tx = db.begin(Isolation::Serializable);
    for item in tx.range(&users, "a".."c")? {
        let (key, value) = item?;
        println!(
            "{} = {}",
            String::from_utf8_lossy(&key),
            String::from_utf8_lossy(&value)
        );
    }
    // The other direction, keys only: the largest key first.
    let last_first: Vec<_> = tx.keys(&users, ..)?.rev().collect::<keel::Result<_>>()?;
    println!("{} keys, largest first: {last_first:?}", tx.len(&users)?);
    // A value visited in place, without a copy.
    let role_len = tx.get_with(&users, "bob", |value| value.map(<[u8]>::len))?;
    println!("bob's role has {role_len:?} bytes");
    tx.commit()?;

    // The session expires: from then on it reads as absent.
    std::thread::sleep(Duration::from_millis(250));
    let session = db.view(|tx| tx.get(&users, "session:42"))?;
    println!("session:42 after its ttl: {session:?}");
    assert!(session.is_none());

    let stats = db.stats();
    println!(
        "{} commits, {} log fsyncs, checkpoint {}",
        stats.commits, stats.log_fsyncs, stats.checkpoint_id
    );
    db.close()?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

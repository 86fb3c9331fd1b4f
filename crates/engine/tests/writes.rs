#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Writes and scans take what a user has: string and byte-string literals,
//! borrowed slices, owned buffers; and `put_bytes` keeps an owned `Bytes`.

use keel::{Bytes, Database, Options};

#[test]
fn keys_and_values_of_every_common_type() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let ks = db.keyspace("users").unwrap();
    let borrowed: Vec<u8> = b"borrowed value".to_vec();
    let owned_key: Vec<u8> = b"dave".to_vec();
    db.update(|tx| {
        tx.put(&ks, "alice", "admin")?;
        tx.put(&ks, b"bob", b"reader")?;
        tx.put(&ks, String::from("carol"), borrowed.as_slice())?;
        tx.put(&ks, &owned_key, &borrowed)?;
        tx.put_bytes(&ks, "erin", Bytes::from_static(b"static"))?;
        tx.put_bytes(&ks, "frank", vec![1u8, 2, 3])?;
        tx.put_with_ttl(&ks, "gina", b"soon", std::time::Duration::from_secs(3600))
    })
    .unwrap();
    let tx = db.begin_read();
    let get = |key: &str| tx.get(&ks, key).unwrap().map(|value| value.to_vec());
    assert_eq!(get("alice").as_deref(), Some(&b"admin"[..]));
    assert_eq!(get("bob").as_deref(), Some(&b"reader"[..]));
    assert_eq!(get("carol"), Some(borrowed.clone()));
    assert_eq!(get("dave"), Some(borrowed.clone()));
    assert_eq!(get("erin").as_deref(), Some(&b"static"[..]));
    assert_eq!(get("frank"), Some(vec![1, 2, 3]));
    assert_eq!(get("gina").as_deref(), Some(&b"soon"[..]));
    assert_eq!(tx.range(&ks, ..).unwrap().count(), 7);
    assert_eq!(tx.range(&ks, b"a"..b"c").unwrap().count(), 2);
    assert_eq!(tx.range(&ks, "a"..="bob").unwrap().count(), 2);
    fn keys(iter: impl Iterator<Item = keel::Result<Bytes>>) -> Vec<Vec<u8>> {
        iter.map(|key| key.unwrap().to_vec()).collect()
    }
    assert_eq!(
        keys(tx.keys(&ks, b"a"..b"c").unwrap()),
        [b"alice".to_vec(), b"bob".to_vec()]
    );
    assert_eq!(
        keys(tx.keys(&ks, "e"..="frank").unwrap()),
        [b"erin".to_vec(), b"frank".to_vec()]
    );
    assert_eq!(
        keys(tx.keys(&ks, String::from("f")..).unwrap().rev()),
        [b"gina".to_vec(), b"frank".to_vec()]
    );
}

#[test]
fn put_copies_a_borrowed_value_and_put_bytes_shares_an_owned_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let ks = db.keyspace("values").unwrap();
    let shared = Bytes::from(vec![7u8; 1024]);
    let mut tx = db.begin(keel::Isolation::Serializable);
    tx.put_bytes(&ks, "shared", shared.clone()).unwrap();
    let mut buffer = vec![1u8; 16];
    tx.put(&ks, "copied", &buffer).unwrap();
    // The transaction copied the value: changing the buffer afterwards
    // does not change what it wrote.
    buffer.fill(2);
    let own_shared = tx.get(&ks, "shared").unwrap().unwrap();
    // Own writes read back the very buffer given to `put_bytes`.
    assert_eq!(own_shared.as_ptr(), shared.as_ptr());
    assert_eq!(tx.get(&ks, "copied").unwrap().unwrap(), vec![1u8; 16]);
    tx.commit().unwrap();
}

/// Keys from one byte to 64 KiB, many sharing long prefixes (so a search
/// must read their overflow chains to order them), through commits, a
/// checkpoint that folds them into the B+tree, removals, a reopen and a
/// compaction: every read and scan sees them in order, and the check
/// finds the file whole.
#[test]
fn keys_up_to_64_kib_survive_checkpoint_reopen_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let lengths = [1usize, 999, 1000, 1001, 4096, 5000, 20_000, 65_000];
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for (index, &length) in lengths.iter().enumerate() {
        for variant in 0u8..4 {
            // Same long prefix, different last byte: only the chain orders them.
            let mut key = vec![b'k'; length];
            key[length - 1] = b'a' + variant;
            if length > 2 {
                key[0] = b'a' + index as u8;
            }
            keys.push(key);
        }
    }
    keys.sort();
    keys.dedup();
    let value = |key: &[u8]| format!("v{}:{}", key.len(), key[key.len() - 1]).into_bytes();
    {
        let db = Database::open(dir.path(), Options::default()).unwrap();
        let ks = db.keyspace("long").unwrap();
        db.update(|tx| {
            for key in &keys {
                tx.put(&ks, key, value(key))?;
            }
            Ok(())
        })
        .unwrap();
        db.checkpoint().unwrap();
        db.update(|tx| {
            for key in keys.iter().step_by(3) {
                tx.delete(&ks, key)?;
            }
            Ok(())
        })
        .unwrap();
        db.checkpoint().unwrap();
        db.close().unwrap();
    }
    let kept: Vec<Vec<u8>> = keys
        .iter()
        .enumerate()
        .filter(|(index, _)| index % 3 != 0)
        .map(|(_, key)| key.clone())
        .collect();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    db.compact().unwrap();
    let ks = db.keyspace("long").unwrap();
    let tx = db.begin_read();
    for (index, key) in keys.iter().enumerate() {
        let got = tx.get(&ks, key).unwrap().map(|v| v.to_vec());
        let want = (index % 3 != 0).then(|| value(key));
        assert_eq!(got, want, "key of {} bytes", key.len());
    }
    let scanned: Vec<Vec<u8>> = tx
        .range(&ks, ..)
        .unwrap()
        .map(|entry| entry.unwrap().0.to_vec())
        .collect();
    assert_eq!(scanned, kept);
    let reversed: Vec<Vec<u8>> = tx
        .keys(&ks, ..)
        .unwrap()
        .rev()
        .map(|key| key.unwrap().to_vec())
        .collect();
    assert_eq!(reversed, kept.iter().rev().cloned().collect::<Vec<_>>());
    drop(tx);
    assert_eq!(db.check().unwrap(), Vec::<String>::new());
    let too_long = vec![b'x'; 70_000];
    assert!(matches!(
        db.update(|tx| tx.put(&ks, &too_long, b"v")),
        Err(keel::Error::LimitExceeded {
            kind: keel::LimitKind::KeyBytes,
            ..
        })
    ));
}

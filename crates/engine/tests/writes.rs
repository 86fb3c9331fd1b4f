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

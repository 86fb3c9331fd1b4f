//! DUMP and RESTORE over real sockets and a real keel database: every
//! type round-trips with its TTL, a damaged payload is refused with
//! Redis's error and nothing written, and RESTORE's options and errors.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;
mod engine_support;

use common::{Client, Value, ok};
use engine_support::EngineServer;
use keel_server::AppendFsync;

/// A RESP multibulk request with binary arguments.
fn request(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for part in parts {
        out.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn dump(client: &mut Client, key: &str) -> Vec<u8> {
    match client.call(&["DUMP", key]) {
        Value::Bulk(payload) => payload,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

fn restore(client: &mut Client, key: &str, ttl: &str, payload: &[u8], options: &[&str]) -> Value {
    let mut parts: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), ttl.as_bytes(), payload];
    parts.extend(options.iter().map(|option| option.as_bytes()));
    client.send_raw(&request(&parts));
    client.read()
}

#[test]
fn every_type_round_trips_with_its_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = Client::connect(server.address);
    client.call(&["SET", "s", "value"]);
    client.call(&["HSET", "h", "f1", "v1", "f2", "v2"]);
    client.call(&["SADD", "set", "a", "b", "c"]);
    client.call(&["RPUSH", "l", "x", "y", "x"]);
    client.call(&["ZADD", "z", "1.5", "m", "-2", "n"]);
    let reads: [(&str, &[&str]); 5] = [
        ("s", &["GET", "s"]),
        ("h", &["HGETALL", "h"]),
        ("set", &["SMEMBERS", "set"]),
        ("l", &["LRANGE", "l", "0", "-1"]),
        ("z", &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
    ];
    for (key, read) in reads {
        let before = client.call(read);
        let payload = dump(&mut client, key);
        let copy = format!("{key}-copy");
        assert_eq!(restore(&mut client, &copy, "100000", &payload, &[]), ok());
        let mut read_copy: Vec<&str> = read.to_vec();
        read_copy[1] = &copy;
        assert_eq!(client.call(&read_copy), before, "{key}");
        let Value::Integer(ttl) = client.call(&["PTTL", &copy]) else {
            panic!("PTTL");
        };
        assert!((90_000..=100_000).contains(&ttl), "{key}: {ttl}");
        assert_eq!(dump(&mut client, &copy), payload, "{key}");
    }
    assert_eq!(client.call(&["DUMP", "missing"]), Value::NullBulk);
}

#[test]
fn a_damaged_payload_or_a_taken_key_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = Client::connect(server.address);
    client.call(&["RPUSH", "l", "a", "b"]);
    let payload = dump(&mut client, "l");
    let mut damaged = payload.clone();
    damaged[2] ^= 1;
    assert_eq!(
        restore(&mut client, "new", "0", &damaged, &[]),
        Value::Error("ERR DUMP payload version or checksum are wrong".to_owned())
    );
    assert_eq!(
        restore(&mut client, "new", "0", b"", &[]),
        Value::Error("ERR DUMP payload version or checksum are wrong".to_owned())
    );
    assert_eq!(client.call(&["EXISTS", "new"]), Value::Integer(0));
    assert_eq!(
        restore(&mut client, "l", "0", &payload, &[]),
        Value::Error("BUSYKEY Target key name already exists.".to_owned())
    );
    assert_eq!(
        restore(&mut client, "l", "-1", &payload, &["REPLACE"]),
        Value::Error("ERR Invalid TTL value, must be >= 0".to_owned())
    );
    client.call(&["SET", "l", "a string now"]);
    assert_eq!(restore(&mut client, "l", "0", &payload, &["REPLACE"]), ok());
    assert_eq!(client.call(&["LLEN", "l"]), Value::Integer(2));
    // ABSTTL in the past: the replaced key is gone, nothing restored.
    assert_eq!(
        restore(&mut client, "l", "1", &payload, &["REPLACE", "ABSTTL"]),
        ok()
    );
    assert_eq!(client.call(&["EXISTS", "l"]), Value::Integer(0));
}

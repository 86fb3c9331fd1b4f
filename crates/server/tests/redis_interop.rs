//! DUMP/RESTORE between keel and a real redis-server: every type and
//! encoding redis-server 7 keeps, dumped there and restored on keel, reads
//! the same; keel's DUMP of it restores on redis-server and reads the same
//! there. Skipped, with the reason printed, where no `redis-server` binary
//! is installed (CI without Redis runs the fixed payloads of
//! `src/commands/rdb/fixture_tests.rs` instead).

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;
mod engine_support;

use std::net::{SocketAddr, TcpListener};

use common::redis_server::RedisServer;
use common::{Client, Value, words as call};
use engine_support::EngineServer;
use keel_server::AppendFsync;

fn request(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for part in parts {
        out.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn restore(client: &mut Client, key: &str, payload: &[u8]) -> Value {
    client.send_raw(&request(&[b"RESTORE", key.as_bytes(), b"0", payload]));
    client.read()
}

fn dump(client: &mut Client, key: &str) -> Vec<u8> {
    match client.call(&["DUMP", key]) {
        Value::Bulk(payload) => payload,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

/// A reply with sets' and hashes' order taken out.
fn normalized(read: &[&str], value: Value) -> Value {
    match (read[0], value) {
        ("SMEMBERS", Value::Array(mut items)) => {
            items.sort_by_key(|item| format!("{item:?}"));
            Value::Array(items)
        }
        ("HGETALL", Value::Array(items)) => {
            let mut pairs: Vec<Vec<Value>> = items.chunks(2).map(|pair| pair.to_vec()).collect();
            pairs.sort_by_key(|pair| format!("{pair:?}"));
            Value::Array(pairs.concat())
        }
        (_, value) => value,
    }
}

/// Commands that build a key, and a read that shows all of it.
type Case = (&'static str, Vec<Vec<String>>, Vec<&'static str>);

fn words(text: &str) -> Vec<String> {
    text.split(' ').map(str::to_owned).collect()
}

fn cases() -> Vec<Case> {
    let many = |prefix: &str, count: usize, each: &dyn Fn(usize) -> String| -> Vec<Vec<String>> {
        let mut command = words(prefix);
        command.extend((0..count).flat_map(|index| words(&each(index))));
        vec![command]
    };
    let stream = [
        "XADD k 1-1 a 1 b 2",
        "XADD k 1-2 a 3 b 4",
        "XADD k 2-0 c 5",
        "XADD k 3-0 a 6 b 7",
        "XDEL k 1-2",
        "XGROUP CREATE k g1 0",
        "XREADGROUP GROUP g1 alice COUNT 1 STREAMS k >",
        "XREADGROUP GROUP g1 bob COUNT 1 STREAMS k >",
        "XGROUP CREATE k g2 $",
        "XGROUP CREATECONSUMER k g2 carol",
    ];
    vec![
        ("embstr", vec![words("SET k hello")], vec!["GET", "k"]),
        ("int", vec![words("SET k -1234567")], vec!["GET", "k"]),
        (
            "lzf",
            vec![words(&format!("SET k {}", "ab".repeat(200)))],
            vec!["GET", "k"],
        ),
        (
            "quicklist",
            vec![words("RPUSH k a 1 -300 100000 5000000000")],
            vec!["LRANGE", "k", "0", "-1"],
        ),
        (
            "quicklist-nodes",
            many("RPUSH k", 600, &|i| format!("{i}-{}", "x".repeat(40))),
            vec!["LRANGE", "k", "0", "-1"],
        ),
        (
            "intset",
            vec![words("SADD k 3 -1 70000 5000000000")],
            vec!["SMEMBERS", "k"],
        ),
        (
            "set-hashtable",
            many("SADD k", 600, &|i| format!("m{i}")),
            vec!["SMEMBERS", "k"],
        ),
        (
            "zset-listpack",
            vec![words("ZADD k 1.5 a -2 b inf c 3 d")],
            vec!["ZRANGE", "k", "0", "-1", "WITHSCORES"],
        ),
        (
            "zset-skiplist",
            many("ZADD k", 300, &|i| format!("{}.25 m{i}", i)),
            vec!["ZRANGE", "k", "0", "-1", "WITHSCORES"],
        ),
        (
            "hash-listpack",
            vec![words("HSET k f v n 12 big -100000")],
            vec!["HGETALL", "k"],
        ),
        (
            "hash-hashtable",
            many("HSET k", 300, &|i| format!("f{i} v{i}")),
            vec!["HGETALL", "k"],
        ),
        (
            "stream",
            stream.iter().map(|text| words(text)).collect(),
            vec!["XRANGE", "k", "-", "+"],
        ),
        (
            "stream-nodes",
            (0..250)
                .map(|i| words(&format!("XADD k * f{} {i}", i % 3)))
                .collect(),
            vec!["XRANGE", "k", "-", "+"],
        ),
    ]
}

#[test]
fn every_redis_encoding_restores_on_keel_and_keel_dumps_restore_on_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keel = EngineServer::start(dir.path(), AppendFsync::No);
    let mut on_redis = Client::connect(redis.address);
    let mut on_keel = Client::connect(keel.address);
    for (name, commands, read) in cases() {
        for client in [&mut on_redis, &mut on_keel] {
            client.call(&["DEL", "k", "back"]);
        }
        for command in &commands {
            let parts: Vec<&str> = command.iter().map(String::as_str).collect();
            on_redis.call(&parts);
        }
        let encoding = on_redis.call(&["OBJECT", "ENCODING", "k"]).text();
        let expected = normalized(&read, on_redis.call(&read));
        let payload = dump(&mut on_redis, "k");
        assert_eq!(
            restore(&mut on_keel, "k", &payload),
            Value::Simple("OK".into()),
            "{name}"
        );
        assert_eq!(
            normalized(&read, on_keel.call(&read)),
            expected,
            "{name} ({encoding}) on keel"
        );
        let back = dump(&mut on_keel, "k");
        assert_eq!(
            restore(&mut on_redis, "back", &back),
            Value::Simple("OK".into()),
            "{name}"
        );
        let mut read_back = read.clone();
        read_back[1] = "back";
        assert_eq!(
            normalized(&read, on_redis.call(&read_back)),
            expected,
            "{name} back on redis"
        );
    }
    // A stream whose entries were all deleted keeps its IDs and counters.
    for client in [&mut on_redis, &mut on_keel] {
        client.call(&["DEL", "k", "back"]);
    }
    on_redis.call(&["XADD", "k", "5-5", "a", "b"]);
    on_redis.call(&["XDEL", "k", "5-5"]);
    let payload = dump(&mut on_redis, "k");
    assert_eq!(
        restore(&mut on_keel, "k", &payload),
        Value::Simple("OK".into())
    );
    let back = dump(&mut on_keel, "k");
    assert_eq!(
        restore(&mut on_redis, "back", &back),
        Value::Simple("OK".into())
    );
    let fields = [
        "length",
        "last-generated-id",
        "max-deleted-entry-id",
        "entries-added",
    ];
    let expected = on_redis.call(&["XINFO", "STREAM", "k"]);
    for (client, key) in [(&mut on_keel, "k"), (&mut on_redis, "back")] {
        let info = client.call(&["XINFO", "STREAM", key]);
        for field in fields {
            assert_eq!(info.field(field), expected.field(field), "{field} of {key}");
        }
    }
    // The stream's groups, consumers and pending entries came along.
    for read in [vec!["XINFO", "GROUPS", "k"], vec!["XPENDING", "k", "g1"]] {
        for client in [&mut on_redis, &mut on_keel] {
            client.call(&["DEL", "k"]);
            for text in [
                "XADD k 1-1 a 1",
                "XADD k 2-0 b 2",
                "XGROUP CREATE k g1 0",
                "XREADGROUP GROUP g1 alice COUNT 1 STREAMS k >",
            ] {
                let parts = words(text);
                client.call(&parts.iter().map(String::as_str).collect::<Vec<_>>());
            }
        }
        let payload = dump(&mut on_redis, "k");
        assert_eq!(
            restore(&mut on_keel, "copy", &payload),
            Value::Simple("OK".into())
        );
        let read_copy: Vec<&str> = read
            .iter()
            .map(|&word| if word == "k" { "copy" } else { word })
            .collect();
        assert_eq!(on_keel.call(&read_copy), on_redis.call(&read), "{read:?}");
        on_keel.call(&["DEL", "copy"]);
    }
}

fn migrate(client: &mut Client, address: SocketAddr, key: &str, options: &[&str]) -> Value {
    let port = address.port().to_string();
    let mut parts = vec!["MIGRATE", "127.0.0.1", &port, key, "0", "5000"];
    parts.extend_from_slice(options);
    client.call(&parts)
}

#[test]
fn migrate_moves_keys_to_redis_and_to_keel() {
    let dir = tempfile::tempdir().unwrap();
    let source = EngineServer::start(&dir.path().join("source"), AppendFsync::No);
    let target_dir = dir.path().join("target");
    let target = EngineServer::start(&target_dir, AppendFsync::No);
    let mut on_source = Client::connect(source.address);
    let mut on_target = Client::connect(target.address);
    let ok = Value::Simple("OK".into());
    call(&mut on_source, "RPUSH list a b c");
    call(&mut on_source, "SET s v PX 100000");
    call(&mut on_source, "HSET h f v");
    // keel to keel: the key moves with its TTL.
    assert_eq!(migrate(&mut on_source, target.address, "s", &[]), ok);
    assert_eq!(call(&mut on_source, "EXISTS s"), Value::Integer(0));
    assert_eq!(call(&mut on_target, "GET s"), Value::bulk("v"));
    let Value::Integer(ttl) = call(&mut on_target, "PTTL s") else {
        panic!("PTTL");
    };
    assert!((90_000..=100_000).contains(&ttl), "{ttl}");
    // Nothing is cached: INFO says so, as Redis's suite reads it.
    let info = call(&mut on_source, "INFO stats").text();
    assert!(info.contains("migrate_cached_sockets:0\r\n"), "{info}");
    // COPY keeps it; a key the target has is refused without REPLACE.
    assert_eq!(
        migrate(&mut on_source, target.address, "list", &["COPY"]),
        ok
    );
    assert_eq!(call(&mut on_source, "LLEN list"), Value::Integer(3));
    assert_eq!(
        migrate(&mut on_source, target.address, "list", &["COPY"]),
        Value::Error(
            "ERR Target instance replied with error: BUSYKEY Target key name already exists."
                .into()
        )
    );
    call(&mut on_source, "RPUSH list d");
    assert_eq!(
        migrate(&mut on_source, target.address, "list", &["REPLACE"]),
        ok
    );
    assert_eq!(call(&mut on_target, "LLEN list"), Value::Integer(4));
    assert_eq!(call(&mut on_source, "EXISTS list"), Value::Integer(0));
    // Nothing to move; a target that is not there.
    assert_eq!(
        migrate(&mut on_source, target.address, "missing", &[]),
        Value::Simple("NOKEY".into())
    );
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert_eq!(
        migrate(&mut on_source, closed, "h", &[]),
        Value::Error("IOERR error or timeout connecting to the client".into())
    );
    assert_eq!(call(&mut on_source, "EXISTS h"), Value::Integer(1));
    // keel to redis-server, with AUTH and KEYS.
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut on_redis = Client::connect(redis.address);
    call(&mut on_redis, "CONFIG SET requirepass secret");
    call(&mut on_source, "ZADD z 1 a 2 b");
    assert_eq!(
        migrate(&mut on_source, redis.address, "", &["AUTH", "wrong", "KEYS", "h", "z"]),
        Value::Error(
            "ERR Target instance replied with error: WRONGPASS invalid username-password pair or user is disabled."
                .into()
        )
    );
    assert_eq!(
        migrate(
            &mut on_source,
            redis.address,
            "",
            &["AUTH2", "default", "secret", "KEYS", "h", "z", "nope"]
        ),
        ok
    );
    assert_eq!(call(&mut on_source, "EXISTS h z"), Value::Integer(0));
    call(&mut on_redis, "AUTH secret");
    assert_eq!(call(&mut on_redis, "HGET h f"), Value::bulk("v"));
    assert_eq!(call(&mut on_redis, "ZSCORE z b"), Value::bulk("2"));
    // And back: redis-server migrates to keel.
    let port = source.address.port().to_string();
    let back = on_redis.call(&[
        "MIGRATE",
        "127.0.0.1",
        &port,
        "",
        "0",
        "5000",
        "KEYS",
        "h",
        "z",
    ]);
    assert_eq!(back, ok);
    assert_eq!(
        call(&mut on_source, "ZRANGE z 0 -1"),
        Value::Array(vec![Value::bulk("a"), Value::bulk("b")])
    );
}

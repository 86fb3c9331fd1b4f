//! keel-server over a real keel database, talked to with the `redis`
//! crate: strings, expiry, databases, pipelining, malformed input, INFO,
//! CONFIG, SAVE, SCAN paging, restart and SHUTDOWN.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod engine_support;

use std::io::{Read, Write};
use std::time::Duration;

use engine_support::{EngineServer, call, call_error, scan_all};
use keel_server::AppendFsync;
use redis::{Commands, Value};

#[test]
fn string_commands_answer_as_redis_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = server.client();
    let _: () = client.set("greeting", "hello").unwrap();
    let value: String = client.get("greeting").unwrap();
    assert_eq!(value, "hello");
    let length: i64 = client.append("greeting", " world").unwrap();
    assert_eq!(length, 11);
    assert_eq!(
        call(&mut client, &["GETRANGE", "greeting", "0", "4"]),
        Value::BulkString(b"hello".to_vec())
    );
    assert_eq!(
        call(&mut client, &["SETRANGE", "greeting", "6", "there"]),
        Value::Int(11)
    );
    let value: String = client.get("greeting").unwrap();
    assert_eq!(value, "hello there");
    assert_eq!(call(&mut client, &["STRLEN", "greeting"]), Value::Int(11));

    let counter: i64 = client.incr("counter", 5).unwrap();
    assert_eq!(counter, 5);
    let counter: i64 = client.decr("counter", 7).unwrap();
    assert_eq!(counter, -2);
    assert_eq!(
        call(&mut client, &["INCRBYFLOAT", "float", "1.5"]),
        Value::BulkString(b"1.5".to_vec())
    );
    assert!(call_error(&mut client, &["INCR", "greeting"]).contains("not an integer"));

    let _: () = redis::cmd("MSET")
        .arg(&["a", "1", "b", "2", "c", "3"])
        .query(&mut client)
        .unwrap();
    let values: Vec<Option<String>> = client.mget(&["a", "missing", "c"]).unwrap();
    assert_eq!(values, vec![Some("1".into()), None, Some("3".into())]);
    assert_eq!(
        call(&mut client, &["MSETNX", "c", "x", "d", "4"]),
        Value::Int(0)
    );
    assert_eq!(call(&mut client, &["EXISTS", "a", "b", "d"]), Value::Int(2));
    assert_eq!(
        call(&mut client, &["SET", "a", "10", "NX"]),
        Value::Nil,
        "SET NX of an existing key"
    );
    assert_eq!(
        call(&mut client, &["SET", "a", "11", "GET"]),
        Value::BulkString(b"1".to_vec())
    );
    assert_eq!(
        call(&mut client, &["GETDEL", "a"]),
        Value::BulkString(b"11".to_vec())
    );
    assert_eq!(
        call(&mut client, &["TYPE", "a"]),
        Value::SimpleString("none".into())
    );
    assert_eq!(
        call(&mut client, &["TYPE", "b"]),
        Value::SimpleString("string".into())
    );
    assert_eq!(call(&mut client, &["RENAME", "b", "bee"]), Value::Okay);
    assert_eq!(call(&mut client, &["RENAMENX", "bee", "c"]), Value::Int(0));
    assert!(call_error(&mut client, &["RENAME", "nothing", "x"]).contains("no such key"));
    let mut keys: Vec<String> = client.keys("*").unwrap();
    keys.sort();
    assert_eq!(keys, ["bee", "c", "counter", "float", "greeting"]);
    assert_eq!(call(&mut client, &["DBSIZE"]), Value::Int(5));
    assert_eq!(
        call(&mut client, &["DEL", "bee", "c", "nothing"]),
        Value::Int(2)
    );
    assert_eq!(call(&mut client, &["DBSIZE"]), Value::Int(3));
    assert!(call_error(&mut client, &["NOSUCHCOMMAND"]).contains("unknown command"));
    // What test harnesses call between suites.
    assert_eq!(call(&mut client, &["FUNCTION", "FLUSH"]), Value::Okay);
    assert_eq!(
        call(&mut client, &["FUNCTION", "LIST"]),
        Value::Array(Vec::new())
    );
    server.stop();
}

#[test]
fn keys_expire_and_ttls_count_down() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = server.client();
    assert_eq!(
        call(&mut client, &["SET", "short", "v", "PX", "150"]),
        Value::Okay
    );
    assert_eq!(
        call(&mut client, &["SET", "long", "v", "EX", "1000"]),
        Value::Okay
    );
    assert_eq!(call(&mut client, &["SET", "forever", "v"]), Value::Okay);
    let Value::Int(pttl) = call(&mut client, &["PTTL", "short"]) else {
        panic!("PTTL is an integer");
    };
    assert!((1..=150).contains(&pttl), "PTTL {pttl}");
    let Value::Int(ttl) = call(&mut client, &["TTL", "long"]) else {
        panic!("TTL is an integer");
    };
    assert!((999..=1000).contains(&ttl), "TTL {ttl}");
    assert_eq!(call(&mut client, &["TTL", "forever"]), Value::Int(-1));
    assert_eq!(call(&mut client, &["TTL", "absent"]), Value::Int(-2));

    // Waiting for a deadline to pass (the assertion is about the key, not
    // about how long anything took).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(call(&mut client, &["GET", "short"]), Value::Nil);
    assert_eq!(call(&mut client, &["TTL", "short"]), Value::Int(-2));
    assert_eq!(call(&mut client, &["EXISTS", "short"]), Value::Int(0));
    let mut keys: Vec<String> = client.keys("*").unwrap();
    keys.sort();
    assert_eq!(keys, ["forever", "long"]);

    assert_eq!(call(&mut client, &["PERSIST", "long"]), Value::Int(1));
    assert_eq!(call(&mut client, &["TTL", "long"]), Value::Int(-1));
    assert_eq!(
        call(&mut client, &["EXPIRE", "forever", "100"]),
        Value::Int(1)
    );
    assert_eq!(
        call(&mut client, &["EXPIRE", "forever", "50", "GT"]),
        Value::Int(0)
    );
    assert_eq!(
        call(&mut client, &["EXPIRE", "forever", "-1"]),
        Value::Int(1)
    );
    assert_eq!(
        call(&mut client, &["GET", "forever"]),
        Value::Nil,
        "a past deadline deletes"
    );
    assert_eq!(
        call(&mut client, &["SET", "k", "v", "EX", "100"]),
        Value::Okay
    );
    assert_eq!(
        call(&mut client, &["SET", "k", "w", "KEEPTTL"]),
        Value::Okay
    );
    let Value::Int(ttl) = call(&mut client, &["TTL", "k"]) else {
        panic!("TTL is an integer");
    };
    assert!(ttl > 90, "KEEPTTL kept it: {ttl}");
    let info: String = redis::cmd("INFO")
        .arg("keyspace")
        .query(&mut client)
        .unwrap();
    assert!(info.contains("db0:keys=2,expires=1,avg_ttl=0"), "{info}");
    server.stop();
}

#[test]
fn databases_are_separate_keyspaces() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = server.client();
    assert_eq!(call(&mut client, &["SET", "k", "zero"]), Value::Okay);
    assert_eq!(call(&mut client, &["SELECT", "15"]), Value::Okay);
    assert_eq!(call(&mut client, &["GET", "k"]), Value::Nil);
    assert_eq!(call(&mut client, &["SET", "k", "fifteen"]), Value::Okay);
    assert!(call_error(&mut client, &["SELECT", "16"]).contains("out of range"));
    assert_eq!(call(&mut client, &["FLUSHDB"]), Value::Okay);
    assert_eq!(call(&mut client, &["DBSIZE"]), Value::Int(0));
    assert_eq!(call(&mut client, &["SELECT", "0"]), Value::Okay);
    assert_eq!(
        call(&mut client, &["GET", "k"]),
        Value::BulkString(b"zero".to_vec())
    );
    assert_eq!(call(&mut client, &["SELECT", "3"]), Value::Okay);
    assert_eq!(call(&mut client, &["SET", "three", "3"]), Value::Okay);
    assert_eq!(call(&mut client, &["FLUSHALL"]), Value::Okay);
    assert_eq!(call(&mut client, &["DBSIZE"]), Value::Int(0));
    assert_eq!(call(&mut client, &["SELECT", "0"]), Value::Okay);
    assert_eq!(call(&mut client, &["DBSIZE"]), Value::Int(0));
    let names = server.backend().database().keyspaces();
    assert!(names.iter().any(|name| name == "db15"), "{names:?}");
    server.stop();
}

#[test]
fn a_pipeline_of_many_commands_answers_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::Always);
    let mut client = server.client();
    let mut pipeline = redis::pipe();
    for index in 0..500 {
        pipeline
            .cmd("SET")
            .arg(format!("key:{index}"))
            .arg(index)
            .ignore();
        pipeline.cmd("INCR").arg("counter");
    }
    pipeline.cmd("GET").arg("key:499");
    let results: Vec<Value> = pipeline.query(&mut client).unwrap();
    assert_eq!(results.len(), 501);
    for (index, result) in results[..500].iter().enumerate() {
        assert_eq!(*result, Value::Int(index as i64 + 1));
    }
    assert_eq!(results[500], Value::BulkString(b"499".to_vec()));
    assert_eq!(call(&mut client, &["DBSIZE"]), Value::Int(501));
    server.stop();
}

#[test]
fn a_failing_command_in_a_pipeline_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::Always);
    let mut client = server.client();
    // Past the engine's key limit (64 KiB and its prefix).
    let long_key = "k".repeat(70_000);
    let mut pipeline = redis::pipe();
    pipeline
        .cmd("SET")
        .arg("before")
        .arg("1")
        .cmd("SET")
        .arg(&long_key)
        .arg("v")
        .cmd("INCR")
        .arg("after")
        .cmd("GET")
        .arg("before");
    // The redis crate reports the first error of a pipeline; raw bytes
    // show every reply.
    assert!(pipeline.query::<Vec<Value>>(&mut client).is_err());
    assert_eq!(
        call(&mut client, &["GET", "before"]),
        Value::BulkString(b"1".to_vec())
    );
    assert_eq!(
        call(&mut client, &["GET", "after"]),
        Value::BulkString(b"1".to_vec())
    );
    let mut raw = std::net::TcpStream::connect(server.address).unwrap();
    // The long key as a bulk string: an inline request stops at 64 KiB.
    let request = format!(
        "SET x 1\r\n*3\r\n$3\r\nSET\r\n${}\r\n{long_key}\r\n$1\r\nv\r\nINCR after\r\nQUIT\r\n",
        long_key.len()
    );
    raw.write_all(request.as_bytes()).unwrap();
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).unwrap();
    let text = String::from_utf8_lossy(&reply);
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "+OK");
    assert!(
        lines[1].starts_with("-ERR a key of 70000 bytes is over the limit"),
        "{text}"
    );
    assert_eq!(lines[2..], [":2", "+OK", ""]);
    assert_eq!(call(&mut client, &["DBSIZE"]), Value::Int(3));
    server.stop();
}

#[test]
fn malformed_input_closes_only_that_connection_and_touches_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut good = server.client();
    assert_eq!(call(&mut good, &["SET", "safe", "value"]), Value::Okay);
    for garbage in [
        &b"*abc\r\n"[..],
        b"*2\r\n$3\r\nSET\r\n:1\r\n",
        b"*1\r\n$99999999999\r\n",
        b"\"unbalanced\r\n",
        b"*3\r\n$3\r\nSET\r\n$4\r\nsafe\r\n$-5\r\n",
    ] {
        let mut raw = std::net::TcpStream::connect(server.address).unwrap();
        raw.set_read_timeout(Some(engine_support::READ_TIMEOUT))
            .unwrap();
        raw.write_all(garbage).unwrap();
        let mut reply = Vec::new();
        raw.read_to_end(&mut reply).unwrap();
        let text = String::from_utf8_lossy(&reply);
        assert!(
            text.starts_with("-ERR Protocol error"),
            "{garbage:?} → {text}"
        );
    }
    // Inline commands work, as with telnet.
    let mut raw = std::net::TcpStream::connect(server.address).unwrap();
    raw.write_all(b"GET safe\r\nQUIT\r\n").unwrap();
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"$5\r\nvalue\r\n+OK\r\n");
    assert_eq!(
        call(&mut good, &["GET", "safe"]),
        Value::BulkString(b"value".to_vec())
    );
    assert_eq!(call(&mut good, &["DBSIZE"]), Value::Int(1));
    server.stop();
}

#[test]
fn info_config_and_saves_report_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::Always);
    let mut client = server.client();
    assert_eq!(call(&mut client, &["SET", "k", "v"]), Value::Okay);
    let before: i64 = redis::cmd("LASTSAVE").query(&mut client).unwrap();
    assert_eq!(call(&mut client, &["SAVE"]), Value::Okay);
    let after: i64 = redis::cmd("LASTSAVE").query(&mut client).unwrap();
    assert!(after >= before && after > 1_600_000_000, "{before} {after}");
    let info: String = redis::cmd("INFO").query(&mut client).unwrap();
    for field in [
        "# Persistence",
        "rdb_bgsave_in_progress:0",
        "aof_enabled:1",
        "keel_appendfsync:always",
        "keel_checkpoint_id:",
        "# Stats",
        "keel_commits:",
        "keel_conflicts:",
        "keel_fsyncs_per_commit:",
        "# Keyspace",
        "db0:keys=1,expires=0,avg_ttl=0",
    ] {
        assert!(info.contains(field), "INFO lacks {field}:\n{info}");
    }
    let checkpoint = |info: &str| -> u64 {
        info.lines()
            .find_map(|line| line.strip_prefix("keel_checkpoint_id:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let first = checkpoint(&info);
    assert_eq!(
        call(&mut client, &["BGSAVE"]),
        Value::SimpleString("Background saving started".into())
    );
    // The background save ends; INFO says so.
    let mut info = String::new();
    for _ in 0..500 {
        info = redis::cmd("INFO")
            .arg("persistence")
            .query(&mut client)
            .unwrap();
        if info.contains("rdb_bgsave_in_progress:0") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(checkpoint(&info) > first, "BGSAVE checkpointed:\n{info}");
    let config: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendfsync")
        .query(&mut client)
        .unwrap();
    assert_eq!(config, ["appendfsync", "always"]);
    assert_eq!(
        call(&mut client, &["CONFIG", "SET", "save", ""]),
        Value::Okay
    );
    assert_eq!(
        call(&mut client, &["CONFIG", "SET", "appendfsync", "always"]),
        Value::Okay
    );
    assert!(
        call_error(&mut client, &["CONFIG", "SET", "appendfsync", "no"]).contains("appendfsync")
    );
    assert!(call_error(&mut client, &["CONFIG", "SET", "nosuch", "1"]).contains("Unknown option"));
    server.stop();
}

/// INFO's `rdb_changes_since_last_save` counts, as Redis's dirty count,
/// the committed commands that changed something (each command of a
/// MULTI block and of a pipeline), not reads or writes that change
/// nothing; SAVE and BGSAVE bring it back to 0.
#[test]
fn info_counts_the_changes_since_the_last_save() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = server.client();
    let dirty = |client: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").arg("persistence").query(client).unwrap();
        info.lines()
            .find_map(|line| line.strip_prefix("rdb_changes_since_last_save:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let start = dirty(&mut client);
    assert_eq!(call(&mut client, &["SET", "k", "v"]), Value::Okay);
    assert_eq!(call(&mut client, &["SETBIT", "b", "3", "1"]), Value::Int(0));
    assert_eq!(call(&mut client, &["SETBIT", "b", "3", "1"]), Value::Int(1));
    assert_eq!(
        call(&mut client, &["GET", "k"]),
        Value::BulkString(b"v".to_vec())
    );
    assert_eq!(
        dirty(&mut client),
        start + 2,
        "SET and the SETBIT that changed"
    );
    let _: Vec<Value> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("x")
        .arg("1")
        .cmd("INCR")
        .arg("x")
        .cmd("GET")
        .arg("x")
        .query(&mut client)
        .unwrap();
    assert_eq!(dirty(&mut client), start + 4, "two writes in MULTI");
    assert_eq!(call(&mut client, &["SAVE"]), Value::Okay);
    assert_eq!(dirty(&mut client), 0);
    assert_eq!(call(&mut client, &["DEL", "k"]), Value::Int(1));
    assert_eq!(call(&mut client, &["DEL", "k"]), Value::Int(0));
    assert_eq!(dirty(&mut client), 1, "only the DEL that deleted");
    call(&mut client, &["BGSAVE"]);
    let mut settled = u64::MAX;
    for _ in 0..500 {
        settled = dirty(&mut client);
        if settled == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(settled, 0, "BGSAVE saved the change");
    server.stop();
}

#[test]
fn scan_pages_with_match_and_type_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = server.client();
    let mut expected: Vec<String> = (0..300).map(|index| format!("{index:03}:k")).collect();
    for chunk in expected.chunks(100) {
        let mut mset = redis::cmd("MSET");
        for key in chunk {
            mset.arg(key).arg("v");
        }
        let _: () = mset.query(&mut client).unwrap();
    }
    let mut seen = scan_all(&mut client, 10);
    seen.sort();
    seen.dedup();
    assert_eq!(seen, expected);
    let (next, first): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg("1*")
        .arg("COUNT")
        .arg(150)
        .query(&mut client)
        .unwrap();
    assert_ne!(next, 0);
    assert_eq!(first.len(), 50, "the 100s among the first 150 keys");
    let (_, none): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("TYPE")
        .arg("list")
        .query(&mut client)
        .unwrap();
    assert!(none.is_empty());
    assert!(call_error(&mut client, &["SCAN", "-1"]).contains("invalid cursor"));
    // Stop half way; the cursor still means the same after a restart.
    let (cursor, part): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("COUNT")
        .arg(120)
        .query(&mut client)
        .unwrap();
    drop(client);
    server.stop();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = server.client();
    let mut cursor = cursor;
    let mut rest = Vec::new();
    while cursor != 0 {
        let (next, batch): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).query(&mut client).unwrap();
        rest.extend(batch);
        cursor = next;
    }
    let mut all: Vec<String> = part.into_iter().chain(rest).collect();
    all.sort();
    all.dedup();
    expected.sort();
    assert_eq!(all, expected);
    server.stop();
}

#[test]
fn acknowledged_writes_survive_a_restart_and_shutdown_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::Always);
    let mut client = server.client();
    for index in 0..50 {
        let _: () = client.set(format!("key{index}"), index).unwrap();
    }
    let _: () = client.set_ex("expiring", "v", 1000).unwrap();
    assert_eq!(call(&mut client, &["SELECT", "7"]), Value::Okay);
    assert_eq!(call(&mut client, &["SET", "seven", "7"]), Value::Okay);
    // SHUTDOWN: no reply, the connection closes, the server stops.
    let result: redis::RedisResult<Value> = redis::cmd("SHUTDOWN").query(&mut client);
    assert!(result.is_err(), "SHUTDOWN does not reply: {result:?}");
    server.wait();

    let server = EngineServer::start(dir.path(), AppendFsync::Always);
    let mut client = server.client();
    assert_eq!(call(&mut client, &["DBSIZE"]), Value::Int(51));
    let value: i64 = client.get("key49").unwrap();
    assert_eq!(value, 49);
    let ttl: i64 = client.ttl("expiring").unwrap();
    assert!(ttl > 990, "the deadline survived: {ttl}");
    assert_eq!(call(&mut client, &["SELECT", "7"]), Value::Okay);
    assert_eq!(
        call(&mut client, &["GET", "seven"]),
        Value::BulkString(b"7".to_vec())
    );
    server.stop();
}

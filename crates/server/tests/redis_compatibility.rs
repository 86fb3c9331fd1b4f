//! The commands Redis's own test suite (tests/unit/type/string.tcl,
//! keyspace.tcl, expire.tcl, multi.tcl, info.tcl) and its framework use
//! beyond issue 8's list, over a real keel database, byte for byte with
//! Redis's replies and error texts.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;
mod engine_support;

use common::{Client, Value, error, ok};
use engine_support::EngineServer;
use keel_server::AppendFsync;

fn int(value: i64) -> Value {
    Value::Integer(value)
}

fn bulk(text: &str) -> Value {
    Value::bulk(text)
}

fn start(dir: &std::path::Path) -> (EngineServer, Client) {
    let server = EngineServer::start(dir, AppendFsync::No);
    let client = Client::connect(server.address);
    (server, client)
}

#[test]
fn copy_and_move_between_databases() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client) = start(dir.path());
    assert_eq!(client.call(&["SELECT", "9"]), ok());
    assert_eq!(client.call(&["SET", "mykey", "foobar", "EX", "100"]), ok());
    assert_eq!(client.call(&["COPY", "mykey", "mynewkey"]), int(1));
    assert_eq!(client.call(&["GET", "mynewkey"]), bulk("foobar"));
    let Value::Integer(ttl) = client.call(&["TTL", "mynewkey"]) else {
        panic!("TTL is an integer");
    };
    assert!((1..=100).contains(&ttl), "COPY keeps the expiry: {ttl}");
    assert_eq!(client.call(&["COPY", "mykey", "mynewkey"]), int(0));
    assert_eq!(
        client.call(&["COPY", "mykey", "mynewkey", "DB", "10"]),
        int(1)
    );
    assert_eq!(client.call(&["SET", "mykey", "hello"]), ok());
    assert_eq!(
        client.call(&["COPY", "mykey", "mynewkey", "DB", "10"]),
        int(0)
    );
    assert_eq!(
        client.call(&["COPY", "mykey", "mynewkey", "db", "10", "replace"]),
        int(1)
    );
    assert_eq!(client.call(&["TTL", "mykey"]), int(-1));
    assert_eq!(client.call(&["SELECT", "10"]), ok());
    assert_eq!(client.call(&["GET", "mynewkey"]), bulk("hello"));
    assert_eq!(
        client.call(&["TTL", "mynewkey"]),
        int(-1),
        "no expiry copied"
    );
    assert_eq!(client.call(&["SELECT", "9"]), ok());
    assert_eq!(client.call(&["COPY", "missing", "x"]), int(0));
    assert_eq!(
        client.call(&["COPY", "mykey", "mykey"]),
        error("ERR source and destination objects are the same")
    );
    assert_eq!(
        client.call(&["COPY", "mykey", "x", "DB", "notanumber"]),
        error("ERR value is not an integer or out of range")
    );
    assert_eq!(
        client.call(&["COPY", "mykey", "x", "DB", "16"]),
        error("ERR DB index is out of range")
    );
    assert_eq!(
        client.call(&["COPY", "mykey", "x", "DB", "99999999999"]),
        error("ERR value is out of range, value must between -2147483648 and 2147483647")
    );
    assert_eq!(
        client.call(&["SELECT", "99999999999"]),
        error("ERR value is out of range, value must between -2147483648 and 2147483647")
    );
    assert_eq!(
        client.call(&["COPY", "mykey", "x", "NONSENSE"]),
        error("ERR syntax error")
    );

    assert_eq!(client.call(&["SET", "moving", "foo", "EX", "100"]), ok());
    assert_eq!(client.call(&["MOVE", "moving", "10"]), int(1));
    assert_eq!(client.call(&["EXISTS", "moving"]), int(0));
    assert_eq!(client.call(&["SET", "moving", "again"]), ok());
    assert_eq!(
        client.call(&["MOVE", "moving", "10"]),
        int(0),
        "taken there"
    );
    assert_eq!(client.call(&["MOVE", "nothing", "10"]), int(0));
    assert_eq!(
        client.call(&["MOVE", "moving", "9"]),
        error("ERR source and destination objects are the same")
    );
    assert_eq!(
        client.call(&["MOVE", "moving", "notanumber"]),
        error("ERR value is not an integer or out of range")
    );
    assert_eq!(
        client.call(&["MOVE", "moving", "99"]),
        error("ERR DB index is out of range")
    );
    assert_eq!(client.call(&["SELECT", "10"]), ok());
    assert_eq!(client.call(&["GET", "moving"]), bulk("foo"));
    let Value::Integer(ttl) = client.call(&["TTL", "moving"]) else {
        panic!("TTL is an integer");
    };
    assert!((1..=100).contains(&ttl), "MOVE keeps the expiry: {ttl}");
    // Inside MULTI too, as one transaction.
    assert_eq!(client.call(&["MULTI"]), ok());
    assert_eq!(
        client.call(&["COPY", "moving", "copied", "DB", "3"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(
        client.call(&["MOVE", "moving", "4"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(client.call(&["EXEC"]), Value::Array(vec![int(1), int(1)]));
    assert_eq!(client.call(&["SELECT", "4"]), ok());
    assert_eq!(client.call(&["GET", "moving"]), bulk("foo"));
    assert_eq!(client.call(&["SELECT", "3"]), ok());
    assert_eq!(client.call(&["GET", "copied"]), bulk("foo"));
    server.stop();
}

#[test]
fn swapdb_swaps_at_once_survives_a_restart_and_touches_watched_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client) = start(dir.path());
    assert_eq!(client.call(&["SET", "swapkey", "v1"]), ok());
    assert_eq!(client.call(&["SELECT", "1"]), ok());
    assert_eq!(client.call(&["DBSIZE"]), int(0));
    assert_eq!(client.call(&["SWAPDB", "0", "1"]), ok());
    assert_eq!(client.call(&["GET", "swapkey"]), bulk("v1"));
    assert_eq!(
        client.call(&["SWAPDB", "44", "55"]),
        error("ERR DB index is out of range")
    );
    assert_eq!(
        client.call(&["SWAPDB", "44", "a"]),
        error("ERR invalid second DB index")
    );
    assert_eq!(
        client.call(&["SWAPDB", "a", "55"]),
        error("ERR invalid first DB index")
    );
    assert_eq!(client.call(&["SWAPDB", "0", "0"]), ok());
    let info = client.call(&["INFO", "keyspace"]).text();
    assert!(info.contains("db1:keys=1"), "{info}");
    assert!(!info.contains("db0:"), "{info}");
    // Refused inside MULTI (keel holds every database during a block).
    assert_eq!(client.call(&["MULTI"]), ok());
    assert_eq!(
        client.call(&["SWAPDB", "0", "1"]),
        error("ERR Command not allowed inside a transaction")
    );
    assert_eq!(client.call(&["DISCARD"]), ok());

    // WATCH: a swap touches a watched key that exists before or after it.
    let mut other = Client::connect(server.address);
    assert_eq!(client.call(&["WATCH", "swapkey"]), ok());
    assert_eq!(other.call(&["SWAPDB", "0", "1"]), ok());
    assert_eq!(client.call(&["MULTI"]), ok());
    client.call(&["PING"]);
    assert_eq!(client.call(&["EXEC"]), Value::NullArray, "existed before");
    assert_eq!(client.call(&["SELECT", "0"]), ok());
    assert_eq!(client.call(&["WATCH", "swapkey"]), ok());
    assert_eq!(other.call(&["SWAPDB", "0", "1"]), ok());
    assert_eq!(client.call(&["MULTI"]), ok());
    client.call(&["PING"]);
    assert_eq!(client.call(&["EXEC"]), Value::NullArray, "exists after");
    // A key absent on both sides is not touched.
    assert_eq!(client.call(&["WATCH", "absent"]), ok());
    assert_eq!(other.call(&["SWAPDB", "0", "1"]), ok());
    assert_eq!(client.call(&["MULTI"]), ok());
    client.call(&["PING"]);
    assert_eq!(
        client.call(&["EXEC"]),
        Value::Array(vec![Value::Simple("PONG".into())])
    );
    // Now db0 holds swapkey; the swap is recorded, so a restart keeps it.
    assert_eq!(client.call(&["SELECT", "0"]), ok());
    assert_eq!(client.call(&["GET", "swapkey"]), bulk("v1"));
    drop(client);
    drop(other);
    server.stop();
    let (server, mut client) = start(dir.path());
    assert_eq!(client.call(&["GET", "swapkey"]), bulk("v1"));
    assert_eq!(client.call(&["SELECT", "1"]), ok());
    assert_eq!(client.call(&["DBSIZE"]), int(0));
    // A large FLUSHDB (dropped and created anew) of a swapped database
    // recreates the keyspace it uses, and only that one.
    assert_eq!(client.call(&["SWAPDB", "0", "1"]), ok());
    assert_eq!(client.call(&["SELECT", "0"]), ok());
    let keys = keel_server::FLUSH_IN_TRANSACTION_KEYS_MAX + 1;
    for index in 0..keys {
        client.send(&["SET", &format!("bulk:{index}"), "v"]);
    }
    for _ in 0..keys {
        assert_eq!(client.read(), ok());
    }
    assert_eq!(client.call(&["FLUSHDB"]), ok());
    assert_eq!(client.call(&["DBSIZE"]), int(0));
    assert_eq!(client.call(&["SELECT", "1"]), ok());
    assert_eq!(client.call(&["GET", "swapkey"]), bulk("v1"));
    drop(client);
    server.stop();
    let (server, mut client) = start(dir.path());
    assert_eq!(client.call(&["DBSIZE"]), int(0));
    assert_eq!(client.call(&["SELECT", "1"]), ok());
    assert_eq!(client.call(&["GET", "swapkey"]), bulk("v1"));
    server.stop();
}

#[test]
fn randomkey_touch_and_expiretime() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client) = start(dir.path());
    assert_eq!(client.call(&["RANDOMKEY"]), Value::NullBulk);
    assert_eq!(client.call(&["SET", "foo", "x"]), ok());
    assert_eq!(client.call(&["SET", "bar", "y"]), ok());
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        seen.insert(client.call(&["RANDOMKEY"]).text());
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["bar", "foo"],
        "both keys come up"
    );
    // Past the uniform threshold every key still comes from the database.
    for index in 0..1100 {
        client.send(&["SET", &format!("key:{index:05}"), "v"]);
    }
    for _ in 0..1100 {
        assert_eq!(client.read(), ok());
    }
    for _ in 0..50 {
        let key = client.call(&["RANDOMKEY"]).text();
        assert!(
            key == "foo" || key == "bar" || key.starts_with("key:"),
            "{key}"
        );
    }
    assert_eq!(client.call(&["FLUSHDB"]), ok());
    assert_eq!(client.call(&["SET", "x", "10"]), ok());
    assert_eq!(client.call(&["DEL", "x"]), int(1));
    assert_eq!(client.call(&["RANDOMKEY"]), Value::NullBulk);

    assert_eq!(client.call(&["SET", "a", "1"]), ok());
    assert_eq!(client.call(&["TOUCH", "a", "b", "a"]), int(2));
    // GETEX checks the options' syntax, then the key, then the time.
    assert_eq!(
        client.call(&["GETEX", "nokey", "EX", "-1"]),
        Value::NullBulk
    );
    assert_eq!(
        client.call(&["GETEX", "nokey", "BOGUS"]),
        error("ERR syntax error")
    );
    assert_eq!(
        client.call(&["GETEX", "a", "EX", "-1"]),
        error("ERR invalid expire time in 'getex' command")
    );
    assert_eq!(client.call(&["EXPIRETIME", "a"]), int(-1));
    assert_eq!(client.call(&["PEXPIRETIME", "nokey"]), int(-2));
    assert_eq!(client.call(&["SET", "x", "v", "EXAT", "2000000000"]), ok());
    assert_eq!(client.call(&["EXPIRETIME", "x"]), int(2_000_000_000));
    assert_eq!(client.call(&["PEXPIRETIME", "x"]), int(2_000_000_000_000));
    assert_eq!(
        client.call(&["SET", "y", "v", "PXAT", "2000000000499"]),
        ok()
    );
    assert_eq!(client.call(&["EXPIRETIME", "y"]), int(2_000_000_000));
    assert_eq!(client.call(&["PEXPIRETIME", "y"]), int(2_000_000_000_499));
    server.stop();
}

#[test]
fn lcs_substr_and_bits() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client) = start(dir.path());
    assert_eq!(
        client.call(&["MSET", "a", "ohmytext", "b", "mynewtext"]),
        ok()
    );
    assert_eq!(client.call(&["LCS", "a", "b"]), bulk("mytext"));
    assert_eq!(client.call(&["LCS", "a", "b", "LEN"]), int(6));
    let range = |a: i64, b: i64| Value::Array(vec![int(a), int(b)]);
    assert_eq!(
        client.call(&["LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]),
        Value::Array(vec![
            bulk("matches"),
            Value::Array(vec![Value::Array(vec![range(4, 7), range(5, 8), int(4)])]),
            bulk("len"),
            int(6),
        ])
    );
    assert_eq!(
        client.call(&["LCS", "a", "b", "IDX"]),
        Value::Array(vec![
            bulk("matches"),
            Value::Array(vec![
                Value::Array(vec![range(4, 7), range(5, 8)]),
                Value::Array(vec![range(2, 3), range(0, 1)]),
            ]),
            bulk("len"),
            int(6),
        ])
    );
    assert_eq!(
        client.call(&["LCS", "a", "b", "LEN", "IDX"]),
        error("ERR If you want both the length and indexes, please just use IDX.")
    );
    assert_eq!(
        client.call(&["LCS", "a", "b", "FOO"]),
        error("ERR syntax error")
    );
    assert_eq!(client.call(&["LCS", "a", "missing"]), bulk(""));

    assert_eq!(client.call(&["SET", "key", "abcde"]), ok());
    assert_eq!(client.call(&["SUBSTR", "key", "0", "0"]), bulk("a"));
    assert_eq!(client.call(&["SUBSTR", "key", "-4", "-1"]), bulk("bcde"));
    assert_eq!(client.call(&["SUBSTR", "key", "-1", "-3"]), bulk(""));
    assert_eq!(client.call(&["SUBSTR", "nokey", "0", "1"]), bulk(""));

    assert_eq!(client.call(&["SETBIT", "mykey", "1", "1"]), int(0));
    assert_eq!(
        client.call(&["GET", "mykey"]),
        Value::Bulk(vec![0b0100_0000])
    );
    assert_eq!(client.call(&["SET", "mykey", "@"]), ok());
    assert_eq!(client.call(&["SETBIT", "mykey", "2", "1"]), int(0));
    assert_eq!(client.call(&["SETBIT", "mykey", "1", "0"]), int(1));
    assert_eq!(
        client.call(&["GET", "mykey"]),
        Value::Bulk(vec![0b0010_0000])
    );
    assert_eq!(client.call(&["SET", "mykey", "`"]), ok());
    let bits: Vec<Value> = (0..4)
        .map(|offset| client.call(&["GETBIT", "mykey", &offset.to_string()]))
        .collect();
    assert_eq!(bits, [int(0), int(1), int(1), int(0)]);
    assert_eq!(client.call(&["GETBIT", "mykey", "10000"]), int(0));
    assert_eq!(client.call(&["GETBIT", "nokey", "0"]), int(0));
    for bad in ["4294967296", "-1", "x"] {
        assert_eq!(
            client.call(&["SETBIT", "mykey", bad, "1"]),
            error("ERR bit offset is not an integer or out of range"),
            "{bad}"
        );
    }
    for bad in ["-1", "2", "10", "x"] {
        assert_eq!(
            client.call(&["SETBIT", "mykey", "0", bad]),
            error("ERR bit is not an integer or out of range"),
            "{bad}"
        );
    }
    assert_eq!(client.call(&["SET", "foobar", "foobar"]), ok());
    assert_eq!(client.call(&["BITCOUNT", "foobar"]), int(26));
    assert_eq!(client.call(&["BITCOUNT", "foobar", "0", "0"]), int(4));
    assert_eq!(client.call(&["BITCOUNT", "foobar", "1", "1"]), int(6));
    assert_eq!(
        client.call(&["BITCOUNT", "foobar", "1", "1", "BYTE"]),
        int(6)
    );
    assert_eq!(
        client.call(&["BITCOUNT", "foobar", "5", "30", "BIT"]),
        int(17)
    );
    assert_eq!(client.call(&["BITCOUNT", "foobar", "-1", "-2"]), int(0));
    assert_eq!(client.call(&["BITCOUNT", "nokey"]), int(0));
    // A range ending on a byte's last bit keeps that whole byte.
    assert_eq!(client.call(&["SET", "as", &"a".repeat(45)]), ok());
    assert_eq!(client.call(&["BITCOUNT", "as", "0", "-1", "BIT"]), int(135));
    assert_eq!(client.call(&["BITCOUNT", "as", "1", "7", "BIT"]), int(3));
    assert_eq!(
        client.call(&["BITCOUNT", "foobar", "0"]),
        error("ERR syntax error")
    );
    assert_eq!(
        client.call(&["BITCOUNT", "foobar", "0", "1", "BITS"]),
        error("ERR syntax error")
    );
    server.stop();
}

#[test]
fn object_memory_and_debug_describe_strings_as_redis_does() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client) = start(dir.path());
    assert_eq!(client.call(&["SET", "int", "1234"]), ok());
    assert_eq!(client.call(&["SET", "short", "hello"]), ok());
    assert_eq!(client.call(&["SET", "long", &"x".repeat(45)]), ok());
    assert_eq!(client.call(&["OBJECT", "ENCODING", "int"]), bulk("int"));
    assert_eq!(
        client.call(&["object", "encoding", "short"]),
        bulk("embstr")
    );
    assert_eq!(client.call(&["OBJECT", "ENCODING", "long"]), bulk("raw"));
    assert_eq!(
        client.call(&["OBJECT", "ENCODING", "nokey"]),
        Value::NullBulk
    );
    assert_eq!(client.call(&["INCR", "int"]), int(1235));
    assert_eq!(client.call(&["OBJECT", "ENCODING", "int"]), bulk("int"));
    assert_eq!(client.call(&["SET", "shared", "1"]), ok());
    assert_eq!(
        client.call(&["OBJECT", "REFCOUNT", "shared"]),
        int(2_147_483_647)
    );
    assert_eq!(client.call(&["OBJECT", "REFCOUNT", "short"]), int(1));
    assert_eq!(client.call(&["OBJECT", "IDLETIME", "short"]), int(0));
    let Value::Error(text) = client.call(&["OBJECT", "FREQ", "short"]) else {
        panic!("FREQ without an LFU policy is an error");
    };
    assert!(text.starts_with("ERR An LFU maxmemory policy is not selected"));
    let Value::Array(help) = client.call(&["OBJECT", "HELP"]) else {
        panic!("an array");
    };
    assert!(help.len() > 5);
    assert_eq!(
        client.call(&["OBJECT", "NOPE", "x"]),
        error("ERR unknown subcommand 'NOPE'. Try OBJECT HELP.")
    );
    assert_eq!(
        client.call(&["OBJECT", "ENCODING"]),
        error("ERR wrong number of arguments for 'object|encoding' command")
    );

    let Value::Integer(usage) = client.call(&["MEMORY", "USAGE", "short"]) else {
        panic!("an integer");
    };
    assert!((16 + 5 + 5..=64).contains(&usage), "{usage}");
    assert_eq!(client.call(&["MEMORY", "USAGE", "nokey"]), Value::NullBulk);
    assert!(matches!(
        client.call(&["MEMORY", "USAGE", "short", "SAMPLES", "5"]),
        Value::Integer(_)
    ));

    let Value::Simple(line) = client.call(&["DEBUG", "OBJECT", "shared"]) else {
        panic!("a status line");
    };
    assert!(line.starts_with("Value at:0x"), "{line}");
    assert!(
        line.contains(" refcount:2147483647 encoding:int "),
        "{line}"
    );
    assert_eq!(
        client.call(&["DEBUG", "OBJECT", "nokey"]),
        error("ERR no such key")
    );
    let digest = client.call(&["DEBUG", "DIGEST"]).text();
    assert_eq!(digest.len(), 40);
    assert_eq!(client.call(&["DEBUG", "RELOAD"]), ok());
    assert_eq!(client.call(&["DEBUG", "LOADAOF"]), ok());
    assert_eq!(
        client.call(&["DEBUG", "DIGEST"]).text(),
        digest,
        "nothing changed"
    );
    assert_eq!(client.call(&["SET", "short", "changed"]), ok());
    assert_ne!(client.call(&["DEBUG", "DIGEST"]).text(), digest);
    let Value::Array(values) = client.call(&["DEBUG", "DIGEST-VALUE", "short", "nokey"]) else {
        panic!("an array");
    };
    assert_eq!(values.len(), 2);
    assert_eq!(
        values[1],
        Value::Simple("0000000000000000000000000000000000000000".into())
    );
    assert_eq!(client.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), ok());
    assert_eq!(client.call(&["DEBUG", "SLEEP", "0"]), ok());
    assert_eq!(
        client.call(&["DEBUG", "NOPE"]),
        error("ERR unknown subcommand or wrong number of arguments for 'NOPE'. Try DEBUG HELP.")
    );
    assert_eq!(
        client.call(&["DEBUG"]),
        error("ERR wrong number of arguments for 'debug' command")
    );
    assert_eq!(client.call(&["FLUSHALL"]), ok());
    assert_eq!(
        client.call(&["DEBUG", "DIGEST"]),
        Value::Simple("0000000000000000000000000000000000000000".into())
    );
    server.stop();
}

#[test]
fn config_set_keeps_redis_parameters_and_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client) = start(dir.path());
    let get = |client: &mut Client, name: &str| match client.call(&["CONFIG", "GET", name]) {
        Value::Array(pairs) => pairs,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        get(&mut client, "list-max-listpack-size"),
        [bulk("list-max-listpack-size"), bulk("-2")]
    );
    assert_eq!(
        client.call(&["CONFIG", "SET", "list-max-listpack-size", "-1"]),
        ok()
    );
    assert_eq!(
        get(&mut client, "list-max-ziplist-size"),
        [bulk("list-max-ziplist-size"), bulk("-1")]
    );
    assert_eq!(
        client.call(&[
            "CONFIG",
            "SET",
            "maxmemory",
            "10mb",
            "maxmemory-policy",
            "allkeys-lru"
        ]),
        ok()
    );
    assert_eq!(
        get(&mut client, "maxmemory"),
        [bulk("maxmemory"), bulk("10485760")]
    );
    assert_eq!(
        client.call(&["CONFIG", "SET", "maxmemory", "bla"]),
        error(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
        )
    );
    assert_eq!(
        client.call(&["CONFIG", "SET", "maxmemory-policy", "sometimes"]),
        error(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
        )
    );
    assert_eq!(
        client.call(&["CONFIG", "SET", "no-such-thing", "1"]),
        error("ERR Unknown option or number of arguments for CONFIG SET - 'no-such-thing'")
    );
    assert_eq!(
        client.call(&["CONFIG", "SET", "hz", "20", "hz", "30"]),
        error("ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter")
    );
    // All or nothing: a bad pair leaves the good one unset.
    assert_eq!(
        client
            .call(&["CONFIG", "SET", "timeout", "30", "activerehashing", "maybe"])
            .clone(),
        error(
            "ERR CONFIG SET failed (possibly related to argument 'activerehashing') - argument must be 'yes' or 'no'"
        )
    );
    assert_eq!(get(&mut client, "timeout"), [bulk("timeout"), bulk("0")]);
    assert_eq!(client.call(&["CONFIG", "SET", "appendonly", "yes"]), ok());
    assert_eq!(client.call(&["CONFIG", "SET", "save", ""]), ok());
    let Value::Error(text) = client.call(&["CONFIG", "SET", "appendfsync", "always"]) else {
        panic!("appendfsync is fixed at start");
    };
    assert!(text.contains("keel serve --appendfsync"), "{text}");
    let Value::Error(text) = client.call(&["CONFIG", "SET", "maxclients", "5"]) else {
        panic!("maxclients is fixed at start");
    };
    assert!(text.contains("keel serve --maxclients"), "{text}");
    // In MULTI, a bad CONFIG SET is an error in the EXEC array.
    assert_eq!(client.call(&["MULTI"]), ok());
    client.call(&["SET", "foo", "bar"]);
    client.call(&["CONFIG", "SET", "maxmemory", "bla"]);
    let Value::Array(replies) = client.call(&["EXEC"]) else {
        panic!("EXEC runs the block");
    };
    assert_eq!(replies[0], ok());
    assert!(matches!(&replies[1], Value::Error(text) if text.contains("CONFIG SET failed")));
    server.stop();
}

fn info_line(client: &mut Client, section: &str, field: &str) -> Option<String> {
    let text = client.call(&["INFO", section]).text();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .map(str::to_owned)
}

#[test]
fn info_counts_calls_and_errors_and_resetstat_clears_them() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client) = start(dir.path());
    assert_eq!(client.call(&["CONFIG", "RESETSTAT"]), ok());
    assert_eq!(info_line(&mut client, "errorstats", "errorstat_ERR"), None);
    assert_eq!(
        info_line(&mut client, "stats", "total_error_replies").as_deref(),
        Some("0")
    );
    // A failed call.
    let Value::Error(text) = client.call(&["AUTH", "k"]) else {
        panic!("AUTH without a password configured fails");
    };
    assert!(text.starts_with("ERR AUTH"));
    assert_eq!(
        info_line(&mut client, "errorstats", "errorstat_ERR").as_deref(),
        Some("count=1")
    );
    let auth = info_line(&mut client, "commandstats", "cmdstat_auth").unwrap();
    assert!(
        auth.starts_with("calls=1,") && auth.ends_with(",rejected_calls=0,failed_calls=1"),
        "{auth}"
    );
    // Rejected calls: wrong arity, then good ones.
    assert_eq!(client.call(&["CONFIG", "RESETSTAT"]), ok());
    client.call(&["SET", "k"]);
    client.call(&["SET", "k1", "v1"]);
    client.call(&["SET", "k2", "v2"]);
    let set = info_line(&mut client, "commandstats", "cmdstat_set").unwrap();
    assert!(
        set.starts_with("calls=2,") && set.ends_with(",rejected_calls=1,failed_calls=0"),
        "{set}"
    );
    // Inside MULTI: the block's failed command is its own, EXEC's is not.
    assert_eq!(client.call(&["CONFIG", "RESETSTAT"]), ok());
    client.call(&["MULTI"]);
    client.call(&["SET", "a", "b"]);
    client.call(&["AUTH", "a"]);
    client.call(&["EXEC"]);
    let stat = |client: &mut Client, name: &str| {
        info_line(client, "commandstats", &format!("cmdstat_{name}")).unwrap()
    };
    assert!(stat(&mut client, "auth").ends_with("failed_calls=1"));
    assert!(stat(&mut client, "exec").starts_with("calls=1,"));
    assert!(stat(&mut client, "exec").ends_with("failed_calls=0"));
    assert!(stat(&mut client, "multi").starts_with("calls=1,"));
    // An aborted block: the arity error is rejected, EXECABORT fails EXEC
    // (as Redis 7 counts it).
    assert_eq!(client.call(&["CONFIG", "RESETSTAT"]), ok());
    client.call(&["MULTI"]);
    client.call(&["SET"]);
    client.call(&["EXEC"]);
    assert!(stat(&mut client, "set").starts_with("calls=0,"));
    assert!(stat(&mut client, "set").ends_with("rejected_calls=1,failed_calls=0"));
    assert!(stat(&mut client, "exec").ends_with("failed_calls=1"));
    assert_eq!(
        info_line(&mut client, "errorstats", "errorstat_ERR").as_deref(),
        Some("count=1")
    );
    assert_eq!(
        info_line(&mut client, "errorstats", "errorstat_EXECABORT").as_deref(),
        Some("count=1")
    );
    client.call(&["EXEC"]);
    assert!(stat(&mut client, "exec").ends_with("failed_calls=2"));
    // Unknown commands count as errors only.
    client.call(&["ASDF"]);
    assert_eq!(
        info_line(&mut client, "errorstats", "errorstat_ERR").as_deref(),
        Some("count=3")
    );
    // INFO without arguments leaves commandstats out; INFO ALL has it.
    let default = client.call(&["INFO"]).text();
    assert!(default.contains("# Errorstats") && !default.contains("# Commandstats"));
    assert!(default.contains("mem_allocator:libc") && default.contains("role:master"));
    assert!(
        client
            .call(&["INFO", "ALL"])
            .text()
            .contains("# Commandstats")
    );
    assert_eq!(client.call(&["CONFIG", "RESETSTAT"]), ok());
    assert_eq!(info_line(&mut client, "errorstats", "errorstat_ERR"), None);
    server.stop();
}

#[test]
fn reset_and_wait_answer_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client) = start(dir.path());
    assert_eq!(client.call(&["SELECT", "3"]), ok());
    assert_eq!(client.call(&["CLIENT", "SETNAME", "me"]), ok());
    assert_eq!(client.call(&["WATCH", "x"]), ok());
    assert_eq!(client.call(&["MULTI"]), ok());
    client.call(&["SET", "x", "1"]);
    assert_eq!(client.call(&["RESET"]), Value::Simple("RESET".into()));
    assert_eq!(client.call(&["EXEC"]), error("ERR EXEC without MULTI"));
    assert_eq!(client.call(&["CLIENT", "GETNAME"]), Value::NullBulk);
    assert_eq!(client.call(&["SET", "in-zero", "1"]), ok());
    assert_eq!(client.call(&["SELECT", "3"]), ok());
    assert_eq!(
        client.call(&["EXISTS", "in-zero", "x"]),
        int(0),
        "RESET selects 0"
    );
    assert_eq!(client.call(&["WAIT", "0", "0"]), int(0));
    assert_eq!(client.call(&["WAIT", "1", "100"]), int(0));
    assert_eq!(
        client.call(&["WAIT", "x", "0"]),
        error("ERR value is not an integer or out of range")
    );
    assert_eq!(
        client.call(&["WAIT", "0", "x"]),
        error("ERR timeout is not an integer or out of range")
    );
    assert_eq!(
        client.call(&["WAIT", "0", "-1"]),
        error("ERR timeout is negative")
    );
    assert_eq!(client.call(&["FLUSHALL", "ASYNC"]), ok());
    assert_eq!(client.call(&["FLUSHALL", "sync"]), ok());
    assert_eq!(client.call(&["FLUSHDB", "ASYNC"]), ok());
    assert_eq!(
        client.call(&["FLUSHALL", "LATER"]),
        error("ERR syntax error")
    );
    assert_eq!(
        client.call(&["PING", "a", "b"]),
        error("ERR wrong number of arguments for 'ping' command")
    );
    assert_eq!(
        client.call(&["ECHO"]),
        error("ERR wrong number of arguments for 'echo' command")
    );
    assert_eq!(
        client.call(&["GET|"]),
        error("ERR unknown command 'GET|', with args beginning with: ")
    );
    server.stop();
}

#[test]
fn reset_forgets_authentication_where_a_password_is_required() {
    let (server, _) = common::start_server(keel_server::ServerOptions {
        require_password: Some("secret".to_owned()),
        ..keel_server::ServerOptions::default()
    });
    let mut client = Client::connect(server.local_address());
    assert_eq!(client.call(&["AUTH", "secret"]), ok());
    assert_eq!(client.call(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(client.call(&["RESET"]), Value::Simple("RESET".into()));
    assert_eq!(
        client.call(&["PING"]),
        error("NOAUTH Authentication required.")
    );
    server.shutdown();
}

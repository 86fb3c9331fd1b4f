//! The string and keyspace commands of `keel_server::data_commands`, run
//! over a real socket against the test store, with Redis's replies. The
//! store's clock is manual, so expiry is tested without waiting.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::{Client, MemoryBackend, Value, error, ok, start_server};
use keel_server::{ServerHandle, ServerOptions};
use std::sync::Arc;

fn int(value: i64) -> Value {
    Value::Integer(value)
}

fn bulk(text: &str) -> Value {
    Value::bulk(text)
}

fn setup() -> (ServerHandle, Arc<MemoryBackend>, Client) {
    let (server, backend) = start_server(ServerOptions::default());
    let client = Client::connect(server.local_address());
    (server, backend, client)
}

#[test]
fn set_and_its_options() {
    let (server, backend, mut c) = setup();
    assert_eq!(c.call(&["SET", "k", "v1"]), ok());
    assert_eq!(c.call(&["SET", "k", "v2", "NX"]), Value::NullBulk);
    assert_eq!(c.call(&["SET", "k", "v2", "XX", "GET"]), bulk("v1"));
    assert_eq!(c.call(&["SET", "new", "x", "XX"]), Value::NullBulk);
    assert_eq!(c.call(&["SET", "new", "x", "NX", "GET"]), Value::NullBulk);
    assert_eq!(c.call(&["GET", "new"]), bulk("x"));
    assert_eq!(c.call(&["SET", "k", "v3", "EX", "10"]), ok());
    assert_eq!(c.call(&["TTL", "k"]), int(10));
    assert_eq!(c.call(&["SET", "k", "v4", "KEEPTTL"]), ok());
    assert_eq!(c.call(&["PTTL", "k"]), int(10_000));
    assert_eq!(c.call(&["SET", "k", "v5"]), ok());
    assert_eq!(
        c.call(&["TTL", "k"]),
        int(-1),
        "a plain SET removes the expiry"
    );
    assert_eq!(c.call(&["SET", "k", "v", "PXAT", "1"]), ok());
    assert_eq!(
        c.call(&["EXISTS", "k"]),
        int(0),
        "a deadline in the past deletes"
    );
    assert_eq!(
        c.call(&["SET", "k", "v", "EX", "0"]),
        error("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        c.call(&["SET", "k", "v", "NX", "XX"]),
        error("ERR syntax error")
    );
    assert_eq!(c.call(&["SETNX", "n", "1"]), int(1));
    assert_eq!(c.call(&["SETNX", "n", "2"]), int(0));
    assert_eq!(c.call(&["SETEX", "s", "5", "v"]), ok());
    assert_eq!(c.call(&["PSETEX", "p", "1500", "v"]), ok());
    assert_eq!(
        c.call(&["TTL", "p"]),
        int(2),
        "TTL rounds to the nearest second"
    );
    assert_eq!(
        c.call(&["SETEX", "s", "-1", "v"]),
        error("ERR invalid expire time in 'setex' command")
    );
    backend.advance_clock_ms(5_000);
    assert_eq!(
        c.call(&["GET", "s"]),
        Value::NullBulk,
        "expired at its deadline"
    );
    assert_eq!(c.call(&["GET", "p"]), Value::NullBulk);
    server.shutdown();
}

#[test]
fn get_variants() {
    let (server, backend, mut c) = setup();
    assert_eq!(c.call(&["GETSET", "k", "a"]), Value::NullBulk);
    assert_eq!(c.call(&["GETSET", "k", "b"]), bulk("a"));
    assert_eq!(c.call(&["GETDEL", "k"]), bulk("b"));
    assert_eq!(c.call(&["GETDEL", "k"]), Value::NullBulk);
    assert_eq!(c.call(&["SET", "k", "v"]), ok());
    assert_eq!(c.call(&["GETEX", "k", "PX", "2000"]), bulk("v"));
    assert_eq!(c.call(&["PTTL", "k"]), int(2000));
    assert_eq!(c.call(&["GETEX", "k"]), bulk("v"));
    assert_eq!(
        c.call(&["PTTL", "k"]),
        int(2000),
        "GETEX without options keeps the expiry"
    );
    assert_eq!(c.call(&["GETEX", "k", "PERSIST"]), bulk("v"));
    assert_eq!(c.call(&["TTL", "k"]), int(-1));
    assert_eq!(c.call(&["GETEX", "missing", "EX", "1"]), Value::NullBulk);
    assert_eq!(
        c.call(&["GETEX", "k", "KEEPTTL"]),
        error("ERR syntax error")
    );
    assert_eq!(c.call(&["MSET", "a", "1", "b", "2"]), ok());
    assert_eq!(
        c.call(&["MSET", "a", "1", "b"]),
        error("ERR wrong number of arguments for 'mset' command")
    );
    assert_eq!(
        c.call(&["MGET", "a", "nope", "b"]),
        Value::Array(vec![bulk("1"), Value::NullBulk, bulk("2")])
    );
    assert_eq!(c.call(&["MSETNX", "c", "3", "a", "9"]), int(0));
    assert_eq!(
        backend.value(0, "c"),
        None,
        "MSETNX sets nothing when one key exists"
    );
    assert_eq!(c.call(&["MSETNX", "c", "3", "d", "4"]), int(1));
    server.shutdown();
}

#[test]
fn string_editing() {
    let (server, _, mut c) = setup();
    assert_eq!(c.call(&["APPEND", "k", "Hello"]), int(5));
    assert_eq!(c.call(&["APPEND", "k", " World"]), int(11));
    assert_eq!(c.call(&["STRLEN", "k"]), int(11));
    assert_eq!(c.call(&["STRLEN", "nope"]), int(0));
    assert_eq!(c.call(&["GETRANGE", "k", "0", "4"]), bulk("Hello"));
    assert_eq!(c.call(&["GETRANGE", "k", "-5", "-1"]), bulk("World"));
    assert_eq!(c.call(&["GETRANGE", "k", "5", "2"]), bulk(""));
    assert_eq!(c.call(&["GETRANGE", "nope", "0", "-1"]), bulk(""));
    assert_eq!(
        c.call(&["GETRANGE", "k", "x", "1"]),
        error("ERR value is not an integer or out of range")
    );
    assert_eq!(c.call(&["SETRANGE", "k", "6", "Redis"]), int(11));
    assert_eq!(c.call(&["GET", "k"]), bulk("Hello Redis"));
    assert_eq!(c.call(&["SETRANGE", "z", "3", "ab"]), int(5));
    assert_eq!(c.call(&["GET", "z"]), Value::Bulk(b"\0\0\0ab".to_vec()));
    assert_eq!(c.call(&["SETRANGE", "empty", "5", ""]), int(0));
    assert_eq!(
        c.call(&["EXISTS", "empty"]),
        int(0),
        "an empty SETRANGE creates nothing"
    );
    assert_eq!(
        c.call(&["SETRANGE", "k", "-1", "x"]),
        error("ERR offset is out of range")
    );
    assert_eq!(
        c.call(&["SETRANGE", "k", "536870912", "x"]),
        error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    server.shutdown();
}

#[test]
fn counters() {
    let (server, _, mut c) = setup();
    assert_eq!(c.call(&["INCR", "n"]), int(1));
    assert_eq!(c.call(&["INCRBY", "n", "10"]), int(11));
    assert_eq!(c.call(&["DECR", "n"]), int(10));
    assert_eq!(c.call(&["DECRBY", "n", "20"]), int(-10));
    assert_eq!(
        c.call(&["INCRBY", "n", "1.5"]),
        error("ERR value is not an integer or out of range")
    );
    assert_eq!(c.call(&["SET", "n", "9223372036854775807"]), ok());
    assert_eq!(
        c.call(&["INCR", "n"]),
        error("ERR increment or decrement would overflow")
    );
    assert_eq!(c.call(&["SET", "f", "10.50"]), ok());
    assert_eq!(c.call(&["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
    assert_eq!(c.call(&["INCRBYFLOAT", "f", "-5"]), bulk("5.6"));
    assert_eq!(c.call(&["INCRBYFLOAT", "g", "5.0e3"]), bulk("5000"));
    assert_eq!(
        c.call(&["INCRBYFLOAT", "f", "x"]),
        error("ERR value is not a valid float")
    );
    assert_eq!(c.call(&["SET", "e", "1", "EX", "100"]), ok());
    assert_eq!(c.call(&["INCR", "e"]), int(2));
    assert_eq!(c.call(&["TTL", "e"]), int(100), "INCR keeps the expiry");
    server.shutdown();
}

#[test]
fn keyspace_commands() {
    let (server, _, mut c) = setup();
    assert_eq!(c.call(&["MSET", "a", "1", "b", "2", "c", "3"]), ok());
    assert_eq!(
        c.call(&["EXISTS", "a", "a", "nope"]),
        int(2),
        "repeats count"
    );
    assert_eq!(c.call(&["TYPE", "a"]), Value::Simple("string".into()));
    assert_eq!(c.call(&["TYPE", "nope"]), Value::Simple("none".into()));
    assert_eq!(c.call(&["DEL", "a", "nope"]), int(1));
    assert_eq!(c.call(&["UNLINK", "b"]), int(1));
    assert_eq!(c.call(&["DBSIZE"]), int(1));
    assert_eq!(c.call(&["RENAME", "nope", "x"]), error("ERR no such key"));
    assert_eq!(c.call(&["SET", "c", "3", "EX", "50"]), ok());
    assert_eq!(c.call(&["RENAME", "c", "d"]), ok());
    assert_eq!(c.call(&["TTL", "d"]), int(50), "RENAME moves the expiry");
    assert_eq!(c.call(&["RENAME", "d", "d"]), ok());
    assert_eq!(c.call(&["SET", "e", "5"]), ok());
    assert_eq!(c.call(&["RENAMENX", "d", "e"]), int(0));
    assert_eq!(c.call(&["RENAMENX", "d", "f"]), int(1));
    assert_eq!(
        c.call(&["MSET", "user:1", "a", "user:2", "b", "item:1", "c"]),
        ok()
    );
    assert_eq!(
        c.call(&["KEYS", "user:*"]),
        Value::Array(vec![bulk("user:1"), bulk("user:2")]),
        "KEYS in key order"
    );
    let Value::Array(all) = c.call(&["KEYS", "*"]) else {
        panic!()
    };
    assert_eq!(all.len(), 5);
    assert_eq!(c.call(&["SELECT", "1"]), ok());
    assert_eq!(c.call(&["SET", "other", "1"]), ok());
    assert_eq!(c.call(&["FLUSHDB", "ASYNC"]), ok());
    assert_eq!(c.call(&["DBSIZE"]), int(0));
    assert_eq!(c.call(&["FLUSHDB", "LATER"]), error("ERR syntax error"));
    assert_eq!(c.call(&["SELECT", "0"]), ok());
    assert_eq!(c.call(&["DBSIZE"]), int(5), "FLUSHDB empties one database");
    assert_eq!(c.call(&["FLUSHALL"]), ok());
    assert_eq!(c.call(&["DBSIZE"]), int(0));
    server.shutdown();
}

#[test]
fn expiry_commands() {
    let (server, backend, mut c) = setup();
    assert_eq!(c.call(&["EXPIRE", "nope", "10"]), int(0));
    assert_eq!(c.call(&["TTL", "nope"]), int(-2));
    assert_eq!(c.call(&["SET", "k", "v"]), ok());
    assert_eq!(c.call(&["TTL", "k"]), int(-1));
    assert_eq!(c.call(&["EXPIRE", "k", "100", "XX"]), int(0));
    assert_eq!(
        c.call(&["EXPIRE", "k", "100", "GT"]),
        int(0),
        "no expiry is infinite"
    );
    assert_eq!(c.call(&["EXPIRE", "k", "100", "NX"]), int(1));
    assert_eq!(c.call(&["EXPIRE", "k", "200", "LT"]), int(0));
    assert_eq!(c.call(&["EXPIRE", "k", "200", "GT"]), int(1));
    assert_eq!(c.call(&["TTL", "k"]), int(200));
    assert_eq!(c.call(&["PEXPIRE", "k", "1500"]), int(1));
    assert_eq!(c.call(&["PTTL", "k"]), int(1500));
    let at = (common::CLOCK_START_MS / 1000 + 30).to_string();
    assert_eq!(c.call(&["EXPIREAT", "k", &at]), int(1));
    assert_eq!(c.call(&["TTL", "k"]), int(30));
    assert_eq!(c.call(&["PERSIST", "k"]), int(1));
    assert_eq!(c.call(&["PERSIST", "k"]), int(0));
    assert_eq!(
        c.call(&["PEXPIREAT", "k", &(common::CLOCK_START_MS + 10).to_string()]),
        int(1)
    );
    backend.advance_clock_ms(9);
    assert_eq!(c.call(&["PTTL", "k"]), int(1));
    backend.advance_clock_ms(1);
    assert_eq!(c.call(&["GET", "k"]), Value::NullBulk);
    assert_eq!(c.call(&["SET", "k", "v"]), ok());
    assert_eq!(
        c.call(&["EXPIRE", "k", "-1"]),
        int(1),
        "a deadline in the past deletes and answers 1"
    );
    assert_eq!(c.call(&["EXISTS", "k"]), int(0));
    assert_eq!(
        c.call(&["EXPIRE", "k", "1", "GT", "LT"]),
        error("ERR GT and LT options at the same time are not compatible")
    );
    assert_eq!(
        c.call(&["EXPIRE", "k", "1", "FOO"]),
        error("ERR Unsupported option FOO")
    );
    server.shutdown();
}

#[test]
fn transactions_run_data_commands_together() {
    let (server, _, mut c) = setup();
    assert_eq!(c.call(&["MULTI"]), ok());
    assert_eq!(c.call(&["SET", "a", "x"]), Value::Simple("QUEUED".into()));
    assert_eq!(c.call(&["INCR", "a"]), Value::Simple("QUEUED".into()));
    assert_eq!(
        c.call(&["APPEND", "a", "y"]),
        Value::Simple("QUEUED".into())
    );
    // A failing command inside EXEC is a reply; the rest still runs.
    assert_eq!(
        c.call(&["EXEC"]),
        Value::Array(vec![
            ok(),
            error("ERR value is not an integer or out of range"),
            int(2)
        ])
    );
    assert_eq!(c.call(&["GET", "a"]), bulk("xy"));
    server.shutdown();
}

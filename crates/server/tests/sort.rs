//! SORT and SORT_RO over real sockets and a real keel database: numeric
//! and ALPHA order, ASC/DESC, LIMIT, BY keys and hash fields, GET
//! patterns, BY without `*` (no sorting), STORE, and Redis's errors.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;
mod engine_support;

use common::{Client, Value};
use engine_support::EngineServer;
use keel_server::AppendFsync;

fn bulks(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|item| Value::bulk(item)).collect())
}

fn server() -> (tempfile::TempDir, EngineServer, Client) {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let client = Client::connect(server.address);
    (dir, server, client)
}

#[test]
fn numbers_and_text_sort_in_either_direction_within_a_limit() {
    let (_dir, _server, mut client) = server();
    client.call(&["RPUSH", "l", "3", "10", "-1.5", "2"]);
    assert_eq!(
        client.call(&["SORT", "l"]),
        bulks(&["-1.5", "2", "3", "10"])
    );
    assert_eq!(
        client.call(&["SORT", "l", "DESC", "LIMIT", "1", "2"]),
        bulks(&["3", "2"])
    );
    assert_eq!(
        client.call(&["SORT", "l", "ALPHA"]),
        bulks(&["-1.5", "10", "2", "3"])
    );
    assert_eq!(
        client.call(&["SORT_RO", "l", "LIMIT", "-5", "2"]),
        bulks(&["-1.5", "2"])
    );
    client.call(&["SADD", "s", "b", "a"]);
    assert_eq!(
        client.call(&["SORT", "s"]),
        Value::Error("ERR One or more scores can't be converted into double".to_owned())
    );
    assert_eq!(client.call(&["SORT", "s", "ALPHA"]), bulks(&["a", "b"]));
    assert_eq!(client.call(&["SORT", "missing"]), bulks(&[]));
}

#[test]
fn by_and_get_patterns_read_keys_and_hash_fields() {
    let (_dir, _server, mut client) = server();
    client.call(&["RPUSH", "ids", "1", "2", "3"]);
    client.call(&["MSET", "w_1", "30", "w_2", "10", "w_3", "20"]);
    client.call(&["HSET", "o_1", "name", "one"]);
    client.call(&["HSET", "o_2", "name", "two"]);
    assert_eq!(
        client.call(&["SORT", "ids", "BY", "w_*"]),
        bulks(&["2", "3", "1"])
    );
    assert_eq!(
        client.call(&["SORT", "ids", "BY", "w_*", "GET", "#", "GET", "o_*->name"]),
        Value::Array(vec![
            Value::bulk("2"),
            Value::bulk("two"),
            Value::bulk("3"),
            Value::NullBulk,
            Value::bulk("1"),
            Value::bulk("one"),
        ])
    );
    // A missing weight counts as 0; equal weights order by the element.
    client.call(&["DEL", "w_3"]);
    assert_eq!(
        client.call(&["SORT", "ids", "BY", "w_*", "DESC"]),
        bulks(&["1", "2", "3"])
    );
}

#[test]
fn by_a_constant_keeps_the_collections_order() {
    let (_dir, _server, mut client) = server();
    client.call(&["ZADD", "z", "1", "c", "2", "a", "3", "b"]);
    assert_eq!(
        client.call(&["SORT", "z", "BY", "nosort"]),
        bulks(&["c", "a", "b"])
    );
    assert_eq!(
        client.call(&["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2"]),
        bulks(&["b", "a"])
    );
    client.call(&["RPUSH", "l", "b", "a"]);
    assert_eq!(
        client.call(&["SORT", "l", "BY", "nosort"]),
        bulks(&["b", "a"])
    );
}

#[test]
fn store_writes_a_list_and_an_empty_result_deletes_it() {
    let (_dir, _server, mut client) = server();
    client.call(&["RPUSH", "l", "2", "1"]);
    client.call(&["SET", "dest", "old"]);
    assert_eq!(
        client.call(&["SORT", "l", "GET", "missing_*", "GET", "#", "STORE", "dest"]),
        Value::Integer(4)
    );
    assert_eq!(
        client.call(&["LRANGE", "dest", "0", "-1"]),
        bulks(&["", "1", "", "2"])
    );
    assert_eq!(
        client.call(&["SORT", "empty", "STORE", "dest"]),
        Value::Integer(0)
    );
    assert_eq!(client.call(&["EXISTS", "dest"]), Value::Integer(0));
    assert_eq!(
        client.call(&["SORT_RO", "l", "STORE", "dest"]),
        Value::Error("ERR syntax error".to_owned())
    );
    client.call(&["SET", "string", "x"]);
    assert_eq!(
        client.call(&["SORT", "string"]),
        Value::Error(
            "WRONGTYPE Operation against a key holding the wrong kind of value".to_owned()
        )
    );
}

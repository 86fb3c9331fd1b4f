//! The introspection commands over a real socket: SLOWLOG, LATENCY,
//! MONITOR, and the CLIENT family (KILL, REPLY, PAUSE/UNPAUSE, TRACKING
//! with its invalidation pushes, GETREDIR, TRACKINGINFO, NO-EVICT,
//! NO-TOUCH, UNBLOCK), with Redis's replies and error texts.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Value, error, ok, start_server};
use keel_server::ServerOptions;

#[test]
fn slowlog_records_what_passes_the_threshold() {
    let (server, _) = start_server(ServerOptions::default());
    let mut client = Client::connect(server.local_address());
    assert_eq!(client.call(&["SLOWLOG", "LEN"]), Value::Integer(0));
    assert_eq!(
        client.call(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        ok()
    );
    client.call(&["SET", "k", "v"]);
    client.call(&["AUTH", "secret"]);
    let Value::Array(entries) = client.call(&["SLOWLOG", "GET", "-1"]) else {
        panic!("an array");
    };
    let arguments: Vec<Value> = entries
        .iter()
        .map(|entry| match entry {
            Value::Array(fields) => fields[3].clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(arguments.contains(&Value::Array(vec![
        Value::bulk("SET"),
        Value::bulk("k"),
        Value::bulk("v")
    ])));
    assert!(arguments.contains(&Value::Array(vec![
        Value::bulk("AUTH"),
        Value::bulk("(redacted)")
    ])));
    assert_eq!(
        client.call(&["SLOWLOG", "GET", "-2"]),
        error("ERR count should be greater than or equal to -1")
    );
    assert_eq!(
        client.call(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]),
        ok()
    );
    assert_eq!(client.call(&["SLOWLOG", "RESET"]), ok());
    client.call(&["GET", "k"]);
    assert_eq!(client.call(&["SLOWLOG", "LEN"]), Value::Integer(0));
}

#[test]
fn latency_answers_as_redis_with_no_event() {
    let (server, _) = start_server(ServerOptions::default());
    let mut client = Client::connect(server.local_address());
    assert_eq!(
        client.call(&["LATENCY", "LATEST"]),
        Value::Array(Vec::new())
    );
    assert_eq!(
        client.call(&["LATENCY", "HISTORY", "command"]),
        Value::Array(Vec::new())
    );
    assert_eq!(client.call(&["LATENCY", "RESET"]), Value::Integer(0));
    assert_eq!(
        client.call(&["LATENCY", "GRAPH", "command"]),
        error("ERR No samples available for event 'command'")
    );
    assert!(
        client
            .call(&["LATENCY", "DOCTOR"])
            .text()
            .starts_with("I'm sorry, Dave, I can't do that.")
    );
}

#[test]
fn monitor_streams_commands_in_redis_format() {
    let (server, _) = start_server(ServerOptions::default());
    let mut monitor = Client::connect(server.local_address());
    assert_eq!(monitor.call(&["MONITOR"]), ok());
    let mut client = Client::connect(server.local_address());
    client.call(&["SET", "fo\"o", "bar\n"]);
    client.call(&["CONFIG", "GET", "maxmemory"]);
    client.call(&["GET", "foo"]);
    let set = monitor.read().text();
    assert!(set.contains(" [0 127.0.0.1:"), "{set}");
    assert!(set.ends_with(r#"] "SET" "fo\"o" "bar\n""#), "{set}");
    // CONFIG is administrative: not shown.
    assert!(monitor.read().text().ends_with(r#"] "GET" "foo""#));
}

#[test]
fn client_kill_by_filter_and_by_address() {
    let (server, _) = start_server(ServerOptions::default());
    let mut me = Client::connect(server.local_address());
    let mut other = Client::connect(server.local_address());
    let Value::Integer(other_id) = other.call(&["CLIENT", "ID"]) else {
        panic!("an id");
    };
    assert_eq!(
        me.call(&["CLIENT", "KILL", "ID", "0"]),
        error("ERR client-id should be greater than 0")
    );
    assert_eq!(
        me.call(&["CLIENT", "KILL", "USER", "nobody"]),
        error("ERR No such user 'nobody'")
    );
    assert_eq!(
        me.call(&["CLIENT", "KILL", "TYPE", "nope"]),
        error("ERR Unknown client type 'nope'")
    );
    assert_eq!(
        me.call(&["CLIENT", "KILL", "ADDR", "1.2.3.4:5"]),
        Value::Integer(0)
    );
    assert_eq!(
        me.call(&["CLIENT", "KILL", "ID", &other_id.to_string()]),
        Value::Integer(1)
    );
    assert!(other.read_until_closed().is_empty());
    assert_eq!(
        me.call(&["CLIENT", "KILL", "127.0.0.1:1"]),
        error("ERR No such client")
    );
    // Killing itself: the reply, then the connection closes. The client
    // killed before is not counted again, even if its loop has not yet
    // dropped it.
    assert_eq!(
        me.call(&["CLIENT", "KILL", "SKIPME", "no"]),
        Value::Integer(1)
    );
    assert!(me.read_until_closed().is_empty());
}

#[test]
fn client_reply_off_on_and_skip() {
    let (server, _) = start_server(ServerOptions::default());
    let mut client = Client::connect(server.local_address());
    client.send(&["CLIENT", "REPLY", "OFF"]);
    client.send(&["PING", "silenced"]);
    assert_eq!(client.call(&["CLIENT", "REPLY", "ON"]), ok());
    client.send(&["CLIENT", "REPLY", "SKIP"]);
    client.send(&["PING", "skipped"]);
    assert_eq!(client.call(&["PING", "heard"]), Value::bulk("heard"));
}

#[test]
fn client_pause_holds_writes_until_it_ends() {
    let (server, _) = start_server(ServerOptions::default());
    let mut admin = Client::connect(server.local_address());
    let mut writer = Client::connect(server.local_address());
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "100000", "WRITE"]), ok());
    // Reads go on.
    assert_eq!(writer.call(&["GET", "k"]), Value::NullBulk);
    writer.send(&["SET", "k", "v"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(admin.call(&["GET", "k"]), Value::NullBulk, "the SET waits");
    assert_eq!(admin.call(&["CLIENT", "UNPAUSE"]), ok());
    assert_eq!(writer.read(), ok());
    assert_eq!(admin.call(&["GET", "k"]), Value::bulk("v"));
    // A short pause ends by itself.
    let started = Instant::now();
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "200", "ALL"]), ok());
    assert_eq!(writer.call(&["PING"]), Value::Simple("PONG".to_owned()));
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(
        admin.call(&["CLIENT", "PAUSE", "x"]),
        error("ERR timeout is not an integer or out of range")
    );
}

#[test]
fn client_tracking_sends_invalidations() {
    let (server, _) = start_server(ServerOptions::default());
    let mut tracker = Client::connect(server.local_address());
    tracker.call(&["HELLO", "3"]);
    assert_eq!(tracker.call(&["CLIENT", "GETREDIR"]), Value::Integer(-1));
    assert_eq!(tracker.call(&["CLIENT", "TRACKING", "ON"]), ok());
    assert_eq!(tracker.call(&["CLIENT", "GETREDIR"]), Value::Integer(0));
    assert_eq!(tracker.call(&["GET", "cached"]), Value::Null);
    let mut writer = Client::connect(server.local_address());
    assert_eq!(writer.call(&["SET", "cached", "1"]), ok());
    assert_eq!(
        tracker.read(),
        Value::Push(vec![
            Value::bulk("invalidate"),
            Value::Array(vec![Value::bulk("cached")])
        ])
    );
    let info = tracker.call(&["CLIENT", "TRACKINGINFO"]);
    assert_eq!(info.field("flags"), Value::Set(vec![Value::bulk("on")]));
    assert_eq!(info.field("redirect"), Value::Integer(0));
    assert_eq!(
        tracker.call(&["CLIENT", "TRACKING", "ON", "PREFIX", "a"]),
        error("ERR PREFIX option requires BCAST mode to be enabled")
    );
    assert_eq!(
        tracker.call(&["CLIENT", "CACHING", "YES"]),
        error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"
        )
    );
    assert_eq!(tracker.call(&["CLIENT", "TRACKING", "OFF"]), ok());
    assert_eq!(
        tracker.call(&["CLIENT", "TRACKING", "ON", "REDIRECT", "9999"]),
        error("ERR The client ID you want redirect to does not exist")
    );
    // BCAST: every key with the prefix, read or not.
    assert_eq!(
        tracker.call(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:"]),
        ok()
    );
    writer.call(&["SET", "other", "1"]);
    writer.call(&["SET", "user:1", "1"]);
    assert_eq!(
        tracker.read(),
        Value::Push(vec![
            Value::bulk("invalidate"),
            Value::Array(vec![Value::bulk("user:1")])
        ])
    );
}

#[test]
fn no_evict_no_touch_and_unblock_answer_as_redis() {
    let (server, _) = start_server(ServerOptions::default());
    let mut client = Client::connect(server.local_address());
    assert_eq!(client.call(&["CLIENT", "NO-EVICT", "on"]), ok());
    assert_eq!(client.call(&["CLIENT", "NO-TOUCH", "OFF"]), ok());
    assert_eq!(
        client.call(&["CLIENT", "NO-EVICT", "maybe"]),
        error("ERR syntax error")
    );
    assert_eq!(client.call(&["CLIENT", "UNBLOCK", "1"]), Value::Integer(0));
    assert_eq!(
        client.call(&["CLIENT", "UNBLOCK", "1", "NOW"]),
        error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    );
    assert_eq!(
        client.call(&["CLIENT", "UNBLOCK", "x"]),
        error("ERR value is not an integer or out of range")
    );
}

//! Keyspace notifications over real sockets and a real keel database:
//! CONFIG SET/GET notify-keyspace-events with Redis's letters, the
//! `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` messages each
//! command family fires, in Redis's order, `expired` from the expiry
//! watch, `new`, and nothing from a transaction that did not commit.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;
mod engine_support;

use common::{Client, Value, ok};
use engine_support::EngineServer;
use keel_server::AppendFsync;

fn bulk(text: &str) -> Value {
    Value::bulk(text)
}

/// A message received through the `*` pattern.
fn pmessage(channel: &str, message: &str) -> Value {
    Value::Array(vec![
        bulk("pmessage"),
        bulk("*"),
        bulk(channel),
        bulk(message),
    ])
}

/// A server, a writer, and a subscriber to every channel (`PSUBSCRIBE *`)
/// with the classes `letters` on.
fn subscribed(letters: &str) -> (tempfile::TempDir, EngineServer, Client, Client) {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut writer = Client::connect(server.address);
    assert_eq!(
        writer.call(&["CONFIG", "SET", "notify-keyspace-events", letters]),
        ok()
    );
    let mut subscriber = Client::connect(server.address);
    assert_eq!(
        subscriber.call(&["PSUBSCRIBE", "*"]),
        Value::Array(vec![bulk("psubscribe"), bulk("*"), Value::Integer(1)])
    );
    (dir, server, writer, subscriber)
}

/// Reads keyspace-channel events of database 0 until the `end` marker a
/// PUBLISH sent after the commands: the events in order, as `key event`.
fn keyspace_events_until_marker(writer: &mut Client, subscriber: &mut Client) -> Vec<String> {
    assert_eq!(
        writer.call(&["PUBLISH", "end", "marker"]),
        Value::Integer(1)
    );
    let mut events = Vec::new();
    loop {
        match subscriber.read() {
            Value::Array(items) if items.len() == 4 => {
                let channel = items[2].text();
                if channel == "end" {
                    return events;
                }
                let key = channel
                    .strip_prefix("__keyspace@0__:")
                    .unwrap_or_else(|| panic!("an unexpected channel {channel}"));
                events.push(format!("{key} {}", items[3].text()));
            }
            other => panic!("not a pmessage: {other:?}"),
        }
    }
}

#[test]
fn config_takes_redis_letters_and_shows_them_as_redis_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = Client::connect(server.address);
    for (given, shown) in [
        ("gKE", "gKE"),
        ("$lshzxeKE", "$lshzxeKE"),
        ("KA", "AK"),
        ("EA", "AE"),
        ("", ""),
    ] {
        assert_eq!(
            client.call(&["CONFIG", "SET", "notify-keyspace-events", given]),
            ok()
        );
        assert_eq!(
            client.call(&["CONFIG", "GET", "notify-keyspace-events"]),
            Value::Array(vec![bulk("notify-keyspace-events"), bulk(shown)])
        );
    }
    let refused = client.call(&["CONFIG", "SET", "notify-keyspace-events", "KEq"]);
    assert_eq!(
        refused,
        Value::Error(
            "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
                .to_owned()
        )
    );
}

#[test]
fn keyspace_and_keyevent_messages_come_in_that_order() {
    let (_dir, _server, mut writer, mut subscriber) = subscribed("KEA");
    assert_eq!(writer.call(&["SET", "foo", "bar"]), ok());
    assert_eq!(subscriber.read(), pmessage("__keyspace@0__:foo", "set"));
    assert_eq!(subscriber.read(), pmessage("__keyevent@0__:set", "foo"));
    assert_eq!(writer.call(&["SELECT", "3"]), ok());
    assert_eq!(writer.call(&["LPUSH", "list", "a"]), Value::Integer(1));
    assert_eq!(subscriber.read(), pmessage("__keyspace@3__:list", "lpush"));
    assert_eq!(subscriber.read(), pmessage("__keyevent@3__:lpush", "list"));
}

#[test]
fn only_the_classes_on_are_published() {
    let (_dir, _server, mut writer, mut subscriber) = subscribed("Kl");
    writer.call(&["SET", "foo", "bar"]);
    writer.call(&["SADD", "set", "a"]);
    writer.call(&["RPUSH", "list", "a"]);
    writer.call(&["DEL", "list"]);
    assert_eq!(
        keyspace_events_until_marker(&mut writer, &mut subscriber),
        ["list rpush"]
    );
}

#[test]
fn each_family_fires_redis_events_only_for_what_changed() {
    let (_dir, _server, mut writer, mut subscriber) = subscribed("KA");
    let commands: &[&[&str]] = &[
        &["SET", "s", "1"],
        &["INCRBY", "s", "2"],
        &["INCRBYFLOAT", "s", "0.5"],
        &["APPEND", "s", "x"],
        &["SETRANGE", "s", "0", "y"],
        &["SETRANGE", "s", "0", ""],
        &["EXPIRE", "s", "100"],
        &["PERSIST", "s"],
        &["PERSIST", "s"],
        &["RENAME", "s", "t"],
        &["DEL", "t", "missing"],
        &["HSET", "h", "f", "1"],
        &["HINCRBY", "h", "f", "2"],
        &["HDEL", "h", "nothing"],
        &["HDEL", "h", "f"],
        &["SADD", "set", "a", "b"],
        &["SADD", "set", "a"],
        &["SREM", "set", "x"],
        &["SREM", "set", "a", "b"],
        &["ZADD", "z", "1", "a", "2", "b"],
        &["ZADD", "z", "1", "a"],
        &["ZINCRBY", "z", "1", "a"],
        &["ZREM", "z", "nothing"],
        &["ZPOPMIN", "z"],
        &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"],
        &["RPUSH", "l", "a", "b", "c"],
        &["LPOP", "l"],
        &["LSET", "l", "0", "x"],
        &["LMOVE", "l", "m", "LEFT", "RIGHT"],
        &["RPOP", "l"],
    ];
    for command in commands {
        writer.call(command);
    }
    let expected = [
        "s set",
        "s incrby",
        "s incrbyfloat",
        "s append",
        "s setrange",
        "s expire",
        "s persist",
        "s rename_from",
        "t rename_to",
        "t del",
        "h hset",
        "h hincrby",
        "h hdel",
        "h del",
        "set sadd",
        "set srem",
        "set del",
        "z zadd",
        "z zincr",
        "z zpopmin",
        "z zremrangebyscore",
        "z del",
        "l rpush",
        "l lpop",
        "l lset",
        "m rpush",
        "l lpop",
        "l rpop",
        "l del",
    ];
    assert_eq!(
        keyspace_events_until_marker(&mut writer, &mut subscriber),
        expected
    );
}

#[test]
fn new_fires_only_when_a_key_is_created() {
    let (_dir, _server, mut writer, mut subscriber) = subscribed("En");
    writer.call(&["SET", "foo", "bar"]);
    writer.call(&["SET", "foo", "baz"]);
    writer.call(&["SADD", "set", "a"]);
    writer.call(&["SADD", "set", "b"]);
    writer.call(&["SET", "bar", "bar"]);
    assert_eq!(subscriber.read(), pmessage("__keyevent@0__:new", "foo"));
    assert_eq!(subscriber.read(), pmessage("__keyevent@0__:new", "set"));
    assert_eq!(subscriber.read(), pmessage("__keyevent@0__:new", "bar"));
}

#[test]
fn a_key_that_expires_fires_expired_once() {
    let (_dir, _server, mut writer, mut subscriber) = subscribed("Ex");
    assert_eq!(writer.call(&["PSETEX", "foo", "100", "1"]), ok());
    assert_eq!(writer.call(&["PSETEX", "kept", "100", "1"]), ok());
    assert_eq!(writer.call(&["PERSIST", "kept"]), Value::Integer(1));
    assert_eq!(writer.call(&["SET", "gone", "1", "PX", "100"]), ok());
    assert_eq!(writer.call(&["DEL", "gone"]), Value::Integer(1));
    assert_eq!(subscriber.read(), pmessage("__keyevent@0__:expired", "foo"));
    // Neither the persisted nor the deleted key fires; the next message
    // is the marker.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        writer.call(&["PUBLISH", "end", "marker"]),
        Value::Integer(1)
    );
    assert_eq!(
        subscriber.read(),
        Value::Array(vec![
            bulk("pmessage"),
            bulk("*"),
            bulk("end"),
            bulk("marker")
        ])
    );
}

#[test]
fn a_transaction_publishes_after_its_commit_and_not_when_it_failed() {
    let (_dir, server, mut writer, mut subscriber) = subscribed("Kg$");
    let mut other = Client::connect(server.address);
    writer.call(&["WATCH", "watched"]);
    other.call(&["SET", "watched", "changed"]);
    writer.call(&["MULTI"]);
    writer.call(&["SET", "lost", "1"]);
    assert_eq!(writer.call(&["EXEC"]), Value::NullArray);
    writer.call(&["MULTI"]);
    writer.call(&["SET", "kept", "1"]);
    writer.call(&["DEL", "kept"]);
    assert_eq!(
        writer.call(&["EXEC"]),
        Value::Array(vec![ok(), Value::Integer(1)])
    );
    writer.call(&["EVAL", "redis.call('SET', KEYS[1], 'v')", "1", "scripted"]);
    assert_eq!(
        keyspace_events_until_marker(&mut writer, &mut subscriber),
        ["watched set", "kept set", "kept del", "scripted set"]
    );
}

#[test]
fn a_read_of_a_missing_key_fires_keymiss_and_a_write_does_not() {
    let (_dir, _server, mut writer, mut subscriber) = subscribed("Km");
    writer.call(&["SET", "here", "v"]);
    writer.call(&["GET", "gone"]);
    writer.call(&["GET", "here"]);
    writer.call(&["EXISTS", "here", "gone2"]);
    writer.call(&["HGET", "hash", "field"]);
    writer.call(&["INCR", "counter"]); // A write: its lookup fires nothing.
    writer.call(&["LRANGE", "list", "0", "-1"]);
    assert_eq!(
        keyspace_events_until_marker(&mut writer, &mut subscriber),
        [
            "gone keymiss",
            "gone2 keymiss",
            "hash keymiss",
            "list keymiss"
        ]
    );
    // `A` leaves `m` out, as in Redis.
    writer.call(&["CONFIG", "SET", "notify-keyspace-events", "KA"]);
    writer.call(&["GET", "gone"]);
    writer.call(&["SET", "x", "1"]);
    assert_eq!(
        keyspace_events_until_marker(&mut writer, &mut subscriber),
        ["x set"]
    );
}

/// GEO keys are sorted sets: GEOADD fires `zadd` (only when it changed
/// something), the searches' STORE `georadiusstore` or `geosearchstore`,
/// and a STORE of nothing deletes its target (`del`).
#[test]
fn geo_commands_fire_redis_events() {
    let (_dir, _server, mut writer, mut subscriber) = subscribed("KA");
    let commands: &[&[&str]] = &[
        &["GEOADD", "g", "13.361389", "38.115556", "Palermo"],
        &["GEOADD", "g", "NX", "1", "1", "Palermo"],
        &["GEORADIUS", "g", "13", "38", "100", "km", "STORE", "r"],
        &[
            "GEOSEARCHSTORE",
            "s",
            "g",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "1",
            "km",
        ],
        &[
            "GEOSEARCHSTORE",
            "s",
            "g",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ],
        &["GEORADIUS_RO", "g", "13", "38", "100", "km"],
    ];
    for command in commands {
        writer.call(command);
    }
    assert_eq!(
        keyspace_events_until_marker(&mut writer, &mut subscriber),
        ["g zadd", "r georadiusstore", "s geosearchstore", "s del"]
    );
}

/// The bitmap commands fire what Redis 7.0 fires: SETBIT and BITFIELD
/// `setbit` only when they create, grow or change the string, BITOP `set`
/// on its destination or `del` when the result is empty.
#[test]
fn bitmap_commands_notify_as_redis_does() {
    let (_dir, _server, mut writer, mut subscriber) = subscribed("KA");
    writer.call(&["SETBIT", "b", "3", "1"]);
    writer.call(&["SETBIT", "b", "3", "1"]); // No change.
    writer.call(&["SETBIT", "b", "20", "0"]); // Grows.
    writer.call(&["BITFIELD", "f", "SET", "u8", "0", "0"]); // Creates.
    writer.call(&["BITFIELD", "f", "SET", "u8", "0", "0"]); // No change.
    writer.call(&[
        "BITFIELD", "f", "INCRBY", "u8", "0", "1", "INCRBY", "u8", "0", "-1",
    ]);
    writer.call(&[
        "BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "-1",
    ]);
    writer.call(&["BITFIELD_RO", "f", "GET", "u8", "0"]);
    writer.call(&["BITOP", "OR", "d", "b", "f"]);
    writer.call(&["BITOP", "AND", "d", "none1", "none2"]);
    writer.call(&["BITOP", "AND", "d", "none1", "none2"]); // Nothing to delete.
    assert_eq!(
        keyspace_events_until_marker(&mut writer, &mut subscriber),
        [
            "b setbit", "b setbit", "f setbit", "f setbit", "d set", "d del"
        ]
    );
    // Sources and reads that miss fire `keymiss`, as Redis's read lookups.
    writer.call(&["CONFIG", "SET", "notify-keyspace-events", "KAm"]);
    writer.call(&["BITOP", "OR", "d", "b", "gone"]);
    writer.call(&["BITFIELD", "gone", "GET", "u8", "0"]);
    writer.call(&["BITFIELD", "gone", "SET", "u8", "0", "1"]);
    writer.call(&["BITFIELD_RO", "gone2", "GET", "u8", "0"]);
    writer.call(&["BITPOS", "gone3", "1"]);
    assert_eq!(
        keyspace_events_until_marker(&mut writer, &mut subscriber),
        [
            "gone keymiss",
            "d set",
            "gone keymiss",
            "gone setbit",
            "gone2 keymiss",
            "gone3 keymiss"
        ]
    );
}

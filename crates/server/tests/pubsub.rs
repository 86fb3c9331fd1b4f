//! Pub/sub over real sockets: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, their
//! UNSUBSCRIBEs, PUBLISH, SPUBLISH and PUBSUB with Redis 7's replies, in
//! RESP2 and RESP3, across connections and across event loops, and the
//! disconnection of a subscriber that does not read.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Value, ok, start_server};
use keel_server::ServerOptions;

fn bulk(text: &str) -> Value {
    Value::bulk(text)
}

fn int(value: i64) -> Value {
    Value::Integer(value)
}

/// A RESP2 pub/sub message or confirmation.
fn array(items: &[Value]) -> Value {
    Value::Array(items.to_vec())
}

/// The same in RESP3.
fn push(items: &[Value]) -> Value {
    Value::Push(items.to_vec())
}

/// Waits until `condition` holds (the server acts on a closed connection
/// on its own time).
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// PUBSUB NUMSUB of one channel.
fn numsub(client: &mut Client, channel: &str) -> i64 {
    match client.call(&["PUBSUB", "NUMSUB", channel]) {
        Value::Array(items) => match items.as_slice() {
            [_, Value::Integer(count)] => *count,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn subscribe_and_publish_across_connections() {
    let (server, _) = start_server(ServerOptions::default());
    let mut subscriber = Client::connect(server.local_address());
    let mut publisher = Client::connect(server.local_address());
    subscriber.send(&["SUBSCRIBE", "chan1", "chan2"]);
    assert_eq!(
        subscriber.read(),
        array(&[bulk("subscribe"), bulk("chan1"), int(1)])
    );
    assert_eq!(
        subscriber.read(),
        array(&[bulk("subscribe"), bulk("chan2"), int(2)])
    );
    assert_eq!(publisher.call(&["PUBLISH", "chan1", "hello"]), int(1));
    assert_eq!(publisher.call(&["PUBLISH", "chan2", "world"]), int(1));
    assert_eq!(publisher.call(&["PUBLISH", "chan3", "nobody"]), int(0));
    assert_eq!(
        subscriber.read(),
        array(&[bulk("message"), bulk("chan1"), bulk("hello")])
    );
    assert_eq!(
        subscriber.read(),
        array(&[bulk("message"), bulk("chan2"), bulk("world")])
    );
    // A second subscriber of the same channel; subscribing twice counts once.
    let mut second = Client::connect(server.local_address());
    second.send(&["SUBSCRIBE", "chan1", "chan1"]);
    assert_eq!(
        second.read(),
        array(&[bulk("subscribe"), bulk("chan1"), int(1)])
    );
    assert_eq!(
        second.read(),
        array(&[bulk("subscribe"), bulk("chan1"), int(1)])
    );
    assert_eq!(publisher.call(&["PUBLISH", "chan1", "both"]), int(2));
    let message = array(&[bulk("message"), bulk("chan1"), bulk("both")]);
    assert_eq!(subscriber.read(), message);
    assert_eq!(second.read(), message);
    // Binary-safe channels and messages.
    subscriber.send(&["SUBSCRIBE", "b\r\n\0"]);
    assert_eq!(
        subscriber.read(),
        array(&[bulk("subscribe"), bulk("b\r\n\0"), int(3)])
    );
    assert_eq!(publisher.call(&["PUBLISH", "b\r\n\0", "\r\n"]), int(1));
    assert_eq!(
        subscriber.read(),
        array(&[bulk("message"), bulk("b\r\n\0"), bulk("\r\n")])
    );
    server.shutdown();
}

#[test]
fn subscribers_on_other_event_loops_receive_each_publish() {
    let (server, _) = start_server(ServerOptions {
        io_threads: 4,
        ..ServerOptions::default()
    });
    // Connections go round robin over the loops: eight subscribers cover
    // all four, the publishers too.
    let mut subscribers: Vec<Client> = (0..8)
        .map(|index| {
            let mut client = Client::connect(server.local_address());
            if index % 2 == 0 {
                client.send(&["SUBSCRIBE", "news"]);
                assert_eq!(
                    client.read(),
                    array(&[bulk("subscribe"), bulk("news"), int(1)])
                );
            } else {
                client.send(&["PSUBSCRIBE", "n*s"]);
                assert_eq!(
                    client.read(),
                    array(&[bulk("psubscribe"), bulk("n*s"), int(1)])
                );
            }
            client
        })
        .collect();
    let address = server.local_address();
    let publishers: Vec<_> = (0..4)
        .map(|publisher| {
            std::thread::spawn(move || {
                let mut client = Client::connect(address);
                for round in 0..50 {
                    let message = format!("{publisher}:{round}");
                    assert_eq!(client.call(&["PUBLISH", "news", &message]), int(8));
                }
            })
        })
        .collect();
    for publisher in publishers {
        publisher.join().unwrap();
    }
    for (index, subscriber) in subscribers.iter_mut().enumerate() {
        // Each publisher's messages arrive in the order it sent them.
        let mut next = [0; 4];
        for _ in 0..200 {
            let value = subscriber.read();
            let Value::Array(items) = &value else {
                panic!("{value:?}")
            };
            let message = items.last().unwrap().text();
            if index % 2 == 0 {
                assert_eq!(items[..2], [bulk("message"), bulk("news")]);
            } else {
                assert_eq!(items[..3], [bulk("pmessage"), bulk("n*s"), bulk("news")]);
            }
            let (publisher, round) = message.split_once(':').unwrap();
            let publisher: usize = publisher.parse().unwrap();
            assert_eq!(round.parse::<i32>().unwrap(), next[publisher]);
            next[publisher] += 1;
        }
    }
    server.shutdown();
}

#[test]
fn patterns_match_with_redis_globs() {
    let (server, _) = start_server(ServerOptions::default());
    let mut subscriber = Client::connect(server.local_address());
    let mut publisher = Client::connect(server.local_address());
    subscriber.send(&["PSUBSCRIBE", "foo.*", "bar.[0-9]"]);
    assert_eq!(
        subscriber.read(),
        array(&[bulk("psubscribe"), bulk("foo.*"), int(1)])
    );
    assert_eq!(
        subscriber.read(),
        array(&[bulk("psubscribe"), bulk("bar.[0-9]"), int(2)])
    );
    assert_eq!(publisher.call(&["PUBLISH", "foo.1", "a"]), int(1));
    assert_eq!(publisher.call(&["PUBLISH", "bar.1", "b"]), int(1));
    assert_eq!(publisher.call(&["PUBLISH", "bar.x", "c"]), int(0));
    assert_eq!(publisher.call(&["PUBLISH", "foo1", "d"]), int(0));
    assert_eq!(
        subscriber.read(),
        array(&[bulk("pmessage"), bulk("foo.*"), bulk("foo.1"), bulk("a")])
    );
    assert_eq!(
        subscriber.read(),
        array(&[
            bulk("pmessage"),
            bulk("bar.[0-9]"),
            bulk("bar.1"),
            bulk("b")
        ])
    );
    // A channel subscription and a pattern: two deliveries, the channel's
    // first, and the count shared by both kinds.
    subscriber.send(&["SUBSCRIBE", "foo.bar"]);
    assert_eq!(
        subscriber.read(),
        array(&[bulk("subscribe"), bulk("foo.bar"), int(3)])
    );
    assert_eq!(publisher.call(&["PUBLISH", "foo.bar", "e"]), int(2));
    assert_eq!(
        subscriber.read(),
        array(&[bulk("message"), bulk("foo.bar"), bulk("e")])
    );
    assert_eq!(
        subscriber.read(),
        array(&[bulk("pmessage"), bulk("foo.*"), bulk("foo.bar"), bulk("e")])
    );
    assert_eq!(publisher.call(&["PUBSUB", "NUMPAT"]), int(2));
    subscriber.send(&["PUNSUBSCRIBE", "foo.*"]);
    assert_eq!(
        subscriber.read(),
        array(&[bulk("punsubscribe"), bulk("foo.*"), int(2)])
    );
    assert_eq!(publisher.call(&["PUBLISH", "foo.1", "f"]), int(0));
    assert_eq!(publisher.call(&["PUBSUB", "NUMPAT"]), int(1));
    server.shutdown();
}

#[test]
fn unsubscribing_from_everything_confirms_each_or_once() {
    let (server, _) = start_server(ServerOptions::default());
    let mut client = Client::connect(server.local_address());
    // Subscribed to nothing: one confirmation with a null channel.
    assert_eq!(
        client.call(&["UNSUBSCRIBE"]),
        array(&[bulk("unsubscribe"), Value::NullBulk, int(0)])
    );
    assert_eq!(
        client.call(&["PUNSUBSCRIBE"]),
        array(&[bulk("punsubscribe"), Value::NullBulk, int(0)])
    );
    assert_eq!(
        client.call(&["SUNSUBSCRIBE"]),
        array(&[bulk("sunsubscribe"), Value::NullBulk, int(0)])
    );
    client.send(&["UNSUBSCRIBE", "foo", "bar"]);
    assert_eq!(
        client.read(),
        array(&[bulk("unsubscribe"), bulk("foo"), int(0)])
    );
    assert_eq!(
        client.read(),
        array(&[bulk("unsubscribe"), bulk("bar"), int(0)])
    );
    client.send(&["SUBSCRIBE", "a", "b", "c"]);
    for _ in 0..3 {
        client.read();
    }
    client.send(&["PSUBSCRIBE", "p*"]);
    assert_eq!(
        client.read(),
        array(&[bulk("psubscribe"), bulk("p*"), int(4)])
    );
    // Every channel, in any order, the count going down; the pattern stays.
    client.send(&["UNSUBSCRIBE"]);
    let mut channels = Vec::new();
    for expected in [3, 2, 1] {
        let Value::Array(items) = client.read() else {
            panic!("an array")
        };
        assert_eq!(items[0], bulk("unsubscribe"));
        assert_eq!(items[2], int(expected));
        channels.push(items[1].text());
    }
    channels.sort();
    assert_eq!(channels, ["a", "b", "c"]);
    client.send(&["PUNSUBSCRIBE"]);
    assert_eq!(
        client.read(),
        array(&[bulk("punsubscribe"), bulk("p*"), int(0)])
    );
    // Out of pub/sub mode: any command runs again.
    assert_eq!(client.call(&["PING"]), Value::Simple("PONG".to_owned()));
    assert_eq!(client.call(&["SET", "k", "v"]), ok());
    server.shutdown();
}

#[test]
fn resp2_subscribed_mode_allows_only_pubsub_commands() {
    let (server, _) = start_server(ServerOptions::default());
    let mut client = Client::connect(server.local_address());
    client.send(&["SUBSCRIBE", "chan"]);
    client.read();
    assert_eq!(
        client.call(&["GET", "k"]),
        Value::Error(
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".to_owned()
        )
    );
    assert_eq!(
        client.call(&["CLIENT", "ID"]),
        Value::Error(
            "ERR Can't execute 'client|id': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".to_owned()
        )
    );
    // Pipelined data commands are refused too, in order.
    let mut pipeline = Vec::new();
    for parts in [["SET", "a", "1"], ["GET", "a", ""]] {
        let parts: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
        keel_server::Command::from_parts(&parts).encode(&mut pipeline);
    }
    client.send_raw(&pipeline);
    assert!(matches!(client.read(), Value::Error(text) if text.contains("'set'")));
    assert!(matches!(client.read(), Value::Error(text) if text.contains("'get'")));
    assert_eq!(client.call(&["PING"]), array(&[bulk("pong"), bulk("")]));
    assert_eq!(
        client.call(&["PING", "foo"]),
        array(&[bulk("pong"), bulk("foo")])
    );
    // RESET leaves every subscription, silently.
    assert_eq!(client.call(&["RESET"]), Value::Simple("RESET".to_owned()));
    assert_eq!(client.call(&["PING"]), Value::Simple("PONG".to_owned()));
    let mut other = Client::connect(server.local_address());
    assert_eq!(other.call(&["PUBLISH", "chan", "x"]), int(0));
    // QUIT is allowed, and closes.
    client.send(&["SUBSCRIBE", "chan"]);
    client.read();
    assert_eq!(client.call(&["QUIT"]), ok());
    client.read_until_closed();
    eventually("the closed subscriber leaves", || {
        numsub(&mut other, "chan") == 0
    });
    server.shutdown();
}

#[test]
fn resp3_subscribers_get_pushes_and_may_run_anything() {
    let (server, _) = start_server(ServerOptions::default());
    let mut client = Client::connect(server.local_address());
    let mut publisher = Client::connect(server.local_address());
    client.call(&["HELLO", "3"]);
    client.send(&["SUBSCRIBE", "chan"]);
    assert_eq!(
        client.read(),
        push(&[bulk("subscribe"), bulk("chan"), int(1)])
    );
    // Commands run as usual while subscribed.
    assert_eq!(client.call(&["SET", "k", "v"]), ok());
    assert_eq!(client.call(&["GET", "k"]), bulk("v"));
    assert_eq!(client.call(&["PING"]), Value::Simple("PONG".to_owned()));
    assert_eq!(publisher.call(&["PUBLISH", "chan", "hi"]), int(1));
    assert_eq!(
        client.read(),
        push(&[bulk("message"), bulk("chan"), bulk("hi")])
    );
    // A message to itself comes before PUBLISH's reply, as in Redis.
    client.send(&["PUBLISH", "chan", "me"]);
    assert_eq!(
        client.read(),
        push(&[bulk("message"), bulk("chan"), bulk("me")])
    );
    assert_eq!(client.read(), int(1));
    // A RESP2 subscriber and a RESP3 one of the same message.
    let mut old = Client::connect(server.local_address());
    old.send(&["SUBSCRIBE", "chan"]);
    old.read();
    assert_eq!(publisher.call(&["PUBLISH", "chan", "both"]), int(2));
    assert_eq!(
        client.read(),
        push(&[bulk("message"), bulk("chan"), bulk("both")])
    );
    assert_eq!(
        old.read(),
        array(&[bulk("message"), bulk("chan"), bulk("both")])
    );
    client.send(&["UNSUBSCRIBE"]);
    assert_eq!(
        client.read(),
        push(&[bulk("unsubscribe"), bulk("chan"), int(0)])
    );
    server.shutdown();
}

#[test]
fn confirmations_and_messages_ignore_client_reply_off() {
    let (server, _) = start_server(ServerOptions::default());
    let mut client = Client::connect(server.local_address());
    let mut publisher = Client::connect(server.local_address());
    client.send(&["CLIENT", "REPLY", "OFF"]);
    client.send(&["SUBSCRIBE", "chan"]);
    assert_eq!(
        client.read(),
        array(&[bulk("subscribe"), bulk("chan"), int(1)])
    );
    assert_eq!(publisher.call(&["PUBLISH", "chan", "x"]), int(1));
    assert_eq!(
        client.read(),
        array(&[bulk("message"), bulk("chan"), bulk("x")])
    );
    server.shutdown();
}

#[test]
fn shard_channels_are_channels_of_their_own() {
    let (server, _) = start_server(ServerOptions::default());
    let mut subscriber = Client::connect(server.local_address());
    let mut publisher = Client::connect(server.local_address());
    subscriber.send(&["SSUBSCRIBE", "s1", "s2"]);
    assert_eq!(
        subscriber.read(),
        array(&[bulk("ssubscribe"), bulk("s1"), int(1)])
    );
    assert_eq!(
        subscriber.read(),
        array(&[bulk("ssubscribe"), bulk("s2"), int(2)])
    );
    // A channel subscription counts apart from the shard ones.
    subscriber.send(&["PSUBSCRIBE", "s*"]);
    assert_eq!(
        subscriber.read(),
        array(&[bulk("psubscribe"), bulk("s*"), int(1)])
    );
    assert_eq!(publisher.call(&["SPUBLISH", "s1", "x"]), int(1));
    assert_eq!(
        subscriber.read(),
        array(&[bulk("smessage"), bulk("s1"), bulk("x")])
    );
    // PUBLISH does not reach shard subscribers; SPUBLISH not patterns.
    assert_eq!(publisher.call(&["PUBLISH", "s1", "y"]), int(1));
    assert_eq!(
        subscriber.read(),
        array(&[bulk("pmessage"), bulk("s*"), bulk("s1"), bulk("y")])
    );
    let mut channels = match publisher.call(&["PUBSUB", "SHARDCHANNELS"]) {
        Value::Array(items) => items.iter().map(Value::text).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    channels.sort();
    assert_eq!(channels, ["s1", "s2"]);
    assert_eq!(
        publisher.call(&["PUBSUB", "SHARDNUMSUB", "s1", "nope"]),
        array(&[bulk("s1"), int(1), bulk("nope"), int(0)])
    );
    assert_eq!(
        publisher.call(&["PUBSUB", "CHANNELS"]),
        Value::Array(Vec::new())
    );
    subscriber.send(&["SUNSUBSCRIBE"]);
    for _ in 0..2 {
        let Value::Array(items) = subscriber.read() else {
            panic!("an array")
        };
        assert_eq!(items[0], bulk("sunsubscribe"));
    }
    // SSUBSCRIBE inside MULTI is refused, SUBSCRIBE is not (Redis 7).
    let mut transaction = Client::connect(server.local_address());
    assert_eq!(transaction.call(&["MULTI"]), ok());
    transaction.call(&["SSUBSCRIBE", "s"]);
    assert_eq!(
        transaction.call(&["EXEC"]),
        array(&[Value::Error(
            "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client".to_owned()
        )])
    );
    server.shutdown();
}

#[test]
fn introspection_shows_subscriptions() {
    let (server, _) = start_server(ServerOptions::default());
    let mut subscriber = Client::connect(server.local_address());
    let mut other = Client::connect(server.local_address());
    let subscriber_id = match subscriber.call(&["CLIENT", "ID"]) {
        Value::Integer(id) => id,
        other => panic!("{other:?}"),
    };
    subscriber.send(&["SUBSCRIBE", "a", "b"]);
    subscriber.read();
    subscriber.read();
    subscriber.send(&["PSUBSCRIBE", "x*"]);
    subscriber.read();
    subscriber.send(&["SSUBSCRIBE", "s"]);
    subscriber.read();
    let line = other
        .call(&["CLIENT", "LIST", "ID", &subscriber_id.to_string()])
        .text();
    assert!(line.contains(" flags=P "), "{line}");
    assert!(line.contains(" sub=2 psub=1 ssub=1 "), "{line}");
    let pubsub_clients = other.call(&["CLIENT", "LIST", "TYPE", "pubsub"]).text();
    assert_eq!(pubsub_clients.lines().count(), 1, "{pubsub_clients}");
    assert!(pubsub_clients.starts_with(&format!("id={subscriber_id} ")));
    let normal = other.call(&["CLIENT", "LIST", "TYPE", "normal"]).text();
    assert!(
        !normal.contains(&format!("id={subscriber_id} ")),
        "{normal}"
    );
    let info = other.call(&["INFO", "stats"]).text();
    for field in [
        "pubsub_channels:2",
        "pubsub_patterns:1",
        "pubsubshard_channels:1",
    ] {
        assert!(info.contains(field), "{field} in {info}");
    }
    assert!(
        other
            .call(&["INFO", "clients"])
            .text()
            .contains("pubsub_clients:1")
    );
    let mut channels = match other.call(&["PUBSUB", "CHANNELS"]) {
        Value::Array(items) => items.iter().map(Value::text).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    channels.sort();
    assert_eq!(channels, ["a", "b"]);
    assert_eq!(
        other.call(&["PUBSUB", "CHANNELS", "[a]"]),
        Value::Array(vec![bulk("a")])
    );
    assert_eq!(
        other.call(&["PUBSUB", "NUMSUB", "a", "zz"]),
        array(&[bulk("a"), int(1), bulk("zz"), int(0)])
    );
    assert_eq!(other.call(&["PUBSUB", "NUMSUB"]), Value::Array(Vec::new()));
    assert_eq!(
        other.call(&["PUBSUB", "CHANNELS", "a", "b"]),
        Value::Error(
            "ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP."
                .to_owned()
        )
    );
    assert!(matches!(other.call(&["PUBSUB", "HELP"]), Value::Array(lines) if lines.len() > 10));
    assert_eq!(other.call(&["CLIENT", "KILL", "TYPE", "pubsub"]), int(1));
    subscriber.read_until_closed();
    eventually("the killed subscriber leaves", || {
        numsub(&mut other, "a") == 0
    });
    assert_eq!(other.call(&["PUBSUB", "NUMPAT"]), int(0));
    // COMMAND INFO shows the flags Redis shows.
    let Value::Array(info) = other.call(&["COMMAND", "INFO", "subscribe"]) else {
        panic!("an array")
    };
    let Value::Array(entry) = &info[0] else {
        panic!("an entry")
    };
    let Value::Array(flags) = &entry[2] else {
        panic!("flags")
    };
    assert!(flags.contains(&Value::Simple("pubsub".to_owned())));
    assert!(flags.contains(&Value::Simple("noscript".to_owned())));
    server.shutdown();
}

#[test]
fn a_subscriber_that_does_not_read_is_disconnected_not_waited_for() {
    let (server, _) = start_server(ServerOptions {
        io_threads: 2,
        ..ServerOptions::default()
    });
    let mut publisher = Client::connect(server.local_address());
    assert_eq!(
        publisher.call(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 0 0"
        ]),
        ok()
    );
    assert_eq!(
        publisher.call(&["CONFIG", "GET", "client-output-buffer-limit"]),
        array(&[
            bulk("client-output-buffer-limit"),
            bulk("normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 0 0")
        ])
    );
    let mut slow = Client::connect(server.local_address());
    slow.send(&["SUBSCRIBE", "firehose"]);
    slow.read();
    let mut fast = Client::connect(server.local_address());
    fast.send(&["SUBSCRIBE", "firehose"]);
    fast.read();
    // 64 MiB of messages, far more than the socket buffers and the limit
    // hold, while `slow` reads nothing; every PUBLISH is answered at once,
    // and `fast`, which reads each, keeps up.
    let message = "m".repeat(64 << 10);
    let started = Instant::now();
    for _ in 0..1024 {
        let Value::Integer(receivers) = publisher.call(&["PUBLISH", "firehose", &message]) else {
            panic!("an integer")
        };
        assert!((1..=2).contains(&receivers));
        let Value::Array(items) = fast.read() else {
            panic!("a message")
        };
        assert_eq!(items[2].text().len(), 64 << 10);
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the publisher was held up"
    );
    eventually("the slow subscriber is disconnected", || {
        numsub(&mut publisher, "firehose") == 1
    });
    // What the slow one gets is whole messages, then the end of the stream.
    let rest = slow.read_until_closed();
    assert!(rest.len() < 64 << 20);
    // The fast one stays subscribed.
    assert_eq!(publisher.call(&["PUBLISH", "firehose", "last"]), int(1));
    assert_eq!(
        fast.read(),
        array(&[bulk("message"), bulk("firehose"), bulk("last")])
    );
    server.shutdown();
}

#[test]
fn subscribe_inside_multi_answers_inside_exec() {
    let (server, _) = start_server(ServerOptions::default());
    let mut client = Client::connect(server.local_address());
    let mut publisher = Client::connect(server.local_address());
    assert_eq!(client.call(&["MULTI"]), ok());
    assert_eq!(
        client.call(&["SUBSCRIBE", "chan"]),
        Value::Simple("QUEUED".to_owned())
    );
    assert_eq!(
        client.call(&["EXEC"]),
        array(&[array(&[bulk("subscribe"), bulk("chan"), int(1)])])
    );
    assert_eq!(publisher.call(&["PUBLISH", "chan", "x"]), int(1));
    assert_eq!(
        client.read(),
        array(&[bulk("message"), bulk("chan"), bulk("x")])
    );
    server.shutdown();
}

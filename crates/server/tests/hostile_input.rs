//! Arbitrary bytes from a client never take the server down or disturb
//! another client: after each hostile connection (closed by the client or
//! by the server), a well-behaved client still gets its data and a PONG.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::{Client, Value, start_server};
use keel_server::ServerOptions;
use proptest::prelude::*;

/// Fragments that make random streams look like requests often enough to
/// reach the command layer (no SHUTDOWN among them).
const FRAGMENTS: &[&[u8]] = &[
    b"*", b"$", b"\r\n", b"\n", b"1", b"2", b"3", b"-1", b"0", b"PING", b"GET", b"SET", b"MULTI",
    b"EXEC", b"HELLO", b"CLIENT", b"LIST", b"SELECT", b"INCR", b" ", b"\"", b"'", b"\\x4",
    b"99999", b"k",
];

fn hostile_stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..80)
            .prop_map(|pieces| pieces.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn hostile_bytes_do_not_disturb_other_clients(streams in proptest::collection::vec(hostile_stream(), 1..4)) {
        let (server, backend) = start_server(ServerOptions::default());
        let mut good = Client::connect(server.local_address());
        prop_assert_eq!(good.call(&["SET", "safe", "value"]), Value::Simple("OK".into()));
        for stream in &streams {
            let mut hostile = Client::connect(server.local_address());
            hostile.send_raw(stream);
            // End our side, so the server sees end of input and closes.
            hostile.stream().shutdown(std::net::Shutdown::Write).unwrap();
            hostile.read_until_closed();
            prop_assert_eq!(good.call(&["PING"]), Value::Simple("PONG".into()));
        }
        prop_assert_eq!(good.call(&["SELECT", "0"]), Value::Simple("OK".into()));
        // Hostile streams may write keys of their own, but not this one
        // unless they sent a SET of it, which the fragments cannot spell.
        let safe = backend.value(0, "safe");
        prop_assert_eq!(safe.as_deref(), Some(&b"value"[..]));
        server.shutdown();
    }
}

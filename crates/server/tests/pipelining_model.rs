//! Model-based test of the connection layer: random command sequences,
//! pipelined over a real socket in random write sizes, must get exactly
//! the replies a `BTreeMap` model predicts, in order.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::collections::BTreeMap;

use common::{Client, Value, start_server};
use keel_server::{Command, ServerOptions};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Operation {
    Set(u8, String),
    Get(u8),
    Incr(u8),
    Del(u8),
    Select(u8),
    Ping,
    Echo(Vec<u8>),
    Unknown,
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        (0u8..4, "[a-z0-9]{0,6}").prop_map(|(key, value)| Operation::Set(key, value)),
        (0u8..4).prop_map(Operation::Get),
        (0u8..4).prop_map(Operation::Incr),
        (0u8..4).prop_map(Operation::Del),
        (0u8..3).prop_map(Operation::Select),
        Just(Operation::Ping),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Operation::Echo),
        Just(Operation::Unknown),
    ]
}

impl Operation {
    fn command(&self) -> Command {
        let key = |key: &u8| format!("key{key}");
        match self {
            Operation::Set(k, value) => Command::from_parts(["SET", &key(k), value]),
            Operation::Get(k) => Command::from_parts(["GET", &key(k)]),
            Operation::Incr(k) => Command::from_parts(["INCR", &key(k)]),
            Operation::Del(k) => Command::from_parts(["DEL", &key(k)]),
            Operation::Select(database) => Command::from_parts(["SELECT", &database.to_string()]),
            Operation::Ping => Command::from_parts(["PING"]),
            Operation::Echo(bytes) => Command::from_parts([&b"ECHO"[..], bytes]),
            Operation::Unknown => Command::from_parts(["NOPE", "x"]),
        }
    }
}

/// The model: one map per database, and the selected database.
#[derive(Default)]
struct Model {
    databases: BTreeMap<u8, BTreeMap<u8, String>>,
    selected: u8,
}

impl Model {
    fn apply(&mut self, operation: &Operation) -> Value {
        let keys = self.databases.entry(self.selected).or_default();
        match operation {
            Operation::Set(key, value) => {
                keys.insert(*key, value.clone());
                Value::Simple("OK".into())
            }
            Operation::Get(key) => keys
                .get(key)
                .map_or(Value::NullBulk, |value| Value::bulk(value)),
            Operation::Incr(key) => match keys
                .get(key)
                .map(|value| keel_server::parse_integer(value.as_bytes()))
            {
                Some(None) => Value::Error("ERR value is not an integer or out of range".into()),
                Some(Some(current)) => {
                    keys.insert(*key, (current + 1).to_string());
                    Value::Integer(current + 1)
                }
                None => {
                    keys.insert(*key, "1".into());
                    Value::Integer(1)
                }
            },
            Operation::Del(key) => Value::Integer(i64::from(keys.remove(key).is_some())),
            Operation::Select(database) => {
                self.selected = *database;
                Value::Simple("OK".into())
            }
            Operation::Ping => Value::Simple("PONG".into()),
            Operation::Echo(bytes) => Value::Bulk(bytes.clone()),
            Operation::Unknown => {
                Value::Error("ERR unknown command 'NOPE', with args beginning with: 'x' ".into())
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn pipelined_replies_match_the_model(
        operations in proptest::collection::vec(operation(), 1..80),
        write_lengths in proptest::collection::vec(1usize..200, 1..5),
    ) {
        let (server, _) = start_server(ServerOptions::default());
        let mut client = Client::connect(server.local_address());
        let mut stream = Vec::new();
        for operation in &operations {
            operation.command().encode(&mut stream);
        }
        let mut written = 0;
        for length in write_lengths.iter().cycle() {
            if written == stream.len() {
                break;
            }
            let end = (written + length).min(stream.len());
            client.send_raw(&stream[written..end]);
            written = end;
        }
        let mut model = Model::default();
        for operation in &operations {
            prop_assert_eq!(client.read(), model.apply(operation), "{:?}", operation);
        }
        server.shutdown();
    }
}

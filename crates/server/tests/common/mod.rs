//! Test support: an in-memory backend (a `BTreeMap` per database, enough
//! commands to exercise the connection layer) and a small RESP client that
//! speaks to the server over a real loopback socket.

#![allow(dead_code)] // Each test file uses part of the support.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use keel_server::command_arguments::{
    SetCondition, increment, integer_argument, negate_decrement, parse_set,
};
use keel_server::{
    Backend, ClientId, Command, CommandSpec, DatabaseIndex, GlobPattern, InfoSection, Reply,
    ServerHandle, ServerOptions, Session,
};

/// How long a test client waits for a reply before failing the test (a
/// safety net against hangs; no test depends on timing).
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// A value and the version of the store when it was written.
#[derive(Clone, Debug)]
struct Entry {
    value: Bytes,
    version: u64,
}

#[derive(Debug, Default)]
struct Store {
    databases: BTreeMap<DatabaseIndex, BTreeMap<Bytes, Entry>>,
    /// Bumped by every write; deleted keys remember their deletion.
    version: u64,
    deleted: BTreeMap<(DatabaseIndex, Bytes), u64>,
}

impl Store {
    fn key_version(&self, database: DatabaseIndex, key: &Bytes) -> Option<u64> {
        let live = self
            .databases
            .get(&database)
            .and_then(|keys| keys.get(key))
            .map(|entry| entry.version);
        live.or_else(|| self.deleted.get(&(database, key.clone())).copied())
    }

    fn put(&mut self, database: DatabaseIndex, key: Bytes, value: Bytes) {
        self.version += 1;
        let version = self.version;
        self.databases
            .entry(database)
            .or_default()
            .insert(key, Entry { value, version });
    }

    fn remove(&mut self, database: DatabaseIndex, key: &Bytes) -> bool {
        let removed = self
            .databases
            .get_mut(&database)
            .and_then(|keys| keys.remove(key))
            .is_some();
        if removed {
            self.version += 1;
            self.deleted.insert((database, key.clone()), self.version);
        }
        removed
    }

    fn get(&self, database: DatabaseIndex, key: &[u8]) -> Option<Bytes> {
        self.databases
            .get(&database)
            .and_then(|keys| keys.get(key))
            .map(|entry| entry.value.clone())
    }

    fn apply(&mut self, database: DatabaseIndex, spec: &CommandSpec, command: &Command) -> Reply {
        let arguments = command.arguments();
        match spec.full_name().as_str() {
            "get" => self.get(database, &arguments[1]).into(),
            "set" => {
                // Expiry is parsed (and checked) but not kept: the test
                // backend has no clock.
                let set = match parse_set(arguments, 0) {
                    Ok(set) => set,
                    Err(reply) => return reply,
                };
                let old = self.get(database, &arguments[1]);
                let allowed = match set.condition {
                    SetCondition::Always => true,
                    SetCondition::IfAbsent => old.is_none(),
                    SetCondition::IfPresent => old.is_some(),
                };
                if allowed {
                    self.put(database, arguments[1].clone(), arguments[2].clone());
                }
                match (set.return_old, allowed) {
                    (true, _) => old.into(),
                    (false, true) => Reply::ok(),
                    (false, false) => Reply::NullBulk,
                }
            }
            "mget" => Reply::Array(
                arguments[1..]
                    .iter()
                    .map(|key| self.get(database, key).into())
                    .collect(),
            ),
            "mset" => {
                if arguments.len().is_multiple_of(2) {
                    return Reply::error("ERR wrong number of arguments for 'mset' command");
                }
                for pair in arguments[1..].chunks(2) {
                    self.put(database, pair[0].clone(), pair[1].clone());
                }
                Reply::ok()
            }
            "del" | "unlink" => {
                let removed = arguments[1..]
                    .iter()
                    .filter(|key| self.remove(database, key))
                    .count();
                Reply::Integer(i64::try_from(removed).unwrap())
            }
            "exists" => {
                let found = arguments[1..]
                    .iter()
                    .filter(|key| self.get(database, key).is_some())
                    .count();
                Reply::Integer(i64::try_from(found).unwrap())
            }
            "incr" | "incrby" | "decr" | "decrby" => {
                let step = match arguments.get(2).map(|step| integer_argument(step)) {
                    None => Ok(1),
                    Some(step) => step,
                };
                let step = match step {
                    Ok(step) if spec.name.starts_with("decr") => negate_decrement(step),
                    other => other,
                };
                let next = step
                    .and_then(|step| increment(self.get(database, &arguments[1]).as_deref(), step));
                match next {
                    Ok(next) => {
                        self.put(
                            database,
                            arguments[1].clone(),
                            Bytes::from(next.to_string()),
                        );
                        Reply::Integer(next)
                    }
                    Err(reply) => reply,
                }
            }
            "dbsize" => Reply::Integer(
                self.databases
                    .get(&database)
                    .map_or(0, |keys| keys.len() as i64),
            ),
            "flushdb" => {
                let keys: Vec<Bytes> = self
                    .databases
                    .get(&database)
                    .map(|keys| keys.keys().cloned().collect())
                    .unwrap_or_default();
                for key in keys {
                    self.remove(database, &key);
                }
                Reply::ok()
            }
            "keys" => {
                let pattern = GlobPattern::new(&arguments[1], false);
                let keys = self
                    .databases
                    .get(&database)
                    .into_iter()
                    .flat_map(|keys| keys.keys());
                Reply::Array(
                    keys.filter(|key| pattern.matches_everything() || pattern.matches(key))
                        .map(|key| Reply::Bulk(key.clone()))
                        .collect(),
                )
            }
            "shutdown" => Reply::ok(),
            other => Reply::error(format!("ERR '{other}' is not in the test backend")),
        }
    }
}

/// The in-memory backend.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    store: Arc<Mutex<Store>>,
}

impl MemoryBackend {
    /// The value of `key` in `database`, read directly.
    pub fn value(&self, database: DatabaseIndex, key: &str) -> Option<Bytes> {
        self.store.lock().unwrap().get(database, key.as_bytes())
    }

    /// Writes directly, as another client would.
    pub fn put(&self, database: DatabaseIndex, key: &str, value: &str) {
        self.store.lock().unwrap().put(
            database,
            Bytes::copy_from_slice(key.as_bytes()),
            Bytes::copy_from_slice(value.as_bytes()),
        );
    }
}

/// One connection's session: the store and the keys it watches.
#[derive(Debug)]
pub struct MemorySession {
    store: Arc<Mutex<Store>>,
    watched: Vec<(DatabaseIndex, Bytes, Option<u64>)>,
}

impl Backend for MemoryBackend {
    type Session = MemorySession;

    fn open_session(&self, _client: ClientId) -> MemorySession {
        MemorySession {
            store: Arc::clone(&self.store),
            watched: Vec::new(),
        }
    }

    fn info_sections(&self) -> Vec<InfoSection> {
        let store = self.store.lock().unwrap();
        let fields = store
            .databases
            .iter()
            .filter(|(_, keys)| !keys.is_empty())
            .map(|(database, keys)| {
                (
                    format!("db{database}"),
                    format!("keys={},expires=0,avg_ttl=0", keys.len()),
                )
            })
            .collect();
        vec![InfoSection {
            name: "keyspace".to_owned(),
            fields,
        }]
    }

    fn settings(&self) -> Vec<(String, String)> {
        vec![
            ("appendfsync".to_owned(), "everysec".to_owned()),
            ("save".to_owned(), String::new()),
        ]
    }
}

impl Session for MemorySession {
    fn execute(&mut self, database: DatabaseIndex, spec: &CommandSpec, command: &Command) -> Reply {
        self.store.lock().unwrap().apply(database, spec, command)
    }

    fn watch(&mut self, database: DatabaseIndex, keys: &[Bytes]) {
        let store = self.store.lock().unwrap();
        for key in keys {
            self.watched
                .push((database, key.clone(), store.key_version(database, key)));
        }
    }

    fn unwatch(&mut self) {
        self.watched.clear();
    }

    fn execute_transaction(
        &mut self,
        commands: &[(DatabaseIndex, &'static CommandSpec, Command)],
    ) -> Option<Vec<Reply>> {
        let mut store = self.store.lock().unwrap();
        let watched = std::mem::take(&mut self.watched);
        if watched
            .iter()
            .any(|(database, key, version)| store.key_version(*database, key) != *version)
        {
            return None;
        }
        Some(
            commands
                .iter()
                .map(|(database, spec, command)| store.apply(*database, spec, command))
                .collect(),
        )
    }
}

/// Starts a server on a free loopback port over a fresh memory backend.
pub fn start_server(options: ServerOptions) -> (ServerHandle, Arc<MemoryBackend>) {
    let backend = Arc::new(MemoryBackend::default());
    let options = ServerOptions {
        bind_address: "127.0.0.1:0".to_owned(),
        ..options
    };
    let handle = keel_server::start(options, Arc::clone(&backend)).unwrap();
    (handle, backend)
}

/// A decoded reply, as a client sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    /// `$-1`.
    NullBulk,
    /// `*-1`.
    NullArray,
    /// RESP3 `_`.
    Null,
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Double(String),
    Boolean(bool),
    BigNumber(String),
    Verbatim(String, Vec<u8>),
    Push(Vec<Value>),
}

impl Value {
    /// A bulk string value from text.
    pub fn bulk(text: &str) -> Value {
        Value::Bulk(text.as_bytes().to_vec())
    }

    /// The text of a bulk or verbatim string.
    pub fn text(&self) -> String {
        match self {
            Value::Bulk(bytes) | Value::Verbatim(_, bytes) => {
                String::from_utf8_lossy(bytes).into_owned()
            }
            Value::Simple(text) => text.clone(),
            other => panic!("not a string: {other:?}"),
        }
    }

    /// The value under `key` in a map (RESP3) or flat key-value array
    /// (RESP2).
    pub fn field(&self, key: &str) -> Value {
        let pairs: Vec<(Value, Value)> = match self {
            Value::Map(pairs) => pairs.clone(),
            Value::Array(items) => items
                .chunks(2)
                .map(|pair| (pair[0].clone(), pair[1].clone()))
                .collect(),
            other => panic!("not a map: {other:?}"),
        };
        pairs
            .into_iter()
            .find(|(name, _)| *name == Value::bulk(key))
            .map(|(_, value)| value)
            .unwrap_or_else(|| panic!("no field {key}"))
    }
}

/// Decodes one reply at the start of `bytes`: the value and the bytes it
/// took, or `None` if it is not complete. Panics on malformed replies.
pub fn decode(bytes: &[u8]) -> Option<(Value, usize)> {
    let line_end = bytes.windows(2).position(|window| window == b"\r\n")?;
    let line = std::str::from_utf8(&bytes[1..line_end])
        .expect("a UTF-8 header line")
        .to_owned();
    let after = line_end + 2;
    let number = || {
        line.parse::<i64>()
            .unwrap_or_else(|_| panic!("a number: {line:?}"))
    };
    let aggregate = |count: usize, after: usize| -> Option<(Vec<Value>, usize)> {
        let mut items = Vec::new();
        let mut position = after;
        for _ in 0..count {
            let (item, used) = decode(&bytes[position..])?;
            items.push(item);
            position += used;
        }
        Some((items, position))
    };
    let blob = |length: usize| -> Option<(Vec<u8>, usize)> {
        if bytes.len() < after + length + 2 {
            return None;
        }
        assert_eq!(
            &bytes[after + length..after + length + 2],
            b"\r\n",
            "a blob ends with CRLF"
        );
        Some((bytes[after..after + length].to_vec(), after + length + 2))
    };
    Some(match bytes[0] {
        b'+' => (Value::Simple(line), after),
        b'-' => (Value::Error(line), after),
        b':' => (Value::Integer(number()), after),
        b',' => (Value::Double(line), after),
        b'(' => (Value::BigNumber(line), after),
        b'#' => (Value::Boolean(line == "t"), after),
        b'_' => (Value::Null, after),
        b'$' if number() < 0 => (Value::NullBulk, after),
        b'*' if number() < 0 => (Value::NullArray, after),
        b'$' => {
            let (bytes, used) = blob(usize::try_from(number()).unwrap())?;
            (Value::Bulk(bytes), used)
        }
        b'=' => {
            let (bytes, used) = blob(usize::try_from(number()).unwrap())?;
            let format = String::from_utf8(bytes[..3].to_vec()).unwrap();
            (Value::Verbatim(format, bytes[4..].to_vec()), used)
        }
        b'*' | b'~' | b'>' => {
            let (items, used) = aggregate(usize::try_from(number()).unwrap(), after)?;
            let value = match bytes[0] {
                b'*' => Value::Array(items),
                b'~' => Value::Set(items),
                _ => Value::Push(items),
            };
            (value, used)
        }
        b'%' => {
            let (items, used) = aggregate(2 * usize::try_from(number()).unwrap(), after)?;
            (
                Value::Map(
                    items
                        .chunks(2)
                        .map(|pair| (pair[0].clone(), pair[1].clone()))
                        .collect(),
                ),
                used,
            )
        }
        other => panic!("unknown reply type {:?}", char::from(other)),
    })
}

/// A RESP client over a real socket.
pub struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    pub fn connect(address: SocketAddr) -> Client {
        let stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        Client {
            stream,
            buffer: Vec::new(),
        }
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a command as a multibulk request, without reading.
    pub fn send(&mut self, parts: &[&str]) {
        let mut out = Vec::new();
        Command::from_parts(parts).encode(&mut out);
        self.send_raw(&out);
    }

    /// Sends a command and reads its reply.
    pub fn call(&mut self, parts: &[&str]) -> Value {
        self.send(parts);
        self.read()
    }

    /// Reads one reply.
    pub fn read(&mut self) -> Value {
        loop {
            if !self.buffer.is_empty()
                && let Some((value, used)) = decode(&self.buffer)
            {
                self.buffer.drain(..used);
                return value;
            }
            let mut chunk = [0u8; 4096];
            let read = self.stream.read(&mut chunk).unwrap();
            assert!(
                read > 0,
                "the server closed the connection; buffered: {:?}",
                String::from_utf8_lossy(&self.buffer)
            );
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }

    /// True once the server has closed the connection (after the replies
    /// already sent are read). Any buffered reply bytes are returned.
    pub fn read_until_closed(&mut self) -> Vec<u8> {
        let mut rest = std::mem::take(&mut self.buffer);
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return rest,
                Ok(read) => rest.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return rest,
                Err(error) => panic!("reading until the server closes: {error}"),
            }
        }
    }
}

//! Test support: an in-memory backend (a `BTreeMap` per database, enough
//! commands to exercise the connection layer) and a small RESP client that
//! speaks to the server over a real loopback socket.

#![allow(dead_code)] // Each test file uses part of the support.

pub mod redis_server;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use keel_server::commands::store::{ElementRange, StoreResult};
use keel_server::{
    Backend, ClientId, Command, DatabaseIndex, InfoSection, KeyValueStore, Limits, Reply, Request,
    ServerHandle, ServerOptions, Session, StoredValue, run_data,
};

/// How long a test client waits for a reply before failing the test (a
/// safety net against hangs; no test depends on timing).
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// A value and the version of the store when it was written.
#[derive(Clone, Debug)]
struct Entry {
    stored: StoredValue,
    version: u64,
}

/// The test clock's start, in Unix milliseconds.
pub const CLOCK_START_MS: i64 = 1_700_000_000_000;

#[derive(Debug)]
struct Store {
    databases: BTreeMap<DatabaseIndex, BTreeMap<Bytes, Entry>>,
    /// Bumped by every write; deleted keys remember their deletion.
    version: u64,
    deleted: BTreeMap<(DatabaseIndex, Bytes), u64>,
    /// The collections' elements, shared by every database.
    elements: BTreeMap<Bytes, Bytes>,
    /// A manual clock, so expiry tests never wait.
    now_ms: i64,
    limits: Limits,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            databases: BTreeMap::new(),
            version: 0,
            deleted: BTreeMap::new(),
            elements: BTreeMap::new(),
            now_ms: CLOCK_START_MS,
            limits: Limits::default(),
        }
    }
}

impl Store {
    fn live(&self, database: DatabaseIndex, key: &[u8]) -> Option<&Entry> {
        let entry = self.databases.get(&database)?.get(key)?;
        let expired = entry
            .stored
            .deadline_ms
            .is_some_and(|deadline| deadline <= self.now_ms);
        (!expired).then_some(entry)
    }

    fn key_version(&self, database: DatabaseIndex, key: &Bytes) -> Option<u64> {
        let live = self
            .databases
            .get(&database)
            .and_then(|keys| keys.get(key))
            .map(|entry| entry.version);
        live.or_else(|| self.deleted.get(&(database, key.clone())).copied())
    }

    fn apply(&mut self, request: &Request) -> Reply {
        let limits = self.limits.clone();
        run_data(self, request, &limits)
    }
}

impl KeyValueStore for Store {
    fn now_ms(&self) -> i64 {
        self.now_ms
    }

    fn element_get(&mut self, key: &[u8]) -> StoreResult<Option<Bytes>> {
        Ok(self.elements.get(key).cloned())
    }

    fn element_put(&mut self, key: &[u8], value: Bytes) -> StoreResult<()> {
        self.version += 1;
        self.elements.insert(Bytes::copy_from_slice(key), value);
        Ok(())
    }

    fn element_delete(&mut self, key: &[u8]) -> StoreResult<()> {
        self.version += 1;
        self.elements.remove(key);
        Ok(())
    }

    fn elements(&mut self, range: &ElementRange) -> StoreResult<Vec<(Bytes, Bytes)>> {
        let owned = |bound: &std::ops::Bound<Vec<u8>>| match bound {
            std::ops::Bound::Included(key) => std::ops::Bound::Included(Bytes::from(key.clone())),
            std::ops::Bound::Excluded(key) => std::ops::Bound::Excluded(Bytes::from(key.clone())),
            std::ops::Bound::Unbounded => std::ops::Bound::Unbounded,
        };
        let bounds = (owned(&range.from), owned(&range.to));
        let entries = self.elements.range(bounds);
        let pair = |(key, value): (&Bytes, &Bytes)| (key.clone(), value.clone());
        Ok(if range.reverse {
            entries.rev().take(range.count_max).map(pair).collect()
        } else {
            entries.take(range.count_max).map(pair).collect()
        })
    }

    fn get(&mut self, database: DatabaseIndex, key: &[u8]) -> StoreResult<Option<StoredValue>> {
        Ok(self.live(database, key).map(|entry| entry.stored.clone()))
    }

    fn put(&mut self, database: DatabaseIndex, key: &[u8], stored: StoredValue) -> StoreResult<()> {
        self.version += 1;
        let version = self.version;
        self.databases
            .entry(database)
            .or_default()
            .insert(Bytes::copy_from_slice(key), Entry { stored, version });
        Ok(())
    }

    fn delete(&mut self, database: DatabaseIndex, key: &[u8]) -> StoreResult<bool> {
        let was_live = self.live(database, key).is_some();
        let removed = self
            .databases
            .get_mut(&database)
            .and_then(|keys| keys.remove(key))
            .is_some();
        if removed {
            self.version += 1;
            self.deleted
                .insert((database, Bytes::copy_from_slice(key)), self.version);
        }
        Ok(was_live)
    }

    fn keys_after(
        &mut self,
        database: DatabaseIndex,
        after: Option<&[u8]>,
        count_max: usize,
    ) -> StoreResult<Vec<Bytes>> {
        let Some(keys) = self.databases.get(&database) else {
            return Ok(Vec::new());
        };
        let start = match after {
            Some(after) => std::ops::Bound::Excluded(Bytes::copy_from_slice(after)),
            None => std::ops::Bound::Unbounded,
        };
        let now_ms = self.now_ms;
        Ok(keys
            .range((start, std::ops::Bound::Unbounded))
            .filter(|(_, entry)| {
                entry
                    .stored
                    .deadline_ms
                    .is_none_or(|deadline| deadline > now_ms)
            })
            .map(|(key, _)| key.clone())
            .take(count_max)
            .collect())
    }

    fn count(&mut self, database: DatabaseIndex) -> StoreResult<u64> {
        Ok(self.keys_after(database, None, usize::MAX)?.len() as u64)
    }

    fn flush(&mut self, database: Option<DatabaseIndex>) -> StoreResult<()> {
        let databases: Vec<DatabaseIndex> = match database {
            Some(database) => vec![database],
            None => self.databases.keys().copied().collect(),
        };
        for database in databases {
            let keys: Vec<Bytes> = self
                .databases
                .get(&database)
                .map(|keys| keys.keys().cloned().collect())
                .unwrap_or_default();
            for key in keys {
                self.delete(database, &key)?;
            }
        }
        Ok(())
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
        let mut store = self.store.lock().unwrap();
        KeyValueStore::get(&mut *store, database, key.as_bytes())
            .unwrap()
            .map(|stored| stored.value)
    }

    /// Writes directly, as another client would.
    pub fn put(&self, database: DatabaseIndex, key: &str, value: &str) {
        let stored = StoredValue {
            value: Bytes::copy_from_slice(value.as_bytes()),
            deadline_ms: None,
        };
        let mut store = self.store.lock().unwrap();
        KeyValueStore::put(&mut *store, database, key.as_bytes(), stored).unwrap();
    }

    /// Moves the test clock forward.
    pub fn advance_clock_ms(&self, milliseconds: i64) {
        self.store.lock().unwrap().now_ms += milliseconds;
    }
}

/// One connection's session: the store and the keys it watches.
#[derive(Debug)]
pub struct MemorySession {
    store: Arc<Mutex<Store>>,
    watched: Vec<(DatabaseIndex, Bytes, Option<u64>)>,
}

impl Backend for MemoryBackend {
    fn open_session(&self, _client: ClientId) -> Box<dyn Session> {
        Box::new(MemorySession {
            store: Arc::clone(&self.store),
            watched: Vec::new(),
        })
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
    fn execute(&mut self, request: &Request) -> Reply {
        self.store.lock().unwrap().apply(request)
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

    fn execute_transaction(&mut self, requests: &[Request]) -> Option<Vec<Reply>> {
        let mut store = self.store.lock().unwrap();
        let watched = std::mem::take(&mut self.watched);
        if watched
            .iter()
            .any(|(database, key, version)| store.key_version(*database, key) != *version)
        {
            return None;
        }
        Some(
            requests
                .iter()
                .map(|request| store.apply(request))
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

/// The `+OK` reply.
pub fn ok() -> Value {
    Value::Simple("OK".to_owned())
}

/// An error reply saying `text`.
pub fn error(text: &str) -> Value {
    Value::Error(text.to_owned())
}

/// Sends a command written as words separated by single spaces and reads
/// its reply.
pub fn words(client: &mut Client, text: &str) -> Value {
    client.call(&text.split(' ').collect::<Vec<_>>())
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

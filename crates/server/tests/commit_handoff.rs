//! The event loop's hand-over of writing groups to commit threads (a
//! backend whose groups wait for an fsync, `appendfsync always`, and a
//! loop that served reads lately, `HAND_OVER_READ_TURNS`): a
//! write's reply goes out only once its group returned (durable), the
//! loop serves other connections meanwhile, and each connection's replies
//! keep their order, a later request seeing its earlier writes.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{Client, MemoryBackend, Value};
use keel_server::resp::EncodedReplies;
use keel_server::{
    Backend, ClientId, CommandFlags, DatabaseIndex, InfoSection, Request, ServerOptions, Session,
};

/// The memory backend, with groups that may write held at a gate (an
/// fsync that does not end until the test says so) and run as one batch.
#[derive(Default)]
struct GatedBackend {
    memory: MemoryBackend,
    /// Open: groups run; closed: a writing group waits.
    open: Mutex<bool>,
    changed: Condvar,
    /// Writing groups that returned (made "durable").
    synced_groups: Mutex<u64>,
}

impl GatedBackend {
    fn set_open(&self, open: bool) {
        *self.open.lock().unwrap() = open;
        self.changed.notify_all();
    }

    fn synced_groups(&self) -> u64 {
        *self.synced_groups.lock().unwrap()
    }
}

impl Backend for GatedBackend {
    fn open_session(&self, client: ClientId) -> Box<dyn Session> {
        self.memory.open_session(client)
    }

    fn info_sections(&self) -> Vec<InfoSection> {
        self.memory.info_sections()
    }

    fn settings(&self) -> Vec<(String, String)> {
        self.memory.settings()
    }

    fn batch_waits_for_sync(&self) -> bool {
        true
    }

    fn execute_batch(&self, requests: &[Request], replies: &mut EncodedReplies) -> bool {
        let writes = requests
            .iter()
            .any(|request| request.spec.has(CommandFlags::WRITE));
        if writes {
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.changed.wait(open).unwrap();
            }
        }
        let mut session = self.memory.open_session(0);
        for request in requests {
            replies.push(&session.execute(request), request.protocol);
        }
        if writes {
            *self.synced_groups.lock().unwrap() += 1;
        }
        true
    }
}

fn start(backend: &Arc<GatedBackend>) -> keel_server::ServerHandle {
    let options = ServerOptions {
        bind_address: "127.0.0.1:0".to_owned(),
        // One loop: the waiting connection and the served one share it.
        io_threads: 1,
        ..ServerOptions::default()
    };
    keel_server::start(options, Arc::clone(backend)).unwrap()
}

fn value(backend: &GatedBackend, key: &str) -> Option<Bytes> {
    backend.memory.value(DatabaseIndex::default(), key)
}

#[test]
fn a_write_is_answered_only_after_its_group_synced_and_the_loop_serves_others_meanwhile() {
    let backend = Arc::new(GatedBackend::default());
    let server = start(&backend);
    let address = server.local_address();
    backend
        .memory
        .put(DatabaseIndex::default(), "other", "here");
    let mut writer = Client::connect(address);
    let mut reader = Client::connect(address);
    // The loop serves reads: its writing groups are handed over.
    assert_eq!(reader.call(&["GET", "other"]), Value::bulk("here"));

    // SET, then (in a later write) GET of the same key: both wait.
    writer.send(&["SET", "key", "new"]);
    std::thread::sleep(Duration::from_millis(50));
    writer.send(&["GET", "key"]);
    // The loop is not blocked by the waiting group: another connection
    // of the same loop is answered.
    assert_eq!(reader.call(&["GET", "other"]), Value::bulk("here"));
    assert_eq!(reader.call(&["PING"]), Value::Simple("PONG".to_owned()));
    writer
        .stream()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = std::io::Read::read(&mut writer.stream(), &mut byte);
    assert!(
        early.is_err(),
        "a reply came before the write was durable: {early:?}"
    );
    assert_eq!(backend.synced_groups(), 0);
    assert_eq!(value(&backend, "key"), None, "the gate holds the write");

    backend.set_open(true);
    writer
        .stream()
        .set_read_timeout(Some(common::READ_TIMEOUT))
        .unwrap();
    assert_eq!(writer.read(), Value::Simple("OK".to_owned()));
    assert_eq!(backend.synced_groups(), 1);
    // The later request ran after the write and sees it.
    assert_eq!(writer.read(), Value::bulk("new"));
    server.shutdown();
}

#[test]
fn replies_of_a_pipeline_keep_their_order_across_handed_over_groups() {
    let backend = Arc::new(GatedBackend::default());
    backend.set_open(true);
    let server = start(&backend);
    let address = server.local_address();
    let clients = 8;
    let rounds = 20;
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            std::thread::spawn(move || {
                let mut connection = Client::connect(address);
                let key = format!("key:{client}");
                let counter = format!("counter:{client}");
                for round in 0..rounds {
                    let text = round.to_string();
                    // A read-only group: the loop hands writes over.
                    let read = connection.call(&["GET", key.as_str()]);
                    assert!(round == 0 || read == Value::bulk(&(round - 1).to_string()));
                    // Pipelined data commands, one that is not (ECHO),
                    // and more data commands after it, in one write.
                    let mut bytes = Vec::new();
                    for parts in [
                        vec!["SET", key.as_str(), text.as_str()],
                        vec!["INCR", counter.as_str()],
                        vec!["GET", key.as_str()],
                        vec!["ECHO", "between"],
                        vec!["INCR", counter.as_str()],
                        vec!["GET", counter.as_str()],
                    ] {
                        bytes.extend(encode(&parts));
                    }
                    connection.send_raw(&bytes);
                    let first = 2 * round + 1;
                    assert_eq!(connection.read(), Value::Simple("OK".to_owned()));
                    assert_eq!(connection.read(), Value::Integer(first));
                    assert_eq!(connection.read(), Value::bulk(&text));
                    assert_eq!(connection.read(), Value::bulk("between"));
                    assert_eq!(connection.read(), Value::Integer(first + 1));
                    assert_eq!(connection.read(), Value::bulk(&(first + 1).to_string()));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(backend.synced_groups() > 0, "groups went to commit threads");
    server.shutdown();
}

/// A client that sends its requests and shuts its side of the connection
/// (`printf … | nc -N`) gets every reply before the server closes: the
/// end of its stream, read while its writes are out with a commit thread,
/// used to close the connection at once and drop the replies owed.
#[test]
fn a_client_that_shuts_its_side_gets_the_replies_owed_from_a_commit_thread() {
    let backend = Arc::new(GatedBackend::default());
    let server = start(&backend);
    let address = server.local_address();
    let mut reader = Client::connect(address);
    // The loop serves reads: its writing groups are handed over.
    assert_eq!(reader.call(&["GET", "other"]), Value::NullBulk);
    let mut writer = Client::connect(address);
    let mut bytes = encode(&["SET", "key", "new"]);
    bytes.extend(encode(&["GET", "key"]));
    writer.send_raw(&bytes);
    std::thread::sleep(Duration::from_millis(50));
    // More after the group left, then the end of the stream: both read
    // while the group waits at the gate.
    writer.send_raw(&encode(&["ECHO", "after"]));
    writer.stream().shutdown(std::net::Shutdown::Write).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(reader.call(&["PING"]), Value::Simple("PONG".to_owned()));
    backend.set_open(true);
    assert_eq!(writer.read(), Value::Simple("OK".to_owned()));
    assert_eq!(writer.read(), Value::bulk("new"));
    assert_eq!(writer.read(), Value::bulk("after"));
    assert!(
        writer.read_until_closed().is_empty(),
        "closed after the replies"
    );
    server.shutdown();
}

fn encode(parts: &[&str]) -> Vec<u8> {
    let mut bytes = format!("*{}\r\n", parts.len()).into_bytes();
    for part in parts {
        bytes.extend(format!("${}\r\n{part}\r\n", part.len()).into_bytes());
    }
    bytes
}

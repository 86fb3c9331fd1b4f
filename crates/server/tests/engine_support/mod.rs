//! Test support: a keel-server over a real keel database in a temporary
//! directory, on a free loopback port, and `redis` crate clients.

#![allow(dead_code)] // Each test file uses part of the support.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use keel_server::{AppendFsync, KeelBackend, KeelBackendOptions, ServerHandle, ServerOptions};

/// How long a client waits for a reply before failing the test (a safety
/// net against hangs; no test depends on timing).
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server over a database in `dir`.
pub struct EngineServer {
    handle: Option<ServerHandle>,
    backend: Option<Arc<KeelBackend>>,
    /// Where it listens.
    pub address: std::net::SocketAddr,
}

/// Engine options for tests: a small buffer pool.
pub fn engine_options() -> keel::Options {
    keel::Options {
        pool_bytes: 16 << 20,
        ..keel::Options::default()
    }
}

impl EngineServer {
    /// Starts a server over the database in `dir` (created if missing).
    pub fn start(dir: &Path, appendfsync: AppendFsync) -> EngineServer {
        EngineServer::start_with(dir, appendfsync, ServerOptions::default())
    }

    /// [`EngineServer::start`] with server options (its address is
    /// replaced by a free loopback port).
    pub fn start_with(
        dir: &Path,
        appendfsync: AppendFsync,
        options: ServerOptions,
    ) -> EngineServer {
        let backend_options = KeelBackendOptions {
            appendfsync,
            ..KeelBackendOptions::default()
        };
        EngineServer::start_with_backend(dir, backend_options, options)
    }

    /// [`EngineServer::start_with`] with the backend's options.
    pub fn start_with_backend(
        dir: &Path,
        backend_options: KeelBackendOptions,
        options: ServerOptions,
    ) -> EngineServer {
        let backend = Arc::new(KeelBackend::open(dir, engine_options(), backend_options).unwrap());
        let handle = keel_server::start(
            ServerOptions {
                bind_address: "127.0.0.1:0".to_owned(),
                ..options
            },
            Arc::clone(&backend),
        )
        .unwrap();
        EngineServer {
            address: handle.local_address(),
            handle: Some(handle),
            backend: Some(backend),
        }
    }

    /// A new client connection.
    pub fn client(&self) -> redis::Connection {
        let client = redis::Client::open(format!("redis://{}/", self.address)).unwrap();
        let connection = client.get_connection().unwrap();
        connection.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        connection
    }

    /// The Prometheus endpoint's address, if it has one.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        self.handle.as_ref().and_then(ServerHandle::metrics_address)
    }

    /// The backend.
    pub fn backend(&self) -> &KeelBackend {
        self.backend.as_ref().unwrap()
    }

    /// Stops the server and closes the database cleanly.
    pub fn stop(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown();
        }
        self.close_backend();
    }

    /// Waits for the server to stop (after SHUTDOWN), then closes the
    /// database.
    pub fn wait(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.wait();
        }
        self.close_backend();
    }

    fn close_backend(&mut self) {
        let backend = self.backend.take().unwrap();
        Arc::into_inner(backend)
            .expect("the server released the backend")
            .close()
            .unwrap();
    }
}

impl Drop for EngineServer {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown();
        }
    }
}

/// Runs `command` with `arguments` and returns its raw reply.
pub fn call(connection: &mut redis::Connection, arguments: &[&str]) -> redis::Value {
    let mut command = redis::cmd(arguments[0]);
    for argument in &arguments[1..] {
        command.arg(*argument);
    }
    command.query(connection).unwrap()
}

/// Runs a command expected to fail; returns the error's text.
pub fn call_error(connection: &mut redis::Connection, arguments: &[&str]) -> String {
    let mut command = redis::cmd(arguments[0]);
    for argument in &arguments[1..] {
        command.arg(*argument);
    }
    match command.query::<redis::Value>(connection) {
        Ok(value) => panic!("{arguments:?} succeeded: {value:?}"),
        Err(error) => error.to_string(),
    }
}

/// Every key of the current database, by SCAN with `count`.
pub fn scan_all(connection: &mut redis::Connection, count: usize) -> Vec<String> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(count)
            .query(connection)
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        assert!(next > cursor, "the cursor grows: {cursor} then {next}");
        cursor = next;
    }
}

//! Test support: `keel serve` as a child process on a loopback port it
//! picks itself, and the Redis tools it is tested with.

#![allow(dead_code)] // Each test file uses part of the support.

pub mod resp;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::{Duration, Instant};

/// How long a child may take to start listening, or a client to get a
/// reply, before the test fails (a safety net; no test depends on it).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The `keel` binary under test.
pub fn keel_binary() -> &'static str {
    env!("CARGO_BIN_EXE_keel")
}

/// Runs `keel` with `arguments` to completion.
pub fn keel(arguments: &[&str]) -> Output {
    Command::new(keel_binary())
        .args(arguments)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// The path of a tool from Debian's redis-tools, failing the test loudly
/// when it is missing (`.ci/run` installs it).
pub fn redis_tool(name: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let candidate = Path::new(dir).join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "{name} is not installed: these tests need Debian's redis-tools \
         (apt-get install -y redis-tools; .ci/run installs it)"
    );
}

/// What `keel serve` logs once it listens, followed by `address=HOST:PORT`.
pub const READY_LINE: &str = "keel serve: ready to accept connections";

/// The port in `log`'s [`READY_LINE`], once it is there.
pub fn listening_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|line| line.contains(READY_LINE))?;
    let address = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("address="))?;
    address.rsplit(':').next()?.parse().ok()
}

/// A loopback port that was free a moment ago (for a port other than the
/// server's own, which `keel serve` picks itself: see
/// [`ServeProcess::spawn`]).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `keel serve` child process.
pub struct ServeProcess {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
    /// Where its stderr goes (a file: a pipe nobody reads could fill up).
    pub log: PathBuf,
}

impl ServeProcess {
    /// Starts `keel serve` over `dir`, with `extra` flags, on a port it
    /// picks, and waits until it accepts connections.
    pub fn start(dir: &Path, extra: &[&str]) -> ServeProcess {
        let mut process = ServeProcess::spawn(dir, extra);
        process.wait_until_listening();
        process
    }

    /// Starts `keel serve` over `dir` with `extra` flags on a port it
    /// picks itself (`--port 0`), without waiting: it may still be
    /// recovering (a kill loop uses this to kill it mid-recovery). `port`
    /// is 0 until [`ServeProcess::wait_until_listening`] reads it from the
    /// server's log.
    ///
    /// A port chosen here and handed to the server could be taken by a
    /// parallel test's server first: this one would then fail to bind, and
    /// the test, finding the port answering, would talk to the other
    /// server (and redis-benchmark 7.0 spins forever once that server goes
    /// and its connections are refused).
    pub fn spawn(dir: &Path, extra: &[&str]) -> ServeProcess {
        static NEXT_LOG: AtomicUsize = AtomicUsize::new(0);
        let log = dir.with_extension(format!("{}.log", NEXT_LOG.fetch_add(1, Ordering::Relaxed)));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(keel_binary())
            .arg("serve")
            .arg("--port")
            .arg("0")
            .arg("--dir")
            .arg(dir)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        ServeProcess {
            child,
            port: 0,
            dir: dir.to_path_buf(),
            log,
        }
    }

    /// Waits until the server says in its log that it listens, and takes
    /// its port from there; fails the test, with its log, if it exits
    /// first or takes longer than [`STARTUP_TIMEOUT`].
    pub fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(port) = listening_port(&self.log_text()) {
                self.port = port;
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "keel serve exited early with {status}; its log:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "keel serve did not start listening; its log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the server wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A raw RESP connection ([`resp::Connection`]), for tests that must
    /// know exactly which replies arrived.
    pub fn resp(&self) -> resp::Connection {
        resp::Connection::open(self.port).unwrap()
    }

    /// A `redis` crate connection.
    pub fn client(&self) -> redis::Connection {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap();
        let connection = client.get_connection().unwrap();
        connection.set_read_timeout(Some(STARTUP_TIMEOUT)).unwrap();
        connection
    }

    /// Runs redis-cli against the server with `arguments`.
    pub fn redis_cli(&self, arguments: &[&str]) -> String {
        let output = Command::new(redis_tool("redis-cli"))
            .arg("-p")
            .arg(self.port.to_string())
            .args(arguments)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "redis-cli {arguments:?}: {output:?}"
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Sends SIGTERM and waits; returns the exit status and stderr.
    pub fn terminate(self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill -TERM {pid}");
        self.wait_for_exit()
    }

    /// Waits for the process to exit; returns its status and stderr.
    pub fn wait_for_exit(mut self) -> (ExitStatus, String) {
        let status = self.child.wait().unwrap();
        (status, std::fs::read_to_string(&self.log).unwrap())
    }

    /// Kills the process with SIGKILL (no chance to clean up).
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        // Already exited in the normal case; otherwise do not leak it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

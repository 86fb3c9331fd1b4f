//! Test support: `keel serve` as a child process on a free loopback port,
//! and the Redis tools it is tested with.

#![allow(dead_code)] // Each test file uses part of the support.

pub mod resp;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};

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

/// A loopback port that was free a moment ago.
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
    /// Starts `keel serve` on a free port over `dir`, with `extra` flags,
    /// and waits until it accepts connections.
    pub fn start(dir: &Path, extra: &[&str]) -> ServeProcess {
        let mut process = ServeProcess::spawn(dir, extra);
        process.wait_until_listening();
        process
    }

    /// Starts `keel serve` on a free port over `dir`, with `extra` flags,
    /// without waiting: it may still be recovering (a kill loop uses this
    /// to kill it mid-recovery).
    pub fn spawn(dir: &Path, extra: &[&str]) -> ServeProcess {
        let port = free_port();
        let log = dir.with_extension(format!("{port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(keel_binary())
            .arg("serve")
            .arg("--port")
            .arg(port.to_string())
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
            port,
            dir: dir.to_path_buf(),
            log,
        }
    }

    /// Waits until the server accepts connections; fails the test, with
    /// its log, if it exits first or takes longer than
    /// [`STARTUP_TIMEOUT`].
    pub fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
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

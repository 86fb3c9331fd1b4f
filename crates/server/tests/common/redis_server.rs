//! A real redis-server next to keel, for the tests that compare with it;
//! where none is installed they print why they are skipped (CI has none).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A redis-server on a free loopback port, killed when dropped.
pub struct RedisServer {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
}

impl RedisServer {
    /// Starts one; `None` (the reason printed) where none is installed.
    pub fn start() -> Option<RedisServer> {
        if !std::path::Path::new(REDIS_SERVER).exists() {
            println!("skipped: {REDIS_SERVER} is not installed");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(REDIS_SERVER)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        // Owned from here: dropping it (also on the panic below) kills it.
        let server = RedisServer { child, address };
        for _ in 0..100 {
            if TcpStream::connect(address).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on {address}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

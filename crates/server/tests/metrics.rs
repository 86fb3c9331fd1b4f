//! The Prometheus endpoint: scraped while clients work, its counters move;
//! and INFO's `keel` section carries the engine's statistics.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod engine_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use engine_support::EngineServer;
use keel_server::{AppendFsync, ServerOptions};

/// One HTTP GET: the status line and the body.
fn http_get(address: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(engine_support::READ_TIMEOUT))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// A scrape: every sample by its name and labels, as written.
fn scrape(address: SocketAddr) -> BTreeMap<String, f64> {
    let (status, body) = http_get(address, "/metrics");
    assert!(status.contains("200"), "{status}");
    body.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse::<f64>().unwrap())
        })
        .collect()
}

fn value(samples: &BTreeMap<String, f64>, name: &str) -> f64 {
    samples.get(name).copied().unwrap_or(0.0)
}

#[test]
fn scrapes_during_a_workload_see_the_counters_move() {
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(EngineServer::start_with(
        dir.path(),
        AppendFsync::EverySec,
        ServerOptions {
            metrics_address: Some("127.0.0.1:0".to_owned()),
            ..ServerOptions::default()
        },
    ));
    let metrics = server.metrics_address().expect("a metrics endpoint");
    // Opening the database commits its keyspaces: counters start where
    // they are.
    let before = scrape(metrics);

    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (server, stop) = (Arc::clone(&server), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut client = server.client();
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) || round < 200 {
                let key = format!("key:{}", round % 50);
                let _: () = redis::cmd("SET")
                    .arg(&key)
                    .arg(round)
                    .query(&mut client)
                    .unwrap();
                let _: Option<String> = redis::cmd("GET").arg(&key).query(&mut client).unwrap();
                round += 1;
            }
            round
        })
    };
    // Scrape while the client works, until every counter has moved.
    let moved = |samples: &BTreeMap<String, f64>| {
        value(samples, "keel_commits_total") > value(&before, "keel_commits_total")
            && value(samples, "keel_commit_duration_seconds_count")
                > value(&before, "keel_commit_duration_seconds_count")
            && value(samples, "keel_command_calls_total{command=\"set\"}") > 0.0
            && value(samples, "keel_command_calls_total{command=\"get\"}") > 0.0
            && value(samples, "keel_net_input_bytes_total") > 0.0
            && value(samples, "keel_connected_clients") >= 1.0
    };
    let mut during = scrape(metrics);
    for _ in 0..200 {
        if moved(&during) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        during = scrape(metrics);
    }
    assert!(moved(&during), "{during:#?}");
    stop.store(true, Ordering::Relaxed);
    let rounds = worker.join().unwrap() as f64;

    let after = scrape(metrics);
    assert_eq!(
        value(&after, "keel_command_calls_total{command=\"set\"}"),
        rounds
    );
    assert!(value(&after, "keel_commits_total") >= value(&before, "keel_commits_total") + rounds);
    assert!(value(&after, "keel_commits_total") >= value(&during, "keel_commits_total"));
    assert!(
        value(&after, "keel_commit_duration_seconds_count")
            > value(&during, "keel_commit_duration_seconds_count")
    );
    assert_eq!(
        value(&after, "keel_commit_duration_seconds_bucket{le=\"+Inf\"}"),
        value(&after, "keel_commit_duration_seconds_count")
    );
    assert!(value(&after, "keel_connections_received_total") >= 1.0);

    let (status, _) = http_get(metrics, "/elsewhere");
    assert!(status.contains("404"), "{status}");

    let mut client = server.client();
    let info: String = redis::cmd("INFO").arg("keel").query(&mut client).unwrap();
    assert!(info.starts_with("# Keel\r\n"), "{info}");
    let fields: BTreeMap<&str, &str> = info
        .lines()
        .filter_map(|line| line.split_once(':'))
        .collect();
    assert_eq!(fields["appendfsync"], "everysec");
    assert!(fields["commits"].parse::<f64>().unwrap() >= rounds);
    assert!(fields["commit_latency_count"].parse::<u64>().unwrap() > 0);
    drop(client);
    Arc::into_inner(server).unwrap().stop();
}

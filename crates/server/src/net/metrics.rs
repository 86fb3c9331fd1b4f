//! The Prometheus endpoint (`keel serve --metrics-port`): a thread serving
//! `GET /metrics` over HTTP with `tiny_http`, each scrape a fresh page of
//! the server's counters and the backend's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use crate::commands::CommandId;
use crate::error::{Error, Result};
use crate::metrics::MetricsText;
use crate::state::{Shared, lock};
use crate::stats::CommandCounters;

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The running endpoint.
pub(crate) struct MetricsEndpoint {
    server: Arc<tiny_http::Server>,
    local_address: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl MetricsEndpoint {
    /// Binds `address` and serves scrapes of `shared` on a thread of its
    /// own.
    pub(crate) fn start(address: &str, shared: Arc<Shared>) -> Result<MetricsEndpoint> {
        let bind_error = |reason: String| Error::Bind {
            address: address.to_owned(),
            source: std::io::Error::other(reason),
        };
        let server =
            tiny_http::Server::http(address).map_err(|error| bind_error(error.to_string()))?;
        let local_address = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| bind_error("not an IP address".to_owned()))?;
        let server = Arc::new(server);
        let serving = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("keel-metrics".to_owned())
            .spawn(move || serve(&serving, &shared))
            .map_err(|source| Error::Socket {
                operation: "spawn",
                peer: None,
                source,
            })?;
        tracing::info!(%local_address, "metrics endpoint listening");
        Ok(MetricsEndpoint {
            server,
            local_address,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub(crate) fn local_address(&self) -> SocketAddr {
        self.local_address
    }

    /// Stops serving and waits for the thread.
    pub(crate) fn stop(mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the metrics thread panicked");
        }
    }
}

fn serve(server: &tiny_http::Server, shared: &Shared) {
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or_default();
        let response = match (request.method(), path) {
            (tiny_http::Method::Get, "/metrics") => {
                let header = tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE)
                    .map_err(|()| "a constant header");
                let mut response = tiny_http::Response::from_string(page(shared));
                if let Ok(header) = header {
                    response.add_header(header);
                }
                response
            }
            _ => {
                tiny_http::Response::from_string("not found: try /metrics\n").with_status_code(404)
            }
        };
        if let Err(error) = request.respond(response) {
            tracing::debug!(%error, "a metrics scrape went away");
        }
    }
}

/// One scrape's page: the server's metrics, then the backend's.
pub(crate) fn page(shared: &Shared) -> String {
    let mut page = MetricsText::default();
    let stats = &shared.stats;
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    page.gauge(
        "keel_connected_clients",
        "Client connections open.",
        lock(&shared.clients).len(),
    );
    page.counter(
        "keel_connections_received_total",
        "Client connections accepted.",
        load(&stats.connections_received),
    );
    page.counter(
        "keel_connections_rejected_total",
        "Client connections refused at maxclients.",
        load(&stats.connections_rejected),
    );
    page.counter(
        "keel_commands_processed_total",
        "Requests processed.",
        load(&stats.commands_processed),
    );
    page.counter(
        "keel_net_input_bytes_total",
        "Bytes read from clients.",
        load(&stats.net_input_bytes),
    );
    page.counter(
        "keel_net_output_bytes_total",
        "Bytes written to clients.",
        load(&stats.net_output_bytes),
    );
    page.counter(
        "keel_error_replies_total",
        "Error replies sent.",
        load(&stats.error_replies),
    );
    page.gauge(
        "keel_uptime_seconds",
        "Seconds since the server started.",
        shared.started.elapsed().as_secs(),
    );
    command_metrics(shared, &mut page);
    page.describe(
        "keel_errors_total",
        "Error replies by error code.",
        "counter",
    );
    for (code, count) in stats.error_counts() {
        page.sample("keel_errors_total", &[("code", &code)], count);
    }
    shared.backend.metrics(&mut page);
    page.into_string()
}

/// One of a command's counters, as a sample's value.
type CounterValue = fn(&CommandCounters) -> String;

/// Per-command calls, time, refusals and failures (INFO commandstats).
fn command_metrics(shared: &Shared, page: &mut MetricsText) {
    let lines = shared.stats.command_lines();
    let metrics: [(&str, &str, CounterValue); 4] = [
        (
            "keel_command_calls_total",
            "Calls of a command that ran.",
            |counters| counters.calls.to_string(),
        ),
        (
            "keel_command_duration_seconds_total",
            "Time commands took to run.",
            |counters| format!("{}", counters.usec as f64 / 1e6),
        ),
        (
            "keel_command_rejected_calls_total",
            "Calls refused before running (arity, NOAUTH, MULTI).",
            |counters| counters.rejected_calls.to_string(),
        ),
        (
            "keel_command_failed_calls_total",
            "Calls that ran and replied with an error.",
            |counters| counters.failed_calls.to_string(),
        ),
    ];
    for (name, help, value) in metrics {
        page.describe(name, help, "counter");
        for (command, counters) in &lines {
            page.sample(name, &[("command", command)], value(counters));
        }
    }
    debug_assert!(lines.len() <= CommandId::COUNT);
}

impl std::fmt::Debug for MetricsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsEndpoint")
            .field("local_address", &self.local_address)
            .finish_non_exhaustive()
    }
}

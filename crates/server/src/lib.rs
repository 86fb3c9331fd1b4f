//! keel-server: keel's Redis-compatible server, in four layers.
//!
//! * [`resp`]: the protocol alone (request parser, inline requests,
//!   replies in RESP2/RESP3, Redis's numbers); nothing of keel.
//! * [`commands`]: one table of every command ([`CommandSpec`], typed
//!   [`CommandId`]) with one handler each, a module per family; data
//!   handlers run over a [`KeyValueStore`], the rest over the
//!   connection's [`commands::Client`].
//! * `net/`: the listener, the epoll event loops, connections and
//!   pipelining (the pipelined data commands of all the connections ready
//!   at once run as one group: one commit).
//! * `engine/`: the binding to keel ([`KeelBackend`]): databases as
//!   keyspaces, WATCH/MULTI, persistence commands, INFO.
//!
//! The seam between the last two is [`Backend`]/[`Session`] (`backend.rs`);
//! tests implement it over a `BTreeMap`.
//!
//! ```no_run
//! # fn run<B: keel_server::Backend>(backend: std::sync::Arc<B>) -> keel_server::Result<()> {
//! let handle = keel_server::start(keel_server::ServerOptions::default(), backend)?;
//! println!("listening on {}", handle.local_address());
//! handle.wait();
//! # Ok(()) }
//! ```

mod backend;
pub mod commands;
mod engine;
mod error;
pub mod metrics;
mod net;
pub mod resp;
mod state;
mod stats;

#[doc(hidden)]
pub use resp::fuzz_support;

pub use backend::{Backend, ClientId, DatabaseIndex, InfoSection, ScriptCalls, Session};
pub use commands::glob::{GlobPattern, glob_matches};
pub use commands::scan::{
    SCAN_CURSOR_PREFIX_BYTES, ScanBatch, cursor_for_key, cursor_prefix, scan_batch, scan_start_key,
};
pub use commands::table::{CommandFlags, CommandSpec, Handler};
pub use commands::{CommandId, KeyValueStore, Request, StoreError, StoredValue, run_data};
pub use engine::backend::{
    AppendFsync, COMMAND_ATTEMPTS_MAX, DATABASES_DEFAULT, FLUSH_IN_TRANSACTION_KEYS_MAX,
    KeelBackend, KeelBackendOptions, PIPELINE_ATTEMPTS_MAX, WATCH_KEYSPACE, keyspace_name,
};
pub use engine::session::KeelSession;
pub use error::{Error, Result};
pub use metrics::{LATENCY_BUCKET_BOUNDS_US, LatencyHistogram, MetricsText};
pub use net::affinity::{CPU_NUMBER_MAX, current_thread_cpus, parse_cpu_list, pin_current_thread};
pub use net::connection::{
    AUTH_WITHOUT_PASSWORD_TEXT, HELLO_NOAUTH_TEXT, NOAUTH_TEXT, OUTPUT_FLUSH_BYTES,
    PIPELINE_ARGUMENT_BYTES_MAX, PIPELINE_COMMANDS_MAX, READ_CHUNK_BYTES,
    RETAINED_BUFFER_BYTES_MAX, WRONGPASS_TEXT,
};
pub use net::event_loop::{BATCH_COMMANDS_MAX, EVENTS_PER_WAIT, WORKER_STACK_BYTES};
pub use net::server::{
    ACCEPT_ERROR_BACKOFF, MAX_CLIENTS_REPLY, ServerHandle, ServerStopper, start,
};
pub use resp::{
    ARGUMENTS_INLINE, ARGUMENTS_PREALLOCATED_MAX, Command, EncodedReplies, Limits, Parsed,
    ProtocolError, ProtocolVersion, Reply, ReplyWriter, RequestParser, error_text, format_double,
    format_double_17_digits, format_human_double, parse_all, parse_integer, split_inline_arguments,
};
pub use state::{ServerOptions, io_threads_default};
pub use stats::ERROR_CODES_MAX;

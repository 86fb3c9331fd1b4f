//! keel-server: keel's Redis-compatible protocol layer.
//!
//! * `protocol.rs`: the incremental RESP request parser (multibulk and
//!   inline requests, `inline.rs` for inline quoting), with Redis's limits
//!   and error texts.
//! * `reply.rs`: reply values, encoded in RESP2 or RESP3.
//! * `number.rs`: integers and doubles as Redis reads and prints them.
//! * `glob.rs`: Redis's glob patterns (KEYS, SCAN MATCH), in linear space
//!   and O(pattern × text) time.
//! * `command_table.rs`: the commands, their arity, flags and keys; COMMAND
//!   replies; unknown-command and arity errors.
//! * `command_arguments.rs`: the data commands' options and arithmetic
//!   (SET, GETEX, EXPIRE, TTL, SCAN, INCR*, GETRANGE …) with Redis's
//!   error texts, for the engine's session to call.
//! * `data_commands.rs`: the string and keyspace commands over a small
//!   transactional key-value interface ([`data_commands::KeyValueStore`]),
//!   so the engine's session only supplies reads and writes.
//! * `backend.rs`: the seam the engine implements ([`Backend`],
//!   [`Session`]).
//! * `keel_backend.rs`: the backend over a keel database ([`KeelBackend`]):
//!   a keyspace per database index, a keel transaction per command or
//!   MULTI block, WATCH as a transaction's reads, INFO from the engine's
//!   stats; `engine_store.rs` is the data commands' store over a keel
//!   transaction, `scan.rs` SCAN's cursor.
//! * `server.rs`, `event_loop.rs` and `connection.rs`: the TCP listener,
//!   a fixed pool of epoll event loops serving the connections (the
//!   pipelined data commands of all the connections ready at once run as
//!   one group), pinning to CPUs (`affinity.rs`), pipelining,
//!   HELLO/AUTH/SELECT/CLIENT/MULTI and the other connection commands.
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

pub use backend::{Backend, ClientId, DatabaseIndex, InfoSection, Session};
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
pub use net::affinity::{CPU_NUMBER_MAX, current_thread_cpus, parse_cpu_list, pin_current_thread};
pub use net::connection::{
    AUTH_WITHOUT_PASSWORD_TEXT, HELLO_NOAUTH_TEXT, NOAUTH_TEXT, OUTPUT_FLUSH_BYTES,
    PIPELINE_ARGUMENT_BYTES_MAX, PIPELINE_COMMANDS_MAX, READ_CHUNK_BYTES,
    RETAINED_BUFFER_BYTES_MAX, WRONGPASS_TEXT,
};
pub use net::event_loop::{BATCH_COMMANDS_MAX, EVENTS_PER_WAIT};
pub use net::server::{
    ACCEPT_ERROR_BACKOFF, MAX_CLIENTS_REPLY, ServerHandle, ServerStopper, start,
};
pub use resp::{
    ARGUMENTS_PREALLOCATED_MAX, Command, Limits, Parsed, ProtocolError, ProtocolVersion, Reply,
    RequestParser, format_double, format_human_double, parse_all, parse_integer,
    split_inline_arguments,
};
pub use state::ServerOptions;
pub use stats::ERROR_CODES_MAX;

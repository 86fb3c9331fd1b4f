//! One client connection: its read buffer, its parser, its state (protocol
//! version, authentication, selected database, name, MULTI queue), and the
//! commands that are about the connection rather than the data.
//!
//! Order of checks for each request, as in Redis's `processCommand`:
//! unknown command or subcommand → wrong arity → NOAUTH → inside MULTI
//! (refuse `no_multi` commands, queue the rest) → run.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::backend::{Backend, DatabaseIndex, InfoSection, Session};
use crate::commands::glob::GlobPattern;
use crate::commands::table::{self, CommandSpec, HandledBy};
use crate::net::server::{ClientEntry, Shared};
use crate::resp::ProtocolError as Error;
use crate::resp::parse_integer;
use crate::resp::{Command, Parsed, RequestParser};
use crate::resp::{ProtocolVersion, Reply};

/// Bytes asked of the socket per read (Redis `PROTO_IOBUF_LEN`, 16 KiB).
pub const READ_CHUNK_BYTES: usize = 16 << 10;

/// Replies buffered before they are written even though requests of the
/// same batch remain (so a long pipeline cannot grow the buffer without
/// bound).
pub const OUTPUT_FLUSH_BYTES: usize = 64 << 10;

/// Capacity a connection's input or output buffer keeps when it is mostly
/// empty; beyond it, the buffer is shrunk.
pub const RETAINED_BUFFER_BYTES_MAX: usize = 1 << 20;

/// Most pipelined data commands handed to the session at once
/// ([`Session::execute_pipeline`]).
pub const PIPELINE_COMMANDS_MAX: usize = 256;

/// Most argument bytes of the pipelined commands handed to the session at
/// once (a larger command goes alone).
pub const PIPELINE_ARGUMENT_BYTES_MAX: usize = 1 << 20;

/// Redis's reply to a command before AUTH when a password is required.
pub const NOAUTH_TEXT: &str = "NOAUTH Authentication required.";

/// AUTH with a password when no password is configured (Redis 6+).
pub const AUTH_WITHOUT_PASSWORD_TEXT: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";

/// A wrong user name or password (Redis 6+).
pub const WRONGPASS_TEXT: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// HELLO before authentication, without its AUTH option.
pub const HELLO_NOAUTH_TEXT: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";

const NOT_AN_INTEGER_TEXT: &str = "ERR value is not an integer or out of range";

/// A MULTI block being queued.
#[derive(Debug, Default)]
struct Transaction {
    commands: Vec<(&'static CommandSpec, Command)>,
    /// A command was refused while queuing: EXEC must abort.
    dirty: bool,
    /// Argument bytes queued, bounded by the query buffer limit.
    queued_bytes: usize,
}

/// What the connection does after a batch of replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum After {
    Continue,
    /// Write what is buffered, then close (QUIT, a protocol error).
    Close,
    /// Close without another byte (SHUTDOWN).
    CloseSilently,
}

/// Why [`Connection::process`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// No complete request is left in the input (or the connection is
    /// closing): read more.
    Drained,
    /// The replies reached [`OUTPUT_FLUSH_BYTES`]: write them, then call
    /// `process` again before reading.
    OutputFull,
}

/// One client connection's state, apart from its socket: bytes read go
/// into the input ([`Connection::read_from`]), [`Connection::gather`] and
/// [`Connection::process`] run the complete requests, and the replies
/// wait in [`Connection::output`] for the event loop (`event_loop.rs`) to
/// write.
pub(crate) struct Connection<B: Backend> {
    shared: Arc<Shared<B>>,
    entry: Arc<ClientEntry>,
    session: B::Session,
    parser: RequestParser,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Bytes of `output` already written (non-blocking writes).
    output_written: usize,
    protocol: ProtocolVersion,
    authenticated: bool,
    database: DatabaseIndex,
    name: Option<Bytes>,
    transaction: Option<Transaction>,
    /// Pipelined data commands not yet run, their replies owed next.
    pipeline: Vec<(DatabaseIndex, &'static CommandSpec, Command)>,
    pipeline_bytes: usize,
    /// A request [`Connection::gather`] parsed but could not queue; it runs
    /// first in the next [`Connection::process`].
    deferred: Option<Deferred>,
    after: After,
}

/// What [`Connection::gather`] stopped at.
enum Deferred {
    Command(Command),
    ProtocolError(Error),
}

impl<B: Backend> Connection<B> {
    /// A new connection's state: RESP2, database 0, authenticated if no
    /// password is required.
    pub(crate) fn new(shared: &Arc<Shared<B>>, entry: &Arc<ClientEntry>) -> Connection<B> {
        let authenticated = shared.options.require_password.is_none();
        let mut parser = RequestParser::new(shared.options.limits.clone());
        parser.set_authenticated(authenticated);
        Connection {
            shared: Arc::clone(shared),
            entry: Arc::clone(entry),
            session: shared.backend.open_session(entry.id),
            parser,
            input: Vec::with_capacity(READ_CHUNK_BYTES),
            output: Vec::new(),
            output_written: 0,
            protocol: ProtocolVersion::Resp2,
            authenticated,
            database: 0,
            name: None,
            transaction: None,
            pipeline: Vec::new(),
            pipeline_bytes: 0,
            deferred: None,
            after: After::Continue,
        }
    }

    /// What to do once the output is written.
    pub(crate) fn after(&self) -> After {
        self.after
    }

    /// Reads once from `source` (at most [`READ_CHUNK_BYTES`]) into the
    /// input; `Ok(0)` when the peer closed.
    pub(crate) fn read_from(&mut self, source: &mut impl Read) -> std::io::Result<usize> {
        let filled = self.input.len();
        self.input.resize(filled + READ_CHUNK_BYTES, 0);
        let result = source.read(&mut self.input[filled..]);
        let read = result.as_ref().map_or(0, |read| *read);
        self.input.truncate(filled + read);
        result
    }

    /// Whether the unprocessed input passed the query buffer limit (Redis
    /// then closes the client without a reply).
    pub(crate) fn query_buffer_exceeded(&self) -> bool {
        let limit_bytes = self.shared.options.limits.query_buffer_bytes_max;
        if self.input.len() <= limit_bytes {
            return false;
        }
        let error = crate::error::Error::QueryBufferLimit {
            buffer_bytes: self.input.len(),
            limit_bytes,
        };
        tracing::warn!(%error, client = self.entry.id, "closing client");
        true
    }

    /// Replies not yet written.
    pub(crate) fn output(&self) -> &[u8] {
        &self.output[self.output_written..]
    }

    /// Marks `bytes` of [`Connection::output`] as written (`usize::MAX`:
    /// all of it).
    pub(crate) fn output_consumed(&mut self, bytes: usize) {
        self.output_written = self
            .output_written
            .saturating_add(bytes)
            .min(self.output.len());
        if self.output_written == self.output.len() {
            self.output.clear();
            self.output_written = 0;
            shrink_if_oversized(&mut self.output);
        }
    }

    /// Runs every complete request in the input, in order (pipelined data
    /// commands in groups), appending the replies to the output; stops
    /// early once [`OUTPUT_FLUSH_BYTES`] of replies wait, so that a long
    /// pipeline cannot grow the output without bound.
    pub(crate) fn process(&mut self) -> Progress {
        let mut out = std::mem::take(&mut self.output);
        match self.deferred.take() {
            None => {}
            Some(Deferred::Command(command)) => {
                self.run_pipeline(&mut out);
                self.run_unpipelined(command, &mut out);
            }
            Some(Deferred::ProtocolError(error)) => self.protocol_error(&error, &mut out),
        }
        let mut start = 0;
        let mut progress = Progress::Drained;
        while self.after == After::Continue {
            match self.parser.parse(&self.input[start..]) {
                Ok(Parsed::Complete { command, consumed }) => {
                    start += consumed;
                    if !command.is_empty() {
                        self.handle(command, &mut out);
                        self.parser.set_authenticated(self.authenticated);
                    }
                }
                Ok(Parsed::Incomplete) => break,
                Err(error) => self.protocol_error(&error, &mut out),
            }
            if out.len() - self.output_written >= OUTPUT_FLUSH_BYTES {
                progress = Progress::OutputFull;
                break;
            }
        }
        self.input.drain(..start);
        if progress == Progress::Drained || self.after != After::Continue {
            progress = Progress::Drained;
            self.run_pipeline(&mut out);
            shrink_if_oversized(&mut self.input);
            self.publish_state(self.input.len());
        }
        self.output = out;
        progress
    }

    /// Parses requests and holds back the pipelinable data commands among
    /// them, without running anything, until a request of another kind
    /// (kept for [`Connection::process`]), the end of the complete
    /// requests, or the pipeline's bounds: so that an event loop can run
    /// the pipelines of many connections in one group
    /// ([`Backend::execute_batch`]).
    pub(crate) fn gather(&mut self) {
        let mut start = 0;
        while self.after == After::Continue
            && self.deferred.is_none()
            && self.pipeline.len() < PIPELINE_COMMANDS_MAX
            && self.pipeline_bytes < PIPELINE_ARGUMENT_BYTES_MAX
        {
            match self.parser.parse(&self.input[start..]) {
                Ok(Parsed::Complete { command, consumed }) => {
                    start += consumed;
                    if command.is_empty() {
                        continue;
                    }
                    self.shared
                        .stats
                        .commands_processed
                        .fetch_add(1, Ordering::Relaxed);
                    let bytes = argument_bytes(&command);
                    match self.pipelinable(&command) {
                        Some(spec)
                            if self.pipeline.is_empty()
                                || self.pipeline_bytes.saturating_add(bytes)
                                    <= PIPELINE_ARGUMENT_BYTES_MAX =>
                        {
                            self.hold_back(spec, command, bytes);
                        }
                        _ => self.deferred = Some(Deferred::Command(command)),
                    }
                }
                Ok(Parsed::Incomplete) => break,
                Err(error) => self.deferred = Some(Deferred::ProtocolError(error)),
            }
        }
        self.input.drain(..start);
    }

    /// The held-back pipelined commands, for a group run elsewhere; their
    /// replies go to [`Connection::deliver`].
    pub(crate) fn pipeline(&self) -> &[(DatabaseIndex, &'static CommandSpec, Command)] {
        &self.pipeline
    }

    /// Encodes the replies of the held-back commands, run by the caller
    /// (in order, one per command), and forgets the commands.
    pub(crate) fn deliver(&mut self, replies: impl Iterator<Item = Reply>, elapsed_usec: u64) {
        let mut out = std::mem::take(&mut self.output);
        self.finish_pipeline(replies, elapsed_usec, &mut out);
        self.output = out;
    }

    /// Encodes the held-back commands' replies, counts them for INFO
    /// commandstats and errorstats, and forgets the commands.
    fn finish_pipeline(
        &mut self,
        replies: impl Iterator<Item = Reply>,
        elapsed_usec: u64,
        out: &mut Vec<u8>,
    ) {
        let count = self.pipeline.len();
        let usec_each = elapsed_usec / u64::try_from(count.max(1)).unwrap_or(1);
        let mut replies = replies;
        let mut calls = Vec::with_capacity(count);
        for (_, spec, _) in &self.pipeline {
            let reply = replies
                .next()
                .unwrap_or_else(|| Reply::error("ERR the backend returned too few replies"));
            if let Reply::Error(text) = &reply {
                self.shared.stats.error_reply(text);
            }
            calls.push((*spec, usec_each, reply.is_error()));
            reply.encode(self.protocol, out);
        }
        self.shared.stats.called(&calls);
        self.pipeline.clear();
        self.pipeline_bytes = 0;
    }

    /// Runs the held-back commands through this connection's session.
    pub(crate) fn run_held_back(&mut self) {
        let mut out = std::mem::take(&mut self.output);
        self.run_pipeline(&mut out);
        self.output = out;
    }

    fn protocol_error(&mut self, error: &Error, out: &mut Vec<u8>) {
        self.run_pipeline(out);
        tracing::debug!(%error, client = self.entry.id, "protocol error");
        let text = error.reply_text();
        self.shared.stats.error_reply(&text);
        Reply::error(text).encode(self.protocol, out);
        self.after = After::Close;
    }

    fn handle(&mut self, command: Command, out: &mut Vec<u8>) {
        self.shared
            .stats
            .commands_processed
            .fetch_add(1, Ordering::Relaxed);
        let command = match self.queue_pipelined(command, out) {
            Some(command) => command,
            None => return,
        };
        self.run_unpipelined(command, out);
    }

    /// Runs a request that is not held back, after the held-back ones.
    fn run_unpipelined(&mut self, command: Command, out: &mut Vec<u8>) {
        self.run_pipeline(out);
        let reply = self.process_one(command);
        if let Some(reply) = reply {
            reply.encode(self.protocol, out);
        }
    }

    /// The command's table entry if it may be held back and run with its
    /// neighbours ([`Session::execute_pipeline`]).
    fn pipelinable(&self, command: &Command) -> Option<&'static CommandSpec> {
        let spec = table::resolve(command).ok()?;
        let pipelinable = self.authenticated
            && self.transaction.is_none()
            && spec.handled_by == HandledBy::Backend
            && spec.container.is_none()
            && matches!(spec.group, "string" | "generic");
        pipelinable.then_some(spec)
    }

    fn hold_back(&mut self, spec: &'static CommandSpec, command: Command, bytes: usize) {
        {
            let mut state = self.entry.state();
            state.last_command = spec.full_name();
            state.last_interaction = Instant::now();
        }
        self.pipeline_bytes = self.pipeline_bytes.saturating_add(bytes);
        self.pipeline.push((self.database, spec, command));
    }
    /// Holds back a data command that can run with its neighbours
    /// ([`Session::execute_pipeline`]); gives back any other request.
    fn queue_pipelined(&mut self, command: Command, out: &mut Vec<u8>) -> Option<Command> {
        let Some(spec) = self.pipelinable(&command) else {
            return Some(command);
        };
        let bytes = argument_bytes(&command);
        if self.pipeline_bytes.saturating_add(bytes) > PIPELINE_ARGUMENT_BYTES_MAX {
            self.run_pipeline(out);
        }
        self.hold_back(spec, command, bytes);
        if self.pipeline.len() >= PIPELINE_COMMANDS_MAX {
            self.run_pipeline(out);
        }
        None
    }

    /// Runs the held-back pipelined commands and encodes their replies.
    fn run_pipeline(&mut self, out: &mut Vec<u8>) {
        if self.pipeline.is_empty() {
            return;
        }
        let started = Instant::now();
        let replies = self.session.execute_pipeline(&self.pipeline);
        debug_assert_eq!(replies.len(), self.pipeline.len());
        self.finish_pipeline(replies.into_iter(), elapsed_usec(started), out);
    }

    /// Runs or queues one request; `None` when nothing is to be sent.
    fn process_one(&mut self, command: Command) -> Option<Reply> {
        let spec = match table::resolve(&command) {
            Ok(spec) => spec,
            Err(reply) => return Some(self.reject(table::named_spec(&command), reply)),
        };
        if !self.authenticated && !spec.has(table::CommandFlags::NO_AUTH) {
            return Some(self.reject(Some(spec), Reply::error(NOAUTH_TEXT)));
        }
        if let Some(transaction) = &mut self.transaction
            && !(spec.container.is_none()
                && matches!(
                    spec.name,
                    "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
                ))
        {
            if spec.has(table::CommandFlags::NO_MULTI) {
                return Some(self.reject(
                    Some(spec),
                    Reply::error("ERR Command not allowed inside a transaction"),
                ));
            }
            let bytes: usize = command
                .arguments()
                .iter()
                .map(|argument| argument.len())
                .sum();
            transaction.queued_bytes = transaction.queued_bytes.saturating_add(bytes);
            if transaction.queued_bytes > self.shared.options.limits.query_buffer_bytes_max {
                // keel's own bound (Redis has none but maxmemory): a MULTI
                // block holds no more than one query buffer's worth.
                return Some(self.reject(
                    Some(spec),
                    Reply::error("ERR MULTI block exceeds the client query buffer limit"),
                ));
            }
            transaction.commands.push((spec, command));
            return Some(Reply::Simple("QUEUED".to_owned()));
        }
        self.run(spec, &command)
    }

    /// An error reply for a refused command, which also dooms an open
    /// MULTI block (Redis's `flagTransaction`); counted as a rejected call.
    fn reject(&mut self, spec: Option<&'static CommandSpec>, reply: Reply) -> Reply {
        if let Some(transaction) = &mut self.transaction {
            transaction.dirty = true;
        }
        self.shared.stats.rejected(spec);
        if let Reply::Error(text) = &reply {
            self.shared.stats.error_reply(text);
        }
        reply
    }

    /// Runs one command and counts it for INFO commandstats and
    /// errorstats.
    fn run(&mut self, spec: &'static CommandSpec, command: &Command) -> Option<Reply> {
        let started = Instant::now();
        let reply = self.run_uncounted(spec, command);
        // An EXEC that ran fails only as a whole (EXEC without MULTI,
        // EXECABORT): its commands' errors are theirs, counted by `exec`.
        let failed = match &reply {
            Some(Reply::Error(text)) => {
                self.shared.stats.error_reply(text);
                true
            }
            _ => false,
        };
        self.shared
            .stats
            .called(&[(spec, elapsed_usec(started), failed)]);
        reply
    }

    fn run_uncounted(&mut self, spec: &'static CommandSpec, command: &Command) -> Option<Reply> {
        {
            let mut state = self.entry.state();
            state.last_command = spec.full_name();
            state.last_interaction = Instant::now();
        }
        if spec.handled_by == HandledBy::Backend {
            let reply = self.session.execute(self.database, spec, command);
            if spec.name == "shutdown" && !reply.is_error() {
                // Redis closes the connection without a reply and exits.
                self.shared.request_stop();
                self.after = After::CloseSilently;
                return None;
            }
            return Some(reply);
        }
        let arguments = command.arguments();
        let reply = match spec.full_name().as_str() {
            "ping" => match arguments.len() {
                1 => Reply::Simple("PONG".to_owned()),
                2 => Reply::Bulk(arguments[1].clone()),
                _ => table::wrong_arity(spec),
            },
            "echo" => Reply::Bulk(arguments[1].clone()),
            "quit" => {
                self.after = After::Close;
                Reply::ok()
            }
            "select" => self.select(&arguments[1]),
            "auth" => self.auth(spec, arguments),
            "hello" => self.hello(arguments),
            "time" => time_reply(),
            "info" => self.info(arguments),
            "multi" => self.multi(),
            "exec" => self.exec(),
            "discard" => self.discard(),
            "watch" => self.watch(&arguments[1..]),
            "unwatch" => {
                self.session.unwatch();
                Reply::ok()
            }
            "client|id" => Reply::Integer(i64::try_from(self.entry.id).unwrap_or(i64::MAX)),
            "client|getname" => self.name.clone().map_or(Reply::NullBulk, Reply::Bulk),
            "client|setname" => self.set_name(&arguments[2]),
            "client|setinfo" => self.set_library_info(&arguments[2], &arguments[3]),
            "client|info" => Reply::verbatim_text(self.client_line(&self.entry)),
            "client|list" => self.client_list(&arguments[2..]),
            "client|help" => help_reply(
                "CLIENT",
                &[
                    "GETNAME",
                    "ID",
                    "INFO",
                    "LIST [TYPE NORMAL] [ID <id> ...]",
                    "SETINFO <LIB-NAME|LIB-VER> <value>",
                    "SETNAME <name>",
                ],
            ),
            "command" => Reply::Array(
                table::commands()
                    .iter()
                    .map(CommandSpec::info_reply)
                    .collect(),
            ),
            "command|count" => Reply::Integer(i64::try_from(table::commands().len()).unwrap_or(0)),
            "command|info" => command_info(&arguments[2..]),
            "command|docs" => command_docs(&arguments[2..]),
            "command|list" => command_list(&arguments[2..]),
            "command|help" => help_reply(
                "COMMAND",
                &[
                    "(no subcommand)",
                    "COUNT",
                    "DOCS [<command-name> ...]",
                    "INFO [<command-name> ...]",
                    "LIST [FILTERBY PATTERN <pattern>]",
                ],
            ),
            "config|get" => self.config_get(&arguments[2..]),
            "config|set" => self.config_set(&arguments[2..]),
            "config|resetstat" => {
                self.shared.stats.reset();
                Reply::ok()
            }
            "config|help" => help_reply(
                "CONFIG",
                &[
                    "GET <pattern>",
                    "    Return parameters matching the glob-like <pattern> and their values.",
                    "SET <directive> <value>",
                    "    Set the configuration <directive> to <value>.",
                    "RESETSTAT",
                    "    Reset statistics reported by the INFO command.",
                ],
            ),
            "object|help" => help_reply(
                "OBJECT",
                &[
                    "ENCODING <key>",
                    "    Return the kind of internal representation used in order to store the value",
                    "    associated with a <key>.",
                    "FREQ <key>",
                    "    Return the access frequency index of the <key>. The returned integer is",
                    "    proportional to the logarithm of the recent access frequency of the key.",
                    "IDLETIME <key>",
                    "    Return the idle time of the <key>, that is the approximated number of",
                    "    seconds elapsed since the last access to the key.",
                    "REFCOUNT <key>",
                    "    Return the number of references of the value associated with the specified",
                    "    <key>.",
                ],
            ),
            "memory|help" => help_reply(
                "MEMORY",
                &[
                    "USAGE <key> [SAMPLES <count>]",
                    "    Return memory in bytes used by <key> and its value. Nested values are",
                    "    sampled up to <count> times (default: 5, 0 means sample all).",
                ],
            ),
            "reset" => self.reset(),
            "wait" => wait_reply(&arguments[1], &arguments[2]),
            // No scripting: nothing to flush, nothing to list.
            "function|flush" => match &arguments[2..] {
                [] => Reply::ok(),
                [mode]
                    if mode.eq_ignore_ascii_case(b"ASYNC")
                        || mode.eq_ignore_ascii_case(b"SYNC") =>
                {
                    Reply::ok()
                }
                _ => Reply::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"),
            },
            "function|list" => Reply::Array(Vec::new()),
            "function|help" => help_reply("FUNCTION", &["FLUSH [ASYNC|SYNC]", "LIST"]),
            other => Reply::error(format!(
                "ERR command '{other}' is not implemented by the connection layer"
            )),
        };
        Some(reply)
    }

    /// RESET: the connection as it was when it connected (Redis 6.2):
    /// no MULTI, nothing watched, database 0, RESP2, no name, and
    /// unauthenticated again where a password is required.
    fn reset(&mut self) -> Reply {
        self.transaction = None;
        self.session.unwatch();
        self.database = 0;
        self.protocol = ProtocolVersion::Resp2;
        self.name = None;
        self.authenticated = self.shared.options.require_password.is_none();
        Reply::Simple("RESET".to_owned())
    }

    /// CONFIG SET name value [name value …]: every pair checked first,
    /// then all applied, as Redis does. The backend's settings first, then
    /// the kept Redis parameters (`config.rs`); the server's own are fixed
    /// at start.
    fn config_set(&self, pairs: &[Bytes]) -> Reply {
        if !pairs.len().is_multiple_of(2) {
            return Reply::error("ERR wrong number of arguments for 'config|set' command");
        }
        let failed = |name: &str, reason: &str| {
            Reply::error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
            ))
        };
        let server_settings = [
            "bind",
            "port",
            "maxclients",
            "requirepass",
            "databases",
            "proto-max-bulk-len",
            "client-query-buffer-limit",
            "io-threads",
            "server-cpulist",
        ];
        let mut seen: Vec<String> = Vec::new();
        let mut backend_changes = Vec::new();
        let mut table_changes = Vec::new();
        for pair in pairs.chunks(2) {
            let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            let value = String::from_utf8_lossy(&pair[1]).into_owned();
            let canonical = crate::commands::config::lookup(&name)
                .map_or(name.clone(), |parameter| parameter.name.to_owned());
            if seen.contains(&canonical) {
                return failed(&name, "duplicate parameter");
            }
            seen.push(canonical);
            if server_settings.contains(&name.as_str()) {
                return failed(
                    &name,
                    &format!("keel sets it only at start (`keel serve --{name}`)"),
                );
            }
            match self.shared.backend.set_setting(&name, &value, false) {
                Some(Err(reason)) => return failed(&name, &reason),
                Some(Ok(())) => {
                    backend_changes.push((name, value));
                    continue;
                }
                None => {}
            }
            let Some(parameter) = crate::commands::config::lookup(&name) else {
                return Reply::error(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            };
            match parameter.check(&value) {
                Ok(value) => table_changes.push((parameter, value)),
                Err(reason) => return failed(&name, &reason),
            }
        }
        for (name, value) in backend_changes {
            // Checked above: applying cannot fail.
            let _ = self.shared.backend.set_setting(&name, &value, true);
        }
        self.shared.config.set(table_changes);
        Reply::ok()
    }

    fn select(&mut self, index: &[u8]) -> Reply {
        let Some(index) = parse_integer(index) else {
            return Reply::error(NOT_AN_INTEGER_TEXT);
        };
        if i32::try_from(index).is_err() {
            // Redis reads the index as a C int (`getIntFromObjectOrReply`).
            return Reply::error(
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            );
        }
        match DatabaseIndex::try_from(index) {
            Ok(index) if index < self.shared.options.databases => {
                self.database = index;
                Reply::ok()
            }
            _ => Reply::error("ERR DB index is out of range"),
        }
    }

    fn auth(&mut self, spec: &CommandSpec, arguments: &[Bytes]) -> Reply {
        if arguments.len() > 3 {
            return Reply::error("ERR syntax error");
        }
        if arguments.len() == 2 && self.shared.options.require_password.is_none() {
            return Reply::error(AUTH_WITHOUT_PASSWORD_TEXT);
        }
        let (user, password) = match arguments {
            [_, password] => (&b"default"[..], password),
            [_, user, password] => (&user[..], password),
            _ => return table::wrong_arity(spec),
        };
        self.authenticate(user, password)
    }

    /// Checks credentials against the default user; `+OK` or WRONGPASS.
    fn authenticate(&mut self, user: &[u8], password: &[u8]) -> Reply {
        let accepted = user == b"default"
            && match &self.shared.options.require_password {
                // No password: the default user is "nopass" and takes any.
                None => true,
                Some(expected) => constant_time_equal(expected.as_bytes(), password),
            };
        if accepted {
            self.authenticated = true;
            Reply::ok()
        } else {
            Reply::error(WRONGPASS_TEXT)
        }
    }

    fn hello(&mut self, arguments: &[Bytes]) -> Reply {
        let mut version = None;
        let mut next = 1;
        if let Some(requested) = arguments.get(1) {
            let Some(number) = parse_integer(requested) else {
                return Reply::error("ERR Protocol version is not an integer or out of range");
            };
            version = match number {
                2 => Some(ProtocolVersion::Resp2),
                3 => Some(ProtocolVersion::Resp3),
                _ => return Reply::error("NOPROTO unsupported protocol version"),
            };
            next = 2;
        }
        let mut credentials = None;
        let mut new_name = None;
        while next < arguments.len() {
            let option = &arguments[next];
            let more = arguments.len() - 1 - next;
            if option.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
                credentials = Some((arguments[next + 1].clone(), arguments[next + 2].clone()));
                next += 3;
            } else if option.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
                new_name = Some(arguments[next + 1].clone());
                next += 2;
            } else {
                return Reply::error(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(option)
                ));
            }
        }
        if let Some((user, password)) = credentials {
            let reply = self.authenticate(&user, &password);
            if reply.is_error() {
                return reply;
            }
        }
        if !self.authenticated {
            return Reply::error(HELLO_NOAUTH_TEXT);
        }
        if let Some(name) = new_name {
            let reply = self.set_name(&name);
            if reply.is_error() {
                return reply;
            }
        }
        if let Some(version) = version {
            self.protocol = version;
        }
        let field = |name: &str, value: Reply| (Reply::bulk(name), value);
        Reply::Map(vec![
            field("server", Reply::bulk("redis")),
            field("version", Reply::bulk(&self.shared.options.redis_version)),
            field("proto", Reply::Integer(self.protocol.number())),
            field(
                "id",
                Reply::Integer(i64::try_from(self.entry.id).unwrap_or(i64::MAX)),
            ),
            field("mode", Reply::bulk("standalone")),
            field("role", Reply::bulk("master")),
            field("modules", Reply::Array(Vec::new())),
        ])
    }

    fn set_name(&mut self, name: &Bytes) -> Reply {
        if name.iter().any(|&byte| !(b'!'..=b'~').contains(&byte)) {
            return Reply::error(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            );
        }
        self.name = (!name.is_empty()).then(|| name.clone());
        Reply::ok()
    }

    fn multi(&mut self) -> Reply {
        if self.transaction.is_some() {
            return Reply::error("ERR MULTI calls can not be nested");
        }
        self.transaction = Some(Transaction::default());
        Reply::ok()
    }

    fn discard(&mut self) -> Reply {
        if self.transaction.take().is_none() {
            return Reply::error("ERR DISCARD without MULTI");
        }
        self.session.unwatch();
        Reply::ok()
    }

    fn watch(&mut self, keys: &[Bytes]) -> Reply {
        if self.transaction.is_some() {
            return Reply::error("ERR WATCH inside MULTI is not allowed");
        }
        self.session.watch(self.database, keys);
        Reply::ok()
    }

    /// EXEC: the data commands go to the backend as one transaction, with
    /// the database each would run in (a queued SELECT moves it); the
    /// connection commands run afterwards, only if the transaction ran,
    /// and the replies are put back in queue order.
    fn exec(&mut self) -> Reply {
        let Some(transaction) = self.transaction.take() else {
            return Reply::error("ERR EXEC without MULTI");
        };
        if transaction.dirty {
            self.session.unwatch();
            return Reply::error("EXECABORT Transaction discarded because of previous errors.");
        }
        let mut database = self.database;
        let mut backend_commands = Vec::new();
        for (spec, command) in &transaction.commands {
            if spec.handled_by == HandledBy::Backend {
                backend_commands.push((database, *spec, command.clone()));
            } else if spec.name == "select"
                && let Some(index) = parse_integer(&command.arguments()[1])
                    .and_then(|index| DatabaseIndex::try_from(index).ok())
                    .filter(|&index| index < self.shared.options.databases)
            {
                database = index;
            }
        }
        let started = Instant::now();
        let Some(backend_replies) = self.session.execute_transaction(&backend_commands) else {
            return Reply::NullArray;
        };
        let usec_each =
            elapsed_usec(started) / u64::try_from(backend_commands.len().max(1)).unwrap_or(1);
        let mut backend_replies = backend_replies.into_iter();
        let mut replies = Vec::with_capacity(transaction.commands.len());
        for (spec, command) in &transaction.commands {
            let reply = if spec.handled_by == HandledBy::Backend {
                let reply = backend_replies.next();
                let failed = match &reply {
                    Some(Reply::Error(text)) => {
                        self.shared.stats.error_reply(text);
                        true
                    }
                    _ => false,
                };
                self.shared.stats.called(&[(*spec, usec_each, failed)]);
                reply
            } else {
                self.run(spec, command)
            };
            replies.push(
                reply.unwrap_or_else(|| Reply::error("ERR the backend returned too few replies")),
            );
        }
        Reply::Array(replies)
    }

    fn info(&self, arguments: &[Bytes]) -> Reply {
        let requested: Vec<String> = arguments[1..]
            .iter()
            .map(|section| String::from_utf8_lossy(section).to_ascii_lowercase())
            .collect();
        // Redis: no argument or `default` is every section but
        // commandstats (and latencystats); `all` and `everything` all.
        let all = requested
            .iter()
            .any(|section| matches!(section.as_str(), "all" | "everything"));
        let default = requested.is_empty() || requested.iter().any(|section| section == "default");
        let options = &self.shared.options;
        let uptime_seconds = self.shared.started.elapsed().as_secs();
        let stats = &self.shared.stats;
        let mut sections = vec![
            InfoSection {
                name: "server".to_owned(),
                fields: vec![
                    ("redis_version".to_owned(), options.redis_version.clone()),
                    (
                        "keel_version".to_owned(),
                        env!("CARGO_PKG_VERSION").to_owned(),
                    ),
                    ("redis_mode".to_owned(), "standalone".to_owned()),
                    ("arch_bits".to_owned(), (usize::BITS).to_string()),
                    ("multiplexing_api".to_owned(), "epoll".to_owned()),
                    ("process_id".to_owned(), std::process::id().to_string()),
                    (
                        "tcp_port".to_owned(),
                        self.shared.local_address.port().to_string(),
                    ),
                    ("uptime_in_seconds".to_owned(), uptime_seconds.to_string()),
                    (
                        "uptime_in_days".to_owned(),
                        (uptime_seconds / 86_400).to_string(),
                    ),
                ],
            },
            InfoSection {
                name: "clients".to_owned(),
                fields: vec![
                    (
                        "connected_clients".to_owned(),
                        crate::net::server::lock(&self.shared.clients).len().to_string(),
                    ),
                    ("maxclients".to_owned(), options.max_clients.to_string()),
                ],
            },
            InfoSection {
                name: "stats".to_owned(),
                fields: vec![
                    (
                        "total_connections_received".to_owned(),
                        stats
                            .connections_received
                            .load(Ordering::Relaxed)
                            .to_string(),
                    ),
                    (
                        "total_commands_processed".to_owned(),
                        stats.commands_processed.load(Ordering::Relaxed).to_string(),
                    ),
                    (
                        "rejected_connections".to_owned(),
                        stats
                            .connections_rejected
                            .load(Ordering::Relaxed)
                            .to_string(),
                    ),
                    (
                        "total_error_replies".to_owned(),
                        stats.error_replies.load(Ordering::Relaxed).to_string(),
                    ),
                ],
            },
            self.memory_section(),
            InfoSection {
                name: "replication".to_owned(),
                fields: vec![
                    ("role".to_owned(), "master".to_owned()),
                    ("connected_slaves".to_owned(), "0".to_owned()),
                    ("master_failover_state".to_owned(), "no-failover".to_owned()),
                    ("master_repl_offset".to_owned(), "0".to_owned()),
                    ("repl_backlog_active".to_owned(), "0".to_owned()),
                ],
            },
            InfoSection {
                name: "errorstats".to_owned(),
                fields: stats
                    .error_counts()
                    .into_iter()
                    .map(|(code, count)| (format!("errorstat_{code}"), format!("count={count}")))
                    .collect(),
            },
            InfoSection {
                name: "commandstats".to_owned(),
                fields: stats
                    .command_lines()
                    .into_iter()
                    .map(|(name, counters)| {
                        let per_call = if counters.calls == 0 {
                            0.0
                        } else {
                            counters.usec as f64 / counters.calls as f64
                        };
                        (
                            format!("cmdstat_{name}"),
                            format!(
                                "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                                counters.calls,
                                counters.usec,
                                counters.rejected_calls,
                                counters.failed_calls
                            ),
                        )
                    })
                    .collect(),
            },
        ];
        for section in self.shared.backend.info_sections() {
            match sections
                .iter_mut()
                .find(|existing| existing.name == section.name)
            {
                Some(existing) => existing.fields.extend(section.fields),
                None => sections.push(section),
            }
        }
        // Redis's order; sections it does not know (keel's) after.
        const ORDER: [&str; 9] = [
            "server",
            "clients",
            "memory",
            "persistence",
            "stats",
            "replication",
            "errorstats",
            "keyspace",
            "commandstats",
        ];
        sections.sort_by_key(|section| {
            ORDER
                .iter()
                .position(|name| *name == section.name)
                .unwrap_or(ORDER.len())
        });
        let mut text = String::new();
        for section in sections {
            let wanted = all
                || requested.contains(&section.name)
                || (default && section.name != "commandstats");
            if !wanted {
                continue;
            }
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            let mut title = section.name.clone();
            if let Some(first) = title.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            text.push_str(&format!("# {title}\r\n"));
            for (field, value) in section.fields {
                text.push_str(&format!("{field}:{value}\r\n"));
            }
        }
        Reply::verbatim_text(text)
    }

    /// INFO memory: the process's resident size, and the maxmemory
    /// settings keel keeps without acting on (`config.rs`).
    fn memory_section(&self) -> InfoSection {
        let resident_bytes = resident_bytes();
        let setting = |name: &str| {
            crate::commands::config::lookup(name)
                .map(|parameter| self.shared.config.value(parameter))
                .unwrap_or_default()
        };
        InfoSection {
            name: "memory".to_owned(),
            fields: vec![
                ("used_memory".to_owned(), resident_bytes.to_string()),
                (
                    "used_memory_human".to_owned(),
                    format!("{:.2}M", resident_bytes as f64 / 1_048_576.0),
                ),
                ("used_memory_rss".to_owned(), resident_bytes.to_string()),
                ("maxmemory".to_owned(), setting("maxmemory")),
                ("maxmemory_policy".to_owned(), setting("maxmemory-policy")),
                ("mem_allocator".to_owned(), "libc".to_owned()),
            ],
        }
    }

    /// CONFIG GET: every setting whose name matches one of the patterns
    /// (case-insensitive globs), once, in the server's then the backend's
    /// order.
    fn config_get(&self, patterns: &[Bytes]) -> Reply {
        let options = &self.shared.options;
        let address = self.shared.local_address;
        let limits = &options.limits;
        let mut settings = vec![
            ("bind".to_owned(), address.ip().to_string()),
            ("port".to_owned(), address.port().to_string()),
            ("maxclients".to_owned(), options.max_clients.to_string()),
            (
                "requirepass".to_owned(),
                options.require_password.clone().unwrap_or_default(),
            ),
            ("databases".to_owned(), options.databases.to_string()),
            (
                "proto-max-bulk-len".to_owned(),
                limits.bulk_bytes_max.to_string(),
            ),
            (
                "client-query-buffer-limit".to_owned(),
                limits.query_buffer_bytes_max.to_string(),
            ),
        ];
        settings.push(("io-threads".to_owned(), options.io_threads.to_string()));
        settings.push((
            "server-cpulist".to_owned(),
            options
                .cpu_list
                .as_ref()
                .map(|cpus| {
                    cpus.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default(),
        ));
        settings.extend(self.shared.backend.settings());
        for (name, value) in self.shared.config.all() {
            if !settings.iter().any(|(known, _)| *known == name) {
                settings.push((name, value));
            }
        }
        let patterns: Vec<GlobPattern> = patterns
            .iter()
            .map(|pattern| GlobPattern::new(pattern, true))
            .collect();
        Reply::Map(
            settings
                .into_iter()
                .filter(|(name, _)| {
                    patterns
                        .iter()
                        .any(|pattern| pattern.matches(name.as_bytes()))
                })
                .map(|(name, value)| (Reply::bulk(name), Reply::bulk(value)))
                .collect(),
        )
    }

    fn client_list(&self, filters: &[Bytes]) -> Reply {
        let mut ids: Option<Vec<u64>> = None;
        let mut index = 0;
        while index < filters.len() {
            let option = &filters[index];
            if option.eq_ignore_ascii_case(b"TYPE") && index + 1 < filters.len() {
                let kind = &filters[index + 1];
                if kind.eq_ignore_ascii_case(b"normal") {
                } else if [&b"master"[..], b"replica", b"slave", b"pubsub"]
                    .iter()
                    .any(|known| kind.eq_ignore_ascii_case(known))
                {
                    return Reply::verbatim_text(String::new());
                } else {
                    return Reply::error(format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(kind)
                    ));
                }
                index += 2;
            } else if option.eq_ignore_ascii_case(b"ID") && index + 1 < filters.len() {
                let mut wanted = Vec::new();
                for id in &filters[index + 1..] {
                    match parse_integer(id)
                        .and_then(|id| u64::try_from(id).ok())
                        .filter(|&id| id > 0)
                    {
                        Some(id) => wanted.push(id),
                        None => return Reply::error("ERR Invalid client ID"),
                    }
                }
                ids = Some(wanted);
                index = filters.len();
            } else {
                return Reply::error("ERR syntax error");
            }
        }
        let mut text = String::new();
        for entry in self.shared.clients() {
            if ids.as_ref().is_some_and(|ids| !ids.contains(&entry.id)) {
                continue;
            }
            text.push_str(&self.client_line(&entry));
        }
        Reply::verbatim_text(text)
    }

    /// One CLIENT LIST line, in Redis's field order (fields keel has no
    /// counterpart for are left out or zero).
    fn client_line(&self, entry: &ClientEntry) -> String {
        if std::ptr::eq(entry, &*self.entry) {
            // Our own line: make the registry current first.
            self.publish_state(0);
        }
        let now = Instant::now();
        let state = entry.state();
        let text = |bytes: &Option<Bytes>| {
            bytes
                .as_ref()
                .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                .unwrap_or_default()
        };
        format!(
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}\n",
            entry.id,
            entry.peer,
            entry.local,
            text(&state.name),
            now.duration_since(entry.created).as_secs(),
            now.duration_since(state.last_interaction).as_secs(),
            if state.queued_commands.is_some() {
                "x"
            } else {
                "N"
            },
            state.database,
            state
                .queued_commands
                .map_or(-1, |count| i64::try_from(count).unwrap_or(i64::MAX)),
            state.query_buffer_bytes,
            state.last_command,
            state.protocol.number(),
            text(&state.library_name),
            text(&state.library_version),
        )
    }

    /// CLIENT SETINFO LIB-NAME|LIB-VER value (Redis 7.2).
    fn set_library_info(&self, attribute: &[u8], value: &Bytes) -> Reply {
        let attribute_text = String::from_utf8_lossy(attribute);
        let is_name = attribute.eq_ignore_ascii_case(b"LIB-NAME");
        if !is_name && !attribute.eq_ignore_ascii_case(b"LIB-VER") {
            return Reply::error(format!("ERR Unrecognized option '{attribute_text}'"));
        }
        if value.iter().any(|&byte| !(b'!'..=b'~').contains(&byte)) {
            return Reply::error(format!(
                "ERR {attribute_text} cannot contain spaces, newlines or special characters."
            ));
        }
        let value = (!value.is_empty()).then(|| value.clone());
        let mut state = self.entry.state();
        if is_name {
            state.library_name = value;
        } else {
            state.library_version = value;
        }
        Reply::ok()
    }

    /// Copies what CLIENT LIST shows into the shared registry, once per
    /// batch of requests.
    fn publish_state(&self, query_buffer_bytes: usize) {
        let mut state = self.entry.state();
        state.name.clone_from(&self.name);
        state.database = self.database;
        state.protocol = self.protocol;
        state.queued_commands = self
            .transaction
            .as_ref()
            .map(|transaction| transaction.commands.len());
        state.query_buffer_bytes = query_buffer_bytes;
        state.last_interaction = Instant::now();
    }
}

/// Microseconds since `started`, for INFO commandstats.
fn elapsed_usec(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

fn argument_bytes(command: &Command) -> usize {
    command
        .arguments()
        .iter()
        .map(|argument| argument.len())
        .sum()
}

/// The process's resident set size in bytes (Linux: /proc/self/statm;
/// 0 elsewhere or when unreadable).
fn resident_bytes() -> u64 {
    const PAGE_BYTES: u64 = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * PAGE_BYTES)
}

/// Gives back the memory of a buffer that a large request or reply grew,
/// once it is mostly empty (Redis resizes query buffers in its cron), so a
/// connection that once sent 500 MiB does not keep 500 MiB.
fn shrink_if_oversized(buffer: &mut Vec<u8>) {
    if buffer.capacity() > RETAINED_BUFFER_BYTES_MAX && buffer.len() < buffer.capacity() / 4 {
        buffer.shrink_to(buffer.len().max(READ_CHUNK_BYTES));
    }
}

/// WAIT numreplicas timeout: keel has no replicas, so none acknowledged,
/// at once (Redis would block up to `timeout` for a positive count; keel
/// never blocks its event loop for replicas that cannot come).
fn wait_reply(replicas: &[u8], timeout: &[u8]) -> Reply {
    if parse_integer(replicas).is_none() {
        return Reply::error(NOT_AN_INTEGER_TEXT);
    }
    match parse_integer(timeout) {
        None => Reply::error("ERR timeout is not an integer or out of range"),
        Some(timeout) if timeout < 0 => Reply::error("ERR timeout is negative"),
        Some(_) => Reply::Integer(0),
    }
}

fn time_reply() -> Reply {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        Reply::bulk(now.as_secs().to_string()),
        Reply::bulk(now.subsec_micros().to_string()),
    ])
}

fn help_reply(container: &str, lines: &[&str]) -> Reply {
    let mut replies = vec![Reply::Simple(format!(
        "{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ))];
    replies.extend(lines.iter().map(|line| Reply::Simple((*line).to_owned())));
    replies.push(Reply::Simple("HELP".to_owned()));
    replies.push(Reply::Simple("    Prints this help.".to_owned()));
    Reply::Array(replies)
}

fn command_info(names: &[Bytes]) -> Reply {
    if names.is_empty() {
        return Reply::Array(
            table::commands()
                .iter()
                .map(CommandSpec::info_reply)
                .collect(),
        );
    }
    Reply::Array(
        names
            .iter()
            .map(|name| {
                table::lookup_full_name(name).map_or(Reply::NullBulk, CommandSpec::info_reply)
            })
            .collect(),
    )
}

fn command_docs(names: &[Bytes]) -> Reply {
    let specs: Vec<&CommandSpec> = if names.is_empty() {
        table::commands().iter().collect()
    } else {
        names
            .iter()
            .filter_map(|name| table::lookup_full_name(name))
            .collect()
    };
    Reply::Map(
        specs
            .into_iter()
            .map(|spec| (Reply::bulk(spec.name), spec.docs_reply()))
            .collect(),
    )
}

fn command_list(filter: &[Bytes]) -> Reply {
    let pattern = match filter {
        [] => None,
        [by, kind, pattern]
            if by.eq_ignore_ascii_case(b"FILTERBY") && kind.eq_ignore_ascii_case(b"PATTERN") =>
        {
            Some(GlobPattern::new(pattern, true))
        }
        _ => return Reply::error("ERR syntax error"),
    };
    Reply::Array(
        table::commands()
            .iter()
            .filter(|spec| {
                pattern
                    .as_ref()
                    .is_none_or(|pattern| pattern.matches(spec.name.as_bytes()))
            })
            .map(|spec| Reply::bulk(spec.name))
            .collect(),
    )
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell an attacker how much of a guess was right.
fn constant_time_equal(expected: &[u8], given: &[u8]) -> bool {
    let mut difference = u8::from(expected.len() != given.len());
    for (index, &byte) in expected.iter().enumerate() {
        difference |= byte ^ given.get(index).copied().unwrap_or(!byte);
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_equal_compares_whole_strings() {
        assert!(constant_time_equal(b"secret", b"secret"));
        assert!(!constant_time_equal(b"secret", b"secreT"));
        assert!(!constant_time_equal(b"secret", b"secre"));
        assert!(!constant_time_equal(b"secret", b"secrets"));
        assert!(constant_time_equal(b"", b""));
    }

    #[test]
    fn oversized_buffers_shrink_when_mostly_empty() {
        let mut buffer = vec![0u8; 4 * RETAINED_BUFFER_BYTES_MAX];
        buffer.truncate(10);
        shrink_if_oversized(&mut buffer);
        assert!(buffer.capacity() < RETAINED_BUFFER_BYTES_MAX && buffer.len() == 10);
        let mut busy = vec![0u8; 4 * RETAINED_BUFFER_BYTES_MAX];
        let capacity = busy.capacity();
        shrink_if_oversized(&mut busy);
        assert_eq!(busy.capacity(), capacity, "a full buffer keeps its memory");
    }

    #[test]
    fn help_replies_end_with_help() {
        let Reply::Array(lines) = help_reply("CLIENT", &["ID"]) else {
            panic!("an array");
        };
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[2], Reply::Simple("HELP".to_owned()));
    }
}

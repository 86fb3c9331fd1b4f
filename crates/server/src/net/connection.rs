//! One client connection's buffers: the bytes read and not yet parsed,
//! the parser, the replies not yet written, and the pipelined data
//! commands held back to run as one group. The commands themselves run
//! through the connection's [`Client`] (`commands/dispatch.rs`).

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::commands::client::After;
use crate::commands::dispatch::{argument_bytes, elapsed_usec};
use crate::commands::{Client, Request};
use bytes::BytesMut;

use crate::resp::{
    Command, EncodedReplies, LARGE_BULK_BYTES, ProtocolError, Reply, RequestParser, error_text,
};
use crate::state::{ClientEntry, Shared};

pub use crate::commands::connection::{
    AUTH_WITHOUT_PASSWORD_TEXT, HELLO_NOAUTH_TEXT, WRONGPASS_TEXT,
};
pub use crate::commands::dispatch::NOAUTH_TEXT;

/// Bytes asked of the socket per read (Redis `PROTO_IOBUF_LEN`, 16 KiB):
/// the size of the buffer an event loop reads every socket into.
pub const READ_CHUNK_BYTES: usize = 16 << 10;

/// Replies buffered before they are written even though requests of the
/// same batch remain (so a long pipeline cannot grow the buffer without
/// bound).
pub const OUTPUT_FLUSH_BYTES: usize = 64 << 10;

/// Capacity a connection's input or output buffer keeps when it is mostly
/// empty; beyond it, the buffer is shrunk.
pub const RETAINED_BUFFER_BYTES_MAX: usize = 1 << 20;

/// Most pipelined data commands handed to the session at once
/// ([`Session::execute_pipeline`](crate::Session::execute_pipeline)).
pub const PIPELINE_COMMANDS_MAX: usize = 256;

/// Most argument bytes of the pipelined commands handed to the session at
/// once (a larger command goes alone).
pub const PIPELINE_ARGUMENT_BYTES_MAX: usize = 1 << 20;

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

/// What [`Connection::gather`] stopped at.
enum Deferred {
    Command(Command),
    ProtocolError(ProtocolError),
}

/// One client connection apart from its socket: bytes read go into the
/// input ([`Connection::read_from`]), [`Connection::gather`] and
/// [`Connection::process`] run the complete requests, and the replies
/// wait in [`Connection::output`] for the event loop to write.
///
/// The requests' arguments are not copied out of the input: they share
/// its memory ([`RequestParser::parse_shared`]), which the input reuses
/// once the requests of a turn are dropped.
pub(crate) struct Connection {
    client: Client,
    parser: RequestParser,
    input: BytesMut,
    output: Vec<u8>,
    /// Bytes of `output` already written (non-blocking writes).
    output_written: usize,
    /// Pipelined data commands not yet run, their replies owed next.
    pipeline: Vec<Request>,
    /// The encoded replies of the pipeline run through the session.
    replies: EncodedReplies,
    pipeline_bytes: usize,
    /// A request [`Connection::gather`] parsed but could not hold back; it
    /// runs first in the next [`Connection::process`].
    deferred: Option<Deferred>,
    /// CLIENT PAUSE holds the deferred request until then.
    paused_until: Option<Instant>,
}

impl Connection {
    /// A new connection.
    pub(crate) fn new(shared: &Arc<Shared>, entry: &Arc<ClientEntry>) -> Connection {
        let client = Client::new(shared, entry);
        let mut parser = RequestParser::new(shared.options.limits.clone());
        parser.set_authenticated(client.authenticated);
        Connection {
            client,
            parser,
            input: BytesMut::with_capacity(READ_CHUNK_BYTES),
            output: Vec::new(),
            output_written: 0,
            pipeline: Vec::new(),
            replies: EncodedReplies::default(),
            pipeline_bytes: 0,
            deferred: None,
            paused_until: None,
        }
    }

    /// What to do once the output is written.
    pub(crate) fn after(&self) -> After {
        self.client.after
    }

    /// Reads once from `source` into the input, through `scratch` (the
    /// event loop's read buffer, shared by its connections, so that no
    /// read fills fresh memory first); `Ok(0)` when the peer closed.
    pub(crate) fn read_from(
        &mut self,
        source: &mut impl Read,
        scratch: &mut [u8],
    ) -> std::io::Result<usize> {
        self.reserve_large_bulk();
        let read = source.read(scratch)?;
        if read > 0 {
            self.client.received = Instant::now();
        }
        self.input.extend_from_slice(&scratch[..read]);
        self.client
            .shared
            .stats
            .net_input_bytes
            .fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }

    /// Makes room in the input for the whole of a large bulk argument in
    /// progress at once (Redis does the same past `PROTO_MBULK_BIG_ARG`):
    /// grown by doubling, a 300 MiB value would be copied at every step
    /// and could leave up to twice its size allocated, and the request's
    /// buffer would not be nearly all its own for the argument to be kept
    /// without a copy ([`crate::resp::detached_argument`]).
    fn reserve_large_bulk(&mut self) {
        if let Some(end) = self.parser.large_bulk_end()
            && end > self.input.capacity()
        {
            // A buffer of its own, sized for the request so far, rather
            // than `reserve`, which may double or keep the bytes before the
            // request: what is there so far is one read or little more
            // (unless an earlier large bulk of the same request is). One
            // read more of room takes the arguments that follow.
            let mut input = BytesMut::with_capacity(end.saturating_add(READ_CHUNK_BYTES));
            input.extend_from_slice(&self.input);
            self.input = input;
        }
    }

    /// Whether nothing of this connection waits in its buffers (no input
    /// not yet run, no output not yet written, no request held).
    pub(crate) fn is_idle(&self) -> bool {
        self.input.is_empty()
            && self.output().is_empty()
            && self.pipeline.is_empty()
            && self.deferred.is_none()
    }

    /// The connection's entry in the registry.
    pub(crate) fn entry(&self) -> &ClientEntry {
        &self.client.entry
    }

    /// Puts back what a busy script's loop read from the socket and did
    /// not answer (`ClientEntry::unread`), before anything read after it.
    pub(crate) fn take_unread(&mut self) {
        let unread = self.client.entry.take_unread();
        if unread.is_empty() {
            return;
        }
        let mut input = BytesMut::with_capacity(unread.len() + self.input.len());
        input.extend_from_slice(&unread);
        input.extend_from_slice(&self.input);
        self.input = input;
    }

    /// Whether the unprocessed input passed the query buffer limit (Redis
    /// then closes the client without a reply).
    pub(crate) fn query_buffer_exceeded(&self) -> bool {
        let limit_bytes = self.client.shared.options.limits.query_buffer_bytes_max;
        if self.input.len() <= limit_bytes {
            return false;
        }
        let error = crate::error::Error::QueryBufferLimit {
            buffer_bytes: self.input.len(),
            limit_bytes,
        };
        tracing::warn!(%error, client = self.client.id(), "closing client");
        true
    }

    /// Replies not yet written.
    pub(crate) fn output(&self) -> &[u8] {
        &self.output[self.output_written..]
    }

    /// Marks `bytes` of [`Connection::output`] as written.
    pub(crate) fn output_consumed(&mut self, bytes: usize) {
        self.client
            .shared
            .stats
            .net_output_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
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
    /// early once [`OUTPUT_FLUSH_BYTES`] of replies wait.
    pub(crate) fn process(&mut self) -> Progress {
        let mut out = std::mem::take(&mut self.output);
        self.paused_until = None;
        match self.deferred.take() {
            None => {}
            Some(Deferred::Command(command)) => {
                if let Some(until) = self.paused_for(&command) {
                    self.deferred = Some(Deferred::Command(command));
                    self.paused_until = Some(until);
                } else {
                    self.run_unpipelined(command, &mut out);
                }
            }
            Some(Deferred::ProtocolError(error)) => self.protocol_error(&error, &mut out),
        }
        let mut progress = Progress::Drained;
        while self.client.after == After::Continue && self.paused_until.is_none() {
            let buffered = self.input.len();
            match self.parse_next() {
                Ok(Some(command)) => {
                    self.client.query_buffer_bytes = buffered;
                    if !command.is_empty() {
                        self.handle(command, &mut out);
                        self.parser.set_authenticated(self.client.authenticated);
                    }
                }
                Ok(None) => break,
                Err(error) => self.protocol_error(&error, &mut out),
            }
            if out.len() - self.output_written >= OUTPUT_FLUSH_BYTES {
                progress = Progress::OutputFull;
                break;
            }
        }
        if progress == Progress::Drained || self.client.after != After::Continue {
            progress = Progress::Drained;
            self.run_pipeline(&mut out);
            // Not the room made for a large bulk still arriving.
            if self.parser.large_bulk_end().is_none() {
                shrink_input_if_oversized(&mut self.input);
            }
            self.client.publish_state(self.input.len());
        }
        self.output = out;
        progress
    }

    /// Parses requests and holds back the pipelinable data commands among
    /// them, without running anything, until a request of another kind
    /// (kept for [`Connection::process`]), the end of the complete
    /// requests, or the pipeline's bounds: so that an event loop can run
    /// the pipelines of many connections in one group.
    pub(crate) fn gather(&mut self) {
        // Counted once for the lot: the counter is every loop's.
        let mut processed = 0;
        while self.client.after == After::Continue
            && self.deferred.is_none()
            && self.pipeline.len() < PIPELINE_COMMANDS_MAX
            && self.pipeline_bytes < PIPELINE_ARGUMENT_BYTES_MAX
        {
            let buffered = self.input.len();
            match self.parse_next() {
                Ok(Some(command)) => {
                    // For a request deferred to `process`, run next.
                    self.client.query_buffer_bytes = buffered;
                    if !command.is_empty() {
                        processed += u64::from(self.gather_one(command));
                    }
                }
                Ok(None) => break,
                Err(error) => self.deferred = Some(Deferred::ProtocolError(error)),
            }
        }
        if processed > 0 {
            self.client
                .shared
                .stats
                .commands_processed
                .fetch_add(processed, Ordering::Relaxed);
        }
    }

    /// The next complete request in the input, taken out of it. The
    /// input lets go of the memory of a large request, sized for it
    /// ([`Connection::reserve_large_bulk`]) and now the arguments' alone:
    /// kept by the input, it would stay allocated as long as the
    /// connection, after every argument stored without a copy is gone.
    fn parse_next(&mut self) -> Result<Option<Command>, ProtocolError> {
        let buffered = self.input.len();
        let parsed = self.parser.parse_shared(&mut self.input);
        if matches!(parsed, Ok(Some(_))) && buffered - self.input.len() >= LARGE_BULK_BYTES {
            let mut input = BytesMut::with_capacity(self.input.len().max(READ_CHUNK_BYTES));
            input.extend_from_slice(&self.input);
            self.input = input;
        }
        parsed
    }

    /// When CLIENT PAUSE holds `command`: the end of the pause.
    fn paused_for(&self, command: &Command) -> Option<Instant> {
        let pause = &self.client.shared.pause;
        if !pause.is_active() {
            return None;
        }
        let spec = crate::commands::table::resolve(command).ok()?;
        let writes = spec.may_write() || spec.id == crate::commands::CommandId::Exec;
        pause.holds(writes)
    }

    /// Whether the request held for [`Connection::process`] runs a script
    /// (EVAL, FCALL and their kind), which may run long.
    pub(crate) fn defers_script(&self) -> bool {
        use crate::commands::CommandId;
        let Some(Deferred::Command(command)) = &self.deferred else {
            return false;
        };
        crate::commands::table::resolve(command).is_ok_and(|spec| {
            matches!(
                spec.id,
                CommandId::Eval
                    | CommandId::EvalRo
                    | CommandId::Evalsha
                    | CommandId::EvalshaRo
                    | CommandId::Fcall
                    | CommandId::FcallRo
            )
        })
    }

    /// When CLIENT PAUSE holds this connection's next request.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// Appends what other connections pushed to this one (MONITOR lines,
    /// invalidations) to the output.
    pub(crate) fn take_pushed(&mut self) {
        let pushed = self.client.entry.take_pushed();
        if self.output.is_empty() {
            self.output = pushed;
        } else {
            self.output.extend_from_slice(&pushed);
        }
    }

    /// Holds `command` back, or keeps it for [`Connection::process`];
    /// whether it counts as processed (not when CLIENT PAUSE holds it).
    fn gather_one(&mut self, command: Command) -> bool {
        if let Some(until) = self.paused_for(&command) {
            self.paused_until = Some(until);
            self.deferred = Some(Deferred::Command(command));
            return false;
        }
        let bytes = argument_bytes(&command);
        match self.client.pipelinable(&command) {
            Some(spec)
                if self.pipeline.is_empty()
                    || self.pipeline_bytes.saturating_add(bytes) <= PIPELINE_ARGUMENT_BYTES_MAX =>
            {
                self.hold_back(spec, command, bytes);
            }
            _ => self.deferred = Some(Deferred::Command(command)),
        }
        true
    }

    /// Whether a held-back command may write.
    pub(crate) fn pipeline_writes(&self) -> bool {
        self.pipeline.iter().any(|request| request.spec.may_write())
    }

    /// How many pipelined commands are held back.
    pub(crate) fn pipeline_len(&self) -> usize {
        self.pipeline.len()
    }

    /// Moves the held-back pipelined commands to the end of `group`, to
    /// run with other connections'; their replies go to
    /// [`Connection::deliver`], or the commands come back with
    /// [`Connection::restore_pipeline`].
    pub(crate) fn take_pipeline(&mut self, group: &mut Vec<Request>) {
        group.append(&mut self.pipeline);
        self.pipeline_bytes = 0;
    }

    /// Holds `requests` back again (taken by
    /// [`Connection::take_pipeline`], not run).
    pub(crate) fn restore_pipeline(&mut self, requests: impl Iterator<Item = Request>) {
        for request in requests {
            self.pipeline_bytes = self
                .pipeline_bytes
                .saturating_add(argument_bytes(&request.command));
            self.pipeline.push(request);
        }
    }

    /// Appends the encoded replies of `requests`, taken from this
    /// connection and run by the caller (in order, one reply per request).
    pub(crate) fn deliver<'r>(
        &mut self,
        requests: impl ExactSizeIterator<Item = Request>,
        replies: impl Iterator<Item = &'r [u8]>,
        elapsed_usec: u64,
    ) {
        let mut out = std::mem::take(&mut self.output);
        self.append_replies(requests, replies, elapsed_usec, &mut out, true);
        self.output = out;
    }

    /// Appends the encoded replies of `requests` to `out` (unless `copy`
    /// is false: the caller has them in place already, one for each
    /// request), counting them for INFO commandstats and errorstats.
    fn append_replies<'r>(
        &mut self,
        requests: impl ExactSizeIterator<Item = Request>,
        mut replies: impl Iterator<Item = &'r [u8]>,
        elapsed_usec: u64,
        out: &mut Vec<u8>,
        copy: bool,
    ) {
        let usec_each = elapsed_usec / u64::try_from(requests.len().max(1)).unwrap_or(1);
        let mut calls = CallRun::default();
        // The stats are borrowed for each use, not held (`after_call`
        // takes the client mutably): no clone of the shared state.
        for request in requests {
            let Some(reply) = replies.next() else {
                let missing = Reply::error("ERR the backend returned too few replies");
                self.client.shared.stats.error_reply("ERR");
                calls.add(&self.client.shared.stats, request.spec.id, usec_each, true);
                missing.encode(self.client.protocol, out);
                continue;
            };
            let error = error_text(reply);
            if let Some(text) = error {
                self.client
                    .shared
                    .stats
                    .error_reply(&String::from_utf8_lossy(text));
            }
            let stats = &self.client.shared.stats;
            calls.add(stats, request.spec.id, usec_each, error.is_some());
            if copy {
                out.extend_from_slice(reply);
            }
            self.client.after_call(
                request.spec,
                request.command.arguments(),
                request.database,
                usec_each,
                error.is_some(),
            );
        }
        calls.flush(&self.client.shared.stats);
    }

    /// Runs the held-back commands through this connection's session.
    pub(crate) fn run_held_back(&mut self) {
        let mut out = std::mem::take(&mut self.output);
        self.run_pipeline(&mut out);
        self.output = out;
    }

    fn protocol_error(&mut self, error: &ProtocolError, out: &mut Vec<u8>) {
        self.run_pipeline(out);
        tracing::debug!(%error, client = self.client.id(), "protocol error");
        let text = error.reply_text();
        self.client.shared.stats.error_reply(&text);
        Reply::error(text).encode(self.client.protocol, out);
        self.client.after = After::Close;
    }

    fn handle(&mut self, command: Command, out: &mut Vec<u8>) {
        if let Some(until) = self.paused_for(&command) {
            self.run_pipeline(out);
            self.paused_until = Some(until);
            self.deferred = Some(Deferred::Command(command));
            return;
        }
        self.client
            .shared
            .stats
            .commands_processed
            .fetch_add(1, Ordering::Relaxed);
        let Some(spec) = self.client.pipelinable(&command) else {
            return self.run_unpipelined(command, out);
        };
        let bytes = argument_bytes(&command);
        if self.pipeline_bytes.saturating_add(bytes) > PIPELINE_ARGUMENT_BYTES_MAX {
            self.run_pipeline(out);
        }
        self.hold_back(spec, command, bytes);
        if self.pipeline.len() >= PIPELINE_COMMANDS_MAX {
            self.run_pipeline(out);
        }
    }

    /// Runs a request that is not held back, after the held-back ones.
    fn run_unpipelined(&mut self, command: Command, out: &mut Vec<u8>) {
        self.run_pipeline(out);
        // A blocking command that waits runs again (`commands/blocking.rs`).
        let retry = command.clone();
        if let Some(reply) = self.client.dispatch(command) {
            reply.encode(self.client.protocol, out);
        }
        if let Some(until) = self.client.take_waiting() {
            self.paused_until = Some(until);
            let retry = self.client.retry.take().unwrap_or(retry);
            self.deferred = Some(Deferred::Command(retry));
        }
    }

    fn hold_back(
        &mut self,
        spec: &'static crate::commands::CommandSpec,
        command: Command,
        bytes: usize,
    ) {
        self.client.note_command(spec);
        self.pipeline_bytes = self.pipeline_bytes.saturating_add(bytes);
        self.pipeline.push(Request {
            database: self.client.database,
            spec,
            command,
            protocol: self.client.protocol,
        });
    }

    /// Runs the held-back pipelined commands and encodes their replies.
    fn run_pipeline(&mut self, out: &mut Vec<u8>) {
        if self.pipeline.is_empty() {
            return;
        }
        let started = Instant::now();
        self.replies.clear();
        self.client
            .session
            .execute_pipeline(&self.pipeline, &mut self.replies);
        debug_assert_eq!(self.replies.len(), self.pipeline.len());
        let mut requests = std::mem::take(&mut self.pipeline);
        let mut replies = std::mem::take(&mut self.replies);
        self.pipeline_bytes = 0;
        // Large replies (a GET of a big value) become the output as they
        // are rather than be copied into it; small ones are copied, so
        // that both buffers keep their memory for the next pipeline.
        let in_place = out.is_empty()
            && replies.len() == requests.len()
            && replies.bytes_len() >= LARGE_BULK_BYTES;
        self.append_replies(
            requests.drain(..),
            replies.iter(),
            elapsed_usec(started),
            out,
            !in_place,
        );
        if in_place {
            *out = replies.take_bytes();
        }
        // Keep the memory for the next pipeline.
        self.pipeline = requests;
        replies.clear();
        replies.shrink_to(RETAINED_BUFFER_BYTES_MAX);
        self.replies = replies;
    }
}

/// Consecutive calls of one command, counted for INFO commandstats at
/// once ([`ServerStats::called_many`](crate::stats::ServerStats::called_many)):
/// a pipeline of GETs touches the counters the event loops share once,
/// not once per GET.
#[derive(Default)]
struct CallRun {
    id: Option<crate::commands::CommandId>,
    calls: u64,
    usec: u64,
    failed: u64,
}

impl CallRun {
    /// Adds a call; counts the run before it if that was another command's.
    fn add(
        &mut self,
        stats: &crate::stats::ServerStats,
        id: crate::commands::CommandId,
        usec: u64,
        failed: bool,
    ) {
        if self.id != Some(id) {
            self.flush(stats);
            self.id = Some(id);
        }
        self.calls += 1;
        self.usec = self.usec.saturating_add(usec);
        self.failed += u64::from(failed);
    }

    /// Counts the run so far.
    fn flush(&mut self, stats: &crate::stats::ServerStats) {
        if let Some(id) = self.id.take() {
            stats.called_many(id, self.calls, self.usec, self.failed);
        }
        *self = CallRun::default();
    }
}

/// Gives back the memory of a buffer that a large request or reply grew,
/// once it is mostly empty (Redis resizes query buffers in its cron), so a
/// connection that once sent 500 MiB does not keep 500 MiB.
fn shrink_if_oversized(buffer: &mut Vec<u8>) {
    if buffer.capacity() > RETAINED_BUFFER_BYTES_MAX && buffer.len() < buffer.capacity() / 4 {
        buffer.shrink_to(buffer.len().max(READ_CHUNK_BYTES));
    }
}

/// [`shrink_if_oversized`] for the input.
fn shrink_input_if_oversized(input: &mut BytesMut) {
    if input.capacity() > RETAINED_BUFFER_BYTES_MAX && input.len() < input.capacity() / 4 {
        let mut smaller = BytesMut::with_capacity(input.len().max(READ_CHUNK_BYTES));
        smaller.extend_from_slice(input);
        *input = smaller;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_one_command_are_counted_at_once_and_exactly() {
        use crate::commands::CommandId;
        use crate::stats::ServerStats;
        let stats = ServerStats::default();
        let mut calls = CallRun::default();
        let sequence = [
            (CommandId::Get, 3, false),
            (CommandId::Get, 4, true),
            (CommandId::Set, 10, false),
            (CommandId::Get, 5, false),
        ];
        for (id, usec, failed) in sequence {
            calls.add(&stats, id, usec, failed);
        }
        calls.flush(&stats);
        let lines = stats.command_lines();
        let counters = |name: &str| {
            lines
                .iter()
                .find(|(full_name, _)| *full_name == name)
                .map(|(_, counters)| *counters)
                .expect("counted")
        };
        let get = counters("get");
        assert_eq!((get.calls, get.usec, get.failed_calls), (3, 12, 1));
        let set = counters("set");
        assert_eq!((set.calls, set.usec, set.failed_calls), (1, 10, 0));
        // Flushed: counting again adds nothing.
        calls.flush(&stats);
        assert_eq!(stats.command_lines(), lines);
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
}

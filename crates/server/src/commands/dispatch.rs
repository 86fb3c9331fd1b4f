//! One request's way to its handler, in the order of Redis's
//! `processCommand`: unknown command or subcommand → wrong arity →
//! NOAUTH → ACL (NOPERM, `acl_user.rs`) → a RESP2 client in pub/sub mode (only the pub/sub commands,
//! PING, QUIT and RESET) → inside MULTI (refuse `no_multi` commands, queue the rest) →
//! the table's handler. Dispatch is a table lookup; INFO commandstats
//! counts every call by its [`CommandId`](super::CommandId).

use std::time::Instant;

use bytes::Bytes;

use super::client::{Client, runs_inside_multi};
use super::table::{self, CommandFlags, CommandSpec, Handler};
use super::{Request, id::CommandId};
use crate::backend::DatabaseIndex;
use crate::resp::{Command, Reply};

/// Redis's reply to a command before AUTH when a password is required.
pub const NOAUTH_TEXT: &str = "NOAUTH Authentication required.";

impl Client {
    /// Runs or queues one request; `None` when nothing is to be sent.
    pub(crate) fn dispatch(&mut self, command: Command) -> Option<Reply> {
        let spec = match table::resolve(&command) {
            Ok(spec) => spec,
            Err(reply) => {
                let named = table::named_spec(&command).map(|spec| spec.id);
                return Some(self.reject(named, reply));
            }
        };
        if !self.refresh_user() {
            return None;
        }
        if !self.authenticated && !spec.has(CommandFlags::NO_AUTH) {
            return Some(self.reject(Some(spec.id), Reply::error(NOAUTH_TEXT)));
        }
        if let Some(denial) = self.user.denial(spec, command.arguments()) {
            return Some(self.reject(Some(spec.id), denial.reply(spec)));
        }
        if !spec.has(CommandFlags::ALLOW_BUSY) && self.shared.scripts.busy_for(self.id()) {
            return Some(self.reject(Some(spec.id), Reply::error(super::scripting::BUSY_TEXT)));
        }
        if self.subscriptions > 0
            && self.protocol == crate::resp::ProtocolVersion::Resp2
            && !super::pubsub::allowed_while_subscribed(spec.id)
        {
            let text = super::pubsub::only_pubsub_commands_text(spec.full_name());
            return Some(self.reject(Some(spec.id), Reply::error(text)));
        }
        if self.transaction.is_some() && !runs_inside_multi(spec.id) {
            return Some(self.queue(spec, command));
        }
        self.run(spec, &command)
    }

    /// Queues a command of a MULTI block.
    fn queue(&mut self, spec: &'static CommandSpec, command: Command) -> Reply {
        if spec.has(CommandFlags::NO_MULTI) {
            return self.reject(
                Some(spec.id),
                Reply::error("ERR Command not allowed inside a transaction"),
            );
        }
        let limit_bytes = self.shared.options.limits.query_buffer_bytes_max;
        let Some(transaction) = &mut self.transaction else {
            return Reply::error("ERR MULTI is not open");
        };
        let bytes = argument_bytes(&command);
        transaction.queued_bytes = transaction.queued_bytes.saturating_add(bytes);
        if transaction.queued_bytes > limit_bytes {
            // keel's own bound (Redis has none but maxmemory): a MULTI
            // block holds no more than one query buffer's worth.
            return self.reject(
                Some(spec.id),
                Reply::error("ERR MULTI block exceeds the client query buffer limit"),
            );
        }
        transaction.commands.push((spec, command.detached()));
        Reply::Simple("QUEUED".to_owned())
    }

    /// An error reply for a refused command, which also dooms an open
    /// MULTI block (Redis's `flagTransaction`); counted as a rejected call.
    pub(crate) fn reject(&mut self, id: Option<CommandId>, reply: Reply) -> Reply {
        if let Some(transaction) = &mut self.transaction {
            transaction.dirty = true;
        }
        self.shared.stats.rejected(id);
        if let Reply::Error(text) = &reply {
            self.shared.stats.error_reply(text);
        }
        reply
    }

    /// Runs one command through its handler, counted for INFO
    /// commandstats and errorstats.
    pub(crate) fn run(&mut self, spec: &'static CommandSpec, command: &Command) -> Option<Reply> {
        self.note_command(spec);
        self.caching = self.next_caching.take();
        self.skip_reply = std::mem::take(&mut self.skip_next_reply);
        let database = self.database;
        let started = Instant::now();
        let reply = match spec.handler {
            Handler::Client(handler) => handler(self, command.arguments()),
            Handler::Data(_) if spec.has(CommandFlags::BLOCKING) => {
                let reply = self.run_blocking(spec, command);
                if self.waiting.is_some() {
                    // Counted once, when it answers.
                    return None;
                }
                reply
            }
            Handler::Data(_) if spec.id == CommandId::Debug => {
                self.shared.scripts.note_debug(command.arguments());
                Some(self.session.execute(&Request {
                    database: self.database,
                    spec,
                    command: command.clone(),
                    protocol: self.protocol,
                }))
            }
            Handler::Data(_) => Some(self.session.execute(&Request {
                database: self.database,
                spec,
                command: command.clone(),
                protocol: self.protocol,
            })),
            Handler::Container => Some(table::wrong_arity(spec)),
        };
        // An EXEC that ran fails only as a whole (EXEC without MULTI,
        // EXECABORT): its commands' errors are theirs, counted by `exec`.
        let failed = match &reply {
            Some(Reply::Error(text)) => {
                self.shared.stats.error_reply(text);
                true
            }
            _ => false,
        };
        let usec = elapsed_usec(started);
        self.shared.stats.called(spec.id, usec, failed);
        self.after_call(spec, command.arguments(), database, usec, failed);
        if self.replies_off || self.skip_reply {
            // Pub/sub confirmations and messages still go, as in Redis.
            return reply.and_then(Reply::pushes_only);
        }
        reply
    }

    /// After a command ran (through [`Client::run`], in a pipelined group
    /// or in an EXEC block): the slow log, the monitors, and the clients
    /// tracking its keys hear of it.
    pub(crate) fn after_call(
        &mut self,
        spec: &'static CommandSpec,
        arguments: &[Bytes],
        database: DatabaseIndex,
        usec: u64,
        failed: bool,
    ) {
        // No clone of `shared` (two atomic operations per command).
        if self.shared.slowlog.wants(usec) && !spec.has(CommandFlags::SKIP_SLOWLOG) {
            let name = self.name.clone().unwrap_or_default();
            self.shared
                .slowlog
                .record(spec, arguments, usec, self.entry.peer.to_string(), name);
        }
        super::monitor::feed(&self.shared, &self.entry, database, spec, arguments);
        super::tracking::after_call(self, spec, arguments, failed);
    }

    /// Records `spec` as the connection's last command (CLIENT LIST; the
    /// time of the last interaction is noted once per batch of requests).
    pub(crate) fn note_command(&self, spec: &'static CommandSpec) {
        self.entry.note_command(spec.id);
    }

    /// The command's row if it may be held back and run with its
    /// neighbours: a data command that needs no database exclusively or
    /// every database, outside MULTI, from an authenticated client.
    pub(crate) fn pipelinable(&mut self, command: &Command) -> Option<&'static CommandSpec> {
        let spec = self.last_resolved.resolve(command).ok()?;
        let pipelinable = self.authenticated
            && self.user_generation == self.shared.users.generation()
            && self.user.unrestricted()
            && self.transaction.is_none()
            && !self.has_modes()
            && matches!(spec.handler, Handler::Data(_))
            && !spec.has(CommandFlags::EXCLUSIVE)
            && !spec.has(CommandFlags::BLOCKING)
            && !spec.has(CommandFlags::ALL_DATABASES);
        pipelinable.then_some(spec)
    }
}

impl Client {
    /// Whether a mode applies to this client's next commands (MONITOR,
    /// pub/sub, CLIENT REPLY, TRACKING, CACHING): they then run one by one through
    /// [`Client::run`] rather than in a pipelined group.
    fn has_modes(&self) -> bool {
        self.monitoring
            || self.subscriptions > 0
            || self.replies_off
            || self.skip_next_reply
            || self.tracking.is_some()
            || self.next_caching.is_some()
    }
}

/// Microseconds since `started`, for INFO commandstats.
pub(crate) fn elapsed_usec(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The bytes of a request's arguments.
pub(crate) fn argument_bytes(command: &Command) -> usize {
    command
        .arguments()
        .iter()
        .map(|argument| argument.len())
        .sum()
}

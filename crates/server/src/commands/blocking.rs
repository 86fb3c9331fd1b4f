//! Blocking: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX,
//! BZMPOP, and XREAD and XREADGROUP with BLOCK (whose `$` is resolved to
//! the streams' last IDs before the first wait, and the request kept in
//! that form). Each handler (in `lists.rs`, `sorted_sets.rs`,
//! `stream_read.rs`) makes one
//! attempt in one transaction and answers null when every key is empty.
//! Here a connection outside MULTI then waits instead of answering: its
//! event loop keeps the request (as it keeps one CLIENT PAUSE holds) and
//! runs it again whenever a transaction that wrote commits anywhere (the
//! backend's write epoch moved; every loop is woken), until it answers,
//! its timeout passes (a null array) or CLIENT UNBLOCK ends it. No thread
//! waits: a blocked client is a held request of its event loop.
//!
//! As in Redis, the clients waiting on a key are served in the order they
//! blocked: a waiting client runs again only once every earlier one
//! sharing a key has tried since its turn came (`block_order.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::arguments::parse_float;
use super::stream_read::{LAST_IDS, parse_read};
use super::{Client, CommandId, CommandSpec, Request};
use crate::resp::{Command, Reply};
use crate::state::{ClientEntry, Shared};

/// How long a timeout of 0 ("forever") waits before the wait is simply
/// renewed: a bound for the event loop's timer.
pub const BLOCK_FOREVER: Duration = Duration::from_secs(100 * 24 * 3600);

/// CLIENT UNBLOCK … ERROR's reply to the blocked client.
pub const UNBLOCKED_TEXT: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// CLIENT UNBLOCK's reasons, as [`ClientEntry::unblock`] holds them.
pub const UNBLOCK_TIMEOUT: u8 = 1;
/// See [`UNBLOCK_TIMEOUT`].
pub const UNBLOCK_ERROR: u8 = 2;

/// A blocking command's timeout in seconds (a float, 0: forever), or
/// Redis's error.
pub fn parse_timeout(argument: &[u8]) -> Result<Duration, Reply> {
    let seconds = parse_float(argument)
        .ok_or_else(|| Reply::error("ERR timeout is not a float or out of range"))?;
    if seconds < 0.0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|timeout| timeout.as_millis() < i64::MAX as u128)
        .ok_or_else(|| Reply::error("ERR timeout is out of range"))
}

/// Where a blocking command's timeout is.
fn timeout_argument(id: CommandId, arguments: &[Bytes]) -> Option<&Bytes> {
    match id {
        CommandId::Blmpop | CommandId::Bzmpop => arguments.get(1),
        CommandId::Brpoplpush => arguments.get(3),
        CommandId::Blmove => arguments.get(5),
        _ => arguments.last(),
    }
}

/// How long the command may wait (zero: forever), or `None` when it never
/// waits (XREAD without BLOCK).
fn wait_allowed(id: CommandId, arguments: &[Bytes]) -> Option<Duration> {
    if matches!(id, CommandId::Xread | CommandId::Xreadgroup) {
        let options = parse_read(arguments, id == CommandId::Xreadgroup).ok()?;
        return options.block_ms.map(Duration::from_millis);
    }
    Some(
        timeout_argument(id, arguments)
            .and_then(|argument| parse_timeout(argument).ok())
            .unwrap_or_default(),
    )
}

/// A client's wait, counted in INFO's `blocked_clients` while it lasts,
/// and in line in [`Shared::block_order`](crate::state::Shared).
pub(crate) struct Block {
    deadline: Instant,
    /// Its place in the order of waits.
    sequence: crate::commands::block_order::Place,
    shared: Arc<Shared>,
    entry: Arc<ClientEntry>,
}

/// Where a wait's first attempt stood.
struct Attempt {
    /// When its request was read.
    received: Instant,
    database: crate::backend::DatabaseIndex,
    keys: Option<Vec<Bytes>>,
    /// The write epoch read before it ran.
    epoch: u64,
}

impl Block {
    /// A wait after an attempt (`tried`), or queued before any.
    fn new(
        deadline: Instant,
        attempt: Attempt,
        tried: bool,
        shared: &Arc<Shared>,
        entry: &Arc<ClientEntry>,
    ) -> Block {
        shared.blocked_clients.fetch_add(1, Ordering::AcqRel);
        entry.unblock.store(0, Ordering::Release);
        entry.blocked.store(true, Ordering::Release);
        let order = &shared.block_order;
        let sequence = if tried {
            order.enter(
                attempt.received,
                attempt.database,
                attempt.keys,
                attempt.epoch,
            )
        } else {
            order.enter_untried(
                attempt.received,
                attempt.database,
                attempt.keys,
                attempt.epoch,
            )
        };
        Block {
            deadline,
            sequence,
            shared: Arc::clone(shared),
            entry: Arc::clone(entry),
        }
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Block")
            .field("deadline", &self.deadline)
            .field("client", &self.entry.id)
            .finish()
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        self.entry.blocked.store(false, Ordering::Release);
        self.shared.blocked_clients.fetch_sub(1, Ordering::AcqRel);
        if self.shared.block_order.leave(self.sequence) {
            self.shared.wake_event_loops();
        }
    }
}

/// The keys a blocking command waits on, when they are at fixed
/// positions (`None` for BLMPOP, BZMPOP, XREAD and XREADGROUP).
fn waited_keys(spec: &CommandSpec, command: &Command) -> Option<Vec<Bytes>> {
    if spec.first_key <= 0 {
        return None;
    }
    Some(
        super::tracking::command_keys(spec, command.arguments())
            .cloned()
            .collect(),
    )
}

impl Client {
    /// Runs a blocking command once: its reply, or `None` with
    /// [`Client::waiting`] set when the connection is to wait and run it
    /// again.
    pub(crate) fn run_blocking(
        &mut self,
        spec: &'static CommandSpec,
        command: &Command,
    ) -> Option<Reply> {
        if self.block.is_some() {
            match self.entry.unblock.swap(0, Ordering::AcqRel) {
                UNBLOCK_TIMEOUT => return self.end_block(Reply::NullArray),
                UNBLOCK_ERROR => return self.end_block(Reply::error(UNBLOCKED_TEXT)),
                _ => {}
            }
        }
        let epoch = self.shared.backend.write_epoch();
        if let Some(block) = &self.block
            && !self.shared.block_order.may_run(block.sequence, epoch)
        {
            // An earlier client waiting on one of its keys has yet to try.
            let deadline = block.deadline;
            if deadline <= Instant::now() {
                return self.end_block(Reply::NullArray);
            }
            self.waiting = Some(deadline);
            return None;
        }
        let wait = wait_allowed(spec.id, command.arguments());
        let resolved;
        let mut command = command;
        if self.block.is_none() && wait.is_some() && spec.id == CommandId::Xread {
            resolved = self.resolve_last_ids(command);
            command = &resolved;
        }
        if self.block.is_none()
            && let Some(wait) = wait
        {
            let keys = waited_keys(spec, command);
            if self.shared.block_order.behind_earlier(
                self.received,
                self.database,
                keys.as_deref(),
                epoch,
            ) {
                // What a write just gave is for the earlier waits first.
                return self.queue_behind(wait, command, keys, epoch);
            }
        }
        let reply = self.session.execute(&Request {
            database: self.database,
            spec,
            command: command.clone(),
            protocol: self.protocol,
        });
        let Some(wait) = wait else {
            return self.end_block(reply);
        };
        if self.block.is_some()
            && spec.id == CommandId::Xreadgroup
            && let Some(reply) = self.group_read_gone(&reply, command)
        {
            return self.end_block(reply);
        }
        // A key that is of another type when a waiting client runs again
        // keeps it waiting, as Redis serves only keys of the right type.
        let wrong_type_while_waiting = self.block.is_some()
            && matches!(&reply, Reply::Error(text) if text == super::collection::WRONG_TYPE_TEXT)
            && !self.source_is_a_list(spec, command);
        if !matches!(reply, Reply::NullArray | Reply::NullBulk) && !wrong_type_while_waiting {
            return self.end_block(reply);
        }
        let now = Instant::now();
        let deadline = match &self.block {
            Some(block) => block.deadline,
            None => {
                let wait = if wait.is_zero() { BLOCK_FOREVER } else { wait };
                self.retry = Some(command.clone());
                now + wait
            }
        };
        if deadline <= now {
            return self.end_block(Reply::NullArray);
        }
        match &self.block {
            Some(block) => {
                if self.shared.block_order.attempted(block.sequence, epoch) {
                    self.shared.wake_event_loops();
                }
            }
            None => {
                let attempt = Attempt {
                    received: self.received,
                    database: self.database,
                    keys: waited_keys(spec, command),
                    epoch,
                };
                self.block = Some(Block::new(
                    deadline,
                    attempt,
                    true,
                    &self.shared,
                    &self.entry,
                ));
            }
        }
        self.waiting = Some(deadline);
        None
    }

    /// Waits, without trying, behind earlier waits on its keys that have
    /// yet to try since the last write.
    fn queue_behind(
        &mut self,
        wait: Duration,
        command: &Command,
        keys: Option<Vec<Bytes>>,
        epoch: u64,
    ) -> Option<Reply> {
        let wait = if wait.is_zero() { BLOCK_FOREVER } else { wait };
        let deadline = Instant::now() + wait;
        self.retry = Some(command.clone());
        let attempt = Attempt {
            received: self.received,
            database: self.database,
            keys,
            epoch,
        };
        self.block = Some(Block::new(
            deadline,
            attempt,
            false,
            &self.shared,
            &self.entry,
        ));
        self.waiting = Some(deadline);
        None
    }

    /// Whether BLMOVE's (BRPOPLPUSH's) source is a list: its WRONGTYPE
    /// is then the destination's, which Redis answers with, where a
    /// source of another type only keeps the client waiting.
    fn source_is_a_list(&mut self, spec: &'static CommandSpec, command: &Command) -> bool {
        if !matches!(spec.id, CommandId::Blmove | CommandId::Brpoplpush) {
            return false;
        }
        let source = command.arguments()[1].clone();
        let reply = self.session.execute(&Request {
            database: self.database,
            spec: super::table::spec_of(CommandId::Type),
            command: Command::from_parts([Bytes::from_static(b"TYPE"), source]),
            protocol: self.protocol,
        });
        reply == Reply::Simple("list".to_owned())
    }

    /// XREAD with each `$` replaced by its stream's last ID now (the
    /// request unchanged when it has none, or on an error, which the read
    /// itself then answers).
    fn resolve_last_ids(&mut self, command: &Command) -> Command {
        let arguments = command.arguments();
        let Ok(options) = parse_read(arguments, false) else {
            return command.clone();
        };
        let ids_index = options.streams_index + options.stream_count;
        if !arguments[ids_index..].iter().any(|id| id.as_ref() == b"$") {
            return command.clone();
        }
        let reply = self.session.execute(&Request {
            database: self.database,
            spec: &LAST_IDS,
            command: command.clone(),
            protocol: self.protocol,
        });
        let Reply::Array(ids) = reply else {
            return command.clone();
        };
        let mut rewritten = arguments[..ids_index].to_vec();
        for id in ids {
            let Reply::Bulk(id) = id else {
                return command.clone();
            };
            rewritten.push(id);
        }
        Command::from_parts(rewritten)
    }

    /// A waiting XREADGROUP's error when what it waits on is gone, as
    /// Redis ends it: its key deleted or of another type, or its group
    /// destroyed; `None` while both are there.
    fn group_read_gone(&mut self, reply: &Reply, command: &Command) -> Option<Reply> {
        let Reply::Error(text) = reply else {
            return None;
        };
        if !text.starts_with("NOGROUP") && text != super::collection::WRONG_TYPE_TEXT {
            return None;
        }
        let arguments = command.arguments();
        let options = parse_read(arguments, true).ok()?;
        let keys = &arguments[options.streams_index..][..options.stream_count];
        for key in keys {
            let reply = self.session.execute(&Request {
                database: self.database,
                spec: super::table::spec_of(CommandId::Type),
                command: Command::from_parts([Bytes::from_static(b"TYPE"), key.clone()]),
                protocol: self.protocol,
            });
            if reply != Reply::Simple("stream".to_owned()) {
                return Some(Reply::error("UNBLOCKED the stream key no longer exists"));
            }
        }
        Some(Reply::error(
            "NOGROUP the consumer group this client was blocked on no longer exists",
        ))
    }

    fn end_block(&mut self, reply: Reply) -> Option<Reply> {
        self.block = None;
        self.retry = None;
        Some(reply)
    }

    /// Whether the command just run waits, and until when (taken).
    pub(crate) fn take_waiting(&mut self) -> Option<Instant> {
        self.waiting.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_read_as_redis_reads_them() {
        assert_eq!(parse_timeout(b"0"), Ok(Duration::ZERO));
        assert_eq!(parse_timeout(b"0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(
            parse_timeout(b"-1"),
            Err(Reply::error("ERR timeout is negative"))
        );
        assert_eq!(
            parse_timeout(b"abc"),
            Err(Reply::error("ERR timeout is not a float or out of range"))
        );
        assert_eq!(
            parse_timeout(b"1e300"),
            Err(Reply::error("ERR timeout is out of range"))
        );
    }
}

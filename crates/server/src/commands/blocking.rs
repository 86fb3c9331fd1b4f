//! Blocking: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX,
//! BZMPOP. Each handler (in `lists.rs`, `sorted_sets.rs`) makes one
//! attempt in one transaction and answers null when every key is empty.
//! Here a connection outside MULTI then waits instead of answering: its
//! event loop keeps the request (as it keeps one CLIENT PAUSE holds) and
//! runs it again whenever a transaction that wrote commits anywhere (the
//! backend's write epoch moved; every loop is woken), until it answers,
//! its timeout passes (a null array) or CLIENT UNBLOCK ends it. No thread
//! waits: a blocked client is a held request of its event loop.
//!
//! Unlike Redis, a wake-up is not handed to the client that blocked
//! first: every blocked client tries again, and the first transaction to
//! commit wins.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::arguments::parse_float;
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

/// A client's wait, counted in INFO's `blocked_clients` while it lasts.
pub(crate) struct Block {
    deadline: Instant,
    shared: Arc<Shared>,
    entry: Arc<ClientEntry>,
}

impl Block {
    fn new(deadline: Instant, shared: &Arc<Shared>, entry: &Arc<ClientEntry>) -> Block {
        shared.blocked_clients.fetch_add(1, Ordering::AcqRel);
        entry.unblock.store(0, Ordering::Release);
        entry.blocked.store(true, Ordering::Release);
        Block {
            deadline,
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
    }
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
        let reply = self.session.execute(&Request {
            database: self.database,
            spec,
            command: command.clone(),
            protocol: self.protocol,
        });
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
                let timeout = timeout_argument(spec.id, command.arguments())
                    .and_then(|argument| parse_timeout(argument).ok())
                    .unwrap_or_default();
                let wait = if timeout.is_zero() {
                    BLOCK_FOREVER
                } else {
                    timeout
                };
                now + wait
            }
        };
        if deadline <= now {
            return self.end_block(Reply::NullArray);
        }
        if self.block.is_none() {
            self.block = Some(Block::new(deadline, &self.shared, &self.entry));
        }
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

    fn end_block(&mut self, reply: Reply) -> Option<Reply> {
        self.block = None;
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

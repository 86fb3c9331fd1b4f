//! The server's counters: INFO stats, commandstats and errorstats.
//! Per-command counters are atomics
//! indexed by [`CommandId`]: counting a call takes no lock.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::commands::CommandId;
use crate::state::lock;

/// Most distinct error codes INFO errorstats tracks (Redis's
/// `ERROR_STATS_NUMBER`); errors with other codes are counted in
/// `total_error_replies` only.
pub const ERROR_CODES_MAX: usize = 128;

/// One command's INFO commandstats counters, as read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CommandCounters {
    pub(crate) calls: u64,
    pub(crate) usec: u64,
    pub(crate) rejected_calls: u64,
    pub(crate) failed_calls: u64,
}

/// One command's counters, as kept.
#[derive(Debug, Default)]
struct AtomicCounters {
    calls: AtomicU64,
    usec: AtomicU64,
    rejected_calls: AtomicU64,
    failed_calls: AtomicU64,
}

/// Counters for INFO (stats, commandstats, errorstats);
/// CONFIG RESETSTAT zeroes them.
#[derive(Debug)]
pub(crate) struct ServerStats {
    pub(crate) connections_received: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) commands_processed: AtomicU64,
    pub(crate) error_replies: AtomicU64,
    pub(crate) net_input_bytes: AtomicU64,
    pub(crate) net_output_bytes: AtomicU64,
    /// Commit groups the event loops ran, and the commands in them.
    pub(crate) groups: AtomicU64,
    pub(crate) grouped_commands: AtomicU64,
    commands: Vec<AtomicCounters>,
    /// By error code (the error's first word).
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            connections_received: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            commands_processed: AtomicU64::new(0),
            error_replies: AtomicU64::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            groups: AtomicU64::new(0),
            grouped_commands: AtomicU64::new(0),
            commands: (0..CommandId::COUNT)
                .map(|_| AtomicCounters::default())
                .collect(),
            errors: Mutex::new(BTreeMap::new()),
        }
    }
}

impl ServerStats {
    /// Counts a call of a command that ran: its time and whether it
    /// replied with an error.
    pub(crate) fn called(&self, id: CommandId, usec: u64, failed: bool) {
        self.called_many(id, 1, usec, u64::from(failed));
    }

    /// Counts `calls` calls of one command at once (`failed` of them
    /// replied with an error), taking `usec` in all: a pipelined run of
    /// one command touches the counters, which every event loop shares,
    /// once rather than once per call.
    pub(crate) fn called_many(&self, id: CommandId, calls: u64, usec: u64, failed: u64) {
        let counters = &self.commands[id.index()];
        counters.calls.fetch_add(calls, Ordering::Relaxed);
        counters.usec.fetch_add(usec, Ordering::Relaxed);
        if failed > 0 {
            counters.failed_calls.fetch_add(failed, Ordering::Relaxed);
        }
    }

    /// Counts a command refused before it ran (arity, NOAUTH, inside
    /// MULTI); `None` for an unknown command.
    pub(crate) fn rejected(&self, id: Option<CommandId>) {
        if let Some(id) = id {
            self.commands[id.index()]
                .rejected_calls
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an error reply by its code (`ERR`, `WRONGTYPE` …).
    pub(crate) fn error_reply(&self, text: &str) {
        self.error_replies.fetch_add(1, Ordering::Relaxed);
        let code = text.split(' ').next().unwrap_or_default();
        let mut errors = lock(&self.errors);
        if let Some(count) = errors.get_mut(code) {
            *count += 1;
        } else if errors.len() < ERROR_CODES_MAX {
            errors.insert(code.to_owned(), 1);
        }
    }

    /// The counters of every command called or refused at least once, by
    /// full name.
    pub(crate) fn command_lines(&self) -> Vec<(&'static str, CommandCounters)> {
        let mut lines: Vec<(&'static str, CommandCounters)> = CommandId::ALL
            .iter()
            .map(|id| {
                let kept = &self.commands[id.index()];
                let counters = CommandCounters {
                    calls: kept.calls.load(Ordering::Relaxed),
                    usec: kept.usec.load(Ordering::Relaxed),
                    rejected_calls: kept.rejected_calls.load(Ordering::Relaxed),
                    failed_calls: kept.failed_calls.load(Ordering::Relaxed),
                };
                (id.full_name(), counters)
            })
            .filter(|(_, counters)| *counters != CommandCounters::default())
            .collect();
        lines.sort_by(|a, b| a.0.cmp(b.0));
        lines
    }

    /// `errorstat_<code>` counts.
    pub(crate) fn error_counts(&self) -> Vec<(String, u64)> {
        lock(&self.errors)
            .iter()
            .map(|(code, count)| (code.clone(), *count))
            .collect()
    }

    /// CONFIG RESETSTAT.
    pub(crate) fn reset(&self) {
        for counter in [
            &self.connections_received,
            &self.connections_rejected,
            &self.commands_processed,
            &self.error_replies,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.groups,
            &self.grouped_commands,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        for counters in &self.commands {
            counters.calls.store(0, Ordering::Relaxed);
            counters.usec.store(0, Ordering::Relaxed);
            counters.rejected_calls.store(0, Ordering::Relaxed);
            counters.failed_calls.store(0, Ordering::Relaxed);
        }
        lock(&self.errors).clear();
    }
}

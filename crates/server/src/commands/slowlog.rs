//! SLOWLOG: the commands that took at least `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them, as
//! Redis keeps them (arguments cut to 32, each to 128 bytes; passwords
//! redacted).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;

use super::client::Client;
use super::monitor::redacted_arguments;
use super::table::CommandSpec;
use crate::resp::{Reply, parse_integer};
use crate::state::lock;

/// Most arguments an entry keeps (Redis `SLOWLOG_ENTRY_MAX_ARGC`); the
/// last kept one says how many more there were.
pub const SLOWLOG_ENTRY_ARGUMENTS_MAX: usize = 32;

/// Longest argument an entry keeps (Redis `SLOWLOG_ENTRY_MAX_STRING`).
pub const SLOWLOG_ENTRY_ARGUMENT_BYTES_MAX: usize = 128;

/// Entries SLOWLOG GET returns without a count.
const GET_COUNT_DEFAULT: i64 = 10;

/// One logged command.
#[derive(Clone, Debug)]
struct Entry {
    id: u64,
    unix_s: i64,
    duration_us: u64,
    arguments: Vec<Bytes>,
    peer: String,
    name: Bytes,
}

/// The slow log and its two parameters.
#[derive(Debug)]
pub(crate) struct SlowLog {
    entries: Mutex<VecDeque<Entry>>,
    next_id: AtomicU64,
    /// `slowlog-log-slower-than`: negative disables the log, 0 logs every
    /// command.
    slower_than_us: AtomicI64,
    /// `slowlog-max-len`.
    length_max: AtomicU64,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            entries: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(0),
            slower_than_us: AtomicI64::new(10_000),
            length_max: AtomicU64::new(128),
        }
    }
}

impl SlowLog {
    /// Applies the parameters (CONFIG SET).
    pub(crate) fn configure(&self, slower_than_us: i64, length_max: u64) {
        self.slower_than_us.store(slower_than_us, Ordering::Relaxed);
        self.length_max.store(length_max, Ordering::Relaxed);
        let keep = usize::try_from(length_max).unwrap_or(usize::MAX);
        lock(&self.entries).truncate(keep);
    }

    /// Whether a command of `duration_us` is logged: checked per command
    /// without a lock.
    pub(crate) fn wants(&self, duration_us: u64) -> bool {
        let threshold = self.slower_than_us.load(Ordering::Relaxed);
        threshold >= 0 && i64::try_from(duration_us).unwrap_or(i64::MAX) >= threshold
    }

    /// Logs a command that took `duration_us`.
    pub(crate) fn record(
        &self,
        spec: &CommandSpec,
        arguments: &[Bytes],
        duration_us: u64,
        peer: String,
        name: Bytes,
    ) {
        let length_max = usize::try_from(self.length_max.load(Ordering::Relaxed)).unwrap_or(0);
        if length_max == 0 {
            return;
        }
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            unix_s: unix_seconds(),
            duration_us,
            arguments: kept_arguments(&redacted_arguments(spec, arguments)),
            peer,
            name,
        };
        let mut entries = lock(&self.entries);
        entries.push_front(entry);
        entries.truncate(length_max);
    }
}

fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

/// The arguments as an entry keeps them (copies: they outlive the
/// request).
fn kept_arguments(arguments: &[Bytes]) -> Vec<Bytes> {
    let count = arguments.len();
    let kept = if count > SLOWLOG_ENTRY_ARGUMENTS_MAX {
        SLOWLOG_ENTRY_ARGUMENTS_MAX - 1
    } else {
        count
    };
    let mut out: Vec<Bytes> = arguments[..kept]
        .iter()
        .map(|argument| {
            if argument.len() > SLOWLOG_ENTRY_ARGUMENT_BYTES_MAX {
                let mut cut = argument[..SLOWLOG_ENTRY_ARGUMENT_BYTES_MAX].to_vec();
                let more = argument.len() - SLOWLOG_ENTRY_ARGUMENT_BYTES_MAX;
                cut.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
                Bytes::from(cut)
            } else {
                Bytes::copy_from_slice(argument)
            }
        })
        .collect();
    if kept < count {
        out.push(Bytes::from(format!(
            "... ({} more arguments)",
            count - kept
        )));
    }
    out
}

/// SLOWLOG GET [count].
pub(crate) fn get(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let count = match arguments.get(2) {
        None => GET_COUNT_DEFAULT,
        Some(text) => match parse_integer(text) {
            Some(count) if count >= -1 => count,
            _ => {
                return Some(Reply::error(
                    "ERR count should be greater than or equal to -1",
                ));
            }
        },
    };
    let entries = lock(&client.shared.slowlog.entries);
    let take = if count < 0 {
        entries.len()
    } else {
        usize::try_from(count).unwrap_or(usize::MAX)
    };
    Some(Reply::Array(
        entries
            .iter()
            .take(take)
            .map(|entry| {
                Reply::Array(vec![
                    Reply::Integer(i64::try_from(entry.id).unwrap_or(i64::MAX)),
                    Reply::Integer(entry.unix_s),
                    Reply::Integer(i64::try_from(entry.duration_us).unwrap_or(i64::MAX)),
                    Reply::Array(entry.arguments.iter().cloned().map(Reply::Bulk).collect()),
                    Reply::bulk(&entry.peer),
                    Reply::Bulk(entry.name.clone()),
                ])
            })
            .collect(),
    ))
}

/// SLOWLOG LEN.
pub(crate) fn len(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    let length = lock(&client.shared.slowlog.entries).len();
    Some(super::count_reply(length))
}

/// SLOWLOG RESET.
pub(crate) fn reset(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    lock(&client.shared.slowlog.entries).clear();
    Some(Reply::ok())
}

/// The lines of SLOWLOG HELP.
pub(crate) const HELP_LINES: &[&str] = &[
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_cut_as_redis_cuts_them() {
        let arguments: Vec<Bytes> = (0..40)
            .map(|index| Bytes::from(format!("a{index}")))
            .collect();
        let kept = kept_arguments(&arguments);
        assert_eq!(kept.len(), SLOWLOG_ENTRY_ARGUMENTS_MAX);
        assert_eq!(kept[31], Bytes::from("... (9 more arguments)"));
        let long = vec![Bytes::from(vec![b'x'; 130])];
        let kept = kept_arguments(&long);
        assert_eq!(kept[0].len(), 128 + "... (2 more bytes)".len());
        assert!(kept[0].ends_with(b"... (2 more bytes)"));
    }

    #[test]
    fn the_threshold_and_length_apply() {
        let log = SlowLog::default();
        assert!(!log.wants(9_999) && log.wants(10_000));
        log.configure(-1, 128);
        assert!(!log.wants(u64::MAX));
        log.configure(0, 2);
        assert!(log.wants(0));
        let spec = super::super::table::spec_of(super::super::CommandId::Get);
        for index in 0..3 {
            log.record(
                spec,
                &[Bytes::from("get"), Bytes::from(format!("k{index}"))],
                5,
                "127.0.0.1:1".to_owned(),
                Bytes::new(),
            );
        }
        let entries = lock(&log.entries);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].id, 2, "newest first");
    }
}

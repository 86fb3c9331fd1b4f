//! MONITOR: a connection that asks receives every command any client
//! runs, after it ran, as Redis writes them:
//! `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`. Administrative
//! commands are not shown, and passwords are redacted.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::client::Client;
use super::id::CommandId;
use super::table::{CommandFlags, CommandSpec};
use crate::backend::DatabaseIndex;
use crate::resp::Reply;
use crate::state::{ClientEntry, Shared, lock};

/// What replaces a password in MONITOR and SLOWLOG.
const REDACTED: &str = "(redacted)";

/// MONITOR.
pub(crate) fn monitor(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    let shared = Arc::clone(&client.shared);
    let mut monitors = lock(&shared.monitors);
    if !monitors.iter().any(|entry| entry.id == client.id()) {
        monitors.push(Arc::clone(&client.entry));
        shared
            .monitor_count
            .store(monitors.len(), Ordering::Release);
    }
    client.monitoring = true;
    Some(Reply::ok())
}

/// Forgets a closed connection if it was a monitor.
pub(crate) fn forget(shared: &Shared, id: u64) {
    if shared.monitor_count.load(Ordering::Acquire) == 0 {
        return;
    }
    let mut monitors = lock(&shared.monitors);
    monitors.retain(|entry| entry.id != id);
    shared
        .monitor_count
        .store(monitors.len(), Ordering::Release);
}

/// The arguments with passwords replaced (AUTH's, HELLO … AUTH's), as
/// Redis's `redactClientCommandArgument` shows them.
pub(crate) fn redacted_arguments<'a>(
    spec: &CommandSpec,
    arguments: &'a [Bytes],
) -> Cow<'a, [Bytes]> {
    let redacted = Bytes::from_static(REDACTED.as_bytes());
    match spec.id {
        CommandId::Auth => {
            let mut out = arguments.to_vec();
            for argument in out.iter_mut().skip(1) {
                *argument = redacted.clone();
            }
            Cow::Owned(out)
        }
        CommandId::Hello => {
            let Some(at) = arguments
                .iter()
                .position(|argument| argument.eq_ignore_ascii_case(b"AUTH"))
            else {
                return Cow::Borrowed(arguments);
            };
            let mut out = arguments.to_vec();
            for argument in out.iter_mut().skip(at + 1).take(2) {
                *argument = redacted.clone();
            }
            Cow::Owned(out)
        }
        _ => Cow::Borrowed(arguments),
    }
}

/// Whether a command is shown to monitors.
pub(crate) fn shown(spec: &CommandSpec) -> bool {
    !spec.has(CommandFlags::ADMIN) && spec.id != CommandId::Monitor
}

/// Sends a command that ran to every monitor (nothing to do, and no lock
/// taken, without one).
pub(crate) fn feed(
    shared: &Shared,
    from: &ClientEntry,
    database: DatabaseIndex,
    spec: &CommandSpec,
    arguments: &[Bytes],
) {
    if shared.monitor_count.load(Ordering::Acquire) == 0 || !shown(spec) {
        return;
    }
    let line = line(from, database, &redacted_arguments(spec, arguments));
    let monitors: Vec<Arc<ClientEntry>> = lock(&shared.monitors).clone();
    for monitor in monitors {
        monitor.push(&line);
    }
}

/// One MONITOR line.
fn line(from: &ClientEntry, database: DatabaseIndex, arguments: &[Bytes]) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [{database} {}]",
        now.as_secs(),
        now.subsec_micros(),
        from.peer
    )
    .into_bytes();
    for argument in arguments {
        line.push(b' ');
        quoted(&mut line, argument);
    }
    line.extend_from_slice(b"\r\n");
    line
}

/// `bytes` as Redis's `sdscatrepr` quotes them.
pub(crate) fn quoted(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &byte in bytes {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(byte),
            other => out.extend_from_slice(format!("\\x{other:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::table::spec_of;

    #[test]
    fn arguments_are_quoted_as_sdscatrepr_does() {
        let mut out = Vec::new();
        quoted(&mut out, b"a \"b\"\\\r\n\t\x07\x08\x01\xff");
        assert_eq!(out, br#""a \"b\"\\\r\n\t\a\b\x01\xff""#.to_vec());
    }

    #[test]
    fn passwords_are_redacted() {
        let auth = [Bytes::from("auth"), Bytes::from("user"), Bytes::from("pw")];
        let shown = redacted_arguments(spec_of(CommandId::Auth), &auth);
        assert_eq!(
            &shown[..],
            ["auth", "(redacted)", "(redacted)"].map(Bytes::from)
        );
        let hello = ["hello", "2", "AUTH", "u", "p", "SETNAME", "n"].map(Bytes::from);
        let shown = redacted_arguments(spec_of(CommandId::Hello), &hello);
        assert_eq!(
            &shown[..],
            [
                "hello",
                "2",
                "AUTH",
                "(redacted)",
                "(redacted)",
                "SETNAME",
                "n"
            ]
            .map(Bytes::from)
        );
        let get = [Bytes::from("get"), Bytes::from("k")];
        assert!(matches!(
            redacted_arguments(spec_of(CommandId::Get), &get),
            Cow::Borrowed(_)
        ));
    }
}

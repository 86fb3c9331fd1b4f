//! Serving BUSY: while a script runs past `busy-reply-threshold`, its
//! event loop cannot read its other clients, so the script's hook answers
//! them straight on their sockets.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::BUSY_TEXT;
use crate::resp::Reply;
use crate::state::lock;

/// While a script is busy on this event loop: answers what this loop's
/// other idle clients sent — BUSY, or SCRIPT KILL / FUNCTION KILL done —
/// straight on their sockets, as Redis answers clients while a script
/// runs (their loop cannot). A client with anything buffered in its
/// connection is left alone (an answer now would overtake it); a request
/// not yet whole is kept for the connection to read first.
pub(super) fn serve_busy(shared: &crate::state::Shared, me: &crate::state::ClientEntry) {
    use std::io::{Read, Write};
    let Some(my_loop) = me.waker.get() else {
        return;
    };
    // Connections handed to this loop that it has not adopted yet are its
    // too (the loop adopts them with their socket non-blocking).
    let handed: Vec<Arc<crate::state::ClientEntry>> = lock(&my_loop.inbox)
        .iter()
        .map(|(entry, stream)| {
            let _ = stream.set_nonblocking(true);
            Arc::clone(entry)
        })
        .collect();
    for entry in shared.clients() {
        if entry.id == me.id || !entry.idle.load(Ordering::Acquire) {
            continue;
        }
        let same_loop = handed.iter().any(|handed| handed.id == entry.id)
            || entry
                .waker
                .get()
                .is_some_and(|waker| Arc::ptr_eq(&waker.wake, &my_loop.wake));
        if !same_loop {
            continue;
        }
        let mut unread = lock(&entry.unread);
        let mut chunk = [0u8; 4096];
        loop {
            match (&entry.stream).read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(read) => unread.extend_from_slice(&chunk[..read]),
            }
        }
        if unread.is_empty() {
            continue;
        }
        let mut input = bytes::BytesMut::from(&unread[..]);
        let mut parser = crate::resp::RequestParser::new(shared.options.limits.clone());
        let mut out = Vec::new();
        let protocol = entry.protocol();
        loop {
            let before = input.clone();
            match parser.parse_shared(&mut input) {
                Ok(Some(command)) if command.is_empty() => {}
                Ok(Some(command)) => {
                    let arguments = command.arguments();
                    let kills = arguments.len() == 2
                        && (arguments[0].eq_ignore_ascii_case(b"SCRIPT")
                            || arguments[0].eq_ignore_ascii_case(b"FUNCTION"))
                        && arguments[1].eq_ignore_ascii_case(b"KILL");
                    let reply = if kills {
                        shared.scripts.kill_all();
                        Reply::ok()
                    } else {
                        Reply::error(BUSY_TEXT)
                    };
                    reply.encode(protocol, &mut out);
                }
                Ok(None) => break,
                Err(_) => {
                    // The connection answers its protocol error itself.
                    input = before;
                    break;
                }
            }
        }
        entry.keep_unread(&mut unread, input.to_vec());
        drop(unread);
        // A few bytes on a socket that was empty of output: they fit.
        let _ = (&entry.stream).write_all(&out);
    }
}

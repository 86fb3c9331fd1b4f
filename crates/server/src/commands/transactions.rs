//! MULTI, EXEC, DISCARD, WATCH, UNWATCH. The client queues a block's
//! commands; EXEC sends its data commands to the session as one
//! transaction and runs the others after it, replies in queue order.

use std::time::Instant;

use bytes::Bytes;

use super::Request;
use super::client::{Client, Queued};
use super::connection::database_index;
use super::dispatch::elapsed_usec;
use super::id::CommandId;
use super::table::Handler;
use crate::resp::Reply;

/// MULTI.
pub(crate) fn multi(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    if client.transaction.is_some() {
        return Some(Reply::error("ERR MULTI calls can not be nested"));
    }
    client.transaction = Some(Queued::default());
    Some(Reply::ok())
}

/// DISCARD.
pub(crate) fn discard(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    if client.transaction.take().is_none() {
        return Some(Reply::error("ERR DISCARD without MULTI"));
    }
    client.session.unwatch();
    Some(Reply::ok())
}

/// WATCH key [key …].
pub(crate) fn watch(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    if client.transaction.is_some() {
        return Some(Reply::error("ERR WATCH inside MULTI is not allowed"));
    }
    // The session keeps the keys: copies, not slices of the read buffer.
    let keys: Vec<Bytes> = arguments[1..]
        .iter()
        .map(|key| Bytes::copy_from_slice(key))
        .collect();
    client.session.watch(client.database, &keys);
    Some(Reply::ok())
}

/// UNWATCH.
pub(crate) fn unwatch(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    client.session.unwatch();
    Some(Reply::ok())
}

/// The block's data commands, each with the database it runs in (a
/// queued SELECT moves the ones after it).
fn data_requests(client: &Client, block: &Queued) -> Vec<Request> {
    let mut database = client.database;
    let mut requests = Vec::new();
    for (spec, command) in &block.commands {
        if matches!(spec.handler, Handler::Data(_)) {
            requests.push(Request {
                database,
                spec,
                command: command.clone(),
                protocol: client.protocol,
            });
        } else if spec.id == CommandId::Select
            && let Ok(index) = database_index(client, &command.arguments()[1])
        {
            database = index;
        }
    }
    requests
}

/// EXEC: the data commands go to the session as one transaction; the
/// others run afterwards, only if the transaction ran, and the replies
/// are put back in queue order.
pub(crate) fn exec(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    let Some(block) = client.transaction.take() else {
        return Some(Reply::error("ERR EXEC without MULTI"));
    };
    if block.dirty {
        client.session.unwatch();
        return Some(Reply::error(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let requests = data_requests(client, &block);
    let started = Instant::now();
    let Some(data_replies) = client.session.execute_transaction(&requests) else {
        return Some(Reply::NullArray);
    };
    let usec_each = elapsed_usec(started) / u64::try_from(requests.len().max(1)).unwrap_or(1);
    let mut data_replies = data_replies.into_iter();
    let mut replies = Vec::with_capacity(block.commands.len());
    client.in_exec = true;
    for (spec, command) in &block.commands {
        let reply = if matches!(spec.handler, Handler::Data(_)) {
            let reply = data_replies.next();
            let failed = match &reply {
                Some(Reply::Error(text)) => {
                    client.shared.stats.error_reply(text);
                    true
                }
                _ => false,
            };
            client.shared.stats.called(spec.id, usec_each, failed);
            let database = requests
                .iter()
                .find(|request| std::ptr::eq(request.spec, *spec))
                .map_or(client.database, |request| request.database);
            client.after_call(spec, command.arguments(), database, usec_each, failed);
            reply
        } else {
            client.run(spec, command)
        };
        replies.push(
            reply.unwrap_or_else(|| Reply::error("ERR the backend returned too few replies")),
        );
    }
    client.in_exec = false;
    Some(Reply::Array(replies))
}

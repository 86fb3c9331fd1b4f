//! Pub/sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, their UNSUBSCRIBEs,
//! PUBLISH, SPUBLISH and PUBSUB, with Redis 7's replies. The registry and
//! the delivery across event loops are `net/pubsub.rs`'s.
//!
//! A (un)subscription answers one confirmation per channel, each a push
//! (`>3` in RESP3, an array in RESP2) sent even under CLIENT REPLY OFF,
//! as Redis sends them. A RESP2 client subscribed to anything may only
//! (un)subscribe, PING, QUIT and RESET (`dispatch.rs` refuses the rest);
//! a RESP3 client may run anything, its messages interleaved with its
//! replies.

use bytes::Bytes;

use super::client::Client;
use super::count_reply;
use super::id::CommandId;
use crate::net::pubsub::{Confirmation, Kind};
use crate::resp::{ProtocolVersion, Reply};

/// Redis's refusal, in RESP2 pub/sub mode, of a command other than these.
pub(crate) fn only_pubsub_commands_text(full_name: &str) -> String {
    format!(
        "ERR Can't execute '{full_name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    )
}

/// Whether a RESP2 client in pub/sub mode may run `id`.
pub(crate) fn allowed_while_subscribed(id: CommandId) -> bool {
    matches!(
        id,
        CommandId::Ping
            | CommandId::Subscribe
            | CommandId::Ssubscribe
            | CommandId::Psubscribe
            | CommandId::Unsubscribe
            | CommandId::Sunsubscribe
            | CommandId::Punsubscribe
            | CommandId::Quit
            | CommandId::Reset
    )
}

/// The confirmations as replies sent back to back.
fn confirmations_reply(confirmations: Vec<Confirmation>) -> Reply {
    Reply::Sequence(
        confirmations
            .into_iter()
            .map(|(kind, name, count)| {
                Reply::Push(vec![
                    Reply::bulk(kind),
                    name.map_or(Reply::NullBulk, Reply::Bulk),
                    count_reply(count),
                ])
            })
            .collect(),
    )
}

fn subscribe_kind(client: &mut Client, arguments: &[Bytes], kind: Kind) -> Option<Reply> {
    // Redis refuses a client that must get one reply per command (a MULTI
    // block, whose SUBSCRIBE and PSUBSCRIBE it still allows for old
    // clients' sake, and a script).
    if client.in_exec && kind == Kind::Shard {
        return Some(Reply::error(
            "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    let shared = std::sync::Arc::clone(&client.shared);
    let (confirmations, total) = shared
        .pubsub
        .subscribe(&client.entry, kind, &arguments[1..]);
    client.subscriptions = total;
    Some(confirmations_reply(confirmations))
}

fn unsubscribe_kind(client: &mut Client, arguments: &[Bytes], kind: Kind) -> Option<Reply> {
    let shared = std::sync::Arc::clone(&client.shared);
    let (confirmations, total) = shared
        .pubsub
        .unsubscribe(client.id(), kind, &arguments[1..]);
    client.subscriptions = total;
    Some(confirmations_reply(confirmations))
}

/// SUBSCRIBE channel [channel …].
pub(crate) fn subscribe(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    subscribe_kind(client, arguments, Kind::Channel)
}

/// PSUBSCRIBE pattern [pattern …].
pub(crate) fn psubscribe(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    subscribe_kind(client, arguments, Kind::Pattern)
}

/// SSUBSCRIBE shardchannel [shardchannel …].
pub(crate) fn ssubscribe(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    subscribe_kind(client, arguments, Kind::Shard)
}

/// UNSUBSCRIBE [channel …].
pub(crate) fn unsubscribe(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    unsubscribe_kind(client, arguments, Kind::Channel)
}

/// PUNSUBSCRIBE [pattern …].
pub(crate) fn punsubscribe(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    unsubscribe_kind(client, arguments, Kind::Pattern)
}

/// SUNSUBSCRIBE [shardchannel …].
pub(crate) fn sunsubscribe(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    unsubscribe_kind(client, arguments, Kind::Shard)
}

/// Leaves every subscription without a confirmation (RESET).
pub(crate) fn forget(client: &mut Client) {
    if client.subscriptions > 0 {
        client.shared.pubsub.forget(client.id());
        client.subscriptions = 0;
    }
}

fn publish_kind(client: &mut Client, arguments: &[Bytes], shard: bool) -> Option<Reply> {
    let mut own = Vec::new();
    let receivers =
        client
            .shared
            .pubsub
            .publish(&arguments[1], &arguments[2], shard, client.id(), &mut own);
    let count = count_reply(receivers);
    if own.is_empty() {
        return Some(count);
    }
    // Messages to the publisher itself come first, as Redis writes them
    // into its output while PUBLISH runs.
    own.push(count);
    Some(Reply::Sequence(own))
}

/// PUBLISH channel message: the number of clients that received it.
pub(crate) fn publish(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    publish_kind(client, arguments, false)
}

/// SPUBLISH shardchannel message.
pub(crate) fn spublish(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    publish_kind(client, arguments, true)
}

/// Redis's `addReplySubcommandSyntaxError` for PUBSUB.
fn syntax_error(arguments: &[Bytes]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
        String::from_utf8_lossy(&arguments[1])
    ))
}

fn channels_kind(client: &mut Client, arguments: &[Bytes], shard: bool) -> Option<Reply> {
    if arguments.len() > 3 {
        return Some(syntax_error(arguments));
    }
    let pattern = arguments.get(2).map(|pattern| &pattern[..]);
    let channels = client.shared.pubsub.channels(shard, pattern);
    Some(Reply::Array(
        channels.into_iter().map(Reply::Bulk).collect(),
    ))
}

fn numsub_kind(client: &mut Client, arguments: &[Bytes], shard: bool) -> Option<Reply> {
    let mut replies = Vec::with_capacity(2 * arguments.len().saturating_sub(2));
    for channel in &arguments[2..] {
        replies.push(Reply::Bulk(channel.clone()));
        replies.push(count_reply(
            client.shared.pubsub.subscriber_count(shard, channel),
        ));
    }
    Some(Reply::Array(replies))
}

/// PUBSUB CHANNELS [pattern].
pub(crate) fn channels(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    channels_kind(client, arguments, false)
}

/// PUBSUB SHARDCHANNELS [pattern].
pub(crate) fn shardchannels(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    channels_kind(client, arguments, true)
}

/// PUBSUB NUMSUB [channel …].
pub(crate) fn numsub(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    numsub_kind(client, arguments, false)
}

/// PUBSUB SHARDNUMSUB [shardchannel …].
pub(crate) fn shardnumsub(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    numsub_kind(client, arguments, true)
}

/// PUBSUB NUMPAT: the patterns subscribed to (each counted once).
pub(crate) fn numpat(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    let (_, patterns, _, _) = client.shared.pubsub.totals();
    Some(count_reply(patterns))
}

/// The lines of PUBSUB HELP.
pub(crate) const HELP_LINES: &[&str] = &[
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
];

/// PING's reply in RESP2 pub/sub mode: `pong` and the message (empty
/// without one) as an array, which a subscribed client can tell from a
/// message.
pub(crate) fn subscribed_pong(client: &Client, message: Option<&Bytes>) -> Option<Reply> {
    (client.subscriptions > 0 && client.protocol == ProtocolVersion::Resp2).then(|| {
        Reply::Array(vec![
            Reply::bulk("pong"),
            message.map_or_else(|| Reply::bulk(""), |message| Reply::Bulk(message.clone())),
        ])
    })
}

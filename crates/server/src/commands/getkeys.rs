//! COMMAND GETKEYS and COMMAND GETKEYSANDFLAGS: the keys of a full
//! command, by the table's key positions ([`CommandSpec::keys`]).

use bytes::Bytes;

use super::client::Client;
use super::table::{self, CommandFlags, CommandSpec, MovableKeys};
use crate::resp::Reply;

/// COMMAND GETKEYS command [argument …].
pub(crate) fn getkeys(_: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(keys_reply(&arguments[2..], false))
}

/// COMMAND GETKEYSANDFLAGS command [argument …].
pub(crate) fn getkeys_and_flags(_: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(keys_reply(&arguments[2..], true))
}

/// The command `command` names, as Redis looks it up for GETKEYS: a
/// container's subcommand when one is given.
fn named(command: &[Bytes]) -> Option<&'static CommandSpec> {
    let spec = table::lookup(command.first()?)?;
    match command.get(1) {
        Some(name) if !spec.subcommands.is_empty() => {
            table::lookup_full_name(&[spec.name.as_bytes(), b"|", name.as_ref()].concat())
        }
        _ => Some(spec),
    }
}

/// The access flags of a key of `spec`, as Redis's key specifications
/// name them: read for a read-only command, read and write otherwise.
fn key_flags(spec: &CommandSpec) -> Reply {
    let flags: &[&str] = if spec.has(CommandFlags::READONLY) {
        &["RO", "access"]
    } else {
        &["RW", "access", "update"]
    };
    Reply::Set(
        flags
            .iter()
            .map(|flag| Reply::Simple((*flag).to_owned()))
            .collect(),
    )
}

fn keys_reply(command: &[Bytes], with_flags: bool) -> Reply {
    let Some(spec) = named(command) else {
        return Reply::error("ERR Invalid command specified");
    };
    if spec.first_key <= 0 && spec.movable_keys == MovableKeys::None {
        return Reply::error("ERR The command has no key arguments");
    }
    if !spec.arity_accepts(command.len()) {
        return Reply::error("ERR Invalid number of arguments specified for command");
    }
    let optional = matches!(
        spec.movable_keys,
        MovableKeys::Counted { optional: true, .. }
    );
    // A command that may name no key answers none where its keys are
    // not to be found, as Redis does.
    let keys: Vec<Reply> = match spec.keys(command) {
        Some(keys) if !keys.is_empty() => keys,
        _ if optional => Vec::new(),
        _ => return Reply::error("ERR Invalid arguments specified for command"),
    }
    .into_iter()
    .map(|key| match with_flags {
        false => Reply::Bulk(key.clone()),
        true => Reply::Array(vec![Reply::Bulk(key.clone()), key_flags(spec)]),
    })
    .collect();
    Reply::Array(keys)
}

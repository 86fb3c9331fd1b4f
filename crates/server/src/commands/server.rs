//! The server commands: INFO, CONFIG, COMMAND, SAVE, BGSAVE, LASTSAVE,
//! SHUTDOWN, DEBUG, TIME, FUNCTION, ROLE, LOLWUT and every container's
//! HELP.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument};
use super::client::{After, Client};
use super::collection::{KeyEntry, lookup};
use super::glob::GlobPattern;
use super::id::CommandId;
use super::object_info::{Digest, EMPTY_DIGEST, debug_object_line};
use super::table::{self, CommandSpec};
use super::{DataCall, KEYS_BATCH_MAX, Outcome};
use crate::resp::Reply;

/// INFO [section …].
pub(crate) fn info(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(Reply::verbatim_text(super::info::text(
        client,
        &arguments[1..],
    )))
}

/// TIME.
pub(crate) fn time(_: &mut Client, _: &[Bytes]) -> Option<Reply> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Some(Reply::Array(vec![
        Reply::bulk(now.as_secs().to_string()),
        Reply::bulk(now.subsec_micros().to_string()),
    ]))
}

/// SAVE: a checkpoint.
pub(crate) fn save(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(match client.shared.backend.save() {
        Ok(()) => Reply::ok(),
        Err(error) => Reply::error(format!("ERR {error}")),
    })
}

/// BGSAVE [SCHEDULE]: a checkpoint on a thread of its own.
pub(crate) fn bgsave(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    match arguments {
        [_] => {}
        [_, schedule] if schedule.eq_ignore_ascii_case(b"SCHEDULE") => {}
        _ => return Some(Reply::error(SYNTAX_ERROR_TEXT)),
    }
    Some(match client.shared.backend.background_save() {
        Ok(()) => Reply::Simple("Background saving started".to_owned()),
        Err(error) => Reply::error(format!("ERR {error}")),
    })
}

/// BGREWRITEAOF: keel's log needs no rewrite; a checkpoint (as BGSAVE)
/// is what makes the log short again.
pub(crate) fn bgrewriteaof(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(match client.shared.backend.background_save() {
        Ok(()) => Reply::Simple("Background append only file rewriting started".to_owned()),
        Err(error) => Reply::error(format!("ERR {error}")),
    })
}

/// LASTSAVE: the last checkpoint's Unix time.
pub(crate) fn lastsave(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(Reply::Integer(client.shared.backend.last_save_unix_s()))
}

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]: Redis closes the
/// connection without a reply and exits; the owner of the backend closes
/// the database once the server has stopped.
pub(crate) fn shutdown(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    for option in &arguments[1..] {
        if option.eq_ignore_ascii_case(b"ABORT") {
            return Some(Reply::error("ERR No shutdown in progress."));
        }
        if ![&b"NOSAVE"[..], b"SAVE", b"NOW", b"FORCE"]
            .iter()
            .any(|known| option.eq_ignore_ascii_case(known))
        {
            return Some(Reply::error(SYNTAX_ERROR_TEXT));
        }
    }
    tracing::info!("SHUTDOWN requested");
    client.shared.request_stop();
    client.after = After::CloseSilently;
    None
}

/// CONFIG GET pattern [pattern …].
pub(crate) fn config_get(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(super::config::get_reply(&client.shared, &arguments[2..]))
}

/// CONFIG SET name value [name value …].
pub(crate) fn config_set(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(super::config::set_reply(&client.shared, &arguments[2..]))
}

/// CONFIG RESETSTAT.
pub(crate) fn config_resetstat(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    client.shared.stats.reset();
    Some(Reply::ok())
}

/// COMMAND: every command's COMMAND INFO entry.
pub(crate) fn command(_: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(Reply::Array(
        table::commands()
            .iter()
            .map(CommandSpec::info_reply)
            .collect(),
    ))
}

/// COMMAND COUNT.
pub(crate) fn command_count(_: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(Reply::Integer(
        i64::try_from(table::commands().len()).unwrap_or(0),
    ))
}

/// COMMAND INFO [name …].
pub(crate) fn command_info(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let names = &arguments[2..];
    if names.is_empty() {
        return command(client, arguments);
    }
    Some(Reply::Array(
        names
            .iter()
            .map(|name| {
                table::lookup_full_name(name).map_or(Reply::NullBulk, CommandSpec::info_reply)
            })
            .collect(),
    ))
}

/// COMMAND DOCS [name …].
pub(crate) fn command_docs(_: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let names = &arguments[2..];
    let specs: Vec<&CommandSpec> = if names.is_empty() {
        table::commands().iter().collect()
    } else {
        names
            .iter()
            .filter_map(|name| table::lookup_full_name(name))
            .collect()
    };
    Some(Reply::Map(
        specs
            .into_iter()
            .map(|spec| (Reply::bulk(spec.name), spec.docs_reply()))
            .collect(),
    ))
}

/// COMMAND LIST [FILTERBY PATTERN pattern].
pub(crate) fn command_list(_: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let pattern = match &arguments[2..] {
        [] => None,
        [by, kind, pattern]
            if by.eq_ignore_ascii_case(b"FILTERBY") && kind.eq_ignore_ascii_case(b"PATTERN") =>
        {
            Some(GlobPattern::new(pattern, true))
        }
        _ => return Some(Reply::error(SYNTAX_ERROR_TEXT)),
    };
    Some(Reply::Array(
        table::commands()
            .iter()
            .filter(|spec| {
                pattern
                    .as_ref()
                    .is_none_or(|pattern| pattern.matches(spec.name.as_bytes()))
            })
            .map(|spec| Reply::bulk(spec.name))
            .collect(),
    ))
}

/// CLUSTER …: Redis's answer on a server without cluster support.
pub(crate) fn cluster(_: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(Reply::error(
        "ERR This instance has cluster support disabled",
    ))
}

/// ROLE: keel is a master without replicas.
pub(crate) fn role(_: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(Reply::Array(vec![
        Reply::bulk("master"),
        Reply::Integer(0),
        Reply::Array(Vec::new()),
    ]))
}

/// LOLWUT [VERSION n]: the version line, as Redis 7.0 answers a version
/// it draws no art for.
pub(crate) fn lolwut(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    if let [_, option, version, ..] = arguments
        && option.eq_ignore_ascii_case(b"VERSION")
        && let Err(reply) = integer_argument(version)
    {
        return Some(reply);
    }
    Some(Reply::verbatim_text(format!(
        "Redis ver. {}\n",
        client.shared.options.redis_version
    )))
}

/// Every container's HELP: its lines by the subcommand's id.
pub(crate) fn help(_: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let Some(spec) = table::lookup(&arguments[0]) else {
        return Some(table::unknown_command(&crate::resp::Command::new(
            arguments.to_vec(),
        )));
    };
    let lines: &[&str] = match spec.id {
        CommandId::Client => super::client::HELP_LINES,
        CommandId::Command => COMMAND_HELP,
        CommandId::Config => CONFIG_HELP,
        CommandId::Object => OBJECT_HELP,
        CommandId::Memory => MEMORY_HELP,
        CommandId::Slowlog => super::slowlog::HELP_LINES,
        CommandId::Latency => super::latency::HELP_LINES,
        CommandId::Pubsub => super::pubsub::HELP_LINES,
        CommandId::Script => super::scripting::HELP_LINES,
        CommandId::Xgroup => XGROUP_HELP,
        CommandId::Xinfo => XINFO_HELP,
        _ => FUNCTION_HELP,
    };
    Some(help_reply(&spec.name.to_ascii_uppercase(), lines))
}

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

const COMMAND_HELP: &[&str] = &[
    "(no subcommand)",
    "COUNT",
    "DOCS [<command-name> ...]",
    "INFO [<command-name> ...]",
    "LIST [FILTERBY PATTERN <pattern>]",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
];

const CONFIG_HELP: &[&str] = &[
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
];

const OBJECT_HELP: &[&str] = &[
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];

const MEMORY_HELP: &[&str] = &[
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
];

const FUNCTION_HELP: &[&str] = &[
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
];

/// A HELP reply: the usage line, the lines, HELP itself.
pub(crate) fn help_reply(container: &str, lines: &[&str]) -> Reply {
    let mut replies = vec![Reply::Simple(format!(
        "{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ))];
    replies.extend(lines.iter().map(|line| Reply::Simple((*line).to_owned())));
    replies.push(Reply::Simple("HELP".to_owned()));
    replies.push(Reply::Simple("    Prints this help.".to_owned()));
    Reply::Array(replies)
}

/// DEBUG subcommand [argument …]: OBJECT, DIGEST and DIGEST-VALUE read
/// data; RELOAD and LOADAOF checkpoint after the commit (keel's data on
/// disk is its data); the rest need no data (`debug.rs`).
pub(crate) fn debug(call: &mut DataCall<'_>) -> Outcome {
    let arguments = call.arguments;
    let subcommand = &arguments[1];
    let is = |name: &[u8]| subcommand.eq_ignore_ascii_case(name);
    if is(b"OBJECT") && arguments.len() == 3 {
        let key = arguments[2].clone();
        return Ok(match call.entry(&key)? {
            None => Reply::error("ERR no such key"),
            Some(KeyEntry::String(stored)) => {
                Reply::Simple(debug_object_line(&key, &stored.value))
            }
            Some(KeyEntry::Collection(collection)) => {
                let shape = collection.shape(call.store)?;
                Reply::Simple(format!(
                    "Value at:0x7f2000000000 refcount:1 encoding:{} serializedlength:{} lru:0 lru_seconds_idle:0",
                    shape.encoding(),
                    shape.total_bytes
                ))
            }
        }
        .into());
    }
    if is(b"DIGEST-VALUE") {
        let mut digests = Vec::with_capacity(arguments.len() - 2);
        for key in &arguments[2..] {
            digests.push(Reply::Simple(match call.entry(key)? {
                None => EMPTY_DIGEST.to_owned(),
                Some(entry) => entry.digest(call.store)?.hex(),
            }));
        }
        return Ok(Reply::Array(digests).into());
    }
    if is(b"DIGEST") && arguments.len() == 2 {
        return dataset_digest(call);
    }
    let reply = super::debug::reply_without_data(arguments);
    let no_save = arguments[2..]
        .iter()
        .any(|option| option.eq_ignore_ascii_case(b"NOSAVE"));
    if (is(b"RELOAD") || is(b"LOADAOF")) && !reply.is_error() && !no_save {
        call.store.checkpoint_after_commit()?;
    }
    Ok(reply.into())
}

/// DEBUG DIGEST: every database's keys, values and expiries, in order.
fn dataset_digest(call: &mut DataCall<'_>) -> Outcome {
    let mut digest = Digest::empty();
    for database in 0..call.store.database_count() {
        let mut after: Option<Bytes> = None;
        loop {
            let batch = call
                .store
                .keys_after(database, after.as_deref(), KEYS_BATCH_MAX)?;
            for key in &batch {
                if let Some(value) = lookup(call.store, database, key)? {
                    let mut entry = Digest::of_parts(&[&database.to_le_bytes(), key]);
                    entry.mix(&value.digest(call.store)?);
                    digest.mix(&entry);
                }
            }
            if batch.len() < KEYS_BATCH_MAX {
                break;
            }
            after = batch.last().cloned();
        }
    }
    Ok(Reply::Simple(digest.hex()).into())
}

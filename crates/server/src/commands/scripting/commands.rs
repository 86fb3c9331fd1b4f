//! The commands: EVAL, EVALSHA and their read-only forms (one path,
//! differing only in how the script is found), and SCRIPT LOAD, EXISTS,
//! FLUSH, KILL, DEBUG.

use bytes::Bytes;

use super::NOSCRIPT_TEXT;
use super::run::{Target, run};
use crate::commands::client::Client;
use crate::commands::id::CommandId;
use crate::commands::table;
use crate::resp::{Reply, parse_integer};
use crate::state::lock;

/// How EVAL and EVALSHA find their script: the only way they differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScriptBy {
    /// EVAL, EVAL_RO: argument 1 is the body, cached on the way.
    Body,
    /// EVALSHA, EVALSHA_RO: argument 1 is the SHA-1 of a cached body.
    Sha,
}

/// EVAL script numkeys [key …] [arg …] (and EVAL_RO).
pub(crate) fn eval(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(eval_script(client, arguments, ScriptBy::Body))
}

/// EVALSHA sha1 numkeys [key …] [arg …] (and EVALSHA_RO).
pub(crate) fn evalsha(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(eval_script(client, arguments, ScriptBy::Sha))
}

/// EVAL and EVALSHA: checks in Redis's order — a SHA-1 that cannot be
/// one, numkeys, then the script itself — and runs it.
fn eval_script(client: &mut Client, arguments: &[Bytes], by: ScriptBy) -> Reply {
    if by == ScriptBy::Sha && arguments[1].len() != 40 {
        return Reply::error(NOSCRIPT_TEXT);
    }
    let keys = match key_count(arguments) {
        Ok(keys) => keys,
        Err(reply) => return reply,
    };
    let scripts = &client.shared.scripts;
    let found = match by {
        ScriptBy::Body => scripts.load(&arguments[1]),
        ScriptBy::Sha => {
            let sha = String::from_utf8_lossy(&arguments[1]).to_ascii_lowercase();
            scripts
                .get(&sha)
                .map(|script| (sha, script))
                .ok_or_else(|| Reply::error(NOSCRIPT_TEXT))
        }
    };
    let (sha, script) = match found {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let read_only = matches!(
        table::lookup(&arguments[0]).map(|spec| spec.id),
        Some(CommandId::EvalRo | CommandId::EvalshaRo)
    );
    run(
        client,
        arguments,
        keys,
        Target::Eval(&sha, &script),
        read_only,
    )
}

/// EVAL's (and FCALL's) numkeys, checked as Redis checks it.
pub(crate) fn key_count(arguments: &[Bytes]) -> Result<usize, Reply> {
    let count = parse_integer(&arguments[2])
        .ok_or_else(|| Reply::error(crate::commands::arguments::NOT_AN_INTEGER_TEXT))?;
    if count > i64::try_from(arguments.len() - 3).unwrap_or(i64::MAX) {
        return Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    usize::try_from(count).map_err(|_| Reply::error("ERR Number of keys can't be negative"))
}

/// SCRIPT LOAD script.
pub(crate) fn script_load(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(match client.shared.scripts.load(&arguments[2]) {
        Ok((sha, _)) => Reply::bulk(sha),
        Err(reply) => reply,
    })
}

/// SCRIPT EXISTS sha1 [sha1 …].
pub(crate) fn script_exists(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let cache = lock(&client.shared.scripts.cache);
    Some(Reply::Array(
        arguments[2..]
            .iter()
            .map(|sha| {
                let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                Reply::Integer(i64::from(cache.scripts.contains_key(&sha)))
            })
            .collect(),
    ))
}

/// SCRIPT FLUSH [ASYNC|SYNC]: the cache emptied, every interpreter new.
pub(crate) fn script_flush(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let valid = match &arguments[2..] {
        [] => true,
        [mode] => mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC"),
        _ => false,
    };
    if !valid {
        return Some(Reply::error(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    let mut cache = lock(&client.shared.scripts.cache);
    cache.scripts.clear();
    cache.generation += 1;
    // Each interpreter is replaced when it next runs a script.
    lock(&client.shared.scripts.memory).clear();
    Some(Reply::ok())
}

/// SCRIPT KILL: stops the running scripts; what they wrote is rolled
/// back.
pub(crate) fn script_kill(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    if client.shared.scripts.kill_all() {
        Some(Reply::ok())
    } else {
        Some(Reply::error("NOTBUSY No scripts in execution right now."))
    }
}

/// SCRIPT DEBUG: keel has no Lua debugger.
pub(crate) fn script_debug(_: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let mode = &arguments[2];
    Some(if mode.eq_ignore_ascii_case(b"NO") {
        Reply::ok()
    } else if mode.eq_ignore_ascii_case(b"YES") || mode.eq_ignore_ascii_case(b"SYNC") {
        Reply::error("ERR keel has no Lua debugger")
    } else {
        Reply::error("ERR Use SCRIPT DEBUG YES/SYNC/NO")
    })
}

/// The lines of SCRIPT HELP.
pub(crate) const HELP_LINES: &[&str] = &[
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
];

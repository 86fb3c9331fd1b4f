//! Functions (Redis 7): FUNCTION LOAD, DELETE, FLUSH, LIST, KILL and
//! FCALL, FCALL_RO — Lua libraries whose `redis.register_function`
//! callbacks run as scripts do (`scripting/`): each call one
//! serializable transaction.

use bytes::Bytes;

use super::client::Client;
use super::scripting::{Target, key_count, run};
use crate::resp::Reply;

/// FUNCTION LOAD [REPLACE] code: the library's name.
pub(crate) fn load(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let (replace, code) = match &arguments[2..] {
        [code] => (false, code),
        [option, code] if option.eq_ignore_ascii_case(b"REPLACE") => (true, code),
        [option, _] => {
            return Some(Reply::error(format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(option)
            )));
        }
        _ => {
            return Some(super::table::wrong_arity(super::table::spec_of(
                super::CommandId::FunctionLoad,
            )));
        }
    };
    Some(match client.shared.scripts.load_library(code, replace) {
        Ok(name) => Reply::bulk(name),
        Err(reply) => reply,
    })
}

/// FUNCTION DELETE library.
pub(crate) fn delete(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let name = String::from_utf8_lossy(&arguments[2]);
    Some(if client.shared.scripts.delete_library(&name) {
        Reply::ok()
    } else {
        Reply::error("ERR Library not found")
    })
}

/// FUNCTION FLUSH [ASYNC|SYNC].
pub(crate) fn flush(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    match &arguments[2..] {
        [] => {}
        [mode] if mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC") => {}
        _ => {
            return Some(Reply::error(
                "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
            ));
        }
    }
    client.shared.scripts.flush_libraries();
    Some(Reply::ok())
}

/// FUNCTION KILL: stops the running scripts and functions.
pub(crate) fn kill(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(if client.shared.scripts.kill_all() {
        Reply::ok()
    } else {
        Reply::error("NOTBUSY No scripts in execution right now.")
    })
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
pub(crate) fn list(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let mut pattern = None;
    let mut with_code = false;
    let mut index = 2;
    while index < arguments.len() {
        let option = &arguments[index];
        if option.eq_ignore_ascii_case(b"WITHCODE") {
            with_code = true;
            index += 1;
        } else if option.eq_ignore_ascii_case(b"LIBRARYNAME") && index + 1 < arguments.len() {
            pattern = Some(super::glob::GlobPattern::new(&arguments[index + 1], false));
            index += 2;
        } else {
            return Some(Reply::error(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(option)
            )));
        }
    }
    let libraries = client.shared.scripts.libraries();
    let mut replies = Vec::new();
    for library in libraries.by_name.values() {
        if pattern
            .as_ref()
            .is_some_and(|pattern| !pattern.matches(library.name.as_bytes()))
        {
            continue;
        }
        let functions = library
            .functions
            .iter()
            .map(|(name, flags, description)| {
                Reply::Map(vec![
                    (Reply::bulk("name"), Reply::bulk(name)),
                    (
                        Reply::bulk("description"),
                        description.as_ref().map_or(Reply::NullBulk, Reply::bulk),
                    ),
                    (
                        Reply::bulk("flags"),
                        Reply::Set(
                            flags
                                .iter()
                                .map(|flag| Reply::Simple(flag.clone()))
                                .collect(),
                        ),
                    ),
                ])
            })
            .collect();
        let mut fields = vec![
            (Reply::bulk("library_name"), Reply::bulk(&library.name)),
            (Reply::bulk("engine"), Reply::bulk("LUA")),
            (Reply::bulk("functions"), Reply::Array(functions)),
        ];
        if with_code {
            fields.push((
                Reply::bulk("library_code"),
                Reply::Bulk(library.code.clone()),
            ));
        }
        replies.push(Reply::Map(fields));
    }
    Some(Reply::Array(replies))
}

/// FCALL function numkeys [key …] [arg …] (and FCALL_RO).
pub(crate) fn fcall(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let keys = match key_count(arguments) {
        Ok(keys) => keys,
        Err(reply) => return Some(reply),
    };
    let read_only = arguments[0].eq_ignore_ascii_case(b"FCALL_RO");
    let name = String::from_utf8_lossy(&arguments[1]).into_owned();
    Some(run(
        client,
        arguments,
        keys,
        Target::Function(&name),
        read_only,
    ))
}

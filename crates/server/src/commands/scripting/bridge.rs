//! `redis.call` and `redis.pcall`: a script's command parsed from Lua
//! values, checked as Redis checks commands in scripts (NOSCRIPT,
//! blocking, writes in read-only scripts), and run — a data command
//! inside the script's transaction, SELECT on the script's database,
//! PUBLISH held for after the commit — with its reply as a Lua value;
//! and `redis.setresp`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use mlua::{Lua, MultiValue, Value};

use super::convert::reply_to_lua;
use super::errors::{KILLED_TEXT, error_text};
use super::run::RunState;
use crate::commands::id::CommandId;
use crate::commands::table::{self, CommandFlags, Handler};
use crate::commands::{CommandSpec, Request};
use crate::resp::{Command, ProtocolVersion, Reply, format_double_17_digits};

/// `redis.call` and `redis.pcall`: the reply as a Lua value (an error
/// reply as an error table), or the text of an error of the call itself
/// (unknown command, refused in scripts …), which `call` raises.
pub(super) fn redis_call(
    lua: &Lua,
    state: &mut RunState<'_>,
    arguments: MultiValue,
) -> mlua::Result<Result<Value, String>> {
    let arguments = arguments.into_iter();
    let failed = |text: &str| -> mlua::Result<Result<Value, String>> { Ok(Err(error_text(text))) };
    if state.kill.load(Ordering::Acquire) {
        return failed(KILLED_TEXT);
    }
    let mut parts = Vec::with_capacity(arguments.len());
    for argument in arguments {
        match argument {
            Value::String(text) => parts.push(Bytes::copy_from_slice(&text.as_bytes())),
            Value::Number(number) => parts.push(Bytes::from(format_double_17_digits(number))),
            Value::Integer(number) => parts.push(Bytes::from(number.to_string())),
            _ => {
                return failed("Lua redis lib command arguments must be strings or integers");
            }
        }
    }
    if parts.is_empty() {
        return failed("Please specify at least one argument for this redis lib call");
    }
    let command = Command::new(parts);
    let spec = match table::resolve(&command) {
        Ok(spec) => spec,
        Err(_) if table::named_spec(&command).is_some() => {
            return failed("Wrong number of args calling Redis command from script");
        }
        Err(_) => return failed("Unknown Redis command called from script"),
    };
    let reply = match call_command(state, spec, &command) {
        Ok(reply) => reply,
        Err(text) => {
            state.client.shared.stats.rejected(Some(spec.id));
            return failed(&text);
        }
    };
    if let Reply::Error(text) = &reply {
        return Ok(Err(text.clone()));
    }
    Ok(Ok(reply_to_lua(lua, &reply, state.resp)?))
}

/// `redis.acl_check_cmd`: whether the script's user may run the command
/// with these arguments (the command known: the Lua side checked).
pub(super) fn acl_allowed(state: &RunState<'_>, arguments: &MultiValue) -> mlua::Result<bool> {
    let mut parts = Vec::with_capacity(arguments.len());
    for argument in arguments {
        match argument {
            Value::String(text) => parts.push(Bytes::copy_from_slice(&text.as_bytes())),
            Value::Number(number) => parts.push(Bytes::from(format_double_17_digits(*number))),
            Value::Integer(number) => parts.push(Bytes::from(number.to_string())),
            _ => {
                return Err(mlua::Error::runtime(
                    "ERR Lua redis lib command arguments must be strings or integers",
                ));
            }
        }
    }
    let command = Command::new(parts);
    let Some(spec) = table::resolve(&command)
        .ok()
        .or_else(|| table::named_spec(&command))
    else {
        return Ok(false);
    };
    Ok(state
        .client
        .user
        .denial(spec, command.arguments())
        .is_none())
}

/// Runs one command of a script: its reply, or the script's reason to
/// refuse it.
pub(super) fn call_command(
    state: &mut RunState<'_>,
    spec: &'static CommandSpec,
    command: &Command,
) -> Result<Reply, String> {
    let deny_disabled = state
        .client
        .shared
        .scripts
        .deny_disabled
        .load(Ordering::Relaxed);
    // XREAD and XREADGROUP run in a script, but never wait (Redis 7.0).
    let stream_read = matches!(spec.id, CommandId::Xread | CommandId::Xreadgroup);
    let refused =
        spec.has(CommandFlags::NOSCRIPT) || (spec.has(CommandFlags::BLOCKING) && !stream_read);
    if refused && !deny_disabled {
        return Err("This Redis command is not allowed from script".to_owned());
    }
    if let Some(denial) = state.client.user.denial(spec, command.arguments()) {
        return Err(denial.script_text().to_owned());
    }
    if stream_read {
        let group = spec.id == CommandId::Xreadgroup;
        let arguments = command.arguments();
        if crate::commands::stream_read::parse_read(arguments, group)
            .is_ok_and(|options| options.block_ms.is_some())
        {
            return Err(format!(
                "{} command is not allowed with BLOCK option from scripts",
                String::from_utf8_lossy(&arguments[0])
            ));
        }
    }
    let publishes = matches!(spec.id, CommandId::Publish | CommandId::Spublish);
    if state.read_only && (spec.may_write() || publishes) {
        return Err("Write commands are not allowed from read-only scripts.".to_owned());
    }
    let shared = Arc::clone(&state.client.shared);
    let started = Instant::now();
    let arguments = command.arguments();
    let reply = match spec.handler {
        Handler::Data(_) => state.calls.call(&Request {
            database: state.database,
            spec,
            command: command.clone(),
            protocol: state.resp,
        }),
        Handler::Client(_) if spec.id == CommandId::Select => {
            match crate::commands::connection::database_index(state.client, &arguments[1]) {
                Ok(index) => {
                    state.database = index;
                    Reply::ok()
                }
                Err(reply) => reply,
            }
        }
        Handler::Client(_) if publishes => {
            let shard = spec.id == CommandId::Spublish;
            let receivers = shared.pubsub.receivers(&arguments[1], shard);
            state.publishes.push((
                shard,
                Bytes::copy_from_slice(&arguments[1]),
                Bytes::copy_from_slice(&arguments[2]),
            ));
            crate::commands::count_reply(receivers)
        }
        Handler::Client(handler) => {
            let saved = state.client.protocol;
            state.client.protocol = state.resp;
            let reply = handler(state.client, arguments).unwrap_or(Reply::NullBulk);
            state.client.protocol = saved;
            reply
        }
        Handler::Container => table::wrong_arity(spec),
    };
    let failed = match &reply {
        Reply::Error(text) => {
            shared.stats.error_reply(text);
            true
        }
        _ => false,
    };
    let usec = crate::commands::dispatch::elapsed_usec(started);
    shared.stats.called(spec.id, usec, failed);
    Ok(reply)
}

/// `redis.setresp(n)`: the protocol of the replies the script gets; the
/// error text to raise, if any.
pub(super) fn set_resp(state: &mut RunState<'_>, arguments: &MultiValue) -> Option<String> {
    if arguments.len() != 1 {
        return Some("ERR redis.setresp() requires one argument.".to_owned());
    }
    let version = match arguments.front() {
        Some(Value::Integer(number)) => Some(*number),
        Some(Value::Number(number)) => Some(*number as i64),
        Some(Value::String(text)) => text.to_str().ok().and_then(|text| text.parse().ok()),
        _ => None,
    };
    match version {
        Some(2) => state.resp = ProtocolVersion::Resp2,
        Some(3) => state.resp = ProtocolVersion::Resp3,
        _ => return Some("ERR RESP version must be 2 or 3.".to_owned()),
    }
    None
}

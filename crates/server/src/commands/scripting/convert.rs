//! Replies and Lua values, both ways, as Redis converts them
//! (`redisProtocolToLuaType`, `luaReplyToRedisReply`): RESP3 types as
//! tables for a script that asked for RESP3, RESP2's downgrades
//! otherwise.

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::resp::{ProtocolVersion, Reply};

/// How deep a returned Lua table may nest before Redis's "reached lua
/// stack limit" error takes its place.
pub(super) const REPLY_DEPTH_MAX: usize = 1000;

/// A reply as the script sees it (`redisProtocolToLuaType`): RESP3 types
/// as tables (`{map=…}`, `{set=…}`, `{double=…}` …) when the script asked
/// for RESP3, RESP2's downgrades otherwise.
pub(super) fn reply_to_lua(lua: &Lua, reply: &Reply, resp: ProtocolVersion) -> mlua::Result<Value> {
    let resp3 = resp == ProtocolVersion::Resp3;
    let single = |field: &str, value: Value| -> mlua::Result<Value> {
        let table = lua.create_table()?;
        table.raw_set(field, value)?;
        Ok(Value::Table(table))
    };
    let array = |items: &[Reply]| -> mlua::Result<Value> {
        let table = lua.create_table_with_capacity(items.len(), 0)?;
        for (index, item) in items.iter().enumerate() {
            table.raw_set(index + 1, reply_to_lua(lua, item, resp)?)?;
        }
        Ok(Value::Table(table))
    };
    Ok(match reply {
        Reply::Simple(text) => single("ok", Value::String(lua.create_string(text)?))?,
        Reply::Error(text) => single("err", Value::String(lua.create_string(text)?))?,
        Reply::Integer(value) => Value::Number(*value as f64),
        Reply::Bulk(bytes) => Value::String(lua.create_string(&bytes[..])?),
        Reply::NullBulk | Reply::NullArray if resp3 => Value::Nil,
        Reply::NullBulk | Reply::NullArray => Value::Boolean(false),
        Reply::Array(items) | Reply::Push(items) | Reply::Sequence(items) => array(items)?,
        Reply::Set(items) if resp3 => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(reply_to_lua(lua, item, resp)?, true)?;
            }
            single("set", Value::Table(set))?
        }
        Reply::Set(items) => array(items)?,
        Reply::Map(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (key, value) in pairs {
                map.raw_set(
                    reply_to_lua(lua, key, resp)?,
                    reply_to_lua(lua, value, resp)?,
                )?;
            }
            single("map", Value::Table(map))?
        }
        Reply::Map(pairs) => {
            let table = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (index, (key, value)) in pairs.iter().enumerate() {
                table.raw_set(2 * index + 1, reply_to_lua(lua, key, resp)?)?;
                table.raw_set(2 * index + 2, reply_to_lua(lua, value, resp)?)?;
            }
            Value::Table(table)
        }
        Reply::Double(value) if resp3 => single("double", Value::Number(*value))?,
        Reply::Double(value) => {
            Value::String(lua.create_string(crate::resp::format_double(*value))?)
        }
        Reply::DoubleText(text) if resp3 => {
            let value = text.parse().unwrap_or(f64::NAN);
            single("double", Value::Number(value))?
        }
        Reply::DoubleText(text) => Value::String(lua.create_string(text)?),
        Reply::Boolean(value) if resp3 => Value::Boolean(*value),
        Reply::Boolean(value) => Value::Number(if *value { 1.0 } else { 0.0 }),
        Reply::BigNumber(digits) if resp3 => {
            single("big_number", Value::String(lua.create_string(digits)?))?
        }
        Reply::BigNumber(digits) => Value::String(lua.create_string(digits)?),
        Reply::Verbatim { format, text } if resp3 => {
            let verbatim = lua.create_table()?;
            verbatim.raw_set("format", lua.create_string(format)?)?;
            verbatim.raw_set("string", lua.create_string(&text[..])?)?;
            single("verbatim_string", Value::Table(verbatim))?
        }
        Reply::Verbatim { text, .. } => Value::String(lua.create_string(&text[..])?),
    })
}

/// What a script returns, as the client gets it (`luaReplyToRedisReply`).
pub(super) fn lua_to_reply(value: &Value, resp: ProtocolVersion, depth: usize) -> Reply {
    if depth > REPLY_DEPTH_MAX {
        return Reply::error("ERR reached lua stack limit");
    }
    let text = |value: &mlua::LuaString| Bytes::copy_from_slice(&value.as_bytes());
    match value {
        Value::String(string) => Reply::Bulk(text(string)),
        Value::Boolean(true) if resp == ProtocolVersion::Resp3 => Reply::Boolean(true),
        Value::Boolean(false) if resp == ProtocolVersion::Resp3 => Reply::Boolean(false),
        Value::Boolean(true) => Reply::Integer(1),
        Value::Boolean(false) => Reply::NullBulk,
        // C's (long long) cast truncates toward zero.
        Value::Number(number) => Reply::Integer(*number as i64),
        Value::Integer(number) => Reply::Integer(*number),
        Value::Table(table) => table_to_reply(table, resp, depth),
        _ => Reply::NullBulk,
    }
}

pub(super) fn table_to_reply(table: &Table, resp: ProtocolVersion, depth: usize) -> Reply {
    let field = |name: &str| table.raw_get::<Value>(name).unwrap_or(Value::Nil);
    let text = |value: &mlua::LuaString| String::from_utf8_lossy(&value.as_bytes()).into_owned();
    if let Value::String(error) = field("err") {
        let message = text(&error);
        return Reply::Error(message.trim_start_matches('-').to_owned());
    }
    if let Value::String(status) = field("ok") {
        return Reply::Simple(text(&status));
    }
    if let Value::Number(value) = field("double") {
        return Reply::Double(value);
    }
    if let Value::Integer(value) = field("double") {
        return Reply::Double(value as f64);
    }
    if let Value::String(digits) = field("big_number") {
        return Reply::BigNumber(text(&digits).replace(['\r', '\n'], " "));
    }
    if let Value::Table(verbatim) = field("verbatim_string")
        && let (Ok(Value::String(format)), Ok(Value::String(string))) = (
            verbatim.raw_get::<Value>("format"),
            verbatim.raw_get::<Value>("string"),
        )
    {
        let mut code = [b' '; 3];
        for (to, from) in code.iter_mut().zip(format.as_bytes().iter()) {
            *to = *from;
        }
        return Reply::Verbatim {
            format: code,
            text: Bytes::copy_from_slice(&string.as_bytes()),
        };
    }
    if let Value::Table(map) = field("map") {
        let pairs = map
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(key, value)| {
                (
                    lua_to_reply(&key, resp, depth + 1),
                    lua_to_reply(&value, resp, depth + 1),
                )
            })
            .collect();
        return Reply::Map(pairs);
    }
    if let Value::Table(set) = field("set") {
        let members = set
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(key, _)| lua_to_reply(&key, resp, depth + 1))
            .collect();
        return Reply::Set(members);
    }
    let mut items = Vec::new();
    for index in 1.. {
        match table.raw_get::<Value>(index) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(value) => items.push(lua_to_reply(&value, resp, depth + 1)),
        }
    }
    Reply::Array(items)
}

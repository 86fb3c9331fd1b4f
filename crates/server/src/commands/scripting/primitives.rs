//! The Rust functions keel's sandbox calls (`P` in `sandbox.lua`):
//! `sha1hex`, error texts, `log`, the random numbers, command lookups,
//! the version, and the `bit`, `cjson` and `cmsgpack` libraries.

use std::sync::{Arc, Mutex};

use mlua::{Lua, MultiValue, Table, Value};

use super::cache::sha1_hex;
use super::errors::{error_text, error_value_text};
use crate::commands::table;
use crate::state::lock;

/// Registers keel's Rust primitives in `P`.
pub(super) fn register_primitives(
    lua: &Lua,
    primitives: &Table,
    redis_version: &str,
) -> mlua::Result<()> {
    primitives.raw_set(
        "sha1hex",
        lua.create_function(|_, value: Value| {
            let bytes = match &value {
                Value::String(text) => text.as_bytes().to_vec(),
                Value::Number(number) => format_lua_number(*number).into_bytes(),
                Value::Integer(number) => number.to_string().into_bytes(),
                _ => Vec::new(),
            };
            Ok(sha1_hex(&bytes))
        })?,
    )?;
    primitives.raw_set(
        "error_text",
        lua.create_function(|_, text: mlua::LuaString| {
            let text = String::from_utf8_lossy(&text.as_bytes()).into_owned();
            let text = if text.starts_with('-') {
                text
            } else {
                format!("-{text}")
            };
            Ok(error_text(&text))
        })?,
    )?;
    primitives.raw_set(
        "log",
        lua.create_function(|_, arguments: MultiValue| {
            if arguments.len() < 2 {
                return Ok(Some(
                    "ERR redis.log() requires two arguments or more.".to_owned(),
                ));
            }
            let mut arguments = arguments.into_iter();
            let level = match arguments.next() {
                Some(Value::Number(level)) => level as i64,
                Some(Value::Integer(level)) => level,
                _ => {
                    return Ok(Some(
                        "ERR First argument must be a number (log level).".to_owned(),
                    ));
                }
            };
            if !(0..=3).contains(&level) {
                return Ok(Some("ERR Invalid debug level.".to_owned()));
            }
            let message: Vec<String> = arguments
                .map(|value| match value {
                    Value::String(text) => String::from_utf8_lossy(&text.as_bytes()).into_owned(),
                    Value::Number(number) => format_lua_number(number),
                    Value::Integer(number) => number.to_string(),
                    _ => String::new(),
                })
                .collect();
            let message = message.join(" ");
            match level {
                3 => tracing::warn!(target: "keel_server::script", "{message}"),
                2 => tracing::info!(target: "keel_server::script", "{message}"),
                _ => tracing::debug!(target: "keel_server::script", "{message}"),
            }
            Ok(None)
        })?,
    )?;
    primitives.raw_set(
        "error_message",
        lua.create_function(|_, error: Value| {
            Ok(match error {
                Value::Error(failure) => error_value_text(&failure),
                other => format!("ERR {other:?}"),
            })
        })?,
    )?;
    primitives.raw_set(
        "known_command",
        lua.create_function(|_, name: Value| {
            Ok(match name {
                Value::String(name) => table::lookup(&name.as_bytes()).is_some(),
                _ => false,
            })
        })?,
    )?;
    primitives.raw_set("version", redis_version)?;
    let number = redis_version.split('.').take(3).fold(0i64, |acc, part| {
        (acc << 8) | part.parse::<i64>().unwrap_or(0)
    });
    primitives.raw_set("version_number", number)?;
    // math.random and randomseed over a generator of the interpreter's
    // own (seeded at random: every run differs unless the script seeds).
    let state = Arc::new(Mutex::new(rand::random::<u64>() | 1));
    let random_state = Arc::clone(&state);
    primitives.raw_set(
        "random",
        lua.create_function(move |_, arguments: MultiValue| {
            let mut seed = lock(&random_state);
            // xorshift64*
            *seed ^= *seed >> 12;
            *seed ^= *seed << 25;
            *seed ^= *seed >> 27;
            let bits = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
            let r = bits as f64 / (1u64 << 53) as f64;
            let number = |value: &Value| match value {
                Value::Number(number) => Some(number.floor()),
                Value::Integer(number) => Some(*number as f64),
                _ => None,
            };
            let values: Vec<Value> = arguments.into_iter().collect();
            match values.as_slice() {
                [] => Ok(r),
                [upper] => {
                    let upper = number(upper).ok_or_else(|| {
                        mlua::Error::runtime("bad argument #1 to 'random' (number expected)")
                    })?;
                    if upper < 1.0 {
                        return Err(mlua::Error::runtime(
                            "bad argument #1 to 'random' (interval is empty)",
                        ));
                    }
                    Ok((r * upper).floor() + 1.0)
                }
                [lower, upper] => {
                    let lower = number(lower).ok_or_else(|| {
                        mlua::Error::runtime("bad argument #1 to 'random' (number expected)")
                    })?;
                    let upper = number(upper).ok_or_else(|| {
                        mlua::Error::runtime("bad argument #2 to 'random' (number expected)")
                    })?;
                    if lower > upper {
                        return Err(mlua::Error::runtime(
                            "bad argument #2 to 'random' (interval is empty)",
                        ));
                    }
                    Ok((r * (upper - lower + 1.0)).floor() + lower)
                }
                _ => Err(mlua::Error::runtime("wrong number of arguments")),
            }
        })?,
    )?;
    primitives.raw_set(
        "randomseed",
        lua.create_function(move |_, seed: Value| {
            let seed = match seed {
                Value::Number(number) => number as i64,
                Value::Integer(number) => number,
                Value::String(text) => text
                    .to_str()
                    .ok()
                    .and_then(|text| text.trim().parse::<f64>().ok())
                    .map_or(0, |number| number as i64),
                _ => 0,
            };
            // Any seed gives a nonzero state, and the same seed the same
            // sequence.
            *lock(&state) = (seed as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            Ok(())
        })?,
    )?;
    primitives.raw_set("bit", crate::commands::lua_libs::bit_library(lua)?)?;
    primitives.raw_set(
        "cjson",
        crate::commands::lua_libs::cjson_library(lua, format_lua_number)?,
    )?;
    primitives.raw_set(
        "cmsgpack",
        crate::commands::lua_libs::cmsgpack_library(lua)?,
    )?;
    Ok(())
}

/// A number as Lua's `tostring` shows it (`%.14g`).
pub(super) fn format_lua_number(number: f64) -> String {
    if number.fract() == 0.0 && number.abs() < 1e15 {
        return format!("{}", number as i64);
    }
    let scientific = format!("{number:.13e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-5..14).contains(&exponent) {
        let decimals = usize::try_from(13 - exponent).unwrap_or(0);
        let fixed = format!("{number:.decimals$}");
        let fixed = if fixed.contains('.') {
            fixed.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            fixed
        };
        return fixed;
    }
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    format!(
        "{mantissa}e{}{:02}",
        if exponent < 0 { '-' } else { '+' },
        exponent.abs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_numbers_print_as_lua_prints_them() {
        assert_eq!(format_lua_number(3.0), "3");
        assert_eq!(format_lua_number(0.1), "0.1");
        assert_eq!(format_lua_number(1e20), "1e+20");
        assert_eq!(format_lua_number(-2.5), "-2.5");
    }
}

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
        lua.create_function(|_, value| Ok(sha1hex(value)))?,
    )?;
    primitives.raw_set(
        "error_text",
        lua.create_function(|_, text| Ok(reply_error_text(text)))?,
    )?;
    primitives.raw_set(
        "log",
        lua.create_function(|_, arguments| Ok(log(arguments)))?,
    )?;
    primitives.raw_set(
        "error_message",
        lua.create_function(|_, error| Ok(error_message(error)))?,
    )?;
    primitives.raw_set(
        "known_command",
        lua.create_function(|_, name| Ok(known_command(name)))?,
    )?;
    primitives.raw_set("version", redis_version)?;
    primitives.raw_set("version_number", version_number(redis_version))?;
    // math.random and randomseed over a generator of the interpreter's
    // own (seeded at random: every run differs unless the script seeds).
    let state: RandomState = Arc::new(Mutex::new(rand::random::<u64>() | 1));
    let random_state = Arc::clone(&state);
    primitives.raw_set(
        "random",
        lua.create_function(move |_, arguments| random(&random_state, arguments))?,
    )?;
    primitives.raw_set(
        "randomseed",
        lua.create_function(move |_, seed| {
            *lock(&state) = seeded_state(seed);
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

/// `redis.sha1hex`: the SHA-1 of a string or of a number as Lua prints
/// it.
fn sha1hex(value: Value) -> String {
    let bytes = match &value {
        Value::String(text) => text.as_bytes().to_vec(),
        Value::Number(number) => format_lua_number(*number).into_bytes(),
        Value::Integer(number) => number.to_string().into_bytes(),
        _ => Vec::new(),
    };
    sha1_hex(&bytes)
}

/// `redis.error_reply`'s text: the code kept, or `ERR` added.
fn reply_error_text(text: mlua::LuaString) -> String {
    let text = String::from_utf8_lossy(&text.as_bytes()).into_owned();
    let text = if text.starts_with('-') {
        text
    } else {
        format!("-{text}")
    };
    error_text(&text)
}

/// `redis.log(level, …)`: the message at its level; the error text to
/// raise, if any.
fn log(arguments: MultiValue) -> Option<String> {
    if arguments.len() < 2 {
        return Some("ERR redis.log() requires two arguments or more.".to_owned());
    }
    let mut arguments = arguments.into_iter();
    let level = match arguments.next() {
        Some(Value::Number(level)) => level as i64,
        Some(Value::Integer(level)) => level,
        _ => return Some("ERR First argument must be a number (log level).".to_owned()),
    };
    if !(0..=3).contains(&level) {
        return Some("ERR Invalid debug level.".to_owned());
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
    None
}

/// The text of an error value `pcall` caught.
fn error_message(error: Value) -> String {
    match error {
        Value::Error(failure) => error_value_text(&failure),
        other => format!("ERR {other:?}"),
    }
}

/// Whether `name` is a command (`redis.acl_check_cmd`).
fn known_command(name: Value) -> bool {
    match name {
        Value::String(name) => table::lookup(&name.as_bytes()).is_some(),
        _ => false,
    }
}

/// `REDIS_VERSION_NUM`: `major.minor.patch` as `0x00MMmmpp`.
fn version_number(version: &str) -> i64 {
    version.split('.').take(3).fold(0i64, |acc, part| {
        (acc << 8) | part.parse::<i64>().unwrap_or(0)
    })
}

/// The state of an interpreter's `math.random`.
type RandomState = Arc<Mutex<u64>>;

/// `math.random([m [, n]])` as Lua 5.1's: a float in [0, 1), or an
/// integer in [1, m] or [m, n], over xorshift64*.
fn random(state: &RandomState, arguments: MultiValue) -> mlua::Result<f64> {
    let r = {
        let mut seed = lock(state);
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        let bits = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        bits as f64 / (1u64 << 53) as f64
    };
    let number = |value: &Value, position: u8| match value {
        Value::Number(number) => Ok(number.floor()),
        Value::Integer(number) => Ok(*number as f64),
        _ => Err(mlua::Error::runtime(format!(
            "bad argument #{position} to 'random' (number expected)"
        ))),
    };
    let values: Vec<Value> = arguments.into_iter().collect();
    match values.as_slice() {
        [] => Ok(r),
        [upper] => {
            let upper = number(upper, 1)?;
            if upper < 1.0 {
                return Err(mlua::Error::runtime(
                    "bad argument #1 to 'random' (interval is empty)",
                ));
            }
            Ok((r * upper).floor() + 1.0)
        }
        [lower, upper] => {
            let lower = number(lower, 1)?;
            let upper = number(upper, 2)?;
            if lower > upper {
                return Err(mlua::Error::runtime(
                    "bad argument #2 to 'random' (interval is empty)",
                ));
            }
            Ok((r * (upper - lower + 1.0)).floor() + lower)
        }
        _ => Err(mlua::Error::runtime("wrong number of arguments")),
    }
}

/// `math.randomseed(seed)`'s state: nonzero for any seed, the same for
/// the same seed.
fn seeded_state(seed: Value) -> u64 {
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
    (seed as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
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
    fn the_version_number_and_seeds_are_as_redis_and_lua_make_them() {
        assert_eq!(version_number("7.0.12"), 0x07_00_0c);
        assert_eq!(version_number("7.2"), 0x07_02);
        assert_eq!(
            seeded_state(Value::Integer(7)),
            seeded_state(Value::Number(7.9))
        );
        assert_ne!(seeded_state(Value::Integer(0)), 0);
        let state: RandomState = Arc::new(Mutex::new(seeded_state(Value::Integer(1))));
        let draw = random(&state, MultiValue::from_vec(vec![Value::Integer(6)])).unwrap();
        assert!((1.0..=6.0).contains(&draw) && draw.fract() == 0.0);
        let empty = random(&state, MultiValue::from_vec(vec![Value::Integer(0)]));
        assert!(empty.is_err());
    }

    #[test]
    fn lua_numbers_print_as_lua_prints_them() {
        assert_eq!(format_lua_number(3.0), "3");
        assert_eq!(format_lua_number(0.1), "0.1");
        assert_eq!(format_lua_number(1e20), "1e+20");
        assert_eq!(format_lua_number(-2.5), "-2.5");
    }
}

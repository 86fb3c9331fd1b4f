//! The Lua libraries Redis gives scripts beyond Lua's own: `bit` (Lua
//! BitOp's 32-bit operations).

use mlua::{Lua, MultiValue, Table, Value};

/// A number as BitOp normalizes it: rounded, then taken modulo 2^32 as a
/// signed 32-bit integer.
fn to_bit(value: &Value) -> mlua::Result<i32> {
    let number = match value {
        Value::Number(number) => *number,
        Value::Integer(number) => *number as f64,
        Value::String(text) => text
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<f64>().ok())
            .ok_or_else(|| {
                mlua::Error::runtime("bad argument to bit operation (number expected)")
            })?,
        _ => {
            return Err(mlua::Error::runtime(
                "bad argument to bit operation (number expected)",
            ));
        }
    };
    let rounded = number.round_ties_even();
    let wrapped = rounded.rem_euclid(4_294_967_296.0);
    Ok(wrapped as u64 as u32 as i32)
}

fn first(arguments: &MultiValue) -> mlua::Result<i32> {
    to_bit(arguments.front().unwrap_or(&Value::Nil))
}

fn second(arguments: &MultiValue) -> mlua::Result<i32> {
    to_bit(arguments.get(1).unwrap_or(&Value::Nil))
}

/// The `bit` table.
pub(crate) fn bit_library(lua: &Lua) -> mlua::Result<Table> {
    let bit = lua.create_table()?;
    let unary = |f: fn(i32) -> i32| {
        lua.create_function(move |_, arguments: MultiValue| Ok(f64::from(f(first(&arguments)?))))
    };
    bit.raw_set("tobit", unary(|x| x)?)?;
    bit.raw_set("bnot", unary(|x| !x)?)?;
    bit.raw_set("bswap", unary(i32::swap_bytes)?)?;
    let fold = |f: fn(i32, i32) -> i32| {
        lua.create_function(move |_, arguments: MultiValue| {
            let mut result = first(&arguments)?;
            for value in arguments.iter().skip(1) {
                result = f(result, to_bit(value)?);
            }
            Ok(f64::from(result))
        })
    };
    bit.raw_set("band", fold(|a, b| a & b)?)?;
    bit.raw_set("bor", fold(|a, b| a | b)?)?;
    bit.raw_set("bxor", fold(|a, b| a ^ b)?)?;
    let shift = |f: fn(i32, u32) -> i32| {
        lua.create_function(move |_, arguments: MultiValue| {
            let value = first(&arguments)?;
            let count = (second(&arguments)? & 31) as u32;
            Ok(f64::from(f(value, count)))
        })
    };
    bit.raw_set("lshift", shift(|x, n| ((x as u32) << n) as i32)?)?;
    bit.raw_set("rshift", shift(|x, n| ((x as u32) >> n) as i32)?)?;
    bit.raw_set("arshift", shift(|x, n| x >> n)?)?;
    bit.raw_set("rol", shift(|x, n| (x as u32).rotate_left(n) as i32)?)?;
    bit.raw_set("ror", shift(|x, n| (x as u32).rotate_right(n) as i32)?)?;
    bit.raw_set(
        "tohex",
        lua.create_function(|_, arguments: MultiValue| {
            let value = first(&arguments)? as u32;
            let digits = if arguments.len() > 1 {
                second(&arguments)?
            } else {
                8
            };
            let (count, upper) = if digits < 0 {
                (digits.unsigned_abs().min(8), true)
            } else {
                (digits.unsigned_abs().min(8), false)
            };
            let count = count as usize;
            let text = if upper {
                format!("{value:08X}")
            } else {
                format!("{value:08x}")
            };
            Ok(text[8 - count..].to_owned())
        })?,
    )?;
    Ok(bit)
}

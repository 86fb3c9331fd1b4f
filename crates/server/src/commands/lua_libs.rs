//! The Lua libraries Redis gives scripts beyond Lua's own: `bit` (Lua
//! BitOp's 32-bit operations), `cjson` (lua-cjson's JSON) and
//! `cmsgpack` (lua-cmsgpack's MessagePack).

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

/// Settings of the `cjson` library (`encode_max_depth` …).
#[derive(Clone, Copy, Debug)]
struct JsonSettings {
    encode_max_depth: usize,
    decode_max_depth: usize,
    encode_invalid_numbers: bool,
}

impl Default for JsonSettings {
    fn default() -> Self {
        JsonSettings {
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: false,
        }
    }
}

type Shared<T> = std::rc::Rc<std::cell::Cell<T>>;

/// The `cjson` table (lua-cjson 2.1's API: encode, decode, null and the
/// settings).
pub(crate) fn cjson_library(lua: &Lua, format_number: fn(f64) -> String) -> mlua::Result<Table> {
    let json = lua.create_table()?;
    let settings: Shared<JsonSettings> = Shared::default();
    let null = Value::LightUserData(mlua::LightUserData(std::ptr::null_mut()));
    json.raw_set("null", null.clone())?;
    json.raw_set("_NAME", "cjson")?;
    json.raw_set("_VERSION", "2.1.0")?;
    let encode_settings = settings.clone();
    json.raw_set(
        "encode",
        lua.create_function(move |_, value: Value| {
            let mut out = String::new();
            encode_json(&value, &mut out, 0, encode_settings.get(), format_number)
                .map_err(mlua::Error::runtime)?;
            Ok(out)
        })?,
    )?;
    let decode_settings = settings.clone();
    let decode_null = null.clone();
    json.raw_set(
        "decode",
        lua.create_function(move |lua, text: mlua::LuaString| {
            let bytes = text.as_bytes();
            let mut parser = JsonParser {
                bytes: &bytes,
                at: 0,
                depth: 0,
                max_depth: decode_settings.get().decode_max_depth,
                null: decode_null.clone(),
            };
            parser.skip_space();
            let value = parser.value(lua).map_err(mlua::Error::runtime)?;
            parser.skip_space();
            if parser.at != bytes.len() {
                return Err(mlua::Error::runtime(format!(
                    "Expected the end but found invalid token at character {}",
                    parser.at + 1
                )));
            }
            Ok(value)
        })?,
    )?;
    let depth_setter = |field: fn(&mut JsonSettings) -> &mut usize| {
        let settings = settings.clone();
        lua.create_function(move |_, depth: Option<f64>| {
            let mut current = settings.get();
            if let Some(depth) = depth {
                if depth < 1.0 {
                    return Err(mlua::Error::runtime(
                        "bad argument #1 (expected integer between 1 and 2147483647)",
                    ));
                }
                *field(&mut current) = depth as usize;
                settings.set(current);
            }
            Ok(*field(&mut current) as f64)
        })
    };
    json.raw_set(
        "encode_max_depth",
        depth_setter(|s| &mut s.encode_max_depth)?,
    )?;
    json.raw_set(
        "decode_max_depth",
        depth_setter(|s| &mut s.decode_max_depth)?,
    )?;
    let invalid_settings = settings.clone();
    json.raw_set(
        "encode_invalid_numbers",
        lua.create_function(move |_, allowed: Option<Value>| {
            let mut current = invalid_settings.get();
            if let Some(allowed) = allowed {
                current.encode_invalid_numbers = match allowed {
                    Value::Boolean(allowed) => allowed,
                    Value::String(text) => &text.as_bytes()[..] != b"off",
                    _ => true,
                };
                invalid_settings.set(current);
            }
            Ok(current.encode_invalid_numbers)
        })?,
    )?;
    for name in [
        "encode_keep_buffer",
        "decode_invalid_numbers",
        "encode_sparse_array",
        "encode_number_precision",
    ] {
        json.raw_set(name, lua.create_function(|_, _: MultiValue| Ok(true))?)?;
    }
    Ok(json)
}

/// Whether a table is an array (keys 1..n), and its length.
fn array_length(table: &Table) -> mlua::Result<Option<usize>> {
    let mut count = 0usize;
    let mut max = 0usize;
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let index = match key {
            Value::Integer(index) if index >= 1 => index as usize,
            Value::Number(index) if index >= 1.0 && index.fract() == 0.0 => index as usize,
            _ => return Ok(None),
        };
        max = max.max(index);
        count += 1;
    }
    // lua-cjson's default: arrays up to 10 times sparse (beyond a few
    // elements) are refused.
    if max > 10 && max > count * 2 {
        return Err(mlua::Error::runtime(
            "Cannot serialise table: excessively sparse array",
        ));
    }
    Ok(Some(max))
}

fn encode_json(
    value: &Value,
    out: &mut String,
    depth: usize,
    settings: JsonSettings,
    format_number: fn(f64) -> String,
) -> Result<(), String> {
    let number = |out: &mut String, number: f64| -> Result<(), String> {
        if !number.is_finite() && !settings.encode_invalid_numbers {
            return Err("Cannot serialise number: must not be NaN or Infinity".to_owned());
        }
        if number.is_nan() {
            out.push_str("nan");
        } else if number.is_infinite() {
            out.push_str(if number > 0.0 { "inf" } else { "-inf" });
        } else {
            out.push_str(&format_number(number));
        }
        Ok(())
    };
    match value {
        Value::Nil => out.push_str("null"),
        Value::LightUserData(data) if data.0.is_null() => out.push_str("null"),
        Value::Boolean(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Integer(value) => out.push_str(&value.to_string()),
        Value::Number(value) => number(out, *value)?,
        Value::String(text) => encode_json_string(&text.as_bytes(), out),
        Value::Table(table) => {
            if depth + 1 > settings.encode_max_depth {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            match array_length(table).map_err(|error| error.to_string())? {
                Some(length) if length > 0 => {
                    out.push('[');
                    for index in 1..=length {
                        if index > 1 {
                            out.push(',');
                        }
                        let item: Value =
                            table.raw_get(index).map_err(|error| error.to_string())?;
                        encode_json(&item, out, depth + 1, settings, format_number)?;
                    }
                    out.push(']');
                }
                _ => {
                    out.push('{');
                    let mut first = true;
                    for pair in table.pairs::<Value, Value>() {
                        let (key, item) = pair.map_err(|error| error.to_string())?;
                        if !first {
                            out.push(',');
                        }
                        first = false;
                        match &key {
                            Value::String(text) => encode_json_string(&text.as_bytes(), out),
                            Value::Integer(value) => {
                                encode_json_string(value.to_string().as_bytes(), out)
                            }
                            Value::Number(value) => {
                                encode_json_string(format_number(*value).as_bytes(), out)
                            }
                            _ => {
                                return Err(
                                    "Cannot serialise table: table key must be a number or string"
                                        .to_owned(),
                                );
                            }
                        }
                        out.push(':');
                        encode_json(&item, out, depth + 1, settings, format_number)?;
                    }
                    out.push('}');
                }
            }
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ));
        }
    }
    Ok(())
}

fn encode_json_string(bytes: &[u8], out: &mut String) {
    out.push('"');
    let text = String::from_utf8_lossy(bytes);
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            control if (control as u32) < 0x20 || control as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04x}", control as u32));
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

struct JsonParser<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
    max_depth: usize,
    null: Value,
}

impl JsonParser<'_> {
    fn skip_space(&mut self) {
        while self
            .bytes
            .get(self.at)
            .is_some_and(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    fn error<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("Expected {what} at character {}", self.at + 1))
    }

    fn value(&mut self, lua: &Lua) -> Result<Value, String> {
        self.skip_space();
        let lua_error = |error: mlua::Error| error.to_string();
        match self.bytes.get(self.at) {
            Some(b'{') | Some(b'[') => {
                self.depth += 1;
                if self.depth > self.max_depth {
                    return Err(format!(
                        "Found too many nested data structures ({}) at character {}",
                        self.depth,
                        self.at + 1
                    ));
                }
                let object = self.bytes[self.at] == b'{';
                self.at += 1;
                let table = lua.create_table().map_err(lua_error)?;
                self.skip_space();
                let close = if object { b'}' } else { b']' };
                if self.bytes.get(self.at) == Some(&close) {
                    self.at += 1;
                    self.depth -= 1;
                    return Ok(Value::Table(table));
                }
                let mut index = 1;
                loop {
                    if object {
                        self.skip_space();
                        if self.bytes.get(self.at) != Some(&b'"') {
                            return self.error("object key string");
                        }
                        let key = self.string(lua)?;
                        self.skip_space();
                        if self.bytes.get(self.at) != Some(&b':') {
                            return self.error("colon");
                        }
                        self.at += 1;
                        let value = self.value(lua)?;
                        table.raw_set(key, value).map_err(lua_error)?;
                    } else {
                        let value = self.value(lua)?;
                        table.raw_set(index, value).map_err(lua_error)?;
                        index += 1;
                    }
                    self.skip_space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(byte) if *byte == close => {
                            self.at += 1;
                            break;
                        }
                        _ => return self.error("comma or closing bracket"),
                    }
                }
                self.depth -= 1;
                Ok(Value::Table(table))
            }
            Some(b'"') => self.string(lua),
            Some(b't') if self.bytes[self.at..].starts_with(b"true") => {
                self.at += 4;
                Ok(Value::Boolean(true))
            }
            Some(b'f') if self.bytes[self.at..].starts_with(b"false") => {
                self.at += 5;
                Ok(Value::Boolean(false))
            }
            Some(b'n') if self.bytes[self.at..].starts_with(b"null") => {
                self.at += 4;
                Ok(self.null.clone())
            }
            Some(byte) if *byte == b'-' || byte.is_ascii_digit() => {
                let start = self.at;
                while self.bytes.get(self.at).is_some_and(|byte| {
                    byte.is_ascii_digit() || matches!(byte, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or_default();
                text.parse::<f64>()
                    .map(Value::Number)
                    .or_else(|_| self.error("value"))
            }
            _ => self.error("value but found invalid token"),
        }
    }

    fn string(&mut self, lua: &Lua) -> Result<Value, String> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&byte) = self.bytes.get(self.at) else {
                return self.error("string end");
            };
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let Some(&escape) = self.bytes.get(self.at) else {
                        return self.error("escape");
                    };
                    self.at += 1;
                    match escape {
                        b'"' | b'\\' | b'/' => out.push(escape),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = self
                                .bytes
                                .get(self.at..self.at + 4)
                                .and_then(|hex| std::str::from_utf8(hex).ok())
                                .and_then(|hex| u32::from_str_radix(hex, 16).ok());
                            let Some(mut code) = hex else {
                                return self.error("unicode escape");
                            };
                            self.at += 4;
                            if (0xd800..0xdc00).contains(&code)
                                && self.bytes.get(self.at..self.at + 2) == Some(b"\\u")
                            {
                                let low = self
                                    .bytes
                                    .get(self.at + 2..self.at + 6)
                                    .and_then(|hex| std::str::from_utf8(hex).ok())
                                    .and_then(|hex| u32::from_str_radix(hex, 16).ok());
                                if let Some(low) = low.filter(|low| (0xdc00..0xe000).contains(low))
                                {
                                    code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                                    self.at += 6;
                                }
                            }
                            let character = char::from_u32(code).unwrap_or('\u{fffd}');
                            let mut buffer = [0u8; 4];
                            out.extend_from_slice(character.encode_utf8(&mut buffer).as_bytes());
                        }
                        _ => return self.error("valid escape"),
                    }
                }
                other => out.push(other),
            }
        }
        lua.create_string(&out)
            .map(Value::String)
            .map_err(|error| error.to_string())
    }
}

/// How deep lua-cmsgpack encodes nested tables (deeper ones are nil),
/// so circular references end.
const MSGPACK_NESTING_MAX: usize = 16;

/// The `cmsgpack` table (lua-cmsgpack's pack, unpack, unpack_one and
/// unpack_limit).
pub(crate) fn cmsgpack_library(lua: &Lua) -> mlua::Result<Table> {
    let msgpack = lua.create_table()?;
    msgpack.raw_set("_NAME", "cmsgpack")?;
    msgpack.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    msgpack.raw_set(
        "pack",
        lua.create_function(|lua, values: MultiValue| {
            if values.is_empty() {
                return Err(mlua::Error::runtime("MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for value in &values {
                pack_value(value, &mut out, 0)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    msgpack.raw_set(
        "unpack",
        lua.create_function(|lua, data: mlua::LuaString| {
            let bytes = data.as_bytes();
            let mut at = 0;
            let mut values = Vec::new();
            while at < bytes.len() {
                values.push(unpack_value(lua, &bytes, &mut at)?);
            }
            Ok(MultiValue::from_iter(values))
        })?,
    )?;
    let limited = |lua: &Lua, data: &mlua::LuaString, limit: usize, offset: f64| {
        let bytes = data.as_bytes();
        let mut at = if offset < 0.0 { 0 } else { offset as usize };
        let mut values = Vec::new();
        while at < bytes.len() && (limit == 0 || values.len() < limit) {
            values.push(unpack_value(lua, &bytes, &mut at)?);
        }
        let next = if at >= bytes.len() { -1.0 } else { at as f64 };
        let mut result = vec![Value::Number(next)];
        result.extend(values);
        Ok(MultiValue::from_iter(result))
    };
    msgpack.raw_set(
        "unpack_one",
        lua.create_function(move |lua, (data, offset): (mlua::LuaString, Option<f64>)| {
            limited(lua, &data, 1, offset.unwrap_or(0.0))
        })?,
    )?;
    msgpack.raw_set(
        "unpack_limit",
        lua.create_function(
            move |lua, (data, limit, offset): (mlua::LuaString, f64, Option<f64>)| {
                limited(lua, &data, limit.max(0.0) as usize, offset.unwrap_or(0.0))
            },
        )?,
    )?;
    Ok(msgpack)
}

fn pack_integer(value: i64, out: &mut Vec<u8>) {
    if value >= 0 {
        if value <= 127 {
            out.push(value as u8);
        } else if value <= 0xff {
            out.extend_from_slice(&[0xcc, value as u8]);
        } else if value <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        } else if value <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(value as u64).to_be_bytes());
        }
    } else if value >= -32 {
        out.push(value as i8 as u8);
    } else if value >= -128 {
        out.extend_from_slice(&[0xd0, value as i8 as u8]);
    } else if value >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(value as i16).to_be_bytes());
    } else if value >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(value as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

fn pack_length(out: &mut Vec<u8>, length: usize, fixed: u8, fixed_max: usize, short: u8) {
    if length <= fixed_max {
        out.push(fixed | length as u8);
    } else if length <= 0xffff {
        out.push(short);
        out.extend_from_slice(&(length as u16).to_be_bytes());
    } else {
        out.push(short + 1);
        out.extend_from_slice(&(length as u32).to_be_bytes());
    }
}

fn pack_value(value: &Value, out: &mut Vec<u8>, level: usize) -> mlua::Result<()> {
    match value {
        Value::Nil => out.push(0xc0),
        Value::Boolean(false) => out.push(0xc2),
        Value::Boolean(true) => out.push(0xc3),
        Value::Integer(value) => pack_integer(*value, out),
        Value::Number(number) => {
            let number = *number;
            if number.is_finite() && (number as i64) as f64 == number {
                pack_integer(number as i64, out);
            } else if f64::from(number as f32) == number {
                out.push(0xca);
                out.extend_from_slice(&(number as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&number.to_be_bytes());
            }
        }
        Value::String(text) => {
            let bytes = text.as_bytes();
            let length = bytes.len();
            if length < 32 {
                out.push(0xa0 | length as u8);
            } else if length <= 0xff {
                out.extend_from_slice(&[0xd9, length as u8]);
            } else if length <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(length as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(length as u32).to_be_bytes());
            }
            out.extend_from_slice(&bytes);
        }
        Value::Table(_) if level == MSGPACK_NESTING_MAX => out.push(0xc0),
        Value::Table(table) => {
            let mut count = 0usize;
            let mut max = 0usize;
            let mut is_array = true;
            for pair in table.pairs::<Value, Value>() {
                let (key, _) = pair?;
                let index = match key {
                    Value::Integer(index) if index > 0 => Some(index as f64),
                    Value::Number(index) if index > 0.0 && (index as i64) as f64 == index => {
                        Some(index)
                    }
                    _ => None,
                };
                match index {
                    Some(index) => {
                        max = max.max(index as usize);
                        count += 1;
                    }
                    None => {
                        is_array = false;
                        break;
                    }
                }
            }
            if is_array && max == count {
                pack_length(out, max, 0x90, 15, 0xdc);
                for index in 1..=max {
                    pack_value(&table.raw_get::<Value>(index)?, out, level + 1)?;
                }
            } else {
                // Counted first, then encoded as iterated: holding every
                // key at once would take a stack slot each.
                let mut length = 0;
                for pair in table.pairs::<Value, Value>() {
                    pair?;
                    length += 1;
                }
                pack_length(out, length, 0x80, 15, 0xde);
                for pair in table.pairs::<Value, Value>() {
                    let (key, item) = pair?;
                    pack_value(&key, out, level + 1)?;
                    pack_value(&item, out, level + 1)?;
                }
            }
        }
        // Functions, userdata …: nil, as lua-cmsgpack encodes them.
        _ => out.push(0xc0),
    }
    Ok(())
}

fn take<'b>(bytes: &'b [u8], at: &mut usize, count: usize) -> mlua::Result<&'b [u8]> {
    let end = at
        .checked_add(count)
        .filter(|end| *end <= bytes.len())
        .ok_or_else(|| mlua::Error::runtime("Missing bytes in input."))?;
    let slice = &bytes[*at..end];
    *at = end;
    Ok(slice)
}

fn unpack_value(lua: &Lua, bytes: &[u8], at: &mut usize) -> mlua::Result<Value> {
    let code = take(bytes, at, 1)?[0];
    let number = |value: f64| Ok(Value::Number(value));
    let be = |slice: &[u8]| {
        slice
            .iter()
            .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte))
    };
    let string = |lua: &Lua, at: &mut usize, length: usize| -> mlua::Result<Value> {
        Ok(Value::String(lua.create_string(take(bytes, at, length)?)?))
    };
    let array = |lua: &Lua, at: &mut usize, length: usize| -> mlua::Result<Value> {
        let table = lua.create_table_with_capacity(length.min(1 << 16), 0)?;
        for index in 1..=length {
            table.raw_set(index, unpack_value(lua, bytes, at)?)?;
        }
        Ok(Value::Table(table))
    };
    let map = |lua: &Lua, at: &mut usize, length: usize| -> mlua::Result<Value> {
        let table = lua.create_table()?;
        for _ in 0..length {
            let key = unpack_value(lua, bytes, at)?;
            let value = unpack_value(lua, bytes, at)?;
            if !matches!(key, Value::Nil) {
                table.raw_set(key, value)?;
            }
        }
        Ok(Value::Table(table))
    };
    match code {
        0x00..=0x7f => number(f64::from(code)),
        0x80..=0x8f => map(lua, at, usize::from(code & 0x0f)),
        0x90..=0x9f => array(lua, at, usize::from(code & 0x0f)),
        0xa0..=0xbf => string(lua, at, usize::from(code & 0x1f)),
        0xc0 => Ok(Value::Nil),
        0xc2 => Ok(Value::Boolean(false)),
        0xc3 => Ok(Value::Boolean(true)),
        0xc4 | 0xd9 => {
            let length = usize::from(take(bytes, at, 1)?[0]);
            string(lua, at, length)
        }
        0xc5 | 0xda => {
            let length = be(take(bytes, at, 2)?) as usize;
            string(lua, at, length)
        }
        0xc6 | 0xdb => {
            let length = be(take(bytes, at, 4)?) as usize;
            string(lua, at, length)
        }
        0xca => {
            let raw = be(take(bytes, at, 4)?) as u32;
            number(f64::from(f32::from_bits(raw)))
        }
        0xcb => number(f64::from_bits(be(take(bytes, at, 8)?))),
        0xcc => number(be(take(bytes, at, 1)?) as f64),
        0xcd => number(be(take(bytes, at, 2)?) as f64),
        0xce => number(be(take(bytes, at, 4)?) as f64),
        0xcf => number(be(take(bytes, at, 8)?) as f64),
        0xd0 => number(f64::from(take(bytes, at, 1)?[0] as i8)),
        0xd1 => number(f64::from(be(take(bytes, at, 2)?) as u16 as i16)),
        0xd2 => number(f64::from(be(take(bytes, at, 4)?) as u32 as i32)),
        0xd3 => number(be(take(bytes, at, 8)?) as i64 as f64),
        0xdc => {
            let length = be(take(bytes, at, 2)?) as usize;
            array(lua, at, length)
        }
        0xdd => {
            let length = be(take(bytes, at, 4)?) as usize;
            array(lua, at, length)
        }
        0xde => {
            let length = be(take(bytes, at, 2)?) as usize;
            map(lua, at, length)
        }
        0xdf => {
            let length = be(take(bytes, at, 4)?) as usize;
            map(lua, at, length)
        }
        0xe0..=0xff => number(f64::from(code as i8)),
        _ => Err(mlua::Error::runtime("Bad data format in input.")),
    }
}

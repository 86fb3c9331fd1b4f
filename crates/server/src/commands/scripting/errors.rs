//! Redis's script errors: Lua's error texts, the error handler that
//! locates where a script raised, error tables (`{err = …}`), the text
//! of `-CODE message` errors, and the error `redis.call` raises.

use mlua::{Function, Lua, Table, Value};

use super::vm::INTERNAL_CHUNK;
use crate::resp::Reply;

/// The error a killed script ends with.
pub(super) const KILLED_TEXT: &str = "Script killed by user with SCRIPT KILL...";

/// The text of a Lua compile or runtime error as Lua prints it.
pub(super) fn lua_error_text(error: &mlua::Error) -> String {
    match error {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(message) => message.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        other => other.to_string(),
    }
}

/// The `__redis__err__handler` of Redis: an error becomes a table with
/// `err` (`ERR ` and the text for a Lua error), and where the script
/// raised it (`source`, `line`).
pub(super) fn error_handler(lua: &Lua, tostring: &Function, error: Value) -> mlua::Result<Table> {
    let table = match &error {
        Value::Table(table) => table.clone(),
        Value::Error(failure) => {
            let table = lua.create_table()?;
            table.raw_set("err", error_value_text(failure))?;
            table
        }
        other => {
            let text: String = tostring.call(other.clone()).unwrap_or_default();
            let text = text
                .strip_prefix("runtime error: ")
                .map(str::to_owned)
                .unwrap_or(text);
            let text = text.lines().next().unwrap_or_default().to_owned();
            let table = lua.create_table()?;
            table.raw_set("err", format!("ERR {text}"))?;
            table
        }
    };
    // The first frame of the script's own code (not keel's, not C).
    for level in 1..64 {
        let Some(found) = lua.inspect_stack(level, |debug| {
            let source = debug.source();
            let what = source.what;
            let name = source.source.as_deref().unwrap_or_default().to_owned();
            (what, name, debug.current_line())
        }) else {
            break;
        };
        let (what, source, line) = found;
        if what == "C" || source == INTERNAL_CHUNK {
            continue;
        }
        table.raw_set("source", source)?;
        if let Some(line) = line {
            table.raw_set("line", line)?;
        }
        break;
    }
    Ok(table)
}

/// The reply of a script that raised `error` (a table from the handler).
pub(super) fn script_error(error: &Value, sha: &str) -> Reply {
    let Value::Table(table) = error else {
        return Reply::error(format!("ERR Error running script {sha}, execution failure"));
    };
    let text: String = table
        .raw_get::<Option<String>>("err")
        .ok()
        .flatten()
        .unwrap_or_else(|| "ERR execution failure".to_owned());
    let source: Option<String> = table.raw_get("source").ok().flatten();
    let line: Option<i64> = table.raw_get("line").ok().flatten();
    match (source, line) {
        (Some(source), Some(line)) => {
            Reply::error(format!("{text} script: {sha}, on {source}:{line}."))
        }
        _ => Reply::error(text),
    }
}

/// An error table (`{err = text}`), as `redis.pcall` returns it.
pub(super) fn error_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    let table = lua.create_table()?;
    table.raw_set("err", text)?;
    Ok(Value::Table(table))
}

/// `luaPushErrorBuff`'s text: `-CODE message` keeps its code, anything
/// else gets `ERR`.
pub(super) fn error_text(text: &str) -> String {
    let text = text.trim_end_matches(['\r', '\n']);
    match text.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, message)) => format!("{code} {}", message.trim_end_matches(['\r', '\n'])),
            None => format!("ERR {rest}"),
        },
        None => format!("ERR {text}"),
    }
}

/// An error `redis.call` raises: the text of its error table.
#[derive(Debug)]
pub(super) struct CallError(pub(super) String);

impl std::fmt::Display for CallError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

/// The text an error value stands for: a [`CallError`]'s, or `ERR` and
/// the message of another failure (SCRIPT KILL's, a Lua error in a
/// callback).
pub(super) fn error_value_text(error: &mlua::Error) -> String {
    match error {
        mlua::Error::ExternalError(external) => match external.downcast_ref::<CallError>() {
            Some(CallError(text)) => text.clone(),
            None => format!("ERR {external}"),
        },
        mlua::Error::CallbackError { cause, .. } => error_value_text(cause),
        mlua::Error::WithContext { cause, .. } => error_value_text(cause),
        mlua::Error::RuntimeError(message) => format!("ERR {message}"),
        other => format!("ERR {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_code() {
        assert_eq!(
            error_text("-MY_ERR_CODE custom msg"),
            "MY_ERR_CODE custom msg"
        );
        assert_eq!(error_text("plain"), "ERR plain");
        assert_eq!(error_text("-ONEWORD"), "ERR ONEWORD");
    }
}

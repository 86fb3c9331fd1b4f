//! FUNCTION LOAD's libraries: each library's code and the functions it
//! registers, checked by running it in a fresh interpreter.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::cache::{ScriptFlags, Scripts};
use super::vm::Vm;
use crate::resp::Reply;
use crate::state::lock;

/// A function library (FUNCTION LOAD).
#[derive(Debug)]
pub(crate) struct Library {
    pub(crate) name: String,
    pub(crate) code: Bytes,
    /// Where the Lua code starts (after the shebang line).
    pub(super) code_start: usize,
    /// Its functions.
    pub(crate) functions: Vec<FunctionInfo>,
}

/// A function of a library: its name, its flags (as named), its
/// description.
pub(crate) type FunctionInfo = (String, Vec<String>, Option<String>);

/// The loaded libraries, and a number bumped by every change.
#[derive(Debug, Default)]
pub(crate) struct Libraries {
    pub(crate) by_name: std::collections::BTreeMap<String, Arc<Library>>,
    pub(super) generation: u64,
}

/// The flags of a function as named in `register_function`.
pub(super) fn function_flags(names: &[String]) -> ScriptFlags {
    ScriptFlags {
        compatible: false,
        no_writes: names.iter().any(|name| name == "no-writes"),
    }
}

pub(super) const FUNCTION_FLAGS: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

impl Scripts {
    /// The libraries now (a snapshot).
    pub(crate) fn libraries(&self) -> Arc<Libraries> {
        let libraries = lock(&self.libraries);
        Arc::new(Libraries {
            by_name: libraries.by_name.clone(),
            generation: libraries.generation,
        })
    }

    pub(super) fn function_flags(&self, name: &str) -> Option<ScriptFlags> {
        lock(&self.libraries).by_name.values().find_map(|library| {
            library
                .functions
                .iter()
                .find(|(function, _, _)| function == name)
                .map(|(_, flags, _)| function_flags(flags))
        })
    }

    /// FUNCTION LOAD: the library's name, or Redis's error.
    pub(crate) fn load_library(&self, code: &[u8], replace: bool) -> Result<String, Reply> {
        let (name, code_start) = parse_library_shebang(code).map_err(Reply::error)?;
        // A fresh interpreter runs the code to see what it registers.
        let probe = Vm::new(0, "7.0.0").map_err(|error| Reply::error(format!("ERR {error}")))?;
        let functions = probe.register(&code[code_start..]);
        let functions = functions?;
        let mut libraries = lock(&self.libraries);
        let existing = libraries.by_name.get(&name).cloned();
        if existing.is_some() && !replace {
            return Err(Reply::error(format!("ERR Library '{name}' already exists")));
        }
        for (function, _, _) in &functions {
            let taken = libraries.by_name.values().any(|library| {
                library.name != name
                    && library
                        .functions
                        .iter()
                        .any(|(other, _, _)| other == function)
            });
            if taken {
                return Err(Reply::error(format!(
                    "ERR Function {function} already exists"
                )));
            }
        }
        libraries.by_name.insert(
            name.clone(),
            Arc::new(Library {
                name: name.clone(),
                code: Bytes::copy_from_slice(code),
                code_start,
                functions,
            }),
        );
        libraries.generation += 1;
        Ok(name)
    }

    /// FUNCTION DELETE: whether the library existed.
    pub(crate) fn delete_library(&self, name: &str) -> bool {
        let mut libraries = lock(&self.libraries);
        let removed = libraries.by_name.remove(name).is_some();
        libraries.generation += 1;
        removed
    }

    /// FUNCTION FLUSH.
    pub(crate) fn flush_libraries(&self) {
        let mut libraries = lock(&self.libraries);
        libraries.by_name.clear();
        libraries.generation += 1;
    }

    /// FUNCTION KILL and SCRIPT KILL: stops the running scripts.
    pub(crate) fn kill_all(&self) -> bool {
        let running = lock(&self.running);
        for script in running.iter() {
            script.kill.store(true, Ordering::Release);
        }
        !running.is_empty()
    }
}

/// A library's first line, `#!lua name=<name>`: the name and where the
/// code starts, or Redis's error text.
pub(super) fn parse_library_shebang(code: &[u8]) -> Result<(String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".to_owned());
    }
    let end = code
        .iter()
        .position(|&byte| byte == b'\n')
        .unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[..end]);
    let mut parts = line.split_whitespace();
    let engine = parts.next().unwrap_or_default();
    if engine != "#!lua" {
        return Err(format!(
            "ERR Engine '{}' not found",
            engine.trim_start_matches("#!")
        ));
    }
    let mut name = None;
    for part in parts {
        match part.split_once('=') {
            Some(("name", value)) => name = Some(value.to_owned()),
            _ => return Err(format!("ERR Invalid metadata value given: {part}")),
        }
    }
    let name = name.ok_or_else(|| "ERR Library name was not given".to_owned())?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".to_owned());
    }
    Ok((name, end))
}

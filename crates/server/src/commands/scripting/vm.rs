//! A thread's Lua interpreter: Redis's sandbox (`sandbox.lua`: read-only
//! globals and library tables, Redis's `pcall`, the `redis` table), the
//! compiled scripts and library callbacks, and one call of a script with
//! KEYS and ARGV, `redis.call`/`pcall`/`setresp` bound to its run, and
//! the hook that serves BUSY and SCRIPT KILL.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, MultiValue, Table, Value, VmState};

use super::bridge::{acl_allowed, redis_call, set_resp};
use super::busy::serve_busy;
use super::cache::CachedScript;
use super::convert::lua_to_reply;
use super::errors::{
    CallError, KILLED_TEXT, error_handler, error_table, lua_error_text, script_error,
};
use super::libraries::{FUNCTION_FLAGS, FunctionInfo, Libraries};
use super::primitives::register_primitives;
use super::run::RunState;
use crate::resp::Reply;

/// How often a busy script answers its loop's other clients.
pub(super) const BUSY_SERVE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// How many Lua instructions run between two checks for SCRIPT KILL.
pub(super) const HOOK_INSTRUCTIONS: u32 = 100_000;

/// The chunk name of a script, as Redis names it in errors.
pub(super) const SCRIPT_CHUNK: &str = "@user_script";

/// The chunk name of keel's own Lua (the sandbox), skipped when an error
/// is located.
pub(super) const INTERNAL_CHUNK: &str = "@keel_internal";

/// Scripts run between two steps of garbage collection (Redis's
/// `LUA_GC_CYCLE_PERIOD`).
const GC_PERIOD_RUNS: u64 = 50;

/// How much an interpreter's memory may grow past what it held after its
/// last full garbage collection before it collects fully again.
const GC_FULL_GROWTH_BYTES: usize = 32 << 10;

/// keel's Lua: the read-only globals, `pcall` as Redis's, and the `redis`
/// table over the Rust primitives. Runs once per interpreter with the
/// primitives table, the real globals and the environment table.
pub(super) const PRELUDE: &str = concat!("\n", include_str!("sandbox.lua"));

thread_local! {
    /// This thread's Lua interpreter.
    pub(super) static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
}

/// One Lua interpreter with Redis's sandbox and API.
pub(super) struct Vm {
    pub(super) lua: Lua,
    pub(super) generation: u64,
    /// The compiled scripts, by SHA1.
    pub(super) functions: HashMap<String, Function>,
    /// The environment scripts run in (read-only globals).
    pub(super) env: Table,
    /// Per-run globals (KEYS, ARGV).
    pub(super) run_globals: Table,
    /// keel's primitives the Lua side calls (`P` in the prelude).
    pub(super) primitives: Table,
    /// The `redis` table behind its read-only face.
    pub(super) redis: Table,
    pub(super) xpcall: Function,
    pub(super) handler: Function,
    /// The libraries' functions as this interpreter loaded them, and the
    /// libraries' generation then.
    pub(super) callbacks: HashMap<String, Function>,
    pub(super) library_generation: Option<u64>,
    /// Scripts run (for the periodic garbage collection step).
    pub(super) runs: u64,
    /// Memory in use after the last full collection.
    pub(super) collected_bytes: usize,
}

impl Vm {
    /// After a run: a step of garbage collection every so many runs, as
    /// Redis does, so garbage never waits for a full cycle; a full one
    /// when memory is far past what the last full one left (libraries
    /// loaded again, big tables). The memory in use after it.
    pub(super) fn collect_garbage(&mut self) -> usize {
        self.runs += 1;
        if self.runs.is_multiple_of(GC_PERIOD_RUNS) {
            let _ = self.lua.gc_step();
        }
        if self.lua.used_memory() > self.collected_bytes + GC_FULL_GROWTH_BYTES {
            let _ = self.lua.gc_collect();
            self.collected_bytes = self.lua.used_memory();
        }
        self.lua.used_memory()
    }

    pub(super) fn new(generation: u64, redis_version: &str) -> mlua::Result<Vm> {
        // Lua's libraries a script may use (no io, os or package).
        let lua = Lua::new_with(
            mlua::StdLib::TABLE | mlua::StdLib::STRING | mlua::StdLib::MATH,
            mlua::LuaOptions::default(),
        )?;
        let primitives = lua.create_table()?;
        let env = lua.create_table()?;
        let run_globals = lua.create_table()?;
        register_primitives(&lua, &primitives, redis_version)?;
        lua.load(PRELUDE).set_name(INTERNAL_CHUNK).call::<()>((
            primitives.clone(),
            lua.globals(),
            env.clone(),
            run_globals.clone(),
        ))?;
        let redis: Table = primitives.raw_get("redis")?;
        let xpcall: Function = lua.globals().get("xpcall")?;
        let tostring: Function = lua.globals().get("tostring")?;
        let handler =
            lua.create_function(move |lua, error: Value| error_handler(lua, &tostring, error))?;
        Ok(Vm {
            lua,
            generation,
            functions: HashMap::new(),
            env,
            run_globals,
            primitives,
            redis,
            xpcall,
            handler,
            callbacks: HashMap::new(),
            library_generation: None,
            runs: 0,
            collected_bytes: 0,
        })
    }

    /// Runs a library's code with `redis.register_function` collecting
    /// what it registers: each function's name, flags and description, or
    /// Redis's error.
    pub(super) fn register(&self, code: &[u8]) -> Result<Vec<FunctionInfo>, Reply> {
        self.register_callbacks(code).map(|registered| {
            registered
                .into_iter()
                .map(|(name, _, flags, description)| (name, flags, description))
                .collect()
        })
    }

    /// [`Vm::register`] with the callbacks.
    #[allow(clippy::type_complexity)] // The four parts of a registration.
    pub(super) fn register_callbacks(
        &self,
        code: &[u8],
    ) -> Result<Vec<(String, Function, Vec<String>, Option<String>)>, Reply> {
        let chunk = self
            .lua
            .load(code)
            .set_name("@user_function")
            .into_function()
            .map_err(|error| {
                Reply::error(format!(
                    "ERR Error compiling function: {}",
                    lua_error_text(&error)
                ))
            })?;
        let lua_failure = |error: mlua::Error| Reply::error(format!("ERR {error}"));
        chunk
            .set_environment(self.env.clone())
            .map_err(lua_failure)?;
        let registry = self.lua.create_table().map_err(lua_failure)?;
        self.primitives
            .raw_set("registry", registry.clone())
            .map_err(lua_failure)?;
        let results: MultiValue = self
            .xpcall
            .call((chunk, self.handler.clone()))
            .map_err(lua_failure)?;
        let _ = self.primitives.raw_set("registry", Value::Nil);
        let mut results = results.into_iter();
        if !matches!(results.next(), Some(Value::Boolean(true))) {
            let error = match script_error(&results.next().unwrap_or(Value::Nil), "") {
                Reply::Error(text) => text,
                _ => "ERR execution failure".to_owned(),
            };
            let message = error.split(" script: ").next().unwrap_or_default();
            let message = message.strip_prefix("ERR ").unwrap_or(message);
            return Err(Reply::error(format!(
                "ERR Error registering functions: {message}"
            )));
        }
        let mut registered = Vec::new();
        for entry in registry.sequence_values::<Table>() {
            let entry = entry.map_err(lua_failure)?;
            let name: String = entry.raw_get(1).map_err(lua_failure)?;
            let callback: Function = entry.raw_get(2).map_err(lua_failure)?;
            let flags: Vec<String> = entry
                .raw_get::<Table>(3)
                .map_err(lua_failure)?
                .sequence_values::<String>()
                .filter_map(Result::ok)
                .collect();
            let description: Option<String> = entry.raw_get(4).ok().flatten();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
            {
                return Err(Reply::error(
                    "ERR Function names can only contain letters, numbers, or underscores(_) and must be at least one character long",
                ));
            }
            if let Some(flag) = flags
                .iter()
                .find(|flag| !FUNCTION_FLAGS.contains(&flag.as_str()))
            {
                return Err(Reply::error(format!(
                    "ERR Error registering functions: unknown flag given: {flag}"
                )));
            }
            if registered.iter().any(|(other, _, _, _)| *other == name) {
                return Err(Reply::error("ERR Function already exists in the library"));
            }
            registered.push((name, callback, flags, description));
        }
        if registered.is_empty() {
            return Err(Reply::error("ERR No functions registered"));
        }
        Ok(registered)
    }

    /// The callback of function `name`, loading the libraries again when
    /// they changed since this interpreter last did.
    pub(super) fn callback(&mut self, name: &str, libraries: &Libraries) -> Option<Function> {
        if self.library_generation != Some(libraries.generation) {
            self.callbacks.clear();
            for library in libraries.by_name.values() {
                if let Ok(registered) = self.register_callbacks(&library.code[library.code_start..])
                {
                    for (function, callback, _, _) in registered {
                        self.callbacks.insert(function, callback);
                    }
                }
            }
            self.library_generation = Some(libraries.generation);
        }
        self.callbacks.get(name).cloned()
    }

    /// The compiled script, compiled now if this interpreter has not yet.
    pub(super) fn function(&mut self, sha: &str, script: &CachedScript) -> mlua::Result<Function> {
        if let Some(function) = self.functions.get(sha) {
            return Ok(function.clone());
        }
        let function = self
            .lua
            .load(&script.body[script.code_start..])
            .set_name(SCRIPT_CHUNK)
            .into_function()?;
        function.set_environment(self.env.clone())?;
        self.functions.insert(sha.to_owned(), function.clone());
        Ok(function)
    }

    /// Runs `function` with KEYS and ARGV: the script's reply.
    pub(super) fn call(
        &mut self,
        function: &Function,
        sha: &str,
        as_function: bool,
        keys: &[Bytes],
        argv: &[Bytes],
        state: &mut RunState<'_>,
    ) -> Reply {
        let state = RefCell::new(state);
        let lua = &self.lua;
        let outcome = lua.scope(|scope| {
            let call = scope.create_function_mut(|lua, arguments: MultiValue| {
                let mut state = state
                    .try_borrow_mut()
                    .map_err(|_| mlua::Error::runtime("redis.call called recursively"))?;
                match redis_call(lua, &mut state, arguments)? {
                    Ok(value) => Ok(value),
                    Err(text) => Err(mlua::Error::external(CallError(text))),
                }
            })?;
            let pcall = scope.create_function_mut(|lua, arguments: MultiValue| {
                let mut state = state
                    .try_borrow_mut()
                    .map_err(|_| mlua::Error::runtime("redis.pcall called recursively"))?;
                match redis_call(lua, &mut state, arguments)? {
                    Ok(value) => Ok(value),
                    Err(text) => error_table(lua, &text),
                }
            })?;
            let setresp = scope.create_function_mut(|_, arguments: MultiValue| {
                let mut state = state
                    .try_borrow_mut()
                    .map_err(|_| mlua::Error::runtime("redis.setresp called recursively"))?;
                Ok(set_resp(&mut state, &arguments))
            })?;
            let acl_check = scope.create_function(|_, arguments: MultiValue| {
                let state = state
                    .try_borrow()
                    .map_err(|_| mlua::Error::runtime("redis.acl_check_cmd called recursively"))?;
                acl_allowed(&state, &arguments)
            })?;
            self.redis.raw_set("call", call)?;
            self.redis.raw_set("pcall", pcall)?;
            self.primitives.raw_set("setresp", setresp)?;
            self.primitives.raw_set("acl_allowed", acl_check)?;
            let keys = string_array(lua, keys)?;
            let argv = string_array(lua, argv)?;
            if !as_function {
                self.run_globals.raw_set("KEYS", keys.clone())?;
                self.run_globals.raw_set("ARGV", argv.clone())?;
            }
            let kill = Arc::clone(&state.borrow().kill);
            let (shared, entry) = {
                let state = state.borrow();
                (
                    Arc::clone(&state.client.shared),
                    Arc::clone(&state.client.entry),
                )
            };
            install_hook(lua, shared, entry, kill)?;
            let results: MultiValue = if as_function {
                let invoke: Function = self.primitives.raw_get("invoke")?;
                invoke.call((function.clone(), self.handler.clone(), keys, argv))?
            } else {
                self.xpcall.call((function.clone(), self.handler.clone()))?
            };
            lua.remove_hook();
            let mut results = results.into_iter();
            let succeeded = matches!(results.next(), Some(Value::Boolean(true)));
            let value = results.next().unwrap_or(Value::Nil);
            let resp = state.borrow().resp;
            Ok(if succeeded {
                lua_to_reply(&value, resp, 0)
            } else {
                script_error(&value, sha)
            })
        });
        self.forget_run();
        outcome.unwrap_or_else(|error| {
            Reply::error(format!(
                "ERR Error running script: {}",
                lua_error_text(&error)
            ))
        })
    }

    /// Unbinds what [`Vm::call`] bound for its run: the hook,
    /// `redis.call`/`pcall`/`setresp`/`acl_check_cmd`'s check, KEYS and
    /// ARGV.
    fn forget_run(&self) {
        self.lua.remove_hook();
        let _ = self.redis.raw_set("call", Value::Nil);
        let _ = self.redis.raw_set("pcall", Value::Nil);
        let _ = self.primitives.raw_set("setresp", Value::Nil);
        let _ = self.primitives.raw_set("acl_allowed", Value::Nil);
        let _ = self.run_globals.raw_set("KEYS", Value::Nil);
        let _ = self.run_globals.raw_set("ARGV", Value::Nil);
    }
}

/// The hook a run's Lua calls every [`HOOK_INSTRUCTIONS`]: past
/// `busy-reply-threshold` it answers this loop's other clients (BUSY,
/// SCRIPT KILL), as Redis answers them while a script runs; once the
/// script is killed it raises, and from then on every line raises too,
/// so a pcall loop cannot keep the script alive.
fn install_hook(
    lua: &Lua,
    shared: Arc<crate::state::Shared>,
    entry: Arc<crate::state::ClientEntry>,
    kill: Arc<std::sync::atomic::AtomicBool>,
) -> mlua::Result<()> {
    let started = Instant::now();
    let served = std::cell::Cell::new(started);
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS),
        move |lua, _| {
            let threshold = shared.scripts.busy_threshold_ms.load(Ordering::Relaxed);
            if threshold > 0
                && started.elapsed() > std::time::Duration::from_millis(threshold)
                && served.get().elapsed() >= BUSY_SERVE_INTERVAL
            {
                served.set(Instant::now());
                serve_busy(&shared, &entry);
            }
            if kill.load(Ordering::Acquire) {
                lua.set_hook(HookTriggers::EVERY_LINE, |_, _| {
                    Err(mlua::Error::runtime(KILLED_TEXT))
                })?;
                return Err(mlua::Error::runtime(KILLED_TEXT));
            }
            Ok(VmState::Continue)
        },
    )
}

/// A Lua array of strings (KEYS, ARGV).
pub(super) fn string_array(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let table = lua.create_table_with_capacity(items.len(), 0)?;
    for (index, item) in items.iter().enumerate() {
        table.raw_set(index + 1, lua.create_string(&item[..])?)?;
    }
    Ok(table)
}

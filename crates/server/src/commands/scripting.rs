//! Scripts: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (LOAD, EXISTS,
//! FLUSH, KILL, HELP), in Lua 5.1 (the `mlua` crate, built from source)
//! as Redis 7 runs them: `redis.call`/`pcall`, `error_reply`,
//! `status_reply`, `sha1hex`, `log`, `setresp`, Redis's conversions of
//! replies to Lua values and back, KEYS and ARGV, read-only globals, and
//! the shebang line's flags.
//!
//! Each run of a script is ONE serializable keel transaction
//! ([`Session::execute_script`](crate::Session::execute_script)): every
//! `redis.call` runs inside it and sees the script's earlier writes, and
//! the writes commit together when the script returns — or raises, as
//! Redis keeps what a failing script wrote — and not at all when SCRIPT
//! KILL stops it (Redis refuses to kill a script that wrote; keel rolls
//! it back) or the store fails. A transaction that conflicts runs the
//! script again from the start, as a conflicting MULTI block runs again.
//! PUBLISH inside a script is delivered after the commit.
//!
//! Each event loop thread has its own Lua interpreter (scripts on two
//! loops run at once, each in its own transaction); the script cache
//! (SHA1 → body) is the server's. A script that has run longer than
//! `busy-reply-threshold` (`lua-time-limit`) makes the other clients'
//! commands answer BUSY, as in Redis, until it ends or SCRIPT KILL stops
//! it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, MultiValue, Table, Value, VmState};

use super::client::Client;
use super::id::CommandId;
use super::table::{self, CommandFlags, Handler};
use super::{CommandSpec, Request};
use crate::backend::{ClientId, DatabaseIndex, ScriptCalls};
use crate::resp::{Command, ProtocolVersion, Reply, format_double_17_digits, parse_integer};
use crate::state::lock;

/// EVALSHA of a script not in the cache.
pub const NOSCRIPT_TEXT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// A command refused while a script has run longer than
/// `busy-reply-threshold`.
pub const BUSY_TEXT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// The error a killed script ends with.
const KILLED_TEXT: &str = "Script killed by user with SCRIPT KILL...";

/// How deep a returned Lua table may nest before Redis's "reached lua
/// stack limit" error takes its place.
const REPLY_DEPTH_MAX: usize = 1000;

/// Scripts run between two steps of garbage collection (Redis's
/// `LUA_GC_CYCLE_PERIOD`).
const GC_PERIOD_RUNS: u64 = 50;

/// How much an interpreter's memory may grow past what it held after its
/// last full garbage collection before it collects fully again.
const GC_FULL_GROWTH_BYTES: usize = 32 << 10;

/// How often a busy script answers its loop's other clients.
const BUSY_SERVE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// How many Lua instructions run between two checks for SCRIPT KILL.
const HOOK_INSTRUCTIONS: u32 = 100_000;

/// The chunk name of a script, as Redis names it in errors.
const SCRIPT_CHUNK: &str = "@user_script";

/// The chunk name of keel's own Lua (the sandbox), skipped when an error
/// is located.
const INTERNAL_CHUNK: &str = "@keel_internal";

/// A script's shebang flags (`#!lua flags=no-writes,allow-oom`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScriptFlags {
    /// No shebang: Redis's compatibility mode (any command, checked as
    /// it runs).
    pub(crate) compatible: bool,
    pub(crate) no_writes: bool,
}

/// A cached script.
#[derive(Debug)]
pub(crate) struct CachedScript {
    /// The body as sent.
    body: Bytes,
    /// Where the Lua code starts: after the shebang line, its line feed
    /// kept so line numbers stay the user's.
    code_start: usize,
    flags: ScriptFlags,
}

/// Redis's default `busy-reply-threshold` (`lua-time-limit`): 5 s.
pub const BUSY_THRESHOLD_MS_DEFAULT: u64 = 5000;

/// The server's scripts: the cache, the running ones, the interpreters'
/// memory.
#[derive(Debug)]
pub(crate) struct Scripts {
    cache: Mutex<ScriptCache>,
    running: Mutex<Vec<RunningScript>>,
    /// How many run (checked per command without a lock).
    running_count: AtomicUsize,
    /// `busy-reply-threshold` in milliseconds (0: never busy).
    pub(crate) busy_threshold_ms: AtomicU64,
    /// Each interpreter's memory, by thread (INFO's `used_memory_lua`).
    memory: Mutex<HashMap<std::thread::ThreadId, usize>>,
    /// FUNCTION LOAD's libraries.
    libraries: Mutex<Libraries>,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS 1: scripts may run `noscript`
    /// commands (Redis's test hook).
    deny_disabled: AtomicBool,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            cache: Mutex::default(),
            running: Mutex::default(),
            running_count: AtomicUsize::new(0),
            busy_threshold_ms: AtomicU64::new(BUSY_THRESHOLD_MS_DEFAULT),
            memory: Mutex::default(),
            libraries: Mutex::default(),
            deny_disabled: AtomicBool::new(false),
        }
    }
}

#[derive(Debug, Default)]
struct ScriptCache {
    scripts: HashMap<String, Arc<CachedScript>>,
    /// Bumped by SCRIPT FLUSH: each interpreter starts afresh.
    generation: u64,
}

#[derive(Debug)]
struct RunningScript {
    client: ClientId,
    started: Instant,
    kill: Arc<AtomicBool>,
}

impl Scripts {
    /// Sets `busy-reply-threshold`.
    pub(crate) fn set_busy_threshold_ms(&self, milliseconds: u64) {
        self.busy_threshold_ms
            .store(milliseconds, Ordering::Relaxed);
    }

    /// Whether a script other than `client`'s has run longer than
    /// `busy-reply-threshold` (no lock while none runs).
    pub(crate) fn busy_for(&self, client: ClientId) -> bool {
        if self.running_count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let threshold = self.busy_threshold_ms.load(Ordering::Relaxed);
        if threshold == 0 {
            return false;
        }
        let limit = std::time::Duration::from_millis(threshold);
        lock(&self.running)
            .iter()
            .any(|running| running.client != client && running.started.elapsed() > limit)
    }

    /// Acts on DEBUG SET-DISABLE-DENY-SCRIPTS (called for every DEBUG).
    pub(crate) fn note_debug(&self, arguments: &[Bytes]) {
        if let [_, subcommand, value] = arguments
            && subcommand.eq_ignore_ascii_case(b"SET-DISABLE-DENY-SCRIPTS")
        {
            self.deny_disabled
                .store(&value[..] != b"0", Ordering::Relaxed);
        }
    }

    /// The cached scripts (INFO's `number_of_cached_scripts`).
    pub(crate) fn cached_count(&self) -> usize {
        lock(&self.cache).scripts.len()
    }

    /// The cached bodies' bytes (INFO's `used_memory_scripts_eval`).
    pub(crate) fn cached_bytes(&self) -> usize {
        lock(&self.cache)
            .scripts
            .iter()
            .map(|(sha, script)| sha.len() + script.body.len())
            .sum()
    }

    /// The interpreters' memory (INFO's `used_memory_lua`).
    pub(crate) fn lua_bytes(&self) -> usize {
        lock(&self.memory).values().sum()
    }

    fn start(&self, client: ClientId) -> Arc<AtomicBool> {
        let kill = Arc::new(AtomicBool::new(false));
        let mut running = lock(&self.running);
        running.push(RunningScript {
            client,
            started: Instant::now(),
            kill: Arc::clone(&kill),
        });
        self.running_count.store(running.len(), Ordering::Release);
        kill
    }

    fn finish(&self, kill: &Arc<AtomicBool>) {
        let mut running = lock(&self.running);
        running.retain(|running| !Arc::ptr_eq(&running.kill, kill));
        self.running_count.store(running.len(), Ordering::Release);
    }

    /// Adds `body` to the cache (checking its shebang and that it
    /// compiles): its SHA1, or the error reply.
    fn load(&self, body: &[u8]) -> Result<(String, Arc<CachedScript>), Reply> {
        let sha = sha1_hex(body);
        if let Some(script) = lock(&self.cache).scripts.get(&sha) {
            return Ok((sha, Arc::clone(script)));
        }
        let (flags, code_start) =
            parse_shebang(body).map_err(|text| Reply::error(format!("ERR {text}")))?;
        let script = Arc::new(CachedScript {
            body: Bytes::copy_from_slice(body),
            code_start,
            flags,
        });
        // Compiled in a fresh state so a syntax error is found before the
        // script is cached, as Redis's SCRIPT LOAD finds it.
        let lua = Lua::new();
        if let Err(error) = lua
            .load(&script.body[code_start..])
            .set_name(SCRIPT_CHUNK)
            .into_function()
        {
            return Err(Reply::error(format!(
                "ERR Error compiling script (new function): {}",
                lua_error_text(&error)
            )));
        }
        lock(&self.cache)
            .scripts
            .insert(sha.clone(), Arc::clone(&script));
        Ok((sha, script))
    }

    fn get(&self, sha: &str) -> Option<Arc<CachedScript>> {
        lock(&self.cache).scripts.get(sha).cloned()
    }

    fn generation(&self) -> u64 {
        lock(&self.cache).generation
    }
}

/// The text of a Lua compile or runtime error as Lua prints it.
fn lua_error_text(error: &mlua::Error) -> String {
    match error {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(message) => message.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        other => other.to_string(),
    }
}

/// Reads a shebang line (`#!lua flags=…`): the flags and where the code
/// starts, or Redis's reason to refuse it.
fn parse_shebang(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((
            ScriptFlags {
                compatible: true,
                no_writes: false,
            },
            0,
        ));
    }
    let Some(end) = body.iter().position(|&byte| byte == b'\n') else {
        return Err("Invalid script shebang".to_owned());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_whitespace();
    let engine = parts.next().unwrap_or_default();
    if engine != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = ScriptFlags::default();
    for part in parts {
        let Some(names) = part.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {part}"));
        };
        for name in names.split(',') {
            match name {
                "no-writes" => flags.no_writes = true,
                "allow-oom" | "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => return Err(format!("Unexpected flag in script shebang: {other}")),
            }
        }
    }
    Ok((flags, end))
}

/// EVAL script numkeys [key …] [arg …] (and EVAL_RO).
pub(crate) fn eval(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let keys = match key_count(arguments) {
        Ok(keys) => keys,
        Err(reply) => return Some(reply),
    };
    let shared = Arc::clone(&client.shared);
    let (sha, script) = match shared.scripts.load(&arguments[1]) {
        Ok(loaded) => loaded,
        Err(reply) => return Some(reply),
    };
    let read_only = eval_read_only(arguments);
    Some(run(
        client,
        arguments,
        keys,
        Target::Eval(&sha, &script),
        read_only,
    ))
}

/// Whether the EVAL is EVAL_RO or EVALSHA_RO.
fn eval_read_only(arguments: &[Bytes]) -> bool {
    matches!(
        table::lookup(&arguments[0]).map(|spec| spec.id),
        Some(CommandId::EvalRo | CommandId::EvalshaRo)
    )
}

/// EVALSHA sha1 numkeys [key …] [arg …] (and EVALSHA_RO).
pub(crate) fn evalsha(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    if arguments[1].len() != 40 {
        return Some(Reply::error(NOSCRIPT_TEXT));
    }
    let keys = match key_count(arguments) {
        Ok(keys) => keys,
        Err(reply) => return Some(reply),
    };
    let sha = String::from_utf8_lossy(&arguments[1]).to_ascii_lowercase();
    let Some(script) = client.shared.scripts.get(&sha) else {
        return Some(Reply::error(NOSCRIPT_TEXT));
    };
    let read_only = eval_read_only(arguments);
    Some(run(
        client,
        arguments,
        keys,
        Target::Eval(&sha, &script),
        read_only,
    ))
}

/// EVAL's (and FCALL's) numkeys, checked as Redis checks it.
pub(crate) fn key_count(arguments: &[Bytes]) -> Result<usize, Reply> {
    let count = parse_integer(&arguments[2])
        .ok_or_else(|| Reply::error(super::arguments::NOT_AN_INTEGER_TEXT))?;
    if count > i64::try_from(arguments.len() - 3).unwrap_or(i64::MAX) {
        return Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    usize::try_from(count).map_err(|_| Reply::error("ERR Number of keys can't be negative"))
}

/// SCRIPT LOAD script.
pub(crate) fn script_load(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(match client.shared.scripts.load(&arguments[2]) {
        Ok((sha, _)) => Reply::bulk(sha),
        Err(reply) => reply,
    })
}

/// SCRIPT EXISTS sha1 [sha1 …].
pub(crate) fn script_exists(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let cache = lock(&client.shared.scripts.cache);
    Some(Reply::Array(
        arguments[2..]
            .iter()
            .map(|sha| {
                let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                Reply::Integer(i64::from(cache.scripts.contains_key(&sha)))
            })
            .collect(),
    ))
}

/// SCRIPT FLUSH [ASYNC|SYNC]: the cache emptied, every interpreter new.
pub(crate) fn script_flush(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let valid = match &arguments[2..] {
        [] => true,
        [mode] => mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC"),
        _ => false,
    };
    if !valid {
        return Some(Reply::error(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    let mut cache = lock(&client.shared.scripts.cache);
    cache.scripts.clear();
    cache.generation += 1;
    // Each interpreter is replaced when it next runs a script.
    lock(&client.shared.scripts.memory).clear();
    Some(Reply::ok())
}

/// SCRIPT KILL: stops the running scripts; what they wrote is rolled
/// back.
pub(crate) fn script_kill(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    if client.shared.scripts.kill_all() {
        Some(Reply::ok())
    } else {
        Some(Reply::error("NOTBUSY No scripts in execution right now."))
    }
}

/// SCRIPT DEBUG: keel has no Lua debugger.
pub(crate) fn script_debug(_: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let mode = &arguments[2];
    Some(if mode.eq_ignore_ascii_case(b"NO") {
        Reply::ok()
    } else if mode.eq_ignore_ascii_case(b"YES") || mode.eq_ignore_ascii_case(b"SYNC") {
        Reply::error("ERR keel has no Lua debugger")
    } else {
        Reply::error("ERR Use SCRIPT DEBUG YES/SYNC/NO")
    })
}

/// The lines of SCRIPT HELP.
pub(crate) const HELP_LINES: &[&str] = &[
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
];

/// What a running script's `redis.call` works with.
struct RunState<'a> {
    client: &'a mut Client,
    calls: &'a mut dyn ScriptCalls,
    database: DatabaseIndex,
    /// The protocol replies reach the script in (`redis.setresp`).
    resp: ProtocolVersion,
    read_only: bool,
    /// PUBLISH and SPUBLISH calls, delivered after the commit.
    publishes: Vec<(bool, Bytes, Bytes)>,
    kill: Arc<AtomicBool>,
}

/// What runs: an EVAL script (by SHA1), or a library's function.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Eval(&'a str, &'a CachedScript),
    Function(&'a str),
}

/// Runs a script or function for `client`: its reply. `read_only_command`
/// for EVAL_RO, EVALSHA_RO and FCALL_RO.
pub(crate) fn run(
    client: &mut Client,
    arguments: &[Bytes],
    key_count: usize,
    target: Target<'_>,
    read_only_command: bool,
) -> Reply {
    let shared = Arc::clone(&client.shared);
    let flags = match target {
        Target::Eval(_, script) => script.flags,
        Target::Function(name) => match shared.scripts.function_flags(name) {
            Some(flags) => flags,
            None => return Reply::error("ERR Function not found"),
        },
    };
    if !flags.compatible && !flags.no_writes && read_only_command {
        return Reply::error("ERR Can not execute a script with write flag using *_ro command.");
    }
    let read_only = read_only_command || (!flags.compatible && flags.no_writes);
    let keys = &arguments[3..3 + key_count];
    let argv = &arguments[3 + key_count..];
    let kill = shared.scripts.start(client.id());
    let generation = shared.scripts.generation();
    let libraries = shared.scripts.libraries();
    let mut session = std::mem::replace(&mut client.session, Box::new(crate::backend::Lent));
    let database = client.database;
    let mut reply = Reply::NullBulk;
    let mut publishes = Vec::new();
    let ran = VM.with(|vm| {
        let mut vm = vm.borrow_mut();
        if vm.as_ref().is_none_or(|vm| vm.generation != generation) {
            *vm = match Vm::new(generation, &shared.options.redis_version) {
                Ok(fresh) => Some(fresh),
                Err(error) => {
                    reply = Reply::error(format!("ERR cannot start Lua: {error}"));
                    return Ok(());
                }
            };
        }
        let Some(vm) = vm.as_mut() else {
            return Ok(());
        };
        let (function, name, as_function) = match target {
            Target::Eval(sha, script) => match vm.function(sha, script) {
                Ok(function) => (function, sha.to_owned(), false),
                Err(error) => {
                    reply = Reply::error(format!(
                        "ERR Error compiling script (new function): {}",
                        lua_error_text(&error)
                    ));
                    return Ok(());
                }
            },
            Target::Function(name) => match vm.callback(name, &libraries) {
                Some(function) => (function, name.to_owned(), true),
                None => {
                    reply = Reply::error("ERR Function not found");
                    return Ok(());
                }
            },
        };
        let outcome = session.execute_script(&mut |calls| {
            let mut state = RunState {
                client: &mut *client,
                calls,
                database,
                resp: ProtocolVersion::Resp2,
                read_only,
                publishes: Vec::new(),
                kill: Arc::clone(&kill),
            };
            reply = vm.call(&function, &name, as_function, keys, argv, &mut state);
            publishes = std::mem::take(&mut state.publishes);
            !kill.load(Ordering::Acquire)
        });
        // A step of garbage collection every so many runs, as Redis does,
        // so garbage never waits for a full cycle.
        vm.runs += 1;
        if vm.runs % GC_PERIOD_RUNS == 0 {
            let _ = vm.lua.gc_step();
        }
        // Garbage far past what the interpreter held after its last full
        // collection (libraries loaded again, big tables): collect it all.
        if vm.lua.used_memory() > vm.collected_bytes + GC_FULL_GROWTH_BYTES {
            let _ = vm.lua.gc_collect();
            vm.collected_bytes = vm.lua.used_memory();
        }
        lock(&shared.scripts.memory).insert(std::thread::current().id(), vm.lua.used_memory());
        outcome
    });
    client.session = session;
    shared.scripts.finish(&kill);
    if let Err(error) = ran {
        return error;
    }
    if !kill.load(Ordering::Acquire) {
        for (shard, channel, message) in publishes {
            shared
                .pubsub
                .publish(&channel, &message, shard, client.id(), &mut Vec::new());
        }
    }
    reply
}

/// A function library (FUNCTION LOAD).
#[derive(Debug)]
pub(crate) struct Library {
    pub(crate) name: String,
    pub(crate) code: Bytes,
    /// Where the Lua code starts (after the shebang line).
    code_start: usize,
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
    generation: u64,
}

/// The flags of a function as named in `register_function`.
fn function_flags(names: &[String]) -> ScriptFlags {
    ScriptFlags {
        compatible: false,
        no_writes: names.iter().any(|name| name == "no-writes"),
    }
}

const FUNCTION_FLAGS: [&str; 5] = [
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

    fn function_flags(&self, name: &str) -> Option<ScriptFlags> {
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
fn parse_library_shebang(code: &[u8]) -> Result<(String, usize), String> {
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

thread_local! {
    /// This thread's Lua interpreter.
    static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
}

/// One Lua interpreter with Redis's sandbox and API.
struct Vm {
    lua: Lua,
    generation: u64,
    /// The compiled scripts, by SHA1.
    functions: HashMap<String, Function>,
    /// The environment scripts run in (read-only globals).
    env: Table,
    /// Per-run globals (KEYS, ARGV).
    run_globals: Table,
    /// keel's primitives the Lua side calls (`P` in the prelude).
    primitives: Table,
    /// The `redis` table behind its read-only face.
    redis: Table,
    xpcall: Function,
    handler: Function,
    /// The libraries' functions as this interpreter loaded them, and the
    /// libraries' generation then.
    callbacks: HashMap<String, Function>,
    library_generation: Option<u64>,
    /// Scripts run (for the periodic garbage collection step).
    runs: u64,
    /// Memory in use after the last full collection.
    collected_bytes: usize,
}

/// keel's Lua: the read-only globals, `pcall` as Redis's, and the `redis`
/// table over the Rust primitives. Runs once per interpreter with the
/// primitives table, the real globals and the environment table.
const PRELUDE: &str = r#"
local P, G, env, run = ...
local raw_error, raw_type, raw_tostring, raw_select = error, type, tostring, select
local raw_setmetatable, raw_getmetatable, raw_rawset = setmetatable, getmetatable, rawset
local raw_pcall, raw_loadstring, raw_setfenv, raw_unpack = pcall, loadstring, setfenv, unpack
local protected = raw_setmetatable({}, {__mode = 'k'})
local function ro_newindex() raw_error('Attempt to modify a readonly table', 2) end
local function readonly(t)
  local proxy = {}
  local meta = {__index = t, __newindex = ro_newindex}
  local public = {}
  protected[public] = true
  raw_setmetatable(public, {__index = meta, __newindex = ro_newindex, __metatable = false})
  meta.__metatable = public
  raw_setmetatable(proxy, meta)
  protected[proxy] = true
  return proxy
end
local globals = {}
local allowed = {'xpcall', 'tostring', 'getfenv', 'next', 'assert', 'tonumber',
  'rawequal', 'collectgarbage', 'getmetatable', 'coroutine', 'type', 'select',
  'unpack', 'gcinfo', 'pairs', 'rawget', 'ipairs', '_VERSION', 'setfenv', 'load',
  'error', 'newproxy'}
for _, name in ipairs(allowed) do globals[name] = G[name] end
globals.setmetatable = function(t, m)
  if protected[t] then raw_error('Attempt to modify a readonly table', 2) end
  return raw_setmetatable(t, m)
end
globals.rawset = function(t, k, v)
  if protected[t] then raw_error('Attempt to modify a readonly table', 2) end
  return raw_rawset(t, k, v)
end
globals.loadstring = function(code, name)
  if raw_type(code) == 'string' and code:byte(1) == 27 then
    return nil, 'binary chunks are not allowed'
  end
  local f, e = raw_loadstring(code, name)
  if f then raw_setfenv(f, env) end
  return f, e
end
-- Redis's pcall: an error table becomes its message.
globals.pcall = function(f, ...)
  local result = {raw_pcall(f, ...)}
  if not result[1] then
    if raw_type(result[2]) == 'table' and raw_type(result[2].err) == 'string' then
      result[2] = result[2].err
    elseif raw_type(result[2]) == 'userdata' then
      result[2] = P.error_message(result[2])
    end
  end
  return raw_unpack(result, 1, table.maxn(result))
end
local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end
local math_copy = copy(G.math)
math_copy.random = P.random
math_copy.randomseed = P.randomseed
globals.math = readonly(math_copy)
globals.string = readonly(copy(G.string))
globals.table = readonly(copy(G.table))
globals.bit = readonly(P.bit)
globals.cjson = readonly(P.cjson)
globals.cmsgpack = readonly(P.cmsgpack)
local function raise(text) raw_error({err = text}) end
local redis = {}
-- redis.call and redis.pcall are set by keel for each run (Rust
-- functions, so that the script's frame stays on the stack for errors).
P.redis = redis
redis.sha1hex = function(...)
  if raw_select('#', ...) ~= 1 then raise('ERR wrong number of arguments') end
  return P.sha1hex((...))
end
redis.error_reply = function(...)
  local text = ...
  if raw_select('#', ...) ~= 1 or raw_type(text) ~= 'string' then
    return {err = 'ERR wrong number or type of arguments'}
  end
  return {err = P.error_text(text)}
end
redis.status_reply = function(...)
  local text = ...
  if raw_select('#', ...) ~= 1 or raw_type(text) ~= 'string' then
    return {err = 'ERR wrong number or type of arguments'}
  end
  return {ok = text}
end
redis.log = function(...)
  local failure = P.log(...)
  if failure then raise(failure) end
end
redis.setresp = function(...)
  local failure = P.setresp(...)
  if failure then raise(failure) end
end
redis.set_repl = function(...)
  if raw_select('#', ...) ~= 1 then raise('ERR redis.set_repl() requires one argument.') end
  local flags = ...
  if raw_type(flags) ~= 'number' or flags < 0 or flags > 3 or flags % 1 ~= 0 then
    raise("ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
  end
end
redis.register_function = function(...)
  local registry = P.registry
  if not registry then raise('ERR redis.register_function can only be called on FUNCTION LOAD command') end
  local count = raw_select('#', ...)
  local name, callback, flags, description
  local first = ...
  if count == 1 and raw_type(first) == 'table' then
    for key in pairs(first) do
      if key ~= 'function_name' and key ~= 'callback' and key ~= 'flags' and key ~= 'description' then
        raise('ERR unknown argument given to redis.register_function')
      end
    end
    name, callback, flags, description = first.function_name, first.callback, first.flags, first.description
  elseif count == 2 then
    name, callback = ...
  else
    raise('ERR wrong number of arguments to redis.register_function')
  end
  if raw_type(name) ~= 'string' then raise('ERR function_name argument given to redis.register_function must be a string') end
  if raw_type(callback) ~= 'function' then raise('ERR callback argument given to redis.register_function must be a function') end
  local flag_list = {}
  if flags ~= nil then
    if raw_type(flags) ~= 'table' then raise('ERR flags argument to redis.register_function must be a table representing function flags') end
    for _, flag in ipairs(flags) do
      if raw_type(flag) ~= 'string' then raise('ERR unknown flag given') end
      flag_list[#flag_list + 1] = flag
    end
  end
  if description ~= nil and raw_type(description) ~= 'string' then
    raise('ERR description argument given to redis.register_function must be a string')
  end
  registry[#registry + 1] = {name, callback, flag_list, description}
end
P.invoke = function(f, handler, keys, argv)
  return xpcall(function() return f(keys, argv) end, handler)
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.acl_check_cmd = function(...)
  if raw_select('#', ...) < 1 then raise('ERR Please specify at least one argument for this redis lib call') end
  if not P.known_command(...) then
    raise('ERR Invalid command passed to redis.acl_check_cmd()')
  end
  return true
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = P.version, P.version_number
globals.redis = readonly(redis)
local env_meta = {}
env_meta.__index = function(_, k)
  if k == '_G' then return env end
  local v = run[k]
  if v ~= nil then return v end
  v = globals[k]
  if v ~= nil then return v end
  raw_error("Script attempted to access nonexistent global variable '" .. raw_tostring(k) .. "'", 2)
end
env_meta.__newindex = ro_newindex
local public_meta = {}
protected[public_meta] = true
raw_setmetatable(public_meta, {__index = env_meta, __newindex = ro_newindex, __metatable = false})
env_meta.__metatable = public_meta
raw_setmetatable(env, env_meta)
protected[env] = true
"#;

impl Vm {
    fn new(generation: u64, redis_version: &str) -> mlua::Result<Vm> {
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
    fn register(&self, code: &[u8]) -> Result<Vec<FunctionInfo>, Reply> {
        self.register_callbacks(code).map(|registered| {
            registered
                .into_iter()
                .map(|(name, _, flags, description)| (name, flags, description))
                .collect()
        })
    }

    /// [`Vm::register`] with the callbacks.
    #[allow(clippy::type_complexity)] // The four parts of a registration.
    fn register_callbacks(
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
    fn callback(&mut self, name: &str, libraries: &Libraries) -> Option<Function> {
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
    fn function(&mut self, sha: &str, script: &CachedScript) -> mlua::Result<Function> {
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
    fn call(
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
            self.redis.raw_set("call", call)?;
            self.redis.raw_set("pcall", pcall)?;
            self.primitives.raw_set("setresp", setresp)?;
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
            let started = Instant::now();
            let served = std::cell::Cell::new(started);
            lua.set_hook(
                HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS),
                move |lua, _| {
                    // Past the threshold, this loop's other clients get
                    // BUSY (and SCRIPT KILL works) from here, as Redis
                    // answers them while a script runs.
                    let threshold = shared.scripts.busy_threshold_ms.load(Ordering::Relaxed);
                    if threshold > 0
                        && started.elapsed() > std::time::Duration::from_millis(threshold)
                        && served.get().elapsed() >= BUSY_SERVE_INTERVAL
                    {
                        served.set(Instant::now());
                        serve_busy(&shared, &entry);
                    }
                    if kill.load(Ordering::Acquire) {
                        // Every line from now on raises, so a pcall loop
                        // cannot keep the script alive.
                        lua.set_hook(HookTriggers::EVERY_LINE, |_, _| {
                            Err(mlua::Error::runtime(KILLED_TEXT))
                        })?;
                        return Err(mlua::Error::runtime(KILLED_TEXT));
                    }
                    Ok(VmState::Continue)
                },
            )?;
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
        self.lua.remove_hook();
        let _ = self.redis.raw_set("call", Value::Nil);
        let _ = self.redis.raw_set("pcall", Value::Nil);
        let _ = self.primitives.raw_set("setresp", Value::Nil);
        let _ = self.run_globals.raw_set("KEYS", Value::Nil);
        let _ = self.run_globals.raw_set("ARGV", Value::Nil);
        outcome.unwrap_or_else(|error| {
            Reply::error(format!(
                "ERR Error running script: {}",
                lua_error_text(&error)
            ))
        })
    }
}

/// While a script is busy on this event loop: answers what this loop's
/// other idle clients sent — BUSY, or SCRIPT KILL / FUNCTION KILL done —
/// straight on their sockets, as Redis answers clients while a script
/// runs (their loop cannot). A client with anything buffered in its
/// connection is left alone (an answer now would overtake it); a request
/// not yet whole is kept for the connection to read first.
fn serve_busy(shared: &crate::state::Shared, me: &crate::state::ClientEntry) {
    use std::io::{Read, Write};
    let Some(my_loop) = me.waker.get() else {
        return;
    };
    // Connections handed to this loop that it has not adopted yet are its
    // too (the loop adopts them with their socket non-blocking).
    let handed: Vec<Arc<crate::state::ClientEntry>> = lock(&my_loop.inbox)
        .iter()
        .map(|(entry, stream)| {
            let _ = stream.set_nonblocking(true);
            Arc::clone(entry)
        })
        .collect();
    for entry in shared.clients() {
        if entry.id == me.id || !entry.idle.load(Ordering::Acquire) {
            continue;
        }
        let same_loop = handed.iter().any(|handed| handed.id == entry.id)
            || entry
                .waker
                .get()
                .is_some_and(|waker| Arc::ptr_eq(&waker.wake, &my_loop.wake));
        if !same_loop {
            continue;
        }
        let mut unread = lock(&entry.unread);
        let mut chunk = [0u8; 4096];
        loop {
            match (&entry.stream).read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(read) => unread.extend_from_slice(&chunk[..read]),
            }
        }
        if unread.is_empty() {
            continue;
        }
        let mut input = bytes::BytesMut::from(&unread[..]);
        let mut parser = crate::resp::RequestParser::new(shared.options.limits.clone());
        let mut out = Vec::new();
        let protocol = entry.protocol();
        loop {
            let before = input.clone();
            match parser.parse_shared(&mut input) {
                Ok(Some(command)) if command.is_empty() => {}
                Ok(Some(command)) => {
                    let arguments = command.arguments();
                    let kills = arguments.len() == 2
                        && (arguments[0].eq_ignore_ascii_case(b"SCRIPT")
                            || arguments[0].eq_ignore_ascii_case(b"FUNCTION"))
                        && arguments[1].eq_ignore_ascii_case(b"KILL");
                    let reply = if kills {
                        shared.scripts.kill_all();
                        Reply::ok()
                    } else {
                        Reply::error(BUSY_TEXT)
                    };
                    reply.encode(protocol, &mut out);
                }
                Ok(None) => break,
                Err(_) => {
                    // The connection answers its protocol error itself.
                    input = before;
                    break;
                }
            }
        }
        *unread = input.to_vec();
        drop(unread);
        // A few bytes on a socket that was empty of output: they fit.
        let _ = (&entry.stream).write_all(&out);
    }
}

/// The `__redis__err__handler` of Redis: an error becomes a table with
/// `err` (`ERR ` and the text for a Lua error), and where the script
/// raised it (`source`, `line`).
fn error_handler(lua: &Lua, tostring: &Function, error: Value) -> mlua::Result<Table> {
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
fn script_error(error: &Value, sha: &str) -> Reply {
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

/// A Lua array of strings (KEYS, ARGV).
fn string_array(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let table = lua.create_table_with_capacity(items.len(), 0)?;
    for (index, item) in items.iter().enumerate() {
        table.raw_set(index + 1, lua.create_string(&item[..])?)?;
    }
    Ok(table)
}

/// An error table (`{err = text}`), as `redis.pcall` returns it.
fn error_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    let table = lua.create_table()?;
    table.raw_set("err", text)?;
    Ok(Value::Table(table))
}

/// `luaPushErrorBuff`'s text: `-CODE message` keeps its code, anything
/// else gets `ERR`.
fn error_text(text: &str) -> String {
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
struct CallError(String);

impl std::fmt::Display for CallError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

/// The text an error value stands for: a [`CallError`]'s, or `ERR` and
/// the message of another failure (SCRIPT KILL's, a Lua error in a
/// callback).
fn error_value_text(error: &mlua::Error) -> String {
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

/// `redis.call` and `redis.pcall`: the reply as a Lua value (an error
/// reply as an error table), or the text of an error of the call itself
/// (unknown command, refused in scripts …), which `call` raises.
fn redis_call(
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

/// Runs one command of a script: its reply, or the script's reason to
/// refuse it.
fn call_command(
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
    let refused = spec.has(CommandFlags::NOSCRIPT) || spec.has(CommandFlags::BLOCKING);
    if refused && !deny_disabled {
        return Err("This Redis command is not allowed from script".to_owned());
    }
    let publishes = matches!(spec.id, CommandId::Publish | CommandId::Spublish);
    if state.read_only && (spec.has(CommandFlags::WRITE) || publishes) {
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
            match super::connection::database_index(state.client, &arguments[1]) {
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
            super::count_reply(receivers)
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
    let usec = super::dispatch::elapsed_usec(started);
    shared.stats.called(spec.id, usec, failed);
    Ok(reply)
}

/// `redis.setresp(n)`: the protocol of the replies the script gets; the
/// error text to raise, if any.
fn set_resp(state: &mut RunState<'_>, arguments: &MultiValue) -> Option<String> {
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

/// A reply as the script sees it (`redisProtocolToLuaType`): RESP3 types
/// as tables (`{map=…}`, `{set=…}`, `{double=…}` …) when the script asked
/// for RESP3, RESP2's downgrades otherwise.
fn reply_to_lua(lua: &Lua, reply: &Reply, resp: ProtocolVersion) -> mlua::Result<Value> {
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
fn lua_to_reply(value: &Value, resp: ProtocolVersion, depth: usize) -> Reply {
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

fn table_to_reply(table: &Table, resp: ProtocolVersion, depth: usize) -> Reply {
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

/// Registers keel's Rust primitives in `P`.
fn register_primitives(lua: &Lua, primitives: &Table, redis_version: &str) -> mlua::Result<()> {
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
    primitives.raw_set("bit", super::lua_libs::bit_library(lua)?)?;
    primitives.raw_set(
        "cjson",
        super::lua_libs::cjson_library(lua, format_lua_number)?,
    )?;
    primitives.raw_set("cmsgpack", super::lua_libs::cmsgpack_library(lua)?)?;
    Ok(())
}

/// A number as Lua's `tostring` shows it (`%.14g`).
fn format_lua_number(number: f64) -> String {
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

/// SHA-1 of `bytes` in lower-case hex (FIPS 180-4), as Redis names
/// scripts.
pub fn sha1_hex(bytes: &[u8]) -> String {
    let mut state: [u32; 5] = [
        0x6745_2301,
        0xefcd_ab89,
        0x98ba_dcfe,
        0x1032_5476,
        0xc3d2_e1f0,
    ];
    let bit_length = (bytes.len() as u64).wrapping_mul(8);
    let mut message = bytes.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_length.to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut words = [0u32; 80];
        for (index, word) in block.chunks_exact(4).enumerate() {
            words[index] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for index in 16..80 {
            words[index] =
                (words[index - 3] ^ words[index - 8] ^ words[index - 14] ^ words[index - 16])
                    .rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = state;
        for (index, word) in words.iter().enumerate() {
            let (f, k) = match index {
                0..=19 => ((b & c) | (!b & d), 0x5a82_7999),
                20..=39 => (b ^ c ^ d, 0x6ed9_eba1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
                _ => (b ^ c ^ d, 0xca62_c1d6),
            };
            let next = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = next;
        }
        for (slot, value) in state.iter_mut().zip([a, b, c, d, e]) {
            *slot = slot.wrapping_add(value);
        }
    }
    state.iter().map(|word| format!("{word:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_redis() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            sha1_hex(b"Pizza & Mandolino"),
            "74822d82031af7493c20eefa13bd07ec4fada82f"
        );
        assert_eq!(
            sha1_hex(b"return redis.call('get',KEYS[1])"),
            "fd758d1589d044dd850a6f05d52f2eefd27f033f"
        );
        let long = vec![b'x'; 1000];
        assert_eq!(sha1_hex(&long).len(), 40);
    }

    #[test]
    fn shebangs_are_read_as_redis_reads_them() {
        assert!(parse_shebang(b"return 1").unwrap().0.compatible);
        let (flags, start) = parse_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert!(flags.no_writes && !flags.compatible);
        assert_eq!(start, 31);
        assert_eq!(
            parse_shebang(b"#!not-lua\nreturn 1"),
            Err("Unexpected engine in script shebang: #!not-lua".to_owned())
        );
        assert_eq!(
            parse_shebang(b"#!lua badger=data\n"),
            Err("Unknown lua shebang option: badger=data".to_owned())
        );
        assert_eq!(
            parse_shebang(b"#!lua flags=allow-oom,what?\n"),
            Err("Unexpected flag in script shebang: what?".to_owned())
        );
        assert_eq!(
            parse_shebang(b"#!lua"),
            Err("Invalid script shebang".to_owned())
        );
    }

    #[test]
    fn errors_keep_their_code() {
        assert_eq!(
            error_text("-MY_ERR_CODE custom msg"),
            "MY_ERR_CODE custom msg"
        );
        assert_eq!(error_text("plain"), "ERR plain");
        assert_eq!(error_text("-ONEWORD"), "ERR ONEWORD");
    }

    #[test]
    fn lua_numbers_print_as_lua_prints_them() {
        assert_eq!(format_lua_number(3.0), "3");
        assert_eq!(format_lua_number(0.1), "0.1");
        assert_eq!(format_lua_number(1e20), "1e+20");
        assert_eq!(format_lua_number(-2.5), "-2.5");
    }
}

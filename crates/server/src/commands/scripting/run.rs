//! One run of a script or function: its flags against the command
//! (EVAL_RO …), the interpreter of this thread, the run in one
//! serializable transaction of the connection's session, and PUBLISH's
//! deliveries after the commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use mlua::Function;

use super::cache::{CachedScript, Scripts};
use super::errors::lua_error_text;
use super::libraries::Libraries;
use super::vm::{VM, Vm};
use crate::backend::{DatabaseIndex, ScriptCalls};
use crate::commands::client::Client;
use crate::resp::{ProtocolVersion, Reply};
use crate::state::lock;

/// What a running script's `redis.call` works with.
pub(super) struct RunState<'a> {
    pub(super) client: &'a mut Client,
    pub(super) calls: &'a mut dyn ScriptCalls,
    pub(super) database: DatabaseIndex,
    /// The protocol replies reach the script in (`redis.setresp`).
    pub(super) resp: ProtocolVersion,
    pub(super) read_only: bool,
    /// PUBLISH and SPUBLISH calls, delivered after the commit.
    pub(super) publishes: Vec<(bool, Bytes, Bytes)>,
    pub(super) kill: Arc<AtomicBool>,
}

/// What runs: an EVAL script (by SHA1), or a library's function.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Eval(&'a str, &'a CachedScript),
    Function(&'a str),
}

/// Whether a run of `target` for a command that is read-only or not
/// (`*_RO`) may only read; Redis's refusal of a script with the write
/// flag under a `*_RO` command, or of a function not loaded.
fn read_only_run(
    scripts: &Scripts,
    target: Target<'_>,
    read_only_command: bool,
) -> Result<bool, Reply> {
    let flags = match target {
        Target::Eval(_, script) => script.flags,
        Target::Function(name) => scripts
            .function_flags(name)
            .ok_or_else(|| Reply::error("ERR Function not found"))?,
    };
    if !flags.compatible && !flags.no_writes && read_only_command {
        return Err(Reply::error(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    Ok(read_only_command || (!flags.compatible && flags.no_writes))
}

/// This thread's interpreter, started anew when SCRIPT FLUSH moved the
/// cache's generation since it started.
fn current_vm<'a>(
    slot: &'a mut Option<Vm>,
    generation: u64,
    redis_version: &str,
) -> Result<&'a mut Vm, Reply> {
    if slot.as_ref().is_none_or(|vm| vm.generation != generation) {
        let fresh = Vm::new(generation, redis_version)
            .map_err(|error| Reply::error(format!("ERR cannot start Lua: {error}")))?;
        *slot = Some(fresh);
    }
    slot.as_mut()
        .ok_or_else(|| Reply::error("ERR cannot start Lua"))
}

/// The Lua function `target` calls, the name its errors give, and
/// whether it is a library's function (called with KEYS and ARGV as
/// arguments, not globals).
fn entry_point(
    vm: &mut Vm,
    target: Target<'_>,
    libraries: &Libraries,
) -> Result<(Function, String, bool), Reply> {
    match target {
        Target::Eval(sha, script) => match vm.function(sha, script) {
            Ok(function) => Ok((function, sha.to_owned(), false)),
            Err(error) => Err(Reply::error(format!(
                "ERR Error compiling script (new function): {}",
                lua_error_text(&error)
            ))),
        },
        Target::Function(name) => vm
            .callback(name, libraries)
            .map(|function| (function, name.to_owned(), true))
            .ok_or_else(|| Reply::error("ERR Function not found")),
    }
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
    let read_only = match read_only_run(&shared.scripts, target, read_only_command) {
        Ok(read_only) => read_only,
        Err(reply) => return reply,
    };
    let keys = &arguments[3..3 + key_count];
    let argv = &arguments[3 + key_count..];
    let kill = shared.scripts.start(client.id());
    let generation = shared.scripts.generation();
    let libraries = shared.scripts.libraries();
    let mut session = std::mem::replace(&mut client.session, Box::new(crate::backend::Lent));
    let database = client.database;
    let mut reply = Reply::NullBulk;
    let mut publishes = Vec::new();
    let ran = VM.with(|slot| {
        let mut slot = slot.borrow_mut();
        let prepared = current_vm(&mut slot, generation, &shared.options.redis_version)
            .and_then(|vm| entry_point(vm, target, &libraries).map(|entry| (vm, entry)));
        let (vm, (function, name, as_function)) = match prepared {
            Ok(prepared) => prepared,
            Err(refused) => {
                reply = refused;
                return Ok(());
            }
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
        let used_bytes = vm.collect_garbage();
        lock(&shared.scripts.memory).insert(std::thread::current().id(), used_bytes);
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

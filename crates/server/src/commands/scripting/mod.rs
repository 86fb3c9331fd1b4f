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
//!
//! The parts: `cache.rs` (the server's scripts: the SHA-1 cache, the
//! running ones and BUSY, shebang flags), `commands.rs` (EVAL, EVALSHA,
//! SCRIPT), `run.rs` (one run: the transaction, the interpreter, the
//! deliveries after the commit), `vm.rs` (a thread's Lua interpreter and
//! Redis's sandbox, `sandbox.lua`), `primitives.rs` (the Rust functions
//! the sandbox calls), `bridge.rs` (`redis.call`/`pcall`: a command
//! inside the script's transaction), `convert.rs` (replies to Lua values
//! and back), `errors.rs` (Redis's error texts and tables), `busy.rs`
//! (answering the loop's other clients while a script is busy),
//! `libraries.rs` (FUNCTION LOAD's libraries).

mod bridge;
mod busy;
mod cache;
mod commands;
mod convert;
mod errors;
mod libraries;
mod primitives;
mod run;
mod vm;

pub(crate) use cache::Scripts;
pub(crate) use commands::{
    HELP_LINES, eval, evalsha, key_count, script_debug, script_exists, script_flush, script_kill,
    script_load,
};
pub(crate) use run::{Target, run};

/// EVALSHA of a script not in the cache.
pub const NOSCRIPT_TEXT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// A command refused while a script has run longer than
/// `busy-reply-threshold`.
pub const BUSY_TEXT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

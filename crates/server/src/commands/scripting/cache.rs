//! The server's scripts: the cache of bodies by SHA-1 (SCRIPT LOAD,
//! EVAL), the scripts running now (BUSY past `busy-reply-threshold`,
//! SCRIPT KILL), the interpreters' memory, and a script's shebang flags.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use mlua::Lua;

use super::errors::lua_error_text;
use super::libraries::Libraries;
use super::vm::SCRIPT_CHUNK;
use crate::backend::ClientId;
use crate::resp::Reply;
use crate::state::lock;

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
    pub(super) body: Bytes,
    /// Where the Lua code starts: after the shebang line, its line feed
    /// kept so line numbers stay the user's.
    pub(super) code_start: usize,
    pub(super) flags: ScriptFlags,
}

/// Redis's default `busy-reply-threshold` (`lua-time-limit`): 5 s.
pub const BUSY_THRESHOLD_MS_DEFAULT: u64 = 5000;

/// The server's scripts: the cache, the running ones, the interpreters'
/// memory.
#[derive(Debug)]
pub(crate) struct Scripts {
    pub(super) cache: Mutex<ScriptCache>,
    pub(super) running: Mutex<Vec<RunningScript>>,
    /// How many run (checked per command without a lock).
    pub(super) running_count: AtomicUsize,
    /// `busy-reply-threshold` in milliseconds (0: never busy).
    pub(crate) busy_threshold_ms: AtomicU64,
    /// Each interpreter's memory, by thread (INFO's `used_memory_lua`).
    pub(super) memory: Mutex<HashMap<std::thread::ThreadId, usize>>,
    /// FUNCTION LOAD's libraries.
    pub(super) libraries: Mutex<Libraries>,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS 1: scripts may run `noscript`
    /// commands (Redis's test hook).
    pub(super) deny_disabled: AtomicBool,
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
pub(super) struct ScriptCache {
    pub(super) scripts: HashMap<String, Arc<CachedScript>>,
    /// Bumped by SCRIPT FLUSH: each interpreter starts afresh.
    pub(super) generation: u64,
}

#[derive(Debug)]
pub(super) struct RunningScript {
    pub(super) client: ClientId,
    pub(super) started: Instant,
    pub(super) kill: Arc<AtomicBool>,
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

    pub(super) fn start(&self, client: ClientId) -> Arc<AtomicBool> {
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

    pub(super) fn finish(&self, kill: &Arc<AtomicBool>) {
        let mut running = lock(&self.running);
        running.retain(|running| !Arc::ptr_eq(&running.kill, kill));
        self.running_count.store(running.len(), Ordering::Release);
    }

    /// Adds `body` to the cache (checking its shebang and that it
    /// compiles): its SHA1, or the error reply.
    pub(super) fn load(&self, body: &[u8]) -> Result<(String, Arc<CachedScript>), Reply> {
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

    pub(super) fn get(&self, sha: &str) -> Option<Arc<CachedScript>> {
        lock(&self.cache).scripts.get(sha).cloned()
    }

    pub(super) fn generation(&self) -> u64 {
        lock(&self.cache).generation
    }
}

/// Reads a shebang line (`#!lua flags=…`): the flags and where the code
/// starts, or Redis's reason to refuse it.
pub(super) fn parse_shebang(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
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

/// SHA-1 of `bytes` in lower-case hex, as Redis names scripts.
pub(crate) fn sha1_hex(bytes: &[u8]) -> String {
    sha1_smol::Sha1::from(bytes).digest().to_string()
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
}

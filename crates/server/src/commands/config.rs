//! CONFIG SET and CONFIG GET of Redis's parameters that keel does not
//! act on: clients and test harnesses set them (maxmemory-policy,
//! list-max-listpack-size, lua-time-limit …) and read them back, and
//! Redis's test suite aborts a unit whose CONFIG SET fails. keel keeps
//! each value, checked as Redis checks it (a boolean, an integer in range,
//! a memory size, one of a list), and shows it; it changes nothing else.
//! The settings keel does act on are the server's (`server.rs`: port,
//! maxclients, requirepass …, fixed at start) and the backend's
//! (`appendfsync`, `save` …).

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;

use super::glob::GlobPattern;
use super::notify::{EventClasses, INVALID_CLASS_TEXT};
use crate::resp::Reply;
use crate::state::{Shared, lock};

/// What values a parameter takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParameterKind {
    /// `yes` or `no`.
    Boolean,
    /// An integer from `min` to `max`.
    Integer {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// A size: a number with an optional unit (`b`, `k`, `kb`, `m`, `mb`,
    /// `g`, `gb`).
    Memory,
    /// One of the listed names.
    OneOf(&'static [&'static str]),
    /// Any text.
    Text,
    /// Set only at start (`CONFIG SET` refuses it).
    Immutable,
}

/// One parameter: its name, Redis's older name for it, default and kind.
#[derive(Clone, Copy, Debug)]
pub struct Parameter {
    /// The name.
    pub name: &'static str,
    /// The name before Redis 7 renamed it (`zset-max-ziplist-entries`).
    pub alias: Option<&'static str>,
    /// The value at start.
    pub default: &'static str,
    /// What values it takes.
    pub kind: ParameterKind,
}

/// The keyspace event classes published (`notify.rs`), in Redis's
/// letters; keel acts on it.
const NOTIFY_KEYSPACE_EVENTS: &str = "notify-keyspace-events";

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const LONG_MAX: i64 = i64::MAX;

const fn parameter(name: &'static str, default: &'static str, kind: ParameterKind) -> Parameter {
    Parameter {
        name,
        alias: None,
        default,
        kind,
    }
}

const fn renamed(
    name: &'static str,
    alias: &'static str,
    default: &'static str,
    kind: ParameterKind,
) -> Parameter {
    Parameter {
        name,
        alias: Some(alias),
        default,
        kind,
    }
}

const fn boolean(name: &'static str, default: &'static str) -> Parameter {
    parameter(name, default, ParameterKind::Boolean)
}

const fn integer(name: &'static str, default: &'static str, min: i64, max: i64) -> Parameter {
    parameter(name, default, ParameterKind::Integer { min, max })
}

use ParameterKind::{Immutable, Memory, OneOf, Text};

const EVICTION_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// Redis 7's parameters keel keeps without acting on them.
pub static PARAMETERS: &[Parameter] = &[
    boolean("activedefrag", "no"),
    boolean("activerehashing", "yes"),
    integer("active-defrag-cycle-max", "25", 1, 99),
    integer("active-defrag-cycle-min", "1", 1, 99),
    parameter("active-defrag-ignore-bytes", "104857600", Memory),
    integer("active-defrag-max-scan-fields", "1000", 1, LONG_MAX),
    integer("active-defrag-threshold-lower", "10", 0, 1000),
    integer("active-defrag-threshold-upper", "100", 0, 1000),
    integer("active-expire-effort", "1", 1, 10),
    integer("acllog-max-len", "128", 0, LONG_MAX),
    boolean("aof-load-truncated", "yes"),
    boolean("aof-rewrite-incremental-fsync", "yes"),
    boolean("aof-timestamp-enabled", "no"),
    boolean("aof-use-rdb-preamble", "yes"),
    parameter("appenddirname", "appendonlydir", Immutable),
    parameter("appendfilename", "appendonly.aof", Immutable),
    parameter(
        "appendfsync",
        "everysec",
        OneOf(&["always", "everysec", "no"]),
    ),
    boolean("appendonly", "yes"),
    integer("auto-aof-rewrite-percentage", "100", 0, INT_MAX),
    parameter("auto-aof-rewrite-min-size", "67108864", Memory),
    parameter("bgsave-cpulist", "", Immutable),
    parameter("bio-cpulist", "", Immutable),
    renamed(
        "busy-reply-threshold",
        "lua-time-limit",
        "5000",
        ParameterKind::Integer {
            min: 0,
            max: LONG_MAX,
        },
    ),
    parameter(
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        Text,
    ),
    parameter("cluster-enabled", "no", Immutable),
    boolean("crash-log-enabled", "yes"),
    boolean("crash-memcheck-enabled", "yes"),
    parameter("daemonize", "no", Immutable),
    parameter("dbfilename", "dump.rdb", Text),
    boolean("disable-thp", "yes"),
    boolean("dynamic-hz", "yes"),
    parameter("enable-debug-command", "yes", Immutable),
    parameter("enable-module-command", "no", Immutable),
    parameter("enable-protected-configs", "no", Immutable),
    renamed(
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        "128",
        ParameterKind::Integer {
            min: 0,
            max: LONG_MAX,
        },
    ),
    renamed(
        "hash-max-listpack-value",
        "hash-max-ziplist-value",
        "64",
        ParameterKind::Integer {
            min: 0,
            max: LONG_MAX,
        },
    ),
    parameter("hll-sparse-max-bytes", "3000", Memory),
    integer("hz", "10", 0, INT_MAX),
    boolean("jemalloc-bg-thread", "yes"),
    integer("key-load-delay", "0", INT_MIN, INT_MAX),
    boolean("latency-tracking", "yes"),
    parameter("latency-tracking-info-percentiles", "50 99 99.9", Text),
    integer("latency-monitor-threshold", "0", 0, LONG_MAX),
    boolean("lazyfree-lazy-eviction", "no"),
    boolean("lazyfree-lazy-expire", "no"),
    boolean("lazyfree-lazy-server-del", "no"),
    boolean("lazyfree-lazy-user-del", "no"),
    boolean("lazyfree-lazy-user-flush", "no"),
    integer("lfu-decay-time", "1", 0, INT_MAX),
    integer("lfu-log-factor", "10", 0, INT_MAX),
    integer("list-compress-depth", "0", 0, INT_MAX),
    renamed(
        "list-max-listpack-size",
        "list-max-ziplist-size",
        "-2",
        ParameterKind::Integer {
            min: INT_MIN,
            max: INT_MAX,
        },
    ),
    parameter(
        "loglevel",
        "notice",
        OneOf(&["debug", "verbose", "notice", "warning", "nothing"]),
    ),
    parameter("logfile", "", Immutable),
    parameter("loading-process-events-interval-bytes", "2097152", Memory),
    parameter("masterauth", "", Text),
    parameter("masteruser", "", Text),
    parameter("maxmemory", "0", Memory),
    parameter("maxmemory-clients", "0", Memory),
    integer("maxmemory-eviction-tenacity", "10", 0, 100),
    parameter("maxmemory-policy", "noeviction", OneOf(EVICTION_POLICIES)),
    integer("maxmemory-samples", "5", 1, INT_MAX),
    renamed(
        "min-replicas-max-lag",
        "min-slaves-max-lag",
        "10",
        ParameterKind::Integer {
            min: 0,
            max: INT_MAX,
        },
    ),
    renamed(
        "min-replicas-to-write",
        "min-slaves-to-write",
        "0",
        ParameterKind::Integer {
            min: 0,
            max: INT_MAX,
        },
    ),
    boolean("no-appendfsync-on-rewrite", "no"),
    parameter(NOTIFY_KEYSPACE_EVENTS, "", Text),
    parameter(
        "oom-score-adj",
        "no",
        OneOf(&["no", "yes", "relative", "absolute"]),
    ),
    parameter("oom-score-adj-values", "0 200 800", Text),
    parameter("pidfile", "", Immutable),
    parameter(
        "propagation-error-behavior",
        "ignore",
        OneOf(&["ignore", "panic", "panic-on-replicas"]),
    ),
    boolean("protected-mode", "yes"),
    boolean("rdbchecksum", "yes"),
    boolean("rdbcompression", "yes"),
    boolean("rdb-save-incremental-fsync", "yes"),
    integer("rdb-key-save-delay", "0", INT_MIN, INT_MAX),
    parameter("repl-backlog-size", "1048576", Memory),
    integer("repl-backlog-ttl", "3600", 0, INT_MAX),
    parameter(
        "repl-diskless-load",
        "disabled",
        OneOf(&["disabled", "on-empty-db", "swapdb"]),
    ),
    boolean("repl-diskless-sync", "yes"),
    integer("repl-diskless-sync-delay", "5", 0, INT_MAX),
    integer("repl-diskless-sync-max-replicas", "0", 0, INT_MAX),
    renamed(
        "repl-ping-replica-period",
        "repl-ping-slave-period",
        "10",
        ParameterKind::Integer {
            min: 1,
            max: INT_MAX,
        },
    ),
    integer("repl-timeout", "60", 1, INT_MAX),
    boolean("replica-lazy-flush", "no"),
    renamed(
        "replica-priority",
        "slave-priority",
        "100",
        ParameterKind::Integer {
            min: 0,
            max: INT_MAX,
        },
    ),
    renamed(
        "replica-read-only",
        "slave-read-only",
        "yes",
        ParameterKind::Boolean,
    ),
    renamed(
        "replica-serve-stale-data",
        "slave-serve-stale-data",
        "yes",
        ParameterKind::Boolean,
    ),
    parameter(
        "sanitize-dump-payload",
        "no",
        OneOf(&["no", "yes", "clients"]),
    ),
    parameter("save", "", Text),
    boolean("set-proc-title", "yes"),
    integer("set-max-intset-entries", "512", 0, LONG_MAX),
    integer("set-max-listpack-entries", "128", 0, LONG_MAX),
    integer("set-max-listpack-value", "64", 0, LONG_MAX),
    integer("shutdown-timeout", "10", 0, INT_MAX),
    integer("slowlog-log-slower-than", "10000", -1, LONG_MAX),
    integer("slowlog-max-len", "128", 0, LONG_MAX),
    boolean("stop-writes-on-bgsave-error", "yes"),
    parameter("stream-node-max-bytes", "4096", Memory),
    integer("stream-node-max-entries", "100", 0, LONG_MAX),
    parameter("supervised", "no", Immutable),
    integer("tcp-keepalive", "300", 0, INT_MAX),
    integer("timeout", "0", 0, INT_MAX),
    integer("tracking-table-max-keys", "1000000", 0, LONG_MAX),
    integer("watchdog-period", "0", 0, INT_MAX),
    renamed(
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        "128",
        ParameterKind::Integer {
            min: 0,
            max: LONG_MAX,
        },
    ),
    renamed(
        "zset-max-listpack-value",
        "zset-max-ziplist-value",
        "64",
        ParameterKind::Integer {
            min: 0,
            max: LONG_MAX,
        },
    ),
];

/// The parameter named `name` (or by its older name), in any case.
pub fn lookup(name: &str) -> Option<&'static Parameter> {
    PARAMETERS.iter().find(|parameter| {
        parameter.name.eq_ignore_ascii_case(name)
            || parameter
                .alias
                .is_some_and(|alias| alias.eq_ignore_ascii_case(name))
    })
}

/// A size as Redis's `memtoull` reads it: digits, then an optional unit
/// (`k` is 1000, `kb` 1024 …), in any case.
pub fn parse_memory(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let digits_end = lower
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

impl Parameter {
    /// Checks `value` as Redis would; the value to keep (sizes and
    /// booleans as Redis shows them), or the reason it is refused.
    pub fn check(&self, value: &str) -> Result<String, String> {
        match self.kind {
            ParameterKind::Boolean => match value.to_ascii_lowercase().as_str() {
                "yes" | "no" => Ok(value.to_ascii_lowercase()),
                _ => Err("argument must be 'yes' or 'no'".to_owned()),
            },
            ParameterKind::Integer { min, max } => {
                let integer = crate::resp::parse_integer(value.as_bytes())
                    .ok_or_else(|| "argument couldn't be parsed into an integer".to_owned())?;
                if !(min..=max).contains(&integer) {
                    return Err(format!(
                        "argument must be between {min} and {max} inclusive"
                    ));
                }
                Ok(integer.to_string())
            }
            ParameterKind::Memory => parse_memory(value)
                .map(|bytes| bytes.to_string())
                .ok_or_else(|| "argument must be a memory value".to_owned()),
            ParameterKind::OneOf(names) => names
                .iter()
                .find(|name| name.eq_ignore_ascii_case(value))
                .map(|name| (*name).to_owned())
                .ok_or_else(|| {
                    format!(
                        "argument(s) must be one of the following: {}",
                        names.join(", ")
                    )
                }),
            ParameterKind::Text => Ok(value.to_owned()),
            ParameterKind::Immutable => Err("can't set immutable config".to_owned()),
        }
    }
}

/// The current values of [`PARAMETERS`].
#[derive(Debug, Default)]
pub(crate) struct ConfigTable {
    changed: Mutex<BTreeMap<&'static str, String>>,
}

impl ConfigTable {
    /// The value of `parameter`.
    pub(crate) fn value(&self, parameter: &Parameter) -> String {
        lock(&self.changed)
            .get(parameter.name)
            .cloned()
            .unwrap_or_else(|| parameter.default.to_owned())
    }

    /// Sets checked values, all at once.
    pub(crate) fn set(&self, values: Vec<(&'static Parameter, String)>) {
        let mut changed = lock(&self.changed);
        for (parameter, value) in values {
            changed.insert(parameter.name, value);
        }
    }

    /// Every parameter's names (the current one and the older one) with
    /// its value.
    pub(crate) fn all(&self) -> Vec<(String, String)> {
        let mut settings = Vec::new();
        for parameter in PARAMETERS {
            let value = self.value(parameter);
            if let Some(alias) = parameter.alias {
                settings.push((alias.to_owned(), value.clone()));
            }
            settings.push((parameter.name.to_owned(), value));
        }
        settings
    }
}

/// The server's own settings, fixed at start.
const SERVER_SETTINGS: [&str; 9] = [
    "bind",
    "port",
    "maxclients",
    "requirepass",
    "databases",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "io-threads",
    "server-cpulist",
];

/// CONFIG SET name value [name value …]: every pair checked first, then
/// all applied, as Redis does. The backend's settings first, then the
/// kept Redis parameters; the server's own are fixed at start.
pub(crate) fn set_reply(shared: &Shared, pairs: &[Bytes]) -> Reply {
    if !pairs.len().is_multiple_of(2) {
        return Reply::error("ERR wrong number of arguments for 'config|set' command");
    }
    let failed = |name: &str, reason: &str| {
        Reply::error(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
        ))
    };
    let mut seen: Vec<String> = Vec::new();
    let mut backend_changes = Vec::new();
    let mut table_changes = Vec::new();
    for pair in pairs.chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        let canonical = lookup(&name).map_or(name.clone(), |parameter| parameter.name.to_owned());
        if seen.contains(&canonical) {
            return failed(&name, "duplicate parameter");
        }
        seen.push(canonical);
        if SERVER_SETTINGS.contains(&name.as_str()) {
            // Setting one to the value it has changes nothing: accepted,
            // as a client restoring what CONFIG GET showed expects.
            let unchanged = server_settings(shared)
                .iter()
                .any(|(known, current)| *known == name && *current == value);
            if unchanged {
                continue;
            }
            return failed(
                &name,
                &format!("keel sets it only at start (`keel serve --{name}`)"),
            );
        }
        match shared.backend.set_setting(&name, &value, false) {
            Some(Err(reason)) => return failed(&name, &reason),
            Some(Ok(())) => {
                backend_changes.push((name, value));
                continue;
            }
            None => {}
        }
        let Some(parameter) = lookup(&name) else {
            return Reply::error(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        if parameter.kind == ParameterKind::Immutable && shared.config.value(parameter) == value {
            // Its own value again: nothing changes, as for the server's.
            continue;
        }
        let checked = if parameter.name == "client-output-buffer-limit" {
            crate::net::pubsub::merge_output_buffer_limit(&shared.config.value(parameter), &value)
        } else if parameter.name == NOTIFY_KEYSPACE_EVENTS {
            EventClasses::parse(&value)
                .map(|classes| classes.to_string())
                .ok_or_else(|| INVALID_CLASS_TEXT.to_owned())
        } else {
            parameter.check(&value)
        };
        match checked {
            Ok(value) => table_changes.push((parameter, value)),
            Err(reason) => return failed(&name, &reason),
        }
    }
    for (name, value) in backend_changes {
        // Checked above: applying cannot fail.
        let _ = shared.backend.set_setting(&name, &value, true);
    }
    shared.config.set(table_changes);
    apply_kept(shared);
    Reply::ok()
}

/// Applies the kept parameters keel acts on (the slow log's, the pubsub
/// output buffer limit, the keyspace event classes, the HLL sparse
/// limit) after a CONFIG SET.
fn apply_kept(shared: &Shared) {
    let integer = |name: &str, default: i64| {
        lookup(name)
            .and_then(|parameter| {
                crate::resp::parse_integer(shared.config.value(parameter).as_bytes())
            })
            .unwrap_or(default)
    };
    let slower_than_us = integer("slowlog-log-slower-than", 10_000);
    super::streams::set_node_entries_max(
        u64::try_from(integer("stream-node-max-entries", 100)).unwrap_or(0),
    );
    if let Some(bytes) = lookup("hll-sparse-max-bytes")
        .and_then(|parameter| parse_memory(&shared.config.value(parameter)))
    {
        super::hll::set_sparse_bytes_max(bytes);
    }
    let length_max = u64::try_from(integer("slowlog-max-len", 128)).unwrap_or(0);
    shared.slowlog.configure(slower_than_us, length_max);
    let busy_ms = integer("busy-reply-threshold", 5000);
    shared
        .scripts
        .set_busy_threshold_ms(u64::try_from(busy_ms).unwrap_or(0));
    if let Some((hard, soft, seconds)) =
        lookup("client-output-buffer-limit").and_then(|parameter| {
            crate::net::pubsub::parse_pubsub_limit(&shared.config.value(parameter))
        })
    {
        shared.pubsub.set_limit(hard, soft, seconds);
    }
    let classes = lookup(NOTIFY_KEYSPACE_EVENTS)
        .and_then(|parameter| EventClasses::parse(&shared.config.value(parameter)))
        .unwrap_or_default();
    shared.keyspace_events.set_classes(classes);
}

/// The server's own settings with their values.
fn server_settings(shared: &Shared) -> Vec<(String, String)> {
    let options = &shared.options;
    let address = shared.local_address;
    let cpus = options
        .cpu_list
        .as_ref()
        .map(|cpus| {
            cpus.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let values = [
        address.ip().to_string(),
        address.port().to_string(),
        options.max_clients.to_string(),
        options.require_password.clone().unwrap_or_default(),
        options.databases.to_string(),
        options.limits.bulk_bytes_max.to_string(),
        options.limits.query_buffer_bytes_max.to_string(),
        options.io_threads.to_string(),
        cpus,
    ];
    SERVER_SETTINGS
        .iter()
        .map(|name| (*name).to_owned())
        .zip(values)
        .collect()
}

/// CONFIG GET: every setting whose name matches one of the patterns
/// (case-insensitive globs), once, in the server's, the backend's, then
/// the kept parameters' order.
pub(crate) fn get_reply(shared: &Shared, patterns: &[Bytes]) -> Reply {
    let mut settings = server_settings(shared);
    settings.extend(shared.backend.settings());
    for (name, value) in shared.config.all() {
        if !settings.iter().any(|(known, _)| *known == name) {
            settings.push((name, value));
        }
    }
    let patterns: Vec<GlobPattern> = patterns
        .iter()
        .map(|pattern| GlobPattern::new(pattern, true))
        .collect();
    Reply::Map(
        settings
            .into_iter()
            .filter(|(name, _)| {
                patterns
                    .iter()
                    .any(|pattern| pattern.matches(name.as_bytes()))
            })
            .map(|(name, value)| (Reply::bulk(name), Reply::bulk(value)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_as_redis_checks_them() {
        let check = |name: &str, value: &str| lookup(name).unwrap().check(value);
        assert_eq!(check("maxmemory", "1mb"), Ok("1048576".to_owned()));
        assert_eq!(check("maxmemory", "10GB"), Ok("10737418240".to_owned()));
        assert_eq!(
            check("maxmemory", "bla"),
            Err("argument must be a memory value".to_owned())
        );
        assert_eq!(
            check("maxmemory-policy", "ALLKEYS-LRU"),
            Ok("allkeys-lru".to_owned())
        );
        assert!(check("maxmemory-policy", "lru").is_err());
        assert_eq!(check("activerehashing", "NO"), Ok("no".to_owned()));
        assert!(check("activerehashing", "maybe").is_err());
        assert_eq!(check("list-max-ziplist-size", "-1"), Ok("-1".to_owned()));
        assert_eq!(
            check("hz", "x"),
            Err("argument couldn't be parsed into an integer".to_owned())
        );
        assert_eq!(
            check("maxmemory-samples", "0"),
            Err("argument must be between 1 and 2147483647 inclusive".to_owned())
        );
        assert_eq!(
            check("daemonize", "yes"),
            Err("can't set immutable config".to_owned())
        );
        assert!(lookup("no-such-parameter").is_none());
        assert_eq!(
            lookup("LUA-TIME-LIMIT").unwrap().name,
            "busy-reply-threshold"
        );
    }

    #[test]
    fn the_table_remembers_and_lists_both_names() {
        let table = ConfigTable::default();
        let parameter = lookup("zset-max-ziplist-entries").unwrap();
        assert_eq!(table.value(parameter), "128");
        table.set(vec![(parameter, "0".to_owned())]);
        assert_eq!(table.value(parameter), "0");
        let all = table.all();
        assert!(all.contains(&("zset-max-ziplist-entries".to_owned(), "0".to_owned())));
        assert!(all.contains(&("zset-max-listpack-entries".to_owned(), "0".to_owned())));
        let mut names: Vec<&str> = PARAMETERS.iter().map(|parameter| parameter.name).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "no parameter twice");
    }
}

//! The commands keel-server knows: arity, flags and key positions as Redis
//! 7 declares them, enough for COMMAND, COMMAND COUNT, COMMAND INFO,
//! COMMAND DOCS and COMMAND LIST as redis-cli and client libraries use
//! them, and the checks Redis makes before running a command (unknown
//! command, unknown subcommand, wrong number of arguments) with Redis's
//! error texts.

use crate::resp::Command;
use crate::resp::Reply;

/// Bytes of a command name or argument quoted in an error (Redis `%.128s`).
pub const ERROR_QUOTE_BYTES_MAX: usize = 128;

/// Command flags, as COMMAND INFO names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommandFlags(u32);

impl CommandFlags {
    /// Changes data.
    pub const WRITE: CommandFlags = CommandFlags(1);
    /// Only reads data.
    pub const READONLY: CommandFlags = CommandFlags(1 << 1);
    /// May use more memory (refused when out of memory).
    pub const DENYOOM: CommandFlags = CommandFlags(1 << 2);
    /// An administrative command.
    pub const ADMIN: CommandFlags = CommandFlags(1 << 3);
    /// Not allowed in scripts.
    pub const NOSCRIPT: CommandFlags = CommandFlags(1 << 4);
    /// Allowed while the database loads.
    pub const LOADING: CommandFlags = CommandFlags(1 << 5);
    /// Allowed on a replica with stale data.
    pub const STALE: CommandFlags = CommandFlags(1 << 6);
    /// O(1) or O(log n): never blocks the server for long.
    pub const FAST: CommandFlags = CommandFlags(1 << 7);
    /// Allowed before AUTH.
    pub const NO_AUTH: CommandFlags = CommandFlags(1 << 8);
    /// Allowed while a script is busy.
    pub const ALLOW_BUSY: CommandFlags = CommandFlags(1 << 9);
    /// Not logged in the slow log.
    pub const SKIP_SLOWLOG: CommandFlags = CommandFlags(1 << 10);
    /// Not allowed inside MULTI.
    pub const NO_MULTI: CommandFlags = CommandFlags(1 << 11);

    const NAMES: [(CommandFlags, &'static str); 12] = [
        (CommandFlags::WRITE, "write"),
        (CommandFlags::READONLY, "readonly"),
        (CommandFlags::DENYOOM, "denyoom"),
        (CommandFlags::ADMIN, "admin"),
        (CommandFlags::NOSCRIPT, "noscript"),
        (CommandFlags::LOADING, "loading"),
        (CommandFlags::STALE, "stale"),
        (CommandFlags::FAST, "fast"),
        (CommandFlags::NO_AUTH, "no_auth"),
        (CommandFlags::ALLOW_BUSY, "allow_busy"),
        (CommandFlags::SKIP_SLOWLOG, "skip_slowlog"),
        (CommandFlags::NO_MULTI, "no_multi"),
    ];

    /// No flag.
    pub const fn empty() -> CommandFlags {
        CommandFlags(0)
    }

    /// Both sets of flags.
    pub const fn union(self, other: CommandFlags) -> CommandFlags {
        CommandFlags(self.0 | other.0)
    }

    /// True if every flag of `other` is set.
    pub const fn contains(self, other: CommandFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The names of the flags set, in COMMAND INFO's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        CommandFlags::NAMES
            .into_iter()
            .filter(move |(flag, _)| self.contains(*flag))
            .map(|(_, name)| name)
    }
}

impl std::ops::BitOr for CommandFlags {
    type Output = CommandFlags;
    fn bitor(self, other: CommandFlags) -> CommandFlags {
        self.union(other)
    }
}

/// Who runs a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandledBy {
    /// The connection layer: connection state, the command table, MULTI
    /// queuing (PING, HELLO, AUTH, SELECT, CLIENT, COMMAND, MULTI …).
    Connection,
    /// The [`Backend`](crate::Backend): everything that reads or writes
    /// data or the engine's state (GET, SET, SCAN, INFO sections, SAVE …).
    Backend,
}

/// One command or subcommand.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lower-case name (`get`; `setname` for `client|setname`).
    pub name: &'static str,
    /// The container's name for a subcommand (`client`), else `None`.
    pub container: Option<&'static str>,
    /// Redis arity: N means exactly N arguments (the name included), -N at
    /// least N.
    pub arity: i32,
    /// Flags.
    pub flags: CommandFlags,
    /// Position of the first key argument (0: none).
    pub first_key: i32,
    /// Position of the last key argument (-1: the last argument).
    pub last_key: i32,
    /// Step between key arguments.
    pub key_step: i32,
    /// Redis's documentation group (`string`, `generic`, `connection` …).
    pub group: &'static str,
    /// The Redis version that introduced the command.
    pub since: &'static str,
    /// Time complexity, as Redis documents it.
    pub complexity: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// Who runs it.
    pub handled_by: HandledBy,
    /// Subcommands of a container command (CLIENT, COMMAND, CONFIG).
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// The full name as Redis reports it: `get`, `client|setname`.
    pub fn full_name(&self) -> String {
        match self.container {
            Some(container) => format!("{container}|{}", self.name),
            None => self.name.to_owned(),
        }
    }

    /// True if the flags include all of `flags`.
    pub fn has(&self, flags: CommandFlags) -> bool {
        self.flags.contains(flags)
    }

    /// Whether `argument_count` arguments (the name included) satisfy the
    /// arity.
    pub fn arity_accepts(&self, argument_count: usize) -> bool {
        let count = i64::try_from(argument_count).unwrap_or(i64::MAX);
        let arity = i64::from(self.arity);
        if arity >= 0 {
            count == arity
        } else {
            count >= -arity
        }
    }

    /// The ACL categories Redis would list, derived from flags and group.
    pub fn acl_categories(&self) -> Vec<&'static str> {
        let mut categories = Vec::new();
        if self.has(CommandFlags::WRITE) {
            categories.push("@write");
        }
        if self.has(CommandFlags::READONLY) {
            categories.push("@read");
        }
        categories.push(match self.group {
            "string" => "@string",
            "bitmap" => "@bitmap",
            "generic" => "@keyspace",
            "transactions" => "@transaction",
            "connection" => "@connection",
            _ => "@admin",
        });
        if self.group == "server" && self.has(CommandFlags::ADMIN) {
            categories.push("@dangerous");
        }
        categories.push(if self.has(CommandFlags::FAST) {
            "@fast"
        } else {
            "@slow"
        });
        categories
    }

    /// This command's COMMAND INFO entry (Redis 7 layout: name, arity,
    /// flags, first key, last key, step, ACL categories, tips, key
    /// specifications, subcommands).
    pub fn info_reply(&self) -> Reply {
        let status = |name: &str| Reply::Simple(name.to_owned());
        Reply::Array(vec![
            Reply::bulk(self.full_name()),
            Reply::Integer(i64::from(self.arity)),
            Reply::Set(self.flags.names().map(status).collect()),
            Reply::Integer(i64::from(self.first_key)),
            Reply::Integer(i64::from(self.last_key)),
            Reply::Integer(i64::from(self.key_step)),
            Reply::Set(self.acl_categories().into_iter().map(status).collect()),
            Reply::Array(Vec::new()),
            Reply::Array(Vec::new()),
            Reply::Array(
                self.subcommands
                    .iter()
                    .map(CommandSpec::info_reply)
                    .collect(),
            ),
        ])
    }

    /// This command's COMMAND DOCS entry: summary, since, group,
    /// complexity and subcommands.
    pub fn docs_reply(&self) -> Reply {
        let mut fields = vec![
            (Reply::bulk("summary"), Reply::bulk(self.summary)),
            (Reply::bulk("since"), Reply::bulk(self.since)),
            (Reply::bulk("group"), Reply::bulk(self.group)),
            (Reply::bulk("complexity"), Reply::bulk(self.complexity)),
        ];
        if !self.subcommands.is_empty() {
            let subcommands = self
                .subcommands
                .iter()
                .map(|sub| (Reply::bulk(sub.full_name()), sub.docs_reply()))
                .collect();
            fields.push((Reply::bulk("subcommands"), Reply::Map(subcommands)));
        }
        Reply::Map(fields)
    }
}

/// Every top-level command.
pub fn commands() -> &'static [CommandSpec] {
    COMMANDS
}

/// The top-level command named `name`, in any case.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
}

/// A command or subcommand by its full name (`get`, `client|list`), as
/// COMMAND INFO and COMMAND DOCS accept them.
pub fn lookup_full_name(name: &[u8]) -> Option<&'static CommandSpec> {
    match name.iter().position(|&byte| byte == b'|') {
        None => lookup(name),
        Some(bar) => lookup(&name[..bar])?
            .subcommands
            .iter()
            .find(|sub| sub.name.as_bytes().eq_ignore_ascii_case(&name[bar + 1..])),
    }
}

/// Finds the command a request names and checks its arity, as Redis's
/// `processCommand` does before anything else; the error reply otherwise.
/// `command` must not be empty.
pub fn resolve(command: &Command) -> Result<&'static CommandSpec, Reply> {
    let arguments = command.arguments();
    let Some(name) = arguments.first() else {
        return Err(unknown_command(command));
    };
    let Some(spec) = lookup(name) else {
        return Err(unknown_command(command));
    };
    let spec = if spec.subcommands.is_empty() || arguments.len() < 2 {
        spec
    } else {
        let subcommand = &arguments[1];
        match spec
            .subcommands
            .iter()
            .find(|sub| sub.name.as_bytes().eq_ignore_ascii_case(subcommand))
        {
            Some(sub) => sub,
            None => {
                return Err(Reply::error(format!(
                    "ERR unknown subcommand '{}'. Try {} HELP.",
                    quote(subcommand, ERROR_QUOTE_BYTES_MAX),
                    spec.name.to_ascii_uppercase()
                )));
            }
        }
    };
    if !spec.arity_accepts(arguments.len()) {
        return Err(wrong_arity(spec));
    }
    Ok(spec)
}

/// The command or subcommand a request names, arity unchecked (`None`
/// for an unknown one): what INFO commandstats charges a rejected call
/// to.
pub fn named_spec(command: &Command) -> Option<&'static CommandSpec> {
    let arguments = command.arguments();
    let spec = lookup(arguments.first()?)?;
    match arguments.get(1) {
        Some(subcommand) if !spec.subcommands.is_empty() => spec
            .subcommands
            .iter()
            .find(|sub| sub.name.as_bytes().eq_ignore_ascii_case(subcommand)),
        _ => Some(spec),
    }
}

/// Redis's arity error: `ERR wrong number of arguments for 'get' command`.
pub fn wrong_arity(spec: &CommandSpec) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        spec.full_name()
    ))
}

/// Redis's unknown-command error: the name and the first arguments, each
/// quoted and followed by a space, up to 128 bytes of arguments:
/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' `.
pub fn unknown_command(command: &Command) -> Reply {
    let arguments = command.arguments();
    let name = arguments
        .first()
        .map(|name| quote(name, ERROR_QUOTE_BYTES_MAX));
    let mut quoted = String::new();
    let mut quoted_bytes = 0;
    for argument in arguments.iter().skip(1) {
        if quoted_bytes >= ERROR_QUOTE_BYTES_MAX {
            break;
        }
        let room = ERROR_QUOTE_BYTES_MAX - quoted_bytes;
        let shown = c_string(argument);
        let shown = &shown[..shown.len().min(room)];
        quoted_bytes += shown.len() + 3;
        quoted.push('\'');
        quoted.push_str(&String::from_utf8_lossy(shown));
        quoted.push_str("' ");
    }
    Reply::error(format!(
        "ERR unknown command '{}', with args beginning with: {quoted}",
        name.unwrap_or_default()
    ))
}

/// `bytes` as C's `%.Ns` prints them: up to a NUL, at most `bytes_max`.
fn quote(bytes: &[u8], bytes_max: usize) -> String {
    let shown = c_string(bytes);
    String::from_utf8_lossy(&shown[..shown.len().min(bytes_max)]).into_owned()
}

fn c_string(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(bytes.len());
    &bytes[..end]
}

const W: CommandFlags = CommandFlags::WRITE;
const R: CommandFlags = CommandFlags::READONLY;
const M: CommandFlags = CommandFlags::DENYOOM;
const F: CommandFlags = CommandFlags::FAST;
/// The flags of connection and transaction commands that Redis lets run
/// at any time (noscript, loading, stale, allow_busy).
const ANYTIME: CommandFlags = CommandFlags::NOSCRIPT
    .union(CommandFlags::LOADING)
    .union(CommandFlags::STALE)
    .union(CommandFlags::ALLOW_BUSY);
const ADMIN: CommandFlags = CommandFlags::ADMIN.union(CommandFlags::NOSCRIPT);
const LOADING_STALE: CommandFlags = CommandFlags::LOADING.union(CommandFlags::STALE);

/// A command with no key and no subcommand; keys are set with `keys`.
#[allow(clippy::too_many_arguments)] // A table row, positional like Redis's own table.
const fn spec(
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    group: &'static str,
    since: &'static str,
    complexity: &'static str,
    summary: &'static str,
    handled_by: HandledBy,
) -> CommandSpec {
    CommandSpec {
        name,
        container: None,
        arity,
        flags,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        group,
        since,
        complexity,
        summary,
        handled_by,
        subcommands: &[],
    }
}

/// A data command on keys `first..=last` by `step`.
#[allow(clippy::too_many_arguments)] // A table row, positional like Redis's own table.
const fn keyed(
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    (first_key, last_key, key_step): (i32, i32, i32),
    group: &'static str,
    since: &'static str,
    complexity: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        first_key,
        last_key,
        key_step,
        ..spec(
            name,
            arity,
            flags,
            group,
            since,
            complexity,
            summary,
            HandledBy::Backend,
        )
    }
}

/// A string command on one key.
const fn string1(
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    keyed(
        name,
        arity,
        flags,
        (1, 1, 1),
        "string",
        since,
        "O(1)",
        summary,
    )
}

/// A generic (keyspace) command on one key.
const fn generic1(
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    keyed(
        name,
        arity,
        flags,
        (1, 1, 1),
        "generic",
        since,
        "O(1)",
        summary,
    )
}

/// A subcommand of `container`.
const fn sub(
    container: &'static str,
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    since: &'static str,
    summary: &'static str,
    handled_by: HandledBy,
) -> CommandSpec {
    CommandSpec {
        container: Some(container),
        ..spec(
            name, arity, flags, "server", since, "O(1)", summary, handled_by,
        )
    }
}

use HandledBy::{Backend as B, Connection as C};

static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "client",
        "getname",
        2,
        LOADING_STALE,
        "2.6.9",
        "Returns the name of the connection.",
        C,
    ),
    sub(
        "client",
        "help",
        2,
        LOADING_STALE,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        C,
    ),
    sub(
        "client",
        "id",
        2,
        LOADING_STALE,
        "5.0.0",
        "Returns the unique client ID of the connection.",
        C,
    ),
    sub(
        "client",
        "info",
        2,
        LOADING_STALE,
        "6.2.0",
        "Returns information about the connection.",
        C,
    ),
    sub(
        "client",
        "list",
        -2,
        ADMIN.union(LOADING_STALE),
        "2.4.0",
        "Lists open connections.",
        C,
    ),
    sub(
        "client",
        "setinfo",
        4,
        LOADING_STALE,
        "7.2.0",
        "Sets information specific to the client or connection.",
        C,
    ),
    sub(
        "client",
        "setname",
        3,
        LOADING_STALE,
        "2.6.9",
        "Sets the connection name.",
        C,
    ),
];

static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "command",
        "count",
        2,
        LOADING_STALE,
        "2.8.13",
        "Returns a count of commands.",
        C,
    ),
    sub(
        "command",
        "docs",
        -2,
        LOADING_STALE,
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
        C,
    ),
    sub(
        "command",
        "help",
        2,
        LOADING_STALE,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        C,
    ),
    sub(
        "command",
        "info",
        -2,
        LOADING_STALE,
        "2.8.13",
        "Returns information about one, multiple or all commands.",
        C,
    ),
    sub(
        "command",
        "list",
        -2,
        LOADING_STALE,
        "7.0.0",
        "Returns a list of command names.",
        C,
    ),
];

static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "config",
        "get",
        -3,
        ADMIN.union(LOADING_STALE),
        "2.0.0",
        "Returns the effective values of configuration parameters.",
        C,
    ),
    sub(
        "config",
        "help",
        2,
        LOADING_STALE,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        C,
    ),
    sub(
        "config",
        "resetstat",
        2,
        ADMIN.union(LOADING_STALE),
        "2.0.0",
        "Resets the server's statistics.",
        C,
    ),
    sub(
        "config",
        "set",
        -4,
        ADMIN.union(LOADING_STALE),
        "2.0.0",
        "Sets configuration parameters in-flight.",
        C,
    ),
];

/// A subcommand that takes a key at position 2 (OBJECT, MEMORY USAGE).
const fn keyed_sub(
    container: &'static str,
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        first_key: 2,
        last_key: 2,
        key_step: 1,
        group: "generic",
        ..sub(container, name, arity, flags, since, summary, B)
    }
}

/// OBJECT: what Redis would say of a string's representation.
static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    keyed_sub(
        "object",
        "encoding",
        3,
        R,
        "2.2.3",
        "Returns the internal encoding of a Redis object.",
    ),
    keyed_sub(
        "object",
        "freq",
        3,
        R,
        "4.0.0",
        "Returns the logarithmic access frequency counter of a Redis object.",
    ),
    CommandSpec {
        group: "generic",
        ..sub(
            "object",
            "help",
            2,
            LOADING_STALE,
            "6.2.0",
            "Returns helpful text about the different subcommands.",
            C,
        )
    },
    keyed_sub(
        "object",
        "idletime",
        3,
        R,
        "2.2.3",
        "Returns the time since the last access to a Redis object.",
    ),
    keyed_sub(
        "object",
        "refcount",
        3,
        R,
        "2.2.3",
        "Returns the reference count of a value of a key.",
    ),
];

/// MEMORY: USAGE estimates a key's footprint as Redis would.
static MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "memory",
        "help",
        2,
        LOADING_STALE,
        "4.0.0",
        "Returns helpful text about the different subcommands.",
        C,
    ),
    keyed_sub(
        "memory",
        "usage",
        -3,
        R,
        "4.0.0",
        "Estimates the memory usage of a key.",
    ),
];

/// FUNCTION: keel has no scripting; FLUSH and LIST answer as a server
/// without functions does (test harnesses and tools call them).
static FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "function",
        "flush",
        -2,
        CommandFlags::WRITE.union(CommandFlags::NOSCRIPT),
        "7.0.0",
        "Deletes all libraries and functions.",
        C,
    ),
    sub(
        "function",
        "help",
        2,
        LOADING_STALE,
        "7.0.0",
        "Returns helpful text about the different subcommands.",
        C,
    ),
    sub(
        "function",
        "list",
        -2,
        CommandFlags::NOSCRIPT,
        "7.0.0",
        "Returns information about all libraries.",
        C,
    ),
];

const fn container(
    name: &'static str,
    since: &'static str,
    summary: &'static str,
    subcommands: &'static [CommandSpec],
) -> CommandSpec {
    CommandSpec {
        subcommands,
        ..spec(
            name,
            -2,
            CommandFlags::empty(),
            "server",
            since,
            "Depends on subcommand.",
            summary,
            C,
        )
    }
}

/// The command list of issue 8.
static COMMANDS: &[CommandSpec] = &[
    // Connection.
    spec(
        "auth",
        -2,
        ANYTIME.union(F).union(CommandFlags::NO_AUTH),
        "connection",
        "1.0.0",
        "O(N) where N is the number of passwords defined for the user",
        "Authenticates the connection.",
        C,
    ),
    container(
        "client",
        "2.4.0",
        "A container for client connection commands.",
        CLIENT_SUBCOMMANDS,
    ),
    spec(
        "echo",
        2,
        F,
        "connection",
        "1.0.0",
        "O(1)",
        "Returns the given string.",
        C,
    ),
    spec(
        "hello",
        -1,
        ANYTIME.union(F).union(CommandFlags::NO_AUTH),
        "connection",
        "6.0.0",
        "O(1)",
        "Handshakes with the Redis server.",
        C,
    ),
    spec(
        "ping",
        -1,
        F,
        "connection",
        "1.0.0",
        "O(1)",
        "Returns the server's liveliness response.",
        C,
    ),
    spec(
        "quit",
        -1,
        ANYTIME.union(F).union(CommandFlags::NO_AUTH),
        "connection",
        "1.0.0",
        "O(1)",
        "Closes the connection.",
        C,
    ),
    spec(
        "reset",
        1,
        ANYTIME.union(F).union(CommandFlags::NO_AUTH),
        "connection",
        "6.2.0",
        "O(1)",
        "Resets the connection.",
        C,
    ),
    spec(
        "select",
        2,
        LOADING_STALE.union(F),
        "connection",
        "1.0.0",
        "O(1)",
        "Changes the selected database.",
        C,
    ),
    // Server.
    spec(
        "bgsave",
        -1,
        ADMIN.union(CommandFlags::NO_MULTI),
        "server",
        "1.0.0",
        "O(1)",
        "Asynchronously saves the database(s) to disk.",
        B,
    ),
    // COMMAND alone lists every command: arity -1, unlike other containers.
    CommandSpec {
        arity: -1,
        flags: LOADING_STALE,
        ..container(
            "command",
            "2.8.13",
            "Returns detailed information about all commands.",
            COMMAND_SUBCOMMANDS,
        )
    },
    container(
        "config",
        "2.0.0",
        "A container for server configuration commands.",
        CONFIG_SUBCOMMANDS,
    ),
    CommandSpec {
        group: "scripting",
        ..container(
            "function",
            "7.0.0",
            "A container for function commands.",
            FUNCTION_SUBCOMMANDS,
        )
    },
    spec(
        "dbsize",
        1,
        R.union(F),
        "server",
        "1.0.0",
        "O(1)",
        "Returns the number of keys in the database.",
        B,
    ),
    // DEBUG is one command in Redis's table, its subcommands parsed by
    // the command itself (COMMAND shows no subcommands).
    spec(
        "debug",
        -2,
        ADMIN.union(LOADING_STALE),
        "server",
        "1.0.0",
        "Depends on subcommand.",
        "A container for debugging commands.",
        B,
    ),
    spec(
        "flushall",
        -1,
        W,
        "server",
        "1.0.0",
        "O(N) where N is the total number of keys in all databases",
        "Removes all keys from all databases.",
        B,
    ),
    spec(
        "flushdb",
        -1,
        W,
        "server",
        "1.0.0",
        "O(N) where N is the number of keys in the selected database",
        "Remove all keys from the current database.",
        B,
    ),
    spec(
        "info",
        -1,
        LOADING_STALE,
        "server",
        "1.0.0",
        "O(1)",
        "Returns information and statistics about the server.",
        C,
    ),
    container(
        "memory",
        "4.0.0",
        "A container for memory diagnostics commands.",
        MEMORY_SUBCOMMANDS,
    ),
    spec(
        "lastsave",
        1,
        LOADING_STALE.union(F),
        "server",
        "1.0.0",
        "O(1)",
        "Returns the Unix timestamp of the last successful save to disk.",
        B,
    ),
    spec(
        "save",
        1,
        ADMIN.union(CommandFlags::NO_MULTI),
        "server",
        "1.0.0",
        "O(N) where N is the total number of keys in all databases",
        "Synchronously saves the database(s) to disk.",
        B,
    ),
    spec(
        "shutdown",
        -1,
        ANYTIME
            .union(CommandFlags::ADMIN)
            .union(CommandFlags::NO_MULTI),
        "server",
        "1.0.0",
        "O(N) when saving, where N is the total number of keys in all databases",
        "Synchronously saves the database(s) to disk and shuts down the server.",
        B,
    ),
    // SWAPDB swaps two databases' keyspaces under their exclusive locks;
    // a MULTI block holds every database shared, so keel refuses it
    // inside MULTI (Redis allows it).
    spec(
        "swapdb",
        3,
        W.union(F).union(CommandFlags::NO_MULTI),
        "server",
        "4.0.0",
        "O(N) where N is the count of clients watching or blocking on keys from both databases.",
        "Swaps two Redis databases.",
        B,
    ),
    spec(
        "time",
        1,
        LOADING_STALE.union(F),
        "server",
        "2.6.0",
        "O(1)",
        "Returns the server time.",
        C,
    ),
    // Transactions.
    spec(
        "discard",
        1,
        ANYTIME.union(F),
        "transactions",
        "2.0.0",
        "O(N), when N is the number of queued commands",
        "Discards a transaction.",
        C,
    ),
    spec(
        "exec",
        1,
        CommandFlags::NOSCRIPT
            .union(LOADING_STALE)
            .union(CommandFlags::SKIP_SLOWLOG),
        "transactions",
        "1.2.0",
        "Depends on commands in the transaction",
        "Executes all commands in a transaction.",
        C,
    ),
    spec(
        "multi",
        1,
        ANYTIME.union(F),
        "transactions",
        "1.2.0",
        "O(1)",
        "Starts a transaction.",
        C,
    ),
    spec(
        "unwatch",
        1,
        ANYTIME.union(F),
        "transactions",
        "2.2.0",
        "O(1)",
        "Forgets about watched keys of a transaction.",
        C,
    ),
    CommandSpec {
        first_key: 1,
        last_key: -1,
        key_step: 1,
        ..spec(
            "watch",
            -2,
            ANYTIME.union(F),
            "transactions",
            "2.2.0",
            "O(1) for every key.",
            "Monitors changes to keys to determine the execution of a transaction.",
            C,
        )
    },
    // Strings.
    string1(
        "append",
        3,
        W.union(M).union(F),
        "2.0.0",
        "Appends a string to the value of a key. Creates the key if it doesn't exist.",
    ),
    string1(
        "decr",
        2,
        W.union(M).union(F),
        "1.0.0",
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
    ),
    string1(
        "decrby",
        3,
        W.union(M).union(F),
        "1.0.0",
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
    ),
    string1(
        "get",
        2,
        R.union(F),
        "1.0.0",
        "Returns the string value of a key.",
    ),
    string1(
        "getdel",
        2,
        W.union(F),
        "6.2.0",
        "Returns the string value of a key after deleting the key.",
    ),
    string1(
        "getex",
        -2,
        W.union(F),
        "6.2.0",
        "Returns the string value of a key after setting its expiration time.",
    ),
    keyed(
        "getrange",
        4,
        R,
        (1, 1, 1),
        "string",
        "2.4.0",
        "O(N) where N is the length of the returned string.",
        "Returns a substring of the string stored at a key.",
    ),
    string1(
        "getset",
        3,
        W.union(M).union(F),
        "1.0.0",
        "Returns the previous string value of a key after setting it to a new value.",
    ),
    keyed(
        "bitcount",
        -2,
        R,
        (1, 1, 1),
        "bitmap",
        "2.6.0",
        "O(N)",
        "Counts the number of set bits (population counting) in a string.",
    ),
    keyed(
        "getbit",
        3,
        R.union(F),
        (1, 1, 1),
        "bitmap",
        "2.2.0",
        "O(1)",
        "Returns a bit value by offset.",
    ),
    string1(
        "incr",
        2,
        W.union(M).union(F),
        "1.0.0",
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
    ),
    string1(
        "incrby",
        3,
        W.union(M).union(F),
        "1.0.0",
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
    ),
    string1(
        "incrbyfloat",
        3,
        W.union(M).union(F),
        "2.6.0",
        "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
    ),
    keyed(
        "lcs",
        -3,
        R,
        (1, 2, 1),
        "string",
        "7.0.0",
        "O(N*M) where N and M are the lengths of s1 and s2, respectively",
        "Finds the longest common substring.",
    ),
    keyed(
        "mget",
        -2,
        R.union(F),
        (1, -1, 1),
        "string",
        "1.0.0",
        "O(N) where N is the number of keys to retrieve.",
        "Atomically returns the string values of one or more keys.",
    ),
    keyed(
        "mset",
        -3,
        W.union(M),
        (1, -1, 2),
        "string",
        "1.0.1",
        "O(N) where N is the number of keys to set.",
        "Atomically creates or modifies the string values of one or more keys.",
    ),
    keyed(
        "msetnx",
        -3,
        W.union(M),
        (1, -1, 2),
        "string",
        "1.0.1",
        "O(N) where N is the number of keys to set.",
        "Atomically modifies the string values of one or more keys only when all keys don't exist.",
    ),
    string1(
        "psetex",
        4,
        W.union(M),
        "2.6.0",
        "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
    ),
    string1(
        "set",
        -3,
        W.union(M),
        "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
    ),
    keyed(
        "setbit",
        4,
        W.union(M),
        (1, 1, 1),
        "bitmap",
        "2.2.0",
        "O(1)",
        "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
    ),
    string1(
        "setex",
        4,
        W.union(M),
        "2.0.0",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
    ),
    string1(
        "setnx",
        3,
        W.union(M).union(F),
        "1.0.0",
        "Set the string value of a key only when the key doesn't exist.",
    ),
    string1(
        "setrange",
        4,
        W.union(M),
        "2.2.0",
        "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
    ),
    string1(
        "strlen",
        2,
        R.union(F),
        "2.2.0",
        "Returns the length of a string value.",
    ),
    keyed(
        "substr",
        4,
        R,
        (1, 1, 1),
        "string",
        "1.0.0",
        "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.",
        "Returns a substring from a string value.",
    ),
    // Keyspace.
    keyed(
        "copy",
        -3,
        W.union(M),
        (1, 2, 1),
        "generic",
        "6.2.0",
        "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
        "Copies the value of a key to a new key.",
    ),
    keyed(
        "del",
        -2,
        W,
        (1, -1, 1),
        "generic",
        "1.0.0",
        "O(N) where N is the number of keys that will be removed.",
        "Deletes one or more keys.",
    ),
    keyed(
        "exists",
        -2,
        R.union(F),
        (1, -1, 1),
        "generic",
        "1.0.0",
        "O(N) where N is the number of keys to check.",
        "Determines whether one or more keys exist.",
    ),
    generic1(
        "expire",
        -3,
        W.union(F),
        "1.0.0",
        "Sets the expiration time of a key in seconds.",
    ),
    generic1(
        "expireat",
        -3,
        W.union(F),
        "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp.",
    ),
    generic1(
        "expiretime",
        2,
        R.union(F),
        "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp.",
    ),
    spec(
        "keys",
        2,
        R,
        "generic",
        "1.0.0",
        "O(N) with N being the number of keys in the database",
        "Returns all key names that match a pattern.",
        B,
    ),
    generic1(
        "move",
        3,
        W.union(F),
        "1.0.0",
        "Moves a key to another database.",
    ),
    CommandSpec {
        group: "generic",
        ..container(
            "object",
            "2.2.3",
            "A container for object introspection commands.",
            OBJECT_SUBCOMMANDS,
        )
    },
    generic1(
        "persist",
        2,
        W.union(F),
        "2.2.0",
        "Removes the expiration time of a key.",
    ),
    generic1(
        "pexpire",
        -3,
        W.union(F),
        "2.6.0",
        "Sets the expiration time of a key in milliseconds.",
    ),
    generic1(
        "pexpireat",
        -3,
        W.union(F),
        "2.6.0",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
    ),
    generic1(
        "pexpiretime",
        2,
        R.union(F),
        "7.0.0",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
    ),
    generic1(
        "pttl",
        2,
        R.union(F),
        "2.6.0",
        "Returns the expiration time in milliseconds of a key.",
    ),
    spec(
        "randomkey",
        1,
        R,
        "generic",
        "1.0.0",
        "O(1)",
        "Returns a random key name from the database.",
        B,
    ),
    keyed(
        "rename",
        3,
        W,
        (1, 2, 1),
        "generic",
        "1.0.0",
        "O(1)",
        "Renames a key and overwrites the destination.",
    ),
    keyed(
        "renamenx",
        3,
        W.union(F),
        (1, 2, 1),
        "generic",
        "1.0.0",
        "O(1)",
        "Renames a key only when the target key name doesn't exist.",
    ),
    spec(
        "scan",
        -2,
        R,
        "generic",
        "2.8.0",
        "O(1) for every call. O(N) for a complete iteration.",
        "Iterates over the key names in the database.",
        B,
    ),
    keyed(
        "touch",
        -2,
        R.union(F),
        (1, -1, 1),
        "generic",
        "3.2.1",
        "O(N) where N is the number of keys that will be touched.",
        "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
    ),
    generic1(
        "ttl",
        2,
        R.union(F),
        "1.0.0",
        "Returns the expiration time in seconds of a key.",
    ),
    generic1(
        "type",
        2,
        R.union(F),
        "1.0.0",
        "Determines the type of value stored at a key.",
    ),
    keyed(
        "unlink",
        -2,
        W.union(F),
        (1, -1, 1),
        "generic",
        "4.0.0",
        "O(1) for each key removed regardless of its size.",
        "Asynchronously deletes one or more keys.",
    ),
    // WAIT: keel has no replicas; it answers at once that none acknowledged.
    spec(
        "wait",
        3,
        CommandFlags::empty(),
        "generic",
        "3.0.0",
        "O(1)",
        "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
        C,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn error_text(command: &[&str]) -> String {
        match resolve(&Command::from_parts(command)) {
            Err(Reply::Error(text)) => text,
            other => panic!("{command:?}: {other:?}"),
        }
    }

    #[test]
    fn the_table_holds_every_command_of_issue_8_once() {
        let expected = [
            "ping",
            "echo",
            "quit",
            "hello",
            "auth",
            "select",
            "get",
            "set",
            "setnx",
            "setex",
            "psetex",
            "getset",
            "getdel",
            "getex",
            "mget",
            "mset",
            "msetnx",
            "append",
            "strlen",
            "getrange",
            "setrange",
            "incr",
            "decr",
            "incrby",
            "decrby",
            "incrbyfloat",
            "del",
            "unlink",
            "exists",
            "type",
            "rename",
            "renamenx",
            "keys",
            "scan",
            "dbsize",
            "flushdb",
            "flushall",
            "expire",
            "pexpire",
            "expireat",
            "pexpireat",
            "ttl",
            "pttl",
            "persist",
            "multi",
            "exec",
            "discard",
            "watch",
            "unwatch",
            "info",
            "config",
            "function",
            "save",
            "bgsave",
            "lastsave",
            "shutdown",
            "client",
            "command",
            "time",
            // Redis compatibility beyond issue 8's list.
            "copy",
            "move",
            "swapdb",
            "randomkey",
            "touch",
            "expiretime",
            "pexpiretime",
            "lcs",
            "substr",
            "setbit",
            "getbit",
            "bitcount",
            "object",
            "memory",
            "debug",
            "reset",
            "wait",
        ];
        for name in expected {
            assert!(lookup(name.as_bytes()).is_some(), "{name}");
        }
        let mut names: Vec<&str> = commands().iter().map(|spec| spec.name).collect();
        assert_eq!(names.len(), expected.len());
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), expected.len(), "no duplicates");
    }

    #[test]
    fn specs_agree_with_redis() {
        let get = lookup(b"GeT").unwrap();
        assert_eq!(
            (get.arity, get.first_key, get.last_key, get.key_step),
            (2, 1, 1, 1)
        );
        assert_eq!(get.flags.names().collect::<Vec<_>>(), ["readonly", "fast"]);
        let mset = lookup(b"mset").unwrap();
        assert_eq!(
            (mset.arity, mset.first_key, mset.last_key, mset.key_step),
            (-3, 1, -1, 2)
        );
        assert_eq!(
            lookup(b"set").unwrap().flags.names().collect::<Vec<_>>(),
            ["write", "denyoom"]
        );
        assert!(lookup(b"auth").unwrap().has(CommandFlags::NO_AUTH));
        assert!(!lookup(b"get").unwrap().has(CommandFlags::NO_AUTH));
        for spec in commands() {
            let keyed = spec.first_key != 0;
            assert_eq!(keyed, spec.key_step != 0, "{}", spec.name);
            assert!(
                !(spec.has(CommandFlags::WRITE) && spec.has(CommandFlags::READONLY)),
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn arity_errors_use_the_full_name() {
        assert_eq!(
            error_text(&["GET"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            error_text(&["get", "a", "b"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            error_text(&["set", "a"]),
            "ERR wrong number of arguments for 'set' command"
        );
        assert_eq!(
            error_text(&["client"]),
            "ERR wrong number of arguments for 'client' command"
        );
        assert_eq!(
            error_text(&["client", "setname"]),
            "ERR wrong number of arguments for 'client|setname' command"
        );
        assert!(resolve(&Command::from_parts(["set", "a", "b", "EX", "10"])).is_ok());
        assert_eq!(
            resolve(&Command::from_parts(["CLIENT", "ID"]))
                .unwrap()
                .full_name(),
            "client|id"
        );
    }

    #[test]
    fn unknown_commands_quote_their_arguments() {
        assert_eq!(
            error_text(&["foo", "a", "b"]),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            error_text(&["foo"]),
            "ERR unknown command 'foo', with args beginning with: "
        );
        let long = "x".repeat(300);
        let text = error_text(&[long.as_str(), long.as_str(), "more"]);
        let quoted_name = format!("'{}'", "x".repeat(128));
        let quoted_argument = format!("'{}' ", "x".repeat(128));
        assert_eq!(
            text,
            format!(
                "ERR unknown command {quoted_name}, with args beginning with: {quoted_argument}"
            )
        );
        assert_eq!(
            error_text(&["client", "nope"]),
            "ERR unknown subcommand 'nope'. Try CLIENT HELP."
        );
    }

    #[test]
    fn full_names_find_subcommands() {
        assert_eq!(
            lookup_full_name(b"CLIENT|list")
                .map(CommandSpec::full_name)
                .as_deref(),
            Some("client|list")
        );
        assert_eq!(lookup_full_name(b"get").map(|spec| spec.name), Some("get"));
        assert!(lookup_full_name(b"client|nope").is_none() && lookup_full_name(b"get|x").is_none());
    }

    #[test]
    fn command_info_has_redis_7_layout() {
        let Reply::Array(fields) = lookup(b"get").unwrap().info_reply() else {
            panic!("an array");
        };
        assert_eq!(fields.len(), 10);
        assert_eq!(fields[0], Reply::bulk("get"));
        assert_eq!(fields[1], Reply::Integer(2));
        let Reply::Array(subcommands) = &lookup(b"client").unwrap().info_reply() else {
            panic!("an array");
        };
        assert!(
            matches!(&subcommands[9], Reply::Array(list) if list.len() == CLIENT_SUBCOMMANDS.len())
        );
    }
}

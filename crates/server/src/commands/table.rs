//! The commands keel-server knows: arity, flags and key positions as Redis
//! 7 declares them, enough for COMMAND, COMMAND COUNT, COMMAND INFO,
//! COMMAND DOCS and COMMAND LIST as redis-cli and client libraries use
//! them, and the checks Redis makes before running a command (unknown
//! command, unknown subcommand, wrong number of arguments) with Redis's
//! error texts.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::OnceLock;

use bytes::Bytes;

use super::id::CommandId;
use super::tracking::command_keys;
use super::{ClientHandler, DataHandler};
use crate::resp::{Command, Reply, parse_integer};

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
    /// May block the client (BLPOP …).
    pub const BLOCKING: CommandFlags = CommandFlags(1 << 12);
    /// A pub/sub command.
    pub const PUBSUB: CommandFlags = CommandFlags(1 << 13);
    /// keel's own, not shown: reaches databases other than the selected
    /// one (COPY … DB, MOVE, DEBUG DIGEST), so the backend gives it every
    /// database.
    pub const ALL_DATABASES: CommandFlags = CommandFlags(1 << 16);
    /// keel's own, not shown: replaces databases as a whole (FLUSHDB,
    /// FLUSHALL, SWAPDB), so the backend holds them exclusively.
    pub const EXCLUSIVE: CommandFlags = CommandFlags(1 << 17);
    /// Redis's `may_replicate`, not shown (Redis 7.0 does not list it): a
    /// read-only command that may still change a value (PFCOUNT caches the
    /// cardinality in its HLL), so the backend runs it in a transaction
    /// that may write, and CLIENT PAUSE WRITE holds it.
    pub const MAY_REPLICATE: CommandFlags = CommandFlags(1 << 18);

    const NAMES: [(CommandFlags, &'static str); 14] = [
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
        (CommandFlags::BLOCKING, "blocking"),
        (CommandFlags::PUBSUB, "pubsub"),
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

/// How a command runs: its handler, parse and execution together.
#[derive(Clone, Copy, Debug)]
pub enum Handler {
    /// A data command: reads and writes keys inside a transaction of the
    /// backend (alone, in a pipelined group or in an EXEC block).
    Data(DataHandler),
    /// A command about the connection or the server (PING, CLIENT, INFO,
    /// MULTI …): runs on the connection, with its state. `None`: send
    /// nothing (SHUTDOWN).
    Client(ClientHandler),
    /// A container (CLIENT, CONFIG …): its subcommands have the handlers.
    Container,
}

/// Keys at positions that depend on the arguments (Redis's
/// `movablekeys`): what a command's fixed positions (`first_key`,
/// `last_key`, `key_step`) cannot say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MovableKeys {
    /// Every key is at a fixed position.
    None,
    /// A count at argument `at`, that many keys right after it (LMPOP,
    /// ZUNIONSTORE's sources, EVAL); `optional`: the command may name no
    /// key at all (EVAL, FCALL).
    Counted {
        /// The count's argument.
        at: usize,
        /// Whether zero keys is a complete command.
        optional: bool,
    },
    /// After the first STREAMS keyword from argument `from`: the first
    /// half of the arguments that follow, at least one (XREAD,
    /// XREADGROUP).
    Streams {
        /// Where the search for STREAMS starts.
        from: usize,
    },
    /// SORT's STORE destination, the last one given.
    SortStore,
    /// MIGRATE's KEYS: the keys after it, in place of an empty key.
    MigrateKeys,
}

/// SORT's STORE destination in `arguments`: the last one, past the
/// arguments of LIMIT, GET and BY.
fn sort_store(arguments: &[Bytes]) -> Option<&Bytes> {
    let mut store = None;
    let mut index = 2;
    while index < arguments.len() {
        let word = &arguments[index];
        let is = |name: &[u8]| word.eq_ignore_ascii_case(name);
        index += if is(b"LIMIT") {
            3
        } else if is(b"GET") || is(b"BY") {
            2
        } else if is(b"STORE") && index + 1 < arguments.len() {
            store = Some(&arguments[index + 1]);
            2
        } else {
            1
        };
    }
    store
}

/// MIGRATE's keys after KEYS (past the arguments of AUTH and AUTH2), when
/// its key argument is empty.
fn migrate_keys(arguments: &[Bytes]) -> Option<&[Bytes]> {
    if !arguments.get(3)?.is_empty() {
        return None;
    }
    let mut index = 6;
    while index < arguments.len() {
        let word = &arguments[index];
        if word.eq_ignore_ascii_case(b"KEYS") {
            return Some(&arguments[index + 1..]);
        }
        index += if word.eq_ignore_ascii_case(b"AUTH") {
            2
        } else if word.eq_ignore_ascii_case(b"AUTH2") {
            3
        } else {
            1
        };
    }
    None
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
    /// The keys whose positions depend on the arguments.
    pub movable_keys: MovableKeys,
    /// Redis's documentation group (`string`, `generic`, `connection` …).
    pub group: &'static str,
    /// The Redis version that introduced the command.
    pub since: &'static str,
    /// Time complexity, as Redis documents it.
    pub complexity: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// Its typed id.
    pub id: CommandId,
    /// Its handler.
    pub handler: Handler,
    /// Subcommands of a container command (CLIENT, COMMAND, CONFIG).
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// The full name as Redis reports it: `get`, `client|setname`.
    pub fn full_name(&self) -> &'static str {
        self.id.full_name()
    }

    /// True if the flags include all of `flags`.
    pub fn has(&self, flags: CommandFlags) -> bool {
        self.flags.contains(flags)
    }

    /// Whether it may write: a write command, or a read-only one that may
    /// change a value ([`CommandFlags::MAY_REPLICATE`]).
    pub fn may_write(&self) -> bool {
        self.has(CommandFlags::WRITE) || self.has(CommandFlags::MAY_REPLICATE)
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
            "hash" => "@hash",
            "set" => "@set",
            "list" => "@list",
            "sorted_set" => "@sortedset",
            "transactions" => "@transaction",
            "connection" => "@connection",
            "pubsub" => "@pubsub",
            "scripting" => "@scripting",
            "stream" => "@stream",
            "geo" => "@geo",
            "hyperloglog" => "@hyperloglog",
            _ => "@admin",
        });
        // Redis: every admin command is @admin and @dangerous.
        if self.has(CommandFlags::ADMIN) {
            if !categories.contains(&"@admin") {
                categories.push("@admin");
            }
            categories.push("@dangerous");
        }
        categories.push(if self.has(CommandFlags::FAST) {
            "@fast"
        } else {
            "@slow"
        });
        categories
    }

    /// Every key `arguments` (name first) name, the fixed positions'
    /// then the movable ones; `None` when the arguments do not say where
    /// their keys are (a count that is not one, or past the arguments).
    pub fn keys<'a>(&self, arguments: &'a [Bytes]) -> Option<Vec<&'a Bytes>> {
        let mut keys: Vec<&Bytes> = command_keys(self, arguments).collect();
        match self.movable_keys {
            MovableKeys::None => {}
            MovableKeys::Counted { at, .. } => {
                let count = arguments
                    .get(at)
                    .and_then(|count| parse_integer(count))
                    .and_then(|count| usize::try_from(count).ok())?;
                keys.extend(arguments.get(at + 1..at.checked_add(1 + count)?)?);
            }
            MovableKeys::Streams { from } => {
                let after = arguments.get(from..)?;
                let keyword = after
                    .iter()
                    .position(|argument| argument.eq_ignore_ascii_case(b"STREAMS"))?;
                // Half of what follows, rounded down, as Redis counts.
                let rest = &after[keyword + 1..];
                let streams = rest.get(..rest.len() / 2).filter(|keys| !keys.is_empty())?;
                keys.extend(streams);
            }
            MovableKeys::SortStore => keys.extend(sort_store(arguments)),
            MovableKeys::MigrateKeys => {
                if let Some(listed) = migrate_keys(arguments) {
                    keys = listed.iter().collect();
                }
            }
        }
        Some(keys)
    }

    /// This command's COMMAND INFO entry (Redis 7 layout: name, arity,
    /// flags, first key, last key, step, ACL categories, tips, key
    /// specifications, subcommands).
    pub fn info_reply(&self) -> Reply {
        let status = |name: &str| Reply::Simple(name.to_owned());
        Reply::Array(vec![
            Reply::bulk(self.full_name()),
            Reply::Integer(i64::from(self.arity)),
            Reply::Set(
                self.flags
                    .names()
                    .chain((self.movable_keys != MovableKeys::None).then_some("movablekeys"))
                    .map(status)
                    .collect(),
            ),
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

/// Longest command name looked up (longer names are unknown).
const NAME_BYTES_MAX: usize = 32;

/// Hashes command names for the lookup: FNV-1a, a few instructions per
/// byte of a short name, where SipHash's resistance to chosen keys buys
/// nothing (the map's keys are the table's, fixed).
#[derive(Clone, Copy, Debug)]
struct NameHasher(u64);

impl Default for NameHasher {
    fn default() -> Self {
        NameHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The table indexed: by lower-case name, and by id.
struct Index {
    by_name: HashMap<&'static [u8], &'static CommandSpec, BuildHasherDefault<NameHasher>>,
    by_id: Vec<&'static CommandSpec>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut by_id: Vec<Option<&'static CommandSpec>> = vec![None; CommandId::COUNT];
        let mut by_name = HashMap::default();
        for spec in COMMANDS {
            by_name.insert(spec.name.as_bytes(), spec);
            for entry in std::iter::once(spec).chain(spec.subcommands) {
                by_id[entry.id.index()] = Some(entry);
            }
        }
        Index {
            by_name,
            // The table test checks every id has its row.
            by_id: by_id.into_iter().flatten().collect(),
        }
    })
}

/// Every top-level command.
pub fn commands() -> &'static [CommandSpec] {
    COMMANDS
}

/// The row of `id`.
pub fn spec_of(id: CommandId) -> &'static CommandSpec {
    index().by_id[id.index()]
}

/// The top-level command named `name`, in any case: one hash lookup.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut lower = [0u8; NAME_BYTES_MAX];
    let lower = lower.get_mut(..name.len())?;
    for (to, from) in lower.iter_mut().zip(name) {
        *to = from.to_ascii_lowercase();
    }
    index().by_name.get(&*lower).copied()
}

/// A command or subcommand by its full name (`get`, `client|list`), as
/// COMMAND INFO and COMMAND DOCS accept them.
pub fn lookup_full_name(name: &[u8]) -> Option<&'static CommandSpec> {
    match name.iter().position(|&byte| byte == b'|') {
        None => lookup(name),
        Some(bar) => subcommand(lookup(&name[..bar])?, &name[bar + 1..]),
    }
}

fn subcommand(container: &'static CommandSpec, name: &[u8]) -> Option<&'static CommandSpec> {
    container
        .subcommands
        .iter()
        .find(|sub| sub.name.as_bytes().eq_ignore_ascii_case(name))
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

/// The last command a connection resolved, by its name as the client
/// spelled it: clients repeat one command, and comparing a few bytes costs
/// less than lower-casing and hashing them ([`lookup`]). Only a command
/// without subcommands is kept.
#[derive(Clone, Copy, Debug, Default)]
pub struct LastResolved {
    name: [u8; NAME_BYTES_MAX],
    name_bytes: usize,
    spec: Option<&'static CommandSpec>,
}

impl LastResolved {
    /// [`resolve`], answered from the last command when `command` names
    /// it the same way.
    pub fn resolve(&mut self, command: &Command) -> Result<&'static CommandSpec, Reply> {
        let arguments = command.arguments();
        if let (Some(spec), Some(name)) = (self.spec, arguments.first())
            && name[..] == self.name[..self.name_bytes]
        {
            if !spec.arity_accepts(arguments.len()) {
                return Err(wrong_arity(spec));
            }
            return Ok(spec);
        }
        let spec = resolve(command)?;
        let name = &arguments[0];
        let top_level = lookup(name).is_some_and(|top| std::ptr::eq(top, spec));
        if top_level && spec.subcommands.is_empty() {
            // A known name is at most NAME_BYTES_MAX long.
            self.name[..name.len()].copy_from_slice(name);
            self.name_bytes = name.len();
            self.spec = Some(spec);
        }
        Ok(spec)
    }
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
pub(crate) fn quote(bytes: &[u8], bytes_max: usize) -> String {
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
    id: CommandId,
    handler: Handler,
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    group: &'static str,
    since: &'static str,
    complexity: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        id,
        handler,
        name,
        container: None,
        arity,
        flags,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        movable_keys: MovableKeys::None,
        group,
        since,
        complexity,
        summary,
        subcommands: &[],
    }
}

/// A data command on keys `first..=last` by `step`.
#[allow(clippy::too_many_arguments)] // A table row, positional like Redis's own table.
const fn keyed(
    id: CommandId,
    handler: Handler,
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
            id, handler, name, arity, flags, group, since, complexity, summary,
        )
    }
}

/// A string command on one key.
const fn string1(
    id: CommandId,
    handler: Handler,
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    keyed(
        id,
        handler,
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
    id: CommandId,
    handler: Handler,
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    keyed(
        id,
        handler,
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
#[allow(clippy::too_many_arguments)] // A table row, positional like Redis's own table.
const fn sub(
    id: CommandId,
    handler: Handler,
    container: &'static str,
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        container: Some(container),
        ..spec(
            id, handler, name, arity, flags, "server", since, "O(1)", summary,
        )
    }
}

use super::{
    acl, bitfield, bitmap, bitop, client, connection, counters, dump, expiry, functions, geo,
    geo_search, getkeys, hashes, hll, keyspace, latency, lists, migrate, monitor, pubsub,
    scripting, server, sets, slowlog, sort, sorted_sets, stream_groups, stream_info, stream_read,
    streams, strings, tracking, transactions, zset_combine,
};
use CommandId as Id;
use Handler::{Client as C, Data as D};

static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        Id::ClientCaching,
        C(tracking::caching),
        "client",
        "caching",
        3,
        LOADING_STALE.union(CommandFlags::NOSCRIPT),
        "6.0.0",
        "Instructs the server whether to track the keys in the next request.",
    ),
    sub(
        Id::ClientGetname,
        C(client::getname),
        "client",
        "getname",
        2,
        LOADING_STALE.union(CommandFlags::NOSCRIPT),
        "2.6.9",
        "Returns the name of the connection.",
    ),
    sub(
        Id::ClientGetredir,
        C(tracking::getredir),
        "client",
        "getredir",
        2,
        LOADING_STALE.union(CommandFlags::NOSCRIPT),
        "6.0.0",
        "Returns the client ID to which the connection's tracking notifications are redirected.",
    ),
    sub(
        Id::ClientHelp,
        C(server::help),
        "client",
        "help",
        2,
        LOADING_STALE,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
    ),
    sub(
        Id::ClientId,
        C(client::id),
        "client",
        "id",
        2,
        LOADING_STALE.union(CommandFlags::NOSCRIPT),
        "5.0.0",
        "Returns the unique client ID of the connection.",
    ),
    sub(
        Id::ClientInfo,
        C(client::info),
        "client",
        "info",
        2,
        LOADING_STALE.union(CommandFlags::NOSCRIPT),
        "6.2.0",
        "Returns information about the connection.",
    ),
    sub(
        Id::ClientKill,
        C(client::kill),
        "client",
        "kill",
        -3,
        ADMIN.union(LOADING_STALE),
        "2.4.0",
        "Terminates open connections.",
    ),
    sub(
        Id::ClientList,
        C(client::list),
        "client",
        "list",
        -2,
        ADMIN.union(LOADING_STALE),
        "2.4.0",
        "Lists open connections.",
    ),
    sub(
        Id::ClientNoEvict,
        C(client::no_evict),
        "client",
        "no-evict",
        3,
        ADMIN.union(LOADING_STALE),
        "7.0.0",
        "Sets the client eviction mode of the connection.",
    ),
    sub(
        Id::ClientNoTouch,
        C(client::no_touch),
        "client",
        "no-touch",
        3,
        LOADING_STALE.union(CommandFlags::NOSCRIPT),
        "7.2.0",
        "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
    ),
    sub(
        Id::ClientPause,
        C(client::pause),
        "client",
        "pause",
        -3,
        ADMIN.union(LOADING_STALE),
        "3.0.0",
        "Suspends commands processing.",
    ),
    sub(
        Id::ClientReply,
        C(client::reply),
        "client",
        "reply",
        3,
        LOADING_STALE.union(CommandFlags::NOSCRIPT),
        "3.2.0",
        "Instructs the server whether to reply to commands.",
    ),
    sub(
        Id::ClientSetinfo,
        C(client::setinfo),
        "client",
        "setinfo",
        4,
        LOADING_STALE.union(CommandFlags::NOSCRIPT),
        "7.2.0",
        "Sets information specific to the client or connection.",
    ),
    sub(
        Id::ClientSetname,
        C(client::setname),
        "client",
        "setname",
        3,
        LOADING_STALE.union(CommandFlags::NOSCRIPT),
        "2.6.9",
        "Sets the connection name.",
    ),
    sub(
        Id::ClientTracking,
        C(tracking::tracking),
        "client",
        "tracking",
        -3,
        LOADING_STALE.union(CommandFlags::NOSCRIPT),
        "6.0.0",
        "Controls server-assisted client-side caching for the connection.",
    ),
    sub(
        Id::ClientTrackinginfo,
        C(tracking::trackinginfo),
        "client",
        "trackinginfo",
        2,
        LOADING_STALE.union(CommandFlags::NOSCRIPT),
        "6.2.0",
        "Returns information about server-assisted client-side caching for the connection.",
    ),
    sub(
        Id::ClientUnblock,
        C(client::unblock),
        "client",
        "unblock",
        -3,
        ADMIN.union(LOADING_STALE),
        "5.0.0",
        "Unblocks a client blocked by a blocking command from a different connection.",
    ),
    sub(
        Id::ClientUnpause,
        C(client::unpause),
        "client",
        "unpause",
        2,
        ADMIN.union(LOADING_STALE),
        "6.2.0",
        "Resumes processing of clients that were paused.",
    ),
];

static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        Id::CommandCount,
        C(server::command_count),
        "command",
        "count",
        2,
        LOADING_STALE,
        "2.8.13",
        "Returns a count of commands.",
    ),
    sub(
        Id::CommandDocs,
        C(server::command_docs),
        "command",
        "docs",
        -2,
        LOADING_STALE,
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
    ),
    sub(
        Id::CommandHelp,
        C(server::help),
        "command",
        "help",
        2,
        LOADING_STALE,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
    ),
    sub(
        Id::CommandInfo,
        C(server::command_info),
        "command",
        "info",
        -2,
        LOADING_STALE,
        "2.8.13",
        "Returns information about one, multiple or all commands.",
    ),
    sub(
        Id::CommandList,
        C(server::command_list),
        "command",
        "list",
        -2,
        LOADING_STALE,
        "7.0.0",
        "Returns a list of command names.",
    ),
    sub(
        Id::CommandGetkeys,
        C(getkeys::getkeys),
        "command",
        "getkeys",
        -4,
        LOADING_STALE,
        "2.8.13",
        "Extracts the key names from an arbitrary command.",
    ),
    sub(
        Id::CommandGetkeysandflags,
        C(getkeys::getkeys_and_flags),
        "command",
        "getkeysandflags",
        -4,
        LOADING_STALE,
        "7.0.0",
        "Extracts the key names and access flags for an arbitrary command.",
    ),
];

static SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        Id::SlowlogGet,
        C(slowlog::get),
        "slowlog",
        "get",
        -2,
        ADMIN.union(LOADING_STALE),
        "2.2.12",
        "Returns the slow log's entries.",
    ),
    sub(
        Id::SlowlogHelp,
        C(server::help),
        "slowlog",
        "help",
        2,
        LOADING_STALE,
        "6.2.0",
        "Show helpful text about the different subcommands",
    ),
    sub(
        Id::SlowlogLen,
        C(slowlog::len),
        "slowlog",
        "len",
        2,
        ADMIN.union(LOADING_STALE),
        "2.2.12",
        "Returns the number of entries in the slow log.",
    ),
    sub(
        Id::SlowlogReset,
        C(slowlog::reset),
        "slowlog",
        "reset",
        2,
        ADMIN.union(LOADING_STALE),
        "2.2.12",
        "Clears all entries from the slow log.",
    ),
];

static LATENCY_SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        Id::LatencyDoctor,
        C(latency::doctor),
        "latency",
        "doctor",
        2,
        ADMIN.union(LOADING_STALE),
        "2.8.13",
        "Returns a human-readable latency analysis report.",
    ),
    sub(
        Id::LatencyGraph,
        C(latency::graph),
        "latency",
        "graph",
        3,
        ADMIN.union(LOADING_STALE),
        "2.8.13",
        "Returns a latency graph for an event.",
    ),
    sub(
        Id::LatencyHelp,
        C(server::help),
        "latency",
        "help",
        2,
        LOADING_STALE,
        "2.8.13",
        "Returns helpful text about the different subcommands.",
    ),
    sub(
        Id::LatencyHistory,
        C(latency::history),
        "latency",
        "history",
        3,
        ADMIN.union(LOADING_STALE),
        "2.8.13",
        "Returns timestamp-latency samples for an event.",
    ),
    sub(
        Id::LatencyLatest,
        C(latency::latest),
        "latency",
        "latest",
        2,
        ADMIN.union(LOADING_STALE),
        "2.8.13",
        "Returns the latest latency samples for all events.",
    ),
    sub(
        Id::LatencyReset,
        C(latency::reset),
        "latency",
        "reset",
        -2,
        ADMIN.union(LOADING_STALE),
        "2.8.13",
        "Resets the latency data for one or more events.",
    ),
];

static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        Id::ConfigGet,
        C(server::config_get),
        "config",
        "get",
        -3,
        ADMIN.union(LOADING_STALE),
        "2.0.0",
        "Returns the effective values of configuration parameters.",
    ),
    sub(
        Id::ConfigHelp,
        C(server::help),
        "config",
        "help",
        2,
        LOADING_STALE,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
    ),
    sub(
        Id::ConfigResetstat,
        C(server::config_resetstat),
        "config",
        "resetstat",
        2,
        ADMIN.union(LOADING_STALE),
        "2.0.0",
        "Resets the server's statistics.",
    ),
    sub(
        Id::ConfigSet,
        C(server::config_set),
        "config",
        "set",
        -4,
        ADMIN.union(LOADING_STALE),
        "2.0.0",
        "Sets configuration parameters in-flight.",
    ),
];

/// A subcommand that takes a key at position 2 (OBJECT, MEMORY USAGE).
#[allow(clippy::too_many_arguments)] // A table row, positional like Redis's own table.
const fn keyed_sub(
    id: CommandId,
    handler: Handler,
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
        ..sub(id, handler, container, name, arity, flags, since, summary)
    }
}

/// OBJECT: what Redis would say of a string's representation.
static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    keyed_sub(
        Id::ObjectEncoding,
        D(keyspace::object),
        "object",
        "encoding",
        3,
        R,
        "2.2.3",
        "Returns the internal encoding of a Redis object.",
    ),
    keyed_sub(
        Id::ObjectFreq,
        D(keyspace::object),
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
            Id::ObjectHelp,
            C(server::help),
            "object",
            "help",
            2,
            LOADING_STALE,
            "6.2.0",
            "Returns helpful text about the different subcommands.",
        )
    },
    keyed_sub(
        Id::ObjectIdletime,
        D(keyspace::object),
        "object",
        "idletime",
        3,
        R,
        "2.2.3",
        "Returns the time since the last access to a Redis object.",
    ),
    keyed_sub(
        Id::ObjectRefcount,
        D(keyspace::object),
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
        Id::MemoryHelp,
        C(server::help),
        "memory",
        "help",
        2,
        LOADING_STALE,
        "4.0.0",
        "Returns helpful text about the different subcommands.",
    ),
    keyed_sub(
        Id::MemoryUsage,
        D(keyspace::memory_usage_of),
        "memory",
        "usage",
        -3,
        R,
        "4.0.0",
        "Estimates the memory usage of a key.",
    ),
];

/// FUNCTION (`functions.rs`).
static FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    scripting_sub(
        "function",
        Id::FunctionDelete,
        C(functions::delete),
        "delete",
        3,
        CommandFlags::WRITE.union(CommandFlags::NOSCRIPT),
        "7.0.0",
        "Deletes a library and its functions.",
    ),
    scripting_sub(
        "function",
        Id::FunctionFlush,
        C(functions::flush),
        "flush",
        -2,
        CommandFlags::WRITE.union(CommandFlags::NOSCRIPT),
        "7.0.0",
        "Deletes all libraries and functions.",
    ),
    scripting_sub(
        "function",
        Id::FunctionHelp,
        C(server::help),
        "help",
        2,
        LOADING_STALE,
        "7.0.0",
        "Returns helpful text about the different subcommands.",
    ),
    scripting_sub(
        "function",
        Id::FunctionKill,
        C(functions::kill),
        "kill",
        2,
        CommandFlags::NOSCRIPT.union(CommandFlags::ALLOW_BUSY),
        "7.0.0",
        "Terminates a function during execution.",
    ),
    scripting_sub(
        "function",
        Id::FunctionList,
        C(functions::list),
        "list",
        -2,
        CommandFlags::NOSCRIPT,
        "7.0.0",
        "Returns information about all libraries.",
    ),
    scripting_sub(
        "function",
        Id::FunctionLoad,
        C(functions::load),
        "load",
        -3,
        CommandFlags::WRITE
            .union(CommandFlags::DENYOOM)
            .union(CommandFlags::NOSCRIPT),
        "7.0.0",
        "Creates a library.",
    ),
];

/// PUBSUB's subcommands (`pubsub.rs`).
static PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    pubsub_sub(
        Id::PubsubChannels,
        C(pubsub::channels),
        "channels",
        -2,
        "2.8.0",
        "Returns the active channels.",
    ),
    CommandSpec {
        flags: LOADING_STALE,
        ..pubsub_sub(
            Id::PubsubHelp,
            C(server::help),
            "help",
            2,
            "6.2.0",
            "Returns helpful text about the different subcommands.",
        )
    },
    pubsub_sub(
        Id::PubsubNumpat,
        C(pubsub::numpat),
        "numpat",
        2,
        "2.8.0",
        "Returns a count of unique pattern subscriptions.",
    ),
    pubsub_sub(
        Id::PubsubNumsub,
        C(pubsub::numsub),
        "numsub",
        -2,
        "2.8.0",
        "Returns a count of subscribers to channels.",
    ),
    pubsub_sub(
        Id::PubsubShardchannels,
        C(pubsub::shardchannels),
        "shardchannels",
        -2,
        "7.0.0",
        "Returns the active shard channels.",
    ),
    pubsub_sub(
        Id::PubsubShardnumsub,
        C(pubsub::shardnumsub),
        "shardnumsub",
        -2,
        "7.0.0",
        "Returns the count of subscribers of shard channels.",
    ),
];

/// The flags of Redis's (un)subscribe commands.
const SUBSCRIBING: CommandFlags = CommandFlags::PUBSUB
    .union(CommandFlags::NOSCRIPT)
    .union(LOADING_STALE);

/// A PUBSUB subcommand.
const fn pubsub_sub(
    id: CommandId,
    handler: Handler,
    name: &'static str,
    arity: i32,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        group: "pubsub",
        complexity: "O(N) where N is the number of active channels",
        ..sub(
            id,
            handler,
            "pubsub",
            name,
            arity,
            CommandFlags::PUBSUB.union(LOADING_STALE),
            since,
            summary,
        )
    }
}

/// A pub/sub command.
#[allow(clippy::too_many_arguments)] // A table row, positional like Redis's own table.
const fn pubsub_command(
    id: CommandId,
    handler: Handler,
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    keys: (i32, i32, i32),
    since: &'static str,
    complexity: &'static str,
    summary: &'static str,
) -> CommandSpec {
    keyed(
        id, handler, name, arity, flags, keys, "pubsub", since, complexity, summary,
    )
}

/// SCRIPT's subcommands (`scripting/`).
static SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    scripting_sub(
        "script",
        Id::ScriptDebug,
        C(scripting::script_debug),
        "debug",
        3,
        CommandFlags::NOSCRIPT,
        "3.2.0",
        "Sets the debug mode of server-side Lua scripts.",
    ),
    scripting_sub(
        "script",
        Id::ScriptExists,
        C(scripting::script_exists),
        "exists",
        -3,
        CommandFlags::NOSCRIPT,
        "2.6.0",
        "Determines whether server-side Lua scripts exist in the script cache.",
    ),
    scripting_sub(
        "script",
        Id::ScriptFlush,
        C(scripting::script_flush),
        "flush",
        -2,
        CommandFlags::NOSCRIPT,
        "2.6.0",
        "Removes all server-side Lua scripts from the script cache.",
    ),
    scripting_sub(
        "script",
        Id::ScriptHelp,
        C(server::help),
        "help",
        2,
        LOADING_STALE,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
    ),
    scripting_sub(
        "script",
        Id::ScriptKill,
        C(scripting::script_kill),
        "kill",
        2,
        CommandFlags::NOSCRIPT.union(CommandFlags::ALLOW_BUSY),
        "2.6.0",
        "Terminates a server-side Lua script during execution.",
    ),
    scripting_sub(
        "script",
        Id::ScriptLoad,
        C(scripting::script_load),
        "load",
        3,
        CommandFlags::NOSCRIPT.union(CommandFlags::STALE),
        "2.6.0",
        "Loads a server-side Lua script to the script cache.",
    ),
];

/// A SCRIPT or FUNCTION subcommand (`container`): in Redis's scripting
/// group (and so in ACL's `@scripting`, which a user granted
/// `+@scripting` runs).
#[allow(clippy::too_many_arguments)] // A table row, positional like Redis's own table.
const fn scripting_sub(
    container: &'static str,
    id: CommandId,
    handler: Handler,
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        group: "scripting",
        ..sub(id, handler, container, name, arity, flags, since, summary)
    }
}

/// EVAL and its kind: keys by the count at argument 2.
#[allow(clippy::too_many_arguments)] // A table row, positional like Redis's own table.
const fn eval_command(
    id: CommandId,
    handler: Handler,
    name: &'static str,
    flags: CommandFlags,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    spec(
        id,
        handler,
        name,
        -3,
        flags,
        "scripting",
        since,
        "Depends on the script that is executed.",
        summary,
    )
}

const fn container(
    id: CommandId,
    handler: Handler,
    name: &'static str,
    since: &'static str,
    summary: &'static str,
    subcommands: &'static [CommandSpec],
) -> CommandSpec {
    CommandSpec {
        subcommands,
        ..spec(
            id,
            handler,
            name,
            -2,
            CommandFlags::empty(),
            "server",
            since,
            "Depends on subcommand.",
            summary,
        )
    }
}

/// A stream subcommand with its key at position 2 (XGROUP, XINFO).
#[allow(clippy::too_many_arguments)] // A table row, positional like Redis's own table.
const fn stream_sub(
    id: CommandId,
    handler: Handler,
    container: &'static str,
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        group: "stream",
        ..keyed_sub(id, handler, container, name, arity, flags, since, summary)
    }
}

/// XGROUP's subcommands (`stream_groups.rs`, `stream_info.rs`).
static XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    stream_sub(
        Id::XgroupCreate,
        D(stream_groups::xgroup_create),
        "xgroup",
        "create",
        -5,
        W.union(M),
        "5.0.0",
        "Creates a consumer group.",
    ),
    stream_sub(
        Id::XgroupCreateconsumer,
        D(stream_groups::xgroup_createconsumer),
        "xgroup",
        "createconsumer",
        5,
        W.union(M),
        "6.2.0",
        "Creates a consumer in a consumer group.",
    ),
    stream_sub(
        Id::XgroupDelconsumer,
        D(stream_groups::xgroup_delconsumer),
        "xgroup",
        "delconsumer",
        5,
        W,
        "5.0.0",
        "Deletes a consumer from a consumer group.",
    ),
    stream_sub(
        Id::XgroupDestroy,
        D(stream_groups::xgroup_destroy),
        "xgroup",
        "destroy",
        4,
        W,
        "5.0.0",
        "Destroys a consumer group.",
    ),
    CommandSpec {
        group: "stream",
        ..sub(
            Id::XgroupHelp,
            C(server::help),
            "xgroup",
            "help",
            2,
            LOADING_STALE,
            "5.0.0",
            "Returns helpful text about the different subcommands.",
        )
    },
    stream_sub(
        Id::XgroupSetid,
        D(stream_groups::xgroup_setid),
        "xgroup",
        "setid",
        -5,
        W,
        "5.0.0",
        "Sets the last-delivered ID of a consumer group.",
    ),
];

/// XINFO's subcommands (`stream_groups.rs`, `stream_info.rs`).
static XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    stream_sub(
        Id::XinfoConsumers,
        D(stream_info::xinfo_consumers),
        "xinfo",
        "consumers",
        4,
        R,
        "5.0.0",
        "Returns a list of the consumers in a consumer group.",
    ),
    stream_sub(
        Id::XinfoGroups,
        D(stream_info::xinfo_groups),
        "xinfo",
        "groups",
        3,
        R,
        "5.0.0",
        "Returns a list of the consumer groups of a stream.",
    ),
    CommandSpec {
        group: "stream",
        ..sub(
            Id::XinfoHelp,
            C(server::help),
            "xinfo",
            "help",
            2,
            LOADING_STALE,
            "5.0.0",
            "Returns helpful text about the different subcommands.",
        )
    },
    stream_sub(
        Id::XinfoStream,
        D(stream_info::xinfo_stream),
        "xinfo",
        "stream",
        -3,
        R,
        "5.0.0",
        "Returns information about a stream.",
    ),
];

/// The command list of issue 8.
static COMMANDS: &[CommandSpec] = &[
    // Connection.
    spec(
        Id::Auth,
        C(connection::auth),
        "auth",
        -2,
        ANYTIME.union(F).union(CommandFlags::NO_AUTH),
        "connection",
        "1.0.0",
        "O(N) where N is the number of passwords defined for the user",
        "Authenticates the connection.",
    ),
    container(
        Id::Client,
        Handler::Container,
        "client",
        "2.4.0",
        "A container for client connection commands.",
        CLIENT_SUBCOMMANDS,
    ),
    spec(
        Id::Echo,
        C(connection::echo),
        "echo",
        2,
        F,
        "connection",
        "1.0.0",
        "O(1)",
        "Returns the given string.",
    ),
    spec(
        Id::Hello,
        C(connection::hello),
        "hello",
        -1,
        ANYTIME.union(F).union(CommandFlags::NO_AUTH),
        "connection",
        "6.0.0",
        "O(1)",
        "Handshakes with the Redis server.",
    ),
    spec(
        Id::Ping,
        C(connection::ping),
        "ping",
        -1,
        F,
        "connection",
        "1.0.0",
        "O(1)",
        "Returns the server's liveliness response.",
    ),
    spec(
        Id::Quit,
        C(connection::quit),
        "quit",
        -1,
        ANYTIME.union(F).union(CommandFlags::NO_AUTH),
        "connection",
        "1.0.0",
        "O(1)",
        "Closes the connection.",
    ),
    spec(
        Id::Reset,
        C(connection::reset),
        "reset",
        1,
        ANYTIME.union(F).union(CommandFlags::NO_AUTH),
        "connection",
        "6.2.0",
        "O(1)",
        "Resets the connection.",
    ),
    spec(
        Id::Select,
        C(connection::select),
        "select",
        2,
        LOADING_STALE.union(F),
        "connection",
        "1.0.0",
        "O(1)",
        "Changes the selected database.",
    ),
    // Server.
    spec(
        Id::Bgsave,
        C(server::bgsave),
        "bgsave",
        -1,
        ADMIN.union(CommandFlags::NO_MULTI),
        "server",
        "1.0.0",
        "O(1)",
        "Asynchronously saves the database(s) to disk.",
    ),
    spec(
        Id::Bgrewriteaof,
        C(server::bgrewriteaof),
        "bgrewriteaof",
        1,
        ADMIN.union(CommandFlags::NO_MULTI),
        "server",
        "1.0.0",
        "O(1)",
        "Asynchronously rewrites the append-only file to disk.",
    ),
    // COMMAND alone lists every command: arity -1, unlike other containers.
    CommandSpec {
        arity: -1,
        flags: LOADING_STALE,
        ..container(
            Id::Command,
            C(server::command),
            "command",
            "2.8.13",
            "Returns detailed information about all commands.",
            COMMAND_SUBCOMMANDS,
        )
    },
    container(
        Id::Config,
        Handler::Container,
        "config",
        "2.0.0",
        "A container for server configuration commands.",
        CONFIG_SUBCOMMANDS,
    ),
    container(
        Id::Slowlog,
        Handler::Container,
        "slowlog",
        "2.2.12",
        "A container for slow log commands.",
        SLOWLOG_SUBCOMMANDS,
    ),
    container(
        Id::Latency,
        Handler::Container,
        "latency",
        "2.8.13",
        "A container for latency diagnostics commands.",
        LATENCY_SUBCOMMANDS,
    ),
    spec(
        Id::Monitor,
        C(monitor::monitor),
        "monitor",
        1,
        ADMIN.union(LOADING_STALE),
        "server",
        "1.0.0",
        "O(1)",
        "Listens for all requests received by the server in real-time.",
    ),
    CommandSpec {
        group: "scripting",
        ..container(
            Id::Function,
            Handler::Container,
            "function",
            "7.0.0",
            "A container for function commands.",
            FUNCTION_SUBCOMMANDS,
        )
    },
    spec(
        Id::Dbsize,
        D(keyspace::dbsize),
        "dbsize",
        1,
        R.union(F),
        "server",
        "1.0.0",
        "O(1)",
        "Returns the number of keys in the database.",
    ),
    // DEBUG is one command in Redis's table, its subcommands parsed by
    // the command itself (COMMAND shows no subcommands).
    spec(
        Id::Debug,
        D(server::debug),
        "debug",
        -2,
        ADMIN
            .union(LOADING_STALE)
            .union(CommandFlags::ALL_DATABASES),
        "server",
        "1.0.0",
        "Depends on subcommand.",
        "A container for debugging commands.",
    ),
    spec(
        Id::Flushall,
        D(keyspace::flush),
        "flushall",
        -1,
        W.union(CommandFlags::EXCLUSIVE),
        "server",
        "1.0.0",
        "O(N) where N is the total number of keys in all databases",
        "Removes all keys from all databases.",
    ),
    spec(
        Id::Flushdb,
        D(keyspace::flush),
        "flushdb",
        -1,
        W.union(CommandFlags::EXCLUSIVE),
        "server",
        "1.0.0",
        "O(N) where N is the number of keys in the selected database",
        "Remove all keys from the current database.",
    ),
    spec(
        Id::Info,
        C(server::info),
        "info",
        -1,
        LOADING_STALE,
        "server",
        "1.0.0",
        "O(1)",
        "Returns information and statistics about the server.",
    ),
    container(
        Id::Memory,
        Handler::Container,
        "memory",
        "4.0.0",
        "A container for memory diagnostics commands.",
        MEMORY_SUBCOMMANDS,
    ),
    spec(
        Id::Lastsave,
        C(server::lastsave),
        "lastsave",
        1,
        LOADING_STALE.union(F),
        "server",
        "1.0.0",
        "O(1)",
        "Returns the Unix timestamp of the last successful save to disk.",
    ),
    spec(
        Id::Save,
        C(server::save),
        "save",
        1,
        ADMIN.union(CommandFlags::NO_MULTI),
        "server",
        "1.0.0",
        "O(N) where N is the total number of keys in all databases",
        "Synchronously saves the database(s) to disk.",
    ),
    spec(
        Id::Shutdown,
        C(server::shutdown),
        "shutdown",
        -1,
        ANYTIME
            .union(CommandFlags::ADMIN)
            .union(CommandFlags::NO_MULTI),
        "server",
        "1.0.0",
        "O(N) when saving, where N is the total number of keys in all databases",
        "Synchronously saves the database(s) to disk and shuts down the server.",
    ),
    // SWAPDB swaps two databases' keyspaces under their exclusive locks;
    // a MULTI block holds every database shared, so keel refuses it
    // inside MULTI (Redis allows it).
    spec(
        Id::Swapdb,
        D(keyspace::swapdb),
        "swapdb",
        3,
        W.union(F)
            .union(CommandFlags::NO_MULTI)
            .union(CommandFlags::EXCLUSIVE),
        "server",
        "4.0.0",
        "O(N) where N is the count of clients watching or blocking on keys from both databases.",
        "Swaps two Redis databases.",
    ),
    spec(
        Id::Time,
        C(server::time),
        "time",
        1,
        LOADING_STALE.union(F),
        "server",
        "2.6.0",
        "O(1)",
        "Returns the server time.",
    ),
    // Transactions.
    spec(
        Id::Discard,
        C(transactions::discard),
        "discard",
        1,
        ANYTIME.union(F),
        "transactions",
        "2.0.0",
        "O(N), when N is the number of queued commands",
        "Discards a transaction.",
    ),
    spec(
        Id::Exec,
        C(transactions::exec),
        "exec",
        1,
        CommandFlags::NOSCRIPT
            .union(LOADING_STALE)
            .union(CommandFlags::SKIP_SLOWLOG),
        "transactions",
        "1.2.0",
        "Depends on commands in the transaction",
        "Executes all commands in a transaction.",
    ),
    spec(
        Id::Multi,
        C(transactions::multi),
        "multi",
        1,
        ANYTIME.union(F),
        "transactions",
        "1.2.0",
        "O(1)",
        "Starts a transaction.",
    ),
    spec(
        Id::Unwatch,
        C(transactions::unwatch),
        "unwatch",
        1,
        ANYTIME.union(F),
        "transactions",
        "2.2.0",
        "O(1)",
        "Forgets about watched keys of a transaction.",
    ),
    CommandSpec {
        first_key: 1,
        last_key: -1,
        key_step: 1,
        ..spec(
            Id::Watch,
            C(transactions::watch),
            "watch",
            -2,
            ANYTIME.union(F),
            "transactions",
            "2.2.0",
            "O(1) for every key.",
            "Monitors changes to keys to determine the execution of a transaction.",
        )
    },
    // Strings.
    string1(
        Id::Append,
        D(strings::append),
        "append",
        3,
        W.union(M).union(F),
        "2.0.0",
        "Appends a string to the value of a key. Creates the key if it doesn't exist.",
    ),
    string1(
        Id::Decr,
        D(counters::increment_by),
        "decr",
        2,
        W.union(M).union(F),
        "1.0.0",
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
    ),
    string1(
        Id::Decrby,
        D(counters::increment_by),
        "decrby",
        3,
        W.union(M).union(F),
        "1.0.0",
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
    ),
    string1(
        Id::Get,
        D(strings::get),
        "get",
        2,
        R.union(F),
        "1.0.0",
        "Returns the string value of a key.",
    ),
    string1(
        Id::Getdel,
        D(strings::getdel),
        "getdel",
        2,
        W.union(F),
        "6.2.0",
        "Returns the string value of a key after deleting the key.",
    ),
    string1(
        Id::Getex,
        D(strings::getex),
        "getex",
        -2,
        W.union(F),
        "6.2.0",
        "Returns the string value of a key after setting its expiration time.",
    ),
    keyed(
        Id::Getrange,
        D(strings::getrange),
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
        Id::Getset,
        D(strings::getset),
        "getset",
        3,
        W.union(M).union(F),
        "1.0.0",
        "Returns the previous string value of a key after setting it to a new value.",
    ),
    keyed(
        Id::Bitcount,
        D(bitmap::bitcount),
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
        Id::Bitop,
        D(bitop::bitop),
        "bitop",
        -4,
        W.union(M),
        (2, -1, 1),
        "bitmap",
        "2.6.0",
        "O(N)",
        "Performs bitwise operations on multiple strings, and stores the result.",
    ),
    keyed(
        Id::Bitpos,
        D(bitmap::bitpos),
        "bitpos",
        -3,
        R,
        (1, 1, 1),
        "bitmap",
        "2.8.7",
        "O(N)",
        "Finds the first set (1) or clear (0) bit in a string.",
    ),
    keyed(
        Id::Bitfield,
        D(bitfield::bitfield),
        "bitfield",
        -2,
        W.union(M),
        (1, 1, 1),
        "bitmap",
        "3.2.0",
        "O(1) for each subcommand specified",
        "Performs arbitrary bitfield integer operations on strings.",
    ),
    keyed(
        Id::BitfieldRo,
        D(bitfield::bitfield),
        "bitfield_ro",
        -2,
        R.union(F),
        (1, 1, 1),
        "bitmap",
        "6.0.0",
        "O(1) for each subcommand specified",
        "Performs arbitrary read-only bitfield integer operations on strings.",
    ),
    keyed(
        Id::Getbit,
        D(bitmap::getbit),
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
        Id::Incr,
        D(counters::increment_by),
        "incr",
        2,
        W.union(M).union(F),
        "1.0.0",
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
    ),
    string1(
        Id::Incrby,
        D(counters::increment_by),
        "incrby",
        3,
        W.union(M).union(F),
        "1.0.0",
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
    ),
    string1(
        Id::Incrbyfloat,
        D(counters::increment_float_by),
        "incrbyfloat",
        3,
        W.union(M).union(F),
        "2.6.0",
        "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
    ),
    keyed(
        Id::Lcs,
        D(strings::lcs),
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
        Id::Mget,
        D(strings::mget),
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
        Id::Mset,
        D(strings::mset),
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
        Id::Msetnx,
        D(strings::mset),
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
        Id::Psetex,
        D(strings::setex),
        "psetex",
        4,
        W.union(M),
        "2.6.0",
        "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
    ),
    string1(
        Id::Set,
        D(strings::set),
        "set",
        -3,
        W.union(M),
        "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
    ),
    keyed(
        Id::Setbit,
        D(bitmap::setbit),
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
        Id::Setex,
        D(strings::setex),
        "setex",
        4,
        W.union(M),
        "2.0.0",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
    ),
    string1(
        Id::Setnx,
        D(strings::setnx),
        "setnx",
        3,
        W.union(M).union(F),
        "1.0.0",
        "Set the string value of a key only when the key doesn't exist.",
    ),
    string1(
        Id::Setrange,
        D(strings::setrange),
        "setrange",
        4,
        W.union(M),
        "2.2.0",
        "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
    ),
    string1(
        Id::Strlen,
        D(strings::strlen),
        "strlen",
        2,
        R.union(F),
        "2.2.0",
        "Returns the length of a string value.",
    ),
    keyed(
        Id::Substr,
        D(strings::getrange),
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
        Id::Copy,
        D(keyspace::copy),
        "copy",
        -3,
        W.union(M).union(CommandFlags::ALL_DATABASES),
        (1, 2, 1),
        "generic",
        "6.2.0",
        "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
        "Copies the value of a key to a new key.",
    ),
    keyed(
        Id::Del,
        D(keyspace::del),
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
        Id::Exists,
        D(keyspace::exists),
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
        Id::Expire,
        D(expiry::expire),
        "expire",
        -3,
        W.union(F),
        "1.0.0",
        "Sets the expiration time of a key in seconds.",
    ),
    generic1(
        Id::Expireat,
        D(expiry::expire),
        "expireat",
        -3,
        W.union(F),
        "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp.",
    ),
    generic1(
        Id::Expiretime,
        D(expiry::expiretime),
        "expiretime",
        2,
        R.union(F),
        "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp.",
    ),
    spec(
        Id::Keys,
        D(keyspace::keys),
        "keys",
        2,
        R,
        "generic",
        "1.0.0",
        "O(N) with N being the number of keys in the database",
        "Returns all key names that match a pattern.",
    ),
    generic1(
        Id::Move,
        D(keyspace::move_key),
        "move",
        3,
        W.union(F).union(CommandFlags::ALL_DATABASES),
        "1.0.0",
        "Moves a key to another database.",
    ),
    CommandSpec {
        group: "generic",
        ..container(
            Id::Object,
            Handler::Container,
            "object",
            "2.2.3",
            "A container for object introspection commands.",
            OBJECT_SUBCOMMANDS,
        )
    },
    generic1(
        Id::Persist,
        D(expiry::persist),
        "persist",
        2,
        W.union(F),
        "2.2.0",
        "Removes the expiration time of a key.",
    ),
    generic1(
        Id::Pexpire,
        D(expiry::expire),
        "pexpire",
        -3,
        W.union(F),
        "2.6.0",
        "Sets the expiration time of a key in milliseconds.",
    ),
    generic1(
        Id::Pexpireat,
        D(expiry::expire),
        "pexpireat",
        -3,
        W.union(F),
        "2.6.0",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
    ),
    generic1(
        Id::Pexpiretime,
        D(expiry::expiretime),
        "pexpiretime",
        2,
        R.union(F),
        "7.0.0",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
    ),
    generic1(
        Id::Pttl,
        D(expiry::ttl),
        "pttl",
        2,
        R.union(F),
        "2.6.0",
        "Returns the expiration time in milliseconds of a key.",
    ),
    spec(
        Id::Randomkey,
        D(keyspace::randomkey),
        "randomkey",
        1,
        R,
        "generic",
        "1.0.0",
        "O(1)",
        "Returns a random key name from the database.",
    ),
    keyed(
        Id::Rename,
        D(keyspace::rename),
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
        Id::Renamenx,
        D(keyspace::rename),
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
        Id::Scan,
        D(keyspace::scan),
        "scan",
        -2,
        R,
        "generic",
        "2.8.0",
        "O(1) for every call. O(N) for a complete iteration.",
        "Iterates over the key names in the database.",
    ),
    keyed(
        Id::Touch,
        D(keyspace::exists),
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
        Id::Ttl,
        D(expiry::ttl),
        "ttl",
        2,
        R.union(F),
        "1.0.0",
        "Returns the expiration time in seconds of a key.",
    ),
    generic1(
        Id::Type,
        D(keyspace::type_of),
        "type",
        2,
        R.union(F),
        "1.0.0",
        "Determines the type of value stored at a key.",
    ),
    keyed(
        Id::Unlink,
        D(keyspace::del),
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
        Id::Wait,
        C(connection::wait),
        "wait",
        3,
        CommandFlags::NOSCRIPT,
        "generic",
        "3.0.0",
        "O(1)",
        "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
    ),
    // ACL (`acl.rs`): users, their rules, NOPERM.
    spec(
        Id::Acl,
        C(acl::acl),
        "acl",
        -2,
        CommandFlags::ADMIN.union(CommandFlags::NOSCRIPT),
        "server",
        "6.0.0",
        "Depends on subcommand.",
        "A container for Access List Control commands.",
    ), // The data types: hashes, sets, lists, sorted sets.
    keyed(
        Id::Hdel,
        D(hashes::hdel),
        "hdel",
        -3,
        W.union(F),
        (1, 1, 1),
        "hash",
        "2.0.0",
        "O(N) where N is the number of fields to be removed.",
        "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
    ),
    keyed(
        Id::Hexists,
        D(hashes::hexists),
        "hexists",
        3,
        R.union(F),
        (1, 1, 1),
        "hash",
        "2.0.0",
        "O(1)",
        "Determines whether a field exists in a hash.",
    ),
    keyed(
        Id::Hget,
        D(hashes::hget),
        "hget",
        3,
        R.union(F),
        (1, 1, 1),
        "hash",
        "2.0.0",
        "O(1)",
        "Returns the value of a field in a hash.",
    ),
    keyed(
        Id::Hgetall,
        D(hashes::hgetall),
        "hgetall",
        2,
        R,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "O(N) where N is the size of the hash.",
        "Returns all fields and values in a hash.",
    ),
    keyed(
        Id::Hincrby,
        D(hashes::hincrby),
        "hincrby",
        4,
        W.union(M.union(F)),
        (1, 1, 1),
        "hash",
        "2.0.0",
        "O(1)",
        "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
    ),
    keyed(
        Id::Hincrbyfloat,
        D(hashes::hincrbyfloat),
        "hincrbyfloat",
        4,
        W.union(M.union(F)),
        (1, 1, 1),
        "hash",
        "2.6.0",
        "O(1)",
        "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
    ),
    keyed(
        Id::Hkeys,
        D(hashes::hgetall),
        "hkeys",
        2,
        R,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "O(N) where N is the size of the hash.",
        "Returns all fields in a hash.",
    ),
    keyed(
        Id::Hlen,
        D(hashes::hlen),
        "hlen",
        2,
        R.union(F),
        (1, 1, 1),
        "hash",
        "2.0.0",
        "O(1)",
        "Returns the number of fields in a hash.",
    ),
    keyed(
        Id::Hmget,
        D(hashes::hmget),
        "hmget",
        -3,
        R.union(F),
        (1, 1, 1),
        "hash",
        "2.0.0",
        "O(N) where N is the number of fields being requested.",
        "Returns the values of all fields in a hash.",
    ),
    keyed(
        Id::Hmset,
        D(hashes::hset),
        "hmset",
        -4,
        W.union(M.union(F)),
        (1, 1, 1),
        "hash",
        "2.0.0",
        "O(N) where N is the number of fields being set.",
        "Sets the values of multiple fields.",
    ),
    keyed(
        Id::Hrandfield,
        D(hashes::hrandfield),
        "hrandfield",
        -2,
        R,
        (1, 1, 1),
        "hash",
        "6.2.0",
        "O(N) where N is the number of fields returned",
        "Returns one or more random fields from a hash.",
    ),
    keyed(
        Id::Hscan,
        D(hashes::hscan),
        "hscan",
        -3,
        R,
        (1, 1, 1),
        "hash",
        "2.8.0",
        "O(1) for every call. O(N) for a complete iteration.",
        "Iterates over fields and values of a hash.",
    ),
    keyed(
        Id::Hset,
        D(hashes::hset),
        "hset",
        -4,
        W.union(M.union(F)),
        (1, 1, 1),
        "hash",
        "2.0.0",
        "O(1) for each field/value pair added.",
        "Creates or modifies the value of a field in a hash.",
    ),
    keyed(
        Id::Hsetnx,
        D(hashes::hsetnx),
        "hsetnx",
        4,
        W.union(M.union(F)),
        (1, 1, 1),
        "hash",
        "2.0.0",
        "O(1)",
        "Sets the value of a field in a hash only when the field doesn't exist.",
    ),
    keyed(
        Id::Hstrlen,
        D(hashes::hstrlen),
        "hstrlen",
        3,
        R.union(F),
        (1, 1, 1),
        "hash",
        "3.2.0",
        "O(1)",
        "Returns the length of the value of a field.",
    ),
    keyed(
        Id::Hvals,
        D(hashes::hgetall),
        "hvals",
        2,
        R,
        (1, 1, 1),
        "hash",
        "2.0.0",
        "O(N) where N is the size of the hash.",
        "Returns all values in a hash.",
    ),
    keyed(
        Id::Sadd,
        D(sets::sadd),
        "sadd",
        -3,
        W.union(M.union(F)),
        (1, 1, 1),
        "set",
        "1.0.0",
        "O(1) for each element added.",
        "Adds one or more members to a set. Creates the key if it doesn't exist.",
    ),
    keyed(
        Id::Scard,
        D(sets::scard),
        "scard",
        2,
        R.union(F),
        (1, 1, 1),
        "set",
        "1.0.0",
        "O(1)",
        "Returns the number of members in a set.",
    ),
    keyed(
        Id::Sdiff,
        D(sets::combine),
        "sdiff",
        -2,
        R,
        (1, -1, 1),
        "set",
        "1.0.0",
        "O(N) where N is the total number of elements in all given sets.",
        "Returns the difference of multiple sets.",
    ),
    keyed(
        Id::Sdiffstore,
        D(sets::combine_store),
        "sdiffstore",
        -3,
        W.union(M),
        (1, -1, 1),
        "set",
        "1.0.0",
        "O(N) where N is the total number of elements in all given sets.",
        "Stores the difference of multiple sets in a key.",
    ),
    keyed(
        Id::Sinter,
        D(sets::combine),
        "sinter",
        -2,
        R,
        (1, -1, 1),
        "set",
        "1.0.0",
        "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        "Returns the intersect of multiple sets.",
    ),
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 1,
            optional: false,
        },
        ..keyed(
            Id::Sintercard,
            D(sets::sintercard),
            "sintercard",
            -3,
            R,
            (0, 0, 0),
            "set",
            "7.0.0",
            "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
            "Returns the number of members of the intersect of multiple sets.",
        )
    },
    keyed(
        Id::Sinterstore,
        D(sets::combine_store),
        "sinterstore",
        -3,
        W.union(M),
        (1, -1, 1),
        "set",
        "1.0.0",
        "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        "Stores the intersect of multiple sets in a key.",
    ),
    keyed(
        Id::Sismember,
        D(sets::sismember),
        "sismember",
        3,
        R.union(F),
        (1, 1, 1),
        "set",
        "1.0.0",
        "O(1)",
        "Determines whether a member belongs to a set.",
    ),
    keyed(
        Id::Smembers,
        D(sets::smembers),
        "smembers",
        2,
        R,
        (1, 1, 1),
        "set",
        "1.0.0",
        "O(N) where N is the set cardinality.",
        "Returns all members of a set.",
    ),
    keyed(
        Id::Smismember,
        D(sets::smismember),
        "smismember",
        -3,
        R.union(F),
        (1, 1, 1),
        "set",
        "6.2.0",
        "O(N) where N is the number of elements being checked for membership",
        "Determines whether multiple members belong to a set.",
    ),
    keyed(
        Id::Smove,
        D(sets::smove),
        "smove",
        4,
        W.union(F),
        (1, 2, 1),
        "set",
        "1.0.0",
        "O(1)",
        "Moves a member from one set to another.",
    ),
    keyed(
        Id::Spop,
        D(sets::spop),
        "spop",
        -2,
        W.union(F),
        (1, 1, 1),
        "set",
        "1.0.0",
        "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
        "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
    ),
    keyed(
        Id::Srandmember,
        D(sets::srandmember),
        "srandmember",
        -2,
        R,
        (1, 1, 1),
        "set",
        "1.0.0",
        "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.",
        "Get one or multiple random members from a set",
    ),
    keyed(
        Id::Srem,
        D(sets::srem),
        "srem",
        -3,
        W.union(F),
        (1, 1, 1),
        "set",
        "1.0.0",
        "O(N) where N is the number of members to be removed.",
        "Removes one or more members from a set. Deletes the set if the last member was removed.",
    ),
    keyed(
        Id::Sscan,
        D(sets::sscan),
        "sscan",
        -3,
        R,
        (1, 1, 1),
        "set",
        "2.8.0",
        "O(1) for every call. O(N) for a complete iteration.",
        "Iterates over members of a set.",
    ),
    keyed(
        Id::Sunion,
        D(sets::combine),
        "sunion",
        -2,
        R,
        (1, -1, 1),
        "set",
        "1.0.0",
        "O(N) where N is the total number of elements in all given sets.",
        "Returns the union of multiple sets.",
    ),
    keyed(
        Id::Sunionstore,
        D(sets::combine_store),
        "sunionstore",
        -3,
        W.union(M),
        (1, -1, 1),
        "set",
        "1.0.0",
        "O(N) where N is the total number of elements in all given sets.",
        "Stores the union of multiple sets in a key.",
    ),
    keyed(
        Id::Lindex,
        D(lists::lindex),
        "lindex",
        3,
        R,
        (1, 1, 1),
        "list",
        "1.0.0",
        "O(N) where N is the number of elements to traverse to get to the element at index.",
        "Returns an element from a list by its index.",
    ),
    keyed(
        Id::Linsert,
        D(lists::linsert),
        "linsert",
        5,
        W.union(M),
        (1, 1, 1),
        "list",
        "2.2.0",
        "O(N) where N is the number of elements to traverse before seeing the value pivot.",
        "Inserts an element before or after another element in a list.",
    ),
    keyed(
        Id::Llen,
        D(lists::llen),
        "llen",
        2,
        R.union(F),
        (1, 1, 1),
        "list",
        "1.0.0",
        "O(1)",
        "Returns the length of a list.",
    ),
    keyed(
        Id::Lmove,
        D(lists::lmove),
        "lmove",
        5,
        W.union(M),
        (1, 2, 1),
        "list",
        "6.2.0",
        "O(1)",
        "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
    ),
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 1,
            optional: false,
        },
        ..keyed(
            Id::Lmpop,
            D(lists::lmpop),
            "lmpop",
            -4,
            W,
            (0, 0, 0),
            "list",
            "7.0.0",
            "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
            "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
        )
    },
    keyed(
        Id::Lpop,
        D(lists::pop_command),
        "lpop",
        -2,
        W.union(F),
        (1, 1, 1),
        "list",
        "1.0.0",
        "O(N) where N is the number of elements returned",
        "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
    ),
    keyed(
        Id::Lpos,
        D(lists::lpos),
        "lpos",
        -3,
        R,
        (1, 1, 1),
        "list",
        "6.0.6",
        "O(N) where N is the number of elements in the list, for the average case.",
        "Returns the index of matching elements in a list.",
    ),
    keyed(
        Id::Lpush,
        D(lists::push_command),
        "lpush",
        -3,
        W.union(M.union(F)),
        (1, 1, 1),
        "list",
        "1.0.0",
        "O(1) for each element added.",
        "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
    ),
    keyed(
        Id::Lpushx,
        D(lists::push_command),
        "lpushx",
        -3,
        W.union(M.union(F)),
        (1, 1, 1),
        "list",
        "2.2.0",
        "O(1) for each element added.",
        "Prepends one or more elements to a list only when the list exists.",
    ),
    keyed(
        Id::Lrange,
        D(lists::lrange),
        "lrange",
        4,
        R,
        (1, 1, 1),
        "list",
        "1.0.0",
        "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.",
        "Returns a range of elements from a list.",
    ),
    keyed(
        Id::Lrem,
        D(lists::lrem),
        "lrem",
        4,
        W,
        (1, 1, 1),
        "list",
        "1.0.0",
        "O(N+M) where N is the length of the list and M is the number of elements removed.",
        "Removes elements from a list. Deletes the list if the last element was removed.",
    ),
    keyed(
        Id::Lset,
        D(lists::lset),
        "lset",
        4,
        W.union(M),
        (1, 1, 1),
        "list",
        "1.0.0",
        "O(N) where N is the length of the list.",
        "Sets the value of an element in a list by its index.",
    ),
    keyed(
        Id::Ltrim,
        D(lists::ltrim),
        "ltrim",
        4,
        W,
        (1, 1, 1),
        "list",
        "1.0.0",
        "O(N) where N is the number of elements to be removed by the operation.",
        "Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
    ),
    keyed(
        Id::Rpop,
        D(lists::pop_command),
        "rpop",
        -2,
        W.union(F),
        (1, 1, 1),
        "list",
        "1.0.0",
        "O(N) where N is the number of elements returned",
        "Returns and removes the last elements of a list. Deletes the list if the last element was popped.",
    ),
    keyed(
        Id::Rpoplpush,
        D(lists::lmove),
        "rpoplpush",
        3,
        W.union(M),
        (1, 2, 1),
        "list",
        "1.2.0",
        "O(1)",
        "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
    ),
    keyed(
        Id::Rpush,
        D(lists::push_command),
        "rpush",
        -3,
        W.union(M.union(F)),
        (1, 1, 1),
        "list",
        "1.0.0",
        "O(1) for each element added.",
        "Appends one or more elements to a list. Creates the key if it doesn't exist.",
    ),
    keyed(
        Id::Rpushx,
        D(lists::push_command),
        "rpushx",
        -3,
        W.union(M.union(F)),
        (1, 1, 1),
        "list",
        "2.2.0",
        "O(1) for each element added.",
        "Appends an element to a list only when the list exists.",
    ),
    keyed(
        Id::Zadd,
        D(sorted_sets::zadd),
        "zadd",
        -4,
        W.union(M.union(F)),
        (1, 1, 1),
        "sorted_set",
        "1.2.0",
        "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
    ),
    keyed(
        Id::Zcard,
        D(sorted_sets::zcard),
        "zcard",
        2,
        R.union(F),
        (1, 1, 1),
        "sorted_set",
        "1.2.0",
        "O(1)",
        "Returns the number of members in a sorted set.",
    ),
    keyed(
        Id::Zcount,
        D(sorted_sets::zcount),
        "zcount",
        4,
        R.union(F),
        (1, 1, 1),
        "sorted_set",
        "2.0.0",
        "O(log(N)) with N being the number of elements in the sorted set.",
        "Returns the count of members in a sorted set that have scores within a range.",
    ),
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 1,
            optional: false,
        },
        ..keyed(
            Id::Zdiff,
            D(zset_combine::combine),
            "zdiff",
            -3,
            R,
            (0, 0, 0),
            "sorted_set",
            "6.2.0",
            "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
            "Returns the difference between multiple sorted sets.",
        )
    },
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 2,
            optional: false,
        },
        ..keyed(
            Id::Zdiffstore,
            D(zset_combine::combine_store),
            "zdiffstore",
            -4,
            W.union(M),
            (1, 1, 1),
            "sorted_set",
            "6.2.0",
            "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
            "Stores the difference of multiple sorted sets in a key.",
        )
    },
    keyed(
        Id::Zincrby,
        D(sorted_sets::zincrby),
        "zincrby",
        4,
        W.union(M.union(F)),
        (1, 1, 1),
        "sorted_set",
        "1.2.0",
        "O(log(N)) where N is the number of elements in the sorted set.",
        "Increments the score of a member in a sorted set.",
    ),
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 1,
            optional: false,
        },
        ..keyed(
            Id::Zinter,
            D(zset_combine::combine),
            "zinter",
            -3,
            R,
            (0, 0, 0),
            "sorted_set",
            "6.2.0",
            "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
            "Returns the intersect of multiple sorted sets.",
        )
    },
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 1,
            optional: false,
        },
        ..keyed(
            Id::Zintercard,
            D(zset_combine::zintercard),
            "zintercard",
            -3,
            R,
            (0, 0, 0),
            "sorted_set",
            "7.0.0",
            "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.",
            "Returns the number of members of the intersect of multiple sorted sets.",
        )
    },
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 2,
            optional: false,
        },
        ..keyed(
            Id::Zinterstore,
            D(zset_combine::combine_store),
            "zinterstore",
            -4,
            W.union(M),
            (1, 1, 1),
            "sorted_set",
            "2.0.0",
            "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
            "Stores the intersect of multiple sorted sets in a key.",
        )
    },
    keyed(
        Id::Zlexcount,
        D(sorted_sets::zlexcount),
        "zlexcount",
        4,
        R.union(F),
        (1, 1, 1),
        "sorted_set",
        "2.8.9",
        "O(log(N)) with N being the number of elements in the sorted set.",
        "Returns the number of members in a sorted set within a lexicographical range.",
    ),
    keyed(
        Id::Zmscore,
        D(sorted_sets::zmscore),
        "zmscore",
        -3,
        R.union(F),
        (1, 1, 1),
        "sorted_set",
        "6.2.0",
        "O(N) where N is the number of members being requested.",
        "Returns the score of one or more members in a sorted set.",
    ),
    keyed(
        Id::Zpopmax,
        D(sorted_sets::zpop),
        "zpopmax",
        -2,
        W.union(F),
        (1, 1, 1),
        "sorted_set",
        "5.0.0",
        "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
    ),
    keyed(
        Id::Zpopmin,
        D(sorted_sets::zpop),
        "zpopmin",
        -2,
        W.union(F),
        (1, 1, 1),
        "sorted_set",
        "5.0.0",
        "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
    ),
    keyed(
        Id::Zrandmember,
        D(sorted_sets::zrandmember),
        "zrandmember",
        -2,
        R,
        (1, 1, 1),
        "sorted_set",
        "6.2.0",
        "O(N) where N is the number of members returned",
        "Returns one or more random members from a sorted set.",
    ),
    keyed(
        Id::Zrange,
        D(sorted_sets::zrange),
        "zrange",
        -4,
        R,
        (1, 1, 1),
        "sorted_set",
        "1.2.0",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
        "Returns members in a sorted set within a range of indexes.",
    ),
    keyed(
        Id::Zrangebylex,
        D(sorted_sets::zrange),
        "zrangebylex",
        -4,
        R,
        (1, 1, 1),
        "sorted_set",
        "2.8.9",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        "Returns members in a sorted set within a lexicographical range.",
    ),
    keyed(
        Id::Zrangebyscore,
        D(sorted_sets::zrange),
        "zrangebyscore",
        -4,
        R,
        (1, 1, 1),
        "sorted_set",
        "1.0.5",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        "Returns members in a sorted set within a range of scores.",
    ),
    keyed(
        Id::Zrangestore,
        D(sorted_sets::zrangestore),
        "zrangestore",
        -5,
        W.union(M),
        (1, 2, 1),
        "sorted_set",
        "6.2.0",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.",
        "Stores a range of members from sorted set in a key.",
    ),
    keyed(
        Id::Zrank,
        D(sorted_sets::zrank),
        "zrank",
        3,
        R.union(F),
        (1, 1, 1),
        "sorted_set",
        "2.0.0",
        "O(log(N))",
        "Returns the index of a member in a sorted set ordered by ascending scores.",
    ),
    keyed(
        Id::Zrem,
        D(sorted_sets::zrem),
        "zrem",
        -3,
        W.union(F),
        (1, 1, 1),
        "sorted_set",
        "1.2.0",
        "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.",
        "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
    ),
    keyed(
        Id::Zremrangebylex,
        D(sorted_sets::zremrange),
        "zremrangebylex",
        4,
        W,
        (1, 1, 1),
        "sorted_set",
        "2.8.9",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
    ),
    keyed(
        Id::Zremrangebyrank,
        D(sorted_sets::zremrange),
        "zremrangebyrank",
        4,
        W,
        (1, 1, 1),
        "sorted_set",
        "2.0.0",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
    ),
    keyed(
        Id::Zremrangebyscore,
        D(sorted_sets::zremrange),
        "zremrangebyscore",
        4,
        W,
        (1, 1, 1),
        "sorted_set",
        "1.2.0",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
    ),
    keyed(
        Id::Zrevrange,
        D(sorted_sets::zrange),
        "zrevrange",
        -4,
        R,
        (1, 1, 1),
        "sorted_set",
        "1.2.0",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
        "Returns members in a sorted set within a range of indexes in reverse order.",
    ),
    keyed(
        Id::Zrevrangebylex,
        D(sorted_sets::zrange),
        "zrevrangebylex",
        -4,
        R,
        (1, 1, 1),
        "sorted_set",
        "2.8.9",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        "Returns members in a sorted set within a lexicographical range in reverse order.",
    ),
    keyed(
        Id::Zrevrangebyscore,
        D(sorted_sets::zrange),
        "zrevrangebyscore",
        -4,
        R,
        (1, 1, 1),
        "sorted_set",
        "2.2.0",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        "Returns members in a sorted set within a range of scores in reverse order.",
    ),
    keyed(
        Id::Zrevrank,
        D(sorted_sets::zrank),
        "zrevrank",
        3,
        R.union(F),
        (1, 1, 1),
        "sorted_set",
        "2.0.0",
        "O(log(N))",
        "Returns the index of a member in a sorted set ordered by descending scores.",
    ),
    keyed(
        Id::Zscan,
        D(sorted_sets::zscan),
        "zscan",
        -3,
        R,
        (1, 1, 1),
        "sorted_set",
        "2.8.0",
        "O(1) for every call. O(N) for a complete iteration.",
        "Iterates over members and scores of a sorted set.",
    ),
    keyed(
        Id::Zscore,
        D(sorted_sets::zscore),
        "zscore",
        3,
        R.union(F),
        (1, 1, 1),
        "sorted_set",
        "1.2.0",
        "O(1)",
        "Returns the score of a member in a sorted set.",
    ),
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 1,
            optional: false,
        },
        ..keyed(
            Id::Zunion,
            D(zset_combine::combine),
            "zunion",
            -3,
            R,
            (0, 0, 0),
            "sorted_set",
            "6.2.0",
            "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
            "Returns the union of multiple sorted sets.",
        )
    },
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 2,
            optional: false,
        },
        ..keyed(
            Id::Zunionstore,
            D(zset_combine::combine_store),
            "zunionstore",
            -4,
            W.union(M),
            (1, 1, 1),
            "sorted_set",
            "2.0.0",
            "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
            "Stores the union of multiple sorted sets in a key.",
        )
    },
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 1,
            optional: false,
        },
        ..keyed(
            Id::Zmpop,
            D(sorted_sets::zmpop),
            "zmpop",
            -4,
            W,
            (0, 0, 0),
            "sorted_set",
            "7.0.0",
            "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
            "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
        )
    },
    // Blocking commands (`blocking.rs`).
    keyed(
        Id::Blpop,
        D(lists::blpop),
        "blpop",
        -3,
        W.union(CommandFlags::BLOCKING)
            .union(CommandFlags::NOSCRIPT),
        (1, -2, 1),
        "list",
        "2.0.0",
        "O(N) where N is the number of provided keys.",
        "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
    ),
    keyed(
        Id::Brpop,
        D(lists::blpop),
        "brpop",
        -3,
        W.union(CommandFlags::BLOCKING)
            .union(CommandFlags::NOSCRIPT),
        (1, -2, 1),
        "list",
        "2.0.0",
        "O(N) where N is the number of provided keys.",
        "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
    ),
    keyed(
        Id::Blmove,
        D(lists::blmove),
        "blmove",
        6,
        W.union(M)
            .union(CommandFlags::BLOCKING)
            .union(CommandFlags::NOSCRIPT),
        (1, 2, 1),
        "list",
        "6.2.0",
        "O(1)",
        "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
    ),
    keyed(
        Id::Brpoplpush,
        D(lists::blmove),
        "brpoplpush",
        4,
        W.union(M)
            .union(CommandFlags::BLOCKING)
            .union(CommandFlags::NOSCRIPT),
        (1, 2, 1),
        "list",
        "2.2.0",
        "O(1)",
        "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
    ),
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 2,
            optional: false,
        },
        ..keyed(
            Id::Blmpop,
            D(lists::blmpop),
            "blmpop",
            -5,
            W.union(CommandFlags::BLOCKING),
            (0, 0, 0),
            "list",
            "7.0.0",
            "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
            "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        )
    },
    keyed(
        Id::Bzpopmax,
        D(sorted_sets::bzpop),
        "bzpopmax",
        -3,
        W.union(F)
            .union(CommandFlags::BLOCKING)
            .union(CommandFlags::NOSCRIPT),
        (1, -2, 1),
        "sorted_set",
        "5.0.0",
        "O(log(N)) with N being the number of elements in the sorted set.",
        "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.",
    ),
    keyed(
        Id::Bzpopmin,
        D(sorted_sets::bzpop),
        "bzpopmin",
        -3,
        W.union(F)
            .union(CommandFlags::BLOCKING)
            .union(CommandFlags::NOSCRIPT),
        (1, -2, 1),
        "sorted_set",
        "5.0.0",
        "O(log(N)) with N being the number of elements in the sorted set.",
        "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
    ),
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 2,
            optional: false,
        },
        ..keyed(
            Id::Bzmpop,
            D(sorted_sets::bzmpop),
            "bzmpop",
            -5,
            W.union(CommandFlags::BLOCKING),
            (0, 0, 0),
            "sorted_set",
            "7.0.0",
            "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
            "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        )
    },
    // Pub/sub (`pubsub.rs`).
    pubsub_command(
        Id::Psubscribe,
        C(pubsub::psubscribe),
        "psubscribe",
        -2,
        SUBSCRIBING,
        (0, 0, 0),
        "2.0.0",
        "O(N) where N is the number of patterns to subscribe to.",
        "Listens for messages published to channels that match one or more patterns.",
    ),
    pubsub_command(
        Id::Publish,
        C(pubsub::publish),
        "publish",
        3,
        CommandFlags::PUBSUB.union(LOADING_STALE).union(F),
        (0, 0, 0),
        "2.0.0",
        "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
        "Posts a message to a channel.",
    ),
    CommandSpec {
        group: "pubsub",
        ..container(
            Id::Pubsub,
            Handler::Container,
            "pubsub",
            "2.8.0",
            "A container for Pub/Sub commands.",
            PUBSUB_SUBCOMMANDS,
        )
    },
    pubsub_command(
        Id::Punsubscribe,
        C(pubsub::punsubscribe),
        "punsubscribe",
        -1,
        SUBSCRIBING,
        (0, 0, 0),
        "2.0.0",
        "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).",
        "Stops listening to messages published to channels that match one or more patterns.",
    ),
    pubsub_command(
        Id::Spublish,
        C(pubsub::spublish),
        "spublish",
        3,
        CommandFlags::PUBSUB.union(LOADING_STALE).union(F),
        (1, 1, 1),
        "7.0.0",
        "O(N) where N is the number of clients subscribed to the receiving shard channel.",
        "Post a message to a shard channel",
    ),
    pubsub_command(
        Id::Ssubscribe,
        C(pubsub::ssubscribe),
        "ssubscribe",
        -2,
        SUBSCRIBING,
        (1, -1, 1),
        "7.0.0",
        "O(N) where N is the number of shard channels to subscribe to.",
        "Listens for messages published to shard channels.",
    ),
    pubsub_command(
        Id::Subscribe,
        C(pubsub::subscribe),
        "subscribe",
        -2,
        SUBSCRIBING,
        (0, 0, 0),
        "2.0.0",
        "O(N) where N is the number of channels to subscribe to.",
        "Listens for messages published to channels.",
    ),
    pubsub_command(
        Id::Sunsubscribe,
        C(pubsub::sunsubscribe),
        "sunsubscribe",
        -1,
        SUBSCRIBING,
        (1, -1, 1),
        "7.0.0",
        "O(N) where N is the number of shard channels to unsubscribe.",
        "Stops listening to messages posted to shard channels.",
    ),
    pubsub_command(
        Id::Unsubscribe,
        C(pubsub::unsubscribe),
        "unsubscribe",
        -1,
        SUBSCRIBING,
        (0, 0, 0),
        "2.0.0",
        "O(N) where N is the number of channels to unsubscribe.",
        "Stops listening to messages posted to channels.",
    ),
    // Redis Cluster: keel is one node without it.
    spec(
        Id::Cluster,
        C(server::cluster),
        "cluster",
        -2,
        ADMIN.union(LOADING_STALE),
        "cluster",
        "3.0.0",
        "Depends on subcommand.",
        "A container for Redis Cluster commands.",
    ),
    spec(
        Id::Readonly,
        C(server::cluster),
        "readonly",
        1,
        F.union(LOADING_STALE),
        "cluster",
        "3.0.0",
        "O(1)",
        "Enables read-only queries for a connection to a Redis Cluster replica node.",
    ),
    spec(
        Id::Readwrite,
        C(server::cluster),
        "readwrite",
        1,
        F.union(LOADING_STALE),
        "cluster",
        "3.0.0",
        "O(1)",
        "Enables read-write queries for a connection to a Redis Cluster replica node.",
    ),
    spec(
        Id::Role,
        C(server::role),
        "role",
        1,
        CommandFlags::NOSCRIPT.union(LOADING_STALE).union(F),
        "server",
        "2.8.12",
        "O(1)",
        "Returns the replication role.",
    ),
    spec(
        Id::Lolwut,
        C(server::lolwut),
        "lolwut",
        -1,
        R.union(F),
        "server",
        "5.0.0",
        "O(1)",
        "Displays computer art and the Redis version",
    ),
    // SORT (`sort.rs`): the key first; a STORE destination is found by
    // the handler, as Redis's movable keys are.
    CommandSpec {
        movable_keys: MovableKeys::SortStore,
        ..keyed(
            Id::Sort,
            D(sort::sort),
            "sort",
            -2,
            W.union(M),
            (1, 1, 1),
            "generic",
            "1.0.0",
            "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).",
            "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
        )
    },
    keyed(
        Id::SortRo,
        D(sort::sort),
        "sort_ro",
        -2,
        R,
        (1, 1, 1),
        "generic",
        "7.0.0",
        "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).",
        "Returns the sorted elements of a list, a set, or a sorted set.",
    ),
    // DUMP and RESTORE (`dump.rs`, Redis's payload).
    keyed(
        Id::Dump,
        D(dump::dump),
        "dump",
        2,
        R,
        (1, 1, 1),
        "generic",
        "2.6.0",
        "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).",
        "Returns a serialized representation of the value stored at a key.",
    ),
    keyed(
        Id::Restore,
        D(dump::restore),
        "restore",
        -4,
        W.union(M),
        (1, 1, 1),
        "generic",
        "2.6.0",
        "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).",
        "Creates a key from the serialized representation of a value.",
    ),
    // MIGRATE (`migrate.rs`): DUMP, RESTORE on the target, DEL.
    CommandSpec {
        movable_keys: MovableKeys::MigrateKeys,
        ..keyed(
            Id::Migrate,
            C(migrate::migrate),
            "migrate",
            -6,
            W.union(CommandFlags::NOSCRIPT),
            (3, 3, 1),
            "generic",
            "2.6.0",
            "This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed.",
            "Atomically transfers a key from one Redis instance to another.",
        )
    },
    // Scripts (`scripting/`).
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 2,
            optional: true,
        },
        ..eval_command(
            Id::Eval,
            C(scripting::eval),
            "eval",
            CommandFlags::NOSCRIPT.union(CommandFlags::STALE),
            "2.6.0",
            "Executes a server-side Lua script.",
        )
    },
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 2,
            optional: true,
        },
        ..eval_command(
            Id::EvalRo,
            C(scripting::eval),
            "eval_ro",
            CommandFlags::NOSCRIPT
                .union(CommandFlags::STALE)
                .union(CommandFlags::READONLY),
            "7.0.0",
            "Executes a read-only server-side Lua script.",
        )
    },
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 2,
            optional: true,
        },
        ..eval_command(
            Id::Evalsha,
            C(scripting::evalsha),
            "evalsha",
            CommandFlags::NOSCRIPT.union(CommandFlags::STALE),
            "2.6.0",
            "Executes a server-side Lua script by SHA1 digest.",
        )
    },
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 2,
            optional: true,
        },
        ..eval_command(
            Id::EvalshaRo,
            C(scripting::evalsha),
            "evalsha_ro",
            CommandFlags::NOSCRIPT
                .union(CommandFlags::STALE)
                .union(CommandFlags::READONLY),
            "7.0.0",
            "Executes a read-only server-side Lua script by SHA1 digest.",
        )
    },
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 2,
            optional: true,
        },
        ..eval_command(
            Id::Fcall,
            C(functions::fcall),
            "fcall",
            CommandFlags::NOSCRIPT.union(CommandFlags::STALE),
            "7.0.0",
            "Invokes a function.",
        )
    },
    CommandSpec {
        movable_keys: MovableKeys::Counted {
            at: 2,
            optional: true,
        },
        ..eval_command(
            Id::FcallRo,
            C(functions::fcall),
            "fcall_ro",
            CommandFlags::NOSCRIPT
                .union(CommandFlags::STALE)
                .union(CommandFlags::READONLY),
            "7.0.0",
            "Invokes a read-only function.",
        )
    },
    CommandSpec {
        group: "scripting",
        ..container(
            Id::Script,
            Handler::Container,
            "script",
            "2.6.0",
            "A container for Lua scripts management commands.",
            SCRIPT_SUBCOMMANDS,
        )
    }, // Streams (`streams.rs`, `stream_read.rs`, `stream_groups.rs`, `stream_info.rs`).
    keyed(
        Id::Xack,
        D(stream_groups::xack),
        "xack",
        -4,
        W.union(F),
        (1, 1, 1),
        "stream",
        "5.0.0",
        "O(1) for each message ID processed.",
        "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.",
    ),
    keyed(
        Id::Xadd,
        D(streams::xadd),
        "xadd",
        -5,
        W.union(M).union(F),
        (1, 1, 1),
        "stream",
        "5.0.0",
        "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.",
        "Appends a new message to a stream. Creates the key if it doesn't exist.",
    ),
    keyed(
        Id::Xautoclaim,
        D(stream_groups::xautoclaim),
        "xautoclaim",
        -6,
        W.union(F),
        (1, 1, 1),
        "stream",
        "6.2.0",
        "O(1) if COUNT is small.",
        "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.",
    ),
    keyed(
        Id::Xclaim,
        D(stream_groups::xclaim),
        "xclaim",
        -6,
        W.union(F),
        (1, 1, 1),
        "stream",
        "5.0.0",
        "O(log N) with N being the number of messages in the PEL of the consumer group.",
        "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.",
    ),
    keyed(
        Id::Xdel,
        D(streams::xdel),
        "xdel",
        -3,
        W.union(F),
        (1, 1, 1),
        "stream",
        "5.0.0",
        "O(1) for each single item to delete in the stream, regardless of the stream size.",
        "Returns the number of messages after removing them from a stream.",
    ),
    CommandSpec {
        group: "stream",
        ..container(
            Id::Xgroup,
            Handler::Container,
            "xgroup",
            "5.0.0",
            "A container for consumer groups commands.",
            XGROUP_SUBCOMMANDS,
        )
    },
    CommandSpec {
        group: "stream",
        ..container(
            Id::Xinfo,
            Handler::Container,
            "xinfo",
            "5.0.0",
            "A container for stream introspection commands.",
            XINFO_SUBCOMMANDS,
        )
    },
    keyed(
        Id::Xlen,
        D(streams::xlen),
        "xlen",
        2,
        R.union(F),
        (1, 1, 1),
        "stream",
        "5.0.0",
        "O(1)",
        "Return the number of messages in a stream.",
    ),
    keyed(
        Id::Xpending,
        D(stream_groups::xpending),
        "xpending",
        -3,
        R,
        (1, 1, 1),
        "stream",
        "5.0.0",
        "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.",
        "Returns the information and entries from a stream consumer group's pending entries list.",
    ),
    keyed(
        Id::Xrange,
        D(streams::xrange),
        "xrange",
        -4,
        R,
        (1, 1, 1),
        "stream",
        "5.0.0",
        "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
        "Returns the messages from a stream within a range of IDs.",
    ),
    CommandSpec {
        movable_keys: MovableKeys::Streams { from: 1 },
        ..keyed(
            Id::Xread,
            D(stream_read::xread),
            "xread",
            -4,
            R.union(CommandFlags::BLOCKING),
            (0, 0, 0),
            "stream",
            "5.0.0",
            "For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.",
            "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.",
        )
    },
    CommandSpec {
        movable_keys: MovableKeys::Streams { from: 4 },
        ..keyed(
            Id::Xreadgroup,
            D(stream_read::xread),
            "xreadgroup",
            -7,
            W.union(CommandFlags::BLOCKING),
            (0, 0, 0),
            "stream",
            "5.0.0",
            "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.",
            "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.",
        )
    },
    keyed(
        Id::Xrevrange,
        D(streams::xrange),
        "xrevrange",
        -4,
        R,
        (1, 1, 1),
        "stream",
        "5.0.0",
        "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
        "Returns the messages from a stream within a range of IDs in reverse order.",
    ),
    keyed(
        Id::Xsetid,
        D(streams::xsetid),
        "xsetid",
        -3,
        W.union(M).union(F),
        (1, 1, 1),
        "stream",
        "5.0.0",
        "O(1)",
        "An internal command for replicating stream values.",
    ),
    keyed(
        Id::Xtrim,
        D(streams::xtrim),
        "xtrim",
        -4,
        W,
        (1, 1, 1),
        "stream",
        "5.0.0",
        "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.",
        "Deletes messages from the beginning of a stream.",
    ),
    keyed(
        Id::Geoadd,
        D(geo::geoadd),
        "geoadd",
        -5,
        W.union(M),
        (1, 1, 1),
        "geo",
        "3.2.0",
        "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        "Add one or more geospatial items in the geospatial index represented using a sorted set",
    ),
    keyed(
        Id::Geodist,
        D(geo::geodist),
        "geodist",
        -4,
        R,
        (1, 1, 1),
        "geo",
        "3.2.0",
        "O(log(N))",
        "Returns the distance between two members of a geospatial index",
    ),
    keyed(
        Id::Geohash,
        D(geo::geohash),
        "geohash",
        -2,
        R,
        (1, 1, 1),
        "geo",
        "3.2.0",
        "O(log(N)) for each member requested, where N is the number of elements in the sorted set.",
        "Returns members of a geospatial index as standard geohash strings",
    ),
    keyed(
        Id::Geopos,
        D(geo::geopos),
        "geopos",
        -2,
        R,
        (1, 1, 1),
        "geo",
        "3.2.0",
        "O(N) where N is the number of members requested.",
        "Returns longitude and latitude of members of a geospatial index",
    ),
    keyed(
        Id::Georadius,
        D(geo_search::geo_search),
        "georadius",
        -6,
        W.union(M),
        (1, 1, 1),
        "geo",
        "3.2.0",
        "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.",
        "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point",
    ),
    keyed(
        Id::GeoradiusRo,
        D(geo_search::geo_search),
        "georadius_ro",
        -6,
        R,
        (1, 1, 1),
        "geo",
        "3.2.10",
        "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.",
        "A read-only variant for GEORADIUS",
    ),
    keyed(
        Id::Georadiusbymember,
        D(geo_search::geo_search),
        "georadiusbymember",
        -5,
        W.union(M),
        (1, 1, 1),
        "geo",
        "3.2.0",
        "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.",
        "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member",
    ),
    keyed(
        Id::GeoradiusbymemberRo,
        D(geo_search::geo_search),
        "georadiusbymember_ro",
        -5,
        R,
        (1, 1, 1),
        "geo",
        "3.2.10",
        "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.",
        "A read-only variant for GEORADIUSBYMEMBER",
    ),
    keyed(
        Id::Geosearch,
        D(geo_search::geo_search),
        "geosearch",
        -7,
        R,
        (1, 1, 1),
        "geo",
        "6.2.0",
        "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape",
        "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.",
    ),
    keyed(
        Id::Geosearchstore,
        D(geo_search::geo_search),
        "geosearchstore",
        -8,
        W.union(M),
        (1, 2, 1),
        "geo",
        "6.2.0",
        "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape",
        "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.",
    ),
    keyed(
        Id::Pfadd,
        D(hll::pfadd),
        "pfadd",
        -2,
        W.union(M).union(F),
        (1, 1, 1),
        "hyperloglog",
        "2.8.9",
        "O(1) to add every element.",
        "Adds the specified elements to the specified HyperLogLog.",
    ),
    keyed(
        Id::Pfcount,
        D(hll::pfcount),
        "pfcount",
        -2,
        R.union(CommandFlags::MAY_REPLICATE),
        (1, -1, 1),
        "hyperloglog",
        "2.8.9",
        "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.",
        "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
    ),
    keyed(
        Id::Pfdebug,
        D(hll::pfdebug),
        "pfdebug",
        3,
        W.union(M).union(CommandFlags::ADMIN),
        (2, 2, 1),
        "hyperloglog",
        "2.8.9",
        "N/A",
        "Internal commands for debugging HyperLogLog values",
    ),
    keyed(
        Id::Pfmerge,
        D(hll::pfmerge),
        "pfmerge",
        -2,
        W.union(M),
        (1, -1, 1),
        "hyperloglog",
        "2.8.9",
        "O(N) to merge N HyperLogLogs, but with high constant times.",
        "Merge N different HyperLogLogs into a single one.",
    ),
    spec(
        Id::Pfselftest,
        C(hll::selftest::pfselftest),
        "pfselftest",
        1,
        CommandFlags::ADMIN,
        "hyperloglog",
        "2.8.9",
        "N/A",
        "An internal command for testing HyperLogLog values",
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

    /// The GEO commands.
    const GEO_COMMANDS: &[&str] = &[
        "geoadd",
        "geodist",
        "geohash",
        "geopos",
        "georadius",
        "georadius_ro",
        "georadiusbymember",
        "georadiusbymember_ro",
        "geosearch",
        "geosearchstore",
    ];

    /// Issue 22: the data types.
    const ISSUE_22_COMMANDS: &[&str] = &[
        "bgrewriteaof",
        "xack",
        "xadd",
        "xautoclaim",
        "xclaim",
        "xdel",
        "xgroup",
        "xinfo",
        "xlen",
        "xpending",
        "xrange",
        "xread",
        "xreadgroup",
        "xrevrange",
        "xsetid",
        "xtrim",
        "cluster",
        "sort",
        "sort_ro",
        // BITOP, BITPOS, BITFIELD and the small commands clients send.
        "bitop",
        "bitpos",
        "bitfield",
        "bitfield_ro",
        "readonly",
        "readwrite",
        "role",
        "lolwut",
        "dump",
        "restore",
        "migrate",
        "fcall",
        "fcall_ro",
        "eval",
        "eval_ro",
        "evalsha",
        "evalsha_ro",
        "script",
        "psubscribe",
        "publish",
        "pubsub",
        "punsubscribe",
        "spublish",
        "ssubscribe",
        "subscribe",
        "sunsubscribe",
        "unsubscribe",
        "hdel",
        "hexists",
        "hget",
        "hgetall",
        "hincrby",
        "hincrbyfloat",
        "hkeys",
        "hlen",
        "hmget",
        "hmset",
        "hrandfield",
        "hscan",
        "hset",
        "hsetnx",
        "hstrlen",
        "hvals",
        "sadd",
        "scard",
        "sdiff",
        "sdiffstore",
        "sinter",
        "sintercard",
        "sinterstore",
        "sismember",
        "smembers",
        "smismember",
        "smove",
        "spop",
        "srandmember",
        "srem",
        "sscan",
        "sunion",
        "sunionstore",
        "lindex",
        "linsert",
        "llen",
        "lmove",
        "lmpop",
        "lpop",
        "lpos",
        "lpush",
        "lpushx",
        "lrange",
        "lrem",
        "lset",
        "ltrim",
        "rpop",
        "rpoplpush",
        "rpush",
        "rpushx",
        "zadd",
        "zcard",
        "zcount",
        "zdiff",
        "zdiffstore",
        "zincrby",
        "zinter",
        "zintercard",
        "zinterstore",
        "zlexcount",
        "zmscore",
        "zpopmax",
        "zpopmin",
        "zrandmember",
        "zrange",
        "zrangebylex",
        "zrangebyscore",
        "zrangestore",
        "zrank",
        "zrem",
        "zremrangebylex",
        "zremrangebyrank",
        "zremrangebyscore",
        "zrevrange",
        "zrevrangebylex",
        "zrevrangebyscore",
        "zrevrank",
        "zscan",
        "zscore",
        "zunion",
        "zunionstore",
        "zmpop",
        "blpop",
        "brpop",
        "blmove",
        "brpoplpush",
        "blmpop",
        "bzpopmax",
        "bzpopmin",
        "bzmpop",
    ];

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
            "acl",
            // Issue 21: observability.
            "slowlog",
            "latency",
            "monitor",
            // HyperLogLog.
            "pfadd",
            "pfcount",
            "pfdebug",
            "pfmerge",
            "pfselftest",
        ];
        let expected: Vec<&str> = expected
            .into_iter()
            .chain(ISSUE_22_COMMANDS.iter().copied())
            .chain(GEO_COMMANDS.iter().copied())
            .collect();
        for &name in &expected {
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

    /// Redis puts FUNCTION's subcommands (and SCRIPT's) in the scripting
    /// group: a user granted `+@scripting` may load a library (Redis's
    /// suite, "Script ACL check" with functions).
    #[test]
    fn function_and_script_subcommands_are_in_the_scripting_category() {
        for id in [
            CommandId::FunctionLoad,
            CommandId::FunctionDelete,
            CommandId::FunctionFlush,
            CommandId::FunctionList,
            CommandId::FunctionKill,
            CommandId::ScriptLoad,
        ] {
            let spec = spec_of(id);
            assert!(
                spec.acl_categories().contains(&"@scripting"),
                "{}: {:?}",
                spec.full_name(),
                spec.acl_categories()
            );
            assert!(
                !spec.acl_categories().contains(&"@admin"),
                "{}",
                spec.full_name()
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
            lookup_full_name(b"CLIENT|list").map(CommandSpec::full_name),
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

    #[test]
    fn every_command_reaches_exactly_one_handler() {
        let mut rows = [0usize; CommandId::COUNT];
        for spec in commands() {
            assert!(
                std::ptr::eq(
                    lookup(spec.name.as_bytes().to_ascii_uppercase().as_slice()).unwrap(),
                    spec
                ),
                "{} is found by its name in any case",
                spec.name
            );
            for entry in std::iter::once(spec).chain(spec.subcommands) {
                rows[entry.id.index()] += 1;
                assert!(std::ptr::eq(spec_of(entry.id), entry));
                assert!(
                    std::ptr::eq(
                        lookup_full_name(entry.full_name().as_bytes()).unwrap(),
                        entry
                    ),
                    "{} is found by its full name",
                    entry.full_name()
                );
                let is_container = matches!(entry.handler, Handler::Container);
                assert_eq!(
                    is_container,
                    !entry.subcommands.is_empty() && entry.id != CommandId::Command,
                    "{}: a container has subcommands and no handler of its own",
                    entry.full_name()
                );
            }
        }
        for id in CommandId::ALL {
            assert_eq!(
                rows[id.index()],
                1,
                "{} has exactly one row",
                id.full_name()
            );
        }
    }

    #[test]
    fn the_last_resolved_command_answers_as_resolve_does() {
        let mut last = LastResolved::default();
        let command = |parts: &[&str]| Command::from_parts(parts);
        for parts in [
            &["GET", "k"][..],
            &["GET", "k"],
            &["GET"],
            &["get", "k"],
            &["CLIENT", "LIST"],
            &["CLIENT", "NOSUCH"],
            &["CLIENT"],
            &["NOSUCH"],
            &["SET", "k", "v"],
            &["SET", "k"],
            &["SET", "k", "v"],
        ] {
            let request = command(parts);
            let expected = resolve(&request).map(|spec| spec.id);
            assert_eq!(
                last.resolve(&request).map(|spec| spec.id),
                expected,
                "{parts:?}"
            );
        }
        assert_eq!(last.spec.map(|spec| spec.id), Some(CommandId::Set));
        last.resolve(&command(&["CLIENT", "LIST"]))
            .expect("a known subcommand");
        assert_eq!(
            last.spec.map(|spec| spec.id),
            Some(CommandId::Set),
            "a container is not kept"
        );
    }
}

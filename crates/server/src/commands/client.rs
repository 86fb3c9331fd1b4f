//! [`Client`]: one connection's state as the commands see it (protocol
//! version, authentication, selected database, name, MULTI queue, its
//! backend session), and the CLIENT subcommands.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::id::CommandId;
use super::table::CommandSpec;
use crate::backend::{DatabaseIndex, Session};
use crate::resp::{Command, ProtocolVersion, Reply, parse_integer};
use crate::state::{ClientEntry, Shared, lock};
use std::sync::atomic::Ordering;

/// A MULTI block being queued.
#[derive(Debug, Default)]
pub(crate) struct Queued {
    pub(crate) commands: Vec<(&'static CommandSpec, Command)>,
    /// A command was refused while queuing: EXEC must abort.
    pub(crate) dirty: bool,
    /// Argument bytes queued, bounded by the query buffer limit.
    pub(crate) queued_bytes: usize,
}

/// What the connection does after a batch of replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum After {
    Continue,
    /// Write what is buffered, then close (QUIT, a protocol error).
    Close,
    /// Close without another byte (SHUTDOWN).
    CloseSilently,
}

/// One connection's state, for the commands.
pub struct Client {
    pub(crate) shared: Arc<Shared>,
    pub(crate) entry: Arc<ClientEntry>,
    pub(crate) session: Box<dyn Session>,
    pub(crate) protocol: ProtocolVersion,
    pub(crate) authenticated: bool,
    /// Its ACL user (the `default` user until AUTH names another).
    pub(crate) user: Arc<super::acl_user::User>,
    /// The users' generation `user` was read at (`acl.rs`).
    pub(crate) user_generation: u64,
    pub(crate) database: DatabaseIndex,
    pub(crate) name: Option<Bytes>,
    pub(crate) transaction: Option<Queued>,
    pub(crate) after: After,
    /// MONITOR: the connection receives every command run.
    pub(crate) monitoring: bool,
    /// CLIENT REPLY OFF.
    pub(crate) replies_off: bool,
    /// CLIENT REPLY SKIP: the next command's reply is dropped.
    pub(crate) skip_next_reply: bool,
    /// The reply of the command running is dropped.
    pub(crate) skip_reply: bool,
    /// CLIENT TRACKING ON's mode.
    pub(crate) tracking: Option<super::tracking::Mode>,
    /// CLIENT CACHING for the next command, and for the running one.
    pub(crate) next_caching: Option<bool>,
    pub(crate) caching: Option<bool>,
    /// CLIENT NO-EVICT and NO-TOUCH (kept and shown; keel evicts and
    /// tracks access times of nothing).
    pub(crate) no_evict: bool,
    pub(crate) no_touch: bool,
    /// Bytes of the request running and of those after it not yet run
    /// (CLIENT LIST's `qbuf` for the connection itself).
    pub(crate) query_buffer_bytes: usize,
    /// The wait of a blocking command (BLPOP …) under way.
    pub(crate) block: Option<super::blocking::Block>,
    /// Set by a blocking command that is to wait: until when.
    pub(crate) waiting: Option<std::time::Instant>,
    /// When the connection's last bytes were read: a wait's place in the
    /// order of waits (`block_order.rs`), so that of two clients sending
    /// at once to two event loops, the first to send is served first.
    pub(crate) received: std::time::Instant,
    /// The request a waiting command runs again as, when not the one sent
    /// (XREAD with its `$` resolved).
    pub(crate) retry: Option<crate::resp::Command>,
    /// Its pub/sub subscriptions of every kind (the registry keeps which):
    /// more than 0 is pub/sub mode.
    pub(crate) subscriptions: usize,
    /// EXEC is running the client's queued commands (Redis's
    /// `CLIENT_DENY_BLOCKING` while in MULTI).
    pub(crate) in_exec: bool,
    /// The last command its pipelined requests named.
    pub(crate) last_resolved: super::table::LastResolved,
}

/// Whether a new connection starts authenticated: the `default` user
/// is on and takes any password.
pub(crate) fn default_needs_no_password(shared: &Shared) -> bool {
    let default = shared.users.default_user();
    default.enabled && default.nopass
}

impl Client {
    /// A new connection's state: RESP2, database 0, authenticated if no
    /// password is required.
    pub(crate) fn new(shared: &Arc<Shared>, entry: &Arc<ClientEntry>) -> Client {
        Client {
            shared: Arc::clone(shared),
            entry: Arc::clone(entry),
            session: shared.backend.open_session(entry.id),
            protocol: ProtocolVersion::Resp2,
            authenticated: default_needs_no_password(shared),
            user: shared.users.default_user(),
            user_generation: shared.users.generation(),
            database: 0,
            name: None,
            transaction: None,
            after: After::Continue,
            monitoring: false,
            replies_off: false,
            skip_next_reply: false,
            skip_reply: false,
            tracking: None,
            next_caching: None,
            caching: None,
            no_evict: false,
            no_touch: false,
            query_buffer_bytes: 0,
            block: None,
            waiting: None,
            received: std::time::Instant::now(),
            retry: None,
            subscriptions: 0,
            in_exec: false,
            last_resolved: super::table::LastResolved::default(),
        }
    }

    /// The connection's id.
    pub(crate) fn id(&self) -> u64 {
        self.entry.id
    }

    /// Switches the protocol (HELLO, RESET); what other connections push
    /// to this one follows.
    pub(crate) fn set_protocol(&mut self, protocol: ProtocolVersion) {
        self.protocol = protocol;
        self.entry
            .resp3
            .store(protocol == ProtocolVersion::Resp3, Ordering::Relaxed);
    }

    /// Copies what CLIENT LIST shows into the shared registry, once per
    /// batch of requests.
    pub(crate) fn publish_state(&self, query_buffer_bytes: usize) {
        let mut state = self.entry.state();
        state.name.clone_from(&self.name);
        state.database = self.database;
        state.protocol = self.protocol;
        state.queued_commands = self
            .transaction
            .as_ref()
            .map(|transaction| transaction.commands.len());
        state.query_buffer_bytes = query_buffer_bytes;
        if state.user != self.user.name {
            state.user.clone_from(&self.user.name);
        }
        // When its requests were read (Redis notes the time of the read
        // too): no clock read here, once per connection and turn.
        state.last_interaction = self.received;
    }

    /// Sets the connection's name (CLIENT SETNAME, HELLO SETNAME).
    pub(crate) fn set_name(&mut self, name: &Bytes) -> Reply {
        if name.iter().any(|&byte| !(b'!'..=b'~').contains(&byte)) {
            return Reply::error(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            );
        }
        // A copy: the argument shares the connection's read buffer.
        self.name = (!name.is_empty()).then(|| Bytes::copy_from_slice(name));
        Reply::ok()
    }

    /// One CLIENT LIST line, in Redis's field order (fields keel has no
    /// counterpart for are left out or zero).
    pub(crate) fn client_line(&self, entry: &ClientEntry) -> String {
        if std::ptr::eq(entry, &*self.entry) {
            // Our own line: make the registry current first (the query
            // buffer holds the request running, as Redis's does).
            self.publish_state(self.query_buffer_bytes);
        }
        entry.line()
    }
}

/// CLIENT ID.
pub(crate) fn id(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(Reply::Integer(
        i64::try_from(client.id()).unwrap_or(i64::MAX),
    ))
}

/// CLIENT GETNAME.
pub(crate) fn getname(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(client.name.clone().map_or(Reply::NullBulk, Reply::Bulk))
}

/// CLIENT SETNAME name.
pub(crate) fn setname(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(client.set_name(&arguments[2]))
}

/// CLIENT INFO.
pub(crate) fn info(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(Reply::verbatim_text(client.client_line(&client.entry)))
}

/// CLIENT SETINFO LIB-NAME|LIB-VER value (Redis 7.2).
pub(crate) fn setinfo(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let (attribute, value) = (&arguments[2], &arguments[3]);
    let attribute_text = String::from_utf8_lossy(attribute);
    let is_name = attribute.eq_ignore_ascii_case(b"LIB-NAME");
    if !is_name && !attribute.eq_ignore_ascii_case(b"LIB-VER") {
        return Some(Reply::error(format!(
            "ERR Unrecognized option '{attribute_text}'"
        )));
    }
    if value.iter().any(|&byte| !(b'!'..=b'~').contains(&byte)) {
        return Some(Reply::error(format!(
            "ERR {attribute_text} cannot contain spaces, newlines or special characters."
        )));
    }
    let value = (!value.is_empty()).then(|| Bytes::copy_from_slice(value));
    let mut state = client.entry.state();
    if is_name {
        state.library_name = value;
    } else {
        state.library_version = value;
    }
    Some(Reply::ok())
}

/// A client's type, as CLIENT LIST and CLIENT KILL's TYPE name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientType {
    Normal,
    Pubsub,
    /// Master or replica: no keel client is one.
    Replication,
}

impl ClientType {
    fn parse(kind: &[u8]) -> Result<ClientType, Reply> {
        if kind.eq_ignore_ascii_case(b"normal") {
            Ok(ClientType::Normal)
        } else if kind.eq_ignore_ascii_case(b"pubsub") {
            Ok(ClientType::Pubsub)
        } else if [&b"master"[..], b"replica", b"slave"]
            .iter()
            .any(|known| kind.eq_ignore_ascii_case(known))
        {
            Ok(ClientType::Replication)
        } else {
            Err(Reply::error(format!(
                "ERR Unknown client type '{}'",
                String::from_utf8_lossy(kind)
            )))
        }
    }

    /// Whether `entry` is of this type (a client subscribed to anything
    /// is pubsub, as Redis's `getClientType`).
    fn matches(self, entry: &ClientEntry) -> bool {
        match self {
            ClientType::Normal => !entry.subscriptions.any(),
            ClientType::Pubsub => entry.subscriptions.any(),
            ClientType::Replication => false,
        }
    }
}

/// CLIENT LIST's filters: the type, and the ids (`None`: every id).
fn parse_list_filters(filters: &[Bytes]) -> Result<(Option<ClientType>, Option<Vec<u64>>), Reply> {
    let mut ids: Option<Vec<u64>> = None;
    let mut kind = None;
    let mut index = 0;
    while index < filters.len() {
        let option = &filters[index];
        if option.eq_ignore_ascii_case(b"TYPE") && index + 1 < filters.len() {
            kind = Some(ClientType::parse(&filters[index + 1])?);
            index += 2;
        } else if option.eq_ignore_ascii_case(b"ID") && index + 1 < filters.len() {
            let mut wanted = Vec::new();
            for id in &filters[index + 1..] {
                match parse_integer(id)
                    .and_then(|id| u64::try_from(id).ok())
                    .filter(|&id| id > 0)
                {
                    Some(id) => wanted.push(id),
                    None => return Err(Reply::error("ERR Invalid client ID")),
                }
            }
            ids = Some(wanted);
            index = filters.len();
        } else {
            return Err(Reply::error("ERR syntax error"));
        }
    }
    Ok((kind, ids))
}

/// CLIENT LIST [TYPE type] [ID id …].
pub(crate) fn list(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let (kind, ids) = match parse_list_filters(&arguments[2..]) {
        Ok(filters) => filters,
        Err(reply) => return Some(reply),
    };
    let mut text = String::new();
    for entry in client.shared.clients() {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&entry.id))
            || kind.is_some_and(|kind| !kind.matches(&entry))
        {
            continue;
        }
        text.push_str(&client.client_line(&entry));
    }
    Some(Reply::verbatim_text(text))
}

/// The lines of CLIENT HELP.
pub(crate) const HELP_LINES: &[&str] = &[
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "    * MAXAGE <maxage>",
    "      Kill connections older than the specified age.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
];

/// The filters of CLIENT KILL's new form.
#[derive(Debug, Default)]
struct KillFilter {
    id: Option<u64>,
    address: Option<Bytes>,
    local_address: Option<Bytes>,
    kind: Option<ClientType>,
    skip_me: bool,
    max_age_s: Option<u64>,
    user: Option<Bytes>,
}

fn parse_kill_filter(options: &[Bytes], users: &super::acl::Users) -> Result<KillFilter, Reply> {
    let syntax = || Reply::error("ERR syntax error");
    if !options.len().is_multiple_of(2) {
        return Err(syntax());
    }
    let mut filter = KillFilter {
        skip_me: true,
        ..KillFilter::default()
    };
    for pair in options.chunks(2) {
        let (option, value) = (&pair[0], &pair[1]);
        if option.eq_ignore_ascii_case(b"ID") {
            let id = parse_integer(value)
                .and_then(|id| u64::try_from(id).ok())
                .filter(|&id| id > 0)
                .ok_or_else(|| Reply::error("ERR client-id should be greater than 0"))?;
            filter.id = Some(id);
        } else if option.eq_ignore_ascii_case(b"TYPE") {
            filter.kind = Some(ClientType::parse(value)?);
        } else if option.eq_ignore_ascii_case(b"ADDR") {
            filter.address = Some(value.clone());
        } else if option.eq_ignore_ascii_case(b"LADDR") {
            filter.local_address = Some(value.clone());
        } else if option.eq_ignore_ascii_case(b"USER") {
            if users.get(value).is_none() {
                return Err(Reply::error(format!(
                    "ERR No such user '{}'",
                    String::from_utf8_lossy(value)
                )));
            }
            filter.user = Some(value.clone());
        } else if option.eq_ignore_ascii_case(b"SKIPME") {
            filter.skip_me = if value.eq_ignore_ascii_case(b"yes") {
                true
            } else if value.eq_ignore_ascii_case(b"no") {
                false
            } else {
                return Err(syntax());
            };
        } else if option.eq_ignore_ascii_case(b"MAXAGE") {
            let age = parse_integer(value)
                .ok_or_else(|| Reply::error("ERR value is not an integer or out of range"))?;
            filter.max_age_s = Some(u64::try_from(age).unwrap_or(0));
        } else {
            return Err(syntax());
        }
    }
    Ok(filter)
}

impl KillFilter {
    fn matches(&self, entry: &ClientEntry, me: u64) -> bool {
        self.kind.is_none_or(|kind| kind.matches(entry))
            && self.id.is_none_or(|id| id == entry.id)
            && self
                .address
                .as_ref()
                .is_none_or(|address| &address[..] == entry.peer.to_string().as_bytes())
            && self
                .local_address
                .as_ref()
                .is_none_or(|address| &address[..] == entry.local.to_string().as_bytes())
            && self
                .max_age_s
                .is_none_or(|age| entry.created.elapsed().as_secs() >= age)
            && self
                .user
                .as_ref()
                .is_none_or(|user| *user == entry.state().user)
            && !(self.skip_me && entry.id == me)
    }
}

/// CLIENT KILL ip:port, or CLIENT KILL with filters (the number
/// killed). A killed connection is closed by its event loop; the caller,
/// if it killed itself, after this reply.
pub(crate) fn kill(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let me = client.id();
    if arguments.len() == 3 {
        let address = &arguments[2];
        let Some(entry) = client
            .shared
            .clients()
            .into_iter()
            .find(|entry| entry.peer.to_string().as_bytes() == &address[..])
        else {
            return Some(Reply::error("ERR No such client"));
        };
        close_killed(client, &entry, me);
        return Some(Reply::ok());
    }
    let filter = match parse_kill_filter(&arguments[2..], &client.shared.users) {
        Ok(filter) => filter,
        Err(reply) => return Some(reply),
    };
    let mut killed = 0;
    for entry in client.shared.clients() {
        // One killed already is on its way out (its loop has yet to drop
        // it): as in Redis, it is neither killed nor counted again.
        if entry.killed.load(std::sync::atomic::Ordering::Relaxed) {
            continue;
        }
        if filter.matches(&entry, me) {
            close_killed(client, &entry, me);
            killed += 1;
        }
    }
    Some(super::count_reply(killed))
}

fn close_killed(client: &mut Client, entry: &ClientEntry, me: u64) {
    if entry.id == me {
        client.after = After::Close;
    } else {
        entry.kill();
    }
}

/// CLIENT PAUSE timeout [WRITE | ALL].
pub(crate) fn pause(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let Some(timeout_ms) = parse_integer(&arguments[2]) else {
        return Some(Reply::error(
            "ERR timeout is not an integer or out of range",
        ));
    };
    if timeout_ms < 0 {
        return Some(Reply::error("ERR timeout is negative"));
    }
    let all = match arguments.get(3) {
        None => true,
        Some(mode) if mode.eq_ignore_ascii_case(b"ALL") => true,
        Some(mode) if mode.eq_ignore_ascii_case(b"WRITE") => false,
        Some(_) => return Some(Reply::error("ERR syntax error")),
    };
    if arguments.len() > 4 {
        return Some(Reply::error("ERR syntax error"));
    }
    let duration = std::time::Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
    client.shared.pause.start(Instant::now() + duration, all);
    Some(Reply::ok())
}

/// CLIENT UNPAUSE: ends a pause, and every event loop runs what waited.
pub(crate) fn unpause(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    client.shared.pause.stop();
    for waker in crate::state::lock(&client.shared.wakers).iter() {
        waker.wake();
    }
    Some(Reply::ok())
}

/// CLIENT REPLY ON | OFF | SKIP: only ON replies.
pub(crate) fn reply(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let mode = &arguments[2];
    if mode.eq_ignore_ascii_case(b"ON") {
        // ON's own reply is sent even right after SKIP.
        client.replies_off = false;
        client.skip_next_reply = false;
        client.skip_reply = false;
        Some(Reply::ok())
    } else if mode.eq_ignore_ascii_case(b"OFF") {
        client.replies_off = true;
        None
    } else if mode.eq_ignore_ascii_case(b"SKIP") {
        client.skip_next_reply = true;
        None
    } else {
        Some(Reply::error("ERR syntax error"))
    }
}

/// ON or OFF, Redis's way.
fn on_off(argument: &[u8]) -> Result<bool, Reply> {
    if argument.eq_ignore_ascii_case(b"ON") {
        Ok(true)
    } else if argument.eq_ignore_ascii_case(b"OFF") {
        Ok(false)
    } else {
        Err(Reply::error("ERR syntax error"))
    }
}

/// CLIENT NO-EVICT ON | OFF (keel evicts no client: kept and shown).
pub(crate) fn no_evict(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(match on_off(&arguments[2]) {
        Ok(on) => {
            client.no_evict = on;
            Reply::ok()
        }
        Err(reply) => reply,
    })
}

/// CLIENT NO-TOUCH ON | OFF (keel keeps no access times: kept and shown).
pub(crate) fn no_touch(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    Some(match on_off(&arguments[2]) {
        Ok(on) => {
            client.no_touch = on;
            Reply::ok()
        }
        Err(reply) => reply,
    })
}

/// CLIENT UNBLOCK id [TIMEOUT | ERROR]: 1 when that client was blocked
/// (its event loop is woken to answer it), else 0.
pub(crate) fn unblock(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    use super::blocking::{UNBLOCK_ERROR, UNBLOCK_TIMEOUT};
    let Some(id) = parse_integer(&arguments[2]) else {
        return Some(Reply::error("ERR value is not an integer or out of range"));
    };
    let reason = match arguments.get(3) {
        None => UNBLOCK_TIMEOUT,
        Some(reason) if reason.eq_ignore_ascii_case(b"TIMEOUT") => UNBLOCK_TIMEOUT,
        Some(reason) if reason.eq_ignore_ascii_case(b"ERROR") => UNBLOCK_ERROR,
        Some(_) => {
            return Some(Reply::error(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    };
    let entry = u64::try_from(id)
        .ok()
        .and_then(|id| lock(&client.shared.clients).get(&id).cloned());
    let Some(entry) = entry.filter(|entry| entry.blocked.load(Ordering::Acquire)) else {
        return Some(Reply::Integer(0));
    };
    entry.unblock.store(reason, Ordering::Release);
    if let Some(waker) = entry.waker.get() {
        waker.wake();
    }
    Some(Reply::Integer(1))
}

/// Whether a command runs at once inside MULTI instead of being queued.
pub(crate) fn runs_inside_multi(id: CommandId) -> bool {
    matches!(
        id,
        CommandId::Exec
            | CommandId::Discard
            | CommandId::Multi
            | CommandId::Watch
            | CommandId::Quit
            | CommandId::Reset
    )
}

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
use crate::state::{ClientEntry, Shared};

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
    pub(crate) database: DatabaseIndex,
    pub(crate) name: Option<Bytes>,
    pub(crate) transaction: Option<Queued>,
    pub(crate) after: After,
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
            authenticated: shared.options.require_password.is_none(),
            database: 0,
            name: None,
            transaction: None,
            after: After::Continue,
        }
    }

    /// The connection's id.
    pub(crate) fn id(&self) -> u64 {
        self.entry.id
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
        state.last_interaction = Instant::now();
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
            // Our own line: make the registry current first.
            self.publish_state(0);
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

/// CLIENT LIST's filters: `None` lists everyone.
fn parse_list_filters(filters: &[Bytes]) -> Result<Option<Vec<u64>>, Reply> {
    let mut ids: Option<Vec<u64>> = None;
    let mut index = 0;
    while index < filters.len() {
        let option = &filters[index];
        if option.eq_ignore_ascii_case(b"TYPE") && index + 1 < filters.len() {
            let kind = &filters[index + 1];
            if [&b"master"[..], b"replica", b"slave", b"pubsub"]
                .iter()
                .any(|known| kind.eq_ignore_ascii_case(known))
            {
                return Ok(Some(Vec::new()));
            } else if !kind.eq_ignore_ascii_case(b"normal") {
                return Err(Reply::error(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(kind)
                )));
            }
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
    Ok(ids)
}

/// CLIENT LIST [TYPE type] [ID id …].
pub(crate) fn list(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let ids = match parse_list_filters(&arguments[2..]) {
        Ok(ids) => ids,
        Err(reply) => return Some(reply),
    };
    let mut text = String::new();
    for entry in client.shared.clients() {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&entry.id)) {
            continue;
        }
        text.push_str(&client.client_line(&entry));
    }
    Some(Reply::verbatim_text(text))
}

/// The lines of CLIENT HELP.
pub(crate) const HELP_LINES: &[&str] = &[
    "GETNAME",
    "ID",
    "INFO",
    "LIST [TYPE NORMAL] [ID <id> ...]",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "SETNAME <name>",
];

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

//! CLIENT TRACKING: server-assisted client-side caching. A tracking
//! client in the default mode is told when a key it read changes; in
//! BCAST mode, when any key with one of its prefixes (every key without
//! one) changes. The message is a RESP3 push
//! (`>2 invalidate [key …]`) to the client itself, or, with REDIRECT, to
//! another client, as a `__redis__:invalidate` pub/sub message for a
//! RESP2 one. A flush invalidates everything (a null key list).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use super::client::Client;
use super::id::CommandId;
use super::table::{CommandFlags, CommandSpec};
use crate::backend::ClientId;
use crate::resp::{ProtocolVersion, Reply, parse_integer};
use crate::state::{ClientEntry, Shared, lock};

/// The pub/sub channel of invalidations for a redirect in RESP2.
pub const INVALIDATE_CHANNEL: &str = "__redis__:invalidate";

/// A tracking client's mode, as CLIENT TRACKING ON set it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mode {
    pub(crate) redirect: Option<ClientId>,
    pub(crate) broadcast: bool,
    pub(crate) prefixes: Vec<Bytes>,
    pub(crate) opt_in: bool,
    pub(crate) opt_out: bool,
    pub(crate) no_loop: bool,
}

/// One tracking client, as the table keeps it.
#[derive(Debug)]
struct Tracker {
    entry: Arc<ClientEntry>,
    mode: Mode,
    protocol: ProtocolVersion,
}

/// Who tracks what.
#[derive(Debug, Default)]
pub(crate) struct TrackingTable {
    /// Tracking clients: checked per command without the lock.
    count: AtomicUsize,
    inner: Mutex<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    trackers: BTreeMap<ClientId, Tracker>,
    /// Default mode: the clients that read each key.
    readers: HashMap<Bytes, BTreeSet<ClientId>>,
}

impl TrackingTable {
    /// Whether anyone tracks (no lock).
    pub(crate) fn is_active(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    fn enable(&self, entry: &Arc<ClientEntry>, mode: Mode, protocol: ProtocolVersion) {
        let mut tables = lock(&self.inner);
        tables.trackers.insert(
            entry.id,
            Tracker {
                entry: Arc::clone(entry),
                mode,
                protocol,
            },
        );
        self.count.store(tables.trackers.len(), Ordering::Release);
    }

    /// Stops tracking for `id` (CLIENT TRACKING OFF, or the connection
    /// closed).
    pub(crate) fn disable(&self, id: ClientId) {
        if !self.is_active() {
            return;
        }
        let mut tables = lock(&self.inner);
        if tables.trackers.remove(&id).is_some() {
            for readers in tables.readers.values_mut() {
                readers.remove(&id);
            }
            tables.readers.retain(|_, readers| !readers.is_empty());
        }
        self.count.store(tables.trackers.len(), Ordering::Release);
    }

    /// `id` read `keys` (default mode).
    fn remember(&self, id: ClientId, keys: impl Iterator<Item = Bytes>) {
        let mut tables = lock(&self.inner);
        for key in keys {
            tables
                .readers
                .entry(Bytes::copy_from_slice(&key))
                .or_default()
                .insert(id);
        }
    }

    /// `writer` changed `keys`: tell whoever tracks them.
    fn invalidate(&self, shared: &Shared, writer: ClientId, keys: &[Bytes]) {
        let mut messages: BTreeMap<ClientId, Vec<Bytes>> = BTreeMap::new();
        let mut tables = lock(&self.inner);
        for key in keys {
            if let Some(readers) = tables.readers.remove(key) {
                for reader in readers {
                    messages.entry(reader).or_default().push(key.clone());
                }
            }
            for (id, tracker) in &tables.trackers {
                let mode = &tracker.mode;
                if mode.broadcast
                    && (mode.prefixes.is_empty()
                        || mode.prefixes.iter().any(|prefix| key.starts_with(prefix)))
                {
                    messages.entry(*id).or_default().push(key.clone());
                }
            }
        }
        for (id, keys) in messages {
            if let Some(tracker) = tables.trackers.get(&id)
                && !(tracker.mode.no_loop && id == writer)
            {
                send(shared, tracker, Some(&keys));
            }
        }
    }

    /// A flush: everything every tracker cached is gone.
    fn invalidate_all(&self, shared: &Shared) {
        let mut tables = lock(&self.inner);
        tables.readers.clear();
        for tracker in tables.trackers.values() {
            send(shared, tracker, None);
        }
    }
}

/// Sends an invalidation of `keys` (`None`: of everything) to a tracker
/// or its redirect.
fn send(shared: &Shared, tracker: &Tracker, keys: Option<&[Bytes]>) {
    let keys_reply = keys.map_or(Reply::NullArray, |keys| {
        Reply::Array(keys.iter().cloned().map(Reply::Bulk).collect())
    });
    let (target, protocol) = match tracker.mode.redirect {
        None => (Arc::clone(&tracker.entry), tracker.protocol),
        Some(redirect) => {
            let Some(target) = lock(&shared.clients).get(&redirect).cloned() else {
                return;
            };
            let protocol = target.state().protocol;
            (target, protocol)
        }
    };
    let message = if tracker.mode.redirect.is_some() && protocol == ProtocolVersion::Resp2 {
        Reply::Array(vec![
            Reply::bulk("message"),
            Reply::bulk(INVALIDATE_CHANNEL),
            keys_reply,
        ])
    } else if tracker.mode.redirect.is_some() {
        Reply::Push(vec![
            Reply::bulk("message"),
            Reply::bulk(INVALIDATE_CHANNEL),
            keys_reply,
        ])
    } else if protocol == ProtocolVersion::Resp3 {
        Reply::Push(vec![Reply::bulk("invalidate"), keys_reply])
    } else {
        // RESP2 without a redirect: nowhere to send it, as in Redis.
        return;
    };
    target.push(&message.to_bytes(protocol));
}

/// The keys a command names, by its key positions.
pub(crate) fn command_keys<'a>(
    spec: &CommandSpec,
    arguments: &'a [Bytes],
) -> impl Iterator<Item = &'a Bytes> {
    let count = i32::try_from(arguments.len()).unwrap_or(i32::MAX);
    let first = spec.first_key;
    let last = if spec.last_key < 0 {
        count + spec.last_key
    } else {
        spec.last_key.min(count - 1)
    };
    let step = usize::try_from(spec.key_step.max(1)).unwrap_or(1);
    let range = if first <= 0 || last < first {
        0..0
    } else {
        usize::try_from(first).unwrap_or(0)..usize::try_from(last + 1).unwrap_or(0)
    };
    arguments[range].iter().step_by(step)
}

/// After a command ran for `client`: a read by a tracking client is
/// remembered, a write tells the trackers of its keys, a flush tells
/// every tracker.
pub(crate) fn after_call(
    client: &mut Client,
    spec: &CommandSpec,
    arguments: &[Bytes],
    failed: bool,
) {
    let caching = client.caching.take();
    let table = &client.shared.tracking;
    if !table.is_active() || failed {
        return;
    }
    if matches!(
        spec.id,
        CommandId::Flushdb | CommandId::Flushall | CommandId::Swapdb
    ) {
        table.invalidate_all(&client.shared);
        return;
    }
    if spec.has(CommandFlags::WRITE) {
        let keys: Vec<Bytes> = command_keys(spec, arguments).cloned().collect();
        if !keys.is_empty() {
            table.invalidate(&client.shared, client.id(), &keys);
        }
        return;
    }
    let Some(mode) = &client.tracking else {
        return;
    };
    let wanted = if mode.opt_in {
        caching == Some(true)
    } else if mode.opt_out {
        caching != Some(false)
    } else {
        true
    };
    if spec.has(CommandFlags::READONLY) && !mode.broadcast && wanted {
        table.remember(client.id(), command_keys(spec, arguments).cloned());
    }
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX prefix …] [BCAST]
/// [OPTIN] [OPTOUT] [NOLOOP].
pub(crate) fn tracking(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let switch = &arguments[2];
    let on = if switch.eq_ignore_ascii_case(b"ON") {
        true
    } else if switch.eq_ignore_ascii_case(b"OFF") {
        false
    } else {
        return Some(Reply::error("ERR syntax error"));
    };
    let mode = match parse_mode(client, &arguments[3..]) {
        Ok(mode) => mode,
        Err(reply) => return Some(reply),
    };
    if !on {
        client.tracking = None;
        client.caching = None;
        client.shared.tracking.disable(client.id());
        return Some(Reply::ok());
    }
    if let Some(reply) = check_mode(client.tracking.as_ref(), &mode) {
        return Some(reply);
    }
    client
        .shared
        .tracking
        .enable(&client.entry, mode.clone(), client.protocol);
    client.tracking = Some(mode);
    Some(Reply::ok())
}

fn parse_mode(client: &Client, options: &[Bytes]) -> Result<Mode, Reply> {
    let mut mode = Mode::default();
    let mut index = 0;
    while index < options.len() {
        let option = &options[index];
        let value = options.get(index + 1);
        if option.eq_ignore_ascii_case(b"REDIRECT")
            && let Some(value) = value
        {
            if mode.redirect.is_some() {
                return Err(Reply::error(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = parse_integer(value)
                .and_then(|id| u64::try_from(id).ok())
                .ok_or_else(|| Reply::error("ERR value is not an integer or out of range"))?;
            if id != client.id() && !lock(&client.shared.clients).contains_key(&id) {
                return Err(Reply::error(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
            mode.redirect = Some(id);
            index += 2;
        } else if option.eq_ignore_ascii_case(b"PREFIX")
            && let Some(value) = value
        {
            mode.prefixes.push(Bytes::copy_from_slice(value));
            index += 2;
        } else if option.eq_ignore_ascii_case(b"BCAST") {
            mode.broadcast = true;
            index += 1;
        } else if option.eq_ignore_ascii_case(b"OPTIN") {
            mode.opt_in = true;
            index += 1;
        } else if option.eq_ignore_ascii_case(b"OPTOUT") {
            mode.opt_out = true;
            index += 1;
        } else if option.eq_ignore_ascii_case(b"NOLOOP") {
            mode.no_loop = true;
            index += 1;
        } else {
            return Err(Reply::error("ERR syntax error"));
        }
    }
    Ok(mode)
}

/// Redis's refusals of a mode (and of a change of mode while on).
fn check_mode(current: Option<&Mode>, mode: &Mode) -> Option<Reply> {
    if !mode.broadcast && !mode.prefixes.is_empty() {
        return Some(Reply::error(
            "ERR PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if let Some(current) = current {
        if current.broadcast != mode.broadcast {
            return Some(Reply::error(
                "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
            ));
        }
        if (current.opt_in != mode.opt_in) || (current.opt_out != mode.opt_out) {
            return Some(Reply::error(
                "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
            ));
        }
    }
    if mode.opt_in && mode.opt_out {
        return Some(Reply::error("ERR You can't use both OPTIN and OPTOUT"));
    }
    if mode.broadcast && (mode.opt_in || mode.opt_out) {
        return Some(Reply::error(
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    for (index, prefix) in mode.prefixes.iter().enumerate() {
        for other in &mode.prefixes[index + 1..] {
            if prefix.starts_with(other) || other.starts_with(prefix) {
                return Some(Reply::error(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(other),
                    String::from_utf8_lossy(prefix)
                )));
            }
        }
    }
    None
}

/// CLIENT CACHING YES|NO: whether the next command's reads are tracked
/// (OPTIN and OPTOUT modes).
pub(crate) fn caching(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let Some(mode) = client
        .tracking
        .as_ref()
        .filter(|mode| mode.opt_in || mode.opt_out)
    else {
        return Some(Reply::error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    let choice = &arguments[2];
    let yes = if choice.eq_ignore_ascii_case(b"YES") {
        if !mode.opt_in {
            return Some(Reply::error(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
        true
    } else if choice.eq_ignore_ascii_case(b"NO") {
        if !mode.opt_out {
            return Some(Reply::error(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
        false
    } else {
        return Some(Reply::error("ERR syntax error"));
    };
    client.next_caching = Some(yes);
    Some(Reply::ok())
}

/// CLIENT GETREDIR: -1 when not tracking, 0 without a redirect.
pub(crate) fn getredir(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    Some(Reply::Integer(match &client.tracking {
        None => -1,
        Some(mode) => mode
            .redirect
            .map_or(0, |id| i64::try_from(id).unwrap_or(i64::MAX)),
    }))
}

/// CLIENT TRACKINGINFO.
pub(crate) fn trackinginfo(client: &mut Client, _: &[Bytes]) -> Option<Reply> {
    let status = |text: &str| Reply::bulk(text);
    let (flags, redirect, prefixes) = match &client.tracking {
        None => (vec![status("off")], -1, Vec::new()),
        Some(mode) => {
            let mut flags = vec![status("on")];
            for (set, name) in [
                (mode.broadcast, "bcast"),
                (mode.opt_in, "optin"),
                (mode.opt_out, "optout"),
            ] {
                if set {
                    flags.push(status(name));
                }
            }
            match client.next_caching {
                Some(true) => flags.push(status("caching-yes")),
                Some(false) => flags.push(status("caching-no")),
                None => {}
            }
            if mode.no_loop {
                flags.push(status("noloop"));
            }
            let redirect = mode
                .redirect
                .map_or(0, |id| i64::try_from(id).unwrap_or(i64::MAX));
            if mode
                .redirect
                .is_some_and(|id| !lock(&client.shared.clients).contains_key(&id))
            {
                flags.push(status("broken_redirect"));
            }
            let prefixes = mode.prefixes.iter().cloned().map(Reply::Bulk).collect();
            (flags, redirect, prefixes)
        }
    };
    Some(Reply::Map(vec![
        (Reply::bulk("flags"), Reply::Set(flags)),
        (Reply::bulk("redirect"), Reply::Integer(redirect)),
        (Reply::bulk("prefixes"), Reply::Array(prefixes)),
    ]))
}

//! ACL: the server's users (`Users`, in the shared state) and the ACL
//! command — SETUSER, GETUSER, DELUSER, USERS, WHOAMI, LIST, CAT, LOG,
//! GENPASS, DRYRUN, HELP — with Redis 7.0's replies and errors. The user
//! model and the permission check are `acl_user.rs`.
//!
//! A connection holds its user (an `Arc`) and the registry's generation
//! it was read at; any change to the registry bumps the generation, and a
//! connection reads its user again before its next command (one atomic
//! load per command when nothing changed). A connection whose user was
//! deleted is closed, as Redis closes it. What keel leaves out: selectors,
//! read/write key permissions (`%R~`, `%W~` are taken as `~`), checks of
//! commands with movable keys (EVAL, SINTERCARD … — only key positions are
//! checked; a script's `redis.call`s are checked one by one), a second
//! check at EXEC of what was checked when queued, the ACL log, and ACL
//! files.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;

use super::acl_user::{CATEGORIES, User};
use super::client::{After, Client};
use super::table;
use crate::resp::{Command, Reply};

/// The server's users, by name.
#[derive(Debug)]
pub(crate) struct Users {
    users: RwLock<BTreeMap<Bytes, Arc<User>>>,
    generation: AtomicU64,
}

impl Users {
    /// Only the `default` user, with `requirepass`'s password or none.
    pub(crate) fn new(password: Option<&str>) -> Users {
        let default = User::default_user(password);
        let users = BTreeMap::from([(default.name.clone(), Arc::new(default))]);
        Users {
            users: RwLock::new(users),
            generation: AtomicU64::new(0),
        }
    }

    /// Bumped by every change.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The user named `name`.
    pub(crate) fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        users.get(name).cloned()
    }

    /// The `default` user (it cannot be deleted).
    pub(crate) fn default_user(&self) -> Arc<User> {
        self.get(b"default")
            .unwrap_or_else(|| Arc::new(User::default_user(None)))
    }

    fn update<T>(&self, change: impl FnOnce(&mut BTreeMap<Bytes, Arc<User>>) -> T) -> T {
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        let result = change(&mut users);
        self.generation.fetch_add(1, Ordering::AcqRel);
        result
    }
}

impl Client {
    /// Reads the connection's user again if the registry changed since;
    /// `false` (and the connection closing) if it was deleted.
    pub(crate) fn refresh_user(&mut self) -> bool {
        let generation = self.shared.users.generation();
        if generation == self.user_generation {
            return true;
        }
        self.user_generation = generation;
        match self.shared.users.get(&self.user.name) {
            Some(user) => {
                self.user = user;
                true
            }
            None => {
                self.authenticated = false;
                self.after = After::Close;
                false
            }
        }
    }

    /// Authenticates as `name` with `password`: `+OK` or WRONGPASS.
    pub(crate) fn log_in(&mut self, name: &[u8], password: &[u8]) -> Reply {
        match self.shared.users.get(name) {
            Some(user) if user.accepts(password) => {
                self.user = user;
                self.user_generation = self.shared.users.generation();
                self.authenticated = true;
                Reply::ok()
            }
            _ => Reply::error(super::connection::WRONGPASS_TEXT),
        }
    }
}

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Print this help.",
];

fn wrong_arity(subcommand: &str) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{subcommand}'. Try ACL HELP."
    ))
}

/// ACL <subcommand> ….
pub(crate) fn acl(client: &mut Client, arguments: &[Bytes]) -> Option<Reply> {
    let subcommand = String::from_utf8_lossy(&arguments[1]).to_ascii_lowercase();
    let rest = &arguments[2..];
    let users = &client.shared.users;
    let reply = match (subcommand.as_str(), rest.len()) {
        ("whoami", 0) => Reply::Bulk(client.user.name.clone()),
        ("users", 0) => {
            let all = users.users.read().unwrap_or_else(PoisonError::into_inner);
            Reply::Array(all.keys().cloned().map(Reply::Bulk).collect())
        }
        ("list", 0) => {
            let all = users.users.read().unwrap_or_else(PoisonError::into_inner);
            Reply::Array(
                all.values()
                    .map(|user| Reply::bulk(user.describe()))
                    .collect(),
            )
        }
        ("setuser", 1..) => set_user(users, &rest[0], &rest[1..]),
        ("getuser", 1) => users
            .get(&rest[0])
            .map_or(Reply::NullBulk, |user| user.getuser_reply()),
        ("deluser", 1..) => delete_users(users, rest),
        ("cat", 0) => Reply::Array(CATEGORIES.iter().map(Reply::bulk).collect()),
        ("cat", 1) => category(&rest[0]),
        ("log", 0 | 1) => match rest.first() {
            Some(option) if option.eq_ignore_ascii_case(b"RESET") => Reply::ok(),
            _ => Reply::Array(Vec::new()),
        },
        ("genpass", 0 | 1) => generate_password(rest.first()),
        ("dryrun", 2..) => dry_run(users, &rest[0], &rest[1..]),
        ("save" | "load", 0) => Reply::error(
            "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.",
        ),
        ("help", 0) => Reply::Array(
            HELP.iter()
                .map(|line| Reply::Simple((*line).to_owned()))
                .collect(),
        ),
        _ => wrong_arity(&String::from_utf8_lossy(&arguments[1])),
    };
    Some(reply)
}

fn set_user(users: &Users, name: &Bytes, rules: &[Bytes]) -> Reply {
    let mut user = users
        .get(name)
        .map_or_else(|| User::new(name.clone()), |user| (*user).clone());
    for rule in rules {
        if let Err(reason) = user.apply(rule) {
            return Reply::error(format!(
                "ERR Error in ACL SETUSER modifier '{}': {reason}",
                String::from_utf8_lossy(rule)
            ));
        }
    }
    users.update(|all| all.insert(name.clone(), Arc::new(user)));
    Reply::ok()
}

fn delete_users(users: &Users, names: &[Bytes]) -> Reply {
    if names.iter().any(|name| name.as_ref() == b"default") {
        return Reply::error("ERR The 'default' user cannot be removed");
    }
    let removed = users.update(|all| {
        names
            .iter()
            .filter(|name| all.remove(*name).is_some())
            .count()
    });
    Reply::Integer(removed as i64)
}

fn category(name: &[u8]) -> Reply {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    if !CATEGORIES.contains(&name.as_str()) {
        return Reply::error(format!("ERR Unknown category '{name}'"));
    }
    let tag = format!("@{name}");
    let names = table::commands()
        .iter()
        .flat_map(|spec| std::iter::once(spec).chain(spec.subcommands))
        .filter(|spec| spec.acl_categories().contains(&tag.as_str()))
        .map(|spec| Reply::bulk(spec.full_name()));
    Reply::Array(names.collect())
}

fn generate_password(bits: Option<&Bytes>) -> Reply {
    /// Redis's bound on GENPASS's bits.
    const BITS_MAX: i64 = 4096;
    let bits = match bits.map(|bits| super::arguments::integer_argument(bits)) {
        None => 256,
        Some(Ok(bits)) if (1..=BITS_MAX).contains(&bits) => bits,
        Some(Ok(_)) => {
            return Reply::error(
                "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096",
            );
        }
        Some(Err(reply)) => return reply,
    };
    let digits = (bits as usize).div_ceil(4);
    let text: String = (0..digits)
        .map(|_| char::from(b"0123456789abcdef"[rand::random_range(0..16)]))
        .collect();
    Reply::bulk(&text)
}

fn dry_run(users: &Users, name: &[u8], command: &[Bytes]) -> Reply {
    let Some(user) = users.get(name) else {
        return Reply::error(format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(name)
        ));
    };
    let spec = match table::resolve(&Command::new(command.to_vec())) {
        Ok(spec) => spec,
        Err(reply) => return reply,
    };
    match user.check(spec, command) {
        Ok(()) => Reply::ok(),
        Err(Reply::Error(text)) => {
            let reason = text
                .strip_prefix("NOPERM t")
                .map_or(text.clone(), |rest| format!("T{rest}"));
            Reply::Bulk(Bytes::from(reason))
        }
        Err(other) => other,
    }
}

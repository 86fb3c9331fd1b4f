//! An ACL user (Redis's `ACL SETUSER` model without selectors): on or
//! off, passwords as SHA-256, the commands it may run (by command id,
//! set by `+cmd`, `-cmd`, `+@category`, `+cmd|sub` …), the key patterns
//! (`~pattern`, `%R~`/`%W~` taken as `~`) and channel patterns
//! (`&pattern`) it may touch; its rules applied one by one, its
//! description as `ACL LIST` shows it, and the check a command passes
//! before it runs (NOPERM otherwise).

use bytes::Bytes;

use super::glob::glob_matches;
use super::id::CommandId;
use super::sha256::{self, DIGEST_BYTES};
use super::table::{self, CommandFlags, CommandSpec};
use crate::resp::Reply;

/// The categories `ACL CAT` lists (Redis 7.0's, in its order).
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

const NO_COMMAND_TEXT: &str = "NOPERM this user has no permissions to run the";
const NO_KEY_TEXT: &str =
    "NOPERM this user has no permissions to access one of the keys used as arguments";
const NO_CHANNEL_TEXT: &str =
    "NOPERM this user has no permissions to access one of the channels used as arguments";

/// One ACL user.
#[derive(Clone, Debug)]
pub struct User {
    /// Its name.
    pub name: Bytes,
    /// `on`: it may authenticate.
    pub enabled: bool,
    /// `nopass`: any password is accepted.
    pub nopass: bool,
    /// `skip-sanitize-payload` (kept and shown; keel always checks).
    pub skip_sanitize: bool,
    passwords: Vec<[u8; DIGEST_BYTES]>,
    /// By command id: may it run.
    commands: Vec<bool>,
    /// The command rules as given, from the last `+@all`/`-@all`.
    command_rules: Vec<String>,
    all_keys: bool,
    key_patterns: Vec<Bytes>,
    all_channels: bool,
    channel_patterns: Vec<Bytes>,
    /// Every command, key and channel: kept up to date by `apply`, so
    /// that dispatch's test is one load.
    unrestricted: bool,
}

/// Why a user may not run a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The command (or subcommand) is not among its commands.
    Command,
    /// A key is outside its key patterns.
    Key,
    /// A channel is outside its channel patterns.
    Channel,
}

impl Denial {
    /// The NOPERM reply to a client's command `spec`.
    pub fn reply(self, spec: &CommandSpec) -> Reply {
        match self {
            Denial::Command => {
                Reply::error(format!("{NO_COMMAND_TEXT} '{}' command", spec.full_name()))
            }
            Denial::Key => Reply::error(NO_KEY_TEXT),
            Denial::Channel => Reply::error(NO_CHANNEL_TEXT),
        }
    }

    /// The error a script's `redis.call` raises (Redis's
    /// `getAclErrorMessage`).
    pub fn script_text(self) -> &'static str {
        match self {
            Denial::Command => "The user executing the script can't run this command or subcommand",
            Denial::Key => {
                "The user executing the script can't access at least one of the keys mentioned in the command arguments"
            }
            Denial::Channel => {
                "The user executing the script can't publish to the channel mentioned in the command"
            }
        }
    }
}

/// Every command and subcommand row.
fn every_spec() -> impl Iterator<Item = &'static CommandSpec> {
    table::commands()
        .iter()
        .flat_map(|spec| std::iter::once(spec).chain(spec.subcommands))
}

impl User {
    /// A user as `ACL SETUSER` creates it: off, no password, no command,
    /// no key, no channel.
    pub fn new(name: Bytes) -> User {
        User {
            name,
            enabled: false,
            nopass: false,
            skip_sanitize: false,
            passwords: Vec::new(),
            commands: vec![false; CommandId::COUNT],
            command_rules: vec!["-@all".to_owned()],
            all_keys: false,
            key_patterns: Vec::new(),
            all_channels: false,
            channel_patterns: Vec::new(),
            unrestricted: false,
        }
    }

    /// The `default` user: on, every command, key and channel, and
    /// `password` (`requirepass`) or none.
    pub fn default_user(password: Option<&str>) -> User {
        let mut user = User::new(Bytes::from_static(b"default"));
        let password_rule = match password {
            Some(password) => format!(">{password}"),
            None => "nopass".to_owned(),
        };
        for rule in ["on", &password_rule, "~*", "&*", "+@all"] {
            // These rules are valid.
            let _ = user.apply(rule.as_bytes());
        }
        user
    }

    /// Whether it may run everything on everything: the check is skipped.
    pub fn unrestricted(&self) -> bool {
        debug_assert_eq!(self.unrestricted, self.computed_unrestricted());
        self.unrestricted
    }

    fn computed_unrestricted(&self) -> bool {
        self.all_keys && self.all_channels && self.commands.iter().all(|&allowed| allowed)
    }

    /// Whether `password` authenticates it.
    pub fn accepts(&self, password: &[u8]) -> bool {
        let digest = sha256::sha256(password);
        let known =
            |known: &[u8; DIGEST_BYTES]| super::connection::constant_time_equal(known, &digest);
        self.enabled && (self.nopass || self.passwords.iter().any(known))
    }

    fn set_command(&mut self, spec: &CommandSpec, allowed: bool) {
        self.commands[spec.id.index()] = allowed;
        for sub in spec.subcommands {
            self.commands[sub.id.index()] = allowed;
        }
    }

    fn set_all_commands(&mut self, allowed: bool) {
        self.commands.iter_mut().for_each(|bit| *bit = allowed);
        self.command_rules = vec![if allowed { "+@all" } else { "-@all" }.to_owned()];
    }

    /// Applies one `ACL SETUSER` rule; the reason it is refused.
    pub fn apply(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        let applied = self.apply_rule(rule);
        self.unrestricted = self.computed_unrestricted();
        applied
    }

    fn apply_rule(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        let lower = String::from_utf8_lossy(rule).to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "skip-sanitize-payload" => self.skip_sanitize = true,
            "sanitize-payload" => self.skip_sanitize = false,
            "allkeys" => return self.apply(b"~*"),
            "resetkeys" => {
                self.all_keys = false;
                self.key_patterns.clear();
            }
            "allchannels" => return self.apply(b"&*"),
            "resetchannels" => {
                self.all_channels = false;
                self.channel_patterns.clear();
            }
            "allcommands" => self.set_all_commands(true),
            "nocommands" => self.set_all_commands(false),
            "clearselectors" => {}
            "reset" => {
                let name = self.name.clone();
                *self = User::new(name);
                self.apply(b"resetchannels")?;
            }
            _ => return self.apply_prefixed(rule, &lower),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, rule: &[u8], lower: &str) -> Result<(), &'static str> {
        match rule.first() {
            Some(b'>') => {
                let digest = sha256::sha256(&rule[1..]);
                self.add_password(digest);
            }
            Some(b'#') => {
                let digest = sha256::from_hex(&rule[1..]).ok_or(
                    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
                )?;
                self.add_password(digest);
            }
            Some(b'<') | Some(b'!') => {
                let digest = if rule[0] == b'<' {
                    sha256::sha256(&rule[1..])
                } else {
                    sha256::from_hex(&rule[1..]).ok_or(
                        "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
                    )?
                };
                let before = self.passwords.len();
                self.passwords.retain(|known| *known != digest);
                if self.passwords.len() == before {
                    return Err(
                        "The password you are trying to remove from the user does not exist",
                    );
                }
            }
            Some(b'~') => self.add_key_pattern(&rule[1..])?,
            Some(b'%') => {
                // %R~, %W~, %RW~: keel does not tell reads from writes.
                let tilde = rule
                    .iter()
                    .position(|&byte| byte == b'~')
                    .ok_or("Syntax error")?;
                let flags = &lower.as_bytes()[1..tilde];
                if flags.is_empty() || !flags.iter().all(|flag| *flag == b'r' || *flag == b'w') {
                    return Err("Syntax error");
                }
                self.add_key_pattern(&rule[tilde + 1..])?;
            }
            Some(b'&') => {
                if self.all_channels {
                    return Err(
                        "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
                    );
                }
                if &rule[1..] == b"*" {
                    self.all_channels = true;
                    self.channel_patterns.clear();
                }
                self.channel_patterns
                    .push(Bytes::copy_from_slice(&rule[1..]));
            }
            Some(b'+') | Some(b'-') => self.apply_command_rule(rule[0] == b'+', &lower[1..])?,
            _ => return Err("Syntax error"),
        }
        Ok(())
    }

    fn add_password(&mut self, digest: [u8; DIGEST_BYTES]) {
        self.nopass = false;
        if !self.passwords.contains(&digest) {
            self.passwords.push(digest);
        }
    }

    fn add_key_pattern(&mut self, pattern: &[u8]) -> Result<(), &'static str> {
        if self.all_keys {
            return Err(
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            );
        }
        if pattern == b"*" {
            self.all_keys = true;
            self.key_patterns.clear();
        }
        self.key_patterns.push(Bytes::copy_from_slice(pattern));
        Ok(())
    }

    fn apply_command_rule(&mut self, allowed: bool, name: &str) -> Result<(), &'static str> {
        let sign = if allowed { '+' } else { '-' };
        if let Some(category) = name.strip_prefix('@') {
            if category == "all" {
                self.set_all_commands(allowed);
                return Ok(());
            }
            if !CATEGORIES.contains(&category) {
                return Err("Unknown command or category name in ACL");
            }
            let tag = format!("@{category}");
            for spec in every_spec() {
                if spec.acl_categories().contains(&tag.as_str()) {
                    self.commands[spec.id.index()] = allowed;
                }
            }
        } else {
            let spec = table::lookup_full_name(name.as_bytes())
                .ok_or("Unknown command or category name in ACL")?;
            self.set_command(spec, allowed);
        }
        self.command_rules.push(format!("{sign}{name}"));
        Ok(())
    }

    fn keys_text(&self) -> String {
        let patterns = self
            .key_patterns
            .iter()
            .map(|pattern| format!("~{}", String::from_utf8_lossy(pattern)));
        patterns.collect::<Vec<_>>().join(" ")
    }

    fn channels_text(&self) -> String {
        let patterns = self
            .channel_patterns
            .iter()
            .map(|pattern| format!("&{}", String::from_utf8_lossy(pattern)));
        patterns.collect::<Vec<_>>().join(" ")
    }

    fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        flags.push(if self.skip_sanitize {
            "skip-sanitize-payload"
        } else {
            "sanitize-payload"
        });
        flags
    }

    /// Its line of `ACL LIST`: `user <name> <flags> <#hash …> <keys>
    /// <channels> <commands>`, empty parts left out.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("user {}", String::from_utf8_lossy(&self.name))];
        parts.extend(self.flags().into_iter().map(str::to_owned));
        parts.extend(
            self.passwords
                .iter()
                .map(|digest| format!("#{}", sha256::to_hex(digest))),
        );
        parts.extend([
            self.keys_text(),
            self.channels_text(),
            self.command_rules.join(" "),
        ]);
        parts.retain(|part| !part.is_empty());
        parts.join(" ")
    }

    /// Its `ACL GETUSER` reply (Redis 7.0's fields).
    pub fn getuser_reply(&self) -> Reply {
        let bulk = |text: String| Reply::Bulk(Bytes::from(text));
        Reply::Map(vec![
            (
                Reply::bulk("flags"),
                Reply::Array(self.flags().into_iter().map(Reply::bulk).collect()),
            ),
            (
                Reply::bulk("passwords"),
                Reply::Array(
                    self.passwords
                        .iter()
                        .map(|digest| bulk(sha256::to_hex(digest)))
                        .collect(),
                ),
            ),
            (Reply::bulk("commands"), bulk(self.command_rules.join(" "))),
            (Reply::bulk("keys"), bulk(self.keys_text())),
            (Reply::bulk("channels"), bulk(self.channels_text())),
            (Reply::bulk("selectors"), Reply::Array(Vec::new())),
        ])
    }

    /// Why it may not run `spec` with `arguments`, if it may not.
    /// Commands that need no authentication always pass.
    pub fn denial(&self, spec: &CommandSpec, arguments: &[Bytes]) -> Option<Denial> {
        if spec.has(CommandFlags::NO_AUTH) || self.unrestricted {
            return None;
        }
        if !self.commands[spec.id.index()] {
            return Some(Denial::Command);
        }
        if !self.all_keys {
            let allowed = |key: &Bytes| {
                self.key_patterns
                    .iter()
                    .any(|pattern| glob_matches(pattern, key, false))
            };
            if !super::tracking::command_keys(spec, arguments).all(allowed) {
                return Some(Denial::Key);
            }
        }
        if !self.all_channels && !self.channels_allowed(spec, arguments) {
            return Some(Denial::Channel);
        }
        None
    }

    /// Whether it may run `spec` with `arguments`: NOPERM otherwise, with
    /// Redis's text.
    pub fn check(&self, spec: &CommandSpec, arguments: &[Bytes]) -> Result<(), Reply> {
        match self.denial(spec, arguments) {
            None => Ok(()),
            Some(denial) => Err(denial.reply(spec)),
        }
    }

    fn channels_allowed(&self, spec: &CommandSpec, arguments: &[Bytes]) -> bool {
        let matches = |channel: &Bytes| {
            self.channel_patterns
                .iter()
                .any(|pattern| glob_matches(pattern, channel, false))
        };
        match spec.id {
            CommandId::Publish | CommandId::Spublish => matches(&arguments[1]),
            CommandId::Subscribe | CommandId::Ssubscribe => arguments[1..].iter().all(matches),
            // A pattern subscription needs that very pattern.
            CommandId::Psubscribe => arguments[1..]
                .iter()
                .all(|pattern| self.channel_patterns.contains(pattern)),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> User {
        let mut user = User::new(Bytes::from_static(b"alice"));
        for rule in rules {
            user.apply(rule.as_bytes()).unwrap();
        }
        user
    }

    fn arguments(text: &str) -> Vec<Bytes> {
        text.split(' ')
            .map(|part| Bytes::copy_from_slice(part.as_bytes()))
            .collect()
    }

    fn check(user: &User, text: &str) -> Result<(), Reply> {
        let arguments = arguments(text);
        let spec = table::resolve(&crate::resp::Command::new(arguments.clone())).unwrap();
        user.check(spec, &arguments)
    }

    #[test]
    fn rules_build_what_acl_list_shows() {
        let alice = user(&[
            "on",
            ">secret",
            "~cached:*",
            "&news",
            "+get",
            "+@hash",
            "-hdel",
        ]);
        assert_eq!(
            alice.describe(),
            "user alice on sanitize-payload #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~cached:* &news -@all +get +@hash -hdel"
        );
        assert!(alice.accepts(b"secret") && !alice.accepts(b"other"));
        assert!(!user(&[">secret"]).accepts(b"secret"), "off refuses");
        assert!(user(&["on", "nopass"]).accepts(b"anything"));
        let default = User::default_user(None);
        assert_eq!(
            default.describe(),
            "user default on nopass sanitize-payload ~* &* +@all"
        );
        assert!(default.unrestricted());
        let mut refused = User::new(Bytes::from_static(b"bob"));
        assert_eq!(
            refused.apply(b"+nosuchcommand"),
            Err("Unknown command or category name in ACL")
        );
        assert_eq!(
            refused.apply(b"+@nosuchcategory"),
            Err("Unknown command or category name in ACL")
        );
        assert_eq!(refused.apply(b"bogus"), Err("Syntax error"));
        assert!(refused.apply(b"<never-set").is_err());
        assert!(refused.apply(b"#abc").is_err());
        refused.apply(b"allkeys").unwrap();
        assert!(refused.apply(b"~more").is_err());
    }

    #[test]
    fn a_command_key_or_channel_outside_the_rules_is_refused_with_noperm() {
        let alice = user(&[
            "on",
            "nopass",
            "~cached:*",
            "&news",
            "+get",
            "+set",
            "+@pubsub",
            "+config|get",
        ]);
        assert_eq!(check(&alice, "GET cached:1"), Ok(()));
        assert_eq!(check(&alice, "GET other"), Err(Reply::error(NO_KEY_TEXT)));
        assert_eq!(
            check(&alice, "DEL cached:1"),
            Err(Reply::error(
                "NOPERM this user has no permissions to run the 'del' command"
            ))
        );
        assert_eq!(check(&alice, "CONFIG GET maxmemory"), Ok(()));
        assert_eq!(
            check(&alice, "CONFIG SET maxmemory 1"),
            Err(Reply::error(
                "NOPERM this user has no permissions to run the 'config|set' command"
            ))
        );
        assert_eq!(check(&alice, "PUBLISH news hi"), Ok(()));
        assert_eq!(
            check(&alice, "PUBLISH sports hi"),
            Err(Reply::error(NO_CHANNEL_TEXT))
        );
        assert_eq!(check(&alice, "PSUBSCRIBE news"), Ok(()));
        assert_eq!(
            check(&alice, "PSUBSCRIBE n*"),
            Err(Reply::error(NO_CHANNEL_TEXT))
        );
        assert_eq!(
            check(&alice, "AUTH alice x"),
            Ok(()),
            "AUTH needs no permission"
        );
        let readers = user(&["on", "nopass", "allkeys", "+@read"]);
        assert_eq!(check(&readers, "HGETALL h"), Ok(()));
        assert!(check(&readers, "HSET h f v").is_err());
    }
}

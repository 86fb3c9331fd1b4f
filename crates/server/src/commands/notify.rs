//! Keyspace notifications (Redis's `notify-keyspace-events`): the event
//! classes and their flag letters, the one way a data handler fires an
//! event ([`DataCall::notify`]), and their publication as
//! `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` messages.
//!
//! A handler fires an event where Redis's command does, with Redis's
//! class and name; the store records it (only when its class is on, so a
//! server with notifications off copies nothing) and the backend
//! publishes what a transaction fired after it commits — an attempt that
//! conflicted and ran again, or a block that rolled back, fires nothing.
//! `expired` events come from the backend's expiry watch, `new` events
//! from the writes that create a key ([`DataCall::put`],
//! [`DataCall::save`]), `keymiss` events from [`fire_key_misses`] after a
//! read-only command ran.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;

use super::DataCall;
use super::collection::Collection;
use crate::backend::DatabaseIndex;
use crate::net::pubsub::PubSub;

/// A set of event classes, with Redis's bits (`server.h`, `NOTIFY_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EventClasses(u32);

impl EventClasses {
    /// No class.
    pub const NONE: EventClasses = EventClasses(0);
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: EventClasses = EventClasses(1 << 0);
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: EventClasses = EventClasses(1 << 1);
    /// `g`: DEL, EXPIRE, RENAME … of any type.
    pub const GENERIC: EventClasses = EventClasses(1 << 2);
    /// `$`: strings.
    pub const STRING: EventClasses = EventClasses(1 << 3);
    /// `l`: lists.
    pub const LIST: EventClasses = EventClasses(1 << 4);
    /// `s`: sets.
    pub const SET: EventClasses = EventClasses(1 << 5);
    /// `h`: hashes.
    pub const HASH: EventClasses = EventClasses(1 << 6);
    /// `z`: sorted sets.
    pub const ZSET: EventClasses = EventClasses(1 << 7);
    /// `x`: a key expired.
    pub const EXPIRED: EventClasses = EventClasses(1 << 8);
    /// `e`: a key was evicted (keel never evicts).
    pub const EVICTED: EventClasses = EventClasses(1 << 9);
    /// `t`: streams.
    pub const STREAM: EventClasses = EventClasses(1 << 10);
    /// `m`: a read-only command named a key that is not there.
    pub const KEY_MISS: EventClasses = EventClasses(1 << 11);
    /// `d`: modules' events (keel has no modules).
    pub const MODULE: EventClasses = EventClasses(1 << 13);
    /// `n`: a key was created.
    pub const NEW: EventClasses = EventClasses(1 << 14);
    /// `A`: `g$lshzxetd`.
    pub const ALL: EventClasses = EventClasses(
        Self::GENERIC.0
            | Self::STRING.0
            | Self::LIST.0
            | Self::SET.0
            | Self::HASH.0
            | Self::ZSET.0
            | Self::EXPIRED.0
            | Self::EVICTED.0
            | Self::STREAM.0
            | Self::MODULE.0,
    );

    /// The letter of each single class, in the order Redis writes them
    /// (`keyspaceEventsFlagsToString`), `A` aside.
    const LETTERS: [(char, EventClasses); 14] = [
        ('g', Self::GENERIC),
        ('$', Self::STRING),
        ('l', Self::LIST),
        ('s', Self::SET),
        ('h', Self::HASH),
        ('z', Self::ZSET),
        ('x', Self::EXPIRED),
        ('e', Self::EVICTED),
        ('t', Self::STREAM),
        ('d', Self::MODULE),
        ('n', Self::NEW),
        ('K', Self::KEYSPACE),
        ('E', Self::KEYEVENT),
        ('m', Self::KEY_MISS),
    ];

    /// Parses Redis's flag letters (`KEA`, `Kx` …); `None` for a letter
    /// that names no class (`keyspaceEventsStringToFlags`).
    ///
    /// ```
    /// use keel_server::commands::notify::EventClasses;
    /// let classes = EventClasses::parse("Kl").unwrap();
    /// assert!(classes.publishes(EventClasses::LIST));
    /// assert!(!classes.publishes(EventClasses::SET));
    /// assert_eq!(EventClasses::parse("KA").unwrap().to_string(), "AK");
    /// assert!(EventClasses::parse("Kq").is_none());
    /// ```
    pub fn parse(letters: &str) -> Option<EventClasses> {
        let mut classes = EventClasses::NONE;
        for letter in letters.chars() {
            let class = if letter == 'A' {
                Self::ALL
            } else {
                Self::LETTERS
                    .iter()
                    .find(|(known, _)| *known == letter)
                    .map(|(_, class)| *class)?
            };
            classes = classes.with(class);
        }
        Some(classes)
    }

    /// Both sets' classes.
    pub const fn with(self, other: EventClasses) -> EventClasses {
        EventClasses(self.0 | other.0)
    }

    /// Whether every class of `other` is in the set.
    pub const fn contains(self, other: EventClasses) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether an event of `class` is published: its class is on, and so
    /// is at least one of `K` and `E`.
    pub const fn publishes(self, class: EventClasses) -> bool {
        self.0 & class.0 != 0 && self.0 & (Self::KEYSPACE.0 | Self::KEYEVENT.0) != 0
    }
}

impl std::fmt::Display for EventClasses {
    /// Redis's letters for the set: `A` for all of it (which hides `n`,
    /// as Redis 7.0's `keyspaceEventsFlagsToString` does), then `K`, `E`,
    /// `m`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        let all = self.contains(Self::ALL);
        if all {
            f.write_char('A')?;
        }
        let channels_and_misses = Self::KEYSPACE.with(Self::KEYEVENT).with(Self::KEY_MISS);
        for (letter, class) in Self::LETTERS {
            if all && !channels_and_misses.contains(class) {
                continue;
            }
            if self.contains(class) {
                f.write_char(letter)?;
            }
        }
        Ok(())
    }
}

/// `keymiss` (class `m`) for each key a read-only command names, by its
/// key positions, that is not there: where Redis's `lookupKeyRead` fires
/// it. Write commands fire none (Redis's write lookups do not), nor do
/// commands whose keys move with their arguments (EVAL, SINTERCARD …),
/// whose reads keel does not follow key by key. Nothing is looked up
/// unless `m` is on.
pub(crate) fn fire_key_misses(call: &mut DataCall<'_>) {
    if !call.spec.has(super::CommandFlags::READONLY) || !call.notifies(EventClasses::KEY_MISS) {
        return;
    }
    let arguments = call.arguments;
    for key in super::tracking::command_keys(call.spec, arguments) {
        if matches!(call.stored(key), Ok(None)) {
            call.notify(EventClasses::KEY_MISS, "keymiss", key);
        }
    }
}

/// Redis's refusal of a letter that names no class.
pub const INVALID_CLASS_TEXT: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/// One event a command fired, published once its transaction commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyspaceEvent {
    /// The database of the key.
    pub database: DatabaseIndex,
    /// The event's class.
    pub class: EventClasses,
    /// The event's name (`set`, `lpush`, `expired` …).
    pub event: &'static str,
    /// The key (a copy: it outlives the request).
    pub key: Bytes,
}

/// The server's notification settings and where events are published:
/// shared by the server (CONFIG SET) and the backend (which publishes
/// what its transactions fired).
#[derive(Debug)]
pub struct KeyspaceEvents {
    classes: AtomicU32,
    pubsub: Arc<PubSub>,
}

impl KeyspaceEvents {
    /// Events off, published into `pubsub` once turned on.
    pub(crate) fn new(pubsub: Arc<PubSub>) -> KeyspaceEvents {
        KeyspaceEvents {
            classes: AtomicU32::new(0),
            pubsub,
        }
    }

    /// The classes published now.
    pub fn classes(&self) -> EventClasses {
        EventClasses(self.classes.load(Ordering::Relaxed))
    }

    /// Sets the classes published (CONFIG SET notify-keyspace-events).
    pub(crate) fn set_classes(&self, classes: EventClasses) {
        self.classes.store(classes.0, Ordering::Relaxed);
    }

    /// Publishes `events` in order, each on its keyspace channel, then on
    /// its keyevent channel, as Redis's `notifyKeyspaceEvent` does;
    /// events of a class turned off since they fired are dropped.
    pub fn publish(&self, events: &[KeyspaceEvent]) {
        let classes = self.classes();
        for event in events {
            if !classes.publishes(event.class) {
                continue;
            }
            if classes.contains(EventClasses::KEYSPACE) {
                let mut channel = format!("__keyspace@{}__:", event.database).into_bytes();
                channel.extend_from_slice(&event.key);
                self.send(&channel, event.event.as_bytes());
            }
            if classes.contains(EventClasses::KEYEVENT) {
                let channel = format!("__keyevent@{}__:{}", event.database, event.event);
                self.send(channel.as_bytes(), &event.key);
            }
        }
    }

    fn send(&self, channel: &[u8], message: &[u8]) {
        // No client has id 0: every subscriber gets it through its entry.
        let mut own = Vec::new();
        self.pubsub.publish(channel, message, false, 0, &mut own);
        debug_assert!(own.is_empty(), "an event has no publishing client");
    }
}

impl DataCall<'_> {
    /// Fires `event` of `class` on `key` in the selected database: the
    /// one way a handler notifies (recorded only when `class` is on).
    pub fn notify(&mut self, class: EventClasses, event: &'static str, key: &[u8]) {
        let database = self.database;
        self.notify_in(database, class, event, key);
    }

    /// [`DataCall::notify`] for a key of another database (MOVE, COPY … DB).
    pub fn notify_in(
        &mut self,
        database: DatabaseIndex,
        class: EventClasses,
        event: &'static str,
        key: &[u8],
    ) {
        if self.store.event_classes().publishes(class) {
            self.store.record_event(KeyspaceEvent {
                database,
                class,
                event,
                key: Bytes::copy_from_slice(key),
            });
        }
    }

    /// Whether an event of `class` would be recorded (a handler skips
    /// work done only for an event).
    pub fn notifies(&self, class: EventClasses) -> bool {
        self.store.event_classes().publishes(class)
    }

    /// Saves `collection` ([`DataCall::save`]) and, when the command
    /// `changed` it, fires `event` of `class` on it, then `del` when the
    /// save deleted it for being empty — Redis's order.
    pub fn save_notify(
        &mut self,
        collection: &Collection,
        changed: bool,
        class: EventClasses,
        event: &'static str,
    ) -> Result<(), super::Failure> {
        self.save(collection)?;
        if changed {
            let key = collection.header.owner.clone();
            let database = collection.database();
            self.notify_in(database, class, event, &key);
            if collection.vanishes() {
                self.notify_in(database, EventClasses::GENERIC, "del", &key);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_parse_and_show_as_redis_shows_them() {
        let cases = [
            ("gKE", "gKE"),
            ("$lshzxeKE", "$lshzxeKE"),
            ("KA", "AK"),
            ("EA", "AE"),
            ("", ""),
            ("AnKEm", "AKEm"),
            ("Ex", "xE"),
        ];
        for (given, shown) in cases {
            let classes = EventClasses::parse(given).expect("valid letters");
            assert_eq!(classes.to_string(), shown, "letters {given:?}");
        }
        assert_eq!(EventClasses::parse("KEQ"), None);
        assert_eq!(EventClasses::parse("K E"), None);
    }

    #[test]
    fn an_event_is_published_only_with_its_class_and_a_channel_kind() {
        let keyspace_only = EventClasses::parse("Kl").expect("valid");
        assert!(keyspace_only.publishes(EventClasses::LIST));
        assert!(!keyspace_only.publishes(EventClasses::GENERIC));
        let no_channel = EventClasses::parse("A").expect("valid");
        assert!(!no_channel.publishes(EventClasses::LIST));
        let all = EventClasses::parse("EA").expect("valid");
        assert!(all.publishes(EventClasses::EXPIRED));
        assert!(!all.publishes(EventClasses::NEW), "A leaves out n");
        assert!(!all.publishes(EventClasses::KEY_MISS), "A leaves out m");
    }
}

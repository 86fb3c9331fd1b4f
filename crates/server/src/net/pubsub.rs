//! The pub/sub registry: who subscribes to which channel, pattern and
//! shard channel, and the delivery of a published message to them.
//!
//! One registry for the whole server, behind a read-write lock: PUBLISH
//! reads it (publishers on different event loops run at once), the
//! (un)subscribe commands and a closing connection write it. A message to
//! a subscriber is encoded once per protocol and handed to the
//! subscriber's connection entry ([`ClientEntry::push_bounded`]), which
//! wakes the event loop serving it — on any thread, so subscribers on
//! other loops (`--io-threads`) receive it as soon as their loop turns.
//! The publisher never waits for a subscriber: a subscriber whose
//! undelivered messages pass the pub/sub output buffer limit (Redis's
//! `client-output-buffer-limit pubsub`, [`PUBSUB_LIMIT_DEFAULT`]) is
//! closed, as Redis closes it.
//!
//! Orders kept from Redis: a channel's subscribers in the order they
//! subscribed, then each pattern's (patterns in the order first
//! subscribed). A message to the publisher itself (a RESP3 client may
//! publish while subscribed) goes back with PUBLISH's reply, before it,
//! as Redis writes it into the publisher's own output.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use crate::backend::ClientId;
use crate::commands::glob::GlobPattern;
use crate::resp::{ProtocolVersion, Reply};
use crate::state::{ClientEntry, OutputLimit};

/// Redis's default `client-output-buffer-limit pubsub 32mb 8mb 60`: a
/// subscriber with more than 32 MiB of messages waiting, or more than
/// 8 MiB for over 60 seconds, is disconnected.
pub const PUBSUB_LIMIT_DEFAULT: (usize, usize, u64) = (32 << 20, 8 << 20, 60);

/// The three kinds of subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// SUBSCRIBE.
    Channel,
    /// PSUBSCRIBE.
    Pattern,
    /// SSUBSCRIBE (Redis 7's shard channels: on a server without cluster,
    /// channels of their own, which patterns do not reach).
    Shard,
}

impl Kind {
    /// The first element of a (un)subscription confirmation.
    pub(crate) fn confirmation(self, subscribe: bool) -> &'static str {
        match (self, subscribe) {
            (Kind::Channel, true) => "subscribe",
            (Kind::Channel, false) => "unsubscribe",
            (Kind::Pattern, true) => "psubscribe",
            (Kind::Pattern, false) => "punsubscribe",
            (Kind::Shard, true) => "ssubscribe",
            (Kind::Shard, false) => "sunsubscribe",
        }
    }
}

/// One client's subscriptions.
#[derive(Debug, Default)]
struct Subscriptions {
    entry: Option<Arc<ClientEntry>>,
    channels: HashSet<Bytes>,
    /// In the order subscribed (Redis keeps a list).
    patterns: Vec<Bytes>,
    shard_channels: HashSet<Bytes>,
}

impl Subscriptions {
    fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty()
    }

    /// The count a confirmation of `kind` carries: channels and patterns
    /// together, shard channels apart (Redis's `subscriptionCount`).
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel | Kind::Pattern => self.channels.len() + self.patterns.len(),
            Kind::Shard => self.shard_channels.len(),
        }
    }

    /// Publishes the counts for CLIENT LIST.
    fn publish_counts(&self) {
        if let Some(entry) = &self.entry {
            let counts = &entry.subscriptions;
            counts
                .channels
                .store(self.channels.len(), Ordering::Relaxed);
            counts
                .patterns
                .store(self.patterns.len(), Ordering::Relaxed);
            counts
                .shard_channels
                .store(self.shard_channels.len(), Ordering::Relaxed);
        }
    }
}

/// A subscribed pattern, compiled once.
#[derive(Debug)]
struct PatternSubscribers {
    pattern: Bytes,
    glob: GlobPattern,
    subscribers: Vec<Arc<ClientEntry>>,
}

#[derive(Debug, Default)]
struct Registry {
    channels: HashMap<Bytes, Vec<Arc<ClientEntry>>>,
    shard_channels: HashMap<Bytes, Vec<Arc<ClientEntry>>>,
    patterns: Vec<PatternSubscribers>,
    clients: HashMap<ClientId, Subscriptions>,
}

/// The server's pub/sub state.
#[derive(Debug)]
pub(crate) struct PubSub {
    registry: RwLock<Registry>,
    /// The pubsub class of `client-output-buffer-limit`: hard bytes, soft
    /// bytes, soft seconds.
    hard_bytes: AtomicUsize,
    soft_bytes: AtomicUsize,
    soft_seconds: AtomicU64,
}

impl Default for PubSub {
    fn default() -> Self {
        let (hard, soft, seconds) = PUBSUB_LIMIT_DEFAULT;
        PubSub {
            registry: RwLock::default(),
            hard_bytes: AtomicUsize::new(hard),
            soft_bytes: AtomicUsize::new(soft),
            soft_seconds: AtomicU64::new(seconds),
        }
    }
}

/// What a (un)subscription answers, one per channel or pattern: the kind
/// of confirmation, the channel (`None`: an UNSUBSCRIBE of everything
/// from a client subscribed to nothing) and the count after it.
pub(crate) type Confirmation = (&'static str, Option<Bytes>, usize);

impl PubSub {
    fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The bound on a subscriber's undelivered messages.
    pub(crate) fn limit(&self) -> OutputLimit {
        OutputLimit {
            hard_bytes: self.hard_bytes.load(Ordering::Relaxed),
            soft_bytes: self.soft_bytes.load(Ordering::Relaxed),
            soft_seconds: self.soft_seconds.load(Ordering::Relaxed),
        }
    }

    /// Sets the bound (CONFIG SET client-output-buffer-limit).
    pub(crate) fn set_limit(&self, hard_bytes: usize, soft_bytes: usize, soft_seconds: u64) {
        self.hard_bytes.store(hard_bytes, Ordering::Relaxed);
        self.soft_bytes.store(soft_bytes, Ordering::Relaxed);
        self.soft_seconds.store(soft_seconds, Ordering::Relaxed);
    }

    /// Subscribes `entry` to each of `names` (of `kind`); one confirmation
    /// each, in order, and the client's total count of subscriptions
    /// after.
    pub(crate) fn subscribe(
        &self,
        entry: &Arc<ClientEntry>,
        kind: Kind,
        names: &[Bytes],
    ) -> (Vec<Confirmation>, usize) {
        let mut registry = self.write();
        let registry = &mut *registry;
        let mine = registry.clients.entry(entry.id).or_default();
        mine.entry.get_or_insert_with(|| Arc::clone(entry));
        let mut confirmations = Vec::with_capacity(names.len());
        for name in names {
            // A copy: the argument shares the connection's read buffer.
            let name = Bytes::copy_from_slice(name);
            let added = match kind {
                Kind::Channel => mine.channels.insert(name.clone()),
                Kind::Shard => mine.shard_channels.insert(name.clone()),
                Kind::Pattern if mine.patterns.contains(&name) => false,
                Kind::Pattern => {
                    mine.patterns.push(name.clone());
                    true
                }
            };
            if added {
                match kind {
                    Kind::Channel => registry
                        .channels
                        .entry(name.clone())
                        .or_default()
                        .push(Arc::clone(entry)),
                    Kind::Shard => registry
                        .shard_channels
                        .entry(name.clone())
                        .or_default()
                        .push(Arc::clone(entry)),
                    Kind::Pattern => {
                        match registry
                            .patterns
                            .iter_mut()
                            .find(|subscribed| subscribed.pattern == name)
                        {
                            Some(subscribed) => subscribed.subscribers.push(Arc::clone(entry)),
                            None => registry.patterns.push(PatternSubscribers {
                                glob: GlobPattern::new(&name, false),
                                pattern: name.clone(),
                                subscribers: vec![Arc::clone(entry)],
                            }),
                        }
                    }
                }
            }
            confirmations.push((kind.confirmation(true), Some(name), mine.count(kind)));
        }
        mine.publish_counts();
        let total = mine.count(Kind::Channel) + mine.count(Kind::Shard);
        (confirmations, total)
    }

    /// Unsubscribes `client` from each of `names` of `kind`, or from every
    /// one of that kind when `names` is empty; one confirmation each (one
    /// with no name when there was nothing to leave), and the client's
    /// total count of subscriptions after.
    pub(crate) fn unsubscribe(
        &self,
        client: ClientId,
        kind: Kind,
        names: &[Bytes],
    ) -> (Vec<Confirmation>, usize) {
        let mut registry = self.write();
        let registry = &mut *registry;
        let Some(mine) = registry.clients.get_mut(&client) else {
            let confirmations = if names.is_empty() {
                vec![(kind.confirmation(false), None, 0)]
            } else {
                names
                    .iter()
                    .map(|name| (kind.confirmation(false), Some(name.clone()), 0))
                    .collect()
            };
            return (confirmations, 0);
        };
        let names: Vec<Bytes> = if names.is_empty() {
            match kind {
                Kind::Channel => mine.channels.iter().cloned().collect(),
                Kind::Pattern => mine.patterns.clone(),
                Kind::Shard => mine.shard_channels.iter().cloned().collect(),
            }
        } else {
            names.to_vec()
        };
        let mut confirmations = Vec::with_capacity(names.len().max(1));
        for name in names {
            let removed = match kind {
                Kind::Channel => mine.channels.remove(&name),
                Kind::Shard => mine.shard_channels.remove(&name),
                Kind::Pattern => match mine.patterns.iter().position(|pattern| *pattern == name) {
                    Some(index) => {
                        mine.patterns.remove(index);
                        true
                    }
                    None => false,
                },
            };
            if removed {
                match kind {
                    Kind::Channel => leave(&mut registry.channels, &name, client),
                    Kind::Shard => leave(&mut registry.shard_channels, &name, client),
                    Kind::Pattern => leave_pattern(&mut registry.patterns, &name, client),
                }
            }
            confirmations.push((kind.confirmation(false), Some(name), mine.count(kind)));
        }
        if confirmations.is_empty() {
            confirmations.push((kind.confirmation(false), None, mine.count(kind)));
        }
        mine.publish_counts();
        let total = mine.count(Kind::Channel) + mine.count(Kind::Shard);
        if mine.is_empty() {
            registry.clients.remove(&client);
        }
        (confirmations, total)
    }

    /// Unsubscribes `client` from everything, without confirmations (RESET,
    /// or the connection closed).
    pub(crate) fn forget(&self, client: ClientId) {
        let mut registry = self.write();
        let registry = &mut *registry;
        let Some(mine) = registry.clients.remove(&client) else {
            return;
        };
        for channel in &mine.channels {
            leave(&mut registry.channels, channel, client);
        }
        for channel in &mine.shard_channels {
            leave(&mut registry.shard_channels, channel, client);
        }
        for pattern in &mine.patterns {
            leave_pattern(&mut registry.patterns, pattern, client);
        }
        let cleared = Subscriptions {
            entry: mine.entry,
            ..Subscriptions::default()
        };
        cleared.publish_counts();
    }

    /// Sends `message` on `channel` (a shard channel for SPUBLISH) to its
    /// subscribers and, for a channel, to the subscribers of every
    /// matching pattern; the number of deliveries. What goes to
    /// `publisher` itself is appended to `own` instead, for its reply.
    pub(crate) fn publish(
        &self,
        channel: &[u8],
        message: &[u8],
        shard: bool,
        publisher: ClientId,
        own: &mut Vec<Reply>,
    ) -> usize {
        let limit = self.limit();
        let registry = self.read();
        let mut receivers = 0;
        let subscribers = if shard {
            registry.shard_channels.get(channel)
        } else {
            registry.channels.get(channel)
        };
        if let Some(subscribers) = subscribers {
            let kind = if shard { "smessage" } else { "message" };
            let reply = Reply::Push(vec![
                Reply::bulk(kind),
                Reply::bulk(channel),
                Reply::bulk(message),
            ]);
            receivers += deliver(subscribers, &reply, publisher, own, limit);
        }
        if shard {
            return receivers;
        }
        for subscribed in &registry.patterns {
            if !subscribed.glob.matches(channel) {
                continue;
            }
            let reply = Reply::Push(vec![
                Reply::bulk("pmessage"),
                Reply::Bulk(subscribed.pattern.clone()),
                Reply::bulk(channel),
                Reply::bulk(message),
            ]);
            receivers += deliver(&subscribed.subscribers, &reply, publisher, own, limit);
        }
        receivers
    }

    /// How many deliveries a publish on `channel` would make now (a
    /// script's PUBLISH, delivered after its commit).
    pub(crate) fn receivers(&self, channel: &[u8], shard: bool) -> usize {
        let registry = self.read();
        if shard {
            return registry.shard_channels.get(channel).map_or(0, Vec::len);
        }
        let direct = registry.channels.get(channel).map_or(0, Vec::len);
        let patterns: usize = registry
            .patterns
            .iter()
            .filter(|subscribed| subscribed.glob.matches(channel))
            .map(|subscribed| subscribed.subscribers.len())
            .sum();
        direct + patterns
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: the channels with a subscriber,
    /// those matching `pattern` if given.
    pub(crate) fn channels(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let registry = self.read();
        let channels = if shard {
            &registry.shard_channels
        } else {
            &registry.channels
        };
        let glob = pattern.map(|pattern| GlobPattern::new(pattern, false));
        channels
            .keys()
            .filter(|channel| glob.as_ref().is_none_or(|glob| glob.matches(channel)))
            .cloned()
            .collect()
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB: the subscribers of `channel`.
    pub(crate) fn subscriber_count(&self, shard: bool, channel: &[u8]) -> usize {
        let registry = self.read();
        let channels = if shard {
            &registry.shard_channels
        } else {
            &registry.channels
        };
        channels.get(channel).map_or(0, Vec::len)
    }

    /// INFO's `pubsub_channels`, `pubsub_patterns`,
    /// `pubsubshard_channels`, and the clients subscribed to anything.
    pub(crate) fn totals(&self) -> (usize, usize, usize, usize) {
        let registry = self.read();
        (
            registry.channels.len(),
            registry.patterns.len(),
            registry.shard_channels.len(),
            registry.clients.len(),
        )
    }
}

/// Sends `reply` to each subscriber (to `own` for the publisher); how
/// many.
fn deliver(
    subscribers: &[Arc<ClientEntry>],
    reply: &Reply,
    publisher: ClientId,
    own: &mut Vec<Reply>,
    limit: OutputLimit,
) -> usize {
    let mut encoded: [Option<Vec<u8>>; 2] = [None, None];
    for subscriber in subscribers {
        if subscriber.id == publisher {
            own.push(reply.clone());
            continue;
        }
        let protocol = subscriber.protocol();
        let slot = usize::from(protocol == ProtocolVersion::Resp3);
        let bytes = encoded[slot].get_or_insert_with(|| reply.to_bytes(protocol));
        subscriber.push_bounded(bytes, limit);
    }
    subscribers.len()
}

/// Removes `client` from a channel's subscribers (the channel too when
/// none remain).
fn leave(channels: &mut HashMap<Bytes, Vec<Arc<ClientEntry>>>, channel: &[u8], client: ClientId) {
    if let Some(subscribers) = channels.get_mut(channel) {
        subscribers.retain(|entry| entry.id != client);
        if subscribers.is_empty() {
            channels.remove(channel);
        }
    }
}

/// [`leave`] for a pattern.
fn leave_pattern(patterns: &mut Vec<PatternSubscribers>, pattern: &[u8], client: ClientId) {
    if let Some(index) = patterns
        .iter()
        .position(|subscribed| subscribed.pattern == pattern)
    {
        let subscribers = &mut patterns[index].subscribers;
        subscribers.retain(|entry| entry.id != client);
        if subscribers.is_empty() {
            patterns.remove(index);
        }
    }
}

/// The classes of `client-output-buffer-limit`, in Redis's order.
const CLIENT_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

/// One class's limit: hard bytes, soft bytes, soft seconds.
type ClassLimit = (u64, u64, u64);

/// Reads a `client-output-buffer-limit` value (`<class> <hard> <soft>
/// <seconds>` …) as Redis's `updateClientOutputBufferLimit` does: each
/// class given with its limit, or Redis's reason to refuse the value.
fn parse_output_buffer_limit(value: &str) -> Result<Vec<(usize, ClassLimit)>, &'static str> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.");
    }
    let mut classes = Vec::new();
    for class in words.chunks(4) {
        let name = class[0].to_ascii_lowercase();
        let name = if name == "replica" {
            "slave".to_owned()
        } else {
            name
        };
        let Some(index) = CLIENT_CLASSES.iter().position(|known| *known == name) else {
            return Err("Invalid client class specified in buffer limit configuration.");
        };
        let memory = crate::commands::config::parse_memory;
        let (Some(hard), Some(soft), Ok(seconds)) =
            (memory(class[1]), memory(class[2]), class[3].parse::<u64>())
        else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
            );
        };
        classes.push((index, (hard, soft, seconds)));
    }
    Ok(classes)
}

/// CONFIG SET client-output-buffer-limit: `given`'s classes replace
/// theirs in `current`; the whole value as CONFIG GET shows it, or
/// Redis's reason to refuse `given`.
pub(crate) fn merge_output_buffer_limit(current: &str, given: &str) -> Result<String, String> {
    let given = parse_output_buffer_limit(given).map_err(str::to_owned)?;
    let mut limits = [
        (0, 0, 0),
        (256 << 20, 64 << 20, 60),
        (32 << 20, 8 << 20, 60),
    ];
    if let Ok(current) = parse_output_buffer_limit(current) {
        for (index, limit) in current {
            limits[index] = limit;
        }
    }
    for (index, limit) in given {
        limits[index] = limit;
    }
    Ok(CLIENT_CLASSES
        .iter()
        .zip(limits)
        .map(|(name, (hard, soft, seconds))| format!("{name} {hard} {soft} {seconds}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// The pubsub class of a `client-output-buffer-limit` value: hard bytes,
/// soft bytes, soft seconds (`None` when it names no pubsub class or is
/// malformed).
pub(crate) fn parse_pubsub_limit(value: &str) -> Option<(usize, usize, u64)> {
    let (_, (hard, soft, seconds)) = parse_output_buffer_limit(value)
        .ok()?
        .into_iter()
        .rfind(|(index, _)| *index == 2)?;
    Some((
        usize::try_from(hard).unwrap_or(usize::MAX),
        usize::try_from(soft).unwrap_or(usize::MAX),
        seconds,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pubsub_class_is_read_from_the_limit() {
        assert_eq!(
            parse_pubsub_limit(
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
            ),
            Some((33_554_432, 8_388_608, 60))
        );
        assert_eq!(parse_pubsub_limit("pubsub 1mb 0 0"), Some((1 << 20, 0, 0)));
        assert_eq!(parse_pubsub_limit("normal 0 0 0"), None);
        assert_eq!(parse_pubsub_limit("pubsub 1 2"), None);
        assert_eq!(parse_pubsub_limit("bogus 1 2 3"), None);
    }

    #[test]
    fn a_limit_set_for_one_class_keeps_the_others() {
        let default = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";
        assert_eq!(
            merge_output_buffer_limit(default, "pubsub 1kb 512 2").as_deref(),
            Ok("normal 0 0 0 slave 268435456 67108864 60 pubsub 1024 512 2")
        );
        assert_eq!(
            merge_output_buffer_limit(default, "replica 1 1 1").as_deref(),
            Ok("normal 0 0 0 slave 1 1 1 pubsub 33554432 8388608 60")
        );
        assert_eq!(
            merge_output_buffer_limit(default, "master 1 1 1"),
            Err("Invalid client class specified in buffer limit configuration.".to_owned())
        );
        assert_eq!(
            merge_output_buffer_limit(default, "pubsub 1 x 1"),
            Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                    .to_owned()
            )
        );
    }
}

//! The trace of a run: a hash of every event (two runs of one seed must
//! give the same hash) and the most recent events, for failure reports.

use std::collections::VecDeque;
use std::fmt;

/// Recent events kept for a failure report by default.
pub const TRACE_RECENT_EVENTS_DEFAULT: usize = 40;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// What a run did, as a hash of all events and the last few in full.
#[derive(Debug, Clone)]
pub struct Trace {
    hash: u64,
    events: u64,
    recent: VecDeque<String>,
    recent_max: usize,
}

impl Trace {
    /// An empty trace that keeps the last `recent_max` events.
    pub fn new(recent_max: usize) -> Self {
        Trace {
            hash: FNV_OFFSET,
            events: 0,
            recent: VecDeque::with_capacity(recent_max.min(1024)),
            recent_max,
        }
    }

    /// Records an event (FNV-1a over its text: stable across builds and
    /// platforms, unlike std's hasher).
    pub fn event(&mut self, event: fmt::Arguments<'_>) {
        let text = event.to_string();
        for byte in text.bytes().chain(std::iter::once(b'\n')) {
            self.hash = (self.hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
        }
        self.events += 1;
        if self.recent_max > 0 {
            if self.recent.len() == self.recent_max {
                self.recent.pop_front();
            }
            self.recent.push_back(text);
        }
    }

    /// The hash of every event so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Events recorded so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The most recent events, oldest first.
    pub fn recent(&self) -> Vec<String> {
        self.recent.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_follows_the_events_and_the_recent_ones_are_kept() {
        let mut one = Trace::new(2);
        let mut two = Trace::new(2);
        for trace in [&mut one, &mut two] {
            trace.event(format_args!("a {}", 1));
            trace.event(format_args!("b"));
            trace.event(format_args!("c"));
        }
        assert_eq!(one.hash(), two.hash());
        assert_eq!(one.recent(), vec!["b".to_string(), "c".to_string()]);
        assert_eq!(one.events(), 3);
        two.event(format_args!("d"));
        assert_ne!(one.hash(), two.hash());
    }
}

//! [`HeldWrites`]: the element writes of a store's commands (headers
//! aside: the read memo holds those back), held back from the transaction
//! until the commands end, a range of elements is read, or a bound is
//! reached.
//!
//! A group's commands read an element after the writes of the commands
//! before them (ZADD reads its member's score, HSET its field, LPOP its
//! head). Made at once, those writes leave the transaction's write buffer
//! holding unsorted writes at every such read, and past a few it sorts
//! and merges them into its map, again every few commands: ~2,800
//! instructions a ZADD in a group of 40 (callgrind). Held here, they
//! reach the transaction together, in the order they were made, after
//! the last read. A read of a held key is answered here, as the
//! transaction answers a read of its own write (no read is recorded).
//!
//! The keys are kept back to back in one buffer, with a filter of their
//! hashes: a read of a key not held (most) costs a hash and a bit test,
//! one that may be held a scan from the newest write.
//!
//! Invariant: for every key held, the transaction reads what was held
//! last for it once the writes are made, and they are made before
//! anything reads the elements keyspace but a point read through the
//! store.

use bytes::Bytes;

/// Writes held before all are made (a large MULTI block or script then
/// writes as it goes, in batches of this); it also bounds the scan of a
/// read whose key's filter bit is set.
pub(crate) const HELD_WRITES_MAX: usize = 256;

/// Key bytes held before all writes are made.
pub(crate) const HELD_KEY_BYTES_MAX: usize = 64 << 10;

/// Writes the buffers take room for at the first (a group of 50
/// commands makes about as many), and the key bytes each.
const WRITES_FIRST: usize = 64;
const KEY_BYTES_TYPICAL: usize = 32;

/// Words of the key filter (64 bits each): 4096 bits, so a group's ~80
/// held keys leave a read of another key ~2% likely to scan.
const FILTER_WORDS: usize = 64;

/// Bits of a key's hash the filter uses: 2^12 = 64 × [`FILTER_WORDS`].
const FILTER_HASH_BITS: u32 = 12;
const _: () = assert!(1 << FILTER_HASH_BITS == 64 * FILTER_WORDS);

/// Element writes not yet made to the transaction, in the order made.
#[derive(Debug)]
pub(crate) struct HeldWrites {
    /// The keys, back to back.
    keys: Vec<u8>,
    /// Each write: where its key ends in `keys`, and the value written
    /// (`None`: a deletion).
    writes: Vec<(usize, Option<Bytes>)>,
    /// Bit `key_hash(key) % (64 × FILTER_WORDS)` is set for every key held.
    filter: [u64; FILTER_WORDS],
}

impl Default for HeldWrites {
    fn default() -> HeldWrites {
        HeldWrites {
            keys: Vec::new(),
            writes: Vec::new(),
            filter: [0; FILTER_WORDS],
        }
    }
}

/// A multiply-rotate hash over 8-byte words: a few instructions a word
/// (keys chosen to collide only make reads scan, at most
/// [`HELD_WRITES_MAX`] writes).
fn key_hash(key: &[u8]) -> u64 {
    const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;
    let mut state = key.len() as u64;
    let mut mix = |word: u64| state = (state.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    let mut words = key.chunks_exact(8);
    for word in &mut words {
        let mut array = [0u8; 8];
        array.copy_from_slice(word);
        mix(u64::from_le_bytes(array));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut array = [0u8; 8];
        array[..rest.len()].copy_from_slice(rest);
        mix(u64::from_le_bytes(array));
    }
    // The high bits are the best mixed.
    state >> (u64::BITS - FILTER_HASH_BITS)
}

/// The filter's word and bit for `key`.
fn filter_bit(key: &[u8]) -> (usize, u64) {
    let hash = key_hash(key) as usize;
    (hash / 64, 1 << (hash % 64))
}

impl HeldWrites {
    /// What the transaction will read at `key` once the writes are made,
    /// if a write of it is held (`Some(None)`: it is deleted).
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<Bytes>> {
        if self.writes.is_empty() {
            return None;
        }
        let (word, bit) = filter_bit(key);
        if self.filter[word] & bit == 0 {
            return None;
        }
        let mut end = self.keys.len();
        for (index, (_, value)) in self.writes.iter().enumerate().rev() {
            let start = index
                .checked_sub(1)
                .map_or(0, |before| self.writes[before].0);
            if &self.keys[start..end] == key {
                return Some(value.clone());
            }
            end = start;
        }
        None
    }

    /// Holds back the write of `value` (`None`: a deletion) at `key`;
    /// `true` when a bound is reached and the writes must be made now.
    #[must_use]
    pub(crate) fn hold(&mut self, key: &[u8], value: Option<Bytes>) -> bool {
        if self.writes.capacity() == 0 {
            // Room for a group's writes at once, not grown write by write.
            self.writes.reserve(WRITES_FIRST);
            self.keys.reserve(WRITES_FIRST * KEY_BYTES_TYPICAL);
        }
        self.keys.extend_from_slice(key);
        self.writes.push((self.keys.len(), value));
        let (word, bit) = filter_bit(key);
        self.filter[word] |= bit;
        self.writes.len() >= HELD_WRITES_MAX || self.keys.len() >= HELD_KEY_BYTES_MAX
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Hands every held write to `write`, oldest first, and forgets them;
    /// the first error `write` returns, after all were handed over.
    pub(crate) fn drain<E>(
        &mut self,
        mut write: impl FnMut(&[u8], Option<Bytes>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut result = Ok(());
        let mut start = 0;
        for (end, value) in self.writes.drain(..) {
            let written = write(&self.keys[start..end], value);
            if result.is_ok() {
                result = written;
            }
            start = end;
        }
        self.keys.clear();
        self.filter = [0; FILTER_WORDS];
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(held: &mut HeldWrites) -> Vec<(Vec<u8>, Option<Bytes>)> {
        let mut writes = Vec::new();
        held.drain(|key, value| -> Result<(), ()> {
            writes.push((key.to_vec(), value));
            Ok(())
        })
        .expect("nothing fails");
        writes
    }

    #[test]
    fn the_last_write_of_a_key_is_read_back_and_all_are_made_in_order() {
        let mut held = HeldWrites::default();
        assert_eq!(held.get(b"k"), None);
        assert!(!held.hold(b"k", Some(Bytes::from_static(b"one"))));
        assert!(!held.hold(b"gone", None));
        assert!(!held.hold(b"k", Some(Bytes::from_static(b"two"))));
        assert_eq!(held.get(b"k"), Some(Some(Bytes::from_static(b"two"))));
        assert_eq!(held.get(b"gone"), Some(None));
        assert_eq!(held.get(b"other"), None);
        // A key that is a prefix or an extension of a held one is not it.
        assert_eq!(held.get(b"gon"), None);
        assert_eq!(held.get(b"kk"), None);
        assert_eq!(
            taken(&mut held),
            [
                (b"k".to_vec(), Some(Bytes::from_static(b"one"))),
                (b"gone".to_vec(), None),
                (b"k".to_vec(), Some(Bytes::from_static(b"two"))),
            ]
        );
        assert!(held.is_empty());
        assert_eq!(held.get(b"k"), None);
    }

    #[test]
    fn every_held_key_is_found_past_filter_collisions() {
        let mut held = HeldWrites::default();
        let keys: Vec<Vec<u8>> = (0..HELD_WRITES_MAX - 1)
            .map(|index| format!("element:{index}").into_bytes())
            .collect();
        for (index, key) in keys.iter().enumerate() {
            assert!(!held.hold(key, Some(Bytes::from(index.to_string()))));
        }
        for (index, key) in keys.iter().enumerate() {
            assert_eq!(held.get(key), Some(Some(Bytes::from(index.to_string()))));
        }
        assert_eq!(held.get(b"element:-1"), None);
    }

    #[test]
    fn the_bounds_ask_for_the_writes_to_be_made_and_a_failure_is_kept() {
        let mut held = HeldWrites::default();
        for index in 0..HELD_WRITES_MAX - 1 {
            assert!(!held.hold(&index.to_be_bytes(), None));
        }
        assert!(held.hold(b"last", None));
        let mut made = 0;
        let result = held.drain(|key, _| {
            made += 1;
            if key == b"last" {
                Err("refused")
            } else {
                Ok(())
            }
        });
        assert_eq!((result, made), (Err("refused"), HELD_WRITES_MAX));
        assert!(held.is_empty());
        assert!(held.hold(&vec![b'k'; HELD_KEY_BYTES_MAX], None));
    }
}

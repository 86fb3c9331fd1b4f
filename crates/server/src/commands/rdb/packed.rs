//! The packed encodings Redis serializes small collections in, read
//! bounds-checked (a damaged blob is an `Err` naming what was wrong, never
//! a panic): listpack (Redis ≥ 7), ziplist (Redis < 7), intset and zipmap
//! (Redis < 2.6); and a listpack writer, for DUMP's streams.
//!
//! ```text
//! listpack: total u32 LE | count u16 LE (65535: unknown) | entries | 0xff
//!   entry:  encoding and data | backlen (1–5 bytes, the entry's length)
//! ziplist:  total u32 LE | tail offset u32 LE | count u16 LE | entries | 0xff
//!   entry:  prevlen (1 byte, or 0xfe ‖ u32 LE) | encoding | data
//! intset:   width u32 LE (2, 4, 8) | count u32 LE | sorted integers LE
//! zipmap:   count u8 | (len key len free value free-bytes)* | 0xff
//! ```

use bytes::Bytes;

/// What failed in a packed blob.
pub type PackedError = &'static str;

/// An element of a listpack or ziplist: an integer or a byte string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packed<'a> {
    /// An integer encoding.
    Integer(i64),
    /// A string encoding.
    Text(&'a [u8]),
}

impl Packed<'_> {
    /// The element as Redis replies with it: an integer in decimal.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Packed::Integer(value) => Bytes::from(value.to_string()),
            Packed::Text(text) => Bytes::copy_from_slice(text),
        }
    }

    /// The element as an integer, if it is one (or a decimal string).
    pub fn integer(&self) -> Option<i64> {
        match self {
            Packed::Integer(value) => Some(*value),
            Packed::Text(text) => std::str::from_utf8(text).ok()?.parse().ok(),
        }
    }
}

/// A bounds-checked cursor over a blob.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, length: usize, what: PackedError) -> Result<&'a [u8], PackedError> {
        let end = self
            .at
            .checked_add(length)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(what)?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn byte(&mut self, what: PackedError) -> Result<u8, PackedError> {
        Ok(self.take(1, what)?[0])
    }

    /// A little-endian signed integer of `width` bytes (1 to 8).
    fn signed(&mut self, width: usize, what: PackedError) -> Result<i64, PackedError> {
        let bytes = self.take(width, what)?;
        let mut word = [0u8; 8];
        word[..width].copy_from_slice(bytes);
        let shift = 64 - 8 * width as u32;
        Ok((i64::from_le_bytes(word) << shift) >> shift)
    }

    fn u32_le(&mut self, what: PackedError) -> Result<u32, PackedError> {
        let mut word = [0u8; 4];
        word.copy_from_slice(self.take(4, what)?);
        Ok(u32::from_le_bytes(word))
    }
}

/// The elements of a listpack.
pub fn listpack(blob: &[u8]) -> Result<Vec<Packed<'_>>, PackedError> {
    let mut cursor = Cursor { bytes: blob, at: 0 };
    let total = cursor.u32_le("a listpack's header")? as usize;
    let mut count = [0u8; 2];
    count.copy_from_slice(cursor.take(2, "a listpack's header")?);
    let count = u16::from_le_bytes(count);
    if total != blob.len() || blob.last() != Some(&0xff) {
        return Err("a listpack's length or end marker");
    }
    let end = blob.len() - 1;
    let mut elements = Vec::new();
    while cursor.at < end {
        let start = cursor.at;
        elements.push(listpack_entry(&mut cursor)?);
        let entry_bytes = (cursor.at - start) as u64;
        let backlen = cursor.take(backlen_bytes(entry_bytes), "a listpack entry's backlen")?;
        if backlen != encode_backlen(entry_bytes).as_slice() {
            return Err("a listpack entry's backlen");
        }
    }
    if cursor.at != end || (count != u16::MAX && usize::from(count) != elements.len()) {
        return Err("a listpack's element count");
    }
    Ok(elements)
}

fn listpack_entry<'a>(cursor: &mut Cursor<'a>) -> Result<Packed<'a>, PackedError> {
    const WHAT: PackedError = "a listpack entry";
    let first = cursor.byte(WHAT)?;
    let text =
        |cursor: &mut Cursor<'a>, length: usize| Ok(Packed::Text(cursor.take(length, WHAT)?));
    match first {
        0x00..=0x7f => Ok(Packed::Integer(i64::from(first))),
        0x80..=0xbf => text(cursor, usize::from(first & 0x3f)),
        0xc0..=0xdf => {
            let value = (i64::from(first & 0x1f) << 8) | i64::from(cursor.byte(WHAT)?);
            // Sign-extend 13 bits.
            Ok(Packed::Integer((value << 51) >> 51))
        }
        0xe0..=0xef => {
            let length = (usize::from(first & 0x0f) << 8) | usize::from(cursor.byte(WHAT)?);
            text(cursor, length)
        }
        0xf0 => {
            let length = cursor.u32_le(WHAT)? as usize;
            text(cursor, length)
        }
        0xf1 => Ok(Packed::Integer(cursor.signed(2, WHAT)?)),
        0xf2 => Ok(Packed::Integer(cursor.signed(3, WHAT)?)),
        0xf3 => Ok(Packed::Integer(cursor.signed(4, WHAT)?)),
        0xf4 => Ok(Packed::Integer(cursor.signed(8, WHAT)?)),
        _ => Err("a listpack entry's encoding"),
    }
}

/// Bytes of the backlen of an entry of `length` bytes.
fn backlen_bytes(length: u64) -> usize {
    match length {
        0..=127 => 1,
        128..16383 => 2,
        16383..2097151 => 3,
        2097151..268435455 => 4,
        _ => 5,
    }
}

/// The backlen of an entry of `length` bytes, as Redis writes it: 7 bits
/// a byte, most significant first, every byte but the first with its high
/// bit set.
fn encode_backlen(length: u64) -> Vec<u8> {
    let bytes = backlen_bytes(length);
    (0..bytes)
        .map(|index| {
            let shift = 7 * (bytes - 1 - index);
            let part = ((length >> shift) & 127) as u8;
            if index == 0 { part } else { part | 128 }
        })
        .collect()
}

/// Writes listpacks (Redis's `lpAppend`, with integers in the smallest
/// integer encoding).
#[derive(Debug, Default)]
pub struct ListpackWriter {
    entries: Vec<u8>,
    count: usize,
}

impl ListpackWriter {
    /// Appends an integer.
    pub fn integer(&mut self, value: i64) {
        let start = self.entries.len();
        let out = &mut self.entries;
        match value {
            0..=127 => out.push(value as u8),
            -4096..=4095 => {
                let bits = (value as u64) & 0x1fff;
                out.extend_from_slice(&[0xc0 | (bits >> 8) as u8, bits as u8]);
            }
            -32768..=32767 => {
                out.push(0xf1);
                out.extend_from_slice(&(value as i16).to_le_bytes());
            }
            -8388608..=8388607 => {
                out.push(0xf2);
                out.extend_from_slice(&(value as i32).to_le_bytes()[..3]);
            }
            -2147483648..=2147483647 => {
                out.push(0xf3);
                out.extend_from_slice(&(value as i32).to_le_bytes());
            }
            _ => {
                out.push(0xf4);
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        self.finish_entry(start);
    }

    /// Appends a string (as a string, whatever it holds).
    pub fn text(&mut self, text: &[u8]) {
        let start = self.entries.len();
        let out = &mut self.entries;
        let length = text.len();
        if length < 64 {
            out.push(0x80 | length as u8);
        } else if length < 4096 {
            out.extend_from_slice(&[0xe0 | (length >> 8) as u8, length as u8]);
        } else {
            out.push(0xf0);
            // Elements are below the protocol's 512 MiB bulk limit.
            out.extend_from_slice(&(length as u32).to_le_bytes());
        }
        out.extend_from_slice(text);
        self.finish_entry(start);
    }

    fn finish_entry(&mut self, start: usize) {
        let length = (self.entries.len() - start) as u64;
        let backlen = encode_backlen(length);
        self.entries.extend_from_slice(&backlen);
        self.count += 1;
    }

    /// The listpack's bytes.
    pub fn finish(self) -> Vec<u8> {
        const HEADER_BYTES: usize = 6;
        let total = HEADER_BYTES + self.entries.len() + 1;
        let count = u16::try_from(self.count).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&self.entries);
        out.push(0xff);
        out
    }
}

/// The elements of a ziplist.
pub fn ziplist(blob: &[u8]) -> Result<Vec<Packed<'_>>, PackedError> {
    const HEADER: PackedError = "a ziplist's header";
    let mut cursor = Cursor { bytes: blob, at: 0 };
    let total = cursor.u32_le(HEADER)? as usize;
    let tail = cursor.u32_le(HEADER)? as usize;
    let mut count = [0u8; 2];
    count.copy_from_slice(cursor.take(2, HEADER)?);
    let count = u16::from_le_bytes(count);
    if total != blob.len() || blob.last() != Some(&0xff) {
        return Err("a ziplist's length or end marker");
    }
    let end = blob.len() - 1;
    let mut elements = Vec::new();
    let (mut previous_start, mut previous_length) = (cursor.at, 0);
    while cursor.at < end {
        let start = cursor.at;
        let previous = match cursor.byte("a ziplist entry")? {
            0xfe => cursor.u32_le("a ziplist entry")? as usize,
            0xff => return Err("a ziplist entry's previous length"),
            byte => usize::from(byte),
        };
        if previous != previous_length {
            return Err("a ziplist entry's previous length");
        }
        elements.push(ziplist_entry(&mut cursor)?);
        (previous_start, previous_length) = (start, cursor.at - start);
    }
    let tail_ok = if elements.is_empty() {
        tail == end
    } else {
        tail == previous_start
    };
    if cursor.at != end || !tail_ok || (count != u16::MAX && usize::from(count) != elements.len()) {
        return Err("a ziplist's tail or element count");
    }
    Ok(elements)
}

fn ziplist_entry<'a>(cursor: &mut Cursor<'a>) -> Result<Packed<'a>, PackedError> {
    const WHAT: PackedError = "a ziplist entry";
    let first = cursor.byte(WHAT)?;
    let length = match first >> 6 {
        0 => usize::from(first & 0x3f),
        1 => (usize::from(first & 0x3f) << 8) | usize::from(cursor.byte(WHAT)?),
        2 if first == 0x80 => {
            let bytes = cursor.take(4, WHAT)?;
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize
        }
        2 => return Err("a ziplist entry's encoding"),
        _ => {
            let value = match first {
                0xc0 => cursor.signed(2, WHAT)?,
                0xd0 => cursor.signed(4, WHAT)?,
                0xe0 => cursor.signed(8, WHAT)?,
                0xf0 => cursor.signed(3, WHAT)?,
                0xfe => cursor.signed(1, WHAT)?,
                0xf1..=0xfd => i64::from(first & 0x0f) - 1,
                _ => return Err("a ziplist entry's encoding"),
            };
            return Ok(Packed::Integer(value));
        }
    };
    Ok(Packed::Text(cursor.take(length, WHAT)?))
}

/// The integers of an intset, strictly increasing.
pub fn intset(blob: &[u8]) -> Result<Vec<i64>, PackedError> {
    const WHAT: PackedError = "an intset";
    let mut cursor = Cursor { bytes: blob, at: 0 };
    let width = cursor.u32_le(WHAT)? as usize;
    let count = cursor.u32_le(WHAT)? as usize;
    if ![2, 4, 8].contains(&width) || count.checked_mul(width) != Some(blob.len() - 8) {
        return Err("an intset's width or length");
    }
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let member = cursor.signed(width, WHAT)?;
        if members.last().is_some_and(|&last| last >= member) {
            return Err("an intset out of order");
        }
        members.push(member);
    }
    Ok(members)
}

/// The field-value pairs of a zipmap.
pub fn zipmap(blob: &[u8]) -> Result<Vec<(Bytes, Bytes)>, PackedError> {
    const WHAT: PackedError = "a zipmap";
    let mut cursor = Cursor { bytes: blob, at: 1 };
    if blob.is_empty() {
        return Err(WHAT);
    }
    let length = |cursor: &mut Cursor<'_>| -> Result<Option<usize>, PackedError> {
        Ok(match cursor.byte(WHAT)? {
            0xff => None,
            0xfe => Some(cursor.u32_le(WHAT)? as usize),
            byte => Some(usize::from(byte)),
        })
    };
    let mut pairs = Vec::new();
    while let Some(field_length) = length(&mut cursor)? {
        let field = Bytes::copy_from_slice(cursor.take(field_length, WHAT)?);
        let value_length = length(&mut cursor)?.ok_or("a zipmap field without a value")?;
        let free = usize::from(cursor.byte(WHAT)?);
        let value = Bytes::copy_from_slice(cursor.take(value_length, WHAT)?);
        cursor.take(free, WHAT)?;
        pairs.push((field, value));
    }
    if cursor.at != blob.len() {
        return Err("bytes after a zipmap's end");
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_listpack_reads_back() {
        let mut writer = ListpackWriter::default();
        let integers = [
            0,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -32768,
            32767,
            1 << 20,
            -(1 << 23),
            1 << 30,
            i64::MIN,
            i64::MAX,
        ];
        for value in integers {
            writer.integer(value);
        }
        let long = vec![b'x'; 5000];
        let medium = vec![b'y'; 200];
        for text in [&b""[..], b"abc", &medium, &long] {
            writer.text(text);
        }
        let blob = writer.finish();
        let elements = listpack(&blob).expect("a listpack");
        let expected: Vec<Packed<'_>> = integers
            .iter()
            .map(|&value| Packed::Integer(value))
            .chain([
                Packed::Text(b""),
                Packed::Text(b"abc"),
                Packed::Text(&medium),
                Packed::Text(&long),
            ])
            .collect();
        assert_eq!(elements, expected);
        for cut in 0..blob.len() {
            assert!(listpack(&blob[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_redis_ziplist_reads() {
        // RPUSH of "a", 12, 300 into a Redis 6 list: a ziplist holding a
        // 1-byte string, an immediate 12 and an int16 300.
        let blob = [
            0x14, 0, 0, 0, 0x0f, 0, 0, 0, 3, 0, // header: 20 bytes, tail at 15, 3 entries
            0x00, 0x01, b'a', // prevlen 0, 1-byte string
            0x03, 0xfd, // prevlen 3, immediate 12
            0x02, 0xc0, 0x2c, 0x01, // prevlen 2, int16 300
            0xff,
        ];
        assert_eq!(
            ziplist(&blob),
            Ok(vec![
                Packed::Text(b"a"),
                Packed::Integer(12),
                Packed::Integer(300)
            ])
        );
        let mut bad_tail = blob;
        bad_tail[4] = 0x0d;
        assert!(ziplist(&bad_tail).is_err());
    }

    #[test]
    fn intsets_and_zipmaps_read() {
        let blob = [2, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff, 5, 0];
        assert_eq!(intset(&blob), Ok(vec![-1, 5]));
        let unordered = [2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 5, 0];
        assert!(intset(&unordered).is_err());
        assert!(intset(&blob[..10]).is_err());
        // Redis's own example: foo => bar, hello => world.
        let map = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        assert_eq!(
            zipmap(map),
            Ok(vec![
                (Bytes::from_static(b"foo"), Bytes::from_static(b"bar")),
                (Bytes::from_static(b"hello"), Bytes::from_static(b"world")),
            ])
        );
        assert!(zipmap(&map[..map.len() - 1]).is_err());
    }
}

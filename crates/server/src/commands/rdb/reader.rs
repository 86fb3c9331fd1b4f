//! Reading the RDB value encoding (Redis's `rdb.c`): lengths, strings
//! (raw, integer-encoded, LZF-compressed) and doubles, bounds-checked,
//! with the offset of any failure.

use bytes::Bytes;

use super::super::dump_payload::PayloadError;
use super::lzf;

/// An RDB string's special encodings (length byte `11xxxxxx`).
const ENCODED_INT8: u64 = 0;
const ENCODED_INT16: u64 = 1;
const ENCODED_INT32: u64 = 2;
const ENCODED_LZF: u64 = 3;

/// A length or a special encoding.
enum Length {
    Plain(u64),
    Encoded(u64),
}

/// Reads an RDB value's body.
pub struct RdbReader<'a> {
    body: &'a [u8],
    offset: usize,
}

impl<'a> RdbReader<'a> {
    /// A reader at the start of `body`.
    pub fn new(body: &'a [u8]) -> RdbReader<'a> {
        RdbReader { body, offset: 0 }
    }

    /// A malformed-payload error at the current offset.
    pub fn error(&self, what: &'static str) -> PayloadError {
        PayloadError::Malformed {
            offset: self.offset,
            what,
        }
    }

    /// Where the next read starts.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Whether every byte was read.
    pub fn at_end(&self) -> bool {
        self.offset == self.body.len()
    }

    /// The next `length` bytes.
    pub fn take(&mut self, length: usize, what: &'static str) -> Result<&'a [u8], PayloadError> {
        let end = self
            .offset
            .checked_add(length)
            .filter(|&end| end <= self.body.len())
            .ok_or_else(|| self.error(what))?;
        let taken = &self.body[self.offset..end];
        self.offset = end;
        Ok(taken)
    }

    /// The next byte.
    pub fn byte(&mut self, what: &'static str) -> Result<u8, PayloadError> {
        Ok(self.take(1, what)?[0])
    }

    /// Eight bytes, little-endian (times, binary doubles).
    pub fn u64_le(&mut self, what: &'static str) -> Result<u64, PayloadError> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(word))
    }

    fn length_or_encoding(&mut self) -> Result<Length, PayloadError> {
        const WHAT: &str = "a length";
        let first = self.byte(WHAT)?;
        Ok(match first >> 6 {
            0 => Length::Plain(u64::from(first & 0x3f)),
            1 => Length::Plain((u64::from(first & 0x3f) << 8) | u64::from(self.byte(WHAT)?)),
            3 => Length::Encoded(u64::from(first & 0x3f)),
            _ if first == 0x80 => {
                let mut word = [0u8; 4];
                word.copy_from_slice(self.take(4, WHAT)?);
                Length::Plain(u64::from(u32::from_be_bytes(word)))
            }
            _ if first == 0x81 => {
                let mut word = [0u8; 8];
                word.copy_from_slice(self.take(8, WHAT)?);
                Length::Plain(u64::from_be_bytes(word))
            }
            _ => return Err(self.error("an unknown length encoding")),
        })
    }

    /// A plain length (an ID part, a count, a time-free integer).
    pub fn length(&mut self) -> Result<u64, PayloadError> {
        match self.length_or_encoding()? {
            Length::Plain(length) => Ok(length),
            Length::Encoded(_) => Err(self.error("a string encoding where a length belongs")),
        }
    }

    /// A count of items each at least `item_bytes` long: refused if the
    /// body cannot hold it, so nothing is allocated for a lie.
    pub fn count(&mut self, item_bytes: usize) -> Result<usize, PayloadError> {
        let count = self.length()?;
        let left = self.body.len() - self.offset;
        usize::try_from(count)
            .ok()
            .filter(|&count| count.saturating_mul(item_bytes) <= left)
            .ok_or_else(|| self.error("a count larger than the payload"))
    }

    /// A string, whatever its encoding.
    pub fn string(&mut self) -> Result<Bytes, PayloadError> {
        let encoding = match self.length_or_encoding()? {
            Length::Plain(length) => {
                let length =
                    usize::try_from(length).map_err(|_| self.error("a string's length"))?;
                return Ok(Bytes::copy_from_slice(self.take(length, "a string")?));
            }
            Length::Encoded(encoding) => encoding,
        };
        let integer = |bytes: &[u8]| {
            let mut word = [0u8; 8];
            word[..bytes.len()].copy_from_slice(bytes);
            let shift = 64 - 8 * bytes.len() as u32;
            Bytes::from(((i64::from_le_bytes(word) << shift) >> shift).to_string())
        };
        match encoding {
            ENCODED_INT8 => Ok(integer(self.take(1, "an 8-bit integer")?)),
            ENCODED_INT16 => Ok(integer(self.take(2, "a 16-bit integer")?)),
            ENCODED_INT32 => Ok(integer(self.take(4, "a 32-bit integer")?)),
            ENCODED_LZF => {
                let compressed = self.length()?;
                let length = self.length()?;
                let compressed =
                    usize::try_from(compressed).map_err(|_| self.error("an LZF length"))?;
                let length = usize::try_from(length).map_err(|_| self.error("an LZF length"))?;
                let start = self.offset;
                let input = self.take(compressed, "an LZF string")?;
                lzf::decompress(input, length)
                    .map(Bytes::from)
                    .ok_or(PayloadError::Malformed {
                        offset: start,
                        what: "an LZF string that does not decompress",
                    })
            }
            _ => Err(self.error("an unknown string encoding")),
        }
    }

    /// A double as text (RDB_TYPE_ZSET): a length byte, 253–255 for NaN,
    /// +inf and -inf.
    pub fn text_double(&mut self) -> Result<f64, PayloadError> {
        let value = match self.byte("a score")? {
            253 => f64::NAN,
            254 => f64::INFINITY,
            255 => f64::NEG_INFINITY,
            length => {
                let text = self.take(usize::from(length), "a score")?;
                parse_score(text).ok_or_else(|| self.error("a score that is not a number"))?
            }
        };
        Ok(value)
    }
}

/// A score written as text (`%.17g`, "inf", "-inf"), if it is a number.
pub fn parse_score(text: &[u8]) -> Option<f64> {
    let value: f64 = std::str::from_utf8(text).ok()?.trim().parse().ok()?;
    (!value.is_nan()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_strings_in_every_encoding() {
        let body = [
            0x05, // 6-bit length 5
            0x41, 0x2c, // 14-bit length 300
            0x80, 0, 1, 0, 0, // 32-bit length 65536
            0x81, 0, 0, 0, 1, 0, 0, 0, 0, // 64-bit length 2^32
        ];
        let mut reader = RdbReader::new(&body);
        for expected in [5, 300, 65536, 1 << 32] {
            assert_eq!(reader.length().ok(), Some(expected));
        }
        assert!(reader.at_end());
        let body = [
            0x03, b'a', b'b', b'c', // raw
            0xc0, 0xf6, // int8 -10
            0xc1, 0x39, 0x30, // int16 12345
            0xc2, 0xff, 0xff, 0xff, 0x7f, // int32 max
            0xc3, 0x06, 0x09, 0x02, b'a', b'b', b'c', 0x80, 0x02, // LZF "abcabcabc"
        ];
        let mut reader = RdbReader::new(&body);
        for expected in [&b"abc"[..], b"-10", b"12345", b"2147483647", b"abcabcabc"] {
            assert_eq!(reader.string().ok().as_deref(), Some(expected));
        }
        assert!(reader.at_end());
        assert!(RdbReader::new(&[0xc4]).string().is_err());
        assert!(RdbReader::new(&[0x82]).length().is_err());
        assert!(RdbReader::new(&[0x05, b'a']).string().is_err());
    }

    #[test]
    fn text_scores() {
        let body = [254, 255, 3, b'1', b'.', b'5', 3, b'n', b'a', b'n'];
        let mut reader = RdbReader::new(&body);
        assert_eq!(reader.text_double().ok(), Some(f64::INFINITY));
        assert_eq!(reader.text_double().ok(), Some(f64::NEG_INFINITY));
        assert_eq!(reader.text_double().ok(), Some(1.5));
        assert!(reader.text_double().is_err());
    }
}

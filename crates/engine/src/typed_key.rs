//! Order-preserving key encodings for typed keyspaces ([`Key`]): the
//! encoded keys sort, byte by byte, as the values do, so a range over
//! typed keys is a range of bytes (FoundationDB's tuple layer is the
//! model; keel's types are static, so no element carries a type code).
//!
//! | type | encoding |
//! |---|---|
//! | `u8` … `u128` | big-endian, fixed width |
//! | `i8` … `i128` | big-endian with the sign bit flipped (negatives first) |
//! | `bool` | one byte, 0 or 1 |
//! | `String`, `Vec<u8>` | the bytes with each `0x00` as `0x00 0xff`, then `0x00 0x01` |
//! | `Option<T>` | `0x00` for `None`; `0x01` then `T` |
//! | tuples of up to 5 | the elements' encodings in order |
//!
//! Every encoding is self-delimiting and no encoding is a proper prefix of
//! another of the same type, so a tuple sorts by its first element, then
//! its second, and so on. The terminator `0x00 0x01` sorts below an
//! escaped `0x00` (`0x00 0xff`) and below every other byte, keeping `"a"`
//! before `"a\0"` before `"a\x01"`; it is two bytes so that the element
//! after a string may start with any byte (elements carry no type code, as
//! FoundationDB's do).

/// A key stored in a typed keyspace: encoded so that the order of the
/// encodings is the order of the values (`Ord`).
pub trait Key: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode_key(&self, out: &mut Vec<u8>);

    /// Decodes one key from the front of `input`, advancing it past the
    /// key.
    ///
    /// # Errors
    /// [`DecodeError`] when `input` does not start with an encoding of
    /// this type.
    fn decode_key(input: &mut &[u8]) -> Result<Self, DecodeError>;
}

/// What may be given where a key of type `K` is wanted: `K` itself, a
/// reference to it, `&str` for `String`, `&[u8]` or a byte-string literal
/// for `Vec<u8>`, and tuples of these for tuples.
pub trait AsKey<K> {
    /// Appends the encoding of `self` as a `K` to `out`.
    fn encode_as_key(&self, out: &mut Vec<u8>);
}

impl<K, T: AsKey<K> + ?Sized> AsKey<K> for &T {
    fn encode_as_key(&self, out: &mut Vec<u8>) {
        (**self).encode_as_key(out);
    }
}

/// A stored key or value that does not decode as the keyspace's type: the
/// keyspace was written with other types, or the bytes are damaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bytes that are not a {type_name}: {problem}")]
pub struct DecodeError {
    /// The type being decoded.
    pub type_name: &'static str,
    /// What is wrong.
    pub problem: &'static str,
}

impl DecodeError {
    pub(crate) fn new(type_name: &'static str, problem: &'static str) -> DecodeError {
        DecodeError { type_name, problem }
    }
}

fn take<'a>(
    input: &mut &'a [u8],
    count: usize,
    type_name: &'static str,
) -> Result<&'a [u8], DecodeError> {
    if input.len() < count {
        return Err(DecodeError::new(type_name, "too short"));
    }
    let (taken, rest) = input.split_at(count);
    *input = rest;
    Ok(taken)
}

macro_rules! unsigned_key {
    ($($type:ty),*) => {$(
        impl Key for $type {
            fn encode_key(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }

            fn decode_key(input: &mut &[u8]) -> Result<Self, DecodeError> {
                let bytes = take(input, size_of::<$type>(), stringify!($type))?;
                let mut array = [0u8; size_of::<$type>()];
                array.copy_from_slice(bytes);
                Ok(<$type>::from_be_bytes(array))
            }
        }

        impl AsKey<$type> for $type {
            fn encode_as_key(&self, out: &mut Vec<u8>) {
                self.encode_key(out);
            }
        }
    )*};
}

unsigned_key!(u8, u16, u32, u64, u128);

macro_rules! signed_key {
    ($($type:ty => $unsigned:ty),*) => {$(
        impl Key for $type {
            fn encode_key(&self, out: &mut Vec<u8>) {
                // Flipping the sign bit maps MIN..=MAX onto 0..=MAX of the
                // unsigned type, in order.
                let flipped = (*self as $unsigned) ^ (1 << (<$unsigned>::BITS - 1));
                out.extend_from_slice(&flipped.to_be_bytes());
            }

            fn decode_key(input: &mut &[u8]) -> Result<Self, DecodeError> {
                let flipped = <$unsigned>::decode_key(input)
                    .map_err(|_| DecodeError::new(stringify!($type), "too short"))?;
                Ok((flipped ^ (1 << (<$unsigned>::BITS - 1))) as $type)
            }
        }

        impl AsKey<$type> for $type {
            fn encode_as_key(&self, out: &mut Vec<u8>) {
                self.encode_key(out);
            }
        }
    )*};
}

signed_key!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, i128 => u128);

impl Key for bool {
    fn encode_key(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }

    fn decode_key(input: &mut &[u8]) -> Result<Self, DecodeError> {
        match take(input, 1, "bool")? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(DecodeError::new("bool", "a byte other than 0 or 1")),
        }
    }
}

impl AsKey<bool> for bool {
    fn encode_as_key(&self, out: &mut Vec<u8>) {
        self.encode_key(out);
    }
}

/// A `0x00` inside a byte string is followed by [`ESCAPED`]; the string
/// ends with `0x00` followed by [`END`].
const ZERO: u8 = 0x00;
const ESCAPED: u8 = 0xff;
const END: u8 = 0x01;

fn encode_escaped(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() + 2);
    for &byte in bytes {
        out.push(byte);
        if byte == ZERO {
            out.push(ESCAPED);
        }
    }
    out.extend_from_slice(&[ZERO, END]);
}

fn decode_escaped(input: &mut &[u8], type_name: &'static str) -> Result<Vec<u8>, DecodeError> {
    let mut bytes = Vec::new();
    let mut at = 0;
    loop {
        match (input.get(at), input.get(at + 1)) {
            (Some(&ZERO), Some(&ESCAPED)) => {
                bytes.push(ZERO);
                at += 2;
            }
            (Some(&ZERO), Some(&END)) => {
                *input = &input[at + 2..];
                return Ok(bytes);
            }
            (Some(&ZERO), _) => return Err(DecodeError::new(type_name, "a bad escape")),
            (Some(&byte), _) => {
                bytes.push(byte);
                at += 1;
            }
            (None, _) => return Err(DecodeError::new(type_name, "no terminator")),
        }
    }
}

impl Key for Vec<u8> {
    fn encode_key(&self, out: &mut Vec<u8>) {
        encode_escaped(self, out);
    }

    fn decode_key(input: &mut &[u8]) -> Result<Self, DecodeError> {
        decode_escaped(input, "byte string")
    }
}

impl AsKey<Vec<u8>> for [u8] {
    fn encode_as_key(&self, out: &mut Vec<u8>) {
        encode_escaped(self, out);
    }
}

impl AsKey<Vec<u8>> for Vec<u8> {
    fn encode_as_key(&self, out: &mut Vec<u8>) {
        encode_escaped(self, out);
    }
}

impl<const N: usize> AsKey<Vec<u8>> for [u8; N] {
    fn encode_as_key(&self, out: &mut Vec<u8>) {
        encode_escaped(self, out);
    }
}

impl AsKey<Vec<u8>> for bytes::Bytes {
    fn encode_as_key(&self, out: &mut Vec<u8>) {
        encode_escaped(self, out);
    }
}

impl Key for String {
    fn encode_key(&self, out: &mut Vec<u8>) {
        encode_escaped(self.as_bytes(), out);
    }

    fn decode_key(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let bytes = decode_escaped(input, "String")?;
        String::from_utf8(bytes).map_err(|_| DecodeError::new("String", "not UTF-8"))
    }
}

impl AsKey<String> for str {
    fn encode_as_key(&self, out: &mut Vec<u8>) {
        encode_escaped(self.as_bytes(), out);
    }
}

impl AsKey<String> for String {
    fn encode_as_key(&self, out: &mut Vec<u8>) {
        encode_escaped(self.as_bytes(), out);
    }
}

impl<T: Key> Key for Option<T> {
    fn encode_key(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.encode_key(out);
            }
        }
    }

    fn decode_key(input: &mut &[u8]) -> Result<Self, DecodeError> {
        match take(input, 1, "Option")? {
            [0] => Ok(None),
            [1] => Ok(Some(T::decode_key(input)?)),
            _ => Err(DecodeError::new("Option", "a tag other than 0 or 1")),
        }
    }
}

impl<T: Key, Q: AsKey<T>> AsKey<Option<T>> for Option<Q> {
    fn encode_as_key(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.encode_as_key(out);
            }
        }
    }
}

macro_rules! tuple_key {
    ($(($($name:ident $as:ident $index:tt),+))*) => {$(
        impl<$($name: Key),+> Key for ($($name,)+) {
            fn encode_key(&self, out: &mut Vec<u8>) {
                $(self.$index.encode_key(out);)+
            }

            fn decode_key(input: &mut &[u8]) -> Result<Self, DecodeError> {
                Ok(($($name::decode_key(input)?,)+))
            }
        }

        impl<$($name: Key, $as: AsKey<$name>),+> AsKey<($($name,)+)> for ($($as,)+) {
            fn encode_as_key(&self, out: &mut Vec<u8>) {
                $(self.$index.encode_as_key(out);)+
            }
        }
    )*};
}

tuple_key! {
    (A QA 0)
    (A QA 0, B QB 1)
    (A QA 0, B QB 1, C QC 2)
    (A QA 0, B QB 1, C QC 2, D QD 3)
    (A QA 0, B QB 1, C QC 2, D QD 3, E QE 4)
}

/// The encoding of `key` as a `K`.
pub(crate) fn encode<K, Q: AsKey<K> + ?Sized>(key: &Q) -> Vec<u8> {
    let mut out = Vec::new();
    key.encode_as_key(&mut out);
    out
}

/// Decodes a whole stored key: nothing may follow it.
pub(crate) fn decode_whole<K: Key>(bytes: &[u8]) -> Result<K, DecodeError> {
    let mut input = bytes;
    let key = K::decode_key(&mut input)?;
    if !input.is_empty() {
        return Err(DecodeError::new(
            std::any::type_name::<K>(),
            "bytes left after the key",
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<K: Key + PartialEq + std::fmt::Debug>(key: K) {
        let mut bytes = Vec::new();
        key.encode_key(&mut bytes);
        assert_eq!(decode_whole::<K>(&bytes), Ok(key));
    }

    #[test]
    fn each_type_round_trips() {
        round_trip(0u8);
        round_trip(u64::MAX);
        round_trip(i32::MIN);
        round_trip(-1i64);
        round_trip(true);
        round_trip(String::from("a\0b\0"));
        round_trip(vec![0u8, 0xff, 0, 0]);
        round_trip(Some((7u16, String::from("x"))));
        round_trip((1u8, -2i16, String::new(), vec![0u8], None::<u32>));
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(decode_whole::<u32>(&[1, 2]).is_err());
        assert!(decode_whole::<String>(b"abc").is_err());
        assert!(decode_whole::<String>(&[0xc3, 0x28, 0, 1]).is_err());
        assert!(decode_whole::<String>(&[b'a', 0, 7]).is_err());
        assert!(decode_whole::<bool>(&[2]).is_err());
        assert!(decode_whole::<u8>(&[1, 2]).is_err());
    }

    #[test]
    fn borrowed_forms_encode_as_the_owned_type() {
        assert_eq!(
            encode::<String, _>("ab"),
            encode::<String, _>(&String::from("ab"))
        );
        assert_eq!(encode::<Vec<u8>, _>(b"a\0"), vec![b'a', 0, 0xff, 0, 1]);
        assert_eq!(
            encode::<(u32, String), _>(&(5u32, "x")),
            [0, 0, 0, 5, b'x', 0, 1]
        );
    }
}

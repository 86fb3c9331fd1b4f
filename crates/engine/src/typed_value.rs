//! Values of typed keyspaces ([`Value`]): a small trait for turning a
//! value into bytes and back. Integers are little-endian and fixed width,
//! strings UTF-8, byte strings as they are; implement it for your own
//! types (with the serializer of your choice).

use bytes::Bytes;

use crate::typed_key::DecodeError;

/// A value stored in a typed keyspace.
///
/// ```
/// use keel::{Bytes, DecodeError, Value};
///
/// #[derive(Debug, PartialEq)]
/// struct Point { x: i32, y: i32 }
///
/// impl Value for Point {
///     fn encode_value(&self) -> Bytes {
///         let mut bytes = Vec::with_capacity(8);
///         bytes.extend_from_slice(&self.x.to_le_bytes());
///         bytes.extend_from_slice(&self.y.to_le_bytes());
///         Bytes::from(bytes)
///     }
///     fn decode_value(bytes: Bytes) -> Result<Point, DecodeError> {
///         let x = i32::decode_value(bytes.slice(..4.min(bytes.len())))?;
///         let y = i32::decode_value(bytes.slice(4.min(bytes.len())..))?;
///         Ok(Point { x, y })
///     }
/// }
///
/// let point = Point { x: -1, y: 2 };
/// assert_eq!(Point::decode_value(point.encode_value()), Ok(point));
/// ```
pub trait Value: Sized {
    /// The bytes to store.
    fn encode_value(&self) -> Bytes;

    /// The value stored as `bytes`.
    ///
    /// # Errors
    /// [`DecodeError`] when `bytes` do not hold a value of this type.
    fn decode_value(bytes: Bytes) -> Result<Self, DecodeError>;
}

/// What may be given where a value of type `V` is wanted: `V` itself, a
/// reference to it, `&str` for `String`, `&[u8]` or a byte-string literal
/// for `Vec<u8>`.
pub trait AsValue<V> {
    /// The bytes to store for `self` as a `V`.
    fn value_bytes(&self) -> Bytes;
}

impl<V, T: AsValue<V> + ?Sized> AsValue<V> for &T {
    fn value_bytes(&self) -> Bytes {
        (**self).value_bytes()
    }
}

macro_rules! integer_value {
    ($($type:ty),*) => {$(
        impl Value for $type {
            fn encode_value(&self) -> Bytes {
                Bytes::copy_from_slice(&self.to_le_bytes())
            }

            fn decode_value(bytes: Bytes) -> Result<Self, DecodeError> {
                let array = <[u8; size_of::<$type>()]>::try_from(bytes.as_ref())
                    .map_err(|_| DecodeError::new(stringify!($type), "wrong length"))?;
                Ok(<$type>::from_le_bytes(array))
            }
        }

        impl AsValue<$type> for $type {
            fn value_bytes(&self) -> Bytes {
                self.encode_value()
            }
        }
    )*};
}

integer_value!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128);

impl Value for bool {
    fn encode_value(&self) -> Bytes {
        Bytes::copy_from_slice(&[u8::from(*self)])
    }

    fn decode_value(bytes: Bytes) -> Result<Self, DecodeError> {
        match bytes.as_ref() {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(DecodeError::new("bool", "not one byte of 0 or 1")),
        }
    }
}

impl AsValue<bool> for bool {
    fn value_bytes(&self) -> Bytes {
        self.encode_value()
    }
}

impl Value for String {
    fn encode_value(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }

    fn decode_value(bytes: Bytes) -> Result<Self, DecodeError> {
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::new("String", "not UTF-8"))
    }
}

impl AsValue<String> for str {
    fn value_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}

impl AsValue<String> for String {
    fn value_bytes(&self) -> Bytes {
        self.encode_value()
    }
}

impl Value for Vec<u8> {
    fn encode_value(&self) -> Bytes {
        Bytes::copy_from_slice(self)
    }

    fn decode_value(bytes: Bytes) -> Result<Self, DecodeError> {
        Ok(bytes.to_vec())
    }
}

impl AsValue<Vec<u8>> for [u8] {
    fn value_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl AsValue<Vec<u8>> for Vec<u8> {
    fn value_bytes(&self) -> Bytes {
        self.encode_value()
    }
}

impl<const N: usize> AsValue<Vec<u8>> for [u8; N] {
    fn value_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

/// `Bytes` values are stored and read back without a copy.
impl Value for Bytes {
    fn encode_value(&self) -> Bytes {
        self.clone()
    }

    fn decode_value(bytes: Bytes) -> Result<Self, DecodeError> {
        Ok(bytes)
    }
}

impl AsValue<Bytes> for Bytes {
    fn value_bytes(&self) -> Bytes {
        self.clone()
    }
}

impl AsValue<Bytes> for [u8] {
    fn value_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

/// The unit value: a keyspace used as a set of keys.
impl Value for () {
    fn encode_value(&self) -> Bytes {
        Bytes::new()
    }

    fn decode_value(bytes: Bytes) -> Result<Self, DecodeError> {
        if bytes.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::new("()", "not empty"))
        }
    }
}

impl AsValue<()> for () {
    fn value_bytes(&self) -> Bytes {
        Bytes::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_reject_bad_bytes() {
        assert_eq!(u32::decode_value(7u32.encode_value()), Ok(7));
        assert_eq!(i64::decode_value((-3i64).encode_value()), Ok(-3));
        assert_eq!(
            String::decode_value("héllo".value_bytes()),
            Ok("héllo".to_string())
        );
        assert_eq!(
            Vec::<u8>::decode_value(b"ab".value_bytes()),
            Ok(b"ab".to_vec())
        );
        assert!(u32::decode_value(Bytes::from_static(b"abc")).is_err());
        assert!(String::decode_value(Bytes::from_static(&[0xff])).is_err());
        assert!(bool::decode_value(Bytes::from_static(&[2])).is_err());
        assert!(<()>::decode_value(Bytes::from_static(&[0])).is_err());
    }
}

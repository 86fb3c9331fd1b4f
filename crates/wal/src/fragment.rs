//! Framing: a record's payload is cut into fragments, each with its own
//! CRC32C, so a torn tail is detected and a record may be far larger than a
//! segment (it continues in the next one).
//!
//! ```text
//! offset size field
//!      0    4 CRC32C of bytes 4..28 and the payload, seeded with the
//!             segment's salt (so a fragment is valid only in its segment)
//!      4    4 payload length: u32, at most FRAGMENT_PAYLOAD_BYTES_MAX
//!      8    1 kind: 1 full, 2 first, 3 middle, 4 last (0 never: zeroed
//!             space is not a fragment)
//!      9    3 reserved, zero
//!     12    8 lsn: the record's log sequence number
//!     20    8 durable_before: every record with a smaller lsn was durable
//!             when this one was appended
//!     28    n payload
//!   28+n    p zero padding to the next multiple of 8
//! ```

use crate::lsn::Lsn;

/// Bytes of a fragment header.
pub const FRAGMENT_HEADER_BYTES: usize = 28;
/// The most payload one fragment carries; larger records are split.
pub const FRAGMENT_PAYLOAD_BYTES_MAX: usize = 1 << 20;
/// Fragments start at multiples of this within a segment.
pub const FRAGMENT_ALIGN_BYTES: usize = 8;

const CHECKSUM_OFFSET: usize = 0;
const LENGTH_OFFSET: usize = CHECKSUM_OFFSET + 4;
const KIND_OFFSET: usize = LENGTH_OFFSET + 4;
const RESERVED_OFFSET: usize = KIND_OFFSET + 1;
const LSN_OFFSET: usize = RESERVED_OFFSET + 3;
const DURABLE_BEFORE_OFFSET: usize = LSN_OFFSET + 8;
const _: () = assert!(DURABLE_BEFORE_OFFSET + 8 == FRAGMENT_HEADER_BYTES);
const _: () = assert!(FRAGMENT_HEADER_BYTES.is_multiple_of(4));
const _: () = assert!(FRAGMENT_PAYLOAD_BYTES_MAX <= u32::MAX as usize);

/// Where a fragment sits in its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentKind {
    /// The whole record.
    Full = 1,
    /// The first piece of a split record.
    First = 2,
    /// A piece that is neither first nor last.
    Middle = 3,
    /// The last piece.
    Last = 4,
    /// No record: the segment ends here, and the log goes on at the
    /// fragment's lsn in the next segment. Written (no payload) once the
    /// next segment exists, so a seal whose next segment is missing is
    /// damage, never a crash.
    Seal = 5,
}

impl FragmentKind {
    fn from_byte(byte: u8) -> Option<FragmentKind> {
        match byte {
            1 => Some(FragmentKind::Full),
            2 => Some(FragmentKind::First),
            3 => Some(FragmentKind::Middle),
            4 => Some(FragmentKind::Last),
            5 => Some(FragmentKind::Seal),
            _ => None,
        }
    }

    /// Whether a record starts with this fragment.
    pub fn starts_record(self) -> bool {
        matches!(self, FragmentKind::Full | FragmentKind::First)
    }

    /// Whether a record ends with this fragment.
    pub fn ends_record(self) -> bool {
        matches!(self, FragmentKind::Full | FragmentKind::Last)
    }
}

/// A fragment header whose fields are in range (its checksum is checked
/// separately, once the payload is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentHeader {
    /// The stored checksum.
    pub checksum: u32,
    /// Payload bytes.
    pub payload_bytes: usize,
    /// Position in the record.
    pub kind: FragmentKind,
    /// The record's lsn.
    pub lsn: Lsn,
    /// Every record before this lsn was durable when this one was appended.
    pub durable_before: Lsn,
}

/// What a header's bytes hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderBytes {
    /// All zeros: unwritten (preallocated) space.
    Zero,
    /// A plausible header.
    Header(FragmentHeader),
    /// Neither: damaged or torn.
    Invalid,
}

/// The checksum seed of a segment, from its first lsn.
pub fn segment_salt(first_lsn: Lsn) -> u32 {
    let mut seed = [0u8; 12];
    seed[..4].copy_from_slice(b"KWAL");
    seed[4..].copy_from_slice(&first_lsn.0.to_le_bytes());
    crc32c::crc32c(&seed)
}

/// Bytes a seal occupies: a segment keeps this much room for one.
pub const SEAL_SPAN_BYTES: usize = fragment_span(0);

/// Bytes a fragment with `payload_bytes` of payload occupies, padding
/// included.
pub const fn fragment_span(payload_bytes: usize) -> usize {
    (FRAGMENT_HEADER_BYTES + payload_bytes).next_multiple_of(FRAGMENT_ALIGN_BYTES)
}

/// Appends one fragment (header, payload, padding) to `out`.
pub fn encode_fragment(
    out: &mut Vec<u8>,
    salt: u32,
    kind: FragmentKind,
    lsn: Lsn,
    durable_before: Lsn,
    payload: &[u8],
) {
    let header = FragmentFields {
        salt,
        kind,
        lsn,
        durable_before,
    };
    encode_fragment_with(out, header, payload.len(), |out| {
        out.extend_from_slice(payload)
    });
}

/// A fragment's header fields, but for its length and checksum.
#[derive(Debug, Clone, Copy)]
pub struct FragmentFields {
    /// The segment's salt, seeding the checksum.
    pub salt: u32,
    /// Where the fragment sits in its record.
    pub kind: FragmentKind,
    /// The record's lsn.
    pub lsn: Lsn,
    /// Every record before this lsn was durable when it was appended.
    pub durable_before: Lsn,
}

/// Appends one fragment whose `payload_bytes` of payload `write_payload`
/// appends to `out` itself, in place (no payload copy): header, payload,
/// padding, the checksum computed over what was written.
///
/// Panics if `write_payload` appends other than `payload_bytes`.
pub fn encode_fragment_with(
    out: &mut Vec<u8>,
    fields: FragmentFields,
    payload_bytes: usize,
    write_payload: impl FnOnce(&mut Vec<u8>),
) {
    assert!(payload_bytes <= FRAGMENT_PAYLOAD_BYTES_MAX);
    let start = out.len();
    let span = fragment_span(payload_bytes);
    out.reserve(span);
    out.resize(start + FRAGMENT_HEADER_BYTES, 0);
    write_payload(out);
    assert_eq!(
        out.len() - start - FRAGMENT_HEADER_BYTES,
        payload_bytes,
        "the payload written is the length announced"
    );
    out.resize(start + span, 0);
    let fragment = &mut out[start..start + span];
    let (header, rest) = fragment.split_at_mut(FRAGMENT_HEADER_BYTES);
    header.copy_from_slice(&fragment_header(fields, &[&rest[..payload_bytes]]));
}

/// The header of a fragment whose payload is `pieces`, in order (at most
/// [`FRAGMENT_PAYLOAD_BYTES_MAX`] bytes in all), for a payload written
/// apart from its header; padding to [`fragment_span`] follows the payload.
pub fn fragment_header(fields: FragmentFields, pieces: &[&[u8]]) -> [u8; FRAGMENT_HEADER_BYTES] {
    let payload_bytes: usize = pieces.iter().map(|piece| piece.len()).sum();
    assert!(payload_bytes <= FRAGMENT_PAYLOAD_BYTES_MAX);
    let mut header = [0u8; FRAGMENT_HEADER_BYTES];
    header[LENGTH_OFFSET..KIND_OFFSET].copy_from_slice(&(payload_bytes as u32).to_le_bytes());
    header[KIND_OFFSET] = fields.kind as u8;
    header[LSN_OFFSET..DURABLE_BEFORE_OFFSET].copy_from_slice(&fields.lsn.0.to_le_bytes());
    header[DURABLE_BEFORE_OFFSET..].copy_from_slice(&fields.durable_before.0.to_le_bytes());
    let checksum = pieces.iter().fold(
        crc32c::crc32c_append(fields.salt, &header[LENGTH_OFFSET..]),
        |checksum, piece| crc32c::crc32c_append(checksum, piece),
    );
    header[..LENGTH_OFFSET].copy_from_slice(&checksum.to_le_bytes());
    header
}

/// The seal of the segment whose checksums use `salt`: the log goes on at
/// `next_lsn` in the next segment.
pub fn encode_seal(salt: u32, next_lsn: Lsn, durable_before: Lsn) -> Vec<u8> {
    let mut seal = Vec::with_capacity(SEAL_SPAN_BYTES);
    encode_fragment(
        &mut seal,
        salt,
        FragmentKind::Seal,
        next_lsn,
        durable_before,
        &[],
    );
    seal
}

/// Reads a header's fields; says whether they are zero, plausible or not.
pub fn decode_header(bytes: &[u8; FRAGMENT_HEADER_BYTES]) -> HeaderBytes {
    if bytes.iter().all(|&b| b == 0) {
        return HeaderBytes::Zero;
    }
    let field = |range: std::ops::Range<usize>| -> u64 {
        let mut raw = [0u8; 8];
        raw[..range.len()].copy_from_slice(&bytes[range]);
        u64::from_le_bytes(raw)
    };
    let payload_bytes = field(LENGTH_OFFSET..KIND_OFFSET) as usize;
    let Some(kind) = FragmentKind::from_byte(bytes[KIND_OFFSET]) else {
        return HeaderBytes::Invalid;
    };
    if payload_bytes > FRAGMENT_PAYLOAD_BYTES_MAX
        || bytes[RESERVED_OFFSET..LSN_OFFSET] != [0, 0, 0]
        || (kind == FragmentKind::Seal && payload_bytes != 0)
    {
        return HeaderBytes::Invalid;
    }
    HeaderBytes::Header(FragmentHeader {
        checksum: field(CHECKSUM_OFFSET..LENGTH_OFFSET) as u32,
        payload_bytes,
        kind,
        lsn: Lsn(field(LSN_OFFSET..DURABLE_BEFORE_OFFSET)),
        durable_before: Lsn(field(DURABLE_BEFORE_OFFSET..FRAGMENT_HEADER_BYTES)),
    })
}

/// Whether the checksum of a fragment holds.
pub fn checksum_holds(
    salt: u32,
    header: &[u8; FRAGMENT_HEADER_BYTES],
    checksum: u32,
    payload: &[u8],
) -> bool {
    let computed = crc32c::crc32c_append(
        crc32c::crc32c_append(salt, &header[LENGTH_OFFSET..]),
        payload,
    );
    computed == checksum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fragment_round_trips_and_every_bit_flip_is_caught() {
        let salt = segment_salt(Lsn(42));
        let mut out = Vec::new();
        encode_fragment(
            &mut out,
            salt,
            FragmentKind::First,
            Lsn(43),
            Lsn(40),
            b"payload!!",
        );
        assert_eq!(out.len(), fragment_span(9));
        assert_eq!(out.len() % FRAGMENT_ALIGN_BYTES, 0);
        let header: [u8; FRAGMENT_HEADER_BYTES] = out[..FRAGMENT_HEADER_BYTES].try_into().unwrap();
        let HeaderBytes::Header(decoded) = decode_header(&header) else {
            panic!("valid header rejected");
        };
        assert_eq!(decoded.kind, FragmentKind::First);
        assert_eq!(decoded.lsn, Lsn(43));
        assert_eq!(decoded.durable_before, Lsn(40));
        let payload = &out[FRAGMENT_HEADER_BYTES..FRAGMENT_HEADER_BYTES + 9];
        assert!(checksum_holds(salt, &header, decoded.checksum, payload));
        assert!(!checksum_holds(
            segment_salt(Lsn(41)),
            &header,
            decoded.checksum,
            payload
        ));

        for bit in 0..(FRAGMENT_HEADER_BYTES + 9) * 8 {
            let mut damaged = out.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let header: [u8; FRAGMENT_HEADER_BYTES] =
                damaged[..FRAGMENT_HEADER_BYTES].try_into().unwrap();
            match decode_header(&header) {
                HeaderBytes::Header(h) => {
                    let payload_end = (FRAGMENT_HEADER_BYTES + h.payload_bytes).min(damaged.len());
                    let payload = &damaged[FRAGMENT_HEADER_BYTES..payload_end];
                    assert!(
                        !checksum_holds(salt, &header, h.checksum, payload),
                        "bit {bit}"
                    );
                }
                HeaderBytes::Zero | HeaderBytes::Invalid => {}
            }
        }
    }

    proptest::proptest! {
        /// What makes recycling safe: a fragment checksummed under one salt
        /// never holds under another, whatever its bytes (CRC32C is affine
        /// in its seed, with an invertible linear part). So a recycled
        /// segment, whose salt differs from every earlier one of its file,
        /// never takes an old fragment for a record.
        #[test]
        fn a_fragment_never_holds_under_another_salt(
            salt in proptest::prelude::any::<u32>(),
            other in proptest::prelude::any::<u32>(),
            lsn in proptest::prelude::any::<u64>(),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
        ) {
            proptest::prop_assume!(salt != other);
            let mut out = Vec::new();
            encode_fragment(&mut out, salt, FragmentKind::Full, Lsn(lsn), Lsn(lsn), &payload);
            let header: [u8; FRAGMENT_HEADER_BYTES] =
                out[..FRAGMENT_HEADER_BYTES].try_into().unwrap();
            let HeaderBytes::Header(decoded) = decode_header(&header) else {
                panic!("valid header rejected");
            };
            let body = &out[FRAGMENT_HEADER_BYTES..FRAGMENT_HEADER_BYTES + payload.len()];
            proptest::prop_assert!(checksum_holds(salt, &header, decoded.checksum, body));
            proptest::prop_assert!(!checksum_holds(other, &header, decoded.checksum, body));
        }
    }

    /// The same for salts one apart (a file's consecutive lives), over
    /// every seal and short fragment of a range of lsns.
    #[test]
    fn consecutive_salts_never_share_a_checksum() {
        for salt in [0u32, 1, 0x7FFF_FFFF, u32::MAX, segment_salt(Lsn(9))] {
            let next = salt.wrapping_add(1);
            for lsn in 0..2000u64 {
                let seal = encode_seal(salt, Lsn(lsn), Lsn(lsn));
                let header: [u8; FRAGMENT_HEADER_BYTES] =
                    seal[..FRAGMENT_HEADER_BYTES].try_into().unwrap();
                let HeaderBytes::Header(decoded) = decode_header(&header) else {
                    panic!("valid seal rejected");
                };
                assert!(checksum_holds(salt, &header, decoded.checksum, &[]));
                assert!(!checksum_holds(next, &header, decoded.checksum, &[]));
            }
        }
    }

    #[test]
    fn zeroed_space_is_not_a_fragment() {
        assert_eq!(
            decode_header(&[0; FRAGMENT_HEADER_BYTES]),
            HeaderBytes::Zero
        );
        let mut kind_zero = [0u8; FRAGMENT_HEADER_BYTES];
        kind_zero[0] = 1;
        assert_eq!(decode_header(&kind_zero), HeaderBytes::Invalid);
    }
}

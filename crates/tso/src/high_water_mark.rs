//! The high-water-mark file of [`LocalOracle`](crate::LocalOracle): a bound
//! persisted *ahead* of every timestamp the oracle hands out, so that after
//! a crash it resumes above everything it issued.
//!
//! # Format (version 1)
//!
//! The file is [`FILE_BYTES`] = 1024 bytes: two slots of [`SLOT_BYTES`] =
//! 512 bytes, slot 0 at offset 0 and slot 1 at offset 512. Writes alternate
//! between the slots, so a torn write of one slot leaves the other intact;
//! a slot is one 512-byte sector. All integers are little-endian.
//!
//! ```text
//! offset  size  field
//!      0     4  magic: the bytes "KTSO" (u32 LE 0x4F53544B)
//!      4     2  format version: u16, 1
//!      6     2  reserved: u16, 0
//!      8     8  sequence: u64, 1 for the first write of the file, +1 per write
//!     16     8  high-water mark: u64, a Timestamp's raw value
//!                 (physical ms since the Unix epoch << 16 | logical)
//!     24     4  CRC32C (Castagnoli) of bytes 0..24 of the slot: u32
//!     28   484  zero padding (not covered by the CRC, not checked)
//! ```
//!
//! Reading: the valid slot (magic and CRC hold) with the larger sequence
//! wins. An empty or all-zero file was created but never written: a fresh
//! start. A file with no valid slot, or longer than two slots, is corrupt.
//! A slot whose magic and CRC hold but whose version or reserved field is
//! unknown makes the whole file unreadable rather than being skipped: it was
//! written by a newer keel, and skipping it could resume below its mark.
//!
//! Writing: the slot that did not win (or slot 0 in a fresh file) gets the
//! next sequence, then `sync_data`; the winning slot is never overwritten.

use std::fmt;

use keel_io::FileHandle;

use crate::timestamp::Timestamp;

/// The four bytes every slot starts with.
pub const MAGIC: [u8; 4] = *b"KTSO";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes of one slot: one disk sector, so a torn write keeps or loses it
/// whole.
pub const SLOT_BYTES: usize = 512;
/// How many slots the file holds.
pub const SLOT_COUNT: usize = 2;
/// Bytes of the whole file.
pub const FILE_BYTES: usize = SLOT_BYTES * SLOT_COUNT;

/// Offset of the magic within a slot.
pub const MAGIC_OFFSET: usize = 0;
/// Offset of the format version within a slot.
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + size_of::<u32>();
/// Offset of the reserved field within a slot.
pub const RESERVED_OFFSET: usize = VERSION_OFFSET + size_of::<u16>();
/// Offset of the sequence within a slot.
pub const SEQUENCE_OFFSET: usize = RESERVED_OFFSET + size_of::<u16>();
/// Offset of the high-water mark within a slot.
pub const MARK_OFFSET: usize = SEQUENCE_OFFSET + size_of::<u64>();
/// Offset of the CRC32C within a slot; the CRC covers the bytes before it.
pub const CHECKSUM_OFFSET: usize = MARK_OFFSET + Timestamp::BYTES;
/// Bytes of a slot in use; the rest is zero padding.
pub const PAYLOAD_BYTES: usize = CHECKSUM_OFFSET + size_of::<u32>();

const _: () = assert!(MAGIC.len() == size_of::<u32>());
const _: () = assert!(Timestamp::BYTES == size_of::<u64>());
const _: () = assert!(VERSION_OFFSET == 4 && RESERVED_OFFSET == 6 && SEQUENCE_OFFSET == 8);
const _: () = assert!(MARK_OFFSET == 16 && CHECKSUM_OFFSET == 24 && PAYLOAD_BYTES == 28);
const _: () = assert!(PAYLOAD_BYTES <= SLOT_BYTES);
// A slot must be exactly one simulated (and real, 512e) sector: sectors are
// the unit a torn write keeps or loses.
const _: () = assert!(SLOT_BYTES as u64 == keel_io::SECTOR_BYTES);
const _: () = assert!(SLOT_COUNT == 2 && FILE_BYTES == 1024);

/// The mark read from a high-water-mark file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HighWaterMark {
    /// Every timestamp issued before the file was read is below this one.
    pub timestamp: Timestamp,
    /// The sequence of the slot it was read from.
    pub sequence: u64,
    /// The slot it was read from (0 or 1).
    pub slot: usize,
}

/// Why one slot of a high-water-mark file is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SlotProblem {
    /// The file ends before the slot does.
    Truncated {
        /// Bytes of the slot present in the file.
        present_bytes: usize,
    },
    /// Every byte of the slot is zero: it was never written.
    NeverWritten,
    /// The slot does not start with [`MAGIC`].
    BadMagic {
        /// The first four bytes of the slot.
        found: [u8; 4],
    },
    /// The stored CRC32C does not match the slot's bytes.
    ChecksumMismatch {
        /// The CRC stored in the slot.
        stored: u32,
        /// The CRC of the slot's bytes.
        computed: u32,
    },
}

impl fmt::Display for SlotProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotProblem::Truncated { present_bytes } => {
                write!(
                    f,
                    "truncated: {present_bytes} of {SLOT_BYTES} bytes present"
                )
            }
            SlotProblem::NeverWritten => f.write_str("all zero, never written"),
            SlotProblem::BadMagic { found } => {
                write!(f, "bad magic {found:02x?}, expected {MAGIC:02x?}")
            }
            SlotProblem::ChecksumMismatch { stored, computed } => {
                write!(
                    f,
                    "CRC32C mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
        }
    }
}

/// Why a high-water-mark file could not be decoded. Every variant names the
/// slot (and so the byte range) it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The file is longer than two slots; this format never writes there.
    #[error("the file is {length_bytes} bytes long, more than the {FILE_BYTES} bytes of two slots")]
    FileTooLong {
        /// The length of the file.
        length_bytes: u64,
    },
    /// Neither slot holds a valid mark.
    #[error(
        "no valid slot: slot 0 (bytes 0..{SLOT_BYTES}): {}; slot 1 (bytes {SLOT_BYTES}..{FILE_BYTES}): {}",
        slots[0],
        slots[1]
    )]
    NoValidSlot {
        /// What is wrong with each slot, by slot index.
        slots: [SlotProblem; SLOT_COUNT],
    },
    /// A slot with a valid magic and CRC has a format version this code does
    /// not know.
    #[error("slot {slot} (bytes at offset {offset}) has format version {version}; this keel reads version {FORMAT_VERSION}", offset = slot * SLOT_BYTES)]
    UnsupportedVersion {
        /// The slot.
        slot: usize,
        /// The version it holds.
        version: u16,
    },
    /// A slot with a valid magic and CRC has a non-zero reserved field.
    #[error("slot {slot} (bytes at offset {offset}) has reserved field {reserved:#06x}, expected 0", offset = slot * SLOT_BYTES)]
    NonZeroReserved {
        /// The slot.
        slot: usize,
        /// The value of the reserved field.
        reserved: u16,
    },
}

/// The contents of a valid slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SlotContents {
    sequence: u64,
    mark: Timestamp,
}

/// Encodes one slot.
///
/// ```
/// use keel_tso::Timestamp;
/// use keel_tso::high_water_mark::{FILE_BYTES, SLOT_BYTES, encode_slot};
///
/// let mut file = vec![0; FILE_BYTES];
/// file[..SLOT_BYTES].copy_from_slice(&encode_slot(1, Timestamp::from_u64(42)));
/// let mark = keel_tso::decode_high_water_mark(&file)?.unwrap();
/// assert_eq!((mark.timestamp, mark.sequence, mark.slot), (Timestamp::from_u64(42), 1, 0));
/// # Ok::<(), keel_tso::DecodeError>(())
/// ```
pub fn encode_slot(sequence: u64, mark: Timestamp) -> [u8; SLOT_BYTES] {
    let mut slot = [0; SLOT_BYTES];
    slot[MAGIC_OFFSET..VERSION_OFFSET].copy_from_slice(&MAGIC);
    slot[VERSION_OFFSET..RESERVED_OFFSET].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    slot[RESERVED_OFFSET..SEQUENCE_OFFSET].copy_from_slice(&0_u16.to_le_bytes());
    slot[SEQUENCE_OFFSET..MARK_OFFSET].copy_from_slice(&sequence.to_le_bytes());
    slot[MARK_OFFSET..CHECKSUM_OFFSET].copy_from_slice(&mark.to_le_bytes());
    let checksum = crc32c::crc32c(&slot[..CHECKSUM_OFFSET]);
    slot[CHECKSUM_OFFSET..PAYLOAD_BYTES].copy_from_slice(&checksum.to_le_bytes());
    slot
}

/// Little-endian integers at fixed offsets of a slot that is known to be
/// [`SLOT_BYTES`] long; the constant offsets are in range by the asserts
/// above, and `first_chunk` keeps this panic-free regardless.
fn read_array<const N: usize>(slot: &[u8; SLOT_BYTES], offset: usize) -> [u8; N] {
    slot.get(offset..)
        .and_then(|rest| rest.first_chunk::<N>())
        .copied()
        .unwrap_or([0; N])
}

/// Decodes one slot: `Ok(Err(problem))` for a slot to ignore,
/// `Err` for a slot that makes the whole file unreadable.
fn decode_slot(
    slot_index: usize,
    slot: &[u8; SLOT_BYTES],
) -> Result<Result<SlotContents, SlotProblem>, DecodeError> {
    let magic: [u8; 4] = read_array(slot, MAGIC_OFFSET);
    if magic != MAGIC {
        if slot.iter().all(|byte| *byte == 0) {
            return Ok(Err(SlotProblem::NeverWritten));
        }
        return Ok(Err(SlotProblem::BadMagic { found: magic }));
    }
    let stored = u32::from_le_bytes(read_array(slot, CHECKSUM_OFFSET));
    let computed = crc32c::crc32c(&slot[..CHECKSUM_OFFSET]);
    if stored != computed {
        return Ok(Err(SlotProblem::ChecksumMismatch { stored, computed }));
    }
    let version = u16::from_le_bytes(read_array(slot, VERSION_OFFSET));
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            slot: slot_index,
            version,
        });
    }
    let reserved = u16::from_le_bytes(read_array(slot, RESERVED_OFFSET));
    if reserved != 0 {
        return Err(DecodeError::NonZeroReserved {
            slot: slot_index,
            reserved,
        });
    }
    Ok(Ok(SlotContents {
        sequence: u64::from_le_bytes(read_array(slot, SEQUENCE_OFFSET)),
        mark: Timestamp::from_le_bytes(read_array(slot, MARK_OFFSET)),
    }))
}

/// Decodes the bytes of a high-water-mark file (see the [module
/// docs](self) for the format): `Ok(None)` for an empty or all-zero file (a
/// fresh start), `Ok(Some(mark))` for the valid slot with the larger
/// sequence, `Err` if the file holds no usable mark.
///
/// Pure and panic-free on any input, for fuzzing.
pub fn decode_high_water_mark(bytes: &[u8]) -> Result<Option<HighWaterMark>, DecodeError> {
    if bytes.len() > FILE_BYTES {
        return Err(DecodeError::FileTooLong {
            length_bytes: bytes.len() as u64,
        });
    }
    if bytes.iter().all(|byte| *byte == 0) {
        return Ok(None);
    }
    let mut problems = [SlotProblem::NeverWritten; SLOT_COUNT];
    let mut best: Option<HighWaterMark> = None;
    for (slot_index, problem) in problems.iter_mut().enumerate() {
        let start = slot_index * SLOT_BYTES;
        let present = bytes.get(start..).unwrap_or_default();
        let Some(slot) = present.first_chunk::<SLOT_BYTES>() else {
            *problem = SlotProblem::Truncated {
                present_bytes: present.len(),
            };
            continue;
        };
        match decode_slot(slot_index, slot)? {
            Err(slot_problem) => *problem = slot_problem,
            Ok(contents) => {
                let candidate = HighWaterMark {
                    timestamp: contents.mark,
                    sequence: contents.sequence,
                    slot: slot_index,
                };
                // Equal sequences are never written; if met, the larger mark
                // is the safe choice.
                let newer = best.is_none_or(|current| {
                    (candidate.sequence, candidate.timestamp)
                        > (current.sequence, current.timestamp)
                });
                if newer {
                    best = Some(candidate);
                }
            }
        }
    }
    match best {
        Some(mark) => Ok(Some(mark)),
        None => Err(DecodeError::NoValidSlot { slots: problems }),
    }
}

/// Writes marks into an open high-water-mark file, alternating slots.
#[derive(Debug)]
pub(crate) struct HighWaterMarkFile {
    file: FileHandle,
    next_slot: usize,
    next_sequence: u64,
}

impl HighWaterMarkFile {
    /// A writer for `file`, whose newest valid mark (if any) is `newest`.
    pub(crate) fn new(file: FileHandle, newest: Option<&HighWaterMark>) -> HighWaterMarkFile {
        match newest {
            // The newest slot is the one recovery relies on: write the other.
            Some(mark) => HighWaterMarkFile {
                file,
                next_slot: (mark.slot + 1) % SLOT_COUNT,
                next_sequence: mark.sequence.wrapping_add(1),
            },
            None => HighWaterMarkFile {
                file,
                next_slot: 0,
                next_sequence: 1,
            },
        }
    }

    /// Writes `mark` into the next slot and makes it durable. On error the
    /// caller must stop using the file: the slot's state is unknown and a
    /// failed sync is never retried.
    pub(crate) fn write(&mut self, mark: Timestamp) -> keel_io::Result<()> {
        let slot = encode_slot(self.next_sequence, mark);
        debug_assert_eq!(
            decode_slot(self.next_slot, &slot),
            Ok(Ok(SlotContents {
                sequence: self.next_sequence,
                mark
            }))
        );
        let offset = (self.next_slot * SLOT_BYTES) as u64;
        self.file.write_all_at(&slot, offset)?;
        self.file.sync_data()?;
        self.next_slot = (self.next_slot + 1) % SLOT_COUNT;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(slots: [Option<[u8; SLOT_BYTES]>; 2]) -> Vec<u8> {
        let mut file = vec![0; FILE_BYTES];
        for (index, slot) in slots.iter().enumerate() {
            if let Some(slot) = slot {
                file[index * SLOT_BYTES..(index + 1) * SLOT_BYTES].copy_from_slice(slot);
            }
        }
        file
    }

    fn mark(raw: u64) -> Timestamp {
        Timestamp::from_u64(raw)
    }

    #[test]
    fn slot_byte_map_matches_the_documented_layout() {
        let slot = encode_slot(0x1122_3344_5566_7788, mark(0x99AA_BBCC_DDEE_FF00));
        assert_eq!(&slot[0..4], b"KTSO");
        assert_eq!(u32::from_le_bytes(*b"KTSO"), 0x4F53_544B);
        assert_eq!(&slot[4..6], &[1, 0]);
        assert_eq!(&slot[6..8], &[0, 0]);
        assert_eq!(
            &slot[8..16],
            &[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]
        );
        assert_eq!(
            &slot[16..24],
            &[0x00, 0xFF, 0xEE, 0xDD, 0xCC, 0xBB, 0xAA, 0x99]
        );
        let checksum = u32::from_le_bytes(slot[24..28].try_into().unwrap());
        assert_eq!(checksum, crc32c::crc32c(&slot[..24]));
        assert!(slot[28..].iter().all(|byte| *byte == 0));
    }

    #[test]
    fn empty_and_all_zero_files_are_a_fresh_start() {
        assert_eq!(decode_high_water_mark(&[]), Ok(None));
        assert_eq!(decode_high_water_mark(&[0; 100]), Ok(None));
        assert_eq!(decode_high_water_mark(&[0; FILE_BYTES]), Ok(None));
    }

    #[test]
    fn the_valid_slot_with_the_larger_sequence_wins() {
        let older = encode_slot(7, mark(700));
        let newer = encode_slot(8, mark(800));
        for (slots, expected_slot) in [
            ([Some(older), Some(newer)], 1),
            ([Some(newer), Some(older)], 0),
        ] {
            let decoded = decode_high_water_mark(&file_with(slots)).unwrap().unwrap();
            assert_eq!(
                decoded,
                HighWaterMark {
                    timestamp: mark(800),
                    sequence: 8,
                    slot: expected_slot
                }
            );
        }
    }

    #[test]
    fn a_single_slot_file_decodes() {
        // The first write of a fresh file is slot 0 alone.
        let slot = encode_slot(1, mark(5));
        let decoded = decode_high_water_mark(&slot).unwrap().unwrap();
        assert_eq!((decoded.timestamp, decoded.slot), (mark(5), 0));
    }

    #[test]
    fn a_torn_or_corrupt_slot_is_ignored_when_the_other_is_valid() {
        let older = encode_slot(7, mark(700));
        let mut torn = encode_slot(8, mark(800));
        torn[17] ^= 0x40;
        let decoded = decode_high_water_mark(&file_with([Some(older), Some(torn)]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (decoded.timestamp, decoded.sequence, decoded.slot),
            (mark(700), 7, 0)
        );

        let mut bad_magic = encode_slot(8, mark(800));
        bad_magic[0] = b'X';
        let decoded = decode_high_water_mark(&file_with([Some(older), Some(bad_magic)]))
            .unwrap()
            .unwrap();
        assert_eq!(decoded.timestamp, mark(700));

        // A second slot cut short (its write lost) leaves the first.
        let mut short = file_with([Some(older), None]);
        short.truncate(SLOT_BYTES + 10);
        short[SLOT_BYTES] = 1;
        assert_eq!(
            decode_high_water_mark(&short).unwrap().unwrap().timestamp,
            mark(700)
        );
    }

    #[test]
    fn padding_is_not_checked() {
        let mut slot = encode_slot(3, mark(9));
        slot[SLOT_BYTES - 1] = 0xFF;
        assert_eq!(
            decode_high_water_mark(&slot).unwrap().unwrap().timestamp,
            mark(9)
        );
    }

    #[test]
    fn no_valid_slot_is_an_error_naming_both_slots() {
        let mut first = encode_slot(1, mark(100));
        first[20] ^= 1;
        let stored = u32::from_le_bytes(first[24..28].try_into().unwrap());
        let computed = crc32c::crc32c(&first[..24]);
        let error = decode_high_water_mark(&file_with([Some(first), None])).unwrap_err();
        assert_eq!(
            error,
            DecodeError::NoValidSlot {
                slots: [
                    SlotProblem::ChecksumMismatch { stored, computed },
                    SlotProblem::NeverWritten
                ]
            }
        );
        let message = error.to_string();
        assert!(
            message.contains("slot 0 (bytes 0..512): CRC32C mismatch"),
            "{message}"
        );
        assert!(
            message.contains("slot 1 (bytes 512..1024): all zero"),
            "{message}"
        );

        let mut garbage = vec![0xA5; 700];
        garbage[0] = b'K';
        match decode_high_water_mark(&garbage) {
            Err(DecodeError::NoValidSlot {
                slots:
                    [
                        SlotProblem::BadMagic { found },
                        SlotProblem::Truncated { present_bytes: 188 },
                    ],
            }) => assert_eq!(found, [b'K', 0xA5, 0xA5, 0xA5]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_file_longer_than_two_slots_is_an_error() {
        let mut file = file_with([Some(encode_slot(1, mark(1))), None]);
        file.push(0);
        assert_eq!(
            decode_high_water_mark(&file),
            Err(DecodeError::FileTooLong {
                length_bytes: FILE_BYTES as u64 + 1
            })
        );
    }

    /// Re-encodes a slot with a changed field and a CRC that holds.
    fn with_field(mut slot: [u8; SLOT_BYTES], offset: usize, bytes: &[u8]) -> [u8; SLOT_BYTES] {
        slot[offset..offset + bytes.len()].copy_from_slice(bytes);
        let checksum = crc32c::crc32c(&slot[..CHECKSUM_OFFSET]);
        slot[CHECKSUM_OFFSET..PAYLOAD_BYTES].copy_from_slice(&checksum.to_le_bytes());
        slot
    }

    #[test]
    fn an_unknown_version_or_reserved_field_makes_the_file_unreadable() {
        let valid = encode_slot(7, mark(700));
        let future = with_field(
            encode_slot(8, mark(800)),
            VERSION_OFFSET,
            &2_u16.to_le_bytes(),
        );
        assert_eq!(
            decode_high_water_mark(&file_with([Some(valid), Some(future)])),
            Err(DecodeError::UnsupportedVersion {
                slot: 1,
                version: 2
            })
        );
        let reserved = with_field(
            encode_slot(8, mark(800)),
            RESERVED_OFFSET,
            &9_u16.to_le_bytes(),
        );
        assert_eq!(
            decode_high_water_mark(&file_with([Some(reserved), Some(valid)])),
            Err(DecodeError::NonZeroReserved {
                slot: 0,
                reserved: 9
            })
        );
    }

    #[test]
    fn every_single_bit_flip_is_detected_or_harmless() {
        let older = encode_slot(7, mark(700));
        let newer = encode_slot(8, mark(800));
        let file = file_with([Some(older), Some(newer)]);
        for bit in 0..FILE_BYTES * 8 {
            let mut flipped = file.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let decoded = decode_high_water_mark(&flipped).unwrap().unwrap();
            let in_payload = bit / 8 % SLOT_BYTES < PAYLOAD_BYTES;
            let in_newer = bit / 8 >= SLOT_BYTES;
            // A flip in the newer slot's payload falls back to the older
            // slot; anywhere else the newer slot still wins.
            let expected = if in_payload && in_newer {
                mark(700)
            } else {
                mark(800)
            };
            assert_eq!(decoded.timestamp, expected, "bit {bit}");
        }
    }

    #[test]
    fn the_decoder_survives_arbitrary_lengths_and_bytes() {
        let valid = file_with([Some(encode_slot(1, mark(1))), Some(encode_slot(2, mark(2)))]);
        for length in 0..=FILE_BYTES + 1 {
            let _ = decode_high_water_mark(&valid[..length.min(FILE_BYTES)]);
            let _ = decode_high_water_mark(&vec![0xFF; length]);
        }
    }
}

//! The two meta slots at the head of the page file (byte map in
//! docs/FORMAT.md). Checkpoint `c` is written to slot `c % 2`, so the slot
//! the newest durable checkpoint lives in is never the one being written.

use crate::error::MetaProblem;

/// The first bytes of every meta slot.
pub const MAGIC: [u8; 8] = *b"KEELPAGE";
/// The page file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The smallest page size.
pub const PAGE_SIZE_MIN: u32 = 4096;
/// The largest page size.
pub const PAGE_SIZE_MAX: u32 = 65536;
/// The page size of a new file unless the options say otherwise.
pub const PAGE_SIZE_DEFAULT: u32 = 4096;
/// Blocks 0 and 1 hold the meta slots; data blocks start here.
pub const FIRST_DATA_BLOCK: u64 = 2;

/// Bytes of a meta slot before its payload.
pub const META_HEADER_BYTES: usize = 64;

// Field offsets of the meta header.
const OFFSET_MAGIC: usize = 0;
const OFFSET_VERSION: usize = 8;
const OFFSET_PAGE_SIZE: usize = 12;
const OFFSET_CHECKPOINT_ID: usize = 16;
const OFFSET_PAGE_ID_LIMIT: usize = 24;
const OFFSET_PAGE_COUNT: usize = 32;
const OFFSET_ROOT_BLOCK: usize = 40;
const OFFSET_ROOT_CHECKSUM: usize = 48;
const OFFSET_HEIGHT: usize = 52;
const OFFSET_RESERVED: usize = 53;
const OFFSET_PAYLOAD_LEN: usize = 56;
const OFFSET_CRC: usize = 60;
const _: () = assert!(OFFSET_VERSION == OFFSET_MAGIC + MAGIC.len());
const _: () = assert!(OFFSET_RESERVED + 3 == OFFSET_PAYLOAD_LEN);
const _: () = assert!(OFFSET_CRC + size_of::<u32>() == META_HEADER_BYTES);

/// Whether `page_size` is a page size the format allows.
pub fn is_valid_page_size(page_size: u32) -> bool {
    page_size.is_power_of_two() && (PAGE_SIZE_MIN..=PAGE_SIZE_MAX).contains(&page_size)
}

/// The largest checkpoint payload a file with `page_size` pages can hold.
pub fn payload_bytes_max(page_size: u32) -> usize {
    page_size as usize - META_HEADER_BYTES
}

/// Where a map node (or the map's root) lives: a block and the checksum of
/// its contents. Block 0 means "absent": every page below it is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeRef {
    /// The block, or 0.
    pub block: u64,
    /// The CRC32C of the node (0 when absent).
    pub checksum: u32,
}

impl NodeRef {
    /// The reference to nothing.
    pub const ABSENT: NodeRef = NodeRef {
        block: 0,
        checksum: 0,
    };

    /// Whether this references nothing.
    pub fn is_absent(self) -> bool {
        self.block == 0
    }
}

/// The decoded contents of a meta slot: one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Page size of the file.
    pub page_size: u32,
    /// The checkpoint's id; the file's creation is checkpoint 0.
    pub checkpoint_id: u64,
    /// Page ids below this have been handed out at some time.
    pub page_id_limit: u64,
    /// Pages allocated at the checkpoint.
    pub page_count: u64,
    /// The page map's root node.
    pub map_root: NodeRef,
    /// Levels above the map's leaves (0: the root is a leaf).
    pub map_height: u8,
    /// The caller's payload (the engine's fold timestamp, WAL position and
    /// tree roots).
    pub payload: Vec<u8>,
    /// Blocks the next open will read (map nodes, the caller's first
    /// pages), at most [`OPEN_BLOCKS_MAX`]: an open asks the OS for all of
    /// them at once instead of one dependent read after another. A hint
    /// with a checksum of its own: wrong or damaged, it costs time, never
    /// correctness (every block read is checked as always).
    pub open_blocks: Vec<u64>,
}

/// The most blocks a meta slot names for the next open.
pub const OPEN_BLOCKS_MAX: usize = 64;

/// Bytes of an open hint naming no block: count and checksum.
const OPEN_HINT_FIXED_BYTES: usize = 2 + 4;
/// Bytes of the open hint at most: count, blocks, checksum.
const OPEN_HINT_BYTES_MAX: usize = OPEN_HINT_FIXED_BYTES + 8 * OPEN_BLOCKS_MAX;
const _: () = assert!(META_HEADER_BYTES + OPEN_HINT_BYTES_MAX <= PAGE_SIZE_MIN as usize);

impl Meta {
    /// The meta slot this checkpoint is written to.
    pub fn slot(&self) -> u64 {
        self.checkpoint_id % 2
    }

    /// Encodes the slot: header, payload and the open hint (not padded to
    /// the page size). The hint is left out (its count 0) when it does not
    /// fit beside the payload, and cut to [`OPEN_BLOCKS_MAX`].
    ///
    /// # Panics
    /// If the payload does not fit; callers check with [`payload_bytes_max`].
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.payload.len() <= payload_bytes_max(self.page_size));
        let mut out = vec![0u8; META_HEADER_BYTES + self.payload.len()];
        out[OFFSET_MAGIC..OFFSET_VERSION].copy_from_slice(&MAGIC);
        put_u32(&mut out, OFFSET_VERSION, FORMAT_VERSION);
        put_u32(&mut out, OFFSET_PAGE_SIZE, self.page_size);
        put_u64(&mut out, OFFSET_CHECKPOINT_ID, self.checkpoint_id);
        put_u64(&mut out, OFFSET_PAGE_ID_LIMIT, self.page_id_limit);
        put_u64(&mut out, OFFSET_PAGE_COUNT, self.page_count);
        put_u64(&mut out, OFFSET_ROOT_BLOCK, self.map_root.block);
        put_u32(&mut out, OFFSET_ROOT_CHECKSUM, self.map_root.checksum);
        out[OFFSET_HEIGHT] = self.map_height;
        put_u32(&mut out, OFFSET_PAYLOAD_LEN, self.payload.len() as u32);
        out[META_HEADER_BYTES..].copy_from_slice(&self.payload);
        let crc = slot_crc(&out);
        put_u32(&mut out, OFFSET_CRC, crc);
        // The hint only where it fits in the slot's block: a byte past it
        // would land on the other slot or on a page.
        let room = self.page_size as usize - out.len();
        if let Some(room) = room.checked_sub(OPEN_HINT_FIXED_BYTES) {
            let blocks = &self.open_blocks[..self.open_blocks.len().min(room / 8)];
            encode_open_hint(blocks, &mut out);
        }
        assert!(
            out.len() <= self.page_size as usize,
            "a meta slot fits its block"
        );
        debug_assert_eq!(
            decode_header(&out, self.slot() * u64::from(self.page_size))
                .map(|h| h.payload_len as usize),
            Ok(self.payload.len())
        );
        out
    }
}

/// The fixed-size part of a slot, checked as far as it can be without the
/// payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The recorded page size.
    pub page_size: u32,
    /// The payload's length.
    pub payload_len: u32,
}

/// Checks a slot's header read at `offset`.
pub fn decode_header(bytes: &[u8], offset: u64) -> Result<Header, MetaProblem> {
    if bytes.len() < META_HEADER_BYTES {
        return Err(MetaProblem::Truncated);
    }
    if bytes[OFFSET_MAGIC..OFFSET_VERSION] != MAGIC {
        return Err(MetaProblem::BadMagic);
    }
    let version = get_u32(bytes, OFFSET_VERSION);
    if version != FORMAT_VERSION {
        return Err(MetaProblem::UnsupportedVersion(version));
    }
    let page_size = get_u32(bytes, OFFSET_PAGE_SIZE);
    if !is_valid_page_size(page_size) {
        return Err(MetaProblem::BadPageSize(page_size));
    }
    if offset != 0 && offset != u64::from(page_size) {
        return Err(MetaProblem::MisplacedSlot {
            recorded: page_size,
            offset,
        });
    }
    let payload_len = get_u32(bytes, OFFSET_PAYLOAD_LEN);
    if payload_len as usize > payload_bytes_max(page_size) {
        return Err(MetaProblem::BadPayloadLength(payload_len));
    }
    Ok(Header {
        page_size,
        payload_len,
    })
}

/// Decodes a whole slot (header and payload) read at `offset`.
pub fn decode(bytes: &[u8], offset: u64) -> Result<Meta, MetaProblem> {
    let header = decode_header(bytes, offset)?;
    let end = META_HEADER_BYTES + header.payload_len as usize;
    if bytes.len() < end {
        return Err(MetaProblem::Truncated);
    }
    let slot = &bytes[..end];
    let expected = get_u32(slot, OFFSET_CRC);
    let found = slot_crc(slot);
    if expected != found {
        return Err(MetaProblem::Checksum { expected, found });
    }
    if slot[OFFSET_RESERVED..OFFSET_PAYLOAD_LEN] != [0, 0, 0] {
        return Err(MetaProblem::BadField("reserved"));
    }
    let meta = Meta {
        page_size: header.page_size,
        checkpoint_id: get_u64(slot, OFFSET_CHECKPOINT_ID),
        page_id_limit: get_u64(slot, OFFSET_PAGE_ID_LIMIT),
        page_count: get_u64(slot, OFFSET_PAGE_COUNT),
        map_root: NodeRef {
            block: get_u64(slot, OFFSET_ROOT_BLOCK),
            checksum: get_u32(slot, OFFSET_ROOT_CHECKSUM),
        },
        map_height: slot[OFFSET_HEIGHT],
        payload: slot[META_HEADER_BYTES..].to_vec(),
        open_blocks: decode_open_hint(&bytes[end..]),
    };
    if meta.slot() * u64::from(meta.page_size) != offset {
        return Err(MetaProblem::BadField(
            "checkpoint id (written to the other slot)",
        ));
    }
    if meta.page_id_limit == 0 {
        return Err(MetaProblem::BadField("page id limit"));
    }
    if meta.page_count >= meta.page_id_limit {
        return Err(MetaProblem::BadField("page count"));
    }
    Ok(meta)
}

/// The bytes a slot reader reads: header, payload and the longest open
/// hint (less where the file or the block ends first).
pub fn slot_read_len(payload_len: u32, page_size: u32) -> usize {
    (META_HEADER_BYTES + payload_len as usize + OPEN_HINT_BYTES_MAX).min(page_size as usize)
}

/// Appends the open hint: its count (`u16`), the blocks (`u64` each) and
/// the CRC32C of both.
fn encode_open_hint(blocks: &[u64], out: &mut Vec<u8>) {
    let start = out.len();
    let count = blocks.len().min(OPEN_BLOCKS_MAX);
    out.extend_from_slice(&(count as u16).to_le_bytes());
    for block in &blocks[..count] {
        out.extend_from_slice(&block.to_le_bytes());
    }
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// The open hint after a slot's payload: empty when there is none (a slot
/// written before hints: zeros), or it is cut short or damaged.
fn decode_open_hint(bytes: &[u8]) -> Vec<u64> {
    let Some(count) = bytes.get(..2).map(|count| usize::from(get_u16(count))) else {
        return Vec::new();
    };
    let end = 2 + 8 * count;
    if count > OPEN_BLOCKS_MAX || bytes.len() < end + 4 {
        return Vec::new();
    }
    if crc32c::crc32c(&bytes[..end]) != get_u32(bytes, end) {
        return Vec::new();
    }
    (0..count)
        .map(|index| get_u64(bytes, 2 + 8 * index))
        .collect()
}

fn get_u16(bytes: &[u8]) -> u16 {
    u16::from_le_bytes([bytes[0], bytes[1]])
}

/// The CRC32C over the header (without the CRC field) and the payload.
fn slot_crc(slot: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&slot[..OFFSET_CRC]);
    crc32c::crc32c_append(crc, &slot[META_HEADER_BYTES..])
}

fn put_u32(out: &mut [u8], offset: usize, value: u32) {
    out[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut [u8], offset: usize, value: u64) {
    out[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
}

fn get_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(word)
}

fn get_u64(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(word)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn sample(checkpoint_id: u64) -> Meta {
        Meta {
            page_size: 8192,
            checkpoint_id,
            page_id_limit: 100,
            page_count: 42,
            map_root: NodeRef {
                block: 9,
                checksum: 0xdead_beef,
            },
            map_height: 1,
            payload: b"fold=17 wal=99".to_vec(),
            open_blocks: vec![9, 17, 40_000],
        }
    }

    #[test]
    fn round_trips_in_its_slot() {
        for id in [0, 1, 2, 7] {
            let meta = sample(id);
            let bytes = meta.encode();
            assert_eq!(decode(&bytes, meta.slot() * 8192), Ok(meta));
        }
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let meta = sample(3);
        let bytes = meta.encode();
        let slot_end = META_HEADER_BYTES + meta.payload.len();
        for bit in 0..slot_end * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode(&damaged, 8192).is_err(),
                "bit {bit} flipped went unnoticed"
            );
        }
        // A flip in the open hint drops the hint, never the checkpoint.
        for bit in slot_end * 8..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let decoded = decode(&damaged, 8192).expect("the slot itself is intact");
            assert!(
                decoded.open_blocks.is_empty(),
                "bit {bit} flipped went unnoticed"
            );
            assert_eq!(decoded.payload, meta.payload);
        }
    }

    #[test]
    fn a_slot_without_a_hint_or_a_cut_one_opens_without_it() {
        let meta = sample(1);
        let bytes = meta.encode();
        let slot_end = META_HEADER_BYTES + meta.payload.len();
        // A slot written before hints: zeros follow the payload.
        let mut old = bytes[..slot_end].to_vec();
        old.resize(4096, 0);
        let decoded = decode(&old, 8192).expect("an old slot decodes");
        assert!(decoded.open_blocks.is_empty());
        // Cut anywhere inside the hint.
        for end in slot_end..bytes.len() {
            let decoded = decode(&bytes[..end], 8192).expect("the slot itself is whole");
            assert!(decoded.open_blocks.is_empty(), "cut at {end}");
        }
    }

    #[test]
    fn the_hint_is_capped_and_left_out_when_it_does_not_fit() {
        let mut meta = sample(1);
        meta.open_blocks = (0..OPEN_BLOCKS_MAX as u64 + 10).collect();
        let decoded = decode(&meta.encode(), 8192).expect("decodes");
        assert_eq!(decoded.open_blocks.len(), OPEN_BLOCKS_MAX);
        meta.page_size = 4096;
        meta.checkpoint_id = 1;
        meta.payload = vec![7; payload_bytes_max(4096) - 20];
        let decoded = decode(&meta.encode(), 4096).expect("decodes");
        assert_eq!(
            decoded.open_blocks.len(),
            1,
            "room for one block beside the payload"
        );
        for len in payload_bytes_max(4096) - 14..=payload_bytes_max(4096) {
            meta.payload = vec![7; len];
            let encoded = meta.encode();
            assert!(
                encoded.len() <= 4096,
                "payload {len}: {} bytes",
                encoded.len()
            );
            let decoded = decode(&encoded, 4096).expect("decodes");
            assert_eq!(
                decoded.open_blocks.len(),
                usize::from(len + 14 <= payload_bytes_max(4096))
            );
        }
    }

    #[test]
    fn a_slot_in_the_wrong_place_is_refused() {
        let meta = sample(2);
        let bytes = meta.encode();
        assert!(matches!(
            decode(&bytes, 8192),
            Err(MetaProblem::BadField(_))
        ));
        assert!(matches!(
            decode(&bytes, 4096),
            Err(MetaProblem::MisplacedSlot { .. })
        ));
    }

    #[test]
    fn truncation_and_garbage_are_typed() {
        let meta = sample(1);
        let bytes = meta.encode();
        let slot_end = META_HEADER_BYTES + meta.payload.len();
        assert_eq!(decode(&bytes[..10], 8192), Err(MetaProblem::Truncated));
        assert_eq!(
            decode(&bytes[..slot_end - 1], 8192),
            Err(MetaProblem::Truncated)
        );
        assert_eq!(decode(&[0u8; 64], 0), Err(MetaProblem::BadMagic));
    }
}

//! The CRC32C checksums of pages and map nodes.
//!
//! Each checksum is seeded with what the block is supposed to be (the page
//! id, or the map node's level and index), so a block that holds a valid
//! image of a *different* page — a misdirected or lost write — fails the
//! check as surely as a torn or rotten one.

use crate::page_id::PageId;

/// The checksum of a page's contents, as its map entry records it.
pub fn page_checksum(page: PageId, data: &[u8]) -> u32 {
    let seed = crc32c::crc32c(&page.get().to_le_bytes());
    crc32c::crc32c_append(seed, data)
}

/// The checksum of a map node, as its parent (or the meta slot) records it.
pub fn map_node_checksum(level: u8, node: u64, data: &[u8]) -> u32 {
    let mut tag = [0u8; 12];
    tag[..3].copy_from_slice(b"map");
    tag[3] = level;
    tag[4..].copy_from_slice(&node.to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c(&tag), data)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_same_bytes_as_another_page_do_not_pass() {
        let data = [7u8; 64];
        assert_ne!(
            page_checksum(PageId::new(1), &data),
            page_checksum(PageId::new(2), &data)
        );
        assert_ne!(
            map_node_checksum(0, 1, &data),
            map_node_checksum(1, 1, &data)
        );
        assert_ne!(
            map_node_checksum(0, 1, &data),
            map_node_checksum(0, 2, &data)
        );
    }
}

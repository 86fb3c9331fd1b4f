//! CRC-64/Jones, the checksum of Redis's DUMP payloads and RDB files:
//! polynomial 0xad93d23594c935a9, reflected, initial value 0, no final
//! xor (Redis's `crc64.c`).

/// The reflected polynomial (bit-reversed 0xad93d23594c935a9).
const REFLECTED_POLYNOMIAL: u64 = 0x95ac_9329_ac4b_c9b5;

/// The byte-at-a-time table, built at compile time.
const TABLE: [u64; 256] = table();

const fn table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ REFLECTED_POLYNOMIAL
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
}

/// The CRC-64/Jones of `bytes`, continuing from `crc` (0 to start).
pub fn crc64(crc: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(crc, |crc, &byte| {
        TABLE[((crc ^ u64::from(byte)) & 0xff) as usize] ^ (crc >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_check_values() {
        // The value Redis's crc64.c tests against.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        // Continuing from a prefix's checksum is the checksum of the whole.
        assert_eq!(crc64(crc64(0, b"1234"), b"56789"), 0xe9c6_d914_c4b8_d9ca);
    }
}

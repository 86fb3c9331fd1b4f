//! LZF decompression, for the strings Redis compresses in RDB payloads
//! (`rdbcompression yes`, strings over 20 bytes). Bounds-checked: a
//! damaged input gives `None`, never a read or write out of bounds.

/// The most output one input byte can yield: a three-byte back reference
/// copies at most 7 + 255 + 2 = 264 bytes, 88 per input byte.
pub const EXPANSION_MAX: usize = 88;

/// The longest string decompressed: Redis's largest string
/// (`proto-max-bulk-len`, 512 MiB).
pub const OUTPUT_BYTES_MAX: usize = 512 * 1024 * 1024;

/// Bytes reserved up front per input byte: a claimed length is not
/// trusted with more before the input has produced it.
const RESERVE_PER_INPUT_BYTE: usize = 4;

/// Decompresses `input` into exactly `output_bytes` bytes, or `None` if
/// it is not LZF data of that length.
pub fn decompress(input: &[u8], output_bytes: usize) -> Option<Vec<u8>> {
    if output_bytes > input.len().saturating_mul(EXPANSION_MAX) || output_bytes > OUTPUT_BYTES_MAX {
        return None;
    }
    let reserve = output_bytes.min(input.len().saturating_mul(RESERVE_PER_INPUT_BYTE));
    let mut output = Vec::with_capacity(reserve);
    let mut at = 0;
    while at < input.len() {
        let control = usize::from(input[at]);
        at += 1;
        if control < 32 {
            // A literal run of control + 1 bytes.
            let run = input.get(at..at + control + 1)?;
            if output.len() + run.len() > output_bytes {
                return None;
            }
            output.extend_from_slice(run);
            at += run.len();
            continue;
        }
        // A back reference: length (3 bits, 7 = one more byte) and a
        // 13-bit distance.
        let mut length = control >> 5;
        if length == 7 {
            length += usize::from(*input.get(at)?);
            at += 1;
        }
        let distance = ((control & 0x1f) << 8) + usize::from(*input.get(at)?) + 1;
        at += 1;
        let length = length + 2;
        let start = output.len().checked_sub(distance)?;
        if output.len() + length > output_bytes {
            return None;
        }
        // Byte by byte: the source may overlap what is being written.
        for index in start..start + length {
            output.push(output[index]);
        }
    }
    (output.len() == output_bytes).then_some(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_runs_and_back_references_expand() {
        // "abc" as a literal run, then a reference 3 back of 6 bytes.
        let input = [2, b'a', b'b', b'c', 4 << 5, 2];
        assert_eq!(decompress(&input, 9).as_deref(), Some(&b"abcabcabc"[..]));
        // Overlapping reference of 1 back: a run of one byte.
        let input = [0, b'x', 7 << 5, 3, 0];
        assert_eq!(decompress(&input, 13), Some(vec![b'x'; 13]));
    }

    #[test]
    fn damaged_input_is_refused() {
        let input = [2, b'a', b'b', b'c', 4 << 5, 2];
        assert_eq!(decompress(&input, 8), None, "longer than said");
        assert_eq!(decompress(&input, 10), None, "shorter than said");
        assert_eq!(
            decompress(&[4 << 5, 9], 6),
            None,
            "reference before the start"
        );
        assert_eq!(
            decompress(&[5, b'a'], 6),
            None,
            "literal run past the input"
        );
        assert_eq!(decompress(&[7 << 5], 9), None, "reference cut short");
        assert_eq!(decompress(&[0, b'a'], usize::MAX), None, "absurd length");
    }
}

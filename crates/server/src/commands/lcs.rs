//! LCS: the longest common subsequence of two strings, with the matched
//! ranges, computed exactly as Redis's `lcsCommand` does (the same table,
//! the same walk back, so the same ranges in the same order).

/// What LCS computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lcs {
    /// The common subsequence.
    pub text: Vec<u8>,
    /// Its length.
    pub length: usize,
    /// The matched ranges, last first (Redis's order): inclusive byte
    /// ranges in the first and the second string, and the range's length.
    pub matches: Vec<LcsMatch>,
}

/// One range of consecutive matching bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LcsMatch {
    /// First and last byte in the first string.
    pub first: (usize, usize),
    /// First and last byte in the second string.
    pub second: (usize, usize),
    /// Bytes in the range.
    pub length: usize,
}

/// The table's cells (`(a + 1) × (b + 1)` of 4 bytes) a computation of
/// strings of `a` and `b` bytes needs, in bytes; Redis refuses one above
/// `proto-max-bulk-len`.
pub fn table_bytes(a: usize, b: usize) -> Option<usize> {
    a.checked_add(1)?
        .checked_mul(b.checked_add(1)?)?
        .checked_mul(std::mem::size_of::<u32>())
}

/// The LCS of `a` and `b`, keeping ranges of at least `min_match_length`
/// bytes (0: all). `with_text` false skips building the text (LEN).
///
/// ```
/// let lcs = keel_server::commands::lcs::longest_common_subsequence(b"ohmytext", b"mynewtext", 0, true);
/// assert_eq!(lcs.text, b"mytext");
/// assert_eq!(lcs.matches[0].first, (4, 7));
/// ```
pub fn longest_common_subsequence(
    a: &[u8],
    b: &[u8],
    min_match_length: usize,
    with_text: bool,
) -> Lcs {
    let width = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * width];
    let cell = |i: usize, j: usize| i * width + j;
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[cell(i, j)] = if a[i - 1] == b[j - 1] {
                table[cell(i - 1, j - 1)] + 1
            } else {
                table[cell(i - 1, j)].max(table[cell(i, j - 1)])
            };
        }
    }
    let length = table[cell(a.len(), b.len())] as usize;
    let mut text = vec![0u8; if with_text { length } else { 0 }];
    let mut matches = Vec::new();
    // Redis marks "no range open" with a start of `a.len()`.
    let none = a.len();
    let (mut first_start, mut first_end, mut second_start, mut second_end) = (none, 0, 0, 0);
    let (mut i, mut j, mut index) = (a.len(), b.len(), length);
    while with_text && i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            text[index - 1] = a[i - 1];
            if first_start == none {
                first_start = i - 1;
                first_end = i - 1;
                second_start = j - 1;
                second_end = j - 1;
            } else if first_start == i && second_start == j {
                // Contiguous: extend the range backwards.
                first_start -= 1;
                second_start -= 1;
            } else {
                emit = true;
            }
            if first_start == 0 || second_start == 0 {
                emit = true;
            }
            index -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[cell(i - 1, j)] > table[cell(i, j - 1)] {
                i -= 1;
            } else {
                j -= 1;
            }
            if first_start != none {
                emit = true;
            }
        }
        if emit {
            let match_length = first_end - first_start + 1;
            if min_match_length == 0 || match_length >= min_match_length {
                matches.push(LcsMatch {
                    first: (first_start, first_end),
                    second: (second_start, second_end),
                    length: match_length,
                });
            }
            first_start = none;
        }
    }
    Lcs {
        text,
        length,
        matches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_documentation_example() {
        let lcs = longest_common_subsequence(b"ohmytext", b"mynewtext", 0, true);
        assert_eq!(lcs.text, b"mytext");
        assert_eq!(lcs.length, 6);
        assert_eq!(
            lcs.matches,
            vec![
                LcsMatch {
                    first: (4, 7),
                    second: (5, 8),
                    length: 4
                },
                LcsMatch {
                    first: (2, 3),
                    second: (0, 1),
                    length: 2
                },
            ]
        );
        let long_only = longest_common_subsequence(b"ohmytext", b"mynewtext", 4, true);
        assert_eq!(long_only.matches.len(), 1);
    }

    #[test]
    fn empty_and_disjoint_strings() {
        let empty = longest_common_subsequence(b"", b"abc", 0, true);
        assert_eq!(
            (empty.length, empty.text.len(), empty.matches.len()),
            (0, 0, 0)
        );
        let disjoint = longest_common_subsequence(b"abc", b"xyz", 0, true);
        assert_eq!(disjoint.length, 0);
        assert!(disjoint.matches.is_empty());
        assert_eq!(
            longest_common_subsequence(b"abc", b"abc", 0, false).length,
            3
        );
        assert_eq!(table_bytes(1, 1), Some(16));
        assert_eq!(table_bytes(usize::MAX, 1), None);
    }
}

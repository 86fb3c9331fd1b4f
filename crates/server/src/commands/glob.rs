//! Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET), with the meaning
//! of Redis's `stringmatchlen` and none of its exponential cost.
//!
//! `*` matches any run of bytes, `?` one byte, `[abc]` one of a set,
//! `[^abc]` one byte outside it, `[a-z]` a range (either order), `\x` the
//! byte `x` literally, inside a set too. Quirks kept from Redis: a set that
//! never closes ends at the end of the pattern (`[ab` is `[ab]`); `[]`
//! matches nothing and `[^]` any byte; a trailing `\` matches a backslash;
//! the empty string matches only the empty pattern (even `*` does not
//! match it: KEYS and SCAN treat a lone `*` as "everything" before any
//! matching, see [`GlobPattern::matches_everything`]). `nocase` folds
//! ASCII letters only. Bytes are compared unsigned (Redis compares `char`,
//! signed on x86, which only matters for ranges over bytes above 0x7f).
//!
//! Redis matches by recursion at every `*` and caps the depth; here the
//! pattern is compiled into tokens and matched by the classic single
//! backtrack point (the last `*` seen), which gives the same answer in
//! O(pattern × string) time, so a hostile pattern cannot stall a thread.

/// One compiled element of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// `*` (a run of them is one).
    Star,
    /// `?`.
    Any,
    /// A literal byte.
    Byte(u8),
    /// `[...]`.
    Set { negated: bool, items: Vec<SetItem> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SetItem {
    /// A byte that compares case-insensitively under `nocase`.
    Byte(u8),
    /// A byte escaped with `\`: Redis compares it exactly, even under
    /// `nocase`.
    Escaped(u8),
    /// An inclusive range, low end first.
    Range(u8, u8),
}

/// A compiled glob pattern.
///
/// ```
/// use keel_server::GlobPattern;
/// let pattern = GlobPattern::new(b"user:[0-9]*", false);
/// assert!(pattern.matches(b"user:42"));
/// assert!(!pattern.matches(b"user:x"));
/// ```
#[derive(Clone, Debug)]
pub struct GlobPattern {
    tokens: Vec<Token>,
    nocase: bool,
    pattern_is_empty: bool,
    matches_everything: bool,
}

impl GlobPattern {
    /// Compiles `pattern`; `nocase` folds ASCII case.
    pub fn new(pattern: &[u8], nocase: bool) -> GlobPattern {
        GlobPattern {
            tokens: compile(pattern),
            nocase,
            pattern_is_empty: pattern.is_empty(),
            matches_everything: pattern == b"*",
        }
    }

    /// True for the pattern `*`, which KEYS and SCAN take as "every key"
    /// without matching (the empty key included).
    pub fn matches_everything(&self) -> bool {
        self.matches_everything
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &[u8]) -> bool {
        if text.is_empty() {
            return self.pattern_is_empty;
        }
        let tokens = &self.tokens;
        let (mut token, mut position) = (0, 0);
        // The last star seen and the text position it is matched up to.
        let mut backtrack: Option<(usize, usize)> = None;
        while position < text.len() {
            match tokens.get(token) {
                Some(Token::Star) => {
                    backtrack = Some((token, position));
                    token += 1;
                    continue;
                }
                Some(other) if self.token_matches(other, text[position]) => {
                    token += 1;
                    position += 1;
                    continue;
                }
                _ => {}
            }
            let Some((star, star_position)) = backtrack else {
                return false;
            };
            // Let the star take one more byte and retry after it.
            token = star + 1;
            position = star_position + 1;
            backtrack = Some((star, position));
        }
        tokens[token..]
            .iter()
            .all(|remaining| *remaining == Token::Star)
    }

    fn token_matches(&self, token: &Token, byte: u8) -> bool {
        match token {
            Token::Star | Token::Any => true,
            Token::Byte(expected) => self.same(*expected, byte),
            Token::Set { negated, items } => {
                let found = items.iter().any(|item| match *item {
                    SetItem::Byte(expected) => self.same(expected, byte),
                    SetItem::Escaped(expected) => expected == byte,
                    SetItem::Range(low, high) => {
                        if self.nocase {
                            let byte = byte.to_ascii_lowercase();
                            (low.to_ascii_lowercase()..=high.to_ascii_lowercase()).contains(&byte)
                        } else {
                            (low..=high).contains(&byte)
                        }
                    }
                });
                found != *negated
            }
        }
    }

    fn same(&self, expected: u8, byte: u8) -> bool {
        if self.nocase {
            expected.eq_ignore_ascii_case(&byte)
        } else {
            expected == byte
        }
    }
}

/// Whether `text` matches `pattern` (Redis's `stringmatchlen`).
pub fn glob_matches(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    GlobPattern::new(pattern, nocase).matches(text)
}

fn compile(pattern: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < pattern.len() {
        match pattern[index] {
            b'*' => {
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
            }
            b'?' => tokens.push(Token::Any),
            b'[' => {
                index += 1;
                let negated = pattern.get(index) == Some(&b'^');
                if negated {
                    index += 1;
                }
                let mut items = Vec::new();
                // Ends on the closing ']' or at the end of the pattern.
                while index < pattern.len() && pattern[index] != b']' {
                    let remaining = pattern.len() - index;
                    if pattern[index] == b'\\' && remaining >= 2 {
                        index += 1;
                        items.push(SetItem::Escaped(pattern[index]));
                    } else if remaining >= 3 && pattern[index + 1] == b'-' {
                        let (start, end) = (pattern[index], pattern[index + 2]);
                        items.push(SetItem::Range(start.min(end), start.max(end)));
                        index += 2;
                    } else {
                        items.push(SetItem::Byte(pattern[index]));
                    }
                    index += 1;
                }
                tokens.push(Token::Set { negated, items });
            }
            b'\\' if index + 1 < pattern.len() => {
                index += 1;
                tokens.push(Token::Byte(pattern[index]));
            }
            other => tokens.push(Token::Byte(other)),
        }
        index += 1;
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        glob_matches(pattern.as_bytes(), text.as_bytes(), false)
    }

    #[test]
    fn stars_and_question_marks() {
        // The examples of Redis's KEYS documentation.
        for text in ["hello", "hallo", "hxllo"] {
            assert!(matches("h?llo", text));
        }
        for text in ["hllo", "heeeello", "hello"] {
            assert!(matches("h*llo", text));
        }
        assert!(matches("h[ae]llo", "hello") && matches("h[ae]llo", "hallo"));
        assert!(!matches("h[ae]llo", "hillo"));
        assert!(matches("h[^e]llo", "hallo") && !matches("h[^e]llo", "hello"));
        assert!(matches("h[a-b]llo", "hallo") && matches("h[a-b]llo", "hbllo"));
        assert!(!matches("h[a-b]llo", "hcllo"));
        assert!(matches("*", "anything") && matches("a*", "a") && matches("*a*", "bab"));
        assert!(!matches("a*b", "a") && !matches("?", "ab") && !matches("ab", "a"));
        assert!(matches("**a**", "a") && matches("a*b*c", "aXbYbZc"));
        assert!(!matches("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn escapes() {
        assert!(matches(r"a\*", "a*") && !matches(r"a\*", "ab"));
        assert!(matches(r"\?", "?") && !matches(r"\?", "x"));
        assert!(matches("a\\", "a\\"));
        assert!(matches(r"[\]]", "]") && matches(r"[\-a]", "-"));
    }

    #[test]
    fn set_quirks() {
        assert!(matches("[z-a]", "m"), "ranges take either order");
        assert!(
            matches("[ab", "b") && !matches("[ab", "c"),
            "an unclosed set ends the pattern"
        );
        assert!(
            !matches("[]", "]") && !matches("[]a", "a"),
            "[] matches nothing"
        );
        assert!(matches("[^]", "x"));
        // "a-]" is a range from 'a' to ']' (swapped), and the set then
        // runs to the end of the pattern: '-' is not in it.
        assert!(matches("[a-]", "_") && matches("[a-]", "a") && !matches("[a-]", "-"));
    }

    #[test]
    fn empty_strings_match_only_the_empty_pattern() {
        assert!(matches("", ""));
        assert!(!matches("*", "") && !matches("?", "") && !matches("", "a"));
        assert!(GlobPattern::new(b"*", false).matches_everything());
        assert!(!GlobPattern::new(b"**", false).matches_everything());
    }

    #[test]
    fn nocase_folds_ascii() {
        assert!(glob_matches(b"HeLLo", b"hello", true));
        assert!(glob_matches(b"[A-C]x", b"bX", true));
        assert!(glob_matches(b"[^A]", b"b", true) && !glob_matches(b"[^A]", b"a", true));
        assert!(!glob_matches(b"HeLLo", b"hello", false));
        // An escaped byte in a set is compared exactly, as in Redis.
        assert!(!glob_matches(br"[\A]", b"a", true));
    }

    #[test]
    fn binary_bytes() {
        assert!(glob_matches(b"\xff*", b"\xff\x00\x01", false));
        assert!(glob_matches(b"[\x80-\xff]", b"\x90", false));
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        // Exponential for naive recursion (Redis CVE-2022-36021's shape).
        let pattern = "a*".repeat(10_000) + "b";
        let text = "a".repeat(10_000);
        assert!(!matches(&pattern, &text));
        assert!(matches(&"*".repeat(100_000), "x"));
    }
}

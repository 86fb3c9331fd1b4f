//! Splitting an inline request line into arguments, as Redis's
//! `sdssplitargs` does, so that `telnet` and `nc` users can type commands.
//!
//! Rules: arguments are separated by white space; `"double quotes"` take
//! the escapes `\n \r \t \b \a \xHH` and `\<any>`; `'single quotes'` take
//! only `\'`; a quote may open in the middle of an argument (`a"b c"` is
//! `ab c`), but a closing quote must be followed by white space or the end
//! of the line. A line is read as a C string: a NUL byte ends it.

use bytes::Bytes;

use super::error::{ProtocolError as Error, Result};

/// Splits `line` (without its line ending) into arguments.
///
/// An unterminated quote, or a closing quote followed by something other
/// than white space, is [`Error::UnbalancedQuotes`].
///
/// ```
/// use keel_server::split_inline_arguments;
/// let arguments = split_inline_arguments(br#"set "a b" '\x41'"#).unwrap();
/// assert_eq!(arguments, [&b"set"[..], b"a b", br"\x41"]);
/// ```
pub fn split_inline_arguments(line: &[u8]) -> Result<Vec<Bytes>> {
    let end = line
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(line.len());
    let line = &line[..end];
    // The byte at `index`, or NUL past the end, as C would read it.
    let at = |index: usize| line.get(index).copied().unwrap_or(0);
    let mut arguments = Vec::new();
    let mut index = 0;
    loop {
        while at(index) != 0 && is_space(at(index)) {
            index += 1;
        }
        if at(index) == 0 {
            return Ok(arguments);
        }
        let mut current = Vec::new();
        let mut in_double_quotes = false;
        let mut in_single_quotes = false;
        let mut done = false;
        while !done {
            let byte = at(index);
            if in_double_quotes {
                if byte == b'\\'
                    && at(index + 1) == b'x'
                    && at(index + 2).is_ascii_hexdigit()
                    && at(index + 3).is_ascii_hexdigit()
                {
                    current.push(hex_value(at(index + 2)) * 16 + hex_value(at(index + 3)));
                    index += 3;
                } else if byte == b'\\' && at(index + 1) != 0 {
                    index += 1;
                    current.push(match at(index) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if byte == b'"' {
                    if at(index + 1) != 0 && !is_space(at(index + 1)) {
                        return Err(Error::UnbalancedQuotes);
                    }
                    done = true;
                } else if byte == 0 {
                    return Err(Error::UnbalancedQuotes);
                } else {
                    current.push(byte);
                }
            } else if in_single_quotes {
                if byte == b'\\' && at(index + 1) == b'\'' {
                    index += 1;
                    current.push(b'\'');
                } else if byte == b'\'' {
                    if at(index + 1) != 0 && !is_space(at(index + 1)) {
                        return Err(Error::UnbalancedQuotes);
                    }
                    done = true;
                } else if byte == 0 {
                    return Err(Error::UnbalancedQuotes);
                } else {
                    current.push(byte);
                }
            } else {
                match byte {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_double_quotes = true,
                    b'\'' => in_single_quotes = true,
                    other => current.push(other),
                }
            }
            if at(index) != 0 {
                index += 1;
            }
        }
        arguments.push(Bytes::from(current));
    }
}

/// C's `isspace` in the C locale.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(digit: u8) -> u8 {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Result<Vec<Vec<u8>>> {
        split_inline_arguments(line)
            .map(|arguments| arguments.into_iter().map(|a| a.to_vec()).collect())
    }

    #[test]
    fn splits_on_white_space() {
        assert_eq!(
            split(b"  set  key\tvalue ").unwrap(),
            [&b"set"[..], b"key", b"value"]
        );
        assert!(split(b"").unwrap().is_empty());
        assert!(split(b" \t ").unwrap().is_empty());
    }

    #[test]
    fn double_quotes_take_escapes() {
        assert_eq!(
            split(br#""a\x41\x7a\n\r\t\b\a\q\"" x"#).unwrap(),
            [&b"aAz\n\r\t\x08\x07q\""[..], b"x"]
        );
        // A \x without two hex digits is an ordinary escape of 'x'.
        assert_eq!(split(br#""\x4""#).unwrap(), [b"x4"]);
        assert_eq!(split(br#""\xFF""#).unwrap(), [[0xff]]);
    }

    #[test]
    fn single_quotes_take_only_escaped_quotes() {
        assert_eq!(split(br"'it\'s \n'").unwrap(), [&br"it's \n"[..]]);
    }

    #[test]
    fn empty_quotes_are_an_empty_argument() {
        assert_eq!(split(br#"set k """#).unwrap(), [&b"set"[..], b"k", b""]);
    }

    #[test]
    fn quotes_may_open_inside_an_argument() {
        assert_eq!(split(br#"a"b c""#).unwrap(), [b"ab c"]);
    }

    #[test]
    fn unbalanced_quotes_are_errors() {
        for line in [
            &br#""abc"#[..],
            br"'abc",
            br#""a"b"#,
            br"'a'b",
            br#"x "a\""#,
        ] {
            assert!(
                matches!(split(line), Err(Error::UnbalancedQuotes)),
                "{line:?}"
            );
        }
    }

    #[test]
    fn a_nul_byte_ends_the_line() {
        assert_eq!(split(b"ping\0 extra").unwrap(), [b"ping"]);
        // Like C: the quote is cut off by the NUL and so never closes.
        assert!(split(b"\"ab\0\"").is_err());
    }
}

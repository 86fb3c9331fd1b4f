//! Numbers as Redis reads and writes them: `string2ll` for lengths and
//! integer arguments, and the two ways Redis prints a double.

/// Parses a signed 64-bit integer exactly as Redis's `string2ll` does: an
/// optional `-`, then digits with no leading zero (except `0` itself), no
/// `+`, no spaces, no overflow. Returns `None` for anything else.
///
/// ```
/// assert_eq!(keel_server::parse_integer(b"-42"), Some(-42));
/// assert_eq!(keel_server::parse_integer(b"042"), None);
/// ```
pub fn parse_integer(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [] => return None,
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(byte - b'0'))?;
    }
    if negative {
        if magnitude > i64::MIN.unsigned_abs() {
            return None;
        }
        Some(0i64.wrapping_sub_unsigned(magnitude))
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Appends `value` in decimal, without allocating (replies write a length
/// or an integer for almost every value).
pub fn push_decimal(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    push_unsigned_decimal(out, value.unsigned_abs());
}

/// Appends `value` in decimal, without allocating.
pub fn push_unsigned_decimal(out: &mut Vec<u8>, mut value: u64) {
    if value < 10 {
        // One digit: most lengths of short bulk strings.
        out.push(b'0' + value as u8);
        return;
    }
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        // The remainder is below 10.
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Formats a double as Redis replies with one (RESP3 `,` and the RESP2
/// bulk-string downgrade): the shortest digits that read back as the same
/// double, laid out as C's `%.17g` would (an exponent below -4 or from 17
/// up switches to `1.5e+20` notation); `inf`, `-inf` and `nan` spelled out.
///
/// ```
/// assert_eq!(keel_server::format_double(1.5), "1.5");
/// assert_eq!(keel_server::format_double(1e20), "1e+20");
/// assert_eq!(keel_server::format_double(f64::NEG_INFINITY), "-inf");
/// ```
pub fn format_double(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    layout_g(&format!("{value:e}"))
}

/// Formats a double as C's `%.17g` does — 17 significant digits, trailing
/// zeros dropped — as Redis 7.0 replies with a sorted set's score
/// (`0.1` is `0.10000000000000001`).
///
/// ```
/// assert_eq!(keel_server::format_double_17_digits(1.5), "1.5");
/// assert_eq!(keel_server::format_double_17_digits(0.1), "0.10000000000000001");
/// ```
pub fn format_double_17_digits(value: f64) -> String {
    if !value.is_finite() || value == 0.0 {
        return format_double(value);
    }
    let scientific = format!("{value:.16e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    layout_g(&format!("{mantissa}e{exponent}"))
}

/// Lays out `scientific` (Rust's `{:e}`: "-1.2345e-7") as `%g` would.
fn layout_g(scientific: &str) -> String {
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::from(sign);
    if !(-4..17).contains(&exponent) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exponent.unsigned_abs()));
    } else if exponent >= 0 {
        let integer_digits = exponent as usize + 1;
        if digits.len() <= integer_digits {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', integer_digits - digits.len()));
        } else {
            out.push_str(&digits[..integer_digits]);
            out.push('.');
            out.push_str(&digits[integer_digits..]);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n(
            '0',
            exponent.unsigned_abs() as usize - 1,
        ));
        out.push_str(&digits);
    }
    out
}

/// Formats a double as Redis's INCRBYFLOAT and HINCRBYFLOAT store and
/// reply with it (`ld2string` in `LD_STR_HUMAN` mode): plain decimal
/// notation, never an exponent, no trailing zeros, `-0` written `0`.
///
/// Redis computes in `long double` and prints `%.17Lf` trimmed; keel works
/// in `f64` and prints the shortest decimal that reads back as the same
/// value, which gives the same text for every value a user would type
/// (`10.5` + `0.1` is `10.6`). Values below 1e-17 differ: Redis rounds
/// them to `0`, keel prints their digits. Infinity and NaN are refused by
/// the commands before formatting (Redis: "ERR increment would produce NaN
/// or Infinity").
///
/// ```
/// assert_eq!(keel_server::format_human_double(10.5 + 0.1), "10.6");
/// assert_eq!(keel_server::format_human_double(5.0e3), "5000");
/// ```
pub fn format_human_double(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if value == 0.0 {
        return "0".to_owned();
    }
    // Rust's `Display` for f64 is the shortest round-trip decimal, without
    // an exponent.
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_integer_follows_string2ll() {
        // The cases of Redis's own string2ll unit test (util.c).
        assert_eq!(parse_integer(b"+1"), None);
        assert_eq!(parse_integer(b" 1"), None);
        assert_eq!(parse_integer(b"1 "), None);
        assert_eq!(parse_integer(b"01"), None);
        assert_eq!(parse_integer(b"-1"), Some(-1));
        assert_eq!(parse_integer(b"0"), Some(0));
        assert_eq!(parse_integer(b"1"), Some(1));
        assert_eq!(parse_integer(b"99"), Some(99));
        assert_eq!(parse_integer(b"-99"), Some(-99));
        assert_eq!(parse_integer(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_integer(b"-9223372036854775809"), None);
        assert_eq!(parse_integer(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_integer(b"9223372036854775808"), None);
        assert_eq!(parse_integer(b""), None);
        assert_eq!(parse_integer(b"-"), None);
        assert_eq!(parse_integer(b"-0"), None);
        assert_eq!(parse_integer(b"99999999999999999999999"), None);
        assert_eq!(parse_integer(b"12a"), None);
    }

    #[test]
    fn decimals_match_display() {
        for value in [0, 1, -1, 9, 10, 12345, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            push_decimal(&mut out, value);
            assert_eq!(out, value.to_string().into_bytes());
        }
        let mut out = Vec::new();
        push_unsigned_decimal(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().into_bytes());
    }

    #[test]
    fn format_double_matches_printf_g_layout() {
        assert_eq!(format_double(0.1), "0.1");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(1e16), "10000000000000000");
        assert_eq!(format_double(1e17), "1e+17");
        assert_eq!(format_double(1.25e-4), "0.000125");
        assert_eq!(format_double(1.25e-5), "1.25e-05");
        assert_eq!(format_double(-1e300), "-1e+300");
        assert_eq!(format_double(0.0), "0");
        assert_eq!(format_double(-0.0), "-0");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NAN), "nan");
        assert_eq!(format_double(123456.789), "123456.789");
    }

    #[test]
    fn format_double_reads_back_exactly() {
        for value in [
            0.1 + 0.2,
            1.0 / 3.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            6.02214076e23,
            -7.5e-300,
        ] {
            let text = format_double(value);
            assert_eq!(text.parse::<f64>().ok(), Some(value), "{text}");
        }
    }

    #[test]
    fn human_format_has_no_exponent() {
        assert_eq!(format_human_double(10.5 + 0.1), "10.6");
        assert_eq!(format_human_double(-0.0), "0");
        assert_eq!(format_human_double(3.0e3), "3000");
        assert_eq!(format_human_double(1e21), "1000000000000000000000");
        assert_eq!(format_human_double(-1.5), "-1.5");
        assert!(!format_human_double(1e-7).contains('e'));
    }
}

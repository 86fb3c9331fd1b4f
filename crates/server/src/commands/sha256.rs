//! SHA-256 (the `sha2` crate), for ACL passwords: Redis keeps and shows each
//! password as its SHA-256 in hex (`ACL GETUSER`, `#<hash>` rules).

/// Bytes of a digest.
pub const DIGEST_BYTES: usize = 32;

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; DIGEST_BYTES] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// A digest in lower-case hex, as Redis shows it.
pub fn to_hex(digest: &[u8; DIGEST_BYTES]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The digest written in `text` (64 lower-case hex digits), if it is one.
pub fn from_hex(text: &[u8]) -> Option<[u8; DIGEST_BYTES]> {
    if text.len() != 2 * DIGEST_BYTES
        || !text
            .iter()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(byte))
    {
        return None;
    }
    let mut digest = [0u8; DIGEST_BYTES];
    for (out, pair) in digest.iter_mut().zip(text.chunks_exact(2)) {
        *out = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_vectors() {
        let cases: [(&[u8], &str); 3] = [
            (
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(to_hex(&sha256(input)), expected);
            assert_eq!(from_hex(expected.as_bytes()), Some(sha256(input)));
        }
        let million = vec![b'a'; 1_000_000];
        assert_eq!(
            to_hex(&sha256(&million)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
        assert_eq!(from_hex(b"ABCD"), None);
        assert_eq!(from_hex(&[b'A'; 64]), None);
    }
}

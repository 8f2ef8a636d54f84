//! The hashing and keyed-hash helpers every module uses: one hex encoding, SHA-256 for looking
//! secrets up by hash, and one HMAC-SHA256 construction.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// HMAC-SHA256, as the signing modules use it.
pub type HmacSha256 = Hmac<Sha256>;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Hex SHA-256, for looking tokens up by hash so the store never holds one in clear.
pub fn sha256_hex(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

/// An HMAC-SHA256 keyed with `key`, ready for `update` and then `finalize` or `verify_slice`
/// (which compares in constant time).
pub fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length (a long one is hashed first): this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn sha256_and_hmac_match_their_published_test_vectors() {
        // FIPS 180-2's "abc" and RFC 4231's test case 2.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut mac = hmac(b"Jefe");
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

//! `base64url` target: the crate's base64url, standard base64 (HTTP Basic) and
//! SHA-256 against base64ct and sha2.
//!
//! Input format: raw bytes. They are encoded and decoded as bytes, and (when
//! UTF-8) decoded as text.

use base64ct::{Base64, Base64Unpadded, Base64UrlUnpadded, Encoding};
use edge_revoke::primitives::{
    base64_decode, base64url_decode, base64url_encode, is_base64url_char, sha256,
};
use sha2::{Digest, Sha256};

/// One fuzz iteration. Panics on a violated invariant.
pub fn check(data: &[u8]) {
    // Encoding: round-trips, uses only the URL alphabet, no padding, and
    // matches base64ct byte for byte.
    let encoded = base64url_encode(data);
    assert_eq!(
        encoded.len(),
        (data.len() * 4).div_ceil(3),
        "encoded length"
    );
    assert!(encoded.bytes().all(is_base64url_char), "{encoded:?}");
    assert_eq!(encoded, Base64UrlUnpadded::encode_string(data));
    assert_eq!(
        base64url_decode(&encoded).as_deref(),
        Some(data),
        "round trip"
    );

    // Decoding text: canonical only (decode(s) = Some(b) ⇒ encode(b) = s), and
    // the same verdict and bytes as base64ct's strict decoder.
    if let Ok(text) = std::str::from_utf8(data) {
        let decoded = base64url_decode(text);
        if let Some(bytes) = &decoded {
            assert_eq!(
                &base64url_encode(bytes),
                text,
                "non-canonical input accepted"
            );
        }
        assert_eq!(
            decoded,
            Base64UrlUnpadded::decode_vec(text).ok(),
            "differs from base64ct on {text:?}"
        );
    }

    // Standard base64 (padding optional): both encodings of the bytes decode
    // back; any accepted text is the canonical encoding, up to its padding.
    assert_eq!(
        base64_decode(&Base64::encode_string(data)).as_deref(),
        Some(data)
    );
    assert_eq!(
        base64_decode(&Base64Unpadded::encode_string(data)).as_deref(),
        Some(data)
    );
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(bytes) = base64_decode(text) {
            let unpadded = text
                .strip_suffix("==")
                .or_else(|| text.strip_suffix('='))
                .unwrap_or(text);
            assert_eq!(
                Base64Unpadded::encode_string(&bytes),
                unpadded,
                "base64_decode accepted a non-canonical {text:?}"
            );
        }
    }

    // SHA-256: 32 bytes, same digest as sha2.
    let digest = sha256(data);
    assert_eq!(digest.len(), 32);
    assert_eq!(
        digest[..],
        Sha256::digest(data)[..],
        "sha256 differs from sha2"
    );
}

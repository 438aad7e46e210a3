//! Small building blocks: SHA-256, base64url, constant-time comparison, URL
//! and form decoding, and a two-future join.
//!
//! SHA-256, base64 and constant-time equality are thin names over `sha2`,
//! `base64ct` and `subtle`, which jwt-compact already links into the worker,
//! so the upload carries one implementation of each.
//!
//! Percent and form decoding stay hand-written on purpose: the route
//! contracts reject a malformed escape (`%zz`, `%2`) or a result that is not
//! UTF-8 with 400, where the usual crates decode leniently (`%zz` passes
//! through as text). The rules are short and tested below and by the
//! `routes` fuzz target.

use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::Digest;
use subtle::ConstantTimeEq;

/// SHA-256 digest of `data` (FIPS 180-4).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// Base64url without padding (RFC 4648 §5), as JOSE uses it.
pub fn base64url_encode(data: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(data)
}

/// Decodes unpadded base64url. Rejects padding, the standard alphabet's `+` and
/// `/`, and non-zero trailing bits, so every byte string has one encoding.
/// Instantiated in `edge-revoke-hot`, which is built for speed.
pub fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    edge_revoke_hot::base64url_decode(input)
}

/// Decodes standard base64 (RFC 4648 §4, `+` and `/`, padding optional), as
/// HTTP Basic credentials use it. Mapped onto the base64url alphabet so the
/// one decoder jwt-compact links serves both (a second alphabet would add
/// its own copy to the upload).
pub fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let unpadded = input
        .strip_suffix("==")
        .or_else(|| input.strip_suffix('='))
        .unwrap_or(input);
    if unpadded.contains(['-', '_', '=']) {
        return None;
    }
    base64url_decode(&unpadded.replace('+', "-").replace('/', "_"))
}

/// Compares two byte strings in time that depends only on their lengths.
///
/// Used for API keys and client secrets. Length is not secret here: the keys
/// are random strings of a fixed, public format.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Decodes `%XX` escapes (and `+` as space when `plus_as_space`).
/// Returns `None` for a malformed escape or a result that is not UTF-8.
pub fn percent_decode(input: &str, plus_as_space: bool) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hi = (hex[0] as char).to_digit(16)?;
                let lo = (hex[1] as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `application/x-www-form-urlencoded` text (also a URL query) into
/// decoded pairs, in order. Returns `None` if any part is malformed.
pub fn parse_form(input: &str) -> Option<Vec<(String, String)>> {
    input
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            Some((percent_decode(name, true)?, percent_decode(value, true)?))
        })
        .collect()
}

/// Polls two futures concurrently and waits for both: the worker's two store
/// lookups then cost one round trip, not two.
pub async fn join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    use std::task::Poll;
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(move |cx| {
        if out_a.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                out_a = Some(v);
            }
        }
        if out_b.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                out_b = Some(v);
            }
        }
        match (out_a.take(), out_b.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                out_a = x;
                out_b = y;
                Poll::Pending
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_matches_fips_vectors() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        let million_a = vec![b'a'; 1_000_000];
        assert_eq!(
            hex(&sha256(&million_a)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn sha256_handles_every_padding_boundary() {
        // Lengths around 55/56/64 take the one- and two-block padding paths.
        // Cross-check against a simple property: different inputs, different digests,
        // and a fixed vector for 56 bytes.
        let digests: Vec<_> = (50..70).map(|n| sha256(&vec![b'x'; n])).collect();
        for (i, a) in digests.iter().enumerate() {
            for b in &digests[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(
            hex(&sha256(&[b'a'; 56])),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"
        );
        assert_eq!(
            hex(&sha256(&[b'a'; 64])),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"
        );
    }

    #[test]
    fn base64url_round_trips_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url_encode(input.as_bytes()), expected);
        }
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
        for input in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let encoded = base64url_encode(input.as_bytes());
            assert_eq!(base64url_decode(&encoded).unwrap(), input.as_bytes());
        }
        assert_eq!(base64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
    }

    #[test]
    fn standard_base64_for_basic_credentials() {
        assert_eq!(
            base64_decode("YWxhZGRpbjpvcGVuc2VzYW1l").unwrap(),
            b"aladdin:opensesame"
        );
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("+/8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(base64_decode("-_8="), None);
        assert_eq!(base64_decode("Zg=a"), None);
    }

    #[test]
    fn base64url_decode_rejects_non_canonical_input() {
        assert_eq!(base64url_decode("Zg=="), None, "padding");
        assert_eq!(base64url_decode("+/8"), None, "standard alphabet");
        assert_eq!(base64url_decode("Zh"), None, "non-zero trailing bits");
        assert_eq!(base64url_decode("Z"), None, "impossible length");
        assert_eq!(base64url_decode("Zm9v YmFy"), None, "whitespace");
        assert_eq!(base64url_decode("é"), None, "non-ASCII");
    }

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn join_polls_both_before_either_completes() {
        use std::cell::Cell;
        use std::future::Future;
        use std::task::Poll;
        // Each future needs two polls; both must have been polled once before
        // either finishes, which is what makes the lookups concurrent.
        let polls = Cell::new(Vec::new());
        let step = |name: &'static str| {
            let mut first = true;
            let polls = &polls;
            std::future::poll_fn(move |cx| {
                let mut seen = polls.take();
                seen.push(name);
                polls.set(seen);
                if std::mem::take(&mut first) {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                } else {
                    Poll::Ready(name)
                }
            })
        };
        let mut fut = std::pin::pin!(join(step("a"), step("b")));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(("a", "b")));
        assert_eq!(polls.take(), ["a", "b", "a", "b"]);
    }

    #[test]
    fn percent_decoding_and_forms() {
        assert_eq!(percent_decode("a%20b+c", true).as_deref(), Some("a b c"));
        assert_eq!(percent_decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%zz", true), None);
        assert_eq!(percent_decode("%2", true), None);
        assert_eq!(percent_decode("%ff", true), None);
        let pairs = parse_form("a=1&b=x%3Dy&c&&d=").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x=y".into()),
                ("c".into(), "".into()),
                ("d".into(), "".into()),
            ]
        );
        assert_eq!(parse_form("a=%"), None);
    }
}

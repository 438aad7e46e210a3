//! `token` target: bytes → request headers → `extract` → `verify`, with an
//! independent oracle for every token that verifies.
//!
//! Input format: when the first byte is a control byte (< 0x20) it selects a
//! header layout (see [`headers`]) and the rest is the text; otherwise the
//! whole input is the token in `Authorization: Bearer <input>`. Seed files are
//! therefore plain token text.

use crate::fixtures::{self, AUDIENCE, AUDIENCE_2, ISSUER, LEEWAY, NOW, SECRET};
use base64ct::{Base64UrlUnpadded, Encoding};
use edge_revoke_core::http::request::RequestHead;
use edge_revoke_core::keys::Alg;
use edge_revoke_core::token::signature::RustCrypto;
use edge_revoke_core::token::{self, VerifiedToken};
use jwt_compact::alg::{Ed25519, Es256, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key, Rsa};
use jwt_compact::{AlgorithmExt, UntrustedToken};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Header layout selectors (first input byte, when < 0x20).
pub mod layout {
    /// `X-Auth-Token: <text>`
    pub const X_AUTH: u8 = 0x01;
    /// Both headers with the same token.
    pub const BOTH_SAME: u8 = 0x02;
    /// `authorization: bEaReR\t<text> ` (scheme case, tab, trailing space).
    pub const ODD_SCHEME: u8 = 0x03;
    /// `<a>\n<b>`: `Authorization: Bearer <a>` and `X-Auth-Token: <b>`.
    pub const SPLIT: u8 = 0x04;
    /// `Authorization: <text>` verbatim (the scheme comes from the input).
    pub const RAW_AUTH: u8 = 0x05;
    /// `Authorization: Basic <text>` plus `X-Auth-Token: <text>`.
    pub const BASIC_AND_X_AUTH: u8 = 0x06;
    /// Two `Authorization` headers: `Bearer <text>` then `Bearer x.y.z`.
    pub const DUPLICATE: u8 = 0x07;
    /// `Authorization: Bearer` (no token) plus `X-Auth-Token:  <text>\t`.
    pub const EMPTY_BEARER: u8 = 0x08;
}

/// The headers for an input (see the module docs).
pub fn headers(data: &[u8]) -> Vec<(String, String)> {
    let (mode, rest) = match data.first() {
        Some(&b) if b < 0x20 => (b, &data[1..]),
        _ => (0, data),
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let h = |n: &str, v: String| (n.to_owned(), v);
    match mode {
        0 => vec![h("Authorization", format!("Bearer {text}"))],
        layout::X_AUTH => vec![h("X-Auth-Token", text)],
        layout::BOTH_SAME => vec![
            h("Authorization", format!("Bearer {text}")),
            h("x-auth-token", text),
        ],
        layout::ODD_SCHEME => vec![h("authorization", format!("bEaReR\t{text} "))],
        layout::SPLIT => {
            let (a, b) = text.split_once('\n').unwrap_or((&text, ""));
            vec![
                h("Authorization", format!("Bearer {a}")),
                h("X-AUTH-TOKEN", b.to_owned()),
            ]
        }
        layout::RAW_AUTH => vec![h("Authorization", text)],
        layout::BASIC_AND_X_AUTH => vec![
            h("Authorization", format!("Basic {text}")),
            h("X-Auth-Token", text),
        ],
        layout::DUPLICATE => vec![
            h("Authorization", format!("Bearer {text}")),
            h("authorization", "Bearer x.y.z".to_owned()),
        ],
        layout::EMPTY_BEARER => vec![
            h("Authorization", "Bearer".to_owned()),
            h("X-Auth-Token", format!("  {text}\t")),
        ],
        // Other control bytes: the whole input (selector included) as Bearer.
        _ => vec![h(
            "Authorization",
            format!("Bearer {}", String::from_utf8_lossy(data)),
        )],
    }
}

/// One fuzz iteration. Panics on a violated invariant.
pub fn check(data: &[u8]) {
    let head = RequestHead::new("GET", "https://edge.test/things", headers(data));
    let raw = match token::extract(&head) {
        Ok(Some(raw)) => raw,
        Ok(None) | Err(_) => return,
    };
    assert!(!raw.is_empty(), "extract returned an empty token");
    assert_eq!(raw, raw.trim_matches([' ', '\t']), "extract left blanks");
    assert!(
        head.headers.iter().any(|(_, v)| v.contains(raw)),
        "extract invented a token"
    );
    if let Ok(verified) = verify_token(raw) {
        oracle(raw, &verified);
    }
}

/// Outcome of [`verify_token`], for the seed generator's self-check.
pub fn verify_token(raw: &str) -> Result<VerifiedToken, edge_revoke_core::error::Rejection> {
    // Parsed keys are kept in the configuration's keys, which live for the
    // process: every iteration after the first reuses them.
    let config = fixtures::config();
    edge_revoke_core::block_on(token::verify(
        raw,
        &config.rules,
        &config.keys,
        &RustCrypto,
        NOW,
    ))
}

/// Everything that must hold for a token `verify` accepted, checked without
/// the crate's own parsing, key selection or crypto.
pub fn oracle(token: &str, verified: &VerifiedToken) {
    // 1. Shape: exactly three canonical base64url segments.
    let segments: Vec<&str> = token.split('.').collect();
    assert_eq!(segments.len(), 3, "accepted a token without 3 segments");
    let decoded: Vec<Vec<u8>> = segments
        .iter()
        .map(|s| {
            let bytes = Base64UrlUnpadded::decode_vec(s)
                .unwrap_or_else(|e| panic!("accepted a non-base64url segment {s:?}: {e}"));
            assert_eq!(
                &Base64UrlUnpadded::encode_string(&bytes),
                s,
                "accepted a non-canonical segment"
            );
            bytes
        })
        .collect();

    // 2. Header policy, from the header JSON itself.
    let header: Value = serde_json::from_slice(&decoded[0]).expect("accepted a non-JSON header");
    let header = header.as_object().expect("accepted a non-object header");
    for forbidden in ["jku", "x5u", "jwk", "x5c", "crit"] {
        assert!(
            !header.contains_key(forbidden),
            "accepted a header with {forbidden}"
        );
    }
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .expect("accepted a header without a string alg");
    assert_eq!(alg_name, verified.alg().name(), "alg differs from header");
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(other) => panic!("accepted a non-string kid {other}"),
    };

    // 3. The signature, with jwt-compact's own Validator and the key the
    //    rules name: a JWKS key only through its kid (the JWKS has three keys),
    //    JWT_SECRET for HS* whose kid names no JWKS key.
    let untrusted = UntrustedToken::new(token).expect("jwt-compact cannot parse an accepted token");
    assert_eq!(untrusted.algorithm(), alg_name);
    let keys = edge_revoke_test_support::keys();
    let jwks_kid = |want: &str| {
        assert_eq!(kid, Some(want), "{alg_name} accepted with kid {kid:?}");
    };
    type Custom = Map<String, Value>;
    let secret = SECRET.as_bytes();
    let validated = match verified.alg() {
        Alg::HS256 | Alg::HS384 | Alg::HS512 => {
            assert!(
                !matches!(kid, Some("rsa-1" | "ec-1" | "ed-1")),
                "HMAC accepted with the kid of a public key: {kid:?}"
            );
            match verified.alg() {
                Alg::HS256 => Hs256
                    .validator::<Custom>(&Hs256Key::new(secret))
                    .validate(&untrusted),
                Alg::HS384 => Hs384
                    .validator::<Custom>(&Hs384Key::new(secret))
                    .validate(&untrusted),
                _ => Hs512
                    .validator::<Custom>(&Hs512Key::new(secret))
                    .validate(&untrusted),
            }
        }
        rsa @ (Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512) => {
            jwks_kid("rsa-1");
            let algorithm = match rsa {
                Alg::RS256 => Rsa::rs256(),
                Alg::RS384 => Rsa::rs384(),
                Alg::RS512 => Rsa::rs512(),
                Alg::PS256 => Rsa::ps256(),
                Alg::PS384 => Rsa::ps384(),
                _ => Rsa::ps512(),
            };
            algorithm
                .validator::<Custom>(&keys.rsa_public)
                .validate(&untrusted)
        }
        Alg::ES256 => {
            jwks_kid("ec-1");
            Es256
                .validator::<Custom>(&keys.ec_public)
                .validate(&untrusted)
        }
        Alg::EdDSA => {
            jwks_kid("ed-1");
            Ed25519
                .validator::<Custom>(&keys.ed_public)
                .validate(&untrusted)
        }
    };
    let validated = validated
        .unwrap_or_else(|e| panic!("verify accepted a token jwt-compact's Validator rejects: {e}"));

    // 4. Claims, decoded independently.
    let payload: Value = serde_json::from_slice(&decoded[1]).expect("accepted a non-JSON payload");
    let payload = payload.as_object().expect("accepted a non-object payload");
    assert!(
        !has_duplicate_names(&decoded[1]),
        "accepted a payload with duplicate claim names"
    );
    let claims = verified.claims();
    let exp = payload.get("exp").expect("accepted a token without exp");
    assert!(
        exp.is_u64(),
        "accepted a non-integer or negative exp: {exp}"
    );
    assert_eq!(exp.as_u64(), Some(claims.exp));
    assert_eq!(
        validated.claims().expiration.map(|t| t.timestamp()),
        Some(claims.exp as i64),
        "jwt-compact reads a different exp"
    );
    assert!(claims.exp + LEEWAY >= NOW, "accepted an expired token");
    for (name, value) in [("nbf", claims.nbf), ("iat", claims.iat)] {
        match payload.get(name) {
            None => assert_eq!(value, None),
            Some(v) => {
                assert!(v.is_u64(), "accepted a non-integer {name}: {v}");
                assert_eq!(v.as_u64(), value);
                assert!(v.as_u64().unwrap() <= NOW + LEEWAY, "{name} in the future");
            }
        }
    }
    assert_eq!(payload.get("iss").and_then(Value::as_str), Some(ISSUER));
    assert_eq!(claims.iss.as_deref(), Some(ISSUER));
    let aud_ok = |a: &str| a == AUDIENCE || a == AUDIENCE_2;
    match payload.get("aud") {
        Some(Value::String(a)) => assert!(aud_ok(a), "wrong aud {a}"),
        Some(Value::Array(items)) => assert!(
            items.iter().filter_map(Value::as_str).any(aud_ok),
            "no accepted aud in {items:?}"
        ),
        other => panic!("accepted aud {other:?}"),
    }
    for (name, value) in [("sub", &claims.sub), ("jti", &claims.jti)] {
        assert_eq!(
            payload
                .get(name)
                .map(|v| v.as_str().expect("non-string claim")),
            value.as_deref(),
            "{name} differs"
        );
    }

    // 5. Re-serialising is consistent: `all` is the payload, and survives a
    //    round trip through JSON text.
    assert_eq!(&claims.all, payload, "claims.all differs from the payload");
    let text = serde_json::to_string(&claims.all).expect("claims serialise");
    let again: Map<String, Value> = serde_json::from_str(&text).expect("claims reparse");
    assert_eq!(again, claims.all, "claims do not survive a JSON round trip");

    // 6. The store name: the jti, or base64url(SHA-256(signed part)), where
    //    the signed part is the text before the last `.`. Leaving the
    //    signature out keeps ECDSA's (r, n - s) twin under the same name, so
    //    a revoked token has no unrevoked twin.
    let expected_id = match &claims.jti {
        Some(jti) => jti.clone(),
        None => {
            let signed = &token[..token.rfind('.').expect("three segments")];
            Base64UrlUnpadded::encode_string(&Sha256::digest(signed.as_bytes()))
        }
    };
    assert_eq!(verified.id().as_str(), expected_id, "unexpected token id");
}

/// True when a 64-byte P-256 signature `r || s` has s <= (n - 1) / 2.
pub fn is_low_s(signature: &[u8]) -> bool {
    const HALF_N: [u8; 32] = [
        0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31,
        0x92, 0xa8,
    ];
    signature.len() == 64 && signature[32..] <= HALF_N[..]
}

/// True when the top-level JSON object in `bytes` repeats a member name.
pub fn has_duplicate_names(bytes: &[u8]) -> bool {
    struct Names;
    impl<'de> Visitor<'de> for Names {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<bool, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut duplicate = false;
            while let Some((name, IgnoredAny)) = access.next_entry::<String, IgnoredAny>()? {
                duplicate |= !seen.insert(name);
            }
            Ok(duplicate)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    (&mut de).deserialize_map(Names).unwrap_or(false)
}

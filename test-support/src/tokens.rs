//! Fixture keys and tokens. Signatures come from jwt-compact and segments are
//! encoded with base64ct, so a token minted here shares no code with the
//! core's own parsing, encoding or crypto.

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use jwt_compact::alg::{
    Ed25519, Es256, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key, Rsa, RsaPrivateKey,
    RsaPublicKey,
};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// `JWT_SECRET`: the HS* key of every fixture token.
pub const SECRET: &str = "test-secret-0123456789abcdef-0123456789";
/// `JWT_ISSUER`.
pub const ISSUER: &str = "https://issuer.test";
/// First entry of `JWT_AUDIENCE`.
pub const AUDIENCE: &str = "api://edge";
/// Second entry of `JWT_AUDIENCE`.
pub const AUDIENCE_2: &str = "api://other";
/// First entry of `INVALIDATE_API_KEYS`.
pub const API_KEY: &str = "service-key-1";
/// The fixed "now" of every native test and fuzz target (2027-01-15).
pub const NOW: u64 = 1_800_000_000;

/// Every algorithm the worker verifies.
pub const ALGORITHMS: [&str; 11] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "EdDSA",
];

/// The fixture document: RSA (`rsa-1`, and a second key `rsa_other` that
/// the JWKS does not hold), P-256 (`ec-1`) and Ed25519 (`ed-1`) JWKs with
/// their private members. Test-only keys.
pub const KEYS_JSON: &str = include_str!("../fixtures/test-keys.json");

type EsSigning = <Es256 as Algorithm>::SigningKey;
type EdSigning = <Ed25519 as Algorithm>::SigningKey;
type EsVerifying = <Es256 as Algorithm>::VerifyingKey;
type EdVerifying = <Ed25519 as Algorithm>::VerifyingKey;

/// The fixture document and its keys, parsed once by jwt-compact: the
/// private keys sign, the public ones (read from the public JWKs alone) are
/// for independent checks such as the fuzz oracle.
pub struct Keys {
    pub fixture: Value,
    pub rsa: RsaPrivateKey,
    pub rsa_other: RsaPrivateKey,
    pub ec: EsSigning,
    pub ed: EdSigning,
    pub rsa_public: RsaPublicKey,
    pub ec_public: EsVerifying,
    pub ed_public: EdVerifying,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let fixture: Value = serde_json::from_str(KEYS_JSON).expect("fixture keys parse");
        let jwk = |key: Value| -> JsonWebKey<'static> {
            serde_json::from_value(key).expect("fixture JWK")
        };
        let private = |name: &str| jwk(fixture[name].clone());
        let public = |name: &str| jwk(without_private_members(&fixture[name]));
        Keys {
            rsa: RsaPrivateKey::try_from(&private("rsa")).expect("rsa key"),
            rsa_other: RsaPrivateKey::try_from(&private("rsa_other")).expect("rsa_other key"),
            ec: EsSigning::try_from(&private("ec")).expect("ec key"),
            ed: EdSigning::try_from(&private("ed")).expect("ed key"),
            rsa_public: RsaPublicKey::try_from(&public("rsa")).expect("rsa public key"),
            ec_public: EsVerifying::try_from(&public("ec")).expect("ec public key"),
            ed_public: EdVerifying::try_from(&public("ed")).expect("ed public key"),
            fixture,
        }
    })
}

fn without_private_members(key: &Value) -> Value {
    let mut key = key.clone();
    let object = key.as_object_mut().expect("fixture key is an object");
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        object.remove(member);
    }
    key
}

/// The public half of fixture key `name` (private members removed).
pub fn public_jwk(name: &str) -> Value {
    without_private_members(&keys().fixture[name])
}

/// `JWT_JWKS`: the public RSA, EC and Ed25519 fixture keys.
pub fn public_jwks() -> String {
    json!({ "keys": [public_jwk("rsa"), public_jwk("ec"), public_jwk("ed")] }).to_string()
}

/// Default claims: `alice`, valid at [`NOW`] for ten minutes.
pub fn claims() -> Value {
    json!({
        "sub": "alice",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": NOW - 10,
        "exp": NOW + 600,
        "jti": "jti-alice-1",
    })
}

/// An RS256 token of `root` (ID `jti-root`) holding an admin role, among
/// others.
pub fn admin_token() -> String {
    mint(
        "RS256",
        &with_claims(|c| {
            c["sub"] = "root".into();
            c["jti"] = "jti-root".into();
            c["roles"] = json!(["reader", "identity:admin"]);
        }),
    )
}

/// [`claims`] after `change`.
pub fn with_claims(change: impl FnOnce(&mut Value)) -> Value {
    let mut c = claims();
    change(&mut c);
    c
}

/// The default `kid` for an algorithm's fixture key.
pub fn default_kid(alg: &str) -> Option<&'static str> {
    match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => Some("rsa-1"),
        "ES256" => Some("ec-1"),
        "EdDSA" => Some("ed-1"),
        _ => None,
    }
}

/// Signs `message` with the fixture key for `alg` (HS* with `secret`).
/// `RS256-other` signs RS256 with the key the JWKS does not hold.
pub fn signature(alg: &str, message: &[u8], secret: &[u8]) -> Vec<u8> {
    let k = keys();
    fn bytes<S: AlgorithmSignature>(s: S) -> Vec<u8> {
        s.as_bytes().into_owned()
    }
    match alg {
        "HS256" => bytes(Hs256.sign(&Hs256Key::new(secret), message)),
        "HS384" => bytes(Hs384.sign(&Hs384Key::new(secret), message)),
        "HS512" => bytes(Hs512.sign(&Hs512Key::new(secret), message)),
        "RS256" => bytes(Rsa::rs256().sign(&k.rsa, message)),
        "RS384" => bytes(Rsa::rs384().sign(&k.rsa, message)),
        "RS512" => bytes(Rsa::rs512().sign(&k.rsa, message)),
        "PS256" => bytes(Rsa::ps256().sign(&k.rsa, message)),
        "PS384" => bytes(Rsa::ps384().sign(&k.rsa, message)),
        "PS512" => bytes(Rsa::ps512().sign(&k.rsa, message)),
        "ES256" => bytes(Es256.sign(&k.ec, message)),
        "EdDSA" => bytes(Ed25519.sign(&k.ed, message)),
        "RS256-other" => bytes(Rsa::rs256().sign(&k.rsa_other, message)),
        other => panic!("no signer for {other}"),
    }
}

/// `b64(header).b64(payload)` from raw text: the signing input.
pub fn signing_input(header: &str, payload: &str) -> String {
    format!(
        "{}.{}",
        base64url_encode(header.as_bytes()),
        base64url_encode(payload.as_bytes())
    )
}

/// `message.b64(signature)`.
pub fn with_signature(message: &str, signature: &[u8]) -> String {
    format!("{message}.{}", base64url_encode(signature))
}

/// A token from raw header and payload text, signed as `alg` (HS* with
/// `secret`, whatever the header says).
pub fn sign_raw_with(alg: &str, secret: &[u8], header: &str, payload: &str) -> String {
    let message = signing_input(header, payload);
    let sig = signature(alg, message.as_bytes(), secret);
    with_signature(&message, &sig)
}

/// A token from raw header and payload text, signed as `alg` with its
/// fixture key (HS* with [`SECRET`]).
pub fn sign_raw(alg: &str, header: &str, payload: &str) -> String {
    sign_raw_with(alg, SECRET.as_bytes(), header, payload)
}

/// A well-formed token: `alg` with its fixture key and default kid.
pub fn mint(alg: &str, claims: &Value) -> String {
    let mut header = json!({ "alg": alg, "typ": "JWT" });
    if let Some(kid) = default_kid(alg) {
        header["kid"] = kid.into();
    }
    mint_with_header(alg, &header, claims)
}

/// A token with an explicit header, signed with `alg`'s fixture key.
pub fn mint_with_header(alg: &str, header: &Value, claims: &Value) -> String {
    sign_raw(alg, &header.to_string(), &claims.to_string())
}

/// The default valid HS256 token.
pub fn valid_token() -> String {
    mint("HS256", &claims())
}

/// The header members that name a key source or demand extensions, each
/// with a plausible attacker's value; a token carrying any is refused.
pub fn forbidden_header_members() -> [(&'static str, Value); 5] {
    [
        ("jwk", public_jwk("rsa_other")),
        ("jku", json!("https://attacker.test/jwks.json")),
        ("x5u", json!("https://attacker.test/cert.pem")),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
    ]
}

/// n - s for a 64-byte P-256 signature `r || s`: the other signature of the
/// same message ("high S" for a low S, and back).
pub fn p256_negate_s(sig: &[u8]) -> Vec<u8> {
    // The P-256 group order n, big-endian.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    assert_eq!(sig.len(), 64, "a P-256 signature is r || s, 64 bytes");
    let mut out = sig.to_vec();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = N[i] as i16 - sig[32 + i] as i16 - borrow;
        out[32 + i] = d.rem_euclid(256) as u8;
        borrow = (d < 0) as i16;
    }
    out
}

/// An ES256 token with its signature replaced by the (r, n - s) twin, which
/// verifies just as well.
pub fn ecdsa_twin(token: &str) -> String {
    let (message, sig) = token.rsplit_once('.').expect("a token");
    let sig = base64url_decode(sig).expect("a base64url signature");
    with_signature(message, &p256_negate_s(&sig))
}

/// base64url without padding (base64ct).
pub fn base64url_encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Strict base64url without padding (base64ct); `None` if not canonical.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(text).ok()
}

/// Standard base64 with padding (base64ct), as in HTTP Basic credentials.
pub fn base64_encode(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

/// SHA-256 (sha2).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negating_s_twice_is_the_identity() {
        let token = mint("ES256", &claims());
        let twin = ecdsa_twin(&token);
        assert_ne!(twin, token);
        assert_eq!(ecdsa_twin(&twin), token);
    }

    #[test]
    fn encodings_match_rfc_4648_vectors() {
        assert_eq!(base64url_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64url_decode("Zg==").as_deref(), None);
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(
            base64url_encode(&sha256(b"abc")),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }
}

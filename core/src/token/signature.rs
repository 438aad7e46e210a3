//! Signature verification behind one trait, so the token rules do not care
//! which implementation runs.
//!
//! - [`HmacOnly`] handles HS* with jwt-compact's constant-time HMAC. The worker
//!   wraps it with WebCrypto for the asymmetric algorithms (see
//!   [`subtle_params`] and the worker crate's `webcrypto` binding),
//!   because pure-Rust RSA, ECDSA and EdDSA in wasm measured 5-20x slower than
//!   the runtime's SubtleCrypto and would add ~250 KB gzip to the bundle.
//! - [`RustCrypto`] (native builds) verifies every algorithm with jwt-compact;
//!   it backs the native tests, fuzzing and the native benchmark.

use crate::error::VerifyError;
use crate::keys::{Alg, Key, KeyKind};
use jwt_compact::alg::{Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key};
use jwt_compact::{Algorithm, AlgorithmSignature};

/// Checks one signature with one already-chosen key.
///
/// Implementations return `Ok(false)` for a signature that does not verify
/// (including one of the wrong length) and `Err` only when the check could not
/// run. Futures need not be `Send`: workers are single-threaded.
#[allow(async_fn_in_trait)]
pub trait SignatureVerifier {
    /// Verifies `signature` over `message` (the token text before its last `.`).
    async fn verify(
        &self,
        key: &Key,
        alg: Alg,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, VerifyError>;
}

/// Verifies with any jwt-compact algorithm; a malformed signature is `false`.
///
/// `try_from_slice` may assume the length is `Signature::LENGTH` (the HMAC
/// signatures panic otherwise), so the length is checked first, as
/// jwt-compact's own validator does.
pub(crate) fn verify_with<A: Algorithm>(
    alg: &A,
    key: &A::VerifyingKey,
    message: &[u8],
    signature: &[u8],
) -> bool {
    if A::Signature::LENGTH.is_some_and(|len| len.get() != signature.len()) {
        return false;
    }
    match A::Signature::try_from_slice(signature) {
        Ok(signature) => alg.verify_signature(&signature, key, message),
        Err(_) => false,
    }
}

/// HMAC verification (HS256/384/512), shared by every verifier.
pub fn verify_hmac(alg: Alg, secret: &[u8], message: &[u8], signature: &[u8]) -> Option<bool> {
    Some(match alg {
        Alg::HS256 => verify_with(&Hs256, &Hs256Key::new(secret), message, signature),
        Alg::HS384 => verify_with(&Hs384, &Hs384Key::new(secret), message, signature),
        Alg::HS512 => verify_with(&Hs512, &Hs512Key::new(secret), message, signature),
        _ => return None,
    })
}

/// What every verifier decides the same way: a key that does not allow `alg`
/// never verifies, and HS* is checked here, in Rust. `None` leaves an
/// asymmetric signature to the caller.
pub fn verify_common(key: &Key, alg: Alg, message: &[u8], signature: &[u8]) -> Option<bool> {
    if !key.allows(alg) {
        return Some(false);
    }
    if key.kind == KeyKind::Secret {
        return Some(verify_hmac(alg, key.secret.expose(), message, signature).unwrap_or(false));
    }
    // Fixed-size signatures: anything else cannot verify.
    if matches!(key.kind, KeyKind::P256 | KeyKind::Ed25519) && signature.len() != 64 {
        return Some(false);
    }
    None
}

/// One WebCrypto (SubtleCrypto) algorithm dictionary: `name` plus whichever
/// of the other members the algorithm takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubtleParams {
    /// `name`, e.g. `RSASSA-PKCS1-v1_5`.
    pub name: &'static str,
    /// `hash`, e.g. `SHA-256`.
    pub hash: Option<&'static str>,
    /// `namedCurve`, e.g. `P-256`.
    pub named_curve: Option<&'static str>,
    /// `saltLength` in bytes (RSA-PSS).
    pub salt_length: Option<u32>,
}

impl SubtleParams {
    const fn named(name: &'static str) -> SubtleParams {
        SubtleParams {
            name,
            hash: None,
            named_curve: None,
            salt_length: None,
        }
    }
}

/// How the runtime's SubtleCrypto imports a key for `alg` (`importKey`'s
/// algorithm) and verifies with it (`verify`'s algorithm). `None` for a
/// secret: HS* is checked in Rust.
pub fn subtle_params(kind: KeyKind, alg: Alg) -> Option<(SubtleParams, SubtleParams)> {
    let hash = Some(match alg.hash_bits() {
        Some(384) => "SHA-384",
        Some(512) => "SHA-512",
        _ => "SHA-256",
    });
    Some(match kind {
        KeyKind::Rsa if matches!(alg, Alg::RS256 | Alg::RS384 | Alg::RS512) => (
            SubtleParams {
                hash,
                ..SubtleParams::named("RSASSA-PKCS1-v1_5")
            },
            SubtleParams::named("RSASSA-PKCS1-v1_5"),
        ),
        KeyKind::Rsa => (
            SubtleParams {
                hash,
                ..SubtleParams::named("RSA-PSS")
            },
            SubtleParams {
                // RFC 7518 §3.5: the salt is as long as the hash.
                salt_length: Some(u32::from(alg.hash_bits().unwrap_or(256) / 8)),
                ..SubtleParams::named("RSA-PSS")
            },
        ),
        KeyKind::P256 => (
            SubtleParams {
                named_curve: Some("P-256"),
                ..SubtleParams::named("ECDSA")
            },
            SubtleParams {
                hash: Some("SHA-256"),
                ..SubtleParams::named("ECDSA")
            },
        ),
        KeyKind::Ed25519 => (
            SubtleParams::named("Ed25519"),
            SubtleParams::named("Ed25519"),
        ),
        KeyKind::Secret => return None,
    })
}

/// Verifies HS* only; every other algorithm is "does not verify". Useful on
/// its own for HS-only deployments and in tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct HmacOnly;

impl SignatureVerifier for HmacOnly {
    async fn verify(
        &self,
        key: &Key,
        alg: Alg,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, VerifyError> {
        Ok(verify_common(key, alg, message, signature).unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtle_parameters_follow_rfc_7518() {
        let (import, verify) = subtle_params(KeyKind::Rsa, Alg::RS384).unwrap();
        assert_eq!(
            (import.name, import.hash),
            ("RSASSA-PKCS1-v1_5", Some("SHA-384"))
        );
        assert_eq!(verify, SubtleParams::named("RSASSA-PKCS1-v1_5"));
        let (import, verify) = subtle_params(KeyKind::Rsa, Alg::PS512).unwrap();
        assert_eq!((import.name, import.hash), ("RSA-PSS", Some("SHA-512")));
        assert_eq!((verify.name, verify.salt_length), ("RSA-PSS", Some(64)));
        assert_eq!(
            subtle_params(KeyKind::Rsa, Alg::PS256)
                .unwrap()
                .1
                .salt_length,
            Some(32)
        );
        let (import, verify) = subtle_params(KeyKind::P256, Alg::ES256).unwrap();
        assert_eq!(import.named_curve, Some("P-256"));
        assert_eq!((verify.name, verify.hash), ("ECDSA", Some("SHA-256")));
        assert_eq!(
            subtle_params(KeyKind::Ed25519, Alg::EdDSA).unwrap().0.name,
            "Ed25519"
        );
        assert_eq!(subtle_params(KeyKind::Secret, Alg::HS256), None);
    }

    #[test]
    fn hmac_signatures_of_any_length_are_refused_without_panicking() {
        let secret = [7u8; 32];
        for alg in [Alg::HS256, Alg::HS384, Alg::HS512] {
            for len in [0, 1, 31, 33, 47, 49, 63, 65, 1000] {
                assert_eq!(verify_hmac(alg, &secret, b"m", &vec![0; len]), Some(false));
            }
        }
        assert_eq!(verify_hmac(Alg::RS256, &secret, b"m", &[0; 32]), None);
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::RustCrypto;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::*;
    use jwt_compact::alg::{Ed25519, Es256, Rsa, RsaPublicKey};
    use jwt_compact::jwk::JsonWebKey;

    type EsKey = <Es256 as Algorithm>::VerifyingKey;
    type EdKey = <Ed25519 as Algorithm>::VerifyingKey;

    enum Parsed {
        Rsa(RsaPublicKey),
        P256(EsKey),
        Ed25519(EdKey),
    }

    /// Pure-Rust verification of every algorithm with jwt-compact. Parsed keys
    /// are kept in each key's [`crate::keys::Imports`].
    #[derive(Default)]
    pub struct RustCrypto;

    impl RustCrypto {
        fn parse(&self, key: &Key, alg: Alg) -> Result<std::rc::Rc<Parsed>, VerifyError> {
            if let Some(parsed) = key.imports.get::<Parsed>(alg) {
                return Ok(parsed);
            }
            let jwk: JsonWebKey<'_> =
                serde_json::from_str(&key.public_jwk).map_err(|_| VerifyError::KeyRejected)?;
            let parsed = match key.kind {
                KeyKind::Rsa => {
                    Parsed::Rsa(RsaPublicKey::try_from(&jwk).map_err(|_| VerifyError::KeyRejected)?)
                }
                KeyKind::P256 => {
                    Parsed::P256(EsKey::try_from(&jwk).map_err(|_| VerifyError::KeyRejected)?)
                }
                KeyKind::Ed25519 => {
                    Parsed::Ed25519(EdKey::try_from(&jwk).map_err(|_| VerifyError::KeyRejected)?)
                }
                KeyKind::Secret => return Err(VerifyError::KeyRejected),
            };
            let parsed = std::rc::Rc::new(parsed);
            key.imports.insert(alg, parsed.clone());
            Ok(parsed)
        }
    }

    impl SignatureVerifier for RustCrypto {
        async fn verify(
            &self,
            key: &Key,
            alg: Alg,
            message: &[u8],
            signature: &[u8],
        ) -> Result<bool, VerifyError> {
            if let Some(decided) = verify_common(key, alg, message, signature) {
                return Ok(decided);
            }
            let parsed = self.parse(key, alg)?;
            Ok(match (&*parsed, alg) {
                (Parsed::Rsa(k), Alg::RS256) => verify_with(&Rsa::rs256(), k, message, signature),
                (Parsed::Rsa(k), Alg::RS384) => verify_with(&Rsa::rs384(), k, message, signature),
                (Parsed::Rsa(k), Alg::RS512) => verify_with(&Rsa::rs512(), k, message, signature),
                (Parsed::Rsa(k), Alg::PS256) => verify_with(&Rsa::ps256(), k, message, signature),
                (Parsed::Rsa(k), Alg::PS384) => verify_with(&Rsa::ps384(), k, message, signature),
                (Parsed::Rsa(k), Alg::PS512) => verify_with(&Rsa::ps512(), k, message, signature),
                (Parsed::P256(k), Alg::ES256) => verify_with(&Es256, k, message, signature),
                (Parsed::Ed25519(k), Alg::EdDSA) => verify_with(&Ed25519, k, message, signature),
                _ => false,
            })
        }
    }
}

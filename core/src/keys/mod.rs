//! Verification keys and algorithms: parsing `JWT_SECRET` and `JWT_JWKS`, and
//! choosing the one key that may verify a token.
//!
//! The token header only ever *selects* among configured keys (by `kid`); it
//! never supplies a key or widens the algorithm set. A key's type fixes the
//! algorithm family it can verify, which rules out HS/RS confusion by
//! construction: an RSA, EC or OKP key is never used as an HMAC secret.

use crate::error::{ConfigError, VerifyError};
use std::any::Any;
use std::cell::RefCell;
use std::fmt;

mod remote;
use crate::primitives::base64url_decode;
use crate::secret::Secret;
pub use remote::{
    accept_jwks_response, NoFetch, Outbound, Post, RemoteKeys, JWKS_FETCH_TIMEOUT_SECONDS,
    MAX_JWKS_BYTES, UNKNOWN_KID_REFETCH_SECONDS,
};
use serde_json::{Map, Value};

use std::rc::Rc;

/// A JWS algorithm the worker can verify. Names match exactly: RFC 7515
/// algorithm names are case-sensitive, so `none`, `None` and `hs256` are
/// simply unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alg {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// EdDSA on Ed25519.
    EdDSA,
}

impl Alg {
    /// Every supported algorithm.
    pub const ALL: [Alg; 11] = [
        Alg::HS256,
        Alg::HS384,
        Alg::HS512,
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::EdDSA,
    ];

    /// Parses a JOSE algorithm name, exactly.
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The kind of key this algorithm needs.
    pub fn key_kind(self) -> KeyKind {
        match self {
            Alg::HS256 | Alg::HS384 | Alg::HS512 => KeyKind::Secret,
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
                KeyKind::Rsa
            }
            Alg::ES256 => KeyKind::P256,
            Alg::EdDSA => KeyKind::Ed25519,
        }
    }

    /// Digest size in bits for the SHA-2 variants (`None` for EdDSA).
    pub fn hash_bits(self) -> Option<u16> {
        match self {
            Alg::HS256 | Alg::RS256 | Alg::PS256 | Alg::ES256 => Some(256),
            Alg::HS384 | Alg::RS384 | Alg::PS384 => Some(384),
            Alg::HS512 | Alg::RS512 | Alg::PS512 => Some(512),
            Alg::EdDSA => None,
        }
    }
}

/// The four kinds of key, each verifying one algorithm family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// A shared secret (`JWT_SECRET` or a JWK with `kty: oct`): HS*.
    Secret,
    /// An RSA public key: RS* and PS*.
    Rsa,
    /// An EC public key on P-256: ES256.
    P256,
    /// An OKP public key on Ed25519: EdDSA.
    Ed25519,
}

/// What a signature verifier made of a key (WebCrypto's imported
/// `CryptoKey`, a parsed public key), per algorithm, kept with the key so
/// that it lives exactly as long: a key dropped from a replaced key set
/// takes its imports with it, and an isolate's imports never grow past the
/// keys it holds.
#[derive(Default)]
pub struct Imports(RefCell<Vec<(Alg, Rc<dyn Any>)>>);

impl Imports {
    /// The import made for `alg`, when there is one of type `T`.
    pub fn get<T: 'static>(&self, alg: Alg) -> Option<Rc<T>> {
        let imports = self.0.borrow();
        let (_, import) = imports.iter().find(|(a, _)| *a == alg)?;
        import.clone().downcast().ok()
    }

    /// Keeps `import` for `alg`, replacing any earlier one.
    pub fn insert<T: 'static>(&self, alg: Alg, import: Rc<T>) {
        let mut imports = self.0.borrow_mut();
        imports.retain(|(a, _)| *a != alg);
        imports.push((alg, import));
    }

    /// How many imports are kept.
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    /// True when nothing is imported yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A copy of a key starts with no imports: they are a cache.
impl Clone for Imports {
    fn clone(&self) -> Imports {
        Imports::default()
    }
}

impl fmt::Debug for Imports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Imports({})", self.len())
    }
}

/// One configured verification key.
#[derive(Clone, Debug)]
pub struct Key {
    /// What verifiers made of this key; see [`Imports`].
    pub imports: Imports,
    /// The `kid` that selects this key; `None` for `JWT_SECRET`.
    pub kid: Option<String>,
    /// The key's own `alg`, when the JWK names one: then only that algorithm.
    pub alg: Option<Alg>,
    /// What kind of key this is.
    pub kind: KeyKind,
    /// HMAC secret bytes, for [`KeyKind::Secret`] only.
    pub secret: Secret,
    /// The public JWK reduced to its key members (`kty`, `n`, `e`, `crv`, `x`,
    /// `y`), as JSON text; empty for secrets. WebCrypto imports exactly this,
    /// which avoids its `alg`/`key_ops` consistency traps.
    pub public_jwk: String,
}

impl Key {
    /// True if this key may verify `alg`.
    pub fn allows(&self, alg: Alg) -> bool {
        alg.key_kind() == self.kind && self.alg.is_none_or(|own| own == alg)
    }
}

/// Smallest RSA modulus accepted, in bytes (2048 bits, per RFC 7518 §3.3).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// The configured keys.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<Rc<Key>>,
    /// How many JWKS entries were passed over (wrong `use`, unsupported type),
    /// for the start-up log.
    pub skipped: usize,
}

impl KeySet {
    /// Builds the set from `JWT_SECRET` and `JWT_JWKS` (either may be absent).
    pub fn from_config(secret: Option<&str>, jwks: Option<&str>) -> Result<KeySet, ConfigError> {
        let mut set = KeySet::default();
        if let Some(secret) = secret {
            if secret.len() < 32 {
                return Err(ConfigError::invalid(
                    "JWT_SECRET",
                    "must be at least 32 bytes (RFC 7518 §3.2)",
                ));
            }
            set.keys.push(Rc::new(Key {
                imports: Imports::default(),
                kid: None,
                alg: None,
                kind: KeyKind::Secret,
                secret: Secret::from(secret),
                public_jwk: String::new(),
            }));
        }
        if let Some(jwks) = jwks {
            set.add_jwks(jwks, true, "JWT_JWKS")?;
        }
        Ok(set)
    }

    /// Parses a key set served at `JWT_JWKS_URL`. Shared secrets (`oct`) are
    /// never taken from a URL.
    pub fn from_remote(text: &str) -> Result<KeySet, ConfigError> {
        KeySet::public_only(text, "JWT_JWKS")
    }

    /// Parses a key set of public keys only (shared secrets are skipped), as
    /// the setting `setting` holds it: `SSF_JWKS`, a transmitter's keys.
    pub fn public_only(text: &str, setting: &'static str) -> Result<KeySet, ConfigError> {
        let mut set = KeySet::default();
        set.add_jwks(text, false, setting)?;
        Ok(set)
    }

    fn add_jwks(
        &mut self,
        text: &str,
        allow_secrets: bool,
        setting: &'static str,
    ) -> Result<(), ConfigError> {
        let invalid = |why: &str| ConfigError::invalid(setting, why);
        let doc: Value = serde_json::from_str(text).map_err(|_| invalid("not valid JSON"))?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("no \"keys\" array"))?;
        let before = self.keys.len();
        for entry in entries {
            let jwk = entry
                .as_object()
                .ok_or_else(|| invalid("a key is not a JSON object"))?;
            match parse_jwk(jwk, setting)? {
                Some(key) if allow_secrets || key.kind != KeyKind::Secret => {
                    self.keys.push(Rc::new(key));
                }
                _ => self.skipped += 1,
            }
        }
        if self.keys.len() == before {
            return Err(invalid("no usable signing key"));
        }
        Ok(())
    }

    /// True when no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// All keys, `JWT_SECRET` first.
    pub fn keys(&self) -> &[Rc<Key>] {
        &self.keys
    }

    /// The same keys without shared secrets: what may check a signature
    /// made by someone else (a Global Token Revocation assertion).
    pub fn public_keys(&self) -> KeySet {
        KeySet {
            keys: self
                .keys
                .iter()
                .filter(|key| key.kind != KeyKind::Secret)
                .cloned()
                .collect(),
            skipped: 0,
        }
    }

    /// The algorithms the configured keys can verify, in [`Alg::ALL`] order.
    pub fn supported_algs(&self) -> Vec<Alg> {
        Alg::ALL
            .into_iter()
            .filter(|alg| self.keys.iter().any(|key| key.allows(*alg)))
            .collect()
    }

    /// Chooses the single key for a token with `alg` and optional `kid`.
    ///
    /// 1. A `kid` that names a JWKS key selects that key, and it must allow `alg`.
    /// 2. Otherwise an HS* token uses `JWT_SECRET`, when set.
    /// 3. Otherwise a token without `kid` may use a JWKS with exactly one key.
    ///
    /// Exactly one key is tried, so a bad token costs one verification.
    pub fn select(&self, alg: Alg, kid: Option<&str>) -> Option<&Rc<Key>> {
        let jwks = || self.keys.iter().filter(|key| key.kid.is_some());
        if let Some(kid) = kid {
            if let Some(key) = jwks().find(|key| key.kid.as_deref() == Some(kid)) {
                return key.allows(alg).then_some(key);
            }
        }
        if alg.key_kind() == KeyKind::Secret {
            if let Some(secret) = self.keys.iter().find(|key| key.kid.is_none()) {
                return Some(secret);
            }
        }
        if kid.is_none() {
            let mut keys = jwks();
            if let (Some(only), None) = (keys.next(), keys.next()) {
                return only.allows(alg).then_some(only);
            }
        }
        None
    }
}

/// Parses one JWK. `Ok(None)` means "not a signing key we support": skipped.
fn parse_jwk(jwk: &Map<String, Value>, setting: &'static str) -> Result<Option<Key>, ConfigError> {
    let invalid = |why: &str| ConfigError::invalid(setting, why);
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    // Encryption keys share JWKS documents with signing keys; they are not ours.
    if text("use").is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let alg = match text("alg") {
        None => None,
        Some(name) => match Alg::from_name(name) {
            Some(alg) => Some(alg),
            None => return Ok(None),
        },
    };
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() => Some(kid.clone()),
        Some(_) => return Err(invalid("a \"kid\" is not a non-empty string")),
    };
    let member = |name: &str| -> Result<(String, Vec<u8>), ConfigError> {
        let value = text(name).ok_or_else(|| invalid("a key lacks a required member"))?;
        let bytes =
            base64url_decode(value).ok_or_else(|| invalid("a key member is not base64url"))?;
        Ok((value.to_owned(), bytes))
    };
    let (kind, secret, public) = match (text("kty"), text("crv")) {
        (Some("oct"), _) => (KeyKind::Secret, member("k")?.1, Map::new()),
        (Some("RSA"), _) => {
            let (n, n_bytes) = member("n")?;
            let (e, _) = member("e")?;
            let significant = n_bytes.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES {
                return Ok(None);
            }
            (
                KeyKind::Rsa,
                Vec::new(),
                public_members([("n", n), ("e", e)]),
            )
        }
        (Some("EC"), Some("P-256")) => {
            let (x, x_bytes) = member("x")?;
            let (y, y_bytes) = member("y")?;
            if x_bytes.len() != 32 || y_bytes.len() != 32 {
                return Err(invalid("a P-256 key has a coordinate of the wrong size"));
            }
            (
                KeyKind::P256,
                Vec::new(),
                public_members([("x", x), ("y", y)]),
            )
        }
        (Some("OKP"), Some("Ed25519")) => {
            let (x, x_bytes) = member("x")?;
            if x_bytes.len() != 32 {
                return Err(invalid("an Ed25519 key has the wrong size"));
            }
            (KeyKind::Ed25519, Vec::new(), public_members([("x", x)]))
        }
        _ => return Ok(None),
    };
    if kind == KeyKind::Secret && secret.len() < 32 {
        return Err(invalid("an oct key is shorter than 32 bytes"));
    }
    if alg.is_some_and(|alg| alg.key_kind() != kind) {
        return Err(invalid("a key's \"alg\" does not match its \"kty\""));
    }
    let public_jwk = if public.is_empty() {
        String::new()
    } else {
        let mut public = public;
        public.insert("kty".into(), Value::from(text("kty").unwrap_or_default()));
        if let Some(crv) = text("crv") {
            public.insert("crv".into(), Value::from(crv));
        }
        Value::Object(public).to_string()
    };
    // Keys are usable only through a kid (or as the JWKS's only key).
    Ok(Some(Key {
        imports: Imports::default(),
        kid,
        alg,
        kind,
        secret: Secret::new(secret),
        public_jwk,
    }))
}

fn public_members<const N: usize>(members: [(&str, String); N]) -> Map<String, Value> {
    members
        .into_iter()
        .map(|(name, value)| (name.to_owned(), Value::String(value)))
        .collect()
}

/// Where the key for a token comes from: the configured keys, then the
/// remote key set when one is configured.
#[allow(async_fn_in_trait)]
pub trait KeyLookup {
    /// The one key that may verify a token with `alg` and `kid`. `Ok(None)`
    /// means no such key; `Err` means the answer cannot be known now (the
    /// remote key set is unreachable and nothing is cached).
    async fn key(
        &self,
        alg: Alg,
        kid: Option<&str>,
        now: u64,
    ) -> Result<Option<Rc<Key>>, VerifyError>;
}

impl KeyLookup for KeySet {
    async fn key(
        &self,
        alg: Alg,
        kid: Option<&str>,
        _now: u64,
    ) -> Result<Option<Rc<Key>>, VerifyError> {
        Ok(self.select(alg, kid).cloned())
    }
}

/// One family of verification keys: the configured ones first, then a
/// remote key set. Access tokens and logout tokens use `JWT_SECRET`,
/// `JWT_JWKS` and `JWT_JWKS_URL`; security event tokens use `SSF_JWKS` and
/// `SSF_JWKS_URL`, so neither kind passes for the other.
pub struct KeyFamily<'a, F> {
    /// The keys from the settings.
    pub configured: &'a KeySet,
    /// The remote key set's URL, when one is set.
    pub url: Option<&'a str>,
    /// The remote key set, as this isolate holds it.
    pub remote: &'a RemoteKeys,
    /// How long a fetched key set is used (`JWKS_CACHE_SECONDS`).
    pub max_age: u64,
    /// Fetches the remote key set.
    pub fetcher: &'a F,
}

impl<F: Outbound> KeyLookup for KeyFamily<'_, F> {
    async fn key(
        &self,
        alg: Alg,
        kid: Option<&str>,
        now: u64,
    ) -> Result<Option<Rc<Key>>, VerifyError> {
        if let Some(key) = self.configured.select(alg, kid) {
            return Ok(Some(key.clone()));
        }
        match self.url {
            Some(url) => {
                let remote = self.remote;
                remote
                    .key(self.fetcher, url, self.max_age, alg, kid, now)
                    .await
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn rsa_jwk(kid: &str) -> Value {
        serde_json::json!({
            "kty": "RSA", "kid": kid, "e": "AQAB",
            "n": crate::primitives::base64url_encode(&[0xc5; 256]),
        })
    }

    fn ec_jwk(kid: &str) -> Value {
        let coord = crate::primitives::base64url_encode(&[7; 32]);
        serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": coord, "y": coord})
    }

    fn jwks(keys: Vec<Value>) -> String {
        serde_json::json!({ "keys": keys }).to_string()
    }

    #[test]
    fn algorithm_names_are_exact() {
        assert_eq!(Alg::from_name("RS256"), Some(Alg::RS256));
        assert_eq!(Alg::from_name("EdDSA"), Some(Alg::EdDSA));
        for bad in [
            "none", "None", "NONE", "nOnE", "rs256", "HS256 ", "", "ES384",
        ] {
            assert_eq!(Alg::from_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn secret_must_be_long_enough() {
        let err = KeySet::from_config(Some("short"), None).unwrap_err();
        assert_eq!(err.setting(), "JWT_SECRET");
        assert!(KeySet::from_config(Some(SECRET), None).is_ok());
    }

    #[test]
    fn jwks_parsing_keeps_signing_keys_and_skips_the_rest() {
        let text = jwks(vec![
            rsa_jwk("r1"),
            ec_jwk("e1"),
            serde_json::json!({"kty": "RSA", "use": "enc", "kid": "x", "n": "AQAB", "e": "AQAB"}),
            serde_json::json!({"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"}),
            serde_json::json!({"kty": "RSA", "kid": "weak", "e": "AQAB",
                "n": crate::primitives::base64url_encode(&[0xc5; 128])}),
        ]);
        let set = KeySet::from_config(None, Some(&text)).unwrap();
        assert_eq!(set.keys().len(), 2);
        assert_eq!(set.skipped, 3);
        // A URL never supplies a shared secret.
        let with_secret = jwks(vec![
            rsa_jwk("r1"),
            serde_json::json!({"kty": "oct", "kid": "s", "k": crate::primitives::base64url_encode(&[1; 32])}),
        ]);
        assert_eq!(KeySet::from_remote(&with_secret).unwrap().keys().len(), 1);
        assert_eq!(
            KeySet::from_config(None, Some(&with_secret))
                .unwrap()
                .keys()
                .len(),
            2
        );
        assert_eq!(
            set.supported_algs(),
            vec![
                Alg::RS256,
                Alg::RS384,
                Alg::RS512,
                Alg::PS256,
                Alg::PS384,
                Alg::PS512,
                Alg::ES256
            ]
        );
        // Only key members reach WebCrypto.
        let public: Value = serde_json::from_str(&set.keys()[0].public_jwk).unwrap();
        let mut names: Vec<_> = public.as_object().unwrap().keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["e", "kty", "n"]);
    }

    #[test]
    fn jwks_errors_name_the_setting() {
        for text in [
            "not json",
            "{}",
            r#"{"keys": [1]}"#,
            r#"{"keys": []}"#,
            r#"{"keys": [{"kty": "oct", "k": "c2hvcnQ"}]}"#,
            r#"{"keys": [{"kty": "RSA", "kid": "a", "e": "AQAB"}]}"#,
            r#"{"keys": [{"kty": "EC", "crv": "P-256", "kid": 5, "x": "AA", "y": "AA"}]}"#,
        ] {
            let err = KeySet::from_config(None, Some(text)).unwrap_err();
            assert_eq!(err.setting(), "JWT_JWKS", "{text}");
        }
        let mismatched = jwks(vec![{
            let mut key = rsa_jwk("r");
            key["alg"] = "ES256".into();
            key
        }]);
        assert!(KeySet::from_config(None, Some(&mismatched)).is_err());
    }

    #[test]
    fn selection_never_crosses_key_kinds() {
        let text = jwks(vec![rsa_jwk("r1"), ec_jwk("e1")]);
        let set = KeySet::from_config(Some(SECRET), Some(&text)).unwrap();
        assert_eq!(
            set.select(Alg::RS256, Some("r1")).unwrap().kind,
            KeyKind::Rsa
        );
        assert_eq!(
            set.select(Alg::PS512, Some("r1")).unwrap().kind,
            KeyKind::Rsa
        );
        // HS256 naming an RSA key's kid is refused: no HMAC with a public key.
        assert!(set.select(Alg::HS256, Some("r1")).is_none());
        assert!(set.select(Alg::ES256, Some("r1")).is_none());
        // HS tokens fall back to JWT_SECRET whatever their kid.
        assert_eq!(set.select(Alg::HS256, None).unwrap().kind, KeyKind::Secret);
        assert_eq!(
            set.select(Alg::HS512, Some("other")).unwrap().kind,
            KeyKind::Secret
        );
        // Unknown kid, or no kid with two JWKS keys: no key.
        assert!(set.select(Alg::RS256, Some("nope")).is_none());
        assert!(set.select(Alg::RS256, None).is_none());
    }

    #[test]
    fn a_single_jwks_key_serves_tokens_without_kid() {
        let set = KeySet::from_config(None, Some(&jwks(vec![ec_jwk("only")]))).unwrap();
        assert_eq!(
            set.select(Alg::ES256, None).unwrap().kid.as_deref(),
            Some("only")
        );
        assert!(set.select(Alg::RS256, None).is_none());
    }

    #[test]
    fn a_keys_own_alg_restricts_it() {
        let mut key = rsa_jwk("r");
        key["alg"] = "PS256".into();
        let set = KeySet::from_config(None, Some(&jwks(vec![key]))).unwrap();
        assert!(set.select(Alg::PS256, Some("r")).is_some());
        assert!(set.select(Alg::RS256, Some("r")).is_none());
        assert_eq!(set.supported_algs(), vec![Alg::PS256]);
    }
}

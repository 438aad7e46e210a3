//! The fixed world every target runs in: the fixture keys of
//! `tests/fixtures/test-keys.json`, a `Config` with every key type, and a
//! fixed clock. Mirrors `tests/common/mod.rs`, which the fuzz crate cannot
//! import.

use edge_revoke::config::Config;
use jwt_compact::alg::{Ed25519, Es256, RsaPublicKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::Algorithm;
use serde_json::{json, Value};
use std::sync::OnceLock;

/// The test keys (public and private halves). Test-only keys.
pub const KEYS_JSON: &str = include_str!("../../tests/fixtures/test-keys.json");

/// `JWT_SECRET`.
pub const SECRET: &str = "test-secret-0123456789abcdef-0123456789";
/// `JWT_ISSUER`.
pub const ISSUER: &str = "https://issuer.test";
/// First entry of `JWT_AUDIENCE`.
pub const AUDIENCE: &str = "api://edge";
/// Second entry of `JWT_AUDIENCE`.
pub const AUDIENCE_2: &str = "api://other";
/// `INVALIDATE_API_KEYS` (the first one is used by the invalidate target).
pub const API_KEY: &str = "service-key-1";
/// The fixed "now" passed to every `verify`/`handle` call (2027-01-15).
pub const NOW: u64 = 1_800_000_000;
/// `exp` of the seed tokens: 2100-01-01, far beyond `NOW`.
pub const FAR_EXP: u64 = 4_102_444_800;
/// Default `JWT_LEEWAY_SECONDS`.
pub const LEEWAY: u64 = 60;

/// kid of each JWKS key in the fixture.
pub const RSA_KID: &str = "rsa-1";
pub const EC_KID: &str = "ec-1";
pub const ED_KID: &str = "ed-1";

/// The parsed fixture document.
pub fn fixture() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(KEYS_JSON).expect("fixture keys parse"))
}

/// The public half of a fixture key (private members removed).
pub fn public_jwk(name: &str) -> Value {
    let mut key = fixture()[name].clone();
    let object = key.as_object_mut().expect("fixture key is an object");
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        object.remove(member);
    }
    key
}

/// `JWT_JWKS`: the public RSA, EC and Ed25519 fixture keys.
pub fn public_jwks() -> String {
    json!({ "keys": [public_jwk("rsa"), public_jwk("ec"), public_jwk("ed")] }).to_string()
}

/// Every key type, issuer, two audiences and the invalidation API keys.
/// (`Config` holds `Rc`s, so each thread builds and leaks its own copy; a
/// fuzz process has one thread.)
pub fn config() -> &'static Config {
    thread_local! {
        static CONFIG: &'static Config = Box::leak(Box::new(build_config()));
    }
    CONFIG.with(|config| *config)
}

fn build_config() -> Config {
    let jwks = public_jwks();
    let audiences = format!("{AUDIENCE},{AUDIENCE_2}");
    let keys = format!("{API_KEY},service-key-2");
    Config::from_lookup(|name| {
        Some(match name {
            "JWT_SECRET" => SECRET.to_owned(),
            "JWT_JWKS" => jwks.clone(),
            "JWT_ISSUER" => ISSUER.to_owned(),
            "JWT_AUDIENCE" => audiences.clone(),
            "INVALIDATE_API_KEYS" => keys.clone(),
            _ => return None,
        })
    })
    .expect("fuzz config is valid")
}

type EsVerifying = <Es256 as Algorithm>::VerifyingKey;
type EdVerifying = <Ed25519 as Algorithm>::VerifyingKey;

/// The oracle's own copies of the public keys, parsed once.
pub struct OracleKeys {
    pub rsa: RsaPublicKey,
    pub ec: EsVerifying,
    pub ed: EdVerifying,
}

pub fn oracle_keys() -> &'static OracleKeys {
    static KEYS: OnceLock<OracleKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let jwk = |name: &str| -> JsonWebKey<'static> {
            serde_json::from_value(public_jwk(name)).expect("fixture JWK")
        };
        OracleKeys {
            rsa: RsaPublicKey::try_from(&jwk("rsa")).expect("rsa key"),
            ec: EsVerifying::try_from(&jwk("ec")).expect("ec key"),
            ed: EdVerifying::try_from(&jwk("ed")).expect("ed key"),
        }
    })
}

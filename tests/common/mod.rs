//! Shared helpers for native tests: fixture keys, token minting (including
//! deliberately broken tokens) and a ready configuration.
#![allow(dead_code)]

use edge_revoke_core::block_on;
use edge_revoke_core::cache::TokenCache;
use edge_revoke_core::config::Config;
use edge_revoke_core::handlers::{handle, Action, Decision, Services};
use edge_revoke_core::keys::{NoFetch, RemoteKeys};
use edge_revoke_core::primitives::base64url_encode;
use edge_revoke_core::reply::Reply;
use edge_revoke_core::request::RequestHead;
use edge_revoke_core::revocation::MemoryStore;
use edge_revoke_core::verify::RustCrypto;
use jwt_compact::alg::{
    Ed25519, Es256, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key, Rsa, RsaPrivateKey,
};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

pub const SECRET: &str = "test-secret-0123456789abcdef-0123456789";
pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "api://edge";
/// The fixed "now" of every native test.
pub const NOW: u64 = 1_800_000_000;

type EsSigning = <Es256 as Algorithm>::SigningKey;
type EdSigning = <Ed25519 as Algorithm>::SigningKey;

pub struct Keys {
    pub fixture: Value,
    pub rsa: RsaPrivateKey,
    pub rsa_other: RsaPrivateKey,
    pub ec: EsSigning,
    pub ed: EdSigning,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/test-keys.json"
        ))
        .unwrap();
        let fixture: Value = serde_json::from_str(&text).unwrap();
        let jwk = |name: &str| -> JsonWebKey<'static> {
            serde_json::from_value(fixture[name].clone()).unwrap()
        };
        Keys {
            rsa: RsaPrivateKey::try_from(&jwk("rsa")).unwrap(),
            rsa_other: RsaPrivateKey::try_from(&jwk("rsa_other")).unwrap(),
            ec: EsSigning::try_from(&jwk("ec")).unwrap(),
            ed: EdSigning::try_from(&jwk("ed")).unwrap(),
            fixture,
        }
    })
}

/// The public JWKS of the fixture keys (private members removed).
pub fn public_jwks() -> String {
    let private = ["d", "p", "q", "dp", "dq", "qi"];
    let keys: Vec<Value> = ["rsa", "ec", "ed"]
        .iter()
        .map(|name| {
            let mut key = keys().fixture[*name].clone();
            for member in private {
                key.as_object_mut().unwrap().remove(member);
            }
            key
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

/// A configuration with every key type, issuer and audience.
pub fn config_with(extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = [
        ("JWT_SECRET", SECRET.to_string()),
        ("JWT_JWKS", public_jwks()),
        ("JWT_ISSUER", ISSUER.to_string()),
        ("JWT_AUDIENCE", format!("{AUDIENCE},api://other")),
        (
            "INVALIDATE_API_KEYS",
            "service-key-1,service-key-2".to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|name| vars.get(name).cloned()).unwrap()
}

pub fn config() -> Config {
    config_with(&[])
}

/// Default claims: valid at NOW for ten minutes.
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

/// Builds `b64(header).b64(payload).b64(signature)` from raw JSON text.
pub fn sign_raw(alg: &str, header: &str, payload: &str) -> String {
    let message = format!(
        "{}.{}",
        base64url_encode(header.as_bytes()),
        base64url_encode(payload.as_bytes())
    );
    let sig = signature(alg, message.as_bytes(), SECRET.as_bytes());
    format!("{message}.{}", base64url_encode(&sig))
}

/// A well-formed token: `alg` with its fixture key and default kid.
pub fn mint(alg: &str, claims: &Value) -> String {
    let mut header = json!({ "alg": alg, "typ": "JWT" });
    if let Some(kid) = default_kid(alg) {
        header["kid"] = kid.into();
    }
    mint_with_header(alg, &header, claims)
}

/// A token with an explicit header; signed with `alg`'s fixture key.
pub fn mint_with_header(alg: &str, header: &Value, claims: &Value) -> String {
    sign_raw(alg, &header.to_string(), &claims.to_string())
}

/// The default valid HS256 token.
pub fn valid_token() -> String {
    mint("HS256", &claims())
}

/// The worker's core with an in-memory store, the native verifier and a
/// fixed clock: what scenario tests drive.
pub struct World {
    pub config: Config,
    pub store: MemoryStore,
    pub verifier: RustCrypto,
    pub remote_keys: RemoteKeys,
    pub cache: TokenCache,
}

impl World {
    /// A world with the standard test configuration.
    pub fn new() -> World {
        World::with(config())
    }

    /// A world with `config`.
    pub fn with(config: Config) -> World {
        World {
            config,
            store: MemoryStore::new(NOW),
            verifier: RustCrypto::default(),
            remote_keys: RemoteKeys::default(),
            cache: TokenCache::new(1000, 1 << 20),
        }
    }

    pub fn services(&self) -> Services<'_, MemoryStore, RustCrypto, NoFetch> {
        Services {
            store: &self.store,
            verifier: &self.verifier,
            fetcher: &NoFetch,
            remote_keys: &self.remote_keys,
            cache: &self.cache,
        }
    }

    /// Decides one request at `NOW`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Decision {
        let url = format!("https://edge.test{path}");
        let head = RequestHead::new(method, &url, headers.iter().copied());
        block_on(handle(&head, body, Ok(&self.config), &self.services(), NOW))
    }
}

/// The reply of a decision that answered at the edge.
pub fn reply(decision: &Decision) -> &Reply {
    match &decision.action {
        Action::Reply(reply) => reply,
        Action::Forward(_) => panic!("expected a reply, got Forward"),
    }
}

/// The status, or 0 for a request forwarded to the origin.
pub fn status(decision: &Decision) -> u16 {
    match &decision.action {
        Action::Reply(reply) => reply.status,
        Action::Forward(_) => 0,
    }
}

pub fn forwarded(decision: &Decision) -> bool {
    matches!(decision.action, Action::Forward(_))
}

/// The JSON body of a reply.
pub fn json_body(decision: &Decision) -> Value {
    serde_json::from_slice(&reply(decision).body).unwrap()
}

//! Native floor: microseconds per `edge_revoke::token::verify` for HS256,
//! RS256, ES256 and EdDSA with the fixture keys (tests/fixtures/test-keys.json),
//! and per `TokenCache::get` hit. Prints one JSON object.
//!
//! Each figure is the median of 7 batches; a batch runs as many iterations
//! as fit in about 100 ms (calibrated once per algorithm).

use edge_revoke::cache::TokenCache;
use edge_revoke::config::Config;
use edge_revoke::primitives::base64url_encode;
use edge_revoke::verify::RustCrypto;
use jwt_compact::alg::{Ed25519, Es256, Hs256, Hs256Key, Rsa, RsaPrivateKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const SECRET: &str = "bench-secret-0123456789abcdef-0123456789";
const BATCHES: usize = 7;
const BATCH_SECONDS: f64 = 0.1;

type EsSigning = <Es256 as Algorithm>::SigningKey;
type EdSigning = <Ed25519 as Algorithm>::SigningKey;

struct Signers {
    rsa: RsaPrivateKey,
    ec: EsSigning,
    ed: EdSigning,
}

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/test-keys.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("read test-keys.json"))
        .expect("parse test-keys.json")
}

fn public_jwks(fixture: &Value) -> String {
    let private = ["d", "p", "q", "dp", "dq", "qi"];
    let keys: Vec<Value> = ["rsa", "ec", "ed"]
        .iter()
        .map(|name| {
            let mut key = fixture[*name].clone();
            for member in private {
                key.as_object_mut().unwrap().remove(member);
            }
            key
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

fn mint(signers: &Signers, alg: &str, kid: Option<&str>, now: u64) -> String {
    let mut header = json!({ "alg": alg, "typ": "JWT" });
    if let Some(kid) = kid {
        header["kid"] = kid.into();
    }
    let claims = json!({
        "sub": "bench-user",
        "iat": now,
        "exp": now + 3600,
        "jti": format!("bench-{alg}"),
    });
    let message = format!(
        "{}.{}",
        base64url_encode(header.to_string().as_bytes()),
        base64url_encode(claims.to_string().as_bytes())
    );
    fn bytes<S: AlgorithmSignature>(s: S) -> Vec<u8> {
        s.as_bytes().into_owned()
    }
    let m = message.as_bytes();
    let sig = match alg {
        "HS256" => bytes(Hs256.sign(&Hs256Key::new(SECRET.as_bytes()), m)),
        "RS256" => bytes(Rsa::rs256().sign(&signers.rsa, m)),
        "ES256" => bytes(Es256.sign(&signers.ec, m)),
        "EdDSA" => bytes(Ed25519.sign(&signers.ed, m)),
        other => panic!("no signer for {other}"),
    };
    format!("{message}.{}", base64url_encode(&sig))
}

/// Median microseconds per call of `f`.
fn time_us(mut f: impl FnMut()) -> f64 {
    for _ in 0..10 {
        f();
    }
    let mut n: u64 = 1;
    loop {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        let took = start.elapsed().as_secs_f64();
        if took > BATCH_SECONDS / 4.0 || n > (1 << 30) {
            n = ((n as f64) * BATCH_SECONDS / took.max(1e-9)).ceil() as u64;
            break;
        }
        n *= 2;
    }
    let mut samples: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .collect();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[BATCHES / 2]
}

fn main() {
    let fixture = fixture();
    let jwk = |name: &str| -> JsonWebKey<'static> {
        serde_json::from_value(fixture[name].clone()).expect("fixture jwk")
    };
    let signers = Signers {
        rsa: RsaPrivateKey::try_from(&jwk("rsa")).expect("rsa key"),
        ec: EsSigning::try_from(&jwk("ec")).expect("ec key"),
        ed: EdSigning::try_from(&jwk("ed")).expect("ed key"),
    };
    let vars: HashMap<&str, String> = [
        ("JWT_SECRET", SECRET.to_string()),
        ("JWT_JWKS", public_jwks(&fixture)),
    ]
    .into_iter()
    .collect();
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("config");
    let crypto = RustCrypto::default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let mut verify_us = serde_json::Map::new();
    for (alg, kid) in [
        ("HS256", None),
        ("RS256", Some("rsa-1")),
        ("ES256", Some("ec-1")),
        ("EdDSA", Some("ed-1")),
    ] {
        let token = mint(&signers, alg, kid, now);
        let check = || {
            edge_revoke::block_on(edge_revoke::token::verify(
                black_box(&token),
                &config.rules,
                &config.keys,
                &crypto,
                now,
            ))
        };
        check().unwrap_or_else(|e| panic!("{alg} token does not verify: {e:?}"));
        let us = time_us(|| {
            black_box(check().is_ok());
        });
        verify_us.insert(alg.to_string(), json!(round3(us)));
    }

    let token = mint(&signers, "RS256", Some("rsa-1"), now);
    let verified = edge_revoke::block_on(edge_revoke::token::verify(
        &token,
        &config.rules,
        &config.keys,
        &crypto,
        now,
    ))
    .expect("verify");
    let cache = TokenCache::new(10_000, 16 * 1024 * 1024);
    cache.insert(&token, &verified, now + 3600);
    assert!(cache.get(&token, now).is_some());
    let hit_us = time_us(|| {
        black_box(cache.get(black_box(&token), now).is_some());
    });

    let out = json!({
        "verify_us": verify_us,
        "cache_hit_us": round3(hit_us),
        "token_bytes_rs256": token.len(),
    });
    println!("{out}");
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

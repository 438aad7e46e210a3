//! Native floor: microseconds per `edge_revoke_core::token::signature` for HS256,
//! RS256, ES256 and EdDSA with the fixture keys of edge-revoke-test-support,
//! and per `TokenCache::get` hit. Prints one JSON object.
//!
//! Each figure is the median of 7 batches; a batch runs as many iterations
//! as fit in about 100 ms (calibrated once per algorithm).

use edge_revoke_core::token::cache::TokenCache;
use edge_revoke_core::token::signature::RustCrypto;
use edge_revoke_test_support::{config_with, mint};
use serde_json::json;
use std::hint::black_box;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const BATCHES: usize = 7;
const BATCH_SECONDS: f64 = 0.1;

/// A token of `alg` (fixture key and kid), valid for an hour from `now`.
fn bench_token(alg: &str, now: u64) -> String {
    let claims = json!({
        "sub": "bench-user",
        "iat": now,
        "exp": now + 3600,
        "jti": format!("bench-{alg}"),
    });
    mint(alg, &claims)
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
    // The fixture keys and secret; no issuer or audience to check.
    let config = config_with(&[("JWT_ISSUER", ""), ("JWT_AUDIENCE", "")]);
    let crypto = RustCrypto;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let mut verify_us = serde_json::Map::new();
    for alg in ["HS256", "RS256", "PS256", "ES256", "EdDSA"] {
        let token = bench_token(alg, now);
        let check = || {
            edge_revoke_core::block_on(edge_revoke_core::token::verify(
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

    let token = bench_token("RS256", now);
    let verified = edge_revoke_core::block_on(edge_revoke_core::token::verify(
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

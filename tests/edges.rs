//! Revocation edges found by an adversarial pass, natively with an injected
//! clock: preflights that carry a token, the expiry of cutoffs and bare-ID
//! revocations against the leeway, the last second of a revoked token, and
//! token IDs with dots.

use edge_revoke_core::revocation::Kv;
use edge_revoke_test_support::*;
use serde_json::json;

/// A world with `MAX_TOKEN_LIFETIME_SECONDS=60` (tokens live a minute) and
/// cutoffs at the edge's own clock.
fn short_lived() -> World<FaultKv> {
    receiving_with(&[
        ("MAX_TOKEN_LIFETIME_SECONDS", "60"),
        ("CUTOFF_SKEW_SECONDS", "0"),
    ])
}

/// Moves both the world's clock and its store's (entries expire by it).
fn at(w: &World<FaultKv>, now: u64) {
    w.now.set(now);
    w.store.inner.set_now(now);
}

fn token(sub: &str, jti: &str, iat: u64, exp: u64) -> String {
    mint(
        "ES256",
        &with_claims(|c| {
            c["sub"] = sub.into();
            c["jti"] = jti.into();
            c["iat"] = json!(iat);
            c["exp"] = json!(exp);
        }),
    )
}

fn send_as<S: Kv>(w: &World<S>, method: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    status(&w.send(method, path, headers, None))
}

/// The reason a rejected request gives (`revoked`, `expired`, ...).
fn reason<S: Kv>(w: &World<S>, token: &str) -> Option<&'static str> {
    get(w, token).event.map(|event| event.reason.as_str())
}

#[test]
fn a_preflight_that_carries_a_token_has_it_checked() {
    let w = short_lived();
    let now = w.now.get();
    let revoked = token("vic", "pre-1", now - 5, now + 50);
    let valid = token("vic", "pre-2", now - 5, now + 50);
    let bearer = |t: &str| format!("Bearer {t}");
    assert_eq!(
        send_as(
            &w,
            "DELETE",
            "/api/tokens",
            &[("authorization", &bearer(&revoked))]
        ),
        204
    );
    let preflight = |headers: &[(&str, &str)]| {
        let mut all = vec![("access-control-request-method", "DELETE")];
        all.extend_from_slice(headers);
        w.send("OPTIONS", "/v1/orders/42", &all, None)
    };
    // Browsers send no credentials on a preflight: forwarded unchecked.
    assert!(forwarded(&preflight(&[])));
    assert!(forwarded(&preflight(&[("authorization", "Basic YTpi")])));
    // One carrying a bearer token is not a browser's: its token is checked.
    assert_eq!(
        status(&preflight(&[("authorization", &bearer(&revoked))])),
        401
    );
    assert_eq!(status(&preflight(&[("x-auth-token", &revoked)])), 401);
    assert_eq!(
        status(&preflight(&[("authorization", "Bearer not.a.jwt")])),
        401
    );
    assert!(forwarded(&preflight(&[("authorization", &bearer(&valid))])));
    assert!(forwarded(&preflight(&[("x-auth-token", &valid)])));
}

/// With `MAX_TOKEN_LIFETIME_SECONDS=60` and the default leeway (60), a token
/// signed out every way is never accepted again, second by second, until it
/// is rejected as expired: the revocation outlives the token's acceptance.
#[test]
fn a_revocation_lasts_as_long_as_its_token_is_accepted() {
    let w = short_lived();
    let t = w.now.get();
    // A token issued now, living the whole minute; one issued 60 s ahead (a
    // provider whose clock runs ahead, within the leeway).
    let tokens = [
        ("on time", token("sam", "sam-1", t, t + 60)),
        ("ahead", token("sam", "sam-2", t + 60, t + 120)),
    ];
    for (what, raw) in &tokens {
        assert!(forwarded(&get(&w, raw)), "{what}: passes at first");
    }
    let auth = format!("Bearer {}", admin_token());
    // A sign-out everywhere of the subject, and a bare-ID invalidation of
    // each token (no exp known).
    assert_eq!(
        send_as(
            &w,
            "DELETE",
            "/api/users/sam/tokens",
            &[("authorization", &auth)]
        ),
        204
    );
    for id in ["sam-1", "sam-2"] {
        let path = format!("/v2.0/tokens/{id}");
        assert_eq!(
            send_as(&w, "DELETE", &path, &[("authorization", &auth)]),
            204
        );
    }
    let cutoff_expiry = w.store.inner.cutoffs()["subject:sam"].1;
    assert_eq!(cutoff_expiry, t + 60 + 60, "cutoff + lifetime + leeway");
    let record_expiry = w.store.inner.entries()["revoked:sam-1"].1;
    assert_eq!(
        record_expiry,
        t + 60 + 2 * 60,
        "now + lifetime + 2 * leeway"
    );
    for second in t..t + 200 {
        at(&w, second);
        for (what, raw) in &tokens {
            let d = get(&w, raw);
            assert_eq!(status(&d), 401, "{what} accepted at t + {}", second - t);
        }
    }
    // Each revocation alone holds as long: the cutoff for the token on time,
    // the bare ID for the one ahead.
    let w = short_lived();
    assert_eq!(
        send_as(
            &w,
            "DELETE",
            "/v2.0/tokens/sam-2",
            &[("authorization", &auth)]
        ),
        204
    );
    for second in t..t + 200 {
        at(&w, second);
        assert_eq!(status(&get(&w, &tokens[1].1)), 401, "t + {}", second - t);
    }
}

/// RFC 7519 §4.1.4: a token is accepted only before `exp` plus the leeway.
/// A revoked token in its last accepted second is revoked; from `exp +
/// leeway` on it is expired; its record lives until exactly then.
#[test]
fn one_boundary_for_a_revoked_tokens_last_second() {
    let w = short_lived();
    let t = w.now.get();
    let raw = token("una", "una-1", t - 10, t + 5);
    assert_eq!(
        send_as(
            &w,
            "DELETE",
            "/api/tokens",
            &[("authorization", &format!("Bearer {raw}"))]
        ),
        204
    );
    assert_eq!(w.store.inner.entries()["revoked:una-1"].1, t + 5 + 60);
    at(&w, t + 5 + 59);
    assert_eq!(
        reason(&w, &raw),
        Some("revoked"),
        "the last accepted second"
    );
    at(&w, t + 5 + 60);
    assert_eq!(reason(&w, &raw), Some("expired"), "exp + leeway");
    assert!(
        w.store.inner.entries().is_empty(),
        "the record is gone then"
    );
    // A token never revoked, from the token cache: the same boundary.
    let fresh = short_lived();
    let cached = token("una", "una-2", t - 10, t + 5);
    assert!(forwarded(&get(&fresh, &cached)));
    at(&fresh, t + 5 + 59);
    assert!(forwarded(&get(&fresh, &cached)), "cached, last second");
    at(&fresh, t + 5 + 60);
    assert_eq!(reason(&fresh, &cached), Some("expired"));
}

/// Okta's access-token IDs (`AT.…`) hold dots: they are token IDs, not
/// JWTs, and can be invalidated by reference; a JWT cut short is refused.
#[test]
fn dotted_token_ids_are_revoked_by_reference() {
    let w = short_lived();
    let t = w.now.get();
    let okta_id = "AT.Rl0yrnkBQ7B7cfYGr7sGNxP2_nwEYd1tKu2pU9eMKMU";
    let okta_token = token("oz", okta_id, t - 5, t + 50);
    assert!(forwarded(&get(&w, &okta_token)));
    let body = json!({ "tokenReferenceId": okta_id }).to_string();
    let d = w.send(
        "POST",
        "/token-service/client/server/invalidate/token",
        &[("x-api-key", API_KEY)],
        Some(body.as_bytes()),
    );
    assert_eq!(status(&d), 200);
    assert_eq!(reason(&w, &okta_token), Some("revoked"));
    let auth = format!("Bearer {}", admin_token());
    let other = "AT.another_id-123";
    let path = format!("/v2.0/tokens?tokenId={other}");
    assert_eq!(
        send_as(&w, "DELETE", &path, &[("authorization", &auth)]),
        204
    );
    assert!(w
        .store
        .inner
        .entries()
        .contains_key(&format!("revoked:{other}")));
    // A JWT cut short (its header, then a dot) is refused, not stored.
    let whole = token("oz", "oz-2", t - 5, t + 50);
    let (message, _) = whole.rsplit_once('.').unwrap();
    for cut in [message.to_owned(), format!("{message}.")] {
        let path = format!("/v2.0/tokens?tokenId={cut}");
        assert_eq!(
            send_as(&w, "DELETE", &path, &[("authorization", &auth)]),
            404
        );
    }
    assert!(!w.store.inner.entries().keys().any(|k| k.contains("eyJ")));
}

//! Whole scenarios through `handlers::handle` with the in-memory store: every
//! route's contract and status code, revoke-then-reject, and fail-closed
//! behaviour when the store fails.

use edge_revoke_core::block_on;
use edge_revoke_core::error::ConfigError;
use edge_revoke_core::handlers::{handle, Decision, INVALIDATE_SUCCESS};
use edge_revoke_core::http::request::RequestHead;
use edge_revoke_core::revocation::Record;
use edge_revoke_test_support::*;
use serde_json::json;

/// The requests these scenarios send.
trait Requests {
    fn get(&self, path: &str, token: &str) -> Decision;
    fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Decision;
    fn invalidate(&self, key: Option<&str>, body: &str) -> Decision;
    fn record(&self, jti: &str) -> Option<(Record, u64)>;
}

impl Requests for World {
    fn get(&self, path: &str, token: &str) -> Decision {
        let auth = format!("Bearer {token}");
        self.send("GET", path, &[("authorization", &auth)], None)
    }
    fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Decision {
        self.send("DELETE", path, headers, None)
    }
    fn invalidate(&self, key: Option<&str>, body: &str) -> Decision {
        let mut headers = vec![("content-type", "text/plain")];
        if let Some(key) = key {
            headers.push(("x-api-key", key));
        }
        self.send(
            "POST",
            "/token-service/client/server/invalidate/token",
            &headers,
            Some(body.as_bytes()),
        )
    }
    fn record(&self, jti: &str) -> Option<(Record, u64)> {
        self.store.entries().get(&format!("revoked:{jti}")).cloned()
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn token_of(sub: &str, jti: &str) -> String {
    let mut claims = claims();
    claims["sub"] = sub.into();
    claims["jti"] = jti.into();
    mint("ES256", &claims)
}

// ---- proxy ---------------------------------------------------------------

#[test]
fn valid_tokens_are_forwarded_and_others_rejected() {
    let w = World::new();
    assert!(forwarded(&w.get("/things", &valid_token())));
    let missing = w.send("GET", "/things", &[], None);
    assert_eq!(status(&missing), 401);
    assert_eq!(
        reply(&missing).header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
    let bad = w.get("/things", "a.b.c");
    assert_eq!(status(&bad), 401);
    assert!(reply(&bad)
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer realm=\"api\", error=\"invalid_token\""));
    let event = bad.event.unwrap();
    assert_eq!(
        (event.decision.as_str(), event.reason.as_str(), event.route),
        ("reject", "malformed", "proxy")
    );
}

#[test]
fn conflicting_tokens_get_400() {
    let w = World::new();
    let a = valid_token();
    let b = token_of("bob", "jti-bob");
    let auth = bearer(&a);
    let decision = w.send(
        "GET",
        "/x",
        &[("authorization", &auth), ("x-auth-token", &b)],
        None,
    );
    assert_eq!(status(&decision), 400);
}

#[test]
fn public_paths_and_optional_tokens() {
    let w = World::with(config_with(&[("PUBLIC_PATHS", "/public,/v2.0/tokens")]));
    assert!(forwarded(&w.send("GET", "/public/x", &[], None)));
    assert!(forwarded(&w.send("POST", "/v2.0/tokens", &[], None)));
    assert_eq!(status(&w.send("GET", "/publicity", &[], None)), 401);
    // Revocation routes win over PUBLIC_PATHS.
    assert_eq!(status(&w.delete("/v2.0/tokens", &[])), 401);

    let optional = World::with(config_with(&[("REQUIRE_TOKEN", "false")]));
    assert!(forwarded(&optional.send("GET", "/x", &[], None)));
    assert_eq!(status(&optional.get("/x", "a.b.c")), 401);
}

#[test]
fn configuration_errors_answer_500_for_everything() {
    let w = World::new();
    let head = RequestHead::new(
        "GET",
        "https://edge.test/x",
        [("authorization", "Bearer a.b.c")],
    );
    let decision = block_on(handle(
        &head,
        None,
        Err(&ConfigError::NoKey),
        &w.services(),
        NOW,
    ));
    assert_eq!(status(&decision), 500);
    assert!(json_body(&decision)["detail"]
        .as_str()
        .unwrap()
        .contains("JWT_SECRET"));
}

#[test]
fn accept_json_is_honoured_for_errors() {
    let w = World::new();
    let decision = w.send("GET", "/x", &[("accept", "application/json")], None);
    assert_eq!(
        reply(&decision).header("content-type"),
        Some("application/json")
    );
    let default = w.send("GET", "/x", &[], None);
    assert_eq!(
        reply(&default).header("content-type"),
        Some("application/problem+json")
    );
}

#[test]
fn a_failed_store_read_never_forwards() {
    let w = World::new();
    w.store.fail_reads(true);
    let decision = w.get("/x", &valid_token());
    assert_eq!(status(&decision), 503);
    assert_eq!(reply(&decision).header("retry-after"), Some("5"));
}

// ---- DELETE /api/tokens --------------------------------------------------

#[test]
fn sign_out_revokes_the_callers_token() {
    let w = World::new();
    let token = valid_token();
    let auth = bearer(&token);
    let decision = w.delete("/api/tokens", &[("authorization", &auth)]);
    assert_eq!(status(&decision), 204);
    assert!(reply(&decision).body.is_empty());
    let event = decision.event.unwrap();
    assert_eq!(
        (event.decision.as_str(), event.jti.as_deref()),
        ("revoke", Some("jti-alice-1"))
    );

    let (record, expires) = w.record("jti-alice-1").unwrap();
    assert_eq!(expires, NOW + 600 + 60, "exp plus leeway");
    assert_eq!(record.sub.as_deref(), Some("alice"));
    assert_eq!(record.by, "alice");
    assert_eq!(record.exp, Some(NOW + 600));
    assert_eq!(record.revoked_at, NOW);
    assert_eq!(record.reason, "sign_out");
    assert_eq!(record.route, "DELETE /api/tokens");

    // The same token is now rejected; another token still passes.
    let after = w.get("/x", &token);
    assert_eq!(status(&after), 401);
    assert!(reply(&after)
        .header("www-authenticate")
        .unwrap()
        .contains("error_description=\"token revoked\""));
    assert!(forwarded(&w.get("/x", &token_of("bob", "jti-bob"))));
}

#[test]
fn sign_out_is_idempotent() {
    let w = World::new();
    let auth = bearer(&valid_token());
    assert_eq!(
        status(&w.delete("/api/tokens", &[("authorization", &auth)])),
        204
    );
    assert_eq!(
        status(&w.delete("/api/tokens", &[("authorization", &auth)])),
        204
    );
    assert_eq!(w.store.entries().len(), 1);
}

#[test]
fn sign_out_errors() {
    let w = World::new();
    assert_eq!(status(&w.delete("/api/tokens", &[])), 401);
    assert_eq!(
        status(&w.delete("/api/tokens", &[("authorization", "Bearer x.y.z")])),
        401
    );
    let auth = bearer(&valid_token());
    assert_eq!(
        status(&w.delete("/api/tokens?scope=everything", &[("authorization", &auth)])),
        400
    );
    assert_eq!(
        status(&w.delete("/api/tokens?scope=local", &[("authorization", &auth)])),
        204
    );
}

#[test]
fn a_token_about_to_expire_is_kept_for_the_kv_minimum() {
    let w = World::with(config_with(&[("JWT_LEEWAY_SECONDS", "0")]));
    let mut c = claims();
    c["exp"] = json!(NOW + 5);
    let auth = bearer(&mint("HS256", &c));
    assert_eq!(
        status(&w.delete("/api/tokens", &[("authorization", &auth)])),
        204
    );
    assert_eq!(w.record("jti-alice-1").unwrap().1, NOW + 60);
}

#[test]
fn a_failed_write_never_answers_success() {
    let w = World::new();
    w.store.fail_writes(true);
    let token = valid_token();
    let auth = bearer(&token);
    let decision = w.delete("/api/tokens", &[("authorization", &auth)]);
    assert_eq!(status(&decision), 503);
    assert_eq!(reply(&decision).header("retry-after"), Some("5"));
    w.store.fail_writes(false);
    assert!(w.record("jti-alice-1").is_none());
}

#[test]
fn a_token_without_jti_is_revoked_by_its_hash() {
    let w = World::new();
    let mut c = claims();
    c.as_object_mut().unwrap().remove("jti");
    let token = mint("EdDSA", &c);
    let auth = bearer(&token);
    assert_eq!(
        status(&w.delete("/api/tokens", &[("authorization", &auth)])),
        204
    );
    // The derived ID: SHA-256 of the signed part, header.payload.
    let (signed, _) = token.rsplit_once('.').unwrap();
    let id = base64url_encode(&sha256(signed.as_bytes()));
    let (record, _) = w.record(&id).expect("stored under the derived ID");
    assert_eq!(record.jti, id);
    assert_eq!(status(&w.get("/x", &token)), 401);
    // The raw token is stored nowhere.
    let dump = format!("{:?}", w.store.entries());
    assert!(!dump.contains(&token));
}

// ---- DELETE /v2.0/tokens -------------------------------------------------

#[test]
fn identity_self_revocation_uses_x_auth_token() {
    let w = World::new();
    let token = token_of("carol", "jti-carol");
    assert_eq!(
        status(&w.delete("/v2.0/tokens", &[("x-auth-token", &token)])),
        204
    );
    assert_eq!(
        w.record("jti-carol").unwrap().0.route,
        "DELETE /v2.0/tokens"
    );
    assert_eq!(status(&w.get("/x", &token)), 401);
    // Bearer is accepted too.
    let other = token_of("dave", "jti-dave");
    let auth = bearer(&other);
    assert_eq!(
        status(&w.delete("/v2.0/tokens", &[("authorization", &auth)])),
        204
    );
}

#[test]
fn admins_revoke_other_tokens_by_jwt_or_id() {
    let w = World::new();
    let admin = admin_token();
    let victim = token_of("bob", "jti-bob");
    // Query form with a JWT: its jti and exp are used.
    let path = format!("/v2.0/tokens?tokenId={victim}");
    assert_eq!(status(&w.delete(&path, &[("x-auth-token", &admin)])), 204);
    let (record, expires) = w.record("jti-bob").unwrap();
    assert_eq!(
        (record.by.as_str(), record.reason.as_str()),
        ("root", "admin")
    );
    assert_eq!(record.sub.as_deref(), Some("bob"));
    assert_eq!(expires, NOW + 660);
    assert_eq!(status(&w.get("/x", &victim)), 401);
    // Path form with a bare ID: MAX_TOKEN_LIFETIME_SECONDS applies.
    assert_eq!(
        status(&w.delete("/v2.0/tokens/opaque-123", &[("x-auth-token", &admin)])),
        204
    );
    // Its token was issued at most the leeway ahead, lives at most
    // MAX_TOKEN_LIFETIME_SECONDS, and is accepted the leeway past its exp.
    let (record, expires) = w.record("opaque-123").unwrap();
    assert_eq!((record.exp, expires), (None, NOW + 86_400 + 2 * 60));
    // The admin's own token is untouched.
    assert!(forwarded(&w.get("/x", &admin)));
}

#[test]
fn identity_error_codes() {
    let w = World::new();
    let admin = admin_token();
    let user = token_of("bob", "jti-bob");
    let h = |t: &str| vec![("x-auth-token", t.to_string())];
    let send = |path: &str, token: Option<&str>| {
        let headers = token.map(h).unwrap_or_default();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        status(&w.delete(path, &headers))
    };
    assert_eq!(send("/v2.0/tokens?tokenId=", Some(&admin)), 400);
    assert_eq!(send("/v2.0/tokens/a?tokenId=b", Some(&admin)), 400);
    assert_eq!(send("/v2.0/tokens?tokenId=x", None), 401);
    assert_eq!(send("/v2.0/tokens?tokenId=x", Some("bad.token.here")), 401);
    assert_eq!(send("/v2.0/tokens?tokenId=x", Some(&user)), 403);
    let huge = "a".repeat(8 * 1024 + 1);
    assert_eq!(
        send(&format!("/v2.0/tokens?tokenId={huge}"), Some(&admin)),
        413
    );
    // A JWT tokenId must verify and be unexpired.
    let mut expired = claims();
    expired["exp"] = json!(NOW - 3600);
    let expired = mint("HS256", &expired);
    assert_eq!(
        send(&format!("/v2.0/tokens?tokenId={expired}"), Some(&admin)),
        404
    );
    let forged = format!("{}x", &user[..user.len() - 1]);
    assert_eq!(
        send(&format!("/v2.0/tokens?tokenId={forged}"), Some(&admin)),
        404
    );
    assert_eq!(send("/v2.0/tokens/has%20space", Some(&admin)), 404);
    // JWTs cut short or mangled (two dots or more, or a JWT header before
    // the first) are refused, not stored as bare IDs.
    let (h, p) = (
        base64url_encode(br#"{"alg":"none"}"#),
        base64url_encode(br#"{"sub":"x"}"#),
    );
    for malformed in [
        format!("{h}.{p}."),
        format!("{h}.{p}"),
        format!("{h}.."),
        "..".into(),
        "a.b.c.d".into(),
        format!(".{p}.sig"),
    ] {
        assert_eq!(
            send(&format!("/v2.0/tokens?tokenId={malformed}"), Some(&admin)),
            404,
            "{malformed}"
        );
    }
    assert!(w.store.entries().is_empty(), "nothing revoked by failures");
    // Store down: 503, never success.
    w.store.fail_writes(true);
    assert_eq!(send("/v2.0/tokens?tokenId=opaque", Some(&admin)), 503);
}

#[test]
fn admin_roles_can_be_a_string_and_configured() {
    let w = World::with(config_with(&[
        ("ROLES_CLAIM", "scope"),
        ("ADMIN_ROLES", "tokens:revoke"),
    ]));
    let mut c = claims();
    c["scope"] = "openid tokens:revoke".into();
    let admin = mint("HS256", &c);
    assert_eq!(
        status(&w.delete("/v2.0/tokens/x1", &[("x-auth-token", &admin)])),
        204
    );
    c["scope"] = "openid".into();
    let user = mint("HS256", &c);
    assert_eq!(
        status(&w.delete("/v2.0/tokens/x2", &[("x-auth-token", &user)])),
        403
    );
    // A roles claim of another type gives no roles.
    c["scope"] = json!({"tokens:revoke": true});
    let odd = mint("HS256", &c);
    assert_eq!(
        status(&w.delete("/v2.0/tokens/x3", &[("x-auth-token", &odd)])),
        403
    );
}

#[test]
fn a_revoked_admin_cannot_revoke() {
    let w = World::new();
    let admin = admin_token();
    assert_eq!(
        status(&w.delete("/v2.0/tokens", &[("x-auth-token", &admin)])),
        204
    );
    let decision = w.delete("/v2.0/tokens/x", &[("x-auth-token", &admin)]);
    assert_eq!(status(&decision), 401);
    assert!(w.record("x").is_none());
}

#[test]
fn validation_calls_answer_404_for_revoked_tokens() {
    let w = World::new();
    let admin = admin_token();
    let victim = token_of("bob", "jti-bob");
    assert!(forwarded(&w.get(&format!("/v2.0/tokens/{victim}"), &admin)));
    assert!(forwarded(&w.get("/v2.0/tokens/opaque-9", &admin)));
    w.delete(
        &format!("/v2.0/tokens/{victim}"),
        &[("x-auth-token", &admin)],
    );
    w.delete("/v2.0/tokens/opaque-9", &[("x-auth-token", &admin)]);
    assert_eq!(
        status(&w.get(&format!("/v2.0/tokens/{victim}"), &admin)),
        404
    );
    assert_eq!(status(&w.get("/v2.0/tokens/opaque-9", &admin)), 404);
    let auth = bearer(&admin);
    let head = w.send(
        "HEAD",
        "/v2.0/tokens/opaque-9",
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(status(&head), 404);
    // The caller still needs a valid token.
    assert_eq!(
        status(&w.send("GET", "/v2.0/tokens/opaque-9", &[], None)),
        401
    );
}

// ---- POST /token-service/client/server/invalidate/token ------------------

#[test]
fn service_invalidation_contract() {
    let w = World::new();
    let ok = w.invalidate(Some("service-key-2"), r#"{"tokenReferenceId":"ref-1"}"#);
    assert_eq!(status(&ok), 200);
    assert_eq!(reply(&ok).body, INVALIDATE_SUCCESS.as_bytes());
    assert_eq!(reply(&ok).header("content-type"), Some("application/json"));
    let (record, expires) = w.record("ref-1").unwrap();
    assert_eq!(
        (record.by.as_str(), record.reason.as_str()),
        ("api-key", "service")
    );
    assert_eq!(expires, NOW + 86_400 + 2 * 60);

    // A JWT reference is verified and stored under its jti.
    let token = token_of("erin", "jti-erin");
    let body = json!({ "tokenReferenceId": token }).to_string();
    assert_eq!(status(&w.invalidate(Some("service-key-1"), &body)), 200);
    assert_eq!(w.record("jti-erin").unwrap().1, NOW + 660);
    assert_eq!(status(&w.get("/x", &token)), 401);
}

#[test]
fn service_invalidation_errors() {
    let w = World::new();
    let good = r#"{"tokenReferenceId":"ref-1"}"#;
    for key in [None, Some(""), Some("service-key"), Some("service-key-1 ")] {
        let d = w.invalidate(key, good);
        assert_eq!(status(&d), 401, "{key:?}");
        assert_eq!(
            json_body(&d),
            json!({"resCode": 401, "resDesc": "Invalid API key"})
        );
    }
    // Regressions from fuzzing: an array, and invalid UTF-8 in an ignored member.
    for body in [
        &b"[\"abc\"]"[..],
        b"{\"tokenReferenceId\":\"abc\",\"x\":\"\xff\"}",
    ] {
        let d = w.send(
            "POST",
            "/token-service/client/server/invalidate/token",
            &[("x-api-key", "service-key-1")],
            Some(body),
        );
        assert_eq!(status(&d), 400, "{body:?}");
    }
    let too_big = format!(r#"{{"tokenReferenceId":"{}"}}"#, "a".repeat(16 * 1024));
    for body in [
        "",
        "{",
        "[]",
        r#"{"tokenReferenceId":""}"#,
        r#"{"tokenReferenceId":5}"#,
        r#"{"other":"x"}"#,
        too_big.as_str(),
    ] {
        let d = w.invalidate(Some("service-key-1"), body);
        assert_eq!(status(&d), 400, "{body:.40}");
        assert_eq!(json_body(&d)["resCode"], 400);
    }
    let forged = format!(r#"{{"tokenReferenceId":"{}x"}}"#, valid_token());
    assert_eq!(status(&w.invalidate(Some("service-key-1"), &forged)), 404);
    let stripped = r#"{"tokenReferenceId":"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}"#;
    assert_eq!(status(&w.invalidate(Some("service-key-1"), stripped)), 404);
    assert!(w.store.entries().is_empty());
    w.store.fail_writes(true);
    let d = w.invalidate(Some("service-key-1"), good);
    assert_eq!(status(&d), 503);
    assert_eq!(reply(&d).header("retry-after"), Some("5"));
    assert_eq!(json_body(&d)["resCode"], 503);
}

#[test]
fn service_route_without_keys_refuses_everyone() {
    let w = World::with(config_with(&[("INVALIDATE_API_KEYS", "")]));
    assert_eq!(
        status(&w.invalidate(Some(""), r#"{"tokenReferenceId":"x"}"#)),
        401
    );
    assert_eq!(
        status(&w.invalidate(None, r#"{"tokenReferenceId":"x"}"#)),
        401
    );
}

/// ECDSA signatures are malleable: (r, s) and (r, n - s) both verify. A
/// token without `jti` must keep its ID under that change, or a signed-out
/// token could be replayed with its signature flipped.
#[test]
fn a_flipped_ecdsa_signature_does_not_escape_revocation() {
    let w = World::new();
    let mut c = claims();
    c.as_object_mut().unwrap().remove("jti");
    let token = mint("ES256", &c);
    // s' = n - s
    let twin = ecdsa_twin(&token);
    assert_ne!(twin, token);
    assert!(
        forwarded(&w.get("/x", &twin)),
        "the flipped signature verifies"
    );
    let auth = format!("Bearer {token}");
    assert_eq!(
        status(&w.delete("/api/tokens", &[("authorization", &auth)])),
        204
    );
    assert_eq!(status(&w.get("/x", &token)), 401);
    assert_eq!(status(&w.get("/x", &twin)), 401, "its twin is revoked too");
}

/// The 413 bound is 8 KiB exactly: a long (unusable) ID under it is 404.
#[test]
fn a_token_id_up_to_8_kib_is_read() {
    let w = World::new();
    let admin = admin_token();
    let send = |len: usize| {
        let id = "a".repeat(len);
        let path = format!("/v2.0/tokens?tokenId={id}");
        status(&w.delete(&path, &[("x-auth-token", &admin)]))
    };
    assert_eq!(send(2 * 1024), 404, "over 256 bytes: not a usable ID");
    assert_eq!(send(8 * 1024), 404);
    assert_eq!(send(8 * 1024 + 1), 413);
}

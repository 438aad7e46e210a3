//! Bounds and guards that mutation testing found unpinned: each test holds
//! one rule at its exact edge, through `handlers::handle`.

use edge_revoke_core::handlers::Action;
use edge_revoke_test_support::*;
use serde_json::{json, Value};

/// An HS256 token of exactly `len` bytes, revocable by `jti`. The padding
/// claim grows the payload one byte at a time; base64url reaches three of
/// every four lengths, so a second header shape covers the fourth.
fn token_of_length(len: usize, jti: &str) -> String {
    for header in [
        json!({"alg": "HS256"}),
        json!({"alg": "HS256", "typ": "JWT"}),
    ] {
        for pad in 0..len {
            let claims = with_claims(|c| {
                c["jti"] = jti.into();
                c["pad"] = "p".repeat(pad).into();
            });
            let token = mint_with_header("HS256", &header, &claims);
            if token.len() == len {
                return token;
            }
            if token.len() > len {
                break;
            }
        }
    }
    panic!("no token of {len} bytes");
}

#[test]
fn a_revoked_token_of_exactly_8_kib_is_404_at_the_validation_call() {
    let w = World::new();
    let token = token_of_length(8 * 1024, "edge-8k");
    assert_eq!(token.len(), 8 * 1024);
    let caller = format!("Bearer {}", valid_token());
    let validate = || {
        let path = format!("/v2.0/tokens/{token}");
        w.send("GET", &path, &[("authorization", &caller)], None)
    };
    assert!(forwarded(&validate()), "valid: the origin answers");
    let signed_out = w.send(
        "DELETE",
        "/api/tokens",
        &[("authorization", &format!("Bearer {token}"))],
        None,
    );
    assert_eq!(status(&signed_out), 204);
    assert_eq!(status(&validate()), 404, "revoked: answered at the edge");
}

fn forwarded_claims(claim: Value) -> Vec<(String, String)> {
    let w = World::with(config_with(&[("FORWARD_CLAIMS", "team:X-Team")]));
    let token = mint("HS256", &with_claims(|c| c["team"] = claim));
    let d = w.send(
        "GET",
        "/data",
        &[("authorization", &format!("Bearer {token}"))],
        None,
    );
    match d.action {
        Action::Forward(plan) => plan.set,
        Action::Reply(reply) => panic!("not forwarded: {reply:?}"),
    }
}

#[test]
fn claim_headers_join_only_string_arrays_and_stop_at_8_kib() {
    let set = |claim| forwarded_claims(claim);
    assert_eq!(set(json!(["a", "b"])), [("x-team".into(), "a,b".into())]);
    assert_eq!(
        set(json!(["a", 1])),
        [("x-team".into(), r#"["a",1]"#.into())],
        "a mixed array is sent as JSON"
    );
    // Each 'é' is two bytes, percent-encoded as six header characters.
    let sent = set(json!("é".repeat(1365)));
    assert_eq!(sent.len(), 1, "8,190 characters are sent");
    assert_eq!(sent[0].1.len(), 8190);
    assert!(set(json!("é".repeat(1366))).is_empty(), "8,196 are not");
}

fn oauth(clients: &str, body: &str) -> u16 {
    let w = World::with(config_with(&[("OAUTH_CLIENTS", clients)]));
    let basic = format!("Basic {}", base64_encode(b"app:secret-1"));
    let headers = [
        ("authorization", basic.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    status(&w.send("POST", "/oauth/revoke", &headers, Some(body.as_bytes())))
}

#[test]
fn a_client_listed_twice_still_authenticates() {
    assert_eq!(oauth("app:secret-1", "token=x"), 200);
    assert_eq!(oauth("app:secret-1,app:secret-1", "token=x"), 200);
    assert_eq!(
        oauth("app:secret-1,app:secret-1,app:secret-1", "token=x"),
        200
    );
    assert_eq!(oauth("app:other,other:secret-1", "token=x"), 401);
}

#[test]
fn an_empty_token_parameter_is_an_invalid_request() {
    assert_eq!(oauth("app:secret-1", "token="), 400);
    assert_eq!(oauth("app:secret-1", "token=&token=x"), 400);
    assert_eq!(oauth("app:secret-1", "token=x"), 200);
}

#[test]
fn an_api_key_listed_twice_still_authenticates() {
    let invalidate = |keys: &str| {
        let w = World::with(config_with(&[("INVALIDATE_API_KEYS", keys)]));
        let headers = [("x-api-key", "key-one"), ("content-type", "text/plain")];
        let body = br#"{"tokenReferenceId":"ref-1"}"#;
        status(&w.send(
            "POST",
            "/token-service/client/server/invalidate/token",
            &headers,
            Some(body),
        ))
    };
    assert_eq!(invalidate("key-one"), 200);
    assert_eq!(invalidate("key-one,key-one"), 200);
    assert_eq!(invalidate("key-one,key-two,key-one"), 200);
    assert_eq!(invalidate("key-two"), 401);
}

//! Identity-provider fixtures: a receiving configuration (back-channel
//! logout, a Shared Signals transmitter and a Global Token Revocation
//! endpoint), logout tokens as Keycloak sends them, SETs as an SSF
//! transmitter pushes them, assertions as Okta's Universal Logout sends
//! them, and the requests that carry them.

use crate::tokens::{mint, mint_with_header, public_jwk, sign_raw, with_claims, ISSUER, NOW};
use crate::world::{config_with, request_head, World};
use crate::FaultKv;
use edge_revoke_core::handlers::Decision;
use edge_revoke_core::http::request::RequestHead;
use edge_revoke_core::idp::BACKCHANNEL_LOGOUT_EVENT;
use edge_revoke_core::revocation::memory::MemoryKv;
use edge_revoke_core::revocation::Kv;
use serde_json::{json, Value};

/// `BACKCHANNEL_LOGOUT_AUDIENCE`: the client ID the edge is registered as.
pub const CLIENT: &str = "edge-client";
/// `SSF_ISSUER`.
pub const SSF_ISSUER: &str = "https://ssf.test";
/// `SSF_AUDIENCE`.
pub const SSF_AUDIENCE: &str = "https://edge.test/ssf";
/// The back-channel logout route.
pub const LOGOUT: &str = "/oidc/backchannel-logout";
/// The Shared Signals push route.
pub const EVENTS: &str = "/ssf/events";

/// The transmitter's key set: a key the access-token JWKS does not hold.
pub fn ssf_jwks() -> String {
    let mut key = public_jwk("rsa_other");
    key["kid"] = "ssf-1".into();
    json!({ "keys": [key] }).to_string()
}

/// `GTR_PATH`.
pub const GTR: &str = "/global-token-revocation";
/// `GTR_ISSUER`: an Okta org.
pub const GTR_ISSUER: &str = "https://org.okta.test";
/// `GTR_AUDIENCE`: the endpoint's full URL, as Okta puts it in `aud`.
pub const GTR_AUDIENCE: &str = "https://edge.test/global-token-revocation";
/// `GTR_FORWARD_URL`, when a test sets it.
pub const GTR_FORWARD: &str = "https://auth.origin.test/global-token-revocation";

/// The assertion signer's key set (Okta's): the transmitter's key, under
/// another `kid`, which the access-token JWKS does not hold.
pub fn gtr_jwks() -> String {
    let mut key = public_jwk("rsa_other");
    key["kid"] = "okta-1".into();
    json!({ "keys": [key] }).to_string()
}

/// A world that receives back-channel logouts, SETs and Global Token
/// Revocation calls (assertions from [`GTR_ISSUER`], emails in the `email`
/// claim), over a fault store.
pub fn receiving_with(extra: &[(&str, &str)]) -> World<FaultKv> {
    let ssf_jwks = ssf_jwks();
    let gtr_jwks = gtr_jwks();
    let mut vars = vec![
        ("BACKCHANNEL_LOGOUT_AUDIENCE", CLIENT),
        ("SSF_ISSUER", SSF_ISSUER),
        ("SSF_AUDIENCE", SSF_AUDIENCE),
        ("SSF_JWKS", ssf_jwks.as_str()),
        ("GTR_PATH", GTR),
        ("GTR_ISSUER", GTR_ISSUER),
        ("GTR_AUDIENCE", GTR_AUDIENCE),
        ("GTR_JWKS", gtr_jwks.as_str()),
        ("SUBJECT_EMAIL_CLAIM", "email"),
    ];
    vars.extend_from_slice(extra);
    World::with(config_with(&vars)).with_store(FaultKv::new(MemoryKv::new(NOW)))
}

/// [`receiving_with`] the standard settings.
pub fn receiving() -> World<FaultKv> {
    receiving_with(&[])
}

/// An ES256 access token of `sub` (and session `sid`), ID `jti`, issued at `iat`.
pub fn access_token(sub: &str, sid: Option<&str>, jti: &str, iat: u64) -> String {
    mint(
        "ES256",
        &with_claims(|c| {
            c["sub"] = sub.into();
            c["jti"] = jti.into();
            c["iat"] = json!(iat);
            if let Some(sid) = sid {
                c["sid"] = sid.into();
            }
        }),
    )
}

/// A logout token's claims as Keycloak sends them: `sid` and `sub`, the
/// logout event, no `nonce`; `change` edits them.
pub fn logout_claims(change: impl FnOnce(&mut Value)) -> Value {
    let mut claims = json!({
        "iss": ISSUER,
        "aud": CLIENT,
        "iat": NOW - 3,
        "exp": NOW + 120,
        "jti": "lt-1",
        "sub": "alice",
        "sid": "s-1",
        "typ": "Logout",
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    });
    change(&mut claims);
    claims
}

/// A logout token: RS256 with the access-token key, `typ: logout+jwt`.
pub fn logout_token(claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "logout+jwt", "kid": "rsa-1"});
    mint_with_header("RS256", &header, claims)
}

/// `POST /oidc/backchannel-logout` with a form body.
pub fn post_logout<S: Kv>(w: &World<S>, body: &str) -> Decision {
    let form = [("content-type", "application/x-www-form-urlencoded")];
    w.send("POST", LOGOUT, &form, Some(body.as_bytes()))
}

/// A SET's claims as an SSF transmitter pushes it: `sub_id` and one event.
pub fn set_claims(event: &str, body: Value, sub_id: Value) -> Value {
    json!({
        "iss": SSF_ISSUER,
        "aud": SSF_AUDIENCE,
        "iat": NOW - 2,
        "jti": "set-1",
        "sub_id": sub_id,
        "events": { event: body },
    })
}

/// A SET: RS256 with the transmitter's key, `typ: secevent+jwt`.
pub fn set_token(claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "secevent+jwt", "kid": "ssf-1"});
    sign_raw("RS256-other", &header.to_string(), &claims.to_string())
}

/// `POST /ssf/events` with `content_type`.
pub fn push_as<S: Kv>(w: &World<S>, content_type: &str, set: &str) -> Decision {
    w.send(
        "POST",
        EVENTS,
        &[("content-type", content_type)],
        Some(set.as_bytes()),
    )
}

/// `POST /ssf/events` as `application/secevent+jwt`.
pub fn push<S: Kv>(w: &World<S>, set: &str) -> Decision {
    push_as(w, "application/secevent+jwt", set)
}

/// An `iss_sub` subject of the access-token issuer.
pub fn user(sub: &str) -> Value {
    json!({"format": "iss_sub", "iss": ISSUER, "sub": sub})
}

/// An assertion's claims as Okta's Universal Logout sends them; `change`
/// edits them.
pub fn assertion_claims(change: impl FnOnce(&mut Value)) -> Value {
    let mut claims = json!({
        "iss": GTR_ISSUER,
        "sub": "0oa-edge-app",
        "aud": GTR_AUDIENCE,
        "exp": NOW + 300,
        "nbf": NOW - 300,
        "iat": NOW,
        "jti": "ul-1",
    });
    change(&mut claims);
    claims
}

/// An assertion: RS256 with Okta's key, `typ: global-token-revocation+jwt`.
pub fn assertion(claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "global-token-revocation+jwt", "kid": "okta-1"});
    sign_raw("RS256-other", &header.to_string(), &claims.to_string())
}

/// A Global Token Revocation body: `{"sub_id": sub_id}`.
pub fn gtr_body(sub_id: Value) -> String {
    json!({ "sub_id": sub_id }).to_string()
}

/// The head of a `POST` on [`GTR`] with `bearer`.
pub fn gtr_head(bearer: &str) -> RequestHead {
    let authorization = format!("Bearer {bearer}");
    request_head(
        "POST",
        GTR,
        &[
            ("authorization", &authorization),
            ("content-type", "application/json"),
        ],
    )
}

/// `POST` on [`GTR`] with `bearer` and `body`.
pub fn revoke_user<S: Kv>(w: &World<S>, bearer: &str, body: &str) -> Decision {
    w.decide(&gtr_head(bearer), Some(body.as_bytes())).0
}

/// `GET /data` with `token` as a bearer token.
pub fn get<S: Kv>(w: &World<S>, token: &str) -> Decision {
    w.send(
        "GET",
        "/data",
        &[("authorization", &format!("Bearer {token}"))],
        None,
    )
}

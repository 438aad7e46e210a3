//! Beyond single tokens, natively: sign out everywhere, RFC 7009 and RFC 7662,
//! listing and restore, claim forwarding, monitor mode, CORS preflight, the
//! verified-token cache and the one-round-trip lookup.

use edge_revoke_core::handlers::{Action, Decision, Forward};
use edge_revoke_core::revocation::{Cutoff, CutoffKind};
use edge_revoke_test_support::{json_body as body, json_body as body_of, *};
use serde_json::json;

const CLIENT: &str = "app-1";
const CLIENT_SECRET: &str = "s3cret with space";

/// A world whose configuration also has two OAuth clients.
fn world_with(extra: &[(&str, &str)]) -> World {
    let mut vars = vec![("OAUTH_CLIENTS", "app-1:s3cret with space,app-2:other")];
    vars.extend_from_slice(extra);
    World::with(config_with(&vars))
}

fn world() -> World {
    world_with(&[])
}

/// The requests these scenarios send.
trait Requests {
    fn get(&self, token: &str) -> Decision;
    fn delete(&self, path: &str, token: &str) -> u16;
    fn oauth(&self, path: &str, client: Option<(&str, &str)>, body: &str) -> Decision;
}

impl Requests for World {
    fn get(&self, token: &str) -> Decision {
        let auth = format!("Bearer {token}");
        self.send("GET", "/data", &[("authorization", &auth)], None)
    }
    fn delete(&self, path: &str, token: &str) -> u16 {
        let auth = format!("Bearer {token}");
        status(&self.send("DELETE", path, &[("authorization", &auth)], None))
    }
    fn oauth(&self, path: &str, client: Option<(&str, &str)>, body: &str) -> Decision {
        let basic = client.map(|(id, secret)| {
            let pair = format!("{}:{}", form(id), form(secret));
            format!("Basic {}", base64_encode(pair.as_bytes()))
        });
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        if let Some(basic) = &basic {
            headers.push(("authorization", basic.as_str()));
        }
        self.send("POST", path, &headers, Some(body.as_bytes()))
    }
}

fn form(text: &str) -> String {
    text.replace('%', "%25")
        .replace(' ', "+")
        .replace(':', "%3A")
}

fn plan(decision: &Decision) -> &Forward {
    match &decision.action {
        Action::Forward(plan) => plan,
        Action::Reply(reply) => panic!("replied {}", reply.status),
    }
}

/// A token of `sub` issued at `iat`, with ID `jti`.
fn issued(sub: &str, jti: &str, iat: Option<u64>) -> String {
    let mut c = claims();
    c["sub"] = sub.into();
    c["jti"] = jti.into();
    match iat {
        Some(iat) => c["iat"] = iat.into(),
        None => {
            c.as_object_mut().unwrap().remove("iat");
        }
    }
    mint("ES256", &c)
}

// ---- sign out everywhere -------------------------------------------------

#[test]
fn global_sign_out_revokes_every_token_issued_until_now() {
    let w = world();
    let tokens = [
        issued("alice", "a1", Some(NOW - 3000)),
        issued("alice", "a2", Some(NOW - 10)),
        issued("alice", "a3", None),
    ];
    // From an identity provider whose clock runs 30 s ahead.
    let ahead = issued("alice", "a5", Some(NOW + 30));
    let bob = issued("bob", "b1", Some(NOW - 10));
    assert_eq!(w.delete("/api/tokens?scope=global", &tokens[1]), 204);
    for token in tokens.iter().chain([&ahead]) {
        assert_eq!(status(&w.get(token)), 401);
    }
    assert_eq!(status(&w.get(&bob)), 0, "other subjects are untouched");
    // The cutoff reaches CUTOFF_SKEW_SECONDS (the leeway, 60) past now: a
    // token issued after it passes once its iat is within the leeway.
    w.advance(1);
    let later = issued("alice", "a4", Some(NOW + 61));
    assert_eq!(status(&w.get(&later)), 0, "issued after the cutoff");
    let (cutoff, expires) = w.store.cutoffs()["subject:alice"].clone();
    assert_eq!((cutoff.cutoff, cutoff.others), (Some(NOW + 60), None));
    // Every token issued up to the cutoff lives at most
    // MAX_TOKEN_LIFETIME_SECONDS past it, and is accepted the leeway longer.
    assert_eq!(expires, NOW + 60 + 86_400 + 60);
    assert!(
        w.store.entries().is_empty(),
        "one subject entry, no per-token entries"
    );
}

#[test]
fn others_keeps_the_caller() {
    let w = world();
    let caller = issued("alice", "keep-me", Some(NOW - 5));
    let other = issued("alice", "drop-me", Some(NOW - 5));
    assert_eq!(w.delete("/api/tokens?scope=others", &caller), 204);
    assert_eq!(status(&w.get(&caller)), 0);
    assert_eq!(status(&w.get(&other)), 401);
    let others = w.store.cutoffs()["subject:alice"].0.others.clone().unwrap();
    assert_eq!(
        (others.cutoff, others.except.as_str(), others.except_iat),
        (NOW + 60, "keep-me", Some(NOW - 5))
    );
}

#[test]
fn a_cutoff_never_moves_backwards() {
    let w = world();
    let later = Cutoff::all(
        CutoffKind::Subject,
        "alice",
        NOW + 50,
        "x".into(),
        "x".into(),
    );
    w.store.insert_cutoff(&later, NOW + 1000);
    // Issued after the stored cutoff, within the clock-skew leeway.
    let caller = issued("alice", "c", Some(NOW + 55));
    assert_eq!(w.delete("/api/tokens?scope=others", &caller), 204);
    let kept = &w.store.cutoffs()["subject:alice"].0;
    assert_eq!(kept.cutoff, Some(NOW + 50), "the stored cutoff stays");
    let others = kept.others.as_ref().map(|o| (o.cutoff, o.except.as_str()));
    assert_eq!(others, Some((NOW + 60, "c")), "the exemption merges in");
}

#[test]
fn subject_wide_sign_out_needs_a_subject() {
    let w = world();
    let mut c = claims();
    c.as_object_mut().unwrap().remove("sub");
    assert_eq!(
        w.delete("/api/tokens?scope=global", &mint("HS256", &c)),
        400
    );
}

#[test]
fn admins_sign_a_subject_out_everywhere() {
    let w = world();
    let victim = issued("mallory@example.com", "m1", Some(NOW - 1));
    let user = issued("eve", "e1", Some(NOW - 1));
    assert_eq!(
        w.delete("/api/users/mallory%40example.com/tokens", &user),
        403
    );
    assert_eq!(
        w.delete("/api/users/mallory%40example.com/tokens", "x.y.z"),
        401
    );
    let decision = {
        let auth = format!("Bearer {}", admin_token());
        w.send(
            "DELETE",
            "/api/users/mallory%40example.com/tokens",
            &[("authorization", &auth)],
            None,
        )
    };
    assert_eq!(status(&decision), 204);
    let event = decision.event.unwrap();
    assert_eq!(
        (event.decision.as_str(), event.sub.as_deref()),
        ("revoke", Some("mallory@example.com"))
    );
    assert_eq!(status(&w.get(&victim)), 401);
    assert_eq!(
        w.store.cutoffs()["subject:mallory@example.com"].0.by,
        "root"
    );
}

/// The production read path, natively: one bulk read of the token's,
/// its subject's and its session's keys, and nothing else.
#[test]
fn a_checked_request_is_one_bulk_read() {
    let w = world();
    let with_session = mint(
        "ES256",
        &with_claims(|c| {
            c["sid"] = "s-9".into();
        }),
    );
    let anonymous = mint(
        "ES256",
        &with_claims(|c| {
            c["jti"] = "no-sub".into();
            c.as_object_mut().unwrap().remove("sub");
        }),
    );
    for token in [&with_session, &anonymous] {
        let auth = format!("Bearer {token}");
        let head = request_head("GET", "/data", &[("authorization", &auth)]);
        let (decision, polls) = w.decide(&head, None);
        assert!(matches!(decision.action, Action::Forward(_)));
        assert_eq!(polls, 1);
    }
    assert_eq!(
        w.store.reads(),
        [
            vec!["revoked:jti-alice-1", "subject:alice", "session:s-9"],
            vec!["revoked:no-sub"],
        ]
    );
}

// ---- RFC 7009 / RFC 7662 -------------------------------------------------

#[test]
fn oauth_revoke_follows_rfc_7009() {
    let w = world();
    let token = issued("alice", "oa-1", Some(NOW - 1));
    let ok = w.oauth(
        "/oauth/revoke",
        Some((CLIENT, CLIENT_SECRET)),
        &format!("token={token}&token_type_hint=access_token"),
    );
    assert_eq!(status(&ok), 200);
    assert_eq!(w.store.entries()["revoked:oa-1"].0.by, "client:app-1");
    assert_eq!(status(&w.get(&token)), 401);
    // Invalid or unknown tokens: 200 all the same, nothing stored.
    for junk in [
        "token=not-a-token",
        "token=a.b.c",
        "token=x&token_type_hint=weird",
    ] {
        assert_eq!(
            status(&w.oauth("/oauth/revoke", Some((CLIENT, CLIENT_SECRET)), junk)),
            200,
            "{junk}"
        );
    }
    assert_eq!(w.store.entries().len(), 1);
}

#[test]
fn oauth_client_authentication() {
    let w = world();
    let body = format!("token={}", valid_token());
    for client in [
        None,
        Some((CLIENT, "wrong")),
        Some(("nobody", CLIENT_SECRET)),
        Some(("app-2", CLIENT_SECRET)),
    ] {
        let d = w.oauth("/oauth/revoke", client, &body);
        assert_eq!(status(&d), 401, "{client:?}");
        assert_eq!(body_of(&d), json!({"error": "invalid_client"}));
        assert!(header(&d, "www-authenticate")
            .unwrap()
            .starts_with("Basic realm="));
    }
    let d = w.send(
        "POST",
        "/oauth/revoke",
        &[("authorization", "Bearer x")],
        Some(body.as_bytes()),
    );
    assert_eq!(status(&d), 401);
    assert!(w.store.entries().is_empty());
    // Missing token parameter.
    let d = w.oauth(
        "/oauth/revoke",
        Some((CLIENT, CLIENT_SECRET)),
        "token_type_hint=access_token",
    );
    assert_eq!(
        (status(&d), body_of(&d)),
        (400, json!({"error": "invalid_request"}))
    );
}

fn header<'a>(d: &'a Decision, name: &str) -> Option<&'a str> {
    match &d.action {
        Action::Reply(reply) => reply.header(name),
        Action::Forward(_) => None,
    }
}

#[test]
fn oauth_revoke_refuses_another_clients_token() {
    let w = world();
    let mut c = claims();
    c["client_id"] = "app-2".into();
    let theirs = mint("HS256", &c);
    let d = w.oauth(
        "/oauth/revoke",
        Some((CLIENT, CLIENT_SECRET)),
        &format!("token={theirs}"),
    );
    assert_eq!(
        (status(&d), body_of(&d)),
        (400, json!({"error": "unauthorized_client"}))
    );
    assert!(w.store.entries().is_empty());
    c["client_id"] = CLIENT.into();
    let mine = mint("HS256", &c);
    assert_eq!(
        status(&w.oauth(
            "/oauth/revoke",
            Some((CLIENT, CLIENT_SECRET)),
            &format!("token={mine}")
        )),
        200
    );
}

#[test]
fn oauth_revoke_fails_closed_when_the_store_is_down() {
    let w = world();
    w.store.fail_writes(true);
    let d = w.oauth(
        "/oauth/revoke",
        Some((CLIENT, CLIENT_SECRET)),
        &format!("token={}", valid_token()),
    );
    assert_eq!(status(&d), 503);
    assert_eq!(header(&d, "retry-after"), Some("5"));
    assert_eq!(body_of(&d), json!({"error": "temporarily_unavailable"}));
}

#[test]
fn introspection_follows_rfc_7662() {
    let w = world();
    let token = issued("alice", "in-1", Some(NOW - 1));
    let d = w.oauth(
        "/oauth/introspect",
        Some((CLIENT, CLIENT_SECRET)),
        &format!("token={token}"),
    );
    assert_eq!(status(&d), 200);
    let answer = body_of(&d);
    assert_eq!(answer["active"], true);
    assert_eq!(answer["sub"], "alice");
    assert_eq!(answer["jti"], "in-1");
    assert_eq!(answer["exp"], NOW + 600);
    // Revoked, invalid, expired: exactly {"active": false}.
    let mut expired = claims();
    expired["exp"] = (NOW - 3600).into();
    w.delete("/api/tokens", &token);
    for t in [
        token,
        "a.b.c".to_string(),
        "opaque".to_string(),
        mint("HS256", &expired),
    ] {
        let d = w.oauth(
            "/oauth/introspect",
            Some((CLIENT, CLIENT_SECRET)),
            &format!("token={t}"),
        );
        assert_eq!(body_of(&d), json!({"active": false}));
    }
    // A global sign-out makes older tokens inactive too.
    let old = issued("carol", "c-1", Some(NOW - 100));
    w.delete("/api/tokens?scope=global", &old);
    let d = w.oauth(
        "/oauth/introspect",
        Some((CLIENT, CLIENT_SECRET)),
        &format!("token={old}"),
    );
    assert_eq!(body_of(&d), json!({"active": false}));
    // Bad client.
    assert_eq!(status(&w.oauth("/oauth/introspect", None, "token=x")), 401);
    // Store down: 503, never a guess.
    w.store.fail_reads(true);
    let fresh = issued("dan", "d-1", Some(NOW - 1));
    assert_eq!(
        status(&w.oauth(
            "/oauth/introspect",
            Some((CLIENT, CLIENT_SECRET)),
            &format!("token={fresh}")
        )),
        503
    );
}

// ---- listing and restore -------------------------------------------------

#[test]
fn admins_page_through_revocations() {
    let w = world();
    let admin = admin_token();
    for n in 0..5 {
        let sub = if n % 2 == 0 { "alice" } else { "bob" };
        assert_eq!(
            w.delete("/api/tokens", &issued(sub, &format!("t{n}"), Some(NOW - 1))),
            204
        );
    }
    let auth = format!("Bearer {admin}");
    let list = |query: &str| {
        w.send(
            "GET",
            &format!("/api/revocations{query}"),
            &[("authorization", &auth)],
            None,
        )
    };
    let first = body(&list("?limit=2"));
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["list_complete"], false);
    let item = &first["items"][0];
    for field in [
        "jti",
        "sub",
        "exp",
        "revoked_at",
        "by",
        "route",
        "reason",
        "expires_at",
    ] {
        assert!(item.get(field).is_some(), "{field}");
    }
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = String::new();
    loop {
        let query = if cursor.is_empty() {
            "?limit=2".to_string()
        } else {
            format!("?limit=2&cursor={cursor}")
        };
        let page = body(&list(&query));
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["jti"].as_str().unwrap().to_owned()),
        );
        match page["cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, ["t0", "t1", "t2", "t3", "t4"]);
    let bobs = body(&list("?sub=bob"));
    let subs: Vec<_> = bobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sub"].clone())
        .collect();
    assert_eq!(subs, [json!("bob"), json!("bob")]);
    for bad in ["?limit=0", "?limit=1001", "?limit=x", "?limit=1&limit=2"] {
        assert_eq!(status(&list(bad)), 400, "{bad}");
    }
    let user = issued("eve", "e", Some(NOW - 1));
    let user_auth = format!("Bearer {user}");
    assert_eq!(
        status(&w.send(
            "GET",
            "/api/revocations",
            &[("authorization", &user_auth)],
            None
        )),
        403
    );
    assert_eq!(status(&w.send("GET", "/api/revocations", &[], None)), 401);
}

#[test]
fn admins_restore_a_token() {
    let w = world();
    let token = issued("alice", "r-1", Some(NOW - 1));
    w.delete("/api/tokens", &token);
    assert_eq!(status(&w.get(&token)), 401);
    let user = issued("eve", "e", Some(NOW - 1));
    assert_eq!(w.delete("/api/revocations/r-1", &user), 403);
    let auth = format!("Bearer {}", admin_token());
    let d = w.send(
        "DELETE",
        "/api/revocations/r-1",
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(status(&d), 204);
    let event = d.event.unwrap();
    assert_eq!(
        (event.decision.as_str(), event.jti.as_deref()),
        ("restore", Some("r-1"))
    );
    assert_eq!(status(&w.get(&token)), 0, "the token works again");
    assert_eq!(
        w.delete("/api/revocations/r-1", &admin_token()),
        404,
        "nothing left to restore"
    );
    w.store.fail_reads(true);
    assert_eq!(w.delete("/api/revocations/r-1", &admin_token()), 503);
}

// ---- operating it --------------------------------------------------------

#[test]
fn verified_claims_are_forwarded_and_spoofs_removed() {
    let w = world_with(&[(
        "FORWARD_CLAIMS",
        "sub:X-User-Id,email:X-User-Email,roles:X-Roles,n:X-N",
    )]);
    let mut c = claims();
    c["email"] = "josé@example.com".into();
    c["roles"] = json!(["a", "b"]);
    c["n"] = json!(5);
    let token = mint("HS256", &c);
    let auth = format!("Bearer {token}");
    let d = w.send(
        "GET",
        "/data",
        &[("authorization", &auth), ("x-user-id", "admin")],
        None,
    );
    let sent = plan(&d);
    assert_eq!(sent.remove, ["x-user-id", "x-user-email", "x-roles", "x-n"]);
    assert_eq!(
        sent.set,
        [
            ("x-user-id".to_string(), "alice".to_string()),
            (
                "x-user-email".to_string(),
                "jos%C3%A9@example.com".to_string()
            ),
            ("x-roles".to_string(), "a,b".to_string()),
            ("x-n".to_string(), "5".to_string()),
        ]
    );
    // Public paths and unauthenticated requests still lose spoofed headers.
    let open = world_with(&[
        ("FORWARD_CLAIMS", "sub:X-User-Id"),
        ("REQUIRE_TOKEN", "false"),
    ]);
    let d = open.send("GET", "/data", &[("x-user-id", "admin")], None);
    assert_eq!(plan_of(&d), (vec!["x-user-id".to_string()], vec![]));
    // Without the option nothing is touched, and the plan names the request's
    // own URL (no ORIGIN_URL: route mode) and the default timeout.
    let plain = world();
    let forward = plan(&plain.get(&token)).clone();
    assert_eq!(plan_of_forward(&forward), (vec![], vec![]));
    assert_eq!(
        (forward.url.as_str(), forward.timeout_ms),
        ("https://edge.test/data", 100_000)
    );
    assert_eq!(
        (forward.unreachable.status, forward.timed_out.status),
        (502, 504)
    );
}

fn plan_of(d: &Decision) -> (Vec<String>, Vec<(String, String)>) {
    plan_of_forward(plan(d))
}

fn plan_of_forward(p: &Forward) -> (Vec<String>, Vec<(String, String)>) {
    (p.remove.clone(), p.set.clone())
}

#[test]
fn monitor_mode_logs_and_forwards() {
    let w = world_with(&[("ENFORCE", "false"), ("FORWARD_CLAIMS", "sub:X-User-Id")]);
    let d = w.send("GET", "/data", &[], None);
    assert_eq!(plan_of(&d), (vec!["x-user-id".to_string()], vec![]));
    let event = d.event.unwrap();
    assert_eq!(
        (event.decision.as_str(), event.reason.as_str()),
        ("would_reject", "missing")
    );
    let token = valid_token();
    w.delete("/api/tokens", &token);
    let d = w.get(&token);
    assert_eq!(status(&d), 0);
    assert_eq!(plan(&d).set, vec![], "no claims from a rejected token");
    let event = d.event.unwrap();
    assert_eq!(
        (
            event.decision.as_str(),
            event.reason.as_str(),
            event.jti.as_deref()
        ),
        ("would_reject", "revoked", Some("jti-alice-1"))
    );
    // The revocation routes still answer for themselves.
    assert_eq!(w.delete("/api/tokens", "x.y.z"), 401);
}

#[test]
fn cors_preflight_passes_unchecked() {
    let w = world();
    let d = w.send(
        "OPTIONS",
        "/data",
        &[("access-control-request-method", "GET")],
        None,
    );
    assert_eq!(status(&d), 0);
    assert!(d.event.is_none());
    // A plain OPTIONS is an ordinary request.
    assert_eq!(status(&w.send("OPTIONS", "/data", &[], None)), 401);
}

#[test]
fn a_cached_token_is_still_checked_for_revocation() {
    let w = world();
    let token = valid_token();
    assert_eq!(status(&w.get(&token)), 0);
    assert_eq!(w.isolate.cache.len(), 1, "verified once, cached");
    assert_eq!(status(&w.get(&token)), 0);
    w.delete("/api/tokens", &token);
    assert_eq!(
        status(&w.get(&token)),
        401,
        "never served past a revocation"
    );
}

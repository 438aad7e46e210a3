//! Revocation driven by the identity provider, natively through
//! `handlers::handle`: `DELETE /api/tokens?scope=session`, OpenID Connect
//! back-channel logout and Shared Signals events. Each acceptance is followed
//! by what it must change (and not change) for later requests.

use edge_revoke_core::handlers::Decision;
use edge_revoke_core::idp::{
    BACKCHANNEL_LOGOUT_EVENT, CAEP_CREDENTIAL_CHANGE, CAEP_RISK_LEVEL_CHANGE, CAEP_SESSION_REVOKED,
    RISC_ACCOUNT_DISABLED, SSF_VERIFICATION,
};
use edge_revoke_test_support::*;
use serde_json::{json, Value};

fn logout_error(d: &Decision) -> String {
    assert_eq!(status(d), 400, "{:?}", reply(d));
    assert_eq!(reply(d).header("content-type"), Some("application/json"));
    assert_eq!(reply(d).header("cache-control"), Some("no-store"));
    let body = json_body(d);
    assert_eq!(body["error"], "invalid_request");
    body["error_description"].as_str().unwrap().to_owned()
}

#[test]
fn scope_session_signs_out_the_callers_session_only() {
    let w = receiving();
    let caller = access_token("alice", Some("s-1"), "a-1", NOW - 20);
    let same_session = access_token("alice", Some("s-1"), "a-2", NOW - 10);
    let other_session = access_token("alice", Some("s-2"), "a-3", NOW - 10);
    let d = w.send(
        "DELETE",
        "/api/tokens?scope=session",
        &[("authorization", &format!("Bearer {caller}"))],
        None,
    );
    assert_eq!(status(&d), 204);
    let event = d.event.unwrap();
    assert_eq!(
        (event.reason.as_str(), event.sid.as_deref()),
        ("sign_out_session", Some("s-1"))
    );
    // CUTOFF_SKEW_SECONDS (the leeway, 60) past now.
    assert_eq!(
        w.store.inner.sessions()["session:s-1"].0.cutoff,
        Some(NOW + 60)
    );
    assert_eq!(status(&get(&w, &caller)), 401);
    assert_eq!(status(&get(&w, &same_session)), 401);
    assert!(forwarded(&get(&w, &other_session)));
    // A token of that session issued after the cutoff passes, once it may be
    // issued at all (iat no more than the leeway ahead).
    w.advance(1);
    assert!(forwarded(&get(
        &w,
        &access_token("alice", Some("s-1"), "a-4", NOW + 61)
    )));
}

#[test]
fn scope_session_needs_a_sid() {
    let w = receiving();
    let d = w.send(
        "DELETE",
        "/api/tokens?scope=session",
        &[("authorization", &format!("Bearer {}", valid_token()))],
        None,
    );
    assert_eq!(status(&d), 400);
    assert_eq!(
        reply(&d).header("content-type"),
        Some("application/problem+json")
    );
    assert!(w.store.inner.sessions().is_empty());
}

#[test]
fn receivers_without_settings_leave_their_paths_to_the_origin() {
    let w = World::new();
    let d = post_logout(
        &w,
        &format!("logout_token={}", logout_token(&logout_claims(|_| {}))),
    );
    assert_eq!(
        status(&d),
        401,
        "an ordinary request without a bearer token"
    );
    assert_eq!(d.event.unwrap().route, "proxy");
    let auth = format!("Bearer {}", valid_token());
    let d = w.send("POST", EVENTS, &[("authorization", &auth)], Some(b"x"));
    assert!(
        forwarded(&d),
        "a valid caller reaches the origin's /ssf/events"
    );
}

#[test]
fn a_keycloak_logout_ends_that_session_at_the_tokens_iat() {
    let w = receiving();
    let before = access_token("alice", Some("s-1"), "b-1", NOW - 100);
    let other_session = access_token("alice", Some("s-2"), "b-2", NOW - 100);
    let after = access_token("alice", Some("s-1"), "b-3", NOW - 2);
    let token = logout_token(&logout_claims(|_| {}));
    let d = post_logout(&w, &format!("logout_token={token}"));
    assert_eq!(status(&d), 200);
    assert!(reply(&d).body.is_empty());
    assert_eq!(reply(&d).header("cache-control"), Some("no-store"));
    let event = d.event.unwrap();
    assert_eq!(
        (
            event.decision.as_str(),
            event.reason.as_str(),
            event.jti.as_deref(),
            event.sid.as_deref(),
            event.sub.as_deref(),
            event.event_type.as_deref(),
        ),
        (
            "revoke",
            "backchannel_logout",
            Some("lt-1"),
            Some("s-1"),
            Some("alice"),
            Some(BACKCHANNEL_LOGOUT_EVENT)
        )
    );
    let stored = w.store.inner.sessions()["session:s-1"].0.clone();
    assert_eq!((stored.cutoff, stored.by.as_str()), (Some(NOW - 3), "idp"));
    assert_eq!(status(&get(&w, &before)), 401);
    assert!(
        forwarded(&get(&w, &other_session)),
        "the user's other session"
    );
    assert!(forwarded(&get(&w, &after)), "issued after the logout");

    // A replay answers 200 again and changes nothing: no write.
    w.store.log.take();
    assert_eq!(
        status(&post_logout(&w, &format!("logout_token={token}"))),
        200
    );
    assert_eq!(
        w.store.log.take(),
        ["read"],
        "read, found in force, not written"
    );
    assert_eq!(w.store.inner.sessions()["session:s-1"].0, stored);
}

#[test]
fn a_logout_naming_only_the_user_ends_every_session_of_the_user() {
    let w = receiving();
    let token = logout_token(&logout_claims(|c| {
        c.as_object_mut().unwrap().remove("sid");
    }));
    assert_eq!(
        status(&post_logout(&w, &format!("logout_token={token}"))),
        200
    );
    assert_eq!(
        w.store.inner.cutoffs()["subject:alice"].0.cutoff,
        Some(NOW - 3)
    );
    assert_eq!(
        status(&get(
            &w,
            &access_token("alice", Some("s-7"), "c-1", NOW - 50)
        )),
        401
    );
    assert_eq!(
        status(&get(&w, &access_token("alice", None, "c-2", NOW - 50))),
        401
    );
    assert!(forwarded(&get(
        &w,
        &access_token("bob", None, "c-3", NOW - 50)
    )));
}

#[test]
fn every_refused_logout_is_a_400_and_writes_nothing() {
    let w = receiving();
    let form = |token: &str| format!("logout_token={token}");
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "one logout_token is required"),
        ("logout_token=".into(), "one logout_token is required"),
        (
            "a=1&logout_token=x&logout_token=y".into(),
            "one logout_token is required",
        ),
        ("%zz".into(), "the body is not a form of at most 16 KiB"),
        (
            format!("logout_token={}", "a".repeat(17 * 1024)),
            "the body is not a form of at most 16 KiB",
        ),
        (form("not-a-jwt"), "malformed token"),
        (
            form(&logout_token(&logout_claims(|c| {
                c["aud"] = json!("api://edge")
            }))),
            "audience not accepted",
        ),
        (
            form(&logout_token(&logout_claims(|c| c["nonce"] = json!("n-1")))),
            "nonce must be absent",
        ),
        (
            form(&logout_token(&logout_claims(|c| {
                c.as_object_mut().unwrap().remove("events");
            }))),
            "events must hold the back-channel logout event",
        ),
        (
            form(&logout_token(&logout_claims(|c| {
                c["iss"] = json!("https://evil.test")
            }))),
            "issuer not accepted",
        ),
        // An access token is never a logout token.
        (
            form(&mint("RS256", &with_claims(|c| c["aud"] = json!(CLIENT)))),
            "events must hold the back-channel logout event",
        ),
        // Signed with a key the worker does not trust under a trusted kid.
        (
            form(&sign_raw(
                "RS256-other",
                &json!({"alg": "RS256", "kid": "rsa-1"}).to_string(),
                &logout_claims(|_| {}).to_string(),
            )),
            "invalid signature",
        ),
        // alg none, with and without a signature.
        (
            form(&format!(
                "{}.",
                signing_input(r#"{"alg":"none"}"#, &logout_claims(|_| {}).to_string())
            )),
            "malformed token",
        ),
        (
            form(&format!(
                "{}.c2ln",
                signing_input(r#"{"alg":"none"}"#, &logout_claims(|_| {}).to_string())
            )),
            "algorithm not allowed",
        ),
    ];
    for (body, expected) in cases {
        let d = post_logout(&w, &body);
        assert_eq!(
            logout_error(&d),
            expected,
            "{}",
            &body[..body.len().min(80)]
        );
        assert_eq!(d.event.unwrap().reason.as_str(), "logout_token");
    }
    assert!(w.store.inner.sessions().is_empty() && w.store.inner.cutoffs().is_empty());
}

#[test]
fn a_logout_that_cannot_be_stored_is_503_never_200() {
    let w = receiving();
    w.store.always_on(Op::Put, "session:", Outcome::Fail);
    let token = logout_token(&logout_claims(|_| {}));
    let d = post_logout(&w, &format!("logout_token={token}"));
    assert_eq!(status(&d), 503);
    assert!(reply(&d).header("retry-after").is_some());
    w.store.always_on(Op::Put, "session:", Outcome::Pass);
    w.store.always_on(Op::Read, "session:", Outcome::Fail);
    assert_eq!(
        status(&post_logout(&w, &format!("logout_token={token}"))),
        503
    );
}

fn ssf_error(d: &Decision) -> String {
    assert_eq!(status(d), 400, "{:?}", reply(d));
    assert_eq!(reply(d).header("content-type"), Some("application/json"));
    json_body(d)["err"].as_str().unwrap().to_owned()
}

#[test]
fn a_caep_session_revoked_event_ends_the_named_session() {
    let w = receiving();
    let subject = json!({
        "format": "complex",
        "user": user("alice"),
        "session": {"format": "opaque", "id": "s-1"},
    });
    let claims = set_claims(
        CAEP_SESSION_REVOKED,
        json!({"event_timestamp": NOW - 30}),
        subject,
    );
    let d = push(&w, &set_token(&claims));
    assert_eq!(status(&d), 202);
    assert!(reply(&d).body.is_empty());
    let event = d.event.unwrap();
    assert_eq!(
        (
            event.decision.as_str(),
            event.reason.as_str(),
            event.sid.as_deref()
        ),
        ("revoke", "security_event", Some("s-1"))
    );
    assert_eq!(event.event_type.as_deref(), Some(CAEP_SESSION_REVOKED));
    assert_eq!(event.jti.as_deref(), Some("set-1"));
    assert_eq!(
        w.store.inner.sessions()["session:s-1"].0.cutoff,
        Some(NOW - 30)
    );
    assert_eq!(
        status(&get(
            &w,
            &access_token("alice", Some("s-1"), "d-1", NOW - 31)
        )),
        401
    );
    assert!(forwarded(&get(
        &w,
        &access_token("alice", Some("s-1"), "d-2", NOW - 29)
    )));
    assert!(forwarded(&get(
        &w,
        &access_token("alice", Some("s-2"), "d-3", NOW - 60)
    )));
}

#[test]
fn credential_change_and_risc_events_end_every_token_of_the_user() {
    for event in [CAEP_CREDENTIAL_CHANGE, RISC_ACCOUNT_DISABLED] {
        let w = receiving();
        let claims = set_claims(event, json!({}), user("bob"));
        assert_eq!(status(&push(&w, &set_token(&claims))), 202, "{event}");
        assert_eq!(
            w.store.inner.cutoffs()["subject:bob"].0.cutoff,
            Some(NOW - 2)
        );
        assert_eq!(
            status(&get(&w, &access_token("bob", Some("s-9"), "e-1", NOW - 5))),
            401
        );
        assert!(forwarded(&get(&w, &access_token("bob", None, "e-2", NOW))));
    }
}

#[test]
fn a_risk_level_change_signs_out_only_when_the_operator_opted_in() {
    let risk = |level: &str| {
        let body = json!({"principal": "USER", "current_level": level, "previous_level": "LOW"});
        set_token(&set_claims(CAEP_RISK_LEVEL_CHANGE, body, user("dana")))
    };
    let token = access_token("dana", None, "r-1", NOW - 5);
    // Unset: accepted and ignored.
    let w = receiving();
    let d = push(&w, &risk("HIGH"));
    assert_eq!(status(&d), 202);
    assert_eq!(d.event.unwrap().decision.as_str(), "ignored");
    assert!(forwarded(&get(&w, &token)));
    // SSF_RISK_LEVEL_REVOKE=high: MEDIUM is ignored, HIGH signs the user out.
    let w = receiving_with(&[("SSF_RISK_LEVEL_REVOKE", "high")]);
    assert_eq!(status(&push(&w, &risk("MEDIUM"))), 202);
    assert!(forwarded(&get(&w, &token)));
    let d = push(&w, &risk("HIGH"));
    assert_eq!(d.event.unwrap().reason.as_str(), "security_event");
    assert_eq!(
        w.store.inner.cutoffs()["subject:dana"].0.cutoff,
        Some(NOW - 2)
    );
    assert_eq!(status(&get(&w, &token)), 401);
    // Any other value is refused at start.
    for bad in ["low", "severe", "1"] {
        let e = edge_revoke_core::config::Config::from_lookup(|name| match name {
            "JWT_SECRET" => Some(SECRET.into()),
            "SSF_ISSUER" => Some(SSF_ISSUER.into()),
            "SSF_AUDIENCE" => Some(SSF_AUDIENCE.into()),
            "SSF_JWKS" => Some(ssf_jwks()),
            "SSF_RISK_LEVEL_REVOKE" => Some(bad.into()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(e.setting(), "SSF_RISK_LEVEL_REVOKE", "{bad}");
    }
}

#[test]
fn verification_and_unknown_events_are_accepted_and_logged_as_ignored() {
    let w = receiving();
    for (event, reason) in [
        (SSF_VERIFICATION, "verification event"),
        ("https://example.test/event/other", "unsupported event type"),
    ] {
        let d = push(&w, &set_token(&set_claims(event, json!({}), user("carol"))));
        assert_eq!(status(&d), 202);
        let logged = d.event.unwrap();
        assert_eq!(
            (logged.decision.as_str(), logged.reason.as_str()),
            ("ignored", reason)
        );
    }
    let email = json!({"format": "email", "email": "carol@example.test"});
    let d = push(
        &w,
        &set_token(&set_claims(CAEP_CREDENTIAL_CHANGE, json!({}), email)),
    );
    assert_eq!(
        d.event.unwrap().reason.as_str(),
        "unsupported subject format"
    );
    assert!(w.store.inner.cutoffs().is_empty() && w.store.inner.sessions().is_empty());
}

#[test]
fn every_refused_set_has_its_rfc_8935_error() {
    let w = receiving();
    let ok = set_claims(CAEP_CREDENTIAL_CHANGE, json!({}), user("dave"));
    let with = |change: fn(&mut Value)| {
        let mut claims = ok.clone();
        change(&mut claims);
        set_token(&claims)
    };
    let cases = [
        (
            push_as(&w, "application/jwt", &set_token(&ok)),
            "invalid_request",
        ),
        (push(&w, "not a jwt"), "invalid_request"),
        (
            push(&w, &with(|c| c["iss"] = json!("https://other.test"))),
            "invalid_issuer",
        ),
        (
            push(&w, &with(|c| c["aud"] = json!("https://elsewhere.test"))),
            "invalid_audience",
        ),
        (
            push(&w, &with(|c| c["events"] = json!({}))),
            "invalid_request",
        ),
        (
            push(
                &w,
                &with(|c| {
                    c.as_object_mut().unwrap().remove("jti");
                }),
            ),
            "invalid_request",
        ),
        // Signed with an access-token key: not a transmitter's key.
        (push(&w, &mint("RS256", &ok)), "invalid_key"),
        (push(&w, &mint("HS256", &ok)), "invalid_key"),
        // A transmitter key's kid over another key's signature.
        (
            push(
                &w,
                &sign_raw(
                    "RS256",
                    &json!({"alg": "RS256", "kid": "ssf-1"}).to_string(),
                    &ok.to_string(),
                ),
            ),
            "invalid_key",
        ),
        // An access token pushed as a SET.
        (push(&w, &valid_token()), "invalid_key"),
        // Unsecured, with an empty or a missing signature segment.
        (
            push(
                &w,
                &format!("{}.", signing_input(r#"{"alg":"none"}"#, &ok.to_string())),
            ),
            "invalid_key",
        ),
        (
            push(&w, &signing_input(r#"{"alg":"nOnE"}"#, &ok.to_string())),
            "invalid_key",
        ),
    ];
    for (d, code) in cases {
        assert_eq!(ssf_error(&d), code);
    }
    assert!(w.store.inner.cutoffs().is_empty());
    // And the other way round: an access token signed with the SSF key.
    let forged = sign_raw(
        "RS256-other",
        &json!({"alg": "RS256", "kid": "ssf-1"}).to_string(),
        &claims().to_string(),
    );
    assert_eq!(status(&get(&w, &forged)), 401);
}

#[test]
fn a_set_that_cannot_be_stored_is_503() {
    let w = receiving();
    w.store.always_on(Op::Put, "subject:", Outcome::Fail);
    let d = push(
        &w,
        &set_token(&set_claims(CAEP_CREDENTIAL_CHANGE, json!({}), user("erin"))),
    );
    assert_eq!(status(&d), 503);
    assert!(reply(&d).header("retry-after").is_some());
}

#[test]
fn admins_list_subject_and_session_cutoffs() {
    let w = receiving();
    let admin = format!(
        "Bearer {}",
        mint(
            "RS256",
            &with_claims(|c| {
                c["sub"] = "root".into();
                c["jti"] = "admin-1".into();
                c["roles"] = json!(["identity:admin"]);
            })
        )
    );
    let token = logout_token(&logout_claims(|_| {}));
    assert_eq!(
        status(&post_logout(&w, &format!("logout_token={token}"))),
        200
    );
    let users = ["bob", "carol", "dave"];
    for sub in users {
        let caller = access_token(sub, None, &format!("{sub}-1"), NOW - 5);
        let path = "/api/tokens?scope=global";
        let d = w.send(
            "DELETE",
            path,
            &[("authorization", &format!("Bearer {caller}"))],
            None,
        );
        assert_eq!(status(&d), 204);
    }
    let list = |query: &str| {
        w.send(
            "GET",
            &format!("/api/cutoffs{query}"),
            &[("authorization", &admin)],
            None,
        )
    };
    let sessions = json_body(&list("?kind=session"));
    assert_eq!(sessions["items"][0]["sid"], "s-1");
    assert_eq!(sessions["items"][0]["kind"], "session");
    assert_eq!(sessions["items"][0]["cutoff"], json!(NOW - 3));
    assert_eq!(sessions["list_complete"], true);
    // Subjects, two to a page, followed by cursor.
    let first = json_body(&list("?limit=2"));
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["list_complete"], false);
    let cursor = first["cursor"].as_str().unwrap().to_owned();
    let second = json_body(&list(&format!("?kind=subject&limit=2&cursor={cursor}")));
    let subs: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|item| item["sub"].as_str().unwrap())
        .collect();
    assert_eq!(subs, users);
    assert!(second["items"][0]["expires_at"].is_u64());
    assert_eq!(status(&list("?kind=everything")), 400);
    let not_admin = format!("Bearer {}", valid_token());
    assert_eq!(
        status(&w.send(
            "GET",
            "/api/cutoffs",
            &[("authorization", &not_admin)],
            None
        )),
        403
    );
}

/// Serves one key set, counting fetches: a transmitter's `SSF_JWKS_URL`.
struct TransmitterKeys {
    jwks: String,
    fetches: std::cell::Cell<u32>,
}

impl edge_revoke_core::keys::Outbound for TransmitterKeys {
    async fn fetch(&self, url: &str) -> Result<String, ()> {
        assert_eq!(url, "https://ssf.test/jwks", "only the transmitter's URL");
        self.fetches.set(self.fetches.get() + 1);
        Ok(self.jwks.clone())
    }
}

#[test]
fn transmitter_keys_can_come_from_ssf_jwks_url_and_are_cached() {
    let w = World::with(config_with(&[
        ("SSF_ISSUER", SSF_ISSUER),
        ("SSF_AUDIENCE", SSF_AUDIENCE),
        ("SSF_JWKS_URL", "https://ssf.test/jwks"),
    ]));
    let fetcher = TransmitterKeys {
        jwks: ssf_jwks(),
        fetches: std::cell::Cell::new(0),
    };
    let services = w.isolate.services(
        &w.store,
        edge_revoke_core::revocation::NoJournal,
        &w.verifier,
        &fetcher,
        NOW,
    );
    let push = |sub: &str| {
        let set = set_token(&set_claims(CAEP_CREDENTIAL_CHANGE, json!({}), user(sub)));
        let head = request_head(
            "POST",
            EVENTS,
            &[("content-type", "application/secevent+jwt")],
        );
        let decide = edge_revoke_core::handlers::handle(
            &head,
            Some(set.as_bytes()),
            Ok(w.config()),
            &services,
            NOW,
        );
        drive(decide).0
    };
    assert_eq!(status(&push("gina")), 202);
    assert_eq!(status(&push("hank")), 202);
    assert_eq!(fetcher.fetches.get(), 1, "fetched once, then cached");
    assert!(w.store.cutoffs().contains_key("subject:gina"));
    // The fetched key set is the transmitter's only: access tokens signed with
    // it are refused, and the access-token keys never sign a SET.
    let access = sign_raw(
        "RS256-other",
        &json!({"alg": "RS256", "kid": "ssf-1"}).to_string(),
        &claims().to_string(),
    );
    let head = request_head(
        "GET",
        "/data",
        &[("authorization", &format!("Bearer {access}"))],
    );
    let decision = drive(edge_revoke_core::handlers::handle(
        &head,
        None,
        Ok(w.config()),
        &services,
        NOW,
    ))
    .0;
    assert_eq!(status(&decision), 401);
}

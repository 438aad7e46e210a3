//! Global Token Revocation (draft-parecki-oauth-global-token-revocation-05)
//! natively through `handlers::handle`: Okta's Universal Logout call as its
//! guide documents it, an admin's call, every refusal with its exact
//! answer, a replayed assertion, the email format, and the forward to the
//! origin's own endpoint. Each acceptance is followed by what it must change
//! (and not change) for later requests.

use edge_revoke_core::config::Config;
use edge_revoke_core::handlers::Decision;
use edge_revoke_core::revocation::memory::MemoryKv;
use edge_revoke_core::revocation::memory_journal::LocalJournal;
use edge_revoke_core::revocation::{CutoffKind, Lifetimes};
use edge_revoke_test_support::*;
use serde_json::{json, Value};
use std::rc::Rc;

fn okta() -> String {
    assertion(&assertion_claims(|_| {}))
}

fn alice() -> String {
    gtr_body(user("alice"))
}

/// An access token of `sub` carrying `email`, issued at `iat`.
fn with_email(sub: &str, email: &str, jti: &str, iat: u64) -> String {
    mint(
        "ES256",
        &with_claims(|c| {
            c["sub"] = sub.into();
            c["email"] = email.into();
            c["jti"] = jti.into();
            c["iat"] = json!(iat);
        }),
    )
}

/// A problem+json refusal: its status, `WWW-Authenticate` and detail.
fn refusal(d: &Decision) -> (u16, Option<String>, String) {
    let reply = reply(d);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "{reply:?}"
    );
    let body = json_body(d);
    assert_eq!(body["status"], reply.status);
    let challenge = reply.header("www-authenticate").map(str::to_owned);
    (
        reply.status,
        challenge,
        body["detail"].as_str().unwrap().to_owned(),
    )
}

fn bad_assertion(d: &Decision) -> String {
    let (status, challenge, detail) = refusal(d);
    assert_eq!(status, 401, "{detail}");
    let challenge = challenge.expect("a 401 challenges");
    assert!(
        challenge.starts_with("Bearer realm=\"api\", error=\"invalid_token\""),
        "{challenge}"
    );
    assert_eq!(
        json_body(d)["type"],
        "urn:edge-revoke:problem:invalid-assertion"
    );
    detail
}

fn bad_request(d: &Decision) -> String {
    let (status, challenge, detail) = refusal(d);
    assert_eq!((status, challenge), (400, None), "{detail}");
    assert_eq!(json_body(d)["type"], "urn:edge-revoke:problem:bad-request");
    detail
}

#[test]
fn okta_s_call_signs_the_user_out_and_no_one_else() {
    let w = receiving();
    let before = access_token("alice", Some("s-1"), "a-1", NOW - 20);
    let bob = access_token("bob", None, "b-1", NOW - 20);
    assert!(forwarded(&get(&w, &before)));
    let d = revoke_user(&w, &okta(), &alice());
    assert_eq!(status(&d), 204, "{:?}", d.action);
    assert!(reply(&d).body.is_empty());
    let line = d.event.as_ref().unwrap().log_line(0);
    assert_eq!(
        (
            &line["decision"],
            &line["reason"],
            &line["subject_format"],
            &line["sub"]
        ),
        (
            &json!("revoke"),
            &json!("global_token_revocation"),
            &json!("iss_sub"),
            &json!("alice")
        )
    );
    assert!(!line.to_string().contains(&okta()), "never the assertion");
    // Like scope=global: CUTOFF_SKEW_SECONDS (the leeway, 60) past now.
    let cutoff = &w.store.inner.cutoffs()["subject:alice"].0;
    assert_eq!(
        (cutoff.cutoff, cutoff.by.as_str()),
        (Some(NOW + 60), "gtr-assertion")
    );
    assert_eq!(status(&get(&w, &before)), 401);
    assert_eq!(
        status(&get(&w, &access_token("alice", None, "a-2", NOW + 60))),
        401
    );
    assert!(forwarded(&get(&w, &bob)));
    // A sign-in after the cutoff works.
    w.advance(61);
    assert!(forwarded(&get(
        &w,
        &access_token("alice", None, "a-3", NOW + 61)
    )));
}

#[test]
fn the_member_name_before_draft_03_and_the_opaque_format_work_too() {
    for (n, body) in [
        json!({"subject": user("alice")}).to_string(),
        gtr_body(json!({"format": "opaque", "id": "alice"})),
    ]
    .into_iter()
    .enumerate()
    {
        let w = receiving();
        let token = access_token("alice", None, "a-1", NOW - 20);
        let call = assertion(&assertion_claims(|c| c["jti"] = format!("ul-{n}").into()));
        assert_eq!(status(&revoke_user(&w, &call, &body)), 204, "{body}");
        assert_eq!(status(&get(&w, &token)), 401, "{body}");
    }
}

#[test]
fn an_email_call_revokes_every_token_carrying_that_address() {
    let w = receiving();
    let mixed_case = with_email("alice", "Alice@Example.COM", "a-1", NOW - 20);
    let other_sub = with_email("alice-2", "alice@example.com", "a-2", NOW - 20);
    let no_email = access_token("alice", None, "a-3", NOW - 20);
    let other = with_email("bob", "bob@example.com", "b-1", NOW - 20);
    let body = gtr_body(json!({"format": "email", "email": "ALICE@example.com"}));
    let d = revoke_user(&w, &okta(), &body);
    assert_eq!(status(&d), 204);
    let line = d.event.unwrap().log_line(0);
    assert_eq!(line["subject_format"], "email");
    assert!(
        !line.to_string().contains("example.com"),
        "no address in the log"
    );
    let emails = w.store.inner.cutoffs_of(CutoffKind::Email);
    assert_eq!(emails["email:alice@example.com"].0.cutoff, Some(NOW + 60));
    assert_eq!(status(&get(&w, &mixed_case)), 401);
    assert_eq!(status(&get(&w, &other_sub)), 401);
    assert!(
        forwarded(&get(&w, &no_email)),
        "no email claim: no email cutoff"
    );
    assert!(forwarded(&get(&w, &other)));
    // Admins see it.
    let listed = w.send(
        "GET",
        "/api/cutoffs?kind=email",
        &[("authorization", &format!("Bearer {}", admin_token()))],
        None,
    );
    assert_eq!(json_body(&listed)["items"][0]["email"], "alice@example.com");
}

#[test]
fn without_the_email_claim_setting_the_email_format_is_refused() {
    let w = receiving_with(&[("SUBJECT_EMAIL_CLAIM", "")]);
    let token = with_email("alice", "alice@example.com", "a-1", NOW - 20);
    let body = gtr_body(json!({"format": "email", "email": "alice@example.com"}));
    let d = revoke_user(&w, &okta(), &body);
    assert_eq!(bad_request(&d), "The email format is not accepted here.");
    assert!(forwarded(&get(&w, &token)));
}

#[test]
fn the_email_check_is_in_the_same_single_read() {
    let w = receiving();
    let token = with_email("alice", "alice@example.com", "a-1", NOW - 20);
    w.store.log.take();
    assert!(forwarded(&get(&w, &token)));
    assert_eq!(w.store.log.take(), vec!["read".to_owned()]);
}

#[test]
fn a_replayed_assertion_is_refused_and_moves_nothing() {
    let w = receiving();
    assert_eq!(status(&revoke_user(&w, &okta(), &alice())), 204);
    w.advance(100);
    let later = access_token("alice", None, "a-9", NOW + 100);
    assert!(forwarded(&get(&w, &later)), "signed in after the cutoff");
    let d = revoke_user(&w, &okta(), &alice());
    assert_eq!(bad_assertion(&d), "Assertion already used.");
    assert_eq!(d.event.unwrap().jti.as_deref(), Some("gtr-assertion:ul-1"));
    assert_eq!(
        w.store.inner.cutoffs()["subject:alice"].0.cutoff,
        Some(NOW + 60)
    );
    assert!(forwarded(&get(&w, &later)), "the replay signed no one out");
    // The record lasts exactly as long as the assertion is accepted.
    let used = &w.store.inner.entries()["revoked:gtr-assertion:ul-1"];
    assert_eq!(
        (used.0.reason.as_str(), used.1),
        ("assertion_used", NOW + 300 + 60)
    );
    // A fresh assertion is a new call: accepted, and the cutoff moves.
    let fresh = assertion(&assertion_claims(|c| {
        c["jti"] = "ul-2".into();
        c["iat"] = json!(NOW + 100);
        c["exp"] = json!(NOW + 400);
    }));
    assert_eq!(status(&revoke_user(&w, &fresh, &alice())), 204);
    assert_eq!(status(&get(&w, &later)), 401);
}

const LIFETIMES: Lifetimes = Lifetimes {
    leeway: 60,
    max_token_lifetime: 86_400,
};

#[test]
fn a_replay_at_another_location_is_refused_within_the_journal_bound() {
    let journal = Rc::new(LocalJournal::new(NOW, 120, LIFETIMES));
    // Two locations whose KV never carries a write to the other.
    let (kv_a, kv_b) = (MemoryKv::new(NOW), MemoryKv::new(NOW));
    let a = receiving().with_store(&kv_a).following(&journal);
    let b = receiving().with_store(&kv_b).following(&journal);
    let token = access_token("alice", None, "a-1", NOW - 20);
    assert!(forwarded(&get(&b, &token)));
    assert_eq!(status(&revoke_user(&a, &okta(), &alice())), 204);
    for w in [&a, &b] {
        w.advance(2);
    }
    assert_eq!(status(&get(&b, &token)), 401, "the sign-out reached B");
    let replay = revoke_user(&b, &okta(), &alice());
    assert_eq!(bad_assertion(&replay), "Assertion already used.");
}

/// Two calls with one assertion in flight together in one isolate, both
/// past the signature check before either has written: only one goes on,
/// and only the user it names is signed out.
#[test]
fn one_assertion_sent_twice_at_once_is_taken_once() {
    let w = receiving();
    // Each call's store read and write wait, so that both reads are done
    // before either write is.
    w.store
        .script_on(Op::Read, "revoked:", [Outcome::Delay(2), Outcome::Delay(2)]);
    w.store
        .script(Op::Put, [Outcome::Delay(3), Outcome::Delay(3)]);
    let (alice, bob) = (alice(), gtr_body(user("bob")));
    let calls = [
        (&w, gtr_head(&okta()), Some(alice.as_bytes())),
        (&w, gtr_head(&okta()), Some(bob.as_bytes())),
    ];
    let answers = decide_together(&calls);
    assert_eq!(status(&answers[0]), 204);
    assert_eq!(bad_assertion(&answers[1]), "Assertion already used.");
    let cutoffs = w.store.inner.cutoffs();
    assert!(cutoffs.contains_key("subject:alice"));
    assert!(
        !cutoffs.contains_key("subject:bob"),
        "the second call named no one"
    );
}

/// The same at two locations following one journal, whose KV reads both
/// came back empty: the journal takes the assertion once.
#[test]
fn one_assertion_sent_to_two_locations_at_once_is_taken_once() {
    let journal = Rc::new(LocalJournal::new(NOW, 120, LIFETIMES));
    let (kv_a, kv_b) = (
        FaultKv::new(MemoryKv::new(NOW)),
        FaultKv::new(MemoryKv::new(NOW)),
    );
    for kv in [&kv_a, &kv_b] {
        kv.script_on(Op::Read, "revoked:", [Outcome::Delay(2)]);
    }
    let a = receiving().with_store(&kv_a).following(&journal);
    let b = receiving().with_store(&kv_b).following(&journal);
    let (alice, bob) = (alice(), gtr_body(user("bob")));
    let calls = [
        (&a, gtr_head(&okta()), Some(alice.as_bytes())),
        (&b, gtr_head(&okta()), Some(bob.as_bytes())),
    ];
    let answers = decide_together(&calls);
    assert_eq!(status(&answers[0]), 204);
    assert_eq!(bad_assertion(&answers[1]), "Assertion already used.");
    for w in [&a, &b] {
        w.advance(2);
    }
    let token = |sub| access_token(sub, None, &format!("{sub}-1"), NOW - 20);
    assert_eq!(
        status(&get(&b, &token("alice"))),
        401,
        "alice is signed out"
    );
    assert!(forwarded(&get(&a, &token("bob"))), "bob is not");
}

/// With the journal bound but unreachable, nobody can say whether an
/// assertion was used at another location: its call is a `503` (and the
/// assertion spent), while an admin's call is written to KV as ever.
#[test]
fn with_the_journal_unreachable_an_assertion_is_a_503_and_an_admin_still_signs_out() {
    let journal = Rc::new(LocalJournal::new(NOW, 120, LIFETIMES));
    let w = receiving().following(&journal);
    journal.set_down(true);
    let (status_code, _, _) = refusal(&revoke_user(&w, &okta(), &alice()));
    assert_eq!(status_code, 503);
    assert!(w.store.inner.entries().is_empty() && w.store.inner.cutoffs().is_empty());
    assert_eq!(status(&revoke_user(&w, &admin_token(), &alice())), 204);
    assert!(w.store.inner.cutoffs().contains_key("subject:alice"));
    journal.set_down(false);
    w.advance(10);
    let d = revoke_user(&w, &okta(), &alice());
    assert_eq!(bad_assertion(&d), "Assertion already used.", "spent here");
}

/// An assertion used so long ago that the journal no longer holds its
/// entry (KV does, everywhere): the journal reads KV and refuses it.
#[test]
fn an_assertion_the_journal_dropped_is_still_refused_through_kv() {
    let journal = Rc::new(LocalJournal::new(NOW, 120, LIFETIMES));
    let (kv_a, kv_b) = (MemoryKv::new(NOW), MemoryKv::new(NOW));
    let a = receiving().with_store(&kv_a).following(&journal);
    let b = receiving().with_store(&kv_b).following(&journal);
    let long = assertion(&assertion_claims(|c| c["exp"] = json!(NOW + 3000)));
    assert_eq!(status(&revoke_user(&a, &long, &alice())), 204);
    // The object carries the entry to KV (its own location's), which
    // confirms it; past KV_PROPAGATION_SECONDS the entry leaves.
    journal.flush(journal.home());
    for w in [&a, &b] {
        w.advance(500);
    }
    journal.set_now(NOW + 500);
    journal.flush(journal.home());
    assert_eq!(
        journal
            .journal()
            .tail(None, NOW + 500)
            .unwrap()
            .entries
            .len(),
        0
    );
    let d = revoke_user(&b, &long, &gtr_body(user("bob")));
    assert_eq!(bad_assertion(&d), "Assertion already used.");
}

/// An assertion is spent once it passes, whatever follows: a body refused,
/// or a write that fails (`503`), leaves it used in this isolate.
#[test]
fn an_assertion_is_spent_by_a_refused_body_or_a_failed_write() {
    let w = receiving();
    assert!(bad_request(&revoke_user(&w, &okta(), "{}")).contains("sub_id"));
    let d = revoke_user(&w, &okta(), &alice());
    assert_eq!(bad_assertion(&d), "Assertion already used.");

    let w = receiving();
    w.store.script(Op::Put, [Outcome::Fail; 3]);
    let (status_code, _, _) = refusal(&revoke_user(&w, &okta(), &alice()));
    assert_eq!(status_code, 503);
    assert!(w.store.inner.entries().is_empty(), "nothing was written");
    let d = revoke_user(&w, &okta(), &alice());
    assert_eq!(bad_assertion(&d), "Assertion already used.");
    assert!(!w.store.inner.cutoffs().contains_key("subject:alice"));
}

#[test]
fn an_admin_may_call_and_anyone_else_may_not() {
    let w = receiving();
    let token = access_token("alice", None, "a-1", NOW - 20);
    let d = revoke_user(&w, &admin_token(), &alice());
    assert_eq!(status(&d), 204);
    assert_eq!(w.store.inner.cutoffs()["subject:alice"].0.by, "root");
    assert_eq!(status(&get(&w, &token)), 401);

    // An access token without an admin role, or used as an assertion.
    let w = receiving();
    let plain = access_token("mallory", None, "m-1", NOW - 20);
    let (status_code, _, detail) = refusal(&revoke_user(&w, &plain, &alice()));
    assert_eq!(
        (status_code, detail.as_str()),
        (403, "Revoking another token needs an admin role.")
    );
    // No credentials.
    let d = w.send("POST", GTR, &[], Some(alice().as_bytes()));
    let (status_code, challenge, _) = refusal(&d);
    assert_eq!(
        (status_code, challenge.as_deref()),
        (401, Some("Bearer realm=\"api\""))
    );
    // A revoked admin.
    let w = receiving();
    assert_eq!(
        status(&revoke_user(&w, &admin_token(), &gtr_body(user("root")))),
        204
    );
    let (status_code, _, detail) = refusal(&revoke_user(&w, &admin_token(), &alice()));
    assert_eq!((status_code, detail.as_str()), (401, "Token revoked."));
    assert!(!w.store.inner.cutoffs().contains_key("subject:alice"));
}

/// Every way an assertion is refused, with the answer's detail. Nothing is
/// written by any of them.
#[test]
fn every_bad_assertion_is_a_401_that_writes_nothing() {
    let claims = |change: fn(&mut Value)| assertion_claims(change);
    let signed_by = |alg: &str, kid: Option<&str>, claims: &Value| {
        let mut header = json!({"alg": alg, "typ": "global-token-revocation+jwt"});
        if let Some(kid) = kid {
            header["kid"] = kid.into();
        }
        mint_with_header(alg, &header, claims)
    };
    let unsigned = {
        let header = base64url_encode(br#"{"alg":"none","typ":"global-token-revocation+jwt"}"#);
        let body = base64url_encode(assertion_claims(|_| {}).to_string().as_bytes());
        format!("{header}.{body}.")
    };
    let other_audience = assertion(&claims(|c| c["aud"] = "https://other.test/gtr".into()));
    let cases = [
        (other_audience, "Audience not accepted."),
        (
            assertion(&claims(|c| c["iss"] = ISSUER.into())),
            "Issuer not accepted.",
        ),
        (
            assertion(&claims(|c| c["exp"] = json!(NOW - 60))),
            "Assertion expired.",
        ),
        (
            assertion(&claims(|c| c["nbf"] = json!(NOW + 61))),
            "Assertion not yet valid.",
        ),
        (
            assertion(&claims(|c| c["exp"] = json!(NOW + 7200))),
            "Assertion lives over an hour.",
        ),
        (
            assertion(&claims(|c| {
                c.as_object_mut().unwrap().remove("jti");
            })),
            "The assertion has no jti.",
        ),
        (unsigned, "Malformed token."),
        // The access-token key (the wrong family), an HMAC with JWT_SECRET,
        // and a tampered signature.
        (
            signed_by("RS256", Some("rsa-1"), &assertion_claims(|_| {})),
            "Unknown signing key.",
        ),
        (
            signed_by("HS256", None, &assertion_claims(|_| {})),
            "Algorithm not allowed.",
        ),
        (
            {
                let good = okta();
                let (message, _) = good.rsplit_once('.').unwrap();
                format!("{message}.{}", base64url_encode(&[7; 256]))
            },
            "Invalid signature.",
        ),
    ];
    for (token, detail) in cases {
        let w = receiving();
        let d = revoke_user(&w, &token, &alice());
        assert_eq!(bad_assertion(&d), detail);
        assert!(w.store.inner.cutoffs().is_empty(), "{detail}");
        assert!(w.store.inner.entries().is_empty(), "{detail}");
    }
}

#[test]
fn tokens_of_other_kinds_never_pass_for_an_assertion() {
    let w = receiving();
    // A logout token and a SET carry `events`: the admin path refuses them.
    let logout = logout_token(&logout_claims(|_| {}));
    let set = set_token(&set_claims("urn:x", json!({}), user("alice")));
    for token in [logout, set] {
        let (status_code, _, _) = refusal(&revoke_user(&w, &token, &alice()));
        assert_eq!(status_code, 401);
    }
    // A SET's claims under the assertion type, signed with the assertion key.
    let mut claims = assertion_claims(|_| {});
    claims["events"] = json!({"urn:x": {}});
    assert_eq!(
        bad_assertion(&revoke_user(&w, &assertion(&claims), &alice())),
        "A security event is not an assertion."
    );
    assert!(w.store.inner.cutoffs().is_empty());
}

#[test]
fn the_access_token_keys_sign_assertions_only_when_the_operator_says_so() {
    let header = json!({"alg": "RS256", "typ": "global-token-revocation+jwt", "kid": "rsa-1"});
    let by_id_token_key = mint_with_header("RS256", &header, &assertion_claims(|_| {}));
    let w = receiving_with(&[("GTR_JWKS", ""), ("GTR_USE_ACCESS_TOKEN_KEYS", "true")]);
    assert_eq!(status(&revoke_user(&w, &by_id_token_key, &alice())), 204);
    // Its own key is then unknown, and JWT_SECRET never signs one.
    let w = receiving_with(&[("GTR_JWKS", ""), ("GTR_USE_ACCESS_TOKEN_KEYS", "true")]);
    assert_eq!(
        bad_assertion(&revoke_user(&w, &okta(), &alice())),
        "Unknown signing key."
    );
    let hmac = json!({"alg": "HS256", "typ": "global-token-revocation+jwt"});
    let by_secret = mint_with_header("HS256", &hmac, &assertion_claims(|_| {}));
    assert_eq!(
        bad_assertion(&revoke_user(&w, &by_secret, &alice())),
        "Algorithm not allowed."
    );
}

#[test]
fn every_bad_body_is_a_400_after_the_caller_is_known() {
    let cases = [
        ("not json".to_owned(), "The body is not a JSON object."),
        (json!({}).to_string(), "The body needs sub_id."),
        (
            gtr_body(json!({"format": "phone_number", "phone_number": "+1"})),
            "Unsupported subject identifier format.",
        ),
        (
            gtr_body(json!({"format": "iss_sub", "iss": "https://other-idp.test", "sub": "alice"})),
            "The subject's issuer is not accepted.",
        ),
        (
            format!(
                r#"{{"sub_id":{{"format":"opaque","id":"{}"}}}}"#,
                "x".repeat(17_000)
            ),
            "The body is missing or over 16 KiB.",
        ),
    ];
    for (body, detail) in cases {
        let w = receiving();
        assert_eq!(bad_request(&revoke_user(&w, &okta(), &body)), detail);
        assert!(w.store.inner.cutoffs().is_empty());
        // The caller comes first: no credentials is a 401 whatever the body.
        let d = w.send("POST", GTR, &[], Some(body.as_bytes()));
        assert_eq!(status(&d), 401);
    }
}

#[test]
fn a_user_the_edge_does_not_know_is_signed_out_all_the_same() {
    let w = receiving();
    let d = revoke_user(&w, &okta(), &gtr_body(user("nobody-here")));
    assert_eq!(
        status(&d),
        204,
        "never 404: the edge does not know the users"
    );
}

#[test]
fn a_store_failure_is_a_503_and_never_a_success() {
    let w = receiving();
    w.store.always([Op::Put], Outcome::Fail);
    let d = revoke_user(&w, &okta(), &alice());
    assert_eq!(status(&d), 503);
    assert_eq!(reply(&d).header("retry-after"), Some("5"));
    // The assertion was not spent: the same call succeeds once KV is back.
    let w2 = receiving().with_store(&w.store.inner);
    assert_eq!(status(&revoke_user(&w2, &okta(), &alice())), 204);
}

fn forwarding() -> World<FaultKv> {
    receiving_with(&[
        ("GTR_FORWARD_URL", GTR_FORWARD),
        ("GTR_FORWARD_TOKEN", "fwd-secret"),
    ])
}

#[test]
fn the_call_is_forwarded_after_the_cutoff_is_stored() {
    let w = forwarding();
    w.outbound.answer.set(Some(204));
    let token = access_token("alice", None, "a-1", NOW - 20);
    let d = revoke_user(&w, &okta(), &alice());
    assert_eq!(status(&d), 204);
    let sent = w.outbound.sent.take();
    assert_eq!(
        sent,
        vec![(
            GTR_FORWARD.to_owned(),
            "Bearer fwd-secret".to_owned(),
            alice().into_bytes()
        )]
    );
    assert_eq!(status(&get(&w, &token)), 401);
}

#[test]
fn a_failed_forward_is_a_422_and_the_edge_cutoff_stands() {
    for answer in [Some(500), Some(401), Some(302), None] {
        let w = forwarding();
        w.outbound.answer.set(answer);
        let token = access_token("alice", None, "a-1", NOW - 20);
        let d = revoke_user(&w, &okta(), &alice());
        let (status_code, challenge, _) = refusal(&d);
        assert_eq!((status_code, challenge), (422, None), "{answer:?}");
        let line = d.event.unwrap().log_line(0);
        assert_eq!(line["decision"], "revoke");
        assert!(line["note"].as_str().unwrap().contains("forward"));
        assert_eq!(status(&get(&w, &token)), 401, "{answer:?}");
        assert_eq!(w.outbound.sent.take().len(), 1);
    }
}

#[test]
fn a_refused_call_is_not_forwarded() {
    let w = forwarding();
    w.outbound.answer.set(Some(204));
    revoke_user(&w, &okta(), "{}");
    revoke_user(&w, &access_token("mallory", None, "m-1", NOW), &alice());
    w.store.always([Op::Put], Outcome::Fail);
    revoke_user(&w, &okta(), &alice());
    assert!(w.outbound.sent.take().is_empty());
}

#[test]
fn unconfigured_the_path_is_the_origin_s() {
    // A valid token passes to the origin; nothing is written.
    let w = receiving_with(&[("GTR_PATH", "")]);
    assert!(forwarded(&revoke_user(&w, &admin_token(), &alice())));
    assert!(w.store.inner.cutoffs().is_empty());
    // Admin tokens only: assertions are then just tokens, not admins.
    let w = receiving_with(&[("GTR_ISSUER", "")]);
    assert_eq!(status(&revoke_user(&w, &okta(), &alice())), 401);
    assert_eq!(status(&revoke_user(&w, &admin_token(), &alice())), 204);
}

#[test]
fn settings_that_cannot_work_are_refused_at_start() {
    let bad = |vars: &[(&str, &str)], setting: &str| {
        let mut all: Vec<(&str, &str)> = vec![
            ("JWT_SECRET", SECRET),
            ("GTR_PATH", GTR),
            ("GTR_ISSUER", GTR_ISSUER),
            ("GTR_AUDIENCE", GTR_AUDIENCE),
            ("GTR_JWKS_URL", "https://org.okta.test/oauth2/v1/keys"),
        ];
        all.extend_from_slice(vars);
        let e = Config::from_lookup(|name| {
            all.iter()
                .rev()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
        .unwrap_err();
        assert_eq!(e.setting(), setting, "{vars:?}: {e}");
    };
    bad(&[("GTR_PATH", "global-token-revocation")], "GTR_PATH");
    bad(&[("GTR_PATH", "/gtr?x=1")], "GTR_PATH");
    bad(&[("GTR_PATH", "/SSF/events/")], "GTR_PATH");
    bad(&[("GTR_PATH", "/")], "GTR_PATH");
    bad(&[("GTR_AUDIENCE", "")], "GTR_AUDIENCE");
    bad(&[("GTR_JWKS_URL", "")], "GTR_JWKS");
    bad(
        &[("GTR_JWKS_URL", ""), ("GTR_USE_ACCESS_TOKEN_KEYS", "true")],
        "GTR_JWKS",
    );
    bad(
        &[("GTR_USE_ACCESS_TOKEN_KEYS", "yes")],
        "GTR_USE_ACCESS_TOKEN_KEYS",
    );
    bad(
        &[("GTR_FORWARD_URL", "https://auth.test/gtr")],
        "GTR_FORWARD_TOKEN",
    );
    bad(
        &[
            ("GTR_FORWARD_URL", "ftp://auth.test/gtr"),
            ("GTR_FORWARD_TOKEN", "t"),
        ],
        "GTR_FORWARD_URL",
    );
}

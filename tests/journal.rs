//! The revocation journal, through the handlers: three locations whose KV
//! never carries a write from one to another (the worst case of KV's
//! propagation), each following one journal. Every write kind made at A is
//! enforced at B and C within `REVOCATION_SYNC_SECONDS`, without any KV
//! read there; without the journal it is not, which shows these stories can
//! fail. And the journal's own promises: KV refusing writes loses nothing,
//! and a journal out of reach leaves every request to KV, as without one.

use edge_revoke_core::idp::CAEP_SESSION_REVOKED;
use edge_revoke_core::revocation::memory::MemoryKv;
use edge_revoke_core::revocation::memory_journal::LocalJournal;
use edge_revoke_core::revocation::Lifetimes;
use edge_revoke_test_support::*;
use serde_json::json;
use std::rc::Rc;

const SYNC: u64 = 2;
const OAUTH_CLIENT: &str = "app:secret-1";

/// The ways a token stops being valid at A.
#[derive(Clone, Copy, Debug)]
enum WriteKind {
    SignOut,
    SignOutEverywhere,
    SignOutSession,
    Invalidate,
    OAuthRevoke,
    AdminSignOut,
    BackchannelLogout,
    SessionRevokedEvent,
    GlobalTokenRevocation,
}

const KINDS: [WriteKind; 9] = [
    WriteKind::SignOut,
    WriteKind::SignOutEverywhere,
    WriteKind::SignOutSession,
    WriteKind::Invalidate,
    WriteKind::OAuthRevoke,
    WriteKind::AdminSignOut,
    WriteKind::BackchannelLogout,
    WriteKind::SessionRevokedEvent,
    WriteKind::GlobalTokenRevocation,
];

impl WriteKind {
    /// Revokes `token` (of `sub`, session `sid`, ID `jti`) at `w`; the
    /// success status.
    fn apply(self, w: &World<&MemoryKv>, token: &str, sub: &str, sid: &str, jti: &str) -> u16 {
        let bearer = |t: &str| format!("Bearer {t}");
        let now = w.now.get();
        let sent = |method, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>| {
            status(&w.send(method, path, headers, body))
        };
        match self {
            WriteKind::SignOut => sent(
                "DELETE",
                "/api/tokens",
                &[("authorization", &bearer(token))],
                None,
            ),
            WriteKind::SignOutEverywhere => {
                let other = access_token(sub, None, &format!("{jti}-other"), now);
                sent(
                    "DELETE",
                    "/api/tokens?scope=global",
                    &[("authorization", &bearer(&other))],
                    None,
                )
            }
            WriteKind::SignOutSession => {
                let other = access_token(sub, Some(sid), &format!("{jti}-same-session"), now);
                sent(
                    "DELETE",
                    "/api/tokens?scope=session",
                    &[("authorization", &bearer(&other))],
                    None,
                )
            }
            WriteKind::Invalidate => {
                let body = json!({ "tokenReferenceId": jti }).to_string();
                let headers = [("x-api-key", API_KEY), ("content-type", "application/json")];
                sent(
                    "POST",
                    "/token-service/client/server/invalidate/token",
                    &headers,
                    Some(body.as_bytes()),
                )
            }
            WriteKind::OAuthRevoke => {
                let basic = format!("Basic {}", base64_encode(OAUTH_CLIENT.as_bytes()));
                let headers = [
                    ("authorization", basic.as_str()),
                    ("content-type", "application/x-www-form-urlencoded"),
                ];
                let body = format!("token={token}");
                sent("POST", "/oauth/revoke", &headers, Some(body.as_bytes()))
            }
            WriteKind::AdminSignOut => {
                let path = format!("/api/users/{sub}/tokens");
                sent(
                    "DELETE",
                    &path,
                    &[("authorization", &bearer(&admin_token()))],
                    None,
                )
            }
            WriteKind::BackchannelLogout => {
                let logout = logout_token(&logout_claims(|c| {
                    c["sub"] = sub.into();
                    c["sid"] = sid.into();
                    c["iat"] = json!(now);
                    c["exp"] = json!(now + 120);
                    c["jti"] = format!("lt-{jti}").into();
                }));
                status(&post_logout(w, &format!("logout_token={logout}")))
            }
            WriteKind::SessionRevokedEvent => {
                let subject = json!({
                    "format": "complex",
                    "user": user(sub),
                    "session": {"format": "opaque", "id": sid},
                });
                let mut claims = set_claims(
                    CAEP_SESSION_REVOKED,
                    json!({"event_timestamp": now}),
                    subject,
                );
                claims["jti"] = format!("set-{jti}").into();
                claims["iat"] = json!(now);
                status(&push(w, &set_token(&claims)))
            }
            WriteKind::GlobalTokenRevocation => {
                let call = assertion(&assertion_claims(|c| {
                    c["jti"] = format!("ul-{jti}").into();
                    c["iat"] = json!(now);
                    c["nbf"] = json!(now - 300);
                    c["exp"] = json!(now + 300);
                }));
                status(&revoke_user(w, &call, &gtr_body(user(sub))))
            }
        }
    }
}

/// Three locations, each with its own KV, following `journal` (or none).
struct Locations<'a> {
    a: World<&'a MemoryKv>,
    b: World<&'a MemoryKv>,
    c: World<&'a MemoryKv>,
}

fn location<'a>(kv: &'a MemoryKv, journal: Option<&Rc<LocalJournal>>) -> World<&'a MemoryKv> {
    let vars = [
        ("OAUTH_CLIENTS", OAUTH_CLIENT),
        ("CUTOFF_SKEW_SECONDS", "0"),
    ];
    let w = receiving_with(&vars).with_store(kv);
    match journal {
        Some(journal) => w.following(journal),
        None => w,
    }
}

fn journal() -> Rc<LocalJournal> {
    let lifetimes = Lifetimes {
        leeway: 60,
        max_token_lifetime: 86_400,
    };
    Rc::new(LocalJournal::new(NOW, 120, lifetimes))
}

impl<'a> Locations<'a> {
    fn new(kvs: &'a [MemoryKv; 3], journal: Option<&Rc<LocalJournal>>) -> Self {
        Locations {
            a: location(&kvs[0], journal),
            b: location(&kvs[1], journal),
            c: location(&kvs[2], journal),
        }
    }

    fn at(&self, now: u64) {
        for w in [&self.a, &self.b, &self.c] {
            w.now.set(now);
        }
    }
}

fn kvs() -> [MemoryKv; 3] {
    [MemoryKv::new(NOW), MemoryKv::new(NOW), MemoryKv::new(NOW)]
}

/// For each write kind: B and C pass the token, A revokes it, and the
/// seconds until B and C reject it (`None`: not within 10 s).
fn enforced_after(
    journal: Option<&Rc<LocalJournal>>,
) -> Vec<(WriteKind, Option<u64>, Option<u64>)> {
    KINDS
        .iter()
        .enumerate()
        .map(|(n, &kind)| {
            let kvs = kvs();
            let here = Locations::new(&kvs, journal);
            let start = NOW + 12 * n as u64;
            here.at(start - 1);
            let (sub, sid, jti) = (format!("user-{n}"), format!("s-{n}"), format!("t-{n}"));
            let token = access_token(&sub, Some(&sid), &jti, start - 5);
            assert!(
                forwarded(&get(&here.b, &token)),
                "{kind:?}: B passes it first"
            );
            assert!(
                forwarded(&get(&here.c, &token)),
                "{kind:?}: C passes it first"
            );
            here.at(start);
            let answer = kind.apply(&here.a, &token, &sub, &sid, &jti);
            assert!((200..300).contains(&answer), "{kind:?} answered {answer}");
            assert_eq!(status(&get(&here.a, &token)), 401, "{kind:?}: A at once");
            let rejected_after = |w: &World<&MemoryKv>| {
                (0..=10).find(|&s| {
                    here.at(start + s);
                    status(&get(w, &token)) == 401
                })
            };
            (kind, rejected_after(&here.b), rejected_after(&here.c))
        })
        .collect()
}

#[test]
fn every_write_kind_at_a_is_enforced_at_b_and_c_within_the_sync_interval() {
    let journal = journal();
    for (kind, b, c) in enforced_after(Some(&journal)) {
        for (at, seconds) in [("B", b), ("C", c)] {
            let seconds = seconds.unwrap_or_else(|| panic!("{kind:?} never enforced at {at}"));
            assert!(seconds <= SYNC, "{kind:?} at {at} after {seconds} s");
        }
    }
}

#[test]
fn without_the_journal_no_write_reaches_another_location_before_kv_does() {
    for (kind, b, c) in enforced_after(None) {
        assert_eq!((b, c), (None, None), "{kind:?}: KV never carried it here");
    }
}

#[test]
fn a_restore_at_a_then_a_revocation_at_b_wins_everywhere() {
    let journal = journal();
    let kvs = kvs();
    let here = Locations::new(&kvs, Some(&journal));
    here.at(NOW);
    let token = access_token("ruth", None, "t-ruth", NOW - 5);
    let bearer = format!("Bearer {token}");
    let admin = format!("Bearer {}", admin_token());
    assert_eq!(
        status(
            &here
                .a
                .send("DELETE", "/api/tokens", &[("authorization", &bearer)], None)
        ),
        204
    );
    here.at(NOW + 3);
    for w in [&here.a, &here.b, &here.c] {
        assert_eq!(status(&get(w, &token)), 401);
    }
    let restore = here.a.send(
        "DELETE",
        "/api/revocations/t-ruth",
        &[("authorization", &admin)],
        None,
    );
    assert_eq!(status(&restore), 204);
    here.at(NOW + 3 + SYNC);
    for w in [&here.a, &here.b, &here.c] {
        assert!(forwarded(&get(w, &token)), "restored everywhere");
    }
    here.at(NOW + 6);
    let identity = here.b.send(
        "DELETE",
        "/v2.0/tokens/t-ruth",
        &[("x-auth-token", &admin_token())],
        None,
    );
    assert_eq!(status(&identity), 204);
    here.at(NOW + 6 + SYNC);
    for (name, w) in [("A", &here.a), ("B", &here.b), ("C", &here.c)] {
        assert_eq!(
            status(&get(w, &token)),
            401,
            "the later revocation wins at {name}"
        );
    }
}

#[test]
fn a_repeated_token_costs_no_kv_read_at_a_location_following_the_journal() {
    let journal = journal();
    let kvs = kvs();
    let here = Locations::new(&kvs, Some(&journal));
    let token = access_token("rita", Some("s-r"), "t-rita", NOW - 5);
    for s in 0..100 {
        here.at(NOW + s);
        assert!(forwarded(&get(&here.b, &token)));
    }
    assert_eq!(
        kvs[1].reads().len(),
        1,
        "one KV read for 100 requests over 100 s"
    );
    let without = self::kvs();
    let plain = Locations::new(&without, None);
    for s in 0..100 {
        plain.at(NOW + s);
        get(&plain.b, &token);
    }
    assert_eq!(
        without[1].reads().len(),
        100,
        "without the journal, every request"
    );
}

#[test]
fn kv_refusing_writes_for_a_minute_loses_nothing() {
    let journal = journal();
    let kvs = kvs();
    let here = Locations::new(&kvs, Some(&journal));
    here.at(NOW);
    kvs[0].fail_writes(true);
    let tokens: Vec<String> = (0..5)
        .map(|n| access_token(&format!("k{n}"), None, &format!("t-k{n}"), NOW - 5))
        .collect();
    for token in &tokens {
        let bearer = format!("Bearer {token}");
        assert_eq!(
            status(
                &here
                    .a
                    .send("DELETE", "/api/tokens", &[("authorization", &bearer)], None)
            ),
            204
        );
    }
    // The journal's alarm runs while KV refuses: nothing is confirmed, and
    // every location enforces the sign-outs throughout.
    for s in (0..60).step_by(5) {
        journal.set_now(NOW + s);
        let flushed = journal.flush(&kvs[0]);
        assert_eq!(flushed.written, 0);
        here.at(NOW + s + SYNC);
        for token in &tokens {
            assert_eq!(status(&get(&here.c, token)), 401, "enforced at {s} s");
        }
    }
    assert!(kvs[0].entries().is_empty());
    kvs[0].fail_writes(false);
    journal.set_now(NOW + 61);
    assert_eq!(journal.flush(&kvs[0]).written, 5);
    assert_eq!(
        kvs[0].entries().len(),
        5,
        "every sign-out that answered 204 is in KV"
    );
}

#[test]
fn a_journal_out_of_reach_leaves_every_request_to_kv_and_recovers_by_itself() {
    let journal = journal();
    let kvs = kvs();
    let here = Locations::new(&kvs, Some(&journal));
    here.at(NOW);
    let token = access_token("dora", None, "t-dora", NOW - 5);
    assert!(forwarded(&get(&here.b, &token)));
    journal.set_down(true);
    // A sign-out at B while the journal is down goes to B's KV, as without
    // a journal, and B enforces it.
    let bearer = format!("Bearer {token}");
    here.at(NOW + 1);
    assert_eq!(
        status(
            &here
                .b
                .send("DELETE", "/api/tokens", &[("authorization", &bearer)], None)
        ),
        204
    );
    assert!(kvs[1].entries().contains_key("revoked:t-dora"));
    let reads = kvs[1].reads().len();
    for s in 2..6 {
        here.at(NOW + s);
        assert_eq!(status(&get(&here.b, &token)), 401);
    }
    assert_eq!(kvs[1].reads().len(), reads + 4, "every request read KV");
    journal.set_down(false);
    here.at(NOW + 10);
    let other = access_token("dora", None, "t-dora-2", NOW + 9);
    assert!(forwarded(&get(&here.b, &other)));
    let status_route = here.b.send(
        "GET",
        "/api/journal",
        &[("authorization", &format!("Bearer {}", admin_token()))],
        None,
    );
    let body = json_body(&status_route);
    assert_eq!(body["bound"], true);
    assert_eq!(
        body["isolate"]["unavailable_since"],
        json!(null),
        "recovered: {body}"
    );
}

#[test]
fn the_status_route_shows_the_journal_and_this_isolate() {
    let journal = journal();
    let kvs = kvs();
    let here = Locations::new(&kvs, Some(&journal));
    here.at(NOW);
    let admin = format!("Bearer {}", admin_token());
    let token = access_token("sam", None, "t-sam", NOW - 5);
    here.a.send(
        "DELETE",
        "/api/tokens",
        &[("authorization", &format!("Bearer {token}"))],
        None,
    );
    here.at(NOW + SYNC);
    get(&here.b, &token);
    let d = here
        .b
        .send("GET", "/api/journal", &[("authorization", &admin)], None);
    assert_eq!(status(&d), 200);
    let body = json_body(&d);
    assert_eq!(body["journal"]["head"], 1);
    assert_eq!(body["journal"]["kv_backlog"], 1);
    assert_eq!(body["isolate"]["cursor"], 1);
    assert_eq!(body["isolate"]["age_seconds"], 0);
    // Admins only.
    let d = here.b.send(
        "GET",
        "/api/journal",
        &[("authorization", &format!("Bearer {token}"))],
        None,
    );
    assert_eq!(status(&d), 401, "a revoked token");
    let plain = location(&kvs[2], None);
    let d = plain.send("GET", "/api/journal", &[("authorization", &admin)], None);
    assert_eq!(json_body(&d), json!({"bound": false}));
}

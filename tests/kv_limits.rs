//! Workers KV's real limits, natively through `handlers::handle`: a write
//! refused as too frequent (one write per second per key), a read that fails
//! for one key of a request but not the other, and stored values that are
//! not ours. A revocation that answered success is enforced; one that was not
//! stored is never answered as a success.

use edge_revoke_core::block_on;
use edge_revoke_core::handlers::Decision;
use edge_revoke_core::revocation::memory::MemoryKv;
use edge_revoke_core::revocation::{Cutoff, CutoffKind};
use edge_revoke_core::revocation::{Kv, WRITE_BACKOFF_MS};
use edge_revoke_test_support::*;
use serde_json::json;

/// Cutoffs at the edge's own clock (`CUTOFF_SKEW_SECONDS=0`): these stories
/// are about KV's limits, and read simplest with cutoffs at now.
fn world() -> World<FaultKv> {
    World::with(config_with(&[("CUTOFF_SKEW_SECONDS", "0")]))
        .with_store(FaultKv::new(MemoryKv::new(NOW)))
}

fn as_bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn get(w: &World<FaultKv>, token: &str) -> Decision {
    w.send(
        "GET",
        "/data",
        &[("authorization", &as_bearer(token))],
        None,
    )
}

fn sign_out(w: &World<FaultKv>, token: &str, scope: &str) -> Decision {
    let path = format!("/api/tokens?scope={scope}");
    w.send(
        "DELETE",
        &path,
        &[("authorization", &as_bearer(token))],
        None,
    )
}

fn token_of(sub: &str, jti: &str, iat: u64) -> String {
    mint(
        "ES256",
        &with_claims(|c| {
            c["sub"] = sub.into();
            c["jti"] = jti.into();
            c["iat"] = json!(iat);
        }),
    )
}

#[test]
fn a_sign_out_refused_as_too_frequent_is_retried_then_enforced() {
    let w = world();
    let token = valid_token();
    w.store.script(Op::Put, [Outcome::RateLimited]);
    assert_eq!(status(&sign_out(&w, &token, "local")), 204);
    assert_eq!(w.store.sleeps.take(), [WRITE_BACKOFF_MS[0]]);
    assert_eq!(w.store.inner.entries().len(), 1, "stored on the second try");
    assert_eq!(status(&get(&w, &token)), 401);
}

#[test]
fn a_cutoff_retry_reads_and_merges_again() {
    let w = world();
    let caller = token_of("bob", "bob-1", NOW - 5);
    w.store.script_on(
        Op::Put,
        "subject:",
        [Outcome::RateLimited, Outcome::RateLimited],
    );
    w.store.log.take();
    assert_eq!(status(&sign_out(&w, &caller, "global")), 204);
    assert_eq!(w.store.sleeps.take(), WRITE_BACKOFF_MS[..2]);
    assert_eq!(
        w.store.log.take(),
        [
            // The caller's own revocation check (one bulk read), then
            // read, merge and write on every try.
            "read",
            "read",
            "put subject:",
            "read",
            "put subject:",
            "read",
            "put subject:"
        ],
        "every try re-reads the stored cutoff before writing"
    );
    assert_eq!(status(&get(&w, &caller)), 401);
}

#[test]
fn a_retry_keeps_a_later_cutoff_another_writer_stored() {
    let w = world();
    // Issued after the other writer's cutoff, so not revoked by it.
    let caller = token_of("carol", "carol-1", NOW + 31);
    // Another isolate's sign-out lands a later cutoff while ours is refused.
    let later = Cutoff::all(
        CutoffKind::Subject,
        "carol",
        NOW + 30,
        "carol".into(),
        "DELETE /api/tokens".into(),
    );
    w.store.inner.insert_cutoff(&later, NOW + 3600);
    w.store
        .script_on(Op::Put, "subject:", [Outcome::RateLimited]);
    // scope=others (never before the caller's own iat) merges with it.
    assert_eq!(status(&sign_out(&w, &caller, "others")), 204);
    let stored = w.store.inner.cutoffs()["subject:carol"].0.clone();
    assert_eq!(stored.cutoff, Some(NOW + 30), "never moved back");
    let others = stored.others.expect("the exemption, merged in");
    assert_eq!(
        (others.cutoff, others.except.as_str()),
        (NOW + 31, "carol-1")
    );
}

#[test]
fn a_write_refused_on_every_try_is_503_and_never_success() {
    let w = world();
    let token = token_of("dave", "dave-1", NOW - 5);
    w.store.always([Op::Put], Outcome::RateLimited);
    for scope in ["global", "others", "local"] {
        let d = sign_out(&w, &token, scope);
        assert_eq!(status(&d), 503, "scope={scope}");
        assert!(reply(&d).header("retry-after").is_some());
        assert_eq!(w.store.sleeps.take(), WRITE_BACKOFF_MS, "scope={scope}");
    }
    assert!(w.store.inner.cutoffs().is_empty() && w.store.inner.entries().is_empty());
    w.store.always([Op::Put], Outcome::Pass);
    assert!(
        forwarded(&get(&w, &token)),
        "nothing was claimed, nothing enforced"
    );
}

#[test]
fn a_restore_refused_once_is_retried() {
    let w = world();
    let token = valid_token();
    assert_eq!(status(&sign_out(&w, &token, "local")), 204);
    let admin = mint(
        "RS256",
        &with_claims(|c| {
            c["sub"] = "root".into();
            c["jti"] = "admin-1".into();
            c["roles"] = json!(["identity:admin"]);
        }),
    );
    w.store.script(Op::Delete, [Outcome::RateLimited]);
    let d = w.send(
        "DELETE",
        "/api/revocations/jti-alice-1",
        &[("authorization", &as_bearer(&admin))],
        None,
    );
    assert_eq!(status(&d), 204);
    assert_eq!(w.store.sleeps.take(), [WRITE_BACKOFF_MS[0]]);
    assert!(forwarded(&get(&w, &token)));
}

/// A store that fails reads of one kind of key (as a KV service's partial
/// outage can): the one bulk read of a check fails, and so does the request.
#[test]
fn a_read_failing_for_any_one_key_fails_closed() {
    for prefix in ["revoked:", "subject:"] {
        let w = world();
        w.store.script_on(Op::Read, prefix, [Outcome::Fail]);
        let d = get(&w, &valid_token());
        assert_eq!(status(&d), 503, "{prefix} failing");
        assert!(!forwarded(&d));
        assert!(reply(&d).header("retry-after").is_some());
        assert!(forwarded(&get(&w, &valid_token())), "{prefix} recovered");
    }
}

#[test]
fn an_unreadable_revocation_revokes_and_says_so_in_the_log() {
    let w = world();
    let token = valid_token();
    w.store.inner.put_raw("revoked:jti-alice-1", "not a record");
    let d = get(&w, &token);
    assert_eq!(status(&d), 401);
    assert_eq!(
        reply(&d).header("www-authenticate"),
        Some(r#"Bearer realm="api", error="invalid_token", error_description="token revoked""#)
    );
    let event = d.event.unwrap();
    assert_eq!(
        (
            event.decision.as_str(),
            event.reason.as_str(),
            event.jti.as_deref()
        ),
        ("reject", "unreadable_entry", Some("jti-alice-1"))
    );
    // A readable revocation is logged as such.
    block_on(w.store.inner.delete("revoked:jti-alice-1")).unwrap();
    assert_eq!(status(&sign_out(&w, &token, "local")), 204);
    assert_eq!(get(&w, &token).event.unwrap().reason.as_str(), "revoked");
}

#[test]
fn an_unreadable_cutoff_revokes_the_subject_until_a_sign_out_repairs_it() {
    let w = world();
    w.store.inner.put_raw("subject:erin", "{\"sub\":\"erin\"");
    let old = token_of("erin", "erin-old", NOW - 100);
    let fresh = token_of("erin", "erin-fresh", NOW + 30);
    for token in [&old, &fresh] {
        let d = get(&w, token);
        assert_eq!(status(&d), 401);
        assert_eq!(d.event.unwrap().reason.as_str(), "unreadable_entry");
    }
    assert!(
        forwarded(&get(&w, &token_of("frank", "frank-1", NOW))),
        "other subjects pass"
    );
    // Every token of erin counts as revoked, so none of them can sign
    // out (a revoked token changes nothing); an admin's sign-out of the
    // subject replaces the entry with a readable cutoff at now.
    assert_eq!(status(&sign_out(&w, &old, "global")), 401);
    assert!(w.store.inner.cutoffs()["subject:erin"].0.is_unreadable());
    let auth = format!("Bearer {}", admin_token());
    let d = w.send(
        "DELETE",
        "/api/users/erin/tokens",
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(status(&d), 204);
    assert_eq!(w.store.inner.cutoffs()["subject:erin"].0.cutoff, Some(NOW));
    assert_eq!(status(&get(&w, &old)), 401, "issued before the cutoff");
    assert!(forwarded(&get(&w, &fresh)), "issued after it");
}

#[test]
fn a_cutoff_expires_at_least_60_seconds_ahead() {
    // Workers KV refuses an expiration less than 60 s ahead: a short token
    // lifetime still stores the cutoff that long.
    let w = World::with(config_with(&[
        ("MAX_TOKEN_LIFETIME_SECONDS", "10"),
        ("CUTOFF_SKEW_SECONDS", "0"),
        ("JWT_LEEWAY_SECONDS", "0"),
    ]))
    .with_store(FaultKv::new(MemoryKv::new(NOW)));
    let caller = token_of("ivy", "ivy-1", NOW - 5);
    assert_eq!(status(&sign_out(&w, &caller, "global")), 204);
    assert_eq!(w.store.inner.cutoffs()["subject:ivy"].1, NOW + 60);
    let long = World::with(config_with(&[
        ("MAX_TOKEN_LIFETIME_SECONDS", "7200"),
        ("CUTOFF_SKEW_SECONDS", "0"),
    ]))
    .with_store(FaultKv::new(MemoryKv::new(NOW)));
    assert_eq!(status(&sign_out(&long, &caller, "global")), 204);
    // Every token it revokes is accepted at most 7200 s + the leeway past it.
    assert_eq!(long.store.inner.cutoffs()["subject:ivy"].1, NOW + 7200 + 60);
}

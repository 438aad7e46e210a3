//! A revoked token can change nothing, and nothing makes it pass again.
//!
//! Every route that acts on behalf of the caller's token (sign-out in every
//! scope, `DELETE /v2.0/tokens`, the admin routes) checks revocation first,
//! through the proxy's own step. These stories revoke a user's tokens each
//! way the worker knows, then let the revoked token try to undo it.

use edge_revoke_core::idp::{CAEP_CREDENTIAL_CHANGE, RISC_ACCOUNT_DISABLED};
use edge_revoke_core::log::Verdict;
use edge_revoke_core::revocation::Kv;
use edge_revoke_test_support::*;
use serde_json::json;

/// The receiving world with cutoffs at the edge's own clock
/// (`CUTOFF_SKEW_SECONDS=0`): these stories are about which token may
/// change what, and read simplest with every cutoff at now.
fn world() -> World<FaultKv> {
    receiving_with(&[("CUTOFF_SKEW_SECONDS", "0")])
}

/// `DELETE path` with `token` in `header` (`authorization` as a bearer token,
/// or `x-auth-token`).
fn delete_as<S: Kv>(w: &World<S>, path: &str, header: &str, token: &str) -> u16 {
    let value = match header {
        "authorization" => format!("Bearer {token}"),
        _ => token.to_owned(),
    };
    status(&w.send("DELETE", path, &[(header, &value)], None))
}

fn delete<S: Kv>(w: &World<S>, path: &str, token: &str) -> u16 {
    delete_as(w, path, "authorization", token)
}

fn assert_revoked<S: Kv>(w: &World<S>, token: &str, what: &str) {
    let d = get(w, token);
    assert_eq!(status(&d), 401, "{what}");
    let challenge = reply(&d).header("www-authenticate").unwrap_or_default();
    assert!(challenge.contains("token revoked"), "{what}: {challenge}");
}

/// The ways a whole subject is signed out: from the edge at the world's
/// time, or by the identity provider with an event stamped `at`.
#[derive(Clone, Copy, Debug)]
enum SubjectRevocation {
    /// Another token of the user signs out everywhere.
    GlobalSignOut,
    /// An admin signs the user out (`DELETE /api/users/{sub}/tokens`).
    Admin,
    /// A back-channel logout names only the user (its `iat`).
    BackchannelLogout,
    /// A RISC `account-disabled` event (its `event_timestamp`).
    AccountDisabled,
    /// A CAEP `credential-change` event (the SET's `iat`).
    CredentialChange,
}

const SUBJECT_REVOCATIONS: [SubjectRevocation; 5] = [
    SubjectRevocation::GlobalSignOut,
    SubjectRevocation::Admin,
    SubjectRevocation::BackchannelLogout,
    SubjectRevocation::AccountDisabled,
    SubjectRevocation::CredentialChange,
];

impl SubjectRevocation {
    /// Signs `sub` out; the identity provider's events are stamped `at`.
    fn apply(self, w: &World<FaultKv>, sub: &str, at: u64) {
        let now = w.now.get();
        let answer = match self {
            SubjectRevocation::GlobalSignOut => {
                let other = access_token(sub, None, "other-device", now - 1);
                delete(w, "/api/tokens?scope=global", &other)
            }
            SubjectRevocation::Admin => {
                delete(w, &format!("/api/users/{sub}/tokens"), &admin_token())
            }
            SubjectRevocation::BackchannelLogout => {
                let token = logout_token(&logout_claims(|c| {
                    c["sub"] = sub.into();
                    c["iat"] = json!(at);
                    c["exp"] = json!(now + 120);
                    c.as_object_mut().unwrap().remove("sid");
                }));
                status(&post_logout(w, &format!("logout_token={token}")))
            }
            SubjectRevocation::AccountDisabled => {
                let body = json!({ "event_timestamp": at });
                let mut claims = set_claims(RISC_ACCOUNT_DISABLED, body, user(sub));
                claims["iat"] = json!(now);
                status(&push(w, &set_token(&claims)))
            }
            SubjectRevocation::CredentialChange => {
                let body = json!({ "credential_type": "password" });
                let mut claims = set_claims(CAEP_CREDENTIAL_CHANGE, body, user(sub));
                claims["iat"] = json!(at);
                status(&push(w, &set_token(&claims)))
            }
        };
        assert!(
            matches!(answer, 200 | 202 | 204),
            "{self:?} answered {answer}"
        );
    }
}

fn revoke_subject(w: &World<FaultKv>, how: SubjectRevocation, sub: &str) {
    how.apply(w, sub, w.now.get());
}

/// Each way of signing a user out, then, a second later, the revoked token
/// asks to sign out "everyone else": refused, and it stays revoked.
#[test]
fn a_revoked_token_cannot_exempt_itself_with_scope_others() {
    for how in SUBJECT_REVOCATIONS {
        let w = world();
        let stolen = access_token("vic", None, "stolen", w.now.get() - 10);
        assert!(forwarded(&get(&w, &stolen)), "{how:?}: passes at first");
        revoke_subject(&w, how, "vic");
        assert_revoked(&w, &stolen, &format!("{how:?}: revoked"));
        let before = w.store.inner.cutoffs();

        w.advance(1);
        for header in ["authorization", "x-auth-token"] {
            let answer = delete_as(&w, "/api/tokens?scope=others", header, &stolen);
            assert_eq!(
                answer, 401,
                "{how:?}: scope=others by a revoked token ({header})"
            );
        }
        assert_eq!(w.store.inner.cutoffs(), before, "{how:?}: nothing written");
        for later in [0, 1, 60, 300] {
            w.advance(later);
            assert_revoked(&w, &stolen, &format!("{how:?}: still revoked {later} s on"));
        }
    }
}

/// A token revoked by its own ID calls every scope: only `local` answers
/// `204` (a retried sign-out, nothing written); the others are refused, and
/// the user's newer tokens keep working.
#[test]
fn a_token_revoked_by_its_id_changes_nothing_in_any_scope() {
    for header in ["authorization", "x-auth-token"] {
        let w = world();
        let now = w.now.get();
        let stolen = access_token("vic", Some("s-1"), "stolen", now - 10);
        assert_eq!(delete_as(&w, "/api/tokens", header, &stolen), 204);
        assert_revoked(&w, &stolen, "signed out");
        let entries = w.store.inner.entries();
        assert_eq!(entries.len(), 1);

        w.advance(1);
        let newer = access_token("vic", Some("s-1"), "newer", w.now.get());
        for scope in ["global", "others", "session"] {
            let path = format!("/api/tokens?scope={scope}");
            assert_eq!(
                delete_as(&w, &path, header, &stolen),
                401,
                "{scope} ({header})"
            );
        }
        for path in ["/api/tokens", "/api/tokens?scope=local", "/v2.0/tokens"] {
            let d = w.send(
                "DELETE",
                path,
                &[(header, &header_value(header, &stolen))],
                None,
            );
            assert_eq!(status(&d), 204, "{path}: a retried sign-out ({header})");
            let event = d.event.expect("a log line");
            assert_eq!(event.decision, Verdict::Ignored, "{path}");
            assert_eq!(event.reason.as_str(), "already revoked");
        }
        assert!(w.store.inner.cutoffs().is_empty(), "no subject cutoff");
        assert!(w.store.inner.sessions().is_empty(), "no session cutoff");
        assert_eq!(w.store.inner.entries(), entries, "no new revocation");
        assert!(forwarded(&get(&w, &newer)), "the user's newer token passes");
        assert_revoked(&w, &stolen, "still revoked");
    }
}

fn header_value(header: &str, token: &str) -> String {
    match header {
        "authorization" => format!("Bearer {token}"),
        _ => token.to_owned(),
    }
}

/// A token revoked by a session cutoff cannot sign the session out again
/// (which would end the session's newer tokens), nor sign out its user.
#[test]
fn a_token_revoked_with_its_session_changes_nothing() {
    let w = world();
    let stolen = access_token("vic", Some("s-1"), "stolen", w.now.get() - 10);
    assert_eq!(delete(&w, "/api/tokens?scope=session", &stolen), 204);
    assert_revoked(&w, &stolen, "session signed out");
    let sessions = w.store.inner.sessions();
    w.advance(5);
    let newer = access_token("vic", Some("s-1"), "newer", w.now.get());
    for scope in ["session", "global", "others"] {
        let path = format!("/api/tokens?scope={scope}");
        assert_eq!(delete(&w, &path, &stolen), 401, "{scope}");
    }
    assert_eq!(
        w.store.inner.sessions(),
        sessions,
        "the session cutoff stays"
    );
    assert!(w.store.inner.cutoffs().is_empty());
    assert!(forwarded(&get(&w, &newer)));
}

/// An admin whose own token is revoked can neither sign users out, revoke
/// tokens, nor restore them.
#[test]
fn a_revoked_admin_can_change_nothing() {
    let w = world();
    let root = admin_token();
    assert_eq!(delete(&w, "/api/tokens", &root), 204);
    let victim = access_token("vic", None, "victim", w.now.get() - 10);
    assert_eq!(delete(&w, "/v2.0/tokens/victim", &admin_token()), 401);
    assert_eq!(delete(&w, "/api/users/vic/tokens", &root), 401);
    assert_eq!(delete(&w, "/api/revocations/jti-root", &root), 401);
    assert!(forwarded(&get(&w, &victim)));
    assert!(w.store.inner.cutoffs().is_empty());
    assert_revoked(&w, &root, "the admin stays revoked");
}

/// `scope=others` at second t, then the user's sign-out stamped earlier (an
/// identity provider's event is stamped before it arrives) but after the
/// exempted token was issued: the exemption ends, in every order of arrival
/// and for every kind of write.
#[test]
fn a_later_exemption_never_cancels_an_earlier_sign_out_of_the_user() {
    for how in SUBJECT_REVOCATIONS {
        for others_first in [true, false] {
            let w = world();
            let t = w.now.get();
            let kept = access_token("vic", None, "kept", t - 10);
            let what = format!("{how:?}, scope=others first: {others_first}");
            if others_first {
                assert_eq!(delete(&w, "/api/tokens?scope=others", &kept), 204, "{what}");
                assert!(forwarded(&get(&w, &kept)), "{what}: exempt for now");
                w.advance(3);
                how.apply(&w, "vic", t - 2);
            } else {
                how.apply(&w, "vic", t - 2);
                w.advance(3);
                // Covered by the revoked-caller check; the merge must agree.
                assert_eq!(delete(&w, "/api/tokens?scope=others", &kept), 401, "{what}");
            }
            assert_revoked(&w, &kept, &what);
            let stored = &w.store.inner.cutoffs()["subject:vic"].0;
            assert!(
                stored.others.is_none(),
                "{what}: no exemption left: {stored:?}"
            );
            assert!(stored.cutoff >= Some(t - 2), "{what}: {stored:?}");
        }
    }
}

/// An identity provider's sign-out stamped before the exempted token was
/// issued leaves that token's exemption in force: nothing revokes it.
#[test]
fn an_older_sign_out_leaves_a_newer_exemption_in_force() {
    let w = world();
    let t = w.now.get();
    let kept = access_token("vic", None, "kept", t - 10);
    let old = access_token("vic", None, "old", t - 100);
    assert_eq!(delete(&w, "/api/tokens?scope=others", &kept), 204);
    w.advance(3);
    SubjectRevocation::BackchannelLogout.apply(&w, "vic", t - 50);
    assert!(
        forwarded(&get(&w, &kept)),
        "issued after the logout's cutoff"
    );
    assert_revoked(&w, &old, "older than both");
}

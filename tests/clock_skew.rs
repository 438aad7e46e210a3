//! Sign-out everywhere against an identity provider whose clock is not the
//! edge's, with an injected clock: a token that existed before a sign-out
//! never survives it, whether its `iat` is ahead of the edge (within the
//! leeway), behind or exact; and a user who signs in again gets a working
//! token within the documented bound (`CUTOFF_SKEW_SECONDS` plus the
//! provider's lag plus one second).

use edge_revoke_core::idp::RISC_ACCOUNT_DISABLED;
use edge_revoke_core::revocation::Kv;
use edge_revoke_test_support::*;
use serde_json::json;

/// Where the identity provider's clock stands against the edge's.
const OFFSETS: [i64; 3] = [30, 0, -30];

fn at(base: u64, offset: i64) -> u64 {
    base.checked_add_signed(offset).unwrap()
}

fn delete<S: Kv>(w: &World<S>, path: &str, token: &str) -> u16 {
    let auth = format!("Bearer {token}");
    status(&w.send("DELETE", path, &[("authorization", &auth)], None))
}

/// The sign-outs made at the edge: each is called by a token of `vic`
/// (session `s-1`) or by an admin, at the world's time.
#[derive(Clone, Copy, Debug)]
enum EdgeSignOut {
    Global,
    Others,
    Session,
    Admin,
}

impl EdgeSignOut {
    fn apply(self, w: &World<FaultKv>, caller: &str) {
        let answer = match self {
            EdgeSignOut::Global => delete(w, "/api/tokens?scope=global", caller),
            EdgeSignOut::Others => delete(w, "/api/tokens?scope=others", caller),
            EdgeSignOut::Session => delete(w, "/api/tokens?scope=session", caller),
            EdgeSignOut::Admin => delete(w, "/api/users/vic/tokens", &admin_token()),
        };
        assert_eq!(answer, 204, "{self:?}");
    }
}

const EDGE_SIGN_OUTS: [EdgeSignOut; 4] = [
    EdgeSignOut::Global,
    EdgeSignOut::Others,
    EdgeSignOut::Session,
    EdgeSignOut::Admin,
];

/// Tokens of `vic` issued ahead of, behind and at the edge's clock, then a
/// sign-out a second later: every one of them is revoked.
#[test]
fn no_token_issued_before_a_sign_out_survives_it_whatever_the_clocks() {
    for how in EDGE_SIGN_OUTS {
        let w = receiving();
        let t = w.now.get();
        let caller = access_token("vic", Some("s-1"), "caller", t - 100);
        let before: Vec<(i64, String)> = OFFSETS
            .iter()
            .map(|&offset| {
                let jti = format!("issued-{offset}");
                (
                    offset,
                    access_token("vic", Some("s-1"), &jti, at(t, offset)),
                )
            })
            .collect();
        for (offset, token) in &before {
            assert!(
                forwarded(&get(&w, token)),
                "{how:?}: {offset:+} passes at first"
            );
        }
        w.advance(1);
        how.apply(&w, &caller);
        for (offset, token) in &before {
            let d = get(&w, token);
            assert_eq!(
                status(&d),
                401,
                "{how:?}: a token issued {offset:+} s survived"
            );
        }
    }
}

/// After a sign-out at T, a token freshly issued by the provider passes from
/// T + CUTOFF_SKEW_SECONDS + 1 (minus its lead, plus its lag) on, never
/// before its iat passes the cutoff.
#[test]
fn a_new_sign_in_works_within_the_documented_bound() {
    for skew in [60u64, 5] {
        for how in [EdgeSignOut::Global, EdgeSignOut::Admin] {
            for offset in OFFSETS {
                let vars = [("CUTOFF_SKEW_SECONDS", skew.to_string())];
                let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let w = receiving_with(&vars);
                let t = w.now.get();
                let caller = access_token("vic", None, "caller", t - 100);
                how.apply(&w, &caller);
                // The provider issues a token each second after the sign-out.
                let mut first_pass = None;
                for after in 0..=(skew + 31) {
                    w.now.set(t + after);
                    let iat = at(t + after, offset);
                    let token = access_token("vic", None, &format!("new-{after}"), iat);
                    if forwarded(&get(&w, &token)) {
                        first_pass = Some(after);
                        break;
                    }
                }
                // A provider further ahead than the allowance issues tokens
                // past the cutoff at once (and its earlier ones survive: the
                // price of a small allowance, see the last test).
                let expected = (skew + 1).saturating_add_signed(-offset);
                assert_eq!(
                    first_pass,
                    Some(expected),
                    "{how:?}, skew {skew}, provider {offset:+} s: a new sign-in works \
                     {expected} s after the sign-out"
                );
                assert!(expected <= skew + 1 + 30, "within the bound");
            }
        }
    }
}

/// The identity provider's own sign-outs carry its clock: a logout stamped
/// 30 s ahead revokes the tokens it issued before, and one it issues after
/// passes at once.
#[test]
fn an_identity_providers_sign_out_is_in_its_own_clock() {
    for event in ["logout", "risc"] {
        let w = receiving();
        let t = w.now.get();
        let idp_now = t + 30;
        let before = access_token("vic", None, "before", idp_now - 1);
        match event {
            "logout" => {
                let token = logout_token(&logout_claims(|c| {
                    c["sub"] = "vic".into();
                    c["iat"] = json!(idp_now);
                    c.as_object_mut().unwrap().remove("sid");
                }));
                let d = post_logout(&w, &format!("logout_token={token}"));
                assert_eq!(status(&d), 200);
            }
            _ => {
                let body = json!({ "event_timestamp": idp_now });
                let claims = set_claims(RISC_ACCOUNT_DISABLED, body, user("vic"));
                assert_eq!(status(&push(&w, &set_token(&claims))), 202);
            }
        }
        assert_eq!(status(&get(&w, &before)), 401, "{event}: issued before");
        let after = access_token("vic", None, "after", idp_now + 1);
        assert!(
            forwarded(&get(&w, &after)),
            "{event}: issued after, at once"
        );
        let stored = &w.store.inner.cutoffs()["subject:vic"].0;
        assert_eq!(stored.cutoff, Some(idp_now), "{event}: no allowance added");
    }
}

/// With `CUTOFF_SKEW_SECONDS=0` cutoffs are at the edge's own now, and a
/// token from a provider ahead of the edge survives a sign-out made within
/// that lead: the documented price of turning the allowance off.
#[test]
fn without_an_allowance_a_token_ahead_survives() {
    let w = receiving_with(&[("CUTOFF_SKEW_SECONDS", "0")]);
    let t = w.now.get();
    let ahead = access_token("vic", None, "ahead", t + 30);
    let caller = access_token("vic", None, "caller", t - 10);
    w.advance(1);
    EdgeSignOut::Global.apply(&w, &caller);
    assert!(forwarded(&get(&w, &ahead)));
    // The caller's own token is always revoked by its own sign-out, even
    // when issued ahead of the edge.
    let w = receiving_with(&[("CUTOFF_SKEW_SECONDS", "0")]);
    let own = access_token("vic", None, "own", t + 30);
    EdgeSignOut::Global.apply(&w, &own);
    assert_eq!(status(&get(&w, &own)), 401);
}

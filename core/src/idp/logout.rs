//! OpenID Connect Back-Channel Logout 1.0 logout tokens (§2.4, §2.6): the
//! claim rules, and what a logout ends.

use super::Effect;
use crate::error::LogoutError;
use crate::token::rules::Rules;
use crate::token::{audiences, numeric_date, string_claim, TokenId};
use serde_json::{Map, Value};

/// The `events` member that makes a JWT a logout token (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token without `exp` is accepted for this many seconds after its
/// `iat` (plus the leeway): some identity providers send no `exp`.
pub const LOGOUT_TOKEN_MAX_AGE: u64 = 300;

/// A logout token that passed every rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutToken {
    /// Its `jti` (for the log; replays are harmless, see [`LogoutToken::ends`]).
    pub jti: String,
    /// When the identity provider issued it.
    pub iat: u64,
    /// The user, when named.
    pub sub: Option<String>,
    /// The session, when named.
    pub sid: Option<String>,
}

impl LogoutToken {
    /// What the logout ends: the session when one is named, else every token
    /// of the subject. The cutoff is the token's `iat`, not the time it
    /// arrived: a replay changes nothing, and a user who signs in again right
    /// after is not signed out by a late retry. The `iat` comes from the
    /// identity provider's clock, as the `iat` of its access tokens does, so
    /// it is taken as it is up to `latest` (the edge's now plus the leeway,
    /// beyond which the logout token itself is refused).
    pub fn ends(&self, latest: u64) -> Effect {
        let at = self.iat.min(latest);
        match (&self.sid, &self.sub) {
            (Some(sid), _) => Effect::Session {
                sid: sid.clone(),
                at,
            },
            (None, Some(sub)) => Effect::Subject {
                sub: sub.clone(),
                at,
            },
            // The rules require one of them.
            (None, None) => Effect::Ignored("no subject"),
        }
    }
}

/// The back-channel logout rules (§2.4, §2.6) over a signed token's claims:
/// `iss` is `JWT_ISSUER` (when set), `aud` names only `audiences` (at least
/// one), `iat`
/// and `jti` are present, `events` names the logout event with an object,
/// `sid` or `sub` (or both) are present, `nonce` is absent, and the token is
/// fresh: `exp` with the leeway when present, else `iat` within
/// [`LOGOUT_TOKEN_MAX_AGE`] plus the leeway.
pub fn logout_token(
    claims: &Map<String, Value>,
    rules: &Rules,
    audiences_accepted: &[String],
    now: u64,
) -> Result<LogoutToken, LogoutError> {
    let invalid = |why| LogoutError(why);
    let typed = |why| move |_| LogoutError(why);
    let iss = string_claim(claims, "iss").map_err(typed("iss is not a string"))?;
    if let Some(issuer) = &rules.issuer {
        if iss.as_deref() != Some(issuer.as_str()) {
            return Err(invalid("issuer not accepted"));
        }
    }
    let aud = audiences(claims).map_err(typed("aud is not a string or an array of strings"))?;
    // §2.6 validates aud as OpenID Connect Core §3.1.3.7 does for ID tokens:
    // rejected unless it lists this client, and rejected when it holds any
    // audience this client does not trust. Every one must be ours.
    if aud.is_empty() || !aud.iter().all(|aud| audiences_accepted.contains(aud)) {
        return Err(invalid("audience not accepted"));
    }
    let iat = numeric_date(claims, "iat")
        .map_err(typed("iat is not a NumericDate"))?
        .ok_or(invalid("iat is required"))?;
    let jti = string_claim(claims, "jti")
        .map_err(typed("jti is not a string"))?
        .filter(|jti| TokenId::from_reference(jti).is_some())
        .ok_or(invalid("jti is required"))?;
    let logout_event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !logout_event {
        return Err(invalid("events must hold the back-channel logout event"));
    }
    let sub = string_claim(claims, "sub").map_err(typed("sub is not a string"))?;
    let sid = string_claim(claims, "sid").map_err(typed("sid is not a string"))?;
    if sub.is_none() && sid.is_none() {
        return Err(invalid("sid or sub is required"));
    }
    if claims.contains_key("nonce") {
        return Err(invalid("nonce must be absent"));
    }
    let leeway = rules.leeway;
    if iat > now.saturating_add(leeway) {
        return Err(invalid("token issued in the future"));
    }
    let nbf = numeric_date(claims, "nbf").map_err(typed("nbf is not a NumericDate"))?;
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(invalid("token not yet valid"));
    }
    match numeric_date(claims, "exp").map_err(typed("exp is not a NumericDate"))? {
        Some(exp) if rules.expired(exp, now) => return Err(invalid("token expired")),
        None if now > iat.saturating_add(LOGOUT_TOKEN_MAX_AGE + leeway) => {
            return Err(invalid("token too old"))
        }
        _ => {}
    }
    Ok(LogoutToken { jti, iat, sub, sid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn rules() -> Rules {
        Rules {
            issuer: Some("https://idp.test".into()),
            ..Rules::new(vec![])
        }
    }

    fn logout(change: impl FnOnce(&mut Value)) -> Map<String, Value> {
        let mut claims = json!({
            "iss": "https://idp.test",
            "aud": "edge-client",
            "iat": NOW - 5,
            "exp": NOW + 120,
            "jti": "lt-1",
            "sub": "alice",
            "sid": "s-1",
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        });
        change(&mut claims);
        claims.as_object().unwrap().clone()
    }

    fn check(claims: &Map<String, Value>) -> Result<LogoutToken, LogoutError> {
        logout_token(
            claims,
            &rules(),
            &["edge-client".into(), "other".into()],
            NOW,
        )
    }

    fn refused(change: impl FnOnce(&mut Value)) -> &'static str {
        check(&logout(change)).unwrap_err().0
    }

    #[test]
    fn a_keycloak_logout_token_ends_its_session_at_its_iat() {
        let token = check(&logout(|_| {})).unwrap();
        assert_eq!(
            token.ends(NOW),
            Effect::Session {
                sid: "s-1".into(),
                at: NOW - 5
            }
        );
        let sub_only = check(&logout(|c| {
            c.as_object_mut().unwrap().remove("sid");
        }))
        .unwrap();
        assert_eq!(
            sub_only.ends(NOW),
            Effect::Subject {
                sub: "alice".into(),
                at: NOW - 5
            }
        );
        // An iat a little ahead (the provider's clock runs ahead, within the
        // leeway) cuts off at that iat: its access tokens come from the same
        // clock. Never later than the edge's now plus the leeway.
        let ahead = check(&logout(|c| c["iat"] = json!(NOW + 30))).unwrap();
        assert_eq!(
            ahead.ends(NOW + 60),
            Effect::Session {
                sid: "s-1".into(),
                at: NOW + 30
            }
        );
        assert_eq!(
            ahead.ends(NOW + 20),
            Effect::Session {
                sid: "s-1".into(),
                at: NOW + 20
            }
        );
    }

    #[test]
    fn every_logout_token_rule_has_its_refusal() {
        let remove = |name: &'static str| {
            move |c: &mut Value| {
                c.as_object_mut().unwrap().remove(name);
            }
        };
        assert_eq!(
            refused(|c| c["iss"] = json!("https://evil.test")),
            "issuer not accepted"
        );
        assert_eq!(refused(remove("iss")), "issuer not accepted");
        assert_eq!(
            refused(|c| c["aud"] = json!(["api://edge"])),
            "audience not accepted"
        );
        assert_eq!(refused(remove("aud")), "audience not accepted");
        // An audience this client does not trust beside ours (OIDC Core
        // §3.1.3.7): refused. Every audience ours: accepted.
        assert_eq!(
            refused(|c| c["aud"] = json!(["edge-client", "https://other-rp.example"])),
            "audience not accepted"
        );
        assert_eq!(
            refused(|c| c["aud"] = json!(["x", "other"])),
            "audience not accepted"
        );
        assert_eq!(refused(|c| c["aud"] = json!([])), "audience not accepted");
        assert!(check(&logout(|c| c["aud"] = json!(["edge-client", "other"]))).is_ok());
        assert_eq!(refused(remove("iat")), "iat is required");
        assert_eq!(
            refused(|c| c["iat"] = json!(1.5)),
            "iat is not a NumericDate"
        );
        assert_eq!(refused(remove("jti")), "jti is required");
        assert_eq!(refused(|c| c["jti"] = json!("")), "jti is required");
        let no_event = "events must hold the back-channel logout event";
        assert_eq!(refused(remove("events")), no_event);
        assert_eq!(refused(|c| c["events"] = json!({})), no_event);
        assert_eq!(
            refused(|c| c["events"] = json!([BACKCHANNEL_LOGOUT_EVENT])),
            no_event
        );
        assert_eq!(
            refused(|c| c["events"] = json!({ BACKCHANNEL_LOGOUT_EVENT: "yes" })),
            no_event
        );
        assert_eq!(
            refused(|c| {
                let o = c.as_object_mut().unwrap();
                o.remove("sub");
                o.remove("sid");
            }),
            "sid or sub is required"
        );
        assert_eq!(refused(|c| c["sid"] = json!(7)), "sid is not a string");
        assert_eq!(refused(|c| c["nonce"] = json!("n")), "nonce must be absent");
        assert_eq!(
            refused(|c| c["iat"] = json!(NOW + 61)),
            "token issued in the future"
        );
        assert_eq!(
            refused(|c| c["nbf"] = json!(NOW + 61)),
            "token not yet valid"
        );
        // The leeway's last second is still inside it.
        assert!(check(&logout(|c| c["iat"] = json!(NOW + 60))).is_ok());
        assert!(check(&logout(|c| c["nbf"] = json!(NOW + 60))).is_ok());
        // Rejected from exp + leeway on, as access tokens are.
        assert_eq!(refused(|c| c["exp"] = json!(NOW - 60)), "token expired");
        assert!(
            check(&logout(|c| c["exp"] = json!(NOW - 59))).is_ok(),
            "leeway"
        );
    }

    #[test]
    fn without_exp_a_logout_token_lives_five_minutes_plus_leeway() {
        let no_exp = |iat: u64| {
            logout(|c| {
                c.as_object_mut().unwrap().remove("exp");
                c["iat"] = json!(iat);
            })
        };
        assert!(check(&no_exp(NOW - 360)).is_ok());
        assert_eq!(check(&no_exp(NOW - 361)).unwrap_err().0, "token too old");
    }

    #[test]
    fn an_access_token_is_not_a_logout_token() {
        let access = json!({
            "iss": "https://idp.test", "aud": "edge-client", "iat": NOW, "exp": NOW + 60,
            "jti": "at-1", "sub": "alice", "sid": "s-1",
        });
        assert_eq!(
            check(access.as_object().unwrap()).unwrap_err().0,
            "events must hold the back-channel logout event"
        );
    }
}

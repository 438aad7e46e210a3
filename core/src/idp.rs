//! Revocation driven by the identity provider: the claim rules of OpenID
//! Connect Back-Channel Logout 1.0 logout tokens and of Shared Signals
//! (RFC 8417 security event tokens carrying CAEP and RISC events), and what
//! each one revokes. The signature has been checked before these rules run
//! ([`crate::token::verify_signature`]); this module reads claims only.

use crate::error::{LogoutError, SsfError, SsfErrorCode};
use crate::rules::Rules;
use crate::token::{audiences, numeric_date, string_claim, TokenId};
use serde_json::{Map, Value};

/// The `events` member that makes a JWT a logout token (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token without `exp` is accepted for this many seconds after its
/// `iat` (plus the leeway): some identity providers send no `exp`.
pub const LOGOUT_TOKEN_MAX_AGE: u64 = 300;

/// CAEP: a session ended.
pub const CAEP_SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// CAEP: a credential (password, key) changed.
pub const CAEP_CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
/// RISC: every session of the account ended.
pub const RISC_SESSIONS_REVOKED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked";
/// RISC: every token of the account was revoked.
pub const RISC_TOKENS_REVOKED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/tokens-revoked";
/// RISC: the account was disabled.
pub const RISC_ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
/// SSF: the transmitter checks that the stream works; no effect.
pub const SSF_VERIFICATION: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/verification";

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

/// What one event revokes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Every token of the subject issued at or before `at`.
    Subject {
        /// The subject.
        sub: String,
        /// The cutoff, seconds since the epoch.
        at: u64,
    },
    /// Every token of the session issued at or before `at`.
    Session {
        /// The session.
        sid: String,
        /// The cutoff, seconds since the epoch.
        at: u64,
    },
    /// Nothing: the SSF verification event.
    Nothing,
    /// Nothing, and the reason is logged: an event type or subject format
    /// this worker does not act on.
    Ignored(&'static str),
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

/// One event of a security event token, and what it revokes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityEvent {
    /// The event type URI.
    pub event_type: String,
    /// What it revokes.
    pub effect: Effect,
    /// Something the log line should say: a part of the subject this worker
    /// could not map, and so left out.
    pub note: Option<&'static str>,
}

/// A security event token that passed every rule, with one effect per event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityEvents {
    /// Its `jti`, for the log.
    pub jti: String,
    /// `(event type, effect)` for each member of `events`, in order.
    pub events: Vec<SecurityEvent>,
}

fn ssf_error(code: SsfErrorCode, description: &'static str) -> SsfError {
    SsfError { code, description }
}

/// The SET rules (RFC 8417, SSF 1.0) over a signed token's claims: `iss` is
/// `SSF_ISSUER`, `aud` names one of `SSF_AUDIENCE`, `iat` and `jti` are
/// present, `events` is a non-empty object, `exp` (when present) is honoured
/// with the leeway. Then what each event revokes (see [`effect`]).
/// `jwt_issuer` is `JWT_ISSUER`: an `iss_sub` subject must be one of its
/// users.
pub fn security_events(
    claims: &Map<String, Value>,
    rules: &Rules,
    jwt_issuer: Option<&str>,
    now: u64,
) -> Result<SecurityEvents, SsfError> {
    use SsfErrorCode::{InvalidAudience, InvalidIssuer, InvalidRequest};
    let request = |why| ssf_error(InvalidRequest, why);
    let typed = |why| move |_| ssf_error(InvalidRequest, why);
    let iss = string_claim(claims, "iss").map_err(typed("iss is not a string"))?;
    if iss.is_none() || iss.as_deref() != rules.issuer.as_deref() {
        return Err(ssf_error(InvalidIssuer, "issuer not accepted"));
    }
    let aud = audiences(claims).map_err(typed("aud is not a string or an array of strings"))?;
    if !aud.iter().any(|aud| rules.audiences.contains(aud)) {
        return Err(ssf_error(InvalidAudience, "audience not accepted"));
    }
    let iat = numeric_date(claims, "iat")
        .map_err(typed("iat is not a NumericDate"))?
        .ok_or(request("iat is required"))?;
    if iat > now.saturating_add(rules.leeway) {
        return Err(request("SET issued in the future"));
    }
    let exp = numeric_date(claims, "exp").map_err(typed("exp is not a NumericDate"))?;
    if exp.is_some_and(|exp| rules.expired(exp, now)) {
        return Err(request("SET expired"));
    }
    let jti = string_claim(claims, "jti")
        .map_err(typed("jti is not a string"))?
        .filter(|jti| TokenId::from_reference(jti).is_some())
        .ok_or(request("jti is required"))?;
    let events = claims
        .get("events")
        .and_then(Value::as_object)
        .filter(|events| !events.is_empty())
        .ok_or(request("events must be a non-empty object"))?;
    let sub_id = claims.get("sub_id");
    let events = events
        .iter()
        .map(|(event_type, body)| {
            let body = body
                .as_object()
                .ok_or(request("an event is not a JSON object"))?;
            let at = numeric_date(body, "event_timestamp")
                .map_err(typed("event_timestamp is not a NumericDate"))?
                .unwrap_or(iat)
                // The transmitter's clock, like its tokens' `iat`: taken as
                // it is up to the leeway ahead of ours.
                .min(now.saturating_add(rules.leeway));
            let subject = sub_id.or_else(|| body.get("subject"));
            let (effect, note) = effect(event_type, subject, jwt_issuer, at);
            Ok(SecurityEvent {
                event_type: event_type.clone(),
                effect,
                note,
            })
        })
        .collect::<Result<Vec<_>, SsfError>>()?;
    Ok(SecurityEvents { jti, events })
}

/// Who a SET is about, in the formats this worker acts on.
enum Subject {
    User(String),
    /// A session, and its user when this worker could map it; otherwise
    /// why the user part was left out.
    Session {
        sid: String,
        user: Result<Option<String>, &'static str>,
    },
}

/// An `iss_sub` subject of `JWT_ISSUER` (any issuer when that is unset).
fn iss_sub(value: &Map<String, Value>, jwt_issuer: Option<&str>) -> Result<String, &'static str> {
    let sub = value
        .get("sub")
        .and_then(Value::as_str)
        .ok_or("iss_sub subject without sub")?;
    let iss = value.get("iss").and_then(Value::as_str);
    match jwt_issuer {
        Some(expected) if iss != Some(expected) => Err("subject of another issuer"),
        _ => Ok(sub.to_owned()),
    }
}

/// `iss_sub` (a user), or `complex` with `user` (`iss_sub`) and/or `session`
/// (`opaque`, whose `id` is the `sid`).
fn subject(value: Option<&Value>, jwt_issuer: Option<&str>) -> Result<Subject, &'static str> {
    let value = value.and_then(Value::as_object).ok_or("no subject")?;
    match value.get("format").and_then(Value::as_str) {
        Some("iss_sub") => iss_sub(value, jwt_issuer).map(Subject::User),
        Some("complex") => {
            let user = match value.get("user").and_then(Value::as_object) {
                Some(user) if user.get("format").and_then(Value::as_str) == Some("iss_sub") => {
                    iss_sub(user, jwt_issuer).map(Some)
                }
                Some(_) => Err("unsupported subject format"),
                None => Ok(None),
            };
            let session = value.get("session").and_then(Value::as_object);
            let sid = match session {
                Some(s) if s.get("format").and_then(Value::as_str) == Some("opaque") => Some(
                    s.get("id")
                        .and_then(Value::as_str)
                        .ok_or("opaque session without id")?
                        .to_owned(),
                ),
                Some(_) => return Err("unsupported subject format"),
                None => None,
            };
            // CAEP 1.0 §3.1: the event applies to any session derived from
            // matching the combined claims, so a user part this worker cannot
            // map never makes it do less than the session part says.
            match (sid, user) {
                (Some(sid), user) => Ok(Subject::Session { sid, user }),
                (None, Ok(Some(user))) => Ok(Subject::User(user)),
                (None, Err(why)) => Err(why),
                (None, Ok(None)) => Err("complex subject names no user or session"),
            }
        }
        _ => Err("unsupported subject format"),
    }
}

/// What one event revokes: CAEP `session-revoked` ends the named session
/// (or, without one, every token of the user); CAEP `credential-change` and
/// RISC `sessions-revoked`, `tokens-revoked` and `account-disabled` end every
/// token of the user (or, when only a session is named, of that session);
/// the SSF verification event does nothing; anything else is ignored.
///
/// A `complex` subject whose user part cannot be mapped (another format, or
/// another issuer) still ends its session, and the note says the user part
/// was left out.
pub fn effect(
    event_type: &str,
    subject_value: Option<&Value>,
    jwt_issuer: Option<&str>,
    at: u64,
) -> (Effect, Option<&'static str>) {
    let session_first = match event_type {
        SSF_VERIFICATION => return (Effect::Nothing, None),
        CAEP_SESSION_REVOKED => true,
        CAEP_CREDENTIAL_CHANGE
        | RISC_SESSIONS_REVOKED
        | RISC_TOKENS_REVOKED
        | RISC_ACCOUNT_DISABLED => false,
        _ => return (Effect::Ignored("unsupported event type"), None),
    };
    match subject(subject_value, jwt_issuer) {
        Err(why) => (Effect::Ignored(why), None),
        Ok(Subject::User(sub)) => (Effect::Subject { sub, at }, None),
        Ok(Subject::Session { sid, user }) => match user {
            Ok(Some(sub)) if !session_first => (Effect::Subject { sub, at }, None),
            Ok(_) => (Effect::Session { sid, at }, None),
            Err(why) => (Effect::Session { sid, at }, Some(user_left_out(why))),
        },
    }
}

/// The log note for a `complex` subject's user part that was left out.
fn user_left_out(why: &'static str) -> &'static str {
    match why {
        "subject of another issuer" => "user part ignored: subject of another issuer",
        "iss_sub subject without sub" => "user part ignored: iss_sub subject without sub",
        _ => "user part ignored: unsupported subject format",
    }
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

    fn ssf_rules() -> Rules {
        Rules {
            issuer: Some("https://ssf.test".into()),
            audiences: vec!["https://edge.test/ssf".into()],
            ..Rules::new(vec![])
        }
    }

    fn set(events: Value, change: impl FnOnce(&mut Value)) -> Map<String, Value> {
        let mut claims = json!({
            "iss": "https://ssf.test",
            "aud": "https://edge.test/ssf",
            "iat": NOW - 2,
            "jti": "set-1",
            "events": events,
        });
        change(&mut claims);
        claims.as_object().unwrap().clone()
    }

    fn iss_sub_of(sub: &str) -> Value {
        json!({"format": "iss_sub", "iss": "https://idp.test", "sub": sub})
    }

    fn effects(claims: &Map<String, Value>) -> Vec<Effect> {
        security_events(claims, &ssf_rules(), Some("https://idp.test"), NOW)
            .unwrap()
            .events
            .into_iter()
            .map(|event| event.effect)
            .collect()
    }

    /// CAEP 1.0 §3.1: a complex subject whose user part this worker cannot
    /// map (another format, another issuer) still ends its session, and the
    /// note says the user part was left out.
    #[test]
    fn a_session_is_ended_even_when_its_user_part_cannot_be_mapped() {
        for (user, note) in [
            (
                json!({"format": "email", "email": "carol@example.com"}),
                "user part ignored: unsupported subject format",
            ),
            (
                json!({"format": "opaque", "id": "u-1"}),
                "user part ignored: unsupported subject format",
            ),
            (
                json!({"format": "phone_number", "phone_number": "+15555550100"}),
                "user part ignored: unsupported subject format",
            ),
            (
                json!({"format": "iss_sub", "iss": "https://other.test", "sub": "c"}),
                "user part ignored: subject of another issuer",
            ),
        ] {
            let subject = json!({
                "format": "complex",
                "user": user,
                "session": {"format": "opaque", "id": "sess-1"},
            });
            for event in [CAEP_SESSION_REVOKED, CAEP_CREDENTIAL_CHANGE] {
                let claims = set(json!({ event: {} }), |c| c["sub_id"] = subject.clone());
                let set =
                    security_events(&claims, &ssf_rules(), Some("https://idp.test"), NOW).unwrap();
                let expected = SecurityEvent {
                    event_type: event.into(),
                    effect: Effect::Session {
                        sid: "sess-1".into(),
                        at: NOW - 2,
                    },
                    note: Some(note),
                };
                assert_eq!(set.events, [expected], "{user} {event}");
            }
        }
        // Without a session, an unmappable user is still nothing to act on.
        let alone = set(
            json!({ CAEP_SESSION_REVOKED: {} }),
            |c| {
                c["sub_id"] =
                    json!({"format": "complex", "user": {"format": "email", "email": "a@b"}})
            },
        );
        assert_eq!(
            effects(&alone),
            [Effect::Ignored("unsupported subject format")]
        );
    }

    #[test]
    fn caep_and_risc_events_revoke_sessions_and_subjects() {
        let complex = json!({
            "format": "complex",
            "user": iss_sub_of("alice"),
            "session": {"format": "opaque", "id": "s-9"},
        });
        // SSF 1.0: the subject is sub_id; the cutoff is event_timestamp.
        let session_revoked = set(
            json!({ CAEP_SESSION_REVOKED: {"event_timestamp": NOW - 30} }),
            |c| c["sub_id"] = complex.clone(),
        );
        assert_eq!(
            effects(&session_revoked),
            [Effect::Session {
                sid: "s-9".into(),
                at: NOW - 30
            }]
        );
        // An older transmitter puts the subject in the event; no timestamp: iat.
        let by_user = set(
            json!({ CAEP_SESSION_REVOKED: {"subject": iss_sub_of("bob")} }),
            |_| {},
        );
        assert_eq!(
            effects(&by_user),
            [Effect::Subject {
                sub: "bob".into(),
                at: NOW - 2
            }]
        );
        for event in [
            CAEP_CREDENTIAL_CHANGE,
            RISC_SESSIONS_REVOKED,
            RISC_TOKENS_REVOKED,
            RISC_ACCOUNT_DISABLED,
        ] {
            let claims = set(json!({ event: {} }), |c| c["sub_id"] = complex.clone());
            assert_eq!(
                effects(&claims),
                [Effect::Subject {
                    sub: "alice".into(),
                    at: NOW - 2
                }],
                "{event}"
            );
        }
        // A timestamp ahead of the edge's clock is the transmitter's clock,
        // as its tokens' iat: taken up to the leeway (60 s) ahead, no further.
        for (stamp, at) in [(NOW + 30, NOW + 30), (NOW + 500, NOW + 60)] {
            let ahead = set(
                json!({ RISC_ACCOUNT_DISABLED: {"event_timestamp": stamp} }),
                |c| c["sub_id"] = iss_sub_of("carol"),
            );
            assert_eq!(
                effects(&ahead),
                [Effect::Subject {
                    sub: "carol".into(),
                    at
                }]
            );
        }
    }

    #[test]
    fn unknown_events_and_subjects_are_ignored_with_a_reason() {
        let verification = set(json!({ SSF_VERIFICATION: {"state": "x"} }), |_| {});
        assert_eq!(effects(&verification), [Effect::Nothing]);
        let unknown = set(json!({"https://example.test/event": {}}), |c| {
            c["sub_id"] = iss_sub_of("a")
        });
        assert_eq!(
            effects(&unknown),
            [Effect::Ignored("unsupported event type")]
        );
        let email = set(json!({ CAEP_CREDENTIAL_CHANGE: {} }), |c| {
            c["sub_id"] = json!({"format": "email", "email": "a@b.test"})
        });
        assert_eq!(
            effects(&email),
            [Effect::Ignored("unsupported subject format")]
        );
        let foreign =
            set(
                json!({ CAEP_CREDENTIAL_CHANGE: {} }),
                |c| {
                    c["sub_id"] =
                        json!({"format": "iss_sub", "iss": "https://other.test", "sub": "a"})
                },
            );
        assert_eq!(
            effects(&foreign),
            [Effect::Ignored("subject of another issuer")]
        );
        let none = set(json!({ CAEP_CREDENTIAL_CHANGE: {} }), |_| {});
        assert_eq!(effects(&none), [Effect::Ignored("no subject")]);
    }

    #[test]
    fn every_set_rule_has_its_err_code() {
        let code = |claims: Map<String, Value>| {
            security_events(&claims, &ssf_rules(), None, NOW)
                .unwrap_err()
                .code
        };
        let ok_events = json!({ SSF_VERIFICATION: {} });
        use SsfErrorCode::*;
        assert_eq!(
            code(set(ok_events.clone(), |c| c["iss"] = json!("https://x.test"))),
            InvalidIssuer
        );
        assert_eq!(
            code(set(ok_events.clone(), |c| c["aud"] = json!("other"))),
            InvalidAudience
        );
        let remove = |name: &'static str| {
            move |c: &mut Value| {
                c.as_object_mut().unwrap().remove(name);
            }
        };
        assert_eq!(code(set(ok_events.clone(), remove("iat"))), InvalidRequest);
        assert_eq!(code(set(ok_events.clone(), remove("jti"))), InvalidRequest);
        assert_eq!(code(set(json!({}), |_| {})), InvalidRequest);
        assert_eq!(code(set(json!("events"), |_| {})), InvalidRequest);
        assert_eq!(
            code(set(json!({ SSF_VERIFICATION: 1 }), |_| {})),
            InvalidRequest
        );
        assert_eq!(
            code(set(ok_events.clone(), |c| c["exp"] = json!(NOW - 61))),
            InvalidRequest
        );
        assert_eq!(
            code(set(ok_events.clone(), |c| c["iat"] = json!(NOW + 61))),
            InvalidRequest
        );
        assert!(security_events(&set(ok_events, |_| {}), &ssf_rules(), None, NOW).is_ok());
    }
}

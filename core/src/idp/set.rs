//! Shared Signals (RFC 8417 security event tokens, SSF 1.0, CAEP 1.0, RISC
//! 1.0): the SET rules, the subjects this worker maps, and what each event
//! revokes.

use super::Effect;
use crate::error::{SsfError, SsfErrorCode};
use crate::token::rules::Rules;
use crate::token::{audiences, numeric_date, string_claim, TokenId, MAX_NUMERIC_DATE};
use serde_json::{Map, Value};

/// CAEP: a session ended.
pub const CAEP_SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// CAEP: a credential (password, key) changed.
pub const CAEP_CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
/// RISC: every session of the account ended.
pub const RISC_SESSIONS_REVOKED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked";
/// OAuth Event Types 1.0 §3.3: every token issued for the account was
/// revoked. Google's Cross-Account Protection sends this URI.
pub const OAUTH_TOKENS_REVOKED: &str =
    "https://schemas.openid.net/secevent/oauth/event-type/tokens-revoked";
/// The same event under the RISC base URI, which no transmitter is known to
/// send; kept as an alias.
pub const RISC_TOKENS_REVOKED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/tokens-revoked";
/// An `event_timestamp` above this is in milliseconds (Okta's SSF examples),
/// not seconds: 10^12 seconds is beyond the year 30000, 10^12 ms is 2001.
pub const MILLISECOND_TIMESTAMPS_FROM: u64 = 1_000_000_000_000;
/// RISC: the account was disabled.
pub const RISC_ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
/// CAEP: the subject's assessed risk level changed (CAEP 1.0 §3.8). Acted
/// on only when `SSF_RISK_LEVEL_REVOKE` says from which level.
pub const CAEP_RISK_LEVEL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/risk-level-change";
/// SSF: the transmitter checks that the stream works; no effect.
pub const SSF_VERIFICATION: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/verification";

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

/// A CAEP risk level (CAEP 1.0 §3.8 `current_level`), in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RiskLevel {
    /// `LOW`.
    Low,
    /// `MEDIUM`.
    Medium,
    /// `HIGH`.
    High,
}

impl RiskLevel {
    /// `LOW`, `MEDIUM` or `HIGH`, in any case.
    pub fn parse(text: &str) -> Option<RiskLevel> {
        [
            ("low", RiskLevel::Low),
            ("medium", RiskLevel::Medium),
            ("high", RiskLevel::High),
        ]
        .into_iter()
        .find(|(name, _)| text.eq_ignore_ascii_case(name))
        .map(|(_, level)| level)
    }
}

/// What this deployment does with events beyond the SET rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy<'a> {
    /// `JWT_ISSUER`: an `iss_sub` subject must be one of its users.
    pub jwt_issuer: Option<&'a str>,
    /// `SSF_RISK_LEVEL_REVOKE`: a CAEP `risk-level-change` of a user or a
    /// session to this level or above ends its tokens. `None`: ignored.
    pub revoke_from_risk: Option<RiskLevel>,
}

fn ssf_error(code: SsfErrorCode, description: &'static str) -> SsfError {
    SsfError { code, description }
}

/// The SET rules (RFC 8417, SSF 1.0) over a signed token's claims: `iss` is
/// `SSF_ISSUER`, `aud` names one of `SSF_AUDIENCE`, `iat` and `jti` are
/// present, `events` is a non-empty object, `exp` (when present) is honoured
/// with the leeway. Then what each event revokes under `policy` (see
/// [`effect`]).
pub fn security_events(
    claims: &Map<String, Value>,
    rules: &Rules,
    policy: Policy<'_>,
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
            let stamp =
                event_timestamp(body).ok_or(request("event_timestamp is not a NumericDate"))?;
            let millis = stamp.is_some_and(|t| t > MILLISECOND_TIMESTAMPS_FROM);
            let at = stamp
                .map(|t| if millis { t / 1000 } else { t })
                .unwrap_or(iat)
                // The transmitter's clock, like its tokens' `iat`: taken as
                // it is up to the leeway ahead of ours.
                .min(now.saturating_add(rules.leeway));
            let subject = sub_id.or_else(|| body.get("subject"));
            let (effect, note) = effect(event_type, body, subject, policy, at);
            let note = if millis { Some(in_millis(note)) } else { note };
            Ok(SecurityEvent {
                event_type: event_type.clone(),
                effect,
                note,
            })
        })
        .collect::<Result<Vec<_>, SsfError>>()?;
    Ok(SecurityEvents { jti, events })
}

/// An event's `event_timestamp`: absent, or an integer NumericDate in
/// seconds or (above [`MILLISECOND_TIMESTAMPS_FROM`]) milliseconds. `None`
/// when it is neither.
fn event_timestamp(body: &Map<String, Value>) -> Option<Option<u64>> {
    match body.get("event_timestamp") {
        None => Some(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|n| *n <= MAX_NUMERIC_DATE.saturating_mul(1000))
            .map(Some),
        Some(_) => None,
    }
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

/// A subject identifier's format: `format` (RFC 9493), or the deprecated
/// `subject_type` that Google still sends (RISC 1.0, Compatibility), whose
/// `iss-sub` is `iss_sub`.
fn format(value: &Map<String, Value>) -> Option<&str> {
    let format = value
        .get("format")
        .or_else(|| value.get("subject_type"))?
        .as_str()?;
    Some(if format == "iss-sub" {
        "iss_sub"
    } else {
        format
    })
}

/// `iss_sub` (a user), or `complex` with `user` (`iss_sub`) and/or `session`
/// (`opaque`, whose `id` is the `sid`).
fn subject(value: Option<&Value>, jwt_issuer: Option<&str>) -> Result<Subject, &'static str> {
    let value = value.and_then(Value::as_object).ok_or("no subject")?;
    match format(value) {
        Some("iss_sub") => iss_sub(value, jwt_issuer).map(Subject::User),
        Some("complex") => {
            let user = match value.get("user").and_then(Value::as_object) {
                Some(user) if format(user) == Some("iss_sub") => {
                    iss_sub(user, jwt_issuer).map(Some)
                }
                Some(_) => Err("unsupported subject format"),
                None => Ok(None),
            };
            let session = value.get("session").and_then(Value::as_object);
            let sid = match session {
                Some(s) if format(s) == Some("opaque") => Some(
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

/// What one event (of `body`) revokes: CAEP `session-revoked` ends the named
/// session (or, without one, every token of the user); CAEP
/// `credential-change`, OAuth `tokens-revoked` (and its RISC alias) and RISC
/// `sessions-revoked` (deprecated for CAEP `session-revoked`, still sent)
/// and `account-disabled` end every token of the user (or, when only a
/// session is named, of that session); so does CAEP `risk-level-change` of
/// a `USER` or `SESSION` principal to `policy.revoke_from_risk` or above;
/// the SSF verification event does nothing; anything else is ignored.
///
/// A `complex` subject whose user part cannot be mapped (another format, or
/// another issuer) still ends its session, and the note says the user part
/// was left out.
pub fn effect(
    event_type: &str,
    body: &Map<String, Value>,
    subject_value: Option<&Value>,
    policy: Policy<'_>,
    at: u64,
) -> (Effect, Option<&'static str>) {
    let session_first = match event_type {
        SSF_VERIFICATION => return (Effect::Nothing, None),
        CAEP_SESSION_REVOKED => true,
        CAEP_CREDENTIAL_CHANGE
        | RISC_SESSIONS_REVOKED
        | OAUTH_TOKENS_REVOKED
        | RISC_TOKENS_REVOKED
        | RISC_ACCOUNT_DISABLED => false,
        CAEP_RISK_LEVEL_CHANGE => match risk_to_act_on(body, policy.revoke_from_risk) {
            Ok(()) => false,
            Err(why) => return (Effect::Ignored(why), None),
        },
        _ => return (Effect::Ignored("unsupported event type"), None),
    };
    match subject(subject_value, policy.jwt_issuer) {
        Err(why) => (Effect::Ignored(why), None),
        Ok(Subject::User(sub)) => (Effect::Subject { sub, at }, None),
        Ok(Subject::Session { sid, user }) => match user {
            Ok(Some(sub)) if !session_first => (Effect::Subject { sub, at }, None),
            Ok(_) => (Effect::Session { sid, at }, None),
            Err(why) => (Effect::Session { sid, at }, Some(user_left_out(why))),
        },
    }
}

/// `Ok` when a `risk-level-change` (CAEP 1.0 §3.8: `principal` and
/// `current_level` required) raises a user's or a session's risk to
/// `threshold` or above; else why it is ignored.
fn risk_to_act_on(
    body: &Map<String, Value>,
    threshold: Option<RiskLevel>,
) -> Result<(), &'static str> {
    let threshold =
        threshold.ok_or("risk-level-change not acted on (SSF_RISK_LEVEL_REVOKE unset)")?;
    let principal = body.get("principal").and_then(Value::as_str);
    if !principal
        .is_some_and(|p| p.eq_ignore_ascii_case("user") || p.eq_ignore_ascii_case("session"))
    {
        return Err("risk-level-change of a principal that is not a user or a session");
    }
    let level = body
        .get("current_level")
        .and_then(Value::as_str)
        .and_then(RiskLevel::parse)
        .ok_or("risk-level-change without a current_level")?;
    if level < threshold {
        return Err("risk level below SSF_RISK_LEVEL_REVOKE");
    }
    Ok(())
}

/// `note`, saying too that the event's timestamp was read as milliseconds.
fn in_millis(note: Option<&'static str>) -> &'static str {
    match note {
        None => "event_timestamp read as milliseconds",
        Some("user part ignored: subject of another issuer") => {
            "user part ignored: subject of another issuer; event_timestamp read as milliseconds"
        }
        Some("user part ignored: iss_sub subject without sub") => {
            "user part ignored: iss_sub subject without sub; event_timestamp read as milliseconds"
        }
        Some(_) => {
            "user part ignored: unsupported subject format; event_timestamp read as milliseconds"
        }
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

    fn idp_policy() -> Policy<'static> {
        Policy {
            jwt_issuer: Some("https://idp.test"),
            revoke_from_risk: None,
        }
    }

    fn iss_sub_of(sub: &str) -> Value {
        json!({"format": "iss_sub", "iss": "https://idp.test", "sub": sub})
    }

    fn effects(claims: &Map<String, Value>) -> Vec<Effect> {
        security_events(claims, &ssf_rules(), idp_policy(), NOW)
            .unwrap()
            .events
            .into_iter()
            .map(|event| event.effect)
            .collect()
    }

    #[test]
    fn a_set_issued_at_the_end_of_the_leeway_is_accepted_one_second_later_not() {
        let at = |iat: u64| {
            let claims = set(json!({ RISC_ACCOUNT_DISABLED: {} }), |c| {
                c["iat"] = json!(iat);
                c["sub_id"] = iss_sub_of("alice");
            });
            security_events(&claims, &ssf_rules(), idp_policy(), NOW).map(|_| ())
        };
        let leeway = ssf_rules().leeway;
        assert_eq!(at(NOW + leeway), Ok(()));
        assert_eq!(
            at(NOW + leeway + 1).unwrap_err().description,
            "SET issued in the future"
        );
    }

    #[test]
    fn a_complex_subject_names_its_parts_in_the_formats_it_maps() {
        let note_and_effect = |subject: Value| {
            let claims = set(json!({ CAEP_SESSION_REVOKED: {} }), |c| {
                c["sub_id"] = subject
            });
            let set = security_events(&claims, &ssf_rules(), idp_policy(), NOW).unwrap();
            (set.events[0].effect.clone(), set.events[0].note)
        };
        // A session part in a format other than opaque is not a sid.
        let other = json!({
            "format": "complex",
            "user": iss_sub_of("alice"),
            "session": {"format": "email", "id": "sess-1"},
        });
        assert_eq!(
            note_and_effect(other),
            (Effect::Ignored("unsupported subject format"), None)
        );
        // A user part without sub is left out, and the note says why.
        let no_sub = json!({
            "format": "complex",
            "user": {"format": "iss_sub", "iss": "https://idp.test"},
            "session": {"format": "opaque", "id": "sess-1"},
        });
        assert_eq!(
            note_and_effect(no_sub),
            (
                Effect::Session {
                    sid: "sess-1".into(),
                    at: NOW - 2
                },
                Some("user part ignored: iss_sub subject without sub")
            )
        );
    }

    /// Google's Cross-Account Protection: OAuth Event Types' URI, the
    /// event's own `subject` with the deprecated `subject_type` (`iss-sub`).
    #[test]
    fn googles_tokens_revoked_ends_every_token_of_the_user() {
        let google = json!({"subject_type": "iss-sub", "iss": "https://idp.test", "sub": "alice"});
        for event in [OAUTH_TOKENS_REVOKED, RISC_TOKENS_REVOKED] {
            let claims = set(
                json!({ event: {"subject": google.clone(), "reason": "user"} }),
                |_| {},
            );
            assert_eq!(
                effects(&claims),
                vec![Effect::Subject {
                    sub: "alice".into(),
                    at: NOW - 2
                }],
                "{event}"
            );
        }
        let other = json!({"subject_type": "iss-sub", "iss": "https://other.test", "sub": "alice"});
        let claims = set(json!({ OAUTH_TOKENS_REVOKED: {"subject": other} }), |_| {});
        assert_eq!(
            effects(&claims),
            vec![Effect::Ignored("subject of another issuer")]
        );
        let claims = set(json!({ OAUTH_TOKENS_REVOKED: {} }), |c| {
            c["sub_id"] = json!({"subject_type": "id_token_claims", "email": "a@b.c"});
        });
        assert_eq!(
            effects(&claims),
            vec![Effect::Ignored("unsupported subject format")]
        );
    }

    /// Okta's SSF examples carry `event_timestamp` in milliseconds.
    #[test]
    fn an_event_timestamp_in_milliseconds_is_read_as_such_and_noted() {
        let event = |stamp: u64| {
            let claims = set(
                json!({ RISC_ACCOUNT_DISABLED: {"event_timestamp": stamp} }),
                |c| c["sub_id"] = iss_sub_of("alice"),
            );
            let set = security_events(&claims, &ssf_rules(), idp_policy(), NOW).unwrap();
            let event = set.events.into_iter().next().unwrap();
            (event.effect, event.note)
        };
        let alice = |at| Effect::Subject {
            sub: "alice".into(),
            at,
        };
        let ms = Some("event_timestamp read as milliseconds");
        assert_eq!(event((NOW - 30) * 1000 + 999), (alice(NOW - 30), ms));
        assert_eq!(event(NOW - 30), (alice(NOW - 30), None), "seconds");
        // Milliseconds ahead are held to the leeway like seconds.
        assert_eq!(event((NOW + 3_600) * 1000), (alice(NOW + 60), ms));
        // The boundary: 10^12 itself is seconds (then held to the leeway).
        assert_eq!(event(MILLISECOND_TIMESTAMPS_FROM), (alice(NOW + 60), None));
        assert_eq!(
            event(MILLISECOND_TIMESTAMPS_FROM + 1),
            (alice(MILLISECOND_TIMESTAMPS_FROM / 1000), ms)
        );
        // With a user part left out, the note says both.
        let claims = set(
            json!({ CAEP_SESSION_REVOKED: {"event_timestamp": (NOW - 5) * 1000} }),
            |c| {
                c["sub_id"] = json!({
                    "format": "complex",
                    "user": {"format": "email", "email": "carol@example.com"},
                    "session": {"format": "opaque", "id": "sess-1"},
                })
            },
        );
        let set = security_events(&claims, &ssf_rules(), idp_policy(), NOW).unwrap();
        assert_eq!(
            set.events[0].note,
            Some("user part ignored: unsupported subject format; event_timestamp read as milliseconds")
        );
        assert_eq!(
            set.events[0].effect,
            Effect::Session {
                sid: "sess-1".into(),
                at: NOW - 5
            }
        );
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
                let set = security_events(&claims, &ssf_rules(), idp_policy(), NOW).unwrap();
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
            security_events(&claims, &ssf_rules(), Policy::default(), NOW)
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
        assert!(security_events(
            &set(ok_events, |_| {}),
            &ssf_rules(),
            Policy::default(),
            NOW
        )
        .is_ok());
    }

    #[test]
    fn a_risk_level_change_is_acted_on_only_from_the_configured_level() {
        let risk = |level: &str, principal: &str| {
            let body =
                json!({"principal": principal, "current_level": level, "previous_level": "LOW"});
            set(json!({ CAEP_RISK_LEVEL_CHANGE: body }), |c| {
                c["sub_id"] = iss_sub_of("alice")
            })
        };
        let under = |threshold: Option<RiskLevel>, claims: &Map<String, Value>| {
            let policy = Policy {
                revoke_from_risk: threshold,
                ..idp_policy()
            };
            let set = security_events(claims, &ssf_rules(), policy, NOW).unwrap();
            set.events[0].effect.clone()
        };
        let alice = Effect::Subject {
            sub: "alice".into(),
            at: NOW - 2,
        };
        let high = Some(RiskLevel::High);
        let medium = Some(RiskLevel::Medium);
        assert_eq!(under(high, &risk("HIGH", "USER")), alice);
        assert_eq!(under(high, &risk("high", "session")), alice, "any case");
        assert_eq!(under(medium, &risk("HIGH", "USER")), alice);
        assert_eq!(under(medium, &risk("MEDIUM", "USER")), alice);
        let ignored = |why| Effect::Ignored(why);
        assert_eq!(
            under(high, &risk("MEDIUM", "USER")),
            ignored("risk level below SSF_RISK_LEVEL_REVOKE")
        );
        assert_eq!(
            under(medium, &risk("LOW", "USER")),
            ignored("risk level below SSF_RISK_LEVEL_REVOKE")
        );
        assert_eq!(
            under(high, &risk("HIGH", "DEVICE")),
            ignored("risk-level-change of a principal that is not a user or a session")
        );
        assert_eq!(
            under(high, &risk("SEVERE", "USER")),
            ignored("risk-level-change without a current_level")
        );
        assert_eq!(
            under(None, &risk("HIGH", "USER")),
            ignored("risk-level-change not acted on (SSF_RISK_LEVEL_REVOKE unset)")
        );
        assert_eq!(RiskLevel::parse("Low"), Some(RiskLevel::Low));
        assert!(RiskLevel::Low < RiskLevel::Medium && RiskLevel::Medium < RiskLevel::High);
    }
}

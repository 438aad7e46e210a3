//! Typed log events: every rejection, revocation and restore becomes one
//! [`Event`], which the worker writes as one JSON line. Never a token.

use crate::error::Rejection;
use crate::revocation::RevokeReason;
use crate::token::TokenId;
use serde_json::{json, Value};

/// What happened: the `decision` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The request was answered with an error.
    Reject,
    /// Monitor mode (`ENFORCE=false`): it would have been rejected, and was
    /// forwarded.
    WouldReject,
    /// A token, subject or session was revoked.
    Revoke,
    /// A revocation was removed.
    Restore,
    /// A request was accepted and changed nothing: an identity provider's
    /// event type or subject this worker does not act on, a stream check, or
    /// a sign-out of a token already revoked.
    Ignored,
}

impl Verdict {
    /// The name in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Reject => "reject",
            Verdict::WouldReject => "would_reject",
            Verdict::Revoke => "revoke",
            Verdict::Restore => "restore",
            Verdict::Ignored => "ignored",
        }
    }
}

/// Why: the `reason` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The rejection (its short reason, see [`Rejection::reason`]).
    Rejected(Rejection),
    /// What kind of revocation.
    Revoked(RevokeReason),
    /// An admin removed a revocation.
    Restored,
    /// Why an accepted event did nothing.
    Ignored(&'static str),
}

impl Reason {
    /// The name in log lines.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::Rejected(rejection) => rejection.reason(),
            Reason::Revoked(reason) => reason.as_str(),
            Reason::Restored => "admin",
            Reason::Ignored(why) => why,
        }
    }
}

/// A decision worth a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub decision: Verdict,
    /// Why.
    pub reason: Reason,
    /// The token ID concerned, when known. Never the token.
    pub jti: Option<String>,
    /// The subject, for subject-wide sign-outs and restores.
    pub sub: Option<String>,
    /// The session, for session-wide sign-outs and logouts.
    pub sid: Option<String>,
    /// The identity provider's event type(s), for logouts and SETs.
    pub event_type: Option<String>,
    /// Anything else the line should say, for example the part of an
    /// event's subject that was left out.
    pub note: Option<&'static str>,
    /// The subject identifier format a Global Token Revocation call used
    /// (`iss_sub`, `opaque` or `email`).
    pub subject_format: Option<&'static str>,
    /// The route's name (see [`crate::http::routes::Route::name`]).
    pub route: &'static str,
}

impl Event {
    /// A request answered with `rejection` (or, in monitor mode, forwarded
    /// all the same: `enforced == false`).
    pub fn rejected(
        rejection: &Rejection,
        jti: Option<&TokenId>,
        route: &'static str,
        enforced: bool,
    ) -> Event {
        Event {
            decision: if enforced {
                Verdict::Reject
            } else {
                Verdict::WouldReject
            },
            reason: Reason::Rejected(rejection.clone()),
            jti: jti.map(TokenId::to_string),
            sub: None,
            sid: None,
            event_type: None,
            note: None,
            subject_format: None,
            route,
        }
    }

    /// A revocation written.
    pub fn revoked(
        reason: RevokeReason,
        jti: Option<&TokenId>,
        sub: Option<String>,
        route: &'static str,
    ) -> Event {
        Event {
            decision: Verdict::Revoke,
            reason: Reason::Revoked(reason),
            jti: jti.map(TokenId::to_string),
            sub,
            sid: None,
            event_type: None,
            note: None,
            subject_format: None,
            route,
        }
    }

    /// A request accepted that changed nothing, and why.
    pub fn ignored(jti: Option<&TokenId>, why: &'static str, route: &'static str) -> Event {
        Event {
            decision: Verdict::Ignored,
            reason: Reason::Ignored(why),
            jti: jti.map(TokenId::to_string),
            sub: None,
            sid: None,
            event_type: None,
            note: None,
            subject_format: None,
            route,
        }
    }

    /// A revocation removed by the admin `by`.
    pub fn restored(jti: &TokenId, by: Option<String>, route: &'static str) -> Event {
        Event {
            decision: Verdict::Restore,
            reason: Reason::Restored,
            jti: Some(jti.to_string()),
            sub: by,
            sid: None,
            event_type: None,
            note: None,
            subject_format: None,
            route,
        }
    }

    /// The JSON log line for this event, with the request's latency.
    pub fn log_line(&self, latency_ms: u64) -> Value {
        let mut line = json!({
            "decision": self.decision.as_str(),
            "reason": self.reason.as_str(),
            "jti": self.jti,
            "route": self.route,
            "latency_ms": latency_ms,
        });
        for (name, value) in [
            ("sub", &self.sub),
            ("sid", &self.sid),
            ("event_type", &self.event_type),
        ] {
            if let Some(value) = value {
                line[name] = value.clone().into();
            }
        }
        for (name, value) in [("note", self.note), ("subject_format", self.subject_format)] {
            if let Some(value) = value {
                line[name] = value.into();
            }
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TokenError;

    #[test]
    fn log_lines_name_decision_reason_and_route() {
        let id = TokenId::from_reference("t-1").unwrap();
        let rejected = Event::rejected(&TokenError::Revoked.into(), Some(&id), "proxy", true);
        assert_eq!(
            rejected.log_line(3),
            json!({"decision": "reject", "reason": "revoked", "jti": "t-1", "route": "proxy", "latency_ms": 3})
        );
        let monitored = Event::rejected(&TokenError::Missing.into(), None, "proxy", false);
        assert_eq!(monitored.log_line(0)["decision"], "would_reject");
        assert_eq!(monitored.log_line(0)["jti"], Value::Null);
        let revoked = Event::revoked(
            RevokeReason::SignOutGlobal,
            Some(&id),
            Some("alice".into()),
            "DELETE /api/tokens",
        );
        let line = revoked.log_line(1);
        assert_eq!(
            (line["decision"].as_str(), line["reason"].as_str()),
            (Some("revoke"), Some("sign_out_global"))
        );
        assert_eq!(line["sub"], "alice");
        let restored = Event::restored(&id, Some("root".into()), "DELETE /api/revocations/{jti}");
        assert_eq!(restored.log_line(0)["reason"], "admin");
        assert_eq!(restored.log_line(0)["decision"], "restore");
    }
}

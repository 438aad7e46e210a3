//! `POST /ssf/events` (RFC 8935 push delivery of RFC 8417 security event
//! tokens): a Shared Signals transmitter reports CAEP and RISC events. The
//! poll receiver (RFC 8936, `poll`) hands each polled SET to the same
//! [`receive`]. The
//! SET is verified with the transmitter's own keys (`SSF_JWKS`,
//! `SSF_JWKS_URL`), never the access-token keys, then with the SET rules
//! ([`crate::idp::security_events`]). Each event becomes a subject or
//! session cutoff, or is accepted and logged as ignored.

use super::backchannel::BY_IDP;
use super::steps::{cut_off, cut_off_all};
use super::{fail, Context, Done, Failure, Runtime};
use crate::config::SsfConfig;
use crate::error::{Rejection, SsfError, SsfErrorCode, TokenError};
use crate::http::reply::Reply;
use crate::http::request::RequestHead;
use crate::http::routes::MAX_BODY;
use crate::idp::{self, Effect};
use crate::keys::KeyFamily;
use crate::log::{Event, Reason, Verdict};
use crate::revocation::{CutoffKind, RevokeReason};
use crate::token::{self, TokenId};

/// The media type of a pushed SET (RFC 8935 §2).
const SET_MEDIA_TYPE: &str = "application/secevent+jwt";

fn invalid(description: &'static str) -> SsfError {
    SsfError {
        code: SsfErrorCode::InvalidRequest,
        description,
    }
}

/// The SET of a `application/secevent+jwt` body of at most 16 KiB.
fn set_body<'a>(head: &RequestHead, body: Option<&'a [u8]>) -> Result<&'a str, SsfError> {
    let media = head
        .header("content-type")
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    if !media.is_some_and(|media| media.eq_ignore_ascii_case(SET_MEDIA_TYPE)) {
        return Err(invalid("Content-Type must be application/secevent+jwt"));
    }
    let body = body
        .filter(|body| body.len() <= MAX_BODY)
        .ok_or(invalid("the body is missing or over 16 KiB"))?;
    let text = std::str::from_utf8(body).map_err(|_| invalid("the body is not a SET"))?;
    Ok(text.trim_matches([' ', '\t', '\r', '\n']))
}

/// True for an unsecured JWT (`alg: none` in any spelling, RFC 7519 §6),
/// whatever its signature segment holds: its header is read only to name
/// the refusal, never to verify anything.
fn is_unsecured(raw: &str) -> bool {
    let Some(header) = raw.split('.').next() else {
        return false;
    };
    let header = crate::primitives::base64url_decode(header)
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    header
        .as_ref()
        .and_then(|header| header.get("alg"))
        .and_then(serde_json::Value::as_str)
        .is_some_and(|alg| alg.eq_ignore_ascii_case("none"))
}

/// A token error as RFC 8935 names it: the key or signature, or the request.
fn token_error(e: TokenError) -> SsfError {
    let code = match e {
        TokenError::AlgorithmNotAllowed
        | TokenError::ForbiddenHeader
        | TokenError::UnknownKey
        | TokenError::BadSignature => SsfErrorCode::InvalidKey,
        _ => SsfErrorCode::InvalidRequest,
    };
    SsfError {
        code,
        description: e.description(),
    }
}

pub(super) async fn events<R: Runtime>(
    head: &RequestHead,
    body: Option<&[u8]>,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    // Served only with a receiver configured (see Config::serves).
    let Some(ssf) = &cx.config.ssf else {
        return Err(fail(invalid("no receiver is configured")));
    };
    let raw = set_body(head, body).map_err(fail)?;
    let event = receive(raw, ssf, cx).await?;
    Ok(Done::Answered {
        reply: Reply::empty(202),
        event: Some(event),
    })
}

/// One SET, pushed (RFC 8935) or polled (RFC 8936): verified with the
/// transmitter's keys, checked with the SET rules, and each event's effect
/// stored. `Ok` only once every effect is stored, with the log line; an
/// unacceptable SET is [`Rejection::Ssf`]; a store or key set that cannot
/// answer is any other rejection, and the SET may come again.
pub(super) async fn receive<R: Runtime>(
    raw: &str,
    ssf: &SsfConfig,
    cx: &Context<'_, R>,
) -> Result<Event, Failure> {
    if is_unsecured(raw) {
        // RFC 8935 §2.3: a SET signed with no key has an unacceptable key.
        let description = TokenError::AlgorithmNotAllowed.description();
        return Err(fail(SsfError {
            code: SsfErrorCode::InvalidKey,
            description,
        }));
    }
    let keys = transmitter_keys(ssf, cx);
    let verifier = cx.rt.verifier();
    let algorithms = &ssf.rules.algorithms;
    let signed = match token::verify_signature(raw, algorithms, &keys, verifier, cx.now).await {
        Ok(signed) => signed,
        Err(Rejection::Token(e)) => return Err(fail(token_error(e))),
        Err(other) => return Err(fail(other)),
    };
    let policy = idp::Policy {
        jwt_issuer: cx.config.rules.issuer.as_deref(),
        revoke_from_risk: ssf.revoke_from_risk,
    };
    let set = idp::security_events(&signed.claims, &ssf.rules, policy, cx.now).map_err(fail)?;

    let jti = TokenId::from_reference(&set.jti);
    let mut event = Event::revoked(RevokeReason::SecurityEvent, jti.as_ref(), None, cx.route);
    let types: Vec<&str> = set.events.iter().map(|e| e.event_type.as_str()).collect();
    event.event_type = Some(types.join(" "));
    let mut acted = false;
    let mut ignored = None;
    for security_event in &set.events {
        if let Some(note) = security_event.note {
            event.note.get_or_insert(note);
        }
        match &security_event.effect {
            Effect::Subject { sub, at } => {
                cut_off(sub, None, BY_IDP.into(), *at, cx).await?;
                event.sub.get_or_insert_with(|| sub.clone());
                acted = true;
            }
            Effect::Session { sid, at } => {
                cut_off_all(CutoffKind::Session, sid, BY_IDP.into(), *at, cx).await?;
                event.sid.get_or_insert_with(|| sid.clone());
                acted = true;
            }
            Effect::Nothing => {
                ignored.get_or_insert("verification event");
            }
            Effect::Ignored(why) => {
                ignored.get_or_insert(*why);
            }
        }
    }
    if !acted {
        event.decision = Verdict::Ignored;
        event.reason = Reason::Ignored(ignored.unwrap_or("no effect"));
    }
    Ok(event)
}

/// The transmitter's keys: `SSF_JWKS`, then `SSF_JWKS_URL`.
fn transmitter_keys<'a, R: Runtime>(
    ssf: &'a SsfConfig,
    cx: &'a Context<'_, R>,
) -> KeyFamily<'a, R::Fetcher> {
    cx.keys(&ssf.keys, ssf.jwks_url.as_deref(), cx.rt.ssf_remote_keys())
}

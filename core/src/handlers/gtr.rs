//! `POST` on `GTR_PATH`: Global Token Revocation
//! (draft-parecki-oauth-global-token-revocation-05, "GTR" below). An
//! identity provider (Okta's Universal Logout) or an incident-response tool
//! names a user; every token of that user issued until now is refused at
//! every location, as after an admin's sign-out of the user.
//!
//! - Who calls (GTR §3.2 "MUST also be authenticated"), decided first as
//!   Okta documents the order (401 and 403 before 400): a signed assertion
//!   (`typ: global-token-revocation+jwt`, verified with `GTR_JWKS` or
//!   `GTR_JWKS_URL`, `GTR_ISSUER` and `GTR_AUDIENCE`, used once), or an
//!   access token with one of `ADMIN_ROLES`.
//! - Whom ([`crate::idp::gtr::subject`]): `iss_sub`, `opaque`, or `email`
//!   with `SUBJECT_EMAIL_CLAIM`. Anything else is `400` (GTR §3.4.2).
//! - An assertion is claimed as soon as it passes (its `jti` recorded as
//!   used, decided by the journal when one is bound): of two calls with one
//!   assertion, one goes on, the other is a `401`. With the journal bound
//!   but unreachable, the call is a `503`.
//! - The effect: a subject cutoff (or an email cutoff) at now plus
//!   `CUTOFF_SKEW_SECONDS`, written like `scope=global`, through the journal
//!   when one is bound.
//! - `204` (GTR §3.4.1) once stored; calling again is harmless. With
//!   `GTR_FORWARD_URL`, the same body is forwarded to the origin's own
//!   endpoint after the cutoff is stored, and a forward that fails is `422`
//!   (GTR §3.4.2), the edge cutoff standing.
//! - Never `404` (GTR §3.4.2 "User Not Found"): the edge does not know the
//!   origin's users, and a cutoff for a name nobody holds is harmless.

use super::steps::{caller_name, cut_off, cut_off_all, edge_cutoff, record, require_admin, Target};
use super::{fail, Context, Done, Failure, Runtime};
use crate::config::{AssertionConfig, GtrConfig, GtrForward};
use crate::error::{GtrError, Rejection, StoreError, TokenError, VerifyError};
use crate::http::reply::Reply;
use crate::http::request::RequestHead;
use crate::http::routes::MAX_BODY;
use crate::idp::gtr::{self, Accepted, Assertion, Subject};
use crate::keys::{Alg, Key, KeyKind, KeyLookup, Outbound, Post};
use crate::log::Event;
use crate::revocation::{CutoffKind, RevokeReason};
use crate::token::{self, VerifiedToken};
use std::rc::Rc;

/// How long the forward to `GTR_FORWARD_URL` may take.
pub const FORWARD_TIMEOUT_MS: u64 = 10_000;

/// Who called.
enum Caller {
    /// A signed assertion that passed every rule, claimed by this call.
    Assertion(Assertion),
    /// An unrevoked access token with an admin role.
    Admin(VerifiedToken),
}

pub(super) async fn revoke_user<R: Runtime>(
    head: &RequestHead,
    body: Option<&[u8]>,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    // Served only with GTR_PATH set (see Config::serves).
    let Some(gtr) = &cx.config.gtr else {
        return Err(fail(GtrError::BadRequest("no endpoint is configured")));
    };
    let caller = authenticate(head, gtr, cx).await?;
    let body = body
        .filter(|body| body.len() <= MAX_BODY)
        .ok_or(GtrError::BadRequest("the body is missing or over 16 KiB"))
        .map_err(fail)?;
    let accepted = Accepted {
        issuers: &gtr.subject_issuers,
        email: cx.config.email_claim.is_some(),
    };
    let named = gtr::subject(body, accepted).map_err(fail)?;

    let at = edge_cutoff(cx, None);
    // The log line names the assertion used (its recorded name), or the
    // admin as `by` does.
    let (by, used) = match &caller {
        Caller::Assertion(assertion) => (BY_ASSERTION.to_owned(), Some(&assertion.used)),
        Caller::Admin(token) => (caller_name(token), None),
    };
    let mut event = Event::revoked(RevokeReason::GlobalTokenRevocation, used, None, cx.route);
    event.subject_format = Some(named.format);
    match &named.subject {
        Subject::Sub(sub) => {
            cut_off(sub, None, by, at, cx).await?;
            event.sub = Some(sub.clone());
        }
        // The address stays out of the log line; `GET /api/cutoffs?kind=email`
        // lists it for admins.
        Subject::Email(email) => cut_off_all(CutoffKind::Email, email, by, at, cx).await?,
    }
    if let Some(forward) = &gtr.forward {
        if !forwarded(forward, body, cx).await {
            event.note = Some("the forward to GTR_FORWARD_URL failed; the edge cutoff stands");
            let reply = Rejection::Gtr(GtrError::NotForwarded).reply(cx.render);
            return Ok(Done::Answered {
                reply,
                event: Some(event),
            });
        }
    }
    Ok(Done::Answered {
        reply: Reply::empty(204),
        event: Some(event),
    })
}

/// Who a cutoff written from an assertion names as `by`.
const BY_ASSERTION: &str = "gtr-assertion";

/// The caller: an assertion when its header says it is one and assertions
/// are configured, else an admin access token. The header's `typ` only
/// chooses the rules; nothing is trusted before the signature checks.
async fn authenticate<R: Runtime>(
    head: &RequestHead,
    gtr: &GtrConfig,
    cx: &Context<'_, R>,
) -> Result<Caller, Failure> {
    let raw = token::extract(head)
        .map_err(fail)?
        .ok_or(fail(TokenError::Missing))?;
    match &gtr.assertions {
        Some(rules) if gtr::is_assertion_type(token::unverified_typ(raw).as_deref()) => {
            assertion(raw, rules, cx).await.map(Caller::Assertion)
        }
        _ => require_admin(head, cx).await.map(Caller::Admin),
    }
}

/// A signed assertion that passes every rule, claimed now: its `jti` is
/// recorded as used before anything else is written, so that of two calls
/// with one assertion (in one isolate, or through the journal at any
/// location) only one goes on. Spent from here on, whatever follows: a
/// refused body or a failed write is answered, and the identity provider
/// mints a fresh assertion for its next call.
async fn assertion<R: Runtime>(
    raw: &str,
    config: &AssertionConfig,
    cx: &Context<'_, R>,
) -> Result<Assertion, Failure> {
    let keys = AssertionKeys { config, cx };
    let algorithms = &config.rules.algorithms;
    let verifier = cx.rt.verifier();
    let signed = match token::verify_signature(raw, algorithms, &keys, verifier, cx.now).await {
        Ok(signed) => signed,
        Err(Rejection::Token(e)) => return Err(fail(GtrError::BadAssertion(e.description()))),
        // The keys or the crypto could not answer: 503, never a refusal.
        Err(other) => return Err(fail(other)),
    };
    let assertion = gtr::assertion(&signed, &config.rules, cx.now).map_err(fail)?;
    let target = Target {
        id: assertion.used.clone(),
        exp: Some(assertion.exp),
        sub: assertion.sub.clone(),
    };
    let used = record(
        &target,
        RevokeReason::AssertionUsed,
        BY_ASSERTION.into(),
        cx,
    );
    let id = Some(target.id);
    match cx.rt.store().claim(&assertion.used, &used).await {
        Ok(true) => Ok(assertion),
        Ok(false) => Err((GtrError::BadAssertion("assertion already used").into(), id)),
        Err(_) => Err((StoreError::Unavailable.into(), id)),
    }
}

/// An assertion's keys: `GTR_JWKS`, then `GTR_JWKS_URL`, then (with
/// `GTR_USE_ACCESS_TOKEN_KEYS`) the access-token keys, never a shared
/// secret.
struct AssertionKeys<'a, 'c, R> {
    config: &'a AssertionConfig,
    cx: &'a Context<'c, R>,
}

impl<R: Runtime> KeyLookup for AssertionKeys<'_, '_, R> {
    async fn key(
        &self,
        alg: Alg,
        kid: Option<&str>,
        now: u64,
    ) -> Result<Option<Rc<Key>>, VerifyError> {
        let (config, cx) = (self.config, self.cx);
        let own = cx.keys(
            &config.keys,
            config.jwks_url.as_deref(),
            cx.rt.gtr_remote_keys(),
        );
        let key = own.key(alg, kid, now).await?;
        if key.is_some() || !config.access_token_keys {
            return Ok(key);
        }
        let lent = cx.key(alg, kid, now).await?;
        Ok(lent.filter(|key| key.kind != KeyKind::Secret))
    }
}

/// True when the origin's own endpoint answered the forwarded call with a
/// 2xx.
async fn forwarded<R: Runtime>(forward: &GtrForward, body: &[u8], cx: &Context<'_, R>) -> bool {
    let post = Post {
        url: &forward.url,
        bearer: &forward.token,
        content_type: "application/json",
        body,
        timeout_ms: FORWARD_TIMEOUT_MS,
        // Only the status counts.
        read_limit: 0,
    };
    matches!(cx.rt.fetcher().post(&post).await, Ok((200..=299, _)))
}

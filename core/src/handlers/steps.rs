//! The steps every route family shares, written once: who is the caller,
//! is the token revoked, is the caller an admin, what does a reference name,
//! write a revocation, write a cutoff.

use super::{fail, Context, Done, Failure, Runtime};
use crate::error::{Rejection, RequestError, StoreError, TokenError};
use crate::http::reply::Reply;
use crate::http::request::RequestHead;
use crate::log::Event;
use crate::revocation::{Cutoff, CutoffKind, Names, Record, RevokeReason};
use crate::token::{self, Reference, TokenId, VerifiedToken};

/// Verifies a token, from the isolate's cache when it was seen before.
pub(super) async fn verified<R: Runtime>(
    raw: &str,
    cx: &Context<'_, R>,
) -> Result<VerifiedToken, Rejection> {
    let cache = cx.rt.cache();
    if let Some(hit) = cache.get(raw, cx.now) {
        return Ok(hit);
    }
    let rules = &cx.config.rules;
    let token = token::verify(raw, rules, cx, cx.rt.verifier(), cx.now).await?;
    cache.insert(raw, &token, rules.rejected_from(token.claims().exp));
    Ok(token)
}

/// Extracts and verifies the caller's token. `None` when there is no token.
pub(super) async fn caller<R: Runtime>(
    head: &RequestHead,
    cx: &Context<'_, R>,
) -> Result<Option<VerifiedToken>, Failure> {
    let Some(raw) = token::extract(head).map_err(fail)? else {
        return Ok(None);
    };
    verified(raw, cx).await.map(Some).map_err(fail)
}

/// The caller's token, which must be present and valid. Whether it is
/// revoked is not asked here: a route acting on the caller's behalf takes
/// [`live_caller`] instead.
async fn required_caller<R: Runtime>(
    head: &RequestHead,
    cx: &Context<'_, R>,
) -> Result<VerifiedToken, Failure> {
    caller(head, cx)
        .await?
        .ok_or_else(|| fail(TokenError::Missing))
}

/// The caller's token, present, valid and not revoked: the proxy's own
/// check, for every route that acts on the caller's behalf. A revoked caller
/// is `401 token revoked` and can change nothing.
pub(super) async fn live_caller<R: Runtime>(
    head: &RequestHead,
    cx: &Context<'_, R>,
) -> Result<VerifiedToken, Failure> {
    let token = required_caller(head, cx).await?;
    ensure_not_revoked(&token, cx).await?;
    Ok(token)
}

/// Is the token revoked: by its ID, or the cutoff of its subject, its
/// session or (with `SUBJECT_EMAIL_CLAIM`) its email address? One store
/// check looks them all up. `Some(why)` when revoked:
/// [`TokenError::Revoked`], or [`TokenError::UnreadableEntry`] when an entry
/// we cannot read decided it. The check failing is an error, never a pass.
pub(super) async fn revocation_of<R: Runtime>(
    token: &VerifiedToken,
    cx: &Context<'_, R>,
) -> Result<Option<TokenError>, StoreError> {
    let claims = token.claims();
    let email = cx
        .config
        .email_claim
        .as_deref()
        .and_then(|claim| claims.all.get(claim)?.as_str())
        .map(str::to_ascii_lowercase);
    let names = Names {
        sub: claims.sub.as_deref(),
        sid: claims.sid.as_deref(),
        email: email.as_deref(),
    };
    let found = cx.rt.store().check(token.id(), names).await?;
    let why = |unreadable: bool| {
        if unreadable {
            TokenError::UnreadableEntry
        } else {
            TokenError::Revoked
        }
    };
    if let Some(record) = found.record {
        return Ok(Some(why(record.is_unreadable())));
    }
    let cutoffs = [found.subject, found.session, found.email];
    Ok(cutoffs
        .into_iter()
        .flatten()
        .find(|cutoff| cutoff.revokes(claims.iat, token.id()))
        .map(|cutoff| why(cutoff.is_unreadable())))
}

/// Rejects a revoked token (401) or an unanswerable store (503).
pub(super) async fn ensure_not_revoked<R: Runtime>(
    token: &VerifiedToken,
    cx: &Context<'_, R>,
) -> Result<(), Failure> {
    let id = Some(token.id().clone());
    match revocation_of(token, cx).await {
        Ok(None) => Ok(()),
        Ok(Some(why)) => Err((why.into(), id)),
        Err(e) => Err((e.into(), id)),
    }
}

/// Revokes the caller's own token: `scope=local` and `DELETE /v2.0/tokens`.
/// A caller already revoked (by its ID or by a cutoff) is a retried
/// sign-out: answered `204` like the first, with nothing written and an
/// `ignored` log line. Every other scope and route refuses a revoked caller.
pub(super) async fn revoke_own_token<R: Runtime>(
    head: &RequestHead,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    let token = required_caller(head, cx).await?;
    match ensure_not_revoked(&token, cx).await {
        Ok(()) => {}
        Err((Rejection::Token(TokenError::Revoked | TokenError::UnreadableEntry), _)) => {
            let event = Event::ignored(Some(token.id()), ALREADY_REVOKED, cx.route);
            return Ok(Done::Answered {
                reply: Reply::empty(204),
                event: Some(event),
            });
        }
        Err(failure) => return Err(failure),
    }
    let reason = RevokeReason::SignOut;
    let id = revoke(Target::of(&token), reason, caller_name(&token), cx).await?;
    Ok(Done::revoked(Reply::empty(204), reason, &id, cx))
}

/// The `reason` of a sign-out that found its token already revoked.
pub(super) const ALREADY_REVOKED: &str = "already revoked";

/// A valid, unrevoked caller holding one of `ADMIN_ROLES`.
pub(super) async fn require_admin<R: Runtime>(
    head: &RequestHead,
    cx: &Context<'_, R>,
) -> Result<VerifiedToken, Failure> {
    let token = live_caller(head, cx).await?;
    let roles = token.claims().roles(&cx.config.roles_claim);
    let admin = roles
        .iter()
        .any(|role| cx.config.admin_roles.iter().any(|admin| admin == role));
    if !admin {
        return Err((RequestError::Forbidden.into(), Some(token.id().clone())));
    }
    Ok(token)
}

/// What to revoke: its ID and what is known about it.
pub(super) struct Target {
    pub(super) id: TokenId,
    pub(super) exp: Option<u64>,
    pub(super) sub: Option<String>,
}

impl Target {
    pub(super) fn of(token: &VerifiedToken) -> Target {
        Target {
            id: token.id().clone(),
            exp: Some(token.claims().exp),
            sub: token.claims().sub.clone(),
        }
    }
}

/// A `tokenId` or `tokenReferenceId` (see [`Reference`]): a JWT must
/// verify and be unexpired, a token cut short is refused, anything else is a
/// bare token ID. `Ok(None)` means "not a revocable token".
pub(super) async fn resolve_target<R: Runtime>(
    reference: &str,
    cx: &Context<'_, R>,
) -> Result<Option<Target>, Failure> {
    match token::reference(reference) {
        Reference::Jwt => match verified(reference, cx).await {
            Ok(token) => Ok(Some(Target::of(&token))),
            Err(Rejection::Token(_)) => Ok(None),
            Err(other) => Err(fail(other)),
        },
        Reference::BrokenJwt => Ok(None),
        Reference::Id => Ok(TokenId::from_reference(reference).map(|id| Target {
            id,
            exp: None,
            sub: None,
        })),
    }
}

/// The record a revocation of `target` stores, written now on this route.
pub(super) fn record<R>(
    target: &Target,
    reason: RevokeReason,
    by: String,
    cx: &Context<'_, R>,
) -> Record {
    Record {
        jti: target.id.to_string(),
        revoked_at: cx.now,
        exp: target.exp,
        sub: target.sub.clone(),
        reason: reason.as_str().into(),
        by,
        route: cx.route.into(),
    }
}

/// Writes the revocation. A failed write is a 503, never a success.
pub(super) async fn revoke<R: Runtime>(
    target: Target,
    reason: RevokeReason,
    by: String,
    cx: &Context<'_, R>,
) -> Result<TokenId, Failure> {
    let record = record(&target, reason, by, cx);
    match cx.rt.store().revoke(&target.id, &record).await {
        Ok(()) => Ok(target.id),
        Err(_) => Err((StoreError::Unavailable.into(), Some(target.id))),
    }
}

/// Revokes every token of subject `sub` issued at or before `at`, but
/// `keep` (the caller of `scope=others`) when given. A failed write is a
/// 503, never a success.
pub(super) async fn cut_off<R: Runtime>(
    sub: &str,
    keep: Option<&VerifiedToken>,
    by: String,
    at: u64,
    cx: &Context<'_, R>,
) -> Result<(), Failure> {
    let route = cx.route.to_owned();
    let new = match keep {
        Some(token) => Cutoff::others(sub, at, token.id(), token.claims().iat, by, route),
        None => Cutoff::all(CutoffKind::Subject, sub, at, by, route),
    };
    cx.rt
        .store()
        .cut_off(new)
        .await
        .map_err(|_| fail(StoreError::Unavailable))
}

/// Revokes every token of the session or email address `name` (as `kind`
/// says) issued at or before `at`.
pub(super) async fn cut_off_all<R: Runtime>(
    kind: CutoffKind,
    name: &str,
    by: String,
    at: u64,
    cx: &Context<'_, R>,
) -> Result<(), Failure> {
    let new = Cutoff::all(kind, name, at, by, cx.route.into());
    cx.rt
        .store()
        .cut_off(new)
        .await
        .map_err(|_| fail(StoreError::Unavailable))
}

/// The cutoff of a sign-out of a subject or session made at the edge now:
/// `CUTOFF_SKEW_SECONDS` past the edge's clock, so that a token from an
/// identity provider whose clock runs ahead cannot outlive it, and never
/// before the caller's own token was issued (the caller's `scope=global`
/// always revokes the calling token).
pub(super) fn edge_cutoff<R: Runtime>(cx: &Context<'_, R>, caller: Option<&VerifiedToken>) -> u64 {
    let at = cx.now.saturating_add(cx.config.cutoff_skew);
    let iat = caller.and_then(|token| token.claims().iat);
    iat.map_or(at, |iat| at.max(iat))
}

pub(super) fn caller_name(token: &VerifiedToken) -> String {
    token
        .claims()
        .sub
        .clone()
        .unwrap_or_else(|| token.id().to_string())
}

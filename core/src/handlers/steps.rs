//! The steps every route family shares, written once: who is the caller,
//! is the token revoked, is the caller an admin, what does a reference name,
//! write a revocation, write a cutoff.

use super::{fail, Context, Done, Failure};
use crate::error::{Rejection, RequestError, StoreError, TokenError};
use crate::keys::JwksFetcher;
use crate::log::Event;
use crate::reply::Reply;
use crate::request::RequestHead;
use crate::revocation::{
    cutoff_expires_at, expires_at, Cutoff, Record, RevokeReason, SessionCutoff,
};
use crate::store::{RevocationStore, WRITE_BACKOFF_MS};
use crate::token::{self, Reference, TokenId, VerifiedToken};
use crate::verify::SignatureVerifier;
use std::future::Future;

/// Verifies a token, from the isolate's cache when it was seen before.
pub(super) async fn verified<S, V: SignatureVerifier, F: JwksFetcher>(
    raw: &str,
    cx: &Context<'_, S, V, F>,
) -> Result<VerifiedToken, Rejection> {
    let cache = cx.services.cache;
    if let Some(hit) = cache.get(raw, cx.now) {
        return Ok(hit);
    }
    let rules = &cx.config.rules;
    let token = token::verify(raw, rules, cx, cx.services.verifier, cx.now).await?;
    cache.insert(raw, &token, rules.rejected_from(token.claims().exp));
    Ok(token)
}

/// Extracts and verifies the caller's token. `None` when there is no token.
pub(super) async fn caller<S, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    cx: &Context<'_, S, V, F>,
) -> Result<Option<VerifiedToken>, Failure> {
    let Some(raw) = token::extract(head).map_err(fail)? else {
        return Ok(None);
    };
    verified(raw, cx).await.map(Some).map_err(fail)
}

/// The caller's token, which must be present and valid. Whether it is
/// revoked is not asked here: a route acting on the caller's behalf takes
/// [`live_caller`] instead.
async fn required_caller<S, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    cx: &Context<'_, S, V, F>,
) -> Result<VerifiedToken, Failure> {
    caller(head, cx)
        .await?
        .ok_or_else(|| fail(TokenError::Missing))
}

/// The caller's token, present, valid and not revoked: the proxy's own
/// check, for every route that acts on the caller's behalf. A revoked caller
/// is `401 token revoked` and can change nothing.
pub(super) async fn live_caller<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    cx: &Context<'_, S, V, F>,
) -> Result<VerifiedToken, Failure> {
    let token = required_caller(head, cx).await?;
    ensure_not_revoked(&token, cx).await?;
    Ok(token)
}

/// Is the token revoked: by its ID, its subject's cutoff or its session's
/// cutoff? One store check looks all three up. `Some(why)` when revoked:
/// [`TokenError::Revoked`], or [`TokenError::UnreadableEntry`] when an entry
/// we cannot read decided it. Any part of the check failing is an error,
/// never a pass.
pub(super) async fn revocation_of<S: RevocationStore, V, F>(
    token: &VerifiedToken,
    cx: &Context<'_, S, V, F>,
) -> Result<Option<TokenError>, StoreFailure> {
    let claims = token.claims();
    let found = cx
        .services
        .store
        .check(token.id(), claims.sub.as_deref(), claims.sid.as_deref())
        .await;
    let record = found.record.map_err(|_| StoreFailure)?;
    let subject = found.subject.map_err(|_| StoreFailure)?;
    let session = found.session.map_err(|_| StoreFailure)?;
    let why = |unreadable: bool| {
        if unreadable {
            TokenError::UnreadableEntry
        } else {
            TokenError::Revoked
        }
    };
    if let Some(record) = record {
        return Ok(Some(why(record.is_unreadable())));
    }
    if let Some(cutoff) = subject.filter(|cutoff| cutoff.revokes(claims.iat, token.id())) {
        return Ok(Some(why(cutoff.is_unreadable())));
    }
    Ok(session
        .filter(|cutoff| cutoff.revokes(claims.iat))
        .map(|cutoff| why(cutoff.is_unreadable())))
}

/// The store could not answer.
pub(super) struct StoreFailure;

/// Rejects a revoked token (401) or an unanswerable store (503).
pub(super) async fn ensure_not_revoked<S: RevocationStore, V, F>(
    token: &VerifiedToken,
    cx: &Context<'_, S, V, F>,
) -> Result<(), Failure> {
    let id = Some(token.id().clone());
    match revocation_of(token, cx).await {
        Ok(None) => Ok(()),
        Ok(Some(why)) => Err((why.into(), id)),
        Err(StoreFailure) => Err((StoreError::Unavailable.into(), id)),
    }
}

/// Revokes the caller's own token: `scope=local` and `DELETE /v2.0/tokens`.
/// A caller already revoked (by its ID or by a cutoff) is a retried
/// sign-out: answered `204` like the first, with nothing written and an
/// `ignored` log line. Every other scope and route refuses a revoked caller.
pub(super) async fn revoke_own_token<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    cx: &Context<'_, S, V, F>,
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
pub(super) async fn require_admin<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    cx: &Context<'_, S, V, F>,
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
pub(super) async fn resolve_target<S, V: SignatureVerifier, F: JwksFetcher>(
    reference: &str,
    cx: &Context<'_, S, V, F>,
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

/// Writes the revocation. A failed write is a 503, never a success.
pub(super) async fn revoke<S: RevocationStore, V, F>(
    target: Target,
    reason: RevokeReason,
    by: String,
    cx: &Context<'_, S, V, F>,
) -> Result<TokenId, Failure> {
    let record = Record {
        jti: target.id.to_string(),
        revoked_at: cx.now,
        exp: target.exp,
        sub: target.sub,
        reason: reason.as_str().into(),
        by,
        route: cx.route.into(),
    };
    let until = expires_at(
        target.exp,
        cx.config.rules.leeway,
        cx.config.max_token_lifetime,
        cx.now,
    );
    let store = cx.services.store;
    match with_retries(store, || store.put(&target.id, &record, until)).await {
        Ok(()) => Ok(target.id),
        Err(e) => Err((e.into(), Some(target.id))),
    }
}

/// Runs `write` until the store takes it. While the store refuses it as too
/// frequent ([`StoreError::RateLimited`]), waits [`WRITE_BACKOFF_MS`] and
/// tries again; any other answer, and the last try's, is final. `write` runs
/// afresh each time, so a read-merge-write re-reads.
pub(super) async fn with_retries<
    S: RevocationStore,
    T,
    W: Future<Output = Result<T, StoreError>>,
>(
    store: &S,
    mut write: impl FnMut() -> W,
) -> Result<T, StoreError> {
    for wait in WRITE_BACKOFF_MS {
        match write().await {
            Err(StoreError::RateLimited) => store.sleep(wait).await,
            done => return done,
        }
    }
    write().await
}

/// Revokes every token of `sub` issued at or before `at`, but `keep` (the
/// caller of `scope=others`) when given, merged with the stored cutoff (see
/// [`Cutoff::merge`]).
pub(super) async fn cut_off<S: RevocationStore, V, F>(
    sub: &str,
    keep: Option<&VerifiedToken>,
    by: String,
    at: u64,
    cx: &Context<'_, S, V, F>,
) -> Result<(), Failure> {
    let store = cx.services.store;
    let route = cx.route.to_owned();
    let new = match keep {
        Some(token) => Cutoff::others(sub, at, token.id(), token.claims().iat, by, route),
        None => Cutoff::all(sub, at, by, route),
    };
    // Read, merge and write again on every try: another writer's cutoff
    // (the reason for a refused write) is merged, never overwritten.
    let write = || async {
        let stored = store.get_cutoff(sub).await?;
        let merged = Cutoff::merge(stored.clone(), new.clone());
        if stored.as_ref() == Some(&merged) {
            return Ok(()); // Already in force: a replay, or a second sign-out.
        }
        store
            .put_cutoff(&merged, cutoff_expiry(merged.latest(), cx))
            .await
    };
    with_retries(store, write)
        .await
        .map_err(|_| fail(StoreError::Unavailable))
}

/// Sets (by `max`) the cutoff of session `sid` to `at`.
pub(super) async fn cut_off_session<S: RevocationStore, V, F>(
    sid: &str,
    by: String,
    at: u64,
    cx: &Context<'_, S, V, F>,
) -> Result<(), Failure> {
    let store = cx.services.store;
    let new = SessionCutoff {
        sid: sid.to_owned(),
        cutoff: at,
        by,
        route: cx.route.into(),
    };
    let write = || async {
        let stored = store.get_session(sid).await?;
        let merged = SessionCutoff::merge(stored.clone(), new.clone());
        if stored.as_ref() == Some(&merged) {
            return Ok(());
        }
        store
            .put_session(&merged, cutoff_expiry(merged.cutoff, cx))
            .await
    };
    with_retries(store, write)
        .await
        .map_err(|_| fail(StoreError::Unavailable))
}

/// The cutoff of a sign-out of a subject or session made at the edge now:
/// `CUTOFF_SKEW_SECONDS` past the edge's clock, so that a token from an
/// identity provider whose clock runs ahead cannot outlive it, and never
/// before the caller's own token was issued (the caller's `scope=global`
/// always revokes the calling token).
pub(super) fn edge_cutoff<S, V, F>(
    cx: &Context<'_, S, V, F>,
    caller: Option<&VerifiedToken>,
) -> u64 {
    let at = cx.now.saturating_add(cx.config.cutoff_skew);
    let iat = caller.and_then(|token| token.claims().iat);
    iat.map_or(at, |iat| at.max(iat))
}

/// When a cutoff reaching `latest` may be dropped (see
/// [`cutoff_expires_at`]).
fn cutoff_expiry<S, V, F>(latest: u64, cx: &Context<'_, S, V, F>) -> u64 {
    let config = cx.config;
    cutoff_expires_at(
        latest,
        config.rules.leeway,
        config.max_token_lifetime,
        cx.now,
    )
}

pub(super) fn caller_name(token: &VerifiedToken) -> String {
    token
        .claims()
        .sub
        .clone()
        .unwrap_or_else(|| token.id().to_string())
}

//! The steps every route family shares, written once: who is the caller,
//! is the token revoked, is the caller an admin, what does a reference name,
//! write a revocation, write a cutoff.

use super::{fail, Context, Failure};
use crate::error::{Rejection, RequestError, StoreError, TokenError};
use crate::keys::JwksFetcher;
use crate::request::RequestHead;
use crate::revocation::{expires_at, Cutoff, Record, RevocationStore, RevokeReason};
use crate::token::{self, is_jwt_reference, TokenId, VerifiedToken};
use crate::verify::SignatureVerifier;

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
    let valid_until = rules.accepted_until(token.claims().exp);
    cache.insert(raw, &token, valid_until);
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

/// The caller's token, which must be present and valid.
pub(super) async fn required_caller<S, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    cx: &Context<'_, S, V, F>,
) -> Result<VerifiedToken, Failure> {
    caller(head, cx)
        .await?
        .ok_or_else(|| fail(TokenError::Missing))
}

/// Is the token revoked, by its ID or by its subject's cutoff? Both lookups
/// run concurrently. The store failing is an error, never a pass.
pub(super) async fn revocation_of<S: RevocationStore, V, F>(
    token: &VerifiedToken,
    cx: &Context<'_, S, V, F>,
) -> Result<bool, StoreFailure> {
    let claims = token.claims();
    let (record, cutoff) = cx
        .services
        .store
        .check(token.id(), claims.sub.as_deref())
        .await;
    let revoked_by_id = record.map_err(|_| StoreFailure)?.is_some();
    let revoked_by_subject = cutoff
        .map_err(|_| StoreFailure)?
        .is_some_and(|cutoff| cutoff.revokes(claims.iat, token.id()));
    Ok(revoked_by_id || revoked_by_subject)
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
        Ok(false) => Ok(()),
        Ok(true) => Err((TokenError::Revoked.into(), id)),
        Err(StoreFailure) => Err((StoreError::Unavailable.into(), id)),
    }
}

/// A valid, unrevoked caller holding one of `ADMIN_ROLES`.
pub(super) async fn require_admin<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    cx: &Context<'_, S, V, F>,
) -> Result<VerifiedToken, Failure> {
    let token = required_caller(head, cx).await?;
    ensure_not_revoked(&token, cx).await?;
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

/// A `tokenId` or `tokenReferenceId`: a JWT (any text with a `.`) must
/// verify and be unexpired; anything else is a bare token ID. `Ok(None)` means "not a revocable token".
pub(super) async fn resolve_target<S, V: SignatureVerifier, F: JwksFetcher>(
    reference: &str,
    cx: &Context<'_, S, V, F>,
) -> Result<Option<Target>, Failure> {
    if is_jwt_reference(reference) {
        return match verified(reference, cx).await {
            Ok(token) => Ok(Some(Target::of(&token))),
            Err(Rejection::Token(_)) => Ok(None),
            Err(other) => Err(fail(other)),
        };
    }
    Ok(TokenId::from_reference(reference).map(|id| Target {
        id,
        exp: None,
        sub: None,
    }))
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
    match cx.services.store.put(&target.id, &record, until).await {
        Ok(()) => Ok(target.id),
        Err(e) => Err((e.into(), Some(target.id))),
    }
}

/// Sets (by `max`) the cutoff of `sub` to now, keeping `except` valid.
pub(super) async fn cut_off<S: RevocationStore, V, F>(
    sub: &str,
    except: Option<&TokenId>,
    by: String,
    cx: &Context<'_, S, V, F>,
) -> Result<(), Failure> {
    let store = cx.services.store;
    let unavailable = || fail(StoreError::Unavailable);
    let stored = store.get_cutoff(sub).await.map_err(|_| unavailable())?;
    let cutoff = Cutoff::merge(
        stored,
        Cutoff {
            sub: sub.to_owned(),
            cutoff: cx.now,
            except: except.map(TokenId::to_string),
            by,
            route: cx.route.into(),
        },
    );
    // Every token issued before the cutoff expires within the lifetime.
    let until = cx
        .now
        .saturating_add(cx.config.max_token_lifetime)
        .max(cx.now + 60);
    store
        .put_cutoff(&cutoff, until)
        .await
        .map_err(|_| unavailable())
}

pub(super) fn caller_name(token: &VerifiedToken) -> String {
    token
        .claims()
        .sub
        .clone()
        .unwrap_or_else(|| token.id().to_string())
}

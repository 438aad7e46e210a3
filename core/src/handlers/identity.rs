//! Identity v2.0: `DELETE /v2.0/tokens` revokes the caller's own token, or
//! with a `tokenId` and an admin role another one; `GET`/`HEAD
//! /v2.0/tokens/{tokenId}` answers 404 at the edge for a revoked token and
//! is otherwise an ordinary, forwarded request.

use super::steps::{
    caller_name, require_admin, resolve_target, revocation_of, revoke_own_token, verified,
};
use super::{fail, proxy, Context, Done, Failure, Runtime};
use crate::error::{Rejection, RequestError};
use crate::http::reply::Reply;
use crate::http::request::RequestHead;
use crate::http::routes::MAX_TOKEN_ID_BYTES;
use crate::revocation::RevokeReason;
use crate::token::{self, Reference, TokenId};

pub(super) async fn revoke<R: Runtime>(
    head: &RequestHead,
    token_id: Option<&str>,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    let Some(token_id) = token_id else {
        return revoke_own_token(head, cx).await;
    };
    // Acting on another token: the caller must be a live admin.
    let admin = require_admin(head, cx).await?;
    if token_id.len() > MAX_TOKEN_ID_BYTES {
        return Err(fail(RequestError::TokenIdTooLarge));
    }
    let target = resolve_target(token_id, cx)
        .await?
        .ok_or_else(|| fail(RequestError::UnknownToken))?;
    let reason = RevokeReason::Admin;
    let id = super::steps::revoke(target, reason, caller_name(&admin), cx).await?;
    Ok(Done::revoked(Reply::empty(204), reason, &id, cx))
}

pub(super) async fn validate<R: Runtime>(
    head: &RequestHead,
    token_id: &str,
    with_params: Option<&str>,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    // The validation call is an ordinary request first.
    let caller = proxy::check(head, cx).await?;
    // Every reading of the ID an origin may take: a revoked one is 404.
    for id in [Some(token_id), with_params].into_iter().flatten() {
        if is_revoked_reference(id, cx).await? {
            return Err(fail(RequestError::UnknownToken));
        }
    }
    Ok(Done::Forward(caller))
}

/// True when the edge knows the token `reference` names to be revoked: a
/// JWT that verifies and is revoked, or a bare ID with a revocation. A JWT
/// that does not verify is left to the origin to judge.
async fn is_revoked_reference<R: Runtime>(
    reference: &str,
    cx: &Context<'_, R>,
) -> Result<bool, Failure> {
    if reference.len() > MAX_TOKEN_ID_BYTES {
        return Ok(false);
    }
    match token::reference(reference) {
        Reference::Jwt => match verified(reference, cx).await {
            Err(Rejection::Token(_)) => Ok(false),
            Err(other) => Err(fail(other)),
            Ok(token) => match revocation_of(&token, cx).await {
                Ok(revoked) => Ok(revoked.is_some()),
                Err(e) => Err(fail(e)),
            },
        },
        Reference::BrokenJwt => Ok(false),
        Reference::Id => match TokenId::from_reference(reference) {
            None => Ok(false),
            Some(id) => Ok(cx.rt.store().record(&id).await.map_err(fail)?.is_some()),
        },
    }
}

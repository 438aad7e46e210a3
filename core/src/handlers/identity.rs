//! Identity v2.0: `DELETE /v2.0/tokens` revokes the caller's own token, or
//! with a `tokenId` and an admin role another one; `GET`/`HEAD
//! /v2.0/tokens/{tokenId}` answers 404 at the edge for a revoked token and
//! is otherwise an ordinary, forwarded request.

use super::steps::{
    caller_name, require_admin, resolve_target, revocation_of, revoke_own_token, verified,
    StoreFailure,
};
use super::{fail, proxy, Context, Done, Failure};
use crate::error::{Rejection, RequestError, StoreError};
use crate::keys::JwksFetcher;
use crate::reply::Reply;
use crate::request::RequestHead;
use crate::revocation::RevokeReason;
use crate::routes::MAX_TOKEN_ID_BYTES;
use crate::store::RevocationStore;
use crate::token::{is_jwt_reference, TokenId};
use crate::verify::SignatureVerifier;

pub(super) async fn revoke<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    token_id: Option<&str>,
    cx: &Context<'_, S, V, F>,
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

pub(super) async fn validate<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    token_id: &str,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    // The validation call is an ordinary request first.
    let caller = proxy::check(head, cx).await?;
    if token_id.len() > MAX_TOKEN_ID_BYTES {
        return Ok(Done::Forward(caller));
    }
    let revoked = if is_jwt_reference(token_id) {
        match verified(token_id, cx).await {
            // A token that does not verify is left to the origin to judge.
            Err(Rejection::Token(_)) => false,
            Err(other) => return Err(fail(other)),
            Ok(token) => match revocation_of(&token, cx).await {
                Ok(revoked) => revoked.is_some(),
                Err(StoreFailure) => return Err(fail(StoreError::Unavailable)),
            },
        }
    } else {
        match TokenId::from_reference(token_id) {
            None => false,
            Some(id) => cx.services.store.get(&id).await.map_err(fail)?.is_some(),
        }
    };
    if revoked {
        return Err(fail(RequestError::UnknownToken));
    }
    Ok(Done::Forward(caller))
}

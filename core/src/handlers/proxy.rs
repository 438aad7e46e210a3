//! Every request that is not a route of ours: check the token (unless the
//! path is public), then forward. Monitor mode (`ENFORCE=false`) applies
//! here only.

use super::steps::{caller, ensure_not_revoked};
use super::{forward, reject, Action, Context, Decision, Failure, Runtime};
use crate::error::{Render, TokenError};
use crate::http::request::RequestHead;
use crate::log::Event;
use crate::token::VerifiedToken;

/// The proxy path, where monitor mode (`ENFORCE=false`) applies.
pub(super) async fn decide<R: Runtime>(
    head: &RequestHead,
    cx: &Context<'_, R>,
    render: Render<'_>,
) -> Decision {
    match check(head, cx).await {
        Ok(caller) => Decision {
            action: Action::Forward(forward::plan(cx.config, head, caller.as_ref())),
            event: None,
        },
        Err((rejection, jti)) if !cx.config.enforce => Decision {
            action: Action::Forward(forward::plan(cx.config, head, None)),
            event: Some(Event::rejected(&rejection, jti.as_ref(), cx.route, false)),
        },
        Err((rejection, jti)) => reject(rejection, render, cx.route, jti),
    }
}

pub(super) async fn check<R: Runtime>(
    head: &RequestHead,
    cx: &Context<'_, R>,
) -> Result<Option<VerifiedToken>, Failure> {
    if cx.config.is_public(&head.path) {
        return Ok(None);
    }
    match caller(head, cx).await? {
        Some(token) => {
            ensure_not_revoked(&token, cx).await?;
            Ok(Some(token))
        }
        None if cx.config.require_token => Err(super::fail(TokenError::Missing)),
        None => Ok(None),
    }
}

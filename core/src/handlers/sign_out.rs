//! `DELETE /api/tokens`: the caller signs its own token out, or with
//! `scope=global` / `scope=others` every (other) token of its subject, or
//! with `scope=session` every token of its session (`sid`).
//!
//! The cutoff of `global`, `others` and `session` reaches
//! `CUTOFF_SKEW_SECONDS` past now (see `steps::edge_cutoff`).
//!
//! Every scope but `local` acts for the caller, so a revoked caller is
//! refused (`401 token revoked`) and writes nothing. `local` with a caller
//! already revoked is a retried sign-out: `204`, nothing written.

use super::steps::{caller_name, cut_off, cut_off_all, edge_cutoff, live_caller, revoke_own_token};
use super::{Context, Done, Failure, Runtime};
use crate::error::RequestError;
use crate::http::reply::Reply;
use crate::http::request::RequestHead;
use crate::http::routes::Scope;
use crate::log::Event;
use crate::revocation::{CutoffKind, RevokeReason};

pub(super) async fn sign_out<R: Runtime>(
    head: &RequestHead,
    scope: Scope,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    let (keep_caller, reason) = match scope {
        Scope::Local => return revoke_own_token(head, cx).await,
        Scope::Session => return sign_out_session(head, cx).await,
        Scope::Global => (false, RevokeReason::SignOutGlobal),
        Scope::Others => (true, RevokeReason::SignOutOthers),
    };
    let token = live_caller(head, cx).await?;
    // Subject-wide sign-out needs a subject.
    let Some(sub) = token.claims().sub.clone() else {
        return Err((RequestError::Malformed.into(), Some(token.id().clone())));
    };
    let keep = keep_caller.then_some(&token);
    let at = edge_cutoff(cx, Some(&token));
    cut_off(&sub, keep, caller_name(&token), at, cx).await?;
    Ok(Done::Answered {
        reply: Reply::empty(204),
        event: Some(Event::revoked(
            reason,
            Some(token.id()),
            Some(sub),
            cx.route,
        )),
    })
}

/// `scope=session`: every token of the caller's session.
async fn sign_out_session<R: Runtime>(
    head: &RequestHead,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    let token = live_caller(head, cx).await?;
    // A session-wide sign-out needs a session.
    let Some(sid) = token.claims().sid.clone() else {
        return Err((RequestError::Malformed.into(), Some(token.id().clone())));
    };
    let at = edge_cutoff(cx, Some(&token));
    cut_off_all(CutoffKind::Session, &sid, caller_name(&token), at, cx).await?;
    let reason = RevokeReason::SignOutSession;
    let mut event = Event::revoked(reason, Some(token.id()), None, cx.route);
    event.sid = Some(sid);
    Ok(Done::Answered {
        reply: Reply::empty(204),
        event: Some(event),
    })
}

//! `DELETE /api/tokens`: the caller signs its own token out, or with
//! `scope=global` / `scope=others` every (other) token of its subject, or
//! with `scope=session` every token of its session (`sid`).

use super::steps::{caller_name, cut_off, cut_off_session, required_caller, revoke, Target};
use super::{Context, Done, Failure};
use crate::error::RequestError;
use crate::keys::JwksFetcher;
use crate::log::Event;
use crate::reply::Reply;
use crate::request::RequestHead;
use crate::revocation::RevokeReason;
use crate::routes::Scope;
use crate::store::RevocationStore;
use crate::verify::SignatureVerifier;

pub(super) async fn sign_out<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    scope: Scope,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    let token = required_caller(head, cx).await?;
    let by = caller_name(&token);
    let (except, reason) = match scope {
        Scope::Local => {
            let reason = RevokeReason::SignOut;
            let id = revoke(Target::of(&token), reason, by, cx).await?;
            return Ok(Done::revoked(Reply::empty(204), reason, &id, cx));
        }
        Scope::Session => {
            // A session-wide sign-out needs a session.
            let Some(sid) = token.claims().sid.clone() else {
                return Err((RequestError::Malformed.into(), Some(token.id().clone())));
            };
            cut_off_session(&sid, by, cx.now, cx).await?;
            let reason = RevokeReason::SignOutSession;
            let mut event = Event::revoked(reason, Some(token.id()), None, cx.route);
            event.sid = Some(sid);
            return Ok(Done::Answered {
                reply: Reply::empty(204),
                event: Some(event),
            });
        }
        Scope::Global => (None, RevokeReason::SignOutGlobal),
        Scope::Others => (Some(token.id()), RevokeReason::SignOutOthers),
    };
    // Subject-wide sign-out needs a subject.
    let Some(sub) = token.claims().sub.clone() else {
        return Err((RequestError::Malformed.into(), Some(token.id().clone())));
    };
    cut_off(&sub, except, by, cx.now, cx).await?;
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

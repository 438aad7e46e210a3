//! `POST /oidc/backchannel-logout` (OpenID Connect Back-Channel Logout 1.0
//! §2.5-2.8): the identity provider ends a session. The logout token is
//! checked with the access-token keys, `JWT_ISSUER` and the same header and
//! algorithm rules, then with the logout-token claim rules
//! ([`crate::idp::logout_token`]). Its effect is a session cutoff (with `sid`)
//! or a subject cutoff (`sub` only) at the token's `iat`.

use super::steps::{cut_off, cut_off_all};
use super::{fail, Context, Done, Failure, Runtime};
use crate::error::{LogoutError, Rejection};
use crate::http::reply::Reply;
use crate::http::routes::MAX_BODY;
use crate::idp::{self, Effect};
use crate::log::Event;
use crate::primitives::parse_form;
use crate::revocation::{CutoffKind, RevokeReason};
use crate::token::{self, TokenId};

/// Who a cutoff written from an identity provider's event names as `by`.
pub(super) const BY_IDP: &str = "idp";

/// The one `logout_token` of a form body of at most 16 KiB.
fn logout_token_param(body: Option<&[u8]>) -> Result<String, LogoutError> {
    let not_form = LogoutError("the body is not a form of at most 16 KiB");
    let body = body.filter(|body| body.len() <= MAX_BODY).ok_or(not_form)?;
    let text = std::str::from_utf8(body).map_err(|_| not_form)?;
    let form = parse_form(text).ok_or(not_form)?;
    let mut tokens = form.into_iter().filter(|(name, _)| name == "logout_token");
    match (tokens.next(), tokens.next()) {
        (Some((_, token)), None) if !token.is_empty() => Ok(token),
        _ => Err(LogoutError("one logout_token is required")),
    }
}

pub(super) async fn logout<R: Runtime>(
    body: Option<&[u8]>,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    let raw = logout_token_param(body).map_err(fail)?;
    let rules = &cx.config.rules;
    let verifier = cx.rt.verifier();
    let signed = match token::verify_signature(&raw, &rules.algorithms, cx, verifier, cx.now).await
    {
        Ok(signed) => signed,
        Err(Rejection::Token(e)) => return Err(fail(LogoutError(e.description()))),
        // The keys or the crypto could not answer: 503, never a refusal.
        Err(other) => return Err(fail(other)),
    };
    let audiences = &cx.config.backchannel_logout_audience;
    let logout = idp::logout_token(&signed.claims, rules, audiences, cx.now).map_err(fail)?;
    let jti = TokenId::from_reference(&logout.jti);
    let mut event = Event::revoked(
        RevokeReason::BackchannelLogout,
        jti.as_ref(),
        None,
        cx.route,
    );
    event.event_type = Some(idp::BACKCHANNEL_LOGOUT_EVENT.into());
    match logout.ends(cx.now.saturating_add(rules.leeway)) {
        Effect::Session { sid, at } => {
            cut_off_all(CutoffKind::Session, &sid, BY_IDP.into(), at, cx).await?;
            event.sid = Some(sid);
            event.sub = logout.sub;
        }
        Effect::Subject { sub, at } => {
            cut_off(&sub, None, BY_IDP.into(), at, cx).await?;
            event.sub = Some(sub);
        }
        Effect::Nothing | Effect::Ignored(_) => {
            return Err(fail(LogoutError("sid or sub is required")))
        }
    }
    let mut reply = Reply::empty(200);
    reply.headers.push(("cache-control", "no-store".into()));
    Ok(Done::Answered {
        reply,
        event: Some(event),
    })
}

//! OAuth 2.0 token revocation (RFC 7009) and introspection (RFC 7662), for
//! clients authenticated with HTTP Basic against `OAUTH_CLIENTS`. Answers
//! use the RFC 6749 §5.2 error shape.

use super::steps::{revocation_of, verified, Target};
use super::{fail, Context, Done, Failure, Runtime};
use crate::config::Config;
use crate::error::{OAuthError, Rejection};
use crate::http::reply::Reply;
use crate::http::request::RequestHead;
use crate::http::routes::MAX_BODY;
use crate::primitives::{base64_decode, constant_time_eq, parse_form, percent_decode};
use crate::revocation::RevokeReason;
use crate::token::{is_jwt_reference, VerifiedToken};
use serde_json::{json, Value};

/// HTTP Basic client authentication (RFC 6749 §2.3.1) against
/// `OAUTH_CLIENTS`; the client ID on success. Every entry is compared, in
/// constant time.
fn client(head: &RequestHead, config: &Config) -> Result<String, Failure> {
    let invalid = || fail(OAuthError::InvalidClient);
    let value = head.header("authorization").ok_or_else(invalid)?.trim();
    let (scheme, encoded) = value.split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid());
    }
    let decoded = base64_decode(encoded.trim()).ok_or_else(invalid)?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
    // Both parts are form-encoded before base64 (RFC 6749 §2.3.1).
    let id = percent_decode(id, true).ok_or_else(invalid)?;
    let secret = percent_decode(secret, true).ok_or_else(invalid)?;
    let matched = config
        .oauth_clients
        .iter()
        .fold(false, |found, (cid, csecret)| {
            let ok = constant_time_eq(id.as_bytes(), cid.as_bytes())
                & csecret.matches(secret.as_bytes());
            ok | found
        });
    if matched {
        Ok(id)
    } else {
        Err(invalid())
    }
}

/// The `token` parameter of an OAuth form body.
fn token_param(body: Option<&[u8]>) -> Result<String, Failure> {
    let invalid = || fail(OAuthError::InvalidRequest);
    let body = body.filter(|b| b.len() <= MAX_BODY).ok_or_else(invalid)?;
    let text = std::str::from_utf8(body).map_err(|_| invalid())?;
    let form = parse_form(text).ok_or_else(invalid)?;
    let mut tokens = form.into_iter().filter(|(name, _)| name == "token");
    match (tokens.next(), tokens.next()) {
        (Some((_, token)), None) if !token.is_empty() => Ok(token),
        _ => Err(invalid()),
    }
}

/// A token the OAuth routes recognise: a JWT that verifies. Anything else is
/// "invalid or unknown". Store or key-set trouble is 503.
async fn subject<R: Runtime>(
    token: &str,
    cx: &Context<'_, R>,
) -> Result<Option<VerifiedToken>, Failure> {
    if !is_jwt_reference(token) {
        return Ok(None);
    }
    match verified(token, cx).await {
        Ok(token) => Ok(Some(token)),
        Err(Rejection::Token(_)) => Ok(None),
        Err(_) => Err(fail(OAuthError::Unavailable)),
    }
}

pub(super) async fn revoke<R: Runtime>(
    head: &RequestHead,
    body: Option<&[u8]>,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    let client = client(head, cx.config)?;
    let raw = token_param(body)?;
    let ok = || Reply::json(200, &json!({}));
    // RFC 7009 §2.2: an invalid or unknown token is answered 200 all the same.
    let Some(token) = subject(&raw, cx).await? else {
        return Ok(Done::reply(ok()));
    };
    // §2.1: only the client the token was issued to may revoke it.
    let claims = &token.claims().all;
    let issued_to = claims.get("client_id").or_else(|| claims.get("azp"));
    if issued_to.is_some_and(|owner| owner.as_str() != Some(client.as_str())) {
        return Err((
            OAuthError::UnauthorizedClient.into(),
            Some(token.id().clone()),
        ));
    }
    let reason = RevokeReason::OAuthRevoke;
    let id = super::steps::revoke(Target::of(&token), reason, format!("client:{client}"), cx)
        .await
        .map_err(|(_, id)| (OAuthError::Unavailable.into(), id))?;
    Ok(Done::revoked(ok(), reason, &id, cx))
}

pub(super) async fn introspect<R: Runtime>(
    head: &RequestHead,
    body: Option<&[u8]>,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    client(head, cx.config)?;
    let raw = token_param(body)?;
    let active = match subject(&raw, cx).await? {
        None => None,
        Some(token) => match revocation_of(&token, cx).await {
            Ok(Some(_)) => None,
            Ok(None) => Some(token),
            Err(_) => return Err(fail(OAuthError::Unavailable)),
        },
    };
    let body = match active {
        None => json!({ "active": false }),
        Some(token) => {
            let mut claims = token.claims().all.clone();
            claims.insert("active".into(), Value::Bool(true));
            Value::Object(claims)
        }
    };
    Ok(Done::reply(Reply::json(200, &body)))
}

//! The one place that combines routes, token rules, the store and errors.
//! [`handle`] takes plain data, a store, a verifier and the time, and returns
//! a [`Decision`]; the glue carries it out.

use crate::config::Config;
use crate::error::{ConfigError, Rejection, Render, RequestError, ServiceError, TokenError};
use crate::reply::Reply;
use crate::request::RequestHead;
use crate::revocation::{expires_at, Record, RevocationStore};
use crate::routes::{classify, Route, MAX_INVALIDATE_BODY, MAX_TOKEN_ID_BYTES};
use crate::token::{self, looks_like_jwt, TokenId, VerifiedToken};
use crate::verify::SignatureVerifier;

/// What to do with the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Pass it to the origin unchanged.
    Forward,
    /// Answer it at the edge.
    Reply(Reply),
}

/// A decision worth a log line: every rejection and every revocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `reject` or `revoke`.
    pub decision: &'static str,
    /// Why (see [`Rejection::reason`]), or the revocation reason.
    pub reason: &'static str,
    /// The token ID concerned, when known. Never the token.
    pub jti: Option<String>,
    /// The route, e.g. `DELETE /api/tokens` or `proxy`.
    pub route: &'static str,
}

/// The outcome of [`handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Forward or reply.
    pub action: Action,
    /// What to log, if anything.
    pub event: Option<Event>,
}

/// Everything a request is decided against.
pub struct Context<'a, S, V> {
    /// Parsed settings.
    pub config: &'a Config,
    /// Revocation store.
    pub store: &'a S,
    /// Signature verifier.
    pub verifier: &'a V,
    /// Seconds since the epoch.
    pub now: u64,
}

/// Exact body of the invalidation route's success.
pub const INVALIDATE_SUCCESS: &str =
    r#"{"resCode":200,"resDesc":"SUCCESS","data":{"resCode":100,"resDesc":"Success"}}"#;

/// Decides one request. `body` is read only for routes that need one (see
/// [`crate::routes::body_limit`]).
pub async fn handle<S: RevocationStore, V: SignatureVerifier>(
    head: &RequestHead,
    body: Option<&[u8]>,
    config: Result<&Config, &ConfigError>,
    store: &S,
    verifier: &V,
    now: u64,
) -> Decision {
    let plain_json = head.wants_plain_json();
    let render = |realm| Render { realm, plain_json };
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            let rejection = Rejection::Config(e.clone());
            return reject(rejection, render("api"), "config", None);
        }
    };
    let cx = Context {
        config,
        store,
        verifier,
        now,
    };
    let route = match classify(head) {
        Ok(route) => route,
        Err(e) => {
            let name = "DELETE /v2.0/tokens";
            return reject(e.into(), render(&config.realm), name, None);
        }
    };
    let name = route.name();
    let outcome = match &route {
        Route::SignOut => sign_out(head, &cx).await,
        Route::IdentityRevoke { token_id } => identity_revoke(head, token_id.as_deref(), &cx).await,
        Route::IdentityValidate { token_id } => identity_validate(head, token_id, &cx).await,
        Route::Invalidate => invalidate(head, body, &cx).await,
        Route::Proxy => proxy(head, &cx).await,
    };
    match outcome {
        Ok(Done::Forward) => Decision {
            action: Action::Forward,
            event: None,
        },
        Ok(Done::Revoked { reply, reason, id }) => Decision {
            action: Action::Reply(reply),
            event: Some(Event {
                decision: "revoke",
                reason,
                jti: Some(id.to_string()),
                route: name,
            }),
        },
        Err((rejection, jti)) => reject(rejection, render(&config.realm), name, jti),
    }
}

fn reject(
    rejection: Rejection,
    render: Render<'_>,
    route: &'static str,
    jti: Option<TokenId>,
) -> Decision {
    Decision {
        event: Some(Event {
            decision: "reject",
            reason: rejection.reason(),
            jti: jti.map(|id| id.to_string()),
            route,
        }),
        action: Action::Reply(rejection.reply(render)),
    }
}

enum Done {
    Forward,
    Revoked {
        reply: Reply,
        reason: &'static str,
        id: TokenId,
    },
}

/// A rejection, with the token ID when one is known (for the log).
type Failure = (Rejection, Option<TokenId>);

fn fail(rejection: impl Into<Rejection>) -> Failure {
    (rejection.into(), None)
}

/// Extracts and verifies the caller's token. `None` when there is no token.
async fn caller<S, V: SignatureVerifier>(
    head: &RequestHead,
    cx: &Context<'_, S, V>,
) -> Result<Option<VerifiedToken>, Failure> {
    let Some(raw) = token::extract(head).map_err(fail)? else {
        return Ok(None);
    };
    let verified = token::verify(raw, cx.config, cx.verifier, cx.now)
        .await
        .map_err(fail)?;
    Ok(Some(verified))
}

/// The caller's token, which must be present and valid.
async fn required_caller<S, V: SignatureVerifier>(
    head: &RequestHead,
    cx: &Context<'_, S, V>,
) -> Result<VerifiedToken, Failure> {
    caller(head, cx)
        .await?
        .ok_or_else(|| fail(TokenError::Missing))
}

/// Rejects a revoked token; the store failing is a 503, never a pass.
async fn ensure_not_revoked<S: RevocationStore, V>(
    token: &VerifiedToken,
    cx: &Context<'_, S, V>,
) -> Result<(), Failure> {
    match cx.store.get(token.id()).await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err((TokenError::Revoked.into(), Some(token.id().clone()))),
        Err(e) => Err((e.into(), Some(token.id().clone()))),
    }
}

async fn proxy<S: RevocationStore, V: SignatureVerifier>(
    head: &RequestHead,
    cx: &Context<'_, S, V>,
) -> Result<Done, Failure> {
    if cx.config.is_public(&head.path) {
        return Ok(Done::Forward);
    }
    match caller(head, cx).await? {
        Some(token) => ensure_not_revoked(&token, cx).await?,
        None if cx.config.require_token => return Err(fail(TokenError::Missing)),
        None => {}
    }
    Ok(Done::Forward)
}

/// What to revoke: its ID and what is known about it.
struct Target {
    id: TokenId,
    exp: Option<u64>,
    sub: Option<String>,
}

impl Target {
    fn of(token: &VerifiedToken) -> Target {
        Target {
            id: token.id().clone(),
            exp: Some(token.claims().exp),
            sub: token.claims().sub.clone(),
        }
    }
}

/// A `tokenId` or `tokenReferenceId`: a JWT must verify and be unexpired;
/// anything else is a bare token ID. `Ok(None)` means "not a revocable token".
async fn resolve_target<S, V: SignatureVerifier>(
    reference: &str,
    cx: &Context<'_, S, V>,
) -> Result<Option<Target>, Failure> {
    if looks_like_jwt(reference) {
        return match token::verify(reference, cx.config, cx.verifier, cx.now).await {
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
async fn revoke<S: RevocationStore, V>(
    target: Target,
    reason: &'static str,
    by: String,
    route: &Route,
    cx: &Context<'_, S, V>,
) -> Result<TokenId, Failure> {
    let record = Record {
        jti: target.id.to_string(),
        revoked_at: cx.now,
        exp: target.exp,
        sub: target.sub,
        reason: reason.into(),
        by,
        route: route.name().into(),
    };
    let until = expires_at(
        target.exp,
        cx.config.leeway,
        cx.config.max_token_lifetime,
        cx.now,
    );
    match cx.store.put(&target.id, &record, until).await {
        Ok(()) => Ok(target.id),
        Err(e) => Err((e.into(), Some(target.id))),
    }
}

fn caller_name(token: &VerifiedToken) -> String {
    token
        .claims()
        .sub
        .clone()
        .unwrap_or_else(|| token.id().to_string())
}

async fn sign_out<S: RevocationStore, V: SignatureVerifier>(
    head: &RequestHead,
    cx: &Context<'_, S, V>,
) -> Result<Done, Failure> {
    let scope = head
        .query_values("scope")
        .ok_or_else(|| fail(RequestError::Malformed))?;
    if scope.iter().any(|s| s != "local") {
        return Err(fail(RequestError::Malformed));
    }
    let token = required_caller(head, cx).await?;
    let by = caller_name(&token);
    let id = revoke(Target::of(&token), "sign_out", by, &Route::SignOut, cx).await?;
    Ok(Done::Revoked {
        reply: Reply::empty(204),
        reason: "sign_out",
        id,
    })
}

async fn identity_revoke<S: RevocationStore, V: SignatureVerifier>(
    head: &RequestHead,
    token_id: Option<&str>,
    cx: &Context<'_, S, V>,
) -> Result<Done, Failure> {
    let route = Route::IdentityRevoke {
        token_id: token_id.map(str::to_owned),
    };
    let token = required_caller(head, cx).await?;
    let by = caller_name(&token);
    let Some(token_id) = token_id else {
        let id = revoke(Target::of(&token), "sign_out", by, &route, cx).await?;
        return Ok(Done::Revoked {
            reply: Reply::empty(204),
            reason: "sign_out",
            id,
        });
    };
    // Acting on another token: the caller must be a live admin.
    ensure_not_revoked(&token, cx).await?;
    let roles = token.claims().roles(&cx.config.roles_claim);
    if !roles
        .iter()
        .any(|role| cx.config.admin_roles.iter().any(|admin| admin == role))
    {
        return Err(fail(RequestError::Forbidden));
    }
    if token_id.len() > MAX_TOKEN_ID_BYTES {
        return Err(fail(RequestError::TokenIdTooLarge));
    }
    let target = resolve_target(token_id, cx)
        .await?
        .ok_or_else(|| fail(RequestError::UnknownToken))?;
    let id = revoke(target, "admin", by, &route, cx).await?;
    Ok(Done::Revoked {
        reply: Reply::empty(204),
        reason: "admin",
        id,
    })
}

async fn identity_validate<S: RevocationStore, V: SignatureVerifier>(
    head: &RequestHead,
    token_id: &str,
    cx: &Context<'_, S, V>,
) -> Result<Done, Failure> {
    // The validation call is an ordinary request first.
    proxy(head, cx).await?;
    if token_id.len() > MAX_TOKEN_ID_BYTES {
        return Ok(Done::Forward);
    }
    // A token that does not verify is left to the origin to judge.
    let Some(target) = resolve_target(token_id, cx).await? else {
        return Ok(Done::Forward);
    };
    match cx.store.get(&target.id).await {
        Ok(None) => Ok(Done::Forward),
        Ok(Some(_)) => Err((RequestError::UnknownToken.into(), Some(target.id))),
        Err(e) => Err((e.into(), Some(target.id))),
    }
}

async fn invalidate<S: RevocationStore, V: SignatureVerifier>(
    head: &RequestHead,
    body: Option<&[u8]>,
    cx: &Context<'_, S, V>,
) -> Result<Done, Failure> {
    let presented = head.header("x-api-key").unwrap_or_default().as_bytes();
    // Compare against every key, without stopping early.
    let authorised = cx
        .config
        .invalidate_api_keys
        .iter()
        .fold(false, |found, key| {
            crate::primitives::constant_time_eq(presented, key.as_bytes()) | found
        });
    if !authorised {
        return Err(fail(ServiceError::BadApiKey));
    }
    let reference = body
        .filter(|body| body.len() <= MAX_INVALIDATE_BODY)
        .and_then(parse_invalidate_body)
        .ok_or_else(|| fail(ServiceError::BadBody))?;
    let target = match resolve_target(&reference, cx).await {
        Ok(Some(target)) => target,
        Ok(None) => return Err(fail(ServiceError::UnknownToken)),
        Err((_, id)) => return Err((ServiceError::Unavailable.into(), id)),
    };
    let id = match revoke(target, "service", "api-key".into(), &Route::Invalidate, cx).await {
        Ok(id) => id,
        Err((_, id)) => return Err((ServiceError::Unavailable.into(), id)),
    };
    let mut reply = Reply::json(200, &());
    reply.body = INVALIDATE_SUCCESS.as_bytes().to_vec();
    Ok(Done::Revoked {
        reply,
        reason: "service",
        id,
    })
}

/// `{"tokenReferenceId": "<non-empty string>"}`; other members are ignored.
/// The content type is not checked: the published sample sends text/plain.
pub fn parse_invalidate_body(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(rename = "tokenReferenceId")]
        token_reference_id: String,
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    let reference = body.token_reference_id.trim();
    (!reference.is_empty()).then(|| reference.to_owned())
}

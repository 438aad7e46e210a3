//! The one place that combines routes, token rules, the store and errors.
//! [`handle`] takes plain data, the services and the time, and returns a
//! [`Decision`]; the glue carries it out.

use crate::cache::TokenCache;
use crate::config::Config;
use crate::error::{
    ConfigError, OAuthError, Rejection, Render, RequestError, ServiceError, TokenError, VerifyError,
};
use crate::keys::{Alg, JwksFetcher, Key, KeyLookup, RemoteKeys};
use crate::primitives::{base64_decode, constant_time_eq, parse_form, percent_decode};
use crate::reply::Reply;
use crate::request::RequestHead;
use crate::revocation::{expires_at, Cutoff, Record, RevocationStore};
use crate::routes::{classify, Route, Scope, DEFAULT_PAGE, MAX_BODY, MAX_PAGE, MAX_TOKEN_ID_BYTES};
use crate::token::{self, is_jwt_reference, TokenId, VerifiedToken};
use crate::verify::SignatureVerifier;
use serde_json::{json, Value};
use std::rc::Rc;

/// Headers to change on a forwarded request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forward {
    /// Removed first: every `FORWARD_CLAIMS` header, so a client cannot
    /// spoof one.
    pub remove: Vec<String>,
    /// Then set: verified claims, `(lower-case name, value)`.
    pub set: Vec<(String, String)>,
}

/// What to do with the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Pass it to the origin, otherwise unchanged.
    Forward(Forward),
    /// Answer it at the edge.
    Reply(Reply),
}

/// A decision worth a log line: every rejection, revocation and restore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `reject`, `would_reject` (monitor mode), `revoke` or `restore`.
    pub decision: &'static str,
    /// Why (see [`Rejection::reason`]), or what kind of revocation.
    pub reason: &'static str,
    /// The token ID concerned, when known. Never the token.
    pub jti: Option<String>,
    /// The subject, for subject-wide sign-outs.
    pub sub: Option<String>,
    /// The route, e.g. `DELETE /api/tokens` or `proxy`.
    pub route: &'static str,
}

impl Event {
    /// The JSON log line for this event, with the request's latency.
    pub fn log_line(&self, latency_ms: u64) -> Value {
        let mut line = json!({
            "decision": self.decision,
            "reason": self.reason,
            "jti": self.jti,
            "route": self.route,
            "latency_ms": latency_ms,
        });
        if let Some(sub) = &self.sub {
            line["sub"] = sub.clone().into();
        }
        line
    }
}

/// The outcome of [`handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Forward or reply.
    pub action: Action,
    /// What to log, if anything.
    pub event: Option<Event>,
}

/// The parts that do I/O or hold isolate state.
pub struct Services<'a, S, V, F> {
    /// Revocations.
    pub store: &'a S,
    /// Signature checks.
    pub verifier: &'a V,
    /// Fetches `JWT_JWKS_URL`.
    pub fetcher: &'a F,
    /// The cached remote key set.
    pub remote_keys: &'a RemoteKeys,
    /// Verified tokens seen before.
    pub cache: &'a TokenCache,
}

/// Exact body of the invalidation route's success.
pub const INVALIDATE_SUCCESS: &str =
    r#"{"resCode":200,"resDesc":"SUCCESS","data":{"resCode":100,"resDesc":"Success"}}"#;

struct Context<'a, S, V, F> {
    config: &'a Config,
    services: &'a Services<'a, S, V, F>,
    now: u64,
}

/// Configured keys first, then `JWT_JWKS_URL`.
impl<S, V, F: JwksFetcher> KeyLookup for Context<'_, S, V, F> {
    async fn key(
        &self,
        alg: Alg,
        kid: Option<&str>,
        now: u64,
    ) -> Result<Option<Rc<Key>>, VerifyError> {
        if let Some(key) = self.config.keys.select(alg, kid) {
            return Ok(Some(key.clone()));
        }
        match &self.config.jwks_url {
            Some(url) => {
                let max_age = self.config.jwks_cache_seconds;
                let remote = self.services.remote_keys;
                remote
                    .key(self.services.fetcher, url, max_age, alg, kid, now)
                    .await
            }
            None => Ok(None),
        }
    }
}

/// Decides one request. `body` is read only for routes that need one (see
/// [`crate::routes::body_limit`]).
pub async fn handle<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    body: Option<&[u8]>,
    config: Result<&Config, &ConfigError>,
    services: &Services<'_, S, V, F>,
    now: u64,
) -> Decision {
    let plain_json = head.wants_plain_json();
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            let render = Render {
                realm: crate::config::DEFAULT_REALM,
                plain_json,
            };
            return reject(Rejection::Config(e.clone()), render, "config", None);
        }
    };
    let render = Render {
        realm: &config.realm,
        plain_json,
    };
    let cx = Context {
        config,
        services,
        now,
    };
    let route = match classify(head) {
        Ok(route) => route,
        Err((e, name)) => return reject(e.into(), render, name, None),
    };
    let name = route.name();
    let outcome = match &route {
        Route::Proxy => return proxy_decision(head, &cx, render).await,
        Route::Preflight => Ok(Done::Forward(None)),
        Route::SignOut { scope } => sign_out(head, *scope, &cx).await,
        Route::IdentityRevoke { token_id } => identity_revoke(head, token_id.as_deref(), &cx).await,
        Route::IdentityValidate { token_id } => identity_validate(head, token_id, &cx).await,
        Route::Invalidate => invalidate(head, body, &cx).await,
        Route::UserSignOut { sub } => user_sign_out(head, sub, &cx).await,
        Route::OAuthRevoke => oauth_revoke(head, body, &cx).await,
        Route::OAuthIntrospect => oauth_introspect(head, body, &cx).await,
        Route::ListRevocations => list_revocations(head, &cx).await,
        Route::Restore { jti } => restore(head, jti, &cx).await,
    };
    match outcome {
        Ok(Done::Forward(caller)) => Decision {
            action: Action::Forward(forward_plan(config, caller.as_ref())),
            event: None,
        },
        Ok(Done::Answered { reply, event }) => Decision {
            action: Action::Reply(reply),
            event: event.map(|(decision, reason, jti, sub)| Event {
                decision,
                reason,
                jti,
                sub,
                route: name,
            }),
        },
        Err((rejection, jti)) => reject(rejection, render, name, jti),
    }
}

/// The proxy path, where monitor mode (`ENFORCE=false`) applies.
async fn proxy_decision<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    cx: &Context<'_, S, V, F>,
    render: Render<'_>,
) -> Decision {
    match proxy(head, cx).await {
        Ok(caller) => Decision {
            action: Action::Forward(forward_plan(cx.config, caller.as_ref())),
            event: None,
        },
        Err((rejection, jti)) if !cx.config.enforce => Decision {
            action: Action::Forward(forward_plan(cx.config, None)),
            event: Some(Event {
                decision: "would_reject",
                reason: rejection.reason(),
                jti: jti.map(|id| id.to_string()),
                sub: None,
                route: "proxy",
            }),
        },
        Err((rejection, jti)) => reject(rejection, render, "proxy", jti),
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
            sub: None,
            route,
        }),
        action: Action::Reply(rejection.reply(render)),
    }
}

/// What a handler did: forward (with the verified caller, for claim headers)
/// or answer, with `(decision, reason, jti, sub)` to log.
enum Done {
    Forward(Option<VerifiedToken>),
    Answered {
        reply: Reply,
        event: Option<(&'static str, &'static str, Option<String>, Option<String>)>,
    },
}

impl Done {
    fn revoked(reply: Reply, reason: &'static str, id: &TokenId) -> Done {
        Done::Answered {
            reply,
            event: Some(("revoke", reason, Some(id.to_string()), None)),
        }
    }
}

/// A rejection, with the token ID when one is known (for the log).
type Failure = (Rejection, Option<TokenId>);

fn fail(rejection: impl Into<Rejection>) -> Failure {
    (rejection.into(), None)
}

/// Claim headers for the origin: strip every configured header, then set
/// those whose claims the verified caller has.
fn forward_plan(config: &Config, caller: Option<&VerifiedToken>) -> Forward {
    let remove = config
        .forward_claims
        .iter()
        .map(|(_, h)| h.clone())
        .collect();
    let set = caller.map_or_else(Vec::new, |token| {
        config
            .forward_claims
            .iter()
            .filter_map(|(claim, header)| {
                let value = header_value(token.claims().all.get(claim)?)?;
                Some((header.clone(), value))
            })
            .collect()
    });
    Forward { remove, set }
}

/// A claim as a header value: strings as they are, arrays of strings joined
/// with `,`, other values as JSON. Bytes outside printable ASCII are
/// percent-encoded, so any claim is a valid header. Over 8 KiB: not sent.
fn header_value(claim: &Value) -> Option<String> {
    let text = match claim {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        Value::Null => return None,
        other => other.to_string(),
    };
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    (out.len() <= 8 * 1024).then_some(out)
}

/// Verifies a token, from the isolate's cache when it was seen before.
async fn verified<S, V: SignatureVerifier, F: JwksFetcher>(
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
async fn caller<S, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    cx: &Context<'_, S, V, F>,
) -> Result<Option<VerifiedToken>, Failure> {
    let Some(raw) = token::extract(head).map_err(fail)? else {
        return Ok(None);
    };
    verified(raw, cx).await.map(Some).map_err(fail)
}

/// The caller's token, which must be present and valid.
async fn required_caller<S, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    cx: &Context<'_, S, V, F>,
) -> Result<VerifiedToken, Failure> {
    caller(head, cx)
        .await?
        .ok_or_else(|| fail(TokenError::Missing))
}

/// Is the token revoked, by its ID or by its subject's cutoff? Both lookups
/// run concurrently. The store failing is an error, never a pass.
async fn revocation_of<S: RevocationStore, V, F>(
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
struct StoreFailure;

/// Rejects a revoked token (401) or an unanswerable store (503).
async fn ensure_not_revoked<S: RevocationStore, V, F>(
    token: &VerifiedToken,
    cx: &Context<'_, S, V, F>,
) -> Result<(), Failure> {
    let id = Some(token.id().clone());
    match revocation_of(token, cx).await {
        Ok(false) => Ok(()),
        Ok(true) => Err((TokenError::Revoked.into(), id)),
        Err(StoreFailure) => Err((crate::error::StoreError::Unavailable.into(), id)),
    }
}

/// A valid, unrevoked caller holding one of `ADMIN_ROLES`.
async fn require_admin<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
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

async fn proxy<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    cx: &Context<'_, S, V, F>,
) -> Result<Option<VerifiedToken>, Failure> {
    if cx.config.is_public(&head.path) {
        return Ok(None);
    }
    match caller(head, cx).await? {
        Some(token) => {
            ensure_not_revoked(&token, cx).await?;
            Ok(Some(token))
        }
        None if cx.config.require_token => Err(fail(TokenError::Missing)),
        None => Ok(None),
    }
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

/// A `tokenId` or `tokenReferenceId`: a JWT (any text with a `.`) must
/// verify and be unexpired; anything else is a bare token ID. `Ok(None)` means "not a revocable token".
async fn resolve_target<S, V: SignatureVerifier, F: JwksFetcher>(
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
async fn revoke<S: RevocationStore, V, F>(
    target: Target,
    reason: &'static str,
    by: String,
    route: &'static str,
    cx: &Context<'_, S, V, F>,
) -> Result<TokenId, Failure> {
    let record = Record {
        jti: target.id.to_string(),
        revoked_at: cx.now,
        exp: target.exp,
        sub: target.sub,
        reason: reason.into(),
        by,
        route: route.into(),
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
async fn cut_off<S: RevocationStore, V, F>(
    sub: &str,
    except: Option<&TokenId>,
    by: String,
    route: &'static str,
    cx: &Context<'_, S, V, F>,
) -> Result<(), Failure> {
    let store = cx.services.store;
    let unavailable = || fail(crate::error::StoreError::Unavailable);
    let stored = store.get_cutoff(sub).await.map_err(|_| unavailable())?;
    let cutoff = Cutoff::merge(
        stored,
        Cutoff {
            sub: sub.to_owned(),
            cutoff: cx.now,
            except: except.map(TokenId::to_string),
            by,
            route: route.into(),
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

fn caller_name(token: &VerifiedToken) -> String {
    token
        .claims()
        .sub
        .clone()
        .unwrap_or_else(|| token.id().to_string())
}

async fn sign_out<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    scope: Scope,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    let route = "DELETE /api/tokens";
    let token = required_caller(head, cx).await?;
    let by = caller_name(&token);
    let (except, reason) = match scope {
        Scope::Local => {
            let id = revoke(Target::of(&token), "sign_out", by, route, cx).await?;
            return Ok(Done::revoked(Reply::empty(204), "sign_out", &id));
        }
        Scope::Global => (None, "sign_out_global"),
        Scope::Others => (Some(token.id()), "sign_out_others"),
    };
    // Subject-wide sign-out needs a subject.
    let Some(sub) = token.claims().sub.clone() else {
        return Err((RequestError::Malformed.into(), Some(token.id().clone())));
    };
    cut_off(&sub, except, by, route, cx).await?;
    Ok(Done::Answered {
        reply: Reply::empty(204),
        event: Some(("revoke", reason, Some(token.id().to_string()), Some(sub))),
    })
}

async fn user_sign_out<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    sub: &str,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    let admin = require_admin(head, cx).await?;
    cut_off(
        sub,
        None,
        caller_name(&admin),
        "DELETE /api/users/{sub}/tokens",
        cx,
    )
    .await?;
    Ok(Done::Answered {
        reply: Reply::empty(204),
        event: Some(("revoke", "admin_sign_out", None, Some(sub.to_owned()))),
    })
}

async fn identity_revoke<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    token_id: Option<&str>,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    let route = "DELETE /v2.0/tokens";
    let Some(token_id) = token_id else {
        let token = required_caller(head, cx).await?;
        let by = caller_name(&token);
        let id = revoke(Target::of(&token), "sign_out", by, route, cx).await?;
        return Ok(Done::revoked(Reply::empty(204), "sign_out", &id));
    };
    // Acting on another token: the caller must be a live admin.
    let admin = require_admin(head, cx).await?;
    if token_id.len() > MAX_TOKEN_ID_BYTES {
        return Err(fail(RequestError::TokenIdTooLarge));
    }
    let target = resolve_target(token_id, cx)
        .await?
        .ok_or_else(|| fail(RequestError::UnknownToken))?;
    let id = revoke(target, "admin", caller_name(&admin), route, cx).await?;
    Ok(Done::revoked(Reply::empty(204), "admin", &id))
}

async fn identity_validate<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    token_id: &str,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    // The validation call is an ordinary request first.
    let caller = proxy(head, cx).await?;
    if token_id.len() > MAX_TOKEN_ID_BYTES {
        return Ok(Done::Forward(caller));
    }
    let revoked = if is_jwt_reference(token_id) {
        match verified(token_id, cx).await {
            // A token that does not verify is left to the origin to judge.
            Err(Rejection::Token(_)) => false,
            Err(other) => return Err(fail(other)),
            Ok(token) => match revocation_of(&token, cx).await {
                Ok(revoked) => revoked,
                Err(StoreFailure) => return Err(fail(crate::error::StoreError::Unavailable)),
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

async fn invalidate<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    body: Option<&[u8]>,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    let presented = head.header("x-api-key").unwrap_or_default().as_bytes();
    // Compare against every key, without stopping early.
    let authorised = cx
        .config
        .invalidate_api_keys
        .iter()
        .fold(false, |found, key| key.matches(presented) | found);
    if !authorised {
        return Err(fail(ServiceError::BadApiKey));
    }
    let reference = body
        .filter(|body| body.len() <= MAX_BODY)
        .and_then(parse_invalidate_body)
        .ok_or_else(|| fail(ServiceError::BadBody))?;
    let route = "POST /token-service/client/server/invalidate/token";
    let target = match resolve_target(&reference, cx).await {
        Ok(Some(target)) => target,
        Ok(None) => return Err(fail(ServiceError::UnknownToken)),
        Err((_, id)) => return Err((ServiceError::Unavailable.into(), id)),
    };
    let id = revoke(target, "service", "api-key".into(), route, cx)
        .await
        .map_err(|(_, id)| (ServiceError::Unavailable.into(), id))?;
    let mut reply = Reply::json(200, &());
    reply.body = INVALIDATE_SUCCESS.as_bytes().to_vec();
    Ok(Done::revoked(reply, "service", &id))
}

/// `{"tokenReferenceId": "<non-empty string>"}`; other members are ignored.
/// The content type is not checked: the published sample sends text/plain.
/// The body must be UTF-8 and a JSON object: a derived struct would also
/// take `["..."]`, and serde_json skips ignored strings without checking
/// their UTF-8 (both found by fuzzing).
pub fn parse_invalidate_body(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let value: Value = serde_json::from_str(text).ok()?;
    let reference = value.as_object()?.get("tokenReferenceId")?.as_str()?.trim();
    (!reference.is_empty()).then(|| reference.to_owned())
}

/// HTTP Basic client authentication (RFC 6749 §2.3.1) against
/// `OAUTH_CLIENTS`; the client ID on success. Every entry is compared, in
/// constant time.
fn oauth_client(head: &RequestHead, config: &Config) -> Result<String, Failure> {
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
fn oauth_token(body: Option<&[u8]>) -> Result<String, Failure> {
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
async fn oauth_subject<S, V: SignatureVerifier, F: JwksFetcher>(
    token: &str,
    cx: &Context<'_, S, V, F>,
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

async fn oauth_revoke<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    body: Option<&[u8]>,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    let client = oauth_client(head, cx.config)?;
    let raw = oauth_token(body)?;
    let ok = || Reply::json(200, &json!({}));
    // RFC 7009 §2.2: an invalid or unknown token is answered 200 all the same.
    let Some(token) = oauth_subject(&raw, cx).await? else {
        return Ok(Done::Answered {
            reply: ok(),
            event: None,
        });
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
    let id = revoke(
        Target::of(&token),
        "oauth_revoke",
        format!("client:{client}"),
        "POST /oauth/revoke",
        cx,
    )
    .await
    .map_err(|(_, id)| (OAuthError::Unavailable.into(), id))?;
    Ok(Done::revoked(ok(), "oauth_revoke", &id))
}

async fn oauth_introspect<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    body: Option<&[u8]>,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    oauth_client(head, cx.config)?;
    let raw = oauth_token(body)?;
    let active = match oauth_subject(&raw, cx).await? {
        None => None,
        Some(token) => match revocation_of(&token, cx).await {
            Ok(true) => None,
            Ok(false) => Some(token),
            Err(StoreFailure) => return Err(fail(OAuthError::Unavailable)),
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
    Ok(Done::Answered {
        reply: Reply::json(200, &body),
        event: None,
    })
}

async fn list_revocations<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    require_admin(head, cx).await?;
    let malformed = || fail(RequestError::Malformed);
    let query = parse_form(&head.query).ok_or_else(malformed)?;
    let one = |name: &str| -> Result<Option<&str>, Failure> {
        let mut values = query
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (value, None) => Ok(value.filter(|v| !v.is_empty())),
            _ => Err(malformed()),
        }
    };
    let limit = match one("limit")? {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(malformed)?,
    };
    let sub = one("sub")?;
    let page = cx
        .services
        .store
        .list(one("cursor")?, limit)
        .await
        .map_err(fail)?;
    // A `sub` filter applies within the page, so a page may hold fewer items.
    let items: Vec<Value> = page
        .items
        .iter()
        .filter(|item| sub.is_none() || item.record.sub.as_deref() == sub)
        .map(|item| {
            let mut value = serde_json::to_value(&item.record).unwrap_or_default();
            value["expires_at"] = json!(item.expires_at);
            value
        })
        .collect();
    let body = json!({
        "items": items,
        "cursor": page.cursor,
        "list_complete": page.cursor.is_none(),
    });
    Ok(Done::Answered {
        reply: Reply::json(200, &body),
        event: None,
    })
}

async fn restore<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    jti: &str,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    let admin = require_admin(head, cx).await?;
    let id = TokenId::from_reference(jti).ok_or_else(|| fail(RequestError::UnknownToken))?;
    let store = cx.services.store;
    let existing = store.get(&id).await.map_err(fail)?;
    if existing.is_none() {
        return Err((RequestError::UnknownToken.into(), Some(id)));
    }
    store
        .delete(&id)
        .await
        .map_err(|e| (e.into(), Some(id.clone())))?;
    Ok(Done::Answered {
        reply: Reply::empty(204),
        event: Some((
            "restore",
            "admin",
            Some(id.to_string()),
            admin.claims().sub.clone(),
        )),
    })
}

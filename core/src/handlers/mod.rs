//! The one place that combines routes, token rules, the store and errors.
//! [`handle`] takes plain data, the services and the time, and returns a
//! [`Decision`]; the worker carries it out.
//!
//! [`handle`] dispatches over [`Route`] to one module per route family;
//! the steps they share (who is the caller, is it an admin, write a
//! revocation, write a cutoff) are written once, in `steps`.
//!
//! | module | routes |
//! |---|---|
//! | `proxy` | every other request: check, then forward |
//! | `sign_out` | `DELETE /api/tokens` with its scopes |
//! | `identity` | Identity v2.0: `DELETE /v2.0/tokens`, `GET`/`HEAD /v2.0/tokens/{id}` |
//! | `service` | `POST /token-service/client/server/invalidate/token` |
//! | `oauth` | `POST /oauth/revoke` (RFC 7009), `POST /oauth/introspect` (RFC 7662) |
//! | `admin` | listing, restore, admin sign-out of a subject |
//! | `backchannel` | `POST /oidc/backchannel-logout` |
//! | `ssf` | `POST /ssf/events` |
//! | `gtr` | `POST` on `GTR_PATH` (Global Token Revocation) |
//! | `poll` | the scheduled poll of `SSF_POLL_URL` (RFC 8936), through `ssf`'s SET path |
//! | `forward` | which claim headers a forwarded request carries |

mod admin;
mod backchannel;
mod forward;
mod gtr;
mod identity;
mod oauth;
mod poll;
mod proxy;
mod service;
mod sign_out;
mod ssf;
mod steps;

pub use poll::{poll_transmitter, PollRun, MAX_EVENTS, MAX_POLLS, POLL_ROUTE, RUN_MS};
pub use service::{parse_invalidate_body, INVALIDATE_SUCCESS};

use crate::config::{Config, DEFAULT_REALM};
use crate::error::{ConfigError, Rejection, Render, VerifyError};
use crate::http::reply::Reply;
use crate::http::request::RequestHead;
use crate::http::routes::{classify_configured, Route, RouteError};
use crate::keys::{Alg, Key, KeyFamily, KeyLookup, KeySet, Outbound, RemoteKeys};
use crate::log::Event;
use crate::revocation::RevokeReason;
use crate::revocation::{JournalLink, Kv, NoJournal, Revocations};
use crate::token::cache::TokenCache;
use crate::token::signature::SignatureVerifier;
use crate::token::{self, TokenId, VerifiedToken};
use std::rc::Rc;

/// How to forward a request: where, for how long, with which headers
/// changed, and what to answer when the origin cannot be reached or does not
/// answer in time. The worker carries it out as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    /// `ORIGIN_URL` plus the request's path and query, or the request's own
    /// URL (route mode).
    pub url: String,
    /// How long to wait for the origin's response headers
    /// (`ORIGIN_TIMEOUT_SECONDS`), in milliseconds.
    pub timeout_ms: u64,
    /// Removed first: every client spelling of a `FORWARD_CLAIMS` header, so
    /// a client cannot spoof one.
    pub remove: Vec<String>,
    /// Then set: verified claims, `(lower-case name, value)`.
    pub set: Vec<(String, String)>,
    /// The answer when the origin cannot be reached or resets (`502`).
    pub unreachable: &'static Reply,
    /// The answer when no response headers arrive in time (`504`).
    pub timed_out: &'static Reply,
}

/// What to do with the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Pass it to the origin, otherwise unchanged.
    Forward(Forward),
    /// Answer it at the edge.
    Reply(Reply),
}

/// The outcome of [`handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Forward or reply.
    pub action: Action,
    /// What to log, if anything.
    pub event: Option<Event>,
}

/// What a request is decided with besides its settings and the time: the
/// parts that do I/O or hold isolate state. The worker supplies the
/// runtime's (Workers KV, WebCrypto, `fetch`); tests supply memory and the
/// native verifier.
pub trait Runtime {
    /// The key-value store revocations live in.
    type Kv: Kv;
    /// The revocation journal ([`NoJournal`] when none is bound).
    type Journal: JournalLink;
    /// Signature checks.
    type Verifier: SignatureVerifier;
    /// Fetches remote key sets.
    type Fetcher: Outbound;
    /// Revocations, as this isolate sees them now.
    fn store(&self) -> &Revocations<'_, Self::Kv, Self::Journal>;
    /// Signature checks.
    fn verifier(&self) -> &Self::Verifier;
    /// Fetches `JWT_JWKS_URL` and `SSF_JWKS_URL`.
    fn fetcher(&self) -> &Self::Fetcher;
    /// The cached `JWT_JWKS_URL` key set.
    fn remote_keys(&self) -> &RemoteKeys;
    /// The cached `SSF_JWKS_URL` key set (a transmitter's keys).
    fn ssf_remote_keys(&self) -> &RemoteKeys;
    /// The cached `GTR_JWKS_URL` key set (an assertion signer's keys).
    fn gtr_remote_keys(&self) -> &RemoteKeys;
    /// Verified tokens seen before.
    fn cache(&self) -> &TokenCache;
}

/// A [`Runtime`] of parts: what the worker and the tests build for each
/// request (see [`crate::isolate::Isolate::services`]).
pub struct Services<'a, K, V, F, J = NoJournal> {
    /// Revocations.
    pub store: Revocations<'a, K, J>,
    /// Signature checks.
    pub verifier: &'a V,
    /// Fetches `JWT_JWKS_URL`.
    pub fetcher: &'a F,
    /// The cached `JWT_JWKS_URL` key set.
    pub remote_keys: &'a RemoteKeys,
    /// The cached `SSF_JWKS_URL` key set (a transmitter's keys).
    pub ssf_remote_keys: &'a RemoteKeys,
    /// The cached `GTR_JWKS_URL` key set (an assertion signer's keys).
    pub gtr_remote_keys: &'a RemoteKeys,
    /// Verified tokens seen before.
    pub cache: &'a TokenCache,
}

impl<K: Kv, V: SignatureVerifier, F: Outbound, J: JournalLink> Runtime
    for Services<'_, K, V, F, J>
{
    type Kv = K;
    type Journal = J;
    type Verifier = V;
    type Fetcher = F;
    fn store(&self) -> &Revocations<'_, K, J> {
        &self.store
    }
    fn verifier(&self) -> &V {
        self.verifier
    }
    fn fetcher(&self) -> &F {
        self.fetcher
    }
    fn remote_keys(&self) -> &RemoteKeys {
        self.remote_keys
    }
    fn ssf_remote_keys(&self) -> &RemoteKeys {
        self.ssf_remote_keys
    }
    fn gtr_remote_keys(&self) -> &RemoteKeys {
        self.gtr_remote_keys
    }
    fn cache(&self) -> &TokenCache {
        self.cache
    }
}

/// What a handler sees: the settings, the runtime, the time, the name of
/// the route it serves (for records and log lines), and how its errors are
/// rendered (for a handler that answers an error with its own log line).
struct Context<'a, R> {
    config: &'a Config,
    rt: &'a R,
    now: u64,
    route: &'static str,
    render: Render<'a>,
}

/// Access tokens and logout tokens: `JWT_SECRET` and `JWT_JWKS` first, then
/// `JWT_JWKS_URL`.
impl<R: Runtime> KeyLookup for Context<'_, R> {
    async fn key(
        &self,
        alg: Alg,
        kid: Option<&str>,
        now: u64,
    ) -> Result<Option<Rc<Key>>, VerifyError> {
        let config = self.config;
        let keys = self.keys(
            &config.keys,
            config.jwks_url.as_deref(),
            self.rt.remote_keys(),
        );
        keys.key(alg, kid, now).await
    }
}

impl<R: Runtime> Context<'_, R> {
    /// A family of keys: `configured`, then the key set at `url` as
    /// `remote` holds it, kept `JWKS_CACHE_SECONDS` and fetched with this
    /// runtime.
    fn keys<'a>(
        &'a self,
        configured: &'a KeySet,
        url: Option<&'a str>,
        remote: &'a RemoteKeys,
    ) -> KeyFamily<'a, R::Fetcher> {
        KeyFamily {
            configured,
            url,
            remote,
            max_age: self.config.jwks_cache_seconds,
            fetcher: self.rt.fetcher(),
        }
    }
}

/// Decides one request: [`classify_configured`] it, then [`decide`].
pub async fn handle<R: Runtime>(
    head: &RequestHead,
    body: Option<&[u8]>,
    config: Result<&Config, &ConfigError>,
    rt: &R,
    now: u64,
) -> Decision {
    let gtr_path = config
        .ok()
        .and_then(|c| c.gtr.as_ref())
        .map(|g| g.path.as_str());
    let route = classify_configured(head, gtr_path);
    decide(head, route, body, config, rt, now).await
}

/// Decides one request already classified: the worker classifies it first
/// to know whether to read a body (see [`crate::isolate::Isolate::body_limit`]),
/// and only then reads one, for routes that need it.
pub async fn decide<R: Runtime>(
    head: &RequestHead,
    route: Result<Route, RouteError>,
    body: Option<&[u8]>,
    config: Result<&Config, &ConfigError>,
    rt: &R,
    now: u64,
) -> Decision {
    let plain_json = head.wants_plain_json();
    let name = match &route {
        Ok(route) => route.name(),
        Err((_, name)) => name,
    };
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            let render = Render {
                realm: DEFAULT_REALM,
                plain_json,
            };
            return reject(Rejection::Config(e.clone()), render, name, None);
        }
    };
    let render = Render {
        realm: &config.realm,
        plain_json,
    };
    let route = match route {
        // A receiver that is not configured leaves its path to the origin.
        Ok(route) if !config.serves(&route) => Route::Proxy,
        Ok(route) => route,
        Err((e, name)) => return reject(e.into(), render, name, None),
    };
    let name = route.name();
    let cx = Context {
        config,
        rt,
        now,
        route: name,
        render,
    };
    let outcome = match &route {
        Route::Proxy => return proxy::decide(head, &cx, render).await,
        // Browsers send no credentials on a preflight; one that carries a
        // bearer token did not come from a browser, and the origin may act
        // on it: its token is checked like any other request's.
        Route::Preflight if !matches!(token::extract(head), Ok(None)) => {
            return proxy::decide(head, &cx, render).await
        }
        Route::Preflight => Ok(Done::Forward(None)),
        Route::SignOut { scope } => sign_out::sign_out(head, *scope, &cx).await,
        Route::IdentityRevoke { token_id } => {
            identity::revoke(head, token_id.as_deref(), &cx).await
        }
        Route::IdentityValidate {
            token_id,
            with_params,
        } => identity::validate(head, token_id, with_params.as_deref(), &cx).await,
        Route::Invalidate => service::invalidate(head, body, &cx).await,
        Route::UserSignOut { sub } => admin::sign_out_subject(head, sub, &cx).await,
        Route::OAuthRevoke => oauth::revoke(head, body, &cx).await,
        Route::OAuthIntrospect => oauth::introspect(head, body, &cx).await,
        Route::ListRevocations => admin::list(head, &cx).await,
        Route::ListCutoffs => admin::list_cutoffs(head, &cx).await,
        Route::JournalStatus => admin::journal_status(head, &cx).await,
        Route::Restore { jti } => admin::restore(head, jti, &cx).await,
        Route::BackchannelLogout => backchannel::logout(body, &cx).await,
        Route::SsfEvents => ssf::events(head, body, &cx).await,
        Route::GlobalTokenRevocation => gtr::revoke_user(head, body, &cx).await,
    };
    match outcome {
        Ok(Done::Forward(caller)) => Decision {
            action: Action::Forward(forward::plan(config, head, caller.as_ref())),
            event: None,
        },
        Ok(Done::Answered { reply, event }) => Decision {
            action: Action::Reply(reply),
            event,
        },
        Err((rejection, jti)) => reject(rejection, render, name, jti),
    }
}

/// The answer for a rejection, and its log line.
fn reject(
    rejection: Rejection,
    render: Render<'_>,
    route: &'static str,
    jti: Option<TokenId>,
) -> Decision {
    Decision {
        event: Some(Event::rejected(&rejection, jti.as_ref(), route, true)),
        action: Action::Reply(rejection.reply(render)),
    }
}

/// What a handler did: forward (with the verified caller, for claim headers)
/// or answer, with what to log. One per request and moved, never stored, so
/// the answer stays inline rather than behind an allocation.
#[allow(clippy::large_enum_variant)]
enum Done {
    Forward(Option<VerifiedToken>),
    Answered { reply: Reply, event: Option<Event> },
}

impl Done {
    /// Answered `reply` after revoking `id` for `reason`.
    fn revoked<R: Runtime>(
        reply: Reply,
        reason: RevokeReason,
        id: &TokenId,
        cx: &Context<'_, R>,
    ) -> Done {
        Done::Answered {
            reply,
            event: Some(Event::revoked(reason, Some(id), None, cx.route)),
        }
    }

    /// Answered `reply` with nothing to log.
    fn reply(reply: Reply) -> Done {
        Done::Answered { reply, event: None }
    }
}

/// A rejection, with the token ID when one is known (for the log).
type Failure = (Rejection, Option<TokenId>);

fn fail(rejection: impl Into<Rejection>) -> Failure {
    (rejection.into(), None)
}

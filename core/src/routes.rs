//! The method and path pairs the worker answers itself. Every other request,
//! including other methods on these paths, belongs to the origin.

use crate::error::RequestError;
use crate::primitives::percent_decode;
use crate::request::RequestHead;

/// Largest body read for the routes that take one.
pub const MAX_BODY: usize = 16 * 1024;
/// Largest `tokenId` accepted by `DELETE /v2.0/tokens`.
pub const MAX_TOKEN_ID_BYTES: usize = 8 * 1024;
/// Largest page of `GET /api/revocations`.
pub const MAX_PAGE: usize = 1000;
/// Default page of `GET /api/revocations`.
pub const DEFAULT_PAGE: usize = 100;

const SIGN_OUT: &str = "/api/tokens";
const IDENTITY: &str = "/v2.0/tokens";
const INVALIDATE: &str = "/token-service/client/server/invalidate/token";
const OAUTH_REVOKE: &str = "/oauth/revoke";
const OAUTH_INTROSPECT: &str = "/oauth/introspect";
const REVOCATIONS: &str = "/api/revocations";
const CUTOFFS: &str = "/api/cutoffs";
const USERS: &str = "/api/users/";
const BACKCHANNEL_LOGOUT: &str = "/oidc/backchannel-logout";
const SSF_EVENTS: &str = "/ssf/events";

/// Which tokens `DELETE /api/tokens` signs out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The calling token only (the default).
    Local,
    /// Every token of the caller's subject issued until now.
    Global,
    /// Like `Global`, but the calling token stays valid.
    Others,
    /// Every token of the caller's session (`sid`) issued until now.
    Session,
}

/// What a request is, by method and path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `DELETE /api/tokens[?scope=local|global|others]`: the caller signs out.
    SignOut {
        /// Which tokens.
        scope: Scope,
    },
    /// `DELETE /v2.0/tokens`, `DELETE /v2.0/tokens?tokenId=` or
    /// `DELETE /v2.0/tokens/{tokenId}`: revoke the caller's or another token.
    IdentityRevoke {
        /// The target, when one is named.
        token_id: Option<String>,
    },
    /// `GET` or `HEAD /v2.0/tokens/{tokenId}`: Identity's validation call,
    /// answered 404 at the edge when that token is revoked.
    IdentityValidate {
        /// The token being validated.
        token_id: String,
    },
    /// `POST /token-service/client/server/invalidate/token`.
    Invalidate,
    /// `DELETE /api/users/{sub}/tokens`: an admin signs a subject out everywhere.
    UserSignOut {
        /// The subject.
        sub: String,
    },
    /// `POST /oauth/revoke` (RFC 7009).
    OAuthRevoke,
    /// `POST /oauth/introspect` (RFC 7662).
    OAuthIntrospect,
    /// `GET /api/revocations`: admins page through revocations.
    ListRevocations,
    /// `GET /api/cutoffs?kind=subject|session`: admins page through subject
    /// and session cutoffs.
    ListCutoffs,
    /// `DELETE /api/revocations/{jti}`: an admin restores a token.
    Restore {
        /// The token ID.
        jti: String,
    },
    /// `POST /oidc/backchannel-logout`: the identity provider ends a session
    /// (OpenID Connect Back-Channel Logout 1.0). Served only when
    /// `BACKCHANNEL_LOGOUT_AUDIENCE` is set; otherwise the origin's.
    BackchannelLogout,
    /// `POST /ssf/events`: a Shared Signals transmitter pushes a security
    /// event token (RFC 8935). Served only when `SSF_ISSUER` is set;
    /// otherwise the origin's.
    SsfEvents,
    /// A CORS preflight (`OPTIONS` with `Access-Control-Request-Method`):
    /// forwarded without a token check, because browsers send none.
    Preflight,
    /// Anything else: check the token and forward.
    Proxy,
}

impl Route {
    /// Names the route for logs and revocation records.
    pub fn name(&self) -> &'static str {
        match self {
            Route::SignOut { .. } => "DELETE /api/tokens",
            Route::IdentityRevoke { .. } => "DELETE /v2.0/tokens",
            Route::IdentityValidate { .. } => "GET /v2.0/tokens/{tokenId}",
            Route::Invalidate => "POST /token-service/client/server/invalidate/token",
            Route::UserSignOut { .. } => "DELETE /api/users/{sub}/tokens",
            Route::OAuthRevoke => "POST /oauth/revoke",
            Route::OAuthIntrospect => "POST /oauth/introspect",
            Route::ListRevocations => "GET /api/revocations",
            Route::ListCutoffs => "GET /api/cutoffs",
            Route::Restore { .. } => "DELETE /api/revocations/{jti}",
            Route::BackchannelLogout => "POST /oidc/backchannel-logout",
            Route::SsfEvents => "POST /ssf/events",
            Route::Preflight => "preflight",
            Route::Proxy => "proxy",
        }
    }
}

/// A request to an owned route that is malformed, with the route's name.
pub type RouteError = (RequestError, &'static str);

/// Classifies a request. Paths match exactly, so `/api/tokens/` or
/// `/v2.0/tokens/a/b` are the origin's.
pub fn classify(head: &RequestHead) -> Result<Route, RouteError> {
    let method = head.method.as_str();
    let path = head.path.as_str();
    let malformed = |route: &Route| (RequestError::Malformed, route.name());
    match (method, path) {
        ("DELETE", SIGN_OUT) => {
            let values = head.query_values("scope").ok_or_else(|| {
                malformed(&Route::SignOut {
                    scope: Scope::Local,
                })
            })?;
            let scope = match single(&values) {
                Ok(None) => Scope::Local,
                Ok(Some("local")) => Scope::Local,
                Ok(Some("global")) => Scope::Global,
                Ok(Some("others")) => Scope::Others,
                Ok(Some("session")) => Scope::Session,
                _ => {
                    return Err(malformed(&Route::SignOut {
                        scope: Scope::Local,
                    }))
                }
            };
            return Ok(Route::SignOut { scope });
        }
        ("POST", INVALIDATE) => return Ok(Route::Invalidate),
        ("POST", OAUTH_REVOKE) => return Ok(Route::OAuthRevoke),
        ("POST", OAUTH_INTROSPECT) => return Ok(Route::OAuthIntrospect),
        ("GET", REVOCATIONS) => return Ok(Route::ListRevocations),
        ("GET", CUTOFFS) => return Ok(Route::ListCutoffs),
        ("POST", BACKCHANNEL_LOGOUT) => return Ok(Route::BackchannelLogout),
        ("POST", SSF_EVENTS) => return Ok(Route::SsfEvents),
        ("DELETE", IDENTITY) => {
            let route = Route::IdentityRevoke { token_id: None };
            let token_id = query_token_id(head).map_err(|e| (e, route.name()))?;
            return Ok(Route::IdentityRevoke { token_id });
        }
        ("OPTIONS", _) if head.header("access-control-request-method").is_some() => {
            return Ok(Route::Preflight)
        }
        _ => {}
    }
    if method == "DELETE" {
        if let Some(segment) = one_segment(path, REVOCATIONS) {
            let route = Route::Restore { jti: String::new() };
            let jti = percent_decode(segment, false).ok_or_else(|| malformed(&route))?;
            return Ok(Route::Restore { jti });
        }
        if let Some(sub) = path
            .strip_prefix(USERS)
            .and_then(|rest| rest.strip_suffix("/tokens"))
            .filter(|sub| !sub.is_empty() && !sub.contains('/'))
        {
            let route = Route::UserSignOut { sub: String::new() };
            let sub = percent_decode(sub, false).ok_or_else(|| malformed(&route))?;
            return Ok(Route::UserSignOut { sub });
        }
    }
    let Some(segment) = one_segment(path, IDENTITY) else {
        return Ok(Route::Proxy);
    };
    match method {
        "DELETE" => {
            let route = Route::IdentityRevoke { token_id: None };
            let from_path = percent_decode(segment, false).ok_or_else(|| malformed(&route))?;
            match query_token_id(head).map_err(|e| (e, route.name()))? {
                Some(from_query) if from_query != from_path => Err(malformed(&route)),
                _ => Ok(Route::IdentityRevoke {
                    token_id: Some(from_path),
                }),
            }
        }
        "GET" | "HEAD" => Ok(match percent_decode(segment, false) {
            Some(token_id) => Route::IdentityValidate { token_id },
            None => Route::Proxy,
        }),
        _ => Ok(Route::Proxy),
    }
}

/// `{base}/{segment}` with exactly one non-empty segment.
fn one_segment<'a>(path: &'a str, base: &str) -> Option<&'a str> {
    path.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// At most one distinct, non-empty value.
fn single(values: &[String]) -> Result<Option<&str>, RequestError> {
    match values.split_first() {
        None => Ok(None),
        Some((first, rest)) if !first.is_empty() && rest.iter().all(|v| v == first) => {
            Ok(Some(first))
        }
        Some(_) => Err(RequestError::Malformed),
    }
}

/// `?tokenId=`: absent, or one non-empty value (repeats must agree).
fn query_token_id(head: &RequestHead) -> Result<Option<String>, RequestError> {
    let values = head
        .query_values("tokenId")
        .ok_or(RequestError::Malformed)?;
    Ok(single(&values)?.map(str::to_owned))
}

/// How many body bytes a route needs read, if any. The glue reads at most
/// this many plus one, so an oversized body is seen as such without being
/// buffered whole.
pub fn body_limit(head: &RequestHead) -> Option<usize> {
    let reads_body = head.method == "POST"
        && matches!(
            head.path.as_str(),
            INVALIDATE | OAUTH_REVOKE | OAUTH_INTROSPECT | BACKCHANNEL_LOGOUT | SSF_EVENTS
        );
    reads_body.then_some(MAX_BODY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_with(method: &str, url: &str, headers: &[(&str, &str)]) -> Result<Route, RouteError> {
        classify(&RequestHead::new(
            method,
            &format!("https://edge.test{url}"),
            headers.iter().copied(),
        ))
    }

    fn route(method: &str, url: &str) -> Result<Route, RouteError> {
        route_with(method, url, &[])
    }

    fn malformed(method: &str, url: &str) -> RequestError {
        route(method, url).unwrap_err().0
    }

    #[test]
    fn owned_routes() {
        let local = Route::SignOut {
            scope: Scope::Local,
        };
        assert_eq!(route("DELETE", "/api/tokens"), Ok(local.clone()));
        assert_eq!(route("DELETE", "/api/tokens?scope=local"), Ok(local));
        assert_eq!(
            route("DELETE", "/api/tokens?scope=global"),
            Ok(Route::SignOut {
                scope: Scope::Global
            })
        );
        assert_eq!(
            route("DELETE", "/api/tokens?scope=others"),
            Ok(Route::SignOut {
                scope: Scope::Others
            })
        );
        assert_eq!(
            route("POST", "/token-service/client/server/invalidate/token"),
            Ok(Route::Invalidate)
        );
        assert_eq!(
            route("DELETE", "/v2.0/tokens"),
            Ok(Route::IdentityRevoke { token_id: None })
        );
        assert_eq!(
            route("DELETE", "/v2.0/tokens?tokenId=abc"),
            Ok(Route::IdentityRevoke {
                token_id: Some("abc".into())
            })
        );
        assert_eq!(
            route("DELETE", "/v2.0/tokens/a%20b"),
            Ok(Route::IdentityRevoke {
                token_id: Some("a b".into())
            })
        );
        assert_eq!(
            route("DELETE", "/v2.0/tokens/abc?tokenId=abc"),
            Ok(Route::IdentityRevoke {
                token_id: Some("abc".into())
            })
        );
        for method in ["GET", "HEAD"] {
            assert_eq!(
                route(method, "/v2.0/tokens/abc"),
                Ok(Route::IdentityValidate {
                    token_id: "abc".into()
                })
            );
        }
        assert_eq!(
            route("DELETE", "/api/users/alice%40example.com/tokens"),
            Ok(Route::UserSignOut {
                sub: "alice@example.com".into()
            })
        );
        assert_eq!(route("POST", "/oauth/revoke"), Ok(Route::OAuthRevoke));
        assert_eq!(
            route("POST", "/oauth/introspect"),
            Ok(Route::OAuthIntrospect)
        );
        assert_eq!(
            route("GET", "/api/revocations?limit=5"),
            Ok(Route::ListRevocations)
        );
        assert_eq!(
            route("DELETE", "/api/revocations/j-1"),
            Ok(Route::Restore { jti: "j-1".into() })
        );
        assert_eq!(
            route_with(
                "OPTIONS",
                "/api/tokens",
                &[("access-control-request-method", "DELETE")]
            ),
            Ok(Route::Preflight)
        );
    }

    #[test]
    fn origin_routes_are_never_shadowed() {
        for (method, path) in [
            ("POST", "/v2.0/tokens"),
            ("GET", "/v2.0/tokens"),
            ("GET", "/api/tokens"),
            ("POST", "/api/tokens"),
            ("DELETE", "/api/tokens/"),
            ("DELETE", "/v2.0/tokens/a/b"),
            ("PUT", "/v2.0/tokens/abc"),
            ("GET", "/token-service/client/server/invalidate/token"),
            ("DELETE", "/API/TOKENS"),
            ("GET", "/oauth/revoke"),
            ("GET", "/api/users/alice/tokens"),
            ("DELETE", "/api/users//tokens"),
            ("DELETE", "/api/users/a/b/tokens"),
            ("POST", "/api/revocations"),
            ("GET", "/api/revocations/x"),
            ("DELETE", "/api/revocations"),
            ("OPTIONS", "/api/tokens"),
        ] {
            assert_eq!(route(method, path), Ok(Route::Proxy), "{method} {path}");
        }
    }

    #[test]
    fn malformed_requests_name_their_route() {
        for path in [
            "/v2.0/tokens?tokenId=",
            "/v2.0/tokens?tokenId=a&tokenId=b",
            "/v2.0/tokens/a?tokenId=b",
            "/v2.0/tokens/%zz",
            "/v2.0/tokens?tokenId=%",
        ] {
            assert_eq!(malformed("DELETE", path), RequestError::Malformed, "{path}");
            assert_eq!(route("DELETE", path).unwrap_err().1, "DELETE /v2.0/tokens");
        }
        for path in [
            "/api/tokens?scope=all",
            "/api/tokens?scope=",
            "/api/tokens?scope=local&scope=global",
        ] {
            assert_eq!(
                route("DELETE", path).unwrap_err(),
                (RequestError::Malformed, "DELETE /api/tokens")
            );
        }
        assert_eq!(
            malformed("DELETE", "/api/users/%zz/tokens"),
            RequestError::Malformed
        );
    }

    #[test]
    fn only_body_routes_read_a_body() {
        let head = |m: &str, p: &str| {
            RequestHead::new(m, &format!("http://h{p}"), Vec::<(String, String)>::new())
        };
        for path in [
            INVALIDATE,
            OAUTH_REVOKE,
            OAUTH_INTROSPECT,
            BACKCHANNEL_LOGOUT,
            SSF_EVENTS,
        ] {
            assert_eq!(body_limit(&head("POST", path)), Some(MAX_BODY));
        }
        assert_eq!(body_limit(&head("POST", "/other")), None);
        assert_eq!(body_limit(&head("DELETE", SIGN_OUT)), None);
    }
}

//! The method and path pairs the worker answers itself. Every other request,
//! including other methods on these paths, belongs to the origin.
//!
//! Paths are matched in a canonical form ([`classify`]): every spelling of
//! one of the worker's routes that an origin would take for it (repeated or
//! trailing slashes, percent-encoded unreserved characters, `;` parameters,
//! dot segments, other letter case) is that route, and is never forwarded.

use crate::error::RequestError;
use crate::http::request::RequestHead;
use crate::primitives::percent_decode;
use std::borrow::Cow;

/// Largest body read for the routes that take one.
pub const MAX_BODY: usize = 16 * 1024;
/// Largest `tokenId` accepted by `DELETE /v2.0/tokens`.
pub const MAX_TOKEN_ID_BYTES: usize = 8 * 1024;
/// Largest page of `GET /api/revocations`.
pub const MAX_PAGE: usize = 1000;
/// Default page of `GET /api/revocations`.
pub const DEFAULT_PAGE: usize = 100;

// The worker's own paths, as fixed segments (matched without regard to case).
const SIGN_OUT: &[&str] = &["api", "tokens"];
const IDENTITY: &[&str] = &["v2.0", "tokens"];
const INVALIDATE: &[&str] = &["token-service", "client", "server", "invalidate", "token"];
const OAUTH_REVOKE: &[&str] = &["oauth", "revoke"];
const OAUTH_INTROSPECT: &[&str] = &["oauth", "introspect"];
const REVOCATIONS: &[&str] = &["api", "revocations"];
const CUTOFFS: &[&str] = &["api", "cutoffs"];
const JOURNAL: &[&str] = &["api", "journal"];
const USERS: &[&str] = &["api", "users"];
const BACKCHANNEL_LOGOUT: &[&str] = &["oidc", "backchannel-logout"];
const SSF_EVENTS: &[&str] = &["ssf", "events"];
/// The worker's fixed `POST` routes (a test checks each is classified).
const POST_ROUTES: [&[&str]; 5] = [
    INVALIDATE,
    OAUTH_REVOKE,
    OAUTH_INTROSPECT,
    BACKCHANNEL_LOGOUT,
    SSF_EVENTS,
];

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
        /// The same ID with the segment's `;` parameters, when it had any
        /// and an origin may read them as part of the ID: checked too.
        with_params: Option<String>,
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
    /// `GET /api/journal`: admins see the revocation journal's state and
    /// this isolate's copy of it.
    JournalStatus,
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
    /// `POST` on `GTR_PATH`: an identity provider or an incident-response
    /// tool signs a user out of every token (Global Token Revocation,
    /// draft-parecki-oauth-global-token-revocation-05). Only with `GTR_PATH`
    /// set; see [`classify_configured`].
    GlobalTokenRevocation,
    /// A CORS preflight (`OPTIONS` with `Access-Control-Request-Method`):
    /// forwarded without a token check, because browsers send none. One that
    /// carries a bearer token anyway is checked like any request.
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
            Route::JournalStatus => "GET /api/journal",
            Route::Restore { .. } => "DELETE /api/revocations/{jti}",
            Route::BackchannelLogout => "POST /oidc/backchannel-logout",
            Route::SsfEvents => "POST /ssf/events",
            Route::GlobalTokenRevocation => "POST GTR_PATH",
            Route::Preflight => "preflight",
            Route::Proxy => "proxy",
        }
    }
}

/// A request to an owned route that is malformed, with the route's name.
pub type RouteError = (RequestError, &'static str);

/// One segment of a request path as the worker's routes match it: the text
/// with percent-encoded unreserved characters decoded (RFC 3986 §6.2.2.2)
/// and any `;` parameters dropped (as Java servlet containers read them).
/// Other escapes stay encoded: a route's name or ID is decoded from here.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment<'a> {
    text: Cow<'a, str>,
    /// The segment had `;` parameters (an ID is then also checked with them).
    raw: &'a str,
}

/// The canonical segments of `path` that the worker's routes match, the
/// same for every spelling an origin is likely to take for one path:
/// repeated slashes merged and a trailing slash ignored (empty segments
/// dropped), percent-encoded unreserved characters decoded, `;` parameters
/// dropped, and `.` and `..` segments resolved (RFC 3986 §5.2.4). Fixed
/// segments are then compared without regard to case ([`is`]). The path
/// forwarded to the origin is never this one: it stays as the client sent
/// it.
fn canonical(path: &str) -> Vec<Segment<'_>> {
    let mut segments: Vec<Segment<'_>> = Vec::new();
    for raw in path.split('/') {
        let plain = raw.split(';').next().unwrap_or_default();
        let text = decode_unreserved(plain);
        match text.as_ref() {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(Segment { text, raw }),
        }
    }
    segments
}

/// `%XX` escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) decoded;
/// every other escape kept, its hex digits upper-cased; a malformed escape
/// kept as it is (the segment then fails to decode where an ID is read).
fn decode_unreserved(segment: &str) -> Cow<'_, str> {
    if !segment.contains('%') {
        return Cow::Borrowed(segment);
    }
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(segment.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit));
        match escape {
            Some(hex) => {
                let value = hex.iter().fold(0u8, |acc, h| {
                    acc * 16 + (*h as char).to_digit(16).unwrap_or(0) as u8
                });
                let unreserved = value.is_ascii_alphanumeric() || b"-._~".contains(&value);
                if unreserved {
                    out.push(char::from(value));
                } else {
                    out.push('%');
                    out.push(char::from(hex[0].to_ascii_uppercase()));
                    out.push(char::from(hex[1].to_ascii_uppercase()));
                }
                i += 3;
            }
            None => {
                // Up to the next `%` (an ASCII byte, so a character
                // boundary, as `i` is: it starts the text or follows `%`).
                let next = bytes[i + 1..]
                    .iter()
                    .position(|b| *b == b'%')
                    .map_or(bytes.len(), |at| i + 1 + at);
                out.push_str(&segment[i..next]);
                i = next;
            }
        }
    }
    Cow::Owned(out)
}

/// True when `segments` are exactly `fixed`, ignoring ASCII case.
fn is(segments: &[Segment<'_>], fixed: &[&str]) -> bool {
    segments.len() == fixed.len()
        && segments
            .iter()
            .zip(fixed)
            .all(|(segment, fixed)| segment.text.eq_ignore_ascii_case(fixed))
}

/// The one segment after `fixed` (`{fixed}/{segment}`), if that is the path.
fn after<'s, 'a>(segments: &'s [Segment<'a>], fixed: &[&str]) -> Option<&'s Segment<'a>> {
    match segments.split_last() {
        Some((last, rest)) if is(rest, fixed) => Some(last),
        _ => None,
    }
}

/// The IDs a segment names: its text decoded, and, when it had `;`
/// parameters, also the whole segment decoded (an origin that keeps them
/// reads that one).
fn segment_ids(segment: &Segment<'_>) -> Option<(String, Option<String>)> {
    let id = percent_decode(&segment.text, false)?;
    let whole = if segment.raw.contains(';') {
        percent_decode(segment.raw, false).filter(|whole| *whole != id)
    } else {
        None
    };
    Some((id, whole))
}

/// [`classify`], with the Global Token Revocation endpoint at `gtr_path`
/// (`GTR_PATH`) when it is set: `POST` on any spelling of that path is
/// [`Route::GlobalTokenRevocation`]. The path is checked at start-up to be
/// none of the fixed `POST` routes ([`is_free_for_post`]).
pub fn classify_configured(
    head: &RequestHead,
    gtr_path: Option<&str>,
) -> Result<Route, RouteError> {
    if let Some(path) = gtr_path.filter(|_| head.method == "POST") {
        let endpoint = canonical(path);
        let fixed: Vec<&str> = endpoint.iter().map(|s| s.text.as_ref()).collect();
        if is(&canonical(&head.path), &fixed) {
            return Ok(Route::GlobalTokenRevocation);
        }
    }
    classify(head)
}

/// True when `path`, in any spelling, is not the root and none of the
/// worker's fixed `POST` routes: the Global Token Revocation endpoint may
/// be there.
pub fn is_free_for_post(path: &str) -> bool {
    let segments = canonical(path);
    !segments.is_empty() && !POST_ROUTES.iter().any(|fixed| is(&segments, fixed))
}

/// Classifies a request by its method and canonical path (repeated and
/// trailing slashes merged, percent-encoded unreserved characters decoded,
/// `;` parameters dropped, dot segments resolved): every spelling of one of the worker's routes is that
/// route, answered by the worker and never forwarded. Query parameter
/// names of the worker's routes match without regard to case.
pub fn classify(head: &RequestHead) -> Result<Route, RouteError> {
    let method = head.method.as_str();
    let segments = canonical(&head.path);
    let segments = segments.as_slice();
    let malformed = |route: &Route| (RequestError::Malformed, route.name());
    if method == "OPTIONS" && head.header("access-control-request-method").is_some() {
        return Ok(Route::Preflight);
    }
    let fixed = |routes: &[(&str, &[&str], Route)]| {
        routes
            .iter()
            .find(|(m, path, _)| *m == method && is(segments, path))
            .map(|(_, _, route)| route.clone())
    };
    if let Some(route) = fixed(&[
        ("POST", INVALIDATE, Route::Invalidate),
        ("POST", OAUTH_REVOKE, Route::OAuthRevoke),
        ("POST", OAUTH_INTROSPECT, Route::OAuthIntrospect),
        ("POST", BACKCHANNEL_LOGOUT, Route::BackchannelLogout),
        ("POST", SSF_EVENTS, Route::SsfEvents),
        ("GET", REVOCATIONS, Route::ListRevocations),
        ("GET", CUTOFFS, Route::ListCutoffs),
        ("GET", JOURNAL, Route::JournalStatus),
    ]) {
        return Ok(route);
    }
    if method == "DELETE" && is(segments, SIGN_OUT) {
        let route = Route::SignOut {
            scope: Scope::Local,
        };
        let values = head
            .query_values("scope")
            .ok_or_else(|| malformed(&route))?;
        let scope = match single(&values) {
            Ok(None) => Scope::Local,
            Ok(Some("local")) => Scope::Local,
            Ok(Some("global")) => Scope::Global,
            Ok(Some("others")) => Scope::Others,
            Ok(Some("session")) => Scope::Session,
            _ => return Err(malformed(&route)),
        };
        return Ok(Route::SignOut { scope });
    }
    if method == "DELETE" && is(segments, IDENTITY) {
        let route = Route::IdentityRevoke { token_id: None };
        let token_id = query_token_id(head).map_err(|e| (e, route.name()))?;
        return Ok(Route::IdentityRevoke { token_id });
    }
    if method == "DELETE" {
        if let Some(segment) = after(segments, REVOCATIONS) {
            let route = Route::Restore { jti: String::new() };
            let jti = percent_decode(&segment.text, false).ok_or_else(|| malformed(&route))?;
            return Ok(Route::Restore { jti });
        }
        if let [users @ .., sub, tokens] = segments {
            if is(users, USERS) && tokens.text.eq_ignore_ascii_case("tokens") {
                let route = Route::UserSignOut { sub: String::new() };
                let sub = percent_decode(&sub.text, false).ok_or_else(|| malformed(&route))?;
                return Ok(Route::UserSignOut { sub });
            }
        }
    }
    let Some(segment) = after(segments, IDENTITY) else {
        return Ok(Route::Proxy);
    };
    match method {
        "DELETE" => {
            let route = Route::IdentityRevoke { token_id: None };
            let from_path =
                percent_decode(&segment.text, false).ok_or_else(|| malformed(&route))?;
            match query_token_id(head).map_err(|e| (e, route.name()))? {
                Some(from_query) if from_query != from_path => Err(malformed(&route)),
                _ => Ok(Route::IdentityRevoke {
                    token_id: Some(from_path),
                }),
            }
        }
        "GET" | "HEAD" => Ok(match segment_ids(segment) {
            Some((token_id, with_params)) => Route::IdentityValidate {
                token_id,
                with_params,
            },
            None => Route::Proxy,
        }),
        _ => Ok(Route::Proxy),
    }
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
pub fn body_limit(route: &Route) -> Option<usize> {
    let reads_body = matches!(
        route,
        Route::Invalidate
            | Route::OAuthRevoke
            | Route::OAuthIntrospect
            | Route::BackchannelLogout
            | Route::SsfEvents
            | Route::GlobalTokenRevocation
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
    fn the_gtr_endpoint_is_posted_to_its_configured_path_in_any_spelling() {
        let at = |method: &str, url: &str, path: Option<&str>| {
            let head = RequestHead::new(method, &format!("https://edge.test{url}"), [("x", "y")]);
            classify_configured(&head, path)
        };
        let path = Some("/global-token-revocation");
        for url in [
            "/global-token-revocation",
            "/Global-Token-Revocation/",
            "//global-token-revocation?x=1",
            "/a/../global-token-revocation",
            "/global%2Dtoken-revocation",
        ] {
            assert_eq!(
                at("POST", url, path),
                Ok(Route::GlobalTokenRevocation),
                "{url}"
            );
            assert_eq!(at("POST", url, None), Ok(Route::Proxy), "unset: {url}");
            assert_eq!(at("GET", url, path), Ok(Route::Proxy), "GET {url}");
        }
        assert_eq!(
            at("POST", "/global-token-revocation/x", path),
            Ok(Route::Proxy)
        );
        assert_eq!(at("POST", "/ssf/events", path), Ok(Route::SsfEvents));
        let nested = Some("/idp/Universal-Logout");
        assert_eq!(
            at("POST", "/idp/universal-logout", nested),
            Ok(Route::GlobalTokenRevocation)
        );
    }

    #[test]
    fn the_gtr_endpoint_cannot_take_a_fixed_post_route() {
        for fixed in POST_ROUTES {
            let path = format!("/{}", fixed.join("/"));
            assert_ne!(route("POST", &path), Ok(Route::Proxy), "{path} is a route");
            assert!(!is_free_for_post(&path), "{path}");
            assert!(!is_free_for_post(&path.to_uppercase()), "{path}");
        }
        assert!(!is_free_for_post("/"));
        assert!(!is_free_for_post("//./"));
        assert!(is_free_for_post("/global-token-revocation"));
        assert!(is_free_for_post("/api/tokens"), "DELETE only");
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
                    token_id: "abc".into(),
                    with_params: None,
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
            ("DELETE", "/v2.0/tokens/a/b"),
            ("PUT", "/v2.0/tokens/abc"),
            ("GET", "/token-service/client/server/invalidate/token"),
            ("GET", "/oauth/revoke"),
            ("GET", "/api/users/alice/tokens"),
            ("DELETE", "/api/users//tokens"),
            ("DELETE", "/api/users/a/b/tokens"),
            ("POST", "/api/revocations"),
            ("GET", "/api/revocations/x"),
            ("DELETE", "/api/revocations"),
            ("OPTIONS", "/api/tokens"),
            ("DELETE", "/api/tokensx"),
            ("DELETE", "/api/tokens.json"),
            ("DELETE", "/api/%2Ftokens"),
            ("DELETE", "/apii/tokens"),
            ("DELETE", "/x/api/tokens"),
        ] {
            assert_eq!(route(method, path), Ok(Route::Proxy), "{method} {path}");
        }
    }

    /// Every spelling an origin takes for one of the worker's paths is that
    /// route: merged and trailing slashes, other letter case, percent-encoded
    /// unreserved characters, `;` parameters and dot segments.
    #[test]
    fn every_spelling_of_a_route_is_that_route() {
        let local = Ok(Route::SignOut {
            scope: Scope::Local,
        });
        for path in [
            "/api/tokens/",
            "//api/tokens",
            "/api//tokens",
            "/api/tokens//",
            "/API/tokens",
            "/api/TOKENS",
            "/%61pi/tokens",
            "/api/%74%6F%6b%65%6E%73",
            "/api/tokens;jsessionid=x",
            "/api;v=1/tokens",
            "/x/../api/tokens",
            "/api/./tokens",
            "/api/%2e/tokens",
            "/api/x/%2E%2E/tokens",
        ] {
            assert_eq!(route("DELETE", path), local, "DELETE {path}");
        }
        assert_eq!(
            route("DELETE", "/API/Tokens/?SCOPE=global"),
            Ok(Route::SignOut {
                scope: Scope::Global
            })
        );
        let validate = |id: &str| {
            Ok(Route::IdentityValidate {
                token_id: id.into(),
                with_params: None,
            })
        };
        for path in [
            "/v2.0//tokens/abc",
            "/v2.0/tokens//abc",
            "/v2.0/tokens/abc/",
            "//v2.0/tokens/abc",
            "/V2.0/tokens/abc",
            "/v2.0/Tokens/abc",
            "/v2%2E0/tokens/abc",
            "/v2.0/tokens/%61bc",
        ] {
            assert_eq!(route("GET", path), validate("abc"), "GET {path}");
        }
        // Escapes of reserved characters stay part of the ID, decoded once.
        assert_eq!(route("GET", "/v2.0/tokens/%7Bid%7D"), validate("{id}"));
        assert_eq!(route("GET", "/v2.0/tokens/a%2Fb"), validate("a/b"));
        // `;` parameters: the ID without them, and with them for an origin
        // that keeps them.
        assert_eq!(
            route("HEAD", "/v2.0/tokens/abc;v=1"),
            Ok(Route::IdentityValidate {
                token_id: "abc".into(),
                with_params: Some("abc;v=1".into()),
            })
        );
        assert_eq!(
            route("DELETE", "/v2.0/tokens//abc/?TokenId=abc"),
            Ok(Route::IdentityRevoke {
                token_id: Some("abc".into())
            })
        );
        assert_eq!(
            route("DELETE", "/v2.0/tokens/?tokenid=xyz"),
            Ok(Route::IdentityRevoke {
                token_id: Some("xyz".into())
            })
        );
        assert_eq!(
            route("DELETE", "/Api/Users/al%69ce/Tokens/"),
            Ok(Route::UserSignOut {
                sub: "alice".into()
            })
        );
        assert_eq!(
            route("DELETE", "/api/revocations//j-1/"),
            Ok(Route::Restore { jti: "j-1".into() })
        );
        for (method, path, expected) in [
            ("POST", "/OAuth/Revoke/", Route::OAuthRevoke),
            ("POST", "//oauth/introspect", Route::OAuthIntrospect),
            ("GET", "/api/Revocations/", Route::ListRevocations),
            ("GET", "/API/cutoffs", Route::ListCutoffs),
            ("GET", "/api/journal/", Route::JournalStatus),
            (
                "POST",
                "/token-service//client/server/invalidate/token/",
                Route::Invalidate,
            ),
            (
                "POST",
                "/OIDC/backchannel-logout/",
                Route::BackchannelLogout,
            ),
            ("POST", "/ssf/Events", Route::SsfEvents),
        ] {
            assert_eq!(route(method, path), Ok(expected), "{method} {path}");
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
        for path in [
            "/token-service/client/server/invalidate/token",
            "/oauth/revoke",
            "/OAuth/Introspect/",
            "/oidc/backchannel-logout",
            "/ssf/events",
        ] {
            let route = route("POST", path).unwrap();
            assert_eq!(body_limit(&route), Some(MAX_BODY), "{path}");
        }
        assert_eq!(body_limit(&route("POST", "/other").unwrap()), None);
        assert_eq!(body_limit(&route("DELETE", "/api/tokens").unwrap()), None);
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_normalised() {
        assert_eq!(decode_unreserved("plain"), "plain");
        assert_eq!(decode_unreserved("%41%7a%2D%2e%5F%7E"), "Az-._~");
        assert_eq!(decode_unreserved("%2f%3b%7b"), "%2F%3B%7B");
        assert_eq!(decode_unreserved("a%zzb%4"), "a%zzb%4");
        assert_eq!(decode_unreserved("é%41"), "éA");
    }
}

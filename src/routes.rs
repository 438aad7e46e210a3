//! The method and path pairs the worker answers itself. Every other request,
//! including other methods on these paths, belongs to the origin.

use crate::error::RequestError;
use crate::primitives::percent_decode;
use crate::request::RequestHead;

/// Largest body read for the invalidation route.
pub const MAX_INVALIDATE_BODY: usize = 16 * 1024;
/// Largest `tokenId` accepted by `DELETE /v2.0/tokens`.
pub const MAX_TOKEN_ID_BYTES: usize = 8 * 1024;

const SIGN_OUT: &str = "/api/tokens";
const IDENTITY: &str = "/v2.0/tokens";
const INVALIDATE: &str = "/token-service/client/server/invalidate/token";

/// What a request is, by method and path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `DELETE /api/tokens`: the caller signs out.
    SignOut,
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
    /// Anything else: check the token and forward.
    Proxy,
}

impl Route {
    /// Names the route for logs and revocation records.
    pub fn name(&self) -> &'static str {
        match self {
            Route::SignOut => "DELETE /api/tokens",
            Route::IdentityRevoke { .. } => "DELETE /v2.0/tokens",
            Route::IdentityValidate { .. } => "GET /v2.0/tokens/{tokenId}",
            Route::Invalidate => "POST /token-service/client/server/invalidate/token",
            Route::Proxy => "proxy",
        }
    }
}

/// Classifies a request. Paths match exactly, so `/api/tokens/` or
/// `/v2.0/tokens/a/b` are the origin's.
pub fn classify(head: &RequestHead) -> Result<Route, RequestError> {
    let method = head.method.as_str();
    let path = head.path.as_str();
    match (method, path) {
        ("DELETE", SIGN_OUT) => return Ok(Route::SignOut),
        ("POST", INVALIDATE) => return Ok(Route::Invalidate),
        ("DELETE", IDENTITY) => {
            return Ok(Route::IdentityRevoke {
                token_id: query_token_id(head)?,
            })
        }
        _ => {}
    }
    let Some(segment) = path
        .strip_prefix(IDENTITY)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
    else {
        return Ok(Route::Proxy);
    };
    match method {
        "DELETE" => {
            let from_path = percent_decode(segment, false).ok_or(RequestError::Malformed)?;
            match query_token_id(head)? {
                Some(from_query) if from_query != from_path => Err(RequestError::Malformed),
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

/// `?tokenId=`: absent, or one non-empty value (repeats must agree).
fn query_token_id(head: &RequestHead) -> Result<Option<String>, RequestError> {
    let values = head
        .query_values("tokenId")
        .ok_or(RequestError::Malformed)?;
    match values.split_first() {
        None => Ok(None),
        Some((first, rest)) => {
            if first.is_empty() || rest.iter().any(|v| v != first) {
                Err(RequestError::Malformed)
            } else {
                Ok(Some(first.clone()))
            }
        }
    }
}

/// How many body bytes a route needs read, if any. The glue reads at most
/// this many plus one, so an oversized body is seen as such without being
/// buffered whole.
pub fn body_limit(head: &RequestHead) -> Option<usize> {
    (head.method == "POST" && head.path == INVALIDATE).then_some(MAX_INVALIDATE_BODY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, url: &str) -> Result<Route, RequestError> {
        classify(&RequestHead::new(
            method,
            &format!("https://edge.test{url}"),
            Vec::<(String, String)>::new(),
        ))
    }

    #[test]
    fn owned_routes() {
        assert_eq!(route("DELETE", "/api/tokens"), Ok(Route::SignOut));
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
        assert_eq!(
            route("GET", "/v2.0/tokens/abc"),
            Ok(Route::IdentityValidate {
                token_id: "abc".into()
            })
        );
        assert_eq!(
            route("HEAD", "/v2.0/tokens/abc"),
            Ok(Route::IdentityValidate {
                token_id: "abc".into()
            })
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
        ] {
            assert_eq!(route(method, path), Ok(Route::Proxy), "{method} {path}");
        }
    }

    #[test]
    fn malformed_token_ids() {
        for path in [
            "/v2.0/tokens?tokenId=",
            "/v2.0/tokens?tokenId=a&tokenId=b",
            "/v2.0/tokens/a?tokenId=b",
            "/v2.0/tokens/%zz",
            "/v2.0/tokens?tokenId=%",
        ] {
            assert_eq!(
                route("DELETE", path),
                Err(RequestError::Malformed),
                "{path}"
            );
        }
    }

    #[test]
    fn only_the_invalidate_route_reads_a_body() {
        let head = |m: &str, p: &str| {
            RequestHead::new(m, &format!("http://h{p}"), Vec::<(String, String)>::new())
        };
        assert_eq!(
            body_limit(&head("POST", INVALIDATE)),
            Some(MAX_INVALIDATE_BODY)
        );
        assert_eq!(body_limit(&head("POST", "/other")), None);
        assert_eq!(body_limit(&head("DELETE", SIGN_OUT)), None);
    }
}

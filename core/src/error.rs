//! Errors as data: one enum per concern, and the one place ([`Rejection::reply`])
//! that maps each variant to an HTTP status, headers and a public body.
//!
//! Public messages never carry internal detail; the log line carries the rest.

use crate::http::reply::Reply;
use std::fmt;

/// The configuration cannot be used. Every request gets 500, naming the setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Neither `JWT_SECRET`, `JWT_JWKS` nor a key set URL is configured.
    NoKey,
    /// A setting is present but unusable.
    Invalid {
        /// The environment name of the setting, e.g. `JWT_LEEWAY_SECONDS`.
        setting: &'static str,
        /// Why, for the log only.
        reason: String,
    },
}

impl ConfigError {
    /// Shorthand for [`ConfigError::Invalid`].
    pub fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            setting,
            reason: reason.into(),
        }
    }

    /// The setting to fix, as named in the environment.
    pub fn setting(&self) -> &'static str {
        match self {
            ConfigError::NoKey => "JWT_SECRET or JWT_JWKS",
            ConfigError::Invalid { setting, .. } => setting,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoKey => f.write_str("no verification key: set JWT_SECRET or JWT_JWKS"),
            ConfigError::Invalid { setting, reason } => write!(f, "{setting}: {reason}"),
        }
    }
}

/// Why a bearer token was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// No bearer token in `Authorization` or `X-Auth-Token`.
    Missing,
    /// `Authorization` and `X-Auth-Token` carry different tokens.
    Conflicting,
    /// Longer than [`crate::token::MAX_TOKEN_BYTES`]; not parsed.
    TooLarge,
    /// Not three base64url segments with a JSON header, or undecodable.
    Malformed,
    /// `alg` is unknown (including every spelling of `none`) or not allowed.
    AlgorithmNotAllowed,
    /// The header carries `crit`, `jwk`, `jku`, `x5u` or `x5c`.
    ForbiddenHeader,
    /// No configured key matches the token's `kid` and `alg`.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// The claims are not a JSON object, repeat a name, or have a claim of the
    /// wrong type (e.g. a non-integer time).
    BadClaims,
    /// No `exp` claim.
    MissingExpiry,
    /// `exp` plus the leeway is in the past.
    Expired,
    /// `nbf` minus the leeway is in the future.
    NotYetValid,
    /// `iat` minus the leeway is in the future.
    IssuedInFuture,
    /// `iss` differs from `JWT_ISSUER`.
    WrongIssuer,
    /// `aud` contains none of `JWT_AUDIENCE`.
    WrongAudience,
    /// The token's ID (or its subject) has been revoked.
    Revoked,
    /// The store holds an entry for the token's ID or subject that this
    /// version cannot read (garbage, truncated, oversized). It counts as a
    /// revocation: the client sees exactly what [`TokenError::Revoked`]
    /// shows; only the log line differs.
    UnreadableEntry,
}

impl TokenError {
    /// The RFC 6750 `error_description`; safe to show a client.
    pub fn description(self) -> &'static str {
        match self {
            TokenError::Missing => "no bearer token",
            TokenError::Conflicting => "two different tokens in one request",
            TokenError::TooLarge => "token too large",
            TokenError::Malformed => "malformed token",
            TokenError::AlgorithmNotAllowed => "algorithm not allowed",
            TokenError::ForbiddenHeader => "unsupported token header",
            TokenError::UnknownKey => "unknown signing key",
            TokenError::BadSignature => "invalid signature",
            TokenError::BadClaims => "invalid claims",
            TokenError::MissingExpiry => "token has no expiry",
            TokenError::Expired => "token expired",
            TokenError::NotYetValid => "token not yet valid",
            TokenError::IssuedInFuture => "token issued in the future",
            TokenError::WrongIssuer => "issuer not accepted",
            TokenError::WrongAudience => "audience not accepted",
            TokenError::Revoked | TokenError::UnreadableEntry => "token revoked",
        }
    }

    /// A short machine-readable reason for logs.
    pub fn reason(self) -> &'static str {
        match self {
            TokenError::Missing => "missing",
            TokenError::Conflicting => "conflicting",
            TokenError::TooLarge => "too_large",
            TokenError::Malformed => "malformed",
            TokenError::AlgorithmNotAllowed => "algorithm",
            TokenError::ForbiddenHeader => "header",
            TokenError::UnknownKey => "unknown_key",
            TokenError::BadSignature => "signature",
            TokenError::BadClaims => "claims",
            TokenError::MissingExpiry => "no_exp",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "nbf",
            TokenError::IssuedInFuture => "iat",
            TokenError::WrongIssuer => "issuer",
            TokenError::WrongAudience => "audience",
            TokenError::Revoked => "revoked",
            TokenError::UnreadableEntry => "unreadable_entry",
        }
    }
}

/// The signature check itself could not run (as opposed to "did not verify").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The runtime refused to import a configured key (bad key material).
    KeyRejected,
    /// The runtime's crypto failed for another reason.
    Unavailable,
}

/// The revocation store could not answer. The worker fails closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// A read or write failed or timed out.
    Unavailable,
    /// The store refused a write because the same key was written too
    /// recently (Workers KV: one write per second per key). Worth a retry.
    RateLimited,
}

/// A revocation route's request is unacceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Malformed request: e.g. an empty `tokenId`, or different ones in the path
    /// and the query.
    Malformed,
    /// The caller's token is valid but carries no admin role.
    Forbidden,
    /// The `tokenId` does not name a token that can be revoked: a JWT that does
    /// not verify or has expired, or an unusable ID.
    UnknownToken,
    /// The `tokenId` is over 8 KiB.
    TokenIdTooLarge,
}

/// Errors of `POST /token-service/client/server/invalidate/token`, whose
/// contract answers in its own `resCode`/`resDesc` JSON shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceError {
    /// `X-API-KEY` is missing or matches none of `INVALIDATE_API_KEYS`.
    BadApiKey,
    /// The body is not `{"tokenReferenceId": "<non-empty>"}` or is over 16 KiB.
    BadBody,
    /// `tokenReferenceId` is a JWT that does not verify or has expired, or an
    /// unusable ID.
    UnknownToken,
    /// The store or the runtime's crypto failed; nothing was revoked.
    Unavailable,
}

/// Errors of the OAuth routes (RFC 7009 and RFC 7662), answered in the
/// RFC 6749 §5.2 error JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthError {
    /// HTTP Basic client credentials are missing or match no `OAUTH_CLIENTS`.
    InvalidClient,
    /// The `token` parameter is missing, or the body is not a form or too large.
    InvalidRequest,
    /// The token names another client in `client_id` or `azp`.
    UnauthorizedClient,
    /// The store or the key set is unavailable; nothing was decided.
    Unavailable,
}

impl OAuthError {
    fn code(self) -> &'static str {
        match self {
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::InvalidRequest => "invalid_request",
            OAuthError::UnauthorizedClient => "unauthorized_client",
            OAuthError::Unavailable => "temporarily_unavailable",
        }
    }
}

/// Why `POST /oidc/backchannel-logout` refused a request: answered `400`
/// with `{"error":"invalid_request","error_description":...}` (OpenID
/// Connect Back-Channel Logout 1.0 §2.8). The description says which rule
/// failed and is safe to show the identity provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogoutError(pub &'static str);

/// The `err` codes of RFC 8935 §2.3 for a refused security event token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SsfErrorCode {
    /// Not a SET, bad JSON, a missing or malformed claim.
    InvalidRequest,
    /// The signature does not verify, or no key matches.
    InvalidKey,
    /// `iss` is not `SSF_ISSUER`.
    InvalidIssuer,
    /// `aud` names none of `SSF_AUDIENCE`.
    InvalidAudience,
}

/// Why `POST /ssf/events` refused a SET: answered `400` with
/// `{"err":..., "description":...}` (RFC 8935 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SsfError {
    /// The `err` code.
    pub code: SsfErrorCode,
    /// The `description`, safe to show the transmitter.
    pub description: &'static str,
}

/// Why the Global Token Revocation endpoint refused a call. The draft
/// (draft-parecki-oauth-global-token-revocation-05 §3.4.2) names the
/// statuses and defines no body (Okta reads only the status), so the body is
/// `application/problem+json` like every other refusal here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GtrError {
    /// `400`: the body is not `{"sub_id": {...}}` (or the older `subject`)
    /// of at most 16 KiB, or names a subject format or issuer this endpoint
    /// does not take. The description says which, and is safe to show.
    BadRequest(&'static str),
    /// `401`: the assertion broke a rule (the description says which):
    /// answered with an RFC 6750 `invalid_token` challenge.
    BadAssertion(&'static str),
    /// `422`: the edge cutoff is stored, but the origin's own endpoint
    /// (`GTR_FORWARD_URL`) did not confirm the call, so refresh tokens may
    /// live on.
    NotForwarded,
}

impl GtrError {
    /// The problem `detail`.
    fn detail(self) -> String {
        match self {
            GtrError::BadRequest(why) | GtrError::BadAssertion(why) => capitalise(why),
            GtrError::NotForwarded => "Access tokens are revoked at the edge, but the \
                authorization server did not confirm the revocation of refresh tokens."
                .into(),
        }
    }
}

impl SsfErrorCode {
    /// The `err` member.
    pub fn as_str(self) -> &'static str {
        match self {
            SsfErrorCode::InvalidRequest => "invalid_request",
            SsfErrorCode::InvalidKey => "invalid_key",
            SsfErrorCode::InvalidIssuer => "invalid_issuer",
            SsfErrorCode::InvalidAudience => "invalid_audience",
        }
    }
}

impl ServiceError {
    /// The public `resDesc`.
    pub fn description(self) -> &'static str {
        match self {
            ServiceError::BadApiKey => "Invalid API key",
            ServiceError::BadBody => "Invalid request body",
            ServiceError::UnknownToken => "Token not found",
            ServiceError::Unavailable => "Service unavailable",
        }
    }
}

/// Every way the worker answers a request itself with an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// See [`ConfigError`].
    Config(ConfigError),
    /// See [`TokenError`].
    Token(TokenError),
    /// See [`VerifyError`].
    Verify(VerifyError),
    /// See [`StoreError`].
    Store(StoreError),
    /// See [`RequestError`].
    Request(RequestError),
    /// See [`ServiceError`].
    Service(ServiceError),
    /// See [`OAuthError`].
    OAuth(OAuthError),
    /// See [`LogoutError`].
    Logout(LogoutError),
    /// See [`SsfError`].
    Ssf(SsfError),
    /// See [`GtrError`].
    Gtr(GtrError),
    /// The origin could not be reached, or reset the connection.
    OriginUnreachable,
    /// The origin sent no response headers within `ORIGIN_TIMEOUT_SECONDS`.
    OriginTimeout,
}

impl From<ConfigError> for Rejection {
    fn from(e: ConfigError) -> Self {
        Rejection::Config(e)
    }
}
impl From<TokenError> for Rejection {
    fn from(e: TokenError) -> Self {
        Rejection::Token(e)
    }
}
impl From<VerifyError> for Rejection {
    fn from(e: VerifyError) -> Self {
        Rejection::Verify(e)
    }
}
impl From<StoreError> for Rejection {
    fn from(e: StoreError) -> Self {
        Rejection::Store(e)
    }
}
impl From<RequestError> for Rejection {
    fn from(e: RequestError) -> Self {
        Rejection::Request(e)
    }
}
impl From<ServiceError> for Rejection {
    fn from(e: ServiceError) -> Self {
        Rejection::Service(e)
    }
}
impl From<OAuthError> for Rejection {
    fn from(e: OAuthError) -> Self {
        Rejection::OAuth(e)
    }
}
impl From<LogoutError> for Rejection {
    fn from(e: LogoutError) -> Self {
        Rejection::Logout(e)
    }
}
impl From<SsfError> for Rejection {
    fn from(e: SsfError) -> Self {
        Rejection::Ssf(e)
    }
}
impl From<GtrError> for Rejection {
    fn from(e: GtrError) -> Self {
        Rejection::Gtr(e)
    }
}

/// Seconds a client should wait after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// How an error response is rendered, from the request.
#[derive(Clone, Copy, Debug)]
pub struct Render<'a> {
    /// The `realm` of `WWW-Authenticate`.
    pub realm: &'a str,
    /// The client asked for `application/json` rather than problem+json.
    pub plain_json: bool,
}

impl Rejection {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Config(_) => 500,
            Rejection::Token(TokenError::Conflicting) => 400,
            Rejection::Token(_) => 401,
            Rejection::Verify(VerifyError::KeyRejected) => 500,
            Rejection::Verify(VerifyError::Unavailable) => 503,
            Rejection::Store(_) => 503,
            Rejection::Request(RequestError::Malformed) => 400,
            Rejection::Request(RequestError::Forbidden) => 403,
            Rejection::Request(RequestError::UnknownToken) => 404,
            Rejection::Request(RequestError::TokenIdTooLarge) => 413,
            Rejection::Service(ServiceError::BadApiKey) => 401,
            Rejection::Service(ServiceError::BadBody) => 400,
            Rejection::Service(ServiceError::UnknownToken) => 404,
            Rejection::Service(ServiceError::Unavailable) => 503,
            Rejection::OAuth(OAuthError::InvalidClient) => 401,
            Rejection::OAuth(OAuthError::InvalidRequest | OAuthError::UnauthorizedClient) => 400,
            Rejection::OAuth(OAuthError::Unavailable) => 503,
            Rejection::Logout(_) | Rejection::Ssf(_) => 400,
            Rejection::Gtr(GtrError::BadRequest(_)) => 400,
            Rejection::Gtr(GtrError::BadAssertion(_)) => 401,
            Rejection::Gtr(GtrError::NotForwarded) => 422,
            Rejection::OriginUnreachable => 502,
            Rejection::OriginTimeout => 504,
        }
    }

    /// A short reason for the structured log line.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Config(_) => "config",
            Rejection::Token(e) => e.reason(),
            Rejection::Verify(_) => "crypto",
            Rejection::Store(_) => "store",
            Rejection::Request(RequestError::Malformed) => "bad_request",
            Rejection::Request(RequestError::Forbidden) => "not_admin",
            Rejection::Request(RequestError::UnknownToken) => "unknown_token",
            Rejection::Request(RequestError::TokenIdTooLarge) => "token_id_too_large",
            Rejection::Service(ServiceError::BadApiKey) => "api_key",
            Rejection::Service(ServiceError::BadBody) => "bad_body",
            Rejection::Service(ServiceError::UnknownToken) => "unknown_token",
            Rejection::Service(ServiceError::Unavailable) => "store",
            Rejection::OAuth(e) => e.code(),
            Rejection::Logout(_) => "logout_token",
            Rejection::Ssf(e) => e.code.as_str(),
            Rejection::Gtr(GtrError::BadRequest(_)) => "bad_request",
            Rejection::Gtr(GtrError::BadAssertion(_)) => "assertion",
            Rejection::Gtr(GtrError::NotForwarded) => "forward_failed",
            Rejection::OriginUnreachable => "origin",
            Rejection::OriginTimeout => "origin_timeout",
        }
    }

    /// `(problem type slug, title, detail)` for problem+json bodies.
    fn problem(&self) -> (&'static str, &'static str, String) {
        match self {
            Rejection::Config(e) => (
                "configuration",
                "Worker misconfigured",
                format!(
                    "The worker cannot check tokens: check the setting {}.",
                    e.setting()
                ),
            ),
            Rejection::Token(TokenError::Missing) => (
                "missing-token",
                "Authentication required",
                "Send a bearer token in the Authorization header.".into(),
            ),
            Rejection::Token(TokenError::Conflicting) => (
                "conflicting-tokens",
                "Conflicting tokens",
                "Authorization and X-Auth-Token carry different tokens.".into(),
            ),
            Rejection::Token(e) => (
                "invalid-token",
                "Invalid token",
                capitalise(e.description()),
            ),
            Rejection::Verify(VerifyError::KeyRejected) => (
                "configuration",
                "Worker misconfigured",
                "The worker cannot check tokens: check the setting JWT_JWKS.".into(),
            ),
            Rejection::Verify(VerifyError::Unavailable) | Rejection::Store(_) => (
                "unavailable",
                "Temporarily unavailable",
                "The token could not be checked. Retry later.".into(),
            ),
            Rejection::Request(RequestError::Malformed) => (
                "bad-request",
                "Malformed request",
                "The request is not a valid revocation request.".into(),
            ),
            Rejection::Request(RequestError::Forbidden) => (
                "forbidden",
                "Admin role required",
                "Revoking another token needs an admin role.".into(),
            ),
            Rejection::Request(RequestError::UnknownToken) => (
                "token-not-found",
                "Token not found",
                "The token is not valid or not known.".into(),
            ),
            Rejection::Request(RequestError::TokenIdTooLarge) => (
                "token-id-too-large",
                "Token ID too large",
                "The tokenId is over 8 KiB.".into(),
            ),
            Rejection::Service(e) => ("service-error", "Request failed", e.description().into()),
            Rejection::OAuth(e) => ("oauth-error", "Request failed", e.code().into()),
            Rejection::Logout(LogoutError(description)) => (
                "logout-token",
                "Invalid logout token",
                (*description).into(),
            ),
            Rejection::Ssf(e) => (
                "security-event",
                "Invalid security event",
                e.description.into(),
            ),
            Rejection::Gtr(e @ GtrError::BadRequest(_)) => {
                ("bad-request", "Malformed request", e.detail())
            }
            Rejection::Gtr(e @ GtrError::BadAssertion(_)) => {
                ("invalid-assertion", "Invalid assertion", e.detail())
            }
            Rejection::Gtr(e @ GtrError::NotForwarded) => {
                ("not-forwarded", "Unable to log the user out", e.detail())
            }
            Rejection::OriginUnreachable => (
                "origin-unreachable",
                "Bad gateway",
                "The origin could not be reached.".into(),
            ),
            Rejection::OriginTimeout => (
                "origin-timeout",
                "Gateway timeout",
                "The origin did not answer in time.".into(),
            ),
        }
    }

    /// Renders the response. This is the only place statuses, headers and
    /// bodies of error responses are decided.
    pub fn reply(&self, render: Render<'_>) -> Reply {
        let status = self.status();
        if let Rejection::Service(e) = self {
            let body = serde_json::json!({ "resCode": status, "resDesc": e.description() });
            let mut reply = Reply::json(status, &body);
            if *e == ServiceError::Unavailable {
                reply
                    .headers
                    .push(("retry-after", RETRY_AFTER_SECONDS.to_string()));
            }
            return reply;
        }
        if let Rejection::Logout(LogoutError(description)) = self {
            let body = serde_json::json!({
                "error": "invalid_request",
                "error_description": description,
            });
            return Reply::json(status, &body);
        }
        if let Rejection::Ssf(e) = self {
            let body = serde_json::json!({ "err": e.code.as_str(), "description": e.description });
            return Reply::json(status, &body);
        }
        if let Rejection::OAuth(e) = self {
            let body = serde_json::json!({ "error": e.code() });
            let mut reply = Reply::json(status, &body);
            if *e == OAuthError::InvalidClient {
                let challenge = format!("Basic realm=\"{}\"", render.realm);
                reply.headers.push(("www-authenticate", challenge));
            }
            if *e == OAuthError::Unavailable {
                reply
                    .headers
                    .push(("retry-after", RETRY_AFTER_SECONDS.to_string()));
            }
            return reply;
        }
        let (slug, title, detail) = self.problem();
        let body = serde_json::json!({
            "type": format!("urn:edge-revoke:problem:{slug}"),
            "title": title,
            "status": status,
            "detail": detail,
        });
        let mut reply = Reply::json(status, &body);
        if !render.plain_json {
            reply.set_content_type("application/problem+json");
        }
        if let Some(challenge) = self.challenge(render.realm) {
            reply.headers.push(("www-authenticate", challenge));
        }
        if status == 503 {
            reply
                .headers
                .push(("retry-after", RETRY_AFTER_SECONDS.to_string()));
        }
        reply
    }

    /// The reply of a rejection that depends on nothing but the media type
    /// asked for (the origin's failures, `502` and `504`), built once per
    /// isolate and shared by every forwarded request that may need it.
    /// Any other rejection is built by [`Rejection::reply`] as usual.
    pub fn static_reply(&self, plain_json: bool) -> &'static Reply {
        use std::sync::OnceLock;
        static REPLIES: OnceLock<[Reply; 4]> = OnceLock::new();
        let replies = REPLIES.get_or_init(|| {
            let render = |plain_json| Render {
                realm: crate::config::DEFAULT_REALM,
                plain_json,
            };
            [
                Rejection::OriginUnreachable.reply(render(false)),
                Rejection::OriginUnreachable.reply(render(true)),
                Rejection::OriginTimeout.reply(render(false)),
                Rejection::OriginTimeout.reply(render(true)),
            ]
        });
        let timed_out = matches!(self, Rejection::OriginTimeout);
        &replies[usize::from(timed_out) * 2 + usize::from(plain_json)]
    }

    /// The RFC 6750 §3 challenge for 400 and 401 token errors.
    fn challenge(&self, realm: &str) -> Option<String> {
        if let Rejection::Gtr(GtrError::BadAssertion(why)) = self {
            return Some(format!(
                "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{why}\""
            ));
        }
        let Rejection::Token(e) = self else {
            return None;
        };
        Some(match e {
            // §3.1: a request without credentials gets no error code.
            TokenError::Missing => format!("Bearer realm=\"{realm}\""),
            TokenError::Conflicting => format!(
                "Bearer realm=\"{realm}\", error=\"invalid_request\", error_description=\"{}\"",
                e.description()
            ),
            _ => format!(
                "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{}\"",
                e.description()
            ),
        })
    }
}

/// "token expired" → "Token expired." (descriptions are ASCII; ASCII case
/// mapping keeps Unicode case tables out of the wasm).
fn capitalise(text: &str) -> String {
    let mut sentence = text.to_owned();
    if let Some(first) = sentence.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    sentence.push('.');
    sentence
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDER: Render<'static> = Render {
        realm: "api",
        plain_json: false,
    };

    fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
        reply
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn body(reply: &Reply) -> serde_json::Value {
        serde_json::from_slice(&reply.body).unwrap()
    }

    #[test]
    fn missing_token_has_no_error_attribute() {
        let reply = Rejection::Token(TokenError::Missing).reply(RENDER);
        assert_eq!(reply.status, 401);
        assert_eq!(
            header(&reply, "www-authenticate"),
            Some("Bearer realm=\"api\"")
        );
        assert_eq!(
            header(&reply, "content-type"),
            Some("application/problem+json")
        );
        assert_eq!(body(&reply)["status"], 401);
    }

    #[test]
    fn invalid_token_challenges_with_description() {
        let reply = Rejection::Token(TokenError::Expired).reply(RENDER);
        assert_eq!(reply.status, 401);
        assert_eq!(
            header(&reply, "www-authenticate"),
            Some("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token expired\"")
        );
        let revoked = Rejection::Token(TokenError::Revoked).reply(RENDER);
        assert!(header(&revoked, "www-authenticate")
            .unwrap()
            .ends_with("error_description=\"token revoked\""));
    }

    #[test]
    fn conflicting_tokens_are_an_invalid_request() {
        let reply = Rejection::Token(TokenError::Conflicting).reply(RENDER);
        assert_eq!(reply.status, 400);
        assert!(header(&reply, "www-authenticate")
            .unwrap()
            .contains("error=\"invalid_request\""));
    }

    #[test]
    fn plain_json_is_honoured() {
        let reply = Rejection::Token(TokenError::Missing).reply(Render {
            realm: "api",
            plain_json: true,
        });
        assert_eq!(header(&reply, "content-type"), Some("application/json"));
    }

    #[test]
    fn config_errors_name_the_setting_and_nothing_else() {
        let reply = Rejection::Config(ConfigError::invalid("JWT_JWKS", "secret internal detail"))
            .reply(RENDER);
        assert_eq!(reply.status, 500);
        let text = String::from_utf8(reply.body.clone()).unwrap();
        assert!(text.contains("JWT_JWKS"));
        assert!(!text.contains("secret internal detail"));
        let none = Rejection::Config(ConfigError::NoKey).reply(RENDER);
        assert!(String::from_utf8(none.body).unwrap().contains("JWT_SECRET"));
    }

    #[test]
    fn unavailable_store_asks_for_a_retry() {
        let reply = Rejection::Store(StoreError::Unavailable).reply(RENDER);
        assert_eq!(reply.status, 503);
        assert_eq!(header(&reply, "retry-after"), Some("5"));
        assert!(header(&reply, "www-authenticate").is_none());
    }

    #[test]
    fn service_errors_use_the_rescode_shape() {
        for (error, status) in [
            (ServiceError::BadApiKey, 401),
            (ServiceError::BadBody, 400),
            (ServiceError::UnknownToken, 404),
            (ServiceError::Unavailable, 503),
        ] {
            let reply = Rejection::Service(error).reply(RENDER);
            assert_eq!(reply.status, status);
            assert_eq!(header(&reply, "content-type"), Some("application/json"));
            let json = body(&reply);
            assert_eq!(json["resCode"], status);
            assert!(json["resDesc"].is_string());
            assert_eq!(json.as_object().unwrap().len(), 2);
        }
    }

    #[test]
    fn oauth_errors_use_the_rfc_6749_shape() {
        for (error, status, code) in [
            (OAuthError::InvalidClient, 401, "invalid_client"),
            (OAuthError::InvalidRequest, 400, "invalid_request"),
            (OAuthError::UnauthorizedClient, 400, "unauthorized_client"),
            (OAuthError::Unavailable, 503, "temporarily_unavailable"),
        ] {
            let reply = Rejection::OAuth(error).reply(RENDER);
            assert_eq!(reply.status, status);
            assert_eq!(body(&reply), serde_json::json!({ "error": code }));
            assert_eq!(header(&reply, "content-type"), Some("application/json"));
        }
        let reply = Rejection::OAuth(OAuthError::InvalidClient).reply(RENDER);
        assert_eq!(
            header(&reply, "www-authenticate"),
            Some("Basic realm=\"api\"")
        );
    }

    #[test]
    fn idp_routes_answer_in_their_own_shapes() {
        let logout = Rejection::Logout(LogoutError("nonce must be absent")).reply(RENDER);
        assert_eq!(logout.status, 400);
        assert_eq!(logout.header("content-type"), Some("application/json"));
        assert_eq!(logout.header("cache-control"), Some("no-store"));
        assert_eq!(
            body(&logout),
            serde_json::json!({"error": "invalid_request", "error_description": "nonce must be absent"})
        );
        for (code, name) in [
            (SsfErrorCode::InvalidRequest, "invalid_request"),
            (SsfErrorCode::InvalidKey, "invalid_key"),
            (SsfErrorCode::InvalidIssuer, "invalid_issuer"),
            (SsfErrorCode::InvalidAudience, "invalid_audience"),
        ] {
            let e = SsfError {
                code,
                description: "why",
            };
            let reply = Rejection::Ssf(e).reply(RENDER);
            assert_eq!(reply.status, 400);
            assert_eq!(reply.header("content-type"), Some("application/json"));
            assert_eq!(
                body(&reply),
                serde_json::json!({"err": name, "description": "why"})
            );
            assert_eq!(Rejection::Ssf(e).reason(), name);
        }
    }

    #[test]
    fn the_origins_failures_are_built_once_and_match_the_map() {
        for rejection in [Rejection::OriginUnreachable, Rejection::OriginTimeout] {
            for plain_json in [false, true] {
                let render = Render {
                    realm: "any",
                    plain_json,
                };
                let shared = rejection.static_reply(plain_json);
                assert_eq!(*shared, rejection.reply(render), "{rejection:?}");
                assert!(std::ptr::eq(shared, rejection.static_reply(plain_json)));
            }
        }
    }

    #[test]
    fn every_status_is_mapped() {
        let all = [
            (Rejection::Request(RequestError::Malformed), 400),
            (Rejection::Request(RequestError::Forbidden), 403),
            (Rejection::Request(RequestError::UnknownToken), 404),
            (Rejection::Request(RequestError::TokenIdTooLarge), 413),
            (Rejection::Verify(VerifyError::KeyRejected), 500),
            (Rejection::Verify(VerifyError::Unavailable), 503),
            (Rejection::OriginUnreachable, 502),
            (Rejection::OriginTimeout, 504),
        ];
        for (rejection, status) in all {
            let reply = rejection.reply(RENDER);
            assert_eq!(reply.status, status, "{rejection:?}");
            assert_eq!(body(&reply)["status"], status);
        }
    }
}

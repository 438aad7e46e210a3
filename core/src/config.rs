//! Every setting, parsed once from a lookup function (the worker's `Env` in
//! production, a map in tests). An empty value counts as unset.

use crate::error::ConfigError;
use crate::keys::{Alg, KeySet};
use crate::secret::Secret;
use crate::token::rules::{Rules, DEFAULT_LEEWAY, MAX_LEEWAY};

/// The worker's configuration. Each field names its environment variable and
/// default.
#[derive(Clone, Debug)]
pub struct Config {
    /// `ORIGIN_URL`: base URL of the origin; the request's path and query are
    /// appended. Default: unset, meaning the request goes to its own URL (route
    /// mode in front of a Cloudflare origin).
    pub origin_url: Option<String>,
    /// `JWT_SECRET` and `JWT_JWKS`: the verification keys. Default: none, which
    /// is a configuration error.
    pub keys: KeySet,
    /// `JWT_JWKS_URL`: a key set fetched over HTTPS (for example an IdP's
    /// `/.well-known/jwks.json`), combined with the keys above. Default: unset.
    pub jwks_url: Option<String>,
    /// `JWKS_CACHE_SECONDS`: how long a fetched key set is used before it is
    /// fetched again. Default: 600.
    pub jwks_cache_seconds: u64,
    /// `JWT_ALGORITHMS`, `JWT_ISSUER`, `JWT_AUDIENCE` and
    /// `JWT_LEEWAY_SECONDS`: what a token must satisfy (see [`Rules`]).
    pub rules: Rules,
    /// `REQUIRE_TOKEN`: when true, a request without a token gets 401; when
    /// false it passes unchecked (a present token is still checked).
    /// Default: true.
    pub require_token: bool,
    /// `PUBLIC_PATHS`: comma list of path prefixes that pass without any token
    /// check. A prefix matches whole segments: `/public` covers `/public` and
    /// `/public/x`, not `/publicity`. Default: none.
    pub public_paths: Vec<String>,
    /// `MAX_TOKEN_LIFETIME_SECONDS`: how long a revocation lasts when the
    /// token's `exp` is unknown (a bare token ID). Default: 86400.
    pub max_token_lifetime: u64,
    /// `REVOCATION_CACHE_TTL_SECONDS`: KV `cacheTtl` for revocation reads; the
    /// bound on how stale another location's view can be. Default: 60; KV's
    /// minimum is 30.
    pub revocation_cache_ttl: u64,
    /// `CUTOFF_SKEW_SECONDS`: how far past the edge's clock a sign-out of a
    /// subject or session made at the edge reaches (`scope=global`,
    /// `others`, `session`, the admin's sign-out of a user), so that a token
    /// from an identity provider whose clock runs ahead (its `iat` up to the
    /// leeway in the future) cannot outlive a sign-out made after it was
    /// issued. A new sign-in works once the provider's clock passes the
    /// cutoff: up to this long after the sign-out. Default:
    /// `JWT_LEEWAY_SECONDS`; at most 3600.
    pub cutoff_skew: u64,
    /// `REVOCATION_RECHECK_SECONDS`: an isolate skips the KV read for a token
    /// whose last check, at most this many seconds ago, found nothing.
    /// Revocations written through the same isolate still count on its very
    /// next request; one written elsewhere is seen up to this much later
    /// (on top of KV's propagation). Default: 0, every request is checked;
    /// at most `REVOCATION_CACHE_TTL_SECONDS`.
    pub revocation_recheck: u64,
    /// `ROLES_CLAIM`: the claim holding the caller's roles (a string of
    /// space- or comma-separated roles, or an array). Default: `roles`.
    pub roles_claim: String,
    /// `ADMIN_ROLES`: comma list; any of them may revoke other tokens.
    /// Default: `identity:admin,identity:user-admin`.
    pub admin_roles: Vec<String>,
    /// `INVALIDATE_API_KEYS` (secret): comma list of API keys accepted by the
    /// service invalidation route. Default: none, so that route answers 401.
    pub invalidate_api_keys: Vec<Secret>,
    /// `AUTH_REALM`: the `realm` of `WWW-Authenticate`. Default: `api`.
    pub realm: String,
    /// `ORIGIN_TIMEOUT_SECONDS`: how long to wait for the origin's response
    /// headers before answering 504. Default: 100 (Cloudflare's own origin
    /// timeout); at most 600.
    pub origin_timeout: u64,
    /// `TOKEN_CACHE_ENTRIES`: verified tokens kept per isolate (0 disables).
    /// Default: 10000.
    pub token_cache_entries: usize,
    /// `TOKEN_CACHE_BYTES`: approximate memory bound of that cache.
    /// Default: 16777216 (16 MiB).
    pub token_cache_bytes: usize,
    /// `OAUTH_CLIENTS` (secret): comma list of `client_id:client_secret` for
    /// HTTP Basic authentication on `/oauth/revoke` and `/oauth/introspect`.
    /// Default: none, so those routes answer 401 `invalid_client`.
    pub oauth_clients: Vec<(String, Secret)>,
    /// `FORWARD_CLAIMS`: comma list of `claim:Header-Name`; verified claims
    /// are sent to the origin in those headers, and any copy of those headers
    /// from the client is removed first. Default: none.
    pub forward_claims: Vec<(String, String)>,
    /// `ENFORCE`: when `false` (monitor mode), a request that would be
    /// rejected is logged and forwarded anyway. Revocation routes still
    /// answer as usual. Default: true.
    pub enforce: bool,
    /// `BACKCHANNEL_LOGOUT_AUDIENCE`: comma list of the client IDs this
    /// worker is registered as at the identity provider. When set, the worker
    /// answers `POST /oidc/backchannel-logout` (OpenID Connect Back-Channel
    /// Logout 1.0); logout tokens are checked with the access-token keys,
    /// `JWT_ISSUER` and [`Rules`], and their `aud` must contain one of these.
    /// Default: unset, and that path is the origin's like any other.
    pub backchannel_logout_audience: Vec<String>,
    /// The Shared Signals receiver (`POST /ssf/events`), when `SSF_ISSUER`
    /// is set. Default: unset, and that path is the origin's.
    pub ssf: Option<SsfConfig>,
}

/// A Shared Signals Framework receiver: who may send security event tokens
/// (RFC 8417) and with which keys. The keys are separate from the
/// access-token keys, so neither kind of token passes for the other.
#[derive(Clone, Debug)]
pub struct SsfConfig {
    /// `SSF_ISSUER` (the SET's `iss`), `SSF_AUDIENCE` (comma list; its `aud`
    /// must contain one), the algorithms `SSF_JWKS` and `SSF_JWKS_URL`
    /// support, and `JWT_LEEWAY_SECONDS`.
    pub rules: Rules,
    /// `SSF_JWKS`: the transmitter's public keys as JSON text (shared
    /// secrets are not accepted). Default: none.
    pub keys: KeySet,
    /// `SSF_JWKS_URL`: the transmitter's key set, fetched and cached like
    /// `JWT_JWKS_URL`. Default: unset. One of the two is required.
    pub jwks_url: Option<String>,
}

/// Default of `MAX_TOKEN_LIFETIME_SECONDS`.
pub const DEFAULT_MAX_TOKEN_LIFETIME: u64 = 86_400;
/// Default of `REVOCATION_CACHE_TTL_SECONDS`.
pub const DEFAULT_CACHE_TTL: u64 = 60;
/// Default of `AUTH_REALM`.
pub const DEFAULT_REALM: &str = "api";
/// Default of `JWKS_CACHE_SECONDS`.
pub const DEFAULT_JWKS_CACHE_SECONDS: u64 = 600;
/// Default of `ORIGIN_TIMEOUT_SECONDS`: Cloudflare's own origin timeout.
pub const DEFAULT_ORIGIN_TIMEOUT: u64 = 100;
/// Largest `ORIGIN_TIMEOUT_SECONDS`.
pub const MAX_ORIGIN_TIMEOUT: u64 = 600;
/// Default of `ROLES_CLAIM`.
pub const DEFAULT_ROLES_CLAIM: &str = "roles";
/// Default of `ADMIN_ROLES`.
pub const DEFAULT_ADMIN_ROLES: &[&str] = &["identity:admin", "identity:user-admin"];
/// Default of `REQUIRE_TOKEN`.
pub const DEFAULT_REQUIRE_TOKEN: bool = true;
/// Default of `ENFORCE`.
pub const DEFAULT_ENFORCE: bool = true;
/// The Workers KV namespace binding that holds revocations and cutoffs.
pub const KV_BINDING: &str = "REVOKED_TOKENS";
/// Default of `REVOCATION_RECHECK_SECONDS`: every request is checked.
pub const DEFAULT_RECHECK: u64 = 0;
/// KV's smallest accepted `cacheTtl`.
pub const MIN_CACHE_TTL: u64 = 30;

/// Every setting and binding the worker reads, with its default as the
/// README's configuration table shows it: `None` where there is no fixed
/// value (unset, required, or computed from other settings). Built from the
/// constants above, so the README is checked against the code, not a copy.
pub fn documented_defaults() -> Vec<(&'static str, Option<String>)> {
    let value = |v: &dyn std::fmt::Display| Some(v.to_string());
    vec![
        ("ORIGIN_URL", None),
        ("JWT_SECRET", None),
        ("JWT_JWKS", None),
        ("JWT_JWKS_URL", None),
        ("JWKS_CACHE_SECONDS", value(&DEFAULT_JWKS_CACHE_SECONDS)),
        ("JWT_ALGORITHMS", None),
        ("JWT_ISSUER", None),
        ("JWT_AUDIENCE", None),
        ("JWT_LEEWAY_SECONDS", value(&DEFAULT_LEEWAY)),
        ("REQUIRE_TOKEN", value(&DEFAULT_REQUIRE_TOKEN)),
        ("PUBLIC_PATHS", None),
        (
            "MAX_TOKEN_LIFETIME_SECONDS",
            value(&DEFAULT_MAX_TOKEN_LIFETIME),
        ),
        ("REVOCATION_CACHE_TTL_SECONDS", value(&DEFAULT_CACHE_TTL)),
        ("REVOCATION_RECHECK_SECONDS", value(&DEFAULT_RECHECK)),
        ("CUTOFF_SKEW_SECONDS", None),
        ("ROLES_CLAIM", value(&DEFAULT_ROLES_CLAIM)),
        ("ADMIN_ROLES", value(&DEFAULT_ADMIN_ROLES.join(","))),
        ("INVALIDATE_API_KEYS", None),
        ("OAUTH_CLIENTS", None),
        ("FORWARD_CLAIMS", None),
        ("ENFORCE", value(&DEFAULT_ENFORCE)),
        ("ORIGIN_TIMEOUT_SECONDS", value(&DEFAULT_ORIGIN_TIMEOUT)),
        (
            "TOKEN_CACHE_ENTRIES",
            value(&crate::token::cache::DEFAULT_ENTRIES),
        ),
        (
            "TOKEN_CACHE_BYTES",
            value(&crate::token::cache::DEFAULT_BYTES),
        ),
        ("AUTH_REALM", value(&DEFAULT_REALM)),
        ("BACKCHANNEL_LOGOUT_AUDIENCE", None),
        ("SSF_ISSUER", None),
        ("SSF_AUDIENCE", None),
        ("SSF_JWKS", None),
        ("SSF_JWKS_URL", None),
        (KV_BINDING, None),
    ]
}

impl Config {
    /// Reads every setting through `lookup` (name → value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let origin_url = get("ORIGIN_URL")
            .map(|url| parse_url(&url, "ORIGIN_URL", false))
            .transpose()?;
        let keys = KeySet::from_config(get("JWT_SECRET").as_deref(), get("JWT_JWKS").as_deref())?;
        let jwks_url = get("JWT_JWKS_URL")
            .map(|url| parse_url(&url, "JWT_JWKS_URL", true))
            .transpose()?;
        if keys.is_empty() && jwks_url.is_none() {
            return Err(ConfigError::NoKey);
        }
        let jwks_cache_seconds = parse_seconds(
            get("JWKS_CACHE_SECONDS"),
            "JWKS_CACHE_SECONDS",
            DEFAULT_JWKS_CACHE_SECONDS,
        )?;
        let mut supported = keys.supported_algs();
        if jwks_url.is_some() {
            supported.extend(
                Alg::ALL
                    .into_iter()
                    .filter(|alg| alg.key_kind() != crate::keys::KeyKind::Secret),
            );
            supported.sort();
            supported.dedup();
        }
        let algorithms = match get("JWT_ALGORITHMS") {
            None => supported,
            Some(list) => parse_algorithms(&list, &supported)?,
        };
        let leeway = parse_seconds(
            get("JWT_LEEWAY_SECONDS"),
            "JWT_LEEWAY_SECONDS",
            DEFAULT_LEEWAY,
        )?;
        if leeway > MAX_LEEWAY {
            return Err(ConfigError::invalid("JWT_LEEWAY_SECONDS", "over 3600"));
        }
        let max_token_lifetime = parse_seconds(
            get("MAX_TOKEN_LIFETIME_SECONDS"),
            "MAX_TOKEN_LIFETIME_SECONDS",
            DEFAULT_MAX_TOKEN_LIFETIME,
        )?;
        if max_token_lifetime == 0 {
            return Err(ConfigError::invalid(
                "MAX_TOKEN_LIFETIME_SECONDS",
                "must be positive",
            ));
        }
        let revocation_cache_ttl = parse_seconds(
            get("REVOCATION_CACHE_TTL_SECONDS"),
            "REVOCATION_CACHE_TTL_SECONDS",
            DEFAULT_CACHE_TTL,
        )?;
        if revocation_cache_ttl < MIN_CACHE_TTL {
            return Err(ConfigError::invalid(
                "REVOCATION_CACHE_TTL_SECONDS",
                "below KV's minimum of 30",
            ));
        }
        let revocation_recheck = parse_seconds(
            get("REVOCATION_RECHECK_SECONDS"),
            "REVOCATION_RECHECK_SECONDS",
            DEFAULT_RECHECK,
        )?;
        if revocation_recheck > revocation_cache_ttl {
            return Err(ConfigError::invalid(
                "REVOCATION_RECHECK_SECONDS",
                "over REVOCATION_CACHE_TTL_SECONDS",
            ));
        }
        let cutoff_skew = parse_seconds(get("CUTOFF_SKEW_SECONDS"), "CUTOFF_SKEW_SECONDS", leeway)?;
        if cutoff_skew > MAX_LEEWAY {
            return Err(ConfigError::invalid("CUTOFF_SKEW_SECONDS", "over 3600"));
        }
        let require_token =
            parse_bool(get("REQUIRE_TOKEN"), "REQUIRE_TOKEN", DEFAULT_REQUIRE_TOKEN)?;
        let enforce = parse_bool(get("ENFORCE"), "ENFORCE", DEFAULT_ENFORCE)?;
        let oauth_clients = list(get("OAUTH_CLIENTS"))
            .into_iter()
            .map(|entry| match entry.split_once(':') {
                Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
                    Ok((id.to_owned(), Secret::from(secret)))
                }
                _ => Err(ConfigError::invalid(
                    "OAUTH_CLIENTS",
                    "an entry is not id:secret",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let forward_claims = list(get("FORWARD_CLAIMS"))
            .into_iter()
            .map(|entry| parse_forward_claim(&entry))
            .collect::<Result<Vec<_>, _>>()?;
        let public_paths = list(get("PUBLIC_PATHS"));
        if let Some(bad) = public_paths.iter().find(|p| !p.starts_with('/')) {
            return Err(ConfigError::invalid(
                "PUBLIC_PATHS",
                format!("{bad:?} does not start with /"),
            ));
        }
        let origin_timeout = parse_seconds(
            get("ORIGIN_TIMEOUT_SECONDS"),
            "ORIGIN_TIMEOUT_SECONDS",
            DEFAULT_ORIGIN_TIMEOUT,
        )?;
        if !(1..=MAX_ORIGIN_TIMEOUT).contains(&origin_timeout) {
            return Err(ConfigError::invalid(
                "ORIGIN_TIMEOUT_SECONDS",
                "not between 1 and 600",
            ));
        }
        let token_cache_entries = parse_count(
            get("TOKEN_CACHE_ENTRIES"),
            "TOKEN_CACHE_ENTRIES",
            crate::token::cache::DEFAULT_ENTRIES,
        )?;
        let token_cache_bytes = parse_count(
            get("TOKEN_CACHE_BYTES"),
            "TOKEN_CACHE_BYTES",
            crate::token::cache::DEFAULT_BYTES,
        )?;
        let ssf = match get("SSF_ISSUER") {
            None => None,
            Some(issuer) => Some(parse_ssf(issuer.trim(), &get, leeway)?),
        };
        let admin_roles = match get("ADMIN_ROLES") {
            None => DEFAULT_ADMIN_ROLES
                .iter()
                .map(|&role| role.into())
                .collect(),
            Some(roles) => list(Some(roles)),
        };

        Ok(Config {
            origin_url,
            keys,
            jwks_url,
            jwks_cache_seconds,
            rules: Rules {
                algorithms,
                issuer: get("JWT_ISSUER").map(|s| s.trim().to_owned()),
                audiences: list(get("JWT_AUDIENCE")),
                leeway,
            },
            require_token,
            public_paths,
            max_token_lifetime,
            revocation_cache_ttl,
            revocation_recheck,
            cutoff_skew,
            roles_claim: get("ROLES_CLAIM")
                .map_or_else(|| DEFAULT_ROLES_CLAIM.into(), |s| s.trim().into()),
            admin_roles,
            invalidate_api_keys: list(get("INVALIDATE_API_KEYS"))
                .iter()
                .map(|key| Secret::from(key.as_str()))
                .collect(),
            realm: get("AUTH_REALM").map_or_else(|| DEFAULT_REALM.into(), |s| s.trim().into()),
            origin_timeout,
            token_cache_entries,
            token_cache_bytes,
            oauth_clients,
            forward_claims,
            enforce,
            backchannel_logout_audience: list(get("BACKCHANNEL_LOGOUT_AUDIENCE")),
            ssf,
        })
        .and_then(Config::check_realm)
    }

    fn check_realm(self) -> Result<Config, ConfigError> {
        // The realm is quoted in a header; keep it to safe characters.
        if self
            .realm
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' ')
        {
            Ok(self)
        } else {
            Err(ConfigError::invalid(
                "AUTH_REALM",
                "has characters a header cannot quote",
            ))
        }
    }

    /// False for a receiver route whose settings are unset: its path is then
    /// the origin's like any other.
    pub fn serves(&self, route: &crate::http::routes::Route) -> bool {
        use crate::http::routes::Route;
        match route {
            Route::BackchannelLogout => !self.backchannel_logout_audience.is_empty(),
            Route::SsfEvents => self.ssf.is_some(),
            _ => true,
        }
    }

    /// True when `path` is under one of `PUBLIC_PATHS`.
    pub fn is_public(&self, path: &str) -> bool {
        self.public_paths.iter().any(|prefix| {
            let prefix = prefix.as_str();
            match path.strip_prefix(prefix) {
                Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
                None => false,
            }
        })
    }

    /// The URL to forward to: `ORIGIN_URL` plus the request's path and query,
    /// or the request's own URL when `ORIGIN_URL` is unset.
    pub fn forward_url(&self, request_url: &str) -> String {
        let Some(origin) = &self.origin_url else {
            return request_url.to_owned();
        };
        let path_and_query = request_url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or("/");
        format!("{origin}{path_and_query}")
    }
}

/// The receiver settings that `SSF_ISSUER` turns on.
fn parse_ssf(
    issuer: &str,
    get: &impl Fn(&str) -> Option<String>,
    leeway: u64,
) -> Result<SsfConfig, ConfigError> {
    let audiences = list(get("SSF_AUDIENCE"));
    if audiences.is_empty() {
        return Err(ConfigError::invalid(
            "SSF_AUDIENCE",
            "required when SSF_ISSUER is set",
        ));
    }
    let keys = match get("SSF_JWKS") {
        Some(text) => KeySet::public_only(&text, "SSF_JWKS")?,
        None => KeySet::default(),
    };
    let jwks_url = get("SSF_JWKS_URL")
        .map(|url| parse_url(&url, "SSF_JWKS_URL", true))
        .transpose()?;
    if keys.is_empty() && jwks_url.is_none() {
        return Err(ConfigError::invalid(
            "SSF_JWKS",
            "SSF_JWKS or SSF_JWKS_URL is required when SSF_ISSUER is set",
        ));
    }
    let mut algorithms = keys.supported_algs();
    if jwks_url.is_some() {
        algorithms.extend(
            Alg::ALL
                .into_iter()
                .filter(|alg| alg.key_kind() != crate::keys::KeyKind::Secret),
        );
        algorithms.sort();
        algorithms.dedup();
    }
    Ok(SsfConfig {
        rules: Rules {
            algorithms,
            issuer: Some(issuer.to_owned()),
            audiences,
            leeway,
        },
        keys,
        jwks_url,
    })
}

/// `true`/`false` in any case; unset is `default`.
fn parse_bool(
    value: Option<String>,
    setting: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ConfigError::invalid(setting, "not true or false")),
    }
}

/// Headers a claim must never be written into.
const PROTECTED_HEADERS: &[&str] = &[
    "authorization",
    "x-auth-token",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "cookie",
];

/// `claim:Header-Name` → `(claim, lower-case header name)`.
fn parse_forward_claim(entry: &str) -> Result<(String, String), ConfigError> {
    let invalid = |why: &str| ConfigError::invalid("FORWARD_CLAIMS", why);
    let (claim, header) = entry
        .split_once(':')
        .ok_or_else(|| invalid("an entry is not claim:Header-Name"))?;
    let (claim, header) = (claim.trim(), header.trim().to_ascii_lowercase());
    let token_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if claim.is_empty() || header.is_empty() || !header.bytes().all(token_char) {
        return Err(invalid(
            "an entry has an empty claim or an invalid header name",
        ));
    }
    if PROTECTED_HEADERS.contains(&header.as_str()) {
        return Err(invalid("a header name is reserved"));
    }
    Ok((claim.to_owned(), header))
}

/// Splits a comma list, trimming items and dropping empty ones.
fn list(value: Option<String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn parse_seconds(
    value: Option<String>,
    setting: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= 10 * 365 * 86_400)
            .ok_or_else(|| ConfigError::invalid(setting, "not a whole number of seconds")),
    }
}

fn parse_count(
    value: Option<String>,
    setting: &'static str,
    default: usize,
) -> Result<usize, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 1 << 30)
            .ok_or_else(|| ConfigError::invalid(setting, "not a whole number")),
    }
}

fn parse_algorithms(value: &str, supported: &[Alg]) -> Result<Vec<Alg>, ConfigError> {
    let mut algorithms = Vec::new();
    for name in list(Some(value.to_owned())) {
        let alg = Alg::from_name(&name).ok_or_else(|| {
            ConfigError::invalid("JWT_ALGORITHMS", format!("unknown algorithm {name:?}"))
        })?;
        if !supported.contains(&alg) {
            return Err(ConfigError::invalid(
                "JWT_ALGORITHMS",
                format!("{name} has no configured key"),
            ));
        }
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    if algorithms.is_empty() {
        return Err(ConfigError::invalid("JWT_ALGORITHMS", "empty"));
    }
    Ok(algorithms)
}

/// An absolute http(s) URL without fragment. An origin also has no query, and
/// its trailing `/` is dropped so that paths join cleanly.
fn parse_url(url: &str, setting: &'static str, query_allowed: bool) -> Result<String, ConfigError> {
    let url = url.trim();
    let invalid = || ConfigError::invalid(setting, "not an absolute http(s) URL");
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(invalid)?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || url.contains(['#', ' ']) || (!query_allowed && url.contains('?')) {
        return Err(invalid());
    }
    Ok(if query_allowed {
        url.to_owned()
    } else {
        url.trim_end_matches('/').to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(crate) const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[("JWT_SECRET", SECRET)]).unwrap();
        assert_eq!(c.origin_url, None);
        assert_eq!(c.rules.algorithms, vec![Alg::HS256, Alg::HS384, Alg::HS512]);
        assert_eq!(c.rules.leeway, 60);
        assert_eq!(c.cutoff_skew, 60, "the leeway");
        let short = config(&[("JWT_SECRET", SECRET), ("JWT_LEEWAY_SECONDS", "7")]).unwrap();
        assert_eq!(short.cutoff_skew, 7, "follows the leeway");
        let set = config(&[("JWT_SECRET", SECRET), ("CUTOFF_SKEW_SECONDS", "2")]).unwrap();
        assert_eq!((set.cutoff_skew, set.rules.leeway), (2, 60));
        assert!(c.require_token);
        assert!(c.public_paths.is_empty());
        assert_eq!(c.max_token_lifetime, 86_400);
        assert_eq!(c.revocation_cache_ttl, 60);
        assert_eq!(c.roles_claim, "roles");
        assert_eq!(c.admin_roles, ["identity:admin", "identity:user-admin"]);
        assert!(c.invalidate_api_keys.is_empty());
        assert_eq!(c.realm, "api");
        assert_eq!(c.origin_timeout, 100);
        assert_eq!(c.token_cache_entries, 10_000);
        assert_eq!(c.token_cache_bytes, 16 << 20);
        assert!(c.oauth_clients.is_empty());
        assert!(c.forward_claims.is_empty());
        assert!(c.enforce);
        assert_eq!(c.rules.issuer, None);
        assert!(c.rules.audiences.is_empty());
    }

    #[test]
    fn no_key_is_an_error() {
        assert_eq!(config(&[]).unwrap_err(), ConfigError::NoKey);
        assert_eq!(
            config(&[("JWT_SECRET", "  ")]).unwrap_err(),
            ConfigError::NoKey
        );
    }

    #[test]
    fn every_bad_setting_is_named() {
        for (name, value) in [
            ("ORIGIN_URL", "ftp://x"),
            ("ORIGIN_URL", "http://"),
            ("ORIGIN_URL", "http://a/?q"),
            ("JWT_ALGORITHMS", "HS256,none"),
            ("JWT_ALGORITHMS", "RS256"),
            ("JWT_ALGORITHMS", ","),
            ("JWT_LEEWAY_SECONDS", "-1"),
            ("JWT_LEEWAY_SECONDS", "ten"),
            ("JWT_LEEWAY_SECONDS", "4000"),
            ("REQUIRE_TOKEN", "yes"),
            ("PUBLIC_PATHS", "public"),
            ("MAX_TOKEN_LIFETIME_SECONDS", "0"),
            ("REVOCATION_CACHE_TTL_SECONDS", "10"),
            ("AUTH_REALM", "a\"b"),
            ("ORIGIN_TIMEOUT_SECONDS", "0"),
            ("ORIGIN_TIMEOUT_SECONDS", "601"),
            ("TOKEN_CACHE_ENTRIES", "-1"),
            ("TOKEN_CACHE_BYTES", "lots"),
            ("CUTOFF_SKEW_SECONDS", "3601"),
            ("CUTOFF_SKEW_SECONDS", "soon"),
            ("ENFORCE", "maybe"),
            ("OAUTH_CLIENTS", "just-an-id"),
            ("OAUTH_CLIENTS", "id:"),
            ("FORWARD_CLAIMS", "sub"),
            ("FORWARD_CLAIMS", "sub:Authorization"),
            ("FORWARD_CLAIMS", "sub:Bad Header"),
        ] {
            let err = config(&[("JWT_SECRET", SECRET), (name, value)]).unwrap_err();
            assert_eq!(err.setting(), name, "{name}={value}");
        }
    }

    #[test]
    fn a_key_set_url_alone_is_enough() {
        let c = config(&[("JWT_JWKS_URL", "https://idp.test/.well-known/jwks.json")]).unwrap();
        assert_eq!(
            c.jwks_url.as_deref(),
            Some("https://idp.test/.well-known/jwks.json")
        );
        assert_eq!(c.jwks_cache_seconds, 600);
        assert!(!c.rules.algorithms.contains(&Alg::HS256));
        assert!(
            c.rules.algorithms.contains(&Alg::RS256) && c.rules.algorithms.contains(&Alg::EdDSA)
        );
        let both = config(&[
            ("JWT_SECRET", SECRET),
            ("JWT_JWKS_URL", "https://idp.test/k"),
        ])
        .unwrap();
        assert!(
            both.rules.algorithms.contains(&Alg::HS256)
                && both.rules.algorithms.contains(&Alg::ES256)
        );
        assert_eq!(
            config(&[("JWT_JWKS_URL", "file:///etc/passwd")])
                .unwrap_err()
                .setting(),
            "JWT_JWKS_URL"
        );
    }

    #[test]
    fn values_are_parsed() {
        let c = config(&[
            ("JWT_SECRET", SECRET),
            ("ORIGIN_URL", "https://origin.test/base/"),
            ("JWT_ALGORITHMS", " HS512 , HS256,HS256"),
            ("JWT_AUDIENCE", "a, b,,"),
            ("JWT_ISSUER", "https://issuer.test"),
            ("JWT_LEEWAY_SECONDS", "5"),
            ("REQUIRE_TOKEN", "FALSE"),
            ("PUBLIC_PATHS", "/public,/health/"),
            ("ADMIN_ROLES", "root"),
            ("INVALIDATE_API_KEYS", "k1, k2"),
            ("OAUTH_CLIENTS", "app:s3cret:with:colons, other:x"),
            ("FORWARD_CLAIMS", "sub:X-User-Id, email:X-User-Email"),
            ("ENFORCE", "false"),
        ])
        .unwrap();
        assert_eq!(
            c.oauth_clients,
            [
                ("app".into(), "s3cret:with:colons".into()),
                ("other".into(), "x".into())
            ]
        );
        assert_eq!(
            c.forward_claims,
            [
                ("sub".into(), "x-user-id".into()),
                ("email".into(), "x-user-email".into())
            ]
        );
        assert!(!c.enforce);
        assert_eq!(c.origin_url.as_deref(), Some("https://origin.test/base"));
        assert_eq!(c.rules.algorithms, vec![Alg::HS512, Alg::HS256]);
        assert_eq!(c.rules.audiences, ["a", "b"]);
        assert_eq!(c.rules.leeway, 5);
        assert!(!c.require_token);
        assert_eq!(c.admin_roles, ["root"]);
        assert_eq!(c.invalidate_api_keys, ["k1", "k2"]);
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let oct = "c2VjcmV0LWtleS1ieXRlcy1mb3ItaHMyNTYtMDEyMzQ1Njc4OQ";
        let jwks = format!(r#"{{"keys":[{{"kty":"oct","kid":"h","k":"{oct}"}}]}}"#);
        let c = config(&[
            ("JWT_SECRET", SECRET),
            ("JWT_JWKS", &jwks),
            (
                "INVALIDATE_API_KEYS",
                "api-key-one-0123456789,api-key-two-0123456789",
            ),
            ("OAUTH_CLIENTS", "app:client-secret-0123456789"),
        ])
        .unwrap();
        let shown = format!("{c:?} {:?} {c:#?}", c.keys.keys());
        let decoded = crate::primitives::base64url_decode(oct).unwrap();
        for secret in [
            SECRET,
            oct,
            std::str::from_utf8(&decoded).unwrap(),
            "api-key-one-0123456789",
            "api-key-two-0123456789",
            "client-secret-0123456789",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        // Byte-array renderings too: no run of a secret's bytes as numbers.
        let as_numbers = |text: &str| format!("{:?}", text.as_bytes());
        let numbers = as_numbers(SECRET);
        assert!(!shown.contains(&numbers[1..numbers.len() - 1]));
        assert!(shown.contains("app"), "client IDs are not secret");
    }

    /// The README's configuration table names every setting the code reads,
    /// and no other, with the code's defaults.
    #[test]
    fn readme_configuration_table_matches_the_code() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("\n## Configuration")
            .nth(1)
            .expect("README has a Configuration section")
            .split("\n## ")
            .next()
            .unwrap_or_default();
        let documented: Vec<(String, Option<String>)> = table
            .lines()
            .filter(|line| line.starts_with("| `"))
            .map(|line| {
                let cells: Vec<&str> = line.split(" | ").collect();
                let name = cells[0]
                    .trim_start_matches("| ")
                    .trim_matches('`')
                    .to_owned();
                let default = cells[2].trim();
                let fixed = default.starts_with('`') && default.ends_with('`');
                (name, fixed.then(|| default.trim_matches('`').to_owned()))
            })
            .collect();
        let code: Vec<(String, Option<String>)> = documented_defaults()
            .into_iter()
            .map(|(name, default)| (name.to_owned(), default))
            .collect();
        assert_eq!(documented, code);
    }

    #[test]
    fn public_paths_match_whole_segments() {
        let c = config(&[("JWT_SECRET", SECRET), ("PUBLIC_PATHS", "/public,/assets/")]).unwrap();
        assert!(c.is_public("/public"));
        assert!(c.is_public("/public/x"));
        assert!(!c.is_public("/publicity"));
        assert!(!c.is_public("/private"));
        assert!(c.is_public("/assets/app.js"));
        assert!(!c.is_public("/assets"));
    }

    #[test]
    fn forward_url_appends_path_and_query() {
        let c = config(&[
            ("JWT_SECRET", SECRET),
            ("ORIGIN_URL", "http://127.0.0.1:9000/base"),
        ])
        .unwrap();
        assert_eq!(
            c.forward_url("https://edge.test/a/b?x=1&x=2&y"),
            "http://127.0.0.1:9000/base/a/b?x=1&x=2&y"
        );
        assert_eq!(
            c.forward_url("https://edge.test"),
            "http://127.0.0.1:9000/base/"
        );
        let route_mode = config(&[("JWT_SECRET", SECRET)]).unwrap();
        assert_eq!(
            route_mode.forward_url("https://edge.test/a?b"),
            "https://edge.test/a?b"
        );
    }
}

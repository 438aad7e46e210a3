//! Every setting the worker reads, each declared once below as a
//! [`Setting`]: its name, how it is set, and its default as the README's
//! configuration table shows it. [`Config::from_lookup`] reads them all once
//! through a lookup function (the worker's `Env` in production, a map in
//! tests). An empty value counts as unset, and an unset setting reads as its
//! default's text, parsed like any value: the documented default is the
//! effective one.

use crate::error::ConfigError;
use crate::keys::{Alg, KeyKind, KeySet};
use crate::secret::Secret;
use crate::token::rules::{Rules, MAX_LEEWAY};

/// The worker's configuration, read from the [`Setting`]s each field names.
#[derive(Clone, Debug)]
pub struct Config {
    /// [`ORIGIN_URL`], without a trailing `/`.
    pub origin_url: Option<String>,
    /// [`JWT_SECRET`] and [`JWT_JWKS`].
    pub keys: KeySet,
    /// [`JWT_JWKS_URL`].
    pub jwks_url: Option<String>,
    /// [`JWKS_CACHE_SECONDS`].
    pub jwks_cache_seconds: u64,
    /// [`JWT_ALGORITHMS`], [`JWT_ISSUER`], [`JWT_AUDIENCE`] and
    /// [`JWT_LEEWAY_SECONDS`].
    pub rules: Rules,
    /// [`REQUIRE_TOKEN`].
    pub require_token: bool,
    /// [`PUBLIC_PATHS`].
    pub public_paths: Vec<String>,
    /// [`MAX_TOKEN_LIFETIME_SECONDS`].
    pub max_token_lifetime: u64,
    /// [`REVOCATION_CACHE_TTL_SECONDS`].
    pub revocation_cache_ttl: u64,
    /// [`CUTOFF_SKEW_SECONDS`].
    pub cutoff_skew: u64,
    /// [`REVOCATION_RECHECK_SECONDS`].
    pub revocation_recheck: u64,
    /// [`REVOCATION_SYNC_SECONDS`].
    pub revocation_sync: u64,
    /// [`KV_PROPAGATION_SECONDS`].
    pub kv_propagation: u64,
    /// [`ROLES_CLAIM`].
    pub roles_claim: String,
    /// [`ADMIN_ROLES`].
    pub admin_roles: Vec<String>,
    /// [`INVALIDATE_API_KEYS`].
    pub invalidate_api_keys: Vec<Secret>,
    /// [`AUTH_REALM`].
    pub realm: String,
    /// [`ORIGIN_TIMEOUT_SECONDS`].
    pub origin_timeout: u64,
    /// [`TOKEN_CACHE_ENTRIES`].
    pub token_cache_entries: usize,
    /// [`TOKEN_CACHE_BYTES`].
    pub token_cache_bytes: usize,
    /// [`OAUTH_CLIENTS`], as `(client_id, client_secret)`.
    pub oauth_clients: Vec<(String, Secret)>,
    /// [`FORWARD_CLAIMS`], as `(claim, lower-case header name)`.
    pub forward_claims: Vec<(String, String)>,
    /// [`ENFORCE`].
    pub enforce: bool,
    /// [`BACKCHANNEL_LOGOUT_AUDIENCE`].
    pub backchannel_logout_audience: Vec<String>,
    /// The Shared Signals receiver (`POST /ssf/events`) when [`SSF_ISSUER`]
    /// is set. Default: unset, and that path is the origin's.
    pub ssf: Option<SsfConfig>,
    /// [`SUBJECT_EMAIL_CLAIM`]: the access-token claim that carries the
    /// user's email address, which turns email cutoffs on. Default: unset.
    pub email_claim: Option<String>,
    /// The Global Token Revocation endpoint when [`GTR_PATH`] is set.
    /// Default: unset, and no path is taken from the origin.
    pub gtr: Option<GtrConfig>,
}

/// The Global Token Revocation endpoint
/// (draft-parecki-oauth-global-token-revocation-05): where it is, who may
/// call it, whose subjects it accepts, and where the call is forwarded.
#[derive(Clone, Debug)]
pub struct GtrConfig {
    /// [`GTR_PATH`], as configured (matched like the worker's own routes).
    pub path: String,
    /// Signed assertions, when [`GTR_ISSUER`] is set; admin access tokens
    /// are accepted either way.
    pub assertions: Option<AssertionConfig>,
    /// [`GTR_SUBJECT_ISSUERS`]: the `iss` an `iss_sub` subject may name.
    pub subject_issuers: Vec<String>,
    /// [`GTR_FORWARD_URL`] and [`GTR_FORWARD_TOKEN`].
    pub forward: Option<GtrForward>,
}

/// Who may sign a Global Token Revocation assertion, and with which keys:
/// separate from the access-token keys unless
/// [`GTR_USE_ACCESS_TOKEN_KEYS`] says otherwise.
#[derive(Clone, Debug)]
pub struct AssertionConfig {
    /// [`GTR_ISSUER`], [`GTR_AUDIENCE`], the algorithms the keys support,
    /// and [`JWT_LEEWAY_SECONDS`].
    pub rules: Rules,
    /// [`GTR_JWKS`].
    pub keys: KeySet,
    /// [`GTR_JWKS_URL`].
    pub jwks_url: Option<String>,
    /// [`GTR_USE_ACCESS_TOKEN_KEYS`]: the public access-token keys
    /// (`JWT_JWKS`, `JWT_JWKS_URL`) sign assertions too.
    pub access_token_keys: bool,
}

/// Where a Global Token Revocation call is forwarded after the edge cutoff
/// is stored: the origin's own endpoint, which revokes refresh tokens.
#[derive(Clone, Debug)]
pub struct GtrForward {
    /// [`GTR_FORWARD_URL`].
    pub url: String,
    /// [`GTR_FORWARD_TOKEN`], sent as `Authorization: Bearer`.
    pub token: Secret,
}

/// A Shared Signals Framework receiver: who may send security event tokens
/// (RFC 8417) and with which keys. The keys are separate from the
/// access-token keys, so neither kind of token passes for the other.
#[derive(Clone, Debug)]
pub struct SsfConfig {
    /// [`SSF_ISSUER`] (the SET's `iss`), [`SSF_AUDIENCE`], the algorithms
    /// the keys support, and [`JWT_LEEWAY_SECONDS`].
    pub rules: Rules,
    /// [`SSF_JWKS`].
    pub keys: KeySet,
    /// [`SSF_JWKS_URL`].
    pub jwks_url: Option<String>,
    /// [`SSF_POLL_URL`] and [`SSF_POLL_TOKEN`]: the transmitter's poll
    /// endpoint (RFC 8936), polled by the scheduled handler.
    pub poll: Option<SsfPoll>,
    /// [`SSF_RISK_LEVEL_REVOKE`].
    pub revoke_from_risk: Option<crate::idp::RiskLevel>,
}

/// Where polled SETs come from (RFC 8936), and the credential that fetches
/// them.
#[derive(Clone, Debug)]
pub struct SsfPoll {
    /// [`SSF_POLL_URL`].
    pub url: String,
    /// [`SSF_POLL_TOKEN`], sent as `Authorization: Bearer`.
    pub token: Secret,
}

/// One setting or binding: what it is called, how it is set, and what it is
/// when unset. [`ALL`] lists every one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The name in the environment (and in errors and the README).
    pub name: &'static str,
    /// How it is set (the README's "Kind").
    pub kind: Kind,
    /// What it is when unset or empty (the README's "Default").
    pub default: Fallback,
}

/// How a setting reaches the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A plain variable: `[vars]` in `wrangler.toml`, or `--var`.
    Var,
    /// A secret: `wrangler secret put`, or `.dev.vars` locally.
    Secret,
    /// Either, as the value holds secrets or not.
    SecretOrVar,
    /// A Workers KV namespace binding.
    KvBinding,
    /// A Durable Object namespace binding.
    DurableObjectBinding,
}

/// What an unset setting is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Nothing: what it configures is off, or not checked.
    Unset,
    /// Nothing, and the worker cannot work without it.
    Required,
    /// This text, read exactly as a value that is set.
    Value(&'static str),
    /// Whatever that other setting is.
    SameAs(&'static Setting),
    /// Worked out from other settings, as this text says.
    Derived(&'static str),
}

impl Setting {
    const fn new(name: &'static str, kind: Kind) -> Setting {
        Setting {
            name,
            kind,
            default: Fallback::Unset,
        }
    }

    const fn var(name: &'static str) -> Setting {
        Setting::new(name, Kind::Var)
    }

    const fn secret(name: &'static str) -> Setting {
        Setting::new(name, Kind::Secret)
    }

    const fn with(self, default: Fallback) -> Setting {
        Setting { default, ..self }
    }

    const fn default(self, text: &'static str) -> Setting {
        self.with(Fallback::Value(text))
    }

    /// The error for a value of this setting that cannot be used.
    pub fn invalid(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::invalid(self.name, reason)
    }
}

/// Base URL of the origin; the request's path and query are appended.
/// Default: unset, meaning the request goes to its own URL (route mode in
/// front of a Cloudflare origin).
pub const ORIGIN_URL: Setting = Setting::var("ORIGIN_URL");
/// HMAC key for HS256/384/512, as UTF-8 bytes; at least 32. Default: unset.
/// When this, [`JWT_JWKS`] and [`JWT_JWKS_URL`] are all unset, there is no
/// key, which is a configuration error.
pub const JWT_SECRET: Setting = Setting::secret("JWT_SECRET");
/// A JWKS document as JSON text; keys of other uses or unsupported types are
/// skipped and logged. Default: unset.
pub const JWT_JWKS: Setting = Setting::new("JWT_JWKS", Kind::SecretOrVar);
/// A key set fetched over HTTP(S) (for example an IdP's
/// `/.well-known/jwks.json`), combined with the keys above. Default: unset.
pub const JWT_JWKS_URL: Setting = Setting::var("JWT_JWKS_URL");
/// How long a fetched key set is used before it is fetched again.
/// Default: 600.
pub const JWKS_CACHE_SECONDS: Setting = Setting::var("JWKS_CACHE_SECONDS").default("600");
/// Comma list of the accepted algorithms; one without a key is an error.
/// Default: every algorithm the configured keys support, plus RS*, PS*,
/// ES256 and EdDSA when [`JWT_JWKS_URL`] is set.
pub const JWT_ALGORITHMS: Setting =
    Setting::var("JWT_ALGORITHMS").with(Fallback::Derived("what the keys support"));
/// Required `iss`. Default: unset, `iss` not checked.
pub const JWT_ISSUER: Setting = Setting::var("JWT_ISSUER");
/// Comma list; `aud` must contain one. Default: unset, `aud` not checked.
pub const JWT_AUDIENCE: Setting = Setting::var("JWT_AUDIENCE");
/// Clock skew allowed on `exp`, `nbf` and `iat`. Default: 60
/// ([`DEFAULT_LEEWAY`](crate::token::rules::DEFAULT_LEEWAY)); at most 3600
/// ([`MAX_LEEWAY`]).
pub const JWT_LEEWAY_SECONDS: Setting = Setting::var("JWT_LEEWAY_SECONDS").default("60");
/// When true, a request without a token gets 401; when false it passes
/// unchecked (a present token is still checked). Default: true.
pub const REQUIRE_TOKEN: Setting = Setting::var("REQUIRE_TOKEN").default("true");
/// Comma list of path prefixes that pass without any token check. A prefix
/// matches whole segments: `/public` covers `/public` and `/public/x`, not
/// `/publicity`. Default: none.
pub const PUBLIC_PATHS: Setting = Setting::var("PUBLIC_PATHS");
/// How long a revocation lasts when the token's `exp` is unknown (a bare
/// token ID). Default: 86400 ([`DEFAULT_MAX_TOKEN_LIFETIME`]); must be
/// positive.
pub const MAX_TOKEN_LIFETIME_SECONDS: Setting =
    Setting::var("MAX_TOKEN_LIFETIME_SECONDS").default("86400");
/// KV `cacheTtl` for revocation reads; the bound on how stale another
/// location's view can be. Default: 60 ([`DEFAULT_CACHE_TTL`]); KV's minimum
/// is 30.
pub const REVOCATION_CACHE_TTL_SECONDS: Setting =
    Setting::var("REVOCATION_CACHE_TTL_SECONDS").default("60");
/// An isolate skips the KV read for a token whose last check, at most this
/// many seconds ago, found nothing. Revocations written through the same
/// isolate still count on its very next request; one written elsewhere is
/// seen up to this much later (on top of KV's propagation). Default: 0,
/// every request is checked; at most [`REVOCATION_CACHE_TTL_SECONDS`].
pub const REVOCATION_RECHECK_SECONDS: Setting =
    Setting::var("REVOCATION_RECHECK_SECONDS").default("0");
/// How old an isolate's copy of the revocation journal may be when it
/// decides a request. Default: 2; 1 to 60.
pub const REVOCATION_SYNC_SECONDS: Setting = Setting::var("REVOCATION_SYNC_SECONDS").default("2");
/// The longest time Workers KV takes to show a write at every location, its
/// read cache ([`REVOCATION_CACHE_TTL_SECONDS`]) included: the revocation
/// journal keeps an entry this long after KV took it, and an isolate reuses
/// a KV answer at most this long. Default: `REVOCATION_CACHE_TTL_SECONDS` +
/// 60 (KV's documented propagation), so 120; at least
/// `REVOCATION_CACHE_TTL_SECONDS`, at most 86400.
pub const KV_PROPAGATION_SECONDS: Setting = Setting::var("KV_PROPAGATION_SECONDS")
    .with(Fallback::Derived("`REVOCATION_CACHE_TTL_SECONDS` + 60"));
/// How far past the edge's clock a sign-out of a subject or session made at
/// the edge reaches (`scope=global`, `others`, `session`, the admin's
/// sign-out of a user), so that a token from an identity provider whose
/// clock runs ahead (its `iat` up to the leeway in the future) cannot
/// outlive a sign-out made after it was issued. A new sign-in works once the
/// provider's clock passes the cutoff: up to this long after the sign-out.
/// Default: [`JWT_LEEWAY_SECONDS`]; at most 3600.
pub const CUTOFF_SKEW_SECONDS: Setting =
    Setting::var("CUTOFF_SKEW_SECONDS").with(Fallback::SameAs(&JWT_LEEWAY_SECONDS));
/// The claim holding the caller's roles (a string of space- or
/// comma-separated roles, or an array). Default: `roles`.
pub const ROLES_CLAIM: Setting = Setting::var("ROLES_CLAIM").default("roles");
/// Comma list; any of them may revoke other tokens.
/// Default: `identity:admin,identity:user-admin`.
pub const ADMIN_ROLES: Setting =
    Setting::var("ADMIN_ROLES").default("identity:admin,identity:user-admin");
/// Comma list of API keys accepted by the service invalidation route.
/// Default: none, so that route answers 401.
pub const INVALIDATE_API_KEYS: Setting = Setting::secret("INVALIDATE_API_KEYS");
/// Comma list of `client_id:client_secret` for HTTP Basic authentication on
/// `/oauth/revoke` and `/oauth/introspect`. Default: none, so those routes
/// answer 401 `invalid_client`.
pub const OAUTH_CLIENTS: Setting = Setting::secret("OAUTH_CLIENTS");
/// Comma list of `claim:Header-Name`; verified claims are sent to the origin
/// in those headers, and any copy of those headers from the client is
/// removed first. Default: none.
pub const FORWARD_CLAIMS: Setting = Setting::var("FORWARD_CLAIMS");
/// When `false` (monitor mode), a request that would be rejected is logged
/// and forwarded anyway. Revocation routes still answer as usual.
/// Default: true.
pub const ENFORCE: Setting = Setting::var("ENFORCE").default("true");
/// How long to wait for the origin's response headers before answering 504.
/// Default: 100 (Cloudflare's own origin timeout); 1 to 600.
pub const ORIGIN_TIMEOUT_SECONDS: Setting = Setting::var("ORIGIN_TIMEOUT_SECONDS").default("100");
/// Verified tokens kept per isolate (0 disables). Default: 10000.
pub const TOKEN_CACHE_ENTRIES: Setting = Setting::var("TOKEN_CACHE_ENTRIES").default("10000");
/// Approximate memory bound of that cache. Default: 16777216 (16 MiB).
pub const TOKEN_CACHE_BYTES: Setting = Setting::var("TOKEN_CACHE_BYTES").default("16777216");
/// The `realm` of `WWW-Authenticate`. Default: [`DEFAULT_REALM`].
pub const AUTH_REALM: Setting = Setting::var("AUTH_REALM").default(DEFAULT_REALM);
/// Comma list of the client IDs this worker is registered as at the identity
/// provider. When set, the worker answers `POST /oidc/backchannel-logout`
/// (OpenID Connect Back-Channel Logout 1.0); logout tokens are checked with
/// the access-token keys, [`JWT_ISSUER`] and [`Rules`], and their `aud`
/// must contain one of these. Default: unset, and that path is the origin's
/// like any other.
pub const BACKCHANNEL_LOGOUT_AUDIENCE: Setting = Setting::var("BACKCHANNEL_LOGOUT_AUDIENCE");
/// The Shared Signals transmitter's issuer (a SET's `iss`). When set, the
/// worker answers `POST /ssf/events`. Default: unset, and that path is the
/// origin's.
pub const SSF_ISSUER: Setting = Setting::var("SSF_ISSUER");
/// Comma list; a SET's `aud` must contain one. Required with [`SSF_ISSUER`].
pub const SSF_AUDIENCE: Setting = Setting::var("SSF_AUDIENCE");
/// The transmitter's public keys as JSON text (shared secrets are not
/// accepted). Default: none.
pub const SSF_JWKS: Setting = Setting::var("SSF_JWKS");
/// The transmitter's key set, fetched and cached like [`JWT_JWKS_URL`].
/// Default: unset. It or [`SSF_JWKS`] is required with [`SSF_ISSUER`].
pub const SSF_JWKS_URL: Setting = Setting::var("SSF_JWKS_URL");
/// The transmitter's poll endpoint (RFC 8936): when set, each scheduled run
/// (a cron trigger in `wrangler.toml`) fetches SETs there, acts on them as
/// pushed ones, and acknowledges each once its effect is stored. Needs
/// [`SSF_ISSUER`]. Default: unset, no polling.
pub const SSF_POLL_URL: Setting = Setting::var("SSF_POLL_URL");
/// The bearer token the poll requests carry. Required with [`SSF_POLL_URL`].
pub const SSF_POLL_TOKEN: Setting = Setting::secret("SSF_POLL_TOKEN");
/// `medium` or `high`: a CAEP `risk-level-change` that raises a user's or a
/// session's risk to this level or above ends its tokens, like a
/// `credential-change`. Default: unset, and those events are ignored.
pub const SSF_RISK_LEVEL_REVOKE: Setting = Setting::var("SSF_RISK_LEVEL_REVOKE");
/// The access-token claim that carries the user's email address. When set,
/// a Global Token Revocation call may name a user by email, and every
/// token's check also reads the cutoff of its address (in the same store
/// read). Default: unset, and the `email` format is refused.
pub const SUBJECT_EMAIL_CLAIM: Setting = Setting::var("SUBJECT_EMAIL_CLAIM");
/// The path of the Global Token Revocation endpoint, for example
/// `/global-token-revocation`. When set, the worker answers `POST` there.
/// Default: unset, and no path is taken from the origin.
pub const GTR_PATH: Setting = Setting::var("GTR_PATH");
/// The `iss` of Global Token Revocation assertions (Okta: the org or custom
/// domain URL). When set, signed assertions are accepted besides admin
/// access tokens. Default: unset, admin access tokens only.
pub const GTR_ISSUER: Setting = Setting::var("GTR_ISSUER");
/// Comma list; an assertion's `aud` must contain one (Okta: the endpoint's
/// full URL, without query). Required with [`GTR_ISSUER`].
pub const GTR_AUDIENCE: Setting = Setting::var("GTR_AUDIENCE");
/// The assertion signer's public keys as JSON text. Default: none.
pub const GTR_JWKS: Setting = Setting::var("GTR_JWKS");
/// The assertion signer's key set, fetched and cached like
/// [`JWT_JWKS_URL`]. Default: unset.
pub const GTR_JWKS_URL: Setting = Setting::var("GTR_JWKS_URL");
/// When true, the public access-token keys ([`JWT_JWKS`], [`JWT_JWKS_URL`])
/// verify assertions too: Okta signs them with the app's ID-token key.
/// Never the HMAC [`JWT_SECRET`]. Default: false. With [`GTR_ISSUER`], it,
/// [`GTR_JWKS`] or [`GTR_JWKS_URL`] is required.
pub const GTR_USE_ACCESS_TOKEN_KEYS: Setting =
    Setting::var("GTR_USE_ACCESS_TOKEN_KEYS").default("false");
/// Comma list of the issuers whose `iss_sub` subjects are this API's users.
/// Default: [`JWT_ISSUER`]; with neither, `iss_sub` is refused.
pub const GTR_SUBJECT_ISSUERS: Setting =
    Setting::var("GTR_SUBJECT_ISSUERS").with(Fallback::SameAs(&JWT_ISSUER));
/// The origin's own Global Token Revocation endpoint (its authorization
/// server), which revokes refresh tokens: each accepted call is forwarded
/// there, same body, after the edge cutoff is stored. Default: unset, the
/// edge revokes access tokens only.
pub const GTR_FORWARD_URL: Setting = Setting::var("GTR_FORWARD_URL");
/// The bearer token the forward carries. Required with [`GTR_FORWARD_URL`].
pub const GTR_FORWARD_TOKEN: Setting = Setting::secret("GTR_FORWARD_TOKEN");
/// The Workers KV namespace binding that holds revocations and cutoffs.
pub const KV_BINDING: Setting =
    Setting::new("REVOKED_TOKENS", Kind::KvBinding).with(Fallback::Required);
/// The Durable Object namespace of the revocation journal (class
/// `RevocationJournal`). Unbound, revocations live in KV alone.
pub const JOURNAL_BINDING: Setting =
    Setting::new("REVOCATION_JOURNAL", Kind::DurableObjectBinding).with(Fallback::Unset);

/// Every setting and binding, in the order of the README's configuration
/// table (which a test checks against this list).
pub const ALL: &[&Setting] = &[
    &ORIGIN_URL,
    &JWT_SECRET,
    &JWT_JWKS,
    &JWT_JWKS_URL,
    &JWKS_CACHE_SECONDS,
    &JWT_ALGORITHMS,
    &JWT_ISSUER,
    &JWT_AUDIENCE,
    &JWT_LEEWAY_SECONDS,
    &REQUIRE_TOKEN,
    &PUBLIC_PATHS,
    &MAX_TOKEN_LIFETIME_SECONDS,
    &REVOCATION_CACHE_TTL_SECONDS,
    &REVOCATION_RECHECK_SECONDS,
    &REVOCATION_SYNC_SECONDS,
    &KV_PROPAGATION_SECONDS,
    &CUTOFF_SKEW_SECONDS,
    &ROLES_CLAIM,
    &ADMIN_ROLES,
    &INVALIDATE_API_KEYS,
    &OAUTH_CLIENTS,
    &FORWARD_CLAIMS,
    &ENFORCE,
    &ORIGIN_TIMEOUT_SECONDS,
    &TOKEN_CACHE_ENTRIES,
    &TOKEN_CACHE_BYTES,
    &AUTH_REALM,
    &BACKCHANNEL_LOGOUT_AUDIENCE,
    &SSF_ISSUER,
    &SSF_AUDIENCE,
    &SSF_JWKS,
    &SSF_JWKS_URL,
    &SSF_POLL_URL,
    &SSF_POLL_TOKEN,
    &SSF_RISK_LEVEL_REVOKE,
    &SUBJECT_EMAIL_CLAIM,
    &GTR_PATH,
    &GTR_ISSUER,
    &GTR_AUDIENCE,
    &GTR_JWKS,
    &GTR_JWKS_URL,
    &GTR_USE_ACCESS_TOKEN_KEYS,
    &GTR_SUBJECT_ISSUERS,
    &GTR_FORWARD_URL,
    &GTR_FORWARD_TOKEN,
    &KV_BINDING,
    &JOURNAL_BINDING,
];

// Typed defaults for code without a `Config`; a test checks each is what its
// setting declares.

/// [`MAX_TOKEN_LIFETIME_SECONDS`]'s default, for code without a [`Config`].
pub const DEFAULT_MAX_TOKEN_LIFETIME: u64 = 86_400;
/// [`REVOCATION_CACHE_TTL_SECONDS`]'s default, for code without a [`Config`].
pub const DEFAULT_CACHE_TTL: u64 = 60;
/// [`AUTH_REALM`]'s default, for replies without a [`Config`].
pub const DEFAULT_REALM: &str = "api";

impl Config {
    /// Reads every setting through `lookup` (name → value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Settings { lookup: &lookup };

        let origin_url = env.base_url(&ORIGIN_URL)?;
        let keys = KeySet::from_config(
            env.verbatim(&JWT_SECRET).as_deref(),
            env.verbatim(&JWT_JWKS).as_deref(),
        )?;
        let jwks_url = env.url(&JWT_JWKS_URL)?;
        if keys.is_empty() && jwks_url.is_none() {
            return Err(ConfigError::NoKey);
        }
        let jwks_cache_seconds = env.seconds(&JWKS_CACHE_SECONDS)?;
        let supported = supported_algorithms(&keys, jwks_url.is_some());
        let algorithms = match env.optional(&JWT_ALGORITHMS) {
            None => supported,
            Some(list) => parse_algorithms(&list, &supported)?,
        };
        let leeway = env.seconds(&JWT_LEEWAY_SECONDS)?;
        ensure(leeway <= MAX_LEEWAY, &JWT_LEEWAY_SECONDS, &over(MAX_LEEWAY))?;
        let max_token_lifetime = env.seconds(&MAX_TOKEN_LIFETIME_SECONDS)?;
        ensure(
            max_token_lifetime > 0,
            &MAX_TOKEN_LIFETIME_SECONDS,
            "must be positive",
        )?;
        let revocation_cache_ttl = env.seconds(&REVOCATION_CACHE_TTL_SECONDS)?;
        ensure(
            revocation_cache_ttl >= 30,
            &REVOCATION_CACHE_TTL_SECONDS,
            "below KV's minimum of 30",
        )?;
        let revocation_recheck = env.seconds(&REVOCATION_RECHECK_SECONDS)?;
        ensure(
            revocation_recheck <= revocation_cache_ttl,
            &REVOCATION_RECHECK_SECONDS,
            &over(REVOCATION_CACHE_TTL_SECONDS.name),
        )?;
        let revocation_sync = env.seconds(&REVOCATION_SYNC_SECONDS)?;
        ensure(
            (1..=60).contains(&revocation_sync),
            &REVOCATION_SYNC_SECONDS,
            "not between 1 and 60",
        )?;
        let kv_propagation = match env.optional(&KV_PROPAGATION_SECONDS) {
            Some(_) => env.seconds(&KV_PROPAGATION_SECONDS)?,
            None => revocation_cache_ttl + 60,
        };
        ensure(
            kv_propagation >= revocation_cache_ttl,
            &KV_PROPAGATION_SECONDS,
            &format!("below {}", REVOCATION_CACHE_TTL_SECONDS.name),
        )?;
        ensure(
            kv_propagation <= 86_400,
            &KV_PROPAGATION_SECONDS,
            &over(86_400),
        )?;
        // Unset, this reads JWT_LEEWAY_SECONDS, checked above.
        let cutoff_skew = env.seconds(&CUTOFF_SKEW_SECONDS)?;
        ensure(
            cutoff_skew <= MAX_LEEWAY,
            &CUTOFF_SKEW_SECONDS,
            &over(MAX_LEEWAY),
        )?;
        let require_token = env.bool(&REQUIRE_TOKEN)?;
        let enforce = env.bool(&ENFORCE)?;
        let oauth_clients = env.list_of(&OAUTH_CLIENTS, parse_oauth_client)?;
        let forward_claims = env.list_of(&FORWARD_CLAIMS, parse_forward_claim)?;
        let public_paths = env.list(&PUBLIC_PATHS);
        if let Some(bad) = public_paths.iter().find(|p| !p.starts_with('/')) {
            return Err(PUBLIC_PATHS.invalid(format!("{bad:?} does not start with /")));
        }
        let origin_timeout = env.seconds(&ORIGIN_TIMEOUT_SECONDS)?;
        ensure(
            (1..=600).contains(&origin_timeout),
            &ORIGIN_TIMEOUT_SECONDS,
            "not between 1 and 600",
        )?;
        let token_cache_entries = env.count(&TOKEN_CACHE_ENTRIES)?;
        let token_cache_bytes = env.count(&TOKEN_CACHE_BYTES)?;
        let ssf = env
            .optional(&SSF_ISSUER)
            .map(|issuer| parse_ssf(&env, issuer, leeway))
            .transpose()?;
        ensure(
            ssf.is_some() || env.optional(&SSF_POLL_URL).is_none(),
            &SSF_POLL_URL,
            &format!("needs {}", SSF_ISSUER.name),
        )?;
        let gtr = env
            .optional(&GTR_PATH)
            .map(|path| parse_gtr(&env, path, leeway, &keys, jwks_url.is_some()))
            .transpose()?;
        let roles_claim = env.text(&ROLES_CLAIM)?;
        let realm = env.text(&AUTH_REALM)?;
        ensure(
            quotable(&realm),
            &AUTH_REALM,
            "has characters a header cannot quote",
        )?;

        Ok(Config {
            origin_url,
            keys,
            jwks_url,
            jwks_cache_seconds,
            rules: Rules {
                algorithms,
                issuer: env.optional(&JWT_ISSUER),
                audiences: env.list(&JWT_AUDIENCE),
                leeway,
            },
            require_token,
            public_paths,
            max_token_lifetime,
            revocation_cache_ttl,
            revocation_recheck,
            revocation_sync,
            kv_propagation,
            cutoff_skew,
            roles_claim,
            admin_roles: env.list(&ADMIN_ROLES),
            invalidate_api_keys: env
                .list(&INVALIDATE_API_KEYS)
                .iter()
                .map(|key| Secret::from(key.as_str()))
                .collect(),
            realm,
            origin_timeout,
            token_cache_entries,
            token_cache_bytes,
            oauth_clients,
            forward_claims,
            enforce,
            backchannel_logout_audience: env.list(&BACKCHANNEL_LOGOUT_AUDIENCE),
            ssf,
            email_claim: env.optional(&SUBJECT_EMAIL_CLAIM),
            gtr,
        })
    }

    /// False for a receiver route whose settings are unset: its path is then
    /// the origin's like any other.
    pub fn serves(&self, route: &crate::http::routes::Route) -> bool {
        use crate::http::routes::Route;
        match route {
            Route::BackchannelLogout => !self.backchannel_logout_audience.is_empty(),
            Route::SsfEvents => self.ssf.is_some(),
            Route::GlobalTokenRevocation => self.gtr.is_some(),
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

/// Typed reads of settings through a lookup function. A value that is empty
/// or only whitespace counts as unset, and an unset setting reads as its
/// [`Fallback`]: a default's text goes through the same parser as a value
/// that is set.
struct Settings<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Settings<'_> {
    /// The value as set, untrimmed, or else the default's text.
    fn verbatim(&self, setting: &Setting) -> Option<String> {
        let set = (self.lookup)(setting.name).filter(|v| !v.trim().is_empty());
        set.or_else(|| match setting.default {
            Fallback::Value(text) => Some(text.to_owned()),
            Fallback::SameAs(other) => self.verbatim(other),
            Fallback::Unset | Fallback::Required | Fallback::Derived(_) => None,
        })
    }

    /// The value, trimmed, if there is one.
    fn optional(&self, setting: &Setting) -> Option<String> {
        self.verbatim(setting).map(|v| v.trim().to_owned())
    }

    /// The value, trimmed. A setting with neither value nor default is
    /// required.
    fn text(&self, setting: &Setting) -> Result<String, ConfigError> {
        self.optional(setting)
            .ok_or_else(|| setting.invalid("required"))
    }

    /// The value as `parse` reads it; `expected` says what it must be.
    fn parse<T>(
        &self,
        setting: &Setting,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        parse(&self.text(setting)?).ok_or_else(|| setting.invalid(expected))
    }

    /// A whole number of seconds, at most ten years.
    fn seconds(&self, setting: &Setting) -> Result<u64, ConfigError> {
        self.parse(setting, "not a whole number of seconds", |v| {
            v.parse().ok().filter(|n| *n <= 10 * 365 * 86_400)
        })
    }

    /// A whole number, at most 2^30.
    fn count(&self, setting: &Setting) -> Result<usize, ConfigError> {
        self.parse(setting, "not a whole number", |v| {
            v.parse().ok().filter(|n| *n <= 1 << 30)
        })
    }

    /// `true` or `false`, in any case.
    fn bool(&self, setting: &Setting) -> Result<bool, ConfigError> {
        self.parse(setting, "not true or false", |v| {
            match v.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            }
        })
    }

    /// A comma list: items trimmed, empty ones dropped.
    fn list(&self, setting: &Setting) -> Vec<String> {
        self.verbatim(setting)
            .map(|text| split_list(&text))
            .unwrap_or_default()
    }

    /// A comma list, each item read by `parse`.
    fn list_of<T>(
        &self,
        setting: &Setting,
        parse: impl Fn(&str) -> Result<T, ConfigError>,
    ) -> Result<Vec<T>, ConfigError> {
        self.list(setting).iter().map(|item| parse(item)).collect()
    }

    /// An absolute http(s) URL without fragment, to fetch.
    fn url(&self, setting: &Setting) -> Result<Option<String>, ConfigError> {
        self.verbatim(setting)
            .map(|url| parse_url(&url, setting, true))
            .transpose()
    }

    /// An absolute http(s) URL without query or fragment, to append paths
    /// to: its trailing `/` is dropped.
    fn base_url(&self, setting: &Setting) -> Result<Option<String>, ConfigError> {
        self.verbatim(setting)
            .map(|url| parse_url(&url, setting, false))
            .transpose()
    }
}

/// True when `text` can go between the quotes of a header parameter as it
/// is: printable ASCII or spaces, without `"` or `\`.
fn quotable(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' ')
}

/// `Ok` when `ok`, else `setting` is invalid for `reason`.
fn ensure(ok: bool, setting: &Setting, reason: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(setting.invalid(reason))
    }
}

/// The reason of a value over `limit`.
fn over(limit: impl std::fmt::Display) -> String {
    format!("over {limit}")
}

/// The receiver that [`SSF_ISSUER`] turns on.
fn parse_ssf(env: &Settings, issuer: String, leeway: u64) -> Result<SsfConfig, ConfigError> {
    let audiences = env.list(&SSF_AUDIENCE);
    ensure(
        !audiences.is_empty(),
        &SSF_AUDIENCE,
        &format!("required when {} is set", SSF_ISSUER.name),
    )?;
    let keys = match env.verbatim(&SSF_JWKS) {
        Some(text) => KeySet::public_only(&text, SSF_JWKS.name)?,
        None => KeySet::default(),
    };
    let jwks_url = env.url(&SSF_JWKS_URL)?;
    ensure(
        !keys.is_empty() || jwks_url.is_some(),
        &SSF_JWKS,
        &format!(
            "{} or {} is required when {} is set",
            SSF_JWKS.name, SSF_JWKS_URL.name, SSF_ISSUER.name
        ),
    )?;
    use crate::idp::RiskLevel;
    let revoke_from_risk = env
        .optional(&SSF_RISK_LEVEL_REVOKE)
        .map(|level| match RiskLevel::parse(&level) {
            Some(level @ (RiskLevel::Medium | RiskLevel::High)) => Ok(level),
            _ => Err(SSF_RISK_LEVEL_REVOKE.invalid("not medium or high")),
        })
        .transpose()?;
    let poll = match env.url(&SSF_POLL_URL)? {
        Some(url) => {
            let token = env.verbatim(&SSF_POLL_TOKEN).ok_or_else(|| {
                SSF_POLL_TOKEN.invalid(format!("required when {} is set", SSF_POLL_URL.name))
            })?;
            Some(SsfPoll {
                url,
                token: Secret::from(token.trim()),
            })
        }
        None => None,
    };
    Ok(SsfConfig {
        rules: Rules {
            algorithms: supported_algorithms(&keys, jwks_url.is_some()),
            issuer: Some(issuer),
            audiences,
            leeway,
        },
        keys,
        jwks_url,
        poll,
        revoke_from_risk,
    })
}

/// The endpoint that [`GTR_PATH`] turns on. `access_keys` and `fetched`
/// are the access-token keys, which [`GTR_USE_ACCESS_TOKEN_KEYS`] lends.
fn parse_gtr(
    env: &Settings,
    path: String,
    leeway: u64,
    access_keys: &KeySet,
    fetched: bool,
) -> Result<GtrConfig, ConfigError> {
    ensure(
        path.starts_with('/') && !path.contains(['?', '#']),
        &GTR_PATH,
        "not a path starting with / without query or fragment",
    )?;
    ensure(
        crate::http::routes::is_free_for_post(&path),
        &GTR_PATH,
        "is already one of the worker's routes",
    )?;
    let assertions = env
        .optional(&GTR_ISSUER)
        .map(|issuer| parse_assertions(env, issuer, leeway, access_keys, fetched))
        .transpose()?;
    let forward = match env.url(&GTR_FORWARD_URL)? {
        Some(url) => {
            let token = env.verbatim(&GTR_FORWARD_TOKEN).ok_or_else(|| {
                GTR_FORWARD_TOKEN.invalid(format!("required when {} is set", GTR_FORWARD_URL.name))
            })?;
            Some(GtrForward {
                url,
                token: Secret::from(token.trim()),
            })
        }
        None => None,
    };
    Ok(GtrConfig {
        path,
        assertions,
        subject_issuers: env.list(&GTR_SUBJECT_ISSUERS),
        forward,
    })
}

/// The assertion rules that [`GTR_ISSUER`] turns on.
fn parse_assertions(
    env: &Settings,
    issuer: String,
    leeway: u64,
    access_keys: &KeySet,
    fetched: bool,
) -> Result<AssertionConfig, ConfigError> {
    let required = format!("required when {} is set", GTR_ISSUER.name);
    let audiences = env.list(&GTR_AUDIENCE);
    ensure(!audiences.is_empty(), &GTR_AUDIENCE, &required)?;
    let keys = match env.verbatim(&GTR_JWKS) {
        Some(text) => KeySet::public_only(&text, GTR_JWKS.name)?,
        None => KeySet::default(),
    };
    let jwks_url = env.url(&GTR_JWKS_URL)?;
    let access_token_keys = env.bool(&GTR_USE_ACCESS_TOKEN_KEYS)?;
    let lent = access_token_keys && (!access_keys.public_keys().is_empty() || fetched);
    ensure(
        !keys.is_empty() || jwks_url.is_some() || lent,
        &GTR_JWKS,
        &format!(
            "{}, {} or public access-token keys with {} are required when {} is set",
            GTR_JWKS.name, GTR_JWKS_URL.name, GTR_USE_ACCESS_TOKEN_KEYS.name, GTR_ISSUER.name
        ),
    )?;
    let mut algorithms = supported_algorithms(&keys, jwks_url.is_some());
    if access_token_keys {
        algorithms.extend(supported_algorithms(&access_keys.public_keys(), fetched));
        algorithms.sort();
        algorithms.dedup();
    }
    Ok(AssertionConfig {
        rules: Rules {
            algorithms,
            issuer: Some(issuer),
            audiences,
            leeway,
        },
        keys,
        jwks_url,
        access_token_keys,
    })
}

/// What `keys` support, plus every public-key algorithm when a key set is
/// also fetched (what it will hold is not known yet).
fn supported_algorithms(keys: &KeySet, fetched: bool) -> Vec<Alg> {
    let mut algorithms = keys.supported_algs();
    if fetched {
        algorithms.extend(
            Alg::ALL
                .into_iter()
                .filter(|alg| alg.key_kind() != KeyKind::Secret),
        );
        algorithms.sort();
        algorithms.dedup();
    }
    algorithms
}

/// `client_id:client_secret`; the secret may contain `:` itself.
fn parse_oauth_client(entry: &str) -> Result<(String, Secret), ConfigError> {
    match entry.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok((id.to_owned(), Secret::from(secret)))
        }
        _ => Err(OAUTH_CLIENTS.invalid("an entry is not id:secret")),
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
    let invalid = |why: &str| FORWARD_CLAIMS.invalid(why);
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
fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// [`JWT_ALGORITHMS`]: known names, each with a configured key.
fn parse_algorithms(text: &str, supported: &[Alg]) -> Result<Vec<Alg>, ConfigError> {
    let mut algorithms = Vec::new();
    for name in split_list(text) {
        let alg = Alg::from_name(&name)
            .ok_or_else(|| JWT_ALGORITHMS.invalid(format!("unknown algorithm {name:?}")))?;
        if !supported.contains(&alg) {
            return Err(JWT_ALGORITHMS.invalid(format!("{name} has no configured key")));
        }
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    ensure(!algorithms.is_empty(), &JWT_ALGORITHMS, "empty")?;
    Ok(algorithms)
}

/// An absolute http(s) URL without fragment. An origin also has no query, and
/// its trailing `/` is dropped so that paths join cleanly.
fn parse_url(url: &str, setting: &Setting, query_allowed: bool) -> Result<String, ConfigError> {
    let url = url.trim();
    let invalid = || setting.invalid("not an absolute http(s) URL");
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
        assert_eq!(c.revocation_recheck, 0);
        assert_eq!(c.revocation_sync, 2);
        assert_eq!(c.kv_propagation, 120);
        assert_eq!(c.jwks_cache_seconds, 600);
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
        assert!(c.backchannel_logout_audience.is_empty());
        assert!(c.ssf.is_none());
    }

    /// The typed defaults other modules use are what the settings declare.
    #[test]
    fn typed_defaults_are_the_declared_ones() {
        let c = config(&[("JWT_SECRET", SECRET)]).unwrap();
        assert_eq!(c.rules.leeway, crate::token::rules::DEFAULT_LEEWAY);
        assert_eq!(c.rules.leeway, Rules::new(Vec::new()).leeway);
        assert_eq!(c.max_token_lifetime, DEFAULT_MAX_TOKEN_LIFETIME);
        assert_eq!(c.revocation_cache_ttl, DEFAULT_CACHE_TTL);
        assert_eq!(c.realm, DEFAULT_REALM);
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
            ("REVOCATION_RECHECK_SECONDS", "61"),
            ("REVOCATION_SYNC_SECONDS", "0"),
            ("REVOCATION_SYNC_SECONDS", "61"),
            ("REVOCATION_SYNC_SECONDS", "soon"),
            ("KV_PROPAGATION_SECONDS", "59"),
            ("KV_PROPAGATION_SECONDS", "86401"),
            ("JWKS_CACHE_SECONDS", "1.5"),
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
            ("JWT_JWKS_URL", "https://idp.test/k#f"),
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

    /// An unset setting reads as the setting it defaults to, or as the
    /// default's text parsed like a value; blank counts as unset.
    #[test]
    fn unset_and_blank_read_as_the_default() {
        let follows = config(&[
            ("JWT_SECRET", SECRET),
            ("JWT_LEEWAY_SECONDS", " 7 "),
            ("CUTOFF_SKEW_SECONDS", " \t"),
            ("ROLES_CLAIM", ""),
            ("REQUIRE_TOKEN", "  "),
        ])
        .unwrap();
        assert_eq!((follows.rules.leeway, follows.cutoff_skew), (7, 7));
        assert_eq!(follows.roles_claim, "roles");
        assert!(follows.require_token);
        let set = config(&[
            ("JWT_SECRET", SECRET),
            ("ROLES_CLAIM", " groups "),
            ("ADMIN_ROLES", ","),
            ("TOKEN_CACHE_BYTES", " 0"),
        ])
        .unwrap();
        assert_eq!(set.roles_claim, "groups");
        assert!(set.admin_roles.is_empty(), "set, to no role");
        assert_eq!(set.token_cache_bytes, 0);
    }

    /// KV answers are reused for at most the propagation time, so it must
    /// cover KV's own read cache.
    #[test]
    fn kv_propagation_covers_the_read_cache() {
        let slow_cache = [
            ("JWT_SECRET", SECRET),
            ("REVOCATION_CACHE_TTL_SECONDS", "300"),
        ];
        assert_eq!(
            config(&slow_cache).unwrap().kv_propagation,
            360,
            "the TTL + 60"
        );
        let short = [
            slow_cache[0],
            slow_cache[1],
            ("KV_PROPAGATION_SECONDS", "299"),
        ];
        let err = config(&short).unwrap_err();
        assert_eq!(err.setting(), "KV_PROPAGATION_SECONDS");
        assert_eq!(
            err.to_string(),
            "KV_PROPAGATION_SECONDS: below REVOCATION_CACHE_TTL_SECONDS"
        );
        assert_eq!(
            config(&[("JWT_SECRET", SECRET)]).unwrap().kv_propagation,
            120
        );
        let covered = [
            slow_cache[0],
            slow_cache[1],
            ("KV_PROPAGATION_SECONDS", "300"),
        ];
        assert_eq!(config(&covered).unwrap().kv_propagation, 300);
        let sync = config(&[("JWT_SECRET", SECRET), ("REVOCATION_SYNC_SECONDS", "60")]);
        assert_eq!(sync.unwrap().revocation_sync, 60);
    }

    /// The README's configuration table lists [`ALL`], in order, with each
    /// one's kind and default.
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
        let documented: Vec<[String; 3]> = table
            .lines()
            .filter(|line| line.starts_with("| `"))
            .map(|line| {
                let cells: Vec<&str> = line.split(" | ").collect();
                let name = cells[0].trim_start_matches("| ").trim_matches('`');
                [name, cells[1], cells[2]].map(str::to_owned)
            })
            .collect();
        let code: Vec<[String; 3]> = ALL
            .iter()
            .map(|setting| {
                let kind = match setting.kind {
                    Kind::Var => "var",
                    Kind::Secret => "secret",
                    Kind::SecretOrVar => "secret or var",
                    Kind::KvBinding => "KV binding",
                    Kind::DurableObjectBinding => "Durable Object binding",
                };
                let default = match setting.default {
                    Fallback::Unset => "unset".to_owned(),
                    Fallback::Required => "required".to_owned(),
                    Fallback::Value(text) => format!("`{text}`"),
                    Fallback::SameAs(other) => format!("as `{}`", other.name),
                    Fallback::Derived(how) => how.to_owned(),
                };
                [setting.name.to_owned(), kind.to_owned(), default]
            })
            .collect();
        assert_eq!(documented, code);
    }

    /// Outside these tests, each name is written once: in its [`Setting`],
    /// which is in [`ALL`].
    #[test]
    fn each_name_is_written_once() {
        let source = include_str!("config.rs");
        let code = source.split("\n#[cfg(test)]\n").next().unwrap();
        assert_eq!(code.matches(": Setting =").count(), ALL.len());
        for setting in ALL {
            let quoted = format!("\"{}\"", setting.name);
            assert_eq!(code.matches(&quoted).count(), 1, "{quoted}");
        }
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

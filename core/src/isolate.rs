//! What one isolate keeps between requests, and the one call the worker
//! makes per request. Settings are fixed for an isolate's life, so they are
//! parsed once; remembered writes, fetched key sets and verified tokens are
//! kept beside them.

use crate::config::{Config, DEFAULT_CACHE_TTL, DEFAULT_MAX_TOKEN_LIFETIME};
use crate::error::ConfigError;
use crate::handlers::Services;
use crate::http::request::RequestHead;
use crate::http::routes::{Route, RouteError};
use crate::keys::RemoteKeys;
use crate::revocation::{Follower, JournalLink, Kv, Lifetimes, RecentRevocations, Revocations};
use crate::token::cache::TokenCache;
use crate::token::rules::DEFAULT_LEEWAY;
use serde_json::{json, Value};

/// Writes of each kind (token, cutoff) an isolate remembers for
/// read-your-writes. Each lasts at most the store's cache TTL.
pub const RECENT_CAPACITY: usize = 10_000;

/// Most bytes an isolate's copy of the revocation journal holds.
pub const MIRROR_BYTES: usize = 4 << 20;
/// Most bytes of KV answers an isolate keeps for reuse.
pub const ANSWER_BYTES: usize = 4 << 20;

/// Per-isolate state.
pub struct Isolate {
    /// The settings, or why they are unusable (every request then gets 500).
    pub config: Result<Config, ConfigError>,
    /// This isolate's own recent writes.
    pub recent: RecentRevocations,
    /// The cached `JWT_JWKS_URL` key set.
    pub remote_keys: RemoteKeys,
    /// The cached `SSF_JWKS_URL` key set.
    pub ssf_remote_keys: RemoteKeys,
    /// The cached `GTR_JWKS_URL` key set.
    pub gtr_remote_keys: RemoteKeys,
    /// Verified tokens seen before.
    pub cache: TokenCache,
    /// This isolate's copy of the revocation journal, when one is bound.
    pub follower: Follower,
}

impl Isolate {
    /// Reads every setting through `lookup` and sizes the caches from them.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Isolate {
        Isolate::new(Config::from_lookup(lookup))
    }

    /// An isolate with these settings, its caches sized from them.
    pub fn new(config: Result<Config, ConfigError>) -> Isolate {
        let (ttl, recheck, entries, bytes, sync, propagation) = match &config {
            Ok(c) => (
                c.revocation_cache_ttl,
                c.revocation_recheck,
                c.token_cache_entries,
                c.token_cache_bytes,
                c.revocation_sync,
                c.kv_propagation,
            ),
            Err(_) => (DEFAULT_CACHE_TTL, 0, 0, 0, 1, u64::MAX),
        };
        Isolate {
            config,
            recent: RecentRevocations::new(RECENT_CAPACITY, ttl).with_recheck(recheck),
            remote_keys: RemoteKeys::default(),
            ssf_remote_keys: RemoteKeys::default(),
            gtr_remote_keys: RemoteKeys::default(),
            cache: TokenCache::new(entries, bytes),
            follower: Follower::new(sync, propagation, MIRROR_BYTES, ANSWER_BYTES),
        }
    }

    /// Log lines about the isolate itself gathered since the last call (the
    /// journal out of reach, and back).
    pub fn notes(&self) -> Vec<Value> {
        let notes = self.follower.take_notes();
        notes.iter().map(|note| note.log_line()).collect()
    }

    /// The log line worth writing once at start-up, if any.
    pub fn startup_log(&self) -> Option<Value> {
        match &self.config {
            Ok(config) if config.keys.skipped > 0 => Some(json!({
                "event": "config",
                "skipped_jwks_keys": config.keys.skipped,
            })),
            Ok(_) => None,
            Err(e) => Some(json!({
                "event": "config_error",
                "setting": e.setting(),
                "error": e.to_string(),
            })),
        }
    }

    /// The request's route: [`crate::http::routes::classify_configured`]
    /// with this isolate's `GTR_PATH`.
    pub fn classify(&self, head: &RequestHead) -> Result<Route, RouteError> {
        let config = self.config.as_ref().ok();
        let gtr_path = config.and_then(|c| c.gtr.as_ref()).map(|g| g.path.as_str());
        crate::http::routes::classify_configured(head, gtr_path)
    }

    /// How many body bytes the worker reads before deciding `route`, if
    /// any: only for routes this isolate serves itself. A receiver route
    /// that is not configured is the origin's, and its body is forwarded
    /// untouched.
    pub fn body_limit(&self, route: &Result<Route, RouteError>) -> Option<usize> {
        let route = route.as_ref().ok()?;
        let limit = crate::http::routes::body_limit(route)?;
        let config = self.config.as_ref().ok()?;
        config.serves(route).then_some(limit)
    }

    /// True when the core needs every header name of a request: claim
    /// headers are configured, and every client spelling of them is
    /// stripped before the request is forwarded.
    pub fn reads_header_names(&self) -> bool {
        self.config
            .as_ref()
            .is_ok_and(|config| !config.forward_claims.is_empty())
    }

    /// The `cacheTtl` for store reads.
    pub fn store_cache_ttl(&self) -> u64 {
        self.config
            .as_ref()
            .map_or(DEFAULT_CACHE_TTL, |c| c.revocation_cache_ttl)
    }

    /// What [`crate::handlers::decide`] decides a request with, at `now`:
    /// revocations in `kv` as this isolate sees them (the journal's entries
    /// when `journal` is bound, and its own recent writes, over the store),
    /// this isolate's caches, and the runtime's crypto and fetch. The worker
    /// then awaits
    /// `handlers::decide(head, route, body, isolate.config.as_ref(), &services, now)`.
    pub fn services<'a, K: Kv, J: JournalLink, V, F>(
        &'a self,
        kv: K,
        journal: J,
        verifier: &'a V,
        fetcher: &'a F,
        now: u64,
    ) -> Services<'a, K, V, F, J> {
        let lifetimes = match &self.config {
            Ok(config) => Lifetimes {
                leeway: config.rules.leeway,
                max_token_lifetime: config.max_token_lifetime,
            },
            Err(_) => Lifetimes {
                leeway: DEFAULT_LEEWAY,
                max_token_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
            },
        };
        Services {
            store: Revocations::new(kv, &self.recent, now, lifetimes)
                .following(&self.follower, journal),
            verifier,
            fetcher,
            remote_keys: &self.remote_keys,
            ssf_remote_keys: &self.ssf_remote_keys,
            gtr_remote_keys: &self.gtr_remote_keys,
            cache: &self.cache,
        }
    }
}

#[cfg(feature = "bench")]
impl Isolate {
    /// The benchmark's verification loop (the worker's `bench` feature):
    /// verifies the request's token `iterations` times. Without `cached`
    /// every iteration verifies in full; with it, iterations go through the
    /// token cache as requests do. The status to answer: 204 when every
    /// check passed, 401 when one failed, 400 without a token, 500 without a
    /// usable configuration.
    pub async fn verify_repeatedly<V: crate::token::signature::SignatureVerifier>(
        &self,
        head: &crate::http::request::RequestHead,
        iterations: u32,
        cached: bool,
        verifier: &V,
        now: u64,
    ) -> u16 {
        let Ok(config) = &self.config else {
            return 500;
        };
        let Ok(Some(raw)) = crate::token::extract(head) else {
            return 400;
        };
        for _ in 0..iterations {
            if cached && self.cache.get(raw, now).is_some() {
                continue;
            }
            match crate::token::verify(raw, &config.rules, &config.keys, verifier, now).await {
                Ok(token) if cached => {
                    let until = config.rules.rejected_from(token.claims().exp);
                    self.cache.insert(raw, &token, until);
                }
                Ok(_) => {}
                Err(_) => return 401,
            }
        }
        204
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn isolate(extra: &[(&str, &str)]) -> Isolate {
        let mut vars = vec![("JWT_SECRET", "isolate-test-secret-0123456789-abcdef")];
        vars.extend_from_slice(extra);
        Isolate::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn head(method: &str, path: &str) -> Result<Route, RouteError> {
        crate::http::routes::classify(&crate::http::request::RequestHead::new(
            method,
            &format!("https://edge.test{path}"),
            Vec::<(String, String)>::new(),
        ))
    }

    #[test]
    fn only_served_routes_have_their_body_read() {
        let plain = isolate(&[]);
        assert_eq!(
            plain.body_limit(&head("POST", "/oauth/revoke")),
            Some(16 * 1024)
        );
        assert_eq!(plain.body_limit(&head("POST", "/anything")), None);
        // Receivers without settings are the origin's: the body stays unread.
        assert_eq!(
            plain.body_limit(&head("POST", "/oidc/backchannel-logout")),
            None
        );
        assert_eq!(plain.body_limit(&head("POST", "/ssf/events")), None);
        let receiving = isolate(&[
            ("BACKCHANNEL_LOGOUT_AUDIENCE", "edge"),
            ("SSF_ISSUER", "https://ssf.test"),
            ("SSF_AUDIENCE", "edge"),
            ("SSF_JWKS_URL", "https://ssf.test/jwks"),
        ]);
        assert!(receiving.config.is_ok());
        assert!(receiving
            .body_limit(&head("POST", "/oidc/backchannel-logout"))
            .is_some());
        assert!(receiving.body_limit(&head("POST", "/ssf/events")).is_some());
        // No usable configuration: nothing is read (every request gets 500).
        let broken = Isolate::from_lookup(|_| None);
        assert_eq!(broken.body_limit(&head("POST", "/oauth/revoke")), None);
    }
}

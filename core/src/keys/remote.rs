//! Remote key sets (`JWT_JWKS_URL`, `SSF_JWKS_URL`): when to fetch, which
//! answers count, and what an isolate keeps between requests.

use super::{Alg, Key, KeySet};
use crate::error::VerifyError;
use std::cell::RefCell;
use std::rc::Rc;

/// Largest key set accepted from `JWT_JWKS_URL`, in bytes.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// How long a fetch of `JWT_JWKS_URL` may take before it counts as failed.
pub const JWKS_FETCH_TIMEOUT_SECONDS: u64 = 5;

/// A fetched key set's body is used only from a 200 response within
/// [`MAX_JWKS_BYTES`].
pub fn accept_jwks_response(status: u16, body: String) -> Option<String> {
    (status == 200 && body.len() <= MAX_JWKS_BYTES).then_some(body)
}

/// The worker's outgoing requests (the worker uses `fetch`): remote key
/// sets, and the forward of a Global Token Revocation call.
#[allow(async_fn_in_trait)]
pub trait Outbound {
    /// The body of a 200 response from `url` within
    /// [`JWKS_FETCH_TIMEOUT_SECONDS`], body included, or `Err` for anything
    /// else (a body over [`MAX_JWKS_BYTES`] too).
    async fn fetch(&self, url: &str) -> Result<String, ()>;

    /// Sends `post` and returns the response's status and body text (at
    /// most [`Post::read_limit`] bytes and one more), or `Err` when the
    /// response and its body did not come within the timeout. Unless implemented,
    /// nothing is sent and it fails.
    async fn post(&self, post: &Post<'_>) -> Result<(u16, String), ()> {
        let _ = post;
        Err(())
    }
}

/// One outgoing `POST` with a bearer credential.
#[derive(Debug)]
pub struct Post<'a> {
    /// Where.
    pub url: &'a str,
    /// Sent as `Authorization: Bearer`.
    pub bearer: &'a crate::secret::Secret,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: &'a [u8],
    /// How long to wait for the response, its body included, in
    /// milliseconds.
    pub timeout_ms: u64,
    /// Most bytes of the response's body read: a longer body is returned
    /// cut after `read_limit + 1` bytes (the caller sees it is too long),
    /// and the rest is not read. 0: the body is not read at all.
    pub read_limit: usize,
}

/// A fetcher for deployments without `JWT_JWKS_URL` (and tests): always fails.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFetch;

impl Outbound for NoFetch {
    async fn fetch(&self, _url: &str) -> Result<String, ()> {
        Err(())
    }
}

/// Smallest interval between refetches forced by an unknown `kid`.
pub const UNKNOWN_KID_REFETCH_SECONDS: u64 = 30;

#[derive(Default)]
struct RemoteState {
    keys: Option<Rc<KeySet>>,
    fetched_at: u64,
    forced_at: Option<u64>,
}

/// `JWT_JWKS_URL`: fetched on first use and cached for `JWKS_CACHE_SECONDS`.
/// An unknown `kid` triggers one refetch, at most once per 30 s. When a
/// refresh fails, the keys already held stay in use; with nothing held, the
/// lookup fails (and the worker answers 503).
#[derive(Default)]
pub struct RemoteKeys {
    state: RefCell<RemoteState>,
}

impl RemoteKeys {
    async fn refresh<F: Outbound>(&self, fetcher: &F, url: &str, now: u64) -> Option<Rc<KeySet>> {
        let fetched = fetcher
            .fetch(url)
            .await
            .ok()
            .and_then(|text| KeySet::from_remote(&text).ok());
        let mut state = self.state.borrow_mut();
        if let Some(keys) = fetched {
            state.keys = Some(Rc::new(keys));
            state.fetched_at = now;
        }
        state.keys.clone()
    }

    /// Looks up a key in the remote set, fetching as the rules above say.
    pub async fn key<F: Outbound>(
        &self,
        fetcher: &F,
        url: &str,
        max_age: u64,
        alg: Alg,
        kid: Option<&str>,
        now: u64,
    ) -> Result<Option<Rc<Key>>, VerifyError> {
        let (held, fresh) = {
            let state = self.state.borrow();
            let fresh = now.saturating_sub(state.fetched_at) < max_age;
            (state.keys.clone(), fresh)
        };
        let keys = match held {
            Some(keys) if fresh => keys,
            _ => self
                .refresh(fetcher, url, now)
                .await
                .ok_or(VerifyError::Unavailable)?,
        };
        if let Some(key) = keys.select(alg, kid) {
            return Ok(Some(key.clone()));
        }
        let may_force = kid.is_some() && {
            let mut state = self.state.borrow_mut();
            let allowed = state
                .forced_at
                .is_none_or(|at| now.saturating_sub(at) >= UNKNOWN_KID_REFETCH_SECONDS);
            if allowed {
                state.forced_at = Some(now);
            }
            allowed
        };
        if !may_force {
            return Ok(None);
        }
        Ok(self
            .refresh(fetcher, url, now)
            .await
            .and_then(|keys| keys.select(alg, kid).cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use serde_json::Value;
    use std::cell::{Cell, RefCell};

    struct Fake {
        body: RefCell<Result<String, ()>>,
        calls: Cell<u32>,
    }

    impl Outbound for Fake {
        async fn fetch(&self, _url: &str) -> Result<String, ()> {
            self.calls.set(self.calls.get() + 1);
            self.body.borrow().clone()
        }
    }

    fn set_of(kids: &[&str]) -> String {
        let keys: Vec<Value> = kids
            .iter()
            .map(|kid| {
                let coord = crate::primitives::base64url_encode(&[7; 32]);
                serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": coord, "y": coord})
            })
            .collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    fn lookup(
        remote: &RemoteKeys,
        fake: &Fake,
        kid: &str,
        now: u64,
    ) -> Result<Option<Rc<Key>>, VerifyError> {
        block_on(remote.key(
            fake,
            "https://idp.test/jwks",
            600,
            Alg::ES256,
            Some(kid),
            now,
        ))
    }

    /// What a verifier imports for a key lives with the key: however often
    /// the remote set is replaced, only the keys held now keep imports.
    #[test]
    fn imports_go_with_the_key_set_that_held_them() {
        struct Import;
        let fake = Fake {
            body: RefCell::new(Ok(set_of(&["a"]))),
            calls: Cell::new(0),
        };
        let remote = RemoteKeys::default();
        let mut imports = Vec::new();
        for refresh in 0..100u64 {
            let now = 1000 + refresh * 600;
            let key = lookup(&remote, &fake, "a", now).unwrap().unwrap();
            let import = Rc::new(Import);
            key.imports.insert(Alg::ES256, import.clone());
            imports.push(Rc::downgrade(&import));
        }
        assert_eq!(fake.calls.get(), 100, "replaced 100 times");
        let live = imports.iter().filter(|w| w.upgrade().is_some()).count();
        assert_eq!(live, 1, "only the set held now keeps an import");
    }

    #[test]
    fn fetched_once_and_cached() {
        let fake = Fake {
            body: RefCell::new(Ok(set_of(&["a"]))),
            calls: Cell::new(0),
        };
        let remote = RemoteKeys::default();
        assert!(lookup(&remote, &fake, "a", 1000).unwrap().is_some());
        assert!(lookup(&remote, &fake, "a", 1599).unwrap().is_some());
        assert_eq!(fake.calls.get(), 1);
        // Past JWKS_CACHE_SECONDS it is fetched again.
        assert!(lookup(&remote, &fake, "a", 1600).unwrap().is_some());
        assert_eq!(fake.calls.get(), 2);
    }

    #[test]
    fn an_unknown_kid_refetches_at_most_every_30_seconds() {
        let fake = Fake {
            body: RefCell::new(Ok(set_of(&["a"]))),
            calls: Cell::new(0),
        };
        let remote = RemoteKeys::default();
        lookup(&remote, &fake, "a", 1000).unwrap();
        // The IdP rotates in key "b".
        *fake.body.borrow_mut() = Ok(set_of(&["a", "b"]));
        assert!(lookup(&remote, &fake, "b", 1001).unwrap().is_some());
        assert_eq!(fake.calls.get(), 2);
        // Unknown kids do not hammer the IdP.
        assert!(lookup(&remote, &fake, "zzz", 1002).unwrap().is_none());
        assert!(lookup(&remote, &fake, "zzz", 1030).unwrap().is_none());
        assert_eq!(fake.calls.get(), 2);
        assert!(lookup(&remote, &fake, "zzz", 1031).unwrap().is_none());
        assert_eq!(fake.calls.get(), 3);
    }

    #[test]
    fn fails_closed_only_with_nothing_cached() {
        let fake = Fake {
            body: RefCell::new(Err(())),
            calls: Cell::new(0),
        };
        let remote = RemoteKeys::default();
        assert_eq!(
            lookup(&remote, &fake, "a", 1000).unwrap_err(),
            VerifyError::Unavailable
        );
        *fake.body.borrow_mut() = Ok("not json".into());
        assert_eq!(
            lookup(&remote, &fake, "a", 1001).unwrap_err(),
            VerifyError::Unavailable
        );
        *fake.body.borrow_mut() = Ok(set_of(&["a"]));
        assert!(lookup(&remote, &fake, "a", 1002).unwrap().is_some());
        // The IdP goes down: held keys keep working past their age.
        *fake.body.borrow_mut() = Err(());
        assert!(lookup(&remote, &fake, "a", 5000).unwrap().is_some());
    }

    #[test]
    fn only_a_bounded_200_is_a_key_set() {
        assert_eq!(
            accept_jwks_response(200, "{}".into()).as_deref(),
            Some("{}")
        );
        assert_eq!(accept_jwks_response(404, "{}".into()), None);
        assert_eq!(accept_jwks_response(500, "{}".into()), None);
        let big = "x".repeat(MAX_JWKS_BYTES + 1);
        assert_eq!(accept_jwks_response(200, big), None);
        let edge = "x".repeat(MAX_JWKS_BYTES);
        assert!(accept_jwks_response(200, edge).is_some());
    }
}

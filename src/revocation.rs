//! Revocation records, their store, and expiry arithmetic.
//!
//! One store entry per revoked token ID, under the key `revoked:<id>`. The
//! entry expires when the token would stop being accepted anyway (its `exp`
//! plus the leeway), so the list cleans itself.

use crate::error::StoreError;
use crate::token::TokenId;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// Prefix of revocation keys in the store.
pub const KEY_PREFIX: &str = "revoked:";
/// Workers KV refuses an expiration less than this many seconds ahead.
pub const MIN_EXPIRY_AHEAD: u64 = 60;

/// The store key of a token ID.
pub fn store_key(id: &TokenId) -> String {
    format!("{KEY_PREFIX}{id}")
}

/// What is stored for a revoked token. Never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The token ID (its `jti`, or the SHA-256 derived ID).
    pub jti: String,
    /// When it was revoked, seconds since the epoch.
    pub revoked_at: u64,
    /// The token's `exp`, when known.
    pub exp: Option<u64>,
    /// The token's `sub`, when known.
    pub sub: Option<String>,
    /// Why: `sign_out`, `admin` or `service`.
    pub reason: String,
    /// Who: the caller's `sub`, or `api-key`.
    pub by: String,
    /// The route that revoked it, e.g. `DELETE /api/tokens`.
    pub route: String,
}

impl Record {
    /// A copy small enough for KV metadata (at most 1024 bytes): long
    /// subjects and callers are cut to 256 bytes.
    pub fn for_metadata(&self) -> Record {
        let cut = |s: &str| {
            let mut end = s.len().min(256);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s[..end].to_owned()
        };
        Record {
            sub: self.sub.as_deref().map(cut),
            by: cut(&self.by),
            ..self.clone()
        }
    }
}

/// When a revocation entry may be dropped: `exp + leeway` when the expiry is
/// known, else `now + max_lifetime`; never sooner than KV's 60 s minimum.
pub fn expires_at(exp: Option<u64>, leeway: u64, max_lifetime: u64, now: u64) -> u64 {
    let natural = match exp {
        Some(exp) => exp.saturating_add(leeway),
        None => now.saturating_add(max_lifetime),
    };
    natural.max(now + MIN_EXPIRY_AHEAD)
}

/// Where revocations live. Workers KV in the worker, memory in tests.
#[allow(async_fn_in_trait)]
pub trait RevocationStore {
    /// The record for `id`, if it is revoked.
    async fn get(&self, id: &TokenId) -> Result<Option<Record>, StoreError>;
    /// Stores `record` under `id` until `expires_at` (seconds since the epoch).
    /// Writing the same ID again replaces the entry: one entry per token.
    async fn put(&self, id: &TokenId, record: &Record, expires_at: u64) -> Result<(), StoreError>;
}

/// An in-memory store with expiry, for tests and benchmarks. Failures can be
/// switched on to test that the worker fails closed.
#[derive(Default)]
pub struct MemoryStore {
    entries: RefCell<HashMap<String, (Record, u64)>>,
    /// Current time for expiry, seconds since the epoch.
    now: std::cell::Cell<u64>,
    fail_reads: std::cell::Cell<bool>,
    fail_writes: std::cell::Cell<bool>,
}

impl MemoryStore {
    /// An empty store whose clock reads `now`.
    pub fn new(now: u64) -> MemoryStore {
        let store = MemoryStore::default();
        store.now.set(now);
        store
    }
    /// Moves the store's clock (entries past their expiry disappear).
    pub fn set_now(&self, now: u64) {
        self.now.set(now);
    }
    /// Makes every read fail (or succeed again).
    pub fn fail_reads(&self, fail: bool) {
        self.fail_reads.set(fail);
    }
    /// Makes every write fail (or succeed again).
    pub fn fail_writes(&self, fail: bool) {
        self.fail_writes.set(fail);
    }
    /// Live entries: key → (record, expires_at), sorted by key.
    pub fn entries(&self) -> BTreeMap<String, (Record, u64)> {
        let now = self.now.get();
        self.entries
            .borrow()
            .iter()
            .filter(|(_, (_, expires))| *expires > now)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl RevocationStore for MemoryStore {
    async fn get(&self, id: &TokenId) -> Result<Option<Record>, StoreError> {
        if self.fail_reads.get() {
            return Err(StoreError::Unavailable);
        }
        let now = self.now.get();
        Ok(self
            .entries
            .borrow()
            .get(&store_key(id))
            .filter(|(_, expires)| *expires > now)
            .map(|(record, _)| record.clone()))
    }

    async fn put(&self, id: &TokenId, record: &Record, expires_at: u64) -> Result<(), StoreError> {
        if self.fail_writes.get() {
            return Err(StoreError::Unavailable);
        }
        self.entries
            .borrow_mut()
            .insert(store_key(id), (record.clone(), expires_at));
        Ok(())
    }
}

/// This isolate's own successful revocations, kept so that the next request
/// here is rejected even if the store's read cache still holds an older
/// "not revoked" answer. Bounded; the entry expiring first goes first.
pub struct RecentRevocations {
    entries: RefCell<HashMap<TokenId, (Record, u64)>>,
    capacity: usize,
}

impl RecentRevocations {
    /// Remembers up to `capacity` revocations.
    pub fn new(capacity: usize) -> Self {
        RecentRevocations {
            entries: RefCell::default(),
            capacity,
        }
    }

    fn get(&self, id: &TokenId, now: u64) -> Option<Record> {
        self.entries
            .borrow()
            .get(id)
            .filter(|(_, expires)| *expires > now)
            .map(|(record, _)| record.clone())
    }

    fn remember(&self, id: &TokenId, record: &Record, expires_at: u64, now: u64) {
        let mut entries = self.entries.borrow_mut();
        entries.retain(|_, (_, expires)| *expires > now);
        if entries.len() >= self.capacity {
            let first = entries
                .iter()
                .min_by_key(|(_, (_, expires))| *expires)
                .map(|(id, _)| id.clone());
            if let Some(first) = first {
                entries.remove(&first);
            }
        }
        entries.insert(id.clone(), (record.clone(), expires_at));
    }
}

/// A store that answers from [`RecentRevocations`] first and records its own
/// successful writes there.
pub struct ReadYourWrites<'a, S> {
    inner: S,
    recent: &'a RecentRevocations,
    now: u64,
}

impl<'a, S> ReadYourWrites<'a, S> {
    /// Wraps `inner` for one request at time `now`.
    pub fn new(inner: S, recent: &'a RecentRevocations, now: u64) -> Self {
        ReadYourWrites { inner, recent, now }
    }
    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: RevocationStore> RevocationStore for ReadYourWrites<'_, S> {
    async fn get(&self, id: &TokenId) -> Result<Option<Record>, StoreError> {
        match self.recent.get(id, self.now) {
            Some(record) => Ok(Some(record)),
            None => self.inner.get(id).await,
        }
    }

    async fn put(&self, id: &TokenId, record: &Record, expires_at: u64) -> Result<(), StoreError> {
        self.inner.put(id, record, expires_at).await?;
        self.recent.remember(id, record, expires_at, self.now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;

    fn record(jti: &str) -> Record {
        Record {
            jti: jti.into(),
            revoked_at: 1000,
            exp: Some(5000),
            sub: Some("alice".into()),
            reason: "sign_out".into(),
            by: "alice".into(),
            route: "DELETE /api/tokens".into(),
        }
    }

    #[test]
    fn expiry_follows_the_token() {
        // exp + leeway when that is more than 60 s ahead.
        assert_eq!(expires_at(Some(5000), 60, 86_400, 1000), 5060);
        // Clamped to now + 60 for a token about to expire.
        assert_eq!(expires_at(Some(1010), 0, 86_400, 1000), 1060);
        assert_eq!(expires_at(Some(990), 30, 86_400, 1000), 1060);
        // No exp: the configured lifetime.
        assert_eq!(expires_at(None, 60, 86_400, 1000), 87_400);
        assert_eq!(expires_at(None, 60, 10, 1000), 1060);
        // No overflow near the end of time.
        assert_eq!(expires_at(Some(u64::MAX), 60, 1, 0), u64::MAX);
    }

    #[test]
    fn metadata_fits_in_kv_limits() {
        let mut big = record(&"j".repeat(256));
        big.sub = Some("é".repeat(2000));
        big.by = "b".repeat(5000);
        let small = big.for_metadata();
        assert!(serde_json::to_vec(&small).unwrap().len() <= 1024);
        assert_eq!(small.jti, big.jti);
        assert!(big.sub.unwrap().starts_with(small.sub.as_deref().unwrap()));
    }

    #[test]
    fn memory_store_expires_and_overwrites() {
        let store = MemoryStore::new(1000);
        let id = TokenId::from_reference("t1").unwrap();
        block_on(store.put(&id, &record("t1"), 2000)).unwrap();
        block_on(store.put(&id, &record("t1"), 2000)).unwrap();
        assert_eq!(store.entries().len(), 1);
        assert_eq!(store.entries()["revoked:t1"].1, 2000);
        assert!(block_on(store.get(&id)).unwrap().is_some());
        store.set_now(2000);
        assert!(block_on(store.get(&id)).unwrap().is_none());
    }

    #[test]
    fn memory_store_failures_are_errors() {
        let store = MemoryStore::new(0);
        let id = TokenId::from_reference("t").unwrap();
        store.fail_writes(true);
        assert_eq!(
            block_on(store.put(&id, &record("t"), 100)),
            Err(StoreError::Unavailable)
        );
        store.fail_reads(true);
        assert_eq!(block_on(store.get(&id)), Err(StoreError::Unavailable));
    }

    /// A store whose reads never see writes, like a stale edge cache.
    struct StaleReads(MemoryStore);
    impl RevocationStore for StaleReads {
        async fn get(&self, _: &TokenId) -> Result<Option<Record>, StoreError> {
            Ok(None)
        }
        async fn put(&self, id: &TokenId, r: &Record, e: u64) -> Result<(), StoreError> {
            self.0.put(id, r, e).await
        }
    }

    #[test]
    fn read_your_writes_hides_a_stale_cache() {
        let recent = RecentRevocations::new(2);
        let store = ReadYourWrites::new(StaleReads(MemoryStore::new(0)), &recent, 100);
        let ids: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|s| TokenId::from_reference(s).unwrap())
            .collect();
        block_on(store.put(&ids[0], &record("a"), 500)).unwrap();
        assert!(block_on(store.get(&ids[0])).unwrap().is_some());
        // Bounded: the entry expiring first is dropped.
        block_on(store.put(&ids[1], &record("b"), 900)).unwrap();
        block_on(store.put(&ids[2], &record("c"), 800)).unwrap();
        assert!(block_on(store.get(&ids[0])).unwrap().is_none());
        assert!(block_on(store.get(&ids[1])).unwrap().is_some());
        // Expired entries are forgotten.
        let later = ReadYourWrites::new(StaleReads(MemoryStore::new(0)), &recent, 900);
        assert!(block_on(later.get(&ids[1])).unwrap().is_none());
    }

    #[test]
    fn a_failed_write_is_not_remembered() {
        let memory = MemoryStore::new(0);
        memory.fail_writes(true);
        let recent = RecentRevocations::new(8);
        let store = ReadYourWrites::new(memory, &recent, 0);
        let id = TokenId::from_reference("a").unwrap();
        assert!(block_on(store.put(&id, &record("a"), 500)).is_err());
        store.inner().fail_writes(false);
        assert!(block_on(store.get(&id)).unwrap().is_none());
    }
}

//! Revocation records, their store, and expiry arithmetic.
//!
//! - One entry per revoked token ID, under `revoked:<id>`. It expires when the
//!   token would stop being accepted anyway (its `exp` plus the leeway), so the
//!   list cleans itself.
//! - One entry per signed-out subject, under `subject:<sub>`: a [`Cutoff`].
//!   Tokens of that subject issued at or before the cutoff are rejected. It
//!   expires after `MAX_TOKEN_LIFETIME_SECONDS`, when every such token has
//!   expired anyway.

use crate::error::StoreError;
use crate::token::TokenId;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// Prefix of revocation keys in the store.
pub const KEY_PREFIX: &str = "revoked:";
/// Prefix of subject cutoff keys in the store.
pub const SUBJECT_PREFIX: &str = "subject:";
/// Workers KV refuses an expiration less than this many seconds ahead.
pub const MIN_EXPIRY_AHEAD: u64 = 60;
/// `reason`, `by` and `route` of an entry this version cannot read.
pub const UNREADABLE: &str = "unreadable";

/// The store key of a token ID.
pub fn store_key(id: &TokenId) -> String {
    format!("{KEY_PREFIX}{id}")
}

/// The store key of a subject: `subject:<sub>` for a short, printable `sub`,
/// else `subject:#<base64url SHA-256 of sub>` (store keys are size-limited).
pub fn subject_key(sub: &str) -> String {
    let plain = sub.len() <= 256 && !sub.starts_with('#') && !sub.chars().any(|c| c.is_control());
    if plain {
        format!("{SUBJECT_PREFIX}{sub}")
    } else {
        let digest = crate::primitives::sha256(sub.as_bytes());
        format!(
            "{SUBJECT_PREFIX}#{}",
            crate::primitives::base64url_encode(&digest)
        )
    }
}

/// "Every token of `sub` issued at or before `cutoff` is revoked", except
/// the one token `except` (the caller's, for `scope=others`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cutoff {
    /// The subject.
    pub sub: String,
    /// Seconds since the epoch; tokens with `iat` at or before it are revoked.
    pub cutoff: u64,
    /// The token ID kept valid, if any.
    pub except: Option<String>,
    /// Who asked: the caller's `sub`.
    pub by: String,
    /// The route that set it.
    pub route: String,
}

impl Cutoff {
    /// Stands for a stored cutoff of `sub` this version cannot read: it
    /// revokes every token of `sub` (fail closed) until a readable cutoff
    /// replaces it.
    pub fn unreadable(sub: &str) -> Cutoff {
        Cutoff {
            sub: sub.to_owned(),
            cutoff: u64::MAX,
            except: None,
            by: UNREADABLE.into(),
            route: UNREADABLE.into(),
        }
    }

    /// True for [`Cutoff::unreadable`].
    pub fn is_unreadable(&self) -> bool {
        self.cutoff == u64::MAX && self.route == UNREADABLE
    }

    /// True if a token with this `iat` and ID is revoked by the cutoff. A token
    /// without `iat` counts as issued before it.
    pub fn revokes(&self, iat: Option<u64>, id: &TokenId) -> bool {
        iat.is_none_or(|iat| iat <= self.cutoff) && self.except.as_deref() != Some(id.as_str())
    }

    /// Combines a stored cutoff with a new one. The later cutoff wins and a
    /// cutoff never moves backwards. At the same second, an exemption
    /// survives only if both keep the same token.
    ///
    /// An unreadable stored cutoff is replaced, not merged: a new sign-out
    /// repairs the entry instead of locking the subject out for good.
    pub fn merge(old: Option<Cutoff>, new: Cutoff) -> Cutoff {
        match old.filter(|old| !old.is_unreadable()) {
            Some(old) if old.cutoff > new.cutoff => old,
            Some(old) if old.cutoff == new.cutoff && old.except != new.except => Cutoff {
                except: None,
                ..new
            },
            _ => new,
        }
    }
}

/// One page of revocation records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Records on this page, in key order.
    pub items: Vec<Listed>,
    /// Where the next page starts; `None` on the last page.
    pub cursor: Option<String>,
}

/// A listed revocation: its record and when the entry expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The stored record (from metadata).
    pub record: Record,
    /// When the entry expires, seconds since the epoch, if known.
    pub expires_at: Option<u64>,
}

/// Why a token or subject was revoked: a record's `reason`, and the
/// `reason` of the log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeReason {
    /// The holder signed its own token out.
    SignOut,
    /// The holder signed out every token of its subject.
    SignOutGlobal,
    /// The holder signed out every other token of its subject.
    SignOutOthers,
    /// An admin revoked another token.
    Admin,
    /// An admin signed a subject out everywhere.
    AdminSignOut,
    /// A backend service invalidated a token with an API key.
    Service,
    /// An OAuth client revoked a token (RFC 7009).
    OAuthRevoke,
}

impl RevokeReason {
    /// The stored and logged name.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::SignOut => "sign_out",
            RevokeReason::SignOutGlobal => "sign_out_global",
            RevokeReason::SignOutOthers => "sign_out_others",
            RevokeReason::Admin => "admin",
            RevokeReason::AdminSignOut => "admin_sign_out",
            RevokeReason::Service => "service",
            RevokeReason::OAuthRevoke => "oauth_revoke",
        }
    }
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
    /// Stands for a stored revocation of `jti` this version cannot read:
    /// still a revocation.
    pub fn unreadable(jti: String) -> Record {
        Record {
            jti,
            revoked_at: 0,
            exp: None,
            sub: None,
            reason: UNREADABLE.into(),
            by: UNREADABLE.into(),
            route: UNREADABLE.into(),
        }
    }

    /// True for [`Record::unreadable`].
    pub fn is_unreadable(&self) -> bool {
        self.revoked_at == 0 && self.reason == UNREADABLE
    }

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

/// Waits before each retry of a write the store refused as too frequent
/// ([`StoreError::RateLimited`]): Workers KV takes one write per second to a
/// key, so each wait is a little over a second. After the last one the
/// request fails (`503`), never answering success for a write that was not
/// stored. At most 3.6 s are spent waiting.
pub const WRITE_BACKOFF_MS: [u64; 3] = [1_100, 1_200, 1_300];

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
    /// Removes the revocation of `id` (restores the token).
    async fn delete(&self, id: &TokenId) -> Result<(), StoreError>;
    /// The cutoff of `sub`, if one is set.
    async fn get_cutoff(&self, sub: &str) -> Result<Option<Cutoff>, StoreError>;
    /// Stores a cutoff until `expires_at`, replacing any earlier one. Callers
    /// merge first (see [`Cutoff::merge`]).
    async fn put_cutoff(&self, cutoff: &Cutoff, expires_at: u64) -> Result<(), StoreError>;
    /// One page of revocation records, `limit` at most, from `cursor`.
    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError>;
    /// Waits `ms` milliseconds before a write is retried (see
    /// [`WRITE_BACKOFF_MS`]). Stores without a write-rate limit need not wait.
    async fn sleep(&self, _ms: u64) {}

    /// The token's record and its subject's cutoff, looked up concurrently:
    /// one round trip, not two.
    async fn check(
        &self,
        id: &TokenId,
        sub: Option<&str>,
    ) -> (
        Result<Option<Record>, StoreError>,
        Result<Option<Cutoff>, StoreError>,
    ) {
        let cutoff = async {
            match sub {
                Some(sub) => self.get_cutoff(sub).await,
                None => Ok(None),
            }
        };
        crate::primitives::join(self.get(id), cutoff).await
    }
}

/// A shared store is a store: several isolates' wrappers can sit on one.
impl<S: RevocationStore> RevocationStore for &S {
    async fn get(&self, id: &TokenId) -> Result<Option<Record>, StoreError> {
        (**self).get(id).await
    }
    async fn put(&self, id: &TokenId, record: &Record, expires_at: u64) -> Result<(), StoreError> {
        (**self).put(id, record, expires_at).await
    }
    async fn delete(&self, id: &TokenId) -> Result<(), StoreError> {
        (**self).delete(id).await
    }
    async fn get_cutoff(&self, sub: &str) -> Result<Option<Cutoff>, StoreError> {
        (**self).get_cutoff(sub).await
    }
    async fn put_cutoff(&self, cutoff: &Cutoff, expires_at: u64) -> Result<(), StoreError> {
        (**self).put_cutoff(cutoff, expires_at).await
    }
    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        (**self).list(cursor, limit).await
    }
    async fn sleep(&self, ms: u64) {
        (**self).sleep(ms).await
    }
}

/// An in-memory store with expiry, for tests and benchmarks. Failures can be
/// switched on to test that the worker fails closed.
#[derive(Default)]
pub struct MemoryStore {
    entries: RefCell<HashMap<String, (Record, u64)>>,
    cutoffs: RefCell<HashMap<String, (Cutoff, u64)>>,
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
    /// Live cutoffs: key → (cutoff, expires_at), sorted by key.
    pub fn cutoffs(&self) -> BTreeMap<String, (Cutoff, u64)> {
        let now = self.now.get();
        self.cutoffs
            .borrow()
            .iter()
            .filter(|(_, (_, expires))| *expires > now)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
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

    async fn delete(&self, id: &TokenId) -> Result<(), StoreError> {
        if self.fail_writes.get() {
            return Err(StoreError::Unavailable);
        }
        self.entries.borrow_mut().remove(&store_key(id));
        Ok(())
    }

    async fn get_cutoff(&self, sub: &str) -> Result<Option<Cutoff>, StoreError> {
        if self.fail_reads.get() {
            return Err(StoreError::Unavailable);
        }
        Ok(self
            .cutoffs()
            .get(&subject_key(sub))
            .map(|(cutoff, _)| cutoff.clone()))
    }

    async fn put_cutoff(&self, cutoff: &Cutoff, expires_at: u64) -> Result<(), StoreError> {
        if self.fail_writes.get() {
            return Err(StoreError::Unavailable);
        }
        self.cutoffs
            .borrow_mut()
            .insert(subject_key(&cutoff.sub), (cutoff.clone(), expires_at));
        Ok(())
    }

    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        if self.fail_reads.get() {
            return Err(StoreError::Unavailable);
        }
        // The cursor is the last key of the previous page.
        let entries = self.entries();
        let mut rest = entries
            .range::<String, _>((
                cursor.map_or(std::ops::Bound::Unbounded, |c| {
                    std::ops::Bound::Excluded(c.to_owned())
                }),
                std::ops::Bound::Unbounded,
            ))
            .peekable();
        let mut items = Vec::new();
        let mut last = None;
        while items.len() < limit {
            let Some((key, (record, expires))) = rest.next() else {
                break;
            };
            last = Some(key.clone());
            items.push(Listed {
                record: record.for_metadata(),
                expires_at: Some(*expires),
            });
        }
        let cursor = if rest.peek().is_some() { last } else { None };
        Ok(Page { items, cursor })
    }
}

/// One remembered write and the time it stops being trusted. The end time is
/// fixed when the write is remembered and checked on every read, for
/// revocations, restores and cutoffs alike: no entry outlives it.
struct Remembered<T> {
    value: T,
    until: u64,
}

impl<T> Remembered<T> {
    /// The value while it is live at `now`.
    fn live(&self, now: u64) -> Option<&T> {
        (self.until > now).then_some(&self.value)
    }
}

/// What this isolate last wrote for one token ID.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TokenWrite {
    /// Revoked, with the record written.
    Revoked(Record),
    /// Restored (the entry deleted) at this second.
    Restored { at: u64 },
}

/// This isolate's own successful writes, so the next request here sees them
/// even while the store's read cache still holds an older answer. Entries are
/// kept for at most `ttl` seconds (the store's cache TTL, after which the
/// store itself is current) and at most `capacity` of each kind.
///
/// A remembered restore never answers on its own: it only hides a stored
/// record revoked *before* it (a stale cached read of the revocation it
/// removed). A record revoked at or after the restore, by any isolate, wins.
pub struct RecentRevocations {
    tokens: RefCell<HashMap<TokenId, Remembered<TokenWrite>>>,
    cutoffs: RefCell<HashMap<String, Remembered<Cutoff>>>,
    capacity: usize,
    ttl: u64,
}

/// Forgets entries that ended, then, at `capacity`, the one ending first.
fn make_room<K: Clone + Eq + std::hash::Hash, T>(
    map: &mut HashMap<K, Remembered<T>>,
    capacity: usize,
    now: u64,
) {
    map.retain(|_, entry| entry.live(now).is_some());
    if map.len() >= capacity {
        let first = map
            .iter()
            .min_by_key(|(_, entry)| entry.until)
            .map(|(key, _)| key.clone());
        if let Some(first) = first {
            map.remove(&first);
        }
    }
}

impl RecentRevocations {
    /// Remembers up to `capacity` writes of each kind for `ttl` seconds.
    pub fn new(capacity: usize, ttl: u64) -> Self {
        RecentRevocations {
            tokens: RefCell::default(),
            cutoffs: RefCell::default(),
            capacity,
            ttl,
        }
    }

    /// What this isolate wrote for `id`, while that memory is live.
    fn token(&self, id: &TokenId, now: u64) -> Option<TokenWrite> {
        self.tokens.borrow().get(id)?.live(now).cloned()
    }

    /// Remembers a write until `until`, or `ttl` from now if that is sooner.
    fn remember_token(&self, id: &TokenId, value: TokenWrite, until: u64, now: u64) {
        let until = until.min(now.saturating_add(self.ttl));
        let mut tokens = self.tokens.borrow_mut();
        make_room(&mut tokens, self.capacity, now);
        tokens.insert(id.clone(), Remembered { value, until });
    }

    fn cutoff(&self, sub: &str, now: u64) -> Option<Cutoff> {
        self.cutoffs.borrow().get(sub)?.live(now).cloned()
    }

    fn remember_cutoff(&self, cutoff: &Cutoff, expires: u64, now: u64) {
        let until = expires.min(now.saturating_add(self.ttl));
        let mut cutoffs = self.cutoffs.borrow_mut();
        make_room(&mut cutoffs, self.capacity, now);
        cutoffs.insert(
            cutoff.sub.clone(),
            Remembered {
                value: cutoff.clone(),
                until,
            },
        );
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
        match self.recent.token(id, self.now) {
            Some(TokenWrite::Revoked(record)) => Ok(Some(record)),
            // Only a record older than the restore is the one it removed. At
            // the same second the order is unknown: revoked (fail closed).
            Some(TokenWrite::Restored { at }) => Ok(self
                .inner
                .get(id)
                .await?
                .filter(|record| record.revoked_at >= at)),
            None => self.inner.get(id).await,
        }
    }

    async fn put(&self, id: &TokenId, record: &Record, expires_at: u64) -> Result<(), StoreError> {
        self.inner.put(id, record, expires_at).await?;
        let write = TokenWrite::Revoked(record.clone());
        self.recent.remember_token(id, write, expires_at, self.now);
        Ok(())
    }

    async fn delete(&self, id: &TokenId) -> Result<(), StoreError> {
        self.inner.delete(id).await?;
        let write = TokenWrite::Restored { at: self.now };
        self.recent.remember_token(id, write, u64::MAX, self.now);
        Ok(())
    }

    async fn get_cutoff(&self, sub: &str) -> Result<Option<Cutoff>, StoreError> {
        let stored = self.inner.get_cutoff(sub).await?;
        Ok(match self.recent.cutoff(sub, self.now) {
            Some(recent) => Some(Cutoff::merge(stored, recent)),
            None => stored,
        })
    }

    async fn put_cutoff(&self, cutoff: &Cutoff, expires_at: u64) -> Result<(), StoreError> {
        self.inner.put_cutoff(cutoff, expires_at).await?;
        self.recent.remember_cutoff(cutoff, expires_at, self.now);
        Ok(())
    }

    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        self.inner.list(cursor, limit).await
    }

    async fn sleep(&self, ms: u64) {
        self.inner.sleep(ms).await
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
        async fn delete(&self, id: &TokenId) -> Result<(), StoreError> {
            self.0.delete(id).await
        }
        async fn get_cutoff(&self, _: &str) -> Result<Option<Cutoff>, StoreError> {
            Ok(None)
        }
        async fn put_cutoff(&self, c: &Cutoff, e: u64) -> Result<(), StoreError> {
            self.0.put_cutoff(c, e).await
        }
        async fn list(&self, c: Option<&str>, l: usize) -> Result<Page, StoreError> {
            self.0.list(c, l).await
        }
    }

    #[test]
    fn read_your_writes_hides_a_stale_cache() {
        let recent = RecentRevocations::new(2, 10_000);
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
    fn recent_writes_last_at_most_the_cache_ttl() {
        let recent = RecentRevocations::new(8, 60);
        let id = TokenId::from_reference("a").unwrap();
        let store = ReadYourWrites::new(StaleReads(MemoryStore::new(0)), &recent, 100);
        block_on(store.put(&id, &record("a"), 10_000)).unwrap();
        let at = |now| ReadYourWrites::new(StaleReads(MemoryStore::new(0)), &recent, now);
        assert!(block_on(at(159).get(&id)).unwrap().is_some());
        assert!(
            block_on(at(160).get(&id)).unwrap().is_none(),
            "the store is current again"
        );
    }

    #[test]
    fn a_restore_is_seen_at_once_here() {
        let recent = RecentRevocations::new(8, 60);
        let memory = MemoryStore::new(0);
        let id = TokenId::from_reference("a").unwrap();
        block_on(memory.put(&id, &record("a"), 10_000)).unwrap();
        // Another isolate's cache would still say "revoked"; this one knows.
        struct Sticky<'a>(&'a MemoryStore, Record);
        impl RevocationStore for Sticky<'_> {
            async fn get(&self, _: &TokenId) -> Result<Option<Record>, StoreError> {
                Ok(Some(self.1.clone()))
            }
            async fn put(&self, id: &TokenId, r: &Record, e: u64) -> Result<(), StoreError> {
                self.0.put(id, r, e).await
            }
            async fn delete(&self, id: &TokenId) -> Result<(), StoreError> {
                self.0.delete(id).await
            }
            async fn get_cutoff(&self, s: &str) -> Result<Option<Cutoff>, StoreError> {
                self.0.get_cutoff(s).await
            }
            async fn put_cutoff(&self, c: &Cutoff, e: u64) -> Result<(), StoreError> {
                self.0.put_cutoff(c, e).await
            }
            async fn list(&self, c: Option<&str>, l: usize) -> Result<Page, StoreError> {
                self.0.list(c, l).await
            }
        }
        // The stale answer is the revocation the restore removed: older.
        let stale = Record {
            revoked_at: 50,
            ..record("a")
        };
        let store = ReadYourWrites::new(Sticky(&memory, stale), &recent, 100);
        block_on(store.delete(&id)).unwrap();
        assert!(block_on(store.get(&id)).unwrap().is_none());
        assert!(memory.entries().is_empty());
    }

    fn revoked_at(jti: &str, at: u64) -> Record {
        Record {
            revoked_at: at,
            ..record(jti)
        }
    }

    /// Isolate A restores a token; isolate B, sharing the store, revokes it
    /// again. A must see B's revocation on its next request, whatever it
    /// remembers of its own restore.
    #[test]
    fn a_restore_never_masks_a_later_revocation_from_another_isolate() {
        let memory = MemoryStore::new(0);
        let (a, b) = (RecentRevocations::new(8, 60), RecentRevocations::new(8, 60));
        let id = TokenId::from_reference("t").unwrap();
        let via = |recent, now| ReadYourWrites::new(&memory, recent, now);
        block_on(via(&a, 90).put(&id, &revoked_at("t", 90), 10_000)).unwrap();
        block_on(via(&a, 100).delete(&id)).unwrap();
        assert!(block_on(via(&a, 100).get(&id)).unwrap().is_none());
        // B revokes one second later, well inside A's memory of the restore.
        block_on(via(&b, 101).put(&id, &revoked_at("t", 101), 10_000)).unwrap();
        for now in [101, 102, 159, 160, 161, 5_000] {
            assert!(
                block_on(via(&a, now).get(&id)).unwrap().is_some(),
                "isolate A forwards a token B revoked (now = {now})"
            );
        }
    }

    #[test]
    fn a_revocation_in_the_second_of_a_restore_counts() {
        let memory = MemoryStore::new(0);
        let (a, b) = (RecentRevocations::new(8, 60), RecentRevocations::new(8, 60));
        let id = TokenId::from_reference("t").unwrap();
        block_on(ReadYourWrites::new(&memory, &a, 100).delete(&id)).unwrap();
        block_on(ReadYourWrites::new(&memory, &b, 100).put(&id, &revoked_at("t", 100), 10_000))
            .unwrap();
        assert!(block_on(ReadYourWrites::new(&memory, &a, 100).get(&id))
            .unwrap()
            .is_some());
    }

    /// A store whose every read answers one fixed record: a cache that never
    /// refreshes.
    struct Frozen(Record);
    impl RevocationStore for Frozen {
        async fn get(&self, _: &TokenId) -> Result<Option<Record>, StoreError> {
            Ok(Some(self.0.clone()))
        }
        async fn put(&self, _: &TokenId, _: &Record, _: u64) -> Result<(), StoreError> {
            Ok(())
        }
        async fn delete(&self, _: &TokenId) -> Result<(), StoreError> {
            Ok(())
        }
        async fn get_cutoff(&self, _: &str) -> Result<Option<Cutoff>, StoreError> {
            Ok(None)
        }
        async fn put_cutoff(&self, _: &Cutoff, _: u64) -> Result<(), StoreError> {
            Ok(())
        }
        async fn list(&self, _: Option<&str>, _: usize) -> Result<Page, StoreError> {
            Ok(Page::default())
        }
    }

    #[test]
    fn a_remembered_restore_ends_after_the_ttl() {
        let recent = RecentRevocations::new(8, 60);
        let id = TokenId::from_reference("t").unwrap();
        let at = |now| ReadYourWrites::new(Frozen(revoked_at("t", 50)), &recent, now);
        block_on(at(100).delete(&id)).unwrap();
        assert!(block_on(at(159).get(&id)).unwrap().is_none(), "hidden");
        // Past the TTL the store is the authority again, whatever it says.
        assert!(block_on(at(160).get(&id)).unwrap().is_some());
        assert!(block_on(at(10_000).get(&id)).unwrap().is_some());
    }

    #[test]
    fn restores_are_bounded_like_revocations() {
        let recent = RecentRevocations::new(2, 60);
        let ids: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|s| TokenId::from_reference(s).unwrap())
            .collect();
        let at = |now| ReadYourWrites::new(Frozen(revoked_at("x", 0)), &recent, now);
        block_on(at(100).delete(&ids[0])).unwrap();
        block_on(at(101).delete(&ids[1])).unwrap();
        block_on(at(102).delete(&ids[2])).unwrap();
        assert_eq!(recent.tokens.borrow().len(), 2);
        // The restore ending first made room: the store answers for it again.
        assert!(block_on(at(103).get(&ids[0])).unwrap().is_some());
        assert!(block_on(at(103).get(&ids[2])).unwrap().is_none());
    }

    fn cutoff(at: u64, except: Option<&str>) -> Cutoff {
        Cutoff {
            sub: "alice".into(),
            cutoff: at,
            except: except.map(str::to_owned),
            by: "alice".into(),
            route: "DELETE /api/tokens".into(),
        }
    }

    #[test]
    fn cutoffs_never_move_backwards() {
        assert_eq!(Cutoff::merge(None, cutoff(10, None)).cutoff, 10);
        assert_eq!(
            Cutoff::merge(Some(cutoff(20, None)), cutoff(10, Some("x"))),
            cutoff(20, None)
        );
        assert_eq!(
            Cutoff::merge(Some(cutoff(10, None)), cutoff(20, Some("x"))),
            cutoff(20, Some("x"))
        );
        // Same second: an exemption survives only if both agree.
        assert_eq!(
            Cutoff::merge(Some(cutoff(10, Some("x"))), cutoff(10, None)).except,
            None
        );
        assert_eq!(
            Cutoff::merge(Some(cutoff(10, None)), cutoff(10, Some("x"))).except,
            None
        );
        assert_eq!(
            Cutoff::merge(Some(cutoff(10, Some("x"))), cutoff(10, Some("x")))
                .except
                .as_deref(),
            Some("x")
        );
    }

    #[test]
    fn cutoff_rules() {
        let id = |s| TokenId::from_reference(s).unwrap();
        let c = cutoff(100, Some("keep"));
        assert!(c.revokes(Some(100), &id("t")), "issued at the cutoff");
        assert!(c.revokes(Some(50), &id("t")));
        assert!(c.revokes(None, &id("t")), "no iat counts as before");
        assert!(!c.revokes(Some(101), &id("t")));
        assert!(!c.revokes(Some(50), &id("keep")), "the exempt token");
    }

    #[test]
    fn subject_keys_stay_small() {
        assert_eq!(subject_key("alice"), "subject:alice");
        let long = subject_key(&"x".repeat(300));
        assert!(long.starts_with("subject:#") && long.len() == 9 + 43);
        assert_ne!(subject_key("#a"), "subject:#a");
        assert!(subject_key("a\nb").starts_with("subject:#"));
    }

    #[test]
    fn listing_pages_with_a_cursor() {
        let store = MemoryStore::new(0);
        for n in 0..5 {
            let id = TokenId::from_reference(&format!("t{n}")).unwrap();
            block_on(store.put(&id, &record(&format!("t{n}")), 100)).unwrap();
        }
        let first = block_on(store.list(None, 2)).unwrap();
        assert_eq!(first.items.len(), 2);
        let second = block_on(store.list(first.cursor.as_deref(), 2)).unwrap();
        let third = block_on(store.list(second.cursor.as_deref(), 2)).unwrap();
        assert_eq!(third.items.len(), 1);
        assert_eq!(third.cursor, None);
        let all: Vec<_> = [first, second, third]
            .iter()
            .flat_map(|p| p.items.iter().map(|i| i.record.jti.clone()))
            .collect();
        assert_eq!(all, ["t0", "t1", "t2", "t3", "t4"]);
    }

    #[test]
    fn a_failed_write_is_not_remembered() {
        let memory = MemoryStore::new(0);
        memory.fail_writes(true);
        let recent = RecentRevocations::new(8, 60);
        let store = ReadYourWrites::new(memory, &recent, 0);
        let id = TokenId::from_reference("a").unwrap();
        assert!(block_on(store.put(&id, &record("a"), 500)).is_err());
        store.inner().fail_writes(false);
        assert!(block_on(store.get(&id)).unwrap().is_none());
    }
}

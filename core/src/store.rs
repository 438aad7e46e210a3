//! Where revocations live: the [`RevocationStore`] trait (Workers KV in the
//! worker, [`MemoryStore`] in tests), and this isolate's own recent writes
//! layered over it ([`ReadYourWrites`]).

use crate::error::StoreError;
use crate::revocation::{
    session_key, store_key, subject_key, AnyCutoff, Cutoff, CutoffKind, CutoffPage, Listed, Page,
    Record, SessionCutoff,
};
use crate::token::TokenId;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// Waits before each retry of a write the store refused as too frequent
/// ([`StoreError::RateLimited`]): Workers KV takes one write per second to a
/// key, so each wait is a little over a second. After the last one the
/// request fails (`503`), never answering success for a write that was not
/// stored. At most 3.6 s are spent waiting.
pub const WRITE_BACKOFF_MS: [u64; 3] = [1_100, 1_200, 1_300];

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
    /// The cutoff of session `sid`, if one is set.
    async fn get_session(&self, sid: &str) -> Result<Option<SessionCutoff>, StoreError>;
    /// Stores a session cutoff until `expires_at`, replacing any earlier
    /// one. Callers merge first (see [`SessionCutoff::merge`]).
    async fn put_session(&self, cutoff: &SessionCutoff, expires_at: u64) -> Result<(), StoreError>;
    /// One page of revocation records, `limit` at most, from `cursor`.
    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError>;
    /// One page of subject or session cutoffs, `limit` at most, from
    /// `cursor`. A store that cannot list them answers an error.
    async fn list_cutoffs(
        &self,
        _kind: CutoffKind,
        _cursor: Option<&str>,
        _limit: usize,
    ) -> Result<CutoffPage, StoreError> {
        Err(StoreError::Unavailable)
    }
    /// Waits `ms` milliseconds before a write is retried (see
    /// [`WRITE_BACKOFF_MS`]). Stores without a write-rate limit need not wait.
    async fn sleep(&self, _ms: u64) {}

    /// Everything that can revoke one token: its record, its subject's
    /// cutoff and its session's cutoff, looked up concurrently (one round
    /// trip). A store that can read several keys in one call overrides this.
    async fn check(&self, id: &TokenId, sub: Option<&str>, sid: Option<&str>) -> Lookup {
        let subject = async {
            match sub {
                Some(sub) => self.get_cutoff(sub).await,
                None => Ok(None),
            }
        };
        let session = async {
            match sid {
                Some(sid) => self.get_session(sid).await,
                None => Ok(None),
            }
        };
        let ((record, subject), session) =
            crate::primitives::join(crate::primitives::join(self.get(id), subject), session).await;
        Lookup {
            record,
            subject,
            session,
        }
    }
}

/// What [`RevocationStore::check`] found, each part on its own: one part
/// failing is an error of that part (the caller fails closed on any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// `revoked:<id>`.
    pub record: Result<Option<Record>, StoreError>,
    /// `subject:<sub>`; `Ok(None)` for a token without `sub`.
    pub subject: Result<Option<Cutoff>, StoreError>,
    /// `session:<sid>`; `Ok(None)` for a token without `sid`.
    pub session: Result<Option<SessionCutoff>, StoreError>,
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
    async fn get_session(&self, sid: &str) -> Result<Option<SessionCutoff>, StoreError> {
        (**self).get_session(sid).await
    }
    async fn put_session(&self, cutoff: &SessionCutoff, expires_at: u64) -> Result<(), StoreError> {
        (**self).put_session(cutoff, expires_at).await
    }
    async fn check(&self, id: &TokenId, sub: Option<&str>, sid: Option<&str>) -> Lookup {
        (**self).check(id, sub, sid).await
    }
    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        (**self).list(cursor, limit).await
    }
    async fn list_cutoffs(
        &self,
        kind: CutoffKind,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CutoffPage, StoreError> {
        (**self).list_cutoffs(kind, cursor, limit).await
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
    sessions: RefCell<HashMap<String, (SessionCutoff, u64)>>,
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
    /// Live subject cutoffs: key → (cutoff, expires_at), sorted by key.
    pub fn cutoffs(&self) -> BTreeMap<String, (Cutoff, u64)> {
        self.live(&self.cutoffs)
    }
    /// Live session cutoffs: key → (cutoff, expires_at), sorted by key.
    pub fn sessions(&self) -> BTreeMap<String, (SessionCutoff, u64)> {
        self.live(&self.sessions)
    }
    /// Live entries: key → (record, expires_at), sorted by key.
    pub fn entries(&self) -> BTreeMap<String, (Record, u64)> {
        self.live(&self.entries)
    }
    fn live<T: Clone>(
        &self,
        map: &RefCell<HashMap<String, (T, u64)>>,
    ) -> BTreeMap<String, (T, u64)> {
        let now = self.now.get();
        map.borrow()
            .iter()
            .filter(|(_, (_, expires))| *expires > now)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// One page of `entries` after the key `cursor` (the last key of the page
/// before), at most `limit` long, and the cursor of the next page.
fn page_of<T>(
    entries: BTreeMap<String, (T, u64)>,
    cursor: Option<&str>,
    limit: usize,
) -> (Vec<(T, u64)>, Option<String>) {
    let mut rest = entries
        .into_iter()
        .filter(|(key, _)| cursor.is_none_or(|cursor| key.as_str() > cursor))
        .peekable();
    let mut items = Vec::new();
    let mut last = None;
    while items.len() < limit {
        let Some((key, item)) = rest.next() else {
            break;
        };
        last = Some(key);
        items.push(item);
    }
    let cursor = if rest.peek().is_some() { last } else { None };
    (items, cursor)
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

    async fn get_session(&self, sid: &str) -> Result<Option<SessionCutoff>, StoreError> {
        if self.fail_reads.get() {
            return Err(StoreError::Unavailable);
        }
        Ok(self
            .sessions()
            .remove(&session_key(sid))
            .map(|(cutoff, _)| cutoff))
    }

    async fn put_session(&self, cutoff: &SessionCutoff, expires_at: u64) -> Result<(), StoreError> {
        if self.fail_writes.get() {
            return Err(StoreError::Unavailable);
        }
        self.sessions
            .borrow_mut()
            .insert(session_key(&cutoff.sid), (cutoff.clone(), expires_at));
        Ok(())
    }

    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        if self.fail_reads.get() {
            return Err(StoreError::Unavailable);
        }
        let (items, cursor) = page_of(self.entries(), cursor, limit);
        let items = items
            .into_iter()
            .map(|(record, expires)| Listed {
                record: record.for_metadata(),
                expires_at: Some(expires),
            })
            .collect();
        Ok(Page { items, cursor })
    }

    async fn list_cutoffs(
        &self,
        kind: CutoffKind,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CutoffPage, StoreError> {
        if self.fail_reads.get() {
            return Err(StoreError::Unavailable);
        }
        let (items, cursor) = match kind {
            CutoffKind::Subject => {
                let (items, cursor) = page_of(self.cutoffs(), cursor, limit);
                let items = items.into_iter().map(|(c, e)| (AnyCutoff::Subject(c), e));
                (items.collect::<Vec<_>>(), cursor)
            }
            CutoffKind::Session => {
                let (items, cursor) = page_of(self.sessions(), cursor, limit);
                let items = items.into_iter().map(|(c, e)| (AnyCutoff::Session(c), e));
                (items.collect(), cursor)
            }
        };
        let items = items
            .into_iter()
            .map(|(cutoff, expires)| (cutoff.for_metadata(), Some(expires)))
            .collect();
        Ok(CutoffPage { items, cursor })
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
    sessions: RefCell<HashMap<String, Remembered<SessionCutoff>>>,
    /// Tokens whose store check found nothing, until their recheck is due.
    clean: RefCell<HashMap<TokenId, Remembered<()>>>,
    capacity: usize,
    ttl: u64,
    recheck: u64,
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
            sessions: RefCell::default(),
            clean: RefCell::default(),
            capacity,
            ttl,
            recheck: 0,
        }
    }

    /// Also skips the store check of a token whose last check, `seconds` ago
    /// or less, found nothing (`REVOCATION_RECHECK_SECONDS`; 0, the default,
    /// checks every request). This isolate's own writes still count at once:
    /// they are remembered here and applied without the store. Another
    /// isolate's revocation is seen up to `seconds` later.
    pub fn with_recheck(mut self, seconds: u64) -> Self {
        self.recheck = seconds;
        self
    }

    /// Remembers `value` under `key` until `until`, or `ttl` from now if
    /// that is sooner.
    fn remember<K: Clone + Eq + std::hash::Hash, T>(
        &self,
        map: &RefCell<HashMap<K, Remembered<T>>>,
        key: K,
        value: T,
        until: u64,
        now: u64,
    ) {
        let until = until.min(now.saturating_add(self.ttl));
        let mut map = map.borrow_mut();
        make_room(&mut map, self.capacity, now);
        map.insert(key, Remembered { value, until });
    }

    /// What is remembered under `key`, while that memory is live.
    fn recall<
        K: Eq + std::hash::Hash + std::borrow::Borrow<Q>,
        Q: Eq + std::hash::Hash + ?Sized,
        T: Clone,
    >(
        map: &RefCell<HashMap<K, Remembered<T>>>,
        key: &Q,
        now: u64,
    ) -> Option<T> {
        map.borrow().get(key)?.live(now).cloned()
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

    /// `stored` as this isolate's own writes change it.
    fn record(&self, id: &TokenId, stored: Option<Record>) -> Option<Record> {
        match RecentRevocations::recall(&self.recent.tokens, id, self.now) {
            Some(TokenWrite::Revoked(record)) => Some(record),
            // Only a record older than the restore is the one it removed. At
            // the same second the order is unknown: revoked (fail closed).
            Some(TokenWrite::Restored { at }) => stored.filter(|record| record.revoked_at >= at),
            None => stored,
        }
    }

    fn subject(&self, sub: &str, stored: Option<Cutoff>) -> Option<Cutoff> {
        match RecentRevocations::recall(&self.recent.cutoffs, sub, self.now) {
            Some(recent) => Some(Cutoff::merge(stored, recent)),
            None => stored,
        }
    }

    fn session(&self, sid: &str, stored: Option<SessionCutoff>) -> Option<SessionCutoff> {
        match RecentRevocations::recall(&self.recent.sessions, sid, self.now) {
            Some(recent) => Some(SessionCutoff::merge(stored, recent)),
            None => stored,
        }
    }
}

impl<S: RevocationStore> RevocationStore for ReadYourWrites<'_, S> {
    async fn get(&self, id: &TokenId) -> Result<Option<Record>, StoreError> {
        Ok(self.record(id, self.inner.get(id).await?))
    }

    async fn put(&self, id: &TokenId, record: &Record, expires_at: u64) -> Result<(), StoreError> {
        self.inner.put(id, record, expires_at).await?;
        let write = TokenWrite::Revoked(record.clone());
        let recent = self.recent;
        recent.remember(&recent.tokens, id.clone(), write, expires_at, self.now);
        Ok(())
    }

    async fn delete(&self, id: &TokenId) -> Result<(), StoreError> {
        self.inner.delete(id).await?;
        let write = TokenWrite::Restored { at: self.now };
        let recent = self.recent;
        recent.remember(&recent.tokens, id.clone(), write, u64::MAX, self.now);
        Ok(())
    }

    async fn get_cutoff(&self, sub: &str) -> Result<Option<Cutoff>, StoreError> {
        Ok(self.subject(sub, self.inner.get_cutoff(sub).await?))
    }

    async fn put_cutoff(&self, cutoff: &Cutoff, expires_at: u64) -> Result<(), StoreError> {
        self.inner.put_cutoff(cutoff, expires_at).await?;
        let (recent, key) = (self.recent, cutoff.sub.clone());
        recent.remember(&recent.cutoffs, key, cutoff.clone(), expires_at, self.now);
        Ok(())
    }

    async fn get_session(&self, sid: &str) -> Result<Option<SessionCutoff>, StoreError> {
        Ok(self.session(sid, self.inner.get_session(sid).await?))
    }

    async fn put_session(&self, cutoff: &SessionCutoff, expires_at: u64) -> Result<(), StoreError> {
        self.inner.put_session(cutoff, expires_at).await?;
        let (recent, key) = (self.recent, cutoff.sid.clone());
        recent.remember(&recent.sessions, key, cutoff.clone(), expires_at, self.now);
        Ok(())
    }

    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        self.inner.list(cursor, limit).await
    }

    async fn list_cutoffs(
        &self,
        kind: CutoffKind,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CutoffPage, StoreError> {
        self.inner.list_cutoffs(kind, cursor, limit).await
    }

    async fn sleep(&self, ms: u64) {
        self.inner.sleep(ms).await
    }

    /// The inner store's one check, with this isolate's own writes over it.
    /// Within the recheck window of a clean check, the store is not asked:
    /// only this isolate's own writes apply.
    async fn check(&self, id: &TokenId, sub: Option<&str>, sid: Option<&str>) -> Lookup {
        let recent = self.recent;
        let found = if RecentRevocations::recall(&recent.clean, id, self.now).is_some() {
            Lookup {
                record: Ok(None),
                subject: Ok(None),
                session: Ok(None),
            }
        } else {
            let found = self.inner.check(id, sub, sid).await;
            let clean = matches!(
                (&found.record, &found.subject, &found.session),
                (Ok(None), Ok(None), Ok(None))
            );
            if clean && recent.recheck > 0 {
                let until = self.now.saturating_add(recent.recheck);
                recent.remember(&recent.clean, id.clone(), (), until, self.now);
            }
            found
        };
        Lookup {
            record: found.record.map(|stored| self.record(id, stored)),
            subject: found
                .subject
                .map(|stored| sub.and_then(|sub| self.subject(sub, stored))),
            session: found
                .session
                .map(|stored| sid.and_then(|sid| self.session(sid, stored))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use crate::revocation::tests::record;

    /// A store whose reads answer `reads` whatever was written (a stale edge
    /// cache, or one that never refreshes), and whose writes go to `writes`.
    struct Canned<'a> {
        reads: Option<Record>,
        writes: &'a MemoryStore,
    }

    impl RevocationStore for Canned<'_> {
        async fn get(&self, _: &TokenId) -> Result<Option<Record>, StoreError> {
            Ok(self.reads.clone())
        }
        async fn put(&self, id: &TokenId, r: &Record, e: u64) -> Result<(), StoreError> {
            self.writes.put(id, r, e).await
        }
        async fn delete(&self, id: &TokenId) -> Result<(), StoreError> {
            self.writes.delete(id).await
        }
        async fn get_cutoff(&self, _: &str) -> Result<Option<Cutoff>, StoreError> {
            Ok(None)
        }
        async fn put_cutoff(&self, c: &Cutoff, e: u64) -> Result<(), StoreError> {
            self.writes.put_cutoff(c, e).await
        }
        async fn get_session(&self, _: &str) -> Result<Option<SessionCutoff>, StoreError> {
            Ok(None)
        }
        async fn put_session(&self, c: &SessionCutoff, e: u64) -> Result<(), StoreError> {
            self.writes.put_session(c, e).await
        }
        async fn list(&self, c: Option<&str>, l: usize) -> Result<Page, StoreError> {
            self.writes.list(c, l).await
        }
    }

    fn stale(writes: &MemoryStore) -> Canned<'_> {
        Canned {
            reads: None,
            writes,
        }
    }

    fn revoked_at(jti: &str, at: u64) -> Record {
        Record {
            revoked_at: at,
            ..record(jti)
        }
    }

    fn ids(names: &[&str]) -> Vec<TokenId> {
        names
            .iter()
            .map(|s| TokenId::from_reference(s).unwrap())
            .collect()
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
        assert_eq!(
            block_on(store.get_session("s")),
            Err(StoreError::Unavailable)
        );
    }

    #[test]
    fn read_your_writes_hides_a_stale_cache() {
        let memory = MemoryStore::new(0);
        let recent = RecentRevocations::new(2, 10_000);
        let store = ReadYourWrites::new(stale(&memory), &recent, 100);
        let ids = ids(&["a", "b", "c"]);
        block_on(store.put(&ids[0], &record("a"), 500)).unwrap();
        assert!(block_on(store.get(&ids[0])).unwrap().is_some());
        // Bounded: the entry expiring first is dropped.
        block_on(store.put(&ids[1], &record("b"), 900)).unwrap();
        block_on(store.put(&ids[2], &record("c"), 800)).unwrap();
        assert!(block_on(store.get(&ids[0])).unwrap().is_none());
        assert!(block_on(store.get(&ids[1])).unwrap().is_some());
        // Expired entries are forgotten.
        let later = ReadYourWrites::new(stale(&memory), &recent, 900);
        assert!(block_on(later.get(&ids[1])).unwrap().is_none());
    }

    #[test]
    fn recent_writes_last_at_most_the_cache_ttl() {
        let memory = MemoryStore::new(0);
        let recent = RecentRevocations::new(8, 60);
        let id = TokenId::from_reference("a").unwrap();
        let at = |now| ReadYourWrites::new(stale(&memory), &recent, now);
        block_on(at(100).put(&id, &record("a"), 10_000)).unwrap();
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
        // The stale answer is the revocation the restore removed: older.
        let sticky = Canned {
            reads: Some(revoked_at("a", 50)),
            writes: &memory,
        };
        let store = ReadYourWrites::new(sticky, &recent, 100);
        block_on(store.delete(&id)).unwrap();
        assert!(block_on(store.get(&id)).unwrap().is_none());
        assert!(memory.entries().is_empty());
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
            let found = block_on(via(&a, now).check(&id, None, None));
            assert!(found.record.unwrap().is_some(), "check, now = {now}");
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

    #[test]
    fn a_remembered_restore_ends_after_the_ttl() {
        let scratch = MemoryStore::new(0);
        let recent = RecentRevocations::new(8, 60);
        let id = TokenId::from_reference("t").unwrap();
        let frozen = || Canned {
            reads: Some(revoked_at("t", 50)),
            writes: &scratch,
        };
        let at = |now| ReadYourWrites::new(frozen(), &recent, now);
        block_on(at(100).delete(&id)).unwrap();
        assert!(block_on(at(159).get(&id)).unwrap().is_none(), "hidden");
        // Past the TTL the store is the authority again, whatever it says.
        assert!(block_on(at(160).get(&id)).unwrap().is_some());
        assert!(block_on(at(10_000).get(&id)).unwrap().is_some());
    }

    #[test]
    fn restores_are_bounded_like_revocations() {
        let scratch = MemoryStore::new(0);
        let recent = RecentRevocations::new(2, 60);
        let ids = ids(&["a", "b", "c"]);
        let at = |now| {
            let frozen = Canned {
                reads: Some(revoked_at("x", 0)),
                writes: &scratch,
            };
            ReadYourWrites::new(frozen, &recent, now)
        };
        block_on(at(100).delete(&ids[0])).unwrap();
        block_on(at(101).delete(&ids[1])).unwrap();
        block_on(at(102).delete(&ids[2])).unwrap();
        assert_eq!(recent.tokens.borrow().len(), 2);
        // The restore ending first made room: the store answers for it again.
        assert!(block_on(at(103).get(&ids[0])).unwrap().is_some());
        assert!(block_on(at(103).get(&ids[2])).unwrap().is_none());
    }

    #[test]
    fn session_cutoffs_are_read_back_through_check_and_remembered() {
        let memory = MemoryStore::new(0);
        let recent = RecentRevocations::new(8, 60);
        let cutoff = SessionCutoff {
            sid: "s-1".into(),
            cutoff: 100,
            by: "idp".into(),
            route: "POST /oidc/backchannel-logout".into(),
        };
        // Written through a stale view: the next check here still sees it.
        let here = ReadYourWrites::new(stale(&memory), &recent, 100);
        block_on(here.put_session(&cutoff, 5_000)).unwrap();
        let id = TokenId::from_reference("t").unwrap();
        let found = block_on(here.check(&id, None, Some("s-1")));
        assert_eq!(found.session, Ok(Some(cutoff.clone())));
        assert_eq!(memory.sessions()["session:s-1"].0, cutoff);
        // Straight from the store too.
        let direct = block_on(memory.check(&id, Some("nobody"), Some("s-1")));
        assert_eq!(direct.session, Ok(Some(cutoff)));
        assert_eq!((direct.record, direct.subject), (Ok(None), Ok(None)));
        let none = block_on(memory.check(&id, None, None));
        assert_eq!(none.session, Ok(None));
    }

    /// With a recheck window, a clean check is not repeated within it: the
    /// store is not asked, this isolate's own writes still count at once, and
    /// another isolate's revocation is seen when the window ends.
    #[test]
    fn a_recheck_window_skips_the_store_but_never_this_isolates_writes() {
        let memory = MemoryStore::new(0);
        let a = RecentRevocations::new(8, 60).with_recheck(5);
        let b = RecentRevocations::new(8, 60);
        let ids = ids(&["t", "u"]);
        let via = |recent, now| ReadYourWrites::new(&memory, recent, now);
        let revoked = |recent, now, id| {
            block_on(via(recent, now).check(id, Some("alice"), Some("s-1")))
                .record
                .unwrap()
                .is_some()
        };
        assert!(!revoked(&a, 100, &ids[0]), "clean, and remembered as clean");
        // B revokes: A does not read the store again until the window ends.
        block_on(via(&b, 101).put(&ids[0], &record("t"), 10_000)).unwrap();
        assert!(!revoked(&a, 104, &ids[0]), "inside the window");
        assert!(revoked(&a, 105, &ids[0]), "the window ended: checked again");
        // A's own revocation counts on its very next request.
        assert!(!revoked(&a, 200, &ids[1]));
        block_on(via(&a, 201).put(&ids[1], &record("u"), 10_000)).unwrap();
        assert!(revoked(&a, 201, &ids[1]));
        // So do its own cutoffs, for a token it checked clean a second ago.
        let u = TokenId::from_reference("v").unwrap();
        let clean = block_on(via(&a, 300).check(&u, Some("carol"), None));
        assert_eq!(clean.subject, Ok(None));
        let cutoff = Cutoff::all("carol", 301, "carol".into(), "DELETE /api/tokens".into());
        block_on(via(&a, 301).put_cutoff(&cutoff, 10_000)).unwrap();
        let after = block_on(via(&a, 301).check(&u, Some("carol"), None));
        assert_eq!(after.subject, Ok(Some(cutoff)));
        // Without a window every check reads the store.
        let plain = RecentRevocations::new(8, 60);
        assert!(!revoked(&plain, 400, &ids[0]) || revoked(&plain, 400, &ids[0]));
        assert!(plain.clean.borrow().is_empty());
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

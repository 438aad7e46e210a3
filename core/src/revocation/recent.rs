//! What one isolate remembers of its own writes, so that its next request
//! sees them even while the store's read cache still holds an older answer
//! (read-your-writes), and which tokens it checked clean lately (the recheck
//! window).

use super::{Cutoff, CutoffKind, Record};
use crate::token::TokenId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;

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

/// This isolate's own successful writes, kept for at most `ttl` seconds (the
/// store's cache TTL, after which the store itself is current) and at most
/// `capacity` of each kind.
///
/// A remembered restore never answers on its own: it only hides a stored
/// record revoked *before* it (a stale cached read of the revocation it
/// removed). A record revoked at or after the restore, by any isolate, wins.
pub struct RecentRevocations {
    tokens: RefCell<HashMap<TokenId, Remembered<TokenWrite>>>,
    cutoffs: RefCell<HashMap<(CutoffKind, String), Remembered<Cutoff>>>,
    /// Tokens whose store check found nothing, until their recheck is due.
    clean: RefCell<HashMap<TokenId, Remembered<()>>>,
    /// Single-use names this isolate has taken ([`Self::claim`]).
    claims: RefCell<HashMap<TokenId, Remembered<()>>>,
    capacity: usize,
    ttl: u64,
    recheck: u64,
}

/// Forgets entries that ended, then, at `capacity`, the one ending first.
fn make_room<K: Clone + Eq + Hash, T>(
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
            clean: RefCell::default(),
            claims: RefCell::default(),
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
    fn remember<K: Clone + Eq + Hash, T>(
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

    /// A revocation of `id` written now, stored until `expires_at`.
    pub(super) fn revoked(&self, id: &TokenId, record: &Record, expires_at: u64, now: u64) {
        let write = TokenWrite::Revoked(record.clone());
        self.remember(&self.tokens, id.clone(), write, expires_at, now);
    }

    /// A restore of `id` done now.
    pub(super) fn restored(&self, id: &TokenId, now: u64) {
        let write = TokenWrite::Restored { at: now };
        self.remember(&self.tokens, id.clone(), write, u64::MAX, now);
    }

    /// A cutoff written now, stored until `expires_at`: merged with the one
    /// remembered for its name, so a later write of an earlier cutoff (an
    /// older logout token, sent to the journal unmerged) takes nothing back.
    pub(super) fn cut_off(&self, cutoff: &Cutoff, expires_at: u64, now: u64) {
        let key = (cutoff.kind, cutoff.name.clone());
        let remembered = {
            let cutoffs = self.cutoffs.borrow();
            cutoffs.get(&key).and_then(|entry| entry.live(now).cloned())
        };
        let merged = Cutoff::merge(remembered, cutoff.clone());
        self.remember(&self.cutoffs, key, merged, expires_at, now);
    }

    /// `stored` (the store's answer for `id`) as this isolate's own writes
    /// change it.
    pub(super) fn record(&self, id: &TokenId, stored: Option<Record>, now: u64) -> Option<Record> {
        let remembered = {
            let tokens = self.tokens.borrow();
            tokens.get(id).and_then(|entry| entry.live(now).cloned())
        };
        match remembered {
            Some(TokenWrite::Revoked(record)) => Some(record),
            // Only a record older than the restore is the one it removed. At
            // the same second the order is unknown: revoked (fail closed).
            Some(TokenWrite::Restored { at }) => stored.filter(|record| record.revoked_at >= at),
            None => stored,
        }
    }

    /// `stored` (the store's cutoff of `name`) merged with this isolate's
    /// own cutoff of it.
    pub(super) fn cutoff(
        &self,
        kind: CutoffKind,
        name: &str,
        stored: Option<Cutoff>,
        now: u64,
    ) -> Option<Cutoff> {
        let remembered = {
            let cutoffs = self.cutoffs.borrow();
            cutoffs
                .get(&(kind, name.to_owned()))
                .and_then(|entry| entry.live(now).cloned())
        };
        match remembered {
            Some(recent) => Some(Cutoff::merge(stored, recent)),
            None => stored,
        }
    }

    /// True while a clean check of `id` is recent enough to skip the store.
    pub(super) fn is_clean(&self, id: &TokenId, now: u64) -> bool {
        let clean = self.clean.borrow();
        clean.get(id).is_some_and(|entry| entry.live(now).is_some())
    }

    /// A check of `id` that found nothing, at `now`: with a recheck window,
    /// the store is not asked again until it ends.
    pub(super) fn checked_clean(&self, id: &TokenId, now: u64) {
        if self.recheck > 0 {
            let until = now.saturating_add(self.recheck);
            self.remember(&self.clean, id.clone(), (), until, now);
        }
    }

    /// Takes `id` for this isolate until `until`, at once and without a
    /// wait, so that of two requests in flight together only one gets it:
    /// false when it is taken already. Kept past the store's cache TTL (a
    /// taken name stays taken here, even when its write then fails); at
    /// `capacity`, the claim ending first is forgotten (the store still
    /// holds it).
    pub(super) fn claim(&self, id: &TokenId, until: u64, now: u64) -> bool {
        let mut claims = self.claims.borrow_mut();
        if claims
            .get(id)
            .is_some_and(|entry| entry.live(now).is_some())
        {
            return false;
        }
        make_room(&mut claims, self.capacity, now);
        claims.insert(id.clone(), Remembered { value: (), until });
        true
    }

    /// How many token writes (revocations and restores) are remembered.
    #[cfg(test)]
    pub(super) fn token_writes(&self) -> usize {
        self.tokens.borrow().len()
    }

    /// How many tokens are remembered as clean.
    #[cfg(test)]
    pub(super) fn clean_tokens(&self) -> usize {
        self.clean.borrow().len()
    }
}

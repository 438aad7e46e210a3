//! [`Revocations`]: the rules of reading and writing revocations in a
//! key-value store ([`Kv`]), for one request of one isolate. One bulk read
//! per check; every write retried while the store refuses it as too
//! frequent; cutoffs merged with the stored one before they are written;
//! this isolate's own writes seen at once ([`RecentRevocations`]).

use super::follow::{Follower, JournalLink, NoJournal};
use super::journal::Change;
use super::recent::RecentRevocations;
use super::stored::{self, Stored};
use super::{
    cutoff_expires_at, cutoff_key, expires_at, store_key, Cutoff, CutoffKind, CutoffPage, Kv, Page,
    Record, KEY_PREFIX,
};
use crate::error::StoreError;
use crate::token::TokenId;
use std::future::Future;

/// Waits before each retry of a write the store refused as too frequent
/// ([`StoreError::RateLimited`]): Workers KV takes one write per second to a
/// key, so each wait is a little over a second. After the last one the
/// request fails (`503`), never answering success for a write that was not
/// stored. At most 3.6 s are spent waiting.
pub const WRITE_BACKOFF_MS: [u64; 3] = [1_100, 1_200, 1_300];

/// How long the tokens a revocation names can live, which fixes how long
/// the revocation is kept (see [`expires_at`] and [`cutoff_expires_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    /// `JWT_LEEWAY_SECONDS`.
    pub leeway: u64,
    /// `MAX_TOKEN_LIFETIME_SECONDS`.
    pub max_token_lifetime: u64,
}

/// Everything that can revoke one token, found by [`Revocations::check`]:
/// its record, and the cutoffs of its subject, session and email address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// `revoked:<id>`.
    pub record: Option<Record>,
    /// `subject:<sub>`; `None` for a token without `sub`.
    pub subject: Option<Cutoff>,
    /// `session:<sid>`; `None` for a token without `sid`.
    pub session: Option<Cutoff>,
    /// `email:<address>`; `None` for a token without the email claim, or
    /// when `SUBJECT_EMAIL_CLAIM` is unset.
    pub email: Option<Cutoff>,
}

impl Found {
    /// The cutoffs found, of each kind.
    pub fn cutoffs(&self) -> [&Option<Cutoff>; 3] {
        [&self.subject, &self.session, &self.email]
    }
}

/// The names a token's cutoffs are kept under: its `sub`, its `sid`, and
/// its email address (the `SUBJECT_EMAIL_CLAIM` claim, in ASCII lower case)
/// when email cutoffs are on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Names<'a> {
    /// `sub`.
    pub sub: Option<&'a str>,
    /// `sid`.
    pub sid: Option<&'a str>,
    /// The email address, lower-cased.
    pub email: Option<&'a str>,
}

impl<'a> Names<'a> {
    /// A token of `sub` and `sid`, with no email cutoff to check.
    pub const fn of(sub: Option<&'a str>, sid: Option<&'a str>) -> Names<'a> {
        Names {
            sub,
            sid,
            email: None,
        }
    }

    /// Each kind of cutoff with its name, if the token has one.
    pub fn by_kind(self) -> [(CutoffKind, Option<&'a str>); 3] {
        [
            (CutoffKind::Subject, self.sub),
            (CutoffKind::Session, self.sid),
            (CutoffKind::Email, self.email),
        ]
    }
}

/// Revocations as one isolate sees them at one instant: the store, with the
/// revocation journal's entries (when one is bound, [`Follower`]) and this
/// isolate's own recent writes over it.
pub struct Revocations<'a, K, J = NoJournal> {
    kv: K,
    recent: &'a RecentRevocations,
    now: u64,
    lifetimes: Lifetimes,
    journal: J,
    follower: Option<&'a Follower>,
}

impl<'a, K: Kv> Revocations<'a, K> {
    /// The store `kv`, with `recent` over it, at `now`: without a journal.
    pub fn new(kv: K, recent: &'a RecentRevocations, now: u64, lifetimes: Lifetimes) -> Self {
        Revocations {
            kv,
            recent,
            now,
            lifetimes,
            journal: NoJournal,
            follower: None,
        }
    }

    /// The same, following the journal `link` reaches with `follower` (when
    /// `link` is bound; else as without a journal).
    pub fn following<J: JournalLink>(
        self,
        follower: &'a Follower,
        link: J,
    ) -> Revocations<'a, K, J> {
        let follower = link.bound().then_some(follower);
        Revocations {
            kv: self.kv,
            recent: self.recent,
            now: self.now,
            lifetimes: self.lifetimes,
            journal: link,
            follower,
        }
    }
}

impl<'a, K: Kv, J: JournalLink> Revocations<'a, K, J> {
    /// The store underneath.
    pub fn kv(&self) -> &K {
        &self.kv
    }

    /// Everything that can revoke the token `id` of `names`, in at most one
    /// store operation: a bulk read of `revoked:<id>`, `subject:<sub>`,
    /// `session:<sid>` and `email:<address>`, overlaid with the journal's
    /// entries and this isolate's own writes.
    ///
    /// The store is not asked when the journal is followed and its mirror,
    /// synced first if due, covers an earlier answer for the same token
    /// ([`Follower::reusable`]); nor, without a journal, within the recheck
    /// window of a clean check. An entry this version cannot read counts as
    /// a revocation (see [`stored`]).
    pub async fn check(&self, id: &TokenId, names: Names<'_>) -> Result<Found, StoreError> {
        let (recent, now) = (self.recent, self.now);
        let follower = match self.follower {
            Some(follower) if follower.sync(&self.journal, now).await => Some(follower),
            _ => None,
        };
        let stored = if recent.is_clean(id, now) {
            Found::default()
        } else if let Some(found) = follower.and_then(|f| f.reusable(id, names, now)) {
            found
        } else {
            let found = self.read(id, names).await?;
            if found == Found::default() {
                recent.checked_clean(id, now);
            }
            if let Some(follower) = follower {
                follower.remember(id, names, &found, now);
            }
            found
        };
        let cutoff = |kind, name: Option<&str>, stored| {
            let name = name?;
            recent.cutoff(kind, name, self.journaled_cutoff(kind, name, stored), now)
        };
        Ok(Found {
            record: recent.record(id, self.journaled_record(id, stored.record), now),
            subject: cutoff(CutoffKind::Subject, names.sub, stored.subject),
            session: cutoff(CutoffKind::Session, names.sid, stored.session),
            email: cutoff(CutoffKind::Email, names.email, stored.email),
        })
    }

    /// The store's answer for a token: one bulk read.
    async fn read(&self, id: &TokenId, names: Names<'_>) -> Result<Found, StoreError> {
        let names = names.by_kind();
        let mut keys = vec![store_key(id)];
        keys.extend(
            names
                .iter()
                .filter_map(|(kind, name)| Some(cutoff_key(*kind, (*name)?))),
        );
        let mut values = self.kv.get_many(&keys).await?.into_iter();
        let record = values.next().flatten().map(|s| stored::read_record(id, &s));
        let mut cutoffs = names.iter().map(|(kind, name)| {
            let name = (*name)?;
            let value = values.next().flatten()?;
            Some(stored::read_cutoff(*kind, name, &value))
        });
        let mut next = || cutoffs.next().flatten();
        let (subject, session, email) = (next(), next(), next());
        Ok(Found {
            record,
            subject,
            session,
            email,
        })
    }

    /// `stored` as the journal's entries held here change it. A mirror that
    /// is not fresh still holds true entries: they only ever add.
    fn journaled_record(&self, id: &TokenId, stored: Option<Record>) -> Option<Record> {
        match self.follower {
            Some(follower) => follower.mirror().record(id, stored),
            None => stored,
        }
    }

    /// `stored` merged with the journal's cutoffs of `name` held here.
    fn journaled_cutoff(
        &self,
        kind: CutoffKind,
        name: &str,
        stored: Option<Cutoff>,
    ) -> Option<Cutoff> {
        match self.follower {
            Some(follower) => follower.mirror().cutoff(kind, name, stored),
            None => stored,
        }
    }

    /// The revocation record of `id`, if it is revoked.
    pub async fn record(&self, id: &TokenId) -> Result<Option<Record>, StoreError> {
        let stored = self.read_one(store_key(id)).await?;
        let record = stored.map(|stored| stored::read_record(id, &stored));
        let record = self.journaled_record(id, record);
        Ok(self.recent.record(id, record, self.now))
    }

    /// The cutoff of `kind` for `name`, if one is stored.
    pub async fn cutoff(&self, kind: CutoffKind, name: &str) -> Result<Option<Cutoff>, StoreError> {
        let stored = self.read_one(cutoff_key(kind, name)).await?;
        let cutoff = stored.map(|stored| stored::read_cutoff(kind, name, &stored));
        let cutoff = self.journaled_cutoff(kind, name, cutoff);
        Ok(self.recent.cutoff(kind, name, cutoff, self.now))
    }

    /// Appends a change to the journal, when one is followed and answers:
    /// true once the journal holds it. It then reaches KV through the
    /// journal, which retries until KV takes it.
    async fn journaled(&self, change: impl FnOnce() -> Change) -> bool {
        match self.follower {
            Some(follower) => follower
                .append(&self.journal, &change(), self.now)
                .await
                .is_ok(),
            None => false,
        }
    }

    async fn read_one(&self, key: String) -> Result<Option<Stored>, StoreError> {
        let mut found = self.kv.get_many(&[key]).await?;
        Ok(found.pop().flatten())
    }

    /// Writes the revocation of `id` until its token would be rejected
    /// anyway ([`expires_at`]). Writing the same ID again replaces the
    /// entry: one entry per token.
    pub async fn revoke(&self, id: &TokenId, record: &Record) -> Result<(), StoreError> {
        let until = self.record_until(record);
        let change = || Change::Revoke {
            id: id.clone(),
            record: record.clone(),
        };
        if !self.journaled(change).await {
            let (value, metadata) = stored::record_entry(record)?;
            let key = store_key(id);
            self.with_retries(|| self.kv.put(&key, &value, until, &metadata))
                .await?;
        }
        self.recent.revoked(id, record, until, self.now);
        Ok(())
    }

    /// Revokes `id` only when it is not revoked yet: true when this call
    /// wrote the revocation, false when one was there. For a name that may
    /// be used once, such as a Global Token Revocation assertion's `jti`.
    ///
    /// - In this isolate the name is taken before any wait, so of two
    ///   requests in flight together only one gets it; a name taken here
    ///   stays taken until `record.exp` (with the leeway), even when the
    ///   rest then fails: spent, never handed out twice.
    /// - With a journal, the journal decides, atomically, for every location
    ///   ([`Journal::claim`]). When it cannot be reached the answer is an
    ///   error: KV cannot decide between two locations, and a guess could
    ///   let a name be used twice.
    /// - Without a journal, KV is read and the revocation written as by
    ///   [`Self::revoke`]: another isolate whose read came before KV carried
    ///   the write there may take the name too.
    ///
    /// [`Journal::claim`]: super::journal::Journal::claim
    pub async fn claim(&self, id: &TokenId, record: &Record) -> Result<bool, StoreError> {
        let until = self.record_until(record);
        if !self.recent.claim(id, until, self.now) {
            return Ok(false);
        }
        let claimed = match self.follower {
            Some(follower) => {
                let change = Change::Revoke {
                    id: id.clone(),
                    record: record.clone(),
                };
                follower.claim(&self.journal, &change, self.now).await?
            }
            None => {
                let key = store_key(id);
                let free = self.read_one(key.clone()).await?.is_none();
                if free {
                    let (value, metadata) = stored::record_entry(record)?;
                    self.with_retries(|| self.kv.put(&key, &value, until, &metadata))
                        .await?;
                }
                free
            }
        };
        if claimed {
            self.recent.revoked(id, record, until, self.now);
        }
        Ok(claimed)
    }

    /// Until when a revocation written now with `record` is kept
    /// ([`expires_at`]).
    fn record_until(&self, record: &Record) -> u64 {
        let Lifetimes {
            leeway,
            max_token_lifetime,
        } = self.lifetimes;
        expires_at(record.exp, leeway, max_token_lifetime, self.now)
    }

    /// Removes the revocation of `id` (restores the token).
    pub async fn restore(&self, id: &TokenId) -> Result<(), StoreError> {
        let change = || Change::Restore {
            id: id.clone(),
            at: self.now,
        };
        if !self.journaled(change).await {
            let key = store_key(id);
            self.with_retries(|| self.kv.delete(&key)).await?;
        }
        self.recent.restored(id, self.now);
        Ok(())
    }

    /// Appends `new` to the journal, which merges it into KV; or without a
    /// journal, writes `new` merged with the stored cutoff of its name (see
    /// [`Cutoff::merge`]), until every token it revokes would be rejected
    /// anyway ([`cutoff_expires_at`]). A cutoff already in force is not
    /// written again. Every try reads and merges afresh: another writer's
    /// cutoff (the reason for a refused write) is merged, never overwritten.
    pub async fn cut_off(&self, new: Cutoff) -> Result<(), StoreError> {
        let Lifetimes {
            leeway,
            max_token_lifetime,
        } = self.lifetimes;
        if self.journaled(|| Change::CutOff(new.clone())).await {
            let until = cutoff_expires_at(new.latest(), leeway, max_token_lifetime, self.now);
            self.recent.cut_off(&new, until, self.now);
            return Ok(());
        }
        let key = new.key();
        let write = || async {
            let stored = self.cutoff(new.kind, &new.name).await?;
            let written = stored::put_merged(
                &self.kv,
                &key,
                stored,
                new.clone(),
                self.lifetimes,
                self.now,
            )
            .await?;
            if let Some((merged, until)) = written {
                self.recent.cut_off(&merged, until, self.now);
            }
            Ok(())
        };
        self.with_retries(write).await
    }

    /// The journal's state and this isolate's copy of it, for the admin
    /// status route: `{"bound": false}` without a journal; `journal` is
    /// `null` when it cannot be reached.
    pub async fn journal_status(&self) -> serde_json::Value {
        let Some(follower) = self.follower else {
            return serde_json::json!({ "bound": false });
        };
        let journal = self.journal.status().await.ok();
        let journal: Option<serde_json::Value> =
            journal.and_then(|text| serde_json::from_str(&text).ok());
        serde_json::json!({
            "bound": true,
            "journal": journal,
            "isolate": follower.status(self.now),
        })
    }

    /// One page of revocation records, `limit` at most, from `cursor`.
    pub async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        stored::read_list(&self.kv.list(KEY_PREFIX, cursor, limit).await?)
    }

    /// One page of subject or session cutoffs, `limit` at most, from
    /// `cursor`.
    pub async fn list_cutoffs(
        &self,
        kind: CutoffKind,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CutoffPage, StoreError> {
        let text = self.kv.list(kind.prefix(), cursor, limit).await?;
        stored::read_cutoff_list(kind, &text)
    }

    /// Runs `write` until the store takes it. While the store refuses it as
    /// too frequent ([`StoreError::RateLimited`]), waits [`WRITE_BACKOFF_MS`]
    /// and tries again; any other answer, and the last try's, is final.
    async fn with_retries<T, W: Future<Output = Result<T, StoreError>>>(
        &self,
        mut write: impl FnMut() -> W,
    ) -> Result<T, StoreError> {
        for wait in WRITE_BACKOFF_MS {
            match write().await {
                Err(StoreError::RateLimited) => self.kv.sleep(wait).await,
                done => return done,
            }
        }
        write().await
    }
}

#[cfg(test)]
mod tests {
    use super::super::memory::MemoryKv;
    use super::super::tests::{id, revoked_at};
    use super::*;
    use crate::block_on;

    const LIFETIMES: Lifetimes = Lifetimes {
        leeway: 60,
        max_token_lifetime: 86_400,
    };

    /// A store whose reads answer `reads` whatever was written (a stale edge
    /// cache, or one that never refreshes), and whose writes go to `writes`.
    struct Stale<'a> {
        reads: Option<Record>,
        writes: &'a MemoryKv,
    }

    impl Kv for Stale<'_> {
        async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Stored>>, StoreError> {
            let record = self
                .reads
                .as_ref()
                .map(|record| Stored::Text(stored::record_entry(record).unwrap().0));
            Ok(keys
                .iter()
                .map(|key| record.clone().filter(|_| key.starts_with(KEY_PREFIX)))
                .collect())
        }
        async fn put(&self, k: &str, v: &str, e: u64, m: &str) -> Result<(), StoreError> {
            self.writes.put(k, v, e, m).await
        }
        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.writes.delete(key).await
        }
        async fn list(&self, p: &str, c: Option<&str>, l: usize) -> Result<String, StoreError> {
            self.writes.list(p, c, l).await
        }
        async fn sleep(&self, _: u64) {}
    }

    fn stale(writes: &MemoryKv, reads: Option<Record>) -> Stale<'_> {
        Stale { reads, writes }
    }

    fn at<'a, K: Kv>(kv: K, recent: &'a RecentRevocations, now: u64) -> Revocations<'a, K> {
        Revocations::new(kv, recent, now, LIFETIMES)
    }

    #[test]
    fn without_a_journal_a_name_is_claimed_once_and_spent_even_when_the_claim_fails() {
        let kv = MemoryKv::new(0);
        let recent = RecentRevocations::new(8, 60);
        let record = revoked_at("a", 100);
        let claim = |recent: &RecentRevocations, name: &str, now: u64| {
            block_on(at(&kv, recent, now).claim(&id(name), &record))
        };
        assert_eq!(claim(&recent, "a", 100), Ok(true));
        assert_eq!(
            kv.entries()["revoked:a"].1,
            100 + 600 + 60,
            "until exp and the leeway"
        );
        assert_eq!(claim(&recent, "a", 100), Ok(false), "taken in this isolate");
        // Another isolate on the same KV reads it there.
        assert_eq!(claim(&RecentRevocations::new(8, 60), "a", 101), Ok(false));
        // A read that fails is an error, and the name stays spent here.
        let third = RecentRevocations::new(8, 60);
        kv.fail_reads(true);
        assert!(claim(&third, "b", 102).is_err());
        kv.fail_reads(false);
        assert_eq!(claim(&third, "b", 103), Ok(false));
        assert!(!kv.entries().contains_key("revoked:b"));
        // Elsewhere it was never used.
        assert_eq!(claim(&recent, "b", 103), Ok(true));
    }

    #[test]
    fn the_check_is_one_bulk_read_of_the_tokens_keys() {
        let kv = MemoryKv::new(0);
        let recent = RecentRevocations::new(8, 60);
        let store = at(&kv, &recent, 100);
        block_on(store.check(&id("t"), Names::of(Some("alice"), Some("s-1")))).unwrap();
        block_on(store.check(&id("u"), Names::of(None, None))).unwrap();
        assert_eq!(
            kv.reads(),
            [
                vec!["revoked:t", "subject:alice", "session:s-1"],
                vec!["revoked:u"]
            ]
        );
    }

    #[test]
    fn read_your_writes_hides_a_stale_cache() {
        let memory = MemoryKv::new(0);
        let recent = RecentRevocations::new(2, 10_000);
        let store = at(stale(&memory, None), &recent, 100);
        let ids = [id("a"), id("b"), id("c")];
        let record = |jti, exp| Record {
            exp: Some(exp),
            ..revoked_at(jti, 100)
        };
        block_on(store.revoke(&ids[0], &record("a", 440))).unwrap();
        assert!(block_on(store.record(&ids[0])).unwrap().is_some());
        // Bounded: the entry expiring first is dropped.
        block_on(store.revoke(&ids[1], &record("b", 840))).unwrap();
        block_on(store.revoke(&ids[2], &record("c", 740))).unwrap();
        assert!(block_on(store.record(&ids[0])).unwrap().is_none());
        assert!(block_on(store.record(&ids[1])).unwrap().is_some());
        // Expired entries are forgotten.
        let later = at(stale(&memory, None), &recent, 900);
        assert!(block_on(later.record(&ids[1])).unwrap().is_none());
    }

    #[test]
    fn recent_writes_last_at_most_the_cache_ttl() {
        let memory = MemoryKv::new(0);
        let recent = RecentRevocations::new(8, 60);
        let via = |now| at(stale(&memory, None), &recent, now);
        block_on(via(100).revoke(&id("a"), &revoked_at("a", 100))).unwrap();
        assert!(block_on(via(159).record(&id("a"))).unwrap().is_some());
        assert!(
            block_on(via(160).record(&id("a"))).unwrap().is_none(),
            "the store is current again"
        );
    }

    #[test]
    fn a_restore_is_seen_at_once_here() {
        let recent = RecentRevocations::new(8, 60);
        let memory = MemoryKv::new(0);
        block_on(at(&memory, &recent, 50).revoke(&id("a"), &revoked_at("a", 50))).unwrap();
        // Another isolate's cache would still say "revoked"; this one knows.
        // The stale answer is the revocation the restore removed: older.
        let store = at(stale(&memory, Some(revoked_at("a", 50))), &recent, 100);
        block_on(store.restore(&id("a"))).unwrap();
        assert!(block_on(store.record(&id("a"))).unwrap().is_none());
        assert!(memory.entries().is_empty());
    }

    /// Isolate A restores a token; isolate B, sharing the store, revokes it
    /// again. A must see B's revocation on its next request, whatever it
    /// remembers of its own restore.
    #[test]
    fn a_restore_never_masks_a_later_revocation_from_another_isolate() {
        let memory = MemoryKv::new(0);
        let (a, b) = (RecentRevocations::new(8, 60), RecentRevocations::new(8, 60));
        let t = id("t");
        let via = |recent, now| at(&memory, recent, now);
        block_on(via(&a, 90).revoke(&t, &revoked_at("t", 90))).unwrap();
        block_on(via(&a, 100).restore(&t)).unwrap();
        assert!(block_on(via(&a, 100).record(&t)).unwrap().is_none());
        // B revokes one second later, well inside A's memory of the restore.
        block_on(via(&b, 101).revoke(&t, &revoked_at("t", 101))).unwrap();
        for now in [101, 102, 159, 160, 161, 4_000] {
            assert!(
                block_on(via(&a, now).record(&t)).unwrap().is_some(),
                "isolate A forwards a token B revoked (now = {now})"
            );
            let found = block_on(via(&a, now).check(&t, Names::of(None, None))).unwrap();
            assert!(found.record.is_some(), "check, now = {now}");
        }
    }

    #[test]
    fn a_revocation_in_the_second_of_a_restore_counts() {
        let memory = MemoryKv::new(0);
        let (a, b) = (RecentRevocations::new(8, 60), RecentRevocations::new(8, 60));
        let t = id("t");
        block_on(at(&memory, &a, 100).restore(&t)).unwrap();
        block_on(at(&memory, &b, 100).revoke(&t, &revoked_at("t", 100))).unwrap();
        assert!(block_on(at(&memory, &a, 100).record(&t)).unwrap().is_some());
    }

    #[test]
    fn a_remembered_restore_ends_after_the_ttl() {
        let scratch = MemoryKv::new(0);
        let recent = RecentRevocations::new(8, 60);
        let via = |now| at(stale(&scratch, Some(revoked_at("t", 50))), &recent, now);
        block_on(via(100).restore(&id("t"))).unwrap();
        assert!(
            block_on(via(159).record(&id("t"))).unwrap().is_none(),
            "hidden"
        );
        // Past the TTL the store is the authority again, whatever it says.
        assert!(block_on(via(160).record(&id("t"))).unwrap().is_some());
        assert!(block_on(via(10_000).record(&id("t"))).unwrap().is_some());
    }

    #[test]
    fn restores_are_bounded_like_revocations() {
        let scratch = MemoryKv::new(0);
        let recent = RecentRevocations::new(2, 60);
        let via = |now| at(stale(&scratch, Some(revoked_at("x", 0))), &recent, now);
        block_on(via(100).restore(&id("a"))).unwrap();
        block_on(via(101).restore(&id("b"))).unwrap();
        block_on(via(102).restore(&id("c"))).unwrap();
        assert_eq!(recent.token_writes(), 2);
        // The restore ending first made room: the store answers for it again.
        assert!(block_on(via(103).record(&id("a"))).unwrap().is_some());
        assert!(block_on(via(103).record(&id("c"))).unwrap().is_none());
    }

    #[test]
    fn session_cutoffs_are_read_back_through_check_and_remembered() {
        let memory = MemoryKv::new(0);
        let recent = RecentRevocations::new(8, 60);
        let cutoff = Cutoff::all(
            CutoffKind::Session,
            "s-1",
            100,
            "idp".into(),
            "POST /oidc/backchannel-logout".into(),
        );
        // Written through a stale view: the next check here still sees it.
        let here = at(stale(&memory, None), &recent, 100);
        block_on(here.cut_off(cutoff.clone())).unwrap();
        let found = block_on(here.check(&id("t"), Names::of(None, Some("s-1")))).unwrap();
        assert_eq!(found.session, Some(cutoff.clone()));
        assert_eq!(memory.sessions()["session:s-1"].0, cutoff);
        // Straight from the store too, from another isolate.
        let other = RecentRevocations::new(8, 60);
        let direct = block_on(
            at(&memory, &other, 100).check(&id("t"), Names::of(Some("nobody"), Some("s-1"))),
        )
        .unwrap();
        assert_eq!(direct.session, Some(cutoff));
        assert_eq!((direct.record, direct.subject), (None, None));
        let none =
            block_on(at(&memory, &other, 100).check(&id("t"), Names::of(None, None))).unwrap();
        assert_eq!(none.session, None);
    }

    /// With a recheck window, a clean check is not repeated within it: the
    /// store is not asked, this isolate's own writes still count at once, and
    /// another isolate's revocation is seen when the window ends.
    #[test]
    fn a_recheck_window_skips_the_store_but_never_this_isolates_writes() {
        let memory = MemoryKv::new(0);
        let a = RecentRevocations::new(8, 60).with_recheck(5);
        let b = RecentRevocations::new(8, 60);
        let via = |recent, now| at(&memory, recent, now);
        let revoked = |recent, now, t: &TokenId| {
            block_on(via(recent, now).check(t, Names::of(Some("alice"), Some("s-1"))))
                .unwrap()
                .record
                .is_some()
        };
        assert!(
            !revoked(&a, 100, &id("t")),
            "clean, and remembered as clean"
        );
        // B revokes: A does not read the store again until the window ends.
        block_on(via(&b, 101).revoke(&id("t"), &revoked_at("t", 101))).unwrap();
        let reads = memory.reads().len();
        assert!(!revoked(&a, 104, &id("t")), "inside the window");
        assert_eq!(memory.reads().len(), reads, "the store was not asked");
        assert!(
            revoked(&a, 105, &id("t")),
            "the window ended: checked again"
        );
        // A's own revocation counts on its very next request.
        assert!(!revoked(&a, 200, &id("u")));
        block_on(via(&a, 201).revoke(&id("u"), &revoked_at("u", 201))).unwrap();
        assert!(revoked(&a, 201, &id("u")));
        // So do its own cutoffs, for a token it checked clean a second ago.
        let v = id("v");
        let clean = block_on(via(&a, 300).check(&v, Names::of(Some("carol"), None))).unwrap();
        assert_eq!(clean.subject, None);
        let cutoff = Cutoff::all(
            CutoffKind::Subject,
            "carol",
            301,
            "carol".into(),
            "DELETE /api/tokens".into(),
        );
        block_on(via(&a, 301).cut_off(cutoff.clone())).unwrap();
        let after = block_on(via(&a, 301).check(&v, Names::of(Some("carol"), None))).unwrap();
        assert_eq!(after.subject, Some(cutoff));
        // Without a window every check reads the store.
        let plain = RecentRevocations::new(8, 60);
        revoked(&plain, 400, &id("t"));
        assert_eq!(plain.clean_tokens(), 0);
    }

    #[test]
    fn a_failed_write_is_not_remembered() {
        let memory = MemoryKv::new(0);
        memory.fail_writes(true);
        let recent = RecentRevocations::new(8, 60);
        let store = at(&memory, &recent, 0);
        assert!(block_on(store.revoke(&id("a"), &revoked_at("a", 0))).is_err());
        memory.fail_writes(false);
        assert!(block_on(store.record(&id("a"))).unwrap().is_none());
    }

    #[test]
    fn listing_pages_with_a_cursor() {
        let memory = MemoryKv::new(0);
        let recent = RecentRevocations::new(8, 60);
        let store = at(&memory, &recent, 0);
        for n in 0..5 {
            let jti = format!("t{n}");
            block_on(store.revoke(&id(&jti), &revoked_at(&jti, 0))).unwrap();
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
}

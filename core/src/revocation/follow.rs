//! How an isolate follows the revocation journal: [`JournalLink`] is all the
//! worker binds (the Durable Object's stub, and the Cache API of the
//! location), [`Follower`] decides when to sync, where from, and what to do
//! when the journal cannot be reached.
//!
//! ## Bounds
//! - No request is decided with a mirror whose tail the journal answered
//!   `REVOCATION_SYNC_SECONDS` (S) or more before it; a request that finds it
//!   older waits for one sync (each journal call is bounded by
//!   [`CALL_TIMEOUT_MS`](super::journal::CALL_TIMEOUT_MS)). So an entry the journal took at `t` is applied by
//!   every request arriving at `t + S` or later, at every location.
//! - Concurrent requests share one sync: the others wait for it, looking
//!   every [`WAIT_STEP_MS`] on a timer of their own (a request's I/O and
//!   timers belong to it: one request may not wake another's task), for at
//!   most [`WAIT_LIMIT_MS`].
//! - The isolates of one location share the latest tail through the Cache
//!   API for S seconds: only a miss, or a mirror too far behind the shared
//!   page, reaches the journal. The journal's load grows with locations,
//!   not isolates.
//! - When the journal cannot be reached, the isolate reads KV for every
//!   request as without a journal (never open), tries the journal again
//!   after S seconds, and says so in the log once a minute
//!   (`journal_unavailable`); `journal_available` when it is back.

use super::journal::{Change, Tail};
use super::mirror::{Answers, Applied, Mirror, MirrorStatus};
use super::store::{Found, Names};
use crate::error::StoreError;
use crate::token::TokenId;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::future::Future;

/// How often `journal_unavailable` is logged while the journal stays out of
/// reach, seconds.
pub const UNAVAILABLE_LOG_SECONDS: u64 = 60;
/// Pages of [`super::journal::TAIL_LIMIT`] entries one sync reads at most
/// when the mirror is far behind.
pub const MAX_PAGES: usize = 8;
/// How often a request waiting for another request's sync looks again, ms.
pub const WAIT_STEP_MS: u64 = 5;
/// How long a request waits for another request's sync at most, ms: then
/// it reads KV as when the journal is out of reach.
pub const WAIT_LIMIT_MS: u64 = 2_000;

/// All the worker asks of the journal and of the location's cache. Each
/// call is bounded in time ([`CALL_TIMEOUT_MS`](super::journal::CALL_TIMEOUT_MS)); a call that fails or
/// times out is an error (or `None`).
#[allow(async_fn_in_trait)]
pub trait JournalLink {
    /// True when a journal is bound at all.
    fn bound(&self) -> bool;
    /// Appends a change (its JSON text); `Ok` once the journal has it.
    async fn append(&self, change: &str) -> Result<(), StoreError>;
    /// Appends a revocation (its JSON text) unless its name is revoked
    /// already ([`Journal::claim`](super::journal::Journal::claim)):
    /// `Ok(true)` once the journal has it, `Ok(false)` when it was taken.
    async fn claim(&self, change: &str) -> Result<bool, StoreError>;
    /// The journal's tail after `after`, or its latest page (`None`), as
    /// JSON text ([`Tail::to_json`]).
    async fn tail(&self, after: Option<u64>) -> Result<String, StoreError>;
    /// The journal's status, as JSON text.
    async fn status(&self) -> Result<String, StoreError>;
    /// The latest page this location's isolates share, if one is cached.
    async fn shared(&self) -> Option<String>;
    /// Shares a latest page with this location's isolates for `seconds`.
    async fn share(&self, tail: &str, seconds: u64);
    /// Waits `ms` milliseconds, on a timer of this request's own.
    async fn pause(&self, ms: u64);
}

/// No journal bound: the worker keeps revocations in KV alone.
pub struct NoJournal;

impl JournalLink for NoJournal {
    fn bound(&self) -> bool {
        false
    }
    async fn append(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn claim(&self, _: &str) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn tail(&self, _: Option<u64>) -> Result<String, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn status(&self) -> Result<String, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn shared(&self) -> Option<String> {
        None
    }
    async fn share(&self, _: &str, _: u64) {}
    async fn pause(&self, _: u64) {}
}

/// Something worth one log line, apart from any request's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// The journal could not be reached; requests read KV.
    JournalUnavailable {
        /// Since when (seconds since the epoch).
        since: u64,
    },
    /// The journal answers again.
    JournalAvailable {
        /// For how long it could not be reached, seconds.
        after_seconds: u64,
    },
}

impl Note {
    /// The log line.
    pub fn log_line(&self) -> Value {
        match self {
            Note::JournalUnavailable { since } => {
                json!({"event": "journal_unavailable", "since": since, "reads": "kv"})
            }
            Note::JournalAvailable { after_seconds } => {
                json!({"event": "journal_available", "after_seconds": after_seconds})
            }
        }
    }
}

#[derive(Default)]
struct Coordination {
    /// A sync is in flight.
    syncing: bool,
    /// No journal call before this (backing off after a failure).
    retry_at: u64,
    /// Out of reach since, while it is.
    down_since: Option<u64>,
    /// When `journal_unavailable` was last noted.
    noted_at: Option<u64>,
    notes: Vec<Note>,
}

/// What an isolate keeps to follow the journal.
pub struct Follower {
    mirror: Mirror,
    answers: Answers,
    /// `REVOCATION_SYNC_SECONDS`.
    sync: u64,
    /// `KV_PROPAGATION_SECONDS`.
    propagation: u64,
    coordination: RefCell<Coordination>,
}

/// The isolate's side of the admin status route.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FollowStatus {
    /// The mirror.
    #[serde(flatten)]
    pub mirror: MirrorStatus,
    /// KV answers kept for reuse.
    pub reusable_answers: usize,
    /// Since when the journal has been out of reach, if it is.
    pub unavailable_since: Option<u64>,
}

impl Follower {
    /// Follows with a mirror of at most `mirror_bytes` and reused answers of
    /// at most `answer_bytes`.
    pub fn new(sync: u64, propagation: u64, mirror_bytes: usize, answer_bytes: usize) -> Self {
        Follower {
            mirror: Mirror::new(mirror_bytes, propagation),
            answers: Answers::new(answer_bytes),
            sync,
            propagation,
            coordination: RefCell::default(),
        }
    }

    /// The mirror.
    pub fn mirror(&self) -> &Mirror {
        &self.mirror
    }

    /// Brings the mirror up to date if it is due, at `now`. True when the
    /// mirror is fresh: its KV answers may be reused and its entries are
    /// complete up to `sync` seconds ago. False when the journal cannot be
    /// reached: the request then reads KV as without a journal.
    pub async fn sync<J: JournalLink>(&self, link: &J, now: u64) -> bool {
        let mut waited = 0;
        loop {
            if self.mirror.is_fresh(now, self.sync) {
                return true;
            }
            let (syncing, retry_at) = {
                let c = self.coordination.borrow();
                (c.syncing, c.retry_at)
            };
            if now < retry_at {
                return false;
            }
            if syncing {
                if waited >= WAIT_LIMIT_MS {
                    return false;
                }
                link.pause(WAIT_STEP_MS).await;
                waited += WAIT_STEP_MS;
                continue;
            }
            self.coordination.borrow_mut().syncing = true;
            let guard = Syncing(self);
            let ok = self.fetch(link, now).await;
            drop(guard);
            self.outcome(ok, now);
            return ok && self.mirror.is_fresh(now, self.sync);
        }
    }

    /// One sync: the location's shared page if it is fresh and reaches this
    /// mirror, else the journal's latest page (shared afterwards), then
    /// pages after the cursor while the mirror is behind.
    async fn fetch<J: JournalLink>(&self, link: &J, now: u64) -> bool {
        if let Some(tail) = link.shared().await.and_then(|t| Tail::from_json(&t)) {
            let fresh = now.saturating_sub(tail.at) < self.sync;
            if fresh && self.mirror.apply(&tail, now) == Applied::Current {
                return true;
            }
        }
        let Ok(text) = link.tail(None).await else {
            return false;
        };
        let Some(tail) = Tail::from_json(&text) else {
            return false;
        };
        link.share(&text, self.sync).await;
        if self.mirror.apply(&tail, now) == Applied::Current {
            return true;
        }
        for _ in 0..MAX_PAGES {
            let Ok(text) = link.tail(Some(self.mirror.cursor())).await else {
                return false;
            };
            let Some(tail) = Tail::from_json(&text) else {
                return false;
            };
            match self.mirror.apply(&tail, now) {
                Applied::Current => return true,
                Applied::Behind => continue,
                Applied::Disconnected => return false,
            }
        }
        false
    }

    /// Records how a journal call went: backs off and notes an outage, or
    /// notes the recovery.
    fn outcome(&self, ok: bool, now: u64) {
        let mut c = self.coordination.borrow_mut();
        if ok {
            if let Some(since) = c.down_since.take() {
                let after_seconds = now.saturating_sub(since);
                c.notes.push(Note::JournalAvailable { after_seconds });
                c.noted_at = None;
            }
            return;
        }
        c.retry_at = now + self.sync;
        let since = *c.down_since.get_or_insert(now);
        let due = c
            .noted_at
            .is_none_or(|at| now.saturating_sub(at) >= UNAVAILABLE_LOG_SECONDS);
        if due {
            c.noted_at = Some(now);
            c.notes.push(Note::JournalUnavailable { since });
        }
    }

    /// Appends `change` to the journal at `now`. An error when the journal
    /// cannot be reached (or was not, moments ago): the caller then writes
    /// to KV directly.
    pub async fn append<J: JournalLink>(
        &self,
        link: &J,
        change: &Change,
        now: u64,
    ) -> Result<(), StoreError> {
        let text = change.to_value().to_string();
        self.write(now, link.append(&text)).await
    }

    /// Claims `change` (a revocation) at the journal at `now`: true when
    /// this call appended it, false when its name was revoked already. An
    /// error as for [`Follower::append`].
    pub async fn claim<J: JournalLink>(
        &self,
        link: &J,
        change: &Change,
        now: u64,
    ) -> Result<bool, StoreError> {
        let text = change.to_value().to_string();
        self.write(now, link.claim(&text)).await
    }

    /// A write to the journal at `now`: not tried while the journal is
    /// backed off; a failure backs it off.
    async fn write<T>(
        &self,
        now: u64,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if now < self.coordination.borrow().retry_at {
            return Err(StoreError::Unavailable);
        }
        let result = call.await;
        if result.is_err() {
            self.outcome(false, now);
        }
        result
    }

    /// The KV answer kept for this token, when the mirror (fresh, as
    /// [`Follower::sync`] just said) covers it and it is less than
    /// `KV_PROPAGATION_SECONDS` old at `now`.
    pub fn reusable(&self, id: &TokenId, names: Names<'_>, now: u64) -> Option<Found> {
        let (found, read_at) = self.answers.get(id, names)?;
        let young = now.saturating_sub(read_at) < self.propagation;
        (young && self.mirror.covers(read_at)).then_some(found)
    }

    /// Keeps a KV answer read at `read_at`, if the mirror covers it.
    pub fn remember(&self, id: &TokenId, names: Names<'_>, found: &Found, read_at: u64) {
        if self.mirror.covers(read_at) {
            self.answers.put(id, names, found, read_at);
        }
    }

    /// Log lines gathered since the last call.
    pub fn take_notes(&self) -> Vec<Note> {
        std::mem::take(&mut self.coordination.borrow_mut().notes)
    }

    /// The isolate's side of the status route, at `now`.
    pub fn status(&self, now: u64) -> FollowStatus {
        FollowStatus {
            mirror: self.mirror.status(now),
            reusable_answers: self.answers.len(),
            unavailable_since: self.coordination.borrow().down_since,
        }
    }
}

/// Ends the sync in flight when dropped, even if its request was cancelled.
struct Syncing<'a>(&'a Follower);

impl Drop for Syncing<'_> {
    fn drop(&mut self) {
        self.0.coordination.borrow_mut().syncing = false;
    }
}

#[cfg(test)]
mod tests {
    use super::super::journal::JournalStore;
    use super::super::memory::MemoryKv;
    use super::super::memory_journal::LocalJournal;
    use super::super::store::{Lifetimes, Revocations};
    use super::super::tests::{id, revoked_at as record};
    use super::super::RecentRevocations;
    use super::*;
    use crate::block_on;

    const S: u64 = 2;
    const P: u64 = 120;
    const LIFETIMES: Lifetimes = Lifetimes {
        leeway: 0,
        max_token_lifetime: 3_600,
    };

    fn follower() -> Follower {
        Follower::new(S, P, 1 << 20, 1 << 20)
    }

    /// One isolate's view at `now`: KV `kv`, following `journal`.
    fn view<'a>(
        kv: &'a MemoryKv,
        recent: &'a RecentRevocations,
        follower: &'a Follower,
        journal: &'a LocalJournal,
        now: u64,
    ) -> Revocations<'a, &'a MemoryKv, &'a LocalJournal> {
        journal.set_now(now);
        kv.set_now(now);
        Revocations::new(kv, recent, now, LIFETIMES).following(follower, journal)
    }

    #[test]
    fn a_revocation_elsewhere_is_enforced_within_the_sync_interval_without_kv() {
        let journal = LocalJournal::new(1000, P, LIFETIMES);
        // Two locations, each with its own KV that never sees the other's
        // writes, and one isolate each.
        let (kv_a, kv_b) = (MemoryKv::new(1000), MemoryKv::new(1000));
        let (recent_a, recent_b) = (RecentRevocations::new(8, 60), RecentRevocations::new(8, 60));
        let (a, b) = (follower(), follower());
        let t = id("t");
        let check = |now| {
            let store = view(&kv_b, &recent_b, &b, &journal, now);
            block_on(store.check(&t, Names::of(Some("alice"), None)))
                .unwrap()
                .record
        };
        assert_eq!(check(1000), None, "B has seen the token");
        let at_a = view(&kv_a, &recent_a, &a, &journal, 1000);
        block_on(at_a.revoke(&t, &record("t", 1000))).unwrap();
        assert!(kv_a.entries().is_empty(), "written to the journal, not KV");
        // B's mirror was synced at 1000 (before the append): still within S.
        assert_eq!(check(1001), None, "within the bound, B may not know yet");
        assert_eq!(
            check(1000 + S),
            Some(record("t", 1000)),
            "S seconds on: enforced"
        );
        assert!(kv_b.entries().is_empty(), "KV at B never had it");
        // A sees its own write at once.
        let at_a = view(&kv_a, &recent_a, &a, &journal, 1000);
        assert!(block_on(at_a.check(&t, Names::of(None, None)))
            .unwrap()
            .record
            .is_some());
    }

    #[test]
    fn a_repeated_token_reads_kv_once_while_the_mirror_covers_the_answer() {
        let journal = LocalJournal::new(1000, P, LIFETIMES);
        let kv = MemoryKv::new(1000);
        let recent = RecentRevocations::new(8, 60);
        let f = follower();
        let t = id("t");
        for now in 1000..1000 + P {
            let store = view(&kv, &recent, &f, &journal, now);
            assert_eq!(
                block_on(store.check(&t, Names::of(Some("alice"), Some("s")))).unwrap(),
                Found::default()
            );
        }
        assert_eq!(kv.reads().len(), 1, "one read in P seconds");
        // The answer is P seconds old: read again.
        let store = view(&kv, &recent, &f, &journal, 1000 + P);
        block_on(store.check(&t, Names::of(Some("alice"), Some("s")))).unwrap();
        assert_eq!(kv.reads().len(), 2);
        // One sync per interval, through the shared page mostly.
        assert!(
            journal.calls() <= (P / S) + 2,
            "{} journal calls",
            journal.calls()
        );
    }

    #[test]
    fn an_answer_read_before_the_horizon_is_read_again() {
        let journal = LocalJournal::new(990, P, LIFETIMES);
        let kv = MemoryKv::new(990);
        // Token x of alice is revoked, and KV takes it at 990.
        let (elsewhere, scratch, writer) =
            (MemoryKv::new(990), RecentRevocations::new(1, 1), follower());
        let other = view(&elsewhere, &scratch, &writer, &journal, 990);
        let x = id("x");
        block_on(other.revoke(&x, &record("x", 990))).unwrap();
        journal.flush(&kv);
        let recent = RecentRevocations::new(8, 60);
        let f = follower();
        let check = |now| {
            let store = view(&kv, &recent, &f, &journal, now);
            block_on(store.check(&x, Names::of(None, None)))
                .unwrap()
                .record
                .is_some()
        };
        // KV's answer at 1000 may not show x everywhere yet (990 + P is
        // later): the mirror, which holds x, does.
        assert!(check(1000));
        assert_eq!(kv.reads().len(), 1);
        assert!(check(990 + P - 1));
        assert_eq!(kv.reads().len(), 1, "covered: reused");
        // At 990 + P the journal drops x (horizon 990 + P): the answer read
        // at 1000 is no longer covered, and is read again.
        journal.set_now(990 + P);
        journal.flush(&kv);
        assert!(check(990 + P + S));
        assert_eq!(kv.reads().len(), 2, "read again");
        assert_eq!(f.mirror().status(990 + P + S).entries, 0);
    }

    #[test]
    fn concurrent_requests_share_one_sync_and_the_location_shares_its_page() {
        let journal = LocalJournal::new(1000, P, LIFETIMES);
        let kv = MemoryKv::new(1000);
        let recent = RecentRevocations::new(8, 60);
        // Three isolates of one location.
        let isolates = [follower(), follower(), follower()];
        for f in &isolates {
            let store = view(&kv, &recent, f, &journal, 1000);
            block_on(store.check(&id("t"), Names::of(None, None))).unwrap();
        }
        assert_eq!(
            journal.calls(),
            1,
            "the second and third read the shared page"
        );
        // The shared page lives S seconds: the next sync goes to the journal.
        for f in &isolates {
            let store = view(&kv, &recent, f, &journal, 1000 + S);
            block_on(store.check(&id("t"), Names::of(None, None))).unwrap();
        }
        assert_eq!(journal.calls(), 2);
    }

    #[test]
    fn a_second_request_waits_for_the_sync_in_flight_and_no_longer_than_its_limit() {
        let journal = LocalJournal::new(1000, P, LIFETIMES);
        let f = follower();
        // A sync in flight (another request holds it) that never ends: the
        // second request looks every WAIT_STEP_MS, never calls the journal
        // itself, and gives up after WAIT_LIMIT_MS (then reads KV).
        f.coordination.borrow_mut().syncing = true;
        assert!(!block_on(f.sync(&&journal, 1000)));
        assert_eq!(journal.pauses(), WAIT_LIMIT_MS / WAIT_STEP_MS);
        assert_eq!(journal.calls(), 0);
        // Once it ended, the next request syncs on its own.
        drop(Syncing(&f));
        assert!(block_on(f.sync(&&journal, 1000)));
        assert_eq!(journal.calls(), 1);
    }

    #[test]
    fn without_the_journal_every_request_reads_kv_and_writes_go_to_kv() {
        let journal = LocalJournal::new(1000, P, LIFETIMES);
        let kv = MemoryKv::new(1000);
        let recent = RecentRevocations::new(8, 60);
        let f = follower();
        let t = id("t");
        let store = view(&kv, &recent, &f, &journal, 1000);
        block_on(store.check(&t, Names::of(None, None))).unwrap();
        journal.set_down(true);
        for now in [1002, 1003, 1004, 1100] {
            let store = view(&kv, &recent, &f, &journal, now);
            assert_eq!(
                block_on(store.check(&t, Names::of(None, None)))
                    .unwrap()
                    .record,
                None
            );
        }
        assert_eq!(kv.reads().len(), 5, "every request read KV");
        let notes = f.take_notes();
        assert_eq!(
            notes,
            [
                Note::JournalUnavailable { since: 1002 },
                Note::JournalUnavailable { since: 1002 },
            ],
            "once a minute"
        );
        // A write while it is down goes to KV, and succeeds only there.
        let store = view(&kv, &recent, &f, &journal, 1100);
        block_on(store.revoke(&t, &record("t", 1100))).unwrap();
        assert!(kv.entries().contains_key("revoked:t"));
        kv.fail_writes(true);
        let store = view(&kv, &recent, &f, &journal, 1101);
        assert!(
            block_on(store.revoke(&id("u"), &record("u", 1101))).is_err(),
            "never a false success"
        );
        kv.fail_writes(false);
        // Back: it says so, and the journal takes writes again.
        journal.set_down(false);
        let store = view(&kv, &recent, &f, &journal, 1110);
        block_on(store.check(&t, Names::of(None, None))).unwrap();
        assert_eq!(
            f.take_notes(),
            [Note::JournalAvailable { after_seconds: 108 }]
        );
        block_on(store.revoke(&id("v"), &record("v", 1110))).unwrap();
        assert!(
            !kv.entries().contains_key("revoked:v"),
            "through the journal"
        );
        assert_eq!(journal.store().bounds().unwrap().pending, 1);
    }

    #[test]
    fn a_mirror_far_behind_pages_from_its_cursor() {
        use super::super::journal::TAIL_LIMIT;
        let journal = LocalJournal::new(1000, P, LIFETIMES);
        let kv = MemoryKv::new(1000);
        let recent = RecentRevocations::new(8, 60);
        let f = follower();
        view(&kv, &recent, &f, &journal, 1000);
        block_on(view(&kv, &recent, &f, &journal, 1000).check(&id("t"), Names::of(None, None)))
            .unwrap();
        let writer = follower();
        let scratch = RecentRevocations::new(1, 1);
        for n in 0..(TAIL_LIMIT + 5) {
            let w = view(&kv, &scratch, &writer, &journal, 1001);
            block_on(w.revoke(&id(&format!("t{n}")), &record("x", 1001))).unwrap();
        }
        let store = view(&kv, &recent, &f, &journal, 1003);
        assert!(block_on(store.check(&id("t0"), Names::of(None, None)))
            .unwrap()
            .record
            .is_some());
        assert_eq!(f.mirror().cursor(), (TAIL_LIMIT + 5) as u64);
    }

    #[test]
    fn an_older_cutoff_written_later_takes_nothing_back_here() {
        use super::super::{Cutoff, CutoffKind};
        let journal = LocalJournal::new(1000, P, LIFETIMES);
        let kv = MemoryKv::new(1000);
        let recent = RecentRevocations::new(8, 60);
        let f = follower();
        let t = id("t");
        let session = |at| Cutoff::all(CutoffKind::Session, "s-1", at, "idp".into(), "r".into());
        let store = view(&kv, &recent, &f, &journal, 1000);
        block_on(store.check(&t, Names::of(None, Some("s-1")))).unwrap();
        block_on(store.cut_off(session(990))).unwrap();
        block_on(store.cut_off(session(960))).unwrap();
        // Within the sync interval, before KV or the mirror has either.
        let found = block_on(store.check(&t, Names::of(None, Some("s-1")))).unwrap();
        assert_eq!(found.session.and_then(|c| c.cutoff), Some(990));
        let later = view(&kv, &recent, &f, &journal, 1000 + S);
        let found = block_on(later.check(&t, Names::of(None, Some("s-1")))).unwrap();
        assert_eq!(
            found.session.and_then(|c| c.cutoff),
            Some(990),
            "from the mirror too"
        );
    }

    #[test]
    fn no_journal_is_unbound_and_answers_nothing() {
        assert!(!NoJournal.bound());
        assert_eq!(
            block_on(NoJournal.append("{}")),
            Err(StoreError::Unavailable)
        );
        assert_eq!(block_on(NoJournal.tail(None)), Err(StoreError::Unavailable));
        assert_eq!(block_on(NoJournal.status()), Err(StoreError::Unavailable));
        assert_eq!(block_on(NoJournal.shared()), None);
    }

    #[test]
    fn after_a_failure_the_journal_is_left_alone_for_one_interval() {
        let journal = LocalJournal::new(1000, P, LIFETIMES);
        let f = follower();
        journal.set_down(true);
        assert!(!block_on(f.sync(&&journal, 1000)), "down: read KV");
        journal.set_down(false);
        let change = Change::Revoke {
            id: id("t"),
            record: record("t", 1000),
        };
        journal.set_now(1000 + S - 1);
        assert!(!block_on(f.sync(&&journal, 1000 + S - 1)), "backing off");
        assert_eq!(
            block_on(f.append(&&journal, &change, 1000 + S - 1)),
            Err(StoreError::Unavailable),
            "a write goes to KV meanwhile"
        );
        assert_eq!(journal.calls(), 0, "no call while backing off");
        journal.set_now(1000 + S);
        assert!(block_on(f.sync(&&journal, 1000 + S)), "tried again");
        assert_eq!(block_on(f.append(&&journal, &change, 1000 + S)), Ok(()));
        assert!(journal.calls() >= 2);
    }

    #[test]
    fn an_outage_is_noted_once_a_minute_and_its_end_once() {
        let journal = LocalJournal::new(1000, P, LIFETIMES);
        let f = follower();
        journal.set_down(true);
        let unavailable = |notes: &[Note]| {
            notes
                .iter()
                .filter(|n| matches!(n, Note::JournalUnavailable { .. }))
                .count()
        };
        let mut notes = Vec::new();
        for now in (1000..1000 + UNAVAILABLE_LOG_SECONDS).step_by(S as usize) {
            block_on(f.sync(&&journal, now));
            notes.extend(f.take_notes());
        }
        assert_eq!(notes, vec![Note::JournalUnavailable { since: 1000 }]);
        block_on(f.sync(&&journal, 1000 + UNAVAILABLE_LOG_SECONDS));
        assert_eq!(unavailable(&f.take_notes()), 1, "a minute on: again");
        journal.set_down(false);
        let back = 1000 + UNAVAILABLE_LOG_SECONDS + S;
        journal.set_now(back);
        assert!(block_on(f.sync(&&journal, back)));
        assert_eq!(
            f.take_notes(),
            vec![Note::JournalAvailable {
                after_seconds: UNAVAILABLE_LOG_SECONDS + S
            }]
        );
    }

    #[test]
    fn a_journal_clock_behind_by_the_interval_leaves_the_request_to_kv() {
        // The journal answers, but its page is as of S seconds before this
        // isolate's clock: the mirror is not fresh, so no answer is reused.
        let journal = LocalJournal::new(1000 - S, P, LIFETIMES);
        let f = follower();
        assert!(!block_on(f.sync(&&journal, 1000)));
        journal.set_now(1000 - S + 1);
        assert!(block_on(f.sync(&&journal, 1000)), "within the interval");
    }

    #[test]
    fn a_shared_page_the_interval_old_is_not_used() {
        let journal = LocalJournal::new(1000, P, LIFETIMES);
        let text = journal.journal().tail(None, 1000).unwrap().to_json();
        // Kept longer than its age allows, as a cache might.
        block_on((&journal).share(&text, 10 * S));
        let f = follower();
        journal.set_now(1000 + S - 1);
        assert!(block_on(f.sync(&&journal, 1000 + S - 1)));
        assert_eq!(journal.calls(), 0, "a fresh shared page is enough");
        let g = follower();
        journal.set_now(1000 + S);
        assert!(block_on(g.sync(&&journal, 1000 + S)));
        assert_eq!(
            journal.calls(),
            1,
            "an old one is not: the journal is asked"
        );
    }

    #[test]
    fn the_log_lines_say_what_happened() {
        assert_eq!(
            Note::JournalUnavailable { since: 5 }.log_line(),
            json!({"event": "journal_unavailable", "since": 5, "reads": "kv"})
        );
        assert_eq!(
            Note::JournalAvailable { after_seconds: 7 }.log_line(),
            json!({"event": "journal_available", "after_seconds": 7})
        );
    }
}

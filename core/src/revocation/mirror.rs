//! One isolate's copy of the revocation journal's tail ([`Mirror`]), and the
//! KV answers it lets the isolate reuse ([`Answers`]).
//!
//! ## The invariant
//! Write H for the journal's horizon: every entry the journal has dropped
//! was confirmed by KV at least `KV_PROPAGATION_SECONDS` (P) before H, so a
//! KV answer read at or after H reflects it at every location (see
//! [`super::journal`]). The mirror holds every entry the journal retained
//! when the mirror last synced, and the mirror's floor is at least the
//! latest H it was told. So for a KV answer read at `r`:
//!
//! > if `r ≥ floor`, the answer overlaid with the mirror reflects every
//! > journal entry up to the mirror's last sync.
//!
//! An entry dropped for lack of memory breaks the guarantee for answers read
//! before it is surely in KV: the floor then moves to `now + P`.
//!
//! Reuse is also capped at P seconds per answer, so a revocation written to
//! KV directly (when its writer could not reach the journal) is seen within
//! 2P at the latest.

use super::cutoff::{Cutoff, CutoffKind};
use super::journal::{Change, Tail};
use super::store::{Found, Names};
use super::Record;
use crate::token::TokenId;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

/// A token change held by the mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TokenChange {
    Revoke(Record),
    Restore(u64),
}

/// Which key an entry belongs to, and its size.
#[derive(Clone, Debug)]
struct Held {
    key: HeldKey,
    bytes: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum HeldKey {
    Token(TokenId),
    Cutoff(CutoffKind, String),
}

/// Bytes counted for an entry on top of its text.
const ENTRY_OVERHEAD: usize = 96;

/// What applying a tail did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The mirror is current as of the tail's time.
    Current,
    /// Applied, but the journal has more after the cursor: ask again.
    Behind,
    /// The tail starts after the cursor, and the entries between are still
    /// in the journal: ask the journal for what follows the cursor.
    Disconnected,
}

#[derive(Default)]
struct State {
    /// Every retained entry up to here is held.
    cursor: u64,
    /// The journal's time of the last tail that made the mirror current.
    synced_at: Option<u64>,
    /// KV answers read before this may miss an entry the mirror no longer
    /// holds.
    floor: u64,
    /// Applied at least one tail.
    started: bool,
    order: BTreeMap<u64, Held>,
    tokens: HashMap<TokenId, Vec<(u64, TokenChange)>>,
    cutoffs: HashMap<(CutoffKind, String), Vec<(u64, Cutoff)>>,
    bytes: usize,
}

impl State {
    fn insert(&mut self, seq: u64, change: &Change) {
        let (key, bytes) = match change {
            Change::Revoke { id, record } => {
                let bytes = id.as_str().len() + record_bytes(record);
                let list = self.tokens.entry(id.clone()).or_default();
                list.push((seq, TokenChange::Revoke(record.clone())));
                (HeldKey::Token(id.clone()), bytes)
            }
            Change::Restore { id, at } => {
                let list = self.tokens.entry(id.clone()).or_default();
                list.push((seq, TokenChange::Restore(*at)));
                (HeldKey::Token(id.clone()), id.as_str().len())
            }
            Change::CutOff(cutoff) => {
                let bytes = cutoff.name.len() * 2 + cutoff.by.len() + cutoff.route.len();
                let name = (cutoff.kind, cutoff.name.clone());
                self.cutoffs
                    .entry(name.clone())
                    .or_default()
                    .push((seq, cutoff.clone()));
                (HeldKey::Cutoff(name.0, name.1), bytes)
            }
        };
        let bytes = bytes + ENTRY_OVERHEAD;
        self.bytes += bytes;
        self.order.insert(seq, Held { key, bytes });
    }

    /// Drops the entry `seq`.
    fn remove(&mut self, seq: u64) {
        let Some(held) = self.order.remove(&seq) else {
            return;
        };
        self.bytes -= held.bytes;
        match held.key {
            HeldKey::Token(id) => {
                if let Some(list) = self.tokens.get_mut(&id) {
                    list.retain(|(s, _)| *s != seq);
                    if list.is_empty() {
                        self.tokens.remove(&id);
                    }
                }
            }
            HeldKey::Cutoff(kind, name) => {
                let key = (kind, name);
                if let Some(list) = self.cutoffs.get_mut(&key) {
                    list.retain(|(s, _)| *s != seq);
                    if list.is_empty() {
                        self.cutoffs.remove(&key);
                    }
                }
            }
        }
    }
}

fn record_bytes(record: &Record) -> usize {
    record.jti.len()
        + record.sub.as_ref().map_or(0, String::len)
        + record.reason.len()
        + record.by.len()
        + record.route.len()
}

/// One isolate's copy of the journal's tail; see the module docs.
pub struct Mirror {
    state: RefCell<State>,
    /// Most bytes held.
    budget: usize,
    /// `KV_PROPAGATION_SECONDS`.
    propagation: u64,
}

/// The mirror's state for the admin status route.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MirrorStatus {
    /// The last entry held.
    pub cursor: u64,
    /// Seconds since the journal answered the tail the mirror is current
    /// with; `None` before the first.
    pub age_seconds: Option<u64>,
    /// Entries held.
    pub entries: usize,
    /// Bytes held (estimated).
    pub bytes: usize,
    /// KV answers read before this are not reused.
    pub floor: u64,
}

impl Mirror {
    /// An empty mirror holding at most `budget` bytes, for a journal whose
    /// entries reach every location's KV within `propagation` seconds.
    pub fn new(budget: usize, propagation: u64) -> Mirror {
        Mirror {
            state: RefCell::default(),
            budget,
            propagation,
        }
    }

    /// The last entry held.
    pub fn cursor(&self) -> u64 {
        self.state.borrow().cursor
    }

    /// True while the tail the mirror is current with was answered less than
    /// `sync` seconds before `now` (both in whole seconds: the real age is
    /// then under `sync`).
    pub fn is_fresh(&self, now: u64, sync: u64) -> bool {
        let synced_at = self.state.borrow().synced_at;
        synced_at.is_some_and(|at| now.saturating_sub(at) < sync)
    }

    /// True when a KV answer read at `read_at`, overlaid with this mirror,
    /// reflects every journal entry up to the mirror's last sync.
    pub fn covers(&self, read_at: u64) -> bool {
        let state = self.state.borrow();
        state.started && read_at >= state.floor
    }

    /// Applies `tail` at `now`: drops what the journal dropped, adds what
    /// follows the cursor.
    pub fn apply(&self, tail: &Tail, now: u64) -> Applied {
        let mut state = self.state.borrow_mut();
        if tail.head < state.cursor {
            // A journal that starts again (its storage lost): forget what
            // this mirror holds, and trust no KV answer read before every
            // location's KV can have the lost entries.
            let floor = state.floor.max(now + self.propagation);
            *state = State {
                floor,
                ..State::default()
            };
        }
        // Entries before `from` are either held or gone from the journal,
        // where the horizon covers them.
        if tail.from > state.cursor + 1 && tail.from > tail.oldest {
            return Applied::Disconnected;
        }
        let dropped: Vec<u64> = state.order.range(..tail.oldest).map(|(s, _)| *s).collect();
        for seq in dropped {
            state.remove(seq);
        }
        state.floor = state.floor.max(tail.horizon);
        for entry in &tail.entries {
            if entry.seq > state.cursor && !state.order.contains_key(&entry.seq) {
                state.insert(entry.seq, &entry.change);
            }
        }
        state.cursor = state.cursor.max(tail.through);
        state.started = true;
        while state.bytes > self.budget {
            let Some((&seq, _)) = state.order.iter().next() else {
                break;
            };
            state.remove(seq);
            state.floor = state.floor.max(now + self.propagation);
        }
        if state.cursor >= tail.head {
            state.synced_at = state.synced_at.max(Some(tail.at));
            Applied::Current
        } else {
            Applied::Behind
        }
    }

    /// `stored` (KV's record of `id`) as the journal's entries for `id`
    /// change it. The last entry decides: a revocation stands; a restore
    /// hides a stored record revoked before it, or one the journal itself
    /// wrote earlier (the record it restored). A record revoked in the
    /// restore's second by another writer stays: never fail open.
    pub fn record(&self, id: &TokenId, stored: Option<Record>) -> Option<Record> {
        let state = self.state.borrow();
        let Some(list) = state.tokens.get(id) else {
            return stored;
        };
        match list.last() {
            None => stored,
            Some((_, TokenChange::Revoke(record))) => Some(record.clone()),
            Some((_, TokenChange::Restore(at))) => stored.filter(|record| {
                let ours = list
                    .iter()
                    .any(|(_, c)| matches!(c, TokenChange::Revoke(r) if r == record));
                record.revoked_at >= *at && !ours
            }),
        }
    }

    /// `stored` (KV's cutoff of `name`) merged with every cutoff of it the
    /// mirror holds.
    pub fn cutoff(&self, kind: CutoffKind, name: &str, stored: Option<Cutoff>) -> Option<Cutoff> {
        let state = self.state.borrow();
        let Some(list) = state.cutoffs.get(&(kind, name.to_owned())) else {
            return stored;
        };
        list.iter().fold(stored, |merged, (_, cutoff)| {
            Some(Cutoff::merge(merged, cutoff.clone()))
        })
    }

    /// The mirror's state at `now`.
    pub fn status(&self, now: u64) -> MirrorStatus {
        let state = self.state.borrow();
        MirrorStatus {
            cursor: state.cursor,
            age_seconds: state.synced_at.map(|at| now.saturating_sub(at)),
            entries: state.order.len(),
            bytes: state.bytes,
            floor: state.floor,
        }
    }
}

/// A KV answer about one token, kept for reuse.
#[derive(Clone, Debug)]
struct Answer {
    sub: Option<String>,
    sid: Option<String>,
    email: Option<String>,
    found: Found,
    read_at: u64,
    bytes: usize,
}

/// KV answers this isolate may reuse while the mirror covers them, bounded
/// in bytes: two generations, the older dropped whole when the newer is
/// full, so a lookup and an insert cost O(1).
pub struct Answers {
    current: RefCell<HashMap<TokenId, Answer>>,
    previous: RefCell<HashMap<TokenId, Answer>>,
    bytes: Cell<usize>,
    /// Most bytes per generation.
    budget: usize,
}

impl Answers {
    /// At most about `budget` bytes of answers (two generations of half).
    pub fn new(budget: usize) -> Answers {
        Answers {
            current: RefCell::default(),
            previous: RefCell::default(),
            bytes: Cell::new(0),
            budget: budget / 2,
        }
    }

    /// The answer read for `id` of `names`, and when it was read.
    pub fn get(&self, id: &TokenId, names: Names<'_>) -> Option<(Found, u64)> {
        let same = |a: &Answer| {
            a.sub.as_deref() == names.sub
                && a.sid.as_deref() == names.sid
                && a.email.as_deref() == names.email
        };
        if let Some(answer) = self.current.borrow().get(id).filter(|a| same(a)) {
            return Some((answer.found.clone(), answer.read_at));
        }
        let answer = self.previous.borrow_mut().remove(id).filter(same)?;
        let found = (answer.found.clone(), answer.read_at);
        self.insert(id.clone(), answer);
        Some(found)
    }

    /// Keeps `found`, read at `read_at`, for `id` of `names`.
    pub fn put(&self, id: &TokenId, names: Names<'_>, found: &Found, read_at: u64) {
        let Names { sub, sid, email } = names;
        let bytes = 128
            + id.as_str().len()
            + [sub, sid, email]
                .iter()
                .flatten()
                .map(|n| n.len())
                .sum::<usize>()
            + found.record.as_ref().map_or(0, record_bytes)
            + found
                .cutoffs()
                .iter()
                .filter_map(|c| c.as_ref())
                .map(|c| c.name.len() + c.by.len() + c.route.len() + 64)
                .sum::<usize>();
        let answer = Answer {
            sub: sub.map(str::to_owned),
            sid: sid.map(str::to_owned),
            email: email.map(str::to_owned),
            found: found.clone(),
            read_at,
            bytes,
        };
        self.insert(id.clone(), answer);
    }

    fn insert(&self, id: TokenId, answer: Answer) {
        if answer.bytes > self.budget {
            return;
        }
        if self.bytes.get() + answer.bytes > self.budget {
            let full = std::mem::take(&mut *self.current.borrow_mut());
            *self.previous.borrow_mut() = full;
            self.bytes.set(0);
        }
        self.bytes.set(self.bytes.get() + answer.bytes);
        if let Some(old) = self.current.borrow_mut().insert(id, answer) {
            self.bytes.set(self.bytes.get().saturating_sub(old.bytes));
        }
    }

    /// Estimated bytes of the newer generation (the older holds at most as
    /// many).
    pub fn bytes(&self) -> usize {
        self.bytes.get()
    }

    /// Answers kept (both generations).
    pub fn len(&self) -> usize {
        self.current.borrow().len() + self.previous.borrow().len()
    }

    /// True when none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::super::journal::Entry;
    use super::super::tests::{id, revoked_at as record};
    use super::*;

    const P: u64 = 120;

    fn revoke(jti: &str, at: u64) -> Change {
        Change::Revoke {
            id: id(jti),
            record: record(jti, at),
        }
    }

    fn cutoff(name: &str, at: u64) -> Cutoff {
        Cutoff::all(CutoffKind::Subject, name, at, "by".into(), "route".into())
    }

    /// A tail answered at `at`, with `oldest`, `horizon` and `head`, whose
    /// entries are `changes` numbered from `from` (through `head`).
    fn tail(
        at: u64,
        oldest: u64,
        horizon: u64,
        from: u64,
        head: u64,
        changes: Vec<Change>,
    ) -> Tail {
        let entries = changes
            .into_iter()
            .enumerate()
            .map(|(n, change)| Entry {
                seq: from + n as u64,
                at,
                change,
            })
            .collect();
        Tail {
            at,
            head,
            oldest,
            horizon,
            from,
            through: head,
            entries,
        }
    }

    #[test]
    fn freshness_is_measured_from_the_journals_answer() {
        let mirror = Mirror::new(1 << 20, P);
        assert!(!mirror.is_fresh(100, 2), "never synced");
        assert!(!mirror.covers(100), "never synced: nothing is covered");
        assert_eq!(
            mirror.apply(&tail(100, 1, 0, 1, 0, vec![]), 101),
            Applied::Current
        );
        assert!(mirror.is_fresh(100, 2));
        assert!(mirror.is_fresh(101, 2));
        assert!(!mirror.is_fresh(102, 2), "two whole seconds: due");
        assert!(!mirror.is_fresh(99, 0), "sync 0 is never fresh");
        // An older shared copy applied later does not make it younger.
        mirror.apply(&tail(90, 1, 0, 1, 0, vec![]), 101);
        assert_eq!(mirror.status(101).age_seconds, Some(1));
    }

    #[test]
    fn entries_apply_once_and_in_order() {
        let mirror = Mirror::new(1 << 20, P);
        let t = id("t");
        let first = tail(100, 1, 0, 1, 2, vec![revoke("t", 100), revoke("u", 100)]);
        assert_eq!(mirror.apply(&first, 100), Applied::Current);
        assert_eq!(mirror.record(&t, None), Some(record("t", 100)));
        // The same entries again (a shared copy) change nothing.
        mirror.apply(&first, 100);
        assert_eq!(mirror.status(100).entries, 2);
        // A restore after them.
        let restore = Change::Restore {
            id: t.clone(),
            at: 101,
        };
        mirror.apply(&tail(101, 1, 0, 3, 3, vec![restore]), 101);
        assert_eq!(mirror.record(&t, None), None);
        assert_eq!(mirror.cursor(), 3);
    }

    #[test]
    fn a_restore_hides_only_the_record_it_restored() {
        let mirror = Mirror::new(1 << 20, P);
        let t = id("t");
        let changes = vec![
            revoke("t", 100),
            Change::Restore {
                id: t.clone(),
                at: 100,
            },
        ];
        mirror.apply(&tail(100, 1, 0, 1, 2, changes), 100);
        // KV still holds the journal's own record, in the restore's second.
        assert_eq!(mirror.record(&t, Some(record("t", 100))), None);
        // An older stored record is hidden too.
        assert_eq!(mirror.record(&t, Some(record("t", 99))), None);
        // Another writer's record in the same second, or later, stays.
        let other = Record {
            by: "admin".into(),
            ..record("t", 100)
        };
        assert_eq!(mirror.record(&t, Some(other.clone())), Some(other));
        assert_eq!(
            mirror.record(&t, Some(record("t", 101))),
            Some(record("t", 101))
        );
        // A token the journal does not know: KV decides.
        assert_eq!(
            mirror.record(&id("x"), Some(record("x", 5))),
            Some(record("x", 5))
        );
    }

    #[test]
    fn cutoffs_merge_with_kv_and_with_each_other() {
        let mirror = Mirror::new(1 << 20, P);
        let changes = vec![
            Change::CutOff(cutoff("alice", 100)),
            Change::CutOff(cutoff("alice", 90)),
        ];
        mirror.apply(&tail(100, 1, 0, 1, 2, changes), 100);
        let merged = mirror.cutoff(CutoffKind::Subject, "alice", Some(cutoff("alice", 50)));
        assert_eq!(merged.and_then(|c| c.cutoff), Some(100));
        let stored_later = mirror.cutoff(CutoffKind::Subject, "alice", Some(cutoff("alice", 150)));
        assert_eq!(stored_later.and_then(|c| c.cutoff), Some(150));
        assert_eq!(
            mirror.cutoff(CutoffKind::Session, "alice", None),
            None,
            "another kind"
        );
        assert_eq!(mirror.cutoff(CutoffKind::Subject, "bob", None), None);
    }

    #[test]
    fn every_string_an_entry_holds_counts_towards_its_bytes() {
        let bytes = |change: Change| {
            let mirror = Mirror::new(1 << 20, P);
            mirror.apply(&tail(100, 1, 0, 1, 1, vec![change]), 100);
            mirror.status(100).bytes
        };
        let r = record("abc", 100);
        let strings = r.jti.len()
            + r.sub.as_deref().map_or(0, str::len)
            + r.reason.len()
            + r.by.len()
            + r.route.len();
        assert!(r.sub.is_some() && !r.reason.is_empty() && !r.route.is_empty());
        assert_eq!(bytes(revoke("abc", 100)), ENTRY_OVERHEAD + 3 + strings);
        let restore = Change::Restore {
            id: id("abcd"),
            at: 100,
        };
        assert_eq!(bytes(restore), ENTRY_OVERHEAD + 4);
        // The name twice (the map's key and the cutoff), "by", "route".
        let held = bytes(Change::CutOff(cutoff("alice", 100)));
        assert_eq!(held, ENTRY_OVERHEAD + 2 * 5 + 2 + 5);
    }

    #[test]
    fn an_entry_dropped_leaves_the_later_ones_of_its_key() {
        let mirror = Mirror::new(1 << 20, P);
        let changes = vec![
            Change::CutOff(cutoff("alice", 90)),
            revoke("t", 90),
            Change::CutOff(cutoff("alice", 100)),
            revoke("t", 100),
        ];
        mirror.apply(&tail(100, 1, 0, 1, 4, changes), 100);
        // The journal let the first two go (KV has them everywhere).
        mirror.apply(&tail(101, 3, 90, 5, 4, vec![]), 101);
        assert_eq!(mirror.status(101).entries, 2);
        let held = mirror.cutoff(CutoffKind::Subject, "alice", None);
        assert_eq!(held.and_then(|c| c.cutoff), Some(100));
        let held = mirror.record(&id("t"), None);
        assert_eq!(held.map(|r| r.revoked_at), Some(100));
    }

    #[test]
    fn a_page_that_does_not_reach_the_cursor_is_not_applied() {
        let mirror = Mirror::new(1 << 20, P);
        mirror.apply(&tail(100, 1, 0, 1, 1, vec![revoke("a", 100)]), 100);
        // Entries 2..=4 are still in the journal; the page starts at 5.
        let page = tail(101, 1, 0, 5, 5, vec![revoke("e", 101)]);
        assert_eq!(mirror.apply(&page, 101), Applied::Disconnected);
        assert_eq!(mirror.cursor(), 1);
        assert_eq!(mirror.status(101).entries, 1);
        // Dropped from the journal instead: the horizon covers them.
        let page = tail(101, 5, 90, 5, 5, vec![revoke("e", 101)]);
        assert_eq!(mirror.apply(&page, 101), Applied::Current);
        assert_eq!(mirror.cursor(), 5);
        assert_eq!(
            mirror.status(101).entries,
            1,
            "entry 1 left with the journal's"
        );
        assert!(mirror.covers(90) && !mirror.covers(89), "floor = horizon");
    }

    #[test]
    fn a_page_short_of_the_head_leaves_the_mirror_behind() {
        let mirror = Mirror::new(1 << 20, P);
        let mut page = tail(100, 1, 0, 1, 9, vec![revoke("a", 100), revoke("b", 100)]);
        page.through = 2;
        assert_eq!(mirror.apply(&page, 100), Applied::Behind);
        assert_eq!(mirror.cursor(), 2);
        assert!(!mirror.is_fresh(100, 2), "not current");
    }

    #[test]
    fn the_floor_only_rises() {
        let mirror = Mirror::new(1 << 20, P);
        mirror.apply(&tail(100, 1, 80, 1, 0, vec![]), 100);
        mirror.apply(&tail(101, 1, 70, 1, 0, vec![]), 101);
        assert_eq!(mirror.status(101).floor, 80);
        assert!(mirror.covers(80) && !mirror.covers(79));
    }

    #[test]
    fn over_budget_the_oldest_entries_go_and_old_answers_stop_counting() {
        let one = ENTRY_OVERHEAD + 1 + record_bytes(&record("a", 0));
        let mirror = Mirror::new(2 * one, P);
        let changes = vec![revoke("a", 100), revoke("b", 100), revoke("c", 100)];
        mirror.apply(&tail(100, 1, 0, 1, 3, changes), 1000);
        let status = mirror.status(1000);
        assert_eq!((status.entries, status.bytes), (2, 2 * one));
        assert_eq!(mirror.record(&id("a"), None), None, "dropped");
        assert!(mirror.record(&id("c"), None).is_some());
        assert_eq!(
            status.floor,
            1000 + P,
            "KV answers read before then may miss a"
        );
        assert!(!mirror.covers(1000 + P - 1));
    }

    #[test]
    fn a_journal_that_starts_again_empties_the_mirror() {
        let mirror = Mirror::new(1 << 20, P);
        mirror.apply(
            &tail(
                100,
                1,
                0,
                1,
                3,
                vec![revoke("a", 1), revoke("b", 1), revoke("c", 1)],
            ),
            100,
        );
        assert_eq!(
            mirror.apply(&tail(200, 1, 0, 1, 1, vec![revoke("z", 2)]), 200),
            Applied::Current
        );
        assert_eq!(mirror.cursor(), 1);
        assert_eq!(mirror.record(&id("a"), None), None);
        assert!(mirror.record(&id("z"), None).is_some());
        assert_eq!(mirror.status(200).floor, 200 + P);
    }

    #[test]
    fn an_answer_counts_every_string_it_holds() {
        let r = record("tok", 1);
        let strings = r.jti.len()
            + r.sub.as_deref().map_or(0, str::len)
            + r.reason.len()
            + r.by.len()
            + r.route.len();
        let found = Found {
            record: Some(r),
            subject: Some(cutoff("alice", 5)),
            session: Some(Cutoff::all(
                CutoffKind::Session,
                "sess",
                5,
                "b".into(),
                "rt".into(),
            )),
            email: Some(Cutoff::all(
                CutoffKind::Email,
                "a@b.c",
                5,
                "idp".into(),
                "r".into(),
            )),
        };
        let answers = Answers::new(1 << 20);
        assert!(answers.is_empty());
        let names = Names {
            sub: Some("alice"),
            sid: Some("sess"),
            email: Some("a@b.c"),
        };
        answers.put(&id("tok"), names, &found, 10);
        assert_eq!(answers.len(), 1);
        assert!(!answers.is_empty());
        // 128 + the ID, sub, sid and email + the record's strings + each
        // cutoff's name, by and route plus 64.
        let cutoffs = (5 + 2 + 5 + 64) + (4 + 1 + 2 + 64) + (5 + 3 + 1 + 64);
        assert_eq!(answers.bytes(), 128 + 3 + 5 + 4 + 5 + strings + cutoffs);
        assert!(answers.get(&id("tok"), names).is_some());
        let no_email = Names::of(Some("alice"), Some("sess"));
        assert!(
            answers.get(&id("tok"), no_email).is_none(),
            "another holder"
        );
    }

    #[test]
    fn a_generation_rolls_over_only_past_its_budget() {
        // Answers of one size s; each generation holds exactly two.
        let s = 128 + 2;
        let answers = Answers::new(2 * (2 * s));
        let put = |name: &str| answers.put(&id(name), Names::of(None, None), &Found::default(), 1);
        put("aa");
        put("bb");
        assert_eq!(answers.bytes(), 2 * s, "both fit: no roll yet");
        put("cc");
        assert_eq!(answers.bytes(), s, "a third rolls the generation");
        assert_eq!(answers.len(), 3);
        for name in ["aa", "bb", "cc"] {
            assert!(
                answers.get(&id(name), Names::of(None, None)).is_some(),
                "{name}"
            );
        }
        let exact = Answers::new(2 * s);
        exact.put(&id("aa"), Names::default(), &Found::default(), 1);
        assert_eq!(exact.len(), 1, "an answer of exactly the budget is kept");
    }

    #[test]
    fn an_entry_dropped_for_room_does_not_come_back_with_a_page_sent_again() {
        let mirror = Mirror::new(1, P);
        let page = tail(100, 1, 0, 1, 1, vec![revoke("a", 100)]);
        mirror.apply(&page, 1000);
        assert_eq!(mirror.status(1000).floor, 1000 + P);
        mirror.apply(&page, 1010);
        assert_eq!(
            mirror.status(1010).floor,
            1000 + P,
            "nothing inserted again"
        );
        let mirror = Mirror::new(ENTRY_OVERHEAD + 1 + record_bytes(&record("a", 0)), P);
        let page = tail(100, 1, 0, 1, 2, vec![revoke("a", 100), revoke("b", 100)]);
        mirror.apply(&page, 1000);
        mirror.apply(&page, 1010);
        assert_eq!(mirror.status(1010).floor, 1000 + P, "nor the older one");
    }

    #[test]
    fn answers_are_bounded_and_match_the_whole_token() {
        let found = Found {
            record: Some(record("t", 1)),
            ..Found::default()
        };
        let answers = Answers::new(8 * 1024);
        answers.put(&id("t"), Names::of(Some("alice"), Some("s")), &found, 10);
        assert_eq!(
            answers.get(&id("t"), Names::of(Some("alice"), Some("s"))),
            Some((found.clone(), 10))
        );
        assert_eq!(
            answers.get(&id("t"), Names::of(Some("alice"), None)),
            None,
            "another session"
        );
        assert_eq!(
            answers.get(&id("t"), Names::of(Some("bob"), Some("s"))),
            None
        );
        for n in 0..10_000 {
            answers.put(
                &id(&format!("x{n}")),
                Names::default(),
                &Found::default(),
                10,
            );
        }
        assert!(answers.len() < 150, "{} answers kept", answers.len());
        // The newest stay; a read of the older generation moves it up.
        assert!(answers.get(&id("x9999"), Names::of(None, None)).is_some());
        assert!(answers
            .get(&id("t"), Names::of(Some("alice"), Some("s")))
            .is_none());
        let tiny = Answers::new(64);
        tiny.put(&id("t"), Names::default(), &Found::default(), 1);
        assert!(
            tiny.is_empty(),
            "an answer bigger than the budget is not kept"
        );
    }
}

//! The revocation journal: one strongly consistent, ordered log of every
//! revocation, kept by a Durable Object (`RevocationJournal`, SQLite) that
//! every isolate at every location follows ([`super::mirror`]). Workers KV
//! stays the store of record: the journal carries each entry to KV itself,
//! retrying until KV takes it, and forgets it only when every location's KV
//! shows it.
//!
//! This module is the journal's side, over a [`JournalStore`] (the object's
//! SQLite tables in the worker, `MemoryJournal` in tests):
//!
//! - [`Journal::append`] numbers a [`Change`] (1, 2, …) and keeps it. A
//!   success answer to the client comes only after this.
//! - [`Journal::flush`] (from the object's alarm) writes every pending entry
//!   to KV, one write per key with everything retained for that key merged
//!   in, and confirms it only once KV has taken it. A refused or failed
//!   write is retried later; nothing is dropped.
//! - [`Journal::tail`] answers a mirror: the entries after its cursor, the
//!   journal's head, its oldest retained entry and its horizon.
//!
//! ## Retention, and what the horizon promises
//! An entry is dropped only when KV confirmed it at least
//! `KV_PROPAGATION_SECONDS` (P) ago: by then every location's KV answers
//! with it, read caches included. The horizon H is the latest
//! `confirmed + P` of every dropped entry, so **a KV answer read at or after
//! H reflects every entry the journal no longer holds**. A mirror holds every
//! retained entry; the two together are complete.

use super::cutoff::{Cutoff, CutoffKind};
use super::kv::Kv;
use super::stored;
use super::{expires_at, store_key, Lifetimes, Record};
use crate::error::StoreError;
use crate::token::TokenId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long an isolate waits for one call to the journal (an append, a
/// tail) before it counts the journal as unavailable for this request.
pub const CALL_TIMEOUT_MS: u64 = 1_000;
/// Most entries in one tail answer; a mirror further behind asks again.
pub const TAIL_LIMIT: usize = 1_000;
/// Most pending entries one flush takes on.
pub const FLUSH_LIMIT: usize = 200;
/// Waits before a flush that failed is tried again, by consecutive failure:
/// a little over KV's one write per second per key, then longer while KV
/// keeps refusing. The last one repeats.
pub const RETRY_MS: [u64; 6] = [1_100, 2_000, 4_000, 8_000, 15_000, 30_000];

/// One change to the revocations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A token revoked: `revoked:<id>` holds `record`.
    Revoke {
        /// The token.
        id: TokenId,
        /// What is stored.
        record: Record,
    },
    /// A token restored at `at`: `revoked:<id>` removed.
    Restore {
        /// The token.
        id: TokenId,
        /// When, seconds since the epoch.
        at: u64,
    },
    /// A cutoff, merged into the stored one of its name.
    CutOff(Cutoff),
}

/// A change as the journal stores and sends it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Wire {
    Revoke { id: String, record: Record },
    Restore { id: String, at: u64 },
    Cutoff { kind: String, cutoff: Value },
}

impl Change {
    /// The store key this change writes.
    pub fn key(&self) -> String {
        match self {
            Change::Revoke { id, .. } | Change::Restore { id, .. } => store_key(id),
            Change::CutOff(cutoff) => cutoff.key(),
        }
    }

    /// The change as JSON.
    pub fn to_value(&self) -> Value {
        let wire = match self {
            Change::Revoke { id, record } => Wire::Revoke {
                id: id.to_string(),
                record: record.clone(),
            },
            Change::Restore { id, at } => Wire::Restore {
                id: id.to_string(),
                at: *at,
            },
            Change::CutOff(cutoff) => Wire::Cutoff {
                kind: cutoff.kind.as_str().into(),
                cutoff: serde_json::to_value(cutoff).unwrap_or(Value::Null),
            },
        };
        serde_json::to_value(wire).unwrap_or(Value::Null)
    }

    /// Reads a change from its JSON; `None` for anything else.
    pub fn from_value(value: Value) -> Option<Change> {
        let id = |id: String| TokenId::from_reference(&id);
        Some(match serde_json::from_value(value).ok()? {
            Wire::Revoke { id: i, record } => Change::Revoke { id: id(i)?, record },
            Wire::Restore { id: i, at } => Change::Restore { id: id(i)?, at },
            Wire::Cutoff { kind, cutoff } => {
                let kind = CutoffKind::ALL.into_iter().find(|k| k.as_str() == kind)?;
                Change::CutOff(Cutoff::from_value(kind, cutoff)?)
            }
        })
    }
}

/// One journal entry: a change and its place in the order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its sequence number: 1 for the first entry ever, one more each time.
    pub seq: u64,
    /// When it was appended, seconds since the epoch (the journal's clock).
    pub at: u64,
    /// What changed.
    pub change: Change,
}

/// An entry as a [`JournalStore`] keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// Sequence number.
    pub seq: u64,
    /// Appended at, seconds since the epoch.
    pub at: u64,
    /// The store key it writes ([`Change::key`]).
    pub key: String,
    /// The change as JSON text.
    pub change: String,
    /// When KV took it, once it did.
    pub confirmed: Option<u64>,
}

/// The journal's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bounds {
    /// The last sequence number handed out (0 before the first append).
    pub head: u64,
    /// The oldest retained entry's sequence number; `head + 1` when none is.
    pub oldest: u64,
    /// Entries KV has not confirmed yet.
    pub pending: u64,
    /// When the oldest of those was appended.
    pub oldest_pending_at: Option<u64>,
    /// The horizon: see the module docs.
    pub horizon: u64,
    /// Consecutive failed flushes.
    pub failures: u64,
}

/// The journal's storage: SQLite tables in the Durable Object. Every call
/// is synchronous and each is atomic; the object runs one at a time.
pub trait JournalStore {
    /// Keeps a new entry with the next sequence number, and returns it.
    fn append(&self, at: u64, key: &str, change: &str) -> Result<u64, StoreError>;
    /// At most `limit` entries with a sequence number above `seq`, in order.
    fn after(&self, seq: u64, limit: usize) -> Result<Vec<StoredEntry>, StoreError>;
    /// At most `limit` entries KV has not confirmed, oldest first.
    fn pending(&self, limit: usize) -> Result<Vec<StoredEntry>, StoreError>;
    /// Every retained entry of `key`, in order.
    fn of_key(&self, key: &str) -> Result<Vec<StoredEntry>, StoreError>;
    /// Marks the entries of `key` up to `through` as confirmed by KV at `at`.
    fn confirm(&self, key: &str, through: u64, at: u64) -> Result<(), StoreError>;
    /// Drops every entry confirmed at or before `at`; returns the latest
    /// confirmation time among them, if any was dropped.
    fn drop_confirmed(&self, at: u64) -> Result<Option<u64>, StoreError>;
    /// The earliest confirmation time among retained entries.
    fn first_confirmed(&self) -> Result<Option<u64>, StoreError>;
    /// The counters (`horizon` and `failures` as last set).
    fn bounds(&self) -> Result<Bounds, StoreError>;
    /// Sets the horizon and the count of consecutive failed flushes.
    fn set_progress(&self, horizon: u64, failures: u64) -> Result<(), StoreError>;
}

/// What a mirror receives: entries after its cursor, or the latest ones,
/// and the journal's state when it answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tail {
    /// The journal's clock when it answered, seconds since the epoch.
    pub at: u64,
    /// The last sequence number handed out.
    pub head: u64,
    /// The oldest retained entry's sequence number (`head + 1`: none).
    pub oldest: u64,
    /// See the module docs: KV answers read at or after it reflect every
    /// dropped entry.
    pub horizon: u64,
    /// The tail speaks for every retained entry from this sequence number…
    pub from: u64,
    /// …through this one: those it holds are all of them there are (an
    /// entry this version cannot read is left out).
    pub through: u64,
    /// Entries in order.
    pub entries: Vec<Entry>,
}

impl Tail {
    /// The tail as JSON text (what the object answers, and what a location
    /// shares through the Cache API).
    pub fn to_json(&self) -> String {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|e| serde_json::json!({"seq": e.seq, "at": e.at, "change": e.change.to_value()}))
            .collect();
        serde_json::json!({
            "at": self.at,
            "head": self.head,
            "oldest": self.oldest,
            "horizon": self.horizon,
            "from": self.from,
            "through": self.through,
            "entries": entries,
        })
        .to_string()
    }

    /// Reads a tail from its JSON text. `None` when it is not one: its
    /// range outside `oldest..=head`, or entries out of order or outside
    /// its range. An entry this version cannot read is left out: the
    /// journal still carries it to KV.
    pub fn from_json(text: &str) -> Option<Tail> {
        #[derive(Deserialize)]
        struct WireTail {
            at: u64,
            head: u64,
            oldest: u64,
            horizon: u64,
            from: u64,
            through: u64,
            entries: Vec<WireEntry>,
        }
        #[derive(Deserialize)]
        struct WireEntry {
            seq: u64,
            at: u64,
            change: Value,
        }
        let wire: WireTail = serde_json::from_str(text).ok()?;
        let seqs = wire.entries.iter().map(|e| e.seq);
        let ordered = seqs.clone().zip(seqs.skip(1)).all(|(a, b)| b > a);
        let inside = wire
            .entries
            .iter()
            .all(|e| (wire.from..=wire.through).contains(&e.seq));
        let range =
            wire.oldest <= wire.from && wire.through <= wire.head && wire.oldest <= wire.head + 1;
        if !ordered || !inside || !range {
            return None;
        }
        let entries = wire
            .entries
            .into_iter()
            .filter_map(|e| {
                Some(Entry {
                    seq: e.seq,
                    at: e.at,
                    change: Change::from_value(e.change)?,
                })
            })
            .collect();
        Some(Tail {
            at: wire.at,
            head: wire.head,
            oldest: wire.oldest,
            horizon: wire.horizon,
            from: wire.from,
            through: wire.through,
            entries,
        })
    }
}

/// What one flush did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Keys written (or found already current) and confirmed.
    pub written: usize,
    /// Keys whose write failed; their entries stay pending.
    pub failed: usize,
    /// Entries dropped after their retention.
    pub dropped: u64,
    /// When the object's alarm should run next (milliseconds since the
    /// epoch), if anything is left to do.
    pub next_alarm_ms: Option<u64>,
}

/// The journal's state for the admin status route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The last sequence number handed out.
    pub head: u64,
    /// The oldest retained entry's sequence number.
    pub oldest: u64,
    /// Entries retained.
    pub retained: u64,
    /// Entries KV has not confirmed yet (the KV backlog).
    pub kv_backlog: u64,
    /// Age of the oldest of those, seconds.
    pub kv_backlog_age_seconds: Option<u64>,
    /// See the module docs.
    pub horizon: u64,
    /// Consecutive failed flushes.
    pub failed_flushes: u64,
}

/// The journal over its storage, with the retention and expiry rules.
pub struct Journal<'a, S> {
    store: &'a S,
    /// `KV_PROPAGATION_SECONDS`.
    propagation: u64,
    lifetimes: Lifetimes,
}

impl<'a, S: JournalStore> Journal<'a, S> {
    /// The journal kept in `store`.
    pub fn new(store: &'a S, propagation: u64, lifetimes: Lifetimes) -> Self {
        Journal {
            store,
            propagation,
            lifetimes,
        }
    }

    /// Keeps `change` at `now` (seconds) and returns its entry. The object
    /// then runs its alarm at once, which carries the entry to KV.
    pub fn append(&self, change: Change, now: u64) -> Result<Entry, StoreError> {
        let text = change.to_value().to_string();
        let seq = self.store.append(now, &change.key(), &text)?;
        Ok(Entry {
            seq,
            at: now,
            change,
        })
    }

    /// Keeps the revocation of `id` at `now` unless `id` is revoked already:
    /// put-if-absent for a single-use name. `None` when taken. The object
    /// decides alone, so of two claims of one name one wins, whatever
    /// location sent them:
    ///
    /// - a retained entry of the name whose latest entry revokes (or cannot
    ///   be read: it counts as a revocation, as in KV) means taken;
    /// - else `kv` is read: an entry no longer retained is there (the
    ///   object read it after dropping the entry, so after the horizon);
    /// - the retained entries are looked at again after that wait, and the
    ///   entry appended with no wait between: another claim may have been
    ///   taken meanwhile.
    pub async fn claim<K: Kv>(
        &self,
        kv: &K,
        id: &TokenId,
        record: &Record,
        now: u64,
    ) -> Result<Option<Entry>, StoreError> {
        let key = store_key(id);
        if self.taken(&key)? {
            return Ok(None);
        }
        if kv
            .get_many(std::slice::from_ref(&key))
            .await?
            .pop()
            .flatten()
            .is_some()
        {
            return Ok(None);
        }
        if self.taken(&key)? {
            return Ok(None);
        }
        let change = Change::Revoke {
            id: id.clone(),
            record: record.clone(),
        };
        self.append(change, now).map(Some)
    }

    /// True when the latest retained entry of `key` revokes, or cannot be
    /// read.
    fn taken(&self, key: &str) -> Result<bool, StoreError> {
        let Some(latest) = self.store.of_key(key)?.pop() else {
            return Ok(false);
        };
        let change = serde_json::from_str(&latest.change)
            .ok()
            .and_then(Change::from_value);
        Ok(change.is_none_or(|change| matches!(change, Change::Revoke { .. })))
    }

    /// The entries after `after` (at most [`TAIL_LIMIT`]), or with `None`
    /// the latest [`TAIL_LIMIT`] (the page a location shares), at `now`.
    pub fn tail(&self, after: Option<u64>, now: u64) -> Result<Tail, StoreError> {
        let bounds = self.store.bounds()?;
        let after = after.unwrap_or(bounds.head.saturating_sub(TAIL_LIMIT as u64));
        let raw = self.store.after(after, TAIL_LIMIT)?;
        let through = match raw.last() {
            Some(last) if raw.len() == TAIL_LIMIT => last.seq,
            _ => bounds.head,
        };
        let entries = raw
            .into_iter()
            .filter_map(|e| {
                let value = serde_json::from_str(&e.change).ok()?;
                Some(Entry {
                    seq: e.seq,
                    at: e.at,
                    change: Change::from_value(value)?,
                })
            })
            .collect();
        Ok(Tail {
            at: now,
            head: bounds.head,
            oldest: bounds.oldest,
            horizon: bounds.horizon,
            from: (after + 1).max(bounds.oldest).min(through + 1),
            through,
            entries,
        })
    }

    /// Carries pending entries to `kv` and drops entries past their
    /// retention, at `now_ms` (milliseconds since the epoch). One write per
    /// key: its value merges every retained entry of the key with what KV
    /// holds, so neither an earlier entry nor another writer's value is
    /// lost. A key is confirmed only when KV took the write.
    pub async fn flush<K: Kv>(&self, kv: &K, now_ms: u64) -> Result<Flushed, StoreError> {
        let now = now_ms / 1000;
        let mut flushed = Flushed::default();
        let pending = self.store.pending(FLUSH_LIMIT)?;
        let mut keys: Vec<(String, u64)> = Vec::new();
        for entry in &pending {
            match keys.iter_mut().find(|(key, _)| *key == entry.key) {
                Some((_, through)) => *through = entry.seq,
                None => keys.push((entry.key.clone(), entry.seq)),
            }
        }
        for (key, through) in keys {
            let entries = self.store.of_key(&key)?;
            match self.write(kv, &key, &entries, now).await {
                Ok(()) => {
                    self.store.confirm(&key, through, now)?;
                    flushed.written += 1;
                }
                Err(_) => flushed.failed += 1,
            }
        }
        let bounds = self.store.bounds()?;
        let mut horizon = bounds.horizon;
        if let Some(cut) = now.checked_sub(self.propagation) {
            if let Some(latest) = self.store.drop_confirmed(cut)? {
                horizon = horizon.max(latest + self.propagation);
            }
        }
        let failures = if flushed.failed > 0 {
            bounds.failures + 1
        } else {
            0
        };
        self.store.set_progress(horizon, failures)?;
        let after = self.store.bounds()?;
        flushed.dropped = after.oldest - bounds.oldest;
        flushed.next_alarm_ms = self.next_alarm_ms(&after, now_ms)?;
        Ok(flushed)
    }

    /// When the alarm must run again: soon while entries are pending (at
    /// once if the last flush left more than it could take, after
    /// [`RETRY_MS`] if it failed), else when the first confirmed entry's
    /// retention ends; never when the journal is empty.
    fn next_alarm_ms(&self, bounds: &Bounds, now_ms: u64) -> Result<Option<u64>, StoreError> {
        if bounds.pending > 0 {
            let wait = match bounds.failures {
                0 => 0,
                n => RETRY_MS[(n as usize - 1).min(RETRY_MS.len() - 1)],
            };
            return Ok(Some(now_ms + wait));
        }
        let first = self.store.first_confirmed()?;
        Ok(first.map(|at| (at + self.propagation + 1) * 1000))
    }

    /// The journal's state, at `now`.
    pub fn status(&self, now: u64) -> Result<Status, StoreError> {
        let b = self.store.bounds()?;
        Ok(Status {
            head: b.head,
            oldest: b.oldest,
            retained: b.head + 1 - b.oldest,
            kv_backlog: b.pending,
            kv_backlog_age_seconds: b.oldest_pending_at.map(|at| now.saturating_sub(at)),
            horizon: b.horizon,
            failed_flushes: b.failures,
        })
    }

    /// Writes the value `entries` (every retained entry of `key`) give it.
    async fn write<K: Kv>(
        &self,
        kv: &K,
        key: &str,
        entries: &[StoredEntry],
        now: u64,
    ) -> Result<(), StoreError> {
        let changes: Vec<Change> = entries
            .iter()
            .filter_map(|e| Change::from_value(serde_json::from_str(&e.change).ok()?))
            .collect();
        let Lifetimes {
            leeway,
            max_token_lifetime,
        } = self.lifetimes;
        // Tokens: the last change wins. Cutoffs: all of them merge.
        match changes.last() {
            None => Ok(()),
            Some(Change::Revoke { record, .. }) => {
                let until = expires_at(record.exp, leeway, max_token_lifetime, now);
                let (value, metadata) = stored::record_entry(record)?;
                kv.put(key, &value, until, &metadata).await
            }
            Some(Change::Restore { id, at }) => {
                // A record written after the restore, or in its second (by a
                // writer that could not reach the journal), stays: a
                // revocation never loses, and a tie is not known to be older.
                let stored = kv.get_many(&[key.to_owned()]).await?.pop().flatten();
                let later = stored
                    .map(|s| stored::read_record(id, &s))
                    .filter(|r| r.revoked_at >= *at && !journal_revoked(&changes, r));
                match later {
                    Some(_) => Ok(()),
                    None => kv.delete(key).await,
                }
            }
            Some(Change::CutOff(last)) => {
                let ours = changes
                    .iter()
                    .filter_map(|c| match c {
                        Change::CutOff(cutoff) => Some(cutoff.clone()),
                        _ => None,
                    })
                    .reduce(|merged, next| Cutoff::merge(Some(merged), next))
                    .unwrap_or_else(|| last.clone());
                let stored = kv.get_many(&[key.to_owned()]).await?.pop().flatten();
                let stored = stored.map(|s| stored::read_cutoff(last.kind, &last.name, &s));
                stored::put_merged(kv, key, stored, ours, self.lifetimes, now)
                    .await
                    .map(|_| ())
            }
        }
    }
}

/// True when `record` is one the journal itself wrote for this key.
fn journal_revoked(changes: &[Change], record: &Record) -> bool {
    changes
        .iter()
        .any(|c| matches!(c, Change::Revoke { record: r, .. } if r == record))
}

#[cfg(test)]
mod tests {
    use super::super::memory::MemoryKv;
    use super::super::memory_journal::MemoryJournal;
    use super::super::tests::{id, revoked_at as record};
    use super::*;
    use crate::block_on;

    const LIFETIMES: Lifetimes = Lifetimes {
        leeway: 0,
        max_token_lifetime: 3_600,
    };
    const P: u64 = 120;

    fn revoke(jti: &str, at: u64) -> Change {
        Change::Revoke {
            id: id(jti),
            record: record(jti, at),
        }
    }

    fn subject(at: u64) -> Change {
        Change::CutOff(Cutoff::all(
            CutoffKind::Subject,
            "alice",
            at,
            "alice".into(),
            "DELETE /api/tokens".into(),
        ))
    }

    #[test]
    fn changes_round_trip_through_json() {
        let others = Cutoff::others("bob", 50, &id("keep"), Some(40), "bob".into(), "r".into());
        let session = Cutoff::all(CutoffKind::Session, "s-1", 9, "idp".into(), "r".into());
        for change in [
            revoke("t", 10),
            Change::Restore {
                id: id("t"),
                at: 11,
            },
            subject(12),
            Change::CutOff(others),
            Change::CutOff(session),
        ] {
            assert_eq!(Change::from_value(change.to_value()), Some(change.clone()));
        }
        assert_eq!(Change::from_value(serde_json::json!({"grant": {}})), None);
        let bad_kind = serde_json::json!({"cutoff": {"kind": "tenant", "cutoff": {}}});
        assert_eq!(Change::from_value(bad_kind), None);
    }

    #[test]
    fn a_claim_is_appended_only_while_its_name_is_not_revoked() {
        let store = MemoryJournal::default();
        let journal = Journal::new(&store, P, LIFETIMES);
        let kv = MemoryKv::new(100);
        let claim = |name: &str, at: u64| {
            block_on(journal.claim(&kv, &id(name), &record(name, at), at)).map(|e| e.map(|e| e.seq))
        };
        assert_eq!(claim("a", 100).unwrap(), Some(1));
        assert_eq!(claim("a", 101).unwrap(), None, "taken");
        assert_eq!(claim("b", 101).unwrap(), Some(2));
        // A restore after the revocation frees the name again.
        let restore = Change::Restore {
            id: id("a"),
            at: 102,
        };
        journal.append(restore, 102).unwrap();
        assert_eq!(claim("a", 103).unwrap(), Some(4));
        // An entry no longer retained is found in KV.
        kv.put_raw(
            "revoked:c",
            r#"{"jti":"c","revoked_at":90,"reason":"assertion_used","by":"x","route":"r"}"#,
        );
        assert_eq!(claim("c", 104).unwrap(), None);
        // An entry this version cannot read counts as taken.
        store.append(105, "revoked:d", "{\"grant\":{}}").unwrap();
        assert_eq!(claim("d", 105).unwrap(), None);
        assert_eq!(
            journal.tail(None, 106).unwrap().head,
            5,
            "nothing else kept"
        );
        // KV down: no answer.
        kv.fail_reads(true);
        assert!(claim("e", 106).is_err());
    }

    /// KV whose reads wait one poll first.
    struct Slow<'a>(&'a MemoryKv);

    impl Kv for Slow<'_> {
        async fn get_many(
            &self,
            keys: &[String],
        ) -> Result<Vec<Option<super::super::stored::Stored>>, StoreError> {
            let mut waited = false;
            std::future::poll_fn(|cx| {
                if std::mem::replace(&mut waited, true) {
                    return std::task::Poll::Ready(());
                }
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            })
            .await;
            self.0.get_many(keys).await
        }
        async fn put(&self, k: &str, v: &str, e: u64, m: &str) -> Result<(), StoreError> {
            self.0.put(k, v, e, m).await
        }
        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.0.delete(key).await
        }
        async fn list(&self, p: &str, c: Option<&str>, l: usize) -> Result<String, StoreError> {
            self.0.list(p, c, l).await
        }
        async fn sleep(&self, _: u64) {}
    }

    /// Two claims of one name whose KV reads are in flight together (the
    /// object takes the second request while the first waits): one wins.
    #[test]
    fn of_two_claims_in_flight_together_one_wins() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        let store = MemoryJournal::default();
        let journal = Journal::new(&store, P, LIFETIMES);
        let memory = MemoryKv::new(100);
        let kv = Slow(&memory);
        let (name, record) = (id("a"), record("a", 100));
        let mut first = std::pin::pin!(journal.claim(&kv, &name, &record, 100));
        let mut second = std::pin::pin!(journal.claim(&kv, &name, &record, 100));
        let mut cx = Context::from_waker(Waker::noop());
        let (mut a, mut b) = (None, None);
        while a.is_none() || b.is_none() {
            if a.is_none() {
                if let Poll::Ready(done) = first.as_mut().poll(&mut cx) {
                    a = Some(done.unwrap().map(|e| e.seq));
                }
            }
            if b.is_none() {
                if let Poll::Ready(done) = second.as_mut().poll(&mut cx) {
                    b = Some(done.unwrap().map(|e| e.seq));
                }
            }
        }
        assert_eq!((a, b), (Some(Some(1)), Some(None)));
    }

    #[test]
    fn appends_are_numbered_in_order_and_the_tail_follows_a_cursor() {
        let store = MemoryJournal::default();
        let journal = Journal::new(&store, P, LIFETIMES);
        for n in 1..=5 {
            let entry = journal
                .append(revoke(&format!("t{n}"), 100 + n), 100 + n)
                .unwrap();
            assert_eq!(entry.seq, n);
        }
        let tail = journal.tail(Some(2), 200).unwrap();
        assert_eq!(
            tail.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(
            (tail.at, tail.head, tail.oldest, tail.from, tail.through),
            (200, 5, 1, 3, 5)
        );
        let latest = journal.tail(None, 200).unwrap();
        assert_eq!(
            (latest.from, latest.through, latest.entries.len()),
            (1, 5, 5)
        );
        let round = Tail::from_json(&latest.to_json()).unwrap();
        assert_eq!(round, latest);
        let empty = Journal::new(&MemoryJournal::default(), P, LIFETIMES)
            .tail(None, 1)
            .unwrap();
        assert_eq!(
            (empty.head, empty.oldest, empty.from, empty.through),
            (0, 1, 1, 0)
        );
    }

    #[test]
    fn a_long_journal_is_paged() {
        let store = MemoryJournal::default();
        let journal = Journal::new(&store, P, LIFETIMES);
        let total = TAIL_LIMIT as u64 + 10;
        for n in 0..total {
            journal.append(revoke(&format!("t{n}"), 1), 1).unwrap();
        }
        let first = journal.tail(Some(0), 2).unwrap();
        assert_eq!((first.from, first.through), (1, TAIL_LIMIT as u64));
        let next = journal.tail(Some(first.through), 2).unwrap();
        assert_eq!(
            (next.from, next.through, next.entries.len()),
            (TAIL_LIMIT as u64 + 1, total, 10)
        );
        let latest = journal.tail(None, 2).unwrap();
        assert_eq!((latest.from, latest.through), (11, total));
    }

    #[test]
    fn tails_that_lie_about_their_range_are_refused() {
        let store = MemoryJournal::default();
        let journal = Journal::new(&store, P, LIFETIMES);
        journal.append(revoke("a", 1), 1).unwrap();
        journal.append(revoke("b", 1), 1).unwrap();
        let good = journal.tail(Some(0), 5).unwrap();
        let mut bad = good.clone();
        bad.entries.reverse();
        assert_eq!(Tail::from_json(&bad.to_json()), None, "out of order");
        let mut bad = good.clone();
        bad.through = 1;
        assert_eq!(
            Tail::from_json(&bad.to_json()),
            None,
            "an entry past through"
        );
        let mut bad = good.clone();
        bad.head = 1;
        assert_eq!(Tail::from_json(&bad.to_json()), None, "through past head");
        let mut bad = good.clone();
        bad.oldest = 2;
        assert_eq!(Tail::from_json(&bad.to_json()), None, "from before oldest");
        let mut bad = good.clone();
        bad.entries[1].seq = bad.entries[0].seq;
        assert_eq!(Tail::from_json(&bad.to_json()), None, "a number twice");
        assert_eq!(Tail::from_json("{}"), None);
        // An entry this version cannot read is left out, the rest kept.
        let text = good.to_json().replace("\"revoke\"", "\"grant\"");
        let skipped = Tail::from_json(&text).unwrap();
        assert!(skipped.entries.is_empty());
        assert_eq!((skipped.from, skipped.through), (1, 2));
    }

    #[test]
    fn a_flush_writes_each_key_once_and_confirms_only_what_kv_took() {
        let store = MemoryJournal::default();
        let journal = Journal::new(&store, P, LIFETIMES);
        let kv = MemoryKv::new(1000);
        journal.append(subject(990), 1000).unwrap();
        journal.append(revoke("t", 1000), 1000).unwrap();
        journal.append(subject(1000), 1000).unwrap();
        kv.fail_writes(true);
        let failed = block_on(journal.flush(&kv, 1_000_000)).unwrap();
        assert_eq!((failed.written, failed.failed), (0, 2));
        assert_eq!(failed.next_alarm_ms, Some(1_000_000 + RETRY_MS[0]));
        assert_eq!(store.bounds().unwrap().pending, 3, "nothing is lost");
        // Still failing: the wait grows, up to its last value.
        for n in 1..8 {
            let again = block_on(journal.flush(&kv, 1_000_000)).unwrap();
            let wait = RETRY_MS[n.min(RETRY_MS.len() - 1)];
            assert_eq!(again.next_alarm_ms, Some(1_000_000 + wait));
        }
        kv.fail_writes(false);
        let done = block_on(journal.flush(&kv, 1_001_000)).unwrap();
        assert_eq!((done.written, done.failed), (2, 0));
        assert_eq!(
            store.bounds().unwrap(),
            Bounds {
                head: 3,
                oldest: 1,
                pending: 0,
                oldest_pending_at: None,
                horizon: 0,
                failures: 0,
            }
        );
        // The cutoff written is both merged; the record is the record.
        assert_eq!(kv.cutoffs()["subject:alice"].0.cutoff, Some(1000));
        assert_eq!(kv.entries()["revoked:t"].0, record("t", 1000));
        // The alarm comes back when the first retention ends.
        assert_eq!(done.next_alarm_ms, Some((1001 + P + 1) * 1000));
    }

    #[test]
    fn entries_leave_only_after_kv_took_them_and_their_retention_passed() {
        let store = MemoryJournal::default();
        let journal = Journal::new(&store, P, LIFETIMES);
        let kv = MemoryKv::new(1000);
        journal.append(revoke("a", 1000), 1000).unwrap();
        kv.fail_writes(true);
        // KV refuses for far longer than the retention: the entry stays.
        for now in [1000, 1100, 1200, 1500] {
            block_on(journal.flush(&kv, now * 1000)).unwrap();
            assert_eq!(store.bounds().unwrap().oldest, 1, "kept at {now}");
        }
        kv.fail_writes(false);
        block_on(journal.flush(&kv, 1600 * 1000)).unwrap();
        for now in [1600, 1600 + P - 1] {
            block_on(journal.flush(&kv, now * 1000)).unwrap();
            assert_eq!(store.bounds().unwrap().oldest, 1, "kept at {now}");
        }
        let gone = block_on(journal.flush(&kv, (1600 + P) * 1000)).unwrap();
        assert_eq!(gone.dropped, 1);
        let bounds = store.bounds().unwrap();
        assert_eq!((bounds.oldest, bounds.head), (2, 1));
        assert_eq!(bounds.horizon, 1600 + P, "KV everywhere has it from here");
        assert_eq!(gone.next_alarm_ms, None, "nothing left to do");
        let status = journal.status(1800).unwrap();
        assert_eq!(
            (status.retained, status.kv_backlog, status.horizon),
            (0, 0, 1600 + P)
        );
    }

    #[test]
    fn a_restore_removes_only_the_revocation_it_restores() {
        let store = MemoryJournal::default();
        let journal = Journal::new(&store, P, LIFETIMES);
        let kv = MemoryKv::new(1000);
        journal.append(revoke("t", 1000), 1000).unwrap();
        block_on(journal.flush(&kv, 1_000_000)).unwrap();
        journal
            .append(
                Change::Restore {
                    id: id("t"),
                    at: 1000,
                },
                1000,
            )
            .unwrap();
        block_on(journal.flush(&kv, 1_002_000)).unwrap();
        assert!(
            kv.entries().is_empty(),
            "the journal's own record, same second"
        );
        // A revocation written straight to KV after the restore stays.
        journal.append(revoke("u", 1000), 1000).unwrap();
        journal
            .append(
                Change::Restore {
                    id: id("u"),
                    at: 1001,
                },
                1001,
            )
            .unwrap();
        let (value, metadata) = stored::record_entry(&record("u", 1002)).unwrap();
        block_on(kv.put("revoked:u", &value, 5000, &metadata)).unwrap();
        block_on(journal.flush(&kv, 1_003_000)).unwrap();
        assert_eq!(kv.entries()["revoked:u"].0.revoked_at, 1002);
        assert_eq!(store.bounds().unwrap().pending, 0);
        // Straight to KV in the restore's own second: it stays too; from
        // before the restore: the restore removes it.
        for (jti, revoked_at, stays) in [("v", 1010, true), ("w", 1009, false)] {
            let (value, metadata) = stored::record_entry(&record(jti, revoked_at)).unwrap();
            block_on(kv.put(&format!("revoked:{jti}"), &value, 5000, &metadata)).unwrap();
            let restore = Change::Restore {
                id: id(jti),
                at: 1010,
            };
            journal.append(restore, 1010).unwrap();
            block_on(journal.flush(&kv, 1_011_000)).unwrap();
            let key = format!("revoked:{jti}");
            assert_eq!(kv.entries().contains_key(&key), stays, "{jti}");
        }
    }

    #[test]
    fn a_cutoff_flush_merges_with_what_kv_holds_and_with_every_retained_entry() {
        let store = MemoryJournal::default();
        let journal = Journal::new(&store, P, LIFETIMES);
        let kv = MemoryKv::new(1000);
        // Another writer (without the journal) set a later cutoff.
        kv.insert_cutoff(
            &Cutoff::all(CutoffKind::Subject, "alice", 1050, "x".into(), "y".into()),
            9_999,
        );
        journal.append(subject(1000), 1000).unwrap();
        block_on(journal.flush(&kv, 1_001_000)).unwrap();
        assert_eq!(kv.cutoffs()["subject:alice"].0.cutoff, Some(1050));
        // An exemption appended later, then KV loses the merged value (a
        // stale read cache): the flush merges every retained entry again.
        let keep = Cutoff::others(
            "alice",
            1100,
            &id("k"),
            Some(1090),
            "alice".into(),
            "r".into(),
        );
        journal.append(Change::CutOff(keep), 1100).unwrap();
        block_on(kv.delete("subject:alice")).unwrap();
        block_on(journal.flush(&kv, 1_101_000)).unwrap();
        let merged = &kv.cutoffs()["subject:alice"].0;
        assert_eq!(merged.cutoff, Some(1000), "the retained entry, not lost");
        assert_eq!(merged.others.as_ref().map(|o| o.cutoff), Some(1100));
    }
}

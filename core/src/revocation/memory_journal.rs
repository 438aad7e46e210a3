//! The revocation journal in memory, for tests and the native benchmark (the
//! `test-support` feature): [`MemoryJournal`] keeps entries as the Durable
//! Object's SQLite tables do, and [`LocalJournal`] is a whole journal, with
//! its clock and a location's shared cache, that isolates reach through
//! [`JournalLink`] as the worker reaches the object.

use super::follow::JournalLink;
use super::journal::{Bounds, Change, Journal, JournalStore, StoredEntry};
use super::memory::MemoryKv;
use super::store::Lifetimes;
use crate::error::StoreError;
use std::cell::{Cell, RefCell};

/// Journal entries and counters in memory.
#[derive(Default)]
pub struct MemoryJournal {
    entries: RefCell<Vec<StoredEntry>>,
    head: Cell<u64>,
    horizon: Cell<u64>,
    failures: Cell<u64>,
}

impl JournalStore for MemoryJournal {
    fn append(&self, at: u64, key: &str, change: &str) -> Result<u64, StoreError> {
        let seq = self.head.get() + 1;
        self.head.set(seq);
        self.entries.borrow_mut().push(StoredEntry {
            seq,
            at,
            key: key.to_owned(),
            change: change.to_owned(),
            confirmed: None,
        });
        Ok(seq)
    }

    fn after(&self, seq: u64, limit: usize) -> Result<Vec<StoredEntry>, StoreError> {
        let entries = self.entries.borrow();
        Ok(entries
            .iter()
            .filter(|e| e.seq > seq)
            .take(limit)
            .cloned()
            .collect())
    }

    fn pending(&self, limit: usize) -> Result<Vec<StoredEntry>, StoreError> {
        let entries = self.entries.borrow();
        Ok(entries
            .iter()
            .filter(|e| e.confirmed.is_none())
            .take(limit)
            .cloned()
            .collect())
    }

    fn of_key(&self, key: &str) -> Result<Vec<StoredEntry>, StoreError> {
        let entries = self.entries.borrow();
        Ok(entries.iter().filter(|e| e.key == key).cloned().collect())
    }

    fn confirm(&self, key: &str, through: u64, at: u64) -> Result<(), StoreError> {
        for e in self.entries.borrow_mut().iter_mut() {
            if e.key == key && e.seq <= through && e.confirmed.is_none() {
                e.confirmed = Some(at);
            }
        }
        Ok(())
    }

    fn drop_confirmed(&self, at: u64) -> Result<Option<u64>, StoreError> {
        let mut latest = None;
        self.entries.borrow_mut().retain(|e| match e.confirmed {
            Some(confirmed) if confirmed <= at => {
                latest = latest.max(Some(confirmed));
                false
            }
            _ => true,
        });
        Ok(latest)
    }

    fn first_confirmed(&self) -> Result<Option<u64>, StoreError> {
        let entries = self.entries.borrow();
        Ok(entries.iter().filter_map(|e| e.confirmed).min())
    }

    fn bounds(&self) -> Result<Bounds, StoreError> {
        let entries = self.entries.borrow();
        let head = self.head.get();
        let pending: Vec<&StoredEntry> = entries.iter().filter(|e| e.confirmed.is_none()).collect();
        Ok(Bounds {
            head,
            oldest: entries.first().map_or(head + 1, |e| e.seq),
            pending: pending.len() as u64,
            oldest_pending_at: pending.first().map(|e| e.at),
            horizon: self.horizon.get(),
            failures: self.failures.get(),
        })
    }

    fn set_progress(&self, horizon: u64, failures: u64) -> Result<(), StoreError> {
        self.horizon.set(horizon);
        self.failures.set(failures);
        Ok(())
    }
}

/// A whole journal in memory: its entries, its clock, whether it answers,
/// and one location's shared cache of the latest page. Every isolate of a
/// test reaches it through `&LocalJournal` (a [`JournalLink`]); the test
/// flushes it to a KV by hand ([`LocalJournal::flush`]).
pub struct LocalJournal {
    store: MemoryJournal,
    /// `KV_PROPAGATION_SECONDS`.
    pub propagation: u64,
    /// How long the tokens revocations name can live.
    pub lifetimes: Lifetimes,
    now: Cell<u64>,
    down: Cell<bool>,
    shared: RefCell<Option<(String, u64)>>,
    calls: Cell<u64>,
    pauses: Cell<u64>,
    home: MemoryKv,
}

impl LocalJournal {
    /// An empty journal whose clock reads `now`.
    pub fn new(now: u64, propagation: u64, lifetimes: Lifetimes) -> LocalJournal {
        LocalJournal {
            store: MemoryJournal::default(),
            propagation,
            lifetimes,
            now: Cell::new(now),
            down: Cell::new(false),
            shared: RefCell::default(),
            calls: Cell::new(0),
            pauses: Cell::new(0),
            home: MemoryKv::new(now),
        }
    }

    /// The journal over its entries.
    pub fn journal(&self) -> Journal<'_, MemoryJournal> {
        Journal::new(&self.store, self.propagation, self.lifetimes)
    }

    /// Moves the journal's clock.
    pub fn set_now(&self, now: u64) {
        self.now.set(now);
        self.home.set_now(now);
    }

    /// The KV of the object's own location, which a claim reads for entries
    /// no longer retained (a test flushes there to stand for it).
    pub fn home(&self) -> &MemoryKv {
        &self.home
    }

    /// Makes every call fail (or answer again).
    pub fn set_down(&self, down: bool) {
        self.down.set(down);
    }

    /// Calls that reached the journal (appends, tails, status).
    pub fn calls(&self) -> u64 {
        self.calls.get()
    }

    /// Pauses of requests waiting for another's sync.
    pub fn pauses(&self) -> u64 {
        self.pauses.get()
    }

    /// The stored entries.
    pub fn store(&self) -> &MemoryJournal {
        &self.store
    }

    /// Runs the object's alarm once: carries pending entries to `kv`.
    pub fn flush<K: super::Kv>(&self, kv: &K) -> super::journal::Flushed {
        crate::block_on(self.journal().flush(kv, self.now.get() * 1000)).expect("memory journal")
    }

    fn reach(&self) -> Result<(), StoreError> {
        if self.down.get() {
            return Err(StoreError::Unavailable);
        }
        self.calls.set(self.calls.get() + 1);
        Ok(())
    }
}

/// A change as the object reads it from a call's body.
fn parse(change: &str) -> Result<Change, StoreError> {
    let value = serde_json::from_str(change).map_err(|_| StoreError::Unavailable)?;
    Change::from_value(value).ok_or(StoreError::Unavailable)
}

impl JournalLink for &LocalJournal {
    fn bound(&self) -> bool {
        true
    }

    async fn append(&self, change: &str) -> Result<(), StoreError> {
        self.reach()?;
        let change = parse(change)?;
        self.journal().append(change, self.now.get()).map(|_| ())
    }

    async fn claim(&self, change: &str) -> Result<bool, StoreError> {
        self.reach()?;
        let Change::Revoke { id, record } = parse(change)? else {
            return Err(StoreError::Unavailable);
        };
        let journal = self.journal();
        let entry = journal
            .claim(&self.home, &id, &record, self.now.get())
            .await?;
        Ok(entry.is_some())
    }

    async fn tail(&self, after: Option<u64>) -> Result<String, StoreError> {
        self.reach()?;
        Ok(self.journal().tail(after, self.now.get())?.to_json())
    }

    async fn status(&self) -> Result<String, StoreError> {
        self.reach()?;
        let status = self.journal().status(self.now.get())?;
        Ok(serde_json::to_string(&status).unwrap_or_default())
    }

    async fn shared(&self) -> Option<String> {
        let shared = self.shared.borrow();
        let (text, until) = shared.as_ref()?;
        (self.now.get() < *until).then(|| text.clone())
    }

    async fn share(&self, tail: &str, seconds: u64) {
        *self.shared.borrow_mut() = Some((tail.to_owned(), self.now.get() + seconds));
    }

    async fn pause(&self, _ms: u64) {
        self.pauses.set(self.pauses.get() + 1);
    }
}

/// A journal that may be bound or not, for tests that run either way.
impl JournalLink for Option<&LocalJournal> {
    fn bound(&self) -> bool {
        self.is_some()
    }
    async fn append(&self, change: &str) -> Result<(), StoreError> {
        match self {
            Some(journal) => journal.append(change).await,
            None => Err(StoreError::Unavailable),
        }
    }
    async fn claim(&self, change: &str) -> Result<bool, StoreError> {
        match self {
            Some(journal) => journal.claim(change).await,
            None => Err(StoreError::Unavailable),
        }
    }
    async fn tail(&self, after: Option<u64>) -> Result<String, StoreError> {
        match self {
            Some(journal) => journal.tail(after).await,
            None => Err(StoreError::Unavailable),
        }
    }
    async fn status(&self) -> Result<String, StoreError> {
        match self {
            Some(journal) => journal.status().await,
            None => Err(StoreError::Unavailable),
        }
    }
    async fn shared(&self) -> Option<String> {
        match self {
            Some(journal) => journal.shared().await,
            None => None,
        }
    }
    async fn share(&self, tail: &str, seconds: u64) {
        if let Some(journal) = self {
            journal.share(tail, seconds).await;
        }
    }
    async fn pause(&self, ms: u64) {
        if let Some(journal) = self {
            journal.pause(ms).await;
        }
    }
}

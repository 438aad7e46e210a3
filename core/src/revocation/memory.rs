//! [`MemoryKv`]: a key-value store in memory, with expiry by its own clock,
//! for tests, fuzzing and the native benchmark (the `test-support`
//! feature). It answers as Workers KV does: a bulk read in key order,
//! values over [`MAX_VALUE_BYTES`] not copied, `list()` as KV's JSON.

use super::stored::{self, Stored, MAX_VALUE_BYTES};
use super::{Cutoff, CutoffKind, Kv, Record, KEY_PREFIX};
use crate::error::StoreError;
use crate::token::TokenId;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// One stored entry.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    value: String,
    metadata: Option<String>,
    expires_at: Option<u64>,
}

/// An in-memory store with expiry. Failures can be switched on, to test that
/// the worker fails closed; every bulk read is recorded.
#[derive(Default)]
pub struct MemoryKv {
    entries: RefCell<BTreeMap<String, Entry>>,
    /// Current time for expiry, seconds since the epoch.
    now: Cell<u64>,
    fail_reads: Cell<bool>,
    fail_writes: Cell<bool>,
    reads: RefCell<Vec<Vec<String>>>,
}

impl MemoryKv {
    /// An empty store whose clock reads `now`.
    pub fn new(now: u64) -> MemoryKv {
        let kv = MemoryKv::default();
        kv.now.set(now);
        kv
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

    /// Stores `value` at `key` as it is, with no expiry: a value this
    /// worker did not write.
    pub fn put_raw(&self, key: &str, value: &str) {
        let entry = Entry {
            value: value.to_owned(),
            metadata: None,
            expires_at: None,
        };
        self.entries.borrow_mut().insert(key.to_owned(), entry);
    }

    /// The keys of every bulk read so far, one list per read.
    pub fn reads(&self) -> Vec<Vec<String>> {
        self.reads.borrow().clone()
    }

    /// Live entries under `prefix`: key → (value, expires_at).
    fn live(&self, prefix: &str) -> BTreeMap<String, (String, Option<u64>)> {
        let now = self.now.get();
        self.entries
            .borrow()
            .iter()
            .filter(|(key, entry)| key.starts_with(prefix) && entry.is_live(now))
            .map(|(key, entry)| (key.clone(), (entry.value.clone(), entry.expires_at)))
            .collect()
    }

    /// Live revocation records: key → (record, expires_at).
    pub fn entries(&self) -> BTreeMap<String, (Record, u64)> {
        self.live(KEY_PREFIX)
            .into_iter()
            .map(|(key, (value, expires))| {
                let id = TokenId::from_reference(key.trim_start_matches(KEY_PREFIX));
                let record = match id {
                    Some(id) => stored::read_record(&id, &Stored::Text(value)),
                    None => Record::unreadable(key.clone()),
                };
                (key, (record, expires.unwrap_or(u64::MAX)))
            })
            .collect()
    }

    /// Live subject cutoffs: key → (cutoff, expires_at).
    pub fn cutoffs(&self) -> BTreeMap<String, (Cutoff, u64)> {
        self.cutoffs_of(CutoffKind::Subject)
    }

    /// Live session cutoffs: key → (cutoff, expires_at).
    pub fn sessions(&self) -> BTreeMap<String, (Cutoff, u64)> {
        self.cutoffs_of(CutoffKind::Session)
    }

    /// Stores `cutoff` until `expires_at` as the worker writes it: another
    /// isolate's write, for a test to start from.
    pub fn insert_cutoff(&self, cutoff: &Cutoff, expires_at: u64) {
        let (value, metadata) = stored::cutoff_entry(cutoff).expect("a cutoff serialises");
        let entry = Entry {
            value,
            metadata: Some(metadata),
            expires_at: Some(expires_at),
        };
        self.entries.borrow_mut().insert(cutoff.key(), entry);
    }

    /// Live cutoffs of `kind`: key → (cutoff, expires_at).
    pub fn cutoffs_of(&self, kind: CutoffKind) -> BTreeMap<String, (Cutoff, u64)> {
        self.live(kind.prefix())
            .into_iter()
            .map(|(key, (value, expires))| {
                let cutoff = Cutoff::from_json(kind, &value)
                    .unwrap_or_else(|| Cutoff::unreadable(kind, &key));
                (key, (cutoff, expires.unwrap_or(u64::MAX)))
            })
            .collect()
    }
}

impl Entry {
    fn is_live(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

impl Kv for MemoryKv {
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Stored>>, StoreError> {
        self.reads.borrow_mut().push(keys.to_vec());
        if self.fail_reads.get() {
            return Err(StoreError::Unavailable);
        }
        let now = self.now.get();
        let entries = self.entries.borrow();
        Ok(keys
            .iter()
            .map(|key| {
                let entry = entries.get(key).filter(|entry| entry.is_live(now))?;
                Some(if entry.value.len() > MAX_VALUE_BYTES {
                    Stored::Oversized
                } else {
                    Stored::Text(entry.value.clone())
                })
            })
            .collect())
    }

    async fn put(
        &self,
        key: &str,
        value: &str,
        expires_at: u64,
        metadata: &str,
    ) -> Result<(), StoreError> {
        if self.fail_writes.get() {
            return Err(StoreError::Unavailable);
        }
        let entry = Entry {
            value: value.to_owned(),
            metadata: Some(metadata.to_owned()),
            expires_at: Some(expires_at),
        };
        self.entries.borrow_mut().insert(key.to_owned(), entry);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        if self.fail_writes.get() {
            return Err(StoreError::Unavailable);
        }
        self.entries.borrow_mut().remove(key);
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<String, StoreError> {
        if self.fail_reads.get() {
            return Err(StoreError::Unavailable);
        }
        let now = self.now.get();
        let entries = self.entries.borrow();
        let mut rest = entries
            .iter()
            .filter(|(key, entry)| key.starts_with(prefix) && entry.is_live(now))
            .filter(|(key, _)| cursor.is_none_or(|cursor| key.as_str() > cursor))
            .peekable();
        let mut keys = Vec::new();
        let mut last = None;
        while keys.len() < limit {
            let Some((key, entry)) = rest.next() else {
                break;
            };
            let metadata: Option<serde_json::Value> = entry
                .metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok());
            keys.push(json!({"name": key, "expiration": entry.expires_at, "metadata": metadata}));
            last = Some(key.clone());
        }
        let complete = rest.peek().is_none();
        let cursor = if complete { None } else { last };
        Ok(json!({"keys": keys, "list_complete": complete, "cursor": cursor}).to_string())
    }

    async fn sleep(&self, _ms: u64) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;

    #[test]
    fn entries_expire_and_overwrite() {
        let kv = MemoryKv::new(1000);
        block_on(kv.put("revoked:t1", "{}", 2000, "{}")).unwrap();
        block_on(kv.put("revoked:t1", "{}", 2000, "{}")).unwrap();
        assert_eq!(kv.live("revoked:").len(), 1);
        let keys = ["revoked:t1".to_owned()];
        assert!(block_on(kv.get_many(&keys)).unwrap()[0].is_some());
        kv.set_now(2000);
        assert!(block_on(kv.get_many(&keys)).unwrap()[0].is_none());
    }

    #[test]
    fn failures_are_errors_and_big_values_are_not_copied() {
        let kv = MemoryKv::new(0);
        kv.put_raw("revoked:big", &"x".repeat(MAX_VALUE_BYTES + 1));
        let keys = ["revoked:big".to_owned(), "revoked:none".to_owned()];
        assert_eq!(
            block_on(kv.get_many(&keys)).unwrap(),
            [Some(Stored::Oversized), None]
        );
        kv.fail_writes(true);
        assert_eq!(
            block_on(kv.put("k", "v", 100, "{}")),
            Err(StoreError::Unavailable)
        );
        kv.fail_reads(true);
        assert_eq!(block_on(kv.get_many(&keys)), Err(StoreError::Unavailable));
    }
}

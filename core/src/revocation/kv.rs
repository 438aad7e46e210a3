//! [`Kv`]: all the worker asks of a key-value store such as Workers KV. The
//! worker's binding implements it and decides nothing: which keys to read,
//! what their text means and when to write are [`super::Revocations`]'s.

use super::stored::Stored;
use crate::error::StoreError;

/// A key-value store with expiring entries, listing by prefix, and a bulk
/// read. Workers KV in the worker; [`super::memory::MemoryKv`] in tests.
#[allow(async_fn_in_trait)]
pub trait Kv {
    /// The values at `keys`, in one operation (Workers KV's bulk `get`, up to
    /// 100 keys), in the same order: `None` where a key is missing. A value
    /// over [`super::stored::MAX_VALUE_BYTES`] is never copied in:
    /// [`Stored::Oversized`].
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Stored>>, StoreError>;

    /// Stores `value` at `key` until `expires_at` (seconds since the epoch),
    /// with `metadata` (a JSON object, as text) beside it for listings.
    /// [`StoreError::RateLimited`] when the store refuses a write as too
    /// frequent for the key.
    async fn put(
        &self,
        key: &str,
        value: &str,
        expires_at: u64,
        metadata: &str,
    ) -> Result<(), StoreError>;

    /// Removes `key`.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// One page of at most `limit` keys under `prefix`, from `cursor`, with
    /// their metadata: Workers KV's `list()` answer as JSON text
    /// (`{"keys":[{"name","expiration","metadata"}],"list_complete","cursor"}`).
    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<String, StoreError>;

    /// Waits `ms` milliseconds before a write is retried. A store without a
    /// write-rate limit need not wait.
    async fn sleep(&self, ms: u64);
}

/// A shared store is a store: several isolates can sit on one.
impl<K: Kv> Kv for &K {
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Stored>>, StoreError> {
        (**self).get_many(keys).await
    }
    async fn put(
        &self,
        key: &str,
        value: &str,
        expires_at: u64,
        metadata: &str,
    ) -> Result<(), StoreError> {
        (**self).put(key, value, expires_at, metadata).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        (**self).delete(key).await
    }
    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<String, StoreError> {
        (**self).list(prefix, cursor, limit).await
    }
    async fn sleep(&self, ms: u64) {
        (**self).sleep(ms).await
    }
}

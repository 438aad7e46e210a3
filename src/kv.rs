//! The Workers KV namespace `REVOKED_TOKENS`, bound directly: the four calls
//! below are all this worker needs, and the `worker` crate's wrapper would
//! bring serde-wasm-bindgen and its error formatting into the upload. What
//! the stored text means is the core's (`edge_revoke_core::stored`).

use crate::js::{object, settle_within, sleep, Outcome};
use edge_revoke_core::config::KV_BINDING;
use edge_revoke_core::error::StoreError;
use edge_revoke_core::revocation::{
    session_key, store_key, subject_key, AnyCutoff, Cutoff, CutoffKind, CutoffPage, Page, Record,
    SessionCutoff, KEY_PREFIX,
};
use edge_revoke_core::store::{Lookup, RevocationStore};
use edge_revoke_core::stored::{self, Stored, MAX_VALUE_BYTES, STORE_TIMEOUT_MS};
use edge_revoke_core::token::TokenId;
use serde_json::Value;
use worker::js_sys::{self, Promise, Reflect};
use worker::wasm_bindgen::{prelude::*, JsCast};
use worker::Env;

#[wasm_bindgen(inline_js = "
export function getTexts(kv, keys, cacheTtl, maxLength) {
  try {
    const names = JSON.parse(keys);
    return kv.get(names, { type: 'text', cacheTtl }).then((found) =>
      JSON.stringify(names.map((name) => {
        const value = found.get(name);
        if (typeof value !== 'string') return null;
        return value.length > maxLength ? true : value;
      })),
    );
  } catch (error) {
    return Promise.reject(error);
  }
}
")]
extern "C" {
    /// A bulk read (`get([keys])`, one KV operation) of the keys in the JSON
    /// array `keys`, answered as one JSON array in the same order: the
    /// value, `null` when missing, `true` when longer than `max_length`
    /// (never copied into this worker).
    #[wasm_bindgen(js_name = getTexts)]
    fn get_texts(kv: &KvNamespace, keys: &str, cache_ttl: f64, max_length: f64) -> Promise;
}

#[wasm_bindgen]
extern "C" {
    type KvNamespace;

    #[wasm_bindgen(method, catch, js_name = put)]
    fn kv_put(
        this: &KvNamespace,
        key: &str,
        value: &str,
        options: &JsValue,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = delete)]
    fn kv_delete(this: &KvNamespace, key: &str) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = list)]
    fn kv_list(this: &KvNamespace, options: &JsValue) -> Result<Promise, JsValue>;
}

/// Revocations in Workers KV. A missing binding makes every call fail, so
/// the core fails closed.
pub(crate) struct KvRevocations {
    kv: Option<KvNamespace>,
    cache_ttl: u64,
}

/// Awaits a KV promise within [`STORE_TIMEOUT_MS`]. A refusal the core
/// recognises as a write-rate limit is [`StoreError::RateLimited`]; any other
/// failure, and a timeout, is "the store is unavailable".
async fn kv_call(promise: Result<Promise, JsValue>) -> Result<JsValue, StoreError> {
    let promise = promise.map_err(|_| StoreError::Unavailable)?;
    match settle_within(&promise, Some(STORE_TIMEOUT_MS)).await {
        Outcome::Resolved(value) => Ok(value),
        Outcome::Rejected(error) => {
            let message = Reflect::get(&error, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_default();
            Err(if stored::is_rate_limited(&message) {
                StoreError::RateLimited
            } else {
                StoreError::Unavailable
            })
        }
        Outcome::TimedOut => Err(StoreError::Unavailable),
    }
}

impl KvRevocations {
    pub(crate) fn from_env(env: &Env, cache_ttl: u64) -> KvRevocations {
        let kv = Reflect::get(env, &JsValue::from_str(KV_BINDING))
            .ok()
            .filter(|binding| binding.is_object())
            .map(JsCast::unchecked_into);
        KvRevocations { kv, cache_ttl }
    }

    fn kv(&self) -> Result<&KvNamespace, StoreError> {
        self.kv.as_ref().ok_or(StoreError::Unavailable)
    }

    /// The value at `key`, read through the edge cache: a bulk read of one
    /// key, so every read has one path (and one size bound).
    async fn text(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let mut found = self.texts(vec![key.to_owned()]).await?;
        Ok(found.pop().flatten())
    }

    /// The values at `keys`, in one KV operation (a bulk read) and two JS
    /// calls (see `get_texts`).
    async fn texts(&self, keys: Vec<String>) -> Result<Vec<Option<Stored>>, StoreError> {
        let keys = Value::from(keys).to_string();
        let promise = get_texts(
            self.kv()?,
            &keys,
            self.cache_ttl as f64,
            MAX_VALUE_BYTES as f64,
        );
        let found = kv_call(Ok(promise)).await?;
        let found = found.as_string().ok_or(StoreError::Unavailable)?;
        match serde_json::from_str(&found) {
            Ok(Value::Array(values)) => Ok(values
                .into_iter()
                .map(|value| match value {
                    Value::String(text) => Some(Stored::Text(text)),
                    Value::Bool(true) => Some(Stored::Oversized),
                    _ => None,
                })
                .collect()),
            _ => Err(StoreError::Unavailable),
        }
    }

    async fn write(
        &self,
        key: &str,
        value: &str,
        expires_at: u64,
        metadata: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut options = vec![("expiration", JsValue::from(expires_at as f64))];
        if let Some(metadata) = metadata {
            // KV metadata must be an object, not a string.
            let metadata = js_sys::JSON::parse(metadata).map_err(|_| StoreError::Unavailable)?;
            options.push(("metadata", metadata));
        }
        kv_call(self.kv()?.kv_put(key, value, &object(&options))).await?;
        Ok(())
    }
}

impl KvRevocations {
    /// One `list()` page of keys under `prefix`, with metadata, as JSON text.
    async fn list_json(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<String, StoreError> {
        let mut options = vec![
            ("prefix", JsValue::from_str(prefix)),
            ("limit", JsValue::from(limit as f64)),
        ];
        if let Some(cursor) = cursor {
            options.push(("cursor", JsValue::from_str(cursor)));
        }
        let result = kv_call(self.kv()?.kv_list(&object(&options))).await?;
        js_sys::JSON::stringify(&result)
            .ok()
            .and_then(|text| text.as_string())
            .ok_or(StoreError::Unavailable)
    }
}

impl RevocationStore for KvRevocations {
    async fn get(&self, id: &TokenId) -> Result<Option<Record>, StoreError> {
        let text = self.text(&store_key(id)).await?;
        Ok(text.map(|text| stored::read_record(id, &text)))
    }

    async fn put(&self, id: &TokenId, record: &Record, expires_at: u64) -> Result<(), StoreError> {
        let (value, metadata) = stored::record_entry(record)?;
        self.write(&store_key(id), &value, expires_at, Some(&metadata))
            .await
    }

    async fn delete(&self, id: &TokenId) -> Result<(), StoreError> {
        kv_call(self.kv()?.kv_delete(&store_key(id))).await?;
        Ok(())
    }

    async fn get_cutoff(&self, sub: &str) -> Result<Option<Cutoff>, StoreError> {
        let text = self.text(&subject_key(sub)).await?;
        Ok(text.map(|text| stored::read_cutoff(sub, &text)))
    }

    async fn put_cutoff(&self, cutoff: &Cutoff, expires_at: u64) -> Result<(), StoreError> {
        let value = stored::cutoff_entry(cutoff)?;
        let metadata = stored::cutoff_metadata(&AnyCutoff::Subject(cutoff.clone()))?;
        self.write(
            &subject_key(&cutoff.sub),
            &value,
            expires_at,
            Some(&metadata),
        )
        .await
    }

    async fn get_session(&self, sid: &str) -> Result<Option<SessionCutoff>, StoreError> {
        let text = self.text(&session_key(sid)).await?;
        Ok(text.map(|text| stored::read_session(sid, &text)))
    }

    async fn put_session(&self, cutoff: &SessionCutoff, expires_at: u64) -> Result<(), StoreError> {
        let value = stored::cutoff_entry(cutoff)?;
        let metadata = stored::cutoff_metadata(&AnyCutoff::Session(cutoff.clone()))?;
        self.write(
            &session_key(&cutoff.sid),
            &value,
            expires_at,
            Some(&metadata),
        )
        .await
    }

    /// The record, subject cutoff and session cutoff of one token in one KV
    /// operation: a bulk read of up to three keys.
    async fn check(&self, id: &TokenId, sub: Option<&str>, sid: Option<&str>) -> Lookup {
        let mut keys = vec![store_key(id)];
        keys.extend(sub.map(subject_key));
        keys.extend(sid.map(session_key));
        let found = match self.texts(keys).await {
            Ok(found) => found,
            Err(e) => {
                return Lookup {
                    record: Err(e.clone()),
                    subject: Err(e.clone()),
                    session: Err(e),
                }
            }
        };
        let mut found = found.into_iter();
        let record = found.next().flatten();
        let subject = sub.and_then(|_| found.next().flatten());
        let session = sid.and_then(|_| found.next().flatten());
        Lookup {
            record: Ok(record.map(|text| stored::read_record(id, &text))),
            subject: Ok(sub
                .zip(subject)
                .map(|(sub, text)| stored::read_cutoff(sub, &text))),
            session: Ok(sid
                .zip(session)
                .map(|(sid, text)| stored::read_session(sid, &text))),
        }
    }

    async fn sleep(&self, ms: u64) {
        sleep(ms).await;
    }

    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        stored::read_list(&self.list_json(KEY_PREFIX, cursor, limit).await?)
    }

    async fn list_cutoffs(
        &self,
        kind: CutoffKind,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CutoffPage, StoreError> {
        let text = self.list_json(kind.prefix(), cursor, limit).await?;
        stored::read_cutoff_list(kind, &text)
    }
}

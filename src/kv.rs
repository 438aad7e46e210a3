//! The Workers KV namespace `REVOKED_TOKENS`, bound directly as the core's
//! [`Kv`]: a bulk read, put, delete, list. Which keys, what their text
//! means and when to write are the core's (`edge_revoke_core::revocation`).
//! The `worker` crate's wrapper would bring serde-wasm-bindgen and its
//! error formatting into the upload.

use crate::js::{binding, object, settle_within, sleep, Outcome};
use edge_revoke_core::config::KV_BINDING;
use edge_revoke_core::error::StoreError;
use edge_revoke_core::revocation::stored::{self, Stored, MAX_VALUE_BYTES, STORE_TIMEOUT_MS};
use edge_revoke_core::revocation::Kv;
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

/// The namespace. A missing binding makes every call fail, so the core
/// fails closed.
pub(crate) struct WorkersKv {
    kv: Option<KvNamespace>,
    cache_ttl: u64,
}

impl WorkersKv {
    /// `REVOKED_TOKENS` from `env`, read through the edge cache for
    /// `cache_ttl` seconds.
    pub(crate) fn from_env(env: &Env, cache_ttl: u64) -> WorkersKv {
        let kv = binding(env, KV_BINDING.name)
            .filter(|binding| binding.is_object())
            .map(JsCast::unchecked_into);
        WorkersKv { kv, cache_ttl }
    }

    fn kv(&self) -> Result<&KvNamespace, StoreError> {
        self.kv.as_ref().ok_or(StoreError::Unavailable)
    }
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
            Err(stored::write_error(&message))
        }
        Outcome::TimedOut => Err(StoreError::Unavailable),
    }
}

impl Kv for WorkersKv {
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Stored>>, StoreError> {
        let keys = Value::from(keys.to_vec()).to_string();
        let limits = (self.cache_ttl as f64, MAX_VALUE_BYTES as f64);
        let promise = get_texts(self.kv()?, &keys, limits.0, limits.1);
        let found = kv_call(Ok(promise)).await?;
        stored::read_texts(&found.as_string().ok_or(StoreError::Unavailable)?)
    }

    async fn put(
        &self,
        key: &str,
        value: &str,
        expires_at: u64,
        metadata: &str,
    ) -> Result<(), StoreError> {
        // KV metadata must be an object, not a string.
        let metadata = js_sys::JSON::parse(metadata).map_err(|_| StoreError::Unavailable)?;
        let expiration = JsValue::from(expires_at as f64);
        let options = object(&[("expiration", expiration), ("metadata", metadata)]);
        kv_call(self.kv()?.kv_put(key, value, &options)).await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        kv_call(self.kv()?.kv_delete(key)).await?;
        Ok(())
    }

    async fn list(
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

    async fn sleep(&self, ms: u64) {
        sleep(ms).await;
    }
}

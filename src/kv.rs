//! The Workers KV namespace `REVOKED_TOKENS`, bound directly: the four calls
//! below are all this worker needs, and the `worker` crate's wrapper would
//! bring serde-wasm-bindgen and its error formatting into the upload. What
//! the stored text means is the core's (`edge_revoke_core::stored`).

use crate::js::{object, settle};
use edge_revoke_core::config::KV_BINDING;
use edge_revoke_core::error::StoreError;
use edge_revoke_core::revocation::{
    store_key, subject_key, Cutoff, Page, Record, RevocationStore, KEY_PREFIX,
};
use edge_revoke_core::stored;
use edge_revoke_core::token::TokenId;
use worker::js_sys::{self, Promise, Reflect};
use worker::wasm_bindgen::{prelude::*, JsCast};
use worker::Env;

#[wasm_bindgen]
extern "C" {
    type KvNamespace;

    #[wasm_bindgen(method, catch, js_name = get)]
    fn kv_get(this: &KvNamespace, key: &str, options: &JsValue) -> Result<Promise, JsValue>;

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

/// Awaits a KV promise; any failure is "the store is unavailable".
async fn kv_call(promise: Result<Promise, JsValue>) -> Result<JsValue, StoreError> {
    settle(promise).await.map_err(|()| StoreError::Unavailable)
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

    /// The text value at `key`, read through the edge cache.
    async fn text(&self, key: &str) -> Result<Option<String>, StoreError> {
        let options = object(&[
            ("type", "text".into()),
            ("cacheTtl", (self.cache_ttl as f64).into()),
        ]);
        Ok(kv_call(self.kv()?.kv_get(key, &options)).await?.as_string())
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
        text.map(|text| stored::read_cutoff(&text)).transpose()
    }

    async fn put_cutoff(&self, cutoff: &Cutoff, expires_at: u64) -> Result<(), StoreError> {
        let value = stored::cutoff_entry(cutoff)?;
        self.write(&subject_key(&cutoff.sub), &value, expires_at, None)
            .await
    }

    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        let mut options = vec![
            ("prefix", JsValue::from_str(KEY_PREFIX)),
            ("limit", JsValue::from(limit as f64)),
        ];
        if let Some(cursor) = cursor {
            options.push(("cursor", JsValue::from_str(cursor)));
        }
        let result = kv_call(self.kv()?.kv_list(&object(&options))).await?;
        let text = js_sys::JSON::stringify(&result)
            .ok()
            .and_then(|text| text.as_string())
            .ok_or(StoreError::Unavailable)?;
        stored::read_list(&text)
    }
}

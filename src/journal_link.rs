//! The worker's side of the revocation journal, as the core's
//! [`JournalLink`]: calls to the one `RevocationJournal` object (bound as
//! `REVOCATION_JOURNAL`), and the location's shared copy of the latest
//! page in the Cache API. Each call is bounded by [`CALL_TIMEOUT_MS`]; a
//! failure is an error, which the core turns into "read KV as without a
//! journal". When and what to call is the core's (`follow.rs`).

use crate::js::{binding, settle_within, sleep, Outcome};
use edge_revoke_core::config::JOURNAL_BINDING;
use edge_revoke_core::error::StoreError;
use edge_revoke_core::revocation::journal::CALL_TIMEOUT_MS;
use edge_revoke_core::revocation::JournalLink;
use worker::js_sys::Promise;
use worker::wasm_bindgen::prelude::*;
use worker::Env;

#[wasm_bindgen(inline_js = "
const SHARED = 'https://journal.edge-revoke.internal/latest';

export function call(namespace, path, method, body) {
  try {
    const stub = namespace.get(namespace.idFromName('journal'));
    const init = body === undefined ? { method } : { method, body };
    return stub.fetch('https://journal.edge-revoke.internal' + path, init).then((response) =>
      response.text().then((text) => {
        if (!response.ok) throw new Error('journal answered ' + response.status);
        return text;
      }),
    );
  } catch (error) {
    return Promise.reject(error);
  }
}

export function shared() {
  try {
    return caches.default.match(SHARED).then((hit) => (hit === undefined ? null : hit.text()));
  } catch (error) {
    return Promise.reject(error);
  }
}

export function share(text, seconds) {
  try {
    const headers = { 'cache-control': 'max-age=' + seconds, 'content-type': 'application/json' };
    return caches.default.put(SHARED, new Response(text, { headers }));
  } catch (error) {
    return Promise.reject(error);
  }
}
")]
extern "C" {
    fn call(namespace: &JsValue, path: &str, method: &str, body: Option<String>) -> Promise;
    fn shared() -> Promise;
    fn share(text: &str, seconds: f64) -> Promise;
}

/// The journal as this request reaches it: the namespace binding, if bound.
pub(crate) struct DoJournal {
    namespace: Option<JsValue>,
}

impl DoJournal {
    /// `REVOCATION_JOURNAL` from `env`.
    pub(crate) fn from_env(env: &Env) -> DoJournal {
        let namespace = binding(env, JOURNAL_BINDING.name).filter(JsValue::is_object);
        DoJournal { namespace }
    }

    async fn text(
        &self,
        path: &str,
        method: &str,
        body: Option<String>,
    ) -> Result<String, StoreError> {
        let namespace = self.namespace.as_ref().ok_or(StoreError::Unavailable)?;
        let promise = call(namespace, path, method, body);
        match settle_within(&promise, Some(CALL_TIMEOUT_MS)).await {
            Outcome::Resolved(text) => text.as_string().ok_or(StoreError::Unavailable),
            Outcome::Rejected(_) | Outcome::TimedOut => Err(StoreError::Unavailable),
        }
    }
}

impl JournalLink for DoJournal {
    fn bound(&self) -> bool {
        self.namespace.is_some()
    }

    async fn append(&self, change: &str) -> Result<(), StoreError> {
        self.text("/append", "POST", Some(change.to_owned()))
            .await
            .map(|_| ())
    }

    async fn claim(&self, change: &str) -> Result<bool, StoreError> {
        let text = self.text("/claim", "POST", Some(change.to_owned())).await?;
        let answer: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| StoreError::Unavailable)?;
        // Claimed only with the entry's number; anything else decides nothing.
        match (answer.get("seq"), answer.get("taken")) {
            (Some(seq), _) if seq.is_u64() => Ok(true),
            (_, Some(serde_json::Value::Bool(true))) => Ok(false),
            _ => Err(StoreError::Unavailable),
        }
    }

    async fn tail(&self, after: Option<u64>) -> Result<String, StoreError> {
        match after {
            Some(seq) => self.text(&format!("/tail?after={seq}"), "GET", None).await,
            None => self.text("/tail", "GET", None).await,
        }
    }

    async fn status(&self) -> Result<String, StoreError> {
        self.text("/status", "GET", None).await
    }

    async fn shared(&self) -> Option<String> {
        match settle_within(&shared(), Some(CALL_TIMEOUT_MS)).await {
            Outcome::Resolved(text) => text.as_string(),
            Outcome::Rejected(_) | Outcome::TimedOut => None,
        }
    }

    async fn share(&self, tail: &str, seconds: u64) {
        settle_within(&share(tail, seconds as f64), Some(CALL_TIMEOUT_MS)).await;
    }

    async fn pause(&self, ms: u64) {
        sleep(ms).await;
    }
}

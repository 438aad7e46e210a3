//! `fetch` of `JWT_JWKS_URL` and `SSF_JWKS_URL`. When to fetch, and which
//! answers count, is the core's (`edge_revoke_core::keys`).

use crate::js::{fetch_within, settle, strings, Outcome};
use edge_revoke_core::keys::{accept_jwks_response, JwksFetcher, JWKS_FETCH_TIMEOUT_SECONDS};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::web_sys;

/// Fetches a remote key set with the runtime's `fetch`.
pub(crate) struct FetchJwks;

impl JwksFetcher for FetchJwks {
    async fn fetch(&self, url: &str) -> Result<String, ()> {
        let remove: JsValue = strings([]).into();
        let accept: JsValue = strings(["accept", "application/json"]).into();
        let timeout_ms = JWKS_FETCH_TIMEOUT_SECONDS * 1000;
        let response = match fetch_within(None, url, &remove, &accept, timeout_ms).await {
            Outcome::Resolved(response) => {
                response.dyn_into::<web_sys::Response>().map_err(|_| ())?
            }
            Outcome::Rejected(_) | Outcome::TimedOut => return Err(()),
        };
        let text = settle(response.text()).await?.as_string().ok_or(())?;
        accept_jwks_response(response.status(), text).ok_or(())
    }
}

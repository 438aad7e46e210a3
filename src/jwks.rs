//! `fetch` of `JWT_JWKS_URL`. When to fetch, and which answers count, is
//! the core's (`edge_revoke_core::keys`).

use crate::js::settle;
use crate::origin::fetch_within;
use edge_revoke_core::keys::{accept_jwks_response, JwksFetcher, JWKS_FETCH_TIMEOUT_SECONDS};
use std::time::Duration;
use worker::web_sys;

/// Fetches a remote key set with the runtime's `fetch`.
pub(crate) struct FetchJwks;

impl JwksFetcher for FetchJwks {
    async fn fetch(&self, url: &str) -> Result<String, ()> {
        let init = web_sys::RequestInit::new();
        init.set_method("GET");
        let controller = web_sys::AbortController::new().map_err(|_| ())?;
        init.set_signal(Some(&controller.signal()));
        let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(|_| ())?;
        let _ = request.headers().set("accept", "application/json");
        let timeout = Duration::from_secs(JWKS_FETCH_TIMEOUT_SECONDS);
        let response = fetch_within(&request, &controller, timeout)
            .await
            .map_err(|_| ())?;
        let text = settle(response.text()).await?.as_string().ok_or(())?;
        accept_jwks_response(response.status(), text).ok_or(())
    }
}

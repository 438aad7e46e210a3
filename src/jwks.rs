//! `fetch` for the core's outgoing requests: `JWT_JWKS_URL`, `SSF_JWKS_URL`
//! and `GTR_JWKS_URL`, and the forward to `GTR_FORWARD_URL`. When to send
//! them, and which answers count, is the core's (`edge_revoke_core::keys`,
//! `edge_revoke_core::handlers`).

use crate::js::{body_text, fetch_within, now_ms, strings, Outcome};
use edge_revoke_core::keys::{
    accept_jwks_response, Outbound, Post, JWKS_FETCH_TIMEOUT_SECONDS, MAX_JWKS_BYTES,
};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::web_sys;

/// Sends the core's requests with the runtime's `fetch`.
pub(crate) struct FetchJwks;

impl Outbound for FetchJwks {
    async fn fetch(&self, url: &str) -> Result<String, ()> {
        let accept: JsValue = strings(["accept", "application/json"]).into();
        let timeout_ms = JWKS_FETCH_TIMEOUT_SECONDS * 1000;
        let started = now_ms();
        let response = match fetch_within(url, &accept, None, timeout_ms).await {
            Outcome::Resolved(response) => {
                response.dyn_into::<web_sys::Response>().map_err(|_| ())?
            }
            Outcome::Rejected(_) | Outcome::TimedOut => return Err(()),
        };
        if response.status() != 200 {
            return Err(());
        }
        let left = remaining(started, timeout_ms)?;
        let text = body_text(&response, MAX_JWKS_BYTES, left).await?;
        accept_jwks_response(response.status(), text).ok_or(())
    }

    async fn post(&self, post: &Post<'_>) -> Result<(u16, String), ()> {
        let bearer = std::str::from_utf8(post.bearer.expose()).map_err(|_| ())?;
        let authorization = format!("Bearer {bearer}");
        let set: JsValue = strings([
            "authorization",
            authorization.as_str(),
            "content-type",
            post.content_type,
        ])
        .into();
        let started = now_ms();
        let fetched = fetch_within(post.url, &set, Some(post.body), post.timeout_ms);
        let response = match fetched.await {
            Outcome::Resolved(response) => {
                response.dyn_into::<web_sys::Response>().map_err(|_| ())?
            }
            Outcome::Rejected(_) | Outcome::TimedOut => return Err(()),
        };
        let left = remaining(started, post.timeout_ms)?;
        let text = body_text(&response, post.read_limit, left).await?;
        Ok((response.status(), text))
    }
}

/// What is left of `timeout_ms` since `started`; `Err` when nothing is.
fn remaining(started: u64, timeout_ms: u64) -> Result<u64, ()> {
    let left = timeout_ms.saturating_sub(now_ms().saturating_sub(started));
    if left == 0 {
        return Err(());
    }
    Ok(left)
}

//! `fetch` to the origin: the same method, headers and streamed body, to the
//! URL the core chose, with the claim headers the core planned. Redirects
//! come back to the client as they are.

use crate::js::{forward_within, settle_within, strings, Outcome};
use edge_revoke_core::error::Rejection;
use edge_revoke_core::handlers::Forward;
use edge_revoke_core::isolate::Upstream;
use std::time::Duration;
use worker::js_sys::Promise;
use worker::wasm_bindgen::{prelude::*, JsCast};
use worker::web_sys;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch, catch)]
    fn global_fetch(request: &web_sys::Request) -> Result<Promise, JsValue>;
}

/// `fetch`, giving up when no response headers arrive within `timeout`. The
/// timer covers the headers only, so a long streamed body is never cut.
pub(crate) async fn fetch_within(
    request: &web_sys::Request,
    controller: &web_sys::AbortController,
    timeout: Duration,
) -> Result<web_sys::Response, Rejection> {
    let promise = global_fetch(request).map_err(|_| Rejection::OriginUnreachable)?;
    match settle_within(&promise, Some(timeout.as_millis() as u64)).await {
        Outcome::Resolved(response) => response
            .dyn_into::<web_sys::Response>()
            .map_err(|_| Rejection::OriginUnreachable),
        Outcome::Rejected(_) => Err(Rejection::OriginUnreachable),
        Outcome::TimedOut => {
            controller.abort();
            Err(Rejection::OriginTimeout)
        }
    }
}

/// Sends the request on to `upstream`, with only the headers of `plan`
/// changed, in one JS call (see `js::forward_within`).
pub(crate) async fn forward(
    request: &web_sys::Request,
    upstream: &Upstream,
    plan: &Forward,
) -> Result<web_sys::Response, Rejection> {
    // Most plans change nothing: then no array is made.
    let (remove, set) = if plan.remove.is_empty() && plan.set.is_empty() {
        (JsValue::UNDEFINED, JsValue::UNDEFINED)
    } else {
        (
            strings(plan.remove.iter().map(String::as_str)).into(),
            strings(plan.set.iter().flat_map(|(n, v)| [n.as_str(), v.as_str()])).into(),
        )
    };
    let timeout_ms = upstream.timeout_seconds.saturating_mul(1000);
    match forward_within(request, &upstream.url, &remove, &set, timeout_ms).await {
        Outcome::Resolved(response) => response
            .dyn_into::<web_sys::Response>()
            .map_err(|_| Rejection::OriginUnreachable),
        Outcome::Rejected(_) => Err(Rejection::OriginUnreachable),
        Outcome::TimedOut => Err(Rejection::OriginTimeout),
    }
}

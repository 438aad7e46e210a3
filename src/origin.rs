//! `fetch` to the origin: the same method, headers and streamed body, to the
//! URL the core chose, with the claim headers the core planned. Redirects
//! come back to the client as they are.

use crate::js::first;
use edge_revoke_core::error::Rejection;
use edge_revoke_core::handlers::Forward;
use edge_revoke_core::isolate::Upstream;
use std::time::Duration;
use worker::js_sys::Promise;
use worker::wasm_bindgen::{prelude::*, JsCast};
use worker::wasm_bindgen_futures::JsFuture;
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
    match first(
        JsFuture::from(promise),
        Box::pin(worker::Delay::from(timeout)),
    )
    .await
    {
        Ok(Ok(response)) => response
            .dyn_into::<web_sys::Response>()
            .map_err(|_| Rejection::OriginUnreachable),
        Ok(Err(_)) => Err(Rejection::OriginUnreachable),
        Err(()) => {
            controller.abort();
            Err(Rejection::OriginTimeout)
        }
    }
}

/// Sends the request on to `upstream`, with only the headers of `plan`
/// changed.
pub(crate) async fn forward(
    request: &web_sys::Request,
    upstream: &Upstream,
    plan: &Forward,
) -> Result<web_sys::Response, Rejection> {
    let unreachable = |_| Rejection::OriginUnreachable;
    let init = web_sys::RequestInit::new();
    init.set_method(&request.method());
    if plan.remove.is_empty() && plan.set.is_empty() {
        init.set_headers(&request.headers());
    } else {
        let headers =
            web_sys::Headers::new_with_headers(&request.headers()).map_err(unreachable)?;
        for name in &plan.remove {
            headers.delete(name).map_err(unreachable)?;
        }
        for (name, value) in &plan.set {
            headers.set(name, value).map_err(unreachable)?;
        }
        init.set_headers(&headers);
    }
    if let Some(body) = request.body() {
        init.set_body(&body);
    }
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let controller = web_sys::AbortController::new().map_err(unreachable)?;
    init.set_signal(Some(&controller.signal()));
    let outgoing =
        web_sys::Request::new_with_str_and_init(&upstream.url, &init).map_err(unreachable)?;
    let timeout = Duration::from_secs(upstream.timeout_seconds);
    fetch_within(&outgoing, &controller, timeout).await
}

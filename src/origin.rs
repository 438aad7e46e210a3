//! `fetch` to the origin: the same method, headers and streamed body, to the
//! URL the core chose, with the claim headers the core planned. Redirects
//! come back to the client as they are.

use crate::http::to_response;
use crate::js::{fetch_within, strings, Outcome};
use edge_revoke_core::handlers::Forward;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::web_sys;

/// Carries out `plan` for `request`, in one JS call (see
/// `js::fetch_within`): the origin's response, or the plan's own answer
/// when the origin cannot be reached or does not answer in time.
pub(crate) async fn forward(request: &web_sys::Request, plan: &Forward) -> web_sys::Response {
    // Most plans change no header: then no array is made.
    let (remove, set) = if plan.remove.is_empty() && plan.set.is_empty() {
        (JsValue::UNDEFINED, JsValue::UNDEFINED)
    } else {
        let pairs = plan.set.iter().flat_map(|(n, v)| [n.as_str(), v.as_str()]);
        (
            strings(plan.remove.iter().map(String::as_str)).into(),
            strings(pairs).into(),
        )
    };
    let fetched = fetch_within(
        Some(request),
        &plan.url,
        &remove,
        &set,
        None,
        plan.timeout_ms,
    );
    match fetched.await {
        Outcome::Resolved(response) => match response.dyn_into::<web_sys::Response>() {
            Ok(response) => response,
            Err(_) => to_response(plan.unreachable),
        },
        Outcome::Rejected(_) => to_response(plan.unreachable),
        Outcome::TimedOut => to_response(plan.timed_out),
    }
}

//! `fetch` to the origin: the same method, headers and streamed body, to the
//! URL the core chose, with the claim headers the core planned. Redirects
//! come back to the client as they are.

use crate::http::to_response;
use crate::js::{self, strings};
use edge_revoke_core::handlers::Forward;
use edge_revoke_core::http::reply::Reply;
use std::cell::RefCell;
use worker::wasm_bindgen::prelude::*;
use worker::web_sys;

thread_local! {
    /// The plans' own answers (`unreachable`, `timed_out`), each numbered
    /// once per isolate so that JS can name the one it needs. There are a
    /// handful: the core's static replies.
    static REPLIES: RefCell<Vec<&'static Reply>> = const { RefCell::new(Vec::new()) };
    /// The one callback that turns such a number into a response, made once.
    static REPLY: Closure<dyn Fn(u32) -> web_sys::Response> = Closure::new(reply);
}

/// The number of `reply` in [`REPLIES`].
fn number(reply: &'static Reply) -> u32 {
    REPLIES.with(|cell| {
        let mut replies = cell.borrow_mut();
        match replies.iter().position(|known| std::ptr::eq(*known, reply)) {
            Some(index) => index as u32,
            None => {
                replies.push(reply);
                (replies.len() - 1) as u32
            }
        }
    })
}

/// Called from JS with a number [`number`] gave out.
fn reply(index: u32) -> web_sys::Response {
    let reply = REPLIES.with(|cell| cell.borrow().get(index as usize).copied());
    match reply {
        Some(reply) => to_response(reply),
        // Never given out: the runtime's network error, never a pass.
        None => web_sys::Response::error(),
    }
}

/// Carries out `plan` for `request`, in one JS call (see `js::forward`):
/// the promise of the origin's response, or of the plan's own answer when
/// the origin cannot be reached or does not answer in time.
pub(crate) fn forward(request: &web_sys::Request, plan: &Forward) -> JsValue {
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
    let (unreachable, timed_out) = (number(plan.unreachable), number(plan.timed_out));
    REPLY.with(|callback| {
        js::forward(
            request,
            &plan.url,
            &remove,
            &set,
            plan.timeout_ms,
            unreachable,
            timed_out,
            callback.as_ref(),
        )
    })
}

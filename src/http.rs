//! The runtime's request in (head and a bounded body) and a core
//! [`Reply`] out.

use crate::js::{head_lines, settle};
use edge_revoke_core::http::reply::Reply;
use edge_revoke_core::http::request::RequestHead;
use worker::js_sys::{Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::web_sys;

/// Method, URL and the headers the core reads, in one JS call, and with
/// `all_names` every header name. The text always has its two first lines;
/// were it ever short, the empty head would be a request without a token
/// (401).
pub(crate) fn head(request: &web_sys::Request, all_names: bool) -> RequestHead {
    RequestHead::from_lines(&head_lines(request, all_names)).unwrap_or_default()
}

/// The runtime's response for a [`Reply`]. Building one cannot fail for the
/// statuses and header names the core produces; if it ever did, the client
/// gets the runtime's network-error response, never a pass.
pub(crate) fn to_response(reply: &Reply) -> web_sys::Response {
    let build = || -> Result<web_sys::Response, JsValue> {
        let headers = web_sys::Headers::new()?;
        for (name, value) in &reply.headers {
            headers.set(name, value)?;
        }
        let init = web_sys::ResponseInit::new();
        init.set_status(reply.status);
        init.set_headers(&headers);
        if reply.body.is_empty() {
            web_sys::Response::new_with_opt_str_and_init(None, &init)
        } else {
            let body = Uint8Array::from(reply.body.as_slice());
            web_sys::Response::new_with_opt_buffer_source_and_init(Some(&body), &init)
        }
    };
    build().unwrap_or_else(|_| web_sys::Response::error())
}

/// Reads at most `limit + 1` bytes of the body, so the core can tell an
/// oversized body without this worker buffering all of it. `None` when the
/// body cannot be read.
pub(crate) async fn read_body(request: &web_sys::Request, limit: usize) -> Option<Vec<u8>> {
    let Some(stream) = request.body() else {
        return Some(Vec::new());
    };
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().dyn_into().ok()?;
    let mut body = Vec::new();
    loop {
        let chunk = settle(Ok(reader.read())).await.ok()?;
        if Reflect::get(&chunk, &"done".into()).ok()?.is_truthy() {
            return Some(body);
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())
            .ok()?
            .dyn_into()
            .ok()?;
        let take = (limit + 1 - body.len()).min(value.length() as usize);
        let start = body.len();
        body.resize(start + take, 0);
        value.subarray(0, take as u32).copy_to(&mut body[start..]);
        if body.len() > limit {
            let _ = reader.cancel();
            return Some(body);
        }
    }
}

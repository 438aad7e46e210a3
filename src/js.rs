//! Small JS helpers shared by the bindings: plain objects, a request's head
//! and the forward to the origin in one JS call each, and awaiting a promise
//! with one JS call.
//!
//! `wasm_bindgen_futures::JsFuture` makes two closures per promise (each a
//! new JS function, registered with a `FinalizationRegistry` and destroyed
//! afterwards), and a timeout beside it needs a timer closure of its own.
//! [`settle`] makes none: one JS call hands the promise, an optional timeout
//! and a slot number to a snippet that calls one callback, made once per
//! isolate, exactly once. The slot ([`crate::slots`]) holds the outcome and
//! the waiting task's waker until the future takes it.
//!
//! The runtime's own `queueMicrotask` stays as it is. An earlier version
//! replaced it for a few percent of CPU per request; measured again on
//! 2026-12-04 in one bench run with alternating rounds (RS256 repeat token,
//! 16 connections), the build without the replacement did 0.975x the req/s
//! (rounds 0.94, 1.00, 0.88) at +14.5 us CPU per request (rounds +36, +2,
//! +70 over 565): within the run's noise, and not worth a global change to
//! every script in the isolate that rests on wasm-bindgen's internals.

use crate::slots::Slots;
use edge_revoke_core::http::request::READ_HEADERS;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use worker::js_sys::{Array, Date, Object, Promise, Reflect};
use worker::wasm_bindgen::prelude::*;
use worker::wasm_bindgen_futures::future_to_promise;
use worker::web_sys;

#[wasm_bindgen(inline_js = "
function settleWith(promise, ms, slot, done, onTimeout) {
  let fired = false;
  let timer;
  const finish = (kind, value) => {
    if (fired) return;
    fired = true;
    if (timer !== undefined) clearTimeout(timer);
    done(slot, kind, value);
  };
  if (ms >= 0) {
    timer = setTimeout(() => {
      if (onTimeout !== undefined) onTimeout();
      finish(2, undefined);
    }, ms);
  }
  if (promise !== undefined) promise.then((v) => finish(1, v), (e) => finish(0, e));
}

export function settle(promise, ms, slot, done) {
  settleWith(promise, ms, slot, done, undefined);
}

export function head(request, names, all) {
  const headers = request.headers;
  let text = request.method + '\\n' + request.url;
  for (const name of names) {
    const value = headers.get(name);
    if (value !== null) text += '\\n' + name + ':' + value;
  }
  if (all) {
    text += '\\n';
    for (const name of headers.keys()) text += ':' + name;
  }
  return text;
}

export function readWithin(response, limit, ms, slot, done) {
  const body = response.body;
  if (body === null || limit === 0) {
    if (body !== null) body.cancel().catch(() => {});
    settleWith(Promise.resolve(''), ms, slot, done, undefined);
    return;
  }
  const reader = body.getReader();
  const chunks = [];
  let size = 0;
  const step = () => reader.read().then(({ done: ended, value }) => {
    if (!ended) {
      chunks.push(value);
      size += value.byteLength;
      if (size <= limit) return step();
      reader.cancel().catch(() => {});
    }
    const all = new Uint8Array(Math.min(size, limit + 1));
    let at = 0;
    for (const chunk of chunks) {
      if (at === all.length) break;
      const part = chunk.subarray(0, all.length - at);
      all.set(part, at);
      at += part.length;
    }
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(all);
  });
  settleWith(step(), ms, slot, done, () => reader.cancel().catch(() => {}));
}

export function fetchWithin(url, set, body, ms, slot, done) {
  const controller = new AbortController();
  let response;
  try {
    const headers = new Headers();
    for (let i = 0; i + 1 < set.length; i += 2) headers.set(set[i], set[i + 1]);
    const init = body !== undefined
      ? { method: 'POST', headers, body, redirect: 'manual', signal: controller.signal }
      : { method: 'GET', headers, signal: controller.signal };
    response = fetch(new Request(url, init));
  } catch (error) {
    response = Promise.reject(error);
  }
  settleWith(response, ms, slot, done, () => controller.abort());
}

export function forward(request, url, remove, set, ms, unreachable, timedOut, reply) {
  const controller = new AbortController();
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    controller.abort();
  }, ms);
  let response;
  try {
    let headers = request.headers;
    if (remove !== undefined) {
      headers = new Headers(headers);
      for (const name of remove) headers.delete(name);
      for (let i = 0; i + 1 < set.length; i += 2) headers.set(set[i], set[i + 1]);
    }
    const init = { method: request.method, headers, body: request.body, redirect: 'manual', signal: controller.signal };
    response = fetch(new Request(url, init));
  } catch (error) {
    response = Promise.reject(error);
  }
  return response.then(
    (answer) => {
      clearTimeout(timer);
      if (!late) return answer;
      if (answer.body !== null) answer.body.cancel().catch(() => {});
      return reply(timedOut);
    },
    () => {
      clearTimeout(timer);
      return reply(late ? timedOut : unreachable);
    },
  );
}
")]
extern "C" {
    #[wasm_bindgen(js_name = settle)]
    fn settle_js(promise: &JsValue, ms: f64, slot: u32, done: &JsValue);

    #[wasm_bindgen(js_name = head)]
    fn head_js(request: &web_sys::Request, names: &JsValue, all: bool) -> String;

    #[wasm_bindgen(js_name = readWithin)]
    fn read_within_js(response: &web_sys::Response, limit: f64, ms: f64, slot: u32, done: &JsValue);

    #[wasm_bindgen(js_name = fetchWithin)]
    fn fetch_within_js(
        url: &str,
        set: &JsValue,
        body: Option<&[u8]>,
        ms: f64,
        slot: u32,
        done: &JsValue,
    );

    #[wasm_bindgen(js_name = forward)]
    #[allow(clippy::too_many_arguments)]
    fn forward_js(
        request: &web_sys::Request,
        url: &str,
        remove: &JsValue,
        set: &JsValue,
        ms: f64,
        unreachable: u32,
        timed_out: u32,
        reply: &JsValue,
    ) -> JsValue;
}

/// A plain JS object with these properties.
pub(crate) fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in pairs {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object.into()
}

/// How a settled promise ended.
pub(crate) enum Outcome {
    Resolved(JsValue),
    Rejected(JsValue),
    TimedOut,
}

thread_local! {
    static SLOTS: RefCell<Slots<Outcome>> = RefCell::new(Slots::default());
    /// The one callback every settle calls: `(slot, kind, value)`.
    static DONE: Closure<dyn FnMut(u32, u32, JsValue)> = Closure::new(done);
    /// `READ_HEADERS` as a JS array, made once.
    static READ_HEADER_NAMES: JsValue = strings(READ_HEADERS.iter().copied()).into();
}

/// The time, in milliseconds since the epoch: `Date.now()`, one JS call
/// (`worker::Date::now()` makes a `Date` object and reads it: two).
pub(crate) fn now_ms() -> u64 {
    Date::now() as u64
}

/// The binding or setting `name` on `env`, when it is there. The name's JS
/// string is made once per isolate, not once per request.
pub(crate) fn binding(env: &JsValue, name: &'static str) -> Option<JsValue> {
    thread_local! {
        static NAMES: RefCell<Vec<(&'static str, JsValue)>> = const { RefCell::new(Vec::new()) };
    }
    let key = NAMES.with(|cell| {
        let mut names = cell.borrow_mut();
        match names.iter().find(|(known, _)| *known == name) {
            Some((_, key)) => key.clone(),
            None => {
                let key = JsValue::from_str(name);
                names.push((name, key.clone()));
                key
            }
        }
    });
    Reflect::get(env, &key)
        .ok()
        .filter(|value| !value.is_undefined())
}

/// A JS array of strings.
pub(crate) fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Array {
    let array = Array::new();
    for item in items {
        array.push(&JsValue::from_str(item));
    }
    array
}

/// The request's method, URL and [`READ_HEADERS`], and with `all` every
/// header name, as `RequestHead::from_lines` reads them.
pub(crate) fn head_lines(request: &web_sys::Request, all: bool) -> String {
    READ_HEADER_NAMES.with(|names| head_js(request, names, all))
}

/// Called by the snippet exactly once per [`settle`].
fn done(index: u32, kind: u32, value: JsValue) {
    let outcome = match kind {
        1 => Outcome::Resolved(value),
        2 => Outcome::TimedOut,
        _ => Outcome::Rejected(value),
    };
    if let Some(waker) = SLOTS.with(|cell| cell.borrow_mut().fill(index, outcome)) {
        waker.wake();
    }
}

/// A promise being awaited; see the module docs.
pub(crate) struct Settle {
    slot: Option<u32>,
}

impl Future for Settle {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let Some(index) = self.slot else {
            // Polled after it finished: a caller bug, answered as a timeout.
            return Poll::Ready(Outcome::TimedOut);
        };
        let ready = SLOTS.with(|cell| cell.borrow_mut().poll(index, cx.waker()));
        match ready {
            Some(outcome) => {
                self.slot = None;
                Poll::Ready(outcome)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        if let Some(index) = self.slot {
            SLOTS.with(|cell| cell.borrow_mut().abandon(index));
        }
    }
}

/// A slot, and the JS call that will fill it.
fn start(call: impl FnOnce(u32, &JsValue)) -> Settle {
    let index = SLOTS.with(|cell| cell.borrow_mut().take());
    DONE.with(|callback| call(index, callback.as_ref()));
    Settle { slot: Some(index) }
}

/// Awaits `promise` (`undefined` for none), giving up after `timeout_ms`
/// when it is given.
pub(crate) fn settle_within(promise: &JsValue, timeout_ms: Option<u64>) -> Settle {
    let ms = timeout_ms.map_or(-1.0, |ms| ms as f64);
    start(|slot, done| settle_js(promise, ms, slot, done))
}

/// An outgoing request of the core's, in one JS call: `fetch(new
/// Request(url, init))`, a `POST` of `body` when there is one, else a
/// `GET`, with the `set` name/value pairs as its only headers, aborted when
/// no response headers arrive within `timeout_ms`. A fetch that throws
/// settles as rejected.
pub(crate) fn fetch_within(
    url: &str,
    set: &JsValue,
    body: Option<&[u8]>,
    timeout_ms: u64,
) -> Settle {
    let ms = timeout_ms as f64;
    start(|slot, done| fetch_within_js(url, set, body, ms, slot, done))
}

/// The forward to the origin, in one JS call that returns the promise of
/// the client's response: the same method, headers (less `remove`, plus
/// the `set` name/value pairs; both `undefined` to keep the headers as they
/// are), streamed body, and redirects returned as they are. When no
/// response headers arrive within `timeout_ms` the fetch is aborted and the
/// answer is `reply(timed_out)`; when it fails, `reply(unreachable)`. The
/// timer covers the headers only, so a long streamed body is never cut.
///
/// Nothing of it comes back to Rust on the way that counts: the origin's
/// response goes to the client from JS, so a forward costs no task, no
/// slot and no wake (see [`run_now`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    request: &web_sys::Request,
    url: &str,
    remove: &JsValue,
    set: &JsValue,
    timeout_ms: u64,
    unreachable: u32,
    timed_out: u32,
    reply: &JsValue,
) -> JsValue {
    let ms = timeout_ms as f64;
    forward_js(request, url, remove, set, ms, unreachable, timed_out, reply)
}

/// Runs `future` to its first `Pending` here, in the calling JS turn: what
/// is ready at once (a checked token passed to the origin, whose response
/// is a JS promise by then) is returned as it is, with no task, microtask
/// or promise of Rust's. Only a future that waits on I/O (a KV read, a key
/// import, the journal) continues as a promise on `wasm-bindgen-futures`'
/// executor, which polls it again first thing, so the no-op waker of this
/// first poll is never needed: every future here re-checks its state when
/// polled.
pub(crate) fn run_now(future: impl Future<Output = JsValue> + 'static) -> JsValue {
    let mut future = Box::pin(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => future_to_promise(async move { Ok(future.await) }).into(),
    }
}

/// The text of `response`'s body within `timeout_ms`: at most `limit + 1`
/// bytes of it, so that a longer body arrives cut there and its reader sees
/// it is too long; the rest is not read (with `limit` 0, none of it). A
/// read that times out is cancelled. `Err(())` when it fails or does not
/// arrive in time.
pub(crate) async fn body_text(
    response: &web_sys::Response,
    limit: usize,
    timeout_ms: u64,
) -> Result<String, ()> {
    let (limit, ms) = (limit as f64, timeout_ms as f64);
    let read = start(|slot, done| read_within_js(response, limit, ms, slot, done));
    match read.await {
        Outcome::Resolved(text) => text.as_string().ok_or(()),
        Outcome::Rejected(_) | Outcome::TimedOut => Err(()),
    }
}

/// Awaits a promise from a call that may have thrown; `Err(())` for either
/// failure. Callers map it to their own error.
pub(crate) async fn settle(promise: Result<Promise, JsValue>) -> Result<JsValue, ()> {
    let promise: JsValue = promise.map_err(|_| ())?.into();
    match settle_within(&promise, None).await {
        Outcome::Resolved(value) => Ok(value),
        Outcome::Rejected(_) | Outcome::TimedOut => Err(()),
    }
}

/// Waits `ms` milliseconds.
pub(crate) async fn sleep(ms: u64) {
    settle_within(&JsValue::UNDEFINED, Some(ms)).await;
}

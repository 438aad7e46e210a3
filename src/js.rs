//! Small JS value helpers shared by the bindings.

use std::future::Future;
use std::task::Poll;
use worker::js_sys::{Object, Promise, Reflect};
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;

/// A plain JS object with these properties.
pub(crate) fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in pairs {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object.into()
}

/// Awaits a promise from a call that may have thrown; `Err(())` for either
/// failure. Callers map it to their own error.
pub(crate) async fn settle(promise: Result<Promise, JsValue>) -> Result<JsValue, ()> {
    JsFuture::from(promise.map_err(|_| ())?)
        .await
        .map_err(|_| ())
}

/// Whichever of two futures finishes first; the other is dropped.
pub(crate) async fn first<A: Future + Unpin, B: Future + Unpin>(
    mut a: A,
    mut b: B,
) -> Result<A::Output, B::Output> {
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(v) = std::pin::Pin::new(&mut a).poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if let Poll::Ready(v) = std::pin::Pin::new(&mut b).poll(cx) {
            return Poll::Ready(Err(v));
        }
        Poll::Pending
    })
    .await
}

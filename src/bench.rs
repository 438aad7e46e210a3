//! Benchmark builds only (`--features bench`): `GET /__bench/verify`
//! verifies the request's token `X-Bench-Iterations` times (default 1, at
//! most 100000) inside workerd, so the harness can time verification from
//! outside. `X-Bench-Cache: 1` sends every iteration through the token
//! cache, as requests go. `GET /__bench/panic` panics, so that the tests
//! can see the instance recover (tests/e2e/recovery.test.mjs).

use crate::entry::State;
use crate::http::to_response;
use edge_revoke_core::http::reply::Reply;
use edge_revoke_core::http::request::RequestHead;
use worker::web_sys;

pub(crate) async fn verify(
    request: &web_sys::Request,
    head: &RequestHead,
    state: &State,
    now: u64,
) -> web_sys::Response {
    // Read from the runtime's headers: `RequestHead` keeps only READ_HEADERS.
    let headers = request.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let iterations = header("x-bench-iterations")
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(1)
        .clamp(1, 100_000);
    let cached = header("x-bench-cache").as_deref() == Some("1");
    let status = state
        .isolate
        .verify_repeatedly(head, iterations, cached, &state.crypto, now)
        .await;
    to_response(&Reply::empty(status))
}

/// Panics on purpose: the worker must answer the next request as if nothing
/// happened.
pub(crate) fn panic() -> ! {
    panic!("GET /__bench/panic")
}

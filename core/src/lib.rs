//! # edge-revoke-core
//!
//! A Cloudflare Worker that makes sign-out real in front of an origin that
//! accepts JWT bearer tokens. It verifies every request's token, rejects
//! revoked ones, and forwards the rest to the origin unchanged.
//!
//! ## Routes the worker answers itself
//!
//! | method and path | what it does |
//! |---|---|
//! | `DELETE /api/tokens` | revokes the caller's own token; 204 |
//! | `DELETE /v2.0/tokens` | Identity style: revokes the caller's token (`X-Auth-Token`), or with `?tokenId=` / `/{tokenId}` and an admin role, another token; 204 |
//! | `GET`, `HEAD /v2.0/tokens/{tokenId}` | 404 at the edge when that token is revoked; otherwise forwarded |
//! | `POST /token-service/client/server/invalidate/token` | service-to-service, `X-API-KEY`; body `{"tokenReferenceId": ...}`; 200 |
//!
//! Every other request is checked (`Authorization: Bearer` or `X-Auth-Token`)
//! and forwarded; see [`app::handle`].
//!
//! ## Layout
//!
//! The decisions live in plain modules that take time and storage as
//! parameters and are tested natively: [`config`], [`keys`], [`token`],
//! [`verify`], [`revocation`], [`routes`], [`error`] and [`app`]. The `glue`
//! module (wasm32 only) binds `Env`, Workers KV, WebCrypto, `Date` and `fetch`
//! to them.

pub mod cache;
pub mod config;
pub mod error;
pub mod handlers;
pub mod idp;
pub mod isolate;
pub mod keys;
pub mod log;
pub mod primitives;
pub mod reply;
pub mod request;
pub mod revocation;
pub mod routes;
pub mod rules;
pub mod secret;
pub mod token;
pub mod verify;

/// Runs a future that never waits on I/O (the in-memory store and the
/// native verifier) to completion: for native tests, benches and fuzzing.
///
/// # Panics
/// If the future is still pending after one poll, which would mean it waits
/// on something this executor cannot drive.
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("block_on: the future waits on I/O"),
    }
}

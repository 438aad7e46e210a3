//! # edge-revoke-core
//!
//! Every decision of the edge-revoke worker, a Cloudflare Worker that makes
//! sign-out real in front of an origin that accepts JWT bearer tokens: it
//! verifies every request's token, rejects revoked ones, and forwards the
//! rest to the origin unchanged. This crate has no runtime dependency and is
//! tested natively; the worker crate binds the Workers runtime to it and
//! decides nothing.
//!
//! ## One request's path
//!
//! The worker reads the request's head ([`http::request::RequestHead`]),
//! [`http::routes::classify`]s it once, reads a body only for the routes
//! that take one, and awaits [`handlers::decide`] with the isolate's
//! [`isolate::Isolate::services`]. The answer is a [`handlers::Decision`]:
//! a reply, or a [`handlers::Forward`] that names the URL, the timeout, the
//! header changes and the replies for a failed forward.
//!
//! ## Where each thing is decided
//!
//! | module | holds |
//! |---|---|
//! | [`config`] | every setting, read once, each named once with its default |
//! | [`token`] | extraction, the header and claim rules ([`token::rules`]), the untrusted → verified step, signature checks ([`token::signature`]), the token cache ([`token::cache`]) |
//! | [`keys`] | algorithms, key sets and key selection; remote key sets ([`keys::RemoteKeys`]) |
//! | [`revocation`] | records and cutoffs, their stored form, the store rules ([`revocation::Revocations`]) over a KV-shaped binding ([`revocation::Kv`]) |
//! | [`idp`] | the identity provider's announcements: back-channel logout tokens, security event tokens, and what each revokes |
//! | [`http`] | the request head, the route table ([`http::routes::Route`]), replies |
//! | [`handlers`] | the dispatcher over `Route`, one module per route family, and the steps they share |
//! | [`error`] | one error enum per concern, and the one place each becomes a status, headers and a body |
//! | [`log`] | typed log events |
//! | [`isolate`] | what an isolate keeps between requests |
//! | [`secret`], [`primitives`] | secrets that never print; SHA-256, base64 and strict percent decoding |
//!
//! ## The worker's own routes
//!
//! Sign-out (`DELETE /api/tokens` and its scopes), Identity v2.0
//! (`DELETE /v2.0/tokens`, `GET`/`HEAD /v2.0/tokens/{id}`), service
//! invalidation (`POST /token-service/client/server/invalidate/token`),
//! OAuth revocation and introspection (`POST /oauth/revoke`,
//! `POST /oauth/introspect`), the admin routes (`/api/revocations`,
//! `/api/cutoffs`, `DELETE /api/users/{sub}/tokens`) and the identity
//! provider's receivers (`POST /oidc/backchannel-logout`,
//! `POST /ssf/events`): see [`http::routes::Route`] and the README. Every
//! other request is checked and forwarded.

pub mod config;
pub mod error;
pub mod handlers;
pub mod http;
pub mod idp;
pub mod isolate;
pub mod keys;
pub mod log;
pub mod primitives;
pub mod revocation;
pub mod secret;
pub mod token;

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

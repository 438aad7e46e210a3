//! # edge-revoke (the worker crate)
//!
//! Binds the Cloudflare Workers runtime to `edge-revoke-core`, which makes
//! every decision. One small file per binding:
//!
//! | file | binds |
//! |---|---|
//! | `lib.rs` | the fetch event, `Env` settings, `Date`, per-isolate state, log lines |
//! | `http.rs` | the runtime's request head and body in, [`Reply`](edge_revoke_core::http::reply::Reply) out |
//! | `kv.rs` | the Workers KV namespace `REVOKED_TOKENS` |
//! | `journal.rs` | the Durable Object `RevocationJournal`: SQLite tables, alarm |
//! | `journal_link.rs` | calls to the journal (`REVOCATION_JOURNAL`), and the location's shared page (Cache API) |
//! | `webcrypto.rs` | SubtleCrypto `importKey`/`verify` |
//! | `origin.rs` | `fetch` to the origin, with the response-headers timeout |
//! | `jwks.rs` | `fetch` of `JWT_JWKS_URL` |
//! | `js.rs` | small JS value helpers shared by the bindings |
//! | `slots.rs` | the bookkeeping of awaited promises (plain Rust, tested natively) |
//! | `bench.rs` | `GET /__bench/verify` and `GET /__bench/panic`, with the `bench` feature only |
//!
//! Natively only `slots.rs` is compiled (and unit tested): the core is
//! tested on its own, and the scenario tests in `tests/` drive it through
//! whole stories.

#[cfg(all(target_arch = "wasm32", feature = "bench"))]
mod bench;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod journal;
#[cfg(target_arch = "wasm32")]
mod journal_link;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
mod jwks;
#[cfg(target_arch = "wasm32")]
mod kv;
#[cfg(target_arch = "wasm32")]
mod origin;
#[cfg(any(target_arch = "wasm32", test))]
mod slots;
#[cfg(target_arch = "wasm32")]
mod webcrypto;

#[cfg(target_arch = "wasm32")]
mod entry {
    use crate::journal_link::DoJournal;
    use crate::js::{now_ms, run_now};
    use crate::{http, jwks::FetchJwks, kv::WorkersKv, origin, webcrypto::WebCrypto};
    use edge_revoke_core::handlers::{self, Action, Decision};
    use edge_revoke_core::isolate::Isolate;
    use std::cell::RefCell;
    use std::rc::Rc;
    use worker::js_sys::Reflect;
    use worker::wasm_bindgen::prelude::*;
    use worker::{event, web_sys, Env, ScheduleContext, ScheduledEvent};

    /// What an isolate keeps: the core's state and the imported keys.
    pub(crate) struct State {
        pub(crate) isolate: Isolate,
        pub(crate) crypto: WebCrypto,
    }

    thread_local! {
        static STATE: RefCell<Option<Rc<State>>> = const { RefCell::new(None) };
    }

    fn state(env: &Env) -> Rc<State> {
        STATE.with(|cell| {
            if let Some(state) = cell.borrow().as_ref() {
                return state.clone();
            }
            install_panic_hook();
            let isolate = Isolate::from_lookup(|name| setting(env, name));
            if let Some(line) = isolate.startup_log() {
                log_json(&line);
            }
            let state = Rc::new(State {
                isolate,
                crypto: WebCrypto,
            });
            *cell.borrow_mut() = Some(state.clone());
            state
        })
    }

    /// Panics, which this worker is built never to have, are reported by two
    /// hooks in turn. The `worker` crate sets its own when the module starts:
    /// it logs `Critical` and marks the instance, so the worker's JS shim
    /// starts a fresh one for the next request (recovery; tests/e2e/recovery).
    /// `console_error_panic_hook` then logs the panic's message and location
    /// with a stack trace. Installed once per instance, after the crate's.
    fn install_panic_hook() {
        let worker_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            worker_hook(info);
            console_error_panic_hook::hook(info);
        }));
    }

    /// A var or secret by name; both appear as strings on `env`.
    pub(crate) fn setting(env: &Env, name: &str) -> Option<String> {
        Reflect::get(env, &JsValue::from_str(name))
            .ok()?
            .as_string()
    }

    fn log_json(value: &serde_json::Value) {
        worker::console_log!("{}", value);
    }

    /// The fetch event, exported by hand rather than with `#[event(fetch)]`:
    /// the request is decided in the JS turn that delivered it
    /// ([`run_now`]), and a forward hands the origin's response promise
    /// straight back. So a checked token on its way to the origin costs no
    /// Rust task, microtask or promise; a request that waits on I/O
    /// continues as a promise. Every failure is already an HTTP answer.
    #[wasm_bindgen]
    pub fn fetch(
        request: web_sys::Request,
        env: Env,
        _ctx: worker::worker_sys::Context,
    ) -> JsValue {
        run_now(handle(request, env))
    }

    async fn handle(request: web_sys::Request, env: Env) -> JsValue {
        let started = now_ms();
        let now = started / 1000;
        let state = state(&env);
        let head = http::head(&request, state.isolate.reads_header_names());
        #[cfg(feature = "bench")]
        match head.path.as_str() {
            // Not reachable in production builds: the `bench` feature is off there.
            "/__bench/verify" => {
                return crate::bench::verify(&request, &head, &state, now)
                    .await
                    .into()
            }
            "/__bench/panic" => crate::bench::panic(),
            _ => {}
        }
        let route = state.isolate.classify(&head);
        let body = match state.isolate.body_limit(&route) {
            Some(limit) => http::read_body(&request, limit).await,
            None => None,
        };
        let isolate = &state.isolate;
        let kv = WorkersKv::from_env(&env, isolate.store_cache_ttl());
        let journal = DoJournal::from_env(&env);
        let services = isolate.services(kv, journal, &state.crypto, &FetchJwks, now);
        let config = isolate.config.as_ref();
        let Decision { action, event } =
            handlers::decide(&head, route, body.as_deref(), config, &services, now).await;
        if let Some(event) = event {
            let latency_ms = now_ms().saturating_sub(started);
            log_json(&event.log_line(latency_ms));
        }
        for note in isolate.notes() {
            log_json(&note);
        }
        match action {
            Action::Reply(reply) => http::to_response(&reply).into(),
            Action::Forward(plan) => origin::forward(&request, &plan),
        }
    }

    /// A cron trigger (`[triggers]` in `wrangler.toml`): one poll run of
    /// `SSF_POLL_URL` (RFC 8936), when it is set. The core decides
    /// everything (`handlers::poll_transmitter`); this logs what it did.
    #[event(scheduled)]
    async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
        let state = state(&env);
        let isolate = &state.isolate;
        let ttl = isolate.store_cache_ttl();
        let runtime = |now| {
            let kv = WorkersKv::from_env(&env, ttl);
            let journal = DoJournal::from_env(&env);
            isolate.services(kv, journal, &state.crypto, &FetchJwks, now)
        };
        let clock = now_ms;
        let config = isolate.config.as_ref();
        let Some(run) = handlers::poll_transmitter(config, runtime, clock).await else {
            return;
        };
        for event in &run.events {
            log_json(&event.log_line(0));
        }
        log_json(&run.log_line());
        for note in isolate.notes() {
            log_json(&note);
        }
    }
}

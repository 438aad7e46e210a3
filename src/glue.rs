//! The wasm-only layer: binds the runtime (`Env`, Workers KV, WebCrypto,
//! `Date`, `fetch`) to the core. It holds no decisions.

use crate::app::{self, Action, Decision, Forward, Services};
use crate::cache::TokenCache;
use crate::config::Config;
use crate::error::{ConfigError, Rejection, Render, StoreError, VerifyError};
use crate::keys::{Alg, JwksFetcher, Key, KeyKind, RemoteKeys};
use crate::reply::Reply;
use crate::request::{RequestHead, READ_HEADERS};
use crate::revocation::{
    store_key, subject_key, Cutoff, Listed, Page, ReadYourWrites, RecentRevocations, Record,
    RevocationStore, KEY_PREFIX,
};
use crate::routes;
use crate::token::TokenId;
use crate::verify::{verify_common, SignatureVerifier};
use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;
use worker::js_sys::{self, Object, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen::{prelude::*, JsCast};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{event, web_sys, Context, Env};

/// The KV namespace binding that holds revocations.
const KV_BINDING: &str = "REVOKED_TOKENS";
/// Revocations this isolate remembers for read-your-writes.
const RECENT_CAPACITY: usize = 10_000;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey, catch)]
    fn import_key(
        format: &str,
        key: &JsValue,
        algorithm: &JsValue,
        extractable: bool,
        usages: &JsValue,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = verify, catch)]
    fn subtle_verify(
        algorithm: &JsValue,
        key: &JsValue,
        signature: &[u8],
        data: &[u8],
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_name = fetch, catch)]
    fn global_fetch(request: &web_sys::Request) -> Result<Promise, JsValue>;
}

/// Per-isolate state: settings are fixed for an isolate's life, so they are
/// parsed once, and imported keys, fetched key sets and verified tokens are
/// kept with them.
struct State {
    config: Result<Config, ConfigError>,
    crypto: WebCrypto,
    recent: RecentRevocations,
    remote_keys: RemoteKeys,
    cache: TokenCache,
}

thread_local! {
    static STATE: RefCell<Option<Rc<State>>> = const { RefCell::new(None) };
}

fn state(env: &Env) -> Rc<State> {
    STATE.with(|cell| {
        if let Some(state) = cell.borrow().as_ref() {
            return state.clone();
        }
        let config = Config::from_lookup(|name| setting(env, name));
        match &config {
            Ok(config) if config.keys.skipped > 0 => log_json(&serde_json::json!({
                "event": "config",
                "skipped_jwks_keys": config.keys.skipped,
            })),
            Ok(_) => {}
            Err(e) => log_json(&serde_json::json!({
                "event": "config_error",
                "setting": e.setting(),
                "error": e.to_string(),
            })),
        }
        let (ttl, entries, bytes) = match &config {
            Ok(c) => (
                c.revocation_cache_ttl,
                c.token_cache_entries,
                c.token_cache_bytes,
            ),
            Err(_) => (60, 0, 0),
        };
        let state = Rc::new(State {
            config,
            crypto: WebCrypto::default(),
            recent: RecentRevocations::new(RECENT_CAPACITY, ttl),
            remote_keys: RemoteKeys::default(),
            cache: TokenCache::new(entries, bytes),
        });
        *cell.borrow_mut() = Some(state.clone());
        state
    })
}

/// A var or secret by name; both appear as strings on `env`.
fn setting(env: &Env, name: &str) -> Option<String> {
    Reflect::get(env, &JsValue::from_str(name))
        .ok()?
        .as_string()
}

fn log_json(value: &serde_json::Value) {
    worker::console_log!("{}", value);
}

/// Infallible on purpose: every failure is already an HTTP answer, and an
/// error type here would link `worker::Error`'s formatting (tens of KB) into
/// the upload for a path that never runs.
#[event(fetch)]
async fn fetch(
    request: web_sys::Request,
    env: Env,
    _ctx: Context,
) -> Result<web_sys::Response, Infallible> {
    console_error_panic_hook::set_once();
    let started = worker::Date::now().as_millis();
    let state = state(&env);
    let now = started / 1000;

    let headers = request.headers();
    let head = RequestHead::new(
        &request.method(),
        &request.url(),
        READ_HEADERS
            .iter()
            .filter_map(|name| Some((*name, headers.get(name).ok().flatten()?))),
    );
    #[cfg(feature = "bench")]
    if head.path == "/__bench/verify" {
        // Not reachable in production builds: the `bench` feature is off there.
        return Ok(bench_verify(&head, &headers, &state, now).await);
    }
    let body = match routes::body_limit(&head) {
        Some(limit) => read_body(&request, limit).await,
        None => None,
    };
    let store = ReadYourWrites::new(
        KvRevocations::from_env(
            &env,
            state.config.as_ref().map_or(60, |c| c.revocation_cache_ttl),
        ),
        &state.recent,
        now,
    );
    let services = Services {
        store: &store,
        verifier: &state.crypto,
        fetcher: &FetchJwks,
        remote_keys: &state.remote_keys,
        cache: &state.cache,
    };
    let Decision { action, event } = app::handle(
        &head,
        body.as_deref(),
        state.config.as_ref(),
        &services,
        now,
    )
    .await;
    if let Some(event) = event {
        let mut line = serde_json::json!({
            "decision": event.decision,
            "reason": event.reason,
            "jti": event.jti,
            "route": event.route,
            "latency_ms": worker::Date::now().as_millis().saturating_sub(started),
        });
        if let Some(sub) = event.sub {
            line["sub"] = sub.into();
        }
        log_json(&line);
    }
    Ok(match action {
        Action::Reply(reply) => to_response(&reply),
        Action::Forward(plan) => match &state.config {
            Ok(config) => match forward(&request, config, &plan).await {
                Ok(response) => response,
                Err(failure) => {
                    let render = Render {
                        realm: &config.realm,
                        plain_json: head.wants_plain_json(),
                    };
                    to_response(&failure.reply(render))
                }
            },
            // `handle` never forwards without a config; fail closed regardless.
            Err(e) => to_response(&Rejection::Config(e.clone()).reply(Render {
                realm: "api",
                plain_json: false,
            })),
        },
    })
}

/// Benchmark builds only: verifies the request's token `X-Bench-Iterations`
/// times (default 1, at most 100000), so the harness can time verification
/// inside workerd from outside. Without `X-Bench-Cache: 1` every iteration
/// verifies in full; with it, iterations go through the token cache as
/// requests do (the first one verifies and fills it).
#[cfg(feature = "bench")]
async fn bench_verify(
    head: &RequestHead,
    headers: &web_sys::Headers,
    state: &State,
    now: u64,
) -> web_sys::Response {
    // Read from the runtime's headers: `RequestHead` keeps only READ_HEADERS.
    let header = |name: &str| headers.get(name).ok().flatten();
    let status = |code: u16| to_response(&Reply::empty(code));
    let Ok(config) = &state.config else {
        return status(500);
    };
    let Ok(Some(raw)) = crate::token::extract(head) else {
        return status(400);
    };
    let iterations = header("x-bench-iterations")
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(1)
        .clamp(1, 100_000);
    let cached = header("x-bench-cache").as_deref() == Some("1");
    for _ in 0..iterations {
        if cached && state.cache.get(raw, now).is_some() {
            continue;
        }
        match crate::token::verify(raw, config, &config.keys, &state.crypto, now).await {
            Ok(token) if cached => {
                let until = token.claims().exp.saturating_add(config.leeway);
                state.cache.insert(raw, &token, until);
            }
            Ok(_) => {}
            Err(_) => return status(401),
        }
    }
    status(204)
}

/// Whichever of two futures finishes first; the other is dropped.
async fn first<A: Future + Unpin, B: Future + Unpin>(
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

/// `fetch`, giving up when no response headers arrive within `timeout`. The
/// timer covers the headers only, so a long streamed body is never cut.
async fn fetch_within(
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

/// Sends the request on: same method, headers and streamed body, to
/// `ORIGIN_URL` + path + query, with only the claim headers of `plan`
/// changed. Redirects come back to the client as they are.
async fn forward(
    request: &web_sys::Request,
    config: &Config,
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
    let upstream =
        web_sys::Request::new_with_str_and_init(&config.forward_url(&request.url()), &init)
            .map_err(unreachable)?;
    fetch_within(
        &upstream,
        &controller,
        Duration::from_secs(config.origin_timeout),
    )
    .await
}

/// Largest key set accepted from `JWT_JWKS_URL`.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Fetches `JWT_JWKS_URL` with `fetch`, within 5 seconds.
struct FetchJwks;

impl JwksFetcher for FetchJwks {
    async fn fetch(&self, url: &str) -> Result<String, ()> {
        let init = web_sys::RequestInit::new();
        init.set_method("GET");
        let controller = web_sys::AbortController::new().map_err(|_| ())?;
        init.set_signal(Some(&controller.signal()));
        let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(|_| ())?;
        let _ = request.headers().set("accept", "application/json");
        let response = fetch_within(&request, &controller, Duration::from_secs(5))
            .await
            .map_err(|_| ())?;
        if response.status() != 200 {
            return Err(());
        }
        let text = JsFuture::from(response.text().map_err(|_| ())?)
            .await
            .map_err(|_| ())?
            .as_string()
            .ok_or(())?;
        if text.len() > MAX_JWKS_BYTES {
            return Err(());
        }
        Ok(text)
    }
}

/// The runtime's response for a [`Reply`]. Building one cannot fail for the
/// statuses and header names the core produces; if it ever did, the client
/// gets the runtime's network-error response, never a pass.
fn to_response(reply: &Reply) -> web_sys::Response {
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
async fn read_body(request: &web_sys::Request, limit: usize) -> Option<Vec<u8>> {
    let Some(stream) = request.body() else {
        return Some(Vec::new());
    };
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().dyn_into().ok()?;
    let mut body = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.ok()?;
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

#[wasm_bindgen]
extern "C" {
    /// A Workers KV namespace binding, called directly: the four calls below
    /// are all this worker needs, and the `worker` crate's wrapper would bring
    /// serde-wasm-bindgen and its error formatting into the upload.
    type KvNamespace;

    #[wasm_bindgen(method, catch, js_name = get)]
    fn kv_get(this: &KvNamespace, key: &str, options: &JsValue) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = put)]
    fn kv_put(
        this: &KvNamespace,
        key: &str,
        value: &str,
        options: &JsValue,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = delete)]
    fn kv_delete(this: &KvNamespace, key: &str) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = list)]
    fn kv_list(this: &KvNamespace, options: &JsValue) -> Result<Promise, JsValue>;
}

/// Revocations in Workers KV. Value and metadata are the JSON record; the
/// entry expires with the token.
struct KvRevocations {
    kv: Option<KvNamespace>,
    cache_ttl: u64,
}

/// Awaits a KV promise; any failure is "the store is unavailable".
async fn settle(promise: Result<Promise, JsValue>) -> Result<JsValue, StoreError> {
    let promise = promise.map_err(|_| StoreError::Unavailable)?;
    JsFuture::from(promise)
        .await
        .map_err(|_| StoreError::Unavailable)
}

/// A JS object from JSON text (KV metadata must be an object, not a string).
fn js_json<T: serde::Serialize>(value: &T) -> Result<JsValue, StoreError> {
    let text = serde_json::to_string(value).map_err(|_| StoreError::Unavailable)?;
    js_sys::JSON::parse(&text).map_err(|_| StoreError::Unavailable)
}

impl KvRevocations {
    fn from_env(env: &Env, cache_ttl: u64) -> KvRevocations {
        let kv = Reflect::get(env, &JsValue::from_str(KV_BINDING))
            .ok()
            .filter(|binding| binding.is_object())
            .map(JsCast::unchecked_into);
        KvRevocations { kv, cache_ttl }
    }

    fn kv(&self) -> Result<&KvNamespace, StoreError> {
        self.kv.as_ref().ok_or(StoreError::Unavailable)
    }

    /// The text value at `key`, read through the edge cache.
    async fn text(&self, key: &str) -> Result<Option<String>, StoreError> {
        let options = object(&[
            ("type", "text".into()),
            ("cacheTtl", (self.cache_ttl as f64).into()),
        ]);
        let value = settle(self.kv()?.kv_get(key, &options)).await?;
        Ok(value.as_string())
    }

    async fn write(
        &self,
        key: &str,
        value: &str,
        expires_at: u64,
        metadata: Option<JsValue>,
    ) -> Result<(), StoreError> {
        let mut options = vec![("expiration", JsValue::from(expires_at as f64))];
        if let Some(metadata) = metadata {
            options.push(("metadata", metadata));
        }
        settle(self.kv()?.kv_put(key, value, &object(&options))).await?;
        Ok(())
    }
}

/// The JSON shape of a KV `list()` result.
#[derive(serde::Deserialize)]
struct KvListResult {
    keys: Vec<KvListKey>,
    list_complete: bool,
    cursor: Option<String>,
}

#[derive(serde::Deserialize)]
struct KvListKey {
    name: String,
    expiration: Option<u64>,
    metadata: Option<serde_json::Value>,
}

impl RevocationStore for KvRevocations {
    async fn get(&self, id: &TokenId) -> Result<Option<Record>, StoreError> {
        let text = self.text(&store_key(id)).await?;
        // Any entry means revoked, even one this version cannot parse.
        Ok(text.map(|text| {
            serde_json::from_str(&text).unwrap_or_else(|_| unknown_record(id.to_string()))
        }))
    }

    async fn put(&self, id: &TokenId, record: &Record, expires_at: u64) -> Result<(), StoreError> {
        let value = serde_json::to_string(record).map_err(|_| StoreError::Unavailable)?;
        let metadata = js_json(&record.for_metadata())?;
        self.write(&store_key(id), &value, expires_at, Some(metadata))
            .await
    }

    async fn delete(&self, id: &TokenId) -> Result<(), StoreError> {
        settle(self.kv()?.kv_delete(&store_key(id))).await?;
        Ok(())
    }

    async fn get_cutoff(&self, sub: &str) -> Result<Option<Cutoff>, StoreError> {
        match self.text(&subject_key(sub)).await? {
            None => Ok(None),
            // An entry this version cannot read must not be ignored.
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|_| StoreError::Unavailable),
        }
    }

    async fn put_cutoff(&self, cutoff: &Cutoff, expires_at: u64) -> Result<(), StoreError> {
        let value = serde_json::to_string(cutoff).map_err(|_| StoreError::Unavailable)?;
        self.write(&subject_key(&cutoff.sub), &value, expires_at, None)
            .await
    }

    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        let mut options = vec![
            ("prefix", JsValue::from_str(KEY_PREFIX)),
            ("limit", JsValue::from(limit as f64)),
        ];
        if let Some(cursor) = cursor {
            options.push(("cursor", JsValue::from_str(cursor)));
        }
        let result = settle(self.kv()?.kv_list(&object(&options))).await?;
        let text = js_sys::JSON::stringify(&result)
            .ok()
            .and_then(|text| text.as_string())
            .ok_or(StoreError::Unavailable)?;
        let listed: KvListResult =
            serde_json::from_str(&text).map_err(|_| StoreError::Unavailable)?;
        let items = listed
            .keys
            .into_iter()
            .map(|key| {
                let jti = key
                    .name
                    .strip_prefix(KEY_PREFIX)
                    .unwrap_or(&key.name)
                    .to_owned();
                let record = key
                    .metadata
                    .and_then(|m| serde_json::from_value::<Record>(m).ok())
                    .unwrap_or_else(|| unknown_record(jti));
                Listed {
                    record,
                    expires_at: key.expiration,
                }
            })
            .collect();
        Ok(Page {
            items,
            cursor: listed.cursor.filter(|_| !listed.list_complete),
        })
    }
}

/// Stands for an entry whose record cannot be read: still a revocation.
fn unknown_record(jti: String) -> Record {
    Record {
        jti,
        revoked_at: 0,
        exp: None,
        sub: None,
        reason: "unknown".into(),
        by: "unknown".into(),
        route: "unknown".into(),
    }
}

/// A WebCrypto key imported for one algorithm, with its verify parameters.
struct Imported {
    key: JsValue,
    params: JsValue,
}

/// HS* in Rust (cheap), everything else through the runtime's SubtleCrypto.
/// Imported keys are cached for the isolate's life.
#[derive(Default)]
struct WebCrypto {
    imported: RefCell<HashMap<(u64, Alg), Rc<Imported>>>,
}

fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in pairs {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object.into()
}

fn hash_name(alg: Alg) -> JsValue {
    JsValue::from_str(match alg.hash_bits() {
        Some(384) => "SHA-384",
        Some(512) => "SHA-512",
        _ => "SHA-256",
    })
}

impl WebCrypto {
    async fn import(&self, key: &Key, alg: Alg) -> Result<Rc<Imported>, VerifyError> {
        let cache_key = (key.serial, alg);
        if let Some(imported) = self.imported.borrow().get(&cache_key) {
            return Ok(imported.clone());
        }
        let (import_params, params) = match key.kind {
            KeyKind::Rsa if matches!(alg, Alg::RS256 | Alg::RS384 | Alg::RS512) => (
                object(&[
                    ("name", "RSASSA-PKCS1-v1_5".into()),
                    ("hash", hash_name(alg)),
                ]),
                object(&[("name", "RSASSA-PKCS1-v1_5".into())]),
            ),
            KeyKind::Rsa => (
                object(&[("name", "RSA-PSS".into()), ("hash", hash_name(alg))]),
                object(&[
                    ("name", "RSA-PSS".into()),
                    // RFC 7518 §3.5: the salt is as long as the hash.
                    ("saltLength", (alg.hash_bits().unwrap_or(256) / 8).into()),
                ]),
            ),
            KeyKind::P256 => (
                object(&[("name", "ECDSA".into()), ("namedCurve", "P-256".into())]),
                object(&[("name", "ECDSA".into()), ("hash", "SHA-256".into())]),
            ),
            KeyKind::Ed25519 => (
                object(&[("name", "Ed25519".into())]),
                object(&[("name", "Ed25519".into())]),
            ),
            KeyKind::Secret => return Err(VerifyError::KeyRejected),
        };
        let jwk = js_sys::JSON::parse(&key.public_jwk).map_err(|_| VerifyError::KeyRejected)?;
        let usages = js_sys::Array::of1(&"verify".into());
        let promise = import_key("jwk", &jwk, &import_params, false, &usages)
            .map_err(|_| VerifyError::KeyRejected)?;
        let crypto_key = JsFuture::from(promise)
            .await
            .map_err(|_| VerifyError::KeyRejected)?;
        let imported = Rc::new(Imported {
            key: crypto_key,
            params,
        });
        self.imported
            .borrow_mut()
            .insert(cache_key, imported.clone());
        Ok(imported)
    }
}

impl SignatureVerifier for WebCrypto {
    async fn verify(
        &self,
        key: &Key,
        alg: Alg,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, VerifyError> {
        if let Some(decided) = verify_common(key, alg, message, signature) {
            return Ok(decided);
        }
        // Fixed-size signatures: anything else cannot verify.
        if matches!(key.kind, KeyKind::P256 | KeyKind::Ed25519) && signature.len() != 64 {
            return Ok(false);
        }
        let imported = self.import(key, alg).await?;
        let promise = subtle_verify(&imported.params, &imported.key, signature, message)
            .map_err(|_| VerifyError::Unavailable)?;
        // A rejected verify (e.g. a malformed signature) is "does not verify".
        Ok(JsFuture::from(promise)
            .await
            .map(|ok| ok.is_truthy())
            .unwrap_or(false))
    }
}

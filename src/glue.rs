//! The wasm-only layer: binds the runtime (`Env`, Workers KV, WebCrypto,
//! `Date`, `fetch`) to the core. It holds no decisions.

use crate::app::{self, Action, Decision};
use crate::config::Config;
use crate::error::{ConfigError, Rejection, Render, StoreError, VerifyError};
use crate::keys::{Alg, Key, KeyKind};
use crate::reply::Reply;
use crate::request::{RequestHead, READ_HEADERS};
use crate::revocation::{store_key, ReadYourWrites, RecentRevocations, Record, RevocationStore};
use crate::routes;
use crate::token::TokenId;
use crate::verify::{HmacOnly, SignatureVerifier};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use worker::js_sys::{self, Object, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen::{prelude::*, JsCast};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{event, web_sys, Context, Env, KvStore};

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
/// parsed once, and imported keys are kept with them.
struct State {
    config: Result<Config, ConfigError>,
    crypto: WebCrypto,
    recent: RecentRevocations,
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
        let state = Rc::new(State {
            config,
            crypto: WebCrypto::default(),
            recent: RecentRevocations::new(RECENT_CAPACITY),
        });
        *cell.borrow_mut() = Some(state.clone());
        state
    })
}

/// A var or secret by name; both appear as strings on `env`.
fn setting(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .or_else(|| env.secret(name).ok().map(|s| s.to_string()))
}

fn log_json(value: &serde_json::Value) {
    worker::console_log!("{}", value);
}

#[event(fetch)]
async fn fetch(
    request: web_sys::Request,
    env: Env,
    _ctx: Context,
) -> worker::Result<web_sys::Response> {
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
    let body = match routes::body_limit(&head) {
        Some(limit) => read_body(&request, limit).await,
        None => None,
    };
    let store = ReadYourWrites::new(
        KvRevocations {
            kv: env.kv(KV_BINDING).ok(),
            cache_ttl: state.config.as_ref().map_or(60, |c| c.revocation_cache_ttl),
        },
        &state.recent,
        now,
    );
    let Decision { action, event } = app::handle(
        &head,
        body.as_deref(),
        state.config.as_ref(),
        &store,
        &state.crypto,
        now,
    )
    .await;
    if let Some(event) = event {
        log_json(&serde_json::json!({
            "decision": event.decision,
            "reason": event.reason,
            "jti": event.jti,
            "route": event.route,
            "latency_ms": worker::Date::now().as_millis().saturating_sub(started),
        }));
    }
    match action {
        Action::Reply(reply) => to_response(&reply),
        Action::Forward => match &state.config {
            Ok(config) => match forward(&request, config).await {
                Ok(response) => Ok(response),
                Err(_) => {
                    let render = Render {
                        realm: &config.realm,
                        plain_json: head.wants_plain_json(),
                    };
                    to_response(&Rejection::OriginUnreachable.reply(render))
                }
            },
            // `handle` never forwards without a config; fail closed regardless.
            Err(e) => to_response(&Rejection::Config(e.clone()).reply(Render {
                realm: "api",
                plain_json: false,
            })),
        },
    }
}

/// Sends the request on unchanged: same method, headers and streamed body, to
/// `ORIGIN_URL` + path + query. Redirects come back to the client as they are.
async fn forward(
    request: &web_sys::Request,
    config: &Config,
) -> Result<web_sys::Response, JsValue> {
    let init = web_sys::RequestInit::new();
    init.set_method(&request.method());
    init.set_headers(&request.headers());
    if let Some(body) = request.body() {
        init.set_body(&body);
    }
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let upstream =
        web_sys::Request::new_with_str_and_init(&config.forward_url(&request.url()), &init)?;
    let response = JsFuture::from(global_fetch(&upstream)?).await?;
    response.dyn_into::<web_sys::Response>()
}

fn to_response(reply: &Reply) -> worker::Result<web_sys::Response> {
    let headers = web_sys::Headers::new()?;
    for (name, value) in &reply.headers {
        headers.set(name, value)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(reply.status);
    init.set_headers(&headers);
    let response = if reply.body.is_empty() {
        web_sys::Response::new_with_opt_str_and_init(None, &init)?
    } else {
        let body = Uint8Array::from(reply.body.as_slice());
        web_sys::Response::new_with_opt_buffer_source_and_init(Some(&body), &init)?
    };
    Ok(response)
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

/// Revocations in Workers KV. Value and metadata are the JSON record; the
/// entry expires with the token.
struct KvRevocations {
    kv: Option<KvStore>,
    cache_ttl: u64,
}

impl RevocationStore for KvRevocations {
    async fn get(&self, id: &TokenId) -> Result<Option<Record>, StoreError> {
        let kv = self.kv.as_ref().ok_or(StoreError::Unavailable)?;
        let text = kv
            .get(&store_key(id))
            .cache_ttl(self.cache_ttl)
            .text()
            .await
            .map_err(|_| StoreError::Unavailable)?;
        // Any entry means revoked, even one this version cannot parse.
        Ok(text.map(|text| {
            serde_json::from_str(&text).unwrap_or_else(|_| Record {
                jti: id.to_string(),
                revoked_at: 0,
                exp: None,
                sub: None,
                reason: "unknown".into(),
                by: "unknown".into(),
                route: "unknown".into(),
            })
        }))
    }

    async fn put(&self, id: &TokenId, record: &Record, expires_at: u64) -> Result<(), StoreError> {
        let kv = self.kv.as_ref().ok_or(StoreError::Unavailable)?;
        let value = serde_json::to_string(record).map_err(|_| StoreError::Unavailable)?;
        kv.put(&store_key(id), value)
            .map_err(|_| StoreError::Unavailable)?
            .expiration(expires_at)
            .metadata(record.for_metadata())
            .map_err(|_| StoreError::Unavailable)?
            .execute()
            .await
            .map_err(|_| StoreError::Unavailable)
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
    imported: RefCell<HashMap<(usize, Alg), Rc<Imported>>>,
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
        if let Some(imported) = self.imported.borrow().get(&(key.index, alg)) {
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
            .insert((key.index, alg), imported.clone());
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
        if !key.allows(alg) {
            return Ok(false);
        }
        if key.kind == KeyKind::Secret {
            return HmacOnly.verify(key, alg, message, signature).await;
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

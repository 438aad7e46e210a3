//! The runtime's SubtleCrypto: `importKey` once per key and algorithm (kept
//! in the key's own imports, so a key dropped from a replaced key set takes
//! its import with it) and `verify` per token. Which parameters each
//! algorithm takes, and what is decided without the runtime, is the core's
//! (`edge_revoke_core::token::signature`).

use crate::js::{object, settle};
use edge_revoke_core::error::VerifyError;
use edge_revoke_core::keys::{Alg, Key};
use edge_revoke_core::token::signature::{
    subtle_params, verify_common, SignatureVerifier, SubtleParams,
};
use std::rc::Rc;
use worker::js_sys::{self, Promise};
use worker::wasm_bindgen::prelude::*;

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
}

/// A WebCrypto key imported for one algorithm, with its verify parameters,
/// kept in the key's own imports (so it goes when the key does).
struct Imported {
    key: JsValue,
    params: JsValue,
}

/// HS* in Rust (cheap), everything else through the runtime's SubtleCrypto.
#[derive(Default)]
pub(crate) struct WebCrypto;

/// A SubtleCrypto algorithm dictionary.
fn dictionary(params: &SubtleParams) -> JsValue {
    let mut pairs = vec![("name", JsValue::from_str(params.name))];
    if let Some(hash) = params.hash {
        pairs.push(("hash", hash.into()));
    }
    if let Some(curve) = params.named_curve {
        pairs.push(("namedCurve", curve.into()));
    }
    if let Some(salt) = params.salt_length {
        pairs.push(("saltLength", salt.into()));
    }
    object(&pairs)
}

impl WebCrypto {
    async fn import(&self, key: &Key, alg: Alg) -> Result<Rc<Imported>, VerifyError> {
        if let Some(imported) = key.imports.get::<Imported>(alg) {
            return Ok(imported);
        }
        let (import, verify) = subtle_params(key.kind, alg).ok_or(VerifyError::KeyRejected)?;
        let jwk = js_sys::JSON::parse(&key.public_jwk).map_err(|_| VerifyError::KeyRejected)?;
        let usages = js_sys::Array::of1(&"verify".into());
        let promise = import_key("jwk", &jwk, &dictionary(&import), false, &usages);
        let crypto_key = settle(promise)
            .await
            .map_err(|()| VerifyError::KeyRejected)?;
        let imported = Rc::new(Imported {
            key: crypto_key,
            params: dictionary(&verify),
        });
        key.imports.insert(alg, imported.clone());
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
        let imported = self.import(key, alg).await?;
        let promise = subtle_verify(&imported.params, &imported.key, signature, message)
            .map_err(|_| VerifyError::Unavailable)?;
        // A rejected verify (e.g. a malformed signature) is "does not verify".
        Ok(settle(Ok(promise))
            .await
            .is_ok_and(|verified| verified.is_truthy()))
    }
}

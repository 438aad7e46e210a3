//! `POST /token-service/client/server/invalidate/token`: a backend service
//! invalidates a token by reference with an API key. Its answers use the
//! `resCode` shape of the published contract.

use super::steps::{resolve_target, revoke};
use super::{fail, Context, Done, Failure, Runtime};
use crate::error::ServiceError;
use crate::http::reply::Reply;
use crate::http::request::RequestHead;
use crate::http::routes::MAX_BODY;
use crate::revocation::RevokeReason;
use serde_json::Value;

/// Exact body of the invalidation route's success.
pub const INVALIDATE_SUCCESS: &str =
    r#"{"resCode":200,"resDesc":"SUCCESS","data":{"resCode":100,"resDesc":"Success"}}"#;

pub(super) async fn invalidate<R: Runtime>(
    head: &RequestHead,
    body: Option<&[u8]>,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    let presented = head.header("x-api-key").unwrap_or_default().as_bytes();
    // Compare against every key, without stopping early.
    let authorised = cx
        .config
        .invalidate_api_keys
        .iter()
        .fold(false, |found, key| key.matches(presented) | found);
    if !authorised {
        return Err(fail(ServiceError::BadApiKey));
    }
    let reference = body
        .filter(|body| body.len() <= MAX_BODY)
        .and_then(parse_invalidate_body)
        .ok_or_else(|| fail(ServiceError::BadBody))?;
    let target = match resolve_target(&reference, cx).await {
        Ok(Some(target)) => target,
        Ok(None) => return Err(fail(ServiceError::UnknownToken)),
        Err((_, id)) => return Err((ServiceError::Unavailable.into(), id)),
    };
    let reason = RevokeReason::Service;
    let id = revoke(target, reason, "api-key".into(), cx)
        .await
        .map_err(|(_, id)| (ServiceError::Unavailable.into(), id))?;
    let mut reply = Reply::json(200, &());
    reply.body = INVALIDATE_SUCCESS.as_bytes().to_vec();
    Ok(Done::revoked(reply, reason, &id, cx))
}

/// `{"tokenReferenceId": "<non-empty string>"}`; other members are ignored.
/// The content type is not checked: the published sample sends text/plain.
/// The body must be UTF-8 and a JSON object: a derived struct would also
/// take `["..."]`, and serde_json skips ignored strings without checking
/// their UTF-8 (both found by fuzzing).
pub fn parse_invalidate_body(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let value: Value = serde_json::from_str(text).ok()?;
    let reference = value.as_object()?.get("tokenReferenceId")?.as_str()?.trim();
    (!reference.is_empty()).then(|| reference.to_owned())
}

//! Admin routes: the revocation listing, restore, and signing a subject out
//! everywhere. Each needs a valid, unrevoked caller holding one of
//! `ADMIN_ROLES`.

use super::steps::{caller_name, cut_off, require_admin, with_retries};
use super::{fail, Context, Done, Failure};
use crate::error::RequestError;
use crate::keys::JwksFetcher;
use crate::log::Event;
use crate::primitives::parse_form;
use crate::reply::Reply;
use crate::request::RequestHead;
use crate::revocation::RevokeReason;
use crate::routes::{DEFAULT_PAGE, MAX_PAGE};
use crate::store::RevocationStore;
use crate::token::TokenId;
use crate::verify::SignatureVerifier;
use serde_json::{json, Value};

pub(super) async fn list<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    require_admin(head, cx).await?;
    let malformed = || fail(RequestError::Malformed);
    let query = parse_form(&head.query).ok_or_else(malformed)?;
    let one = |name: &str| -> Result<Option<&str>, Failure> {
        let mut values = query
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (value, None) => Ok(value.filter(|v| !v.is_empty())),
            _ => Err(malformed()),
        }
    };
    let limit = match one("limit")? {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(malformed)?,
    };
    let sub = one("sub")?;
    let page = cx
        .services
        .store
        .list(one("cursor")?, limit)
        .await
        .map_err(fail)?;
    // A `sub` filter applies within the page, so a page may hold fewer items.
    let items: Vec<Value> = page
        .items
        .iter()
        .filter(|item| sub.is_none() || item.record.sub.as_deref() == sub)
        .map(|item| {
            let mut value = serde_json::to_value(&item.record).unwrap_or_default();
            value["expires_at"] = json!(item.expires_at);
            value
        })
        .collect();
    let body = json!({
        "items": items,
        "cursor": page.cursor,
        "list_complete": page.cursor.is_none(),
    });
    Ok(Done::reply(Reply::json(200, &body)))
}

pub(super) async fn restore<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    jti: &str,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    let admin = require_admin(head, cx).await?;
    let id = TokenId::from_reference(jti).ok_or_else(|| fail(RequestError::UnknownToken))?;
    let store = cx.services.store;
    let existing = store.get(&id).await.map_err(fail)?;
    if existing.is_none() {
        return Err((RequestError::UnknownToken.into(), Some(id)));
    }
    with_retries(store, || store.delete(&id))
        .await
        .map_err(|e| (e.into(), Some(id.clone())))?;
    Ok(Done::Answered {
        reply: Reply::empty(204),
        event: Some(Event::restored(&id, admin.claims().sub.clone(), cx.route)),
    })
}

pub(super) async fn sign_out_subject<S: RevocationStore, V: SignatureVerifier, F: JwksFetcher>(
    head: &RequestHead,
    sub: &str,
    cx: &Context<'_, S, V, F>,
) -> Result<Done, Failure> {
    let admin = require_admin(head, cx).await?;
    cut_off(sub, None, caller_name(&admin), cx.now, cx).await?;
    Ok(Done::Answered {
        reply: Reply::empty(204),
        event: Some(Event::revoked(
            RevokeReason::AdminSignOut,
            None,
            Some(sub.to_owned()),
            cx.route,
        )),
    })
}

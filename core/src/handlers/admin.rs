//! Admin routes: the revocation listing, restore, and signing a subject out
//! everywhere. Each needs a valid, unrevoked caller holding one of
//! `ADMIN_ROLES`.

use super::steps::{caller_name, cut_off, edge_cutoff, require_admin};
use super::{fail, Context, Done, Failure, Runtime};
use crate::error::RequestError;
use crate::http::reply::Reply;
use crate::http::request::RequestHead;
use crate::http::routes::{DEFAULT_PAGE, MAX_PAGE};
use crate::log::Event;
use crate::primitives::parse_form;
use crate::revocation::{CutoffKind, RevokeReason};
use crate::token::TokenId;
use serde_json::{json, Value};

/// `limit` (1 to 1000, default 100), `cursor`, and any other single-valued
/// parameter of a listing's query. A repeated or malformed one is 400.
struct PageQuery {
    pairs: Vec<(String, String)>,
    limit: usize,
}

impl PageQuery {
    fn parse(head: &RequestHead) -> Result<PageQuery, Failure> {
        let pairs = parse_form(&head.query).ok_or_else(|| fail(RequestError::Malformed))?;
        let mut query = PageQuery {
            pairs,
            limit: DEFAULT_PAGE,
        };
        if let Some(text) = query.one("limit")? {
            query.limit = text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| fail(RequestError::Malformed))?;
        }
        Ok(query)
    }

    /// The one non-empty value of `name`, if any.
    fn one(&self, name: &str) -> Result<Option<&str>, Failure> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (value, None) => Ok(value.filter(|v| !v.is_empty())),
            _ => Err(fail(RequestError::Malformed)),
        }
    }
}

/// The listing body: `items`, `cursor`, `list_complete`.
fn page_reply(items: Vec<Value>, cursor: Option<String>) -> Done {
    let body = json!({
        "items": items,
        "list_complete": cursor.is_none(),
        "cursor": cursor,
    });
    Done::reply(Reply::json(200, &body))
}

pub(super) async fn list<R: Runtime>(
    head: &RequestHead,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    require_admin(head, cx).await?;
    let query = PageQuery::parse(head)?;
    let sub = query.one("sub")?;
    let page = cx
        .rt
        .store()
        .list(query.one("cursor")?, query.limit)
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
    Ok(page_reply(items, page.cursor))
}

/// `GET /api/journal`: the revocation journal's head, oldest retained
/// entry and KV backlog (`journal`, `null` when it cannot be reached), and
/// this isolate's cursor and mirror age (`isolate`); `{"bound": false}`
/// without a journal.
pub(super) async fn journal_status<R: Runtime>(
    head: &RequestHead,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    require_admin(head, cx).await?;
    let status = cx.rt.store().journal_status().await;
    Ok(Done::reply(Reply::json(200, &status)))
}

/// `GET /api/cutoffs?kind=subject|session|email` (default `subject`): one
/// KV `list` call per page, like the revocation listing.
pub(super) async fn list_cutoffs<R: Runtime>(
    head: &RequestHead,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    require_admin(head, cx).await?;
    let query = PageQuery::parse(head)?;
    let kind = match query.one("kind")? {
        None | Some("subject") => CutoffKind::Subject,
        Some("session") => CutoffKind::Session,
        Some("email") => CutoffKind::Email,
        Some(_) => return Err(fail(RequestError::Malformed)),
    };
    let page = cx
        .rt
        .store()
        .list_cutoffs(kind, query.one("cursor")?, query.limit)
        .await
        .map_err(fail)?;
    let items = page
        .items
        .iter()
        .map(|(cutoff, expires_at)| {
            let mut value = serde_json::to_value(cutoff).unwrap_or_default();
            value["kind"] = kind.as_str().into();
            value["expires_at"] = json!(expires_at);
            value
        })
        .collect();
    Ok(page_reply(items, page.cursor))
}

pub(super) async fn restore<R: Runtime>(
    head: &RequestHead,
    jti: &str,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    let admin = require_admin(head, cx).await?;
    let id = TokenId::from_reference(jti).ok_or_else(|| fail(RequestError::UnknownToken))?;
    let store = cx.rt.store();
    let existing = store.record(&id).await.map_err(fail)?;
    if existing.is_none() {
        return Err((RequestError::UnknownToken.into(), Some(id)));
    }
    store
        .restore(&id)
        .await
        .map_err(|e| (e.into(), Some(id.clone())))?;
    Ok(Done::Answered {
        reply: Reply::empty(204),
        event: Some(Event::restored(&id, admin.claims().sub.clone(), cx.route)),
    })
}

pub(super) async fn sign_out_subject<R: Runtime>(
    head: &RequestHead,
    sub: &str,
    cx: &Context<'_, R>,
) -> Result<Done, Failure> {
    let admin = require_admin(head, cx).await?;
    let at = edge_cutoff(cx, None);
    cut_off(sub, None, caller_name(&admin), at, cx).await?;
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

//! `invalidate_body` target: bytes → `parse_invalidate_body`, checked against
//! serde_json, then the whole `POST /token-service/client/server/invalidate/token`
//! route through `handlers::handle` with a fresh `MemoryKv`.
//!
//! Input format: the request body, verbatim.

use crate::fixtures::{self, API_KEY};
use edge_revoke_core::handlers::{parse_invalidate_body, Action, INVALIDATE_SUCCESS};
use edge_revoke_core::http::request::RequestHead;
use edge_revoke_core::http::routes::MAX_BODY;
use edge_revoke_core::token::Reference;
use edge_revoke_test_support::World;
use serde_json::Value;

const URL: &str = "https://edge.test/token-service/client/server/invalidate/token";

/// `POST` the body with `api_key` to a world with a fresh store and fresh
/// caches, so every iteration is independent of the last.
fn send(body: &[u8], api_key: &str, world: &World) -> (u16, Vec<u8>) {
    let head = RequestHead::new(
        "POST",
        URL,
        [("content-type", "text/plain"), ("x-api-key", api_key)],
    );
    match world.decide(&head, Some(body)).0.action {
        Action::Reply(reply) => (reply.status, reply.body),
        Action::Forward(_) => panic!("the invalidate route forwarded a request"),
    }
}

/// One fuzz iteration. Panics on a violated invariant.
pub fn check(data: &[u8]) {
    // 1. The parser, against serde_json's own reading of the body.
    let parsed = parse_invalidate_body(data);
    if let Some(reference) = &parsed {
        assert!(!reference.is_empty(), "empty tokenReferenceId accepted");
        assert_eq!(reference, reference.trim(), "tokenReferenceId not trimmed");
        let json: Value = serde_json::from_slice(data)
            .unwrap_or_else(|e| panic!("Some({reference:?}) from a body that is not JSON: {e}"));
        let member = json
            .as_object()
            .unwrap_or_else(|| {
                panic!("Some({reference:?}) from a body that is not an object: {json}")
            })
            .get("tokenReferenceId")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("Some({reference:?}) without a string tokenReferenceId"));
        assert_eq!(member.trim(), reference);
    }

    check_route(data, parsed.as_deref());
}

/// The whole route through `handlers::handle`.
fn check_route(data: &[u8], parsed: Option<&str>) {
    // 2. A wrong API key is 401 whatever the body, and writes nothing.
    let world = World::with(fixtures::config().clone());
    let store = &world.store;
    let (status, _) = send(data, "service-key-3", &world);
    assert_eq!(status, 401, "wrong API key gave {status}");
    assert!(store.entries().is_empty(), "a rejected request wrote");

    // 3. The right key: 200, 400 or 404 (401 is listed for completeness: it
    //    must not happen with a configured key).
    let before = store.entries().len();
    let (status, body) = send(data, API_KEY, &world);
    assert!(
        matches!(status, 200 | 400 | 401 | 404),
        "invalidate answered {status}"
    );
    assert_ne!(status, 401, "a configured API key was refused");
    let after = store.entries();
    match status {
        200 => {
            assert_eq!(after.len(), before + 1, "200 without exactly one new entry");
            assert_eq!(body, INVALIDATE_SUCCESS.as_bytes());
            let reference = parsed.expect("200 for a body the parser refuses");
            let (key, (record, _)) = after.iter().next().expect("one entry");
            assert_eq!(key, &format!("revoked:{}", record.jti));
            assert_eq!(record.reason, "service");
            // A bare ID is stored as sent; a JWT under its jti or derived ID.
            if edge_revoke_core::token::reference(reference) == Reference::Id {
                assert_eq!(record.jti, reference);
            }
        }
        400 => {
            assert_eq!(after.len(), before, "400 wrote");
            assert!(
                parsed.is_none() || data.len() > MAX_BODY,
                "400 for a body the parser accepts"
            );
        }
        _ => {
            assert_eq!(after.len(), before, "{status} wrote");
            assert!(parsed.is_some(), "404 for a body the parser refuses");
        }
    }
}

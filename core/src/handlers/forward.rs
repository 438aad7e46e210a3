//! Claim headers for the origin: which headers a forwarded request loses
//! (every client header that an origin could take for a `FORWARD_CLAIMS`
//! header, so a client cannot spoof one) and which it gains (the verified
//! caller's claims).

use super::Forward;
use crate::config::Config;
use crate::error::Rejection;
use crate::http::request::RequestHead;
use crate::token::VerifiedToken;
use serde_json::Value;

/// True when an origin may read header `name` as `header` (a lower-case
/// `FORWARD_CLAIMS` name): the same name once case is ignored and `_` and
/// `-` count as one character. CGI-style stacks (WSGI's `environ`, Rack,
/// PHP's `$_SERVER`) put both `X-User-Id` and `X_User_Id` under
/// `HTTP_X_USER_ID`.
pub fn spells(name: &str, header: &str) -> bool {
    let fold = |b: u8| match b {
        b'_' => b'-',
        b => b.to_ascii_lowercase(),
    };
    name.len() == header.len()
        && name
            .bytes()
            .zip(header.bytes())
            .all(|(a, b)| fold(a) == fold(b))
}

/// How to forward `head`: to the configured origin, with its claim headers.
/// Every client header that spells a configured header is stripped (see
/// [`spells`]; `head.names` lists the request's header names when claim
/// headers are configured), then those whose claims the verified caller has
/// are set.
pub(super) fn plan(config: &Config, head: &RequestHead, caller: Option<&VerifiedToken>) -> Forward {
    let claimed = || config.forward_claims.iter().map(|(_, header)| header);
    let mut remove: Vec<String> = claimed().cloned().collect();
    for name in &head.names {
        if claimed().any(|header| spells(name, header)) && !remove.contains(name) {
            remove.push(name.clone());
        }
    }
    let set = caller.map_or_else(Vec::new, |token| {
        config
            .forward_claims
            .iter()
            .filter_map(|(claim, header)| {
                let value = header_value(token.claims().all.get(claim)?)?;
                Some((header.clone(), value))
            })
            .collect()
    });
    let plain_json = head.wants_plain_json();
    Forward {
        url: config.forward_url(&head.url),
        timeout_ms: config.origin_timeout.saturating_mul(1000),
        remove,
        set,
        unreachable: Rejection::OriginUnreachable.static_reply(plain_json),
        timed_out: Rejection::OriginTimeout.static_reply(plain_json),
    }
}

/// A claim as a header value: strings as they are, arrays of strings joined
/// with `,`, other values as JSON. Bytes outside printable ASCII are
/// percent-encoded, so any claim is a valid header. Over 8 KiB: not sent.
fn header_value(claim: &Value) -> Option<String> {
    let text = match claim {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        Value::Null => return None,
        other => other.to_string(),
    };
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    (out.len() <= 8 * 1024).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::spells;

    #[test]
    fn every_spelling_an_origin_could_fold_together() {
        for name in [
            "x-user-id",
            "X-User-Id",
            "X_User_Id",
            "x_USER-id",
            "X-USER_ID",
        ] {
            assert!(spells(name, "x-user-id"), "{name}");
        }
        for name in [
            "x-user-ids",
            "x-user",
            "xuser-id",
            "x-user-id ",
            "x.user.id",
            "",
        ] {
            assert!(!spells(name, "x-user-id"), "{name:?}");
        }
    }
}

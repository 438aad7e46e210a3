//! Claim headers for the origin: which headers a forwarded request loses
//! (every `FORWARD_CLAIMS` header, so a client cannot spoof one) and which it
//! gains (the verified caller's claims).

use super::Forward;
use crate::config::Config;
use crate::token::VerifiedToken;
use serde_json::Value;

/// Claim headers for the origin: strip every configured header, then set
/// those whose claims the verified caller has.
pub(super) fn plan(config: &Config, caller: Option<&VerifiedToken>) -> Forward {
    let remove = config
        .forward_claims
        .iter()
        .map(|(_, h)| h.clone())
        .collect();
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
    Forward { remove, set }
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

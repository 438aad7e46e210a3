//! `routes` target: bytes → method + URL (+ headers) → `RequestHead::new`,
//! `classify`, `query_values`, `percent_decode`, `parse_form`, each checked
//! against a small reference model written from the route table in
//! `src/lib.rs` and the documented contracts.
//!
//! Input format (UTF-8, lossily): the first line is `METHOD SP target`; a
//! target starting with `/` is appended to `https://edge.test`, anything else
//! is the whole URL; without a space the method is `GET`. Every further line
//! is a header, `name: value`.

use edge_revoke_core::http::request::RequestHead;
use edge_revoke_core::http::routes::{body_limit, classify, Route, Scope};
use edge_revoke_core::primitives::{parse_form, percent_decode};

// The route table's paths, written out again on purpose: a reference model
// must not take them from the code it checks.
const SIGN_OUT: &str = "api/tokens";
const IDENTITY: &str = "v2.0/tokens";
const INVALIDATE: &str = "token-service/client/server/invalidate/token";
const OAUTH_REVOKE: &str = "oauth/revoke";
const OAUTH_INTROSPECT: &str = "oauth/introspect";
const REVOCATIONS: &str = "api/revocations";
const USERS: &str = "api/users";

/// First segments (canonical, any case) of the routes the worker owns. Any
/// other path is the origin's (except for CORS preflights, which are
/// forwarded untouched).
pub const OWNED_FIRST_SEGMENTS: [&str; 6] =
    ["api", "v2.0", "token-service", "oauth", "oidc", "ssf"];

/// The request for an input.
pub fn request(data: &[u8]) -> RequestHead {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, target) = first.split_once(' ').unwrap_or(("GET", first));
    let url = if target.starts_with('/') {
        format!("https://edge.test{target}")
    } else {
        target.to_owned()
    };
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    RequestHead::new(method, &url, headers)
}

/// Reference `%XX` decoder: `None` for a bad escape or non-UTF-8 output.
pub fn model_percent_decode(input: &str, plus_as_space: bool) -> Option<String> {
    let mut out = Vec::new();
    let mut rest = input.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            let hex = tail.get(..2)?;
            let text = std::str::from_utf8(hex).ok()?;
            if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(text, 16).ok()?);
            rest = &tail[2..];
        } else {
            out.push(if plus_as_space && first == b'+' {
                b' '
            } else {
                first
            });
            rest = tail;
        }
    }
    String::from_utf8(out).ok()
}

/// Reference form parser: `&`-separated, empty parts skipped, first `=`
/// splits, both sides decoded with `+` as space; any bad part fails it all.
pub fn model_parse_form(input: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for part in input.split('&') {
        if part.is_empty() {
            continue;
        }
        let (name, value) = match part.find('=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, ""),
        };
        pairs.push((
            model_percent_decode(name, true)?,
            model_percent_decode(value, true)?,
        ));
    }
    Some(pairs)
}

/// What a request should classify as. Kept apart from `Route` so that the
/// model does not reuse the code under test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    SignOut(&'static str),
    IdentityRevoke(Option<String>),
    IdentityValidate(String),
    Invalidate,
    UserSignOut(String),
    OAuthRevoke,
    OAuthIntrospect,
    ListRevocations,
    ListCutoffs,
    Restore(String),
    BackchannelLogout,
    SsfEvents,
    Preflight,
    Proxy,
    /// `classify` returns an error (400).
    Malformed,
    /// A route this model does not know (the model needs updating).
    Other(String),
}

/// `classify`'s answer, in the model's terms.
#[allow(unreachable_patterns)]
pub fn actual<E>(route: &Result<Route, E>) -> Expected {
    match route {
        Ok(Route::SignOut { scope }) => Expected::SignOut(match scope {
            Scope::Local => "local",
            Scope::Global => "global",
            Scope::Others => "others",
            Scope::Session => "session",
        }),
        Ok(Route::IdentityRevoke { token_id }) => Expected::IdentityRevoke(token_id.clone()),
        Ok(Route::IdentityValidate { token_id, .. }) => {
            Expected::IdentityValidate(token_id.clone())
        }
        Ok(Route::Invalidate) => Expected::Invalidate,
        Ok(Route::UserSignOut { sub }) => Expected::UserSignOut(sub.clone()),
        Ok(Route::OAuthRevoke) => Expected::OAuthRevoke,
        Ok(Route::OAuthIntrospect) => Expected::OAuthIntrospect,
        Ok(Route::ListRevocations) => Expected::ListRevocations,
        Ok(Route::ListCutoffs) => Expected::ListCutoffs,
        Ok(Route::Restore { jti }) => Expected::Restore(jti.clone()),
        Ok(Route::BackchannelLogout) => Expected::BackchannelLogout,
        Ok(Route::SsfEvents) => Expected::SsfEvents,
        Ok(Route::Preflight) => Expected::Preflight,
        Ok(Route::Proxy) => Expected::Proxy,
        Ok(other) => Expected::Other(other.name().to_owned()),
        Err(_) => Expected::Malformed,
    }
}

/// Reference canonical path: split on `/`; in each segment drop everything
/// from the first `;`, decode `%XX` of unreserved characters (other escapes
/// kept, hex upper-cased; a bad escape kept); drop empty and `.` segments;
/// `..` removes the segment before it.
pub fn model_canonical(path: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for raw in path.split('/') {
        let plain = match raw.find(';') {
            Some(i) => &raw[..i],
            None => raw,
        };
        let mut text = String::new();
        let chars: Vec<char> = plain.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let hex = (chars[i] == '%' && i + 2 < chars.len())
                .then(|| (chars[i + 1], chars[i + 2]))
                .filter(|(a, b)| a.is_ascii_hexdigit() && b.is_ascii_hexdigit());
            match hex {
                Some((a, b)) => {
                    let value = (a.to_digit(16).unwrap() * 16 + b.to_digit(16).unwrap()) as u8;
                    let c = value as char;
                    if c.is_ascii_alphanumeric() || "-._~".contains(c) {
                        text.push(c);
                    } else {
                        text.push('%');
                        text.push(a.to_ascii_uppercase());
                        text.push(b.to_ascii_uppercase());
                    }
                    i += 3;
                }
                None => {
                    text.push(chars[i]);
                    i += 1;
                }
            }
        }
        match text.as_str() {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push((text, raw.to_owned())),
        }
    }
    out
}

/// True when the canonical segments spell `fixed` (`a/b/c`), any case.
fn model_is(segments: &[(String, String)], fixed: &str) -> bool {
    let fixed: Vec<&str> = fixed.split('/').collect();
    segments.len() == fixed.len()
        && segments
            .iter()
            .zip(&fixed)
            .all(|((text, _), f)| text.eq_ignore_ascii_case(f))
}

/// The values of query parameter `name` (any case): absent, or one
/// non-empty value (repeats must agree); anything else is malformed.
fn model_single_ci(query: &str, name: &str) -> Result<Option<String>, Expected> {
    let pairs = model_parse_form(query).ok_or(Expected::Malformed)?;
    let values: Vec<String> = pairs
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect();
    match values.first() {
        None => Ok(None),
        Some(first) if first.is_empty() || values.iter().any(|v| v != first) => {
            Err(Expected::Malformed)
        }
        Some(first) => Ok(Some(first.clone())),
    }
}

/// The route table of the README, as a model, over the canonical path.
pub fn model_classify(head: &RequestHead) -> Expected {
    let (method, query) = (head.method.as_str(), head.query.as_str());
    if method == "OPTIONS" && head.header("access-control-request-method").is_some() {
        return Expected::Preflight;
    }
    let segs = model_canonical(&head.path);
    let decoded = |text: &str, make: fn(String) -> Expected| match model_percent_decode(text, false)
    {
        Some(text) => make(text),
        None => Expected::Malformed,
    };
    let fixed = [
        ("POST", INVALIDATE, Expected::Invalidate),
        ("POST", OAUTH_REVOKE, Expected::OAuthRevoke),
        ("POST", OAUTH_INTROSPECT, Expected::OAuthIntrospect),
        ("GET", REVOCATIONS, Expected::ListRevocations),
        ("GET", "api/cutoffs", Expected::ListCutoffs),
        (
            "POST",
            "oidc/backchannel-logout",
            Expected::BackchannelLogout,
        ),
        ("POST", "ssf/events", Expected::SsfEvents),
    ];
    for (m, path, expected) in fixed {
        if m == method && model_is(&segs, path) {
            return expected;
        }
    }
    if method == "DELETE" && model_is(&segs, SIGN_OUT) {
        return match model_single_ci(query, "scope") {
            Ok(None) => Expected::SignOut("local"),
            Ok(Some(scope)) => match scope.as_str() {
                "local" => Expected::SignOut("local"),
                "global" => Expected::SignOut("global"),
                "others" => Expected::SignOut("others"),
                "session" => Expected::SignOut("session"),
                _ => Expected::Malformed,
            },
            Err(e) => e,
        };
    }
    if method == "DELETE" && model_is(&segs, IDENTITY) {
        return match model_single_ci(query, "tokenId") {
            Ok(id) => Expected::IdentityRevoke(id),
            Err(e) => e,
        };
    }
    let last_after = |base: &str| -> Option<(String, String)> {
        let (last, rest) = segs.split_last()?;
        model_is(rest, base).then(|| last.clone())
    };
    if method == "DELETE" {
        if let Some((text, _)) = last_after(REVOCATIONS) {
            return decoded(&text, Expected::Restore);
        }
        if segs.len() == 4 && model_is(&segs[..2], USERS) && model_is(&segs[3..], "tokens") {
            return decoded(&segs[2].0, Expected::UserSignOut);
        }
    }
    let Some((text, _raw)) = last_after(IDENTITY) else {
        return Expected::Proxy;
    };
    match method {
        "DELETE" => {
            let Some(id) = model_percent_decode(&text, false) else {
                return Expected::Malformed;
            };
            match model_single_ci(query, "tokenId") {
                Err(e) => e,
                Ok(Some(q)) if q != id => Expected::Malformed,
                Ok(_) => Expected::IdentityRevoke(Some(id)),
            }
        }
        "GET" | "HEAD" => match model_percent_decode(&text, false) {
            Some(token_id) => Expected::IdentityValidate(token_id),
            None => Expected::Proxy,
        },
        _ => Expected::Proxy,
    }
}

/// One fuzz iteration. Panics on a violated invariant.
pub fn check(data: &[u8]) {
    let head = request(data);

    // RequestHead::new splits sanely.
    assert!(head.path.starts_with('/'), "path {:?}", head.path);
    assert!(!head.path.contains(['?', '#']), "path {:?}", head.path);
    assert!(!head.query.contains('#'), "query {:?}", head.query);
    assert_eq!(head.method, head.method.to_ascii_uppercase());

    // The primitives agree with the models.
    for input in [head.path.as_str(), head.query.as_str()] {
        for plus in [false, true] {
            let got = percent_decode(input, plus);
            assert_eq!(
                got,
                model_percent_decode(input, plus),
                "percent_decode({input:?}, {plus})"
            );
            if let Some(decoded) = &got {
                assert!(decoded.len() <= input.len());
                let escaped = input.contains('%') || (plus && input.contains('+'));
                if !escaped {
                    assert_eq!(decoded, input, "decode changed plain text");
                }
            }
        }
    }
    let form = parse_form(&head.query);
    assert_eq!(
        form,
        model_parse_form(&head.query),
        "parse_form({:?})",
        head.query
    );
    for name in ["tokenId", "scope"] {
        let values = head.query_values(name);
        let expected = form.as_ref().map(|pairs| {
            pairs
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        });
        assert_eq!(values, expected, "query_values({name:?})");
    }

    // classify: matches the model; never shadows an origin path.
    let route = actual(&classify(&head));
    assert_eq!(
        route,
        model_classify(&head),
        "classify({} {:?} ? {:?})",
        head.method,
        head.path,
        head.query
    );
    let first = model_canonical(&head.path)
        .first()
        .map(|(text, _)| text.to_ascii_lowercase());
    let owned = first.is_some_and(|first| OWNED_FIRST_SEGMENTS.contains(&first.as_str()));
    if !owned && head.method != "OPTIONS" {
        assert_eq!(
            route,
            Expected::Proxy,
            "{} {:?} is the origin's",
            head.method,
            head.path
        );
    }
    let method_path = (head.method.as_str(), head.path.as_str());
    match &route {
        Expected::IdentityRevoke(Some(t)) => {
            assert!(!t.is_empty(), "IdentityRevoke with an empty token_id");
            assert_eq!(head.method, "DELETE");
        }
        Expected::IdentityValidate(t) => {
            assert!(!t.is_empty(), "IdentityValidate with an empty token_id");
            assert!(head.method == "GET" || head.method == "HEAD");
        }
        Expected::Restore(t) | Expected::UserSignOut(t) => {
            assert!(!t.is_empty(), "{route:?} with an empty name");
            assert_eq!(head.method, "DELETE");
        }
        Expected::SignOut(_) => assert_eq!(method_path.0, "DELETE"),
        Expected::Invalidate => assert_eq!(method_path.0, "POST"),
        Expected::Preflight => {
            assert_eq!(head.method, "OPTIONS");
            assert!(head.header("access-control-request-method").is_some());
        }
        Expected::Malformed => assert_eq!(head.method, "DELETE", "only DELETE routes fail"),
        _ => {}
    }
    assert_eq!(
        classify(&head).is_ok_and(|route| body_limit(&route).is_some()),
        matches!(
            route,
            Expected::Invalidate
                | Expected::OAuthRevoke
                | Expected::OAuthIntrospect
                | Expected::BackchannelLogout
                | Expected::SsfEvents
        ),
        "only the POST routes read a body"
    );
}

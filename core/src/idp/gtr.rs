//! Global Token Revocation (draft-parecki-oauth-global-token-revocation-05,
//! "GTR" below): the rules of the signed assertion a caller may present (as
//! Okta's Universal Logout sends it) and of the request body, which names
//! the user to sign out. The signature has been checked before
//! [`assertion`] runs ([`crate::token::verify_signature`]).
//!
//! - GTR §3.2: the body is `{"sub_id": <RFC 9493 subject identifier>}`.
//!   Drafts -00 to -02 (and Okta's documentation until June 2025, and
//!   Auth0's receiver) call the member `subject`; both are read, never both
//!   at once.
//! - GTR §3.2 names three formats: `email` (RFC 9493 §3.2.2), `iss_sub`
//!   (§3.2.3) and `opaque` (§3.2.4). Any other is a `400` (§3.4.2).
//! - GTR §3.2: the call "MUST also be authenticated"; the method is out of
//!   the draft's scope. Okta sends a JWT with `typ:
//!   global-token-revocation+jwt`, `iss` its issuer, `aud` the endpoint's
//!   URL, `exp` five minutes ahead, `nbf` five minutes back, `iat` and `jti`.

use crate::error::GtrError;
use crate::token::rules::Rules;
use crate::token::{audiences, numeric_date, string_claim, SignedToken, TokenId};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The `typ` of a Global Token Revocation assertion (Okta's Universal
/// Logout). `application/` in front is the same media type (RFC 7515
/// §4.1.9); both are compared without regard to case.
pub const ASSERTION_TYPE: &str = "global-token-revocation+jwt";

/// The longest an assertion may live, from now to its `exp` (Okta: five
/// minutes). Its `jti` is kept until then, so that it is used only once.
pub const MAX_ASSERTION_LIFETIME: u64 = 3600;

/// True when a JWT header's `typ` names a Global Token Revocation
/// assertion.
pub fn is_assertion_type(typ: Option<&str>) -> bool {
    typ.is_some_and(|typ| {
        let typ = typ
            .get(..12)
            .filter(|p| p.eq_ignore_ascii_case("application/"))
            .map_or(typ, |_| &typ[12..]);
        typ.eq_ignore_ascii_case(ASSERTION_TYPE)
    })
}

/// An assertion that passed every rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assertion {
    /// The name under which its use is recorded: `gtr-assertion:<jti>`, a
    /// namespace of its own, so that no access token's ID is taken.
    pub used: TokenId,
    /// Its `exp`: how long that record is kept.
    pub exp: u64,
    /// Its `sub` (Okta: the app's client ID), for the log.
    pub sub: Option<String>,
}

fn bad(why: &'static str) -> GtrError {
    GtrError::BadAssertion(why)
}

/// The assertion rules over a signed token: `typ` is
/// [`ASSERTION_TYPE`], `iss` is `GTR_ISSUER`, `aud` names one of
/// `GTR_AUDIENCE`, `exp` is present and honoured with the leeway and at
/// most [`MAX_ASSERTION_LIFETIME`] ahead, `nbf` and `iat` (when present)
/// are not ahead of now by more than the leeway, and `jti` is present. A
/// token carrying `events` (a logout token or a SET) is never an
/// assertion.
pub fn assertion(signed: &SignedToken, rules: &Rules, now: u64) -> Result<Assertion, GtrError> {
    if !is_assertion_type(signed.typ.as_deref()) {
        return Err(bad(
            "the assertion's typ must be global-token-revocation+jwt",
        ));
    }
    let claims = &signed.claims;
    if claims.contains_key("events") {
        return Err(bad("a security event is not an assertion"));
    }
    let typed = |why| move |_| bad(why);
    let iss = string_claim(claims, "iss").map_err(typed("the assertion's iss is not a string"))?;
    if iss.is_none() || iss.as_deref() != rules.issuer.as_deref() {
        return Err(bad("issuer not accepted"));
    }
    let aud = audiences(claims).map_err(typed(
        "the assertion's aud is not a string or an array of strings",
    ))?;
    if !aud.iter().any(|aud| rules.audiences.contains(aud)) {
        return Err(bad("audience not accepted"));
    }
    let exp = numeric_date(claims, "exp")
        .map_err(typed("the assertion's exp is not a NumericDate"))?
        .ok_or(bad("the assertion has no exp"))?;
    if rules.expired(exp, now) {
        return Err(bad("assertion expired"));
    }
    if exp > now.saturating_add(MAX_ASSERTION_LIFETIME + rules.leeway) {
        return Err(bad("assertion lives over an hour"));
    }
    let ahead = |name, why| -> Result<(), GtrError> {
        let at = numeric_date(claims, name)
            .map_err(|_| bad("the assertion's nbf or iat is not a NumericDate"))?;
        match at {
            Some(at) if at > now.saturating_add(rules.leeway) => Err(bad(why)),
            _ => Ok(()),
        }
    };
    ahead("nbf", "assertion not yet valid")?;
    ahead("iat", "assertion issued in the future")?;
    let jti = string_claim(claims, "jti")
        .map_err(typed("the assertion's jti is not a string"))?
        .filter(|jti| !jti.is_empty())
        .ok_or(bad("the assertion has no jti"))?;
    let used = TokenId::from_reference(&format!("gtr-assertion:{jti}")).ok_or(bad(
        "the assertion's jti is over 242 bytes or holds a space or a control character",
    ))?;
    let sub = string_claim(claims, "sub").map_err(typed("the assertion's sub is not a string"))?;
    Ok(Assertion { used, exp, sub })
}

/// Whom a call signs out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// Every token with this `sub` (`iss_sub` of an accepted issuer, or
    /// `opaque`).
    Sub(String),
    /// Every token whose email claim is this address (lower-cased).
    Email(String),
}

/// A request body's subject, and its format's name (for the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// Whom.
    pub subject: Subject,
    /// `iss_sub`, `opaque` or `email`.
    pub format: &'static str,
}

/// What the body may name.
#[derive(Clone, Copy, Debug)]
pub struct Accepted<'a> {
    /// The issuers an `iss_sub` subject may name (`GTR_SUBJECT_ISSUERS`).
    pub issuers: &'a [String],
    /// The `email` format is taken (`SUBJECT_EMAIL_CLAIM` is set).
    pub email: bool,
}

fn request(why: &'static str) -> GtrError {
    GtrError::BadRequest(why)
}

/// The subject of a request body (GTR §3.2): a JSON object, without a
/// member name given twice at any depth, whose `sub_id` (or `subject`) is an
/// RFC 9493 subject identifier of a format `accepted` takes. Other members
/// are ignored.
pub fn subject(body: &[u8], accepted: Accepted<'_>) -> Result<Named, GtrError> {
    let body = strict_json(body).ok_or(request("the body is not a JSON object"))?;
    let body = body
        .as_object()
        .ok_or(request("the body is not a JSON object"))?;
    let id = match (body.get("sub_id"), body.get("subject")) {
        (Some(id), None) | (None, Some(id)) => id,
        (Some(_), Some(_)) => return Err(request("the body gives both sub_id and subject")),
        (None, None) => return Err(request("the body needs sub_id")),
    };
    let id = id
        .as_object()
        .ok_or(request("the subject identifier is not a JSON object"))?;
    let member = |name: &'static str, why: &'static str| -> Result<&str, GtrError> {
        id.get(name)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .ok_or(request(why))
    };
    let format = member("format", "the subject identifier has no format")?;
    let (subject, format) = match format {
        "iss_sub" => {
            let iss = member("iss", "an iss_sub identifier needs iss and sub")?;
            let sub = member("sub", "an iss_sub identifier needs iss and sub")?;
            if !accepted.issuers.iter().any(|accepted| accepted == iss) {
                return Err(request("the subject's issuer is not accepted"));
            }
            (Subject::Sub(sub.to_owned()), "iss_sub")
        }
        "opaque" => {
            let id = member("id", "an opaque identifier needs id")?;
            (Subject::Sub(id.to_owned()), "opaque")
        }
        "email" if accepted.email => {
            let email = member("email", "an email identifier needs email")?;
            (Subject::Email(email.to_ascii_lowercase()), "email")
        }
        "email" => return Err(request("the email format is not accepted here")),
        _ => return Err(request("unsupported subject identifier format")),
    };
    Ok(Named { subject, format })
}

/// JSON text as a value, refused when an object anywhere in it gives a
/// member name twice: the origin may read the other copy (the body is
/// forwarded to it as it came).
fn strict_json(bytes: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Strict>(bytes)
        .ok()
        .map(|Strict(v)| v)
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without duplicate member names")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Strict(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Strict, A::Error> {
        let mut map = Map::new();
        while let Some((name, Strict(value))) = access.next_entry::<String, Strict>()? {
            if map.insert(name, value).is_some() {
                return Err(serde::de::Error::custom("duplicate member"));
            }
        }
        Ok(Strict(Value::Object(map)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Alg;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;
    const ISSUER: &str = "https://org.okta.test";
    const ENDPOINT: &str = "https://api.test/global-token-revocation";

    fn rules() -> Rules {
        Rules {
            algorithms: vec![Alg::RS256],
            issuer: Some(ISSUER.into()),
            audiences: vec![ENDPOINT.into()],
            leeway: 60,
        }
    }

    /// Okta's assertion, as its Universal Logout guide documents it.
    fn okta(changes: Value) -> SignedToken {
        let mut claims = json!({
            "iss": ISSUER, "sub": "0oa-client", "aud": ENDPOINT,
            "exp": NOW + 300, "nbf": NOW - 300, "iat": NOW, "jti": "a-1",
        });
        for (name, value) in changes.as_object().unwrap() {
            match value {
                Value::Null => claims.as_object_mut().unwrap().remove(name),
                _ => claims
                    .as_object_mut()
                    .unwrap()
                    .insert(name.clone(), value.clone()),
            };
        }
        SignedToken {
            alg: Alg::RS256,
            typ: Some(ASSERTION_TYPE.into()),
            claims: claims.as_object().unwrap().clone(),
        }
    }

    fn refused(token: &SignedToken) -> &'static str {
        match assertion(token, &rules(), NOW) {
            Err(GtrError::BadAssertion(why)) => why,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn okta_s_assertion_passes() {
        let a = assertion(&okta(json!({})), &rules(), NOW).unwrap();
        assert_eq!(a.used.as_str(), "gtr-assertion:a-1");
        assert_eq!(a.exp, NOW + 300);
        assert_eq!(a.sub.as_deref(), Some("0oa-client"));
        let listed = okta(json!({"aud": ["https://other.test", ENDPOINT]}));
        assert!(assertion(&listed, &rules(), NOW).is_ok(), "aud as an array");
    }

    #[test]
    fn the_type_header_is_required_in_either_spelling() {
        for typ in [
            "global-token-revocation+jwt",
            "Global-Token-Revocation+JWT",
            "application/global-token-revocation+jwt",
        ] {
            assert!(is_assertion_type(Some(typ)), "{typ}");
        }
        for typ in [
            None,
            Some("JWT"),
            Some("at+jwt"),
            Some("logout+jwt"),
            Some("application/"),
            Some("global-token-revocation+jwt "),
            Some("x/global-token-revocation+jwt"),
        ] {
            assert!(!is_assertion_type(typ), "{typ:?}");
        }
        let mut access = okta(json!({}));
        access.typ = Some("at+jwt".into());
        assert_eq!(
            refused(&access),
            "the assertion's typ must be global-token-revocation+jwt"
        );
    }

    #[test]
    fn every_claim_rule_refuses_with_its_reason() {
        let cases = [
            (json!({"iss": "https://evil.test"}), "issuer not accepted"),
            (json!({"iss": null}), "issuer not accepted"),
            (json!({"iss": 7}), "the assertion's iss is not a string"),
            (
                json!({"aud": "https://api.test/other"}),
                "audience not accepted",
            ),
            (json!({"aud": null}), "audience not accepted"),
            (
                json!({"aud": [1]}),
                "the assertion's aud is not a string or an array of strings",
            ),
            (json!({"exp": null}), "the assertion has no exp"),
            (
                json!({"exp": "soon"}),
                "the assertion's exp is not a NumericDate",
            ),
            (json!({"exp": NOW - 60}), "assertion expired"),
            (json!({"exp": NOW + 3661}), "assertion lives over an hour"),
            (json!({"nbf": NOW + 61}), "assertion not yet valid"),
            (json!({"iat": NOW + 61}), "assertion issued in the future"),
            (
                json!({"iat": 1.5}),
                "the assertion's nbf or iat is not a NumericDate",
            ),
            (json!({"jti": null}), "the assertion has no jti"),
            (json!({"jti": ""}), "the assertion has no jti"),
            (json!({"jti": 5}), "the assertion's jti is not a string"),
            (json!({"jti": "j".repeat(243)}), LONG_OR_SPACED),
            (json!({"jti": "ul 1"}), LONG_OR_SPACED),
            (json!({"jti": "ul\t1"}), LONG_OR_SPACED),
            (json!({"sub": 5}), "the assertion's sub is not a string"),
            (
                json!({"events": {}}),
                "a security event is not an assertion",
            ),
        ];
        for (change, why) in cases {
            assert_eq!(refused(&okta(change.clone())), why, "{change}");
        }
    }

    const LONG_OR_SPACED: &str =
        "the assertion's jti is over 242 bytes or holds a space or a control character";

    #[test]
    fn a_jti_of_242_bytes_is_the_longest_taken() {
        let longest = "j".repeat(242);
        let a = assertion(&okta(json!({ "jti": longest })), &rules(), NOW).unwrap();
        assert_eq!(a.used.as_str().len(), 256);
    }

    #[test]
    fn the_time_rules_end_exactly_at_the_leeway() {
        let passes = |change: Value| assertion(&okta(change), &rules(), NOW).is_ok();
        assert!(passes(json!({"exp": NOW - 59})), "the last second accepted");
        assert!(!passes(json!({"exp": NOW - 60})));
        assert!(passes(json!({"exp": NOW + 3660})));
        assert!(!passes(json!({"exp": NOW + 3661})));
        assert!(passes(json!({"nbf": NOW + 60, "iat": NOW + 60})));
        assert!(passes(json!({"nbf": null, "iat": null})), "both optional");
    }

    const ISSUERS: &[&str] = &["https://idp.test", "https://org.okta.test"];

    fn accepted(email: bool) -> (Vec<String>, bool) {
        (ISSUERS.iter().map(|s| s.to_string()).collect(), email)
    }

    fn parse(body: &str, email: bool) -> Result<Named, GtrError> {
        let (issuers, email) = accepted(email);
        subject(
            body.as_bytes(),
            Accepted {
                issuers: &issuers,
                email,
            },
        )
    }

    #[test]
    fn each_format_names_its_subject() {
        let iss_sub =
            r#"{"sub_id":{"format":"iss_sub","iss":"https://org.okta.test","sub":"00u1"}}"#;
        assert_eq!(
            parse(iss_sub, false),
            Ok(Named {
                subject: Subject::Sub("00u1".into()),
                format: "iss_sub"
            })
        );
        let older = iss_sub.replace("sub_id", "subject");
        assert_eq!(
            parse(&older, false),
            parse(iss_sub, false),
            "the pre-03 member name"
        );
        let opaque = r#"{"sub_id":{"format":"opaque","id":"u-7"},"extra":1}"#;
        assert_eq!(
            parse(opaque, false).unwrap().subject,
            Subject::Sub("u-7".into())
        );
        let email = r#"{"sub_id":{"format":"email","email":"Alice@Example.COM"}}"#;
        assert_eq!(
            parse(email, true),
            Ok(Named {
                subject: Subject::Email("alice@example.com".into()),
                format: "email"
            })
        );
    }

    #[test]
    fn every_malformed_body_is_a_400_with_its_reason() {
        let cases = [
            ("", "the body is not a JSON object"),
            ("[]", "the body is not a JSON object"),
            ("{", "the body is not a JSON object"),
            (
                r#"{"sub_id":{"format":"opaque","id":"a"},"sub_id":{"format":"opaque","id":"b"}}"#,
                "the body is not a JSON object",
            ),
            (
                r#"{"sub_id":{"format":"opaque","id":"a","id":"b"}}"#,
                "the body is not a JSON object",
            ),
            ("{}", "the body needs sub_id"),
            (
                r#"{"sub_id":{"format":"opaque","id":"a"},"subject":{"format":"opaque","id":"a"}}"#,
                "the body gives both sub_id and subject",
            ),
            (
                r#"{"sub_id":"alice"}"#,
                "the subject identifier is not a JSON object",
            ),
            (
                r#"{"sub_id":{"id":"a"}}"#,
                "the subject identifier has no format",
            ),
            (
                r#"{"sub_id":{"format":"phone_number","phone_number":"+1"}}"#,
                "unsupported subject identifier format",
            ),
            (
                r#"{"sub_id":{"format":"ISS_SUB","iss":"https://idp.test","sub":"a"}}"#,
                "unsupported subject identifier format",
            ),
            (
                r#"{"sub_id":{"format":"iss_sub","iss":"https://evil.test","sub":"a"}}"#,
                "the subject's issuer is not accepted",
            ),
            (
                r#"{"sub_id":{"format":"iss_sub","iss":"https://idp.test"}}"#,
                "an iss_sub identifier needs iss and sub",
            ),
            (
                r#"{"sub_id":{"format":"iss_sub","sub":"a"}}"#,
                "an iss_sub identifier needs iss and sub",
            ),
            (
                r#"{"sub_id":{"format":"opaque","id":""}}"#,
                "an opaque identifier needs id",
            ),
            (
                r#"{"sub_id":{"format":"opaque","id":7}}"#,
                "an opaque identifier needs id",
            ),
            (
                r#"{"sub_id":{"format":"email","email":"a@b.test"}}"#,
                "the email format is not accepted here",
            ),
        ];
        for (body, why) in cases {
            assert_eq!(parse(body, false), Err(GtrError::BadRequest(why)), "{body}");
        }
        assert_eq!(
            parse(r#"{"sub_id":{"format":"email"}}"#, true),
            Err(GtrError::BadRequest("an email identifier needs email"))
        );
    }

    #[test]
    fn strict_json_keeps_every_value_and_refuses_duplicates_at_any_depth() {
        let text = r#"{"a":[1,-2,1.5,true,null,"x",{"b":{}}],"c":{"d":"e"}}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(strict_json(text.as_bytes()), Some(value));
        assert_eq!(strict_json(br#"{"a":[{"b":1,"b":1}]}"#), None);
        assert_eq!(strict_json(br#"{"a":1} x"#), None, "trailing text");
    }
}

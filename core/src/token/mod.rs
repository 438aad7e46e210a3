//! Bearer tokens: where they come from, how an untrusted token becomes a
//! [`VerifiedToken`], and how a token is named in the revocation store.
//!
//! The only way to get a [`VerifiedToken`] is [`verify()`], and the only way to
//! get any token's claims is [`verify_signature`]: it checks the header
//! policy, chooses a configured key, verifies the signature through a
//! [`SignatureVerifier`], and only then decodes and checks the claims. No
//! decision reads claims from an unverified token.
//!
//! The header and claims are parsed here, over the decoded bytes, rather than
//! with jwt-compact's `UntrustedToken` and `Claims`: its header goes through
//! two flattened serde layers (every member buffered, then parsed again), it
//! decodes the claims before the signature is checked, and its timestamp
//! parser accepts floats. This module parses the header straight into the
//! members the policy reads, rejects a header or claim name given twice,
//! decodes the claims only after the signature checks, and insists on integer
//! NumericDates.

pub mod cache;
pub mod rules;
pub mod signature;

use crate::error::{Rejection, TokenError};
use crate::http::request::RequestHead;
use crate::keys::{Alg, KeyLookup};
use crate::primitives::{base64url_decode, base64url_encode, sha256};
use crate::token::rules::Rules;
pub use crate::token::rules::MAX_TOKEN_BYTES;
use crate::token::signature::SignatureVerifier;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use std::rc::Rc;

/// Longest `jti` (or bare token ID) accepted; keeps store keys small.
pub const MAX_ID_BYTES: usize = 256;
/// Largest NumericDate accepted: 9999-12-31T23:59:59Z.
pub const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// Finds the bearer token: `Authorization: Bearer <jwt>` (scheme in any case)
/// or `X-Auth-Token: <jwt>`. Both with different values is an error; a
/// non-Bearer `Authorization` (e.g. Basic) is not a bearer token.
pub fn extract(head: &RequestHead) -> Result<Option<&str>, TokenError> {
    let bearer = match head.header("authorization").map(str::trim) {
        Some(value) => match value.split_once([' ', '\t']) {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Some(token.trim_matches([' ', '\t']))
            }
            None if value.eq_ignore_ascii_case("bearer") => Some(""),
            _ => None,
        },
        None => None,
    };
    let header_token = head
        .header("x-auth-token")
        .map(|v| v.trim_matches([' ', '\t']))
        .filter(|v| !v.is_empty());
    match (bearer, header_token) {
        (Some(a), Some(b)) if a != b => Err(TokenError::Conflicting),
        (Some(""), None) => Err(TokenError::Malformed),
        (Some(token), _) | (None, Some(token)) => Ok(Some(token)),
        (None, None) => Ok(None),
    }
}

/// What a `tokenId` / `tokenReferenceId` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// Three non-empty base64url segments ([`looks_like_jwt`]): a JWT, which
    /// must verify.
    Jwt,
    /// Not a whole JWT, but shaped like one: two or more dots (a JWS has two,
    /// a JWE four), or a base64url JSON object (a JWT header) before the
    /// first dot. A token cut short or mangled in a copy, refused rather
    /// than stored as an ID that no token has.
    BrokenJwt,
    /// Anything else: a bare token ID, one dot and all (Okta's access-token
    /// IDs, `AT.…`, are invalidated by reference).
    Id,
}

/// Reads a `tokenId` / `tokenReferenceId` (see [`Reference`]).
pub fn reference(text: &str) -> Reference {
    if looks_like_jwt(text) {
        return Reference::Jwt;
    }
    let header = text
        .split_once('.')
        .and_then(|(first, _)| base64url_decode(first))
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    if text.matches('.').count() >= 2 || header.is_some_and(|header| header.is_object()) {
        Reference::BrokenJwt
    } else {
        Reference::Id
    }
}

/// True when an OAuth `token` (or a reference) is a JWT: see [`Reference::Jwt`].
pub fn is_jwt_reference(text: &str) -> bool {
    looks_like_jwt(text)
}

/// True when `text` has the shape of a compact JWS: three non-empty base64url
/// segments.
pub fn looks_like_jwt(text: &str) -> bool {
    let mut segments = 0;
    for segment in text.split('.') {
        if segment.is_empty() || !edge_revoke_hot::all_base64url(segment) {
            return false;
        }
        segments += 1;
    }
    segments == 3
}

/// A token's name in the revocation store.
///
/// It is the `jti` when the token has one; otherwise the base64url (no
/// padding) SHA-256 of the token's signed part: the text before its last
/// `.` (`header.payload`). Raw tokens are never stored. The signature is left
/// out because ECDSA signatures are malleable: anyone can turn `(r, s)` into
/// `(r, n - s)`, which verifies too, and a hash over the whole text would
/// then give a signed-out token a fresh, unrevoked ID.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenId(String);

impl TokenId {
    /// The ID of a token without `jti`: the SHA-256 of its signed part.
    pub fn derived(token: &str) -> TokenId {
        let signed = token.rsplit_once('.').map_or(token, |(signed, _)| signed);
        TokenId(base64url_encode(&sha256(signed.as_bytes())))
    }

    /// A bare ID sent by reference: 1 to 256 bytes, no control characters or
    /// spaces.
    pub fn from_reference(id: &str) -> Option<TokenId> {
        let ok = !id.is_empty()
            && id.len() <= MAX_ID_BYTES
            && !id.chars().any(|c| c.is_control() || c.is_whitespace());
        ok.then(|| TokenId(id.to_owned()))
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The registered claims this worker uses, plus every other claim.
#[derive(Clone, Debug, PartialEq)]
pub struct Claims {
    /// `exp`, seconds since the epoch.
    pub exp: u64,
    /// `nbf`, when present.
    pub nbf: Option<u64>,
    /// `iat`, when present.
    pub iat: Option<u64>,
    /// `iss`, when present.
    pub iss: Option<String>,
    /// `sub`, when present.
    pub sub: Option<String>,
    /// `aud` as a list (a single string becomes one item).
    pub aud: Vec<String>,
    /// `jti`, when present.
    pub jti: Option<String>,
    /// `sid`, the OpenID Connect session, when present.
    pub sid: Option<String>,
    /// Every claim, as sent (for roles and introspection).
    pub all: Map<String, Value>,
}

impl Claims {
    /// The values of a roles claim: an array of strings, or one string of
    /// roles separated by spaces or commas. Anything else gives no roles.
    pub fn roles(&self, claim: &str) -> Vec<&str> {
        match self.all.get(claim) {
            Some(Value::String(s)) => s.split([' ', ',']).filter(|r| !r.is_empty()).collect(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// A token whose signature, header and claims have all been checked.
///
/// Cloning it is a reference count: the token cache hands out a clone on
/// every hit.
#[derive(Clone, Debug)]
pub struct VerifiedToken(Rc<Verified>);

#[derive(Debug)]
struct Verified {
    id: TokenId,
    alg: Alg,
    claims: Claims,
}

impl VerifiedToken {
    /// Its store name.
    pub fn id(&self) -> &TokenId {
        &self.0.id
    }
    /// The algorithm that verified it.
    pub fn alg(&self) -> Alg {
        self.0.alg
    }
    /// Its claims.
    pub fn claims(&self) -> &Claims {
        &self.0.claims
    }
}

/// The protected header (RFC 7515 §4.1), as the policy reads it. serde's
/// derive parses it in one pass: a member given twice is an error, and any
/// member not named here is skipped.
#[derive(serde::Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(default)]
    kid: Option<String>,
    /// Absent or `json` (in any case): a nested JWT or CBOR claims are not
    /// access tokens.
    #[serde(default)]
    cty: Option<String>,
    /// The media type of the whole token (RFC 7515 §4.1.9): read by the
    /// rules of the token kinds that name one (a Global Token Revocation
    /// assertion), never to choose a key or an algorithm.
    #[serde(default)]
    typ: Option<String>,
    /// Strings when present, as RFC 7515 defines them; checked, never used.
    #[allow(dead_code)]
    #[serde(default)]
    x5t: Option<String>,
    #[allow(dead_code)]
    #[serde(default, rename = "x5t#S256")]
    x5t_s256: Option<String>,
    /// Key material and key locations, never taken from a token, and
    /// extensions we would have to understand (`crit`): present (not null)
    /// means refused.
    #[serde(default)]
    jku: Option<IgnoredAny>,
    #[serde(default)]
    x5u: Option<IgnoredAny>,
    #[serde(default)]
    jwk: Option<IgnoredAny>,
    #[serde(default)]
    x5c: Option<IgnoredAny>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

impl Header<'_> {
    fn names_a_key_or_extension(&self) -> bool {
        self.jku.is_some()
            || self.x5u.is_some()
            || self.jwk.is_some()
            || self.x5c.is_some()
            || self.crit.is_some()
    }

    fn content_is_json(&self) -> bool {
        self.cty
            .as_deref()
            .is_none_or(|cty| cty.eq_ignore_ascii_case("json"))
    }
}

/// The `typ` of a JWT's header, read without any check: only to choose
/// which rules a token is then verified under, never to trust it. `None`
/// for anything that is not a JWT with a string `typ`.
pub fn unverified_typ(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let header = base64url_decode(header)?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header.get("typ")?.as_str().map(str::to_owned)
}

/// A token whose header and signature have been checked. Its claims are
/// parsed (a JSON object with unique member names) but not yet checked:
/// each kind of token (access token, logout token, security event token)
/// checks its own. Only [`verify_signature`] makes one.
#[derive(Clone, Debug)]
pub struct SignedToken {
    /// The algorithm that verified it.
    pub alg: Alg,
    /// The header's `typ`, when it has one.
    pub typ: Option<String>,
    /// Every claim, as sent.
    pub claims: Map<String, Value>,
}

/// The untrusted → signed step, shared by every kind of token: size and
/// shape, the header policy (no key or key location from the token, no
/// `crit`), an algorithm from `algorithms`, a key from `keys` (never from the
/// header), the signature, and only then the claims object.
///
/// Errors are [`Rejection::Token`] for a bad token and [`Rejection::Verify`]
/// when the check could not run (crypto or key set unavailable).
pub async fn verify_signature<K: KeyLookup, V: SignatureVerifier>(
    token: &str,
    algorithms: &[Alg],
    keys: &K,
    verifier: &V,
    now: u64,
) -> Result<SignedToken, Rejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge.into());
    }
    // Also rejects JWE (five segments), padding, standard base64 and non-ASCII.
    if !looks_like_jwt(token) {
        return Err(TokenError::Malformed.into());
    }
    // `looks_like_jwt` saw three segments.
    let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header, payload) = message.split_once('.').ok_or(TokenError::Malformed)?;
    let header = base64url_decode(header).ok_or(TokenError::Malformed)?;
    // serde's derive would also take an array for a struct.
    if header.trim_ascii_start().first() != Some(&b'{') {
        return Err(TokenError::Malformed.into());
    }
    let header: Header = serde_json::from_slice(&header).map_err(|_| TokenError::Malformed)?;
    // No key material or key location from the token, and no extensions we
    // would have to understand (RFC 7515 §4.1.11).
    if header.names_a_key_or_extension() {
        return Err(TokenError::ForbiddenHeader.into());
    }
    if !header.content_is_json() {
        return Err(TokenError::Malformed.into());
    }
    let alg = Alg::from_name(&header.alg)
        .filter(|alg| algorithms.contains(alg))
        .ok_or(TokenError::AlgorithmNotAllowed)?;
    let signature = base64url_decode(signature).ok_or(TokenError::Malformed)?;
    let key = keys
        .key(alg, header.kid.as_deref(), now)
        .await?
        .ok_or(TokenError::UnknownKey)?;

    if !verifier
        .verify(&key, alg, message.as_bytes(), &signature)
        .await?
    {
        return Err(TokenError::BadSignature.into());
    }

    // Trusted from here on.
    let bytes = base64url_decode(payload).ok_or(TokenError::Malformed)?;
    let UniqueObject(claims) = serde_json::from_slice(&bytes).map_err(|_| TokenError::BadClaims)?;
    Ok(SignedToken {
        alg,
        typ: header.typ,
        claims,
    })
}

/// The untrusted → verified step for access tokens: [`verify_signature`]
/// under `rules`, then the access-token claim rules. `keys` chooses the key
/// (the configured [`crate::keys::KeySet`] is one); `now` is seconds since
/// the epoch.
pub async fn verify<K: KeyLookup, V: SignatureVerifier>(
    token: &str,
    rules: &Rules,
    keys: &K,
    verifier: &V,
    now: u64,
) -> Result<VerifiedToken, Rejection> {
    let SignedToken { alg, claims, .. } =
        verify_signature(token, &rules.algorithms, keys, verifier, now).await?;
    let claims = decode_claims(claims)?;
    check_claims(&claims, rules, now)?;
    let id = match &claims.jti {
        Some(jti) => TokenId(jti.clone()),
        None => TokenId::derived(token),
    };
    Ok(VerifiedToken(Rc::new(Verified { id, alg, claims })))
}

/// A NumericDate claim: an integer from 0 to the year 9999, or absent.
pub fn numeric_date(all: &Map<String, Value>, name: &str) -> Result<Option<u64>, TokenError> {
    match all.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|n| *n <= MAX_NUMERIC_DATE)
            .map(Some)
            .ok_or(TokenError::BadClaims),
        Some(_) => Err(TokenError::BadClaims),
    }
}

/// A string claim, or absent.
pub fn string_claim(all: &Map<String, Value>, name: &str) -> Result<Option<String>, TokenError> {
    match all.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::BadClaims),
    }
}

/// `aud` as a list: a string, an array of strings, or absent (empty).
pub fn audiences(all: &Map<String, Value>) -> Result<Vec<String>, TokenError> {
    match all.get("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(TokenError::BadClaims),
        Some(_) => Err(TokenError::BadClaims),
    }
}

/// Decodes an access token's claims, insisting on types. A token carrying
/// `events` is a logout token or a security event token, never an access
/// token.
fn decode_claims(all: Map<String, Value>) -> Result<Claims, TokenError> {
    if all.contains_key("events") {
        return Err(TokenError::BadClaims);
    }
    let jti = string_claim(&all, "jti")?;
    if jti
        .as_deref()
        .is_some_and(|jti| TokenId::from_reference(jti).is_none())
    {
        return Err(TokenError::BadClaims);
    }
    Ok(Claims {
        exp: numeric_date(&all, "exp")?.ok_or(TokenError::MissingExpiry)?,
        nbf: numeric_date(&all, "nbf")?,
        iat: numeric_date(&all, "iat")?,
        iss: string_claim(&all, "iss")?,
        sub: string_claim(&all, "sub")?,
        aud: audiences(&all)?,
        sid: string_claim(&all, "sid")?,
        jti,
        all,
    })
}

fn check_claims(claims: &Claims, rules: &Rules, now: u64) -> Result<(), TokenError> {
    let leeway = rules.leeway;
    if rules.expired(claims.exp, now) {
        return Err(TokenError::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now.saturating_add(leeway))
    {
        return Err(TokenError::NotYetValid);
    }
    if claims
        .iat
        .is_some_and(|iat| iat > now.saturating_add(leeway))
    {
        return Err(TokenError::IssuedInFuture);
    }
    if let Some(issuer) = &rules.issuer {
        if claims.iss.as_deref() != Some(issuer.as_str()) {
            return Err(TokenError::WrongIssuer);
        }
    }
    if !rules.audiences.is_empty() && !claims.aud.iter().any(|aud| rules.audiences.contains(aud)) {
        return Err(TokenError::WrongAudience);
    }
    Ok(())
}

/// A JSON object whose member names are unique (RFC 7519 §4 says a JWT with
/// duplicate claim names must be rejected, or the last one used; we reject).
struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = Map::new();
                while let Some((name, value)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&name) {
                        return Err(serde::de::Error::custom("duplicate claim"));
                    }
                    map.insert(name, value);
                }
                Ok(UniqueObject(map))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use crate::keys::{Alg, KeySet};
    use crate::token::signature::HmacOnly;

    fn head(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead::new("GET", "https://edge.test/x", headers.iter().copied())
    }

    #[test]
    fn a_lone_scheme_name_is_a_bearer_token_only_for_bearer() {
        assert_eq!(extract(&head(&[("authorization", "Basic")])), Ok(None));
        assert_eq!(extract(&head(&[("authorization", "Digest")])), Ok(None));
        assert_eq!(
            extract(&head(&[("authorization", "Bearer")])),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn the_size_limit_is_inclusive() {
        let keys = KeySet::from_config(Some("token-unit-test-secret-0123456789abc"), None).unwrap();
        let rules = Rules::new(vec![Alg::HS256]);
        let sized = |len: usize| {
            let token = format!("eyJ.eyJ.{}", "A".repeat(len - 8));
            assert_eq!(token.len(), len);
            block_on(verify(&token, &rules, &keys, &HmacOnly, 0)).unwrap_err()
        };
        assert_ne!(
            sized(MAX_TOKEN_BYTES),
            TokenError::TooLarge.into(),
            "8 KiB is read"
        );
        assert_eq!(sized(MAX_TOKEN_BYTES + 1), TokenError::TooLarge.into());
    }
}

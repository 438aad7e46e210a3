//! Every token rule, natively: extraction, header policy, signatures of each
//! algorithm family, claims, and token IDs.

use edge_revoke_core::block_on;
use edge_revoke_core::config::Config;
use edge_revoke_core::error::{Rejection, TokenError};
use edge_revoke_core::http::request::RequestHead;
use edge_revoke_core::token::signature::{HmacOnly, RustCrypto};
use edge_revoke_core::token::{self, extract, TokenId, VerifiedToken, MAX_TOKEN_BYTES};
use edge_revoke_test_support::*;
use serde_json::{json, Value};

fn check_with(token: &str, config: &Config, now: u64) -> Result<VerifiedToken, Rejection> {
    block_on(token::verify(
        token,
        &config.rules,
        &config.keys,
        &RustCrypto,
        now,
    ))
}

fn check(token: &str) -> Result<VerifiedToken, Rejection> {
    check_with(token, &config(), NOW)
}

fn rejected(token: &str) -> TokenError {
    match check(token) {
        Err(Rejection::Token(e)) => e,
        other => panic!("expected a token error, got {other:?}"),
    }
}

#[test]
fn every_algorithm_family_verifies() {
    for alg in ALGORITHMS {
        let token = mint(alg, &claims());
        let verified = check(&token).unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(verified.alg().name(), alg);
        assert_eq!(verified.claims().sub.as_deref(), Some("alice"));
        assert_eq!(verified.id().as_str(), "jti-alice-1");
    }
}

#[test]
fn hmac_only_verifier_refuses_asymmetric_keys() {
    let token = mint("RS256", &claims());
    let config = config();
    let result = block_on(token::verify(
        &token,
        &config.rules,
        &config.keys,
        &HmacOnly,
        NOW,
    ));
    assert_eq!(
        result.unwrap_err(),
        Rejection::Token(TokenError::BadSignature)
    );
    assert!(block_on(token::verify(
        &valid_token(),
        &config.rules,
        &config.keys,
        &HmacOnly,
        NOW
    ))
    .is_ok());
}

#[test]
fn alg_none_in_any_spelling_is_rejected() {
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg }).to_string();
        let unsigned = format!("{}.", signing_input(&header, &claims().to_string()));
        assert_eq!(
            rejected(&unsigned),
            TokenError::Malformed,
            "{alg} without signature"
        );
        let with_sig = format!("{unsigned}c2ln");
        assert_eq!(
            rejected(&with_sig),
            TokenError::AlgorithmNotAllowed,
            "{alg}"
        );
        let two_segments = unsigned.trim_end_matches('.').to_string();
        assert_eq!(rejected(&two_segments), TokenError::Malformed);
    }
}

#[test]
fn hmac_with_the_public_key_as_secret_is_rejected() {
    let public = keys().fixture["rsa"]["n"].as_str().unwrap().to_owned();
    let jwks_text = public_jwks();
    for secret in [public.as_bytes(), jwks_text.as_bytes()] {
        let header = json!({ "alg": "HS256", "kid": "rsa-1" }).to_string();
        let token = sign_raw_with("HS256", secret, &header, &claims().to_string());
        // kid names the RSA key, which never verifies HS256.
        assert_eq!(rejected(&token), TokenError::UnknownKey);
    }
}

#[test]
fn tampering_is_detected() {
    let token = mint("ES256", &claims());
    let (message, _) = token.rsplit_once('.').unwrap();
    // r = s = 0 (CVE-2022-21449).
    let zeros = with_signature(message, &[0u8; 64]);
    assert_eq!(rejected(&zeros), TokenError::BadSignature);
    // A valid signature moved onto another payload.
    let other = mint("ES256", &with_claims(|c| c["sub"] = "mallory".into()));
    let (other_message, _) = other.rsplit_once('.').unwrap();
    let sig = token.rsplit_once('.').unwrap().1;
    assert_eq!(
        rejected(&format!("{other_message}.{sig}")),
        TokenError::BadSignature
    );
    // Stripped signature.
    assert_eq!(rejected(&format!("{message}.")), TokenError::Malformed);
    // Signed by another key that claims the same kid.
    let header = json!({ "alg": "RS256", "kid": "rsa-1" }).to_string();
    let forged = signing_input(&header, &claims().to_string());
    let sig = signature("RS256-other", forged.as_bytes(), b"");
    assert_eq!(
        rejected(&format!("{forged}.{}", base64url_encode(&sig))),
        TokenError::BadSignature
    );
    // A truncated HMAC signature (jwt-compact would panic on it unchecked).
    let hs = valid_token();
    let (hs_message, _) = hs.rsplit_once('.').unwrap();
    for len in [0usize, 16, 31, 33] {
        let short = with_signature(hs_message, &vec![1u8; len]);
        let expected = if len == 0 {
            TokenError::Malformed
        } else {
            TokenError::BadSignature
        };
        assert_eq!(rejected(&short), expected, "{len} bytes");
    }
    // HS256 under a different secret.
    let header = json!({ "alg": "HS256" }).to_string();
    let message = signing_input(&header, &claims().to_string());
    let sig = signature(
        "HS256",
        message.as_bytes(),
        b"another-secret-0123456789abcdef!!",
    );
    assert_eq!(
        rejected(&format!("{message}.{}", base64url_encode(&sig))),
        TokenError::BadSignature
    );
}

#[test]
fn odd_kids_select_no_key() {
    let long = "k".repeat(10 * 1024);
    for kid in ["../../dev/null", "' OR 1=1 --", "", long.as_str()] {
        let token = mint_with_header("RS256", &json!({ "alg": "RS256", "kid": kid }), &claims());
        let error = rejected(&token);
        assert!(
            matches!(error, TokenError::UnknownKey | TokenError::TooLarge),
            "{kid:.20}: {error:?}"
        );
    }
    let token = mint_with_header("RS256", &json!({ "alg": "RS256", "kid": 7 }), &claims());
    assert_eq!(rejected(&token), TokenError::Malformed);
}

#[test]
fn header_key_sources_and_crit_are_refused() {
    for (name, value) in forbidden_header_members() {
        let mut header = json!({ "alg": "RS256", "kid": "rsa-1" });
        header[name] = value;
        let token = mint_with_header("RS256", &header, &claims());
        assert_eq!(rejected(&token), TokenError::ForbiddenHeader, "{name}");
    }
}

#[test]
fn encodings_are_strict() {
    let token = valid_token();
    let parts: Vec<&str> = token.split('.').collect();
    let cases = [
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}.extra"),
        format!("{}..{}", parts[0], parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        token.replace('-', "+").replace('_', "/") + "+/",
        format!("{}.{}.{}é", parts[0], parts[1], parts[2]),
        format!("{token}.a.b"),
        format!(" {token}"),
    ];
    for case in &cases {
        assert_eq!(rejected(case), TokenError::Malformed, "{case:.60}");
    }
    let array_payload = sign_raw("HS256", r#"{"alg":"HS256"}"#, "[1,2,3]");
    assert_eq!(rejected(&array_payload), TokenError::BadClaims);
    let not_json = sign_raw("HS256", r#"{"alg":"HS256"}"#, "hello");
    assert_eq!(rejected(&not_json), TokenError::BadClaims);
    let header_array = sign_raw("HS256", r#"["HS256"]"#, &claims().to_string());
    assert_eq!(rejected(&header_array), TokenError::Malformed);
}

#[test]
fn oversized_tokens_are_not_parsed() {
    let padding = "x".repeat(MAX_TOKEN_BYTES);
    let token = mint("HS256", &with_claims(|c| c["pad"] = padding.clone().into()));
    assert!(token.len() > MAX_TOKEN_BYTES);
    assert_eq!(rejected(&token), TokenError::TooLarge);
    let just_fits = mint(
        "HS256",
        &with_claims(|c| c["pad"] = "x".repeat(5000).into()),
    );
    assert!(just_fits.len() <= MAX_TOKEN_BYTES);
    assert!(check(&just_fits).is_ok());
}

#[test]
fn numeric_dates_must_be_integers_in_range() {
    for exp in [
        json!("1800000600"),
        json!(1_800_000_600.5),
        json!(-5),
        json!(1e20),
        json!(null),
        json!(true),
    ] {
        let token = mint("HS256", &with_claims(|c| c["exp"] = exp.clone()));
        assert_eq!(rejected(&token), TokenError::BadClaims, "exp = {exp}");
    }
    let too_late = mint(
        "HS256",
        &with_claims(|c| c["exp"] = json!(253_402_300_800u64)),
    );
    assert_eq!(rejected(&too_late), TokenError::BadClaims);
    for claim in ["nbf", "iat"] {
        let token = mint("HS256", &with_claims(|c| c[claim] = json!("soon")));
        assert_eq!(rejected(&token), TokenError::BadClaims, "{claim}");
    }
}

#[test]
fn time_claims_honour_the_leeway() {
    let token = |change: fn(&mut Value)| mint("HS256", &with_claims(change));
    let missing = token(|c| {
        c.as_object_mut().unwrap().remove("exp");
    });
    assert_eq!(rejected(&missing), TokenError::MissingExpiry);

    // RFC 7519 §4.1.4: now must be before exp (plus the leeway). At
    // exp + leeway exactly the token is rejected, as its record expires.
    let expired = token(|c| c["exp"] = json!(NOW - 60));
    assert_eq!(rejected(&expired), TokenError::Expired);
    let in_leeway = token(|c| c["exp"] = json!(NOW - 59));
    assert!(check(&in_leeway).is_ok());

    let future_nbf = token(|c| c["nbf"] = json!(NOW + 61));
    assert_eq!(rejected(&future_nbf), TokenError::NotYetValid);
    assert!(check(&token(|c| c["nbf"] = json!(NOW + 60))).is_ok());

    let future_iat = token(|c| c["iat"] = json!(NOW + 61));
    assert_eq!(rejected(&future_iat), TokenError::IssuedInFuture);
    assert!(check(&token(|c| c["iat"] = json!(NOW + 60))).is_ok());

    // A smaller leeway tightens every check.
    let strict = config_with(&[("JWT_LEEWAY_SECONDS", "0")]);
    let just_expired = token(|c| c["exp"] = json!(NOW - 1));
    assert!(matches!(
        check_with(&just_expired, &strict, NOW),
        Err(Rejection::Token(TokenError::Expired))
    ));
    let at_exp = token(|c| c["exp"] = json!(NOW));
    assert!(matches!(
        check_with(&at_exp, &strict, NOW),
        Err(Rejection::Token(TokenError::Expired))
    ));
    assert!(check_with(&token(|c| c["exp"] = json!(NOW + 1)), &strict, NOW).is_ok());
}

#[test]
fn duplicate_claims_are_rejected() {
    let header = r#"{"alg":"HS256"}"#;
    for payload in [
        format!(
            r#"{{"sub":"alice","exp":{},"exp":{}}}"#,
            NOW + 600,
            NOW + 900
        ),
        format!(r#"{{"sub":"alice","sub":"admin","exp":{}}}"#, NOW + 600),
        format!(
            r#"{{"sub":"a","roles":["x"],"roles":["identity:admin"],"exp":{}}}"#,
            NOW + 600
        ),
        // The same name, once spelled with an escape.
        format!(
            r#"{{"sub":"alice","s\u0075b":"admin","exp":{}}}"#,
            NOW + 600
        ),
        format!(r#"{{"x":1,"\u0078":2,"exp":{}}}"#, NOW + 600),
        // An escaped registered name is still that claim, and still typed.
        format!(r#"{{"sub":"alice","\u0065xp":"soon","exp":{}}}"#, NOW + 600),
    ] {
        let token = sign_raw("HS256", header, &payload);
        let plain = config_with(&[("JWT_ISSUER", ""), ("JWT_AUDIENCE", "")]);
        assert!(
            matches!(
                check_with(&token, &plain, NOW),
                Err(Rejection::Token(TokenError::BadClaims))
            ),
            "{payload}"
        );
    }
}

#[test]
fn issuer_and_audience() {
    let wrong_iss = mint(
        "HS256",
        &with_claims(|c| c["iss"] = "https://evil.test".into()),
    );
    assert_eq!(rejected(&wrong_iss), TokenError::WrongIssuer);
    let no_iss = mint(
        "HS256",
        &with_claims(|c| {
            c.as_object_mut().unwrap().remove("iss");
        }),
    );
    assert_eq!(rejected(&no_iss), TokenError::WrongIssuer);
    for aud in [json!("api://else"), json!([]), json!(["a", "b"])] {
        let token = mint("HS256", &with_claims(|c| c["aud"] = aud.clone()));
        assert_eq!(rejected(&token), TokenError::WrongAudience, "{aud}");
    }
    let listed = mint(
        "HS256",
        &with_claims(|c| c["aud"] = json!(["x", "api://other"])),
    );
    assert!(check(&listed).is_ok());
    let bad_type = mint("HS256", &with_claims(|c| c["aud"] = json!([1])));
    assert_eq!(rejected(&bad_type), TokenError::BadClaims);
    // Without JWT_ISSUER / JWT_AUDIENCE neither is checked.
    let open = config_with(&[("JWT_ISSUER", ""), ("JWT_AUDIENCE", "")]);
    assert!(check_with(&wrong_iss, &open, NOW).is_ok());
}

#[test]
fn algorithm_allow_list() {
    let only_rs = config_with(&[("JWT_ALGORITHMS", "RS256")]);
    assert!(check_with(&mint("RS256", &claims()), &only_rs, NOW).is_ok());
    for alg in ["HS256", "PS256", "ES256"] {
        assert!(matches!(
            check_with(&mint(alg, &claims()), &only_rs, NOW),
            Err(Rejection::Token(TokenError::AlgorithmNotAllowed))
        ));
    }
}

#[test]
fn token_ids() {
    let verified = check(&valid_token()).unwrap();
    assert_eq!(
        verified.id(),
        &TokenId::from_reference("jti-alice-1").unwrap()
    );
    let no_jti = mint(
        "HS256",
        &with_claims(|c| {
            c.as_object_mut().unwrap().remove("jti");
        }),
    );
    let (signed, _) = no_jti.rsplit_once('.').unwrap();
    let expected = base64url_encode(&sha256(signed.as_bytes()));
    assert_eq!(check(&no_jti).unwrap().id().as_str(), expected);
    assert_eq!(expected.len(), 43);
    let long_jti = mint("HS256", &with_claims(|c| c["jti"] = "j".repeat(257).into()));
    assert_eq!(rejected(&long_jti), TokenError::BadClaims);
    assert!(TokenId::from_reference("").is_none());
    assert!(TokenId::from_reference("a b").is_none());
    assert!(TokenId::from_reference(&"x".repeat(256)).is_some());
}

fn head(headers: &[(&str, &str)]) -> RequestHead {
    RequestHead::new("GET", "https://edge.test/x", headers.iter().copied())
}

#[test]
fn extraction() {
    let t = "a.b.c";
    assert_eq!(
        extract(&head(&[("authorization", "Bearer a.b.c")])),
        Ok(Some(t))
    );
    assert_eq!(
        extract(&head(&[("authorization", "bearer a.b.c")])),
        Ok(Some(t))
    );
    assert_eq!(
        extract(&head(&[("authorization", "BEARER   a.b.c  ")])),
        Ok(Some(t))
    );
    assert_eq!(extract(&head(&[("x-auth-token", " a.b.c ")])), Ok(Some(t)));
    assert_eq!(
        extract(&head(&[
            ("authorization", "Bearer a.b.c"),
            ("x-auth-token", "a.b.c")
        ])),
        Ok(Some(t))
    );
    assert_eq!(
        extract(&head(&[
            ("authorization", "Bearer a.b.c"),
            ("x-auth-token", "d.e.f")
        ])),
        Err(TokenError::Conflicting)
    );
    assert_eq!(
        extract(&head(&[("authorization", "Basic dXNlcjpwYXNz")])),
        Ok(None)
    );
    assert_eq!(
        extract(&head(&[
            ("authorization", "Basic dXNlcjpwYXNz"),
            ("x-auth-token", "a.b.c")
        ])),
        Ok(Some(t))
    );
    assert_eq!(
        extract(&head(&[("authorization", "Bearer")])),
        Err(TokenError::Malformed)
    );
    assert_eq!(extract(&head(&[])), Ok(None));
    // Two Authorization headers arrive joined; the result is not a token.
    let joined = head(&[("authorization", "Bearer a.b.c, Bearer d.e.f")]);
    let raw = extract(&joined).unwrap().unwrap();
    assert!(matches!(
        check(raw),
        Err(Rejection::Token(TokenError::Malformed))
    ));
}

#[test]
fn the_header_is_read_strictly() {
    let claims = claims().to_string();
    let malformed = [
        // A member given twice: which `alg` would count?
        r#"{"alg":"HS256","alg":"HS256"}"#,
        r#"{"alg":"HS256","kid":"a","kid":"b"}"#,
        // A nested JWT, or claims that are not JSON.
        r#"{"alg":"HS256","cty":"JWT"}"#,
        r#"{"alg":"HS256","cty":"cbor"}"#,
        // Registered members of the wrong type.
        r#"{"alg":"HS256","typ":7}"#,
        r#"{"alg":"HS256","x5t":{}}"#,
        r#"{"alg":"HS256","x5t#S256":[1]}"#,
        r#"{"alg":"HS256","kid":7}"#,
        r#"{"alg":7}"#,
        r#"{"kid":"x"}"#,
        r#"{"alg":"HS256"} trailing"#,
    ];
    for header in malformed {
        assert_eq!(
            rejected(&sign_raw("HS256", header, &claims)),
            TokenError::Malformed,
            "{header}"
        );
    }
    for header in [
        r#"{"alg":"HS256","cty":"JSON","typ":"at+jwt"}"#,
        r#"{"alg":"HS256","jku":null,"x-other":[1,{"a":2}],"x-other2":1.5}"#,
        r#"{"alg":"H\u0053256"}"#,
    ] {
        assert!(
            check(&sign_raw("HS256", header, &claims)).is_ok(),
            "{header}"
        );
    }
}

#[test]
fn an_escaped_registered_name_is_that_claim() {
    let header = r#"{"alg":"HS256"}"#;
    let payload = format!(
        r#"{{"s\u0075b":"alice","e\u0078p":{},"roles":"a, b"}}"#,
        NOW + 600
    );
    let plain = config_with(&[("JWT_ISSUER", ""), ("JWT_AUDIENCE", "")]);
    let token = check_with(&sign_raw("HS256", header, &payload), &plain, NOW).unwrap();
    assert_eq!(token.claims().sub.as_deref(), Some("alice"));
    assert_eq!(token.claims().exp, NOW + 600);
    assert_eq!(token.claims().roles("roles"), ["a", "b"]);
    let all = &token.claims().all;
    assert_eq!(all.len(), 3);
    assert_eq!(all["sub"], "alice");
}

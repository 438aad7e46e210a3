//! Writes the curated seed corpus under `fuzz/corpus/<target>/` and checks
//! every seed against its target's invariants (and, for tokens, the expected
//! verdict).
//!
//! ```text
//! cargo run -p edge-revoke-fuzz --example make_seeds
//! ```
//!
//! Tokens are minted by `edge-revoke-test-support` with its fixture private
//! keys (test-only keys). PS* and EdDSA signatures are randomised, so
//! regenerating changes those files; everything else is deterministic.

use edge_revoke_fuzz::fixtures::{AUDIENCE, FAR_EXP, ISSUER, NOW};
use edge_revoke_fuzz::token::{is_low_s, layout};
use edge_revoke_test_support::{
    base64url_decode, forbidden_header_members, keys, mint, mint_with_header, p256_negate_s,
    public_jwks, sign_raw, sign_raw_with, signing_input, with_signature, ALGORITHMS,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Claims valid at NOW until 2100.
fn claims() -> Value {
    json!({
        "sub": "alice",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": NOW - 10,
        "exp": FAR_EXP,
        "jti": "jti-alice-1",
        "roles": ["reader"],
    })
}

fn with_claims(change: impl FnOnce(&mut Value)) -> Value {
    let mut c = claims();
    change(&mut c);
    c
}

struct Seeds {
    dir: PathBuf,
    count: usize,
}

impl Seeds {
    fn new(root: &Path, target: &str) -> Seeds {
        let dir = root.join(target);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        Seeds { dir, count: 0 }
    }
    fn add(&mut self, name: &str, bytes: impl AsRef<[u8]>) {
        let path = self.dir.join(name);
        assert!(!path.exists(), "duplicate seed name {name}");
        std::fs::write(path, bytes).unwrap();
        self.count += 1;
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    token_seeds(&root);
    route_seeds(&root);
    invalidate_seeds(&root);
}

fn token_seeds(root: &Path) {
    let mut seeds = Seeds::new(root, "token");
    let mut expect_ok = Vec::new();
    let mut expect_err = Vec::new();
    let mut add = |seeds: &mut Seeds, name: &str, bytes: Vec<u8>, ok: bool| {
        seeds.add(name, &bytes);
        if ok {
            expect_ok.push((name.to_owned(), bytes))
        } else {
            expect_err.push((name.to_owned(), bytes))
        }
    };

    // Valid tokens of every algorithm.
    for alg in ALGORITHMS {
        let token = mint(alg, &claims());
        add(
            &mut seeds,
            &format!("valid-{}", alg.to_lowercase()),
            token.into_bytes(),
            true,
        );
    }
    // Without jti (store name derived from SHA-256), audience array, nbf.
    let no_jti = with_claims(|c| {
        c.as_object_mut().unwrap().remove("jti");
        c["aud"] = json!(["api://nobody", "api://other"]);
        c["nbf"] = json!(NOW - 100);
    });
    // ECDSA signatures come in (r, s) / (r, n - s) pairs: keep the low-S one
    // as the seed, and the high-S twin as a regression (see docs/fuzzing.md).
    let minted = mint("ES256", &no_jti);
    let (es_message, sig) = minted.rsplit_once('.').unwrap();
    let sig = base64url_decode(sig).unwrap();
    let twin = p256_negate_s(&sig);
    let (low, high) = if is_low_s(&sig) {
        (sig, twin)
    } else {
        (twin, sig)
    };
    let es_no_jti = with_signature(es_message, &low);
    let high_s = with_signature(es_message, &high);
    let regressions = root.parent().unwrap().join("regressions/token");
    std::fs::create_dir_all(&regressions).unwrap();
    std::fs::write(regressions.join("es256-high-s-no-jti"), &high_s).unwrap();
    add(
        &mut seeds,
        "valid-es256-no-jti",
        es_no_jti.clone().into_bytes(),
        true,
    );
    let hs = mint("HS256", &claims());
    add(
        &mut seeds,
        "valid-hs256-no-jti",
        mint("HS256", &no_jti).into_bytes(),
        true,
    );

    // Header layouts (first byte selects one; see src/token.rs).
    let with_layout = |mode: u8, text: &str| [&[mode][..], text.as_bytes()].concat();
    add(
        &mut seeds,
        "layout-x-auth-token",
        with_layout(layout::X_AUTH, &hs),
        true,
    );
    add(
        &mut seeds,
        "layout-both-same",
        with_layout(layout::BOTH_SAME, &hs),
        true,
    );
    add(
        &mut seeds,
        "layout-odd-scheme",
        with_layout(layout::ODD_SCHEME, &hs),
        true,
    );
    add(
        &mut seeds,
        "layout-conflicting",
        with_layout(layout::SPLIT, &format!("{hs}\n{es_no_jti}")),
        false,
    );
    add(
        &mut seeds,
        "layout-raw-lowercase-bearer",
        with_layout(layout::RAW_AUTH, &format!("bearer   {hs}")),
        true,
    );
    add(
        &mut seeds,
        "layout-basic-and-x-auth",
        with_layout(layout::BASIC_AND_X_AUTH, &hs),
        true,
    );
    add(
        &mut seeds,
        "layout-empty-bearer",
        with_layout(layout::EMPTY_BEARER, &hs),
        false,
    );

    let claims_text = claims().to_string();

    // alg none.
    add(
        &mut seeds,
        "attack-alg-none-unsigned",
        format!("{}.", signing_input(r#"{"alg":"none"}"#, &claims_text)).into_bytes(),
        false,
    );
    for alg in ["None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg, "typ": "JWT" }).to_string();
        add(
            &mut seeds,
            &format!("attack-alg-{alg}-with-sig"),
            format!("{}.c2ln", signing_input(&header, &claims_text)).into_bytes(),
            false,
        );
    }
    // HS256 keyed with public key material.
    let public_n = keys().fixture["rsa"]["n"].as_str().unwrap().to_owned();
    for (name, secret, kid) in [
        (
            "attack-hs256-rsa-n-as-secret-kid-rsa",
            public_n.as_bytes().to_vec(),
            Some("rsa-1"),
        ),
        (
            "attack-hs256-jwks-as-secret",
            public_jwks().into_bytes(),
            None,
        ),
    ] {
        let mut header = json!({ "alg": "HS256" });
        if let Some(kid) = kid {
            header["kid"] = kid.into();
        }
        let token = sign_raw_with("HS256", &secret, &header.to_string(), &claims_text);
        add(&mut seeds, name, token.into_bytes(), false);
    }
    // ES256 r = s = 0 (CVE-2022-21449), and a DER signature.
    let es = mint("ES256", &claims());
    let (es_message, es_sig) = es.rsplit_once('.').unwrap();
    add(
        &mut seeds,
        "attack-es256-r-s-zero",
        with_signature(es_message, &[0u8; 64]).into_bytes(),
        false,
    );
    let raw_sig = base64url_decode(es_sig).unwrap();
    let der = [
        &[0x30, 0x44, 0x02, 0x20][..],
        &raw_sig[..32],
        &[0x02, 0x20],
        &raw_sig[32..],
    ]
    .concat();
    add(
        &mut seeds,
        "attack-es256-der-sig",
        with_signature(es_message, &der).into_bytes(),
        false,
    );
    // Signature from another key under the same kid; signature moved to
    // another payload.
    let header = json!({ "alg": "RS256", "kid": "rsa-1" }).to_string();
    add(
        &mut seeds,
        "attack-rs256-other-key-same-kid",
        sign_raw_with("RS256-other", b"", &header, &claims_text).into_bytes(),
        false,
    );
    let mallory = mint("ES256", &with_claims(|c| c["sub"] = "mallory".into()));
    let (mallory_message, _) = mallory.rsplit_once('.').unwrap();
    add(
        &mut seeds,
        "attack-es256-sig-moved",
        format!("{mallory_message}.{es_sig}").into_bytes(),
        false,
    );
    // kid weirdness (all properly RS256-signed with the real key).
    for (name, kid) in [
        ("attack-kid-path", json!("../../dev/null")),
        ("attack-kid-empty", json!("")),
        ("attack-kid-number", json!(7)),
        ("attack-kid-of-ec-key", json!("ec-1")),
    ] {
        let token = mint_with_header("RS256", &json!({ "alg": "RS256", "kid": kid }), &claims());
        add(&mut seeds, name, token.into_bytes(), false);
    }
    // Key sources and crit in the header.
    for (name, value) in forbidden_header_members() {
        let mut header = json!({ "alg": "RS256", "kid": "rsa-1" });
        header[name] = value;
        add(
            &mut seeds,
            &format!("attack-header-{name}"),
            mint_with_header("RS256", &header, &claims()).into_bytes(),
            false,
        );
    }
    // Encodings.
    let parts: Vec<&str> = hs.split('.').collect();
    add(
        &mut seeds,
        "attack-padding",
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]).into_bytes(),
        false,
    );
    add(
        &mut seeds,
        "attack-standard-base64",
        hs.replace('-', "+").replace('_', "/").into_bytes(),
        false,
    );
    add(
        &mut seeds,
        "attack-five-segments",
        format!("{hs}.a.b").into_bytes(),
        false,
    );
    add(
        &mut seeds,
        "attack-two-segments",
        format!("{}.{}", parts[0], parts[1]).into_bytes(),
        false,
    );
    // Claims: exp types and ranges, duplicates (all HS256-signed).
    for (name, exp) in [
        ("string", json!(FAR_EXP.to_string())),
        ("float", json!(FAR_EXP as f64 + 0.5)),
        ("negative", json!(-1)),
        ("1e20", json!(1e20)),
        ("past-year-9999", json!(253_402_300_800u64)),
    ] {
        let token = mint("HS256", &with_claims(|c| c["exp"] = exp.clone()));
        add(
            &mut seeds,
            &format!("attack-exp-{name}"),
            token.into_bytes(),
            false,
        );
    }
    let header = r#"{"alg":"HS256"}"#;
    add(&mut seeds, "attack-duplicate-exp", sign_raw("HS256", header,
        &format!(r#"{{"sub":"alice","iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{FAR_EXP},"exp":{FAR_EXP}}}"#)).into_bytes(), false);
    add(&mut seeds, "attack-duplicate-roles", sign_raw("HS256", header,
        &format!(r#"{{"sub":"a","iss":"{ISSUER}","aud":"{AUDIENCE}","roles":["x"],"roles":["identity:admin"],"exp":{FAR_EXP}}}"#)).into_bytes(), false);

    assert!(seeds.count <= 50, "{} token seeds", seeds.count);
    for (name, bytes) in &expect_ok {
        edge_revoke_fuzz::token::check(bytes);
        let text = String::from_utf8_lossy(bytes);
        if name.starts_with("valid-") {
            let verdict = edge_revoke_fuzz::token::verify_token(&text);
            assert!(verdict.is_ok(), "{name}: {verdict:?}");
        }
    }
    for (name, bytes) in &expect_err {
        edge_revoke_fuzz::token::check(bytes);
        if bytes.first().is_some_and(|b| *b >= 0x20) {
            let verdict = edge_revoke_fuzz::token::verify_token(&String::from_utf8_lossy(bytes));
            assert!(verdict.is_err(), "{name} verified");
            println!("token/{name}: {:?}", verdict.unwrap_err());
        }
    }
    println!("token: {} seeds", seeds.count);

    // The regression: both encodings verify, under different store names.
    let a = edge_revoke_fuzz::token::verify_token(&es_no_jti);
    let b = edge_revoke_fuzz::token::verify_token(&high_s);
    println!(
        "es256 no-jti low-S {:?}, high-S twin {:?}",
        a.as_ref().map(|t| t.id().as_str().to_owned()),
        b.as_ref().map(|t| t.id().as_str().to_owned())
    );
}

fn route_seeds(root: &Path) {
    let mut seeds = Seeds::new(root, "routes");
    let jwt = mint("HS256", &claims());
    let lines = [
        ("sign-out", "DELETE /api/tokens".to_owned()),
        (
            "sign-out-scope",
            "DELETE /api/tokens?scope=local".to_owned(),
        ),
        ("sign-out-trailing-slash", "DELETE /api/tokens/".to_owned()),
        ("sign-out-uppercase-path", "delete /API/TOKENS".to_owned()),
        (
            "sign-out-global",
            "DELETE /api/tokens?scope=global".to_owned(),
        ),
        (
            "sign-out-others",
            "DELETE /api/tokens?scope=others".to_owned(),
        ),
        (
            "sign-out-bad-scope",
            "DELETE /api/tokens?scope=Global".to_owned(),
        ),
        (
            "sign-out-two-scopes",
            "DELETE /api/tokens?scope=local&scope=global".to_owned(),
        ),
        ("oauth-revoke", "POST /oauth/revoke".to_owned()),
        ("oauth-introspect", "POST /oauth/introspect?x".to_owned()),
        (
            "list-revocations",
            "GET /api/revocations?limit=5&cursor=abc".to_owned(),
        ),
        ("list-revocations-post", "POST /api/revocations".to_owned()),
        ("restore", "DELETE /api/revocations/j-1".to_owned()),
        (
            "restore-bad-escape",
            "DELETE /api/revocations/%zz".to_owned(),
        ),
        (
            "user-sign-out",
            "DELETE /api/users/alice%40example.com/tokens".to_owned(),
        ),
        (
            "user-sign-out-empty",
            "DELETE /api/users//tokens".to_owned(),
        ),
        (
            "user-sign-out-two-segments",
            "DELETE /api/users/a/b/tokens".to_owned(),
        ),
        (
            "user-sign-out-bad-escape",
            "DELETE /api/users/%zz/tokens".to_owned(),
        ),
        (
            "preflight",
            "OPTIONS /anything\nAccess-Control-Request-Method: POST\nAuthorization: Bearer x"
                .to_owned(),
        ),
        (
            "options-without-preflight-header",
            "OPTIONS /api/tokens".to_owned(),
        ),
        ("identity-self", "DELETE /v2.0/tokens".to_owned()),
        (
            "identity-query",
            "DELETE /v2.0/tokens?tokenId=abc".to_owned(),
        ),
        (
            "identity-query-plus",
            "DELETE /v2.0/tokens?tokenId=a%2Bb&tokenId=a+b".to_owned(),
        ),
        (
            "identity-query-repeat-same",
            "DELETE /v2.0/tokens?tokenId=x&tokenId=x".to_owned(),
        ),
        (
            "identity-query-empty",
            "DELETE /v2.0/tokens?tokenId=".to_owned(),
        ),
        (
            "identity-query-differ",
            "DELETE /v2.0/tokens?tokenId=a&tokenId=b".to_owned(),
        ),
        (
            "identity-query-bad-escape",
            "DELETE /v2.0/tokens?tokenId=%".to_owned(),
        ),
        (
            "identity-query-jwt",
            format!("DELETE /v2.0/tokens?tokenId={jwt}"),
        ),
        ("identity-path", "DELETE /v2.0/tokens/a%20b".to_owned()),
        (
            "identity-path-and-query",
            "DELETE /v2.0/tokens/abc?tokenId=abc".to_owned(),
        ),
        (
            "identity-path-query-differ",
            "DELETE /v2.0/tokens/a?tokenId=b".to_owned(),
        ),
        (
            "identity-path-bad-hex",
            "DELETE /v2.0/tokens/%zz".to_owned(),
        ),
        (
            "identity-path-utf8",
            "DELETE /v2.0/tokens/%C3%A9t%C3%A9".to_owned(),
        ),
        (
            "identity-path-not-utf8",
            "DELETE /v2.0/tokens/%ff".to_owned(),
        ),
        (
            "identity-path-encoded-slash",
            "DELETE https://a.b/v2.0/tokens/%2F".to_owned(),
        ),
        (
            "identity-path-two-segments",
            "DELETE /v2.0/tokens/a/b".to_owned(),
        ),
        ("identity-double-slash", "DELETE //v2.0/tokens".to_owned()),
        ("validate-get", "GET /v2.0/tokens/abc".to_owned()),
        ("validate-head", "HEAD /v2.0/tokens/abc".to_owned()),
        ("validate-bad-escape", "GET /v2.0/tokens/%".to_owned()),
        ("validate-put", "PUT /v2.0/tokens/abc".to_owned()),
        (
            "invalidate",
            "POST /token-service/client/server/invalidate/token".to_owned(),
        ),
        (
            "invalidate-get",
            "GET /token-service/client/server/invalidate/token".to_owned(),
        ),
        (
            "invalidate-query-fragment",
            "POST /token-service/client/server/invalidate/token?x=1#frag".to_owned(),
        ),
        ("bare-origin", "GET https://edge.test".to_owned()),
        ("fragment", "GET http://h/v2.0/tokens/x#y".to_owned()),
        (
            "form-query",
            "GET /things?a=1&b=x%3Dy&c&&d=&e=%20+%2b".to_owned(),
        ),
        ("no-method", "/v2.0/tokens/abc".to_owned()),
        // Other spellings of the worker's routes (each is that route).
        (
            "spelling-sign-out-slashes",
            "DELETE //api//tokens/".to_owned(),
        ),
        (
            "spelling-sign-out-params",
            "DELETE /api/tokens;jsessionid=1".to_owned(),
        ),
        (
            "spelling-sign-out-dots",
            "DELETE /x/../api/./tokens".to_owned(),
        ),
        (
            "spelling-sign-out-escaped",
            "DELETE /API/%74okens?SCOPE=global".to_owned(),
        ),
        (
            "spelling-validate-slashes",
            "GET /v2.0//tokens//abc/".to_owned(),
        ),
        ("spelling-validate-case", "GET /V2.0/Tokens/abc".to_owned()),
        (
            "spelling-validate-escaped",
            "HEAD /v2%2E0/tokens/%7Bid%7D".to_owned(),
        ),
        (
            "spelling-validate-params",
            "GET /v2.0/tokens/abc;v=1".to_owned(),
        ),
        (
            "spelling-identity-query-case",
            "DELETE /v2.0/tokens/?TokenId=abc".to_owned(),
        ),
        (
            "spelling-user-sign-out",
            "DELETE /API/users/al%69ce/TOKENS/".to_owned(),
        ),
        (
            "not-a-spelling-suffix",
            "DELETE /api/tokens.json".to_owned(),
        ),
        (
            "not-a-spelling-encoded-slash",
            "DELETE /api/%2Ftokens".to_owned(),
        ),
    ];
    for (name, line) in lines {
        edge_revoke_fuzz::routes::check(line.as_bytes());
        seeds.add(name, line);
    }
    assert!(seeds.count <= 64);
    println!("routes: {} seeds", seeds.count);
}

fn invalidate_seeds(root: &Path) {
    let mut seeds = Seeds::new(root, "invalidate_body");
    let es = mint("ES256", &claims());
    let hs_no_jti = mint(
        "HS256",
        &with_claims(|c| {
            c.as_object_mut().unwrap().remove("jti");
        }),
    );
    let expired = mint("HS256", &with_claims(|c| c["exp"] = json!(NOW - 3600)));
    let body = |v: &str| json!({ "tokenReferenceId": v }).to_string();
    let bodies = [
        ("bare-id", body("abc-123")),
        ("bare-id-padded", body("  abc-123 \n")),
        ("bare-id-nbsp", body("\u{a0}abc\u{a0}")),
        ("bare-id-inner-space", body("a b")),
        ("bare-id-control", body("a\u{1}b")),
        ("bare-id-too-long", body(&"x".repeat(300))),
        ("empty-id", body("")),
        ("blank-id", body("   ")),
        ("jwt-es256-with-jti", body(&es)),
        ("jwt-hs256-no-jti", body(&hs_no_jti)),
        ("jwt-expired", body(&expired)),
        (
            "jwt-bad-signature",
            body(&format!("{}x", &es[..es.len() - 1])),
        ),
        ("id-number", r#"{"tokenReferenceId": 5}"#.to_owned()),
        ("id-null", r#"{"tokenReferenceId": null}"#.to_owned()),
        ("id-missing", r#"{"tokenId": "abc"}"#.to_owned()),
        (
            "extra-members",
            r#"{"tokenReferenceId":"abc","reason":"logout","n":[1,{"a":null}]}"#.to_owned(),
        ),
        (
            "duplicate-member",
            r#"{"tokenReferenceId":"abc","tokenReferenceId":"def"}"#.to_owned(),
        ),
        (
            "escaped",
            r#"{"tokenReferenceId":"\u0061\u0062\u0063"}"#.to_owned(),
        ),
        (
            "lone-surrogate",
            r#"{"tokenReferenceId":"\ud800"}"#.to_owned(),
        ),
        (
            "trailing-garbage",
            r#"{"tokenReferenceId":"abc"} x"#.to_owned(),
        ),
        ("bom", "\u{feff}{\"tokenReferenceId\":\"abc\"}".to_owned()),
        ("not-json", "tokenReferenceId=abc".to_owned()),
        ("empty", String::new()),
        (
            "nested",
            r#"{"data":{"tokenReferenceId":"abc"}}"#.to_owned(),
        ),
        ("deep", format!("{}{}", "[".repeat(200), "]".repeat(200))),
    ];
    for (name, text) in bodies {
        edge_revoke_fuzz::invalidate::check(text.as_bytes());
        seeds.add(name, text);
    }
    assert!(seeds.count <= 50);
    println!("invalidate_body: {} seeds", seeds.count);
}

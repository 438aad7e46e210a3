//! Writes the curated seed corpus under `fuzz/corpus/<target>/` and checks
//! every seed against its target's invariants (and, for tokens, the expected
//! verdict).
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example make_seeds
//!
//! Tokens are signed with the fixture private keys of
//! `tests/fixtures/test-keys.json` (test-only keys). PS* signatures are
//! randomised, so regenerating changes those files; everything else is
//! deterministic.

use edge_revoke::primitives::base64url_encode;
use edge_revoke_fuzz::fixtures::{fixture, AUDIENCE, FAR_EXP, ISSUER, NOW, SECRET};
use edge_revoke_fuzz::token::{is_low_s, layout};
use jwt_compact::alg::{
    Ed25519, Es256, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key, Rsa, RsaPrivateKey,
};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

type EsSigning = <Es256 as Algorithm>::SigningKey;
type EdSigning = <Ed25519 as Algorithm>::SigningKey;

struct Signer {
    rsa: RsaPrivateKey,
    rsa_other: RsaPrivateKey,
    ec: EsSigning,
    ed: EdSigning,
}

impl Signer {
    fn new() -> Signer {
        let jwk = |name: &str| -> JsonWebKey<'static> {
            serde_json::from_value(fixture()[name].clone()).unwrap()
        };
        Signer {
            rsa: RsaPrivateKey::try_from(&jwk("rsa")).unwrap(),
            rsa_other: RsaPrivateKey::try_from(&jwk("rsa_other")).unwrap(),
            ec: EsSigning::try_from(&jwk("ec")).unwrap(),
            ed: EdSigning::try_from(&jwk("ed")).unwrap(),
        }
    }

    /// Signs `message` as `alg` with the fixture key (HS* with `secret`).
    fn sign(&self, alg: &str, message: &[u8], secret: &[u8]) -> Vec<u8> {
        fn bytes<S: AlgorithmSignature>(s: S) -> Vec<u8> {
            s.as_bytes().into_owned()
        }
        match alg {
            "HS256" => bytes(Hs256.sign(&Hs256Key::new(secret), message)),
            "HS384" => bytes(Hs384.sign(&Hs384Key::new(secret), message)),
            "HS512" => bytes(Hs512.sign(&Hs512Key::new(secret), message)),
            "RS256" => bytes(Rsa::rs256().sign(&self.rsa, message)),
            "RS384" => bytes(Rsa::rs384().sign(&self.rsa, message)),
            "RS512" => bytes(Rsa::rs512().sign(&self.rsa, message)),
            "PS256" => bytes(Rsa::ps256().sign(&self.rsa, message)),
            "PS384" => bytes(Rsa::ps384().sign(&self.rsa, message)),
            "PS512" => bytes(Rsa::ps512().sign(&self.rsa, message)),
            "ES256" => bytes(Es256.sign(&self.ec, message)),
            "EdDSA" => bytes(Ed25519.sign(&self.ed, message)),
            "RS256-other" => bytes(Rsa::rs256().sign(&self.rsa_other, message)),
            other => panic!("no signer for {other}"),
        }
    }

    /// `b64(header).b64(payload).b64(sig)` from raw JSON text.
    fn raw(&self, alg: &str, header: &str, payload: &str) -> String {
        let message = format!(
            "{}.{}",
            base64url_encode(header.as_bytes()),
            base64url_encode(payload.as_bytes())
        );
        let sig = self.sign(alg, message.as_bytes(), SECRET.as_bytes());
        format!("{message}.{}", base64url_encode(&sig))
    }

    fn with_header(&self, alg: &str, header: &Value, claims: &Value) -> String {
        self.raw(alg, &header.to_string(), &claims.to_string())
    }

    /// A well-formed token: `alg`, its fixture key and default kid.
    fn mint(&self, alg: &str, claims: &Value) -> String {
        let mut header = json!({ "alg": alg, "typ": "JWT" });
        if let Some(kid) = default_kid(alg) {
            header["kid"] = kid.into();
        }
        self.with_header(alg, &header, claims)
    }
}

fn default_kid(alg: &str) -> Option<&'static str> {
    match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => Some("rsa-1"),
        "ES256" => Some("ec-1"),
        "EdDSA" => Some("ed-1"),
        _ => None,
    }
}

const ALGS: [&str; 11] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "EdDSA",
];

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

/// n - s for P-256 (the other valid signature, "high S").
fn p256_negate_s(sig: &[u8]) -> Vec<u8> {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let (r, s) = sig.split_at(32);
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = N[i] as i16 - s[i] as i16 - borrow;
        borrow = if d < 0 {
            d += 256;
            1
        } else {
            0
        };
        out[i] = d as u8;
    }
    [r, &out].concat()
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
    let signer = Signer::new();
    token_seeds(&root, &signer);
    route_seeds(&root, &signer);
    invalidate_seeds(&root, &signer);
    base64url_seeds(&root);
}

fn token_seeds(root: &Path, signer: &Signer) {
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
    for alg in ALGS {
        let token = signer.mint(alg, &claims());
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
    let minted = signer.mint("ES256", &no_jti);
    let (es_message, sig) = minted.rsplit_once('.').unwrap();
    let sig = base64ct_decode(sig);
    let twin = p256_negate_s(&sig);
    let (low, high) = if is_low_s(&sig) {
        (sig, twin)
    } else {
        (twin, sig)
    };
    let es_no_jti = format!("{es_message}.{}", base64url_encode(&low));
    let high_s = format!("{es_message}.{}", base64url_encode(&high));
    let regressions = root.parent().unwrap().join("regressions/token");
    std::fs::create_dir_all(&regressions).unwrap();
    std::fs::write(regressions.join("es256-high-s-no-jti"), &high_s).unwrap();
    add(
        &mut seeds,
        "valid-es256-no-jti",
        es_no_jti.clone().into_bytes(),
        true,
    );
    let hs = signer.mint("HS256", &claims());
    add(
        &mut seeds,
        "valid-hs256-no-jti",
        signer.mint("HS256", &no_jti).into_bytes(),
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

    let b64 = |s: &str| base64url_encode(s.as_bytes());
    let claims_b64 = b64(&claims().to_string());

    // alg none.
    add(
        &mut seeds,
        "attack-alg-none-unsigned",
        format!("{}.{claims_b64}.", b64(r#"{"alg":"none"}"#)).into_bytes(),
        false,
    );
    for alg in ["None", "NONE", "nOnE"] {
        let header = b64(&json!({ "alg": alg, "typ": "JWT" }).to_string());
        add(
            &mut seeds,
            &format!("attack-alg-{alg}-with-sig"),
            format!("{header}.{claims_b64}.c2ln").into_bytes(),
            false,
        );
    }
    // HS256 keyed with public key material.
    let public_n = fixture()["rsa"]["n"].as_str().unwrap().to_owned();
    for (name, secret, kid) in [
        (
            "attack-hs256-rsa-n-as-secret-kid-rsa",
            public_n.as_bytes().to_vec(),
            Some("rsa-1"),
        ),
        (
            "attack-hs256-jwks-as-secret",
            edge_revoke_fuzz::fixtures::public_jwks().into_bytes(),
            None,
        ),
    ] {
        let mut header = json!({ "alg": "HS256" });
        if let Some(kid) = kid {
            header["kid"] = kid.into();
        }
        let message = format!("{}.{claims_b64}", b64(&header.to_string()));
        let sig = signer.sign("HS256", message.as_bytes(), &secret);
        add(
            &mut seeds,
            name,
            format!("{message}.{}", base64url_encode(&sig)).into_bytes(),
            false,
        );
    }
    // ES256 r = s = 0 (CVE-2022-21449), and a DER signature.
    let es = signer.mint("ES256", &claims());
    let (es_message, es_sig) = es.rsplit_once('.').unwrap();
    add(
        &mut seeds,
        "attack-es256-r-s-zero",
        format!("{es_message}.{}", base64url_encode(&[0u8; 64])).into_bytes(),
        false,
    );
    let raw_sig = base64ct_decode(es_sig);
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
        format!("{es_message}.{}", base64url_encode(&der)).into_bytes(),
        false,
    );
    // Signature from another key under the same kid; signature moved to
    // another payload.
    let header = json!({ "alg": "RS256", "kid": "rsa-1" }).to_string();
    let msg = format!("{}.{claims_b64}", b64(&header));
    let other = signer.sign("RS256-other", msg.as_bytes(), b"");
    add(
        &mut seeds,
        "attack-rs256-other-key-same-kid",
        format!("{msg}.{}", base64url_encode(&other)).into_bytes(),
        false,
    );
    let mallory = signer.mint("ES256", &with_claims(|c| c["sub"] = "mallory".into()));
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
        let token = signer.with_header("RS256", &json!({ "alg": "RS256", "kid": kid }), &claims());
        add(&mut seeds, name, token.into_bytes(), false);
    }
    // Key sources and crit in the header.
    for (name, value) in [
        ("jwk", public_jwk_other()),
        ("jku", json!("https://attacker.test/jwks.json")),
        ("x5u", json!("https://attacker.test/cert.pem")),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
    ] {
        let mut header = json!({ "alg": "RS256", "kid": "rsa-1" });
        header[name] = value;
        add(
            &mut seeds,
            &format!("attack-header-{name}"),
            signer.with_header("RS256", &header, &claims()).into_bytes(),
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
        let token = signer.mint("HS256", &with_claims(|c| c["exp"] = exp.clone()));
        add(
            &mut seeds,
            &format!("attack-exp-{name}"),
            token.into_bytes(),
            false,
        );
    }
    let header = r#"{"alg":"HS256"}"#;
    add(&mut seeds, "attack-duplicate-exp", signer.raw("HS256", header,
        &format!(r#"{{"sub":"alice","iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{FAR_EXP},"exp":{FAR_EXP}}}"#)).into_bytes(), false);
    add(&mut seeds, "attack-duplicate-roles", signer.raw("HS256", header,
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

fn base64ct_decode(s: &str) -> Vec<u8> {
    edge_revoke::primitives::base64url_decode(s).unwrap()
}

fn public_jwk_other() -> Value {
    let mut key = fixture()["rsa_other"].clone();
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        key.as_object_mut().unwrap().remove(member);
    }
    key
}

fn route_seeds(root: &Path, signer: &Signer) {
    let mut seeds = Seeds::new(root, "routes");
    let jwt = signer.mint("HS256", &claims());
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
    ];
    for (name, line) in lines {
        edge_revoke_fuzz::routes::check(line.as_bytes());
        seeds.add(name, line);
    }
    assert!(seeds.count <= 50);
    println!("routes: {} seeds", seeds.count);
}

fn invalidate_seeds(root: &Path, signer: &Signer) {
    let mut seeds = Seeds::new(root, "invalidate_body");
    let es = signer.mint("ES256", &claims());
    let hs_no_jti = signer.mint(
        "HS256",
        &with_claims(|c| {
            c.as_object_mut().unwrap().remove("jti");
        }),
    );
    let expired = signer.mint("HS256", &with_claims(|c| c["exp"] = json!(NOW - 3600)));
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

fn base64url_seeds(root: &Path) {
    let mut seeds = Seeds::new(root, "base64url");
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("f", b"f".to_vec()),
        ("zg", b"Zg".to_vec()),
        ("zm9vymfy", b"Zm9vYmFy".to_vec()),
        ("padded", b"Zg==".to_vec()),
        ("standard-alphabet", b"+/8".to_vec()),
        ("url-alphabet", b"-_8".to_vec()),
        ("trailing-bits", b"Zh".to_vec()),
        ("impossible-length", b"Z".to_vec()),
        ("whitespace", b"Zm9v YmFy".to_vec()),
        ("non-ascii", "é".as_bytes().to_vec()),
        ("binary", (0u8..=255).collect()),
        ("55-bytes", vec![b'x'; 55]),
        ("56-bytes", vec![b'a'; 56]),
        ("64-bytes", vec![b'a'; 64]),
        ("std-padded", b"Zm9vYg==".to_vec()),
        ("std-over-padded", b"Zm9v==".to_vec()),
        ("std-basic-credentials", b"Y2xpZW50OnNlY3JldA==".to_vec()),
    ];
    for (name, bytes) in inputs {
        edge_revoke_fuzz::base64url::check(&bytes);
        seeds.add(name, bytes);
    }
    println!("base64url: {} seeds", seeds.count);
}

// Setup (d) and the verification peer: a JavaScript worker doing what this
// project does, with jose (https://github.com/panva/jose), the usual choice
// for JWTs in Workers. Bundled by esbuild in bench/run.sh.
//
// Keys are imported once per isolate (JWT_JWKS by kid through importJWK, and
// JWT_SECRET as an HMAC CryptoKey) and reused; every request runs jwtVerify
// with the same checks as the Rust worker's defaults: an algorithm
// allow-list, a required exp, 60 s of clock tolerance.
//
// GET /__bench/verify: the same contract as the Rust worker's bench build.
//   Verifies the bearer token X-Bench-Iterations times (default 1, at most
//   100000); 204, or 401 when it does not verify.
// Any other request: verify the bearer token, then read revoked:<jti> and
//   subject:<sub> from REVOKED_TOKENS with two concurrent gets (the same keys
//   as the Rust worker), then forward to ORIGIN_URL + path + query. With
//   KV_READS = "1" it reads revoked:<jti> only: the check as users write it.
import { importJWK, jwtVerify } from "jose";

const ALGORITHMS = [
  "HS256", "HS384", "HS512",
  "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
  "ES256", "EdDSA",
];
const HASH = { HS256: "SHA-256", HS384: "SHA-384", HS512: "SHA-512" };

let keys; // Promise<{ byKid: Map<string, Map<alg, CryptoKey>>, jwks, hmac: Map<alg, CryptoKey> }>

function loadKeys(env) {
  keys ??= (async () => {
    const jwks = env.JWT_JWKS ? JSON.parse(env.JWT_JWKS).keys : [];
    const secret = env.JWT_SECRET ? new TextEncoder().encode(env.JWT_SECRET) : null;
    const hmac = new Map();
    if (secret) {
      for (const [alg, hash] of Object.entries(HASH)) {
        hmac.set(
          alg,
          await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash }, false, ["verify"]),
        );
      }
    }
    return { byKid: new Map(), jwks, hmac };
  })();
  return keys;
}

async function keyFor(state, header) {
  if (header.alg in HASH) {
    const key = state.hmac.get(header.alg);
    if (key) return key;
    throw new Error("no secret");
  }
  const jwk = state.jwks.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error("no key for kid");
  let perAlg = state.byKid.get(header.kid);
  if (!perAlg) state.byKid.set(header.kid, (perAlg = new Map()));
  let key = perAlg.get(header.alg);
  if (!key) {
    key = importJWK(jwk, header.alg); // a promise, cached so the import runs once
    perAlg.set(header.alg, key);
  }
  return key;
}

function bearer(request) {
  const value = request.headers.get("Authorization") ?? "";
  const match = /^bearer[ \t]+(.+)$/i.exec(value.trim());
  return match ? match[1].trim() : null;
}

async function verify(token, env) {
  const state = await loadKeys(env);
  const { payload } = await jwtVerify(token, (header) => keyFor(state, header), {
    algorithms: ALGORITHMS,
    requiredClaims: ["exp"],
    clockTolerance: 60,
  });
  return payload;
}

function unauthorized(description) {
  return new Response(JSON.stringify({ title: description }), {
    status: 401,
    headers: {
      "WWW-Authenticate": `Bearer realm="api", error="invalid_token", error_description="${description}"`,
      "Content-Type": "application/problem+json",
    },
  });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const token = bearer(request);
    if (url.pathname === "/__bench/verify") {
      if (!token) return new Response(null, { status: 400 });
      const n = Math.min(Math.max(parseInt(request.headers.get("X-Bench-Iterations") ?? "1", 10) || 1, 1), 100000);
      try {
        for (let i = 0; i < n; i++) await verify(token, env);
      } catch {
        return new Response(null, { status: 401 });
      }
      return new Response(null, { status: 204 });
    }
    if (!token) return unauthorized("missing token");
    let claims;
    try {
      claims = await verify(token, env);
    } catch {
      return unauthorized("invalid token");
    }
    const [revoked, cutoff] = await Promise.all([
      env.REVOKED_TOKENS.get(`revoked:${claims.jti}`, { cacheTtl: 60 }),
      claims.sub === undefined || env.KV_READS === "1"
        ? null
        : env.REVOKED_TOKENS.get(`subject:${claims.sub}`, { cacheTtl: 60 }),
    ]);
    if (revoked !== null) return unauthorized("token revoked");
    if (cutoff !== null && (claims.iat ?? 0) <= JSON.parse(cutoff).cutoff) {
      return unauthorized("token revoked");
    }
    return fetch(new Request(env.ORIGIN_URL + url.pathname + url.search, request));
  },
};

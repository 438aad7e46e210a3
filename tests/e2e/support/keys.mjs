// Fresh key material for every test run, plus token minting helpers.
import { generateKeyPairSync, randomBytes, randomUUID, createHmac, createSign, sign as cryptoSign, constants, createPublicKey } from 'node:crypto';
import { SignJWT } from 'jose';

export const ISSUER = 'https://issuer.test';
export const AUDIENCE = 'api://edge,api://other';
export const DEFAULT_AUD = 'api://edge';

/** base64url of a Buffer/Uint8Array or of a string's UTF-8 bytes. */
export function b64url(input) {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input);
  return buf.toString('base64url');
}

/** JWT_SECRET text. The worker uses the UTF-8 bytes of this string as the HMAC key. */
export const JWT_SECRET = randomBytes(32).toString('base64url');
export const hmacKey = Buffer.from(JWT_SECRET, 'utf8');

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
/** A second RSA key with the same kid as the real one; not in the JWKS. */
const wrongRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');

export const keys = {
  rsa: { kid: 'rsa-1', privateKey: rsa.privateKey, publicKey: rsa.publicKey },
  wrongRsa: { kid: 'rsa-1', privateKey: wrongRsa.privateKey, publicKey: wrongRsa.publicKey },
  ec: { kid: 'ec-1', privateKey: ec.privateKey, publicKey: ec.publicKey },
  ed: { kid: 'ed-1', privateKey: ed.privateKey, publicKey: ed.publicKey },
};

function pubJwk(publicKey, kid) {
  const jwk = publicKey.export({ format: 'jwk' });
  return { ...jwk, kid, use: 'sig' };
}

/** Public JWKS. No "alg" on any key so the RSA key serves RS256 and PS256 alike. */
export const jwks = {
  keys: [
    pubJwk(keys.rsa.publicKey, keys.rsa.kid),
    pubJwk(keys.ec.publicKey, keys.ec.kid),
    pubJwk(keys.ed.publicKey, keys.ed.kid),
  ],
};
export const JWT_JWKS = JSON.stringify(jwks);

/** Which key material goes with an algorithm by default. */
export function keyFor(alg) {
  if (/^HS/.test(alg)) return { kid: undefined, privateKey: hmacKey };
  if (/^(RS|PS)/.test(alg)) return keys.rsa;
  if (/^ES/.test(alg)) return keys.ec;
  if (alg === 'EdDSA' || alg === 'Ed25519') return keys.ed;
  throw new Error(`no key for alg ${alg}`);
}

export function now() {
  return Math.floor(Date.now() / 1000);
}

export function defaultClaims() {
  const t = now();
  return { sub: 'alice', iss: ISSUER, aud: DEFAULT_AUD, iat: t, exp: t + 600, jti: randomUUID() };
}

/** Merge overrides; a value of `undefined` removes the field. */
function merge(base, over = {}) {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/**
 * Mint a JWT with jose.
 * @param {object} o
 * @param {string} [o.alg='HS256'] HS256|HS384|HS512|RS256|PS256|ES256|EdDSA (others jose knows work too)
 * @param {object} [o.claims] merged over the defaults (sub, iss, aud, iat, exp, jti); undefined removes
 * @param {object} [o.header] merged over { alg, kid, typ: 'JWT' }; undefined removes (alg cannot be removed: use signWith)
 * @param {*} [o.key] signing key override (KeyObject, Buffer/Uint8Array secret, or a string secret)
 */
export async function mint({ alg = 'HS256', claims = {}, header = {}, key } = {}) {
  const def = keyFor(alg);
  let signingKey = key ?? def.privateKey;
  if (typeof signingKey === 'string') signingKey = Buffer.from(signingKey, 'utf8');
  if (signingKey && signingKey.privateKey) signingKey = signingKey.privateKey;
  const hdr = merge({ alg, typ: 'JWT', ...(def.kid ? { kid: def.kid } : {}) }, header);
  const payload = merge(defaultClaims(), claims);
  // SignJWT takes the payload as-is; we do not call setIssuedAt etc. so nothing is added.
  return new SignJWT(payload).setProtectedHeader(hdr).sign(signingKey);
}

const HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

/**
 * Low-level signer for hand-crafted tokens.
 * `signingInput` is the exact "<b64 header>.<b64 payload>" text; returns the signature bytes.
 */
export function signBytes(alg, signingInput, key) {
  const data = Buffer.from(signingInput, 'utf8');
  let m;
  if ((m = /^HS(256|384|512)$/.exec(alg))) {
    return createHmac(HASH[m[1]], typeof key === 'string' ? Buffer.from(key, 'utf8') : key).update(data).digest();
  }
  if ((m = /^RS(256|384|512)$/.exec(alg))) {
    return createSign(HASH[m[1]]).update(data).sign(key);
  }
  if ((m = /^PS(256|384|512)$/.exec(alg))) {
    return createSign(HASH[m[1]]).update(data).sign({
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: Number(m[1]) / 8,
    });
  }
  if ((m = /^ES(256|384|512)$/.exec(alg))) {
    return createSign(HASH[m[1]]).update(data).sign({ key, dsaEncoding: 'ieee-p1363' });
  }
  if (alg === 'EdDSA') return cryptoSign(null, data, key);
  if (alg === 'none') return Buffer.alloc(0);
  throw new Error(`signBytes: unsupported alg ${alg}`);
}

/**
 * Hand-craft a compact JWS.
 * @param {object} o
 * @param {object|string} o.header  object (JSON-encoded) or raw string (used verbatim before base64url)
 * @param {object|string} o.payload object or raw string
 * @param {string} [o.alg]          algorithm used to sign; defaults to header.alg
 * @param {*} [o.key]               key; defaults to keyFor(alg)
 * @param {Buffer|string} [o.signature] explicit signature bytes (skip signing)
 */
export function signWith({ header, payload, alg, key, signature } = {}) {
  const h = typeof header === 'string' ? header : JSON.stringify(header);
  const p = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const input = `${b64url(h)}.${b64url(p)}`;
  const a = alg ?? (typeof header === 'object' ? header.alg : undefined);
  let sig = signature;
  if (sig === undefined) {
    if (!a) throw new Error('signWith: no alg');
    const k = key ?? (a === 'none' ? null : keyFor(a).privateKey);
    sig = signBytes(a, input, k && k.privateKey ? k.privateKey : k);
  }
  return `${input}.${b64url(sig)}`;
}

export { createPublicKey };

// ---------------------------------------------------------------------------
// Identity provider tokens: OpenID Connect back-channel logout tokens (signed
// with the access-token keys, as the provider signs both) and Shared Signals
// security event tokens (signed by the transmitter's own key).

/** The client IDs the worker is registered as (BACKCHANNEL_LOGOUT_AUDIENCE). */
export const LOGOUT_AUDIENCE = 'edge-client,edge-client-2';
/** The client ID a logout token names as its aud. */
export const LOGOUT_CLIENT = 'edge-client';
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

export const SSF_ISSUER = 'https://ssf-transmitter.test';
export const SSF_AUDIENCE = 'https://edge.test/ssf,https://edge.test/ssf-2';
/** The aud a SET names. */
export const SSF_AUD = 'https://edge.test/ssf';

const transmitterPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
/** The Shared Signals transmitter's key: not in JWT_JWKS, and no access-token key is in SSF_JWKS. */
keys.transmitter = { kid: 'ssf-1', privateKey: transmitterPair.privateKey, publicKey: transmitterPair.publicKey };
/** SSF_JWKS text: the transmitter's public key only. */
export const SSF_JWKS = JSON.stringify({ keys: [pubJwk(keys.transmitter.publicKey, keys.transmitter.kid)] });

/** Event types of CAEP, RISC and SSF. */
export const EVENTS = {
  sessionRevoked: 'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
  credentialChange: 'https://schemas.openid.net/secevent/caep/event-type/credential-change',
  sessionsRevoked: 'https://schemas.openid.net/secevent/risc/event-type/sessions-revoked',
  tokensRevoked: 'https://schemas.openid.net/secevent/risc/event-type/tokens-revoked',
  // OAuth Event Types 1.0 §3.3, as Google's Cross-Account Protection sends it.
  oauthTokensRevoked: 'https://schemas.openid.net/secevent/oauth/event-type/tokens-revoked',
  accountDisabled: 'https://schemas.openid.net/secevent/risc/event-type/account-disabled',
  verification: 'https://schemas.openid.net/secevent/ssf/event-type/verification',
};

/** The claims of a logout token as Keycloak sends one (sub and sid of alice's session). */
export function logoutClaims() {
  const t = now();
  return {
    iat: t, exp: t + 120, jti: randomUUID(), iss: ISSUER, aud: LOGOUT_CLIENT,
    sub: 'alice', typ: 'Logout', sid: randomUUID(),
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
  };
}

/**
 * A logout token shaped as Keycloak sends it: RS256 by the access-token RSA
 * key, header { alg, typ: 'logout+jwt', kid }. `claims` and `header` are
 * merged over the defaults (undefined removes); `key` overrides the signing key.
 */
export function mintLogout({ claims = {}, header = {}, key, alg = 'RS256' } = {}) {
  const def = keyFor(alg);
  let signingKey = key ?? def.privateKey;
  if (signingKey && signingKey.privateKey) signingKey = signingKey.privateKey;
  const hdr = merge({ alg, typ: 'logout+jwt', ...(def.kid ? { kid: def.kid } : {}) }, header);
  return new SignJWT(merge(logoutClaims(), claims)).setProtectedHeader(hdr).sign(signingKey);
}

/** An iss_sub subject identifier (RFC 9493) of the access-token issuer. */
export const issSub = (sub, iss = ISSUER) => ({ format: 'iss_sub', iss, sub });

/** The claims of a SET as an SSF 1.0 transmitter sends one: a CAEP session-revoked for alice. */
export function setClaims() {
  const t = now();
  return {
    iss: SSF_ISSUER, aud: SSF_AUD, iat: t, jti: randomUUID(),
    sub_id: issSub('alice'),
    events: { [EVENTS.sessionRevoked]: { event_timestamp: t } },
  };
}

/**
 * A security event token as a transmitter pushes it: RS256 by the
 * transmitter key, header { alg, typ: 'secevent+jwt', kid: 'ssf-1' }.
 * `claims` and `header` are merged over the defaults (undefined removes).
 */
export function mintSet({ claims = {}, header = {}, key = keys.transmitter, alg = 'RS256' } = {}) {
  const signingKey = key.privateKey ?? key;
  const hdr = merge({ alg, typ: 'secevent+jwt', kid: keys.transmitter.kid }, header);
  return new SignJWT(merge(setClaims(), claims)).setProtectedHeader(hdr).sign(signingKey);
}

// ---------------------------------------------------------------------------
// Global Token Revocation (draft-parecki-oauth-global-token-revocation-05):
// assertions as Okta's Universal Logout sends them, signed by the org's own
// key (not in JWT_JWKS, and no access-token key is in GTR_JWKS).

/** GTR_PATH. */
export const GTR_PATH = '/global-token-revocation';
/** GTR_ISSUER: an Okta org. */
export const GTR_ISSUER = 'https://org.okta.test';
/** GTR_AUDIENCE: the endpoint's public URL, as Okta puts it in `aud`. */
export const GTR_AUDIENCE = 'https://api.example.test/global-token-revocation';

const oktaPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
keys.okta = { kid: 'okta-1', privateKey: oktaPair.privateKey, publicKey: oktaPair.publicKey };
/** GTR_JWKS text: the org's public key only. */
export const GTR_JWKS = JSON.stringify({ keys: [pubJwk(keys.okta.publicKey, keys.okta.kid)] });
/** The settings that turn the endpoint on, with emails in the `email` claim. */
export const GTR_VARS = { GTR_PATH, GTR_ISSUER, GTR_AUDIENCE, GTR_JWKS, SUBJECT_EMAIL_CLAIM: 'email' };

/** An assertion's claims as Okta's Universal Logout guide documents them. */
export function assertionClaims() {
  const t = now();
  return { iss: GTR_ISSUER, sub: '0oa-edge-app', aud: GTR_AUDIENCE, exp: t + 300, nbf: t - 300, iat: t, jti: randomUUID() };
}

/**
 * An assertion: RS256 by the org key, header { alg, typ:
 * 'global-token-revocation+jwt', kid: 'okta-1' }. `claims` and `header` are
 * merged over the defaults (undefined removes); `key` overrides the signing key.
 */
export function mintAssertion({ claims = {}, header = {}, key = keys.okta, alg = 'RS256' } = {}) {
  const signingKey = key.privateKey ?? key;
  const hdr = merge({ alg, typ: 'global-token-revocation+jwt', kid: keys.okta.kid }, header);
  return new SignJWT(merge(assertionClaims(), claims)).setProtectedHeader(hdr).sign(signingKey);
}

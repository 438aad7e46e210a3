// Two isolates of the real build sharing one KV namespace (one `workerd serve`
// process, two worker services, one KV service), in front of a recording
// origin. Every cache and read-your-writes rule of the worker is checked
// here for the promise it makes: a revocation that answered success through
// one isolate is enforced by the other on its next request.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import { startOrigin } from '../../scripts/lib/origin.mjs';
import { startIsolates } from './support/isolates.mjs';
import { call } from './support/http.mjs';
import { revokeUser } from './support/propagation.mjs';
import { startJwksServer, rsaKey, jwksOf } from './support/jwks.mjs';
import { mint, mintAssertion, issSub, now, JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE, GTR_VARS } from './support/keys.mjs';

const VARS = {
  JWT_SECRET,
  JWT_JWKS,
  JWT_ISSUER: ISSUER,
  JWT_AUDIENCE: AUDIENCE,
  JWT_LEEWAY_SECONDS: '30',
  // Cutoffs reach 1 s past the sign-out (not the leeway, the default): these
  // stories check caches across isolates, and mint a token issued after a
  // cutoff without waiting (tests/e2e/clock-skew.test.mjs covers the skew).
  CUTOFF_SKEW_SECONDS: '1',
  ...GTR_VARS,
};


const admin = () => mint({ alg: 'ES256', claims: { sub: 'root', roles: ['identity:admin'] } });

describe('two isolates sharing one KV namespace', () => {
  let origin;
  let isolates;
  let a;
  let b;

  before(async () => {
    origin = await startOrigin();
    isolates = await startIsolates({ vars: VARS, originUrl: origin.url });
    ({ a, b } = isolates.urls);
  });
  after(async () => {
    await isolates?.stop();
    await origin?.close();
  });
  beforeEach(() => origin.clear());

  it('a restore through A never masks a later revocation through B', async () => {
    const jti = `restore-then-revoke-${Date.now()}`;
    const token = await mint({ alg: 'RS256', claims: { jti } });
    const adminToken = await admin();
    const revokeVia = async (url) =>
      (await call(url, `/v2.0/tokens?tokenId=${encodeURIComponent(jti)}`, { method: 'DELETE', headers: { 'X-Auth-Token': adminToken } })).status;

    // A revokes, A restores: the token works again through A (read-your-writes).
    assert.equal(await revokeVia(a), 204);
    assert.equal((await call(a, '/x', { token })).status, 401);
    assert.equal((await call(a, `/api/revocations/${jti}`, { method: 'DELETE', token: adminToken })).status, 204);
    assert.equal((await call(a, '/x', { token })).status, 200, 'restored, seen at once by A');
    assert.equal((await call(b, '/x', { token })).status, 200, 'restored, seen by B');

    // B revokes again. A remembers its restore, yet must reject from now on.
    origin.clear();
    assert.equal(await revokeVia(b), 204);
    for (let i = 0; i < 3; i++) {
      assert.equal((await call(a, '/x', { token })).status, 401, `A forwarded a token B revoked (try ${i})`);
    }
    assert.equal((await call(b, '/x', { token })).status, 401);
    assert.equal(origin.requests.length, 0, 'nothing reached the origin after the revocation');
  });

  it('a sign-out through B is enforced by A, whose token cache holds the token', async () => {
    const token = await mint({ alg: 'ES256', claims: { sub: `cache-${Date.now()}` } });
    // A verifies the token twice: the second time from its token cache.
    assert.equal((await call(a, '/x', { token })).status, 200);
    assert.equal((await call(a, '/x', { token })).status, 200);
    origin.clear();
    assert.equal((await call(b, '/api/tokens', { method: 'DELETE', token })).status, 204);
    assert.equal((await call(a, '/x', { token })).status, 401);
    assert.equal(origin.requests.length, 0);
  });

  it('a subject-wide sign-out through B is enforced by A at once', async () => {
    const sub = `everywhere-${Date.now()}`;
    const t = now();
    const older = await mint({ alg: 'HS256', claims: { sub, iat: t - 20 } });
    const caller = await mint({ alg: 'RS256', claims: { sub, iat: t - 10 } });
    assert.equal((await call(a, '/x', { token: older })).status, 200);
    assert.equal((await call(a, '/x', { token: caller })).status, 200);
    origin.clear();
    assert.equal((await call(b, '/api/tokens?scope=global', { method: 'DELETE', token: caller })).status, 204);
    assert.equal((await call(a, '/x', { token: older })).status, 401);
    assert.equal((await call(a, '/x', { token: caller })).status, 401);
    assert.equal(origin.requests.length, 0);
    // A token issued after the cutoff passes through both.
    const later = await mint({ alg: 'HS256', claims: { sub, iat: t + 3 } });
    assert.equal((await call(a, '/x', { token: later })).status, 200);
    assert.equal((await call(b, '/x', { token: later })).status, 200);
  });

  it('a "preflight" carrying a token A has cached, revoked through B, is 401 at A', async () => {
    const token = await mint({ alg: 'ES256', claims: { sub: `preflight-${Date.now()}` } });
    assert.equal((await call(a, '/x', { token })).status, 200, 'A verifies and caches it');
    assert.equal((await call(b, '/api/tokens', { method: 'DELETE', token })).status, 204);
    origin.clear();
    const r = await call(a, '/v1/orders/42', { method: 'OPTIONS', headers: { 'Access-Control-Request-Method': 'DELETE', Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 401, r.text);
    assert.equal(origin.requests.length, 0);
  });

  it('a Global Token Revocation through B (iss_sub, then email) is enforced by A, whose cache holds the tokens; its assertion is refused at A', async () => {
    const sub = `gtr-${Date.now()}`;
    const email = `${sub}@example.test`;
    const bySub = await mint({ alg: 'RS256', claims: { sub, iat: now() - 5 } });
    const byEmail = await mint({ alg: 'ES256', claims: { sub: `${sub}-2`, email, iat: now() - 5 } });
    for (const token of [bySub, byEmail]) assert.equal((await call(a, '/x', { token })).status, 200, 'A verifies and caches it');
    origin.clear();
    const assertion = await mintAssertion();
    assert.equal((await revokeUser(b, issSub(sub), assertion)).status, 204);
    assert.equal((await call(a, '/x', { token: bySub })).status, 401);
    assert.equal((await revokeUser(b, { format: 'email', email })).status, 204);
    assert.equal((await call(a, '/x', { token: byEmail })).status, 401);
    assert.equal(origin.requests.length, 0);
    const replay = await revokeUser(a, issSub(sub), assertion);
    assert.equal(replay.status, 401, replay.text);
    assert.equal(JSON.parse(replay.text).detail, 'Assertion already used.');
  });

  it('an admin sign-out of a subject through A is enforced by B', async () => {
    const sub = `admin-cut-${Date.now()}`;
    const token = await mint({ alg: 'EdDSA', claims: { sub, iat: now() - 5 } });
    assert.equal((await call(b, '/x', { token })).status, 200);
    origin.clear();
    const path = `/api/users/${encodeURIComponent(sub)}/tokens`;
    assert.equal((await call(a, path, { method: 'DELETE', token: await admin() })).status, 204);
    assert.equal((await call(b, '/x', { token })).status, 401);
    assert.equal(origin.requests.length, 0);
  });
});

describe('two isolates with a remote key set', () => {
  let origin;
  let jwks;
  let isolates;

  before(async () => {
    origin = await startOrigin();
    jwks = await startJwksServer({ jwks: jwksOf(rsaKey('old')) });
    isolates = await startIsolates({
      vars: { JWT_JWKS_URL: jwks.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE },
      originUrl: origin.url,
    });
  });
  after(async () => {
    await isolates?.stop();
    await jwks?.close();
    await origin?.close();
  });

  it('each isolate keeps its own key cache; a key rotated in after both cached is found by each', async () => {
    const first = rsaKey('first');
    jwks.setJwks(jwksOf(first));
    const { a, b } = isolates.urls;
    const token = await mint({ alg: 'RS256', key: first, header: { kid: 'first' } });
    assert.equal((await call(a, '/x', { token })).status, 200);
    assert.equal((await call(b, '/x', { token })).status, 200);
    const hits = jwks.hits;
    // Rotation: a new kid, unknown to both caches, is fetched by each isolate.
    const second = rsaKey('second');
    jwks.setJwks(jwksOf(first, second));
    const rotated = await mint({ alg: 'RS256', key: second, header: { kid: 'second' } });
    assert.equal((await call(a, '/x', { token: rotated })).status, 200);
    assert.equal((await call(b, '/x', { token: rotated })).status, 200);
    assert.equal(jwks.hits - hits, 2, 'one refetch per isolate');
    // A revocation through A is enforced by B for a remotely keyed token.
    assert.equal((await call(a, '/api/tokens', { method: 'DELETE', token: rotated })).status, 204);
    assert.equal((await call(b, '/x', { token: rotated })).status, 401);
  });
});

describe('two isolates with a recheck window (REVOCATION_RECHECK_SECONDS=5)', () => {
  let origin;
  let isolates;
  const WINDOW_MS = 5000;

  before(async () => {
    origin = await startOrigin();
    isolates = await startIsolates({ vars: { ...VARS, REVOCATION_RECHECK_SECONDS: '5' }, originUrl: origin.url });
  });
  after(async () => {
    await isolates?.stop();
    await origin?.close();
  });

  it("another isolate's revocation is seen when the window ends; this isolate's own at once", async () => {
    const { a, b } = isolates.urls;
    const sub = `recheck-${Date.now()}`;
    const token = await mint({ alg: 'ES256', claims: { sub, iat: now() - 5 } });
    const own = await mint({ alg: 'HS256', claims: { sub: `${sub}-own` } });
    const checkedAt = Date.now();
    assert.equal((await call(a, '/x', { token })).status, 200, 'checked clean by A');
    assert.equal((await call(a, '/x', { token: own })).status, 200, 'checked clean by A');

    // This isolate's own revocation counts on its very next request.
    assert.equal((await call(a, '/api/tokens', { method: 'DELETE', token: own })).status, 204);
    assert.equal((await call(a, '/x', { token: own })).status, 401, "A's own write, inside its window");

    // B revokes: B rejects at once; A may pass it until its window ends (the documented bound).
    assert.equal((await call(b, '/api/tokens', { method: 'DELETE', token })).status, 204);
    assert.equal((await call(b, '/x', { token })).status, 401);
    const inside = await call(a, '/x', { token });
    assert.ok(Date.now() - checkedAt < WINDOW_MS, 'still inside the window');
    assert.equal(inside.status, 200, 'inside the window A does not read KV for a clean token');

    // Once the window ends A reads KV again and rejects.
    const wait = checkedAt + WINDOW_MS + 1100 - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    origin.clear();
    assert.equal((await call(a, '/x', { token })).status, 401, 'after the window');
    assert.equal(origin.requests.length, 0);
  });

  it("this isolate's own email cutoff counts at once, inside the window", async () => {
    const { a } = isolates.urls;
    const email = `recheck-${Date.now()}@example.test`;
    const token = await mint({ alg: 'ES256', claims: { sub: `recheck-email-${Date.now()}`, email, iat: now() - 5 } });
    assert.equal((await call(a, '/x', { token })).status, 200, 'checked clean by A');
    assert.equal((await revokeUser(a, { format: 'email', email })).status, 204);
    assert.equal((await call(a, '/x', { token })).status, 401, "A's own write, inside its window");
  });
});

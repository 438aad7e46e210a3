// The answers of docs/openapi.yaml that the other suites do not reach: every
// route's 500 (no usable configuration) and 503 (Workers KV down), the
// Identity validation call's own answers (400, 401, 502, 504, for GET and
// HEAD), and the rarer 4xx of the revocation routes. Every response is
// checked against the document by support/http.mjs, like every other suite's;
// tests/e2e/contract-coverage.mjs then checks that each documented pair was seen.
// Run: node --test --test-concurrency=1 tests/e2e/contract.test.mjs
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { buildWorkerOnce } from './support/worker.mjs';
import { useWorker } from './support/setup.mjs';
import { mint, mintAssertion, JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE, GTR_PATH, GTR_VARS } from './support/keys.mjs';
import { call, rawCall, assertProblem } from './support/http.mjs';

buildWorkerOnce();

const API_KEY = 'service-key-for-contract-0123456789';
const CLIENT = { id: 'app-1', secret: 'contract-secret-1' };
const INVALIDATE = '/token-service/client/server/invalidate/token';
const BASE_VARS = {
  JWT_SECRET,
  JWT_JWKS,
  JWT_ISSUER: ISSUER,
  JWT_AUDIENCE: AUDIENCE,
  INVALIDATE_API_KEYS: API_KEY,
  OAUTH_CLIENTS: `${CLIENT.id}:${CLIENT.secret}`,
  ...GTR_VARS,
};
const BASIC = `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`;
const FORM = 'application/x-www-form-urlencoded';

const admin = () => mint({ alg: 'RS256', claims: { sub: 'root', roles: ['identity:admin'] } });

/** Asserts an RFC 6749 §5.2 error answer: `status`, `{"error": code}` and Retry-After on 503. */
function assertOAuthError(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(JSON.parse(r.text), { error: code });
  if (status === 503) assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
}

describe('no usable configuration: every route answers 500 problem+json', () => {
  // No JWT_SECRET, JWT_JWKS or JWT_JWKS_URL: the configuration cannot be used.
  const ctx = useWorker({
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    INVALIDATE_API_KEYS: API_KEY,
    OAUTH_CLIENTS: `${CLIENT.id}:${CLIENT.secret}`,
    BACKCHANNEL_LOGOUT_AUDIENCE: 'edge-client',
  });
  const requests = [
    ['DELETE', '/api/tokens', {}],
    ['DELETE', '/v2.0/tokens', {}],
    ['DELETE', '/v2.0/tokens/abc', {}],
    ['GET', '/v2.0/tokens/abc', {}],
    ['DELETE', '/api/users/alice/tokens', {}],
    ['GET', '/api/revocations', {}],
    ['GET', '/api/cutoffs', {}],
    ['GET', '/api/journal', {}],
    ['DELETE', '/api/revocations/j-1', {}],
    ['POST', INVALIDATE, { headers: { 'X-API-KEY': API_KEY, 'Content-Type': 'application/json' }, body: '{"tokenReferenceId":"r-1"}' }],
    ['POST', '/oauth/revoke', { headers: { Authorization: BASIC, 'Content-Type': FORM }, body: 'token=t' }],
    ['POST', '/oauth/introspect', { headers: { Authorization: BASIC, 'Content-Type': FORM }, body: 'token=t' }],
    // Whether a receiver is configured cannot be known either.
    ['POST', '/oidc/backchannel-logout', { headers: { 'Content-Type': FORM }, body: 'logout_token=t' }],
    ['POST', '/ssf/events', { headers: { 'Content-Type': 'application/secevent+jwt' }, body: 'a.b.c' }],
    ['POST', GTR_PATH, { headers: { 'Content-Type': 'application/json' }, body: '{"sub_id":{"format":"opaque","id":"a"}}' }],
  ];
  for (const [method, path, init] of requests) {
    it(`${method} ${path} → 500 naming the setting, even where the route has its own error shape`, async () => {
      const r = await call(ctx.base, path, { method, ...init });
      const body = assertProblem(r, 500);
      assert.match(body.detail, /JWT_SECRET/);
    });
  }

  it('HEAD /v2.0/tokens/{tokenId} → 500 without a body', async () => {
    const r = await call(ctx.base, '/v2.0/tokens/abc', { method: 'HEAD' });
    assert.equal(r.status, 500);
    assert.equal(r.buf.length, 0);
  });

  it('Accept: application/json gives the same problem as application/json', async () => {
    const r = await call(ctx.base, '/oauth/revoke', { method: 'POST', headers: { Authorization: BASIC, 'Content-Type': FORM, Accept: 'application/json' }, body: 'token=t' });
    assertProblem(r, 500, { json: true });
    assert.equal(ctx.origin.requests.length, 0);
  });
});

describe('Workers KV down (no REVOKED_TOKENS binding, no journal): every route that reads or writes it answers 503', () => {
  const ctx = useWorker(BASE_VARS, { kv: false, journal: false });

  for (const [name, path] of [
    ['DELETE /v2.0/tokens/{tokenId}', '/v2.0/tokens/victim-1'],
    ['DELETE /api/users/{sub}/tokens', '/api/users/alice/tokens'],
    ['DELETE /api/revocations/{jti}', '/api/revocations/j-1'],
  ]) {
    it(`${name} by an admin → 503 + Retry-After`, async () => {
      const r = await call(ctx.base, path, { method: 'DELETE', token: await admin() });
      assertProblem(r, 503);
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
    });
  }

  for (const path of ['/api/revocations', '/api/cutoffs', '/api/journal']) {
    it(`GET ${path} by an admin → 503 + Retry-After`, async () => {
      const r = await call(ctx.base, path, { token: await admin() });
      assertProblem(r, 503);
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
    });
  }

  for (const method of ['GET', 'HEAD']) {
    it(`${method} /v2.0/tokens/{tokenId} with a valid caller → 503 + Retry-After, nothing forwarded`, async () => {
      const r = await call(ctx.base, '/v2.0/tokens/some-token-id', { method, headers: { 'X-Auth-Token': await mint({ alg: 'ES256' }) } });
      assert.equal(r.status, 503, r.text);
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
      if (method === 'GET') assertProblem(r, 503);
      assert.equal(ctx.origin.requests.length, 0);
    });
  }

  for (const [who, credential] of [['an admin', admin], ['an assertion', () => mintAssertion()]]) {
    it(`POST ${GTR_PATH} by ${who} → 503 + Retry-After, nothing signed out or forwarded`, async () => {
      const r = await call(ctx.base, GTR_PATH, {
        method: 'POST',
        token: await credential(),
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ sub_id: { format: 'opaque', id: 'alice' } }),
      });
      assertProblem(r, 503);
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
      assert.equal(ctx.origin.requests.length, 0);
    });
  }

  it('POST /oauth/revoke of a valid token → 503 temporarily_unavailable + Retry-After', async () => {
    const token = await mint({ claims: { sub: 'olga' } });
    const r = await call(ctx.base, '/oauth/revoke', { method: 'POST', headers: { Authorization: BASIC, 'Content-Type': FORM }, body: new URLSearchParams({ token }).toString() });
    assertOAuthError(r, 503, 'temporarily_unavailable');
  });

  it('POST /oauth/introspect of a valid token → 503 temporarily_unavailable + Retry-After', async () => {
    const token = await mint({ claims: { sub: 'ivy' } });
    const r = await call(ctx.base, '/oauth/introspect', { method: 'POST', headers: { Authorization: BASIC, 'Content-Type': FORM }, body: new URLSearchParams({ token }).toString() });
    assertOAuthError(r, 503, 'temporarily_unavailable');
  });
});

describe('the rarer answers of the revocation and validation routes', () => {
  // An origin that resets the connection for /v2.0/tokens/reset-* and never
  // answers /v2.0/tokens/hang-*: the validation call forwards, so it can get
  // the proxy path's 502 and 504.
  const held = new Set();
  let origin;
  before(async () => {
    origin = http.createServer((req, res) => {
      if (req.url.startsWith('/v2.0/tokens/hang-')) {
        held.add(res);
        return;
      }
      if (typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
      else req.socket.destroy();
    });
    await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    for (const res of held) res.socket?.destroy();
    await new Promise((resolve) => origin.close(resolve));
  });
  const ctx = useWorker(() => ({ ...BASE_VARS, ORIGIN_URL: `http://127.0.0.1:${origin.address().port}`, ORIGIN_TIMEOUT_SECONDS: '1' }));

  for (const scope of ['global', 'others']) {
    it(`DELETE /api/tokens?scope=${scope} for a token without sub → 400`, async () => {
      const token = await mint({ claims: { sub: undefined } });
      const r = await call(ctx.base, `/api/tokens?scope=${scope}`, { method: 'DELETE', token });
      assertProblem(r, 400);
      assert.equal(r.headers.get('www-authenticate'), null);
    });
  }

  for (const method of ['GET', 'HEAD']) {
    it(`${method} /v2.0/tokens/{tokenId}: two different tokens → 400, no token → 401`, async () => {
      const conflict = await call(ctx.base, '/v2.0/tokens/abc', { method, token: await mint(), headers: { 'X-Auth-Token': await mint({ alg: 'ES256' }) } });
      assert.equal(conflict.status, 400);
      assert.match(conflict.headers.get('www-authenticate') ?? '', /error="invalid_request"/);
      const missing = await call(ctx.base, '/v2.0/tokens/abc', { method });
      assert.equal(missing.status, 401);
      assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="api"');
      if (method === 'GET') {
        assertProblem(conflict, 400);
        assertProblem(missing, 401);
      }
    });

    it(`${method} /v2.0/tokens/{tokenId} forwarded to an origin that resets → 502, that never answers → 504`, { timeout: 30_000 }, async () => {
      const token = await mint({ alg: 'ES256' });
      const reset = await call(ctx.base, '/v2.0/tokens/reset-1', { method, headers: { 'X-Auth-Token': token } });
      assert.equal(reset.status, 502, reset.text);
      const hang = await call(ctx.base, '/v2.0/tokens/hang-1', { method, headers: { 'X-Auth-Token': token } });
      assert.equal(hang.status, 504, hang.text);
      if (method === 'GET') {
        assertProblem(reset, 502);
        assertProblem(hang, 504);
      }
    });
  }

  it('DELETE /v2.0/tokens/{tokenId}: no token 401, no admin role 403, over 8 KiB 413', async () => {
    assertProblem(await call(ctx.base, '/v2.0/tokens/abc', { method: 'DELETE' }), 401);
    const user = await mint({ claims: { roles: ['identity:default'] } });
    assertProblem(await call(ctx.base, '/v2.0/tokens/abc', { method: 'DELETE', headers: { 'X-Auth-Token': user } }), 403);
    const big = await call(ctx.base, `/v2.0/tokens/${'a'.repeat(8 * 1024 + 1)}`, { method: 'DELETE', headers: { 'X-Auth-Token': await admin() } });
    assertProblem(big, 413);
  });

  it('GET /api/cutoffs: a page of each kind for an admin; bad kind 400, no token 401, no admin role 403', async () => {
    const sub = `cut-${Date.now()}`;
    assert.equal((await call(ctx.base, '/api/tokens?scope=global', { method: 'DELETE', token: await mint({ claims: { sub } }) })).status, 204);
    const subjects = await call(ctx.base, '/api/cutoffs?limit=1000', { token: await admin() });
    assert.equal(subjects.status, 200, subjects.text);
    const page = JSON.parse(subjects.text);
    assert.ok(page.items.some((item) => item.kind === 'subject' && item.sub === sub), subjects.text);
    const sessions = await call(ctx.base, '/api/cutoffs?kind=session', { token: await admin() });
    assert.equal(sessions.status, 200, sessions.text);
    assertProblem(await call(ctx.base, '/api/cutoffs?kind=user', { token: await admin() }), 400);
    assertProblem(await call(ctx.base, '/api/cutoffs'), 401);
    assertProblem(await call(ctx.base, '/api/cutoffs', { token: await mint({ claims: { roles: ['reader'] } }) }), 403);
  });

  it('GET /api/journal: the journal and this isolate for an admin; no token 401, no admin role 403', async () => {
    const sub = `journal-${Date.now()}`;
    assert.equal((await call(ctx.base, '/api/tokens', { method: 'DELETE', token: await mint({ claims: { sub } }) })).status, 204);
    const r = await call(ctx.base, '/api/journal', { token: await admin() });
    assert.equal(r.status, 200, r.text);
    const status = JSON.parse(r.text);
    assert.equal(status.bound, true, r.text);
    assert.ok(status.journal.head >= 1, r.text);
    assert.ok(status.isolate.cursor >= 0 && status.isolate.age_seconds !== null, r.text);
    assertProblem(await call(ctx.base, '/api/journal'), 401);
    assertProblem(await call(ctx.base, '/api/journal', { token: await mint({ claims: { roles: ['reader'] } }) }), 403);
  });

  for (const path of ['/api/users/%zz/tokens', '/api/revocations/%zz']) {
    it(`DELETE ${path}: a path segment that cannot be decoded → 400`, async () => {
      const r = await rawCall(ctx.base, path, { method: 'DELETE', headers: [['Authorization', `Bearer ${await admin()}`]] });
      assertProblem(r, 400);
    });
  }
});

// End-to-end tests of the three revocation routes and their enforcement: the
// built worker under `wrangler dev` with wrangler's local KV, in front of a
// recording stub origin. Run: node --test --test-concurrency=1 tests/e2e/
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { startOrigin } from '../../scripts/lib/origin.mjs';
import { startWorker, buildWorkerOnce, kvList } from './support/worker.mjs';
import { mint, now, JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE } from './support/keys.mjs';
import { call } from './support/http.mjs';
import { useWorker } from './support/setup.mjs';

buildWorkerOnce();

const API_KEY = 'service-key-for-tests-0123456789';
const VARS = {
  JWT_SECRET,
  JWT_JWKS,
  JWT_ISSUER: ISSUER,
  JWT_AUDIENCE: AUDIENCE,
  INVALIDATE_API_KEYS: `other-key,${API_KEY}`,
  JWT_LEEWAY_SECONDS: '30',
  MAX_TOKEN_LIFETIME_SECONDS: '7200',
};
const INVALIDATE = '/token-service/client/server/invalidate/token';
const SUCCESS = '{"resCode":200,"resDesc":"SUCCESS","data":{"resCode":100,"resDesc":"Success"}}';

const problem = (r) => {
  assert.equal(r.headers.get('content-type'), 'application/problem+json');
  return JSON.parse(r.text);
};

// The ID of a token without jti: SHA-256 of its signed part (header.payload).
const derivedId = (token) =>
  createHash('sha256').update(token.slice(0, token.lastIndexOf('.'))).digest('base64url');

describe('revocation routes under wrangler dev', () => {
  const ctx = useWorker(VARS);
  const admin = () => mint({ alg: 'RS256', claims: { sub: 'root', roles: ['identity:admin'] } });
  /** POST invalidate with a good API key. */
  const invalidate = (tokenReferenceId, contentType) =>
    call(ctx.worker.url, INVALIDATE, {
      method: 'POST',
      headers: { 'X-API-KEY': API_KEY, 'Content-Type': contentType },
      body: JSON.stringify({ tokenReferenceId }),
    });

  it('DELETE /api/tokens signs the caller out, and only that token', async () => {
    const jti = `signout-${Date.now()}`;
    const token = await mint({ alg: 'ES256', claims: { jti } });
    const other = await mint({ alg: 'ES256' });
    assert.equal((await call(ctx.worker.url, '/hello', { token })).status, 200);
    ctx.origin.clear();

    const r = await call(ctx.worker.url, '/api/tokens', { method: 'DELETE', token });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.equal(ctx.origin.requests.length, 0, 'the route is never forwarded');

    // Read-your-write: the very next request is rejected and nothing reaches the ctx.origin.
    const after = await call(ctx.worker.url, '/hello', { token });
    assert.equal(after.status, 401);
    assert.equal(
      after.headers.get('www-authenticate'),
      'Bearer realm="api", error="invalid_token", error_description="token revoked"',
    );
    assert.equal(problem(after).status, 401);
    assert.equal(ctx.origin.requests.length, 0);

    // Other tokens still pass.
    assert.equal((await call(ctx.worker.url, '/hello', { token: other })).status, 200);
    assert.equal(ctx.origin.requests.length, 1);

    // Twice is fine.
    assert.equal((await call(ctx.worker.url, '/api/tokens', { method: 'DELETE', token })).status, 204);
  });

  it('DELETE /api/tokens errors: 401 without or with a bad token, JSON on request', async () => {
    const missing = await call(ctx.worker.url, '/api/tokens', { method: 'DELETE' });
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="api"');
    problem(missing);
    const bad = await call(ctx.worker.url, '/api/tokens', {
      method: 'DELETE',
      token: 'e30.e30.c2ln',
      headers: { Accept: 'application/json' },
    });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers.get('content-type'), 'application/json');
    assert.equal(JSON.parse(bad.text).status, 401);
    assert.equal(ctx.origin.requests.length, 0);
  });

  it('other methods on the revocation paths belong to the origin', async () => {
    const token = await mint();
    for (const [method, path] of [
      ['POST', '/v2.0/tokens'],
      ['GET', '/api/tokens'],
      ['GET', INVALIDATE],
    ]) {
      const r = await call(ctx.worker.url, path, { method, token, body: method === 'POST' ? '{}' : undefined });
      assert.equal(r.status, 200, `${method} ${path}`);
    }
    assert.deepEqual(
      ctx.origin.requests.map((q) => `${q.method} ${q.url}`),
      ['POST /v2.0/tokens', 'GET /api/tokens', `GET ${INVALIDATE}`],
    );
  });

  it('KV entry: token-matched expiry, the 60 s clamp, and a record without the token', async () => {
    const t = now();
    const jti = `kv-${t}`;
    const token = await mint({ claims: { jti, exp: t + 900 } });
    assert.equal((await call(ctx.worker.url, '/api/tokens', { method: 'DELETE', token })).status, 204);
    const soon = `kv-soon-${t}`;
    const soonToken = await mint({ claims: { jti: soon, exp: t + 5 } });
    assert.equal((await call(ctx.worker.url, '/api/tokens', { method: 'DELETE', token: soonToken })).status, 204);

    const entries = await kvList({ persistDir: ctx.worker.persistDir, configPath: ctx.worker.configPath, prefix: 'revoked:' });
    const entry = entries.find((e) => e.name === `revoked:${jti}`);
    assert.ok(entry, `revoked:${jti} in ${JSON.stringify(entries.map((e) => e.name))}`);
    assert.equal(entry.expiration, t + 900 + 30, 'exp + JWT_LEEWAY_SECONDS');
    assert.equal(entry.metadata.jti, jti);
    assert.equal(entry.metadata.sub, 'alice');
    assert.equal(entry.metadata.by, 'alice');
    assert.equal(entry.metadata.exp, t + 900);
    assert.equal(entry.metadata.reason, 'sign_out');
    assert.equal(entry.metadata.route, 'DELETE /api/tokens');
    assert.ok(Math.abs(entry.metadata.revoked_at - t) <= 5);

    const clamped = entries.find((e) => e.name === `revoked:${soon}`);
    assert.ok(clamped);
    // exp + leeway is t + 35, under KV's minimum; the entry lives until revoked_at + 60.
    assert.equal(clamped.expiration, clamped.metadata.revoked_at + 60);

    const dump = JSON.stringify(entries);
    assert.ok(!dump.includes(token) && !dump.includes(soonToken), 'raw tokens are never stored');
  });

  it('a token without jti is revoked under the base64url SHA-256 of its signed part', async () => {
    const token = await mint({ alg: 'EdDSA', claims: { jti: undefined } });
    assert.equal((await call(ctx.worker.url, '/api/tokens', { method: 'DELETE', token })).status, 204);
    const entries = await kvList({ persistDir: ctx.worker.persistDir, configPath: ctx.worker.configPath });
    assert.ok(entries.some((e) => e.name === `revoked:${derivedId(token)}`));
    assert.equal((await call(ctx.worker.url, '/x', { token })).status, 401);
  });

  it('DELETE /v2.0/tokens revokes the X-Auth-Token caller', async () => {
    const token = await mint({ alg: 'PS256' });
    const r = await call(ctx.worker.url, '/v2.0/tokens', { method: 'DELETE', headers: { 'X-Auth-Token': token } });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    const after = await call(ctx.worker.url, '/x', { headers: { 'X-Auth-Token': token } });
    assert.equal(after.status, 401);
    assert.match(after.headers.get('www-authenticate'), /error_description="token revoked"/);
    assert.equal(ctx.origin.requests.length, 0);
  });

  it('DELETE /v2.0/tokens with tokenId: admins revoke by JWT, by path and by bare ID', async () => {
    const adminToken = await admin();
    const victim = await mint({ alg: 'ES256', claims: { sub: 'bob' } });
    const byQuery = await call(ctx.worker.url, `/v2.0/tokens?tokenId=${victim}`, {
      method: 'DELETE',
      headers: { 'X-Auth-Token': adminToken },
    });
    assert.equal(byQuery.status, 204);
    assert.equal((await call(ctx.worker.url, '/x', { token: victim })).status, 401);

    const victim2 = await mint({ alg: 'HS256', claims: { sub: 'carol' } });
    const byPath = await call(ctx.worker.url, `/v2.0/tokens/${victim2}`, {
      method: 'DELETE',
      headers: { 'X-Auth-Token': adminToken },
    });
    assert.equal(byPath.status, 204);
    assert.equal((await call(ctx.worker.url, '/x', { token: victim2 })).status, 401);

    const bare = `opaque-${Date.now()}`;
    assert.equal(
      (await call(ctx.worker.url, `/v2.0/tokens/${bare}`, { method: 'DELETE', headers: { 'X-Auth-Token': adminToken } })).status,
      204,
    );
    const entries = await kvList({ persistDir: ctx.worker.persistDir, configPath: ctx.worker.configPath });
    const entry = entries.find((e) => e.name === `revoked:${bare}`);
    assert.ok(entry);
    assert.equal(entry.metadata.exp, null);
    // Its token's iat may be the leeway (30 s) ahead, and it is accepted the
    // leeway past its exp.
    assert.equal(entry.expiration, entry.metadata.revoked_at + 7200 + 2 * 30, 'MAX_TOKEN_LIFETIME_SECONDS + 2 * leeway');
    assert.equal(entry.metadata.by, 'root');
    assert.equal(entry.metadata.reason, 'admin');

    // The admin's own token still works; the origin saw only that request.
    assert.equal((await call(ctx.worker.url, '/x', { token: adminToken })).status, 200);
    assert.equal(ctx.origin.requests.length, 1);
  });

  it('DELETE /v2.0/tokens error codes: 400, 401, 403, 404, 413', async () => {
    const adminToken = await admin();
    const user = await mint({ claims: { roles: ['identity:default'] } });
    const expired = await mint({ claims: { exp: now() - 3600 } });
    const cases = [
      ['/v2.0/tokens?tokenId=', adminToken, 400],
      ['/v2.0/tokens/a?tokenId=b', adminToken, 400],
      ['/v2.0/tokens?tokenId=abc', undefined, 401],
      ['/v2.0/tokens?tokenId=abc', 'not.a.jwt', 401],
      ['/v2.0/tokens?tokenId=abc', user, 403],
      [`/v2.0/tokens?tokenId=${expired}`, adminToken, 404],
      [`/v2.0/tokens/${user.slice(0, -2)}xx`, adminToken, 404],
      [`/v2.0/tokens?tokenId=${'a'.repeat(8 * 1024 + 1)}`, adminToken, 413],
    ];
    for (const [path, token, status] of cases) {
      const headers = token ? { 'X-Auth-Token': token } : {};
      const r = await call(ctx.worker.url, path, { method: 'DELETE', headers });
      assert.equal(r.status, status, `${path.slice(0, 60)} -> ${r.status} ${r.text}`);
      assert.equal(problem(r).status, status);
      if (status === 401) assert.match(r.headers.get('www-authenticate'), /^Bearer realm="api"/);
    }
    assert.equal(ctx.origin.requests.length, 0);
    // The user whose forged copy was refused is still valid.
    assert.equal((await call(ctx.worker.url, '/x', { token: user })).status, 200);
  });

  it('GET and HEAD /v2.0/tokens/{tokenId} answer 404 at the edge once that token is revoked', async () => {
    const adminToken = await admin();
    const subject = await mint({ alg: 'RS256', claims: { sub: 'dave' } });
    const path = `/v2.0/tokens/${subject}`;
    const before = await call(ctx.worker.url, path, { headers: { 'X-Auth-Token': adminToken } });
    assert.equal(before.status, 200, 'forwarded while valid');
    assert.equal(ctx.origin.requests.length, 1);
    ctx.origin.clear();

    await call(ctx.worker.url, '/api/tokens', { method: 'DELETE', token: subject });
    const get = await call(ctx.worker.url, path, { headers: { 'X-Auth-Token': adminToken } });
    assert.equal(get.status, 404);
    const head = await call(ctx.worker.url, path, { method: 'HEAD', headers: { 'X-Auth-Token': adminToken } });
    assert.equal(head.status, 404);
    assert.equal(ctx.origin.requests.length, 0);
  });

  it('POST invalidate: 200 exact body with text/plain or JSON, by reference and by JWT', async () => {
    const ref = `ref-${Date.now()}`;
    const r = await invalidate(ref, 'text/plain');
    assert.equal(r.status, 200);
    assert.equal(r.text, SUCCESS);
    assert.match(r.headers.get('content-type'), /^application\/json/);

    const token = await mint({ alg: 'EdDSA', claims: { sub: 'erin' } });
    const byJwt = await invalidate(token, 'application/json');
    assert.equal(byJwt.status, 200);
    assert.equal(byJwt.text, SUCCESS);
    assert.equal((await call(ctx.worker.url, '/x', { token })).status, 401);
    assert.equal(ctx.origin.requests.length, 0);

    const entries = await kvList({ persistDir: ctx.worker.persistDir, configPath: ctx.worker.configPath });
    const entry = entries.find((e) => e.name === `revoked:${ref}`);
    assert.equal(entry.metadata.by, 'api-key');
    assert.equal(entry.metadata.route, `POST ${INVALIDATE}`);
  });

  it('POST invalidate errors keep the resCode/resDesc shape', async () => {
    const good = JSON.stringify({ tokenReferenceId: 'x-1' });
    const cases = [
      [{}, good, 401],
      [{ 'X-API-KEY': 'wrong' }, good, 401],
      [{ 'X-API-KEY': `${API_KEY}x` }, good, 401],
      [{ 'X-API-KEY': API_KEY }, '{not json', 400],
      [{ 'X-API-KEY': API_KEY }, '{}', 400],
      [{ 'X-API-KEY': API_KEY }, '{"tokenReferenceId":""}', 400],
      [{ 'X-API-KEY': API_KEY }, JSON.stringify({ tokenReferenceId: 'a'.repeat(17 * 1024) }), 400],
      [{ 'X-API-KEY': API_KEY }, JSON.stringify({ tokenReferenceId: 'e30.e30.c2ln' }), 404],
    ];
    for (const [headers, body, status] of cases) {
      const r = await call(ctx.worker.url, INVALIDATE, { method: 'POST', headers: { 'Content-Type': 'text/plain', ...headers }, body });
      assert.equal(r.status, status, `${JSON.stringify(headers)} ${body.slice(0, 40)}`);
      const json = JSON.parse(r.text);
      assert.equal(json.resCode, status);
      assert.equal(typeof json.resDesc, 'string');
      assert.deepEqual(Object.keys(json).sort(), ['resCode', 'resDesc']);
    }
    assert.equal(ctx.origin.requests.length, 0);
  });
});

describe('revocations survive a wrangler dev restart with --persist-to', () => {
  it('a token revoked before the restart is rejected after it', async () => {
    const origin = await startOrigin();
    let worker = await startWorker({ vars: VARS, originUrl: origin.url });
    const persistDir = worker.persistDir;
    try {
      const token = await mint({ alg: 'RS256' });
      const survivor = await mint({ alg: 'RS256' });
      assert.equal((await call(worker.url, '/api/tokens', { method: 'DELETE', token })).status, 204);
      await worker.stop();

      worker = await startWorker({ vars: VARS, originUrl: origin.url, persistDir });
      origin.clear();
      const r = await call(worker.url, '/x', { token });
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate'), /token revoked/);
      assert.equal(origin.requests.length, 0);
      assert.equal((await call(worker.url, '/x', { token: survivor })).status, 200);
    } finally {
      await worker.stop();
      await origin.close();
    }
  });
});

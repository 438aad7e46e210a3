// Fault injection against the built worker under `wrangler dev`: Workers KV
// unavailable, and an origin that errors, resets the connection or never answers.
// Restarts are covered in revocation.test.mjs.
// Run: node --test --test-concurrency=1 tests/e2e/faults.test.mjs
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';

import { buildWorkerOnce } from './support/worker.mjs';
import { useWorker } from './support/setup.mjs';
import { mint, keys, issSub, mintAssertion, JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE, GTR_VARS } from './support/keys.mjs';
import { call, assertProblem } from './support/http.mjs';
import { revokeUser } from './support/propagation.mjs';
import { waitForLog } from './support/logs.mjs';

buildWorkerOnce();

const API_KEY = 'service-key-for-faults-0123456789';
const BASE_VARS = {
  JWT_SECRET,
  JWT_JWKS,
  JWT_ISSUER: ISSUER,
  JWT_AUDIENCE: AUDIENCE,
  INVALIDATE_API_KEYS: API_KEY,
};
const INVALIDATE = '/token-service/client/server/invalidate/token';

const mediaType = (res) => (res.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();

function assertRetryAfter(r) {
  const ra = r.headers.get('retry-after');
  assert.ok(ra !== null, `Retry-After missing (status ${r.status}: ${r.text})`);
  assert.match(ra, /^\d+$/, `Retry-After is delay-seconds: ${ra}`);
}

// How KV is made to fail: the worker is started WITHOUT the REVOKED_TOKENS binding
// (startWorker({ kv: false, journal: false }) leaves the [[kv_namespaces]] entry out of the generated
// wrangler.toml). The built worker is unchanged and has no test-only switch: with no
// binding, every KV read and write it attempts fails exactly as it would if the
// namespace were unreachable, and it must fail closed. The one difference from a real
// outage is timing: the failure is immediate rather than after a network timeout.
describe('KV unavailable (no REVOKED_TOKENS binding, no journal)', () => {
  const ctx = useWorker(BASE_VARS, { kv: false, journal: false });

  it('the generated config really has no KV binding', async () => {
    const { readFileSync } = await import('node:fs');
    const toml = readFileSync(ctx.worker.configPath, 'utf8');
    assert.doesNotMatch(toml, /kv_namespaces|REVOKED_TOKENS/);
  });

  for (const alg of ['HS256', 'RS256', 'ES256']) {
    it(`valid ${alg} token on the proxy path → 503 + Retry-After, nothing forwarded`, async () => {
      const r = await call(ctx.worker.url, '/hello', { token: await mint({ alg }) });
      assertProblem(r, 503);
      assertRetryAfter(r);
      assert.equal(ctx.origin.requests.length, 0, 'origin must not be called when revocation cannot be checked');
    });
  }

  it('valid token via X-Auth-Token on a POST with a body → 503, nothing forwarded', async () => {
    const r = await call(ctx.worker.url, '/things', {
      method: 'POST',
      headers: { 'X-Auth-Token': await mint({ alg: 'EdDSA' }), 'Content-Type': 'application/json' },
      body: '{"a":1}',
    });
    assertProblem(r, 503);
    assertRetryAfter(r);
    assert.equal(ctx.origin.requests.length, 0);
  });

  it('a forged token is still 401 (the signature is checked before KV is asked)', async () => {
    const r = await call(ctx.worker.url, '/hello', { token: await mint({ alg: 'RS256', key: keys.wrongRsa }) });
    assertProblem(r, 401);
    assert.equal(ctx.origin.requests.length, 0);
  });

  it('DELETE /api/tokens (sign-out) → 503 + Retry-After, never 2xx', async () => {
    const token = await mint();
    for (let i = 0; i < 3; i++) {
      const r = await call(ctx.worker.url, '/api/tokens', { method: 'DELETE', token });
      assert.ok(r.status < 200 || r.status >= 300, `sign-out must never report success while KV is down: ${r.status}`);
      assertProblem(r, 503);
      assertRetryAfter(r);
    }
    assert.equal(ctx.origin.requests.length, 0);
  });

  it('DELETE /v2.0/tokens (self, X-Auth-Token) → 503 + Retry-After', async () => {
    const r = await call(ctx.worker.url, '/v2.0/tokens', { method: 'DELETE', headers: { 'X-Auth-Token': await mint({ alg: 'PS256' }) } });
    assertProblem(r, 503);
    assertRetryAfter(r);
    assert.equal(ctx.origin.requests.length, 0);
  });

  it('DELETE /v2.0/tokens?tokenId=<valid JWT> by an admin → 503 + Retry-After', async () => {
    const admin = await mint({ alg: 'RS256', claims: { sub: 'root', roles: ['identity:admin'] } });
    const victim = await mint({ alg: 'ES256', claims: { sub: 'bob' } });
    const r = await call(ctx.worker.url, `/v2.0/tokens?tokenId=${victim}`, { method: 'DELETE', headers: { 'X-Auth-Token': admin } });
    assertProblem(r, 503);
    assertRetryAfter(r);
    assert.equal(ctx.origin.requests.length, 0);
  });

  it(`POST ${INVALIDATE} with a good API key → 503 {"resCode":503,...} + Retry-After`, async () => {
    for (const tokenReferenceId of [`ref-${Date.now()}`, await mint({ alg: 'EdDSA' })]) {
      const r = await call(ctx.worker.url, INVALIDATE, {
        method: 'POST',
        headers: { 'X-API-KEY': API_KEY, 'Content-Type': 'application/json' },
        body: JSON.stringify({ tokenReferenceId }),
      });
      assert.equal(r.status, 503, `${r.status} ${r.text}`);
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
      const json = JSON.parse(r.text);
      assert.equal(json.resCode, 503);
      assert.equal(typeof json.resDesc, 'string');
      assert.notEqual(json.resDesc, 'SUCCESS');
      assertRetryAfter(r);
    }
    assert.equal(ctx.origin.requests.length, 0);
  });
});

// The same outage with the revocation journal bound: a revocation is
// durable once the journal holds it, so it answers success and is enforced,
// while KV stays the store of record it will reach when KV is back (the
// journal keeps it and retries; tests/journal.rs and the locations suite).
// A request whose token KV cannot vouch for still fails closed.
describe('KV unavailable with the journal bound', () => {
  const ctx = useWorker({ ...BASE_VARS, OAUTH_CLIENTS: 'app:secret-1' }, { kv: false });
  const basic = `Basic ${Buffer.from('app:secret-1').toString('base64')}`;
  const admin = async () => mint({ alg: 'HS256', claims: { sub: 'ops', roles: ['identity:admin'] } });

  it('an OAuth revoke answers 200 (the journal has it), the token is rejected, nothing is forwarded', async () => {
    const token = await mint({ alg: 'RS256', claims: { sub: 'kv-down-user' } });
    const r = await call(ctx.base, '/oauth/revoke', {
      method: 'POST',
      headers: { Authorization: basic, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `token=${token}`,
    });
    assert.equal(r.status, 200, r.text);
    const after = await call(ctx.base, '/hello', { token });
    assert.ok([401, 503].includes(after.status), `the revoked token: ${after.status}`);
    assert.equal(ctx.origin.requests.length, 0);
  });

  it('a valid token KV cannot vouch for is still 503, never forwarded', async () => {
    const r = await call(ctx.base, '/hello', { token: await mint({ alg: 'ES256', claims: { sub: 'kv-down-other' } }) });
    assertProblem(r, 503);
    assertRetryAfter(r);
    assert.equal(ctx.origin.requests.length, 0);
  });

  it('the admin status route fails closed too: the admin token itself needs KV', async () => {
    const r = await call(ctx.base, '/api/journal', { token: await admin() });
    assertProblem(r, 503);
  });
});

// The journal down: REVOCATION_JOURNAL is bound to the class of a worker that
// is not running, so every call to it fails, as when the Durable Object cannot
// be reached. The worker must fall back to KV alone: writes go to KV directly,
// every request reads KV, nothing is lost or let through, and it says so.
describe('the revocation journal unreachable (KV up)', () => {
  const ctx = useWorker({ ...BASE_VARS, ...GTR_VARS, CUTOFF_SKEW_SECONDS: '1' }, { journal: 'unreachable', logLevel: 'log' });
  const admin = async () => mint({ alg: 'HS256', claims: { sub: 'ops', roles: ['identity:admin'] } });

  it('the generated config binds the journal to a worker that is not running', async () => {
    const { readFileSync } = await import('node:fs');
    assert.match(readFileSync(ctx.worker.configPath, 'utf8'), /script_name = "edge-revoke-journal-not-running"/);
  });

  it('a sign-out and a sign-out everywhere answer 204 and are enforced; other tokens pass', async () => {
    const token = await mint({ alg: 'RS256', claims: { sub: 'journal-down-1' } });
    assert.equal((await call(ctx.base, '/hello', { token })).status, 200);
    assert.equal((await call(ctx.base, '/api/tokens', { method: 'DELETE', token })).status, 204);
    assert.equal((await call(ctx.base, '/hello', { token })).status, 401);
    const older = await mint({ alg: 'ES256', claims: { sub: 'journal-down-2', iat: Math.floor(Date.now() / 1000) - 10 } });
    const caller = await mint({ alg: 'ES256', claims: { sub: 'journal-down-2' } });
    assert.equal((await call(ctx.base, '/api/tokens?scope=global', { method: 'DELETE', token: caller })).status, 204);
    assert.equal((await call(ctx.base, '/hello', { token: older })).status, 401);
    const other = await mint({ alg: 'EdDSA', claims: { sub: 'journal-down-3' } });
    assert.equal((await call(ctx.base, '/hello', { token: other })).status, 200);
  });

  it("a Global Token Revocation assertion is 503 (only the journal can say it was not used elsewhere) and spent; an admin's call signs the user out", async () => {
    const sub = `journal-down-gtr-${Date.now()}`;
    const token = await mint({ alg: 'RS256', claims: { sub, iat: Math.floor(Date.now() / 1000) - 10 } });
    const assertion = await mintAssertion();
    const r = await revokeUser(ctx.base, issSub(sub), assertion);
    assertProblem(r, 503);
    assert.equal((await call(ctx.base, '/hello', { token })).status, 200, 'no one signed out');
    const again = await revokeUser(ctx.base, issSub(sub), assertion);
    assert.equal(again.status, 401, again.text);
    assert.equal(JSON.parse(again.text).detail, 'Assertion already used.');
    assert.equal((await revokeUser(ctx.base, issSub(sub), await admin())).status, 204);
    assert.equal((await call(ctx.base, '/hello', { token })).status, 401);
  });

  it('says so in its log, and the status route shows the journal out of reach', async () => {
    assert.match(await waitForLog(ctx.worker, /"event":"journal_unavailable"/), /"event":"journal_unavailable"/);
    const r = await call(ctx.base, '/api/journal', { token: await admin() });
    assert.equal(r.status, 200, r.text);
    const status = JSON.parse(r.text);
    assert.equal(status.bound, true);
    assert.equal(status.journal, null, r.text);
  });
});

describe('origin faults (ORIGIN_TIMEOUT_SECONDS=2)', () => {
  // Closing the origin after the block also releases any /__hang request still held open.
  const ctx = useWorker({ ...BASE_VARS, ORIGIN_TIMEOUT_SECONDS: '2' });
  let token;
  before(async () => {
    token = await mint({ alg: 'ES256' });
  });

  for (const status of [500, 503]) {
    it(`origin ${status} passes through unchanged (status and body)`, async () => {
      const r = await call(ctx.worker.url, `/__status/${status}`, { token });
      assert.equal(r.status, status, r.text);
      assert.equal(r.text, `status ${status}`);
      assert.equal(mediaType(r), 'text/plain');
      assert.equal(ctx.origin.requests.length, 1);
    });
  }

  it('origin resets the connection → 502 problem+json', { timeout: 30_000 }, async () => {
    const r = await call(ctx.worker.url, '/__reset', { token });
    assertProblem(r, 502);
    assert.ok(ctx.origin.requests.length >= 1, 'the request did reach the origin');
    assert.ok(ctx.origin.requests.every((q) => q.url === '/__reset'));
  });

  it('origin resets a POST with a body → 502 problem+json', { timeout: 30_000 }, async () => {
    const r = await call(ctx.worker.url, '/__reset', { method: 'POST', token, body: 'x'.repeat(4096), headers: { 'Content-Type': 'text/plain' } });
    assertProblem(r, 502);
  });

  it('origin never answers → 504 problem+json after ~2 s, well under 10 s', { timeout: 30_000 }, async () => {
    const started = Date.now();
    let r;
    try {
      r = await call(ctx.worker.url, '/__hang', { token });
    } catch (e) {
      assert.fail(`no answer within ${Date.now() - started} ms (expected 504 within 10 s): ${e.name} ${e.message}`);
    }
    assert.ok(r.elapsedMs < 10_000, `took ${r.elapsedMs} ms`);
    assertProblem(r, 504);
    assert.ok(r.elapsedMs >= 1_500, `answered after ${r.elapsedMs} ms: sooner than the 2 s timeout`);
    assert.equal(ctx.origin.requests.length, 1, 'the request reached the origin once');
  });

  it('the worker still serves normally after a timeout', async () => {
    const r = await call(ctx.worker.url, '/hello', { token });
    assert.equal(r.status, 200, r.text);
    assert.equal(ctx.origin.requests.length, 1);
  });
});

// Workers KV's real limits and faults, end to end: the real build under
// `workerd serve`, bound to a KV service that can refuse a second write to a
// key within a second (as production KV does), answer slowly, fail reads for
// one kind of key only, and hold values that are not ours. A revocation that
// answered success is enforced; nothing is ever forwarded when the worker
// cannot decide.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import { startOrigin } from '../../scripts/lib/origin.mjs';
import { startIsolates } from './support/isolates.mjs';
import { call } from './support/http.mjs';
import { mint, now, JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE } from './support/keys.mjs';

// Cutoffs at the edge's own clock: these stories are about KV's limits, and
// mint tokens issued just after a cutoff (tests/e2e/clock-skew.test.mjs
// covers CUTOFF_SKEW_SECONDS).
const VARS = { JWT_SECRET, JWT_JWKS, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, CUTOFF_SKEW_SECONDS: '0' };
/** The store-call bound of the worker (core::stored::STORE_TIMEOUT_MS). */
const STORE_TIMEOUT_MS = 2000;

describe('Workers KV limits and faults (workerd serve)', () => {
  let origin;
  let worker;
  let url;
  const admin = (path, init = {}) =>
    fetch(`${worker.kvAdmin}${path}`, { method: 'POST', ...init, headers: { 'X-Bench-Admin': '1', ...(init.headers ?? {}) } }).then(
      async (r) => {
        assert.ok(r.ok, `KV admin ${path}: ${r.status}`);
        return r.headers.get('content-type')?.includes('json') ? r.json() : null;
      },
    );
  const stats = () => fetch(`${worker.kvAdmin}/stats`, { headers: { 'X-Bench-Admin': '1' } }).then((r) => r.json());
  const signOut = (token, scope = 'local') => call(url, `/api/tokens?scope=${scope}`, { method: 'DELETE', token });

  before(async () => {
    origin = await startOrigin();
    worker = await startIsolates({ vars: VARS, originUrl: origin.url, names: ['a'] });
    url = worker.urls.a;
  });
  after(async () => {
    await worker?.stop();
    await origin?.close();
  });
  beforeEach(async () => {
    await admin('/write-limit?seconds=0');
    await admin('/fail-reads');
    await admin('/delay?ms=0');
    origin.clear();
  });

  describe('KV operations per checked request', () => {
    it('one bulk read covers the token, its subject and its session', async (t) => {
      const tokens = [
        await mint({ alg: 'ES256', claims: { sub: 'ops-a', sid: 'ops-session' } }),
        await mint({ alg: 'HS256', claims: { sub: 'ops-b' } }),
        await mint({ alg: 'RS256', claims: { sub: undefined } }),
      ];
      for (const token of tokens) {
        await fetch(`${worker.kvAdmin}/reset`, { method: 'POST', headers: { 'X-Bench-Admin': '1' } });
        assert.equal((await call(url, '/ops', { token })).status, 200);
        const seen = await stats();
        t.diagnostic(`KV calls seen: ${JSON.stringify({ get: seen.get, bulk: seen.bulk, keys: seen.keys })}`);
        assert.equal(seen.bulk, 1, 'one KV operation');
        assert.equal(seen.get + seen.put + seen.list + seen.delete, 0, 'and nothing else');
      }
    });
  });

  describe('one write per second per key', () => {
    it('two subject-wide sign-outs of one subject within a second both succeed, and both are enforced', async (t) => {
      await admin('/write-limit?seconds=1');
      const sub = `rate-${Date.now()}`;
      const first = await mint({ alg: 'ES256', claims: { sub, iat: now() - 5 } });
      const second = await mint({ alg: 'HS256', claims: { sub, iat: now() - 4 } });
      const root = await mint({ alg: 'RS256', claims: { sub: 'root', roles: ['identity:admin'] } });
      const refusedBefore = (await stats()).refused;
      // The user's scope=others, then an admin's sign-out of the user: the
      // second cutoff differs from the stored one (it drops the exemption),
      // so it must be written, a write the limit refuses. (Two identical
      // cutoffs in one second need one write only; and the user's own second
      // token, revoked by the first sign-out, could not sign out at all.)
      const a = await signOut(first, 'others');
      const b = await call(url, `/api/users/${encodeURIComponent(sub)}/tokens`, { method: 'DELETE', token: root });
      assert.equal(a.status, 204);
      assert.equal(b.status, 204, b.text);
      assert.ok((await stats()).refused > refusedBefore, 'the KV service refused a write');
      assert.ok(b.elapsedMs >= 1000, `the second waited for the key (${b.elapsedMs} ms)`);
      t.diagnostic(`second sign-out answered 204 after ${b.elapsedMs} ms`);
      assert.equal((await call(url, '/x', { token: first })).status, 401);
      assert.equal((await call(url, '/x', { token: second })).status, 401);
      assert.equal(origin.requests.length, 0);
    });

    it('signing one token out twice within a second answers 204 twice', async () => {
      await admin('/write-limit?seconds=1');
      const token = await mint({ alg: 'RS256' });
      assert.equal((await signOut(token)).status, 204);
      assert.equal((await signOut(token)).status, 204);
      assert.equal((await call(url, '/x', { token })).status, 401);
    });

    it('a cutoff that could not be stored is 503 with Retry-After, never a success', async (t) => {
      // Every second write to a key within 30 s is refused: longer than the retries last.
      await admin('/write-limit?seconds=30');
      const sub = `refused-${Date.now()}`;
      const first = await mint({ alg: 'ES256', claims: { sub, iat: now() - 5 } });
      assert.equal((await signOut(first, 'global')).status, 204);
      const later = await mint({ alg: 'ES256', claims: { sub, iat: now() + 2 } });
      assert.equal((await call(url, '/x', { token: later })).status, 200, 'issued after the first cutoff');
      // A second later the new cutoff is later than the stored one, so it must be written
      // (a sign-out whose cutoff is already in force writes nothing and answers 204).
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const refusedBefore = (await stats()).refused;
      const r = await signOut(later, 'global');
      t.diagnostic(`refused cutoff write: ${r.status} in ${r.elapsedMs} ms`);
      assert.equal(r.status, 503, r.text);
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
      assert.ok(r.elapsedMs >= 3500 && r.elapsedMs < 12_000, `retried for about 3.6 s (${r.elapsedMs} ms)`);
      assert.equal((await stats()).refused - refusedBefore, 4, 'one try and three retries, all refused');
      assert.equal((await call(url, '/x', { token: first })).status, 401, 'the stored cutoff still stands');
    });
  });

  describe('slow KV', () => {
    for (const ms of [50, 500]) {
      it(`${ms} ms per KV call: the request passes, ${ms} ms or more later`, async (t) => {
        const token = await mint({ alg: 'ES256' });
        await admin(`/delay?ms=${ms}`);
        const r = await call(url, '/slow', { token });
        t.diagnostic(`${ms} ms KV latency: ${r.status} in ${r.elapsedMs} ms`);
        assert.equal(r.status, 200);
        assert.ok(r.elapsedMs >= ms, `${r.elapsedMs} ms`);
        assert.equal(origin.requests.length, 1);
      });
    }

    it('5 s per KV call: 503 with Retry-After at the 2 s bound, nothing forwarded', async (t) => {
      const token = await mint({ alg: 'ES256' });
      await admin('/delay?ms=5000');
      const r = await call(url, '/slow', { token });
      t.diagnostic(`5000 ms KV latency: ${r.status} in ${r.elapsedMs} ms`);
      assert.equal(r.status, 503);
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
      assert.ok(r.elapsedMs >= STORE_TIMEOUT_MS - 100 && r.elapsedMs < 4500, `${r.elapsedMs} ms`);
      assert.equal(origin.requests.length, 0);
      // A sign-out whose write is that slow is not answered as a success either.
      const s = await signOut(token);
      t.diagnostic(`5000 ms KV latency, sign-out: ${s.status} in ${s.elapsedMs} ms`);
      assert.equal(s.status, 503);
    });
  });

  describe('one lookup failing, the other not', () => {
    for (const prefix of ['subject:', 'revoked:']) {
      it(`reads of ${prefix} keys fail: 503, nothing forwarded; then recovery`, async () => {
        const token = await mint({ alg: 'HS256' });
        await admin(`/fail-reads?prefix=${prefix}`);
        const r = await call(url, '/partial', { token });
        assert.equal(r.status, 503);
        assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
        assert.equal(origin.requests.length, 0);
        await admin('/fail-reads');
        assert.equal((await call(url, '/partial', { token })).status, 200);
      });
    }
  });

  describe('values that are not ours', () => {
    const values = {
      garbage: 'not json at all \u0000\u00ff',
      truncated: '{"jti":"x","revoked_at":17',
      empty: '',
      '25 MiB': 'x'.repeat(25 * 1024 * 1024),
    };
    for (const [name, value] of Object.entries(values)) {
      it(`${name} under revoked:<jti> counts as revoked`, async () => {
        const jti = `foreign-${name.replace(/\W/g, '')}-${Date.now()}`;
        const token = await mint({ alg: 'ES256', claims: { jti } });
        await admin(`/raw/${encodeURIComponent(`revoked:${jti}`)}`, { method: 'PUT', body: value });
        const r = await call(url, '/foreign', { token });
        assert.equal(r.status, 401);
        assert.match(r.headers.get('www-authenticate') ?? '', /token revoked/);
        // The worker is alive and unharmed: another token passes.
        assert.equal((await call(url, '/foreign', { token: await mint({ alg: 'ES256' }) })).status, 200);
        assert.equal(origin.requests.length, 1);
      });

      it(`${name} under subject:<sub> revokes every token of that subject`, async () => {
        const sub = `foreign-sub-${name.replace(/\W/g, '')}-${Date.now()}`;
        const token = await mint({ alg: 'HS256', claims: { sub, iat: now() + 10 } });
        await admin(`/raw/${encodeURIComponent(`subject:${sub}`)}`, { method: 'PUT', body: value });
        const r = await call(url, '/foreign', { token });
        assert.equal(r.status, 401);
        assert.match(r.headers.get('www-authenticate') ?? '', /token revoked/);
        assert.equal((await call(url, '/foreign', { token: await mint({ alg: 'HS256' }) })).status, 200);
        assert.equal(origin.requests.length, 1);
      });
    }
  });
});

// Sign-out everywhere against an identity provider whose clock is not the
// edge's. The worker runs with JWT_LEEWAY_SECONDS=6 and the default
// CUTOFF_SKEW_SECONDS (the leeway): a token whose iat is up to 6 s ahead is
// accepted, and a sign-out made at the edge reaches 6 s ahead. Tokens issued
// ahead, behind and at the edge's clock before a sign-out are all rejected
// after it; a user who signs in again gets a working token within the
// documented bound (CUTOFF_SKEW_SECONDS + 1 s for a provider on time). Each
// cutoff route: scope=global, scope=session, the admin's sign-out of a user,
// and a back-channel logout (whose iat is the provider's own clock).
// Run: node --test --test-concurrency=1 tests/e2e/clock-skew.test.mjs
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { buildWorkerOnce } from './support/worker.mjs';
import { mint, mintLogout, now, JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE, LOGOUT_AUDIENCE } from './support/keys.mjs';
import { call } from './support/http.mjs';
import { useWorker } from './support/setup.mjs';

buildWorkerOnce();

const LEEWAY = 6;
const VARS = {
  JWT_SECRET, JWT_JWKS, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE,
  JWT_LEEWAY_SECONDS: String(LEEWAY),
  BACKCHANNEL_LOGOUT_AUDIENCE: LOGOUT_AUDIENCE,
};
const T = { timeout: 60_000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const uniq = (p) => `${p}-${randomBytes(4).toString('hex')}`;
/** Where the provider's clock stands against the edge's, in seconds. */
const OFFSETS = { ahead: 5, exact: 0, behind: -5 };

const access = (claims) => mint({ alg: 'ES256', claims: { exp: now() + 900, ...claims } });
const admin = () => mint({ alg: 'RS256', claims: { sub: 'root', roles: ['identity:admin'] } });

function assertRevoked(r, what) {
  assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
  assert.match(r.headers.get('www-authenticate') ?? '', /error_description="token revoked"/, what);
}

describe('clock skew: sign-outs everywhere and a provider whose clock is off', () => {
  const ctx = useWorker(VARS);
  const get = (token) => call(ctx.base, '/hello', { token });

  /** Each cutoff route, made now for `sub` (session `sid`) by `caller` or an admin. */
  const ROUTES = {
    'scope=global': async ({ caller }) => call(ctx.base, '/api/tokens?scope=global', { method: 'DELETE', token: caller }),
    'scope=session': async ({ caller }) => call(ctx.base, '/api/tokens?scope=session', { method: 'DELETE', token: caller }),
    'DELETE /api/users/{sub}/tokens': async ({ sub }) => call(ctx.base, `/api/users/${encodeURIComponent(sub)}/tokens`, { method: 'DELETE', token: await admin() }),
  };

  for (const [route, signOut] of Object.entries(ROUTES)) {
    it(`${route}: tokens issued before it, ahead, behind or exact, are all rejected after it`, T, async () => {
      const sub = uniq('skew');
      const sid = uniq('sid');
      const caller = await access({ sub, sid, iat: now() - 20 });
      const before = {};
      for (const [name, offset] of Object.entries(OFFSETS)) before[name] = await access({ sub, sid, iat: now() + offset });
      for (const [name, token] of Object.entries(before)) assert.equal((await get(token)).status, 200, `${name} passes first`);
      await sleep(1100);
      const r = await signOut({ caller, sub, sid });
      assert.equal(r.status, 204, r.text);
      ctx.origin.clear();
      for (const [name, token] of Object.entries(before)) assertRevoked(await get(token), `issued ${name} before the sign-out`);
      assert.equal(ctx.origin.requests.length, 0);
    });
  }

  for (const route of ['scope=global', 'DELETE /api/users/{sub}/tokens']) {
    it(`${route}: a user who signs in again gets a working token within CUTOFF_SKEW_SECONDS + 1 s`, T, async (t) => {
      const sub = uniq('relogin');
      const caller = await access({ sub, iat: now() - 20 });
      const signedOutAt = Date.now();
      const r = await ROUTES[route]({ caller, sub });
      assert.equal(r.status, 204, r.text);
      // The provider, on time, issues a token every 500 ms: the first to pass
      // is the first issued after the cutoff.
      let passedAfterMs = null;
      while (Date.now() - signedOutAt < (LEEWAY + 4) * 1000) {
        const fresh = await access({ sub, iat: now() });
        if ((await get(fresh)).status === 200) {
          passedAfterMs = Date.now() - signedOutAt;
          break;
        }
        await sleep(500);
      }
      t.diagnostic(`${route}: a new sign-in worked ${passedAfterMs} ms after the sign-out`);
      assert.ok(passedAfterMs !== null, 'a new sign-in works at last');
      assert.ok(passedAfterMs >= (LEEWAY - 1) * 1000, `not before the cutoff (${passedAfterMs} ms)`);
      assert.ok(passedAfterMs <= (LEEWAY + 2) * 1000, `within the bound (${passedAfterMs} ms)`);
    });
  }

  it('scope=session: a new sign-in (a new session) works at once', T, async () => {
    const sub = uniq('session');
    const caller = await access({ sub, sid: uniq('old'), iat: now() - 20 });
    assert.equal((await ROUTES['scope=session']({ caller })).status, 204);
    assert.equal((await get(await access({ sub, sid: uniq('new'), iat: now() }))).status, 200);
  });

  it("a back-channel logout is in the provider's own clock: tokens before it go, tokens after it pass at once", T, async () => {
    for (const [name, offset] of Object.entries(OFFSETS)) {
      const sub = uniq(`logout-${name}`);
      const idpNow = now() + offset;
      const before = await access({ sub, iat: idpNow - 1 });
      assert.equal((await get(before)).status, 200);
      const token = await mintLogout({ claims: { sub, sid: undefined, iat: idpNow, exp: idpNow + 120 } });
      const r = await call(ctx.base, '/oidc/backchannel-logout', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }).toString() });
      assert.equal(r.status, 200, `${name}: ${r.text}`);
      assertRevoked(await get(before), `provider ${name}: issued before the logout`);
      const after = await access({ sub, iat: idpNow + 1 });
      assert.equal((await get(after)).status, 200, `provider ${name}: issued after the logout passes at once`);
    }
  });
});

// Revocation edges found by an adversarial pass, end to end against the real
// build under `wrangler dev` with local KV (which drops an entry at its
// expiration): preflights that carry a token, a CAEP event whose subject
// names a session and a user the worker cannot map, a logout token with an
// audience the worker does not trust, Okta's dotted token IDs, and the
// expiry of revocations against the leeway, second by second.
// Run: node --test --test-concurrency=1 tests/e2e/edges.test.mjs
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { buildWorkerOnce } from './support/worker.mjs';
import {
  mint, mintLogout, mintSet, now, JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE,
  LOGOUT_AUDIENCE, LOGOUT_CLIENT, SSF_ISSUER, SSF_AUDIENCE, SSF_JWKS, EVENTS,
} from './support/keys.mjs';
import { call, rawCall } from './support/http.mjs';
import { useWorker } from './support/setup.mjs';
import { logLines, waitForLines } from './support/logs.mjs';

buildWorkerOnce();

const API_KEY = 'edges-api-key';
const VARS = {
  JWT_SECRET, JWT_JWKS, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE,
  BACKCHANNEL_LOGOUT_AUDIENCE: LOGOUT_AUDIENCE, SSF_ISSUER, SSF_AUDIENCE, SSF_JWKS,
  INVALIDATE_API_KEYS: API_KEY, CUTOFF_SKEW_SECONDS: '0',
};
const T = { timeout: 60_000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const uniq = (p) => `${p}-${randomBytes(4).toString('hex')}`;
const access = (claims) => mint({ alg: 'ES256', claims: { exp: now() + 900, ...claims } });
const admin = () => mint({ alg: 'RS256', claims: { sub: 'root', roles: ['identity:admin'] } });

function assertRevoked(r, what) {
  assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
  assert.match(r.headers.get('www-authenticate') ?? '', /error_description="token revoked"/, what);
}

describe('revocation edges (wrangler dev)', () => {
  const ctx = useWorker(VARS, { logLevel: 'log' });
  const get = (token) => call(ctx.base, '/hello', { token });

  it('a "preflight" that carries a revoked token is 401, through either header; a valid one passes', T, async () => {
    const revoked = await access({ sub: uniq('pre') });
    const valid = await access({ sub: uniq('pre') });
    assert.equal((await call(ctx.base, '/api/tokens', { method: 'DELETE', token: revoked })).status, 204);
    const preflight = (headers) => rawCall(ctx.base, '/v1/orders/42', { method: 'OPTIONS', headers: [['Access-Control-Request-Method', 'DELETE'], ['Origin', 'https://app.test'], ...headers] });
    for (const header of [['Authorization', `Bearer ${revoked}`], ['X-Auth-Token', revoked]]) {
      ctx.origin.clear();
      const r = await preflight([header]);
      assert.equal(r.status, 401, `${header[0]}: ${r.status} ${r.text}`);
      assert.equal(ctx.origin.requests.length, 0, `${header[0]}: nothing forwarded`);
    }
    ctx.origin.clear();
    assert.equal((await preflight([['Authorization', `Bearer ${valid}`]])).status, 200);
    assert.equal((await preflight([])).status, 200, 'a browser preflight, no credentials');
    assert.equal(ctx.origin.requests.length, 2);
  });

  it('CAEP session-revoked with a complex subject whose user is an email: the session is ended, and the log says the user part was ignored', T, async () => {
    const sid = uniq('sess');
    const sessionToken = await access({ sub: 'carol', sid, iat: now() - 5 });
    const otherSession = await access({ sub: 'carol', sid: uniq('sess'), iat: now() - 5 });
    assert.equal((await get(sessionToken)).status, 200);
    const subject = { format: 'complex', user: { format: 'email', email: 'carol@example.com' }, session: { format: 'opaque', id: sid } };
    const set = await mintSet({ claims: { sub_id: subject, events: { [EVENTS.sessionRevoked]: { event_timestamp: now() } } } });
    const r = await call(ctx.base, '/ssf/events', { method: 'POST', headers: { 'Content-Type': 'application/secevent+jwt' }, body: set });
    assert.equal(r.status, 202, r.text);
    assertRevoked(await get(sessionToken), "the session's token");
    assert.equal((await get(otherSession)).status, 200, "the user's other session is untouched");
    const lines = await waitForLines(ctx.worker, (l) => l.sid === sid && l.decision === 'revoke');
    assert.equal(lines[0].note, 'user part ignored: unsupported subject format', JSON.stringify(lines[0]));
  });

  it('a logout token with an audience the worker does not trust is refused (400), and signs nobody out', T, async () => {
    const sub = uniq('aud');
    const sid = uniq('sess');
    const token = await access({ sub, sid, iat: now() - 5 });
    const lt = await mintLogout({ claims: { sub, sid, aud: [LOGOUT_CLIENT, 'https://other-rp.example'] } });
    const r = await call(ctx.base, '/oidc/backchannel-logout', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: lt }).toString() });
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(JSON.parse(r.text), { error: 'invalid_request', error_description: 'audience not accepted' });
    assert.equal((await get(token)).status, 200, 'still signed in');
    // Every audience ours: accepted.
    const both = await mintLogout({ claims: { sub, sid, aud: LOGOUT_AUDIENCE.split(',') } });
    const ok = await call(ctx.base, '/oidc/backchannel-logout', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: both }).toString() });
    assert.equal(ok.status, 200, ok.text);
    assertRevoked(await get(token), 'after a logout for our audiences only');
  });

  it("Okta's access-token IDs (AT.…) are invalidated by reference; a JWT cut short is refused", T, async () => {
    const jti = `AT.${randomBytes(32).toString('base64url')}`;
    const token = await access({ sub: 'oz', jti });
    assert.equal((await get(token)).status, 200);
    const r = await call(ctx.base, '/token-service/client/server/invalidate/token', { method: 'POST', headers: { 'X-API-KEY': API_KEY, 'Content-Type': 'application/json' }, body: JSON.stringify({ tokenReferenceId: jti }) });
    assert.equal(r.status, 200, r.text);
    assertRevoked(await get(token), 'the Okta-shaped jti');
    const other = `AT.${randomBytes(16).toString('base64url')}`;
    const byAdmin = await call(ctx.base, `/v2.0/tokens/${other}`, { method: 'DELETE', token: await admin() });
    assert.equal(byAdmin.status, 204, byAdmin.text);
    const whole = await access({ sub: 'oz' });
    const cut = whole.slice(0, whole.lastIndexOf('.'));
    for (const reference of [cut, `${cut}.`]) {
      const refused = await call(ctx.base, '/token-service/client/server/invalidate/token', { method: 'POST', headers: { 'X-API-KEY': API_KEY, 'Content-Type': 'application/json' }, body: JSON.stringify({ tokenReferenceId: reference }) });
      assert.equal(refused.status, 404, refused.text);
    }
  });
});

describe('expiry against the leeway, second by second (wrangler dev)', () => {
  // Tokens live a minute; the leeway is 2 s. KV's own floor (an expiration
  // at least 60 s ahead) hides nothing here: each revocation below would end
  // within the token's acceptance if the leeway were left out.
  const LEEWAY = 2;
  const ctx = useWorker({ ...VARS, JWT_LEEWAY_SECONDS: String(LEEWAY), MAX_TOKEN_LIFETIME_SECONDS: '60' });
  const get = (token) => call(ctx.base, '/hello', { token });

  it('a signed-out token is never accepted again: not past a cutoff or bare-ID expiry, not in its last second', { timeout: 120_000 }, async (t) => {
    const t0 = now();
    const exp = t0 + 60;
    const signedOut = await access({ sub: uniq('own'), jti: uniq('own'), iat: t0, exp });
    const subjectSub = uniq('everywhere');
    const everywhere = await access({ sub: subjectSub, iat: t0, exp });
    const bareJti = uniq('bare');
    const bare = await access({ sub: uniq('bare'), jti: bareJti, iat: t0, exp });
    for (const token of [signedOut, everywhere, bare]) assert.equal((await get(token)).status, 200);
    // Its own sign-out (exp known), a sign-out everywhere of its subject (a
    // cutoff), and a service invalidation by its jti alone (a bare ID).
    assert.equal((await call(ctx.base, '/api/tokens', { method: 'DELETE', token: signedOut })).status, 204);
    const other = await access({ sub: subjectSub, iat: t0 - 1 });
    assert.equal((await call(ctx.base, '/api/tokens?scope=global', { method: 'DELETE', token: other })).status, 204);
    const inv = await call(ctx.base, '/token-service/client/server/invalidate/token', { method: 'POST', headers: { 'X-API-KEY': API_KEY, 'Content-Type': 'application/json' }, body: JSON.stringify({ tokenReferenceId: bareJti }) });
    assert.equal(inv.status, 200, inv.text);
    const tokens = { 'its own sign-out': signedOut, 'a sign-out everywhere': everywhere, 'a bare-ID invalidation': bare };
    // Sleep until shortly before the minute ends, then ask every 250 ms until
    // every token is past exp + leeway.
    await sleep(Math.max(0, (exp - 3 - now()) * 1000));
    const seen = {};
    while (now() <= exp + LEEWAY + 2) {
      for (const [what, token] of Object.entries(tokens)) {
        const r = await get(token);
        const second = now() - exp;
        assert.equal(r.status, 401, `${what}: accepted at exp ${second >= 0 ? '+' : ''}${second} s: ${r.text}`);
        const reason = /error_description="([^"]+)"/.exec(r.headers.get('www-authenticate') ?? '')?.[1];
        (seen[what] ??= new Set()).add(`exp${second >= 0 ? '+' : ''}${second}: ${reason}`);
      }
      await sleep(250);
    }
    t.diagnostic(JSON.stringify(Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, [...v]]))));
    assert.equal(ctx.origin.requests.filter((q) => q.url === '/hello').length, 3, 'only the three first requests were forwarded');
  });
});

// A revoked token can change nothing, and nothing makes it pass again: every
// route that acts for the caller's token checks revocation first. Each way of
// signing a user out is followed, a second later, by the revoked token asking
// to sign out "everyone else" (scope=others), which used to exempt it again;
// a token revoked by its ID tries every scope. Under `wrangler dev` with local
// KV, and with two isolates of the real build sharing one KV namespace.
// Run: node --test --test-concurrency=1 tests/e2e/revoked-callers.test.mjs
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { startOrigin } from '../../scripts/lib/origin.mjs';
import { buildWorkerOnce } from './support/worker.mjs';
import { startIsolates } from './support/isolates.mjs';
import {
  mint, mintLogout, mintSet, issSub, now, JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE,
  LOGOUT_AUDIENCE, SSF_ISSUER, SSF_AUDIENCE, SSF_JWKS, EVENTS,
} from './support/keys.mjs';
import { call } from './support/http.mjs';
import { useWorker } from './support/setup.mjs';

buildWorkerOnce();

// Cutoffs at the edge's own clock (CUTOFF_SKEW_SECONDS=0): these stories are
// about which token may change what, and mint a user's newer token right
// after a sign-out (tests/e2e/clock-skew.test.mjs covers the skew).
const BASE_VARS = { JWT_SECRET, JWT_JWKS, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, CUTOFF_SKEW_SECONDS: '0' };
const RECEIVER_VARS = { ...BASE_VARS, BACKCHANNEL_LOGOUT_AUDIENCE: LOGOUT_AUDIENCE, SSF_ISSUER, SSF_AUDIENCE, SSF_JWKS };
const T = { timeout: 60_000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const uniq = (p) => `${p}-${randomBytes(4).toString('hex')}`;

const access = (claims) => mint({ alg: 'ES256', claims: { exp: now() + 900, ...claims } });
const admin = () => mint({ alg: 'RS256', claims: { sub: 'root', roles: ['identity:admin'] } });
/** `DELETE path` with `token` as `Authorization: Bearer` or in `X-Auth-Token`. */
const del = (base, path, token, header = 'authorization') =>
  call(base, path, { method: 'DELETE', headers: header === 'authorization' ? { Authorization: `Bearer ${token}` } : { 'X-Auth-Token': token } });

function assertRevoked(r, what) {
  assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
  assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token", error_description="token revoked"/, what);
}

/** Every way a whole subject is signed out, through the worker at `base`. */
const SUBJECT_REVOCATIONS = {
  'sign-out everywhere from another token': async (base, sub) =>
    (await del(base, '/api/tokens?scope=global', await access({ sub, iat: now() - 1 }))).status,
  "an admin's DELETE /api/users/{sub}/tokens": async (base, sub) =>
    (await del(base, `/api/users/${encodeURIComponent(sub)}/tokens`, await admin())).status,
  'a back-channel logout naming only the user': async (base, sub) => {
    const token = await mintLogout({ claims: { sub, sid: undefined } });
    const body = new URLSearchParams({ logout_token: token }).toString();
    return (await call(base, '/oidc/backchannel-logout', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body })).status;
  },
  'a RISC account-disabled event': async (base, sub) => {
    const set = await mintSet({ claims: { sub_id: issSub(sub), events: { [EVENTS.accountDisabled]: { event_timestamp: now() } } } });
    return (await call(base, '/ssf/events', { method: 'POST', headers: { 'Content-Type': 'application/secevent+jwt' }, body: set })).status;
  },
};

describe('revoked callers change nothing (wrangler dev)', () => {
  const ctx = useWorker(RECEIVER_VARS);
  const get = (token) => call(ctx.base, '/hello', { token });
  const cutoffOf = async (sub) => {
    const r = await call(ctx.base, `/api/cutoffs?kind=subject&limit=1000`, { token: await admin() });
    assert.equal(r.status, 200, r.text);
    return JSON.parse(r.text).items.find((item) => item.sub === sub);
  };

  for (const [how, revoke] of Object.entries(SUBJECT_REVOCATIONS)) {
    it(`after ${how}, scope=others from the revoked token is 401 and it stays revoked`, T, async () => {
      const sub = uniq('vic');
      const stolen = await access({ sub, iat: now() - 10 });
      assert.equal((await get(stolen)).status, 200);
      ctx.origin.clear();
      const answer = await revoke(ctx.base, sub);
      assert.ok([200, 202, 204].includes(answer), `${how} answered ${answer}`);
      assertRevoked(await get(stolen), 'revoked');
      const stored = await cutoffOf(sub);
      assert.ok(stored, 'a subject cutoff is stored');

      await sleep(1100);
      for (const header of ['authorization', 'x-auth-token']) {
        assertRevoked(await del(ctx.base, '/api/tokens?scope=others', stolen, header), `scope=others by the revoked token (${header})`);
      }
      assert.deepEqual(await cutoffOf(sub), stored, 'the stored cutoff is unchanged');
      for (let i = 0; i < 3; i++) assertRevoked(await get(stolen), `still revoked (try ${i})`);
      assert.equal(ctx.origin.requests.length, 0, 'nothing reached the origin');
    });
  }

  for (const header of ['authorization', 'x-auth-token']) {
    it(`a token revoked by its ID: every wider scope is 401, a retried sign-out 204, and newer tokens pass (${header})`, T, async () => {
      const sub = uniq('vic');
      const sid = uniq('sid');
      const stolen = await access({ sub, sid, iat: now() - 10 });
      assert.equal((await del(ctx.base, '/api/tokens', stolen, header)).status, 204);
      assertRevoked(await get(stolen), 'signed out');
      await sleep(1100);
      const newer = await access({ sub, sid, iat: now() });
      for (const scope of ['global', 'others', 'session']) {
        assertRevoked(await del(ctx.base, `/api/tokens?scope=${scope}`, stolen, header), `scope=${scope}`);
      }
      for (const path of ['/api/tokens', '/api/tokens?scope=local', '/v2.0/tokens']) {
        const r = await del(ctx.base, path, stolen, header);
        assert.equal(r.status, 204, `${path}: a retried sign-out changes nothing: ${r.text}`);
      }
      assert.equal(await cutoffOf(sub), undefined, 'no subject cutoff was written');
      assert.equal((await get(newer)).status, 200, "the user's newer token passes");
      assertRevoked(await get(stolen), 'still revoked');
    });
  }

  it('a token revoked with its session cannot sign the session out again', T, async () => {
    const sub = uniq('vic');
    const sid = uniq('sid');
    const stolen = await access({ sub, sid, iat: now() - 10 });
    assert.equal((await del(ctx.base, '/api/tokens?scope=session', stolen)).status, 204);
    await sleep(1100);
    const newer = await access({ sub, sid, iat: now() });
    assertRevoked(await del(ctx.base, '/api/tokens?scope=session', stolen), 'scope=session again');
    assert.equal((await get(newer)).status, 200, "the session's newer token passes");
  });
});

describe("a later scope=others never cancels the identity provider's earlier sign-out (wrangler dev)", () => {
  const CLIENT = { id: 'app-1', secret: 'app-1-secret' };
  const ctx = useWorker({ ...RECEIVER_VARS, OAUTH_CLIENTS: `${CLIENT.id}:${CLIENT.secret}` });
  const basic = `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`;
  const introspect = async (token) => {
    const r = await call(ctx.base, '/oauth/introspect', { method: 'POST', headers: { Authorization: basic, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }).toString() });
    assert.equal(r.status, 200, r.text);
    return JSON.parse(r.text).active;
  };
  /** The identity provider's sign-outs of `sub`, stamped `at` (before they arrive). */
  const EARLIER = {
    'a back-channel logout naming only the user (its iat)': async (sub, at) => {
      const token = await mintLogout({ claims: { sub, sid: undefined, iat: at } });
      const body = new URLSearchParams({ logout_token: token }).toString();
      return (await call(ctx.base, '/oidc/backchannel-logout', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body })).status;
    },
    'a RISC account-disabled event (its event_timestamp)': async (sub, at) => {
      const set = await mintSet({ claims: { sub_id: issSub(sub), events: { [EVENTS.accountDisabled]: { event_timestamp: at } } } });
      return (await call(ctx.base, '/ssf/events', { method: 'POST', headers: { 'Content-Type': 'application/secevent+jwt' }, body: set })).status;
    },
    'a CAEP credential-change event (the SET iat)': async (sub, at) => {
      const set = await mintSet({ claims: { iat: at, sub_id: issSub(sub), events: { [EVENTS.credentialChange]: { credential_type: 'password' } } } });
      return (await call(ctx.base, '/ssf/events', { method: 'POST', headers: { 'Content-Type': 'application/secevent+jwt' }, body: set })).status;
    },
  };

  for (const [how, signOut] of Object.entries(EARLIER)) {
    it(`scope=others at t, then ${how} stamped t-2: the exempted token is revoked`, T, async () => {
      const sub = uniq('victim');
      const kept = await access({ sub, iat: now() - 10 });
      const t = now();
      assert.equal((await del(ctx.base, '/api/tokens?scope=others', kept)).status, 204);
      assert.equal((await call(ctx.base, '/hello', { token: kept })).status, 200, 'exempt for now');
      assert.equal(await introspect(kept), true);
      await sleep(1100);
      const answer = await signOut(sub, t - 2);
      assert.ok([200, 202].includes(answer), `${how} answered ${answer}`);
      ctx.origin.clear();
      assertRevoked(await call(ctx.base, '/hello', { token: kept }), 'the exempted token after the earlier sign-out');
      assert.equal(await introspect(kept), false, 'introspection agrees');
      assert.equal(ctx.origin.requests.length, 0);
      const listed = await call(ctx.base, '/api/cutoffs?kind=subject&limit=1000', { token: await admin() });
      const item = JSON.parse(listed.text).items.find((i) => i.sub === sub);
      assert.ok(item.cutoff >= t - 2, `the listing shows the sign-out: ${JSON.stringify(item)}`);
      assert.equal(item.others, undefined, `no exemption is left: ${JSON.stringify(item)}`);
    });
  }
});

describe('revoked callers change nothing (two isolates, one KV namespace)', () => {
  let origin;
  let isolates;
  before(async () => {
    origin = await startOrigin();
    isolates = await startIsolates({ vars: BASE_VARS, originUrl: origin.url });
  }, { timeout: 60_000 });
  after(async () => {
    await isolates?.stop();
    await origin?.close();
  });
  beforeEach(() => origin.clear());

  for (const how of ['sign-out everywhere from another token', "an admin's DELETE /api/users/{sub}/tokens"]) {
    it(`${how} through A; scope=others from the revoked token through B is 401`, T, async () => {
      const { a, b } = isolates.urls;
      const sub = uniq('vic');
      const stolen = await access({ sub, iat: now() - 10 });
      // Both isolates have the token in their caches.
      for (const url of [a, b]) assert.equal((await call(url, '/x', { token: stolen })).status, 200);
      const answer = await SUBJECT_REVOCATIONS[how](a, sub);
      assert.equal(answer, 204);
      await sleep(1100);
      assertRevoked(await del(b, '/api/tokens?scope=others', stolen), 'scope=others through B');
      origin.clear();
      for (const url of [a, b]) assertRevoked(await call(url, '/x', { token: stolen }), `still revoked at ${url === a ? 'A' : 'B'}`);
      assert.equal(origin.requests.length, 0);
    });
  }

  it('a token revoked by its ID through A cannot sign its user out through B', T, async () => {
    const { a, b } = isolates.urls;
    const sub = uniq('vic');
    const stolen = await access({ sub, iat: now() - 10 });
    assert.equal((await del(a, '/api/tokens', stolen)).status, 204);
    await sleep(1100);
    const newer = await access({ sub, iat: now() });
    for (const scope of ['global', 'others']) assertRevoked(await del(b, `/api/tokens?scope=${scope}`, stolen), `scope=${scope} through B`);
    for (const url of [a, b]) assert.equal((await call(url, '/x', { token: newer })).status, 200);
  });
});

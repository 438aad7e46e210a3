// End-to-end tests of session-wide revocation and its companions: sign out
// everywhere (DELETE /api/tokens?scope=), admin sign-out of a subject, RFC 7009
// revocation and RFC 7662 introspection, the revocation list and restore,
// remote key sets (JWT_JWKS_URL), claim forwarding, monitor mode, CORS
// preflight and the structured log. The built worker runs under `wrangler dev`
// with local KV in front of a recording stub origin.
// Run: node --test --test-concurrency=1 tests/e2e/sessions.test.mjs
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';

import { startOrigin } from '../../scripts/lib/origin.mjs';
import { startWorker, buildWorkerOnce, kvList, wranglerEnv, KV_BINDING, ROOT } from './support/worker.mjs';
import { mint, now, JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE } from './support/keys.mjs';
import { startJwksServer, rsaKey, jwksOf } from './support/jwks.mjs';
import { call } from './support/http.mjs';
import { useWorker } from './support/setup.mjs';
import { logLines, waitForLines } from './support/logs.mjs';

buildWorkerOnce();

const WRANGLER = path.join(ROOT, 'node_modules', '.bin', 'wrangler');
const BASE_VARS = { JWT_SECRET, JWT_JWKS, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE };
/** CUTOFF_SKEW_SECONDS: by default the leeway, 60 s. */
const SKEW = 60;
const START = { timeout: 90_000 };
const T = { timeout: 30_000 };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const uniq = (p) => `${p}-${randomBytes(4).toString('hex')}`;
const payloadOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));

const jsonOf = (r) => {
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, `content-type of ${r.status} ${r.text}`);
  return JSON.parse(r.text);
};

function assertRevoked(r, what) {
  assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
  assert.match(r.headers.get('www-authenticate') ?? '', /error_description="token revoked"/, what);
}

/** The value stored under `key` in the worker's local KV, as text (null when absent). */
function kvGet(worker, key) {
  const args = ['kv', 'key', 'get', key, '--binding', KV_BINDING, '--local', '--persist-to', worker.persistDir, '-c', worker.configPath, '--text'];
  return new Promise((resolve, reject) => {
    execFile(WRANGLER, args, { cwd: worker.dir, env: wranglerEnv(), timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stdout}\n${stderr}`));
      const out = stdout.trim();
      resolve(out === '' || /^Value not found/i.test(out) ? null : out);
    });
  });
}

/** A mint() that keeps every token it makes in `used`: none may appear in a worker's log. */
function trackedMint() {
  const used = new Set();
  const tok = async (o = {}) => {
    const t = await mint(o);
    used.add(t);
    return t;
  };
  return { used, tok };
}


/** application/x-www-form-urlencoded encoding of one value (RFC 6749 §2.3.1 / Appendix B). */
const formEncode = (s) => new URLSearchParams({ x: s }).toString().slice(2);
const basic = (id, secret) => `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`, 'utf8').toString('base64')}`;
const form = (fields) => new URLSearchParams(fields).toString();
const FORM = 'application/x-www-form-urlencoded';

// ---------------------------------------------------------------------------

describe('sessions: sign-out scopes, admin sign-out, OAuth, claim headers, preflight, logs', () => {
  const APP = { id: 'app-1', secret: 's3cret-app-1' };
  // An ID and secret that need form-encoding (space, @, /, :, &, =).
  const ODD = { id: 'my client', secret: 'p@ss w/ord:x&y=z+1' };
  const VARS = {
    ...BASE_VARS,
    OAUTH_CLIENTS: `${APP.id}:${APP.secret},${ODD.id}:${ODD.secret}`,
    FORWARD_CLAIMS: 'sub:X-User-Id,email:X-User-Email',
  };
  const ctx = useWorker(VARS, { logLevel: 'log' });
  /** Every token sent to this worker: none may appear in its log. */
  const { used, tok } = trackedMint();
  const get = (token, p = '/hello', headers = {}) => call(ctx.worker.url, p, { token, headers });
  const signOut = (token, scope) =>
    call(ctx.worker.url, scope === undefined ? '/api/tokens' : `/api/tokens?scope=${scope}`, { method: 'DELETE', token });
  const oauth = (route, fields, auth = basic(APP.id, APP.secret)) =>
    call(ctx.worker.url, route, {
      method: 'POST',
      headers: { 'Content-Type': FORM, ...(auth ? { Authorization: auth } : {}) },
      body: form(fields),
    });
  const admin = () => tok({ claims: { sub: 'root-admin', roles: ['identity:admin'] } });

  // Shared between tests (filled in by earlier ones, in file order).
  const shared = {};
  /** Token IDs this worker must hold as `revoked:<id>`, and nothing else. */
  const revokedIds = new Set();
  /** sub → { value: expected cutoff record (cutoff checked by range), lo, hi } for `subject:<sub>`. */
  const subjects = new Map();


  it('scope=local (the default) revokes only the calling token', T, async () => {
    const sub = uniq('lou');
    const jti = uniq('local');
    const caller = await tok({ claims: { sub, jti } });
    const sibling = await tok({ claims: { sub, iat: now() - 30 } });
    assert.equal((await get(caller)).status, 200);

    const r = await signOut(caller, 'local');
    assert.equal(r.status, 204, r.text);
    assertRevoked(await get(caller), 'caller after scope=local');
    assertRevoked(await call(ctx.worker.url, '/hello', { headers: { 'X-Auth-Token': caller } }), 'caller via X-Auth-Token');
    assert.equal((await get(sibling)).status, 200, 'a sibling of the same subject is untouched');

    // No ?scope at all is local too.
    const other = await tok({ claims: { sub } });
    assert.equal((await signOut(other)).status, 204);
    assertRevoked(await get(other), 'caller after DELETE /api/tokens without scope');
    assert.equal((await get(sibling)).status, 200);

    revokedIds.add(jti);
    revokedIds.add(payloadOf(other).jti);
    shared.localJti = jti;
  });

  it('any other scope is 400 and revokes nothing', T, async () => {
    const sub = uniq('sam');
    const caller = await tok({ claims: { sub } });
    for (const scope of ['all', 'GLOBAL', '', 'local&scope=global', 'global&scope=others']) {
      const r = await signOut(caller, scope);
      assert.equal(r.status, 400, `scope=${scope}: ${r.status} ${r.text}`);
    }
    assert.equal((await get(caller)).status, 200, 'the caller still works after the rejected sign-outs');
    assert.equal(ctx.origin.requests.length, 1, 'the rejected sign-outs were not forwarded');
  });

  it('scope=global revokes every token of the subject issued until now, not later ones or other subjects', T, async () => {
    const sub = uniq('gail');
    const t0 = now();
    const older = await tok({ claims: { sub, iat: t0 - 30 } });
    const recent = await tok({ claims: { sub, iat: t0 - 5 } });
    const noIat = await tok({ claims: { sub, iat: undefined } });
    const caller = await tok({ claims: { sub } });
    const stranger = await tok({ claims: { sub: uniq('stranger'), iat: t0 - 30 } });
    for (const t of [older, recent, noIat, caller, stranger]) assert.equal((await get(t)).status, 200);

    const before = now();
    const r = await signOut(caller, 'global');
    const afterCall = now();
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');

    assertRevoked(await get(older), 'iat = now-30');
    assertRevoked(await get(recent), 'iat = now-5');
    assertRevoked(await get(noIat), 'no iat');
    assertRevoked(await get(caller), 'the calling token');
    assert.equal((await get(stranger)).status, 200, 'another subject is unaffected');

    // The stored cutoff is checked in the KV test below.
    subjects.set(sub, { lo: before, hi: afterCall, value: { sub, by: sub, route: 'DELETE /api/tokens' } });

    // Tokens issued after the cutoff pass; one issued in the second the sign-out began does not
    // (cutoff >= before, and iat <= cutoff is revoked).
    await sleep(1100);
    // The cutoff reaches CUTOFF_SKEW_SECONDS (the leeway, 60 s) past the
    // sign-out, for providers whose clock runs ahead (see clock-skew.test.mjs).
    const later = await tok({ claims: { sub, iat: afterCall + SKEW + 1 } });
    assert.equal((await get(later)).status, 200, 'a token issued after the sign-out');
    const sameSecond = await tok({ claims: { sub, iat: before } });
    assertRevoked(await get(sameSecond), 'iat == the sign-out second');
    shared.globalSub = sub;
  });

  it('scope=others keeps the calling token and revokes its siblings', T, async () => {
    const sub = uniq('otto');
    const jti = uniq('keep');
    const t0 = now();
    const caller = await tok({ claims: { sub, jti, iat: t0 - 10 } });
    const sibling = await tok({ claims: { sub, iat: t0 - 20 } });
    const noIat = await tok({ claims: { sub, iat: undefined } });
    const stranger = await tok({ claims: { sub: uniq('stranger') } });

    const lo = now();
    const r = await signOut(caller, 'others');
    assert.equal(r.status, 204, r.text);
    subjects.set(sub, { lo, hi: now(), value: { sub, cutoff: null, others: { except: jti, except_iat: t0 - 10 }, by: sub, route: 'DELETE /api/tokens' } });
    assert.equal((await get(caller)).status, 200, 'the caller keeps working');
    assert.equal((await get(caller, '/again')).status, 200);
    assertRevoked(await get(sibling), 'sibling');
    assertRevoked(await get(noIat), 'sibling without iat');
    assert.equal((await get(stranger)).status, 200);

  });

  it('DELETE /api/users/{sub}/tokens: admins sign a subject out everywhere; others get 403, no token 401', T, async () => {
    const sub = `ops/team ${uniq('user')}@example.com`;
    const path = `/api/users/${encodeURIComponent(sub)}/tokens`;
    const victimOld = await tok({ claims: { sub, iat: now() - 60 } });
    const victimNoIat = await tok({ claims: { sub, iat: undefined } });
    const bystander = await tok({ claims: { sub: uniq('by') } });
    assert.equal((await get(victimOld)).status, 200);

    const none = await call(ctx.worker.url, path, { method: 'DELETE' });
    assert.equal(none.status, 401, none.text);
    const plain = await tok({ claims: { sub: uniq('pleb'), roles: ['reader', 'identity:viewer'] } });
    const forbidden = await call(ctx.worker.url, path, { method: 'DELETE', token: plain });
    assert.equal(forbidden.status, 403, forbidden.text);
    assert.equal((await get(victimOld)).status, 200, 'the refused calls revoked nothing');

    const adminToken = await admin();
    const t0 = now();
    const r = await call(ctx.worker.url, path, { method: 'DELETE', token: adminToken });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    assertRevoked(await get(victimOld), 'subject token after admin sign-out');
    assertRevoked(await get(victimNoIat), 'subject token without iat after admin sign-out');
    assert.equal((await get(bystander)).status, 200);
    assert.equal((await get(adminToken)).status, 200, 'the admin is not signed out');
    assert.equal(ctx.origin.requests.some((q) => q.url.startsWith('/api/users/')), false, 'the route is never forwarded');

    const t1 = now();
    subjects.set(sub, { lo: t0, hi: t1, value: { sub, by: 'root-admin', route: 'DELETE /api/users/{sub}/tokens' } });

    await sleep(1100);
    const fresh = await tok({ claims: { sub, iat: t1 + SKEW + 1 } });
    assert.equal((await get(fresh)).status, 200, 'a token issued after the admin sign-out');
  });

  it('POST /oauth/revoke revokes a valid token (200 {}), with form-encoded Basic credentials', T, async () => {
    const jti = uniq('oauth');
    const token = await tok({ claims: { sub: 'olga', jti } });
    assert.equal((await get(token)).status, 200);
    const r = await oauth('/oauth/revoke', { token, token_type_hint: 'access_token' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(jsonOf(r), {});
    assertRevoked(await get(token), 'after /oauth/revoke');
    revokedIds.add(jti);
    shared.oauthJti = jti;

    // An unknown hint is ignored; the client whose ID and secret need form-encoding works.
    const token2 = await tok({ claims: { sub: 'olga' } });
    const r2 = await oauth('/oauth/revoke', { token: token2, token_type_hint: 'no_such_hint' }, basic(ODD.id, ODD.secret));
    assert.equal(r2.status, 200, r2.text);
    assert.deepEqual(jsonOf(r2), {});
    assertRevoked(await get(token2), 'after /oauth/revoke with an unknown hint');
    revokedIds.add(payloadOf(token2).jti);
    shared.oddJti = payloadOf(token2).jti;

    // A token that names its client may be revoked by that client.
    const mine = await tok({ claims: { sub: 'olga', client_id: APP.id } });
    assert.equal((await oauth('/oauth/revoke', { token: mine })).status, 200);
    assertRevoked(await get(mine), 'own client_id');
    revokedIds.add(payloadOf(mine).jti);
  });

  it('POST /oauth/revoke answers 200 for invalid or unknown tokens (nothing stored: see the KV test)', T, async () => {
    const garbage = 'definitely-not-a-token';
    const badSig = await tok({ claims: { sub: 'olga', jti: uniq('badsig') }, key: randomBytes(32) });
    const t = now();
    const expired = await tok({ claims: { sub: 'olga', jti: uniq('expired'), iat: t - 1200, exp: t - 600 } });
    const unknownJwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    for (const [name, token] of Object.entries({ garbage, badSig, expired, unknownJwt })) {
      const r = await oauth('/oauth/revoke', { token });
      assert.equal(r.status, 200, `${name}: ${r.status} ${r.text}`);
      assert.deepEqual(jsonOf(r), {}, name);
    }
  });

  it('POST /oauth/revoke: bad client credentials 401 invalid_client, missing token 400, other client 400', T, async () => {
    const token = await tok({ claims: { sub: 'olga' } });
    const cases = {
      'wrong secret': basic(APP.id, 'wrong'),
      'unknown client': basic('nobody', APP.secret),
      'secret of the other client': basic(APP.id, ODD.secret),
      // A raw "+" means a space once form-decoded, so the secret no longer matches.
      "odd client, '+' not form-encoded": `Basic ${Buffer.from(`${ODD.id}:${ODD.secret}`).toString('base64')}`,
      'bearer scheme': `Bearer ${token}`,
      'not base64': 'Basic !!!!',
      missing: null,
    };
    for (const [name, auth] of Object.entries(cases)) {
      const r = await oauth('/oauth/revoke', { token }, auth);
      assert.equal(r.status, 401, `${name}: ${r.status} ${r.text}`);
      assert.deepEqual(jsonOf(r), { error: 'invalid_client' }, name);
      assert.equal(r.headers.get('www-authenticate'), 'Basic realm="api"', name);
    }
    assert.equal((await get(token)).status, 200, 'refused requests revoked nothing');

    for (const body of [{ token_type_hint: 'access_token' }, { token: '' }]) {
      const r = await oauth('/oauth/revoke', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.status} ${r.text}`);
      assert.deepEqual(jsonOf(r), { error: 'invalid_request' });
    }

    for (const claim of ['client_id', 'azp']) {
      const foreign = await tok({ claims: { sub: 'olga', [claim]: 'other-client' } });
      const r = await oauth('/oauth/revoke', { token: foreign });
      assert.equal(r.status, 400, `${claim}: ${r.status} ${r.text}`);
      assert.deepEqual(jsonOf(r), { error: 'unauthorized_client' }, claim);
      assert.equal((await get(foreign)).status, 200, `${claim}: the foreign token is still valid`);
    }
    assert.equal(ctx.origin.requests.filter((q) => q.url.startsWith('/oauth')).length, 0, 'never forwarded');
  });

  it('POST /oauth/introspect: every claim plus active for a live token, exactly {"active":false} otherwise', T, async () => {
    const token = await tok({
      claims: { sub: 'ivy', email: 'ivy@example.com', scope: 'read write', roles: ['a', 'b'], custom: { n: [1, 2] } },
    });
    const r = await oauth('/oauth/introspect', { token, token_type_hint: 'access_token' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(jsonOf(r), { ...payloadOf(token), active: true });
    assert.equal((await get(token)).status, 200, 'introspection revokes nothing');

    const inactive = async (name, t) => {
      const res = await oauth('/oauth/introspect', { token: t });
      assert.equal(res.status, 200, `${name}: ${res.status} ${res.text}`);
      assert.deepEqual(jsonOf(res), { active: false }, name);
    };
    // Revoked by jti.
    assert.equal((await signOut(token)).status, 204);
    revokedIds.add(payloadOf(token).jti);
    await inactive('revoked', token);
    // Revoked by the subject cutoff of the scope=global test.
    assert.ok(shared.globalSub, 'the scope=global test ran first');
    await inactive('subject signed out', await tok({ claims: { sub: shared.globalSub, iat: now() - 100 } }));
    await inactive('garbage', 'garbage');
    await inactive('bad signature', await tok({ claims: { sub: 'ivy' }, key: randomBytes(32) }));
    const t = now();
    await inactive('expired', await tok({ claims: { sub: 'ivy', iat: t - 1200, exp: t - 600 } }));

    const live = await tok({ claims: { sub: 'ivy' } });
    const noClient = await oauth('/oauth/introspect', { token: live }, basic(APP.id, 'nope'));
    assert.equal(noClient.status, 401);
    assert.deepEqual(jsonOf(noClient), { error: 'invalid_client' });
    assert.equal(noClient.headers.get('www-authenticate'), 'Basic realm="api"');
    const noToken = await oauth('/oauth/introspect', { foo: 'bar' });
    assert.equal(noToken.status, 400);
    assert.deepEqual(jsonOf(noToken), { error: 'invalid_request' });
  });

  it('FORWARD_CLAIMS: claim headers are set from the token and client copies removed', T, async () => {
    const withEmail = await tok({ claims: { sub: 'alice', email: 'alice@example.com' } });
    const r = await get(withEmail, '/claims', { 'X-User-Id': 'admin', 'X-User-Email': 'root@evil.test' });
    assert.equal(r.status, 200, r.text);
    assert.equal(ctx.origin.requests.length, 1);
    const q = ctx.origin.requests[0];
    assert.equal(q.headers['x-user-id'], 'alice');
    assert.equal(q.headers['x-user-email'], 'alice@example.com');
    const count = (rec, name) => rec.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === name).length;
    assert.equal(count(q, 'x-user-id'), 1, 'exactly one X-User-Id');
    assert.equal(count(q, 'x-user-email'), 1, 'exactly one X-User-Email');

    ctx.origin.clear();
    const noEmail = await tok({ claims: { sub: 'alice' } });
    assert.equal((await get(noEmail, '/claims', { 'X-User-Email': 'root@evil.test', 'X-User-Id': 'admin' })).status, 200);
    const q2 = ctx.origin.requests[0];
    assert.equal(q2.headers['x-user-id'], 'alice');
    assert.equal('x-user-email' in q2.headers, false, `spoofed X-User-Email must be removed, got ${q2.headers['x-user-email']}`);

    ctx.origin.clear();
    const accented = await tok({ claims: { sub: 'josé', email: 'josé@exämple.test' } });
    assert.equal((await get(accented, '/claims')).status, 200);
    assert.equal(ctx.origin.requests[0].headers['x-user-id'], 'jos%C3%A9');
    assert.equal(ctx.origin.requests[0].headers['x-user-email'], 'jos%C3%A9@ex%C3%A4mple.test');
  });

  it('CORS preflight: OPTIONS with Access-Control-Request-Method is forwarded without a token; without it, 401', T, async () => {
    const pre = await call(ctx.worker.url, '/anything', {
      method: 'OPTIONS',
      headers: { 'Access-Control-Request-Method': 'GET', Origin: 'https://app.test' },
    });
    assert.equal(pre.status, 200, pre.text);
    assert.equal(ctx.origin.requests.length, 1);
    assert.equal(ctx.origin.requests[0].method, 'OPTIONS');
    assert.equal(ctx.origin.requests[0].url, '/anything');

    ctx.origin.clear();
    const bare = await call(ctx.worker.url, '/anything', { method: 'OPTIONS', headers: { Origin: 'https://app.test' } });
    assert.equal(bare.status, 401, bare.text);
    assert.equal(ctx.origin.requests.length, 0);
  });

  it('KV: exactly the expected revoked:* and subject:* entries, with their records and expiry', T, async () => {
    const keys = await kvList({ persistDir: ctx.worker.persistDir, configPath: ctx.worker.configPath });
    const names = keys.map((k) => k.name);
    // Nothing else: no entry for the local sign-outs' subjects, for invalid tokens sent to
    // /oauth/revoke, or for refused requests.
    assert.deepEqual(
      names.filter((n) => n.startsWith('revoked:')).sort(),
      [...revokedIds].map((id) => `revoked:${id}`).sort(),
    );
    assert.deepEqual(
      names.filter((n) => n.startsWith('subject:')).sort(),
      [...subjects.keys()].map((sub) => `subject:${sub}`).sort(),
    );
    assert.deepEqual(names.filter((n) => !/^(revoked|subject):/.test(n)), []);

    const oauthEntry = keys.find((k) => k.name === `revoked:${shared.oauthJti}`);
    assert.equal(oauthEntry.metadata.reason, 'oauth_revoke');
    assert.equal(oauthEntry.metadata.route, 'POST /oauth/revoke');
    assert.equal(oauthEntry.metadata.by, `client:${APP.id}`);
    assert.equal(keys.find((k) => k.name === `revoked:${shared.oddJti}`).metadata.by, `client:${ODD.id}`);

    const values = await Promise.all([...subjects.keys()].map((sub) => kvGet(ctx.worker, `subject:${sub}`)));
    for (const [i, [sub, { lo, hi, value: want }]] of [...subjects].entries()) {
      assert.ok(values[i], `subject:${sub} has a value`);
      const value = JSON.parse(values[i]);
      // scope=others stores its threshold with the exemption; the others a plain cutoff.
      const at = want.others ? value.others?.cutoff : value.cutoff;
      // Every cutoff here is made at the edge: now + CUTOFF_SKEW_SECONDS.
      assert.ok(at >= lo + SKEW && at <= hi + SKEW, `${sub}: cutoff ${at} in [${lo + SKEW}, ${hi + SKEW}]`);
      const expected = want.others ? { ...want, others: { ...want.others, cutoff: at } } : { ...want, cutoff: at };
      assert.deepEqual(value, expected, sub);
      const entry = keys.find((k) => k.name === `subject:${sub}`);
      assert.equal(entry.expiration, at + 86400 + 60, `${sub}: expires MAX_TOKEN_LIFETIME_SECONDS + the leeway after the cutoff`);
    }
  });

  it('logs: one JSON line per revocation and per rejection, never the token', T, async () => {
    assert.ok(shared.localJti, 'the scope=local test ran first');
    const jti = shared.localJti;
    const revokes = await waitForLines(ctx.worker, (l) => l.decision === 'revoke' && l.jti === jti);
    assert.equal(revokes.length, 1, JSON.stringify(revokes));
    const rv = revokes[0];
    for (const k of ['decision', 'reason', 'jti', 'route', 'latency_ms']) assert.ok(k in rv, `revoke line has ${k}`);
    assert.equal(rv.reason, 'sign_out');
    assert.equal(rv.route, 'DELETE /api/tokens');
    assert.equal(typeof rv.latency_ms, 'number');

    // The scope=local test was rejected exactly twice with that token (Bearer, X-Auth-Token).
    const rejects = await waitForLines(ctx.worker, (l) => l.decision === 'reject' && l.jti === jti, 2);
    assert.equal(rejects.length, 2, JSON.stringify(rejects));
    for (const rj of rejects) {
      for (const k of ['decision', 'reason', 'jti', 'route', 'latency_ms']) assert.ok(k in rj, `reject line has ${k}`);
      assert.equal(rj.reason, 'revoked');
      assert.equal(rj.route, 'proxy');
      assert.equal(typeof rj.latency_ms, 'number');
    }

    // A subject-wide revocation is logged too.
    const global = await waitForLines(ctx.worker, (l) => l.decision === 'revoke' && l.reason === 'sign_out_global');
    assert.equal(global.length, 1, JSON.stringify(global));
    assert.equal(global[0].route, 'DELETE /api/tokens');

    const text = ctx.worker.logs();
    assert.ok(used.size > 20, `tokens tracked: ${used.size}`);
    for (const t of used) {
      assert.ok(!text.includes(t), 'a raw token appears in the log');
      assert.ok(!text.includes(t.split('.')[2]), 'a token signature appears in the log');
    }
  });
});

// ---------------------------------------------------------------------------

describe('revocation list and restore (fresh worker)', () => {
  let origin;
  let worker;
  const mine = new Map(); // jti → token
  const expected = new Map(); // jti → { sub, exp }
  const adminToken = () => mint({ claims: { sub: 'root-admin', roles: ['identity:admin'] } });
  const list = async (qs, token) => call(worker.url, `/api/revocations${qs}`, { token: token ?? (await adminToken()) });

  before(async () => {
    origin = await startOrigin();
    worker = await startWorker({ vars: BASE_VARS, originUrl: origin.url });
    // Six revocations over two subjects; one jti needs percent-encoding in a path.
    const jtis = ['lst-a1', 'lst-a2', `lst/a3@${randomUUID()}`, 'lst-b1', 'lst-b2', 'lst-b3'];
    for (const [i, jti] of jtis.entries()) {
      const sub = i < 3 ? 'lena' : 'mike';
      const token = await mint({ claims: { sub, jti } });
      const r = await call(worker.url, '/api/tokens', { method: 'DELETE', token });
      assert.equal(r.status, 204, r.text);
      mine.set(jti, token);
      expected.set(jti, { sub, exp: payloadOf(token).exp });
    }
  }, START);
  after(async () => {
    await worker?.stop();
    await origin?.close();
  });

  async function pages(qs) {
    const out = [];
    let cursor = null;
    for (let i = 0; i < 20; i++) {
      const r = await list(`?${qs}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(r.status, 200, r.text);
      const body = jsonOf(r);
      assert.deepEqual(Object.keys(body).sort(), ['cursor', 'items', 'list_complete']);
      out.push(body);
      if (body.list_complete) {
        assert.equal(body.cursor, null);
        return out;
      }
      assert.equal(typeof body.cursor, 'string');
      assert.ok(body.cursor.length > 0);
      cursor = body.cursor;
    }
    assert.fail('list never completed');
  }

  it('GET /api/revocations pages with limit and cursor over every revocation', T, async () => {
    const ps = await pages('limit=2');
    assert.ok(ps.length >= 3, `6 items at limit=2 need ≥ 3 pages, got ${ps.length}`);
    for (const p of ps) assert.ok(p.items.length <= 2, `page of ${p.items.length}`);
    const items = ps.flatMap((p) => p.items);
    assert.deepEqual(items.map((i) => i.jti).sort(), [...expected.keys()].sort());
    for (const item of items) {
      assert.deepEqual(Object.keys(item).sort(), ['by', 'exp', 'expires_at', 'jti', 'reason', 'revoked_at', 'route', 'sub']);
      const e = expected.get(item.jti);
      assert.equal(item.sub, e.sub);
      assert.equal(item.exp, e.exp);
      assert.equal(item.by, e.sub);
      assert.equal(item.reason, 'sign_out');
      assert.equal(item.route, 'DELETE /api/tokens');
      assert.ok(Math.abs(item.revoked_at - now()) <= 60, `revoked_at ${item.revoked_at}`);
      assert.equal(item.expires_at, e.exp + 60, 'exp + the default 60 s leeway');
    }
    const all = await list('?limit=1000');
    assert.equal(all.status, 200);
    const body = jsonOf(all);
    assert.equal(body.list_complete, true);
    assert.equal(body.cursor, null);
    assert.equal(body.items.length, 6);
  });

  it('?sub= filters within each page', T, async () => {
    const ps = await pages('limit=2&sub=lena');
    const items = ps.flatMap((p) => p.items);
    for (const item of items) assert.equal(item.sub, 'lena');
    assert.deepEqual(items.map((i) => i.jti).sort(), [...expected].filter(([, v]) => v.sub === 'lena').map(([k]) => k).sort());
    const one = jsonOf(await list('?sub=mike'));
    assert.deepEqual(one.items.map((i) => i.jti).sort(), ['lst-b1', 'lst-b2', 'lst-b3']);
    const nobody = jsonOf(await list('?sub=nobody'));
    assert.deepEqual(nobody.items, []);
  });

  it('limit outside 1..1000 is 400; non-admins 403; no token 401', T, async () => {
    for (const limit of ['0', '1001', 'abc', '-1', '2.5']) {
      const r = await list(`?limit=${limit}`);
      assert.equal(r.status, 400, `limit=${limit}: ${r.status} ${r.text}`);
    }
    assert.equal((await list('?limit=1')).status, 200);
    assert.equal((await list('?limit=1000')).status, 200);
    const plain = await mint({ claims: { sub: 'pleb', roles: ['reader'] } });
    assert.equal((await list('', plain)).status, 403);
    assert.equal((await call(worker.url, '/api/revocations')).status, 401);
    assert.equal(origin.requests.length, 0, 'never forwarded');
  });

  it('DELETE /api/revocations/{jti} restores a token at once; unknown 404; non-admin 403', T, async () => {
    const jti = [...expected.keys()].find((j) => j.includes('/'));
    const token = mine.get(jti);
    assertRevoked(await call(worker.url, '/x', { token }), 'before restore');
    const path = `/api/revocations/${encodeURIComponent(jti)}`;

    assert.equal((await call(worker.url, path, { method: 'DELETE' })).status, 401);
    const plain = await mint({ claims: { sub: 'pleb', roles: ['reader'] } });
    assert.equal((await call(worker.url, path, { method: 'DELETE', token: plain })).status, 403);
    assertRevoked(await call(worker.url, '/x', { token }), 'after refused restores');

    const r = await call(worker.url, path, { method: 'DELETE', token: await adminToken() });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    origin.clear();
    assert.equal((await call(worker.url, '/x', { token })).status, 200, 'the restored token works immediately');
    assert.equal(origin.requests.length, 1);

    const remaining = jsonOf(await list('?limit=1000')).items.map((i) => i.jti);
    assert.equal(remaining.includes(jti), false);
    assert.equal(remaining.length, 5);

    assert.equal((await call(worker.url, path, { method: 'DELETE', token: await adminToken() })).status, 404, 'restoring twice');
    assert.equal((await call(worker.url, `/api/revocations/${uniq('never-revoked')}`, { method: 'DELETE', token: await adminToken() })).status, 404);
    // The other revocations still hold.
    assertRevoked(await call(worker.url, '/x', { token: mine.get('lst-a1') }), 'another revoked token');
  });
});

// ---------------------------------------------------------------------------

describe('remote key sets (JWT_JWKS_URL)', () => {
  // Every test starts its own origin, key set stub and worker: the worker's key
  // cache and its refetch rate limit, and the stub's hit count, belong to one
  // test, so each test runs alone and in any order.
  const r1 = rsaKey('r1');
  const r2 = rsaKey('r2');
  const stranger = rsaKey('r9');
  const REMOTE_VARS = { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE };
  const rs = (key, claims = {}) => mint({ alg: 'RS256', key: key.privateKey, header: { kid: key.kid }, claims });

  /**
   * A stub serving the keys `keys`, a recording origin and a worker with
   * JWT_JWKS_URL set to the stub (plus `vars`), all stopped when test `t` ends.
   * `stubDown` stops the stub before the worker starts: its port refuses
   * connections until `stub.start()`.
   */
  async function remoteSetup(t, { keys = [r1], vars = {}, stubDown = false } = {}) {
    const env = {};
    t.after(async () => {
      await env.worker?.stop();
      await Promise.all([env.stub?.close(), env.origin?.close()]);
    });
    env.origin = await startOrigin();
    env.stub = await startJwksServer({ jwks: jwksOf(...keys) });
    if (stubDown) await env.stub.stop();
    env.worker = await startWorker({ vars: { ...REMOTE_VARS, JWT_JWKS_URL: env.stub.url, ...vars }, originUrl: env.origin.url });
    env.origin.clear();
    return env;
  }

  /** Sends a token of each key in turn through `worker` (each must pass), then clears the origin. */
  async function warm({ worker, origin }, ...keys) {
    for (const key of keys) {
      const r = await call(worker.url, '/warm', { token: await rs(key) });
      assert.equal(r.status, 200, `warming up with kid ${key.kid}: ${r.text}`);
    }
    origin.clear();
  }

  it('(a) a worker with only JWT_JWKS_URL fetches on first use and accepts a token of kid r1', START, async (t) => {
    const { origin, stub, worker: remote } = await remoteSetup(t);
    assert.equal(stub.hits, 0, 'nothing fetched before a token needs a key');
    const r = await call(remote.url, '/remote', { token: await rs(r1) });
    assert.equal(r.status, 200, r.text);
    assert.equal(stub.hits, 1);
    assert.equal(stub.requests[0].method, 'GET');
    for (let i = 0; i < 3; i++) assert.equal((await call(remote.url, '/remote', { token: await rs(r1) })).status, 200);
    assert.equal(stub.hits, 1, 'the key set is cached, not fetched per request');
    assert.equal(origin.requests.length, 4);
    // No JWT_SECRET here: an HS256 token is not accepted.
    assert.equal((await call(remote.url, '/remote', { token: await mint({ alg: 'HS256' }) })).status, 401);
    // A token signed by another key under a known kid fails without a refetch.
    assert.equal((await call(remote.url, '/remote', { token: await rs({ ...stranger, kid: 'r1' }) })).status, 401);
    assert.equal(stub.hits, 1);
  });

  it('(b) rotation: an unknown kid forces one refetch, then the new key is cached', START, async (t) => {
    const env = await remoteSetup(t);
    const { stub, worker: remote } = env;
    await warm(env, r1);
    assert.equal(stub.hits, 1, 'r1 fetched once and cached');
    stub.setJwks(jwksOf(r1, r2));
    const r = await call(remote.url, '/rotated', { token: await rs(r2) });
    assert.equal(r.status, 200, r.text);
    assert.equal(stub.hits, 2, 'one refetch for the unknown kid');
    for (const key of [r2, r1, r2]) assert.equal((await call(remote.url, '/rotated', { token: await rs(key) })).status, 200);
    assert.equal(stub.hits, 2, 'no fetch per request');
  });

  it('(d) another unknown kid within 30 s of a forced refetch: 401, no fetch', START, async (t) => {
    const env = await remoteSetup(t);
    const { origin, stub, worker: remote } = env;
    // r1 fetched on first use, then r2 by a forced refetch just now.
    await warm(env, r1);
    stub.setJwks(jwksOf(r1, r2));
    await warm(env, r2);
    assert.equal(stub.hits, 2, 'one fetch, then one forced refetch');
    const r = await call(remote.url, '/unknown', { token: await rs(stranger) });
    assert.equal(r.status, 401, r.text);
    assert.match(r.headers.get('www-authenticate') ?? '', /invalid_token/);
    assert.equal(stub.hits, 2);
    assert.equal(origin.requests.length, 0);
    // Even once the stub serves that key, the refetch stays rate-limited.
    stub.setJwks(jwksOf(r1, r2, stranger));
    assert.equal((await call(remote.url, '/unknown', { token: await rs(stranger) })).status, 401);
    assert.equal(stub.hits, 2);
  });

  it('cached keys keep working while the key set endpoint is down', START, async (t) => {
    const env = await remoteSetup(t, { keys: [r1, r2] });
    const { stub, worker: remote } = env;
    await warm(env, r1, r2);
    const hits = stub.hits;
    await stub.stop();
    assert.equal((await call(remote.url, '/cached', { token: await rs(r1) })).status, 200);
    assert.equal((await call(remote.url, '/cached', { token: await rs(r2) })).status, 200);
    assert.equal(stub.hits, hits);
  });

  it('(c) fails closed: key set unreachable and nothing cached → 503 with Retry-After, nothing forwarded', START, async (t) => {
    const { origin, stub, worker: dead } = await remoteSetup(t, { stubDown: true });
    for (let i = 0; i < 2; i++) {
      const r = await call(dead.url, '/closed', { token: await rs(r1) });
      assert.equal(r.status, 503, r.text);
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/, 'Retry-After');
    }
    assert.equal(origin.requests.length, 0, 'the origin saw nothing');
    // The same worker recovers once the endpoint answers (so the 503 was the key set).
    await stub.start();
    const r = await call(dead.url, '/closed', { token: await rs(r1) });
    assert.equal(r.status, 200, r.text);
    assert.equal(stub.hits, 1);
  });

  it('JWT_SECRET + JWT_JWKS_URL accepts both an HS256 and a remote RS256 token', START, async (t) => {
    const { origin, stub: comboStub, worker: combo } = await remoteSetup(t, { vars: { JWT_SECRET } });
    const hs = await call(combo.url, '/both', { token: await mint({ alg: 'HS256' }) });
    assert.equal(hs.status, 200, hs.text);
    const rsa = await call(combo.url, '/both', { token: await rs(r1) });
    assert.equal(rsa.status, 200, rsa.text);
    assert.equal(comboStub.hits, 1);
    assert.equal(origin.requests.length, 2);
    // Neither key accepts a forgery.
    assert.equal((await call(combo.url, '/both', { token: await mint({ alg: 'HS256', key: randomBytes(32) }) })).status, 401);
    assert.equal((await call(combo.url, '/both', { token: await rs({ ...stranger, kid: 'r1' }) })).status, 401);
  });
});

// ---------------------------------------------------------------------------

describe('monitor mode (ENFORCE=false), without FORWARD_CLAIMS', () => {
  const ctx = useWorker({ ...BASE_VARS, ENFORCE: 'false' }, { logLevel: 'log' });
  const { used, tok } = trackedMint();

  it('no token, invalid tokens and revoked tokens are forwarded and logged as would_reject', T, async () => {
    const noToken = await call(ctx.worker.url, '/m/none');
    assert.equal(noToken.status, 200, noToken.text);

    const badSig = await tok({ claims: { jti: uniq('badsig') }, key: randomBytes(32) });
    used.add(badSig);
    assert.equal((await call(ctx.worker.url, '/m/badsig', { token: badSig })).status, 200);

    const garbage = `garbage${randomBytes(8).toString('hex')}`;
    used.add(garbage);
    assert.equal((await call(ctx.worker.url, '/m/garbage', { token: garbage })).status, 200);

    assert.deepEqual(ctx.origin.requests.map((q) => `${q.method} ${q.url}`), ['GET /m/none', 'GET /m/badsig', 'GET /m/garbage']);
    assert.equal(ctx.origin.requests[1].headers.authorization, `Bearer ${badSig}`, 'forwarded unchanged');

    const jti = uniq('mon');
    const revoked = await tok({ claims: { jti } });
    ctx.origin.clear();
    const so = await call(ctx.worker.url, '/api/tokens', { method: 'DELETE', token: revoked });
    assert.equal(so.status, 204, 'revocation routes answer normally');
    assert.equal(ctx.origin.requests.length, 0);
    assert.equal((await call(ctx.worker.url, '/m/revoked', { token: revoked })).status, 200);
    assert.deepEqual(ctx.origin.requests.map((q) => `${q.method} ${q.url}`), ['GET /m/revoked']);
    assert.equal(ctx.origin.requests[0].headers.authorization, `Bearer ${revoked}`, 'forwarded unchanged');

    const would = (reason, n = 1) => waitForLines(ctx.worker, (l) => l.decision === 'would_reject' && l.reason === reason, n);
    // The readiness probe is a token-less request too.
    const missing = await would('missing', 2);
    assert.ok(missing.length >= 2, JSON.stringify(missing));
    assert.equal(missing[0].route, 'proxy');
    assert.equal((await would('signature')).length, 1);
    assert.equal((await would('malformed')).length, 1);
    const rv = await would('revoked');
    assert.equal(rv.length, 1);
    assert.equal(rv[0].jti, jti);
    for (const k of ['decision', 'reason', 'jti', 'route', 'latency_ms']) assert.ok(k in rv[0], k);
    assert.equal(logLines(ctx.worker).filter((l) => l.decision === 'reject').length, 0, 'nothing was rejected');

    const text = ctx.worker.logs();
    for (const t of used) assert.ok(!text.includes(t), 'a raw token appears in the log');
  });

  it('revocation routes still check tokens: DELETE /api/tokens with a bad token is 401', T, async () => {
    const bad = await tok({ key: randomBytes(32) });
    const r = await call(ctx.worker.url, '/api/tokens', { method: 'DELETE', token: bad });
    assert.equal(r.status, 401, r.text);
    const none = await call(ctx.worker.url, '/api/tokens', { method: 'DELETE' });
    assert.equal(none.status, 401, none.text);
    assert.equal(ctx.origin.requests.length, 0);
  });

  it('without FORWARD_CLAIMS, client X-User-* headers pass through untouched', T, async () => {
    const token = await tok({ claims: { sub: 'alice', email: 'alice@example.com' } });
    const r = await call(ctx.worker.url, '/plain', { token, headers: { 'X-User-Id': 'whatever', 'X-User-Email': 'who@ever.test' } });
    assert.equal(r.status, 200);
    assert.equal(ctx.origin.requests[0].headers['x-user-id'], 'whatever');
    assert.equal(ctx.origin.requests[0].headers['x-user-email'], 'who@ever.test');
    ctx.origin.clear();
    await call(ctx.worker.url, '/plain', { token });
    assert.equal('x-user-id' in ctx.origin.requests[0].headers, false, 'nothing is added');
  });
});

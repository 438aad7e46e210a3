// End-to-end tests of Global Token Revocation
// (draft-parecki-oauth-global-token-revocation-05) on GTR_PATH: Okta's
// Universal Logout call exactly as its guide documents it (a signed JWT with
// typ global-token-revocation+jwt, both body member names), an admin's call,
// the email format, a replayed assertion, every refusal with its exact body,
// and the forward to the origin's own authorization server (the recording
// stub origin), succeeding and failing. The built worker runs under
// `wrangler dev` with local KV; all keys are generated per run.
// Run: node --test --test-concurrency=1 tests/e2e/gtr.test.mjs
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { buildWorkerOnce } from './support/worker.mjs';
import {
  mint, mintAssertion, mintLogout, signWith, issSub, keys, now, assertionClaims,
  JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE, GTR_PATH, GTR_VARS,
} from './support/keys.mjs';
import { call } from './support/http.mjs';
import { useWorker } from './support/setup.mjs';
import { logLines, waitForLines } from './support/logs.mjs';

buildWorkerOnce();

const BASE_VARS = { JWT_SECRET, JWT_JWKS, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE };
const T = { timeout: 30_000 };
const FORWARD_TOKEN = `fwd-${randomBytes(12).toString('hex')}`;

const uniq = (p) => `${p}-${randomBytes(4).toString('hex')}`;
const body = (subId) => JSON.stringify({ sub_id: subId });
/** An RS256 access token of `sub`, issued a few seconds ago. */
const access = (sub, extra = {}) => mint({ alg: 'RS256', claims: { sub, iat: now() - 5, exp: now() + 900, ...extra } });
const admin = () => access(uniq('root'), { roles: ['identity:admin'] });

/** The exact problem+json body of a refusal. */
function assertRefusal(r, status, type, title, detail, what) {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.equal(String(r.headers.get('content-type')).split(';')[0], 'application/problem+json', what);
  assert.deepEqual(JSON.parse(r.text), { type: `urn:edge-revoke:problem:${type}`, title, status, detail }, what);
}

function assertSignedOut(r, what) {
  assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
  assert.match(r.headers.get('www-authenticate') ?? '', /error_description="token revoked"/, what);
}

describe('Global Token Revocation (GTR_PATH configured)', () => {
  // No cutoff skew: a sign-in a second after a call passes, so that a
  // replay could be seen to revoke it.
  const ctx = useWorker({ ...BASE_VARS, ...GTR_VARS, CUTOFF_SKEW_SECONDS: '0' }, { logLevel: 'log' });
  /** Every credential sent: none may appear in the worker's log. */
  const used = [];
  const revoke = (token, text, headers = { 'Content-Type': 'application/json' }) => {
    if (token) used.push(token);
    return call(ctx.base, GTR_PATH, { method: 'POST', token, headers, body: text });
  };
  const get = (token) => call(ctx.base, '/hello', { token });

  it("Okta's call (sub_id, iss_sub) signs the user out, and no one else", T, async () => {
    const [alice, bob] = [uniq('alice'), uniq('bob')];
    const aliceToken = await access(alice);
    const bobToken = await access(bob);
    assert.equal((await get(aliceToken)).status, 200);
    const r = await revoke(await mintAssertion(), body(issSub(alice)));
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    assertSignedOut(await get(aliceToken), 'alice after the call');
    assert.equal((await get(bobToken)).status, 200, 'bob passes');
    const calls = ctx.origin.requests.filter((q) => q.url.startsWith(GTR_PATH));
    assert.deepEqual(calls, [], 'the call is the edge\'s, never the origin\'s');
    const [line] = await waitForLines(ctx.worker, (l) => l.reason === 'global_token_revocation' && l.sub === alice);
    assert.deepEqual(
      { decision: line.decision, subject_format: line.subject_format, route: line.route },
      { decision: 'revoke', subject_format: 'iss_sub', route: 'POST GTR_PATH' },
    );
  });

  it('the member name before draft -03 (`subject`) and the opaque format work too', T, async () => {
    for (const [name, make] of [
      ['subject', (sub) => JSON.stringify({ subject: issSub(sub) })],
      ['opaque', (sub) => body({ format: 'opaque', id: sub })],
    ]) {
      const sub = uniq(name);
      const token = await access(sub);
      const r = await revoke(await mintAssertion(), make(sub));
      assert.equal(r.status, 204, `${name}: ${r.text}`);
      assertSignedOut(await get(token), name);
    }
  });

  it("Okta's default format, email, signs out every token carrying that address", T, async () => {
    const address = `${uniq('carol')}@example.test`;
    const first = await access(uniq('carol'), { email: address.toUpperCase() });
    const second = await access(uniq('carol-2'), { email: address });
    const unrelated = await access(uniq('dave'), { email: `${uniq('dave')}@example.test` });
    const r = await revoke(await mintAssertion(), body({ format: 'email', email: address }));
    assert.equal(r.status, 204, r.text);
    assertSignedOut(await get(first), 'upper-case copy of the address');
    assertSignedOut(await get(second), 'another sub with the address');
    assert.equal((await get(unrelated)).status, 200);
    const [line] = await waitForLines(ctx.worker, (l) => l.subject_format === 'email');
    assert.equal(line.decision, 'revoke');
    assert.ok(!JSON.stringify(logLines(ctx.worker)).includes(address), 'no address in the log');
  });

  it('an admin access token may call it', T, async () => {
    const sub = uniq('erin');
    const token = await access(sub);
    const r = await revoke(await admin(), body(issSub(sub)));
    assert.equal(r.status, 204, r.text);
    assertSignedOut(await get(token), 'after the admin call');
  });

  it('a replayed assertion is refused, and a sign-in after the first call survives it', T, async () => {
    const sub = uniq('frank');
    const assertion = await mintAssertion();
    assert.equal((await revoke(assertion, body(issSub(sub)))).status, 204);
    // A sign-in after the call's cutoff: only the replay could revoke it.
    const later = await access(sub, { iat: now() + 2 });
    assert.equal((await get(later)).status, 200);
    const r = await revoke(assertion, body(issSub(sub)));
    assertRefusal(r, 401, 'invalid-assertion', 'Invalid assertion', 'Assertion already used.', 'replay');
    assert.match(r.headers.get('www-authenticate'), /^Bearer realm="api", error="invalid_token", error_description="assertion already used"$/);
    assert.equal((await get(later)).status, 200, 'the replay signed no one out');
  });

  it('one assertion sent eight times at once, each naming another user, is taken once', T, async () => {
    const assertion = await mintAssertion();
    const subs = Array.from({ length: 8 }, (_, i) => uniq(`grace-${i}`));
    const tokens = await Promise.all(subs.map((sub) => access(sub)));
    const answers = await Promise.all(subs.map((sub) => revoke(assertion, body(issSub(sub)))));
    const statuses = answers.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 204).length, 1, JSON.stringify(statuses));
    for (const r of answers.filter((r) => r.status !== 204)) {
      assertRefusal(r, 401, 'invalid-assertion', 'Invalid assertion', 'Assertion already used.', 'concurrent replay');
    }
    const after = await Promise.all(tokens.map((token) => get(token)));
    assert.deepEqual(after.map((r) => r.status), statuses.map((s) => (s === 204 ? 401 : 200)), 'only the user of the call taken is signed out');
  });

  // Every refusal, with its exact answer. Each names a victim whose token
  // must still pass afterwards.
  const unsigned = () => signWith({ header: { alg: 'none', typ: 'global-token-revocation+jwt' }, payload: assertionClaims(), signature: Buffer.alloc(0) });
  const REFUSALS = [
    ['no credentials', async () => [undefined], 401, 'missing-token', 'Authentication required', 'Send a bearer token in the Authorization header.'],
    ['an access token without an admin role', async () => [await access(uniq('mallory'))], 403, 'forbidden', 'Admin role required', 'Revoking another token needs an admin role.'],
    ['an assertion for another audience', async () => [await mintAssertion({ claims: { aud: 'https://other.example.test/global-token-revocation' } })], 401, 'invalid-assertion', 'Invalid assertion', 'Audience not accepted.'],
    ['an assertion of another issuer', async () => [await mintAssertion({ claims: { iss: ISSUER } })], 401, 'invalid-assertion', 'Invalid assertion', 'Issuer not accepted.'],
    ['an expired assertion', async () => [await mintAssertion({ claims: { exp: now() - 120 } })], 401, 'invalid-assertion', 'Invalid assertion', 'Assertion expired.'],
    ['an unsigned assertion (alg none)', async () => [unsigned()], 401, 'invalid-assertion', 'Invalid assertion', 'Malformed token.'],
    ['an assertion signed with the access-token key (the wrong key family)', async () => [await mintAssertion({ key: keys.rsa, header: { kid: 'rsa-1' } })], 401, 'invalid-assertion', 'Invalid assertion', 'Unknown signing key.'],
    ['an assertion signed with JWT_SECRET', async () => [await mintAssertion({ alg: 'HS256', key: Buffer.from(JWT_SECRET), header: { kid: undefined } })], 401, 'invalid-assertion', 'Invalid assertion', 'Algorithm not allowed.'],
    ['an assertion without its typ (verified as an access token)', async () => [await mintAssertion({ header: { typ: 'JWT' } })], 401, 'invalid-token', 'Invalid token', 'Unknown signing key.'],
    ['a logout token used as the assertion', async () => [await mintLogout()], 401, 'invalid-token', 'Invalid token', 'Invalid claims.'],
    ['a body that is not JSON', async () => [await mintAssertion(), 'sub_id=alice'], 400, 'bad-request', 'Malformed request', 'The body is not a JSON object.'],
    ['an oversized body', async () => [await mintAssertion(), JSON.stringify({ sub_id: { format: 'opaque', id: 'x'.repeat(17_000) } })], 400, 'bad-request', 'Malformed request', 'The body is missing or over 16 KiB.'],
    ['an unsupported subject format', async (victim) => [await mintAssertion(), body({ format: 'phone_number', phone_number: '+15550100', sub: victim })], 400, 'bad-request', 'Malformed request', 'Unsupported subject identifier format.'],
    ['a sub_id of another issuer', async (victim) => [await mintAssertion(), body(issSub(victim, 'https://other-idp.example.test'))], 400, 'bad-request', 'Malformed request', "The subject's issuer is not accepted."],
    ['both sub_id and subject', async (victim) => [await mintAssertion(), JSON.stringify({ sub_id: issSub(victim), subject: issSub(victim) })], 400, 'bad-request', 'Malformed request', 'The body gives both sub_id and subject.'],
    ['a member given twice', async (victim) => [await mintAssertion(), `{"sub_id":${body(issSub('nobody'))},"sub_id":${JSON.stringify(issSub(victim))}}`], 400, 'bad-request', 'Malformed request', 'The body is not a JSON object.'],
  ];
  for (const [name, make, status, type, title, detail] of REFUSALS) {
    it(`refused: ${name} → ${status} ${detail}`, T, async () => {
      const victim = uniq('victim');
      const token = await access(victim);
      const [credential, text = body(issSub(victim))] = await make(victim);
      const r = await revoke(credential, text);
      assertRefusal(r, status, type, title, detail, name);
      if (status === 401) assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="api"/, name);
      assert.equal((await get(token)).status, 200, `${name}: the victim still passes`);
      assert.equal(ctx.origin.requests.filter((q) => q.method === 'POST').length, 0, `${name}: nothing reached the origin`);
    });
  }

  it('one log line per call, and no credential in any line', T, async () => {
    const lines = logLines(ctx.worker).filter((l) => l.route === 'POST GTR_PATH');
    assert.ok(lines.length >= 6 + REFUSALS.length, `${lines.length} lines`);
    for (const l of lines) assert.ok(['revoke', 'reject'].includes(l.decision), JSON.stringify(l));
    const all = ctx.worker.logs();
    for (const t of used) assert.ok(!all.includes(t), 'a credential reached the log');
  });
});

describe('Global Token Revocation forwarded to the authorization server', () => {
  const AS_PATH = '/oauth2/v1/global-token-revocation';
  const ctx = useWorker(async (c) => ({
    ...BASE_VARS, ...GTR_VARS, GTR_FORWARD_URL: `${c.origin.url}${AS_PATH}`, GTR_FORWARD_TOKEN: FORWARD_TOKEN,
  }));

  it('the same body reaches it with the operator\'s credential, after the edge cutoff', T, async () => {
    const sub = uniq('grace');
    const token = await access(sub);
    const text = body(issSub(sub));
    const r = await call(ctx.base, GTR_PATH, { method: 'POST', token: await mintAssertion(), headers: { 'Content-Type': 'application/json' }, body: text });
    assert.equal(r.status, 204, r.text);
    const [sent] = ctx.origin.requests.filter((q) => q.url === AS_PATH);
    assert.ok(sent, 'the authorization server got the call');
    assert.equal(sent.method, 'POST');
    assert.equal(sent.headers.authorization, `Bearer ${FORWARD_TOKEN}`);
    assert.equal(sent.headers['content-type'], 'application/json');
    assert.equal(sent.body.toString('utf8'), text);
    assertSignedOut(await getWith(ctx, token), 'after the call');
  });
});

describe('Global Token Revocation whose forward fails', () => {
  const ctx = useWorker(async (c) => ({
    ...BASE_VARS, ...GTR_VARS, GTR_FORWARD_URL: `${c.origin.url}/__status/503`, GTR_FORWARD_TOKEN: FORWARD_TOKEN,
  }), { logLevel: 'log' });

  it('answers 422, and the edge cutoff stands', T, async () => {
    const sub = uniq('heidi');
    const token = await access(sub);
    const r = await call(ctx.base, GTR_PATH, { method: 'POST', token: await mintAssertion(), headers: { 'Content-Type': 'application/json' }, body: body(issSub(sub)) });
    assertRefusal(r, 422, 'not-forwarded', 'Unable to log the user out',
      'Access tokens are revoked at the edge, but the authorization server did not confirm the revocation of refresh tokens.', 'forward failed');
    assert.equal(ctx.origin.requests.filter((q) => q.url === '/__status/503').length, 1, 'one forward');
    assertSignedOut(await getWith(ctx, token), 'the edge cutoff stands');
    const [line] = await waitForLines(ctx.worker, (l) => l.reason === 'global_token_revocation' && l.sub === sub);
    assert.equal(line.decision, 'revoke');
    assert.match(line.note, /forward/);
  });
});

function getWith(ctx, token) {
  return call(ctx.base, '/hello', { token });
}

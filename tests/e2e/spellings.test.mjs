// Other spellings of the same thing, as origins read them. Many origin stacks
// fold `_` and `-` in header names together (CGI-style environments put both
// `X-User-Id` and `X_User_Id` under HTTP_X_USER_ID: WSGI, Rack, PHP), and
// ignore case. No client spelling of a claim header may reach the origin
// beside the one the worker sets from the verified token. Every request goes
// through the raw-socket helper, which sends header lines exactly as written,
// and the assertions are on exactly what the stub origin received.
// Run: node --test --test-concurrency=1 tests/e2e/spellings.test.mjs
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { buildWorkerOnce } from './support/worker.mjs';
import { mint, JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE } from './support/keys.mjs';
import { rawCall } from './support/http.mjs';
import { useWorker } from './support/setup.mjs';

buildWorkerOnce();

const VARS = {
  JWT_SECRET, JWT_JWKS, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE,
  FORWARD_CLAIMS: 'sub:X-User-Id,email:X-User-Email',
};
const T = { timeout: 30_000 };

/** What an origin that folds `_` into `-` and ignores case would take a header name for. */
const folded = (name) => name.toLowerCase().replaceAll('_', '-');

/** Every [name, value] the origin received whose name folds to `header`. */
function received(record, header) {
  const out = [];
  for (let i = 0; i < record.rawHeaders.length; i += 2) {
    if (folded(record.rawHeaders[i]) === header) out.push([record.rawHeaders[i], record.rawHeaders[i + 1]]);
  }
  return out;
}

describe('claim headers: no client spelling reaches the origin', () => {
  const ctx = useWorker(VARS);
  const SPOOFS = {
    'the exact name': [['X-User-Id', 'mallory']],
    'another case': [['x-USER-id', 'mallory']],
    'underscores': [['X_User_Id', 'mallory2']],
    'lower-case underscores': [['x_user_id', 'mallory3']],
    'mixed (x_USER-id)': [['x_USER-id', 'mallory4']],
    'mixed (X-USER_ID)': [['X-USER_ID', 'mallory5']],
    'the same spoof twice': [['X_User_Id', 'mallory6'], ['X_User_Id', 'mallory7']],
    'two spellings at once': [['X-User-Id', 'mallory8'], ['X_User_Id', 'mallory9'], ['x_USER-id', 'mallory10']],
    'repeated with an empty value': [['X_User_Id', ''], ['X_User_Id', '']],
    'an empty value beside a real one': [['X-User-Id', ''], ['X_User_Id', 'mallory11']],
  };

  for (const [name, lines] of Object.entries(SPOOFS)) {
    it(`${name}: the origin gets exactly one X-User-Id, the verified sub`, T, async () => {
      const token = await mint({ alg: 'ES256', claims: { sub: 'alice' } });
      const r = await rawCall(ctx.base, '/claims', { headers: [['Authorization', `Bearer ${token}`], ...lines] });
      assert.equal(r.status, 200, r.text);
      assert.equal(ctx.origin.requests.length, 1);
      const record = ctx.origin.requests[0];
      assert.deepEqual(received(record, 'x-user-id'), [['x-user-id', 'alice']], JSON.stringify(record.rawHeaders));
      assert.deepEqual(received(record, 'x-user-email'), [], 'the token has no email: no X-User-Email at all');
    });
  }

  it('spellings of a header whose claim the token lacks are all removed', T, async () => {
    const token = await mint({ alg: 'ES256', claims: { sub: 'alice' } });
    const lines = [['X-User-Email', 'root@evil.test'], ['X_User_Email', 'root@evil.test'], ['x_user-EMAIL', 'root@evil.test']];
    const r = await rawCall(ctx.base, '/claims', { headers: [['Authorization', `Bearer ${token}`], ...lines] });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(received(ctx.origin.requests[0], 'x-user-email'), []);
  });

  it('with the claim present, its header is the verified value only', T, async () => {
    const token = await mint({ alg: 'ES256', claims: { sub: 'alice', email: 'alice@example.com' } });
    const lines = [['X_User_Email', 'root@evil.test'], ['X-USER-EMAIL', 'root@evil.test']];
    const r = await rawCall(ctx.base, '/claims', { headers: [['Authorization', `Bearer ${token}`], ...lines] });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(received(ctx.origin.requests[0], 'x-user-email'), [['x-user-email', 'alice@example.com']]);
  });

  it('other headers with underscores pass untouched', T, async () => {
    const token = await mint({ alg: 'ES256', claims: { sub: 'alice' } });
    const r = await rawCall(ctx.base, '/claims', { headers: [['Authorization', `Bearer ${token}`], ['X_Request_Id', 'r-1'], ['X-User-Ids', 'keep']] });
    assert.equal(r.status, 200, r.text);
    const record = ctx.origin.requests[0];
    const lower = (pairs) => pairs.map(([n, v]) => [n.toLowerCase(), v]);
    assert.deepEqual(lower(received(record, 'x-request-id')), [['x_request_id', 'r-1']]);
    assert.deepEqual(lower(received(record, 'x-user-ids')), [['x-user-ids', 'keep']]);
  });

  it('without a token (a public path), every spelling is still removed', T, async () => {
    const r = await rawCall(ctx.base, '/claims', { headers: [['X_User_Id', 'mallory'], ['X-User-Id', 'mallory']] });
    // REQUIRE_TOKEN is on: no token is 401, and nothing reaches the origin.
    assert.equal(r.status, 401);
    assert.equal(ctx.origin.requests.length, 0);
  });
});

describe('claim headers: public paths forward without a token, with every spelling removed', () => {
  const ctx = useWorker({ ...VARS, PUBLIC_PATHS: '/public' });
  it('a public path: no claim header reaches the origin', T, async () => {
    const lines = [['X-User-Id', 'mallory'], ['X_User_Id', 'mallory'], ['x_USER-id', 'mallory'], ['X_USER_EMAIL', 'x@evil.test']];
    const r = await rawCall(ctx.base, '/public/page', { headers: lines });
    assert.equal(r.status, 200, r.text);
    const record = ctx.origin.requests[0];
    assert.deepEqual(received(record, 'x-user-id'), []);
    assert.deepEqual(received(record, 'x-user-email'), []);
  });
});

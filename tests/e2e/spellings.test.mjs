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

// ---------------------------------------------------------------------------
// The worker's own routes, spelled as origins take them: repeated and
// trailing slashes, other letter case, percent-encoded unreserved
// characters, `;` parameters and dot segments. Each is that route, answered
// by the worker: none reaches the origin.

/** `{id}` spelled every way an origin reads as GET /v2.0/tokens/{id}. */
const VALIDATE_SPELLINGS = (id) => [
  `/v2.0/tokens/${id}`,
  `/v2.0//tokens/${id}`,
  `/v2.0/tokens//${id}`,
  `/v2.0/tokens/${id}/`,
  `//v2.0/tokens/${id}`,
  `/V2.0/tokens/${id}`,
  `/v2.0/Tokens/${id}`,
  `/v2%2E0/tokens/${id}`,
  `/v2.0/%74okens/${id}`,
  `/v2.0/tokens/${id};v=1`,
  `/v2.0;x=1/tokens/${id}`,
  `/v2.0/./tokens/${id}`,
  `/v2.0/x/%2E%2E/tokens/${id}`,
];

/** DELETE /api/tokens spelled every way an origin reads it. */
const SIGN_OUT_SPELLINGS = [
  '/api/tokens/',
  '//api/tokens',
  '/api//tokens',
  '/API/tokens',
  '/api/TOKENS',
  '/%61pi/tokens',
  '/api/tokens;jsessionid=1',
  '/api/./tokens',
  '/api/x/%2e%2e/tokens',
];

describe("the worker's routes: every spelling is answered by the worker, none reaches the origin", () => {
  const ctx = useWorker({ ...VARS, INVALIDATE_API_KEYS: 'spell-key', OAUTH_CLIENTS: 'app:app-secret' });
  const admin = () => mint({ alg: 'RS256', claims: { sub: 'root', roles: ['identity:admin'] } });

  it('GET/HEAD /v2.0/tokens/{id}: a revoked token is 404 at the edge in every spelling', T, async () => {
    const jti = `spelled-${Date.now()}`;
    const token = await mint({ alg: 'ES256', claims: { sub: 'alice', jti } });
    const root = await admin();
    assert.equal((await rawCall(ctx.base, `/v2.0/tokens/${jti}`, { method: 'DELETE', headers: [['X-Auth-Token', root]] })).status, 204);
    // The same ID, and the revoked JWT itself, percent-encoded characters and all.
    const ids = [jti, jti.replace('-', '%2D'), token];
    for (const id of ids) {
      for (const path of VALIDATE_SPELLINGS(id)) {
        for (const method of ['GET', 'HEAD']) {
          ctx.origin.clear();
          const r = await rawCall(ctx.base, path, { method, headers: [['X-Auth-Token', root]] });
          assert.equal(r.status, 404, `${method} ${path}: ${r.status} ${r.text}`);
          assert.equal(ctx.origin.requests.length, 0, `${method} ${path} reached the origin`);
        }
      }
    }
    // An ID the edge knows nothing about is forwarded, with its path as sent.
    ctx.origin.clear();
    const r = await rawCall(ctx.base, '/v2.0//Tokens/unknown-id/', { headers: [['X-Auth-Token', root]] });
    assert.equal(r.status, 200);
    assert.equal(ctx.origin.requests[0].url, '/v2.0//Tokens/unknown-id/', 'the origin gets the path as the client sent it');
  });

  it('a validation whose ;parameters an origin may keep is checked with them too', T, async () => {
    const jti = `semi;colon-${Date.now()}`;
    const root = await admin();
    assert.equal((await rawCall(ctx.base, `/v2.0/tokens/${encodeURIComponent(jti)}`, { method: 'DELETE', headers: [['X-Auth-Token', root]] })).status, 204);
    ctx.origin.clear();
    const r = await rawCall(ctx.base, `/v2.0/tokens/${jti}`, { headers: [['X-Auth-Token', root]] });
    assert.equal(r.status, 404, r.text);
    assert.equal(ctx.origin.requests.length, 0);
  });

  for (const path of SIGN_OUT_SPELLINGS) {
    it(`DELETE ${path}: the caller is signed out at the edge`, T, async () => {
      const token = await mint({ alg: 'ES256', claims: { sub: 'alice' } });
      const r = await rawCall(ctx.base, path, { method: 'DELETE', headers: [['Authorization', `Bearer ${token}`]] });
      assert.equal(r.status, 204, r.text);
      assert.equal(ctx.origin.requests.length, 0, 'the sign-out never reached the origin');
      const after = await rawCall(ctx.base, '/hello', { headers: [['Authorization', `Bearer ${token}`]] });
      assert.equal(after.status, 401, 'the token is revoked');
      assert.equal(ctx.origin.requests.length, 0);
    });
  }

  it('DELETE /API/Tokens/?SCOPE=global: the query parameter name matches in any case', T, async () => {
    const sub = `scope-${Date.now()}`;
    const caller = await mint({ alg: 'ES256', claims: { sub, iat: Math.floor(Date.now() / 1000) - 10 } });
    const sibling = await mint({ alg: 'HS256', claims: { sub, iat: Math.floor(Date.now() / 1000) - 10 } });
    const r = await rawCall(ctx.base, '/API/Tokens/?SCOPE=global', { method: 'DELETE', headers: [['Authorization', `Bearer ${caller}`]] });
    assert.equal(r.status, 204, r.text);
    const after = await rawCall(ctx.base, '/hello', { headers: [['Authorization', `Bearer ${sibling}`]] });
    assert.equal(after.status, 401, 'a sign-out everywhere, not of the caller alone');
  });

  it('every other route family, oddly spelled, is answered by the worker', T, async () => {
    const root = await admin();
    const basic = `Basic ${Buffer.from('app:app-secret').toString('base64')}`;
    const form = 'application/x-www-form-urlencoded';
    const cases = [
      ['DELETE', '//v2.0/Tokens/?TokenId=some-id', [['X-Auth-Token', root]], undefined, 204],
      ['DELETE', '/API/users/sp%65lled-user/TOKENS/', [['X-Auth-Token', root]], undefined, 204],
      ['GET', '/api/Revocations/', [['X-Auth-Token', root]], undefined, 200],
      ['GET', '//api/cutoffs', [['X-Auth-Token', root]], undefined, 200],
      ['DELETE', '/api/revocations//no-such-id/', [['X-Auth-Token', root]], undefined, 404],
      ['POST', '/Token-Service/client//server/invalidate/token/', [['X-API-KEY', 'spell-key'], ['Content-Type', 'application/json']], '{"tokenReferenceId":"spelled-ref"}', 200],
      ['POST', '/OAuth/Revoke/', [['Authorization', basic], ['Content-Type', form]], 'token=not-a-jwt', 200],
      ['POST', '//oauth/introspect', [['Authorization', basic], ['Content-Type', form]], 'token=not-a-jwt', 200],
    ];
    for (const [method, path, headers, body, status] of cases) {
      ctx.origin.clear();
      const r = await rawCall(ctx.base, path, { method, headers, body });
      assert.equal(r.status, status, `${method} ${path}: ${r.status} ${r.text}`);
      assert.equal(ctx.origin.requests.length, 0, `${method} ${path} reached the origin`);
    }
  });

  it('paths that only look alike stay the origin\'s', T, async () => {
    const token = await mint({ alg: 'ES256', claims: { sub: 'alice' } });
    for (const path of ['/api/tokens.json', '/api/%2Ftokens', '/apis/tokens', '/x/api/tokens']) {
      ctx.origin.clear();
      const r = await rawCall(ctx.base, path, { method: 'DELETE', headers: [['Authorization', `Bearer ${token}`]] });
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.equal(ctx.origin.requests.length, 1, `${path} is the origin's`);
      assert.equal(ctx.origin.requests[0].url, path, 'forwarded exactly as sent');
    }
  });
});

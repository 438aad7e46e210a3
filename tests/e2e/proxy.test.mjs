// End-to-end tests of the proxy contract: the built worker under `wrangler dev`
// in front of a stub origin. Run: node --test --test-concurrency=1 tests/e2e/
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';

import { BIG_BODY } from '../../scripts/lib/origin.mjs';
import { buildWorkerOnce, freePort } from './support/worker.mjs';
import { useWorker } from './support/setup.mjs';
import { mint, signWith, keys, defaultClaims, now, JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE } from './support/keys.mjs';
import { call, rawCall, assertProblem } from './support/http.mjs';

// Fails (never skips) with a clear message when the worker is not built.
buildWorkerOnce();

const BASE_VARS = {
  JWT_SECRET,
  JWT_JWKS,
  JWT_ISSUER: ISSUER,
  JWT_AUDIENCE: AUDIENCE,
};

const CHALLENGE = 'Bearer realm="api"';
const INVALID_TOKEN_PREFIX = 'Bearer realm="api", error="invalid_token", error_description="';
const INVALID_REQUEST_PREFIX = 'Bearer realm="api", error="invalid_request", error_description="';

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const mediaType = (res) => (res.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();

function assertInvalidToken(r, origin, { json = false } = {}) {
  assertProblem(r, 401, { json });
  const wa = r.headers.get('www-authenticate') ?? '';
  assert.ok(wa.startsWith(INVALID_TOKEN_PREFIX), `WWW-Authenticate: ${wa}`);
  assert.ok(wa.endsWith('"'), `WWW-Authenticate not terminated: ${wa}`);
  assert.equal(origin.requests.length, 0, 'origin must not be called');
}

/** A missing token: 401 with the bare challenge and a problem body, nothing forwarded. */
function assertChallenged(r, origin, { json = false } = {}) {
  assertProblem(r, 401, { json });
  assert.equal(r.headers.get('www-authenticate'), CHALLENGE);
  assert.equal(origin.requests.length, 0);
}

function assertForwardedOk(r, origin, { method = 'GET', path = '/hello' } = {}) {
  assert.equal(r.status, 200, `expected 200, got ${r.status}: ${r.text}`);
  assert.equal(r.headers.get('x-origin'), 'stub');
  assert.equal(mediaType(r), 'application/json');
  assert.deepEqual(JSON.parse(r.text), { ok: true, method, path });
  assert.equal(origin.requests.length, 1, 'origin called exactly once');
  assert.equal(origin.requests[0].method, method);
}

describe('main config (secret + JWKS, issuer, audience)', () => {
  const ctx = useWorker(BASE_VARS);

  describe('missing token', () => {
    it('401 with a bare Bearer challenge and problem+json, nothing forwarded', async () => {
      assertChallenged(await call(ctx.base, '/hello'), ctx.origin);
    });

    it('Accept: application/json gives application/json error body', async () => {
      assertChallenged(await call(ctx.base, '/hello', { headers: { Accept: 'application/json' } }), ctx.origin, { json: true });
    });

    it('Accept: application/problem+json keeps problem+json', async () => {
      const r = await call(ctx.base, '/hello', { headers: { Accept: 'application/problem+json' } });
      assertProblem(r, 401);
    });

    it('POST with a body and no token is not forwarded', async () => {
      const r = await call(ctx.base, '/things', { method: 'POST', body: 'payload' });
      assertProblem(r, 401);
      assert.equal(ctx.origin.requests.length, 0);
    });
  });

  describe('token sources', () => {
    it('Authorization: Bearer is accepted and Authorization arrives unchanged', async () => {
      const t = await mint();
      const r = await call(ctx.base, '/hello', { token: t });
      assertForwardedOk(r, ctx.origin);
      assert.equal(ctx.origin.requests[0].headers.authorization, `Bearer ${t}`);
    });

    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      it(`scheme is case-insensitive: "${scheme}"`, async () => {
        const t = await mint();
        const r = await call(ctx.base, '/hello', { headers: { Authorization: `${scheme} ${t}` } });
        assertForwardedOk(r, ctx.origin);
        assert.equal(ctx.origin.requests[0].headers.authorization, `${scheme} ${t}`);
      });
    }

    it('X-Auth-Token is accepted', async () => {
      const t = await mint();
      const r = await call(ctx.base, '/hello', { headers: { 'X-Auth-Token': t } });
      assertForwardedOk(r, ctx.origin);
    });

    it('invalid X-Auth-Token is rejected', async () => {
      const t = await mint({ key: 'some-other-secret-that-is-long-enough' });
      const r = await call(ctx.base, '/hello', { headers: { 'X-Auth-Token': t } });
      assertInvalidToken(r, ctx.origin);
    });

    it('both headers with the same token are fine', async () => {
      const t = await mint();
      const r = await call(ctx.base, '/hello', { token: t, headers: { 'X-Auth-Token': t } });
      assertForwardedOk(r, ctx.origin);
    });

    it('both headers with different tokens → 400 invalid_request', async () => {
      const t1 = await mint();
      const t2 = await mint();
      assert.notEqual(t1, t2);
      const r = await call(ctx.base, '/hello', { token: t1, headers: { 'X-Auth-Token': t2 } });
      assertProblem(r, 400);
      const wa = r.headers.get('www-authenticate') ?? '';
      assert.ok(wa.startsWith(INVALID_REQUEST_PREFIX), `WWW-Authenticate: ${wa}`);
      assert.equal(ctx.origin.requests.length, 0);
    });
  });

  describe('valid tokens of every family are forwarded', () => {
    for (const alg of ['HS256', 'HS384', 'HS512', 'RS256', 'PS256', 'ES256', 'EdDSA']) {
      it(alg, async () => {
        const t = await mint({ alg });
        const r = await call(ctx.base, '/hello', { token: t });
        assertForwardedOk(r, ctx.origin);
        assert.equal(ctx.origin.requests[0].headers.authorization, `Bearer ${t}`);
      });
    }

    it('aud "api://other" (second configured audience) is accepted', async () => {
      const r = await call(ctx.base, '/hello', { token: await mint({ claims: { aud: 'api://other' } }) });
      assertForwardedOk(r, ctx.origin);
    });

    it('aud array containing one configured audience is accepted', async () => {
      const r = await call(ctx.base, '/hello', { token: await mint({ claims: { aud: ['api://unrelated', 'api://edge'] } }) });
      assertForwardedOk(r, ctx.origin);
    });

    it('expired within the default 60 s leeway is accepted', async () => {
      const t = now();
      const r = await call(ctx.base, '/hello', { token: await mint({ claims: { iat: t - 600, exp: t - 20 } }) });
      assertForwardedOk(r, ctx.origin);
    });

    it('nbf and iat slightly in the future (within leeway) are accepted', async () => {
      const t = now();
      const r = await call(ctx.base, '/hello', { token: await mint({ claims: { iat: t + 20, nbf: t + 20 } }) });
      assertForwardedOk(r, ctx.origin);
    });

    it('a ~6 KiB token is accepted', async () => {
      const token = await mint({ claims: { pad: 'p'.repeat(4400) } });
      assert.ok(token.length > 5500 && token.length < 8000, `token length ${token.length}`);
      const r = await call(ctx.base, '/hello', { token });
      assertForwardedOk(r, ctx.origin);
    });
  });

  describe('invalid tokens → 401 invalid_token, nothing forwarded', () => {
    const t = () => now();
    const cases = [
      ['HS256 signed with another secret', () => mint({ key: 'not-the-configured-secret-0123456789' })],
      ['RS256 signed by a different key with the same kid', () => mint({ alg: 'RS256', key: keys.wrongRsa })],
      ['PS256 signed by a different key with the same kid', () => mint({ alg: 'PS256', key: keys.wrongRsa })],
      ['ES256 with a tampered payload', async () => {
        const tok = await mint({ alg: 'ES256' });
        const [h, , s] = tok.split('.');
        const p = Buffer.from(JSON.stringify({ ...defaultClaims(), sub: 'mallory' })).toString('base64url');
        return `${h}.${p}.${s}`;
      }],
      ['EdDSA with a flipped signature bit', async () => {
        const tok = await mint({ alg: 'EdDSA' });
        const [h, p, s] = tok.split('.');
        const sig = Buffer.from(s, 'base64url');
        sig[5] ^= 0x01;
        return `${h}.${p}.${sig.toString('base64url')}`;
      }],
      ['expired beyond leeway', () => mint({ claims: { iat: t() - 900, exp: t() - 120 } })],
      ['nbf in the future beyond leeway', () => mint({ claims: { nbf: t() + 300 } })],
      ['iat in the future beyond leeway', () => mint({ claims: { iat: t() + 300, exp: t() + 900 } })],
      ['missing exp', () => mint({ claims: { exp: undefined } })],
      ['wrong iss', () => mint({ claims: { iss: 'https://evil.test' } })],
      ['missing iss', () => mint({ claims: { iss: undefined } })],
      ['wrong aud', () => mint({ claims: { aud: 'api://nope' } })],
      ['aud array with no configured audience', () => mint({ claims: { aud: ['api://nope', 'api://edg'] } })],
      ['aud equal to the whole comma list string', () => mint({ claims: { aud: 'api://edge,api://other' } })],
      ['missing aud', () => mint({ claims: { aud: undefined } })],
      ['alg none (unsigned)', () => signWith({ header: { alg: 'none', typ: 'JWT' }, payload: defaultClaims() })],
      ['alg "None" (unsigned)', () => signWith({ header: { alg: 'None', typ: 'JWT' }, payload: defaultClaims(), alg: 'none' })],
      ['alg not supported (HS1)', () => signWith({ header: { alg: 'HS1', typ: 'JWT' }, payload: defaultClaims(), alg: 'HS256' })],
      ['HS256 keyed with the RSA public key (alg confusion)', () => {
        const pem = keys.rsa.publicKey.export({ type: 'spki', format: 'pem' });
        return signWith({ header: { alg: 'HS256', typ: 'JWT', kid: 'rsa-1' }, payload: defaultClaims(), key: Buffer.from(pem) });
      }],
      ['unknown kid', () => mint({ alg: 'RS256', header: { kid: 'rsa-404' } })],
      ['ES256 token with the RSA kid', () => mint({ alg: 'ES256', header: { kid: 'rsa-1' } })],
      ['malformed: not a JWT', () => 'not-a-jwt'],
      ['malformed: three garbage segments', () => 'a.b.c'],
      ['malformed: two segments', async () => (await mint()).split('.').slice(0, 2).join('.')],
      ['malformed: header is not JSON', () => signWith({ header: '{"alg":"HS256",', payload: defaultClaims(), alg: 'HS256' })],
      ['malformed: payload is not JSON', () => signWith({ header: { alg: 'HS256', typ: 'JWT' }, payload: 'hello' })],
      ['malformed: bad base64 in signature', async () => `${(await mint()).split('.').slice(0, 2).join('.')}.***`],
      ['token larger than 8 KiB (validly signed)', async () => {
        const tok = await mint({ claims: { pad: 'p'.repeat(7000) } });
        assert.ok(tok.length > 8192, `token length ${tok.length}`);
        return tok;
      }],
    ];
    for (const [name, make] of cases) {
      it(name, async () => {
        const token = await make();
        const r = await call(ctx.base, '/hello', { token });
        assertInvalidToken(r, ctx.origin);
      });
    }

    it('expired token has error_description="token expired"', async () => {
      const token = await mint({ claims: { iat: now() - 900, exp: now() - 120 } });
      const r = await call(ctx.base, '/hello', { token });
      assertInvalidToken(r, ctx.origin);
      assert.equal(r.headers.get('www-authenticate'), `${INVALID_TOKEN_PREFIX}token expired"`);
    });

    it('Accept: application/json gives application/json for invalid tokens', async () => {
      const r = await call(ctx.base, '/hello', { token: 'a.b.c', headers: { Accept: 'application/json' } });
      assertInvalidToken(r, ctx.origin, { json: true });
    });

    it('invalid token on POST with a body: nothing forwarded', async () => {
      const r = await call(ctx.base, '/things', { method: 'POST', token: 'a.b.c', body: randomBytes(1024) });
      assertInvalidToken(r, ctx.origin);
    });
  });

  describe('forwarding fidelity', () => {
    let token;
    before(async () => {
      token = await mint({ alg: 'ES256', claims: { exp: now() + 3600 } });
    });

    for (const method of ['GET', 'DELETE', 'OPTIONS']) {
      it(`${method} /things/1`, async () => {
        const r = await call(ctx.base, '/things/1', { method, token });
        assertForwardedOk(r, ctx.origin, { method, path: '/things/1' });
        assert.equal(ctx.origin.requests[0].url, '/things/1');
        assert.equal(ctx.origin.requests[0].body.length, 0);
      });
    }

    it('HEAD /things/1', async () => {
      const r = await call(ctx.base, '/things/1', { method: 'HEAD', token });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-origin'), 'stub');
      assert.equal(r.buf.length, 0);
      assert.equal(ctx.origin.requests.length, 1);
      assert.equal(ctx.origin.requests[0].method, 'HEAD');
      assert.equal(ctx.origin.requests[0].url, '/things/1');
    });

    for (const method of ['POST', 'PUT', 'PATCH']) {
      it(`${method} /things/1 with a JSON body`, async () => {
        const body = JSON.stringify({ method, n: 42, s: 'héllo ✓' });
        const r = await call(ctx.base, '/things/1', {
          method, token, body, headers: { 'Content-Type': 'application/json' },
        });
        assertForwardedOk(r, ctx.origin, { method, path: '/things/1' });
        const rec = ctx.origin.requests[0];
        assert.equal(rec.url, '/things/1');
        assert.equal(rec.body.toString('utf8'), body);
        assert.equal(rec.headers['content-type'], 'application/json');
      });
    }

    it('5 MiB random POST body arrives byte-for-byte', async () => {
      const body = randomBytes(5 * 1024 * 1024);
      const r = await call(ctx.base, '/upload', {
        method: 'POST', token, body, headers: { 'Content-Type': 'application/octet-stream' },
      });
      assertForwardedOk(r, ctx.origin, { method: 'POST', path: '/upload' });
      const rec = ctx.origin.requests[0];
      assert.equal(rec.body.length, body.length);
      assert.equal(sha256(rec.body), sha256(body));
    });

    it('1 MiB origin response body comes back byte-for-byte', async () => {
      const r = await call(ctx.base, '/__big', { token });
      assert.equal(r.status, 200);
      assert.equal(r.buf.length, BIG_BODY.length);
      assert.equal(sha256(r.buf), sha256(BIG_BODY));
    });

    for (const path of [
      '/search?a=1&a=2&b=%20x&c',
      '/odd%20path/caf%C3%A9?q=a+b&r=%2F%3F&s=%zz&&t=&u==v',
      '/p%2Fq/x?',
      '/hello?%C3%BC=%C3%B6&x=%E2%9C%93&y=a%2Bb+c',
    ]) {
      it(`raw path+query arrives exactly: ${path}`, async () => {
        const r = await rawCall(ctx.base, path, { headers: [['Authorization', `Bearer ${token}`]] });
        assert.equal(r.status, 200, r.text);
        assert.equal(ctx.origin.requests.length, 1);
        assert.equal(ctx.origin.requests[0].url, path);
      });
    }

    it('unusual, long and repeated headers arrive', async () => {
      const long = 'L'.repeat(6000);
      const r = await rawCall(ctx.base, '/things/1', {
        headers: [
          ['Authorization', `Bearer ${token}`],
          ['X-Custom-Thing', 'v1'],
          ['X-Long-Value', long],
          ['X-Multi', 'first'],
          ['X-Multi', 'second'],
          ['X-Weird_Name.v2', 'a=b; c="d e"'],
        ],
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(ctx.origin.requests.length, 1);
      const h = ctx.origin.requests[0].headers;
      assert.equal(h['x-custom-thing'], 'v1');
      assert.equal(h['x-long-value'], long);
      assert.deepEqual(h['x-multi'].split(/,\s*/), ['first', 'second']);
      assert.equal(h['x-weird_name.v2'], 'a=b; c="d e"');
      assert.equal(h.authorization, `Bearer ${token}`);
    });

    it('302 from the origin is returned, not followed', async () => {
      const r = await call(ctx.base, '/__redirect', { token });
      assert.equal(r.status, 302);
      assert.equal(r.headers.get('location'), '/elsewhere');
      assert.equal(ctx.origin.requests.length, 1);
      assert.equal(ctx.origin.requests[0].url, '/__redirect');
    });

    for (const status of [201, 404, 418, 500, 503]) {
      it(`origin status ${status} and body pass through`, async () => {
        const r = await call(ctx.base, `/__status/${status}`, { token });
        assert.equal(r.status, status);
        assert.equal(r.text, `status ${status}`);
        assert.equal(mediaType(r), 'text/plain');
        assert.equal(ctx.origin.requests.length, 1);
      });
    }
  });
});

describe('JWT_ALGORITHMS allow-list (RS256,ES256)', () => {
  const ctx = useWorker({ ...BASE_VARS, JWT_ALGORITHMS: 'RS256,ES256' });

  for (const alg of ['RS256', 'ES256']) {
    it(`${alg} allowed`, async () => {
      const r = await call(ctx.base, '/hello', { token: await mint({ alg }) });
      assertForwardedOk(r, ctx.origin);
    });
  }
  for (const alg of ['HS256', 'HS512', 'PS256', 'EdDSA']) {
    it(`${alg} not allowed → 401`, async () => {
      const r = await call(ctx.base, '/hello', { token: await mint({ alg }) });
      assertInvalidToken(r, ctx.origin);
    });
  }
});

describe('PUBLIC_PATHS=/public,/health', () => {
  const ctx = useWorker({ ...BASE_VARS, PUBLIC_PATHS: '/public,/health' });

  it('/public/x without a token is forwarded', async () => {
    const r = await call(ctx.base, '/public/x');
    assertForwardedOk(r, ctx.origin, { path: '/public/x' });
    assert.equal(ctx.origin.requests[0].url, '/public/x');
  });

  it('/health without a token is forwarded', async () => {
    const r = await call(ctx.base, '/health');
    assertForwardedOk(r, ctx.origin, { path: '/health' });
  });

  it('/private without a token → 401', async () => {
    assertChallenged(await call(ctx.base, '/private'), ctx.origin);
  });

  it('/private with a valid token is forwarded', async () => {
    const r = await call(ctx.base, '/private', { token: await mint() });
    assertForwardedOk(r, ctx.origin, { path: '/private' });
  });
});

describe('REQUIRE_TOKEN=false', () => {
  const ctx = useWorker({ ...BASE_VARS, REQUIRE_TOKEN: 'false' });

  it('no token → forwarded', async () => {
    const r = await call(ctx.base, '/hello');
    assertForwardedOk(r, ctx.origin);
    assert.equal(ctx.origin.requests[0].headers.authorization, undefined);
  });

  it('valid token → forwarded', async () => {
    const r = await call(ctx.base, '/hello', { token: await mint({ alg: 'EdDSA' }) });
    assertForwardedOk(r, ctx.origin);
  });

  it('invalid token → still 401', async () => {
    const r = await call(ctx.base, '/hello', { token: await mint({ claims: { iss: 'https://evil.test' } }) });
    assertInvalidToken(r, ctx.origin);
  });

  it('expired token → still 401 "token expired"', async () => {
    const r = await call(ctx.base, '/hello', { token: await mint({ claims: { iat: now() - 900, exp: now() - 300 } }) });
    assertInvalidToken(r, ctx.origin);
    assert.equal(r.headers.get('www-authenticate'), `${INVALID_TOKEN_PREFIX}token expired"`);
  });
});

describe('no key configured', () => {
  const ctx = useWorker({ JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });

  for (const [name, opts] of [
    ['no token', {}],
    ['with an HS256 token', { tokenAlg: 'HS256' }],
    ['with an RS256 token', { tokenAlg: 'RS256' }],
  ]) {
    it(`${name} → 500 mentioning JWT_SECRET`, async () => {
      const token = opts.tokenAlg ? await mint({ alg: opts.tokenAlg }) : undefined;
      const r = await call(ctx.base, '/hello', { token });
      const body = assertProblem(r, 500);
      assert.match(body.detail, /JWT_SECRET/);
      assert.equal(ctx.origin.requests.length, 0);
    });
  }
});

describe('origin unreachable', () => {
  const ctx = useWorker(async () => ({ ...BASE_VARS, ORIGIN_URL: `http://127.0.0.1:${await freePort()}` }));

  it('valid token → 502 problem+json', async () => {
    const r = await call(ctx.base, '/hello', { token: await mint() });
    assertProblem(r, 502);
  });

  it('no token → still 401 (auth before forwarding)', async () => {
    const r = await call(ctx.base, '/hello');
    assertProblem(r, 401);
    assert.equal(r.headers.get('www-authenticate'), CHALLENGE);
  });
});

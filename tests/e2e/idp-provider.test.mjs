// End-to-end test with a real identity provider: `oidc-provider` (an OpenID
// Certified OpenID Provider implementing RP-Initiated Logout and Back-Channel
// Logout 1.0) runs on 127.0.0.1 as the IdP of the built worker (wrangler dev,
// local KV, a recording stub origin). Nothing in the logout path is forged by
// the test: the provider signs the tokens and sends the logout token itself.
//
// How it is wired (tests/e2e/support/provider.mjs):
// - Worker vars: JWT_JWKS_URL = the provider's jwks_uri (<issuer>/jwks),
//   JWT_ISSUER = its issuer (http://127.0.0.1:<port>), JWT_AUDIENCE = the
//   resource indicator of the API (RFC 8707), BACKCHANNEL_LOGOUT_AUDIENCE = the
//   client_id (logout tokens carry aud = client_id).
// - Grant: authorization code with PKCE (S256) for a confidential web client
//   (client_secret_basic), scope "openid api:read", resource = the API. The
//   user agent is scripted with fetch: it follows the redirects, submits the
//   provider's own development login and consent forms (features.devInteractions,
//   any login is accepted), takes the code from the redirect and redeems it.
// - JWT access tokens: features.resourceIndicators with one resource server
//   whose accessTokenFormat is 'jwt' (RS256, typ at+jwt, aud = the resource).
// - sid in the access token: the provider keeps the session's sid on each
//   access token but does not write it into the JWT; its documented
//   extraTokenClaims hook returns { sid: token.sid }, so the access token's sid
//   is the one the provider later puts into the logout token (the ID token
//   carries the same sid; the test checks all three agree).
// - Logout: RP-initiated logout at the provider's end-session endpoint
//   (GET /session/end with id_token_hint and post_logout_redirect_uri, then its
//   confirmation form submitted with logout=yes). The provider then POSTs the
//   logout token to the client's backchannel_logout_uri (the worker's
//   /oidc/backchannel-logout; backchannel_logout_session_required: true, so it
//   carries sid) and emits backchannel.success or backchannel.error.
// - Plain http, no TLS terminator. The provider accepts an http://
//   backchannel_logout_uri at registration (only a few other client URLs must
//   be https). What it refuses is delivering to loopback at all: its outgoing
//   requests run through an undici agent that drops connections to loopback,
//   private and other special-use addresses (SSRF protection), for https as for
//   http, so a TLS terminator on 127.0.0.1 would be refused the same way (the
//   last test shows the refusal). The provider's documented `fetch` option is
//   the setting for this: the harness sends requests to the registered
//   back-channel logout origin (the worker) without that agent; any other URL
//   keeps it.
// Run: node --test --test-concurrency=1 tests/e2e/idp-provider.test.mjs
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { startOrigin } from '../../scripts/lib/origin.mjs';
import { startWorker, buildWorkerOnce } from './support/worker.mjs';
import { call } from './support/http.mjs';
import {
  startProvider, payloadOf, headerOf, CookieJar, RESOURCE, API_SCOPE, CLIENT_ID, BACKCHANNEL_EVENT,
} from './support/provider.mjs';

buildWorkerOnce();

const START = { timeout: 90_000 };
const T = { timeout: 60_000 };
const LOGOUT_PATH = '/oidc/backchannel-logout';

function assertRevoked(r, what) {
  assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
  assert.match(r.headers.get('www-authenticate') ?? '', /error_description="token revoked"/, what);
}

describe('a real identity provider (oidc-provider): sign-in, RP-initiated logout, back-channel logout to the worker', () => {
  const ctx = {};
  /** Sessions signed in by the tests, by name (filled in file order). */
  const sessions = {};
  const get = (token, p = '/anything') => call(ctx.worker.url, p, { token });

  before(async () => {
    ctx.origin = await startOrigin();
    ctx.idp = await startProvider();
    ctx.worker = await startWorker({
      originUrl: ctx.origin.url,
      vars: {
        JWT_JWKS_URL: ctx.idp.jwksUri,
        JWT_ISSUER: ctx.idp.issuer,
        JWT_AUDIENCE: RESOURCE,
        BACKCHANNEL_LOGOUT_AUDIENCE: CLIENT_ID,
      },
    });
    ctx.idp.configure({ backchannelLogoutUri: `${ctx.worker.url}${LOGOUT_PATH}`, appUrl: ctx.worker.url });
  }, START);
  after(async () => {
    await ctx.worker?.stop();
    await ctx.idp?.close();
    await ctx.origin?.close();
  });
  beforeEach(() => ctx.origin?.clear());

  it('the provider publishes the issuer, key set and logout support the worker is configured with', T, async () => {
    const d = await ctx.idp.discovery();
    assert.equal(d.issuer, ctx.idp.issuer);
    assert.equal(d.jwks_uri, ctx.idp.jwksUri);
    assert.equal(d.backchannel_logout_supported, true);
    assert.equal(d.backchannel_logout_session_supported, true);
    assert.equal(d.end_session_endpoint, `${ctx.idp.issuer}/session/end`);
    assert.ok(d.code_challenge_methods_supported.includes('S256'));
  });

  it('a user signed in at the provider reaches the origin with its JWT access token, which carries the session sid', T, async () => {
    const alice = await ctx.idp.signIn('alice');
    const header = headerOf(alice.accessToken);
    const at = payloadOf(alice.accessToken);
    const id = payloadOf(alice.idToken);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, 'RS256');
    assert.equal(at.iss, ctx.idp.issuer);
    assert.equal(at.aud, RESOURCE);
    assert.equal(at.sub, 'alice');
    assert.equal(at.client_id, CLIENT_ID);
    assert.equal(at.scope, API_SCOPE);
    assert.ok(Number.isInteger(at.iat) && Number.isInteger(at.exp) && at.exp > at.iat, JSON.stringify(at));
    assert.equal(typeof at.sid, 'string');
    assert.ok(at.sid.length > 0);
    assert.equal(at.sid, id.sid, 'the access token and the ID token name the same session');

    const r = await get(alice.accessToken);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text), { ok: true, method: 'GET', path: '/anything' });
    assert.equal(ctx.origin.requests.length, 1);
    assert.equal(ctx.origin.requests[0].url, '/anything');
    sessions.alice = alice;
  });

  it('a second session of the same user and another user\'s session pass too, each with its own sid', T, async () => {
    assert.ok(sessions.alice, 'needs the sign-in test');
    const alice2 = await ctx.idp.signIn('alice'); // a new browser: a new session at the provider
    const bob = await ctx.idp.signIn('bob');
    const sids = [sessions.alice, alice2, bob].map((s) => payloadOf(s.accessToken).sid);
    assert.equal(new Set(sids).size, 3, `distinct sessions: ${sids}`);
    for (const s of [alice2, bob]) {
      const r = await get(s.accessToken);
      assert.equal(r.status, 200, `${s.login}: ${r.text}`);
    }
    assert.equal(ctx.origin.requests.length, 2);
    sessions.alice2 = alice2;
    sessions.bob = bob;
  });

  it('ending the session at the provider: it sends the logout token, and the worker rejects that session\'s token', T, async () => {
    const { alice, alice2, bob } = sessions;
    assert.ok(alice && alice2 && bob, 'needs the sign-in tests');
    const sid = payloadOf(alice.accessToken).sid;
    const since = ctx.idp.events.length;

    const { location } = await ctx.idp.endSession(alice);
    assert.equal(location.pathname, '/signed-out');
    assert.equal(location.searchParams.get('state'), 'bye');

    // The provider reports the delivery; on failure its error is in the message.
    const done = await ctx.idp.waitForEvent((e) => e.name === 'backchannel.success' || e.name === 'backchannel.error', { since });
    assert.equal(done.name, 'backchannel.success', JSON.stringify(done));
    assert.equal(done.sid, sid);
    assert.equal(done.accountId, 'alice');

    // Exactly one request went out: the logout token to the worker, answered 200 empty, no-store.
    const sent = ctx.idp.events.slice(since).filter((e) => e.name === 'outgoing');
    assert.equal(sent.length, 1, JSON.stringify(sent));
    const [delivery] = sent;
    assert.equal(delivery.url, `${ctx.worker.url}${LOGOUT_PATH}`);
    assert.equal(delivery.method, 'POST');
    assert.equal(delivery.status, 200, JSON.stringify(delivery));
    assert.equal(delivery.responseBody, '');
    assert.match(delivery.headers['cache-control'] ?? '', /no-store/);
    const logoutToken = new URLSearchParams(delivery.body).get('logout_token');
    const lt = payloadOf(logoutToken);
    assert.equal(lt.iss, ctx.idp.issuer);
    assert.deepEqual([lt.aud].flat(), [CLIENT_ID]);
    assert.equal(lt.sid, sid);
    assert.equal(lt.sub, 'alice');
    assert.ok(lt.events && BACKCHANNEL_EVENT in lt.events, JSON.stringify(lt));
    assert.equal(lt.nonce, undefined);
    assert.ok(lt.iat >= payloadOf(alice.accessToken).iat, 'the logout comes after the token was issued');
    // The delivery never went through the worker's proxy path.
    assert.equal(ctx.origin.requests.length, 0, 'the logout token was not forwarded to the origin');

    // The session's token is refused, and the origin sees nothing of it.
    assertRevoked(await get(alice.accessToken), 'the signed-out session\'s access token');
    assertRevoked(await get(alice.accessToken, '/another/path?x=1'), 'the same token on another path');
    assert.equal(ctx.origin.requests.length, 0, 'the origin recorded nothing more');

    // The same user's other session and another user's session are untouched.
    for (const s of [alice2, bob]) {
      const r = await get(s.accessToken);
      assert.equal(r.status, 200, `${s.login} (sid ${payloadOf(s.accessToken).sid}): ${r.text}`);
    }
    assert.equal(ctx.origin.requests.length, 2);
  });

  it('signing in again after the logout gives a new session whose token passes', T, async () => {
    const { alice } = sessions;
    assert.ok(alice, 'needs the sign-in test');
    // The old browser's session cookie is gone; this is a new session with a new sid.
    const again = await ctx.idp.signIn('alice', { jar: alice.jar });
    assert.notEqual(payloadOf(again.accessToken).sid, payloadOf(alice.accessToken).sid);
    const r = await get(again.accessToken);
    assert.equal(r.status, 200, r.text);
    assertRevoked(await get(alice.accessToken), 'the signed-out session\'s token, still');
    assert.equal(ctx.origin.requests.length, 1);
  });
});

describe('why the harness sets the provider\'s fetch option', () => {
  it('by default the provider refuses to deliver a logout token to a loopback address', T, async (t) => {
    const received = [];
    const rp = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received.push(req.url);
        res.writeHead(200, { 'Cache-Control': 'no-store' });
        res.end();
      });
    });
    await new Promise((resolve) => rp.listen(0, '127.0.0.1', resolve));
    const idp = await startProvider();
    t.after(async () => {
      await idp.close();
      await new Promise((resolve) => rp.close(resolve));
    });
    const rpUrl = `http://127.0.0.1:${rp.address().port}`;
    // Registration accepts the http:// loopback URI; only delivery is refused.
    idp.configure({ backchannelLogoutUri: `${rpUrl}${LOGOUT_PATH}`, appUrl: rpUrl, loopbackDelivery: false });

    const carol = await idp.signIn('carol', { jar: new CookieJar() });
    const since = idp.events.length;
    await idp.endSession(carol);
    const done = await idp.waitForEvent((e) => e.name === 'backchannel.success' || e.name === 'backchannel.error', { since });
    assert.equal(done.name, 'backchannel.error', JSON.stringify(done));
    assert.match(done.cause, /special-use IP address/);
    assert.deepEqual(received, [], 'nothing reached the loopback receiver');
  });
});

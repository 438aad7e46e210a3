// End-to-end tests of revocation driven by the identity provider: OpenID
// Connect Back-Channel Logout (POST /oidc/backchannel-logout, logout tokens
// shaped as Keycloak sends them), Shared Signals (POST /ssf/events, security
// event tokens pushed by a transmitter with its own key) and the caller's own
// session sign-out (DELETE /api/tokens?scope=session). The built worker runs
// under `wrangler dev` with local KV in front of a recording stub origin; all
// keys are generated per run (support/keys.mjs).
// Run: node --test --test-concurrency=1 tests/e2e/idp.test.mjs
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';

import { buildWorkerOnce } from './support/worker.mjs';
import {
  mint, mintLogout, mintSet, logoutClaims, setClaims, signWith, issSub, keys, now,
  JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE,
  LOGOUT_AUDIENCE, BACKCHANNEL_LOGOUT_EVENT, SSF_ISSUER, SSF_AUDIENCE, SSF_AUD, SSF_JWKS, EVENTS,
} from './support/keys.mjs';
import { call, assertProblem } from './support/http.mjs';
import { useWorker } from './support/setup.mjs';
import { logLines, waitForLines } from './support/logs.mjs';

buildWorkerOnce();

const LEEWAY = 30;
const BASE_VARS = { JWT_SECRET, JWT_JWKS, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWT_LEEWAY_SECONDS: String(LEEWAY) };
const RECEIVER_VARS = { ...BASE_VARS, BACKCHANNEL_LOGOUT_AUDIENCE: LOGOUT_AUDIENCE, SSF_ISSUER, SSF_AUDIENCE, SSF_JWKS };
const LOGOUT = '/oidc/backchannel-logout';
const SSF = '/ssf/events';
const FORM = 'application/x-www-form-urlencoded';
const SET_TYPE = 'application/secevent+jwt';
const T = { timeout: 30_000 };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const uniq = (p) => `${p}-${randomBytes(4).toString('hex')}`;
const payloadOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
const mediaOf = (r) => String(r.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();

function assertRevoked(r, what) {
  assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
  assert.match(r.headers.get('www-authenticate') ?? '', /error_description="token revoked"/, what);
}

/** 400 with exactly {"error":"invalid_request","error_description":<description>} (Back-Channel Logout §2.8). */
function assertLogoutError(r, description, what = description) {
  assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
  assert.equal(mediaOf(r), 'application/json', `${what}: content-type ${r.headers.get('content-type')}`);
  assert.equal(r.headers.get('cache-control'), 'no-store', `${what}: cache-control`);
  assert.deepEqual(JSON.parse(r.text), { error: 'invalid_request', error_description: description }, what);
}

/** 400 with exactly {"err":<err>,"description":<description>} (RFC 8935 §2.3). */
function assertSetError(r, err, description, what = `${err}: ${description}`) {
  assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
  assert.equal(mediaOf(r), 'application/json', `${what}: content-type ${r.headers.get('content-type')}`);
  assert.equal(r.headers.get('cache-control'), 'no-store', `${what}: cache-control`);
  assert.deepEqual(JSON.parse(r.text), { err, description }, what);
}


// ---------------------------------------------------------------------------

describe('identity provider routes (receivers configured)', () => {
  const ctx = useWorker(RECEIVER_VARS, { logLevel: 'log' });
  /** Every token sent to this worker: none may appear in its log. */
  const used = new Set();
  const track = (t) => (used.add(t), t);
  /**
   * An access token (RS256, as the identity provider signs them) of `sub`, in
   * session `sid` when given. `iat: undefined` leaves iat out; no `iat` is now.
   */
  const access = async ({ sub, sid, ...rest } = {}) =>
    track(await mint({ alg: 'RS256', claims: { sub, ...(sid === undefined ? {} : { sid }), iat: now(), exp: now() + 900, ...rest } }));
  const get = (token, p = '/hello') => call(ctx.base, p, { token });
  /** GET with each token; every one must pass, then the origin's record is cleared. */
  async function allPass(tokens, what) {
    for (const [name, t] of Object.entries(tokens)) {
      const r = await get(t);
      assert.equal(r.status, 200, `${what}: ${name} ${r.status} ${r.text}`);
    }
    ctx.origin.clear();
  }

  /** How many requests each receiver got, and what each accepted jti must have logged. */
  const sentTo = { [LOGOUT]: 0, [SSF]: 0 };
  /** jti → { count, line: expected members } for accepted logout tokens and SETs. */
  const accepted = new Map();
  const expectLine = (jti, line) => {
    const e = accepted.get(jti) ?? { count: 0, line };
    e.count++;
    accepted.set(jti, e);
  };

  /** POST a logout token as the form body (or `body` verbatim). */
  const logout = (token, { body } = {}) => {
    sentTo[LOGOUT]++;
    if (token !== undefined) track(token);
    return call(ctx.base, LOGOUT, { method: 'POST', headers: { 'Content-Type': FORM }, body: body ?? new URLSearchParams({ logout_token: token }).toString() });
  };
  /** POST a SET (or `body` verbatim) with the SET media type (or `contentType`). */
  const push = (set, { body, contentType = SET_TYPE } = {}) => {
    sentTo[SSF]++;
    if (set !== undefined) track(set);
    return call(ctx.base, SSF, { method: 'POST', headers: contentType === null ? {} : { 'Content-Type': contentType }, body: body ?? set });
  };
  const tokenLogout = async (o) => track(await mintLogout(o));
  const tokenSet = async (o) => track(await mintSet(o));

  function assertLoggedOut(r, what = 'logout') {
    assert.equal(r.status, 200, `${what}: ${r.status} ${r.text}`);
    assert.equal(r.text, '', `${what}: empty body`);
    assert.equal(r.headers.get('cache-control'), 'no-store', `${what}: cache-control`);
  }
  function assertAcceptedSet(r, what = 'SET') {
    assert.equal(r.status, 202, `${what}: ${r.status} ${r.text}`);
    assert.equal(r.text, '', `${what}: empty body`);
  }

  // -------------------------------------------------------------------------
  describe('POST /oidc/backchannel-logout', () => {
    it('a Keycloak logout token ends its session at its iat: the session 401s, nothing is forwarded; the other session and later tokens pass; a replay changes nothing', T, async () => {
      const sub = uniq('kc-user');
      const sid = randomUUID();
      const t0 = now();
      // Delivered 20 s late: the cutoff is the token's iat, not the time it arrived.
      const iat = t0 - 20;
      const lt = await tokenLogout({ claims: { sub, sid, iat, exp: iat + 120 } });
      assert.deepEqual(JSON.parse(Buffer.from(lt.split('.')[0], 'base64url')), { alg: 'RS256', typ: 'logout+jwt', kid: 'rsa-1' });
      assert.deepEqual(Object.keys(payloadOf(lt)), ['iat', 'exp', 'jti', 'iss', 'aud', 'sub', 'typ', 'sid', 'events']);

      const session = {
        old: await access({ sub, sid, iat: t0 - 600 }),
        atCutoff: await access({ sub, sid, iat }),
        noIat: await access({ sub, sid, iat: undefined }),
      };
      const survivors = {
        issuedAfter: await access({ sub, sid, iat: iat + 1 }),
        otherSession: await access({ sub, sid: randomUUID(), iat: t0 - 600 }),
        noSession: await access({ sub, iat: t0 - 600 }),
        otherUser: await access({ sub: uniq('bystander'), sid: randomUUID(), iat: t0 - 600 }),
      };
      await allPass({ ...session, ...survivors }, 'before the logout');

      const r = await logout(lt);
      assertLoggedOut(r);
      expectLine(payloadOf(lt).jti, { decision: 'revoke', reason: 'backchannel_logout', sid, sub, event_type: BACKCHANNEL_LOGOUT_EVENT });
      assert.equal(ctx.origin.requests.length, 0, 'the logout is never forwarded');

      for (const [name, t] of Object.entries(session)) assertRevoked(await get(t), `session token ${name}`);
      assert.equal(ctx.origin.requests.length, 0, 'revoked tokens are not forwarded');
      await allPass(survivors, 'after the logout');

      // A replay answers 200 again and changes nothing.
      const again = await logout(lt);
      assertLoggedOut(again, 'replay');
      expectLine(payloadOf(lt).jti, {});
      await allPass({ ...survivors, fresh: await access({ sub, sid, iat: now() }) }, 'after the replay');
      for (const [name, t] of Object.entries(session)) assertRevoked(await get(t), `after the replay: ${name}`);

      // An older logout token of the same session does not move the cutoff back.
      const older = await tokenLogout({ claims: { sub, sid, iat: iat - 30, exp: iat + 90 } });
      assertLoggedOut(await logout(older), 'an older logout token');
      expectLine(payloadOf(older).jti, { decision: 'revoke', reason: 'backchannel_logout', sid });
      assertRevoked(await get(session.atCutoff), 'cutoff kept at the later iat');
      await allPass(survivors, 'after the older logout token');
    });

    it('a logout token with only sub ends every token of the subject issued at or before its iat', T, async () => {
      const sub = uniq('kc-sub-only');
      const t0 = now();
      const iat = t0 - 10;
      const lt = await tokenLogout({ claims: { sub, sid: undefined, iat } });
      const gone = {
        sessionA: await access({ sub, sid: randomUUID(), iat: t0 - 100 }),
        sessionB: await access({ sub, sid: randomUUID(), iat }),
        noSession: await access({ sub, iat: t0 - 50 }),
      };
      const kept = {
        issuedAfter: await access({ sub, sid: randomUUID(), iat: iat + 1 }),
        otherUser: await access({ sub: uniq('bystander'), iat: t0 - 100 }),
      };
      await allPass({ ...gone, ...kept }, 'before');
      assertLoggedOut(await logout(lt));
      expectLine(payloadOf(lt).jti, { decision: 'revoke', reason: 'backchannel_logout', sub, event_type: BACKCHANNEL_LOGOUT_EVENT });
      for (const [name, t] of Object.entries(gone)) assertRevoked(await get(t), name);
      assert.equal(ctx.origin.requests.length, 0);
      await allPass(kept, 'after');
      assertLoggedOut(await logout(lt), 'replay');
      expectLine(payloadOf(lt).jti, {});
      await allPass(kept, 'after the replay');
    });

    it("Keycloak's revoke_offline_access event member, an aud array with the second client ID, and no exp within 300 s + leeway are accepted", T, async () => {
      const t0 = now();
      const cases = [
        { name: 'revoke_offline_access', claims: { events: { [BACKCHANNEL_LOGOUT_EVENT]: {}, revoke_offline_access: true } } },
        // Every audience one of ours (an untrusted extra one is refused: edges.test.mjs).
        { name: 'aud array', claims: { aud: LOGOUT_AUDIENCE.split(',') } },
        { name: 'no exp, iat 300 s + leeway - 10 s ago', claims: { exp: undefined, iat: t0 - (300 + LEEWAY - 10) } },
        // Within the leeway ahead: accepted, and the cutoff is that iat (the
        // provider's clock, which its access tokens carry too).
        { name: `iat ${LEEWAY - 10} s ahead`, claims: { iat: t0 + LEEWAY - 10, exp: t0 + 300 } },
      ];
      for (const c of cases) {
        const sub = uniq('kc-var');
        const sid = randomUUID();
        const lt = await tokenLogout({ claims: { sub, sid, ...c.claims } });
        const before = await access({ sub, sid, iat: t0 - (300 + LEEWAY) });
        await allPass({ before }, c.name);
        assertLoggedOut(await logout(lt), c.name);
        expectLine(payloadOf(lt).jti, { decision: 'revoke', reason: 'backchannel_logout', sid });
        assertRevoked(await get(before), c.name);
        if (c.claims.iat > t0) {
          // The provider issued this one just before the logout, by its clock
          // (ahead of ours): revoked. One it issues after passes at once.
          assertRevoked(await get(await access({ sub, sid, iat: c.claims.iat - 1 })), `${c.name}: issued just before`);
          await allPass({ later: await access({ sub, sid, iat: c.claims.iat + 1 }) }, `${c.name}: a token issued after`);
        }
      }
    });

    it('a logout token is never an access token: offered as a bearer it is 401, even with the API in its aud', T, async () => {
      const lt = await tokenLogout({ claims: { aud: [LOGOUT_AUDIENCE.split(',')[0], 'api://edge'] } });
      const r = await get(lt);
      assertProblem(r, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
      // A SET-shaped token signed by an access-token key, with the API's aud: refused the same way.
      const setLike = track(await mint({ alg: 'RS256', claims: { events: { [EVENTS.accountDisabled]: {} } } }));
      assertProblem(await get(setLike), 401);
      assert.equal(ctx.origin.requests.length, 0);
      // With the API in its aud it is no good logout token either: an
      // audience the client does not trust (OpenID Connect Core §3.1.3.7).
      assertLogoutError(await logout(lt), 'audience not accepted');
      // With our audience alone it is one, and still never an access token.
      const ours = await tokenLogout({});
      assertProblem(await get(ours), 401);
      assertLoggedOut(await logout(ours));
      expectLine(payloadOf(ours).jti, { decision: 'revoke', reason: 'backchannel_logout' });
    });

    it('refusals: 400 application/json {error, error_description}, no-store; the targeted session still passes', T, async () => {
      const t0 = now();
      const sub = uniq('kc-target');
      const sid = randomUUID();
      const victim = await access({ sub, sid, iat: t0 - 5 });
      const victimSub = await access({ sub, iat: t0 - 5 });
      const target = { sub, sid };
      const valid = () => tokenLogout({ claims: target });
      const cases = [
        ['aud is the access-token audience', 'audience not accepted', () => tokenLogout({ claims: { ...target, aud: 'api://edge' } })],
        ['aud missing', 'audience not accepted', () => tokenLogout({ claims: { ...target, aud: undefined } })],
        ['nonce present', 'nonce must be absent', () => tokenLogout({ claims: { ...target, nonce: 'n-0S6_WzA2Mj' } })],
        ['events missing', 'events must hold the back-channel logout event', () => tokenLogout({ claims: { ...target, events: undefined } })],
        ['events {}', 'events must hold the back-channel logout event', () => tokenLogout({ claims: { ...target, events: {} } })],
        ['logout event member true', 'events must hold the back-channel logout event', () => tokenLogout({ claims: { ...target, events: { [BACKCHANNEL_LOGOUT_EVENT]: true } } })],
        ['events an array', 'events must hold the back-channel logout event', () => tokenLogout({ claims: { ...target, events: [BACKCHANNEL_LOGOUT_EVENT] } })],
        ['neither sid nor sub', 'sid or sub is required', () => tokenLogout({ claims: { sub: undefined, sid: undefined } })],
        ['iat missing', 'iat is required', () => tokenLogout({ claims: { ...target, iat: undefined } })],
        ['jti missing', 'jti is required', () => tokenLogout({ claims: { ...target, jti: undefined } })],
        ['iss of another issuer', 'issuer not accepted', () => tokenLogout({ claims: { ...target, iss: 'https://evil.test' } })],
        ['exp past the leeway', 'token expired', () => tokenLogout({ claims: { ...target, iat: t0 - 200, exp: t0 - LEEWAY - 5 } })],
        ['no exp, iat older than 300 s + leeway', 'token too old', () => tokenLogout({ claims: { ...target, exp: undefined, iat: t0 - (300 + LEEWAY + 10) } })],
        ['iat beyond the leeway ahead', 'token issued in the future', () => tokenLogout({ claims: { ...target, iat: t0 + LEEWAY + 60, exp: t0 + 600 } })],
        ['signed by another key under kid rsa-1', 'invalid signature', () => tokenLogout({ claims: target, key: keys.wrongRsa })],
        ['signature of another logout token', 'invalid signature', async () => {
          const [h, p] = (await valid()).split('.');
          return `${h}.${p}.${(await valid()).split('.')[2]}`;
        }],
        ['unknown kid', 'unknown signing key', () => tokenLogout({ claims: target, header: { kid: 'rsa-404' } })],
        // An unsecured JWT (RFC 7519 §6: empty signature) fails the token's shape check first.
        ['alg none, empty signature', 'malformed token', () => signWith({ header: { alg: 'none', typ: 'logout+jwt' }, payload: { ...logoutClaims(), ...target } })],
        ['alg none, HMAC signature by JWT_SECRET', 'algorithm not allowed', () => signWith({ header: { alg: 'none', typ: 'logout+jwt' }, payload: { ...logoutClaims(), ...target }, alg: 'HS256' })],
        ['jwk in the header', 'unsupported token header', () => tokenLogout({ claims: target, header: { jwk: { ...keys.rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-1' } } })],
        ['not a JWT', 'malformed token', () => 'not-a-jwt'],
        ['over 8 KiB', 'token too large', () => tokenLogout({ claims: { ...target, pad: 'p'.repeat(9000) } })],
      ];
      for (const [name, description, make] of cases) {
        const lt = track(await make());
        assertLogoutError(await logout(lt), description, name);
      }
      // Form faults: the token is never reached.
      const lt = await valid();
      const forms = [
        ['no logout_token', 'state=x'],
        ['empty logout_token', 'logout_token='],
        ['two logout_token', `logout_token=${lt}&logout_token=${lt}`],
        ['logout_token with a different name case', `Logout_Token=${lt}`],
        ['empty body', ''],
      ];
      for (const [name, body] of forms) assertLogoutError(await logout(undefined, { body }), 'one logout_token is required', name);
      const big = `logout_token=${lt}&pad=${'x'.repeat(16 * 1024)}`;
      assertLogoutError(await logout(undefined, { body: big }), 'the body is not a form of at most 16 KiB', 'body over 16 KiB');
      assert.equal(ctx.origin.requests.length, 0, 'no refusal was forwarded');
      await allPass({ victim, victimSub }, 'after every refusal');
    });
  });

  // -------------------------------------------------------------------------
  describe('POST /ssf/events', () => {
    const complex = (sub, sid, iss = ISSUER) => ({ format: 'complex', user: issSub(sub, iss), session: { format: 'opaque', id: sid } });
    /** A transmitter's claims disabling the account of `sub`. */
    const setClaimsFor = (sub) => ({ ...setClaims(), sub_id: issSub(sub), events: { [EVENTS.accountDisabled]: {} } });

    it('CAEP session-revoked with a complex sub_id ends that session at event_timestamp; the other session passes; a replay changes nothing', T, async () => {
      const sub = uniq('ssf-user');
      const sid = uniq('ssf-sid');
      const t0 = now();
      const ts = t0 - 20;
      const set = await tokenSet({ claims: { iat: t0, sub_id: complex(sub, sid), events: { [EVENTS.sessionRevoked]: { event_timestamp: ts, initiating_entity: 'policy', reason_admin: { en: 'Landspeed Policy Violation' } } } } });
      assert.deepEqual(JSON.parse(Buffer.from(set.split('.')[0], 'base64url')), { alg: 'RS256', typ: 'secevent+jwt', kid: 'ssf-1' });
      const gone = { old: await access({ sub, sid, iat: t0 - 300 }), atTimestamp: await access({ sub, sid, iat: ts }) };
      const kept = {
        // After the event, though before the SET was issued: the cutoff is event_timestamp.
        afterEvent: await access({ sub, sid, iat: ts + 1 }),
        otherSession: await access({ sub, sid: uniq('ssf-sid'), iat: t0 - 300 }),
        noSession: await access({ sub, iat: t0 - 300 }),
      };
      await allPass({ ...gone, ...kept }, 'before');
      assertAcceptedSet(await push(set));
      expectLine(payloadOf(set).jti, { decision: 'revoke', reason: 'security_event', sid, event_type: EVENTS.sessionRevoked });
      assert.equal(ctx.origin.requests.length, 0, 'the SET is never forwarded');
      for (const [name, t] of Object.entries(gone)) assertRevoked(await get(t), name);
      assert.equal(ctx.origin.requests.length, 0);
      await allPass(kept, 'after');
      assertAcceptedSet(await push(set), 'replay');
      expectLine(payloadOf(set).jti, {});
      await allPass({ ...kept, fresh: await access({ sub, sid }) }, 'after the replay');
    });

    it("the event's own subject (no sub_id), no event_timestamp: session-revoked for an iss_sub user cuts the subject off at the SET's iat", T, async () => {
      const sub = uniq('ssf-subject');
      const t0 = now();
      const iat = t0 - 10;
      const set = await tokenSet({ claims: { iat, sub_id: undefined, events: { [EVENTS.sessionRevoked]: { subject: issSub(sub) } } } });
      const gone = { a: await access({ sub, sid: uniq('s'), iat: t0 - 60 }), b: await access({ sub, iat }) };
      const kept = { after: await access({ sub, iat: iat + 1 }), other: await access({ sub: uniq('bystander'), iat: t0 - 60 }) };
      await allPass({ ...gone, ...kept }, 'before');
      assertAcceptedSet(await push(set));
      expectLine(payloadOf(set).jti, { decision: 'revoke', reason: 'security_event', sub, event_type: EVENTS.sessionRevoked });
      for (const [name, t] of Object.entries(gone)) assertRevoked(await get(t), name);
      await allPass(kept, 'after');
    });

    it('an event_timestamp far in the future cuts off at most the leeway ahead, not later', T, async () => {
      const sub = uniq('ssf-future');
      const t0 = now();
      const set = await tokenSet({ claims: { sub_id: issSub(sub), events: { [EVENTS.credentialChange]: { credential_type: 'password', change_type: 'update', event_timestamp: t0 + 3600 } } } });
      const before = await access({ sub, iat: t0 - 1 });
      // Issued by a provider running ahead, within the leeway: before the cutoff.
      const ahead = await access({ sub, iat: t0 + LEEWAY - 1 });
      await allPass({ before, ahead }, 'before');
      assertAcceptedSet(await push(set));
      expectLine(payloadOf(set).jti, { decision: 'revoke', reason: 'security_event', sub });
      assertRevoked(await get(before), 'issued before');
      assertRevoked(await get(ahead), 'issued ahead, within the leeway');
      await sleep(1100);
      await allPass({ later: await access({ sub, iat: Math.max(now(), t0 + 1) + LEEWAY }) }, 'a token issued after the cutoff');
    });

    it('CAEP credential-change and RISC sessions-revoked, tokens-revoked, account-disabled each end every token of the subject', T, async () => {
      for (const type of [EVENTS.credentialChange, EVENTS.sessionsRevoked, EVENTS.tokensRevoked, EVENTS.accountDisabled]) {
        const sub = uniq('ssf-risc');
        const t0 = now();
        const body = type === EVENTS.credentialChange ? { credential_type: 'password', change_type: 'update' } : {};
        const set = await tokenSet({ claims: { iat: t0, sub_id: issSub(sub), events: { [type]: { ...body, event_timestamp: t0 - 5 } } } });
        const gone = { s1: await access({ sub, sid: uniq('s'), iat: t0 - 100 }), s2: await access({ sub, sid: uniq('s'), iat: t0 - 5 }) };
        const kept = { after: await access({ sub, sid: uniq('s'), iat: t0 - 4 }), other: await access({ sub: uniq('bystander'), iat: t0 - 100 }) };
        await allPass({ ...gone, ...kept }, type);
        assertAcceptedSet(await push(set), type);
        expectLine(payloadOf(set).jti, { decision: 'revoke', reason: 'security_event', sub, event_type: type });
        for (const [name, t] of Object.entries(gone)) assertRevoked(await get(t), `${type}: ${name}`);
        assert.equal(ctx.origin.requests.length, 0);
        await allPass(kept, `${type}: after`);
      }
    });

    it("Google's tokens-revoked (OAuth event type URI, the event's own subject with subject_type iss-sub) ends every token of the user", T, async () => {
      const sub = uniq('ssf-google');
      const t0 = now();
      // Google's shape: no sub_id, the subject inside the event, the deprecated subject_type.
      const subject = { subject_type: 'iss-sub', iss: ISSUER, sub };
      const set = await tokenSet({ claims: { iat: t0, sub_id: undefined, events: { [EVENTS.oauthTokensRevoked]: { subject, reason: 'user' } } } });
      const gone = { s1: await access({ sub, sid: uniq('s'), iat: t0 - 100 }), s2: await access({ sub, iat: t0 }) };
      const kept = { other: await access({ sub: uniq('bystander'), iat: t0 - 100 }) };
      await allPass({ ...gone, ...kept }, 'before');
      assertAcceptedSet(await push(set));
      expectLine(payloadOf(set).jti, { decision: 'revoke', reason: 'security_event', sub, event_type: EVENTS.oauthTokensRevoked });
      for (const [name, t] of Object.entries(gone)) assertRevoked(await get(t), name);
      assert.equal(ctx.origin.requests.length, 0);
      await allPass(kept, 'after');
    });

    it('an event_timestamp in milliseconds (as Okta sends it) is read as milliseconds, and the log says so', T, async () => {
      const sub = uniq('ssf-millis');
      const t0 = now();
      const set = await tokenSet({ claims: { iat: t0, sub_id: issSub(sub), events: { [EVENTS.accountDisabled]: { event_timestamp: (t0 - 5) * 1000 + 643 } } } });
      const gone = { before: await access({ sub, iat: t0 - 100 }), at: await access({ sub, iat: t0 - 5 }) };
      // Issued after the event's time: a seconds reading of the same number
      // (far in the future, held to the leeway) would revoke it.
      const kept = { after: await access({ sub, iat: t0 - 4 }) };
      await allPass({ ...gone, ...kept }, 'before');
      assertAcceptedSet(await push(set));
      expectLine(payloadOf(set).jti, { decision: 'revoke', reason: 'security_event', sub, note: 'event_timestamp read as milliseconds' });
      for (const [name, t] of Object.entries(gone)) assertRevoked(await get(t), name);
      await allPass(kept, 'after');
    });

    it('accepted and ignored (202, nothing changes): the verification event, an unknown event, an iss_sub of another issuer, an email subject', T, async () => {
      // A complex subject naming a session is not ignored, whatever its user part: see below.
      const sub = uniq('ssf-ignored');
      const sid = uniq('ssf-sid');
      const t0 = now();
      const victim = { session: await access({ sub, sid, iat: t0 - 5 }), subject: await access({ sub, iat: t0 - 5 }) };
      await allPass(victim, 'before');
      const cases = [
        ['verification event', 'verification event', { sub_id: { format: 'opaque', id: 'stream-1' }, events: { [EVENTS.verification]: { state: 'VGhpcyBpcyBhbiBleGFtcGxl' } } }],
        ['unknown event type', 'unsupported event type', { sub_id: issSub(sub), events: { 'https://example.test/event-type/unknown': { event_timestamp: t0 } } }],
        ['iss_sub of another issuer', 'subject of another issuer', { sub_id: issSub(sub, 'https://other-idp.test'), events: { [EVENTS.accountDisabled]: { event_timestamp: t0 } } }],
        ['email subject', 'unsupported subject format', { sub_id: { format: 'email', email: `${sub}@example.com` }, events: { [EVENTS.sessionRevoked]: { event_timestamp: t0 } } }],
      ];
      for (const [name, reason, claims] of cases) {
        const set = await tokenSet({ claims });
        assertAcceptedSet(await push(set), name);
        expectLine(payloadOf(set).jti, { decision: 'ignored', reason, event_type: Object.keys(claims.events)[0] });
        await allPass(victim, `after: ${name}`);
      }
    });

    it('a complex subject whose user is of another issuer still ends its session (CAEP 1.0 §3.1), and the log says the user part was left out', T, async () => {
      const sub = uniq('ssf-foreign');
      const sid = uniq('ssf-sid');
      const t0 = now();
      const victim = { session: await access({ sub, sid, iat: t0 - 5 }), subject: await access({ sub, iat: t0 - 5 }) };
      await allPass(victim, 'before');
      const set = await tokenSet({ claims: { sub_id: complex(sub, sid, 'https://other-idp.test'), events: { [EVENTS.sessionRevoked]: { event_timestamp: t0 } } } });
      assertAcceptedSet(await push(set));
      expectLine(payloadOf(set).jti, { decision: 'revoke', reason: 'security_event', sid, note: 'user part ignored: subject of another issuer' });
      assertRevoked(await get(victim.session), 'the session');
      await allPass({ subject: victim.subject }, 'the user, named by another issuer, is left alone');
    });

    it('refusals: 400 application/json {err, description}, no-store; the targeted session and subject still pass', T, async () => {
      const t0 = now();
      const sub = uniq('ssf-target');
      const sid = uniq('ssf-sid');
      const victim = { session: await access({ sub, sid, iat: t0 - 5 }), subject: await access({ sub, iat: t0 - 5 }) };
      await allPass(victim, 'before');
      // Each SET, were it accepted, would cut off both the session and the subject.
      const target = { sub_id: complex(sub, sid), events: { [EVENTS.sessionRevoked]: { event_timestamp: t0 }, [EVENTS.accountDisabled]: { event_timestamp: t0 } } };
      const claimsOf = (over = {}) => ({ iss: SSF_ISSUER, aud: SSF_AUD, iat: now(), jti: randomUUID(), ...target, ...over });
      const cases = [
        ['iss of another transmitter', 'invalid_issuer', 'issuer not accepted', () => tokenSet({ claims: { ...target, iss: 'https://evil.test' } })],
        ['iss is the access-token issuer', 'invalid_issuer', 'issuer not accepted', () => tokenSet({ claims: { ...target, iss: ISSUER } })],
        ['iss missing', 'invalid_issuer', 'issuer not accepted', () => tokenSet({ claims: { ...target, iss: undefined } })],
        ['aud of another receiver', 'invalid_audience', 'audience not accepted', () => tokenSet({ claims: { ...target, aud: 'https://other.test/ssf' } })],
        ['aud missing', 'invalid_audience', 'audience not accepted', () => tokenSet({ claims: { ...target, aud: undefined } })],
        ['iat missing', 'invalid_request', 'iat is required', () => tokenSet({ claims: { ...target, iat: undefined } })],
        ['jti missing', 'invalid_request', 'jti is required', () => tokenSet({ claims: { ...target, jti: undefined } })],
        ['events missing', 'invalid_request', 'events must be a non-empty object', () => tokenSet({ claims: { ...target, events: undefined } })],
        ['events {}', 'invalid_request', 'events must be a non-empty object', () => tokenSet({ claims: { ...target, events: {} } })],
        ['an event that is not an object', 'invalid_request', 'an event is not a JSON object', () => tokenSet({ claims: { ...target, events: { [EVENTS.sessionRevoked]: true } } })],
        ['exp past the leeway', 'invalid_request', 'SET expired', () => tokenSet({ claims: { ...target, iat: t0 - 200, exp: t0 - LEEWAY - 5 } })],
        ['iat beyond the leeway ahead', 'invalid_request', 'SET issued in the future', () => tokenSet({ claims: { ...target, iat: t0 + LEEWAY + 60 } })],
        ['signed by an access-token key (kid rsa-1)', 'invalid_key', 'unknown signing key', () => tokenSet({ claims: target, key: keys.rsa, header: { kid: 'rsa-1' } })],
        ['signed by an access-token key under kid ssf-1', 'invalid_key', 'invalid signature', () => tokenSet({ claims: target, key: keys.rsa })],
        ['HS256 by JWT_SECRET', 'invalid_key', 'algorithm not allowed', () => signWith({ header: { alg: 'HS256', typ: 'secevent+jwt' }, payload: claimsOf() })],
        ['alg none, HMAC signature by JWT_SECRET', 'invalid_key', 'algorithm not allowed', () => signWith({ header: { alg: 'none', typ: 'secevent+jwt' }, payload: claimsOf(), alg: 'HS256' })],
        ['alg none, RS256 signature by the transmitter', 'invalid_key', 'algorithm not allowed', () => signWith({ header: { alg: 'none', typ: 'secevent+jwt', kid: 'ssf-1' }, payload: claimsOf(), alg: 'RS256', key: keys.transmitter.privateKey })],
        ['jwk in the header', 'invalid_key', 'unsupported token header', () => tokenSet({ claims: target, header: { jwk: { ...keys.transmitter.publicKey.export({ format: 'jwk' }), kid: 'ssf-1' } } })],
        ['not a JWT', 'invalid_request', 'malformed token', () => 'not-a-jwt'],
        ['over 8 KiB', 'invalid_request', 'token too large', () => tokenSet({ claims: { ...target, pad: 'p'.repeat(9000) } })],
      ];
      for (const [name, err, description, make] of cases) {
        const set = track(await make());
        assertSetError(await push(set), err, description, name);
      }
      const set = await tokenSet({ claims: target });
      for (const contentType of ['application/jwt', 'application/json', FORM, 'text/plain']) {
        assertSetError(await push(set, { contentType }), 'invalid_request', 'Content-Type must be application/secevent+jwt', `Content-Type ${contentType}`);
      }
      assertSetError(await push(undefined, { body: '' }), 'invalid_request', 'malformed token', 'empty body');
      assertSetError(await push(undefined, { body: `${set}${' '.repeat(16 * 1024)}` }), 'invalid_request', 'the body is missing or over 16 KiB', 'body over 16 KiB');
      assert.equal(ctx.origin.requests.length, 0, 'no refusal was forwarded');
      await allPass(victim, 'after every refusal');
    });

    // RFC 8935 §2.3 and the receiver's contract: an algorithm not allowed is invalid_key,
    // the unsecured form (RFC 7519 §6, alg none with an empty signature) included.
    it('an unsecured SET (alg none, empty signature) is invalid_key "algorithm not allowed"', T, async () => {
      const sub = uniq('ssf-none');
      const victim = await access({ sub, iat: now() - 5 });
      await allPass({ victim }, 'before');
      for (const alg of ['none', 'None', 'NONE']) {
        const set = track(signWith({ header: { alg, typ: 'secevent+jwt' }, payload: { ...setClaimsFor(sub) }, signature: '' }));
        assert.ok(set.endsWith('.'), 'an empty signature segment');
        const r = await push(set);
        assert.equal(r.status, 400, r.text);
        assert.equal(ctx.origin.requests.length, 0);
        await allPass({ victim }, `after alg ${alg}`);
        assertSetError(r, 'invalid_key', 'algorithm not allowed', `alg ${alg}`);
      }
    });

    it('keys stay apart: an access token signed with the transmitter key is 401 on the proxy path', T, async () => {
      for (const kid of ['ssf-1', 'rsa-1']) {
        const t = track(await mint({ alg: 'RS256', key: keys.transmitter, header: { kid } }));
        const r = await get(t);
        assertProblem(r, 401);
        assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
      }
      assert.equal(ctx.origin.requests.length, 0);
    });
  });

  // -------------------------------------------------------------------------
  describe('DELETE /api/tokens?scope=session', () => {
    it("signs the caller's session out: every token of that sid issued until now, not the user's other session or later tokens", T, async () => {
      const sub = uniq('sess-user');
      const sid = uniq('sess');
      const t0 = now();
      const caller = await access({ sub, sid, iat: t0 - 30 });
      const sibling = await access({ sub, sid, iat: t0 - 300 });
      const noIat = await access({ sub, sid, iat: undefined });
      const kept = { otherSession: await access({ sub, sid: uniq('sess'), iat: t0 - 300 }), noSession: await access({ sub, iat: t0 - 300 }) };
      await allPass({ caller, sibling, noIat, ...kept }, 'before');
      const before = now();
      const r = await call(ctx.base, '/api/tokens?scope=session', { method: 'DELETE', token: caller });
      const afterCall = now();
      assert.equal(r.status, 204, r.text);
      assert.equal(r.text, '');
      assert.equal(ctx.origin.requests.length, 0);
      assertRevoked(await get(caller), 'the caller');
      assertRevoked(await get(sibling), 'a sibling of the session');
      assertRevoked(await get(noIat), 'a session token without iat');
      assertRevoked(await get(await access({ sub, sid, iat: before })), 'issued in the second the sign-out began');
      assert.equal(ctx.origin.requests.length, 0);
      await allPass(kept, 'after');
      await sleep(1100);
      // The cutoff reaches CUTOFF_SKEW_SECONDS (the leeway) past the sign-out.
      await allPass({ later: await access({ sub, sid, iat: afterCall + LEEWAY + 1 }) }, 'a token issued after');
      // The caller is revoked now: it cannot sign the session out again
      // (which would end the session's newer tokens), and nothing moves.
      const twice = await call(ctx.base, '/api/tokens?scope=session', { method: 'DELETE', token: caller });
      assertRevoked(twice, 'signing out twice with the revoked caller');
      assert.equal(ctx.origin.requests.length, 0);
      await allPass({ ...kept, later: await access({ sub, sid, iat: afterCall + LEEWAY + 1 }) }, 'after signing out twice');
    });

    it('a token without sid: 400 problem+json, nothing revoked', T, async () => {
      const sub = uniq('sess-none');
      const token = await access({ sub, iat: now() - 5 });
      const r = await call(ctx.base, '/api/tokens?scope=session', { method: 'DELETE', token });
      const body = assertProblem(r, 400);
      assert.equal(body.status, 400);
      assert.equal(ctx.origin.requests.length, 0);
      await allPass({ token }, 'after the refused sign-out');
    });
  });

  // -------------------------------------------------------------------------
  describe('the log', () => {
    it('one JSON line per logout token and SET, with decision, reason, route, event_type, sub/sid and jti; never a token', T, async () => {
      const total = accepted.size;
      assert.ok(total >= 10, `${total} accepted jtis`);
      for (const [jti, { count, line }] of accepted) {
        const lines = await waitForLines(ctx.worker, (l) => l.jti === jti, count);
        assert.equal(lines.length, count, `jti ${jti}: ${JSON.stringify(lines)}`);
        for (const l of lines) {
          for (const [k, v] of Object.entries(line)) assert.equal(l[k], v, `jti ${jti}: ${k} in ${JSON.stringify(l)}`);
          assert.ok(['revoke', 'ignored'].includes(l.decision), JSON.stringify(l));
          if (l.route === 'POST /oidc/backchannel-logout') {
            assert.equal(l.reason, 'backchannel_logout');
            assert.equal(l.event_type, BACKCHANNEL_LOGOUT_EVENT);
          } else {
            assert.equal(l.route, 'POST /ssf/events', JSON.stringify(l));
            if (l.decision === 'revoke') assert.equal(l.reason, 'security_event');
            else assert.ok(typeof l.reason === 'string' && l.reason.length > 0 && l.reason !== 'security_event', JSON.stringify(l));
            assert.equal(typeof l.event_type, 'string');
          }
          if (l.decision === 'revoke') assert.ok(l.sub || l.sid, `a revocation names whom: ${JSON.stringify(l)}`);
        }
      }
      // Every request to a receiver, refused ones included, logged exactly one line.
      for (const [path, n] of Object.entries(sentTo)) {
        const route = `POST ${path}`;
        const lines = await waitForLines(ctx.worker, (l) => l.route === route, n);
        assert.equal(lines.length, n, `${route}: ${n} requests, ${lines.length} log lines`);
      }
      const text = ctx.worker.logs();
      for (const t of used) {
        assert.ok(!text.includes(t), `a token appears in the log: ${t.slice(0, 40)}...`);
        const sig = t.split('.')[2];
        if (sig && sig.length >= 16) assert.ok(!text.includes(sig), 'a token signature appears in the log');
      }
    });
  });
});

// ---------------------------------------------------------------------------

describe('receivers not configured: the paths are the origin\'s', () => {
  const ctx = useWorker(BASE_VARS);

  it('POST /oidc/backchannel-logout is forwarded with a valid bearer, body intact; without one, 401', T, async () => {
    const lt = await mintLogout();
    const body = `logout_token=${lt}&extra=${encodeURIComponent('a b&c')}`;
    const token = await mint({ alg: 'RS256' });
    const r = await call(ctx.base, LOGOUT, { method: 'POST', token, headers: { 'Content-Type': FORM }, body });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-origin'), 'stub');
    assert.equal(ctx.origin.requests.length, 1);
    const q = ctx.origin.requests[0];
    assert.equal(q.method, 'POST');
    assert.equal(q.url, LOGOUT);
    assert.equal(q.body.toString('utf8'), body);
    assert.equal(q.headers['content-type'], FORM);
    ctx.origin.clear();
    const none = await call(ctx.base, LOGOUT, { method: 'POST', headers: { 'Content-Type': FORM }, body });
    assertProblem(none, 401);
    // The logout token is not an access token (its aud is a client ID).
    const asBearer = await call(ctx.base, LOGOUT, { method: 'POST', token: lt, headers: { 'Content-Type': FORM }, body });
    assertProblem(asBearer, 401);
    assert.equal(ctx.origin.requests.length, 0);
  });

  it('POST /ssf/events is forwarded with a valid bearer, body intact (even over 16 KiB); without one, 401', T, async () => {
    const set = await mintSet();
    const token = await mint({ alg: 'ES256' });
    for (const body of [set, `${set}${'\n'.repeat(20 * 1024)}`]) {
      ctx.origin.clear();
      const r = await call(ctx.base, SSF, { method: 'POST', token, headers: { 'Content-Type': SET_TYPE }, body });
      assert.equal(r.status, 200, r.text);
      assert.equal(ctx.origin.requests.length, 1);
      const q = ctx.origin.requests[0];
      assert.equal(q.url, SSF);
      assert.equal(q.headers['content-type'], SET_TYPE);
      assert.ok(q.body.equals(Buffer.from(body)), `body of ${body.length} bytes arrived as ${q.body.length}`);
    }
    ctx.origin.clear();
    assertProblem(await call(ctx.base, SSF, { method: 'POST', headers: { 'Content-Type': SET_TYPE }, body: set }), 401);
    assert.equal(ctx.origin.requests.length, 0);
  });
});

// ---------------------------------------------------------------------------

describe('receivers without KV (no REVOKED_TOKENS binding, no journal)', () => {
  const ctx = useWorker(RECEIVER_VARS, { kv: false, journal: false });

  it('a valid logout token or SET is 503 with Retry-After (never 200/202); an invalid one is still 400', T, async () => {
    const sub = uniq('nokv');
    const r = await call(ctx.base, LOGOUT, { method: 'POST', headers: { 'Content-Type': FORM }, body: new URLSearchParams({ logout_token: await mintLogout({ claims: { sub } }) }).toString() });
    assert.equal(r.status, 503, r.text);
    assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
    const s = await call(ctx.base, SSF, { method: 'POST', headers: { 'Content-Type': SET_TYPE }, body: await mintSet({ claims: { sub_id: issSub(sub) } }) });
    assert.equal(s.status, 503, s.text);
    assert.match(s.headers.get('retry-after') ?? '', /^\d+$/);
    const bad = await call(ctx.base, LOGOUT, { method: 'POST', headers: { 'Content-Type': FORM }, body: new URLSearchParams({ logout_token: await mintLogout({ claims: { nonce: 'n' } }) }).toString() });
    assertLogoutError(bad, 'nonce must be absent');
    const badSet = await call(ctx.base, SSF, { method: 'POST', headers: { 'Content-Type': SET_TYPE }, body: await mintSet({ claims: { aud: 'x' } }) });
    assertSetError(badSet, 'invalid_audience', 'audience not accepted');
    // Nothing to write: the stream verification event is accepted.
    const verify = await call(ctx.base, SSF, { method: 'POST', headers: { 'Content-Type': SET_TYPE }, body: await mintSet({ claims: { sub_id: undefined, events: { [EVENTS.verification]: { state: 'x' } } } }) });
    assert.equal(verify.status, 202, verify.text);
    assert.equal(ctx.origin.requests.length, 0);
  });
});

// A real OpenID Provider on loopback for the e2e tests: `oidc-provider` (an
// OpenID Certified implementation of OpenID Connect, RP-Initiated Logout and
// Back-Channel Logout), configured as the identity provider in front of which
// the worker stands, plus a scripted user agent that signs users in and out.
//
// Wiring (see tests/e2e/idp-provider.test.mjs for why each piece is so):
// - issuer http://127.0.0.1:<port>, key set at <issuer>/jwks: one RSA key made
//   at start-up; ID tokens, logout tokens and JWT access tokens are RS256.
// - features.resourceIndicators: one resource server (RESOURCE) whose access
//   tokens are JWTs (accessTokenFormat 'jwt') with aud = RESOURCE.
// - extraTokenClaims adds the session's `sid` to every access token (the
//   provider keeps it on the token but does not put it in the JWT by itself).
// - features.backchannelLogout and rpInitiatedLogout (the end-session
//   endpoint); devInteractions (the provider's own login and consent forms,
//   which accept any login) are submitted by the scripted user agent.
// - `fetch`: the provider's outgoing requests go through an undici agent that
//   refuses loopback and other special-use addresses; for the registered
//   back-channel logout origins only, this hook sends them without it.
//
// Two phases, because each side needs the other's URL: startProvider()
// listens (the issuer is known; every request answers 503 until configured),
// the worker is started with the issuer and key set URL, then
// provider.configure({ backchannelLogoutUri }) builds the provider.
import http from 'node:http';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

/** The resource indicator (RFC 8707) of the API behind the worker: the access tokens' `aud`. */
export const RESOURCE = 'urn:edge-revoke:api';
/** The scope the resource server defines. */
export const API_SCOPE = 'api:read';
/** The relying party registered at the provider; the logout tokens' `aud`. */
export const CLIENT_ID = 'edge-revoke-app';
/** The back-channel logout event member of a logout token's `events`. */
export const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** The payload of a compact JWS, decoded without verification. */
export const payloadOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
/** The protected header of a compact JWS. */
export const headerOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'));

/**
 * A minimal cookie jar for one user agent: name, value and path, as set by
 * Set-Cookie; a cookie is sent on requests whose path starts with its path.
 * Cookies set with an expiry in the past (or Max-Age <= 0) are removed.
 */
export class CookieJar {
  #cookies = new Map(); // `${path}\n${name}` -> { name, value, path }

  /** Stores the Set-Cookie lines of `response` (a fetch Response). */
  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = '/';
      let expired = value === '';
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=').map((s) => s.trim());
        const key = k.toLowerCase();
        if (key === 'path' && v.startsWith('/')) path = v;
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      const id = `${path}\n${name}`;
      if (expired) this.#cookies.delete(id);
      else this.#cookies.set(id, { name, value, path });
    }
  }

  /** The Cookie header for a request to `url` (undefined when none applies). */
  header(url) {
    const { pathname } = new URL(url);
    const out = [];
    for (const { name, value, path } of this.#cookies.values()) {
      const match = pathname === path || pathname.startsWith(path.endsWith('/') ? path : `${path}/`);
      if (match) out.push(`${name}=${value}`);
    }
    return out.length ? out.join('; ') : undefined;
  }

  get size() {
    return this.#cookies.size;
  }
}

/** The first <form> of an HTML page: its action, method and named inputs with their values. */
export function parseForm(html, base) {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no <form> in the page:\n${html.slice(0, 2000)}`);
  const attr = (tag, name) => {
    const m = new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(tag);
    return m ? unescapeHtml(m[1]) : undefined;
  };
  const fields = {};
  for (const input of form[2].matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(input[0], 'name');
    if (name !== undefined) fields[name] = attr(input[0], 'value') ?? '';
  }
  return {
    action: new URL(attr(form[1], 'action') ?? '', base).href,
    method: (attr(form[1], 'method') ?? 'get').toUpperCase(),
    id: attr(form[1], 'id'),
    fields,
  };
}

function unescapeHtml(s) {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/**
 * Starts the provider's HTTP server on 127.0.0.1 (any free port unless
 * `port`). Until configure() it answers every request 503.
 * @returns {Promise<object>} see the returned object's members
 */
export async function startProvider({ port = 0, accessTokenTTL = 600 } = {}) {
  let handler = null;
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    if (handler) return handler(req, res);
    res.writeHead(503, { 'Content-Type': 'text/plain', 'Retry-After': '1' });
    res.end('identity provider not configured yet');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;

  // The provider's signing key: RSA, made for this run only.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `idp-${randomBytes(4).toString('hex')}`;
  const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };

  /**
   * Every provider event the tests care about, in order: { name, at, ...details }.
   * Besides the provider's own events ('backchannel.success', 'backchannel.error',
   * 'end_session.success', 'server_error'), 'outgoing' records each request the
   * provider sent through its `fetch` hook (url, method, body) and the answer
   * (status, headers, responseBody) or the error.
   */
  const events = [];
  /** The provider's own console warnings (development notices), kept out of the test output. */
  const notices = [];
  const waiters = new Set();
  const record = (entry) => {
    events.push(entry);
    for (const w of waiters) w(entry);
  };

  let provider = null;
  const clientSecret = randomBytes(24).toString('base64url');
  let redirectUri;
  let postLogoutRedirectUri;

  const idp = {
    issuer,
    /** The key set URL (discovery's jwks_uri; checked after configure()). */
    jwksUri: `${issuer}/jwks`,
    clientId: CLIENT_ID,
    clientSecret,
    resource: RESOURCE,
    events,
    notices,
    get provider() {
      return provider;
    },

    /**
     * Builds the provider with one client whose back-channel logout URI is
     * `backchannelLogoutUri` (the worker's /oidc/backchannel-logout) and
     * starts answering requests.
     * `appUrl` is the relying party's own URL (its redirect URI and
     * post-logout redirect URI live under it; the scripted user agent never
     * follows a redirect to it).
     * `loopbackDelivery: false` leaves the provider's outgoing requests as
     * they are by default (its guard refuses loopback addresses).
     */
    configure({ backchannelLogoutUri, appUrl, loopbackDelivery = true }) {
      if (provider) throw new Error('already configured');
      redirectUri = new URL('/callback', appUrl).href;
      postLogoutRedirectUri = new URL('/signed-out', appUrl).href;
      // Only the origins of registered back-channel logout URIs may be reached on loopback.
      const loopbackAllowed = new Set(loopbackDelivery ? [new URL(backchannelLogoutUri).origin] : []);

      const configuration = {
        clients: [
          {
            client_id: CLIENT_ID,
            client_secret: clientSecret,
            application_type: 'web',
            grant_types: ['authorization_code'],
            response_types: ['code'],
            redirect_uris: [redirectUri],
            post_logout_redirect_uris: [postLogoutRedirectUri],
            token_endpoint_auth_method: 'client_secret_basic',
            backchannel_logout_uri: backchannelLogoutUri,
            backchannel_logout_session_required: true,
          },
        ],
        jwks: { keys: [signingJwk] },
        cookies: { keys: [randomBytes(32).toString('base64url')] },
        features: {
          devInteractions: { enabled: true },
          rpInitiatedLogout: { enabled: true },
          backchannelLogout: { enabled: true },
          resourceIndicators: {
            enabled: true,
            defaultResource: async () => RESOURCE,
            useGrantedResource: async () => true,
            getResourceServerInfo: async (_ctx, resourceIndicator) => {
              if (resourceIndicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
              return {
                scope: API_SCOPE,
                audience: RESOURCE,
                accessTokenTTL,
                accessTokenFormat: 'jwt',
                jwt: { sign: { alg: 'RS256' } },
              };
            },
          },
        },
        // The session's sid in every access token, as the worker's session cutoff needs.
        extraTokenClaims: async (_ctx, token) => (token.sid ? { sid: token.sid } : undefined),
        pkce: { required: () => true },
        fetch: async (url, options) => {
          const sent = { url: String(url), method: options.method, body: options.body ? String(options.body) : undefined };
          let res;
          try {
            if (loopbackAllowed.has(new URL(url).origin)) {
              const { dispatcher: _ssrfGuard, ...rest } = options;
              res = await globalThis.fetch(url, rest);
            } else {
              res = await globalThis.fetch(url, options);
            }
          } catch (err) {
            record({ name: 'outgoing', at: Date.now(), ...sent, error: String(err?.cause ?? err) });
            throw err;
          }
          const copy = res.clone();
          record({
            name: 'outgoing',
            at: Date.now(),
            ...sent,
            status: res.status,
            headers: Object.fromEntries(copy.headers),
            responseBody: await copy.text(),
          });
          return res;
        },
      };

      // oidc-provider prints development notices with console.warn/info; keep them in `notices`.
      const { warn, info } = console;
      const keep = (orig) => (...args) => {
        if (typeof args[0] === 'string' && /^(\x1b\[[0-9;]*m)?oidc-provider (WARNING|NOTICE)/.test(args[0])) notices.push(args.join(' '));
        else orig.apply(console, args);
      };
      const ours = { warn: keep(warn), info: keep(info) };
      console.warn = ours.warn;
      console.info = ours.info;
      idp.restoreConsole = () => {
        if (console.warn === ours.warn) console.warn = warn;
        if (console.info === ours.info) console.info = info;
      };

      provider = new Provider(issuer, configuration);
      provider.on('backchannel.success', (_ctx, client, accountId, sid) =>
        record({ name: 'backchannel.success', at: Date.now(), clientId: client.clientId, accountId, sid }));
      provider.on('backchannel.error', (_ctx, err, client, accountId, sid) =>
        record({ name: 'backchannel.error', at: Date.now(), clientId: client.clientId, accountId, sid, error: String(err?.stack ?? err), cause: String(err?.cause ?? '') }));
      provider.on('end_session.success', () => record({ name: 'end_session.success', at: Date.now() }));
      provider.on('server_error', (_ctx, err) => record({ name: 'server_error', at: Date.now(), error: String(err?.stack ?? err) }));
      handler = provider.callback();
    },

    /**
     * Resolves with the first event (recorded from now on, or already in
     * `events` at index >= `since`) that `pred` accepts; rejects after `timeoutMs`.
     */
    waitForEvent(pred, { since = events.length, timeoutMs = 10_000 } = {}) {
      return new Promise((resolve, reject) => {
        const done = events.slice(since).find(pred);
        if (done) return resolve(done);
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching provider event within ${timeoutMs} ms; events: ${JSON.stringify(events.slice(since))}`));
        }, timeoutMs);
        const check = (e) => {
          if (!pred(e)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(e);
        };
        waiters.add(check);
      });
    },

    /** The provider's discovery document. */
    async discovery() {
      const res = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(10_000) });
      if (res.status !== 200) throw new Error(`discovery: ${res.status} ${await res.text()}`);
      return res.json();
    },

    /**
     * Signs `login` in through the authorization code flow with PKCE, as a
     * browser would: the authorization request, the provider's login form
     * and consent form (devInteractions), the redirect back with the code,
     * then the token request (client_secret_basic, with the resource
     * indicator). A new cookie jar means a new session at the provider.
     * @returns {Promise<{login: string, jar: CookieJar, accessToken: string, idToken: string, tokenResponse: object}>}
     */
    async signIn(login, { jar = new CookieJar() } = {}) {
      if (!provider) throw new Error('configure() first');
      const verifier = b64url(randomBytes(32));
      const challenge = b64url(createHash('sha256').update(verifier).digest());
      const state = b64url(randomBytes(12));
      const nonce = b64url(randomBytes(12));
      const auth = new URL(`${issuer}/auth`);
      auth.search = new URLSearchParams({
        client_id: CLIENT_ID,
        response_type: 'code',
        redirect_uri: redirectUri,
        scope: `openid ${API_SCOPE}`,
        resource: RESOURCE,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state,
        nonce,
      }).toString();

      let res = await userAgent(jar, auth.href);
      for (let step = 0; ; step++) {
        if (step > 12) throw new Error('sign-in: too many steps');
        if (res.status >= 300 && res.status < 400) {
          const location = new URL(res.headers.get('location'), res.url);
          if (location.href.startsWith(redirectUri)) {
            res = location;
            break;
          }
          res = await userAgent(jar, location.href);
          continue;
        }
        if (res.status === 200 && /text\/html/.test(res.headers.get('content-type') ?? '')) {
          const form = parseForm(res.body, res.url);
          if (form.fields.prompt === 'login') {
            form.fields.login = login;
            form.fields.password = 'any password: devInteractions accept any';
          } else if (form.fields.prompt !== 'consent') {
            throw new Error(`sign-in: unexpected form ${JSON.stringify(form)}`);
          }
          res = await userAgent(jar, form.action, { method: form.method, form: form.fields });
          continue;
        }
        throw new Error(`sign-in: unexpected ${res.status} at ${res.url}: ${res.body.slice(0, 2000)}`);
      }
      const callback = res;
      if (callback.searchParams.get('error')) {
        throw new Error(`sign-in: the provider answered ${callback.searchParams.get('error')}: ${callback.searchParams.get('error_description')}`);
      }
      if (callback.searchParams.get('state') !== state) throw new Error('sign-in: state mismatch');
      if (callback.searchParams.get('iss') !== issuer) throw new Error(`sign-in: iss ${callback.searchParams.get('iss')} in the redirect`);
      const code = callback.searchParams.get('code');
      if (!code) throw new Error(`sign-in: no code in ${callback.href}`);

      const tokenRes = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirectUri,
          code_verifier: verifier,
          resource: RESOURCE,
        }),
        signal: AbortSignal.timeout(10_000),
      });
      const tokenResponse = await tokenRes.json();
      if (tokenRes.status !== 200) throw new Error(`token request: ${tokenRes.status} ${JSON.stringify(tokenResponse)}`);
      const idToken = tokenResponse.id_token;
      if (payloadOf(idToken).nonce !== nonce) throw new Error('sign-in: nonce mismatch in the ID token');
      return { login, jar, accessToken: tokenResponse.access_token, idToken, tokenResponse };
    },

    /**
     * RP-initiated logout of the session in `jar`: GET the end-session
     * endpoint with id_token_hint and post_logout_redirect_uri, then submit
     * the provider's confirmation form with "Yes, sign me out"
     * (logout=yes). The provider sends the back-channel logout token(s)
     * before it answers the confirmation.
     * @returns {Promise<{location: URL}>} where the provider sent the browser
     */
    async endSession({ jar, idToken }) {
      const end = new URL(`${issuer}/session/end`);
      end.search = new URLSearchParams({
        id_token_hint: idToken,
        post_logout_redirect_uri: postLogoutRedirectUri,
        state: 'bye',
      }).toString();
      const page = await userAgent(jar, end.href);
      if (page.status !== 200) throw new Error(`end-session: ${page.status} ${page.body.slice(0, 2000)}`);
      const form = parseForm(page.body, page.url);
      if (form.id !== 'op.logoutForm' || !form.fields.xsrf) throw new Error(`end-session: unexpected page ${page.body.slice(0, 2000)}`);
      // The page's "Yes, sign me out" button is `name="logout" value="yes"` outside the form.
      const confirm = await userAgent(jar, form.action, { method: 'POST', form: { ...form.fields, logout: 'yes' } });
      if (confirm.status < 300 || confirm.status >= 400) throw new Error(`end-session confirm: ${confirm.status} ${confirm.body.slice(0, 2000)}`);
      return { location: new URL(confirm.headers.get('location'), confirm.url) };
    },

    async close() {
      idp.restoreConsole?.();
      await new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
  return idp;
}

/**
 * One browser request with cookie handling and no redirect following.
 * @returns {Promise<{status: number, headers: Headers, url: string, body: string}>}
 */
async function userAgent(jar, url, { method = 'GET', form } = {}) {
  const headers = { Accept: 'text/html' };
  const cookie = jar.header(url);
  if (cookie) headers.Cookie = cookie;
  let body;
  if (form) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  const res = await fetch(url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  jar.store(res);
  return { status: res.status, headers: res.headers, url, body: await res.text() };
}

export { sleep };

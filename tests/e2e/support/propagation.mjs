// How long a revocation made at one edge location takes to be enforced at the
// others: the measurement shared by tests/e2e/locations.test.mjs and
// scripts/simulate.mjs, run against support/locations.mjs.
//
// A trial takes fresh tokens of a fresh user, checks that every isolate of
// every location passes them (200), so that each has seen and cached them,
// makes one revocation at the writing location, and from its success answer
// on asks every isolate with the revoked token every POLL_MS until it answers
// 401. A location's time is its slowest isolate's first 401. Afterwards one
// more request per isolate must still be 401. Every polling request carries
// `X-Trial: <trial id>` and `X-Trial-Sent: <ms since the success answer>`,
// which the worker passes on, so the stub origin's record tells which of them
// got through, and when they were sent.
//
// Write kinds: the revocation routes at location A (Global Token Revocation
// in both of Okta's formats among them), and a restore story
// (revoked at A, restored at A, revoked again at B) measured phase by phase.
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';

import { call } from './http.mjs';
import {
  mint, mintLogout, mintSet, mintAssertion, issSub, now,
  JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE, LOGOUT_AUDIENCE, SSF_ISSUER, SSF_AUDIENCE, SSF_JWKS, EVENTS,
  GTR_PATH, GTR_VARS,
} from './keys.mjs';

/** How often each isolate is asked while a revocation has not reached it. */
export const POLL_MS = 100;
export const API_KEY = 'simulation-api-key-0123456789abcdef';
export const OAUTH_CLIENT = { id: 'sim-app', secret: 'sim-app-secret-0123456789' };

/** Settings every location runs with: every revocation route configured. */
export const PROPAGATION_VARS = {
  JWT_SECRET,
  JWT_JWKS,
  JWT_ISSUER: ISSUER,
  JWT_AUDIENCE: AUDIENCE,
  JWT_LEEWAY_SECONDS: '30',
  // Sign-outs at the edge cut off 1 s ahead, not the leeway: the revoked
  // tokens are issued before the sign-out anyway.
  CUTOFF_SKEW_SECONDS: '1',
  INVALIDATE_API_KEYS: API_KEY,
  OAUTH_CLIENTS: `${OAUTH_CLIENT.id}:${OAUTH_CLIENT.secret}`,
  BACKCHANNEL_LOGOUT_AUDIENCE: LOGOUT_AUDIENCE,
  SSF_ISSUER,
  SSF_AUDIENCE,
  SSF_JWKS,
  ...GTR_VARS,
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** POST GTR_PATH at `url` naming `subId`, with `assertion` or a fresh Okta-shaped one. */
export const revokeUser = async (url, subId, assertion) =>
  call(url, GTR_PATH, {
    method: 'POST',
    token: assertion ?? await mintAssertion(),
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ sub_id: subId }),
  });

const FORM = 'application/x-www-form-urlencoded';
const form = (fields) => new URLSearchParams(fields).toString();
const adminToken = () => mint({ alg: 'RS256', claims: { sub: 'sim-admin', roles: ['identity:admin'] } });
const oauthBasic = () => `Basic ${Buffer.from(`${OAUTH_CLIENT.id}:${OAUTH_CLIENT.secret}`).toString('base64')}`;
/** Revokes `tokenId` as an admin (DELETE /v2.0/tokens?tokenId=). */
const revokeById = async (url, tokenId) =>
  call(url, `/v2.0/tokens?tokenId=${encodeURIComponent(tokenId)}`, { method: 'DELETE', headers: { 'X-Auth-Token': await adminToken() } });

/**
 * A token of `sub` (and session `sid`) issued a few seconds ago, and a
 * second one issued after it: a sign-out by the second cuts the first off.
 */
async function olderAndCaller(sub, sid) {
  const t = now();
  const claims = { sub, ...(sid ? { sid } : {}) };
  return {
    older: await mint({ alg: 'HS256', claims: { ...claims, iat: t - 10 } }),
    caller: await mint({ alg: 'RS256', claims: { ...claims, iat: t - 5 } }),
  };
}

/**
 * The write kinds. `prepare(id)` makes the tokens of one trial (`id` is a fresh
 * name, used as the user) and answers { token: the one that must end up
 * revoked, revoke(url): the revocation through `url`, status: its success }.
 */
export const KINDS = [
  {
    id: 'token',
    label: 'token sign-out (DELETE /api/tokens)',
    async prepare(id) {
      const token = await mint({ alg: 'ES256', claims: { sub: id } });
      return { token, status: 204, revoke: (url) => call(url, '/api/tokens', { method: 'DELETE', token }) };
    },
  },
  {
    id: 'global',
    label: 'sign-out everywhere (scope=global)',
    async prepare(id) {
      const { older, caller } = await olderAndCaller(id);
      return { token: older, status: 204, revoke: (url) => call(url, '/api/tokens?scope=global', { method: 'DELETE', token: caller }) };
    },
  },
  {
    id: 'session',
    label: 'session sign-out (scope=session)',
    async prepare(id) {
      const { older, caller } = await olderAndCaller(id, `${id}-sid`);
      return { token: older, status: 204, revoke: (url) => call(url, '/api/tokens?scope=session', { method: 'DELETE', token: caller }) };
    },
  },
  {
    id: 'invalidate',
    label: 'service invalidation (API key)',
    async prepare(id) {
      const token = await mint({ alg: 'RS256', claims: { sub: id } });
      return {
        token,
        status: 200,
        revoke: (url) =>
          call(url, '/token-service/client/server/invalidate/token', {
            method: 'POST',
            headers: { 'X-API-KEY': API_KEY, 'Content-Type': 'application/json' },
            body: JSON.stringify({ tokenReferenceId: token }),
          }),
      };
    },
  },
  {
    id: 'oauth',
    label: 'OAuth revoke (POST /oauth/revoke)',
    async prepare(id) {
      const token = await mint({ alg: 'ES256', claims: { sub: id } });
      return {
        token,
        status: 200,
        revoke: (url) =>
          call(url, '/oauth/revoke', { method: 'POST', headers: { 'Content-Type': FORM, Authorization: oauthBasic() }, body: form({ token }) }),
      };
    },
  },
  {
    id: 'admin',
    label: 'admin sign-out of a subject',
    async prepare(id) {
      const token = await mint({ alg: 'EdDSA', claims: { sub: id, iat: now() - 5 } });
      return {
        token,
        status: 204,
        revoke: async (url) => call(url, `/api/users/${encodeURIComponent(id)}/tokens`, { method: 'DELETE', token: await adminToken() }),
      };
    },
  },
  {
    id: 'backchannel',
    label: 'OIDC back-channel logout',
    async prepare(id) {
      const sid = `${id}-sid`;
      const token = await mint({ alg: 'RS256', claims: { sub: id, sid, iat: now() - 5 } });
      return {
        token,
        status: 200,
        revoke: async (url) =>
          call(url, '/oidc/backchannel-logout', {
            method: 'POST',
            headers: { 'Content-Type': FORM },
            body: form({ logout_token: await mintLogout({ claims: { sub: id, sid } }) }),
          }),
      };
    },
  },
  {
    id: 'ssf',
    label: 'SSF CAEP session-revoked',
    async prepare(id) {
      const sid = `${id}-sid`;
      const token = await mint({ alg: 'RS256', claims: { sub: id, sid, iat: now() - 5 } });
      const session = { format: 'complex', user: issSub(id), session: { format: 'opaque', id: sid } };
      return {
        token,
        status: 202,
        revoke: async (url) =>
          call(url, '/ssf/events', {
            method: 'POST',
            headers: { 'Content-Type': 'application/secevent+jwt' },
            body: await mintSet({ claims: { sub_id: session, events: { [EVENTS.sessionRevoked]: { event_timestamp: now() } } } }),
          }),
      };
    },
  },
  {
    id: 'gtr',
    label: "Okta's Universal Logout (Global Token Revocation, iss_sub)",
    async prepare(id) {
      const token = await mint({ alg: 'RS256', claims: { sub: id, iat: now() - 5 } });
      return {
        token,
        status: 204,
        revoke: (url) => revokeUser(url, issSub(id)),
      };
    },
  },
  {
    id: 'gtr-email',
    label: 'Global Token Revocation by email',
    async prepare(id) {
      const email = `${id}@example.test`;
      const token = await mint({ alg: 'ES256', claims: { sub: id, email, iat: now() - 5 } });
      return {
        token,
        status: 204,
        revoke: (url) => revokeUser(url, { format: 'email', email }),
      };
    },
  },
  {
    id: 'restore',
    label: 'restore at A, revoked again at B',
    phases: [
      { id: 'revoke-a', label: 'revoked by ID at A', writer: 'a', want: 401, status: 204, write: (url, t) => revokeById(url, t.jti) },
      {
        id: 'restore-a',
        label: 'restored at A (passes again)',
        writer: 'a',
        want: 200,
        status: 204,
        write: async (url, t) => call(url, `/api/revocations/${encodeURIComponent(t.jti)}`, { method: 'DELETE', token: await adminToken() }),
      },
      { id: 'revoke-b', label: 'revoked again at B', writer: 'b', want: 401, status: 204, write: (url, t) => revokeById(url, t.jti) },
    ],
    async prepare(id) {
      return { jti: id, token: await mint({ alg: 'RS256', claims: { sub: id, jti: id } }) };
    },
  },
];

/** The phases of a kind: one revocation at A, unless the kind lists its own. */
export const phasesOf = (kind) =>
  kind.phases ?? [{ id: 'revoke', label: kind.label, writer: 'a', want: 401, write: (url, t) => t.revoke(url) }];

/** Every isolate of every location: [{ location, url }]. */
const targetsOf = (sim) => Object.entries(sim.urls).flatMap(([location, urls]) => urls.map((url) => ({ location, url })));

/** One GET with `token` through `url`, marked for the origin's record. */
const probe = (url, token, trial, sentMs) =>
  call(url, `/sim/${trial}`, { token, headers: trial ? { 'X-Trial': trial, 'X-Trial-Sent': String(sentMs) } : {} });

/** Every isolate passes `token` (200): they have all verified it, and remember it. */
export async function warm(sim, token) {
  for (const { location, url } of targetsOf(sim)) {
    const r = await probe(url, token);
    if (r.status !== 200) throw new Error(`warm-up at ${location} (${url}): ${r.status} ${r.text}`);
  }
}

/**
 * Asks each target every POLL_MS with `token` until it answers `want`.
 * Answers per target { location, url, at: ms after `since` of that answer
 * (null when none within timeoutMs), polls, others: { status: count } of
 * answers other than `want` and the status it had before }.
 */
async function pollUntil(targets, { token, want, trial, since, timeoutMs }) {
  const before = want === 401 ? 200 : 401;
  return Promise.all(
    targets.map(async ({ location, url }) => {
      const result = { location, url, at: null, polls: 0, others: {} };
      for (let tick = 0; ; tick++) {
        const sent = performance.now() - since;
        if (sent > timeoutMs) return result;
        const r = await probe(url, token, trial, Math.round(sent));
        result.polls++;
        if (r.status === want) {
          result.at = performance.now() - since;
          return result;
        }
        if (r.status !== before) result.others[r.status] = (result.others[r.status] ?? 0) + 1;
        const wait = since + (tick + 1) * POLL_MS - performance.now();
        if (wait > 0) await sleep(wait);
      }
    }),
  );
}

/**
 * One phase: `write` through the writer's first isolate must answer
 * `status`; then every isolate is polled until it answers `want`.
 * `boundMs`: for revocations, polling requests sent later than this that
 * reached the origin are counted (`originAfterBound`).
 * `unavailableOk`: a write answered 503 (the worker could not store it) ends
 * the phase as { refused: 503 } instead of failing it.
 */
async function runPhase(sim, origin, trial, tokens, phase, { boundMs, timeoutMs, unavailableOk = false }) {
  const r = await phase.write(sim.urls[phase.writer][0], tokens);
  if (r.status === 503 && unavailableOk) return { phase: phase.id, label: phase.label, writer: phase.writer, want: phase.want, refused: r.status };
  const expected = phase.status ?? tokens.status;
  if (r.status !== expected) throw new Error(`${trial}: ${phase.label} at ${phase.writer} answered ${r.status}, not ${expected}: ${r.text}`);
  const since = performance.now();
  const isolates = await pollUntil(targetsOf(sim), { token: tokens.token, want: phase.want, trial, since, timeoutMs });
  const times = {};
  for (const { location, at } of isolates) {
    const slowest = times[location];
    times[location] = slowest === null || at === null ? null : Math.max(slowest ?? 0, at);
  }
  const flaps = [];
  for (const { location, url } of targetsOf(sim)) {
    const again = await probe(url, tokens.token, trial, Math.round(performance.now() - since));
    if (again.status !== phase.want) flaps.push(`${location} ${again.status}`);
  }
  const originAfterBound =
    phase.want === 401
      ? origin.requests.filter((q) => q.headers['x-trial'] === trial && Number(q.headers['x-trial-sent']) > boundMs).length
      : null;
  return { phase: phase.id, label: phase.label, writer: phase.writer, want: phase.want, writeMs: r.elapsedMs, times, isolates, flaps, originAfterBound };
}

/**
 * One trial of `kind`: fresh tokens, warm-up, then each phase in turn (up to
 * a refused one). Answers { kind, trial, phases: [...] } or { kind, trial, error }.
 */
export async function runTrial(sim, origin, kind, options) {
  const trial = `${kind.id}-${randomBytes(5).toString('hex')}`;
  try {
    const tokens = await kind.prepare(trial);
    await warm(sim, tokens.token);
    const phases = [];
    for (const phase of phasesOf(kind)) {
      const result = await runPhase(sim, origin, `${trial}.${phase.id}`, tokens, phase, options);
      phases.push(result);
      if (result.refused) break;
    }
    return { kind: kind.id, trial, phases };
  } catch (error) {
    return { kind: kind.id, trial, error: String(error?.stack ?? error) };
  }
}

/**
 * `trials` trials of each of `kinds`, at most `concurrency` at a time, the
 * kinds interleaved. options: { boundMs, timeoutMs, unavailableOk } (see runPhase).
 */
export async function runTrials(sim, origin, { kinds = KINDS, trials = 1, concurrency = kinds.length, ...options }) {
  const queue = [];
  for (let i = 0; i < trials; i++) queue.push(...kinds);
  const results = [];
  const next = async () => {
    for (let kind = queue.shift(); kind; kind = queue.shift()) results.push(await runTrial(sim, origin, kind, options));
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, next));
  return results;
}

/**
 * KV traffic of one location for a token it has already seen: `requests`
 * requests through its first isolate, and the KV store's counters for that
 * location per request. Run it while nothing else uses the locations.
 */
export async function kvReadsPerRequest(sim, location, requests = 20) {
  const token = await mint({ alg: 'ES256', claims: { sub: `kv-reads-${randomBytes(4).toString('hex')}`, sid: 'kv-reads' } });
  const url = sim.urls[location][0];
  const first = await probe(url, token);
  if (first.status !== 200) throw new Error(`kv reads: ${first.status} ${first.text}`);
  const before = (await sim.kvStats()).locations[location];
  for (let i = 0; i < requests; i++) {
    const r = await probe(url, token);
    if (r.status !== 200) throw new Error(`kv reads: ${r.status} ${r.text}`);
  }
  const after = (await sim.kvStats()).locations[location];
  const per = (name) => (after[name] - (before?.[name] ?? 0)) / requests;
  return { requests, get: per('get'), bulk: per('bulk'), keysRead: per('keysRead'), operations: per('get') + per('bulk') + per('list') };
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Results grouped by kind and phase: [{ kind, phase, label, writer, want,
 * trials, refused, errors, locations: { name: { min, median, max } | null (in ms) },
 * missing: { name: trials it never answered `want` in }, others: { status: count } of
 * answers neither before nor after the change while polling, originAfterBound, flaps }].
 */
export function summarize(results, locations) {
  const rows = new Map();
  for (const kind of KINDS) {
    for (const phase of phasesOf(kind)) {
      rows.set(`${kind.id}/${phase.id}`, {
        kind: kind.id, phase: phase.id, label: phase.label, writer: phase.writer, want: phase.want,
        trials: 0, refused: 0, errors: [], samples: Object.fromEntries(locations.map((l) => [l, []])), missing: {}, others: {}, originAfterBound: 0, flaps: [],
      });
    }
  }
  for (const result of results) {
    if (result.error) {
      for (const row of rows.values()) if (row.kind === result.kind) row.errors.push(result.error);
      continue;
    }
    for (const p of result.phases) {
      const row = rows.get(`${result.kind}/${p.phase}`);
      row.trials++;
      if (p.refused) {
        row.refused++;
        continue;
      }
      row.originAfterBound += p.originAfterBound ?? 0;
      row.flaps.push(...p.flaps);
      for (const { others } of p.isolates) {
        for (const [status, n] of Object.entries(others)) row.others[status] = (row.others[status] ?? 0) + n;
      }
      for (const l of locations) {
        if (p.times[l] === null || p.times[l] === undefined) row.missing[l] = (row.missing[l] ?? 0) + 1;
        else row.samples[l].push(p.times[l]);
      }
    }
  }
  return [...rows.values()]
    .filter((row) => row.trials > 0 || row.errors.length > 0)
    .map(({ samples, ...row }) => ({
      ...row,
      locations: Object.fromEntries(
        Object.entries(samples).map(([l, xs]) => [l, xs.length ? { min: Math.min(...xs), median: median(xs), max: Math.max(...xs) } : null]),
      ),
    }));
}

const seconds = (ms) => (ms / 1000).toFixed(2);

/** A Markdown table of summarize()'s rows: seconds per location (min / median / max). */
export function markdownTable(rows, locations) {
  const head = ['kind', 'written at', 'trials', ...locations.map((l) => `${l.toUpperCase()} s (min / median / max)`), 'origin requests after the bound'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const row of rows) {
    const cells = locations.map((l) => {
      const s = row.locations[l];
      const missing = row.missing[l] ? ` (${row.missing[l]} never)` : '';
      if (s) return `${seconds(s.min)} / ${seconds(s.median)} / ${seconds(s.max)}${missing}`;
      return missing ? `never${missing}` : '-';
    });
    const others = Object.entries(row.others).map(([status, n]) => `${n}x ${status}`);
    const failed = [
      row.refused ? ` (${row.refused} answered 503)` : '',
      row.errors.length ? ` (${row.errors.length} failed)` : '',
      others.length ? ` (polls answered ${others.join(', ')})` : '',
    ].join('');
    const origin = row.want === 401 && row.refused < row.trials ? String(row.originAfterBound) : 'n/a';
    lines.push(`| ${row.label} | ${row.writer.toUpperCase()} | ${row.trials}${failed} | ${cells.join(' | ')} | ${origin} |`);
  }
  return lines.join('\n');
}

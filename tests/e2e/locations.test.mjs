// Several edge locations of the real build in one `workerd serve` process
// (support/locations.mjs): location A with two isolates, B and C with one,
// sharing one KV store that shows a location's writes to the others only
// after a delay, as Workers KV does between locations. Each revocation route
// is used at A (and a restore story at A and B) while B and C are asked every
// 100 ms with the revoked token (support/propagation.mjs), in front of a
// recording stub origin.
//
// Without the revocation journal, B and C learn of a revocation from KV only:
// they must enforce it once the KV delay has passed, not before (that would
// mean the harness leaks writes), and not much later. With the journal bound
// (REVOCATION_JOURNAL, when the build exports RevocationJournal) every
// location must enforce it within REVOCATION_SYNC_SECONDS + 1 s, however slow
// KV is. `node scripts/simulate.mjs` runs the same measurement at length.
// Run: node --test --test-concurrency=1 tests/e2e/locations.test.mjs
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startOrigin } from '../../scripts/lib/origin.mjs';
import { startLocations, buildHasJournal, adminCall } from './support/locations.mjs';
import { PROPAGATION_VARS, KINDS, runTrials, summarize, markdownTable, kvReadsPerRequest, revokeUser } from './support/propagation.mjs';
import { call } from './support/http.mjs';
import { mint, mintAssertion, issSub } from './support/keys.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the origin and the locations before the block's tests; stops both after. */
function useLocations(options) {
  const ctx = {};
  before(async () => {
    ctx.origin = await startOrigin();
    ctx.sim = await startLocations({ ...options, originUrl: ctx.origin.url });
    ctx.names = Object.keys(ctx.sim.urls);
    ctx.kv = (p) => adminCall(ctx.sim.kvAdmin, p, { method: 'POST' });
  }, { timeout: 60_000 });
  after(async () => {
    await ctx.sim?.stop();
    await ctx.origin?.close();
  });
  return ctx;
}

/** The rows of a run, as a table in the test's output; fails on any trial that broke. */
function report(t, ctx, results) {
  const rows = summarize(results, ctx.names);
  for (const line of markdownTable(rows, ctx.names).split('\n')) t.diagnostic(line);
  for (const row of rows) assert.deepEqual(row.errors, [], `${row.label}: trials failed`);
  return rows;
}

/**
 * A row: every isolate got there and stayed, with no other answers on the way;
 * nothing got through after the bound; the writer's own location within
 * `ownBoundMs`. Without a journal that is at once (KV shows a write where it
 * was made); with one, the writer's other isolates follow the journal like
 * every other location's.
 */
function assertEnforced(row, ownBoundMs = 1000) {
  assert.deepEqual(row.flaps, [], `${row.label}: an isolate answered otherwise after enforcing`);
  assert.deepEqual(row.missing, {}, `${row.label}: a location never got there`);
  assert.deepEqual(row.others, {}, `${row.label}: polls answered neither the status before nor the one after`);
  if (row.want === 401) assert.equal(row.originAfterBound, 0, `${row.label}: requests reached the origin after the bound`);
  const own = row.locations[row.writer];
  // The isolate that restored counts the token as revoked in the second of the restore.
  const ownBound = row.want === 401 ? ownBoundMs : ownBoundMs + 500;
  assert.ok(own.max <= ownBound, `${row.label}: ${own.max.toFixed(0)} ms at the writing location ${row.writer}`);
}

describe('edge locations without a revocation journal (KV only)', () => {
  const KV_DELAY_MS = 8000;
  const BOUND_MS = KV_DELAY_MS + 3000;
  const ctx = useLocations({ vars: PROPAGATION_VARS, kvDelayMs: KV_DELAY_MS });

  it('the harness: KV shows a write where it was made at once, elsewhere after the delay; each location has its own cache', async () => {
    const { sim } = ctx;
    await ctx.kv('/propagation?ms=1000');
    const key = `harness:${Date.now()}`;
    const kv = (location, method, { body, query = '', headers = {} } = {}) =>
      fetch(`${sim.kvAdmin}/${encodeURIComponent(key)}?urlencoded=true${query}`, { method, body, headers: { ...headers, 'X-Location': location } });
    const read = async (location) => {
      const r = await kv(location, 'GET');
      return r.status === 404 ? null : r.text();
    };
    const bulk = async (location) => {
      const r = await fetch(`${sim.kvAdmin}/bulk/get`, { method: 'POST', headers: { 'X-Location': location }, body: JSON.stringify({ keys: [key] }) });
      return (await r.json())[key];
    };
    const list = async (location) =>
      (await (await fetch(`${sim.kvAdmin}/?prefix=harness:`, { headers: { 'X-Location': location } })).json()).keys.filter((k) => k.name === key);

    const far = Math.floor(Date.now() / 1000) + 3600;
    assert.equal((await kv('a', 'PUT', { body: 'v1', query: `&expiration=${far}`, headers: { 'CF-KV-Metadata': '{"m":1}' } })).status, 200);
    assert.equal(await read('a'), 'v1', 'the writer sees its write at once');
    assert.equal((await kv('a', 'GET')).headers.get('cf-kv-metadata'), '{"m":1}');
    assert.deepEqual(await list('a'), [{ name: key, expiration: far, metadata: { m: 1 } }]);
    assert.equal(await read('b'), null, 'another location does not, yet');
    assert.equal(await bulk('b'), null);
    assert.deepEqual(await list('b'), []);
    await sleep(1100);
    assert.equal(await read('b'), 'v1', 'after the delay it does');
    assert.equal(await bulk('c'), 'v1');

    assert.equal((await kv('b', 'DELETE')).status, 200);
    assert.equal(await read('b'), null, 'a delete is seen at once where it was made');
    assert.equal(await bulk('a'), 'v1', 'and elsewhere only after the delay');
    await sleep(1100);
    assert.equal(await read('a'), null);

    assert.equal((await kv('a', 'PUT', { body: 'old', query: `&expiration=${far - 7200}` })).status, 200);
    assert.equal(await read('a'), null, 'an expired entry reads as missing');

    await ctx.kv('/refuse-writes?status=500&ms=60000&location=b');
    assert.equal((await kv('b', 'PUT', { body: 'refused' })).status, 500, 'refused at b');
    assert.equal((await kv('a', 'PUT', { body: 'v2' })).status, 200, 'not at a');
    await ctx.kv('/refuse-writes?ms=0');
    assert.equal((await kv('b', 'PUT', { body: 'v3' })).status, 200, 'refusal lifted');
    assert.equal(await read('b'), 'v3');
    assert.equal((await fetch(`${sim.kvAdmin}/x`)).status, 400, 'a request without X-Location is refused');
    const stats = await sim.kvStats();
    assert.equal(stats.locations.b.refused, 1);
    assert.ok(stats.locations.a.put >= 3 && stats.locations.b.delete === 1, JSON.stringify(stats.locations));

    // The Cache API protocol, straight to the cache services: A's entry is not B's, and max-age ends it.
    const entry = 'HTTP/1.1 200 OK\r\nCache-Control: max-age=1\r\nContent-Length: 2\r\n\r\nhi';
    const cache = (location, method, body) => fetch(`${sim.cacheAdmin(location)}/entry`, { method, body });
    assert.equal((await cache('a', 'PUT', entry)).status, 204);
    const hit = await cache('a', 'GET');
    assert.equal(hit.headers.get('cf-cache-status'), 'HIT');
    assert.equal(await hit.text(), 'hi');
    assert.equal((await cache('b', 'GET')).headers.get('cf-cache-status'), 'MISS', "B does not see A's cache");
    await sleep(1100);
    assert.equal((await cache('a', 'GET')).headers.get('cf-cache-status'), 'MISS', 'max-age=1 has passed');
    assert.deepEqual(
      await adminCall(sim.cacheAdmin('a'), '/stats'),
      { match: 2, hit: 1, miss: 1, put: 1, stored: 1, purge: 0, entries: 0 },
    );
  });

  it(`every write kind: enforced at once where it was made, at the other locations after the KV delay (${KV_DELAY_MS} ms) and within it + 3 s`, { timeout: 120_000 }, async (t) => {
    await ctx.kv(`/propagation?ms=${KV_DELAY_MS}`);
    const results = await runTrials(ctx.sim, ctx.origin, { trials: 1, boundMs: BOUND_MS, timeoutMs: BOUND_MS + 5000 });
    const rows = report(t, ctx, results);
    assert.equal(rows.length, KINDS.length + 2, 'every kind, and the three phases of the restore story');
    for (const row of rows) {
      assertEnforced(row);
      for (const location of ctx.names.filter((l) => l !== row.writer)) {
        const { min, max } = row.locations[location];
        assert.ok(min >= KV_DELAY_MS - 500, `${row.label}: ${location} after ${min.toFixed(0)} ms, before KV could have shown it`);
        assert.ok(max <= BOUND_MS, `${row.label}: ${location} after ${max.toFixed(0)} ms`);
      }
    }
  });

  it('KV reads per request at B for a token it has seen', async (t) => {
    const reads = await kvReadsPerRequest(ctx.sim, 'b');
    t.diagnostic(`KV per request at B (${reads.requests} requests, one token): ${JSON.stringify(reads)}`);
    assert.ok(reads.operations <= 1, 'at most one KV operation per checked request');
  });

  it('while KV refuses writes, no revocation answers success; once it takes them again, one does', { timeout: 60_000 }, async (t) => {
    await ctx.kv('/refuse-writes?status=500&ms=60000');
    let results;
    try {
      results = await runTrials(ctx.sim, ctx.origin, { trials: 1, boundMs: BOUND_MS, timeoutMs: BOUND_MS + 5000, unavailableOk: true });
    } finally {
      await ctx.kv('/refuse-writes?ms=0');
    }
    const rows = report(t, ctx, results);
    for (const row of rows.filter((r) => r.writer === 'a' && r.phase.startsWith('revoke'))) {
      assert.equal(row.refused, row.trials, `${row.label}: answered success while KV refused every write`);
    }
    const token = await mint({ alg: 'ES256' });
    assert.equal((await call(ctx.sim.urls.a[0], '/api/tokens', { method: 'DELETE', token })).status, 204);
    assert.equal((await call(ctx.sim.urls.a[1], '/sim/after-refusal', { token })).status, 401);
  });
});

describe('edge locations with the revocation journal (REVOCATION_JOURNAL bound)', () => {
  it('the build exports the RevocationJournal class', () => {
    assert.ok(buildHasJournal(), 'build/ has no RevocationJournal: run bash scripts/build.sh');
  });

  const KV_DELAY_MS = 20_000;
  const SYNC_SECONDS = 1;
  const BOUND_MS = (SYNC_SECONDS + 1) * 1000;
  const ctx = useLocations({
    vars: { ...PROPAGATION_VARS, REVOCATION_SYNC_SECONDS: String(SYNC_SECONDS) },
    journal: true,
    kvDelayMs: KV_DELAY_MS,
  });

  it(`every write kind, 10 trials each: enforced at every location within REVOCATION_SYNC_SECONDS + 1 s (${BOUND_MS} ms), with KV ${KV_DELAY_MS} ms behind`, { timeout: 300_000 }, async (t) => {
    await ctx.kv(`/propagation?ms=${KV_DELAY_MS}`);
    // Polling goes on past the bound, so a slow location shows its real time.
    const results = await runTrials(ctx.sim, ctx.origin, { trials: 10, concurrency: KINDS.length, boundMs: BOUND_MS, timeoutMs: KV_DELAY_MS + 10_000 });
    const rows = report(t, ctx, results);
    for (const row of rows) {
      assert.ok(row.trials >= 10, `${row.label}: ${row.trials} trials`);
      assertEnforced(row, BOUND_MS);
      if (row.want !== 401) continue; // a restore may take KV's time: it never lets a revoked token through
      for (const location of ctx.names) {
        const { max } = row.locations[location];
        assert.ok(max <= BOUND_MS, `${row.label}: ${location} after ${max.toFixed(0)} ms`);
      }
    }
  });

  it('KV reads per request at B for a token it has seen', async (t) => {
    const reads = await kvReadsPerRequest(ctx.sim, 'b');
    t.diagnostic(`KV per request at B (${reads.requests} requests, one token): ${JSON.stringify(reads)}`);
    assert.ok(reads.operations <= 1, 'at most one KV operation per checked request');
  });

  it('one Global Token Revocation assertion sent to every location at once is taken once (the journal decides; KV is 20 s behind)', async () => {
    await ctx.kv(`/propagation?ms=${KV_DELAY_MS}`);
    const assertion = await mintAssertion();
    const stamp = Date.now();
    // Every isolate of every location (A has two).
    const urls = ctx.names.flatMap((name) => [ctx.sim.urls[name]].flat());
    const answers = await Promise.all(urls.map((url, i) => revokeUser(url, issSub(`claim-${i}-${stamp}`), assertion)));
    const statuses = answers.map((r) => r.status);
    assert.deepEqual([...statuses].sort(), [204, ...urls.slice(1).map(() => 401)], JSON.stringify(statuses));
    for (const r of answers.filter((r) => r.status === 401)) {
      assert.equal(JSON.parse(r.text).detail, 'Assertion already used.');
    }
  });

  for (const status of [429, 500]) {
    it(`while KV answers every write ${status} for a minute, a revocation that answers success is enforced everywhere within the bound`, { timeout: 180_000 }, async (t) => {
      await ctx.kv(`/refuse-writes?status=${status}&ms=60000`);
      let results;
      try {
        results = await runTrials(ctx.sim, ctx.origin, { trials: 1, boundMs: BOUND_MS, timeoutMs: KV_DELAY_MS + 10_000, unavailableOk: true });
      } finally {
        await ctx.kv('/refuse-writes?ms=0');
      }
      for (const row of report(t, ctx, results)) {
        if (row.refused === row.trials || row.want !== 401) continue;
        assertEnforced(row, BOUND_MS);
        for (const location of ctx.names) {
          assert.ok(row.locations[location].max <= BOUND_MS, `${row.label}: ${location} after ${row.locations[location].max.toFixed(0)} ms`);
        }
      }
    });
  }
});

// End-to-end tests of the RFC 8936 poll receiver: the built worker under
// `wrangler dev --test-scheduled` polls a transmitter stub on loopback
// (support/transmitter.mjs) each time GET /__scheduled runs its scheduled
// handler (what the cron trigger runs). SETs are enforced once the run ends,
// acknowledged only once stored, refused ones reported in setErrs with the
// push route's error, a poll that fails midway leaves its SETs to come
// again, and a worker whose KV is down acknowledges nothing.
// Run: node --test --test-concurrency=1 tests/e2e/poll.test.mjs
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';

import { startOrigin } from '../../scripts/lib/origin.mjs';
import { buildWorkerOnce, startWorker } from './support/worker.mjs';
import { startTransmitter } from './support/transmitter.mjs';
import {
  mint, mintSet, issSub, now, keys,
  JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE, SSF_ISSUER, SSF_AUDIENCE, SSF_JWKS, EVENTS,
} from './support/keys.mjs';
import { call } from './support/http.mjs';
import { logLines } from './support/logs.mjs';

buildWorkerOnce();

const T = { timeout: 60_000 };
const POLL_TOKEN = `poll-${randomBytes(12).toString('hex')}`;
const uniq = (p) => `${p}-${randomBytes(4).toString('hex')}`;
const VARS = { JWT_SECRET, JWT_JWKS, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, SSF_ISSUER, SSF_AUDIENCE, SSF_JWKS };

/** A credential-change SET for `sub` (every token of the user ends), ID `jti`. */
const userSet = (sub, jti = randomUUID(), t = now() - 2) =>
  mintSet({ claims: { jti, sub_id: issSub(sub), events: { [EVENTS.credentialChange]: { event_timestamp: t } } } });
const access = (sub, iat = now() - 10) => mint({ alg: 'RS256', claims: { sub, iat, exp: now() + 900 } });

const summaries = (worker) => worker.logs().split('\n').filter((l) => l.includes('"event":"ssf_poll"'));

/**
 * One scheduled run, as the cron trigger would start it; resolves when it has
 * ended and its summary line is in the log, with that line.
 */
async function runScheduled(worker) {
  const before = summaries(worker).length;
  const r = await fetch(`${worker.url}/__scheduled?cron=*+*+*+*+*`, { signal: AbortSignal.timeout(45_000) });
  assert.equal(r.status, 200, await r.text());
  const deadline = Date.now() + 5000;
  while (summaries(worker).length <= before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const lines = summaries(worker);
  assert.ok(lines.length > before, 'the run logged its summary');
  return lines[lines.length - 1];
}

describe('RFC 8936 poll receiver (SSF_POLL_URL set)', () => {
  const ctx = {};
  before(async () => {
    ctx.origin = await startOrigin();
    ctx.transmitter = await startTransmitter({ token: POLL_TOKEN });
    ctx.worker = await startWorker({
      vars: { ...VARS, SSF_POLL_URL: ctx.transmitter.url, SSF_POLL_TOKEN: POLL_TOKEN },
      originUrl: ctx.origin.url,
      logLevel: 'log',
      testScheduled: true,
    });
  }, { timeout: 90_000 });
  after(async () => {
    await ctx.worker?.stop();
    await ctx.transmitter?.close();
    await ctx.origin?.close();
  });
  const get = (token) => call(ctx.worker.url, '/hello', { token });

  it("polled SETs are enforced when the run ends, and acknowledged once stored", T, async () => {
    const [alice, bob] = [uniq('alice'), uniq('bob')];
    const aliceToken = await access(alice);
    const bobToken = await access(bob);
    const other = await access(uniq('carol'));
    for (const t of [aliceToken, bobToken]) assert.equal((await get(t)).status, 200);
    const first = ctx.transmitter.requests.length;
    const ids = [randomUUID(), randomUUID()];
    ctx.transmitter.add(ids[0], await userSet(alice, ids[0]));
    ctx.transmitter.add(ids[1], await userSet(bob, ids[1]));

    const summary = await runScheduled(ctx.worker);
    assert.equal((await get(aliceToken)).status, 401, 'alice within one poll interval');
    assert.equal((await get(bobToken)).status, 401, 'bob within one poll interval');
    assert.equal((await get(other)).status, 200);
    assert.deepEqual([...ctx.transmitter.pending.keys()], [], 'nothing left at the transmitter');
    assert.deepEqual(ctx.transmitter.acked.slice(-2).sort(), [...ids].sort());

    const requests = ctx.transmitter.requests.slice(first);
    assert.equal(requests[0].authorization, `Bearer ${POLL_TOKEN}`);
    assert.equal(requests[0].contentType, 'application/json');
    assert.deepEqual(requests[0].body, { maxEvents: 25, returnImmediately: true, ack: [] });
    assert.deepEqual(requests[1].body.ack.sort(), [...ids].sort(), 'the next poll acknowledges both');
    assert.match(summary, /"acknowledged":2/);
    const lines = logLines(ctx.worker).filter((l) => l.route === 'SSF poll (RFC 8936)' && [alice, bob].includes(l.sub));
    assert.equal(lines.length, 2, 'one line per SET, as the push route writes them');
  });

  it("a refused SET is reported in setErrs with the push route's error, never acknowledged", T, async () => {
    const victim = uniq('dave');
    const token = await access(victim);
    const jti = randomUUID();
    // Signed with the access-token key: not the transmitter's.
    ctx.transmitter.add(jti, await mintSet({ key: keys.rsa, header: { kid: 'rsa-1' }, claims: { jti, sub_id: issSub(victim) } }));
    await runScheduled(ctx.worker);
    assert.deepEqual(ctx.transmitter.errs[jti], { err: 'invalid_key', description: 'unknown signing key' });
    assert.ok(!ctx.transmitter.acked.includes(jti));
    assert.equal((await get(token)).status, 200, 'nothing acted on');
    const pushed = await call(ctx.worker.url, '/ssf/events', {
      method: 'POST',
      headers: { 'Content-Type': 'application/secevent+jwt' },
      body: await mintSet({ key: keys.rsa, header: { kid: 'rsa-1' }, claims: { sub_id: issSub(victim) } }),
    });
    assert.deepEqual(JSON.parse(pushed.text), ctx.transmitter.errs[jti], 'the same answer as a push');
  });

  it('a poll that fails midway leaves its SETs to come again; the replay changes nothing', T, async () => {
    const sub = uniq('erin');
    const token = await access(sub);
    const jti = randomUUID();
    ctx.transmitter.add(jti, await userSet(sub, jti));
    // The run's first poll gets the SET; the second, which acknowledges it, fails.
    ctx.transmitter.failAt(ctx.transmitter.requests.length + 1);
    const failed = await runScheduled(ctx.worker);
    assert.equal((await get(token)).status, 401, 'the effect was stored');
    assert.ok(ctx.transmitter.pending.has(jti), 'not acknowledged');
    assert.match(failed, /"failed":"the poll endpoint did not answer 200"/);
    assert.match(failed, /"left":1/);

    // Signed in again after the event; the SET comes again and must not end it.
    const again = await access(sub, now() + 1);
    assert.equal((await get(again)).status, 200);
    await runScheduled(ctx.worker);
    assert.ok(!ctx.transmitter.pending.has(jti), 'acknowledged on the next run');
    assert.equal(ctx.transmitter.acked.filter((j) => j === jti).length, 1);
    assert.equal((await get(again)).status, 200, 'the replay changed nothing');
  });

  it('a poll endpoint that is down ends the run at once; its SETs wait for the next', T, async () => {
    const sub = uniq('frank');
    const jti = randomUUID();
    ctx.transmitter.add(jti, await userSet(sub, jti));
    ctx.transmitter.failAt(ctx.transmitter.requests.length);
    await runScheduled(ctx.worker);
    assert.ok(ctx.transmitter.pending.has(jti));
    await runScheduled(ctx.worker);
    assert.ok(!ctx.transmitter.pending.has(jti));
  });

  it('an answer whose body stalls ends the run within the poll timeout (10 s); its SETs wait for the next', T, async () => {
    const jti = randomUUID();
    ctx.transmitter.add(jti, await userSet(uniq('heidi'), jti));
    ctx.transmitter.stallAt(ctx.transmitter.requests.length);
    const started = Date.now();
    const summary = await runScheduled(ctx.worker);
    const took = Date.now() - started;
    assert.match(summary, /"failed":"no answer"/);
    assert.ok(took >= 9_000 && took < 20_000, `the run ended after ${took} ms`);
    assert.ok(ctx.transmitter.pending.has(jti));
    await runScheduled(ctx.worker);
    assert.ok(!ctx.transmitter.pending.has(jti));
  });

  it('an answer over 1 MiB is refused, exactly 1 MiB is read', T, async () => {
    ctx.transmitter.padAt(ctx.transmitter.requests.length, 1024 * 1024 + 1);
    assert.match(await runScheduled(ctx.worker), /"failed":"the poll answer is over 1 MiB"/);
    ctx.transmitter.padAt(ctx.transmitter.requests.length, 1024 * 1024);
    assert.match(await runScheduled(ctx.worker), /"failed":null/);
  });
});

describe('RFC 8936 poll receiver whose KV is down', () => {
  const ctx = {};
  before(async () => {
    ctx.origin = await startOrigin();
    ctx.transmitter = await startTransmitter({ token: POLL_TOKEN });
    const vars = { ...VARS, SSF_POLL_URL: ctx.transmitter.url, SSF_POLL_TOKEN: POLL_TOKEN };
    ctx.down = await startWorker({ vars, originUrl: ctx.origin.url, logLevel: 'log', testScheduled: true, kv: false, journal: false });
    ctx.up = await startWorker({ vars, originUrl: ctx.origin.url, logLevel: 'log', testScheduled: true });
  }, { timeout: 120_000 });
  after(async () => {
    await ctx.down?.stop();
    await ctx.up?.stop();
    await ctx.transmitter?.close();
    await ctx.origin?.close();
  });

  it('acknowledges nothing it could not store; a worker with KV then acts on it', T, async () => {
    const sub = uniq('grace');
    const token = await access(sub);
    const jti = randomUUID();
    ctx.transmitter.add(jti, await userSet(sub, jti));
    const summary = await runScheduled(ctx.down);
    assert.ok(ctx.transmitter.pending.has(jti), 'left to come again');
    assert.deepEqual(ctx.transmitter.acked, []);
    assert.deepEqual(ctx.transmitter.errs, {}, 'not reported as invalid either');
    assert.match(summary, /"left":1/);

    assert.equal((await call(ctx.up.url, '/hello', { token })).status, 200);
    await runScheduled(ctx.up);
    assert.deepEqual(ctx.transmitter.acked, [jti]);
    assert.equal((await call(ctx.up.url, '/hello', { token })).status, 401);
  });
});

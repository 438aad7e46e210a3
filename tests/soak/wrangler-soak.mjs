// A bounded load soak of the built worker under `wrangler dev` (workerd + local
// KV) in front of the e2e stub origin, all on 127.0.0.1: `npm run soak:wrangler`.
// See docs/soak.md. `npm run soak` is the workerd soak (soak.mjs), which
// measures the worker's memory against a baseline; this one exercises the
// `wrangler dev` stack of the e2e tests and `npm run dev`.
//
//   node tests/soak/wrangler-soak.mjs [--duration 60] [--connections 64] [options]
//
// N concurrent request loops send a mix of requests with valid, revoked and
// being-revoked tokens, plus revocation calls (self sign-out and admin
// revocation). Two invariants are checked on every answer:
//   1. once a revocation has answered 2xx, every request with that token that
//      STARTED after the answer arrived gets 401 "token revoked";
//   2. a token that was never revoked never gets a 5xx.
// The RSS of the workerd process is sampled throughout. A summary table is
// printed and written as JSON to tests/soak/results/<UTC timestamp>.json.
//
// Exit codes: 0 every check passed; 1 a check failed; 2 the soak could not run
// (bad options, worker failed to start, watchdog); 130 interrupted.
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import { startOrigin } from '../../scripts/lib/origin.mjs';
import { startWorker, buildWorkerOnce, tempDir, ROOT, BUILD_JS } from '../e2e/support/worker.mjs';
import { mint, now, JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE } from '../e2e/support/keys.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REVOKED_CHALLENGE = 'Bearer realm="api", error="invalid_token", error_description="token revoked"';

// ---------------------------------------------------------------- options

const DEFAULTS = {
  duration: 60, // seconds of load
  connections: 64, // concurrent request loops = max sockets
  pool: 300, // live (never revoked) user tokens kept in the pool
  preRevoked: 30, // tokens revoked before the load starts
  revokeRate: 0.05, // fraction of loop iterations that are revocation calls
  sampleEvery: 10, // seconds between RSS samples
  maxRequests: 1_000_000, // hard cap on load requests
  timeout: 30, // seconds per request
  seed: undefined, // PRNG seed for the request mix (default: random)
  out: undefined, // JSON summary path (default: tests/soak/results/<ts>.json)
  logLevel: 'warn', // wrangler dev --log-level
};

const HELP = `Usage: npm run soak:wrangler -- [options]   (node tests/soak/wrangler-soak.mjs [options])

  --duration S        seconds of load (default ${DEFAULTS.duration})
  --connections N     concurrent request loops and sockets (default ${DEFAULTS.connections})
  --pool N            live user tokens kept in the pool (default ${DEFAULTS.pool})
  --pre-revoked N     tokens revoked before the load starts (default ${DEFAULTS.preRevoked})
  --revoke-rate F     fraction of loop iterations that revoke a token (default ${DEFAULTS.revokeRate})
  --sample-every S    seconds between RSS samples (default ${DEFAULTS.sampleEvery})
  --max-requests N    stop after this many load requests (default ${DEFAULTS.maxRequests})
  --timeout S         per-request timeout in seconds (default ${DEFAULTS.timeout})
  --seed N            seed of the request mix (default: random, printed)
  --log-level L       wrangler dev --log-level (default warn; 'log' shows the worker's console output)
  --out FILE          where to write the JSON summary (default tests/soak/results/wrangler-<UTC>.json);
                      --out - skips writing it
  -h, --help          this text

Builds nothing: run \`bash scripts/build.sh\` first if build/index.js is missing.
Exit code: 0 all checks passed, 1 a check failed, 2 the soak could not run.`;

function parseArgs(argv) {
  const o = { ...DEFAULTS };
  const num = (name, v, { int = true, min = 0, max = Infinity } = {}) => {
    const n = Number(v);
    if (v === undefined || v === '' || !Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min || n > max) {
      throw new Error(`--${name} needs ${int ? 'an integer' : 'a number'} in [${min}, ${max}], got ${v}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const next = () => (v !== undefined ? v : argv[++i]);
    switch (a) {
      case '-h': case '--help': console.log(HELP); process.exit(0);
      case '--duration': o.duration = num('duration', next(), { int: false, min: 1, max: 3600 }); break;
      case '--connections': o.connections = num('connections', next(), { min: 1, max: 1024 }); break;
      case '--pool': o.pool = num('pool', next(), { min: 8, max: 100_000 }); break;
      case '--pre-revoked': o.preRevoked = num('pre-revoked', next(), { min: 0, max: 100_000 }); break;
      case '--revoke-rate': o.revokeRate = num('revoke-rate', next(), { int: false, min: 0, max: 0.5 }); break;
      case '--sample-every': o.sampleEvery = num('sample-every', next(), { int: false, min: 0.5, max: 3600 }); break;
      case '--max-requests': o.maxRequests = num('max-requests', next(), { min: 1, max: 1e9 }); break;
      case '--timeout': o.timeout = num('timeout', next(), { int: false, min: 1, max: 600 }); break;
      case '--seed': o.seed = num('seed', next(), { min: 0, max: 2 ** 32 - 1 }); break;
      case '--log-level': o.logLevel = next(); if (!['debug', 'info', 'log', 'warn', 'error', 'none'].includes(o.logLevel)) throw new Error(`bad --log-level ${o.logLevel}`); break;
      case '--out': o.out = next(); if (!o.out) throw new Error('--out needs a path (or -)'); break;
      default: throw new Error(`unknown option ${argv[i]} (see --help)`);
    }
  }
  if (o.seed === undefined) o.seed = (Math.random() * 2 ** 32) >>> 0;
  return o;
}

// ---------------------------------------------------------------- helpers

/** mulberry32: a small seeded PRNG, so a run's request mix can be repeated. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mib = (kib) => (kib == null ? null : Math.round((kib / 1024) * 10) / 10);
const fmtMiB = (kib) => (kib == null ? 'n/a' : `${mib(kib).toFixed(1)} MiB`);
const round = (x, d = 1) => (x == null ? null : Math.round(x * 10 ** d) / 10 ** d);
const bump = (obj, key, by = 1) => { obj[key] = (obj[key] ?? 0) + by; };

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** Latency recorder: grows a Float64Array, sorted once at the end. */
class Latencies {
  constructor() { this.a = new Float64Array(1 << 16); this.n = 0; }
  add(ms) {
    if (this.n === this.a.length) { const b = new Float64Array(this.a.length * 2); b.set(this.a); this.a = b; }
    this.a[this.n++] = ms;
  }
  stats() {
    const s = this.a.slice(0, this.n).sort();
    return {
      count: this.n,
      p50: round(percentile(s, 50), 2),
      p90: round(percentile(s, 90), 2),
      p99: round(percentile(s, 99), 2),
      max: round(this.n ? s[this.n - 1] : null, 2),
    };
  }
}

// ---------------------------------------------------------------- process memory (/proc)

function readProcs() {
  const procs = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      procs.set(Number(name), { pid: Number(name), ppid, comm });
    } catch {
      // the process went away while we looked
    }
  }
  return procs;
}

function cmdline(pid) {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean); } catch { return null; }
}

/** VmRSS and VmHWM of a process in KiB, or null once it is gone. */
function memOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(s);
    const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(s);
    return { rss: rss ? Number(rss[1]) : 0, hwm: hwm ? Number(hwm[1]) : 0 };
  } catch {
    return null;
  }
}

/**
 * The process tree of the `wrangler dev` spawned for this worker: its roots are
 * the processes whose command line names the generated config (startWorker
 * passes `-c <configPath>`), plus all their descendants. wrangler 4 runs two
 * workerd processes: its dev proxy, which listens on the public port
 * (`--socket-addr=entry=127.0.0.1:<port>`), and the runtime that runs this
 * worker (entry on port 0, with `--inspect`). `workerd` is the latter.
 */
function findWorkerProcesses(configPath, port) {
  const procs = readProcs();
  const roots = [...procs.keys()].filter((pid) => {
    const args = cmdline(pid);
    return args && args.includes(configPath);
  });
  const tree = new Set(roots);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs.values()) {
      if (!tree.has(p.pid) && tree.has(p.ppid)) { tree.add(p.pid); grew = true; }
    }
  }
  const all = [...tree].map((pid) => procs.get(pid)).filter(Boolean);
  const isWorkerd = (p) => p.comm === 'workerd' || (cmdline(p.pid)?.[0] ?? '').endsWith('/workerd');
  const isProxy = (p) => (cmdline(p.pid) ?? []).includes(`--socket-addr=entry=127.0.0.1:${port}`);
  return {
    workerd: all.filter((p) => isWorkerd(p) && !isProxy(p)).map((p) => p.pid),
    proxy: all.filter((p) => isWorkerd(p) && isProxy(p)).map((p) => p.pid),
    others: all.filter((p) => !isWorkerd(p)).map((p) => ({ pid: p.pid, comm: p.comm })),
  };
}

function memSample(pids) {
  let workerd = 0, workerdHwm = 0, found = 0;
  for (const pid of pids.workerd) {
    const m = memOf(pid);
    if (m) { workerd += m.rss; workerdHwm += m.hwm; found++; }
  }
  const sum = (list) => {
    let kib = 0;
    for (const pid of list) kib += memOf(pid)?.rss ?? 0;
    return kib || null;
  };
  return {
    workerdRssKiB: found ? workerd : null,
    workerdHwmKiB: found ? workerdHwm : null,
    proxyWorkerdRssKiB: sum(pids.proxy),
    wranglerNodeRssKiB: sum(pids.others.map((p) => p.pid)),
    harnessRssKiB: Math.round(process.memoryUsage().rss / 1024),
  };
}

// ---------------------------------------------------------------- HTTP

let agent;
let baseUrl;
let requestTimeoutMs;
const seenSockets = new WeakSet();
let socketsOpened = 0; // TCP connections the client opened (keep-alive: about --connections)

/**
 * One request over the shared keep-alive agent. Resolves (never rejects) to
 * { status, headers, start, end, error }. `start` is taken right before the
 * request is handed to the socket layer; `end` when the response has been read.
 * `onHeaders(t)` is called when the response headers arrive.
 */
function send({ method = 'GET', path: p, token, body, onHeaders }) {
  return new Promise((resolve) => {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    let settled = false;
    const done = (r) => { if (!settled) { settled = true; resolve(r); } };
    const start = performance.now();
    const req = http.request(baseUrl + p, { method, headers, agent }, (res) => {
      const hdrAt = performance.now();
      onHeaders?.(hdrAt);
      // Keep the start of unexpected bodies (5xx) for the report.
      let text = '';
      const keepBody = res.statusCode >= 500;
      res.on('data', (c) => { if (keepBody && text.length < 512) text += c; });
      res.on('error', (e) => done({ status: 0, error: e.code || e.message, reused: req.reusedSocket, start, end: performance.now() }));
      res.on('end', () => done({ status: res.statusCode, headers: res.headers, body: keepBody ? text.slice(0, 512) : undefined, start, hdrAt, end: performance.now() }));
    });
    req.on('socket', (sock) => { if (!seenSockets.has(sock)) { seenSockets.add(sock); socketsOpened++; } });
    req.setTimeout(requestTimeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e) => done({ status: 0, error: e.code || e.message, reused: req.reusedSocket, start, end: performance.now() }));
    req.end(body);
  });
}

// ---------------------------------------------------------------- tokens

const ALGS = ['HS256', 'RS256', 'PS256', 'ES256', 'EdDSA'];
const RUN_ID = `${Date.now().toString(36)}${process.pid.toString(36)}`;
let tokenSeq = 0;

/**
 * A user token. state: 'valid' (never targeted) -> 'revoking' (revocation sent)
 * -> 'revoked' (answered 2xx; revokedAt = when the answer arrived) or
 * 'failed' (answered otherwise: unknown, excluded from both invariants).
 */
async function newUserToken(expSeconds) {
  const n = tokenSeq++;
  const alg = ALGS[n % ALGS.length];
  const jti = `soak-${RUN_ID}-${n}`;
  const t = now();
  const token = await mint({ alg, claims: { sub: `user-${n % 97}`, jti, iat: t, exp: t + expSeconds } });
  return { n, alg, jti, token, state: 'valid', poolIndex: -1, revokeVia: null, revokeSentAt: null, revokedAt: null };
}

// ---------------------------------------------------------------- the soak

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`soak: ${e.message}`);
    return 2;
  }
  try {
    buildWorkerOnce();
  } catch (e) {
    console.error(`soak: ${e.message}`);
    return 2;
  }
  requestTimeoutMs = opts.timeout * 1000;
  // Run a snapshot of build/, so a rebuild during the soak (wrangler dev watches
  // its main module and would hot-reload) cannot swap the worker under test.
  const snapshot = path.join(tempDir('soak'), 'build');
  cpSync(path.dirname(BUILD_JS), snapshot, { recursive: true });
  const snapMain = path.join(snapshot, path.basename(BUILD_JS));
  const sha = (f) => { try { return createHash('sha256').update(readFileSync(f)).digest('hex').slice(0, 16); } catch { return null; } };
  const buildInfo = { indexJsSha256: sha(snapMain), wasmSha256: sha(path.join(snapshot, 'index_bg.wasm')) };
  const rand = prng(opts.seed);
  const pick = (arr) => arr[Math.floor(rand() * arr.length)];
  // Token lifetime: the whole run plus a generous margin, so nothing expires mid-soak.
  const expSeconds = Math.ceil(opts.duration) + 900;

  console.log(`soak: ${opts.duration}s at ${opts.connections} connections, pool ${opts.pool}, ` +
    `revoke rate ${opts.revokeRate}, seed ${opts.seed}`);

  // --- start origin and worker
  const origin = await startOrigin();
  let originHits = 0;
  const drainOrigin = () => { originHits += origin.requests.length; origin.clear(); };
  const originTimer = setInterval(drainOrigin, 500);

  const vars = {
    JWT_SECRET,
    JWT_JWKS,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    JWT_LEEWAY_SECONDS: '30',
    MAX_TOKEN_LIFETIME_SECONDS: '7200',
  };
  let worker;
  try {
    worker = await startWorker({ vars, originUrl: origin.url, logLevel: opts.logLevel, main: snapMain });
  } catch (e) {
    clearInterval(originTimer);
    await origin.close();
    console.error(`soak: the worker did not start: ${e.message}`);
    return 2;
  }
  baseUrl = worker.url;
  agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections, maxFreeSockets: opts.connections });

  let stopping = false; // no new load requests
  let interrupted = false;
  const onSignal = (sig) => {
    if (stopping && interrupted) {
      console.error(`soak: ${sig} again, stopping now`);
      worker.stop().finally(() => process.exit(130));
      return;
    }
    console.error(`soak: ${sig}: finishing in-flight requests (again to stop at once)`);
    interrupted = true;
    stopping = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Watchdog: the soak must end by itself even if something hangs.
  const watchdogMs = (opts.duration + 2 * opts.timeout + 180) * 1000;
  const watchdog = setTimeout(() => {
    console.error(`soak: watchdog: still running after ${watchdogMs / 1000}s, giving up`);
    worker.stop().finally(() => process.exit(2));
  }, watchdogMs);
  watchdog.unref();

  try {
    return await soak({ opts, buildInfo, rand, pick, expSeconds, origin, worker, drainOrigin, getOriginHits: () => originHits,
      isStopping: () => stopping, setStopping: () => { stopping = true; }, isInterrupted: () => interrupted });
  } finally {
    clearTimeout(watchdog);
    clearInterval(originTimer);
    agent.destroy();
    await worker.stop();
    await origin.close();
  }
}

async function soak({ opts, buildInfo, rand, pick, expSeconds, origin, worker, drainOrigin, getOriginHits, isStopping, setStopping, isInterrupted }) {
  const wallStart = new Date();
  const loadAvgStart = os.loadavg().map((x) => round(x, 2));

  // --- tokens
  const t0 = performance.now();
  const admins = [];
  for (const alg of ['RS256', 'ES256', 'EdDSA', 'HS256']) {
    const t = now();
    admins.push({ alg, token: await mint({ alg, claims: { sub: `soak-admin-${alg}`, roles: ['identity:admin'], jti: `soak-${RUN_ID}-admin-${alg}`, iat: t, exp: t + expSeconds } }) });
  }
  const valid = []; // tokens in state 'valid', swap-removed on revocation
  const inflight = new Set(); // tokens in state 'revoking'
  const revoked = []; // tokens in state 'revoked', in order of revokedAt
  const failed = []; // tokens in state 'failed'
  const addValid = (tok) => { tok.poolIndex = valid.length; valid.push(tok); };
  const removeValid = (tok) => {
    const last = valid.pop();
    if (last !== tok) { valid[tok.poolIndex] = last; last.poolIndex = tok.poolIndex; }
    tok.poolIndex = -1;
  };
  for (let i = 0; i < opts.pool + opts.preRevoked; i++) addValid(await newUserToken(expSeconds));
  console.log(`soak: minted ${valid.length} user tokens (${ALGS.join(', ')}) and ${admins.length} admin tokens in ${Math.round(performance.now() - t0)} ms`);

  // --- accounting
  const CATS = ['valid', 'revoking', 'revoked', 'failed', 'revoke-self', 'revoke-admin'];
  const acct = {
    requests: 0,
    statusAll: {},
    statusByCat: Object.fromEntries(CATS.map((c) => [c, {}])),
    fiveXxByCat: Object.fromEntries(CATS.map((c) => [c, 0])),
    transportErrors: {},
    latency: new Latencies(),
    latencyByCat: Object.fromEntries(CATS.map((c) => [c, new Latencies()])),
    revocations: { issued: 0, succeeded: 0, failed: 0, self: { issued: 0, succeeded: 0 }, admin: { issued: 0, succeeded: 0 }, statuses: {} },
    // each: { count, examples (the first 50) }
    violations: { count: 0, examples: [] }, // invariant 1: non-401 after a successful revocation
    violationKinds: { answered: 0, refusedNot401: 0 },
    wrongReason: { count: 0, examples: [] }, // 401 after revocation without error_description="token revoked"
    validNon200: { count: 0, examples: [] }, // never-revoked token answered other than 200 from the origin
    judgedAfterRevocation: 0, // requests that invariant 1 applied to
    fiveXxValid: 0, // invariant 2: 5xx on requests carried by a never-revoked token, every phase
    revokingRaces: { ok200: 0, revoked401: 0, other: 0 }, // answers while the revocation was in flight
    failures: { count: 0, examples: [] }, // every 5xx and transport error, any category
  };
  const keep = (list, item) => { list.count++; if (list.examples.length < 50) list.examples.push(item); };
  let loadStart = null;
  /** What a report needs to know about one answer (no token text). */
  const describe = (phase, cat, tok, r) => ({
    phase,
    category: cat,
    atSeconds: loadStart === null ? null : round((r.start - loadStart) / 1000, 3),
    ...(tok ? { jti: tok.jti, alg: tok.alg } : {}),
    ...(tok?.revokedAt != null ? { via: tok.revokeVia, startedMsAfterRevocation: round(r.start - tok.revokedAt, 3) } : {}),
    status: r.status,
    ...(r.error ? { error: r.error, reusedSocket: r.reused } : {}),
    latencyMs: round(r.end - r.start, 1),
    ...(r.headers?.['www-authenticate'] ? { wwwAuthenticate: r.headers['www-authenticate'] } : {}),
    ...(r.headers?.['retry-after'] ? { retryAfter: r.headers['retry-after'] } : {}),
    ...(r.body ? { body: r.body } : {}),
  });

  /** Classify and check one data request's answer. */
  function account(cat, tok, r, phase) {
    const s = r.status;
    if (phase === 'load') {
      acct.requests++;
      acct.latency.add(r.end - r.start);
      acct.latencyByCat[cat].add(r.end - r.start);
      bump(acct.statusAll, s || 'error');
      bump(acct.statusByCat[cat], s || 'error');
      if (s >= 500) acct.fiveXxByCat[cat]++;
    }
    if (s === 0) bump(acct.transportErrors, `${r.error}${r.reused ? ' (reused socket)' : ''}`);
    if (s === 0 || s >= 500) keep(acct.failures, describe(phase, cat, tok, r));
    if (!tok) return;
    // Invariant 1: judged by the token's state when the request STARTED.
    if (tok.state === 'revoked' && r.start > tok.revokedAt) {
      acct.judgedAfterRevocation++;
      if (s !== 401) {
        // a 2xx/3xx/4xx lets the token through or answers for it; 5xx or no answer refuses it but is not the contract
        acct.violationKinds[s >= 200 && s < 500 && s !== 401 ? 'answered' : 'refusedNot401']++;
        keep(acct.violations, describe(phase, cat, tok, r));
      } else if (r.headers['www-authenticate'] !== REVOKED_CHALLENGE) keep(acct.wrongReason, describe(phase, cat, tok, r));
    } else if (cat === 'valid' && (tok.revokeSentAt === null || tok.revokeSentAt > r.end)) {
      // never revoked while this request ran: must be the origin's 200
      if (s >= 500) acct.fiveXxValid++;
      if (!(s === 200 && r.headers['x-origin'] === 'stub')) {
        keep(acct.validNon200, describe(phase, cat, tok, r));
      }
    } else if (cat === 'valid' || cat === 'revoking') {
      // the token's revocation was in flight during this request: 200 or 401 are both fine
      if (s === 200) acct.revokingRaces.ok200++;
      else if (s === 401) acct.revokingRaces.revoked401++;
      else acct.revokingRaces.other++;
    }
  }

  // --- revocation
  async function revoke(tok, via, phase, { replace = true } = {}) {
    removeValid(tok);
    tok.state = 'revoking';
    tok.revokeVia = via;
    inflight.add(tok);
    acct.revocations.issued++;
    acct.revocations[via].issued++;
    const cat = via === 'self' ? 'revoke-self' : 'revoke-admin';
    let revokedAt = null;
    const onHeaders = (t) => { revokedAt = t; };
    const call = via === 'self'
      ? { method: 'DELETE', path: '/api/tokens', token: tok.token, onHeaders }
      : { method: 'DELETE', path: `/v2.0/tokens?tokenId=${encodeURIComponent(tok.token)}`, token: pick(admins).token, onHeaders };
    tok.revokeSentAt = performance.now();
    // Keep the live pool at its size: a replacement is minted while the call is in flight.
    const replacement = replace ? newUserToken(expSeconds).then(addValid) : null;
    const r = await send(call);
    account(cat, null, r, phase);
    if (r.status >= 500) acct.fiveXxValid++; // the caller's token (user or admin) was valid
    bump(acct.revocations.statuses, r.status || r.error);
    inflight.delete(tok);
    if (r.status >= 200 && r.status < 300) {
      tok.state = 'revoked';
      // The moment the success became known to the client: the response headers
      // (204 has no body). Every request with this token started later must be 401.
      tok.revokedAt = revokedAt;
      revoked.push(tok);
      acct.revocations.succeeded++;
      acct.revocations[via].succeeded++;
    } else {
      tok.state = 'failed';
      failed.push(tok);
      acct.revocations.failed++;
    }
    await replacement;
  }

  // --- smoke check: a valid token reaches the origin (else the setup is wrong: exit 2)
  {
    const tok = valid[0];
    const r = await send({ path: '/soak/smoke', token: tok.token });
    if (r.status !== 200) {
      console.error(`soak: smoke check failed: a valid ${tok.alg} token got ${r.status || r.error}, expected 200`);
      console.error(worker.logs().slice(-4000));
      return 2;
    }
  }

  // --- pre-revoke some tokens (half self sign-out, half admin), 8 at a time
  {
    const targets = valid.slice(0, opts.preRevoked);
    for (let i = 0; i < targets.length; i += 8) {
      await Promise.all(targets.slice(i, i + 8).map((tok, j) => revoke(tok, (i + j) % 2 ? 'admin' : 'self', 'pre', { replace: false })));
    }
    if (targets.length) console.log(`soak: pre-revoked ${acct.revocations.succeeded} of ${targets.length} tokens`);
  }

  // --- memory
  let pids = findWorkerProcesses(worker.configPath, worker.port);
  if (pids.workerd.length === 0) console.warn('soak: warning: no workerd process found under wrangler; RSS will be n/a');
  else console.log(`soak: workerd (runtime) pid ${pids.workerd.join(', ')}; workerd (dev proxy) pid ${pids.proxy.join(', ') || '-'}; ` +
    `others ${pids.others.map((p) => `${p.pid}(${p.comm})`).join(' ')}`);
  const samples = [];
  let runtimeRestarts = 0;
  const sample = (label, tLoad, requestsSoFar) => {
    const fresh = findWorkerProcesses(worker.configPath, worker.port);
    if (fresh.workerd.join() !== pids.workerd.join()) {
      runtimeRestarts++;
      console.warn(`soak: warning: the workerd runtime changed (pid ${pids.workerd.join(', ')} -> ${fresh.workerd.join(', ')}): the worker was restarted`);
    }
    pids = fresh;
    const m = memSample(pids);
    const s = { label, t: round(tLoad / 1000, 1), requests: requestsSoFar, ...m };
    samples.push(s);
    return s;
  };

  drainOrigin();
  const originHitsBeforeLoad = getOriginHits();
  loadStart = performance.now();
  const loadDeadline = loadStart + opts.duration * 1000;
  const first = sample('start', 0, 0);
  console.log(`soak: [   0.0s] start   workerd RSS ${fmtMiB(first.workerdRssKiB)}  (dev proxy workerd ${fmtMiB(first.proxyWorkerdRssKiB)}, wrangler node ${fmtMiB(first.wranglerNodeRssKiB)})`);

  let lastSampleReq = 0;
  let lastSampleT = loadStart;
  const sampler = setInterval(() => {
    const t = performance.now();
    const s = sample('periodic', t - loadStart, acct.requests);
    const rps = (acct.requests - lastSampleReq) / ((t - lastSampleT) / 1000);
    s.rps = round(rps, 1);
    lastSampleReq = acct.requests;
    lastSampleT = t;
    console.log(`soak: [${s.t.toFixed(1).padStart(6)}s] ${String(acct.requests).padStart(7)} req (${rps.toFixed(0)}/s)  ` +
      `workerd RSS ${fmtMiB(s.workerdRssKiB)} (proxy ${fmtMiB(s.proxyWorkerdRssKiB)})  revoked ${acct.revocations.succeeded}/${acct.revocations.issued}  ` +
      `violations ${acct.violations.count}  5xx(valid) ${acct.fiveXxByCat.valid}`);
  }, opts.sampleEvery * 1000);

  // --- the load: N loops, each one request at a time
  let seq = 0;
  let started = 0;
  const body = JSON.stringify({ note: 'soak', pad: 'x'.repeat(200) });
  async function loop() {
    while (!isStopping() && performance.now() < loadDeadline) {
      if (started++ >= opts.maxRequests) { setStopping(); break; }
      const x = rand();
      if (x < opts.revokeRate && valid.length > 0) {
        await revoke(pick(valid), rand() < 0.5 ? 'self' : 'admin', 'load');
        continue;
      }
      // Which token: mostly live ones; the rest aim at the interesting states.
      const y = rand();
      let tok;
      if (y < 0.10 && inflight.size > 0) {
        // a revocation is in flight: 200 or 401 are both allowed, counted as races
        let k = Math.floor(rand() * inflight.size);
        for (const t of inflight) { if (k-- === 0) { tok = t; break; } }
      } else if (y < 0.20 && revoked.length > 0) {
        // revoked within the last 2 s (the tail of `revoked`), else the newest
        const cutoff = performance.now() - 2000;
        let lo = revoked.length - 1;
        while (lo > 0 && revoked[lo - 1].revokedAt > cutoff) lo--;
        tok = revoked[lo + Math.floor(rand() * (revoked.length - lo))];
      } else if (y < 0.30 && revoked.length > 0) {
        tok = pick(revoked); // any revoked token, including those revoked before the load
      } else {
        tok = pick(valid);
      }
      if (!tok) { await sleep(1); continue; }
      const cat = tok.state; // state when the request starts
      const n = seq++;
      const post = rand() < 0.15;
      const r = await send({ method: post ? 'POST' : 'GET', path: `/soak/${cat}/${n}?alg=${tok.alg}`, token: tok.token, body: post ? body : undefined });
      account(cat, tok, r, 'load');
    }
  }
  await Promise.all(Array.from({ length: opts.connections }, loop));
  const loadEnd = performance.now();
  clearInterval(sampler);
  const loadSeconds = (loadEnd - loadStart) / 1000;
  const last = sample('end', loadEnd - loadStart, acct.requests);
  drainOrigin();
  const originHitsDuringLoad = getOriginHits() - originHitsBeforeLoad;
  console.log(`soak: [${last.t.toFixed(1).padStart(6)}s] end     workerd RSS ${fmtMiB(last.workerdRssKiB)} (peak ${fmtMiB(last.workerdHwmKiB)})`);

  // --- final sweep: every revoked token once more (must be 401), every live token once (must be 200)
  const sweep = { revokedChecked: 0, validChecked: 0 };
  if (!isInterrupted()) {
    const jobs = [...revoked.map((t) => ['revoked', t]), ...valid.map((t) => ['valid', t])];
    let next = 0;
    const worker16 = async () => {
      while (next < jobs.length) {
        const [cat, tok] = jobs[next++];
        const r = await send({ path: `/soak/sweep/${cat}/${tok.n}`, token: tok.token });
        account(cat, tok, r, 'sweep');
        if (cat === 'revoked') sweep.revokedChecked++;
        else sweep.validChecked++;
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker16));
    console.log(`soak: final sweep: ${sweep.revokedChecked} revoked tokens re-checked, ${sweep.validChecked} live tokens re-checked`);
  }

  // --- summary
  const rssValues = samples.map((s) => s.workerdRssKiB).filter((v) => v != null);
  const checks = {
    invariant1_revocation_enforced: { pass: acct.violations.count === 0, violations: acct.violations.count, judged: acct.judgedAfterRevocation },
    invariant2_no_5xx_for_valid_tokens: { pass: acct.fiveXxValid === 0, count: acct.fiveXxValid },
    revoked_401_says_token_revoked: { pass: acct.wrongReason.count === 0, count: acct.wrongReason.count },
    valid_tokens_reach_origin: { pass: acct.validNon200.count === 0, count: acct.validNon200.count },
    no_transport_errors: { pass: Object.keys(acct.transportErrors).length === 0, errors: acct.transportErrors },
    revocations_succeeded: { pass: acct.revocations.failed === 0, failed: acct.revocations.failed },
    runtime_not_restarted: { pass: runtimeRestarts === 0, restarts: runtimeRestarts },
  };
  const pass = Object.values(checks).every((c) => c.pass) && !isInterrupted();

  const gitRev = (() => {
    try {
      const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
      const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'Cargo.toml', 'Cargo.lock'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
      return dirty ? `${rev}+dirty-src` : rev;
    } catch { return null; }
  })();
  const pkgVersion = (name) => { try { return JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version; } catch { return null; } };

  const latency = acct.latency.stats();
  const summary = {
    date: wallStart.toISOString(),
    pass,
    interrupted: isInterrupted(),
    command: `node tests/soak/wrangler-soak.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    options: { ...opts },
    environment: {
      runtime: 'wrangler dev (workerd), local KV, loopback',
      wrangler: pkgVersion('wrangler'),
      miniflare: pkgVersion('miniflare'),
      node: process.version,
      cpus: os.cpus().length,
      // 1/5/15-minute load averages of the whole machine: anything else running shares the 2 cores
      loadAverage: { start: loadAvgStart, end: os.loadavg().map((x) => round(x, 2)) },
      git: gitRev,
      build: buildInfo,
    },
    durationSeconds: round(loadSeconds, 2),
    connections: opts.connections,
    socketsOpened,
    requests: acct.requests,
    requestsPerSecond: round(acct.requests / loadSeconds, 1),
    originHits: originHitsDuringLoad,
    statusHistogram: acct.statusAll,
    statusByCategory: acct.statusByCat,
    fiveXxByCategory: acct.fiveXxByCat,
    transportErrors: acct.transportErrors,
    latencyMs: latency,
    latencyMsByCategory: Object.fromEntries(Object.entries(acct.latencyByCat).map(([k, v]) => [k, v.stats()])),
    revocations: acct.revocations,
    tokens: { algorithms: ALGS, minted: tokenSeq, livePool: opts.pool, liveAtEnd: valid.length, revokedAtEnd: revoked.length },
    requestsJudgedAfterRevocation: acct.judgedAfterRevocation,
    racesWhileRevocationInFlight: acct.revokingRaces,
    violations: acct.violations.count,
    violationKinds: acct.violationKinds,
    violationExamples: acct.violations.examples,
    revoked401WithoutTokenRevoked: acct.wrongReason.count,
    revoked401WithoutTokenRevokedExamples: acct.wrongReason.examples,
    validTokenNon200: acct.validNon200.count,
    validTokenNon200Examples: acct.validNon200.examples,
    failures: acct.failures.count,
    failureExamples: acct.failures.examples,
    fiveXxOnValidTokens: checks.invariant2_no_5xx_for_valid_tokens.count,
    finalSweep: sweep,
    memory: {
      workerdRssKiB: {
        start: rssValues[0] ?? null,
        max: rssValues.length ? Math.max(...rssValues) : null,
        end: rssValues.at(-1) ?? null,
        peakHwm: last.workerdHwmKiB,
      },
      runtimePids: pids.workerd,
      runtimeRestarts,
      proxyWorkerdRssKiB: { start: samples[0].proxyWorkerdRssKiB, end: last.proxyWorkerdRssKiB },
      wranglerNodeRssKiB: { start: samples[0].wranglerNodeRssKiB, end: last.wranglerNodeRssKiB },
      samples,
    },
    checks,
  };

  printTable(summary);
  if (!pass) {
    for (const [name, c] of Object.entries(checks)) if (!c.pass) console.log(`FAILED: ${name} ${JSON.stringify(c)}`);
    for (const v of acct.violations.examples.slice(0, 10)) console.log(`  violation: ${JSON.stringify(v)}`);
    for (const v of acct.wrongReason.examples.slice(0, 5)) console.log(`  wrong reason: ${JSON.stringify(v)}`);
    for (const v of acct.validNon200.examples.slice(0, 5)) console.log(`  valid non-200: ${JSON.stringify(v)}`);
    for (const v of acct.failures.examples.slice(0, 5)) console.log(`  5xx/error: ${JSON.stringify(v)}`);
    if (isInterrupted()) console.log('soak: interrupted: the run is not counted as a pass');
    // Leave out wrangler's offline warning (it cannot fetch Request.cf here): noise.
    const logs = worker.logs().replace(/\[wrangler:warn\] Unable to fetch the `Request\.cf` object![^\n]*\n(Error: getaddrinfo[^\n]*\n)?((    at [^\n]*)\n)*/g, '');
    if (logs.trim()) console.log(`--- wrangler output (last 3000 chars) ---\n${logs.slice(-3000)}`);
  }

  if (opts.out !== '-') {
    const file = opts.out ?? path.join(HERE, 'results', `wrangler-${wallStart.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}.json`);
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    writeFileSync(file, JSON.stringify(summary, null, 2) + '\n');
    console.log(`soak: summary written to ${path.relative(process.cwd(), path.resolve(file))}`);
  }
  console.log(pass ? 'soak: PASS' : 'soak: FAIL');
  return isInterrupted() ? 130 : pass ? 0 : 1;
}

function printTable(s) {
  const hist = (h) => Object.entries(h).sort(([a], [b]) => String(a).localeCompare(String(b))).map(([k, v]) => `${k}: ${v}`).join(', ') || '-';
  const m = s.memory.workerdRssKiB;
  const rows = [
    ['duration', `${s.durationSeconds} s`],
    ['connections', `${s.connections} (sockets opened: ${s.socketsOpened})`],
    ['total requests', s.requests],
    ['req/s', s.requestsPerSecond],
    ['status histogram', hist(s.statusHistogram)],
    ['origin hits', `${s.originHits} (200 answers: ${s.statusHistogram[200] ?? 0})`],
    ...Object.entries(s.statusByCategory).map(([cat, h]) => [`  ${cat}`, hist(h)]),
    ['revocations issued / succeeded', `${s.revocations.issued} / ${s.revocations.succeeded}` +
      ` (self ${s.revocations.self.issued}/${s.revocations.self.succeeded}, admin ${s.revocations.admin.issued}/${s.revocations.admin.succeeded})`],
    ['requests judged by invariant 1', s.requestsJudgedAfterRevocation],
    ['violations (invariant 1)', `${s.violations} (let through: ${s.violationKinds.answered}, refused with 5xx/no answer: ${s.violationKinds.refusedNot401})`],
    ['401 without "token revoked"', s.revoked401WithoutTokenRevoked],
    ['races (revocation in flight)', `200: ${s.racesWhileRevocationInFlight.ok200}, 401: ${s.racesWhileRevocationInFlight.revoked401}, other: ${s.racesWhileRevocationInFlight.other}`],
    ['5xx on valid tokens (invariant 2)', s.fiveXxOnValidTokens],
    ['5xx by category', hist(s.fiveXxByCategory)],
    ['valid token not 200 from origin', s.validTokenNon200],
    ['transport errors', hist(s.transportErrors)],
    ['latency p50 / p99 / max', `${s.latencyMs.p50} / ${s.latencyMs.p99} / ${s.latencyMs.max} ms`],
    ['workerd RSS start / max / end', `${fmtMiB(m.start)} / ${fmtMiB(m.max)} / ${fmtMiB(m.end)} (peak VmHWM ${fmtMiB(m.peakHwm)})`],
    ['dev proxy workerd RSS start / end', `${fmtMiB(s.memory.proxyWorkerdRssKiB.start)} / ${fmtMiB(s.memory.proxyWorkerdRssKiB.end)}`],
    ['final sweep', `${s.finalSweep.revokedChecked} revoked, ${s.finalSweep.validChecked} live re-checked`],
    ['result', s.pass ? 'PASS' : 'FAIL'],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  console.log('\n' + '-'.repeat(w + 40));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
  console.log('-'.repeat(w + 40) + '\n');
}

process.exitCode = await main().catch((e) => {
  console.error(`soak: ${e.stack || e}`);
  return 2;
});
// The support module kills wrangler's process group on exit; leave nothing behind.
process.exit(process.exitCode);

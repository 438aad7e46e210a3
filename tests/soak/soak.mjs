// A bounded memory and correctness soak of the built worker under plain
// `workerd serve`, side by side with a pass-through baseline, all on
// 127.0.0.1. See docs/soak.md.
//
//   npm run soak -- [--duration 600] [--connections 64] [options]
//
// Two workerd processes run at the same time: one with edge-revoke (a copy of
// build/), one with tests/soak/baseline.mjs (forward to the origin after one KV
// read). Each has its own KV process (scripts/lib/kv-service.mjs), so a worker
// process's RSS holds the worker and workerd alone. Both get the same request
// mix from their own `--connections` loops, concurrently, so whatever else the
// machine does affects both:
//   - valid tokens from a pool, used again and again;
//   - first-use tokens: a new `jti` on every request, to fill the token cache
//     past its bounds;
//   - revocations (self sign-out, admin revocation by tokenId), and requests
//     with tokens whose revocation is in flight or answered;
//   - subject-wide sign-outs (`scope=global`) of first-use subjects, which fill
//     the recent-revocations map's cutoff side as token revocations fill its
//     token side.
// The harness reads VmRSS from /proc/<pid>/status of every process it started.
//
// Checks (edge-revoke): no request that started after its token's revocation
// answered gets anything but 401 "token revoked"; no 5xx on valid tokens; valid
// tokens reach the origin; no transport errors; every revocation answers 2xx;
// and its RSS growth (end - start) minus the baseline's stays under
// --budget-mib. Exit codes: 0 every check passed, 1 a check failed, 2 the soak
// could not run (bad option, no build, a pre-check failed, watchdog), 130
// interrupted.
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import { writeMultiConfig, writeKvConfig, startWorkerdOn, stop } from '../../scripts/lib/workerd.mjs';
import { tempDir, freePort, projectCompatDate, ROOT } from '../e2e/support/worker.mjs';
import { b64url, keyFor, signBytes, now, JWT_SECRET, JWT_JWKS, ISSUER, AUDIENCE, DEFAULT_AUD } from '../e2e/support/keys.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BUILD_DIR = path.join(ROOT, 'build');
const BUILD_FILES = ['index.js', 'index_bg.wasm'];
const REVOKED_CHALLENGE = 'Bearer realm="api", error="invalid_token", error_description="token revoked"';
const MiB = 1024; // KiB per MiB: /proc reports KiB

// The worker's bounds under the settings the soak gives it (see docs/soak.md):
// the TOKEN_CACHE_ENTRIES / TOKEN_CACHE_BYTES defaults in core/src/config.rs, core/src/isolate.rs RECENT_CAPACITY.
// The RSS budget is judged on loads of at least this length. Each workerd
// process, the baseline's and the KV processes' included, grows in a few steps
// of 30 to 100 MiB at moments of its own within the first minutes of load, then
// levels off (docs/soak.md); a shorter run compares one process's step with the
// other's, not the worker with the baseline.
const VERDICT_MIN_SECONDS = 300;

const BOUNDS = { tokenCacheEntries: 10_000, tokenCacheBytes: 16 * 1024 * 1024, recentPerKind: 10_000 };

// ---------------------------------------------------------------- options

const DEFAULTS = {
  duration: 600, // seconds of load
  connections: 64, // per worker: concurrent request loops = keep-alive sockets
  warmup: 20, // seconds of load before the start samples
  warmupMix: 5, // the last seconds of the warm-up send the full mix
  pool: 300, // live user tokens in the pool
  firstUse: 0.25, // fraction of data requests with a first-use token
  revokeRate: 0.06, // fraction of loop iterations that revoke a pool token
  globalRate: 0.06, // fraction of loop iterations that sign a first-use subject out everywhere
  pad: 1024, // user tokens carry a claim of 0..pad random characters
  revocationTtl: 3600, // REVOCATION_CACHE_TTL_SECONDS given to the worker
  budgetMib: 32, // allowed RSS growth of edge-revoke beyond the baseline's
  sampleEvery: 10, // seconds between RSS samples
  maxRequests: 5_000_000, // per worker
  timeout: 30, // seconds per request
  sweepMax: 20_000, // revoked tokens re-checked after the load
  probe: true, // run edge-revoke behind tests/soak/probe.mjs, which reports its wasm memory size
  pace: 'equal', // equal: the baseline never starts more requests than edge-revoke; free: each side as fast as it can
  seed: undefined,
  out: undefined,
};

const HELP = `Usage: npm run soak -- [options]      (node tests/soak/soak.mjs [options])

  --duration S        seconds of load (default ${DEFAULTS.duration} = 10 minutes)
  --connections N     connections per worker, each a request loop (default ${DEFAULTS.connections})
  --warmup S          seconds of load before the start samples (default ${DEFAULTS.warmup}):
                      pool tokens only, then the full mix for its last --warmup-mix seconds
  --warmup-mix S      (default ${DEFAULTS.warmupMix}), so that workerd has run every code path
                      of the mix before the start level is taken
  --pool N            live tokens in the pool (default ${DEFAULTS.pool})
  --first-use F       fraction of data requests with a first-use token (default ${DEFAULTS.firstUse})
  --revoke-rate F     fraction of iterations that revoke a pool token (default ${DEFAULTS.revokeRate})
  --global-rate F     fraction of iterations that sign a first-use subject out everywhere (default ${DEFAULTS.globalRate})
  --pad N             user tokens carry a claim of 0..N random characters (default ${DEFAULTS.pad})
  --revocation-ttl S  REVOCATION_CACHE_TTL_SECONDS of the worker (default ${DEFAULTS.revocationTtl})
  --budget-mib M      allowed RSS growth beyond the baseline's (default ${DEFAULTS.budgetMib})
  --sample-every S    seconds between RSS samples; 60 s is always sampled (default ${DEFAULTS.sampleEvery})
  --max-requests N    stop after this many requests per worker (default ${DEFAULTS.maxRequests})
  --timeout S         per-request timeout (default ${DEFAULTS.timeout})
  --sweep-max N       revoked tokens re-checked after the load (default ${DEFAULTS.sweepMax})
  --pace equal|free   equal: the baseline starts its n-th request only after edge-revoke
                      started its n-th, so both serve the same count; free: each side
                      as fast as it can (default ${DEFAULTS.pace})
  --no-probe          run build/index.js bare, without tests/soak/probe.mjs in front
                      (then the wasm memory size is not reported)
  --seed N            seed of the request mix (default: random, printed)
  --out FILE          JSON summary (default tests/soak/results/<UTC>.json); - skips it
  -h, --help          this text

Builds nothing: it runs a copy of build/ (bash scripts/build.sh makes it).
Exit code: 0 all checks passed, 1 a check failed, 2 the soak could not run, 130 interrupted.`;

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
      case '--duration': o.duration = num('duration', next(), { int: false, min: 1, max: 7200 }); break;
      case '--connections': o.connections = num('connections', next(), { min: 1, max: 512 }); break;
      case '--warmup': o.warmup = num('warmup', next(), { int: false, min: 0, max: 600 }); break;
      case '--warmup-mix': o.warmupMix = num('warmup-mix', next(), { int: false, min: 0, max: 600 }); break;
      case '--pool': o.pool = num('pool', next(), { min: 8, max: 100_000 }); break;
      case '--first-use': o.firstUse = num('first-use', next(), { int: false, min: 0, max: 1 }); break;
      case '--revoke-rate': o.revokeRate = num('revoke-rate', next(), { int: false, min: 0, max: 0.5 }); break;
      case '--global-rate': o.globalRate = num('global-rate', next(), { int: false, min: 0, max: 0.5 }); break;
      case '--pad': o.pad = num('pad', next(), { min: 0, max: 4096 }); break;
      case '--revocation-ttl': o.revocationTtl = num('revocation-ttl', next(), { min: 30, max: 86_400 }); break;
      case '--budget-mib': o.budgetMib = num('budget-mib', next(), { int: false, min: 0, max: 4096 }); break;
      case '--sample-every': o.sampleEvery = num('sample-every', next(), { int: false, min: 1, max: 3600 }); break;
      case '--max-requests': o.maxRequests = num('max-requests', next(), { min: 1, max: 1e9 }); break;
      case '--timeout': o.timeout = num('timeout', next(), { int: false, min: 1, max: 600 }); break;
      case '--sweep-max': o.sweepMax = num('sweep-max', next(), { min: 0, max: 1e6 }); break;
      case '--pace': o.pace = next(); if (!['equal', 'free'].includes(o.pace)) throw new Error(`--pace is equal or free, got ${o.pace}`); break;
      case '--probe': o.probe = true; break;
      case '--no-probe': o.probe = false; break;
      case '--seed': o.seed = num('seed', next(), { min: 0, max: 2 ** 32 - 1 }); break;
      case '--out': o.out = next(); if (!o.out) throw new Error('--out needs a path (or -)'); break;
      default: throw new Error(`unknown option ${argv[i]} (see --help)`);
    }
  }
  if (o.revokeRate + o.globalRate > 0.5) throw new Error('--revoke-rate + --global-rate must stay at or under 0.5');
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
const round = (x, d = 1) => (x == null ? null : Math.round(x * 10 ** d) / 10 ** d);
const mib = (kib) => (kib == null ? null : round(kib / MiB, 1));
const fmtMiB = (kib) => (kib == null ? 'n/a' : (kib / MiB).toFixed(1));
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
    return { count: this.n, p50: round(percentile(s, 50), 2), p90: round(percentile(s, 90), 2), p99: round(percentile(s, 99), 2), max: round(this.n ? s[this.n - 1] : null, 2) };
  }
}

/**
 * Memory of a process in KiB from /proc/<pid>/status, or null once it is gone:
 * VmRSS (the figure the soak judges), VmHWM (its peak), and VmRSS's parts
 * RssAnon (heap: V8, wasm memories, malloc) and RssFile (mapped files, mostly
 * the workerd binary's pages as code paths are first used).
 */
function memOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(s)?.[1] ?? 0);
    return { rss: kib('VmRSS'), hwm: kib('VmHWM'), anon: kib('RssAnon'), file: kib('RssFile') };
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a process has used, or null once it is gone. */
function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in USER_HZ (100 on Linux)
  } catch {
    return null;
  }
}

const sha16 = (f) => createHash('sha256').update(readFileSync(f)).digest('hex').slice(0, 16);

/**
 * Copies build/index.js and build/index_bg.wasm into `dest`, once build/ is
 * complete and has not changed for 2 s (someone may be rebuilding it). Waits a
 * minute between attempts, for up to `maxWaitMs`.
 */
async function snapshotBuild(dest, maxWaitMs = 10 * 60_000) {
  const deadline = Date.now() + maxWaitMs;
  const state = () => BUILD_FILES.map((f) => {
    try { const s = statSync(path.join(BUILD_DIR, f)); return `${f}:${s.size}:${s.mtimeMs}`; } catch { return null; }
  });
  for (let attempt = 1; ; attempt++) {
    const before = state();
    let why = null;
    if (before.includes(null)) why = `build/ is missing ${BUILD_FILES.filter((_, i) => before[i] === null).join(' and ')}`;
    else {
      await sleep(2000);
      if (state().join() !== before.join()) why = 'build/ is changing (a rebuild is under way)';
      else {
        mkdirSync(dest, { recursive: true });
        for (const f of BUILD_FILES) copyFileSync(path.join(BUILD_DIR, f), path.join(dest, f));
        const copied = BUILD_FILES.map((f) => statSync(path.join(dest, f)).size);
        if (state().join() !== before.join() || copied.some((size, i) => `${size}` !== before[i].split(':')[1])) why = 'build/ changed while it was copied';
        else return { indexJsSha256: sha16(path.join(dest, 'index.js')), wasmSha256: sha16(path.join(dest, 'index_bg.wasm')), builtAt: new Date(statSync(path.join(BUILD_DIR, 'index_bg.wasm')).mtimeMs).toISOString() };
      }
    }
    if (Date.now() + 60_000 > deadline) throw new Error(`${why}; gave up after ${attempt} attempts (run bash scripts/build.sh)`);
    console.log(`soak: ${why}; trying again in a minute`);
    await sleep(60_000);
  }
}

// ---------------------------------------------------------------- processes

/** Every child process this run started, stopped on every way out. */
const children = new Set();
function killAllNow() {
  for (const c of children) {
    try { if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); } catch {}
  }
}
process.on('exit', killAllNow);

/** The origin child process (tests/soak/origin.mjs). */
async function startOriginProcess() {
  const child = spawn(process.execPath, [path.join(HERE, 'origin.mjs')], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  children.add(child);
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('the origin did not start in 10 s')), 10_000);
    child.stdout.on('data', (d) => {
      buf += d;
      const line = buf.split('\n')[0];
      if (buf.includes('\n')) { clearTimeout(timer); try { resolve(JSON.parse(line).port); } catch (e) { reject(e); } }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the origin exited (${code})`)); });
  });
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    async stats() {
      const r = await fetch(`http://127.0.0.1:${port}/__soak/stats`);
      return r.json();
    },
    stop() {
      child.stdin.end();
      return new Promise((r) => { if (child.exitCode !== null) r(); else { child.once('exit', r); setTimeout(() => { try { child.kill('SIGKILL'); } catch {} }, 2000).unref(); } });
    },
  };
}

async function freePorts(n) {
  const ports = [];
  while (ports.length < n) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  return ports;
}

/**
 * One side of the soak: a KV process and a worker process, on their own ports.
 * worker: { kind: 'rust', dir } | { kind: 'js', module }.
 */
async function startSide({ name, runDir, worker, bindings, compatibilityDate }) {
  const [port, kvPort] = await freePorts(2);
  const register = (proc) => children.add(proc.child);
  const kvConfig = writeKvConfig({ runDir, name: `${name}-kv`, port: kvPort, compatibilityDate });
  const kv = await startWorkerdOn(kvConfig, [kvPort], { detached: true, onSpawn: register });
  const config = writeMultiConfig({
    runDir,
    name,
    workers: [{ name: 'main', port, worker, bindings }],
    kvAddress: `127.0.0.1:${kvPort}`,
    compatibilityDate,
  });
  const proc = await startWorkerdOn(config, [port], { detached: true, onSpawn: register });
  return { name, url: `http://127.0.0.1:${port}`, port, kvPort, proc, kv, pid: proc.child.pid, kvPid: kv.child.pid };
}

// ---------------------------------------------------------------- HTTP

/**
 * One request over `side`'s keep-alive agent. Resolves (never rejects) to
 * { status, headers, start, hdrAt, end, error }. `start` is taken right before
 * the request is handed to the socket layer, `hdrAt` when the response
 * headers arrive, `end` when the response has been read.
 */
function send(side, { method = 'GET', path: p, token, body, timeoutMs }) {
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
    const req = http.request(side.url + p, { method, headers, agent: side.agent }, (res) => {
      const hdrAt = performance.now();
      let text = '';
      const keepBody = res.statusCode >= 500;
      res.on('data', (c) => { if (keepBody && text.length < 512) text += c; });
      res.on('error', (e) => done({ status: 0, error: e.code || e.message, start, end: performance.now() }));
      res.on('end', () => done({ status: res.statusCode, headers: res.headers, body: keepBody ? text.slice(0, 512) : undefined, start, hdrAt, end: performance.now() }));
    });
    req.on('socket', (sock) => { if (!side.seenSockets.has(sock)) { side.seenSockets.add(sock); side.socketsOpened++; } });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e) => done({ status: 0, error: e.code || e.message, reused: req.reusedSocket, start, end: performance.now() }));
    req.end(body);
  });
}

// ---------------------------------------------------------------- tokens

const ALGS = ['HS256', 'RS256', 'PS256', 'ES256', 'EdDSA'];
const RUN_ID = `${Date.now().toString(36)}${process.pid.toString(36)}`;
const PAD_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Signs claims with the test keys of keys.mjs (node:crypto, synchronous). */
function sign(alg, claims, { key } = {}) {
  const def = keyFor(alg);
  const header = { alg, typ: 'JWT', ...(def.kid ? { kid: def.kid } : {}) };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(signBytes(alg, input, key ?? def.privateKey))}`;
}

/**
 * Token factory of one side. state: 'valid' -> 'revoking' (revocation sent)
 * -> 'revoked' (answered 2xx; revokedAt = when its headers arrived) or
 * 'failed' (answered otherwise: no invariant applies).
 */
function tokenFactory(side, expSeconds, rand, padMax) {
  let seq = 0;
  const pad = () => {
    const n = Math.floor(rand() * (padMax + 1));
    let s = '';
    for (let i = 0; i < n; i++) s += PAD_ALPHABET[Math.floor(rand() * PAD_ALPHABET.length)];
    return s;
  };
  return ({ kind = 'pool', sub } = {}) => {
    const n = seq++;
    const alg = ALGS[n % ALGS.length];
    const jti = `soak-${RUN_ID}-${side}-${kind}-${n}`;
    const t = now();
    const claims = { sub: sub ?? `user-${n % 97}`, iss: ISSUER, aud: DEFAULT_AUD, iat: t, exp: t + expSeconds, jti };
    if (padMax > 0) claims.ctx = pad();
    const token = sign(alg, claims);
    return { n, kind, alg, jti, sub: claims.sub, token, state: 'valid', poolIndex: -1, revokeVia: null, revokeSentAt: null, revokedAt: null };
  };
}

// ---------------------------------------------------------------- one side's load

const CATS = ['valid', 'first-use', 'revoking', 'revoked', 'failed', 'revoke-self', 'revoke-admin', 'revoke-global'];

class Load {
  constructor(side, { opts, enforce, expSeconds }) {
    this.side = side;
    this.opts = opts;
    this.enforce = enforce; // edge-revoke: invariant 1 applies; the baseline forwards everything
    this.rand = prng(opts.seed);
    this.mint = tokenFactory(side.name, expSeconds, this.rand, opts.pad);
    const t = now();
    this.admins = ['RS256', 'ES256', 'EdDSA', 'HS256'].map((alg) => ({
      alg,
      token: sign(alg, { sub: `soak-admin-${alg}`, iss: ISSUER, aud: DEFAULT_AUD, roles: ['identity:admin'], jti: `soak-${RUN_ID}-${side.name}-admin-${alg}`, iat: t, exp: t + expSeconds }),
    }));
    this.valid = [];
    this.inflight = new Set();
    this.revoked = [];
    this.failed = [];
    for (let i = 0; i < opts.pool; i++) this.addValid(this.mint());
    this.phase = 'warmup';
    this.leader = null; // the side this one keeps pace with (--pace equal)
    this.waiters = []; // loops of the side that keeps pace with this one
    this.done = false;
    this.loadStart = null;
    this.stopping = false;
    this.started = 0;
    this.seq = 0;
    this.body = JSON.stringify({ note: 'soak', pad: 'x'.repeat(200) });
    this.acct = {
      requests: 0,
      statusAll: {},
      statusByCat: Object.fromEntries(CATS.map((c) => [c, {}])),
      fiveXxByCat: Object.fromEntries(CATS.map((c) => [c, 0])),
      transportErrors: {},
      latency: new Latencies(),
      latencyByCat: Object.fromEntries(CATS.map((c) => [c, new Latencies()])),
      revocations: { issued: 0, succeeded: 0, failed: 0, self: { issued: 0, succeeded: 0 }, admin: { issued: 0, succeeded: 0 }, global: { issued: 0, succeeded: 0 }, statuses: {} },
      firstUse: { sent: 0, bytes: 0, accountedCacheBytes: 0 },
      violations: { count: 0, examples: [] },
      violationKinds: { answered: 0, refusedNot401: 0 },
      wrongReason: { count: 0, examples: [] },
      validNon200: { count: 0, examples: [] },
      judgedAfterRevocation: 0,
      fiveXxValid: 0,
      revokingRaces: { ok200: 0, revoked401: 0, other: 0 },
      failures: { count: 0, examples: [] },
      warmupRequests: 0,
    };
  }

  addValid(tok) { tok.poolIndex = this.valid.length; this.valid.push(tok); }
  removeValid(tok) {
    const last = this.valid.pop();
    if (last !== tok) { this.valid[tok.poolIndex] = last; last.poolIndex = tok.poolIndex; }
    tok.poolIndex = -1;
  }
  pick(arr) { return arr[Math.floor(this.rand() * arr.length)]; }
  send(req) { return send(this.side, { ...req, timeoutMs: this.opts.timeout * 1000 }); }

  describe(cat, tok, r) {
    return {
      phase: this.phase,
      category: cat,
      atSeconds: this.loadStart === null ? null : round((r.start - this.loadStart) / 1000, 3),
      ...(tok ? { jti: tok.jti, alg: tok.alg } : {}),
      ...(tok?.revokedAt != null ? { via: tok.revokeVia, startedMsAfterRevocation: round(r.start - tok.revokedAt, 3) } : {}),
      status: r.status,
      ...(r.error ? { error: r.error, reusedSocket: r.reused } : {}),
      latencyMs: round(r.end - r.start, 1),
      ...(r.headers?.['www-authenticate'] ? { wwwAuthenticate: r.headers['www-authenticate'] } : {}),
      ...(r.body ? { body: r.body } : {}),
    };
  }

  /** Classifies and checks one answer. `cat` is the token's state when the request started. */
  account(cat, tok, r) {
    const a = this.acct;
    const keep = (list, item) => { list.count++; if (list.examples.length < 50) list.examples.push(item); };
    const s = r.status;
    if (this.phase === 'warmup') a.warmupRequests++;
    if (this.phase === 'load') {
      a.requests++;
      a.latency.add(r.end - r.start);
      a.latencyByCat[cat].add(r.end - r.start);
      bump(a.statusAll, s || 'error');
      bump(a.statusByCat[cat], s || 'error');
      if (s >= 500) a.fiveXxByCat[cat]++;
    }
    if (s === 0) bump(a.transportErrors, `${r.error}${r.reused ? ' (reused socket)' : ''}`);
    if (s === 0 || s >= 500) keep(a.failures, this.describe(cat, tok, r));
    if (!tok) return;
    if (this.enforce && tok.state === 'revoked' && r.start > tok.revokedAt) {
      // Invariant 1, judged by the token's state when the request STARTED.
      a.judgedAfterRevocation++;
      if (s !== 401) {
        a.violationKinds[s >= 200 && s < 500 ? 'answered' : 'refusedNot401']++;
        keep(a.violations, this.describe(cat, tok, r));
      } else if (r.headers['www-authenticate'] !== REVOKED_CHALLENGE) keep(a.wrongReason, this.describe(cat, tok, r));
    } else if (!this.enforce || ((cat === 'valid' || cat === 'first-use') && (tok.revokeSentAt === null || tok.revokeSentAt > r.end))) {
      // A token never revoked while this request ran (or the baseline, which
      // forwards everything): the origin's 200.
      if (s >= 500) a.fiveXxValid++;
      if (!(s === 200 && r.headers['x-origin'] === 'soak')) keep(a.validNon200, this.describe(cat, tok, r));
    } else if (cat === 'valid' || cat === 'revoking') {
      // Its revocation was in flight during the request: 200 or 401 are both fine.
      if (s === 200) a.revokingRaces.ok200++;
      else if (s === 401) a.revokingRaces.revoked401++;
      else a.revokingRaces.other++;
    }
  }

  /** Revokes `tok`: 'self' (DELETE /api/tokens), 'admin' (by tokenId) or 'global' (scope=global). */
  async revoke(tok, via) {
    const a = this.acct;
    if (tok.poolIndex >= 0) this.removeValid(tok);
    tok.state = 'revoking';
    tok.revokeVia = via;
    this.inflight.add(tok);
    a.revocations.issued++;
    a.revocations[via].issued++;
    const cat = `revoke-${via}`;
    const call = via === 'admin'
      ? { method: 'DELETE', path: `/v2.0/tokens?tokenId=${encodeURIComponent(tok.token)}`, token: this.pick(this.admins).token }
      : { method: 'DELETE', path: via === 'global' ? '/api/tokens?scope=global' : '/api/tokens', token: tok.token };
    tok.revokeSentAt = performance.now();
    if (via !== 'global') this.addValid(this.mint()); // keep the pool at its size
    const r = await this.send(call);
    this.account(cat, null, r);
    if (r.status >= 500) a.fiveXxValid++; // the caller's token (user or admin) was valid
    bump(a.revocations.statuses, r.status || r.error);
    this.inflight.delete(tok);
    if (r.status >= 200 && r.status < 300) {
      tok.state = 'revoked';
      // When the success became known to the client: the response headers
      // (a 204 has no body). Every later request with this token must be 401.
      tok.revokedAt = r.hdrAt;
      this.revoked.push(tok);
      a.revocations.succeeded++;
      a.revocations[via].succeeded++;
    } else {
      tok.state = 'failed';
      this.failed.push(tok);
      a.revocations.failed++;
    }
  }

  /** A token never sent before: kind 'first' (a data request) or 'global' (signs its subject out). */
  firstUseToken(opts) {
    const tok = this.mint(opts);
    const f = this.acct.firstUse;
    if (tok.kind === 'first') { f.sent++; f.bytes += tok.token.length; }
    f.accountedCacheBytes += 256 + 2 * tok.token.length; // core/src/cache.rs's estimate of its entry
    return tok;
  }

  /**
   * With a leader (--pace equal), this side's n-th iteration of a phase starts
   * only once the leader's n-th has started: both sides get the same number
   * of requests in the same seconds. A waiting loop is not a request: latency
   * is timed from the send.
   */
  async waitForLeader(deadline) {
    const leader = this.leader;
    while (leader && this.started >= leader.started && !this.stopping && !leader.done && performance.now() < deadline) {
      await new Promise((resolve) => leader.waiters.push(resolve));
    }
  }
  release(all = false) {
    if (all) { for (const w of this.waiters.splice(0)) w(); return; }
    this.waiters.shift()?.();
  }

  /**
   * One loop: one request at a time until `deadline`. The full mix from
   * `mixFrom` on (warm-up: its last --warmup-mix seconds), pool tokens before.
   */
  async loop(deadline, mixFrom) {
    const { opts } = this;
    let load = false;
    while (!this.stopping && performance.now() < deadline) {
      load = performance.now() >= mixFrom;
      await this.waitForLeader(deadline);
      if (this.stopping || performance.now() >= deadline) break;
      if (this.leader && this.started >= this.leader.started) break; // the leader stopped early
      if (this.started++ >= (this.phase === 'load' ? opts.maxRequests : Infinity)) { this.stopping = true; break; }
      this.release();
      const x = this.rand();
      if (load && x < opts.revokeRate && this.valid.length > 0) {
        await this.revoke(this.pick(this.valid), this.rand() < 0.5 ? 'self' : 'admin');
        continue;
      }
      if (load && x < opts.revokeRate + opts.globalRate) {
        // A first-use subject signs out everywhere: fills the cutoff side of the recent map.
        const n = this.seq++;
        await this.revoke(this.firstUseToken({ kind: 'global', sub: `soak-${RUN_ID}-g${n}` }), 'global');
        continue;
      }
      const y = this.rand();
      let tok;
      if (!load) tok = this.pick(this.valid);
      else if (y < opts.firstUse) tok = this.firstUseToken({ kind: 'first' });
      else if (y < opts.firstUse + 0.05 && this.inflight.size > 0) {
        let k = Math.floor(this.rand() * this.inflight.size);
        for (const t of this.inflight) { if (k-- === 0) { tok = t; break; } }
      } else if (y < opts.firstUse + 0.10 && this.revoked.length > 0) {
        // revoked within the last 2 s, else the newest
        const cutoff = performance.now() - 2000;
        let lo = this.revoked.length - 1;
        while (lo > 0 && this.revoked[lo - 1].revokedAt > cutoff) lo--;
        tok = this.revoked[lo + Math.floor(this.rand() * (this.revoked.length - lo))];
      } else if (y < opts.firstUse + 0.20 && this.revoked.length > 0) tok = this.pick(this.revoked);
      else tok = this.pick(this.valid);
      if (!tok) { await sleep(1); continue; }
      const cat = tok.kind === 'first' ? 'first-use' : tok.state;
      const n = this.seq++;
      const post = this.rand() < 0.15;
      const r = await this.send({ method: post ? 'POST' : 'GET', path: `/soak/${cat}/${n}?alg=${tok.alg}`, token: tok.token, body: post ? this.body : undefined });
      if (this.phase === 'interrupted') break; // the answers of an interrupted run are not judged
      this.account(cat, tok, r);
    }
  }

  async run(phase, seconds, mixSeconds = seconds) {
    this.phase = phase;
    this.started = 0;
    this.done = false;
    const start = performance.now();
    if (phase === 'load') this.loadStart = start;
    const deadline = start + seconds * 1000;
    await Promise.all(Array.from({ length: this.opts.connections }, () => this.loop(deadline, deadline - mixSeconds * 1000)));
    this.done = true;
    this.release(true);
    return (performance.now() - start) / 1000;
  }

  /** After the load: revoked tokens must still be 401 (the oldest left the recent map long ago), pool tokens 200. */
  async sweep() {
    this.phase = 'sweep';
    const max = this.opts.sweepMax;
    const revoked = this.revoked.length <= max ? this.revoked
      : [...this.revoked.slice(0, Math.ceil(max / 2)), ...this.revoked.slice(this.revoked.length - Math.floor(max / 2))];
    const jobs = [...revoked.map((t) => ['revoked', t]), ...this.valid.map((t) => ['valid', t])];
    const out = { revokedChecked: 0, validChecked: 0, revokedTotal: this.revoked.length };
    let next = 0;
    const worker = async () => {
      while (next < jobs.length && this.phase === 'sweep') {
        const [cat, tok] = jobs[next++];
        const r = await this.send({ path: `/soak/sweep/${cat}/${tok.n}`, token: tok.token });
        this.account(cat, tok, r);
        out[cat === 'revoked' ? 'revokedChecked' : 'validChecked']++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(32, this.opts.connections) }, worker));
    return out;
  }
}

// ---------------------------------------------------------------- pre-checks

/** The worker under test must forward a valid token and refuse a forged, a missing and a revoked one. */
async function preCheck(load, { enforce }) {
  const problems = [];
  const expect = async (what, req, ok) => {
    const r = await load.send(req);
    if (!ok(r)) problems.push(`${what}: got ${r.status || r.error}${r.headers?.['www-authenticate'] ? ` (${r.headers['www-authenticate']})` : ''}`);
  };
  const fromOrigin = (r) => r.status === 200 && r.headers['x-origin'] === 'soak';
  const t = now();
  const claims = { sub: 'soak-precheck', iss: ISSUER, aud: DEFAULT_AUD, iat: t, exp: t + 600 };
  for (const alg of ALGS) {
    await expect(`valid ${alg} token is forwarded`, { path: '/soak/precheck', token: sign(alg, { ...claims, jti: `soak-${RUN_ID}-pre-${load.side.name}-${alg}` }) }, fromOrigin);
  }
  if (!enforce) return problems;
  const forged = sign('HS256', { ...claims, jti: `soak-${RUN_ID}-forged` }, { key: randomBytes(32) });
  await expect('HS256 token signed with another key is refused', { path: '/soak/precheck', token: forged }, (r) => r.status === 401);
  const valid = sign('ES256', { ...claims, jti: `soak-${RUN_ID}-tampered` });
  const [h, p, s] = valid.split('.');
  const tampered = `${h}.${b64url(JSON.stringify({ ...claims, sub: 'someone-else', jti: `soak-${RUN_ID}-tampered` }))}.${s}`;
  await expect('ES256 token with a changed payload is refused', { path: '/soak/precheck', token: tampered }, (r) => r.status === 401);
  await expect('a request without a token is refused', { path: '/soak/precheck' }, (r) => r.status === 401);
  const victim = sign('EdDSA', { ...claims, jti: `soak-${RUN_ID}-pre-revoke` });
  await expect('self sign-out answers 204', { method: 'DELETE', path: '/api/tokens', token: victim }, (r) => r.status === 204);
  await expect('a signed-out token is refused as revoked', { path: '/soak/precheck', token: victim }, (r) => r.status === 401 && r.headers['www-authenticate'] === REVOKED_CHALLENGE);
  return problems;
}

// ---------------------------------------------------------------- main

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`soak: ${e.message}`);
    return 2;
  }
  const wallStart = new Date();
  const loadAvgStart = os.loadavg().map((x) => round(x, 2));
  const runDir = tempDir('soak');
  let buildInfo;
  try {
    buildInfo = await snapshotBuild(path.join(runDir, 'build'));
  } catch (e) {
    console.error(`soak: ${e.message}`);
    return 2;
  }
  // Tokens outlive the run, so none expires mid-soak. The recent map keeps a
  // write until min(exp, now + TTL); with the soak's TTL (3600 s) its entries
  // outlive the run too, so only its count (10000 per kind) bounds it.
  const expSeconds = Math.ceil(opts.warmup + opts.duration) + 900;
  console.log(`soak: ${opts.duration} s at ${opts.connections} connections per worker after ${opts.warmup} s of warm-up, seed ${opts.seed}`);
  console.log(`soak: build index_bg.wasm ${buildInfo.wasmSha256}…, index.js ${buildInfo.indexJsSha256}… (built ${buildInfo.builtAt})`);

  const origin = await startOriginProcess();
  const compatibilityDate = projectCompatDate();
  const oursVars = {
    JWT_SECRET,
    JWT_JWKS,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    JWT_LEEWAY_SECONDS: '30',
    MAX_TOKEN_LIFETIME_SECONDS: '7200',
    REVOCATION_CACHE_TTL_SECONDS: String(opts.revocationTtl),
    ORIGIN_URL: `${origin.url}/ours`,
    // TOKEN_CACHE_ENTRIES and TOKEN_CACHE_BYTES are left at their defaults.
  };
  const sides = {};
  let interrupted = false;
  let finished = false;
  const stopAll = async () => {
    await Promise.all(Object.values(sides).flatMap((s) => [stop(s.proc), stop(s.kv)]));
    await origin.stop();
  };
  const onSignal = (sig) => {
    if (interrupted) {
      console.error(`soak: ${sig} again, stopping now`);
      killAllNow();
      process.exit(130);
    }
    console.error(`soak: ${sig}: stopping the load and writing what was measured (again to stop at once)`);
    interrupted = true;
    for (const s of Object.values(sides)) if (s.load) { s.load.stopping = true; s.load.phase = 'interrupted'; s.load.release(true); }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const watchdogMs = (opts.warmup + opts.duration + 4 * opts.timeout + 300) * 1000;
  const watchdog = setTimeout(() => {
    if (finished) return;
    console.error(`soak: watchdog: still running after ${watchdogMs / 1000} s, giving up`);
    killAllNow();
    process.exit(2);
  }, watchdogMs);
  watchdog.unref();

  try {
    try {
      const build = path.join(runDir, 'build');
      const worker = opts.probe
        ? { kind: 'modules', modules: [
          { name: 'probe.mjs', path: path.join(HERE, 'probe.mjs') },
          { name: 'probe-patch.mjs', path: path.join(HERE, 'probe-patch.mjs') },
          { name: 'index.js', path: path.join(build, 'index.js') },
          { name: 'index_bg.wasm', path: path.join(build, 'index_bg.wasm'), type: 'wasm' },
        ] }
        : { kind: 'rust', dir: build };
      sides.ours = await startSide({ name: 'ours', runDir, worker, bindings: oursVars, compatibilityDate });
      sides.baseline = await startSide({ name: 'baseline', runDir, worker: { kind: 'js', module: path.join(HERE, 'baseline.mjs') }, bindings: { ORIGIN_URL: `${origin.url}/baseline` }, compatibilityDate });
    } catch (e) {
      console.error(`soak: a workerd process did not start: ${e.message}`);
      return 2;
    }
    for (const s of Object.values(sides)) {
      s.agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections, maxFreeSockets: opts.connections });
      s.seenSockets = new WeakSet();
      s.socketsOpened = 0;
      s.load = new Load(s, { opts, enforce: s.name === 'ours', expSeconds });
    }
    if (opts.pace === 'equal') sides.baseline.load.leader = sides.ours.load;
    console.log(`soak: edge-revoke workerd pid ${sides.ours.pid} (KV pid ${sides.ours.kvPid}), baseline workerd pid ${sides.baseline.pid} (KV pid ${sides.baseline.kvPid}), origin pid ${origin.child.pid}`);

    // --- pre-checks: never soak a worker that does nothing
    for (const s of Object.values(sides)) {
      const problems = await preCheck(s.load, { enforce: s.name === 'ours' });
      if (problems.length) {
        console.error(`soak: pre-check of ${s.name} failed:\n  ${problems.join('\n  ')}`);
        const err = s.proc.stderr().trim();
        if (err) console.error(`--- workerd stderr (last 3000 chars) ---\n${err.slice(-3000)}`);
        return 2;
      }
    }
    console.log('soak: pre-checks passed: edge-revoke forwards valid tokens (5 algorithms), refuses forged, tampered, missing and signed-out ones; the baseline forwards');

    // --- memory sampling: /proc of each worker process and its KV process;
    // with --probe also edge-revoke's wasm memory size (one extra request).
    const samples = [];
    let loadStart = null;
    const probeAgent = new http.Agent({ keepAlive: false });
    const probeWasm = () => new Promise((resolve) => {
      const req = http.get(`${sides.ours.url}/__soak/probe`, { headers: { 'x-soak-probe': '1' }, agent: probeAgent, timeout: 10_000 }, (res) => {
        let text = '';
        res.on('data', (c) => { text += c; });
        res.on('end', () => { try { resolve(JSON.parse(text).wasmMemoryBytes ?? null); } catch { resolve(null); } });
        res.on('error', () => resolve(null));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(null));
    });
    const sample = async (label) => {
      const t = loadStart === null ? 0 : (performance.now() - loadStart) / 1000;
      const row = { label, t: round(t, 1), harnessCpuS: (() => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; })() };
      for (const s of Object.values(sides)) {
        const m = memOf(s.pid);
        row[s.name] = { requests: s.load.acct.requests, rssKiB: m?.rss ?? null, hwmKiB: m?.hwm ?? null, anonKiB: m?.anon ?? null, fileKiB: m?.file ?? null, kvRssKiB: memOf(s.kvPid)?.rss ?? null, cpuS: cpuOf(s.pid), kvCpuS: cpuOf(s.kvPid) };
      }
      if (opts.probe) row.ours.wasmKiB = ((await probeWasm()) ?? NaN) / 1024;
      if (!Number.isFinite(row.ours.wasmKiB)) row.ours.wasmKiB = null;
      samples.push(row);
      return row;
    };
    const line = (row) => {
      const o = row.ours, b = row.baseline;
      const L = sides.ours.load.acct;
      console.log(`soak: [${row.t.toFixed(1).padStart(6)} s] ${row.label.padEnd(6)} RSS MiB ours ${fmtMiB(o.rssKiB).padStart(6)}${opts.probe ? ` (wasm ${fmtMiB(o.wasmKiB)})` : ''} base ${fmtMiB(b.rssKiB).padStart(6)}` +
        ` | req ours ${String(o.requests).padStart(8)} base ${String(b.requests).padStart(8)}` +
        ` | revoked ${L.revocations.succeeded} (global ${L.revocations.global.succeeded}) first-use ${L.firstUse.sent}` +
        ` | violations ${L.violations.count} 5xx(valid) ${L.fiveXxValid + sides.baseline.load.acct.fiveXxValid}`);
    };
    line(await sample('idle'));

    // --- warm-up: pool tokens only, both sides at once. Its last 4 seconds are
    // sampled once a second: with the sample at the load's start, their median
    // is the start level (one sample would catch whatever V8 does that second).
    if (opts.warmup > 0 && !interrupted) {
      const warmStart = performance.now();
      const warmTimers = [4, 3, 2, 1].filter((k) => k <= opts.warmup).map((k) => setTimeout(async () => {
        const row = await sample('warm-up');
        row.t = -k;
      }, warmStart + (opts.warmup - k) * 1000 - performance.now()));
      await Promise.all(Object.values(sides).map((s) => s.load.run('warmup', opts.warmup, Math.min(opts.warmupMix, opts.warmup))));
      warmTimers.forEach(clearTimeout);
      console.log(`soak: warm-up done (${sides.ours.load.acct.warmupRequests} + ${sides.baseline.load.acct.warmupRequests} requests)`);
    }
    if (interrupted) return 130;

    // --- the load
    loadStart = performance.now();
    line(await sample('start'));
    // Samples at every multiple of --sample-every, and at 60 s.
    const times = [];
    for (let t = opts.sampleEvery; t < opts.duration; t += opts.sampleEvery) times.push(t);
    if (opts.duration > 60 && !times.includes(60)) times.push(60);
    times.sort((x, y) => x - y);
    const timers = times.map((t) => setTimeout(async () => line(await sample(t === 60 ? '1 min' : 'sample')), loadStart + t * 1000 - performance.now()));
    const durations = await Promise.all(Object.values(sides).map((s) => s.load.run('load', opts.duration)));
    timers.forEach(clearTimeout);
    const end = await sample('end');
    line(end);
    const loadSeconds = Math.max(...durations);

    // --- final sweep of edge-revoke (after the end sample, so it does not count)
    let sweep = null;
    if (!interrupted) {
      sweep = await sides.ours.load.sweep();
      console.log(`soak: final sweep: ${sweep.revokedChecked} of ${sweep.revokedTotal} revoked tokens re-checked, ${sweep.validChecked} pool tokens re-checked`);
    }
    const originStats = await origin.stats().catch(() => null);
    const alive = Object.fromEntries(Object.values(sides).map((s) => [s.name, s.proc.child.exitCode === null && s.proc.child.signalCode === null && s.kv.child.exitCode === null]));

    // --- summary
    const oneMin = samples.find((r) => r.label === '1 min') ?? null;
    const startRow = samples.find((r) => r.label === 'start');
    const idleRow = samples.find((r) => r.label === 'idle');
    // Levels: start = median of the warm-up's last samples and the start
    // sample; end = median of the samples of the last minute (or quarter, if
    // the run is shorter than 4 minutes), the end sample included.
    const endWindow = Math.min(60, opts.duration / 4);
    const startRows = samples.filter((r) => r.label === 'warm-up' || r.label === 'start');
    const endRows = samples.filter((r) => r.label !== 'idle' && r.label !== 'warm-up' && r.t >= loadSeconds - endWindow - 0.5);
    const median = (rows, side) => {
      const v = rows.map((r) => r[side].rssKiB).filter((x) => x != null).sort((x, y) => x - y);
      if (!v.length) return null;
      return v.length % 2 ? v[(v.length - 1) / 2] : Math.round((v[v.length / 2 - 1] + v[v.length / 2]) / 2);
    };
    const per = (s) => {
      const a = s.load.acct;
      const first = startRow[s.name], last = end[s.name];
      const lat = a.latency.stats();
      return {
        requests: a.requests,
        requestsPerSecond: round(a.requests / loadSeconds, 1),
        socketsOpened: s.socketsOpened,
        latencyMs: lat,
        latencyMsByCategory: Object.fromEntries(Object.entries(a.latencyByCat).filter(([, v]) => v.n).map(([k, v]) => [k, v.stats()])),
        statusHistogram: a.statusAll,
        statusByCategory: Object.fromEntries(Object.entries(a.statusByCat).filter(([, v]) => Object.keys(v).length)),
        fiveXxByCategory: a.fiveXxByCat,
        fiveXxOnValidTokens: a.fiveXxValid,
        validTokenNot200FromOrigin: a.validNon200.count,
        validTokenNot200Examples: a.validNon200.examples,
        transportErrors: a.transportErrors,
        failures: a.failures.count,
        failureExamples: a.failures.examples,
        revocations: a.revocations,
        firstUseTokens: { sent: a.firstUse.sent, meanLength: a.firstUse.sent ? round(a.firstUse.bytes / a.firstUse.sent, 0) : null, meanCacheEstimateBytes: a.firstUse.sent ? round(a.firstUse.accountedCacheBytes / a.firstUse.sent, 0) : null },
        ...(s.load.enforce ? {
          violations: a.violations.count,
          violationKinds: a.violationKinds,
          violationExamples: a.violations.examples,
          requestsJudgedAfterRevocation: a.judgedAfterRevocation,
          racesWhileRevocationInFlight: a.revokingRaces,
          revoked401WithoutTokenRevoked: a.wrongReason.count,
          revoked401WithoutTokenRevokedExamples: a.wrongReason.examples,
          finalSweep: sweep,
        } : { violations: null }),
        memory: {
          pid: s.pid,
          rssKiB: {
            idle: idleRow[s.name].rssKiB,
            start: median(startRows, s.name),
            oneMinute: oneMin?.[s.name].rssKiB ?? null,
            end: median(endRows, s.name),
            startSample: first.rssKiB,
            lastSample: last.rssKiB,
            startSamples: startRows.length,
            endSamples: endRows.length,
            max: Math.max(...samples.map((r) => r[s.name].rssKiB ?? 0)),
            peakHwm: last.hwmKiB,
          },
          ...(s.name === 'ours' && opts.probe ? { wasmMemoryKiB: { idle: idleRow.ours.wasmKiB, start: first.wasmKiB, oneMinute: oneMin?.ours.wasmKiB ?? null, end: last.wasmKiB } } : {}),
          growthKiB: median(endRows, s.name) != null && median(startRows, s.name) != null ? median(endRows, s.name) - median(startRows, s.name) : null,
          growthAfterOneMinuteKiB: oneMin && median(endRows, s.name) != null && oneMin[s.name].rssKiB != null ? median(endRows, s.name) - oneMin[s.name].rssKiB : null,
          kvProcessRssKiB: { pid: s.kvPid, start: first.kvRssKiB, end: last.kvRssKiB },
        },
        cpu: {
          workerSeconds: first.cpuS != null && last.cpuS != null ? round(last.cpuS - first.cpuS, 1) : null,
          workerMsPerRequest: first.cpuS != null && last.cpuS != null && a.requests ? round(((last.cpuS - first.cpuS) * 1000) / a.requests, 3) : null,
          kvSeconds: first.kvCpuS != null && last.kvCpuS != null ? round(last.kvCpuS - first.kvCpuS, 1) : null,
        },
      };
    };
    const ours = per(sides.ours), baseline = per(sides.baseline);
    const diffKiB = ours.memory.growthKiB != null && baseline.memory.growthKiB != null ? ours.memory.growthKiB - baseline.memory.growthKiB : null;
    const o = sides.ours.load.acct;
    const judged = loadSeconds >= VERDICT_MIN_SECONDS;
    const checks = {
      revocation_enforced: { pass: o.violations.count === 0, violations: o.violations.count, judged: o.judgedAfterRevocation },
      no_5xx_on_valid_tokens: { pass: o.fiveXxValid === 0 && sides.baseline.load.acct.fiveXxValid === 0, ours: o.fiveXxValid, baseline: sides.baseline.load.acct.fiveXxValid },
      revoked_401_says_token_revoked: { pass: o.wrongReason.count === 0, count: o.wrongReason.count },
      valid_tokens_reach_origin: { pass: o.validNon200.count === 0 && sides.baseline.load.acct.validNon200.count === 0, ours: o.validNon200.count, baseline: sides.baseline.load.acct.validNon200.count },
      no_transport_errors: { pass: Object.keys(o.transportErrors).length === 0 && Object.keys(sides.baseline.load.acct.transportErrors).length === 0, ours: o.transportErrors, baseline: sides.baseline.load.acct.transportErrors },
      revocations_succeeded: { pass: o.revocations.failed === 0, failed: o.revocations.failed },
      processes_alive: { pass: alive.ours && alive.baseline, ...alive },
      rss_growth_beyond_baseline: judged
        ? { pass: diffKiB != null && diffKiB < opts.budgetMib * MiB, diffMiB: mib(diffKiB), budgetMiB: opts.budgetMib }
        : { pass: true, judged: false, diffMiB: mib(diffKiB), budgetMiB: opts.budgetMib, why: `a load under ${VERDICT_MIN_SECONDS} s ends before workerd's own RSS steps settle` },
    };
    const pass = Object.values(checks).every((c) => c.pass) && !interrupted;
    // Distinct valid tokens edge-revoke verified (and so cached) during the load:
    // first-use tokens, the callers of global sign-outs, and pool replacements.
    const offered = o.firstUse.sent + o.revocations.global.issued + o.revocations.self.issued + o.revocations.admin.issued;
    const bounds = {
      tokenCache: { entries: BOUNDS.tokenCacheEntries, bytes: BOUNDS.tokenCacheBytes, distinctTokensOffered: offered, estimatedBytesOffered: o.firstUse.accountedCacheBytes },
      recentRevocations: { perKind: BOUNDS.recentPerKind, ttlSeconds: opts.revocationTtl, tokenWrites: o.revocations.self.succeeded + o.revocations.admin.succeeded, cutoffWrites: o.revocations.global.succeeded },
    };
    bounds.tokenCache.pastEntryBound = bounds.tokenCache.distinctTokensOffered > BOUNDS.tokenCacheEntries;
    bounds.tokenCache.pastByteBound = o.firstUse.accountedCacheBytes > BOUNDS.tokenCacheBytes;
    bounds.recentRevocations.tokenSidePastBound = bounds.recentRevocations.tokenWrites > BOUNDS.recentPerKind;
    bounds.recentRevocations.cutoffSidePastBound = bounds.recentRevocations.cutoffWrites > BOUNDS.recentPerKind;

    const gitRev = (() => {
      try {
        const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
        const dirty = execFileSync('git', ['status', '--porcelain', '--', 'core', 'src', 'Cargo.toml', 'Cargo.lock'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
        return dirty ? `${rev}+dirty-src` : rev;
      } catch { return null; }
    })();
    const pkgVersion = (name) => { try { return JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version; } catch { return null; } };
    const summary = {
      date: wallStart.toISOString(),
      pass,
      interrupted,
      command: `node tests/soak/soak.mjs ${process.argv.slice(2).join(' ')}`.trim(),
      options: { ...opts },
      environment: {
        runtime: 'workerd serve, one process per worker, each with its own KV process; loopback',
        workerd: pkgVersion('workerd'),
        node: process.version,
        cpus: os.cpus().length,
        loadAverage: { start: loadAvgStart, end: os.loadavg().map((x) => round(x, 2)) },
        git: gitRev,
        build: buildInfo,
        workerSettings: Object.fromEntries(Object.entries(oursVars).filter(([k]) => !['JWT_SECRET', 'JWT_JWKS'].includes(k))),
        baseline: 'tests/soak/baseline.mjs: one KV read, then forward to the origin',
      },
      durationSeconds: round(loadSeconds, 2),
      harnessCpuSeconds: round(end.harnessCpuS - startRow.harnessCpuS, 1),
      warmupSeconds: opts.warmup,
      connectionsPerWorker: opts.connections,
      ours,
      baseline,
      growthBeyondBaselineMiB: mib(diffKiB),
      budgetMiB: opts.budgetMib,
      bounds,
      originStats,
      checks,
      samples: samples.map((r) => ({
        label: r.label,
        t: r.t,
        ...Object.fromEntries(Object.keys(sides).map((n) => [n, { requests: r[n].requests, rssMiB: mib(r[n].rssKiB), anonMiB: mib(r[n].anonKiB), fileMiB: mib(r[n].fileKiB), hwmMiB: mib(r[n].hwmKiB), kvRssMiB: mib(r[n].kvRssKiB), ...(r[n].wasmKiB != null ? { wasmMiB: mib(r[n].wasmKiB) } : {}) }])),
      })),
    };

    printTable(summary);
    if (!pass) {
      for (const [name, c] of Object.entries(checks)) if (!c.pass) console.log(`FAILED: ${name} ${JSON.stringify(c)}`);
      for (const v of o.violations.examples.slice(0, 10)) console.log(`  violation: ${JSON.stringify(v)}`);
      for (const v of o.wrongReason.examples.slice(0, 5)) console.log(`  wrong reason: ${JSON.stringify(v)}`);
      for (const s of Object.values(sides)) {
        for (const v of s.load.acct.validNon200.examples.slice(0, 5)) console.log(`  ${s.name} valid not 200: ${JSON.stringify(v)}`);
        for (const v of s.load.acct.failures.examples.slice(0, 5)) console.log(`  ${s.name} 5xx/error: ${JSON.stringify(v)}`);
        const err = s.proc.stderr().trim();
        if (err) console.log(`--- ${s.name} workerd stderr (last 2000 chars) ---\n${err.slice(-2000)}`);
      }
      if (interrupted) console.log('soak: interrupted: the run is not counted as a pass');
    }
    if (opts.out !== '-') {
      const file = opts.out ?? path.join(HERE, 'results', `${wallStart.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}.json`);
      mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      writeFileSync(file, JSON.stringify(summary, null, 2) + '\n');
      console.log(`soak: summary written to ${path.relative(process.cwd(), path.resolve(file))}`);
    }
    console.log(pass ? 'soak: PASS' : 'soak: FAIL');
    return interrupted ? 130 : pass ? 0 : 1;
  } finally {
    finished = true;
    clearTimeout(watchdog);
    for (const s of Object.values(sides)) s.agent?.destroy();
    await stopAll();
  }
}

function printTable(s) {
  const o = s.ours, b = s.baseline;
  const m = (x) => fmtMiB(x);
  const growth = (side) => (side.memory.growthKiB == null ? 'n/a' : `${side.memory.growthKiB >= 0 ? '+' : ''}${fmtMiB(side.memory.growthKiB)}`);
  const rows = [
    ['', 'edge-revoke', 'baseline'],
    ['RSS idle, before warm-up (MiB)', m(o.memory.rssKiB.idle), m(b.memory.rssKiB.idle)],
    [`RSS at start (MiB, median of ${o.memory.rssKiB.startSamples})`, m(o.memory.rssKiB.start), m(b.memory.rssKiB.start)],
    ['RSS at 1 min (MiB)', m(o.memory.rssKiB.oneMinute), m(b.memory.rssKiB.oneMinute)],
    [`RSS at end (MiB, median of ${o.memory.rssKiB.endSamples})`, m(o.memory.rssKiB.end), m(b.memory.rssKiB.end)],
    ['RSS last sample (MiB)', m(o.memory.rssKiB.lastSample), m(b.memory.rssKiB.lastSample)],
    ['RSS growth, end - start (MiB)', growth(o), growth(b)],
    ['RSS peak, VmHWM (MiB)', m(o.memory.rssKiB.peakHwm), m(b.memory.rssKiB.peakHwm)],
    ...(o.memory.wasmMemoryKiB ? [['wasm memory start / 1 min / end (MiB)', `${m(o.memory.wasmMemoryKiB.start)} / ${m(o.memory.wasmMemoryKiB.oneMinute)} / ${m(o.memory.wasmMemoryKiB.end)}`, '-']] : []),
    ['CPU during the load (s, ms/request)', o.cpu.workerSeconds == null ? 'n/a' : `${o.cpu.workerSeconds} (${o.cpu.workerMsPerRequest})`, b.cpu.workerSeconds == null ? 'n/a' : `${b.cpu.workerSeconds} (${b.cpu.workerMsPerRequest})`],
    ['KV process RSS start / end (MiB)', `${m(o.memory.kvProcessRssKiB.start)} / ${m(o.memory.kvProcessRssKiB.end)}`, `${m(b.memory.kvProcessRssKiB.start)} / ${m(b.memory.kvProcessRssKiB.end)}`],
    ['requests', String(o.requests), String(b.requests)],
    ['req/s', String(o.requestsPerSecond), String(b.requestsPerSecond)],
    ['latency p50 / p99 (ms)', `${o.latencyMs.p50} / ${o.latencyMs.p99}`, `${b.latencyMs.p50} / ${b.latencyMs.p99}`],
    ['5xx on valid tokens', String(o.fiveXxOnValidTokens), String(b.fiveXxOnValidTokens)],
    ['violations', `${o.violations} (of ${o.requestsJudgedAfterRevocation} judged)`, 'n/a (forwards all)'],
    ['revocations answered 2xx', `${o.revocations.succeeded} of ${o.revocations.issued} (global ${o.revocations.global.succeeded})`, `${b.revocations.succeeded} (forwarded)`],
    ['first-use tokens', String(o.firstUseTokens.sent), String(b.firstUseTokens.sent)],
    ['transport errors', JSON.stringify(o.transportErrors), JSON.stringify(b.transportErrors)],
  ];
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
  const sep = '-'.repeat(w[0] + w[1] + w[2] + 6);
  console.log(`\n${sep}`);
  for (const r of rows) console.log(`${r[0].padEnd(w[0])}  ${r[1].padStart(w[1])}  ${r[2].padStart(w[2])}`);
  console.log(sep);
  console.log(`duration ${s.durationSeconds} s after ${s.warmupSeconds} s warm-up, ${s.connectionsPerWorker} connections per worker (pace ${s.options.pace}); harness CPU ${s.harnessCpuSeconds} s`);
  const tc = s.bounds.tokenCache, rr = s.bounds.recentRevocations;
  console.log(`bounds: token cache ${tc.distinctTokensOffered} distinct tokens offered (bound ${tc.entries} entries / ${tc.bytes / 1048576} MiB: ${tc.pastEntryBound ? 'past' : 'NOT past'} the entry bound, ${tc.pastByteBound ? 'past' : 'not past'} the byte bound);` +
    ` recent map ${rr.tokenWrites} token writes and ${rr.cutoffWrites} cutoffs (bound ${rr.perKind} each: ${rr.tokenSidePastBound ? 'past' : 'NOT past'} / ${rr.cutoffSidePastBound ? 'past' : 'NOT past'})`);
  if (o.finalSweep) console.log(`final sweep: ${o.finalSweep.revokedChecked} revoked tokens -> 401 expected, ${o.finalSweep.validChecked} pool tokens -> 200 expected`);
  const v = s.checks.rss_growth_beyond_baseline;
  const heap = o.memory.wasmMemoryKiB;
  if (heap) console.log(`edge-revoke's own heap (wasm memory): ${m(heap.start)} MiB at start, ${m(heap.end)} MiB at the end (+${m(heap.end - heap.start)} MiB)`);
  console.log(`growth beyond the baseline: ${s.growthBeyondBaselineMiB == null ? 'n/a' : `${s.growthBeyondBaselineMiB} MiB`} (budget ${s.budgetMiB} MiB): ` +
    (v.judged === false ? `not judged (${v.why})` : v.pass ? 'PASS' : 'FAIL'));
  console.log('');
}

process.exitCode = await main().catch((e) => {
  console.error(`soak: ${e.stack || e}`);
  return 2;
});
process.exit(process.exitCode);

// The benchmark harness. bench/run.sh installs and builds everything, then
// runs this. Everything runs on 127.0.0.1 under `workerd serve` (the runtime
// wrangler and Miniflare embed), with an nginx origin and an in-memory,
// counting KV service (scripts/lib/kv-service.mjs).
//
// Sections (see docs/performance.md):
//   1. verification cost per token check, in workerd: ours vs jose; native floor
//   2. end-to-end req/s and latency with wrk: pass-through, store floor (one
//      KV get, and two), ours, ours without the token cache, jose peer; and
//      latency without load
//   3. repeat-token (cache) cost
//   4. bundle size (wrangler deploy --dry-run)
//   5. cold start, ours vs a hello-world Rust worker
//   6. KV operations and round trips per request
//
// Environment:
//   BENCH_QUICK=1        shortens every phase (to try the harness, not to quote)
//   BENCH_ONLY=a,b       runs only these sections: native, bundle, verify,
//                        repeat, idle, kv, e2e, cold (targets of the others
//                        read "section not run")
//   BENCH_VARIANT_DIR=D  serve /__bench/verify from another `--features bench`
//                        build (default bench/.build/edge-revoke-bench)
//   BENCH_COMPARE_DIR=D  also measure another production-like build (in its
//                        directory D) in the end-to-end rounds beside ours,
//                        named by BENCH_COMPARE_LABEL: for deciding a change
//                        by measurement (derived compare_* figures)
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, rmSync, readdirSync, statSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { SignJWT, importJWK } from "jose";
import { request, rawRequest, closeAgents } from "./lib/http.mjs";
import {
  WORKERD,
  assertFree,
  writeConfig,
  startWorkerd,
  startWorkerdOn,
  spawnWorkerd,
  waitForPort,
  stop,
} from "../scripts/lib/workerd.mjs";

const ROOT = path.resolve(new URL("..", import.meta.url).pathname);
const BENCH = path.join(ROOT, "bench");
const BUILD = path.join(BENCH, ".build");
const RUN = path.join(BUILD, "run");
const QUICK = process.env.BENCH_QUICK === "1";
const SECTIONS = ["native", "bundle", "verify", "repeat", "idle", "kv", "e2e", "profile", "cold"];
const SELECTED = process.env.BENCH_ONLY
  ? process.env.BENCH_ONLY.split(",").map((x) => x.trim()).filter((x) => SECTIONS.includes(x))
  : SECTIONS;
// The build with `--features bench` that serves /__bench/verify.
const VARIANT_DIR = path.resolve(process.env.BENCH_VARIANT_DIR ?? path.join(BUILD, "edge-revoke-bench"));
// Another production-like build to measure beside ours, in the same rounds
// (for deciding a change by measurement): BENCH_COMPARE_DIR names its build
// directory, BENCH_COMPARE_LABEL what it is.
const COMPARE_DIR = process.env.BENCH_COMPARE_DIR ? path.resolve(process.env.BENCH_COMPARE_DIR) : null;

const CONFIG = {
  wrkConnections: 16,
  wrkThreads: 1,
  wrkSeconds: QUICK ? 3 : 8,
  wrkWarmupSeconds: QUICK ? 1 : 2,
  wrkRounds: QUICK ? 1 : 3,
  verifyReps: QUICK ? 3 : 7,
  verifyRounds: QUICK ? 1 : 3,
  verifyTargetMs: 100,
  coldStarts: QUICK ? 5 : 21,
  idleRequests: QUICK ? 100 : 1000,
  kvRequests: 100,
  kvDelayMs: 50,
  kvDelayRequests: QUICK ? 5 : 11,
  profileSeconds: QUICK ? 2 : 6,
  pairedRounds: QUICK ? 1 : 7,
  pairedSeconds: QUICK ? 2 : 5,
  profileSamplingUs: 50,
};

const PORTS = {
  origin: 18600,
  passthrough: 18610,
  floor: 18620,
  floor2: 18625,
  floorBulk: 18627,
  ours: 18630,
  oursJournal: 18633, // + 1 KV admin, + 2 cache admin
  oursNoCache: 18640,
  peer: 18650,
  oursBench: 18660,
  oursRecheck: 18670,
  oursCompare: 18675,
  peer1: 18680,
  profiled: 18690,
  inspector: 18695,
  coldBase: 18700, // + 2 per start
};

const ORIGIN_BODY = '{"ok":true,"from":"origin"}\n';
const SECRET = "bench-secret-0123456789abcdef-0123456789";
const ALGS = ["HS256", "RS256", "PS256", "ES256", "EdDSA"];
const KIDS = { RS256: "rsa-1", PS256: "rsa-1", ES256: "ec-1", EdDSA: "ed-1" };
const FIXTURE_NAMES = { RS256: "rsa", PS256: "rsa", ES256: "ec", EdDSA: "ed" };
// End to end: both token kinds the issue names, each for every setup that checks tokens.
const E2E_ALGS = ["RS256", "ES256"];

const log = (...a) => console.error("[bench]", ...a);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? null : Number(x.toFixed(d)));
const ratio = (a, b, d = 3) => (a == null || b == null || b === 0 ? null : round(a / b, d));
const verdict = (pass) => (pass === null ? "NOT MEASURED" : pass ? "PASS" : "MISS");

// ---------------------------------------------------------------- environment

function compatibilityDate() {
  const toml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  return /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1] ?? "2026-11-01";
}

function cmdOutput(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n")[0];
}

/** Other processes using CPU when the run starts (they skew every number). */
function busyProcesses() {
  const r = spawnSync("ps", ["-eo", "pid,pcpu,comm", "--sort=-pcpu", "--no-headers"], { encoding: "utf8" });
  return (r.stdout ?? "")
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid, pcpu]) => Number(pcpu) >= 10 && Number(pid) !== process.pid)
    .slice(0, 5)
    .map(([pid, pcpu, comm]) => ({ pid: Number(pid), cpu_percent: Number(pcpu), command: comm }));
}

function environment() {
  let commit = null;
  let dirty = null;
  try {
    commit = execFileSync("git", ["-C", ROOT, "rev-parse", "HEAD"], { encoding: "utf8" }).trim();
    dirty = execFileSync("git", ["-C", ROOT, "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"], {
      encoding: "utf8",
    }).trim() !== "";
  } catch {}
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memory_gib: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    workerd: cmdOutput(WORKERD, ["--version"]),
    wrk: cmdOutput("wrk", ["--version"]),
    nginx: cmdOutput("nginx", ["-v"]),
    rustc: cmdOutput("rustc", ["--version"]),
    compatibility_date: compatibilityDate(),
    load_average_at_start: os.loadavg().map((x) => round(x, 2)),
    busy_processes_at_start: busyProcesses(),
    git_commit: commit,
    src_uncommitted_changes: dirty,
  };
}

// --------------------------------------------------------------------- tokens

async function makeTokens() {
  const fixture = JSON.parse(readFileSync(path.join(ROOT, "test-support/fixtures/test-keys.json"), "utf8"));
  const privateMembers = ["d", "p", "q", "dp", "dq", "qi"];
  const publicKeys = ["rsa", "ec", "ed"].map((name) => {
    const key = { ...fixture[name] };
    for (const m of privateMembers) delete key[m];
    return key;
  });
  const jwks = JSON.stringify({ keys: publicKeys });
  const now = Math.floor(Date.now() / 1000);
  const tokens = {};
  for (const alg of ALGS) {
    const key =
      alg === "HS256"
        ? new TextEncoder().encode(SECRET)
        : await importJWK(fixture[FIXTURE_NAMES[alg]], alg);
    const header = { alg, typ: "JWT", ...(KIDS[alg] ? { kid: KIDS[alg] } : {}) };
    tokens[alg] = await new SignJWT({ roles: ["user"] })
      .setProtectedHeader(header)
      .setSubject("bench-user")
      .setJti(`bench-${alg}`)
      .setIssuedAt(now - 5)
      .setExpirationTime(now + 7200)
      .sign(key);
  }
  // Same RS256 token with its last signature character changed: must be 401.
  const rs = tokens.RS256;
  tokens.RS256_tampered = rs.slice(0, -2) + (rs.at(-2) === "A" ? "B" : "A") + rs.at(-1);
  return { tokens, jwks };
}

// ---------------------------------------------------------------------- nginx

async function startNginx() {
  await assertFree(PORTS.origin);
  const dir = path.join(BUILD, "nginx");
  mkdirSync(path.join(dir, "logs"), { recursive: true });
  mkdirSync(path.join(dir, "tmp"), { recursive: true });
  const conf = `# Generated by bench/bench.mjs: the origin, a fixed small JSON body.
worker_processes 1;
daemon off;
master_process on;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:${PORTS.origin};
    location / {
      default_type application/json;
      return 200 '${ORIGIN_BODY.trim()}\\n';
    }
  }
}
`;
  const file = path.join(dir, "nginx.conf");
  writeFileSync(file, conf);
  const child = spawn("nginx", ["-c", file, "-p", dir, "-e", path.join(dir, "logs/error.log")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const proc = { child, stderr: () => stderr };
  (await waitForPort(PORTS.origin, proc)).destroy();
  const r = await request(PORTS.origin, { path: "/check" });
  if (r.status !== 200 || r.body !== ORIGIN_BODY) throw new Error(`nginx origin answered ${r.status} ${r.body}`);
  return proc;
}

// -------------------------------------------------------------------- setups

function setups({ jwksFile }) {
  const origin = `http://127.0.0.1:${PORTS.origin}`;
  const auth = { ORIGIN_URL: origin, JWT_SECRET: SECRET, JWT_JWKS: { embed: jwksFile } };
  const js = (file) => ({ kind: "js", module: file });
  return {
    passthrough: {
      label: "(a) pass-through JS",
      port: PORTS.passthrough,
      worker: js(path.join(BENCH, "workers/passthrough.mjs")),
      bindings: { ORIGIN_URL: origin },
    },
    floor: {
      label: "(b) store floor: pass-through + 1 KV get",
      port: PORTS.floor,
      worker: js(path.join(BENCH, "workers/kv-floor.mjs")),
      bindings: { ORIGIN_URL: origin },
    },
    floor2: {
      label: "(b') pass-through + 2 concurrent KV gets",
      port: PORTS.floor2,
      worker: js(path.join(BENCH, "workers/kv-floor.mjs")),
      bindings: { ORIGIN_URL: origin, KV_READS: "2" },
    },
    floorBulk: {
      label: "(b'') pass-through + 1 bulk get of 2 keys",
      port: PORTS.floorBulk,
      worker: js(path.join(BENCH, "workers/kv-floor.mjs")),
      bindings: { ORIGIN_URL: origin, KV_READS: "bulk" },
    },
    ours: {
      label: "(c) edge-revoke, repeat token",
      port: PORTS.ours,
      worker: { kind: "rust", dir: path.join(BUILD, "edge-revoke") },
      bindings: auth,
    },
    oursJournal: {
      label: "(c^) edge-revoke with the revocation journal, repeat token",
      port: PORTS.oursJournal,
      worker: { kind: "rust", dir: path.join(BUILD, "edge-revoke") },
      bindings: auth,
      journal: true,
    },
    oursRecheck: {
      label: "(c'') edge-revoke, REVOCATION_RECHECK_SECONDS=5",
      port: PORTS.oursRecheck,
      worker: { kind: "rust", dir: path.join(BUILD, "edge-revoke") },
      bindings: { ...auth, REVOCATION_RECHECK_SECONDS: "5" },
    },
    oursNoCache: {
      label: "(c') edge-revoke, first use (TOKEN_CACHE_ENTRIES=0)",
      port: PORTS.oursNoCache,
      worker: { kind: "rust", dir: path.join(BUILD, "edge-revoke") },
      bindings: { ...auth, TOKEN_CACHE_ENTRIES: "0" },
    },
    peer: {
      label: "(d) jose peer + our two KV reads (2 gets)",
      port: PORTS.peer,
      worker: js(path.join(BUILD, "workers/jose-peer.js")),
      bindings: auth,
    },
    peer1: {
      label: "(d') jose peer as users write it (1 get)",
      port: PORTS.peer1,
      worker: js(path.join(BUILD, "workers/jose-peer.js")),
      bindings: { ...auth, KV_READS: "1" },
    },
    ...(COMPARE_DIR
      ? {
          oursCompare: {
            label: `(c*) ${process.env.BENCH_COMPARE_LABEL ?? "compared build"}, repeat token`,
            port: PORTS.oursCompare,
            worker: { kind: "rust", dir: COMPARE_DIR },
            bindings: auth,
          },
        }
      : {}),
    oursBench: {
      label: "edge-revoke bench build (/__bench/verify)",
      port: PORTS.oursBench,
      worker: { kind: "rust", dir: VARIANT_DIR },
      bindings: auth,
    },
  };
}

function configFor(name, setup, port = setup.port) {
  return writeConfig({
    runDir: RUN,
    name,
    worker: setup.worker,
    bindings: setup.bindings,
    port,
    journal: setup.journal ?? false,
    compatibilityDate: compatibilityDate(),
  });
}

const bearer = (token) => ({ Authorization: `Bearer ${token}` });
/** The setups that check tokens (every one must reject a forged token). */
const CHECKING = ["ours", "oursJournal", "oursNoCache", "oursRecheck", "peer", "peer1", ...(COMPARE_DIR ? ["oursCompare"] : [])];

async function sanity(all, tokens) {
  for (const name of ["passthrough", "floor", "floor2", "floorBulk", ...CHECKING]) {
    const { port } = all[name];
    for (const alg of E2E_ALGS) {
      const ok = await request(port, { path: "/api/items?x=1", headers: bearer(tokens[alg]) });
      if (ok.status !== 200 || ok.body !== ORIGIN_BODY) {
        throw new Error(`${name}: valid ${alg} token got ${ok.status} ${ok.body.slice(0, 200)}`);
      }
    }
    if (CHECKING.includes(name)) {
      const bad = await request(port, { path: "/api/items", headers: bearer(tokens.RS256_tampered) });
      if (bad.status !== 401) throw new Error(`${name}: tampered token got ${bad.status}`);
      const none = await request(port, { path: "/api/items" });
      if (none.status !== 401) throw new Error(`${name}: no token got ${none.status}`);
    }
  }
  for (const name of ["oursBench", "peer"]) {
    const { port } = all[name];
    for (const alg of ALGS) {
      for (const cache of name === "oursBench" ? [false, true] : [false]) {
        const r = await request(port, {
          path: "/__bench/verify",
          headers: { ...bearer(tokens[alg]), "X-Bench-Iterations": "3", ...(cache ? { "X-Bench-Cache": "1" } : {}) },
        });
        if (r.status !== 204) throw new Error(`${name} /__bench/verify ${alg} got ${r.status} ${r.body}`);
      }
    }
    const bad = await request(port, { path: "/__bench/verify", headers: bearer(tokens.RS256_tampered) });
    if (bad.status !== 401) throw new Error(`${name} /__bench/verify tampered got ${bad.status}`);
  }
  // The production build must not expose the bench route: it is forwarded
  // (the origin answers 200) like any other path.
  const prod = await request(all.ours.port, { path: "/__bench/verify", headers: bearer(tokens.RS256) });
  if (prod.status !== 200 || prod.body !== ORIGIN_BODY) {
    throw new Error(`production build answered /__bench/verify itself: ${prod.status}`);
  }
}

// ------------------------------------------------------ 1/3: verification cost

/**
 * Microseconds per check inside the runtime: (t_N - t_1) / (N - 1), where t_k
 * is the client-side time of one /__bench/verify request with k iterations.
 * N is chosen so t_N is about verifyTargetMs. Median over reps.
 */
async function perCheck(port, token, { cache = false } = {}) {
  const headers = (n) => ({
    ...bearer(token),
    "X-Bench-Iterations": String(n),
    ...(cache ? { "X-Bench-Cache": "1" } : {}),
  });
  const call = async (n) => {
    const r = await request(port, { path: "/__bench/verify", headers: headers(n) });
    if (r.status !== 204) throw new Error(`/__bench/verify answered ${r.status}`);
    return r.ms;
  };
  for (let i = 0; i < 5; i++) await call(1);
  await call(200);
  // Calibrate N.
  const t1 = median([await call(1), await call(1), await call(1)]);
  const t2000 = median([await call(2000), await call(2000), await call(2000)]);
  if (t2000 - t1 < 0.5) {
    // 1999 more checks, cache hits included, cost well over 0.25 us each:
    // under 0.5 ms in all means the worker did not run them.
    return {
      us: null,
      error: `X-Bench-Iterations had no effect (t_1 ${round(t1, 3)} ms, t_2000 ${round(t2000, 3)} ms)`,
    };
  }
  const probe = (t2000 - t1) / 1999;
  const n = Math.min(100000, Math.max(500, Math.round(CONFIG.verifyTargetMs / probe)));
  const samples = [];
  for (let rep = 0; rep < CONFIG.verifyReps; rep++) {
    const base = median([await call(1), await call(1), await call(1)]);
    const tn = await call(n);
    samples.push(((tn - base) * 1000) / (n - 1));
  }
  return { us: round(median(samples), 3), n, reps: samples.length, samples_us: samples.map((s) => round(s, 3)) };
}

/**
 * Per algorithm, `verifyRounds` rounds that alternate ours and jose; each
 * round's figure is a median of `verifyReps` samples. The figure quoted is
 * the median of the rounds, and the ratio the median of the rounds' ratios.
 */
async function verificationCost(all, tokens) {
  const ours = {};
  const peer = {};
  const ratios = {};
  for (const alg of ALGS) {
    const rounds = [];
    for (let r = 0; r < CONFIG.verifyRounds; r++) {
      const o = await perCheck(all.oursBench.port, tokens[alg]);
      const p = await perCheck(all.peer.port, tokens[alg]);
      rounds.push({ ours: o, peer: p, ratio: ratio(o.us, p.us) });
    }
    const pick = (side) => {
      const us = rounds.map((r) => r[side].us);
      const failed = rounds.find((r) => r[side].us === null);
      return failed
        ? failed[side]
        : { us: round(median(us), 3), min_us: round(Math.min(...us), 3), rounds_us: us, n: rounds[0][side].n };
    };
    ours[alg] = pick("ours");
    peer[alg] = pick("peer");
    const rs = rounds.map((r) => r.ratio).filter((x) => x !== null);
    ratios[alg] = { median: rs.length ? round(median(rs), 3) : null, min: rs.length ? Math.min(...rs) : null, max: rs.length ? Math.max(...rs) : null, rounds: rs };
    log(`verify ${alg}: ours ${ours[alg].us} us, jose ${peer[alg].us} us, ratios ${rs.join(" ")}`);
  }
  return { ours, peer, ratios };
}

async function repeatTokenCost(all, tokens) {
  const cached = await perCheck(all.oursBench.port, tokens.RS256, { cache: true });
  const full = await perCheck(all.oursBench.port, tokens.RS256, { cache: false });
  const cachedHs = await perCheck(all.oursBench.port, tokens.HS256, { cache: true });
  log(`repeat token RS256: cached ${cached.us} us, full ${full.us} us`);
  return { rs256_cached: cached, rs256_full: full, hs256_cached: cachedHs };
}

// ------------------------------------------------------------- 6: KV per request

async function kvAdmin(port, pathname, method = "POST") {
  const r = await request(port + 1, { method, path: pathname, headers: { "X-Bench-Admin": "1" }, fresh: true });
  if (r.status >= 300) throw new Error(`kv admin ${pathname}: ${r.status}`);
  return r.body ? JSON.parse(r.body) : null;
}

/** The Cache API service of a setup with the journal (its admin socket is port + 2). */
async function cacheAdmin(port, pathname, method = "POST") {
  const r = await request(port + 2, { method, path: pathname, headers: { "X-Bench-Admin": "1" }, fresh: true });
  if (r.status >= 300) throw new Error(`cache admin ${pathname}: ${r.status}`);
  return r.body ? JSON.parse(r.body) : null;
}

async function kvPerRequest(all, tokens) {
  const out = {};
  for (const name of ["floor", "floor2", "floorBulk", "ours", "oursJournal", "oursNoCache", "oursRecheck", "peer", "peer1"]) {
    const { port } = all[name];
    const send = () => request(port, { path: "/api/items", headers: bearer(tokens.RS256) });
    await send();
    await kvAdmin(port, "/reset");
    for (let i = 0; i < CONFIG.kvRequests; i++) {
      const r = await send();
      if (r.status !== 200) throw new Error(`${name}: ${r.status}`);
    }
    const counts = await kvAdmin(port, "/stats", "GET");
    const n = CONFIG.kvRequests;
    // Round trips: with every KV operation delayed by D ms, a request takes
    // (round trips x D) ms longer.
    const lat = async () => {
      const xs = [];
      for (let i = 0; i < CONFIG.kvDelayRequests; i++) xs.push((await send()).ms);
      return median(xs);
    };
    const base = await lat();
    await kvAdmin(port, `/delay?ms=${CONFIG.kvDelayMs}`);
    await kvAdmin(port, "/reset");
    const delayed = await lat();
    const delayedStats = await kvAdmin(port, "/stats", "GET");
    await kvAdmin(port, "/delay?ms=0");
    out[name] = {
      label: all[name].label,
      requests: n,
      // What Workers KV bills (each key read, found or not) and what it
      // limits per invocation (each call; a bulk get is one).
      key_reads_per_request: round(Object.values(counts.keys).reduce((a, b) => a + b, 0) / n, 3),
      kv_calls_per_request: round((counts.get + counts.bulk + counts.put + counts.delete + counts.list) / n, 3),
      bulk_gets_per_request: round(counts.bulk / n, 3),
      gets_per_request: round(counts.get / n, 3),
      puts_per_request: round(counts.put / n, 3),
      deletes_per_request: round(counts.delete / n, 3),
      lists_per_request: round(counts.list / n, 3),
      keys_read: Object.fromEntries(Object.entries(counts.keys).map(([k, v]) => [k, round(v / n, 3)])),
      max_concurrent_kv_ops: delayedStats.maxInFlight,
      injected_kv_delay_ms: CONFIG.kvDelayMs,
      median_ms_without_delay: round(base, 3),
      median_ms_with_delay: round(delayed, 3),
      round_trips: round((delayed - base) / CONFIG.kvDelayMs, 2),
    };
    log(`kv ${name}: ${JSON.stringify(out[name])}`);
  }
  return out;
}

// ------------------------------------------------- 2: latency without load

/** One connection, one request at a time: what a request costs when nothing queues. */
async function idleLatency(all, tokens) {
  const out = {};
  const cases = e2eCases();
  for (const { key, name, alg } of cases) {
    const { port } = all[name];
    const send = () => request(port, { path: "/api/items?x=1", headers: bearer(tokens[alg]) });
    for (let i = 0; i < 50; i++) await send();
    const xs = [];
    for (let i = 0; i < CONFIG.idleRequests; i++) {
      const r = await send();
      if (r.status !== 200) throw new Error(`${key}: ${r.status}`);
      xs.push(r.ms);
    }
    xs.sort((a, b) => a - b);
    out[key] = {
      label: `${all[name].label}, ${alg}`,
      requests: xs.length,
      p50_ms: round(median(xs), 3),
      p99_ms: round(xs[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))], 3),
    };
  }
  out.added_p50_ms_over_floor = round(out.ours.p50_ms - out.floor.p50_ms, 3);
  out.added_p50_ms_over_floor_nocache = round(out.oursNoCache.p50_ms - out.floor.p50_ms, 3);
  out.added_p99_ms_over_floor = round(out.ours.p99_ms - out.floor.p99_ms, 3);
  out.added_p50_ms_over_floor_es256 = round(out["ours/ES256"].p50_ms - out.floor.p50_ms, 3);
  out.added_p99_ms_over_floor_es256 = round(out["ours/ES256"].p99_ms - out.floor.p99_ms, 3);
  log(`idle latency: ${cases.map((c) => `${c.key} ${out[c.key].p50_ms}`).join(", ")} ms`);
  return out;
}

// ---------------------------------------------------------------- 2: wrk

function parseDuration(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return null;
  const v = Number(m[1]);
  return { us: v / 1000, ms: v, s: v * 1000, m: v * 60000 }[m[2]];
}

function runWrk(port, token, seconds) {
  const args = [
    `-t${CONFIG.wrkThreads}`,
    `-c${CONFIG.wrkConnections}`,
    `-d${seconds}s`,
    "--timeout",
    "10s",
    "--latency",
    "-H",
    `Authorization: Bearer ${token}`,
    `http://127.0.0.1:${port}/api/items?x=1`,
  ];
  const r = spawnSync("wrk", args, { encoding: "utf8", timeout: (seconds + 30) * 1000 });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const text = r.stdout;
  const pct = (p) => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, "m").exec(text);
    return m ? parseDuration(m[1]) : null;
  };
  const total = /(\d+) requests in/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const socketErrors = /Socket errors: (.*)/.exec(text);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]),
    p50_ms: pct(50),
    p75_ms: pct(75),
    p90_ms: pct(90),
    p99_ms: pct(99),
    requests: total ? Number(total[1]) : null,
    non_2xx: non2xx ? Number(non2xx[1]) : 0,
    socket_errors: socketErrors ? socketErrors[1].trim() : null,
  };
}

const CLK_TCK = Number(cmdOutput("getconf", ["CLK_TCK"])) || 100;

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime
  } catch {
    return null;
  }
}

/**
 * CPU time (ticks) used so far by the whole machine and by this harness with
 * every process it started (workerd, nginx, wrk), so a section can tell how
 * much CPU other programs took while it ran.
 */
function cpuSnapshot() {
  const total = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = total[0] + total[1] + total[2] + total[5] + total[6] + (total[7] ?? 0);
  const procs = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      procs.set(Number(entry), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {}
  }
  const mine = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of procs) {
      if (!mine.has(pid) && mine.has(p.ppid)) {
        mine.add(pid);
        grew = true;
      }
    }
  }
  let mineTicks = 0;
  for (const pid of mine) mineTicks += procs.get(pid)?.ticks ?? 0;
  return { at: Date.now(), busy, mine: mineTicks };
}

/** Average number of cores other programs kept busy between two snapshots. */
function otherCores(a, b) {
  const seconds = (b.at - a.at) / 1000;
  if (seconds <= 0) return null;
  return round(Math.max(0, b.busy - a.busy - (b.mine - a.mine)) / CLK_TCK / seconds, 2);
}

/**
 * What the end-to-end sections run: every setup with the RS256 token, and
 * the setups that check tokens with the ES256 token too. Keys are
 * `name` (RS256) and `name/ES256`.
 */
function e2eCases() {
  const cases = ["passthrough", "floor", "floor2", "floorBulk", ...CHECKING].map((name) => ({ key: name, name, alg: "RS256" }));
  for (const alg of E2E_ALGS.slice(1)) {
    for (const name of CHECKING) cases.push({ key: `${name}/${alg}`, name, alg });
  }
  return cases;
}

async function endToEnd(all, procs, tokens) {
  const cases = e2eCases();
  const runs = Object.fromEntries(cases.map((c) => [c.key, []]));
  for (let round_ = 0; round_ < CONFIG.wrkRounds; round_++) {
    for (const { key, name, alg } of cases) {
      const { port } = all[name];
      const pid = procs[name].child.pid;
      runWrk(port, tokens[alg], CONFIG.wrkWarmupSeconds);
      const journal = all[name].journal ?? false;
      if (journal) {
        try {
          await Promise.all([kvAdmin(port, "/reset"), cacheAdmin(port, "/reset")]);
        } catch (e) {
          const { child, stderr } = procs[name];
          throw new Error(`${key}: resetting its KV and cache counters failed (${e.message}); workerd exit ${child.exitCode ?? child.signalCode ?? "none"}, stderr: ${stderr().slice(-2000)}`);
        }
      }
      const cpuBefore = cpuSeconds(pid);
      const r = runWrk(port, tokens[alg], CONFIG.wrkSeconds);
      const cpuAfter = cpuSeconds(pid);
      if (r.non_2xx > 0) throw new Error(`${key}: ${r.non_2xx} non-2xx responses under load`);
      r.workerd_cpu_us_per_request =
        cpuBefore === null || cpuAfter === null ? null : round(((cpuAfter - cpuBefore) * 1e6) / r.requests, 1);
      if (journal) {
        // KV reads a repeated token cost, and how often the one isolate
        // asked the journal itself: every sync that found no fresh shared
        // page (a cache miss) made one journal call.
        const [kv, cache] = await Promise.all([kvAdmin(port, "/stats", "GET"), cacheAdmin(port, "/stats", "GET")]);
        r.kv_reads_per_request = round((kv.get + kv.bulk) / r.requests, 5);
        r.journal_calls_per_isolate_second = round(cache.miss / CONFIG.wrkSeconds, 3);
      }
      runs[key].push(r);
      log(`wrk round ${round_ + 1} ${key}: ${r.rps} req/s p50 ${r.p50_ms} ms p99 ${r.p99_ms} ms, workerd ${r.workerd_cpu_us_per_request} us CPU/request`);
    }
  }
  const paired = await pairedRatios(all, tokens);
  const summary = {};
  for (const { key, name, alg } of cases) {
    const rs = runs[key];
    summary[key] = {
      label: `${all[name].label}, ${alg}`,
      alg,
      rps: round(median(rs.map((r) => r.rps)), 0),
      p50_ms: round(median(rs.map((r) => r.p50_ms)), 3),
      p99_ms: round(median(rs.map((r) => r.p99_ms)), 3),
      workerd_cpu_us_per_request: round(median(rs.map((r) => r.workerd_cpu_us_per_request)), 1),
      ...(all[name].journal
        ? {
            kv_reads_per_request: round(Math.max(...rs.map((r) => r.kv_reads_per_request)), 5),
            journal_calls_per_isolate_second: round(median(rs.map((r) => r.journal_calls_per_isolate_second)), 3),
          }
        : {}),
      runs: rs,
    };
  }
  const s = summary;
  const derived = {
    ours_over_floor_throughput: ratio(s.ours.rps, s.floor.rps),
    ours_over_peer_throughput: ratio(s.ours.rps, s.peer.rps),
    ours_over_floor2_throughput: ratio(s.ours.rps, s.floor2.rps),
    ours_over_floor_bulk_throughput: ratio(s.ours.rps, s.floorBulk.rps),
    added_cpu_us_per_request_over_floor_bulk: round(s.ours.workerd_cpu_us_per_request - s.floorBulk.workerd_cpu_us_per_request, 1),
    ours_nocache_over_floor_throughput: ratio(s.oursNoCache.rps, s.floor.rps),
    ours_nocache_over_peer_throughput: ratio(s.oursNoCache.rps, s.peer.rps),
    ours_over_peer1_throughput: ratio(s.ours.rps, s.peer1.rps),
    es256_ours_over_peer_throughput: ratio(s["ours/ES256"]?.rps, s["peer/ES256"]?.rps),
    es256_ours_over_peer1_throughput: ratio(s["ours/ES256"]?.rps, s["peer1/ES256"]?.rps),
    es256_ours_over_floor_throughput: ratio(s["ours/ES256"]?.rps, s.floor.rps),
    es256_nocache_over_peer_throughput: ratio(s["oursNoCache/ES256"]?.rps, s["peer/ES256"]?.rps),
    es256_nocache_over_floor_throughput: ratio(s["oursNoCache/ES256"]?.rps, s.floor.rps),
    added_p50_ms_over_floor: round(s.ours.p50_ms - s.floor.p50_ms, 3),
    added_p99_ms_over_floor: round(s.ours.p99_ms - s.floor.p99_ms, 3),
    // workerd CPU per request (worker + runtime + the KV service, one process).
    added_cpu_us_per_request_over_floor: round(s.ours.workerd_cpu_us_per_request - s.floor.workerd_cpu_us_per_request, 1),
    added_cpu_us_per_request_over_floor2: round(s.ours.workerd_cpu_us_per_request - s.floor2.workerd_cpu_us_per_request, 1),
    nocache_added_cpu_us_per_request_over_floor: round(s.oursNoCache.workerd_cpu_us_per_request - s.floor.workerd_cpu_us_per_request, 1),
    peer_added_cpu_us_per_request_over_floor: round(s.peer.workerd_cpu_us_per_request - s.floor.workerd_cpu_us_per_request, 1),
    journal_over_floor_throughput: ratio(s.oursJournal.rps, s.floor.rps),
    journal_over_passthrough_throughput: ratio(s.oursJournal.rps, s.passthrough.rps),
    journal_over_ours_throughput: ratio(s.oursJournal.rps, s.ours.rps),
    es256_journal_over_floor_throughput: ratio(s["oursJournal/ES256"]?.rps, s.floor.rps),
    es256_journal_over_passthrough_throughput: ratio(s["oursJournal/ES256"]?.rps, s.passthrough.rps),
    journal_cpu_us_per_request_minus_ours: round(s.oursJournal.workerd_cpu_us_per_request - s.ours.workerd_cpu_us_per_request, 1),
    ...(s.oursCompare
      ? {
          compare_over_ours_throughput: ratio(s.oursCompare.rps, s.ours.rps),
          compare_over_ours_throughput_by_round: s.oursCompare.runs.map((r, i) => ratio(r.rps, s.ours.runs[i].rps)),
          compare_minus_ours_cpu_us_per_request: round(s.oursCompare.workerd_cpu_us_per_request - s.ours.workerd_cpu_us_per_request, 1),
          compare_minus_ours_cpu_by_round: s.oursCompare.runs.map((r, i) => round(r.workerd_cpu_us_per_request - s.ours.runs[i].workerd_cpu_us_per_request, 1)),
        }
      : {}),
  };
  return {
    paired,
    config: {
      connections: CONFIG.wrkConnections,
      threads: CONFIG.wrkThreads,
      seconds: CONFIG.wrkSeconds,
      warmup_seconds: CONFIG.wrkWarmupSeconds,
      rounds: CONFIG.wrkRounds,
      path: "/api/items?x=1",
    },
    setups: summary,
    derived,
  };
}

/**
 * The journal's targets, measured back to back. The rounds above measure
 * each setup once per round, so the pass-through and the journal are a
 * minute apart, and this machine's speed drifts by up to 25% over minutes
 * (the same setup's CPU per request moved from 373 to 510 us between rounds
 * on 2026-12-04). Here the pass-through, the store floor and the journal
 * (RS256, then ES256) run one right after the other, `pairedRounds` times;
 * each round gives its own ratios, and the targets read their medians.
 */
async function pairedRatios(all, tokens) {
  const order = [
    ["passthrough", "passthrough", "RS256"],
    ["floor", "floor", "RS256"],
    ["oursJournal", "oursJournal", "RS256"],
    ["oursJournal/ES256", "oursJournal", "ES256"],
  ];
  const rounds = [];
  for (let round_ = 0; round_ < CONFIG.pairedRounds; round_++) {
    const rps = {};
    for (const [key, name, alg] of order) {
      const { port } = all[name];
      runWrk(port, tokens[alg], 1);
      rps[key] = runWrk(port, tokens[alg], CONFIG.pairedSeconds).rps;
    }
    rounds.push({
      rps,
      journal_over_floor: ratio(rps.oursJournal, rps.floor),
      journal_over_passthrough: ratio(rps.oursJournal, rps.passthrough),
      es256_journal_over_floor: ratio(rps["oursJournal/ES256"], rps.floor),
      es256_journal_over_passthrough: ratio(rps["oursJournal/ES256"], rps.passthrough),
    });
    log(`paired round ${round_ + 1}: ${JSON.stringify(rounds.at(-1))}`);
  }
  const med = (k) => round(median(rounds.map((r) => r[k])), 3);
  return {
    seconds: CONFIG.pairedSeconds,
    journal_over_floor: med("journal_over_floor"),
    journal_over_passthrough: med("journal_over_passthrough"),
    es256_journal_over_floor: med("es256_journal_over_floor"),
    es256_journal_over_passthrough: med("es256_journal_over_passthrough"),
    rounds,
  };
}

// ----------------------------------------------- 8: where the CPU goes

/** One Chrome DevTools Protocol session over the inspector's WebSocket. */
async function inspectorSession(url) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`inspector: cannot connect to ${url}`));
  });
  let next = 1;
  const waiting = new Map();
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    const pending = waiting.get(message.id);
    if (!pending) return;
    waiting.delete(message.id);
    if (message.error) pending.reject(new Error(`inspector: ${JSON.stringify(message.error)}`));
    else pending.resolve(message.result);
  };
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { send, close: () => ws.close() };
}

/**
 * What V8 itself attributes a sample to. Our wasm has no name section, so
 * its functions show as wasm functions; the glue (wasm-bindgen's JS and our
 * snippets) is the worker's own script; built-ins are runtime APIs called
 * from JS (Headers, fetch, KV, WebCrypto, promises); "(program)" is the
 * runtime's own C++ (HTTP, I/O, the KV transport) and "(garbage collector)"
 * is GC.
 */
function sampleCategory(frame) {
  const { functionName: name, url } = frame;
  if (name === "(idle)") return null;
  if (name === "(root)") return null;
  if (name === "(garbage collector)") return "GC";
  if (name === "(program)") return "runtime, outside JS and wasm";
  if (url.startsWith("wasm://") || /^\$?func\d+|^wasm-function|^js-to-wasm|^wasm-to-js/.test(name)) return "wasm (Rust)";
  if (url === "") return "runtime built-ins called from JS";
  return "JS (wasm-bindgen glue, snippets, worker script)";
}

/** Self time per category and the top functions, from one CPU profile. */
function summarizeProfile(profile, requests) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const categories = {};
  const functions = new Map();
  const wasmFunctions = new Map();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id).callFrame;
    const category = sampleCategory(frame);
    if (category === null) continue;
    busy += us;
    categories[category] = (categories[category] ?? 0) + us;
    const key = `${frame.functionName || "(anonymous)"} ${frame.url ? path.basename(frame.url) : ""}`.trim();
    functions.set(key, (functions.get(key) ?? 0) + us);
    if (category === "wasm (Rust)") wasmFunctions.set(key, (wasmFunctions.get(key) ?? 0) + us);
  }
  const perRequest = (us) => round(us / requests, 2);
  return {
    requests,
    busy_us_per_request: perRequest(busy),
    categories_us_per_request: Object.fromEntries(
      Object.entries(categories)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, perRequest(v)]),
    ),
    top_functions_us_per_request: [...functions.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([name, us]) => ({ name, us: perRequest(us) })),
    // Named only when the build keeps its name section (the bench build).
    top_wasm_functions_us_per_request: [...wasmFunctions.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 30)
      .map(([name, us]) => ({ name, us: perRequest(us) })),
  };
}

/**
 * A V8 CPU profile of one setup's isolate under wrk load (its own workerd,
 * with the inspector on), summarised per request.
 */
async function profileSetup(setup, token) {
  const port = PORTS.profiled;
  const config = configFor("profiled", setup, port);
  const proc = await startWorkerdOn(config, [port, port + 1, PORTS.inspector], {
    args: [`--inspector-addr=127.0.0.1:${PORTS.inspector}`],
  });
  try {
    runWrk(port, token, 2);
    const targets = await (await fetch(`http://127.0.0.1:${PORTS.inspector}/json/list`)).json();
    const target = targets.find((t) => /profiled|main/.test(`${t.id} ${t.title} ${t.url}`)) ?? targets[0];
    const session = await inspectorSession(target.webSocketDebuggerUrl);
    try {
      await session.send("Profiler.enable");
      await session.send("Profiler.setSamplingInterval", { interval: CONFIG.profileSamplingUs });
      await session.send("Profiler.start");
      const r = runWrk(port, token, CONFIG.profileSeconds);
      const { profile } = await session.send("Profiler.stop");
      return { target: target.title ?? target.id, rps: r.rps, ...summarizeProfile(profile, r.requests) };
    } finally {
      session.close();
    }
  } finally {
    await stop(proc);
  }
}

async function cpuProfiles(all, tokens) {
  const out = {};
  // Our setups run the bench build here: the production code plus the
  // /__bench/verify check, with the wasm name section kept, so the profile
  // names our functions (names do not change speed).
  const named = (setup) => ({ ...setup, worker: { kind: "rust", dir: VARIANT_DIR } });
  for (const [key, name, alg] of [
    ["oursJournal", "oursJournal", "RS256"],
    ["passthrough", "passthrough", "RS256"],
    ["ours", "ours", "RS256"],
    ["oursNoCache", "oursNoCache", "RS256"],
    ["peer", "peer", "RS256"],
    ["floor", "floor", "RS256"],
  ]) {
    const setup = all[name].worker.kind === "rust" ? named(all[name]) : all[name];
    out[key] = { label: `${all[name].label}, ${alg}`, ...(await profileSetup(setup, tokens[alg])) };
    log(`profile ${key}: ${JSON.stringify(out[key].categories_us_per_request)}`);
  }
  return out;
}

// -------------------------------------------------------------- 5: cold start

async function coldStarts(all, tokens) {
  const hello = {
    worker: { kind: "rust", dir: path.join(BUILD, "hello-rust") },
    bindings: {},
  };
  // hello and ours decide the target; the other two are context: ours
  // answering 401 to a request without a token (no crypto, KV or origin), and
  // the JavaScript pass-through (the runtime's own start and one fetch).
  const subjects = {
    hello: { label: "hello-world Rust, GET / (200 \"hello\")", setup: hello, path: "/", headers: {}, expect: 200 },
    ours: { label: "edge-revoke, RS256 token (verify, 2 KV gets, origin)", setup: all.ours, path: "/api/items?x=1", headers: bearer(tokens.RS256), expect: 200 },
    oursNoToken: { label: "edge-revoke, no token (401)", setup: all.ours, path: "/api/items?x=1", headers: {}, expect: 401 },
    passthrough: { label: "JS pass-through (origin fetch)", setup: all.passthrough, path: "/api/items?x=1", headers: {}, expect: 200 },
  };
  const names = Object.keys(subjects);
  const results = Object.fromEntries(names.map((n) => [n, []]));
  let port = PORTS.coldBase;
  for (let i = 0; i < CONFIG.coldStarts; i++) {
    // Rotate the order so no subject always runs first after a pause.
    for (const name of names.map((_, k) => names[(k + i) % names.length])) {
      const subject = subjects[name];
      port += 2;
      const config = configFor(`cold-${name}`, subject.setup, port);
      await assertFree(port);
      const proc = spawnWorkerd(config);
      const socket = await waitForPort(port, proc);
      const listeningAt = process.hrtime.bigint();
      const r = await rawRequest(socket, { path: subject.path, headers: subject.headers });
      await stop(proc);
      if (r.status !== subject.expect) throw new Error(`cold ${name}: status ${r.status}\n${r.text}`);
      results[name].push({
        spawn_to_first_response_ms: Number(r.firstByteAt - proc.spawnedAt) / 1e6,
        listening_to_first_response_ms: Number(r.firstByteAt - listeningAt) / 1e6,
        spawn_to_listening_ms: Number(listeningAt - proc.spawnedAt) / 1e6,
      });
    }
  }
  const summarize = (xs) => ({
    starts: xs.length,
    spawn_to_first_response_ms: round(median(xs.map((x) => x.spawn_to_first_response_ms)), 2),
    spawn_to_listening_ms: round(median(xs.map((x) => x.spawn_to_listening_ms)), 2),
    listening_to_first_response_ms: round(median(xs.map((x) => x.listening_to_first_response_ms)), 2),
    samples: xs.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, round(v, 2)]))),
  });
  const out = Object.fromEntries(names.map((n) => [n, { label: subjects[n].label, ...summarize(results[n]) }]));
  out.ratio_spawn_to_first_response = round(out.ours.spawn_to_first_response_ms / out.hello.spawn_to_first_response_ms, 3);
  out.ratio_listening_to_first_response = round(
    out.ours.listening_to_first_response_ms / out.hello.listening_to_first_response_ms,
    3,
  );
  log(`cold: hello ${out.hello.spawn_to_first_response_ms} ms, ours ${out.ours.spawn_to_first_response_ms} ms`);
  return out;
}

// ---------------------------------------------------------------- 4: bundle size

function bundleSize(name, dir) {
  const cfgDir = path.join(BUILD, "size", name);
  const outDir = path.join(cfgDir, "out");
  rmSync(cfgDir, { recursive: true, force: true });
  mkdirSync(cfgDir, { recursive: true });
  const toml = `# Generated by bench/bench.mjs: measure what \`wrangler deploy\` would upload.
name = "bench-size-${name.toLowerCase()}"
main = ${JSON.stringify(path.relative(cfgDir, path.join(dir, "index.js")))}
compatibility_date = "${compatibilityDate()}"

[[kv_namespaces]]
binding = "REVOKED_TOKENS"
id = "00000000000000000000000000000000"
`;
  writeFileSync(path.join(cfgDir, "wrangler.toml"), toml);
  const r = spawnSync(
    path.join(ROOT, "node_modules/.bin/wrangler"),
    ["deploy", "--dry-run", "--outdir", outDir, "--config", path.join(cfgDir, "wrangler.toml")],
    {
      cwd: cfgDir,
      encoding: "utf8",
      timeout: 120000,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1", FORCE_COLOR: "0" },
    },
  );
  const text = `${r.stdout}\n${r.stderr}`;
  const m = /Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/.exec(text);
  if (!m) throw new Error(`wrangler dry-run for ${name} printed no Total Upload line:\n${text}`);
  const files = {};
  for (const f of readdirSync(outDir)) {
    const p = path.join(outDir, f);
    if (!statSync(p).isFile() || f.endsWith(".map") || f.endsWith(".md")) continue;
    const bytes = readFileSync(p);
    files[f] = { bytes: bytes.length, gzip_bytes: gzipSync(bytes, { level: 9 }).length };
  }
  return { total_upload_kib: Number(m[1]), gzip_kib: Number(m[2]), gzip_kb: round((Number(m[2]) * 1024) / 1000, 2), files };
}

/**
 * The largest contributors to the upload's wasm, by twiggy (installed by
 * bench/run.sh), on the same build with its function names kept
 * (bench/.build/edge-revoke-named, `KEEP_WASM_NAMES=1 scripts/build.sh`):
 * the largest items, and every function's bytes summed per crate.
 */
function sizeProfile() {
  const wasm = path.join(BUILD, "edge-revoke-named/index_bg.wasm");
  const twiggy = path.join(os.homedir(), ".cargo/bin/twiggy");
  if (!existsSync(wasm) || !existsSync(twiggy)) return { error: "no named build or no twiggy (bench/run.sh makes both)" };
  const r = spawnSync(twiggy, ["top", "-f", "json", wasm], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) return { error: r.stderr.trim() };
  // The name section is there only for this profile; it is not uploaded.
  const items = JSON.parse(r.stdout).filter((item) => !/names" subsection|^custom section/.test(item.name));
  const total = items.reduce((sum, item) => sum + item.shallow_size, 0);
  const crateOf = (name) => {
    const m = /^(?:<)?(?:&(?:mut )?)?([a-z_][a-z0-9_]*)(?:\[[0-9a-f]+\])?::/.exec(name);
    if (m) return m[1];
    // `<f64 as core::fmt::Display>::fmt`: the trait's crate.
    const impl = /^<[^ ]+ as ([a-z_][a-z0-9_]*)/.exec(name);
    if (impl) return impl[1];
    if (/^data segment|^data\[/.test(name)) return "(data segments)";
    return "(wasm sections, other)";
  };
  const crates = new Map();
  for (const item of items) crates.set(crateOf(item.name), (crates.get(crateOf(item.name)) ?? 0) + item.shallow_size);
  return {
    wasm_bytes: statSync(wasm).size,
    top_items: items.slice(0, 15).map((item) => ({ name: item.name.slice(0, 110), bytes: item.shallow_size })),
    by_crate: [...crates.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([crate, bytes]) => ({ crate, bytes, percent: round((bytes * 100) / total, 1) })),
  };
}

// ---------------------------------------------------------------- native

function nativeFloor() {
  const bin = path.join(BUILD, "target/bench-native/edge-revoke-native-bench");
  if (!existsSync(bin)) throw new Error(`native bench binary missing: ${bin} (bench/run.sh builds it)`);
  const r = spawnSync(bin, [], { encoding: "utf8", timeout: 300000 });
  if (r.status !== 0) throw new Error(`native bench failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1));
}

// ------------------------------------------------------------- 7: cost

/**
 * Published Workers Paid prices beyond the included amounts (USD): $0.30 per
 * million requests, $0.02 per million CPU milliseconds, and Workers KV's
 * $0.50 per million key reads (each key of a bulk read counts, found or not).
 */
const PRICES = { request_per_million: 0.3, cpu_ms_per_million: 0.02, kv_read_per_million: 0.5 };

/**
 * Per 1,000,000 checked requests, from this run's counts: KV key reads and KV
 * calls (kv section, counted by the KV service), and workerd CPU per request
 * (e2e section, RS256; it includes the runtime and the in-process KV
 * service, so it overstates what Workers bills as the worker's CPU).
 */
function costTable(results) {
  const kvs = results.kv_per_request;
  const e = results.end_to_end?.setups ?? {};
  const rows = {};
  for (const name of ["floor", "peer1", "peer", "ours", "oursNoCache", "oursRecheck"]) {
    const kv = kvs?.[name];
    if (!kv) continue;
    const cpuUs = e[name]?.workerd_cpu_us_per_request ?? null;
    const reads = kv.key_reads_per_request * 1e6;
    const calls = kv.kv_calls_per_request * 1e6;
    const cpuMs = cpuUs === null ? null : (cpuUs * 1e6) / 1000;
    const dollars = {
      requests: PRICES.request_per_million,
      kv_reads: round((reads / 1e6) * PRICES.kv_read_per_million, 4),
      cpu: cpuMs === null ? null : round((cpuMs / 1e6) * PRICES.cpu_ms_per_million, 4),
    };
    rows[name] = {
      label: kv.label,
      kv_key_reads: Math.round(reads),
      kv_calls: Math.round(calls),
      workerd_cpu_ms: cpuMs === null ? null : Math.round(cpuMs),
      usd: dollars,
      usd_total: dollars.cpu === null ? null : round(dollars.requests + dollars.kv_reads + dollars.cpu, 4),
    };
  }
  return { per_requests: 1e6, prices_usd: PRICES, setups: rows };
}

// ------------------------------------------------------------------- report

function pad(s, n, right = false) {
  s = String(s ?? "-");
  return right ? s.padStart(n) : s.padEnd(n);
}

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? "-").length)));
  const line = (r) => "| " + r.map((c, i) => pad(c, widths[i], i > 0)).join(" | ") + " |";
  const sep = "|" + widths.map((w, i) => (i > 0 ? "-".repeat(w + 1) + ":" : "-".repeat(w + 2))).join("|") + "|";
  return [line(rows[0]), sep, ...rows.slice(1).map(line)].join("\n");
}

function targets(results) {
  const { verification: v, repeat_token: rt, end_to_end: e, kv_per_request: kvs, bundle: b, cold_start: c } = results;
  const out = [];
  const add = (target, measure) => {
    try {
      const { measured, pass } = measure();
      out.push({ target, measured, pass });
    } catch {
      out.push({ target, measured: "section not run", pass: null });
    }
  };
  for (const alg of ALGS) {
    add(`${alg} verification <= 1.0x jose (median of rounds)`, () => {
      const ours = v.ours[alg].us;
      const r = v.ratios[alg];
      return ours === null
        ? { measured: `ours not measured: ${v.ours[alg].error}`, pass: null }
        : { measured: `${ours} us vs ${v.peer[alg].us} us (x${r.median}; rounds ${r.rounds.join(", ")})`, pass: r.median <= 1.0 };
    });
  }
  add("cache hit <= 10 us", () => {
    const hit = rt.rs256_cached.us;
    return {
      measured: `${hit ?? "not measured"} us per RS256 check in workerd (native TokenCache::get ${results.native?.cache_hit_us ?? "-"} us)`,
      pass: hit === null ? null : hit <= 10,
    };
  });
  add("end-to-end >= 90% of store floor", () => ({
    measured: `${e.setups.ours.rps} vs ${e.setups.floor.rps} req/s = ${(e.derived.ours_over_floor_throughput * 100).toFixed(1)}%`,
    pass: e.derived.ours_over_floor_throughput >= 0.9,
  }));
  for (const alg of E2E_ALGS) {
    for (const [name, what] of [["ours", "repeat token"], ["oursNoCache", "first use"]]) {
      const key = alg === "RS256" ? name : `${name}/${alg}`;
      add(`end-to-end ${alg} ${what} > jose peer (1 get and 2 gets)`, () => {
        const s = e.setups;
        const p1 = s[alg === "RS256" ? "peer1" : `peer1/${alg}`];
        const p2 = s[alg === "RS256" ? "peer" : `peer/${alg}`];
        return {
          measured: `${s[key].rps} vs ${p1.rps} / ${p2.rps} req/s (x${ratio(s[key].rps, p1.rps)} / x${ratio(s[key].rps, p2.rps)})`,
          pass: s[key].rps > p1.rps && s[key].rps > p2.rps,
        };
      });
      add(`end-to-end ${alg} ${what} >= 0.90x store floor`, () => {
        const s = e.setups;
        return {
          measured: `${s[key].rps} vs ${s.floor.rps} req/s (x${ratio(s[key].rps, s.floor.rps)})`,
          pass: s[key].rps >= 0.9 * s.floor.rps,
        };
      });
    }
  }
  for (const alg of E2E_ALGS) {
    const key = alg === "RS256" ? "oursJournal" : `oursJournal/${alg}`;
    add(`end-to-end ${alg} with the journal, repeat token >= 1.2x store floor and >= 0.8x pass-through (back to back)`, () => {
      const s = e.setups;
      const p = e.paired;
      const prefix = alg === "RS256" ? "" : `${alg.toLowerCase()}_`;
      const [floor, pass] = [p[`${prefix}journal_over_floor`], p[`${prefix}journal_over_passthrough`]];
      const byRound = p.rounds.map((r) => `${r[`${prefix}journal_over_floor`]}/${r[`${prefix}journal_over_passthrough`]}`).join(", ");
      return {
        measured: `median of ${p.rounds.length} back-to-back rounds x${floor} / x${pass} (rounds ${byRound}); rounds above ${s[key].rps} vs ${s.floor.rps} / ${s.passthrough.rps} req/s (x${ratio(s[key].rps, s.floor.rps)} / x${ratio(s[key].rps, s.passthrough.rps)})`,
        pass: floor >= 1.2 && pass >= 0.8,
      };
    });
    add(`${alg} with the journal: KV reads per repeated request <= 0.01`, () => {
      const s = e.setups[key];
      return {
        measured: `${s.kv_reads_per_request} (worst round); journal calls ${s.journal_calls_per_isolate_second} per isolate-second`,
        pass: s.kv_reads_per_request <= 0.01,
      };
    });
  }
  add("workerd CPU per request <= jose peer (RS256, 2 gets)", () => ({
    measured: `${e.setups.ours.workerd_cpu_us_per_request} vs ${e.setups.peer.workerd_cpu_us_per_request} us (first use: ${e.setups.oursNoCache.workerd_cpu_us_per_request})`,
    pass: e.setups.ours.workerd_cpu_us_per_request <= e.setups.peer.workerd_cpu_us_per_request,
  }));
  add("1 KV call and <= 1 KV round trip per request", () => {
    const kv = kvs.oursNoCache;
    return {
      measured: `${kv.kv_calls_per_request} calls (${kv.bulk_gets_per_request} bulk, ${kv.gets_per_request} single gets), ${kv.key_reads_per_request} key reads, ${kv.round_trips} round trips (floor: ${kvs.floor.round_trips}), ${kv.puts_per_request} puts`,
      pass: kv.kv_calls_per_request === 1 && Math.round(kv.round_trips) <= 1 && kv.puts_per_request === 0,
    };
  });
  add("bundle gzip < 150 KB", () => ({
    measured: `${b.ours.gzip_kib} KiB = ${b.ours.gzip_kb} KB`,
    pass: b.ours.gzip_kb < 150,
  }));
  add("cold start <= 1.5x hello-world", () => ({
    measured: `${c.ours.spawn_to_first_response_ms} vs ${c.hello.spawn_to_first_response_ms} ms = x${c.ratio_spawn_to_first_response} (after listen: x${c.ratio_listening_to_first_response})`,
    pass: c.ratio_spawn_to_first_response <= 1.5,
  }));
  return out;
}

function report(results) {
  const { verification: v, native: n, environment: env } = results;
  const lines = [];
  /** A blank line, a title line, then a table of `rows`. */
  const titled = (title, rows) => lines.push("", title, table(rows));
  lines.push(
    `edge-revoke benchmark, ${results.date} (${env.cores} cores, ${env.cpu}; load average at start ${env.load_average_at_start.join(" ")})`,
  );
  if (results.sections.length < SECTIONS.length) lines.push(`Sections run: ${results.sections.join(", ")}`);
  const others = env.other_programs_cpu_cores ?? {};
  lines.push(
    `Other programs' CPU use during the run, in cores (of ${env.cores}): ` +
      Object.entries(others)
        .map(([k, v]) => `${k} ${v}`)
        .join(", "),
  );
  const busy = Object.entries(others).filter(([, v]) => v !== null && v > 0.2);
  if (busy.length > 0) {
    lines.push(
      `WARNING: other programs used the CPU during ${busy.map(([k]) => k).join(", ")}; those numbers are skewed. Rerun on an idle machine.`,
    );
  }
  if (v) {
    titled("1. Verification cost per token check (us; workerd via /__bench/verify; native = cargo --release)", [
      ["alg", "ours (workerd)", "jose peer (workerd)", "ours / jose (median of rounds)", "ratio min-max", "ours native"],
      ...ALGS.map((a) => [
        a,
        v.ours[a].us ?? "n/a",
        v.peer[a].us ?? "n/a",
        v.ratios[a].median,
        `${v.ratios[a].min ?? "-"}-${v.ratios[a].max ?? "-"}`,
        n?.verify_us[a],
      ]),
    ]);
    const failed = ALGS.filter((a) => v.ours[a].us === null);
    if (failed.length > 0) {
      lines.push(`   n/a: the bench build's /__bench/verify did not iterate (${v.ours[failed[0]].error}).`);
    }
  }
  const e = results.end_to_end;
  if (e) {
    titled(`2. End to end (wrk -t${e.config.threads} -c${e.config.connections} -d${e.config.seconds}s, median of ${e.config.rounds} rounds, RS256 token, nginx origin)`, [
      ["setup", "req/s", "p50 ms", "p99 ms", "vs floor", "workerd CPU us/req"],
      ...Object.values(e.setups).map((s) => [s.label, s.rps, s.p50_ms, s.p99_ms, ratio(s.rps, e.setups.floor.rps), s.workerd_cpu_us_per_request]),
    ]);
    const d = e.derived;
    lines.push(
      `   ours/floor ${d.ours_over_floor_throughput}, ours/peer ${d.ours_over_peer_throughput}, ours/(b') ${d.ours_over_floor2_throughput}; ` +
        `added over the floor: p50 +${d.added_p50_ms_over_floor} ms, p99 +${d.added_p99_ms_over_floor} ms, ` +
        `CPU +${d.added_cpu_us_per_request_over_floor} us/request (over (b'): +${d.added_cpu_us_per_request_over_floor2}; ` +
        `no cache: +${d.nocache_added_cpu_us_per_request_over_floor}; jose peer: +${d.peer_added_cpu_us_per_request_over_floor})`,
    );
    const p = e.paired;
    lines.push(
      `   Back to back (${p.rounds.length} rounds of pass-through, floor, journal RS256, journal ES256, ${p.seconds} s each; median of each round's ratio): ` +
        `journal RS256 x${p.journal_over_floor} the floor, x${p.journal_over_passthrough} the pass-through; ` +
        `ES256 x${p.es256_journal_over_floor}, x${p.es256_journal_over_passthrough}`,
    );
  }
  const il = results.idle_latency;
  if (il) {
    lines.push(`   Without load (1 connection, ${il.ours.requests} sequential requests, node client):`);
    lines.push(
      table([
        ["setup", "p50 ms", "p99 ms"],
        ...e2eCases().map(({ key }) => [il[key].label, il[key].p50_ms, il[key].p99_ms]),
      ]),
    );
    lines.push(
      `   ours adds ${il.added_p50_ms_over_floor} ms at p50 over the store floor (without the token cache: ${il.added_p50_ms_over_floor_nocache} ms)`,
    );
  }
  const rt = results.repeat_token;
  if (rt) {
    titled("3. Repeat-token cost (us per check, workerd /__bench/verify)", [
      ["path", "us/check"],
      ["RS256 full verification", rt.rs256_full.us ?? "n/a"],
      ["RS256 through the token cache (X-Bench-Cache: 1)", rt.rs256_cached.us ?? "n/a"],
      ["HS256 through the token cache", rt.hs256_cached.us ?? "n/a"],
      ["native TokenCache::get hit", n?.cache_hit_us],
    ]);
  }
  const b = results.bundle;
  if (b) {
    titled("4. Bundle (wrangler deploy --dry-run: Total Upload)", [
      ["worker", "upload KiB", "gzip KiB", "gzip KB"],
      ["edge-revoke", b.ours.total_upload_kib, b.ours.gzip_kib, b.ours.gzip_kb],
      ["hello-world Rust", b.hello.total_upload_kib, b.hello.gzip_kib, b.hello.gzip_kb],
    ]);
    const sp = b.contributors;
    if (sp?.by_crate) {
      lines.push(`   Largest contributors to the wasm (twiggy, names kept; ${sp.wasm_bytes} bytes with the name section):`);
      lines.push(table([["crate", "bytes", "%"], ...sp.by_crate.map((c) => [c.crate, c.bytes, c.percent])]));
      lines.push(table([["item", "bytes"], ...sp.top_items.map((i) => [i.name, i.bytes])]));
    } else if (sp?.error) {
      lines.push(`   Largest contributors: not measured (${sp.error})`);
    }
  }
  const c = results.cold_start;
  if (c) {
    titled(`5. Cold start (median of ${c.ours.starts} fresh workerd processes each; first request)`, [
      ["worker", "spawn -> first response ms", "spawn -> listening ms", "listening -> first response ms"],
      ...["hello", "ours", "oursNoToken", "passthrough"].map((k) => [
        c[k].label,
        c[k].spawn_to_first_response_ms,
        c[k].spawn_to_listening_ms,
        c[k].listening_to_first_response_ms,
      ]),
      ["ratio edge-revoke (RS256) / hello", c.ratio_spawn_to_first_response, "", c.ratio_listening_to_first_response],
    ]);
  }
  const kvs = results.kv_per_request;
  if (kvs) {
    titled(`6. KV operations per request (counted by the KV service; round trips from an injected ${CONFIG.kvDelayMs} ms KV delay)`, [
      ["setup", "KV calls", "bulk gets", "single gets", "key reads", "puts", "max concurrent", "round trips"],
      ...Object.values(kvs).map((s) => [
        s.label,
        s.kv_calls_per_request,
        s.bulk_gets_per_request,
        s.gets_per_request,
        s.key_reads_per_request,
        s.puts_per_request,
        s.max_concurrent_kv_ops,
        s.round_trips,
      ]),
    ]);
  }
  const cost = results.cost;
  if (cost?.setups && Object.keys(cost.setups).length > 0) {
    titled("7. Cost per 1,000,000 checked requests (KV counts from 6, workerd CPU from 2; USD at the published Workers Paid prices beyond the included amounts)", [
      ["setup", "KV key reads", "KV calls", "workerd CPU ms", "$ requests", "$ KV reads", "$ CPU", "$ total"],
      ...Object.values(cost.setups).map((r) => [
        r.label,
        r.kv_key_reads,
        r.kv_calls,
        r.workerd_cpu_ms,
        r.usd.requests,
        r.usd.kv_reads,
        r.usd.cpu,
        r.usd_total,
      ]),
    ]);
  }
  const prof = results.cpu_profile;
  if (prof) {
    const cats = [...new Set(Object.values(prof).flatMap((p) => Object.keys(p.categories_us_per_request)))];
    titled(`8. Where the CPU goes (V8 CPU profile of the worker's isolate, ${CONFIG.profileSeconds} s of wrk; us per request, self time)`, [
      ["category", ...Object.values(prof).map((p) => p.label)],
      ...cats.map((c) => [c, ...Object.values(prof).map((p) => p.categories_us_per_request[c] ?? 0)]),
      ["all sampled (not idle)", ...Object.values(prof).map((p) => p.busy_us_per_request)],
    ]);
  }
  titled("Targets", [["target", "measured", "result"], ...results.targets.map((t) => [t.target, t.measured, verdict(t.pass)])]);
  return lines.join("\n");
}

// --------------------------------------------------------------------- main

async function main() {
  const started = Date.now();
  mkdirSync(RUN, { recursive: true });
  const want = (section) => SELECTED.includes(section);
  // Other programs' CPU use per section: a busy machine skews every number.
  const interference = {};
  let mark = cpuSnapshot();
  const runStart = mark;
  const done = (section) => {
    const now = cpuSnapshot();
    interference[section] = otherCores(mark, now);
    mark = now;
  };
  const results = {
    date: new Date().toISOString(),
    quick: QUICK,
    sections: SELECTED,
    bench_variant_dir: path.relative(ROOT, VARIANT_DIR),
    config: CONFIG,
    environment: environment(),
  };
  /** When `name` is selected: logs `title`, stores what `measure` gives as results[key]. */
  const section = async (name, title, key, measure) => {
    if (!want(name)) return;
    log(title);
    results[key] = await measure();
    done(name);
  };

  await section("native", "native floor (cargo --release)", "native", () => nativeFloor());
  await section("bundle", "bundle sizes (wrangler deploy --dry-run)", "bundle", () => ({
    ours: bundleSize("edge-revoke", path.join(BUILD, "edge-revoke")),
    hello: bundleSize("hello-rust", path.join(BUILD, "hello-rust")),
    contributors: sizeProfile(),
  }));

  const { tokens, jwks } = await makeTokens();
  const jwksFile = path.join(RUN, "jwks.json");
  writeFileSync(jwksFile, jwks);
  results.token_bytes = Object.fromEntries(ALGS.map((a) => [a, tokens[a].length]));

  const procs = {};
  const nginx = await startNginx();
  try {
    const all = setups({ jwksFile });
    for (const [name, setup] of Object.entries(all)) {
      procs[name] = await startWorkerd(configFor(name, setup), setup.port);
    }
    await sanity(all, tokens);
    mark = cpuSnapshot();
    await section("verify", "verification cost", "verification", () => verificationCost(all, tokens));
    await section("repeat", "repeat-token cost", "repeat_token", () => repeatTokenCost(all, tokens));
    await section("idle", "latency without load", "idle_latency", () => idleLatency(all, tokens));
    await section("kv", "KV operations per request", "kv_per_request", () => kvPerRequest(all, tokens));
    closeAgents();
    await section("e2e", "end to end (wrk)", "end_to_end", () => endToEnd(all, procs, tokens));
    await section("profile", "CPU profiles (V8 inspector)", "cpu_profile", () => cpuProfiles(all, tokens));
    for (const name of Object.keys(procs)) {
      await stop(procs[name]);
      delete procs[name];
    }
    mark = cpuSnapshot();
    await section("cold", "cold starts", "cold_start", () => coldStarts(all, tokens));
  } finally {
    closeAgents();
    for (const p of Object.values(procs)) await stop(p);
    await stop(nginx);
  }
  interference.whole_run = otherCores(runStart, cpuSnapshot());
  results.environment.other_programs_cpu_cores = interference;
  results.cost = costTable(results);
  results.targets = targets(results);
  results.environment.load_average_at_end = os.loadavg().map((x) => round(x, 2));
  results.duration_seconds = Math.round((Date.now() - started) / 1000);

  const text = report(results);
  console.log(text);
  mkdirSync(path.join(BENCH, "results"), { recursive: true });
  const stamp = results.date.replace(/\.\d+Z$/, "Z").replace(/:/g, "-");
  const file = path.join(BENCH, "results", `${stamp}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
  writeFileSync(path.join(BENCH, "results", "latest.txt"), text + "\n");
  log(`wrote ${path.relative(ROOT, file)} (${results.duration_seconds} s)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

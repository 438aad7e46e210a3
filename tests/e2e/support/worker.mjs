// Starts the built worker under `wrangler dev` with a generated config.
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
// E2E_WORKER_MAIN lets the harness itself be checked against another worker script.
export const BUILD_JS = process.env.E2E_WORKER_MAIN ? path.resolve(process.env.E2E_WORKER_MAIN) : path.join(ROOT, 'build', 'index.js');
export const TMP_ROOT = path.join(ROOT, 'tests', '.tmp');
const BIN = path.join(ROOT, 'node_modules', '.bin');
const WRANGLER = path.join(BIN, 'wrangler');
export const KV_BINDING = 'REVOKED_TOKENS';
export const KV_ID = '00000000000000000000000000000000';

/** Environment for wrangler children: Node 22 first on PATH, no prompts, no metrics. */
export function wranglerEnv(extra = {}) {
  return {
    ...process.env,
    PATH: `${BIN}${path.delimiter}${process.env.PATH ?? ''}`,
    CI: 'true',
    WRANGLER_SEND_METRICS: 'false',
    NO_COLOR: '1',
    ...extra,
  };
}

/** Throws a clear error if the worker has not been built. */
export function buildWorkerOnce() {
  if (!existsSync(BUILD_JS)) {
    throw new Error(`worker is not built: ${BUILD_JS} is missing (run bash scripts/build.sh first)`);
  }
  return BUILD_JS;
}

let counter = 0;
const createdDirs = [];
/**
 * A fresh unique directory under tests/.tmp/. Removed when this process exits
 * (set E2E_KEEP_TMP=1 to keep them for debugging).
 */
export function tempDir(prefix = 'run') {
  mkdirSync(TMP_ROOT, { recursive: true });
  const dir = mkdtempSync(path.join(TMP_ROOT, `${prefix}-${process.pid}-${++counter}-`));
  createdDirs.push(dir);
  return dir;
}
process.on('exit', () => {
  for (const child of live) {
    try { process.kill(-child.pid, 'SIGKILL'); } catch {}
  }
  if (process.env.E2E_KEEP_TMP) return;
  for (const dir of createdDirs) {
    try { rmSync(dir, { recursive: true, force: true }); } catch {}
  }
});

/** A free loopback TCP port (bind :0, read, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** `count` distinct free loopback TCP ports. */
export async function freePorts(count) {
  const ports = [];
  while (ports.length < count) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  return ports;
}

/** TOML basic string. JSON escapes are valid TOML escapes; DEL must be escaped too. */
export function tomlString(value) {
  return JSON.stringify(String(value)).replace(/\u007f/g, '\\u007F');
}

export function projectCompatDate() {
  const text = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const m = /^\s*compatibility_date\s*=\s*"([^"]+)"/m.exec(text);
  if (!m) throw new Error('could not read compatibility_date from wrangler.toml');
  return m[1];
}

function projectCompatFlags() {
  const text = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const m = /^\s*compatibility_flags\s*=\s*(\[[^\]]*\])/m.exec(text);
  return m ? m[1] : null;
}

/**
 * Write a wrangler.toml for tests: the project's config without [build].
 * `kv: false` leaves out the REVOKED_TOKENS binding, so every KV call the worker
 * makes fails (the fault-injection suite uses this to simulate KV being down).
 * `journal: false` leaves out the REVOCATION_JOURNAL Durable Object (the
 * project's wrangler.toml binds it), so the worker keeps revocations in KV alone;
 * `journal: 'unreachable'` binds it to the class of a worker that is not
 * running, so every call to the journal fails (the journal down).
 * @returns {string} the config path
 */
export function writeConfig(dir, { vars = {}, main = BUILD_JS, name = 'edge-revoke-test', kv = true, journal = true } = {}) {
  const lines = [
    `name = ${tomlString(name)}`,
    `main = ${tomlString(main)}`,
    `compatibility_date = ${tomlString(projectCompatDate())}`,
  ];
  const flags = projectCompatFlags();
  if (flags) lines.push(`compatibility_flags = ${flags}`);
  if (kv) lines.push('', '[[kv_namespaces]]', `binding = ${tomlString(KV_BINDING)}`, `id = ${tomlString(KV_ID)}`);
  if (journal === 'unreachable') {
    lines.push('', '[[durable_objects.bindings]]', 'name = "REVOCATION_JOURNAL"', 'class_name = "RevocationJournal"', 'script_name = "edge-revoke-journal-not-running"');
  } else if (journal) {
    lines.push('', '[[durable_objects.bindings]]', 'name = "REVOCATION_JOURNAL"', 'class_name = "RevocationJournal"');
    lines.push('', '[[migrations]]', 'tag = "v1"', 'new_sqlite_classes = ["RevocationJournal"]');
  }
  lines.push('', '[vars]');
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined || v === null) continue;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad var name ${k}`);
    lines.push(`${k} = ${tomlString(v)}`);
  }
  const file = path.join(dir, 'wrangler.toml');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** wrangler children still running; killed if the test process exits without stop(). */
const live = new Set();

function probe(port) {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/__e2e_readiness_probe', method: 'GET', timeout: 5000, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(true));
        res.on('error', () => resolve(true));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * Start `wrangler dev` on the built worker.
 * Note: the readiness probe is a GET /__e2e_readiness_probe with no token; if the
 * config lets it through to the origin it will be recorded there, so clear the origin after start.
 * With the default logLevel 'warn' the worker's own console.log lines are NOT in logs();
 * pass logLevel: 'log' (or 'info') to capture them.
 * `kv: false` starts the worker without the REVOKED_TOKENS binding, `journal: false`
 * without the revocation journal (see writeConfig).
 * @returns {Promise<{url: string, port: number, dir: string, configPath: string, persistDir: string, stop(): Promise<void>, logs(): string}>}
 */
export async function startWorker({ vars = {}, persistDir, originUrl, main, timeoutMs = 60_000, logLevel = 'warn', kv = true, journal = true, testScheduled = false } = {}) {
  if (!main) buildWorkerOnce();
  const allVars = { ...vars };
  if (originUrl !== undefined) allVars.ORIGIN_URL = originUrl;
  const dir = tempDir('worker');
  const configPath = writeConfig(dir, { vars: allVars, main: main ?? BUILD_JS, kv, journal });
  const persist = persistDir ?? path.join(dir, 'state');
  mkdirSync(persist, { recursive: true });
  const port = await freePort();
  let inspectorPort = await freePort();
  while (inspectorPort === port) inspectorPort = await freePort();

  const args = [
    'dev', '-c', configPath,
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--inspector-port', String(inspectorPort),
    '--persist-to', persist,
    '--log-level', logLevel,
    '--show-interactive-dev-session=false',
    // GET /__scheduled runs the scheduled handler (the cron trigger's).
    ...(testScheduled ? ['--test-scheduled'] : []),
  ];
  const child = spawn(WRANGLER, args, {
    cwd: dir,
    env: wranglerEnv({ WRANGLER_LOG_PATH: path.join(dir, 'wrangler-logs') }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  live.add(child);
  let output = '';
  const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
  child.stdout.on('data', (d) => { output += String(d).replace(ANSI, ''); });
  child.stderr.on('data', (d) => { output += String(d).replace(ANSI, ''); });
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      live.delete(child);
      resolve(exited);
    });
  });

  const stop = async () => {
    if (!exited) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch {}
      const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch {} }, 5000);
      await exitPromise;
      clearTimeout(timer);
    }
    // Make sure grandchildren (workerd) are gone too, and wait until the group is empty.
    try { process.kill(-child.pid, 'SIGKILL'); } catch {}
    for (let i = 0; i < 50; i++) {
      try { process.kill(-child.pid, 0); } catch { break; }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      throw new Error(`wrangler dev exited early (${JSON.stringify(exited)}) for ${configPath}\n--- output ---\n${output}`);
    }
    if (await probe(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer on port ${port} within ${timeoutMs} ms\n--- output ---\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    inspectorPort,
    dir,
    configPath,
    persistDir: persist,
    stop,
    logs: () => output,
  };
}

function run(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, ...opts }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;
        reject(err);
      } else resolve({ stdout, stderr });
    });
  });
}

/**
 * List keys in the local REVOKED_TOKENS namespace.
 * @returns {Promise<Array<{name: string, expiration?: number, metadata?: any}>>}
 */
export async function kvList({ persistDir, configPath, prefix } = {}) {
  if (!persistDir || !configPath) throw new Error('kvList needs persistDir and configPath');
  const args = ['kv', 'key', 'list', '--binding', KV_BINDING, '--local', '--persist-to', persistDir, '-c', configPath];
  if (prefix !== undefined) args.push('--prefix', prefix);
  const { stdout } = await run(WRANGLER, args, { cwd: path.dirname(configPath), env: wranglerEnv() });
  // stdout is exactly the JSON array; be lenient if anything is printed before it.
  try {
    return JSON.parse(stdout);
  } catch {
    const lines = stdout.split('\n');
    const i = lines.findIndex((l) => /^\[\s*(\{|\]|$)/.test(l));
    if (i < 0) throw new Error(`kvList: no JSON array in output:\n${stdout}`);
    return JSON.parse(lines.slice(i).join('\n'));
  }
}

#!/usr/bin/env node
// Run the worker locally in front of a demo origin:
//   1. bash scripts/setup.sh (toolchain; fast when already installed)
//   2. a demo origin on 127.0.0.1:8788 (or a free port if 8788 is taken)
//   3. wrangler dev on 127.0.0.1:8787 with the project's wrangler.toml (its [build]
//      command builds the worker), with demo ORIGIN_URL / JWT_SECRET / INVALIDATE_API_KEYS.
// Ctrl-C stops everything. PORT=NNNN overrides 8787; --skip-setup skips step 1.
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOrigin } from './lib/origin.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'node_modules', '.bin');
const PORT = Number(process.env.PORT ?? 8787);
const ORIGIN_PORT = 8788;
const DEMO_SECRET = 'dev-secret-change-me-at-least-32-bytes';
const DEMO_API_KEY = 'dev-api-key';
const env = {
  ...process.env,
  PATH: `${BIN}${path.delimiter}${process.env.PATH ?? ''}`,
  WRANGLER_SEND_METRICS: 'false',
};
const log = (msg) => console.error(`[dev] ${msg}`);

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function answers(port) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', method: 'HEAD', timeout: 3000, agent: false }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

// 1. Toolchain.
if (process.argv.includes('--skip-setup')) {
  log('skipping scripts/setup.sh (--skip-setup)');
} else {
  log('checking the toolchain (bash scripts/setup.sh)');
  const setup = spawnSync('bash', [path.join(ROOT, 'scripts', 'setup.sh')], { cwd: ROOT, env, stdio: 'inherit' });
  if (setup.status !== 0) {
    log(`scripts/setup.sh failed (exit ${setup.status ?? setup.signal})`);
    process.exit(setup.status || 1);
  }
}

if (!(await portFree(PORT))) {
  log(`port ${PORT} on 127.0.0.1 is in use; stop whatever holds it or set PORT=...`);
  process.exit(1);
}

// 2. Demo origin.
let origin;
try {
  origin = await startOrigin({ port: ORIGIN_PORT, log: true });
} catch (e) {
  if (e.code !== 'EADDRINUSE') throw e;
  origin = await startOrigin({ port: 0, log: true });
  log(`port ${ORIGIN_PORT} is taken; demo origin on ${origin.port} instead`);
}
log(`demo origin listening on ${origin.url}`);

// 3. wrangler dev (own process group so we can stop it and its workerd together).
const args = [
  'dev',
  '--ip', '127.0.0.1',
  '--port', String(PORT),
  '--var', `ORIGIN_URL:${origin.url}`,
  '--var', `JWT_SECRET:${DEMO_SECRET}`,
  '--var', `INVALIDATE_API_KEYS:${DEMO_API_KEY}`,
  '--show-interactive-dev-session=false',
];
const wrangler = spawn(path.join(BIN, 'wrangler'), args, { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'], detached: true });

let stopping = false;
let exitCode = null;
const wranglerExited = new Promise((resolve) => {
  wrangler.on('exit', (code, signal) => {
    exitCode = code ?? (signal ? 1 : 0);
    resolve();
  });
});

async function shutdown(code) {
  if (stopping) {
    try { process.kill(-wrangler.pid, 'SIGKILL'); } catch {}
    process.exit(code);
  }
  stopping = true;
  log('stopping');
  if (exitCode === null) {
    try { process.kill(-wrangler.pid, 'SIGINT'); } catch {}
    const t = setTimeout(() => { try { process.kill(-wrangler.pid, 'SIGKILL'); } catch {} }, 5000);
    await wranglerExited;
    clearTimeout(t);
  }
  try { process.kill(-wrangler.pid, 'SIGKILL'); } catch {}
  await origin.close();
  process.exit(code);
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
process.on('SIGHUP', () => shutdown(0));

wranglerExited.then(() => {
  if (!stopping) {
    log(`wrangler dev exited (code ${exitCode})`);
    shutdown(exitCode || 1);
  }
});

// Banner once the worker answers (the first build can take a while).
const deadline = Date.now() + 15 * 60 * 1000;
while (!stopping && exitCode === null && Date.now() < deadline) {
  if (await answers(PORT)) {
    const base = `http://127.0.0.1:${PORT}`;
    console.log(`
┌──────────────────────────────────────────────────────────────────────────────
│ edge-revoke is running on ${base}  →  demo origin ${origin.url}
│ JWT_SECRET=${DEMO_SECRET}   INVALIDATE_API_KEYS=${DEMO_API_KEY}
│
│ In another terminal:
│   TOKEN=$(npm run -s token -- --sub alice)
│   curl -i -H "Authorization: Bearer $TOKEN" ${base}/hello                # 200 from the origin
│   curl -i -X DELETE -H "Authorization: Bearer $TOKEN" ${base}/api/tokens  # sign out (revoke)
│   curl -i -H "Authorization: Bearer $TOKEN" ${base}/hello                # now 401
│
│ Ctrl-C to stop.
└──────────────────────────────────────────────────────────────────────────────`);
    break;
  }
  await new Promise((r) => setTimeout(r, 500));
}

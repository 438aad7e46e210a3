// Several edge locations of the built worker in one `workerd serve` process
// (scripts/lib/workerd.mjs, writeLocationsConfig): each location runs its own
// isolates of the real build, sees the one shared KV store as a location of
// Workers KV does (its own writes at once, other locations' writes after the
// propagation delay, scripts/lib/kv-locations.mjs) and has its own Cache API.
// With `journal: true` every isolate also binds the revocation journal
// (REVOCATION_JOURNAL), a SQLite Durable Object of a service of its own.
// This is how a revocation made at one location is timed until the others
// enforce it (support/propagation.mjs, tests/e2e/locations.test.mjs,
// scripts/simulate.mjs).
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { writeLocationsConfig, startWorkerdOn, stop, JOURNAL } from '../../../scripts/lib/workerd.mjs';
import { BUILD_JS, buildWorkerOnce, freePorts, projectCompatDate, tempDir } from './worker.mjs';

/** Location A with two isolates, B and C with one each. */
export const DEFAULT_LOCATIONS = [
  { name: 'a', isolates: 2 },
  { name: 'b', isolates: 1 },
  { name: 'c', isolates: 1 },
];

/** Whether the build's main module exports the RevocationJournal class. */
export function buildHasJournal(main = BUILD_JS) {
  const text = readFileSync(main, 'utf8');
  const name = JOURNAL.className;
  if (new RegExp(`export\\s+(?:class|const|let|var|function)\\s+${name}\\b`).test(text)) return true;
  // esbuild's last line: export{We as RevocationJournal,je as default}
  return [...text.matchAll(/export\s*\{([^}]*)\}/g)].some((m) =>
    m[1].split(',').some((item) => item.trim().split(/\s+as\s+/).at(-1) === name),
  );
}

/**
 * A request to an admin socket (KV store or a cache) with `X-Bench-Admin: 1`;
 * throws unless it succeeds. Answers the JSON body, or null.
 */
export async function adminCall(base, p, { method = 'GET' } = {}) {
  const r = await fetch(`${base}${p}`, { method, headers: { 'X-Bench-Admin': '1' }, signal: AbortSignal.timeout(10_000) });
  const body = await r.text();
  if (!r.ok) throw new Error(`admin ${method} ${p}: ${r.status} ${body}`);
  return r.headers.get('content-type')?.includes('json') ? JSON.parse(body) : null;
}

/**
 * Starts the locations. `locations`: [{ name, isolates }]; `vars`: the
 * worker's settings, given to every isolate (and the journal); `kvDelayMs`:
 * how long a KV write takes to reach the other locations.
 * @returns {Promise<{urls: Record<string, string[]>, kvAdmin: string, cacheAdmin(location: string): string,
 *   kvStats(): Promise<object>, config: string, stop(): Promise<void>, stderr(): string}>}
 */
export async function startLocations({ locations = DEFAULT_LOCATIONS, journal = false, vars = {}, originUrl, kvDelayMs = 0 } = {}) {
  buildWorkerOnce();
  if (journal && !buildHasJournal()) throw new Error(`journal: true, but the build exports no ${JOURNAL.className}`);
  const dir = tempDir('locations');
  const isolates = locations.reduce((n, l) => n + l.isolates, 0);
  const ports = await freePorts(isolates + locations.length + 1);
  const kvPort = ports.pop();
  const placed = locations.map((l) => ({ ...l, cachePort: ports.pop(), ports: ports.splice(0, l.isolates) }));
  const journalDir = path.join(dir, 'journal');
  if (journal) mkdirSync(journalDir);
  const config = writeLocationsConfig({
    runDir: dir,
    name: 'locations',
    worker: { kind: 'rust', dir: path.dirname(BUILD_JS) },
    locations: placed,
    bindings: { ...vars, ORIGIN_URL: originUrl },
    kvPort,
    journal,
    journalDir,
    compatibilityDate: projectCompatDate(),
  });
  const proc = await startWorkerdOn(config, [...placed.flatMap((l) => [...l.ports, l.cachePort]), kvPort]);
  const kvAdmin = `http://127.0.0.1:${kvPort}`;
  try {
    await adminCall(kvAdmin, `/propagation?ms=${kvDelayMs}`, { method: 'POST' });
  } catch (e) {
    await stop(proc);
    throw e;
  }
  const cachePorts = Object.fromEntries(placed.map((l) => [l.name, l.cachePort]));
  return {
    urls: Object.fromEntries(placed.map((l) => [l.name, l.ports.map((port) => `http://127.0.0.1:${port}`)])),
    kvAdmin,
    cacheAdmin(location) {
      if (!(location in cachePorts)) throw new Error(`no location ${location}`);
      return `http://127.0.0.1:${cachePorts[location]}`;
    },
    kvStats: () => adminCall(kvAdmin, '/stats'),
    config,
    stop: () => stop(proc),
    stderr: proc.stderr,
  };
}

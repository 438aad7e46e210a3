// How long a revocation made at one edge location takes to be enforced at the
// others, measured on a simulation: location A (two isolates), B and C (one
// each) of the built worker in one `workerd serve` process, one KV store that
// shows a location's writes to the others after --kv-delay-ms, and a recording
// stub origin (tests/e2e/support/locations.mjs). Every write kind of
// tests/e2e/support/propagation.mjs is tried --trials times, fresh users and
// tokens each, up to --concurrency trials at a time. Prints the date, the
// settings and a Markdown table: seconds from the writer's success answer
// until every isolate of each location rejects (or, for a restore, passes),
// and how many polling requests sent after the bound reached the origin.
//
// Usage: node scripts/simulate.mjs [--journal | --no-journal] [--trials N]
//   [--kv-delay-ms N] [--sync-seconds N] [--bound-ms N] [--concurrency N]
//   [--kinds token,global,...] [--json FILE]
// --journal binds the revocation journal (the build must export
// RevocationJournal); the default is to bind it when the build has it.
// The bound is REVOCATION_SYNC_SECONDS + 1 s with the journal, the KV delay
// + 3 s without. E2E_WORKER_MAIN names another build's index.js.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { WORKERD } from './lib/workerd.mjs';
import { startOrigin } from './lib/origin.mjs';
import { BUILD_JS } from '../tests/e2e/support/worker.mjs';
import { startLocations, buildHasJournal, DEFAULT_LOCATIONS } from '../tests/e2e/support/locations.mjs';
import {
  PROPAGATION_VARS, KINDS, POLL_MS, runTrials, summarize, markdownTable, kvReadsPerRequest,
} from '../tests/e2e/support/propagation.mjs';

const USAGE = 'usage: node scripts/simulate.mjs [--journal | --no-journal] [--trials N] [--kv-delay-ms N] [--sync-seconds N] [--bound-ms N] [--concurrency N] [--kinds a,b] [--json FILE]';

function parseArgs(argv) {
  const options = { trials: 10, kvDelayMs: 20_000, syncSeconds: 1, concurrency: 12, journal: undefined, boundMs: undefined, kinds: undefined, json: undefined };
  const numbers = { '--trials': 'trials', '--kv-delay-ms': 'kvDelayMs', '--sync-seconds': 'syncSeconds', '--bound-ms': 'boundMs', '--concurrency': 'concurrency' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--journal' || arg === '--no-journal') options.journal = arg === '--journal';
    else if (arg in numbers) {
      const value = Number(argv[++i]);
      if (!Number.isFinite(value) || value < 0) throw new Error(`${arg} needs a number\n${USAGE}`);
      options[numbers[arg]] = value;
    } else if (arg === '--kinds') options.kinds = String(argv[++i] ?? '').split(',');
    else if (arg === '--json') options.json = argv[++i];
    else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  return options;
}

const options = parseArgs(process.argv.slice(2));
const journal = options.journal ?? buildHasJournal();
const boundMs = options.boundMs ?? (journal ? (options.syncSeconds + 1) * 1000 : options.kvDelayMs + 3000);
const kinds = options.kinds ? options.kinds.map((id) => KINDS.find((k) => k.id === id) ?? fail(`no kind ${id}: ${KINDS.map((k) => k.id)}`)) : KINDS;
const vars = journal ? { ...PROPAGATION_VARS, REVOCATION_SYNC_SECONDS: String(options.syncSeconds) } : PROPAGATION_VARS;

function fail(message) {
  throw new Error(message);
}

const wasm = path.join(path.dirname(BUILD_JS), 'index_bg.wasm');
const buildId = createHash('sha256').update(readFileSync(wasm)).digest('hex').slice(0, 12);
const shown = Object.entries(vars)
  .filter(([name]) => !/SECRET|JWKS|KEYS|CLIENTS/.test(name))
  .map(([name, value]) => `${name}=${value}`);

console.log('# Revocation propagation between edge locations (simulation)\n');
console.log(`- Date: ${new Date().toISOString()}`);
console.log(`- Build: index_bg.wasm sha256 ${buildId}; journal ${journal ? 'bound (REVOCATION_JOURNAL)' : 'not bound'}`);
console.log(`- Runtime: ${execFileSync(WORKERD, ['--version']).toString().trim()}, node ${process.version}`);
console.log(`- Locations: ${DEFAULT_LOCATIONS.map((l) => `${l.name.toUpperCase()} (${l.isolates} isolate${l.isolates > 1 ? 's' : ''})`).join(', ')} in one workerd process`);
console.log(`- KV: a write reaches other locations after ${options.kvDelayMs} ms (its own at once); cacheTtl not modelled`);
console.log(`- Trials: ${options.trials} per kind, ${options.concurrency} at a time; each isolate polled every ${POLL_MS} ms; bound ${boundMs} ms`);
console.log(`- Settings: ${shown.join(', ')} (others at their defaults)\n`);

const started = Date.now();
const origin = await startOrigin();
let sim;
let failed = 0;
try {
  sim = await startLocations({ journal, vars, originUrl: origin.url, kvDelayMs: options.kvDelayMs });
  const names = Object.keys(sim.urls);
  const results = await runTrials(sim, origin, {
    kinds,
    trials: options.trials,
    concurrency: options.concurrency,
    boundMs,
    timeoutMs: Math.max(boundMs, options.kvDelayMs) + 10_000,
  });
  const rows = summarize(results, names);
  console.log(markdownTable(rows, names));
  console.log(`\nSeconds from the success answer at the writing location until every isolate of a location rejects the token`);
  console.log(`(passes it, for the restore); "never" = not within ${(Math.max(boundMs, options.kvDelayMs) + 10_000) / 1000} s. The last column counts`);
  console.log(`polling requests sent more than ${boundMs / 1000} s after the success answer that the origin received.`);
  const reads = await kvReadsPerRequest(sim, 'b');
  console.log(`\nKV per request at B for a token it has seen (${reads.requests} requests): ${reads.operations} operations, ${reads.bulk} bulk reads, ${reads.get} single reads, ${reads.keysRead} keys read.`);
  for (const row of rows) {
    failed += row.errors.length;
    for (const error of row.errors.slice(0, 3)) console.error(`\n${row.label}: ${error}`);
  }
  if (options.json) writeFileSync(options.json, `${JSON.stringify({ options, journal, boundMs, rows, results }, null, 2)}\n`);
} finally {
  await sim?.stop();
  await origin.close();
}
console.log(`\nWall time ${((Date.now() - started) / 1000).toFixed(0)} s.`);
if (failed) {
  console.error(`${failed} trial(s) failed`);
  process.exitCode = 1;
}

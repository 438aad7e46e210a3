// The end of an e2e run: every (route, status) pair that docs/openapi.yaml
// documents must have been seen by some test (tests/.tmp/contract-seen.tsv,
// written by support/contract.mjs), unless tests/e2e/contract-not-exercised.json
// lists it with the reason. Prints the coverage table, writes it to
// tests/.tmp/contract-coverage.md, and exits 1 on a pair nobody hit, on an
// exception a test did hit, and on an exception the document does not have.
// scripts/test.sh runs it with --reset before the e2e run (which removes the
// seen file, so a stale one cannot make this pass) and without after it.
// Run: node tests/e2e/contract-coverage.mjs [--reset]
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { documentedPairs, EXCEPTIONS_PATH, SEEN_PATH } from './support/contract.mjs';

/** The exception entries, each with its kind ('not yet exercised' or 'untestable'). */
export function loadExceptions() {
  const data = JSON.parse(readFileSync(EXCEPTIONS_PATH, 'utf8'));
  const out = [];
  for (const [key, kind] of [['notYetExercised', 'not yet exercised'], ['untestable', 'untestable']]) {
    for (const e of data[key] ?? []) {
      if (typeof e.route !== 'string' || !/^\d{3}$/.test(String(e.status)) || typeof e.reason !== 'string' || e.reason.trim() === '') {
        throw new Error(`${path.basename(EXCEPTIONS_PATH)}: ${key} entry needs route, status and a reason: ${JSON.stringify(e)}`);
      }
      out.push({ route: e.route, status: String(e.status), reason: e.reason, kind });
    }
  }
  return out;
}

const key = (route, status) => `${route}\t${status}`;

function main() {
  if (process.argv.includes('--reset')) {
    rmSync(SEEN_PATH, { force: true });
    return;
  }
  if (!existsSync(SEEN_PATH)) {
    console.error(`contract coverage: ${path.relative(process.cwd(), SEEN_PATH)} is missing: run the e2e suite first`);
    process.exit(1);
  }
  const seen = new Map();
  for (const line of readFileSync(SEEN_PATH, 'utf8').split('\n')) {
    if (line === '') continue;
    seen.set(line, (seen.get(line) ?? 0) + 1);
  }
  const documented = documentedPairs();
  const known = new Set(documented.map((p) => key(p.route, p.status)));
  const exceptions = new Map(loadExceptions().map((e) => [key(e.route, e.status), e]));

  const failures = [];
  const rows = [];
  for (const { route, status } of documented) {
    const k = key(route, status);
    const hits = seen.get(k) ?? 0;
    const exception = exceptions.get(k);
    let note = '';
    if (exception) {
      note = `${exception.kind}: ${exception.reason}`;
      if (hits > 0) failures.push(`${route} ${status} is listed as ${exception.kind}, but ${hits} response(s) exercised it: remove it from ${path.basename(EXCEPTIONS_PATH)}`);
    } else if (hits === 0) {
      note = 'NOT EXERCISED';
      failures.push(`${route} ${status} is documented, but no test exercised it: add a test, or list it in ${path.basename(EXCEPTIONS_PATH)} with the reason`);
    }
    rows.push([route, status, String(hits), note]);
  }
  for (const k of exceptions.keys()) {
    if (!known.has(k)) failures.push(`${k.replace('\t', ' ')} is in ${path.basename(EXCEPTIONS_PATH)} but not in docs/openapi.yaml`);
  }
  for (const k of seen.keys()) {
    if (!known.has(k)) failures.push(`${k.replace('\t', ' ')} was recorded but is not documented (stale ${path.basename(SEEN_PATH)}?)`);
  }

  const table = [
    '| route | status | responses | note |',
    '|---|---|---|---|',
    ...rows.map((r) => `| \`${r[0]}\` | ${r[1]} | ${r[2]} | ${r[3]} |`),
  ].join('\n');
  writeFileSync(path.join(path.dirname(SEEN_PATH), 'contract-coverage.md'), `${table}\n`);
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log('contract coverage (docs/openapi.yaml): route, status, responses seen');
  for (const [route, status, hits, note] of rows) console.log(`  ${route.padEnd(width)}  ${status}  ${hits.padStart(4)}  ${note}`);
  const exercised = rows.filter((r) => r[2] !== '0').length;
  console.log(`contract coverage: ${exercised} of ${rows.length} documented pairs exercised, ${exceptions.size} listed as not exercised`);
  if (failures.length) {
    console.error(`contract coverage failed:\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();

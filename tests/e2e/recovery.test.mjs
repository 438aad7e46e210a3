// A panic does not take the worker down: the instance that panicked is
// replaced, and the next request is answered as if nothing had happened.
//
// The worker is built never to panic, so the bench variant of the build
// (`bash scripts/build.sh --bench`, which scripts/test.sh runs) serves
// GET /__bench/panic, which panics on purpose. Two panic hooks run in turn
// (src/lib.rs): the `worker` crate's, which marks the instance so that the
// JS shim starts a fresh one, and console_error_panic_hook's log line.
// Run: node --test --test-concurrency=1 tests/e2e/recovery.test.mjs
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';

import { ROOT } from './support/worker.mjs';
import { useWorker } from './support/setup.mjs';
import { mint, JWT_SECRET, ISSUER, AUDIENCE } from './support/keys.mjs';
import { call, assertProblem } from './support/http.mjs';
import { waitForLog } from './support/logs.mjs';

const BENCH_BUILD = path.join(ROOT, 'bench', '.build', 'edge-revoke-bench', 'index.js');
if (!existsSync(BENCH_BUILD)) {
  throw new Error(`the bench variant is not built: ${BENCH_BUILD} is missing (run bash scripts/build.sh --bench)`);
}

describe('after a panic (bench variant build)', () => {
  const ctx = useWorker(
    { JWT_SECRET, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE },
    { main: BENCH_BUILD, logLevel: 'log' },
  );

  it('the panicking request fails, and every later request is answered correctly', async () => {
    const token = await mint({ alg: 'HS256', sub: 'recovery-user' });
    // Warm: the instance holds state (settings, the token cache).
    assert.equal((await call(ctx.base, '/before', { token })).status, 200);

    // Plain fetch: the runtime's own 500 for a thrown exception is not a
    // route of the API contract.
    const panicked = await fetch(`${ctx.base}/__bench/panic`, { signal: AbortSignal.timeout(15_000) });
    assert.equal(panicked.status, 500, `the panicking request: ${panicked.status}`);
    await panicked.arrayBuffer();

    // The next requests: a good token passes to the origin, a bad one gets
    // the worker's own 401, and a revocation still works end to end.
    const after = await call(ctx.base, '/after', { token });
    assert.equal(after.status, 200, `after the panic: ${after.status} ${after.text}`);
    assert.deepEqual(
      ctx.origin.requests.map((r) => r.url),
      ['/before', '/after'],
      'nothing else reached the origin',
    );
    assertProblem(await call(ctx.base, '/after', { token: 'not-a-token' }), 401);
    assert.equal((await call(ctx.base, '/api/tokens', { method: 'DELETE', token })).status, 204);
    assertProblem(await call(ctx.base, '/after', { token }), 401);

    // Both hooks ran: the worker crate's (marks the instance for a fresh
    // start) and console_error_panic_hook's (the message and where).
    const logs = await waitForLog(ctx.worker, /panicked at .*src[\\/]bench\.rs/s);
    assert.match(logs, /Critical/, logs.slice(-2000));
    assert.match(logs, /Rust panic: .*GET \/__bench\/panic/s, 'the worker crate hook');
    assert.match(logs, /panicked at .*src[\\/]bench\.rs/s, 'console_error_panic_hook');
  });
});

// The origin and worker of one describe block: the hooks every suite needs.
import { before, after, beforeEach } from 'node:test';

import { startOrigin } from '../../../scripts/lib/origin.mjs';
import { startWorker } from './worker.mjs';

/**
 * Registers hooks on the enclosing describe block: before its first test, a
 * recording stub origin and the built worker under `wrangler dev` in front of
 * it; before each test, the origin's record is cleared; after the block, both
 * are stopped.
 * `vars` is the worker's vars, or an (async) function of the ctx that returns
 * them (ctx.origin is up by then); vars.ORIGIN_URL, when set, wins over the
 * stub's URL. `options` go to startWorker (logLevel, kv, ...).
 * @returns {{origin?: object, worker?: object, base?: string}} filled in before the first test
 */
export function useWorker(vars, options = {}) {
  const ctx = {};
  before(async () => {
    ctx.origin = await startOrigin();
    const v = typeof vars === 'function' ? await vars(ctx) : vars;
    ctx.worker = await startWorker({ ...options, vars: v, originUrl: v.ORIGIN_URL ?? ctx.origin.url });
    ctx.base = ctx.worker.url;
  }, { timeout: 90_000 });
  after(async () => {
    await ctx.worker?.stop();
    await ctx.origin?.close();
  });
  beforeEach(() => ctx.origin?.clear());
  return ctx;
}

// The worker's JSON log lines, read from a `wrangler dev` started with
// logLevel 'log' (see worker.mjs startWorker).

/** Parsed JSON log lines (those with a `decision`) of a worker. */
export function logLines(worker) {
  const out = [];
  for (const line of worker.logs().split('\n')) {
    const i = line.indexOf('{"');
    if (i < 0) continue;
    try {
      const obj = JSON.parse(line.slice(i));
      if (obj && typeof obj === 'object' && 'decision' in obj) out.push(obj);
    } catch {}
  }
  return out;
}

/** Waits (≤ 5 s) until at least `count` log lines match `pred`; returns them. */
export async function waitForLines(worker, pred, count = 1) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = logLines(worker).filter(pred);
    if (lines.length >= count || Date.now() > deadline) return lines;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Waits (≤ `ms`) until the worker's output matches `pattern` (wrangler
 * passes the runtime's output on with a lag); returns the output then.
 */
export async function waitForLog(worker, pattern, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!pattern.test(worker.logs()) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return worker.logs();
}

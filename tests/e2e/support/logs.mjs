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

/**
 * Reads `read()` every 100 ms until `done` holds for what it read or `ms`
 * have passed; returns the last reading.
 */
async function poll(read, done, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits (≤ 5 s) until at least `count` log lines match `pred`; returns them. */
export function waitForLines(worker, pred, count = 1) {
  return poll(() => logLines(worker).filter(pred), (lines) => lines.length >= count, 5000);
}

/**
 * Waits (≤ `ms`) until the worker's output matches `pattern` (wrangler
 * passes the runtime's output on with a lag); returns the output then.
 */
export function waitForLog(worker, pattern, ms = 10_000) {
  return poll(() => worker.logs(), (text) => pattern.test(text), ms);
}

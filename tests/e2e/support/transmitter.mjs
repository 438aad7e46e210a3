// A Shared Signals poll transmitter (RFC 8936) on loopback, for the poll
// receiver's tests: SETs wait, in order, until a poll acknowledges them (`ack`)
// or reports them (`setErrs`); each poll answers at most `maxEvents` of them
// with `moreAvailable`. Every request is recorded, and any one of them (by
// its index) can be made to fail.
import http from 'node:http';

/**
 * @param {{token: string}} o the bearer token polls must carry (401 otherwise)
 * @returns {Promise<{url: string, add(jti: string, set: string): void, pending: Map<string, string>,
 *   requests: object[], acked: string[], errs: object, failAt(index: number): void, close(): Promise<void>}>}
 */
export async function startTransmitter({ token }) {
  const pending = new Map();
  const requests = [];
  const acked = [];
  const errs = {};
  /** Indices of the requests that answer 503. */
  const failing = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const send = (status, body) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) });
        res.end(text);
      };
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = null;
      }
      requests.push({ method: req.method, url: req.url, authorization: req.headers.authorization, contentType: req.headers['content-type'], body });
      if (req.headers.authorization !== `Bearer ${token}`) return send(401, { err: 'authentication_failed' });
      if (failing.has(requests.length - 1)) return send(503, { err: 'unavailable' });
      if (body === null || typeof body !== 'object') return send(400, { err: 'invalid_request' });
      for (const jti of body.ack ?? []) {
        pending.delete(jti);
        acked.push(jti);
      }
      for (const [jti, err] of Object.entries(body.setErrs ?? {})) {
        pending.delete(jti);
        errs[jti] = err;
      }
      const max = body.maxEvents ?? Infinity;
      const sets = {};
      for (const [jti, set] of pending) {
        if (Object.keys(sets).length >= max) break;
        sets[jti] = set;
      }
      send(200, { sets, moreAvailable: pending.size > Object.keys(sets).length });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/poll`,
    pending,
    requests,
    acked,
    errs,
    add: (jti, set) => pending.set(jti, set),
    failAt: (index) => failing.add(index),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

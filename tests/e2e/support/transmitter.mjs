// A Shared Signals poll transmitter (RFC 8936) on loopback, for the poll
// receiver's tests: SETs wait, in order, until a poll acknowledges them (`ack`)
// or reports them (`setErrs`); each poll answers at most `maxEvents` of them
// with `moreAvailable`. Every request is recorded, and any one of them (by
// its index) can be made to fail, to stall in its body, or to answer a body
// of a given size.
import http from 'node:http';

/**
 * @param {{token: string}} o the bearer token polls must carry (401 otherwise)
 * @returns {Promise<{url: string, add(jti: string, set: string): void, pending: Map<string, string>,
 *   requests: object[], acked: string[], errs: object, failAt(index: number): void,
 *   stallAt(index: number): void, padAt(index: number, bytes: number): void, close(): Promise<void>}>}
 */
export async function startTransmitter({ token }) {
  const pending = new Map();
  const requests = [];
  const acked = [];
  const errs = {};
  /** Indices of the requests that answer 503. */
  const failing = new Set();
  /** Indices of the requests whose answer sends its headers and part of its body, then nothing. */
  const stalling = new Set();
  /** Sizes of the answers padded to that many bytes (valid JSON, no SETs), by index. */
  const padded = new Map();
  /** Answers left open by a stall, ended on close. */
  const open = new Set();
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
      const index = requests.length - 1;
      if (failing.has(index)) return send(503, { err: 'unavailable' });
      if (stalling.has(index)) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('{"sets":{');
        open.add(res);
        return undefined;
      }
      if (padded.has(index)) {
        const text = '{"sets":{}}' + ' '.repeat(padded.get(index) - 11);
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(text.length) });
        return res.end(text);
      }
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
    stallAt: (index) => stalling.add(index),
    padAt: (index, bytes) => padded.set(index, bytes),
    close: () => {
      for (const res of open) res.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

// A stub origin server on loopback, recording every request exactly as
// received: the origin of the e2e tests, the soak and `npm run dev`.
import http from 'node:http';
import { createHash } from 'node:crypto';

/** 1 MiB deterministic body for /__big. */
export const BIG_BODY = (() => {
  const out = Buffer.alloc(1024 * 1024);
  let block = Buffer.alloc(0);
  let counter = 0;
  for (let off = 0; off < out.length; off += block.length) {
    block = createHash('sha256').update(`big-${counter++}`).digest();
    block.copy(out, off);
  }
  return out;
})();

/**
 * Start the stub origin on 127.0.0.1 (port 0 unless given).
 * Special paths: /__status/NNN answers NNN with body "status NNN"; /__redirect
 * answers 302; /__big answers BIG_BODY; /__hang records the request and never
 * answers (until close()); /__reset records the request and drops the
 * connection without a response. Anything else answers 200 JSON.
 * @returns {Promise<{url: string, port: number, requests: object[], clear(): void, close(): Promise<void>}>}
 */
export async function startOrigin({ port = 0, host = '127.0.0.1', log = false } = {}) {
  const requests = [];
  const sockets = new Set();
  /** Responses held open by /__hang. */
  const hanging = new Set();

  const server = http.createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const record = {
        method: req.method,
        url: req.url,
        rawHeaders: req.rawHeaders.slice(),
        headers: { ...req.headers },
        body,
      };
      requests.push(record);
      if (log) console.log(`[origin] ${req.method} ${req.url} (${body.length} bytes)`);

      const path = req.url.split('?')[0];
      if (path === '/__hang') {
        // Accept the request and never answer. close() destroys the socket.
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      if (path === '/__reset') {
        // Drop the connection without any response: a TCP RST where the
        // platform supports it, otherwise a plain close.
        if (typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
        else req.socket.destroy();
        return;
      }
      if (path === '/__redirect') {
        res.writeHead(302, { Location: '/elsewhere', 'Content-Length': '0' });
        res.end();
        return;
      }
      const m = /^\/__status\/(\d{3})$/.exec(path);
      if (m) {
        const status = Number(m[1]);
        // 1xx/204/304 must not carry a body.
        const noBody = status < 200 || status === 204 || status === 304;
        const text = noBody ? '' : `status ${status}`;
        res.writeHead(status, { 'Content-Type': 'text/plain', ...(noBody ? {} : { 'Content-Length': String(Buffer.byteLength(text)) }) });
        res.end(text);
        return;
      }
      if (path === '/__big') {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(BIG_BODY.length) });
        res.end(req.method === 'HEAD' ? undefined : BIG_BODY);
        return;
      }
      const json = JSON.stringify({ ok: true, method: req.method, path });
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Content-Length': String(Buffer.byteLength(json)),
        'x-origin': 'stub',
      });
      res.end(req.method === 'HEAD' ? undefined : json);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // Large request headers (the long-header tests) must not be refused by node.
  server.maxHeadersCount = 0;

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = server.address().port;
  return {
    url: `http://${host}:${actualPort}`,
    port: actualPort,
    requests,
    clear() {
      requests.length = 0;
    },
    /** How many /__hang requests are currently held open. */
    get hanging() {
      return hanging.size;
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

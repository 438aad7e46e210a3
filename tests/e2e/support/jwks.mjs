// A stub remote key set (JWT_JWKS_URL) on 127.0.0.1 for the e2e tests: serves
// whatever key set it currently holds, counts its hits, and can be stopped and
// started again on the same port.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';

/** A fresh RSA key pair with a kid, in the shape keys.mjs `mint({ key })` takes. */
export function rsaKey(kid) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, publicKey };
}

/** The public JWK of a key from rsaKey() (no "alg", like keys.mjs). */
export function publicJwk({ kid, publicKey }) {
  return { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig' };
}

/** A JWKS document for the given keys. */
export function jwksOf(...keys) {
  return { keys: keys.map(publicJwk) };
}

/**
 * Start the stub. `hits` counts every request it answered (any path);
 * `requests` records method and url of each.
 * @param {object} [o]
 * @param {object} [o.jwks] initial document (default: empty key set)
 * @param {number} [o.port] default 0 (any free port)
 */
export async function startJwksServer({ jwks = { keys: [] }, port = 0 } = {}) {
  let doc = jwks;
  let status = 200;
  const requests = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, headers: { ...req.headers } });
      const body = JSON.stringify(doc);
      res.writeHead(status, {
        'Content-Type': 'application/json',
        'Content-Length': String(Buffer.byteLength(body)),
        'Cache-Control': 'no-store',
      });
      res.end(body);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  let listening = false;
  const listen = (p) =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        listening = true;
        resolve(server.address().port);
      });
    });
  const actualPort = await listen(port);

  const stop = () =>
    new Promise((resolve) => {
      if (!listening) return resolve();
      listening = false;
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });

  return {
    url: `http://127.0.0.1:${actualPort}/.well-known/jwks.json`,
    port: actualPort,
    requests,
    get hits() {
      return requests.length;
    },
    /** Replace the served document. */
    setJwks(next) {
      doc = next;
    },
    /** Answer with this status from now on (the body stays the key set). */
    setStatus(code) {
      status = code;
    },
    /** Stop listening (connections are refused until start()). */
    stop,
    /** Listen again on the same port. */
    async start() {
      if (!listening) await listen(actualPort);
    },
    close: stop,
  };
}

// The two ways every e2e suite talks to a worker: `call` (fetch) and `rawCall`
// (node:http, for exact request lines and header lines). Both never follow
// redirects, read the whole body, and give up after `timeoutMs`. Every
// response is checked against docs/openapi.yaml (support/contract.mjs).
import http from 'node:http';

import { checkResponse } from './contract.mjs';

export { assertProblem } from './problem.mjs';

/** How long a request may take before it fails, unless the caller says otherwise. */
export const REQUEST_TIMEOUT_MS = 15_000;

/**
 * fetch `base + path`.
 * @param {object} [o]
 * @param {string} [o.method='GET']
 * @param {Record<string, string>} [o.headers] request headers
 * @param {*} [o.body] request body (anything fetch takes)
 * @param {string} [o.token] sent as `Authorization: Bearer <token>` (over any in `headers`)
 * @param {number} [o.timeoutMs]
 * @returns {Promise<{status: number, headers: Headers, buf: Buffer, text: string, elapsedMs: number}>}
 *   `elapsedMs` runs from sending the request to the end of the body.
 */
export async function call(base, path, { method = 'GET', headers = {}, body, token, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
  const h = { ...headers };
  if (token !== undefined) h.Authorization = `Bearer ${token}`;
  const started = Date.now();
  let r;
  try {
    const res = await fetch(base + path, { method, headers: h, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    const buf = Buffer.from(await res.arrayBuffer());
    r = { status: res.status, headers: res.headers, buf, text: buf.toString('utf8'), elapsedMs: Date.now() - started };
  } catch (e) {
    if (e.name === 'TimeoutError') throw new Error(`${method} ${path}: no answer within ${timeoutMs} ms`, { cause: e });
    throw e;
  }
  checkResponse({ method, path, requestHeaders: h, status: r.status, headers: r.headers, body: r.buf });
  return r;
}

/**
 * node:http request with exact control over the request line and the header
 * lines. `headers` is an array of [name, value] pairs, sent in that order
 * (duplicates allowed); a Host line is put first unless one is given. Values
 * are written as latin1, one byte per char: to send UTF-8, pass the value
 * through `wire()` first (fetch refuses non-ASCII header values).
 * The response's `headers` is node's object (lower-case names).
 * @returns {Promise<{status: number, headers: object, buf: Buffer, text: string}>}
 */
export function rawCall(base, path, { method = 'GET', headers = [], body, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
  const u = new URL(base);
  // With an array of header lines node adds no Host header; wrangler answers 400 without one.
  const flat = headers.some(([k]) => k.toLowerCase() === 'host') ? [] : ['Host', u.host];
  for (const [k, v] of headers) flat.push(k, v);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method, path, headers: flat, agent: false, timeout: timeoutMs },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          try {
            checkResponse({ method, path, requestHeaders: headers, status: res.statusCode, headers: res.headers, body: buf });
          } catch (e) {
            reject(e);
            return;
          }
          resolve({ status: res.statusCode, headers: res.headers, buf, text: buf.toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A JS string as UTF-8 bytes on the wire (node writes header strings as latin1). */
export const wire = (s) => Buffer.from(s, 'utf8').toString('latin1');

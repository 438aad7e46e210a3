// The problem+json contract (RFC 9457), shared by the end-to-end suites.
import assert from 'node:assert/strict';

/** Content type of a response, from fetch `Headers` or node's header object. */
function contentType(headers) {
  const raw = typeof headers.get === 'function' ? headers.get('content-type') : headers['content-type'];
  return String(raw ?? '');
}

/**
 * Assert an RFC 9457 problem response `r` ({ status, headers, text }) with
 * `status`; `json: true` expects `application/json` (the client asked for it).
 * Returns the parsed body.
 */
export function assertProblem(r, status, { json = false } = {}) {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${r.text}`);
  const type = contentType(r.headers);
  const media = type.split(';')[0].trim().toLowerCase();
  assert.equal(media, json ? 'application/json' : 'application/problem+json', `content-type: ${type} body: ${r.text}`);
  let body;
  assert.doesNotThrow(() => { body = JSON.parse(r.text); }, `body is not JSON: ${r.text}`);
  assert.equal(typeof body.type, 'string', 'problem.type');
  assert.equal(typeof body.title, 'string', 'problem.title');
  assert.equal(body.status, status, 'problem.status');
  assert.equal(typeof body.detail, 'string', 'problem.detail');
  return body;
}

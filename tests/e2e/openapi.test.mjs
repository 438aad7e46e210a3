// The contract document itself, docs/openapi.yaml, without a worker: every
// route of the README's Routes tables is in it, the coverage exceptions name
// pairs it documents, and the response check (support/contract.mjs) refuses
// what the document does not describe.
// Run: node --test tests/e2e/openapi.test.mjs
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { contract, documentedPairs, judge, classify, PROXY } from './support/contract.mjs';
import { loadExceptions } from './contract-coverage.mjs';
import { ROOT } from './support/worker.mjs';

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const METHOD = /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$/;

/** The text of `## Routes` up to the next `## ` heading. */
function routesSection() {
  const start = README.indexOf('\n## Routes\n');
  assert.ok(start >= 0, 'README.md has a "## Routes" section');
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

/** Table cells of a Markdown row, `\|` kept inside a cell. */
const cells = (line) => line.replace(/^\|/, '').replace(/\|\s*$/, '').split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
const codeSpans = (text) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

/**
 * The README's routes: one entry per method and path of each table row's
 * first cell, with the statuses its other cells name. A `GET` span followed
 * by `HEAD /path` names both methods on that path.
 */
function readmeRoutes() {
  const out = [];
  for (const line of routesSection().split('\n')) {
    if (!line.startsWith('|') || /^\|\s*-/.test(line)) continue;
    const [first, ...rest] = cells(line);
    if (first === 'Request') continue;
    const statuses = new Set(rest.flatMap((c) => codeSpans(c)).map((s) => /^(\d{3})\b/.exec(s)?.[1]).filter(Boolean));
    const spans = codeSpans(first);
    let pending = [];
    for (const span of spans) {
      if (METHOD.test(span)) {
        pending.push(span);
        continue;
      }
      const m = /^([A-Z]+) (\/\S*)$/.exec(span);
      if (m) {
        for (const method of [...pending, m[1]]) out.push({ row: first, method, target: m[2], statuses });
        pending = [];
      }
    }
    for (const method of pending) out.push({ row: first, method, target: null, spans, statuses });
  }
  return out;
}

/** `/api/tokens[?scope=a|b]` → path and query parameters ({name, values|placeholder}). */
function splitTarget(target) {
  const m = /^([^?[]*)(?:\[\?(.*)\]|\?(.*))?$/.exec(target);
  const query = m[2] ?? m[3] ?? '';
  const params = query === '' ? [] : query.split('&').map((part) => {
    const [name, value = ''] = part.split('=');
    return /^[A-Z]$/.test(value) ? { name, placeholder: value } : { name, values: value.split('|') };
  });
  return { path: m[1], params };
}

/** The document's path template that a README path names (`T` or `{x}` for a parameter). */
function documentedPath(readmePath) {
  const { doc } = contract();
  const segs = readmePath.split('/');
  return Object.keys(doc.paths).find((template) => {
    const t = template.split('/');
    return t.length === segs.length && t.every((s, i) => (/^\{.+\}$/.test(s) ? /^(\{.+\}|[A-Z])$/.test(segs[i]) : s === segs[i]));
  });
}

describe('docs/openapi.yaml and the README', () => {
  const routes = readmeRoutes();

  it('the README Routes tables are read', () => {
    assert.ok(routes.length >= 12, `only ${routes.length} routes read from the README`);
  });

  it('every route of the README is in the document, with its query parameters and statuses', () => {
    const { doc, deref } = contract();
    const missing = [];
    for (const r of routes) {
      if (r.target === null) {
        // A rule rather than a path (the CORS preflight): the document's description states it.
        for (const span of r.spans.filter((s) => !METHOD.test(s))) {
          if (!doc.info.description.includes(span)) missing.push(`${r.method} with ${span}: not in info.description`);
        }
        continue;
      }
      const { path: p, params } = splitTarget(r.target);
      const template = documentedPath(p);
      const op = template && doc.paths[template][r.method.toLowerCase()];
      if (!op) {
        missing.push(`${r.method} ${r.target}: no such operation`);
        continue;
      }
      const declared = [...(doc.paths[template].parameters ?? []), ...(op.parameters ?? [])].map(deref).filter((q) => q.in === 'query');
      for (const param of params) {
        const q = declared.find((d) => d.name === param.name);
        if (!q) {
          missing.push(`${r.method} ${template}: no query parameter ${param.name}`);
          continue;
        }
        for (const v of param.values ?? []) {
          if (!q.schema?.enum?.includes(v)) missing.push(`${r.method} ${template}: ${param.name}=${v} is not in its enum`);
        }
      }
      for (const status of r.statuses) {
        if (!(status in op.responses)) missing.push(`${r.method} ${template}: status ${status} (README row "${r.row}") is not documented`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it('the coverage exceptions name documented pairs, each with a reason', () => {
    const known = new Set(documentedPairs().map((p) => `${p.route} ${p.status}`));
    const unknown = loadExceptions().filter((e) => !known.has(`${e.route} ${e.status}`));
    assert.deepEqual(unknown, []);
  });
});

describe('the response check refuses what the document does not describe', () => {
  const problem = (type, title, status, detail) => Buffer.from(JSON.stringify({ type: `urn:edge-revoke:problem:${type}`, title, status, detail }));
  const unauthorized = problem('missing-token', 'Authentication required', 401, 'Send a bearer token in the Authorization header.');
  const problemHeaders = (extra = {}) => ({ 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...extra });
  const empty = Buffer.alloc(0);

  it('accepts a documented answer and names its route', () => {
    const v = judge({ method: 'GET', path: '/hello', status: 401, headers: problemHeaders({ 'www-authenticate': 'Bearer realm="api"' }), body: unauthorized });
    assert.deepEqual(v, { route: PROXY, status: 401, problems: [] });
    const s = judge({ method: 'DELETE', path: '/api/tokens?scope=global', status: 204, headers: {}, body: empty });
    assert.deepEqual(s, { route: 'DELETE /api/tokens', status: 204, problems: [], variant: 'DELETE /api/tokens?scope=global' });
    const other = judge({ method: 'DELETE', path: '/api/tokens?scope=all', status: 400, headers: problemHeaders(), body: problem('bad-request', 'Malformed request', 400, 'The request is not a valid revocation request.') });
    assert.equal(other.variant, 'DELETE /api/tokens?scope=(other)');
    assert.deepEqual(other.problems, []);
  });

  it('leaves the origin answers alone, on the proxy path and on forwarding routes', () => {
    const stub = { 'content-type': 'application/json', 'x-origin': 'stub' };
    assert.equal(judge({ method: 'GET', path: '/hello', status: 200, headers: stub, body: Buffer.from('{}') }).route, null);
    assert.equal(judge({ method: 'GET', path: '/__status/503', status: 503, headers: { 'content-type': 'text/plain' }, body: Buffer.from('status 503') }).route, null);
    assert.equal(judge({ method: 'GET', path: '/v2.0/tokens/abc', status: 200, headers: stub, body: Buffer.from('{}') }).route, null);
    // Unconfigured, an identity provider route is the proxy path.
    assert.deepEqual(judge({ method: 'POST', path: '/oidc/backchannel-logout', status: 200, headers: stub, body: Buffer.from('{}') }).problems, []);
    const refused = judge({ method: 'POST', path: '/ssf/events', status: 401, headers: problemHeaders({ 'www-authenticate': 'Bearer realm="api"' }), body: unauthorized });
    assert.deepEqual(refused, { route: PROXY, status: 401, problems: [] });
  });

  const refusals = [
    ['a 401 without WWW-Authenticate', { method: 'GET', path: '/hello', status: 401, headers: problemHeaders(), body: unauthorized }, /WWW-Authenticate is missing/],
    ['a 503 without Retry-After', { method: 'DELETE', path: '/api/tokens', status: 503, headers: problemHeaders(), body: problem('unavailable', 'Temporarily unavailable', 503, 'The token could not be checked. Retry later.') }, /Retry-After is missing/],
    ['a JSON answer without Cache-Control', { method: 'GET', path: '/hello', status: 401, headers: { 'content-type': 'application/problem+json', 'www-authenticate': 'Bearer realm="api"' }, body: unauthorized }, /Cache-Control is missing/],
    ['an undocumented status on a route', { method: 'DELETE', path: '/api/tokens', status: 418, headers: problemHeaders(), body: unauthorized }, /status 418 is not documented/],
    ['an undocumented status on the proxy path', { method: 'GET', path: '/hello', status: 403, headers: problemHeaders(), body: problem('forbidden', 'Admin role required', 403, 'Revoking another token needs an admin role.') }, /status 403 is not documented/],
    ['an origin answer on a route that never forwards', { method: 'DELETE', path: '/api/tokens', status: 200, headers: { 'content-type': 'application/json', 'x-origin': 'stub' }, body: Buffer.from('{}') }, /never forwarded/],
    ['a body that is not the exact success body', { method: 'POST', path: '/token-service/client/server/invalidate/token', status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body: Buffer.from('{"resCode":200,"resDesc":"SUCCESS"}') }, /body:/],
    ['a problem with an extra member', { method: 'GET', path: '/hello', status: 401, headers: problemHeaders({ 'www-authenticate': 'Bearer realm="api"' }), body: Buffer.from(JSON.stringify({ ...JSON.parse(unauthorized), extra: 1 })) }, /body:/],
    ['a problem whose status is not the answer\'s', { method: 'GET', path: '/hello', status: 401, headers: problemHeaders({ 'www-authenticate': 'Bearer realm="api"' }), body: problem('missing-token', 'Authentication required', 400, 'Send a bearer token in the Authorization header.') }, /body:/],
    ['problem+json when the client asked for application/json', { method: 'GET', path: '/hello', requestHeaders: { Accept: 'application/json' }, status: 401, headers: problemHeaders({ 'www-authenticate': 'Bearer realm="api"' }), body: unauthorized }, /for a request with Accept/],
    ['a body on a 204', { method: 'DELETE', path: '/api/revocations/j1', status: 204, headers: { 'content-type': 'text/plain' }, body: Buffer.from('done') }, /a body where none is documented/],
    ['an OAuth error in the problem shape', { method: 'POST', path: '/oauth/revoke', status: 401, headers: problemHeaders({ 'www-authenticate': 'Basic realm="api"' }), body: unauthorized }, /content-type/],
    ['an RFC 8935 error code RFC 8935 does not have', { method: 'POST', path: '/ssf/events', status: 400, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body: Buffer.from('{"err":"nope","description":"x"}') }, /body:/],
  ];
  for (const [name, response, why] of refusals) {
    it(`refuses ${name}`, () => {
      const v = judge(response);
      assert.ok(v.problems.length > 0, `accepted: ${JSON.stringify(v)}`);
      assert.match(v.problems.join('\n'), why);
    });
  }

  it('classifies requests as core/src/routes.rs does', () => {
    const route = (m, p) => classify(m, p)?.route ?? null;
    assert.equal(route('DELETE', '/api/tokens?scope=others'), 'DELETE /api/tokens');
    assert.equal(route('DELETE', '/v2.0/tokens/a%20b?tokenId=a%20b'), 'DELETE /v2.0/tokens/{tokenId}');
    assert.equal(route('DELETE', '/v2.0/tokens/%zz'), 'DELETE /v2.0/tokens/{tokenId}', 'an undecodable target is a 400 of the route');
    assert.equal(route('HEAD', '/v2.0/tokens/abc'), 'HEAD /v2.0/tokens/{tokenId}');
    for (const [m, p] of [
      ['GET', '/v2.0/tokens/%zz'],
      ['POST', '/v2.0/tokens'],
      ['DELETE', '/v2.0/tokens/a/b'],
      ['DELETE', '/api/users//tokens'],
      ['GET', '/api/users/alice/tokens'],
      ['OPTIONS', '/api/tokens'],
      ['DELETE', '/api/tokens.json'],
      ['DELETE', '/api/%2Ftokens'],
    ]) {
      assert.equal(route(m, p), null, `${m} ${p} is the origin's`);
    }
    // Every spelling of a route is that route (README, Routes).
    for (const p of ['/api/tokens/', '//api//tokens', '/API/TOKENS', '/%61pi/tokens', '/api/tokens;x=1', '/x/../api/./tokens']) {
      assert.equal(route('DELETE', p), 'DELETE /api/tokens', `DELETE ${p}`);
    }
    assert.equal(route('GET', '//V2.0/Tokens/abc/'), 'GET /v2.0/tokens/{tokenId}');
  });
});

// The wire contract, docs/openapi.yaml, checked on every response a worker
// gives the e2e suites. `call` and `rawCall` (http.mjs) pass each response to
// `checkResponse`, which throws when the document does not describe it, and
// records the (route, status) pair in tests/.tmp/contract-seen.tsv for the
// coverage check that ends the run (tests/e2e/contract-coverage.mjs).
//
// Which answers are the worker's own: a request to one of the document's
// paths, with one of its methods, is that route's (as core/src/routes.rs
// classifies it); every other request is the proxy path, where the answer is
// the origin's when the stub origin (scripts/lib/origin.mjs) visibly made it,
// and otherwise must be one of the shared answers in `x-edge-revoke-proxy`.
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DOC_PATH = path.join(ROOT, 'docs', 'openapi.yaml');
/** Every (route, status) validated, one `route<TAB>status` line each, appended by every test process. */
export const SEEN_PATH = path.join(ROOT, 'tests', '.tmp', 'contract-seen.tsv');
/** The pairs no test exercises yet, or can: with the reason. */
export const EXCEPTIONS_PATH = path.join(ROOT, 'tests', 'e2e', 'contract-not-exercised.json');
/** The route name of the worker's own answers on the proxy path. */
export const PROXY = 'proxy';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const SCHEMA_REF = '#/components/schemas/';
const SCHEMA_ID = 'openapi';

let loaded;

/** The document, its routes and the compiled schemas; loaded once per process. */
export function contract() {
  if (loaded) return loaded;
  const raw = YAML.parse(readFileSync(DOC_PATH, 'utf8'));
  // Schema references point into one ajv schema that holds every component schema.
  const doc = rewriteRefs(raw);
  const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ $id: SCHEMA_ID, $defs: doc.components?.schemas ?? {} });
  const compiled = new WeakMap();
  const validator = (schema) => {
    let v = compiled.get(schema);
    if (!v) {
      v = ajv.compile(schema);
      compiled.set(schema, v);
    }
    return v;
  };
  const deref = (obj) => {
    let out = obj;
    for (let i = 0; out && typeof out.$ref === 'string'; i++) {
      if (i > 20 || !out.$ref.startsWith('#/')) throw new Error(`docs/openapi.yaml: cannot resolve ${out.$ref}`);
      out = out.$ref
        .slice(2)
        .split('/')
        .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
        .reduce((o, k) => o?.[k], doc);
      if (out === undefined) throw new Error(`docs/openapi.yaml: ${obj.$ref} does not exist`);
    }
    return out;
  };
  const routes = Object.entries(doc.paths ?? {}).map(([template, item]) => {
    const names = [];
    const source = template
      .split('/')
      .map((seg) => {
        const m = /^\{([^}]+)\}$/.exec(seg);
        if (m) {
          names.push(m[1]);
          return '([^/]+)';
        }
        return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    // Fixed segments match without regard to case, as the worker matches them.
    return { template, item, names, regex: new RegExp(`^${source}$`, 'i') };
  });
  const proxy = doc['x-edge-revoke-proxy']?.responses;
  if (!proxy) throw new Error('docs/openapi.yaml: no x-edge-revoke-proxy responses');
  loaded = { doc, deref, validator, routes, proxy };
  return loaded;
}

/** A deep copy of `value` with `#/components/schemas/X` references pointing into the ajv schema. */
function rewriteRefs(value) {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (!value || typeof value !== 'object') return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === '$ref' && typeof v === 'string' && v.startsWith(SCHEMA_REF) ? `${SCHEMA_ID}#/$defs/${v.slice(SCHEMA_REF.length)}` : rewriteRefs(v);
  }
  return out;
}

/**
 * Every (route, status) pair the document describes: each operation's
 * statuses (`default` is the origin's), the variants an operation declares
 * (`x-edge-revoke-variants`), and the proxy path's shared answers.
 * @returns {{route: string, status: string}[]}
 */
export function documentedPairs() {
  const { routes, proxy } = contract();
  const pairs = [];
  for (const { template, item } of routes) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const route = `${method.toUpperCase()} ${template}`;
      for (const status of Object.keys(op.responses ?? {})) {
        if (status !== 'default') pairs.push({ route, status });
      }
      const variants = op['x-edge-revoke-variants'];
      if (variants) {
        for (const [value, statuses] of Object.entries(variants.statuses)) {
          for (const status of statuses) pairs.push({ route: variantRoute(route, variants.parameter, value), status: String(status) });
        }
        if (variants.other) pairs.push({ route: variantRoute(route, variants.parameter, undefined), status: String(variants.other) });
      }
    }
  }
  for (const status of Object.keys(proxy)) pairs.push({ route: PROXY, status });
  return pairs;
}

/** `DELETE /api/tokens?scope=global`; any value not listed is `scope=(other)`. */
function variantRoute(route, parameter, value) {
  return `${route}?${parameter}=${value ?? '(other)'}`;
}

/**
 * Which route a request is. `null` for the proxy path (including an owned
 * path with another method, and a CORS preflight, which no path lists).
 */
export function classify(method, rawPath) {
  const { routes } = contract();
  const target = rawPath.split('#')[0];
  const q = target.indexOf('?');
  const pathname = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q + 1);
  const canonical = canonicalPath(pathname);
  for (const r of routes) {
    const m = r.regex.exec(canonical);
    if (!m) continue;
    const lower = method.toLowerCase();
    const op = r.item[lower];
    if (!op) return null;
    // A forwarding route whose path segment cannot be decoded is the origin's
    // (GET /v2.0/tokens/%zz); a revocation route answers it 400.
    if (op['x-edge-revoke-forwards'] && m.slice(1).some((seg) => decode(seg, false) === null)) return null;
    return { route: `${method.toUpperCase()} ${r.template}`, op, pathname, query };
  }
  return null;
}

/**
 * A request path as the worker matches its routes (README, Routes): `;`
 * parameters dropped from each segment, percent-encoded unreserved
 * characters decoded (other escapes kept, hex upper-cased), empty and `.`
 * segments dropped, `..` removing the segment before it. Written here again,
 * apart from core/src/routes.rs, so that the contract checks it.
 */
export function canonicalPath(pathname) {
  const out = [];
  for (const raw of pathname.split('/')) {
    const text = raw.split(';')[0].replace(/%([0-9A-Fa-f]{2})/g, (_, hex) => {
      const c = String.fromCharCode(parseInt(hex, 16));
      return /^[A-Za-z0-9\-._~]$/.test(c) ? c : `%${hex.toUpperCase()}`;
    });
    if (text === '' || text === '.') continue;
    if (text === '..') out.pop();
    else out.push(text);
  }
  return `/${out.join('/')}`;
}

/** Percent-decoding as core/src/primitives.rs does it; null when malformed. */
function decode(text, plusAsSpace) {
  try {
    return decodeURIComponent(plusAsSpace ? text.replace(/\+/g, ' ') : text);
  } catch {
    return null;
  }
}

/** The variant of an operation's request (see `x-edge-revoke-variants`), or undefined. */
function variantOf(op, route, query) {
  const variants = op['x-edge-revoke-variants'];
  if (!variants) return undefined;
  const values = [];
  for (const part of query === '' ? [] : query.split('&')) {
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq), true);
    const value = decode(eq < 0 ? '' : part.slice(eq + 1), true);
    // A query that does not decode is malformed, whatever it holds.
    if (name === null || value === null) return { route: variantRoute(route, variants.parameter, undefined), statuses: [String(variants.other)] };
    // Parameter names of the worker's routes match without regard to case.
    if (name.toLowerCase() === variants.parameter.toLowerCase()) values.push(value);
  }
  let value = values.length === 0 ? variants.default : values[0];
  if (values.some((v) => v !== values[0]) || value === '' || !(value in variants.statuses)) value = undefined;
  const statuses = value === undefined ? [String(variants.other)] : variants.statuses[value].map(String);
  return { route: variantRoute(route, variants.parameter, value), statuses };
}

/** The media type of a Content-Type value, lower-case, without parameters. */
const mediaOf = (value) => String(value ?? '').split(';')[0].trim().toLowerCase();

/**
 * Did the stub origin make this answer? Its normal answers carry
 * `x-origin: stub`; /__status/NNN answers NNN as text/plain, /__redirect 302
 * and /__big 200 as application/octet-stream. Anything else on the proxy path
 * is the worker's own answer.
 */
function fromOrigin(pathname, status, header) {
  if (header('x-origin') === 'stub') return true;
  const media = mediaOf(header('content-type'));
  const m = /^\/__status\/(\d{3})$/.exec(pathname);
  if (m) return Number(m[1]) === status && media === 'text/plain';
  if (pathname === '/__redirect') return status === 302;
  if (pathname === '/__big') return status === 200 && media === 'application/octet-stream';
  return false;
}

/** True when the client prefers application/json to problem+json (core/src/request.rs). */
function wantsPlainJson(accept) {
  return accept !== null && accept.includes('application/json') && !accept.includes('application/problem+json');
}

/** A header value as its schema types it: digits for an integer header. */
function headerValue(schema, value) {
  if ((schema?.type === 'integer' || schema?.type === 'number') && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return value;
}

const describeErrors = (errors) =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`).join('; ');

/**
 * What is wrong with a response against `responses` (an operation's or the
 * proxy path's): an empty list when it is described.
 */
function problemsWith(responses, res) {
  const { deref, validator } = contract();
  const spec = responses[String(res.status)];
  if (!spec) return [`status ${res.status} is not documented here (documented: ${Object.keys(responses).join(', ')})`];
  const response = deref(spec);
  const problems = [];
  for (const [name, ref] of Object.entries(response.headers ?? {})) {
    const h = deref(ref);
    const value = res.header(name.toLowerCase());
    if (value === null) {
      if (h.required) problems.push(`header ${name} is missing`);
      continue;
    }
    if (h.schema) {
      const v = validator(h.schema);
      if (!v(headerValue(h.schema, value))) problems.push(`header ${name}: ${JSON.stringify(value)} ${describeErrors(v.errors)}`);
    }
  }
  const contentType = res.header('content-type');
  const media = mediaOf(contentType);
  if (!response.content) {
    if (res.body.length > 0) problems.push(`a body where none is documented (${contentType ?? 'no content-type'})`);
    return problems;
  }
  const entry = response.content[media];
  if (!entry) {
    problems.push(`content-type ${JSON.stringify(contentType)} is not one of ${Object.keys(response.content).join(', ')}`);
    return problems;
  }
  if ('application/problem+json' in response.content && 'application/json' in response.content) {
    const plain = wantsPlainJson(res.accept);
    if (plain !== (media === 'application/json')) {
      problems.push(`content-type ${media} for a request with Accept ${JSON.stringify(res.accept)}`);
    }
  }
  // A HEAD answer has the GET answer's headers and no body.
  if (res.method === 'HEAD') return problems;
  let body;
  if (media.endsWith('json')) {
    try {
      body = JSON.parse(res.body.toString('utf8'));
    } catch {
      problems.push('the body is not JSON');
      return problems;
    }
  } else {
    body = res.body.toString('utf8');
  }
  if (entry.schema) {
    const v = validator(entry.schema);
    if (!v(body)) problems.push(`body: ${describeErrors(v.errors)}`);
  }
  return problems;
}

let seenDirMade = false;
function record(route, status) {
  if (!seenDirMade) {
    mkdirSync(path.dirname(SEEN_PATH), { recursive: true });
    seenDirMade = true;
  }
  appendFileSync(SEEN_PATH, `${route}\t${status}\n`);
}

/** A header getter over fetch Headers, node's header object, or an array of [name, value] lines. */
export function headerGetter(headers) {
  if (!headers) return () => null;
  if (typeof headers.get === 'function') return (name) => headers.get(name);
  if (Array.isArray(headers)) {
    return (name) => {
      const values = headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => String(v));
      return values.length ? values.join(', ') : null;
    };
  }
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return (name) => {
    const v = lower[name];
    if (v === undefined || v === null) return null;
    return Array.isArray(v) ? v.join(', ') : String(v);
  };
}

/**
 * Judges one response of a worker against docs/openapi.yaml, without
 * recording it. `route` is the route it was judged as (`proxy` for the
 * worker's own answers on the proxy path), or null when the origin made it;
 * `problems` is empty when the document describes it.
 * @param {object} r
 * @param {string} r.method request method
 * @param {string} r.path request path and query, as sent
 * @param {object|Array} [r.requestHeaders] as given to call or rawCall
 * @param {number} r.status
 * @param {object} r.headers response headers (fetch Headers, node's object, or [name, value] lines)
 * @param {Buffer} r.body
 * @returns {{route: string|null, status: number, problems: string[], variant?: string}}
 */
export function judge({ method, path: rawPath, requestHeaders, status, headers, body }) {
  const { proxy } = contract();
  const upper = method.toUpperCase();
  const header = headerGetter(headers);
  const res = { method: upper, status, header, body, accept: headerGetter(requestHeaders)('accept') };
  const owned = classify(upper, rawPath);
  const pathname = rawPath.split('#')[0].split('?')[0];

  if (!owned) {
    if (fromOrigin(pathname, status, header)) return { route: null, status, problems: [] };
    const problems = problemsWith(proxy, res);
    const hint = 'the proxy path (x-edge-revoke-proxy); an answer of the stub origin is told by fromOrigin() in tests/e2e/support/contract.mjs';
    return { route: PROXY, status, problems: problems.length ? [...problems, hint] : [] };
  }

  const { op, route, query } = owned;
  const forwards = Boolean(op['x-edge-revoke-forwards'] || op['x-edge-revoke-when']);
  if (fromOrigin(pathname, status, header)) {
    return { route: forwards ? null : route, status, problems: forwards ? [] : ['the origin answered, but this route is never forwarded'] };
  }
  const problems = problemsWith(op.responses ?? {}, res);
  // A route that exists only when a setting is set is otherwise the proxy path.
  if (problems.length && op['x-edge-revoke-when'] && problemsWith(proxy, res).length === 0) {
    return { route: PROXY, status, problems: [] };
  }
  const variant = problems.length ? undefined : variantOf(op, route, query);
  return { route, status, problems, variant: variant?.statuses.includes(String(status)) ? variant.route : undefined };
}

/**
 * Checks one response of a worker against docs/openapi.yaml and records its
 * (route, status) pair. Throws an AssertionError when the document does not
 * describe it: an undocumented status, a missing or wrong header, a body
 * that does not match, or an origin answer on a route that never forwards.
 * Takes what `judge` takes.
 */
export function checkResponse(r) {
  const verdict = judge(r);
  if (verdict.problems.length) {
    const shown = r.path.length > 120 ? `${r.path.slice(0, 120)}...(${r.path.length} chars)` : r.path;
    const header = headerGetter(r.headers);
    throw new assert.AssertionError({
      message:
        `response not as docs/openapi.yaml describes ${verdict.route}: ${r.method.toUpperCase()} ${shown} -> ${r.status}\n  ` +
        `${verdict.problems.join('\n  ')}\n  content-type: ${header('content-type')}\n  body: ${r.body.toString('utf8').slice(0, 300)}`,
    });
  }
  if (verdict.route === null) return;
  record(verdict.route, verdict.status);
  if (verdict.variant) record(verdict.variant, verdict.status);
}

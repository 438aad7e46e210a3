// In-memory Workers KV backend, counting every operation: the store of the
// benchmark (bench/bench.mjs) and of the e2e isolates harness.
//
// workerd turns each call on a `kvNamespace` binding into an HTTP request to
// the service it names (the same protocol Miniflare's KV simulator serves):
//   GET    /<key>?urlencoded=true[&cacheTtl=N]  read   (404 = no such key)
//   PUT    /<key>?urlencoded=true[&expiration=N] write (CF-KV-Metadata header)
//   DELETE /<key>?urlencoded=true               delete
//   GET    /?prefix=&limit=&cursor=             list
//   POST   /bulk/get  {"keys":[...],"type":"text"} one read of up to 100 keys,
//                     answered {"<key>": "<value>" | null}
// Every worker of a setup binds REVOKED_TOKENS to this service, so the store
// costs the same for all of them, they all see the same keys, and each KV call
// is counted here.
//
// The harness talks to it on a separate socket with `X-Bench-Admin: 1`:
//   GET  /stats  -> {"get":N,"put":N,"delete":N,"list":N,"maxInFlight":N,"keys":{prefix:N}}
//   POST /reset  -> zeroes the counters
//   POST /delay?ms=N -> every KV operation answers after N ms (0 = at once),
//                    to see whether a request's reads overlap (one round trip)
//                    or follow each other.
// and, to play Workers KV's real limits and faults (tests/e2e/kv-limits):
//   POST /write-limit?seconds=N -> a write (PUT or DELETE) to a key written
//                    less than N s before answers 429, as production KV does
//                    for more than one write per second to a key (0 = off)
//   POST /fail-reads?prefix=P -> reads of keys starting with P answer 500
//                    (no prefix = off)
//   PUT  /raw/<key>  -> stores the request body as the key's value, as is
import { keyOf, bulkKeys, valueResponse, refuse } from "./kv-protocol.mjs";

const store = new Map();
let delayMs = 0;
let writeLimitMs = 0;
let failReadsPrefix = null;
const lastWrite = new Map();
let stats;
let inFlight = 0;
function reset() {
  stats = { get: 0, bulk: 0, put: 0, delete: 0, list: 0, refused: 0, maxInFlight: 0, keys: {} };
}
reset();

async function admin(request, url) {
  if (url.pathname === "/stats") return Response.json(stats);
  if (url.pathname === "/reset" && request.method === "POST") {
    reset();
    return new Response(null, { status: 204 });
  }
  if (url.pathname === "/delay" && request.method === "POST") {
    delayMs = Number(url.searchParams.get("ms") ?? 0);
    return new Response(null, { status: 204 });
  }
  if (url.pathname === "/write-limit" && request.method === "POST") {
    writeLimitMs = Number(url.searchParams.get("seconds") ?? 0) * 1000;
    lastWrite.clear();
    return new Response(null, { status: 204 });
  }
  if (url.pathname === "/fail-reads" && request.method === "POST") {
    failReadsPrefix = url.searchParams.get("prefix") || null;
    return new Response(null, { status: 204 });
  }
  if (url.pathname.startsWith("/raw/") && request.method === "PUT") {
    const key = decodeURIComponent(url.pathname.slice("/raw/".length));
    store.set(key, { value: await request.arrayBuffer(), metadata: undefined });
    return new Response(null, { status: 204 });
  }
  return new Response("unknown admin path", { status: 404 });
}

function countKey(key) {
  const prefix = key.includes(":") ? key.slice(0, key.indexOf(":") + 1) : key;
  stats.keys[prefix] = (stats.keys[prefix] ?? 0) + 1;
}

/** One bulk read: the operation workerd sends for `get([keys])`. */
async function bulkGet(request) {
  stats.bulk++;
  const { keys, error } = await bulkKeys(request);
  if (error) return error;
  if (failReadsPrefix !== null && keys.some((key) => key.startsWith(failReadsPrefix))) {
    return new Response("injected read failure", { status: 500 });
  }
  const result = {};
  const text = new TextDecoder();
  for (const key of keys) {
    countKey(key);
    const entry = store.get(key);
    result[key] = entry ? text.decode(entry.value) : null;
  }
  return Response.json(result);
}

async function operation(request, url) {
  const method = request.method;
  if (method === "POST" && url.pathname === "/bulk/get") return bulkGet(request);
  if (method === "GET" && url.pathname === "/") {
    stats.list++;
    const prefix = url.searchParams.get("prefix") ?? "";
    const keys = [...store.keys()]
      .filter((k) => k.startsWith(prefix))
      .sort()
      .map((name) => ({ name, metadata: store.get(name).metadata }));
    return Response.json({ keys, list_complete: true, cacheStatus: null });
  }
  const key = keyOf(url);
  if (method === "GET") {
    if (failReadsPrefix !== null && key.startsWith(failReadsPrefix)) {
      return new Response("injected read failure", { status: 500 });
    }
    stats.get++;
    countKey(key);
    const entry = store.get(key);
    if (!entry) return new Response("Not Found", { status: 404 });
    return valueResponse(entry.value, entry.metadata);
  }
  if ((method === "PUT" || method === "DELETE") && writeLimitMs > 0) {
    const last = lastWrite.get(key);
    const at = Date.now();
    if (last !== undefined && at - last < writeLimitMs) {
      stats.refused++;
      return refuse(request, 429, "Too Many Requests");
    }
    lastWrite.set(key, at);
  }
  if (method === "PUT") {
    stats.put++;
    const value = await request.arrayBuffer();
    store.set(key, { value, metadata: request.headers.get("CF-KV-Metadata") ?? undefined });
    return new Response(null);
  }
  if (method === "DELETE") {
    stats.delete++;
    store.delete(key);
    return new Response(null);
  }
  return new Response("method not allowed", { status: 405 });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (request.headers.get("X-Bench-Admin") === "1") return admin(request, url);
    inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
    try {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      return await operation(request, url);
    } finally {
      inFlight--;
    }
  },
};

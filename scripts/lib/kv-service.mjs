// In-memory Workers KV backend, counting every operation: the store of the
// benchmark (bench/bench.mjs) and of the e2e isolates harness.
//
// workerd turns each call on a `kvNamespace` binding into an HTTP request to
// the service it names (the same protocol Miniflare's KV simulator serves):
//   GET    /<key>?urlencoded=true[&cacheTtl=N]  read   (404 = no such key)
//   PUT    /<key>?urlencoded=true[&expiration=N] write (CF-KV-Metadata header)
//   DELETE /<key>?urlencoded=true               delete
//   GET    /?prefix=&limit=&cursor=             list
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
const store = new Map();
let delayMs = 0;
let stats;
let inFlight = 0;
function reset() {
  stats = { get: 0, put: 0, delete: 0, list: 0, maxInFlight: 0, keys: {} };
}
reset();

function keyOf(url) {
  const raw = url.pathname.slice(1);
  return url.searchParams.get("urlencoded") === "true" ? decodeURIComponent(raw) : raw;
}

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
  return new Response("unknown admin path", { status: 404 });
}

async function operation(request, url) {
  const method = request.method;
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
  const prefix = key.includes(":") ? key.slice(0, key.indexOf(":") + 1) : key;
  if (method === "GET") {
    stats.get++;
    stats.keys[prefix] = (stats.keys[prefix] ?? 0) + 1;
    const entry = store.get(key);
    if (!entry) return new Response("Not Found", { status: 404 });
    const headers = new Headers();
    if (entry.metadata !== undefined) headers.set("CF-KV-Metadata", entry.metadata);
    return new Response(entry.value, { headers });
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

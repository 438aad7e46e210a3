// In-memory Workers KV backend for several edge locations in one process:
// the store of the multi-location simulation (tests/e2e/support/locations.mjs,
// scripts/simulate.mjs).
//
// It speaks the protocol of kv-service.mjs (workerd turns each call on a
// `kvNamespace` binding into an HTTP request to the service it names):
//   GET    /<key>?urlencoded=true[&cacheTtl=N]  read   (404 = no such key)
//   PUT    /<key>?urlencoded=true[&expiration=N | &expiration_ttl=N] write (CF-KV-Metadata header)
//   DELETE /<key>?urlencoded=true               delete
//   GET    /?prefix=&limit=&cursor=             list
//   POST   /bulk/get  {"keys":[...],"type":"text"} one read of up to 100 keys,
//                     answered {"<key>": "<value>" | null}
// and every request must carry `X-Location: <name>`: each location binds
// REVOKED_TOKENS to a forwarder (kv-forwarder.mjs) that adds it.
//
// What each location sees, as Workers KV shows it: a write (put or delete) is
// seen at once by the location that made it, and by every other location
// `propagation` ms after it was made. Every key keeps its versions with their
// write time and writer, so a read at one location answers the newest write
// that location can see (a delete included). `cacheTtl` is ignored: a read
// never adds staleness of its own. An entry whose expiration has passed reads
// as missing and is not listed.
//
// The harness talks to it on its own socket with `X-Bench-Admin: 1`:
//   GET  /stats  -> {"propagationMs":N,"refusing":{...}|null,"locations":{"<name>":
//                    {"get":N,"bulk":N,"keysRead":N,"put":N,"delete":N,"list":N,"refused":N}}}
//   POST /reset  -> zeroes the counters (the keys stay)
//   POST /propagation?ms=N -> writes made from now on reach other locations
//                    N ms after they were made (default 0)
//   POST /refuse-writes?status=429|500&ms=N[&location=L] -> for the next N ms
//                    every put and delete (of location L only, when given)
//                    answers that status, and changes nothing (ms=0 = off)
import { keyOf, bulkKeys, valueResponse, refuse } from "./kv-protocol.mjs";

const text = new TextDecoder();
/** key -> versions, oldest first: { seq, at, visibleAt, location, value: ArrayBuffer | null, metadata, expiration } */
const store = new Map();
let propagationMs = 0;
/** { status, until, location } while writes are refused. */
let refusing = null;
let seq = 0;
let stats;

function reset() {
  stats = {};
}
reset();

function counters(location) {
  stats[location] ??= { get: 0, bulk: 0, keysRead: 0, put: 0, delete: 0, list: 0, refused: 0 };
  return stats[location];
}

/** The newest version of `key` that `location` can see at `now`, or undefined. */
function visible(key, location, now) {
  const versions = store.get(key) ?? [];
  for (let i = versions.length - 1; i >= 0; i--) {
    const v = versions[i];
    if (v.location === location || v.visibleAt <= now) return v;
  }
  return undefined;
}

/** The live entry of `key` at `location`: a stored value that has not expired, or undefined. */
function read(key, location, now) {
  const v = visible(key, location, now);
  if (!v || v.value === null) return undefined;
  if (v.expiration !== undefined && v.expiration * 1000 <= now) return undefined;
  return v;
}

/** Appends a version; drops the versions that a newer one, seen everywhere, hides. */
function write(key, location, now, entry) {
  const versions = store.get(key) ?? [];
  versions.push({ seq: ++seq, at: now, visibleAt: now + propagationMs, location, ...entry });
  let settled = -1;
  for (let i = versions.length - 1; i >= 0; i--) {
    if (versions[i].visibleAt <= now) {
      settled = i;
      break;
    }
  }
  if (settled > 0) versions.splice(0, settled);
  if (versions.length === 1 && settled === 0 && versions[0].value === null) store.delete(key);
  else store.set(key, versions);
}

function expirationOf(url, now) {
  const at = url.searchParams.get("expiration");
  if (at !== null) return Number(at);
  const ttl = url.searchParams.get("expiration_ttl");
  return ttl === null ? undefined : Math.floor(now / 1000) + Number(ttl);
}

async function admin(request, url) {
  if (url.pathname === "/stats") {
    return Response.json({ propagationMs, refusing, locations: stats });
  }
  if (request.method !== "POST") return new Response("unknown admin path", { status: 404 });
  if (url.pathname === "/reset") {
    reset();
    return new Response(null, { status: 204 });
  }
  if (url.pathname === "/propagation") {
    propagationMs = Number(url.searchParams.get("ms") ?? 0);
    return new Response(null, { status: 204 });
  }
  if (url.pathname === "/refuse-writes") {
    const ms = Number(url.searchParams.get("ms") ?? 0);
    const status = Number(url.searchParams.get("status") ?? 500);
    if (![429, 500].includes(status)) return new Response("status must be 429 or 500", { status: 400 });
    refusing = ms > 0 ? { status, until: Date.now() + ms, location: url.searchParams.get("location") } : null;
    return new Response(null, { status: 204 });
  }
  return new Response("unknown admin path", { status: 404 });
}

/** The status a write at `location` is refused with now, or 0. */
function refusal(location, now) {
  if (refusing === null) return 0;
  if (refusing.until <= now) {
    refusing = null;
    return 0;
  }
  return refusing.location === null || refusing.location === location ? refusing.status : 0;
}

async function bulkGet(request, location, count, now) {
  count.bulk++;
  const { keys, error } = await bulkKeys(request);
  if (error) return error;
  count.keysRead += keys.length;
  const result = {};
  for (const key of keys) {
    const entry = read(key, location, now);
    result[key] = entry ? text.decode(entry.value) : null;
  }
  return Response.json(result);
}

function list(url, location, count, now) {
  count.list++;
  const prefix = url.searchParams.get("prefix") ?? "";
  const limit = Number(url.searchParams.get("limit") ?? 1000);
  const after = url.searchParams.get("cursor") ?? "";
  const names = [...store.keys()].filter((k) => k.startsWith(prefix) && k > after && read(k, location, now)).sort();
  const page = names.slice(0, limit);
  const keys = page.map((name) => {
    const { metadata, expiration } = read(name, location, now);
    const item = { name };
    if (expiration !== undefined) item.expiration = expiration;
    if (metadata !== undefined) {
      try {
        item.metadata = JSON.parse(metadata);
      } catch {
        item.metadata = metadata;
      }
    }
    return item;
  });
  const complete = page.length === names.length;
  return Response.json({ keys, list_complete: complete, ...(complete ? {} : { cursor: page.at(-1) }), cacheStatus: null });
}

async function operation(request, url, location) {
  const now = Date.now();
  const count = counters(location);
  const method = request.method;
  if (method === "POST" && url.pathname === "/bulk/get") return bulkGet(request, location, count, now);
  if (method === "GET" && url.pathname === "/") return list(url, location, count, now);
  const key = keyOf(url);
  if (method === "GET") {
    count.get++;
    count.keysRead++;
    const entry = read(key, location, now);
    if (!entry) return new Response("Not Found", { status: 404 });
    return valueResponse(entry.value, entry.metadata);
  }
  if (method !== "PUT" && method !== "DELETE") return new Response("method not allowed", { status: 405 });
  const refused = refusal(location, now);
  if (refused) {
    count.refused++;
    return refuse(request, refused, refused === 429 ? "Too Many Requests" : "injected write failure");
  }
  if (method === "PUT") {
    count.put++;
    const value = await request.arrayBuffer();
    const metadata = request.headers.get("CF-KV-Metadata") ?? undefined;
    write(key, location, now, { value, metadata, expiration: expirationOf(url, now) });
    return new Response(null);
  }
  count.delete++;
  write(key, location, now, { value: null });
  return new Response(null);
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (request.headers.get("X-Bench-Admin") === "1") return admin(request, url);
    const location = request.headers.get("X-Location");
    if (!location) return refuse(request, 400, "X-Location is required: bind REVOKED_TOKENS to a kv-forwarder.mjs service");
    return operation(request, url, location);
  },
};

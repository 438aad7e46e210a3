// The Cache API of one edge location in the multi-location simulation: the
// service a worker's `cacheApiOutbound` names. Every isolate of a location
// names the same one, so they share its cache; each location has its own
// service (its own isolate), so no location sees another's entries.
//
// workerd turns caches.default / caches.open(name) calls into HTTP requests:
//   match:  GET   <key url>  (Cache-Control: only-if-cached; Cf-Cache-Namespaces: <name> for caches.open)
//           answered with Cf-Cache-Status: HIT and the stored response, or Cf-Cache-Status: MISS
//   put:    PUT   <key url>  body = the response as an HTTP/1.1 message; answered 204 (413 = refused)
//   delete: PURGE <key url>  answered 200 (deleted) or 404 (absent)
// workerd does not apply the response's lifetime itself: an entry is kept for
// its Cache-Control s-maxage, else max-age, else until its Expires; a response
// with no-store or private, or without a lifetime, is not kept.
//
// The harness talks to it on its own socket with `X-Bench-Admin: 1`:
//   GET  /stats -> {"match":N,"hit":N,"miss":N,"put":N,"stored":N,"purge":N,"entries":N}
//   POST /reset -> zeroes the counters and empties the cache
const store = new Map();
let stats;

function reset() {
  stats = { match: 0, hit: 0, miss: 0, put: 0, stored: 0, purge: 0 };
  store.clear();
}
reset();

/** How long a response may be kept, in seconds (0 = not at all). */
function ttlSeconds(headers) {
  const cc = headers.get("cache-control") ?? "";
  if (/(?:^|,)\s*(?:no-store|private)\s*(?:,|$)/i.test(cc)) return 0;
  const m = /(?:^|,)\s*s-maxage\s*=\s*(\d+)/i.exec(cc) ?? /(?:^|,)\s*max-age\s*=\s*(\d+)/i.exec(cc);
  if (m) return Number(m[1]);
  const expires = headers.get("expires");
  if (expires) return Math.max(0, (Date.parse(expires) - Date.now()) / 1000) || 0;
  return 0;
}

function indexOfCrlfCrlf(bytes) {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

/** The body of a chunked HTTP/1.1 message, de-chunked. */
function dechunk(bytes) {
  const chunks = [];
  const latin1 = new TextDecoder("latin1");
  for (let i = 0; ; ) {
    let j = i;
    while (j + 1 < bytes.length && !(bytes[j] === 13 && bytes[j + 1] === 10)) j++;
    const size = parseInt(latin1.decode(bytes.subarray(i, j)), 16);
    if (!size) break;
    chunks.push(bytes.subarray(j + 2, j + 2 + size));
    i = j + 2 + size + 2;
  }
  const body = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    body.set(c, offset);
    offset += c.length;
  }
  return body;
}

/** Parses "HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\nbody"; null when there is no header end. */
function parseResponse(bytes) {
  const end = indexOfCrlfCrlf(bytes);
  if (end < 0) return null;
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, end)).split("\r\n");
  const status = Number(head[0].split(" ")[1]);
  const headers = new Headers();
  for (const line of head.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let body = bytes.subarray(end + 4);
  if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
    body = dechunk(body);
    headers.delete("transfer-encoding");
  }
  return { status, headers, body: body.slice() };
}

function admin(request, url) {
  if (url.pathname === "/stats") return Response.json({ ...stats, entries: store.size });
  if (url.pathname === "/reset" && request.method === "POST") {
    reset();
    return new Response(null, { status: 204 });
  }
  return new Response("unknown admin path", { status: 404 });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (request.headers.get("X-Bench-Admin") === "1") return admin(request, url);
    const key = `${request.headers.get("cf-cache-namespaces") ?? ""} ${request.url}`;
    if (request.method === "GET") {
      stats.match++;
      const entry = store.get(key);
      if (!entry || entry.expires <= Date.now()) {
        if (entry) store.delete(key);
        stats.miss++;
        return new Response(null, { headers: { "cf-cache-status": "MISS" } });
      }
      stats.hit++;
      const headers = new Headers(entry.headers);
      headers.set("cf-cache-status", "HIT");
      return new Response(entry.body, { status: entry.status, headers });
    }
    if (request.method === "PUT") {
      stats.put++;
      const parsed = parseResponse(new Uint8Array(await request.arrayBuffer()));
      if (!parsed) return new Response(null, { status: 413 });
      const ttl = ttlSeconds(parsed.headers);
      if (ttl > 0) {
        stats.stored++;
        store.set(key, { ...parsed, headers: [...parsed.headers], expires: Date.now() + ttl * 1000 });
      }
      return new Response(null, { status: 204 });
    }
    if (request.method === "PURGE") {
      stats.purge++;
      return new Response(null, { status: store.delete(key) ? 200 : 404 });
    }
    return new Response(null, { status: 405 });
  },
};

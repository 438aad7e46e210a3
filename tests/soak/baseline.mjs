// The soak's baseline: the floor any revocation check sits on. It forwards
// every request to ORIGIN_URL + path + query (same method, headers and body)
// like bench/workers/passthrough.mjs, after one Workers KV read of a key that
// is never written, like bench/workers/kv-floor.mjs. So it holds what every
// worker in this place holds (the isolate, the runtime's HTTP client and
// server, one KV call per request) and nothing of edge-revoke's own: no token
// check, no caches, no revocation.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if ((await env.REVOKED_TOKENS.get("revoked:soak-floor", { cacheTtl: 60 })) !== null) {
      return new Response("revoked", { status: 401 });
    }
    return fetch(new Request(env.ORIGIN_URL + url.pathname + url.search, request));
  },
};

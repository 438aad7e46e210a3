// Setup (b): the store floor. Pass-through plus one Workers KV read, the
// least any revocation check must do per request. With KV_READS = "2" it
// makes two concurrent reads instead, the same KV work as edge-revoke's hot
// path (revoked:<jti> and subject:<sub>): setup (b'), for attribution.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const kv = env.REVOKED_TOKENS;
    const reads =
      env.KV_READS === "2"
        ? [kv.get("revoked:bench-floor", { cacheTtl: 60 }), kv.get("subject:bench-floor", { cacheTtl: 60 })]
        : [kv.get("revoked:bench-floor", { cacheTtl: 60 })];
    for (const value of await Promise.all(reads)) {
      if (value !== null) return new Response("revoked", { status: 401 });
    }
    return fetch(new Request(env.ORIGIN_URL + url.pathname + url.search, request));
  },
};

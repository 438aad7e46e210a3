// Setup (b): the store floor. Pass-through plus one Workers KV read, the
// least any revocation check must do per request. With KV_READS = "2" it
// makes two concurrent reads instead, the same KV work as edge-revoke's hot
// path before it read both keys at once (revoked:<jti> and subject:<sub>):
// setup (b'). With KV_READS = "bulk" it reads both keys in one bulk get, as
// edge-revoke does now: setup (b''). Both are there for attribution.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const kv = env.REVOKED_TOKENS;
    if (env.KV_READS === "bulk") {
      const found = await kv.get(["revoked:bench-floor", "subject:bench-floor"], { type: "text", cacheTtl: 60 });
      for (const value of found.values()) {
        if (value !== null) return new Response("revoked", { status: 401 });
      }
      return fetch(new Request(env.ORIGIN_URL + url.pathname + url.search, request));
    }
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

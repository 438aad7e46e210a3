// The REVOKED_TOKENS namespace of one edge location in the multi-location
// simulation: every KV request workerd makes for the binding is passed on, as
// it is, to the one shared store (kv-locations.mjs, service binding `KV`),
// with `X-Location: <LOCATION>` added so that the store answers what this
// location sees. One forwarder service per location; the isolates of a
// location all bind theirs.
export default {
  fetch(request, env) {
    const headers = new Headers(request.headers);
    headers.set("X-Location", env.LOCATION);
    return env.KV.fetch(new Request(request, { headers }));
  },
};

// The parts of workerd's KV protocol (see kv-service.mjs) that every KV store
// of the harness answers alike: the in-memory store (kv-service.mjs) and the
// store of several locations (kv-locations.mjs) embed this module next to
// their own.

/** The key a GET, PUT or DELETE names (`/<key>`, percent-encoded with `urlencoded=true`). */
export function keyOf(url) {
  const raw = url.pathname.slice(1);
  return url.searchParams.get("urlencoded") === "true" ? decodeURIComponent(raw) : raw;
}

/**
 * The keys of a `POST /bulk/get` ({"keys":[...],"type":"text"}): { keys }, or
 * { error: Response } for fewer than 1 or more than 100 keys (400) or a type
 * other than text (500, unsupported here).
 */
export async function bulkKeys(request) {
  const { keys, type = "text" } = await request.json();
  if (!Array.isArray(keys) || keys.length < 1 || keys.length > 100) {
    return { error: new Response(null, { status: 400 }) };
  }
  if (type !== "text") return { error: new Response(null, { status: 500 }) };
  return { keys };
}

/** The answer to a GET of a stored value, with its metadata (CF-KV-Metadata) when it has any. */
export function valueResponse(value, metadata) {
  const headers = new Headers();
  if (metadata !== undefined) headers.set("CF-KV-Metadata", metadata);
  return new Response(value, { headers });
}

/** An answer with `status` (a refused write, a bad request), after the body is read: workerd's KV client waits for it to be taken. */
export async function refuse(request, status, text) {
  await request.arrayBuffer();
  return new Response(text, { status });
}

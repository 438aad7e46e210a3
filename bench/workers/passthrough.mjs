// Setup (a): pass-through. Forwards every request to ORIGIN_URL + path + query
// (same method, headers and body) and returns the origin's response.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(new Request(env.ORIGIN_URL + url.pathname + url.search, request));
  },
};

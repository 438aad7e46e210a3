// Small HTTP client helpers: keep-alive requests timed with hrtime, and a
// raw first request for cold starts.
import http from "node:http";

const agents = new Map();
function agentFor(port) {
  if (!agents.has(port)) agents.set(port, new http.Agent({ keepAlive: true, maxSockets: 1 }));
  return agents.get(port);
}

export function closeAgents() {
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
}

/**
 * One request on a kept-alive connection, or on a connection of its own
 * with `fresh` (for calls made seconds apart, which would otherwise race the
 * server's idle close of the kept one). Resolves { status, body, ms }.
 */
export function request(port, { method = "GET", path = "/", headers = {}, body, fresh = false } = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request(
      { host: "127.0.0.1", port, method, path, headers, agent: fresh ? false : agentFor(port) },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString(), ms });
        });
        res.on("error", reject);
      },
    );
    req.setTimeout(120000, () => req.destroy(new Error(`timeout on port ${port}`)));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * Sends one request on an already connected socket (Connection: close) and
 * resolves { status, firstByteAt } with firstByteAt an hrtime bigint.
 */
export function rawRequest(socket, { path = "/", headers = {} }) {
  return new Promise((resolve, reject) => {
    let firstByteAt = null;
    let text = "";
    socket.on("data", (d) => {
      firstByteAt ??= process.hrtime.bigint();
      text += d;
    });
    socket.on("end", () => {
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, firstByteAt, text });
    });
    socket.on("error", reject);
    socket.setTimeout(30000, () => socket.destroy(new Error("cold request timeout")));
    const lines = [`GET ${path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close"];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    socket.write(lines.join("\r\n") + "\r\n\r\n");
  });
}

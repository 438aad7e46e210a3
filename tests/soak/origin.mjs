// The soak's origin: a light HTTP server on 127.0.0.1, run as a child process
// of tests/soak/soak.mjs so that it has its own event loop. It answers every
// request 200 with a 3-byte body and `x-origin: soak`, reads and drops request
// bodies, and keeps only counters, so it is neither the bottleneck nor a
// memory hog. (scripts/lib/origin.mjs records every request for the e2e tests;
// over a 10-minute soak that record would grow by gigabytes.)
//
// It prints one line, {"port":N}, once it listens. GET /__soak/stats (sent by
// the harness directly, never through a worker) answers the counters as JSON.
// It exits when its stdin closes, so it never outlives the soak.
import http from 'node:http';

const counts = { requests: 0, byPrefix: {} };
const server = http.createServer({ keepAliveTimeout: 65_000, maxHeaderSize: 64 * 1024 }, (req, res) => {
  if (req.url === '/__soak/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(counts));
    return;
  }
  counts.requests++;
  // /<side>/... : count by the first path segment (ours / baseline)
  const slash = req.url.indexOf('/', 1);
  const prefix = req.url.slice(1, slash > 0 ? slash : undefined).split('?')[0] || '-';
  counts.byPrefix[prefix] = (counts.byPrefix[prefix] ?? 0) + 1;
  req.on('error', () => {});
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3', 'x-origin': 'soak' });
    res.end('ok\n');
  });
});
server.headersTimeout = 60_000;
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));

// The soak's window on edge-revoke's own heap. With --probe (the default) the
// soak runs the built worker behind this module: probe-patch.mjs is evaluated
// first and notes the wasm instance's memory when index.js creates it, then
// every request goes to the built worker unchanged, except
// GET /__soak/probe with `x-soak-probe: 1`, which the harness sends between
// load requests and which answers the size of that memory. A wasm memory never
// shrinks, so its size is the high-water mark of the worker's Rust heap: the
// token cache, the recent-revocations map and whatever the allocator keeps.
import { state } from './probe-patch.mjs';
import Worker from './index.js';

export default class SoakProbe extends Worker {
  fetch(request) {
    if (request.headers.get('x-soak-probe') === '1' && new URL(request.url).pathname === '/__soak/probe') {
      return Response.json({ wasmMemoryBytes: state.memory ? state.memory.buffer.byteLength : null, instances: state.instances });
    }
    return super.fetch(request);
  }
}

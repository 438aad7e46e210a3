// Evaluated before the built index.js (see probe.mjs): wraps
// WebAssembly.Instance so that the memory of the instance created last is
// kept in `state`. Nothing else changes; the instance is returned as is.
export const state = { memory: null, instances: 0 };
const Original = WebAssembly.Instance;
function Instance(module, imports) {
  const instance = new Original(module, imports);
  if (instance.exports.memory instanceof WebAssembly.Memory) {
    state.memory = instance.exports.memory;
    state.instances++;
  }
  return instance;
}
Instance.prototype = Original.prototype;
WebAssembly.Instance = Instance;

#!/usr/bin/env bash
# Builds the worker (build/index.js + build/index_bg.wasm) fully offline.
# worker-build would otherwise download wasm-bindgen, wasm-opt and esbuild; these
# variables point it at the versions installed by scripts/setup.sh instead.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/node_modules/.bin"
export PATH="$BIN:$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$BIN/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$BIN/esbuild}"
# Always into build/ (wrangler.toml's main); the strip step below works there.
worker-build --release

# worker-build keeps the wasm name section (function names, ~130 KB) for
# readable panic traces. This worker never panics by design, and the names
# count against the upload size limit, so strip them unless asked not to.
if [ "${KEEP_WASM_NAMES:-0}" != 1 ]; then
  features=(mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling)
  wasm-opt build/index_bg.wasm "${features[@]/#/--enable-}" --strip-debug --strip-producers -o build/index_bg.stripped.wasm
  mv build/index_bg.stripped.wasm build/index_bg.wasm
fi

#!/usr/bin/env bash
# Builds the worker (build/index.js + build/index_bg.wasm) fully offline.
#
# `--bench` builds the bench variant instead (`--features bench`: adds
# GET /__bench/verify and GET /__bench/panic) into bench/.build/edge-revoke-bench,
# with its own target dir so the two feature sets do not rebuild each other.
# The bench and the recovery e2e test use it; it keeps the wasm name section.
# worker-build would otherwise download wasm-bindgen, wasm-opt and esbuild; these
# variables point it at the versions installed by scripts/setup.sh instead.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/node_modules/.bin"
export PATH="$BIN:$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$BIN/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$BIN/esbuild}"
if [ "${1:-}" = --bench ]; then
  CARGO_TARGET_DIR="$PWD/bench/.build/target" worker-build --release \
    --out-dir bench/.build/edge-revoke-bench . --features bench
  exit 0
fi
# Always into build/ (wrangler.toml's main); the passes below work there.
worker-build --release

# A second wasm-opt run over worker-build's output: -Oz until nothing shrinks
# (--converge; 2 KB less gzip upload, 2026-12-02). worker-build keeps the wasm
# name section (function names, ~115 KB) for readable panic traces; this worker
# never panics by design and the names count against the upload size limit, so
# they are stripped too unless KEEP_WASM_NAMES=1 (size profiling).
features=(mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling)
strip=(--strip-debug --strip-producers)
# wasm-opt drops the name section unless -g keeps it.
[ "${KEEP_WASM_NAMES:-0}" = 1 ] && strip=(-g)
wasm-opt build/index_bg.wasm "${features[@]/#/--enable-}" -Oz --converge "${strip[@]}" -o build/index_bg.opt.wasm
mv build/index_bg.opt.wasm build/index_bg.wasm

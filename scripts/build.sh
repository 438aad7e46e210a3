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
exec worker-build --release "$@"

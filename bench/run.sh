#!/usr/bin/env bash
# The performance benchmark: `npm run bench`. Installs what it needs (once),
# builds every variant, then runs bench/bench.mjs, which prints the table and
# writes bench/results/<UTC date-time>.json. See docs/performance.md.
#
# Builds (cargo is incremental, so a second run only re-links what changed):
#   build/                      production build, exactly `bash scripts/build.sh`
#   bench/.build/edge-revoke    a snapshot of it, the worker that is measured
#   bench/.build/edge-revoke-named   the same build with its function names
#                               kept (KEEP_WASM_NAMES=1), for twiggy
#   bench/.build/edge-revoke-bench   the same crate with `--features bench`
#                               (adds GET /__bench/verify), own target dir
#   bench/.build/hello-rust     the hello-world Rust baseline (bench/hello-rust)
#   bench/.build/workers/jose-peer.js   the jose peer, bundled by esbuild
#   bench/.build/target/bench-native/edge-revoke-native-bench   native floor
#                               (the workspace's `bench-native` profile)
#
# BENCH_QUICK=1 runs every phase briefly (to try the harness, not to quote).
# BENCH_BUILD_ONLY=1 builds every variant and checks the harness, then stops
# without installing nginx/wrk or measuring (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$ROOT/node_modules/.bin"
export PATH="$BIN:$HOME/.cargo/bin:$PATH"
OUT="$ROOT/bench/.build"
log() { printf '[bench] %s\n' "$*" >&2; }
started=$(date +%s)

# 1. Toolchain (wasm32 target, worker-build, wasm-bindgen-cli, npm packages).
bash scripts/setup.sh

# 2. nginx (the origin) and wrk (the load generator), from Debian's packages.
BUILD_ONLY="${BENCH_BUILD_ONLY:-0}"
if [ "$BUILD_ONLY" != 1 ]; then
  missing=()
  command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    log "installing ${missing[*]} (apt)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # twiggy, the wasm size profiler behind the largest-contributors table.
  TWIGGY_VERSION=0.8.0
  if ! "$HOME/.cargo/bin/twiggy" --version 2>/dev/null | grep -q "$TWIGGY_VERSION"; then
    log "installing twiggy $TWIGGY_VERSION (takes a few minutes once)"
    cargo install twiggy --version "$TWIGGY_VERSION"
  fi
fi

# 3. The same build with function names (for twiggy), then the production
#    build, as deployed, and a snapshot of it for the run.
if [ "$BUILD_ONLY" != 1 ]; then
  log "build with function names (KEEP_WASM_NAMES=1 scripts/build.sh)"
  KEEP_WASM_NAMES=1 bash scripts/build.sh
  rm -rf "$OUT/edge-revoke-named"
  mkdir -p "$OUT/edge-revoke-named"
  cp -R build/. "$OUT/edge-revoke-named/"
fi
log "production build (scripts/build.sh)"
bash scripts/build.sh
rm -rf "$OUT/edge-revoke"
mkdir -p "$OUT/edge-revoke"
cp -R build/. "$OUT/edge-revoke/"

# 4. The bench variant (`--features bench`, its own target dir; see
#    scripts/build.sh --bench). Only /__bench/verify timings use it.
log "bench build (--features bench)"
bash scripts/build.sh --bench
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$BIN/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$BIN/esbuild}"

# 5. Hello-world Rust baseline (same worker and wasm-bindgen versions).
log "hello-world Rust build"
(cd bench/hello-rust && CARGO_TARGET_DIR="$OUT/target" worker-build --release --out-dir ../.build/hello-rust)
# The name section goes, as scripts/build.sh strips it from the worker.
features=(mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling)
wasm-opt "$OUT/hello-rust/index_bg.wasm" "${features[@]/#/--enable-}" --strip-debug --strip-producers \
  -o "$OUT/hello-rust/index_bg.stripped.wasm"
mv "$OUT/hello-rust/index_bg.stripped.wasm" "$OUT/hello-rust/index_bg.wasm"

# 6. jose peer, bundled for workerd.
log "jose peer bundle (esbuild)"
esbuild bench/workers/jose-peer.mjs --bundle --format=esm --platform=neutral \
  --main-fields=module,main --conditions=workerd,worker,browser --target=es2022 \
  --log-level=warning --outfile="$OUT/workers/jose-peer.js"

# 7. Native floor.
log "native bench build (cargo --profile bench-native)"
CARGO_TARGET_DIR="$OUT/target" cargo build --locked --quiet --profile bench-native -p edge-revoke-native-bench

if [ "$BUILD_ONLY" = 1 ]; then
  node --check bench/bench.mjs
  for f in bench/lib/*.mjs bench/workers/*.mjs scripts/lib/*.mjs; do node --check "$f"; done
  log "BENCH_BUILD_ONLY: every variant built in $(( $(date +%s) - started ))s; not measuring"
  exit 0
fi
log "builds ready after $(( $(date +%s) - started ))s; running the benchmark"
node bench/bench.mjs
log "done in $(( $(date +%s) - started ))s"

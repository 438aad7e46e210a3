#!/usr/bin/env bash
# Installs everything the build and tests need, and skips what is already present.
# Needs: rustup/cargo, Node >= 20, npm, and a C++ compiler for the tests
# (libfuzzer-sys, which `cargo test --workspace` builds). Everything else
# comes from the registries.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
log() { printf '[setup] %s\n' "$*" >&2; }

# 1. The wasm32 target.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# 2. worker-build, at the version this project is tested with.
if ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  log "installing worker-build $WORKER_BUILD_VERSION (takes a few minutes once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION"
fi

# 3. wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock.
#    No --locked: its own lockfile pins a crate version the registry does not serve.
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [ -z "$WB_VERSION" ]; then
  log "could not read the wasm-bindgen version from Cargo.lock"; exit 1
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WB_VERSION"; then
  log "installing wasm-bindgen-cli $WB_VERSION (takes a few minutes once)"
  cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi

# 4. Node 22, wrangler, esbuild, binaryen and jose, pinned in package-lock.json.
#    `npm install` rather than `npm ci`: the lockfile has no entries for other
#    platforms' optional workerd builds when the registry does not serve them,
#    and `npm ci` then refuses it as out of sync. `npm install` still installs
#    the locked versions. The stamp makes a second run free while the lockfile
#    is unchanged.
STAMP=node_modules/.package-lock.stamp
if [ ! -f "$STAMP" ] || ! cmp -s package-lock.json "$STAMP"; then
  log "installing npm packages"
  npm install --no-audit --no-fund
  cp package-lock.json "$STAMP"
fi
log "toolchain ready"

#!/usr/bin/env bash
# Runs every test: native unit and scenario tests, then the real wasm build
# under wrangler dev (workerd + local KV) against a recording stub origin.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

start=$(date +%s)
echo "== native tests (cargo test: core, scenarios, fuzz replays, test support)"
cargo test --workspace --locked

echo "== build (worker-build --release)"
bash scripts/build.sh

echo "== end-to-end tests (wrangler dev)"
node --test --test-concurrency=1 tests/e2e/*.test.mjs
echo "== all tests passed in $(( $(date +%s) - start ))s (after setup)"

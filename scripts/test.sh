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

echo "== build (worker-build --release), and the bench variant (tests/e2e/recovery)"
bash scripts/build.sh
bash scripts/build.sh --bench

echo "== API contract: lint docs/openapi.yaml"
REDOCLY_SUPPRESS_UPDATE_NOTICE=true redocly lint --config docs/redocly.yaml docs/openapi.yaml

echo "== end-to-end tests (wrangler dev), every response checked against docs/openapi.yaml"
node tests/e2e/contract-coverage.mjs --reset
node --test --test-concurrency=1 tests/e2e/*.test.mjs
echo "== API contract: every documented (route, status) exercised"
node tests/e2e/contract-coverage.mjs
echo "== all tests passed in $(( $(date +%s) - start ))s (after setup)"

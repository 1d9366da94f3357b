#!/usr/bin/env bash
# Every check, in order of cost: formatting, lints per target, cargo tests, no_std builds of
# core, the release build, and the browser suite in Chromium. Run it through `make test`, which
# installs the tools first and puts the right wasm-opt on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says how long the run has taken so far, so a slow step shows in the CI log.
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "crate graph: core, kite and kite-sim depend only on what ARCHITECTURE.md allows"
.ci/crate-graph.sh

step "clippy: server (ssr), app (hydrate, wasm32), core (no default features)"
cargo clippy --locked -p marketwarden-server -p marketwarden-kite -p kite-sim -p marketwarden-testkit \
  --all-targets -- -D warnings
cargo clippy --locked -p marketwarden-app --lib --target wasm32-unknown-unknown \
  --no-default-features --features hydrate -- -D warnings
cargo clippy --locked -p marketwarden-core --lib --no-default-features -- -D warnings
cargo clippy --locked -p marketwarden-core --all-targets -- -D warnings

step "cargo test --workspace"
cargo test --locked --workspace

step "wire compatibility: the official Python client kiteconnect against kite-sim"
target/kite-venv/bin/python server/tests/kiteconnect_compat.py target/debug/marketwarden

step "core without std: wasm32-unknown-unknown and x86_64-unknown-none"
cargo build --locked -p marketwarden-core --no-default-features --target wasm32-unknown-unknown
cargo build --locked -p marketwarden-core --no-default-features --target x86_64-unknown-none

step "release build: server and browser bundle (.ci/build.sh, as make build)"
.ci/build.sh

step "browser suite (Playwright, Chromium)"
status=0
(cd end2end && npx playwright test) || status=$?
# CI reads "N passed, N failed" lines; Playwright's own summary is in another form.
node -e '
  const stats = require("./end2end/test-results/results.json").stats;
  console.log(`browser suite: ${stats.expected} passed, ${stats.unexpected + stats.flaky} failed`);
' || echo "browser suite: 0 passed, 1 failed (no results file)"
step "done"
exit "$status"

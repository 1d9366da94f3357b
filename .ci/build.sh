#!/usr/bin/env bash
# The release build: the server binary `target/release/marketwarden` and the browser bundle in
# `target/site`, with cargo, the pinned wasm-bindgen CLI and wasm-opt. It writes what `cargo
# leptos build --release` writes (same file names), without compiling
# cargo-leptos first (20 minutes on a fresh 2-core machine). The workspace keeps its cargo-leptos
# metadata, so `cargo leptos watch` still works for whoever installs it.
# Run it through `make build` (which installs the tools and puts the right wasm-opt on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

site=target/site
pkg=$site/pkg
name=marketwarden

echo "==> server: cargo build --release"
cargo build --locked --release -p marketwarden-server --bin marketwarden

echo "==> browser bundle: marketwarden-app (hydrate) for wasm32, profile wasm-release"
cargo build --locked -p marketwarden-app --lib --target wasm32-unknown-unknown \
  --no-default-features --features hydrate --profile wasm-release

# Written beside the live site and swapped in at the end, so a failed build leaves the old bundle.
mkdir -p target
next=$(mktemp -d "target/site-next.XXXXXX")
chmod 755 "$next"
trap 'rm -rf "$next"' EXIT
mkdir -p "$next/pkg"
wasm-bindgen --target web --out-name "$name" --out-dir "$next/pkg" \
  target/wasm32-unknown-unknown/wasm-release/marketwarden_app.wasm
# The name the page asks for (cargo-leptos renames it the same way).
mv "$next/pkg/${name}_bg.wasm" "$next/pkg/$name.wasm"
# cargo-leptos's flags plus `--converge` (passes until nothing shrinks, ~30 s) and the producers
# section dropped: 0.1 % smaller, which keeps the bundle under its 200 KB goal (BENCHMARKS.md).
wasm-opt -Oz --converge --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int \
  "$next/pkg/$name.wasm" -o "$next/pkg/$name.wasm"
cp style/main.css "$next/pkg/$name.css"
cp -R public/. "$next/"

rm -rf "$site"
mv "$next" "$site"
trap - EXIT
wasm=$pkg/$name.wasm
printf 'browser bundle: %s bytes raw, %s bytes gzip\n' \
  "$(stat -c %s "$wasm")" "$(gzip -9 -c "$wasm" | wc -c)"

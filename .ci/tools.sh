#!/usr/bin/env bash
# Installs every tool the build and the tests need, from the package registries only, once.
# A second run checks and prints nothing. `--browser` also installs Debian's Chromium.
# cargo-leptos is not one of them: .ci/build.sh does its release build with cargo, wasm-bindgen
# and wasm-opt (20 minutes less on a fresh machine); install it yourself for `cargo leptos watch`.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_OPT_MIN_VERSION=116

say() { printf '==> %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif have sudo; then sudo "$@"; else
    echo "error: '$*' needs root; run it once as root, then rerun make" >&2
    exit 1
  fi
}

apt_install() {
  say "installing Debian packages: $* (a minute or two)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# The version wasm-bindgen has in Cargo.lock: the CLI must be exactly the same.
locked_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

# Rust targets: the browser bundle, and a bare-metal target that proves core is no_std.
for target in wasm32-unknown-unknown x86_64-unknown-none; do
  if ! rustup target list --installed | grep -qx "$target"; then
    say "adding Rust target $target"
    rustup target add "$target"
  fi
done
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    say "adding Rust component $component"
    rustup component add "$component"
  fi
done

bindgen_version=$(locked_version wasm-bindgen)
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $bindgen_version"; then
  say "installing wasm-bindgen-cli $bindgen_version, the version in Cargo.lock (about 2 minutes)"
  cargo install wasm-bindgen-cli --locked --version "$bindgen_version"
fi

if ! have node || ! have npm; then
  apt_install nodejs npm
fi
# Playwright and wasm-opt (npm binaryen), exactly as end2end/package-lock.json pins them.
if [ ! -f end2end/node_modules/.package-lock.json ] ||
  [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  say "installing end2end npm packages (Playwright, binaryen's wasm-opt)"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

# An old wasm-opt (Debian's 108) builds fine and silently breaks hydration: refuse it.
wasm_opt_version=$(PATH="$PWD/end2end/node_modules/.bin:$PATH" wasm-opt --version | grep -o '[0-9]\+' | head -n 1)
if [ "${wasm_opt_version:-0}" -lt "$WASM_OPT_MIN_VERSION" ]; then
  echo "error: wasm-opt $wasm_opt_version found first on PATH; $WASM_OPT_MIN_VERSION or later is needed" >&2
  exit 1
fi

if [ "${1:-}" = "--browser" ]; then
  if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium
  fi
  # The official Python Kite client, to check the simulator's wire compatibility.
  KITECONNECT_VERSION=5.2.2
  venv=target/kite-venv
  if ! "$venv/bin/python" -c "import kiteconnect" 2>/dev/null; then
    say "installing kiteconnect $KITECONNECT_VERSION from PyPI into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kiteconnect==$KITECONNECT_VERSION"
  fi
fi

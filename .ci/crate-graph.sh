#!/usr/bin/env bash
# The crate graph's invariants (ARCHITECTURE.md, "Crates"), checked on the locked dependency tree:
# - core (calendar and priority, also in the browser) depends on chrono, chrono-tz and serde only;
# - marketwarden-kite (the wire) depends on core and no other workspace crate;
# - kite-sim knows only the wire and core: never the server, its machines or the app.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every package `$1` depends on, directly or not, as "name" lines (normal and build edges).
all_deps() {
  cargo tree --locked -p "$1" -e normal,build --prefix none --format '{p}' |
    awk '{ print $1 }' | sort -u | grep -vx "$1"
}

# The packages `$1` depends on directly.
direct_deps() {
  cargo tree --locked -p "$1" -e normal,build --depth 1 --prefix none --format '{p}' |
    awk '{ print $1 }' | sort -u | grep -vx "$1"
}

failed=0
refuse() {
  echo "crate graph: $*" >&2
  failed=1
}

core_extra=$(direct_deps marketwarden-core | grep -vxE 'chrono|chrono-tz|serde' || true)
[ -z "$core_extra" ] || refuse "marketwarden-core may depend on chrono, chrono-tz and serde only, not: $core_extra"

kite_workspace=$(all_deps marketwarden-kite | grep -E '^(marketwarden-|kite-sim$)' |
  grep -vx marketwarden-core || true)
[ -z "$kite_workspace" ] || refuse "marketwarden-kite may depend on marketwarden-core only, not: $kite_workspace"

sim_workspace=$(all_deps kite-sim | grep -E '^marketwarden-' |
  grep -vxE 'marketwarden-core|marketwarden-kite' || true)
[ -z "$sim_workspace" ] || refuse "kite-sim may depend on marketwarden-core and marketwarden-kite only, not: $sim_workspace"

if [ "$failed" -ne 0 ]; then
  echo "crate graph: 0 passed, 1 failed"
  exit 1
fi
echo "crate graph: core → {chrono, chrono-tz, serde}; kite → core; kite-sim → kite, core"
echo "crate graph: 3 passed, 0 failed"

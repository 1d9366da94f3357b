#!/usr/bin/env bash
# SSE fan-out: CLIENTS browsers hold /api/system/events; a login changes the auth state; every
# client must get the event. Prints delivery p50/p99 and the server's RSS with the clients held.
#   server/benches/sse_fanout.sh [CLIENTS]   # default 2000
set -euo pipefail
cd "$(dirname "$0")/../.."
clients="${1:-2000}"
cargo build --release --quiet --bin marketwarden --example sse_fanout -p marketwarden-server
logs="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$logs"' EXIT
./target/release/marketwarden serve --addr 127.0.0.1:0 --env-file "$logs/.env" \
  --clock-start 2026-11-30T10:00:00+05:30 >"$logs/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$logs/server.log" && break; sleep 0.1; done
base="$(grep -o 'listening on http://[^ ]*' "$logs/server.log" | head -1 | sed 's/listening on //')"
echo "server RSS before: $(awk '/VmRSS/ {print $2 " kB"}' /proc/$pid/status)"
./target/release/examples/sse_fanout "$base" "$clients" '"state":"valid"' >"$logs/fanout.log" &
fanout=$!
for _ in $(seq 600); do grep -q '^ready' "$logs/fanout.log" && break; sleep 0.1; done
cat "$logs/fanout.log"
echo "server RSS with $clients clients: $(awk '/VmRSS/ {print $2 " kB"}' /proc/$pid/status)"
python3 server/benches/login.py "$base"
wait "$fanout"
tail -1 "$logs/fanout.log"

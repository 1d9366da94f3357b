#!/usr/bin/env bash
# Server memory at idle: the release server with the embedded simulator, logged in, the clock in
# LIVE, one ticker connection streaming 100 instruments. Prints VmRSS after it settles.
#   server/benches/memory.sh [SECONDS]   # default 20
set -euo pipefail
cd "$(dirname "$0")/../.."
settle="${1:-20}"
cargo build --release --quiet --bin marketwarden -p marketwarden-server
instruments="$(python3 -c 'print(",".join(f"{738561 + 256 * i}:full" for i in range(100)))')"
logs="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$logs"' EXIT
./target/release/marketwarden serve --addr 127.0.0.1:0 --env-file "$logs/.env" \
  --clock-start 2026-11-30T10:00:00+05:30 --feed-instruments "$instruments" >"$logs/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$logs/server.log" && break; sleep 0.1; done
base="$(grep -o 'listening on http://[^ ]*' "$logs/server.log" | head -1 | sed 's/listening on //')"
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$pid/status"; }
echo "started, not logged in: $(rss)"
python3 server/benches/login.py "$base"
sleep "$settle"
state="$(curl -s "$base/api/system/health/feed" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], len(d["instruments"]), "instruments")')"
echo "after ${settle} s streaming ($state): $(rss)"

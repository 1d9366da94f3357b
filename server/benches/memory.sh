#!/usr/bin/env bash
# Server memory at idle: the release server with the embedded simulator, logged in, the clock in
# LIVE, one ticker connection streaming 100 instruments. Prints VmRSS after it settles.
#   server/benches/memory.sh [SECONDS]   # default 20
set -euo pipefail
cd "$(dirname "$0")/../.."
settle="${1:-20}"
cargo build --release --quiet --bin marketwarden -p marketwarden-server
instruments="$(python3 -c 'print(",".join(f"{738561 + 256 * i}:full" for i in range(100)))')"
source server/benches/common.sh
start_server --feed-instruments "$instruments"
pid="$server_pid"
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$pid/status"; }
echo "started, not logged in: $(rss)"
python3 server/benches/login.py "$base"
sleep "$settle"
state="$(curl -s "$base/api/system/health/feed" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], len(d["instruments"]), "instruments")')"
echo "after ${settle} s streaming ($state): $(rss)"

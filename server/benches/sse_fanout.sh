#!/usr/bin/env bash
# SSE fan-out: CLIENTS browsers hold /api/system/events; a login changes the auth state; every
# client must get the event. Prints delivery p50/p99 and the server's RSS with the clients held.
#   server/benches/sse_fanout.sh [CLIENTS]   # default 2000
set -euo pipefail
cd "$(dirname "$0")/../.."
clients="${1:-2000}"
cargo build --release --quiet --bin marketwarden --example sse_fanout -p marketwarden-server
source server/benches/common.sh
start_server
pid="$server_pid"
echo "server RSS before: $(awk '/VmRSS/ {print $2 " kB"}' /proc/$pid/status)"
./target/release/examples/sse_fanout "$base" "$clients" '"state":"valid"' >"$logs/fanout.log" &
fanout=$!
for _ in $(seq 600); do grep -q '^ready' "$logs/fanout.log" && break; sleep 0.1; done
cat "$logs/fanout.log"
echo "server RSS with $clients clients: $(awk '/VmRSS/ {print $2 " kB"}' /proc/$pid/status)"
python3 server/benches/login.py "$base"
wait "$fanout"
tail -1 "$logs/fanout.log"

#!/usr/bin/env bash
# What abusive clients cost (issue 14): /livez latency with 1,100 idle connections, RSS with 10
# /ws/market clients sending an endless message, SIGTERM time with a half-sent request. The
# release server, logged in to the embedded simulator, in LIVE, under a 4,096-descriptor limit.
#   server/benches/hygiene.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet --bin marketwarden -p marketwarden-server
ulimit -n 4096
source server/benches/common.sh
start_server
python3 server/benches/login.py "$base"
sleep 2
python3 server/benches/hygiene.py "$base" "$server_pid"

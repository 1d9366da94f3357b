#!/usr/bin/env bash
# Health under load while the feed streams: 10,000 req/s of GET /api/system/health for DURATION
# (oha, fixed rate), with a browser on /ws/market measuring the gaps between tick frames before
# and during the load. Zero errors expected, and the gaps unchanged.
#   server/benches/load_with_feed.sh [SECONDS]   # default 60
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"
command -v oha >/dev/null || { echo "oha is not installed: cargo install oha --locked" >&2; exit 1; }
cargo build --release --quiet --bin marketwarden --example tick_watch -p marketwarden-server
source server/benches/common.sh
start_server
python3 server/benches/login.py "$base"
sleep 2
echo "before the load:  $(./target/release/examples/tick_watch "$base" 20)"
./target/release/examples/tick_watch "$base" "$seconds" >"$logs/during.txt" &
watcher=$!
oha --no-tui -c 64 -q 10000 -z "${seconds}s" --output-format json "$base/api/system/health" >"$logs/oha.json"
wait "$watcher"
echo "during the load:  $(cat "$logs/during.txt")"
python3 - "$logs/oha.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
summary, percentiles = data["summary"], data["latencyPercentiles"]
print(f"health: {summary['requestsPerSec']:.0f} req/s, success {summary['successRate']*100:.2f}%, "
      f"p99 {percentiles['p99']*1000:.3f} ms, codes {data.get('statusCodeDistribution', {})}")
PY

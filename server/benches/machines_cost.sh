#!/usr/bin/env bash
# The orchestration's own cost: memory and CPU of `marketwarden serve` (auth machine and feed
# watchdog running, logged in, LIVE, one ticker connection streaming 100 instruments in full
# mode) against the same work without the machines (server/examples/without_machines.rs: the
# embedded simulator, one login, one ticker connection decoded in a plain loop, the same HTTP
# app). Both run side by side and are measured over the same windows, so the machine's other
# load touches both alike.
#   server/benches/machines_cost.sh [SECONDS] [ROUNDS]   # default 60 s, 3 rounds
set -euo pipefail
cd "$(dirname "$0")/../.."
window="${1:-60}"
rounds="${2:-3}"
cargo build --release --quiet --bin marketwarden -p marketwarden-server
cargo build --release --quiet --example without_machines -p marketwarden-server
instruments="$(python3 -c 'print(",".join(f"{738561 + 256 * i}:full" for i in range(100)))')"
source server/benches/common.sh
ticks_per_second="$(getconf CLK_TCK)"

start_server --feed-instruments "$instruments"
python3 server/benches/login.py "$base"
./target/release/examples/without_machines "$instruments" >"$logs/baseline.log" 2>&1 &
baseline_pid=$!
address_of "$logs/baseline.log" >/dev/null
sleep 15
feed="$(curl -s "$base/api/system/health/feed" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], len(d["instruments"]))')"
echo "feed of marketwarden serve: $feed instruments"

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
for round in $(seq "$rounds"); do
  serve_before="$(cpu "$server_pid")"
  base_before="$(cpu "$baseline_pid")"
  sleep "$window"
  serve_ticks=$(($(cpu "$server_pid") - serve_before))
  base_ticks=$(($(cpu "$baseline_pid") - base_before))
  python3 -c "
hz, window = $ticks_per_second, $window
serve, base = $serve_ticks / hz, $base_ticks / hz
print(f'round $round: with the machines {100 * serve / window:.3f} % of a core, RSS {$(rss "$server_pid") / 1024:.1f} MB;'
      f' without {100 * base / window:.3f} %, RSS {$(rss "$baseline_pid") / 1024:.1f} MB;'
      f' difference {100 * (serve - base) / window:+.3f} points')
"
done

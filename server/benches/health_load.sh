#!/usr/bin/env bash
# Load benchmark of GET /api/system/health: the real server (simulated broker, clock in LIVE)
# against a bare axum handler returning a constant body of the same size, in the same run, with
# `oha` at 64 connections. Goal: ≥ 0.8× the bare throughput and p99 < 5 ms.
#
#   cargo install oha --locked      # once (crates.io)
#   server/benches/health_load.sh [DURATION]   # default 10s
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-10s}"
command -v oha >/dev/null || { echo "oha is not installed: cargo install oha --locked" >&2; exit 1; }
cargo build --release --quiet --bin marketwarden --example bare_axum -p marketwarden-server

source server/benches/common.sh
start_server
./target/release/examples/bare_axum >"$logs/bare.log" 2>&1 &
server="$base"
bare="$(address_of "$logs/bare.log")"

measure() { # name url
  oha --no-tui -c 64 -z "$duration" --output-format json "$2/api/system/health" >"$logs/$1.json"
  python3 - "$1" "$logs/$1.json" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
data = json.load(open(path))
summary, percentiles = data["summary"], data["latencyPercentiles"]
codes = data.get("statusCodeDistribution", {})
print(f"{name:>12}: {summary['requestsPerSec']:9.0f} req/s  p50 {percentiles['p50']*1000:6.3f} ms"
      f"  p99 {percentiles['p99']*1000:6.3f} ms  success {summary['successRate']*100:.1f}%  codes {codes}")
PY
}
measure bare "$bare"
measure health "$server"
measure bare-again "$bare"

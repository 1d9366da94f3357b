# Shared by the benchmark scripts: a scratch folder removed on exit (with every background job
# stopped), and the release server in LIVE with the embedded simulator. Source it from the
# repository root.

logs="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$logs"' EXIT

# address_of LOG: the http://ADDR a process printed as "listening on http://ADDR" (10 s at most).
address_of() {
  for _ in $(seq 100); do
    if grep -q 'listening on http://' "$1"; then
      grep -o 'listening on http://[^ ]*' "$1" | head -1 | sed 's/listening on //'
      return
    fi
    sleep 0.1
  done
  echo "no address in $1" >&2
  exit 1
}

# start_server [FLAG...]: marketwarden serve on a free port, clock at Monday 10:00 IST (LIVE),
# with its own env file; sets $server_pid and $base.
start_server() {
  touch "$logs/.env"
  ./target/release/marketwarden serve --broker simulated --addr 127.0.0.1:0 --env-file "$logs/.env" \
    --clock-start 2026-11-30T10:00:00+05:30 "$@" >"$logs/server.log" 2>&1 &
  server_pid=$!
  base="$(address_of "$logs/server.log")"
}

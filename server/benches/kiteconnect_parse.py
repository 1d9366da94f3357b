"""The official Python client's frame parser on the same frame as `--bench frames`.

    MARKETWARDEN_WRITE_BENCH_FRAME=/tmp/frame200.bin cargo bench -p marketwarden-server --bench frames
    target/kite-venv/bin/python server/benches/kiteconnect_parse.py /tmp/frame200.bin
"""

import sys
import time

import kiteconnect
from kiteconnect import KiteTicker

frame = open(sys.argv[1], "rb").read()
ticker = KiteTicker("api_key", "access_token")
ticks = ticker._parse_binary(frame)
assert len(ticks) == 200, len(ticks)
assert ticks[0]["mode"] == "full" and len(ticks[0]["depth"]["buy"]) == 5
runs = 2000
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    for _ in range(runs):
        ticker._parse_binary(frame)
    best = min(best, (time.perf_counter() - start) / runs)
print(
    f"kiteconnect {kiteconnect.__version__.__version__} _parse_binary: "
    f"{best * 1e6:.1f} us per 200-packet frame (best of 5 x {runs})"
)

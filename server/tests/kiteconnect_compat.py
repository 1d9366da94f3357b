"""Wire compatibility: the official Python client `kiteconnect` against `marketwarden kite-sim`.

Logs in through the simulator's HTML form (as a script would, without JavaScript), exchanges the
request token with KiteConnect.generate_session, reads the profile, then connects KiteTicker,
subscribes, switches modes and checks the decoded ticks. Exits non-zero on any mismatch.

Usage: python kiteconnect_compat.py path/to/marketwarden
"""

import subprocess
import sys
import threading
import urllib.parse
import urllib.request

from kiteconnect import KiteConnect, KiteTicker

API_KEY = "marketwarden_sim"
API_SECRET = "marketwarden_sim_secret"
RELIANCE, NIFTY_50 = 738561, 256265
# Monday 2026-11-30, 10:00 IST: the simulated market is live.
CLOCK_START = "2026-11-30T10:00:00+05:30"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def start_simulator(binary):
    sim = subprocess.Popen(
        [binary, "kite-sim", "--addr", "127.0.0.1:0", "--clock-start", CLOCK_START],
        stdout=subprocess.PIPE,
        text=True,
    )
    urls = {}
    while len(urls) < 3:
        line = sim.stdout.readline()
        if not line:
            raise SystemExit("kite-sim exited before printing its URLs")
        name, _, url = line.strip().partition(": ")
        if name in ("rest", "login", "ticker"):
            urls[name] = url
    # Keep draining its output so it never blocks on a full pipe.
    threading.Thread(target=sim.stdout.read, daemon=True).start()
    return sim, urls


def log_in(kite, state):
    login_url = kite.login_url() + "&redirect_params=" + urllib.parse.quote("state=" + state)
    page = urllib.request.urlopen(login_url).read().decode()
    assert '<form method="post" action="/connect/login">' in page, page
    form = urllib.parse.urlencode(
        {"api_key": API_KEY, "redirect_params": "state=" + state, "user_id": "MW0001",
         "password": "demo", "action": "login"}
    ).encode()
    opener = urllib.request.build_opener(NoRedirect)
    action = urllib.parse.urljoin(login_url, "/connect/login")
    try:
        opener.open(action, data=form)
        raise SystemExit("login form did not redirect")
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 302, redirect.code
        query = urllib.parse.parse_qs(urllib.parse.urlparse(redirect.headers["Location"]).query)
    assert query["status"] == ["success"], query
    assert query["state"] == [state], query
    return query["request_token"][0]


def main():
    sim, urls = start_simulator(sys.argv[1])
    try:
        kite = KiteConnect(api_key=API_KEY, root=urls["rest"])
        kite._default_login_uri = urls["login"]
        request_token = log_in(kite, "compat-check")
        session = kite.generate_session(request_token, api_secret=API_SECRET)
        assert session["user_id"] == "MW0001", session
        access_token = session["access_token"]
        kite.set_access_token(access_token)
        assert kite.profile()["user_name"] == "Demo Trader"

        seen = {"quote": False, "full": False, "index": False}
        done = threading.Event()
        ticker = KiteTicker(API_KEY, access_token, root=urls["ticker"], reconnect=False)

        def on_connect(ws, response):
            ws.subscribe([RELIANCE, NIFTY_50])

        def on_ticks(ws, ticks):
            for tick in ticks:
                token, mode = tick["instrument_token"], tick["mode"]
                if token == RELIANCE and mode == "quote" and not seen["quote"]:
                    assert "ohlc" in tick and tick["volume_traded"] >= 0, tick
                    seen["quote"] = True
                    ws.set_mode(ws.MODE_FULL, [RELIANCE, NIFTY_50])
                elif token == RELIANCE and mode == "full":
                    depth = tick["depth"]
                    assert len(depth["buy"]) == 5 and len(depth["sell"]) == 5, tick
                    assert depth["buy"][0]["price"] < tick["last_price"] < depth["sell"][0]["price"], tick
                    assert 1000 < tick["last_price"] < 1600, tick
                    seen["full"] = True
                elif token == NIFTY_50 and mode == "full":
                    assert tick["tradable"] is False and "depth" not in tick, tick
                    assert 20000 < tick["last_price"] < 28000, tick
                    seen["index"] = True
            if all(seen.values()) and not done.is_set():
                done.set()
                ws.close()

        def on_error(ws, code, reason):
            print("ticker error:", code, reason, file=sys.stderr)

        ticker.on_connect = on_connect
        ticker.on_ticks = on_ticks
        ticker.on_error = on_error
        ticker.connect(threaded=True)
        if not done.wait(timeout=30):
            raise SystemExit(f"ticks not all seen: {seen}")
        kite.invalidate_access_token(access_token)
        print("kiteconnect compatibility: 1 passed, 0 failed")
    finally:
        sim.terminate()
        sim.wait(timeout=10)


if __name__ == "__main__":
    main()

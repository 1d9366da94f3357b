"""Logs the demo user in to a marketwarden server that runs the embedded simulator, over plain
HTTP as a browser without JavaScript would. Usage: login.py http://127.0.0.1:PORT"""
import html
import re
import sys
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


opener = urllib.request.build_opener(NoRedirect)


def fetch(url, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        return opener.open(request)
    except urllib.error.HTTPError as answer:  # 3xx arrive here without redirects
        return answer


base = sys.argv[1].rstrip("/")
start = fetch(f"{base}/auth/login")
cookie = start.headers["Set-Cookie"].split(";")[0]
login_url = start.headers["Location"]
page = fetch(login_url).read().decode()
hidden = html.unescape(re.search(r'name="redirect_params" value="([^"]*)"', page).group(1))
sim_root = login_url.split("/connect/login")[0]
form = urllib.parse.urlencode(
    {"api_key": "marketwarden_sim", "redirect_params": hidden, "user_id": "MW0001",
     "password": "demo", "action": "login"}
).encode()
submitted = fetch(f"{sim_root}/connect/login", data=form)
done = fetch(submitted.headers["Location"], headers={"Cookie": cookie})
if done.status != 303:
    sys.exit(f"login failed: {done.status}")

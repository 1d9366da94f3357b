"""What abusive clients cost the release server (issue 14's figures), against a running
`marketwarden serve` at BASE (logged in, in LIVE) with process id PID:
  - /livez latency while 1,100 idle TCP connections are open;
  - RSS with 10 /ws/market clients that each send the start of an endless message;
  - the time SIGTERM takes with one half-sent request open.
Usage: hygiene.py BASE PID"""
import os
import signal
import socket
import statistics
import sys
import time

base = sys.argv[1].rstrip("/")
pid = int(sys.argv[2])
host, port = base.removeprefix("http://").rsplit(":", 1)
port = int(port)


def rss_kb():
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def livez_ms():
    began = time.perf_counter()
    with socket.create_connection((host, port), timeout=10) as client:
        client.sendall(f"GET /livez HTTP/1.1\r\nhost: {host}:{port}\r\nconnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
    return (time.perf_counter() - began) * 1000


def percentile(values, share):
    values = sorted(values)
    return values[min(len(values) - 1, int(share * len(values)))]


baseline = [livez_ms() for _ in range(200)]
idle = []
for _ in range(1100):
    idle.append(socket.create_connection((host, port), timeout=10))
time.sleep(1)
loaded = [livez_ms() for _ in range(200)]
print(f"/livez, no other client: median {statistics.median(baseline):.2f} ms, p99 {percentile(baseline, 0.99):.2f} ms")
print(f"/livez with 1,100 idle connections open: median {statistics.median(loaded):.2f} ms, "
      f"p99 {percentile(loaded, 0.99):.2f} ms")
time.sleep(11)
still_open = 0
for connection in idle:
    connection.setblocking(False)
    try:
        still_open += connection.recv(1) != b""
    except BlockingIOError:
        still_open += 1
    except OSError:
        pass
    connection.close()
print(f"idle connections still open after 11 s: {still_open} of 1100")

before = rss_kb()
abusive = []
for _ in range(10):
    client = socket.create_connection((host, port), timeout=10)
    client.sendall(
        (f"GET /ws/market HTTP/1.1\r\nhost: {host}:{port}\r\nupgrade: websocket\r\n"
         "connection: upgrade\r\nsec-websocket-version: 13\r\n"
         "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
    client.recv(4096)
    # A text frame without FIN, 60 KiB, then continuation frames of 60 KiB: an endless message.
    frame_head = lambda opcode: bytes([opcode, 0xFE]) + (60 * 1024).to_bytes(2, "big") + b"\0\0\0\0"
    try:
        client.sendall(frame_head(0x01) + b"x" * 60 * 1024)
        for _ in range(1000):
            client.sendall(frame_head(0x00) + b"x" * 60 * 1024)
    except OSError:
        pass  # closed by the server: what it should do
    abusive.append(client)
time.sleep(1)
print(f"RSS with 10 abusive /ws/market clients: {rss_kb()} kB (before: {before} kB)")
for client in abusive:
    client.close()

half = socket.create_connection((host, port), timeout=10)
half.sendall(f"GET /api/system/health HTTP/1.1\r\nhost: {host}:{port}\r\n".encode())
time.sleep(0.2)
began = time.perf_counter()
os.kill(pid, signal.SIGTERM)
while True:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    try:
        if open(f"/proc/{pid}/status").read().find("State:\tZ") >= 0:
            break
    except FileNotFoundError:
        break
    time.sleep(0.01)
print(f"SIGTERM with a half-sent request open: exited in {time.perf_counter() - began:.2f} s")

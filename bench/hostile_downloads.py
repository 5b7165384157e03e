"""Time and peak memory of ``net.download`` against hostile servers, with the default limits.

    python bench/hostile_downloads.py [--timeout 60]

A loopback server (its own process, so its memory is not counted) offers:
``bomb`` (1 GiB of zeros gzip-encoded, ~1 MB on the wire), ``endless`` (a chunked
body that never ends), ``liar`` (Content-Length of 10 TB), ``trickle`` (one byte a
second after honest headers), ``headers`` (the headers themselves, one byte a
second). Each download runs in its own child process with the deployment's
default limits (only ``HARVEST_ALLOW_HOSTS=127.0.0.1`` set); the table shows the
wall time, the child's peak RSS, the outcome and whether anything was left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

SERVER = r'''
import gzip, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BOMB = gzip.compress(b"\0" * (1 << 30), compresslevel=9)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        try:
            if self.path == "/bomb":
                self.send_response(200); self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(BOMB))); self.end_headers(); self.wfile.write(BOMB)
            elif self.path == "/endless":
                self.send_response(200); self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
                chunk = b"1,2\n" * 16384
                while True:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            elif self.path == "/liar":
                self.send_response(200); self.send_header("Content-Length", str(10**13)); self.end_headers()
                while True:
                    self.wfile.write(b"x" * 65536)
            elif self.path == "/trickle":
                self.send_response(200); self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
                while True:
                    self.wfile.write(b"1\r\nx\r\n"); self.wfile.flush(); time.sleep(1)
            elif self.path == "/headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n"); self.wfile.flush()
                while True:
                    self.wfile.write(b"X"); self.wfile.flush(); time.sleep(1)
        except OSError:
            pass
s = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
s.daemon_threads = True
print("ready", flush=True)
s.serve_forever()
'''

CLIENT = r'''
import json, resource, sys, tempfile, time
from pathlib import Path
from harvesters import net
from harvesters.errors import HarvestError
from harvesters.settings import Settings
url, timeout = sys.argv[1], float(sys.argv[2])
start = time.monotonic()
folder = Path(tempfile.mkdtemp())
try:
    net.download(url, folder / "f", http=net.session(Settings.from_env()), timeout=timeout, attempts=1)
    outcome = "ACCEPTED"
except HarvestError as exc:
    outcome = str(exc)
print(json.dumps({"seconds": round(time.monotonic() - start, 1),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                  "left_behind": [p.name for p in folder.iterdir()], "outcome": outcome}, ensure_ascii=False))
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="the source's timeout (default 60, as configs)")
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)  # (its hung-up connections)
    try:
        server.stdout.readline()  # "ready" (after compressing the bomb)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARVEST_")}
        env["HARVEST_ALLOW_HOSTS"] = "127.0.0.1"
        print(f"{'case':<8} {'seconds':>8} {'peak RSS MB':>12}  outcome")
        for case in ("bomb", "endless", "liar", "trickle", "headers"):
            out = subprocess.run([sys.executable, "-c", CLIENT, f"http://127.0.0.1:{port}/{case}", str(args.timeout)],
                                 capture_output=True, text=True, env=env, check=True).stdout
            row = json.loads(out)
            left = f" LEFT: {row['left_behind']}" if row["left_behind"] else ""
            print(f"{case:<8} {row['seconds']:>8} {row['peak_rss_mb']:>12}  {row['outcome'][:110]}{left}")
    finally:
        server.kill()
        server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

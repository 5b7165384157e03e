"""Loopback servers that count traffic: a fake agency web server, and a proxy in front of the portal.

Both bind 127.0.0.1 on a spare port and run in daemon threads of the bench process;
``stop()`` closes them. Counters are reset before each measured run.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class AgencySite:
    """Serves a folder like an agency's web server (Last-Modified, If-Modified-Since → 304),
    counting requests, response body bytes, and the most requests it was serving at once
    (``peak``: what a per-host pool must bound). ``delay`` seconds per request stand in for
    a slow agency server, so that requests overlap when nothing holds them back."""

    def __init__(self, folder: Path, delay: float = 0.0):
        site = self
        self.requests = 0
        self.bytes_down = 0
        self.active = self.peak = 0
        self.delay = delay
        self.folder = folder
        self._lock = threading.Lock()

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                with site._lock:
                    site.active += 1
                    site.peak = max(site.peak, site.active)
                self.counted = True
                try:
                    if site.delay:
                        time.sleep(site.delay)
                    super().do_GET()
                finally:
                    self._done()

            def _done(self) -> None:
                if self.counted:
                    self.counted = False
                    with site._lock:
                        site.active -= 1

            def send_response(self, code, message=None):
                self._status = code
                super().send_response(code, message)

            def end_headers(self):
                # An answer without a file body (404 for robots.txt, 304 Not Modified) is complete
                # once its headers and error page leave: it stops counting before they do, as in
                # copyfile, or the client's next request (on a new connection) could overlap it.
                if getattr(self, "_status", 200) != 200:
                    self._done()
                super().end_headers()

            def send_head(self):
                with site._lock:
                    site.requests += 1
                return super().send_head()

            def copyfile(self, source, outputfile):
                # The request stops counting as active before its last bytes leave: once the client
                # has the whole answer it may send its next request (a fetch asks for robots.txt,
                # then the file), and that must not overlap this one in ``peak``.
                body = source.read()
                with site._lock:
                    site.bytes_down += len(body)
                self._done()
                outputfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def age(self, seconds: float = 3600) -> None:
        """Date every file back ``seconds``, as an agency's files last changed some time ago: a
        Last-Modified within a second of the answer's Date is no validator (RFC 9110 8.8.2.2), so
        files written just before the first harvest would be downloaded again on the unchanged run."""
        then = time.time() - seconds
        for path in self.folder.rglob("*"):
            if path.is_file():
                os.utime(path, (then, then))

    def reset(self) -> None:
        with self._lock:
            self.requests = self.bytes_down = self.peak = 0

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class CountingProxy:
    """A TCP proxy to ``target`` (host, port) counting bytes each way, and HTTP requests
    (request heads in the client's stream; bodies skipped by Content-Length)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.bytes_up = self.bytes_down = self.requests = self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.bytes_up = self.bytes_down = self.requests = self.connections = 0

    def stop(self) -> None:
        self._running = False
        self._listener.close()

    def _accept(self) -> None:
        while self._running:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        parser = _RequestCounter() if upstream else None
        try:
            while data := src.recv(1 << 16):
                dst.sendall(data)
                with self._lock:
                    if upstream:
                        self.bytes_up += len(data)
                        self.requests += parser.feed(data)
                    else:
                        self.bytes_down += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


class _RequestCounter:
    """Counts HTTP/1.1 requests in a client byte stream (heads end in CRLFCRLF; bodies by
    Content-Length, which is what requests/ckanapi send)."""

    def __init__(self):
        self._head = b""
        self._body_left = 0

    def feed(self, data: bytes) -> int:
        count = 0
        while data:
            if self._body_left:
                taken = min(self._body_left, len(data))
                self._body_left -= taken
                data = data[taken:]
                continue
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return count
            head, data = self._head[:end], self._head[end + 4:]
            self._head = b""
            count += 1
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    self._body_left = int(value.strip() or 0)
        return count

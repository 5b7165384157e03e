"""A throwaway HTTP server on 127.0.0.1 (a spare port) for tests: fake agency sites and APIs."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    """A quiet request handler with a one-call answer."""

    def reply(self, status: int, body: bytes, ctype: str = "application/json", headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(handler, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``handler`` (a request handler class or factory) until the block ends; yields the base URL.

    ``host`` is a loopback address (127.0.0.2... for a second "site" the allowlist does not name).
    """
    httpd = ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://{host}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def serve_directory(root: Path, asked: list[str] | None = None, log: list[dict] | None = None) -> Iterator[str]:
    """Serve the files under ``root`` (a fake agency website); ``asked`` collects the paths requested.

    ``log`` collects one entry per request: method, path, status and the body bytes sent. The server
    answers ``If-Modified-Since`` with 304 Not Modified when the file is not newer (the standard library's).
    """

    class Files(SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-"):
            if asked is not None:
                asked.append(self.path)
            if log is not None:
                self._entry = {"method": self.command, "path": self.path, "status": int(code), "bytes": 0}
                log.append(self._entry)

        def copyfile(self, source, outputfile):
            start = source.tell()
            super().copyfile(source, outputfile)
            if log is not None:
                self._entry["bytes"] = source.tell() - start

        def log_message(self, *args):
            pass

    with serve(functools.partial(Files, directory=str(root))) as url:
        yield url

"""The "demo agency website": a static file server over include/demo/site/.

Harvesters fetch agency files over HTTP; this server stands in for an agency
site in tests and demos. Standard library only. Beyond http.server's
SimpleHTTPRequestHandler it adds what a harvester relies on:
- the right Content-Type for CSV and Excel files (mimetypes on a bare Debian
  guesses nothing for .xlsx and text/csv only sometimes);
- an ETag (size + mtime) with If-None-Match -> 304; Last-Modified and
  If-Modified-Since come from SimpleHTTPRequestHandler; HEAD is supported.

Usage: python3 demo_site.py --port PORT [--host 127.0.0.1] [--root DIR]
"""

from __future__ import annotations

import argparse
import os
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "demo" / "site"

TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".tsv": "text/tab-separated-values; charset=utf-8",
    ".json": "application/json",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".xls": "application/vnd.ms-excel",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".xml": "application/xml",
    ".parquet": "application/vnd.apache.parquet",
    ".geojson": "application/geo+json",
    ".zip": "application/zip",
}


class Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def send_head(self):
        etag = self.etag_for(self.translate_path(self.path))
        if etag and etag in [t.strip() for t in self.headers.get("If-None-Match", "").split(",")]:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return None
        self._etag = etag
        return super().send_head()

    def end_headers(self):
        # send_head() adds Content-Type/Length/Last-Modified; the ETag goes with them.
        etag = getattr(self, "_etag", None)
        if etag:
            self.send_header("ETag", etag)
            self._etag = None
        super().end_headers()

    @staticmethod
    def etag_for(path: str) -> str | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not os.path.isfile(path):
            return None
        return f'"{st.st_size:x}-{st.st_mtime_ns:x}"'


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    args = ap.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), partial(Handler, directory=str(args.root)))
    print(f"demo site on http://{args.host}:{server.server_port}/ serving {args.root}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

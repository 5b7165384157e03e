"""The "demo agency website": a static file server over include/demo/site/.

Harvesters fetch agency files over HTTP; this server stands in for an agency
site in tests and demos. Standard library only. Beyond http.server's
SimpleHTTPRequestHandler it adds what a harvester relies on:
- the right Content-Type for CSV and Excel files (mimetypes on a bare Debian
  guesses nothing for .xlsx and text/csv only sometimes);
- an ETag (size + mtime) with If-None-Match -> 304; Last-Modified and
  If-Modified-Since come from SimpleHTTPRequestHandler; HEAD is supported;
- a tiny paged JSON API: ``GET /api/<path>`` serves the records (a JSON list)
  of ``ROOT/api/<path>.json`` as ``{"data": [...], "meta": {...}, "links": {"next": ...}}``
  with a ``Link: <...>; rel="next"`` header; pages by ``?page=N&per_page=M``
  (default 1 and 5) or ``?offset=N&limit=M``.

Usage: python3 demo_site.py --port PORT [--host 127.0.0.1] [--root DIR]
"""

from __future__ import annotations

import argparse
import json
import os
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

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

    def do_GET(self):  # noqa: N802
        if urlsplit(self.path).path.startswith("/api/"):
            return self.api()
        return super().do_GET()

    def api(self):
        parts = urlsplit(self.path)
        source = Path(self.directory) / (parts.path.strip("/") + ".json")
        if ".." in parts.path or not source.is_file():
            return self.send_json(404, {"error": f"no such endpoint {parts.path}"})
        records = json.loads(source.read_text(encoding="utf-8"))
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            if "offset" in query or "limit" in query:
                offset, limit = int(query.get("offset", 0)), int(query.get("limit", 5))
                nxt = {**query, "offset": offset + limit, "limit": limit}
                meta = {"offset": offset, "limit": limit}
            else:
                page, size = int(query.get("page", 1)), int(query.get("per_page", 5))
                offset, limit = (page - 1) * size, size
                nxt = {**query, "page": page + 1, "per_page": size}
                meta = {"page": page, "per_page": size}
            if offset < 0 or limit < 1:
                raise ValueError
        except ValueError:
            return self.send_json(400, {"error": "page, per_page, offset and limit must be positive integers"})
        data = records[offset:offset + limit]
        next_url = f"{parts.path}?{urlencode(nxt)}" if offset + limit < len(records) else None
        body = {"data": data, "meta": {**meta, "total": len(records)}, "links": {"next": next_url}}
        return self.send_json(200, body, next_url)

    def send_json(self, status: int, body: dict, next_url: str | None = None):
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        if next_url:
            self.send_header("Link", f'<{next_url}>; rel="next"')
        self.end_headers()
        self.wfile.write(raw)

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

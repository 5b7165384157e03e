"""Uploads to the portal stream from their files: the request body is never built in memory."""

import http.server
import io
import json
import threading
from email.parser import BytesParser
from email.policy import HTTP

from harvesters.portal import Portal
from harvesters.settings import PortalSettings


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: dict = {}

    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
        parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
        _Recorder.received = {
            "path": self.path,
            "auth": self.headers["Authorization"],
            "fields": {k: p.get_payload(decode=True).decode() for k, p in parts.items() if not p.get_filename()},
            "types": {k: p.get_content_type() if "content-type" in p else None for k, p in parts.items()},
            "files": {k: (p.get_filename(), p.get_payload(decode=True)) for k, p in parts.items() if p.get_filename()},
        }
        answer = json.dumps({"success": True, "result": {"id": "r1", "name": "x"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


class _Reads(io.BufferedReader):
    """A file on disk that remembers the largest read asked of it."""

    largest = 0

    def read(self, size=-1):
        data = super().read(size)
        self.largest = max(self.largest, len(data))
        return data


def test_a_resource_upload_streams_its_file_and_sends_ckanapis_fields(tmp_path, monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        portal = Portal(PortalSettings(url=f"http://127.0.0.1:{server.server_port}", token="tok-1"))
        content = "รหัส,ปริมาณฝน\n".encode() + b"72481,197.6\n" * 400_000  # ~4.8 MB
        (tmp_path / "rain.csv").write_bytes(content)
        handle = _Reads(io.FileIO(tmp_path / "rain.csv"))
        result = portal.call("resource_create", what="rain", files={"upload": ("rain.csv", handle)},
                             package_id="pcd-rain", name="ปริมาณฝน", harvest_key="rain")
    finally:
        server.shutdown()
        server.server_close()
    got = _Recorder.received
    assert result == {"id": "r1", "name": "x"}
    assert got["path"] == "/api/action/resource_create" and got["auth"] == "tok-1"
    assert got["fields"] == {"package_id": "pcd-rain", "name": "ปริมาณฝน", "harvest_key": "rain"}
    assert got["files"] == {"upload": ("rain.csv", content)}
    assert set(got["types"].values()) == {None}  # as requests sends them: CKAN guesses the type from the name
    assert 0 < handle.largest <= 1 << 20, f"the file was read {handle.largest} bytes at a time"

"""Fault-and-abuse suite, group limits: hostile servers cannot make a download big, slow or endless.

Each test lowers one limit through its deployment setting (so the tests stay
quick) and checks the refusal: reason word ``size``, the limit's name, no
``.part`` debris, nothing written.
"""

from __future__ import annotations

import gzip
import json
import time
import zlib

import pytest

from harvesters import net
from harvesters.errors import RefusedFile
from harvesters.kinds.base import HarvestContext
from harvesters.settings import Settings
from tests.loopback import Handler, serve


def client():
    return net.session(Settings.from_env())


def answer(body: bytes, headers: dict | None = None, ctype: str = "text/csv", chunked: bool = False):
    class Answer(Handler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(body), 1 << 16):
                    part = body[i:i + (1 << 16)]
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

    return Answer


def refused(tmp_path, url: str, limit: str) -> RefusedFile:
    with pytest.raises(RefusedFile) as info:
        net.download(url, tmp_path / "f.csv", http=client(), timeout=5)
    err = info.value
    assert err.reason == "size" and limit in str(err) and str(err).count("\n") == 0
    assert list(tmp_path.iterdir()) == []  # no .part, no half file
    return err


def test_a_declared_length_over_the_limit_is_refused_before_reading(monkeypatch, tmp_path):
    monkeypatch.setenv("HARVEST_MAX_DOWNLOAD_BYTES", "1000")
    sent = []

    class Liar(Handler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(10 ** 12))  # a terabyte, it says
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x" * 65536)
                    sent.append(1)
            except OSError:
                pass

    with serve(Liar) as url:
        err = refused(tmp_path, f"{url}/big.csv", "max_download_bytes")
    assert "Content-Length 1000000000000" in str(err) and "HARVEST_MAX_DOWNLOAD_BYTES=1000" in str(err)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_cut_off_while_streaming(chunked, monkeypatch, tmp_path):
    monkeypatch.setenv("HARVEST_MAX_DOWNLOAD_BYTES", str(200_000))
    body = b"a,b\n" + b"1,2\n" * 100_000
    headers = {} if chunked else None
    handler = answer(body, headers, chunked=chunked)
    if not chunked:  # no Content-Length either: an HTTP/1.0 body that ends when the server closes
        class NoLength(Handler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body)
        handler = NoLength
    with serve(handler) as url:
        refused(tmp_path, f"{url}/f.csv", "max_download_bytes")


def test_a_gzip_bomb_is_refused_by_its_decoding_ratio(monkeypatch, tmp_path):
    bomb = gzip.compress(b"\0" * (40 << 20), compresslevel=9)  # 40 MB of zeros in ~40 KB
    with serve(answer(bomb, {"Content-Encoding": "gzip"})) as url:
        err = refused(tmp_path, f"{url}/f.csv", "max_decompression_ratio")
    assert "HARVEST_MAX_DECOMPRESSION_RATIO=100" in str(err)


def test_a_decoded_body_over_the_size_limit_is_refused_whatever_its_ratio(monkeypatch, tmp_path):
    monkeypatch.setenv("HARVEST_MAX_DOWNLOAD_BYTES", str(2 << 20))
    monkeypatch.setenv("HARVEST_MAX_DECOMPRESSION_RATIO", "100000")
    body = zlib.compress(b"1,2\n" * (2 << 20))  # 8 MB, deflate
    with serve(answer(body, {"Content-Encoding": "deflate"})) as url:
        refused(tmp_path, f"{url}/f.csv", "max_download_bytes")


def test_an_honest_gzip_body_is_decoded(tmp_path):
    body = b"a,b\n" + b"1,2\n" * 50_000
    with serve(answer(gzip.compress(body), {"Content-Encoding": "gzip"})) as url:
        net.download(f"{url}/f.csv", tmp_path / "f.csv", http=client(), timeout=5)
    assert (tmp_path / "f.csv").read_bytes() == body


def trickle(header_first: bool):
    """A server that sends a byte every 0.1 s: the body (after honest headers), or the headers themselves."""

    class Trickle(Handler):
        def do_GET(self):
            try:
                if header_first:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/csv")
                    self.end_headers()
                    payload = b"a,b\n" + b"1,2\n" * 1000
                else:
                    payload = b"HTTP/1.0 200 OK\r\nX-Padding: " + b"x" * 10_000
                for i in range(len(payload)):
                    self.wfile.write(payload[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass  # the harvester hung up: what we want

    return Trickle


def test_a_trickling_body_is_cut_off_by_the_minimum_rate(monkeypatch, tmp_path):
    monkeypatch.setenv("HARVEST_MIN_DOWNLOAD_RATE", "1000")
    monkeypatch.setenv("HARVEST_RATE_WINDOW_SECONDS", "1")
    with serve(trickle(header_first=True)) as url:
        with pytest.raises(RefusedFile, match="min_download_rate") as info:
            net.download(f"{url}/f.csv", tmp_path / "f.csv", http=client(), timeout=1)
    assert info.value.reason == "size" and list(tmp_path.iterdir()) == []


def test_trickled_headers_are_cut_off_by_the_total_deadline(monkeypatch, tmp_path):
    monkeypatch.setenv("HARVEST_MAX_DOWNLOAD_SECONDS", "1.5")
    with serve(trickle(header_first=False)) as url:
        with pytest.raises(RefusedFile, match="max_download_seconds") as info:
            net.download(f"{url}/f.csv", tmp_path / "f.csv", http=client(), timeout=1)
    assert "HARVEST_MAX_DOWNLOAD_SECONDS=1.5 s" in str(info.value) and list(tmp_path.iterdir()) == []


def test_a_steady_but_endless_body_is_cut_off_by_the_total_deadline(monkeypatch, tmp_path):
    monkeypatch.setenv("HARVEST_MAX_DOWNLOAD_SECONDS", "1")

    class Endless(Handler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(10_000):
                    self.wfile.write(b"1,2\n" * 256)
                    time.sleep(0.01)
            except OSError:
                pass

    with serve(Endless) as url:
        with pytest.raises(RefusedFile, match="max_download_seconds"):
            net.download(f"{url}/f.csv", tmp_path / "f.csv", http=client(), timeout=1)
    assert list(tmp_path.iterdir()) == []


def test_a_page_read_into_memory_has_its_own_limit(monkeypatch):
    monkeypatch.setenv("HARVEST_MAX_PAGE_BYTES", "10000")
    page = b"<html><body>" + b"<p>x</p>" * 10_000 + b"</body></html>"
    with serve(answer(page, ctype="text/html", chunked=True)) as url:
        with pytest.raises(RefusedFile, match=r"max_page_bytes \(HARVEST_MAX_PAGE_BYTES=10000\)") as info:
            net.get(f"{url}/p.html", http=client(), timeout=5)
    assert info.value.reason == "size"


def test_a_huge_json_api_page_is_refused_with_the_source_and_limit_named(monkeypatch, tmp_path):
    from harvesters.kinds.json_api import JsonApiSource
    from harvesters.results import RemoteFile

    monkeypatch.setenv("HARVEST_MAX_PAGE_BYTES", "50000")
    body = json.dumps({"data": [{"a": i} for i in range(20_000)]}).encode()
    with serve(answer(body, ctype="application/json")) as url:
        src = JsonApiSource(kind="json_api", url=f"{url}/api", records_path="data", respect_robots=False)
        ctx = HarvestContext("pcd-api", Settings.from_env(), client())
        with pytest.raises(RefusedFile, match="max_page_bytes"):
            src.fetch(RemoteFile(source="pcd-api", url=src.url, key="api", title="api", suffix=".json"),
                      tmp_path / "api.json", ctx)
    assert list(tmp_path.iterdir()) == []


def test_robots_txt_is_read_under_the_page_limit(monkeypatch, tmp_path):
    monkeypatch.setenv("HARVEST_MAX_PAGE_BYTES", "10000")
    with serve(answer(b"User-agent: *\nDisallow: /nothing\n" * 10_000, ctype="text/plain")) as url:
        with pytest.raises(RefusedFile, match="max_page_bytes"):
            net.download(f"{url}/f.csv", tmp_path / "f.csv", http=client(), timeout=5, robots=True)


@pytest.mark.parametrize("name, value", [("HARVEST_MAX_DOWNLOAD_BYTES", "lots"), ("HARVEST_MAX_DOWNLOAD_SECONDS", "-1")])
def test_a_bad_limit_setting_is_a_clear_error(name, value, monkeypatch):
    from harvesters.errors import FinalError

    monkeypatch.setenv(name, value)
    with pytest.raises(FinalError, match=name):
        Settings.from_env()


def test_an_html_table_page_gets_the_page_limit(monkeypatch, tmp_path):
    from harvesters.kinds.html_table import HtmlTableSource

    monkeypatch.setenv("HARVEST_MAX_PAGE_BYTES", "10000")
    page = b"<table>" + b"<tr><td>1</td></tr>" * 10_000 + b"</table>"
    with serve(answer(page, ctype="text/html")) as url:
        src = HtmlTableSource(kind="html_table", url=f"{url}/t.html", respect_robots=False)
        ctx = HarvestContext("gistda-table", Settings.from_env(), client())
        [remote] = src.gather(ctx)
        with pytest.raises(RefusedFile, match="max_page_bytes"):
            src.fetch(remote, tmp_path / "t.html", ctx)
    assert list(tmp_path.iterdir()) == []


def test_json_api_records_are_written_page_by_page_under_the_download_limit(monkeypatch, tmp_path):
    from harvesters.kinds.json_api import JsonApiSource
    from harvesters.results import RemoteFile

    monkeypatch.setenv("HARVEST_MAX_DOWNLOAD_BYTES", "200000")

    class Endless(Handler):
        def do_GET(self):  # every page full: an API that never ends
            self.reply(200, json.dumps({"data": [{"n": i, "name": "สถานี"} for i in range(500)]}).encode())

    with serve(Endless) as url:
        src = JsonApiSource(kind="json_api", url=f"{url}/api", records_path="data", respect_robots=False,
                            max_pages=100_000, pagination={"style": "page", "size_param": "per_page", "size": 500})
        ctx = HarvestContext("pcd-api", Settings.from_env(), client())
        with pytest.raises(RefusedFile, match=r"over max_download_bytes \(HARVEST_MAX_DOWNLOAD_BYTES=200000\)"):
            src.fetch(RemoteFile(source="pcd-api", url=src.url, key="api", title="api", suffix=".json"),
                      tmp_path / "api.json", ctx)
    assert list(tmp_path.iterdir()) == []


def test_json_api_records_written_page_by_page_are_one_array(tmp_path):
    from harvesters.kinds.json_api import JsonApiSource
    from harvesters.results import RemoteFile

    class Paged(Handler):
        def do_GET(self):
            page = int(self.path.rsplit("page=", 1)[1].split("&")[0])
            rows = [{"page": page, "i": i} for i in range(2)] if page <= 3 else []
            self.reply(200, json.dumps({"data": rows}).encode())

    with serve(Paged) as url:
        src = JsonApiSource(kind="json_api", url=f"{url}/api", records_path="data", respect_robots=False,
                            pagination={"style": "page"})
        src.fetch(RemoteFile(source="x", url=src.url, key="api", title="api", suffix=".json"), tmp_path / "a.json",
                  HarvestContext("x", Settings.from_env(), client()))
    assert json.loads((tmp_path / "a.json").read_text(encoding="utf-8")) == \
        [{"page": p, "i": i} for p in (1, 2, 3) for i in range(2)]

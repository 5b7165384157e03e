"""The polite HTTP client against a real loopback server: retries, final errors, User-Agent."""

from http.server import BaseHTTPRequestHandler

import pytest

from harvesters import net
from harvesters.errors import FinalError, RetryableError
from harvesters.settings import Settings
from tests.loopback import serve


class Handler(BaseHTTPRequestHandler):
    script: dict[str, list[int]] = {}  # path -> statuses to answer, in order (last one repeats)
    seen: list[tuple[str, str]] = []

    def do_GET(self):  # noqa: N802
        Handler.seen.append((self.path, self.headers.get("User-Agent", "")))
        statuses = Handler.script.get(self.path, [404])
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        self.send_response(status)
        if status == 503:
            self.send_header("Retry-After", "0")
        body = "ค่าฝุ่น,PM2.5\n".encode() if status == 200 else b"no"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    with serve(Handler) as url:
        yield url


@pytest.fixture()
def http(monkeypatch):
    monkeypatch.setenv("HARVEST_CONTACT", "data-team@agency.example.go.th")
    Handler.seen.clear()
    return net.session(Settings.from_env())


def test_download_streams_the_file_and_names_us(server, http, tmp_path):
    Handler.script["/ok.csv"] = [200]
    dest = tmp_path / "ok.csv"
    net.download(f"{server}/ok.csv", dest, http=http, timeout=5)
    assert dest.read_text(encoding="utf-8") == "ค่าฝุ่น,PM2.5\n"
    assert not (tmp_path / "ok.csv.part").exists()
    assert "ogd-harvester/" in Handler.seen[0][1] and "data-team@agency.example.go.th" in Handler.seen[0][1]


def test_503_with_retry_after_is_retried_then_succeeds(server, http, tmp_path):
    Handler.script["/busy.csv"] = [503, 503, 200]
    net.download(f"{server}/busy.csv", tmp_path / "busy.csv", http=http, timeout=5)
    assert [p for p, _ in Handler.seen] == ["/busy.csv"] * 3


def test_persistent_503_is_retryable_and_names_the_url(server, http, tmp_path):
    Handler.script["/down.csv"] = [503]
    with pytest.raises(RetryableError, match=r"/down.csv") as err:
        net.download(f"{server}/down.csv", tmp_path / "down.csv", http=http, timeout=5, attempts=2)
    assert "HTTP 503" in str(err.value)
    assert not (tmp_path / "down.csv").exists()


def test_404_is_final_without_retry(server, http, tmp_path):
    with pytest.raises(FinalError, match=r"HTTP 404 .* from http://127.0.0.1:\d+/missing.csv"):
        net.download(f"{server}/missing.csv", tmp_path / "missing.csv", http=http, timeout=5)
    assert len(Handler.seen) == 1


def test_unreachable_host_is_retryable(http, tmp_path):
    with pytest.raises(RetryableError, match="cannot reach http://127.0.0.1:9/x.csv"):
        net.download("http://127.0.0.1:9/x.csv", tmp_path / "x.csv", http=http, timeout=2, attempts=1)

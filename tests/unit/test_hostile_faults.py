"""Fault-and-abuse suite, groups faults and secrets (unit level).

Faults: every network failure says what kind it is (DNS, refused, timeout, TLS,
HTTP status) with the source and the URL, never a bare library exception name;
the portal client bounds its waits and retries its reads; an unreadable portal
connection is retried, never replaced by other settings.
Secrets: what goes to the public portal carries no internal location or credential.
"""

from __future__ import annotations

import json
import socket
import threading

import pytest

from harvesters import net, portal, stages
from harvesters.config import load_source
from harvesters.errors import ConnectionUndefined, FinalError, RetryableError
from harvesters.gdc.mapping import dataset_fields, public_url, resource_plans
from harvesters.portal import Portal, portal_settings
from harvesters.results import ConvertedFile, ConvertedTable, FetchedFile, RemoteFile
from harvesters.settings import REPO_ROOT, PortalSettings, Settings
from tests.loopback import Handler, serve

BARE_NAMES = ("ConnectionError", "ReadTimeout", "ConnectTimeout", "MaxRetryError", "NewConnectionError",
              "NameResolutionError", "SSLError", "urllib3", "HTTPConnectionPool", "Traceback")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Silent:
    """A server that accepts connections and never answers (the listen backlog accepts for us)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self._held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        try:
            while True:
                conn, _ = self.sock.accept()
                self.accepted += 1
                self._held.append(conn)
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self._held:
            c.close()


@pytest.fixture()
def silent():
    server = Silent()
    yield server
    server.close()


def failure(url: str, **kwargs) -> str:
    with pytest.raises((RetryableError, FinalError)) as info:
        net.get(url, http=net.session(Settings.from_env()), timeout=kwargs.pop("timeout", 2), attempts=1, **kwargs)
    text = str(info.value)
    assert "\n" not in text and not any(name in text for name in BARE_NAMES), text
    return text


# ------------------------------------------------------------------ faults: the kind of failure, in words


def test_connection_refused_is_named():
    port = closed_port()
    assert failure(f"http://127.0.0.1:{port}/x.csv").endswith(
        f"cannot reach http://127.0.0.1:{port}/x.csv: connection refused (nothing listens there)")


def test_dns_failure_is_named(monkeypatch):
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    assert "DNS lookup failed" in failure("http://no-such-host.example.go.th/x.csv")


def test_a_read_timeout_is_named(silent):
    assert "read timeout" in failure(f"{silent.url}/x.csv", timeout=0.5)


def test_a_tls_failure_is_named():
    class Plain(Handler):
        def do_GET(self):
            self.reply(200, b"x")

    with serve(Plain) as url:
        assert "TLS handshake failed" in failure(url.replace("http://", "https://") + "/x.csv")


@pytest.mark.parametrize("status, kind", [(503, RetryableError), (500, RetryableError), (404, FinalError),
                                          (403, FinalError)])
def test_http_status_is_named_and_split(status, kind):
    class Status(Handler):
        def do_GET(self):
            self.reply(status, b"no")

    with serve(Status) as url:
        with pytest.raises(kind, match=f"HTTP {status} "):
            net.get(f"{url}/x", http=net.session(Settings.from_env()), timeout=2, attempts=1)


def test_a_fetch_failure_names_the_source_the_url_and_the_kind(monkeypatch, tmp_path):
    port = closed_port()
    monkeypatch.setenv("HARVEST_CFG_DEMO_SITE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HARVEST_STAGING_DIR", str(tmp_path))
    cfg = load_source(REPO_ROOT / "include" / "sources" / "pcd" / "pm25-hourly.yaml").config
    cfg = cfg.model_copy(update={"source": cfg.source.model_copy(update={"respect_robots": False})})
    ctx = stages.context(cfg, Settings.from_env())
    [remote] = stages.gather(cfg, ctx)
    from harvesters.staging import RunStaging

    with pytest.raises(RetryableError) as info:
        stages.fetch(cfg, remote, RunStaging(tmp_path, cfg.id, "r1"), ctx)
    text = str(info.value)
    assert text.startswith(f"pcd-pm25-hourly: http://127.0.0.1:{port}/pcd/pm25_hourly.csv: cannot reach")
    assert "connection refused" in text and not any(name in text for name in BARE_NAMES)


def test_an_unavailable_staging_store_fails_the_fetch_clearly(monkeypatch, tmp_path):
    """A staging volume that is not there (here: its root is a plain file) fails before anything is
    downloaded or published, retryably, naming the source and the folder."""
    monkeypatch.setenv("HARVEST_CFG_DEMO_SITE_URL", "http://127.0.0.1:9")
    cfg = load_source(REPO_ROOT / "include" / "sources" / "pcd" / "pm25-hourly.yaml").config
    remote = RemoteFile(source=cfg.id, url="http://127.0.0.1:9/x.csv", key="x", title="x", suffix=".csv")
    root = tmp_path / "not-a-volume"
    root.write_text("")
    from harvesters.staging import RunStaging

    with pytest.raises(RetryableError) as info:
        stages.fetch(cfg, remote, RunStaging(root, cfg.id, "r1"), stages.context(cfg, Settings.from_env()))
    text = str(info.value)
    assert text.startswith("pcd-pm25-hourly: ") and "staging store unavailable" in text and str(root) in text
    assert "\n" not in text


# ------------------------------------------------------------------ faults: the portal client


def test_a_portal_that_never_answers_fails_its_reads_within_a_minute():
    worst = portal.READ_ATTEMPTS * sum(portal.READ_TIMEOUT) + sum(min(2 ** i, 4) for i in range(portal.READ_ATTEMPTS - 1))
    assert worst < 60


def test_a_silent_portal_read_is_retried_then_retryable(silent, monkeypatch):
    monkeypatch.setattr(portal, "READ_TIMEOUT", (1, 0.3))
    with pytest.raises(RetryableError) as info:
        Portal(PortalSettings(url=silent.url, token="tok")).dataset("pcd-x")
    text = str(info.value)
    assert f"cannot reach the portal at {silent.url} (package_show of pcd-x): read timeout" in text
    assert silent.accepted == portal.READ_ATTEMPTS


def test_a_portal_answering_5xx_is_retried_then_retryable():
    asked = []

    class Down(Handler):
        def do_GET(self):
            asked.append(self.path)
            self.reply(503, b"<html>maintenance</html>", "text/html")

        do_POST = do_GET

    with serve(Down) as url:
        with pytest.raises(RetryableError, match="portal error during package_show of pcd-x"):
            Portal(PortalSettings(url=url, token="tok")).dataset("pcd-x")
    assert len(asked) == portal.READ_ATTEMPTS


def test_a_refused_portal_write_is_retryable_and_not_repeated_in_process():
    port = closed_port()
    with pytest.raises(RetryableError, match="connection refused"):
        Portal(PortalSettings(url=f"http://127.0.0.1:{port}", token="tok")).create_dataset({"name": "x"})


# ------------------------------------------------------------------ secrets: the portal connection


def test_an_undefined_portal_connection_falls_back_to_the_environment(monkeypatch):
    monkeypatch.setenv("HARVEST_PORTAL_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("HARVEST_PORTAL_TOKEN", "env-token")

    def undefined(conn_id):
        raise ConnectionUndefined(f"{conn_id} not defined")

    assert portal_settings(undefined).url == "http://127.0.0.1:5000"


@pytest.mark.parametrize("problem", [RuntimeError("secrets backend down"), TimeoutError(), ValueError("bad")])
def test_an_unreadable_portal_connection_is_retried_not_replaced(monkeypatch, problem):
    monkeypatch.setenv("HARVEST_PORTAL_URL", "http://other-portal.example")
    monkeypatch.setenv("HARVEST_PORTAL_TOKEN", "env-token")

    def broken(conn_id):
        raise problem

    with pytest.raises(RetryableError, match="cannot read the portal connection 'gdc_portal'"):
        portal_settings(broken)


def test_a_malformed_portal_connection_variable_is_retried_and_not_quoted(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_GDC_PORTAL", '{"host": "http://p", "password": "tok-SECRET"')  # cut short
    monkeypatch.setenv("HARVEST_PORTAL_URL", "http://other-portal.example")
    monkeypatch.setenv("HARVEST_PORTAL_TOKEN", "env-token")
    with pytest.raises(RetryableError) as info:
        portal_settings()
    assert "tok-SECRET" not in str(info.value)


def test_the_airflow_connection_reader_tells_not_found_from_unreadable(monkeypatch):
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from harvesters.kinds.base import airflow_connection

    def missing(conn_id):
        raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")

    monkeypatch.setattr(Connection, "get", classmethod(lambda cls, conn_id: missing(conn_id)))
    with pytest.raises(ConnectionUndefined):
        airflow_connection("gdc_portal")

    def backend_down(conn_id):
        raise ConnectionResetError("secrets backend")

    monkeypatch.setattr(Connection, "get", classmethod(lambda cls, conn_id: backend_down(conn_id)))
    with pytest.raises(RetryableError, match="cannot read Airflow connection 'gdc_portal'"):
        airflow_connection("gdc_portal")


# ------------------------------------------------------------------ secrets: nothing internal reaches the portal


@pytest.mark.parametrize("url, shown", [
    ("sftp://drops.agency.go.th/ddc/flu.csv", ""),
    ("file:///srv/drops/gistda/burned.xlsx", ""),
    ("s3://agency-drops/pcd/pm25.csv", ""),
    ("https://user:pa55@data.agency.go.th/x.csv", "https://data.agency.go.th/x.csv"),
    ("https://data.agency.go.th/x.csv?year=2568&api_key=k1&token=t2", "https://data.agency.go.th/x.csv?year=2568"),
    ("http://data.agency.go.th:8080/a%20b.csv", "http://data.agency.go.th:8080/a%20b.csv"),
])
def test_public_url_keeps_only_what_the_public_may_see(url, shown):
    assert public_url(url) == shown


def converted_from(url: str) -> ConvertedFile:
    remote = RemoteFile(source="gistda-burned", url=url, key="burned", title="พื้นที่เผาไหม้")
    fetched = FetchedFile(remote=remote, path="/s/raw/burned.csv", sha256="ab" * 32, size=10,
                          fetched_at="2026-11-22T10:00:00+00:00")
    return ConvertedFile(fetched=fetched, format="csv", encoding="utf-8", stars_in=3, stars_out=3, report="/r.json",
                         tables=[ConvertedTable(key="burned", title="พื้นที่เผาไหม้", csv="/c/0.csv",
                                                parquet="/c/0.parquet", rows=3, columns=[], table_schema={})])


@pytest.mark.parametrize("url", ["file:///srv/drops/gistda/burned.csv", "sftp://127.0.0.1:2222/ddc/burned.csv",
                                 "https://drop-user:pa55w0rd@files.agency.go.th/burned.csv"])
def test_no_internal_location_or_credential_reaches_portal_fields(url):
    cfg = load_source(REPO_ROOT / "include" / "sources" / "gistda" / "burned-area-folder-drop.yaml").config
    files = [converted_from(url)]
    sent = json.dumps({"dataset": dataset_fields(cfg, files), "resources": [p.fields for p in
                                                                           resource_plans(cfg, files)]},
                      ensure_ascii=False)
    for leak in ("/srv/drops", "sftp://", "file://", "pa55", "drop-user"):
        assert leak not in sent
    assert "burned.csv" in sent  # the file is still named in the description

"""Fault-and-abuse suite, groups SSRF and credentials: where requests may go, and what they carry.

Every server here binds a loopback address. The suite's deployment allowlist
(tests/airflow_env.py) names 127.0.0.1 only; 127.0.0.2 stands for "an internal
host nobody allowed", and tests of the refusal itself remove the allowlist.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import pytest
import requests

from harvesters import net
from harvesters.errors import BlockedDestination, FinalError
from harvesters.kinds.base import ConnectionInfo, HarvestContext
from harvesters.settings import Settings
from tests.loopback import Handler, serve


def recorder(asked: list, body: bytes = b"a,b\n1,2\n"):
    class Record(Handler):
        def do_GET(self):
            asked.append((self.path, dict(self.headers)))
            self.reply(200, body, "text/csv")

    return Record


def redirector(target: str, asked: list | None = None, status: int = 302):
    class Redirect(Handler):
        def do_GET(self):
            if asked is not None:
                asked.append((self.path, dict(self.headers)))
            self.reply(status, b"", headers={"Location": target})

    return Redirect


def client() -> requests.Session:
    return net.session(Settings.from_env())


# ------------------------------------------------------------------ SSRF: addresses


@pytest.mark.parametrize("address, problem", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("fd12::1", "private"),
    ("169.254.169.254", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"), ("100.100.100.200", "cloud metadata"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("240.0.0.1", "reserved"),
    ("100.64.0.1", "not public"),  # carrier-grade NAT
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "cloud metadata"),  # IPv4-mapped
    ("2002:7f00:1::", "loopback"), ("2002:a00:1::", "private"),  # 6to4 wrapping of 127.0.0.1 / 10.0.0.1
])
def test_non_public_addresses_are_named(address, problem):
    assert net.address_problem(ipaddress.ip_address(address)) == problem


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "203.150.1.1"])
def test_public_addresses_pass(address):
    assert net.address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("spelling", ["127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1",
                                      "127.000.000.001", "[::ffff:127.0.0.1]", "localhost", "LocalHost"])
def test_loopback_in_any_spelling_is_refused_without_the_allowlist(spelling, monkeypatch, tmp_path):
    monkeypatch.delenv("HARVEST_ALLOW_HOSTS", raising=False)
    asked: list = []
    with serve(recorder(asked)) as url:
        port = urlsplit(url).port
        with pytest.raises(BlockedDestination, match=r"(loopback|not on the deployment's allowlist)"):
            net.download(f"http://{spelling}:{port}/x.csv", tmp_path / "x.csv", http=client(), timeout=5)
    assert asked == []  # refused before connecting
    assert list(tmp_path.iterdir()) == []


def test_the_allowlist_is_what_lets_the_suite_reach_loopback(tmp_path):
    asked: list = []
    with serve(recorder(asked)) as url:
        net.download(f"{url}/x.csv", tmp_path / "x.csv", http=client(), timeout=5)
    assert (tmp_path / "x.csv").read_bytes() == b"a,b\n1,2\n" and len(asked) == 1


@pytest.mark.parametrize("host", ["0.0.0.0", "0", "[::]", "[::1]", "127.0.0.2", "127.1.0.1"])
def test_the_suites_allowlist_names_127_0_0_1_and_nothing_else_local(host, tmp_path):
    """0.0.0.0 and :: reach the local host on Linux: they are other addresses, refused."""
    with serve(recorder([])) as url:
        with pytest.raises(BlockedDestination, match="not on the deployment's allowlist"):
            net.download(f"http://{host}:{urlsplit(url).port}/x.csv", tmp_path / "x.csv", http=client(), timeout=5,
                         attempts=1)


def test_an_allowlisted_ip_does_not_allow_its_neighbours(tmp_path):
    asked: list = []
    with serve(recorder(asked), host="127.0.0.2") as url:
        with pytest.raises(BlockedDestination, match="127.0.0.2: a loopback address"):
            net.download(f"{url}/x.csv", tmp_path / "x.csv", http=client(), timeout=5)
    assert asked == []


def test_an_allowlisted_network_allows_its_members(monkeypatch, tmp_path):
    monkeypatch.setenv("HARVEST_ALLOW_NETWORKS", "127.0.0.0/30")
    asked: list = []
    with serve(recorder(asked), host="127.0.0.2") as url:
        net.download(f"{url}/x.csv", tmp_path / "x.csv", http=client(), timeout=5)
    assert len(asked) == 1


def test_a_name_is_judged_by_the_address_it_resolves_to_at_connect_time(monkeypatch, tmp_path):
    """DNS rebinding: a public-looking name whose answer is loopback when the connection is made."""
    monkeypatch.delenv("HARVEST_ALLOW_HOSTS", raising=False)
    asked: list = []
    real = socket.getaddrinfo
    with serve(recorder(asked)) as url:
        port = urlsplit(url).port

        def rebinding(host, *args, **kwargs):
            if host == "data.agency.example":
                return real("127.0.0.1", *args, **kwargs)
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        with pytest.raises(BlockedDestination, match=r"data.agency.example \(127.0.0.1\): a loopback address"):
            net.download(f"http://data.agency.example:{port}/x.csv", tmp_path / "x.csv", http=client(), timeout=5)
    assert asked == []


def test_a_name_with_one_internal_answer_among_public_ones_is_refused(monkeypatch):
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers)
    connected = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: connected.append(addr))
    with pytest.raises(BlockedDestination, match="cloud metadata"):
        net.get("http://mixed.example/x", http=client(), timeout=5, attempts=1)
    assert connected == []


def test_a_plain_requests_session_gets_the_guard_too(monkeypatch, tmp_path):
    monkeypatch.delenv("HARVEST_ALLOW_HOSTS", raising=False)
    with serve(recorder([])) as url:
        with pytest.raises(BlockedDestination):
            net.download(f"{url}/x.csv", tmp_path / "x.csv", http=requests.Session(), timeout=5)


# ------------------------------------------------------------------ SSRF: redirects, links, next pages


def test_every_redirect_hop_is_checked(tmp_path):
    inner: list = []
    with serve(recorder(inner), host="127.0.0.2") as internal, \
            serve(redirector(f"{internal}/secret.csv")) as outer:
        with pytest.raises(BlockedDestination, match="127.0.0.2"):
            net.download(f"{outer}/x.csv", tmp_path / "x.csv", http=client(), timeout=5)
    assert inner == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1:25/", "ftp://127.0.0.1/x"])
def test_a_redirect_to_another_scheme_is_refused(target, tmp_path):
    with serve(redirector(target)) as url:
        with pytest.raises(BlockedDestination, match="only http and https are followed"):
            net.download(f"{url}/x.csv", tmp_path / "x.csv", http=client(), timeout=5)


def test_redirects_are_limited(monkeypatch, tmp_path):
    monkeypatch.setenv("HARVEST_MAX_REDIRECTS", "3")

    class Loop(Handler):
        def do_GET(self):
            n = int(self.path.strip("/") or 0)
            self.reply(302, b"", headers={"Location": f"/{n + 1}"})

    with serve(Loop) as url:
        with pytest.raises(FinalError, match=r"more than max_redirects \(HARVEST_MAX_REDIRECTS=3\)"):
            net.download(f"{url}/0", tmp_path / "x.csv", http=client(), timeout=5)
    assert list(tmp_path.iterdir()) == []


def web_ctx() -> HarvestContext:
    return HarvestContext("hostile", Settings.from_env(), client())


def test_a_discovered_link_to_an_internal_host_is_refused_when_fetched(tmp_path):
    from harvesters.kinds.web_page import WebPageSource

    inner: list = []
    with serve(recorder(inner), host="127.0.0.2") as internal:
        page = f'<a href="{internal}/admin/export.csv">ข้อมูล</a>'.encode()

        class Page(Handler):
            def do_GET(self):
                self.reply(200, page, "text/html; charset=utf-8")

        with serve(Page) as site:
            src = WebPageSource(kind="web_page", url=f"{site}/p.html", links={"selector": "a"},
                                respect_robots=False)
            ctx = web_ctx()
            [remote] = src.gather(ctx)
            with pytest.raises(BlockedDestination, match="127.0.0.2"):
                src.fetch(remote, tmp_path / "f.csv", ctx)
    assert inner == []


def test_a_next_page_link_to_an_internal_host_is_refused():
    from harvesters.kinds.json_api import JsonApiSource

    inner: list = []
    with serve(recorder(inner, b"[]"), host="127.0.0.2") as internal:
        class Api(Handler):
            def do_GET(self):
                self.reply(200, f'{{"data": [{{"a": 1}}], "next": "{internal}/api?page=2"}}'.encode())

        with serve(Api) as api:
            src = JsonApiSource(kind="json_api", url=f"{api}/api", records_path="data", respect_robots=False,
                                pagination={"style": "next_link", "next_path": "next"})
            with pytest.raises(BlockedDestination):
                src.walk(web_ctx())
    assert inner == []


# ------------------------------------------------------------------ credentials


SECRET_HEADERS = {"Authorization": "Bearer tok-123", "X-API-Key": "key-456", "Cookie": "sid=ck-789",
                  "X-Custom-Token": "tok-000"}


def sent_secrets(headers: dict) -> set[str]:
    text = " ".join(f"{k}: {v}" for k, v in headers.items())
    return {v for v in ("tok-123", "key-456", "ck-789", "tok-000", "dXNlcjpwYXNz", "dXNlcjp0b2stMTIz") if v in text}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_credentials_are_not_forwarded_across_a_redirect_to_another_origin(tmp_path, status):
    first, second = [], []
    with serve(recorder(second)) as other:  # same host, another port: another origin
        with serve(redirector(f"{other}/landing.csv", first, status)) as origin:
            net.download(f"{origin}/x.csv", tmp_path / "x.csv", http=client(), timeout=5,
                         headers=dict(SECRET_HEADERS))
    assert sent_secrets(first[0][1]) == {"tok-123", "key-456", "ck-789", "tok-000"}
    assert sent_secrets(second[0][1]) == set()
    assert "ogd-harvester" in second[0][1]["User-Agent"]


def test_credentials_do_not_come_back_after_a_detour_through_another_origin(tmp_path):
    asked: list = []

    class Home(Handler):
        def do_GET(self):
            asked.append((self.path, dict(self.headers)))
            if self.path == "/start":
                self.reply(302, b"", headers={"Location": f"{detour}/bounce"})
            else:
                self.reply(200, b"a\n1\n", "text/csv")

    with serve(Home) as home:
        with serve(redirector(f"{home}/end")) as detour:
            net.get(f"{home}/start", http=client(), timeout=5, headers=dict(SECRET_HEADERS))
    assert [p for p, _ in asked] == ["/start", "/end"]
    assert sent_secrets(asked[1][1]) == set()  # once stripped, a chain never gets them back


def test_userinfo_in_a_redirect_target_is_not_sent_as_credentials(tmp_path):
    second: list = []
    with serve(recorder(second)) as other:
        with serve(redirector(other.replace("http://", "http://user:pass@") + "/y")) as origin:
            net.get(f"{origin}/x", http=client(), timeout=5)
    assert "Authorization" not in second[0][1]


def test_basic_auth_is_not_forwarded_across_a_redirect(tmp_path):
    first, second = [], []
    with serve(recorder(second)) as other, serve(redirector(f"{other}/y", first)) as origin:
        net.get(f"{origin}/x", http=client(), timeout=5, auth=("user", "pass"))
    assert sent_secrets(first[0][1]) == {"dXNlcjpwYXNz"} and sent_secrets(second[0][1]) == set()


def test_credentials_survive_a_redirect_within_the_same_origin(tmp_path):
    asked: list = []

    class SameOrigin(Handler):
        def do_GET(self):
            asked.append((self.path, dict(self.headers)))
            if self.path == "/x.csv":
                self.reply(302, b"", headers={"Location": "/real.csv"})
            else:
                self.reply(200, b"a\n1\n", "text/csv")

    with serve(SameOrigin) as url:
        net.download(f"{url}/x.csv", tmp_path / "x.csv", http=client(), timeout=5, headers=dict(SECRET_HEADERS))
    assert [p for p, _ in asked] == ["/x.csv", "/real.csv"]
    # (requests re-derives cookies from its jar on every hop, so a hand-set Cookie header goes only once.)
    assert sent_secrets(asked[1][1]) == {"tok-123", "key-456", "tok-000"}


@pytest.mark.parametrize("auth, extra", [("bearer", {}), ("api_key", {"header_name": "X-Agency-Key"}),
                                         ("basic", {})])
def test_api_credentials_stay_on_the_endpoints_origin_across_next_links(auth, extra):
    from harvesters.kinds.json_api import JsonApiSource

    mine, theirs = [], []
    with serve(recorder(theirs, b'{"data": [{"a": 2}]}')) as other:
        class Api(Handler):
            def do_GET(self):
                mine.append((self.path, dict(self.headers)))
                self.reply(200, f'{{"data": [{{"a": 1}}], "next": "{other}/page2"}}'.encode())

        with serve(Api) as api:
            src = JsonApiSource(kind="json_api", url=f"{api}/api", records_path="data", respect_robots=False,
                                connection="agency_api", auth=auth,
                                pagination={"style": "next_link", "next_path": "next"})
            ctx = web_ctx()
            ctx.connection = lambda conn_id: ConnectionInfo(conn_id, login="user", password="tok-123", extra=extra)
            assert src.walk(ctx) == [{"a": 1}, {"a": 2}]
    assert sent_secrets(mine[0][1]) and sent_secrets(theirs[0][1]) == set()


def test_page_headers_are_not_sent_to_files_linked_on_another_origin(tmp_path):
    from harvesters.kinds.web_page import WebPageSource

    files: list = []
    with serve(recorder(files)) as cdn:
        page = f'<a href="{cdn}/f.csv">file</a>'.encode()

        class Page(Handler):
            def do_GET(self):
                self.reply(200, page, "text/html")

        with serve(Page) as site:
            src = WebPageSource(kind="web_page", url=f"{site}/p.html", links={"selector": "a"},
                                respect_robots=False, headers={"X-Custom-Token": "tok-000"})
            ctx = web_ctx()
            [remote] = src.gather(ctx)
            src.fetch(remote, tmp_path / "f.csv", ctx)
    assert sent_secrets(files[0][1]) == set()

"""Source kind `json_api`: pagination styles, auth from a Connection, limits, against a loopback server."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from harvesters import net
from harvesters.errors import FinalError
from harvesters.kinds.base import ConnectionInfo, HarvestContext
from harvesters.kinds.json_api import JsonApiSource
from harvesters.settings import Settings
from tests import loopback
from tests.loopback import serve

RECORDS = [{"id": i, "จังหวัด": f"จังหวัด {i}", "pm25": 10.5 + i} for i in range(23)]
TOKEN = "s3cr3t-token"


class Api(loopback.Handler):
    seen: list[dict] = []

    def do_GET(self):  # noqa: N802
        parts = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        Api.seen.append({"path": parts.path, "query": q, "auth": self.headers.get("Authorization"),
                         "key": self.headers.get("X-Agency-Key")})
        if parts.path == "/robots.txt":
            return self.reply(200, b"User-agent: *\nDisallow: /secret/\n", "text/plain")
        if parts.path == "/bearer" and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.reply(401, b"{}")
        if parts.path == "/basic" and self.headers.get("Authorization") != \
                "Basic " + base64.b64encode(b"agency:pw").decode():
            return self.reply(401, b"{}")
        if parts.path == "/apikey" and self.headers.get("X-Agency-Key") != TOKEN:
            return self.reply(401, b"{}")
        if parts.path == "/plain":
            return self.reply(200, json.dumps(RECORDS[:3]).encode())
        if parts.path == "/html":
            return self.reply(200, b"<html></html>", "text/html")
        if "offset" in q:
            start, size = int(q["offset"]), int(q["limit"])
        else:
            page, size = int(q.get("page", 1)), int(q.get("per_page", 10))
            start = (page - 1) * size
        batch = RECORDS[start:start + size]
        more = start + size < len(RECORDS)
        nxt = f"{parts.path}?page={start // size + 2}&per_page={size}" if more else None
        body = {"result": {"records": batch}, "links": {"next": nxt}}
        link = {"Link": f'<{nxt}>; rel="next"'} if nxt and parts.path == "/linked" else None
        self.reply(200, json.dumps(body, ensure_ascii=False).encode(), headers=link)


@pytest.fixture(scope="module")
def api():
    with serve(Api) as url:
        yield url


CONNECTIONS = {
    "agency_bearer": ConnectionInfo("agency_bearer", "http", password=TOKEN),
    "agency_basic": ConnectionInfo("agency_basic", "http", login="agency", password="pw"),
    "agency_key": ConnectionInfo("agency_key", "http", password=TOKEN, extra={"header_name": "X-Agency-Key"}),
}


@pytest.fixture()
def ctx():
    Api.seen.clear()
    return HarvestContext("pcd-api", Settings.from_env(), net.session(), connection=CONNECTIONS.__getitem__)


def src(url, **kw) -> JsonApiSource:
    return JsonApiSource(kind="json_api", url=url, **kw)


@pytest.mark.parametrize("pagination", [
    {"style": "page", "size_param": "per_page", "size": 10},
    {"style": "page"},  # no size parameter: read until an empty page
    {"style": "offset", "size": 7},
    {"style": "next_link", "next_path": "links.next"},
])
def test_every_pagination_style_reads_all_records(api, ctx, pagination):
    records = src(f"{api}/stations", records_path="result.records", pagination=pagination).walk(ctx)
    assert records == RECORDS


def test_link_header_pagination(api, ctx):
    records = src(f"{api}/linked", records_path="result.records", params={"per_page": 5},
                  pagination={"style": "next_link"}).walk(ctx)
    assert records == RECORDS
    assert [s["query"].get("page") for s in Api.seen if s["path"] == "/linked"] == [None, "2", "3", "4", "5"]


def test_fetch_writes_one_json_array_and_gather_offers_one_file(api, ctx, tmp_path):
    source = src(f"{api}/stations", records_path="result.records", params={"province": "เชียงใหม่"},
                 pagination={"style": "page", "size_param": "per_page", "size": 10}, title="สถานีตรวจวัด")
    (remote,) = source.gather(ctx)
    assert (remote.key, remote.title, remote.suffix, remote.convert) == \
        ("stations", "สถานีตรวจวัด", ".json", {"records_path": None})
    dest = tmp_path / "stations.json"
    assert source.fetch(remote, dest, ctx).content_type == "application/json"
    assert json.loads(dest.read_text(encoding="utf-8")) == RECORDS
    assert all(s["query"].get("province") == "เชียงใหม่" for s in Api.seen if s["path"] == "/stations")


@pytest.mark.parametrize("path, conn, auth", [("/bearer", "agency_bearer", "bearer"),
                                              ("/basic", "agency_basic", "basic"),
                                              ("/apikey", "agency_key", "api_key")])
def test_auth_from_the_connection(api, ctx, path, conn, auth):
    assert src(f"{api}{path}", connection=conn, auth=auth, records_path="result.records").walk(ctx) == RECORDS[:10]
    with pytest.raises(FinalError, match=f"HTTP 401 Unauthorized from {api}{path}"):
        src(f"{api}{path}", records_path="result.records").walk(ctx)


def test_too_many_pages_fail_clearly(api, ctx):
    with pytest.raises(FinalError, match=r"has more than max_pages=2 pages \(20 records read so far\)"):
        src(f"{api}/stations", records_path="result.records", max_pages=2,
            pagination={"style": "page", "size_param": "per_page", "size": 10}).walk(ctx)


def test_bad_answers_are_final(api, ctx):
    with pytest.raises(FinalError, match=r"records_path 'result.rows': no 'rows' \(found: records\)"):
        src(f"{api}/stations", records_path="result.rows").walk(ctx)
    with pytest.raises(FinalError, match="is a dict, not a list of records"):
        src(f"{api}/stations").walk(ctx)
    with pytest.raises(FinalError, match="not JSON"):
        src(f"{api}/html").walk(ctx)
    assert src(f"{api}/plain").walk(ctx) == RECORDS[:3]


def test_robots_txt_disallow_is_refused(api, ctx):
    with pytest.raises(FinalError, match=r"robots.txt of 127.0.0.1:\d+ disallows http://127.0.0.1:\d+/secret/x"):
        src(f"{api}/secret/x").gather(ctx)


@pytest.mark.parametrize("kw, message", [
    ({"auth": "bearer"}, "needs `connection:`"),
    ({"connection": "x"}, "without `auth:`"),
    ({"auth": "oauth", "connection": "x"}, "Input should be 'bearer', 'basic' or 'api_key'"),
    ({"pagination": {"style": "cursor"}}, "Input should be 'none', 'page', 'offset' or 'next_link'"),
    ({"max_pages": 0}, "greater than or equal to 1"),
    ({"key": "สถานี"}, "lower-case ASCII"),
    ({"pagination": {"size": 10, "sise": 5}}, "Extra inputs are not permitted"),
])
def test_settings_are_checked(kw, message):
    with pytest.raises(ValidationError, match=message):
        src("https://api.example.go.th/v1/stations", **kw)

"""Source kind `ckan_catalog`: package_search paging and filters, what is taken or skipped, dataset
targets, keys, auth, and config checks, against a loopback fake of a CKAN catalog."""

from __future__ import annotations

import json
import logging
import re
import shutil
from typing import ClassVar
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from pydantic import ValidationError

from harvesters import net
from harvesters.config import load_source
from harvesters.errors import ConfigError, FinalError
from harvesters.kinds import pool_name
from harvesters.kinds.base import ConnectionInfo, HarvestContext
from harvesters.kinds.ckan_catalog import CkanCatalogSource
from harvesters.kinds.common import KEY_RE, dataset_slug
from harvesters.settings import REPO_ROOT, Settings
from tests import loopback
from tests.loopback import serve

TOKEN = "ckan-api-token-123"
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,69}$")
GDC = {  # a GD Catalog dataset's scheming fields, as package_search returns them (numbers as strings)
    "data_type": "ข้อมูลสถิติ", "maintainer": "ศูนย์ข้อมูลคุณภาพอากาศ", "maintainer_email": "opendata@pcd.example.go.th",
    "notes": "ค่าฝุ่นละออง PM2.5 รายวัน จากสถานีตรวจวัดทั่วประเทศ", "objective": ["พันธกิจหน่วยงาน"],
    "update_frequency_unit": "วัน", "update_frequency_interval": "1", "geo_coverage": "จังหวัด",
    "data_source": "กรมควบคุมมลพิษ", "data_format": ["CSV", "PDF"], "data_category": "ข้อมูลสาธารณะ",
    "license_id": "Open Data Common", "data_language": ["ไทย"], "disaggregate": [], "unit_of_measure": "มคก./ลบ.ม.",
    "official_statistics": "", "url": None, "allow_harvest": "True", "owner_org": "b9c1-remote-org-id",
}


def res(rid: str, name: str, path: str, fmt: str = "", **kw) -> dict:
    url = path if "://" in path or not path else "{site}" + path
    return {"id": rid, "name": name, "url": url, "format": fmt, "last_modified": None,
            "metadata_modified": f"2025-02-0{len(rid) % 9 + 1}T10:00:00.000001", **kw}


def pkg(name: str, title: str, resources: list[dict], tags=(), **extra) -> dict:
    return {"id": f"id-{name}", "name": name, "title": title, "metadata_modified": "2025-02-01T00:00:00.000001",
            "organization": {"name": "pcd"}, "tags": [{"name": t, "display_name": t} for t in tags],
            "resources": resources, **extra}


SITES: dict[str, list[dict]] = {
    "/paging": [pkg(n, f"ชุดข้อมูล {n}", [res(f"r-{n}", "data", f"/paging/files/{n}.csv", "CSV")])
                for n in ("alpha", "bravo", "charlie")],
    "/mixed": [
        pkg("pm25-daily", "ค่าฝุ่นละออง PM2.5 รายวัน", tags=("คุณภาพอากาศ", "PM2.5"), **GDC, resources=[
            res("r-csv", "PM2.5 daily", "/mixed/files/pm25.csv", "CSV", size="1234",
                last_modified="2025-02-03T04:05:06"),
            res("r-pdf", "รายงานสรุป", "/mixed/files/report.pdf", "PDF"),
            res("r-xls", "ค่าฝุ่น 2567", "/mixed/files/pm25_2567.xls"),  # no format: the URL's extension
            res("r-empty", "ไม่มีไฟล์", ""),
            res("r-th1", "สถานีภาคเหนือ", "/mixed/files/" + quote("ภาคเหนือ.csv"), "csv"),
            res("r-th2", "สถานีภาคใต้", "/mixed/files/" + quote("ภาคใต้.csv"), "text/csv"),
            res("r-blocked", "blocked", "/mixed/blocked/x.csv", "CSV"),
        ]),
        pkg("no-consent", "ยังไม่อนุญาต", [res("r-nc", "x", "/mixed/files/nc.csv", "CSV")], allow_harvest="False"),
        pkg("documents-only", "เอกสาร", [res("r-doc", "คู่มือ", "/mixed/files/manual.docx", "DOCX"),
                                         res("r-doc2", "สรุป", "/mixed/files/summary.pdf")]),
        pkg("plain-ckan", "Plain CKAN dataset", [res("r-plain", "สถานีภาคเหนือ", "/mixed/files/north.csv", "CSV")],
            notes="no GD Catalog fields here"),
    ],
    "/private": [pkg("secret-stations", "สถานีลับ", [res("r-s", "stations", "/private/files/s.csv", "CSV"),
                                                     res("r-o", "elsewhere", "http://localhost:{port}/private/"
                                                         "files/o.csv", "CSV")])],
}


class Catalog(loopback.Handler):
    seen: ClassVar[list[dict]] = []

    def do_GET(self):
        parts = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        auth = self.headers.get("Authorization")
        Catalog.seen.append({"path": parts.path, "query": q, "auth": auth})
        site, _, rest = parts.path[1:].partition("/")
        site = f"/{site}"
        if parts.path == "/robots.txt":  # CKAN's stock rules
            return self.reply(200, b"User-agent: *\nDisallow: /api/\nDisallow: /mixed/blocked/\n", "text/plain")
        if site == "/private" and auth != TOKEN:
            return self.reply(403, json.dumps({"success": False, "error": {"__type": "Authorization Error"}}).encode())
        if rest.startswith(("files/", "blocked/")):
            return self.reply(200, b"a,b\n1,2\n", "text/csv")
        if site == "/nojson":
            return self.reply(200, b"<html>not a catalog</html>", "text/html")
        if site == "/failing":
            return self.reply(200, json.dumps({"success": False, "error": {
                "__type": "Search Query Error", "message": "Search error: bad fq"}}).encode())
        if site not in SITES or rest != "api/3/action/package_search":
            return self.reply(404, b"{}")
        host = f"http://127.0.0.1:{self.server.server_address[1]}"
        found = json.loads(json.dumps(SITES[site]).replace("{site}", host)
                           .replace("{port}", str(self.server.server_address[1])))
        start, rows = int(q.get("start", 0)), int(q.get("rows", 10))
        body = {"success": True, "result": {"count": len(found), "results": found[start:start + rows]}}
        self.reply(200, json.dumps(body, ensure_ascii=False).encode())


@pytest.fixture(scope="module")
def catalog():
    with serve(Catalog) as url:
        yield url


@pytest.fixture()
def ctx():
    Catalog.seen.clear()
    return HarvestContext("pcd-catalog", Settings.from_env(), net.session(),
                          connection=lambda conn_id: ConnectionInfo(conn_id, "http", password=TOKEN))


def src(url, **kw) -> CkanCatalogSource:
    return CkanCatalogSource(kind="ckan_catalog", url=url, **kw)


def searches() -> list[dict]:
    return [s["query"] for s in Catalog.seen if s["path"].endswith("/package_search")]


def test_pages_through_package_search_in_name_order(catalog, ctx):
    files = src(f"{catalog}/paging/", page_size=2).gather(ctx)
    assert [f.dataset.name for f in files] == ["alpha", "bravo", "charlie"]
    assert [(q["start"], q["rows"], q["sort"], q["q"], q["include_private"]) for q in searches()] == \
        [("0", "2", "name asc", "*:*", "false"), ("2", "2", "name asc", "*:*", "false")]
    assert "fq" not in searches()[0]
    # The API is not read through robots.txt (CKAN's disallows /api/): no robots.txt fetch for gather.
    assert all(s["path"] != "/robots.txt" for s in Catalog.seen)


def test_max_datasets_stops_and_warns(catalog, ctx, caplog):
    with caplog.at_level(logging.WARNING):
        files = src(f"{catalog}/paging", max_datasets=2, page_size=5).gather(ctx)
    assert [f.dataset.name for f in files] == ["alpha", "bravo"]
    assert [q["rows"] for q in searches()] == ["2"]
    assert "3 datasets match" in caplog.text and "max_datasets=2" in caplog.text


def test_organization_query_and_filter_compose(catalog, ctx):
    src(f"{catalog}/paging", organization="pcd", query="ฝุ่น", filter="tags:ฝุ่นละออง OR res_format:CSV").gather(ctx)
    (q,) = searches()
    assert q["fq"] == "organization:pcd AND (tags:ฝุ่นละออง OR res_format:CSV)"
    assert q["q"] == "ฝุ่น"
    src(f"{catalog}/paging", filter="res_format:CSV").gather(ctx)
    assert searches()[-1]["fq"] == "res_format:CSV"


def test_takes_data_resources_and_skips_the_rest(catalog, ctx, caplog):
    with caplog.at_level(logging.INFO):
        files = src(f"{catalog}/mixed").gather(ctx)
    by_id = {f.locator["resource_id"]: f for f in files}
    # PDF, no URL, no consent (allow_harvest "False"), documents only: never gathered.
    assert set(by_id) == {"r-csv", "r-xls", "r-th1", "r-th2", "r-blocked", "r-plain"}
    assert {f.dataset.name for f in files} == {"pm25-daily", "plain-ckan"}
    assert "skip dataset no-consent: allow_harvest is 'False'" in caplog.text
    assert "skip dataset documents-only: no resource in a format to take" in caplog.text
    assert "skip resource 'รายงานสรุป' of pm25-daily: format 'PDF'" in caplog.text
    assert "skip resource 'ไม่มีไฟล์' of pm25-daily: no URL" in caplog.text
    assert not any(s["path"].endswith((".pdf", ".docx")) for s in Catalog.seen)

    csv = by_id["r-csv"]
    assert (csv.url, csv.title, csv.suffix, csv.size) == (f"{catalog}/mixed/files/pm25.csv", "PM2.5 daily", ".csv", 1234)
    # The version marker: the catalog's last change and hash of the file (and its URL); no stamp, no marker.
    assert (csv.etag, csv.modified) == (f"2025-02-03T04:05:06||{csv.url}", "2025-02-03T04:05:06")
    assert csv.locator == {"catalog": f"{catalog}/mixed", "dataset": "pm25-daily", "dataset_id": "id-pm25-daily",
                           "resource_id": "r-csv"}
    assert by_id["r-xls"].suffix == ".xls"  # from the URL: the resource has no format
    assert by_id["r-th2"].suffix == ".csv"  # a MIME type as the format
    assert by_id["r-th1"].title == "สถานีภาคเหนือ"


def test_keys_are_ascii_unique_and_stable(catalog, ctx):
    files = src(f"{catalog}/mixed").gather(ctx)
    keys = {f.locator["resource_id"]: f.key for f in files}
    assert all(KEY_RE.match(k) for k in keys.values()), keys
    assert len(set(keys.values())) == len(keys)
    assert keys["r-csv"] == "pm25-daily-pm2-5-daily"
    assert keys["r-xls"] == "pm25-daily-pm25-2567"  # a Thai name: the file name's ASCII instead
    # Thai name and Thai file name: the dataset name plus a hash of the resource id.
    assert re.fullmatch(r"pm25-daily-[0-9a-f]{8}", keys["r-th1"]) and keys["r-th1"] != keys["r-th2"]
    assert keys == {f.locator["resource_id"]: f.key for f in src(f"{catalog}/mixed").gather(ctx)}


def test_each_remote_dataset_is_one_target_with_its_metadata(catalog, ctx):
    files = src(f"{catalog}/mixed", dataset_prefix="pcd-").gather(ctx)
    target = next(f.dataset for f in files if f.locator["dataset"] == "pm25-daily")
    assert all(f.dataset == target for f in files if f.locator["dataset"] == "pm25-daily")
    assert (target.name, target.title, target.origin) == \
        ("pcd-pm25-daily", "ค่าฝุ่นละออง PM2.5 รายวัน", f"{catalog}/mixed/dataset/pm25-daily")
    md = target.metadata
    assert md["tags"] == ["คุณภาพอากาศ", "PM2.5"]
    assert md["notes"] == "ค่าฝุ่นละออง PM2.5 รายวัน จากสถานีตรวจวัดทั่วประเทศ"
    assert (md["data_type"], md["geo_coverage"], md["objective"]) == ("ข้อมูลสถิติ", "จังหวัด", ["พันธกิจหน่วยงาน"])
    assert md["update_frequency_interval"] == "1"  # copied as is: publishing validates
    # Derived by the pipeline, or empty: not copied; the title travels as the target's title.
    assert not {"data_format", "allow_harvest", "owner_org", "name", "title", "disaggregate",
                "official_statistics", "url", "tag_string"} & set(md)
    plain = next(f.dataset for f in files if f.locator["dataset"] == "plain-ckan")
    assert plain.metadata == {"notes": "no GD Catalog fields here"} and plain.name == "pcd-plain-ckan"


def test_dataset_names_fit_the_portal():
    long_name = "pm25-" + "x" * 95  # CKAN allows 100 characters, the portal 70
    source = src("https://catalog.example.go.th", dataset_prefix="agency-")
    name = source.target(pkg(long_name, "t", [])).name
    assert len(name) == 70 and SLUG_RE.match(name) and name.startswith("agency-pm25-xxx")
    other = source.target(pkg(long_name[:-1] + "y", "t", [])).name
    assert other != name and len(other) == 70
    assert dataset_slug("a" * 70) == "a" * 70 and dataset_slug("pcd--stations") == "pcd--stations"  # kept as is
    assert SLUG_RE.match(dataset_slug("-odd_name"))


def test_success_false_and_non_json_are_final(catalog, ctx):
    with pytest.raises(FinalError, match=rf"package_search refused at {catalog}/failing/api/3/action/"
                                         r"package_search\?.*: Search error: bad fq"):
        src(f"{catalog}/failing").gather(ctx)
    with pytest.raises(FinalError, match=rf"not JSON \(text/html\) from {catalog}/nojson/api/3/action/"):
        src(f"{catalog}/nojson").gather(ctx)
    with pytest.raises(FinalError, match=rf"HTTP 404 Not Found from {catalog}/nowhere/api/3/action/package_search"):
        src(f"{catalog}/nowhere").gather(ctx)


def test_token_from_the_connection_for_search_and_own_host_downloads(catalog, ctx, tmp_path):
    with pytest.raises(FinalError, match="HTTP 403"):
        src(f"{catalog}/private").gather(ctx)
    source = src(f"{catalog}/private", connection="pcd_catalog")
    files = source.gather(ctx)
    assert searches()[-1]["include_private"] == "true"
    assert [s["auth"] for s in Catalog.seen if s["path"].endswith("/package_search")] == [None, TOKEN]
    own, other = files
    assert source.fetch(own, tmp_path / "s.csv", ctx).content_type == "text/csv"
    assert (tmp_path / "s.csv").read_bytes() == b"a,b\n1,2\n"
    # Another host (here: the same server by another name) never gets the token.
    with pytest.raises(FinalError, match="HTTP 403"):
        source.fetch(other, tmp_path / "o.csv", ctx)
    downloads = [s for s in Catalog.seen if "/files/" in s["path"]]
    assert [d["auth"] for d in downloads] == [TOKEN, None]


def test_downloads_obey_robots_txt(catalog, ctx, tmp_path):
    source = src(f"{catalog}/mixed")
    blocked = next(f for f in source.gather(ctx) if f.locator["resource_id"] == "r-blocked")
    with pytest.raises(FinalError, match="robots.txt of 127.0.0.1:.* disallows .*/mixed/blocked/x.csv"):
        source.fetch(blocked, tmp_path / "x.csv", ctx)
    assert src(f"{catalog}/mixed", respect_robots=False).fetch(blocked, tmp_path / "x.csv", ctx).content_type == "text/csv"


@pytest.mark.parametrize("kw, message", [
    ({"url": "ftp://catalog.example.go.th"}, "not an http(s) URL"),
    ({"organization": "กรมควบคุมมลพิษ"}, "not a CKAN organization name"),
    ({"max_datasets": 0}, "greater than or equal to 1"),
    ({"max_datasets": 10_001}, "less than or equal to 10000"),
    ({"formats": []}, "at least 1 item"),
    ({"dataset_prefix": "PCD "}, "dataset_prefix must be"),
    ({"organisation": "pcd"}, "Extra inputs are not permitted"),
])
def test_settings_are_checked(kw, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        src(**{"url": "https://catalog.example.go.th", **kw})


def test_formats_and_url_are_normalised():
    source = src("https://catalog.example.go.th/ckan/", formats=["XLS", ".CSV", "htm"])
    assert (source.url, source.formats) == ("https://catalog.example.go.th/ckan", ["xls", "csv", "html"])
    assert source.hosts() == {"catalog.example.go.th"}


CONFIG = """\
id: pcd-agency-catalog
source:
  kind: ckan_catalog
  url: {url}
  organization: pcd
  dataset_prefix: pcd-
{extra}metadata:
  data_type: statistical
  title: ชุดข้อมูลจากแคตตาล็อกข้อมูลกรมควบคุมมลพิษ
  notes: ชุดข้อมูลที่คัดลอกจากแคตตาล็อกข้อมูลของกรมควบคุมมลพิษ
  tags: [คุณภาพอากาศ]
  update_frequency_unit: month
  geo_coverage: country
"""


@pytest.fixture()
def write_config(tmp_path):
    folder = tmp_path / "sources" / "pcd"
    folder.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "include" / "sources" / "pcd" / "_agency.yaml", folder / "_agency.yaml")

    def write(url: str = "https://catalog.pcd.example.go.th/", extra: str = ""):
        path = folder / "agency-catalog.yaml"
        path.write_text(CONFIG.format(url=url, extra=extra), encoding="utf-8")
        return path

    return write


def test_config_loads_with_the_kind(write_config):
    cfg = load_source(write_config()).config
    assert cfg.source.kind == "ckan_catalog" and cfg.source.url == "https://catalog.pcd.example.go.th"
    assert cfg.source.only_allow_harvest is True and "xls" in cfg.source.formats
    assert pool_name(cfg) == "host_catalog_pcd_example_go_th"


@pytest.mark.parametrize("url, extra, field, words", [
    ("catalog.pcd.example.go.th", "", "source.url", "not an http(s) URL"),
    ("https://catalog.pcd.example.go.th", "  organisation: pcd\n", "source.organisation", "unknown setting"),
    ("https://catalog.pcd.example.go.th", "  page_size: 5000\n", "source.page_size", "less than or equal to 1000"),
])
def test_config_errors_name_the_setting(write_config, url, extra, field, words):
    with pytest.raises(ConfigError) as err:
        load_source(write_config(url, extra))
    problems = dict(err.value.problems)
    assert field in problems, problems
    assert words in problems[field]

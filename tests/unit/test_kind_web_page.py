"""Source kind `web_page`: settings checks, and gather against a real loopback web server."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from pydantic import ValidationError

from harvesters import net
from harvesters.errors import FinalError
from harvesters.kinds.base import HarvestContext
from harvesters.kinds.web_page import WebPageSource
from harvesters.settings import Settings
from tests.loopback import serve_directory

THAI_FILE = "ค่าฝุ่นรายวัน_2568-01.csv"

PAGE1 = f"""<html><head><meta charset="utf-8"></head><body>
<nav><a href="/">หน้าแรก</a> <a href="about.html">เกี่ยวกับ</a> <a href="mailto:x@example.go.th">ติดต่อ</a></nav>
<div id="files">
  <a href="files/{quote(THAI_FILE)}">ค่าฝุ่น   PM2.5
     รายวัน มกราคม 2568</a>
  <a href="files/manual.pdf">คู่มือ</a>
  <a href="/data/hotspots.xlsx#sheet1">จุดความร้อน</a>
  <a href="javascript:void(0)">พิมพ์</a>
</div>
<a href="page2.html">หน้าถัดไป &raquo;</a>
</body></html>"""

PAGE2 = """<html><head><meta charset="utf-8"></head><body>
<div id="files"><a href="files/pm25_2568-02.csv">ค่าฝุ่น PM2.5 รายวัน กุมภาพันธ์ 2568</a>
<a href="files/%E0%B8%84%E0%B9%88%E0%B8%B2%E0%B8%9D%E0%B8%B8%E0%B9%88%E0%B8%99%E0%B8%A3%E0%B8%B2%E0%B8%A2%E0%B8%A7%E0%B8%B1%E0%B8%99_2568-01.csv">ซ้ำ</a></div>
<a href="page3.html">หน้าถัดไป</a> <a href="index.html">หน้าก่อน</a>
</body></html>"""

PAGE3 = """<html><head><meta charset="utf-8"></head><body>
<div id="files"><a href="files/pm25_2568-03.csv">ค่าฝุ่น PM2.5 รายวัน มีนาคม 2568</a></div>
<a href="index.html">หน้าถัดไป</a>
</body></html>"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    (root / "reports").mkdir()
    (root / "reports" / "index.html").write_text(PAGE1, encoding="utf-8")
    (root / "reports" / "page2.html").write_text(PAGE2, encoding="utf-8")
    (root / "reports" / "page3.html").write_text(PAGE3, encoding="utf-8")
    (root / "private").mkdir()
    (root / "private" / "index.html").write_text(PAGE1, encoding="utf-8")
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")

    with serve_directory(root) as url:
        yield url


@pytest.fixture()
def ctx():
    return HarvestContext("pcd-reports", Settings.from_env(), net.session())


def source(url, **kw) -> WebPageSource:
    return WebPageSource(kind="web_page", url=url, **kw)


def test_gathers_linked_files_across_next_pages(site, ctx):
    src = source(f"{site}/reports/index.html", links={"selector": "#files"}, next_page={"text": "หน้าถัดไป"})
    files = src.gather(ctx)
    assert [f.url for f in files] == [
        f"{site}/reports/files/{quote(THAI_FILE)}",
        f"{site}/data/hotspots.xlsx",  # fragment dropped, absolute path resolved
        f"{site}/reports/files/pm25_2568-02.csv",
        f"{site}/reports/files/pm25_2568-03.csv",
    ]  # the pdf is not a data type; the repeated link is taken once; the loop back to page 1 ends the walk
    first = files[0]
    assert first.title == "ค่าฝุ่น PM2.5 รายวัน มกราคม 2568"  # Thai link text, whitespace folded
    assert first.key == "2568-01" and first.suffix == ".csv"
    assert [f.key for f in files[1:]] == ["hotspots", "pm25-2568-02", "pm25-2568-03"]
    assert all(f.source == "pcd-reports" for f in files)
    assert src.hosts() == {site.removeprefix("http://")}


def test_each_file_dataset_gives_every_file_its_own_dataset(site, ctx):
    src = source(f"{site}/reports/index.html", links={"selector": "#files", "file_types": ["csv"]},
                 next_page={"text": "หน้าถัดไป"}, each_file_dataset=True)
    files = src.gather(ctx)
    targets = [f.dataset for f in files]
    assert [t.name for t in targets] == ["pcd-reports-2568-01", "pcd-reports-pm25-2568-02", "pcd-reports-pm25-2568-03"]
    assert targets[0].title == "ค่าฝุ่น PM2.5 รายวัน มกราคม 2568"  # the link text
    assert targets[0].origin == files[0].url
    # Without the option, every file is a resource of the source's one dataset.
    assert all(f.dataset is None for f in source(f"{site}/reports/index.html", links={"selector": "#files"}).gather(ctx))


def test_max_pages_stops_the_walk(site, ctx):
    src = source(f"{site}/reports/index.html", links={"selector": "#files", "file_types": ["csv"]},
                 next_page={"text": "หน้าถัดไป"}, max_pages=2)
    assert [f.key for f in src.gather(ctx)] == ["2568-01", "pm25-2568-02"]


def test_text_and_url_filters(site, ctx):
    by_text = source(f"{site}/reports/index.html", links={"text_contains": "จุดความร้อน"})
    assert [f.key for f in by_text.gather(ctx)] == ["hotspots"]
    # The regex sees the decoded URL too, so Thai file names can be matched.
    by_regex = source(f"{site}/reports/index.html", links={"url_pattern": "ค่าฝุ่น.*\\.csv$"})
    assert [f.title for f in by_regex.gather(ctx)] == ["ค่าฝุ่น PM2.5 รายวัน มกราคม 2568"]
    any_type = source(f"{site}/reports/index.html", links={"selector": "#files", "file_types": []})
    assert "manual" in [f.key for f in any_type.gather(ctx)]


def test_keys_and_titles_stay_unique():
    from harvesters.kinds.common import unique_keys, unique_titles

    keys = unique_keys(["ข้อมูล.csv", "ข้อมูล2.csv", "a/data.csv", "data.csv"],
                       ["u/ข้อมูล.csv", "u/ข้อมูล2.csv", "a/data.csv", "b/data.csv"])
    assert keys[1] == "2" and keys[0].startswith("file-") and keys[2] != keys[3]
    assert all(k.isascii() for k in keys)
    assert keys == unique_keys(["ข้อมูล.csv", "ข้อมูล2.csv", "a/data.csv", "data.csv"],
                               ["u/ข้อมูล.csv", "u/ข้อมูล2.csv", "a/data.csv", "b/data.csv"])  # stable
    assert unique_titles(["ดาวน์โหลด", "ดาวน์โหลด"], ["a.csv", "b.csv"]) == ["ดาวน์โหลด (a.csv)", "ดาวน์โหลด (b.csv)"]


def test_robots_txt_disallow_is_refused(site, ctx):
    src = source(f"{site}/private/index.html", links={"selector": "#files"})
    with pytest.raises(FinalError, match=r"robots.txt of 127.0.0.1:\d+ disallows http://127.0.0.1:\d+/private/"):
        src.gather(ctx)
    allowed = source(f"{site}/private/index.html", links={"selector": "#files"}, respect_robots=False)
    assert allowed.gather(ctx)


def test_unreachable_page_names_the_url(ctx):
    from harvesters.errors import RetryableError

    src = source("http://127.0.0.1:9/reports.html", links={"selector": "a"})
    with pytest.raises(RetryableError, match=r"cannot reach http://127.0.0.1:9/reports.html"):
        src.gather(ctx)


@pytest.mark.parametrize("links, message", [
    ({}, "say which links are the data files"),
    ({"file_types": ["csv"]}, "say which links are the data files"),
    ({"url_pattern": "data(.csv"}, r"not a valid regular expression 'data\(\.csv': missing \)"),
    ({"selector": "a[href"}, "not a valid CSS selector"),
    ({"selector": "a", "colour": "red"}, "Extra inputs are not permitted"),
])
def test_settings_are_checked(links, message):
    with pytest.raises(ValidationError, match=message):
        source("https://www.pcd.go.th/reports", links=links)


def test_settings_need_an_http_url_and_a_next_page_rule():
    with pytest.raises(ValidationError, match="not an http"):
        source("ftp://x/y", links={"selector": "a"})
    with pytest.raises(ValidationError, match="set `selector` or `text`"):
        source("https://x/y", links={"selector": "a"}, next_page={})

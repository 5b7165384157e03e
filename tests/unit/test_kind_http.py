"""Source kind `http`: settings checks and what gather offers."""

import pytest
from pydantic import ValidationError

import requests

from harvesters.kinds.base import HarvestContext
from harvesters.kinds.http import HttpSource, key_from_url
from harvesters.settings import Settings


def test_gather_names_files_from_thai_percent_encoded_urls():
    url = "https://agency.example.go.th/files/%E0%B8%84%E0%B9%88%E0%B8%B2%E0%B8%9D%E0%B8%B8%E0%B9%88%E0%B8%99%20PM25.csv"
    source = HttpSource(kind="http", files=[url, {"url": "https://a.example/x/hotspots.xlsx", "title": "จุดความร้อน"}])
    first, second = source.gather(HarvestContext("pcd-x", Settings.from_env(), requests.Session()))
    assert first.title == "ค่าฝุ่น PM25.csv"  # decoded for people
    assert first.key == "pm25"  # ASCII for file names and portal uploads
    assert (second.key, second.title, second.source, second.suffix) == ("hotspots", "จุดความร้อน", "pcd-x", ".xlsx")
    assert source.hosts() == {"agency.example.go.th", "a.example"}


def test_keys_must_be_unique_and_ascii():
    with pytest.raises(ValidationError, match="share the key"):
        HttpSource(kind="http", files=["http://a/x/data.csv", "http://b/y/data.csv"])
    with pytest.raises(ValidationError, match="lower-case ASCII"):
        HttpSource(kind="http", files=[{"url": "http://a/x.csv", "key": "ข้อมูล"}])


@pytest.mark.parametrize("url", ["ftp://a/x.csv", "file:///etc/passwd", "not a url"])
def test_only_http_urls(url):
    with pytest.raises(ValidationError, match="not an http"):
        HttpSource(kind="http", files=[url])


def test_key_falls_back_when_the_name_has_no_ascii():
    assert key_from_url("http://a/%E0%B8%82%E0%B9%89%E0%B8%AD%E0%B8%A1%E0%B8%B9%E0%B8%A5.csv") == "file"


def test_fetch_obeys_robots_txt_unless_told_not_to(tmp_path):
    """robots.txt is read once per host per run; a disallowed file is refused with a final error."""
    from harvesters import net
    from harvesters.errors import FinalError
    from tests.loopback import serve_directory

    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "x.csv").write_text("a\n1\n")
    (tmp_path / "open.csv").write_text("a\n1\n")
    (tmp_path / "robots.txt").write_text("User-agent: ogd-harvester\nDisallow: /private/\n")
    asked = []

    with serve_directory(tmp_path, asked) as base:
        ctx = HarvestContext("pcd-x", Settings.from_env(), net.session())
        source = HttpSource(kind="http", files=[f"{base}/open.csv", f"{base}/private/x.csv"])
        opened, private = source.gather(ctx)
        source.fetch(opened, tmp_path / "got.csv", ctx)
        with pytest.raises(FinalError, match=f"robots.txt of 127.0.0.1:\\d+ disallows {base}/private/x.csv"):
            source.fetch(private, tmp_path / "no.csv", ctx)
        assert asked.count("/robots.txt") == 1  # cached for the run
        relaxed = HttpSource(kind="http", files=[f"{base}/private/x.csv"], respect_robots=False)
        relaxed.fetch(relaxed.gather(ctx)[0], tmp_path / "yes.csv", ctx)
        assert (tmp_path / "yes.csv").read_text() == "a\n1\n"


def test_a_last_modified_within_a_second_of_the_answer_is_no_validator():
    """RFC 9110 8.8.2.2: the file may change again within that second; a conditional request would then say 304."""
    from harvesters.kinds.base import _usable_last_modified

    date = "Tue, 01 Dec 2026 10:00:00 GMT"
    assert _usable_last_modified({"Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT", "Date": date}) is None
    assert _usable_last_modified({"Last-Modified": "Tue, 01 Dec 2026 09:59:50 GMT", "Date": date}) == \
        "Tue, 01 Dec 2026 09:59:50 GMT"
    assert _usable_last_modified({"Last-Modified": "Tue, 01 Dec 2026 09:59:50 GMT"}) is None  # no Date: cannot tell
    assert _usable_last_modified({"Last-Modified": "yesterday", "Date": date}) is None

"""Source kind `html_table`: settings, and what gather tells the converter."""

from __future__ import annotations

import pytest
import requests
from pydantic import ValidationError

from harvesters.convert.options import ConvertOptions
from harvesters.kinds.base import HarvestContext
from harvesters.kinds.html_table import HtmlTableSource
from harvesters.settings import Settings


def ctx():
    return HarvestContext("gistda-stats", Settings.from_env(), requests.Session())


@pytest.mark.parametrize("table, expected", [
    ({"caption": "จุดความร้อน"}, {"tables": {"caption": "จุดความร้อน"}}),
    ({"index": 1}, {"tables": {"index": 1}}),
    ({"css": "table#stats"}, {"tables": {"css": "table#stats"}}),
    (None, {}),
])
def test_gather_offers_the_page_with_the_table_choice(table, expected):
    src = HtmlTableSource(kind="html_table", url="https://www.gistda.or.th/stats/%E0%B8%AA%E0%B8%96%E0%B8%B4%E0%B8%95%E0%B8%B4.html",
                          table=table, respect_robots=False)
    (remote,) = src.gather(ctx())
    assert remote.suffix == ".html" and remote.convert == expected
    ConvertOptions(**remote.convert)  # what the converter accepts
    assert remote.key == "table"  # a Thai-only page name still gets an ASCII key
    assert src.hosts() == {"www.gistda.or.th"}


def test_title_and_key():
    src = HtmlTableSource(kind="html_table", url="https://a.example/stats.html", title="สถิติ", key="stats-2568",
                          respect_robots=False)
    (remote,) = src.gather(ctx())
    assert (remote.title, remote.key) == ("สถิติ", "stats-2568")


@pytest.mark.parametrize("table, message", [
    ({}, "pick the table one way"),
    ({"index": 0, "caption": "x"}, "pick the table one way"),
    ({"css": "table[", }, "not a valid CSS selector"),
    ({"sheet": "Sheet1"}, "Extra inputs are not permitted"),
    ({"index": -1}, "greater than or equal to 0"),
])
def test_table_choice_is_checked(table, message):
    with pytest.raises(ValidationError, match=message):
        HtmlTableSource(kind="html_table", url="https://a.example/stats.html", table=table)

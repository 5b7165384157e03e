"""Distinct titles: the ckan_catalog title template, and the whitespace rule of the unique-title check."""

import pytest
from pydantic import ValidationError

from harvesters.kinds.ckan_catalog import CkanCatalogSource
from harvesters.titles import normalise


def source(**kw) -> CkanCatalogSource:
    return CkanCatalogSource.model_validate({"kind": "ckan_catalog", "url": "https://catalog.gistda.example.or.th",
                                             "organization": "gistda", **kw})


REMOTE = {"name": "hotspots-daily", "title": "จุดความร้อน  รายวัน", "organization": {"name": "gistda",
                                                                                   "title": "แคตตาล็อก GISTDA"}}


def test_copies_keep_the_remote_title_by_default():
    assert source().target(REMOTE).title == "จุดความร้อน รายวัน"


def test_a_title_template_names_the_origin():
    assert source(title_template="{title} (จาก {organization})").target(REMOTE).title == \
        "จุดความร้อน รายวัน (จาก แคตตาล็อก GISTDA)"
    assert source(title_template="{title} ({catalog})").target(REMOTE).title == \
        "จุดความร้อน รายวัน (catalog.gistda.example.or.th)"


@pytest.mark.parametrize("template", ["{organization}", "{title} {owner}", "{title", "ชื่อ"])
def test_a_template_without_the_title_or_with_unknown_names_is_refused(template):
    with pytest.raises(ValidationError, match="title_template"):
        source(title_template=template)


def test_titles_compare_after_whitespace_is_normalised():
    assert normalise("  ค่าฝุ่น\tPM2.5\n รายวัน ") == "ค่าฝุ่น PM2.5 รายวัน"

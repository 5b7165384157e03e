"""`harvest run SOURCE --dry-run` for every demo source (one per kind) against the local services.

Dry runs gather, fetch, convert and validate, and report per portal dataset what
publish would push; nothing reaches the portal and no drop is marked processed.
"""

from __future__ import annotations

import pytest

from harvesters.config import load_all
from harvesters.errors import ValidationBlocked
from harvesters.runner import run_source
from harvesters.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.integration
SOURCES = REPO_ROOT / "include" / "sources"


@pytest.fixture()
def no_portal(demo_env, monkeypatch):
    monkeypatch.delenv("HARVEST_PORTAL_URL", raising=False)


def test_every_kind_lists_what_it_found_and_pushes_nothing(no_portal, services):
    loaded, errors = load_all(SOURCES)
    assert errors == []
    kinds = set()
    for source in loaded:
        cfg = source.config
        if cfg.id == "ddc-respiratory-patients":  # its demo data breaks its suite on purpose
            with pytest.raises(ValidationBlocked):
                run_source(source, dry_run=True, settings=Settings.from_env())
            continue
        report = run_source(source, dry_run=True, settings=Settings.from_env())
        assert report.gathered, cfg.id
        assert report.datasets and all(d.plan and d.plan["resources"] for d in report.datasets), cfg.id
        assert all(d.prepared is None and d.published is None for d in report.datasets), cfg.id
        kinds.add(cfg.source.kind)
        if cfg.source.kind == "ckan_catalog":
            assert [d.name for d in report.datasets] == ["ogd-gistda-catalog-hotspot-stats",
                                                         "ogd-gistda-catalog-hotspots-daily"]
            assert not any(g["suffix"] == ".pdf" for g in report.gathered)
    assert kinds == {"http", "web_page", "html_table", "json_api", "s3_drop", "sftp_drop", "folder_drop",
                     "ckan_catalog"}

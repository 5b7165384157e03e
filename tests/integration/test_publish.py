"""Publishing against the real local CKAN (GD Catalog schema enforced by ckanext-scheming).

Runs the stages the way `harvest run` does, without Airflow.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import ckanapi
import pytest

from harvesters.config import load_source
from harvesters.errors import FinalError, PortalRefused, RetryableError
from harvesters.portal import Portal
from harvesters.runner import run_source
from harvesters.settings import REPO_ROOT, PortalSettings, Settings

pytestmark = pytest.mark.integration
SOURCES = REPO_ROOT / "include" / "sources"


@pytest.fixture()
def env(services, monkeypatch, tmp_path):
    monkeypatch.setenv("DEMO_SITE_URL", services["demo_site"]["url"])
    monkeypatch.setenv("HARVEST_STAGING_DIR", str(tmp_path / "staging"))
    return services


@pytest.fixture()
def portal_settings(services) -> PortalSettings:
    return PortalSettings(url=services["ckan"]["url"], token=services["ckan"]["token"])


@pytest.fixture()
def ckan(services):
    return ckanapi.RemoteCKAN(services["ckan"]["url"], apikey=services["ckan"]["token"])


def source_copy(tmp_path: Path, new_id: str, agency: str = "pcd") -> Path:
    """The pm25 demo source under another id (and optionally another agency folder)."""
    root = tmp_path / "sources"
    shutil.copytree(SOURCES, root, dirs_exist_ok=True)
    folder = root / agency
    folder.mkdir(exist_ok=True)
    if agency != "pcd":
        shutil.copy(root / "pcd" / "_agency.yaml", folder / "_agency.yaml")
        text = (folder / "_agency.yaml").read_text(encoding="utf-8").replace("agency: pcd", f"agency: {agency}")
        (folder / "_agency.yaml").write_text(text, encoding="utf-8")
    path = folder / f"{new_id}.yaml"
    text = (root / "pcd" / "pm25-hourly.yaml").read_text(encoding="utf-8").replace("id: pcd-pm25-hourly", f"id: {new_id}")
    path.write_text(text, encoding="utf-8")
    return path


def test_run_creates_then_updates_in_place(env, tmp_path, portal_settings, ckan):
    loaded = load_source(source_copy(tmp_path, "pcd-pm25-publish-test"))
    first = run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings)
    assert first.published["created"] is True
    assert first.published["rows"] == 480
    pkg = ckan.action.package_show(id="pcd-pm25-publish-test")
    assert pkg["private"] is False
    assert pkg["allow_harvest"] == "False"  # opening to the national catalog is the approval step's job
    assert pkg["data_format"] == ["CSV", "อื่นๆ"] and pkg["data_format_other"] == "Parquet"
    assert len(pkg["resources"]) == 2
    assert all(r["url_type"] == "upload" for r in pkg["resources"])
    assert "SHA-256" in pkg["resources"][0]["description"]

    second = run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings)
    assert second.published["created"] is False
    assert {r["id"] for r in second.published["resources"]} == {r["id"] for r in pkg["resources"]}
    assert len(ckan.action.package_show(id="pcd-pm25-publish-test")["resources"]) == 2


def test_a_half_made_dataset_from_a_crashed_run_is_finished_and_opened(env, tmp_path, portal_settings, ckan):
    loaded = load_source(source_copy(tmp_path, "pcd-pm25-crashed"))
    # What a run that died right after package_create leaves behind: private, no resources.
    from harvesters.gdc.mapping import dataset_fields

    ckan.action.package_create(**{**dataset_fields(loaded.config, []), "private": True})
    report = run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings)
    assert report.published["created"] is False
    pkg = ckan.action.package_show(id="pcd-pm25-crashed")
    assert pkg["private"] is False and len(pkg["resources"]) == 2


def test_missing_organization_is_a_clear_error_and_nothing_is_sent(env, tmp_path, portal_settings, ckan):
    loaded = load_source(source_copy(tmp_path, "nobody-pm25", agency="nobody"))
    with pytest.raises(FinalError, match="organization 'nobody' does not exist on the portal"):
        run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings)
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="nobody-pm25")


def test_portal_refusal_names_the_field_with_its_thai_label(portal_settings):
    portal = Portal(portal_settings)
    fields = {"name": "refused-by-portal", "title": "x", "owner_org": "pcd", "notes": "n"}
    with pytest.raises(PortalRefused, match=r"maintainer_email \(อีเมลผู้ติดต่อ\): Missing value"):
        portal.create_dataset(fields)


def test_unreachable_portal_is_retryable():
    portal = Portal(PortalSettings(url="http://127.0.0.1:9", token="x"))
    with pytest.raises(RetryableError, match="cannot reach the portal at http://127.0.0.1:9"):
        portal.dataset("anything")


def test_dry_run_prints_the_plan_and_pushes_nothing(env, tmp_path, ckan):
    path = source_copy(tmp_path, "pcd-pm25-dry-run")
    proc = subprocess.run(
        [sys.executable, "-m", "harvesters.cli", "run", "pcd-pm25-dry-run", "--dry-run",
         "--sources-dir", str(path.parent.parent)],
        capture_output=True, text=True, env={**os.environ, "HARVEST_PORTAL_URL": ""}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["plan"]["dataset"]["name"] == "pcd-pm25-dry-run"
    assert report["plan"]["dataset"]["tag_string"] == "คุณภาพอากาศ,ฝุ่นละออง,PM2.5"
    assert [r["format"] for r in report["plan"]["resources"]] == ["CSV", "Parquet"]
    assert report["validation"][0]["outcome"] == "passed"
    assert report["published"] is None
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="pcd-pm25-dry-run")

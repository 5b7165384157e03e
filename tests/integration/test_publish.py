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
    text = text.replace("\n  title: ", f"\n  title: ({new_id}) ", 1)  # a live dataset's title is unique on the portal
    path.write_text(text, encoding="utf-8")
    return path


def test_run_stages_for_approval_then_opens_then_updates_in_place(demo_env, tmp_path, portal_settings, ckan):
    loaded = load_source(source_copy(tmp_path, "pcd-pm25-publish-test"))
    [staged] = run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings).datasets
    assert staged.name == "pcd-pm25-publish-test"
    assert staged.awaiting_approval == ["new dataset"] and staged.published is None
    pkg = ckan.action.package_show(id="pcd-pm25-publish-test")
    assert (pkg["private"], pkg["allow_harvest"]) == (True, "False")  # staged for the approver to preview
    assert len(pkg["resources"]) == 2

    [first] = run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings,
                         approved_by="pcd-approver").datasets
    assert first.published["approved_by"] == "pcd-approver"
    # The files staged by the first run are unchanged: opening the dataset uploads nothing again.
    assert (first.published["status"], first.published["uploaded"]) == ("metadata", [])
    pkg = ckan.action.package_show(id="pcd-pm25-publish-test")
    assert (pkg["private"], pkg["allow_harvest"]) == (False, "True")
    assert pkg["data_format"] == ["CSV", "อื่นๆ"] and pkg["data_format_other"] == "Parquet"
    assert (pkg["first_year_of_data"], pkg["last_year_of_data"]) == ("2567", "2567")
    assert len(pkg["resources"]) == 2
    csv = next(r for r in pkg["resources"] if r["format"] == "CSV")
    assert csv["url_type"] == "upload" and "SHA-256" in csv["description"]
    assert (csv["resource_first_year_of_data"], csv["harvest_rows"]) == ("2567", "480")
    assert json.loads(csv["harvest_validation"])["outcome"] == "passed"
    assert [f["name"] for f in json.loads(csv["harvest_schema"])["fields"]][0] == "วันที่"

    # Approved and unchanged: the next run asks nobody and sends nothing.
    [second] = run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings).datasets
    assert second.awaiting_approval is None and second.published["created"] is False
    assert second.published["status"] == "unchanged" and second.published["unchanged"] == ["pm25-hourly"]
    again = ckan.action.package_show(id="pcd-pm25-publish-test")
    assert [r["id"] for r in again["resources"]] == [r["id"] for r in pkg["resources"]]
    assert again["metadata_modified"] == pkg["metadata_modified"]

    # Withdrawal marks; it never deletes.
    proc = subprocess.run([sys.executable, "-m", "harvesters.cli", "withdraw", "pcd-pm25-publish-test",
                           "--reason", "ข้อมูลคลาดเคลื่อน", "--sources-dir", str(tmp_path / "sources")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HARVEST_PORTAL_URL": portal_settings.url,
                               "HARVEST_PORTAL_TOKEN": portal_settings.token})
    assert proc.returncode == 0, proc.stderr
    pkg = ckan.action.package_show(id="pcd-pm25-publish-test")
    assert (pkg["state"], pkg["private"], pkg["allow_harvest"]) == ("active", True, "False")


def test_an_update_the_portal_refuses_changes_nothing(demo_env, tmp_path, portal_settings, ckan, monkeypatch):
    """Files and metadata go in one revision: a refused update leaves the published dataset exactly as it was."""
    from harvesters import publishing

    loaded = load_source(source_copy(tmp_path, "pcd-pm25-atomic"))
    run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings, approved_by="pcd-approver")
    before = ckan.action.package_show(id="pcd-pm25-atomic")
    assert (before["private"], before["allow_harvest"], len(before["resources"])) == (False, "True", 2)

    real = publishing.dataset_fields
    monkeypatch.setattr(publishing, "dataset_fields",  # what a portal-side schema change would refuse
                        lambda cfg, converted: {**real(cfg, converted), "geo_coverage": "ดาวอังคาร"})
    with pytest.raises(PortalRefused, match="geo_coverage"):
        run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings)
    after = ckan.action.package_show(id="pcd-pm25-atomic")
    # CKAN stamps last_modified (microseconds) on every upload; harvest_fetched_at is to the second only.
    fetched = lambda pkg: sorted((r["id"], r["harvest_fetched_at"], r["last_modified"])  # noqa: E731
                                 for r in pkg["resources"])
    assert fetched(after) == fetched(before)  # no file of the refused update replaced a published one
    assert after["metadata_modified"] == before["metadata_modified"]

    monkeypatch.setattr(publishing, "dataset_fields", real)
    # Forced: the unchanged file is converted and uploaded again, in place.
    [update] = run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings, force=True).datasets
    after = ckan.action.package_show(id="pcd-pm25-atomic")
    assert [r["id"] for r in after["resources"]] == [r["id"] for r in before["resources"]]  # replaced in place
    assert fetched(after) != fetched(before) and update.published["created"] is False
    assert sorted(t["name"] for t in after["tags"]) == sorted(t["name"] for t in before["tags"])
    assert after["objective"] == before["objective"] and after["allow_harvest"] == "True"


def test_a_half_made_dataset_from_a_crashed_run_is_finished(demo_env, tmp_path, portal_settings, ckan):
    loaded = load_source(source_copy(tmp_path, "pcd-pm25-crashed"))
    # What a run that died right after package_create leaves behind: private, no resources.
    from harvesters.gdc.mapping import dataset_fields

    ckan.action.package_create(**{**dataset_fields(loaded.config, []), "private": True})
    [report] = run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings).datasets
    assert report.awaiting_approval == ['dataset not yet approved (private or allow_harvest is not "True")']
    pkg = ckan.action.package_show(id="pcd-pm25-crashed")
    assert pkg["private"] is True and len(pkg["resources"]) == 2


def test_a_trashed_url_is_refused_before_anything_is_sent(demo_env, tmp_path, portal_settings, ckan):
    loaded = load_source(source_copy(tmp_path, "pcd-pm25-trashed"))
    from harvesters.gdc.mapping import dataset_fields

    ckan.action.package_create(**dataset_fields(loaded.config, []))
    ckan.action.package_delete(id="pcd-pm25-trashed")  # the portal's own trash, as an admin would
    with pytest.raises(FinalError, match=r"name \(URL\): 'pcd-pm25-trashed' is in the portal's trash"):
        run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings)
    assert ckan.action.package_show(id="pcd-pm25-trashed")["resources"] == []


def test_another_agencys_dataset_is_never_taken_over(demo_env, tmp_path, portal_settings, ckan):
    loaded = load_source(source_copy(tmp_path, "pcd-pm25-taken"))
    from harvesters.gdc.mapping import dataset_fields
    from harvesters.publishing import withdraw

    ckan.action.package_create(**{**dataset_fields(loaded.config, []), "owner_org": "gistda"})
    with pytest.raises(FinalError, match=r"'pcd-pm25-taken' already belongs to organization 'gistda'"):
        run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings)
    with pytest.raises(FinalError, match="belongs to organization 'gistda', not to this source's 'pcd'"):
        withdraw(Portal(portal_settings), "pcd-pm25-taken", "ไม่ใช่ของเรา", agency="pcd")
    # The same through the command line, naming one dataset of a source with --dataset.
    proc = subprocess.run([sys.executable, "-m", "harvesters.cli", "withdraw", "pcd-pm25-hourly",
                           "--dataset", "pcd-pm25-taken", "--reason", "ไม่ใช่ของเรา",
                           "--sources-dir", str(tmp_path / "sources")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HARVEST_PORTAL_URL": portal_settings.url,
                               "HARVEST_PORTAL_TOKEN": portal_settings.token})
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("dataset 'pcd-pm25-taken' belongs to organization 'gistda', "
                                        "not to this source's 'pcd'")
    pkg = ckan.action.package_show(id="pcd-pm25-taken")
    assert pkg["organization"]["name"] == "gistda" and pkg["resources"] == [] and pkg["private"] is False


def test_a_bad_config_is_a_clear_local_error_and_nothing_is_sent(demo_env, tmp_path, portal_settings, ckan):
    path = source_copy(tmp_path, "pcd-pm25-bad")
    path.write_text(path.read_text(encoding="utf-8").replace("geo_coverage: province", "geo_coverage: mars"),
                    encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "harvesters.cli", "run", "pcd-pm25-bad",
                           "--sources-dir", str(path.parent.parent)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HARVEST_PORTAL_URL": portal_settings.url,
                               "HARVEST_PORTAL_TOKEN": portal_settings.token})
    assert proc.returncode == 1
    assert f"{path}: metadata.geo_coverage (ขอบเขตเชิงภูมิศาสตร์หรือเชิงพื้นที่): " in proc.stderr
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="pcd-pm25-bad")


def test_missing_organization_is_a_clear_error_and_nothing_is_sent(demo_env, tmp_path, portal_settings, ckan):
    loaded = load_source(source_copy(tmp_path, "nobody-pm25", agency="nobody"))
    with pytest.raises(FinalError, match="organization 'nobody' does not exist on the portal"):
        run_source(loaded, settings=Settings.from_env(), portal_settings=portal_settings)
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="nobody-pm25")


def test_portal_refusal_names_the_field_with_its_thai_label(portal_settings):
    portal = Portal(portal_settings)
    fields = {"name": "refused-by-portal", "title": "x", "owner_org": "pcd", "notes": "n"}
    with pytest.raises(PortalRefused, match=r"maintainer_email \(อีเมลผู้ติดต่อ / Contact Email\): Missing value"):
        portal.create_dataset(fields)


def test_unreachable_portal_is_retryable():
    portal = Portal(PortalSettings(url="http://127.0.0.1:9", token="x"))
    with pytest.raises(RetryableError, match="cannot reach the portal at http://127.0.0.1:9"):
        portal.dataset("anything")


def test_dry_run_prints_the_plan_and_pushes_nothing(demo_env, tmp_path, ckan):
    path = source_copy(tmp_path, "pcd-pm25-dry-run")
    proc = subprocess.run(
        [sys.executable, "-m", "harvesters.cli", "run", "pcd-pm25-dry-run", "--dry-run", "--json",
         "--sources-dir", str(path.parent.parent)],
        capture_output=True, text=True, env={**os.environ, "HARVEST_PORTAL_URL": ""}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    [dataset] = report["datasets"]
    assert dataset["plan"]["dataset"]["name"] == "pcd-pm25-dry-run"
    assert dataset["plan"]["dataset"]["tag_string"] == "คุณภาพอากาศ,ฝุ่นละออง,PM2.5"
    assert [r["format"] for r in dataset["plan"]["resources"]] == ["CSV", "Parquet"]
    assert report["validation"][0]["outcome"] == "passed"
    assert dataset["published"] is None and dataset["prepared"] is None
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="pcd-pm25-dry-run")

"""Running every night for a year, against the real local CKAN and a real HTTP server on loopback.

Per source kind (web page, folder drop, agency catalog): a second run of an
unchanged source converts and uploads nothing and leaves no portal activity; a
changed file is uploaded once, in place, and only then do the "last updated"
dates move; a file that disappears is withdrawn only after the grace period
and restored when it returns; a source that cannot be read marks nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
import yaml

from harvesters.config import load_source
from harvesters.errors import FinalError, RetryableError
from harvesters.lifecycle import load_state, state_path
from harvesters.runner import run_source
from harvesters.settings import REPO_ROOT, PortalSettings, Settings
from tests.loopback import serve_directory

pytestmark = pytest.mark.integration
PCD = REPO_ROOT / "include" / "sources" / "pcd"
OLD_DATE = "2020-01-01"  # set on the portal after the first run: a date that must not move without a change


def write_source(tmp_path: Path, source_id: str, source: dict, agency: str = "pcd") -> Path:
    """A source config: the pm25 demo's metadata, the given source block, a short grace period."""
    folder = tmp_path / "sources" / agency
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(PCD / "_agency.yaml", folder / "_agency.yaml")
    cfg = yaml.safe_load((PCD / "pm25-hourly.yaml").read_text(encoding="utf-8"))
    cfg.update(id=source_id, source=source, withdrawal={"after_runs": 2, "after_days": 0})
    cfg["metadata"]["title"] = f"({source_id}) {cfg['metadata']['title']}"  # live titles are unique on the portal
    cfg.pop("validation")
    path = folder / f"{source_id}.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def table(rows: int, shift: float = 0.0) -> bytes:
    lines = ["วันที่,สถานี,PM2.5"] + [f"2025-01-{d:02d},สถานี {d},{d * 1.5 + shift}" for d in range(1, rows + 1)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def put(path: Path, data: bytes, age: int = 10) -> None:
    """Write a file as an agency's server would have it: modified ``age`` seconds ago (a Last-Modified
    within a second of the answer is no validator), and its mtime moving on by at least two seconds
    on every write (HTTP dates have one-second resolution)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    before = path.stat().st_mtime if path.exists() else 0
    path.write_bytes(data)
    stamp = max(path.stat().st_mtime - age, before + 2)
    os.utime(path, (stamp, stamp))


def page(root: Path, names: list[str]) -> None:
    links = "".join(f'<li><a href="{n}">ข้อมูล {n}</a></li>' for n in names)
    put(root / "index.html", f"<html><body><ul id='files'>{links}</ul></body></html>".encode("utf-8"))


def activities(ckan, name: str) -> int:
    return len(ckan.action.package_activity_list(id=name, limit=100))


def last_modified(pkg: dict) -> dict[str, str]:
    return {r["id"]: r["last_modified"] for r in pkg["resources"]}


def by_file(pkg: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in pkg["resources"]:
        out.setdefault(r["harvest_file"], []).append(r)
    return out


def statuses(report) -> dict[str, str]:
    return {f["remote"]["key"]: f["status"] for f in report.fetched}


def backdate(ckan, name: str) -> None:
    """Pretend the data last changed long ago, so a wrong move of the dates shows within one day."""
    pkg = ckan.action.package_show(id=name)
    for r in pkg["resources"]:
        ckan.action.resource_patch(id=r["id"], resource_last_updated_date=OLD_DATE)
    ckan.action.package_patch(id=name, last_updated_date=OLD_DATE)


class Runs:
    def __init__(self, path: Path, portal_settings: PortalSettings):
        self.path, self.portal_settings, self.n = path, portal_settings, 0

    def __call__(self, **kwargs):
        self.n += 1
        return run_source(load_source(self.path), settings=Settings.from_env(), portal_settings=self.portal_settings,
                          run_id=f"run-{self.n}", **kwargs)


def test_web_page_source_over_a_year_of_runs(demo_env, tmp_path, portal_settings, ckan):
    site = tmp_path / "site"
    put(site / "a.csv", table(5))
    put(site / "b.csv", table(7))
    page(site, ["a.csv", "b.csv"])
    log: list[dict] = []
    name = f"lc-web-{uuid.uuid4().hex[:6]}"
    with serve_directory(site, log=log) as url:
        run = Runs(write_source(tmp_path, name, {"kind": "web_page", "url": f"{url}/index.html",
                                                 "links": {"selector": "#files"}}), portal_settings)
        first = run(approved_by="pcd-approver")
        assert statuses(first) == {"a": "new", "b": "new"}
        backdate(ckan, name)
        before = ckan.action.package_show(id=name)
        count = activities(ckan, name)

        # Unchanged: conditional requests answered 304, nothing converted, uploaded or recorded by the portal.
        log.clear()
        second = run()
        assert statuses(second) == {"a": "unchanged", "b": "unchanged"} and second.files == []
        assert {f["change"] for f in second.fetched} == {"HTTP 304 Not Modified (conditional request)"}
        assert [(e["path"], e["status"]) for e in log if e["path"].endswith(".csv")] == [("/a.csv", 304),
                                                                                        ("/b.csv", 304)]
        [entry] = second.datasets
        assert (entry.published["status"], entry.published["uploaded"]) == ("unchanged", [])
        after = ckan.action.package_show(id=name)
        assert activities(ckan, name) == count
        assert last_modified(after) == last_modified(before)
        assert after["last_updated_date"] == OLD_DATE

        # One file changed: one upload (its CSV and Parquet), same resource ids, its dates move; the other's stay.
        put(site / "a.csv", table(6, shift=0.5))
        third = run()
        assert statuses(third) == {"a": "changed", "b": "unchanged"}
        assert sorted(third.datasets[0].published["uploaded"]) == ["a.csv", "a.parquet"]
        after = ckan.action.package_show(id=name)
        assert [r["id"] for r in after["resources"]] == [r["id"] for r in before["resources"]]
        assert activities(ckan, name) == count + 1
        moved = {k: {r["resource_last_updated_date"] for r in rs} for k, rs in by_file(after).items()}
        assert moved["b"] == {OLD_DATE} and moved["a"] != {OLD_DATE}
        assert after["last_updated_date"] == next(iter(moved["a"])) != OLD_DATE
        assert {r["harvest_rows"] for r in by_file(after)["a"]} == {"6"}
        count = activities(ckan, name)

        # b.csv no longer linked: missing for one run (nothing on the portal), withdrawn on the second.
        page(site, ["a.csv"])
        fourth = run()
        assert [(m["key"], m["status"], m["missing_runs"]) for m in fourth.missing] == [("b", "missing", 1)]
        assert activities(ckan, name) == count
        fifth = run()
        assert [(m["key"], m["status"]) for m in fifth.missing] == [("b", "withdrawn")]
        after = ckan.action.package_show(id=name)
        assert activities(ckan, name) == count + 1
        for r in by_file(after)["b"]:
            assert r["description"].startswith("[ถอนการเผยแพร่ ") and json.loads(r["harvest_withdrawn"])["at"]
        assert not any(r.get("harvest_withdrawn") for r in by_file(after)["a"])
        assert (after["private"], after["allow_harvest"]) == (False, "True")  # a.csv is still offered
        assert len(after["resources"]) == 4  # never deleted
        sixth = run()  # still missing: not marked again
        assert [m["status"] for m in sixth.missing] == ["withdrawn_before"]
        assert activities(ckan, name) == count + 1

        # b.csv back, unchanged: its withdrawal is lifted in one revision, nothing uploaded.
        page(site, ["a.csv", "b.csv"])
        back = run()
        assert back.missing == [] and statuses(back)["b"] == "unchanged"
        assert (back.datasets[0].published["status"], back.datasets[0].published["restored"]) == ("metadata", ["b"])
        after = ckan.action.package_show(id=name)
        assert not any(r.get("harvest_withdrawn") for r in after["resources"])
        assert not any(r["description"].startswith("[ถอนการเผยแพร่") for r in after["resources"])
        assert activities(ckan, name) == count + 2
        count = activities(ckan, name)

        # A page whose layout changed (the selector finds nothing): the run fails, nothing is counted.
        state = state_path(Settings.from_env().staging_dir, name)
        counted = state.read_text(encoding="utf-8")
        put(site / "index.html", b"<html><body><div id='new-layout'><a href='a.csv'>a</a></div></body></html>")
        with pytest.raises(FinalError, match="offers no files"):
            run()
        assert state.read_text(encoding="utf-8") == counted
        page(site, ["b.csv"])  # a.csv unlinked, to be counted by the next runs that can read the site

    # The site is down: the run fails as retryable, a.csv is not counted missing, nothing is marked.
    with pytest.raises(RetryableError, match="cannot reach"):
        run()
    assert state.read_text(encoding="utf-8") == counted
    assert all(f.missing_runs == 0 for f in load_state(state, name).files.values())
    assert activities(ckan, name) == count


def test_metadata_only_change_is_pushed_without_files(demo_env, tmp_path, portal_settings, ckan):
    site = tmp_path / "site"
    put(site / "a.csv", table(3))
    name = f"lc-meta-{uuid.uuid4().hex[:6]}"
    with serve_directory(site) as url:
        path = write_source(tmp_path, name, {"kind": "http", "files": [f"{url}/a.csv"]})
        run = Runs(path, portal_settings)
        run(approved_by="pcd-approver")
        before = ckan.action.package_show(id=name)
        count = activities(ckan, name)
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
        cfg["metadata"]["tags"].append("หมอกควัน")  # the agency edits its config: one more tag
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
        [entry] = run().datasets
    assert entry.prepared["metadata_changes"] == ["tag_string"]
    assert (entry.published["status"], entry.published["uploaded"]) == ("metadata", [])
    after = ckan.action.package_show(id=name)
    assert "หมอกควัน" in {t["name"] for t in after["tags"]}
    assert last_modified(after) == last_modified(before)  # no file re-uploaded
    assert after["last_updated_date"] == before["last_updated_date"]
    assert activities(ckan, name) == count + 1


def test_force_re_harvests_an_unchanged_source_without_moving_its_dates(demo_env, tmp_path, portal_settings, ckan):
    site = tmp_path / "site"
    put(site / "a.csv", table(3))
    name = f"lc-force-{uuid.uuid4().hex[:6]}"
    with serve_directory(site) as url:
        run = Runs(write_source(tmp_path, name, {"kind": "http", "files": [f"{url}/a.csv"]}), portal_settings)
        run(approved_by="pcd-approver")
        backdate(ckan, name)
        before = ckan.action.package_show(id=name)
        forced = run(force=True)
    assert [(f["status"], f["forced"]) for f in forced.fetched] == [("unchanged", True)]
    assert len(forced.files) == 1 and forced.datasets[0].published["status"] == "update"
    after = ckan.action.package_show(id=name)
    assert last_modified(after) != last_modified(before)  # uploaded again, in place
    assert [r["id"] for r in after["resources"]] == [r["id"] for r in before["resources"]]
    assert {r["resource_last_updated_date"] for r in after["resources"]} == {OLD_DATE}  # the data did not change


def test_folder_drop_same_object_redropped_removed_and_back(demo_env, tmp_path, portal_settings, ckan):
    drop = tmp_path / "drop"
    put(drop / "a.csv", table(4))
    put(drop / "b.csv", table(5))
    name = f"lc-drop-{uuid.uuid4().hex[:6]}"
    run = Runs(write_source(tmp_path, name, {"kind": "folder_drop", "path": str(drop), "include": ["*.csv"]}),
               portal_settings)
    run(approved_by="pcd-approver")
    before = ckan.action.package_show(id=name)
    count = activities(ckan, name)

    # Unchanged: known from the drop's markers, nothing even downloaded.
    second = run()
    assert statuses(second) == {"a": "unchanged", "b": "unchanged"}
    assert [f["path"] for f in second.fetched] == [None, None] and second.files == []
    # The same file dropped again (a new mtime): downloaded, same checksum as on the portal → unchanged.
    put(drop / "a.csv", table(4))
    third = run()
    redropped = {f["remote"]["key"]: f for f in third.fetched}["a"]
    assert (redropped["status"], redropped["change"][:12]) == ("unchanged", "same content")
    assert third.datasets[0].published["status"] == "unchanged"
    assert activities(ckan, name) == count
    assert last_modified(ckan.action.package_show(id=name)) == last_modified(before)
    assert statuses(run())["a"] == "unchanged"  # its marker now holds the new version

    # Changed: one upload, same ids.
    put(drop / "b.csv", table(6))
    changed = run()
    assert statuses(changed) == {"a": "unchanged", "b": "changed"}
    assert sorted(changed.datasets[0].published["uploaded"]) == ["b.csv", "b.parquet"]
    assert [r["id"] for r in ckan.action.package_show(id=name)["resources"]] == [r["id"] for r in before["resources"]]
    count = activities(ckan, name)

    # Removed: missing, then withdrawn; back (same bytes) → restored.
    kept = (drop / "b.csv").read_bytes()
    (drop / "b.csv").unlink()
    assert [m["status"] for m in run().missing] == ["missing"]
    # The drop folder is not mounted: nothing counted, nothing marked.
    drop.rename(tmp_path / "unmounted")
    with pytest.raises(RetryableError, match="cannot reach drop folder"):
        run()
    (tmp_path / "unmounted").rename(drop)
    assert activities(ckan, name) == count
    assert [m["status"] for m in run().missing] == ["withdrawn"]
    assert all(r.get("harvest_withdrawn") for r in by_file(ckan.action.package_show(id=name))["b"])
    put(drop / "b.csv", kept)
    back = run()
    assert statuses(back)["b"] == "unchanged" and back.datasets[0].published["restored"] == ["b"]
    assert not any(r.get("harvest_withdrawn") for r in ckan.action.package_show(id=name)["resources"])


def test_agency_catalog_unchanged_changed_and_withdrawn_dataset(demo_env, tmp_path, portal_settings, ckan,
                                                               monkeypatch):
    """ckan_catalog: the remote resources' stamps decide without a download; a remote dataset that goes
    away is withdrawn whole (private, allow_harvest "False", a note), and reopened when it is back."""
    from harvesters.gdc.mapping import dataset_fields

    tag = uuid.uuid4().hex[:6]
    org = f"lc-remote-{tag}"
    ckan.action.organization_create(name=org, title=f"Remote catalog {tag}")
    origin = load_source(write_source(tmp_path / "origin", f"lc-origin-{tag}", {"kind": "http", "files": ["http://x/a.csv"]})).config
    remote_fields = {**dataset_fields(origin, []), "owner_org": org, "allow_harvest": "True",
                     "title": f"ชุดข้อมูลต้นทาง {tag}"}
    ckan.action.package_create(**remote_fields)
    data = tmp_path / "remote.csv"
    put(data, table(4))
    with data.open("rb") as fh:
        res = ckan.action.resource_create(package_id=remote_fields["name"], name="ข้อมูล PM2.5", format="CSV",
                                          upload=fh)

    monkeypatch.setenv("HARVEST_CFG_LC_CATALOG_URL", portal_settings.url)
    name = f"copy-{remote_fields['name']}"
    run = Runs(write_source(tmp_path, f"lc-catalog-{tag}", {"kind": "ckan_catalog", "url": "${HARVEST_CFG_LC_CATALOG_URL}",
                                                           "organization": org, "dataset_prefix": "copy-",
                                                            "title_template": "{title} (จาก {organization})"}),
               portal_settings)
    run(approved_by="pcd-approver")
    count = activities(ckan, name)
    before = ckan.action.package_show(id=name)

    second = run()
    [status] = second.fetched
    assert (status["status"], status["path"]) == ("unchanged", None)  # the catalog's stamp: no download
    assert status["change"].startswith("same version at the source")
    assert second.datasets[0].published["status"] == "unchanged"
    assert activities(ckan, name) == count and last_modified(ckan.action.package_show(id=name)) == \
        last_modified(before)

    put(data, table(5))
    with data.open("rb") as fh:
        ckan.action.resource_patch(id=res["id"], upload=fh)
    third = run()
    assert [f["status"] for f in third.fetched] == ["changed"]
    after = ckan.action.package_show(id=name)
    assert [r["id"] for r in after["resources"]] == [r["id"] for r in before["resources"]]
    assert {r["harvest_rows"] for r in after["resources"]} == {"5"}
    count = activities(ckan, name)

    # The catalog is down: nothing counted.
    monkeypatch.setenv("HARVEST_CFG_LC_CATALOG_URL", "http://127.0.0.1:9")
    with pytest.raises(RetryableError):
        run()
    monkeypatch.setenv("HARVEST_CFG_LC_CATALOG_URL", portal_settings.url)

    # The remote dataset no longer harvestable: missing, then the copy is withdrawn whole; back → reopened.
    ckan.action.package_patch(id=remote_fields["name"], allow_harvest="False")
    with pytest.raises(FinalError, match="offers no files"):  # its only dataset: an empty listing
        run()
    other = {**remote_fields, "name": f"lc-other-{tag}", "title": f"ชุดข้อมูลอื่น {tag}"}
    ckan.action.package_create(**other)
    with data.open("rb") as fh:
        ckan.action.resource_create(package_id=other["name"], name="อื่น", format="CSV", upload=fh)
    assert [m["status"] for m in run(approved_by="pcd-approver").missing] == ["missing"]
    assert activities(ckan, name) == count
    assert [(m["status"], m["dataset_withdrawn"]) for m in run().missing] == [("withdrawn", True)]
    gone = ckan.action.package_show(id=name)
    assert (gone["state"], gone["private"], gone["allow_harvest"]) == ("active", True, "False")
    assert gone["notes"].startswith("[ถอนการเผยแพร่ ") and len(gone["resources"]) == 2

    ckan.action.package_patch(id=remote_fields["name"], allow_harvest="True")
    back = run()
    assert back.missing == [] and {d.name: d.published["status"] for d in back.datasets}[name] == "metadata"
    reopened = ckan.action.package_show(id=name)
    assert (reopened["private"], reopened["allow_harvest"]) == (False, "True")
    assert not reopened["notes"].startswith("[ถอนการเผยแพร่")
    assert not any(r.get("harvest_withdrawn") for r in reopened["resources"])

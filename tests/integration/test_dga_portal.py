"""DGA's real GD Catalog schema (v2.1.0) as a second local CKAN site: what the local check passes, it accepts.

The `dga_portal` site runs DGA's own ``ckan_dataset.json`` (one rename for CKAN
2.12) with scheming's default presets. With ``HARVEST_PORTAL_PROFILE=gdc-2.1``
every demo source is pushed to it; the configs it would refuse (a free-text
release date, the fork's data category, a title in use) are caught locally,
before anything is sent, and the portal is shown to refuse or drop the same.
"""

from __future__ import annotations

import shutil
import uuid

import ckanapi
import pytest

from harvesters import publishing, stages
from harvesters.config import load_all, load_source
from harvesters.errors import ConfigError, FinalError, ValidationBlocked
from harvesters.gdc import fields as gdc
from harvesters.portal import Portal
from harvesters.runner import run_source
from harvesters.settings import REPO_ROOT, PortalSettings, Settings
from tests.unit.test_gate_and_mapping import converted

pytestmark = pytest.mark.integration
SOURCES = REPO_ROOT / "include" / "sources"
PM25 = SOURCES / "pcd" / "pm25-hourly.yaml"


@pytest.fixture()
def dga(dga_portal, monkeypatch):
    """The deployment setting for a gdc-2.1 target, and a ckanapi client of the DGA site."""
    monkeypatch.setenv("HARVEST_PORTAL_PROFILE", "gdc-2.1")
    return ckanapi.RemoteCKAN(dga_portal["url"], apikey=dga_portal["token"])


def portal_of(site: dict) -> Portal:
    return Portal(PortalSettings(url=site["url"], token=site["token"]))


def write_source(tmp_path, replace: tuple[str, str] | None = None, extra: str = "", slug: str | None = None):
    """pm25-hourly under a fresh id, its metadata block edited."""
    folder = tmp_path / "sources" / "pcd"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(PM25.parent / "_agency.yaml", folder / "_agency.yaml")
    text = PM25.read_text(encoding="utf-8").replace("id: pcd-pm25-hourly", f"id: {slug or 't-' + uuid.uuid4().hex[:8]}")
    text = text.replace("\n  title: ", f"\n  title: ทดสอบ {uuid.uuid4().hex[:8]} ", 1)  # titles are unique per portal
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    text = text.replace("metadata:", "metadata:" + extra, 1)
    path = folder / "source.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_demo_source_is_accepted_by_dgas_portal(dga, dga_portal, demo_env, monkeypatch):
    monkeypatch.setattr(stages, "acknowledge", lambda *a, **k: None)  # leave the demo drops for other tests
    loaded, errors = load_all(SOURCES)  # the local check, for a gdc-2.1 target
    assert errors == []
    published = []
    for source in loaded:
        run = lambda: run_source(source, settings=Settings.from_env(), approved_by="tester",  # noqa: E731
                                 portal_settings=PortalSettings(url=dga_portal["url"], token=dga_portal["token"]))
        if source.config.id == "ddc-respiratory-patients":  # its demo data breaks its suite on purpose
            with pytest.raises(ValidationBlocked):
                run()
            continue
        report = run()
        assert [d.error for d in report.datasets if d.error] == [], source.config.id
        published += [d.published["dataset"] for d in report.datasets]
    assert len(published) == 10  # 8 single-dataset sources + the catalog's 2 copies
    for name in published:
        shown = dga.action.package_show(id=name)
        assert shown["allow_harvest"] == "True" and not shown["private"] and shown["resources"], name
    copy = dga.action.package_show(id="ogd-gistda-catalog-hotspots-daily")
    assert copy["title"] == "จุดความร้อนจากดาวเทียม รายจังหวัด รายวัน มีนาคม 2567 (จาก แคตตาล็อกข้อมูลหน่วยงาน (สาธิต))"


def test_a_free_text_release_date_is_caught_locally_as_dga_would_refuse_it(dga, tmp_path):
    path = write_source(tmp_path, extra="\n  data_release_calendar: ทุกวันที่ 5 ของเดือน")
    with pytest.raises(ConfigError) as err:
        load_source(path)
    assert "metadata.data_release_calendar (วันที่กำหนดเผยแพร่ข้อมูล)" in str(err.value)
    # ...which is what the portal itself says
    fields = load_source(write_source(tmp_path, extra="\n  data_release_calendar: 2025-02-05")).config
    ok = stages_fields(fields)
    with pytest.raises(ckanapi.ValidationError) as refused:
        dga.action.package_create(**{**ok, "data_release_calendar": "ทุกวันที่ 5 ของเดือน"})
    assert refused.value.error_dict["data_release_calendar"] == ["Date format incorrect"]
    assert dga.action.package_create(**ok)["data_release_calendar"] == "2025-02-05"


def stages_fields(cfg) -> dict:
    from harvesters.gdc.mapping import dataset_fields

    return {**dataset_fields(cfg, []), "private": True}


def test_the_forks_data_category_is_caught_locally_for_a_gdc_21_target(dga, tmp_path, monkeypatch):
    path = write_source(tmp_path, extra="\n  data_category: internal")
    with pytest.raises(ConfigError) as err:
        load_source(path)
    assert "data_category (หมวดหมู่ข้อมูลตามธรรมาภิบาลข้อมูลภาครัฐ): 'ข้อมูลใช้ภายใน' is not a choice" in str(err.value)
    monkeypatch.setenv("HARVEST_PORTAL_PROFILE", "gdc-2024")  # the fork takes it
    fields = stages_fields(load_source(path).config)
    with pytest.raises(ckanapi.ValidationError) as refused:  # DGA v2.1.0 does not
        dga.action.package_create(**fields)
    assert "data_category" in refused.value.error_dict


def test_a_field_dga_would_drop_silently_is_refused_locally(dga, tmp_path, monkeypatch):
    path = write_source(tmp_path, extra="\n  data_classification: open")
    with pytest.raises(ConfigError, match="would drop the value silently"):
        load_source(path)
    monkeypatch.setenv("HARVEST_PORTAL_PROFILE", "gdc-2024")
    fields = stages_fields(load_source(path).config)
    created = dga.action.package_create(**fields)  # accepted, and the value is gone
    assert "data_classification" not in dga.action.package_show(id=created["id"])


def test_a_title_in_use_is_refused_before_anything_is_sent(dga, dga_portal, tmp_path):
    cfg = load_source(write_source(tmp_path)).config
    first = dga.action.package_create(**{**stages_fields(cfg), "name": f"first-{uuid.uuid4().hex[:8]}"})
    portal = portal_of(dga_portal)
    spaced = cfg.model_copy(update={"metadata": cfg.metadata.model_copy(
        update={"title": "  " + cfg.metadata.title.replace(" ", "  ") + " "})})
    for attempt in (cfg, spaced):
        with pytest.raises(FinalError) as err:
            publishing.prepare(attempt, [converted("a")], [], portal)
        assert f"is already the title of dataset {first['name']!r} of organization 'pcd'" in str(err.value)
        assert gdc.label("title") in str(err.value)
        assert portal.dataset(cfg.dataset_name) is None  # nothing was sent


def test_validate_portal_names_a_title_in_use(dga, dga_portal, tmp_path, monkeypatch, capsys):
    from harvesters.cli import main

    path = write_source(tmp_path, slug="validate-title")
    cfg = load_source(path).config
    taken = dga.action.package_create(**{**stages_fields(cfg), "name": f"taken-{uuid.uuid4().hex[:8]}"})
    monkeypatch.setenv("HARVEST_PORTAL_URL", dga_portal["url"])
    monkeypatch.setenv("HARVEST_PORTAL_TOKEN", dga_portal["token"])
    monkeypatch.delenv("AIRFLOW_CONN_GDC_PORTAL", raising=False)
    assert main(["sources", "validate", str(path)]) == 0  # without --portal: the config alone
    assert main(["sources", "validate", "--portal", str(path)]) == 1
    assert f"is already the title of dataset {taken['name']!r}" in capsys.readouterr().out


AGENCY = "agency-fork-catalog"


def test_an_agency_catalogs_liberal_values_travel_to_dgas_portal(dga, dga_portal, demo_env, tmp_path, monkeypatch):
    """Values DGA's portal takes (a fork's licence, a record field on a statistical dataset, interval 1.5,
    tag PM(2.5)) do not hold the copy back; they arrive as the portal has them."""
    monkeypatch.setattr(stages, "acknowledge", lambda *a, **k: None)
    from tests.integration.test_kind_ckan_catalog_live import _seeder

    seeder = _seeder()
    seeder.ensure_organization(dga, AGENCY)
    fields = {**seeder.portal_fields({**seeder.COMMON, "title": "ดัชนีคุณภาพอากาศ (แคตตาล็อกหน่วยงาน)",
                                      "notes": "ค่าดัชนีคุณภาพอากาศรายวัน", "tags": ["อากาศ"]}),
              "data_format": ["CSV"], "allow_harvest": "True",
              "license_id": "Creative Commons Attribution No-Derivs 4.0", "data_collect": "บุคคล",
              "update_frequency_interval": "1.5", "tag_string": "PM(2.5),อากาศ"}
    seeder.ensure_dataset(dga, f"{AGENCY}-aqi", AGENCY, fields,
                          [{"name": "ค่าฝุ่นรายวัน", "file": "pcd/files/pm25_daily_2568-02.csv", "format": "CSV"}],
                          seeder.SITE_DIR)
    folder = tmp_path / "sources" / "pcd"
    folder.mkdir(parents=True)
    shutil.copy(SOURCES / "pcd" / "_agency.yaml", folder / "_agency.yaml")
    (folder / "fork.yaml").write_text(f"""\
id: pcd-fork-catalog
source: {{kind: ckan_catalog, url: "{dga_portal['url']}", organization: {AGENCY}, dataset_prefix: copy-,
          title_template: "{{title}} (จาก {{organization}})"}}
metadata: {{data_type: statistical, title: สำเนา, notes: สำเนา, tags: [สำเนา], update_frequency_unit: day,
           geo_coverage: country}}
""", encoding="utf-8")
    report = run_source(load_source(folder / "fork.yaml"), settings=Settings.from_env(), approved_by="tester",
                        portal_settings=PortalSettings(url=dga_portal["url"], token=dga_portal["token"]))
    assert [d.error for d in report.datasets] == [None]
    copy = dga.action.package_show(id=f"copy-{AGENCY}-aqi")
    assert (copy["license_id"], copy["license_id_other"]) == ("อื่นๆ", "Creative Commons Attribution No-Derivs 4.0")
    assert (copy["data_collect"], copy["update_frequency_interval"]) == ("บุคคล", "1.5")
    assert {t["name"] for t in copy["tags"]} == {"PM(2.5)", "อากาศ"}
    assert copy["title"].endswith("(จาก แคตตาล็อกข้อมูลหน่วยงาน (สาธิต))")


def test_publish_refuses_a_title_taken_after_prepare(dga, dga_portal, demo_env, tmp_path):
    from harvesters.results import ConvertedFile, PublishPlan, ValidationSummary

    loaded = load_source(write_source(tmp_path))
    settings = PortalSettings(url=dga_portal["url"], token=dga_portal["token"])
    [staged] = run_source(loaded, settings=Settings.from_env(), portal_settings=settings).datasets  # awaits approval
    cfg = loaded.config
    report_files = run_source(loaded, settings=Settings.from_env(), dry_run=True)
    files = [ConvertedFile.model_validate(f) for f in report_files.files]
    checks = [ValidationSummary.model_validate(v) for v in report_files.validation]
    # Meanwhile someone else opens a dataset with the same title (the local portal does not stop them).
    other = dga.action.package_create(**{**stages_fields(cfg), "name": f"other-{uuid.uuid4().hex[:8]}"})
    with pytest.raises(FinalError, match=f"is already the title of dataset {other['name']!r}"):
        publishing.publish(cfg, files, checks, portal_of(dga_portal), PublishPlan.model_validate(staged.prepared),
                           approved_by="tester")
    assert dga.action.package_show(id=cfg.dataset_name)["private"] is True  # not opened

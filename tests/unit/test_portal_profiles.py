"""Target portal profiles: read from DGA's own schema files, enforced by the config check and the intake."""

import pytest
from pydantic import ValidationError

from harvesters import datasets
from harvesters.config import load_source
from harvesters.errors import FinalError
from harvesters.gdc import fields as gdc
from harvesters.gdc import profiles
from harvesters.gdc.model import DatasetMetadata
from harvesters.results import DatasetGroup, DatasetTarget
from harvesters.settings import REPO_ROOT

REFERENCE = REPO_ROOT.parent / "shared" / "reference" / "dga-gdc-schema"
PM25 = REPO_ROOT / "include" / "sources" / "pcd" / "pm25-hourly.yaml"


def metadata(**overrides) -> dict:
    meta = {"data_type": "statistical", "title": "ค่าฝุ่น", "maintainer": "ศูนย์ข้อมูล",
            "maintainer_email": "data@pcd.example.go.th", "tags": ["PM2.5"], "notes": "รายละเอียด",
            "objective": ["public_service"], "update_frequency_unit": "day", "geo_coverage": "province",
            "data_source": "กรมควบคุมมลพิษ", "data_category": "public", "license_id": "odc"}
    meta.update(overrides)
    return meta


def refusal(**overrides) -> str:
    with pytest.raises(ValidationError) as exc:
        DatasetMetadata.model_validate(metadata(**overrides))
    return str(exc.value)


@pytest.mark.parametrize("name,reference", [("gdc-2.1", "ckan_dataset.json"),
                                            ("gdc-2024", "opal-2024/ckan_dataset.json")])
def test_shipped_dga_schemas_are_dgas_files_unchanged(name, reference):
    assert profiles.DGA_FILES[name].read_bytes() == (REFERENCE / reference).read_bytes()


def test_profiles_read_what_each_portal_enforces():
    v21, fork, project = profiles.get("gdc-2.1"), profiles.get("gdc-2024"), profiles.get("project")
    assert v21.enforced_choices("data_category") == ("ข้อมูลสาธารณะ", "ข้อมูลส่วนบุคคล", "ข้อมูลความมั่นคง",
                                                     "ข้อมูลความลับทางราชการ")
    assert fork.enforced_choices("data_category") is None  # the fork lists 5 but validates none
    assert "ข้อมูลใช้ภายใน" in fork.rule("data_category").listed
    assert not v21.has("data_classification") and fork.has("data_classification") and project.has("data_classification")
    for p in (v21, fork, project):
        assert p.rule("data_release_calendar").date and p.resource["resource_data_release_calendar"].date
        assert p.enforced_choices("objective") is not None  # scheming_multiple_choice
    assert v21.enforced_choices("license_id") is None and project.enforced_choices("license_id") is not None
    assert not v21.rule("update_frequency_interval").integer and project.rule("update_frequency_interval").integer
    assert v21.thai_label("data_release_calendar") == "วันที่กำหนดเผยแพร่ข้อมูล"  # DGA's own label
    assert v21.tag_problem("PM(2.5)") is None and project.tag_problem("PM(2.5)")


def test_an_unknown_profile_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("HARVEST_PORTAL_PROFILE", "gdc-9")
    assert "HARVEST_PORTAL_PROFILE='gdc-9' is not a portal profile" in refusal()


@pytest.mark.parametrize("name", ["gdc-2.1", "gdc-2024"])
def test_the_registry_holds_every_field_and_value_of_dgas_schemas(name):
    profile = profiles.get(name)
    for field, rule in profile.dataset.items():
        base = gdc.BY_NAME.get(field.removesuffix("_other"))
        assert base is not None, field
        if field.endswith("_other"):
            assert base.has_other, field
            continue
        assert set(rule.listed) <= set(base.choices), field
        assert set(rule.data_types) == set(base.data_types), field
        assert rule.date == (base.kind == "date"), field
        assert rule.multiple == base.multiple, field


def test_new_choice_lists_take_english_aliases():
    meta = DatasetMetadata.model_validate(metadata(unit_of_multiplier="thousand"))
    assert meta.unit_of_multiplier == "พัน"
    geo = DatasetMetadata.model_validate(metadata(data_type="geospatial", geographic_data_set="administrative_boundary"))
    assert geo.geographic_data_set == "ชั้นข้อมูลขอบเขตการปกครอง"
    assert "say what in unit_of_multiplier_other" in refusal(unit_of_multiplier="other")


def test_dates_must_be_iso_whatever_the_target():
    assert "data_release_calendar" in refusal(data_release_calendar="มกราคม 2568")
    assert "Date format incorrect" in refusal(data_release_calendar="31/01/2025")
    import datetime

    meta = DatasetMetadata.model_validate(metadata(data_release_calendar=datetime.date(2025, 1, 31)))  # YAML's date
    assert meta.data_release_calendar == "2025-01-31"


def test_gdc_21_target_refuses_the_forks_values_naming_the_field(monkeypatch):
    monkeypatch.setenv("HARVEST_PORTAL_PROFILE", "gdc-2.1")
    msg = refusal(data_category="internal")
    assert "data_category (หมวดหมู่ข้อมูลตามธรรมาภิบาลข้อมูลภาครัฐ): 'ข้อมูลใช้ภายใน' is not a choice of the " \
           "target portal (gdc-2.1" in msg
    msg = refusal(data_classification="open")
    assert "data_classification" in msg and "would drop the value silently" in msg
    assert "geographic_data_set_other" in refusal(data_type="geospatial", geographic_data_set="other",
                                                  geographic_data_set_other="ชั้นข้อมูลจุดความร้อน")


def test_the_fork_and_the_project_take_them(monkeypatch):
    for name in ("gdc-2024", "project"):
        monkeypatch.setenv("HARVEST_PORTAL_PROFILE", name)
        meta = DatasetMetadata.model_validate(metadata(data_category="internal", data_classification="open"))
        assert meta.data_category == "ข้อมูลใช้ภายใน"


def test_harvest_sources_validate_enforces_the_profile(tmp_path, monkeypatch, capsys):
    from harvesters.cli import main

    agency = tmp_path / "pcd"
    agency.mkdir()
    (agency / "internal.yaml").write_text(PM25.read_text(encoding="utf-8").replace(
        "metadata:", "metadata:\n  data_category: internal", 1), encoding="utf-8")
    (agency / "_agency.yaml").write_text((PM25.parent / "_agency.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("HARVEST_PORTAL_PROFILE", "gdc-2024")
    assert main(["sources", "validate", str(agency)]) == 0
    monkeypatch.setenv("HARVEST_PORTAL_PROFILE", "gdc-2.1")
    assert main(["sources", "validate", str(agency)]) == 1
    assert "data_category (หมวดหมู่ข้อมูลตามธรรมาภิบาลข้อมูลภาครัฐ)" in capsys.readouterr().out


# --------------------------------------------------------------------------- intake (ckan_catalog)

def copied(metadata: dict, profile: str, monkeypatch):
    """The config of one dataset copied from an agency catalog, as prepare sees it."""
    monkeypatch.setenv("HARVEST_PORTAL_PROFILE", profile)
    cfg = load_source(PM25).config
    group = DatasetGroup(name="ogd-x", files=["a"], target=DatasetTarget(
        name="ogd-x", title="ชุดข้อมูลจากหน่วยงาน", origin="http://catalog/dataset/x", metadata=metadata))
    return datasets.config_for(cfg, group).metadata.portal_fields()


@pytest.mark.parametrize("profile", ["gdc-2.1", "project"])
def test_a_forks_licence_value_travels_as_other(profile, monkeypatch):
    fields = copied({"license_id": "Creative Commons Zero (CC0)"}, profile, monkeypatch)
    assert (fields["license_id"], fields["license_id_other"]) == ("อื่นๆ", "Creative Commons Zero (CC0)")


@pytest.mark.parametrize("profile", ["gdc-2.1", "project"])
def test_a_field_the_data_types_form_does_not_show_is_kept(profile, monkeypatch):
    fields = copied({"data_collect": "บุคคล"}, profile, monkeypatch)  # PM2.5 hourly is statistical
    assert fields["data_type"] == "ข้อมูลสถิติ" and fields["data_collect"] == "บุคคล"


def test_a_decimal_interval_travels_to_dga_and_is_named_where_the_target_refuses_it(monkeypatch):
    assert copied({"update_frequency_interval": "1.5"}, "gdc-2.1", monkeypatch)["update_frequency_interval"] == "1.5"
    with pytest.raises(FinalError, match=r"update_frequency_interval \(ค่าความถี่ของการปรับปรุงข้อมูล\)"):
        copied({"update_frequency_interval": "1.5"}, "project", monkeypatch)  # int_validator on our portal


def test_a_tag_with_brackets_travels_to_dga_and_is_cleaned_for_the_thai_tag_rule(monkeypatch):
    assert copied({"tags": ["PM(2.5)", "ฝุ่น"]}, "gdc-2.1", monkeypatch)["tag_string"] == "PM(2.5),ฝุ่น"
    assert copied({"tags": ["PM(2.5)", "ฝุ่น"]}, "project", monkeypatch)["tag_string"] == "PM 2.5,ฝุ่น"


def test_flags_and_unenforced_lists_travel_on(monkeypatch):
    fields = copied({"official_statistics": "true", "update_frequency_unit": "ทุกสองวัน"}, "gdc-2.1", monkeypatch)
    assert fields["official_statistics"] == "True"
    assert (fields["update_frequency_unit"], fields["update_frequency_unit_other"]) == ("อื่นๆ", "ทุกสองวัน")


def test_only_what_the_target_refuses_holds_a_dataset_back(monkeypatch):
    with pytest.raises(FinalError) as err:
        copied({"data_category": "ข้อมูลใช้ภายใน"}, "gdc-2.1", monkeypatch)
    assert "data_category (หมวดหมู่ข้อมูลตามธรรมาภิบาลข้อมูลภาครัฐ)" in str(err.value)
    assert "target portal (gdc-2.1)" in str(err.value)
    assert copied({"data_category": "ข้อมูลใช้ภายใน"}, "gdc-2024", monkeypatch)["data_category"] == "ข้อมูลใช้ภายใน"
    with pytest.raises(FinalError, match="data_release_calendar"):
        copied({"data_release_calendar": "ทุกต้นเดือน"}, "gdc-2.1", monkeypatch)


def test_a_field_the_target_lacks_is_dropped_not_held_back(monkeypatch):
    fields = copied({"data_classification": "เปิดเผย"}, "gdc-2.1", monkeypatch)
    assert "data_classification" not in fields
    assert copied({"data_classification": "เปิดเผย"}, "gdc-2024", monkeypatch)["data_classification"] == "เปิดเผย"


def test_the_test_portal_loads_dgas_schema_with_one_rename():
    import json

    loaded = profiles.dga_schema_for_ckan("gdc-2.1")
    shipped = json.loads(profiles.DGA_FILES["gdc-2.1"].read_text(encoding="utf-8"))
    changed = [(a["field_name"], a.get("validators"), b.get("validators"))
               for a, b in zip(shipped["dataset_fields"] + shipped["resource_fields"],
                               loaded["dataset_fields"] + loaded["resource_fields"]) if a != b]
    # CKAN 2.12 no longer has the validator `unicode`; nothing else changes
    assert changed == [("maintainer_email", "not_empty email_validator unicode",
                        "not_empty email_validator unicode_safe")]

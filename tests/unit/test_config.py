"""Source configs: loading, agency defaults, env interpolation, and the errors agencies read."""

import json
import shutil
from pathlib import Path

import pytest

from harvesters.config import discover, find_source, json_schema, load_all, load_source
from harvesters.errors import ConfigError, FinalError
from harvesters.settings import REPO_ROOT

SOURCES = REPO_ROOT / "include" / "sources"


@pytest.fixture()
def sources(tmp_path) -> Path:
    """A private copy of the demo sources to break."""
    root = tmp_path / "sources"
    shutil.copytree(SOURCES, root)
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def problems(exc: ConfigError) -> dict[str, str]:
    return dict(exc.problems)


def test_demo_sources_load_with_agency_defaults_merged():
    loaded, errors = load_all(SOURCES)
    assert errors == []
    by_id = {s.config.id: s.config for s in loaded}
    assert {"pcd-pm25-hourly", "gistda-hotspots", "ddc-respiratory-patients"} <= set(by_id)
    assert len(by_id) == 10  # the 3 http sources + one demo source per other kind
    pm25 = by_id["pcd-pm25-hourly"]
    # From pcd/_agency.yaml, merged beneath the source file:
    assert pm25.agency == "pcd"
    assert pm25.metadata.maintainer_email == "opendata@pcd.example.go.th"
    # English aliases become the portal's Thai values.
    assert pm25.metadata.data_type == "ข้อมูลสถิติ"
    assert pm25.metadata.geo_coverage == "จังหวัด"
    assert pm25.metadata.objective == ["เพื่อการให้บริการประชาชน", "พันธกิจหน่วยงาน"]
    assert pm25.metadata.portal_fields()["tag_string"] == "คุณภาพอากาศ,ฝุ่นละออง,PM2.5"


def test_source_file_overrides_agency_default(sources):
    path = sources / "pcd" / "pm25-hourly.yaml"
    edit(path, "  geo_coverage: province", "  geo_coverage: province\n  maintainer: ทีมสถานีตรวจวัด")
    cfg = load_source(path).config
    assert cfg.metadata.maintainer == "ทีมสถานีตรวจวัด"
    assert cfg.metadata.maintainer_email == "opendata@pcd.example.go.th"  # still the default


def test_dataset_names_the_portal_dataset_when_it_differs_from_the_id(sources):
    path = sources / "pcd" / "pm25-hourly.yaml"
    assert load_source(path).config.dataset_name == "pcd-pm25-hourly"  # default: the id
    edit(path, "schedule:", "dataset: pm25-hourly-stations\nschedule:")
    cfg = load_source(path).config
    assert (cfg.id, cfg.dataset_name) == ("pcd-pm25-hourly", "pm25-hourly-stations")
    edit(path, "dataset: pm25-hourly-stations", "dataset: ฝุ่น PM2.5")
    with pytest.raises(ConfigError) as err:
        load_source(path)
    assert "lower-case ASCII" in problems(err.value)["dataset"]


def test_unknown_key_is_refused_with_its_path(sources):
    path = sources / "pcd" / "pm25-hourly.yaml"
    edit(path, "schedule:", "shedule: daily\nschedule:")
    with pytest.raises(ConfigError) as err:
        load_source(path)
    assert "unknown setting" in problems(err.value)["shedule"]
    assert str(path) in str(err.value)


def test_missing_required_metadata_names_the_thai_label(sources):
    path = sources / "gistda" / "_agency.yaml"
    edit(path, "  maintainer_email: opendata@gistda.example.or.th\n", "")
    with pytest.raises(ConfigError) as err:
        load_source(sources / "gistda" / "hotspots.yaml")
    assert problems(err.value) == {"metadata.maintainer_email (อีเมลผู้ติดต่อ)": "required but missing"}


@pytest.mark.parametrize("old,new,field,words", [
    ("geo_coverage: province", "geo_coverage: planet", "metadata.geo_coverage (ขอบเขตเชิงภูมิศาสตร์หรือเชิงพื้นที่)", "จังหวัด"),
    ("tags: [คุณภาพอากาศ, ฝุ่นละออง, PM2.5]", "tags: [คุณภาพอากาศ, 'a/b']", "metadata.tags", "a/b"),
    ("kind: http", "kind: gopher", "source", "gopher"),
    ("id: pcd-pm25-hourly", "id: PCD PM25", "id", "lower-case"),
    ("unit_of_measure: มคก./ลบ.ม.", "unit_of_measure: มคก./ลบ.ม.\n  equivalent_scale: '1:4,000'",
     "metadata", "not a field of data type"),
    ("update_frequency_unit: hour", "update_frequency_unit: อื่นๆ", "metadata", "update_frequency_unit_other"),
])
def test_bad_values_are_reported_per_field(sources, old, new, field, words):
    path = sources / "pcd" / "pm25-hourly.yaml"
    edit(path, old, new)
    with pytest.raises(ConfigError) as err:
        load_source(path)
    found = problems(err.value)
    assert field in found, found
    assert words in found[field]


def test_environment_variables_are_interpolated(sources, monkeypatch):
    path = sources / "pcd" / "pm25-hourly.yaml"
    monkeypatch.setenv("HARVEST_CFG_DEMO_SITE_URL", "http://127.0.0.1:9999")
    assert load_source(path).config.source.files[0].url == "http://127.0.0.1:9999/pcd/pm25_hourly.csv"
    edit(path, "${HARVEST_CFG_DEMO_SITE_URL:-http://127.0.0.1:8765}", "${HARVEST_CFG_PCD_HOST_NOT_SET}")
    with pytest.raises(ConfigError, match="environment variable HARVEST_CFG_PCD_HOST_NOT_SET is not set"):
        load_source(path)


def test_broken_file_does_not_hide_the_others(sources):
    (sources / "pcd" / "pm25-hourly.yaml").write_text("id: [unclosed", encoding="utf-8")
    (sources / "ddc" / "copy.yaml").write_text(
        (sources / "ddc" / "respiratory-patients.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    loaded, errors = load_all(sources)
    ids = sorted(s.config.id for s in loaded)
    assert "pcd-pm25-hourly" not in ids and {"ddc-respiratory-patients", "gistda-hotspots"} <= set(ids)
    assert len(ids) == 9
    messages = sorted(str(e) for e in errors)
    assert any("pm25-hourly.yaml" in m and "line 1" in m for m in messages), messages
    assert any("respiratory-patients" in m and "already used" in m for m in messages), messages


def test_find_source_explains_unknown_and_broken(sources):
    with pytest.raises(FinalError, match="known: ddc-influenza-weekly-drop, ddc-respiratory-patients, .*, pcd-pm25-hourly"):
        find_source(sources, "no-such-source")


def test_agency_defaults_file_is_not_a_source():
    assert all(p.name != "_agency.yaml" for p in discover(SOURCES))


def test_committed_json_schema_is_current():
    committed = json.loads((REPO_ROOT / "include" / "schemas" / "source.schema.json").read_text(encoding="utf-8"))
    assert committed == json_schema(), "run: harvest sources schema --out include/schemas/source.schema.json"


def test_json_schema_offers_thai_choices_and_aliases():
    schema = json.dumps(json_schema(), ensure_ascii=False)
    assert "จังหวัด" in schema and "province" in schema
    assert '"additionalProperties": false' in schema


@pytest.mark.parametrize("field", ["allow_personal_data_columns", "allow_national_id_columns"])
def test_personal_data_columns_only_for_personal_data(sources, field):
    """The former name (allow_national_id_columns) is still read, into allow_personal_data_columns."""
    path = sources / "ddc" / "respiratory-patients.yaml"
    edit(path, "validation:", f"outputs:\n  {field}: [เลขประจำตัวประชาชน]\nvalidation:")
    with pytest.raises(ConfigError, match=f"{field}: personal data may be published only in data category 'ข้อมูลส่วนบุคคล'"):
        load_source(path)
    edit(path, "  unit_of_measure: ราย", "  unit_of_measure: ราย\n  data_category: personal")
    assert load_source(path).config.outputs.allow_personal_data_columns == ["เลขประจำตัวประชาชน"]

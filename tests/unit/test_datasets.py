"""One source, several portal datasets: grouping files, each dataset's config, holding back a broken one."""

import shutil

import pytest

from harvesters import datasets
from harvesters.config import load_source
from harvesters.errors import FinalError
from harvesters.kinds.common import dataset_slug
from harvesters.results import DatasetGroup, DatasetTarget, RemoteFile, ValidationSummary
from harvesters.settings import REPO_ROOT
from tests.unit.test_gate_and_mapping import converted

PM25 = REPO_ROOT / "include" / "sources" / "pcd" / "pm25-hourly.yaml"


@pytest.fixture()
def cfg():
    return load_source(PM25).config  # a statistical dataset with first/last year fields


def remote(key: str, target: DatasetTarget | None = None) -> RemoteFile:
    return RemoteFile(source="pcd-pm25-hourly", url=f"http://h/{key}.csv", key=key, title=key, dataset=target)


def passed(table: str) -> ValidationSummary:
    return ValidationSummary(table=table, suite=None, success=True, outcome="skipped")


def test_files_without_a_target_make_the_sources_one_dataset(cfg):
    [group] = datasets.group_files(cfg, [remote("a"), remote("b")])
    assert (group.name, group.target, group.files) == ("pcd-pm25-hourly", None, ["a", "b"])
    assert datasets.config_for(cfg, group) is cfg


def test_files_are_grouped_by_target_in_gather_order(cfg):
    t1, t2 = DatasetTarget(name="pcd-x-1", title="หนึ่ง"), DatasetTarget(name="pcd-x-2", title="สอง")
    groups = datasets.group_files(cfg, [remote("a", t2), remote("b", t1), remote("c", t2)])
    assert [(g.name, g.files) for g in groups] == [("pcd-x-2", ["a", "c"]), ("pcd-x-1", ["b"])]


def test_a_dataset_config_lays_its_name_title_and_metadata_over_the_sources(cfg):
    group = DatasetGroup(name="pcd-copy", files=["a"], target=DatasetTarget(
        name="pcd-copy", title="ชื่อจากคลังข้อมูลหน่วยงาน",
        metadata={"notes": "คำอธิบายจากต้นทาง", "tags": ["น้ำ"], "geo_coverage": "ประเทศ", "name": "ignored"}))
    one = datasets.config_for(cfg, group)
    assert one.dataset_name == "pcd-copy" and one.id == cfg.id and one.agency == "pcd"
    assert one.metadata.title == "ชื่อจากคลังข้อมูลหน่วยงาน"
    assert (one.metadata.notes, one.metadata.tags, one.metadata.geo_coverage) == \
        ("คำอธิบายจากต้นทาง", ["น้ำ"], "ประเทศ")
    assert one.metadata.maintainer_email == cfg.metadata.maintainer_email  # the source's metadata fills the rest
    assert cfg.dataset_name == "pcd-pm25-hourly"  # the source's own config is untouched


def test_a_record_dataset_does_not_inherit_statistical_fields(cfg):
    assert cfg.metadata.data_type == "ข้อมูลสถิติ"
    group = DatasetGroup(name="pcd-rec", files=["a"], target=DatasetTarget(
        name="pcd-rec", metadata={"data_type": "ข้อมูลระเบียน"}))
    one = datasets.config_for(cfg, group)
    assert one.metadata.data_type == "ข้อมูลระเบียน"
    statistical_only = [n for n, v in cfg.metadata.model_dump(exclude_none=True).items()
                        if n.endswith("_year_of_data") or n == "unit_of_measure"]
    assert all(getattr(one.metadata, n) is None for n in statistical_only)


def test_remote_metadata_that_breaks_the_schema_is_a_clear_error_for_that_dataset(cfg):
    group = DatasetGroup(name="pcd-bad", files=["a"], target=DatasetTarget(
        name="pcd-bad", origin="http://catalog/dataset/bad", metadata={"data_category": "ดาวอังคาร"}))
    with pytest.raises(FinalError) as err:
        datasets.config_for(cfg, group)  # a choice the target enforces and that has no _other companion
    msg = str(err.value)
    assert msg.startswith("pcd-pm25-hourly: http://catalog/dataset/bad: dataset pcd-bad: its metadata does not fit")
    assert "data_category (" in msg  # with the field's Thai label


def test_a_target_name_that_is_not_a_portal_url_name_is_refused(cfg):
    group = DatasetGroup(name="ข้อมูล", files=["a"], target=DatasetTarget(name="ข้อมูล"))
    with pytest.raises(FinalError, match="is not a portal URL name"):
        datasets.config_for(cfg, group)


def test_select_takes_the_datasets_files_and_their_checks():
    group = DatasetGroup(name="d", files=["a"])
    files, checks = datasets.select(group, [converted("a"), converted("b")], [passed("a0"), passed("b0")])
    assert [f.fetched.remote.key for f in files] == ["a"] and [c.table for c in checks] == ["a0"]


def test_select_holds_back_a_dataset_whose_file_failed_upstream():
    group = DatasetGroup(name="d", files=["a", "b", "c"])
    with pytest.raises(FinalError) as err:
        # b never converted; c converted but its table has no validation result (its suite blocked it).
        datasets.select(group, [converted("a"), converted("c")], [passed("a0")])
    assert str(err.value) == ("dataset d held back, nothing of it changed on the portal: not converted (see its "
                              "fetch/convert task): b; validation failed (see its validate task): c")


def test_dataset_slugs_fit_the_portal():
    assert dataset_slug("pcd-reports", "pm25-2568-01") == "pcd-reports-pm25-2568-01"
    long = dataset_slug("a" * 50, "b" * 40)
    assert len(long) == 70 and long != dataset_slug("a" * 50, "b" * 39 + "c")
    assert dataset_slug("Agency", "ข้อมูล 2568") == "agency-2568"


def test_harvest_run_holds_back_only_the_dataset_whose_file_was_refused(tmp_path, monkeypatch):
    """`harvest run --dry-run` of a source with one dataset per file: the refused file's dataset says why."""
    from harvesters.runner import run_source
    from harvesters.settings import Settings
    from tests.loopback import serve_directory

    site = tmp_path / "site"
    site.mkdir()
    (site / "reports.html").write_text('<meta charset="utf-8"><div id="r"><a href="north.csv">ภาคเหนือ</a>'
                                       '<a href="broken.csv">ไฟล์เสีย</a></div>', encoding="utf-8")
    (site / "north.csv").write_text("จังหวัด,จำนวน\nเชียงใหม่,12\n", encoding="utf-8")
    (site / "broken.csv").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    monkeypatch.setenv("HARVEST_STAGING_DIR", str(tmp_path / "staging"))
    with serve_directory(site) as url:
        source = tmp_path / "sources" / "pcd" / "reports.yaml"
        source.parent.mkdir(parents=True)
        shutil.copy(PM25.parent / "_agency.yaml", source.parent / "_agency.yaml")
        source.write_text(f"""
id: pcd-reports
source:
  kind: web_page
  url: {url}/reports.html
  links: {{selector: "#r"}}
  each_file_dataset: true
metadata:
  data_type: record
  title: รายงานสถานี
  notes: ทดสอบ
  tags: [ทดสอบ]
  update_frequency_unit: month
  geo_coverage: province
""", encoding="utf-8")
        report = run_source(load_source(source), dry_run=True, settings=Settings.from_env())
    north, broken = report.datasets
    assert (north.name, north.error) == ("pcd-reports-north", None) and north.plan["resources"]
    assert broken.name == "pcd-reports-broken" and broken.plan is None
    assert broken.error.startswith("pcd-reports: dataset pcd-reports-broken held back")
    assert "type mismatch" in broken.error  # the file's own refusal, in the same line
    assert list(report.failed_files) == ["broken"]

"""The validation gate's policy and the mapping onto GD Catalog fields (pure functions)."""

import pytest

from harvesters.config import load_source
from harvesters.errors import ValidationBlocked
from harvesters.gdc.mapping import dataset_fields, resource_plans
from harvesters.results import Column, ConvertedFile, ConvertedTable, FetchedFile, RemoteFile, ValidationSummary
from harvesters.settings import REPO_ROOT
from harvesters.staging import run_key
from harvesters.validate import gate

PM25 = REPO_ROOT / "include" / "sources" / "pcd" / "pm25-hourly.yaml"


def summary(ok: bool, table="t1", failed=()):
    return ValidationSummary(table=table, suite="s", success=ok, evaluated=3, failed=list(failed),
                             outcome="passed" if ok else "failed")


def test_gate_passes_clean_results():
    assert gate([summary(True)], on_failure="block", source="x") == [summary(True)]


def test_gate_blocks_with_the_failed_expectations_in_one_line():
    with pytest.raises(ValidationBlocked) as err:
        gate([summary(False, failed=["expect_column_values_to_be_between(n) 3 unexpected of 96",
                                     "expect_column_values_to_not_be_null(จังหวัด) 2 unexpected of 96"]),
              summary(False, table="t2", failed=["x"])], on_failure="block", source="ddc-x")
    msg = str(err.value)
    assert msg.startswith("ddc-x: publish blocked: suite s failed 2 of 3 expectations on table t1")
    assert "จังหวัด" in msg and "1 more table(s) failed" in msg
    assert "\n" not in msg


def test_gate_warn_lets_publish_go_on_and_marks_the_summary():
    out = gate([summary(False, failed=["x"]), summary(True, table="t2")], on_failure="warn", source="x")
    assert [s.outcome for s in out] == ["warned", "passed"]


def converted(key="pm25-hourly", tables=1) -> ConvertedFile:
    remote = RemoteFile(source="pcd-pm25-hourly", url="http://h/pm25.csv", key=key, title="ค่าฝุ่น")
    fetched = FetchedFile(remote=remote, path="/s/raw/pm25.csv", sha256="ab" * 32, size=10,
                          fetched_at="2026-11-22T10:00:00+00:00")
    return ConvertedFile(fetched=fetched, format="csv", encoding="cp874", stars_in=3, stars_out=3, report="/r.json",
                         tables=[ConvertedTable(key=f"{key}{i}", title=f"ค่าฝุ่น {i}", csv=f"/c/{i}.csv",
                                                parquet=f"/c/{i}.parquet", rows=480,
                                                columns=[Column(name="วันที่", type="date")], table_schema={})
                                 for i in range(tables)])


def test_dataset_fields_derive_name_org_format_and_dates():
    cfg = load_source(PM25).config
    fields = dataset_fields(cfg, [converted()])
    assert fields["name"] == "pcd-pm25-hourly" and fields["owner_org"] == "pcd"
    assert fields["data_format"] == ["CSV", "อื่นๆ"] and fields["data_format_other"] == "Parquet"
    assert fields["last_updated_date"] == "2026-11-22"
    assert fields["allow_harvest"] == "False"
    assert fields["tag_string"] == "คุณภาพอากาศ,ฝุ่นละออง,PM2.5"
    assert fields["url"] == "http://h/pm25.csv"


def test_resource_plans_one_per_table_and_format_with_flat_string_fields():
    cfg = load_source(PM25).config
    plans = resource_plans(cfg, [converted(tables=2)])
    assert [p.fields["name"] for p in plans] == ["ค่าฝุ่น 0 (CSV)", "ค่าฝุ่น 0 (Parquet)", "ค่าฝุ่น 1 (CSV)", "ค่าฝุ่น 1 (Parquet)"]
    assert all(isinstance(v, str) for p in plans for v in p.fields.values())  # multipart form fields
    assert "480 แถว" in plans[0].fields["description"]


def test_run_key_is_filesystem_safe():
    assert run_key("manual__2026-11-22T10:00:00.123+00:00") == "manual__2026-11-22T10-00-00.123-00-00"
    assert run_key().startswith("cli__")


def test_convert_stage_refusal_names_source_and_url(tmp_path):
    from harvesters import stages
    from harvesters.errors import RefusedFile
    from harvesters.staging import RunStaging

    cfg = load_source(PM25).config
    raw = tmp_path / "pm25.csv"
    raw.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    remote = RemoteFile(source=cfg.id, url="http://agency.example/pm25.csv", key="pm25", title="x")
    fetched = FetchedFile(remote=remote, path=str(raw), sha256="0" * 64, size=72, fetched_at="2026-11-22T00:00:00+00:00")
    with pytest.raises(RefusedFile) as err:
        stages.convert(cfg, fetched, RunStaging(tmp_path, cfg.id, "r1"))
    assert str(err.value).startswith("pcd-pm25-hourly: http://agency.example/pm25.csv: type mismatch")
    assert not list((tmp_path / cfg.id / "r1" / "converted").rglob("*.csv"))

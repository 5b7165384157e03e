"""Validation of a table larger than memory should hold: the suite runs as SQL in DuckDB
over the Parquet (``harvesters.validate.run_suite``) and reports the same failures,
counts and sample values as GX on a pandas DataFrame of the whole table did before.

The tables have 150,000 rows in row groups of 10,000 (the converter streams big files
into many row groups), with bad values planted across several row groups, and DuckDB
capped at 64 MB so the path cannot lean on holding the table.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harvesters.results import ConvertedTable
from harvesters.settings import REPO_ROOT
from harvesters.validate import _describe, run_suite

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx  # noqa: E402

ROWS = 150_000
ROW_GROUP = 10_000


def pcd_table() -> pa.Table:
    """Hourly PM2.5 of 100 stations; bad hours, station codes, readings and one duplicate planted."""
    i = np.arange(ROWS)
    station = i % 100
    hour = (i // 100) % 24
    day = i // 2400
    hours = np.array([f"{h:02d}:00" for h in range(24)], dtype=object)[hour]
    codes = np.array([f"{s:02d}t" for s in range(100)], dtype=object)[station]
    pm = (i % 97).astype("float64")
    hours[[70_001, 140_002]] = "24:00"
    codes[[3, 99_999, 149_990]] = ["5T", "5T", "x9"]
    pm[[15, 45_678, 120_000]] = [-1.0, 1500.0, -3.5]
    dates = np.array([dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in range(day.max() + 1)])[day]
    dates[-1], hours[-1], codes[-1] = dates[0], hours[0], codes[0]  # duplicates row 0's key
    return pa.table({
        "วันที่": pa.array(dates, pa.date32()),
        "เวลา": pa.array(hours, pa.string()),
        "รหัสสถานี": pa.array(codes, pa.string()),
        "ชื่อสถานี": pa.array(["สถานี " + c for c in codes], pa.string()),
        "จังหวัด": pa.array(np.where(station % 2 == 0, "เชียงใหม่", "ลำปาง"), pa.string()),
        "PM2.5 (มคก./ลบ.ม.)": pa.array(pm, pa.float64()),
    })


def ddc_table() -> pa.Table:
    """Weekly patients by province, far more rows than the suite allows; nulls and negatives planted."""
    i = np.arange(ROWS)
    provinces = np.array([f"จังหวัด{p}" for p in range(2000)], dtype=object)[i % 2000]
    provinces[[7, 55_555, 149_999]] = None
    patients = i % 1000
    patients[[10, 20_000, 88_888, 149_000]] = [-12, -3, -150, -1]
    return pa.table({
        "ปีงบประมาณ": pa.array(2567 + i // (2000 * 53), pa.int64()),
        "สัปดาห์": pa.array(1 + (i // 2000) % 53, pa.int64()),
        "จังหวัด": pa.array(provinces, pa.string()),
        "จำนวนผู้ป่วย": pa.array(patients, pa.int64()),
    })


def _pandas_result(parquet: Path, suite_file: Path):
    """What validation reported before: GX on a pandas DataFrame of the whole table."""
    data = json.loads(suite_file.read_text(encoding="utf-8"))
    context = gx.get_context(mode="ephemeral")
    batch = (context.data_sources.add_pandas("before").add_dataframe_asset("t")
             .add_batch_definition_whole_dataframe("whole")
             .get_batch(batch_parameters={"dataframe": pq.read_table(parquet).to_pandas()}))
    return batch.validate(gx.ExpectationSuite(name=data["name"], expectations=data["expectations"]))


def _failures(results: list[dict]) -> list[tuple]:
    return [
        (r["expectation_config"]["type"], r["expectation_config"]["kwargs"].get("column"),
         r["result"].get("unexpected_count"), r["result"].get("partial_unexpected_list"),
         r["result"].get("observed_value"))
        for r in results if not r["success"]
    ]


@pytest.mark.parametrize("suite, build, expected", [
    ("pcd_pm25_hourly", pcd_table, {
        ("expect_column_values_to_match_regex", "เวลา"): (2, ["24:00", "24:00"]),
        ("expect_column_values_to_match_regex", "รหัสสถานี"): (3, ["5T", "5T", "x9"]),
        ("expect_column_values_to_be_between", "PM2.5 (มคก./ลบ.ม.)"): (3, [-1.0, 1500.0, -3.5]),
        ("expect_compound_columns_to_be_unique", None): (2, [{"วันที่": "2024-01-01", "เวลา": "00:00", "รหัสสถานี": "00t"}] * 2),
    }),
    ("ddc_respiratory_patients", ddc_table, {
        ("expect_table_row_count_to_be_between", None): (None, None),
        ("expect_column_values_to_not_be_null", "จังหวัด"): (3, [None, None, None]),
        ("expect_column_values_to_be_between", "จำนวนผู้ป่วย"): (4, [-12, -3, -150, -1]),
    }),
], ids=["pcd", "ddc"])
def test_a_large_table_reports_the_same_failures_as_pandas_did(tmp_path, monkeypatch, suite, build, expected):
    monkeypatch.setenv("HARVEST_VALIDATE_MEMORY", "64MB")
    parquet = tmp_path / "table.parquet"
    pq.write_table(build(), parquet, row_group_size=ROW_GROUP)
    assert pq.ParquetFile(parquet).metadata.num_row_groups == ROWS // ROW_GROUP
    suite_file = REPO_ROOT / "expectations" / f"{suite}.json"
    table = ConvertedTable(key="t", title="t", csv=None, parquet=str(parquet), rows=ROWS, columns=[], table_schema={})

    summary = run_suite(table, suite_file, tmp_path / "result.json")

    stored = json.loads(Path(summary.result).read_text(encoding="utf-8"))
    got = _failures(stored["results"])
    assert {(t, c): (n, sample and sample[:4]) for t, c, n, sample, _ in got if (t, c) in expected} == {
        key: (n, sample) for key, (n, sample) in expected.items()
    }
    assert len(got) == len(expected), got  # nothing else failed, nothing raised
    assert stored["statistics"]["evaluated_expectations"] == summary.evaluated
    assert not summary.success and summary.outcome == "failed"

    before = _pandas_result(parquet, suite_file)
    assert got == _failures([r.to_json_dict() for r in before.results])
    assert summary.failed == [_describe(r.to_json_dict()) for r in before.results if not r.success]
    # Every expectation of the project's suites ran as DuckDB SQL, none through GX.
    assert stored["meta"]["harvest_executed_by"] == {"duckdb_sql": summary.evaluated, "great_expectations": 0}

"""The Great Expectations suites in expectations/*.json are valid GX 1.x suites,
and on the demo data the pcd and gistda suites pass while the ddc suite fails
(the demo's blocked publish).

The frames validated here are built independently of the converter, the way
the convert stage's Parquet comes back through ``pandas.read_parquet``: date
columns hold ``datetime.date`` values, counts are int64, PM2.5 is float64 with
NaN for '-', text is pandas' ``str`` dtype.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx  # noqa: E402  (one ~5 s import for the module)
from great_expectations.expectations.registry import get_expectation_impl  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SUITES = REPO / "expectations"
SITE = REPO / "include" / "demo" / "site"
SUITE_FILES = sorted(SUITES.glob("*.json"))


def _suite_json(name: str) -> dict:
    return json.loads((SUITES / f"{name}.json").read_text(encoding="utf-8"))


def _load_suite(name: str) -> gx.ExpectationSuite:
    data = _suite_json(name)
    suite = gx.ExpectationSuite(**data)
    # GX logs and silently DROPS an expectation it cannot build, so count them
    assert len(suite.expectations) == len(data["expectations"])
    return suite


def _as_parquet_roundtrip(columns: dict[str, pa.Array]) -> pd.DataFrame:
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    buf.seek(0)
    return pd.read_parquet(buf)


def _be_date(text: str) -> dt.date:
    d, m, y = (int(p) for p in text.split("/"))
    return dt.date(y - 543 if y >= 2400 else y, m, d)


def pcd_frame() -> pd.DataFrame:
    lines = (SITE / "pcd/pm25_hourly.csv").read_bytes().decode("cp874").split("\r\n")
    header, data = lines[1].split(","), [ln for ln in lines[2:] if ln]
    rows = [r for r in csv.reader(io.StringIO("\n".join(data))) if not r[0].startswith("ที่มา")]
    cols = list(zip(*rows))
    return _as_parquet_roundtrip({
        header[0]: pa.array([_be_date(v) for v in cols[0]], pa.date32()),
        **{header[i]: pa.array(cols[i], pa.string()) for i in (1, 2, 3, 4)},
        header[5]: pa.array([None if v == "-" else float(v) for v in cols[5]], pa.float64()),
    })


def gistda_frame() -> pd.DataFrame:
    ws = load_workbook(SITE / "gistda/hotspots.xlsx").active
    rows = [r for r in ws.iter_rows(min_row=5, values_only=True) if isinstance(r[2], dt.datetime)]
    cols = list(zip(*rows))
    return _as_parquet_roundtrip({
        "จังหวัด": pa.array(cols[0], pa.string()),
        "ภาค": pa.array(cols[1], pa.string()),
        "วันที่": pa.array([v.date() for v in cols[2]], pa.date32()),
        "จำนวนจุดความร้อน": pa.array(cols[3], pa.int64()),
        "พื้นที่ - ป่าอนุรักษ์": pa.array(cols[4], pa.int64()),
        "พื้นที่ - พื้นที่เกษตร": pa.array(cols[5], pa.int64()),
    })


def ddc_frame() -> pd.DataFrame:
    text = (SITE / "ddc/respiratory_patients.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header, cols = rows[0], list(zip(*rows[1:]))
    return _as_parquet_roundtrip({
        header[0]: pa.array([int(v) for v in cols[0]], pa.int64()),
        header[1]: pa.array([int(v) for v in cols[1]], pa.int64()),
        header[2]: pa.array([v or None for v in cols[2]], pa.string()),
        header[3]: pa.array([int(v) for v in cols[3]], pa.int64()),
    })


@pytest.fixture(scope="module")
def batch_definition():
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("demo")
    asset = source.add_dataframe_asset("converted")
    return asset.add_batch_definition_whole_dataframe("whole")


def _validate(batch_definition, name: str, df: pd.DataFrame):
    batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
    return batch.validate(_load_suite(name), result_format="SUMMARY")


def _failures(result) -> list[tuple[str, str | None]]:
    return sorted(
        (r.expectation_config.type, r.expectation_config.kwargs.get("column"))
        for r in result.results
        if not r.success
    )


def _raised(result) -> list[str]:
    return [
        f"{r.expectation_config.type}: {r.exception_info.get('exception_message')}"
        for r in result.results
        if r.exception_info and r.exception_info.get("raised_exception")
    ]


def test_the_three_suites_exist():
    assert {p.stem for p in SUITE_FILES} >= {"pcd_pm25_hourly", "gistda_hotspots", "ddc_respiratory_patients"}


@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.stem)
def test_suite_file_loads(path: Path):
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) <= {"name", "expectations", "meta", "notes", "suite_parameters", "id"}
    assert data["name"] == path.stem
    assert data["expectations"]
    for exp in data["expectations"]:
        assert exp["type"].startswith("expect_")
        get_expectation_impl(exp["type"])  # raises ExpectationNotFoundError for a wrong name
        assert exp.get("meta", {}).get("notes"), f"{exp['type']} needs meta.notes saying why"
    suite = _load_suite(path.stem)
    assert suite.name == path.stem
    assert [e.expectation_type for e in suite.expectations] == [e["type"] for e in data["expectations"]]


@pytest.mark.parametrize("suite, frame, shape", [
    ("pcd_pm25_hourly", pcd_frame, (480, 6)),
    ("gistda_hotspots", gistda_frame, (238, 6)),
], ids=["pcd", "gistda"])
def test_suite_passes_on_demo(batch_definition, suite, frame, shape):
    df = frame()
    assert df.shape == shape
    result = _validate(batch_definition, suite, df)
    assert not _raised(result)
    assert result.success, _failures(result)


def test_ddc_suite_fails_on_demo_for_the_planted_reasons(batch_definition):
    df = ddc_frame()
    assert df.shape == (96, 4)
    result = _validate(batch_definition, "ddc_respiratory_patients", df)
    assert not _raised(result)
    assert not result.success
    assert _failures(result) == [
        ("expect_column_values_to_be_between", "จำนวนผู้ป่วย"),
        ("expect_column_values_to_not_be_null", "จังหวัด"),
    ]
    counts = {
        r.expectation_config.type: r.result["unexpected_count"] for r in result.results if not r.success
    }
    assert counts == {"expect_column_values_to_be_between": 3, "expect_column_values_to_not_be_null": 2}


def test_ddc_suite_passes_once_cleaned(batch_definition):
    df = ddc_frame()
    df = df[df["จังหวัด"].notna() & (df["จำนวนผู้ป่วย"] >= 0)]
    result = _validate(batch_definition, "ddc_respiratory_patients", df)
    assert result.success, _failures(result)


def test_pcd_suite_catches_unconverted_buddhist_era(batch_definition):
    df = pcd_frame()
    df["วันที่"] = [d.replace(year=d.year + 543) for d in df["วันที่"]]
    result = _validate(batch_definition, "pcd_pm25_hourly", df)
    assert ("expect_column_values_to_be_between", "วันที่") in _failures(result)


def test_pcd_suite_refuses_dates_left_as_text(batch_definition):
    df = pcd_frame()
    df["วันที่"] = df["วันที่"].astype(str)
    result = _validate(batch_definition, "pcd_pm25_hourly", df)
    assert ("expect_column_values_to_be_in_type_list", "วันที่") in _failures(result)

"""The committed demo files (include/demo/site) are exactly what
include/demo/generate.py writes, and they carry the traps they are meant to."""

from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "include" / "demo" / "site"
CSV_FILES = ["pcd/pm25_hourly.csv", "ddc/respiratory_patients.csv"]
XLSX = "gistda/hotspots.xlsx"


def _load_generator():
    spec = importlib.util.spec_from_file_location("demo_generate", REPO / "include" / "demo" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    _load_generator().generate(out)
    return out


@pytest.mark.parametrize("rel", CSV_FILES)
def test_csv_byte_identical(regenerated, rel):
    assert (regenerated / rel).read_bytes() == (SITE / rel).read_bytes(), (
        f"{rel} differs from the generator: run .local/venv/bin/python include/demo/generate.py"
    )


def test_generator_is_deterministic(tmp_path):
    gen = _load_generator()
    a, b = tmp_path / "a", tmp_path / "b"
    gen.generate(a)
    gen.generate(b)
    for rel in [*CSV_FILES, XLSX]:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def _sheet_snapshot(path: Path):
    wb = load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        values = [tuple(row) for row in ws.iter_rows(values_only=True)]
        merged = sorted(str(r) for r in ws.merged_cells.ranges)
        out[ws.title] = (values, merged)
    return out


def test_xlsx_same_cells_and_merges(regenerated):
    assert _sheet_snapshot(regenerated / XLSX) == _sheet_snapshot(SITE / XLSX)


def test_pcd_is_cp874_not_utf8():
    raw = (SITE / "pcd/pm25_hourly.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("cp874")
    assert "–" in text and "ที่มา" in text
    assert "“" in text and "”" in text
    assert b"\x96" in raw and b"\x93" in raw and b"\x94" in raw
    assert not any("\x80" <= ch <= "\x9f" for ch in text), "no C1 control characters after cp874 decoding"
    lines = text.split("\r\n")
    assert "\n" not in text.replace("\r\n", ""), "CRLF line ends only"
    assert lines[1] == "วันที่,เวลา,รหัสสถานี,ชื่อสถานี,จังหวัด,PM2.5 (มคก./ลบ.ม.)"
    assert lines[-1] == "" and lines[-2].startswith("ที่มา: กรมควบคุมมลพิษ") and lines[-3] == ""
    data = list(csv.reader(io.StringIO("\n".join(lines[2:-3]))))
    assert len(data) == 480 and all(len(r) == 6 for r in data)
    assert {r[0][-4:] for r in data} == {"2567"} and {r[0][3:5] for r in data} == {"01"}
    pm = [r[5] for r in data]
    assert 3 <= pm.count("-") <= 10
    assert all(5 <= float(v) <= 250 and len(v.split(".")[1]) == 1 for v in pm if v != "-")
    assert len({r[2] for r in data}) == 10


def test_gistda_layout():
    wb = load_workbook(SITE / XLSX)
    assert wb.sheetnames == ["จุดความร้อน"]
    ws = wb.active
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert {"A1:F1", "A3:A4", "B3:B4", "C3:C4", "D3:D4", "E3:F3"} <= merged
    assert [c.value for c in ws[3]] == ["จังหวัด", "ภาค", "วันที่", "จำนวนจุดความร้อน", "พื้นที่", None]
    assert [c.value for c in ws[4]][4:] == ["ป่าอนุรักษ์", "พื้นที่เกษตร"]
    assert all(c.value is None for c in ws[2])
    rows = list(ws.iter_rows(min_row=5, max_row=5 + 238 - 1, values_only=True))
    assert len({r[0] for r in rows}) == 17 and len({r[2] for r in rows}) == 14
    assert all(isinstance(v, int) and v >= 0 for r in rows for v in r[3:])
    assert ws.cell(row=5 + 238, column=1).value is None
    assert str(ws.cell(row=5 + 239, column=1).value).startswith("หมายเหตุ:")
    assert ws.max_row == 5 + 239


def test_ddc_has_bom_and_planted_defects():
    raw = (SITE / "ddc/respiratory_patients.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"))))
    assert rows[0] == ["ปีงบประมาณ", "สัปดาห์", "จังหวัด", "จำนวนผู้ป่วย"]
    data = rows[1:]
    assert len(data) == 96
    assert {r[0] for r in data} == {"2567"}
    assert sum(int(r[3]) < 0 for r in data) == 3
    assert sum(r[2] == "" for r in data) == 2

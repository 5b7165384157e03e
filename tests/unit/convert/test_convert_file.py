"""convert_file end to end on files written here: a cp874 CSV and a merged XLSX."""

import csv
import datetime as dt
import json
import re

import openpyxl
import pyarrow.parquet as pq
import pytest

from harvesters.convert import ConversionReport, convert_file
from harvesters.errors import RefusedFile
from tests.thai_ids import thai_id

C1_OR_FFFD = re.compile("[\u0080-\u009f\ufffd]")

THAI_CSV = (
    "รายงานผู้ป่วยรายจังหวัด “ปีงบประมาณ 2567” – กรมควบคุมโรค\r\n"
    "\r\n"
    "จังหวัด,รหัส,วันที่รายงาน,จำนวน,หมายเหตุ\r\n"
    "เชียงใหม่ ,50000,29/02/2567,\"1,234\",-\r\n"
    "ลำพูน,05100,31 ธ.ค. 2566,๕๐,ข้อมูล “เบื้องต้น”\r\n"
    "ตรัง,92000,2567-01-15,-,\r\n"
    "\r\n"
    "ที่มา: กรมควบคุมโรค กระทรวงสาธารณสุข\r\n"
)


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


@pytest.fixture
def thai_csv(tmp_path):
    path = tmp_path / "ผู้ป่วย 2567.csv"
    path.write_bytes(THAI_CSV.encode("cp874"))
    return path


def test_cp874_csv_with_be_dates_title_and_source(thai_csv, tmp_path):
    out = tmp_path / "out"
    report = convert_file(thai_csv, out)
    assert report.format == "csv" and report.encoding == "cp874" and report.delimiter == ","
    assert report.stars_in == 3 and report.stars_out == 3
    (table,) = report.tables
    assert table.name == "ผู้ป่วย_2567"
    assert table.header_rows == [2]
    assert table.rows_written == 3
    assert {d.reason: d.count for d in table.rows_dropped} == {"title": 1, "blank": 2, "footer": 1}
    assert [(c.name, c.type) for c in table.columns] == [
        ("จังหวัด", "text"), ("รหัส", "text"), ("วันที่รายงาน", "date"), ("จำนวน", "integer"), ("หมายเหตุ", "text"),
    ]
    assert table.schema_["fields"][2] == {"name": "วันที่รายงาน", "type": "date", "title": "วันที่รายงาน"}

    rows = read_csv(table.csv)
    assert rows == [
        ["จังหวัด", "รหัส", "วันที่รายงาน", "จำนวน", "หมายเหตุ"],
        ["เชียงใหม่", "50000", "2024-02-29", "1234", ""],
        ["ลำพูน", "05100", "2023-12-31", "50", "ข้อมูล “เบื้องต้น”"],
        ["ตรัง", "92000", "2024-01-15", "", ""],
    ]
    text = open(table.csv, encoding="utf-8").read()
    assert not C1_OR_FFFD.search(text) and not text.startswith("\ufeff")

    parquet = pq.read_table(table.parquet)
    assert str(parquet.schema.field("วันที่รายงาน").type) == "date32[day]"
    assert str(parquet.schema.field("จำนวน").type) == "int64"
    assert parquet.column("วันที่รายงาน").to_pylist() == [dt.date(2024, 2, 29), dt.date(2023, 12, 31), dt.date(2024, 1, 15)]
    assert parquet.column("จำนวน").to_pylist() == [1234, 50, None]
    assert parquet.column("รหัส").to_pylist() == ["50000", "05100", "92000"]


def test_report_is_small_json(thai_csv, tmp_path):
    report = convert_file(thai_csv, tmp_path / "out", name="cases", source="ddc")
    dumped = report.model_dump(mode="json")
    assert dumped["tables"][0]["schema"]["fields"][0]["name"] == "จังหวัด"
    assert dumped["tables"][0]["csv"].endswith("cases.csv")
    assert len(json.dumps(dumped)) < 5000
    assert ConversionReport.model_validate(dumped) == report


def test_csv_bom_and_format_subset(thai_csv, tmp_path):
    out = tmp_path / "out"
    report = convert_file(thai_csv, out, formats=("csv",), csv_bom=True)
    assert report.tables[0].parquet is None
    assert (out / "ผู้ป่วย_2567.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert sorted(p.name for p in out.iterdir()) == ["ผู้ป่วย_2567.csv", "ผู้ป่วย_2567.schema.json"]
    schema = json.loads((out / "ผู้ป่วย_2567.schema.json").read_text(encoding="utf-8"))
    assert schema == report.tables[0].schema_ and report.tables[0].table_schema.endswith(".schema.json")


def test_xlsx_with_merged_two_level_header_and_merged_province(tmp_path):
    path = tmp_path / "vehicles.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "รถ จดทะเบียน"
    ws.append(["สถิติรถจดทะเบียนสะสม (หน่วย: คัน)"])
    ws.append([])
    ws.append(["จังหวัด", "อำเภอ", "จำนวน (คัน)", None, "วันที่ปรับปรุง"])
    ws.append([None, None, "ปี 2565", "ปี 2566", None])
    ws.append(["เชียงใหม่", "เมือง", 1200, 1300.5, dt.datetime(2024, 2, 29)])
    ws.append([None, "สันทราย", 800, 900, "29/02/2567"])
    ws.append([None, "แม่ริม", 700, "-", "1 มี.ค. 2567"])
    ws.append([None, "หางดง", "1,000", 1100, None])
    ws.append(["หมายเหตุ: ตัวเลขเบื้องต้น"])
    ws.merge_cells("A1:E1")
    ws.merge_cells("A3:A4")
    ws.merge_cells("B3:B4")
    ws.merge_cells("C3:D3")
    ws.merge_cells("E3:E4")
    ws.merge_cells("A5:A8")
    wb.create_sheet("ว่าง")  # empty sheets are skipped
    wb.save(path)

    out = tmp_path / "out"
    report = convert_file(path, out)
    assert report.format == "xlsx" and report.stars_in == 2
    (table,) = report.tables
    assert table.sheet == "รถ จดทะเบียน"
    assert table.header_rows == [2, 3]
    assert [c.name for c in table.columns] == [
        "จังหวัด", "อำเภอ", "จำนวน (คัน) - ปี 2565", "จำนวน (คัน) - ปี 2566", "วันที่ปรับปรุง",
    ]
    assert [c.type for c in table.columns] == ["text", "text", "integer", "decimal", "date"]
    rows = read_csv(table.csv)
    assert [r[0] for r in rows[1:]] == ["เชียงใหม่"] * 4  # the merged province repeats
    assert rows[1] == ["เชียงใหม่", "เมือง", "1200", "1300.5", "2024-02-29"]
    assert rows[3] == ["เชียงใหม่", "แม่ริม", "700", "", "2024-03-01"]
    assert pq.read_table(table.parquet).num_rows == 4


def test_several_sheets_get_their_own_files(tmp_path):
    path = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "ภาค เหนือ (1)"
    wb.active.append(["a", "b"])
    wb.active.append([1, 2])
    second = wb.create_sheet("Sheet 2")
    second.append(["c", "d"])
    second.append(["x", "y"])
    wb.save(path)
    report = convert_file(path, tmp_path / "out")
    assert [t.name for t in report.tables] == ["ภาค_เหนือ_1", "Sheet_2"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "book__Sheet_2.csv", "book__Sheet_2.parquet", "book__Sheet_2.schema.json",
        "book__ภาค_เหนือ_1.csv", "book__ภาค_เหนือ_1.parquet", "book__ภาค_เหนือ_1.schema.json",
    ]


def _refused(path, out, reason):
    with pytest.raises(RefusedFile) as info:
        convert_file(path, out, source="src-1")
    assert info.value.reason == reason
    assert str(path) in str(info.value) and "src-1" in str(info.value)
    assert "\n" not in str(info.value)
    assert not list(out.glob("*.csv")) and not list(out.glob("*.parquet"))
    assert not [p for p in out.iterdir()] if out.exists() else True
    return info.value


def test_png_named_csv_is_a_type_mismatch(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    _refused(path, tmp_path / "out", "type mismatch")


def test_empty_file_is_no_table(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    _refused(path, tmp_path / "out", "no table")


def test_truncated_workbook_is_corrupt(tmp_path):
    path = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["a", "b"])
    wb.save(path)
    path.write_bytes(path.read_bytes()[:-300])
    _refused(path, tmp_path / "out", "corrupt")


def test_thai_id_column_is_refused_without_echoing_numbers(tmp_path):
    ids = [thai_id(f"3100{n:08d}") for n in range(5)]
    path = tmp_path / "people.csv"
    path.write_text("name,citizen_id\n" + "".join(f"p{i},{v}\n" for i, v in enumerate(ids)), encoding="utf-8")
    err = _refused(path, tmp_path / "out", "pii")
    assert not any(v in str(err) for v in ids)
    report = convert_file(path, tmp_path / "ok", allow_pii={"citizen_id"})
    assert report.tables[0].rows_written == 5


def test_unsupported_formats_are_refused_for_now(tmp_path):
    import gzip

    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    _refused(path, tmp_path / "out", "unsupported")


def test_html_page_with_a_single_cell_is_no_table(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("<html><table><tr><td>a</td></tr></table></html>", encoding="utf-8")
    _refused(path, tmp_path / "out", "no table")


def test_no_temp_files_left_after_success(thai_csv, tmp_path):
    out = tmp_path / "out"
    convert_file(thai_csv, out)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_importing_the_converter_does_not_import_pandas():
    """No Arrow array is built at import time (that pulls pandas in: seconds per task start)."""
    import subprocess
    import sys

    code = "import sys, harvesters.convert; print('pandas' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_parquet_dictionary_encodes_only_columns_that_repeat_their_values(tmp_path):
    path = tmp_path / "stations.csv"
    lines = ["code,province,count,rain"] + [
        f"S{i:05d},{['เชียงใหม่', 'ลำพูน', 'ยะลา'][i % 3]},{1000 + 7 * i},{(i % 20) / 2}" for i in range(600)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    convert_file(path, tmp_path / "out")
    parquet = pq.ParquetFile(tmp_path / "out" / "stations.parquet")
    group = parquet.metadata.row_group(0)
    dictionary = {parquet.schema_arrow.names[i]: group.column(i).has_dictionary_page for i in range(group.num_columns)}
    # Codes and counts are all distinct: plain encoding is smaller and faster; provinces and rain repeat.
    assert dictionary == {"code": False, "province": True, "count": False, "rain": True}
    assert parquet.read().column("count").to_pylist()[:2] == [1000, 1007]

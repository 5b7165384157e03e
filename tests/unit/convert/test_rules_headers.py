"""Header rules of conversion-rules.md on small files written here (issue 12):
a sparse upper header row (a few group labels spanning many columns) is a
header level whose labels reach every column they span, in XLSX (merged
cells), HTML (colspan) and CSV (a label followed by empty cells); and title
lines separated from the header by blank rows give one table, not a `_t1`
table of their own.

The expected names follow the rules' text (levels joined top-down with
` - `, a vertical label once, whitespace collapsed), not the converter's
output. For CSV, which has no merges, the assumption is the usual export of a
merged cell: the label sits in the first cell of its group and the rest are
empty, so a label spans the empty cells after it up to the next label. The
files here only use layouts where that reading is unambiguous: every column
in a group has its own lower label, and the columns outside groups have an
upper label and an empty lower cell.
"""

import csv

import openpyxl
import pyarrow.parquet as pq
import pytest

from harvesters.convert import convert_file

QUARTERS = ["ไตรมาส1", "ไตรมาส2", "ไตรมาส3", "ไตรมาส4"]
BY_YEAR = [f"ปี {y} - {q}" for y in (2565, 2566) for q in QUARTERS]
MONTHS = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."]
GRADES = ["ป.1", "ป.2", "ป.3", "ป.4", "ป.5", "ป.6", "ม.1", "ม.2", "ม.3"]
PROVINCES = ["เชียงใหม่", "ลำพูน", "ลำปาง", "แพร่"]


def _only_table(report):
    assert len(report.tables) == 1, [t.name for t in report.tables]
    return report.tables[0]


def _names(table):
    return [c.name for c in table.columns]


def _data(table):
    with open(table.csv, encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == _names(table)
    return pq.read_table(table.parquet).to_pydict()


def _quarter_rows():
    """Four provinces, eight quarters of whole numbers and their total."""
    rows = []
    for i, province in enumerate(PROVINCES):
        values = [100 * (i + 1) + q for q in range(8)]
        rows.append([province, *values, sum(values)])
    return rows


# --- (a) sparse upper header rows ------------------------------------------------------------


def test_xlsx_year_labels_merged_over_quarters(tmp_path):
    """`ปี 2565` and `ปี 2566` each merged over four quarter columns; the first
    and last labels merged down over both header rows."""
    path = tmp_path / "sales.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["ยอดจำหน่ายรายไตรมาส (หน่วย: ล้านบาท)"])
    ws.append([])
    ws.append(["จังหวัด", "ปี 2565", None, None, None, "ปี 2566", None, None, None, "รวม"])
    ws.append([None, *QUARTERS, *QUARTERS, None])
    for row in _quarter_rows():
        ws.append(row)
    ws.merge_cells("A1:J1")
    ws.merge_cells("A3:A4")
    ws.merge_cells("B3:E3")
    ws.merge_cells("F3:I3")
    ws.merge_cells("J3:J4")
    wb.save(path)

    table = _only_table(convert_file(path, tmp_path / "out"))
    assert _names(table) == ["จังหวัด", *BY_YEAR, "รวม"]
    assert table.header_rows == [2, 3]
    assert table.rows_written == 4
    data = _data(table)
    assert data["จังหวัด"] == PROVINCES
    assert data["ปี 2566 - ไตรมาส1"] == [104, 204, 304, 404]
    assert data["รวม"][0] == sum(range(100, 108))


def test_xlsx_one_long_parent_over_nine_columns(tmp_path):
    """One label merged across nine grade columns: the upper row holds three
    labels over eleven columns."""
    path = tmp_path / "students.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["รหัสโรงเรียน", "ชื่อโรงเรียน", "จำนวนนักเรียนจำแนกตามชั้น  (คน)", *[None] * 8])
    ws.append([None, None, *GRADES])
    ws.append(["1050130001", "บ้านหนองบัว", *range(10, 19)])
    ws.append(["1050130002", "วัดดอนแก้ว", *range(20, 29)])
    ws.append(["1050130003", "บ้านป่าแดด", *range(30, 39)])
    ws.merge_cells("A1:A2")
    ws.merge_cells("B1:B2")
    ws.merge_cells("C1:K1")
    wb.save(path)

    table = _only_table(convert_file(path, tmp_path / "out"))
    # the double space inside the label collapses to one
    assert _names(table) == ["รหัสโรงเรียน", "ชื่อโรงเรียน", *[f"จำนวนนักเรียนจำแนกตามชั้น (คน) - {g}" for g in GRADES]]
    assert table.header_rows == [0, 1]
    assert table.rows_written == 3
    data = _data(table)
    assert data["จำนวนนักเรียนจำแนกตามชั้น (คน) - ม.3"] == [18, 28, 38]


def test_xlsx_three_levels_with_sparse_upper_rows(tmp_path):
    """A unit label over everything, two years over twelve months each, the months."""
    path = tmp_path / "rain.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["สถานี", "ปริมาณฝน (มม.)", *[None] * 23])
    ws.append([None, "ปี 2566", *[None] * 11, "ปี 2567", *[None] * 11])
    ws.append([None, *MONTHS, *MONTHS])
    ws.append(["เชียงใหม่", *[float(m) + 0.5 for m in range(24)]])
    ws.append(["ลำปาง", *[float(m) + 0.25 for m in range(24)]])
    ws.merge_cells("A1:A3")
    ws.merge_cells("B1:Y1")
    ws.merge_cells("B2:M2")
    ws.merge_cells("N2:Y2")
    wb.save(path)

    table = _only_table(convert_file(path, tmp_path / "out"))
    expected = ["สถานี"] + [f"ปริมาณฝน (มม.) - ปี {y} - {m}" for y in (2566, 2567) for m in MONTHS]
    assert _names(table) == expected
    assert table.rows_written == 2
    data = _data(table)
    assert data["ปริมาณฝน (มม.) - ปี 2567 - ม.ค."] == [12.5, 12.25]
    assert {c.type for c in table.columns[1:]} == {"decimal"}


@pytest.mark.parametrize("cell", ["th", "td"])
def test_html_colspan_year_labels_over_quarters(tmp_path, cell):
    """The same header as an HTML table, with <th> or (as many agency pages
    do) <td> header cells."""
    c = cell
    upper = (f'<tr><{c} rowspan="2">จังหวัด</{c}><{c} colspan="4">ปี 2565</{c}>'
             f'<{c} colspan="4">ปี\n  2566</{c}><{c} rowspan="2">รวม</{c}></tr>')
    lower = "<tr>" + "".join(f"<{c}>{q}</{c}>" for q in QUARTERS * 2) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in _quarter_rows())
    path = tmp_path / "sales.html"
    path.write_text(f'<html><head><meta charset="utf-8"></head><body><table>{upper}{lower}{body}</table>'
                    "</body></html>", encoding="utf-8")

    table = _only_table(convert_file(path, tmp_path / "out"))
    assert _names(table) == ["จังหวัด", *BY_YEAR, "รวม"]  # the line break inside "ปี 2566" is one space
    assert table.rows_written == 4
    data = _data(table)
    assert data["ปี 2565 - ไตรมาส4"] == [103, 203, 303, 403]


def test_csv_group_label_followed_by_empty_cells(tmp_path):
    """A merged header exported to CSV: each group label in the first cell of
    its group, empty cells after it until the next label."""
    lines = [
        "ยอดจำหน่ายรายไตรมาส (หน่วย: ล้านบาท),,,,,,,,,",
        ",,,,,,,,,",
        "จังหวัด,ปี 2565,,,,ปี 2566,,,,รวม",
        "," + ",".join(QUARTERS * 2) + ",",
    ] + [",".join(str(v) for v in row) for row in _quarter_rows()]
    path = tmp_path / "sales.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp874"))

    table = _only_table(convert_file(path, tmp_path / "out"))
    assert _names(table) == ["จังหวัด", *BY_YEAR, "รวม"]
    assert table.header_rows == [2, 3]
    assert table.rows_written == 4
    data = _data(table)
    assert data["ปี 2566 - ไตรมาส4"] == [107, 207, 307, 407]


def test_csv_month_group_with_vertical_labels_left(tmp_path):
    """Like the TMD sheet: two vertical labels, `เดือน` over the twelve months, `รวม`."""
    lines = [
        "รหัสสถานี-สถานี-จังหวัด,ปี,เดือน" + "," * 11 + ",รวม",
        ",," + ",".join(MONTHS) + ",",
        "300201-แม่ฮ่องสอน,2014," + ",".join(str(m + 0.5) for m in range(12)) + ",72",
        "303201-เชียงราย,2014," + ",".join(str(m + 1.5) for m in range(12)) + ",84",
    ]
    path = tmp_path / "rain.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    table = _only_table(convert_file(path, tmp_path / "out"))
    assert _names(table) == ["รหัสสถานี-สถานี-จังหวัด", "ปี", *[f"เดือน - {m}" for m in MONTHS], "รวม"]
    assert not any(name.endswith("_2") for name in _names(table))
    assert table.rows_written == 2
    assert _data(table)["เดือน - ธ.ค."] == [11.5, 12.5]


# --- (b) titles above blank rows ---------------------------------------------------------------


# title lines as agencies write them: alone, merged across the table, or with a
# unit / as-of note in the right-hand cell
TITLES = {
    "plain": ([["จำนวนคลินิกเอกชนจำแนกรายจังหวัด"], ["ข้อมูล ณ วันที่ 31 ธันวาคม 2566"]], []),
    "merged": ([["จำนวนคลินิกเอกชนจำแนกรายจังหวัด"], ["ข้อมูล ณ วันที่ 31 ธันวาคม 2566"]], ["A1:D1", "A2:D2"]),
    "unit on the right": (
        [["จำนวนคลินิกเอกชนจำแนกรายจังหวัด", None, None, "หน่วย: แห่ง"],
         ["ปี 2566", None, None, "ข้อมูล ณ 31 ธ.ค. 2566"]],
        [],
    ),
}


@pytest.mark.parametrize("blank_rows", [1, 2])
@pytest.mark.parametrize("titles", sorted(TITLES))
def test_xlsx_title_and_subtitle_above_blank_rows_give_one_table(tmp_path, titles, blank_rows):
    path = tmp_path / "clinics.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "คลินิก"
    title_rows, merges = TITLES[titles]
    for row in title_rows:
        ws.append(row)
    for _ in range(blank_rows):
        ws.append([])
    ws.append(["จังหวัด", "คลินิกเวชกรรม", "คลินิกทันตกรรม", "วันที่ปรับปรุง"])
    ws.append(["เชียงใหม่", 412, 150, "31/12/2566"])
    ws.append(["ลำพูน", 58, 21, "31/12/2566"])
    ws.append(["ลำปาง", 97, 33, "15/12/2566"])
    for merge in merges:
        ws.merge_cells(merge)
    wb.save(path)

    report = convert_file(path, tmp_path / "out")
    table = _only_table(report)
    assert not table.name.endswith("_t1") and not table.name.endswith("_t2")
    assert _names(table) == ["จังหวัด", "คลินิกเวชกรรม", "คลินิกทันตกรรม", "วันที่ปรับปรุง"]
    assert table.header_rows == [2 + blank_rows]
    assert table.rows_written == 3
    data = _data(table)
    assert data["จังหวัด"] == ["เชียงใหม่", "ลำพูน", "ลำปาง"]
    assert [d.isoformat() for d in data["วันที่ปรับปรุง"]] == ["2023-12-31", "2023-12-31", "2023-12-15"]
    # (converter branch) the Frictionless table schema goes with the outputs (issue 12, "Output that tells more")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clinics.csv", "clinics.parquet",
                                                                     "clinics.schema.json"]


def test_xlsx_merged_title_above_blank_row_and_two_level_header(tmp_path):
    """A title merged across the sheet, a subtitle, a blank row, then a header
    with a sparse upper row: one table, titles are not data."""
    path = tmp_path / "sales.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["ยอดจำหน่ายรายไตรมาส"])
    ws.append(["หน่วย: ล้านบาท"])
    ws.append([])
    ws.append(["จังหวัด", "ปี 2565", None, None, None, "ปี 2566", None, None, None, "รวม"])
    ws.append([None, *QUARTERS, *QUARTERS, None])
    for row in _quarter_rows():
        ws.append(row)
    ws.merge_cells("A1:J1")
    ws.merge_cells("A2:J2")
    ws.merge_cells("A4:A5")
    ws.merge_cells("B4:E4")
    ws.merge_cells("F4:I4")
    ws.merge_cells("J4:J5")
    wb.save(path)

    table = _only_table(convert_file(path, tmp_path / "out"))
    assert _names(table) == ["จังหวัด", *BY_YEAR, "รวม"]
    assert table.header_rows == [3, 4]
    assert table.rows_written == 4


CSV_TITLES = {
    "plain": "สถิติผู้ใช้บริการรถโดยสารประจำทาง,,\r\nปีงบประมาณ 2567,,\r\n",
    "unit on the right": "สถิติผู้ใช้บริการรถโดยสารประจำทาง,,หน่วย: คน\r\nปีงบประมาณ 2567,,ณ 30 ก.ย. 2567\r\n",
}


@pytest.mark.parametrize("blank_lines", [1, 3])
@pytest.mark.parametrize("titles", sorted(CSV_TITLES))
def test_csv_title_lines_above_blank_lines_give_one_table(tmp_path, titles, blank_lines):
    text = (
        CSV_TITLES[titles]
        + ",,\r\n" * blank_lines
        + "เส้นทาง,จำนวนเที่ยว,จำนวนผู้โดยสาร\r\n"
        "กรุงเทพ-เชียงใหม่,\"1,204\",\"45,210\"\r\n"
        "กรุงเทพ-ขอนแก่น,980,\"38,002\"\r\n"
    )
    path = tmp_path / "bus.csv"
    path.write_bytes(text.encode("cp874"))

    table = _only_table(convert_file(path, tmp_path / "out"))
    assert table.name == "bus"
    assert _names(table) == ["เส้นทาง", "จำนวนเที่ยว", "จำนวนผู้โดยสาร"]
    assert table.header_rows == [2 + blank_lines]
    assert table.rows_written == 2
    assert _data(table)["จำนวนผู้โดยสาร"] == [45210, 38002]
